/* The user's callbacks (see notify.h). */
#include <stdarg.h>
#include <stdio.h>

#include "notify.h"

/* The notifier whose callback this thread is running, if any. They run
 * under n->mu so that once a setter returns the old callback is neither
 * running nor about to run (its ctx may be freed); the price is that from
 * inside one, a setter would wait for itself, and a wait or a destroy for
 * the very sender thread that runs it. Those are refused instead
 * (MCREPL_RECURSIVE_API_CALL, as libcurl does). */
static _Thread_local const mcrepl__notify_t *g_in_callback;

void mcrepl__notify_init(mcrepl__notify_t *n)
{
  pthread_mutex_init(&n->mu, NULL);
  n->vip_cb = NULL;
  n->vip_ctx = NULL;
  n->log_cb = NULL;
  n->log_ctx = NULL;
  atomic_init(&n->log_max, -1);
}

void mcrepl__notify_destroy(mcrepl__notify_t *n)
{
  pthread_mutex_destroy(&n->mu);
}

static void callback_begin(mcrepl__notify_t *n)
{
  pthread_mutex_lock(&n->mu);
  g_in_callback = n;
}

static void callback_end(mcrepl__notify_t *n)
{
  g_in_callback = NULL;
  pthread_mutex_unlock(&n->mu);
}

int mcrepl__notify_in_callback(const mcrepl__notify_t *n)
{
  return n && g_in_callback == n;
}

mcrepl_return_t mcrepl__notify_set_vip(mcrepl__notify_t *n,
                                       mcrepl_vip_cb cb, void *ctx)
{
  if (mcrepl__notify_in_callback(n))
    return MCREPL_RECURSIVE_API_CALL;
  pthread_mutex_lock(&n->mu);
  n->vip_cb = cb;
  n->vip_ctx = ctx;
  pthread_mutex_unlock(&n->mu);
  return MCREPL_SUCCESS;
}

mcrepl_return_t mcrepl__notify_set_log(mcrepl__notify_t *n,
                                       mcrepl_log_cb cb, void *ctx,
                                       mcrepl_log_level_t max)
{
  if (mcrepl__notify_in_callback(n))
    return MCREPL_RECURSIVE_API_CALL;
  pthread_mutex_lock(&n->mu);
  n->log_cb = cb;
  n->log_ctx = ctx;
  atomic_store(&n->log_max, cb ? (int)max : -1);
  pthread_mutex_unlock(&n->mu);
  return MCREPL_SUCCESS;
}

void mcrepl__log(mcrepl__notify_t *n, mcrepl_log_level_t level,
                 const char *fmt, ...)
{
  char msg[512];
  va_list ap;

  /* Checked before formatting: logging must cost nothing when off. */
  if ((int)level > atomic_load(&n->log_max))
    return;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  callback_begin(n);
  /* Checked again under the lock: a callback set while this message was
   * formatted may want less than the one it replaced. */
  if (n->log_cb && (int)level <= atomic_load(&n->log_max))
    n->log_cb(n->log_ctx, level, msg);
  callback_end(n);
}

void mcrepl__notify_vip(mcrepl__notify_t *n, size_t pair,
                        const char *master, const char *slave)
{
  callback_begin(n);
  if (n->vip_cb)
    n->vip_cb(n->vip_ctx, pair, master, slave);
  callback_end(n);
}
