/* Host lookups with a time limit. */
#ifndef MCREPL_RESOLVE_H
#define MCREPL_RESOLVE_H

#include <netdb.h>
#include <stdint.h>

/* getaddrinfo() for a TCP connection to host:port, given up at the
 * monotonic time deadline_ns: 0, or -1 when the name did not resolve in
 * time (or at all). An IP address is never looked up. A lookup that was
 * given up goes on, alone, on a thread of its own, which frees what it
 * finds: the resolver's own timeouts (5 s per try by default) must not
 * hold up a health check, a reconnection or a shutdown. Free *res with
 * freeaddrinfo(). */
int mcrepl__resolve(const char *host, uint16_t port, int64_t deadline_ns,
                    struct addrinfo **res);

#endif
