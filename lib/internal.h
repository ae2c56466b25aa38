/* The handle and its pairs, shared by the library's files. */
#ifndef MCREPL_INTERNAL_H
#define MCREPL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "config.h"
#include "conn.h"
#include "mcrepl/mcrepl.h"
#include "pool.h"
#include "queue.h"
#include "ring.h"
#include "sender.h"
#include "stats.h"

/* Writes to one key are serialised from the master's answer to the
 * queue, so that the queue's order is the master's order. Keys share
 * these locks by hash. */
#define MCREPL__STRIPES 1024

/* What only the sender thread of a pair touches. */
typedef struct mcrepl__sender {
  mcrepl__conn_t slave;
  mcrepl__conn_t master;        /* for read-backs */
  mcrepl__stats_reply_t slave_id;
  int slave_known;              /* slave_id holds a previous identity */
  mcrepl__buf_t out;            /* the pipeline being sent */
  mcrepl__buf_t states;         /* values read back from the master */
  struct mcrepl__state *state;  /* one per read-back of the batch */
  size_t nstate;
  int backoff_ms;
} mcrepl__sender_t;

typedef struct mcrepl__pair {
  const mcrepl__pair_conf_t *conf;
  const mcrepl__config_t *cfg;
  const mcrepl__addr_t *target; /* the vip, else the master */
  mcrepl__queue_t q;
  mcrepl__stats_t st;
  mcrepl__pool_t pool;
  _Atomic int64_t deadline;     /* set by destroy: sender gives up then */
  pthread_t thread;
  int started;
  mcrepl__sender_t s;
} mcrepl__pair_t;

struct mcrepl {
  mcrepl__config_t cfg;
  mcrepl__ring_t *ring;
  mcrepl__pair_t *pairs;
  size_t npairs;
  pthread_mutex_t stripes[MCREPL__STRIPES];
};

#endif
