/* See common.h. */
#include "common.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void fault_fail(const char *file, int line, const char *cond,
                const char *fmt, ...)
{
  va_list ap;

  fprintf(stderr, "FAIL %s:%d: %s: ", file, line, cond);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(1);
}

void fault_ok(const char *name, const char *fmt, ...)
{
  va_list ap;

  printf("ok - %s: ", name);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  fflush(stdout);
}

long long now_us(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

long long run_delay_us(void)
{
  unsigned long long run = 0, wait = 0;
  FILE *f = fopen("/proc/thread-self/schedstat", "r");

  if (!f)
    return 0;
  if (fscanf(f, "%llu %llu", &run, &wait) != 2)
    wait = 0;
  fclose(f);
  return (long long)(wait / 1000);
}

long rss_kib(void)
{
  long pages = -1, resident = -1;
  FILE *f = fopen("/proc/self/statm", "r");

  if (f) {
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
      resident = -1;
    fclose(f);
  }
  return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

int count_fds(void)
{
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  int n = 0;

  if (!d)
    return -1;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return n - 1; /* the directory stream's own descriptor */
}

mc_server_t *server_start(const char *extra)
{
  char args[200];
  mc_server_t *s;

  snprintf(args, sizeof args, "-m 512 %s", extra ? extra : "");
  s = mc_start(args);
  CHECK(s != NULL, "memcached %s did not start", args);
  return s;
}

static char proc_state(pid_t pid)
{
  char path[64], buf[512], *p;
  FILE *f;
  size_t n;

  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  f = fopen(path, "r");
  if (!f)
    return '?';
  n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  p = strrchr(buf, ')');
  return p && p[1] == ' ' ? p[2] : '?';
}

void server_freeze(mc_server_t *s)
{
  long long end = now_ms() + 5000;

  mc_pause(s);
  while (proc_state(s->pid) != 'T' && now_ms() < end)
    mc_sleep_ms(1);
  CHECK(proc_state(s->pid) == 'T', "memcached %d did not stop", s->pid);
}

void server_stop(mc_server_t *s)
{
  mc_kill(s);
  mc_stop(s);
}

static void log_stderr(void *ctx, mcrepl_log_level_t level, const char *msg)
{
  (void)ctx;
  fprintf(stderr, "  [mcrepl %d] %s\n", (int)level, msg);
}

mcrepl_t *handle_open(const char *fmt, ...)
{
  char conf[1024], err[256] = "";
  mcrepl_t *m;
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(conf, sizeof conf, fmt, ap);
  va_end(ap);
  m = mcrepl_create(conf, err, sizeof err);
  CHECK(m != NULL, "mcrepl_create(%s): %s", conf, err);
  if (getenv("FAULTS_VERBOSE"))
    mcrepl_set_log_callback(m, log_stderr, NULL, MCREPL_LOG_INFO);
  return m;
}

mcrepl_pair_stats_t stats_of(const mcrepl_t *m, size_t pair)
{
  mcrepl_pair_stats_t st;
  mcrepl_return_t rc = mcrepl_pair_stats(m, pair, &st, sizeof st);

  CHECK(rc == MCREPL_SUCCESS, "pair_stats(%zu): %s", pair,
        mcrepl_strcode(rc));
  return st;
}

void check_counters(const mcrepl_t *m, const char *when)
{
  size_t i, n = mcrepl_pair_count(m);

  for (i = 0; i < n; i++) {
    mcrepl_pair_stats_t st = stats_of(m, i);
    CHECK(st.queued == st.replicated + st.dropped + st.queue_items,
          "%s, pair %zu: queued %llu != replicated %llu + dropped %llu + "
          "queue_items %llu", when, i, (unsigned long long)st.queued,
          (unsigned long long)st.replicated,
          (unsigned long long)st.dropped,
          (unsigned long long)st.queue_items);
    CHECK(st.queue_bytes <= st.queue_bytes_max,
          "%s, pair %zu: queue_bytes %llu over the bound %llu", when, i,
          (unsigned long long)st.queue_bytes,
          (unsigned long long)st.queue_bytes_max);
  }
}

#define CHUNK 500

long keys_missing(int port, const char *fmt, size_t from, size_t to)
{
  static char names[CHUNK][64];
  const char *keys[CHUNK];
  unsigned char present[CHUNK];
  long missing = 0;
  size_t i, n;

  while (from < to) {
    n = to - from < CHUNK ? to - from : CHUNK;
    for (i = 0; i < n; i++) {
      snprintf(names[i], sizeof names[i], fmt, from + i);
      keys[i] = names[i];
    }
    long found = -1;
    /* A loaded machine may miss the helper's 3 s limit once or twice. */
    for (i = 0; i < 5 && found < 0; i++)
      found = mc_raw_has_keys(port, keys, n, present);
    if (found < 0)
      return -1;
    missing += (long)n - found;
    from += n;
  }
  return missing;
}

#define WATCH_MAX 65536
#define WATCH_LATE_US 2000

static struct {
  long long from, to;
} g_gaps[WATCH_MAX];
static _Atomic long g_ngaps;
static _Atomic int g_watching;
static pthread_t g_watch;

static void *watch_main(void *arg)
{
  struct timespec ms = {0, 1000000};

  (void)arg;
  while (atomic_load(&g_watching)) {
    long long t = now_us(), late;
    nanosleep(&ms, NULL);
    late = now_us() - t - 1000;
    if (late > WATCH_LATE_US && atomic_load(&g_ngaps) < WATCH_MAX) {
      long i = atomic_load(&g_ngaps);
      g_gaps[i].from = t + 1000;
      g_gaps[i].to = t + 1000 + late;
      atomic_store(&g_ngaps, i + 1);
    }
  }
  return NULL;
}

void watch_start(void)
{
  atomic_store(&g_ngaps, 0);
  atomic_store(&g_watching, 1);
  CHECK(pthread_create(&g_watch, NULL, watch_main, NULL) == 0, "thread");
}

void watch_stop(void)
{
  atomic_store(&g_watching, 0);
  pthread_join(g_watch, NULL);
}

long long watch_stalled(long long t0, long long t1)
{
  long i, n = atomic_load(&g_ngaps);
  long long sum = 0;

  for (i = 0; i < n; i++) {
    long long a = g_gaps[i].from > t0 ? g_gaps[i].from : t0;
    long long b = g_gaps[i].to < t1 ? g_gaps[i].to : t1;
    if (b > a)
      sum += b - a;
  }
  return sum;
}

size_t watch_adjust(const long long *t0, long long *lat, size_t n)
{
  long j = 0, k, ng = atomic_load(&g_ngaps);
  size_t i, touched = 0;

  for (i = 0; i < n; i++) {
    long long a0 = t0[i], a1 = t0[i] + lat[i], sum = 0;
    while (j < ng && g_gaps[j].to <= a0)
      j++;
    for (k = j; k < ng && g_gaps[k].from < a1; k++) {
      long long a = g_gaps[k].from > a0 ? g_gaps[k].from : a0;
      long long b = g_gaps[k].to < a1 ? g_gaps[k].to : a1;
      if (b > a)
        sum += b - a;
    }
    if (sum > 0) {
      lat[i] -= sum;
      touched++;
    }
  }
  return touched;
}

void watch_summary(long *count, long long *longest)
{
  long i, n = atomic_load(&g_ngaps);

  *count = n;
  *longest = 0;
  for (i = 0; i < n; i++)
    if (g_gaps[i].to - g_gaps[i].from > *longest)
      *longest = g_gaps[i].to - g_gaps[i].from;
}

const op_t g_ops[OPS] = {
  {"set", 1},     {"add", 1},   {"replace", 1}, {"append", 1},
  {"prepend", 1}, {"cas", 1},   {"touch", 1},   {"delete", 1},
  {"incr", 1},    {"decr", 1},  {"flush", 1},   {"get", 0},
  {"gets", 0},    {"mget", 0},
};

static int mget_cb(void *ctx, const char *k, size_t kl, const char *v,
                   size_t vl, uint32_t f, uint64_t cas)
{
  (void)ctx, (void)k, (void)kl, (void)v, (void)vl, (void)f, (void)cas;
  return 0;
}

mcrepl_return_t run_op(mcrepl_t *m, const char *name, const char *key)
{
  char other[300], fresh[300];
  const char *keys[] = {key, other};
  size_t lens[2];
  mcrepl_return_t rc = MCREPL_FAILURE;
  uint64_t v;
  char *got;

  snprintf(other, sizeof other, "%s-other", key);
  snprintf(fresh, sizeof fresh, "%s-new", key);
  lens[0] = strlen(key);
  lens[1] = strlen(other);
  if (!strcmp(name, "set"))
    return mcrepl_set(m, S(key), S("1"), 0, 0);
  if (!strcmp(name, "add"))
    return mcrepl_add(m, S(fresh), S("1"), 0, 0);
  if (!strcmp(name, "replace"))
    return mcrepl_replace(m, S(key), S("2"), 0, 0);
  if (!strcmp(name, "append"))
    return mcrepl_append(m, S(key), S("3"), 0, 0);
  if (!strcmp(name, "prepend"))
    return mcrepl_prepend(m, S(key), S("4"), 0, 0);
  if (!strcmp(name, "cas"))
    return mcrepl_cas(m, S(key), S("5"), 0, 0, 1);
  if (!strcmp(name, "touch"))
    return mcrepl_touch(m, S(key), 100);
  if (!strcmp(name, "delete"))
    return mcrepl_delete(m, S(key));
  if (!strcmp(name, "incr"))
    return mcrepl_incr(m, S(key), 1, &v);
  if (!strcmp(name, "decr"))
    return mcrepl_decr(m, S(key), 1, &v);
  if (!strcmp(name, "flush"))
    return mcrepl_flush(m, 0);
  if (!strcmp(name, "mget"))
    return mcrepl_mget(m, keys, lens, 2, mget_cb, NULL);
  got = !strcmp(name, "get") ? mcrepl_get(m, S(key), NULL, NULL, &rc)
                             : mcrepl_gets(m, S(key), NULL, NULL, &v, &rc);
  free(got);
  return rc;
}

static int cmp_ll(const void *a, const void *b)
{
  long long x = *(const long long *)a, y = *(const long long *)b;
  return (x > y) - (x < y);
}

long long quantile(long long *v, size_t n, double p)
{
  size_t i;

  if (n == 0)
    return 0;
  qsort(v, n, sizeof *v, cmp_ll);
  i = (size_t)(p * (double)(n - 1) + 0.5);
  return v[i < n ? i : n - 1];
}
