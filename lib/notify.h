/* The user's callbacks (log messages, vip moves) and the lock they run
 * under. The sender and failover talk to the application only through
 * here, so that no file reaches into the handle to call a callback. */
#ifndef MCREPL_NOTIFY_H
#define MCREPL_NOTIFY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "mcrepl/mcrepl.h"

typedef struct mcrepl__notify {
  pthread_mutex_t mu;           /* guards the callbacks below */
  mcrepl_vip_cb vip_cb;
  void *vip_ctx;
  mcrepl_log_cb log_cb;
  void *log_ctx;
  _Atomic int log_max;          /* -1: no callback */
} mcrepl__notify_t;

void mcrepl__notify_init(mcrepl__notify_t *n);
void mcrepl__notify_destroy(mcrepl__notify_t *n);

/* The setters; MCREPL_RECURSIVE_API_CALL from inside one of n's own
 * callbacks. Once one returns, the callback it replaced is neither
 * running nor about to run. */
mcrepl_return_t mcrepl__notify_set_vip(mcrepl__notify_t *n,
                                       mcrepl_vip_cb cb, void *ctx);
mcrepl_return_t mcrepl__notify_set_log(mcrepl__notify_t *n,
                                       mcrepl_log_cb cb, void *ctx,
                                       mcrepl_log_level_t max);

/* Whether this thread is running one of n's callbacks: the calls which
 * would deadlock there are refused. */
int mcrepl__notify_in_callback(const mcrepl__notify_t *n);

/* Formats and hands a message to the log callback, if any. */
void mcrepl__log(mcrepl__notify_t *n, mcrepl_log_level_t level,
                 const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Tells the vip callback, if any, that pair's vip leads to master. */
void mcrepl__notify_vip(mcrepl__notify_t *n, size_t pair,
                        const char *master, const char *slave);

#endif
