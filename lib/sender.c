/* The sender thread of a pair (see sender.h). */
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "internal.h"
#include "node.h"

#define BACKOFF_MIN_MS 10
/* A pipeline carries at most this much (more if one value is larger):
 * the values stay in the queue's entries and are sent from there. */
#define BATCH_BYTES ((size_t)4 << 20)
#define BACKOFF_SLICE_MS 50
/* Attempts at one batch that fail in a way a retry repeats (see
 * give_up) before it is given up. */
#define BATCH_TRIES 3

/* The master's state of one read-back key. */
typedef struct mcrepl__state {
  int found;
  int repeat; /* a later read-back of the batch has the same key */
  size_t off; /* of the value in sender.states */
  mcrepl__meta_t meta;
  const mcrepl__entry_t *e;
} mcrepl__state_t;

void mcrepl__pair_mark_dirty(mcrepl__pair_t *p)
{
  atomic_fetch_add(&p->st.dirt, 1);
}

const mcrepl__addr_t *mcrepl__slave_addr(const mcrepl__pair_t *p)
{
  return p->node[1 - atomic_load(&p->master_idx)];
}

mcrepl__io_t mcrepl__io_of(mcrepl__pair_t *p, int stall_ms)
{
  mcrepl__io_t io = {.stall_ms = stall_ms, .deadline = &p->deadline};
  return io;
}

static int past_deadline(mcrepl__pair_t *p)
{
  int64_t dl = atomic_load(&p->deadline);
  return dl != 0 && mcrepl__now_ns() >= dl;
}

/* A server older than memcached 1.6 answers our meta commands with
 * ERROR and then reads each value as commands of its own: nothing is
 * sent to one. */
static mcrepl_return_t speaks_meta(mcrepl__pair_t *p, const mcrepl__io_t *io)
{
  mcrepl__sender_t *s = &p->s;
  mcrepl_return_t rc = mcrepl__conn_send(&s->slave, "mn\r\n", 4, io);
  const char *line;
  size_t len;

  if (rc == MCREPL_SUCCESS)
    rc = mcrepl__conn_line(&s->slave, &line, &len, io);
  if (rc != MCREPL_SUCCESS || mcrepl__proto_is(line, len, "MN"))
    return rc;
  if (!s->said_no_meta)
    mcrepl__log(p->m, MCREPL_LOG_ERROR,
                "pair %zu: slave %s does not answer meta commands: "
                "memcached 1.6 or later is needed", p->index,
                mcrepl__slave_addr(p)->text);
  s->said_no_meta = 1;
  return MCREPL_PROTOCOL_ERROR;
}

mcrepl_return_t mcrepl__sender_slave(mcrepl__pair_t *p)
{
  mcrepl__sender_t *s = &p->s;
  mcrepl__io_t io = mcrepl__io_of(p, p->cfg->io_timeout_ms);
  mcrepl__stats_reply_t id;
  mcrepl_return_t rc;

  if (s->slave.fd >= 0)
    return MCREPL_SUCCESS;
  atomic_store(&p->st.slave_up, 0);
  rc = mcrepl__conn_open(&s->slave, mcrepl__slave_addr(p),
                         p->cfg->connect_timeout_ms);
  if (rc != MCREPL_SUCCESS)
    return rc;
  atomic_fetch_add(&p->st.reconnects, 1);
  mcrepl__conn_stamp(&s->slave);
  rc = mcrepl__conn_stats(&s->slave, &id, &io);
  if (rc == MCREPL_SUCCESS)
    rc = speaks_meta(p, &io);
  if (rc == MCREPL_SUCCESS)
    rc = mcrepl__failover_slave_seen(p, &id);
  if (rc != MCREPL_SUCCESS) {
    mcrepl__conn_close(&s->slave);
    return rc;
  }
  atomic_store(&p->st.slave_up, 1);
  if (!s->was_up)
    mcrepl__log(p->m, MCREPL_LOG_INFO, "pair %zu: slave %s is up", p->index,
                mcrepl__slave_addr(p)->text);
  s->was_up = 1;
  return MCREPL_SUCCESS;
}

/* Reads one read-back answer: VA + value, or EN. */
static mcrepl_return_t read_state(mcrepl__pair_t *p, mcrepl__state_t *st,
                                  const mcrepl__io_t *io)
{
  mcrepl__sender_t *s = &p->s;
  const char *line, *data;
  size_t len;
  mcrepl_return_t rc = mcrepl__conn_line(&s->master, &line, &len, io);

  if (rc != MCREPL_SUCCESS)
    return rc;
  st->found = 0;
  if (mcrepl__proto_is(line, len, "EN"))
    return MCREPL_SUCCESS;
  if (mcrepl__proto_parse_va(line, len, &st->meta) != 0)
    return MCREPL_PROTOCOL_ERROR;
  rc = mcrepl__conn_block(&s->master, st->meta.vlen, &data, io);
  if (rc != MCREPL_SUCCESS)
    return rc;
  st->off = s->states.len;
  if (mcrepl__buf_add(&s->states, data, st->meta.vlen) != 0)
    return MCREPL_NOMEM;
  st->found = 1;
  return MCREPL_SUCCESS;
}

mcrepl_return_t mcrepl__sender_master(mcrepl__pair_t *p)
{
  mcrepl__sender_t *s = &p->s;

  if (s->master.fd >= 0)
    return MCREPL_SUCCESS;
  s->vip_probed = 0; /* a new connection may lead elsewhere */
  return mcrepl__conn_open(&s->master, p->target, p->cfg->connect_timeout_ms);
}

static size_t key_hash(const char *k, size_t len)
{
  uint32_t h = 2166136261u;

  while (len--)
    h = (h ^ (unsigned char)*k++) * 16777619u;
  return h;
}

/* Marks each read-back whose key a later read-back of the batch has:
 * all of them would send the state the master holds after the whole
 * batch, so only the last is read and sent (a hot counter, appends to
 * one item: one read per batch, not hundreds). */
static void mark_repeats(mcrepl__sender_t *s, const mcrepl__entry_t *batch)
{
  const mcrepl__entry_t *e;
  size_t i = 0, mask = s->nslots - 1, h;
  int cleared = 0;

  for (e = batch; e; e = e->next, i++) {
    if (e->op != MCREPL__OP_READBACK)
      continue;
    if (!cleared)
      memset(s->slot, 0, s->nslots * sizeof *s->slot);
    cleared = 1;
    s->state[i].repeat = 0;
    s->state[i].e = e;
    for (h = key_hash(e->data, e->key_len) & mask; s->slot[h];
         h = (h + 1) & mask) {
      mcrepl__state_t *o = &s->state[s->slot[h] - 1];
      if (o->e->key_len == e->key_len &&
          memcmp(o->e->data, e->data, e->key_len) == 0) {
        o->repeat = 1;
        break;
      }
    }
    s->slot[h] = (uint32_t)i + 1;
  }
}

static mcrepl_return_t send_readbacks(mcrepl__pair_t *p,
                                      const mcrepl__entry_t *batch,
                                      size_t *count, const mcrepl__io_t *io)
{
  mcrepl__sender_t *s = &p->s;
  const mcrepl__entry_t *e;
  size_t i = 0;

  s->out.len = 0;
  *count = 0;
  mark_repeats(s, batch);
  for (e = batch; e; e = e->next, i++) {
    if (e->op != MCREPL__OP_READBACK || s->state[i].repeat)
      continue;
    if (mcrepl__proto_mg_state(&s->out, e->data, e->key_len) != 0)
      return MCREPL_NOMEM;
    ++*count;
  }
  if (*count == 0)
    return MCREPL_SUCCESS;
  if (mcrepl__buf_add(&s->out, "mn\r\n", 4) != 0)
    return MCREPL_NOMEM;
  if (mcrepl__sender_master(p) != MCREPL_SUCCESS)
    return MCREPL_CONNECTION_FAILURE;
  return mcrepl__conn_send(&s->master, s->out.p, s->out.len, io);
}

/* Reads the master's current state of every read-back key of the batch:
 * append, incr, touch and absolute expiries are replicated as the state
 * they produced, not as the command. */
static mcrepl_return_t read_back(mcrepl__pair_t *p,
                                 const mcrepl__entry_t *batch)
{
  mcrepl__sender_t *s = &p->s;
  mcrepl__io_t io = mcrepl__io_of(p, p->cfg->io_timeout_ms);
  const mcrepl__entry_t *e;
  mcrepl_return_t rc;
  const char *line;
  size_t count, i = 0, len;

  s->states.len = 0;
  rc = send_readbacks(p, batch, &count, &io);
  if (rc != MCREPL_SUCCESS || count == 0)
    return rc;
  for (e = batch; e && rc == MCREPL_SUCCESS; e = e->next, i++)
    if (e->op == MCREPL__OP_READBACK && !s->state[i].repeat)
      rc = read_state(p, &s->state[i], &io);
  if (rc == MCREPL_SUCCESS)
    rc = mcrepl__conn_line(&s->master, &line, &len, &io);
  if (rc == MCREPL_SUCCESS && !mcrepl__proto_is(line, len, "MN"))
    rc = MCREPL_PROTOCOL_ERROR;
  if (rc != MCREPL_SUCCESS)
    mcrepl__conn_close(&s->master);
  return rc;
}

/* Seconds left of a relative expiry, counted from the master's answer:
 * the slave must expire the item when the master does. */
static int64_t ttl_left(const mcrepl__entry_t *e, int64_t now)
{
  int64_t age_ms = (now - e->t_ns) / 1000000;

  return e->exptime - (age_ms + 500) / 1000;
}

/* When the pipeline is built, on our monotonic clock and on the slave's
 * wall clock (ours plus the skew measured when we connected). */
typedef struct {
  int64_t now_ns;
  int64_t slave_s;
} when_t;

/* "ms" with the value sent from where it lies. */
static int add_ms(mcrepl__pipe_t *pp, const mcrepl__entry_t *e,
                  const char *val, size_t vlen, uint32_t flags, int64_t ttl)
{
  return mcrepl__proto_ms_head(&pp->buf, e->data, e->key_len, vlen, flags,
                               ttl) ||
         mcrepl__pipe_value(pp, val, vlen) ||
         mcrepl__buf_add(&pp->buf, "\r\n", 2);
}

static int add_state(mcrepl__pipe_t *pp, const mcrepl__entry_t *e,
                     const mcrepl__state_t *st, const char *values,
                     const when_t *w)
{
  if (!st->found)
    return mcrepl__proto_md(&pp->buf, e->data, e->key_len);
  return add_ms(pp, e, values ? values + st->off : "", st->meta.vlen,
                st->meta.flags, mcrepl__expiry_at(st->meta.ttl, w->slave_s));
}

static int add_entry(mcrepl__pipe_t *pp, const mcrepl__entry_t *e,
                     const mcrepl__state_t *st, const char *values,
                     const when_t *w)
{
  mcrepl__buf_t *b = &pp->buf;
  int64_t ttl;

  switch (e->op) {
  case MCREPL__OP_SET:
    ttl = e->exptime == 0 ? 0 : ttl_left(e, w->now_ns);
    if (e->exptime != 0 && ttl <= 0)
      return mcrepl__proto_md(b, e->data, e->key_len);
    return add_ms(pp, e, e->data + e->key_len, e->value_len, e->flags,
                  ttl ? mcrepl__expiry_at(ttl, w->slave_s) : 0);
  case MCREPL__OP_READBACK:
    return st->repeat ? 0 : add_state(pp, e, st, values, w);
  case MCREPL__OP_DELETE:
    return mcrepl__proto_md(b, e->data, e->key_len);
  case MCREPL__OP_FLUSH:
    /* A Unix time is the same instant to both servers: it does not
     * age in the queue. */
    if (e->exptime > MCREPL__RELATIVE_MAX)
      ttl = e->exptime;
    else
      ttl = e->exptime > 0 ? ttl_left(e, w->now_ns) : 0;
    /* Answered, unlike the quiet meta commands: a slave run with -F
     * refuses it, and with noreply says nothing. */
    return mcrepl__buf_printf(b, "flush_all %lld\r\n",
                              (long long)(ttl > 0 ? ttl : 0));
  default:
    return -1;
  }
}

static mcrepl_return_t build(mcrepl__pair_t *p, const mcrepl__entry_t *batch)
{
  mcrepl__sender_t *s = &p->s;
  const mcrepl__entry_t *e;
  when_t w = {mcrepl__now_ns(), (int64_t)time(NULL) + s->slave_skew_s};
  size_t i = 0;

  mcrepl__pipe_reset(&s->pipe);
  for (e = batch; e; e = e->next, i++)
    if (add_entry(&s->pipe, e, &s->state[i], s->states.p, &w) != 0)
      return MCREPL_NOMEM;
  return mcrepl__buf_add(&s->pipe.buf, "mn\r\n", 4) == 0 ? MCREPL_SUCCESS
                                                          : MCREPL_NOMEM;
}

static mcrepl__io_t slave_io(mcrepl__pair_t *p)
{
  /* A slow slave is waited for, long: giving up on a connection that
   * still holds writes lets them land late, after newer ones. */
  return mcrepl__io_of(p, p->cfg->dead_timeout_ms);
}

static mcrepl_return_t send_pipeline(mcrepl__pair_t *p)
{
  mcrepl__sender_t *s = &p->s;
  mcrepl__io_t io = slave_io(p);
  struct iovec *iov;
  size_t n;

  if (mcrepl__pipe_iov(&s->pipe, &iov, &n) != 0)
    return MCREPL_NOMEM;
  return mcrepl__conn_sendv(&s->slave, iov, n, &io);
}

/* Reads the slave's answers to the batch in flight, up to its "MN".
 * Only failures come before it, and a flush's "OK": quiet commands
 * answer nothing when they succeed. */
static mcrepl_return_t await_mn(mcrepl__pair_t *p, uint64_t *failed)
{
  mcrepl__sender_t *s = &p->s;
  mcrepl__io_t io = slave_io(p);
  mcrepl_return_t rc = MCREPL_SUCCESS;
  const char *line;
  size_t len;

  while (rc == MCREPL_SUCCESS) {
    rc = mcrepl__conn_line(&s->slave, &line, &len, &io);
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
      mcrepl__conn_close(&s->slave);
      return MCREPL_PROTOCOL_ERROR;
    default:
      ++*failed;
      atomic_fetch_add(&p->st.errors, 1);
    }
  }
  return rc;
}

/* *connected: the slave was reached, so a failure was the batch's. */
static mcrepl_return_t attempt(mcrepl__pair_t *p, const mcrepl__entry_t *b,
                               int *connected)
{
  mcrepl_return_t rc = mcrepl__sender_slave(p);

  *connected = rc == MCREPL_SUCCESS;
  if (rc == MCREPL_SUCCESS)
    rc = read_back(p, b);
  if (rc == MCREPL_SUCCESS)
    rc = build(p, b);
  if (rc == MCREPL_SUCCESS) {
    p->s.unacked = 1;
    rc = send_pipeline(p);
  }
  return rc;
}

/* applied_ns: when the slave's "MN" arrived; the lag ends there, or
 * where we read it when the kernel did not stamp it. */
static void finish(mcrepl__pair_t *p, mcrepl__entry_t *batch,
                   uint64_t failed, int64_t applied_ns)
{
  const mcrepl__entry_t *e;
  int at_read = !p->s.slave.rx_stamped;

  if (failed == 0) {
    for (e = batch; e; e = e->next)
      mcrepl__stats_lag(&p->st,
                        applied_ns > e->t_ns
                            ? (uint64_t)(applied_ns - e->t_ns) / 1000
                            : 0,
                        at_read);
  } else {
    mcrepl__log(p->m, MCREPL_LOG_WARNING,
                "pair %zu: %llu writes not applied on slave %s", p->index,
                (unsigned long long)failed, mcrepl__slave_addr(p)->text);
    mcrepl__pair_mark_dirty(p);
  }
  atomic_fetch_add(&p->st.batches, 1);
  p->s.faults = 0;
  mcrepl__queue_done(&p->q, batch, failed);
}

static void backoff(mcrepl__pair_t *p)
{
  mcrepl__sender_t *s = &p->s;
  int64_t until;

  s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : BACKOFF_MIN_MS;
  if (s->backoff_ms > p->cfg->backoff_max_ms)
    s->backoff_ms = p->cfg->backoff_max_ms;
  until = mcrepl__now_ns() + mcrepl__ms_to_ns(s->backoff_ms);
  while (mcrepl__now_ns() < until && !past_deadline(p)) {
    struct timespec ts = {0, BACKOFF_SLICE_MS * 1000000L};
    nanosleep(&ts, NULL);
  }
}

/* Writes left on a connection we gave up may still be applied later,
 * after the newer ones sent on the next: the slave can no longer be
 * trusted. Unless the slave itself closed it: then nothing more of it
 * will be applied. */
static void check_abandoned(mcrepl__pair_t *p)
{
  mcrepl__sender_t *s = &p->s;

  if (!s->unacked || s->slave.fd >= 0)
    return;
  if (!s->slave.peer_gone)
    mcrepl__pair_mark_dirty(p);
  s->unacked = 0;
}

/* Whether the batch failed in a way that sending it again repeats (a
 * slave that answers nonsense, no memory for it), too often: it is then
 * given up, so that one batch cannot stop the pair's replication for
 * good. Unreachable or slow slaves are waited for: they come back. */
static int give_up(mcrepl__pair_t *p, mcrepl_return_t rc, int connected)
{
  if (!connected || (rc != MCREPL_PROTOCOL_ERROR && rc != MCREPL_NOMEM))
    return 0;
  return ++p->s.faults >= BATCH_TRIES;
}

static void failed_attempt(mcrepl__pair_t *p, mcrepl_return_t rc)
{
  check_abandoned(p);
  atomic_fetch_add(&p->st.errors, 1);
  if (p->s.slave.fd < 0)
    atomic_store(&p->st.slave_up, 0);
  if (p->s.was_up)
    mcrepl__log(p->m, MCREPL_LOG_WARNING,
                "pair %zu: replication to %s failed: %s; writes wait in "
                "the queue", p->index, mcrepl__slave_addr(p)->text,
                mcrepl_strerror(rc));
  p->s.was_up = 0;
  backoff(p);
  /* The vip may have moved while the slave was unreachable; past the
   * shutdown deadline there is no time left to find out. */
  if (!past_deadline(p)) {
    p->s.retrying = 1;
    mcrepl__failover_tick(p);
    p->s.retrying = 0;
  }
}

/* Sends the batch; it is then in flight, or finished if it had to be
 * given up. Nothing may be in flight already. */
static void deliver(mcrepl__pair_t *p, mcrepl__entry_t *batch, size_t n)
{
  for (;;) {
    mcrepl_return_t rc;
    int connected;

    if (past_deadline(p)) {
      mcrepl__pair_mark_dirty(p);
      finish(p, batch, n, 0);
      return;
    }
    rc = attempt(p, batch, &connected);
    if (rc == MCREPL_SUCCESS) {
      p->s.inflight = batch;
      p->s.inflight_n = n;
      return;
    }
    failed_attempt(p, rc);
    if (give_up(p, rc, connected)) {
      finish(p, batch, n, 0);
      return;
    }
  }
}

/* Waits for the batch in flight to be applied, sending it again (on a
 * new connection) for as long as that fails. */
static void settle(mcrepl__pair_t *p)
{
  mcrepl__sender_t *s = &p->s;

  while (s->inflight) {
    mcrepl__entry_t *batch = s->inflight;
    uint64_t failed = 0;
    mcrepl_return_t rc = await_mn(p, &failed);

    s->inflight = NULL;
    if (rc == MCREPL_SUCCESS) {
      s->backoff_ms = 0;
      finish(p, batch, failed, s->slave.rx_ns);
      return;
    }
    failed_attempt(p, rc);
    if (give_up(p, rc, 1))
      finish(p, batch, s->inflight_n, 0);
    else
      deliver(p, batch, s->inflight_n);
  }
}

/* A caller whose master answers while this thread holds the CPU waits
 * for the rest of its turn, about 40 us on the development machine: the
 * scheduler does not preempt the sender for it, and a kernel built
 * without preemption could not inside a system call. So before the
 * longest part of its turn (building and sending the pipeline) the
 * sender offers the CPU back, once per pipeline; when nothing else is
 * ready to run, that costs one system call. Only to a lone caller: with
 * several, the pipeline would queue behind each of them in turn (four
 * callers: lag p99 6 ms), nor when someone waits for the queue. */
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
  mcrepl__pair_t *p = arg;
  mcrepl__sender_t *s = &p->s;
  mcrepl__entry_t *batch;
  size_t n;

  while (!mcrepl__queue_stopping(&p->q)) {
    int64_t window = s->last_batch_ns + (int64_t)p->cfg->batch_delay_us * 1000;
    int64_t settle_by = window + p->q.slack_ns;
    mcrepl__take_t t = {(size_t)p->cfg->batch_max, BATCH_BYTES, window,
                        s->inflight && settle_by < s->next_tick_ns
                            ? settle_by : s->next_tick_ns};
    batch = mcrepl__queue_take(&p->q, &t, &n);
    settle(p);
    if (batch) {
      give_way(p);
      s->last_batch_ns = mcrepl__now_ns();
      deliver(p, batch, n);
    }
    if (mcrepl__now_ns() >= s->next_tick_ns) {
      /* The tick talks to the slave on the same connection. */
      settle(p);
      mcrepl__failover_tick(p);
    }
  }
  settle(p);
  mcrepl__failover_last_word(p);
  return NULL;
}

int mcrepl__sender_start(mcrepl__pair_t *p)
{
  mcrepl__sender_t *s = &p->s;
  sigset_t all, old;
  int rc;

  memset(s, 0, sizeof *s);
  mcrepl__conn_init(&s->slave);
  mcrepl__conn_init(&s->master);
  s->state = calloc((size_t)p->cfg->batch_max, sizeof *s->state);
  for (s->nslots = 1; s->nslots < 2 * (size_t)p->cfg->batch_max;)
    s->nslots *= 2;
  s->slot = calloc(s->nslots, sizeof *s->slot);
  if (!s->state || !s->slot) {
    free(s->state);
    free(s->slot);
    s->state = NULL;
    s->slot = NULL;
    return -1;
  }
  /* The application's signals are not ours to receive. */
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  rc = pthread_create(&p->thread, NULL, sender_main, p);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) {
    free(s->state);
    free(s->slot);
    s->state = NULL;
    s->slot = NULL;
    return -1;
  }
  p->started = 1;
  return 0;
}

void mcrepl__sender_signal(mcrepl__pair_t *p, int64_t deadline_ns)
{
  if (!p->started)
    return;
  atomic_store(&p->deadline, deadline_ns > 0 ? deadline_ns : 1);
  mcrepl__queue_stop(&p->q);
}

void mcrepl__sender_stop(mcrepl__pair_t *p, int64_t deadline_ns)
{
  mcrepl__sender_t *s = &p->s;

  if (p->started) {
    mcrepl__sender_signal(p, deadline_ns);
    pthread_join(p->thread, NULL);
    p->started = 0;
  }
  mcrepl__conn_free(&s->slave);
  mcrepl__conn_free(&s->master);
  mcrepl__buf_free(&s->out);
  mcrepl__pipe_free(&s->pipe);
  mcrepl__buf_free(&s->states);
  free(s->state);
  free(s->slot);
  s->state = NULL;
  s->slot = NULL;
}
