/* A batch's read-backs and pipeline (see batch.h). */
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "hash.h"

int mcrepl__batch_init(mcrepl__batch_t *b, size_t max)
{
  memset(b, 0, sizeof *b);
  b->max = max;
  b->state = calloc(max, sizeof *b->state);
  for (b->nslots = 1; b->nslots < 2 * max;)
    b->nslots *= 2;
  b->slot = calloc(b->nslots, sizeof *b->slot);
  if (!b->state || !b->slot) {
    mcrepl__batch_free(b);
    return -1;
  }
  return 0;
}

void mcrepl__batch_free(mcrepl__batch_t *b)
{
  mcrepl__buf_free(&b->out);
  mcrepl__pipe_free(&b->pipe);
  mcrepl__buf_free(&b->states);
  free(b->state);
  free(b->slot);
  b->state = NULL;
  b->slot = NULL;
}

/* Marks each read-back whose key a later read-back of the batch has:
 * only the last is read and sent (a hot counter, appends to one item:
 * one read per batch, not hundreds). */
static void mark_repeats(mcrepl__batch_t *b, const mcrepl__entry_t *batch)
{
  const mcrepl__entry_t *e;
  size_t i = 0, mask = b->nslots - 1, h;
  int cleared = 0;

  for (e = batch; e; e = e->next, i++) {
    if (e->op != MCREPL__OP_READBACK)
      continue;
    if (!cleared)
      memset(b->slot, 0, b->nslots * sizeof *b->slot);
    cleared = 1;
    b->state[i].repeat = 0;
    b->state[i].e = e;
    for (h = mcrepl__fnv1a(e->data, e->key_len) & mask; b->slot[h];
         h = (h + 1) & mask) {
      mcrepl__state_t *o = &b->state[b->slot[h] - 1];
      if (o->e->key_len == e->key_len &&
          memcmp(o->e->data, e->data, e->key_len) == 0) {
        o->repeat = 1;
        break;
      }
    }
    b->slot[h] = (uint32_t)i + 1;
  }
}

int mcrepl__batch_reads(const mcrepl__batch_t *b, const mcrepl__entry_t *e,
                        size_t i)
{
  return e->op == MCREPL__OP_READBACK && !b->state[i].repeat;
}

int mcrepl__batch_readbacks(mcrepl__batch_t *b, const mcrepl__entry_t *batch,
                            size_t *count)
{
  const mcrepl__entry_t *e;
  size_t i = 0;

  b->states.len = 0;
  b->out.len = 0;
  *count = 0;
  mark_repeats(b, batch);
  for (e = batch; e; e = e->next, i++) {
    if (!mcrepl__batch_reads(b, e, i))
      continue;
    if (mcrepl__proto_mg_state(&b->out, e->data, e->key_len) != 0)
      return -1;
    ++*count;
  }
  if (*count > 0 && mcrepl__buf_add(&b->out, "mn\r\n", 4) != 0)
    return -1;
  return 0;
}

/* Seconds left of a relative expiry, counted from the master's answer:
 * the slave must expire the item when the master does. */
static int64_t ttl_left(const mcrepl__entry_t *e, int64_t now)
{
  int64_t age_ms = (now - e->t_ns) / 1000000;

  return e->exptime - (age_ms + 500) / 1000;
}

/* When the pipeline is built, on our monotonic clock and on the slave's
 * wall clock. */
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

int mcrepl__batch_build(mcrepl__batch_t *b, const mcrepl__entry_t *batch,
                        int64_t now_ns, int64_t slave_s)
{
  const mcrepl__entry_t *e;
  when_t w = {now_ns, slave_s};
  size_t i = 0;

  mcrepl__pipe_reset(&b->pipe);
  for (e = batch; e; e = e->next, i++)
    if (add_entry(&b->pipe, e, &b->state[i], b->states.p, &w) != 0)
      return -1;
  return mcrepl__buf_add(&b->pipe.buf, "mn\r\n", 4) == 0 ? 0 : -1;
}
