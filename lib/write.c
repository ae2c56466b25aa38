/* The caller's path of every write: key -> pair (ring) -> master
 * (pooled libmemcached handle) -> on success, one entry on the pair's
 * queue for its sender. */
#include <string.h>

#include "clock.h"
#include "errors.h"
#include "handle.h"
#include "node.h"

/* The replication step -------------------------------------------------- */

static void enqueue(mcrepl__pair_t *p, mcrepl__op_t op, const char *key,
                    size_t klen, const char *val, size_t vlen,
                    uint32_t flags, int64_t exptime)
{
  int block_ms = p->cfg->overflow == MCREPL__OVERFLOW_BLOCK
                     ? p->cfg->io_timeout_ms : 0;
  mcrepl__entry_t *e = mcrepl__entry_new(&p->q, op, key, klen, val, vlen,
                                         flags, exptime, mcrepl__now_ns());

  if (!e) {
    mcrepl__queue_count_drop(&p->q);
    mcrepl__stats_add_dirt(&p->st);
    return;
  }
  /* Which master acknowledged it, as far as this process knows: its
   * verification means nothing against another one. */
  e->roles = (uint32_t)atomic_load(&p->vip_changes);
  if (!mcrepl__queue_push(&p->q, e, block_ms))
    mcrepl__stats_add_dirt(&p->st);
}

/* A stored item whose value we know: its state is the write itself,
 * unless its expiry is absolute, which only the master's clock can turn
 * into the remaining time. */
static void enqueue_stored(mcrepl__pair_t *p, const char *key, size_t klen,
                           const char *val, size_t vlen, uint32_t flags,
                           time_t exptime)
{
  if (exptime < 0)
    enqueue(p, MCREPL__OP_DELETE, key, klen, NULL, 0, 0, 0);
  else if (exptime > MCREPL__RELATIVE_MAX)
    enqueue(p, MCREPL__OP_READBACK, key, klen, NULL, 0, 0, 0);
  else
    enqueue(p, MCREPL__OP_SET, key, klen, val, vlen, flags, exptime);
}

/* Storage commands ------------------------------------------------------ */

typedef enum { ST_SET, ST_ADD, ST_REPLACE, ST_APPEND, ST_PREPEND, ST_CAS }
    store_kind_t;

typedef struct {
  store_kind_t kind;
  const char *key, *val;
  size_t klen, vlen;
  time_t exptime;
  uint32_t flags;
  uint64_t cas;
} store_t;

/* A negative expiry means "expired at once". The text protocol says so
 * itself, but the binary one carries it unsigned: -1 would keep the item
 * until 2106. A Unix time in January 1970 is in the past for both. A
 * later one than memcached can keep is the latest it can, as on the
 * slave (see MCREPL__EXPIRY_MAX). */
static time_t master_exptime(time_t exptime)
{
  if (exptime < 0)
    return (time_t)MCREPL__RELATIVE_MAX + 1;
  return exptime > MCREPL__EXPIRY_MAX ? (time_t)MCREPL__EXPIRY_MAX : exptime;
}

static memcached_return_t store_master(memcached_st *mc, const store_t *s)
{
  time_t exptime = master_exptime(s->exptime);

  switch (s->kind) {
  case ST_SET:
    return memcached_set(mc, s->key, s->klen, s->val, s->vlen, exptime,
                         s->flags);
  case ST_ADD:
    return memcached_add(mc, s->key, s->klen, s->val, s->vlen, exptime,
                         s->flags);
  case ST_REPLACE:
    return memcached_replace(mc, s->key, s->klen, s->val, s->vlen,
                             exptime, s->flags);
  case ST_APPEND:
    return memcached_append(mc, s->key, s->klen, s->val, s->vlen, 0, 0);
  case ST_PREPEND:
    return memcached_prepend(mc, s->key, s->klen, s->val, s->vlen, 0, 0);
  case ST_CAS:
    return memcached_cas(mc, s->key, s->klen, s->val, s->vlen, exptime,
                         s->flags, s->cas);
  }
  return MEMCACHED_INVALID_ARGUMENTS;
}

/* Runs op on the key's master with the key's stripe held, so that the
 * entry it queues lands in the master's order. */
typedef mcrepl_return_t (*master_fn)(mcrepl__pair_t *p, memcached_st *mc,
                                     void *arg);

static mcrepl_return_t on_master(mcrepl_t *m, const char *key, size_t klen,
                                 master_fn fn, void *arg)
{
  mcrepl_return_t rc;
  memcached_st *mc;
  mcrepl__pair_t *p;
  pthread_mutex_t *stripe;
  uint32_t hash;

  if (!m)
    return MCREPL_INVALID_ARGUMENTS;
  rc = mcrepl__check_key(key, klen);
  if (rc != MCREPL_SUCCESS)
    return rc;
  p = mcrepl__pair_of(m, key, klen, &hash);
  stripe = &p->stripes[hash % MCREPL__STRIPES];
  mc = mcrepl__pool_get(&p->pool);
  if (!mc)
    return MCREPL_NOMEM;
  pthread_rwlock_rdlock(&p->flush_lock);
  pthread_mutex_lock(stripe);
  rc = fn(p, mc, arg);
  /* A write that timed out may still be applied by the master: the
   * state read back later makes the slave agree, whichever it was. */
  if (rc == MCREPL_TIMEOUT)
    enqueue(p, MCREPL__OP_READBACK, key, klen, NULL, 0, 0, 0);
  pthread_mutex_unlock(stripe);
  pthread_rwlock_unlock(&p->flush_lock);
  mcrepl__pool_put(&p->pool, mc);
  return rc;
}

/* With --binary-protocol the server refuses an add of a present key as
 * EXISTS and a replace of a missing one as NOT_FOUND; the text protocol
 * says NOT_STORED to both, and callers must not see the difference. */
static mcrepl_return_t store_code(int kind, mcrepl_return_t rc)
{
  if ((kind == ST_ADD && rc == MCREPL_EXISTS) ||
      (kind == ST_REPLACE && rc == MCREPL_NOTFOUND))
    return MCREPL_NOTSTORED;
  return rc;
}

static mcrepl_return_t do_store(mcrepl__pair_t *p, memcached_st *mc,
                                void *arg)
{
  const store_t *s = arg;
  mcrepl_return_t rc =
      store_code(s->kind, mcrepl__from_write(mc, store_master(mc, s)));

  if (rc != MCREPL_SUCCESS)
    return rc;
  if (s->kind == ST_APPEND || s->kind == ST_PREPEND)
    enqueue(p, MCREPL__OP_READBACK, s->key, s->klen, NULL, 0, 0, 0);
  else
    enqueue_stored(p, s->key, s->klen, s->val, s->vlen, s->flags,
                   s->exptime);
  return MCREPL_SUCCESS;
}

/* memcached's largest item (-I 1024m), header and key included: a value
 * this long fits no server. Longer ones must not reach it at all: it
 * reads a length past 2^31 - 1 as negative, refuses the command line
 * without swallowing the data, and runs the value's lines as commands. */
#define VALUE_MAX ((size_t)1 << 30)

static mcrepl_return_t store(mcrepl_t *m, store_t *s)
{
  if (!s->val && s->vlen > 0)
    return MCREPL_INVALID_ARGUMENTS;
  if (s->vlen >= VALUE_MAX)
    return MCREPL_VALUE_TOO_LARGE;
  if (!s->val)
    s->val = "";
  return on_master(m, s->key, s->klen, do_store, s);
}

MCREPL_API mcrepl_return_t mcrepl_set(mcrepl_t *m, const char *key,
                                      size_t key_len, const char *value,
                                      size_t value_len, time_t exptime,
                                      uint32_t flags)
{
  store_t s = {ST_SET, key, value, key_len, value_len, exptime, flags, 0};
  return store(m, &s);
}

MCREPL_API mcrepl_return_t mcrepl_add(mcrepl_t *m, const char *key,
                                      size_t key_len, const char *value,
                                      size_t value_len, time_t exptime,
                                      uint32_t flags)
{
  store_t s = {ST_ADD, key, value, key_len, value_len, exptime, flags, 0};
  return store(m, &s);
}

MCREPL_API mcrepl_return_t mcrepl_replace(mcrepl_t *m, const char *key,
                                          size_t key_len, const char *value,
                                          size_t value_len, time_t exptime,
                                          uint32_t flags)
{
  store_t s = {ST_REPLACE, key, value, key_len, value_len, exptime, flags,
               0};
  return store(m, &s);
}

/* Appends and prepends keep the item's expiry and flags. */
MCREPL_API mcrepl_return_t mcrepl_append(mcrepl_t *m, const char *key,
                                         size_t key_len, const char *value,
                                         size_t value_len, time_t exptime,
                                         uint32_t flags)
{
  store_t s = {ST_APPEND, key, value, key_len, value_len, exptime, flags,
               0};
  return store(m, &s);
}

MCREPL_API mcrepl_return_t mcrepl_prepend(mcrepl_t *m, const char *key,
                                          size_t key_len, const char *value,
                                          size_t value_len, time_t exptime,
                                          uint32_t flags)
{
  store_t s = {ST_PREPEND, key, value, key_len, value_len, exptime, flags,
               0};
  return store(m, &s);
}

MCREPL_API mcrepl_return_t mcrepl_cas(mcrepl_t *m, const char *key,
                                      size_t key_len, const char *value,
                                      size_t value_len, time_t exptime,
                                      uint32_t flags, uint64_t cas)
{
  store_t s = {ST_CAS, key, value, key_len, value_len, exptime, flags, cas};

  /* libmemcached leaves a zero token out of the command line, and the
   * server then reads the value as commands of its own. memcached never
   * hands out 0 (-C, which disables cas, answers gets with 0). */
  if (cas == 0)
    return MCREPL_INVALID_ARGUMENTS;
  return store(m, &s);
}

/* touch, delete, incr, decr --------------------------------------------- */

typedef struct {
  const char *key;
  size_t klen;
  time_t exptime;
  uint64_t delta;
  uint64_t *result;
  int decr;
} keyop_t;

static mcrepl_return_t do_touch(mcrepl__pair_t *p, memcached_st *mc,
                                void *arg)
{
  const keyop_t *k = arg;
  mcrepl_return_t rc = mcrepl__from_memcached(
      memcached_touch(mc, k->key, k->klen, master_exptime(k->exptime)));

  if (rc == MCREPL_SUCCESS)
    enqueue(p, k->exptime < 0 ? MCREPL__OP_DELETE : MCREPL__OP_READBACK,
            k->key, k->klen, NULL, 0, 0, 0);
  return rc;
}

MCREPL_API mcrepl_return_t mcrepl_touch(mcrepl_t *m, const char *key,
                                        size_t key_len, time_t exptime)
{
  keyop_t k = {key, key_len, exptime, 0, NULL, 0};
  return on_master(m, key, key_len, do_touch, &k);
}

static mcrepl_return_t do_delete(mcrepl__pair_t *p, memcached_st *mc,
                                 void *arg)
{
  const keyop_t *k = arg;
  mcrepl_return_t rc =
      mcrepl__from_memcached(memcached_delete(mc, k->key, k->klen, 0));

  if (rc == MCREPL_SUCCESS)
    enqueue(p, MCREPL__OP_DELETE, k->key, k->klen, NULL, 0, 0, 0);
  return rc;
}

MCREPL_API mcrepl_return_t mcrepl_delete(mcrepl_t *m, const char *key,
                                         size_t key_len)
{
  keyop_t k = {key, key_len, 0, 0, NULL, 0};
  return on_master(m, key, key_len, do_delete, &k);
}

/* memcached answers "CLIENT_ERROR cannot increment or decrement
 * non-numeric value" (any other CLIENT_ERROR is about something else);
 * in the binary protocol, a status (DELTA_BADVAL) that libmemcached 1.1
 * does not know, and reports as a read failure with no errno, on a
 * connection that is fine. */
static int not_a_number(memcached_st *mc, memcached_return_t r)
{
  const char *msg;

  if (r == MEMCACHED_CLIENT_ERROR) {
    msg = memcached_last_error_message(mc);
    return msg && strstr(msg, "non-numeric") != NULL;
  }
  return r == MEMCACHED_UNKNOWN_READ_FAILURE &&
         memcached_last_error_errno(mc) == 0 &&
         memcached_behavior_get(mc, MEMCACHED_BEHAVIOR_BINARY_PROTOCOL);
}

static mcrepl_return_t do_arith(mcrepl__pair_t *p, memcached_st *mc,
                                void *arg)
{
  const keyop_t *k = arg;
  /* The _by_key forms carry the delta in 64 bits, the plain ones in 32;
   * the handle has the one server, so the group key changes nothing. */
  memcached_return_t r =
      k->decr ? memcached_decrement_by_key(mc, k->key, k->klen, k->key,
                                           k->klen, k->delta, k->result)
              : memcached_increment_by_key(mc, k->key, k->klen, k->key,
                                           k->klen, k->delta, k->result);
  mcrepl_return_t rc;

  if (not_a_number(mc, r))
    return MCREPL_NON_NUMERIC;
  rc = mcrepl__from_write(mc, r);
  if (rc == MCREPL_SUCCESS)
    enqueue(p, MCREPL__OP_READBACK, k->key, k->klen, NULL, 0, 0, 0);
  return rc;
}

static mcrepl_return_t arith(mcrepl_t *m, const char *key, size_t key_len,
                             uint64_t delta, uint64_t *new_value, int decr)
{
  uint64_t ignored;
  keyop_t k = {key, key_len, 0, delta, new_value ? new_value : &ignored,
               decr};

  return on_master(m, key, key_len, do_arith, &k);
}

MCREPL_API mcrepl_return_t mcrepl_incr(mcrepl_t *m, const char *key,
                                       size_t key_len, uint64_t delta,
                                       uint64_t *new_value)
{
  return arith(m, key, key_len, delta, new_value, 0);
}

MCREPL_API mcrepl_return_t mcrepl_decr(mcrepl_t *m, const char *key,
                                       size_t key_len, uint64_t delta,
                                       uint64_t *new_value)
{
  return arith(m, key, key_len, delta, new_value, 1);
}

/* flush ----------------------------------------------------------------- */

static mcrepl_return_t flush_master(mcrepl__pair_t *p, time_t exptime)
{
  memcached_st *mc = mcrepl__pool_get(&p->pool);
  mcrepl_return_t rc;

  memcached_return_t r;

  if (!mc)
    return MCREPL_NOMEM;
  r = memcached_flush(mc, exptime);
  /* With one server, "some errors" is that server's error. */
  if (r == MEMCACHED_SOME_ERRORS)
    r = memcached_success(memcached_last_error(mc))
            ? MEMCACHED_CONNECTION_FAILURE
            : memcached_last_error(mc);
  rc = mcrepl__from_memcached(r);
  mcrepl__pool_put(&p->pool, mc);
  return rc;
}

static mcrepl_return_t wait_all(mcrepl_t *m)
{
  return mcrepl__wait_marks(m, mcrepl__now_ns() +
                           mcrepl__ms_to_ns(m->cfg.io_timeout_ms));
}

/* The flush took the failover markers too. Flushed on both nodes, the
 * pair holds the same data again (none), as a new pair does, and both
 * nodes are marked so: otherwise the next health check would take the
 * node it examines second for one that lost its data, and keepalived
 * could move the vip away from a healthy master for it. A slave that
 * missed writes stays banned: its clients write the stale marker again
 * at their next tick (see mark_stale in failover.c). */
static mcrepl_return_t mark_new(mcrepl__pair_t *p)
{
  static const char key[] = MCREPL__KEY_READY;
  memcached_st *mc = mcrepl__pool_get(&p->pool);
  memcached_return_t r;
  mcrepl_return_t rc;
  char val[48];

  if (!mc)
    return MCREPL_NOMEM;
  mcrepl__ready_new(val, sizeof val);
  r = memcached_set(mc, key, sizeof key - 1, val, strlen(val), 0, 0);
  rc = mcrepl__from_write(mc, r);
  mcrepl__pool_put(&p->pool, mc);
  if (rc != MCREPL_SUCCESS)
    return rc;
  enqueue(p, MCREPL__OP_SET, key, sizeof key - 1, val, strlen(val), 0, 0);
  return MCREPL_SUCCESS;
}

MCREPL_API mcrepl_return_t mcrepl_flush(mcrepl_t *m, time_t exptime)
{
  mcrepl_return_t rc = MCREPL_SUCCESS, r;
  size_t i;

  if (!m)
    return MCREPL_INVALID_ARGUMENTS;
  if (mcrepl__in_callback(m))
    return MCREPL_RECURSIVE_API_CALL;
  for (i = 0; i < m->npairs; i++) {
    mcrepl__pair_t *p = &m->pairs[i];
    pthread_rwlock_wrlock(&p->flush_lock);
    r = flush_master(p, exptime);
    if (r == MCREPL_SUCCESS)
      enqueue(p, MCREPL__OP_FLUSH, "", 0, NULL, 0, 0,
              exptime > 0 ? exptime : 0);
    else if (rc == MCREPL_SUCCESS)
      rc = r;
    pthread_rwlock_unlock(&p->flush_lock);
  }
  if (rc == MCREPL_SUCCESS)
    rc = wait_all(m);
  /* A delayed flush would take markers written now with it. */
  if (rc != MCREPL_SUCCESS || exptime > 0)
    return rc == MCREPL_SUCCESS && mcrepl__any_dirty(m) ? MCREPL_SLAVE_DIRTY
                                                         : rc;
  for (i = 0; i < m->npairs && rc == MCREPL_SUCCESS; i++)
    rc = mark_new(&m->pairs[i]);
  if (rc == MCREPL_SUCCESS)
    rc = wait_all(m);
  return rc == MCREPL_SUCCESS && mcrepl__any_dirty(m) ? MCREPL_SLAVE_DIRTY : rc;
}
