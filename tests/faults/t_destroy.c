/* mcrepl_destroy while writes are queued and the slave is down: killed
 * (the sender is between reconnection attempts), or frozen (the sender
 * is stuck in a pipeline waiting for an answer that will not come). It
 * must return within --shutdown-timeout plus a margin, not after the
 * I/O or dead timeouts. Durations are net of waits for a CPU. */
#include <stdio.h>
#include <string.h>

#include "common.h"

#define MARGIN_MS 500

static void scenario(const char *name, int freeze, int shutdown_ms)
{
  mc_server_t *master = server_start(NULL), *slave = server_start(NULL);
  mcrepl_t *m = handle_open("--pair=127.0.0.1:%d,127.0.0.1:%d "
                            "--shutdown-timeout=%d --backoff-max=2000 "
                            "--timeout=5000 --dead-timeout=30000",
                            master->port, slave->port, shutdown_ms);
  static char val[2048];
  mcrepl_pair_stats_t st;
  long long d0, t0, ms;
  char key[32];
  int i;

  CHECK(mcrepl_set(m, S("d-warm"), S("x"), 0, 0) == MCREPL_SUCCESS &&
            mcrepl_wait_replicated(m, 5000) == MCREPL_SUCCESS, "warm-up");
  if (freeze)
    server_freeze(slave);
  else
    mc_kill(slave);
  for (i = 0; i < 20000; i++) { /* ~40 MB: more than socket buffers */
    snprintf(key, sizeof key, "d-%d", i);
    CHECK(mcrepl_set(m, S(key), val, sizeof val, 0, 0) == MCREPL_SUCCESS,
          "set");
  }
  st = stats_of(m, 0);
  CHECK(st.queue_items > 0, "nothing queued");
  d0 = run_delay_us();
  t0 = now_us();
  mcrepl_destroy(m);
  ms = (now_us() - t0 - (run_delay_us() - d0)) / 1000;
  CHECK(ms <= shutdown_ms + MARGIN_MS, "%s: destroy took %lld ms with "
        "--shutdown-timeout=%d", name, ms, shutdown_ms);
  fault_ok("destroy", "%s, %llu writes queued, --shutdown-timeout=%d: "
           "returned in %lld ms", name, (unsigned long long)st.queue_items,
           shutdown_ms, ms);
  server_stop(master);
  server_stop(slave);
}

int main(void)
{
  scenario("slave killed", 0, 1000);
  scenario("slave frozen", 1, 1000);
  scenario("slave frozen", 1, 0);
  return 0;
}
