/* See fakesrv.h. The child uses static buffers and no malloc: it is
 * forked from a threaded process. */
#include "fakesrv.h"

#include <arpa/inet.h>
#include <errno.h>
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

#define MAX_CONNS 64
#define BUF 65536

const char *const fake_mode_name[FAKE_TRICKLE + 1] = {
    "garbage", "half-line", "close-mid-reply", "oom", "no-meta",
    "client-error", "flood", "trickle"};

typedef struct {
  int fd;
  int silent;   /* FAKE_HALF after its half line: never read again */
  int flood;    /* FAKE_FLOOD after its first ms: junk whenever writable */
  size_t len;   /* bytes in buf */
  size_t skip;  /* bytes of a data block still to swallow */
  char buf[BUF];
  size_t out_len, out_pos; /* FAKE_TRICKLE: what is still to be said */
  char out[BUF];
} conn_t;

static conn_t g_conns[MAX_CONNS];
static unsigned g_seed = 12345;
static int g_trickle; /* the mode is FAKE_TRICKLE */

static void say(int fd, const char *s, size_t n)
{
  while (n > 0) {
    ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
    if (w <= 0)
      return;
    s += w;
    n -= (size_t)w;
  }
}

static void say_str(int fd, const char *s)
{
  say(fd, s, strlen(s));
}

/* An answer to c: at once, or in FAKE_TRICKLE queued for trickle(). */
static void reply(conn_t *c, const char *s, size_t n)
{
  if (!g_trickle) {
    say(c->fd, s, n);
    return;
  }
  if (n > BUF - c->out_len)
    n = BUF - c->out_len;
  memcpy(c->out + c->out_len, s, n);
  c->out_len += n;
}

static void answer_stats(conn_t *c)
{
  char b[512];
  int n = snprintf(b, sizeof b,
                   "STAT pid %d\r\nSTAT uptime 100\r\nSTAT time %ld\r\n"
                   "STAT curr_items 0\r\nSTAT bytes 0\r\n"
                   "STAT version 1.6.0-fake\r\nEND\r\n",
                   (int)getpid(), (long)time(NULL));
  reply(c, b, (size_t)n);
}

/* Storage commands carry a data block: its length is token `idx`. */
static size_t data_len(const char *line)
{
  static const struct {
    const char *verb;
    int idx;
  } v[] = {{"set ", 4}, {"add ", 4}, {"replace ", 4}, {"append ", 4},
           {"prepend ", 4}, {"cas ", 4}, {"ms ", 2}};
  size_t i;

  for (i = 0; i < sizeof v / sizeof v[0]; i++) {
    if (strncmp(line, v[i].verb, strlen(v[i].verb)) == 0) {
      const char *p = line;
      int t;
      for (t = 0; t < v[i].idx && p; t++) {
        p = strchr(p, ' ');
        if (p)
          while (*p == ' ')
            p++;
      }
      return p ? (size_t)strtoul(p, NULL, 10) + 2 : 0;
    }
  }
  return 0;
}

/* 0 to go on with the connection, -1 to close it. */
static int misbehave(conn_t *c, fake_mode_t mode, const char *line)
{
  int meta = line[0] == 'm' && line[1] != '\0' && line[2] == ' ';
  char junk[48];
  size_t i;

  switch (mode) {
  case FAKE_GARBAGE:
    for (i = 0; i < sizeof junk; i++)
      junk[i] = (char)(rand_r(&g_seed) & 0xff);
    say(c->fd, junk, sizeof junk);
    return 0;
  case FAKE_HALF:
    say_str(c->fd, meta ? "VA 100 f" : "STO");
    c->silent = 1;
    return 0;
  case FAKE_CLOSE:
    say_str(c->fd, meta ? "VA 100 f0 t-1\r\nabc" : "VALUE k 0 100\r\nabc");
    return -1;
  case FAKE_NO_META:
    say_str(c->fd, "ERROR\r\n");
    return 0;
  case FAKE_FLOOD:
    if (strncmp(line, "ms ", 3) == 0)
      c->silent = c->flood = 1;
    else
      say_str(c->fd, strncmp(line, "mg ", 3) == 0 ? "EN\r\n" : "HD\r\n");
    return 0;
  case FAKE_TRICKLE:
    reply(c, strncmp(line, "mg ", 3) == 0 ? "EN\r\n" : "HD\r\n", 4);
    return 0;
  case FAKE_CLIENT_ERROR:
    say_str(c->fd, "CLIENT_ERROR bad command line format\r\n");
    return 0;
  case FAKE_OOM: /* "mn" never gets here: serve_lines answers it */
  default:
    say_str(c->fd, "SERVER_ERROR out of memory\r\n");
    return 0;
  }
}

/* Handles every complete line in c->buf. */
static int serve_lines(conn_t *c, fake_mode_t mode)
{
  for (;;) {
    char *nl;
    if (c->skip > 0) {
      size_t n = c->skip < c->len ? c->skip : c->len;
      memmove(c->buf, c->buf + n, c->len - n);
      c->len -= n;
      c->skip -= n;
      if (c->skip > 0)
        return 0;
    }
    nl = memchr(c->buf, '\n', c->len);
    if (!nl) {
      if (c->len == BUF)
        c->len = 0; /* no line fits: drop it */
      return 0;
    }
    *nl = '\0';
    if (nl > c->buf && nl[-1] == '\r')
      nl[-1] = '\0';
    c->skip = mode == FAKE_NO_META ? 0 : data_len(c->buf);
    if (strcmp(c->buf, "stats") == 0)
      answer_stats(c);
    else if (strncmp(c->buf, "version", 7) == 0)
      reply(c, "VERSION 1.6.0-fake\r\n", 20);
    else if (strcmp(c->buf, "quit") == 0 || c->silent)
      return strcmp(c->buf, "quit") == 0 ? -1 : 0;
    else if (strcmp(c->buf, "mn") == 0 && mode != FAKE_NO_META)
      say_str(c->fd, "MN\r\n");
    else if (misbehave(c, mode, c->buf) != 0)
      return -1;
    c->len -= (size_t)(nl + 1 - c->buf);
    memmove(c->buf, nl + 1, c->len);
  }
}

static void accept_one(int lfd)
{
  int fd = accept(lfd, NULL, NULL), i;

  if (fd < 0)
    return;
  for (i = 0; i < MAX_CONNS; i++)
    if (g_conns[i].fd < 0) {
      g_conns[i].fd = fd;
      g_conns[i].len = g_conns[i].skip = 0;
      g_conns[i].silent = g_conns[i].flood = 0;
      g_conns[i].out_len = g_conns[i].out_pos = 0;
      return;
    }
  close(fd);
}

/* As much junk as the socket takes now; -1 when the client is gone. */
static int flood(conn_t *c)
{
  static char junk[65536];
  size_t i;

  if (junk[0] == '\0')
    for (i = 0; i < sizeof junk; i++)
      junk[i] = i % 64 == 63 ? '\n' : 'X';
  for (;;) {
    ssize_t w = send(c->fd, junk, sizeof junk, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0)
      return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
  }
}

/* One byte of what each connection is owed, when TRICKLE_MS passed. */
static void trickle(void)
{
  static struct timespec last;
  struct timespec now;
  int i;

  clock_gettime(CLOCK_MONOTONIC, &now);
  if ((now.tv_sec - last.tv_sec) * 1000 +
          (now.tv_nsec - last.tv_nsec) / 1000000 < TRICKLE_MS)
    return;
  last = now;
  for (i = 0; i < MAX_CONNS; i++) {
    conn_t *c = &g_conns[i];
    if (c->fd < 0 || c->out_pos == c->out_len)
      continue;
    say(c->fd, c->out + c->out_pos++, 1);
    if (c->out_pos == c->out_len)
      c->out_pos = c->out_len = 0;
  }
}

static void serve(int lfd, fake_mode_t mode)
{
  struct pollfd p[MAX_CONNS + 1];
  int i, n;

  g_trickle = mode == FAKE_TRICKLE;
  for (i = 0; i < MAX_CONNS; i++)
    g_conns[i].fd = -1;
  for (;;) {
    if (g_trickle)
      trickle();
    p[0].fd = lfd;
    p[0].events = POLLIN;
    for (i = 0; i < MAX_CONNS; i++) {
      /* A silent connection is not read: its client's writes pile up. */
      p[i + 1].fd = g_conns[i].silent && !g_conns[i].flood ? -1
                                                           : g_conns[i].fd;
      p[i + 1].events = g_conns[i].flood ? POLLOUT : POLLIN;
    }
    n = poll(p, MAX_CONNS + 1, g_trickle ? TRICKLE_MS / 4 : 1000);
    if (getppid() == 1)
      _exit(0);
    if (n <= 0)
      continue;
    if (p[0].revents & POLLIN)
      accept_one(lfd);
    for (i = 0; i < MAX_CONNS; i++) {
      conn_t *c = &g_conns[i];
      ssize_t r;
      if (c->fd < 0 || !(p[i + 1].revents & (POLLIN | POLLOUT | POLLHUP |
                                             POLLERR)))
        continue;
      if (c->flood) {
        if (flood(c) != 0) {
          close(c->fd);
          c->fd = -1;
        }
        continue;
      }
      r = recv(c->fd, c->buf + c->len, BUF - c->len, 0);
      if (r <= 0 || (c->len += (size_t)r, serve_lines(c, mode) != 0)) {
        close(c->fd);
        c->fd = -1;
      }
    }
  }
}

int fake_start(fake_t *f, fake_mode_t mode)
{
  struct sockaddr_in sa;
  socklen_t sl = sizeof sa;
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
  pid_t parent = getpid();

  if (lfd < 0)
    return -1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
      listen(lfd, 64) != 0 ||
      getsockname(lfd, (struct sockaddr *)&sa, &sl) != 0) {
    close(lfd);
    return -1;
  }
  f->port = ntohs(sa.sin_port);
  f->pid = fork();
  if (f->pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
      _exit(0);
    serve(lfd, mode);
    _exit(0);
  }
  close(lfd);
  return f->pid > 0 ? 0 : -1;
}

void fake_stop(fake_t *f)
{
  if (f->pid > 0) {
    kill(f->pid, SIGKILL);
    waitpid(f->pid, NULL, 0);
  }
  f->pid = 0;
}
