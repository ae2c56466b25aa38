/* weighted.c: several pairs with weights on one consistent-hash ring.
 *
 * Shows which pair each key maps to (mcrepl_key_pair), how the keys
 * spread in proportion to the weights, and each pair's counters
 * (mcrepl_pair_stats). Meant for three pairs, such as
 *
 *   --pair=127.0.0.1:11211,127.0.0.1:11212,weight=1
 *   --pair=127.0.0.1:11213,127.0.0.1:11214,weight=2
 *   --pair=127.0.0.1:11215,127.0.0.1:11216,weight=4
 *
 * (one string, spaces between the options), but takes any number.
 *
 * Build against an installed libmcrepl:
 *   cc -o weighted weighted.c $(pkg-config --cflags --libs mcrepl)
 * Run:
 *   ./weighted "--pair=... --pair=... --pair=..."
 * Exit status: 0 on success, 1 on a failure, 2 on a usage error. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mcrepl/mcrepl.h>

#define NKEYS 3000
#define SHOWN 8 /* keys whose pair is printed one by one */

int main(int argc, char **argv)
{
  const char *config = argc > 1 ? argv[1] : getenv("MCREPL_CONFIG");
  size_t i, p, npairs, *count;
  uint64_t weights = 0;
  mcrepl_pair_stats_t st;
  mcrepl_return_t rc;
  char err[256], key[32];
  int failures = 0;
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
  npairs = mcrepl_pair_count(m);
  count = calloc(npairs, sizeof *count);
  if (count == NULL) {
    mcrepl_destroy(m);
    return 1;
  }

  for (i = 0; i < NKEYS; i++) {
    int kl = snprintf(key, sizeof key, "user:%zu", i);

    /* The mapping needs no server: it is computed from the
     * configuration alone. */
    if (mcrepl_key_pair(m, key, (size_t)kl, &p) != MCREPL_SUCCESS)
      continue;
    count[p]++;
    if (i < SHOWN)
      printf("%-10s -> pair %zu\n", key, p);
    rc = mcrepl_set(m, key, (size_t)kl, "x", 1, 600, 0);
    if (rc != MCREPL_SUCCESS && failures++ == 0)
      fprintf(stderr, "mcrepl_set %s: %s\n", key, mcrepl_strerror(rc));
  }

  rc = mcrepl_wait_replicated(m, 5000);
  printf("\nreplicated: %s; %d writes failed\n\n", mcrepl_strerror(rc),
         failures);

  for (p = 0; p < npairs; p++)
    if (mcrepl_pair_stats(m, p, &st, sizeof st) == MCREPL_SUCCESS)
      weights += st.weight;
  printf("pair  weight  share  keys   master -> slave          queued  "
         "replicated  dropped  dirty\n");
  for (p = 0; p < npairs; p++) {
    if (mcrepl_pair_stats(m, p, &st, sizeof st) != MCREPL_SUCCESS)
      continue;
    printf("%4zu  %6" PRIu32 "  %4.0f%%  %4.0f%%   %s -> %s  %6" PRIu64
           "  %10" PRIu64 "  %7" PRIu64 "  %s\n", p, st.weight,
           100.0 * st.weight / (double)weights,
           100.0 * (double)count[p] / NKEYS, st.master, st.slave, st.queued,
           st.replicated, st.dropped, st.dirty ? "yes" : "no");
  }

  free(count);
  mcrepl_destroy(m);
  return failures == 0 && rc == MCREPL_SUCCESS ? 0 : 1;
}
