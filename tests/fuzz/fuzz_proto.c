/* libFuzzer target: the reply-line parsers and the metadump key decoder
 * of lib/proto.c, which all read bytes a server (or anything listening
 * on its port) sent.
 *
 * Every call gets an exact-size heap copy, so that ASan sees any read
 * past the line. Besides "no crash", each result is checked against a
 * plain reference of what the function promises. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define KEY_MAX 250

/* Reference for mcrepl__parse_u64: 1..20 decimal digits, no overflow. */
static int ref_u64(const char *s, size_t len, uint64_t *out)
{
  unsigned __int128 v = 0;
  size_t i;

  if (len == 0 || len > 20)
    return -1;
  for (i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (unsigned)(s[i] - '0');
  }
  if (v > UINT64_MAX)
    return -1;
  *out = (uint64_t)v;
  return 0;
}

static void check_u64(const char *s, size_t len)
{
  uint64_t got = 7, want = 9;
  int rc = mcrepl__parse_u64(s, len, &got), ref = ref_u64(s, len, &want);

  if (rc != ref || (rc == 0 && got != want))
    abort();
}

static void check_va(const char *s, size_t len)
{
  mcrepl__meta_t m;
  size_t i = 0;

  if (mcrepl__proto_parse_va(s, len, &m) != 0)
    return;
  while (i < len && s[i] == ' ') /* tokens may be padded */
    i++;
  /* Accepted: it was a VA line, and its length can be allocated. */
  if (len - i < 4 || memcmp(s + i, "VA ", 3) != 0 ||
      m.vlen > SIZE_MAX / 2 || m.ttl < -1)
    abort();
}

static void check_hd(const char *s, size_t len)
{
  mcrepl__meta_t m;
  size_t i = 0;

  if (mcrepl__proto_parse_hd(s, len, &m) != 0)
    return;
  while (i < len && s[i] == ' ')
    i++;
  if (len - i < 2 || memcmp(s + i, "HD", 2) != 0 ||
      (len - i > 2 && s[i + 2] != ' ') || m.vlen != 0 || m.ttl < -1)
    abort();
}

static void check_classify(const char *s, size_t len)
{
  mcrepl__line_t t = mcrepl__proto_classify(s, len);

  if (t > MCREPL__LINE_GARBAGE)
    abort();
  /* Nothing is "OK" unless it starts with a success word. */
  if (t == MCREPL__LINE_OK &&
      !(len >= 2 && (memcmp(s, "HD", 2) == 0 || memcmp(s, "NF", 2) == 0 ||
                     memcmp(s, "EN", 2) == 0 || memcmp(s, "MN", 2) == 0 ||
                     memcmp(s, "VA", 2) == 0)))
    abort();
}

static void check_stat(const char *s, size_t len)
{
  mcrepl__stats_reply_t st;

  memset(&st, 0, sizeof st);
  mcrepl__proto_stat_line(s, len, &st);
  if (strnlen(st.version, sizeof st.version) == sizeof st.version ||
      st.seen > 31)
    abort();
}

/* The decoded key must be a valid key, whatever the line said, because
 * it is pasted into "mg <key> v f t" and "ms <key> ..." commands. */
static void check_metadump(const char *s, size_t len)
{
  char *out = malloc(KEY_MAX + 1); /* the documented size of out */
  size_t n, i;

  if (!out)
    abort();
  n = mcrepl__metadump_key(s, len, out);
  if (n > KEY_MAX)
    abort();
  for (i = 0; i < n; i++)
    if ((unsigned char)out[i] <= 0x20 || (unsigned char)out[i] == 0x7f)
      abort();
  if (n > 0 && (len < 5 || memcmp(s, "key=", 4) != 0))
    abort();
  free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *s = malloc(size ? size : 1);

  if (!s)
    abort();
  if (size)
    memcpy(s, data, size);
  /* Each parser sees the whole input; they share no state. */
  check_u64(s, size);
  check_va(s, size);
  check_hd(s, size);
  check_classify(s, size);
  check_stat(s, size);
  check_metadump(s, size);
  free(s);
  return 0;
}
