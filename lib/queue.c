/* The replication queue (see queue.h). */
#include <errno.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "clock.h"
#include "queue.h"

/* While writes keep coming, the sender is woken by the write that makes
 * its batch ready, not by a timer: a timer's interrupt comes at any
 * moment, typically while a caller's answer from the master is on its
 * way, and the sender's pipeline then delays that caller. Woken by the
 * producer, the sender mostly runs while that caller waits for its next
 * answer. That is at most one wake-up per batch window, and one per write
 * only when writes are further apart than the window. */

/* Blocks of at least SPARE_MIN_BYTES are kept once sent, for the next
 * big writes: the allocator hands blocks this big out on fresh pages
 * (it maps them, or trims the heap under them when they are freed), and
 * at 256 KiB values faulting those pages in cost the caller about 30 us
 * of CPU per write, 7 % of its time. Kept while they fit in
 * SPARE_MAX_BYTES (a pipeline's worth) and in the queue's bound beside
 * what is queued; an idle sender lets them go. */
#define SPARE_MIN_BYTES ((uint64_t)64 << 10)
#define SPARE_MAX_BYTES ((uint64_t)4 << 20)

/* A spare of size [need, 2 * need], or NULL. */
static mcrepl__entry_t *take_spare(mcrepl__queue_t *q, size_t need)
{
  mcrepl__entry_t **pp, *e = NULL;

  if (!q || need < SPARE_MIN_BYTES || need > SPARE_MAX_BYTES)
    return NULL;
  pthread_mutex_lock(&q->mu);
  for (pp = &q->spare; *pp; pp = &(*pp)->next) {
    size_t size = mcrepl__entry_size(*pp);
    if (size >= need && size - need <= need) {
      e = *pp;
      *pp = e->next;
      q->spare_bytes -= size;
      e->slack = (uint32_t)(size - need);
      break;
    }
  }
  pthread_mutex_unlock(&q->mu);
  return e;
}

mcrepl__entry_t *mcrepl__entry_new(mcrepl__queue_t *q, mcrepl__op_t op,
                                   const char *key, size_t klen,
                                   const char *val, size_t vlen,
                                   uint32_t flags, int64_t exptime,
                                   int64_t t_ns)
{
  mcrepl__entry_t *e;
  size_t need;

  if (vlen > SIZE_MAX - sizeof *e - klen)
    return NULL;
  need = sizeof *e + klen + vlen;
  e = take_spare(q, need);
  if (!e) {
    e = malloc(need);
    if (!e)
      return NULL;
    e->slack = 0;
  }
  e->next = NULL;
  e->seq = 0;
  e->t_ns = t_ns;
  e->exptime = exptime;
  e->value_len = vlen;
  e->flags = flags;
  e->key_len = (uint32_t)klen;
  e->roles = 0;
  e->op = (uint8_t)op;
  memcpy(e->data, key, klen);
  if (vlen)
    memcpy(e->data + klen, val, vlen);
  return e;
}

size_t mcrepl__entry_size(const mcrepl__entry_t *e)
{
  return sizeof *e + e->key_len + e->value_len + e->slack;
}

void mcrepl__entry_free_list(mcrepl__entry_t *e)
{
  while (e) {
    mcrepl__entry_t *next = e->next;
    free(e);
    e = next;
  }
}

int mcrepl__queue_init(mcrepl__queue_t *q, uint64_t max_bytes,
                      int64_t slack_ns, int64_t pace_ns)
{
  memset(q, 0, sizeof *q);
  q->max_bytes = max_bytes;
  q->slack_ns = slack_ns > 0 ? slack_ns : 0;
  q->pace_ns = pace_ns > 0 ? pace_ns : 0;
  atomic_init(&q->wake, 0);
  if (pthread_mutex_init(&q->mu, NULL) != 0)
    return -1;
  if (mcrepl__cond_init(&q->progress) != 0) {
    pthread_mutex_destroy(&q->mu);
    return -1;
  }
  return 0;
}

int64_t mcrepl__queue_slack_ns(const mcrepl__queue_t *q)
{
  return q->slack_ns;
}

void mcrepl__queue_destroy(mcrepl__queue_t *q)
{
  mcrepl__entry_free_list(q->head);
  mcrepl__entry_free_list(q->spare);
  q->head = q->tail = q->spare = NULL;
  pthread_cond_destroy(&q->progress);
  pthread_mutex_destroy(&q->mu);
}

static int timed_wait(pthread_cond_t *c, pthread_mutex_t *mu,
                      int64_t deadline_ns)
{
  struct timespec ts = mcrepl__ns_to_ts(deadline_ns);

  return pthread_cond_timedwait(c, mu, &ts);
}

/* The sender sleeps on a futex word, not on a condition variable: glibc
 * hands a condition variable's mutex back to the woken thread marked as
 * contended, so each wake-up of the sender would cost it one more system
 * call, a futex wake for nobody, when it next unlocks. */
static void kick(mcrepl__queue_t *q)
{
  atomic_fetch_add(&q->wake, 1);
  syscall(SYS_futex, &q->wake, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Under the lock, which it drops while it sleeps: until a kick (any since
 * the lock was taken counts) or deadline_ns (monotonic). */
static void sleep_until(mcrepl__queue_t *q, int64_t deadline_ns)
{
  unsigned seen = atomic_load(&q->wake);
  struct timespec ts = mcrepl__ns_to_ts(deadline_ns);

  pthread_mutex_unlock(&q->mu);
  syscall(SYS_futex, &q->wake, FUTEX_WAIT_BITSET_PRIVATE, seen, &ts, NULL,
          FUTEX_BITSET_MATCH_ANY);
  pthread_mutex_lock(&q->mu);
}

/* A batch is worth sending: it is full, or its time has come. */
static int batch_ready(const mcrepl__queue_t *q, const mcrepl__take_t *t,
                       int64_t now)
{
  return q->head && (now >= t->not_before_ns || q->pending >= t->max ||
                     q->pending_bytes >= t->max_bytes);
}

/* Someone waits for the queue to move (mcrepl_wait_replicated, or a
 * producer out of room): then the window's economy gives way, and what
 * is queued or in flight is sent or settled at once. */
static int hurried(const mcrepl__queue_t *q)
{
  return q->waiters > 0 && (q->head || q->items > q->pending);
}

static int sender_wanted(const mcrepl__queue_t *q, int64_t now)
{
  return q->wanted && (batch_ready(q, q->wanted, now) || hurried(q));
}

/* Under the lock; the caller then waits on q->progress. */
static void add_waiter(mcrepl__queue_t *q)
{
  q->waiters++;
  if (sender_wanted(q, mcrepl__now_ns())) {
    q->wanted = NULL;
    kick(q);
  }
}

/* Above this share of the bound, a write waits for a sender that moves;
 * the last quarter is room for the writes of several threads at once. */
#define HIGH_WATER(max) ((max) / 4 * 3)

/* The sender has had writes in flight, taking none and finishing none,
 * for longer than two pace timeouts: the slave is stopped, slow beyond
 * pacing, or unreachable, and waiting would not make room. */
static int stuck(const mcrepl__queue_t *q, int64_t now)
{
  return q->items > q->pending && now - q->moved_ns > 2 * q->pace_ns;
}

/* Waits, as one the sender hurries for, until size more bytes fit under
 * limit; gives up at deadline_ns, on a stop, and (unless_stuck) when the
 * sender is stuck. 1 when they fit. */
static int wait_under(mcrepl__queue_t *q, size_t size, uint64_t limit,
                      int64_t deadline_ns, int unless_stuck)
{
  add_waiter(q);
  while (q->bytes + size > limit && !q->stopping &&
         !(unless_stuck && stuck(q, mcrepl__now_ns())) &&
         timed_wait(&q->progress, &q->mu, deadline_ns) != ETIMEDOUT)
    ;
  q->waiters--;
  return q->bytes + size <= limit;
}

/* Waits for room for size bytes; 1 when there is room. */
static int wait_room(mcrepl__queue_t *q, size_t size, int block_ms)
{
  if (q->bytes + size <= q->max_bytes)
    return 1;
  if (size > q->max_bytes || block_ms <= 0 || q->stopping)
    return 0;
  return wait_under(q, size, q->max_bytes,
                    mcrepl__now_ns() + mcrepl__ms_to_ns(block_ms), 0);
}

/* Near the bound, while the sender moves, a write waits (at most
 * pace_ns) for it to bring the queue back under the mark: writers fall
 * to the slave's pace instead of losing writes that it would take. */
static void wait_for_pace(mcrepl__queue_t *q, size_t size)
{
  int64_t now;

  if (q->pace_ns <= 0 || q->bytes + size <= HIGH_WATER(q->max_bytes))
    return;
  now = mcrepl__now_ns();
  if (stuck(q, now))
    return;
  q->paced++;
  wait_under(q, size, HIGH_WATER(q->max_bytes), now + q->pace_ns, 1);
}

/* Under the lock: takes spares off until they fit in the bound beside
 * `used` bytes; returns them, to be freed after the unlock. */
static mcrepl__entry_t *shed_spares(mcrepl__queue_t *q, uint64_t used)
{
  mcrepl__entry_t *shed = NULL;

  while (q->spare && used + q->spare_bytes > q->max_bytes) {
    mcrepl__entry_t *e = q->spare;
    q->spare = e->next;
    q->spare_bytes -= mcrepl__entry_size(e);
    e->next = shed;
    shed = e;
  }
  return shed;
}

/* Under the lock: moves the big blocks of the list at *l to the spares,
 * while they fit. */
static void keep_spares(mcrepl__queue_t *q, mcrepl__entry_t **l)
{
  while (*l) {
    mcrepl__entry_t *e = *l;
    uint64_t size = mcrepl__entry_size(e);
    if (size >= SPARE_MIN_BYTES &&
        q->spare_bytes + size <= SPARE_MAX_BYTES &&
        q->bytes + q->spare_bytes + size <= q->max_bytes) {
      *l = e->next;
      e->next = q->spare;
      q->spare = e;
      q->spare_bytes += size;
    } else {
      l = &e->next;
    }
  }
}

int mcrepl__queue_push(mcrepl__queue_t *q, mcrepl__entry_t *e, int block_ms)
{
  size_t size = mcrepl__entry_size(e);
  mcrepl__entry_t *shed;
  int wake;

  pthread_mutex_lock(&q->mu);
  wait_for_pace(q, size);
  if (!wait_room(q, size, block_ms)) {
    q->queued++;
    q->dropped++;
    pthread_mutex_unlock(&q->mu);
    free(e);
    return 0;
  }
  shed = shed_spares(q, q->bytes + size);
  /* Counted only now: while it waited for room, the counters must still
   * add up (queued = replicated + dropped + items). */
  q->queued++;
  e->seq = ++q->seq_last;
  if (q->tail)
    q->tail->next = e;
  else
    q->head = e;
  q->tail = e;
  q->items++;
  q->bytes += size;
  q->pending++;
  q->pending_bytes += size;
  /* e->t_ns was read just before the push: no second clock read per
   * write. It may be stale (a wait for room, a preempted producer), but
   * it is now at least when the sender went to sleep, and a window that
   * was open then must not wait for the sender's own timer. */
  wake = sender_wanted(q, e->t_ns > q->wanted_at ? e->t_ns : q->wanted_at);
  if (wake)
    q->wanted = NULL;
  pthread_mutex_unlock(&q->mu);
  /* Kicked under the lock, the sender would wake only to wait for it. */
  if (wake)
    kick(q);
  mcrepl__entry_free_list(shed);
  return 1;
}

void mcrepl__queue_count_drop(mcrepl__queue_t *q)
{
  pthread_mutex_lock(&q->mu);
  q->queued++;
  q->dropped++;
  pthread_mutex_unlock(&q->mu);
}

/* Sleeps until a batch is ready, a stop, or until_ns. */
static void wait_work(mcrepl__queue_t *q, const mcrepl__take_t *t)
{
  int64_t now;

  while (!q->stopping && (now = mcrepl__now_ns()) < t->until_ns &&
         !batch_ready(q, t, now) && !hurried(q)) {
    int64_t timer = t->until_ns;
    if (t->not_before_ns > now && t->not_before_ns + q->slack_ns < timer)
      timer = t->not_before_ns + q->slack_ns;
    q->wanted = t;
    q->wanted_at = now;
    sleep_until(q, timer);
    q->wanted = NULL;
  }
}

mcrepl__entry_t *mcrepl__queue_take(mcrepl__queue_t *q,
                                    const mcrepl__take_t *t, size_t *n)
{
  mcrepl__entry_t *first, *last;
  size_t count = 1, bytes;

  pthread_mutex_lock(&q->mu);
  wait_work(q, t);
  first = q->head;
  if (!first) {
    /* Idle: every spare goes (none fits beside a full bound). */
    mcrepl__entry_t *idle = shed_spares(q, q->max_bytes);
    pthread_mutex_unlock(&q->mu);
    mcrepl__entry_free_list(idle);
    *n = 0;
    return NULL;
  }
  bytes = mcrepl__entry_size(first);
  for (last = first; last->next && count < t->max && bytes < t->max_bytes;
       last = last->next) {
    count++;
    bytes += mcrepl__entry_size(last->next);
  }
  q->pending -= count;
  q->pending_bytes -= bytes;
  q->moved_ns = mcrepl__now_ns();
  q->head = last->next;
  if (!q->head)
    q->tail = NULL;
  last->next = NULL;
  pthread_mutex_unlock(&q->mu);
  *n = count;
  return first;
}

void mcrepl__queue_done(mcrepl__queue_t *q, mcrepl__entry_t *batch,
                        uint64_t failed)
{
  uint64_t items = 0, bytes = 0, last = 0, big = 0;
  mcrepl__entry_t *e;

  for (e = batch; e; e = e->next) {
    uint64_t size = mcrepl__entry_size(e);
    items++;
    bytes += size;
    big |= size >= SPARE_MIN_BYTES;
    last = e->seq;
  }
  if (failed > items)
    failed = items;
  pthread_mutex_lock(&q->mu);
  q->items -= items;
  q->bytes -= bytes;
  q->replicated += items - failed;
  q->moved_ns = mcrepl__now_ns();
  q->dropped += failed;
  if (last > q->seq_done)
    q->seq_done = last;
  if (big)
    keep_spares(q, &batch);
  if (q->waiters)
    pthread_cond_broadcast(&q->progress);
  pthread_mutex_unlock(&q->mu);
  mcrepl__entry_free_list(batch);
}

int mcrepl__queue_stopping(mcrepl__queue_t *q)
{
  int stopping;

  pthread_mutex_lock(&q->mu);
  stopping = q->stopping && !q->head;
  pthread_mutex_unlock(&q->mu);
  return stopping;
}

int mcrepl__queue_hurried(mcrepl__queue_t *q)
{
  int h;

  pthread_mutex_lock(&q->mu);
  h = hurried(q);
  pthread_mutex_unlock(&q->mu);
  return h;
}

void mcrepl__queue_stop(mcrepl__queue_t *q)
{
  pthread_mutex_lock(&q->mu);
  q->stopping = 1;
  kick(q);
  pthread_cond_broadcast(&q->progress);
  pthread_mutex_unlock(&q->mu);
}

uint64_t mcrepl__queue_mark(mcrepl__queue_t *q)
{
  uint64_t seq;

  pthread_mutex_lock(&q->mu);
  seq = q->seq_last;
  pthread_mutex_unlock(&q->mu);
  return seq;
}

int mcrepl__queue_wait(mcrepl__queue_t *q, uint64_t seq, int64_t deadline_ns)
{
  int ok;

  pthread_mutex_lock(&q->mu);
  if (q->seq_done < seq) {
    add_waiter(q);
    while (q->seq_done < seq) {
      if (deadline_ns == 0)
        pthread_cond_wait(&q->progress, &q->mu);
      else if (timed_wait(&q->progress, &q->mu, deadline_ns) == ETIMEDOUT)
        break;
    }
    q->waiters--;
  }
  ok = q->seq_done >= seq;
  pthread_mutex_unlock(&q->mu);
  return ok ? 0 : -1;
}

void mcrepl__queue_counts(mcrepl__queue_t *q, mcrepl__queue_counts_t *out)
{
  pthread_mutex_lock(&q->mu);
  out->queued = q->queued;
  out->replicated = q->replicated;
  out->dropped = q->dropped;
  out->items = q->items;
  out->bytes = q->bytes;
  out->max_bytes = q->max_bytes;
  out->paced = q->paced;
  pthread_mutex_unlock(&q->mu);
}
