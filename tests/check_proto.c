/* Unit tests of the meta commands the sender formats by hand: each must
 * be, byte for byte, what the printf format it replaced produced, for
 * every number the sender can hand it; of the expiry times it puts in
 * them; and of the decoder of the keys resync lists. No server runs. */
#include <check.h>

#include "testutil.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

static const char *const keys[] = {"k", "user:1234:profile",
                                   "0123456789012345678901234567890123456789"
                                   "0123456789012345678901234567890123456789"
                                   "0123456789012345678901234567890123456789"
                                   "0123456789012345678901234567890123456789"
                                   "0123456789012345678901234567890123456789"
                                   "0123456789012345678901234567890123456789"
                                   "0123456789"};
static const uint64_t vlens[] = {0, 1, 9, 10, 100, 1048576, UINT32_MAX,
                                 UINT64_MAX};
static const uint32_t flags[] = {0, 1, 42, 65535, UINT32_MAX};
static const int64_t ttls[] = {0,  1,          -1,        9,
                               10, 2592000,    1700000000, INT64_MAX,
                               -9, INT64_MIN + 1, INT64_MIN};

/* The buffer holds exactly want, NUL-terminated after its length. */
static void expect(const mcrepl__buf_t *b, const char *want)
{
  ck_assert_uint_eq(b->len, strlen(want));
  ck_assert_mem_eq(b->p, want, b->len);
  ck_assert_int_eq(b->p[b->len], '\0');
}

START_TEST(ms_head_is_the_printf_text)
{
  size_t k, v, f, t;
  char want[512];

  for (k = 0; k < ARRAY_LEN(keys); k++)
    for (v = 0; v < ARRAY_LEN(vlens); v++)
      for (f = 0; f < ARRAY_LEN(flags); f++)
        for (t = 0; t < ARRAY_LEN(ttls); t++) {
          mcrepl__buf_t b = {0};
          snprintf(want, sizeof want, "ms %s %" PRIu64 " F%" PRIu32
                   " T%" PRId64 " q\r\n", keys[k], vlens[v], flags[f],
                   ttls[t]);
          ck_assert_int_eq(mcrepl__proto_ms_head(&b, S(keys[k]),
                                                 (size_t)vlens[v], flags[f],
                                                 ttls[t]), 0);
          expect(&b, want);
          mcrepl__buf_free(&b);
        }
}
END_TEST

START_TEST(md_and_mg_are_the_printf_text)
{
  size_t k;
  char want[512];

  for (k = 0; k < ARRAY_LEN(keys); k++) {
    mcrepl__buf_t b = {0};
    snprintf(want, sizeof want, "md %s q\r\n", keys[k]);
    ck_assert_int_eq(mcrepl__proto_md(&b, S(keys[k])), 0);
    expect(&b, want);
    b.len = 0;
    snprintf(want, sizeof want, "mg %s v f t\r\n", keys[k]);
    ck_assert_int_eq(mcrepl__proto_mg_state(&b, S(keys[k])), 0);
    expect(&b, want);
    b.len = 0;
    snprintf(want, sizeof want, "mg %s\r\n", keys[k]);
    ck_assert_int_eq(mcrepl__proto_mg_hit(&b, S(keys[k])), 0);
    expect(&b, want);
    b.len = 0;
    snprintf(want, sizeof want, "md %s C18446744073709551615\r\n", keys[k]);
    ck_assert_int_eq(mcrepl__proto_md_cas(&b, S(keys[k]), UINT64_MAX), 0);
    expect(&b, want);
    b.len = 0;
    snprintf(want, sizeof want, "md %s C0\r\n", keys[k]);
    ck_assert_int_eq(mcrepl__proto_md_cas(&b, S(keys[k]), 0), 0);
    expect(&b, want);
    mcrepl__buf_free(&b);
  }
}
END_TEST

/* A pipeline's commands follow each other across the buffer's growth. */
START_TEST(commands_append_across_growth)
{
  mcrepl__buf_t b = {0};
  char *want = malloc(1 << 20), *w = want;
  int i;

  ck_assert_ptr_nonnull(want);
  for (i = 0; i < 5000; i++) {
    char key[32];
    snprintf(key, sizeof key, "key-%d", i);
    if (i % 3 == 2) {
      ck_assert_int_eq(mcrepl__proto_md(&b, S(key)), 0);
      w += sprintf(w, "md %s q\r\n", key);
    } else {
      ck_assert_int_eq(mcrepl__proto_ms_head(&b, S(key), (size_t)i * 7,
                                             (uint32_t)i, i - 2500), 0);
      w += sprintf(w, "ms %s %d F%d T%d q\r\n", key, i * 7, i, i - 2500);
    }
  }
  ck_assert_uint_gt(b.cap, 4096);
  expect(&b, want);
  mcrepl__buf_free(&b);
  free(want);
}
END_TEST

/* An item's remaining time, moved to another node's clock. */
START_TEST(expiry_moves_to_the_node_clock)
{
  const int64_t now = 1700000000;

  ck_assert_int_eq(mcrepl__expiry_at(-1, now), 0);
  ck_assert_int_eq(mcrepl__expiry_at(0, now), now + 1);
  ck_assert_int_eq(mcrepl__expiry_at(1, now), now + 1);
  ck_assert_int_eq(mcrepl__expiry_at(2592001, now), now + 2592001);
}
END_TEST

/* memcached wraps a T beyond 32 signed bits into the past: an item the
 * master keeps until 2038 must not reach the slave already expired
 * because the slave's clock reads a second later. */
START_TEST(expiry_stops_at_2038)
{
  const int64_t now = 1700000000, left = INT32_MAX - now;

  ck_assert_int_eq(mcrepl__expiry_at(left - 1, now), INT32_MAX - 1);
  ck_assert_int_eq(mcrepl__expiry_at(left, now), INT32_MAX);
  ck_assert_int_eq(mcrepl__expiry_at(left, now + 1), INT32_MAX);
  ck_assert_int_eq(mcrepl__expiry_at(INT64_MAX, now), INT32_MAX);
  ck_assert_int_eq(mcrepl__expiry_at(0, INT32_MAX), INT32_MAX);
}
END_TEST

/* The answers that carry an item's state, with its CAS when asked. */
START_TEST(meta_answers_parse)
{
  mcrepl__meta_t m;

  ck_assert_int_eq(mcrepl__proto_parse_hd(S("HD c42"), &m), 0);
  ck_assert_uint_eq(m.cas, 42);
  ck_assert_uint_eq(m.vlen, 0);
  ck_assert_int_eq(mcrepl__proto_parse_hd(S("HD"), &m), 0);
  ck_assert_uint_eq(m.cas, 0);
  ck_assert_int_eq(mcrepl__proto_parse_hd(S("HD c18446744073709551615"), &m),
                   0);
  ck_assert_uint_eq(m.cas, UINT64_MAX);
  ck_assert_int_eq(mcrepl__proto_parse_hd(S("HD c18446744073709551616"), &m),
                   -1);
  ck_assert_int_eq(mcrepl__proto_parse_hd(S("HD c"), &m), -1);
  ck_assert_int_eq(mcrepl__proto_parse_hd(S("HD cx1"), &m), -1);
  ck_assert_int_eq(mcrepl__proto_parse_hd(S("NS c0"), &m), -1);
  ck_assert_int_eq(mcrepl__proto_parse_hd(S("HDX c1"), &m), -1);
  ck_assert_int_eq(mcrepl__proto_parse_hd(S("VA 2 c1"), &m), -1);
  ck_assert_int_eq(mcrepl__proto_parse_va(S("VA 2 f7 t-1 c9"), &m), 0);
  ck_assert_uint_eq(m.vlen, 2);
  ck_assert_uint_eq(m.flags, 7);
  ck_assert_int_eq(m.ttl, -1);
  ck_assert_uint_eq(m.cas, 9);
  ck_assert_int_eq(mcrepl__proto_parse_va(S("HD c1"), &m), -1);
}
END_TEST

/* Keys from the crawler's listing are pasted into mg and ms commands:
 * a line that would not give a valid key must give none. */
START_TEST(metadump_keys_decode)
{
  char out[251], line[300];
  size_t n;

  n = mcrepl__metadump_key(S("key=user:1 exp=-1 la=1 cas=2 fetch=no"), out);
  ck_assert_uint_eq(n, 6);
  ck_assert_mem_eq(out, "user:1", 6);
  n = mcrepl__metadump_key(S("key=only"), out);
  ck_assert_uint_eq(n, 4);
  ck_assert_mem_eq(out, "only", 4);
  /* URL-encoded, either case of hex digit. */
  n = mcrepl__metadump_key(S("key=a%2Fb%7ec%25 exp=0"), out);
  ck_assert_uint_eq(n, 6);
  ck_assert_mem_eq(out, "a/b~c%", 6);
  ck_assert_uint_eq(mcrepl__metadump_key(S("exp=-1 key=k"), out), 0);
  ck_assert_uint_eq(mcrepl__metadump_key(S("END"), out), 0);
  ck_assert_uint_eq(mcrepl__metadump_key(S("key="), out), 0);
  ck_assert_uint_eq(mcrepl__metadump_key(S("key= exp=0"), out), 0);
  ck_assert_uint_eq(mcrepl__metadump_key(S("key=a%zz exp=0"), out), 0);
  ck_assert_uint_eq(mcrepl__metadump_key(S("key=a%4"), out), 0);
  ck_assert_uint_eq(mcrepl__metadump_key(S("key=a%"), out), 0);
  /* Spaces and control characters, however encoded. */
  ck_assert_uint_eq(mcrepl__metadump_key(S("key=a%20b exp=0"), out), 0);
  ck_assert_uint_eq(mcrepl__metadump_key(S("key=a%0Ab exp=0"), out), 0);
  ck_assert_uint_eq(mcrepl__metadump_key(S("key=a%7Fb exp=0"), out), 0);
  ck_assert_uint_eq(mcrepl__metadump_key(S("key=a\001b exp=0"), out), 0);
  ck_assert_uint_eq(mcrepl__metadump_key(S("key=a\tb exp=0"), out), 0);
  /* 250 bytes is the longest key memcached takes. */
  memcpy(line, "key=", 4);
  memset(line + 4, 'k', 250);
  ck_assert_uint_eq(mcrepl__metadump_key(line, 4 + 250, out), 250);
  ck_assert_mem_eq(out, line + 4, 250);
  memcpy(line + 4 + 250, " exp=0", 6);
  ck_assert_uint_eq(mcrepl__metadump_key(line, 4 + 256, out), 250);
  line[4 + 250] = 'k';
  ck_assert_uint_eq(mcrepl__metadump_key(line, 4 + 256, out), 0);
}
END_TEST

static Suite *suite(void)
{
  Suite *s = suite_create("proto");
  TCase *fmt = tcase_create("format");
  TCase *exp = tcase_create("expiry");
  TCase *dump = tcase_create("metadump");

  tcase_add_test(fmt, ms_head_is_the_printf_text);
  tcase_add_test(fmt, md_and_mg_are_the_printf_text);
  tcase_add_test(fmt, commands_append_across_growth);
  tcase_add_test(fmt, meta_answers_parse);
  suite_add_tcase(s, fmt);
  tcase_add_test(exp, expiry_moves_to_the_node_clock);
  tcase_add_test(exp, expiry_stops_at_2038);
  suite_add_tcase(s, exp);
  tcase_add_test(dump, metadump_keys_decode);
  suite_add_tcase(s, dump);
  return s;
}

int main(void)
{
  return run_suite(suite());
}
