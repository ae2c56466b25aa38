/* Parser for the configuration string: whitespace-separated
 * libmemcached-style --OPTION=VALUE tokens (see config.h).
 *
 * The string comes from users and is fuzzed, so the parser never
 * recurses, never copies without a bound, echoes at most QUOTE_MAX bytes
 * of user text (made printable) into messages, and frees everything it
 * allocated when it refuses the string. */
#include "config.h"
#include "ring.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_PORT 11211
#define QUOTE_MAX 80 /* bytes of user text echoed in one message */
#define QUOTE_BUF (QUOTE_MAX + 4)
#define QUEUE_MIN 4096ull
#define QUEUE_MAX (1ull << 40)
#define DEFAULT_QUEUE (64ull << 20)
#define MS_MAX 3600000
#define BATCH_MAX 65536
#define WEIGHT_MAX 1000000
#define RATE_MAX 100000000

/* Where messages go; buf may be NULL and len 0. */
typedef struct {
  char *buf;
  size_t len;
} err_t;

/* One token, split as --NAME[=VALUE]. */
typedef struct {
  const char *tok, *name, *val;
  size_t toklen, namelen, vallen;
  int has_val;
} token_t;

typedef enum { K_PAIR, K_SIZE, K_OVERFLOW, K_INT, K_FLAG } kind_t;

typedef struct {
  const char *name; /* lower case, without the "--" */
  kind_t kind;
  unsigned uses; /* the mcrepl__config_use_t bits that take it */
  size_t off; /* K_INT, K_FLAG: offset of the field in mcrepl__config_t */
  int min, max;
} opt_t;

#define CLIENT MCREPL__FOR_CLIENT
#define CHECK MCREPL__FOR_CHECK
#define RESYNC MCREPL__FOR_RESYNC
#define ALL (CLIENT | CHECK | RESYNC)
#define INT_OPT(n, uses, field, lo, hi)                                    \
  {n, K_INT, uses, offsetof(mcrepl__config_t, field), lo, hi}
#define FLAG_OPT(n, uses, field)                                           \
  {n, K_FLAG, uses, offsetof(mcrepl__config_t, field), 0, 0}

static const opt_t opts[] = {
  {"pair", K_PAIR, CLIENT, 0, 0, 0},
  {"queue-bytes", K_SIZE, CLIENT, 0, 0, 0},
  {"overflow", K_OVERFLOW, CLIENT, 0, 0, 0},
  INT_OPT("pace-timeout", CLIENT, pace_timeout_ms, 0, MS_MAX),
  INT_OPT("connect-timeout", ALL, connect_timeout_ms, 1, MS_MAX),
  INT_OPT("timeout", ALL, io_timeout_ms, 1, MS_MAX),
  INT_OPT("shutdown-timeout", CLIENT, shutdown_timeout_ms, 0, MS_MAX),
  INT_OPT("retry-timeout", CLIENT, retry_timeout_ms, 1, MS_MAX),
  INT_OPT("backoff-max", CLIENT, backoff_max_ms, 1, MS_MAX),
  INT_OPT("dead-timeout", CLIENT, dead_timeout_ms, 1, MS_MAX),
  INT_OPT("batch-max", CLIENT, batch_max, 1, BATCH_MAX),
  INT_OPT("batch-delay", CLIENT, batch_delay_us, 0, 1000000),
  INT_OPT("identity-interval", CLIENT, identity_interval_ms, 1, MS_MAX),
  INT_OPT("pool-idle-timeout", CLIENT, pool_idle_ms, 1, MS_MAX),
  INT_OPT("resync-rate", RESYNC, resync_rate, 0, RATE_MAX),
  FLAG_OPT("binary-protocol", CLIENT, binary_protocol),
  FLAG_OPT("resync-flush", RESYNC, resync_flush),
  FLAG_OPT("resync-if-needed", RESYNC, resync_if_needed),
  FLAG_OPT("read-only", CHECK, read_only),
  FLAG_OPT("read-failover", CLIENT, read_failover),
};

#define NOPTS (sizeof opts / sizeof opts[0])

/* State of one parse. */
typedef struct {
  mcrepl__config_t *c;
  err_t *e;
  mcrepl__config_use_t use;
  size_t cap; /* allocated length of c->pairs */
  unsigned char seen[NOPTS];
} parse_t;

static int config_error(err_t *e, const char *fmt, ...)
  __attribute__((format(printf, 2, 3)));

static int config_error(err_t *e, const char *fmt, ...)
{
  va_list ap;

  if (e->buf == NULL || e->len == 0)
    return -1;
  /* vsnprintf truncates and always terminates when len > 0. */
  va_start(ap, fmt);
  vsnprintf(e->buf, e->len, fmt, ap);
  va_end(ap);
  return -1;
}

/* Copies user text for a message into q (QUOTE_BUF bytes): bounded, and
 * with control and non-ASCII bytes replaced by '?' so that the message
 * stays one printable line. */
static const char *quote(char *q, const char *s, size_t n)
{
  size_t i, m = n > QUOTE_MAX ? QUOTE_MAX : n;

  for (i = 0; i < m; i++) {
    unsigned char ch = (unsigned char)s[i];
    q[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
  }
  if (m < n) {
    memcpy(q + m, "...", 3);
    m += 3;
  }
  q[m] = '\0';
  return q;
}

/* ASCII only: the locale must not change what the string means. */
static int lower(int ch)
{
  return ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch;
}

/* Whether s[0, n) equals the whole literal, ignoring ASCII case. */
static int ieq(const char *s, size_t n, const char *lit)
{
  size_t i;

  for (i = 0; i < n; i++)
    if (lit[i] == '\0' ||
        lower((unsigned char)s[i]) != lower((unsigned char)lit[i]))
      return 0;
  return lit[n] == '\0';
}

static int is_digit(int ch)
{
  return ch >= '0' && ch <= '9';
}

static int is_alnum(int ch)
{
  return is_digit(ch) || (lower(ch) >= 'a' && lower(ch) <= 'z');
}

/* Plain decimal digits only: no sign, space or base prefix, unlike
 * strtoull. Returns 0, -1 when not a number, -2 on overflow. */
static int parse_u64(const char *s, size_t n, uint64_t *out)
{
  uint64_t v = 0;
  size_t i;

  if (n == 0)
    return -1;
  for (i = 0; i < n; i++) {
    unsigned d = (unsigned)((unsigned char)s[i] - '0');
    if (d > 9)
      return -1;
    if (v > (UINT64_MAX - d) / 10)
      return -2;
    v = v * 10 + d;
  }
  *out = v;
  return 0;
}

/* Addresses --------------------------------------------------------------*/

/* Host names: letters, digits, '-', '.', '_'; anything else (notably ':'
 * of an unbracketed IPv6 address) would be ambiguous or a typo. */
static const char *check_name(const char *h, size_t n)
{
  size_t i;

  for (i = 0; i < n; i++)
    if (!is_alnum((unsigned char)h[i]) && h[i] != '-' && h[i] != '.' &&
        h[i] != '_')
      return "bad character in host";
  return NULL;
}

/* An IPv6 literal, optionally with a %zone, that inet_pton accepts. */
static const char *check_v6(const char *h, size_t n)
{
  char buf[MCREPL__HOST_MAX];
  unsigned char bin[16];
  char *pct;

  memcpy(buf, h, n); /* n < MCREPL__HOST_MAX was checked */
  buf[n] = '\0';
  pct = memchr(buf, '%', n);
  if (pct != NULL) {
    if (pct[1] == '\0' || check_name(pct + 1, strlen(pct + 1)) != NULL)
      return "bad IPv6 zone";
    *pct = '\0';
  }
  if (inet_pton(AF_INET6, buf, bin) != 1)
    return "bad IPv6 address";
  return NULL;
}

/* rest is "" or ":PORT". */
static const char *parse_port(const char *rest, size_t n, uint16_t *port)
{
  uint64_t v = 0;
  int rc;

  if (n == 0) {
    *port = DEFAULT_PORT;
    return NULL;
  }
  if (rest[0] != ':')
    return "junk after ']'";
  if (n == 1)
    return "empty port";
  rc = parse_u64(rest + 1, n - 1, &v);
  if (rc == -1)
    return "port is not a number";
  if (rc == -2 || v < 1 || v > 65535)
    return "port out of range 1..65535";
  *port = (uint16_t)v;
  return NULL;
}

/* Splits s into host and rest (":PORT" or ""), checking the host. */
static const char *split_addr(const char *s, size_t len, const char **host,
                              size_t *hlen, const char **rest)
{
  const char *end = s + len, *colon;

  if (s[0] == '[') {
    const char *close = memchr(s, ']', len);
    if (close == NULL)
      return "missing ']'";
    *host = s + 1;
    *hlen = (size_t)(close - *host);
    *rest = close + 1;
  } else {
    colon = memchr(s, ':', len);
    *host = s;
    *rest = colon != NULL ? colon : end;
    *hlen = (size_t)(*rest - s);
    if (colon != NULL && memchr(colon + 1, ':', (size_t)(end - colon - 1)))
      return "IPv6 addresses need [brackets]";
  }
  if (*hlen == 0)
    return "empty host";
  if (*hlen >= MCREPL__HOST_MAX)
    return "host too long";
  return s[0] == '[' ? check_v6(*host, *hlen) : check_name(*host, *hlen);
}

/* Parses into *a, leaving it alone on failure; returns NULL or why not. */
static const char *addr_parse(const char *s, size_t len, mcrepl__addr_t *a)
{
  mcrepl__addr_t tmp;
  const char *host, *rest, *why;
  size_t hlen;

  if (len == 0)
    return "empty address";
  why = split_addr(s, len, &host, &hlen, &rest);
  if (why == NULL)
    why = parse_port(rest, (size_t)(s + len - rest), &tmp.port);
  if (why != NULL)
    return why;
  memcpy(tmp.host, host, hlen);
  tmp.host[hlen] = '\0';
  if (snprintf(tmp.text, sizeof tmp.text, s[0] == '[' ? "[%s]:%u" : "%s:%u",
               tmp.host, (unsigned)tmp.port) > MCREPL__ADDR_TEXT_MAX)
    return "address too long (at most 237 characters with its port)";
  *a = tmp;
  return NULL;
}

int mcrepl__addr_parse(const char *s, size_t len, mcrepl__addr_t *a)
{
  if (s == NULL || a == NULL)
    return -1;
  return addr_parse(s, len, a) == NULL ? 0 : -1;
}

/* An IP literal as 16 bytes (IPv4 as its IPv4-mapped IPv6 address, so
 * "::ffff:127.0.0.1" is "127.0.0.1") and its zone ("%eth0", or ""), or
 * 0 when host is a name. IPv4 is read with inet_aton, as getaddrinfo
 * reads it before libmemcached connects: "127.1", "0x7f.1" and
 * "2130706433" all reach 127.0.0.1. Hosts hold no blanks (check_name), so
 * inet_aton's leniency after a blank never applies. */
static int ip_bytes(const char *host, unsigned char out[16],
                    const char **zone)
{
  char buf[MCREPL__HOST_MAX];
  struct in_addr v4;
  const char *pct = strchr(host, '%');
  size_t n = pct != NULL ? (size_t)(pct - host) : strlen(host);

  *zone = pct != NULL ? pct : "";
  memcpy(buf, host, n); /* n < MCREPL__HOST_MAX: host is an addr's */
  buf[n] = '\0';
  if (inet_pton(AF_INET6, buf, out) == 1)
    return 1;
  if (pct != NULL || inet_aton(buf, &v4) == 0)
    return 0;
  memcpy(out + 12, &v4, 4);
  memset(out, 0, 10);
  out[10] = out[11] = 0xff;
  return 1;
}

/* Same node: same port, and same address when both are IP literals
 * (so "[::1]" matches "[0:0::1]", "[::ffff:192.0.2.1]" "192.0.2.1"; two
 * zones must agree, a missing zone agrees with any), else
 * host names equal ignoring case. Names are not resolved: "localhost"
 * and "127.0.0.1" differ here. */
int mcrepl__addr_same(const mcrepl__addr_t *a, const mcrepl__addr_t *b)
{
  unsigned char x[16], y[16];
  const char *za, *zb;
  int la, lb;

  if (a->port != b->port)
    return 0;
  la = ip_bytes(a->host, x, &za);
  lb = ip_bytes(b->host, y, &zb);
  if (la && lb)
    return memcmp(x, y, 16) == 0 &&
           (!*za || !*zb || ieq(za, strlen(za), zb));
  return !la && !lb && ieq(a->host, strlen(a->host), b->host);
}

/* --pair -----------------------------------------------------------------*/

/* "--name "VALUE": DETAIL", the option spelt as the user wrote it (it
 * matched a known name, so it is short and printable). */
static int value_fail(const parse_t *ps, const token_t *t, const char *detail)
{
  char q[QUOTE_BUF];

  return config_error(ps->e, "%.*s \"%s\": %s", (int)(t->namelen + 2),
                      t->tok, quote(q, t->val, t->vallen), detail);
}

/* Same, with the offending part quoted: "--pair "V": WHAT "PART": WHY". */
static int part_fail(const parse_t *ps, const token_t *t, const char *what,
                     const char *part, size_t n, const char *why)
{
  char q[QUOTE_BUF], detail[2 * QUOTE_BUF];

  snprintf(detail, sizeof detail, "%s \"%s\": %s", what,
           quote(q, part, n), why);
  return value_fail(ps, t, detail);
}

static int pair_addr(const parse_t *ps, const token_t *t, const char *what,
                     const char *s, size_t n, mcrepl__addr_t *a)
{
  const char *why = addr_parse(s, n, a);

  return why == NULL ? 0 : part_fail(ps, t, what, s, n, why);
}

static int pair_weight(const parse_t *ps, const token_t *t, const char *s,
                       size_t n, uint32_t *w)
{
  uint64_t v = 0;
  const char *v0 = s + sizeof "weight=" - 1;
  size_t vn = n - (sizeof "weight=" - 1);
  int rc = parse_u64(v0, vn, &v);

  if (rc == -1)
    return part_fail(ps, t, "part", s, n, "not a number");
  if (rc == -2 || v < 1 || v > WEIGHT_MAX)
    return part_fail(ps, t, "part", s, n, "out of range 1..1000000");
  *w = (uint32_t)v;
  return 0;
}

/* Part i of a --pair value: MASTER, SLAVE, then vip= and weight=. */
static int pair_part(const parse_t *ps, const token_t *t,
                     mcrepl__pair_conf_t *p, size_t i, const char *s,
                     size_t n, int *seen_weight)
{
  const char *eq;

  if (i == 0)
    return pair_addr(ps, t, "master", s, n, &p->master);
  if (i == 1)
    return pair_addr(ps, t, "slave", s, n, &p->slave);
  eq = memchr(s, '=', n);
  if (eq != NULL && ieq(s, (size_t)(eq - s), "vip")) {
    if (p->has_vip)
      return part_fail(ps, t, "part", s, n, "vip= given twice");
    p->has_vip = 1;
    return pair_addr(ps, t, "vip", eq + 1, (size_t)(s + n - eq - 1),
                     &p->vip);
  }
  if (eq != NULL && ieq(s, (size_t)(eq - s), "weight")) {
    if (*seen_weight)
      return part_fail(ps, t, "part", s, n, "weight= given twice");
    *seen_weight = 1;
    return pair_weight(ps, t, s, n, &p->weight);
  }
  return part_fail(ps, t, "part", s, n,
                   "unknown (expected vip=HOST:PORT or weight=N)");
}

/* Splits the value at commas; no part may be empty. */
static int pair_split(const parse_t *ps, const token_t *t,
                      mcrepl__pair_conf_t *p)
{
  const char *s = t->val, *end = t->val + t->vallen, *comma;
  size_t i, n;
  int seen_weight = 0;

  for (i = 0;; i++) {
    comma = memchr(s, ',', (size_t)(end - s));
    n = (size_t)((comma != NULL ? comma : end) - s);
    if (n == 0)
      return value_fail(ps, t, "empty part");
    if (pair_part(ps, t, p, i, s, n, &seen_weight) != 0)
      return -1;
    if (comma == NULL)
      return i >= 1 ? 0 : value_fail(ps, t, "needs MASTER,SLAVE");
    s = comma + 1;
  }
}

/* Lists the addresses of p; returns how many (2 or 3). */
static size_t pair_addrs(const mcrepl__pair_conf_t *p,
                         const mcrepl__addr_t *out[3])
{
  out[0] = &p->master;
  out[1] = &p->slave;
  out[2] = &p->vip;
  return p->has_vip ? 3 : 2;
}

/* The first address of p that an earlier pair already uses, or NULL.
 * A node in two pairs would get two sets of replicated writes. */
static const mcrepl__addr_t *pair_clash(const mcrepl__config_t *c,
                                        const mcrepl__pair_conf_t *p)
{
  const mcrepl__addr_t *mine[3], *theirs[3];
  size_t i, j, k, nm = pair_addrs(p, mine), nt;

  for (i = 0; i < c->npairs; i++) {
    nt = pair_addrs(&c->pairs[i], theirs);
    for (j = 0; j < nm; j++)
      for (k = 0; k < nt; k++)
        if (mcrepl__addr_same(mine[j], theirs[k]))
          return mine[j];
  }
  return NULL;
}

static int pair_check(const parse_t *ps, const token_t *t,
                      const mcrepl__pair_conf_t *p)
{
  char detail[MCREPL__ADDR_MAX + 64];
  const mcrepl__addr_t *a;

  /* Each pair has a thread and its locks, and every new pair is checked
   * against all the others: a bound keeps a runaway string cheap. */
  if (ps->c->npairs >= MCREPL__PAIRS_MAX)
    return value_fail(ps, t, "too many pairs (at most 1024)");
  if (mcrepl__addr_same(&p->master, &p->slave))
    return value_fail(ps, t, "master and slave are the same node");
  if (p->has_vip && (mcrepl__addr_same(&p->vip, &p->master) ||
                     mcrepl__addr_same(&p->vip, &p->slave)))
    return value_fail(ps, t, "vip is the master or the slave");
  a = pair_clash(ps->c, p);
  if (a == NULL)
    return 0;
  snprintf(detail, sizeof detail, "\"%s\" is already in another pair",
           a->text);
  return value_fail(ps, t, detail);
}

static int pair_append(parse_t *ps, const mcrepl__pair_conf_t *p)
{
  mcrepl__config_t *c = ps->c;
  mcrepl__pair_conf_t *np;
  size_t cap = ps->cap ? ps->cap * 2 : 4;

  if (c->npairs == ps->cap) {
    if (cap > SIZE_MAX / sizeof *np)
      return config_error(ps->e, "out of memory");
    np = realloc(c->pairs, cap * sizeof *np);
    if (np == NULL)
      return config_error(ps->e, "out of memory");
    c->pairs = np;
    ps->cap = cap;
  }
  c->pairs[c->npairs++] = *p;
  return 0;
}

static int opt_pair(parse_t *ps, const token_t *t)
{
  mcrepl__pair_conf_t p;

  memset(&p, 0, sizeof p);
  p.weight = 1;
  if (t->vallen == 0)
    return value_fail(ps, t, "needs MASTER,SLAVE");
  if (pair_split(ps, t, &p) != 0 || pair_check(ps, t, &p) != 0)
    return -1;
  return pair_append(ps, &p);
}

/* Other options ----------------------------------------------------------*/

/* SIZE[K|M|G], each also as KB or KiB, powers of 1024. */
static int opt_size(parse_t *ps, const token_t *t)
{
  static const struct {
    const char *s;
    unsigned shift;
  } sfx[] = {{"", 0},   {"k", 10},  {"kb", 10}, {"kib", 10}, {"m", 20},
             {"mb", 20}, {"mib", 20}, {"g", 30}, {"gb", 30},  {"gib", 30}};
  size_t nd = 0, i;
  uint64_t v = 0;
  int rc;

  while (nd < t->vallen && is_digit((unsigned char)t->val[nd]))
    nd++;
  for (i = 0; i < sizeof sfx / sizeof sfx[0]; i++)
    if (ieq(t->val + nd, t->vallen - nd, sfx[i].s))
      break;
  rc = parse_u64(t->val, nd, &v);
  if (rc == -1 || i == sizeof sfx / sizeof sfx[0])
    return value_fail(ps, t, "not a size (N, NK, NM or NG)");
  if (rc == -2 || v > QUEUE_MAX >> sfx[i].shift ||
      v << sfx[i].shift < QUEUE_MIN)
    return value_fail(ps, t, "out of range 4K..1024G");
  ps->c->queue_bytes = v << sfx[i].shift;
  return 0;
}

static int opt_overflow(parse_t *ps, const token_t *t)
{
  if (ieq(t->val, t->vallen, "drop"))
    ps->c->overflow = MCREPL__OVERFLOW_DROP;
  else if (ieq(t->val, t->vallen, "block"))
    ps->c->overflow = MCREPL__OVERFLOW_BLOCK;
  else
    return value_fail(ps, t, "expected drop or block");
  return 0;
}

static int opt_int(parse_t *ps, const token_t *t, const opt_t *o)
{
  char why[64];
  uint64_t v = 0;
  int rc = parse_u64(t->val, t->vallen, &v);

  if (rc == -1)
    return value_fail(ps, t, "not a number");
  if (rc == -2 || v < (uint64_t)o->min || v > (uint64_t)o->max) {
    snprintf(why, sizeof why, "out of range %d..%d", o->min, o->max);
    return value_fail(ps, t, why);
  }
  *(int *)(void *)((char *)ps->c + o->off) = (int)v;
  return 0;
}

static int opt_flag(parse_t *ps, const token_t *t, const opt_t *o)
{
  static const char *const yes[] = {"yes", "1", "true"};
  static const char *const no[] = {"no", "0", "false"};
  int *field = (int *)(void *)((char *)ps->c + o->off);
  size_t i;

  if (!t->has_val) {
    *field = 1;
    return 0;
  }
  for (i = 0; i < 3; i++) {
    if (ieq(t->val, t->vallen, yes[i]) || ieq(t->val, t->vallen, no[i])) {
      *field = ieq(t->val, t->vallen, yes[i]);
      return 0;
    }
  }
  return value_fail(ps, t, "expected yes, no, 1, 0, true or false");
}

/* Tokens -----------------------------------------------------------------*/

static int is_space(int ch)
{
  return ch == ' ' || (ch >= '\t' && ch <= '\r');
}

/* Finds the next token from *s on; returns 0 at the end. */
static int next_token(const char **s, token_t *t)
{
  const char *p = *s, *eq;

  while (is_space((unsigned char)*p))
    p++;
  if (*p == '\0')
    return 0;
  t->tok = p;
  while (*p != '\0' && !is_space((unsigned char)*p))
    p++;
  *s = p;
  t->toklen = (size_t)(p - t->tok);
  eq = memchr(t->tok, '=', t->toklen);
  t->has_val = eq != NULL;
  t->name = t->tok + 2; /* meaningful only once "--" is checked */
  t->namelen = (size_t)((eq != NULL ? eq : p) - t->tok);
  t->namelen = t->namelen >= 2 ? t->namelen - 2 : 0;
  t->val = eq != NULL ? eq + 1 : p;
  t->vallen = (size_t)(p - t->val);
  return 1;
}

static int apply_known(parse_t *ps, const token_t *t, const opt_t *o)
{
  switch (o->kind) {
  case K_PAIR:
    return opt_pair(ps, t);
  case K_SIZE:
    return opt_size(ps, t);
  case K_OVERFLOW:
    return opt_overflow(ps, t);
  case K_INT:
    return opt_int(ps, t, o);
  case K_FLAG:
    return opt_flag(ps, t, o);
  }
  return -1;
}

/* The entry points that take an option, for messages. */
static const char *users(unsigned uses)
{
  switch (uses) {
  case CLIENT:
    return "mcrepl_create";
  case CHECK:
    return "mcrepl_check";
  case RESYNC:
    return "mcrepl_resync";
  case CHECK | RESYNC:
    return "mcrepl_check and mcrepl_resync";
  }
  return "every entry point";
}

static int apply_token(parse_t *ps, const token_t *t)
{
  char q[QUOTE_BUF];
  size_t i;

  quote(q, t->tok, t->toklen);
  if (t->toklen < 2 || t->tok[0] != '-' || t->tok[1] != '-')
    return config_error(ps->e, "\"%s\": options start with \"--\"", q);
  for (i = 0; i < NOPTS; i++)
    if (ieq(t->name, t->namelen, opts[i].name))
      break;
  if (i == NOPTS)
    return config_error(ps->e, "unknown option \"%s\"", q);
  /* An option that means nothing here is refused rather than ignored:
   * "--read-only" given to mcrepl_create would otherwise look like a
   * read-only handle that writes. */
  if (!(opts[i].uses & ps->use))
    return config_error(ps->e, "\"%s\": an option of %s, not of %s", q,
                        users(opts[i].uses), users(ps->use));
  /* Only --pair adds up; any other option given twice contradicts or
   * repeats itself, and silently taking one would hide a mistake. */
  if (opts[i].kind != K_PAIR && ps->seen[i])
    return config_error(ps->e, "\"%s\": --%s given more than once", q,
                        opts[i].name);
  ps->seen[i] = 1;
  if (opts[i].kind != K_FLAG && !t->has_val)
    return config_error(ps->e, "\"%s\": needs a value (--%s=...)", q,
                        opts[i].name);
  return apply_known(ps, t, &opts[i]);
}

/* The API -----------------------------------------------------------------*/

static void config_defaults(mcrepl__config_t *c)
{
  memset(c, 0, sizeof *c);
  c->pairs = NULL;
  c->queue_bytes = DEFAULT_QUEUE;
  c->overflow = MCREPL__OVERFLOW_DROP;
  c->connect_timeout_ms = 1000;
  c->io_timeout_ms = 1000;
  c->shutdown_timeout_ms = 5000;
  c->retry_timeout_ms = 1000;
  c->pool_idle_ms = 30000;
  c->backoff_max_ms = 1000;
  c->dead_timeout_ms = 30000;
  c->batch_max = 512;
  c->batch_delay_us = 700;
  c->pace_timeout_ms = 10;
  c->binary_protocol = 0;
  c->identity_interval_ms = 500;
  c->resync_rate = 20000;
  c->resync_flush = 0;
  c->read_failover = 1;
}

/* A pair whose weight is too small beside the others' gets no point on
 * the ring, so no key: as good as absent, and silently so. */
static int shares_check(parse_t *ps)
{
  const mcrepl__config_t *c = ps->c;
  uint64_t total = 0;
  size_t i;

  for (i = 0; i < c->npairs; i++)
    total += c->pairs[i].weight;
  for (i = 0; i < c->npairs; i++)
    if (mcrepl__ring_points(c->pairs[i].weight, total, c->npairs) == 0)
      return config_error(ps->e,
                          "--pair %s,...,weight=%u gets no key beside a "
                          "total weight of %llu: raise it or drop the pair",
                          c->pairs[i].master.text,
                          (unsigned)c->pairs[i].weight,
                          (unsigned long long)total);
  return 0;
}

static int parse_all(parse_t *ps, const char *s)
{
  token_t t;

  while (next_token(&s, &t))
    if (apply_token(ps, &t) != 0)
      return -1;
  if (ps->use == MCREPL__FOR_CLIENT && ps->c->npairs == 0)
    return config_error(ps->e, "no --pair given");
  return shares_check(ps);
}

int mcrepl__config_parse(const char *s, mcrepl__config_t *c, char *errbuf,
                         size_t errlen)
{
  return mcrepl__config_parse_for(s, c, errbuf, errlen, MCREPL__FOR_CLIENT);
}

int mcrepl__config_parse_for(const char *s, mcrepl__config_t *c,
                             char *errbuf, size_t errlen,
                             mcrepl__config_use_t use)
{
  err_t e;
  parse_t ps;

  e.buf = errbuf;
  e.len = errlen;
  if (errbuf != NULL && errlen > 0)
    errbuf[0] = '\0';
  if (c == NULL)
    return config_error(&e, "no configuration to fill");
  config_defaults(c);
  memset(&ps, 0, sizeof ps);
  ps.c = c;
  ps.e = &e;
  ps.use = use;
  if (parse_all(&ps, s != NULL ? s : "") == 0)
    return 0;
  /* Nothing half-parsed survives a refusal; c keeps only defaults. */
  mcrepl__config_free(c);
  return -1;
}

void mcrepl__config_free(mcrepl__config_t *c)
{
  if (c == NULL)
    return;
  free(c->pairs);
  c->pairs = NULL;
  c->npairs = 0;
}
