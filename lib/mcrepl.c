/* The handle: create/destroy, and the caller's path of every command:
 * key -> pair (ring) -> master (pooled libmemcached handle) -> on success,
 * one entry on the pair's queue for its sender. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "errors.h"
#include "internal.h"
#include "node.h"

/* memcached's expiry rule: up to 30 days is relative, beyond absolute. */
#define KEY_MAX 250

/* Handle lifecycle ------------------------------------------------------ */

static void pools_destroy(mcrepl__pair_t *p)
{
  mcrepl__pool_destroy(&p->pool);
  mcrepl__pool_destroy(&p->node_pool[0]);
  mcrepl__pool_destroy(&p->node_pool[1]);
}

static int pools_init(mcrepl__pair_t *p, const mcrepl__config_t *cfg)
{
  if (mcrepl__pool_init(&p->pool, p->target, cfg) == 0 &&
      mcrepl__pool_init(&p->node_pool[0], p->node[0], cfg) == 0 &&
      mcrepl__pool_init(&p->node_pool[1], p->node[1], cfg) == 0)
    return 0;
  pools_destroy(p);
  return -1;
}

static void locks(mcrepl__pair_t *p, int init)
{
  pthread_rwlockattr_t a;
  size_t i;

  for (i = 0; i < MCREPL__STRIPES; i++)
    if (init)
      pthread_mutex_init(&p->stripes[i], NULL);
    else
      pthread_mutex_destroy(&p->stripes[i]);
  if (!init) {
    pthread_rwlock_destroy(&p->flush_lock);
    return;
  }
  /* Writes come all the time: a flush must not wait for a gap. */
  pthread_rwlockattr_init(&a);
  pthread_rwlockattr_setkind_np(&a,
                                PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  pthread_rwlock_init(&p->flush_lock, &a);
  pthread_rwlockattr_destroy(&a);
}

static int init_pair(mcrepl_t *m, size_t i)
{
  mcrepl__pair_t *p = &m->pairs[i];

  p->index = i;
  p->m = m;
  p->conf = &m->cfg.pairs[i];
  p->cfg = &m->cfg;
  p->target = p->conf->has_vip ? &p->conf->vip : &p->conf->master;
  p->node[0] = &p->conf->master;
  p->node[1] = &p->conf->slave;
  atomic_init(&p->master_idx, 0);
  atomic_init(&p->target_down_until, 0);
  atomic_init(&p->vip_changes, 0);
  atomic_init(&p->read_failovers, 0);
  atomic_init(&p->deadline, 0);
  mcrepl__stats_init(&p->st);
  /* Half a window of slack keeps the lag of a burst's last write within
   * 1.5 windows. */
  if (mcrepl__queue_init(&p->q, m->cfg.queue_bytes,
                         (int64_t)m->cfg.batch_delay_us * 1000 / 2) != 0)
    return -1;
  p->q.pace_ns = mcrepl__ms_to_ns(m->cfg.pace_timeout_ms);
  if (pools_init(p, &m->cfg) != 0) {
    mcrepl__queue_destroy(&p->q);
    return -1;
  }
  locks(p, 1);
  if (mcrepl__sender_start(p) != 0) {
    locks(p, 0);
    pools_destroy(p);
    mcrepl__queue_destroy(&p->q);
    return -1;
  }
  return 0;
}

static void fini_pair(mcrepl__pair_t *p, int64_t deadline_ns)
{
  mcrepl__sender_stop(p, deadline_ns);
  locks(p, 0);
  pools_destroy(p);
  mcrepl__queue_destroy(&p->q);
}

static mcrepl__ring_t *make_ring(const mcrepl__config_t *cfg)
{
  mcrepl__ring_member_t *mem = calloc(cfg->npairs, sizeof *mem);
  mcrepl__ring_t *r;
  size_t i;

  if (!mem)
    return NULL;
  for (i = 0; i < cfg->npairs; i++) {
    const mcrepl__pair_conf_t *pc = &cfg->pairs[i];
    const mcrepl__addr_t *id = pc->has_vip ? &pc->vip : &pc->master;
    mem[i].host = id->host;
    mem[i].port = id->port;
    mem[i].weight = pc->weight;
  }
  r = mcrepl__ring_create(mem, cfg->npairs);
  free(mem);
  return r;
}

static void seterr(char *errbuf, size_t len, const char *msg)
{
  if (errbuf && len > 0) {
    strncpy(errbuf, msg, len - 1);
    errbuf[len - 1] = '\0';
  }
}

static void free_handle(mcrepl_t *m, size_t started, int64_t deadline_ns)
{
  size_t i;

  for (i = 0; i < started; i++)
    mcrepl__sender_signal(&m->pairs[i], deadline_ns);
  for (i = 0; i < started; i++)
    fini_pair(&m->pairs[i], deadline_ns);
  pthread_mutex_destroy(&m->cb_mu);
  free(m->pairs);
  mcrepl__ring_destroy(m->ring);
  mcrepl__config_free(&m->cfg);
  free(m);
}

MCREPL_API mcrepl_t *mcrepl_create(const char *config, char *errbuf,
                                   size_t errbuf_len)
{
  mcrepl_t *m = calloc(1, sizeof *m);
  size_t i;

  if (!m) {
    seterr(errbuf, errbuf_len, "out of memory");
    errno = ENOMEM;
    return NULL;
  }
  pthread_mutex_init(&m->cb_mu, NULL);
  atomic_init(&m->log_max, -1);
  if (mcrepl__config_parse(config, &m->cfg, errbuf, errbuf_len) != 0) {
    free_handle(m, 0, 0);
    errno = EINVAL;
    return NULL;
  }
  m->npairs = m->cfg.npairs;
  m->ring = make_ring(&m->cfg);
  m->pairs = calloc(m->npairs, sizeof *m->pairs);
  if (!m->ring || !m->pairs) {
    seterr(errbuf, errbuf_len, "out of memory");
    free_handle(m, 0, 0);
    errno = ENOMEM;
    return NULL;
  }
  for (i = 0; i < m->npairs; i++)
    if (init_pair(m, i) != 0) {
      seterr(errbuf, errbuf_len, "out of memory or threads");
      free_handle(m, i, mcrepl__now_ns());
      errno = ENOMEM;
      return NULL;
    }
  return m;
}

MCREPL_API void mcrepl_destroy(mcrepl_t *m)
{
  if (!m || mcrepl__in_callback(m))
    return;
  free_handle(m, m->npairs,
              mcrepl__now_ns() +
                  mcrepl__ms_to_ns(m->cfg.shutdown_timeout_ms) + 1);
}

/* Keys ------------------------------------------------------------------ */

/* memcached's text protocol ends a key at a space or control byte: such
 * a key would let a caller inject commands into our pipelines. */
static mcrepl_return_t check_key(const char *key, size_t len)
{
  size_t i;

  if (!key)
    return MCREPL_INVALID_ARGUMENTS;
  if (len == 0 || len > KEY_MAX)
    return MCREPL_BAD_KEY;
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)key[i];
    if (c <= ' ' || c == 0x7f)
      return MCREPL_BAD_KEY;
  }
  return MCREPL_SUCCESS;
}

/* FNV-1a: enough to spread keys over the stripes. */
static uint32_t cheap_hash(const char *key, size_t len)
{
  uint32_t h = 2166136261u;
  size_t i;

  for (i = 0; i < len; i++)
    h = (h ^ (unsigned char)key[i]) * 16777619u;
  return h;
}

/* The key's pair, and a hash for its stripe. A single pair needs no ring:
 * the MD5 it costs is then saved on every call. */
static mcrepl__pair_t *pair_of(const mcrepl_t *m, const char *key,
                               size_t len, uint32_t *hash)
{
  if (m->npairs == 1) {
    *hash = cheap_hash(key, len);
    return &m->pairs[0];
  }
  *hash = mcrepl__ring_hash(key, len);
  return &m->pairs[mcrepl__ring_lookup(m->ring, *hash)];
}

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
    mcrepl__pair_mark_dirty(p);
  } else if (!mcrepl__queue_push(&p->q, e, block_ms)) {
    mcrepl__pair_mark_dirty(p);
  }
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
  rc = check_key(key, klen);
  if (rc != MCREPL_SUCCESS)
    return rc;
  p = pair_of(m, key, klen, &hash);
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

#define STORE_FN(name, KIND)                                               \
  MCREPL_API mcrepl_return_t name(mcrepl_t *m, const char *key,            \
                                  size_t key_len, const char *value,       \
                                  size_t value_len, time_t exptime,        \
                                  uint32_t flags)                          \
  {                                                                        \
    store_t s = {KIND, key, value, key_len, value_len, exptime, flags, 0}; \
    return store(m, &s);                                                   \
  }

STORE_FN(mcrepl_set, ST_SET)
STORE_FN(mcrepl_add, ST_ADD)
STORE_FN(mcrepl_replace, ST_REPLACE)
STORE_FN(mcrepl_append, ST_APPEND)
STORE_FN(mcrepl_prepend, ST_PREPEND)

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

/* Waits until every slave applied what was queued when it was called:
 * every mark is taken first, so that writes made during the wait are not
 * waited for. deadline_ns 0: no limit. */
static mcrepl_return_t wait_marks(mcrepl_t *m, int64_t deadline_ns)
{
  uint64_t *mark = malloc(m->npairs * sizeof *mark);
  mcrepl_return_t rc = MCREPL_SUCCESS;
  size_t i;

  if (!mark)
    return MCREPL_NOMEM;
  for (i = 0; i < m->npairs; i++)
    mark[i] = mcrepl__queue_mark(&m->pairs[i].q);
  for (i = 0; i < m->npairs && rc == MCREPL_SUCCESS; i++)
    if (mcrepl__queue_wait(&m->pairs[i].q, mark[i], deadline_ns) != 0)
      rc = MCREPL_TIMEOUT;
  free(mark);
  return rc;
}

/* A slave missed writes (or refused a flush): only a resync mends it. */
static int any_dirty(mcrepl_t *m)
{
  int dirty = 0;
  size_t i;

  for (i = 0; i < m->npairs; i++)
    dirty |= mcrepl__stats_dirty(&m->pairs[i].st);
  return dirty;
}

static mcrepl_return_t wait_all(mcrepl_t *m)
{
  return wait_marks(m, mcrepl__now_ns() +
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
    return rc == MCREPL_SUCCESS && any_dirty(m) ? MCREPL_SLAVE_DIRTY : rc;
  for (i = 0; i < m->npairs && rc == MCREPL_SUCCESS; i++)
    rc = mark_new(&m->pairs[i]);
  if (rc == MCREPL_SUCCESS)
    rc = wait_all(m);
  return rc == MCREPL_SUCCESS && any_dirty(m) ? MCREPL_SLAVE_DIRTY : rc;
}

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
  rc = m ? check_key(key, key_len) : MCREPL_INVALID_ARGUMENTS;
  if (rc != MCREPL_SUCCESS) {
    *rcp = rc;
    return NULL;
  }
  p = pair_of(m, key, key_len, &hash);
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
    mcrepl_return_t rc = check_key(keys[i], lens[i]);
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
    owner[i] = (size_t)(pair_of(m, keys[i], key_lens[i], &h) - m->pairs);
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

/* Replication waits and statistics -------------------------------------- */

MCREPL_API mcrepl_return_t mcrepl_wait_replicated(mcrepl_t *m,
                                                  int timeout_ms)
{
  int64_t deadline = 0;
  mcrepl_return_t rc;

  if (!m)
    return MCREPL_INVALID_ARGUMENTS;
  if (mcrepl__in_callback(m))
    return MCREPL_RECURSIVE_API_CALL;
  if (timeout_ms >= 0)
    deadline = mcrepl__now_ns() + mcrepl__ms_to_ns(timeout_ms) + 1;
  rc = wait_marks(m, deadline);
  if (rc != MCREPL_SUCCESS)
    return rc;
  return any_dirty(m) ? MCREPL_SLAVE_DIRTY : MCREPL_SUCCESS;
}

MCREPL_API size_t mcrepl_pair_count(const mcrepl_t *m)
{
  return m ? m->npairs : 0;
}

MCREPL_API mcrepl_return_t mcrepl_key_pair(const mcrepl_t *m,
                                           const char *key, size_t key_len,
                                           size_t *pair)
{
  mcrepl_return_t rc;
  uint32_t hash;

  if (!m || !pair)
    return MCREPL_INVALID_ARGUMENTS;
  rc = check_key(key, key_len);
  if (rc == MCREPL_SUCCESS)
    *pair = (size_t)(pair_of(m, key, key_len, &hash) - m->pairs);
  return rc;
}

static void fill_stats(mcrepl__pair_t *p, mcrepl_pair_stats_t *st)
{
  mcrepl__queue_counts_t c;
  int idx;

  mcrepl__queue_counts(&p->q, &c);
  st->master = p->conf->master.text;
  st->slave = p->conf->slave.text;
  st->vip = p->conf->has_vip ? p->conf->vip.text : NULL;
  st->weight = p->conf->weight;
  st->dirty = mcrepl__stats_dirty(&p->st);
  st->slave_up = atomic_load(&p->st.slave_up);
  st->queued = c.queued;
  st->replicated = c.replicated;
  st->dropped = c.dropped;
  st->queue_items = c.items;
  st->queue_bytes = c.bytes;
  st->queue_bytes_max = c.max_bytes;
  st->errors = atomic_load(&p->st.errors);
  st->lag_p50_us = mcrepl__stats_lag_pct(&p->st, 0.50);
  st->lag_p99_us = mcrepl__stats_lag_pct(&p->st, 0.99);
  st->lag_max_us = atomic_load(&p->st.lag_max_us);
  st->reconnects = atomic_load(&p->st.reconnects);
  st->slave_restarts = atomic_load(&p->st.slave_restarts);
  st->batches = atomic_load(&p->st.batches);
  /* One load: a switch between two would name one node twice. */
  idx = atomic_load(&p->master_idx);
  st->current_master = p->node[idx]->text;
  st->current_slave = p->node[1 - idx]->text;
  st->vip_changes = atomic_load(&p->vip_changes);
  st->read_failovers = atomic_load(&p->read_failovers);
  st->lag_read_timed = atomic_load(&p->st.lag_read_timed);
  st->paced = c.paced;
}

MCREPL_API mcrepl_return_t mcrepl_pair_stats(const mcrepl_t *m, size_t i,
                                             mcrepl_pair_stats_t *out,
                                             size_t out_size)
{
  mcrepl_pair_stats_t st;

  if (!m || !out || i >= m->npairs)
    return MCREPL_INVALID_ARGUMENTS;
  memset(&st, 0, sizeof st);
  fill_stats(&m->pairs[i], &st);
  memcpy(out, &st, out_size < sizeof st ? out_size : sizeof st);
  return MCREPL_SUCCESS;
}

static const mcrepl__addr_t *node_addr(const mcrepl__pair_t *p,
                                       mcrepl_node_t node)
{
  switch (node) {
  case MCREPL_NODE_MASTER: return &p->conf->master;
  case MCREPL_NODE_SLAVE: return &p->conf->slave;
  case MCREPL_NODE_TARGET: return p->target;
  }
  return NULL;
}

static mcrepl_return_t ask_node(const mcrepl__addr_t *a,
                                const mcrepl__config_t *cfg,
                                mcrepl_node_info_t *info)
{
  mcrepl__io_t io = {.stall_ms = cfg->io_timeout_ms, .deadline = NULL};
  mcrepl__stats_reply_t s;
  mcrepl_return_t rc = mcrepl__conn_ask_stats(a, cfg->connect_timeout_ms,
                                              &s, &io);

  if (rc != MCREPL_SUCCESS)
    return rc;
  info->up = 1;
  info->pid = s.pid;
  info->uptime = s.uptime;
  info->time = s.time;
  info->curr_items = s.curr_items;
  info->bytes = s.bytes;
  memcpy(info->version, s.version, sizeof info->version);
  return MCREPL_SUCCESS;
}

MCREPL_API mcrepl_return_t mcrepl_node_info(const mcrepl_t *m, size_t i,
                                            mcrepl_node_t node,
                                            mcrepl_node_info_t *out,
                                            size_t out_size)
{
  mcrepl_node_info_t info;
  const mcrepl__addr_t *a;
  mcrepl_return_t rc;

  if (!m || !out || i >= m->npairs)
    return MCREPL_INVALID_ARGUMENTS;
  a = node_addr(&m->pairs[i], node);
  if (!a)
    return MCREPL_INVALID_ARGUMENTS;
  memset(&info, 0, sizeof info);
  info.address = a->text;
  rc = ask_node(a, &m->cfg, &info);
  memcpy(out, &info, out_size < sizeof info ? out_size : sizeof info);
  return rc;
}

/* Callbacks ------------------------------------------------------------- */

/* The handle whose callback this thread is running, if any. Callbacks run
 * under cb_mu so that once a setter returns the old callback is neither
 * running nor about to run (its ctx may be freed); the price is that from
 * inside one, a setter would wait for itself, and a wait or a destroy for
 * the very sender thread that runs it. Those are refused instead
 * (MCREPL_RECURSIVE_API_CALL, as libcurl does). */
static _Thread_local const mcrepl_t *g_in_callback;

void mcrepl__callback_begin(mcrepl_t *m)
{
  pthread_mutex_lock(&m->cb_mu);
  g_in_callback = m;
}

void mcrepl__callback_end(mcrepl_t *m)
{
  g_in_callback = NULL;
  pthread_mutex_unlock(&m->cb_mu);
}

int mcrepl__in_callback(const mcrepl_t *m)
{
  return m && g_in_callback == m;
}

MCREPL_API mcrepl_return_t mcrepl_set_vip_callback(mcrepl_t *m,
                                                   mcrepl_vip_cb cb,
                                                   void *ctx)
{
  if (!m)
    return MCREPL_INVALID_ARGUMENTS;
  if (mcrepl__in_callback(m))
    return MCREPL_RECURSIVE_API_CALL;
  pthread_mutex_lock(&m->cb_mu);
  m->vip_cb = cb;
  m->vip_ctx = ctx;
  pthread_mutex_unlock(&m->cb_mu);
  return MCREPL_SUCCESS;
}

MCREPL_API mcrepl_return_t mcrepl_set_log_callback(mcrepl_t *m,
                                                   mcrepl_log_cb cb,
                                                   void *ctx,
                                                   mcrepl_log_level_t max)
{
  if (!m)
    return MCREPL_INVALID_ARGUMENTS;
  if (mcrepl__in_callback(m))
    return MCREPL_RECURSIVE_API_CALL;
  pthread_mutex_lock(&m->cb_mu);
  m->log_cb = cb;
  m->log_ctx = ctx;
  atomic_store(&m->log_max, cb ? (int)max : -1);
  pthread_mutex_unlock(&m->cb_mu);
  return MCREPL_SUCCESS;
}

void mcrepl__log(mcrepl_t *m, mcrepl_log_level_t level, const char *fmt,
                 ...)
{
  char msg[512];
  va_list ap;

  /* Checked before formatting: logging must cost nothing when off. */
  if ((int)level > atomic_load(&m->log_max))
    return;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  mcrepl__callback_begin(m);
  /* Checked again under the lock: a callback set while this message was
   * formatted may want less than the one it replaced. */
  if (m->log_cb && (int)level <= atomic_load(&m->log_max))
    m->log_cb(m->log_ctx, level, msg);
  mcrepl__callback_end(m);
}

/* Version --------------------------------------------------------------- */

MCREPL_API const char *mcrepl_version(void)
{
  return MCREPL_VERSION_STRING;
}

MCREPL_API unsigned mcrepl_version_hex(void)
{
  return MCREPL_VERSION_HEX;
}
