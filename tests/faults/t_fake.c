/* A fake server (fakesrv.c) that answers garbage, half a line and then
 * nothing, the start of a value and then closes, "SERVER_ERROR out of
 * memory", or "ERROR" to everything (no meta commands: memcached before
 * 1.6), used as the master and then as the slave of a pair.
 *
 * As the master: every command returns within the 300 ms timeout plus a
 * margin; no write claims success; nothing is queued for the slave but
 * a read-back per write that timed out.
 * As the slave: the caller's writes (to a real master) all succeed;
 * replication never reports success; errors are counted; the counters
 * add up; mcrepl_destroy returns within the shutdown timeout plus a
 * margin. A slave that answered nonsense, nothing, or refusals leaves
 * the pair dirty (writes sent to it may land late, or never); one that
 * answers garbage gets each batch at most three times, then the batch is
 * dropped; one without meta commands is never sent a pipeline.
 * Built with ASan, a leak or overrun anywhere fails the run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "fakesrv.h"

#define TIMEOUT_MS 300
#define SHUTDOWN_MS 1000
#define MARGIN_MS 500
#define OPTS "--connect-timeout=300 --dead-timeout=500 " \
             "--shutdown-timeout=1000 --backoff-max=100"

/* Milliseconds since t0_us, net of the thread's waits for a CPU. */
static long long net_ms(long long t0_us, long long d0_us)
{
  return (now_us() - t0_us - (run_delay_us() - d0_us)) / 1000;
}

static long long destroy_timed(mcrepl_t *m)
{
  long long d0 = run_delay_us(), t0 = now_us();

  mcrepl_destroy(m);
  return net_ms(t0, d0);
}

static void as_master(fake_mode_t mode, int slave_port)
{
  fake_t f;
  mcrepl_t *m;
  long long worst = 0, ms;
  unsigned long long timeouts = 0;
  int i, round;

  CHECK(fake_start(&f, mode) == 0, "fake server");
  m = handle_open("--pair=127.0.0.1:%d,127.0.0.1:%d --timeout=%d " OPTS,
                  f.port, slave_port, TIMEOUT_MS);
  for (round = 0; round < 2; round++) {
    for (i = 0; i < OPS; i++) {
      long long d0 = run_delay_us(), t0 = now_us();
      mcrepl_return_t rc = run_op(m, g_ops[i].name, "fk");
      ms = net_ms(t0, d0);
      worst = ms > worst ? ms : worst;
      CHECK(ms <= TIMEOUT_MS + MARGIN_MS, "%s master: %s took %lld ms",
            fake_mode_name[mode], g_ops[i].name, ms);
      CHECK(!g_ops[i].write || rc != MCREPL_SUCCESS, "%s master: %s "
            "succeeded", fake_mode_name[mode], g_ops[i].name);
      /* A key write that timed out is queued as a read-back: the master
       * may have applied it. */
      timeouts += g_ops[i].write && rc == MCREPL_TIMEOUT &&
                  strcmp(g_ops[i].name, "flush") != 0;
      if (round == 0)
        printf(" %s=%s", g_ops[i].name, mcrepl_strcode(rc) + 7);
    }
  }
  printf("\n");
  CHECK(stats_of(m, 0).queued == timeouts, "%s master: %llu writes "
        "queued, %llu timed out", fake_mode_name[mode],
        (unsigned long long)stats_of(m, 0).queued, timeouts);
  ms = destroy_timed(m);
  CHECK(ms <= SHUTDOWN_MS + MARGIN_MS, "destroy took %lld ms", ms);
  fake_stop(&f);
  fault_ok("fake master", "%s: %d commands, each an error or a read "
           "answered by the slave, within %lld ms; queued only the %llu "
           "read-backs of writes that timed out", fake_mode_name[mode],
           2 * OPS, worst, timeouts);
}

static void check_slave_verdict(fake_mode_t mode,
                                const mcrepl_pair_stats_t *st)
{
  const char *name = fake_mode_name[mode];

  if (mode == FAKE_GARBAGE || mode == FAKE_HALF || mode == FAKE_OOM)
    CHECK(st->dirty, "%s slave: the pair is not dirty", name);
  if (mode == FAKE_GARBAGE)
    CHECK(st->dropped > 0, "%s slave: no batch was given up", name);
  if (mode == FAKE_NO_META)
    CHECK(st->batches == 0 && !st->slave_up,
          "%s slave: %llu pipelines sent, slave_up %d", name,
          (unsigned long long)st->batches, st->slave_up);
}

static void as_slave(fake_mode_t mode, int master_port)
{
  mcrepl_pair_stats_t st;
  mcrepl_return_t rc;
  char key[32];
  fake_t f;
  mcrepl_t *m;
  long long ms;
  int i;

  CHECK(fake_start(&f, mode) == 0, "fake server");
  /* The real master's timeout is not under test: a loaded machine must
   * not fail its writes. */
  m = handle_open("--pair=127.0.0.1:%d,127.0.0.1:%d --timeout=3000 " OPTS,
                  master_port, f.port);
  for (i = 0; i < 200; i++) {
    snprintf(key, sizeof key, "fs-%d", i % 7); /* each key, every op */
    rc = run_op(m, g_ops[i % 10].name, key); /* the writes but flush */
    CHECK(rc != MCREPL_TIMEOUT && rc != MCREPL_CONNECTION_FAILURE &&
              rc != MCREPL_PROTOCOL_ERROR && rc != MCREPL_SERVER_ERROR,
          "%s slave: %s on the real master: %s", fake_mode_name[mode],
          g_ops[i % 10].name, mcrepl_strcode(rc));
  }
  rc = mcrepl_wait_replicated(m, 1500);
  CHECK(rc != MCREPL_SUCCESS, "%s slave: replication reported success",
        fake_mode_name[mode]);
  check_counters(m, fake_mode_name[mode]);
  st = stats_of(m, 0);
  CHECK(st.queued > 0 && st.errors > 0, "%s slave: queued %llu errors "
        "%llu", fake_mode_name[mode], (unsigned long long)st.queued,
        (unsigned long long)st.errors);
  check_slave_verdict(mode, &st);
  ms = destroy_timed(m);
  CHECK(ms <= SHUTDOWN_MS + MARGIN_MS, "%s slave: destroy took %lld ms",
        fake_mode_name[mode], ms);
  fake_stop(&f);
  fault_ok("fake slave", "%s: 200 writes stored on the master; wait -> "
           "%s; queued %llu replicated %llu dropped %llu errors %llu "
           "dirty %d; destroy %lld ms", fake_mode_name[mode],
           mcrepl_strcode(rc), (unsigned long long)st.queued,
           (unsigned long long)st.replicated,
           (unsigned long long)st.dropped, (unsigned long long)st.errors,
           st.dirty, ms);
}

int main(void)
{
  mc_server_t *real = server_start(NULL);
  int mode;

  for (mode = 0; mode < FAKE_MODES; mode++) {
    printf("   fake master, %s:", fake_mode_name[mode]);
    as_master((fake_mode_t)mode, real->port);
    as_slave((fake_mode_t)mode, real->port);
  }
  server_stop(real);
  return 0;
}
