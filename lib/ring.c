/* The key-to-pair ring (see ring.h). Every step below mirrors
 * update_continuum() in libmemcached-awesome 1.1.4 (hosts.cc) in weighted
 * ketama mode and dispatch_host() (hash.cc): any deviation, even in float
 * rounding, would send some keys to a different pair than libmemcached. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* For libhashkit_md5_signature(): algorithm.h needs the macros hashkit.h
 * defines first, so include it through hashkit.h. */
#include <libhashkit-1.0/hashkit.h>

#include "ring.h"

/* libmemcached's MEMCACHED_DEFAULT_PORT: the port it leaves out of the
 * point names, and the one it substitutes for port 0. */
#define DEFAULT_PORT 11211
/* MEMCACHED_POINTS_PER_SERVER_KETAMA: the base of the points formula. */
#define POINTS_PER_SERVER 160
/* Weighted ketama takes 4 points from each MD5 digest of a name. */
#define POINTS_PER_HASH 4
/* MEMCACHED_NI_MAXHOST: libmemcached refuses hosts this long or longer,
 * so such a ring could never match it. */
#define HOST_MAX 1025
/* Room for ":port-index" after the host. */
#define NAME_MAX_LEN (HOST_MAX + 32)

typedef struct point {
  uint32_t value;
  uint32_t index; /* into the members given at create */
} point_t;

struct mcrepl__ring {
  point_t *points;
  size_t npoints;
};

/* libhashkit_md5_signature()'s digest read as 4 little-endian words;
 * alignment picks the word, as ketama_server_hash() does. */
static uint32_t digest_word(const unsigned char *d, unsigned alignment)
{
  const unsigned char *w = d + alignment * 4;

  return (uint32_t)w[3] << 24 | (uint32_t)w[2] << 16 |
         (uint32_t)w[1] << 8 | (uint32_t)w[0];
}

uint32_t mcrepl__ring_hash(const char *key, size_t len)
{
  unsigned char d[16];

  libhashkit_md5_signature((const unsigned char *)key, len, d);
  return digest_word(d, 0);
}

/* server_add_with_weight() turns a missing host into "localhost", port 0
 * into the default and weight 0 into 1 before anything is hashed. */
static const char *host_of(const mcrepl__ring_member_t *m)
{
  return m->host && m->host[0] ? m->host : "localhost";
}

static unsigned port_of(const mcrepl__ring_member_t *m)
{
  return m->port ? m->port : DEFAULT_PORT;
}

static uint64_t weight_of(const mcrepl__ring_member_t *m)
{
  return m->weight ? m->weight : 1;
}

/* Points of one member. Float on purpose, operation for operation as in
 * libmemcached: weights 1,6,6,6,6 give the first 28 points, not the 32
 * exact arithmetic would, as 7.9999995 floors to 7. */
uint32_t mcrepl__ring_points(uint64_t weight, uint64_t total, size_t n)
{
  float pct = (float)weight / (float)total;
  float x = pct * POINTS_PER_SERVER / 4 * (float)n + 0.0000000001F;

  /* libmemcached floors x then multiplies by 4; x is positive, so the
   * conversion's truncation is that floor, without needing libm. */
  return (uint32_t)x * 4;
}

/* The name of the i-th digest of a member: libmemcached's loop counter
 * starts at 1 but it prints counter - 1, so names run from "-0". */
static int point_name(char *buf, const mcrepl__ring_member_t *m,
                      uint32_t i)
{
  unsigned port = port_of(m);

  if (port == DEFAULT_PORT)
    return snprintf(buf, NAME_MAX_LEN, "%s-%u", host_of(m), (unsigned)i);
  return snprintf(buf, NAME_MAX_LEN, "%s:%u-%u", host_of(m), port,
                  (unsigned)i);
}

static int add_points(point_t *p, const mcrepl__ring_member_t *m,
                      uint32_t index, uint32_t count)
{
  char name[NAME_MAX_LEN];
  unsigned char d[16];
  uint32_t i;
  unsigned a;

  for (i = 0; i < count / POINTS_PER_HASH; i++) {
    int len = point_name(name, m, i);

    if (len < 0 || len >= NAME_MAX_LEN)
      return -1;
    libhashkit_md5_signature((const unsigned char *)name, (size_t)len, d);
    for (a = 0; a < POINTS_PER_HASH; a++) {
      p->value = digest_word(d, a);
      p++->index = index;
    }
  }
  return 0;
}

/* continuum_item_cmp(): by value, ties by member index, so equal values
 * order the same way as in libmemcached's qsort. */
static int point_cmp(const void *a, const void *b)
{
  const point_t *x = a, *y = b;

  if (x->value != y->value)
    return x->value < y->value ? -1 : 1;
  if (x->index != y->index)
    return x->index < y->index ? -1 : 1;
  return 0;
}

/* The bound on n keeps every point count, at most 160 * n, within the
 * uint32_t that mcrepl__ring_points() converts to. */
static int members_valid(const mcrepl__ring_member_t *members, size_t n)
{
  size_t i;

  if (!members || n == 0 || (uint64_t)n > UINT32_MAX / POINTS_PER_SERVER)
    return 0;
  for (i = 0; i < n; i++)
    if (strlen(host_of(&members[i])) >= HOST_MAX)
      return 0;
  return 1;
}

static uint64_t total_weight(const mcrepl__ring_member_t *members, size_t n)
{
  uint64_t total = 0;
  size_t i;

  for (i = 0; i < n; i++)
    total += weight_of(&members[i]);
  return total;
}

/* Fills r->points; the caller has sized it for every member's points. */
static int fill_points(mcrepl__ring_t *r, const mcrepl__ring_member_t *m,
                       size_t n, const uint32_t *counts)
{
  size_t i;

  r->npoints = 0;
  for (i = 0; i < n; i++) {
    if (add_points(r->points + r->npoints, &m[i], (uint32_t)i,
                   counts[i]) != 0)
      return -1;
    r->npoints += counts[i];
  }
  qsort(r->points, r->npoints, sizeof *r->points, point_cmp);
  return 0;
}

static int build_points(mcrepl__ring_t *r,
                        const mcrepl__ring_member_t *members, size_t n)
{
  uint64_t total = total_weight(members, n);
  uint32_t *counts = malloc(n * sizeof *counts);
  size_t i, npoints = 0;
  int rc = -1;

  if (!counts)
    return -1;
  for (i = 0; i < n; i++) {
    counts[i] = mcrepl__ring_points(weight_of(&members[i]), total, n);
    npoints += counts[i];
  }
  r->points = malloc((npoints ? npoints : 1) * sizeof *r->points);
  if (r->points)
    rc = fill_points(r, members, n, counts);
  free(counts);
  return rc;
}

mcrepl__ring_t *mcrepl__ring_create(const mcrepl__ring_member_t *members,
                                    size_t n)
{
  mcrepl__ring_t *r;

  if (!members_valid(members, n))
    return NULL;
  r = calloc(1, sizeof *r);
  if (!r)
    return NULL;
  if (build_points(r, members, n) != 0 || r->npoints == 0) {
    mcrepl__ring_destroy(r);
    return NULL;
  }
  return r;
}

void mcrepl__ring_destroy(mcrepl__ring_t *r)
{
  if (!r)
    return;
  free(r->points);
  free(r);
}

/* dispatch_host(): the first point at or above hash, wrapping to the
 * lowest point past the top of the ring. */
size_t mcrepl__ring_lookup(const mcrepl__ring_t *r, uint32_t hash)
{
  size_t lo = 0, hi = r->npoints;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;

    if (r->points[mid].value < hash)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (hi == r->npoints)
    hi = 0;
  return r->points[hi].index;
}
