/* Clients whose clocks disagree must still agree on what a resync
 * covers. The master's epoch counter (mcrepl:epoch) orders the writes a
 * client dropped against the resyncs that began after them; a flush of
 * the master removes it, and whoever asks next creates it again. If that
 * counter started at the asking client's own clock, a counter made by a
 * client an hour ahead would give a resync numbers that a counter made
 * again after a flush, by a client on time, stays below for an hour: the
 * second client's dropped writes would then pass for covered by the
 * resync from before them, its pair for clean, and its stale marker would
 * be taken back while the slave lacks those writes.
 *
 * The clock here is this program's own clock_gettime(), which the
 * library's calls reach as well (the executable's definition comes
 * first); it runs an hour ahead for the first client. */
#include <stdatomic.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define SKEW_S 3600
#define VALUE 1024
#define WRITES 200

static _Atomic long long g_skew_s;

int clock_gettime(clockid_t id, struct timespec *ts)
{
  long rc = syscall(SYS_clock_gettime, id, ts);

  if (rc == 0 && id == CLOCK_REALTIME)
    ts->tv_sec += (time_t)atomic_load(&g_skew_s);
  return (int)rc;
}

/* The first client, an hour ahead, resyncs the slave: its ready marker
 * names the master's epoch then. */
static void resync_from_the_future(mc_server_t *master, mc_server_t *slave)
{
  char from[32], to[32], err[256];
  mcrepl_return_t rc;

  snprintf(from, sizeof from, "127.0.0.1:%d", master->port);
  snprintf(to, sizeof to, "127.0.0.1:%d", slave->port);
  atomic_store(&g_skew_s, SKEW_S);
  rc = mcrepl_resync(from, to, NULL, NULL, NULL, err, sizeof err);
  atomic_store(&g_skew_s, 0);
  CHECK(rc == MCREPL_SUCCESS, "resync: %s", err);
}

/* The second client, on time, drops writes while the slave is frozen. */
static mcrepl_t *drop_writes(mc_server_t *master, mc_server_t *slave)
{
  mcrepl_t *m = handle_open("--pair=127.0.0.1:%d,127.0.0.1:%d "
                            "--queue-bytes=64K --identity-interval=100",
                            master->port, slave->port);
  static char val[VALUE];
  char key[32];

  memset(val, 'v', sizeof val);
  server_freeze(slave);
  for (int i = 0; i < WRITES; i++) {
    snprintf(key, sizeof key, "k%d", i);
    CHECK(mcrepl_set(m, S(key), val, sizeof val, 0, 0) == MCREPL_SUCCESS,
          "set %s", key);
  }
  CHECK(stats_of(m, 0).dropped > 0, "nothing was dropped");
  mc_resume(slave);
  return m;
}

int main(void)
{
  mc_server_t *master = server_start(NULL), *slave = server_start(NULL);
  char out[64], stale[64];
  mcrepl_pair_stats_t st;
  mcrepl_return_t rc;
  mcrepl_t *m;

  resync_from_the_future(master, slave);
  /* An operator empties the master: the counter goes with it. */
  CHECK(mc_raw_cmd(master->port, "flush_all", out, sizeof out) > 0,
        "flush_all");
  mc_sleep_ms(1100); /* the master's clock moves on */
  m = drop_writes(master, slave);
  rc = mcrepl_wait_replicated(m, 5000);
  CHECK(rc == MCREPL_SLAVE_DIRTY, "wait: %s", mcrepl_strcode(rc));
  mc_sleep_ms(1000); /* ten ticks: each samples the dirt, reads ready */
  st = stats_of(m, 0);
  snprintf(stale, sizeof stale, "mcrepl:stale:127.0.0.1:%d", slave->port);
  CHECK(st.dirty == 1, "%llu writes dropped, yet the pair passes for "
        "clean: the resync from before them was taken to cover them",
        (unsigned long long)st.dropped);
  CHECK(mc_raw_get(master->port, stale, NULL, NULL, NULL) == 1,
        "the stale marker was taken back");
  fault_ok("skew", "a resync by a client %d s ahead does not cover the "
           "writes a client on time dropped after a flush (%llu dropped)",
           SKEW_S, (unsigned long long)st.dropped);
  mcrepl_destroy(m);
  server_stop(master);
  server_stop(slave);
  return 0;
}
