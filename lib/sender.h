/* A pair's sender thread: takes batches off the queue and applies them to
 * the slave as one pipeline of quiet meta commands ended by "mn"; between
 * batches, it runs the pair's failover tick (failover.h). */
#ifndef MCREPL_SENDER_H
#define MCREPL_SENDER_H

#include <stdint.h>

#include "internal.h"

/* 0, or -1 when the thread could not be started (or no memory). */
int mcrepl__sender_start(mcrepl__pair_t *p);
/* Tells the sender to drain until deadline_ns and stop, without waiting:
 * a handle tells all its pairs first, so that they drain side by side. */
void mcrepl__sender_signal(mcrepl__pair_t *p, int64_t deadline_ns);
/* Signals it (see above), then joins it; writes still queued then are
 * counted as dropped. */
void mcrepl__sender_stop(mcrepl__pair_t *p, int64_t deadline_ns);

#endif
