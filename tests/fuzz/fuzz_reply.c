/* libFuzzer target: arbitrary bytes as a server's reply, read through
 * lib/conn.c over a socketpair, the way the sender reads a slave's or a
 * master's answers. Must not crash, hang, leak, or hand out bytes that
 * were never received.
 *
 * Input byte 0: bits 0-1 pick the reader (read-back answers, "stats",
 * a raw block then lines), bit 7 keeps the peer open after the bytes (a
 * server that stalls; the 1 ms stall timeout ends the wait) instead of
 * closing it (a server that died mid-reply); bits 2-6 size the raw
 * block. The rest is what the "server" sends. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_REPLY 60000 /* fits an AF_UNIX socket buffer: no writer thread */
#define MAX_CALLS 512   /* reads per input: bounded however short */

typedef struct {
  mcrepl__conn_t c;
  mcrepl__io_t io;
  size_t sent, consumed; /* bytes handed out must have been received */
} rig_t;

static void take_line(rig_t *r, const char *line, size_t len)
{
  if (len > 64 * 1024 || memchr(line, '\n', len) != NULL)
    abort();
  r->consumed += len + 1; /* at least the '\n' went too */
  if (r->consumed > r->sent)
    abort();
}

static int read_block(rig_t *r, size_t n)
{
  const char *d;

  if (mcrepl__conn_block(&r->c, n, &d, &r->io) != MCREPL_SUCCESS)
    return -1;
  if (d[n] != '\r' || d[n + 1] != '\n')
    abort();
  r->consumed += n + 2;
  if (r->consumed > r->sent)
    abort();
  return 0;
}

/* As the sender's read_state: a line; after a VA line, its value. */
static void read_states(rig_t *r)
{
  const char *line;
  size_t len;
  int i;

  for (i = 0; i < MAX_CALLS; i++) {
    mcrepl__meta_t m;
    if (mcrepl__conn_line(&r->c, &line, &len, &r->io) != MCREPL_SUCCESS)
      return;
    take_line(r, line, len);
    if (mcrepl__proto_is(line, len, "VA") &&
        mcrepl__proto_parse_va(line, len, &m) == 0 &&
        read_block(r, m.vlen) != 0)
      return;
  }
}

static void read_stats(rig_t *r)
{
  mcrepl__stats_reply_t s;

  if (mcrepl__conn_stats(&r->c, &s, &r->io) == MCREPL_SUCCESS &&
      ((s.seen & 7) != 7 ||
       strnlen(s.version, sizeof s.version) == sizeof s.version))
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  rig_t r;
  int sv[2];
  size_t off = 0;

  if (size < 1 || size > MAX_REPLY)
    return 0;
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    abort();
  while (off < size - 1) { /* fits the buffer: never blocks */
    ssize_t w = write(sv[1], data + 1 + off, size - 1 - off);
    if (w <= 0)
      abort();
    off += (size_t)w;
  }
  if (!(data[0] & 0x80))
    shutdown(sv[1], SHUT_WR);
  fcntl(sv[0], F_SETFL, O_NONBLOCK); /* as mcrepl__conn_open makes it */

  memset(&r, 0, sizeof r);
  mcrepl__conn_init(&r.c);
  r.c.fd = sv[0];
  r.io.stall_ms = 1;
  r.io.deadline = NULL;
  r.sent = size - 1;
  switch (data[0] & 3) {
  case 0:
  case 3:
    read_states(&r);
    break;
  case 1:
    read_stats(&r);
    break;
  case 2:
    if (read_block(&r, (size_t)(data[0] >> 2) & 0x1f) == 0)
      read_states(&r);
    break;
  }
  mcrepl__conn_free(&r.c); /* closes sv[0] unless a failure did */
  close(sv[1]);
  return 0;
}
