/* mcrepl-bench: what replication costs, side by side with plain
 * libmemcached, in one run.
 *
 * Every mode runs on the same two memcached servers (started here on free
 * loopback ports, or named with --master/--slave), with a warm-up, for
 * several rounds; the modes of a group take turns going first, round by
 * round, and every figure is a median over rounds. Ratios are taken
 * within a round (mode / baseline of that same round) and then the median
 * of those is reported: on these small virtual machines the absolute
 * speed swings from run to run, the ratios much less.
 *
 * Idle-priority spinners, one per CPU, keep the CPUs from sleeping
 * deeply between operations (see shared/notes/field-notes.md, "Measured
 * on a machine like ours"): they take little CPU from anyone, though a
 * caller that has had more than its share can wait behind one for about
 * a millisecond (BENCHMARKS.md, finding 6). By default the
 * servers run on the last CPU and the bench on the others, as a client
 * and a server machine would: unpinned, which CPU a woken thread lands
 * on decides more than the work does (BENCHMARKS.md).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <math.h> /* NAN and isnan only: macros, no libm needed */
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libmemcached/memcached.h>
#include <mcrepl/mcrepl.h>

#define PROG "mcrepl-bench"

#define DEFAULT_OPS 20000
#define DEFAULT_ROUNDS 5
#define QUICK_OPS 3000
#define MAX_ROUNDS 99
#define MAX_LIST 8
/* Bytes one mode may write in one round: big values get fewer ops, so
 * that a full run stays within minutes and every key of a round fits in
 * memcached's -m 1024 on both servers (replicas put all on both). */
#define BYTES_BUDGET ((size_t)128 << 20)
#define QUICK_BUDGET ((size_t)16 << 20)
/* What an item costs memcached beyond its value (header, CAS, key and
 * slab rounding, about): counted in the budget, or small values in
 * their millions would overflow -m 1024 and pass for missed keys. */
#define ITEM_OVERHEAD 96
#define MIN_OPS 50
#define MGET_KEYS 100
#define READ_KEYS 1000
#define MGET_OPS_DIV 10 /* an mget moves 100 keys: fewer calls */
#define WARMUP_MAX 1000
#define WARMUP_MIN 20
#define KEY_BUF 64
/* A sender that has to apply fewer items than this after the caller
 * stopped gives no meaningful rate: it was keeping up. */
#define DRAIN_MIN_BACKLOG 200
#define DRAIN_TIMEOUT_MS 60000
#define SETTLE_TIMEOUT_MS 10000
#define START_TIMEOUT_MS 5000
#define RAW_TIMEOUT_S 10
#define PRESENCE_CHUNK 1000
/* An entry's fixed part in the library's queue, to judge whether a
 * round's writes fit within the queue bound. */
#define QUEUE_ENTRY_OVERHEAD 64
#define HIST_BUCKETS 576
#define MAX_KIDS 8
#define MAX_SPINNERS 4 /* one per core, up to this */
#define MIB (1024.0 * 1024.0)

/* Child processes ------------------------------------------------------- */

/* Servers and spinners, by PID, for the SIGINT/SIGTERM handler: the one
 * piece of global state, since a handler cannot be handed an argument. */
static volatile sig_atomic_t g_kids[MAX_KIDS];

static void kid_add(pid_t pid)
{
  for (size_t i = 0; i < MAX_KIDS; i++)
    if (g_kids[i] == 0) {
      g_kids[i] = pid;
      return;
    }
}

static void kid_del(pid_t pid)
{
  for (size_t i = 0; i < MAX_KIDS; i++)
    if (g_kids[i] == pid)
      g_kids[i] = 0;
}

static void kids_kill(void)
{
  for (size_t i = 0; i < MAX_KIDS; i++) {
    pid_t pid = g_kids[i];
    if (pid > 0) {
      kill(pid, SIGKILL); /* works on a stopped process too */
      waitpid(pid, NULL, 0);
      g_kids[i] = 0;
    }
  }
}

static void on_signal(int sig)
{
  for (size_t i = 0; i < MAX_KIDS; i++)
    if (g_kids[i] > 0)
      kill(g_kids[i], SIGKILL);
  signal(sig, SIG_DFL);
  raise(sig); /* delivered when the handler returns: dies as asked */
}

static void install_signals(void)
{
  struct sigaction sa;

  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  /* A slave killed on purpose must not kill us through a write. */
  signal(SIGPIPE, SIG_IGN);
  atexit(kids_kill);
}

/* In a fresh child: die with the parent, and leave its handlers. */
static void child_detach(pid_t parent)
{
  sigset_t none;

  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent)
    _exit(127); /* the parent died before prctl took effect */
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  signal(SIGHUP, SIG_DFL);
  signal(SIGPIPE, SIG_DFL);
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Time ------------------------------------------------------------------ */

static int64_t now_ns(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ms(long ms)
{
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* CPU placement --------------------------------------------------------- */

/* Where processes may run. On a small VM the scheduler's choice of CPU
 * for a woken thread weighs more than the work itself (see
 * BENCHMARKS.md): "split" emulates a client machine and a server machine,
 * "one" shows the pure CPU cost. */
typedef enum { L_SHARED, L_SPLIT, L_ONE } layout_t;
static const char *const LAYOUTS[] = {"shared", "split", "one"};

static int ncpus(void)
{
  long n = sysconf(_SC_NPROCESSORS_ONLN);

  return n < 1 ? 1 : n > CPU_SETSIZE ? CPU_SETSIZE : (int)n;
}

/* Async-signal-safe, for a fresh child too. */
static void pin_range(int first, int last)
{
  cpu_set_t set;

  CPU_ZERO(&set);
  for (int i = first; i <= last; i++)
    CPU_SET(i, &set);
  sched_setaffinity(0, sizeof set, &set);
}

static void pin_servers(layout_t l, int n)
{
  if (l == L_SPLIT && n > 1)
    pin_range(n - 1, n - 1);
  else if (l == L_ONE)
    pin_range(0, 0);
}

/* Before any thread exists: they inherit it (the library's too). */
static void pin_self(layout_t l, int n)
{
  if (l == L_SPLIT && n > 1)
    pin_range(0, n - 2);
  else if (l == L_ONE)
    pin_range(0, 0);
}

/* Spinners -------------------------------------------------------------- */

/* `chrt -i 0 sh -c 'while :; do :; done'`: SCHED_IDLE runs when a core
 * has nothing else ready to run by the scheduler's reckoning, so it
 * keeps the core out of deep sleep; its cost is in the file's header. */
static pid_t spinner_start(int cpu)
{
  pid_t parent = getpid(), pid = fork();

  if (pid == 0) {
    struct sched_param sp = {.sched_priority = 0};
    child_detach(parent);
    pin_range(cpu, cpu); /* one per core, whatever the layout */
    if (sched_setscheduler(0, SCHED_IDLE, &sp) != 0)
      _exit(1); /* never spin at normal priority */
    for (volatile unsigned long n = 0;; n++) {
    }
  }
  if (pid > 0)
    kid_add(pid);
  return pid;
}

/* Returns how many spinners are running. */
static int spinners_start(pid_t *pids, int n)
{
  int alive = 0;

  for (int i = 0; i < n; i++)
    pids[i] = spinner_start(i);
  sleep_ms(20);
  for (int i = 0; i < n; i++) {
    if (pids[i] > 0 && waitpid(pids[i], NULL, WNOHANG) == 0) {
      alive++;
      continue;
    }
    if (pids[i] > 0)
      kid_del(pids[i]);
    pids[i] = 0;
  }
  return alive;
}

/* Byte buffers ---------------------------------------------------------- */

typedef struct rbuf {
  char *p;
  size_t len, cap;
} rbuf_t;

static int rbuf_reserve(rbuf_t *b, size_t more)
{
  size_t cap = b->cap ? b->cap : 4096;
  char *p;

  if (b->len + more + 1 <= b->cap)
    return 0;
  while (cap < b->len + more + 1)
    cap *= 2;
  p = realloc(b->p, cap);
  if (!p)
    return -1;
  b->p = p;
  b->cap = cap;
  return 0;
}

static int rbuf_add(rbuf_t *b, const char *s, size_t n)
{
  if (rbuf_reserve(b, n) != 0)
    return -1;
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
  return 0;
}

/* A raw connection to one server --------------------------------------- */

typedef struct server {
  char host[256];
  char port_s[8];
  int port;
  pid_t pid; /* 0: not started by us, so never stopped or killed */
  layout_t layout;
} server_t;

/* Blocking, with send/receive timeouts: these exchanges are not
 * measured, they only have to end. */
static int raw_open(const server_t *s)
{
  struct timeval tv = {RAW_TIMEOUT_S, 0};
  struct addrinfo hints, *res, *ai;
  int fd = -1, one = 1;

  memset(&hints, 0, sizeof hints);
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(s->host, s->port_s, &hints, &res) != 0)
    return -1;
  for (ai = res; ai && fd < 0; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
    if (fd < 0)
      continue;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  return fd;
}

static int raw_send(int fd, const char *p, size_t n)
{
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Every request ends with the meta no-op "mn": its "MN" comes after all
 * other answers, so it marks the end of the reply. */
static int ends_with_mn(const rbuf_t *b)
{
  return b->len >= 4 && memcmp(b->p + b->len - 4, "MN\r\n", 4) == 0 &&
         (b->len == 4 || b->p[b->len - 5] == '\n');
}

static int raw_read_mn(int fd, rbuf_t *in)
{
  in->len = 0;
  while (!ends_with_mn(in)) {
    ssize_t r;
    if (rbuf_reserve(in, 65536) != 0)
      return -1;
    r = recv(fd, in->p + in->len, 65536, 0);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return -1;
    in->len += (size_t)r;
    in->p[in->len] = '\0';
  }
  in->len -= 4;
  in->p[in->len] = '\0';
  return 0;
}

/* One command (with its \r\n) on a fresh connection; *out to free. */
static int raw_cmd(const server_t *s, const char *cmd, rbuf_t *out)
{
  int fd = raw_open(s), rc = -1;
  rbuf_t req = {0};

  memset(out, 0, sizeof *out);
  if (fd < 0)
    return -1;
  if (rbuf_add(&req, cmd, strlen(cmd)) == 0 &&
      rbuf_add(&req, "mn\r\n", 4) == 0 && raw_send(fd, req.p, req.len) == 0)
    rc = raw_read_mn(fd, out);
  close(fd);
  free(req.p);
  return rc;
}

static long long raw_stat(const server_t *s, const char *name)
{
  char want[64];
  long long v = -1;
  rbuf_t out;
  int wl = snprintf(want, sizeof want, "STAT %s ", name);

  if (raw_cmd(s, "stats\r\n", &out) != 0) {
    free(out.p);
    return -1;
  }
  for (char *l = out.p; l && *l; l = strchr(l, '\n')) {
    l += *l == '\n';
    if (strncmp(l, want, (size_t)wl) == 0) {
      v = strtoll(l + wl, NULL, 10);
      break;
    }
  }
  free(out.p);
  return v;
}

static int raw_flush(const server_t *s)
{
  rbuf_t out;
  int rc = raw_cmd(s, "flush_all\r\n", &out);

  if (rc == 0 && strcmp(out.p, "OK\r\n") != 0)
    rc = -1;
  free(out.p);
  return rc;
}

/* Servers --------------------------------------------------------------- */

/* The kernel hands out a free port for port 0; another process may take
 * it before memcached binds it: callers retry. */
static int free_port(void)
{
  struct sockaddr_in sa;
  socklen_t sl = sizeof sa;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

  if (fd < 0)
    return -1;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
      getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
    port = ntohs(sa.sin_port);
  close(fd);
  return port;
}

/* Everything is built before fork(): the child of a threaded process
 * may only make async-signal-safe calls. */
static pid_t spawn_memcached(const char *port, layout_t layout)
{
  char *argv[] = {"memcached", "-l", "127.0.0.1", "-p", (char *)port,
                  "-U", "0", "-t", "2", "-m", "1024", NULL, NULL, NULL};
  pid_t parent = getpid(), pid;
  int n = ncpus();

  if (geteuid() == 0) { /* memcached refuses to run as root without -u */
    argv[11] = "-u";
    argv[12] = "root";
  }
  pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_RDWR);
    child_detach(parent);
    pin_servers(layout, n);
    if (null >= 0) {
      dup2(null, STDIN_FILENO);
      dup2(null, STDOUT_FILENO);
      dup2(null, STDERR_FILENO);
    }
    close_range(3, ~0U, 0); /* our connections are not the server's */
    execvp(argv[0], argv);
    _exit(127);
  }
  return pid;
}

/* Up means: answering on its port with our pid, so that a foreign
 * process that grabbed the port is never taken for our server. */
static int server_launch(server_t *s, int port)
{
  int64_t deadline = now_ns() + (int64_t)START_TIMEOUT_MS * 1000000;
  pid_t pid;

  s->port = port;
  snprintf(s->port_s, sizeof s->port_s, "%d", port);
  pid = spawn_memcached(s->port_s, s->layout);
  if (pid < 0)
    return -1;
  kid_add(pid);
  while (now_ns() < deadline) {
    if (waitpid(pid, NULL, WNOHANG) == pid)
      break; /* exited: most likely the port was taken */
    if (raw_stat(s, "pid") == (long long)pid) {
      s->pid = pid;
      return 0;
    }
    sleep_ms(10);
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  kid_del(pid);
  return -1;
}

static int server_start(server_t *s)
{
  snprintf(s->host, sizeof s->host, "127.0.0.1");
  for (int i = 0; i < 10; i++) {
    int port = free_port();
    if (port > 0 && server_launch(s, port) == 0)
      return 0;
  }
  return -1;
}

static void server_kill(server_t *s)
{
  if (s->pid <= 0)
    return;
  kill(s->pid, SIGKILL);
  waitpid(s->pid, NULL, 0);
  kid_del(s->pid);
  s->pid = 0;
}

/* Same port: the library's configuration names it. */
static int server_restart(server_t *s)
{
  server_kill(s);
  for (int i = 0; i < 20; i++) {
    if (server_launch(s, s->port) == 0)
      return 0;
    sleep_ms(50);
  }
  return -1;
}

static int parse_hostport(const char *arg, server_t *s)
{
  const char *colon = strrchr(arg, ':');
  char *end;
  long port;

  if (!colon || colon == arg || (size_t)(colon - arg) >= sizeof s->host)
    return -1;
  port = strtol(colon + 1, &end, 10);
  if (*end || port <= 0 || port > 65535)
    return -1;
  memcpy(s->host, arg, (size_t)(colon - arg));
  s->host[colon - arg] = '\0';
  s->port = (int)port;
  snprintf(s->port_s, sizeof s->port_s, "%ld", port);
  s->pid = 0;
  return 0;
}

/* Modes ----------------------------------------------------------------- */

typedef enum { K_SET, K_GET, K_MGET } kind_t;
typedef enum { CL_PLAIN, CL_MCREPL, CL_REPLICAS, CL_WT } client_kind_t;
typedef enum { FAULT_NONE, FAULT_STOP, FAULT_KILL } fault_t;

enum {
  M_THREADS = 1, /* also run with 2 and more application threads */
  M_SLAVE = 2,   /* must leave every key on the slave */
  M_BOTH = 4,    /* should leave every key on both servers */
  M_OWN = 8      /* needs servers the bench started: it kills one */
};

/* What one timed call does; the client holds the handles. */
typedef struct client {
  memcached_st *mc;  /* plain, replicas; the master of write-through */
  memcached_st *mc2; /* the slave of write-through */
  /* Caller-owned storage: libmemcached frees a heap-allocated result
   * handed to memcached_fetch_result when it reaches the END. */
  memcached_result_st res;
  int has_res;
  mcrepl_t *m;       /* shared by every thread of a case */
} client_t;

typedef struct op {
  const char *key, *value;
  size_t klen, vlen;
  const char *const *keys;
  const size_t *lens;
  size_t nkeys;
} op_t;

typedef int (*op_fn)(client_t *c, const op_t *op); /* 1: success */

static int op_set_plain(client_t *c, const op_t *op)
{
  return memcached_success(memcached_set(c->mc, op->key, op->klen,
                                         op->value, op->vlen, 0, 0));
}

static int op_set_wt(client_t *c, const op_t *op)
{
  return op_set_plain(c, op) &&
         memcached_success(memcached_set(c->mc2, op->key, op->klen,
                                         op->value, op->vlen, 0, 0));
}

static int op_set_mcrepl(client_t *c, const op_t *op)
{
  return mcrepl_set(c->m, op->key, op->klen, op->value, op->vlen, 0, 0) ==
         MCREPL_SUCCESS;
}

static int op_get_plain(client_t *c, const op_t *op)
{
  memcached_return_t rc;
  uint32_t flags;
  size_t len = 0;
  char *v = memcached_get(c->mc, op->key, op->klen, &len, &flags, &rc);

  free(v);
  return v != NULL && len == op->vlen;
}

static int op_get_mcrepl(client_t *c, const op_t *op)
{
  size_t len = 0;
  char *v = mcrepl_get(c->m, op->key, op->klen, &len, NULL, NULL);

  free(v);
  return v != NULL && len == op->vlen;
}

/* The baseline reuses one result: what a careful libmemcached user does,
 * so that any allocation mcrepl adds per key shows. */
static int op_mget_plain(client_t *c, const op_t *op)
{
  memcached_return_t rc =
      memcached_mget(c->mc, op->keys, op->lens, op->nkeys);
  size_t n = 0;

  if (!memcached_success(rc))
    return 0;
  while (memcached_fetch_result(c->mc, &c->res, &rc) != NULL)
    n++;
  return n == op->nkeys;
}

static int count_hit(void *ctx, const char *key, size_t key_len,
                     const char *value, size_t value_len, uint32_t flags,
                     uint64_t cas)
{
  (void)key, (void)key_len, (void)value, (void)value_len, (void)flags;
  (void)cas;
  ++*(size_t *)ctx;
  return 0;
}

static int op_mget_mcrepl(client_t *c, const op_t *op)
{
  size_t n = 0;

  return mcrepl_mget(c->m, op->keys, op->lens, op->nkeys, count_hit, &n) ==
             MCREPL_SUCCESS &&
         n == op->nkeys;
}

typedef struct bmode {
  const char *name;
  kind_t kind;
  client_kind_t client;
  fault_t fault;
  const char *base; /* ratios are to this mode of the same group */
  unsigned flags;
  op_fn op;
  const char *what; /* for --help */
} bmode_t;

static const bmode_t MODES[] = {
    {"plain", K_SET, CL_PLAIN, FAULT_NONE, "plain", M_THREADS,
     op_set_plain, "memcached_set to the master alone (the baseline)"},
    {"mcrepl", K_SET, CL_MCREPL, FAULT_NONE, "plain", M_THREADS | M_SLAVE,
     op_set_mcrepl, "mcrepl_set, replicated to the slave"},
    {"libmemcached-replicas", K_SET, CL_REPLICAS, FAULT_NONE, "plain",
     M_BOTH, op_set_plain,
     "memcached_set, NUMBER_OF_REPLICAS=1, binary, both servers"},
    {"write-through", K_SET, CL_WT, FAULT_NONE, "plain", M_SLAVE,
     op_set_wt, "memcached_set to the master, then to the slave"},
    {"mcrepl-slave-stopped", K_SET, CL_MCREPL, FAULT_STOP, "plain",
     M_SLAVE | M_OWN, op_set_mcrepl,
     "mcrepl_set, slave SIGSTOPped during the round"},
    {"mcrepl-slave-dead", K_SET, CL_MCREPL, FAULT_KILL, "plain",
     M_SLAVE | M_OWN, op_set_mcrepl,
     "mcrepl_set, slave killed during the round, restarted after"},
    {"get-plain", K_GET, CL_PLAIN, FAULT_NONE, "get-plain", 0,
     op_get_plain, "memcached_get from the master (the read baseline)"},
    {"get-mcrepl", K_GET, CL_MCREPL, FAULT_NONE, "get-plain", 0,
     op_get_mcrepl, "mcrepl_get"},
    {"mget-plain", K_MGET, CL_PLAIN, FAULT_NONE, "mget-plain", 0,
     op_mget_plain, "memcached_mget + fetch of 100 keys"},
    {"mget-mcrepl", K_MGET, CL_MCREPL, FAULT_NONE, "mget-plain", 0,
     op_mget_mcrepl, "mcrepl_mget of 100 keys"},
};
#define NMODES (sizeof MODES / sizeof MODES[0])

static int mode_index(const char *name, size_t len)
{
  for (size_t i = 0; i < NMODES; i++)
    if (strlen(MODES[i].name) == len && strncmp(MODES[i].name, name, len) == 0)
      return (int)i;
  return -1;
}

/* Results --------------------------------------------------------------- */

/* One case in one round. Every figure is a double so that one table of
 * fields drives the medians, the JSON and the CSV; NAN: not applicable. */
typedef struct result {
  double ops, secs, ops_s, errors;
  double p50_us, p99_us, p999_us;
  double ratio_ops, ratio_p99, ratio_healthy;
  double lag50_us, lag99_us, lagmax_us;
  double lag_read_pct; /* of the lag samples, % timed at the read */
  double drain_ms, backlog, drain_rate, sender_rate, batch_items;
  double keys, master_keys, slave_keys, both_keys, complete;
  double dropped, paced, dirty;
  double rss_before_kib, rss_after_kib, peak_kib, rss_vs_plain_kib;
  double maxrss_kib;
  double cpu_client_us, cpu_master_us, cpu_slave_us; /* per op */
  double wait_us; /* per op: the callers' time runnable but not running */
} result_t;

typedef enum { AGG_MEDIAN, AGG_MIN, AGG_MAX, AGG_SUM } agg_t;

typedef struct field {
  const char *name;
  size_t off;
  agg_t agg; /* how rounds are summed up */
} field_t;

#define FLD(n, a) {#n, offsetof(result_t, n), a}
static const field_t FIELDS[] = {
    FLD(ops, AGG_MEDIAN),          FLD(secs, AGG_MEDIAN),
    FLD(ops_s, AGG_MEDIAN),        FLD(errors, AGG_SUM),
    FLD(p50_us, AGG_MEDIAN),       FLD(p99_us, AGG_MEDIAN),
    FLD(p999_us, AGG_MEDIAN),      FLD(ratio_ops, AGG_MEDIAN),
    FLD(ratio_p99, AGG_MEDIAN),    FLD(ratio_healthy, AGG_MEDIAN),
    FLD(lag50_us, AGG_MEDIAN),     FLD(lag99_us, AGG_MEDIAN),
    FLD(lagmax_us, AGG_MEDIAN),    FLD(lag_read_pct, AGG_MEDIAN),
    FLD(drain_ms, AGG_MEDIAN),
    FLD(backlog, AGG_MEDIAN),      FLD(drain_rate, AGG_MEDIAN),
    FLD(sender_rate, AGG_MEDIAN),  FLD(batch_items, AGG_MEDIAN),
    FLD(keys, AGG_MEDIAN),
    FLD(master_keys, AGG_MIN),     FLD(slave_keys, AGG_MIN),
    FLD(both_keys, AGG_MIN),       FLD(complete, AGG_MIN),
    FLD(dropped, AGG_MAX),         FLD(paced, AGG_MAX),
    FLD(dirty, AGG_MAX),
    FLD(rss_before_kib, AGG_MEDIAN), FLD(rss_after_kib, AGG_MEDIAN),
    FLD(peak_kib, AGG_MEDIAN),     FLD(rss_vs_plain_kib, AGG_MEDIAN),
    FLD(maxrss_kib, AGG_MAX),      FLD(cpu_client_us, AGG_MEDIAN),
    FLD(cpu_master_us, AGG_MEDIAN), FLD(cpu_slave_us, AGG_MEDIAN),
    FLD(wait_us, AGG_MEDIAN),
};
#define NFIELDS (sizeof FIELDS / sizeof FIELDS[0])

static double *fld(result_t *r, size_t i)
{
  return (double *)((char *)r + FIELDS[i].off);
}

static void result_clear(result_t *r)
{
  for (size_t i = 0; i < NFIELDS; i++)
    *fld(r, i) = NAN;
}

/* Options and the run's state ------------------------------------------- */

typedef struct opts {
  size_t ops;
  int rounds;
  size_t threads[MAX_LIST], nthreads;
  size_t sizes[MAX_LIST], nsizes;
  int selected[NMODES];
  int named; /* --modes given: every mode selected must run */
  int quick, json, csv, spinners;
  layout_t layout;
  size_t budget;
  const char *plot;
  const char *master, *slave;
  const char *extra; /* appended to the mcrepl configuration */
} opts_t;

/* A mode at one value size and thread count, over every round. */
typedef struct bcase {
  const bmode_t *mode;
  size_t id, size, threads, ops, warm, group;
  long base, healthy; /* case indexes; -1: none */
  result_t *r;        /* one per round */
  result_t med;
  int ran;            /* rounds that ran */
  uint64_t hist[HIST_BUCKETS]; /* latency of every round, for the plot */
} bcase_t;

typedef struct group {
  size_t first, n;
} group_t;

typedef struct readset {
  char (*buf)[KEY_BUF];
  const char **keys;
  size_t *lens;
} readset_t;

typedef struct bench {
  opts_t o;
  server_t srv[2]; /* master, slave */
  int own;         /* the servers are ours */
  char config[1024];
  char *value;
  uint64_t *lat;
  readset_t rd;
  bcase_t *cases;
  size_t ncases;
  group_t *groups;
  size_t ngroups;
  pid_t spinner[MAX_SPINNERS];
  int nspinners;
  int hwm_reset; /* /proc/self/clear_refs accepted "5" */
  int failures;  /* something did not run as it should */
  int incomplete;/* a slave missed keys it should hold */
  double queue_bound; /* bytes, as the library reports it */
  int tty;
  size_t done, total;
  int64_t t_start;
} bench_t;

/* Messages -------------------------------------------------------------- */

static void progress_clear(const bench_t *b)
{
  if (b->tty)
    fputs("\r\033[K", stderr);
}

static void note(const bench_t *b, const char *fmt, ...)
{
  va_list ap;

  progress_clear(b);
  fprintf(stderr, PROG ": ");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

static void fmt_size(size_t n, char *buf, size_t len)
{
  if (n >= 1024 * 1024 && n % (1024 * 1024) == 0)
    snprintf(buf, len, "%zuMiB", n >> 20);
  else if (n >= 1024 && n % 1024 == 0)
    snprintf(buf, len, "%zuKiB", n >> 10);
  else
    snprintf(buf, len, "%zuB", n);
}

static void case_label(const bcase_t *c, char *buf, size_t len)
{
  char sz[24];

  fmt_size(c->size, sz, sizeof sz);
  snprintf(buf, len, "%s %s x%zu", c->mode->name, sz, c->threads);
}

static void progress(bench_t *b, const bcase_t *c, int round)
{
  char label[96];
  double el = (double)(now_ns() - b->t_start) / 1e9;

  if (!b->tty)
    return;
  case_label(c, label, sizeof label);
  fprintf(stderr, "\r\033[Kround %d/%d  case %zu/%zu  %-40s %5.0fs", round + 1,
          b->o.rounds, b->done + 1, b->total, label, el);
  fflush(stderr);
}

/* Memory ---------------------------------------------------------------- */

static double status_kib(const char *name)
{
  FILE *f = fopen("/proc/self/status", "r");
  size_t nl = strlen(name);
  char line[256];
  double v = NAN;

  if (!f)
    return NAN;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, name, nl) == 0 && line[nl] == ':') {
      v = strtod(line + nl + 1, NULL);
      break;
    }
  fclose(f);
  return v;
}

/* "5" resets the peak RSS (VmHWM) of the process (Linux 4.0+): so each
 * mode gets its own peak, where ru_maxrss only ever grows. */
static int hwm_reset(void)
{
  int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
  int ok = fd >= 0 && write(fd, "5", 1) == 1;

  if (fd >= 0)
    close(fd);
  return ok;
}

static double maxrss_kib(void)
{
  struct rusage ru;

  return getrusage(RUSAGE_SELF, &ru) == 0 ? (double)ru.ru_maxrss : NAN;
}

/* CPU time ------------------------------------------------------------- */

/* What replication costs in work, beside what it costs in time. In a VM
 * it also holds the exits that cross-CPU wake-ups cost the waker. */
static int64_t self_cpu_ns(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A thread's schedstat: its time on a CPU and its time runnable, waiting
 * for one (ns). -1 when the file cannot be read. */
static int schedstat_read(const char *file, int64_t *run, int64_t *wait)
{
  long long r, w;
  FILE *f = fopen(file, "r");
  int ok;

  if (!f)
    return -1;
  ok = fscanf(f, "%lld %lld", &r, &w) == 2;
  fclose(f);
  if (!ok)
    return -1;
  *run = r;
  *wait = w;
  return 0;
}

/* The run time of every thread of a server, from schedstat (ns); -1
 * when unknown (not ours, or gone). */
static int64_t server_cpu_ns(pid_t pid)
{
  char path[64];
  int64_t sum = 0;
  struct dirent *d;
  DIR *dir;

  if (pid <= 0)
    return -1;
  snprintf(path, sizeof path, "/proc/%ld/task", (long)pid);
  if (!(dir = opendir(path)))
    return -1;
  while ((d = readdir(dir))) {
    char file[400];
    int64_t run, wait;
    if (d->d_name[0] == '.')
      continue;
    snprintf(file, sizeof file, "%s/%s/schedstat", path, d->d_name);
    if (schedstat_read(file, &run, &wait) == 0)
      sum += run;
  }
  closedir(dir);
  return sum;
}

/* Waits until every thread of pid is stopped: kill() returns before the
 * stop takes effect, and writes sent meanwhile would still be applied. */
static int wait_stopped(pid_t pid)
{
  char path[64];
  int64_t deadline = now_ns() + 1000000000;

  snprintf(path, sizeof path, "/proc/%ld/task", (long)pid);
  while (now_ns() < deadline) {
    int running = 0;
    struct dirent *d;
    DIR *dir = opendir(path);
    if (!dir)
      return -1;
    while ((d = readdir(dir)) && !running) {
      char file[400], buf[512], *rp;
      FILE *f;
      if (d->d_name[0] == '.')
        continue;
      snprintf(file, sizeof file, "%s/%s/stat", path, d->d_name);
      if (!(f = fopen(file, "r")))
        continue;
      buf[0] = '\0';
      if (!fgets(buf, sizeof buf, f))
        buf[0] = '\0';
      fclose(f);
      rp = strrchr(buf, ')');
      running = !rp || (rp[1] != '\0' && rp[2] != 'T' && rp[2] != 't');
    }
    closedir(dir);
    if (!running)
      return 0;
    sleep_ms(1);
  }
  return -1;
}

static void mem_begin(bench_t *b, result_t *r)
{
  /* What the previous mode freed goes back to the kernel, so that every
   * mode starts from the same floor. */
  malloc_trim(0);
  b->hwm_reset = hwm_reset();
  r->rss_before_kib = status_kib("VmRSS");
}

static void mem_end(const bench_t *b, result_t *r)
{
  double hwm = status_kib("VmHWM");

  r->rss_after_kib = status_kib("VmRSS");
  r->peak_kib = b->hwm_reset ? hwm - r->rss_before_kib : NAN;
  r->maxrss_kib = maxrss_kib();
}

/* Latency --------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

  return (x > y) - (x < y);
}

/* Nearest rank of a sorted array, in microseconds. */
static double pct_us(const uint64_t *v, size_t n, double p)
{
  size_t rank = (size_t)(p * (double)n + 0.999999);

  if (n == 0)
    return NAN;
  rank = rank == 0 ? 0 : rank - 1;
  return (double)v[rank < n ? rank : n - 1] / 1000.0;
}

/* Log buckets, 16 per power of two (6 %): fine enough for the plot. */
static size_t hist_bucket(uint64_t ns)
{
  unsigned msb;
  size_t b;

  if (ns < 16)
    return (size_t)ns;
  msb = 63u - (unsigned)__builtin_clzll(ns);
  b = (size_t)(msb - 3) * 16 + (size_t)((ns >> (msb - 4)) & 15);
  return b < HIST_BUCKETS ? b : HIST_BUCKETS - 1;
}

static uint64_t hist_top(size_t b)
{
  unsigned msb;

  if (b < 16)
    return b;
  msb = (unsigned)(b / 16) + 3;
  return ((uint64_t)(16 + b % 16 + 1) << (msb - 4)) - 1;
}

static void latency_summary(bcase_t *c, uint64_t *lat, size_t n,
                            result_t *r)
{
  qsort(lat, n, sizeof *lat, cmp_u64);
  r->p50_us = pct_us(lat, n, 0.50);
  r->p99_us = pct_us(lat, n, 0.99);
  r->p999_us = pct_us(lat, n, 0.999);
  for (size_t i = 0; i < n; i++)
    c->hist[hist_bucket(lat[i])]++;
}

/* Keys ------------------------------------------------------------------ */

/* Distinct per case and round, so that the slave can be checked for
 * exactly the keys one mode wrote. */
static size_t case_key(char *buf, size_t id, int round, size_t i)
{
  return (size_t)snprintf(buf, KEY_BUF, "mcb:%zu:%d:%zu", id, round, i);
}

static size_t warm_key(char *buf, size_t id, size_t t, size_t i)
{
  return (size_t)snprintf(buf, KEY_BUF, "mcw:%zu:%zu:%zu", id, t, i);
}

static int readset_init(readset_t *rd)
{
  rd->buf = calloc(READ_KEYS, sizeof *rd->buf);
  rd->keys = calloc(READ_KEYS, sizeof *rd->keys);
  rd->lens = calloc(READ_KEYS, sizeof *rd->lens);
  if (!rd->buf || !rd->keys || !rd->lens)
    return -1;
  for (size_t i = 0; i < READ_KEYS; i++) {
    rd->lens[i] = (size_t)snprintf(rd->buf[i], KEY_BUF, "mcr:%04zu", i);
    rd->keys[i] = rd->buf[i];
  }
  return 0;
}

static void readset_free(readset_t *rd)
{
  free(rd->buf);
  free(rd->keys);
  free(rd->lens);
}

/* Keys [from, to) of case c and round: out[i] = 1 where the server
 * holds key i. -1 on error. */
static int presence_chunk(int fd, const bcase_t *c, int round,
                          size_t from, size_t to, unsigned char *out)
{
  char key[KEY_BUF];
  rbuf_t req = {0}, in = {0};
  const char *l;
  int rc = -1;

  for (size_t i = from; i < to; i++) {
    size_t kl = case_key(key, c->id, round, i);
    if (rbuf_add(&req, "mg ", 3) || rbuf_add(&req, key, kl) ||
        rbuf_add(&req, "\r\n", 2))
      goto out;
  }
  if (rbuf_add(&req, "mn\r\n", 4) || raw_send(fd, req.p, req.len) ||
      raw_read_mn(fd, &in))
    goto out;
  l = in.p;
  for (size_t i = from; i < to; i++, l += 4) {
    /* A bare "mg" answers exactly "HD" or "EN", in order. */
    if ((size_t)(l - in.p) + 4 > in.len ||
        (strncmp(l, "HD\r\n", 4) != 0 && strncmp(l, "EN\r\n", 4) != 0))
      goto out;
    out[i] = l[0] == 'H';
  }
  rc = 0;
out:
  free(req.p);
  free(in.p);
  return rc;
}

/* Every key of case c and round, in chunks on one connection. */
static int presence(const server_t *s, const bcase_t *c, int round,
                    unsigned char *out)
{
  int fd = raw_open(s), rc = fd < 0 ? -1 : 0;

  for (size_t i = 0; rc == 0 && i < c->ops; i += PRESENCE_CHUNK) {
    size_t to = i + PRESENCE_CHUNK < c->ops ? i + PRESENCE_CHUNK : c->ops;
    rc = presence_chunk(fd, c, round, i, to, out);
  }
  if (fd >= 0)
    close(fd);
  return rc;
}

/* Clients --------------------------------------------------------------- */

static memcached_st *mc_new(const server_t *s, size_t n, int replicas)
{
  memcached_st *mc = memcached_create(NULL);

  if (!mc)
    return NULL;
  /* As the library's own handles: a set is one small write each way. */
  memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
  if (replicas) {
    /* libmemcached ignores replicas with the text protocol. */
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_BINARY_PROTOCOL, 1);
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_NUMBER_OF_REPLICAS, 1);
  }
  for (size_t i = 0; i < n; i++)
    if (memcached_server_add(mc, s[i].host, (in_port_t)s[i].port) !=
        MEMCACHED_SUCCESS) {
      memcached_free(mc);
      return NULL;
    }
  return mc;
}

static int client_open(client_t *cl, const bench_t *b, const bmode_t *m,
                       mcrepl_t *shared)
{
  memset(cl, 0, sizeof *cl);
  switch (m->client) {
  case CL_MCREPL:
    cl->m = shared;
    return shared ? 0 : -1;
  case CL_PLAIN:
    cl->mc = mc_new(&b->srv[0], 1, 0);
    break;
  case CL_REPLICAS:
    cl->mc = mc_new(b->srv, 2, 1);
    break;
  case CL_WT:
    cl->mc = mc_new(&b->srv[0], 1, 0);
    cl->mc2 = mc_new(&b->srv[1], 1, 0);
    if (!cl->mc2)
      return -1;
    break;
  }
  if (cl->mc)
    cl->has_res = memcached_result_create(cl->mc, &cl->res) != NULL;
  return cl->mc && cl->has_res ? 0 : -1;
}

static void client_close(client_t *cl)
{
  if (cl->has_res)
    memcached_result_free(&cl->res);
  if (cl->mc)
    memcached_free(cl->mc);
  if (cl->mc2)
    memcached_free(cl->mc2);
  memset(cl, 0, sizeof *cl);
}

/* Workers --------------------------------------------------------------- */

/* Where the warmed-up workers wait to be let go together. Not a
 * barrier: workers already waiting in one could never leave it when a
 * later thread fails to start; a gate can be opened to abort. */
typedef struct gate {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  size_t arrived;
  int state; /* 0 closed, 1 go, -1 abort */
} gate_t;

#define GATE_INIT \
  {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0}

/* A worker's arrival; 1 when it is to go on, 0 on abort. */
static int gate_pass(gate_t *g)
{
  int go;

  pthread_mutex_lock(&g->mu);
  g->arrived++;
  pthread_cond_broadcast(&g->cv);
  while (g->state == 0)
    pthread_cond_wait(&g->cv, &g->mu);
  go = g->state > 0;
  pthread_mutex_unlock(&g->mu);
  return go;
}

static void gate_await(gate_t *g, size_t n)
{
  pthread_mutex_lock(&g->mu);
  while (g->arrived < n)
    pthread_cond_wait(&g->cv, &g->mu);
  pthread_mutex_unlock(&g->mu);
}

static void gate_open(gate_t *g, int state)
{
  pthread_mutex_lock(&g->mu);
  g->state = state;
  pthread_cond_broadcast(&g->cv);
  pthread_mutex_unlock(&g->mu);
}

typedef struct job {
  const bench_t *b;
  const bcase_t *c;
  int round;
  size_t t;            /* thread number */
  client_t cl;
  gate_t *gate;
  uint64_t *lat;       /* this thread's slice of the latency array */
  size_t first, n;     /* its keys: first .. first + n - 1 */
  int64_t t_end;
  int64_t wait0, wait1; /* run-queue wait (ns) around the timed loop */
  long errors, warm_errors;
} job_t;

static void make_op(const job_t *j, size_t i, int warm, op_t *op,
                    char *key)
{
  const bcase_t *c = j->c;
  const readset_t *rd = &j->b->rd;
  size_t k = j->first + i;

  memset(op, 0, sizeof *op);
  op->vlen = c->size;
  if (c->mode->kind == K_SET) {
    op->klen = warm ? warm_key(key, c->id, j->t, i)
                    : case_key(key, c->id, j->round, k);
    op->key = key;
    op->value = j->b->value;
  } else if (c->mode->kind == K_GET) {
    op->key = rd->keys[k % READ_KEYS];
    op->klen = rd->lens[k % READ_KEYS];
  } else {
    size_t batch = k % (READ_KEYS / MGET_KEYS);
    op->keys = rd->keys + batch * MGET_KEYS;
    op->lens = rd->lens + batch * MGET_KEYS;
    op->nkeys = MGET_KEYS;
  }
}

/* The calling thread's time spent runnable but waiting for a CPU (ns),
 * from schedstat; -1 when the kernel does not keep it. A caller delayed
 * by another thread of its own CPU (the library's sender, or anything
 * else runnable there) waits here, not for the server. */
static int64_t thread_wait_ns(void)
{
  int64_t run, wait;

  return schedstat_read("/proc/thread-self/schedstat", &run, &wait) == 0
             ? wait : -1;
}

static void *worker_main(void *arg)
{
  job_t *j = arg;
  op_fn fn = j->c->mode->op;
  char key[KEY_BUF];
  op_t op;

  for (size_t i = 0; i < j->c->warm; i++) {
    make_op(j, i, 1, &op, key);
    j->warm_errors += !fn(&j->cl, &op);
  }
  if (!gate_pass(j->gate))
    return NULL;
  j->wait0 = thread_wait_ns();
  for (size_t i = 0; i < j->n; i++) {
    int64_t t0;
    int ok;
    make_op(j, i, 0, &op, key);
    t0 = now_ns();
    ok = fn(&j->cl, &op);
    j->lat[i] = (uint64_t)(now_ns() - t0);
    j->errors += !ok;
  }
  j->t_end = now_ns();
  j->wait1 = thread_wait_ns();
  return NULL;
}

/* Faults on the slave --------------------------------------------------- */

static int fault_inject(bench_t *b, fault_t f)
{
  server_t *s = &b->srv[1];

  if (f == FAULT_STOP)
    return kill(s->pid, SIGSTOP) == 0 ? wait_stopped(s->pid) : -1;
  if (f == FAULT_KILL)
    server_kill(s);
  return 0;
}

/* *back: when the slave could work again. Read before SIGCONT: waking
 * the slave may preempt us for as long as the whole drain takes. */
static int fault_recover(bench_t *b, fault_t f, int64_t *back)
{
  server_t *s = &b->srv[1];
  int rc = 0;

  *back = now_ns();
  if (f == FAULT_STOP)
    rc = kill(s->pid, SIGCONT);
  else if (f == FAULT_KILL) {
    rc = server_restart(s);
    *back = now_ns();
  }
  return rc;
}

/* One case in one round ------------------------------------------------- */

typedef struct run {
  bench_t *b;
  bcase_t *c;
  int round;
  result_t *r;
  mcrepl_t *m;
  job_t *jobs;
  pthread_t *tids;
  size_t started;
  gate_t gate;
  mcrepl_pair_stats_t st0, st1, st2;
  int64_t t0, t1, t_back, t_drained;
  int64_t cpu0[3], cpu1[3]; /* this process, master, slave */
} run_t;

static void case_note(const run_t *x, const char *what)
{
  char label[96];

  case_label(x->c, label, sizeof label);
  note(x->b, "round %d, %s: %s", x->round + 1, label, what);
}

/* Something did not run as it should: the exit status says so. */
static void fail(run_t *x, const char *what)
{
  case_note(x, what);
  x->b->failures++;
}

static int preload_reads(const bench_t *b, size_t size)
{
  memcached_st *mc = mc_new(&b->srv[0], 1, 0);
  int ok = mc != NULL;

  for (size_t i = 0; ok && i < READ_KEYS; i++)
    ok = memcached_success(memcached_set(mc, b->rd.keys[i], b->rd.lens[i],
                                         b->value, size, 0, 0));
  memcached_free(mc);
  return ok ? 0 : -1;
}

static void split_jobs(run_t *x)
{
  size_t t = x->c->threads, per = x->c->ops / t, extra = x->c->ops % t;
  size_t first = 0;

  for (size_t i = 0; i < t; i++) {
    job_t *j = &x->jobs[i];
    j->b = x->b;
    j->c = x->c;
    j->round = x->round;
    j->t = i;
    j->gate = &x->gate;
    j->first = first;
    j->n = per + (i < extra);
    j->lat = x->b->lat + first;
    first += j->n;
  }
}

static int run_setup(run_t *x)
{
  bench_t *b = x->b;
  size_t t = x->c->threads;
  char err[256] = "";

  x->jobs = calloc(t, sizeof *x->jobs);
  x->tids = calloc(t, sizeof *x->tids);
  if (!x->jobs || !x->tids)
    return -1;
  if (x->c->mode->client == CL_MCREPL) {
    x->m = mcrepl_create(b->config, err, sizeof err);
    if (!x->m) {
      note(b, "mcrepl_create: %s", err);
      return -1;
    }
  }
  split_jobs(x);
  for (size_t i = 0; i < t; i++)
    if (client_open(&x->jobs[i].cl, b, x->c->mode, x->m) != 0)
      return -1;
  return 0;
}

static int pair_stats(mcrepl_t *m, mcrepl_pair_stats_t *st)
{
  memset(st, 0, sizeof *st);
  return m && mcrepl_pair_stats(m, 0, st, sizeof *st) == MCREPL_SUCCESS
             ? 0 : -1;
}

/* Between the warm-up and the timed loop: the queue is empty, the fault
 * (if any) is in place. */
static void run_arm(run_t *x)
{
  if (x->m && mcrepl_wait_replicated(x->m, SETTLE_TIMEOUT_MS) ==
                  MCREPL_TIMEOUT)
    fail(x, "the warm-up did not replicate");
  pair_stats(x->m, &x->st0);
  if (fault_inject(x->b, x->c->mode->fault) != 0)
    fail(x, "could not stop or kill the slave");
  x->cpu0[1] = server_cpu_ns(x->b->srv[0].pid);
  x->cpu0[2] = server_cpu_ns(x->b->srv[1].pid);
  x->cpu0[0] = self_cpu_ns();
}

static void cpu_figures(run_t *x)
{
  pid_t slave = x->b->srv[1].pid;
  double ops = (double)x->c->ops;
  result_t *r = x->r;

  x->cpu1[0] = self_cpu_ns();
  x->cpu1[1] = server_cpu_ns(x->b->srv[0].pid);
  /* A restarted slave is another process: its time is not comparable. */
  x->cpu1[2] = x->c->mode->fault == FAULT_KILL ? -1 : server_cpu_ns(slave);
  r->cpu_client_us = (double)(x->cpu1[0] - x->cpu0[0]) / 1e3 / ops;
  if (x->cpu0[1] >= 0 && x->cpu1[1] >= 0)
    r->cpu_master_us = (double)(x->cpu1[1] - x->cpu0[1]) / 1e3 / ops;
  if (x->cpu0[2] >= 0 && x->cpu1[2] >= 0)
    r->cpu_slave_us = (double)(x->cpu1[2] - x->cpu0[2]) / 1e3 / ops;
}

static int run_threads(run_t *x)
{
  size_t t = x->c->threads;

  for (x->started = 0; x->started < t; x->started++)
    if (pthread_create(&x->tids[x->started], NULL, worker_main,
                       &x->jobs[x->started]) != 0) {
      gate_open(&x->gate, -1); /* run_teardown joins those started */
      return -1;
    }
  gate_await(&x->gate, t);
  run_arm(x);
  x->t0 = now_ns();
  gate_open(&x->gate, 1);
  for (size_t i = 0; i < t; i++)
    pthread_join(x->tids[i], NULL);
  x->started = 0;
  x->t1 = x->t0;
  for (size_t i = 0; i < t; i++)
    if (x->jobs[i].t_end > x->t1)
      x->t1 = x->jobs[i].t_end;
  return 0;
}

static void run_caller_figures(run_t *x)
{
  result_t *r = x->r;
  long errors = 0, warm_errors = 0;
  int64_t wait = 0;

  for (size_t i = 0; i < x->c->threads; i++) {
    const job_t *j = &x->jobs[i];
    errors += j->errors;
    warm_errors += j->warm_errors;
    wait = wait < 0 || j->wait0 < 0 || j->wait1 < 0
               ? -1 : wait + (j->wait1 - j->wait0);
  }
  if (wait >= 0)
    r->wait_us = (double)wait / 1e3 / (double)x->c->ops;
  r->ops = (double)x->c->ops;
  r->secs = (double)(x->t1 - x->t0) / 1e9;
  r->ops_s = r->ops / r->secs;
  r->errors = (double)errors;
  latency_summary(x->c, x->b->lat, x->c->ops, r);
  if (errors || warm_errors)
    fail(x, "some operations failed");
}

/* The sender's side: how long the queue took to drain once the caller
 * stopped (and the slave was back), at what rate, and the lag. */
static void run_drain(run_t *x)
{
  result_t *r = x->r;
  mcrepl_return_t rc;
  double drain_s, round_s;

  pair_stats(x->m, &x->st1);
  if (fault_recover(x->b, x->c->mode->fault, &x->t_back) != 0)
    fail(x, "could not resume or restart the slave");
  if (x->c->mode->fault == FAULT_NONE)
    x->t_back = x->t1;
  rc = mcrepl_wait_replicated(x->m, DRAIN_TIMEOUT_MS);
  x->t_drained = now_ns();
  if (rc == MCREPL_TIMEOUT)
    fail(x, "the slave did not catch up in time");
  pair_stats(x->m, &x->st2);
  x->b->queue_bound = (double)x->st2.queue_bytes_max;
  drain_s = (double)(x->t_drained - x->t_back) / 1e9;
  round_s = (double)(x->t_drained - x->t0) / 1e9;
  r->drain_ms = drain_s * 1e3;
  r->backlog = (double)x->st1.queue_items;
  r->drain_rate = x->st1.queue_items >= DRAIN_MIN_BACKLOG && drain_s > 0
                      ? r->backlog / drain_s : NAN;
  r->sender_rate = (double)(x->st2.replicated - x->st0.replicated) / round_s;
  if (x->st2.batches > x->st0.batches)
    r->batch_items = (double)(x->st2.replicated - x->st0.replicated) /
                     (double)(x->st2.batches - x->st0.batches);
  r->lag50_us = (double)x->st2.lag_p50_us;
  r->lag99_us = (double)x->st2.lag_p99_us;
  r->lagmax_us = (double)x->st2.lag_max_us;
  /* The handle is the case's own, so its samples are the case's. */
  if (x->st2.replicated > 0)
    r->lag_read_pct = 100.0 * (double)x->st2.lag_read_timed /
                      (double)x->st2.replicated;
  r->dropped = (double)(x->st2.dropped - x->st0.dropped);
  r->paced = (double)(x->st2.paced - x->st0.paced);
  r->dirty = x->st2.dirty || rc == MCREPL_SLAVE_DIRTY;
}

/* Whether every key of the round must be on the slave: always for the
 * healthy modes; with a faulty slave, when the round fits in the queue
 * (beyond it, dropping is the documented behaviour). */
static int must_be_complete(const run_t *x)
{
  const bcase_t *c = x->c;
  double need;

  if (!(c->mode->flags & M_SLAVE))
    return 0;
  if (c->mode->fault == FAULT_NONE)
    return 1;
  need = (double)c->ops *
         (double)(QUEUE_ENTRY_OVERHEAD + KEY_BUF / 2 + c->size);
  return need <= 0.9 * (double)x->st2.queue_bytes_max;
}

static void run_verify(run_t *x)
{
  const bcase_t *c = x->c;
  unsigned char *pm = calloc(c->ops, 1), *ps = calloc(c->ops, 1);
  size_t nm = 0, ns = 0, nb = 0;
  result_t *r = x->r;
  char msg[160];

  if (!pm || !ps || presence(&x->b->srv[0], c, x->round, pm) != 0 ||
      presence(&x->b->srv[1], c, x->round, ps) != 0) {
    fail(x, "could not count the keys on the servers");
    free(pm);
    free(ps);
    return;
  }
  for (size_t i = 0; i < c->ops; i++) {
    nm += pm[i];
    ns += ps[i];
    nb += pm[i] && ps[i];
  }
  free(pm);
  free(ps);
  r->keys = (double)c->ops;
  r->master_keys = (double)nm;
  r->slave_keys = (double)ns;
  r->both_keys = (double)nb;
  if (c->mode->flags & M_SLAVE)
    r->complete = ns == c->ops;
  else if (c->mode->flags & M_BOTH)
    r->complete = nb == c->ops;
  if (r->complete == 0 && must_be_complete(x)) {
    snprintf(msg, sizeof msg, "the slave holds %zu of the %zu keys written",
             ns, c->ops);
    case_note(x, msg);
    x->b->incomplete++;
  }
}

static void run_teardown(run_t *x)
{
  for (size_t i = 0; i < x->started; i++)
    pthread_join(x->tids[i], NULL);
  for (size_t i = 0; x->jobs && i < x->c->threads; i++)
    client_close(&x->jobs[i].cl);
  mcrepl_destroy(x->m);
  x->m = NULL;
  free(x->jobs);
  free(x->tids);
}

static void run_flush_replicas(run_t *x)
{
  /* libmemcached leaves its quiet replica writes in the client's buffer;
   * an application's next call would send them: send them now. */
  for (size_t i = 0; i < x->c->threads; i++)
    if (x->jobs[i].cl.mc)
      memcached_flush_buffers(x->jobs[i].cl.mc);
}

static int run_prepare(run_t *x)
{
  bench_t *b = x->b;

  if (raw_flush(&b->srv[0]) != 0 || raw_flush(&b->srv[1]) != 0) {
    fail(x, "flush_all failed");
    return -1;
  }
  if (x->c->mode->kind != K_SET && preload_reads(b, x->c->size) != 0) {
    fail(x, "could not write the keys to read");
    return -1;
  }
  return 0;
}

static void run_case(bench_t *b, bcase_t *c, int round)
{
  run_t x = {.b = b, .c = c, .round = round, .r = &c->r[round],
             .gate = GATE_INIT};
  int ok;

  result_clear(x.r);
  progress(b, c, round);
  if (run_prepare(&x) != 0)
    return;
  mem_begin(b, x.r);
  ok = run_setup(&x) == 0;
  if (!ok)
    fail(&x, "could not set up the clients");
  if (ok && run_threads(&x) != 0) {
    fail(&x, "could not start the threads");
    ok = 0;
  }
  if (ok) {
    /* The drain is timed from the caller's last op: before anything
     * else, even sorting latencies. */
    if (x.m)
      run_drain(&x);
    run_flush_replicas(&x);
    cpu_figures(&x);
    run_caller_figures(&x);
    if (c->mode->kind == K_SET)
      run_verify(&x);
    c->ran++;
  }
  run_teardown(&x);
  mem_end(b, x.r);
}

/* Cases ----------------------------------------------------------------- */

static size_t case_ops(const opts_t *o, const bmode_t *m, size_t size)
{
  size_t per_op = (size + ITEM_OVERHEAD) *
                  (m->kind == K_MGET ? MGET_KEYS : 1);
  size_t ops = o->ops / (m->kind == K_MGET ? MGET_OPS_DIV : 1);
  size_t cap = o->budget / (per_op ? per_op : 1);

  if (ops > cap)
    ops = cap;
  return ops < MIN_OPS ? MIN_OPS : ops;
}

static int fits_group(const bench_t *b, const bmode_t *m, int reads,
                      size_t threads)
{
  if (!b->o.selected[m - MODES] || (m->kind != K_SET) != reads)
    return 0;
  if (threads > 1 && !(m->flags & M_THREADS))
    return 0;
  return !(m->flags & M_OWN) || b->own;
}

static long find_in_group(const bench_t *b, const group_t *g,
                          const char *mode)
{
  for (size_t i = g->first; i < g->first + g->n; i++)
    if (strcmp(b->cases[i].mode->name, mode) == 0)
      return (long)i;
  return -1;
}

static int add_case(bench_t *b, const bmode_t *m, size_t size,
                    size_t threads)
{
  bcase_t *c = &b->cases[b->ncases];
  size_t warm;

  memset(c, 0, sizeof *c);
  c->mode = m;
  c->id = b->ncases;
  c->size = size;
  c->threads = threads;
  c->ops = case_ops(&b->o, m, size);
  if (c->ops < threads)
    c->ops = threads;
  warm = c->ops / 10 > WARMUP_MAX ? WARMUP_MAX : c->ops / 10;
  c->warm = (warm < WARMUP_MIN ? WARMUP_MIN : warm) / threads + 1;
  c->group = b->ngroups;
  c->r = calloc((size_t)b->o.rounds, sizeof *c->r);
  if (!c->r)
    return -1;
  /* A round that never runs (a failed restart) shows as not measured. */
  for (int r = 0; r < b->o.rounds; r++)
    result_clear(&c->r[r]);
  b->ncases++;
  return 0;
}

static int add_group(bench_t *b, size_t size, size_t threads, int reads)
{
  group_t *g = &b->groups[b->ngroups];

  g->first = b->ncases;
  for (size_t i = 0; i < NMODES; i++)
    if (fits_group(b, &MODES[i], reads, threads) &&
        add_case(b, &MODES[i], size, threads) != 0)
      return -1;
  g->n = b->ncases - g->first;
  if (g->n == 0)
    return 0;
  for (size_t i = g->first; i < b->ncases; i++) {
    bcase_t *c = &b->cases[i];
    c->base = find_in_group(b, g, c->mode->base);
    c->healthy = c->mode->fault != FAULT_NONE
                     ? find_in_group(b, g, "mcrepl") : -1;
  }
  b->ngroups++;
  return 0;
}

static int build_cases(bench_t *b)
{
  const opts_t *o = &b->o;
  size_t max = o->nsizes * o->nthreads * NMODES;

  b->cases = calloc(max, sizeof *b->cases);
  b->groups = calloc(o->nsizes * o->nthreads * 2, sizeof *b->groups);
  if (!b->cases || !b->groups)
    return -1;
  for (size_t s = 0; s < o->nsizes; s++)
    for (size_t t = 0; t < o->nthreads; t++)
      for (int reads = 0; reads < 2; reads++)
        if (add_group(b, o->sizes[s], o->threads[t], reads) != 0)
          return -1;
  return b->ncases > 0 ? 0 : -1;
}

static void free_cases(bench_t *b)
{
  for (size_t i = 0; i < b->ncases; i++)
    free(b->cases[i].r);
  free(b->cases);
  free(b->groups);
}

/* Runs and summaries ---------------------------------------------------- */

/* Slabs are carved on first use: fill both servers once with this size
 * so that the first mode of round 1 does not pay for it. */
static void warm_servers(bench_t *b, size_t size)
{
  size_t n = b->o.budget / size;

  n = n > b->o.ops ? b->o.ops : n;
  for (size_t s = 0; s < 2; s++) {
    memcached_st *mc = mc_new(&b->srv[s], 1, 0);
    char key[KEY_BUF];
    for (size_t i = 0; mc && i < n; i++) {
      size_t kl = (size_t)snprintf(key, sizeof key, "mcx:%zu:%zu", size, i);
      memcached_set(mc, key, kl, b->value, size, 0, 0);
    }
    memcached_free(mc);
    raw_flush(&b->srv[s]);
  }
}

/* A server whose memory earlier sizes shaped is slow and erratic for
 * the next one, for every mode and plain alike: its slab pages stay
 * with the size class that took them, and a flush does not give them
 * back at once (at 256 KiB after 4 KiB, rounds from 0.16x to 0.77x of
 * plain). That is memcached's cost, not replication's, so each value
 * size starts on servers of its own. */
static int fresh_servers(bench_t *b, size_t size, int first)
{
  if (b->own && !first &&
      (server_restart(&b->srv[0]) != 0 || server_restart(&b->srv[1]) != 0)) {
    note(b, "could not restart the servers for %zu-byte values", size);
    return -1;
  }
  warm_servers(b, size);
  return 0;
}

/* One value size after the other; within it, round by round, the modes
 * of a group take turns going first. */
static void run_all(bench_t *b)
{
  size_t g0 = 0;

  b->total = b->ncases * (size_t)b->o.rounds;
  b->t_start = now_ns();
  while (g0 < b->ngroups) {
    size_t size = b->cases[b->groups[g0].first].size, g1 = g0;
    while (g1 < b->ngroups && b->cases[b->groups[g1].first].size == size)
      g1++;
    if (fresh_servers(b, size, g0 == 0) != 0) {
      b->failures++;
      break;
    }
    for (int r = 0; r < b->o.rounds; r++)
      for (size_t g = g0; g < g1; g++) {
        const group_t *gr = &b->groups[g];
        for (size_t k = 0; k < gr->n; k++, b->done++)
          run_case(b, &b->cases[gr->first + (k + (size_t)r) % gr->n], r);
      }
    g0 = g1;
  }
  progress_clear(b);
}

static void ratios(bench_t *b, bcase_t *c, int r)
{
  result_t *x = &c->r[r];

  if (c->base >= 0) {
    const result_t *base = &b->cases[c->base].r[r];
    x->ratio_ops = x->ops_s / base->ops_s;
    x->ratio_p99 = x->p99_us / base->p99_us;
    if (c->mode->kind == K_SET)
      x->rss_vs_plain_kib = x->peak_kib - base->peak_kib;
  }
  if (c->healthy >= 0)
    x->ratio_healthy = x->ops_s / b->cases[c->healthy].r[r].ops_s;
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;

  return (x > y) - (x < y);
}

static double median_sorted(const double *v, size_t n)
{
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The median over rounds of a's figure at offset fa over o's at fo: as
 * every ratio here, taken within each round, so that a round the
 * machine slowed for both modes does not count against one of them. */
static double round_ratio(const bench_t *b, const bcase_t *a, size_t fa,
                          const bcase_t *o, size_t fo)
{
  double v[MAX_ROUNDS];
  size_t n = 0;

  for (int r = 0; r < b->o.rounds; r++) {
    double x = *(const double *)((const char *)&a->r[r] + fa);
    double y = *(const double *)((const char *)&o->r[r] + fo);
    if (!isnan(x) && !isnan(y) && y > 0)
      v[n++] = x / y;
  }
  if (n == 0)
    return NAN;
  qsort(v, n, sizeof *v, cmp_double);
  return median_sorted(v, n);
}

static double aggregate(const bcase_t *c, size_t f, int rounds)
{
  double v[MAX_ROUNDS], acc;
  size_t n = 0;

  for (int r = 0; r < rounds; r++) {
    double d = *fld((result_t *)&c->r[r], f);
    if (!isnan(d))
      v[n++] = d;
  }
  if (n == 0)
    return NAN;
  qsort(v, n, sizeof *v, cmp_double);
  switch (FIELDS[f].agg) {
  case AGG_MIN: return v[0];
  case AGG_MAX: return v[n - 1];
  case AGG_SUM:
    acc = 0;
    for (size_t i = 0; i < n; i++)
      acc += v[i];
    return acc;
  default:
    return median_sorted(v, n);
  }
}

static void summarise(bench_t *b)
{
  for (size_t i = 0; i < b->ncases; i++)
    for (int r = 0; r < b->o.rounds; r++)
      ratios(b, &b->cases[i], r);
  for (size_t i = 0; i < b->ncases; i++)
    for (size_t f = 0; f < NFIELDS; f++)
      *fld(&b->cases[i].med, f) = aggregate(&b->cases[i], f, b->o.rounds);
}

/* Targets --------------------------------------------------------------- */

typedef enum { T_NA, T_PASS, T_MISS } verdict_t;

typedef struct target {
  const char *name;
  verdict_t v;
  char detail[200];
} target_t;

#define MAX_TARGETS 16

typedef struct targets {
  target_t t[MAX_TARGETS];
  size_t n;
} targets_t;

static const bcase_t *find_case(const bench_t *b, const char *mode,
                                size_t size, size_t threads)
{
  for (size_t i = 0; i < b->ncases; i++) {
    const bcase_t *c = &b->cases[i];
    if (strcmp(c->mode->name, mode) == 0 && c->size == size &&
        c->threads == threads && c->ran)
      return c;
  }
  return NULL;
}

static target_t *target_add(targets_t *ts, const char *name, int known,
                            int pass)
{
  target_t *t = &ts->t[ts->n++];

  t->name = name;
  t->v = !known ? T_NA : pass ? T_PASS : T_MISS;
  snprintf(t->detail, sizeof t->detail, "not measured");
  return t;
}

/* The headline: the smallest value, one thread. */
static size_t head_size(const bench_t *b)
{
  size_t s = b->o.sizes[0];

  for (size_t i = 1; i < b->o.nsizes; i++)
    s = b->o.sizes[i] < s ? b->o.sizes[i] : s;
  return s;
}

static void target_set_speed(const bench_t *b, targets_t *ts, size_t z)
{
  const bcase_t *m = find_case(b, "mcrepl", z, 1);
  const bcase_t *p = find_case(b, "plain", z, 1);
  int k = m && p;
  target_t *t;

  t = target_add(ts, "mcrepl set throughput >= 0.95x plain", k,
                 k && m->med.ratio_ops >= 0.95);
  if (k)
    snprintf(t->detail, sizeof t->detail, "%.3fx (%.0f vs %.0f ops/s)",
             m->med.ratio_ops, m->med.ops_s, p->med.ops_s);
  t = target_add(ts, "mcrepl set p99 <= 1.1x plain", k,
                 k && m->med.ratio_p99 <= 1.1);
  if (k)
    snprintf(t->detail, sizeof t->detail, "%.3fx (%.1f vs %.1f us)",
             m->med.ratio_p99, m->med.p99_us, p->med.p99_us);
}

static void target_lag(const bench_t *b, targets_t *ts, size_t z)
{
  const bcase_t *m = find_case(b, "mcrepl", z, 1);
  int k = m && !isnan(m->med.lag99_us);
  target_t *t = target_add(ts, "replication lag p99 < 2 ms", k,
                           k && m->med.lag99_us < 2000);

  if (k)
    snprintf(t->detail, sizeof t->detail,
             "p99 %.0f us (p50 %.0f us; %.0f%% timed at the read)",
             m->med.lag99_us, m->med.lag50_us, m->med.lag_read_pct);
}

/* The sender's capacity shows when it has a backlog: after a stopped
 * slave resumes, or when the caller outran it. */
static void target_drain(const bench_t *b, targets_t *ts, size_t z)
{
  const bcase_t *m = find_case(b, "mcrepl", z, 1);
  const bcase_t *s = find_case(b, "mcrepl-slave-stopped", z, 1);
  const bcase_t *src = s && !isnan(s->med.drain_rate) ? s : m;
  double ratio = m && src ? round_ratio(b, src, offsetof(result_t,
                                                          drain_rate),
                                        m, offsetof(result_t, ops_s))
                          : NAN;
  int k = !isnan(ratio);
  target_t *t = target_add(ts, "sender drain rate >= 3x caller rate", k,
                           k && ratio >= 3);

  if (k)
    snprintf(t->detail, sizeof t->detail,
             "%.2fx (%.0f items/s draining %.0f queued after %s, caller "
             "%.0f ops/s)", ratio, src->med.drain_rate, src->med.backlog,
             src == s ? "SIGCONT" : "the loop", m->med.ops_s);
  else if (m)
    snprintf(t->detail, sizeof t->detail,
             "no backlog to measure: the sender kept up (median backlog "
             "%.0f)", m->med.backlog);
}

static void target_threads(const bench_t *b, targets_t *ts, size_t z,
                           size_t n)
{
  static const char *names[] = {
      "2 threads sharing one handle >= 0.9x own-handle plain",
      "4 threads sharing one handle >= 0.9x own-handle plain"};
  const bcase_t *m = find_case(b, "mcrepl", z, n);
  const bcase_t *p = find_case(b, "plain", z, n);
  int k = m && p;
  target_t *t = target_add(ts, names[n == 4], k,
                           k && m->med.ratio_ops >= 0.9);

  if (k)
    snprintf(t->detail, sizeof t->detail, "%.3fx (%.0f vs %.0f ops/s)",
             m->med.ratio_ops, m->med.ops_s, p->med.ops_s);
}

static void target_fault(const bench_t *b, targets_t *ts, size_t z,
                         const char *mode, const char *name)
{
  const bcase_t *f = find_case(b, mode, z, 1);
  int k = f && !isnan(f->med.ratio_healthy);
  target_t *t = target_add(ts, name, k, k && f->med.ratio_healthy >= 0.95);

  if (k)
    snprintf(t->detail, sizeof t->detail, "%.3fx healthy (%.0f ops/s)",
             f->med.ratio_healthy, f->med.ops_s);
  else if (!b->own)
    snprintf(t->detail, sizeof t->detail, "skipped: servers not ours");
}

/* Over every mcrepl mode and size: the worst. */
static void target_rss(const bench_t *b, targets_t *ts)
{
  double worst = NAN, bound = NAN;
  const bcase_t *w = NULL;
  char label[96];
  target_t *t;

  for (size_t i = 0; i < b->ncases; i++) {
    const bcase_t *c = &b->cases[i];
    if (c->mode->client != CL_MCREPL || c->mode->kind != K_SET ||
        isnan(c->med.rss_vs_plain_kib))
      continue;
    if (w == NULL || c->med.rss_vs_plain_kib > worst) {
      worst = c->med.rss_vs_plain_kib;
      w = c;
    }
  }
  bound = b->queue_bound / 1024.0 + 4096.0;
  t = target_add(ts, "peak RSS above plain <= queue bound + 4 MiB", w != NULL,
                 w && worst <= bound);
  if (w) {
    case_label(w, label, sizeof label);
    snprintf(t->detail, sizeof t->detail,
             "worst %+.1f MiB (%s), bound %.1f MiB", worst / 1024.0, label,
             bound / 1024.0);
  }
}

static void target_beats(const bench_t *b, targets_t *ts, size_t z,
                         const char *rival, const char *name)
{
  const bcase_t *m = find_case(b, "mcrepl", z, 1);
  const bcase_t *o = find_case(b, rival, z, 1);
  double ratio = m && o ? round_ratio(b, m, offsetof(result_t, ops_s), o,
                                      offsetof(result_t, ops_s))
                        : NAN;
  int k = !isnan(ratio);
  target_t *t = target_add(ts, name, k,
                           k && ratio > 1 && m->med.complete == 1);

  if (k)
    snprintf(t->detail, sizeof t->detail,
             "%.3fx (%.0f vs %.0f ops/s); slave complete: mcrepl %s, %s "
             "%.0f/%.0f keys on both", ratio, m->med.ops_s, o->med.ops_s,
             m->med.complete == 1 ? "yes" : "NO", rival, o->med.both_keys,
             o->med.keys);
}

static void evaluate(const bench_t *b, targets_t *ts)
{
  size_t z = head_size(b);

  ts->n = 0;
  target_set_speed(b, ts, z);
  target_lag(b, ts, z);
  target_drain(b, ts, z);
  target_threads(b, ts, z, 2);
  target_threads(b, ts, z, 4);
  target_fault(b, ts, z, "mcrepl-slave-stopped",
               "slave stopped: throughput >= 0.95x healthy");
  target_fault(b, ts, z, "mcrepl-slave-dead",
               "slave dead: throughput >= 0.95x healthy");
  target_rss(b, ts);
  target_beats(b, ts, z, "libmemcached-replicas",
               "mcrepl beats libmemcached-replicas, slave complete");
  target_beats(b, ts, z, "write-through",
               "mcrepl beats write-through, slave complete");
}

/* The terminal table ---------------------------------------------------- */

static void cell(FILE *f, int width, int prec, double v)
{
  if (isnan(v) || isinf(v))
    fprintf(f, " %*s", width, "-");
  else
    fprintf(f, " %*.*f", width, prec, v);
}

static void row_head(FILE *f, const bcase_t *c)
{
  char sz[24];

  fmt_size(c->size, sz, sizeof sz);
  fprintf(f, "%-22s %7s %3zu", c->mode->name, sz, c->threads);
}

/* How far the per-round ratios spread: on a noisy machine a median
 * alone hides whether the rounds agreed. */
static void ratio_range(FILE *f, const bench_t *b, const bcase_t *c)
{
  double lo = NAN, hi = NAN;
  char buf[32];

  for (int r = 0; r < b->o.rounds; r++) {
    double v = c->r[r].ratio_ops;
    if (isnan(v))
      continue;
    lo = isnan(lo) || v < lo ? v : lo;
    hi = isnan(hi) || v > hi ? v : hi;
  }
  if (isnan(lo))
    snprintf(buf, sizeof buf, "-");
  else
    snprintf(buf, sizeof buf, "%.2f-%.2f", lo, hi);
  fprintf(f, " %11s", buf);
}

static void table_caller(FILE *f, const bench_t *b)
{
  fprintf(f, "\nCaller (medians over rounds; x base: median of the per-round"
             " ratio to the mode's\nbaseline, rounds: the lowest and highest "
             "of those ratios)\n");
  fprintf(f, "%-22s %7s %3s %6s %9s %7s %11s %8s %8s %8s %7s\n", "mode",
          "size", "thr", "ops", "ops/s", "x base", "rounds", "p50 us",
          "p99 us", "p99.9 us", "x p99");
  for (size_t i = 0; i < b->ncases; i++) {
    const result_t *m = &b->cases[i].med;
    row_head(f, &b->cases[i]);
    cell(f, 6, 0, m->ops);
    cell(f, 9, 0, m->ops_s);
    cell(f, 7, 3, m->ratio_ops);
    ratio_range(f, b, &b->cases[i]);
    cell(f, 8, 1, m->p50_us);
    cell(f, 8, 1, m->p99_us);
    cell(f, 8, 1, m->p999_us);
    cell(f, 7, 3, m->ratio_p99);
    fputc('\n', f);
  }
}

static void table_repl(FILE *f, const bench_t *b)
{
  fprintf(f, "\nReplication (lag in us; at read: %% of the lag samples "
             "timed when read, not\nwhen the kernel stamped their arrival: "
             "upper bounds; drain: from the\ncaller's end, or the slave's "
             "return, until mcrepl_wait_replicated; /batch:\nitems per "
             "pipeline; slave keys: the fewest of any round; for replicas,"
             "\nkeys on both servers)\n");
  fprintf(f, "%-22s %7s %3s %8s %8s %7s %8s %7s %9s %9s %6s %13s %5s %5s"
             " %5s\n",
          "mode", "size", "thr", "lag p50", "lag p99", "at read", "drain ms",
          "backlog", "drain/s", "sender/s", "/batch", "slave keys", "drop",
          "paced", "dirty");
  for (size_t i = 0; i < b->ncases; i++) {
    const bcase_t *c = &b->cases[i];
    const result_t *m = &c->med;
    char keys[32];
    double have = c->mode->flags & M_BOTH ? m->both_keys : m->slave_keys;
    if (!(c->mode->flags & (M_SLAVE | M_BOTH)))
      continue;
    row_head(f, c);
    cell(f, 8, 0, m->lag50_us);
    cell(f, 8, 0, m->lag99_us);
    cell(f, 7, 0, m->lag_read_pct);
    cell(f, 8, 1, m->drain_ms);
    cell(f, 7, 0, m->backlog);
    cell(f, 9, 0, m->drain_rate);
    cell(f, 9, 0, m->sender_rate);
    cell(f, 6, 1, m->batch_items);
    snprintf(keys, sizeof keys, "%.0f/%.0f", have, m->keys);
    fprintf(f, " %13s", isnan(have) ? "-" : keys);
    cell(f, 5, 0, m->dropped);
    cell(f, 5, 0, m->paced);
    fprintf(f, " %5s\n", isnan(m->dirty) ? "-" : m->dirty ? "yes" : "no");
  }
}

static void table_memory(FILE *f, const bench_t *b)
{
  fprintf(f, "\nMemory, MiB (peak: VmHWM reset at each mode's start, minus "
             "VmRSS then; maxrss: process-wide)\n");
  fprintf(f, "%-22s %7s %3s %10s %10s %8s %10s %8s\n", "mode", "size", "thr",
          "RSS before", "RSS after", "peak +", "vs base +", "maxrss");
  for (size_t i = 0; i < b->ncases; i++) {
    const result_t *m = &b->cases[i].med;
    row_head(f, &b->cases[i]);
    cell(f, 10, 1, m->rss_before_kib / 1024);
    cell(f, 10, 1, m->rss_after_kib / 1024);
    cell(f, 8, 1, m->peak_kib / 1024);
    cell(f, 10, 1, m->rss_vs_plain_kib / 1024);
    cell(f, 8, 1, m->maxrss_kib / 1024);
    fputc('\n', f);
  }
}

static void table_cpu(FILE *f, const bench_t *b)
{
  fprintf(f, "\nCPU time per op, us (client: this process, callers and "
             "library threads;\nservers: all their threads; in a VM it "
             "includes the exits that cross-CPU\nwake-ups cost; "
             "waits: the callers' time runnable, waiting for a CPU)\n");
  fprintf(f, "%-22s %7s %3s %8s %8s %8s %8s %8s\n", "mode", "size", "thr",
          "client", "master", "slave", "total", "waits");
  for (size_t i = 0; i < b->ncases; i++) {
    const result_t *m = &b->cases[i].med;
    double slave = isnan(m->cpu_slave_us) ? 0 : m->cpu_slave_us;
    row_head(f, &b->cases[i]);
    cell(f, 8, 2, m->cpu_client_us);
    cell(f, 8, 2, m->cpu_master_us);
    cell(f, 8, 2, m->cpu_slave_us);
    cell(f, 8, 2, m->cpu_client_us + m->cpu_master_us + slave);
    cell(f, 8, 2, m->wait_us);
    fputc('\n', f);
  }
}

static const char *verdict_name(verdict_t v)
{
  return v == T_PASS ? "PASS" : v == T_MISS ? "MISS" : "n/a";
}

static void table_targets(FILE *f, const bench_t *b, const targets_t *ts)
{
  char sz[24];

  fmt_size(head_size(b), sz, sizeof sz);
  fprintf(f, "\nTargets (informational; %s values, 1 thread unless said)\n",
          sz);
  for (size_t i = 0; i < ts->n; i++)
    fprintf(f, "  %-4s  %-52s %s\n", verdict_name(ts->t[i].v),
            ts->t[i].name, ts->t[i].detail);
}

static void print_setup(FILE *f, const bench_t *b)
{
  fprintf(f, PROG " %s (libmemcached %s): master %s:%d, slave %s:%d%s\n",
          mcrepl_version(), memcached_lib_version(), b->srv[0].host,
          b->srv[0].port, b->srv[1].host, b->srv[1].port,
          b->own ? " (started here)" : "");
  fprintf(f, "%d round(s), up to %zu ops per mode and round, %d spinner(s)"
             ", %d CPU(s), CPU layout %s\n", b->o.rounds, b->o.ops,
          b->nspinners, ncpus(), LAYOUTS[b->o.layout]);
}

static void print_table(FILE *f, const bench_t *b, const targets_t *ts)
{
  print_setup(f, b);
  table_caller(f, b);
  table_repl(f, b);
  table_memory(f, b);
  table_cpu(f, b);
  table_targets(f, b, ts);
}

/* Machine formats ------------------------------------------------------- */

static void json_num(FILE *f, double v)
{
  if (isnan(v) || isinf(v))
    fputs("null", f);
  else
    fprintf(f, "%.10g", v);
}

/* The configuration comes from the user: escape what JSON needs. */
static void json_str(FILE *f, const char *s)
{
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if (c < 0x20)
      fprintf(f, "\\u%04x", c);
    else
      fputc(c, f);
  }
  fputc('"', f);
}

static void json_result(FILE *f, const result_t *r)
{
  fputc('{', f);
  for (size_t i = 0; i < NFIELDS; i++) {
    fprintf(f, "%s\"%s\": ", i ? ", " : "", FIELDS[i].name);
    json_num(f, *fld((result_t *)r, i));
  }
  fputc('}', f);
}

static void json_case(FILE *f, const bench_t *b, const bcase_t *c)
{
  fprintf(f, "    {\"mode\": \"%s\", \"size\": %zu, \"threads\": %zu, "
             "\"ops\": %zu, \"rounds_run\": %d,\n      \"median\": ",
          c->mode->name, c->size, c->threads, c->ops, c->ran);
  json_result(f, &c->med);
  fputs(",\n      \"rounds\": [", f);
  for (int r = 0; r < b->o.rounds; r++) {
    fputs(r ? ",\n        " : "\n        ", f);
    json_result(f, &c->r[r]);
  }
  fputs("]}", f);
}

static void json_list(FILE *f, const size_t *v, size_t n)
{
  fputc('[', f);
  for (size_t i = 0; i < n; i++)
    fprintf(f, "%s%zu", i ? ", " : "", v[i]);
  fputc(']', f);
}

static void print_json(FILE *f, const bench_t *b, const targets_t *ts)
{
  fprintf(f, "{\n  \"tool\": \"" PROG "\", \"mcrepl\": \"%s\", "
             "\"libmemcached\": \"%s\",\n", mcrepl_version(),
          memcached_lib_version());
  fprintf(f, "  \"settings\": {\"ops\": %zu, \"rounds\": %d, \"sizes\": ",
          b->o.ops, b->o.rounds);
  json_list(f, b->o.sizes, b->o.nsizes);
  fputs(", \"threads\": ", f);
  json_list(f, b->o.threads, b->o.nthreads);
  fprintf(f, ", \"spinners\": %d, \"cpus\": %d, \"cpu_layout\": \"%s\",\n"
             "    \"master\": ", b->nspinners, ncpus(), LAYOUTS[b->o.layout]);
  json_str(f, b->srv[0].host);
  fprintf(f, ", \"master_port\": %d, \"slave\": ", b->srv[0].port);
  json_str(f, b->srv[1].host);
  fprintf(f, ", \"slave_port\": %d,\n    \"servers_started\": %s, "
             "\"config\": ", b->srv[1].port, b->own ? "true" : "false");
  json_str(f, b->config);
  fputs("},\n", f);
  fputs("  \"cases\": [\n", f);
  for (size_t i = 0; i < b->ncases; i++) {
    json_case(f, b, &b->cases[i]);
    fputs(i + 1 < b->ncases ? ",\n" : "\n", f);
  }
  fputs("  ],\n  \"targets\": [\n", f);
  for (size_t i = 0; i < ts->n; i++) {
    fprintf(f, "    {\"name\": \"%s\", \"status\": \"%s\", \"detail\": ",
            ts->t[i].name, verdict_name(ts->t[i].v));
    json_str(f, ts->t[i].detail);
    fputs(i + 1 < ts->n ? "},\n" : "}\n", f);
  }
  fprintf(f, "  ],\n  \"failures\": %d, \"incomplete\": %d\n}\n",
          b->failures, b->incomplete);
}

static void print_csv(FILE *f, const bench_t *b)
{
  fputs("mode,size,threads,rounds_run", f);
  for (size_t i = 0; i < NFIELDS; i++)
    fprintf(f, ",%s", FIELDS[i].name);
  fputc('\n', f);
  for (size_t i = 0; i < b->ncases; i++) {
    const bcase_t *c = &b->cases[i];
    fprintf(f, "%s,%zu,%zu,%d", c->mode->name, c->size, c->threads, c->ran);
    for (size_t k = 0; k < NFIELDS; k++) {
      double v = *fld((result_t *)&c->med, k);
      if (isnan(v) || isinf(v))
        fputc(',', f);
      else
        fprintf(f, ",%.10g", v);
    }
    fputc('\n', f);
  }
}

/* The plot -------------------------------------------------------------- */

/* Percentile curves: x is 1/(1-p) on a log axis (so 90 %, 99 %, 99.9 %
 * are evenly spaced and the tail is visible), y the latency. */
static int plot_data(const bcase_t *c, const char *dir)
{
  char path[4096];
  uint64_t total = 0, cum = 0;
  FILE *f;

  for (size_t i = 0; i < HIST_BUCKETS; i++)
    total += c->hist[i];
  if (total == 0)
    return -1;
  snprintf(path, sizeof path, "%s/case-%zu.dat", dir, c->id);
  f = fopen(path, "w");
  if (!f)
    return -1;
  for (size_t i = 0; i < HIST_BUCKETS; i++) {
    double p, x;
    if (c->hist[i] == 0)
      continue;
    if (cum == 0)
      fprintf(f, "1 %.3f\n", (double)hist_top(i) / 1000.0);
    cum += c->hist[i];
    p = (double)cum / (double)total;
    x = cum < total ? 1.0 / (1.0 - p) : 2.0 * (double)total;
    fprintf(f, "%.6g %.3f\n", x, (double)hist_top(i) / 1000.0);
  }
  return fclose(f);
}

typedef int (*panel_fn)(const bcase_t *c, size_t size);

static int panel_set(const bcase_t *c, size_t size)
{
  return c->mode->kind == K_SET && c->threads == 1 && c->size == size;
}

static int panel_reads(const bcase_t *c, size_t size)
{
  return c->mode->kind != K_SET && c->threads == 1 && c->size == size;
}

static int panel_threads(const bcase_t *c, size_t size)
{
  return c->mode->client != CL_REPLICAS && c->mode->kind == K_SET &&
         c->mode->fault == FAULT_NONE && (c->mode->flags & M_THREADS) &&
         c->size == size;
}

/* Writes one panel's plot command; returns how many curves it has. */
static int plot_panel(FILE *f, const bench_t *b, const char *dir,
                      const char *title, panel_fn in, size_t size)
{
  int n = 0;

  for (size_t i = 0; i < b->ncases; i++) {
    const bcase_t *c = &b->cases[i];
    if (!in(c, size) || !c->ran)
      continue;
    if (n++ == 0)
      fprintf(f, "set title \"%s\"\nplot ", title);
    else
      fputs(", \\\n     ", f);
    fprintf(f, "'%s/case-%zu.dat' using 1:2 with steps lw 2 title '%s",
            dir, c->id, c->mode->name);
    if (in == panel_threads)
      fprintf(f, " x%zu", c->threads);
    fputc('\'', f);
  }
  if (n)
    fputc('\n', f);
  return n;
}

static int count_panel(const bench_t *b, panel_fn in, size_t size)
{
  for (size_t i = 0; i < b->ncases; i++)
    if (in(&b->cases[i], size) && b->cases[i].ran)
      return 1;
  return 0;
}

static void plot_header(FILE *f, const bench_t *b, const char *out,
                        int panels)
{
  int rows = (panels + 1) / 2;

  fprintf(f, "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
             "  set terminal pngcairo size 1400,%d font ',10'\n} else {\n"
             "  set terminal png size 1400,%d\n}\n", 460 * rows,
          460 * rows);
  fprintf(f, "set output '%s'\n", out);
  fprintf(f, "set multiplot layout %d,2 title \"" PROG " %s: caller "
             "latency by percentile, %d round(s) merged\"\n", rows,
          mcrepl_version(), b->o.rounds);
  fputs("set logscale xy\nset xrange [1:*]\nset grid\n"
        /* Tic labels are formats of the tic value: %% for a percent. */
        "set xtics ('50%%' 2, '90%%' 10, '99%%' 100, "
        "'99.9%%' 1000, '99.99%%' 10000, '99.999%%' 100000)\n"
        "set xlabel 'percentile'\nset ylabel 'latency (us)'\n"
        "set key top left\n", f);
}

static int plot_script(const bench_t *b, const char *dir, const char *out,
                       char *script, size_t len)
{
  char title[128], sz[24];
  size_t head = head_size(b);
  int panels = 0;
  FILE *f;

  for (size_t s = 0; s < b->o.nsizes; s++)
    panels += count_panel(b, panel_set, b->o.sizes[s]);
  panels += count_panel(b, panel_reads, head);
  panels += count_panel(b, panel_threads, head) && b->o.nthreads > 1;
  snprintf(script, len, "%s/plot.gp", dir);
  if (panels == 0 || !(f = fopen(script, "w")))
    return -1;
  plot_header(f, b, out, panels);
  for (size_t s = 0; s < b->o.nsizes; s++) {
    fmt_size(b->o.sizes[s], sz, sizeof sz);
    snprintf(title, sizeof title, "set, %s, 1 thread", sz);
    plot_panel(f, b, dir, title, panel_set, b->o.sizes[s]);
  }
  fmt_size(head, sz, sizeof sz);
  snprintf(title, sizeof title, "get and mget of 100 keys, %s", sz);
  plot_panel(f, b, dir, title, panel_reads, head);
  snprintf(title, sizeof title, "set, %s, by application threads", sz);
  if (b->o.nthreads > 1)
    plot_panel(f, b, dir, title, panel_threads, head);
  fputs("unset multiplot\n", f);
  return fclose(f);
}

static int run_gnuplot(const char *script)
{
  int status = 0;
  pid_t pid = fork();

  if (pid == 0) {
    execlp("gnuplot", "gnuplot", script, (char *)NULL);
    _exit(127);
  }
  if (pid < 0 || waitpid(pid, &status, 0) != pid)
    return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void plot(const bench_t *b)
{
  char dir[] = "/tmp/mcrepl-bench.XXXXXX", script[4096];
  int rc;

  if (strchr(b->o.plot, '\'') || !mkdtemp(dir)) {
    note(b, "cannot plot to %s", b->o.plot);
    return;
  }
  for (size_t i = 0; i < b->ncases; i++)
    plot_data(&b->cases[i], dir);
  if (plot_script(b, dir, b->o.plot, script, sizeof script) != 0) {
    note(b, "nothing to plot");
    return;
  }
  rc = run_gnuplot(script);
  if (rc == 127)
    note(b, "gnuplot is not installed: no plot (script and data in %s)",
         dir);
  else if (rc != 0)
    note(b, "gnuplot failed (script and data in %s)", dir);
  else
    note(b, "plot written to %s (script and data in %s)", b->o.plot, dir);
}

/* Options --------------------------------------------------------------- */

static void usage(FILE *f)
{
  fprintf(f,
          "Usage: " PROG " [OPTION]...\n"
          "Measures what mcrepl's replication costs next to plain "
          "libmemcached, on\nthe same memcached servers, in one run.\n\n"
          "  --ops=N          ops per mode and round (default %d; big "
          "values get\n                   fewer: at most %zu MiB per mode "
          "and round)\n"
          "  --rounds=N       rounds, modes alternated (default %d)\n"
          "  --threads=LIST   application threads (default 1,2,4)\n"
          "  --sizes=LIST     value sizes, K/M suffixes (default "
          "100,4K,256K)\n"
          "  --modes=LIST     modes to run (default all; baselines are "
          "added)\n"
          "  --quick          %d ops, 1 round, all modes (a smoke test)\n"
          "  --json, --csv    machine-readable output instead of the table\n"
          "  --plot=FILE.png  latency percentile curves (needs gnuplot)\n"
          "  --master=HOST:PORT --slave=HOST:PORT\n"
          "                   use these servers instead of starting two "
          "on\n                   loopback; they are FLUSHED between modes,"
          " and the\n                   slave-fault modes are skipped\n"
          "  --mcrepl-config=OPTS  appended to mcrepl's configuration\n"
          "  --no-spinners    no idle-priority CPU spinners\n"
          "  --cpu-layout=L   split (default): servers on the last CPU, "
          "the bench on\n                   the others, like a client and "
          "a server machine;\n                   shared: no pinning; one: "
          "everything on CPU 0\n"
          "  --help, --version\n\nModes:\n",
          DEFAULT_OPS, BYTES_BUDGET >> 20, DEFAULT_ROUNDS, QUICK_OPS);
  for (size_t i = 0; i < NMODES; i++)
    fprintf(f, "  %-22s %s\n", MODES[i].name, MODES[i].what);
  fprintf(f, "\nExit status: 0, or 1 when something failed to run or a "
             "slave missed\nkeys it should hold; 2 on a usage error.\n");
}

static int parse_count(const char *s, size_t *out, int suffixes)
{
  const unsigned long long max = (unsigned long long)1 << 30;
  char *end;
  unsigned long long v;
  int shift = 0;

  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno || end == s || *s == '-')
    return -1;
  if (suffixes && (*end == 'K' || *end == 'k'))
    shift = 10, end++;
  else if (suffixes && (*end == 'M' || *end == 'm'))
    shift = 20, end++;
  /* Compared before the shift, which could wrap a huge value round to
   * a small one. */
  if (*end || v == 0 || v > max >> shift)
    return -1;
  v <<= shift;
  *out = (size_t)v;
  return 0;
}

static int parse_list(const char *s, size_t *out, size_t *n, int suffixes)
{
  char buf[256], *save, *tok;

  if (strlen(s) >= sizeof buf)
    return -1;
  strcpy(buf, s);
  *n = 0;
  for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    if (*n == MAX_LIST || parse_count(tok, &out[*n], suffixes) != 0)
      return -1;
    for (size_t i = 0; i < *n; i++)
      if (out[i] == out[*n])
        return -1; /* it would run twice, and count once */
    (*n)++;
  }
  return *n ? 0 : -1;
}

static int parse_layout(const char *s, layout_t *out)
{
  for (size_t i = 0; i < sizeof LAYOUTS / sizeof LAYOUTS[0]; i++)
    if (strcmp(s, LAYOUTS[i]) == 0) {
      *out = (layout_t)i;
      return 0;
    }
  return -1;
}

static int parse_modes(const char *s, opts_t *o)
{
  o->named = 1;
  memset(o->selected, 0, sizeof o->selected);
  while (*s) {
    size_t len = strcspn(s, ",");
    int i = mode_index(s, len);
    if (i < 0) {
      fprintf(stderr, PROG ": unknown mode '%.*s'\n", (int)len, s);
      return -1;
    }
    o->selected[i] = 1;
    s += len + (s[len] == ',');
  }
  return 0;
}

/* A ratio needs its baseline; a faulty slave needs the healthy run. */
static void add_baselines(opts_t *o)
{
  for (size_t i = 0; i < NMODES; i++) {
    if (!o->selected[i])
      continue;
    o->selected[mode_index(MODES[i].base, strlen(MODES[i].base))] = 1;
    if (MODES[i].fault != FAULT_NONE)
      o->selected[mode_index("mcrepl", 6)] = 1;
  }
}

enum { O_OPS = 256, O_ROUNDS, O_THREADS, O_SIZES, O_MODES, O_QUICK, O_JSON,
       O_CSV, O_PLOT, O_MASTER, O_SLAVE, O_EXTRA, O_NOSPIN, O_LAYOUT,
       O_HELP, O_VERSION };

static const struct option LONGOPTS[] = {
    {"ops", required_argument, NULL, O_OPS},
    {"rounds", required_argument, NULL, O_ROUNDS},
    {"threads", required_argument, NULL, O_THREADS},
    {"sizes", required_argument, NULL, O_SIZES},
    {"modes", required_argument, NULL, O_MODES},
    {"quick", no_argument, NULL, O_QUICK},
    {"json", no_argument, NULL, O_JSON},
    {"csv", no_argument, NULL, O_CSV},
    {"plot", required_argument, NULL, O_PLOT},
    {"master", required_argument, NULL, O_MASTER},
    {"slave", required_argument, NULL, O_SLAVE},
    {"mcrepl-config", required_argument, NULL, O_EXTRA},
    {"no-spinners", no_argument, NULL, O_NOSPIN},
    {"cpu-layout", required_argument, NULL, O_LAYOUT},
    {"help", no_argument, NULL, O_HELP},
    {"version", no_argument, NULL, O_VERSION},
    {NULL, 0, NULL, 0}};

static void opts_default(opts_t *o)
{
  static const size_t threads[] = {1, 2, 4}, sizes[] = {100, 4096, 262144};

  memset(o, 0, sizeof *o);
  memcpy(o->threads, threads, sizeof threads);
  o->nthreads = 3;
  memcpy(o->sizes, sizes, sizeof sizes);
  o->nsizes = 3;
  for (size_t i = 0; i < NMODES; i++)
    o->selected[i] = 1;
  o->spinners = 1;
  /* Unpinned, the per-round ratios of a 2-CPU VM spread 0.2-2.4x (the
   * CPU a woken thread lands on decides); split keeps them within a few
   * per cent. See BENCHMARKS.md. */
  o->layout = L_SPLIT;
  o->budget = BYTES_BUDGET;
}

/* One option; -1 on a usage error, 1 when done (help, version). */
static int parse_one(int opt, const char *arg, opts_t *o, size_t *ops,
                     size_t *rounds)
{
  switch (opt) {
  case O_OPS: return parse_count(arg, ops, 0);
  case O_ROUNDS:
    return parse_count(arg, rounds, 0) || *rounds > MAX_ROUNDS ? -1 : 0;
  case O_THREADS: return parse_list(arg, o->threads, &o->nthreads, 0);
  case O_SIZES: return parse_list(arg, o->sizes, &o->nsizes, 1);
  case O_MODES: return parse_modes(arg, o);
  case O_QUICK: o->quick = 1; return 0;
  case O_JSON: o->json = 1; return 0;
  case O_CSV: o->csv = 1; return 0;
  case O_PLOT: o->plot = arg; return 0;
  case O_MASTER: o->master = arg; return 0;
  case O_SLAVE: o->slave = arg; return 0;
  case O_EXTRA: o->extra = arg; return 0;
  case O_NOSPIN: o->spinners = 0; return 0;
  case O_LAYOUT: return parse_layout(arg, &o->layout);
  case O_HELP: usage(stdout); return 1;
  case O_VERSION:
    printf(PROG " (mcrepl) %s, libmemcached %s\n", mcrepl_version(),
           memcached_lib_version());
    return 1;
  default: return -1;
  }
}

/* Modes named that run at one thread only need 1 among --threads:
 * dropped silently, they would leave a run that looks complete without
 * them. (By default, all modes, those that can run do.) */
static int check_modes(const opts_t *o)
{
  int one = 0, any = 0;
  server_t s;

  for (size_t i = 0; i < o->nthreads; i++)
    one |= o->threads[i] == 1;
  for (size_t i = 0; i < NMODES; i++) {
    any |= o->selected[i];
    if (o->named && o->selected[i] && !(MODES[i].flags & M_THREADS) &&
        !one) {
      fprintf(stderr, PROG ": mode %s runs at one thread only: add 1 to "
              "--threads\n", MODES[i].name);
      return -1;
    }
  }
  if (!any)
    fprintf(stderr, PROG ": --modes names no mode\n");
  if (o->master && (parse_hostport(o->master, &s) != 0 ||
                    parse_hostport(o->slave, &s) != 0)) {
    fprintf(stderr, PROG ": --master and --slave take HOST:PORT\n");
    return -1;
  }
  return any ? 0 : -1;
}

static int opts_check(const opts_t *o)
{
  for (size_t i = 0; i < o->nthreads; i++)
    if (o->threads[i] > 64)
      return -1;
  for (size_t i = 0; i < o->nsizes; i++)
    if (o->sizes[i] > ((size_t)1000 << 10)) /* memcached's -I 1m */
      return -1;
  if (o->json && o->csv)
    return -1;
  if (!o->master != !o->slave)
    return -1;
  return check_modes(o);
}

/* 0: go on; otherwise the exit status. */
static int parse_options(int argc, char **argv, opts_t *o)
{
  size_t ops = 0, rounds = 0;
  int opt, rc;

  opts_default(o);
  while ((opt = getopt_long(argc, argv, "", LONGOPTS, NULL)) != -1) {
    rc = parse_one(opt, optarg, o, &ops, &rounds);
    if (rc > 0)
      return -1;
    if (rc < 0 || (opt == '?'))
      goto bad;
  }
  if (optind < argc || opts_check(o) != 0)
    goto bad;
  o->ops = ops ? ops : o->quick ? QUICK_OPS : DEFAULT_OPS;
  o->rounds = rounds ? (int)rounds : o->quick ? 1 : DEFAULT_ROUNDS;
  o->budget = o->quick ? QUICK_BUDGET : BYTES_BUDGET;
  add_baselines(o);
  return 0;
bad:
  fprintf(stderr, PROG ": bad usage (try --help)\n");
  return 2;
}

/* Setup ----------------------------------------------------------------- */

static int setup_servers(bench_t *b)
{
  const opts_t *o = &b->o;

  if (o->master) {
    if (parse_hostport(o->master, &b->srv[0]) != 0 ||
        parse_hostport(o->slave, &b->srv[1]) != 0) {
      fprintf(stderr, PROG ": --master and --slave take HOST:PORT\n");
      return -1;
    }
    return 0;
  }
  b->own = 1;
  if (server_start(&b->srv[0]) != 0 || server_start(&b->srv[1]) != 0) {
    fprintf(stderr, PROG ": could not start memcached (is it "
                    "installed?)\n");
    return -1;
  }
  return 0;
}

static int setup_buffers(bench_t *b)
{
  size_t vmax = 0, ops = 0;

  for (size_t i = 0; i < b->o.nsizes; i++)
    vmax = b->o.sizes[i] > vmax ? b->o.sizes[i] : vmax;
  for (size_t i = 0; i < b->ncases; i++)
    ops = b->cases[i].ops > ops ? b->cases[i].ops : ops;
  b->value = malloc(vmax);
  b->lat = calloc(ops, sizeof *b->lat);
  if (!b->value || !b->lat || readset_init(&b->rd) != 0)
    return -1;
  for (size_t i = 0; i < vmax; i++)
    b->value[i] = (char)('a' + i % 26);
  /* Touched now, so that no mode pays for the pages. */
  memset(b->lat, 0xff, ops * sizeof *b->lat);
  return 0;
}

/* A refused --mcrepl-config is said once, not once per mode. */
static int check_config(const bench_t *b)
{
  char err[256] = "";
  mcrepl_t *m = mcrepl_create(b->config, err, sizeof err);

  if (!m) {
    fprintf(stderr, PROG ": mcrepl refused \"%s\": %s\n", b->config, err);
    return -1;
  }
  mcrepl_destroy(m);
  return 0;
}

static int setup(bench_t *b)
{
  int n;

  if (b->o.spinners) {
    int want = ncpus() < MAX_SPINNERS ? ncpus() : MAX_SPINNERS;
    b->nspinners = spinners_start(b->spinner, want);
    if (b->nspinners < want)
      note(b, "only %d idle spinner(s): figures will swing more",
           b->nspinners);
  }
  pin_self(b->o.layout, ncpus());
  b->srv[0].layout = b->srv[1].layout = b->o.layout;
  if (setup_servers(b) != 0)
    return -1;
  if (!b->own && b->o.layout != L_SHARED)
    note(b, "servers not started here: only the bench itself is pinned");
  n = snprintf(b->config, sizeof b->config, "--pair=%s:%d,%s:%d %s",
               b->srv[0].host, b->srv[0].port, b->srv[1].host,
               b->srv[1].port, b->o.extra ? b->o.extra : "");
  if (n < 0 || (size_t)n >= sizeof b->config || check_config(b) != 0)
    return -1;
  if (build_cases(b) != 0 || setup_buffers(b) != 0) {
    fprintf(stderr, PROG ": out of memory, or no mode to run\n");
    return -1;
  }
  return 0;
}

static void teardown(bench_t *b)
{
  free_cases(b);
  readset_free(&b->rd);
  free(b->value);
  free(b->lat);
}

int main(int argc, char **argv)
{
  static bench_t b; /* large: not on the stack */
  targets_t ts;
  int rc = parse_options(argc, argv, &b.o);

  if (rc != 0)
    return rc < 0 ? 0 : rc;
  install_signals();
  b.tty = isatty(STDERR_FILENO);
  if (setup(&b) != 0) {
    teardown(&b);
    return 1;
  }
  run_all(&b);
  summarise(&b);
  kids_kill(); /* the servers and spinners are no longer needed */
  evaluate(&b, &ts);
  if (b.o.json)
    print_json(stdout, &b, &ts);
  else if (b.o.csv)
    print_csv(stdout, &b);
  else
    print_table(stdout, &b, &ts);
  fflush(stdout); /* the table first, then what the plot says */
  if (b.o.plot)
    plot(&b);
  teardown(&b);
  return b.failures || b.incomplete ? 1 : 0;
}
