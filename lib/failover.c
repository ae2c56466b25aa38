/* A pair's failover logic (see failover.h). Everything here runs on the
 * pair's sender thread, between batches. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "failover.h"

/* How long a handle being destroyed may spend telling the master that
 * its slave missed writes. */
#define LAST_WORD_MS 300

/* Decisions ---------------------------------------------------------------*/

void mcrepl__nodes_saw(mcrepl__nodes_t *n, int i,
                       const mcrepl__stats_reply_t *id)
{
  if (n->known[i] && !mcrepl__same_node(&n->id[i], id))
    n->lost[i] = 1;
  n->id[i] = *id;
  n->known[i] = 1;
}

int mcrepl__nodes_slave_seen(mcrepl__nodes_t *n, int i,
                             const mcrepl__stats_reply_t *id)
{
  int restarted = n->known[i] && !mcrepl__same_node(&n->id[i], id);

  if (restarted)
    n->lost[i] = 0;
  n->id[i] = *id;
  n->known[i] = 1;
  return restarted;
}

int mcrepl__nodes_take_lost(mcrepl__nodes_t *n, int i)
{
  int lost = n->lost[i];

  n->lost[i] = 0;
  return lost;
}

int mcrepl__nodes_twins(const mcrepl__nodes_t *n)
{
  return n->known[0] && n->known[1] &&
         mcrepl__same_node(&n->id[0], &n->id[1]);
}

int mcrepl__nodes_match(const mcrepl__nodes_t *n,
                        const mcrepl__stats_reply_t *vip)
{
  int i;

  for (i = 0; i < 2; i++)
    if (n->known[i] && mcrepl__same_node(vip, &n->id[i]))
      return i;
  return -1;
}

void mcrepl__dirt_add(mcrepl__dirt_log_t *d, uint64_t dirt, uint64_t epoch,
                      const mcrepl__stats_reply_t *master)
{
  size_t i = d->n % MCREPL__SAMPLES;

  d->sample[i].dirt = dirt;
  d->sample[i].epoch = epoch;
  d->sample[i].pid = master->pid;
  d->sample[i].boot = mcrepl__boot_time(master);
  d->n++;
  d->sampled = dirt;
}

uint64_t mcrepl__dirt_covered(const mcrepl__dirt_log_t *d,
                              const mcrepl__ready_t *r)
{
  size_t n = d->n < MCREPL__SAMPLES ? d->n : MCREPL__SAMPLES;
  uint64_t best = 0;
  size_t i;

  for (i = 0; i < n; i++)
    if (d->sample[i].pid == r->pid && llabs(d->sample[i].boot - r->boot) <= 2
        && d->sample[i].epoch < r->epoch && d->sample[i].dirt > best)
      best = d->sample[i].dirt;
  return best;
}

/* Vip --------------------------------------------------------------------*/

void mcrepl__failover_init(mcrepl__failover_t *fo, mcrepl__pair_t *p,
                           mcrepl__link_t *link)
{
  memset(fo, 0, sizeof *fo);
  fo->p = p;
  fo->link = link;
}

int64_t mcrepl__failover_next_tick(const mcrepl__failover_t *fo)
{
  return fo->next_tick_ns;
}

static mcrepl__io_t io_of(const mcrepl__failover_t *fo)
{
  return mcrepl__link_io(fo->link, fo->p->cfg->io_timeout_ms);
}

static int probe(mcrepl__failover_t *fo, const mcrepl__addr_t *a,
                 mcrepl__stats_reply_t *id)
{
  mcrepl__io_t io = io_of(fo);

  return mcrepl__conn_ask_stats(a, fo->p->cfg->connect_timeout_ms, id,
                                &io) == MCREPL_SUCCESS;
}

/* Now the other node is the master: replicate to the old one. */
static void switch_roles(mcrepl__failover_t *fo, int master)
{
  mcrepl__pair_t *p = fo->p;

  atomic_store(&p->master_idx, master);
  /* The vip answers again, from the other node: callers may use it. */
  atomic_store(&p->target_down_until, 0);
  mcrepl__pool_renew(&p->pool);
  mcrepl__link_slave_close(fo->link);
  fo->stale_cas = 0;
  /* Dirt is covered by a resync from the master it was sampled on: the
   * new master samples it again, or no resync could ever clean it. */
  fo->dirt.sampled = 0;
  atomic_fetch_add(&p->vip_changes, 1);
  mcrepl__log(p->notify, MCREPL_LOG_WARNING,
              "pair %zu: the vip now leads to %s; replicating to %s",
              p->index, p->node[master]->text, p->node[1 - master]->text);
  mcrepl__notify_vip(p->notify, p->index, p->node[master]->text,
                     p->node[1 - master]->text);
}

/* Which of twins the vip leads to, by a probe through the vip; -1 when
 * neither answered it. */
static int twin_behind_vip(mcrepl__failover_t *fo)
{
  mcrepl__io_t io = io_of(fo);
  mcrepl__conn_t c;
  int i, same = 0, found = -1;

  for (i = 0; i < 2 && found < 0; i++) {
    mcrepl__conn_init(&c);
    if (mcrepl__conn_open(&c, fo->p->node[i],
                          fo->p->cfg->connect_timeout_ms) ==
            MCREPL_SUCCESS &&
        mcrepl__same_server(&fo->link->master, &c, &io, &same) ==
            MCREPL_SUCCESS &&
        same)
      found = i;
    mcrepl__conn_free(&c);
  }
  return found;
}

/* The node behind the vip, given its identity; -1 for none. */
static int node_behind_vip(mcrepl__failover_t *fo,
                           const mcrepl__stats_reply_t *vip)
{
  int i;

  if (!mcrepl__nodes_twins(&fo->nodes))
    return mcrepl__nodes_match(&fo->nodes, vip);
  i = twin_behind_vip(fo);
  fo->probed_on = i >= 0 ? fo->link->master_opens : 0;
  return i;
}

/* The slave answers as another process than the one known: it lost its
 * data, and the writes it had are missing until a resync. */
static void slave_restarted(mcrepl__failover_t *fo,
                            const mcrepl__stats_reply_t *id)
{
  mcrepl__pair_t *p = fo->p;
  int i = 1 - atomic_load(&p->master_idx);

  mcrepl__log(p->notify, MCREPL_LOG_WARNING,
              "pair %zu: slave %s restarted (pid %llu): its data are lost",
              p->index, p->node[i]->text, (unsigned long long)id->pid);
  atomic_fetch_add(&p->st.slave_restarts, 1);
  mcrepl__stats_add_dirt(&p->st);
}

/* Which node is behind the vip, given the vip's identity. Twins are
 * probed once per connection to the vip: a move of the vip breaks it. */
static void follow_vip(mcrepl__failover_t *fo,
                       const mcrepl__stats_reply_t *vip)
{
  mcrepl__pair_t *p = fo->p;
  mcrepl__nodes_t *n = &fo->nodes;
  int cur = atomic_load(&p->master_idx), i;
  mcrepl__stats_reply_t id;

  if (n->known[cur] && mcrepl__same_node(vip, &n->id[cur]) &&
      (fo->probed_on == fo->link->master_opens || !mcrepl__nodes_twins(n)))
    return;
  /* A node that does not answer keeps the identity it had: the master
   * that died, back as another process, is the slave now, and must be
   * seen to have lost its data when the sender reaches it. One that
   * answers as another process already lost them. */
  for (i = 0; i < 2; i++)
    if (probe(fo, p->node[i], &id))
      mcrepl__nodes_saw(n, i, &id);
  i = node_behind_vip(fo, vip);
  if (i >= 0 && i != cur)
    switch_roles(fo, i);
  i = 1 - atomic_load(&p->master_idx);
  if (mcrepl__nodes_take_lost(n, i))
    slave_restarted(fo, &n->id[i]);
}

mcrepl_return_t mcrepl__failover_slave(mcrepl__failover_t *fo)
{
  mcrepl__stats_reply_t id;
  int opened, i;
  mcrepl_return_t rc = mcrepl__link_slave(fo->link, &id, &opened);

  if (rc != MCREPL_SUCCESS || !opened)
    return rc;
  i = 1 - atomic_load(&fo->p->master_idx);
  if (mcrepl__nodes_slave_seen(&fo->nodes, i, &id))
    slave_restarted(fo, &id);
  mcrepl__link_slave_ready(fo->link);
  return MCREPL_SUCCESS;
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
static int ask_master(mcrepl__failover_t *fo, mcrepl__stats_reply_t *id)
{
  mcrepl__io_t io = io_of(fo);

  if (mcrepl__link_master(fo->link) == MCREPL_SUCCESS &&
      mcrepl__conn_stats(&fo->link->master, id, &io) == MCREPL_SUCCESS)
    return 1;
  keep_target_down(fo->p);
  return 0;
}

/* New dirt (stats.dirt as it was before the stale marker was last
 * written): takes a number from the master's epoch counter, so that any
 * resync that takes a larger one is known to have begun after it, and
 * after the marker. */
static void sample_dirt(mcrepl__failover_t *fo,
                        const mcrepl__stats_reply_t *id, uint64_t dirt)
{
  mcrepl__io_t io = io_of(fo);
  uint64_t epoch;

  if (dirt == fo->dirt.sampled ||
      mcrepl__epoch_next(&fo->link->master, id->time, &epoch, &io) !=
          MCREPL_SUCCESS)
    return;
  mcrepl__dirt_add(&fo->dirt, dirt, epoch, id);
}

/* A slave marked ready by a resync holds every write dropped before the
 * resync began: that dirt is clean now. */
static void read_ready(mcrepl__failover_t *fo, int retrying)
{
  mcrepl__pair_t *p = fo->p;
  mcrepl__io_t io = io_of(fo);
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
  if (fo->link->slave.fd < 0 &&
      (retrying || mcrepl__failover_slave(fo) != MCREPL_SUCCESS))
    return;
  if (mcrepl__marker_get(&fo->link->slave, MCREPL__KEY_READY, val,
                         sizeof val, &ready, NULL, &io) != MCREPL_SUCCESS ||
      !ready || mcrepl__ready_parse(val, &r) != 0)
    return;
  upto = mcrepl__dirt_covered(&fo->dirt, &r);
  if (upto > atomic_load(&p->st.clean))
    atomic_store(&p->st.clean, upto);
}

/* A dirty slave must not become master: its health check reads this. */
static void mark_stale(mcrepl__failover_t *fo, const mcrepl__io_t *io)
{
  mcrepl__pair_t *p = fo->p;
  mcrepl__conn_t *master = &fo->link->master;
  char key[MCREPL__ADDR_MAX + 16];
  int dirty = mcrepl__stats_dirty(&p->st);
  const char *slave = mcrepl__link_slave_addr(fo->link)->text;

  if (dirty != fo->was_dirty)
    mcrepl__log(p->notify, dirty ? MCREPL_LOG_WARNING : MCREPL_LOG_INFO,
                dirty ? "pair %zu: slave %s missed writes: resync it"
                      : "pair %zu: slave %s was resynced: clean again",
                p->index, slave);
  fo->was_dirty = dirty;
  if (!dirty && !fo->stale_cas)
    return;
  if (mcrepl__link_master(fo->link) != MCREPL_SUCCESS)
    return;
  mcrepl__stale_key(key, sizeof key, slave);
  if (dirty) {
    /* Written again at every tick while dirty: a flush of the master,
     * or an eviction, may have taken it, and with it the slave's ban. */
    uint64_t cas = 0;
    char val[48];
    mcrepl__stale_value(val, sizeof val);
    if (mcrepl__marker_put(master, key, val, 0, 'S', &cas, io) !=
        MCREPL_SUCCESS)
      cas = 0;
    fo->stale_cas = cas;
  } else if (mcrepl__marker_del(master, key, fo->stale_cas, io) ==
             MCREPL_SUCCESS) {
    /* Clean: a tick that still saw dirt may have written it again just
     * after the resync that cleaned us removed it. Only that write of
     * ours is taken back: a client still dirty may have written its own
     * since, and that one stays. */
    fo->stale_cas = 0;
  }
}

/* Writes dropped at shutdown must still keep the slave from being
 * promoted; past the shutdown deadline, one short try is allowed. It is
 * made even when our marker was written already: a resync may have
 * taken it since, covering older dirt than ours. */
void mcrepl__failover_last_word(mcrepl__failover_t *fo)
{
  mcrepl__io_t io = {.stall_ms = LAST_WORD_MS, .deadline = NULL};

  if (!mcrepl__stats_dirty(&fo->p->st))
    return;
  if (mcrepl__link_master_within(fo->link, LAST_WORD_MS) != MCREPL_SUCCESS)
    return;
  mark_stale(fo, &io);
}

void mcrepl__failover_tick(mcrepl__failover_t *fo, int retrying)
{
  mcrepl__pair_t *p = fo->p;
  mcrepl__stats_reply_t id;
  mcrepl__io_t io = io_of(fo);
  int64_t now = mcrepl__now_ns();
  uint64_t dirt;
  int master_up;

  if (now < fo->next_tick_ns)
    return;
  fo->next_tick_ns = now + mcrepl__ms_to_ns(p->cfg->identity_interval_ms);
  master_up = ask_master(fo, &id);
  if (master_up && p->conf->has_vip)
    follow_vip(fo, &id);
  mcrepl__link_slave_clock(fo->link);
  read_ready(fo, retrying);
  dirt = atomic_load(&p->st.dirt);
  mark_stale(fo, &io);
  /* After the marker: a resync that takes a later epoch than this dirt's
   * then finds the marker, and empties the slave before it copies. */
  if (master_up && fo->link->master.fd >= 0)
    sample_dirt(fo, &id, dirt);
}
