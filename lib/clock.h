/* Monotonic time, for lags, timeouts and the age of relative expiries:
 * the wall clock may jump, and these must not. */
#ifndef MCREPL_CLOCK_H
#define MCREPL_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

static inline int64_t mcrepl__now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t mcrepl__ms_to_ns(int64_t ms)
{
  return ms * 1000000;
}

/* The absolute CLOCK_MONOTONIC time for pthread_cond_timedwait on
 * condition variables created with mcrepl__cond_init, and for
 * FUTEX_WAIT_BITSET. */
static inline struct timespec mcrepl__ns_to_ts(int64_t ns)
{
  struct timespec ts;
  ts.tv_sec = ns / 1000000000;
  ts.tv_nsec = ns % 1000000000;
  return ts;
}

/* Condition variables on CLOCK_MONOTONIC, for timed waits. */
static inline int mcrepl__cond_init(pthread_cond_t *c)
{
  pthread_condattr_t a;
  int rc;

  if (pthread_condattr_init(&a) != 0)
    return -1;
  pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
  rc = pthread_cond_init(c, &a);
  pthread_condattr_destroy(&a);
  return rc == 0 ? 0 : -1;
}

#endif
