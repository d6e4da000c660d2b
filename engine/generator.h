/*
 * engine/generator.h - typed generator streams (keyed pairs, YSB, NEXMark).
 *
 * A typed generator is a receiver stream whose receiver is a thread of
 * spate's own: it makes rows straight into the chunks of queue items (one
 * item a partition), so no row is copied between the generator and a batch.
 */
#ifndef SP_GENERATOR_H
#define SP_GENERATOR_H

#include "engine/input.h"

struct sp_tgen;

/* Define a typed generator stream (opts->kind is not TEXT; opts validated here).
 * Returns the stream or NULL: EINVAL, EBUSY, ECANCELED, ENOMEM. */
struct spate_dstream *sp_tgen_stream(spate_context *ctx, const struct spate_generator_opts *opts,
                                     struct spate_error *err);
/* Items of a batch holding bytes (their sp_queue_item.bytes) were processed: their memory no
 * longer counts against the bound. */
void sp_tgen_release(struct sp_tgen *g, uint64_t bytes);
/* Bytes made and time spent waiting on the bound (backpressure). */
void sp_tgen_stats(const struct sp_tgen *g, uint64_t *bytes, uint64_t *blocked_ns);
/* Stop (if running) and free. NULL: nothing. */
void sp_tgen_destroy(struct sp_tgen *g);

#endif /* SP_GENERATOR_H */
