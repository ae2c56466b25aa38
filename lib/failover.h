/* A pair's failover logic, on its sender thread: follows the vip to
 * whichever node keepalived made master, judges the identity of every
 * node it meets (a node back as another process lost its data), learns
 * from the slave's ready marker when a resync made it whole again, and
 * leaves on the master the stale marker that keeps a dirty slave from
 * being promoted. It decides who the master is (the pair's master_idx);
 * the sender tells it what it saw of the slave through
 * mcrepl__failover_slave(). The decisions themselves (mcrepl__nodes_*,
 * mcrepl__dirt_*) do no I/O. */
#ifndef MCREPL_FAILOVER_H
#define MCREPL_FAILOVER_H

#include "link.h"
#include "node.h"

/* Ticks of dirt history kept: at the default interval, two minutes. */
#define MCREPL__SAMPLES 256

/* What is known of the pair's two nodes (0: configured master, 1:
 * configured slave), as last seen. */
typedef struct mcrepl__nodes {
  mcrepl__stats_reply_t id[2];
  int known[2];
  int lost[2];  /* came back as another process while the master: lost
                   data, for the day it is the slave */
} mcrepl__nodes_t;

/* A probe of node i answered as id. */
void mcrepl__nodes_saw(mcrepl__nodes_t *n, int i,
                       const mcrepl__stats_reply_t *id);
/* The slave, node i, (re)connected as id: 1 when that is another process
 * than the one known, which lost what it held. */
int mcrepl__nodes_slave_seen(mcrepl__nodes_t *n, int i,
                             const mcrepl__stats_reply_t *id);
/* Whether node i lost its data since last asked, and forgets it. */
int mcrepl__nodes_take_lost(mcrepl__nodes_t *n, int i);
/* Both nodes known and alike in their stats (containers: see node.h), so
 * that the vip's stats cannot say which one it leads to. */
int mcrepl__nodes_twins(const mcrepl__nodes_t *n);
/* The node that vip's identity is; -1 for none. Not for twins. */
int mcrepl__nodes_match(const mcrepl__nodes_t *n,
                        const mcrepl__stats_reply_t *vip);

/* stats.dirt as counted before the master pid.boot handed out epoch: a
 * resync from it that began at a later epoch covers it. */
typedef struct mcrepl__dirt_log {
  struct {
    uint64_t dirt, epoch, pid;
    int64_t boot;
  } sample[MCREPL__SAMPLES];
  size_t n;         /* samples taken so far (a ring) */
  uint64_t sampled; /* the dirt of the last sample */
} mcrepl__dirt_log_t;

void mcrepl__dirt_add(mcrepl__dirt_log_t *d, uint64_t dirt, uint64_t epoch,
                      const mcrepl__stats_reply_t *master);
/* The dirt that a resync described by r covers. */
uint64_t mcrepl__dirt_covered(const mcrepl__dirt_log_t *d,
                              const mcrepl__ready_t *r);

typedef struct mcrepl__failover {
  mcrepl__pair_t *p;
  mcrepl__link_t *link;
  mcrepl__nodes_t nodes;
  uint64_t probed_on;   /* the link's connection to the vip on which
                           twins were probed (link.master_opens; 0:
                           none) */
  int64_t next_tick_ns;
  mcrepl__dirt_log_t dirt;
  uint64_t stale_cas;   /* the master carries our stale marker, this
                           write of it (0: none) */
  int was_dirty;
} mcrepl__failover_t;

void mcrepl__failover_init(mcrepl__failover_t *fo, mcrepl__pair_t *p,
                           mcrepl__link_t *link);
/* When the next tick is due (monotonic ns). */
int64_t mcrepl__failover_next_tick(const mcrepl__failover_t *fo);
/* Once due, every identity interval: which node is behind the vip,
 * whether the slave was resynced (clears dirty), whether the master
 * carries the stale marker a dirty pair owes it. retrying: it runs
 * between failed attempts at a batch, which connect to the slave
 * themselves. */
void mcrepl__failover_tick(mcrepl__failover_t *fo, int retrying);
/* At shutdown: leaves the stale marker a dirty pair owes its master. */
void mcrepl__failover_last_word(mcrepl__failover_t *fo);
/* Opens the slave's connection through the link when it is closed, and
 * judges the identity it finds there. */
mcrepl_return_t mcrepl__failover_slave(mcrepl__failover_t *fo);

#endif
