/* Real memcached servers for the integration tests, and raw helpers that
 * talk to ONE server directly (never through mcrepl), so that a test can
 * see what each server really holds.
 *
 * Every call is bounded in time: a dead, stopped or foreign server makes
 * a helper fail, never hang. */
#ifndef MCREPL_TESTS_SERVERS_H
#define MCREPL_TESTS_SERVERS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct mc_server {
  int port;       /* loopback port, kept across mc_restart */
  pid_t pid;      /* 0 once the process is gone */
  char args[256]; /* extra arguments, reused by mc_restart */
  int pid1;       /* started by mc_start_pid1 */
} mc_server_t;

/* Starts `memcached -l 127.0.0.1 -p PORT -U 0 -t 1 EXTRA` on a free port
 * and returns once it accepts connections, or NULL. extra_args may be NULL;
 * it is split on white space. The server is killed when the calling
 * thread's process dies. With $MCREPL_TEST_TMPDIR set, its pid is kept in
 * a pidfile there for scripts/test.sh to kill leftovers. */
mc_server_t *mc_start(const char *extra_args);

/* The same, but as a container runs it: pid 1 of a pid namespace of its
 * own (unshare(1) with a user namespace, so no root is needed). Two
 * started together report the same pid and start time. pid is then
 * unshare's, which takes memcached with it when killed; mc_pause does
 * not reach memcached. */
mc_server_t *mc_start_pid1(const char *extra_args);

/* SIGTERM (then SIGKILL after 2 s), reaps, and frees s. NULL is a no-op;
 * a paused or already killed server is fine. */
void mc_stop(mc_server_t *s);

/* SIGKILL and reap; s stays valid for mc_restart or mc_stop. */
void mc_kill(mc_server_t *s);

/* SIGSTOP / SIGCONT: a server that is up but does not answer. */
void mc_pause(mc_server_t *s);
void mc_resume(mc_server_t *s);

/* Kills the process if alive and starts an empty one on the same port.
 * Returns 0, or -1 when it did not come up. */
int mc_restart(mc_server_t *s);

/* Monotonic milliseconds, and a sleep that survives signals. */
long long mc_now_ms(void);
void mc_sleep_ms(long ms);

/* Raw helpers. ---------------------------------------------------------- */

#define MC_RAW_MISS (-2) /* mc_raw_ttl: no such key */
#define MC_RAW_ERR (-3)  /* mc_raw_ttl: the server did not answer sanely */

/* `mg <key> v f t`. Returns 1 with *value (malloc()ed, NUL-terminated,
 * caller frees), *len and *flags set; 0 on a miss; -1 on error. value,
 * len and flags may be NULL. */
int mc_raw_get(int port, const char *key, char **value, size_t *len,
               uint32_t *flags);

/* Remaining TTL in seconds, -1 for an item that never expires,
 * MC_RAW_MISS or MC_RAW_ERR. */
long mc_raw_ttl(int port, const char *key);

/* Classic `set`. Returns 0 when STORED, else -1. */
int mc_raw_set(int port, const char *key, const char *value,
               uint32_t flags, long ttl);
/* The same with a value of len bytes of fill, no flags, no expiry. */
int mc_raw_set_filled(int port, const char *key, size_t len, char fill);

/* `stats` curr_items, or -1. */
long mc_raw_items(int port);

/* One `stats` value by name (e.g. "pid"), or -1. */
long long mc_raw_stat(int port, const char *name);

/* Sends cmd (a "\r\n" is added when missing) and copies the complete
 * answer, NUL-terminated and truncated to len - 1, into buf. Returns the
 * answer's full length, or -1. */
long mc_raw_cmd(int port, const char *cmd, char *buf, size_t len);

/* A connection for many pipelines (mc_raw_pipeline), or -1. */
int mc_raw_connect(int port);

/* Sends req, which ends in "mn\r\n", on fd, reading while it writes,
 * and waits for the answer's "MN" (the rest is dropped). 0 or -1. */
int mc_raw_pipeline(int fd, const char *req, size_t len);

/* Pipelined presence check of n keys over one connection: present[i] is
 * set to 1 or 0. Returns the number present, or -1 on error. */
long mc_raw_has_keys(int port, const char *const *keys, size_t n,
                     unsigned char *present);

/* The number of keys whose state ("mg <key> v f t": value, flags, and
 * the remaining TTL within ttl_slack seconds, or absence) differs
 * between the servers on port_a and port_b, or -1 on error. The first
 * difference is described into first, when not NULL. */
long mc_raw_diff(int port_a, int port_b, const char *const *keys, size_t n,
                 long ttl_slack, char *first, size_t first_len);

#endif /* MCREPL_TESTS_SERVERS_H */
