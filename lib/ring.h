/* Key to pair: the libketama-compatible ring that libmemcached builds with
 * MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED over the pairs' identities. */
#ifndef MCREPL_RING_H
#define MCREPL_RING_H

#include <stddef.h>
#include <stdint.h>

typedef struct mcrepl__ring mcrepl__ring_t;

/* One member of the ring: libmemcached names a point "host-i" when port is
 * 11211 and "host:port-i" otherwise, so both are needed, not the text. */
typedef struct mcrepl__ring_member {
  const char *host;
  uint16_t port;
  uint32_t weight; /* >= 1 */
} mcrepl__ring_member_t;

/* Builds the ring; NULL when out of memory or n == 0. Immutable after,
 * so lookups are safe from any thread. */
mcrepl__ring_t *mcrepl__ring_create(const mcrepl__ring_member_t *members,
                                    size_t n);
void mcrepl__ring_destroy(mcrepl__ring_t *r);

/* How many points a member of weight `weight` gets among n members whose
 * weights add up to total (a multiple of 4, 0 for a share too small). */
uint32_t mcrepl__ring_points(uint64_t weight, uint64_t total, size_t n);

/* The key's hash as libmemcached computes it (MD5, low 32 bits). */
uint32_t mcrepl__ring_hash(const char *key, size_t len);

/* Index (into the members given at create) of the member for hash. */
size_t mcrepl__ring_lookup(const mcrepl__ring_t *r, uint32_t hash);

#endif
