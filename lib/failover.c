/* The sender's periodic look at its pair (see internal.h): it follows the
 * vip to whichever node keepalived made master, learns from the slave's
 * marker items when a resync made it whole again, and leaves on the
 * master the stale marker that keeps a dirty slave from being promoted.
 * Everything here runs on the pair's sender thread, between batches. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "internal.h"
#include "node.h"

/* Vip --------------------------------------------------------------------*/

static int probe(mcrepl__pair_t *p, const mcrepl__addr_t *a,
                 mcrepl__stats_reply_t *id)
{
  mcrepl__io_t io = mcrepl__io_of(p, p->cfg->io_timeout_ms);
  mcrepl__conn_t c;
  mcrepl_return_t rc;

  mcrepl__conn_init(&c);
  rc = mcrepl__conn_open(&c, a, p->cfg->connect_timeout_ms);
  if (rc == MCREPL_SUCCESS)
    rc = mcrepl__conn_stats(&c, id, &io);
  mcrepl__conn_free(&c);
  return rc == MCREPL_SUCCESS;
}

static void announce(mcrepl__pair_t *p, int master)
{
  mcrepl_t *m = p->m;

  atomic_fetch_add(&p->vip_changes, 1);
  mcrepl__log(m, MCREPL_LOG_WARNING,
              "pair %zu: the vip now leads to %s; replicating to %s",
              p->index, p->node[master]->text, p->node[1 - master]->text);
  pthread_mutex_lock(&m->cb_mu);
  if (m->vip_cb)
    m->vip_cb(m->vip_ctx, p->index, p->node[master]->text,
              p->node[1 - master]->text);
  pthread_mutex_unlock(&m->cb_mu);
}

/* Now the other node is the master: replicate to the old one. */
static void switch_roles(mcrepl__pair_t *p, int master)
{
  mcrepl__sender_t *s = &p->s;

  atomic_store(&p->master_idx, master);
  mcrepl__conn_close(&s->slave);
  atomic_store(&p->st.slave_up, 0);
  s->gen_known = 0;
  s->resync_seen = 0;
  s->stale_written = 0;
  announce(p, master);
}

static void follow_vip(mcrepl__pair_t *p)
{
  mcrepl__sender_t *s = &p->s;
  mcrepl__io_t io = mcrepl__io_of(p, p->cfg->io_timeout_ms);
  mcrepl__stats_reply_t vip;
  int cur = atomic_load(&p->master_idx), i;

  if (mcrepl__sender_master(p) != MCREPL_SUCCESS ||
      mcrepl__conn_stats(&s->master, &vip, &io) != MCREPL_SUCCESS)
    return; /* the vip is between nodes: keep what we know */
  if (s->node_known[cur] && mcrepl__same_node(&vip, &s->node_id[cur]))
    return;
  for (i = 0; i < 2; i++)
    s->node_known[i] = probe(p, p->node[i], &s->node_id[i]);
  for (i = 0; i < 2; i++)
    if (s->node_known[i] && mcrepl__same_node(&vip, &s->node_id[i])) {
      if (i != cur)
        switch_roles(p, i);
      return;
    }
}

/* Markers ----------------------------------------------------------------*/

/* Reads the slave's ready and resync markers; a new ready generation
 * means a resync finished, and it covered every drop counted before the
 * resync began. */
static void read_markers(mcrepl__pair_t *p)
{
  mcrepl__sender_t *s = &p->s;
  mcrepl__io_t io = mcrepl__io_of(p, p->cfg->io_timeout_ms);
  uint64_t dirt = atomic_load(&p->st.dirt);
  char gen[64];
  int ready, lock;

  if (s->slave.fd < 0 ||
      mcrepl__marker_get(&s->slave, MCREPL__KEY_READY, gen, sizeof gen,
                         &ready, &io) != MCREPL_SUCCESS ||
      mcrepl__marker_get(&s->slave, MCREPL__KEY_RESYNC, NULL, 0, &lock,
                         &io) != MCREPL_SUCCESS)
    return;
  if (lock && !s->resync_seen) {
    s->resync_seen = 1;
    s->dirt_at_resync = s->dirt_at_read;
  }
  if (ready && s->gen_known && strcmp(gen, s->slave_gen) != 0) {
    uint64_t upto = s->resync_seen ? s->dirt_at_resync : s->dirt_at_read;
    if (upto > atomic_load(&p->st.clean))
      atomic_store(&p->st.clean, upto);
    s->resync_seen = 0;
  }
  snprintf(s->slave_gen, sizeof s->slave_gen, "%s", ready ? gen : "");
  s->gen_known = 1;
  s->dirt_at_read = dirt;
}

/* A dirty slave must not become master: its health check reads this. */
static void mark_stale(mcrepl__pair_t *p)
{
  mcrepl__sender_t *s = &p->s;
  mcrepl__io_t io = mcrepl__io_of(p, p->cfg->io_timeout_ms);
  char key[MCREPL__ADDR_MAX + 16];
  int dirty = mcrepl__stats_dirty(&p->st);

  if (dirty != s->was_dirty)
    mcrepl__log(p->m, dirty ? MCREPL_LOG_WARNING : MCREPL_LOG_INFO,
                dirty ? "pair %zu: slave %s missed writes: resync it"
                      : "pair %zu: slave %s was resynced: clean again",
                p->index, mcrepl__slave_addr(p)->text);
  s->was_dirty = dirty;
  if (!dirty) {
    s->stale_written = 0;
    return;
  }
  if (s->stale_written || mcrepl__sender_master(p) != MCREPL_SUCCESS)
    return;
  mcrepl__stale_key(key, sizeof key, mcrepl__slave_addr(p)->text);
  s->stale_written = mcrepl__marker_put(&s->master, key, "missed writes",
                                        0, 'S', &io) == MCREPL_SUCCESS;
}

void mcrepl__failover_tick(mcrepl__pair_t *p)
{
  mcrepl__sender_t *s = &p->s;
  int64_t now = mcrepl__now_ns();

  if (now < s->next_tick_ns)
    return;
  s->next_tick_ns = now + mcrepl__ms_to_ns(p->cfg->identity_interval_ms);
  if (p->conf->has_vip)
    follow_vip(p);
  read_markers(p);
  mark_stale(p);
}

mcrepl_return_t mcrepl__failover_slave_seen(mcrepl__pair_t *p,
                                            const mcrepl__stats_reply_t *id)
{
  mcrepl__sender_t *s = &p->s;
  int i = 1 - atomic_load(&p->master_idx);

  if (s->node_known[i] && !mcrepl__same_node(&s->node_id[i], id)) {
    mcrepl__log(p->m, MCREPL_LOG_WARNING,
                "pair %zu: slave %s restarted (pid %llu): its data are lost",
                p->index, p->node[i]->text, (unsigned long long)id->pid);
    atomic_fetch_add(&p->st.slave_restarts, 1);
    mcrepl__pair_mark_dirty(p);
  }
  s->node_id[i] = *id;
  s->node_known[i] = 1;
  s->slave_skew_s = (int64_t)id->time - (int64_t)time(NULL);
  return MCREPL_SUCCESS;
}
