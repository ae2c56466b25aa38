/* The master fails under a caller's feet.
 *
 * 1. The master frozen (SIGSTOP): every command returns an error code (a
 *    write never claims success) within the configured 300 ms timeout
 *    plus a margin, and nothing is queued for the slave but a read-back
 *    per key write that timed out (the master may still apply it).
 * 2. The master killed while a caller is in the middle of a 900 KB write
 *    (frozen first, so that the write is stuck in the socket buffers
 *    when the kill comes): an error code, promptly.
 * 3. The master restarted on the same port: writes succeed again within
 *    the retry timeout plus a margin, and replicate.
 * Durations are net of the time the calling thread waited for a CPU
 * (common.h's run_delay_us): other work on the machine is not the
 * library's doing. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define TIMEOUT_MS 300
#define MARGIN_MS 500
#define BIG (900 * 1024)

static mcrepl_t *g_m;

/* Runs op, returns its code and its duration net of CPU waits. */
static mcrepl_return_t timed(const char *name, long long *ms)
{
  long long d0 = run_delay_us(), t0 = now_us();
  mcrepl_return_t rc = run_op(g_m, name, "mk-key");

  *ms = (now_us() - t0 - (run_delay_us() - d0)) / 1000;
  return rc;
}

static void frozen_master(mc_server_t *master)
{
  uint64_t queued = stats_of(g_m, 0).queued, timeouts = 0;
  long long ms, worst = 0;
  size_t i;

  server_freeze(master);
  printf("   master frozen:");
  for (i = 0; i < OPS; i++) {
    mcrepl_return_t rc = timed(g_ops[i].name, &ms);
    printf(" %s=%s/%lldms", g_ops[i].name, mcrepl_strcode(rc) + 7, ms);
    fflush(stdout);
    CHECK(ms <= TIMEOUT_MS + MARGIN_MS, "%s took %lld ms", g_ops[i].name,
          ms);
    CHECK(!g_ops[i].write || rc != MCREPL_SUCCESS, "%s succeeded on a "
          "frozen master", g_ops[i].name);
    /* The master may still apply a key write that timed out: it is
     * queued as a read-back. */
    timeouts += g_ops[i].write && rc == MCREPL_TIMEOUT &&
                strcmp(g_ops[i].name, "flush") != 0;
    worst = ms > worst ? ms : worst;
  }
  printf("\n");
  CHECK(stats_of(g_m, 0).queued == queued + timeouts,
        "%llu writes queued, %llu timed out",
        (unsigned long long)(stats_of(g_m, 0).queued - queued),
        (unsigned long long)timeouts);
  fault_ok("master SIGSTOP", "%zu commands, each an error (or a read "
           "answered by the slave) within %lld ms (timeout %d ms)",
           (size_t)OPS, worst, TIMEOUT_MS);
}

static void *big_write(void *arg)
{
  static char val[BIG];
  long long d0 = run_delay_us(), t0 = now_us();

  memset(val, 'b', sizeof val);
  mcrepl_return_t rc = mcrepl_set(g_m, S("mk-big"), val, sizeof val, 0, 0);
  ((long long *)arg)[0] = rc;
  ((long long *)arg)[1] = now_us() - t0 - (run_delay_us() - d0);
  return NULL;
}

static void killed_mid_write(mc_server_t *master)
{
  long long res[2] = {-1, 0};
  pthread_t th;

  mc_resume(master);
  mc_sleep_ms(1100); /* past libmemcached's retry timeout (whole s) */
  CHECK(mcrepl_set(g_m, S("mk-warm"), S("v"), 0, 0) == MCREPL_SUCCESS,
        "the master did not come back from SIGSTOP");
  server_freeze(master);
  CHECK(pthread_create(&th, NULL, big_write, res) == 0, "thread");
  mc_sleep_ms(100);
  mc_kill(master);
  pthread_join(th, NULL);
  CHECK(res[0] != MCREPL_SUCCESS, "a 900 KB set to a killed master "
        "succeeded");
  CHECK(res[1] / 1000 <= 100 + TIMEOUT_MS + MARGIN_MS, "the set took %lld "
        "ms", res[1] / 1000);
  fault_ok("master killed mid-write", "900 KB set -> %s after %lld ms",
           mcrepl_strcode((mcrepl_return_t)res[0]), res[1] / 1000);
}

static void restarted(mc_server_t *master, mc_server_t *slave)
{
  long long t0 = now_ms(), waited;
  mcrepl_return_t rc = MCREPL_FAILURE;
  char *v = NULL;

  CHECK(mc_restart(master) == 0, "master did not restart");
  while (now_ms() - t0 < 5000 &&
         (rc = mcrepl_set(g_m, S("mk-after"), S("back"), 0, 0)) !=
             MCREPL_SUCCESS)
    mc_sleep_ms(50);
  waited = now_ms() - t0;
  CHECK(rc == MCREPL_SUCCESS, "no write succeeded 5 s after the restart: "
        "%s", mcrepl_strcode(rc));
  rc = mcrepl_wait_replicated(g_m, 10000);
  CHECK(rc == MCREPL_SUCCESS || rc == MCREPL_SLAVE_DIRTY, "wait: %s",
        mcrepl_strcode(rc));
  CHECK(mc_raw_get(slave->port, "mk-after", &v, NULL, NULL) == 1 &&
            strcmp(v, "back") == 0,
        "the write after the restart did not reach the slave");
  free(v);
  check_counters(g_m, "after the master's restart");
  fault_ok("master restarted", "writes succeed again after %lld ms and "
           "replicate (wait: %s)", waited, mcrepl_strcode(rc));
}

int main(void)
{
  mc_server_t *master = server_start(NULL), *slave = server_start(NULL);

  g_m = handle_open("--pair=127.0.0.1:%d,127.0.0.1:%d --timeout=%d "
                    "--connect-timeout=%d --retry-timeout=1000",
                    master->port, slave->port, TIMEOUT_MS, TIMEOUT_MS);
  CHECK(mcrepl_set(g_m, S("mk-key"), S("1"), 0, 0) == MCREPL_SUCCESS &&
            mcrepl_wait_replicated(g_m, 5000) == MCREPL_SUCCESS,
        "setup");
  frozen_master(master);
  killed_mid_write(master);
  restarted(master, slave);
  mcrepl_destroy(g_m);
  server_stop(master);
  server_stop(slave);
  return 0;
}
