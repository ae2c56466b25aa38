/* A pair's sender's two connections: to the slave, where batches are
 * applied, and to the target (the master), for read-backs, identity and
 * markers. It opens them (checking that the slave speaks meta commands
 * and reading its clock), bounds their I/O by the configured timeouts
 * and the shutdown deadline, and tells the slave's address from the
 * roles failover decided. Used by the sender thread alone. */
#ifndef MCREPL_LINK_H
#define MCREPL_LINK_H

#include "conn.h"
#include "internal.h"

typedef struct mcrepl__link {
  mcrepl__pair_t *p;
  mcrepl__conn_t slave;
  mcrepl__conn_t master;        /* to the target */
  uint64_t master_opens;        /* attempts to open it so far: a new
                                   connection to a vip may lead to
                                   another node than the last */
  int64_t slave_skew_s;         /* slave's "stats time" minus ours */
  /* Recent samples of it: memcached's clock ticks once a second, so a
   * sample may lag by up to one; the largest recent one is the truth. */
  int64_t skew[8];
  size_t nskew;
  int was_up;                   /* the slave was reachable last we knew */
  int said_no_meta;             /* logged that the slave is too old */
} mcrepl__link_t;

void mcrepl__link_init(mcrepl__link_t *l, mcrepl__pair_t *p);
/* Closes both connections and frees their buffers. */
void mcrepl__link_free(mcrepl__link_t *l);

/* The slave's address: the node that is not behind the target. */
const mcrepl__addr_t *mcrepl__link_slave_addr(const mcrepl__link_t *l);
/* I/O bounds: stall_ms, and the pair's shutdown deadline. */
mcrepl__io_t mcrepl__link_io(const mcrepl__link_t *l, int stall_ms);
/* The shutdown deadline has passed. */
int mcrepl__link_past_deadline(const mcrepl__link_t *l);

/* Opens the connection to the target when it is closed. */
mcrepl_return_t mcrepl__link_master(mcrepl__link_t *l);
/* The same, with connect_ms for the connect (see the last word). */
mcrepl_return_t mcrepl__link_master_within(mcrepl__link_t *l,
                                           int connect_ms);

/* Opens the slave's connection when it is closed, and checks it: it must
 * answer meta commands. *opened says whether it was opened now; the
 * slave's identity is then in *id, for failover to judge (a restart
 * makes the pair dirty), after which mcrepl__link_slave_ready() reports
 * the slave up. */
mcrepl_return_t mcrepl__link_slave(mcrepl__link_t *l,
                                   mcrepl__stats_reply_t *id, int *opened);
void mcrepl__link_slave_ready(mcrepl__link_t *l);
/* An attempt to replicate failed with rc: says so once per outage. */
void mcrepl__link_slave_failed(mcrepl__link_t *l, mcrepl_return_t rc);
/* Closes the slave's connection: the roles changed. */
void mcrepl__link_slave_close(mcrepl__link_t *l);
/* Samples the slave's clock again, between batches. */
void mcrepl__link_slave_clock(mcrepl__link_t *l);

#endif
