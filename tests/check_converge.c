/* Convergence: writer processes, each with its own handle (as PHP-FPM
 * workers or job runners have), write one pair's keys with every write
 * command at once; once every writer's queue has drained, the slave must
 * hold exactly the master's state for every key (value, flags, TTL within
 * a second or two, or absence), or the pair must be reported dirty.
 *
 * Each case runs for MCREPL_CONVERGE_MS (default a second or two: CI);
 * scripts/converge.sh runs the same cases for longer. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mcrepl/mcrepl.h>

#include "servers.h"
#include "testutil.h"

#define TTL_SLACK_S 2
#define WAIT_MS 30000
/* A writer's exit codes. */
#define W_CLEAN 0
#define W_DIRTY 3
#define W_FAILED 4

typedef struct {
  int writers;
  size_t keys;
  size_t vsize;
  int flush; /* one writer flushes the pair half-way */
} plan_t;

static long run_ms(void)
{
  const char *s = getenv("MCREPL_CONVERGE_MS");
  long ms = s ? atol(s) : 0;

  return ms > 0 ? ms : 1500;
}

static void key_name(char *buf, size_t len, size_t i)
{
  snprintf(buf, len, "cv:%zu", i);
}

/* Every fifth key is a counter: incr and decr need a number. */
static int is_counter(size_t k)
{
  return k % 5 == 0;
}

static time_t some_ttl(unsigned *seed)
{
  return rand_r(seed) % 3 == 0 ? 0 : 300 + rand_r(seed) % 3000;
}

static void fill(char *val, size_t len, unsigned *seed)
{
  size_t i;

  for (i = 0; i < len; i++)
    val[i] = (char)('a' + rand_r(seed) % 26);
}

static void counter_op(mcrepl_t *m, const char *key, unsigned *seed)
{
  size_t kl = strlen(key);
  char num[24];
  uint64_t v, cas;
  uint32_t fl;
  size_t len;
  char *cur;

  switch (rand_r(seed) % 8) {
  case 0:
    snprintf(num, sizeof num, "%d", rand_r(seed) % 1000);
    mcrepl_set(m, key, kl, num, strlen(num), some_ttl(seed), 1);
    break;
  case 1:
  case 2:
    mcrepl_incr(m, key, kl, 1 + rand_r(seed) % 5, &v);
    break;
  case 3:
    mcrepl_decr(m, key, kl, 1, &v);
    break;
  case 4:
    mcrepl_touch(m, key, kl, some_ttl(seed));
    break;
  case 5:
    mcrepl_delete(m, key, kl);
    break;
  case 6:
    snprintf(num, sizeof num, "%d", rand_r(seed) % 100);
    mcrepl_add(m, key, kl, num, strlen(num), some_ttl(seed), 2);
    break;
  default:
    cur = mcrepl_gets(m, key, kl, &len, &fl, &cas, NULL);
    if (cur) {
      snprintf(num, sizeof num, "%d", atoi(cur) + 7);
      mcrepl_cas(m, key, kl, num, strlen(num), some_ttl(seed), fl, cas);
      free(cur);
    }
  }
}

static void value_op(mcrepl_t *m, const char *key, char *val, size_t vsize,
                     unsigned *seed)
{
  size_t kl = strlen(key), len;
  uint32_t fl = (uint32_t)rand_r(seed) % 1000;
  uint64_t cas;
  char *cur;

  fill(val, 8, seed);
  switch (rand_r(seed) % 9) {
  case 0:
  case 1:
    mcrepl_set(m, key, kl, val, vsize, some_ttl(seed), fl);
    break;
  case 2:
    mcrepl_add(m, key, kl, val, vsize, some_ttl(seed), fl);
    break;
  case 3:
    mcrepl_replace(m, key, kl, val, vsize, some_ttl(seed), fl);
    break;
  case 4:
    mcrepl_append(m, key, kl, val, 3, 0, 0);
    break;
  case 5:
    mcrepl_prepend(m, key, kl, val, 3, 0, 0);
    break;
  case 6:
    mcrepl_touch(m, key, kl, some_ttl(seed));
    break;
  case 7:
    mcrepl_delete(m, key, kl);
    break;
  default:
    cur = mcrepl_gets(m, key, kl, &len, &fl, &cas, NULL);
    if (cur) {
      mcrepl_cas(m, key, kl, val, vsize, some_ttl(seed), fl + 1, cas);
      free(cur);
    }
  }
}

static int writer(const char *conf, const plan_t *pl, int id, long ms)
{
  char err[256], key[32];
  mcrepl_t *m = mcrepl_create(conf, err, sizeof err);
  char *val = malloc(pl->vsize);
  unsigned seed = (unsigned)getpid() * 2654435761u;
  long long start = mc_now_ms(), end = start + ms;
  int flushed = !pl->flush || id != 0;
  mcrepl_return_t rc;

  if (!m || !val)
    return W_FAILED;
  fill(val, pl->vsize, &seed);
  while (mc_now_ms() < end) {
    size_t k = (size_t)rand_r(&seed) % pl->keys;
    key_name(key, sizeof key, k);
    if (is_counter(k))
      counter_op(m, key, &seed);
    else
      value_op(m, key, val, pl->vsize, &seed);
    if (!flushed && mc_now_ms() >= start + ms / 2) {
      mcrepl_flush(m, 0);
      flushed = 1;
    }
  }
  rc = mcrepl_wait_replicated(m, WAIT_MS);
  mcrepl_destroy(m);
  free(val);
  return rc == MCREPL_SUCCESS ? W_CLEAN
         : rc == MCREPL_SLAVE_DIRTY ? W_DIRTY : W_FAILED;
}

static void converge(const plan_t *pl)
{
  mc_server_t *master = mc_start("-m 512"), *slave = mc_start("-m 512");
  char conf[256], first[256] = "";
  const char **keys = calloc(pl->keys, sizeof *keys);
  pid_t *pids = calloc((size_t)pl->writers, sizeof *pids);
  int clean = 0, dirty = 0, failed = 0, i;
  long diff;

  ck_assert_msg(master && slave, "memcached did not start");
  ck_assert_ptr_nonnull(keys);
  ck_assert_ptr_nonnull(pids);
  snprintf(conf, sizeof conf, "--pair=127.0.0.1:%d,127.0.0.1:%d",
           master->port, slave->port);
  for (i = 0; i < pl->writers; i++) {
    pids[i] = fork();
    ck_assert_int_ge(pids[i], 0);
    if (pids[i] == 0)
      _exit(writer(conf, pl, i, run_ms()));
  }
  for (i = 0; i < pl->writers; i++) {
    int st;
    ck_assert_int_eq(waitpid(pids[i], &st, 0), pids[i]);
    if (WIFEXITED(st) && WEXITSTATUS(st) == W_CLEAN)
      clean++;
    else if (WIFEXITED(st) && WEXITSTATUS(st) == W_DIRTY)
      dirty++;
    else
      failed++;
  }
  for (size_t k = 0; k < pl->keys; k++) {
    char name[32];
    key_name(name, sizeof name, k);
    keys[k] = strdup(name);
  }
  diff = mc_raw_diff(master->port, slave->port, keys, pl->keys, TTL_SLACK_S,
                     first, sizeof first);
  printf("converge: %d writers, %zu keys, %zu B, %ld ms: %ld keys differ "
         "(%s); writers clean %d, dirty %d, failed %d\n",
         pl->writers, pl->keys, pl->vsize, run_ms(), diff,
         diff > 0 ? first : "none", clean, dirty, failed);
  ck_assert_int_eq(failed, 0);
  ck_assert_msg(diff >= 0, "could not compare the nodes");
  /* Different and clean is the one outcome never allowed. */
  ck_assert_msg(diff == 0 || dirty > 0,
                "%ld keys differ and every writer says clean: %s", diff,
                first);
  /* Nothing here loses writes: the pair must also stay clean. */
  ck_assert_int_eq(dirty, 0);
  ck_assert_int_eq(diff, 0);
  for (size_t k = 0; k < pl->keys; k++)
    free((char *)keys[k]);
  free(keys);
  free(pids);
  mc_stop(master);
  mc_stop(slave);
}

START_TEST(two_writers_thousand_keys)
{
  plan_t pl = {2, 1000, 100, 0};
  converge(&pl);
}
END_TEST

START_TEST(eight_writers_fifty_keys)
{
  plan_t pl = {8, 50, 100, 0};
  converge(&pl);
}
END_TEST

START_TEST(thirty_two_writers_thousand_keys)
{
  plan_t pl = {32, 1000, 100, 0};
  converge(&pl);
}
END_TEST

START_TEST(eight_writers_hundred_thousand_keys)
{
  plan_t pl = {8, 100000, 100, 0};
  converge(&pl);
}
END_TEST

START_TEST(eight_writers_big_values)
{
  plan_t pl = {8, 1000, 65536, 0};
  converge(&pl);
}
END_TEST

START_TEST(two_writers_big_values_fifty_keys)
{
  plan_t pl = {2, 50, 65536, 0};
  converge(&pl);
}
END_TEST

START_TEST(thirty_two_writers_fifty_keys_and_a_flush)
{
  plan_t pl = {32, 50, 100, 1};
  converge(&pl);
}
END_TEST

static Suite *suite(void)
{
  Suite *s = suite_create("converge");
  TCase *tc = tcase_create("writers");

  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, two_writers_thousand_keys);
  tcase_add_test(tc, eight_writers_fifty_keys);
  tcase_add_test(tc, thirty_two_writers_thousand_keys);
  tcase_add_test(tc, eight_writers_hundred_thousand_keys);
  tcase_add_test(tc, eight_writers_big_values);
  tcase_add_test(tc, two_writers_big_values_fifty_keys);
  tcase_add_test(tc, thirty_two_writers_fifty_keys_and_a_flush);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  /* A writer killed by a failed assertion must not leave the rest. */
  signal(SIGPIPE, SIG_IGN);
  return run_suite(suite());
}
