/* A cheap hash of a key (FNV-1a), enough to spread keys over lock
 * stripes and hash slots; the ring has its own (MD5, ring.h). */
#ifndef MCREPL_HASH_H
#define MCREPL_HASH_H

#include <stddef.h>
#include <stdint.h>

static inline uint32_t mcrepl__fnv1a(const char *key, size_t len)
{
  uint32_t h = 2166136261u;
  size_t i;

  for (i = 0; i < len; i++)
    h = (h ^ (unsigned char)key[i]) * 16777619u;
  return h;
}

#endif
