/* See resolve.h. The lookup is libcurl's "threaded resolver" in small:
 * getaddrinfo() has no time limit and glibc's getaddrinfo_a() cannot
 * cancel a lookup under way, so a thread does the lookup, and the caller
 * waits for it only until its deadline. The request is shared by both
 * and freed by whichever lets go of it last. */
#include "resolve.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int refs; /* 2 while both the caller and the thread hold it */
  int done;
  int rc;
  struct addrinfo *res;
  char port[8];
  char host[]; /* NUL-terminated */
} lookup_t;

static void hints_for(struct addrinfo *h, int numeric)
{
  memset(h, 0, sizeof *h);
  h->ai_family = AF_UNSPEC;
  h->ai_socktype = SOCK_STREAM;
  h->ai_flags = numeric ? AI_NUMERICHOST | AI_NUMERICSERV : AI_NUMERICSERV;
}

static void release(lookup_t *l)
{
  int last;

  pthread_mutex_lock(&l->mu);
  last = --l->refs == 0;
  pthread_mutex_unlock(&l->mu);
  if (!last)
    return;
  if (l->res)
    freeaddrinfo(l->res);
  pthread_cond_destroy(&l->cv);
  pthread_mutex_destroy(&l->mu);
  free(l);
}

static void *lookup_main(void *arg)
{
  lookup_t *l = arg;
  struct addrinfo hints, *res = NULL;
  int rc;

  hints_for(&hints, 0);
  rc = getaddrinfo(l->host, l->port, &hints, &res);
  pthread_mutex_lock(&l->mu);
  l->rc = rc;
  l->res = rc == 0 ? res : NULL;
  l->done = 1;
  pthread_cond_signal(&l->cv);
  pthread_mutex_unlock(&l->mu);
  release(l);
  return NULL;
}

static lookup_t *lookup_new(const char *host, const char *port)
{
  size_t n = strlen(host) + 1;
  lookup_t *l = malloc(sizeof *l + n);

  if (!l)
    return NULL;
  memset(l, 0, sizeof *l);
  memcpy(l->host, host, n);
  snprintf(l->port, sizeof l->port, "%s", port);
  l->refs = 2;
  if (pthread_mutex_init(&l->mu, NULL) != 0) {
    free(l);
    return NULL;
  }
  if (mcrepl__cond_init(&l->cv) != 0) {
    pthread_mutex_destroy(&l->mu);
    free(l);
    return NULL;
  }
  return l;
}

/* Starts the lookup thread, detached, with every signal blocked: the
 * application's signals are not ours to receive. */
static int lookup_start(lookup_t *l)
{
  pthread_attr_t attr;
  pthread_t t;
  sigset_t all, old;
  int rc;

  if (pthread_attr_init(&attr) != 0)
    return -1;
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  rc = pthread_create(&t, &attr, lookup_main, l);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
  return rc == 0 ? 0 : -1;
}

/* Waits for the thread's answer until the deadline; takes its result. */
static int lookup_wait(lookup_t *l, int64_t deadline_ns,
                       struct addrinfo **res)
{
  struct timespec ts = mcrepl__ns_to_ts(deadline_ns);
  int rc = -1;

  pthread_mutex_lock(&l->mu);
  while (!l->done &&
         pthread_cond_timedwait(&l->cv, &l->mu, &ts) == 0)
    ;
  if (l->done && l->rc == 0) {
    *res = l->res;
    l->res = NULL;
    rc = 0;
  }
  pthread_mutex_unlock(&l->mu);
  return rc;
}

int mcrepl__resolve(const char *host, uint16_t port, int64_t deadline_ns,
                    struct addrinfo **res)
{
  struct addrinfo hints;
  char p[8];
  lookup_t *l;
  int rc;

  *res = NULL;
  snprintf(p, sizeof p, "%u", (unsigned)port);
  hints_for(&hints, 1);
  rc = getaddrinfo(host, p, &hints, res);
  if (rc != EAI_NONAME)
    return rc == 0 ? 0 : -1; /* an address, or an error without a name */
  l = lookup_new(host, p);
  if (!l)
    return -1;
  if (lookup_start(l) != 0) {
    l->refs = 1; /* no thread ever saw it */
    release(l);
    return -1;
  }
  rc = lookup_wait(l, deadline_ns, res);
  release(l);
  return rc;
}
