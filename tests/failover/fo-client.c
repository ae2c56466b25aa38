/* fo-client: the client side of the failover test bed (tests/failover).
 * Runs inside the client network namespace and talks to the pair through
 * libmcrepl (--pair=A,B,vip=VIP); some commands also ask one node
 * directly, in memcached's own protocol, to see what that node holds.
 *
 *   load    --config=S --out=DIR [--prefix=P] [--rate=N] [--read-rate=N]
 *           [--value-size=N] [--ttl-every=K] [--ttl=S] [--drain-ms=MS]
 *           writes P:0, P:1, ... through the library at N/s until SIGTERM,
 *           while a reader reads random acknowledged keys and a sampler
 *           records mcrepl_pair_stats every 2 ms; then writes
 *           DIR/acks.txt, werr.txt, reads.txt and stats.txt.
 *   analyze --config=S --dir=DIR --kill=NS[,NS] [--max-read-outage-ms=N]
 *           reads every acknowledged key back through the library and
 *           prints the figures of each kill (unix ns): keys lost against
 *           the queue depth then, write and read outages. Exits 1 when a
 *           key acknowledged before the in-flight window is lost, more
 *           keys are lost than were queued, or a read saw a wrong value.
 *   fill    --config=S --prefix=P --count=N --tag=T [--delete-every=K]
 *           [--ttl=S] [--flags=F] [--wait-ms=MS]
 *           sets P:i to "T:i..." (deletes it when i % K == 0 and K > 0).
 *   expect  (--config=S | --node=HOST:PORT) --prefix=P --count=N --tag=T
 *           [--delete-every=K] [--allow-missing]
 *           checks what fill wrote; deleted keys must be absent.
 *   compare --src=HOST:PORT --dst=HOST:PORT [--both]
 *           every live item of src (its LRU crawler's list) must be on
 *           dst with the same value and flags and a TTL within 2 s; with
 *           --both, dst must hold nothing that src lacks.
 *   nstats  --node=HOST:PORT    one node's pid, items and set counters.
 *   pstats  --config=S          the library's counters of pair 0.
 *
 * Every figure is printed as one NAME=VALUE line on stdout. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <mcrepl/mcrepl.h>

#define NS 1000000000LL
#define MS 1000000LL
#define KEY_MAX 250
#define VAL_MAX 4096
#define BATCH 256

/* Utilities --------------------------------------------------------------*/

static int64_t now_ns(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

static void sleep_ns(int64_t ns)
{
  struct timespec ts;

  if (ns <= 0)
    return;
  ts.tv_sec = (time_t)(ns / NS);
  ts.tv_nsec = (long)(ns % NS);
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

static void die(const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  fprintf(stderr, "fo-client: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(2);
}

static void *xrealloc(void *p, size_t n)
{
  void *q = realloc(p, n ? n : 1);

  if (!q)
    die("out of memory");
  return q;
}

/* A growable array of fixed-size elements. */
typedef struct {
  char *p;
  size_t n, cap, sz;
} vec_t;

static void vec_init(vec_t *v, size_t sz)
{
  memset(v, 0, sizeof *v);
  v->sz = sz;
}

static void *vec_push(vec_t *v)
{
  if (v->n == v->cap) {
    v->cap = v->cap ? v->cap * 2 : 1024;
    v->p = xrealloc(v->p, v->cap * v->sz);
  }
  return v->p + v->sz * v->n++;
}

static void *vec_at(const vec_t *v, size_t i)
{
  return v->p + v->sz * i;
}

/* Options: --name=value, looked up by name. */
typedef struct {
  int argc;
  char **argv;
} args_t;

static const char *opt(const args_t *a, const char *name)
{
  size_t n = strlen(name);
  int i;

  for (i = 0; i < a->argc; i++)
    if (strncmp(a->argv[i], "--", 2) == 0 &&
        strncmp(a->argv[i] + 2, name, n) == 0) {
      const char *rest = a->argv[i] + 2 + n;
      if (*rest == '=')
        return rest + 1;
      if (*rest == '\0')
        return "";
    }
  return NULL;
}

static const char *opt_req(const args_t *a, const char *name)
{
  const char *v = opt(a, name);

  if (!v || !*v)
    die("--%s is required", name);
  return v;
}

static long long opt_int(const args_t *a, const char *name, long long def)
{
  const char *v = opt(a, name);
  char *end;
  long long x;

  if (!v)
    return def;
  x = strtoll(v, &end, 10);
  if (*v == '\0' || *end != '\0')
    die("--%s: not a number: %s", name, v);
  return x;
}

static mcrepl_t *open_pair(const args_t *a)
{
  char err[256] = "";
  mcrepl_t *m = mcrepl_create(opt_req(a, "config"), err, sizeof err);

  if (!m)
    die("mcrepl_create: %s", err);
  return m;
}

/* The value of key i: "TAG:i:" then 'x' up to size bytes. */
static size_t make_value(char *buf, size_t size, const char *tag,
                         uint64_t i)
{
  int n = snprintf(buf, VAL_MAX, "%s:%" PRIu64 ":", tag, i);
  size_t len = size > (size_t)n ? size : (size_t)n;

  if (len >= VAL_MAX)
    len = VAL_MAX - 1;
  memset(buf + n, 'x', len - (size_t)n);
  buf[len] = '\0';
  return len;
}

static size_t make_key(char *buf, const char *prefix, uint64_t i)
{
  return (size_t)snprintf(buf, KEY_MAX + 1, "%s:%" PRIu64, prefix, i);
}

/* One node, asked directly ----------------------------------------------*/

typedef struct {
  int fd;
  char buf[1 << 16];
  size_t off, len;
  char line[2048];
} node_t;

static int node_open(node_t *c, const char *hostport)
{
  char host[256];
  const char *colon = strrchr(hostport, ':');
  struct addrinfo hints, *res = NULL;
  struct timeval tv = {5, 0};
  size_t hl;

  memset(c, 0, sizeof *c);
  c->fd = -1;
  if (!colon || (hl = (size_t)(colon - hostport)) >= sizeof host)
    return -1;
  memcpy(host, hostport, hl);
  host[hl] = '\0';
  memset(&hints, 0, sizeof hints);
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
    return -1;
  c->fd = socket(res->ai_family, SOCK_STREAM, 0);
  if (c->fd >= 0) {
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(c->fd, res->ai_addr, res->ai_addrlen) != 0) {
      close(c->fd);
      c->fd = -1;
    }
  }
  freeaddrinfo(res);
  return c->fd >= 0 ? 0 : -1;
}

static void node_close(node_t *c)
{
  if (c->fd >= 0)
    close(c->fd);
  c->fd = -1;
}

static int node_send(node_t *c, const char *p, size_t n)
{
  while (n > 0) {
    ssize_t w = write(c->fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int node_fill(node_t *c)
{
  ssize_t r;

  if (c->off > 0) {
    memmove(c->buf, c->buf + c->off, c->len - c->off);
    c->len -= c->off;
    c->off = 0;
  }
  if (c->len == sizeof c->buf)
    return -1;
  do
    r = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
  while (r < 0 && errno == EINTR);
  if (r <= 0)
    return -1;
  c->len += (size_t)r;
  return 0;
}

/* The next line without its CRLF, in c->line; NULL on error. */
static const char *node_line(node_t *c)
{
  for (;;) {
    char *nl = memchr(c->buf + c->off, '\n', c->len - c->off);
    if (nl) {
      size_t n = (size_t)(nl - (c->buf + c->off));
      if (n > 0 && nl[-1] == '\r')
        n--;
      if (n >= sizeof c->line)
        n = sizeof c->line - 1;
      memcpy(c->line, c->buf + c->off, n);
      c->line[n] = '\0';
      c->off = (size_t)(nl - c->buf) + 1;
      return c->line;
    }
    if (node_fill(c) != 0)
      return NULL;
  }
}

/* n bytes and the CRLF after them into dst (dst holds n + 1). */
static int node_data(node_t *c, char *dst, size_t n)
{
  while (c->len - c->off < n + 2)
    if (node_fill(c) != 0)
      return -1;
  memcpy(dst, c->buf + c->off, n);
  dst[n] = '\0';
  c->off += n + 2;
  return 0;
}

/* What "mg KEY v f t" found. */
typedef struct {
  int found;
  uint32_t flags;
  int64_t ttl; /* -1: never expires */
  size_t len;
  char val[VAL_MAX];
} item_t;

static int mg_read(node_t *c, item_t *it)
{
  const char *l = node_line(c);
  const char *tok;
  char *end;

  memset(it, 0, sizeof *it);
  it->ttl = -1;
  if (!l)
    return -1;
  if (strcmp(l, "EN") == 0)
    return 0;
  if (strncmp(l, "VA ", 3) != 0)
    return -1;
  it->len = strtoul(l + 3, &end, 10);
  for (tok = end; *tok; tok++) {
    if (tok[0] == ' ' && tok[1] == 'f')
      it->flags = (uint32_t)strtoul(tok + 2, NULL, 10);
    else if (tok[0] == ' ' && tok[1] == 't')
      it->ttl = strtoll(tok + 2, NULL, 10);
  }
  if (it->len >= VAL_MAX)
    return -1;
  it->found = 1;
  return node_data(c, it->val, it->len);
}

/* Items of keys[0..n) from one node, pipelined. */
static int mg_batch(node_t *c, char keys[][KEY_MAX + 1], size_t n,
                    item_t *out)
{
  char cmds[BATCH * (KEY_MAX + 16)];
  size_t i, len = 0;

  for (i = 0; i < n; i++)
    len += (size_t)snprintf(cmds + len, sizeof cmds - len,
                            "mg %s v f t\r\n", keys[i]);
  if (node_send(c, cmds, len) != 0)
    return -1;
  for (i = 0; i < n; i++)
    if (mg_read(c, &out[i]) != 0)
      return -1;
  return 0;
}

/* One number of a node's "stats"; -1 when it cannot be read. */
static long long node_stat(const char *hostport, const char *name)
{
  node_t *c = malloc(sizeof *c);
  size_t n = strlen(name);
  long long v = -1;
  const char *l;

  if (!c || node_open(c, hostport) != 0 ||
      node_send(c, "stats\r\n", 7) != 0) {
    free(c);
    return -1;
  }
  while ((l = node_line(c)) && strcmp(l, "END") != 0)
    if (strncmp(l, "STAT ", 5) == 0 && strncmp(l + 5, name, n) == 0 &&
        l[5 + n] == ' ')
      v = strtoll(l + 6 + n, NULL, 10);
  node_close(c);
  free(c);
  return v;
}

static int hexval(int ch)
{
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F')
    return ch - 'A' + 10;
  return -1;
}

/* Every key the node's crawler lists in a walk of its hash table (which,
 * unlike the walk of the LRUs, does not skip items that reads move;
 * read without a pause, as it holds a bucket lock while it waits for
 * us), URL-decoded, as an array of KEY_MAX + 1 char strings; markers
 * ("mcrepl:...") left out and counted in *markers. */
static int list_keys(const char *hostport, vec_t *keys, size_t *markers)
{
  node_t *c = malloc(sizeof *c);
  const char *l;
  int tries, rc = -1;

  vec_init(keys, KEY_MAX + 1);
  *markers = 0;
  if (!c)
    return -1;
  for (tries = 0; tries < 50; tries++) {
    if (node_open(c, hostport) != 0)
      break;
    if (node_send(c, "lru_crawler metadump hash\r\n", 27) != 0)
      break;
    l = node_line(c);
    if (l && strncmp(l, "BUSY", 4) == 0) {
      node_close(c);
      sleep_ns(100 * MS);
      continue;
    }
    while (l && strcmp(l, "END") != 0) {
      if (strncmp(l, "key=", 4) == 0) {
        char *k = vec_push(keys);
        size_t n = 0;
        const char *p;
        for (p = l + 4; *p && *p != ' ' && n < KEY_MAX; p++) {
          if (*p == '%' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
            k[n++] = (char)(hexval(p[1]) * 16 + hexval(p[2]));
            p += 2;
          } else {
            k[n++] = *p;
          }
        }
        k[n] = '\0';
        if (strncmp(k, "mcrepl:", 7) == 0) {
          keys->n--;
          (*markers)++;
        }
      }
      l = node_line(c);
    }
    rc = l ? 0 : -1;
    break;
  }
  node_close(c);
  free(c);
  return rc;
}

static int cmp_key(const void *a, const void *b)
{
  return strcmp(a, b);
}

/* load ------------------------------------------------------------------ */

typedef struct {
  uint64_t seq;
  int64_t t;
} ack_t;

typedef struct {
  int64_t t;
  uint64_t seq;
  int rc;
} werr_t;

/* status: 0 right value, 1 wrong value, 2 miss, 3 error */
typedef struct {
  int64_t t0, t1;
  uint64_t seq;
  int status;
  int rc;
} read_t;

typedef struct {
  int64_t t;
  mcrepl_pair_stats_t st;
} sample_t;

typedef struct {
  mcrepl_t *m;
  const char *prefix;
  long long rate, read_rate, value_size, ttl_every, ttl;
  atomic_uint_fast64_t acked; /* seqs 0..acked-1 are acknowledged */
  vec_t acks, werrs, reads, samples;
} load_t;

static volatile sig_atomic_t stop_flag;

static void on_stop(int sig)
{
  (void)sig;
  stop_flag = 1;
}

static uint32_t flags_of(uint64_t seq)
{
  return (uint32_t)(seq & 0xffff);
}

static time_t ttl_of(const load_t *l, uint64_t seq)
{
  return l->ttl_every > 0 && seq % (uint64_t)l->ttl_every == 0
             ? (time_t)l->ttl
             : 0;
}

/* Paces a loop at rate/s; after a stall it restarts the schedule rather
 * than burst to catch up. */
typedef struct {
  int64_t start, interval;
  uint64_t n;
} pace_t;

static void pace_init(pace_t *p, long long rate)
{
  p->start = now_ns();
  p->interval = rate > 0 ? NS / rate : 0;
  p->n = 0;
}

static void pace_wait(pace_t *p)
{
  int64_t due = p->start + (int64_t)p->n * p->interval, now = now_ns();

  p->n++;
  if (now < due)
    sleep_ns(due - now);
  else if (now - due > 100 * MS) {
    p->start = now;
    p->n = 1;
  }
}

static void *writer(void *arg)
{
  load_t *l = arg;
  char key[KEY_MAX + 1], val[VAL_MAX];
  uint64_t seq = 0;
  pace_t pace;

  pace_init(&pace, l->rate);
  while (!stop_flag) {
    size_t kl = make_key(key, l->prefix, seq);
    size_t vl = make_value(val, (size_t)l->value_size, "v", seq);
    mcrepl_return_t rc;
    pace_wait(&pace);
    rc = mcrepl_set(l->m, key, kl, val, vl, ttl_of(l, seq), flags_of(seq));
    if (rc == MCREPL_SUCCESS) {
      ack_t *a = vec_push(&l->acks);
      a->seq = seq;
      a->t = now_ns();
      atomic_store(&l->acked, ++seq);
    } else {
      werr_t *e = vec_push(&l->werrs);
      e->t = now_ns();
      e->seq = seq;
      e->rc = (int)rc;
      sleep_ns(MS);
    }
  }
  return NULL;
}

static void *reader(void *arg)
{
  load_t *l = arg;
  char key[KEY_MAX + 1], want[VAL_MAX];
  unsigned seed = (unsigned)now_ns();
  pace_t pace;

  pace_init(&pace, l->read_rate);
  while (!stop_flag) {
    uint64_t n = atomic_load(&l->acked), seq;
    size_t kl, wl, len = 0;
    uint32_t flags = 0;
    mcrepl_return_t rc;
    read_t *r;
    char *v;
    pace_wait(&pace);
    if (n == 0)
      continue;
    seq = (uint64_t)rand_r(&seed) % n;
    kl = make_key(key, l->prefix, seq);
    wl = make_value(want, (size_t)l->value_size, "v", seq);
    r = vec_push(&l->reads);
    r->seq = seq;
    r->t0 = now_ns();
    v = mcrepl_get(l->m, key, kl, &len, &flags, &rc);
    r->t1 = now_ns();
    r->rc = (int)rc;
    if (v)
      r->status = len == wl && memcmp(v, want, wl) == 0 &&
                          flags == flags_of(seq)
                      ? 0
                      : 1;
    else
      r->status = rc == MCREPL_NOTFOUND ? 2 : 3;
    free(v);
  }
  return NULL;
}

static void sample(load_t *l)
{
  sample_t *s = vec_push(&l->samples);

  memset(s, 0, sizeof *s);
  s->t = now_ns();
  mcrepl_pair_stats(l->m, 0, &s->st, sizeof s->st);
}

static void *sampler(void *arg)
{
  load_t *l = arg;

  while (!stop_flag) {
    sample(l);
    sleep_ns(2 * MS);
  }
  return NULL;
}

static FILE *open_out(const char *dir, const char *name)
{
  char path[4096];
  FILE *f;

  snprintf(path, sizeof path, "%s/%s", dir, name);
  f = fopen(path, "w");
  if (!f)
    die("%s: %s", path, strerror(errno));
  return f;
}

static const char *str_or(const char *s, const char *dflt)
{
  return s && *s ? s : dflt;
}

static void print_sample(FILE *f, const sample_t *s)
{
  const mcrepl_pair_stats_t *st = &s->st;
  uint64_t vipch = 0, rfo = 0;
  const char *cur = NULL;

#ifdef FO_HAVE_VIP_CHANGES
  vipch = st->vip_changes;
#endif
#ifdef FO_HAVE_READ_FAILOVERS
  rfo = st->read_failovers;
#endif
#ifdef FO_HAVE_CURRENT_MASTER
  cur = st->current_master;
#endif
  fprintf(f,
          "%" PRId64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
          " %" PRIu64 " %" PRIu64 " %" PRIu64 " %d %d %" PRIu64 " %" PRIu64
          " %s\n",
          s->t, st->queue_items, st->queued, st->replicated, st->dropped,
          st->lag_p50_us, st->lag_p99_us, st->lag_max_us, st->dirty,
          st->slave_up, vipch, rfo, str_or(cur, "-"));
}

static void dump_load(const load_t *l, const char *dir)
{
  FILE *f;
  size_t i;

  f = open_out(dir, "acks.txt");
  for (i = 0; i < l->acks.n; i++) {
    const ack_t *a = vec_at(&l->acks, i);
    fprintf(f, "%" PRIu64 " %" PRId64 "\n", a->seq, a->t);
  }
  fclose(f);
  f = open_out(dir, "werr.txt");
  for (i = 0; i < l->werrs.n; i++) {
    const werr_t *e = vec_at(&l->werrs, i);
    fprintf(f, "%" PRId64 " %" PRIu64 " %d\n", e->t, e->seq, e->rc);
  }
  fclose(f);
  f = open_out(dir, "reads.txt");
  for (i = 0; i < l->reads.n; i++) {
    const read_t *r = vec_at(&l->reads, i);
    fprintf(f, "%" PRId64 " %" PRId64 " %" PRIu64 " %d %d\n", r->t0, r->t1,
            r->seq, r->status, r->rc);
  }
  fclose(f);
  f = open_out(dir, "stats.txt");
  for (i = 0; i < l->samples.n; i++)
    print_sample(f, vec_at(&l->samples, i));
  fclose(f);
}

static int cmd_load(const args_t *a)
{
  load_t l;
  pthread_t tw, tr, ts;
  struct sigaction sa;
  const char *dir = opt_req(a, "out");
  long long drain = opt_int(a, "drain-ms", 5000);
  const sample_t *last;
  size_t i, wrong = 0, rerr = 0;
  mcrepl_return_t wrc;
  int64_t stopped;
  FILE *f;

  memset(&l, 0, sizeof l);
  l.prefix = str_or(opt(a, "prefix"), "k");
  l.rate = opt_int(a, "rate", 2000);
  l.read_rate = opt_int(a, "read-rate", 1000);
  l.value_size = opt_int(a, "value-size", 100);
  l.ttl_every = opt_int(a, "ttl-every", 4);
  l.ttl = opt_int(a, "ttl", 3600);
  vec_init(&l.acks, sizeof(ack_t));
  vec_init(&l.werrs, sizeof(werr_t));
  vec_init(&l.reads, sizeof(read_t));
  vec_init(&l.samples, sizeof(sample_t));
  atomic_init(&l.acked, 0);
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  l.m = open_pair(a);
  pthread_create(&ts, NULL, sampler, &l);
  pthread_create(&tw, NULL, writer, &l);
  if (l.read_rate > 0)
    pthread_create(&tr, NULL, reader, &l);
  while (!stop_flag)
    sleep_ns(10 * MS);
  stopped = now_ns();
  pthread_join(tw, NULL);
  if (l.read_rate > 0)
    pthread_join(tr, NULL);
  pthread_join(ts, NULL);
  wrc = mcrepl_wait_replicated(l.m, (int)drain);
  sample(&l);
  last = vec_at(&l.samples, l.samples.n - 1);
  for (i = 0; i < l.reads.n; i++) {
    const read_t *r = vec_at(&l.reads, i);
    wrong += r->status == 1;
    rerr += r->status >= 2;
  }
  dump_load(&l, dir);
  f = open_out(dir, "stop.txt");
  fprintf(f, "%" PRId64 "\n", stopped);
  fclose(f);
  printf("acked=%zu\nwrite_errors=%zu\nreads=%zu\nread_errors=%zu\n"
         "wrong_reads=%zu\nfinal_wait=%s\nfinal_queued=%" PRIu64
         "\nfinal_replicated=%" PRIu64 "\nfinal_dropped=%" PRIu64
         "\nfinal_dirty=%d\n",
         l.acks.n, l.werrs.n, l.reads.n, rerr, wrong, mcrepl_strcode(wrc),
         last->st.queued, last->st.replicated, last->st.dropped,
         last->st.dirty);
  mcrepl_destroy(l.m);
  return 0;
}

/* analyze --------------------------------------------------------------- */

typedef struct {
  vec_t acks, werrs, reads, samples; /* as load wrote them */
  int64_t stop;                      /* when the load was told to stop */
  uint64_t nseq;                     /* seqs 0..nseq-1 exist */
  unsigned char *state;              /* per seq: 0 unknown, 1 ok, 2 wrong */
} run_t;

static FILE *open_in(const char *dir, const char *name)
{
  char path[4096];
  FILE *f;

  snprintf(path, sizeof path, "%s/%s", dir, name);
  f = fopen(path, "r");
  if (!f)
    die("%s: %s", path, strerror(errno));
  return f;
}

typedef struct {
  int64_t t;
  uint64_t qi, lag_max_us, vipch, rfo;
} smp_t;

static void read_run(run_t *r, const char *dir)
{
  FILE *f;
  ack_t a;
  read_t rd;
  smp_t s;
  werr_t e;
  char line[512];

  vec_init(&r->acks, sizeof(ack_t));
  vec_init(&r->werrs, sizeof(werr_t));
  vec_init(&r->reads, sizeof(read_t));
  vec_init(&r->samples, sizeof(smp_t));
  f = open_in(dir, "acks.txt");
  while (fscanf(f, "%" SCNu64 " %" SCNd64, &a.seq, &a.t) == 2)
    *(ack_t *)vec_push(&r->acks) = a;
  fclose(f);
  f = open_in(dir, "werr.txt");
  while (fscanf(f, "%" SCNd64 " %" SCNu64 " %d", &e.t, &e.seq, &e.rc) == 3)
    *(werr_t *)vec_push(&r->werrs) = e;
  fclose(f);
  f = open_in(dir, "reads.txt");
  while (fscanf(f, "%" SCNd64 " %" SCNd64 " %" SCNu64 " %d %d", &rd.t0,
                &rd.t1, &rd.seq, &rd.status, &rd.rc) == 5)
    *(read_t *)vec_push(&r->reads) = rd;
  fclose(f);
  f = open_in(dir, "stop.txt");
  if (fscanf(f, "%" SCNd64, &r->stop) != 1)
    die("%s/stop.txt: no time", dir);
  fclose(f);
  f = open_in(dir, "stats.txt");
  while (fgets(line, sizeof line, f)) {
    uint64_t x;
    int d;
    if (sscanf(line,
               "%" SCNd64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
               " %" SCNu64 " %" SCNu64 " %" SCNu64 " %d %d %" SCNu64
               " %" SCNu64,
               &s.t, &s.qi, &x, &x, &x, &x, &x, &s.lag_max_us, &d, &d,
               &s.vipch, &s.rfo) == 12)
      *(smp_t *)vec_push(&r->samples) = s;
  }
  fclose(f);
  r->nseq = r->acks.n;
  r->state = calloc(r->nseq + 1, 1);
  if (!r->state)
    die("out of memory");
}

typedef struct {
  run_t *r;
  const char *prefix;
  long long value_size;
} check_ctx_t;

static int check_cb(void *ctx, const char *key, size_t key_len,
                    const char *value, size_t value_len, uint32_t flags,
                    uint64_t cas)
{
  check_ctx_t *c = ctx;
  char want[VAL_MAX];
  const char *colon = memchr(key, ':', key_len);
  uint64_t seq;
  size_t wl;

  (void)cas;
  if (!colon)
    return 0;
  seq = strtoull(colon + 1, NULL, 10);
  if (seq >= c->r->nseq)
    return 0;
  wl = make_value(want, (size_t)c->value_size, "v", seq);
  c->r->state[seq] = value_len == wl && memcmp(value, want, wl) == 0 &&
                             flags == flags_of(seq)
                         ? 1
                         : 2;
  return 0;
}

/* Reads every acknowledged key back through the library. */
static int read_back(mcrepl_t *m, run_t *r, const char *prefix,
                     long long value_size)
{
  static char keys[BATCH][KEY_MAX + 1];
  const char *kp[BATCH];
  size_t kl[BATCH], i, n;
  check_ctx_t ctx = {r, prefix, value_size};

  for (i = 0; i < r->nseq; i += n) {
    mcrepl_return_t rc = MCREPL_FAILURE;
    int tries;
    size_t j;
    n = r->nseq - i < BATCH ? r->nseq - i : BATCH;
    for (j = 0; j < n; j++) {
      kl[j] = make_key(keys[j], prefix, i + j);
      kp[j] = keys[j];
    }
    for (tries = 0; tries < 5 && rc != MCREPL_SUCCESS; tries++) {
      if (tries)
        sleep_ns(200 * MS);
      rc = mcrepl_mget(m, kp, kl, n, check_cb, &ctx);
    }
    if (rc != MCREPL_SUCCESS) {
      fprintf(stderr, "fo-client: reading back: %s\n", mcrepl_strerror(rc));
      return -1;
    }
  }
  return 0;
}

/* Index of the first ack later than t. */
static size_t acks_after(const run_t *r, int64_t t)
{
  size_t lo = 0, hi = r->acks.n;

  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (((ack_t *)vec_at(&r->acks, mid))->t <= t)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* The last sample at or before t (NULL when none). */
static const smp_t *sample_before(const run_t *r, int64_t t)
{
  const smp_t *best = NULL;
  size_t i;

  for (i = 0; i < r->samples.n; i++) {
    const smp_t *s = vec_at(&r->samples, i);
    if (s->t <= t)
      best = s;
  }
  return best;
}

/* The longest gap between successive successes (ack times, or read
 * completions) that ends after `from` and begins before `to`; the stretch
 * from the last success to `stop` (when the load stopped) counts too.
 * *end gets the success that closed the gap, 0 when none did. Returns
 * ms. */
static double longest_gap(const int64_t *t, size_t n, int64_t from,
                          int64_t to, int64_t stop, int64_t *end)
{
  int64_t best = 0;
  size_t i;

  *end = 0;
  for (i = 1; i < n; i++)
    if (t[i] > from && t[i - 1] < to && t[i] - t[i - 1] > best) {
      best = t[i] - t[i - 1];
      *end = t[i];
    }
  /* The time from the last success to the end of the load is an outage
   * only when nothing succeeded after `from` at all: otherwise it is the
   * load stopping, not the service. */
  if (n > 0 && t[n - 1] <= from && stop > from && stop - t[n - 1] > best) {
    best = stop - t[n - 1];
    *end = 0;
  }
  return (double)best / MS;
}

typedef struct {
  int64_t *t;
  size_t n;
} times_t;

static times_t ack_times(const run_t *r)
{
  times_t x = {xrealloc(NULL, (r->acks.n + 1) * sizeof(int64_t)), 0};
  size_t i;

  for (i = 0; i < r->acks.n; i++)
    x.t[x.n++] = ((ack_t *)vec_at(&r->acks, i))->t;
  return x;
}

static int cmp_i64(const void *a, const void *b)
{
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

  return (x > y) - (x < y);
}

static times_t read_times(const run_t *r)
{
  times_t x = {xrealloc(NULL, (r->reads.n + 1) * sizeof(int64_t)), 0};
  size_t i;

  for (i = 0; i < r->reads.n; i++) {
    const read_t *rd = vec_at(&r->reads, i);
    if (rd->status == 0)
      x.t[x.n++] = rd->t1;
  }
  qsort(x.t, x.n, sizeof *x.t, cmp_i64);
  return x;
}

static int parse_kills(const char *s, int64_t *kills, int max)
{
  int n = 0;

  while (*s && n < max) {
    char *end;
    kills[n++] = strtoll(s, &end, 10);
    if (end == s)
      die("--kill: bad list");
    s = *end == ',' ? end + 1 : end;
  }
  return n;
}

/* What a kill allows: the keys still queued when it happened may be
 * lost. Acks [lo, hi) are that window: the queue depth at the last
 * sample before the kill, the acks between that sample and the kill, and
 * those of the next 5 ms (the signal's way to the process). */
typedef struct {
  int64_t kill, sample_t;
  uint64_t depth, lag_us;
  size_t at_kill, lo, hi;
  size_t lost_win, lost_lag;
} window_t;

static void make_window(const run_t *r, int64_t kill, window_t *w)
{
  const smp_t *s = sample_before(r, kill);
  size_t since;

  memset(w, 0, sizeof *w);
  w->kill = kill;
  w->depth = s ? s->qi : 0;
  w->lag_us = s ? s->lag_max_us : 0;
  w->sample_t = s ? s->t : kill;
  w->at_kill = acks_after(r, kill);
  since = w->at_kill - acks_after(r, w->sample_t);
  w->lo = w->at_kill > w->depth + since ? w->at_kill - w->depth - since : 0;
  w->hi = acks_after(r, kill + 5 * MS);
}

/* Sorts every lost key into the window of the kill it preceded; returns
 * how many fall outside every window. */
static size_t classify_losses(const run_t *r, window_t *w, int nk)
{
  size_t i, outside = 0;
  int k;

  for (i = 0; i < r->acks.n; i++) {
    const ack_t *a = vec_at(&r->acks, i);
    if (r->state[a->seq] == 1)
      continue;
    for (k = 0; k < nk && i >= w[k].hi; k++)
      ;
    if (k < nk && i >= w[k].lo) {
      w[k].lost_win++;
    } else {
      outside++;
      if (outside <= 5)
        fprintf(stderr, "lost outside every window: seq %" PRIu64
                " acked at %" PRId64 "\n", a->seq, a->t);
    }
    if (k < nk && a->t < w[k].kill - (int64_t)w[k].lag_us * 1000)
      w[k].lost_lag++;
  }
  return outside;
}

/* The figures of one kill; returns the number of violations. vip (unix
 * ns, 0 unknown) is when the VIP reached the surviving node; stop when
 * the load stopped. */
static int report_kill(const window_t *w, int k, int64_t next, int64_t vip,
                       int64_t stop, const times_t *at, const times_t *rt,
                       long long max_rgap)
{
  int64_t wend, rend;
  double wgap, rgap, wback, rback;
  int bad = 0;

  wgap = longest_gap(at->t, at->n, w->kill, next, stop, &wend);
  wback = wend ? (double)(wend - w->kill) / MS : -1;
  rgap = longest_gap(rt->t, rt->n, w->kill, next, stop, &rend);
  rback = rend ? (double)(rend - w->kill) / MS : -1;
  printf("kill%d.acked_before=%zu\n", k + 1, w->at_kill);
  printf("kill%d.queue_depth=%" PRIu64 "\n", k + 1, w->depth);
  printf("kill%d.sample_age_ms=%.1f\n", k + 1,
         (double)(w->kill - w->sample_t) / MS);
  printf("kill%d.lag_max_ms=%.1f\n", k + 1, (double)w->lag_us / 1000);
  printf("kill%d.window=%zu\n", k + 1, w->hi - w->lo);
  printf("kill%d.lost=%zu\n", k + 1, w->lost_win);
  printf("kill%d.lost_older_than_lag=%zu\n", k + 1, w->lost_lag);
  printf("kill%d.write_outage_ms=%.1f\n", k + 1, wgap);
  printf("kill%d.writes_back_ms=%.1f\n", k + 1, wback);
  printf("kill%d.read_outage_ms=%.1f\n", k + 1, rgap);
  printf("kill%d.reads_back_ms=%.1f\n", k + 1, rback);
  if (vip > 0) {
    printf("kill%d.vip_moved_ms=%.1f\n", k + 1,
           (double)(vip - w->kill) / MS);
    printf("kill%d.writes_after_vip_ms=%.1f\n", k + 1,
           wend ? (double)(wend - vip) / MS : -1);
  }
  if (!wend || !rend) {
    fprintf(stderr, "FAIL kill %d: %s did not succeed again before the "
            "load stopped\n", k + 1,
            !wend && !rend ? "writes and reads" : !wend ? "writes" : "reads");
    bad++;
  }
  if (w->lost_lag) {
    fprintf(stderr, "FAIL kill %d: %zu keys acknowledged more than the "
            "replication lag (%.1f ms) before the kill are lost\n", k + 1,
            w->lost_lag, (double)w->lag_us / 1000);
    bad++;
  }
  if (w->lost_win > w->hi - w->lo) {
    fprintf(stderr, "FAIL kill %d: %zu keys lost, more than the %zu "
            "queued\n", k + 1, w->lost_win, w->hi - w->lo);
    bad++;
  }
  if (max_rgap >= 0 && rgap > (double)max_rgap) {
    fprintf(stderr, "FAIL kill %d: longest read outage %.1f ms > %lld "
            "ms\n", k + 1, rgap, max_rgap);
    bad++;
  }
  return bad;
}

static int cmd_analyze(const args_t *a)
{
  run_t r;
  int64_t kills[8];
  int nk = parse_kills(opt_req(a, "kill"), kills, 8), k, bad = 0, nv = 0;
  int64_t vips[8];
  const char *prefix = str_or(opt(a, "prefix"), "k");
  long long vsize = opt_int(a, "value-size", 100);
  long long max_rgap = opt_int(a, "max-read-outage-ms", -1);
  size_t i, missing = 0, wrong = 0, wrong_reads = 0, outside;
  window_t w[8];
  times_t at, rt;
  mcrepl_t *m;
  const smp_t *last;

  memset(&r, 0, sizeof r);
  if (opt(a, "vip-moved"))
    nv = parse_kills(opt(a, "vip-moved"), vips, 8);
  read_run(&r, opt_req(a, "dir"));
  m = open_pair(a);
  if (read_back(m, &r, prefix, vsize) != 0)
    bad++;
  mcrepl_destroy(m);
  for (i = 0; i < r.nseq; i++) {
    missing += r.state[i] == 0;
    wrong += r.state[i] == 2;
  }
  for (i = 0; i < r.reads.n; i++)
    wrong_reads += ((read_t *)vec_at(&r.reads, i))->status == 1;
  at = ack_times(&r);
  rt = read_times(&r);
  printf("acked=%zu\nlost=%zu\nwrong_values=%zu\nwrong_reads=%zu\n"
         "write_errors=%zu\nreads=%zu\n",
         r.acks.n, missing, wrong, wrong_reads, r.werrs.n, r.reads.n);
  last = r.samples.n ? vec_at(&r.samples, r.samples.n - 1) : NULL;
  printf("vip_changes=%" PRIu64 "\nread_failovers=%" PRIu64 "\n",
         last ? last->vipch : 0, last ? last->rfo : 0);
  for (k = 0; k < nk; k++)
    make_window(&r, kills[k], &w[k]);
  outside = classify_losses(&r, w, nk);
  printf("lost_outside_windows=%zu\n", outside);
  if (outside) {
    fprintf(stderr, "FAIL: %zu acknowledged keys lost outside the "
            "in-flight window of every kill\n", outside);
    bad++;
  }
  for (k = 0; k < nk; k++)
    bad += report_kill(&w[k], k, k + 1 < nk ? kills[k + 1] : INT64_MAX,
                       k < nv ? vips[k] : 0, r.stop, &at, &rt, max_rgap);
  if (wrong || wrong_reads) {
    fprintf(stderr, "FAIL: %zu keys hold a wrong value, %zu reads saw "
            "one\n", wrong, wrong_reads);
    bad++;
  }
  free(at.t);
  free(rt.t);
  return bad ? 1 : 0;
}

/* fill / expect --------------------------------------------------------- */

static int deleted(uint64_t i, long long every)
{
  return every > 0 && i % (uint64_t)every == 0;
}

static int cmd_fill(const args_t *a)
{
  mcrepl_t *m = open_pair(a);
  const char *prefix = opt_req(a, "prefix"), *tag = opt_req(a, "tag");
  long long count = opt_int(a, "count", 1000), every =
      opt_int(a, "delete-every", 0);
  long long ttl = opt_int(a, "ttl", 0), flags = opt_int(a, "flags", 7);
  long long size = opt_int(a, "value-size", 100);
  long long wait_ms = opt_int(a, "wait-ms", 5000);
  char key[KEY_MAX + 1], val[VAL_MAX];
  size_t sets = 0, dels = 0, errs = 0;
  mcrepl_pair_stats_t st;
  mcrepl_return_t wrc;
  uint64_t i;

  for (i = 0; i < (uint64_t)count; i++) {
    size_t kl = make_key(key, prefix, i);
    mcrepl_return_t rc;
    if (deleted(i, every)) {
      rc = mcrepl_delete(m, key, kl);
      dels += rc == MCREPL_SUCCESS;
      errs += rc != MCREPL_SUCCESS && rc != MCREPL_NOTFOUND;
    } else {
      size_t vl = make_value(val, (size_t)size, tag, i);
      rc = mcrepl_set(m, key, kl, val, vl, (time_t)ttl, (uint32_t)flags);
      sets += rc == MCREPL_SUCCESS;
      errs += rc != MCREPL_SUCCESS;
    }
  }
  wrc = mcrepl_wait_replicated(m, (int)wait_ms);
  memset(&st, 0, sizeof st);
  mcrepl_pair_stats(m, 0, &st, sizeof st);
  printf("sets=%zu\ndeletes=%zu\nerrors=%zu\nwait=%s\n"
         "queue_items_at_exit=%" PRIu64 "\ndirty_at_exit=%d\n",
         sets, dels, errs, mcrepl_strcode(wrc), st.queue_items, st.dirty);
  mcrepl_destroy(m);
  return errs ? 1 : 0;
}

typedef struct {
  size_t ok, stale, missing, resurrected;
} tally_t;

static void judge(tally_t *t, const char *tag, long long size,
                  long long every, uint64_t i, const char *v, size_t len)
{
  char want[VAL_MAX];
  size_t wl;

  if (deleted(i, every)) {
    if (v)
      t->resurrected++;
    else
      t->ok++;
    return;
  }
  if (!v) {
    t->missing++;
    return;
  }
  wl = make_value(want, (size_t)size, tag, i);
  if (len == wl && memcmp(v, want, wl) == 0)
    t->ok++;
  else
    t->stale++;
}

static void expect_node(const args_t *a, const char *node, tally_t *t)
{
  const char *prefix = opt_req(a, "prefix"), *tag = opt_req(a, "tag");
  long long count = opt_int(a, "count", 1000), every =
      opt_int(a, "delete-every", 0), size = opt_int(a, "value-size", 100);
  static char keys[BATCH][KEY_MAX + 1];
  static item_t items[BATCH];
  node_t *c = malloc(sizeof *c);
  uint64_t i, j, n;

  if (!c || node_open(c, node) != 0)
    die("%s: cannot connect", node);
  for (i = 0; i < (uint64_t)count; i += n) {
    n = (uint64_t)count - i < BATCH ? (uint64_t)count - i : BATCH;
    for (j = 0; j < n; j++)
      make_key(keys[j], prefix, i + j);
    if (mg_batch(c, keys, n, items) != 0)
      die("%s: read failed", node);
    for (j = 0; j < n; j++)
      judge(t, tag, size, every, i + j,
            items[j].found ? items[j].val : NULL, items[j].len);
  }
  node_close(c);
  free(c);
}

static void expect_pair(const args_t *a, tally_t *t)
{
  const char *prefix = opt_req(a, "prefix"), *tag = opt_req(a, "tag");
  long long count = opt_int(a, "count", 1000), every =
      opt_int(a, "delete-every", 0), size = opt_int(a, "value-size", 100);
  mcrepl_t *m = open_pair(a);
  char key[KEY_MAX + 1];
  uint64_t i;

  for (i = 0; i < (uint64_t)count; i++) {
    size_t kl = make_key(key, prefix, i), len = 0;
    mcrepl_return_t rc;
    char *v = mcrepl_get(m, key, kl, &len, NULL, &rc);
    if (!v && rc != MCREPL_NOTFOUND)
      die("get %s: %s", key, mcrepl_strerror(rc));
    judge(t, tag, size, every, i, v, len);
    free(v);
  }
  mcrepl_destroy(m);
}

static int cmd_expect(const args_t *a)
{
  tally_t t = {0, 0, 0, 0};
  const char *node = opt(a, "node");
  int allow_missing = opt(a, "allow-missing") != NULL;

  if (node)
    expect_node(a, node, &t);
  else
    expect_pair(a, &t);
  printf("ok=%zu\nstale=%zu\nmissing=%zu\nresurrected=%zu\n", t.ok,
         t.stale, t.missing, t.resurrected);
  return t.stale || t.resurrected || (t.missing && !allow_missing) ? 1 : 0;
}

/* compare --------------------------------------------------------------- */

typedef struct {
  size_t src_keys, checked, vanished, missing, value, flags, ttl, extra;
} diff_t;

static int same_ttl(int64_t a, int64_t b)
{
  if (a < 0 || b < 0)
    return a < 0 && b < 0;
  return llabs(a - b) <= 2;
}

static int compare_keys(node_t *s, node_t *d, const vec_t *keys,
                        diff_t *df)
{
  static char batch[BATCH][KEY_MAX + 1];
  static item_t si[BATCH], di[BATCH];
  size_t i, j, n;

  for (i = 0; i < keys->n; i += n) {
    n = keys->n - i < BATCH ? keys->n - i : BATCH;
    for (j = 0; j < n; j++)
      memcpy(batch[j], vec_at(keys, i + j), KEY_MAX + 1);
    if (mg_batch(s, batch, n, si) != 0 || mg_batch(d, batch, n, di) != 0)
      return -1;
    for (j = 0; j < n; j++) {
      if (!si[j].found) {
        df->vanished++;
        continue;
      }
      df->checked++;
      if (!di[j].found) {
        df->missing++;
        if (df->missing <= 5)
          fprintf(stderr, "missing on dst: %s\n", batch[j]);
        continue;
      }
      df->value += si[j].len != di[j].len ||
                   memcmp(si[j].val, di[j].val, si[j].len) != 0;
      df->flags += si[j].flags != di[j].flags;
      df->ttl += !same_ttl(si[j].ttl, di[j].ttl);
    }
  }
  return 0;
}

/* Keys of dst that src does not list and does not hold. */
static int count_extra(node_t *s, const vec_t *skeys, const vec_t *dkeys,
                       diff_t *df)
{
  static char batch[BATCH][KEY_MAX + 1];
  static item_t si[BATCH];
  size_t i, n = 0;

  for (i = 0; i < dkeys->n; i++) {
    const char *k = vec_at(dkeys, i);
    if (bsearch(k, skeys->p, skeys->n, skeys->sz, cmp_key))
      continue;
    memcpy(batch[n++], k, KEY_MAX + 1);
    if (n == BATCH || i + 1 == dkeys->n) {
      size_t j;
      if (mg_batch(s, batch, n, si) != 0)
        return -1;
      for (j = 0; j < n; j++)
        if (!si[j].found) {
          df->extra++;
          if (df->extra <= 5)
            fprintf(stderr, "only on dst: %s\n", batch[j]);
        }
      n = 0;
    }
  }
  if (n > 0) {
    size_t j;
    if (mg_batch(s, batch, n, si) != 0)
      return -1;
    for (j = 0; j < n; j++)
      df->extra += !si[j].found;
  }
  return 0;
}

static int cmd_compare(const args_t *a)
{
  const char *src = opt_req(a, "src"), *dst = opt_req(a, "dst");
  int both = opt(a, "both") != NULL, bad, pass;
  node_t *s = malloc(sizeof *s), *d = malloc(sizeof *d);
  vec_t skeys, dkeys;
  size_t markers;
  long long items;
  diff_t df;

  memset(&df, 0, sizeof df);
  if (!s || !d)
    die("out of memory");
  /* The crawler skips items that memcached moves between its LRUs during
   * the crawl: list again until the listing accounts for every item. */
  for (pass = 1;; pass++) {
    items = node_stat(src, "curr_items");
    if (list_keys(src, &skeys, &markers) != 0)
      die("%s: cannot list keys", src);
    if ((long long)(skeys.n + markers) >= items || pass == 5)
      break;
    free(skeys.p);
  }
  printf("src_items=%lld\nlist_passes=%d\n", items, pass);
  qsort(skeys.p, skeys.n, skeys.sz, cmp_key);
  df.src_keys = skeys.n;
  if (node_open(s, src) != 0 || node_open(d, dst) != 0)
    die("cannot connect to %s or %s", src, dst);
  if (compare_keys(s, d, &skeys, &df) != 0)
    die("compare failed");
  if (both) {
    if (list_keys(dst, &dkeys, &markers) != 0)
      die("%s: cannot list keys", dst);
    if (count_extra(s, &skeys, &dkeys, &df) != 0)
      die("compare failed");
  }
  printf("src_keys=%zu\nchecked=%zu\nvanished=%zu\nmissing=%zu\n"
         "value_mismatch=%zu\nflags_mismatch=%zu\nttl_mismatch=%zu\n"
         "extra=%zu\n",
         df.src_keys, df.checked, df.vanished, df.missing, df.value,
         df.flags, df.ttl, df.extra);
  bad = df.missing || df.value || df.flags || df.ttl || df.extra;
  node_close(s);
  node_close(d);
  free(s);
  free(d);
  return bad ? 1 : 0;
}

/* nstats / pstats ------------------------------------------------------- */

static int cmd_nstats(const args_t *a)
{
  static const char *const want[] = {"pid",         "uptime",
                                     "curr_items",  "total_items",
                                     "cmd_set",     "cmd_get",
                                     "cmd_flush",   "curr_connections"};
  const char *node = opt_req(a, "node"), *l;
  node_t *c = malloc(sizeof *c);
  size_t i;

  if (!c || node_open(c, node) != 0 || node_send(c, "stats\r\n", 7) != 0) {
    printf("up=0\n");
    return 1;
  }
  printf("up=1\n");
  while ((l = node_line(c)) && strcmp(l, "END") != 0)
    for (i = 0; i < sizeof want / sizeof want[0]; i++) {
      size_t n = strlen(want[i]);
      if (strncmp(l, "STAT ", 5) == 0 && strncmp(l + 5, want[i], n) == 0 &&
          l[5 + n] == ' ')
        printf("%s=%s\n", want[i], l + 6 + n);
    }
  node_close(c);
  free(c);
  return 0;
}

static int cmd_pstats(const args_t *a)
{
  mcrepl_t *m = open_pair(a);
  sample_t s;

  memset(&s, 0, sizeof s);
  s.t = now_ns();
  mcrepl_pair_stats(m, 0, &s.st, sizeof s.st);
  printf("t queue_items queued replicated dropped p50 p99 max dirty "
         "slave_up vip_changes read_failovers current_master\n");
  print_sample(stdout, &s);
  mcrepl_destroy(m);
  return 0;
}

int main(int argc, char **argv)
{
  args_t a = {argc - 2, argv + 2};

  if (argc < 2)
    die("usage: fo-client load|analyze|fill|expect|compare|nstats|pstats"
        " --OPTION=VALUE...");
  signal(SIGPIPE, SIG_IGN);
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (strcmp(argv[1], "load") == 0)
    return cmd_load(&a);
  if (strcmp(argv[1], "analyze") == 0)
    return cmd_analyze(&a);
  if (strcmp(argv[1], "fill") == 0)
    return cmd_fill(&a);
  if (strcmp(argv[1], "expect") == 0)
    return cmd_expect(&a);
  if (strcmp(argv[1], "compare") == 0)
    return cmd_compare(&a);
  if (strcmp(argv[1], "nstats") == 0)
    return cmd_nstats(&a);
  if (strcmp(argv[1], "pstats") == 0)
    return cmd_pstats(&a);
  die("unknown command %s", argv[1]);
  return 2;
}
