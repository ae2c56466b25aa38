/* What the sender makes of one batch taken off the queue, without I/O:
 * the read-backs it asks the master for (one per key, the last of the
 * batch), and the slave's pipeline of quiet meta commands, built from the
 * entries and the states read back, ended by "mn". */
#ifndef MCREPL_BATCH_H
#define MCREPL_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "queue.h"

/* The master's state of one read-back key. */
typedef struct mcrepl__state {
  int found;
  int repeat; /* a later read-back of the batch has the same key */
  size_t off; /* of the value in batch.states */
  mcrepl__meta_t meta;
  const mcrepl__entry_t *e;
} mcrepl__state_t;

typedef struct mcrepl__batch {
  size_t max;                   /* entries a batch may hold */
  mcrepl__buf_t out;            /* read-backs being sent */
  mcrepl__state_t *state;       /* one per entry of the batch */
  mcrepl__buf_t states;         /* values read back from the master */
  mcrepl__pipe_t pipe;          /* the slave's pipeline being sent */
  uint32_t *slot;               /* read-backs by key hash */
  size_t nslots;                /* a power of two, twice max */
} mcrepl__batch_t;

/* 0, or -1 without memory. */
int mcrepl__batch_init(mcrepl__batch_t *b, size_t max);
void mcrepl__batch_free(mcrepl__batch_t *b);

/* Fills b->out with one "mg" per read-back key of batch (the last entry
 * of each key: all of them would send the state the master holds after
 * the whole batch), then "mn"; *count of them (0: b->out is empty).
 * Resets b->states. 0, or -1 without memory. */
int mcrepl__batch_readbacks(mcrepl__batch_t *b, const mcrepl__entry_t *batch,
                            size_t *count);
/* Whether entry i of the batch needs its state read back. */
int mcrepl__batch_reads(const mcrepl__batch_t *b, const mcrepl__entry_t *e,
                        size_t i);

/* Builds the slave's pipeline into b->pipe, once the states are read.
 * now_ns: our monotonic clock, which ages the entries' relative
 * expiries; slave_s: the slave's wall clock, for absolute ones. 0, or
 * -1 without memory (or for an entry of no known kind). */
int mcrepl__batch_build(mcrepl__batch_t *b, const mcrepl__entry_t *batch,
                        int64_t now_ns, int64_t slave_s);

#endif
