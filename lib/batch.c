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
  b->check = calloc(max, sizeof *b->check);
  if (!b->state || !b->slot || !b->check) {
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
  mcrepl__buf_free(&b->answers);
  mcrepl__buf_free(&b->repairs);
  free(b->state);
  free(b->slot);
  free(b->check);
  b->state = NULL;
  b->slot = NULL;
  b->check = NULL;
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

static void give(mcrepl__applied_t *g, const char *val, size_t vlen,
                 uint32_t flags, int64_t exp)
{
  g->present = 1;
  g->val = val;
  g->vlen = vlen;
  g->flags = flags;
  g->exp = exp;
}

/* "ms" (the value sent from where it lies) or "md": what g says. */
static int add_given(mcrepl__pipe_t *pp, const char *key, size_t klen,
                     const mcrepl__applied_t *g)
{
  if (!g->present)
    return mcrepl__proto_md(&pp->buf, key, klen);
  return mcrepl__proto_ms_head(&pp->buf, key, klen, g->vlen, g->flags,
                               g->exp) ||
         mcrepl__pipe_value(pp, g->val, g->vlen) ||
         mcrepl__buf_add(&pp->buf, "\r\n", 2);
}

/* What the slave is to hold once e is applied, into st->given. */
static void entry_state(const mcrepl__entry_t *e, mcrepl__state_t *st,
                        const char *values, const when_t *w)
{
  mcrepl__applied_t *g = &st->given;
  int64_t ttl;

  g->present = 0;
  switch (e->op) {
  case MCREPL__OP_SET:
    ttl = e->exptime == 0 ? 0 : ttl_left(e, w->now_ns);
    if (e->exptime == 0 || ttl > 0)
      give(g, e->data + e->key_len, e->value_len, e->flags,
           ttl ? mcrepl__expiry_at(ttl, w->slave_s) : 0);
    break;
  case MCREPL__OP_READBACK:
    if (st->found)
      give(g, values ? values + st->off : "", st->meta.vlen,
           st->meta.flags, mcrepl__expiry_at(st->meta.ttl, w->slave_s));
    break;
  default:
    break;
  }
}

static int add_entry(mcrepl__pipe_t *pp, const mcrepl__entry_t *e,
                     mcrepl__state_t *st, const char *values,
                     const when_t *w)
{
  int64_t ttl;

  switch (e->op) {
  case MCREPL__OP_READBACK:
    if (st->repeat)
      return 0;
    /* fall through */
  case MCREPL__OP_SET:
  case MCREPL__OP_DELETE:
    entry_state(e, st, values, w);
    return add_given(pp, e->data, e->key_len, &st->given);
  case MCREPL__OP_FLUSH:
    /* A Unix time is the same instant to both servers: it does not
     * age in the queue. */
    if (e->exptime > MCREPL__RELATIVE_MAX)
      ttl = e->exptime;
    else
      ttl = e->exptime > 0 ? ttl_left(e, w->now_ns) : 0;
    /* Answered, unlike the quiet meta commands: a slave run with -F
     * refuses it, and with noreply says nothing. */
    return mcrepl__buf_printf(&pp->buf, "flush_all %lld\r\n",
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

/* Verification ---------------------------------------------------------- */

static int checks_out(mcrepl__batch_t *b)
{
  size_t i;

  b->out.len = 0;
  for (i = 0; i < b->nchecks; i++)
    if (mcrepl__proto_mg_state(&b->out, b->check[i].e->data,
                               b->check[i].e->key_len) != 0)
      return -1;
  return mcrepl__buf_add(&b->out, "mn\r\n", 4);
}

int mcrepl__batch_same_roles(const mcrepl__entry_t *batch, uint32_t roles)
{
  for (; batch; batch = batch->next)
    if (batch->roles != roles)
      return 0;
  return 1;
}

long mcrepl__batch_checks(mcrepl__batch_t *b, const mcrepl__entry_t *batch)
{
  const mcrepl__entry_t *e;
  size_t i = 0, mask = b->nslots - 1, h;

  b->nchecks = 0;
  memset(b->slot, 0, b->nslots * sizeof *b->slot);
  for (e = batch; e; e = e->next, i++) {
    mcrepl__check_t *c = NULL;
    if (e->op == MCREPL__OP_FLUSH ||
        (e->op == MCREPL__OP_READBACK && b->state[i].repeat))
      continue;
    for (h = mcrepl__fnv1a(e->data, e->key_len) & mask; b->slot[h];
         h = (h + 1) & mask) {
      mcrepl__check_t *o = &b->check[b->slot[h] - 1];
      if (o->e->key_len == e->key_len &&
          memcmp(o->e->data, e->data, e->key_len) == 0) {
        c = o;
        break;
      }
    }
    if (!c) {
      c = &b->check[b->nchecks++];
      b->slot[h] = (uint32_t)b->nchecks;
    }
    c->e = e;
    c->given = b->state[i].given;
  }
  return checks_out(b) == 0 ? (long)b->nchecks : -1;
}

/* An item with at most a second left is as good as gone: the two nodes'
 * clocks tick apart by that much. */
static int gone(int present, int64_t exp, int64_t slave_s)
{
  return !present || (exp != 0 && exp - slave_s <= 1);
}

int mcrepl__agrees(const mcrepl__applied_t *g, int found,
                   const mcrepl__meta_t *meta, const char *val,
                   int64_t slave_s)
{
  int64_t master_exp = found ? mcrepl__expiry_at(meta->ttl, slave_s) : 0;
  int64_t d;

  if (gone(g->present, g->exp, slave_s) ||
      gone(found, master_exp, slave_s))
    return gone(g->present, g->exp, slave_s) &&
           gone(found, master_exp, slave_s);
  if (g->vlen != meta->vlen || g->flags != meta->flags ||
      (g->vlen && memcmp(g->val, val, g->vlen) != 0))
    return 0;
  if (g->exp == 0 || master_exp == 0)
    return g->exp == master_exp;
  d = g->exp - master_exp;
  return d >= -MCREPL__EXPIRY_SLACK_S && d <= MCREPL__EXPIRY_SLACK_S;
}

long mcrepl__batch_resolve(mcrepl__batch_t *b, int64_t slave_s)
{
  size_t i, kept = 0;

  /* All are judged before any is given anew: the values given last
   * live in b->repairs, which the new ones replace. */
  for (i = 0; i < b->nchecks; i++) {
    mcrepl__check_t *c = &b->check[i];
    c->agreed = mcrepl__agrees(&c->given, c->found, &c->meta,
                               c->found ? b->answers.p + c->off : "",
                               slave_s);
  }
  b->repairs.len = 0;
  for (i = 0; i < b->nchecks; i++) {
    mcrepl__check_t c = b->check[i];
    if (c.agreed)
      continue;
    c.given.present = c.found;
    c.given.vlen = c.found ? c.meta.vlen : 0;
    c.given.flags = c.meta.flags;
    c.given.exp = c.found ? mcrepl__expiry_at(c.meta.ttl, slave_s) : 0;
    if (c.given.vlen &&
        mcrepl__buf_add(&b->repairs, b->answers.p + c.off, c.given.vlen) !=
            0)
      return -1;
    c.off = b->repairs.len - c.given.vlen;
    b->check[kept++] = c;
  }
  b->nchecks = kept;
  mcrepl__pipe_reset(&b->pipe);
  for (i = 0; i < kept; i++) {
    mcrepl__check_t *c = &b->check[i];
    c->given.val = c->given.vlen ? b->repairs.p + c->off : "";
    if (add_given(&b->pipe, c->e->data, c->e->key_len, &c->given) != 0)
      return -1;
  }
  if (kept && mcrepl__buf_add(&b->pipe.buf, "mn\r\n", 4) != 0)
    return -1;
  return checks_out(b) == 0 ? (long)kept : -1;
}
