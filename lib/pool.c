/* A stack of idle libmemcached handles (see pool.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "pool.h"

/* libmemcached keeps socket timeouts in 32-bit microseconds. */
static uint64_t socket_us(int ms)
{
  uint64_t us = (uint64_t)ms * 1000;

  return us > INT32_MAX ? INT32_MAX : us;
}

static void set_behaviours(memcached_st *mc, const mcrepl__config_t *cfg)
{
  /* libmemcached counts RETRY_TIMEOUT in whole seconds. */
  uint64_t retry_s = ((uint64_t)cfg->retry_timeout_ms + 999) / 1000;

  memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
  memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_SUPPORT_CAS, 1);
  memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT,
                         (uint64_t)cfg->connect_timeout_ms);
  memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_POLL_TIMEOUT,
                         (uint64_t)cfg->io_timeout_ms);
  memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_RCV_TIMEOUT,
                         socket_us(cfg->io_timeout_ms));
  memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_SND_TIMEOUT,
                         socket_us(cfg->io_timeout_ms));
  memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_RETRY_TIMEOUT, retry_s);
  if (cfg->binary_protocol)
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_BINARY_PROTOCOL, 1);
}

int mcrepl__pool_init(mcrepl__pool_t *p, const mcrepl__addr_t *server,
                      const mcrepl__config_t *cfg)
{
  p->idle = NULL;
  p->nidle = p->cap = 0;
  p->idle_ns = mcrepl__ms_to_ns(cfg->pool_idle_ms);
  atomic_init(&p->lent, 0);
  p->tmpl = memcached_create(NULL);
  if (!p->tmpl)
    return -1;
  set_behaviours(p->tmpl, cfg);
  if (memcached_server_add(p->tmpl, server->host, server->port) !=
          MEMCACHED_SUCCESS ||
      pthread_mutex_init(&p->mu, NULL) != 0) {
    memcached_free(p->tmpl);
    p->tmpl = NULL;
    return -1;
  }
  return 0;
}

void mcrepl__pool_destroy(mcrepl__pool_t *p)
{
  size_t i;

  if (!p->tmpl)
    return;
  for (i = 0; i < p->nidle; i++)
    memcached_free(p->idle[i].mc);
  free(p->idle);
  memcached_free(p->tmpl);
  p->tmpl = NULL;
  pthread_mutex_destroy(&p->mu);
}

/* A handle remembers its pool's generation in its user data. */
static unsigned gen_of(memcached_st *mc)
{
  return (unsigned)(uintptr_t)memcached_get_user_data(mc);
}

memcached_st *mcrepl__pool_get(mcrepl__pool_t *p)
{
  memcached_st *mc = NULL;

  pthread_mutex_lock(&p->mu);
  if (p->nidle > 0)
    mc = p->idle[--p->nidle].mc;
  else if ((mc = memcached_clone(NULL, p->tmpl)) != NULL)
    memcached_set_user_data(mc, (void *)(uintptr_t)p->gen);
  if (mc)
    atomic_fetch_add_explicit(&p->lent, 1, memory_order_relaxed);
  pthread_mutex_unlock(&p->mu);
  return mc;
}

void mcrepl__pool_renew(mcrepl__pool_t *p)
{
  size_t i;

  pthread_mutex_lock(&p->mu);
  p->gen++;
  for (i = 0; i < p->nidle; i++)
    memcached_free(p->idle[i].mc);
  p->nidle = 0;
  pthread_mutex_unlock(&p->mu);
}

size_t mcrepl__pool_lent(mcrepl__pool_t *p)
{
  return atomic_load_explicit(&p->lent, memory_order_relaxed);
}

/* Room for one more idle handle; -1 when out of memory. */
static int grow(mcrepl__pool_t *p)
{
  size_t cap = p->cap ? p->cap * 2 : 8;
  struct mcrepl__idle *idle = realloc(p->idle, cap * sizeof *idle);

  if (!idle)
    return -1;
  p->idle = idle;
  p->cap = cap;
  return 0;
}

/* The handle at the bottom of the stack, when it has been idle too long:
 * off the stack, for the caller to free outside the lock (closing may
 * wait on the network). */
static memcached_st *stale(mcrepl__pool_t *p, int64_t now)
{
  memcached_st *mc;

  if (p->nidle == 0 || now - p->idle[0].since < p->idle_ns)
    return NULL;
  mc = p->idle[0].mc;
  p->nidle--;
  memmove(p->idle, p->idle + 1, p->nidle * sizeof *p->idle);
  return mc;
}

void mcrepl__pool_put(mcrepl__pool_t *p, memcached_st *mc)
{
  int64_t now = mcrepl__now_ns();
  memcached_st *old;

  atomic_fetch_sub_explicit(&p->lent, 1, memory_order_relaxed);
  pthread_mutex_lock(&p->mu);
  old = stale(p, now);
  if (gen_of(mc) != p->gen || (p->nidle == p->cap && grow(p) != 0)) {
    pthread_mutex_unlock(&p->mu);
    memcached_free(mc);
  } else {
    p->idle[p->nidle].mc = mc;
    p->idle[p->nidle++].since = now;
    pthread_mutex_unlock(&p->mu);
  }
  if (old)
    memcached_free(old);
}
