/* fork() with a live handle. mcrepl.h ("FORK") says the child must not
 * use, nor even destroy, its parent's handle (its threads do not exist
 * in the child and its sockets are shared), and may create handles of
 * its own. So: the child creates one, writes, reads, waits for
 * replication and destroys it, never touching the parent's; the parent's
 * handle keeps working during and after the child's life. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

static int g_mport, g_sport;

/* Runs in the child; returns its exit code. */
static int child(void)
{
  char conf[128], err[256];
  mcrepl_return_t rc;
  size_t len = 0;
  char *v;
  mcrepl_t *m;

  snprintf(conf, sizeof conf, "--pair=127.0.0.1:%d,127.0.0.1:%d", g_mport,
           g_sport);
  m = mcrepl_create(conf, err, sizeof err);
  if (!m)
    return 10;
  if (mcrepl_set(m, S("fork-child"), S("from the child"), 0, 0) !=
      MCREPL_SUCCESS)
    return 11;
  v = mcrepl_get(m, S("fork-parent"), &len, NULL, &rc);
  if (!v || strcmp(v, "from the parent") != 0)
    return 12;
  free(v);
  if (mcrepl_wait_replicated(m, 5000) != MCREPL_SUCCESS)
    return 13;
  mcrepl_destroy(m);
  return 0;
}

int main(void)
{
  mc_server_t *master = server_start(NULL), *slave = server_start(NULL);
  long long end;
  mcrepl_t *m;
  int status = -1, writes = 0;
  char *v = NULL;
  pid_t pid;

  g_mport = master->port;
  g_sport = slave->port;
  m = handle_open("--pair=127.0.0.1:%d,127.0.0.1:%d", g_mport, g_sport);
  CHECK(mcrepl_set(m, S("fork-parent"), S("from the parent"), 0, 0) ==
            MCREPL_SUCCESS && mcrepl_wait_replicated(m, 5000) ==
            MCREPL_SUCCESS, "parent before the fork");
  fflush(NULL);
  pid = fork();
  CHECK(pid >= 0, "fork");
  if (pid == 0)
    _exit(child()); /* no atexit handlers: they belong to the parent */
  /* The parent goes on writing while the child lives. */
  for (end = now_ms() + 10000; waitpid(pid, &status, WNOHANG) == 0;) {
    CHECK(now_ms() < end, "the child did not finish in 10 s");
    CHECK(mcrepl_set(m, S("fork-during"), S("x"), 0, 0) == MCREPL_SUCCESS,
          "parent during the child's life");
    writes++;
    mc_sleep_ms(5);
  }
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d "
        "(exit %d)", status, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  CHECK(mcrepl_set(m, S("fork-after"), S("y"), 0, 0) == MCREPL_SUCCESS &&
            mcrepl_wait_replicated(m, 5000) == MCREPL_SUCCESS,
        "parent after the child");
  CHECK(mc_raw_get(slave->port, "fork-child", &v, NULL, NULL) == 1 &&
            strcmp(v, "from the child") == 0,
        "the child's write is not on the slave");
  free(v);
  CHECK(mc_raw_get(slave->port, "fork-after", NULL, NULL, NULL) == 1,
        "the parent's write after the fork is not on the slave");
  check_counters(m, "after the fork");
  fault_ok("fork", "the child's own handle wrote, read and replicated; "
           "the parent's handle wrote %d times meanwhile and after", writes);
  mcrepl_destroy(m);
  server_stop(master);
  server_stop(slave);
  return 0;
}
