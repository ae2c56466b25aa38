/* Configuration string: libmemcached-style --OPTION=VALUE tokens. */
#ifndef MCREPL_CONFIG_H
#define MCREPL_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define MCREPL__HOST_MAX 256
#define MCREPL__ADDR_MAX (MCREPL__HOST_MAX + 8)
/* The longest "host:port" taken: the failover markers' keys name a node
 * ("mcrepl:stale:" and its text), and memcached refuses keys over 250
 * bytes; a ban that cannot be written would leave a stale node ready. */
#define MCREPL__ADDR_TEXT_MAX (250 - 13)
#define MCREPL__PAIRS_MAX 1024

typedef struct mcrepl__addr {
  char host[MCREPL__HOST_MAX]; /* as written; brackets of IPv6 removed */
  uint16_t port;               /* 11211 when the token had none */
  char text[MCREPL__ADDR_MAX]; /* "host:port" ("[v6]:port"), for humans */
} mcrepl__addr_t;

typedef struct mcrepl__pair_conf {
  mcrepl__addr_t master;
  mcrepl__addr_t slave;
  mcrepl__addr_t vip; /* valid when has_vip */
  int has_vip;
  uint32_t weight; /* 1 unless weight= */
} mcrepl__pair_conf_t;

typedef enum {
  MCREPL__OVERFLOW_DROP = 0, /* drop the write, count it, mark dirty */
  MCREPL__OVERFLOW_BLOCK     /* wait for room up to the I/O timeout */
} mcrepl__overflow_t;

typedef struct mcrepl__config {
  mcrepl__pair_conf_t *pairs;
  size_t npairs;
  uint64_t queue_bytes;     /* --queue-bytes, per pair; default 64 MiB */
  mcrepl__overflow_t overflow;   /* --overflow=drop|block */
  /* --pace-timeout: how long a write that finds its queue three
   * quarters full waits for the sender to bring it back under that mark
   * (not when the sender is stuck); 0 never; default 10 */
  int pace_timeout_ms;
  int connect_timeout_ms;   /* --connect-timeout; default 1000 */
  int io_timeout_ms;        /* --timeout; default 1000 */
  int shutdown_timeout_ms;  /* --shutdown-timeout; default 5000 */
  int retry_timeout_ms;     /* --retry-timeout; default 1000 */
  int backoff_max_ms;       /* --backoff-max; default 1000 */
  /* --dead-timeout: how long a slave holding unacknowledged writes may
   * make no progress before the sender abandons the connection (and
   * marks the pair dirty); default 30000 */
  int dead_timeout_ms;
  int batch_max;            /* --batch-max: writes per pipeline; 512 */
  /* --batch-delay: microseconds between two pipelines to a slave, so
   * that many writes share one round trip; 700 */
  int batch_delay_us;
  int binary_protocol;      /* --binary-protocol: caller path only */
  /* --identity-interval: how often the sender asks which node is behind
   * the vip; default 500 */
  int identity_interval_ms;
  int pool_idle_ms;         /* --pool-idle-timeout; default 30000 */
  int resync_rate;          /* --resync-rate: items/s, 0 unlimited; 20000 */
  int resync_flush;         /* --resync-flush: empty the target first */
  /* --resync-if-needed: copy only into a target found empty or stale */
  int resync_if_needed;
  /* --read-failover (default yes): a read the vip cannot answer is
   * asked of the other node of the pair */
  int read_failover;
  int read_only;            /* --read-only: mcrepl_check marks nothing */
} mcrepl__config_t;

/* Which entry point parses: each takes only the options that mean
 * something to it (mcrepl_create needs a --pair; the others take none). */
typedef enum {
  MCREPL__FOR_CLIENT = 1, /* mcrepl_create */
  MCREPL__FOR_CHECK = 2,  /* mcrepl_check */
  MCREPL__FOR_RESYNC = 4  /* mcrepl_resync */
} mcrepl__config_use_t;

/* Parses s into *c (which it initialises) for `use`. Returns 0, or -1
 * with a one-line message naming the offending token in errbuf. On
 * success the caller owns c and frees it with mcrepl__config_free(). */
int mcrepl__config_parse_for(const char *s, mcrepl__config_t *c,
                             char *errbuf, size_t errlen,
                             mcrepl__config_use_t use);
/* The same, for mcrepl_create. */
int mcrepl__config_parse(const char *s, mcrepl__config_t *c, char *errbuf,
                         size_t errlen);
void mcrepl__config_free(mcrepl__config_t *c);

/* Parses "host[:port]" or "[v6addr][:port]" into *a. Returns 0 or -1. */
int mcrepl__addr_parse(const char *s, size_t len, mcrepl__addr_t *a);
/* Whether a and b name the same node (IP literals compared as the
 * resolver reads them; names compared ignoring case, not resolved). */
int mcrepl__addr_same(const mcrepl__addr_t *a, const mcrepl__addr_t *b);

#endif
