/* One memcached node as a member of a pair: its identity, and the marker
 * items that say what it holds. The markers live in the node itself, so
 * that every client process, keepalived's health check and the resync
 * tool see the same truth without talking to each other:
 *   mcrepl:ready           the node holds its pair's data; the value is
 *                          "resync PID.BOOT E R" after a resync from the
 *                          node PID.BOOT that began at epoch E there,
 *                          "new R" for a node of a brand-new pair
 *   mcrepl:epoch           on a master, a counter that orders the dirt
 *                          clients counted against resyncs that began
 *   mcrepl:resync          a resync into the node is running (a lock)
 *   mcrepl:stale:HOST:PORT on a master: that peer missed writes
 *   mcrepl:probe:RANDOM    for a moment: tells two nodes apart */
#ifndef MCREPL_NODE_H
#define MCREPL_NODE_H

#include "conn.h"

#define MCREPL__KEY_PREFIX "mcrepl:"
#define MCREPL__KEY_READY "mcrepl:ready"
#define MCREPL__KEY_RESYNC "mcrepl:resync"
#define MCREPL__KEY_STALE "mcrepl:stale:"
#define MCREPL__KEY_EPOCH "mcrepl:epoch"
#define MCREPL__KEY_PROBE "mcrepl:probe:"

/* Same process: same pid and the same start time (within clock noise).
 * Two can look alike without being one: containers run memcached as pid
 * 1 of a namespace of their own, and two started together agree. */
int mcrepl__same_node(const mcrepl__stats_reply_t *a,
                      const mcrepl__stats_reply_t *b);
/* Whether a and b, connections to two addresses, reach one server: a
 * probe key (mcrepl:probe:RANDOM) written through a is looked for
 * through b, then deleted. For when mcrepl__same_node says yes. */
mcrepl_return_t mcrepl__same_server(mcrepl__conn_t *a, mcrepl__conn_t *b,
                                    const mcrepl__io_t *io, int *same);

/* Reads a small item. MCREPL_SUCCESS with *found 0 or 1; the value is
 * copied into val (NUL-terminated, truncated to len), and, unless cas is
 * NULL, which write of it this is into *cas. */
mcrepl_return_t mcrepl__marker_get(mcrepl__conn_t *c, const char *key,
                                   char *val, size_t len, int *found,
                                   uint64_t *cas, const mcrepl__io_t *io);
/* mode 'S' sets, 'E' adds (MCREPL_NOTSTORED when it exists). ttl 0:
 * never expires. cas, unless NULL, says which write it was. */
mcrepl_return_t mcrepl__marker_put(mcrepl__conn_t *c, const char *key,
                                   const char *val, int64_t ttl, char mode,
                                   uint64_t *cas, const mcrepl__io_t *io);
/* Sets the marker only while it is still the write whose CAS is
 * compare: MCREPL_NOTSTORED when written since, MCREPL_NOTFOUND when
 * gone. compare 0 (a server run with -C hands out no CAS): sets it. */
mcrepl_return_t mcrepl__marker_swap(mcrepl__conn_t *c, const char *key,
                                    const char *val, int64_t ttl,
                                    uint64_t compare, uint64_t *cas,
                                    const mcrepl__io_t *io);
/* cas 0: whatever is there; else only that write of it (and a marker
 * written since by someone else is left, with MCREPL_SUCCESS). */
mcrepl_return_t mcrepl__marker_del(mcrepl__conn_t *c, const char *key,
                                   uint64_t cas, const mcrepl__io_t *io);
/* "mcrepl:stale:" + the node's address, into buf. */
void mcrepl__stale_key(char *buf, size_t len, const char *node_text);
/* The stale marker's value: "missed writes <wall clock, us>". Its time
 * tells which of two nodes that each carry the other's marker was
 * banned last (see mcrepl__stale_time). */
void mcrepl__stale_value(char *buf, size_t len);
/* The time in a stale marker's value; 0 (older than any) without one. */
int64_t mcrepl__stale_time(const char *val);
/* A random token, so that two markers never look alike. */
void mcrepl__generation(char *buf, size_t len);
/* Who resynced a node, and from which epoch on. */
typedef struct mcrepl__ready {
  uint64_t pid;   /* the source node's identity */
  int64_t boot;
  uint64_t epoch; /* the source's epoch when the copy began */
} mcrepl__ready_t;

/* Parses a "resync ..." ready marker; -1 for any other value. */
int mcrepl__ready_parse(const char *value, mcrepl__ready_t *r);
/* Formats one; val must hold 96 bytes. */
void mcrepl__ready_format(char *val, size_t len, const mcrepl__ready_t *r);
/* The marker of a node of a new pair, or of a pair just flushed whole:
 * "new" and a random token; val must hold 48 bytes. */
void mcrepl__ready_new(char *val, size_t len);
/* Takes the next number of the node's epoch counter (created from
 * node_time, the node's "stats time": see node.c). */
mcrepl_return_t mcrepl__epoch_next(mcrepl__conn_t *c, uint64_t node_time,
                                   uint64_t *epoch, const mcrepl__io_t *io);
/* The node's clock ("stats time") minus ours, in seconds. */
int64_t mcrepl__clock_skew(const mcrepl__stats_reply_t *id);
/* A node's start time on its own clock. */
int64_t mcrepl__boot_time(const mcrepl__stats_reply_t *id);

#endif
