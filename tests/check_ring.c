/* Unit tests of the key-to-pair ring: it must pick, key for key, the
 * member libmemcached itself picks in weighted ketama mode, since the
 * replicator and plain libmemcached clients must agree on where a key
 * lives. No server runs: memcached_generate_hash() needs none. */
#include <check.h>

#include "testutil.h"
#include <libhashkit-1.0/hashkit.h>
#include <libmemcached/memcached.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ring.h"

#define NKEYS 10000

/* The reference: libmemcached configured as ring.h promises to mirror. */
static memcached_st *reference(const mcrepl__ring_member_t *m, size_t n)
{
  memcached_st *mc = memcached_create(NULL);
  size_t i;

  ck_assert_ptr_nonnull(mc);
  for (i = 0; i < n; i++)
    ck_assert_int_eq(memcached_server_add_with_weight(mc, m[i].host,
                                                      m[i].port,
                                                      m[i].weight),
                     MEMCACHED_SUCCESS);
  ck_assert_int_eq(memcached_behavior_set(
                       mc, MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1),
                   MEMCACHED_SUCCESS);
  return mc;
}

/* Keys of varied shapes and lengths, binary bytes included, so that
 * hashes land all over the ring and not only on text-like keys. */
static size_t make_key(char *buf, size_t size, unsigned i, uint32_t *rnd)
{
  size_t len, j;

  switch (i % 3) {
  case 0:
    return (size_t)snprintf(buf, size, "key:%u", i);
  case 1:
    return (size_t)snprintf(buf, size, "user/%u/session-%u", i * 7919,
                            i % 13);
  default:
    len = 1 + i % 60;
    for (j = 0; j < len && j < size; j++) {
      *rnd = *rnd * 1103515245u + 12345u;
      buf[j] = (char)(*rnd >> 16);
    }
    return j;
  }
}

static void assert_matches(const mcrepl__ring_member_t *m, size_t n)
{
  memcached_st *mc = reference(m, n);
  mcrepl__ring_t *r = mcrepl__ring_create(m, n);
  uint32_t rnd = 42;
  char key[128];
  unsigned i;

  ck_assert_ptr_nonnull(r);
  for (i = 0; i < NKEYS; i++) {
    size_t len = make_key(key, sizeof key, i, &rnd);
    uint32_t want = memcached_generate_hash(mc, key, len);
    size_t got = mcrepl__ring_lookup(r, mcrepl__ring_hash(key, len));

    ck_assert_msg(got == want, "key %u (len %zu): ring %zu, libmemcached "
                  "%u", i, len, got, (unsigned)want);
  }
  mcrepl__ring_destroy(r);
  memcached_free(mc);
}

START_TEST(one_member)
{
  const mcrepl__ring_member_t m[] = {{"192.0.2.100", 11211, 1}};

  assert_matches(m, ARRAY_LEN(m));
}
END_TEST

START_TEST(one_member_other_port_heavy)
{
  const mcrepl__ring_member_t m[] = {{"cache-a.example.net", 22122, 9}};

  assert_matches(m, ARRAY_LEN(m));
}
END_TEST

START_TEST(three_equal_default_port)
{
  const mcrepl__ring_member_t m[] = {
      {"192.0.2.100", 11211, 1},
      {"192.0.2.101", 11211, 1},
      {"192.0.2.102", 11211, 1},
  };

  assert_matches(m, ARRAY_LEN(m));
}
END_TEST

START_TEST(three_equal_other_ports)
{
  const mcrepl__ring_member_t m[] = {
      {"192.0.2.100", 11311, 1},
      {"192.0.2.100", 11312, 1},
      {"192.0.2.100", 11313, 1},
  };

  assert_matches(m, ARRAY_LEN(m));
}
END_TEST

START_TEST(three_mixed_weights_hostnames)
{
  const mcrepl__ring_member_t m[] = {
      {"cache-a.example.net", 11211, 1},
      {"cache-b.example.net", 20000, 2},
      {"cache-c.example.net", 11211, 3},
  };

  assert_matches(m, ARRAY_LEN(m));
}
END_TEST

/* Weights whose float point count (57.9999962 -> 57 digests) differs
 * from exact arithmetic (58): only a float-exact ring passes. */
START_TEST(three_float_rounding_weights)
{
  const mcrepl__ring_member_t m[] = {
      {"192.0.2.1", 11211, 29},
      {"192.0.2.2", 11211, 16},
      {"192.0.2.3", 11211, 15},
  };

  assert_matches(m, ARRAY_LEN(m));
}
END_TEST

START_TEST(five_float_rounding_weights)
{
  const mcrepl__ring_member_t m[] = {
      {"192.0.2.1", 11211, 1}, {"192.0.2.2", 11211, 6},
      {"192.0.2.3", 11211, 6}, {"192.0.2.4", 11211, 6},
      {"192.0.2.5", 11211, 6},
  };

  assert_matches(m, ARRAY_LEN(m));
}
END_TEST

static void seven(uint32_t weight_step, int hostnames, uint16_t port)
{
  mcrepl__ring_member_t m[7];
  char hosts[7][64];
  size_t i;

  for (i = 0; i < ARRAY_LEN(m); i++) {
    if (hostnames)
      snprintf(hosts[i], sizeof hosts[i], "mc%zu.dc1.example.com", i);
    else
      snprintf(hosts[i], sizeof hosts[i], "198.51.100.%zu", 10 + i);
    m[i].host = hosts[i];
    m[i].port = (uint16_t)(port ? port : 11211 + (i % 2) * (i + 1));
    m[i].weight = 1 + (uint32_t)i * weight_step;
  }
  assert_matches(m, ARRAY_LEN(m));
}

START_TEST(seven_equal_ips_default_port)
{
  seven(0, 0, 11211);
}
END_TEST

START_TEST(seven_equal_hostnames_other_port)
{
  seven(0, 1, 21211);
}
END_TEST

START_TEST(seven_mixed_weights_mixed_ports)
{
  seven(1, 0, 0);
}
END_TEST

START_TEST(seven_mixed_weights_hostnames)
{
  seven(3, 1, 0);
}
END_TEST

/* A member so light that libmemcached gives it no points at all. */
START_TEST(member_without_points)
{
  const mcrepl__ring_member_t m[] = {
      {"192.0.2.1", 11211, 1000},
      {"192.0.2.2", 11212, 1},
      {"192.0.2.3", 11211, 1000},
  };

  assert_matches(m, ARRAY_LEN(m));
}
END_TEST

START_TEST(every_member_gets_keys)
{
  const mcrepl__ring_member_t m[] = {
      {"192.0.2.100", 11211, 1},
      {"192.0.2.101", 11211, 1},
      {"192.0.2.102", 11211, 1},
  };
  mcrepl__ring_t *r = mcrepl__ring_create(m, ARRAY_LEN(m));
  size_t count[3] = {0, 0, 0};
  char key[32];
  unsigned i;

  ck_assert_ptr_nonnull(r);
  for (i = 0; i < 3 * NKEYS; i++) {
    int len = snprintf(key, sizeof key, "k%u", i);
    size_t who = mcrepl__ring_lookup(r, mcrepl__ring_hash(key, (size_t)len));

    ck_assert_uint_lt(who, 3);
    count[who]++;
  }
  /* Ketama with 160 points each is within a few percent of a third. */
  for (i = 0; i < 3; i++)
    ck_assert_uint_gt(count[i], NKEYS / 2);
  mcrepl__ring_destroy(r);
}
END_TEST

START_TEST(lookup_is_stable)
{
  const mcrepl__ring_member_t m[] = {
      {"cache-a.example.net", 11211, 2},
      {"cache-b.example.net", 11212, 1},
      {"cache-c.example.net", 11213, 3},
  };
  mcrepl__ring_t *a = mcrepl__ring_create(m, ARRAY_LEN(m));
  mcrepl__ring_t *b = mcrepl__ring_create(m, ARRAY_LEN(m));
  char key[32];
  unsigned i;

  ck_assert_ptr_nonnull(a);
  ck_assert_ptr_nonnull(b);
  for (i = 0; i < NKEYS; i++) {
    int len = snprintf(key, sizeof key, "stable-%u", i);
    uint32_t h = mcrepl__ring_hash(key, (size_t)len);
    size_t first = mcrepl__ring_lookup(a, h);

    ck_assert_uint_eq(h, mcrepl__ring_hash(key, (size_t)len));
    ck_assert_uint_eq(first, mcrepl__ring_lookup(a, h));
    ck_assert_uint_eq(first, mcrepl__ring_lookup(b, h));
  }
  mcrepl__ring_destroy(a);
  mcrepl__ring_destroy(b);
}
END_TEST

/* The extremes of the hash space: 0 and UINT32_MAX (past the top point,
 * so it wraps) must pick what libmemcached's search picks. */
START_TEST(hash_extremes_wrap)
{
  const mcrepl__ring_member_t m[] = {
      {"192.0.2.100", 11211, 1},
      {"192.0.2.101", 11211, 1},
      {"192.0.2.102", 11211, 1},
  };
  mcrepl__ring_t *r = mcrepl__ring_create(m, ARRAY_LEN(m));

  ck_assert_ptr_nonnull(r);
  ck_assert_uint_eq(mcrepl__ring_lookup(r, 0),
                    mcrepl__ring_lookup(r, UINT32_MAX));
  mcrepl__ring_destroy(r);
}
END_TEST

/* A hash equal to a point's value belongs to that point's member, as
 * libmemcached takes the first point >= hash. Points are the 4 words of
 * MD5("host-i") for port 11211 and MD5("host:port-i") otherwise. */
START_TEST(hash_on_a_point_picks_its_member)
{
  const mcrepl__ring_member_t m[] = {
      {"192.0.2.100", 11211, 1},
      {"192.0.2.101", 11300, 1},
      {"192.0.2.102", 11211, 1},
  };
  mcrepl__ring_t *r = mcrepl__ring_create(m, ARRAY_LEN(m));
  unsigned char d[16];
  char name[64];
  size_t i, a;
  unsigned k;

  ck_assert_ptr_nonnull(r);
  for (i = 0; i < ARRAY_LEN(m); i++)
    for (k = 0; k < 40; k++) {
      int len = m[i].port == 11211
                    ? snprintf(name, sizeof name, "%s-%u", m[i].host, k)
                    : snprintf(name, sizeof name, "%s:%u-%u", m[i].host,
                               (unsigned)m[i].port, k);

      libhashkit_md5_signature((const unsigned char *)name, (size_t)len,
                               d);
      for (a = 0; a < 4; a++) {
        uint32_t v = (uint32_t)d[a * 4 + 3] << 24 |
                     (uint32_t)d[a * 4 + 2] << 16 |
                     (uint32_t)d[a * 4 + 1] << 8 | d[a * 4];

        ck_assert_uint_eq(mcrepl__ring_lookup(r, v), i);
      }
    }
  mcrepl__ring_destroy(r);
}
END_TEST

/* The key hash of the reference, set to a chosen value. */
static uint32_t fixed_hash(const char *key, size_t len, void *ctx)
{
  (void)key;
  (void)len;
  return *(const uint32_t *)ctx;
}

/* Two members whose points share a value: MD5("192.0.2.100:20017-k")
 * and MD5("192.0.2.100:20809-k") have a word in common, 855879808
 * (found by search). A hash of exactly that value goes where
 * libmemcached sends it, the member given first, in either order (which
 * also shows that both own the point: otherwise one order would pick
 * index 1). */
START_TEST(equal_points_pick_what_libmemcached_picks)
{
  static const uint32_t tie = 855879808u;
  const mcrepl__ring_member_t ab[] = {{"192.0.2.100", 20017, 1},
                                      {"192.0.2.100", 20809, 1}};
  const mcrepl__ring_member_t ba[] = {ab[1], ab[0]};
  const mcrepl__ring_member_t *orders[] = {ab, ba};
  size_t o;

  for (o = 0; o < ARRAY_LEN(orders); o++) {
    memcached_st *mc = reference(orders[o], 2);
    mcrepl__ring_t *r = mcrepl__ring_create(orders[o], 2);
    hashkit_st hk;

    ck_assert_ptr_nonnull(r);
    ck_assert_ptr_nonnull(hashkit_create(&hk));
    ck_assert_int_eq(hashkit_set_custom_function(&hk, fixed_hash,
                                                 (void *)&tie),
                     HASHKIT_SUCCESS);
    ck_assert_int_eq(memcached_set_hashkit(mc, &hk), MEMCACHED_SUCCESS);
    ck_assert_uint_eq(memcached_generate_hash(mc, "k", 1), 0);
    ck_assert_uint_eq(mcrepl__ring_lookup(r, tie), 0);
    hashkit_free(&hk);
    mcrepl__ring_destroy(r);
    memcached_free(mc);
  }
}
END_TEST

START_TEST(key_hash_is_libhashkit_md5)
{
  static const char *keys[] = {"", "a", "hello", "user/1/session-3"};
  size_t i;

  for (i = 0; i < ARRAY_LEN(keys); i++)
    ck_assert_uint_eq(mcrepl__ring_hash(keys[i], strlen(keys[i])),
                      memcached_generate_hash_value(keys[i], strlen(keys[i]),
                                                    MEMCACHED_HASH_MD5));
}
END_TEST

START_TEST(rejects_no_members)
{
  const mcrepl__ring_member_t m[] = {{"192.0.2.100", 11211, 1}};

  ck_assert_ptr_null(mcrepl__ring_create(m, 0));
  ck_assert_ptr_null(mcrepl__ring_create(NULL, 1));
  mcrepl__ring_destroy(NULL);
}
END_TEST

static Suite *suite(void)
{
  Suite *s = suite_create("ring");
  TCase *same = tcase_create("same_as_libmemcached");
  TCase *props = tcase_create("properties");

  tcase_set_timeout(same, 60);
  tcase_add_test(same, one_member);
  tcase_add_test(same, one_member_other_port_heavy);
  tcase_add_test(same, three_equal_default_port);
  tcase_add_test(same, three_equal_other_ports);
  tcase_add_test(same, three_mixed_weights_hostnames);
  tcase_add_test(same, three_float_rounding_weights);
  tcase_add_test(same, five_float_rounding_weights);
  tcase_add_test(same, seven_equal_ips_default_port);
  tcase_add_test(same, seven_equal_hostnames_other_port);
  tcase_add_test(same, seven_mixed_weights_mixed_ports);
  tcase_add_test(same, seven_mixed_weights_hostnames);
  tcase_add_test(same, member_without_points);
  suite_add_tcase(s, same);

  tcase_add_test(props, every_member_gets_keys);
  tcase_add_test(props, lookup_is_stable);
  tcase_add_test(props, hash_extremes_wrap);
  tcase_add_test(props, hash_on_a_point_picks_its_member);
  tcase_add_test(props, equal_points_pick_what_libmemcached_picks);
  tcase_add_test(props, key_hash_is_libhashkit_md5);
  tcase_add_test(props, rejects_no_members);
  suite_add_tcase(s, props);
  return s;
}

int main(void)
{
  return run_suite(suite());
}
