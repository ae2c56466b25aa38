/* libFuzzer target: the configuration string parser (lib/config.c).
 *
 * The string comes from users (environment, command line), so any bytes
 * must give either a refusal with a printable one-line message or a valid
 * configuration, and never a crash, an overrun of errbuf or a leak.
 *
 * Input: byte 0 picks the error buffer's size and the entry point; the
 * rest is the string (NUL-terminated copy; bytes after an embedded NUL
 * are ignored, as they would be by any C caller). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 0 means errbuf NULL. The buffer is malloc()ed at exactly this size so
 * that ASan sees any write past errlen. */
static const size_t errlens[] = {0, 1, 2, 16, 80, 256};

static void check_message(const char *err, size_t errlen, int ok)
{
  size_t i, n;

  if (errlen == 0)
    return;
  n = strnlen(err, errlen);
  if (n == errlen) /* not terminated inside the buffer */
    abort();
  if (ok && n != 0) /* success leaves the message empty */
    abort();
  if (!ok && errlen > 1 && n == 0) /* a refusal says why */
    abort();
  for (i = 0; i < n; i++) /* one printable line */
    if ((unsigned char)err[i] < 0x20 || (unsigned char)err[i] >= 0x7f)
      abort();
}

static void check_config(const mcrepl__config_t *c, int need_pair)
{
  size_t i;

  if (need_pair && c->npairs == 0)
    abort();
  if (c->npairs > 0 && c->pairs == NULL)
    abort();
  for (i = 0; i < c->npairs; i++) {
    const mcrepl__pair_conf_t *p = &c->pairs[i];
    if (p->master.port == 0 || p->slave.port == 0 || p->weight == 0 ||
        p->master.host[0] == '\0' || p->slave.host[0] == '\0' ||
        strnlen(p->master.text, MCREPL__ADDR_MAX) == MCREPL__ADDR_MAX)
      abort();
  }
  if (c->queue_bytes < 4096 || c->io_timeout_ms < 1 ||
      c->connect_timeout_ms < 1 || c->batch_max < 1 ||
      c->shutdown_timeout_ms < 0)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  mcrepl__config_t c;
  size_t errlen;
  char *s, *err;
  mcrepl__config_use_t use;
  int need_pair, rc;

  if (size < 1)
    return 0;
  errlen = errlens[data[0] % (sizeof errlens / sizeof errlens[0])];
  use = (mcrepl__config_use_t)(1 << ((data[0] >> 4) % 3));
  need_pair = use == MCREPL__FOR_CLIENT;
  s = malloc(size);
  err = errlen ? malloc(errlen) : NULL;
  if (!s || (errlen && !err))
    abort();
  memcpy(s, data + 1, size - 1);
  s[size - 1] = '\0';
  if (err)
    memset(err, 'Z', errlen); /* a stale byte would show as garbage */

  rc = mcrepl__config_parse_for(s, &c, err, errlen, use);
  check_message(err, errlen, rc == 0);
  if (rc == 0)
    check_config(&c, need_pair);
  else if (c.pairs != NULL || c.npairs != 0) /* nothing half-parsed */
    abort();
  mcrepl__config_free(&c);
  free(err);
  free(s);
  return 0;
}
