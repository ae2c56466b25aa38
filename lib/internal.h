/* A pair as the library's files share it: the handle's callers, the
 * pair's sender thread, its link and its failover logic. What only one
 * of them touches lives beside that file instead (sender.c, failover.h,
 * link.h).
 *
 * Words the code uses:
 *   master, slave  the pair's node that takes the callers' writes, and
 *                  the one the sender copies them to; a vip move swaps
 *                  them (master_idx).
 *   target         the address callers write to: the vip, else the
 *                  configured master.
 *   dirty, clean   the slave missed writes that no resync has brought
 *                  back (stats.dirt counts them, stats.clean is the dirt
 *                  a resync covered); it must not be promoted.
 *   stale          how a dirty slave is marked on its master (the
 *                  mcrepl:stale:HOST:PORT marker, see node.h), so that
 *                  every process and the health check see it.
 *   ready          a node that holds its pair's data (mcrepl:ready).
 *   epoch          a counter on the master that orders the dirt counted
 *                  against the resyncs that began (see failover.c).
 *   twins          two nodes whose "stats" look alike (containers): only
 *                  a probe key tells which one the vip leads to.
 *   last word      the stale marker a handle being destroyed still owes
 *                  its master for the writes it dropped.
 *   settle         wait for the batch in flight to be acknowledged by
 *                  the slave ("MN"), sending it again while that fails.
 *   tick           failover's periodic look at the pair, between
 *                  batches, every --identity-interval. */
#ifndef MCREPL_INTERNAL_H
#define MCREPL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "config.h"
#include "notify.h"
#include "pool.h"
#include "queue.h"
#include "stats.h"

/* Writes to one key are serialised from the master's answer to the
 * queue, so that the queue's order is the master's order. The keys of a
 * pair share its locks by hash; each pair has its own, so that writers
 * stuck on one pair's master never hold up another pair's. */
#define MCREPL__STRIPES 256

struct mcrepl__sender;

typedef struct mcrepl__pair {
  size_t index;
  mcrepl__notify_t *notify;     /* the handle's callbacks */
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
  pthread_mutex_t stripes[MCREPL__STRIPES];
  /* Writes hold it shared from the master's answer to the queue, a flush
   * exclusive: the slave sees the flush on the same side of every write
   * as the master did. */
  pthread_rwlock_t flush_lock;
  struct mcrepl__sender *sender; /* NULL until started (sender.h) */
} mcrepl__pair_t;

#endif
