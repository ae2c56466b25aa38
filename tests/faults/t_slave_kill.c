/* The slave killed (SIGKILL) while pipelines are in flight, then started
 * again as a new, empty process on the same port, three times over.
 *
 * No crash; the sender reconnects; the slave's return as a new process is
 * noticed (slave_restarts) and the pair is dirty (it lost what it held);
 * every write made after the restart reaches the new slave; and the
 * counters add up. The caller, writing to a live master, sees no error. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

#define CYCLES 3
#define KEYFMT "sk-%08zu"
#define VALUE 1024 /* long pipelines: a kill lands inside one */

static mcrepl_t *g_m;
static _Atomic size_t g_n; /* keys written: KEYFMT 0 .. g_n-1 */
static _Atomic int g_stop;

static void *writer(void *arg)
{
  static char val[VALUE];
  char key[32];

  (void)arg;
  memset(val, 'x', sizeof val);
  while (!atomic_load(&g_stop)) {
    size_t i = atomic_load(&g_n);
    snprintf(key, sizeof key, KEYFMT, i);
    mcrepl_return_t rc = mcrepl_set(g_m, S(key), val, sizeof val, 0, 0);
    CHECK(rc == MCREPL_SUCCESS, "set %s: %s", key, mcrepl_strcode(rc));
    atomic_store(&g_n, i + 1);
    if (i % 100 == 99) /* ~20k/s at most: bounded memory and checks */
      mc_sleep_ms(5);
  }
  return NULL;
}

int main(void)
{
  mc_server_t *master = server_start(NULL), *slave = server_start(NULL);
  size_t after_restart = 0, c;
  mcrepl_pair_stats_t st;
  mcrepl_return_t rc;
  pthread_t th;
  long miss, miss_all;

  g_m = handle_open("--pair=127.0.0.1:%d,127.0.0.1:%d --backoff-max=200 "
                    "--timeout=5000", master->port, slave->port);
  CHECK(pthread_create(&th, NULL, writer, NULL) == 0, "thread");
  mc_sleep_ms(1000);
  for (c = 0; c < CYCLES; c++) {
    st = stats_of(g_m, 0);
    CHECK(st.slave_up == 1 && st.batches > 0, "cycle %zu: slave up %d, "
          "%llu batches", c, st.slave_up, (unsigned long long)st.batches);
    mc_kill(slave);
    mc_sleep_ms(300);
    CHECK(mc_restart(slave) == 0, "slave did not come back");
    after_restart = atomic_load(&g_n);
    mc_sleep_ms(1500);
    check_counters(g_m, "after a restart");
  }
  atomic_store(&g_stop, 1);
  pthread_join(th, NULL);

  rc = mcrepl_wait_replicated(g_m, 20000);
  CHECK(rc == MCREPL_SLAVE_DIRTY, "wait_replicated: %s, want "
        "MCREPL_SLAVE_DIRTY (the slave lost its data)", mcrepl_strcode(rc));
  check_counters(g_m, "at the end");
  st = stats_of(g_m, 0);
  CHECK(st.dirty == 1 && st.slave_restarts >= CYCLES &&
            st.reconnects >= CYCLES + 1 && st.queue_items == 0,
        "dirty %d, slave_restarts %llu, reconnects %llu, items %llu",
        st.dirty, (unsigned long long)st.slave_restarts,
        (unsigned long long)st.reconnects,
        (unsigned long long)st.queue_items);
  miss = keys_missing(slave->port, KEYFMT, after_restart, atomic_load(&g_n));
  CHECK(miss == 0, "the slave lacks %ld of the %zu keys written after the "
        "last restart (slave evictions %lld, dropped %llu)", miss,
        atomic_load(&g_n) - after_restart,
        mc_raw_stat(slave->port, "evictions"),
        (unsigned long long)st.dropped);
  miss_all = keys_missing(master->port, KEYFMT, 0, atomic_load(&g_n));
  CHECK(miss_all == 0, "the master lacks %ld keys", miss_all);

  fault_ok("slave killed mid-pipeline x3", "%zu sets, no error; "
           "reconnects %llu, slave_restarts %llu, dirty %d, dropped %llu, "
           "errors %llu; all %zu keys written after the last restart on "
           "the slave", atomic_load(&g_n),
           (unsigned long long)st.reconnects,
           (unsigned long long)st.slave_restarts, st.dirty,
           (unsigned long long)st.dropped, (unsigned long long)st.errors,
           atomic_load(&g_n) - after_restart);
  mcrepl_destroy(g_m);
  server_stop(master);
  server_stop(slave);
  return 0;
}
