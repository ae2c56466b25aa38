/* The health check behind keepalived's track_script (see mcrepl_check in
 * mcrepl.h): a node may be its pair's master only when it answers, no
 * resync is filling it, and it holds the pair's data. */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "node.h"

/* Kept for the node's last exchanges beyond their measured pace. */
#define NODE_SLACK_MS 50

typedef struct {
  mcrepl__config_t cfg;
  mcrepl__addr_t node, peer;
  int has_peer;
  mcrepl__conn_t nc, pc;
  int peer_up;
  mcrepl__io_t io, peer_io;
  /* keepalived kills a check that overruns its timeout, and counts a
   * failure: the whole check, connects included, ends by this time. The
   * peer gets at most half of what is left when it is asked: a peer cut
   * off (the usual case when the check matters) must leave the node the
   * time to be found ready. A peer that answered is alive, only slow:
   * it gets all but what the node's last answers need (widen_peer). */
  _Atomic int64_t deadline, peer_deadline;
  int64_t node_rtt_ns; /* the node's stats answer took that long */
  char *why;
  size_t whylen;
} check_t;

static mcrepl_health_t say(check_t *c, mcrepl_health_t h, const char *fmt,
                           const char *a, const char *b)
{
  if (c->why && c->whylen)
    snprintf(c->why, c->whylen, fmt, a, b);
  return h;
}

static int has_val(mcrepl__conn_t *conn, const char *key,
                   const mcrepl__io_t *io, int *found, char *v, size_t len)
{
  return mcrepl__marker_get(conn, key, v, len, found, NULL, io) ==
                 MCREPL_SUCCESS
             ? 0
             : -1;
}

static int has(mcrepl__conn_t *conn, const char *key, const mcrepl__io_t *io,
               int *found)
{
  char v[80];

  return has_val(conn, key, io, found, v, sizeof v);
}

/* Whether the peer, which says the node missed writes, was itself banned
 * later, on the node: clients took the node for master since (the vip
 * moved to it while the peer was cut off), and the peer's word is older
 * than the writes it missed. Without this, a master coming back with a
 * stale marker for its old slave would take the pair's master down. */
static int peer_banned_since(check_t *c, const char *said)
{
  char key[MCREPL__ADDR_MAX + 16], v[80];
  int found = 0;

  mcrepl__stale_key(key, sizeof key, c->peer.text);
  return has_val(&c->nc, key, &c->io, &found, v, sizeof v) == 0 && found &&
         mcrepl__stale_time(v) > mcrepl__stale_time(said);
}

/* The connect timeout, or what is left of the time if less. */
static int connect_ms(check_t *c, const _Atomic int64_t *deadline)
{
  int64_t left = (atomic_load(deadline) - mcrepl__now_ns()) / 1000000;

  if (left < 1)
    return 1;
  return left < c->cfg.connect_timeout_ms ? (int)left
                                          : c->cfg.connect_timeout_ms;
}

/* After the peer answered: its reads may go on until the node's last
 * three exchanges (its ready marker read, the peer's ban read, the mark)
 * still fit, at the pace the node answered, with room for a hiccup. */
static void widen_peer(check_t *c)
{
  int64_t end = atomic_load(&c->deadline) -
                (4 * c->node_rtt_ns + mcrepl__ms_to_ns(NODE_SLACK_MS));

  if (end > atomic_load(&c->peer_deadline))
    atomic_store(&c->peer_deadline, end);
}

static int open_peer(check_t *c)
{
  mcrepl__stats_reply_t s;
  int64_t now;

  if (!c->has_peer)
    return 0;
  now = mcrepl__now_ns();
  atomic_store(&c->peer_deadline, now + (atomic_load(&c->deadline) - now) / 2);
  c->peer_up =
      mcrepl__conn_open(&c->pc, &c->peer,
                        connect_ms(c, &c->peer_deadline)) == MCREPL_SUCCESS &&
      mcrepl__conn_stats(&c->pc, &s, &c->peer_io) == MCREPL_SUCCESS;
  if (c->peer_up)
    widen_peer(c);
  return c->peer_up;
}

/* The node lacks the ready marker: it lost its data, unless its peer has
 * none either (both new) or is down (better an empty cache than none). */
static mcrepl_health_t unmarked(check_t *c)
{
  char val[48];
  int peer_ready = 0;

  /* A peer that answers stats but not this read is down as far as the
   * pair is concerned: failing the node for it would leave no master. */
  if (c->peer_up &&
      has(&c->pc, MCREPL__KEY_READY, &c->peer_io, &peer_ready))
    c->peer_up = 0;
  if (peer_ready)
    return say(c, MCREPL_HEALTH_EMPTY,
               "%s lost its data while %s kept its: resync it first",
               c->node.text, c->peer.text);
  if (c->cfg.read_only)
    return say(c, MCREPL_HEALTH_READY, "%s is unmarked (%s)", c->node.text,
               c->peer_up ? "a new pair" : "its peer is down");
  mcrepl__ready_new(val, sizeof val);
  if (mcrepl__marker_put(&c->nc, MCREPL__KEY_READY, val, 0, 'S', NULL,
                         &c->io) != MCREPL_SUCCESS)
    return say(c, MCREPL_HEALTH_DOWN, "%s%s: cannot be marked ready", "",
               c->node.text);
  return say(c, MCREPL_HEALTH_READY, "%s is ready (%s)", c->node.text,
             c->peer_up ? "a new pair" : "its peer is down");
}

static mcrepl_health_t examine(check_t *c)
{
  char stale_key[MCREPL__ADDR_MAX + 16], said[80];
  mcrepl__stats_reply_t s;
  mcrepl_return_t rc;
  int found = 0;

  rc = mcrepl__conn_open(&c->nc, &c->node, connect_ms(c, &c->deadline));
  if (rc == MCREPL_HOST_LOOKUP_FAILURE)
    return say(c, MCREPL_HEALTH_DOWN, "%s%s: its name does not resolve",
               "", c->node.text);
  c->node_rtt_ns = mcrepl__now_ns();
  if (rc != MCREPL_SUCCESS ||
      mcrepl__conn_stats(&c->nc, &s, &c->io) != MCREPL_SUCCESS)
    return say(c, MCREPL_HEALTH_DOWN, "%s%s: does not answer", "",
               c->node.text);
  c->node_rtt_ns = mcrepl__now_ns() - c->node_rtt_ns;
  if (has(&c->nc, MCREPL__KEY_RESYNC, &c->io, &found))
    return say(c, MCREPL_HEALTH_DOWN, "%s%s: does not answer", "",
               c->node.text);
  if (found)
    return say(c, MCREPL_HEALTH_RESYNCING, "%s%s: a resync into it is running",
               "", c->node.text);
  open_peer(c);
  mcrepl__stale_key(stale_key, sizeof stale_key, c->node.text);
  if (c->peer_up &&
      !has_val(&c->pc, stale_key, &c->peer_io, &found, said, sizeof said) &&
      found && !peer_banned_since(c, said))
    return say(c, MCREPL_HEALTH_STALE, "%s missed writes (%s says so)",
               c->node.text, c->peer.text);
  if (has(&c->nc, MCREPL__KEY_READY, &c->io, &found))
    return say(c, MCREPL_HEALTH_DOWN, "%s%s: does not answer", "",
               c->node.text);
  if (found)
    return say(c, MCREPL_HEALTH_READY, "%s%s is ready", "", c->node.text);
  return unmarked(c);
}

static int parse(check_t *c, const char *node, const char *peer,
                 const char *options)
{
  if (mcrepl__config_parse_for(options, &c->cfg, c->why, c->whylen,
                               MCREPL__FOR_CHECK))
    return -1;
  if (!node || mcrepl__addr_parse(node, strlen(node), &c->node) != 0) {
    say(c, MCREPL_HEALTH_ERROR, "bad node address \"%.80s\"%s",
        node ? node : "(null)", "");
    return -1;
  }
  /* "" is no peer spelt by mistake (an unset variable): taken for
   * none, it would let an empty node mark itself ready. */
  c->has_peer = peer != NULL;
  if (c->has_peer && mcrepl__addr_parse(peer, strlen(peer), &c->peer)) {
    say(c, MCREPL_HEALTH_ERROR, "bad peer address \"%.80s\"%s", peer, "");
    return -1;
  }
  if (c->has_peer && mcrepl__addr_same(&c->node, &c->peer)) {
    say(c, MCREPL_HEALTH_ERROR, "the peer %s is the node %s", peer, node);
    return -1;
  }
  c->io.stall_ms = c->cfg.io_timeout_ms;
  atomic_store(&c->deadline,
               mcrepl__now_ns() + mcrepl__ms_to_ns(c->cfg.io_timeout_ms));
  c->io.deadline = &c->deadline;
  c->peer_io = c->io;
  c->peer_io.deadline = &c->peer_deadline;
  return 0;
}

MCREPL_API mcrepl_health_t mcrepl_check(const char *node, const char *peer,
                                        const char *options, char *why,
                                        size_t why_len)
{
  check_t c;
  mcrepl_health_t h = MCREPL_HEALTH_ERROR;

  memset(&c, 0, sizeof c);
  c.why = why;
  c.whylen = why_len;
  mcrepl__conn_init(&c.nc);
  mcrepl__conn_init(&c.pc);
  if (parse(&c, node, peer, options) == 0)
    h = examine(&c);
  mcrepl__conn_free(&c.nc);
  mcrepl__conn_free(&c.pc);
  mcrepl__config_free(&c.cfg);
  return h;
}
