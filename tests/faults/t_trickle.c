/* A fake server that answers everything properly, one byte every 200 ms
 * (fakesrv.c's FAKE_TRICKLE): never silent for as long as a timeout, and
 * never done.
 *
 * Every call that talks to it returns within its timeouts plus a margin,
 * with an error, however long the answer would have taken:
 * mcrepl_node_info (a "stats" answer is 150 bytes: 30 s at this rate),
 * mcrepl_check, and, with the fake as the slave, mcrepl_wait_replicated
 * with a timeout and mcrepl_destroy; replication to it is counted as
 * failing, not as done. Durations are net of the thread's waits for a
 * CPU (the machine is shared). */
#include <stdio.h>
#include <unistd.h>

#include "common.h"
#include "fakesrv.h"

#define TIMEOUT_MS 300
#define MARGIN_MS 700
#define OPTS "--connect-timeout=300 --dead-timeout=500 " \
             "--shutdown-timeout=1000 --backoff-max=100"

static long long g_t0, g_d0;

static void clock_start(void)
{
  g_d0 = run_delay_us();
  g_t0 = now_us();
}

static long long clock_ms(void)
{
  return (now_us() - g_t0 - (run_delay_us() - g_d0)) / 1000;
}

static void node_info(mcrepl_t *m, mcrepl_node_t which, const char *name)
{
  mcrepl_node_info_t info;
  mcrepl_return_t rc;
  long long ms;

  clock_start();
  rc = mcrepl_node_info(m, 0, which, &info, sizeof info);
  ms = clock_ms();
  CHECK(ms <= TIMEOUT_MS + MARGIN_MS, "node_info of the %s took %lld ms",
        name, ms);
  CHECK(rc == MCREPL_TIMEOUT && !info.up, "node_info of the %s: %s, up %d",
        name, mcrepl_strcode(rc), info.up);
  fault_ok("trickle", "node_info of the %s: %s in %lld ms", name,
           mcrepl_strcode(rc), ms);
}

static void check(int fake_port)
{
  char node[64], why[256];
  mcrepl_health_t h;
  long long ms;

  snprintf(node, sizeof node, "127.0.0.1:%d", fake_port);
  clock_start();
  h = mcrepl_check(node, NULL, "--timeout=300 --connect-timeout=300", why,
                   sizeof why);
  ms = clock_ms();
  CHECK(ms <= TIMEOUT_MS + MARGIN_MS, "check took %lld ms", ms);
  CHECK(h != MCREPL_HEALTH_READY, "check: a node that never finished an "
        "answer was found ready");
  fault_ok("trickle", "check: %d (%s) in %lld ms", (int)h, why, ms);
}

static void as_slave(int master_port, int fake_port)
{
  mcrepl_t *m = handle_open("--pair=127.0.0.1:%d,127.0.0.1:%d --timeout=%d "
                            OPTS, master_port, fake_port, TIMEOUT_MS);
  mcrepl_pair_stats_t st;
  mcrepl_return_t rc;
  long long ms;
  int i;

  node_info(m, MCREPL_NODE_SLAVE, "slave");
  for (i = 0; i < 20; i++)
    CHECK(mcrepl_set(m, S("tk"), "v", 1, 0, 0) == MCREPL_SUCCESS,
          "set on the real master");
  clock_start();
  rc = mcrepl_wait_replicated(m, 3000);
  ms = clock_ms();
  CHECK(rc != MCREPL_SUCCESS, "wait_replicated: the trickling slave "
        "passed for replicated");
  CHECK(ms <= 3000 + MARGIN_MS, "wait_replicated(3000) took %lld ms", ms);
  st = stats_of(m, 0);
  CHECK(st.replicated == 0, "%llu writes counted replicated",
        (unsigned long long)st.replicated);
  check_counters(m, "trickle slave");
  clock_start();
  mcrepl_destroy(m);
  ms = clock_ms();
  CHECK(ms <= 1000 + MARGIN_MS, "destroy took %lld ms", ms);
  fault_ok("trickle", "slave: wait_replicated %s; errors %llu; destroy in "
           "%lld ms", mcrepl_strcode(rc), (unsigned long long)st.errors, ms);
}

int main(void)
{
  mc_server_t *real = server_start(NULL);
  fake_t f;
  mcrepl_t *m;

  CHECK(fake_start(&f, FAKE_TRICKLE) == 0, "fake server");
  m = handle_open("--pair=127.0.0.1:%d,127.0.0.1:%d --timeout=%d " OPTS,
                  f.port, real->port, TIMEOUT_MS);
  node_info(m, MCREPL_NODE_MASTER, "master");
  mcrepl_destroy(m);
  check(f.port);
  as_slave(real->port, f.port);
  fake_stop(&f);
  server_stop(real);
  return 0;
}
