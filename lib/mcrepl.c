/* The handle: create/destroy, key -> pair, replication waits,
 * statistics and callbacks. The commands' paths are in write.c and
 * read.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "handle.h"
#include "hash.h"
#include "node.h"
#include "sender.h"

/* memcached's longest key. */
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
  p->notify = &m->notify;
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
                         (int64_t)m->cfg.batch_delay_us * 1000 / 2,
                         mcrepl__ms_to_ns(m->cfg.pace_timeout_ms)) != 0)
    return -1;
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
  mcrepl__notify_destroy(&m->notify);
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
  mcrepl__notify_init(&m->notify);
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
mcrepl_return_t mcrepl__check_key(const char *key, size_t len)
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

/* The key's pair, and a hash for its stripe. A single pair needs no ring:
 * the MD5 it costs is then saved on every call. */
mcrepl__pair_t *mcrepl__pair_of(const mcrepl_t *m, const char *key,
                                size_t len, uint32_t *hash)
{
  if (m->npairs == 1) {
    *hash = mcrepl__fnv1a(key, len);
    return &m->pairs[0];
  }
  *hash = mcrepl__ring_hash(key, len);
  return &m->pairs[mcrepl__ring_lookup(m->ring, *hash)];
}

/* Waits until every slave applied what was queued when it was called:
 * every mark is taken first, so that writes made during the wait are not
 * waited for. deadline_ns 0: no limit. */
mcrepl_return_t mcrepl__wait_marks(mcrepl_t *m, int64_t deadline_ns)
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
int mcrepl__any_dirty(mcrepl_t *m)
{
  int dirty = 0;
  size_t i;

  for (i = 0; i < m->npairs; i++)
    dirty |= mcrepl__stats_dirty(&m->pairs[i].st);
  return dirty;
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
  rc = mcrepl__wait_marks(m, deadline);
  if (rc != MCREPL_SUCCESS)
    return rc;
  return mcrepl__any_dirty(m) ? MCREPL_SLAVE_DIRTY : MCREPL_SUCCESS;
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
  rc = mcrepl__check_key(key, key_len);
  if (rc == MCREPL_SUCCESS)
    *pair = (size_t)(mcrepl__pair_of(m, key, key_len, &hash) - m->pairs);
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
  st->repairs = atomic_load(&p->st.repairs);
  st->unverified = atomic_load(&p->st.unverified);
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

int mcrepl__in_callback(const mcrepl_t *m)
{
  return m && mcrepl__notify_in_callback(&m->notify);
}

MCREPL_API mcrepl_return_t mcrepl_set_vip_callback(mcrepl_t *m,
                                                   mcrepl_vip_cb cb,
                                                   void *ctx)
{
  if (!m)
    return MCREPL_INVALID_ARGUMENTS;
  return mcrepl__notify_set_vip(&m->notify, cb, ctx);
}

MCREPL_API mcrepl_return_t mcrepl_set_log_callback(mcrepl_t *m,
                                                   mcrepl_log_cb cb,
                                                   void *ctx,
                                                   mcrepl_log_level_t max)
{
  if (!m)
    return MCREPL_INVALID_ARGUMENTS;
  return mcrepl__notify_set_log(&m->notify, cb, ctx, max);
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
