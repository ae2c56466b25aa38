/* What every Check program here shares. */
#ifndef MCREPL_TESTS_TESTUTIL_H
#define MCREPL_TESTS_TESTUTIL_H

#include <check.h>
#include <stdlib.h>
#include <string.h>

/* The number of elements of an array (not a pointer). */
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* A key or value literal as (pointer, length). */
#define S(k) (k), strlen(k)

/* An mcrepl call's return code, named in the failure message. */
#define ck_rc(expr, want)                                                   \
  do {                                                                      \
    mcrepl_return_t rc_ = (expr);                                           \
    ck_assert_msg(rc_ == (want), "%s: got %s, want %s", #expr,              \
                  mcrepl_strcode(rc_), mcrepl_strcode(want));               \
  } while (0)

/* Runs the suite; the exit status for main(). */
static inline int run_suite(Suite *s)
{
  SRunner *sr = srunner_create(s);
  int failed;

  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
