/* A plain application's life, for valgrind: create a handle over a real
 * pair, use every command, wait for replication, look at the stats,
 * destroy. Under valgrind --leak-check=full it must show no error and no
 * definite or indirect leak (memory that libmemcached keeps for the
 * process's life is "still reachable" and allowed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

int main(void)
{
  mc_server_t *master = server_start(NULL), *slave = server_start(NULL);
  mcrepl_node_info_t ni;
  mcrepl_return_t rc;
  char key[32];
  mcrepl_t *m;
  int i, j;

  m = handle_open("--pair=127.0.0.1:%d,127.0.0.1:%d", master->port,
                  slave->port);
  for (i = 0; i < 50; i++) {
    snprintf(key, sizeof key, "vg-%d", i);
    CHECK(mcrepl_set(m, S(key), S("10"), i % 2 ? 0 : 100, 0) ==
              MCREPL_SUCCESS, "set");
    for (j = 0; j < OPS; j++)
      if (strcmp(g_ops[j].name, "flush") != 0)
        (void)run_op(m, g_ops[j].name, key);
  }
  rc = mcrepl_flush(m, 0);
  CHECK(rc == MCREPL_SUCCESS, "flush: %s", mcrepl_strcode(rc));
  rc = mcrepl_wait_replicated(m, 10000);
  CHECK(rc == MCREPL_SUCCESS, "wait: %s", mcrepl_strcode(rc));
  check_counters(m, "end");
  CHECK(mcrepl_node_info(m, 0, MCREPL_NODE_SLAVE, &ni, sizeof ni) ==
            MCREPL_SUCCESS && ni.up, "node_info");
  fault_ok("valgrind smoke", "%d commands, replicated; queued %llu",
           50 * (OPS - 1) + 51, (unsigned long long)stats_of(m, 0).queued);
  mcrepl_destroy(m);
  server_stop(master);
  server_stop(slave);
  return 0;
}
