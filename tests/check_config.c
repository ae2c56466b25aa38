/* Unit tests of the configuration parser (lib/config.c). */
#include <check.h>

#include "testutil.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define ERRLEN 512

static mcrepl__config_t cfg;
static char err[ERRLEN];

/* Parses s, which must be accepted. */
static void ok(const char *s)
{
  int rc;

  memset(err, 'x', sizeof err);
  rc = mcrepl__config_parse(s, &cfg, err, sizeof err);
  ck_assert_msg(rc == 0, "refused \"%s\": %s", s, err);
  ck_assert_str_eq(err, "");
}

/* Parses s, which must be refused with a message holding each of the
 * NULL-terminated strings (the offending token, usually). */
static void bad(const char *s, const char *want, const char *want2)
{
  int rc;

  memset(err, 'x', sizeof err);
  rc = mcrepl__config_parse(s, &cfg, err, sizeof err);
  ck_assert_msg(rc == -1, "accepted \"%s\"", s);
  ck_assert_msg(memchr(err, '\0', sizeof err) != NULL, "unterminated");
  ck_assert_msg(strchr(err, '\n') == NULL, "two lines: %s", err);
  ck_assert_msg(strstr(err, want) != NULL, "\"%s\": %s (want %s)", s, err,
                want);
  if (want2 != NULL)
    ck_assert_msg(strstr(err, want2) != NULL, "\"%s\": %s (want %s)", s,
                  err, want2);
  ck_assert_ptr_null(cfg.pairs);
  ck_assert_uint_eq(cfg.npairs, 0);
}

static void teardown(void)
{
  mcrepl__config_free(&cfg);
}

static void assert_addr(const mcrepl__addr_t *a, const char *host,
                        unsigned port, const char *text)
{
  ck_assert_str_eq(a->host, host);
  ck_assert_uint_eq(a->port, port);
  ck_assert_str_eq(a->text, text);
}

START_TEST(test_defaults)
{
  ok("--pair=a,b");
  ck_assert_uint_eq(cfg.npairs, 1);
  assert_addr(&cfg.pairs[0].master, "a", 11211, "a:11211");
  assert_addr(&cfg.pairs[0].slave, "b", 11211, "b:11211");
  ck_assert_int_eq(cfg.pairs[0].has_vip, 0);
  ck_assert_uint_eq(cfg.pairs[0].weight, 1);
  ck_assert_uint_eq(cfg.queue_bytes, 64ull << 20);
  ck_assert_int_eq(cfg.overflow, MCREPL__OVERFLOW_DROP);
  ck_assert_int_eq(cfg.pace_timeout_ms, 10);
  ck_assert_int_eq(cfg.connect_timeout_ms, 1000);
  ck_assert_int_eq(cfg.io_timeout_ms, 1000);
  ck_assert_int_eq(cfg.shutdown_timeout_ms, 5000);
  ck_assert_int_eq(cfg.retry_timeout_ms, 1000);
  ck_assert_int_eq(cfg.backoff_max_ms, 1000);
  ck_assert_int_eq(cfg.dead_timeout_ms, 30000);
  ck_assert_int_eq(cfg.batch_max, 512);
  ck_assert_int_eq(cfg.binary_protocol, 0);
}
END_TEST

START_TEST(test_example)
{
  const mcrepl__pair_conf_t *p;

  ok("--pair=127.0.0.1:11211,127.0.0.1:11212 "
     "--pair=192.0.2.11:11211,192.0.2.12:11211,vip=192.0.2.100:11211,"
     "weight=2 --queue-bytes=64M");
  ck_assert_uint_eq(cfg.npairs, 2);
  p = &cfg.pairs[0];
  assert_addr(&p->master, "127.0.0.1", 11211, "127.0.0.1:11211");
  assert_addr(&p->slave, "127.0.0.1", 11212, "127.0.0.1:11212");
  ck_assert_int_eq(p->has_vip, 0);
  ck_assert_uint_eq(p->weight, 1);
  p = &cfg.pairs[1];
  assert_addr(&p->master, "192.0.2.11", 11211, "192.0.2.11:11211");
  assert_addr(&p->slave, "192.0.2.12", 11211, "192.0.2.12:11211");
  ck_assert_int_eq(p->has_vip, 1);
  assert_addr(&p->vip, "192.0.2.100", 11211, "192.0.2.100:11211");
  ck_assert_uint_eq(p->weight, 2);
  ck_assert_uint_eq(cfg.queue_bytes, 64ull << 20);
}
END_TEST

START_TEST(test_every_option)
{
  ok("\t --pair=m1:1,s1:65535,weight=1000000,vip=v:2\n"
     "--queue-bytes=4096 --overflow=block --connect-timeout=1 "
     "--timeout=3600000 --shutdown-timeout=0 --retry-timeout=250 "
     "--backoff-max=30000 --batch-max=65536 --binary-protocol  \r\n"
     "--dead-timeout=2500 --pool-idle-timeout=7 --pace-timeout=0");
  ck_assert_uint_eq(cfg.npairs, 1);
  ck_assert_uint_eq(cfg.pairs[0].weight, 1000000);
  assert_addr(&cfg.pairs[0].master, "m1", 1, "m1:1");
  assert_addr(&cfg.pairs[0].slave, "s1", 65535, "s1:65535");
  assert_addr(&cfg.pairs[0].vip, "v", 2, "v:2");
  ck_assert_uint_eq(cfg.queue_bytes, 4096);
  ck_assert_int_eq(cfg.overflow, MCREPL__OVERFLOW_BLOCK);
  ck_assert_int_eq(cfg.connect_timeout_ms, 1);
  ck_assert_int_eq(cfg.io_timeout_ms, 3600000);
  ck_assert_int_eq(cfg.shutdown_timeout_ms, 0);
  ck_assert_int_eq(cfg.retry_timeout_ms, 250);
  ck_assert_int_eq(cfg.backoff_max_ms, 30000);
  ck_assert_int_eq(cfg.batch_max, 65536);
  ck_assert_int_eq(cfg.dead_timeout_ms, 2500);
  ck_assert_int_eq(cfg.pool_idle_ms, 7);
  ck_assert_int_eq(cfg.pace_timeout_ms, 0);
  ck_assert_int_eq(cfg.binary_protocol, 1);
}
END_TEST

START_TEST(test_overflow_drop)
{
  ok("--overflow=drop --pair=a,b");
  ck_assert_int_eq(cfg.overflow, MCREPL__OVERFLOW_DROP);
}
END_TEST

static const struct {
  const char *s;
  uint64_t bytes;
} sizes[] = {
  {"4096", 4096},         {"4k", 4096},           {"4K", 4096},
  {"4kb", 4096},          {"4KiB", 4096},         {"64M", 64ull << 20},
  {"64mb", 64ull << 20},  {"64MiB", 64ull << 20}, {"1g", 1ull << 30},
  {"1GB", 1ull << 30},    {"1gib", 1ull << 30},   {"1024G", 1ull << 40},
  {"1073741824K", 1ull << 40}, {"0004k", 4096},
};

START_TEST(test_sizes)
{
  char s[64];

  snprintf(s, sizeof s, "--pair=a,b --queue-bytes=%s", sizes[_i].s);
  ok(s);
  ck_assert_uint_eq(cfg.queue_bytes, sizes[_i].bytes);
}
END_TEST

static const struct {
  const char *s;
  int on;
} flags[] = {
  {"", 1},        {"=yes", 1},  {"=YES", 1}, {"=1", 1},
  {"=true", 1},   {"=True", 1}, {"=no", 0},  {"=No", 0},
  {"=0", 0},      {"=false", 0}, {"=FALSE", 0},
};

START_TEST(test_binary_flag)
{
  char s[64];

  snprintf(s, sizeof s, "--pair=a,b --binary-protocol%s", flags[_i].s);
  ok(s);
  ck_assert_int_eq(cfg.binary_protocol, flags[_i].on);
}
END_TEST

START_TEST(test_case)
{
  ok("--PAIR=Host-A:1,host_b.example:2,VIP=Vip:3,WeIgHt=7 "
     "--Overflow=BLOCK --QUEUE-BYTES=1g --Binary-Protocol=TRUE "
     "--CONNECT-TIMEOUT=5 --Timeout=6 --Shutdown-Timeout=7 "
     "--RETRY-timeout=8 --backoff-MAX=9 --Batch-Max=10");
  /* Values keep their case; only names and keywords ignore it. */
  assert_addr(&cfg.pairs[0].master, "Host-A", 1, "Host-A:1");
  assert_addr(&cfg.pairs[0].slave, "host_b.example", 2,
              "host_b.example:2");
  assert_addr(&cfg.pairs[0].vip, "Vip", 3, "Vip:3");
  ck_assert_uint_eq(cfg.pairs[0].weight, 7);
  ck_assert_int_eq(cfg.overflow, MCREPL__OVERFLOW_BLOCK);
  ck_assert_uint_eq(cfg.queue_bytes, 1ull << 30);
  ck_assert_int_eq(cfg.binary_protocol, 1);
  ck_assert_int_eq(cfg.connect_timeout_ms, 5);
  ck_assert_int_eq(cfg.io_timeout_ms, 6);
  ck_assert_int_eq(cfg.shutdown_timeout_ms, 7);
  ck_assert_int_eq(cfg.retry_timeout_ms, 8);
  ck_assert_int_eq(cfg.backoff_max_ms, 9);
  ck_assert_int_eq(cfg.batch_max, 10);
}
END_TEST

START_TEST(test_ipv6)
{
  ok("--pair=[::1]:11212,[::1],vip=[2001:db8::1]:7 "
     "--pair=[fe80::1%eth0]:5,1.2.3.4:5");
  assert_addr(&cfg.pairs[0].master, "::1", 11212, "[::1]:11212");
  assert_addr(&cfg.pairs[0].slave, "::1", 11211, "[::1]:11211");
  assert_addr(&cfg.pairs[0].vip, "2001:db8::1", 7, "[2001:db8::1]:7");
  assert_addr(&cfg.pairs[1].master, "fe80::1%eth0", 5, "[fe80::1%eth0]:5");
  assert_addr(&cfg.pairs[1].slave, "1.2.3.4", 5, "1.2.3.4:5");
}
END_TEST

START_TEST(test_many_pairs)
{
  char s[8192];
  size_t i, n = 0;

  for (i = 0; i < 100; i++)
    n += (size_t)snprintf(s + n, sizeof s - n, "--pair=m%zu,s%zu ", i, i);
  ok(s);
  ck_assert_uint_eq(cfg.npairs, 100);
  assert_addr(&cfg.pairs[99].slave, "s99", 11211, "s99:11211");
}
END_TEST

/* Different zones are different links; a name is never an address. */
START_TEST(test_distinct_spellings)
{
  ok("--pair=[fe80::1%eth0],[fe80::1%eth1] --pair=localhost,127.0.0.1 "
     "--pair=[::ffff:192.0.2.1],[::192.0.2.1]");
  ck_assert_uint_eq(cfg.npairs, 3);
}
END_TEST

/* One more pair than the bound is refused, with the bound named. */
START_TEST(test_pairs_bounded)
{
  size_t cap = 1025 * 24, i, n = 0;
  char *s = malloc(cap);

  ck_assert_ptr_nonnull(s);
  for (i = 0; i < 1024; i++)
    n += (size_t)snprintf(s + n, cap - n, "--pair=m%zu,s%zu ", i, i);
  ok(s);
  ck_assert_uint_eq(cfg.npairs, 1024);
  mcrepl__config_free(&cfg);
  snprintf(s + n, cap - n, "--pair=m,s");
  /* Not bad(): its messages would quote the whole 24 KB string. */
  ck_assert_int_eq(mcrepl__config_parse(s, &cfg, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "--pair \"m,s\": too many pairs (at most 1024)")
                != NULL, "%s", err);
  ck_assert_ptr_null(cfg.pairs);
  free(s);
}
END_TEST

START_TEST(test_addr_parse)
{
  mcrepl__addr_t a;

  ck_assert_int_eq(mcrepl__addr_parse("h:12", 4, &a), 0);
  assert_addr(&a, "h", 12, "h:12");
  /* Only len bytes count. */
  ck_assert_int_eq(mcrepl__addr_parse("h:12xyz", 4, &a), 0);
  assert_addr(&a, "h", 12, "h:12");
  ck_assert_int_eq(mcrepl__addr_parse("[::]", 4, &a), 0);
  assert_addr(&a, "::", 11211, "[::]:11211");
  ck_assert_int_eq(mcrepl__addr_parse("", 0, &a), -1);
  ck_assert_int_eq(mcrepl__addr_parse(NULL, 0, &a), -1);
  ck_assert_int_eq(mcrepl__addr_parse("h", 1, NULL), -1);
  ck_assert_int_eq(mcrepl__addr_parse("h:", 2, &a), -1);
  ck_assert_int_eq(mcrepl__addr_parse("::1", 3, &a), -1);
  ck_assert_int_eq(mcrepl__addr_parse("[::1]x", 6, &a), -1);
  /* A failure leaves *a alone. */
  assert_addr(&a, "::", 11211, "[::]:11211");
}
END_TEST

START_TEST(test_host_limit)
{
  char s[700], host[300];

  /* A marker's key, "mcrepl:stale:" and the address, fits memcached's
   * 250 bytes. */
  memset(host, 'h', 231);
  host[231] = '\0';
  snprintf(s, sizeof s, "--pair=%s:65535,[%.40s]:1", host,
           "1111:2222:3333:4444:5555:6666:7777:8888");
  ok(s);
  ck_assert_uint_eq(strlen(cfg.pairs[0].master.host), 231);
  ck_assert_uint_eq(strlen(cfg.pairs[0].master.text), 237);
  mcrepl__config_free(&cfg);
  memset(host, 'h', 232);
  host[232] = '\0';
  snprintf(s, sizeof s, "--pair=a,b,vip=%s:65535", host);
  bad(s, "--pair \"a,b", "address too long");
  snprintf(s, sizeof s, "--pair=a,b,vip=%s:6553", host);
  ok(s);
  mcrepl__config_free(&cfg);
  memset(host, 'h', 256);
  host[256] = '\0';
  snprintf(s, sizeof s, "--pair=%s,b", host);
  bad(s, "--pair \"hhhh", "host too long");
}
END_TEST

/* The smallest share that still gets points is accepted: 1 beside 79
 * is 4 points of 320 (the float formula's boundary, as libmemcached's). */
START_TEST(test_small_weight_with_a_share)
{
  ok("--pair=a,b,weight=1 --pair=c,d,weight=79");
  mcrepl__config_free(&cfg);
  bad("--pair=a,b,weight=1 --pair=c,d,weight=80", "a:11211,...,weight=1", NULL);
}
END_TEST

/* Each refused string, and what its message must name. */
static const struct {
  const char *s, *want, *want2;
} errors[] = {
  /* No pair at all. */
  {"", "no --pair given", NULL},
  {" \t\r\n\v\f ", "no --pair given", NULL},
  {"--queue-bytes=1M", "no --pair given", NULL},
  /* Tokens and option names. */
  {"--foo=1 --pair=a,b", "unknown option \"--foo=1\"", NULL},
  {"--pair=a,b --", "unknown option \"--\"", NULL},
  {"--pair=a,b --=1", "unknown option \"--=1\"", NULL},
  {"--pair=a,b --pairs=c,d", "unknown option \"--pairs=c,d\"", NULL},
  {"--pair=a,b --time-out=5", "\"--time-out=5\"", NULL},
  {"pair=a,b", "\"pair=a,b\"", "--"},
  {"--pair=a,b -timeout=5", "\"-timeout=5\"", NULL},
  {"--pair=a,b -", "\"-\"", NULL},
  {"--pair=a,b \x01\x7f", "\"??\"", NULL},
  /* Missing values. */
  {"--pair", "\"--pair\"", "needs a value"},
  {"--pair=a,b --timeout", "\"--timeout\"", "needs a value"},
  {"--pair=a,b --overflow", "\"--overflow\"", "needs a value"},
  {"--pair=a,b --queue-bytes", "\"--queue-bytes\"", "needs a value"},
  /* Repeated options. */
  {"--pair=a,b --timeout=5 --timeout=5", "\"--timeout=5\"", "more than"},
  {"--pair=a,b --timeout=5 --TIMEOUT=6", "\"--TIMEOUT=6\"", "more than"},
  {"--pair=a,b --overflow=drop --overflow=block", "\"--overflow=block\"",
   NULL},
  {"--pair=a,b --binary-protocol --binary-protocol=no",
   "\"--binary-protocol=no\"", "more than"},
  {"--queue-bytes=1M --pair=a,b --queue-bytes=1M", "\"--queue-bytes=1M\"",
   "more than"},
  /* A share of the ring too small for one point: no key would go there. */
  {"--pair=a,b,weight=1 --pair=c,d,weight=1000",
   "--pair a:11211,...,weight=1 gets no key", "total weight of 1001"},
  {"--pair=a,b --pair=c,d --pair=e,f,weight=100000", "a:11211,...,weight=1",
   NULL},
  /* --pair shapes. */
  {"--pair=", "--pair \"\": needs MASTER,SLAVE", NULL},
  {"--pair=a:1", "--pair \"a:1\": needs MASTER,SLAVE", NULL},
  {"--PAIR=a:1", "--PAIR \"a:1\": needs MASTER,SLAVE", NULL},
  {"--pair=a,", "--pair \"a,\": empty part", NULL},
  {"--pair=,b", "--pair \",b\": empty part", NULL},
  {"--pair=a,,b", "--pair \"a,,b\": empty part", NULL},
  {"--pair=a,b,", "--pair \"a,b,\": empty part", NULL},
  {"--pair=a,b,c", "--pair \"a,b,c\"", "part \"c\": unknown"},
  {"--pair=a,b,foo=1", "--pair \"a,b,foo=1\"", "part \"foo=1\": unknown"},
  {"--pair=a,b,vip", "part \"vip\": unknown", NULL},
  {"--pair=a,b,=1", "part \"=1\": unknown", NULL},
  {"--pair=a,b,vip=c,vip=d", "part \"vip=d\": vip= given twice", NULL},
  {"--pair=a,b,weight=1,WEIGHT=2", "part \"WEIGHT=2\": weight= given twice",
   NULL},
  {"--pair=a,b,vip=", "--pair \"a,b,vip=\": vip \"\": empty address", NULL},
  {"--pair=a,b,weight=", "part \"weight=\": not a number", NULL},
  {"--pair=a,b,weight=0", "part \"weight=0\": out of range", NULL},
  {"--pair=a,b,weight=1000001", "part \"weight=1000001\": out of", NULL},
  {"--pair=a,b,weight=-1", "part \"weight=-1\": not a number", NULL},
  {"--pair=a,b,weight=+1", "part \"weight=+1\": not a number", NULL},
  {"--pair=a,b,weight=1x", "part \"weight=1x\": not a number", NULL},
  {"--pair=a,b,weight=99999999999999999999999", "\"weight=9999", "range"},
  /* Equal or shared nodes. */
  {"--pair=a,a", "--pair \"a,a\": master and slave are the same", NULL},
  {"--pair=a:1,A:1", "--pair \"a:1,A:1\": master and slave", NULL},
  {"--pair=a,a:11211", "--pair \"a,a:11211\": master and slave", NULL},
  {"--pair=[::1],[0:0::1]:11211", "--pair \"[::1],[0:0::1]:11211\"",
   "same node"},
  {"--pair=[::ffff:127.0.0.1],127.0.0.1", "master and slave are the same",
   NULL},
  {"--pair=[::1]:1,[::1%lo]:1", "master and slave are the same", NULL},
  /* The resolver reads IPv4 the inet_aton way: these are 127.0.0.1. */
  {"--pair=127.0.0.1,127.1", "master and slave are the same", NULL},
  {"--pair=127.0.0.1:1,0x7f.1:1", "master and slave are the same", NULL},
  {"--pair=0177.0.0.1,2130706433", "master and slave are the same", NULL},
  {"--pair=[::ffff:127.0.0.1],127.1", "master and slave are the same", NULL},
  {"--pair=a,127.0.0.1 --pair=c,127.1", "\"127.1:11211\" is already", NULL},
  {"--pair=[fe80::1%eth0],[fe80::1%ETH0]", "master and slave are the", NULL},
  {"--pair=a,b --pair=[::ffff:192.0.2.1],[::ffff:c000:201]:11211", "same",
   NULL},
  {"--pair=a,b,vip=a", "--pair \"a,b,vip=a\": vip is the master", NULL},
  {"--pair=a,b --pair=a,b", "--pair \"a,b\": \"a:11211\" is already", NULL},
  {"--pair=a,b --pair=c,b", "--pair \"c,b\": \"b:11211\" is already", NULL},
  {"--pair=a,b,vip=v --pair=c,v", "--pair \"c,v\": \"v:11211\" is", NULL},
  {"--pair=a,b,vip=v --pair=c,d,vip=v", "\"c,d,vip=v\": \"v:11211\"", NULL},
  {"--pair=a,b --pair=c,d,vip=a", "\"c,d,vip=a\": \"a:11211\"", NULL},
  /* Addresses. */
  {"--pair=a:0,b", "master \"a:0\": port out of range", NULL},
  {"--pair=a,b:65536", "slave \"b:65536\": port out of range", NULL},
  {"--pair=a,b:99999999999999999999999", "slave \"b:9999", "port out"},
  {"--pair=a:,b", "master \"a:\": empty port", NULL},
  {"--pair=a:x,b", "master \"a:x\": port is not a number", NULL},
  {"--pair=a:-1,b", "master \"a:-1\": port is not a number", NULL},
  {"--pair=a:1 2,b", "--pair \"a:1\": needs MASTER,SLAVE", NULL},
  {"--pair=:1,b", "master \":1\": empty host", NULL},
  {"--pair=a,b,vip=:1", "vip \":1\": empty host", NULL},
  {"--pair=a/b,c", "master \"a/b\": bad character in host", NULL},
  {"--pair=a@b,c", "master \"a@b\": bad character", NULL},
  {"--pair=::1,b", "master \"::1\": IPv6 addresses need [brackets]", NULL},
  {"--pair=a,::1:5", "slave \"::1:5\": IPv6", NULL},
  {"--pair=[::1,b", "master \"[::1\": missing ']'", NULL},
  {"--pair=[::1]x,b", "master \"[::1]x\": junk after ']'", NULL},
  {"--pair=[]:1,b", "master \"[]:1\": empty host", NULL},
  {"--pair=[zz::1],b", "master \"[zz::1]\": bad IPv6 address", NULL},
  {"--pair=[1.2.3.4],b", "master \"[1.2.3.4]\": bad IPv6 address", NULL},
  {"--pair=[fe80::1%],b", "master \"[fe80::1%]\": bad IPv6 zone", NULL},
  {"--pair=[fe80::1%a/b],b", "\"[fe80::1%a/b]\": bad IPv6 zone", NULL},
  /* Sizes. */
  {"--pair=a,b --queue-bytes=12X", "--queue-bytes \"12X\": not a size",
   NULL},
  {"--pair=a,b --queue-bytes=", "--queue-bytes \"\": not a size", NULL},
  {"--pair=a,b --queue-bytes=M", "--queue-bytes \"M\": not a size", NULL},
  {"--pair=a,b --queue-bytes=-1M", "\"-1M\": not a size", NULL},
  {"--pair=a,b --queue-bytes=1.5G", "\"1.5G\": not a size", NULL},
  {"--pair=a,b --queue-bytes=1MM", "\"1MM\": not a size", NULL},
  {"--pair=a,b --queue-bytes=1T", "\"1T\": not a size", NULL},
  {"--pair=a,b --queue-bytes=4095", "\"4095\": out of range", NULL},
  {"--pair=a,b --queue-bytes=3k", "\"3k\": out of range", NULL},
  {"--pair=a,b --queue-bytes=0", "\"0\": out of range", NULL},
  {"--pair=a,b --queue-bytes=1025G", "\"1025G\": out of range", NULL},
  {"--pair=a,b --queue-bytes=17179869184G", "\"17179869184G\": out", NULL},
  {"--pair=a,b --queue-bytes=18446744073709551616", "\"1844674407370955",
   "out of range"},
  /* Keywords. */
  {"--pair=a,b --overflow=wait", "--overflow \"wait\": expected", NULL},
  {"--pair=a,b --overflow=", "--overflow \"\": expected", NULL},
  {"--pair=a,b --binary-protocol=", "--binary-protocol \"\": expected",
   NULL},
  {"--pair=a,b --binary-protocol=on", "--binary-protocol \"on\"", NULL},
  /* Integers. */
  {"--pair=a,b --timeout=0", "--timeout \"0\": out of range 1..3600000",
   NULL},
  {"--pair=a,b --pace-timeout=-1", "--pace-timeout \"-1\"", NULL},
  {"--pair=a,b --pace-timeout=3600001", "--pace-timeout \"3600001", NULL},
  {"--pair=a,b --timeout=3600001", "--timeout \"3600001\": out of range",
   NULL},
  {"--pair=a,b --timeout=-1", "--timeout \"-1\": not a number", NULL},
  {"--pair=a,b --timeout=+1", "--timeout \"+1\": not a number", NULL},
  {"--pair=a,b --timeout=", "--timeout \"\": not a number", NULL},
  {"--pair=a,b --timeout=1s", "--timeout \"1s\": not a number", NULL},
  {"--pair=a,b --timeout=0x10", "--timeout \"0x10\": not a number", NULL},
  {"--pair=a,b --timeout=99999999999999999999999",
   "--timeout \"99999999999999999999999\": out of range", NULL},
  {"--pair=a,b --timeout=4294967297", "\"4294967297\": out of range", NULL},
  {"--pair=a,b --connect-timeout=0", "--connect-timeout \"0\": out", NULL},
  {"--pair=a,b --shutdown-timeout=-1", "--shutdown-timeout \"-1\"", NULL},
  {"--pair=a,b --shutdown-timeout=3600001", "--shutdown-timeout \"3600001",
   NULL},
  {"--pair=a,b --retry-timeout=0", "--retry-timeout \"0\": out", NULL},
  {"--pair=a,b --backoff-max=0", "--backoff-max \"0\": out", NULL},
  {"--pair=a,b --batch-max=0", "--batch-max \"0\": out of range 1..65536",
   NULL},
  {"--pair=a,b --batch-max=65537", "--batch-max \"65537\": out", NULL},
  /* An error after good pairs frees them (valgrind checks). */
  {"--pair=a,b --pair=c,d --pair=e,f --pair=g,h --pair=i,j --bogus",
   "unknown option \"--bogus\"", NULL},
};

START_TEST(test_errors)
{
  bad(errors[_i].s, errors[_i].want, errors[_i].want2);
}
END_TEST

/* Each entry point takes the options that mean something to it and
 * refuses the others, naming where they belong: a "--read-only" handle
 * that still writes, or a check that ignores its --pair, would hide a
 * mistake. */
static const struct {
  mcrepl__config_use_t use;
  const char *s, *want;
} misplaced[] = {
  {MCREPL__FOR_CLIENT, "--pair=a,b --read-only",
   "\"--read-only\": an option of mcrepl_check, not of mcrepl_create"},
  {MCREPL__FOR_CLIENT, "--pair=a,b --resync-flush=no",
   "an option of mcrepl_resync, not of mcrepl_create"},
  {MCREPL__FOR_CLIENT, "--resync-rate=5 --pair=a,b",
   "\"--resync-rate=5\": an option of mcrepl_resync"},
  {MCREPL__FOR_CHECK, "--timeout=5 --pair=a,b",
   "\"--pair=a,b\": an option of mcrepl_create, not of mcrepl_check"},
  {MCREPL__FOR_CHECK, "--resync-flush",
   "an option of mcrepl_resync, not of mcrepl_check"},
  {MCREPL__FOR_CHECK, "--binary-protocol", "of mcrepl_create, not of"},
  {MCREPL__FOR_RESYNC, "--queue-bytes=4096",
   "an option of mcrepl_create, not of mcrepl_resync"},
  {MCREPL__FOR_RESYNC, "--READ-ONLY",
   "an option of mcrepl_check, not of mcrepl_resync"},
  {MCREPL__FOR_RESYNC, "--batch-delay=5", "of mcrepl_create, not of"},
};

START_TEST(test_misplaced_option)
{
  int rc;

  memset(err, 'x', sizeof err);
  rc = mcrepl__config_parse_for(misplaced[_i].s, &cfg, err, sizeof err,
                                misplaced[_i].use);
  ck_assert_msg(rc == -1, "accepted \"%s\"", misplaced[_i].s);
  ck_assert_msg(strstr(err, misplaced[_i].want) != NULL, "\"%s\": %s",
                misplaced[_i].s, err);
  ck_assert_ptr_null(cfg.pairs);
}
END_TEST

static void ok_for(const char *s, mcrepl__config_use_t use)
{
  memset(err, 'x', sizeof err);
  ck_assert_msg(mcrepl__config_parse_for(s, &cfg, err, sizeof err, use) ==
                    0, "refused \"%s\": %s", s, err);
  ck_assert_str_eq(err, "");
  ck_assert_uint_eq(cfg.npairs, 0);
}

START_TEST(test_options_of_check_and_resync)
{
  ok_for(NULL, MCREPL__FOR_CHECK);
  ok_for("", MCREPL__FOR_RESYNC);
  ok_for("--timeout=5 --connect-timeout=7 --read-only", MCREPL__FOR_CHECK);
  ck_assert_int_eq(cfg.io_timeout_ms, 5);
  ck_assert_int_eq(cfg.connect_timeout_ms, 7);
  ck_assert_int_eq(cfg.read_only, 1);
  ok_for("--timeout=6 --connect-timeout=8 --resync-rate=0 --resync-flush",
         MCREPL__FOR_RESYNC);
  ck_assert_int_eq(cfg.io_timeout_ms, 6);
  ck_assert_int_eq(cfg.connect_timeout_ms, 8);
  ck_assert_int_eq(cfg.resync_rate, 0);
  ck_assert_int_eq(cfg.resync_flush, 1);
  ck_assert_int_eq(cfg.resync_if_needed, 0);
  ok_for("--resync-if-needed", MCREPL__FOR_RESYNC);
  ck_assert_int_eq(cfg.resync_if_needed, 1);
  bad("--timeout=5", "no --pair given", NULL);
}
END_TEST

START_TEST(test_null_input)
{
  ck_assert_int_eq(mcrepl__config_parse(NULL, &cfg, err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "no --pair given"));
  ck_assert_int_eq(mcrepl__config_parse("--pair=a,b", NULL, err, sizeof err),
                   -1);
  ck_assert_int_eq(mcrepl__config_parse("--pair=a,b", NULL, NULL, 0), -1);
}
END_TEST

START_TEST(test_null_errbuf)
{
  ck_assert_int_eq(mcrepl__config_parse("--bogus", &cfg, NULL, 0), -1);
  ck_assert_int_eq(mcrepl__config_parse("--bogus", &cfg, NULL, 100), -1);
  ck_assert_int_eq(mcrepl__config_parse("--pair=a,b", &cfg, NULL, 0), 0);
}
END_TEST

START_TEST(test_truncation)
{
  const char *s = "--pair=a,b --frobnicate=1";
  char full[ERRLEN], tiny[9];

  ck_assert_int_eq(mcrepl__config_parse(s, &cfg, full, sizeof full), -1);
  ck_assert_uint_gt(strlen(full), sizeof tiny);
  memset(tiny, 'x', sizeof tiny);
  ck_assert_int_eq(mcrepl__config_parse(s, &cfg, tiny, sizeof tiny), -1);
  ck_assert_uint_eq(strlen(tiny), sizeof tiny - 1);
  ck_assert_int_eq(strncmp(tiny, full, sizeof tiny - 1), 0);
  /* errlen 1 leaves room for the terminator only. */
  tiny[0] = 'x';
  ck_assert_int_eq(mcrepl__config_parse(s, &cfg, tiny, 1), -1);
  ck_assert_int_eq(tiny[0], '\0');
  /* errlen 0: nothing written at all. */
  memset(tiny, 'x', sizeof tiny);
  ck_assert_int_eq(mcrepl__config_parse(s, &cfg, tiny, 0), -1);
  ck_assert_int_eq(tiny[0], 'x');
}
END_TEST

START_TEST(test_long_token_quoted)
{
  char s[4096];
  size_t n;

  /* A huge bad token is echoed in part only, and stays printable. */
  n = (size_t)snprintf(s, sizeof s, "--pair=a,b --");
  memset(s + n, 'z', 3000);
  s[n + 3000] = '\001';
  s[n + 3001] = '\0';
  bad(s, "unknown option \"--zzzz", "...\"");
  ck_assert_uint_lt(strlen(err), 200);
}
END_TEST

START_TEST(test_free_twice)
{
  ok("--pair=a,b");
  mcrepl__config_free(&cfg);
  mcrepl__config_free(&cfg);
  mcrepl__config_free(NULL);
  ck_assert_ptr_null(cfg.pairs);
}
END_TEST

/* Every prefix of a good string, and byte-flipped copies of it, must be
 * accepted or refused cleanly (ASan and valgrind watch the rest). */
START_TEST(test_prefixes_and_noise)
{
  static const char good[] =
    "--pair=[::1]:1,b:2,vip=[fe80::1%lo]:3,weight=9 --queue-bytes=8KiB "
    "--overflow=block --batch-max=7 --binary-protocol=no --timeout=5";
  char s[sizeof good];
  size_t i;
  unsigned seed = 12345;

  for (i = 0; i < sizeof good; i++) {
    memcpy(s, good, i);
    s[i] = '\0';
    if (mcrepl__config_parse(s, &cfg, err, sizeof err) == 0)
      mcrepl__config_free(&cfg);
  }
  for (i = 0; i < 20000; i++) {
    memcpy(s, good, sizeof good);
    seed = seed * 1103515245u + 12345u;
    s[(seed >> 8) % (sizeof good - 1)] = (char)(seed >> 20);
    if (mcrepl__config_parse(s, &cfg, err, sizeof err) == 0)
      mcrepl__config_free(&cfg);
    else
      ck_assert_ptr_null(cfg.pairs);
  }
}
END_TEST

static Suite *config_suite(void)
{
  Suite *s = suite_create("config");
  TCase *tc = tcase_create("parse");

  tcase_add_checked_fixture(tc, NULL, teardown);
  tcase_add_test(tc, test_defaults);
  tcase_add_test(tc, test_example);
  tcase_add_test(tc, test_small_weight_with_a_share);
  tcase_add_test(tc, test_every_option);
  tcase_add_test(tc, test_overflow_drop);
  tcase_add_loop_test(tc, test_sizes, 0,
                      (int)(sizeof sizes / sizeof sizes[0]));
  tcase_add_loop_test(tc, test_binary_flag, 0,
                      (int)(sizeof flags / sizeof flags[0]));
  tcase_add_test(tc, test_case);
  tcase_add_test(tc, test_ipv6);
  tcase_add_test(tc, test_many_pairs);
  tcase_add_test(tc, test_distinct_spellings);
  tcase_add_test(tc, test_pairs_bounded);
  tcase_add_test(tc, test_addr_parse);
  tcase_add_test(tc, test_host_limit);
  tcase_add_loop_test(tc, test_errors, 0,
                      (int)(sizeof errors / sizeof errors[0]));
  tcase_add_loop_test(tc, test_misplaced_option, 0,
                      sizeof misplaced / sizeof misplaced[0]);
  tcase_add_test(tc, test_options_of_check_and_resync);
  tcase_add_test(tc, test_null_input);
  tcase_add_test(tc, test_null_errbuf);
  tcase_add_test(tc, test_truncation);
  tcase_add_test(tc, test_long_token_quoted);
  tcase_add_test(tc, test_free_twice);
  tcase_add_test(tc, test_prefixes_and_noise);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  return run_suite(config_suite());
}
