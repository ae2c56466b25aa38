/* mcrepl-cli against real memcached: exit codes, and the stats formats
 * parsed as their consumers would (a JSON parser, a Prometheus text
 * exposition reader), with the figures checked. */
#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "servers.h"
#include "testutil.h"

#define CLI "tools/mcrepl-cli"

static mc_server_t *g_m, *g_s;
static char g_conf[128];

static void setup(void)
{
  g_m = mc_start(NULL);
  g_s = mc_start(NULL);
  ck_assert(g_m && g_s);
  snprintf(g_conf, sizeof g_conf, "--pair=127.0.0.1:%d,127.0.0.1:%d",
           g_m->port, g_s->port);
}

static void teardown(void)
{
  mc_stop(g_m);
  mc_stop(g_s);
}

/* Runs the shell command cmd; returns its exit status, what it wrote to
 * standard output in out. */
static int sh(const char *cmd, char *out, size_t len)
{
  size_t n;
  FILE *f;
  int st;

  f = popen(cmd, "r");
  ck_assert_ptr_nonnull(f);
  n = fread(out, 1, len - 1, f);
  out[n] = '\0';
  st = pclose(f);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Runs the CLI with args; returns its exit status, output in out. */
static int cli(const char *args, char *out, size_t len)
{
  char cmd[512];

  snprintf(cmd, sizeof cmd, CLI " --config='%s' %s 2>/dev/null", g_conf,
           args);
  return sh(cmd, out, len);
}

/* As cli(), but out holds standard error, where usage errors go. */
static int cli_err(const char *args, char *out, size_t len)
{
  char cmd[512];

  snprintf(cmd, sizeof cmd, CLI " --config='%s' %s 2>&1 >/dev/null",
           g_conf, args);
  return sh(cmd, out, len);
}

/* The CLI run with args must fail with a usage error (exit 2) whose
 * message holds want. */
static void usage_fails(const char *args, const char *want)
{
  char out[1024];

  ck_assert_int_eq(cli_err(args, out, sizeof out), 2);
  ck_assert_msg(strstr(out, want) != NULL, "%s: %s", args, out);
}

/* JSON ------------------------------------------------------------------- */

typedef struct {
  const char *p;
} js_t;

static int js_value(js_t *j);

static void js_ws(js_t *j)
{
  while (isspace((unsigned char)*j->p))
    j->p++;
}

static int js_string(js_t *j)
{
  if (*j->p != '"')
    return -1;
  for (j->p++; *j->p && *j->p != '"'; j->p++)
    if (*j->p == '\\' && !*++j->p)
      return -1;
  return *j->p == '"' ? (j->p++, 0) : -1;
}

static int js_number(js_t *j)
{
  char *end;

  strtod(j->p, &end);
  if (end == j->p)
    return -1;
  j->p = end;
  return 0;
}

static int js_list(js_t *j, char close, int members)
{
  j->p++;
  js_ws(j);
  if (*j->p == close)
    return j->p++, 0;
  for (;;) {
    js_ws(j);
    if (members) {
      if (js_string(j) != 0)
        return -1;
      js_ws(j);
      if (*j->p++ != ':')
        return -1;
    }
    if (js_value(j) != 0)
      return -1;
    js_ws(j);
    if (*j->p == close)
      return j->p++, 0;
    if (*j->p++ != ',')
      return -1;
  }
}

static int js_value(js_t *j)
{
  js_ws(j);
  switch (*j->p) {
  case '{': return js_list(j, '}', 1);
  case '[': return js_list(j, ']', 0);
  case '"': return js_string(j);
  case 't': return strncmp(j->p, "true", 4) ? -1 : (j->p += 4, 0);
  case 'f': return strncmp(j->p, "false", 5) ? -1 : (j->p += 5, 0);
  case 'n': return strncmp(j->p, "null", 4) ? -1 : (j->p += 4, 0);
  default: return js_number(j);
  }
}

static int json_valid(const char *s)
{
  js_t j = {s};

  if (js_value(&j) != 0)
    return 0;
  js_ws(&j);
  return *j.p == '\0';
}

START_TEST(test_stats_json)
{
  static char out[65536];

  ck_assert_int_eq(cli("fill k 100 --json", out, sizeof out), 0);
  ck_assert_msg(json_valid(out), "not JSON:\n%s", out);
  ck_assert_ptr_nonnull(strstr(out, "\"queued\": 100,"));
  ck_assert_ptr_nonnull(strstr(out, "\"replicated\": 100,"));
  ck_assert_ptr_nonnull(strstr(out, "\"paced\": 0,"));
  ck_assert_ptr_nonnull(strstr(out, "\"lag_read_timed\": "));
  ck_assert_ptr_nonnull(strstr(out, "\"dirty\": false"));
  ck_assert_ptr_nonnull(strstr(out, "\"curr_items\": 100}"));
}
END_TEST

/* Prometheus ------------------------------------------------------------- */

/* name{label="v",...} value: a sample line of the text exposition. */
static int prom_sample(const char *l, char *name, size_t len)
{
  size_t n = 0;
  char *end;

  while ((isalnum((unsigned char)l[n]) || l[n] == '_') && n < len - 1)
    n++;
  if (n == 0 || isdigit((unsigned char)l[0]))
    return -1;
  memcpy(name, l, n);
  name[n] = '\0';
  l += n;
  if (*l == '{') {
    while (*++l != '}') {
      while (isalnum((unsigned char)*l) || *l == '_')
        l++;
      if (*l++ != '=' || *l++ != '"')
        return -1;
      while (*l && *l != '"')
        l++;
      if (*l++ != '"' || (*l != ',' && *l != '}'))
        return -1;
      if (*l == '}')
        break;
    }
    l++;
  }
  if (*l++ != ' ')
    return -1;
  strtod(l, &end);
  return end != l && (*end == '\0' || *end == '\n') ? 0 : -1;
}

START_TEST(test_stats_prometheus)
{
  static char out[65536];
  char typed[64][64], name[64];
  size_t ntyped = 0, i;
  char *line, *save;

  ck_assert_int_eq(cli("fill k 100 --prometheus", out, sizeof out), 0);
  ck_assert_ptr_nonnull(strstr(out, "mcrepl_queued_total{pair=\"0\"} 100\n"));
  ck_assert_ptr_nonnull(strstr(out, "mcrepl_dirty{pair=\"0\"} 0\n"));
  ck_assert_ptr_nonnull(strstr(out, "mcrepl_paced_total{pair=\"0\"} 0\n"));
  ck_assert_ptr_nonnull(
      strstr(out, "mcrepl_lag_read_timed_total{pair=\"0\"} "));
  for (line = strtok_r(out, "\n", &save); line;
       line = strtok_r(NULL, "\n", &save)) {
    if (!strncmp(line, "# HELP ", 7))
      continue;
    if (sscanf(line, "# TYPE %63s", name) == 1) {
      ck_assert(strstr(line, " counter") || strstr(line, " gauge"));
      /* Counters are named *_total, as the exposition format asks. */
      if (strstr(line, " counter"))
        ck_assert_ptr_nonnull(strstr(name, "_total"));
      ck_assert_uint_lt(ntyped, 64);
      strcpy(typed[ntyped++], name);
      continue;
    }
    ck_assert_msg(prom_sample(line, name, sizeof name) == 0, "bad: %s",
                  line);
    for (i = 0; i < ntyped && strcmp(typed[i], name); i++)
      ;
    ck_assert_msg(i < ntyped, "sample of an undeclared metric: %s", line);
  }
  ck_assert_uint_ge(ntyped, 10);
}
END_TEST

/* Exit codes ------------------------------------------------------------- */

START_TEST(test_exit_codes)
{
  char out[256];

  ck_assert_int_eq(cli("set a 1", out, sizeof out), 0);
  ck_assert_int_eq(cli("get a", out, sizeof out), 0);
  ck_assert_str_eq(out, "1");
  ck_assert_int_eq(cli("get missing", out, sizeof out), 1);
  ck_assert_int_eq(cli("add a 2", out, sizeof out), 1);
  ck_assert_int_eq(cli("bogus", out, sizeof out), 2);
  ck_assert_int_eq(cli("incr a -1", out, sizeof out), 2);
  mc_kill(g_m);
  ck_assert_int_eq(cli("set a 1", out, sizeof out), 3);
}
END_TEST

/* Usage errors ----------------------------------------------------------- */

/* A cas token of 0 is the caller's mistake, refused before any server
 * is asked, not a failure (exit 3). */
START_TEST(test_cas_zero)
{
  char out[512];

  ck_assert_int_eq(cli("set a 1", out, sizeof out), 0);
  usage_fails("cas a 0 2", "CAS must be at least 1");
  ck_assert_int_eq(cli("get a", out, sizeof out), 0);
  ck_assert_str_eq(out, "1");
}
END_TEST

/* fill's COUNT is named as such, not as incr's DELTA. */
START_TEST(test_fill_count_message)
{
  char out[512];

  ck_assert_int_eq(cli_err("fill k abc", out, sizeof out), 2);
  ck_assert_msg(strstr(out, "COUNT is not a number: 'abc'") != NULL, "%s",
                out);
  ck_assert_ptr_null(strstr(out, "DELTA"));
}
END_TEST

/* --help lists every option the failover commands take. */
START_TEST(test_help_failover_options)
{
  static char out[16384];
  const char *check, *resync, *status;

  ck_assert_int_eq(sh(CLI " --help", out, sizeof out), 0);
  check = strstr(out, "  check --node=");
  resync = strstr(out, "  resync --from=");
  status = strstr(out, "  status [--config=STRING]");
  ck_assert_msg(check && resync && status, "%s", out);
  /* --options= within each of check's and resync's entries. */
  ck_assert_ptr_nonnull(strstr(check, "[--options=STRING]"));
  ck_assert(strstr(check, "[--options=STRING]") < resync);
  ck_assert_ptr_nonnull(strstr(resync, "[--options=STRING]"));
  ck_assert(strstr(resync, "[--options=STRING]") < status);
}
END_TEST

/* resync --if-needed with a malformed address: the usage error that
 * resync gives without --if-needed, never "nothing to do" and 0. */
START_TEST(test_resync_if_needed_bad_address)
{
  char cmd[256], out[512];

  snprintf(cmd, sizeof cmd, CLI " resync --from=127.0.0.1:%d "
           "--to=127.0.0.1:99999 --if-needed 2>/dev/null", g_m->port);
  ck_assert_int_eq(sh(cmd, out, sizeof out), 2);
  ck_assert_str_eq(out, "");
  snprintf(cmd, sizeof cmd, CLI " resync --from=127.0.0.1:%d "
           "--to=127.0.0.1:99999 --if-needed 2>&1 >/dev/null", g_m->port);
  ck_assert_int_eq(sh(cmd, out, sizeof out), 2);
  ck_assert_msg(strstr(out, "127.0.0.1:99999") != NULL, "%s", out);
}
END_TEST

/* Runs resync --from=g_m --to=TO --if-needed with extra args; returns
 * its exit status, standard output and error in out. */
static int resync_if_needed(int to, const char *extra, char *out,
                            size_t len)
{
  char cmd[384];

  snprintf(cmd, sizeof cmd, CLI " resync --from=127.0.0.1:%d "
           "--to=127.0.0.1:%d --if-needed %s 2>&1", g_m->port, to, extra);
  return sh(cmd, out, len);
}

/* resync --if-needed copies into a target that lost its data, leaves a
 * ready one alone, and checks its options and addresses first, whatever
 * the target's state: a typo is exit 2, never "nothing to do". */
START_TEST(test_resync_if_needed)
{
  char cmd[256], out[1024];

  ck_assert_int_eq(mc_raw_set(g_m->port, "k1", "one", 0, 0), 0);
  /* The first check of a new pair marks the node it examines ready. */
  snprintf(cmd, sizeof cmd, CLI " check --node=127.0.0.1:%d "
           "--peer=127.0.0.1:%d -q", g_m->port, g_s->port);
  ck_assert_int_eq(sh(cmd, out, sizeof out), 0);
  /* The slave holds no marker while its peer does: EMPTY, copied. */
  ck_assert_int_eq(resync_if_needed(g_s->port, "", out, sizeof out), 0);
  ck_assert_msg(strstr(out, "resync done") != NULL, "%s", out);
  ck_assert_int_eq(mc_raw_get(g_s->port, "k1", NULL, NULL, NULL), 1);
  /* Now ready: nothing to do, nothing copied. */
  ck_assert_int_eq(mc_raw_set(g_m->port, "k2", "two", 0, 0), 0);
  ck_assert_int_eq(resync_if_needed(g_s->port, "", out, sizeof out), 0);
  ck_assert_msg(strstr(out, "nothing to do") != NULL, "%s", out);
  ck_assert_int_eq(mc_raw_get(g_s->port, "k2", NULL, NULL, NULL), 0);
  /* Mistakes are usage errors even where there is nothing to do. */
  ck_assert_int_eq(resync_if_needed(g_s->port, "--options=--bogus", out,
                                    sizeof out), 2);
  ck_assert_msg(strstr(out, "--bogus") != NULL, "%s", out);
  ck_assert_int_eq(resync_if_needed(g_s->port, "--rate=abc", out,
                                    sizeof out), 2);
  snprintf(cmd, sizeof cmd, CLI " resync --from= --to=127.0.0.1:%d "
           "--if-needed 2>&1", g_s->port);
  ck_assert_int_eq(sh(cmd, out, sizeof out), 2);
  /* A target that does not answer: a failure, not "nothing to do". */
  ck_assert_int_eq(resync_if_needed(1, "", out, sizeof out), 3);
  ck_assert_msg(strstr(out, "nothing to do") == NULL, "%s", out);
}
END_TEST

/* A target that refuses items (its -I is smaller than the source's):
 * exit 4, which mcrepl-notify.sh does not retry, and the reason. */
START_TEST(test_resync_refused_items_exit_4)
{
  mc_server_t *big = mc_start("-I 2m");
  char cmd[256], out[512];

  ck_assert_ptr_nonnull(big);
  ck_assert_int_eq(mc_raw_set_filled(big->port, "too-large", 1536 * 1024,
                                     'h'),
                   0);
  snprintf(cmd, sizeof cmd, CLI " resync --from=127.0.0.1:%d "
           "--to=127.0.0.1:%d -q 2>&1", big->port, g_s->port);
  ck_assert_int_eq(sh(cmd, out, sizeof out), 4);
  ck_assert_msg(strstr(out, "refused") && strstr(out, "too-large"), "%s",
                out);
  mc_stop(big);
}
END_TEST

/* --exptime and --flags take their value as the next word too, as
 * documented. */
START_TEST(test_value_as_next_word)
{
  char out[256];
  long ttl;

  ck_assert_int_eq(cli("--exptime 100 --flags 7 set sp-key v", out,
                       sizeof out), 0);
  ttl = mc_raw_ttl(g_m->port, "sp-key");
  ck_assert_msg(ttl > 90 && ttl <= 100, "ttl %ld", ttl);
  ck_assert_int_eq(cli_err("-v get sp-key", out, sizeof out), 0);
  ck_assert_msg(strstr(out, "flags=7 ") != NULL, "%s", out);
  ck_assert_int_eq(cli_err("set sp-key v --exptime", out, sizeof out), 2);
  ck_assert_msg(strstr(out, "'--exptime' needs a value") != NULL, "%s",
                out);
}
END_TEST

/* Failover commands ------------------------------------------------------ */

/* status after --config=STRING, as every other command takes it, and
 * check after its --options=; after "--config STRING" a clear error. */
START_TEST(test_failover_after_options)
{
  char cmd[512], out[2048], want[64];

  ck_assert_int_eq(cli("status", out, sizeof out), 0);
  snprintf(want, sizeof want, "  master  127.0.0.1:%d", g_m->port);
  ck_assert_msg(strstr(out, "pair 0\n") && strstr(out, want), "%s", out);
  snprintf(want, sizeof want, "  slave   127.0.0.1:%d", g_s->port);
  ck_assert_msg(strstr(out, want) != NULL, "%s", out);

  snprintf(cmd, sizeof cmd, CLI " --options=--read-only -q check "
           "--node=127.0.0.1:%d --peer=127.0.0.1:%d 2>/dev/null", g_m->port,
           g_s->port);
  ck_assert_int_eq(sh(cmd, out, sizeof out), 0);
  ck_assert_str_eq(out, "");

  snprintf(cmd, sizeof cmd, CLI " --config '%s' status 2>&1 >/dev/null",
           g_conf);
  ck_assert_int_eq(sh(cmd, out, sizeof out), 2);
  ck_assert_msg(strstr(out, "'status' must come first: mcrepl-cli status")
                != NULL, "%s", out);
}
END_TEST

/* An argument that a command would ignore is a usage error (exit 2)
 * naming it, and so is a library option that the command's entry point
 * does not take. */
START_TEST(test_failover_foreign_arguments)
{
  char cmd[512], out[2048];

  snprintf(cmd, sizeof cmd, CLI " check --node=127.0.0.1:%d "
           "--from=127.0.0.1:%d 2>&1", g_m->port, g_s->port);
  ck_assert_int_eq(sh(cmd, out, sizeof out), 2);
  ck_assert_msg(strstr(out, "'--from=127.0.0.1:") &&
                strstr(out, "is not an argument of check"), "%s", out);

  snprintf(cmd, sizeof cmd, CLI " resync --from=127.0.0.1:%d "
           "--to=127.0.0.1:%d --config=x 2>&1", g_m->port, g_s->port);
  ck_assert_int_eq(sh(cmd, out, sizeof out), 2);
  ck_assert_msg(strstr(out, "'--config=x' is not an argument of resync"),
                "%s", out);

  ck_assert_int_eq(cli_err("status -q", out, sizeof out), 2);
  ck_assert_msg(strstr(out, "'-q' is not an argument of status"), "%s",
                out);

  snprintf(cmd, sizeof cmd, CLI " check --node=127.0.0.1:%d "
           "'--options=--pair=127.0.0.1:%d,127.0.0.1:%d' 2>&1", g_m->port,
           g_m->port, g_s->port);
  ck_assert_int_eq(sh(cmd, out, sizeof out), 2);
  ck_assert_msg(strstr(out, "an option of mcrepl_create, not of "
                "mcrepl_check"), "%s", out);

  snprintf(cmd, sizeof cmd, CLI " resync --from=127.0.0.1:%d "
           "--to=127.0.0.1:%d --options=--read-only 2>&1", g_m->port,
           g_s->port);
  ck_assert_int_eq(sh(cmd, out, sizeof out), 2);
  ck_assert_msg(strstr(out, "\"--read-only\": an option of mcrepl_check"),
                "%s", out);
}
END_TEST

/* status and stats fail (3) when no node of a pair answers, not when
 * one does; the report is printed all the same. */
START_TEST(test_status_all_down)
{
  static const char *const cmds[] = {"status", "stats"};
  char out[4096];
  int i;

  mc_kill(g_s);
  for (i = 0; i < 2; i++)
    ck_assert_int_eq(cli(cmds[i], out, sizeof out), 0);
  mc_kill(g_m);
  for (i = 0; i < 2; i++) {
    ck_assert_int_eq(cli(cmds[i], out, sizeof out), 3);
    ck_assert_msg(strstr(out, "down") != NULL, "%s: %s", cmds[i], out);
  }
}
END_TEST

/* stats reports every pair, beyond the 64 it once stopped at. Nodes that
 * do not answer are reported down: nothing needs to listen there. */
START_TEST(test_stats_many_pairs)
{
  static char cmd[8192], out[1 << 20];
  size_t n = 0;
  int i, pairs = 0;
  const char *p;

  n += (size_t)snprintf(cmd + n, sizeof cmd - n, CLI " --config='");
  for (i = 0; i < 65; i++)
    n += (size_t)snprintf(cmd + n, sizeof cmd - n,
                          " --pair=127.0.1.%d:1,127.0.2.%d:1", i + 1, i + 1);
  snprintf(cmd + n, sizeof cmd - n, "' stats 2>/dev/null");
  ck_assert_uint_lt(n, sizeof cmd - 32);
  ck_assert_int_eq(sh(cmd, out, sizeof out), 3); /* every node down */
  ck_assert_msg(!strncmp(out, "65 pairs ", 9), "%.200s", out);
  for (p = out; (p = strstr(p, "pair ")) != NULL; p++)
    if (p == out || p[-1] == '\n')
      pairs++;
  ck_assert_int_eq(pairs, 65);
  ck_assert_ptr_nonnull(strstr(out, "\npair 64\n"));
  ck_assert_ptr_nonnull(strstr(out, "127.0.2.65:1  down"));
}
END_TEST

/* Input mistakes ---------------------------------------------------------- */

/* An option given twice is a mistake (which one was meant?), not "the
 * last wins": for the data commands and the failover ones alike. */
START_TEST(test_repeated_options)
{
  char cmd[512], out[1024];

  usage_fails("--exptime=5 --exptime=600 set rk v",
              "'--exptime' given twice");
  ck_assert_int_eq(mc_raw_get(g_m->port, "rk", NULL, NULL, NULL), 0);
  ck_assert_int_eq(cli_err("--flags 1 set rk v --flags=2", out, sizeof out),
                   2);
  snprintf(cmd, sizeof cmd, CLI " check --node=127.0.0.1:%d "
           "--node=127.0.0.1:%d 2>&1", g_m->port, g_s->port);
  ck_assert_int_eq(sh(cmd, out, sizeof out), 2);
  ck_assert_msg(strstr(out, "'--node' given twice") != NULL, "%s", out);
  snprintf(cmd, sizeof cmd, CLI " resync --from=127.0.0.1:%d "
           "--to=127.0.0.1:%d --to=127.0.0.1:%d 2>&1", g_m->port, g_s->port,
           g_m->port);
  ck_assert_int_eq(sh(cmd, out, sizeof out), 2);
  ck_assert_msg(strstr(out, "'--to' given twice") != NULL, "%s", out);
}
END_TEST

/* check with an empty peer (a variable left unset) or the node itself as
 * peer: a usage error, and the node is not marked ready. */
START_TEST(test_check_bad_peer)
{
  char cmd[256], out[1024];

  snprintf(cmd, sizeof cmd, CLI " check --node=127.0.0.1:%d --peer= 2>&1",
           g_m->port);
  ck_assert_int_eq(sh(cmd, out, sizeof out), 2);
  snprintf(cmd, sizeof cmd, CLI " check --node=127.0.0.1:%d "
           "--peer=127.0.0.1:%d 2>&1", g_m->port, g_m->port);
  ck_assert_int_eq(sh(cmd, out, sizeof out), 2);
  ck_assert_int_eq(mc_raw_get(g_m->port, "mcrepl:ready", NULL, NULL, NULL),
                   0);
}
END_TEST

/* --rate is a number, not more options smuggled into the resync's
 * option string ("--resync-flush" would empty the target). */
START_TEST(test_resync_rate_is_a_number)
{
  char cmd[256], out[1024];

  ck_assert_int_eq(mc_raw_set(g_s->port, "kept", "x", 0, 0), 0);
  snprintf(cmd, sizeof cmd, CLI " resync --from=127.0.0.1:%d "
           "--to=127.0.0.1:%d '--rate=0 --resync-flush' -q 2>&1", g_m->port,
           g_s->port);
  ck_assert_int_eq(sh(cmd, out, sizeof out), 2);
  ck_assert_msg(strstr(out, "--rate") != NULL, "%s", out);
  ck_assert_int_eq(mc_raw_get(g_s->port, "kept", NULL, NULL, NULL), 1);
}
END_TEST

/* A VALUE that reads as --help or --version must not print the help,
 * store nothing and exit 0: a script would take that for a write. */
START_TEST(test_help_among_arguments)
{
  char out[1024];

  ck_assert_int_eq(cli_err("set hk -h", out, sizeof out), 2);
  ck_assert_msg(strstr(out, "--") != NULL, "%s", out);
  ck_assert_int_eq(cli_err("set hk --version", out, sizeof out), 2);
  ck_assert_int_eq(mc_raw_get(g_m->port, "hk", NULL, NULL, NULL), 0);
  ck_assert_int_eq(cli("set hk -- -h", out, sizeof out), 0);
  ck_assert_int_eq(cli("get hk", out, sizeof out), 0);
  ck_assert_str_eq(out, "-h");
  ck_assert_int_eq(sh(CLI " --help >/dev/null", out, sizeof out), 0);
  ck_assert_int_eq(sh(CLI " set --help >/dev/null", out, sizeof out), 0);
}
END_TEST

/* memcached reads a flush delay over 30 days as a unix time (long past):
 * the delay would flush nothing, silently. */
START_TEST(test_flush_delay_bound)
{
  char out[1024];

  ck_assert_int_eq(cli("set fk v", out, sizeof out), 0);
  usage_fails("flush 2592001", "DELAY");
  ck_assert_int_eq(cli("flush 2592000", out, sizeof out), 0);
  ck_assert_int_eq(cli("get fk", out, sizeof out), 0);
}
END_TEST

/* A key with control bytes is refused, and shown escaped: a CR in a
 * message would overwrite it on a terminal, a LF split a log line. */
START_TEST(test_bad_key_shown_escaped)
{
  char out[1024];

  ck_assert_int_eq(cli_err("get \"$(printf 'a\\rb\\nc')\"", out,
                           sizeof out), 2);
  ck_assert_msg(strstr(out, "a\\rb\\nc") != NULL, "%s", out);
  ck_assert_ptr_null(strchr(out, '\r'));
  ck_assert_ptr_eq(strchr(out, '\n'), out + strlen(out) - 1);
}
END_TEST

/* status asks each node's health with the configuration's timeouts, not
 * the defaults: with a frozen slave and --timeout=200, it is done well
 * within the 1 s that one default check alone would wait. */
START_TEST(test_status_uses_the_timeouts)
{
  char cmd[512], out[4096];
  long long t0, ms;

  mc_pause(g_s);
  snprintf(cmd, sizeof cmd, CLI " status '--config=%s --timeout=200 "
           "--connect-timeout=200' 2>/dev/null", g_conf);
  t0 = mc_now_ms();
  sh(cmd, out, sizeof out);
  ms = mc_now_ms() - t0;
  mc_resume(g_s);
  ck_assert_msg(ms < 1200, "status took %lld ms", ms);
}
END_TEST

/* Twins (containers: same pid, same start time) cannot be told apart
 * by their stats: status must not mark both as the one behind the vip. */
START_TEST(test_status_twins)
{
  mc_server_t *a = mc_start_pid1(NULL), *b = mc_start_pid1(NULL);
  char cmd[512], out[4096];
  const char *first;

  ck_assert(a && b);
  snprintf(cmd, sizeof cmd, CLI " status '--config=--pair=127.0.0.1:%d,"
           "127.0.0.1:%d,vip=localhost:%d' 2>/dev/null", a->port, b->port,
           a->port);
  ck_assert_int_eq(sh(cmd, out, sizeof out), 0);
  first = strstr(out, "<- vip");
  ck_assert_msg(first == NULL || strstr(first + 1, "<- vip") == NULL,
                "%s", out);
  ck_assert_msg(strstr(out, "look alike") != NULL, "%s", out);
  mc_stop(a);
  mc_stop(b);
}
END_TEST

/* --help names every exit status, 4 included. */
START_TEST(test_help_exit_statuses)
{
  static char out[16384];

  ck_assert_int_eq(sh(CLI " --help", out, sizeof out), 0);
  ck_assert_msg(strstr(out, "4 resync") != NULL, "%s", out);
}
END_TEST

int main(void)
{
  Suite *s = suite_create("cli");
  TCase *tc = tcase_create("cli");

  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_stats_json);
  tcase_add_test(tc, test_stats_prometheus);
  tcase_add_test(tc, test_exit_codes);
  tcase_add_test(tc, test_cas_zero);
  tcase_add_test(tc, test_fill_count_message);
  tcase_add_test(tc, test_help_failover_options);
  tcase_add_test(tc, test_resync_if_needed_bad_address);
  tcase_add_test(tc, test_resync_if_needed);
  tcase_add_test(tc, test_resync_refused_items_exit_4);
  tcase_add_test(tc, test_failover_after_options);
  tcase_add_test(tc, test_repeated_options);
  tcase_add_test(tc, test_check_bad_peer);
  tcase_add_test(tc, test_resync_rate_is_a_number);
  tcase_add_test(tc, test_help_among_arguments);
  tcase_add_test(tc, test_flush_delay_bound);
  tcase_add_test(tc, test_bad_key_shown_escaped);
  tcase_add_test(tc, test_help_exit_statuses);
  tcase_add_test(tc, test_status_uses_the_timeouts);
  tcase_add_test(tc, test_status_twins);
  tcase_add_test(tc, test_value_as_next_word);
  tcase_add_test(tc, test_failover_foreign_arguments);
  tcase_add_test(tc, test_status_all_down);
  tcase_add_test(tc, test_stats_many_pairs);
  suite_add_tcase(s, tc);
  return run_suite(s);
}
