/* Per-pair statistics the sender updates and any thread may read. The
 * counters that must add up with the queue's depth (queued, replicated,
 * dropped) live in the queue, under its lock; these are the rest. */
#ifndef MCREPL_STATS_H
#define MCREPL_STATS_H

#include <stdatomic.h>
#include <stdint.h>

/* Lag histogram: 8 sub-buckets per power of two of microseconds, so a
 * percentile is within 12.5 % of the truth at any scale. */
#define MCREPL__HIST_SUB 8
#define MCREPL__HIST_BUCKETS (40 * MCREPL__HIST_SUB)

typedef struct mcrepl__stats {
  _Atomic uint64_t errors;
  _Atomic uint64_t reconnects;
  _Atomic uint64_t slave_restarts;
  _Atomic uint64_t batches;
  _Atomic uint64_t repairs;    /* keys given the master's state again */
  _Atomic uint64_t unverified; /* writes that could not be verified */
  /* Dirt is counted, not flagged: the sender cleans up to the count it
   * saw when a resync of the slave began, and dirt added later stays. */
  _Atomic uint64_t dirt;
  _Atomic uint64_t clean;
  _Atomic int slave_up;
  _Atomic uint64_t lag_max_us;
  _Atomic uint64_t lag_read_timed; /* samples that are upper bounds */
  _Atomic uint64_t lag[MCREPL__HIST_BUCKETS];
} mcrepl__stats_t;

void mcrepl__stats_init(mcrepl__stats_t *s);
/* The slave missed writes (or may have: a write of unknown fate). */
void mcrepl__stats_add_dirt(mcrepl__stats_t *s);
/* The slave missed writes that no resync has brought back yet. */
int mcrepl__stats_dirty(const mcrepl__stats_t *s);
/* Records one write's lag, timed at the read of the slave's answer
 * (at_read) or at its arrival. Called by the one sender of the pair. */
void mcrepl__stats_lag(mcrepl__stats_t *s, uint64_t us, int at_read);
/* The lag under which p (0..1) of the recorded writes fall; 0 if none. */
uint64_t mcrepl__stats_lag_pct(const mcrepl__stats_t *s, double p);

#endif
