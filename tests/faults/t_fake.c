/* A fake server (fakesrv.c) that answers garbage, half a line and then
 * nothing, the start of a value and then closes, "SERVER_ERROR out of
 * memory", "ERROR" (no meta commands: memcached before 1.6) or
 * "CLIENT_ERROR" to everything, used as the master and then as the slave
 * of a pair.
 *
 * As the master: every command returns within the 300 ms timeout plus a
 * margin; no write claims success; nothing is queued for the slave but
 * a read-back per write that timed out; neither garbage nor a
 * CLIENT_ERROR about something else is taken for a value that is no
 * number.
 * As the slave: the caller's writes (to a real master) all succeed;
 * replication never reports success; errors are counted; the counters
 * add up; mcrepl_destroy returns within the shutdown timeout plus a
 * margin. A slave that answered nonsense, nothing, or refusals leaves
 * the pair dirty (writes sent to it may land late, or never); one that
 * answers garbage gets each batch at most three times, then the batch is
 * dropped; one without meta commands is never sent a pipeline.
 * In an mget over two pairs, a fake master fails its own pair only: the
 * other pair's keys are all delivered, once each.
 * Built with ASan, a leak or overrun anywhere fails the run. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
      /* Only memcached's "cannot increment or decrement non-numeric
       * value" says the value is no number: no fake says that. */
      CHECK(rc != MCREPL_NON_NUMERIC, "%s master: %s said NON_NUMERIC",
            fake_mode_name[mode], g_ops[i].name);
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

/* mget over two pairs, the first with the fake as its master and no
 * slave to fail over to: whatever the fake's answer maps to (even
 * MCREPL_FAILURE, which the callback's stop returns too), the second
 * pair is still fetched and every key of its is seen, once. */
#define MGET_KEYS 64

typedef struct {
  int seen[MGET_KEYS];
} mget_seen_t;

static int on_key(void *ctx, const char *key, size_t key_len,
                  const char *value, size_t value_len, uint32_t flags,
                  uint64_t cas)
{
  mget_seen_t *g = ctx;
  int i;

  (void)value, (void)value_len, (void)flags, (void)cas;
  if (key_len > 3 && sscanf(key, "mg-%d", &i) == 1 && i >= 0 &&
      i < MGET_KEYS)
    g->seen[i]++;
  return 0;
}

static void mget_across(fake_mode_t mode, int real_port, int slave_port)
{
  const char *name = fake_mode_name[mode];
  char keys[MGET_KEYS][16];
  const char *kp[MGET_KEYS];
  size_t lens[MGET_KEYS], pair[MGET_KEYS], good = 0;
  mget_seen_t g;
  mcrepl_return_t rc;
  fake_t f;
  mcrepl_t *m;
  int i;

  CHECK(fake_start(&f, mode) == 0, "fake server");
  m = handle_open("--pair=127.0.0.1:%d,127.0.0.1:1 --pair=127.0.0.1:%d,"
                  "127.0.0.1:%d --timeout=%d --read-failover=no " OPTS,
                  f.port, real_port, slave_port, TIMEOUT_MS);
  memset(&g, 0, sizeof g);
  for (i = 0; i < MGET_KEYS; i++) {
    lens[i] = (size_t)snprintf(keys[i], sizeof keys[i], "mg-%d", i);
    kp[i] = keys[i];
    CHECK(mcrepl_key_pair(m, kp[i], lens[i], &pair[i]) == MCREPL_SUCCESS,
          "key_pair");
    if (pair[i] == 1) {
      CHECK(mcrepl_set(m, kp[i], lens[i], "v", 1, 0, 0) == MCREPL_SUCCESS,
            "%s: set on the real pair", name);
      good++;
    }
  }
  CHECK(good > 0 && good < MGET_KEYS, "%zu keys on the real pair", good);
  rc = mcrepl_mget(m, kp, lens, MGET_KEYS, on_key, &g);
  /* libmemcached 1.1 reports a get answered "SERVER_ERROR out of
   * memory" or "ERROR" as a miss, recording no error (README, Limits). */
  CHECK(rc != MCREPL_SUCCESS || mode == FAKE_OOM || mode == FAKE_NO_META,
        "%s: mget reported success", name);
  for (i = 0; i < MGET_KEYS; i++)
    CHECK(g.seen[i] == (pair[i] == 1), "%s: mget -> %s; key %s of pair "
          "%zu seen %d times", name, mcrepl_strcode(rc), kp[i], pair[i],
          g.seen[i]);
  mcrepl_destroy(m);
  fake_stop(&f);
  fault_ok("fake master, mget", "%s: %s; the other pair's %zu keys all "
           "seen once", name, mcrepl_strcode(rc), good);
}

/* A slave that takes the start of a pipeline, then reads nothing more
 * and sends junk without end, while the sender is blocked sending it
 * the rest (one value larger than the sockets' buffers): what the
 * sender buffers of the junk is bounded (64 MiB), and having no more
 * progress to show, it gives the connection up after --dead-timeout and
 * marks the pair dirty. Before, each read of junk counted as progress
 * and went into an unbounded buffer. */
#define FLOOD_VALUE (48 << 20)
#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) ||      \
    __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
/* Shadow memory, and ASan's quarantine of the freed buffers. */
#define FLOOD_RSS_MAX_KIB (768L * 1024)
#else
/* The queued value, the 64 MiB, and room. */
#define FLOOD_RSS_MAX_KIB (192L * 1024)
#endif

static void flood_slave(int master_port)
{
  char *value = malloc(FLOOD_VALUE);
  long rss0, rss, peak = 0;
  long long t0;
  mcrepl_pair_stats_t st;
  fake_t f;
  mcrepl_t *m;

  CHECK(value != NULL, "malloc");
  memset(value, 'v', FLOOD_VALUE);
  CHECK(fake_start(&f, FAKE_FLOOD) == 0, "fake server");
  m = handle_open("--pair=127.0.0.1:%d,127.0.0.1:%d --timeout=3000 "
                  "--queue-bytes=128M " OPTS, master_port, f.port);
  rss0 = rss_kib();
  CHECK(mcrepl_set(m, "flood", 5, value, FLOOD_VALUE, 0, 0) ==
            MCREPL_SUCCESS, "flood: set on the real master");
  /* Sampled often, so that an unbounded buffer fails the test long
   * before it could hurt the machine. */
  t0 = now_us();
  do {
    rss = rss_kib() - rss0;
    peak = rss > peak ? rss : peak;
    CHECK(peak <= FLOOD_RSS_MAX_KIB, "flood: RSS grew by %ld KiB", peak);
    st = stats_of(m, 0);
    usleep(10000);
  } while (!st.dirty && now_us() - t0 < 10000000);
  CHECK(st.dirty, "flood: the pair is not dirty after 10 s (errors %llu)",
        (unsigned long long)st.errors);
  mcrepl_destroy(m);
  fake_stop(&f);
  free(value);
  fault_ok("fake slave", "flood: a write of %d MiB; the connection given "
           "up and the pair dirty after %lld ms; RSS peak +%ld KiB",
           FLOOD_VALUE >> 20, (now_us() - t0) / 1000, peak);
}

int main(void)
{
  mc_server_t *real = server_start(NULL), *slave = server_start(NULL), *big;
  int mode;

  for (mode = 0; mode < FAKE_MODES; mode++) {
    printf("   fake master, %s:", fake_mode_name[mode]);
    as_master((fake_mode_t)mode, real->port);
    as_slave((fake_mode_t)mode, real->port);
    mget_across((fake_mode_t)mode, real->port, slave->port);
  }
  big = server_start("-I 64m -m 256");
  flood_slave(big->port);
  server_stop(big);
  server_stop(slave);
  server_stop(real);
  return 0;
}
