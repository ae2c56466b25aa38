/* The sender thread of a pair (see sender.h). */
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "clock.h"
#include "failover.h"
#include "link.h"
#include "sender.h"

#define BACKOFF_MIN_MS 10
/* A pipeline carries at most this much (more if one value is larger):
 * the values stay in the queue's entries and are sent from there. */
#define BATCH_BYTES ((size_t)4 << 20)
#define BACKOFF_SLICE_MS 50
/* Attempts at one batch that fail in a way a retry repeats (see
 * give_up) before it is given up. */
#define BATCH_TRIES 3

/* What only the sender thread of a pair touches. */
typedef struct mcrepl__sender {
  mcrepl__pair_t *p;
  pthread_t thread;
  mcrepl__link_t link;
  mcrepl__failover_t fo;
  mcrepl__batch_t b;
  int unacked;                  /* pipeline bytes may be on the slave's
                                   connection that its "MN" did not
                                   acknowledge yet */
  int faults;                   /* failed attempts of this batch that a
                                   retry would repeat (see give_up) */
  int64_t last_batch_ns;        /* when the last batch was taken */
  /* The batch sent to the slave whose "MN" is not read yet: at most one,
   * so that a reply before it can only be about it. */
  mcrepl__entry_t *inflight;
  size_t inflight_n;
  int backoff_ms;
} mcrepl__sender_t;

/* Reads the master's answer to one "mg <key> v f t": VA and the value,
 * which goes to the end of into (at *off), or EN. */
static mcrepl_return_t read_item(mcrepl__sender_t *s, mcrepl__buf_t *into,
                                 int *found, mcrepl__meta_t *meta,
                                 size_t *off, const mcrepl__io_t *io)
{
  mcrepl__conn_t *master = &s->link.master;
  const char *line, *data;
  size_t len;
  mcrepl_return_t rc = mcrepl__conn_line(master, &line, &len, io);

  if (rc != MCREPL_SUCCESS)
    return rc;
  *found = 0;
  if (mcrepl__proto_is(line, len, "EN"))
    return MCREPL_SUCCESS;
  if (mcrepl__proto_parse_va(line, len, meta) != 0)
    return MCREPL_PROTOCOL_ERROR;
  rc = mcrepl__conn_block(master, meta->vlen, &data, io);
  if (rc != MCREPL_SUCCESS)
    return rc;
  *off = into->len;
  if (mcrepl__buf_add(into, data, meta->vlen) != 0)
    return MCREPL_NOMEM;
  *found = 1;
  return MCREPL_SUCCESS;
}

/* Reads the master's "MN" that ends an exchange. */
static mcrepl_return_t read_mn(mcrepl__sender_t *s, const mcrepl__io_t *io)
{
  const char *line;
  size_t len;
  mcrepl_return_t rc = mcrepl__conn_line(&s->link.master, &line, &len, io);

  if (rc == MCREPL_SUCCESS && !mcrepl__proto_is(line, len, "MN"))
    rc = MCREPL_PROTOCOL_ERROR;
  return rc;
}

/* Reads the master's current state of every read-back key of the batch:
 * append, incr, touch and absolute expiries are replicated as the state
 * they produced, not as the command. */
static mcrepl_return_t read_back(mcrepl__sender_t *s,
                                 const mcrepl__entry_t *batch)
{
  mcrepl__io_t io = mcrepl__link_io(&s->link, s->p->cfg->io_timeout_ms);
  mcrepl__conn_t *master = &s->link.master;
  const mcrepl__entry_t *e;
  mcrepl_return_t rc;
  size_t count, i = 0;

  if (mcrepl__batch_readbacks(&s->b, batch, &count) != 0)
    return MCREPL_NOMEM;
  if (count == 0)
    return MCREPL_SUCCESS;
  if (mcrepl__link_master(&s->link) != MCREPL_SUCCESS)
    return MCREPL_CONNECTION_FAILURE;
  rc = mcrepl__conn_send(master, s->b.out.p, s->b.out.len, &io);
  for (e = batch; e && rc == MCREPL_SUCCESS; e = e->next, i++) {
    mcrepl__state_t *st = &s->b.state[i];
    if (mcrepl__batch_reads(&s->b, e, i))
      rc = read_item(s, &s->b.states, &st->found, &st->meta, &st->off, &io);
  }
  if (rc == MCREPL_SUCCESS)
    rc = read_mn(s, &io);
  if (rc != MCREPL_SUCCESS)
    mcrepl__conn_close(master);
  return rc;
}

/* The pipeline is built on our monotonic clock (relative expiries age in
 * the queue) and on the slave's wall clock: ours plus the skew measured
 * when we connected. */
static int64_t slave_clock(const mcrepl__sender_t *s)
{
  return (int64_t)time(NULL) + s->link.slave_skew_s;
}

static mcrepl_return_t build_pipeline(mcrepl__sender_t *s,
                                      const mcrepl__entry_t *batch)
{
  return mcrepl__batch_build(&s->b, batch, mcrepl__now_ns(),
                             slave_clock(s)) == 0
             ? MCREPL_SUCCESS
             : MCREPL_NOMEM;
}

static mcrepl__io_t slave_io(mcrepl__sender_t *s)
{
  /* A slow slave is waited for, long: giving up on a connection that
   * still holds writes lets them land late, after newer ones. */
  return mcrepl__link_io(&s->link, s->p->cfg->dead_timeout_ms);
}

static mcrepl_return_t send_pipeline(mcrepl__sender_t *s)
{
  mcrepl__io_t io = slave_io(s);
  struct iovec *iov;
  size_t n;

  if (mcrepl__pipe_iov(&s->b.pipe, &iov, &n) != 0)
    return MCREPL_NOMEM;
  return mcrepl__conn_sendv(&s->link.slave, iov, n, &io);
}

/* Reads the slave's answers to the batch in flight, up to its "MN".
 * Only failures come before it, and a flush's "OK": quiet commands
 * answer nothing when they succeed. */
static mcrepl_return_t await_mn(mcrepl__sender_t *s, uint64_t *failed)
{
  mcrepl__io_t io = slave_io(s);
  mcrepl_return_t rc = MCREPL_SUCCESS;
  const char *line;
  size_t len;

  while (rc == MCREPL_SUCCESS) {
    rc = mcrepl__conn_line(&s->link.slave, &line, &len, &io);
    if (rc != MCREPL_SUCCESS)
      break;
    if (mcrepl__proto_is(line, len, "OK"))
      continue;
    switch (mcrepl__proto_classify(line, len)) {
    case MCREPL__LINE_OK:
      if (mcrepl__proto_is(line, len, "MN")) {
        s->unacked = 0;
        return MCREPL_SUCCESS;
      }
      break;
    case MCREPL__LINE_GARBAGE:
      mcrepl__conn_close(&s->link.slave);
      return MCREPL_PROTOCOL_ERROR;
    default:
      ++*failed;
      atomic_fetch_add(&s->p->st.errors, 1);
    }
  }
  return rc;
}

/* *connected: the slave was reached, so a failure was the batch's. */
static mcrepl_return_t attempt(mcrepl__sender_t *s, const mcrepl__entry_t *b,
                               int *connected)
{
  mcrepl_return_t rc = mcrepl__failover_slave(&s->fo);

  *connected = rc == MCREPL_SUCCESS;
  if (rc == MCREPL_SUCCESS)
    rc = read_back(s, b);
  if (rc == MCREPL_SUCCESS)
    rc = build_pipeline(s, b);
  if (rc == MCREPL_SUCCESS) {
    s->unacked = 1;
    rc = send_pipeline(s);
  }
  return rc;
}

/* Verified replication ------------------------------------------------- */

/* Asks the master for the state of every key being checked. */
static mcrepl_return_t ask_states(mcrepl__sender_t *s)
{
  mcrepl__io_t io = mcrepl__link_io(&s->link, s->p->cfg->io_timeout_ms);
  mcrepl_return_t rc = mcrepl__link_master(&s->link);
  size_t i;

  s->b.answers.len = 0;
  if (rc == MCREPL_SUCCESS)
    rc = mcrepl__conn_send(&s->link.master, s->b.out.p, s->b.out.len, &io);
  for (i = 0; i < s->b.nchecks && rc == MCREPL_SUCCESS; i++) {
    mcrepl__check_t *c = &s->b.check[i];
    rc = read_item(s, &s->b.answers, &c->found, &c->meta, &c->off, &io);
  }
  if (rc == MCREPL_SUCCESS)
    rc = read_mn(s, &io);
  if (rc != MCREPL_SUCCESS)
    mcrepl__conn_close(&s->link.master);
  return rc;
}

/* Gives the slave the master's state of the keys that disagreed. */
static mcrepl_return_t repair(mcrepl__sender_t *s)
{
  uint64_t failed = 0;
  mcrepl_return_t rc;

  s->unacked = 1;
  rc = send_pipeline(s);
  if (rc == MCREPL_SUCCESS)
    rc = await_mn(s, &failed);
  s->unacked = 0;
  return rc == MCREPL_SUCCESS && failed ? MCREPL_SERVER_ERROR : rc;
}

static void unverified(mcrepl__sender_t *s, size_t n, const char *why)
{
  mcrepl__pair_t *p = s->p;

  atomic_fetch_add(&p->st.unverified, n);
  mcrepl__stats_add_dirt(&p->st);
  mcrepl__log(p->notify, MCREPL_LOG_WARNING,
              "pair %zu: %zu writes could not be verified on slave %s: %s",
              p->index, n, mcrepl__link_slave_addr(&s->link)->text, why);
}

/* Each process's sender applies that process's writes in its own time:
 * another process's newer write of a key can reach the slave before
 * this older one, which would then stay there for good. So once the
 * slave acknowledged a batch, the master is asked for the state of each
 * of its keys; where it differs from what the slave was given, the
 * master's state is given to the slave, and asked for again, until the
 * two agree. Then the last write of a key to reach the slave carries the
 * master's final state: its sender saw the master agree after it was
 * applied, and any later write of the master has a later slave write
 * of its own. What cannot be verified makes the pair dirty. */
static void verify(mcrepl__sender_t *s, const mcrepl__entry_t *batch,
                   size_t n)
{
  mcrepl__pair_t *p = s->p;
  int64_t until = mcrepl__now_ns() + mcrepl__ms_to_ns(p->cfg->dead_timeout_ms);
  const char *why = NULL;
  long left;

  if (!mcrepl__batch_same_roles(batch,
                                (uint32_t)atomic_load(&p->vip_changes))) {
    unverified(s, n, "the vip moved since they were written");
    return;
  }
  left = mcrepl__batch_checks(&s->b, batch);
  while (left > 0) {
    if (ask_states(s) != MCREPL_SUCCESS && ask_states(s) != MCREPL_SUCCESS) {
      why = "the master did not answer";
      break;
    }
    left = mcrepl__batch_resolve(&s->b, slave_clock(s));
    if (left <= 0)
      break;
    if (mcrepl__now_ns() > until || mcrepl__link_past_deadline(&s->link)) {
      why = "their keys kept changing on the master";
      break;
    }
    atomic_fetch_add(&p->st.repairs, (uint64_t)left);
    if (repair(s) != MCREPL_SUCCESS) {
      why = "the slave did not take the master's state";
      break;
    }
  }
  if (left < 0)
    why = "out of memory";
  if (why)
    unverified(s, n, why);
}

/* applied_ns: when the slave's "MN" arrived; the lag ends there, or
 * where we read it when the kernel did not stamp it. */
static void batch_done(mcrepl__sender_t *s, mcrepl__entry_t *batch,
                       uint64_t failed, int64_t applied_ns)
{
  mcrepl__pair_t *p = s->p;
  const mcrepl__entry_t *e;
  int at_read = !s->link.slave.rx_stamped;

  if (failed == 0) {
    for (e = batch; e; e = e->next)
      mcrepl__stats_lag(&p->st,
                        applied_ns > e->t_ns
                            ? (uint64_t)(applied_ns - e->t_ns) / 1000
                            : 0,
                        at_read);
  } else {
    mcrepl__log(p->notify, MCREPL_LOG_WARNING,
                "pair %zu: %llu writes not applied on slave %s", p->index,
                (unsigned long long)failed,
                mcrepl__link_slave_addr(&s->link)->text);
    mcrepl__stats_add_dirt(&p->st);
  }
  atomic_fetch_add(&p->st.batches, 1);
  s->faults = 0;
  mcrepl__queue_done(&p->q, batch, failed);
}

static void backoff(mcrepl__sender_t *s)
{
  int64_t until;

  s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : BACKOFF_MIN_MS;
  if (s->backoff_ms > s->p->cfg->backoff_max_ms)
    s->backoff_ms = s->p->cfg->backoff_max_ms;
  until = mcrepl__now_ns() + mcrepl__ms_to_ns(s->backoff_ms);
  while (mcrepl__now_ns() < until && !mcrepl__link_past_deadline(&s->link)) {
    struct timespec ts = {0, BACKOFF_SLICE_MS * 1000000L};
    nanosleep(&ts, NULL);
  }
}

/* Writes left on a connection we gave up may still be applied later,
 * after the newer ones sent on the next: the slave can no longer be
 * trusted. Unless the slave itself closed it: then nothing more of it
 * will be applied. */
static void check_abandoned(mcrepl__sender_t *s)
{
  if (!s->unacked || s->link.slave.fd >= 0)
    return;
  if (!s->link.slave.peer_gone)
    mcrepl__stats_add_dirt(&s->p->st);
  s->unacked = 0;
}

/* Whether the batch failed in a way that sending it again repeats (a
 * slave that answers nonsense, no memory for it), too often: it is then
 * given up, so that one batch cannot stop the pair's replication for
 * good. Unreachable or slow slaves are waited for: they come back. */
static int give_up(mcrepl__sender_t *s, mcrepl_return_t rc, int connected)
{
  if (!connected || (rc != MCREPL_PROTOCOL_ERROR && rc != MCREPL_NOMEM))
    return 0;
  return ++s->faults >= BATCH_TRIES;
}

static void failed_attempt(mcrepl__sender_t *s, mcrepl_return_t rc)
{
  check_abandoned(s);
  atomic_fetch_add(&s->p->st.errors, 1);
  mcrepl__link_slave_failed(&s->link, rc);
  backoff(s);
  /* The vip may have moved while the slave was unreachable; past the
   * shutdown deadline there is no time left to find out. */
  if (!mcrepl__link_past_deadline(&s->link))
    mcrepl__failover_tick(&s->fo, 1);
}

/* Sends the batch; it is then in flight, or done if it had to be given
 * up. Nothing may be in flight already. */
static void deliver(mcrepl__sender_t *s, mcrepl__entry_t *batch, size_t n)
{
  for (;;) {
    mcrepl_return_t rc;
    int connected;

    if (mcrepl__link_past_deadline(&s->link)) {
      mcrepl__stats_add_dirt(&s->p->st);
      batch_done(s, batch, n, 0);
      return;
    }
    rc = attempt(s, batch, &connected);
    if (rc == MCREPL_SUCCESS) {
      s->inflight = batch;
      s->inflight_n = n;
      return;
    }
    failed_attempt(s, rc);
    if (give_up(s, rc, connected)) {
      batch_done(s, batch, n, 0);
      return;
    }
  }
}

/* Waits for the batch in flight to be applied, sending it again (on a
 * new connection) for as long as that fails. */
static void settle(mcrepl__sender_t *s)
{
  while (s->inflight) {
    mcrepl__entry_t *batch = s->inflight;
    uint64_t failed = 0;
    mcrepl_return_t rc = await_mn(s, &failed);

    s->inflight = NULL;
    if (rc == MCREPL_SUCCESS) {
      int64_t applied_ns = s->link.slave.rx_ns;
      s->backoff_ms = 0;
      if (failed == 0)
        verify(s, batch, s->inflight_n);
      batch_done(s, batch, failed, applied_ns);
      return;
    }
    failed_attempt(s, rc);
    if (give_up(s, rc, 1))
      batch_done(s, batch, s->inflight_n, 0);
    else
      deliver(s, batch, s->inflight_n);
  }
}

/* A caller whose master answers while this thread holds the CPU waits
 * for the rest of its turn: the scheduler does not preempt the sender
 * for it, and a kernel built without preemption could not inside a
 * system call. So before the longest part of its turn (building and
 * sending the pipeline) the sender offers the CPU back, once per
 * pipeline; when nothing else is ready to run, that costs one system
 * call. Only to a lone caller: with several, the pipeline would queue
 * behind each of them in turn, nor when someone waits for the queue. */
static void give_way(mcrepl__pair_t *p)
{
  if (mcrepl__pool_lent(&p->pool) == 1 && !mcrepl__queue_hurried(&p->q))
    sched_yield();
}

/* The next batch is sent before the last one's "MN" is read: while the
 * writes flow, the answer is there by then and costs no wake-up of its
 * own. With nothing new within half a window after the batch window,
 * it is read then. */
static void *sender_main(void *arg)
{
  mcrepl__sender_t *s = arg;
  mcrepl__pair_t *p = s->p;
  mcrepl__entry_t *batch;
  size_t n;

  while (!mcrepl__queue_stopping(&p->q)) {
    int64_t window = s->last_batch_ns + (int64_t)p->cfg->batch_delay_us * 1000;
    int64_t settle_by = window + mcrepl__queue_slack_ns(&p->q);
    int64_t tick = mcrepl__failover_next_tick(&s->fo);
    mcrepl__take_t t = {(size_t)p->cfg->batch_max, BATCH_BYTES, window,
                        s->inflight && settle_by < tick ? settle_by : tick};
    batch = mcrepl__queue_take(&p->q, &t, &n);
    settle(s);
    if (batch) {
      give_way(p);
      s->last_batch_ns = mcrepl__now_ns();
      deliver(s, batch, n);
    }
    if (mcrepl__now_ns() >= mcrepl__failover_next_tick(&s->fo)) {
      /* The tick talks to the slave on the same connection. */
      settle(s);
      mcrepl__failover_tick(&s->fo, 0);
    }
  }
  settle(s);
  mcrepl__failover_last_word(&s->fo);
  return NULL;
}

static void sender_free(mcrepl__sender_t *s)
{
  mcrepl__link_free(&s->link);
  mcrepl__batch_free(&s->b);
  free(s);
}

int mcrepl__sender_start(mcrepl__pair_t *p)
{
  mcrepl__sender_t *s = calloc(1, sizeof *s);
  sigset_t all, old;
  int rc;

  if (!s)
    return -1;
  s->p = p;
  mcrepl__link_init(&s->link, p);
  mcrepl__failover_init(&s->fo, p, &s->link);
  if (mcrepl__batch_init(&s->b, (size_t)p->cfg->batch_max) != 0) {
    sender_free(s);
    return -1;
  }
  /* The application's signals are not ours to receive. */
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  rc = pthread_create(&s->thread, NULL, sender_main, s);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) {
    sender_free(s);
    return -1;
  }
  p->sender = s;
  return 0;
}

void mcrepl__sender_signal(mcrepl__pair_t *p, int64_t deadline_ns)
{
  if (!p->sender)
    return;
  atomic_store(&p->deadline, deadline_ns > 0 ? deadline_ns : 1);
  mcrepl__queue_stop(&p->q);
}

void mcrepl__sender_stop(mcrepl__pair_t *p, int64_t deadline_ns)
{
  mcrepl__sender_t *s = p->sender;

  if (!s)
    return;
  mcrepl__sender_signal(p, deadline_ns);
  pthread_join(s->thread, NULL);
  p->sender = NULL;
  sender_free(s);
}
