/* Meta command formatting and reply parsing (see proto.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

static int buf_reserve(mcrepl__buf_t *b, size_t more)
{
  size_t need, cap;
  char *p;

  if (more > SIZE_MAX - b->len - 1)
    return -1;
  need = b->len + more + 1;
  if (need <= b->cap)
    return 0;
  cap = b->cap ? b->cap : 4096;
  while (cap < need)
    cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  p = realloc(b->p, cap);
  if (!p)
    return -1;
  b->p = p;
  b->cap = cap;
  return 0;
}

int mcrepl__buf_add(mcrepl__buf_t *b, const void *data, size_t len)
{
  if (buf_reserve(b, len) != 0)
    return -1;
  if (len)
    memcpy(b->p + b->len, data, len);
  b->len += len;
  b->p[b->len] = '\0';
  return 0;
}

int mcrepl__buf_printf(mcrepl__buf_t *b, const char *fmt, ...)
{
  va_list ap;
  int n;

  if (buf_reserve(b, 128) != 0)
    return -1;
  va_start(ap, fmt);
  n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
  va_end(ap);
  if (n < 0)
    return -1;
  if ((size_t)n >= b->cap - b->len) {
    if (buf_reserve(b, (size_t)n) != 0)
      return -1;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
  }
  b->len += (size_t)n;
  return 0;
}

void mcrepl__buf_free(mcrepl__buf_t *b)
{
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

/* The sender formats a command per write: vsnprintf cost about 1800
 * instructions a header (callgrind), more than the rest of the sender's
 * work on it, so the hot commands are put together by hand. The space
 * is reserved first, so that a failure leaves the buffer unchanged. */
static char *put(char *p, const void *s, size_t n)
{
  memcpy(p, s, n);
  return p + n;
}

static char *put_u64(char *p, uint64_t v)
{
  char tmp[20], *s = tmp + sizeof tmp;

  do
    *--s = (char)('0' + v % 10);
  while ((v /= 10) != 0);
  return put(p, s, (size_t)(tmp + sizeof tmp - s));
}

static char *put_i64(char *p, int64_t v)
{
  if (v >= 0)
    return put_u64(p, (uint64_t)v);
  *p++ = '-';
  return put_u64(p, (uint64_t)0 - (uint64_t)v);
}

/* "<verb> <key>", the verb a two-letter meta command, into space for
 * it and `more` bytes after it. */
static char *start_cmd(mcrepl__buf_t *b, const char *verb, const char *key,
                       size_t klen, size_t more)
{
  char *p;

  if (klen > SIZE_MAX - 4 - more || buf_reserve(b, 4 + klen + more) != 0)
    return NULL;
  p = put(b->p + b->len, verb, 2);
  *p++ = ' ';
  return put(p, key, klen);
}

static int end_cmd(mcrepl__buf_t *b, char *p)
{
  b->len = (size_t)(p - b->p);
  b->p[b->len] = '\0';
  return 0;
}

int64_t mcrepl__expiry_at(int64_t ttl, int64_t node_now)
{
  /* t0 means under a second is left, not "never". */
  if (ttl < 0)
    return 0;
  if (ttl >= MCREPL__EXPIRY_MAX - node_now)
    return MCREPL__EXPIRY_MAX;
  return node_now + (ttl == 0 ? 1 : ttl);
}

int mcrepl__proto_ms_head(mcrepl__buf_t *b, const char *key, size_t klen,
                          size_t vlen, uint32_t flags, int64_t ttl)
{
  /* " " 20 digits " F" 10 digits " T" sign, 19 digits " q\r\n" */
  char *p = start_cmd(b, "ms", key, klen, 64);

  if (!p)
    return -1;
  *p++ = ' ';
  p = put_u64(p, vlen);
  p = put(p, " F", 2);
  p = put_u64(p, flags);
  p = put(p, " T", 2);
  p = put_i64(p, ttl);
  return end_cmd(b, put(p, " q\r\n", 4));
}

int mcrepl__proto_ms(mcrepl__buf_t *b, const char *key, size_t klen,
                     const char *val, size_t vlen, uint32_t flags,
                     int64_t ttl)
{
  if (mcrepl__proto_ms_head(b, key, klen, vlen, flags, ttl) != 0)
    return -1;
  if (mcrepl__buf_add(b, val, vlen) != 0)
    return -1;
  return mcrepl__buf_add(b, "\r\n", 2);
}

/* Pipelines ---------------------------------------------------------- */

/* Below this a value is cheaper to copy than to send from elsewhere. */
#define EXT_MIN 4096

void mcrepl__pipe_reset(mcrepl__pipe_t *pp)
{
  pp->buf.len = 0;
  pp->nseg = 0;
  pp->mark = 0;
}

static int add_seg(mcrepl__pipe_t *pp, const char *ext, size_t off,
                   size_t len)
{
  if (len == 0)
    return 0;
  if (pp->nseg == pp->cap) {
    size_t cap = pp->cap ? pp->cap * 2 : 64;
    struct mcrepl__seg *seg = realloc(pp->seg, cap * sizeof *seg);
    struct iovec *iov;
    if (!seg)
      return -1;
    pp->seg = seg;
    iov = realloc(pp->iov, cap * sizeof *iov);
    if (!iov)
      return -1;
    pp->iov = iov;
    pp->cap = cap;
  }
  pp->seg[pp->nseg].ext = ext;
  pp->seg[pp->nseg].off = off;
  pp->seg[pp->nseg++].len = len;
  return 0;
}

/* The text written since the last segment becomes one. */
static int cut(mcrepl__pipe_t *pp)
{
  size_t from = pp->mark;

  pp->mark = pp->buf.len;
  return add_seg(pp, NULL, from, pp->buf.len - from);
}

int mcrepl__pipe_value(mcrepl__pipe_t *pp, const char *v, size_t len)
{
  if (len < EXT_MIN)
    return mcrepl__buf_add(&pp->buf, v, len);
  return cut(pp) || add_seg(pp, v, 0, len);
}

/* Offsets, not pointers, until now: buf may have moved as it grew. */
int mcrepl__pipe_iov(mcrepl__pipe_t *pp, struct iovec **iov, size_t *n)
{
  size_t i;

  if (cut(pp) != 0)
    return -1;
  for (i = 0; i < pp->nseg; i++) {
    pp->iov[i].iov_base = (void *)(pp->seg[i].ext
                                       ? pp->seg[i].ext
                                       : pp->buf.p + pp->seg[i].off);
    pp->iov[i].iov_len = pp->seg[i].len;
  }
  *iov = pp->iov;
  *n = pp->nseg;
  return 0;
}

void mcrepl__pipe_free(mcrepl__pipe_t *pp)
{
  mcrepl__buf_free(&pp->buf);
  free(pp->seg);
  free(pp->iov);
  pp->seg = NULL;
  pp->iov = NULL;
  pp->nseg = pp->cap = pp->mark = 0;
}

int mcrepl__proto_md(mcrepl__buf_t *b, const char *key, size_t klen)
{
  char *p = start_cmd(b, "md", key, klen, 4);

  return p ? end_cmd(b, put(p, " q\r\n", 4)) : -1;
}

int mcrepl__proto_mg_state(mcrepl__buf_t *b, const char *key, size_t klen)
{
  char *p = start_cmd(b, "mg", key, klen, 8);

  return p ? end_cmd(b, put(p, " v f t\r\n", 8)) : -1;
}

int mcrepl__proto_mg_hit(mcrepl__buf_t *b, const char *key, size_t klen)
{
  char *p = start_cmd(b, "mg", key, klen, 2);

  return p ? end_cmd(b, put(p, "\r\n", 2)) : -1;
}

int mcrepl__proto_md_cas(mcrepl__buf_t *b, const char *key, size_t klen,
                         uint64_t cas)
{
  char *p = start_cmd(b, "md", key, klen, 26);

  if (!p)
    return -1;
  p = put_u64(put(p, " C", 2), cas);
  return end_cmd(b, put(p, "\r\n", 2));
}

int mcrepl__parse_u64(const char *s, size_t len, uint64_t *out)
{
  uint64_t v = 0;
  size_t i;

  if (len == 0 || len > 20)
    return -1;
  for (i = 0; i < len; i++) {
    unsigned d = (unsigned char)s[i] - '0';
    if (d > 9 || v > (UINT64_MAX - d) / 10)
      return -1;
    v = v * 10 + d;
  }
  *out = v;
  return 0;
}

/* Splits the next space-separated token off [*p, end). */
static int next_token(const char **p, const char *end, const char **tok,
                      size_t *tlen)
{
  const char *s = *p;

  while (s < end && *s == ' ')
    s++;
  if (s == end)
    return -1;
  *tok = s;
  while (s < end && *s != ' ')
    s++;
  *tlen = (size_t)(s - *tok);
  *p = s;
  return 0;
}

static int parse_va_flag(const char *tok, size_t tlen, mcrepl__meta_t *m)
{
  uint64_t v;

  if (tok[0] == 'f') {
    if (mcrepl__parse_u64(tok + 1, tlen - 1, &v) != 0 || v > UINT32_MAX)
      return -1;
    m->flags = (uint32_t)v;
  } else if (tok[0] == 't') {
    if (tlen == 3 && tok[1] == '-' && tok[2] == '1') {
      m->ttl = -1;
      return 0;
    }
    if (mcrepl__parse_u64(tok + 1, tlen - 1, &v) != 0 || v > INT64_MAX)
      return -1;
    m->ttl = (int64_t)v;
  } else if (tok[0] == 'c') {
    if (mcrepl__parse_u64(tok + 1, tlen - 1, &m->cas) != 0)
      return -1;
  }
  /* Other flags (opaque, key...) are not ours to interpret. */
  return 0;
}

/* "<word> [<len>] <flag>...": the flags that describe an item. */
static int parse_meta(const char *line, size_t len, const char *word,
                      int has_len, mcrepl__meta_t *m)
{
  const char *p = line, *end = line + len, *tok;
  size_t tlen;
  uint64_t v;

  memset(m, 0, sizeof *m);
  m->ttl = -1;
  if (next_token(&p, end, &tok, &tlen) != 0 || tlen != strlen(word) ||
      memcmp(tok, word, tlen) != 0)
    return -1;
  if (has_len) {
    if (next_token(&p, end, &tok, &tlen) != 0 ||
        mcrepl__parse_u64(tok, tlen, &v) != 0 || v > SIZE_MAX / 2)
      return -1;
    m->vlen = (size_t)v;
  }
  while (next_token(&p, end, &tok, &tlen) == 0)
    if (parse_va_flag(tok, tlen, m) != 0)
      return -1;
  return 0;
}

int mcrepl__proto_parse_va(const char *line, size_t len, mcrepl__meta_t *m)
{
  return parse_meta(line, len, "VA", 1, m);
}

int mcrepl__proto_parse_hd(const char *line, size_t len, mcrepl__meta_t *m)
{
  return parse_meta(line, len, "HD", 0, m);
}

int mcrepl__proto_is(const char *line, size_t len, const char *word)
{
  size_t wl = strlen(word);

  return len >= wl && memcmp(line, word, wl) == 0 &&
         (len == wl || line[wl] == ' ');
}

mcrepl__line_t mcrepl__proto_classify(const char *line, size_t len)
{
  static const char *const ok[] = {"HD", "NF", "EN", "MN", "VA"};
  size_t i;

  for (i = 0; i < sizeof ok / sizeof ok[0]; i++)
    if (mcrepl__proto_is(line, len, ok[i]))
      return MCREPL__LINE_OK;
  if (mcrepl__proto_is(line, len, "NS") || mcrepl__proto_is(line, len, "EX"))
    return MCREPL__LINE_REFUSED;
  if (mcrepl__proto_is(line, len, "SERVER_ERROR"))
    return MCREPL__LINE_SERVER;
  if (mcrepl__proto_is(line, len, "CLIENT_ERROR") ||
      mcrepl__proto_is(line, len, "ERROR"))
    return MCREPL__LINE_CLIENT;
  return MCREPL__LINE_GARBAGE;
}

static void stat_u64(const char *val, size_t vlen, uint64_t *dst,
                     unsigned bit, unsigned *seen)
{
  if (mcrepl__parse_u64(val, vlen, dst) == 0)
    *seen |= bit;
}

void mcrepl__proto_stat_line(const char *line, size_t len,
                             mcrepl__stats_reply_t *s)
{
  const char *p = line, *end = line + len, *tok, *name, *val;
  size_t tlen, nlen, vlen;

  if (next_token(&p, end, &tok, &tlen) != 0 || tlen != 4 ||
      memcmp(tok, "STAT", 4) != 0)
    return;
  if (next_token(&p, end, &name, &nlen) != 0 ||
      next_token(&p, end, &val, &vlen) != 0)
    return;
#define IS(lit) (nlen == sizeof(lit) - 1 && memcmp(name, lit, nlen) == 0)
  if (IS("pid"))
    stat_u64(val, vlen, &s->pid, 1, &s->seen);
  else if (IS("uptime"))
    stat_u64(val, vlen, &s->uptime, 2, &s->seen);
  else if (IS("time"))
    stat_u64(val, vlen, &s->time, 4, &s->seen);
  else if (IS("curr_items"))
    stat_u64(val, vlen, &s->curr_items, 8, &s->seen);
  else if (IS("bytes"))
    stat_u64(val, vlen, &s->bytes, 16, &s->seen);
  else if (IS("version")) {
    if (vlen >= sizeof s->version)
      vlen = sizeof s->version - 1;
    memcpy(s->version, val, vlen);
    s->version[vlen] = '\0';
  }
#undef IS
}

/* Metadump listings -------------------------------------------------- */

static int hexval(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

size_t mcrepl__metadump_key(const char *line, size_t len, char *out)
{
  size_t i, n = 0;

  if (len < 4 || memcmp(line, "key=", 4) != 0)
    return 0;
  for (i = 4; i < len && line[i] != ' '; i++) {
    int c = (unsigned char)line[i];
    if (c == '%') {
      int hi, lo;
      if (i + 2 >= len || (hi = hexval(line[i + 1])) < 0 ||
          (lo = hexval(line[i + 2])) < 0)
        return 0;
      c = hi * 16 + lo;
      i += 2;
    }
    if (n == 250 || c <= ' ' || c == 0x7f)
      return 0;
    out[n++] = (char)c;
  }
  return n;
}
