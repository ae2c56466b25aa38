/* The handle (mcrepl_t), as its files share it: mcrepl.c makes it and
 * answers for the whole of it, write.c and read.c carry the callers'
 * commands. */
#ifndef MCREPL_HANDLE_H
#define MCREPL_HANDLE_H

#include "internal.h"
#include "ring.h"

struct mcrepl {
  mcrepl__config_t cfg;
  mcrepl__ring_t *ring;
  mcrepl__pair_t *pairs;
  size_t npairs;
  mcrepl__notify_t notify;
};

/* MCREPL_SUCCESS, or why memcached could not take key as one. */
mcrepl_return_t mcrepl__check_key(const char *key, size_t len);
/* The key's pair, and a hash of the key for its lock stripe. */
mcrepl__pair_t *mcrepl__pair_of(const mcrepl_t *m, const char *key,
                                size_t len, uint32_t *hash);
/* Whether this thread runs one of m's callbacks (see notify.h). */
int mcrepl__in_callback(const mcrepl_t *m);
/* Waits until every slave applied what was queued when it was called.
 * deadline_ns 0: no limit. MCREPL_TIMEOUT past it. */
mcrepl_return_t mcrepl__wait_marks(mcrepl_t *m, int64_t deadline_ns);
/* Whether any pair's slave is dirty. */
int mcrepl__any_dirty(mcrepl_t *m);

#endif
