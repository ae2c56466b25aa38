/* The few memcached commands libmemcached lacks: meta commands for the
 * sender, "stats" for node identity and the crawler's metadump listing
 * for resync. Formatting into a growable buffer and parsing of single
 * reply lines; no I/O here, so all of it can be fed arbitrary bytes by
 * tests and fuzzers. */
#ifndef MCREPL_PROTO_H
#define MCREPL_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

typedef struct mcrepl__buf {
  char *p;
  size_t len;
  size_t cap;
} mcrepl__buf_t;

/* Appends; 0 on success, -1 when out of memory (buffer unchanged). */
int mcrepl__buf_add(mcrepl__buf_t *b, const void *data, size_t len);
int mcrepl__buf_printf(mcrepl__buf_t *b, const char *fmt, ...)
  __attribute__((format(printf, 2, 3)));
void mcrepl__buf_free(mcrepl__buf_t *b);

/* A pipeline: text in buf, with large values left where they are and
 * sent from there (writev), so that no value is copied twice. */
typedef struct mcrepl__pipe {
  mcrepl__buf_t buf;
  struct mcrepl__seg {
    const char *ext; /* NULL: buf[off, off + len) */
    size_t off, len;
  } *seg;
  size_t nseg, cap;
  size_t mark;       /* buf bytes already in a segment */
  struct iovec *iov; /* cap of them */
} mcrepl__pipe_t;

void mcrepl__pipe_reset(mcrepl__pipe_t *pp);
/* Appends a value: copied when small, referenced when large (it must
 * then live until the pipeline is sent). */
int mcrepl__pipe_value(mcrepl__pipe_t *pp, const char *v, size_t len);
/* Closes the pipeline into iovecs, valid until pp changes. */
int mcrepl__pipe_iov(mcrepl__pipe_t *pp, struct iovec **iov, size_t *n);
void mcrepl__pipe_free(mcrepl__pipe_t *pp);

/* The latest expiry memcached keeps, 2038-01-19 03:14:07 UTC: it reads
 * one into 32 signed bits without a word, so that a later time wraps
 * into the past (the item is stored already expired) or, past 2106, into
 * a short one. */
#define MCREPL__EXPIRY_MAX INT32_MAX
/* memcached reads a larger expiry (or flush delay) as a Unix time. */
#define MCREPL__RELATIVE_MAX (60 * 60 * 24 * 30)

/* The expiry to store for an item that mg's "t" said has ttl seconds
 * left (-1: never), as an absolute time on a clock that now shows
 * node_now: relative times over 30 days would read as unix times, and an
 * absolute one does not restart when a stalled node wakes up. */
int64_t mcrepl__expiry_at(int64_t ttl, int64_t node_now);
/* "ms <key> <len> F<flags> T<ttl> q" and CRLF, without the data. */
int mcrepl__proto_ms_head(mcrepl__buf_t *b, const char *key, size_t klen,
                          size_t vlen, uint32_t flags, int64_t ttl);

/* "ms <key> <len> F<flags> T<ttl> q" + data; ttl 0 never expires. */
int mcrepl__proto_ms(mcrepl__buf_t *b, const char *key, size_t klen,
                     const char *val, size_t vlen, uint32_t flags,
                     int64_t ttl);
/* "md <key> q" */
int mcrepl__proto_md(mcrepl__buf_t *b, const char *key, size_t klen);
/* "mg <key> v f t": the item's whole state, answered VA or EN. */
int mcrepl__proto_mg_state(mcrepl__buf_t *b, const char *key, size_t klen);
/* "mg <key>": whether it is there, answered HD or EN. */
int mcrepl__proto_mg_hit(mcrepl__buf_t *b, const char *key, size_t klen);
/* "md <key> C<cas>": deletes the item only if it is still that one;
 * answered HD, NF or EX. */
int mcrepl__proto_md_cas(mcrepl__buf_t *b, const char *key, size_t klen,
                         uint64_t cas);

/* An item's state as "VA <len> f<flags> t<ttl>" announces it. */
typedef struct mcrepl__meta {
  size_t vlen;
  uint32_t flags;
  int64_t ttl; /* -1: no expiry */
  uint64_t cas; /* "c": 0 when not asked for */
} mcrepl__meta_t;

/* Parses a "VA ..." line (without CRLF). 0 on success, -1 if malformed. */
int mcrepl__proto_parse_va(const char *line, size_t len, mcrepl__meta_t *m);
/* The same for an "HD ..." line, which has no length (vlen 0). */
int mcrepl__proto_parse_hd(const char *line, size_t len, mcrepl__meta_t *m);

typedef enum {
  MCREPL__LINE_OK,      /* HD, NF, EN, MN, VA: not an error */
  MCREPL__LINE_REFUSED, /* NS, EX: the server declined */
  MCREPL__LINE_SERVER,  /* SERVER_ERROR ... */
  MCREPL__LINE_CLIENT,  /* CLIENT_ERROR ..., ERROR: we sent nonsense */
  MCREPL__LINE_GARBAGE  /* none of the above */
} mcrepl__line_t;

mcrepl__line_t mcrepl__proto_classify(const char *line, size_t len);
int mcrepl__proto_is(const char *line, size_t len, const char *word);

/* Node identity and size from "stats". */
typedef struct mcrepl__stats_reply {
  uint64_t pid, uptime, time, curr_items, bytes;
  char version[32];
  unsigned seen; /* bit per field found: pid 1, uptime 2, time 4 */
} mcrepl__stats_reply_t;

/* Feeds one "STAT name value" line; other lines are ignored. */
void mcrepl__proto_stat_line(const char *line, size_t len,
                             mcrepl__stats_reply_t *s);

/* Strict unsigned decimal; 0 on success. */
int mcrepl__parse_u64(const char *s, size_t len, uint64_t *out);

/* The URL-encoded key of a metadump line ("key=... exp=..."), as
 * memcached's crawler lists them for resync, decoded into out[251].
 * Returns its length, or 0 when the line has none or it would not be a
 * valid key (over 250 bytes, a space or control character, a bad %
 * escape): it is pasted into commands as it is. */
size_t mcrepl__metadump_key(const char *line, size_t len, char *out);

#endif
