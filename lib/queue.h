/* A pair's replication queue: ordered, bounded in bytes, handed to the
 * sender in batches. It also keeps the counters that must add up with its
 * depth (queued == replicated + dropped + items), under the same lock, so
 * that a snapshot of them is exact. */
#ifndef MCREPL_QUEUE_H
#define MCREPL_QUEUE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
  MCREPL__OP_SET = 1,  /* the value, flags and relative expiry are known */
  MCREPL__OP_READBACK, /* read the item's state off the master first */
  MCREPL__OP_DELETE,
  MCREPL__OP_FLUSH     /* exptime holds flush_all's delay */
} mcrepl__op_t;

typedef struct mcrepl__entry {
  struct mcrepl__entry *next;
  uint64_t seq;
  int64_t t_ns;     /* when the master acknowledged (monotonic) */
  int64_t exptime;  /* relative seconds; 0 never expires */
  size_t value_len;
  uint32_t flags;
  uint32_t key_len;
  uint32_t slack;   /* bytes of a reused block past the key and value */
  uint32_t roles;   /* the pair's vip_changes when it was queued */
  uint8_t op;
  char data[];      /* the key, then the value */
} mcrepl__entry_t;

typedef struct mcrepl__queue_counts {
  uint64_t queued, replicated, dropped, items, bytes, max_bytes, paced;
} mcrepl__queue_counts_t;

typedef struct mcrepl__queue {
  pthread_mutex_t mu;
  atomic_uint wake;        /* the sender sleeps on this futex word */
  pthread_cond_t progress; /* producers waiting for room, and waiters */
  mcrepl__entry_t *head, *tail; /* not yet taken by the sender */
  uint64_t max_bytes;
  uint64_t items, bytes;   /* pending and in flight */
  uint64_t pending, pending_bytes; /* not yet taken by the sender */
  int64_t slack_ns;        /* see mcrepl__queue_init() */
  int64_t pace_ns;         /* see mcrepl__queue_push() */
  int64_t moved_ns;        /* when the sender last took or finished any */
  uint64_t paced;          /* writes that waited in pace() */
  uint64_t queued, replicated, dropped;
  /* Big blocks the sender is done with, for the next big writes: see
   * mcrepl__entry_new(). Counted against max_bytes with the queue. */
  mcrepl__entry_t *spare;
  uint64_t spare_bytes;
  uint64_t seq_last;       /* the last sequence number handed out */
  uint64_t seq_done;       /* every entry up to here is processed */
  /* While the sender sleeps: what it waits for, so that the producer
   * whose write makes a batch ready can wake it. */
  const struct mcrepl__take *wanted;
  int64_t wanted_at;       /* when it went to sleep (monotonic ns) */
  int waiters;
  int stopping;
} mcrepl__queue_t;

/* A new entry holding copies of key and value; NULL without memory. A
 * big one reuses a block that q's sender is done with, if one fits (q
 * may be NULL). */
mcrepl__entry_t *mcrepl__entry_new(mcrepl__queue_t *q, mcrepl__op_t op,
                                   const char *key, size_t klen,
                                   const char *val, size_t vlen,
                                   uint32_t flags, int64_t exptime,
                                   int64_t t_ns);
/* What an entry weighs against the queue's bound: its whole block. */
size_t mcrepl__entry_size(const mcrepl__entry_t *e);
void mcrepl__entry_free_list(mcrepl__entry_t *e);

/* slack_ns: how long past a batch's window the sender waits for a
 * producer to wake it before it goes by its own timer. pace_ns: how long
 * a write near the bound may wait for room (see mcrepl__queue_push();
 * 0: never). */
int mcrepl__queue_init(mcrepl__queue_t *q, uint64_t max_bytes,
                      int64_t slack_ns, int64_t pace_ns);
/* The slack_ns it was made with. */
int64_t mcrepl__queue_slack_ns(const mcrepl__queue_t *q);
/* Frees whatever is still queued; no thread may use q any more. */
void mcrepl__queue_destroy(mcrepl__queue_t *q);

/* Queues e, waiting up to block_ms for room (0: no wait). Returns 1 when
 * queued (q owns e), 0 when dropped for lack of room (e freed, counted).
 * Before that, a write that finds q three quarters full waits up to
 * pace_ns for the sender to bring it back under that mark, unless the
 * sender is stuck: writes in flight, and none taken or finished within
 * the last two pace_ns. */
int mcrepl__queue_push(mcrepl__queue_t *q, mcrepl__entry_t *e, int block_ms);
/* Counts a write that could not even be queued (no memory). */
void mcrepl__queue_count_drop(mcrepl__queue_t *q);

/* What the sender will take. A batch is handed over when it is full
 * (max entries or max_bytes) or once not_before_ns has come: pipelines
 * go out at most once per window, so that many writes share one. The
 * first write that finds a batch ready wakes the sender; with no such
 * write, the sender's timer goes off slack_ns after the window. */
typedef struct mcrepl__take {
  size_t max;
  size_t max_bytes;
  int64_t not_before_ns;
  int64_t until_ns;      /* give up waiting then (monotonic) */
} mcrepl__take_t;

/* For the sender: a batch of entries in order. NULL when none came by
 * until_ns, or once stopped and empty (mcrepl__queue_stopping() then
 * says so). */
mcrepl__entry_t *mcrepl__queue_take(mcrepl__queue_t *q,
                                    const mcrepl__take_t *t, size_t *n);
int mcrepl__queue_stopping(mcrepl__queue_t *q);
/* Whether someone waits for the queue to move (mcrepl_wait_replicated,
 * or a producer out of room) while something is queued or in flight. */
int mcrepl__queue_hurried(mcrepl__queue_t *q);
/* For the sender: the batch from take() is processed; failed of them
 * were not applied. Frees the batch. */
void mcrepl__queue_done(mcrepl__queue_t *q, mcrepl__entry_t *batch,
                        uint64_t failed);
/* take() returns NULL once the queue is empty. */
void mcrepl__queue_stop(mcrepl__queue_t *q);

/* The sequence number of the last entry queued so far. */
uint64_t mcrepl__queue_mark(mcrepl__queue_t *q);
/* Waits until every entry up to seq is processed or deadline_ns (0: no
 * limit) passes. 0 when processed, -1 on timeout. */
int mcrepl__queue_wait(mcrepl__queue_t *q, uint64_t seq, int64_t deadline_ns);
void mcrepl__queue_counts(mcrepl__queue_t *q, mcrepl__queue_counts_t *out);

#endif
