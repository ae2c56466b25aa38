/* Bad input: every kind of argument the API documents as refused, each
 * against the return code mcrepl.h documents for it, on a live pair.
 * Each call must return its code (never crash or hang: every call is
 * timed), and nothing accepted before is lost: 100 keys written first are
 * checked on the master and the slave at the end.
 *
 * Prints the table input -> code; with an argument, also writes it as
 * markdown to that file (tests/faults/bad-input.md is such a run). */
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define OP_MAX_MS 2000
#define MAX_ROWS 512
#define KEEP 100
#define MIB (1024 * 1024)

typedef struct {
  const char *family, *call;
  char input[100], want[40], got[40];
  int ok;
} row_t;

static row_t g_rows[MAX_ROWS];
static int g_nrows, g_bad;
static mcrepl_t *g_m;
static mc_server_t *g_master, *g_slave;

static void row_text(const char *family, const char *call,
                     const char *input, const char *want, const char *got)
{
  row_t *r;

  CHECK(g_nrows < MAX_ROWS, "too many rows");
  r = &g_rows[g_nrows++];
  r->family = family;
  r->call = call;
  snprintf(r->input, sizeof r->input, "%s", input);
  snprintf(r->want, sizeof r->want, "%s", want);
  snprintf(r->got, sizeof r->got, "%s", got);
  r->ok = strcmp(want, got) == 0;
  g_bad += !r->ok;
}

static void row(const char *family, const char *call, const char *input,
                mcrepl_return_t want, mcrepl_return_t got)
{
  row_text(family, call, input, mcrepl_strcode(want) + 7,
           mcrepl_strcode(got) + 7);
}

/* Times every call: a hang or a crawl fails the test on the spot. */
static long long g_d0, g_t0;
static void tick(void)
{
  g_d0 = run_delay_us();
  g_t0 = now_us();
}
static void tock(const char *what)
{
  long long ms = (now_us() - g_t0 - (run_delay_us() - g_d0)) / 1000;
  CHECK(ms <= OP_MAX_MS, "%s took %lld ms", what, ms);
}

static int cb(void *c, const char *k, size_t kl, const char *v, size_t vl,
              uint32_t f, uint64_t cas)
{
  (void)c, (void)k, (void)kl, (void)v, (void)vl, (void)f, (void)cas;
  return 0;
}

/* The calls that take a key. */
static const char *const g_kfn[] = {
  "set", "add", "replace", "append", "prepend", "cas", "touch", "delete",
  "incr", "decr", "get", "gets", "mget", "key_pair"};
#define NKFN (int)(sizeof g_kfn / sizeof g_kfn[0])

static mcrepl_return_t kcall(mcrepl_t *m, int fn, const char *k, size_t kl)
{
  const char *keys[1] = {k};
  mcrepl_return_t rc = MCREPL_FAILURE;
  size_t lens[1] = {kl}, pair;
  uint64_t cas;

  tick();
  switch (fn) {
  case 0: rc = mcrepl_set(m, k, kl, "v", 1, 0, 0); break;
  case 1: rc = mcrepl_add(m, k, kl, "v", 1, 0, 0); break;
  case 2: rc = mcrepl_replace(m, k, kl, "v", 1, 0, 0); break;
  case 3: rc = mcrepl_append(m, k, kl, "v", 1, 0, 0); break;
  case 4: rc = mcrepl_prepend(m, k, kl, "v", 1, 0, 0); break;
  case 5: rc = mcrepl_cas(m, k, kl, "v", 1, 0, 0, 1); break;
  case 6: rc = mcrepl_touch(m, k, kl, 10); break;
  case 7: rc = mcrepl_delete(m, k, kl); break;
  case 8: rc = mcrepl_incr(m, k, kl, 1, NULL); break;
  case 9: rc = mcrepl_decr(m, k, kl, 1, NULL); break;
  case 10: free(mcrepl_get(m, k, kl, NULL, NULL, &rc)); break;
  case 11: free(mcrepl_gets(m, k, kl, NULL, NULL, &cas, &rc)); break;
  case 12: rc = mcrepl_mget(m, keys, lens, 1, cb, NULL); break;
  case 13: rc = mcrepl_key_pair(m, k, kl, &pair); break;
  }
  tock(g_kfn[fn]);
  return rc;
}

static void keys(void)
{
  static char big[1001];
  char k[32], desc[64];
  int c, fn;

  memset(big, 'k', sizeof big - 1);
  row("key", "set", "0 bytes", MCREPL_BAD_KEY, kcall(g_m, 0, "k", 0));
  row("key", "set", "250 bytes", MCREPL_SUCCESS, kcall(g_m, 0, big, 250));
  row("key", "set", "251 bytes", MCREPL_BAD_KEY, kcall(g_m, 0, big, 251));
  row("key", "set", "1000 bytes", MCREPL_BAD_KEY, kcall(g_m, 0, big, 1000));
  row("key", "set", "\"a b\" (space)", MCREPL_BAD_KEY,
      kcall(g_m, 0, "a b", 3));
  for (c = 0; c < 0x20; c++) {
    snprintf(k, sizeof k, "k%cx", c);
    snprintf(desc, sizeof desc, "byte 0x%02x inside", c);
    row("ctl", "set", desc, MCREPL_BAD_KEY, kcall(g_m, 0, k, 3));
  }
  row("key", "set", "\"k\\r\\nflush_all\" (CR LF injection)",
      MCREPL_BAD_KEY, kcall(g_m, 0, "k\r\nflush_all", 12));
  row("key", "set", "\"k\\n\" (LF at the end)", MCREPL_BAD_KEY,
      kcall(g_m, 0, "k\n", 2));
  row("key", "set", "byte 0x7f inside", MCREPL_BAD_KEY,
      kcall(g_m, 0, "k\x7fx", 3));
  row("key", "set", "UTF-8 \"cl\\xc3\\xa9\" (bytes >= 0x80 are valid)",
      MCREPL_SUCCESS, kcall(g_m, 0, "cl\xc3\xa9", 4));
  for (fn = 0; fn < NKFN; fn++)
    row("spacekey", g_kfn[fn], "key \"a b\"", MCREPL_BAD_KEY,
        kcall(g_m, fn, "a b", 3));
  for (fn = 0; fn < NKFN; fn++)
    row("nullkey", g_kfn[fn], "key NULL, length 3",
        MCREPL_INVALID_ARGUMENTS, kcall(g_m, fn, NULL, 3));
}

/* Whether master and slave agree that key is there (1) or not (0). */
static int both(const char *key)
{
  int a = mc_raw_get(g_master->port, key, NULL, NULL, NULL);
  int b = mc_raw_get(g_slave->port, key, NULL, NULL, NULL);

  return a == b ? a : -9;
}

static const char *presence(int p)
{
  return p == 1 ? "both have it" : p == 0 ? "neither has it"
                                          : "master and slave differ";
}

static void values(void)
{
  char *v = malloc(4 * MIB + 1);
  mcrepl_return_t rc;

  CHECK(v != NULL, "malloc");
  memset(v, 'v', 4 * MIB);
  tick();
  rc = mcrepl_set(g_m, S("bi-null"), NULL, 5, 0, 0);
  tock("set");
  row("value", "set", "value NULL, length 5", MCREPL_INVALID_ARGUMENTS, rc);
  tick();
  rc = mcrepl_set(g_m, S("bi-empty"), NULL, 0, 0, 0);
  tock("set");
  row("value", "set", "value NULL, length 0 (empty)", MCREPL_SUCCESS, rc);
  tick();
  rc = mcrepl_set(g_m, S("bi-512k"), v, 512 * 1024, 0, 0);
  tock("set");
  row("value", "set", "512 KiB (server -I 1m)", MCREPL_SUCCESS, rc);
  tick();
  rc = mcrepl_set(g_m, S("bi-1m"), v, MIB + 1, 0, 0);
  tock("set");
  row("value", "set", "1 MiB + 1 (server -I 1m)", MCREPL_VALUE_TOO_LARGE,
      rc);
  tick();
  rc = mcrepl_set(g_m, S("bi-4m"), v, 4 * MIB, 0, 0);
  tock("set");
  row("value", "set", "4 MiB (server -I 1m)", MCREPL_VALUE_TOO_LARGE, rc);
  tick();
  rc = mcrepl_append(g_m, S("bi-512k"), v, 700 * 1024, 0, 0);
  tock("append");
  /* memcached itself answers NOT_STORED here, not a size error. */
  row("value", "append", "700 KiB onto 512 KiB (over -I 1m)",
      MCREPL_NOTSTORED, rc);
  free(v);
}

/* The remaining TTL on the slave must be the master's (within 2 s). */
static void same_ttl(const char *call, const char *input, const char *key)
{
  long tm = mc_raw_ttl(g_master->port, key);
  long ts = mc_raw_ttl(g_slave->port, key);
  char got[40];

  if (tm > 0 && ts > 0 && labs(tm - ts) <= 2)
    snprintf(got, sizeof got, "same as the master");
  else if (ts == MC_RAW_MISS)
    snprintf(got, sizeof got, "slave lacks the item");
  else
    snprintf(got, sizeof got, "%ld s, master %ld s", ts, tm);
  row_text("state", call, input, "same as the master", got);
}

static void expiry(void)
{
  time_t in40d = time(NULL) + 40 * 86400;
  mcrepl_return_t rc;

  tick();
  rc = mcrepl_set(g_m, S("bi-neg"), S("x"), -1, 0);
  tock("set");
  row("exptime", "set", "exptime -1", MCREPL_SUCCESS, rc);
  tick();
  rc = mcrepl_set(g_m, S("bi-max"), S("x"), INT32_MAX, 0);
  tock("set");
  row("exptime", "set", "exptime INT32_MAX (2038, absolute)",
      MCREPL_SUCCESS, rc);
  tick();
  rc = mcrepl_set(g_m, S("bi-30d1"), S("x"), 2592001, 0);
  tock("set");
  row("exptime", "set", "exptime 30 days + 1 s (absolute: 1970)",
      MCREPL_SUCCESS, rc);
  tick();
  rc = mcrepl_set(g_m, S("bi-40d"), S("x"), in40d, 0);
  tock("set");
  row("exptime", "set", "exptime now + 40 days (absolute)", MCREPL_SUCCESS,
      rc);
  CHECK(mcrepl_set(g_m, S("bi-touch"), S("x"), 0, 0) == MCREPL_SUCCESS &&
            mcrepl_set(g_m, S("bi-t40"), S("x"), 0, 0) == MCREPL_SUCCESS,
        "set");
  tick();
  rc = mcrepl_touch(g_m, S("bi-t40"), in40d);
  tock("touch");
  row("exptime", "touch", "exptime now + 40 days (absolute)",
      MCREPL_SUCCESS, rc);
  tick();
  rc = mcrepl_touch(g_m, S("bi-touch"), -1);
  tock("touch");
  row("exptime", "touch", "exptime -1", MCREPL_SUCCESS, rc);
  /* The slave must end as the master did. */
  rc = mcrepl_wait_replicated(g_m, 10000);
  CHECK(rc == MCREPL_SUCCESS, "wait: %s", mcrepl_strcode(rc));
  row_text("state", "set", "exptime -1: afterwards", "neither has it",
           presence(both("bi-neg")));
  row_text("state", "set", "exptime 30 days + 1 s: afterwards",
           "neither has it", presence(both("bi-30d1")));
  row_text("state", "touch", "exptime -1: afterwards", "neither has it",
           presence(both("bi-touch")));
  same_ttl("set", "exptime INT32_MAX: TTL on the slave", "bi-max");
  same_ttl("set", "exptime now + 40 days: TTL on the slave", "bi-40d");
  same_ttl("touch", "exptime now + 40 days: TTL on the slave", "bi-t40");
}

static void log_cb(void *c, mcrepl_log_level_t l, const char *msg)
{
  (void)c, (void)l, (void)msg;
}

static void pointers(void)
{
  const char *keys[2] = {"bi-keep-000", NULL};
  size_t lens[2] = {11, 3};
  mcrepl_pair_stats_t st;
  mcrepl_node_info_t ni;
  mcrepl_return_t rc = MCREPL_FAILURE;
  char *v;

  tick();
  v = mcrepl_get(g_m, S("bi-keep-000"), NULL, NULL, NULL);
  tock("get");
  row_text("ptr", "get", "value_len, flags, rc all NULL (allowed)",
           "value returned", v ? "value returned" : "NULL");
  free(v);
  tick();
  rc = mcrepl_incr(g_m, S("bi-n"), 1, NULL);
  tock("incr");
  row("ptr", "incr", "new_value NULL (allowed), key missing",
      MCREPL_NOTFOUND, rc);
  tick();
  rc = mcrepl_mget(g_m, NULL, lens, 1, cb, NULL);
  row("ptr", "mget", "keys NULL, n 1", MCREPL_INVALID_ARGUMENTS, rc);
  rc = mcrepl_mget(g_m, keys, NULL, 1, cb, NULL);
  row("ptr", "mget", "key_lens NULL, n 1", MCREPL_INVALID_ARGUMENTS, rc);
  rc = mcrepl_mget(g_m, keys, lens, 1, NULL, NULL);
  row("ptr", "mget", "callback NULL", MCREPL_INVALID_ARGUMENTS, rc);
  rc = mcrepl_mget(g_m, keys, lens, 2, cb, NULL);
  row("ptr", "mget", "keys[1] NULL", MCREPL_INVALID_ARGUMENTS, rc);
  rc = mcrepl_mget(g_m, NULL, NULL, 0, cb, NULL);
  row("ptr", "mget", "n 0, keys and key_lens NULL", MCREPL_SUCCESS, rc);
  rc = mcrepl_key_pair(g_m, S("k"), NULL);
  row("ptr", "key_pair", "pair NULL", MCREPL_INVALID_ARGUMENTS, rc);
  rc = mcrepl_pair_stats(g_m, 0, NULL, sizeof st);
  row("ptr", "pair_stats", "out NULL", MCREPL_INVALID_ARGUMENTS, rc);
  rc = mcrepl_pair_stats(g_m, 1, &st, sizeof st);
  row("ptr", "pair_stats", "pair index 1 of 1", MCREPL_INVALID_ARGUMENTS,
      rc);
  rc = mcrepl_pair_stats(g_m, 0, &st, 8);
  row("ptr", "pair_stats", "out_size 8 (an older, smaller struct)",
      MCREPL_SUCCESS, rc);
  rc = mcrepl_node_info(g_m, 0, MCREPL_NODE_SLAVE, NULL, sizeof ni);
  row("ptr", "node_info", "out NULL", MCREPL_INVALID_ARGUMENTS, rc);
  rc = mcrepl_node_info(g_m, 0, (mcrepl_node_t)7, &ni, sizeof ni);
  row("ptr", "node_info", "node 7 (no such node)",
      MCREPL_INVALID_ARGUMENTS, rc);
  rc = mcrepl_node_info(g_m, 5, MCREPL_NODE_SLAVE, &ni, sizeof ni);
  row("ptr", "node_info", "pair index 5 of 1", MCREPL_INVALID_ARGUMENTS,
      rc);
  rc = mcrepl_set_vip_callback(g_m, NULL, NULL);
  row("ptr", "set_vip_callback", "callback NULL (clears)", MCREPL_SUCCESS,
      rc);
  rc = mcrepl_set_log_callback(g_m, NULL, NULL, MCREPL_LOG_DEBUG);
  row("ptr", "set_log_callback", "callback NULL (clears)", MCREPL_SUCCESS,
      rc);
  {
    uint64_t nv = 0;
    rc = mcrepl_set(g_m, S("bi-n"), S("1"), 0, 0);
    if (rc == MCREPL_SUCCESS)
      rc = mcrepl_incr(g_m, S("bi-n"), (uint64_t)UINT32_MAX + 1, &nv);
    if (rc == MCREPL_SUCCESS && nv != (uint64_t)UINT32_MAX + 2)
      rc = MCREPL_FAILURE; /* the delta was cut to 32 bits */
    row("arg", "incr", "delta 2^32 on 1 (gives 2^32+1)", MCREPL_SUCCESS,
        rc);
  }
  tock("pointer checks");
  row_text("arg", "strerror", "code -1 and 999",
           "a string", mcrepl_strerror((mcrepl_return_t)-1) &&
                       mcrepl_strerror((mcrepl_return_t)999) &&
                       mcrepl_strcode((mcrepl_return_t)999)
                           ? "a string" : "NULL");
  tick();
  rc = mcrepl_resync(NULL, NULL, NULL, NULL, NULL, NULL, 0);
  tock("resync");
  row("arg", "resync", "from and to NULL", MCREPL_INVALID_ARGUMENTS, rc);
  tick();
  row_text("arg", "check", "node NULL", "HEALTH_ERROR",
           mcrepl_check(NULL, NULL, NULL, NULL, 0) == MCREPL_HEALTH_ERROR
               ? "HEALTH_ERROR" : "other");
  tock("check");
}

static void null_handle(void)
{
  mcrepl_pair_stats_t st;
  mcrepl_node_info_t ni;
  char *v;
  mcrepl_return_t rc = MCREPL_SUCCESS;
  int fn;

  for (fn = 0; fn < NKFN; fn++)
    row("nullm", g_kfn[fn], "handle NULL", MCREPL_INVALID_ARGUMENTS,
        kcall(NULL, fn, "k", 1));
  row("nullm", "flush", "handle NULL", MCREPL_INVALID_ARGUMENTS,
      mcrepl_flush(NULL, 0));
  row("nullm", "wait_replicated", "handle NULL", MCREPL_INVALID_ARGUMENTS,
      mcrepl_wait_replicated(NULL, 10));
  row("nullm", "pair_stats", "handle NULL", MCREPL_INVALID_ARGUMENTS,
      mcrepl_pair_stats(NULL, 0, &st, sizeof st));
  row("nullm", "node_info", "handle NULL", MCREPL_INVALID_ARGUMENTS,
      mcrepl_node_info(NULL, 0, MCREPL_NODE_MASTER, &ni, sizeof ni));
  row("nullm", "set_vip_callback", "handle NULL",
      MCREPL_INVALID_ARGUMENTS, mcrepl_set_vip_callback(NULL, NULL, NULL));
  row("nullm", "set_log_callback", "handle NULL",
      MCREPL_INVALID_ARGUMENTS,
      mcrepl_set_log_callback(NULL, log_cb, NULL, MCREPL_LOG_DEBUG));
  row("nullm", "incr", "handle NULL, delta 2^32",
      MCREPL_INVALID_ARGUMENTS,
      mcrepl_incr(NULL, S("k"), (uint64_t)UINT32_MAX + 1, NULL));
  v = mcrepl_get(NULL, S("k"), NULL, NULL, &rc);
  row_text("nullm", "get", "handle NULL: the value", "NULL",
           v ? "not NULL" : "NULL");
  row_text("nullm", "pair_count", "handle NULL", "0",
           mcrepl_pair_count(NULL) == 0 ? "0" : "not 0");
  mcrepl_destroy(NULL);
  row_text("nullm", "destroy", "handle NULL", "no-op", "no-op");
}

/* s, with control bytes as \t, \n or \xNN, into out. */
static const char *escape(char *out, size_t len, const char *s)
{
  size_t n = 0;

  for (; *s && n + 5 < len; s++) {
    unsigned char c = (unsigned char)*s;
    if (c >= 0x20 && c < 0x7f)
      out[n++] = (char)c;
    else
      n += (size_t)snprintf(out + n, len - n, c == '\t' ? "\\t"
                            : c == '\n' ? "\\n" : "\\x%02x", c);
  }
  out[n] = '\0';
  return out;
}

/* A configuration that mcrepl_create must refuse. */
static void refused(const char *why, const char *conf)
{
  char err[256] = "", in[100], esc[80];
  mcrepl_t *m;

  tick();
  m = mcrepl_create(conf, err, sizeof err);
  tock("create");
  snprintf(in, sizeof in, "%s: \"%s\"", why,
           conf ? escape(esc, sizeof esc, conf) : "(NULL)");
  row_text("config", "create", in, "NULL + message",
           m ? "a handle" : err[0] ? "NULL + message" : "NULL, no message");
  mcrepl_destroy(m);
}

/* A configuration that is fine but whose servers cannot be had. */
static void unreachable(const char *why, const char *conf,
                        mcrepl_return_t want)
{
  char in[120];
  mcrepl_node_info_t ni;
  mcrepl_t *m;

  tick();
  m = mcrepl_create(conf, NULL, 0);
  tock("create");
  snprintf(in, sizeof in, "%s", why);
  row_text("reach", "create", in, "a handle (lazy)",
           m ? "a handle (lazy)" : "NULL");
  if (!m)
    return;
  row("reach", "set", in, want, kcall(m, 0, "k", 1));
  row("reach", "get", in, want, kcall(m, 10, "k", 1));
  tick();
  row("reach", "node_info", in, want,
      mcrepl_node_info(m, 0, MCREPL_NODE_MASTER, &ni, sizeof ni));
  row("reach", "wait_replicated", in, MCREPL_SUCCESS,
      mcrepl_wait_replicated(m, 1000));
  tock("node_info, wait");
  tick();
  mcrepl_destroy(m);
  tock("destroy");
}

#define LABEL64                                                          \
  "mcrepl-a-label-of-64-bytes-fails-in-the-resolver-itself-no-query"

static void configs(void)
{
  refused("empty", "");
  refused("blank", "  \t\n ");
  refused("NULL", NULL);
  refused("repeated", "--pair=127.0.0.1:1,127.0.0.1:2 --timeout=100 "
          "--timeout=200");
  refused("contradictory", "--pair=127.0.0.1:1,127.0.0.1:2 "
          "--overflow=drop --overflow=block");
  refused("master is slave", "--pair=127.0.0.1:5,127.0.0.1:5");
  refused("node in two pairs", "--pair=127.0.0.1:1,127.0.0.1:2 "
          "--pair=127.0.0.1:2,127.0.0.1:3");
  refused("no slave", "--pair=127.0.0.1:1");
  refused("no value", "--pair");
  refused("unknown option", "--pair=127.0.0.1:1,127.0.0.1:2 --bogus=1");
  refused("no dashes", "pair=127.0.0.1:1,127.0.0.1:2");
  refused("queue below 4K", "--pair=127.0.0.1:1,127.0.0.1:2 "
          "--queue-bytes=1K");
  refused("port 0", "--pair=127.0.0.1:0,127.0.0.1:2");
  refused("port 65536", "--pair=127.0.0.1:65536,127.0.0.1:2");
  refused("unclosed [", "--pair=[::1:1,127.0.0.1:2");
  refused("timeout 0", "--pair=127.0.0.1:1,127.0.0.1:2 --timeout=0");
  refused("control byte", "--pair=127.0.0.1:1,127.0.0.1:2\x01");
  unreachable("closed loopback ports (1 and 2)",
              "--pair=127.0.0.1:1,127.0.0.1:2 --timeout=300 "
              "--connect-timeout=300", MCREPL_CONNECTION_FAILURE);
  /* A DNS label is at most 63 bytes: the resolver refuses this name
   * before it asks anyone, so the test sends nothing off the machine and
   * waits on no name server. */
  unreachable("hosts with a 64-byte label (no DNS query)",
              "--pair=" LABEL64 ".invalid:11211," LABEL64 ".invalid:11212 "
              "--timeout=300 --connect-timeout=300",
              MCREPL_HOST_LOOKUP_FAILURE);
}

static void keep_write(void)
{
  char k[32], v[32];
  int i;

  for (i = 0; i < KEEP; i++) {
    snprintf(k, sizeof k, "bi-keep-%03d", i);
    snprintf(v, sizeof v, "value %d", i);
    CHECK(mcrepl_set(g_m, S(k), S(v), 0, (uint32_t)i) == MCREPL_SUCCESS,
          "set %s", k);
  }
  CHECK(mcrepl_wait_replicated(g_m, 10000) == MCREPL_SUCCESS, "wait");
}

/* Every key of keep_write, with its value and flags, on both servers. */
static int keep_check(void)
{
  char k[32], want[32], *v;
  int i, s, port, ok = 0;
  uint32_t fl;

  for (i = 0; i < KEEP; i++)
    for (s = 0; s < 2; s++) {
      port = s ? g_slave->port : g_master->port;
      snprintf(k, sizeof k, "bi-keep-%03d", i);
      snprintf(want, sizeof want, "value %d", i);
      v = NULL;
      fl = 0;
      if (mc_raw_get(port, k, &v, NULL, &fl) == 1 && !strcmp(v, want) &&
          fl == (uint32_t)i)
        ok++;
      free(v);
    }
  return ok;
}

/* Where the run of rows from i ends, for the markdown table: rows of one
 * family and outcome that differ only in their call (the same input to
 * every call), or that are the 32 control bytes, print as one row. */
static int run_end(int i, int *same_call)
{
  const row_t *r = &g_rows[i];
  int j;

  *same_call = !strcmp(r->family, "ctl");
  for (j = i + 1; j < g_nrows; j++) {
    const row_t *q = &g_rows[j];
    if (q->family != r->family || strcmp(q->want, r->want) ||
        strcmp(q->got, r->got) ||
        (*same_call ? strcmp(q->call, r->call) : strcmp(q->input, r->input)))
      break;
  }
  return j - i >= 4 ? j : i + 1;
}

static void print_md(FILE *f)
{
  int i, j, k, same_call;

  fprintf(f, "Bad input, tried by tests/faults/t_badinput against a live "
             "pair (servers run\nwith -I 1m); \"documented\" is what "
             "include/mcrepl/mcrepl.h promises.\n\n");
  fprintf(f, "| call | input | documented | got |\n"
             "| --- | --- | --- | --- |\n");
  for (i = 0; i < g_nrows; i = j) {
    const row_t *r = &g_rows[i];
    j = run_end(i, &same_call);
    if (j - i == 1) {
      fprintf(f, "| %s | %s | %s | %s%s |\n", r->call, r->input, r->want,
              r->got, r->ok ? "" : " **(differs)**");
    } else if (same_call) {
      fprintf(f, "| %s | each of: %s ... %s (%d inputs) | %s | %s |\n",
              r->call, r->input, g_rows[j - 1].input, j - i, r->want,
              r->got);
    } else {
      fprintf(f, "| ");
      for (k = i; k < j; k++)
        fprintf(f, "%s%s", g_rows[k].call, k + 1 < j ? ", " : "");
      fprintf(f, " | %s | %s | %s |\n", r->input, r->want, r->got);
    }
  }
}

static void print_table(FILE *f)
{
  int i;

  for (i = 0; i < g_nrows; i++) {
    const row_t *r = &g_rows[i];
    fprintf(f, "  %-2s %-16s %-54s -> %s%s%s\n", r->ok ? "ok" : "XX",
            r->call, r->input, r->got, r->ok ? "" : ", documented: ",
            r->ok ? "" : r->want);
  }
}

int main(int argc, char **argv)
{
  int kept;

  g_master = server_start("-I 1m");
  g_slave = server_start("-I 1m");
  g_m = handle_open("--pair=127.0.0.1:%d,127.0.0.1:%d --timeout=2000",
                    g_master->port, g_slave->port);
  keep_write();
  keys();
  values();
  expiry();
  pointers();
  null_handle();
  configs();
  CHECK(mcrepl_wait_replicated(g_m, 10000) == MCREPL_SUCCESS, "wait");
  kept = keep_check();
  row_text("keep", "(all)", "100 keys written before all of the above",
           "200 of 200 copies intact", kept == 2 * KEEP
               ? "200 of 200 copies intact" : "copies lost");
  print_table(stdout);
  fflush(stdout);
  if (argc > 1) {
    FILE *f = fopen(argv[1], "w");
    CHECK(f != NULL, "cannot write %s", argv[1]);
    print_md(f);
    fclose(f);
  }
  CHECK(g_bad == 0, "%d of %d inputs did not get their documented code",
        g_bad, g_nrows);
  fault_ok("bad input", "%d inputs, each its documented code; the 100 "
           "keys written first intact on master and slave", g_nrows);
  mcrepl_destroy(g_m);
  server_stop(g_master);
  server_stop(g_slave);
  return 0;
}
