/* Node identity and marker items (see node.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "node.h"

int mcrepl__same_node(const mcrepl__stats_reply_t *a,
                      const mcrepl__stats_reply_t *b)
{
  return a->pid == b->pid &&
         llabs(mcrepl__boot_time(a) - mcrepl__boot_time(b)) <= 2;
}

/* Long enough for the look through b, short enough that a probe whose
 * delete was lost does not linger. */
#define PROBE_TTL_S 30
/* See epoch_seed. */
#define EPOCH_PER_S 10000000ULL
#define SUBSECOND_MAX 5000000

mcrepl_return_t mcrepl__same_server(mcrepl__conn_t *a, mcrepl__conn_t *b,
                                    const mcrepl__io_t *io, int *same)
{
  char key[sizeof MCREPL__KEY_PROBE + 24], gen[24], val[8];
  mcrepl_return_t rc;

  mcrepl__generation(gen, sizeof gen);
  snprintf(key, sizeof key, "%s%s", MCREPL__KEY_PROBE, gen);
  rc = mcrepl__marker_put(a, key, "1", PROBE_TTL_S, 'S', NULL, io);
  if (rc == MCREPL_SUCCESS)
    rc = mcrepl__marker_get(b, key, val, sizeof val, same, NULL, io);
  if (rc == MCREPL_SUCCESS)
    rc = mcrepl__marker_del(a, key, 0, io);
  return rc;
}

/* Sends one command and reads the first line of its answer. */
static mcrepl_return_t request(mcrepl__conn_t *c, const char *cmd,
                               size_t len, const char **l, size_t *n,
                               const mcrepl__io_t *io)
{
  mcrepl_return_t rc = mcrepl__conn_send(c, cmd, len, io);

  return rc == MCREPL_SUCCESS ? mcrepl__conn_line(c, l, n, io) : rc;
}

static mcrepl_return_t refused(const char *l, size_t n)
{
  switch (mcrepl__proto_classify(l, n)) {
  case MCREPL__LINE_SERVER: return MCREPL_SERVER_ERROR;
  case MCREPL__LINE_REFUSED: return MCREPL_NOTSTORED;
  default: return MCREPL_PROTOCOL_ERROR;
  }
}

mcrepl_return_t mcrepl__marker_get(mcrepl__conn_t *c, const char *key,
                                   char *val, size_t len, int *found,
                                   uint64_t *cas, const mcrepl__io_t *io)
{
  mcrepl__buf_t b = {0};
  mcrepl__meta_t m;
  mcrepl_return_t rc;
  const char *l, *data;
  size_t n;

  *found = 0;
  if (len)
    val[0] = '\0';
  if (cas)
    *cas = 0;
  if (mcrepl__buf_printf(&b, cas ? "mg %s v c\r\n" : "mg %s v\r\n", key) !=
      0)
    return MCREPL_NOMEM;
  rc = request(c, b.p, b.len, &l, &n, io);
  mcrepl__buf_free(&b);
  if (rc != MCREPL_SUCCESS || mcrepl__proto_is(l, n, "EN"))
    return rc;
  if (mcrepl__proto_parse_va(l, n, &m) != 0)
    return refused(l, n);
  rc = mcrepl__conn_block(c, m.vlen, &data, io);
  if (rc == MCREPL_SUCCESS && len > 0) {
    size_t k = m.vlen < len - 1 ? m.vlen : len - 1;
    memcpy(val, data, k);
    val[k] = '\0';
  }
  *found = rc == MCREPL_SUCCESS;
  if (cas && *found)
    *cas = m.cas;
  return rc;
}

static mcrepl_return_t one_reply(mcrepl__conn_t *c, mcrepl__buf_t *b,
                                 const char *ok, const char *also_ok,
                                 const mcrepl__io_t *io)
{
  const char *l;
  size_t n;
  mcrepl_return_t rc = request(c, b->p, b->len, &l, &n, io);

  mcrepl__buf_free(b);
  if (rc != MCREPL_SUCCESS)
    return rc;
  if (mcrepl__proto_is(l, n, ok) ||
      (also_ok && mcrepl__proto_is(l, n, also_ok)))
    return MCREPL_SUCCESS;
  return refused(l, n);
}

/* One "ms" of a marker; compare, when not 0, is the CAS it must hold. */
static mcrepl_return_t put(mcrepl__conn_t *c, const char *key,
                           const char *val, int64_t ttl, char mode,
                           uint64_t compare, uint64_t *cas,
                           const mcrepl__io_t *io)
{
  mcrepl__buf_t b = {0};
  mcrepl__meta_t m;
  mcrepl_return_t rc;
  const char *l;
  size_t n;
  char cmp[32] = "";

  if (compare)
    snprintf(cmp, sizeof cmp, " C%llu", (unsigned long long)compare);
  if (mcrepl__buf_printf(&b, "ms %s %zu T%lld M%c%s%s\r\n%s\r\n", key,
                         strlen(val), (long long)ttl, mode, cmp,
                         cas ? " c" : "", val) != 0)
    return MCREPL_NOMEM;
  rc = request(c, b.p, b.len, &l, &n, io);
  mcrepl__buf_free(&b);
  if (rc != MCREPL_SUCCESS)
    return rc;
  if (mcrepl__proto_is(l, n, "NF"))
    return MCREPL_NOTFOUND;
  if (mcrepl__proto_parse_hd(l, n, &m) != 0)
    return refused(l, n);
  if (cas)
    *cas = m.cas;
  return MCREPL_SUCCESS;
}

mcrepl_return_t mcrepl__marker_put(mcrepl__conn_t *c, const char *key,
                                   const char *val, int64_t ttl, char mode,
                                   uint64_t *cas, const mcrepl__io_t *io)
{
  return put(c, key, val, ttl, mode, 0, cas, io);
}

mcrepl_return_t mcrepl__marker_swap(mcrepl__conn_t *c, const char *key,
                                    const char *val, int64_t ttl,
                                    uint64_t compare, uint64_t *cas,
                                    const mcrepl__io_t *io)
{
  return put(c, key, val, ttl, 'S', compare, cas, io);
}

mcrepl_return_t mcrepl__marker_del(mcrepl__conn_t *c, const char *key,
                                   uint64_t cas, const mcrepl__io_t *io)
{
  mcrepl__buf_t b = {0};
  mcrepl_return_t rc;

  if (mcrepl__buf_printf(&b, cas ? "md %s C%llu\r\n" : "md %s\r\n", key,
                         (unsigned long long)cas) != 0)
    return MCREPL_NOMEM;
  rc = one_reply(c, &b, "HD", "NF", io);
  /* NF: gone already. EX (NOTSTORED): written since by someone else,
   * and not ours to take. */
  return cas && rc == MCREPL_NOTSTORED ? MCREPL_SUCCESS : rc;
}

void mcrepl__stale_key(char *buf, size_t len, const char *node_text)
{
  snprintf(buf, len, MCREPL__KEY_STALE "%s", node_text);
}

void mcrepl__stale_value(char *buf, size_t len)
{
  struct timespec ts;

  clock_gettime(CLOCK_REALTIME, &ts);
  snprintf(buf, len, "missed writes %lld",
           (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
}

int64_t mcrepl__stale_time(const char *val)
{
  const char *sp = strrchr(val, ' ');
  uint64_t t;

  if (!sp || mcrepl__parse_u64(sp + 1, strlen(sp + 1), &t) != 0 ||
      t > INT64_MAX)
    return 0;
  return (int64_t)t;
}

void mcrepl__generation(char *buf, size_t len)
{
  uint64_t r = 0;

  if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
    r = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)buf;
  snprintf(buf, len, "%016llx", (unsigned long long)r);
}

int64_t mcrepl__clock_skew(const mcrepl__stats_reply_t *id)
{
  return (int64_t)id->time - (int64_t)time(NULL);
}

int64_t mcrepl__boot_time(const mcrepl__stats_reply_t *id)
{
  return (int64_t)id->time - (int64_t)id->uptime;
}

int mcrepl__ready_parse(const char *value, mcrepl__ready_t *r)
{
  unsigned long long pid, epoch;
  long long boot;

  if (sscanf(value, "resync %llu.%lld %llu", &pid, &boot, &epoch) != 3)
    return -1;
  r->pid = pid;
  r->boot = boot;
  r->epoch = epoch;
  return 0;
}

void mcrepl__ready_new(char *val, size_t len)
{
  char gen[32];

  mcrepl__generation(gen, sizeof gen);
  snprintf(val, len, "new %s", gen);
}

void mcrepl__ready_format(char *val, size_t len, const mcrepl__ready_t *r)
{
  char gen[32];

  mcrepl__generation(gen, sizeof gen);
  snprintf(val, len, "resync %llu.%lld %llu %s", (unsigned long long)r->pid,
           (long long)r->boot, (unsigned long long)r->epoch, gen);
}

/* The counter does not start at 1 but at a figure of the time: a counter
 * that a flush or an eviction removed is then created again above every
 * number the old one gave out (which went up by one per call), so a
 * resync that begins later still takes a larger number than the dirt
 * counted before. The seconds are the node's own ("stats time"):
 * whichever client creates the counter again, its clock may be an hour
 * behind the one that created it first. Each of them counts for
 * EPOCH_PER_S numbers, of which the client's own clock adds the
 * microseconds since (up to SUBSECOND_MAX, as memcached's clock lags up
 * to a second behind and clients' clocks differ a little), so that one
 * made again within the same second of the node's also starts above the
 * old one while the clients' clocks agree. A counter made again in a
 * later second starts above unless over EPOCH_PER_S - SUBSECOND_MAX
 * numbers were taken from the old one. */
static uint64_t epoch_seed(uint64_t node_time)
{
  struct timespec now;
  int64_t us;

  clock_gettime(CLOCK_REALTIME, &now);
  us = ((int64_t)now.tv_sec - (int64_t)node_time) * 1000000 +
       now.tv_nsec / 1000;
  if (us < 0)
    us = 0;
  if (us > SUBSECOND_MAX)
    us = SUBSECOND_MAX;
  return node_time * EPOCH_PER_S + (uint64_t)us;
}

mcrepl_return_t mcrepl__epoch_next(mcrepl__conn_t *c, uint64_t node_time,
                                   uint64_t *epoch, const mcrepl__io_t *io)
{
  char cmd[80];
  mcrepl__meta_t m;
  mcrepl_return_t rc;
  const char *l, *data;
  size_t n;

  n = (size_t)snprintf(cmd, sizeof cmd, "ma %s N0 J%llu v\r\n",
                       MCREPL__KEY_EPOCH,
                       (unsigned long long)epoch_seed(node_time));
  rc = request(c, cmd, n, &l, &n, io);
  if (rc != MCREPL_SUCCESS)
    return rc;
  if (mcrepl__proto_parse_va(l, n, &m) != 0)
    return refused(l, n);
  rc = mcrepl__conn_block(c, m.vlen, &data, io);
  if (rc == MCREPL_SUCCESS && mcrepl__parse_u64(data, m.vlen, epoch) != 0)
    rc = MCREPL_PROTOCOL_ERROR;
  return rc;
}
