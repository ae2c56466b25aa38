/* Unit tests of the sender's batching: batches taken off a queue become
 * one read-back per key for the master and one pipeline of quiet meta
 * commands for the slave, with no I/O. */
#include <check.h>

#include "testutil.h"
#include <stdio.h>
#include <string.h>

#include "batch.h"
#include "clock.h"
#include "queue.h"

/* The slave's clock when the pipelines below are built. */
#define SLAVE_NOW 1700000000

typedef struct {
  mcrepl__queue_t q;
  mcrepl__batch_t b;
  mcrepl__entry_t *batch;
  size_t n;
} bed_t;

static void bed_init(bed_t *t, size_t max)
{
  ck_assert_int_eq(mcrepl__queue_init(&t->q, 1 << 20, 0, 0), 0);
  ck_assert_int_eq(mcrepl__batch_init(&t->b, max), 0);
  t->batch = NULL;
}

static void push(bed_t *t, mcrepl__op_t op, const char *key,
                 const char *val, int64_t exptime, int64_t t_ns)
{
  mcrepl__entry_t *e =
      mcrepl__entry_new(&t->q, op, key, strlen(key), val,
                        val ? strlen(val) : 0, 5, exptime, t_ns);

  ck_assert_ptr_nonnull(e);
  ck_assert_int_eq(mcrepl__queue_push(&t->q, e, 0), 1);
}

/* Takes what is queued, as the sender does, in one batch of at most
 * b.max entries. */
static void take(bed_t *t)
{
  mcrepl__take_t tk = {t->b.max, SIZE_MAX, 0, 0};

  t->batch = mcrepl__queue_take(&t->q, &tk, &t->n);
  ck_assert_ptr_nonnull(t->batch);
}

/* The pipeline as the slave receives it. */
static char *pipeline(bed_t *t)
{
  struct iovec *iov;
  size_t n, i, len = 0;
  char *s;

  ck_assert_int_eq(mcrepl__pipe_iov(&t->b.pipe, &iov, &n), 0);
  for (i = 0; i < n; i++)
    len += iov[i].iov_len;
  s = malloc(len + 1);
  ck_assert_ptr_nonnull(s);
  for (len = 0, i = 0; i < n; i++) {
    memcpy(s + len, iov[i].iov_base, iov[i].iov_len);
    len += iov[i].iov_len;
  }
  s[len] = '\0';
  return s;
}

static void bed_free(bed_t *t)
{
  if (t->batch)
    mcrepl__queue_done(&t->q, t->batch, 0);
  mcrepl__batch_free(&t->b);
  mcrepl__queue_destroy(&t->q);
}

static void assert_built(bed_t *t, const char *want)
{
  char *got;

  ck_assert_int_eq(
      mcrepl__batch_build(&t->b, t->batch, mcrepl__now_ns(), SLAVE_NOW), 0);
  got = pipeline(t);
  ck_assert_str_eq(got, want);
  free(got);
}

START_TEST(sets_and_deletes_go_out_in_queue_order_ended_by_mn)
{
  bed_t t;
  size_t count;

  bed_init(&t, 16);
  push(&t, MCREPL__OP_SET, "a", "one", 0, mcrepl__now_ns());
  push(&t, MCREPL__OP_DELETE, "b", NULL, 0, mcrepl__now_ns());
  push(&t, MCREPL__OP_SET, "a", "two", 0, mcrepl__now_ns());
  take(&t);
  ck_assert_uint_eq(t.n, 3);
  ck_assert_int_eq(mcrepl__batch_readbacks(&t.b, t.batch, &count), 0);
  ck_assert_uint_eq(count, 0);
  ck_assert_uint_eq(t.b.out.len, 0);
  assert_built(&t, "ms a 3 F5 T0 q\r\none\r\n"
                   "md b q\r\n"
                   "ms a 3 F5 T0 q\r\ntwo\r\n"
                   "mn\r\n");
  bed_free(&t);
}
END_TEST

START_TEST(a_key_read_back_twice_is_read_and_sent_once)
{
  bed_t t;
  size_t count;

  bed_init(&t, 16);
  push(&t, MCREPL__OP_READBACK, "hot", NULL, 0, mcrepl__now_ns());
  push(&t, MCREPL__OP_READBACK, "cold", NULL, 0, mcrepl__now_ns());
  push(&t, MCREPL__OP_READBACK, "hot", NULL, 0, mcrepl__now_ns());
  push(&t, MCREPL__OP_READBACK, "hot", NULL, 0, mcrepl__now_ns());
  take(&t);
  ck_assert_int_eq(mcrepl__batch_readbacks(&t.b, t.batch, &count), 0);
  /* The last of each key is read: "cold", then the third "hot". */
  ck_assert_uint_eq(count, 2);
  ck_assert_int_eq(mcrepl__batch_reads(&t.b, t.batch, 0), 0);
  ck_assert_int_eq(mcrepl__batch_reads(&t.b, t.batch->next, 1), 1);
  ck_assert_int_eq(mcrepl__batch_reads(&t.b, t.batch->next->next, 2), 0);
  ck_assert_int_eq(
      mcrepl__batch_reads(&t.b, t.batch->next->next->next, 3), 1);
  ck_assert_uint_eq(t.b.out.len,
                    strlen("mg cold v f t\r\nmg hot v f t\r\nmn\r\n"));
  ck_assert_mem_eq(t.b.out.p, "mg cold v f t\r\nmg hot v f t\r\nmn\r\n",
                   t.b.out.len);
  bed_free(&t);
}
END_TEST

/* What the master answered: "cold" is gone, "hot" holds "42" with flags
 * 9 and 100 s to live. */
START_TEST(read_back_states_become_sets_or_deletes)
{
  bed_t t;
  size_t count;
  char want[128];

  bed_init(&t, 16);
  push(&t, MCREPL__OP_READBACK, "cold", NULL, 0, mcrepl__now_ns());
  push(&t, MCREPL__OP_READBACK, "hot", NULL, 0, mcrepl__now_ns());
  push(&t, MCREPL__OP_READBACK, "hot", NULL, 0, mcrepl__now_ns());
  take(&t);
  ck_assert_int_eq(mcrepl__batch_readbacks(&t.b, t.batch, &count), 0);
  ck_assert_uint_eq(count, 2);
  t.b.state[0].found = 0;
  t.b.state[2].found = 1;
  t.b.state[2].off = t.b.states.len;
  t.b.state[2].meta.vlen = 2;
  t.b.state[2].meta.flags = 9;
  t.b.state[2].meta.ttl = 100;
  ck_assert_int_eq(mcrepl__buf_add(&t.b.states, "42", 2), 0);
  snprintf(want, sizeof want, "md cold q\r\nms hot 2 F9 T%d q\r\n42\r\nmn\r\n",
           SLAVE_NOW + 100);
  assert_built(&t, want);
  bed_free(&t);
}
END_TEST

/* A relative expiry counts from the master's answer: an entry that
 * waited in the queue past it is deleted on the slave, not set. */
START_TEST(expiries_age_in_the_queue)
{
  bed_t t;
  size_t count;
  int64_t now = mcrepl__now_ns();
  char want[128];

  bed_init(&t, 16);
  push(&t, MCREPL__OP_SET, "old", "x", 2, now - mcrepl__ms_to_ns(5000));
  push(&t, MCREPL__OP_SET, "aged", "y", 60, now - mcrepl__ms_to_ns(10000));
  take(&t);
  ck_assert_int_eq(mcrepl__batch_readbacks(&t.b, t.batch, &count), 0);
  snprintf(want, sizeof want, "md old q\r\nms aged 1 F5 T%d q\r\ny\r\nmn\r\n",
           SLAVE_NOW + 50);
  assert_built(&t, want);
  bed_free(&t);
}
END_TEST

START_TEST(a_flush_is_answered_and_keeps_its_delay)
{
  bed_t t;
  size_t count;

  bed_init(&t, 16);
  push(&t, MCREPL__OP_FLUSH, "", NULL, 0, mcrepl__now_ns());
  push(&t, MCREPL__OP_FLUSH, "", NULL, 2000000000, mcrepl__now_ns());
  take(&t);
  ck_assert_int_eq(mcrepl__batch_readbacks(&t.b, t.batch, &count), 0);
  assert_built(&t, "flush_all 0\r\nflush_all 2000000000\r\nmn\r\n");
  bed_free(&t);
}
END_TEST

/* Big values are sent from the queue's entries, not copied: the
 * pipeline still carries every byte in order. */
START_TEST(big_values_are_sent_from_the_entries)
{
  bed_t t;
  size_t count, len = 100000;
  char *val = malloc(len + 1), *got, head[64];

  ck_assert_ptr_nonnull(val);
  memset(val, 'v', len);
  val[len] = '\0';
  bed_init(&t, 16);
  push(&t, MCREPL__OP_SET, "big", val, 0, mcrepl__now_ns());
  push(&t, MCREPL__OP_DELETE, "after", NULL, 0, mcrepl__now_ns());
  take(&t);
  ck_assert_int_eq(mcrepl__batch_readbacks(&t.b, t.batch, &count), 0);
  ck_assert_int_eq(
      mcrepl__batch_build(&t.b, t.batch, mcrepl__now_ns(), SLAVE_NOW), 0);
  ck_assert_uint_lt(t.b.pipe.buf.len, len);
  got = pipeline(&t);
  snprintf(head, sizeof head, "ms big %zu F5 T0 q\r\n", len);
  ck_assert_mem_eq(got, head, strlen(head));
  ck_assert_mem_eq(got + strlen(head), val, len);
  ck_assert_str_eq(got + strlen(head) + len, "\r\nmd after q\r\nmn\r\n");
  free(got);
  free(val);
  bed_free(&t);
}
END_TEST

/* The batch's memory is reused: a second batch leaves nothing of the
 * first behind. */
START_TEST(a_second_batch_starts_clean)
{
  bed_t t;
  size_t count;

  bed_init(&t, 4);
  push(&t, MCREPL__OP_READBACK, "r", NULL, 0, mcrepl__now_ns());
  push(&t, MCREPL__OP_SET, "s", "1", 0, mcrepl__now_ns());
  take(&t);
  ck_assert_int_eq(mcrepl__batch_readbacks(&t.b, t.batch, &count), 0);
  ck_assert_uint_eq(count, 1);
  t.b.state[0].found = 0;
  assert_built(&t, "md r q\r\nms s 1 F5 T0 q\r\n1\r\nmn\r\n");
  mcrepl__queue_done(&t.q, t.batch, 0);
  t.batch = NULL;
  push(&t, MCREPL__OP_DELETE, "d", NULL, 0, mcrepl__now_ns());
  take(&t);
  ck_assert_int_eq(mcrepl__batch_readbacks(&t.b, t.batch, &count), 0);
  ck_assert_uint_eq(count, 0);
  ck_assert_uint_eq(t.b.out.len, 0);
  ck_assert_uint_eq(t.b.states.len, 0);
  assert_built(&t, "md d q\r\nmn\r\n");
  bed_free(&t);
}
END_TEST

static Suite *suite(void)
{
  Suite *s = suite_create("batch");
  TCase *tc = tcase_create("batch");

  tcase_add_test(tc, sets_and_deletes_go_out_in_queue_order_ended_by_mn);
  tcase_add_test(tc, a_key_read_back_twice_is_read_and_sent_once);
  tcase_add_test(tc, read_back_states_become_sets_or_deletes);
  tcase_add_test(tc, expiries_age_in_the_queue);
  tcase_add_test(tc, a_flush_is_answered_and_keeps_its_delay);
  tcase_add_test(tc, big_values_are_sent_from_the_entries);
  tcase_add_test(tc, a_second_batch_starts_clean);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  return run_suite(suite());
}
