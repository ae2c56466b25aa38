/* Lag histogram (see stats.h). */
#include <string.h>

#include "stats.h"

void mcrepl__stats_init(mcrepl__stats_t *s)
{
  size_t i;

  atomic_init(&s->errors, 0);
  atomic_init(&s->reconnects, 0);
  atomic_init(&s->slave_restarts, 0);
  atomic_init(&s->batches, 0);
  atomic_init(&s->repairs, 0);
  atomic_init(&s->unverified, 0);
  atomic_init(&s->dirt, 0);
  atomic_init(&s->clean, 0);
  atomic_init(&s->slave_up, 0);
  atomic_init(&s->lag_max_us, 0);
  atomic_init(&s->lag_read_timed, 0);
  for (i = 0; i < MCREPL__HIST_BUCKETS; i++)
    atomic_init(&s->lag[i], 0);
}

static size_t bucket_of(uint64_t us)
{
  unsigned msb;
  size_t b;

  if (us < MCREPL__HIST_SUB)
    return (size_t)us;
  msb = 63u - (unsigned)__builtin_clzll(us);
  /* The three bits under the top one pick the sub-bucket. */
  b = (size_t)(msb - 2) * MCREPL__HIST_SUB +
      (size_t)((us >> (msb - 3)) & (MCREPL__HIST_SUB - 1));
  return b < MCREPL__HIST_BUCKETS ? b : MCREPL__HIST_BUCKETS - 1;
}

/* The largest value that falls in bucket b. */
static uint64_t bucket_top(size_t b)
{
  unsigned msb;

  if (b < MCREPL__HIST_SUB)
    return b;
  msb = (unsigned)(b / MCREPL__HIST_SUB) + 2;
  return ((uint64_t)(MCREPL__HIST_SUB + b % MCREPL__HIST_SUB + 1)
          << (msb - 3)) - 1;
}

void mcrepl__stats_add_dirt(mcrepl__stats_t *s)
{
  atomic_fetch_add(&s->dirt, 1);
}

int mcrepl__stats_dirty(const mcrepl__stats_t *s)
{
  return atomic_load(&s->dirt) > atomic_load(&s->clean);
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
  return a < b ? a : b;
}

void mcrepl__stats_lag(mcrepl__stats_t *s, uint64_t us, int at_read)
{
  if (at_read)
    atomic_fetch_add_explicit(&s->lag_read_timed, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&s->lag[bucket_of(us)], 1,
                            memory_order_relaxed);
  if (us > atomic_load_explicit(&s->lag_max_us, memory_order_relaxed))
    atomic_store_explicit(&s->lag_max_us, us, memory_order_relaxed);
}

uint64_t mcrepl__stats_lag_pct(const mcrepl__stats_t *s, double p)
{
  uint64_t counts[MCREPL__HIST_BUCKETS], total = 0, seen = 0, rank;
  size_t i;

  for (i = 0; i < MCREPL__HIST_BUCKETS; i++) {
    counts[i] = atomic_load_explicit(&s->lag[i], memory_order_relaxed);
    total += counts[i];
  }
  if (total == 0)
    return 0;
  rank = (uint64_t)(p * (double)total);
  if (rank >= total)
    rank = total - 1;
  for (i = 0; i < MCREPL__HIST_BUCKETS && seen <= rank; i++)
    seen += counts[i];
  /* A bucket's top may lie above anything recorded in it. */
  return min_u64(bucket_top(i - 1),
                 atomic_load_explicit(&s->lag_max_us, memory_order_relaxed));
}
