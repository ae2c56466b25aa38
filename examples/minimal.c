/* minimal.c: the smallest complete mcrepl program.
 *
 * Creates a handle, stores one key, reads it back from the master, waits
 * until the slave holds it too, and destroys the handle.
 *
 * Build against an installed libmcrepl:
 *   cc -o minimal minimal.c $(pkg-config --cflags --libs mcrepl)
 * Run:
 *   ./minimal "--pair=127.0.0.1:11211,127.0.0.1:11212"
 *   MCREPL_CONFIG="--pair=..." ./minimal
 * Exit status: 0 on success, 1 on a failure, 2 on a usage error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mcrepl/mcrepl.h>

int main(int argc, char **argv)
{
  const char *config = argc > 1 ? argv[1] : getenv("MCREPL_CONFIG");
  const char *key = "example:greeting", *value = "hello, world";
  char err[256];
  mcrepl_return_t rc;
  mcrepl_t *m;
  size_t len;
  uint32_t flags;
  char *got;

  if (config == NULL || config[0] == '\0') {
    fprintf(stderr, "usage: %s CONFIG (or set MCREPL_CONFIG)\n", argv[0]);
    return 2;
  }
  m = mcrepl_create(config, err, sizeof err);
  if (m == NULL) {
    fprintf(stderr, "mcrepl_create: %s\n", err);
    return 2;
  }

  /* The master's answer; the slave gets the write in the background. */
  rc = mcrepl_set(m, key, strlen(key), value, strlen(value), 0, 42);
  if (rc != MCREPL_SUCCESS) {
    fprintf(stderr, "mcrepl_set: %s\n", mcrepl_strerror(rc));
    mcrepl_destroy(m);
    return 1;
  }

  got = mcrepl_get(m, key, strlen(key), &len, &flags, &rc);
  if (got == NULL) {
    fprintf(stderr, "mcrepl_get: %s\n", mcrepl_strerror(rc));
    mcrepl_destroy(m);
    return 1;
  }
  printf("%s = \"%.*s\" (flags %u)\n", key, (int)len, got, (unsigned)flags);
  free(got);

  /* Optional: block until the slave has applied the write. */
  rc = mcrepl_wait_replicated(m, 2000);
  printf("replicated: %s\n", mcrepl_strerror(rc));

  mcrepl_destroy(m); /* drains what is still queued, then frees */
  return rc == MCREPL_SUCCESS ? 0 : 1;
}
