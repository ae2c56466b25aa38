/* A plain TCP connection to one memcached, with buffered reads and
 * timeouts, for what libmemcached cannot do: the sender's meta pipelines,
 * read-backs and "stats". Not thread-safe: one owner at a time. */
#ifndef MCREPL_CONN_H
#define MCREPL_CONN_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "config.h"
#include "mcrepl/mcrepl.h"
#include "proto.h"

typedef struct mcrepl__conn {
  int fd;           /* -1 when closed */
  mcrepl__buf_t in; /* received bytes; [pos, in.len) not yet consumed */
  size_t pos;
  int stamped;    /* the kernel stamps what arrives (SO_TIMESTAMPNS) */
  int64_t rx_ns;  /* monotonic time the last bytes read had arrived */
  int rx_stamped; /* rx_ns is the kernel's stamp, not the read's time */
  /* The peer closed or reset it: what it had not applied, it never
   * will. Cleared by open, kept by close. */
  int peer_gone;
} mcrepl__conn_t;

/* How long I/O may go on. stall_ms: failure after that long without a
 * byte moving; and each send, line or block must be through within that
 * long plus one microsecond per byte (a floor of 1 MB/s), so that a
 * server that trickles a byte now and then cannot hold a caller for
 * ever. deadline: when not NULL and non-zero, an absolute
 * monotonic time (ns) after which everything fails at once; it may be set
 * by another thread while we wait (shutdown). until: the same, for the
 * whole of one exchange of several lines (0: none); see io_within. */
typedef struct mcrepl__io {
  int stall_ms;
  const _Atomic int64_t *deadline;
  int64_t until;
} mcrepl__io_t;

/* io, bounded to ms from now as well. */
mcrepl__io_t mcrepl__io_within(const mcrepl__io_t *io, int ms);

void mcrepl__conn_init(mcrepl__conn_t *c);
mcrepl_return_t mcrepl__conn_open(mcrepl__conn_t *c, const mcrepl__addr_t *a,
                                  int connect_ms);
void mcrepl__conn_close(mcrepl__conn_t *c);
/* Asks the kernel to note when bytes arrive, so that rx_ns tells when a
 * reply came, not when we got round to reading it. Without it, rx_ns is
 * the time of the read; so it is too whenever the kernel leaves a read
 * unstamped, which some kernels do for whole processes at a time,
 * whatever we ask: rx_stamped tells which. */
void mcrepl__conn_stamp(mcrepl__conn_t *c);
/* Frees the buffers too. */
void mcrepl__conn_free(mcrepl__conn_t *c);

/* Sends all of [p, p+len). What the server answers meanwhile is
 * buffered, up to 64 MiB, so a long pipeline cannot deadlock on full
 * socket buffers; past that it is left to the kernel, and a server that
 * reads nothing more of ours then fails the send by io's stall_ms. */
mcrepl_return_t mcrepl__conn_send(mcrepl__conn_t *c, const void *p,
                                  size_t len, const mcrepl__io_t *io);
/* The same for a vector; iov is consumed (advanced) as it goes. */
mcrepl_return_t mcrepl__conn_sendv(mcrepl__conn_t *c, struct iovec *iov,
                                   size_t n, const mcrepl__io_t *io);
/* The next line, without its CRLF; valid until the next call. */
mcrepl_return_t mcrepl__conn_line(mcrepl__conn_t *c, const char **line,
                                  size_t *len, const mcrepl__io_t *io);
/* The next n bytes, which must be followed by CRLF. */
mcrepl_return_t mcrepl__conn_block(mcrepl__conn_t *c, size_t n,
                                   const char **data,
                                   const mcrepl__io_t *io);

/* Connects to a, asks "stats" once, and closes again. */
mcrepl_return_t mcrepl__conn_ask_stats(const mcrepl__addr_t *a,
                                       int connect_ms,
                                       mcrepl__stats_reply_t *s,
                                       const mcrepl__io_t *io);

/* One "stats" round trip on an open connection. */
mcrepl_return_t mcrepl__conn_stats(mcrepl__conn_t *c,
                                   mcrepl__stats_reply_t *s,
                                   const mcrepl__io_t *io);

#endif
