/* A pair's sender thread: takes batches off the queue and applies them to
 * the slave as one pipeline of quiet meta commands ended by "mn". */
#ifndef MCREPL_SENDER_H
#define MCREPL_SENDER_H

#include <stdint.h>

struct mcrepl__pair;

/* 0, or -1 when the thread could not be started. */
int mcrepl__sender_start(struct mcrepl__pair *p);
/* Tells the sender to drain until deadline_ns and stop, without waiting:
 * a handle tells all its pairs first, so that they drain side by side. */
void mcrepl__sender_signal(struct mcrepl__pair *p, int64_t deadline_ns);
/* Signals it (see above), then joins it; writes still queued then are
 * counted as dropped. */
void mcrepl__sender_stop(struct mcrepl__pair *p, int64_t deadline_ns);
void mcrepl__pair_mark_dirty(struct mcrepl__pair *p);

#endif
