/* Unit tests of failover's decisions: which node an identity is, when a
 * node lost its data, which dirt a resync covers; and of a tick against
 * a pair whose nodes do not answer, where every seam (link, notify,
 * stats) is real but no server runs: it must keep the roles, keep reads
 * off the target, keep a dirty pair dirty and say so, and never hang. */
#include <check.h>

#include "testutil.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "failover.h"

/* A node's "stats" as its identity: memcached reports its pid, how long
 * it has run and its clock; its start time is the difference. */
static mcrepl__stats_reply_t ident(uint64_t pid, uint64_t time,
                                   uint64_t uptime)
{
  mcrepl__stats_reply_t id;

  memset(&id, 0, sizeof id);
  id.pid = pid;
  id.time = time;
  id.uptime = uptime;
  id.seen = 7;
  return id;
}

/* Two nodes on two hosts, started at the same second. */
#define T0 1700000000
static mcrepl__nodes_t nodes_of(const mcrepl__stats_reply_t *a,
                                const mcrepl__stats_reply_t *b)
{
  mcrepl__nodes_t n;

  memset(&n, 0, sizeof n);
  if (a)
    mcrepl__nodes_saw(&n, 0, a);
  if (b)
    mcrepl__nodes_saw(&n, 1, b);
  return n;
}

/* Nodes ------------------------------------------------------------------*/

START_TEST(probed_nodes_are_told_apart_by_identity)
{
  mcrepl__stats_reply_t a = ident(1234, T0 + 100, 100);
  mcrepl__stats_reply_t b = ident(5678, T0 + 100, 100);
  mcrepl__stats_reply_t other = ident(999, T0 + 100, 100);
  mcrepl__nodes_t n = nodes_of(&a, &b);
  /* The vip is asked later than the probes: its clock and uptime have
   * moved on together, its start time has not. */
  mcrepl__stats_reply_t vip_a = ident(1234, T0 + 160, 160);
  mcrepl__stats_reply_t vip_b = ident(5678, T0 + 161, 161);

  ck_assert_int_eq(mcrepl__nodes_twins(&n), 0);
  ck_assert_int_eq(mcrepl__nodes_match(&n, &vip_a), 0);
  ck_assert_int_eq(mcrepl__nodes_match(&n, &vip_b), 1);
  ck_assert_int_eq(mcrepl__nodes_match(&n, &other), -1);
}
END_TEST

START_TEST(nothing_known_matches_nothing)
{
  mcrepl__stats_reply_t a = ident(1234, T0 + 100, 100);
  /* A "stats" without the fields reads as all zeros, as do the slots of
   * nodes never seen: those must not meet. */
  mcrepl__stats_reply_t blank = ident(0, 0, 0);
  mcrepl__nodes_t n = nodes_of(NULL, NULL);

  ck_assert_int_eq(mcrepl__nodes_match(&n, &a), -1);
  ck_assert_int_eq(mcrepl__nodes_match(&n, &blank), -1);
  ck_assert_int_eq(mcrepl__nodes_twins(&n), 0);
}
END_TEST

START_TEST(nodes_alike_in_pid_and_start_are_twins)
{
  /* Containers: each memcached is pid 1 of its namespace, started
   * together; asked a second apart, they still look like one. */
  mcrepl__stats_reply_t a = ident(1, T0 + 100, 100);
  mcrepl__stats_reply_t b = ident(1, T0 + 101, 101);
  mcrepl__stats_reply_t c = ident(7, T0 + 100, 100);
  mcrepl__stats_reply_t d = ident(1, T0 + 100, 40);
  mcrepl__nodes_t twins = nodes_of(&a, &b);
  mcrepl__nodes_t pids = nodes_of(&a, &c);
  mcrepl__nodes_t starts = nodes_of(&a, &d);

  ck_assert_int_eq(mcrepl__nodes_twins(&twins), 1);
  ck_assert_int_eq(mcrepl__nodes_twins(&pids), 0);
  ck_assert_int_eq(mcrepl__nodes_twins(&starts), 0);
}
END_TEST

START_TEST(a_lone_node_is_never_twins)
{
  /* The unknown node's slot is zeros: a known node that reads as zeros
   * too would be its twin if knowing did not count. */
  mcrepl__stats_reply_t blank = ident(0, 0, 0);
  mcrepl__stats_reply_t a = ident(1, T0 + 100, 100);
  mcrepl__nodes_t first = nodes_of(&blank, NULL);
  mcrepl__nodes_t second = nodes_of(NULL, &blank);
  mcrepl__nodes_t one = nodes_of(&a, NULL);

  ck_assert_int_eq(mcrepl__nodes_twins(&first), 0);
  ck_assert_int_eq(mcrepl__nodes_twins(&second), 0);
  ck_assert_int_eq(mcrepl__nodes_twins(&one), 0);
  ck_assert_int_eq(mcrepl__nodes_match(&one, &a), 0);
  ck_assert_int_eq(mcrepl__nodes_match(&second, &blank), 1);
}
END_TEST

START_TEST(a_node_seen_again_as_itself_is_not_lost)
{
  mcrepl__stats_reply_t a = ident(1234, T0 + 100, 100);
  mcrepl__stats_reply_t later = ident(1234, T0 + 700, 700);
  /* memcached's clock ticks once a second, apart from the uptime's. */
  mcrepl__stats_reply_t noisy = ident(1234, T0 + 702, 700);
  mcrepl__nodes_t n = nodes_of(&a, NULL);

  mcrepl__nodes_saw(&n, 0, &later);
  mcrepl__nodes_saw(&n, 0, &noisy);
  ck_assert_int_eq(mcrepl__nodes_take_lost(&n, 0), 0);
  ck_assert_int_eq(mcrepl__nodes_match(&n, &later), 0);
}
END_TEST

START_TEST(a_node_back_as_another_process_lost_its_data)
{
  mcrepl__stats_reply_t a = ident(1234, T0 + 100, 100);
  mcrepl__stats_reply_t b = ident(5678, T0 + 100, 100);
  mcrepl__stats_reply_t new_pid = ident(4321, T0 + 105, 2);
  /* The same pid again after a reboot: only the start time tells. */
  mcrepl__stats_reply_t same_pid = ident(4321, T0 + 900, 3);
  mcrepl__nodes_t n = nodes_of(&a, &b);

  mcrepl__nodes_saw(&n, 0, &new_pid);
  ck_assert_int_eq(mcrepl__nodes_take_lost(&n, 1), 0);
  ck_assert_int_eq(mcrepl__nodes_take_lost(&n, 0), 1);
  /* Told once: the next tick must not count the same restart again. */
  ck_assert_int_eq(mcrepl__nodes_take_lost(&n, 0), 0);
  ck_assert_int_eq(mcrepl__nodes_match(&n, &new_pid), 0);
  ck_assert_int_eq(mcrepl__nodes_match(&n, &a), -1);

  mcrepl__nodes_saw(&n, 0, &same_pid);
  ck_assert_int_eq(mcrepl__nodes_take_lost(&n, 0), 1);
  ck_assert_int_eq(mcrepl__nodes_take_lost(&n, 0), 0);
}
END_TEST

START_TEST(start_times_within_clock_noise_are_one_process)
{
  mcrepl__stats_reply_t a = ident(1234, T0 + 100, 100);
  mcrepl__stats_reply_t two = ident(1234, T0 + 102, 100);
  mcrepl__stats_reply_t three = ident(1234, T0 + 105, 100);
  mcrepl__nodes_t n = nodes_of(&a, NULL);

  mcrepl__nodes_saw(&n, 0, &two);
  ck_assert_int_eq(mcrepl__nodes_take_lost(&n, 0), 0);
  mcrepl__nodes_saw(&n, 0, &three);
  ck_assert_int_eq(mcrepl__nodes_take_lost(&n, 0), 1);
}
END_TEST

START_TEST(the_slave_restarted_only_as_another_process)
{
  mcrepl__stats_reply_t s = ident(5678, T0 + 100, 100);
  mcrepl__stats_reply_t again = ident(5678, T0 + 300, 300);
  mcrepl__stats_reply_t other = ident(8765, T0 + 301, 1);
  mcrepl__stats_reply_t reboot = ident(8765, T0 + 990, 4);
  mcrepl__nodes_t n = nodes_of(NULL, NULL);

  /* The first sighting: nothing to compare with, nothing lost. */
  ck_assert_int_eq(mcrepl__nodes_slave_seen(&n, 1, &s), 0);
  ck_assert_int_eq(mcrepl__nodes_slave_seen(&n, 1, &again), 0);
  ck_assert_int_eq(mcrepl__nodes_slave_seen(&n, 1, &other), 1);
  ck_assert_int_eq(mcrepl__nodes_slave_seen(&n, 1, &other), 0);
  ck_assert_int_eq(mcrepl__nodes_slave_seen(&n, 1, &reboot), 1);
  ck_assert_int_eq(mcrepl__nodes_match(&n, &reboot), 1);
  ck_assert_int_eq(mcrepl__nodes_take_lost(&n, 1), 0);
}
END_TEST

START_TEST(a_restart_the_slave_reports_is_not_reported_again)
{
  mcrepl__stats_reply_t s = ident(5678, T0 + 100, 100);
  mcrepl__stats_reply_t other = ident(8765, T0 + 200, 1);
  mcrepl__stats_reply_t third = ident(9999, T0 + 300, 1);
  mcrepl__nodes_t n = nodes_of(NULL, &s);

  /* A probe saw the restart and left it pending; the sender's own
   * sighting of yet another process reports it, and that is once. */
  mcrepl__nodes_saw(&n, 1, &other);
  ck_assert_int_eq(mcrepl__nodes_slave_seen(&n, 1, &third), 1);
  ck_assert_int_eq(mcrepl__nodes_take_lost(&n, 1), 0);
}
END_TEST

START_TEST(a_pending_loss_outlives_a_sighting_of_the_same_process)
{
  mcrepl__stats_reply_t s = ident(5678, T0 + 100, 100);
  mcrepl__stats_reply_t other = ident(8765, T0 + 200, 1);
  mcrepl__nodes_t n = nodes_of(NULL, &s);

  /* The probe already took the new identity: the sender finds nothing
   * new, so the pending loss is the only record of the restart. */
  mcrepl__nodes_saw(&n, 1, &other);
  ck_assert_int_eq(mcrepl__nodes_slave_seen(&n, 1, &other), 0);
  ck_assert_int_eq(mcrepl__nodes_take_lost(&n, 1), 1);
}
END_TEST

/* Dirt -------------------------------------------------------------------*/

static mcrepl__ready_t ready_of(const mcrepl__stats_reply_t *master,
                                uint64_t epoch)
{
  mcrepl__ready_t r = {master->pid, mcrepl__boot_time(master), epoch};
  return r;
}

START_TEST(nothing_sampled_covers_nothing)
{
  mcrepl__stats_reply_t m = ident(1234, T0 + 100, 100);
  mcrepl__ready_t r = ready_of(&m, 1000);
  mcrepl__dirt_log_t d;

  memset(&d, 0, sizeof d);
  ck_assert_uint_eq(mcrepl__dirt_covered(&d, &r), 0);
}
END_TEST

START_TEST(a_resync_covers_dirt_sampled_before_its_epoch)
{
  mcrepl__stats_reply_t m = ident(1234, T0 + 100, 100);
  /* Sampled later through the vip: the same start time. */
  mcrepl__stats_reply_t m_later = ident(1234, T0 + 400, 400);
  mcrepl__ready_t r = ready_of(&m, 10);
  mcrepl__dirt_log_t d;

  memset(&d, 0, sizeof d);
  mcrepl__dirt_add(&d, 3, 5, &m);
  mcrepl__dirt_add(&d, 7, 9, &m_later);
  /* At the resync's own epoch: it may have begun before this dirt. */
  mcrepl__dirt_add(&d, 9, 10, &m);
  mcrepl__dirt_add(&d, 12, 11, &m);
  ck_assert_uint_eq(d.sampled, 12);
  ck_assert_uint_eq(mcrepl__dirt_covered(&d, &r), 7);
  r.epoch = 11;
  ck_assert_uint_eq(mcrepl__dirt_covered(&d, &r), 9);
  r.epoch = 12;
  ck_assert_uint_eq(mcrepl__dirt_covered(&d, &r), 12);
  r.epoch = 5;
  ck_assert_uint_eq(mcrepl__dirt_covered(&d, &r), 0);
}
END_TEST

START_TEST(dirt_of_another_master_is_not_covered)
{
  mcrepl__stats_reply_t m = ident(1234, T0 + 100, 100);
  mcrepl__stats_reply_t other = ident(5678, T0 + 100, 100);
  /* m's pid again, in a process started long after. */
  mcrepl__stats_reply_t reborn = ident(1234, T0 + 900, 5);
  mcrepl__ready_t r = ready_of(&m, 100);
  mcrepl__dirt_log_t d;

  memset(&d, 0, sizeof d);
  mcrepl__dirt_add(&d, 4, 1, &m);
  mcrepl__dirt_add(&d, 50, 2, &other);
  mcrepl__dirt_add(&d, 60, 3, &reborn);
  ck_assert_uint_eq(mcrepl__dirt_covered(&d, &r), 4);
  /* The resync's record of its source's start time may be a clock tick
   * off the one sampled. */
  r.boot += 2;
  ck_assert_uint_eq(mcrepl__dirt_covered(&d, &r), 4);
  r.boot += 1;
  ck_assert_uint_eq(mcrepl__dirt_covered(&d, &r), 0);
  r = ready_of(&other, 100);
  ck_assert_uint_eq(mcrepl__dirt_covered(&d, &r), 50);
}
END_TEST

START_TEST(old_samples_are_forgotten)
{
  mcrepl__stats_reply_t m = ident(1234, T0 + 100, 100);
  mcrepl__ready_t first = ready_of(&m, 2);
  mcrepl__ready_t last = ready_of(&m, MCREPL__SAMPLES + 100);
  mcrepl__dirt_log_t d;
  uint64_t i;

  memset(&d, 0, sizeof d);
  /* Sample i: dirt i at epoch i. */
  for (i = 1; i <= MCREPL__SAMPLES; i++)
    mcrepl__dirt_add(&d, i, i, &m);
  ck_assert_uint_eq(mcrepl__dirt_covered(&d, &first), 1);
  ck_assert_uint_eq(mcrepl__dirt_covered(&d, &last), MCREPL__SAMPLES);
  mcrepl__dirt_add(&d, i, i, &m);
  ck_assert_uint_eq(mcrepl__dirt_covered(&d, &first), 0);
  ck_assert_uint_eq(mcrepl__dirt_covered(&d, &last), MCREPL__SAMPLES + 1);
  for (i++; i <= MCREPL__SAMPLES + 10; i++)
    mcrepl__dirt_add(&d, i, i, &m);
  first.epoch = 12;
  ck_assert_uint_eq(mcrepl__dirt_covered(&d, &first), 11);
  ck_assert_uint_eq(mcrepl__dirt_covered(&d, &last), MCREPL__SAMPLES + 10);
}
END_TEST

/* A pair that does not answer ---------------------------------------------*/

#define LOG_MAX 32

/* A pair set up as mcrepl_create's init_pair does, without its queue,
 * locks or sender thread: the test is the sender. */
typedef struct rig {
  mcrepl__config_t cfg;
  mcrepl__notify_t notify;
  mcrepl__pair_t *p;
  mcrepl__link_t link;
  mcrepl__failover_t fo;
  struct {
    mcrepl_log_level_t level;
    char text[512];
  } log[LOG_MAX];
  size_t nlog;
} rig_t;

/* Loopback ports where nothing listens: each is bound while the next is
 * taken, so that they differ, then freed. A connect there is refused at
 * once, as by a node that is down but whose host is up. */
static void closed_ports(uint16_t *port, size_t n)
{
  int fd[3];
  size_t i;

  ck_assert_uint_le(n, ARRAY_LEN(fd));
  for (i = 0; i < n; i++) {
    struct sockaddr_in a;
    socklen_t len = sizeof a;

    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd[i] = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd[i], 0);
    ck_assert_int_eq(bind(fd[i], (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(fd[i], (struct sockaddr *)&a, &len), 0);
    port[i] = ntohs(a.sin_port);
  }
  for (i = 0; i < n; i++)
    close(fd[i]);
}

static void on_log(void *ctx, mcrepl_log_level_t level, const char *msg)
{
  rig_t *r = ctx;

  if (r->nlog == LOG_MAX)
    return;
  r->log[r->nlog].level = level;
  snprintf(r->log[r->nlog].text, sizeof r->log[r->nlog].text, "%s", msg);
  r->nlog++;
}

/* Messages logged at level that contain both words (word2 may be NULL). */
static size_t logged(const rig_t *r, mcrepl_log_level_t level,
                     const char *word, const char *word2)
{
  size_t i, n = 0;

  for (i = 0; i < r->nlog; i++)
    if (r->log[i].level == level && strstr(r->log[i].text, word) &&
        (!word2 || strstr(r->log[i].text, word2)))
      n++;
  return n;
}

/* with_vip: the target is a third address, as keepalived's vip. */
static void rig_open(rig_t *r, int with_vip)
{
  char conf[256], vip[32] = "", err[256] = "";
  uint16_t port[3];
  mcrepl__pair_t *p;

  memset(r, 0, sizeof *r);
  closed_ports(port, with_vip ? 3 : 2);
  if (with_vip)
    snprintf(vip, sizeof vip, ",vip=127.0.0.1:%u", port[2]);
  snprintf(conf, sizeof conf,
           "--pair=127.0.0.1:%u,127.0.0.1:%u%s --connect-timeout=200 "
           "--timeout=200 --identity-interval=10000", port[0], port[1], vip);
  ck_assert_msg(mcrepl__config_parse(conf, &r->cfg, err, sizeof err) == 0,
                "%s: %s", conf, err);
  ck_assert_uint_eq(r->cfg.npairs, 1);
  ck_assert_int_eq(r->cfg.pairs[0].has_vip, with_vip);
  mcrepl__notify_init(&r->notify);
  ck_rc(mcrepl__notify_set_log(&r->notify, on_log, r, MCREPL_LOG_DEBUG),
        MCREPL_SUCCESS);
  p = r->p = calloc(1, sizeof *p);
  ck_assert_ptr_nonnull(p);
  p->index = 0;
  p->notify = &r->notify;
  p->conf = &r->cfg.pairs[0];
  p->cfg = &r->cfg;
  p->target = p->conf->has_vip ? &p->conf->vip : &p->conf->master;
  p->node[0] = &p->conf->master;
  p->node[1] = &p->conf->slave;
  atomic_init(&p->master_idx, 0);
  atomic_init(&p->target_down_until, 0);
  atomic_init(&p->vip_changes, 0);
  atomic_init(&p->read_failovers, 0);
  atomic_init(&p->deadline, 0);
  mcrepl__stats_init(&p->st);
  ck_assert_int_eq(mcrepl__pool_init(&p->pool, p->target, &r->cfg), 0);
  mcrepl__link_init(&r->link, p);
  mcrepl__failover_init(&r->fo, p, &r->link);
}

static void rig_close(rig_t *r)
{
  mcrepl__link_free(&r->link);
  mcrepl__pool_destroy(&r->p->pool);
  free(r->p);
  mcrepl__config_free(&r->cfg);
  mcrepl__notify_destroy(&r->notify);
}

START_TEST(a_slave_that_does_not_answer_is_not_up)
{
  rig_t r;

  rig_open(&r, _i);
  ck_assert_int_ne(mcrepl__failover_slave(&r.fo), MCREPL_SUCCESS);
  ck_assert_int_eq(atomic_load(&r.p->st.slave_up), 0);
  ck_assert_int_lt(r.link.slave.fd, 0);
  ck_assert_uint_eq(atomic_load(&r.p->st.reconnects), 0);
  /* Nothing was seen of it: no identity, no restart, no dirt. */
  ck_assert_int_eq(r.fo.nodes.known[1], 0);
  ck_assert_uint_eq(atomic_load(&r.p->st.slave_restarts), 0);
  ck_assert_int_eq(mcrepl__stats_dirty(&r.p->st), 0);
  /* Up when last it answered: a closed connection that cannot be opened
   * again is down. */
  atomic_store(&r.p->st.slave_up, 1);
  ck_assert_int_ne(mcrepl__failover_slave(&r.fo), MCREPL_SUCCESS);
  ck_assert_int_eq(atomic_load(&r.p->st.slave_up), 0);
  rig_close(&r);
}
END_TEST

START_TEST(a_tick_keeps_the_roles_and_reads_off_the_target)
{
  rig_t r;
  int64_t before, next, down;

  rig_open(&r, _i);
  before = mcrepl__now_ns();
  mcrepl__failover_tick(&r.fo, 0);
  ck_assert_int_eq(atomic_load(&r.p->master_idx), 0);
  ck_assert_uint_eq(atomic_load(&r.p->vip_changes), 0);
  down = atomic_load(&r.p->target_down_until);
  ck_assert_int_gt(down, mcrepl__now_ns());
  next = mcrepl__failover_next_tick(&r.fo);
  ck_assert_int_gt(next, mcrepl__now_ns());
  ck_assert_int_ge(next, before + mcrepl__ms_to_ns(10000));
  ck_assert_uint_ge(r.link.master_opens, 1);
  ck_assert_int_lt(r.link.master.fd, 0);
  /* Clean: nothing to learn from the slave, nothing to mark. */
  ck_assert_uint_eq(logged(&r, MCREPL_LOG_WARNING, "missed writes", NULL),
                    0);
  ck_assert_int_eq(mcrepl__stats_dirty(&r.p->st), 0);

  /* Not due yet: the next batch's tick does nothing. */
  atomic_store(&r.p->target_down_until, 0);
  mcrepl__failover_tick(&r.fo, 0);
  down = atomic_load(&r.p->target_down_until);
  ck_assert_int_eq(down, 0);
  ck_assert_int_eq(mcrepl__failover_next_tick(&r.fo), next);

  /* A clean pair owes its master no last word: it does not even try. */
  next = (int64_t)r.link.master_opens;
  mcrepl__failover_last_word(&r.fo);
  ck_assert_uint_eq(r.link.master_opens, (uint64_t)next);
  rig_close(&r);
}
END_TEST

START_TEST(a_dirty_pair_stays_dirty_and_says_so_once)
{
  rig_t r;
  uint64_t opens;
  int64_t t0, took;

  rig_open(&r, _i);
  mcrepl__stats_add_dirt(&r.p->st);
  mcrepl__failover_tick(&r.fo, 0);
  ck_assert_int_eq(mcrepl__stats_dirty(&r.p->st), 1);
  ck_assert_uint_eq(atomic_load(&r.p->st.clean), 0);
  ck_assert_int_eq(atomic_load(&r.p->master_idx), 0);
  ck_assert_int_eq(atomic_load(&r.p->st.slave_up), 0);
  ck_assert_uint_eq(logged(&r, MCREPL_LOG_WARNING, "missed writes",
                           r.p->node[1]->text), 1);

  /* Said when it became dirty, not at every tick it still is. */
  r.fo.next_tick_ns = 0;
  mcrepl__failover_tick(&r.fo, 0);
  ck_assert_int_eq(mcrepl__stats_dirty(&r.p->st), 1);
  ck_assert_uint_eq(logged(&r, MCREPL_LOG_WARNING, "missed writes", NULL),
                    1);

  /* It owes its master the stale marker and tries to leave it; with no
   * master, destroy must still go on (a hang guard, not a timing). */
  opens = r.link.master_opens;
  t0 = mcrepl__now_ns();
  mcrepl__failover_last_word(&r.fo);
  took = mcrepl__now_ns() - t0;
  ck_assert_int_lt(took, mcrepl__ms_to_ns(5000));
  ck_assert_uint_gt(r.link.master_opens, opens);
  ck_assert_int_eq(mcrepl__stats_dirty(&r.p->st), 1);
  rig_close(&r);
}
END_TEST

static Suite *suite(void)
{
  Suite *s = suite_create("decide");
  TCase *nodes = tcase_create("nodes");
  TCase *dirt = tcase_create("dirt");
  TCase *tick = tcase_create("tick");

  tcase_add_test(nodes, probed_nodes_are_told_apart_by_identity);
  tcase_add_test(nodes, nothing_known_matches_nothing);
  tcase_add_test(nodes, nodes_alike_in_pid_and_start_are_twins);
  tcase_add_test(nodes, a_lone_node_is_never_twins);
  tcase_add_test(nodes, a_node_seen_again_as_itself_is_not_lost);
  tcase_add_test(nodes, a_node_back_as_another_process_lost_its_data);
  tcase_add_test(nodes, start_times_within_clock_noise_are_one_process);
  tcase_add_test(nodes, the_slave_restarted_only_as_another_process);
  tcase_add_test(nodes, a_restart_the_slave_reports_is_not_reported_again);
  tcase_add_test(nodes,
                 a_pending_loss_outlives_a_sighting_of_the_same_process);
  suite_add_tcase(s, nodes);
  tcase_add_test(dirt, nothing_sampled_covers_nothing);
  tcase_add_test(dirt, a_resync_covers_dirt_sampled_before_its_epoch);
  tcase_add_test(dirt, dirt_of_another_master_is_not_covered);
  tcase_add_test(dirt, old_samples_are_forgotten);
  suite_add_tcase(s, dirt);
  /* Each twice: without a vip (the target is the master), and with. */
  tcase_set_timeout(tick, 30);
  tcase_add_loop_test(tick, a_slave_that_does_not_answer_is_not_up, 0, 2);
  tcase_add_loop_test(tick, a_tick_keeps_the_roles_and_reads_off_the_target,
                      0, 2);
  tcase_add_loop_test(tick, a_dirty_pair_stays_dirty_and_says_so_once, 0,
                      2);
  suite_add_tcase(s, tick);
  return s;
}

int main(void)
{
  return run_suite(suite());
}
