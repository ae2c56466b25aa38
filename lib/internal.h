/* The handle and its pairs, shared by the library's files. */
#ifndef MCREPL_INTERNAL_H
#define MCREPL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "config.h"
#include "conn.h"
#include "mcrepl/mcrepl.h"
#include "pool.h"
#include "queue.h"
#include "ring.h"
#include "sender.h"
#include "stats.h"

/* Writes to one key are serialised from the master's answer to the
 * queue, so that the queue's order is the master's order. The keys of a
 * pair share its locks by hash; each pair has its own, so that writers
 * stuck on one pair's master never hold up another pair's. */
#define MCREPL__STRIPES 256
/* memcached reads a larger expiry (or flush delay) as a Unix time. */
#define MCREPL__RELATIVE_MAX (60 * 60 * 24 * 30)
/* Ticks of dirt history kept: at the default interval, two minutes. */
#define MCREPL__SAMPLES 256

/* What only the sender thread of a pair touches. */
typedef struct mcrepl__sender {
  mcrepl__conn_t slave;
  mcrepl__conn_t master;        /* to the target: read-backs, markers */
  mcrepl__stats_reply_t node_id[2]; /* the pair's nodes, as last seen */
  int node_known[2];
  int node_lost[2];             /* came back as another process while
                                   the master: lost data, for the day
                                   it is the slave */
  int vip_probed;               /* twins: which one the vip leads to was
                                   probed on this connection to it */
  int64_t next_tick_ns;
  int64_t slave_skew_s;         /* slave's "stats time" minus ours */
  /* Recent samples of it: memcached's clock ticks once a second, so a
   * sample may lag by up to one; the largest recent one is the truth. */
  int64_t skew[8];
  size_t nskew;
  /* stats.dirt as counted before the master `pid.boot` handed out
   * `epoch`: a resync from it that began at a later epoch covers it. */
  struct {
    uint64_t dirt, epoch, pid;
    int64_t boot;
  } sample[MCREPL__SAMPLES];
  size_t nsample;               /* samples taken so far (ring) */
  uint64_t sampled_dirt;        /* stats.dirt at the last sample */
  uint64_t stale_cas;           /* the master carries our stale marker,
                                   this write of it (0: none) */
  int was_up;                   /* the slave was reachable last we knew */
  int unacked;                  /* pipeline bytes may be on the slave's
                                   connection that its "MN" did not
                                   acknowledge yet */
  int faults;                   /* failed attempts of this batch that a
                                   retry would repeat (see give_up) */
  int said_no_meta;             /* logged that the slave is too old */
  int retrying;                 /* the tick runs between failed attempts
                                   at a batch */
  int was_dirty;                /* ... and dirty */
  mcrepl__buf_t out;            /* read-backs being sent */
  mcrepl__pipe_t pipe;          /* the slave's pipeline being sent */
  int64_t last_batch_ns;        /* when the last batch was taken */
  /* The batch sent to the slave whose "MN" is not read yet: at most one,
   * so that a reply before it can only be about it. */
  struct mcrepl__entry *inflight;
  size_t inflight_n;
  mcrepl__buf_t states;         /* values read back from the master */
  struct mcrepl__state *state;  /* one per read-back of the batch */
  size_t nstate;
  uint32_t *slot;               /* read-backs by key hash (mark_repeats) */
  size_t nslots;                /* a power of two, twice batch_max */
  int backoff_ms;
} mcrepl__sender_t;

typedef struct mcrepl__pair {
  size_t index;
  struct mcrepl *m;
  const mcrepl__pair_conf_t *conf;
  const mcrepl__config_t *cfg;
  const mcrepl__addr_t *target; /* the vip, else the master */
  mcrepl__queue_t q;
  mcrepl__stats_t st;
  mcrepl__pool_t pool;          /* to the target */
  mcrepl__pool_t node_pool[2];  /* to each real node: read failover */
  const mcrepl__addr_t *node[2];/* master, slave as configured */
  _Atomic int master_idx;       /* which node is behind the target */
  _Atomic int64_t target_down_until; /* reads skip the target till then */
  _Atomic uint64_t vip_changes;
  _Atomic uint64_t read_failovers;
  _Atomic int64_t deadline;     /* set by destroy: sender gives up then */
  pthread_t thread;
  int started;
  pthread_mutex_t stripes[MCREPL__STRIPES];
  /* Writes hold it shared from the master's answer to the queue, a flush
   * exclusive: the slave sees the flush on the same side of every write
   * as the master did. */
  pthread_rwlock_t flush_lock;
  mcrepl__sender_t s;
} mcrepl__pair_t;

struct mcrepl {
  mcrepl__config_t cfg;
  mcrepl__ring_t *ring;
  mcrepl__pair_t *pairs;
  size_t npairs;
  pthread_mutex_t cb_mu;        /* guards the callback pair below */
  mcrepl_vip_cb vip_cb;
  void *vip_ctx;
  mcrepl_log_cb log_cb;
  void *log_ctx;
  _Atomic int log_max;          /* -1: no callback */
};

/* mcrepl.c: the user's callbacks run between these, on a sender thread,
 * under cb_mu; meanwhile mcrepl__in_callback(m) is true on that thread,
 * so that the calls which would deadlock there are refused. */
void mcrepl__callback_begin(mcrepl_t *m);
void mcrepl__callback_end(mcrepl_t *m);
int mcrepl__in_callback(const mcrepl_t *m);

/* mcrepl.c: formats and hands a message to the log callback, if any. */
void mcrepl__log(mcrepl_t *m, mcrepl_log_level_t level, const char *fmt,
                 ...) __attribute__((format(printf, 3, 4)));

/* sender.c, for failover.c */
const mcrepl__addr_t *mcrepl__slave_addr(const mcrepl__pair_t *p);
mcrepl__io_t mcrepl__io_of(mcrepl__pair_t *p, int stall_ms);
/* Opens the sender's connection to the target when it is closed. */
mcrepl_return_t mcrepl__sender_master(mcrepl__pair_t *p);
/* The same for the slave, which it checks: it must answer meta commands,
 * and a new process there (a restart) makes the pair dirty. */
mcrepl_return_t mcrepl__sender_slave(mcrepl__pair_t *p);

/* failover.c: the sender's periodic look at its pair */
/* Every identity interval: which node is behind the vip, whether the
 * slave was resynced (clears dirty), whether the master carries the
 * stale marker a dirty pair owes it. Sender thread only. */
void mcrepl__failover_tick(mcrepl__pair_t *p);
/* At shutdown: leaves the stale marker a dirty pair owes its master. */
void mcrepl__failover_last_word(mcrepl__pair_t *p);
/* A (re)connected slave's identity: another process than before lost
 * what it held, and the pair becomes dirty. */
mcrepl_return_t mcrepl__failover_slave_seen(mcrepl__pair_t *p,
                                            const mcrepl__stats_reply_t *id);

#endif
