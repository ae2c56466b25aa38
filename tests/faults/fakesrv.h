/* A fake memcached on a loopback port, for the tests that need a server
 * that misbehaves in ways a real one never does. It answers "stats" and
 * "version" properly (so that mcrepl's sender believes it is a node), and
 * "mn" too but in FAKE_NO_META (so that the sender sends it pipelines),
 * and everything else according to its mode. It runs in a forked child that
 * dies with the test. */
#ifndef MCREPL_FAULTS_FAKESRV_H
#define MCREPL_FAULTS_FAKESRV_H

#include <sys/types.h>

typedef enum {
  FAKE_GARBAGE, /* random bytes, CR and LF included, for every request */
  FAKE_HALF,    /* half a line, then silence (reads nothing more) */
  FAKE_CLOSE,   /* the start of a value, then closes the connection */
  FAKE_OOM,     /* "SERVER_ERROR out of memory" for every request */
  FAKE_NO_META, /* "ERROR" for everything, as memcached before 1.6 says to
                   meta commands, and a value read as a command */
  FAKE_CLIENT_ERROR, /* "CLIENT_ERROR bad command line format" for every
                        request, as to one that memcached cannot parse */
  FAKE_MODES, /* the modes above answer every request; t_fake runs each */
  /* A miss to mg, HD to the rest, until the first ms: from then on it
   * reads nothing more and sends junk lines without end. */
  FAKE_FLOOD = FAKE_MODES,
  /* Proper answers ("stats" too: EN to mg, HD to the rest), but each
   * one byte at a time, a byte every TRICKLE_MS: a server that is never
   * silent for long, and never done. */
  FAKE_TRICKLE
} fake_mode_t;

#define TRICKLE_MS 200

typedef struct fake {
  pid_t pid;
  int port;
} fake_t;

extern const char *const fake_mode_name[FAKE_TRICKLE + 1];

/* 0, or -1 when it could not be started. */
int fake_start(fake_t *f, fake_mode_t mode);
void fake_stop(fake_t *f);

#endif
