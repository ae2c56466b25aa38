/* Unit tests of the sender's batching: batches taken off a queue become
 * one read-back per key for the master and one pipeline of quiet meta
 * commands for the slave; then each key's slave state is checked against
 * the master's answer, and repaired. No I/O. */
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


/* Verification ---------------------------------------------------------- */

static mcrepl__applied_t given(const char *val, uint32_t flags, int64_t exp)
{
  mcrepl__applied_t g = {1, val, strlen(val), flags, exp};
  return g;
}

static mcrepl__meta_t meta(const char *val, uint32_t flags, int64_t ttl)
{
  mcrepl__meta_t m = {strlen(val), flags, ttl, 0};
  return m;
}

START_TEST(the_same_state_agrees)
{
  mcrepl__applied_t g = given("abc", 3, 0);
  mcrepl__meta_t m = meta("abc", 3, -1);

  ck_assert_int_eq(mcrepl__agrees(&g, 1, &m, "abc", SLAVE_NOW), 1);
  g = given("abc", 3, SLAVE_NOW + 100);
  m = meta("abc", 3, 100);
  ck_assert_int_eq(mcrepl__agrees(&g, 1, &m, "abc", SLAVE_NOW), 1);
  /* Clocks tick a second or two apart. */
  m.ttl = 100 + MCREPL__EXPIRY_SLACK_S;
  ck_assert_int_eq(mcrepl__agrees(&g, 1, &m, "abc", SLAVE_NOW), 1);
  m.ttl = 100 - MCREPL__EXPIRY_SLACK_S;
  ck_assert_int_eq(mcrepl__agrees(&g, 1, &m, "abc", SLAVE_NOW), 1);
}
END_TEST

START_TEST(another_value_flags_or_expiry_disagrees)
{
  mcrepl__applied_t g = given("abc", 3, SLAVE_NOW + 100);
  mcrepl__meta_t m = meta("abd", 3, 100);

  /* The same length, another value: what a CAS could not tell after a
   * touch (which keeps it) is told by the state itself. */
  ck_assert_int_eq(mcrepl__agrees(&g, 1, &m, "abd", SLAVE_NOW), 0);
  m = meta("abcd", 3, 100);
  ck_assert_int_eq(mcrepl__agrees(&g, 1, &m, "abcd", SLAVE_NOW), 0);
  m = meta("abc", 4, 100);
  ck_assert_int_eq(mcrepl__agrees(&g, 1, &m, "abc", SLAVE_NOW), 0);
  m = meta("abc", 3, 100 + MCREPL__EXPIRY_SLACK_S + 1);
  ck_assert_int_eq(mcrepl__agrees(&g, 1, &m, "abc", SLAVE_NOW), 0);
  m = meta("abc", 3, -1); /* touched to never expire */
  ck_assert_int_eq(mcrepl__agrees(&g, 1, &m, "abc", SLAVE_NOW), 0);
  g.exp = 0;
  m = meta("abc", 3, 5000);
  ck_assert_int_eq(mcrepl__agrees(&g, 1, &m, "abc", SLAVE_NOW), 0);
}
END_TEST

START_TEST(gone_on_both_agrees_gone_on_one_does_not)
{
  mcrepl__applied_t none = {0, NULL, 0, 0, 0}, g = given("abc", 3, 0);
  mcrepl__meta_t m = meta("abc", 3, -1);

  ck_assert_int_eq(mcrepl__agrees(&none, 0, &m, "", SLAVE_NOW), 1);
  ck_assert_int_eq(mcrepl__agrees(&none, 1, &m, "abc", SLAVE_NOW), 0);
  ck_assert_int_eq(mcrepl__agrees(&g, 0, &m, "", SLAVE_NOW), 0);
  /* A second or less to live is as good as gone, on either side. */
  m.ttl = 1;
  ck_assert_int_eq(mcrepl__agrees(&none, 1, &m, "abc", SLAVE_NOW), 1);
  g.exp = SLAVE_NOW + 1;
  ck_assert_int_eq(mcrepl__agrees(&g, 0, &m, "", SLAVE_NOW), 1);
  g.exp = SLAVE_NOW + 60;
  ck_assert_int_eq(mcrepl__agrees(&g, 0, &m, "", SLAVE_NOW), 0);
}
END_TEST

/* Writes queued under another master (the vip moved) cannot be
 * verified against this one. */
START_TEST(a_batch_from_another_master_is_told)
{
  bed_t t;

  bed_init(&t, 16);
  push(&t, MCREPL__OP_SET, "a", "1", 0, mcrepl__now_ns());
  push(&t, MCREPL__OP_SET, "b", "2", 0, mcrepl__now_ns());
  take(&t);
  ck_assert_int_eq(mcrepl__batch_same_roles(t.batch, 0), 1);
  t.batch->next->roles = 1;
  ck_assert_int_eq(mcrepl__batch_same_roles(t.batch, 0), 0);
  ck_assert_int_eq(mcrepl__batch_same_roles(t.batch->next, 1), 1);
  bed_free(&t);
}
END_TEST

/* The master's answers to the checks, as the sender reads them. */
static void answer(bed_t *t, size_t i, const char *val, uint32_t flags,
                   int64_t ttl)
{
  mcrepl__check_t *c = &t->b.check[i];

  c->found = val != NULL;
  if (!val)
    return;
  c->meta = meta(val, flags, ttl);
  c->off = t->b.answers.len;
  ck_assert_int_eq(mcrepl__buf_add(&t->b.answers, val, strlen(val)), 0);
}

START_TEST(each_key_is_checked_once_as_its_last_entry_left_it)
{
  bed_t t;
  size_t count;
  const char *want = "mg a v f t\r\nmg b v f t\r\nmg c v f t\r\nmn\r\n";

  bed_init(&t, 16);
  push(&t, MCREPL__OP_SET, "a", "1", 0, mcrepl__now_ns());
  push(&t, MCREPL__OP_SET, "b", "2", 0, mcrepl__now_ns());
  push(&t, MCREPL__OP_DELETE, "a", NULL, 0, mcrepl__now_ns());
  push(&t, MCREPL__OP_FLUSH, "", NULL, 0, mcrepl__now_ns());
  push(&t, MCREPL__OP_READBACK, "c", NULL, 0, mcrepl__now_ns());
  take(&t);
  ck_assert_int_eq(mcrepl__batch_readbacks(&t.b, t.batch, &count), 0);
  t.b.state[4].found = 0;
  ck_assert_int_eq(
      mcrepl__batch_build(&t.b, t.batch, mcrepl__now_ns(), SLAVE_NOW), 0);
  ck_assert_int_eq(mcrepl__batch_checks(&t.b, t.batch), 3);
  ck_assert_uint_eq(t.b.out.len, strlen(want));
  ck_assert_mem_eq(t.b.out.p, want, t.b.out.len);
  /* "a" as the delete left it, "b" as set, "c" as read back (gone). */
  ck_assert_int_eq(t.b.check[0].given.present, 0);
  ck_assert_int_eq(t.b.check[1].given.present, 1);
  ck_assert_mem_eq(t.b.check[1].given.val, "2", 1);
  ck_assert_int_eq(t.b.check[2].given.present, 0);
  bed_free(&t);
}
END_TEST

/* The master moved on meanwhile (another process's write of "b", and
 * of "c"): those two are given the master's state and asked for again;
 * "a", which agrees, is done. */
START_TEST(keys_that_disagree_are_repaired_with_the_masters_state)
{
  bed_t t;
  size_t count;
  char want[160];
  const char *again = "mg b v f t\r\nmg c v f t\r\nmn\r\n";
  char *got;

  bed_init(&t, 16);
  push(&t, MCREPL__OP_SET, "a", "1", 0, mcrepl__now_ns());
  push(&t, MCREPL__OP_SET, "b", "2", 0, mcrepl__now_ns());
  push(&t, MCREPL__OP_DELETE, "c", NULL, 0, mcrepl__now_ns());
  take(&t);
  ck_assert_int_eq(mcrepl__batch_readbacks(&t.b, t.batch, &count), 0);
  ck_assert_int_eq(
      mcrepl__batch_build(&t.b, t.batch, mcrepl__now_ns(), SLAVE_NOW), 0);
  ck_assert_int_eq(mcrepl__batch_checks(&t.b, t.batch), 3);
  answer(&t, 0, "1", 5, -1);
  answer(&t, 1, "22", 6, 50);
  answer(&t, 2, "new", 7, -1);
  ck_assert_int_eq(mcrepl__batch_resolve(&t.b, SLAVE_NOW), 2);
  snprintf(want, sizeof want,
           "ms b 2 F6 T%d q\r\n22\r\nms c 3 F7 T0 q\r\nnew\r\nmn\r\n",
           SLAVE_NOW + 50);
  got = pipeline(&t);
  ck_assert_str_eq(got, want);
  free(got);
  ck_assert_uint_eq(t.b.out.len, strlen(again));
  ck_assert_mem_eq(t.b.out.p, again, t.b.out.len);
  /* Asked again: "b" agrees now, "c" was deleted meanwhile. */
  t.b.answers.len = 0;
  answer(&t, 0, "22", 6, 50);
  answer(&t, 1, NULL, 0, 0);
  ck_assert_int_eq(mcrepl__batch_resolve(&t.b, SLAVE_NOW), 1);
  got = pipeline(&t);
  ck_assert_str_eq(got, "md c q\r\nmn\r\n");
  free(got);
  t.b.answers.len = 0;
  answer(&t, 0, NULL, 0, 0);
  ck_assert_int_eq(mcrepl__batch_resolve(&t.b, SLAVE_NOW), 0);
  bed_free(&t);
}
END_TEST

static Suite *suite(void)
{
  Suite *s = suite_create("batch");
  TCase *tc = tcase_create("batch");
  TCase *v = tcase_create("verify");

  tcase_add_test(tc, sets_and_deletes_go_out_in_queue_order_ended_by_mn);
  tcase_add_test(tc, a_key_read_back_twice_is_read_and_sent_once);
  tcase_add_test(tc, read_back_states_become_sets_or_deletes);
  tcase_add_test(tc, expiries_age_in_the_queue);
  tcase_add_test(tc, a_flush_is_answered_and_keeps_its_delay);
  tcase_add_test(tc, big_values_are_sent_from_the_entries);
  tcase_add_test(tc, a_second_batch_starts_clean);
  suite_add_tcase(s, tc);
  tcase_add_test(v, the_same_state_agrees);
  tcase_add_test(v, another_value_flags_or_expiry_disagrees);
  tcase_add_test(v, gone_on_both_agrees_gone_on_one_does_not);
  tcase_add_test(v, a_batch_from_another_master_is_told);
  tcase_add_test(v, each_key_is_checked_once_as_its_last_entry_left_it);
  tcase_add_test(v, keys_that_disagree_are_repaired_with_the_masters_state);
  suite_add_tcase(s, v);
  return s;
}

int main(void)
{
  return run_suite(suite());
}
