/* threads.c: four threads share one mcrepl handle.
 *
 * Every function that takes a handle may be called from any number of
 * threads at once (mcrepl_destroy excepted): there is no need for one
 * handle per thread, nor for a lock around the calls. Each thread writes
 * and reads its own keys; the main thread then waits for replication
 * and prints each pair's counters.
 *
 * Build against an installed libmcrepl (glibc 2.34 and later have
 * pthread_create in libc; with an older one, add -pthread):
 *   cc -o threads threads.c $(pkg-config --cflags --libs mcrepl)
 * Run:
 *   ./threads "--pair=127.0.0.1:11211,127.0.0.1:11212"
 * Exit status: 0 on success, 1 on a failure, 2 on a usage error. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mcrepl/mcrepl.h>

#define NTHREADS 4
#define NKEYS 1000

struct worker {
  mcrepl_t *m; /* shared: the same handle in every thread */
  int id;
  int failures;
};

static void *work(void *arg)
{
  struct worker *w = arg;
  char key[64], value[64];
  int i;

  for (i = 0; i < NKEYS; i++) {
    int kl = snprintf(key, sizeof key, "example:t%d:k%d", w->id, i);
    int vl = snprintf(value, sizeof value, "value %d of thread %d", i,
                      w->id);
    mcrepl_return_t rc = mcrepl_set(w->m, key, (size_t)kl, value,
                                    (size_t)vl, 300, 0);
    size_t len = 0;
    char *got;

    if (rc != MCREPL_SUCCESS) {
      w->failures++;
      continue;
    }
    got = mcrepl_get(w->m, key, (size_t)kl, &len, NULL, &rc);
    if (got == NULL || len != (size_t)vl || memcmp(got, value, len) != 0)
      w->failures++;
    free(got);
  }
  return NULL;
}

int main(int argc, char **argv)
{
  const char *config = argc > 1 ? argv[1] : getenv("MCREPL_CONFIG");
  struct worker w[NTHREADS];
  pthread_t tid[NTHREADS];
  mcrepl_pair_stats_t st;
  mcrepl_return_t rc;
  char err[256];
  int i, failures = 0;
  size_t p;
  mcrepl_t *m;

  if (config == NULL || config[0] == '\0') {
    fprintf(stderr, "usage: %s CONFIG (or set MCREPL_CONFIG)\n", argv[0]);
    return 2;
  }
  m = mcrepl_create(config, err, sizeof err);
  if (m == NULL) {
    fprintf(stderr, "mcrepl_create: %s\n", err);
    return 2;
  }
  for (i = 0; i < NTHREADS; i++) {
    w[i].m = m;
    w[i].id = i;
    w[i].failures = 0;
    if (pthread_create(&tid[i], NULL, work, &w[i]) != 0) {
      fprintf(stderr, "pthread_create failed\n");
      return 1; /* threads already started still use m: do not destroy */
    }
  }
  for (i = 0; i < NTHREADS; i++) {
    pthread_join(tid[i], NULL);
    failures += w[i].failures;
  }
  printf("%d threads x %d keys: %d failures\n", NTHREADS, NKEYS, failures);

  rc = mcrepl_wait_replicated(m, 5000);
  printf("replicated: %s\n", mcrepl_strerror(rc));
  for (p = 0; p < mcrepl_pair_count(m); p++)
    if (mcrepl_pair_stats(m, p, &st, sizeof st) == MCREPL_SUCCESS)
      printf("pair %zu: %s -> %s  queued %" PRIu64 ", replicated %" PRIu64
             ", dropped %" PRIu64 ", lag p99 %" PRIu64 " us\n", p,
             st.current_master, st.current_slave, st.queued, st.replicated,
             st.dropped, st.lag_p99_us);

  /* Only once no other thread uses the handle. */
  mcrepl_destroy(m);
  return failures == 0 && rc == MCREPL_SUCCESS ? 0 : 1;
}
