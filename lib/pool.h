/* libmemcached handles to one server, one per concurrent caller:
 * memcached_st is not thread-safe, and cloning one per call would cost a
 * connection per call. */
#ifndef MCREPL_POOL_H
#define MCREPL_POOL_H

#include <libmemcached/memcached.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

typedef struct mcrepl__pool {
  pthread_mutex_t mu;
  memcached_st *tmpl;  /* configured once; the others are its clones */
  struct mcrepl__idle {
    memcached_st *mc;
    int64_t since;     /* when it was given back */
  } *idle;             /* a stack: the bottom was idle longest */
  int64_t idle_ns;     /* one idle this long is closed */
  size_t nidle, cap;
  unsigned gen;        /* handles of an older one are not given out */
  _Atomic size_t lent; /* handles out now: callers inside a call */
} mcrepl__pool_t;

/* 0, or -1 when out of memory. */
int mcrepl__pool_init(mcrepl__pool_t *p, const mcrepl__addr_t *server,
                      const mcrepl__config_t *cfg);
void mcrepl__pool_destroy(mcrepl__pool_t *p);
/* A handle for the calling thread alone; NULL when out of memory. */
memcached_st *mcrepl__pool_get(mcrepl__pool_t *p);
/* Gives it back. A handle whose connection failed is kept: libmemcached
 * reconnects it by itself. Handles idle for --pool-idle-timeout are
 * closed here, so that a burst of threads does not hold connections (a
 * server's scarce slots) for good. */
void mcrepl__pool_put(mcrepl__pool_t *p, memcached_st *mc);
/* Forgets every handle's connection and failure state, e.g. when the vip
 * moved: libmemcached would otherwise keep a server it saw fail out of
 * use for its retry timeout, though a live node is behind it now. */
void mcrepl__pool_renew(mcrepl__pool_t *p);
/* How many handles are lent out now, i.e. how many callers are inside a
 * call to this server; a hint, read without the lock. */
size_t mcrepl__pool_lent(mcrepl__pool_t *p);

#endif
