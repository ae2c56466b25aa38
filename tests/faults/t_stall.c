/* A slave frozen with SIGSTOP for 10 s while the application writes.
 *
 * The caller must not notice: the p99 latency of set during the freeze
 * stays within 2x of the p99 before it, and no single set takes over
 * 100 ms. The queue stays within its bound (small here, so that it fills
 * and drops), every counter adds up throughout, replication catches up
 * after SIGCONT, and the slave holds every key except at most as many as
 * were counted dropped.
 *
 * Latencies are judged net of the time the machine itself stalled the
 * process during the call (common.h's watchdog): on a shared virtual
 * machine a busy loop alone sees pauses of a second. And the p99 that is
 * compared is the median of the p99s of each second of a phase, so that
 * a burst of load from another process in one second does not decide
 * it, while a slowdown the freeze causes shows in every second. Raw
 * figures are printed too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define WARMUP 500        /* first sets: connections being made */
#define BEFORE_MS 3000
#define STOP_MS 10000
#define AFTER_MS 2000
#define MAX_SET_US 100000
#define MAX_WRITES 3000000
#define KEYFMT "stall-%08zu"

static long long g_t0[MAX_WRITES], g_lat[MAX_WRITES];
static size_t g_n; /* keys written so far: KEYFMT 0 .. g_n-1 */
static mcrepl_t *g_m;

/* Writes for ms milliseconds (or until MAX_WRITES). */
static void write_for(long ms, const char *phase)
{
  static const char val[100] = {'v'};
  long long end = now_ms() + ms;
  char key[32];

  while (now_ms() < end && g_n < MAX_WRITES) {
    snprintf(key, sizeof key, KEYFMT, g_n);
    g_t0[g_n] = now_us();
    mcrepl_return_t rc = mcrepl_set(g_m, S(key), val, sizeof val, 0, 0);
    g_lat[g_n] = now_us() - g_t0[g_n];
    g_n++;
    CHECK(rc == MCREPL_SUCCESS, "%s: set %s: %s", phase, key,
          mcrepl_strcode(rc));
    if (g_n % 1000 == 0)
      check_counters(g_m, phase);
  }
}

/* p99 and max of lat[from, to), in microseconds. */
static void figures(const long long *lat, size_t from, size_t to,
                    long long *p99, long long *max)
{
  size_t n = to - from;
  long long *v = malloc(n * sizeof *v);

  CHECK(v != NULL && n > 0, "no samples");
  memcpy(v, lat + from, n * sizeof *v);
  *p99 = quantile(v, n, 0.99);
  *max = v[n - 1];
  free(v);
}

/* The median of the p99s of each whole second of [from, to). */
static long long p99_by_second(size_t from, size_t to)
{
  long long p[64], v;
  size_t n = 0, i = from, j;

  while (i < to && n < 64) {
    for (j = i; j < to && g_t0[j] < g_t0[i] + 1000000; j++)
      ;
    if (j == to && g_t0[to - 1] < g_t0[i] + 900000)
      break; /* a partial last second */
    figures(g_lat, i, j, &p[n++], &v);
    if (getenv("STALL_VERBOSE"))
      printf("   second %zu: %zu sets, p99 %lld us\n", n, j - i, p[n - 1]);
    i = j;
  }
  CHECK(n > 0, "no whole second in [%zu, %zu)", from, to);
  return quantile(p, n, 0.5);
}

int main(void)
{
  mc_server_t *master = server_start(NULL), *slave = server_start(NULL);
  long long p99_b, p99_s, max_s, raw_p99_b, raw_p99_s, raw_max_s, max_b;
  long long longest;
  size_t stop_from, stop_to, touched;
  mcrepl_pair_stats_t st;
  mcrepl_return_t rc;
  long miss_slave, miss_master, stalls;

  /* The master's timeout is not under test: a long one keeps a machine
   * stall from failing a set. */
  g_m = handle_open("--pair=127.0.0.1:%d,127.0.0.1:%d --queue-bytes=8M "
                    "--timeout=5000", master->port, slave->port);
  watch_start();
  write_for(BEFORE_MS, "before");
  CHECK(g_n > WARMUP + 100, "only %zu writes before the stop", g_n);
  stop_from = g_n;
  server_freeze(slave);
  write_for(STOP_MS, "slave stopped");
  stop_to = g_n;
  mc_resume(slave);
  write_for(AFTER_MS, "after");
  watch_stop();

  figures(g_lat, WARMUP, stop_from, &raw_p99_b, &max_b);
  figures(g_lat, stop_from, stop_to, &raw_p99_s, &raw_max_s);
  touched = watch_adjust(g_t0, g_lat, g_n);
  watch_summary(&stalls, &longest);
  figures(g_lat, stop_from, stop_to, &p99_s, &max_s);
  p99_b = p99_by_second(WARMUP, stop_from);
  p99_s = p99_by_second(stop_from, stop_to);
  printf("   raw set p99 %lld us before, %lld us during, max %lld us; "
         "machine stalls %ld (longest %lld ms) touched %zu sets\n",
         raw_p99_b, raw_p99_s, raw_max_s, stalls, longest / 1000, touched);
  CHECK(p99_s <= 2 * p99_b, "p99 %lld us during the stop, %lld before "
        "(medians of per-second p99s)", p99_s, p99_b);
  CHECK(max_s <= MAX_SET_US, "a set took %lld us during the stop (net of "
        "machine stalls)", max_s);

  rc = mcrepl_wait_replicated(g_m, 30000);
  CHECK(rc == MCREPL_SUCCESS || rc == MCREPL_SLAVE_DIRTY,
        "replication did not catch up: %s", mcrepl_strcode(rc));
  check_counters(g_m, "caught up");
  st = stats_of(g_m, 0);
  CHECK(st.queue_items == 0, "%llu still queued",
        (unsigned long long)st.queue_items);
  CHECK(st.dirty == (st.dropped > 0) &&
            (rc == MCREPL_SLAVE_DIRTY) == (st.dropped > 0),
        "dropped %llu, dirty %d, wait %s", (unsigned long long)st.dropped,
        st.dirty, mcrepl_strcode(rc));
  miss_master = keys_missing(master->port, KEYFMT, 0, g_n);
  miss_slave = keys_missing(slave->port, KEYFMT, 0, g_n);
  CHECK(miss_master == 0, "master lacks %ld keys", miss_master);
  CHECK(miss_slave >= 0 && (unsigned long long)miss_slave <= st.dropped,
        "slave lacks %ld keys, %llu counted dropped", miss_slave,
        (unsigned long long)st.dropped);

  fault_ok("slave SIGSTOP 10 s", "%zu sets (%zu during the stop); set p99 "
           "%lld us before, %lld us during (max %lld us); queue bound "
           "%llu B; dropped %llu, slave lacks %ld, dirty %d, lag max %llu "
           "ms", g_n, stop_to - stop_from, p99_b, p99_s, max_s,
           (unsigned long long)st.queue_bytes_max,
           (unsigned long long)st.dropped, miss_slave, st.dirty,
           (unsigned long long)st.lag_max_us / 1000);
  mcrepl_destroy(g_m);
  server_stop(master);
  server_stop(slave);
  return 0;
}
