/* Real memcached servers for the integration tests; see servers.h. */
#include "servers.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define START_TIMEOUT_MS 5000 /* a server that is not up by then failed */
#define STOP_TIMEOUT_MS 2000  /* SIGTERM grace before SIGKILL */
#define RAW_TIMEOUT_MS 3000   /* any raw exchange with one server */
#define PROBE_TIMEOUT_MS 500  /* one readiness probe */
#define START_ATTEMPTS 10     /* fresh ports tried when a bind fails */
#define MAX_ARGS 48

static long long stat_value(int port, const char *name, long timeout_ms);

/* Time and processes. --------------------------------------------------- */

long long mc_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void mc_sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* Reaps pid within timeout_ms. Returns 0 when it is gone, -1 if not. */
static int reap(pid_t pid, long timeout_ms) {
  long long deadline = mc_now_ms() + timeout_ms;
  for (;;) {
    pid_t r = waitpid(pid, NULL, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD))
      return 0;
    if (mc_now_ms() >= deadline)
      return -1;
    mc_sleep_ms(5);
  }
}

static void pidfile_path(pid_t pid, char *buf, size_t len) {
  const char *dir = getenv("MCREPL_TEST_TMPDIR");
  buf[0] = '\0';
  if (dir != NULL && *dir != '\0')
    snprintf(buf, len, "%s/memcached.%ld.pid", dir, (long)pid);
}

/* So that scripts/test.sh can kill what a crashed test left behind. */
static void pidfile_write(pid_t pid) {
  char path[4096];
  pidfile_path(pid, path, sizeof path);
  if (path[0] == '\0')
    return;
  FILE *f = fopen(path, "w");
  if (f == NULL)
    return;
  fprintf(f, "%ld\n", (long)pid);
  fclose(f);
}

static void pidfile_remove(pid_t pid) {
  char path[4096];
  pidfile_path(pid, path, sizeof path);
  if (path[0] != '\0')
    unlink(path);
}

/* Starting. ------------------------------------------------------------- */

/* The kernel hands out a free port for port 0; closing the socket frees
 * it again, so another process may take it first: callers retry. */
static int free_port(void) {
  struct sockaddr_in sa;
  socklen_t sl = sizeof sa;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return -1;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int port = -1;
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
      getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
    port = ntohs(sa.sin_port);
  close(fd);
  return port;
}

/* Splits the command line into argv inside store; everything is built
 * before fork() because the child of a threaded process may only make
 * async-signal-safe calls. */
static void build_argv(char **argv, char *store, size_t store_len,
                       const char *port, const char *extra, int pid1) {
  int n = 0;
  /* As in a container: pid 1 of a pid namespace of its own, as user 1000
   * of a user namespace (which lets an unprivileged test make one). */
  const char *ns[] = {"unshare", "--user", "--map-user=1000",
                      "--map-group=1000", "--pid", "--fork",
                      "--kill-child"};
  const char *fixed[] = {"memcached", "-l", "127.0.0.1", "-p", port,
                         "-U", "0", "-t", "1"};
  for (size_t i = 0; pid1 && i < sizeof ns / sizeof ns[0]; i++)
    argv[n++] = (char *)ns[i];
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
    argv[n++] = (char *)fixed[i];
  if (geteuid() == 0 && !pid1) { /* memcached refuses root without -u */
    argv[n++] = "-u";
    argv[n++] = "root";
  }
  snprintf(store, store_len, "%s", extra != NULL ? extra : "");
  for (char *tok = strtok(store, " \t"); tok != NULL && n < MAX_ARGS - 1;
       tok = strtok(NULL, " \t"))
    argv[n++] = tok;
  argv[n] = NULL;
}

/* memcached's chatter ("Signal handled: Terminated.", bind errors) goes to
 * a log beside the pidfiles, else nowhere, to keep test output readable. */
static void log_path(char *buf, size_t len) {
  const char *dir = getenv("MCREPL_TEST_TMPDIR");
  if (dir != NULL && *dir != '\0')
    snprintf(buf, len, "%s/memcached.log", dir);
  else
    snprintf(buf, len, "/dev/null");
}

static void child_exec(char **argv, pid_t parent, const char *log) {
  sigset_t none;
  /* Die with the test, even when it is killed by Check's timeout. */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent)
    _exit(127); /* the parent died before prctl took effect */
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL); /* the mask survives exec */
  signal(SIGTERM, SIG_DFL);
  int in = open("/dev/null", O_RDONLY);
  int err = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (in >= 0)
    dup2(in, STDIN_FILENO);
  if (err >= 0) {
    dup2(err, STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
  }
  /* Keep the test's sockets (mcrepl's connections) out of the server. */
  close_range(3, ~0U, 0);
  execvp(argv[0], argv);
  _exit(127);
}

static pid_t spawn(int port, const char *extra, int pid1) {
  char portbuf[16], store[256], log[4096];
  char *argv[MAX_ARGS];
  snprintf(portbuf, sizeof portbuf, "%d", port);
  build_argv(argv, store, sizeof store, portbuf, extra, pid1);
  log_path(log, sizeof log);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0)
    child_exec(argv, parent, log);
  return pid;
}

/* Up means: answering on port and reporting our pid (1 in a namespace
 * of its own), so that a foreign process that grabbed the port is never
 * taken for our server. */
static int wait_ready(pid_t pid, int port, int pid1) {
  long long want = pid1 ? 1 : (long long)pid;
  long long deadline = mc_now_ms() + START_TIMEOUT_MS;
  while (mc_now_ms() < deadline) {
    if (waitpid(pid, NULL, WNOHANG) == pid)
      return -1; /* exited: most likely the port was taken */
    if (stat_value(port, "pid", PROBE_TIMEOUT_MS) == want)
      return 0;
    mc_sleep_ms(10);
  }
  return -1;
}

static int launch(mc_server_t *s, int port) {
  pid_t pid = spawn(port, s->args, s->pid1);
  if (pid < 0)
    return -1;
  pidfile_write(pid);
  if (wait_ready(pid, port, s->pid1) != 0) {
    kill(pid, SIGKILL);
    reap(pid, STOP_TIMEOUT_MS);
    pidfile_remove(pid);
    return -1;
  }
  s->port = port;
  s->pid = pid;
  return 0;
}

static mc_server_t *start(const char *extra_args, int pid1) {
  mc_server_t *s = calloc(1, sizeof *s);
  if (s == NULL)
    return NULL;
  s->pid1 = pid1;
  snprintf(s->args, sizeof s->args, "%s", extra_args ? extra_args : "");
  for (int i = 0; i < START_ATTEMPTS; i++) {
    int port = free_port();
    if (port > 0 && launch(s, port) == 0)
      return s;
  }
  fprintf(stderr, "mc_start: memcached %s did not come up\n", s->args);
  free(s);
  return NULL;
}

mc_server_t *mc_start(const char *extra_args) { return start(extra_args, 0); }

mc_server_t *mc_start_pid1(const char *extra_args) {
  return start(extra_args, 1);
}

/* Stopping. ------------------------------------------------------------- */

void mc_kill(mc_server_t *s) {
  if (s == NULL || s->pid <= 0)
    return;
  kill(s->pid, SIGKILL);
  if (reap(s->pid, STOP_TIMEOUT_MS) != 0)
    waitpid(s->pid, NULL, 0); /* SIGKILL cannot be ignored */
  pidfile_remove(s->pid);
  s->pid = 0;
}

void mc_stop(mc_server_t *s) {
  if (s == NULL)
    return;
  if (s->pid > 0) {
    kill(s->pid, SIGTERM);
    kill(s->pid, SIGCONT); /* a paused server must see its SIGTERM */
    if (reap(s->pid, STOP_TIMEOUT_MS) == 0) {
      pidfile_remove(s->pid);
      s->pid = 0;
    }
    mc_kill(s);
  }
  free(s);
}

/* 1 when every thread of pid is stopped. */
static int all_stopped(pid_t pid) {
  char path[320], line[512];
  int stopped = 1, n = 0;
  snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
  DIR *d = opendir(path);
  struct dirent *e;
  if (!d)
    return 1; /* gone: nothing left to wait for */
  while (stopped && (e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    snprintf(path, sizeof path, "/proc/%d/task/%s/stat", (int)pid,
             e->d_name);
    FILE *f = fopen(path, "r");
    const char *rp;
    if (!f)
      continue;
    if (fgets(line, sizeof line, f) && (rp = strrchr(line, ')')) != NULL)
      stopped = rp[1] == ' ' && (rp[2] == 'T' || rp[2] == 't');
    fclose(f);
    n++;
  }
  closedir(d);
  return stopped && n > 0;
}

/* Returns once every thread has stopped: a request sent right after must
 * find the server frozen, not still finishing its signal. */
void mc_pause(mc_server_t *s) {
  if (s == NULL || s->pid <= 0)
    return;
  kill(s->pid, SIGSTOP);
  for (int i = 0; i < 1000 && !all_stopped(s->pid); i++)
    usleep(1000);
}

void mc_resume(mc_server_t *s) {
  if (s != NULL && s->pid > 0)
    kill(s->pid, SIGCONT);
}

int mc_restart(mc_server_t *s) {
  if (s == NULL)
    return -1;
  mc_kill(s);
  /* The port may be briefly busy (our probe's TIME_WAIT is harmless:
   * memcached sets SO_REUSEADDR), so retry a few times. */
  for (int i = 0; i < START_ATTEMPTS; i++) {
    if (launch(s, s->port) == 0)
      return 0;
    mc_sleep_ms(100);
  }
  return -1;
}

/* Raw exchanges with one server. ----------------------------------------- */

typedef struct rbuf {
  char *data;
  size_t len, cap;
} rbuf_t;

static int connect_port(int port, long long deadline) {
  struct sockaddr_in sa;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
    return fd;
  if (errno == EINPROGRESS) {
    struct pollfd p = {fd, POLLOUT, 0};
    int err = 0;
    socklen_t el = sizeof err;
    long left = (long)(deadline - mc_now_ms());
    if (left > 0 && poll(&p, 1, (int)left) == 1 &&
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err == 0)
      return fd;
  }
  close(fd);
  return -1;
}

static int rbuf_reserve(rbuf_t *b, size_t more) {
  if (b->len + more + 1 <= b->cap)
    return 0;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->len + more + 1)
    cap *= 2;
  char *d = realloc(b->data, cap);
  if (d == NULL)
    return -1;
  b->data = d;
  b->cap = cap;
  return 0;
}

/* The request always ends with the meta no-op "mn"; its "MN" answer comes
 * after every other answer, so seeing it means the answer is complete. */
static int answer_complete(const rbuf_t *b) {
  static const char mn[] = "MN\r\n";
  size_t n = sizeof mn - 1;
  return b->len >= n && memcmp(b->data + b->len - n, mn, n) == 0 &&
         (b->len == n || b->data[b->len - n - 1] == '\n');
}

/* Writes and reads at the same time, so that a long pipeline can never
 * deadlock with the server blocked on writing its answers. */
static int pump(int fd, const char *req, size_t req_len, rbuf_t *out,
                long long deadline) {
  size_t sent = 0;
  while (!answer_complete(out)) {
    struct pollfd p = {fd, POLLIN | (sent < req_len ? POLLOUT : 0), 0};
    long left = (long)(deadline - mc_now_ms());
    if (left <= 0 || poll(&p, 1, (int)left) <= 0)
      return -1;
    if ((p.revents & POLLOUT) && sent < req_len) {
      ssize_t w = send(fd, req + sent, req_len - sent, MSG_NOSIGNAL);
      if (w < 0 && errno != EAGAIN && errno != EINTR)
        return -1;
      sent += w > 0 ? (size_t)w : 0;
    }
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      if (rbuf_reserve(out, 65536) != 0)
        return -1;
      ssize_t r = recv(fd, out->data + out->len, 65536, 0);
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
        return -1;
      out->len += r > 0 ? (size_t)r : 0;
    }
  }
  out->len -= 4; /* drop the "MN\r\n" */
  out->data[out->len] = '\0';
  return 0;
}

/* Sends req + "mn\r\n" and returns the answer (without the MN) in *out,
 * which the caller frees. Returns 0 or -1. */
static int roundtrip(int port, const char *req, size_t req_len, rbuf_t *out,
                     long timeout_ms) {
  long long deadline = mc_now_ms() + timeout_ms;
  rbuf_t r = {0};
  memset(out, 0, sizeof *out);
  if (rbuf_reserve(&r, req_len + 8) != 0)
    return -1;
  memcpy(r.data, req, req_len);
  memcpy(r.data + req_len, "mn\r\n", 4);
  int fd = connect_port(port, deadline);
  int rc = fd < 0 ? -1 : pump(fd, r.data, req_len + 4, out, deadline);
  if (fd >= 0)
    close(fd);
  free(r.data);
  if (rc != 0) {
    free(out->data);
    memset(out, 0, sizeof *out);
  }
  return rc;
}

int mc_raw_connect(int port) {
  return connect_port(port, mc_now_ms() + RAW_TIMEOUT_MS);
}

int mc_raw_pipeline(int fd, const char *req, size_t len) {
  rbuf_t out = {0};
  int rc = pump(fd, req, len, &out, mc_now_ms() + RAW_TIMEOUT_MS);
  free(out.data);
  return rc;
}

long mc_raw_cmd(int port, const char *cmd, char *buf, size_t len) {
  char *req;
  size_t n = strlen(cmd);
  int has_eol = n >= 2 && strcmp(cmd + n - 2, "\r\n") == 0;
  rbuf_t out;
  if (asprintf(&req, "%s%s", cmd, has_eol ? "" : "\r\n") < 0)
    return -1;
  int rc = roundtrip(port, req, strlen(req), &out, RAW_TIMEOUT_MS);
  free(req);
  if (rc != 0)
    return -1;
  if (buf != NULL && len > 0) {
    size_t c = out.len < len - 1 ? out.len : len - 1;
    memcpy(buf, out.data, c);
    buf[c] = '\0';
  }
  free(out.data);
  return (long)out.len;
}

static long long stat_value(int port, const char *name, long timeout_ms) {
  rbuf_t out;
  char want[128];
  long long v = -1;
  if (roundtrip(port, "stats\r\n", 7, &out, timeout_ms) != 0)
    return -1;
  int wl = snprintf(want, sizeof want, "STAT %s ", name);
  for (char *l = out.data; l != NULL && *l; l = strstr(l, "\r\n")) {
    if (l[0] == '\r')
      l += 2;
    if (strncmp(l, want, (size_t)wl) == 0) {
      v = strtoll(l + wl, NULL, 10);
      break;
    }
  }
  free(out.data);
  return v;
}

long long mc_raw_stat(int port, const char *name) {
  return stat_value(port, name, RAW_TIMEOUT_MS);
}

long mc_raw_items(int port) {
  return (long)stat_value(port, "curr_items", RAW_TIMEOUT_MS);
}

int mc_raw_set(int port, const char *key, const char *value,
               uint32_t flags, long ttl) {
  char *req;
  rbuf_t out;
  size_t vl = strlen(value);
  int n = asprintf(&req, "set %s %u %ld %zu\r\n%s\r\n", key,
                   (unsigned)flags, ttl, vl, value);
  if (n < 0)
    return -1;
  int rc = roundtrip(port, req, (size_t)n, &out, RAW_TIMEOUT_MS);
  free(req);
  if (rc != 0)
    return -1;
  rc = strcmp(out.data, "STORED\r\n") == 0 ? 0 : -1;
  free(out.data);
  return rc;
}

int mc_raw_set_filled(int port, const char *key, size_t len, char fill) {
  char *value = malloc(len + 1);
  if (value == NULL)
    return -1;
  memset(value, fill, len);
  value[len] = '\0';
  int rc = mc_raw_set(port, key, value, 0, 0);
  free(value);
  return rc;
}

/* Parses "VA <len> f<flags> t<ttl>\r\n<data>\r\n". */
static int parse_va(const rbuf_t *o, char **value, size_t *len,
                    uint32_t *flags, long *ttl) {
  char head[256], *end, *save;
  const char *eol = strstr(o->data, "\r\n");
  if (eol == NULL || (size_t)(eol - o->data) >= sizeof head)
    return -1;
  /* Tokenise a copy of the header: the value may hold any byte. */
  memcpy(head, o->data, (size_t)(eol - o->data));
  head[eol - o->data] = '\0';
  unsigned long long vl = strtoull(head + 3, &end, 10);
  if ((size_t)(eol + 2 - o->data) + vl + 2 > o->len)
    return -1;
  for (char *t = strtok_r(end, " ", &save); t != NULL;
       t = strtok_r(NULL, " ", &save)) {
    if (t[0] == 'f' && flags != NULL)
      *flags = (uint32_t)strtoul(t + 1, NULL, 10);
    else if (t[0] == 't' && ttl != NULL)
      *ttl = strtol(t + 1, NULL, 10);
  }
  if (len != NULL)
    *len = (size_t)vl;
  if (value != NULL) {
    *value = malloc((size_t)vl + 1);
    if (*value == NULL)
      return -1;
    memcpy(*value, eol + 2, (size_t)vl);
    (*value)[vl] = '\0';
  }
  return 1;
}

static int raw_mg(int port, const char *key, char **value, size_t *len,
                  uint32_t *flags, long *ttl) {
  char *req;
  rbuf_t out;
  int n = asprintf(&req, "mg %s v f t\r\n", key);
  if (n < 0)
    return -1;
  int rc = roundtrip(port, req, (size_t)n, &out, RAW_TIMEOUT_MS);
  free(req);
  if (rc != 0)
    return -1;
  if (strcmp(out.data, "EN\r\n") == 0)
    rc = 0;
  else if (strncmp(out.data, "VA ", 3) == 0)
    rc = parse_va(&out, value, len, flags, ttl);
  else
    rc = -1;
  free(out.data);
  return rc;
}

int mc_raw_get(int port, const char *key, char **value, size_t *len,
               uint32_t *flags) {
  return raw_mg(port, key, value, len, flags, NULL);
}

long mc_raw_ttl(int port, const char *key) {
  long ttl = MC_RAW_ERR;
  int rc = raw_mg(port, key, NULL, NULL, NULL, &ttl);
  if (rc == 0)
    return MC_RAW_MISS;
  return rc == 1 ? ttl : MC_RAW_ERR;
}

/* Bare "mg <key>" answers exactly one line, "HD" or "EN", in order. */
long mc_raw_has_keys(int port, const char *const *keys, size_t n,
                     unsigned char *present) {
  rbuf_t req = {0}, out;
  for (size_t i = 0; i < n; i++) {
    size_t kl = strlen(keys[i]);
    if (rbuf_reserve(&req, kl + 6) != 0) {
      free(req.data);
      return -1;
    }
    req.len += (size_t)sprintf(req.data + req.len, "mg %s\r\n", keys[i]);
  }
  int rc = roundtrip(port, req.data ? req.data : "", req.len, &out,
                     RAW_TIMEOUT_MS);
  free(req.data);
  if (rc != 0)
    return -1;
  long found = 0;
  char *l = out.data;
  for (size_t i = 0; i < n; i++, l += 4) {
    if (strncmp(l, "HD\r\n", 4) != 0 && strncmp(l, "EN\r\n", 4) != 0) {
      found = -1;
      break;
    }
    present[i] = l[0] == 'H';
    found += present[i];
  }
  free(out.data);
  return found;
}

/* One key's state as "mg <key> v f t" gave it, parsed in place. */
typedef struct {
  int found;
  const char *value;
  size_t len;
  uint32_t flags;
  long ttl;
} raw_state_t;

/* Parses the next answer of a pipeline of "mg <key> v f t" at *at, and
 * moves *at past it. 0, or -1 when it is no such answer. */
static int next_state(const rbuf_t *o, size_t *at, raw_state_t *s) {
  const char *p = o->data + *at, *eol = strstr(p, "\r\n");
  char head[128], *end, *save;
  if (eol == NULL)
    return -1;
  memset(s, 0, sizeof *s);
  if (strncmp(p, "EN\r\n", 4) == 0) {
    *at += 4;
    return 0;
  }
  if (strncmp(p, "VA ", 3) != 0 || (size_t)(eol - p) >= sizeof head)
    return -1;
  memcpy(head, p, (size_t)(eol - p));
  head[eol - p] = '\0';
  s->len = (size_t)strtoull(head + 3, &end, 10);
  for (char *t = strtok_r(end, " ", &save); t != NULL;
       t = strtok_r(NULL, " ", &save)) {
    if (t[0] == 'f')
      s->flags = (uint32_t)strtoul(t + 1, NULL, 10);
    else if (t[0] == 't')
      s->ttl = strtol(t + 1, NULL, 10);
  }
  if ((size_t)(eol + 2 - o->data) + s->len + 2 > o->len)
    return -1;
  s->found = 1;
  s->value = eol + 2;
  *at = (size_t)(eol + 2 - o->data) + s->len + 2;
  return 0;
}

static int states_of(int port, const char *const *keys, size_t n,
                     rbuf_t *out) {
  rbuf_t req = {0};
  int rc;
  for (size_t i = 0; i < n; i++) {
    size_t kl = strlen(keys[i]);
    if (rbuf_reserve(&req, kl + 16) != 0) {
      free(req.data);
      return -1;
    }
    req.len += (size_t)sprintf(req.data + req.len, "mg %s v f t\r\n", keys[i]);
  }
  rc = roundtrip(port, req.data ? req.data : "", req.len, out,
                 RAW_TIMEOUT_MS * 4);
  free(req.data);
  return rc;
}

static int same_state(const raw_state_t *a, const raw_state_t *b,
                      long ttl_slack) {
  if (a->found != b->found)
    return 0;
  if (!a->found)
    return 1;
  if (a->len != b->len || a->flags != b->flags ||
      memcmp(a->value, b->value, a->len) != 0)
    return 0;
  if (a->ttl < 0 || b->ttl < 0)
    return a->ttl == b->ttl;
  return labs(a->ttl - b->ttl) <= ttl_slack;
}

/* Keys whose state differs between the servers on port_a and port_b, in
 * pipelines of a few hundred keys; -1 on error. */
long mc_raw_diff(int port_a, int port_b, const char *const *keys, size_t n,
                 long ttl_slack, char *first, size_t first_len) {
  const size_t chunk = 256;
  long diff = 0;
  if (first && first_len)
    first[0] = '\0';
  for (size_t i = 0; i < n; i += chunk) {
    size_t m = n - i < chunk ? n - i : chunk, at_a = 0, at_b = 0;
    rbuf_t a, b;
    if (states_of(port_a, keys + i, m, &a) != 0)
      return -1;
    if (states_of(port_b, keys + i, m, &b) != 0) {
      free(a.data);
      return -1;
    }
    for (size_t j = 0; j < m && diff >= 0; j++) {
      raw_state_t sa, sb;
      if (next_state(&a, &at_a, &sa) != 0 ||
          next_state(&b, &at_b, &sb) != 0) {
        diff = -1;
        break;
      }
      if (same_state(&sa, &sb, ttl_slack))
        continue;
      if (diff++ == 0 && first && first_len)
        snprintf(first, first_len,
                 "%s: %s %zu bytes f%u t%ld / %s %zu bytes f%u t%ld",
                 keys[i + j], sa.found ? "found" : "absent", sa.len,
                 sa.flags, sa.ttl, sb.found ? "found" : "absent", sb.len,
                 sb.flags, sb.ttl);
    }
    free(a.data);
    free(b.data);
    if (diff < 0)
      return -1;
  }
  return diff;
}
