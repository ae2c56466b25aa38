/* Helpers shared by the fault-injection tests: failing loudly, clocks,
 * process figures (RSS, open descriptors), handles and their counters.
 * Every test is its own program: exit 0 when all its checks held. */
#ifndef MCREPL_FAULTS_COMMON_H
#define MCREPL_FAULTS_COMMON_H

#include <stddef.h>
#include <string.h>
#include <stdint.h>

#include <mcrepl/mcrepl.h>

#include "servers.h"

#define S(k) (k), strlen(k)

/* Prints where and why, then exits 1: a test stops at its first lie. */
#define CHECK(cond, ...)                                                   \
  do {                                                                     \
    if (!(cond))                                                           \
      fault_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                  \
  } while (0)

void fault_fail(const char *file, int line, const char *cond,
                const char *fmt, ...)
    __attribute__((format(printf, 4, 5), noreturn));

/* "ok - NAME: figures" on stdout, for the run log. */
void fault_ok(const char *name, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

long long now_us(void);
#define now_ms() (now_us() / 1000)

/* Microseconds the calling thread has spent runnable but not running
 * (waiting for a CPU), from /proc/thread-self/schedstat; 0 if unknown.
 * A call's duration less the growth of this is what the library made it
 * wait, whatever else loads the machine. */
long long run_delay_us(void);

/* Resident set size of this process in KiB, and its open descriptors. */
long rss_kib(void);
int count_fds(void);

/* memcached with the tests' usual options (-m 512: no eviction may
 * pass for a lost write), or exits. */
mc_server_t *server_start(const char *extra);
/* mc_pause, and waits until the kernel shows the process stopped: the
 * signal is only taken when the process next runs. */
void server_freeze(mc_server_t *s);
/* Kills (memcached takes a second to honour SIGTERM) and frees. */
void server_stop(mc_server_t *s);

/* mcrepl_create over a printf-formatted configuration, or exits. With
 * $FAULTS_VERBOSE set, the library's log goes to stderr. */
mcrepl_t *handle_open(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

mcrepl_pair_stats_t stats_of(const mcrepl_t *m, size_t pair);

/* queued == replicated + dropped + queue_items for every pair, from one
 * snapshot each; exits naming the pair when not. */
void check_counters(const mcrepl_t *m, const char *when);

/* How many of the keys printf(fmt, i) for i in [from, to) the server on
 * port lacks; -1 when it could not be asked. */
long keys_missing(int port, const char *fmt, size_t from, size_t to);

/* A watchdog thread that sleeps 1 ms at a time and records when it woke
 * late: the machine (not the library) stalled the process then. Latency
 * checks excuse a slow call only when the watchdog saw the machine stall
 * for about as long during that very call; a call slowed by the library
 * itself (a lock, a blocking wait) has no such alibi. */
void watch_start(void);
void watch_stop(void);
/* Microseconds of [t0_us, t1_us] during which the watchdog slept late. */
long long watch_stalled(long long t0_us, long long t1_us);
/* Subtracts from each lat[i] (of a call started at t0[i], ascending) the
 * time the machine stalled during it; returns how many were touched. */
size_t watch_adjust(const long long *t0, long long *lat, size_t n);
/* Stalls seen (late by over 2 ms), and the longest, in microseconds. */
void watch_summary(long *count, long long *longest_us);

/* Every data command, by name, for tests that try them all. */
typedef struct op {
  const char *name;
  int write; /* changes the master: must never succeed against a dead one */
} op_t;
#define OPS 14
extern const op_t g_ops[OPS];
/* Runs g_ops' command `name` on key (add uses key + "-new"; mget asks
 * for key and key + "-other"; a read's value is freed). */
mcrepl_return_t run_op(mcrepl_t *m, const char *name, const char *key);

/* The p-quantile (0..1) of n samples; sorts v. */
long long quantile(long long *v, size_t n, double p);

#endif
