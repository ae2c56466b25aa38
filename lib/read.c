/* The caller's path of every read: key -> pair (ring) -> the target,
 * or the pair's nodes while it fails (read failover). */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "errors.h"
#include "handle.h"

/* Retrieval ------------------------------------------------------------- */

typedef struct {
  size_t *value_len;
  uint32_t *flags;
  uint64_t *cas;
  char *value;
} getout_t;

/* How a fetch ended. libmemcached ends one that broke on garbage (and,
 * in some versions, on a timeout) with NOTFOUND too: only its last error
 * tells a miss from a failure. */
static memcached_return_t fetch_end(memcached_st *mc, memcached_return_t r)
{
  memcached_return_t last = memcached_last_error(mc);

  if (r == MEMCACHED_NOTFOUND && !memcached_success(last) &&
      last != MEMCACHED_NOTFOUND && last != MEMCACHED_END)
    return last;
  return r;
}

/* One key, with its cas: a single-key mget, drained to its END. */
static mcrepl_return_t fetch_one(memcached_st *mc, const char *key,
                                 size_t klen, getout_t *o)
{
  memcached_return_t r = memcached_mget(mc, &key, &klen, 1);
  memcached_result_st *res;
  mcrepl_return_t rc = MCREPL_NOTFOUND;

  if (!memcached_success(r))
    return mcrepl__from_memcached(r);
  while ((res = memcached_fetch_result(mc, NULL, &r)) != NULL) {
    size_t len = memcached_result_length(res);
    if (!o->value && (o->value = malloc(len + 1)) != NULL) {
      memcpy(o->value, memcached_result_value(res), len);
      o->value[len] = '\0';
      if (o->value_len)
        *o->value_len = len;
      if (o->flags)
        *o->flags = memcached_result_flags(res);
      if (o->cas)
        *o->cas = memcached_result_cas(res);
    }
    rc = o->value ? MCREPL_SUCCESS : MCREPL_NOMEM;
    memcached_result_free(res);
  }
  if (rc == MCREPL_NOTFOUND)
    r = fetch_end(mc, r);
  if (r != MEMCACHED_END && r != MEMCACHED_SUCCESS &&
      r != MEMCACHED_NOTFOUND) {
    free(o->value);
    o->value = NULL;
    return mcrepl__from_memcached(r);
  }
  return rc;
}

/* Read failover: between a master's death and keepalived moving the vip
 * (seconds of VRRP), reads go to the pair's other node, which holds the
 * same data. A target that failed is skipped for --retry-timeout. */
static int target_unreachable(mcrepl_return_t rc)
{
  return rc == MCREPL_CONNECTION_FAILURE || rc == MCREPL_TIMEOUT ||
         rc == MCREPL_HOST_LOOKUP_FAILURE;
}

/* The pools a read tries, in order: the target (unless it failed
 * lately), then the real node last seen behind the vip (the vip's
 * address may still lead nowhere while ARP catches up), then the other
 * node. */
static size_t read_pools(mcrepl__pair_t *p, mcrepl__pool_t **out)
{
  int idx = atomic_load(&p->master_idx);
  size_t n = 0;

  if (!p->cfg->read_failover ||
      mcrepl__now_ns() >= atomic_load(&p->target_down_until))
    out[n++] = &p->pool;
  if (p->cfg->read_failover) {
    if (p->conf->has_vip)
      out[n++] = &p->node_pool[idx];
    out[n++] = &p->node_pool[1 - idx];
  }
  return n;
}

/* A read on pools[i] came back with rc: whether to try the next. */
static int try_next(mcrepl__pair_t *p, mcrepl__pool_t *pool,
                    mcrepl_return_t rc)
{
  if (!target_unreachable(rc))
    return 0;
  if (pool == &p->pool)
    atomic_store(&p->target_down_until,
                 mcrepl__now_ns() +
                     mcrepl__ms_to_ns(p->cfg->retry_timeout_ms));
  return 1;
}

static void count_failover(mcrepl__pair_t *p, mcrepl__pool_t *pool)
{
  if (pool != &p->pool)
    atomic_fetch_add(&p->read_failovers, 1);
}

static mcrepl_return_t fetch_on(mcrepl__pool_t *pool, const char *key,
                                size_t klen, getout_t *o)
{
  memcached_st *mc = mcrepl__pool_get(pool);
  mcrepl_return_t rc;

  if (!mc)
    return MCREPL_NOMEM;
  rc = fetch_one(mc, key, klen, o);
  mcrepl__pool_put(pool, mc);
  return rc;
}

static char *get_common(mcrepl_t *m, const char *key, size_t key_len,
                        getout_t *o, mcrepl_return_t *rcp)
{
  mcrepl_return_t rc = MCREPL_FAILURE, dummy;
  mcrepl__pool_t *pools[3];
  mcrepl__pair_t *p;
  uint32_t hash;
  size_t i, n;

  if (!rcp)
    rcp = &dummy;
  rc = m ? mcrepl__check_key(key, key_len) : MCREPL_INVALID_ARGUMENTS;
  if (rc != MCREPL_SUCCESS) {
    *rcp = rc;
    return NULL;
  }
  p = mcrepl__pair_of(m, key, key_len, &hash);
  n = read_pools(p, pools);
  for (i = 0; i < n; i++) {
    rc = fetch_on(pools[i], key, key_len, o);
    if (!try_next(p, pools[i], rc))
      break;
  }
  if (i < n)
    count_failover(p, pools[i]);
  *rcp = rc;
  return rc == MCREPL_SUCCESS ? o->value : NULL;
}

MCREPL_API char *mcrepl_get(mcrepl_t *m, const char *key, size_t key_len,
                            size_t *value_len, uint32_t *flags,
                            mcrepl_return_t *rc)
{
  getout_t o = {value_len, flags, NULL, NULL};
  return get_common(m, key, key_len, &o, rc);
}

MCREPL_API char *mcrepl_gets(mcrepl_t *m, const char *key, size_t key_len,
                             size_t *value_len, uint32_t *flags,
                             uint64_t *cas, mcrepl_return_t *rc)
{
  getout_t o = {value_len, flags, cas, NULL};
  return get_common(m, key, key_len, &o, rc);
}

/* mget: the keys of each pair in one round trip. */
typedef struct {
  const char **keys;
  size_t *lens;
  size_t n;
} keyset_t;

/* *stopped is set when the callback asked to stop: told apart from a
 * failure of the server's, which maps to MCREPL_FAILURE too, and after
 * which the other pairs are still fetched. */
static mcrepl_return_t mget_on(mcrepl__pool_t *pool, const keyset_t *ks,
                               mcrepl_get_cb cb, void *ctx, size_t *seen,
                               int *stopped)
{
  memcached_st *mc = mcrepl__pool_get(pool);
  memcached_result_st *res;
  memcached_return_t r;

  if (!mc)
    return MCREPL_NOMEM;
  r = memcached_mget(mc, ks->keys, ks->lens, ks->n);
  if (memcached_success(r)) {
    while ((res = memcached_fetch_result(mc, NULL, &r)) != NULL) {
      if (!*stopped &&
          cb(ctx, memcached_result_key_value(res),
             memcached_result_key_length(res), memcached_result_value(res),
             memcached_result_length(res), memcached_result_flags(res),
             memcached_result_cas(res)) != 0)
        *stopped = 1; /* drain the rest so the handle stays usable */
      memcached_result_free(res);
      ++*seen;
    }
    if (*seen == 0)
      r = fetch_end(mc, r);
  }
  mcrepl__pool_put(pool, mc);
  if (*stopped)
    return MCREPL_FAILURE;
  if (r == MEMCACHED_END || r == MEMCACHED_NOTFOUND || memcached_success(r))
    return MCREPL_SUCCESS;
  return mcrepl__from_memcached(r);
}

static mcrepl_return_t mget_pair(mcrepl__pair_t *p, const keyset_t *ks,
                                 mcrepl_get_cb cb, void *ctx, int *stopped)
{
  mcrepl_return_t rc = MCREPL_FAILURE;
  mcrepl__pool_t *pools[3];
  size_t seen = 0, i, n = read_pools(p, pools);

  /* Only a fetch that returned nothing can be asked again: the callback
   * must not see a key twice. */
  for (i = 0; i < n; i++) {
    rc = mget_on(pools[i], ks, cb, ctx, &seen, stopped);
    if (seen > 0 || !try_next(p, pools[i], rc))
      break;
  }
  if (i < n)
    count_failover(p, pools[i]);
  return rc;
}

static mcrepl_return_t mget_check(const mcrepl_t *m, const char *const *keys,
                                  const size_t *lens, size_t n,
                                  mcrepl_get_cb cb)
{
  size_t i;

  if (!m || (!keys && n) || (!lens && n) || !cb)
    return MCREPL_INVALID_ARGUMENTS;
  for (i = 0; i < n; i++) {
    mcrepl_return_t rc = mcrepl__check_key(keys[i], lens[i]);
    if (rc != MCREPL_SUCCESS)
      return rc;
  }
  return MCREPL_SUCCESS;
}

MCREPL_API mcrepl_return_t mcrepl_mget(mcrepl_t *m, const char *const *keys,
                                       const size_t *key_lens, size_t n,
                                       mcrepl_get_cb cb, void *ctx)
{
  mcrepl_return_t rc = mget_check(m, keys, key_lens, n, cb), r;
  keyset_t ks;
  size_t *owner, i, j;
  int stopped = 0;

  if (rc != MCREPL_SUCCESS || n == 0)
    return rc;
  owner = malloc(n * sizeof *owner);
  ks.keys = malloc(n * sizeof *ks.keys);
  ks.lens = malloc(n * sizeof *ks.lens);
  if (!owner || !ks.keys || !ks.lens)
    rc = MCREPL_NOMEM;
  for (i = 0; rc == MCREPL_SUCCESS && i < n; i++) {
    uint32_t h;
    mcrepl__pair_t *p = mcrepl__pair_of(m, keys[i], key_lens[i], &h);
    owner[i] = (size_t)(p - m->pairs);
  }
  for (j = 0; rc != MCREPL_NOMEM && j < m->npairs; j++) {
    for (ks.n = 0, i = 0; i < n; i++)
      if (owner[i] == j) {
        ks.keys[ks.n] = keys[i];
        ks.lens[ks.n++] = key_lens[i];
      }
    if (ks.n == 0)
      continue;
    r = mget_pair(&m->pairs[j], &ks, cb, ctx, &stopped);
    if (stopped) {
      rc = MCREPL_FAILURE;
      break;
    }
    if (r != MCREPL_SUCCESS && rc == MCREPL_SUCCESS)
      rc = r;
  }
  free(owner);
  free(ks.keys);
  free(ks.lens);
  return rc;
}
