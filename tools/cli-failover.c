/* mcrepl-cli's commands for operators of a keepalived pair:
 *   check  --node=HOST:PORT [--peer=HOST:PORT]    keepalived track_script
 *   resync --from=HOST:PORT --to=HOST:PORT        bring a node up to date
 *   status                                        who is master, health
 * Only the public API is used. */
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <mcrepl/mcrepl.h>

#include "cli.h"

/* INCOMPLETE: a resync ran to its end but the target refused items (its
 * -I or -M): running it again changes nothing until it is reconfigured. */
enum { OK = 0, NOT_READY = 1, USAGE = 2, FAIL = 3, INCOMPLETE = 4 };

typedef struct {
  const char *node, *peer, *from, *to, *rate, *options, *config;
  int flush, if_needed, quiet;
} fopts_t;

static volatile sig_atomic_t interrupted;
static int progressed; /* the resync's callback was called: it ran */

static void on_signal(int sig)
{
  (void)sig;
  interrupted = 1;
}

static int usage(const char *msg)
{
  fprintf(stderr, "mcrepl-cli: %s (see mcrepl-cli --help)\n", msg);
  return USAGE;
}

enum { C_CHECK = 1, C_RESYNC = 2, C_STATUS = 4 };

/* Each argument and the commands that take it (a bit set of C_*). An
 * argument that the command would ignore is refused: in a script,
 * "check --from=A" is a mistake that must not pass for a check. */
typedef struct {
  const char *name;
  int cmds;
  size_t off; /* of its slot in fopts_t: a const char * or an int */
  int is_flag;
} arg_t;

#define VAL(n, c, f) {n, c, offsetof(fopts_t, f), 0}
#define FLAG(n, c, f) {n, c, offsetof(fopts_t, f), 1}

static const arg_t args[] = {
  VAL("--node", C_CHECK, node),
  VAL("--peer", C_CHECK, peer),
  VAL("--from", C_RESYNC, from),
  VAL("--to", C_RESYNC, to),
  VAL("--rate", C_RESYNC, rate),
  VAL("--options", C_CHECK | C_RESYNC, options),
  VAL("--config", C_STATUS, config),
  FLAG("--flush", C_RESYNC, flush),
  FLAG("--if-needed", C_RESYNC, if_needed),
  FLAG("-q", C_CHECK | C_RESYNC, quiet),
  FLAG("--quiet", C_CHECK | C_RESYNC, quiet),
};

#define NARGS (sizeof args / sizeof args[0])

static int cmd_bit(const char *cmd)
{
  return !strcmp(cmd, "check") ? C_CHECK
         : !strcmp(cmd, "resync") ? C_RESYNC : C_STATUS;
}

/* The entry of args that a names (--name=VALUE only for values: these
 * commands are written into scripts), or NULL. */
static const arg_t *find_arg(const char *a)
{
  size_t i, n;

  for (i = 0; i < NARGS; i++) {
    n = strlen(args[i].name);
    if (strncmp(a, args[i].name, n) == 0 &&
        a[n] == (args[i].is_flag ? '\0' : '='))
      return &args[i];
  }
  return NULL;
}

static int is_flag(const char *a)
{
  const arg_t *g = find_arg(a);

  return g != NULL && g->is_flag;
}

/* The command's options: every word of argv but argv[0] and the command
 * itself, argv[cmd], whether before or after it. */
static int parse(int argc, char **argv, int cmd, fopts_t *o)
{
  int i, bit = cmd_bit(argv[cmd]);
  const arg_t *g;
  char *slot;

  memset(o, 0, sizeof *o);
  for (i = 1; i < argc; i++) {
    if (i == cmd)
      continue;
    g = find_arg(argv[i]);
    if (g == NULL) {
      fprintf(stderr, "mcrepl-cli %s: unknown argument '%s'\n", argv[cmd],
              argv[i]);
      return USAGE;
    }
    if (!(g->cmds & bit)) {
      fprintf(stderr, "mcrepl-cli %s: '%s' is not an argument of %s\n",
              argv[cmd], argv[i], argv[cmd]);
      return USAGE;
    }
    slot = (char *)o + g->off;
    if (g->is_flag)
      *(int *)(void *)slot = 1;
    else if (*(const char **)(void *)slot != NULL) {
      /* Which one was meant? The last is a guess. */
      fprintf(stderr, "mcrepl-cli %s: '%s' given twice\n", argv[cmd],
              g->name);
      return USAGE;
    } else
      *(const char **)(void *)slot = argv[i] + strlen(g->name) + 1;
  }
  return OK;
}

/* check ------------------------------------------------------------------ */

static int run_check(const fopts_t *o)
{
  char why[256];
  mcrepl_health_t h;

  if (!o->node)
    return usage("check needs --node=HOST:PORT");
  h = mcrepl_check(o->node, o->peer, o->options, why, sizeof why);
  if (!o->quiet)
    printf("%s\n", why);
  if (h == MCREPL_HEALTH_ERROR)
    return USAGE;
  return h == MCREPL_HEALTH_READY ? OK : NOT_READY;
}

/* resync ----------------------------------------------------------------- */

static void bar(const mcrepl_resync_progress_t *p)
{
  double rate = p->elapsed_s > 0 ? (double)p->scanned / p->elapsed_s : 0;
  uint64_t total = p->total > p->scanned ? p->total : p->scanned;
  double frac = total ? (double)p->scanned / (double)total : 1;
  double eta = rate > 0 ? (double)(total - p->scanned) / rate : 0;
  char b[21];
  int i, fill = (int)(frac * 20);

  if (p->scanned == 0 && p->listed > 0 && !p->done) {
    fprintf(stderr, "\rlisting the source: %llu keys   ",
            (unsigned long long)p->listed);
    return;
  }
  for (i = 0; i < 20; i++)
    b[i] = i < fill ? '#' : '.';
  b[20] = '\0';
  fprintf(stderr,
          "\r[%s] %3.0f%% %llu/%llu items %.1f MB %.0f/s ETA %.0fs   ", b,
          frac * 100, (unsigned long long)p->scanned,
          (unsigned long long)total, (double)p->bytes / 1e6, rate, eta);
}

static int progress(void *ctx, const mcrepl_resync_progress_t *p)
{
  static struct timespec last;
  struct timespec now;
  const fopts_t *o = ctx;

  progressed = 1;
  clock_gettime(CLOCK_MONOTONIC, &now);
  if (!o->quiet && isatty(STDERR_FILENO) &&
      (p->done || now.tv_sec * 10 + now.tv_nsec / 100000000 !=
                      last.tv_sec * 10 + last.tv_nsec / 100000000)) {
    bar(p);
    last = now;
    if (p->done)
      fputc('\n', stderr);
  }
  if (p->done && !o->quiet)
    printf("resync %s: %llu listed, %llu copied, %llu already newer, "
           "%llu vanished, %llu deleted meanwhile, %llu refused, "
           "%llu unnamed, %.1f MB in %.1f s%s\n",
           interrupted ? "interrupted" : "done",
           (unsigned long long)p->scanned, (unsigned long long)p->copied,
           (unsigned long long)p->skipped, (unsigned long long)p->vanished,
           (unsigned long long)p->retracted, (unsigned long long)p->failed,
           (unsigned long long)p->unnamed, (double)p->bytes / 1e6,
           p->elapsed_s, p->flushed ? " (target emptied first)" : "");
  return interrupted;
}

static int run_resync(fopts_t *o)
{
  char opts[512], err[256];
  struct sigaction sa;
  mcrepl_return_t rc;

  if (!o->from || !o->to)
    return usage("resync needs --from=HOST:PORT and --to=HOST:PORT");
  /* It goes into the option string: anything but digits could carry
   * more options ("--rate=0 --resync-flush" would empty the target). */
  if (o->rate && (!o->rate[0] || strspn(o->rate, "0123456789") !=
                                     strlen(o->rate)))
    return usage("resync: --rate must be a number of items per second");
  /* --if-needed goes to the library, which checks the options and the
   * addresses before it asks the target's health: a typo in them is a
   * usage error whatever the target's state, never "nothing to do". */
  if ((size_t)snprintf(opts, sizeof opts, "%s%s%s%s %s",
                       o->rate ? "--resync-rate=" : "",
                       o->rate ? o->rate : "",
                       o->flush ? " --resync-flush" : "",
                       o->if_needed ? " --resync-if-needed" : "",
                       o->options ? o->options : "") >= sizeof opts)
    return usage("resync: --options or --rate too long");
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  rc = mcrepl_resync(o->from, o->to, opts, progress, o, err, sizeof err);
  if (rc == MCREPL_SUCCESS && !o->quiet && !progressed)
    printf("nothing to do: %s\n", err); /* --if-needed, and no copy */
  if (rc == MCREPL_SUCCESS)
    return OK;
  fprintf(stderr, "mcrepl-cli: resync %s -> %s: %s\n", o->from, o->to,
          err[0] ? err : mcrepl_strerror(rc));
  return rc == MCREPL_BAD_CONFIG || rc == MCREPL_INVALID_ARGUMENTS ? USAGE
         : rc == MCREPL_EXISTS        ? NOT_READY
         : rc == MCREPL_SLAVE_DIRTY   ? INCOMPLETE
                                      : FAIL;
}

/* status ----------------------------------------------------------------- */

static int same(const mcrepl_node_info_t *a, const mcrepl_node_info_t *b)
{
  long long boot_a = (long long)a->time - (long long)a->uptime;
  long long boot_b = (long long)b->time - (long long)b->uptime;

  return a->up && b->up && a->pid == b->pid && llabs(boot_a - boot_b) <= 2;
}

static const char *health_name(mcrepl_health_t h)
{
  static const char *const names[] = {"ready", "down", "resyncing",
                                      "empty (needs resync)",
                                      "stale (needs resync)", "error"};
  return (unsigned)h < 6 ? names[h] : "?";
}

/* The health check's options for status: read-only, with the timeouts
 * the configuration gives (a token "--timeout=N" or
 * "--connect-timeout=N"; the configuration was accepted already, so
 * they are well formed). */
static void check_options(const char *config, char *out, size_t len)
{
  static const char *const names[] = {"--timeout=", "--connect-timeout="};
  const char *p = config;
  size_t used = (size_t)snprintf(out, len, "--read-only"), k, n;

  while (*p) {
    p += strspn(p, " \t\r\n\v\f");
    n = strcspn(p, " \t\r\n\v\f");
    for (k = 0; k < 2; k++)
      if (n > strlen(names[k]) &&
          !strncasecmp(p, names[k], strlen(names[k])) && used < len)
        used += (size_t)snprintf(out + used, len - used, " %.*s", (int)n,
                                 p);
    p += n;
  }
}

static void status_node(const char *role, const mcrepl_node_info_t *n,
                        const char *peer, const char *opts,
                        int behind_vip)
{
  char why[256];
  mcrepl_health_t h = mcrepl_check(n->address, peer, opts, why,
                                   sizeof why);

  if (n->up)
    printf("  %-7s %-22s %10llu items  %-22s%s\n", role, n->address,
           (unsigned long long)n->curr_items, health_name(h),
           behind_vip ? "  <- vip" : "");
  else
    printf("  %-7s %-22s %10s        %-22s\n", role, n->address, "-",
           "down");
}

/* Returns 0, or -1 when neither node of the pair answered. */
static int status_pair(mcrepl_t *m, size_t i, const char *opts)
{
  mcrepl_node_info_t n[3];
  mcrepl_pair_stats_t s;
  int k, twins;

  mcrepl_pair_stats(m, i, &s, sizeof s);
  for (k = 0; k < 3; k++) {
    memset(&n[k], 0, sizeof n[k]);
    mcrepl_node_info(m, i, (mcrepl_node_t)k, &n[k], sizeof n[k]);
  }
  /* Nodes alike in their stats (containers: see mcrepl(3)) cannot say
   * which of them the vip leads to; the sender tells by a probe. */
  twins = same(&n[0], &n[1]);
  printf("pair %zu%s%s%s%s\n", i, s.vip ? "  vip " : "",
         s.vip ? s.vip : "", s.vip && !n[2].up ? " (not answering)" : "",
         s.vip && twins ? " (the nodes look alike: which one it leads "
                          "to is unknown)" : "");
  status_node("master", &n[0], n[1].address, opts,
              s.vip && !twins && same(&n[0], &n[2]));
  status_node("slave", &n[1], n[0].address, opts,
              s.vip && !twins && same(&n[1], &n[2]));
  printf("  this process: queued %llu, replicated %llu, dropped %llu, "
         "dirty %s\n", (unsigned long long)s.queued,
         (unsigned long long)s.replicated, (unsigned long long)s.dropped,
         s.dirty ? "yes" : "no");
  return n[0].up || n[1].up ? 0 : -1;
}

static int run_status(const fopts_t *o)
{
  const char *config = o->config ? o->config : getenv("MCREPL_CONFIG");
  char opts[256];
  mcrepl_t *m;
  size_t i;
  int code = OK;

  if (!config || !config[0])
    return usage("no configuration: use --config=STRING or MCREPL_CONFIG");
  m = mcrepl_cli_create(config, &code);
  if (!m)
    return code;
  check_options(config, opts, sizeof opts);
  /* A pair of which no node answers serves nobody: a monitoring job
   * that runs status must see a failure, not a table of "down". */
  for (i = 0; i < mcrepl_pair_count(m); i++)
    if (status_pair(m, i, opts) != 0) {
      fprintf(stderr, "mcrepl-cli: status: no node of pair %zu answers\n",
              i);
      code = FAIL;
    }
  mcrepl_destroy(m);
  return code;
}

int mcrepl_cli_is_failover(const char *word)
{
  return !strcmp(word, "check") || !strcmp(word, "resync") ||
         !strcmp(word, "status");
}

/* --NAME=VALUE, or one of the flags. */
static int leading_option(const char *a)
{
  return is_flag(a) || (a[0] == '-' && a[1] == '-' && a[2] != '\0' &&
                        a[2] != '=' && strchr(a, '=') != NULL);
}

/* The command may follow options, as in "mcrepl-cli --config=S status",
 * but only options of this parser's own form (--NAME=VALUE and the
 * flags): after "--config S" or "--", the word could be an argument of
 * another command, so mcrepl-cli.c refuses it with a message instead. */
int mcrepl_cli_failover(int argc, char **argv)
{
  fopts_t o;
  int cmd = 1, code;

  while (cmd < argc && leading_option(argv[cmd]))
    cmd++;
  if (cmd >= argc || !mcrepl_cli_is_failover(argv[cmd]))
    return -1;
  if ((code = parse(argc, argv, cmd, &o)) != OK)
    return code;
  if (!strcmp(argv[cmd], "check"))
    return run_check(&o);
  if (!strcmp(argv[cmd], "resync"))
    return run_resync(&o);
  return run_status(&o);
}
