/* Soak: mixed reads and writes from 4 threads for $SOAK_SECONDS (default
 * 120) while the pair's slave and master are killed and restarted in
 * turn on the same ports every ~15 s.
 *
 * After a warm-up that includes one restart of each, RSS must stay flat
 * (end <= warm-up + 8 MiB) and the descriptors must not grow; after
 * mcrepl_destroy, exactly the descriptors open before mcrepl_create are
 * left. The counters add up at every check (10 a second), no call takes
 * longer than OP_MAX_MS net of CPU waits, nothing crashes. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define THREADS 4
#define KEYS 10000
#define FAULT_EVERY_MS 15000
#define WARMUP_MS 35000 /* past the first two faults */
#define RSS_SLACK_KIB (8 * 1024)
#define FD_SLACK 4
#define OP_MAX_MS 3000

static mcrepl_t *g_m;
static _Atomic int g_stop;
static _Atomic long g_calls, g_errors, g_misses;
static _Atomic long long g_worst_ms;

static int cb(void *c, const char *k, size_t kl, const char *v, size_t vl,
              uint32_t f, uint64_t cas)
{
  (void)c, (void)k, (void)kl, (void)v, (void)vl, (void)f, (void)cas;
  return 0;
}

static mcrepl_return_t one_op(unsigned *seed, char *val)
{
  char key[5][24];
  const char *keys[5];
  size_t lens[5], vlen = (size_t)(10 + rand_r(seed) % 2000), i;
  int r = rand_r(seed) % 100;
  mcrepl_return_t rc = MCREPL_SUCCESS;

  for (i = 0; i < 5; i++) {
    snprintf(key[i], sizeof key[i], "soak-%d", rand_r(seed) % KEYS);
    keys[i] = key[i];
    lens[i] = strlen(key[i]);
  }
  if (r < 60) {
    free(mcrepl_get(g_m, key[0], lens[0], NULL, NULL, &rc));
    return rc;
  }
  if (r < 85)
    return mcrepl_set(g_m, key[0], lens[0], val, vlen, r % 2 ? 0 : 600,
                      0);
  if (r < 90)
    return mcrepl_delete(g_m, key[0], lens[0]);
  if (r < 95)
    return mcrepl_incr(g_m, key[0], lens[0], 1, NULL);
  if (r < 98)
    return mcrepl_append(g_m, key[0], lens[0], "+", 1, 0, 0);
  return mcrepl_mget(g_m, keys, lens, 5, cb, NULL);
}

static void *worker(void *arg)
{
  unsigned seed = (unsigned)(uintptr_t)arg * 104729u + 3;
  static char val[2048];

  memset(val, 's', sizeof val);
  while (!atomic_load(&g_stop)) {
    long long d0 = run_delay_us(), t0 = now_us(), ms;
    mcrepl_return_t rc = one_op(&seed, val);
    ms = (now_us() - t0 - (run_delay_us() - d0)) / 1000;
    CHECK(ms <= OP_MAX_MS, "a call took %lld ms (%s)", ms,
          mcrepl_strcode(rc));
    CHECK(rc != MCREPL_BAD_KEY && rc != MCREPL_INVALID_ARGUMENTS &&
              rc != MCREPL_NOMEM, "a call returned %s", mcrepl_strcode(rc));
    if (ms > atomic_load(&g_worst_ms))
      atomic_store(&g_worst_ms, ms);
    if (rc == MCREPL_NOTFOUND || rc == MCREPL_NOTSTORED)
      atomic_fetch_add(&g_misses, 1);
    else if (rc != MCREPL_SUCCESS && rc != MCREPL_NON_NUMERIC)
      atomic_fetch_add(&g_errors, 1);
    atomic_fetch_add(&g_calls, 1);
  }
  return NULL;
}

int main(void)
{
  const char *env = getenv("SOAK_SECONDS");
  long secs = env ? atol(env) : 120, faults = 0, checks = 0;
  mc_server_t *master = server_start(NULL), *slave = server_start(NULL);
  long rss_start, rss_warm = -1, rss_end, rss_max = 0;
  int fd_before, fd_start, fd_warm = -1, fd_end, fd_after, fd_max = 0;
  long long t_start, next_fault, now;
  mcrepl_pair_stats_t st;
  mcrepl_return_t rc;
  pthread_t th[THREADS];
  size_t i;

  CHECK(secs * 1000 > WARMUP_MS + FAULT_EVERY_MS, "SOAK_SECONDS=%ld is "
        "shorter than the warm-up and one more fault", secs);
  fd_before = count_fds();
  g_m = handle_open("--pair=127.0.0.1:%d,127.0.0.1:%d --timeout=500 "
                    "--connect-timeout=500 --backoff-max=200 "
                    "--queue-bytes=16M", master->port, slave->port);
  rss_start = rss_kib();
  fd_start = count_fds();
  for (i = 0; i < THREADS; i++)
    CHECK(pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)i) == 0,
          "thread");
  t_start = now_ms();
  next_fault = t_start + FAULT_EVERY_MS;
  while ((now = now_ms()) < t_start + secs * 1000) {
    mc_sleep_ms(100);
    check_counters(g_m, "soak");
    checks++;
    if (checks % 10 == 0) {
      long rss = rss_kib();
      int fds = count_fds();
      rss_max = rss > rss_max ? rss : rss_max;
      fd_max = fds > fd_max ? fds : fd_max;
      if (rss_warm < 0 && now - t_start >= WARMUP_MS) {
        rss_warm = rss;
        fd_warm = fds;
      }
    }
    if (now >= next_fault) {
      mc_server_t *s = faults % 2 ? master : slave;
      mc_kill(s);
      mc_sleep_ms(300);
      CHECK(mc_restart(s) == 0, "%s did not restart",
            faults % 2 ? "master" : "slave");
      faults++;
      next_fault += FAULT_EVERY_MS;
    }
  }
  atomic_store(&g_stop, 1);
  for (i = 0; i < THREADS; i++)
    pthread_join(th[i], NULL);
  rc = mcrepl_wait_replicated(g_m, 30000);
  CHECK(rc == MCREPL_SUCCESS || rc == MCREPL_SLAVE_DIRTY, "the queue did "
        "not drain: %s", mcrepl_strcode(rc));
  check_counters(g_m, "end");
  st = stats_of(g_m, 0);
  rss_end = rss_kib();
  fd_end = count_fds();
  mcrepl_destroy(g_m);
  fd_after = count_fds();

  printf("soak: %lds, %ld ops (%ld misses, %ld errors), %ld faults "
         "injected, longest call %lld ms\n", secs, atomic_load(&g_calls),
         atomic_load(&g_misses), atomic_load(&g_errors), faults,
         atomic_load(&g_worst_ms));
  printf("soak: RSS start %ld KiB, after warm-up %ld KiB, end %ld KiB, "
         "max %ld KiB\n", rss_start, rss_warm, rss_end, rss_max);
  printf("soak: fds before create %d, start %d, warm %d, end %d, max %d, "
         "after destroy %d\n", fd_before, fd_start, fd_warm, fd_end, fd_max,
         fd_after);
  printf("soak: queued %llu replicated %llu dropped %llu errors %llu "
         "reconnects %llu slave_restarts %llu dirty %d; %ld counter "
         "checks exact; wait -> %s\n", (unsigned long long)st.queued,
         (unsigned long long)st.replicated, (unsigned long long)st.dropped,
         (unsigned long long)st.errors, (unsigned long long)st.reconnects,
         (unsigned long long)st.slave_restarts, st.dirty, checks,
         mcrepl_strcode(rc));
  CHECK(rss_end <= rss_warm + RSS_SLACK_KIB, "RSS grew from %ld to %ld "
        "KiB after the warm-up", rss_warm, rss_end);
  CHECK(fd_end <= fd_warm + FD_SLACK, "descriptors grew from %d to %d",
        fd_warm, fd_end);
  CHECK(fd_after == fd_before, "%d descriptors before mcrepl_create, %d "
        "after mcrepl_destroy", fd_before, fd_after);
  CHECK(st.queue_items == 0, "%llu left in the queue",
        (unsigned long long)st.queue_items);
  server_stop(master);
  server_stop(slave);
  printf("soak: ok\n");
  return 0;
}
