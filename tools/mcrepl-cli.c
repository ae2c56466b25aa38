/* mcrepl-cli: one mcrepl call from the shell.
 *
 * Each run creates a handle, performs one command and destroys the handle.
 * Because replication is asynchronous, a write command waits (bounded) for
 * the slave to confirm before exiting: otherwise a short-lived process
 * could exit with its write still queued for the slave. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mcrepl/mcrepl.h>

#include "cli.h"

#define PROG "mcrepl-cli"

/* The whole value is held in memory: refuse what is surely a mistake
 * (memcached's default item limit is 1 MiB anyway). */
#define STDIN_MAX ((size_t)64 << 20)
#define STDIN_CHUNK ((size_t)64 << 10)

#define CONFIRM_MS 2000     /* post-write wait for the slave */
#define WAIT_DEFAULT_MS 5000
/* The library's --shutdown-timeout default, for --help's arithmetic:
 * mcrepl_destroy drains that long after CONFIRM_MS ran out. */
#define SHUTDOWN_DEFAULT_MS 5000

/* memcached reads exptime as a signed 32-bit number; refusing larger
 * values here gives a clear usage error instead of a server error. */
#define EXPTIME_MAX ((uint64_t)INT32_MAX)
/* memcached reads a time over 30 days as a unix time: a flush DELAY past
 * that would be a moment long gone, and flush nothing. */
#define DELAY_MAX ((uint64_t)2592000)

enum { CLI_OK = 0, CLI_MISS = 1, CLI_USAGE = 2, CLI_FAIL = 3 };

/* Command flags. */
enum {
  F_WRITE = 1,   /* changes data: confirm replication before exiting */
  F_STORE = 2,   /* takes --exptime and --flags */
  F_IGNORE = 4,  /* ... which the library ignores (append, prepend) */
  F_VERBOSE = 8, /* takes --verbose */
  F_STATS = 16   /* prints the handle's counters when done */
};

typedef mcrepl_return_t (*store_fn)(mcrepl_t *, const char *, size_t,
                                    const char *, size_t, time_t,
                                    uint32_t);
typedef mcrepl_return_t (*arith_fn)(mcrepl_t *, const char *, size_t,
                                    uint64_t, uint64_t *);

struct command;

/* Everything a command needs, validated before the handle exists. */
typedef struct req {
  const struct command *cmd;
  const char *key;
  size_t key_len;
  const char *value;
  size_t value_len;
  char *value_buf;      /* owns value when it came from stdin */
  uint64_t num;         /* CAS, DELTA or COUNT */
  time_t exptime;       /* --exptime, EXPTIME or DELAY */
  uint32_t flags;
  int timeout_ms;
  int verbose;
  int format;           /* stats: CLI_TABLE, CLI_JSON, CLI_PROMETHEUS */
} req_t;

typedef struct command {
  const char *name;
  const char *synopsis;
  /* One letter per argument: k KEY, v VALUE (stdin when absent), c CAS,
   * d DELTA, n COUNT, e EXPTIME, D DELAY, t TIMEOUT_MS. */
  const char *sig;
  int min_args;
  unsigned flags;
  int (*run)(mcrepl_t *m, const req_t *r);
  store_fn store;
  arith_fn arith;
  const char *help;
} command_t;

/* The command line before validation. */
typedef struct opts {
  const char *config;
  const char *exptime;
  const char *flags;
  int verbose;
  int format;
  int help;
  int version;
  char **args;          /* the command and its arguments */
  int nargs;
} opts_t;

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

/* Messages. ------------------------------------------------------------- */

static int usage_error(const char *fmt, ...) PRINTF_LIKE(1, 2);

static int usage_error(const char *fmt, ...)
{
  va_list ap;

  fputs(PROG ": ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputs("\nTry '" PROG " --help' for more information.\n", stderr);
  return CLI_USAGE;
}

static int exit_code(mcrepl_return_t rc)
{
  switch (rc) {
  case MCREPL_SUCCESS:
    return CLI_OK;
  case MCREPL_NOTFOUND:
  case MCREPL_NOTSTORED:
  case MCREPL_EXISTS:
    return CLI_MISS;
  case MCREPL_BAD_KEY: /* the user typed it: a usage error */
    return CLI_USAGE;
  default:
    return CLI_FAIL;
  }
}

/* Longest key quoted in a message: a 250-byte key would bury the why. */
#define KEY_SHOWN 60

/* Writes the first KEY_SHOWN bytes of key with C escapes for what is not
 * printable: a CR in a message would overwrite it on a terminal, a LF
 * split a log line in two. */
static void put_key(FILE *f, const char *key, size_t len)
{
  size_t i, n = len > KEY_SHOWN ? KEY_SHOWN : len;

  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)key[i];
    if (c == '\r' || c == '\n' || c == '\t')
      fprintf(f, "\\%c", c == '\r' ? 'r' : c == '\n' ? 'n' : 't');
    else if (c < 0x20 || c >= 0x7f || c == '\\')
      fprintf(f, c == '\\' ? "\\\\" : "\\x%02x", c);
    else
      fputc(c, f);
  }
  if (len > KEY_SHOWN)
    fputs("...", f);
}

/* Prints "mcrepl-cli: CMD [KEY]: why" unless rc is a success, and returns
 * the exit code for rc. */
static int report(const req_t *r, mcrepl_return_t rc)
{
  if (rc == MCREPL_SUCCESS)
    return CLI_OK;
  fprintf(stderr, PROG ": %s%s", r->cmd->name, r->key ? " " : "");
  if (r->key)
    put_key(stderr, r->key, r->key_len);
  fprintf(stderr, ": %s\n", mcrepl_strerror(rc));
  return exit_code(rc);
}

/* Commands. ------------------------------------------------------------- */

static int run_get(mcrepl_t *m, const req_t *r)
{
  mcrepl_return_t rc = MCREPL_FAILURE;
  size_t len = 0;
  uint32_t flags = 0;
  uint64_t cas = 0;
  char *v;

  /* gets costs the same round trip and gives the cas for a later cas. */
  v = mcrepl_gets(m, r->key, r->key_len, &len, &flags, &cas, &rc);
  if (v == NULL)
    return report(r, rc == MCREPL_SUCCESS ? MCREPL_FAILURE : rc);
  if (r->verbose)
    fprintf(stderr, "flags=%" PRIu32 " cas=%" PRIu64 " bytes=%zu\n",
            flags, cas, len);
  /* Raw bytes, no newline: the value may be binary. Write errors are
   * caught when stdout is flushed in main(). */
  if (len > 0)
    fwrite(v, 1, len, stdout);
  free(v);
  return CLI_OK;
}

static int run_store(mcrepl_t *m, const req_t *r)
{
  return report(r, r->cmd->store(m, r->key, r->key_len, r->value,
                                 r->value_len, r->exptime, r->flags));
}

static int run_cas(mcrepl_t *m, const req_t *r)
{
  return report(r, mcrepl_cas(m, r->key, r->key_len, r->value,
                              r->value_len, r->exptime, r->flags, r->num));
}

static int run_delete(mcrepl_t *m, const req_t *r)
{
  return report(r, mcrepl_delete(m, r->key, r->key_len));
}

static int run_arith(mcrepl_t *m, const req_t *r)
{
  uint64_t v = 0;
  mcrepl_return_t rc = r->cmd->arith(m, r->key, r->key_len, r->num, &v);

  if (rc == MCREPL_SUCCESS)
    printf("%" PRIu64 "\n", v);
  return report(r, rc);
}

static int run_touch(mcrepl_t *m, const req_t *r)
{
  return report(r, mcrepl_touch(m, r->key, r->key_len, r->exptime));
}

static int run_flush(mcrepl_t *m, const req_t *r)
{
  return report(r, mcrepl_flush(m, r->exptime));
}

static int run_wait(mcrepl_t *m, const req_t *r)
{
  return report(r, mcrepl_wait_replicated(m, r->timeout_ms));
}

/* stats ----------------------------------------------------------------- */

static int run_stats(mcrepl_t *m, const req_t *r)
{
  return mcrepl_cli_stats(m, r->format) == 0 ? CLI_OK : CLI_FAIL;
}

/* Writes COUNT keys PREFIX0.. in one process, so that the counters that
 * follow show a real replication run rather than one write. */
static int run_fill(mcrepl_t *m, const req_t *r)
{
  char key[300], val[64];
  uint64_t i;

  for (i = 0; i < r->num; i++) {
    int kl = snprintf(key, sizeof key, "%.*s%" PRIu64, (int)r->key_len,
                      r->key, i);
    int vl = snprintf(val, sizeof val, "value-%" PRIu64, i);
    mcrepl_return_t rc = mcrepl_set(m, key, (size_t)kl, val, (size_t)vl,
                                    r->exptime, r->flags);
    if (rc != MCREPL_SUCCESS)
      return report(r, rc);
  }
  fprintf(stderr, "%" PRIu64 " keys written\n", r->num);
  return CLI_OK;
}

/* The command table. ---------------------------------------------------- */

static const command_t commands[] = {
  {"get", "KEY", "k", 1, F_VERBOSE, run_get, NULL, NULL,
   "print the value's bytes exactly (no newline added)"},
  {"set", "KEY [VALUE]", "kv", 1, F_WRITE | F_STORE, run_store,
   mcrepl_set, NULL, "store the value"},
  {"add", "KEY [VALUE]", "kv", 1, F_WRITE | F_STORE, run_store,
   mcrepl_add, NULL, "store only if the key does not exist"},
  {"replace", "KEY [VALUE]", "kv", 1, F_WRITE | F_STORE, run_store,
   mcrepl_replace, NULL, "store only if the key exists"},
  {"append", "KEY [VALUE]", "kv", 1, F_WRITE | F_STORE | F_IGNORE,
   run_store, mcrepl_append, NULL, "add the value after the item's"},
  {"prepend", "KEY [VALUE]", "kv", 1, F_WRITE | F_STORE | F_IGNORE,
   run_store, mcrepl_prepend, NULL, "add the value before the item's"},
  {"cas", "KEY CAS [VALUE]", "kcv", 2, F_WRITE | F_STORE, run_cas, NULL,
   NULL, "store only if the item's cas is still CAS (see get -v)"},
  {"delete", "KEY", "k", 1, F_WRITE, run_delete, NULL, NULL,
   "remove the item"},
  {"incr", "KEY DELTA", "kd", 2, F_WRITE, run_arith, NULL, mcrepl_incr,
   "add DELTA to a number, print the result"},
  {"decr", "KEY DELTA", "kd", 2, F_WRITE, run_arith, NULL, mcrepl_decr,
   "subtract DELTA (stops at 0), print the result"},
  {"touch", "KEY EXPTIME", "ke", 2, F_WRITE, run_touch, NULL, NULL,
   "change the item's expiry"},
  {"flush", "[DELAY]", "D", 0, F_WRITE, run_flush, NULL, NULL,
   "invalidate every item, now or in DELAY seconds"},
  {"fill", "PREFIX COUNT", "kn", 2, F_WRITE | F_STORE | F_STATS, run_fill,
   NULL, NULL, "set COUNT keys PREFIX0..., then print the counters"},
  {"stats", "", "", 0, F_STATS, run_stats, NULL, NULL,
   "replication counters and each server's item count"},
  {"wait", "[TIMEOUT_MS]", "t", 0, 0, run_wait, NULL, NULL,
   "wait for queued writes to reach the slaves (5000)"},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const command_t *find_command(const char *name)
{
  size_t i;

  for (i = 0; i < NCOMMANDS; i++)
    if (strcmp(commands[i].name, name) == 0)
      return &commands[i];
  return NULL;
}

static void usage(void)
{
  size_t i;
  char head[64];

  printf("Usage: " PROG " [OPTIONS] COMMAND [ARGS]\n\n"
         "Talks to memcached through mcrepl: writes go to the master of "
         "the key's pair\nand are replicated to its slave; reads come "
         "from the master.\n\nCommands:\n");
  for (i = 0; i < NCOMMANDS; i++) {
    snprintf(head, sizeof head, "%s %s", commands[i].name,
             commands[i].synopsis);
    printf("  %-22s %s\n", head, commands[i].help);
  }
  printf("\nVALUE is read from standard input when omitted or '-'.\n"
         "Write commands wait up to %d ms for the slave to confirm; then\n"
         "the handle drains what is still queued for up to the\n"
         "configuration's --shutdown-timeout (%d ms by default): with\n"
         "the slave down, a write takes about %d s.\n"
         "\nOptions (anywhere before '--'; --config, --exptime and --flags\n"
         "also take their value as the next word):\n"
         "  --config=STRING   mcrepl configuration, e.g.\n"
         "                    \"--pair=192.0.2.11:11211,192.0.2.12:11211\";\n"
         "                    default: $MCREPL_CONFIG\n"
         "  --exptime=N       set/add/replace/cas: 0 never expires, up to\n"
         "                    2592000 relative seconds, else unix time\n"
         "  --flags=N         set/add/replace/cas: 32-bit client flags\n"
         "  -v, --verbose     get: print flags, cas and length on stderr\n"
         "  --json            stats, fill: the counters as JSON\n"
         "  --prometheus      stats, fill: Prometheus text exposition\n"
         "  -h, --help        show this help\n"
         "  --version         show the library's version\n"
         "  --                end of options (for a VALUE starting with "
         "-)\n"
         "\nOperating a pair with keepalived (see mcrepl-cli(1)); their\n"
         "options are --NAME=VALUE only, before or after the command:\n"
         "  check --node=HOST:PORT [--peer=HOST:PORT] [--options=STRING]\n"
         "        [-q]\n"
         "                    health check for track_script: exit 0 when\n"
         "                    the node may be master, 1 when not\n"
         "  resync --from=HOST:PORT --to=HOST:PORT [--rate=ITEMS_PER_S]\n"
         "         [--flush] [--if-needed] [--options=STRING] [-q]\n"
         "                    copy the live master into its returning\n"
         "                    peer (add: newer writes win); rerunnable\n"
         "  status [--config=STRING]\n"
         "                    per pair: which node is behind the vip,\n"
         "                    item counts, health; exit 3 when no node\n"
         "                    of some pair answers\n"
         "  --options=STRING  mcrepl options for check and resync, e.g.\n"
         "                    --options=--timeout=500\n"
         "Each takes only the options shown for it (else exit 2).\n\n"
         "Exit status: 0 success; 1 not found, not stored or cas "
         "mismatch (check:\nnot ready; resync: another resync runs); 2 "
         "usage or configuration\nerror; 3 server, connection or other "
         "failure (stats, status: no node\nof some pair answers); 4 "
         "resync: the target refused items and is\nnot marked ready.\n",
         CONFIRM_MS, SHUTDOWN_DEFAULT_MS,
         (CONFIRM_MS + SHUTDOWN_DEFAULT_MS + 999) / 1000);
}

/* Command line. --------------------------------------------------------- */

/* Matches --NAME=VALUE and --NAME VALUE (taking the next argument, even
 * when it starts with "--", as configurations do). Returns 1 on a match,
 * 0 when arg is something else, -1 when the value is missing. */
static int value_opt(const char *name, int argc, char **argv, int *i,
                     const char **val)
{
  const char *a = argv[*i] + 2;
  size_t n = strlen(name);

  if (strncmp(a, name, n) != 0)
    return 0;
  if (a[n] == '=') {
    *val = a + n + 1;
    return 1;
  }
  if (a[n] != '\0')
    return 0;
  if (*i + 1 >= argc)
    return -1;
  *val = argv[++*i];
  return 1;
}

/* One option at argv[*i]. Returns 0, or CLI_USAGE after a message. */
static int parse_option(int argc, char **argv, int *i, opts_t *o)
{
  static const char *const names[] = {"config", "exptime", "flags"};
  const char **slots[] = {&o->config, &o->exptime, &o->flags};
  const char *a = argv[*i];
  size_t k;

  if (!strcmp(a, "-h") || !strcmp(a, "--help"))
    o->help = 1;
  else if (!strcmp(a, "-v") || !strcmp(a, "--verbose"))
    o->verbose = 1;
  else if (!strcmp(a, "--version"))
    o->version = 1;
  else if (!strcmp(a, "--json"))
    o->format = CLI_JSON;
  else if (!strcmp(a, "--prometheus"))
    o->format = CLI_PROMETHEUS;
  else {
    for (k = 0; k < sizeof names / sizeof names[0]; k++) {
      const char *before = *slots[k];
      int got = value_opt(names[k], argc, argv, i, slots[k]);

      if (got < 0)
        return usage_error("option '--%s' needs a value", names[k]);
      if (got > 0 && before != NULL)
        return usage_error("option '--%s' given twice", names[k]);
      if (got > 0)
        return 0;
    }
    return usage_error("unknown option '%s'", a);
  }
  return 0;
}

/* Only "--..." and the two short options are options: anything else
 * (such as "-", "-5" or "-x") is an argument, so that values may start
 * with a dash and negative numbers get a clear message. */
static int is_option(const char *a)
{
  return (a[0] == '-' && a[1] == '-' && a[2] != '\0') ||
         !strcmp(a, "-h") || !strcmp(a, "-v");
}

/* Moves the arguments to argv[1..] (options may be anywhere), and
 * returns 0 or CLI_USAGE. */
static int parse_argv(int argc, char **argv, opts_t *o)
{
  int i, n = 0, only_args = 0;

  memset(o, 0, sizeof *o);
  for (i = 1; i < argc; i++) {
    if (!only_args && !strcmp(argv[i], "--"))
      only_args = 1;
    else if (!only_args && is_option(argv[i])) {
      if (parse_option(argc, argv, &i, o) != 0)
        return CLI_USAGE;
    } else
      argv[1 + n++] = argv[i];
  }
  o->args = argv + 1;
  o->nargs = n;
  return 0;
}

/* Strict decimal: only digits, so that "-1", " 5", "+5", "0x10" and ""
 * are refused instead of being wrapped or read in part by strtoull. */
static int parse_u64(const char *s, uint64_t min, uint64_t max,
                     const char *what, uint64_t *out)
{
  char *end;
  unsigned long long v;

  if (s[0] == '-')
    return usage_error("%s must not be negative: '%s'", what, s);
  if (s[0] < '0' || s[0] > '9')
    return usage_error("%s is not a number: '%s'", what, s);
  errno = 0;
  v = strtoull(s, &end, 10);
  if (*end != '\0')
    return usage_error("%s is not a number: '%s'", what, s);
  if (errno != ERANGE && v < min)
    return usage_error("%s must be at least %" PRIu64 ": '%s'", what, min,
                       s);
  if (errno == ERANGE || v > max)
    return usage_error("%s is out of range (%" PRIu64 " to %" PRIu64
                       "): '%s'", what, min, max, s);
  *out = v;
  return 0;
}

/* Reads all of stdin into r->value_buf. Returns 0 or an exit code. */
static int read_stdin(req_t *r)
{
  size_t cap = 0, n = 0, want, got;
  char *b = NULL, *nb;

  if (isatty(STDIN_FILENO))
    fputs(PROG ": reading the value from the terminal (end with ^D)\n",
          stderr);
  do {
    if (n == cap) {
      /* One byte past the limit tells "too large" from "exactly". */
      cap = cap ? cap * 2 : STDIN_CHUNK;
      cap = cap > STDIN_MAX + 1 ? STDIN_MAX + 1 : cap;
      if ((nb = realloc(b, cap)) == NULL) {
        free(b);
        fputs(PROG ": stdin: out of memory\n", stderr);
        return CLI_FAIL;
      }
      b = nb;
    }
    want = cap - n;
    got = fread(b + n, 1, want, stdin);
    n += got;
  } while (got == want && n <= STDIN_MAX);
  r->value_buf = b;
  if (n > STDIN_MAX)
    return usage_error("the value on stdin is larger than %zu MiB",
                       STDIN_MAX >> 20);
  if (ferror(stdin)) {
    fprintf(stderr, PROG ": stdin: %s\n", strerror(errno));
    return CLI_FAIL;
  }
  r->value = b;
  r->value_len = n;
  return 0;
}

/* One argument of kind c from the command's signature; arg is NULL when
 * it was omitted. Returns 0 or an exit code. */
static int parse_arg(char c, const char *arg, req_t *r)
{
  uint64_t v = 0;
  int code = 0;

  switch (c) {
  case 'k':
    r->key = arg;
    r->key_len = strlen(arg);
    return 0;
  case 'v':
    if (arg == NULL || !strcmp(arg, "-"))
      return read_stdin(r);
    r->value = arg;
    r->value_len = strlen(arg);
    return 0;
  case 'c':
    /* memcached never hands out a cas of 0 and the library refuses it:
     * say so here rather than fail as if the server had. */
    return parse_u64(arg, 1, UINT64_MAX, "CAS", &r->num);
  case 'd':
    return parse_u64(arg, 0, UINT64_MAX, "DELTA", &r->num);
  case 'n':
    return parse_u64(arg, 0, UINT64_MAX, "COUNT", &r->num);
  case 'e':
  case 'D':
    if (arg != NULL)
      code = parse_u64(arg, 0, c == 'e' ? EXPTIME_MAX : DELAY_MAX,
                       c == 'e' ? "EXPTIME" : "DELAY", &v);
    r->exptime = (time_t)v;
    return code;
  case 't':
    v = WAIT_DEFAULT_MS;
    if (arg != NULL)
      code = parse_u64(arg, 0, INT_MAX, "TIMEOUT_MS", &v);
    r->timeout_ms = (int)v;
    return code;
  }
  return CLI_FAIL;
}

/* Options that only some commands take. Returns 0 or CLI_USAGE. */
static int check_options(const opts_t *o, req_t *r)
{
  const command_t *c = r->cmd;
  uint64_t v;

  if (o->verbose && !(c->flags & F_VERBOSE))
    return usage_error("'%s' takes no --verbose", c->name);
  if (o->format && !(c->flags & F_STATS))
    return usage_error("'%s' takes no --json or --prometheus", c->name);
  r->format = o->format;
  if ((o->exptime || o->flags) && !(c->flags & F_STORE))
    return usage_error("'%s' takes no --exptime or --flags", c->name);
  if ((o->exptime || o->flags) && (c->flags & F_IGNORE))
    fprintf(stderr, PROG ": note: %s keeps the item's flags and "
            "expiry; --exptime and --flags are ignored\n", c->name);
  r->verbose = o->verbose;
  if (o->exptime) {
    if (parse_u64(o->exptime, 0, EXPTIME_MAX, "--exptime", &v) != 0)
      return CLI_USAGE;
    r->exptime = (time_t)v;
  }
  if (o->flags) {
    if (parse_u64(o->flags, 0, UINT32_MAX, "--flags", &v) != 0)
      return CLI_USAGE;
    r->flags = (uint32_t)v;
  }
  return 0;
}

/* Fills *r from the command line. Returns -1 to go on, else the exit
 * code (--help, --version, usage errors). */
static int prepare(const opts_t *o, req_t *r)
{
  const command_t *c;
  int i, n = o->nargs - 1, max, code;

  /* Options may come anywhere, so a VALUE "-h" reads as --help: with
   * arguments to a command, that is surely a value, and exiting 0 with
   * nothing stored would pass for a write. */
  if ((o->help || o->version) && o->nargs > 1)
    return usage_error("'%s' among a command's arguments: a value that "
                       "starts with '-' goes after '--'",
                       o->help ? "--help" : "--version");
  if (o->help || o->version) {
    if (o->help)
      usage();
    else
      printf(PROG " %s\n", mcrepl_version());
    return CLI_OK;
  }
  if (o->nargs == 0)
    return usage_error("no command given");
  /* mcrepl_cli_failover() already took a failover command that came
   * first or after --NAME=VALUE options; here one followed "--NAME VALUE"
   * or "--", where it might be another command's argument. */
  if (mcrepl_cli_is_failover(o->args[0]))
    return usage_error("'%s' must come first: " PROG " %s [OPTION]...",
                       o->args[0], o->args[0]);
  if ((c = find_command(o->args[0])) == NULL)
    return usage_error("unknown command '%s'", o->args[0]);
  r->cmd = c;
  max = (int)strlen(c->sig);
  if (n < c->min_args || n > max)
    return usage_error("usage: %s %s", c->name, c->synopsis);
  if ((code = check_options(o, r)) != 0)
    return code;
  for (i = 0; i < max; i++)
    if ((code = parse_arg(c->sig[i], i < n ? o->args[1 + i] : NULL, r)))
      return code;
  return -1;
}

/* Running. -------------------------------------------------------------- */

/* A write the master accepted is only queued for the slave; give the
 * sender thread a chance to deliver it before this process exits. The
 * write's own exit code stands either way. */
static void confirm_replication(mcrepl_t *m)
{
  mcrepl_return_t rc = mcrepl_wait_replicated(m, CONFIRM_MS);

  if (rc != MCREPL_SUCCESS)
    fprintf(stderr, PROG ": warning: replication to the slave is not "
            "confirmed: %s\n", mcrepl_strerror(rc));
}

mcrepl_t *mcrepl_cli_create(const char *config, int *code)
{
  char err[256] = "";
  mcrepl_t *m = mcrepl_create(config, err, sizeof err);

  if (m == NULL) {
    int refused = errno == EINVAL;
    fprintf(stderr, PROG ": %s: %s\n",
            refused ? "bad configuration" : "cannot create the handle",
            err[0] ? err : strerror(errno));
    *code = refused ? CLI_USAGE : CLI_FAIL;
  }
  return m;
}

static int execute(const char *config, const req_t *r)
{
  int code;
  mcrepl_t *m = mcrepl_cli_create(config, &code);

  if (m == NULL)
    return code;
  code = r->cmd->run(m, r);
  /* After a failed write nothing was queued, so there is nothing to
   * confirm (and a flush that timed out waits in the queue anyway). */
  if ((r->cmd->flags & F_WRITE) && code == CLI_OK)
    confirm_replication(m);
  if ((r->cmd->flags & F_STATS) && r->cmd->run != run_stats &&
      code == CLI_OK)
    code = run_stats(m, r);
  mcrepl_destroy(m);
  return code;
}

int main(int argc, char **argv)
{
  opts_t o;
  req_t r;
  const char *config;
  int code;

  memset(&r, 0, sizeof r);
  if ((code = mcrepl_cli_failover(argc, argv)) >= 0)
    return code;
  if (parse_argv(argc, argv, &o) != 0)
    return CLI_USAGE;
  code = prepare(&o, &r);
  if (code < 0) {
    config = o.config ? o.config : getenv("MCREPL_CONFIG");
    if (config == NULL || config[0] == '\0')
      code = usage_error("no configuration: use --config=STRING or set "
                         "MCREPL_CONFIG");
    else
      code = execute(config, &r);
  }
  free(r.value_buf);
  /* Output goes through stdio: a full disk or closed pipe shows here. */
  if (fflush(stdout) != 0 || ferror(stdout)) {
    fprintf(stderr, PROG ": standard output: %s\n", strerror(errno));
    if (code == CLI_OK)
      code = CLI_FAIL;
  }
  return code;
}
