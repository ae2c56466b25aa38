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

/* What the slave was given for a key. */
typedef struct mcrepl__applied {
  int present;
  const char *val;
  size_t vlen;
  uint32_t flags;
  int64_t exp; /* absolute, on the slave's clock; 0: never */
} mcrepl__applied_t;

/* The master's state of one read-back key, and what the slave was given
 * for the entry. */
typedef struct mcrepl__state {
  int found;
  int repeat; /* a later read-back of the batch has the same key */
  size_t off; /* of the value in batch.states */
  mcrepl__meta_t meta;
  const mcrepl__entry_t *e;
  mcrepl__applied_t given;
} mcrepl__state_t;

/* One key of a batch applied on the slave, whose state there is checked
 * against the master's (verified replication: see sender.c). */
typedef struct mcrepl__check {
  const mcrepl__entry_t *e; /* the last entry of the key */
  mcrepl__applied_t given;  /* what the slave holds, by our last write */
  int found;                /* the master's answer: */
  mcrepl__meta_t meta;
  size_t off;               /* of its value in batch.answers */
  int agreed;
} mcrepl__check_t;

typedef struct mcrepl__batch {
  size_t max;                   /* entries a batch may hold */
  mcrepl__buf_t out;            /* read-backs being sent */
  mcrepl__state_t *state;       /* one per entry of the batch */
  mcrepl__buf_t states;         /* values read back from the master */
  mcrepl__pipe_t pipe;          /* the slave's pipeline being sent */
  uint32_t *slot;               /* read-backs by key hash */
  size_t nslots;                /* a power of two, twice max */
  mcrepl__check_t *check;       /* the keys being verified */
  size_t nchecks;
  mcrepl__buf_t answers;        /* the master's values, as checked */
  mcrepl__buf_t repairs;        /* the values of the repairs sent */
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

/* Verification. A key's slave state agrees with the master's when both
 * hold the same value and flags with expiries within this many seconds,
 * or neither holds the item (or it has at most a second left there). */
#define MCREPL__EXPIRY_SLACK_S 2

/* Whether every entry of batch was queued while roles was the pair's
 * vip_changes: answers of another master say nothing about the rest. */
int mcrepl__batch_same_roles(const mcrepl__entry_t *batch, uint32_t roles);
/* Collects the keys of the built batch to verify: the last entry of each
 * key (a flush is not checked: the writes around it are). Fills b->out
 * with their "mg", then "mn". The number of keys, or -1 without
 * memory. */
long mcrepl__batch_checks(mcrepl__batch_t *b, const mcrepl__entry_t *batch);
/* Whether the slave, given g, agrees with the master's answer (found,
 * meta, its value val); slave_s: the slave's clock now. */
int mcrepl__agrees(const mcrepl__applied_t *g, int found,
                   const mcrepl__meta_t *meta, const char *val,
                   int64_t slave_s);
/* Once the master answered every check: keeps those that disagree, each
 * now to be given the master's state (an expiry on the slave's clock
 * slave_s), builds their repair pipeline into b->pipe and their next
 * "mg" into b->out. The number kept, or -1 without memory. */
long mcrepl__batch_resolve(mcrepl__batch_t *b, int64_t slave_s);

#endif
