/* Four application threads hammer one shared handle (two pairs) with
 * every command while masters and slaves are killed and restarted on
 * the same ports, or frozen and thawed, in turn.
 *
 * No crash and no call longer than OP_MAX_MS (net of CPU waits); no
 * code that a valid call cannot produce (BAD_KEY, INVALID_ARGUMENTS,
 * NOMEM); and queued == replicated + dropped + queue_items holds EXACTLY
 * for every pair in every snapshot a fifth thread takes meanwhile, and
 * at the end, when every queue has drained. Run under TSan as well.
 * $CONC_SECONDS sets the length (default 20). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define THREADS 4
#define PAIRS 2
#define KEYS 200
#define OP_MAX_MS 2500

static mcrepl_t *g_m;
static mc_server_t *g_srv[PAIRS][2]; /* [pair][0 master, 1 slave] */
static _Atomic int g_stop;
static _Atomic long g_codes[MCREPL_RETURN_MAX];
static _Atomic long g_ops_done, g_snapshots;
static _Atomic long long g_worst_ms;

static int mget_cb(void *ctx, const char *k, size_t kl, const char *v,
                   size_t vl, uint32_t f, uint64_t cas)
{
  (void)ctx, (void)k, (void)kl, (void)v, (void)vl, (void)f, (void)cas;
  return 0;
}

/* One random call; returns its code. */
static mcrepl_return_t one_op(unsigned *seed)
{
  char key[32], k2[32], val[64];
  const char *keys[2] = {key, k2};
  size_t lens[2], vlen, pair;
  int r = rand_r(seed) % 1000;
  mcrepl_return_t rc = MCREPL_SUCCESS;
  mcrepl_pair_stats_t st;
  mcrepl_node_info_t ni;
  uint64_t cas = 0, nv;
  char *v;

  snprintf(key, sizeof key, "c-%d", rand_r(seed) % KEYS);
  snprintf(k2, sizeof k2, "c-%d", rand_r(seed) % KEYS);
  lens[0] = strlen(key);
  lens[1] = strlen(k2);
  vlen = (size_t)snprintf(val, sizeof val, "%d", rand_r(seed) % 100000);
  if (r < 200)
    return mcrepl_set(g_m, S(key), val, vlen, r % 3 ? 0 : 300, 7);
  if (r < 250)
    return mcrepl_add(g_m, S(key), val, vlen, 0, 0);
  if (r < 300)
    return mcrepl_replace(g_m, S(key), val, vlen, 0, 0);
  if (r < 350)
    return mcrepl_append(g_m, S(key), S("1"), 0, 0);
  if (r < 400)
    return mcrepl_prepend(g_m, S(key), S("2"), 0, 0);
  if (r < 450) {
    free(mcrepl_gets(g_m, S(key), NULL, NULL, &cas, &rc));
    return rc == MCREPL_SUCCESS
               ? mcrepl_cas(g_m, S(key), val, vlen, 0, 0, cas) : rc;
  }
  if (r < 500)
    return mcrepl_touch(g_m, S(key), r % 2 ? 100 : 0);
  if (r < 560)
    return mcrepl_delete(g_m, S(key));
  if (r < 620)
    return mcrepl_incr(g_m, S(key), 3, &nv);
  if (r < 660)
    return mcrepl_decr(g_m, S(key), 1, NULL);
  if (r < 900) {
    v = mcrepl_get(g_m, S(key), &vlen, NULL, &rc);
    free(v);
    return rc;
  }
  if (r < 970)
    return mcrepl_mget(g_m, keys, lens, 2, mget_cb, NULL);
  if (r < 980)
    return mcrepl_pair_stats(g_m, (size_t)r % PAIRS, &st, sizeof st);
  if (r < 990)
    return mcrepl_key_pair(g_m, S(key), &pair);
  if (r < 995) { /* with writes in flight, TIMEOUT is the usual answer */
    rc = mcrepl_wait_replicated(g_m, 0);
    return rc == MCREPL_TIMEOUT || rc == MCREPL_SLAVE_DIRTY ? MCREPL_SUCCESS
                                                            : rc;
  }
  if (r < 999)
    return mcrepl_node_info(g_m, (size_t)r % PAIRS, MCREPL_NODE_SLAVE, &ni,
                            sizeof ni);
  return mcrepl_flush(g_m, 0);
}

static void *worker(void *arg)
{
  unsigned seed = (unsigned)(uintptr_t)arg * 7919u + 1;

  while (!atomic_load(&g_stop)) {
    long long d0 = run_delay_us(), t0 = now_us(), ms;
    mcrepl_return_t rc = one_op(&seed);
    ms = (now_us() - t0 - (run_delay_us() - d0)) / 1000;
    CHECK((unsigned)rc < MCREPL_RETURN_MAX && rc != MCREPL_BAD_KEY &&
              rc != MCREPL_INVALID_ARGUMENTS && rc != MCREPL_NOMEM,
          "a call returned %s", mcrepl_strcode(rc));
    CHECK(ms <= OP_MAX_MS, "a call took %lld ms (%s)", ms,
          mcrepl_strcode(rc));
    if (ms > atomic_load(&g_worst_ms))
      atomic_store(&g_worst_ms, ms);
    atomic_fetch_add(&g_codes[rc], 1);
    atomic_fetch_add(&g_ops_done, 1);
  }
  return NULL;
}

static void *snapshots(void *arg)
{
  (void)arg;
  while (!atomic_load(&g_stop)) {
    check_counters(g_m, "during the run");
    atomic_fetch_add(&g_snapshots, 1);
    mc_sleep_ms(5);
  }
  return NULL;
}

/* One fault, in turn; returns its name. */
static const char *fault(int n)
{
  mc_server_t *s = g_srv[n % PAIRS][(n / PAIRS) % 2];
  const char *who = (n / PAIRS) % 2 ? "slave" : "master";
  static char name[64];

  if (n % 3 == 2) {
    server_freeze(s);
    mc_sleep_ms(700);
    mc_resume(s);
    snprintf(name, sizeof name, "froze %s %d", who, n % PAIRS);
  } else {
    mc_kill(s);
    mc_sleep_ms(300);
    CHECK(mc_restart(s) == 0, "%s did not restart", who);
    snprintf(name, sizeof name, "restarted %s %d", who, n % PAIRS);
  }
  return name;
}

int main(void)
{
  const char *env = getenv("CONC_SECONDS");
  long secs = env ? atol(env) : 20, faults = 0;
  pthread_t th[THREADS], snap;
  char conf[512];
  size_t off = 0, i;
  long long end;
  mcrepl_return_t rc;

  for (i = 0; i < PAIRS; i++) {
    g_srv[i][0] = server_start(NULL);
    g_srv[i][1] = server_start(NULL);
    off += (size_t)snprintf(conf + off, sizeof conf - off,
                            "--pair=127.0.0.1:%d,127.0.0.1:%d ",
                            g_srv[i][0]->port, g_srv[i][1]->port);
  }
  g_m = handle_open("%s --timeout=300 --connect-timeout=300 "
                    "--retry-timeout=1000 --backoff-max=100 "
                    "--dead-timeout=1000 --queue-bytes=64K", conf);
  for (i = 0; i < THREADS; i++)
    CHECK(pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)i) == 0,
          "thread");
  CHECK(pthread_create(&snap, NULL, snapshots, NULL) == 0, "thread");
  for (end = now_ms() + secs * 1000; now_ms() < end; faults++) {
    mc_sleep_ms(500);
    printf("   %s\n", fault((int)faults));
  }
  atomic_store(&g_stop, 1);
  for (i = 0; i < THREADS; i++)
    pthread_join(th[i], NULL);
  pthread_join(snap, NULL);

  rc = mcrepl_wait_replicated(g_m, 30000);
  CHECK(rc == MCREPL_SUCCESS || rc == MCREPL_SLAVE_DIRTY, "the queues did "
        "not drain: %s", mcrepl_strcode(rc));
  check_counters(g_m, "at the end");
  printf("   codes:");
  for (i = 0; i < MCREPL_RETURN_MAX; i++)
    if (atomic_load(&g_codes[i]))
      printf(" %s=%ld", mcrepl_strcode((mcrepl_return_t)i) + 7,
             atomic_load(&g_codes[i]));
  printf("\n");
  for (i = 0; i < PAIRS; i++) {
    mcrepl_pair_stats_t st = stats_of(g_m, i);
    CHECK(st.queue_items == 0, "pair %zu: %llu left", i,
          (unsigned long long)st.queue_items);
    printf("   pair %zu: queued %llu = replicated %llu + dropped %llu + "
           "items %llu; dirty %d, reconnects %llu, restarts %llu\n", i,
           (unsigned long long)st.queued,
           (unsigned long long)st.replicated,
           (unsigned long long)st.dropped,
           (unsigned long long)st.queue_items, st.dirty,
           (unsigned long long)st.reconnects,
           (unsigned long long)st.slave_restarts);
  }
  fault_ok("concurrency", "%d threads, %ld calls in %ld s, %ld faults "
           "injected, %ld counter snapshots all exact, longest call %lld "
           "ms; wait -> %s", THREADS, atomic_load(&g_ops_done), secs,
           faults, atomic_load(&g_snapshots), atomic_load(&g_worst_ms),
           mcrepl_strcode(rc));
  mcrepl_destroy(g_m);
  for (i = 0; i < PAIRS; i++) {
    server_stop(g_srv[i][0]);
    server_stop(g_srv[i][1]);
  }
  return 0;
}
