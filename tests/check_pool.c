/* Unit tests of the handle pool's count of handles lent out, which the
 * sender reads to know whether a lone caller is inside a call. No server
 * is needed: handles connect only when used. */
#include <check.h>

#include "testutil.h"

#include "config.h"
#include "pool.h"

static void pool_for_test(mcrepl__pool_t *p, mcrepl__config_t *c)
{
  char err[256];

  ck_assert_int_eq(mcrepl__config_parse("--pair=127.0.0.1:1,127.0.0.1:2",
                                        c, err, sizeof err),
                   0);
  ck_assert_int_eq(mcrepl__pool_init(p, &c->pairs[0].master, c), 0);
}

START_TEST(lent_counts_handles_out)
{
  mcrepl__config_t c;
  mcrepl__pool_t p;
  memcached_st *a, *b;

  pool_for_test(&p, &c);
  ck_assert_uint_eq(mcrepl__pool_lent(&p), 0);
  a = mcrepl__pool_get(&p);
  b = mcrepl__pool_get(&p);
  ck_assert_ptr_nonnull(a);
  ck_assert_ptr_nonnull(b);
  ck_assert_uint_eq(mcrepl__pool_lent(&p), 2);
  mcrepl__pool_put(&p, a);
  ck_assert_uint_eq(mcrepl__pool_lent(&p), 1);
  a = mcrepl__pool_get(&p); /* the idle one again */
  ck_assert_uint_eq(mcrepl__pool_lent(&p), 2);
  mcrepl__pool_put(&p, a);
  mcrepl__pool_put(&p, b);
  ck_assert_uint_eq(mcrepl__pool_lent(&p), 0);
  mcrepl__pool_destroy(&p);
  mcrepl__config_free(&c);
}
END_TEST

/* A handle given back after a renew is freed, not kept: it was lent all
 * the same. */
START_TEST(lent_counts_down_for_a_handle_freed_on_return)
{
  mcrepl__config_t c;
  mcrepl__pool_t p;
  memcached_st *a;

  pool_for_test(&p, &c);
  a = mcrepl__pool_get(&p);
  mcrepl__pool_renew(&p);
  ck_assert_uint_eq(mcrepl__pool_lent(&p), 1);
  mcrepl__pool_put(&p, a);
  ck_assert_uint_eq(mcrepl__pool_lent(&p), 0);
  mcrepl__pool_destroy(&p);
  mcrepl__config_free(&c);
}
END_TEST

static Suite *suite(void)
{
  Suite *s = suite_create("pool");
  TCase *tc = tcase_create("pool");

  tcase_add_test(tc, lent_counts_handles_out);
  tcase_add_test(tc, lent_counts_down_for_a_handle_freed_on_return);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  return run_suite(suite());
}
