/* Unit tests of the replication queue and the lag histogram: order,
 * byte bound, exact accounting, reused blocks, batching, waits and
 * blocking. */
#include <check.h>

#include "testutil.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "queue.h"
#include "stats.h"

/* An entry for q, which it may build in one of q's spare blocks. */
static mcrepl__entry_t *mk_for(mcrepl__queue_t *q, const char *key,
                               size_t vlen)
{
  char *val = malloc(vlen + 1);
  mcrepl__entry_t *e;

  memset(val, 'v', vlen);
  e = mcrepl__entry_new(q, MCREPL__OP_SET, key, strlen(key), val, vlen, 7,
                        0, mcrepl__now_ns());
  free(val);
  ck_assert_ptr_nonnull(e);
  return e;
}

static mcrepl__entry_t *mk(const char *key, size_t vlen)
{
  return mk_for(NULL, key, vlen);
}

static mcrepl__entry_t *take(mcrepl__queue_t *q, size_t max,
                             int64_t until, size_t *n)
{
  mcrepl__take_t t = {max, SIZE_MAX, 0, until};
  return mcrepl__queue_take(q, &t, n);
}

static void assert_adds_up(mcrepl__queue_t *q)
{
  mcrepl__queue_counts_t c;

  mcrepl__queue_counts(q, &c);
  ck_assert_uint_eq(c.queued, c.replicated + c.dropped + c.items);
}

START_TEST(order_is_kept)
{
  mcrepl__queue_t q;
  mcrepl__entry_t *b, *e;
  char key[16];
  size_t n, i = 0;

  ck_assert_int_eq(mcrepl__queue_init(&q, 1 << 20, 400000, 0), 0);
  for (int k = 0; k < 100; k++) {
    snprintf(key, sizeof key, "k%d", k);
    ck_assert_int_eq(mcrepl__queue_push(&q, mk(key, 10), 0), 1);
  }
  b = take(&q, 1000, INT64_MAX, &n);
  ck_assert_uint_eq(n, 100);
  for (e = b; e; e = e->next, i++) {
    snprintf(key, sizeof key, "k%zu", i);
    ck_assert_uint_eq(e->seq, i + 1);
    ck_assert_int_eq(memcmp(e->data, key, e->key_len), 0);
  }
  mcrepl__queue_done(&q, b, 0);
  assert_adds_up(&q);
  mcrepl__queue_destroy(&q);
}
END_TEST

START_TEST(batches_are_capped)
{
  mcrepl__queue_t q;
  mcrepl__entry_t *b;
  size_t n;

  ck_assert_int_eq(mcrepl__queue_init(&q, 1 << 20, 400000, 0), 0);
  for (int k = 0; k < 10; k++)
    mcrepl__queue_push(&q, mk("k", 1), 0);
  b = take(&q, 4, INT64_MAX, &n);
  ck_assert_uint_eq(n, 4);
  ck_assert_uint_eq(b->seq, 1);
  mcrepl__queue_done(&q, b, 1);
  b = take(&q, 4, INT64_MAX, &n);
  ck_assert_uint_eq(b->seq, 5);
  mcrepl__queue_done(&q, b, 0);
  assert_adds_up(&q);
  mcrepl__queue_destroy(&q);
}
END_TEST

START_TEST(bound_in_bytes_drops_and_counts)
{
  mcrepl__queue_t q;
  mcrepl__queue_counts_t c;
  int queued = 0;

  ck_assert_int_eq(mcrepl__queue_init(&q, 4096, 400000, 0), 0);
  for (int k = 0; k < 100; k++)
    queued += mcrepl__queue_push(&q, mk("key", 100), 0);
  mcrepl__queue_counts(&q, &c);
  ck_assert_int_gt(queued, 0);
  ck_assert_int_lt(queued, 100);
  ck_assert_uint_le(c.bytes, 4096);
  ck_assert_uint_eq(c.dropped, 100 - (unsigned)queued);
  ck_assert_uint_eq(c.items, (unsigned)queued);
  assert_adds_up(&q);
  /* One entry larger than the whole bound can never fit. */
  ck_assert_int_eq(mcrepl__queue_push(&q, mk("big", 8192), 1000), 0);
  assert_adds_up(&q);
  mcrepl__queue_destroy(&q);
}
END_TEST

/* Sends one entry through the queue, as the sender would. */
static mcrepl__entry_t *through(mcrepl__queue_t *q, mcrepl__entry_t *e)
{
  size_t n;
  mcrepl__entry_t *b;

  ck_assert_int_eq(mcrepl__queue_push(q, e, 0), 1);
  b = take(q, 1, INT64_MAX, &n);
  ck_assert_ptr_eq(b, e);
  mcrepl__queue_done(q, b, 0);
  return b;
}

START_TEST(big_blocks_are_reused)
{
  mcrepl__queue_t q;
  mcrepl__entry_t *first, *e;
  size_t size;

  ck_assert_int_eq(mcrepl__queue_init(&q, 16 << 20, 400000, 0), 0);
  first = through(&q, mk_for(&q, "a", 200000));
  ck_assert_ptr_eq(q.spare, first);
  size = (size_t)q.spare_bytes;
  /* Smaller, but not under half: the same block, weighed whole. */
  e = mk_for(&q, "bb", 150000);
  ck_assert_ptr_eq(e, first);
  ck_assert_uint_eq(q.spare_bytes, 0);
  ck_assert_uint_eq(mcrepl__entry_size(e), size);
  ck_assert_uint_eq(e->key_len, 2);
  ck_assert_uint_eq(e->value_len, 150000);
  ck_assert_int_eq(memcmp(e->data, "bbvv", 4), 0);
  ck_assert_int_eq(e->data[2 + 150000 - 1], 'v');
  through(&q, e);
  ck_assert_uint_eq(q.spare_bytes, size);
  /* Under half its size, or bigger: a block of its own. */
  e = mk_for(&q, "c", 90000);
  ck_assert_ptr_ne(e, first);
  through(&q, e);
  e = mk_for(&q, "d", 300000);
  ck_assert_ptr_ne(e, first);
  mcrepl__entry_free_list(e);
  /* Small blocks go back to the allocator. */
  size = (size_t)q.spare_bytes;
  through(&q, mk_for(&q, "s", 100));
  ck_assert_uint_eq(q.spare_bytes, size);
  assert_adds_up(&q);
  mcrepl__queue_destroy(&q);
}
END_TEST

START_TEST(spares_stay_within_the_bound_and_go_when_idle)
{
  mcrepl__queue_t q;
  mcrepl__entry_t *b;
  size_t n;

  ck_assert_int_eq(mcrepl__queue_init(&q, 1 << 20, 400000, 0), 0);
  for (int k = 0; k < 4; k++)
    ck_assert_int_eq(mcrepl__queue_push(&q, mk("a", 200000), 0), 1);
  b = take(&q, 16, INT64_MAX, &n);
  ck_assert_uint_eq(n, 4);
  mcrepl__queue_done(&q, b, 0);
  ck_assert_uint_gt(q.spare_bytes, 4 * 200000);
  /* Room for writes comes first: the spares give way, nothing drops. */
  for (int k = 0; k < 3; k++) {
    ck_assert_int_eq(mcrepl__queue_push(&q, mk("b", 90000), 0), 1);
    ck_assert_uint_le(q.bytes + q.spare_bytes, q.max_bytes);
  }
  ck_assert_uint_lt(q.spare_bytes, 4 * 200000);
  b = take(&q, 16, INT64_MAX, &n);
  mcrepl__queue_done(&q, b, 0);
  ck_assert_uint_gt(q.spare_bytes, 0);
  /* A sender that finds nothing to do lets them all go. */
  ck_assert_ptr_null(take(&q, 16, mcrepl__now_ns() + 1000000, &n));
  ck_assert_ptr_null(q.spare);
  ck_assert_uint_eq(q.spare_bytes, 0);
  assert_adds_up(&q);
  mcrepl__queue_destroy(&q);
}
END_TEST

START_TEST(wait_sees_progress_and_times_out)
{
  mcrepl__queue_t q;
  mcrepl__entry_t *b;
  uint64_t mark;
  size_t n;

  ck_assert_int_eq(mcrepl__queue_init(&q, 1 << 20, 400000, 0), 0);
  mcrepl__queue_push(&q, mk("a", 1), 0);
  mark = mcrepl__queue_mark(&q);
  ck_assert_uint_eq(mark, 1);
  ck_assert_int_eq(mcrepl__queue_wait(&q, mark,
                                      mcrepl__now_ns() + 20000000), -1);
  b = take(&q, 10, INT64_MAX, &n);
  mcrepl__queue_done(&q, b, 0);
  ck_assert_int_eq(mcrepl__queue_wait(&q, mark,
                                      mcrepl__now_ns() + 20000000), 0);
  mcrepl__queue_destroy(&q);
}
END_TEST

static void *consumer(void *arg)
{
  mcrepl__queue_t *q = arg;
  mcrepl__entry_t *b;
  size_t n;

  while (!mcrepl__queue_stopping(q))
    if ((b = take(q, 16, mcrepl__now_ns() + 50000000, &n)))
      mcrepl__queue_done(q, b, 0);
  return NULL;
}

START_TEST(blocking_producer_waits_for_room)
{
  mcrepl__queue_t q;
  mcrepl__queue_counts_t c;
  pthread_t t;

  ck_assert_int_eq(mcrepl__queue_init(&q, 4096, 400000, 0), 0);
  ck_assert_int_eq(pthread_create(&t, NULL, consumer, &q), 0);
  for (int k = 0; k < 20000; k++)
    ck_assert_int_eq(mcrepl__queue_push(&q, mk("k", 100), 5000), 1);
  mcrepl__queue_stop(&q);
  pthread_join(t, NULL);
  mcrepl__queue_counts(&q, &c);
  ck_assert_uint_eq(c.dropped, 0);
  ck_assert_uint_eq(c.replicated, 20000);
  ck_assert_uint_eq(c.items, 0);
  mcrepl__queue_destroy(&q);
}
END_TEST

static void sleep_ms(long ms)
{
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

  nanosleep(&ts, NULL);
}

START_TEST(stop_wakes_an_idle_sender)
{
  mcrepl__queue_t q;
  pthread_t t;

  ck_assert_int_eq(mcrepl__queue_init(&q, 4096, 400000, 0), 0);
  ck_assert_int_eq(pthread_create(&t, NULL, consumer, &q), 0);
  sleep_ms(100); /* let it fall deeply asleep */
  mcrepl__queue_push(&q, mk("late", 1), 0);
  mcrepl__queue_stop(&q);
  pthread_join(t, NULL);
  assert_adds_up(&q);
  mcrepl__queue_destroy(&q);
}
END_TEST

START_TEST(lag_percentiles)
{
  static mcrepl__stats_t s;

  mcrepl__stats_init(&s);
  ck_assert_uint_eq(mcrepl__stats_lag_pct(&s, 0.5), 0);
  for (uint64_t v = 1; v <= 1000; v++)
    mcrepl__stats_lag(&s, v, 0);
  ck_assert_uint_ge(mcrepl__stats_lag_pct(&s, 0.5), 500);
  ck_assert_uint_le(mcrepl__stats_lag_pct(&s, 0.5), 500 * 9 / 8 + 1);
  ck_assert_uint_ge(mcrepl__stats_lag_pct(&s, 0.99), 990);
  ck_assert_uint_le(mcrepl__stats_lag_pct(&s, 0.99), 990 * 9 / 8 + 1);
  ck_assert_uint_eq(atomic_load(&s.lag_max_us), 1000);
}
END_TEST

START_TEST(batches_gather_until_their_window)
{
  mcrepl__queue_t q;
  mcrepl__entry_t *b;
  int64_t t0 = mcrepl__now_ns();
  mcrepl__take_t t = {4, SIZE_MAX, t0 + 50000000, t0 + 1000000000};
  size_t n;

  ck_assert_int_eq(mcrepl__queue_init(&q, 1 << 20, 400000, 0), 0);
  mcrepl__queue_push(&q, mk("a", 1), 0);
  b = mcrepl__queue_take(&q, &t, &n);
  ck_assert_uint_eq(n, 1);
  ck_assert_int_ge(mcrepl__now_ns() - t0, 50000000); /* waited its turn */
  mcrepl__queue_done(&q, b, 0);
  /* A full batch does not wait for its window. */
  for (int k = 0; k < 4; k++)
    mcrepl__queue_push(&q, mk("b", 1), 0);
  t0 = mcrepl__now_ns();
  t.not_before_ns = t0 + 500000000;
  b = mcrepl__queue_take(&q, &t, &n);
  ck_assert_uint_eq(n, 4);
  ck_assert_int_lt(mcrepl__now_ns() - t0, 250000000);
  mcrepl__queue_done(&q, b, 0);
  assert_adds_up(&q);
  mcrepl__queue_destroy(&q);
}
END_TEST

/* A sender thread's take(), timed from the given start. */
typedef struct timed_take {
  mcrepl__queue_t *q;
  mcrepl__take_t t;
  size_t n;
  int64_t t0, took_ns;
} timed_take_t;

static void *take_timed(void *arg)
{
  timed_take_t *x = arg;
  mcrepl__entry_t *b = mcrepl__queue_take(x->q, &x->t, &x->n);

  x->took_ns = mcrepl__now_ns() - x->t0;
  if (b)
    mcrepl__queue_done(x->q, b, 0);
  return NULL;
}

/* A sender waiting with a long slack is woken by the first write after
 * its window, or by the write that fills its batch, not by its timer. */
static int64_t woken_after(size_t max, int64_t window_ms, int late_writes)
{
  mcrepl__queue_t q;
  timed_take_t x = {&q, {max, SIZE_MAX, 0, 0}, 0, mcrepl__now_ns(), 0};
  pthread_t t;

  ck_assert_int_eq(mcrepl__queue_init(&q, 1 << 20, 10000000000, 0), 0);
  x.t.not_before_ns = x.t0 + window_ms * 1000000;
  x.t.until_ns = x.t0 + 20000000000;
  mcrepl__queue_push(&q, mk("early", 1), 0);
  ck_assert_int_eq(pthread_create(&t, NULL, take_timed, &x), 0);
  sleep_ms(100);
  for (int k = 0; k < late_writes; k++)
    mcrepl__queue_push(&q, mk("late", 1), 0);
  pthread_join(t, NULL);
  ck_assert_uint_eq(x.n, (size_t)late_writes + 1);
  assert_adds_up(&q);
  mcrepl__queue_destroy(&q);
  return x.took_ns;
}

START_TEST(a_write_wakes_the_sender)
{
  int64_t ns = woken_after(16, 50, 1); /* its window has passed */

  ck_assert_int_ge(ns, 100000000);
  ck_assert_int_lt(ns, 2000000000);
  ns = woken_after(4, 10000, 3); /* it fills the batch */
  ck_assert_int_ge(ns, 100000000);
  ck_assert_int_lt(ns, 2000000000);
}
END_TEST

/* A write whose time was read before the sender's window opened (its
 * producer was preempted, or waited for room) still wakes a sender that
 * went to sleep with the window open and the queue empty. */
START_TEST(a_write_stamped_early_wakes_the_sender)
{
  mcrepl__queue_t q;
  timed_take_t x = {&q, {16, SIZE_MAX, 0, 0}, 0, mcrepl__now_ns(), 0};
  mcrepl__entry_t *e;
  pthread_t t;

  ck_assert_int_eq(mcrepl__queue_init(&q, 1 << 20, 100000000, 0), 0);
  x.t.not_before_ns = x.t0;
  x.t.until_ns = x.t0 + 20000000000;
  e = mk("stale", 1);
  e->t_ns = x.t0 - 1000000000;
  ck_assert_int_eq(pthread_create(&t, NULL, take_timed, &x), 0);
  sleep_ms(100);
  mcrepl__queue_push(&q, e, 0);
  pthread_join(t, NULL);
  ck_assert_uint_eq(x.n, 1);
  ck_assert_int_lt(x.took_ns, 2000000000);
  mcrepl__queue_destroy(&q);
}
END_TEST

/* A push on a thread of its own, for the tests of pushes that wait. */
typedef struct {
  mcrepl__queue_t *q;
  mcrepl__entry_t *e;
  int block_ms;
  _Atomic int rc; /* -1 until the push returns */
} push_arg_t;

static void *push_thread(void *arg)
{
  push_arg_t *a = arg;

  atomic_store(&a->rc, mcrepl__queue_push(a->q, a->e, a->block_ms));
  return NULL;
}

static void push_start(pthread_t *t, push_arg_t *a, mcrepl__queue_t *q,
                       mcrepl__entry_t *e, int block_ms)
{
  a->q = q;
  a->e = e;
  a->block_ms = block_ms;
  atomic_init(&a->rc, -1);
  ck_assert_int_eq(pthread_create(t, NULL, push_thread, a), 0);
}

/* While a producer waits for room, the counters still add up. */
START_TEST(counters_add_up_while_a_producer_waits)
{
  mcrepl__queue_t q;
  size_t n;
  pthread_t t;
  push_arg_t a;

  ck_assert_int_eq(mcrepl__queue_init(&q, 1000, 0, 0), 0);
  ck_assert_int_eq(mcrepl__queue_push(&q, mk("full", 900), 0), 1);
  push_start(&t, &a, &q, mk("waits", 900), 5000);
  sleep_ms(100);
  assert_adds_up(&q);
  mcrepl__queue_done(&q, take(&q, 16, 0, &n), 0);
  pthread_join(t, NULL);
  ck_assert_int_eq(atomic_load(&a.rc), 1);
  assert_adds_up(&q);
  mcrepl__queue_done(&q, take(&q, 16, 0, &n), 0);
  assert_adds_up(&q);
  mcrepl__queue_destroy(&q);
}
END_TEST

static uint64_t paced(mcrepl__queue_t *q)
{
  mcrepl__queue_counts_t c;

  mcrepl__queue_counts(q, &c);
  return c.paced;
}

START_TEST(near_the_bound_a_write_waits_for_a_moving_sender)
{
  mcrepl__queue_t q;
  pthread_t t;
  push_arg_t a;
  mcrepl__entry_t *b;
  size_t n;

  /* Three quarters of the bound are 3072 bytes; each entry is ~1060. */
  ck_assert_int_eq(mcrepl__queue_init(&q, 4096, 0, mcrepl__ms_to_ns(5000)),
                   0);
  for (int k = 0; k < 2; k++)
    ck_assert_int_eq(mcrepl__queue_push(&q, mk("a", 1000), 0), 1);
  /* The third goes over the mark: it waits for the sender to bring the
   * queue back under it. */
  push_start(&t, &a, &q, mk("c", 1000), 0);
  sleep_ms(200);
  ck_assert_int_eq(atomic_load(&a.rc), -1);
  ck_assert_uint_eq(paced(&q), 1);
  assert_adds_up(&q);
  mcrepl__queue_done(&q, take(&q, 1, 0, &n), 0);
  pthread_join(t, NULL);
  ck_assert_int_eq(atomic_load(&a.rc), 1);
  /* A sender stuck on writes in flight for two pace timeouts (a stopped
   * slave) makes no room: writes go on at once. */
  q.pace_ns = mcrepl__ms_to_ns(20);
  b = take(&q, 1, 0, &n);
  sleep_ms(100);
  ck_assert_int_eq(mcrepl__queue_push(&q, mk("d", 1000), 0), 1);
  ck_assert_uint_eq(paced(&q), 1);
  mcrepl__queue_done(&q, b, 0);
  /* Without a pace timeout nothing waits. */
  q.pace_ns = 0;
  ck_assert_int_eq(mcrepl__queue_push(&q, mk("e", 1000), 0), 1);
  ck_assert_uint_eq(paced(&q), 1);
  assert_adds_up(&q);
  mcrepl__queue_destroy(&q);
}
END_TEST

START_TEST(without_writes_the_timer_goes_off_after_the_slack)
{
  mcrepl__queue_t q;
  timed_take_t x = {&q, {16, SIZE_MAX, 0, 0}, 0, mcrepl__now_ns(), 0};

  ck_assert_int_eq(mcrepl__queue_init(&q, 1 << 20, 100000000, 0), 0);
  x.t.not_before_ns = x.t0 + 50000000;
  x.t.until_ns = x.t0 + 20000000000;
  mcrepl__queue_push(&q, mk("only", 1), 0);
  take_timed(&x);
  ck_assert_uint_eq(x.n, 1);
  ck_assert_int_ge(x.took_ns, 150000000);
  ck_assert_int_lt(x.took_ns, 2000000000);
  mcrepl__queue_destroy(&q);
}
END_TEST

typedef struct {
  mcrepl__queue_t *q;
  uint64_t mark;
  int rc;
} wait_arg_t;

static void *wait_for_mark(void *arg)
{
  wait_arg_t *a = arg;

  a->rc = mcrepl__queue_wait(a->q, a->mark, mcrepl__now_ns() + 5000000000);
  return NULL;
}

/* The sender gives its CPU away only when nobody waits on the queue. */
START_TEST(hurried_while_someone_waits)
{
  mcrepl__queue_t q;
  wait_arg_t a = {&q, 0, -2};
  pthread_t t;
  size_t n;

  ck_assert_int_eq(mcrepl__queue_init(&q, 1 << 20, 400000, 0), 0);
  ck_assert_int_eq(mcrepl__queue_hurried(&q), 0);
  mcrepl__queue_push(&q, mk("a", 1), 0);
  ck_assert_int_eq(mcrepl__queue_hurried(&q), 0);
  a.mark = mcrepl__queue_mark(&q);
  ck_assert_int_eq(pthread_create(&t, NULL, wait_for_mark, &a), 0);
  sleep_ms(100);
  ck_assert_int_eq(mcrepl__queue_hurried(&q), 1);
  mcrepl__queue_done(&q, take(&q, 16, 0, &n), 0);
  pthread_join(t, NULL);
  ck_assert_int_eq(a.rc, 0);
  ck_assert_int_eq(mcrepl__queue_hurried(&q), 0);
  mcrepl__queue_destroy(&q);
}
END_TEST

static Suite *suite(void)
{
  Suite *s = suite_create("queue");
  TCase *tc = tcase_create("queue");

  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, order_is_kept);
  tcase_add_test(tc, batches_are_capped);
  tcase_add_test(tc, bound_in_bytes_drops_and_counts);
  tcase_add_test(tc, big_blocks_are_reused);
  tcase_add_test(tc, spares_stay_within_the_bound_and_go_when_idle);
  tcase_add_test(tc, wait_sees_progress_and_times_out);
  tcase_add_test(tc, blocking_producer_waits_for_room);
  tcase_add_test(tc, stop_wakes_an_idle_sender);
  tcase_add_test(tc, a_write_wakes_the_sender);
  tcase_add_test(tc, a_write_stamped_early_wakes_the_sender);
  tcase_add_test(tc, counters_add_up_while_a_producer_waits);
  tcase_add_test(tc, near_the_bound_a_write_waits_for_a_moving_sender);
  tcase_add_test(tc, without_writes_the_timer_goes_off_after_the_slack);
  tcase_add_test(tc, lag_percentiles);
  tcase_add_test(tc, batches_gather_until_their_window);
  tcase_add_test(tc, hurried_while_someone_waits);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  return run_suite(suite());
}
