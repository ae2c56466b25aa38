/* Plain TCP connections with timeouts (see conn.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "conn.h"
#include "resolve.h"

/* A server that sends a line longer than this is not memcached. */
#define LINE_MAX_BYTES (64 * 1024)
/* memcached's own ceiling for an item (-I) is 1 GiB. */
#define BLOCK_MAX_BYTES ((size_t)1 << 30)
/* What a send reads of the answers while it waits to write, at most: a
 * server that sends while it reads nothing of ours must neither grow
 * our memory without bound nor pass for one making progress. Answers to
 * writes are short; only reads' answers could legitimately come near. */
#define RX_WHILE_SENDING_MAX ((size_t)64 << 20)
/* Waits are cut in slices so that a shutdown deadline is seen soon. */
#define SLICE_MS 100
/* The slowest a transfer may move once begun: 1 MB/s. */
#define NS_PER_BYTE 1000

void mcrepl__conn_init(mcrepl__conn_t *c)
{
  memset(c, 0, sizeof *c);
  c->fd = -1;
}

void mcrepl__conn_close(mcrepl__conn_t *c)
{
  if (c->fd >= 0)
    close(c->fd);
  c->fd = -1;
  c->in.len = 0;
  c->pos = 0;
  c->stamped = 0;
}

void mcrepl__conn_stamp(mcrepl__conn_t *c)
{
  int one = 1;

  c->stamped = c->fd >= 0 && setsockopt(c->fd, SOL_SOCKET, SO_TIMESTAMPNS,
                                        &one, sizeof one) == 0;
}

/* The arrival time of the last segment read, moved from the wall clock
 * the kernel stamps with onto our monotonic one; now when unstamped. */
static int64_t arrival(struct msghdr *mh, int64_t now, int *stamped)
{
  struct cmsghdr *cm;

  for (cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm))
    if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS) {
      struct timespec ts, real;
      int64_t ago;
      memcpy(&ts, CMSG_DATA(cm), sizeof ts);
      clock_gettime(CLOCK_REALTIME, &real);
      ago = (int64_t)(real.tv_sec - ts.tv_sec) * 1000000000 +
            (real.tv_nsec - ts.tv_nsec);
      /* A wall clock step while the bytes waited is not a lag. */
      *stamped = ago > 0 && ago < now;
      return *stamped ? now - ago : now;
    }
  *stamped = 0;
  return now;
}

static ssize_t receive(mcrepl__conn_t *c, char *buf, size_t len)
{
  union {
    char b[CMSG_SPACE(sizeof(struct timespec))];
    struct cmsghdr align;
  } ctl;
  struct iovec v = {buf, len};
  struct msghdr mh;
  ssize_t n;

  memset(&mh, 0, sizeof mh);
  mh.msg_iov = &v;
  mh.msg_iovlen = 1;
  if (c->stamped) {
    mh.msg_control = ctl.b;
    mh.msg_controllen = sizeof ctl.b;
  }
  n = recvmsg(c->fd, &mh, 0);
  if (n > 0)
    c->rx_ns = arrival(&mh, mcrepl__now_ns(), &c->rx_stamped);
  return n;
}

void mcrepl__conn_free(mcrepl__conn_t *c)
{
  mcrepl__conn_close(c);
  mcrepl__buf_free(&c->in);
}

static int wait_fd(int fd, short events, int ms)
{
  struct pollfd pfd = {.fd = fd, .events = events, .revents = 0};
  int n;

  do
    n = poll(&pfd, 1, ms);
  while (n < 0 && errno == EINTR);
  return n <= 0 ? n : pfd.revents;
}

static int connect_one(const struct addrinfo *ai, int connect_ms)
{
  int fd, err = 0, one = 1;
  socklen_t len = sizeof err;

  fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
              ai->ai_protocol);
  if (fd < 0)
    return -1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
    return fd;
  if (errno == EINPROGRESS && wait_fd(fd, POLLOUT, connect_ms) > 0 &&
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)
    return fd;
  close(fd);
  return -1;
}

/* Milliseconds from now to deadline_ns, at least 1. */
static int ms_until(int64_t deadline_ns)
{
  int64_t left = (deadline_ns - mcrepl__now_ns()) / 1000000;

  return left < 1 ? 1 : left > INT_MAX ? INT_MAX : (int)left;
}

mcrepl_return_t mcrepl__conn_open(mcrepl__conn_t *c, const mcrepl__addr_t *a,
                                  int connect_ms)
{
  /* The lookup and the connects share connect_ms. */
  int64_t deadline = mcrepl__now_ns() + mcrepl__ms_to_ns(connect_ms);
  struct addrinfo *res, *ai;

  mcrepl__conn_close(c);
  c->peer_gone = 0;
  if (mcrepl__resolve(a->host, a->port, deadline, &res) != 0)
    return MCREPL_HOST_LOOKUP_FAILURE;
  for (ai = res; ai && c->fd < 0; ai = ai->ai_next)
    c->fd = connect_one(ai, ms_until(deadline));
  freeaddrinfo(res);
  return c->fd >= 0 ? MCREPL_SUCCESS : MCREPL_CONNECTION_FAILURE;
}

mcrepl__io_t mcrepl__io_within(const mcrepl__io_t *io, int ms)
{
  mcrepl__io_t b = *io;
  int64_t until = mcrepl__now_ns() + mcrepl__ms_to_ns(ms);

  if (b.until == 0 || until < b.until)
    b.until = until;
  return b;
}

/* When a transfer of `bytes` begun at start_ns must be through. */
static int64_t transfer_end(const mcrepl__io_t *io, int64_t start_ns,
                            size_t bytes)
{
  return start_ns + mcrepl__ms_to_ns(io->stall_ms) +
         (bytes > BLOCK_MAX_BYTES ? BLOCK_MAX_BYTES : bytes) * NS_PER_BYTE;
}

/* How long the next poll may wait, or -1 when time is up: a stall since
 * the last byte moved, or a transfer that took too long as a whole. */
static int slice_ms(const mcrepl__io_t *io, int64_t progress, int64_t end)
{
  int64_t now = mcrepl__now_ns(), left;
  int64_t dl = io->deadline ? atomic_load(io->deadline) : 0;
  int64_t stall = progress + mcrepl__ms_to_ns(io->stall_ms);

  if (stall < end)
    end = stall;
  if (dl > 0 && dl < end)
    end = dl;
  if (io->until > 0 && io->until < end)
    end = io->until;
  left = (end - now) / 1000000;
  if (now >= end)
    return -1;
  return left > SLICE_MS ? SLICE_MS : (int)left + 1;
}

/* Reads what is there into c->in. 1: got bytes, 0: nothing, -1: error. */
static int fill(mcrepl__conn_t *c)
{
  char tmp[16384];
  ssize_t n;

  if (c->pos > 0) {
    /* Only the caller's last line/block points in here, and it is
     * documented to die with the next call. */
    memmove(c->in.p, c->in.p + c->pos, c->in.len - c->pos);
    c->in.len -= c->pos;
    c->pos = 0;
  }
  n = receive(c, tmp, sizeof tmp);
  if (n > 0)
    return mcrepl__buf_add(&c->in, tmp, (size_t)n) == 0 ? 1 : -1;
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    return 0;
  c->peer_gone = n == 0 || errno == ECONNRESET;
  return -1; /* EOF or a real error */
}

/* Whether a poll's answer ends the connection. */
static int broken(mcrepl__conn_t *c, int ev)
{
  if (ev > 0 && (ev & POLLERR))
    c->peer_gone = 1; /* a pending error: the peer reset it */
  return ev < 0 || (ev & (POLLERR | POLLNVAL));
}

static mcrepl_return_t close_with(mcrepl__conn_t *c, mcrepl_return_t rc)
{
  mcrepl__conn_close(c);
  return rc;
}

mcrepl_return_t mcrepl__conn_send(mcrepl__conn_t *c, const void *p,
                                  size_t len, const mcrepl__io_t *io)
{
  struct iovec v = {(void *)p, len};

  return mcrepl__conn_sendv(c, &v, 1, io);
}

/* Drops n sent bytes off the front of the vector. */
static void advance(struct iovec **iov, size_t *cnt, size_t n)
{
  while (*cnt > 0 && n >= (*iov)->iov_len) {
    n -= (*iov)->iov_len;
    ++*iov;
    --*cnt;
  }
  if (*cnt > 0) {
    (*iov)->iov_base = (char *)(*iov)->iov_base + n;
    (*iov)->iov_len -= n;
  }
}

static ssize_t send_some(mcrepl__conn_t *c, struct iovec *iov, size_t cnt)
{
  struct msghdr mh;
  ssize_t n;

  memset(&mh, 0, sizeof mh);
  mh.msg_iov = iov;
  mh.msg_iovlen = cnt < IOV_MAX ? cnt : IOV_MAX;
  n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
  if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
    c->peer_gone = 1;
  return n;
}

static size_t iov_bytes(const struct iovec *iov, size_t cnt)
{
  size_t n = 0;

  while (cnt-- > 0)
    n += iov++->iov_len;
  return n;
}

mcrepl_return_t mcrepl__conn_sendv(mcrepl__conn_t *c, struct iovec *iov,
                                   size_t cnt, const mcrepl__io_t *io)
{
  int64_t progress = mcrepl__now_ns();
  int64_t end = transfer_end(io, progress, iov_bytes(iov, cnt));

  if (c->fd < 0)
    return MCREPL_CONNECTION_FAILURE;
  advance(&iov, &cnt, 0);
  /* Most pipelines fit the socket buffer: try before polling. */
  if (cnt > 0) {
    ssize_t n = send_some(c, iov, cnt);
    if (n < 0 && errno != EAGAIN && errno != EINTR)
      return close_with(c, MCREPL_CONNECTION_FAILURE);
    if (n > 0)
      advance(&iov, &cnt, (size_t)n);
  }
  while (cnt > 0) {
    int ms = slice_ms(io, progress, end), ev;
    /* Past the bound, the answers wait in the kernel; a real server
     * then stops too, and our send times out unless it reads. */
    short rx = c->in.len - c->pos < RX_WHILE_SENDING_MAX ? POLLIN : 0;
    if (ms < 0)
      return close_with(c, MCREPL_TIMEOUT);
    ev = wait_fd(c->fd, POLLOUT | rx, ms);
    if (broken(c, ev))
      return close_with(c, MCREPL_CONNECTION_FAILURE);
    /* A hang-up is read even past the bound: it ends in EOF. */
    if (ev & (rx | POLLHUP)) {
      int got = fill(c);
      if (got < 0)
        return close_with(c, MCREPL_CONNECTION_FAILURE);
      if (got > 0)
        progress = mcrepl__now_ns();
    }
    if (ev & POLLOUT) {
      ssize_t n = send_some(c, iov, cnt);
      if (n < 0 && errno != EAGAIN && errno != EINTR)
        return close_with(c, MCREPL_CONNECTION_FAILURE);
      if (n > 0) {
        advance(&iov, &cnt, (size_t)n);
        progress = mcrepl__now_ns();
      }
    }
  }
  return MCREPL_SUCCESS;
}

/* Makes at least `need` unread bytes available. */
static mcrepl_return_t want(mcrepl__conn_t *c, size_t need,
                            const mcrepl__io_t *io, int64_t end)
{
  int64_t progress = mcrepl__now_ns();

  if (c->fd < 0)
    return MCREPL_CONNECTION_FAILURE;
  /* Read before polling: a pipelined answer is mostly there already,
   * and the poll would be one more system call per batch. */
  while (c->in.len - c->pos < need) {
    int got = fill(c), ms, ev;
    if (got < 0)
      return close_with(c, MCREPL_CONNECTION_FAILURE);
    if (got > 0) {
      progress = mcrepl__now_ns();
      continue;
    }
    ms = slice_ms(io, progress, end);
    if (ms < 0)
      return close_with(c, MCREPL_TIMEOUT);
    ev = wait_fd(c->fd, POLLIN, ms);
    if (broken(c, ev))
      return close_with(c, MCREPL_CONNECTION_FAILURE);
  }
  return MCREPL_SUCCESS;
}

mcrepl_return_t mcrepl__conn_line(mcrepl__conn_t *c, const char **line,
                                  size_t *len, const mcrepl__io_t *io)
{
  size_t scanned = 0;
  int64_t end = transfer_end(io, mcrepl__now_ns(), LINE_MAX_BYTES);

  for (;;) {
    const char *start = c->in.p ? c->in.p + c->pos : NULL;
    size_t avail = c->in.len - c->pos;
    const char *nl = avail > scanned
                         ? memchr(start + scanned, '\n', avail - scanned)
                         : NULL;
    mcrepl_return_t rc;

    if (nl) {
      size_t n = (size_t)(nl - start);
      *line = start;
      *len = n > 0 && start[n - 1] == '\r' ? n - 1 : n;
      c->pos += n + 1;
      return MCREPL_SUCCESS;
    }
    if (avail > LINE_MAX_BYTES)
      return close_with(c, MCREPL_PROTOCOL_ERROR);
    scanned = avail;
    rc = want(c, avail + 1, io, end);
    if (rc != MCREPL_SUCCESS)
      return rc;
  }
}

mcrepl_return_t mcrepl__conn_block(mcrepl__conn_t *c, size_t n,
                                   const char **data,
                                   const mcrepl__io_t *io)
{
  mcrepl_return_t rc;

  if (n > BLOCK_MAX_BYTES)
    return close_with(c, MCREPL_PROTOCOL_ERROR);
  rc = want(c, n + 2, io, transfer_end(io, mcrepl__now_ns(), n + 2));
  if (rc != MCREPL_SUCCESS)
    return rc;
  *data = c->in.p + c->pos;
  if (memcmp(*data + n, "\r\n", 2) != 0)
    return close_with(c, MCREPL_PROTOCOL_ERROR);
  c->pos += n + 2;
  return MCREPL_SUCCESS;
}

mcrepl_return_t mcrepl__conn_stats(mcrepl__conn_t *c,
                                   mcrepl__stats_reply_t *s,
                                   const mcrepl__io_t *io)
{
  /* A whole answer is a few KB: one timeout is its time. */
  mcrepl__io_t once = mcrepl__io_within(io, io->stall_ms);
  mcrepl_return_t rc;
  const char *line;
  size_t len;
  int lines = 0;

  memset(s, 0, sizeof *s);
  rc = mcrepl__conn_send(c, "stats\r\n", 7, &once);
  while (rc == MCREPL_SUCCESS) {
    rc = mcrepl__conn_line(c, &line, &len, &once);
    if (rc != MCREPL_SUCCESS)
      break;
    if (len == 3 && memcmp(line, "END", 3) == 0)
      return (s->seen & 7) == 7 ? MCREPL_SUCCESS : MCREPL_PROTOCOL_ERROR;
    if (!mcrepl__proto_is(line, len, "STAT") || ++lines > 4096)
      return close_with(c, MCREPL_PROTOCOL_ERROR);
    mcrepl__proto_stat_line(line, len, s);
  }
  return rc;
}

mcrepl_return_t mcrepl__conn_ask_stats(const mcrepl__addr_t *a,
                                       int connect_ms,
                                       mcrepl__stats_reply_t *s,
                                       const mcrepl__io_t *io)
{
  mcrepl__conn_t c;
  mcrepl_return_t rc;

  mcrepl__conn_init(&c);
  rc = mcrepl__conn_open(&c, a, connect_ms);
  if (rc == MCREPL_SUCCESS)
    rc = mcrepl__conn_stats(&c, s, io);
  mcrepl__conn_free(&c);
  return rc;
}
