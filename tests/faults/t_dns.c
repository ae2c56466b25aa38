/* A name server that never answers: a host name in the configuration
 * must not hold up a health check, a resync or a shutdown beyond their
 * time limits (getaddrinfo() has none of its own).
 *
 * The test makes its own world first, so that no query can leave the
 * machine: a new network namespace (only its loopback), and a new mount
 * namespace in which /etc/resolv.conf names 127.0.0.1 (where the test
 * holds a UDP socket that reads nothing), /etc/nsswitch.conf asks only
 * files and DNS (no systemd-resolved, which would use the host's
 * network), and nscd's socket is hidden. It needs root, as the failover
 * tests do. Its name server waits 2 s per query, so a lookup that is
 * waited for whole takes about 2 s; the limits under test are 300 ms. */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

#define NAME "unanswered.mcrepl.invalid"
#define LIMIT_MS 300
#define MARGIN_MS 700 /* a loaded machine, and a thread to start */

static char g_dir[] = "/tmp/mcrepl-dns.XXXXXX";

/* The files the test binds over /etc's, where /etc has them (without a
 * resolv.conf, the resolver asks 127.0.0.1 anyway). */
static const struct {
  const char *name, *text;
} g_files[] = {
  {"resolv.conf", "nameserver 127.0.0.1\noptions timeout:2 attempts:1\n"},
  {"nsswitch.conf", "hosts: files dns\n"},
  {"hosts", "127.0.0.1 localhost\n"},
};
#define NFILES (sizeof g_files / sizeof g_files[0])

static void path_of(char *path, size_t len, size_t i)
{
  snprintf(path, len, "%s/%s", g_dir, g_files[i].name);
}

static void remove_dir(void)
{
  char path[256];
  size_t i;

  for (i = 0; i < NFILES; i++) {
    path_of(path, sizeof path, i);
    unlink(path);
  }
  rmdir(g_dir);
}

/* Writes file i and binds it over /etc's, when there is one. */
static void put_file(size_t i)
{
  char path[256], target[64];
  struct stat st;
  FILE *f;

  path_of(path, sizeof path, i);
  f = fopen(path, "w");
  CHECK(f != NULL && fputs(g_files[i].text, f) >= 0 && fclose(f) == 0,
        "write %s", path);
  snprintf(target, sizeof target, "/etc/%s", g_files[i].name);
  if (stat(target, &st) == 0)
    CHECK(mount(path, target, NULL, MS_BIND, NULL) == 0, "bind %s: %s",
          target, strerror(errno));
}

static void loopback_up(void)
{
  struct ifreq ifr;
  int fd = socket(AF_INET, SOCK_DGRAM, 0);

  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, "lo");
  CHECK(fd >= 0 && ioctl(fd, SIOCGIFFLAGS, &ifr) == 0, "lo: %s",
        strerror(errno));
  ifr.ifr_flags |= IFF_UP;
  CHECK(ioctl(fd, SIOCSIFFLAGS, &ifr) == 0, "lo up: %s", strerror(errno));
  close(fd);
}

static void own_world(void)
{
  struct stat st;
  size_t i;

  CHECK(geteuid() == 0, "t_dns needs root (namespaces and mounts)");
  CHECK(unshare(CLONE_NEWNET | CLONE_NEWNS) == 0, "unshare: %s",
        strerror(errno));
  CHECK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0,
        "make / private: %s", strerror(errno));
  loopback_up();
  CHECK(mkdtemp(g_dir) != NULL, "mkdtemp");
  atexit(remove_dir);
  for (i = 0; i < NFILES; i++)
    put_file(i);
  if (stat("/var/run/nscd", &st) == 0)
    CHECK(mount("none", "/var/run/nscd", "tmpfs", 0, NULL) == 0,
          "hide nscd: %s", strerror(errno));
}

/* The name server: takes queries and never answers. */
static int silent_server(void)
{
  struct sockaddr_in sa;
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons(53);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0,
        "bind 127.0.0.1:53: %s", strerror(errno));
  return fd;
}

/* How many queries reached it since the last call. */
static int queries(int fd)
{
  char buf[512];
  int n = 0;

  while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0)
    n++;
  return n;
}

static void check_is_bounded(int ns)
{
  char why[256];
  long long t0 = now_ms(), ms;
  mcrepl_health_t h = mcrepl_check(NAME ":11211", NULL,
                                   "--timeout=300 --connect-timeout=300",
                                   why, sizeof why);

  ms = now_ms() - t0;
  CHECK(h == MCREPL_HEALTH_DOWN && strstr(why, "does not resolve"),
        "check: %d (%s)", (int)h, why);
  CHECK(queries(ns) > 0, "check: the name server was never asked");
  CHECK(ms <= LIMIT_MS + MARGIN_MS, "check took %lld ms", ms);
  fault_ok("dns", "check of %s with --timeout=%d: DOWN in %lld ms (%s)",
           NAME, LIMIT_MS, ms, why);
}

static void resync_is_bounded(int ns, int port)
{
  char to[32], err[256];
  long long t0 = now_ms(), ms;
  mcrepl_return_t rc;

  snprintf(to, sizeof to, "127.0.0.1:%d", port);
  rc = mcrepl_resync(NAME ":11211", to, "--connect-timeout=300", NULL,
                     NULL, err, sizeof err);
  ms = now_ms() - t0;
  CHECK(rc == MCREPL_HOST_LOOKUP_FAILURE, "resync: %s (%s)",
        mcrepl_strcode(rc), err);
  CHECK(queries(ns) > 0, "resync: the name server was never asked");
  CHECK(ms <= LIMIT_MS + MARGIN_MS, "resync took %lld ms", ms);
  fault_ok("dns", "resync from %s: %s in %lld ms", NAME,
           mcrepl_strcode(rc), ms);
}

/* The slave's name never resolves: writes go on, and the handle closes
 * within its shutdown timeout plus one connect timeout. */
static void destroy_is_bounded(int ns, int port)
{
  mcrepl_t *m = handle_open("--pair=127.0.0.1:%d," NAME ":11211 "
                            "--connect-timeout=300 --shutdown-timeout=300 "
                            "--backoff-max=50", port);
  long long t0, ms;
  int i;

  for (i = 0; i < 20; i++)
    CHECK(mcrepl_set(m, S("dns-key"), S("v"), 0, 0) == MCREPL_SUCCESS,
          "set on the master");
  usleep(200 * 1000); /* the sender is in a lookup now, or about to be */
  t0 = now_ms();
  mcrepl_destroy(m);
  ms = now_ms() - t0;
  CHECK(queries(ns) > 0, "sender: the name server was never asked");
  CHECK(ms <= 2 * LIMIT_MS + MARGIN_MS, "destroy took %lld ms", ms);
  fault_ok("dns", "a handle whose slave is %s: destroy in %lld ms", NAME,
           ms);
}

/* An address is never looked up, so it needs no name server. */
static void address_needs_no_lookup(int ns, int port)
{
  char node[32];
  mcrepl_health_t h;

  snprintf(node, sizeof node, "127.0.0.1:%d", port);
  h = mcrepl_check(node, NULL, "--timeout=1000", NULL, 0);
  CHECK(h == MCREPL_HEALTH_READY, "check of %s: %d", node, (int)h);
  CHECK(queries(ns) == 0, "an address was looked up");
  fault_ok("dns", "check of %s: READY, no query", node);
}

int main(void)
{
  mc_server_t *s;
  int ns;

  own_world();
  ns = silent_server();
  s = server_start(NULL);
  address_needs_no_lookup(ns, s->port);
  check_is_bounded(ns);
  resync_is_bounded(ns, s->port);
  destroy_is_bounded(ns, s->port);
  server_stop(s);
  /* The abandoned lookups end with the name server's 2 s: let them, so
   * that a leak check sees every thread done. */
  usleep(2500 * 1000);
  close(ns);
  return 0;
}
