/* A pair's sender's connections (see link.h). */
#include <string.h>

#include "clock.h"
#include "link.h"
#include "node.h"

void mcrepl__link_init(mcrepl__link_t *l, mcrepl__pair_t *p)
{
  memset(l, 0, sizeof *l);
  l->p = p;
  mcrepl__conn_init(&l->slave);
  mcrepl__conn_init(&l->master);
}

void mcrepl__link_free(mcrepl__link_t *l)
{
  mcrepl__conn_free(&l->slave);
  mcrepl__conn_free(&l->master);
}

const mcrepl__addr_t *mcrepl__link_slave_addr(const mcrepl__link_t *l)
{
  return l->p->node[1 - atomic_load(&l->p->master_idx)];
}

mcrepl__io_t mcrepl__link_io(const mcrepl__link_t *l, int stall_ms)
{
  mcrepl__io_t io = {.stall_ms = stall_ms, .deadline = &l->p->deadline};
  return io;
}

int mcrepl__link_past_deadline(const mcrepl__link_t *l)
{
  int64_t dl = atomic_load(&l->p->deadline);
  return dl != 0 && mcrepl__now_ns() >= dl;
}

mcrepl_return_t mcrepl__link_master_within(mcrepl__link_t *l,
                                           int connect_ms)
{
  if (l->master.fd >= 0)
    return MCREPL_SUCCESS;
  l->master_opens++;
  return mcrepl__conn_open(&l->master, l->p->target, connect_ms);
}

mcrepl_return_t mcrepl__link_master(mcrepl__link_t *l)
{
  return mcrepl__link_master_within(l, l->p->cfg->connect_timeout_ms);
}

static void note_skew(mcrepl__link_t *l, const mcrepl__stats_reply_t *id)
{
  size_t i, n;

  l->skew[l->nskew++ % 8] = mcrepl__clock_skew(id);
  n = l->nskew < 8 ? l->nskew : 8;
  l->slave_skew_s = l->skew[0];
  for (i = 1; i < n; i++)
    if (l->skew[i] > l->slave_skew_s)
      l->slave_skew_s = l->skew[i];
}

void mcrepl__link_slave_clock(mcrepl__link_t *l)
{
  mcrepl__io_t io = mcrepl__link_io(l, l->p->cfg->io_timeout_ms);
  mcrepl__stats_reply_t id;

  if (l->slave.fd >= 0 &&
      mcrepl__conn_stats(&l->slave, &id, &io) == MCREPL_SUCCESS)
    note_skew(l, &id);
}

/* A server older than memcached 1.6 answers our meta commands with
 * ERROR and then reads each value as commands of its own: nothing is
 * sent to one. */
static mcrepl_return_t speaks_meta(mcrepl__link_t *l, const mcrepl__io_t *io)
{
  mcrepl_return_t rc = mcrepl__conn_send(&l->slave, "mn\r\n", 4, io);
  const char *line;
  size_t len;

  if (rc == MCREPL_SUCCESS)
    rc = mcrepl__conn_line(&l->slave, &line, &len, io);
  if (rc != MCREPL_SUCCESS || mcrepl__proto_is(line, len, "MN"))
    return rc;
  if (!l->said_no_meta)
    mcrepl__log(l->p->notify, MCREPL_LOG_ERROR,
                "pair %zu: slave %s does not answer meta commands: "
                "memcached 1.6 or later is needed", l->p->index,
                mcrepl__link_slave_addr(l)->text);
  l->said_no_meta = 1;
  return MCREPL_PROTOCOL_ERROR;
}

mcrepl_return_t mcrepl__link_slave(mcrepl__link_t *l,
                                   mcrepl__stats_reply_t *id, int *opened)
{
  mcrepl__pair_t *p = l->p;
  mcrepl__io_t io = mcrepl__link_io(l, p->cfg->io_timeout_ms);
  mcrepl_return_t rc;

  *opened = 0;
  if (l->slave.fd >= 0)
    return MCREPL_SUCCESS;
  atomic_store(&p->st.slave_up, 0);
  rc = mcrepl__conn_open(&l->slave, mcrepl__link_slave_addr(l),
                         p->cfg->connect_timeout_ms);
  if (rc != MCREPL_SUCCESS)
    return rc;
  atomic_fetch_add(&p->st.reconnects, 1);
  mcrepl__conn_stamp(&l->slave);
  rc = mcrepl__conn_stats(&l->slave, id, &io);
  if (rc == MCREPL_SUCCESS)
    rc = speaks_meta(l, &io);
  if (rc != MCREPL_SUCCESS) {
    mcrepl__conn_close(&l->slave);
    return rc;
  }
  l->nskew = 0;
  note_skew(l, id);
  *opened = 1;
  return MCREPL_SUCCESS;
}

void mcrepl__link_slave_ready(mcrepl__link_t *l)
{
  atomic_store(&l->p->st.slave_up, 1);
  if (!l->was_up)
    mcrepl__log(l->p->notify, MCREPL_LOG_INFO, "pair %zu: slave %s is up",
                l->p->index, mcrepl__link_slave_addr(l)->text);
  l->was_up = 1;
}

void mcrepl__link_slave_failed(mcrepl__link_t *l, mcrepl_return_t rc)
{
  if (l->slave.fd < 0)
    atomic_store(&l->p->st.slave_up, 0);
  if (l->was_up)
    mcrepl__log(l->p->notify, MCREPL_LOG_WARNING,
                "pair %zu: replication to %s failed: %s; writes wait in "
                "the queue", l->p->index, mcrepl__link_slave_addr(l)->text,
                mcrepl_strerror(rc));
  l->was_up = 0;
}

void mcrepl__link_slave_close(mcrepl__link_t *l)
{
  mcrepl__conn_close(&l->slave);
  atomic_store(&l->p->st.slave_up, 0);
}
