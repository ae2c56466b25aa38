/* Failover pieces against real memcached on loopback: resync, the health
 * check, a dirty pair cleaned by a resync, and a vip that moves. The vip
 * here is a small TCP proxy on loopback whose backend the test switches,
 * closing every proxied connection as a moving VRRP address would; the
 * real thing (keepalived in network namespaces) is tests/failover/. */
#include <arpa/inet.h>
#include <check.h>

#include "testutil.h"
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <mcrepl/mcrepl.h>

#include "servers.h"

#define TC_TIMEOUT 60

static mc_server_t *g_a, *g_b;
static char g_an[32], g_bn[32];

static void name_nodes(void)
{
  ck_assert(g_a && g_b);
  snprintf(g_an, sizeof g_an, "127.0.0.1:%d", g_a->port);
  snprintf(g_bn, sizeof g_bn, "127.0.0.1:%d", g_b->port);
}

static void start_nodes(void)
{
  g_a = mc_start(NULL);
  g_b = mc_start(NULL);
  name_nodes();
}

/* Twins: two nodes as containers run them, each pid 1 of its own pid
 * namespace, started in the same second, so that their stats say the
 * same pid and start time: only a probe tells them apart. */
static void start_twins(void)
{
  g_a = mc_start_pid1(NULL);
  g_b = mc_start_pid1(NULL);
  name_nodes();
  ck_assert_int_eq(mc_raw_stat(g_a->port, "pid"), 1);
  ck_assert_int_eq(mc_raw_stat(g_b->port, "pid"), 1);
  ck_assert_int_le(llabs((mc_raw_stat(g_a->port, "time") -
                          mc_raw_stat(g_a->port, "uptime")) -
                         (mc_raw_stat(g_b->port, "time") -
                          mc_raw_stat(g_b->port, "uptime"))),
                   2);
}

static void stop_nodes(void)
{
  mc_kill(g_a);
  mc_kill(g_b);
  mc_stop(g_a);
  mc_stop(g_b);
  g_a = g_b = NULL;
}

static void fill_raw(int port, const char *prefix, int n, long ttl)
{
  char key[64], val[64];

  for (int i = 0; i < n; i++) {
    snprintf(key, sizeof key, "%s%d", prefix, i);
    snprintf(val, sizeof val, "v%d", i);
    ck_assert_int_eq(mc_raw_set(port, key, val, (uint32_t)i, ttl), 0);
  }
}

static int has_key(int port, const char *key)
{
  return mc_raw_get(port, key, NULL, NULL, NULL) == 1;
}

/* Resync ----------------------------------------------------------------- */

START_TEST(test_resync_copies_items_with_flags_and_ttl)
{
  char err[256];
  size_t len;
  uint32_t flags;
  char *v;

  fill_raw(g_a->port, "k", 3000, 300);
  fill_raw(g_a->port, "forever", 10, 0);
  fill_raw(g_a->port, "far", 3, (long)time(NULL) + 40L * 86400);
  ck_rc(mcrepl_resync(g_an, g_bn, "--resync-rate=0", NULL, NULL, err,
                      sizeof err), MCREPL_SUCCESS);
  ck_assert_int_ge(mc_raw_items(g_b->port), 3010);
  for (int i = 0; i < 3000; i += 97) {
    char key[32];
    snprintf(key, sizeof key, "k%d", i);
    ck_assert_int_eq(mc_raw_get(g_b->port, key, &v, &len, &flags), 1);
    ck_assert_uint_eq(flags, (uint32_t)i);
    free(v);
    ck_assert_int_ge(mc_raw_ttl(g_b->port, key), 298);
    ck_assert_int_le(mc_raw_ttl(g_b->port, key), 300);
  }
  ck_assert_int_eq(mc_raw_ttl(g_b->port, "forever3"), -1);
  /* Over 30 days left: memcached would read a remaining time that long
   * as a unix time. */
  ck_assert_int_ge(mc_raw_ttl(g_b->port, "far0"), 40L * 86400 - 5);
  /* The target is marked ready, its lock is gone. */
  ck_assert(has_key(g_b->port, "mcrepl:ready"));
  ck_assert(!has_key(g_b->port, "mcrepl:resync"));
}
END_TEST

START_TEST(test_resync_never_overwrites_a_newer_write)
{
  char err[256], *v;

  fill_raw(g_a->port, "k", 100, 0);
  ck_assert_int_eq(mc_raw_set(g_b->port, "k7", "newer", 0, 0), 0);
  ck_rc(mcrepl_resync(g_an, g_bn, NULL, NULL, NULL, err, sizeof err),
        MCREPL_SUCCESS);
  ck_assert_int_eq(mc_raw_get(g_b->port, "k7", &v, NULL, NULL), 1);
  ck_assert_str_eq(v, "newer");
  free(v);
}
END_TEST

START_TEST(test_resync_lock_admits_one)
{
  char err[256];

  ck_assert_int_eq(mc_raw_set(g_b->port, "mcrepl:resync", "other", 0, 30),
                   0);
  ck_rc(mcrepl_resync(g_an, g_bn, NULL, NULL, NULL, err, sizeof err),
        MCREPL_EXISTS);
  ck_assert_msg(strstr(err, "already running") != NULL, "%s", err);
}
END_TEST

/* A resync paced so slowly that one batch takes longer than its lock
 * lives (15 s) keeps the lock all the same: no second resync starts. */
typedef struct {
  mcrepl_return_t rc;
  char err[256];
} slow_resync_t;

static void *slow_resync(void *arg)
{
  slow_resync_t *s = arg;

  s->rc = mcrepl_resync(g_an, g_bn, "--resync-rate=7", NULL, NULL, s->err,
                        sizeof s->err);
  return NULL;
}

START_TEST(test_resync_keeps_its_lock_while_it_waits)
{
  slow_resync_t s = {MCREPL_FAILURE, ""};
  char err[256];
  pthread_t t;

  fill_raw(g_a->port, "k", 130, 0); /* a batch of 128, then 2 at 18.6 s */
  ck_assert_int_eq(pthread_create(&t, NULL, slow_resync, &s), 0);
  mc_sleep_ms(16500);
  ck_rc(mcrepl_resync(g_an, g_bn, NULL, NULL, NULL, err, sizeof err),
        MCREPL_EXISTS);
  pthread_join(t, NULL);
  ck_rc(s.rc, MCREPL_SUCCESS);
  ck_assert(has_key(g_b->port, "k129"));
}
END_TEST

START_TEST(test_resync_empties_a_stale_target_first)
{
  char err[256], stale[64];

  fill_raw(g_a->port, "k", 50, 0);
  ck_assert_int_eq(mc_raw_set(g_b->port, "deleted-meanwhile", "x", 0, 0), 0);
  snprintf(stale, sizeof stale, "mcrepl:stale:%s", g_bn);
  ck_assert_int_eq(mc_raw_set(g_a->port, stale, "x", 0, 0), 0);
  ck_rc(mcrepl_resync(g_an, g_bn, NULL, NULL, NULL, err, sizeof err),
        MCREPL_SUCCESS);
  ck_assert(!has_key(g_b->port, "deleted-meanwhile"));
  ck_assert(has_key(g_b->port, "k49"));
  ck_assert(!has_key(g_a->port, stale)); /* the master forgets the dirt */
}
END_TEST

/* A target that refuses an item (here its -I is smaller than the
 * source's) lacks part of the pair's data: the resync says so and leaves
 * it unready, and the dirt it answered stays on the source, as when a
 * slave refuses a replicated write. */
static int last_progress(void *ctx, const mcrepl_resync_progress_t *p)
{
  *(mcrepl_resync_progress_t *)ctx = *p;
  return 0;
}

START_TEST(test_resync_refused_items_leave_the_target_unready)
{
  mc_server_t *big = mc_start("-I 2m -m 64");
  mcrepl_resync_progress_t pr = {0};
  char err[256], stale[64], bign[32];

  ck_assert(big);
  snprintf(bign, sizeof bign, "127.0.0.1:%d", big->port);
  ck_assert_int_eq(mcrepl_check(bign, g_bn, NULL, NULL, 0),
                   MCREPL_HEALTH_READY);
  fill_raw(big->port, "k", 50, 0);
  ck_assert_int_eq(mc_raw_set_filled(big->port, "too-large", 1536 * 1024,
                                     'h'),
                   0);
  snprintf(stale, sizeof stale, "mcrepl:stale:%s", g_bn);
  ck_assert_int_eq(mc_raw_set(big->port, stale, "x", 0, 0), 0);
  ck_rc(mcrepl_resync(bign, g_bn, NULL, last_progress, &pr, err,
                      sizeof err),
        MCREPL_SLAVE_DIRTY);
  ck_assert_msg(strstr(err, "refused") && strstr(err, "too-large"),
                "%s", err);
  ck_assert(pr.done);
  ck_assert_uint_ge(pr.failed, 1);
  ck_assert_uint_ge(pr.copied, 50);
  ck_assert(has_key(g_b->port, "k49"));
  ck_assert(!has_key(g_b->port, "mcrepl:ready"));
  ck_assert(!has_key(g_b->port, "mcrepl:resync"));
  ck_assert(has_key(big->port, stale));
  ck_assert_int_eq(mcrepl_check(g_bn, bign, "--read-only", NULL, 0),
                   MCREPL_HEALTH_STALE);
  mc_kill(big);
  mc_stop(big);
}
END_TEST

/* A client that drops writes while a resync runs writes its stale marker
 * again: that write is newer than the resync, which must leave it. */
static int rewrite_stale_once(void *ctx, const mcrepl_resync_progress_t *p)
{
  int *done = ctx;
  char stale[64];

  if (!*done && p->scanned > 0) { /* the copy has begun */
    snprintf(stale, sizeof stale, "mcrepl:stale:%s", g_bn);
    ck_assert_int_eq(mc_raw_set(g_a->port, stale, "newer dirt", 0, 0), 0);
    *done = 1;
  }
  return 0;
}

START_TEST(test_resync_leaves_a_stale_marker_written_since)
{
  char err[256], stale[64];
  int done = 0;

  fill_raw(g_a->port, "k", 600, 0);
  snprintf(stale, sizeof stale, "mcrepl:stale:%s", g_bn);
  ck_assert_int_eq(mc_raw_set(g_a->port, stale, "x", 0, 0), 0);
  ck_rc(mcrepl_resync(g_an, g_bn, NULL, rewrite_stale_once, &done, err,
                      sizeof err),
        MCREPL_SUCCESS);
  ck_assert_int_eq(done, 1);
  ck_assert(has_key(g_b->port, "k599"));
  ck_assert(has_key(g_a->port, stale));
}
END_TEST

/* A delete that overtakes a key's copy: the resync has read the key, the
 * application deletes it (the source, then by replication the target,
 * which has nothing to delete yet), and only then does the resync's add
 * reach the target. The test pauses the target after the first batch,
 * waits for the second batch's reads on the source, deletes those keys
 * there, and lets the target go on. */
#define RACE_KEYS 200

typedef struct {
  char keys[RACE_KEYS][16];
  const char *missing[RACE_KEYS];
  size_t nmissing;
  long long gets; /* the source's cmd_get when the target was paused */
  int calls, ok;
  pthread_t thread;
  mcrepl_resync_progress_t last;
} race_t;

static void *race_delete(void *arg)
{
  race_t *rc = arg;
  long long until = mc_now_ms() + 10000;
  char cmd[64], out[64];

  /* Wait for the resync to have read the second batch. */
  while (mc_raw_stat(g_a->port, "cmd_get") <
         rc->gets + (long long)rc->nmissing) {
    if (mc_now_ms() > until) {
      mc_resume(g_b);
      return NULL;
    }
    mc_sleep_ms(2);
  }
  rc->ok = 1;
  for (size_t i = 0; i < rc->nmissing; i++) {
    snprintf(cmd, sizeof cmd, "md %s", rc->missing[i]);
    if (mc_raw_cmd(g_a->port, cmd, out, sizeof out) < 0 ||
        strncmp(out, "HD", 2) != 0)
      rc->ok = 0;
  }
  mc_resume(g_b);
  return NULL;
}

static int race_first_batch(void *ctx, const mcrepl_resync_progress_t *p)
{
  race_t *rc = ctx;
  const char *all[RACE_KEYS];
  unsigned char present[RACE_KEYS];

  rc->last = *p;
  if (p->done || p->scanned == 0 || rc->calls++ > 0)
    return 0; /* not the call after the first batch */
  for (size_t i = 0; i < RACE_KEYS; i++)
    all[i] = rc->keys[i];
  if (mc_raw_has_keys(g_b->port, all, RACE_KEYS, present) < 0)
    return 1;
  for (size_t i = 0; i < RACE_KEYS; i++)
    if (!present[i])
      rc->missing[rc->nmissing++] = rc->keys[i];
  rc->gets = mc_raw_stat(g_a->port, "cmd_get");
  mc_pause(g_b);
  return pthread_create(&rc->thread, NULL, race_delete, rc) != 0;
}

START_TEST(test_resync_takes_back_a_copy_deleted_meanwhile)
{
  static race_t rc;
  const char *all[RACE_KEYS];
  unsigned char present[RACE_KEYS];
  char err[256];

  memset(&rc, 0, sizeof rc);
  for (int i = 0; i < RACE_KEYS; i++) {
    snprintf(rc.keys[i], sizeof rc.keys[i], "k%d", i);
    all[i] = rc.keys[i];
    ck_assert_int_eq(mc_raw_set(g_a->port, rc.keys[i], "v", 0, 0), 0);
  }
  ck_rc(mcrepl_resync(g_an, g_bn, "--resync-rate=0 --timeout=20000",
                      race_first_batch, &rc, err, sizeof err),
        MCREPL_SUCCESS);
  pthread_join(rc.thread, NULL);
  ck_assert_msg(rc.ok, "the deletes did not happen in the window");
  /* Both batches were in the window's making. */
  ck_assert_uint_gt(rc.nmissing, 0);
  ck_assert_uint_lt(rc.nmissing, RACE_KEYS);
  ck_assert_int_eq(mc_raw_has_keys(g_b->port, all, RACE_KEYS, present),
                   RACE_KEYS - (long)rc.nmissing);
  for (size_t i = 0; i < rc.nmissing; i++)
    ck_assert_msg(!has_key(g_b->port, rc.missing[i]), "%s came back",
                  rc.missing[i]);
  ck_assert(rc.last.done);
  ck_assert_uint_eq(rc.last.retracted, rc.nmissing);
  ck_assert_uint_eq(rc.last.copied, RACE_KEYS - rc.nmissing);
}
END_TEST

static int stop_early(void *ctx, const mcrepl_resync_progress_t *p)
{
  (void)ctx;
  return !p->done && p->scanned > 0;
}

/* A stop asked for at once (mcrepl-cli's SIGTERM, sent when the node
 * turns MASTER) changes nothing on the target: not even the flush of a
 * stale one. */
static int stop_at_once(void *ctx, const mcrepl_resync_progress_t *p)
{
  *(int *)ctx += !p->done;
  return 1;
}

START_TEST(test_resync_stopped_before_it_begins_touches_nothing)
{
  char err[256], stale[64];
  int calls = 0;

  fill_raw(g_a->port, "k", 50, 0);
  ck_assert_int_eq(mc_raw_set(g_b->port, "serving", "x", 0, 0), 0);
  snprintf(stale, sizeof stale, "mcrepl:stale:%s", g_bn);
  ck_assert_int_eq(mc_raw_set(g_a->port, stale, "x", 0, 0), 0);
  ck_rc(mcrepl_resync(g_an, g_bn, "--resync-flush", stop_at_once, &calls,
                      err, sizeof err),
        MCREPL_FAILURE);
  ck_assert_int_eq(calls, 1);
  ck_assert(has_key(g_b->port, "serving"));
  ck_assert(!has_key(g_b->port, "k0"));
  ck_assert(!has_key(g_b->port, "mcrepl:resync"));
  ck_assert(has_key(g_a->port, stale));
}
END_TEST

START_TEST(test_resync_interrupted_then_rerun)
{
  char err[256];

  fill_raw(g_a->port, "k", 2000, 0);
  ck_rc(mcrepl_resync(g_an, g_bn, NULL, stop_early, NULL, err, sizeof err),
        MCREPL_FAILURE);
  ck_assert(!has_key(g_b->port, "mcrepl:resync")); /* lock released */
  ck_assert(!has_key(g_b->port, "mcrepl:ready"));
  ck_rc(mcrepl_resync(g_an, g_bn, NULL, NULL, NULL, err, sizeof err),
        MCREPL_SUCCESS);
  ck_assert_int_ge(mc_raw_items(g_b->port), 2000);
}
END_TEST

/* A live source: its items move between memcached's LRUs as they are
 * read and written, and a listing that walks the LRUs misses some of
 * them (hundreds of 20,000 here); the resync must copy every one. */
#define LIVE_KEYS 20000

static _Atomic int g_live_stop;

static void *live_load(void *arg)
{
  char cmds[8192];
  unsigned seed = 7, next = 0;
  int fd = mc_raw_connect(*(int *)arg);

  while (fd >= 0 && !atomic_load(&g_live_stop)) {
    int len = 0;
    for (int i = 0; i < 50; i++)
      len += snprintf(cmds + len, sizeof cmds - (size_t)len,
                      "mg live%u v\r\n", rand_r(&seed) % LIVE_KEYS);
    for (int i = 0; i < 20; i++)
      len += snprintf(cmds + len, sizeof cmds - (size_t)len,
                      "ms new%u 2 q\r\nxx\r\n", next++);
    len += snprintf(cmds + len, sizeof cmds - (size_t)len, "mn\r\n");
    if (mc_raw_pipeline(fd, cmds, (size_t)len) != 0)
      break;
  }
  if (fd >= 0)
    close(fd);
  return NULL;
}

START_TEST(test_resync_lists_every_item_of_a_live_source)
{
  static char cmds[LIVE_KEYS * 40];
  const char *keys[LIVE_KEYS];
  static char names[LIVE_KEYS][16];
  static unsigned char present[LIVE_KEYS];
  pthread_t t[2];
  char err[256];
  size_t len = 0;
  int fd = mc_raw_connect(g_a->port);
  mcrepl_return_t rc;

  ck_assert_int_ge(fd, 0);
  for (int i = 0; i < LIVE_KEYS; i++) {
    snprintf(names[i], sizeof names[i], "live%d", i);
    keys[i] = names[i];
    len += (size_t)snprintf(cmds + len, sizeof cmds - len,
                            "ms %s 1 q\r\nv\r\n", names[i]);
  }
  len += (size_t)snprintf(cmds + len, sizeof cmds - len, "mn\r\n");
  ck_assert_int_eq(mc_raw_pipeline(fd, cmds, len), 0);
  close(fd);
  atomic_store(&g_live_stop, 0);
  for (int i = 0; i < 2; i++)
    ck_assert_int_eq(pthread_create(&t[i], NULL, live_load, &g_a->port), 0);
  /* The load starves the crawler at times on a small machine: this is
   * about what the listing holds, not how fast it comes. */
  rc = mcrepl_resync(g_an, g_bn, "--resync-rate=0 --timeout=5000", NULL,
                     NULL, err, sizeof err);
  atomic_store(&g_live_stop, 1);
  for (int i = 0; i < 2; i++)
    pthread_join(t[i], NULL);
  ck_assert_msg(rc == MCREPL_SUCCESS, "resync: %s", err);
  ck_assert_int_eq(mc_raw_has_keys(g_b->port, keys, LIVE_KEYS, present),
                   LIVE_KEYS);
}
END_TEST

/* memcached -C (no CAS) drops every item stored in a flush's own second
 * (its clock counts seconds): a resync that empties such a target must
 * not copy into that second, or most of the copy silently vanishes. */
START_TEST(test_resync_flush_into_a_target_without_cas)
{
  mc_server_t *nocas = mc_start("-C");
  static const char *keys[2000];
  static char names[2000][16];
  static unsigned char present[2000];
  char err[256], cn[32];

  ck_assert(nocas);
  snprintf(cn, sizeof cn, "127.0.0.1:%d", nocas->port);
  for (int i = 0; i < 2000; i++) {
    snprintf(names[i], sizeof names[i], "k%d", i);
    keys[i] = names[i];
  }
  fill_raw(g_a->port, "k", 2000, 0);
  ck_rc(mcrepl_resync(g_an, cn, "--resync-flush --resync-rate=0", NULL,
                      NULL, err, sizeof err), MCREPL_SUCCESS);
  ck_assert_int_eq(mc_raw_has_keys(nocas->port, keys, 2000, present), 2000);
  ck_assert(has_key(nocas->port, "mcrepl:ready"));
  mc_kill(nocas);
  mc_stop(nocas);
}
END_TEST

/* A resync that lost its lock (it paused past the lock's life, and a
 * second resync took the target meanwhile: here the callback plays both)
 * stops, and leaves the other's lock where it is. */
static int lock_taken_meanwhile(void *ctx, const mcrepl_resync_progress_t *p)
{
  int *calls = ctx;

  (void)p;
  if (++*calls == 2) {
    ck_assert_int_eq(mc_raw_set(g_b->port, "mcrepl:resync", "another", 0,
                                15), 0);
    mc_sleep_ms(3200); /* past the 3 s between refreshes */
  }
  return 0;
}

START_TEST(test_resync_that_lost_its_lock_stops)
{
  char err[256], *v;
  int calls = 0;

  fill_raw(g_a->port, "k", 600, 0);
  ck_rc(mcrepl_resync(g_an, g_bn, NULL, lock_taken_meanwhile, &calls, err,
                      sizeof err), MCREPL_EXISTS);
  ck_assert_msg(strstr(err, "lost") != NULL, "%s", err);
  ck_assert_int_eq(mc_raw_get(g_b->port, "mcrepl:resync", &v, NULL, NULL),
                   1);
  ck_assert_str_eq(v, "another");
  free(v);
  ck_assert(!has_key(g_b->port, "mcrepl:ready"));
}
END_TEST

/* --resync-if-needed asks the target's health check, which finds an
 * unmarked target ready when its peer is down: the source being down
 * must be an error, not "nothing to do". */
START_TEST(test_resync_if_needed_with_the_source_down)
{
  char err[256];

  ck_rc(mcrepl_resync("127.0.0.1:1", g_bn, "--resync-if-needed", NULL, NULL,
                      err, sizeof err), MCREPL_CONNECTION_FAILURE);
  ck_assert_msg(strstr(err, "127.0.0.1:1") != NULL, "%s", err);
  ck_assert(!has_key(g_b->port, "mcrepl:ready"));
}
END_TEST

/* A resync that fails once it holds the lock (here the source's epoch
 * cannot be read) releases the lock and makes its last callback. */
START_TEST(test_resync_failing_after_the_lock_releases_it)
{
  mcrepl_resync_progress_t pr = {0};
  char err[256];

  ck_assert_int_eq(mc_raw_set(g_a->port, "mcrepl:epoch", "not a number", 0,
                              0), 0);
  ck_assert_int_ne(mcrepl_resync(g_an, g_bn, NULL, last_progress, &pr, err,
                                 sizeof err), MCREPL_SUCCESS);
  ck_assert_msg(strstr(err, "epoch") != NULL, "%s", err);
  ck_assert(pr.done);
  ck_assert(!has_key(g_b->port, "mcrepl:resync"));
}
END_TEST

/* Keys that no text command can name (written in the binary protocol by
 * another client, here through meta's base64 form): not copied, and
 * counted, not lost silently. */
START_TEST(test_resync_counts_keys_it_cannot_name)
{
  mcrepl_resync_progress_t pr = {0};
  char err[256], out[64];

  fill_raw(g_a->port, "k", 20, 0);
  /* "a b" and "c\nd" */
  mc_raw_cmd(g_a->port, "ms YSBi 1 b\r\nv", out, sizeof out);
  ck_assert_msg(strncmp(out, "HD", 2) == 0, "%s", out);
  mc_raw_cmd(g_a->port, "ms Ywpk 1 b\r\nv", out, sizeof out);
  ck_assert_msg(strncmp(out, "HD", 2) == 0, "%s", out);
  ck_rc(mcrepl_resync(g_an, g_bn, "--resync-rate=0", last_progress, &pr, err,
                      sizeof err), MCREPL_SUCCESS);
  ck_assert_uint_eq(pr.unnamed, 2);
  ck_assert_uint_eq(pr.copied, 20);
}
END_TEST

/* A stop asked for while a long listing is read (a signal to mcrepl-cli
 * that a MASTER transition sends) is heard before the listing ends: the
 * callback is called every 65536 keys listed. */
#define LONG_LISTING 70000

static int stop_in_listing(void *ctx, const mcrepl_resync_progress_t *p)
{
  uint64_t *listed_at_stop = ctx;

  if (p->listed == 0)
    return 0; /* the call before the listing */
  *listed_at_stop = p->listed;
  return 1;
}

START_TEST(test_resync_stops_within_a_long_listing)
{
  static char cmds[LONG_LISTING * 24];
  uint64_t listed_at_stop = 0;
  char err[256];
  size_t len = 0;
  int fd = mc_raw_connect(g_a->port);

  ck_assert_int_ge(fd, 0);
  for (int i = 0; i < LONG_LISTING; i++)
    len += (size_t)snprintf(cmds + len, sizeof cmds - len,
                            "ms long%d 1 q\r\nv\r\n", i);
  len += (size_t)snprintf(cmds + len, sizeof cmds - len, "mn\r\n");
  ck_assert_int_eq(mc_raw_pipeline(fd, cmds, len), 0);
  close(fd);
  ck_rc(mcrepl_resync(g_an, g_bn, NULL, stop_in_listing,
                      &listed_at_stop, err, sizeof err), MCREPL_FAILURE);
  ck_assert_msg(strstr(err, "interrupted") != NULL, "%s", err);
  ck_assert_uint_eq(listed_at_stop, 65536);
  ck_assert_int_eq(mc_raw_items(g_b->port), 0);
}
END_TEST

START_TEST(test_resync_bad_arguments)
{
  char err[256];

  ck_rc(mcrepl_resync("nohost:", g_bn, NULL, NULL, NULL, err, sizeof err),
        MCREPL_INVALID_ARGUMENTS);
  ck_rc(mcrepl_resync(g_an, g_an, NULL, NULL, NULL, err, sizeof err),
        MCREPL_INVALID_ARGUMENTS);
  ck_rc(mcrepl_resync(g_an, g_bn, "--bogus", NULL, NULL, err, sizeof err),
        MCREPL_BAD_CONFIG);
  ck_rc(mcrepl_resync(g_an, "127.0.0.1:1", NULL, NULL, NULL, err,
                      sizeof err), MCREPL_CONNECTION_FAILURE);
}
END_TEST

/* Health check ----------------------------------------------------------- */

static mcrepl_health_t check(const char *node, const char *peer)
{
  char why[256];
  return mcrepl_check(node, peer, NULL, why, sizeof why);
}

START_TEST(test_check_states)
{
  char stale[64];

  /* A brand-new pair elects: the first node asked marks itself ready. */
  ck_assert_int_eq(check(g_an, g_bn), MCREPL_HEALTH_READY);
  ck_assert(has_key(g_a->port, "mcrepl:ready"));
  /* Its empty peer must be resynced before it may serve. */
  ck_assert_int_eq(check(g_bn, g_an), MCREPL_HEALTH_EMPTY);
  ck_assert_int_eq(mcrepl_check(g_bn, g_an, "--read-only", NULL, 0),
                   MCREPL_HEALTH_EMPTY);
  ck_assert_int_eq(mc_raw_set(g_b->port, "mcrepl:resync", "x", 0, 30), 0);
  ck_assert_int_eq(check(g_bn, g_an), MCREPL_HEALTH_RESYNCING);
  ck_assert_int_eq(mc_raw_set(g_b->port, "mcrepl:ready", "g", 0, 0), 0);
  mc_raw_cmd(g_b->port, "md mcrepl:resync", stale, sizeof stale);
  ck_assert_int_eq(check(g_bn, g_an), MCREPL_HEALTH_READY);
  snprintf(stale, sizeof stale, "mcrepl:stale:%s", g_bn);
  ck_assert_int_eq(mc_raw_set(g_a->port, stale, "x", 0, 0), 0);
  ck_assert_int_eq(check(g_bn, g_an), MCREPL_HEALTH_STALE);
  mc_kill(g_b);
  ck_assert_int_eq(check(g_bn, g_an), MCREPL_HEALTH_DOWN);
  ck_assert_int_eq(check("bad host", NULL), MCREPL_HEALTH_ERROR);
}
END_TEST

/* An empty peer is a mistake (an unset variable), not "no peer"; a
 * peer that is the node itself is one too: either would let an empty
 * node mark itself ready. */
START_TEST(test_check_refuses_bad_peers)
{
  char why[256], same[64];

  ck_assert_int_eq(mcrepl_check(g_an, "", NULL, why, sizeof why),
                   MCREPL_HEALTH_ERROR);
  ck_assert_msg(strstr(why, "bad peer") != NULL, "%s", why);
  ck_assert_int_eq(mcrepl_check(g_an, g_an, NULL, why, sizeof why),
                   MCREPL_HEALTH_ERROR);
  ck_assert_msg(strstr(why, "is the node") != NULL, "%s", why);
  snprintf(same, sizeof same, "127.1:%d", g_a->port);
  ck_assert_int_eq(mcrepl_check(g_an, same, NULL, why, sizeof why),
                   MCREPL_HEALTH_ERROR);
  ck_assert(!has_key(g_a->port, "mcrepl:ready"));
}
END_TEST

/* A peer that accepts the connection and then says nothing (frozen, or
 * its link cut mid-way) uses up at most half the check's time: the node
 * is still found ready within it. */
START_TEST(test_check_alone_when_peer_frozen)
{
  char why[256];
  long long t0;
  mcrepl_health_t h;

  ck_assert_int_eq(check(g_an, g_bn), MCREPL_HEALTH_READY);
  mc_pause(g_b);
  t0 = mc_now_ms();
  h = mcrepl_check(g_an, g_bn, "--timeout=1000", why, sizeof why);
  mc_resume(g_b);
  ck_assert_msg(h == MCREPL_HEALTH_READY, "%d: %s", (int)h, why);
  ck_assert_msg(mc_now_ms() - t0 < 1400, "check took %lld ms",
                mc_now_ms() - t0);
}
END_TEST

/* Each node carries the other's stale marker: A was the master and
 * banned B, then A was cut off, B was promoted and its clients banned A.
 * The later ban wins: B stays ready (else the pair's master would go
 * down when A came back), A is stale. */
START_TEST(test_check_the_later_ban_wins)
{
  char on_a[64], on_b[64];

  ck_assert_int_eq(check(g_an, g_bn), MCREPL_HEALTH_READY);
  ck_assert_int_eq(mc_raw_set(g_b->port, "mcrepl:ready", "x", 0, 0), 0);
  snprintf(on_a, sizeof on_a, "mcrepl:stale:%s", g_bn);
  snprintf(on_b, sizeof on_b, "mcrepl:stale:%s", g_an);
  ck_assert_int_eq(mc_raw_set(g_a->port, on_a, "missed writes 1000", 0, 0),
                   0);
  ck_assert_int_eq(mc_raw_set(g_b->port, on_b, "missed writes 2000", 0, 0),
                   0);
  ck_assert_int_eq(check(g_bn, g_an), MCREPL_HEALTH_READY);
  ck_assert_int_eq(check(g_an, g_bn), MCREPL_HEALTH_STALE);
  /* The other way round, A's ban of B is the later one. */
  ck_assert_int_eq(mc_raw_set(g_a->port, on_a, "missed writes 3000", 0, 0),
                   0);
  ck_assert_int_eq(check(g_bn, g_an), MCREPL_HEALTH_STALE);
  ck_assert_int_eq(check(g_an, g_bn), MCREPL_HEALTH_READY);
}
END_TEST

START_TEST(test_check_alone_when_peer_down)
{
  mc_kill(g_b);
  /* Better an empty cache than none: a lone node may serve. */
  ck_assert_int_eq(check(g_an, g_bn), MCREPL_HEALTH_READY);
}
END_TEST

/* A dirty pair, cleaned by a resync -------------------------------------- */

static mcrepl_t *make(const char *extra)
{
  char conf[256], err[256];
  mcrepl_t *m;

  snprintf(conf, sizeof conf, "--pair=%s,%s --identity-interval=100 %s",
           g_an, g_bn, extra ? extra : "");
  m = mcrepl_create(conf, err, sizeof err);
  ck_assert_msg(m != NULL, "%s", err);
  return m;
}

static mcrepl_pair_stats_t stats(mcrepl_t *m)
{
  mcrepl_pair_stats_t st;
  ck_rc(mcrepl_pair_stats(m, 0, &st, sizeof st), MCREPL_SUCCESS);
  return st;
}

/* Polls cond for up to ms. */
#define EVENTUALLY(cond, ms)                                               \
  do {                                                                     \
    long long until_ = mc_now_ms() + (ms);                                 \
    while (!(cond) && mc_now_ms() < until_)                                \
      mc_sleep_ms(20);                                                     \
    ck_assert_msg((cond), "never true: %s", #cond);                        \
  } while (0)

/* Makes the pair dirty: the slave paused (it stays so) while the queue
 * overflows; the client then bans it on the master. */
static void make_dirty(mcrepl_t *m, const char *stale)
{
  char val[100];

  memset(val, 'x', sizeof val);
  mc_pause(g_b);
  for (int i = 0; i < 1000; i++) {
    char key[32];
    snprintf(key, sizeof key, "k%d", i);
    ck_rc(mcrepl_set(m, S(key), val, sizeof val, 0, 0), MCREPL_SUCCESS);
  }
  ck_assert(stats(m).dirty);
  ck_assert_uint_gt(stats(m).dropped, 0);
  EVENTUALLY(has_key(g_a->port, stale), 3000);
}

/* A client that shuts down dirty leaves its marker, even when it wrote
 * one before and something (a resync covering older dirt) took it. */
START_TEST(test_shutdown_leaves_the_marker_of_a_dirty_client)
{
  mcrepl_t *m = make("--queue-bytes=16K --shutdown-timeout=1");
  char stale[64], out[96];

  snprintf(stale, sizeof stale, "mcrepl:stale:%s", g_bn);
  make_dirty(m, stale);
  snprintf(out, sizeof out, "delete %s", stale);
  mc_raw_cmd(g_a->port, out, out, sizeof out);
  ck_assert(!has_key(g_a->port, stale));
  mcrepl_destroy(m);
  mc_resume(g_b);
  ck_assert(has_key(g_a->port, stale));
}
END_TEST

/* A pair as deployed: A elected, B resynced from it. */
static void deployed_pair(void)
{
  char err[256];

  ck_assert_int_eq(check(g_an, g_bn), MCREPL_HEALTH_READY);
  ck_rc(mcrepl_resync(g_an, g_bn, NULL, NULL, NULL, err, sizeof err),
        MCREPL_SUCCESS);
}

START_TEST(test_dirty_pair_marks_master_then_resync_cleans)
{
  mcrepl_t *m = make("--queue-bytes=16K");
  char stale[64], err[256];

  snprintf(stale, sizeof stale, "mcrepl:stale:%s", g_bn);
  make_dirty(m, stale);
  ck_assert_int_eq(check(g_bn, g_an), MCREPL_HEALTH_DOWN); /* paused */
  mc_resume(g_b);
  ck_assert_int_eq(check(g_bn, g_an), MCREPL_HEALTH_STALE);
  ck_rc(mcrepl_wait_replicated(m, 5000), MCREPL_SLAVE_DIRTY);
  ck_rc(mcrepl_resync(g_an, g_bn, NULL, NULL, NULL, err, sizeof err),
        MCREPL_SUCCESS);
  EVENTUALLY(!stats(m).dirty, 3000);
  ck_rc(mcrepl_wait_replicated(m, 5000), MCREPL_SUCCESS);
  ck_assert(has_key(g_b->port, "k0"));
  ck_assert_int_eq(check(g_bn, g_an), MCREPL_HEALTH_READY);
  mcrepl_destroy(m);
}
END_TEST

/* A flush of the master (or an eviction) takes the stale marker and the
 * epoch counter: the dirty client writes the marker again, and a resync
 * that begins after the flush still cleans it. */
START_TEST(test_stale_marker_outlives_a_flush_of_the_master)
{
  mcrepl_t *m = make("--queue-bytes=16K");
  char stale[64], err[256], out[64];

  snprintf(stale, sizeof stale, "mcrepl:stale:%s", g_bn);
  make_dirty(m, stale);
  mc_resume(g_b);
  ck_assert(mc_raw_cmd(g_a->port, "flush_all", out, sizeof out) > 0);
  ck_assert(!has_key(g_a->port, stale));
  EVENTUALLY(has_key(g_a->port, stale), 3000);
  ck_assert_int_eq(check(g_bn, g_an), MCREPL_HEALTH_STALE);
  ck_rc(mcrepl_resync(g_an, g_bn, NULL, NULL, NULL, err, sizeof err),
        MCREPL_SUCCESS);
  EVENTUALLY(!stats(m).dirty, 3000);
  /* Clean, the client no longer writes it, and takes back its own. */
  EVENTUALLY(!has_key(g_a->port, stale), 3000);
  mc_sleep_ms(300);
  ck_assert(!has_key(g_a->port, stale));
  ck_assert_int_eq(check(g_bn, g_an), MCREPL_HEALTH_READY);
  mcrepl_destroy(m);
}
END_TEST

/* mcrepl_flush empties both nodes: both are then a new pair's, and stay
 * ready, whichever the health check examines first. */
START_TEST(test_flush_leaves_both_nodes_ready)
{
  mcrepl_t *m = make(NULL);

  deployed_pair();
  ck_rc(mcrepl_set(m, S("k"), S("v"), 0, 0), MCREPL_SUCCESS);
  ck_rc(mcrepl_flush(m, 0), MCREPL_SUCCESS);
  ck_assert(!has_key(g_a->port, "k") && !has_key(g_b->port, "k"));
  ck_assert(has_key(g_a->port, "mcrepl:ready"));
  ck_assert(has_key(g_b->port, "mcrepl:ready"));
  ck_assert_int_eq(check(g_bn, g_an), MCREPL_HEALTH_READY);
  ck_assert_int_eq(check(g_an, g_bn), MCREPL_HEALTH_READY);
  mcrepl_destroy(m);
}
END_TEST

/* A dirty client's slave stays banned through a flush, and the flush
 * says so, as mcrepl_wait_replicated would. */
START_TEST(test_flush_keeps_a_dirty_slave_banned)
{
  mcrepl_t *m = make("--queue-bytes=16K");
  char stale[64];

  snprintf(stale, sizeof stale, "mcrepl:stale:%s", g_bn);
  make_dirty(m, stale);
  mc_resume(g_b);
  ck_rc(mcrepl_flush(m, 0), MCREPL_SLAVE_DIRTY);
  EVENTUALLY(has_key(g_a->port, stale), 3000);
  ck_assert_int_eq(check(g_bn, g_an), MCREPL_HEALTH_STALE);
  mcrepl_destroy(m);
}
END_TEST

START_TEST(test_restarted_slave_dirty_until_resynced)
{
  mcrepl_t *m = make(NULL);
  char err[256];

  deployed_pair();
  ck_rc(mcrepl_set(m, S("before"), S("1"), 0, 0), MCREPL_SUCCESS);
  ck_rc(mcrepl_wait_replicated(m, 5000), MCREPL_SUCCESS);
  ck_assert_int_eq(mc_restart(g_b), 0);
  ck_rc(mcrepl_set(m, S("after"), S("2"), 0, 0), MCREPL_SUCCESS);
  ck_rc(mcrepl_wait_replicated(m, 5000), MCREPL_SLAVE_DIRTY);
  ck_assert_uint_ge(stats(m).slave_restarts, 1);
  EVENTUALLY(check(g_bn, g_an) == MCREPL_HEALTH_STALE, 3000);
  ck_rc(mcrepl_resync(g_an, g_bn, NULL, NULL, NULL, err, sizeof err),
        MCREPL_SUCCESS);
  ck_assert(has_key(g_b->port, "before"));
  EVENTUALLY(!stats(m).dirty, 3000);
  mcrepl_destroy(m);
}
END_TEST

/* A vip on loopback: a switchable proxy ----------------------------------- */

typedef struct {
  int lfd, port;
  _Atomic int backend; /* port, or 0: refuse */
  _Atomic int gen;     /* bumped on a switch: live links close */
  _Atomic int stop;
  /* Set: it plays a memcached before 1.6.9, which knows no "metadump
   * hash": the mode is garbled on its way, and the real server answers
   * BADCLASS. Counted both ways. */
  _Atomic int old_crawler, garbled, badclass;
  /* Set: each answer of the server is held this long (a slow node). */
  _Atomic int lag_ms;
  /* Set: meta gets never reach the server (a node half alive: it still
   * answers stats). */
  _Atomic int mute_mg;
  pthread_t thread;
} proxy_t;

static proxy_t g_vip;

static int dial(int port)
{
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  int fd = socket(AF_INET, SOCK_STREAM, 0);

  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
    return fd;
  if (fd >= 0)
    close(fd);
  return -1;
}

typedef struct {
  int c, s, gen;
} link_t;

static void old_crawler(char *buf, size_t n, int to_server)
{
  static const char hash[] = "lru_crawler metadump hash";
  char *hit;

  if (to_server && (hit = memmem(buf, n, hash, sizeof hash - 1))) {
    memcpy(hit + sizeof hash - 5, "h0sh", 4);
    atomic_fetch_add(&g_vip.garbled, 1);
  }
  if (!to_server && memmem(buf, n, "BADCLASS", 8))
    atomic_fetch_add(&g_vip.badclass, 1);
}

static void *pump(void *arg)
{
  link_t *l = arg;
  struct pollfd p[2] = {{l->c, POLLIN, 0}, {l->s, POLLIN, 0}};
  char buf[65536];

  while (!atomic_load(&g_vip.stop) && atomic_load(&g_vip.gen) == l->gen) {
    if (poll(p, 2, 50) <= 0)
      continue;
    for (int i = 0; i < 2; i++)
      if (p[i].revents) {
        ssize_t n = read(p[i].fd, buf, sizeof buf);
        if (n > 0 && atomic_load(&g_vip.old_crawler))
          old_crawler(buf, (size_t)n, i == 0);
        if (n > 0 && i == 1 && atomic_load(&g_vip.lag_ms))
          mc_sleep_ms(atomic_load(&g_vip.lag_ms));
        if (n > 2 && i == 0 && atomic_load(&g_vip.mute_mg) &&
            memcmp(buf, "mg ", 3) == 0)
          continue;
        if (n <= 0 || write(p[1 - i].fd, buf, (size_t)n) != n)
          goto out;
      }
  }
out:
  close(l->c);
  close(l->s);
  free(l);
  return NULL;
}

static void *proxy_main(void *arg)
{
  (void)arg;
  while (!atomic_load(&g_vip.stop)) {
    struct pollfd p = {g_vip.lfd, POLLIN, 0};
    int c, s;
    if (poll(&p, 1, 50) <= 0 || (c = accept(g_vip.lfd, NULL, NULL)) < 0)
      continue;
    s = atomic_load(&g_vip.backend) ? dial(atomic_load(&g_vip.backend)) : -1;
    if (s < 0) {
      close(c);
      continue;
    }
    link_t *l = malloc(sizeof *l);
    pthread_t t;
    *l = (link_t){c, s, atomic_load(&g_vip.gen)};
    pthread_create(&t, NULL, pump, l);
    pthread_detach(t);
  }
  return NULL;
}

static void vip_to(int port)
{
  atomic_store(&g_vip.backend, port);
  atomic_fetch_add(&g_vip.gen, 1);
}

static void open_vip(void)
{
  struct sockaddr_in a = {.sin_family = AF_INET};
  socklen_t len = sizeof a;
  int one = 1;

  g_vip.lfd = socket(AF_INET, SOCK_STREAM, 0);
  setsockopt(g_vip.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_int_eq(bind(g_vip.lfd, (struct sockaddr *)&a, sizeof a), 0);
  ck_assert_int_eq(listen(g_vip.lfd, 64), 0);
  getsockname(g_vip.lfd, (struct sockaddr *)&a, &len);
  g_vip.port = ntohs(a.sin_port);
  atomic_store(&g_vip.stop, 0);
  atomic_store(&g_vip.old_crawler, 0);
  atomic_store(&g_vip.garbled, 0);
  atomic_store(&g_vip.badclass, 0);
  atomic_store(&g_vip.lag_ms, 0);
  atomic_store(&g_vip.mute_mg, 0);
  vip_to(g_a->port);
  pthread_create(&g_vip.thread, NULL, proxy_main, NULL);
}

static void start_vip(void)
{
  start_nodes();
  open_vip();
}

static void start_twins_vip(void)
{
  start_twins();
  open_vip();
}

static void stop_vip(void)
{
  atomic_store(&g_vip.stop, 1);
  pthread_join(g_vip.thread, NULL);
  close(g_vip.lfd);
  mc_sleep_ms(100); /* pumps see stop within a poll */
  stop_nodes();
}

/* keepalived kills a check that overruns its timeout and counts that as
 * a failure: a node whose every answer is slow, but never as slow as
 * --timeout, must not make the check add up several of them. */
START_TEST(test_check_ends_within_its_timeout)
{
  char node[64], why[256];
  long long t0;
  mcrepl_health_t h;

  snprintf(node, sizeof node, "127.0.0.1:%d", g_vip.port);
  ck_assert_int_eq(check(node, g_bn), MCREPL_HEALTH_READY);
  atomic_store(&g_vip.lag_ms, 600);
  t0 = mc_now_ms();
  h = mcrepl_check(node, g_bn, "--timeout=1000", why, sizeof why);
  ck_assert_msg(mc_now_ms() - t0 < 1400, "check took %lld ms (%d: %s)",
                mc_now_ms() - t0, (int)h, why);
  ck_assert_int_eq(h, MCREPL_HEALTH_DOWN);
}
END_TEST

/* A peer that answers stats but no read is as good as down: the node,
 * new and unmarked, is ready by itself rather than taken down with it.
 * And a node half alive is reported as not answering, not as being
 * resynced. */
START_TEST(test_check_a_half_alive_peer_is_down)
{
  char peer[64], why[256];
  mcrepl_health_t h;

  snprintf(peer, sizeof peer, "127.0.0.1:%d", g_vip.port);
  vip_to(g_b->port);
  atomic_store(&g_vip.mute_mg, 1);
  h = mcrepl_check(g_an, peer, "--timeout=1000", why, sizeof why);
  ck_assert_msg(h == MCREPL_HEALTH_READY, "%d: %s", (int)h, why);
  ck_assert_msg(strstr(why, "peer is down") != NULL, "%s", why);
  h = mcrepl_check(peer, g_an, "--timeout=1000", why, sizeof why);
  ck_assert_msg(h == MCREPL_HEALTH_DOWN, "%d: %s", (int)h, why);
  ck_assert_msg(strstr(why, "does not answer") != NULL, "%s", why);
}
END_TEST

/* A peer that answers everything, slowly (250 ms each: its stats and
 * two reads come to 750 ms of a 1000 ms check), while it holds the pair's
 * data and the node is empty: the node is found empty, and is not marked
 * ready. A peer that answered its stats is alive: its slowness must not
 * pass for its death. */
START_TEST(test_check_slow_peer_keeps_its_data)
{
  char peer[64], why[256];
  mcrepl_health_t h;

  snprintf(peer, sizeof peer, "127.0.0.1:%d", g_vip.port);
  ck_assert_int_eq(mc_raw_set(g_b->port, "mcrepl:ready", "x", 0, 0), 0);
  vip_to(g_b->port);
  atomic_store(&g_vip.lag_ms, 250);
  h = mcrepl_check(g_an, peer, "--timeout=1000", why, sizeof why);
  ck_assert_msg(h == MCREPL_HEALTH_EMPTY, "%d: %s", (int)h, why);
  ck_assert(!has_key(g_a->port, "mcrepl:ready"));
}
END_TEST

static _Atomic int g_moves;
static _Atomic mcrepl_return_t g_reentry_wait, g_reentry_set;

/* ctx: the handle, to try the calls that would wait for this very
 * thread (they are refused, see mcrepl_set_vip_callback(3)). */
static void on_move(void *ctx, size_t pair, const char *master,
                    const char *slave)
{
  (void)pair;
  ck_assert_str_eq(master, g_bn);
  ck_assert_str_eq(slave, g_an);
  if (ctx) {
    atomic_store(&g_reentry_wait, mcrepl_wait_replicated(ctx, -1));
    atomic_store(&g_reentry_set, mcrepl_set_vip_callback(ctx, NULL, NULL));
  }
  atomic_fetch_add(&g_moves, 1);
}

static mcrepl_t *make_vip_with(const char *extra)
{
  char conf[256], err[256];
  mcrepl_t *m;

  snprintf(conf, sizeof conf,
           "--pair=%s,%s,vip=127.0.0.1:%d --identity-interval=100 "
           "--retry-timeout=200 --timeout=500 %s", g_an, g_bn, g_vip.port,
           extra);
  m = mcrepl_create(conf, err, sizeof err);
  ck_assert_msg(m != NULL, "%s", err);
  return m;
}

static mcrepl_t *make_vip(void)
{
  return make_vip_with("");
}

/* Dirt from before a failover is cleaned by a resync from the new master
 * into the new slave: the client samples it again against the new
 * master's epoch, or it would stay dirty (and its slave banned) for
 * good. */
START_TEST(test_dirt_from_before_a_failover_can_be_cleaned)
{
  mcrepl_t *m = make_vip_with("--queue-bytes=16K");
  char stale[64], err[256];

  snprintf(stale, sizeof stale, "mcrepl:stale:%s", g_bn);
  make_dirty(m, stale);
  mc_resume(g_b);
  vip_to(g_b->port);
  EVENTUALLY(stats(m).vip_changes == 1, 3000);
  ck_assert(stats(m).dirty);
  mc_sleep_ms(300); /* a few ticks: the dirt is sampled on B */
  ck_rc(mcrepl_resync(g_bn, g_an, NULL, NULL, NULL, err, sizeof err),
        MCREPL_SUCCESS);
  EVENTUALLY(!stats(m).dirty, 3000); /* without writing anything */
  mcrepl_destroy(m);
}
END_TEST

START_TEST(test_replication_follows_the_vip)
{
  mcrepl_t *m = make_vip();
  mcrepl_pair_stats_t st;

  mcrepl_set_vip_callback(m, on_move, m);
  ck_rc(mcrepl_set(m, S("one"), S("1"), 0, 0), MCREPL_SUCCESS);
  ck_rc(mcrepl_wait_replicated(m, 5000), MCREPL_SUCCESS);
  ck_assert(has_key(g_a->port, "one") && has_key(g_b->port, "one"));
  /* keepalived moves the vip to B */
  vip_to(g_b->port);
  EVENTUALLY(stats(m).vip_changes == 1, 3000);
  st = stats(m);
  ck_assert_str_eq(st.current_master, g_bn);
  ck_assert_str_eq(st.current_slave, g_an);
  ck_assert_int_eq(atomic_load(&g_moves), 1);
  ck_rc(atomic_load(&g_reentry_wait), MCREPL_RECURSIVE_API_CALL);
  ck_rc(atomic_load(&g_reentry_set), MCREPL_RECURSIVE_API_CALL);
  /* writes land on B through the vip, and are replicated to A */
  mc_raw_cmd(g_a->port, "flush_all", (char[64]){0}, 64);
  EVENTUALLY(mcrepl_set(m, S("two"), S("2"), 0, 0) == MCREPL_SUCCESS, 3000);
  ck_rc(mcrepl_wait_replicated(m, 5000), MCREPL_SUCCESS);
  ck_assert(has_key(g_b->port, "two"));
  ck_assert(has_key(g_a->port, "two"));
  mcrepl_destroy(m);
}
END_TEST

/* The master dies, keepalived moves the vip, and the old master comes
 * back as a new process, empty: it is the slave now, and it lost the
 * writes it had, as any slave that restarts. Whether it returns before
 * the sender asks the nodes who they are, or after. */
static void old_master_returns(int before)
{
  mcrepl_t *m = make_vip();

  ck_rc(mcrepl_set(m, S("one"), S("1"), 0, 0), MCREPL_SUCCESS);
  ck_rc(mcrepl_wait_replicated(m, 5000), MCREPL_SUCCESS);
  mc_kill(g_a);
  if (before)
    ck_assert_int_eq(mc_restart(g_a), 0);
  vip_to(g_b->port);
  EVENTUALLY(stats(m).vip_changes == 1, 3000);
  if (!before)
    ck_assert_int_eq(mc_restart(g_a), 0);
  /* A write brings the sender to the slave. */
  ck_rc(mcrepl_set(m, S("two"), S("2"), 0, 0), MCREPL_SUCCESS);
  EVENTUALLY(stats(m).slave_restarts == 1, 5000);
  ck_assert(stats(m).dirty);
  ck_rc(mcrepl_wait_replicated(m, 5000), MCREPL_SLAVE_DIRTY);
  mcrepl_destroy(m);
}

START_TEST(test_old_master_back_after_the_move)
{
  old_master_returns(0);
}
END_TEST

START_TEST(test_old_master_back_before_the_move)
{
  old_master_returns(1);
}
END_TEST

START_TEST(test_reads_fail_over_before_the_vip_moves)
{
  mcrepl_t *m = make_vip();
  long long t0, worst = 0;
  int misses = 0;

  for (int i = 0; i < 200; i++) {
    char key[32];
    snprintf(key, sizeof key, "k%d", i);
    ck_rc(mcrepl_set(m, S(key), S("v"), 0, 0), MCREPL_SUCCESS);
  }
  ck_rc(mcrepl_wait_replicated(m, 5000), MCREPL_SUCCESS);
  /* The master dies; the vip stays (VRRP has not noticed yet). */
  mc_kill(g_a);
  for (int i = 0; i < 200; i++) {
    char key[32];
    mcrepl_return_t rc;
    char *v;
    snprintf(key, sizeof key, "k%d", i);
    t0 = mc_now_ms();
    v = mcrepl_get(m, S(key), NULL, NULL, &rc);
    if (mc_now_ms() - t0 > worst)
      worst = mc_now_ms() - t0;
    misses += v == NULL;
    free(v);
  }
  ck_assert_int_eq(misses, 0);
  ck_assert_msg(worst < 100, "a read took %lld ms", worst);
  ck_assert_uint_ge(stats(m).read_failovers, 1);
  /* Writes are not failed over: that is the vip's job. */
  ck_assert_int_ne(mcrepl_set(m, S("w"), S("v"), 0, 0), MCREPL_SUCCESS);
  /* keepalived moves the vip: reads and writes go on through it. */
  vip_to(g_b->port);
  EVENTUALLY(stats(m).vip_changes == 1, 3000);
  for (int i = 0; i < 200; i++) {
    char key[32];
    mcrepl_return_t rc;
    char *v;
    snprintf(key, sizeof key, "k%d", i);
    v = mcrepl_get(m, S(key), NULL, NULL, &rc);
    ck_assert_msg(v != NULL, "%s after the move: %s", key,
                  mcrepl_strcode(rc));
    free(v);
  }
  ck_rc(mcrepl_set(m, S("w"), S("v"), 0, 0), MCREPL_SUCCESS);
  mcrepl_destroy(m);
}
END_TEST

/* Two nodes alike in their stats are still two: the resync copies from
 * one to the other, and refuses a node as its own target. */
START_TEST(test_twins_resync)
{
  char err[256];

  fill_raw(g_a->port, "k", 100, 0);
  ck_rc(mcrepl_resync(g_an, g_bn, NULL, NULL, NULL, err, sizeof err),
        MCREPL_SUCCESS);
  ck_assert(has_key(g_b->port, "k99"));
  ck_rc(mcrepl_resync(g_an, g_an, NULL, NULL, NULL, err, sizeof err),
        MCREPL_INVALID_ARGUMENTS);
  ck_assert_msg(strstr(err, "same server") != NULL, "%s", err);
}
END_TEST

/* Memcached before 1.6.9 lists only by LRU ("metadump all"). */
START_TEST(test_resync_falls_back_to_the_lru_walk)
{
  char from[32], err[256];
  const char *keys[300];
  char names[300][16];
  unsigned char present[300];

  atomic_store(&g_vip.old_crawler, 1);
  for (int i = 0; i < 300; i++) {
    snprintf(names[i], sizeof names[i], "k%d", i);
    keys[i] = names[i];
    ck_assert_int_eq(mc_raw_set(g_a->port, names[i], "v", 0, 0), 0);
  }
  snprintf(from, sizeof from, "127.0.0.1:%d", g_vip.port);
  ck_rc(mcrepl_resync(from, g_bn, "--resync-rate=0", NULL, NULL, err,
                      sizeof err), MCREPL_SUCCESS);
  ck_assert_int_ge(atomic_load(&g_vip.garbled), 1);
  ck_assert_int_ge(atomic_load(&g_vip.badclass), 1);
  ck_assert_int_eq(mc_raw_has_keys(g_b->port, keys, 300, present), 300);
  ck_assert(has_key(g_b->port, "mcrepl:ready"));
}
END_TEST

static Suite *suite(void)
{
  Suite *s = suite_create("failover");
  TCase *r = tcase_create("resync"), *h = tcase_create("health");
  TCase *d = tcase_create("dirt"), *v = tcase_create("vip");
  TCase *t = tcase_create("twins");

  tcase_add_checked_fixture(r, start_nodes, stop_nodes);
  tcase_add_checked_fixture(h, start_nodes, stop_nodes);
  tcase_add_checked_fixture(d, start_nodes, stop_nodes);
  tcase_add_checked_fixture(v, start_vip, stop_vip);
  tcase_set_timeout(r, TC_TIMEOUT);
  tcase_set_timeout(h, TC_TIMEOUT);
  tcase_set_timeout(d, TC_TIMEOUT);
  tcase_set_timeout(v, TC_TIMEOUT);
  tcase_add_test(r, test_resync_copies_items_with_flags_and_ttl);
  tcase_add_test(r, test_resync_never_overwrites_a_newer_write);
  tcase_add_test(r, test_resync_lock_admits_one);
  tcase_add_test(r, test_resync_keeps_its_lock_while_it_waits);
  tcase_add_test(r, test_resync_empties_a_stale_target_first);
  tcase_add_test(r, test_resync_leaves_a_stale_marker_written_since);
  tcase_add_test(r, test_resync_refused_items_leave_the_target_unready);
  tcase_add_test(r, test_resync_takes_back_a_copy_deleted_meanwhile);
  tcase_add_test(r, test_resync_interrupted_then_rerun);
  tcase_add_test(r, test_resync_stopped_before_it_begins_touches_nothing);
  tcase_add_test(r, test_resync_lists_every_item_of_a_live_source);
  tcase_add_test(r, test_resync_bad_arguments);
  tcase_add_test(r, test_resync_flush_into_a_target_without_cas);
  tcase_add_test(r, test_resync_that_lost_its_lock_stops);
  tcase_add_test(r, test_resync_if_needed_with_the_source_down);
  tcase_add_test(r, test_resync_failing_after_the_lock_releases_it);
  tcase_add_test(r, test_resync_counts_keys_it_cannot_name);
  tcase_add_test(r, test_resync_stops_within_a_long_listing);
  tcase_add_test(h, test_check_states);
  tcase_add_test(h, test_check_refuses_bad_peers);
  tcase_add_test(h, test_check_alone_when_peer_down);
  tcase_add_test(h, test_check_the_later_ban_wins);
  tcase_add_test(h, test_check_alone_when_peer_frozen);
  tcase_add_test(d, test_dirty_pair_marks_master_then_resync_cleans);
  tcase_add_test(d, test_restarted_slave_dirty_until_resynced);
  tcase_add_test(d, test_stale_marker_outlives_a_flush_of_the_master);
  tcase_add_test(d, test_flush_leaves_both_nodes_ready);
  tcase_add_test(d, test_flush_keeps_a_dirty_slave_banned);
  tcase_add_test(d, test_shutdown_leaves_the_marker_of_a_dirty_client);
  tcase_add_test(v, test_replication_follows_the_vip);
  tcase_add_test(v, test_reads_fail_over_before_the_vip_moves);
  tcase_add_test(v, test_old_master_back_after_the_move);
  tcase_add_test(v, test_old_master_back_before_the_move);
  tcase_add_test(v, test_resync_falls_back_to_the_lru_walk);
  tcase_add_test(v, test_check_ends_within_its_timeout);
  tcase_add_test(v, test_check_a_half_alive_peer_is_down);
  tcase_add_test(v, test_check_slow_peer_keeps_its_data);
  tcase_add_test(v, test_dirt_from_before_a_failover_can_be_cleaned);
  tcase_add_checked_fixture(t, start_twins_vip, stop_vip);
  tcase_set_timeout(t, TC_TIMEOUT);
  tcase_add_test(t, test_replication_follows_the_vip);
  tcase_add_test(t, test_twins_resync);
  suite_add_tcase(s, r);
  suite_add_tcase(s, h);
  suite_add_tcase(s, d);
  suite_add_tcase(s, v);
  suite_add_tcase(s, t);
  return s;
}

int main(void)
{
  return run_suite(suite());
}
