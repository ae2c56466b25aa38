/* libFuzzer target: keys and values handed to the API must not be able
 * to inject memcached commands into the sender's pipelines.
 *
 * The key rule is asked of the library itself, through the public
 * mcrepl_key_pair() (the same check_key() every command uses), on a
 * handle whose servers are closed loopback ports: no I/O happens, since
 * connections are lazy and nothing is written. It must agree with the
 * documented rule (1..250 bytes, no byte <= 0x20, no 0x7f). For every
 * accepted key, the commands lib/proto.c formats for the slave must be
 * exactly one command line (the first CRLF ends it; no CR, LF or NUL
 * inside; the key is one whole token) followed, for "ms", by the value
 * verbatim and a CRLF, and nothing else.
 *
 * Input: bytes 0-1 give the key's length (0..511), then the key, then
 * 4 bytes of flags and 1 of ttl when present, then the value. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mcrepl/mcrepl.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static mcrepl_t *g_m;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  char err[256];

  (void)argc;
  (void)argv;
  /* Ports 1 and 2 of loopback: nothing listens there, nothing is sent. */
  g_m = mcrepl_create("--pair=127.0.0.1:1,127.0.0.1:2 "
                      "--identity-interval=3600000", err, sizeof err);
  if (!g_m) {
    fprintf(stderr, "mcrepl_create: %s\n", err);
    abort();
  }
  return 0;
}

static int rule_ok(const char *k, size_t n)
{
  size_t i;

  if (n == 0 || n > 250)
    return 0;
  for (i = 0; i < n; i++)
    if ((unsigned char)k[i] <= 0x20 || (unsigned char)k[i] == 0x7f)
      return 0;
  return 1;
}

/* The first line of b must be exactly "<verb> <key><tail>" with no CR,
 * LF or NUL before its CRLF; returns the offset just past that CRLF. */
static size_t one_line(const mcrepl__buf_t *b, const char *verb,
                       const char *key, size_t klen, const char *tail)
{
  const char *crlf = memmem(b->p, b->len, "\r\n", 2);
  size_t vl = strlen(verb), tl, n;

  if (!crlf)
    abort();
  n = (size_t)(crlf - b->p);
  if (memchr(b->p, '\r', n) || memchr(b->p, '\n', n) ||
      memchr(b->p, '\0', n))
    abort();
  if (n < vl + 1 + klen || memcmp(b->p, verb, vl) != 0 ||
      b->p[vl] != ' ' || memcmp(b->p + vl + 1, key, klen) != 0)
    abort();
  /* The key is one token: what follows it starts with a space. */
  tl = strlen(tail);
  if (n != vl + 1 + klen + tl || memcmp(b->p + vl + 1 + klen, tail, tl))
    abort();
  return n + 2;
}

static void check_ms(const char *k, size_t klen, const char *v, size_t vlen,
                     uint32_t flags, int64_t ttl)
{
  mcrepl__buf_t b = {0};
  char tail[96];
  size_t off;

  if (mcrepl__proto_ms(&b, k, klen, v, vlen, flags, ttl) != 0)
    abort();
  snprintf(tail, sizeof tail, " %zu F%u T%lld q", vlen, flags,
           (long long)ttl);
  off = one_line(&b, "ms", k, klen, tail);
  /* The value follows verbatim, then CRLF, then nothing. */
  if (b.len != off + vlen + 2 || (vlen && memcmp(b.p + off, v, vlen)) ||
      memcmp(b.p + off + vlen, "\r\n", 2) != 0)
    abort();
  mcrepl__buf_free(&b);
}

static void check_md_mg(const char *k, size_t klen)
{
  mcrepl__buf_t b = {0};

  if (mcrepl__proto_md(&b, k, klen) != 0 ||
      one_line(&b, "md", k, klen, " q") != b.len)
    abort();
  b.len = 0;
  if (mcrepl__proto_mg_state(&b, k, klen) != 0 ||
      one_line(&b, "mg", k, klen, " v f t") != b.len)
    abort();
  mcrepl__buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  size_t klen, vlen, pair = 0;
  uint32_t flags = 0;
  int64_t ttl = 0;
  char *k, *v;
  mcrepl_return_t rc;

  if (size < 2)
    return 0;
  klen = (size_t)data[0] | (size_t)(data[1] & 1) << 8;
  data += 2;
  size -= 2;
  if (klen > size)
    klen = size;
  k = malloc(klen ? klen : 1); /* exact size: ASan sees overreads */
  if (!k)
    abort();
  memcpy(k, data, klen);
  data += klen;
  size -= klen;
  if (size >= 5) {
    memcpy(&flags, data, 4);
    ttl = (int64_t)data[4] * 86400; /* 0 .. beyond 30 days */
    data += 5;
    size -= 5;
  }
  vlen = size;
  v = malloc(vlen ? vlen : 1);
  if (!v)
    abort();
  memcpy(v, data, vlen);

  rc = mcrepl_key_pair(g_m, k, klen, &pair);
  if (rule_ok(k, klen) ? rc != MCREPL_SUCCESS || pair != 0
                       : rc != MCREPL_BAD_KEY) {
    fprintf(stderr, "key rule disagrees: %zu bytes, rc %s\n", klen,
            mcrepl_strcode(rc));
    abort();
  }
  if (rc == MCREPL_SUCCESS) {
    check_ms(k, klen, v, vlen, flags, ttl);
    check_md_mg(k, klen);
  }
  free(v);
  free(k);
  return 0;
}
