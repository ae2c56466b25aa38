/* mcrepl - a pair of memcached servers that behaves as one highly
 * available cache.
 *
 * Writes go to the master of the key's pair and return the master's
 * answer; a background thread per pair then applies the resulting state to
 * the pair's slave. Keys map to pairs on a libketama-compatible ring.
 *
 * THREAD SAFETY
 * One mcrepl_t may be shared by any number of threads: every function that
 * takes a handle is safe to call from any thread at the same time, except
 * mcrepl_destroy(), which must be the last call on the handle and must not
 * race with any other call on it. Functions without a handle
 * (mcrepl_strerror, mcrepl_version, ...) are safe from any thread.
 *
 * FORK
 * A child created by fork() must not use a handle of its parent (its
 * background threads do not exist in the child, and its sockets are
 * shared with the parent); it may create handles of its own. The child may
 * call nothing on the parent's handle, not even mcrepl_destroy().
 */
#ifndef MCREPL_MCREPL_H
#define MCREPL_MCREPL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <mcrepl/version.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(BUILDING_MCREPL) && defined(__GNUC__) && __GNUC__ >= 4
#define MCREPL_API __attribute__((visibility("default")))
#else
#define MCREPL_API
#endif

typedef struct mcrepl mcrepl_t; /* opaque */

/* Return codes. New codes are only ever appended. */
typedef enum {
  MCREPL_SUCCESS = 0,
  MCREPL_NOTFOUND,           /* no such key */
  MCREPL_NOTSTORED,          /* add/replace/append/prepend condition unmet
                                (or an append past the item size limit) */
  MCREPL_EXISTS,             /* cas: the item changed since it was read */
  MCREPL_TIMEOUT,            /* no answer within the configured timeout */
  MCREPL_CONNECTION_FAILURE, /* the server could not be reached */
  MCREPL_HOST_LOOKUP_FAILURE,/* a host name did not resolve */
  MCREPL_SERVER_ERROR,       /* the server refused: SERVER_ERROR, or out
                                of memory in the binary protocol */
  MCREPL_PROTOCOL_ERROR,     /* the server's answer made no sense */
  MCREPL_BAD_KEY,            /* empty, over 250 bytes, space or control */
  MCREPL_VALUE_TOO_LARGE,    /* the server refused the value's size, or
                                it is 1 GiB or more (nothing sent) */
  MCREPL_NON_NUMERIC,        /* incr/decr on a value that is no number */
  MCREPL_INVALID_ARGUMENTS,  /* NULL handle or pointer, bad length */
  MCREPL_BAD_CONFIG,         /* the configuration string was refused */
  MCREPL_NOMEM,              /* out of memory */
  MCREPL_SLAVE_DIRTY,        /* a slave is known to have missed writes */
  MCREPL_NOT_SUPPORTED,      /* not possible with this configuration */
  MCREPL_FAILURE,            /* any other failure */
  MCREPL_RECURSIVE_API_CALL, /* called from the handle's own callback */
  MCREPL_RETURN_MAX          /* not a code: one past the last */
} mcrepl_return_t;

/* Handle lifecycle. ------------------------------------------------------ */

/* Parses the configuration string (see mcrepl(3)), starts one sender
 * thread per pair and returns the handle; connections are made lazily, so
 * servers may be down when it is called. On failure returns NULL, sets
 * errno (EINVAL: the configuration was refused; ENOMEM: no memory or no
 * thread) and, when errbuf is not NULL, writes a one-line message into
 * it. */
MCREPL_API mcrepl_t *mcrepl_create(const char *config, char *errbuf,
                                   size_t errbuf_len);

/* Drains the replication queues for at most the shutdown timeout, stops
 * the threads and frees everything. Writes still queued then are counted
 * as dropped. NULL is a no-op. */
MCREPL_API void mcrepl_destroy(mcrepl_t *m);

/* Storage. The call returns the master's answer; when the master stored
 * the item, its resulting state is queued for the slave. exptime follows
 * memcached: 0 never expires, up to 30 days relative seconds, beyond that
 * an absolute unix time. ----------------------------------------------- */

MCREPL_API mcrepl_return_t mcrepl_set(mcrepl_t *m, const char *key,
                                      size_t key_len, const char *value,
                                      size_t value_len, time_t exptime,
                                      uint32_t flags);
MCREPL_API mcrepl_return_t mcrepl_add(mcrepl_t *m, const char *key,
                                      size_t key_len, const char *value,
                                      size_t value_len, time_t exptime,
                                      uint32_t flags);
MCREPL_API mcrepl_return_t mcrepl_replace(mcrepl_t *m, const char *key,
                                          size_t key_len, const char *value,
                                          size_t value_len, time_t exptime,
                                          uint32_t flags);
/* append/prepend keep the item's flags and expiry, as memcached does;
 * exptime and flags are accepted for symmetry and ignored. */
MCREPL_API mcrepl_return_t mcrepl_append(mcrepl_t *m, const char *key,
                                         size_t key_len, const char *value,
                                         size_t value_len, time_t exptime,
                                         uint32_t flags);
MCREPL_API mcrepl_return_t mcrepl_prepend(mcrepl_t *m, const char *key,
                                          size_t key_len, const char *value,
                                          size_t value_len, time_t exptime,
                                          uint32_t flags);
/* cas 0 is refused (MCREPL_INVALID_ARGUMENTS): memcached never hands it
 * out. */
MCREPL_API mcrepl_return_t mcrepl_cas(mcrepl_t *m, const char *key,
                                      size_t key_len, const char *value,
                                      size_t value_len, time_t exptime,
                                      uint32_t flags, uint64_t cas);
MCREPL_API mcrepl_return_t mcrepl_touch(mcrepl_t *m, const char *key,
                                        size_t key_len, time_t exptime);
MCREPL_API mcrepl_return_t mcrepl_delete(mcrepl_t *m, const char *key,
                                         size_t key_len);
/* new_value may be NULL. */
MCREPL_API mcrepl_return_t mcrepl_incr(mcrepl_t *m, const char *key,
                                       size_t key_len, uint64_t delta,
                                       uint64_t *new_value);
MCREPL_API mcrepl_return_t mcrepl_decr(mcrepl_t *m, const char *key,
                                       size_t key_len, uint64_t delta,
                                       uint64_t *new_value);
/* Flushes every master, then waits up to the I/O timeout for every slave
 * to apply the flush in order with the writes queued before it. Returns
 * MCREPL_TIMEOUT when a slave has not applied it yet (it stays queued),
 * or when a master did not answer the flush in time. */
MCREPL_API mcrepl_return_t mcrepl_flush(mcrepl_t *m, time_t exptime);

/* Retrieval, from the master. ------------------------------------------- */

/* Returns a malloc()ed copy of the value (the caller free()s it; a NUL
 * byte follows the value_len bytes) or NULL with *rc telling why
 * (MCREPL_NOTFOUND for a miss). value_len, flags and rc may be NULL. */
MCREPL_API char *mcrepl_get(mcrepl_t *m, const char *key, size_t key_len,
                            size_t *value_len, uint32_t *flags,
                            mcrepl_return_t *rc);
/* As mcrepl_get, and also returns the item's cas token for mcrepl_cas. */
MCREPL_API char *mcrepl_gets(mcrepl_t *m, const char *key, size_t key_len,
                             size_t *value_len, uint32_t *flags,
                             uint64_t *cas, mcrepl_return_t *rc);

/* Called once per key found by mcrepl_mget, in no particular order, on
 * the caller's thread. The pointers are valid during the call only.
 * Return 0 to go on, anything else to stop. */
typedef int (*mcrepl_get_cb)(void *ctx, const char *key, size_t key_len,
                             const char *value, size_t value_len,
                             uint32_t flags, uint64_t cas);
/* Fetches n keys, grouped by pair with one round trip per pair. Misses
 * are not reported. Returns MCREPL_SUCCESS when every pair answered, else
 * the first failure (the callback has still seen what the others
 * returned); MCREPL_FAILURE when the callback stopped the fetch. */
MCREPL_API mcrepl_return_t mcrepl_mget(mcrepl_t *m, const char *const *keys,
                                       const size_t *key_lens, size_t n,
                                       mcrepl_get_cb cb, void *ctx);

/* Replication. ---------------------------------------------------------- */

/* Waits until every write accepted before the call has been applied on
 * the slaves. MCREPL_SUCCESS: all applied and no slave is dirty;
 * MCREPL_SLAVE_DIRTY: all processed, but a slave missed writes (dropped on
 * overflow, refused, or lost by a restart) and needs a resync;
 * MCREPL_TIMEOUT: not all applied within timeout_ms (negative: wait
 * without limit). */
MCREPL_API mcrepl_return_t mcrepl_wait_replicated(mcrepl_t *m,
                                                  int timeout_ms);

/* Statistics. ----------------------------------------------------------- */

/* Counters of one pair. queued counts every write the master accepted and
 * that was offered for replication; at any moment
 * queued == replicated + dropped + queue_items. */
typedef struct mcrepl_pair_stats {
  const char *master;      /* "host:port", valid until mcrepl_destroy */
  const char *slave;
  const char *vip;         /* NULL when the pair has no vip= */
  uint32_t weight;
  int dirty;               /* the slave missed writes: needs a resync */
  int slave_up;            /* the sender is connected to the slave */
  uint64_t queued;         /* writes offered for replication */
  uint64_t replicated;     /* applied on the slave */
  uint64_t dropped;        /* never applied: queue full, refused, shutdown */
  uint64_t errors;         /* failures seen: refusals, broken connections */
  uint64_t queue_items;    /* still waiting in the queue */
  uint64_t queue_bytes;
  uint64_t queue_bytes_max;/* the configured bound */
  uint64_t lag_p50_us;     /* enqueue to applied on the slave */
  uint64_t lag_p99_us;
  uint64_t lag_max_us;
  uint64_t reconnects;     /* connections made to the slave */
  uint64_t slave_restarts; /* times the slave came back as a new process */
  uint64_t batches;        /* pipelines sent to the slave */
  /* Which real node is behind the vip now (without a vip: master), and
   * so where the sender replicates to (the other one). */
  const char *current_master;
  const char *current_slave;
  uint64_t vip_changes;    /* times the vip was seen on the other node */
  uint64_t read_failovers; /* reads answered by the slave: vip down */
  /* Of the lag figures' samples (one per replicated write), those timed
   * when the sender read the slave's answer, because the kernel did not
   * stamp its arrival: each is an upper bound, late by up to a window
   * and a half. */
  uint64_t lag_read_timed;
  /* Writes that found the queue three quarters full and waited for the
   * sender to bring it back under that mark (--pace-timeout). */
  uint64_t paced;
  /* Verified replication: keys whose slave state the master's answer
   * showed behind (another process's newer write got there first), and
   * were given the master's state; and writes that could not be
   * verified, which make the pair dirty. */
  uint64_t repairs;
  uint64_t unverified;
} mcrepl_pair_stats_t;

/* Number of pairs in the handle's configuration. */
MCREPL_API size_t mcrepl_pair_count(const mcrepl_t *m);

/* Index of the pair that holds key. */
MCREPL_API mcrepl_return_t mcrepl_key_pair(const mcrepl_t *m,
                                           const char *key, size_t key_len,
                                           size_t *pair);

/* Fills *out for pair i. out_size is sizeof(*out) as the caller was
 * compiled, so that fields added later do not break old programs. */
MCREPL_API mcrepl_return_t mcrepl_pair_stats(const mcrepl_t *m, size_t i,
                                             mcrepl_pair_stats_t *out,
                                             size_t out_size);

typedef enum {
  MCREPL_NODE_MASTER = 0, /* the first node of --pair */
  MCREPL_NODE_SLAVE = 1,  /* the second node of --pair */
  MCREPL_NODE_TARGET = 2  /* where writes go: the vip, else the master */
} mcrepl_node_t;

/* What one server says of itself (memcached "stats"). */
typedef struct mcrepl_node_info {
  const char *address;     /* "host:port", valid until mcrepl_destroy */
  int up;                  /* 0 when it did not answer */
  uint64_t pid;
  uint64_t uptime;         /* seconds */
  uint64_t time;           /* the server's clock, unix seconds */
  uint64_t curr_items;
  uint64_t bytes;
  char version[32];
} mcrepl_node_info_t;

/* Asks one node of pair i for its stats, synchronously, within the
 * configured timeouts. Returns MCREPL_SUCCESS with out->up = 1, or the
 * reason it could not (out->up = 0, out->address still set). */
MCREPL_API mcrepl_return_t mcrepl_node_info(const mcrepl_t *m, size_t i,
                                            mcrepl_node_t node,
                                            mcrepl_node_info_t *out,
                                            size_t out_size);

/* Called on a pair's sender thread when the vip is seen to have moved to
 * the other node of the pair; master and slave are the pair's nodes in
 * their new roles. Keep it short: replication of the pair waits. From
 * inside it (and the log callback), mcrepl_set_*_callback,
 * mcrepl_wait_replicated and mcrepl_flush on the same handle return
 * MCREPL_RECURSIVE_API_CALL and mcrepl_destroy does nothing: each would
 * wait for the thread that runs the callback. */
typedef void (*mcrepl_vip_cb)(void *ctx, size_t pair, const char *master,
                              const char *slave);

/* Sets (or with NULL clears) the vip callback. Once it returns, the old
 * callback is not running and will not run. Safe from any thread. */
MCREPL_API mcrepl_return_t mcrepl_set_vip_callback(mcrepl_t *m,
                                                   mcrepl_vip_cb cb,
                                                   void *ctx);

/* Logging. The library never writes to stdout or stderr; what it has to
 * say (a slave lost or back, a pair dirty, the vip moved) goes to this
 * callback, on whichever thread noticed it (mostly a sender thread).
 * Keep it short; what it may call on the handle is as for the vip
 * callback above. */
typedef enum {
  MCREPL_LOG_ERROR = 0,
  MCREPL_LOG_WARNING,
  MCREPL_LOG_INFO,
  MCREPL_LOG_DEBUG
} mcrepl_log_level_t;

typedef void (*mcrepl_log_cb)(void *ctx, mcrepl_log_level_t level,
                              const char *message);

/* Sets (or with NULL clears) the log callback; messages above max_level
 * are not produced. Once it returns, the old callback is not running and
 * will not run. Safe from any thread. */
MCREPL_API mcrepl_return_t mcrepl_set_log_callback(mcrepl_t *m,
                                                   mcrepl_log_cb cb,
                                                   void *ctx,
                                                   mcrepl_log_level_t max);

/* Failover: resync and health. ------------------------------------------ */

/* How far a resync has come; passed to the progress callback. */
typedef struct mcrepl_resync_progress {
  uint64_t total;     /* items on the source when the copy began */
  uint64_t scanned;   /* keys listed on the source so far */
  uint64_t copied;    /* added to the target */
  uint64_t skipped;   /* already on the target: a newer write won */
  uint64_t vanished;  /* gone from the source before they were read */
  uint64_t failed;    /* refused by the target */
  uint64_t bytes;     /* value bytes copied */
  double elapsed_s;
  int flushed;        /* the target was emptied first (it was stale) */
  int done;           /* the last call */
  uint64_t retracted; /* deleted from the source while being copied, so
                         deleted from the target again (not in copied) */
  uint64_t unnamed;   /* listed keys that no text command can name (blanks
                         or control bytes: another library's binary
                         protocol wrote them): not copied */
  uint64_t listed;    /* keys of the source's listing read so far */
} mcrepl_resync_progress_t;

/* Called on the caller's thread before the target's data are touched
 * (only the lock item is taken by then), every 65536 keys while the
 * source's keys are listed (keep it short: the source's walk waits for
 * us), once they are listed, after every batch, and at the end
 * (p->done); return non-zero to stop the resync (it then returns
 * MCREPL_FAILURE, and may be rerun). */
typedef int (*mcrepl_resync_cb)(void *ctx,
                                const mcrepl_resync_progress_t *p);

/* Copies every live item of node `from` ("host:port") to node `to`, with
 * its flags and remaining TTL, using add so that a newer write made
 * meanwhile is never overwritten; items are listed with memcached's
 * "lru_crawler metadump hash" ("all" before memcached 1.6.9), read whole
 * into a temporary file first. One resync per target at a time (a lock
 * item on the target; MCREPL_EXISTS when another holds it). A target
 * that its peer marked stale is emptied first. On success the target is
 * marked ready, which its health check and every mcrepl handle see;
 * MCREPL_SLAVE_DIRTY when it refused items (p->failed): it is then left
 * unready, as a slave that refuses a replicated write is dirty.
 * options (only these; any other is MCREPL_BAD_CONFIG):
 * --resync-rate=ITEMS_PER_S (0: unlimited), --resync-flush, --timeout,
 * --connect-timeout, --resync-if-needed (copy only into a target that
 * mcrepl_check finds EMPTY or STALE; otherwise MCREPL_SUCCESS without a
 * call of cb, the reason in errbuf). cb and ctx may be NULL. Blocks until
 * done. Safe to call from any thread. */
MCREPL_API mcrepl_return_t mcrepl_resync(const char *from, const char *to,
                                         const char *options,
                                         mcrepl_resync_cb cb, void *ctx,
                                         char *errbuf, size_t errbuf_len);

/* What mcrepl_check finds of a node. */
typedef enum {
  MCREPL_HEALTH_READY = 0, /* answers and holds its pair's data */
  MCREPL_HEALTH_DOWN,      /* does not answer */
  MCREPL_HEALTH_RESYNCING, /* a resync into it is running */
  MCREPL_HEALTH_EMPTY,     /* lost its data while its peer kept them */
  MCREPL_HEALTH_STALE,     /* missed writes: its peer says so */
  MCREPL_HEALTH_ERROR      /* bad arguments or options */
} mcrepl_health_t;

/* The health check for keepalived's track_script: may `node` serve as
 * its pair's master? peer (the pair's other node) may be NULL. A node
 * that lacks the ready marker while its peer is down or lacks it too (a
 * brand-new pair) is marked ready, so that a fresh pair still elects a
 * master. `node` must be spelt as in the clients' --pair. why (may be
 * NULL) receives a one-line explanation. options (only these; any other
 * is MCREPL_HEALTH_ERROR): --timeout, --connect-timeout, --read-only
 * (report, never mark). Safe to call from any thread. */
MCREPL_API mcrepl_health_t mcrepl_check(const char *node, const char *peer,
                                        const char *options, char *why,
                                        size_t why_len);

/* Misc. ----------------------------------------------------------------- */

/* A short English description of rc; never NULL. */
MCREPL_API const char *mcrepl_strerror(mcrepl_return_t rc);

/* The symbolic name of rc ("MCREPL_NOTFOUND"); never NULL. */
MCREPL_API const char *mcrepl_strcode(mcrepl_return_t rc);

/* The library's version, "MAJOR.MINOR.PATCH", and the same as
 * MCREPL_VERSION_HEX. */
MCREPL_API const char *mcrepl_version(void);
MCREPL_API unsigned mcrepl_version_hex(void);

#ifdef __cplusplus
}
#endif

#endif /* MCREPL_MCREPL_H */
