/* mcrepl-cli stats: the handle's counters and the nodes' item counts, as
 * a table for people, JSON for programs, or Prometheus text exposition
 * for node_exporter's textfile collector. Counters belong to the process
 * that holds the handle; the nodes' figures are the lasting picture. */
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mcrepl/mcrepl.h>

#include "cli.h"

typedef struct {
  mcrepl_pair_stats_t s;
  mcrepl_node_info_t node[2];
  int up[2];
} pair_view_t;

static const char *const roles[] = {"master", "slave"};

static int load(mcrepl_t *m, size_t i, pair_view_t *v)
{
  int k;

  memset(v, 0, sizeof *v);
  if (mcrepl_pair_stats(m, i, &v->s, sizeof v->s) != MCREPL_SUCCESS)
    return -1;
  for (k = 0; k < 2; k++)
    v->up[k] = mcrepl_node_info(m, i, (mcrepl_node_t)k, &v->node[k],
                                sizeof v->node[k]) == MCREPL_SUCCESS;
  return 0;
}

/* A pair of which no node answers serves nobody: a monitoring job must
 * see a failure (the report is printed all the same). */
static int none_up(size_t i, const pair_view_t *v)
{
  if (v->up[0] || v->up[1])
    return 0;
  fprintf(stderr, "mcrepl-cli: stats: no node of pair %zu answers\n", i);
  return 1;
}

/* Table ------------------------------------------------------------------ */

static void row(const char *label, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void row(const char *label, const char *fmt, ...)
{
  va_list ap;

  printf("  %-17s ", label);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
}

static void table(size_t i, const pair_view_t *v)
{
  const mcrepl_pair_stats_t *s = &v->s;
  int k;

  printf("%spair %zu\n", i ? "\n" : "", i);
  row("master", "%s", s->master);
  row("slave", "%s", s->slave);
  row("vip", "%s", s->vip ? s->vip : "-");
  row("weight", "%" PRIu32, s->weight);
  row("replicating to", "%s%s", s->current_slave,
      s->slave_up ? "" : " (not connected)");
  row("dirty", "%s", s->dirty ? "YES (the slave needs a resync)" : "no");
  row("queued", "%" PRIu64, s->queued);
  row("replicated", "%" PRIu64, s->replicated);
  row("dropped", "%" PRIu64, s->dropped);
  row("paced", "%" PRIu64, s->paced);
  row("errors", "%" PRIu64, s->errors);
  row("repairs", "%" PRIu64, s->repairs);
  row("unverified", "%" PRIu64, s->unverified);
  row("queue items", "%" PRIu64, s->queue_items);
  row("queue bytes", "%" PRIu64 " of %" PRIu64, s->queue_bytes,
      s->queue_bytes_max);
  row("lag p50/p99/max", "%" PRIu64 " / %" PRIu64 " / %" PRIu64 " us",
      s->lag_p50_us, s->lag_p99_us, s->lag_max_us);
  row("lag timed at read", "%" PRIu64 " of %" PRIu64 " (upper bounds)",
      s->lag_read_timed, s->replicated);
  row("reconnects", "%" PRIu64, s->reconnects);
  row("slave restarts", "%" PRIu64, s->slave_restarts);
  row("vip changes", "%" PRIu64, s->vip_changes);
  row("read failovers", "%" PRIu64, s->read_failovers);
  for (k = 0; k < 2; k++)
    if (v->up[k])
      row(roles[k], "%s  %" PRIu64 " items", v->node[k].address,
          v->node[k].curr_items);
    else
      row(roles[k], "%s  down", v->node[k].address);
}

/* JSON ------------------------------------------------------------------- */

/* Addresses are host names or IP literals: nothing to escape in them
 * but a quote or backslash, which the parser refuses anyway. */
static void json_pair(size_t i, const pair_view_t *v, int last)
{
  const mcrepl_pair_stats_t *s = &v->s;
  int k;

  printf("  {\"pair\": %zu, \"master\": \"%s\", \"slave\": \"%s\", "
         "\"vip\": %s%s%s, \"weight\": %" PRIu32 ",\n", i, s->master,
         s->slave, s->vip ? "\"" : "", s->vip ? s->vip : "null",
         s->vip ? "\"" : "", s->weight);
  printf("   \"current_master\": \"%s\", \"current_slave\": \"%s\", "
         "\"dirty\": %s, \"slave_up\": %s,\n", s->current_master,
         s->current_slave, s->dirty ? "true" : "false",
         s->slave_up ? "true" : "false");
  printf("   \"queued\": %" PRIu64 ", \"replicated\": %" PRIu64
         ", \"dropped\": %" PRIu64 ", \"paced\": %" PRIu64
         ", \"errors\": %" PRIu64 ",\n",
         s->queued, s->replicated, s->dropped, s->paced, s->errors);
  printf("   \"queue_items\": %" PRIu64 ", \"queue_bytes\": %" PRIu64
         ", \"queue_bytes_max\": %" PRIu64 ",\n", s->queue_items,
         s->queue_bytes, s->queue_bytes_max);
  printf("   \"lag_p50_us\": %" PRIu64 ", \"lag_p99_us\": %" PRIu64
         ", \"lag_max_us\": %" PRIu64 ", \"lag_read_timed\": %" PRIu64
         ",\n", s->lag_p50_us, s->lag_p99_us, s->lag_max_us,
         s->lag_read_timed);
  printf("   \"reconnects\": %" PRIu64 ", \"slave_restarts\": %" PRIu64
         ", \"vip_changes\": %" PRIu64 ", \"read_failovers\": %" PRIu64
         ",\n", s->reconnects, s->slave_restarts, s->vip_changes,
         s->read_failovers);
  printf("   \"repairs\": %" PRIu64 ", \"unverified\": %" PRIu64 ",\n",
         s->repairs, s->unverified);
  printf("   \"nodes\": [");
  for (k = 0; k < 2; k++)
    printf("%s{\"role\": \"%s\", \"address\": \"%s\", \"up\": %s, "
           "\"curr_items\": %" PRIu64 "}", k ? ", " : "", roles[k],
           v->node[k].address, v->up[k] ? "true" : "false",
           v->node[k].curr_items);
  printf("]}%s\n", last ? "" : ",");
}

/* Prometheus ------------------------------------------------------------- */

typedef struct {
  const char *name, *type, *help;
  size_t off; /* of a uint64_t in mcrepl_pair_stats_t */
} metric_t;

#define M(n, t, h, f) {n, t, h, offsetof(mcrepl_pair_stats_t, f)}
static const metric_t metrics[] = {
  M("mcrepl_queued_total", "counter", "Writes offered for replication.",
    queued),
  M("mcrepl_replicated_total", "counter", "Writes applied on the slave.",
    replicated),
  M("mcrepl_dropped_total", "counter", "Writes never applied.", dropped),
  M("mcrepl_paced_total", "counter",
    "Writes that waited for the sender near the queue's bound.", paced),
  M("mcrepl_errors_total", "counter", "Replication failures seen.",
    errors),
  M("mcrepl_repairs_total", "counter",
    "Keys given the master's state again after verification.", repairs),
  M("mcrepl_unverified_total", "counter",
    "Writes that could not be verified (the pair is then dirty).",
    unverified),
  M("mcrepl_queue_items", "gauge", "Writes waiting in the queue.",
    queue_items),
  M("mcrepl_queue_bytes", "gauge", "Bytes waiting in the queue.",
    queue_bytes),
  M("mcrepl_queue_bytes_max", "gauge", "The queue's bound in bytes.",
    queue_bytes_max),
  M("mcrepl_lag_p50_microseconds", "gauge",
    "Median replication lag.", lag_p50_us),
  M("mcrepl_lag_p99_microseconds", "gauge",
    "99th percentile replication lag.", lag_p99_us),
  M("mcrepl_lag_read_timed_total", "counter",
    "Lag samples timed at the read, not at arrival: upper bounds.",
    lag_read_timed),
  M("mcrepl_reconnects_total", "counter", "Connections made to the slave.",
    reconnects),
  M("mcrepl_slave_restarts_total", "counter",
    "Times the slave came back as a new process.", slave_restarts),
  M("mcrepl_vip_changes_total", "counter",
    "Times the vip moved to the other node.", vip_changes),
  M("mcrepl_read_failovers_total", "counter",
    "Reads answered by the other node.", read_failovers),
};
#undef M

static void prom_header(const char *name, const char *type,
                        const char *help)
{
  printf("# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void prometheus(const pair_view_t *v, size_t n)
{
  size_t i, j;
  int k;

  for (j = 0; j < sizeof metrics / sizeof metrics[0]; j++) {
    prom_header(metrics[j].name, metrics[j].type, metrics[j].help);
    for (i = 0; i < n; i++) {
      uint64_t x;
      memcpy(&x, (const char *)&v[i].s + metrics[j].off, sizeof x);
      printf("%s{pair=\"%zu\"} %" PRIu64 "\n", metrics[j].name, i, x);
    }
  }
  prom_header("mcrepl_dirty", "gauge", "1 when the slave needs a resync.");
  for (i = 0; i < n; i++)
    printf("mcrepl_dirty{pair=\"%zu\"} %d\n", i, v[i].s.dirty);
  prom_header("mcrepl_node_up", "gauge", "1 when the node answers.");
  for (i = 0; i < n; i++)
    for (k = 0; k < 2; k++)
      printf("mcrepl_node_up{pair=\"%zu\",node=\"%s\",address=\"%s\"} "
             "%d\n", i, roles[k], v[i].node[k].address, v[i].up[k]);
  prom_header("mcrepl_node_items", "gauge", "Items the node holds.");
  for (i = 0; i < n; i++)
    for (k = 0; k < 2; k++)
      if (v[i].up[k])
        printf("mcrepl_node_items{pair=\"%zu\",node=\"%s\",address="
               "\"%s\"} %" PRIu64 "\n", i, roles[k], v[i].node[k].address,
               v[i].node[k].curr_items);
}

int mcrepl_cli_stats(mcrepl_t *m, int format)
{
  size_t i, n = mcrepl_pair_count(m);
  pair_view_t *v;
  int rc = 0;

  /* Every pair, however many the configuration holds: a report that
   * silently left some out would look complete. Prometheus needs them
   * all loaded before it prints, metric by metric. */
  v = calloc(n ? n : 1, sizeof *v);
  if (v == NULL) {
    fprintf(stderr, "mcrepl-cli: stats: out of memory for %zu pairs\n",
            n);
    return -1;
  }
  for (i = 0; i < n; i++)
    if (load(m, i, &v[i]) != 0 || none_up(i, &v[i]))
      rc = -1;
  if (format == CLI_PROMETHEUS) {
    prometheus(v, n);
    free(v);
    return rc;
  }
  if (format == CLI_JSON)
    printf("{\"pairs\": [\n");
  else
    printf("%zu pair%s (counters are this process's own)\n", n,
           n == 1 ? "" : "s");
  for (i = 0; i < n; i++)
    if (format == CLI_JSON)
      json_pair(i, &v[i], i + 1 == n);
    else
      table(i, &v[i]);
  if (format == CLI_JSON)
    printf("]}\n");
  free(v);
  return rc;
}
