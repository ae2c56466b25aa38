/* A flood of writes while the slave is frozen: the queue fills.
 *
 * With --overflow=drop: memory stays bounded (RSS grows by at most the
 * queue's bound plus a few MiB however many writes are dropped), every
 * write still returns the master's answer at once, the drops are
 * counted, the counters add up, and the pair is dirty.
 * With --overflow=block: a write that finds the queue full waits at most
 * the I/O timeout (plus a margin), then is dropped and counted. */
#include <stdio.h>
#include <string.h>

#include "common.h"

#define FLOOD 150000
#define VALUE 1024
#define BOUND_MIB 4
#define SLACK_MIB 6
#define BLOCK_MS 200
#define MARGIN_MS 300

static char g_val[VALUE];

static void drop_mode(mc_server_t *master, mc_server_t *slave)
{
  mcrepl_t *m = handle_open("--pair=127.0.0.1:%d,127.0.0.1:%d "
                            "--queue-bytes=%dM --timeout=5000",
                            master->port, slave->port, BOUND_MIB);
  mcrepl_pair_stats_t st;
  mcrepl_return_t rc;
  long rss0, rss1;
  char key[32];
  size_t i;

  for (i = 0; i < 2000; i++) { /* warm-up: pools, buffers, the sender */
    snprintf(key, sizeof key, "warm-%zu", i);
    CHECK(mcrepl_set(m, S(key), g_val, VALUE, 0, 0) == MCREPL_SUCCESS,
          "warm-up");
  }
  CHECK(mcrepl_wait_replicated(m, 10000) == MCREPL_SUCCESS, "warm-up");
  server_freeze(slave);
  rss0 = rss_kib();
  for (i = 0; i < FLOOD; i++) {
    snprintf(key, sizeof key, "flood-%zu", i);
    rc = mcrepl_set(m, S(key), g_val, VALUE, 0, 0);
    CHECK(rc == MCREPL_SUCCESS, "set %s: %s", key, mcrepl_strcode(rc));
    if (i % 10000 == 0)
      check_counters(m, "flood");
  }
  rss1 = rss_kib();
  st = stats_of(m, 0);
  check_counters(m, "after the flood");
  CHECK(rss1 - rss0 <= (BOUND_MIB + SLACK_MIB) * 1024, "RSS grew by %ld "
        "KiB for a %d MiB queue", rss1 - rss0, BOUND_MIB);
  CHECK(st.dropped > 0 && st.dirty == 1, "dropped %llu dirty %d",
        (unsigned long long)st.dropped, st.dirty);
  mc_resume(slave);
  rc = mcrepl_wait_replicated(m, 30000);
  CHECK(rc == MCREPL_SLAVE_DIRTY, "wait after the flood: %s",
        mcrepl_strcode(rc));
  check_counters(m, "drained");
  fault_ok("queue overflow (drop)", "%d writes of %d B with the slave "
           "frozen: RSS %ld -> %ld KiB (+%ld KiB, bound %d MiB); queued "
           "%llu dropped %llu, peak queue %llu B; dirty %d", FLOOD, VALUE,
           rss0, rss1, rss1 - rss0, BOUND_MIB,
           (unsigned long long)st.queued, (unsigned long long)st.dropped,
           (unsigned long long)st.queue_bytes, st.dirty);
  mcrepl_destroy(m);
}

static void block_mode(mc_server_t *master, mc_server_t *slave)
{
  mcrepl_t *m = handle_open("--pair=127.0.0.1:%d,127.0.0.1:%d "
                            "--queue-bytes=4K --overflow=block "
                            "--timeout=%d", master->port, slave->port,
                            BLOCK_MS);
  long long worst = 0;
  mcrepl_pair_stats_t st;
  char key[32];
  int i;

  CHECK(mcrepl_set(m, S("b-warm"), S("x"), 0, 0) == MCREPL_SUCCESS &&
            mcrepl_wait_replicated(m, 5000) == MCREPL_SUCCESS, "warm-up");
  server_freeze(slave);
  for (i = 0; i < 10; i++) {
    long long d0 = run_delay_us(), t0 = now_us(), ms;
    snprintf(key, sizeof key, "block-%d", i);
    mcrepl_return_t rc = mcrepl_set(m, S(key), g_val, VALUE, 0, 0);
    ms = (now_us() - t0 - (run_delay_us() - d0)) / 1000;
    CHECK(rc == MCREPL_SUCCESS, "set %s: %s", key, mcrepl_strcode(rc));
    CHECK(ms <= BLOCK_MS + MARGIN_MS, "set %s blocked %lld ms", key, ms);
    worst = ms > worst ? ms : worst;
  }
  st = stats_of(m, 0);
  check_counters(m, "blocked");
  CHECK(st.dropped > 0 && st.dirty, "dropped %llu",
        (unsigned long long)st.dropped);
  mc_resume(slave);
  fault_ok("queue overflow (block)", "10 writes of %d B into a 4 KiB "
           "queue, slave frozen: longest wait %lld ms (timeout %d ms), "
           "dropped %llu, dirty %d", VALUE, worst, BLOCK_MS,
           (unsigned long long)st.dropped, st.dirty);
  mcrepl_destroy(m);
}

int main(void)
{
  mc_server_t *master = server_start(NULL), *slave = server_start(NULL);

  memset(g_val, 'f', sizeof g_val);
  drop_mode(master, slave);
  block_mode(master, slave);
  server_stop(master);
  server_stop(slave);
  return 0;
}
