/* Resync: copy a live master's items into its returning peer (see
 * mcrepl_resync in mcrepl.h). Keys are listed by memcached's crawler
 * into a spool file, then read back with "mg <key> v f t" and stored
 * with "ms ... ME" (add), in pipelined batches, at a bounded rate; a
 * copy whose key the source lost meanwhile is taken back. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "config.h"
#include "node.h"

#define BATCH 128
#define LOCK_TTL_S 15
#define LOCK_REFRESH_NS (3 * 1000000000LL)
#define BUSY_RETRIES 50
#define MAX_PASSES 4
/* The callback hears from a long listing this often (in keys), so that
 * a stop asked for (a signal to mcrepl-cli) is seen within a second or
 * so rather than when millions of keys are listed. */
#define LISTING_REPORT_KEYS 65536
/* Polls of the target's clock after a flush: 50 ms apart, 3 s at most. */
#define FLUSH_WAIT_TRIES 60
#define FLUSH_WAIT_NS 50000000L

typedef struct {
  mcrepl__config_t cfg;
  mcrepl__addr_t from, to;
  mcrepl__conn_t dump, src, dst;
  FILE *spool; /* the listing of one pass (see spool_dump) */
  mcrepl__io_t io;
  char keys[BATCH][251];
  size_t klen[BATCH], nkeys;
  mcrepl__buf_t vals;
  mcrepl__meta_t meta[BATCH];
  size_t off[BATCH];
  int found[BATCH];
  int stored[BATCH];
  uint64_t cas[BATCH]; /* of our copy, where stored */
  char gen[64];
  mcrepl__ready_t mark; /* the source, and its epoch when copying began */
  uint64_t src_time;    /* the source's clock ("stats time") then */
  uint64_t stale_cas;   /* the target's stale marker then (0: none) */
  char refused_key[251];  /* the first item the target refused */
  char refused_why[96];   /* and its answer */
  int64_t dst_skew_s;   /* the target's "stats time" minus ours, read
                           before each batch of adds (write_batch) */
  int64_t start_ns, lock_ns;
  uint64_t lock_cas; /* of our last write of the lock (0: server has -C) */
  mcrepl_resync_progress_t pr;
  mcrepl_resync_cb cb;
  void *ctx;
  char *err;
  size_t errlen;
} resync_t;

/* The first message stays: it is the nearest to the cause ("lost the
 * lock ...", "interrupted"), and the callers up the way would only say
 * where it was noticed. */
static mcrepl_return_t resync_error(resync_t *r, mcrepl_return_t rc,
                                    const char *what)
{
  if (r->err[0] == '\0')
    snprintf(r->err, r->errlen, "%s: %s", what, mcrepl_strerror(rc));
  return rc;
}

/* Listing ---------------------------------------------------------------- */

/* Sends the listing command; the connection is then at its first line.
 * The crawler serves one listing at a time and answers BUSY meanwhile;
 * it also wants to be alone on its connection. MCREPL_NOT_SUPPORTED:
 * the server does not know the mode (memcached before 1.6.9 answers
 * BADCLASS to "hash"). */
static mcrepl_return_t start_dump(resync_t *r, const char *cmd, size_t len)
{
  mcrepl_return_t rc;
  const char *l;
  size_t n;
  int tries;

  for (tries = 0; tries < BUSY_RETRIES; tries++) {
    rc = mcrepl__conn_open(&r->dump, &r->from, r->cfg.connect_timeout_ms);
    if (rc == MCREPL_SUCCESS)
      rc = mcrepl__conn_send(&r->dump, cmd, len, &r->io);
    if (rc == MCREPL_SUCCESS)
      rc = mcrepl__conn_line(&r->dump, &l, &n, &r->io);
    if (rc != MCREPL_SUCCESS)
      return rc;
    if (mcrepl__proto_is(l, n, "BADCLASS"))
      return MCREPL_NOT_SUPPORTED;
    if (!mcrepl__proto_is(l, n, "BUSY")) {
      /* The first item line: put it back to be read again. */
      r->dump.pos = (size_t)(l - r->dump.in.p);
      return MCREPL_SUCCESS;
    }
    mcrepl__conn_close(&r->dump);
    {
      struct timespec ts = {0, 100000000};
      nanosleep(&ts, NULL);
    }
  }
  return MCREPL_TIMEOUT;
}

/* The lock item holds our token (r->gen): it is ours only while it
 * does. One that expired while we paused may have been taken by another
 * resync, which must then keep it. */
static mcrepl_return_t take_lock(resync_t *r)
{
  r->lock_ns = mcrepl__now_ns();
  return mcrepl__marker_put(&r->dst, MCREPL__KEY_RESYNC, r->gen,
                            LOCK_TTL_S, 'E', &r->lock_cas, &r->io);
}

/* MCREPL_SUCCESS while the lock holds our token (*cas: that write),
 * MCREPL_NOTFOUND once it expired, MCREPL_EXISTS when it is another's. */
static mcrepl_return_t lock_state(resync_t *r, uint64_t *cas)
{
  char v[64];
  int found = 0;
  mcrepl_return_t rc = mcrepl__marker_get(&r->dst, MCREPL__KEY_RESYNC, v,
                                          sizeof v, &found, cas, &r->io);

  if (rc != MCREPL_SUCCESS)
    return rc;
  if (!found)
    return MCREPL_NOTFOUND;
  return strcmp(v, r->gen) == 0 ? MCREPL_SUCCESS : MCREPL_EXISTS;
}

static mcrepl_return_t lost_lock(resync_t *r)
{
  snprintf(r->err, r->errlen, "lost the lock on %s (over %d s without "
           "refreshing it): another resync holds it; stopped", r->to.text,
           LOCK_TTL_S);
  return MCREPL_EXISTS;
}

/* Takes the lock again after a flush took it with everything else, or
 * after it expired with no one taking it meanwhile. */
static mcrepl_return_t retake_lock(resync_t *r)
{
  mcrepl_return_t rc = take_lock(r);

  return rc == MCREPL_NOTSTORED ? lost_lock(r) : rc;
}

/* The lock expires LOCK_TTL_S after its last refresh: whatever takes
 * long (reading a large listing, a slow pace) refreshes it on the way,
 * or a second resync could start beside this one. The refresh is a
 * compare-and-set on our own write; on a server without CAS (-C) only
 * the read before it checks, and a resync that took the lock between
 * the two would lose it to us. */
static mcrepl_return_t refresh_lock(resync_t *r)
{
  uint64_t cas = 0;
  mcrepl_return_t rc;

  if (mcrepl__now_ns() - r->lock_ns <= LOCK_REFRESH_NS)
    return MCREPL_SUCCESS;
  rc = lock_state(r, &cas);
  if (rc == MCREPL_NOTFOUND)
    return retake_lock(r);
  if (rc == MCREPL_EXISTS)
    return lost_lock(r);
  if (rc != MCREPL_SUCCESS)
    return rc;
  r->lock_ns = mcrepl__now_ns();
  rc = mcrepl__marker_swap(&r->dst, MCREPL__KEY_RESYNC, r->gen, LOCK_TTL_S,
                           cas, &r->lock_cas, &r->io);
  if (rc == MCREPL_NOTFOUND) /* expired between the read and the swap */
    return retake_lock(r);
  return rc == MCREPL_NOTSTORED ? lost_lock(r) : rc;
}

/* Deletes the lock if it is still ours. */
static void release_lock(resync_t *r)
{
  uint64_t cas = 0;

  if (r->dst.fd >= 0 && lock_state(r, &cas) == MCREPL_SUCCESS)
    mcrepl__marker_del(&r->dst, MCREPL__KEY_RESYNC, cas, &r->io);
}

static int report(resync_t *r)
{
  r->pr.elapsed_s = (double)(mcrepl__now_ns() - r->start_ns) / 1e9;
  return r->cb ? r->cb(r->ctx, &r->pr) : 0;
}

static mcrepl_return_t stopped(resync_t *r)
{
  return report(r) != 0 ? resync_error(r, MCREPL_FAILURE, "interrupted")
                        : MCREPL_SUCCESS;
}

/* Copies the listing into r->spool, one decoded key a line, as fast as
 * the server sends it. The walk of the hash table ("hash") lists every
 * item once, where the walk of the LRUs ("all") skips items that reads
 * move between LRUs meanwhile (hundreds in 20,000 under load); but the
 * hash walk holds a bucket lock while it waits for its reader, and the
 * server's clients wait on that lock too. So nothing slow happens
 * between two reads of the listing: it is read whole first, and copied
 * at the resync's own pace afterwards. */
static mcrepl_return_t spool_dump(resync_t *r)
{
  static const char hash[] = "lru_crawler metadump hash\r\n";
  static const char all[] = "lru_crawler metadump all\r\n";
  mcrepl_return_t rc = start_dump(r, hash, sizeof hash - 1);
  char key[251];
  const char *l;
  size_t n, k;

  if (rc == MCREPL_NOT_SUPPORTED) {
    mcrepl__conn_close(&r->dump);
    rc = start_dump(r, all, sizeof all - 1);
  }
  while (rc == MCREPL_SUCCESS) {
    rc = mcrepl__conn_line(&r->dump, &l, &n, &r->io);
    if (rc != MCREPL_SUCCESS || (n == 3 && memcmp(l, "END", 3) == 0))
      break;
    if (mcrepl__proto_classify(l, n) != MCREPL__LINE_GARBAGE)
      rc = MCREPL_PROTOCOL_ERROR; /* ERROR, CLIENT_ERROR ... */
    else if ((k = mcrepl__metadump_key(l, n, key)) == 0)
      r->pr.unnamed++; /* see mcrepl_resync_progress_t */
    else if (fwrite(key, 1, k, r->spool) != k || putc('\n', r->spool) < 0)
      rc = MCREPL_FAILURE;
    else if (++r->pr.listed % LISTING_REPORT_KEYS == 0 &&
             (rc = stopped(r)) != MCREPL_SUCCESS)
      break; /* the target is untouched yet but for the lock */
    else
      rc = refresh_lock(r); /* one round trip in 3 s, to the target */
  }
  mcrepl__conn_close(&r->dump);
  if (rc == MCREPL_SUCCESS && fflush(r->spool) != 0)
    rc = MCREPL_FAILURE;
  rewind(r->spool);
  return rc;
}

/* Fills the next batch of keys from the spool; *end set when it is
 * over. */
static void next_keys(resync_t *r, int *end)
{
  char line[256];
  size_t k;

  r->nkeys = 0;
  while (r->nkeys < BATCH) {
    if (!fgets(line, sizeof line, r->spool)) {
      *end = 1;
      return;
    }
    k = strcspn(line, "\n");
    if (k == 0 || k > 250)
      continue;
    r->pr.scanned++;
    /* Our own markers say what the source holds, not the target. */
    if (k >= sizeof MCREPL__KEY_PREFIX - 1 &&
        memcmp(line, MCREPL__KEY_PREFIX, sizeof MCREPL__KEY_PREFIX - 1) == 0)
      continue;
    memcpy(r->keys[r->nkeys], line, k);
    r->klen[r->nkeys++] = k;
  }
}

/* Copying ---------------------------------------------------------------- */

static mcrepl_return_t read_batch(resync_t *r)
{
  mcrepl__buf_t b = {0};
  mcrepl_return_t rc = MCREPL_SUCCESS;
  const char *l, *data;
  size_t i, n;

  for (i = 0; i < r->nkeys; i++)
    if (mcrepl__proto_mg_state(&b, r->keys[i], r->klen[i]) != 0)
      rc = MCREPL_NOMEM;
  if (rc == MCREPL_SUCCESS)
    rc = mcrepl__conn_send(&r->src, b.p, b.len, &r->io);
  mcrepl__buf_free(&b);
  r->vals.len = 0;
  for (i = 0; i < r->nkeys && rc == MCREPL_SUCCESS; i++) {
    rc = mcrepl__conn_line(&r->src, &l, &n, &r->io);
    r->found[i] = 0;
    if (rc != MCREPL_SUCCESS || mcrepl__proto_is(l, n, "EN"))
      continue;
    if (mcrepl__proto_parse_va(l, n, &r->meta[i]) != 0)
      return MCREPL_PROTOCOL_ERROR;
    rc = mcrepl__conn_block(&r->src, r->meta[i].vlen, &data, &r->io);
    r->off[i] = r->vals.len;
    if (rc == MCREPL_SUCCESS &&
        mcrepl__buf_add(&r->vals, data, r->meta[i].vlen) != 0)
      rc = MCREPL_NOMEM;
    r->found[i] = rc == MCREPL_SUCCESS;
  }
  return rc;
}

static int add_item(mcrepl__buf_t *b, const resync_t *r, size_t i)
{
  int64_t ttl = mcrepl__expiry_at(r->meta[i].ttl,
                                  (int64_t)time(NULL) + r->dst_skew_s);

  return mcrepl__buf_printf(b, "ms %.*s %zu F%u T%lld ME c\r\n",
                            (int)r->klen[i], r->keys[i], r->meta[i].vlen,
                            r->meta[i].flags, (long long)ttl) ||
         mcrepl__buf_add(b, r->vals.p ? r->vals.p + r->off[i] : "",
                         r->meta[i].vlen) ||
         mcrepl__buf_add(b, "\r\n", 2);
}

static mcrepl_return_t unexpected(const char *l, size_t n)
{
  return mcrepl__proto_classify(l, n) == MCREPL__LINE_SERVER
             ? MCREPL_SERVER_ERROR
             : MCREPL_PROTOCOL_ERROR;
}

/* After a pipeline's answers, its "mn" must answer MN: an answer more or
 * less would have been taken for another key's. */
static mcrepl_return_t expect_mn(resync_t *r, mcrepl__conn_t *c)
{
  const char *l;
  size_t n;
  mcrepl_return_t rc = mcrepl__conn_line(c, &l, &n, &r->io);

  if (rc == MCREPL_SUCCESS && !mcrepl__proto_is(l, n, "MN"))
    rc = unexpected(l, n);
  return rc;
}

static void note_refusal(resync_t *r, size_t i, const char *l, size_t n)
{
  memcpy(r->refused_key, r->keys[i], r->klen[i]);
  r->refused_key[r->klen[i]] = '\0';
  if (n >= sizeof r->refused_why)
    n = sizeof r->refused_why - 1;
  memcpy(r->refused_why, l, n);
  r->refused_why[n] = '\0';
}

/* Each add answers HD with the copy's CAS (kept for take_back), or NS
 * when the key was there already (a newer write). */
static mcrepl_return_t read_adds(resync_t *r)
{
  mcrepl_return_t rc = MCREPL_SUCCESS;
  mcrepl__meta_t hd;
  const char *l;
  size_t i, n;

  for (i = 0; i < r->nkeys && rc == MCREPL_SUCCESS; i++) {
    r->stored[i] = 0;
    if (!r->found[i])
      continue;
    rc = mcrepl__conn_line(&r->dst, &l, &n, &r->io);
    if (rc != MCREPL_SUCCESS)
      break;
    if (mcrepl__proto_is(l, n, "HD")) {
      if (mcrepl__proto_parse_hd(l, n, &hd) != 0)
        return MCREPL_PROTOCOL_ERROR;
      r->cas[i] = hd.cas;
      r->stored[i] = 1;
      r->pr.copied++;
    } else if (mcrepl__proto_is(l, n, "NS")) {
      r->pr.skipped++;
    } else {
      if (r->pr.failed++ == 0)
        note_refusal(r, i, l, n);
    }
  }
  return rc == MCREPL_SUCCESS ? expect_mn(r, &r->dst) : rc;
}

static mcrepl_return_t write_batch(resync_t *r)
{
  mcrepl__buf_t b = {0};
  mcrepl__stats_reply_t id;
  mcrepl_return_t rc = mcrepl__conn_stats(&r->dst, &id, &r->io);
  size_t i;

  /* The target's clock and ours tick whole seconds at their own moments:
   * a skew read long before the adds could be a second off by the time
   * they are written, and a copy would outlive its source by that
   * second. Read just before, it is off only if a tick falls between. */
  if (rc != MCREPL_SUCCESS)
    return rc;
  r->dst_skew_s = mcrepl__clock_skew(&id);

  for (i = 0; i < r->nkeys; i++) {
    if (!r->found[i]) {
      r->pr.vanished++;
      continue;
    }
    if (add_item(&b, r, i) != 0)
      rc = MCREPL_NOMEM;
    r->pr.bytes += r->meta[i].vlen;
  }
  if (rc == MCREPL_SUCCESS && mcrepl__buf_add(&b, "mn\r\n", 4) != 0)
    rc = MCREPL_NOMEM;
  if (rc == MCREPL_SUCCESS)
    rc = mcrepl__conn_send(&r->dst, b.p, b.len, &r->io);
  mcrepl__buf_free(&b);
  return rc == MCREPL_SUCCESS ? read_adds(r) : rc;
}

/* Sends the pipeline in b and an "mn", then reads one answer per
 * command, for the entries that want[]: yes[i] when its first word is
 * `word`. */
static mcrepl_return_t ask(resync_t *r, mcrepl__conn_t *c, mcrepl__buf_t *b,
                           const int *want, int *yes, const char *word)
{
  mcrepl_return_t rc = mcrepl__buf_add(b, "mn\r\n", 4) != 0
                           ? MCREPL_NOMEM
                           : mcrepl__conn_send(c, b->p, b->len, &r->io);
  const char *l;
  size_t i, n;

  for (i = 0; i < r->nkeys; i++) {
    yes[i] = 0;
    if (!want[i] || rc != MCREPL_SUCCESS)
      continue;
    rc = mcrepl__conn_line(c, &l, &n, &r->io);
    if (rc == MCREPL_SUCCESS &&
        mcrepl__proto_classify(l, n) > MCREPL__LINE_REFUSED)
      rc = unexpected(l, n);
    yes[i] = rc == MCREPL_SUCCESS && mcrepl__proto_is(l, n, word);
  }
  return rc == MCREPL_SUCCESS ? expect_mn(r, c) : rc;
}

/* A delete that reached the target between our read of its key and our
 * add found nothing to delete, and the add would bring the value back
 * for as long as it lives. So once the adds are in, the source is asked
 * again: a copy whose key it no longer holds is deleted from the target,
 * but only while it is still our copy (its CAS), so a write made since
 * stays. What the source deletes after this check reaches the target
 * after our add, by the clients' own replication. */
static mcrepl_return_t take_back(resync_t *r)
{
  mcrepl__buf_t b = {0};
  mcrepl_return_t rc = MCREPL_SUCCESS;
  int there[BATCH], gone[BATCH], del[BATCH];
  size_t i, nstored = 0, ngone = 0;

  for (i = 0; i < r->nkeys; i++)
    if (r->stored[i]) {
      nstored++;
      if (mcrepl__proto_mg_hit(&b, r->keys[i], r->klen[i]) != 0)
        rc = MCREPL_NOMEM;
    }
  if (rc == MCREPL_SUCCESS && nstored > 0)
    rc = ask(r, &r->src, &b, r->stored, there, "HD");
  b.len = 0;
  for (i = 0; i < r->nkeys && rc == MCREPL_SUCCESS && nstored > 0; i++) {
    gone[i] = r->stored[i] && !there[i];
    ngone += (size_t)gone[i];
    if (gone[i] &&
        mcrepl__proto_md_cas(&b, r->keys[i], r->klen[i], r->cas[i]) != 0)
      rc = MCREPL_NOMEM;
  }
  if (rc == MCREPL_SUCCESS && ngone > 0)
    rc = ask(r, &r->dst, &b, gone, del, "HD");
  for (i = 0; i < r->nkeys && rc == MCREPL_SUCCESS && ngone > 0; i++)
    if (del[i]) {
      r->pr.copied--;
      r->pr.retracted++;
    }
  mcrepl__buf_free(&b);
  return rc;
}

/* Pacing, the lock and progress ------------------------------------------ */

static mcrepl_return_t throttle(resync_t *r)
{
  mcrepl_return_t rc = MCREPL_SUCCESS;
  int64_t due, now;

  if (r->cfg.resync_rate <= 0)
    return rc;
  due = r->start_ns +
        (int64_t)((double)r->pr.scanned * 1e9 / r->cfg.resync_rate);
  while (rc == MCREPL_SUCCESS && (now = mcrepl__now_ns()) < due) {
    int64_t slice = due - now < LOCK_REFRESH_NS ? due - now
                                                : LOCK_REFRESH_NS;
    struct timespec ts = mcrepl__ns_to_ts(slice);
    nanosleep(&ts, NULL);
    rc = refresh_lock(r);
  }
  return rc;
}

/* Copies the keys of the spool, at the configured rate. */
static mcrepl_return_t copy_spool(resync_t *r)
{
  mcrepl_return_t rc = MCREPL_SUCCESS;
  int end = 0;

  while (rc == MCREPL_SUCCESS && !end) {
    next_keys(r, &end);
    if (r->nkeys > 0)
      rc = read_batch(r);
    if (rc == MCREPL_SUCCESS && r->nkeys > 0)
      rc = write_batch(r);
    if (rc == MCREPL_SUCCESS && r->nkeys > 0)
      rc = take_back(r);
    if (rc == MCREPL_SUCCESS)
      rc = refresh_lock(r);
    if (rc == MCREPL_SUCCESS && (rc = stopped(r)) != MCREPL_SUCCESS)
      return rc;
    if (rc == MCREPL_SUCCESS)
      rc = throttle(r);
  }
  return rc == MCREPL_SUCCESS ? rc : resync_error(r, rc, "copying");
}

static mcrepl_return_t copy_pass(resync_t *r)
{
  mcrepl_return_t rc;

  r->pr.unnamed = r->pr.listed = 0; /* this listing's, as listed */
  r->spool = tmpfile();
  if (!r->spool) {
    snprintf(r->err, r->errlen, "no temporary file for the listing: %s",
             strerror(errno));
    return MCREPL_FAILURE;
  }
  rc = spool_dump(r);
  if (rc != MCREPL_SUCCESS)
    rc = resync_error(r, rc, "listing the source's keys");
  else if ((rc = stopped(r)) == MCREPL_SUCCESS)
    rc = copy_spool(r);
  fclose(r->spool);
  r->spool = NULL;
  return rc;
}

/* Whether the target still holds fewer items than the source, not
 * counting those that cannot be copied. */
static int behind(resync_t *r)
{
  mcrepl__stats_reply_t a, b;

  return mcrepl__conn_stats(&r->src, &a, &r->io) == MCREPL_SUCCESS &&
         mcrepl__conn_stats(&r->dst, &b, &r->io) == MCREPL_SUCCESS &&
         b.curr_items + r->pr.unnamed < a.curr_items;
}

/* A walk lists a bucket as it finds it when it passes, and older servers
 * or a table that grows meanwhile may still let an item slip: the
 * listing is repeated while a pass still found items the target lacked
 * and the target still holds fewer. Adds make a repeated pass harmless. */
static mcrepl_return_t copy_all(resync_t *r)
{
  mcrepl_return_t rc = MCREPL_SUCCESS;
  uint64_t before;
  int pass;

  for (pass = 0; pass < MAX_PASSES && rc == MCREPL_SUCCESS; pass++) {
    before = r->pr.copied;
    rc = copy_pass(r);
    if (rc != MCREPL_SUCCESS || r->pr.copied == before || !behind(r))
      break;
  }
  return rc;
}

/* Setup ----------------------------------------------------------------- */

/* Copying a node into itself would flush it first. Nodes alike in their
 * stats (containers) are told apart by a probe. */
static mcrepl_return_t distinct(resync_t *r, const mcrepl__stats_reply_t *a,
                                const mcrepl__stats_reply_t *b)
{
  mcrepl_return_t rc;
  int same = 0;

  if (!mcrepl__same_node(a, b))
    return MCREPL_SUCCESS;
  rc = mcrepl__same_server(&r->src, &r->dst, &r->io, &same);
  if (rc != MCREPL_SUCCESS)
    return resync_error(r, rc, "telling the two nodes apart");
  if (!same)
    return MCREPL_SUCCESS;
  snprintf(r->err, r->errlen, "%s and %s are the same server",
           r->from.text, r->to.text);
  return MCREPL_INVALID_ARGUMENTS;
}

static mcrepl_return_t open_nodes(resync_t *r)
{
  mcrepl__stats_reply_t a, b;
  mcrepl_return_t rc;

  rc = mcrepl__conn_open(&r->src, &r->from, r->cfg.connect_timeout_ms);
  if (rc == MCREPL_SUCCESS)
    rc = mcrepl__conn_stats(&r->src, &a, &r->io);
  if (rc != MCREPL_SUCCESS)
    return resync_error(r, rc, r->from.text);
  rc = mcrepl__conn_open(&r->dst, &r->to, r->cfg.connect_timeout_ms);
  if (rc == MCREPL_SUCCESS)
    rc = mcrepl__conn_stats(&r->dst, &b, &r->io);
  if (rc != MCREPL_SUCCESS)
    return resync_error(r, rc, r->to.text);
  rc = distinct(r, &a, &b);
  if (rc != MCREPL_SUCCESS)
    return rc;
  r->pr.total = a.curr_items;
  r->mark.pid = a.pid;
  r->mark.boot = mcrepl__boot_time(&a);
  r->src_time = a.time;
  return MCREPL_SUCCESS;
}

/* memcached without CAS (-C) counts an item as flushed when it was
 * stored in the flush's second or before (its clock counts seconds): a
 * copy made in that second would vanish at its first read. So the copy
 * waits until the target's clock has moved past it. */
static mcrepl_return_t past_flush_second(resync_t *r)
{
  mcrepl__stats_reply_t s;
  uint64_t flushed_at = 0;
  int i;

  for (i = 0; i < FLUSH_WAIT_TRIES; i++) {
    mcrepl_return_t rc = mcrepl__conn_stats(&r->dst, &s, &r->io);
    if (rc != MCREPL_SUCCESS)
      return rc;
    if (i == 0)
      flushed_at = s.time;
    else if (s.time > flushed_at)
      return MCREPL_SUCCESS;
    {
      struct timespec ts = {0, FLUSH_WAIT_NS};
      nanosleep(&ts, NULL);
    }
  }
  return MCREPL_TIMEOUT; /* a clock that stands still */
}

/* A target its peer marked stale may hold values deleted or overwritten
 * since: adding over them would keep them, so it is emptied first. The
 * stale marker's write seen here is the one this resync answers (see
 * mark_ready). */
static mcrepl_return_t maybe_flush(resync_t *r, const char *stale_key)
{
  char v[64];
  int stale = 0;
  mcrepl_return_t rc = mcrepl__marker_get(&r->src, stale_key, v, sizeof v,
                                          &stale, &r->stale_cas, &r->io);
  const char *l;
  size_t n;

  if (rc != MCREPL_SUCCESS || !(stale || r->cfg.resync_flush))
    return rc;
  rc = mcrepl__conn_send(&r->dst, "flush_all\r\n", 11, &r->io);
  if (rc == MCREPL_SUCCESS)
    rc = mcrepl__conn_line(&r->dst, &l, &n, &r->io);
  if (rc == MCREPL_SUCCESS && !mcrepl__proto_is(l, n, "OK"))
    rc = MCREPL_PROTOCOL_ERROR;
  r->pr.flushed = rc == MCREPL_SUCCESS;
  if (rc == MCREPL_SUCCESS)
    rc = past_flush_second(r);
  /* The flush took our lock with everything else. */
  return rc == MCREPL_SUCCESS ? retake_lock(r) : rc;
}

/* The ready marker names the epoch of the source when the copy began:
 * every write the clients dropped before then is in the target now. */
static mcrepl_return_t mark_ready(resync_t *r, const char *stale_key)
{
  char val[96];
  mcrepl_return_t rc;

  mcrepl__ready_format(val, sizeof val, &r->mark);
  rc = mcrepl__marker_put(&r->dst, MCREPL__KEY_READY, val, 0, 'S', NULL,
                          &r->io);
  /* Only the stale marker seen when the copy began is ours to take: one
   * written since is a client's whose dirt may be newer than our epoch,
   * and that client takes it back itself once it sees it covered. */
  if (rc == MCREPL_SUCCESS && r->stale_cas)
    rc = mcrepl__marker_del(&r->src, stale_key, r->stale_cas, &r->io);
  return rc == MCREPL_SUCCESS ? rc
                              : resync_error(r, rc, "marking the target ready");
}

/* A target that refused items lacks part of its pair's data, as a slave
 * that refuses a replicated write does: it is left unready (a ready
 * marker from before is taken too), and the dirt that the source holds
 * against it stays. Its health check then keeps it from serving while
 * its peer can, and the operator learns why (a smaller -I, -M). */
static mcrepl_return_t refused(resync_t *r)
{
  mcrepl__marker_del(&r->dst, MCREPL__KEY_READY, 0, &r->io);
  snprintf(r->err, r->errlen, "the target refused %llu cop%s (first: "
           "\"%.60s\": %.80s); not marked ready",
           (unsigned long long)r->pr.failed, r->pr.failed == 1 ? "y" : "ies",
           r->refused_key, r->refused_why);
  return MCREPL_SLAVE_DIRTY;
}

/* Everything done under the lock. */
static mcrepl_return_t copy_locked(resync_t *r, const char *stale_key)
{
  mcrepl_return_t rc;

  rc = mcrepl__epoch_next(&r->src, r->src_time, &r->mark.epoch, &r->io);
  if (rc != MCREPL_SUCCESS)
    return resync_error(r, rc, "reading the source's epoch");
  /* A stop asked for before the first batch (the target just turned
   * master, say) must find the target's data as they were: nothing but
   * the lock is written to it before the callback has had its say. */
  rc = stopped(r);
  if (rc == MCREPL_SUCCESS) {
    rc = maybe_flush(r, stale_key);
    if (rc != MCREPL_SUCCESS)
      rc = resync_error(r, rc, "emptying the stale target");
  }
  if (rc == MCREPL_SUCCESS)
    rc = copy_all(r);
  if (rc == MCREPL_SUCCESS)
    rc = r->pr.failed ? refused(r) : mark_ready(r, stale_key);
  return rc;
}

static mcrepl_return_t run(resync_t *r)
{
  char stale_key[MCREPL__ADDR_MAX + 16];
  mcrepl_return_t rc = open_nodes(r);

  if (rc != MCREPL_SUCCESS)
    return rc;
  mcrepl__generation(r->gen, sizeof r->gen);
  rc = take_lock(r);
  if (rc == MCREPL_NOTSTORED) {
    snprintf(r->err, r->errlen, "a resync into %s is already running "
             "(its lock expires %d s after its owner stops)", r->to.text,
             LOCK_TTL_S);
    return MCREPL_EXISTS;
  }
  if (rc != MCREPL_SUCCESS)
    return resync_error(r, rc, "locking the target");
  mcrepl__stale_key(stale_key, sizeof stale_key, r->to.text);
  rc = copy_locked(r, stale_key);
  release_lock(r);
  r->pr.done = 1;
  report(r);
  return rc;
}

static mcrepl_return_t setup(resync_t *r, const char *from, const char *to,
                             const char *options)
{
  if (mcrepl__config_parse_for(options, &r->cfg, r->err, r->errlen,
                               MCREPL__FOR_RESYNC))
    return MCREPL_BAD_CONFIG;
  if (!from || mcrepl__addr_parse(from, strlen(from), &r->from) != 0) {
    snprintf(r->err, r->errlen, "bad source address \"%.80s\"",
             from ? from : "(null)");
    return MCREPL_INVALID_ARGUMENTS;
  }
  if (!to || mcrepl__addr_parse(to, strlen(to), &r->to) != 0) {
    snprintf(r->err, r->errlen, "bad target address \"%.80s\"",
             to ? to : "(null)");
    return MCREPL_INVALID_ARGUMENTS;
  }
  r->io.stall_ms = r->cfg.io_timeout_ms;
  r->io.deadline = NULL;
  return MCREPL_SUCCESS;
}

/* --resync-if-needed: the target's health check, as keepalived's runs
 * it, decides; only a target that lost its data or missed writes is
 * copied into. Asked after the options and addresses were accepted, so
 * that a mistake in them is reported whatever the target's state. */
static mcrepl_return_t if_needed(resync_t *r, const char *from,
                                 const char *to, int *needed)
{
  char opts[96];
  mcrepl_health_t h;
  mcrepl__stats_reply_t s;
  mcrepl_return_t rc;

  /* The check finds a target ready by itself when its peer is down
   * ("better an empty cache than none"): a source that cannot be read
   * is an error here, not a reason to copy nothing. */
  rc = mcrepl__conn_ask_stats(&r->from, r->cfg.connect_timeout_ms, &s,
                              &r->io);
  if (rc != MCREPL_SUCCESS)
    return resync_error(r, rc, r->from.text);
  snprintf(opts, sizeof opts, "--read-only --connect-timeout=%d "
           "--timeout=%d", r->cfg.connect_timeout_ms, r->cfg.io_timeout_ms);
  h = mcrepl_check(to, from, opts, r->err, r->errlen);
  *needed = h == MCREPL_HEALTH_EMPTY || h == MCREPL_HEALTH_STALE;
  if (*needed)
    r->err[0] = '\0';
  return h == MCREPL_HEALTH_DOWN    ? MCREPL_CONNECTION_FAILURE
         : h == MCREPL_HEALTH_ERROR ? MCREPL_FAILURE
                                    : MCREPL_SUCCESS;
}

MCREPL_API mcrepl_return_t mcrepl_resync(const char *from, const char *to,
                                         const char *options,
                                         mcrepl_resync_cb cb, void *ctx,
                                         char *errbuf, size_t errbuf_len)
{
  char dummy[256];
  resync_t *r = calloc(1, sizeof *r);
  mcrepl_return_t rc;
  int needed = 1;

  if (!r)
    return MCREPL_NOMEM;
  r->err = errbuf && errbuf_len ? errbuf : dummy;
  r->errlen = errbuf && errbuf_len ? errbuf_len : sizeof dummy;
  r->err[0] = '\0';
  r->cb = cb;
  r->ctx = ctx;
  r->start_ns = mcrepl__now_ns();
  mcrepl__conn_init(&r->dump);
  mcrepl__conn_init(&r->src);
  mcrepl__conn_init(&r->dst);
  rc = setup(r, from, to, options);
  if (rc == MCREPL_SUCCESS && r->cfg.resync_if_needed)
    rc = if_needed(r, from, to, &needed);
  if (rc == MCREPL_SUCCESS && needed)
    rc = run(r);
  mcrepl__conn_free(&r->dump);
  mcrepl__conn_free(&r->src);
  mcrepl__conn_free(&r->dst);
  mcrepl__buf_free(&r->vals);
  mcrepl__config_free(&r->cfg);
  free(r);
  return rc;
}
