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

/* Runs the CLI with args; returns its exit status, output in out. */
static int cli(const char *args, char *out, size_t len)
{
  char cmd[512];
  size_t n;
  FILE *f;
  int st;

  snprintf(cmd, sizeof cmd, CLI " --config='%s' %s 2>/dev/null", g_conf,
           args);
  f = popen(cmd, "r");
  ck_assert_ptr_nonnull(f);
  n = fread(out, 1, len - 1, f);
  out[n] = '\0';
  st = pclose(f);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
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

int main(void)
{
  Suite *s = suite_create("cli");
  TCase *tc = tcase_create("cli");

  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_stats_json);
  tcase_add_test(tc, test_stats_prometheus);
  tcase_add_test(tc, test_exit_codes);
  suite_add_tcase(s, tc);
  return run_suite(s);
}
