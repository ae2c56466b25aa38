/* The sender's periodic look at its pair (see internal.h): it follows the
 * vip to whichever node keepalived made master, learns from the slave's
 * marker items when a resync made it whole again, and leaves on the
 * master the stale marker that keeps a dirty slave from being promoted.
 * Everything here runs on the pair's sender thread, between batches. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "internal.h"
#include "node.h"

/* How long a handle being destroyed may spend telling the master that
 * its slave missed writes. */
#define LAST_WORD_MS 300

/* Clocks -----------------------------------------------------------------*/

static void note_skew(mcrepl__sender_t *s, const mcrepl__stats_reply_t *id)
{
  size_t i, n;

  s->skew[s->nskew++ % 8] = mcrepl__clock_skew(id);
  n = s->nskew < 8 ? s->nskew : 8;
  s->slave_skew_s = s->skew[0];
  for (i = 1; i < n; i++)
    if (s->skew[i] > s->slave_skew_s)
      s->slave_skew_s = s->skew[i];
}

/* Samples the slave's clock again, between batches. */
static void watch_slave_clock(mcrepl__pair_t *p)
{
  mcrepl__io_t io = mcrepl__io_of(p, p->cfg->io_timeout_ms);
  mcrepl__stats_reply_t id;

  if (p->s.slave.fd >= 0 &&
      mcrepl__conn_stats(&p->s.slave, &id, &io) == MCREPL_SUCCESS)
    note_skew(&p->s, &id);
}

/* Vip --------------------------------------------------------------------*/

static int probe(mcrepl__pair_t *p, const mcrepl__addr_t *a,
                 mcrepl__stats_reply_t *id)
{
  mcrepl__io_t io = mcrepl__io_of(p, p->cfg->io_timeout_ms);

  return mcrepl__conn_ask_stats(a, p->cfg->connect_timeout_ms, id, &io) ==
         MCREPL_SUCCESS;
}

static void announce(mcrepl__pair_t *p, int master)
{
  mcrepl_t *m = p->m;

  atomic_fetch_add(&p->vip_changes, 1);
  mcrepl__log(m, MCREPL_LOG_WARNING,
              "pair %zu: the vip now leads to %s; replicating to %s",
              p->index, p->node[master]->text, p->node[1 - master]->text);
  mcrepl__callback_begin(m);
  if (m->vip_cb)
    m->vip_cb(m->vip_ctx, p->index, p->node[master]->text,
              p->node[1 - master]->text);
  mcrepl__callback_end(m);
}

/* Now the other node is the master: replicate to the old one. */
static void switch_roles(mcrepl__pair_t *p, int master)
{
  mcrepl__sender_t *s = &p->s;

  atomic_store(&p->master_idx, master);
  /* The vip answers again, from the other node: callers may use it. */
  atomic_store(&p->target_down_until, 0);
  mcrepl__pool_renew(&p->pool);
  mcrepl__conn_close(&s->slave);
  atomic_store(&p->st.slave_up, 0);
  s->stale_cas = 0;
  /* Dirt is covered by a resync from the master it was sampled on: the
   * new master samples it again, or no resync could ever clean it. */
  s->sampled_dirt = 0;
  announce(p, master);
}

/* Both nodes up and alike in their stats (containers: see node.h), so
 * that the vip's stats cannot say which one it leads to. */
static int twins(const mcrepl__sender_t *s)
{
  return s->node_known[0] && s->node_known[1] &&
         mcrepl__same_node(&s->node_id[0], &s->node_id[1]);
}

/* Which of twins the vip leads to, by a probe through the vip; -1 when
 * neither answered it. */
static int twin_behind_vip(mcrepl__pair_t *p)
{
  mcrepl__io_t io = mcrepl__io_of(p, p->cfg->io_timeout_ms);
  mcrepl__conn_t c;
  int i, same = 0, found = -1;

  for (i = 0; i < 2 && found < 0; i++) {
    mcrepl__conn_init(&c);
    if (mcrepl__conn_open(&c, p->node[i], p->cfg->connect_timeout_ms) ==
            MCREPL_SUCCESS &&
        mcrepl__same_server(&p->s.master, &c, &io, &same) ==
            MCREPL_SUCCESS &&
        same)
      found = i;
    mcrepl__conn_free(&c);
  }
  return found;
}

/* The node whose identity the vip's matches; -1 for none. */
static int node_behind_vip(mcrepl__pair_t *p,
                           const mcrepl__stats_reply_t *vip)
{
  mcrepl__sender_t *s = &p->s;
  int i;

  if (twins(s)) {
    i = twin_behind_vip(p);
    s->vip_probed = i >= 0;
    return i;
  }
  for (i = 0; i < 2; i++)
    if (s->node_known[i] && mcrepl__same_node(vip, &s->node_id[i]))
      return i;
  return -1;
}

/* The slave answers as another process than the one known: it lost its
 * data, and the writes it had are missing until a resync. */
static void slave_restarted(mcrepl__pair_t *p,
                            const mcrepl__stats_reply_t *id)
{
  int i = 1 - atomic_load(&p->master_idx);

  p->s.node_lost[i] = 0;
  mcrepl__log(p->m, MCREPL_LOG_WARNING,
              "pair %zu: slave %s restarted (pid %llu): its data are lost",
              p->index, p->node[i]->text, (unsigned long long)id->pid);
  atomic_fetch_add(&p->st.slave_restarts, 1);
  mcrepl__pair_mark_dirty(p);
}

/* Which node is behind the vip, given the vip's identity. Twins are
 * probed once per connection to the vip: a move of the vip breaks it. */
static void follow_vip(mcrepl__pair_t *p, const mcrepl__stats_reply_t *vip)
{
  mcrepl__sender_t *s = &p->s;
  int cur = atomic_load(&p->master_idx), i;
  mcrepl__stats_reply_t was;

  if (s->node_known[cur] && mcrepl__same_node(vip, &s->node_id[cur]) &&
      (s->vip_probed || !twins(s)))
    return;
  /* A node that does not answer keeps the identity it had: the master
   * that died, back as another process, is the slave now, and must be
   * seen to have lost its data when the sender reaches it. One that
   * answers as another process already lost them. */
  for (i = 0; i < 2; i++) {
    was = s->node_id[i];
    if (!probe(p, p->node[i], &s->node_id[i])) {
      s->node_id[i] = was;
      continue;
    }
    if (s->node_known[i] && !mcrepl__same_node(&was, &s->node_id[i]))
      s->node_lost[i] = 1;
    s->node_known[i] = 1;
  }
  i = node_behind_vip(p, vip);
  if (i >= 0 && i != cur)
    switch_roles(p, i);
  i = 1 - atomic_load(&p->master_idx);
  if (s->node_lost[i])
    slave_restarted(p, &s->node_id[i]);
}

/* Markers ----------------------------------------------------------------*/

/* While the sender cannot reach the target, reads keep away from it
 * (they go to the nodes directly), so that no caller waits on an address
 * that VRRP is moving: the sender's probes bring the target back. */
static void keep_target_down(mcrepl__pair_t *p)
{
  int64_t until = mcrepl__now_ns() +
                  mcrepl__ms_to_ns(p->cfg->connect_timeout_ms +
                                   2 * (int64_t)p->cfg->identity_interval_ms);

  if (until > atomic_load(&p->target_down_until))
    atomic_store(&p->target_down_until, until);
}

/* Asks the master (through the vip) who it is. */
static int ask_master(mcrepl__pair_t *p, mcrepl__stats_reply_t *id)
{
  mcrepl__io_t io = mcrepl__io_of(p, p->cfg->io_timeout_ms);

  if (mcrepl__sender_master(p) == MCREPL_SUCCESS &&
      mcrepl__conn_stats(&p->s.master, id, &io) == MCREPL_SUCCESS)
    return 1;
  keep_target_down(p);
  return 0;
}

/* New dirt (stats.dirt as it was before the stale marker was last
 * written): takes a number from the master's epoch counter, so that any
 * resync that takes a larger one is known to have begun after it, and
 * after the marker. */
static void sample_dirt(mcrepl__pair_t *p, const mcrepl__stats_reply_t *id,
                        uint64_t dirt)
{
  mcrepl__sender_t *s = &p->s;
  mcrepl__io_t io = mcrepl__io_of(p, p->cfg->io_timeout_ms);
  uint64_t epoch;
  size_t i = s->nsample % MCREPL__SAMPLES;

  if (dirt == s->sampled_dirt ||
      mcrepl__epoch_next(&s->master, id->time, &epoch, &io) !=
          MCREPL_SUCCESS)
    return;
  s->sample[i].dirt = dirt;
  s->sample[i].epoch = epoch;
  s->sample[i].pid = id->pid;
  s->sample[i].boot = mcrepl__boot_time(id);
  s->nsample++;
  s->sampled_dirt = dirt;
}

/* The dirt that a resync described by r covers. */
static uint64_t dirt_covered(const mcrepl__sender_t *s,
                             const mcrepl__ready_t *r)
{
  size_t n = s->nsample < MCREPL__SAMPLES ? s->nsample : MCREPL__SAMPLES;
  uint64_t best = 0;
  size_t i;

  for (i = 0; i < n; i++)
    if (s->sample[i].pid == r->pid && llabs(s->sample[i].boot - r->boot) <= 2
        && s->sample[i].epoch < r->epoch && s->sample[i].dirt > best)
      best = s->sample[i].dirt;
  return best;
}

/* A slave marked ready by a resync holds every write dropped before the
 * resync began: that dirt is clean now. */
static void read_ready(mcrepl__pair_t *p)
{
  mcrepl__sender_t *s = &p->s;
  mcrepl__io_t io = mcrepl__io_of(p, p->cfg->io_timeout_ms);
  mcrepl__ready_t r;
  uint64_t upto;
  char val[96];
  int ready;

  if (!mcrepl__stats_dirty(&p->st))
    return;
  /* A client that writes nothing has no slave connection after a vip
   * move: it must still learn that a resync cleaned it, or its marker
   * would keep the slave banned. Between failed attempts, the attempts
   * themselves connect. */
  if (s->slave.fd < 0 &&
      (s->retrying || mcrepl__sender_slave(p) != MCREPL_SUCCESS))
    return;
  if (mcrepl__marker_get(&s->slave, MCREPL__KEY_READY, val, sizeof val,
                         &ready, NULL, &io) != MCREPL_SUCCESS ||
      !ready || mcrepl__ready_parse(val, &r) != 0)
    return;
  upto = dirt_covered(s, &r);
  if (upto > atomic_load(&p->st.clean))
    atomic_store(&p->st.clean, upto);
}

/* A dirty slave must not become master: its health check reads this. */
static void mark_stale(mcrepl__pair_t *p, const mcrepl__io_t *io)
{
  mcrepl__sender_t *s = &p->s;
  char key[MCREPL__ADDR_MAX + 16];
  int dirty = mcrepl__stats_dirty(&p->st);

  if (dirty != s->was_dirty)
    mcrepl__log(p->m, dirty ? MCREPL_LOG_WARNING : MCREPL_LOG_INFO,
                dirty ? "pair %zu: slave %s missed writes: resync it"
                      : "pair %zu: slave %s was resynced: clean again",
                p->index, mcrepl__slave_addr(p)->text);
  s->was_dirty = dirty;
  if (!dirty && !s->stale_cas)
    return;
  if (mcrepl__sender_master(p) != MCREPL_SUCCESS)
    return;
  mcrepl__stale_key(key, sizeof key, mcrepl__slave_addr(p)->text);
  if (dirty) {
    /* Written again at every tick while dirty: a flush of the master,
     * or an eviction, may have taken it, and with it the slave's ban. */
    uint64_t cas = 0;
    char val[48];
    mcrepl__stale_value(val, sizeof val);
    if (mcrepl__marker_put(&s->master, key, val, 0, 'S', &cas, io) !=
        MCREPL_SUCCESS)
      cas = 0;
    s->stale_cas = cas;
  } else if (mcrepl__marker_del(&s->master, key, s->stale_cas, io) ==
             MCREPL_SUCCESS) {
    /* Clean: a tick that still saw dirt may have written it again just
     * after the resync that cleaned us removed it. Only that write of
     * ours is taken back: a client still dirty may have written its own
     * since, and that one stays. */
    s->stale_cas = 0;
  }
}

/* Writes dropped at shutdown must still keep the slave from being
 * promoted; past the shutdown deadline, one short try is allowed. It is
 * made even when our marker was written already: a resync may have
 * taken it since, covering older dirt than ours. */
void mcrepl__failover_last_word(mcrepl__pair_t *p)
{
  mcrepl__io_t io = {.stall_ms = LAST_WORD_MS, .deadline = NULL};

  if (!mcrepl__stats_dirty(&p->st))
    return;
  if (p->s.master.fd < 0 &&
      mcrepl__conn_open(&p->s.master, p->target, LAST_WORD_MS) !=
          MCREPL_SUCCESS)
    return;
  mark_stale(p, &io);
}

void mcrepl__failover_tick(mcrepl__pair_t *p)
{
  mcrepl__sender_t *s = &p->s;
  mcrepl__stats_reply_t id;
  mcrepl__io_t io = mcrepl__io_of(p, p->cfg->io_timeout_ms);
  int64_t now = mcrepl__now_ns();
  uint64_t dirt;
  int master_up;

  if (now < s->next_tick_ns)
    return;
  s->next_tick_ns = now + mcrepl__ms_to_ns(p->cfg->identity_interval_ms);
  master_up = ask_master(p, &id);
  if (master_up && p->conf->has_vip)
    follow_vip(p, &id);
  watch_slave_clock(p);
  read_ready(p);
  dirt = atomic_load(&p->st.dirt);
  mark_stale(p, &io);
  /* After the marker: a resync that takes a later epoch than this dirt's
   * then finds the marker, and empties the slave before it copies. */
  if (master_up && s->master.fd >= 0)
    sample_dirt(p, &id, dirt);
}

mcrepl_return_t mcrepl__failover_slave_seen(mcrepl__pair_t *p,
                                            const mcrepl__stats_reply_t *id)
{
  mcrepl__sender_t *s = &p->s;
  int i = 1 - atomic_load(&p->master_idx);

  if (s->node_known[i] && !mcrepl__same_node(&s->node_id[i], id))
    slave_restarted(p, id);
  s->node_id[i] = *id;
  s->node_known[i] = 1;
  s->nskew = 0;
  note_skew(s, id);
  return MCREPL_SUCCESS;
}
