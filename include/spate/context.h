/*
 * spate/context.h - the streaming context: batch interval and lifecycle.
 *
 * States: INITIALIZED -> ACTIVE -> STOPPED (Spark's StreamingContext). Define
 * inputs, transformations and outputs, start, await termination, stop. Only
 * one context may be ACTIVE in a process. Every call is safe in every state:
 * misuse returns an error code and a message, never crashes or hangs.
 */
#ifndef SPATE_CONTEXT_H
#define SPATE_CONTEXT_H

#include "spate/engine.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct spate_context spate_context;

enum spate_context_state {
    SPATE_CONTEXT_INITIALIZED = 0,
    SPATE_CONTEXT_ACTIVE = 1,
    SPATE_CONTEXT_STOPPED = 2
};

/* What the program can read about one finished batch (a StreamingListener's view). */
struct spate_batch_info {
    int64_t batch_time_ms;       /* zero_time + k * interval */
    uint64_t batch_index;        /* k, from 1 */
    uint64_t records;            /* records taken in by all inputs for this batch */
    int64_t scheduling_delay_us; /* from the batch's due time to the start of its processing */
    int64_t processing_time_us;  /* from the start to the end of its processing, outputs included */
    bool failed;                 /* an output or user function failed in this batch */
    uint64_t lag_batches;        /* batches already due behind this one when it started:
                                    how far processing is behind the clock */
    int64_t latency_max_us;      /* from the arrival of the batch's oldest record to the end of
                                    its outputs (see spate_context_latency); 0 for a batch
                                    without new records or a failed one */
};

/* Called on the scheduler thread after each batch, outputs done. Must be quick. */
typedef void (*spate_batch_listener)(void *user, const struct spate_batch_info *info);

/* Context configuration; initialise with spate_context_opts_init(). */
struct spate_context_opts {
    int64_t batch_interval_ms;     /* > 0 */
    bool manual_clock;             /* batches run only when spate_context_advance() says so */
    int64_t zero_time_ms;          /* manual clock: the time of batch 0 (default 0); the wall
                                      clock uses the time of start, rounded down to the interval */
    spate_batch_listener on_batch; /* optional */
    void *on_batch_user;
    const char *name; /* optional, for messages */
};

/* Fill opts with defaults (interval 1000 ms, wall clock). */
SPATE_API void spate_context_opts_init(struct spate_context_opts *opts);

/*
 * Create a streaming context on engine.
 *
 * Returns SPATE_OK, or EINVAL (engine or out NULL, interval <= 0), ENOMEM.
 * Ownership: the caller owns *out and frees it with spate_context_destroy(),
 * which also frees every dstream of the context. The engine is borrowed until
 * the context is stopped (spate_context_stop may destroy it, see there).
 */
SPATE_API SPATE_NODISCARD spate_status spate_context_create(spate_engine *engine,
                                                            const struct spate_context_opts *opts,
                                                            spate_context **out,
                                                            struct spate_error *err);

/*
 * Start: receivers begin reading and the batch clock starts. Returns at once.
 *
 * Returns SPATE_OK (also when already ACTIVE: a no-op), or EINVAL (no output
 * operation: the context is then STOPPED), ECANCELED (the context is
 * STOPPED), EBUSY (another context of the process is ACTIVE), EIO (an input
 * could not start, e.g. io_uring unavailable: the context is then STOPPED),
 * ENOMEM. Thread safety: call from the owning thread.
 */
SPATE_API SPATE_NODISCARD spate_status spate_context_start(spate_context *ctx,
                                                           struct spate_error *err);

/*
 * Block until the context is stopped (by spate_context_stop from another
 * thread or by a signal helper). Returns SPATE_OK, or EIO when a batch failed
 * since the last call: the message is the original error (later batches still
 * ran). Returns at once on a STOPPED context.
 */
SPATE_API SPATE_NODISCARD spate_status spate_context_await_termination(spate_context *ctx,
                                                                       struct spate_error *err);

/*
 * As spate_context_await_termination, waiting at most timeout_ms.
 * *stopped says whether the context is stopped. Returns SPATE_OK (stopped or
 * timed out: see *stopped), EIO (a batch failed, as above), EINVAL.
 */
SPATE_API SPATE_NODISCARD spate_status spate_context_await_termination_timeout(
    spate_context *ctx, int64_t timeout_ms, bool *stopped, struct spate_error *err);

/* Options of spate_context_stop_opts(). */
struct spate_stop_opts {
    bool stop_engine;            /* also destroy the engine (default true) */
    bool graceful;               /* process all data received so far first (default false) */
    int64_t graceful_timeout_ms; /* graceful: give up after this long (default 30000) */
};

/* Fill opts with defaults: stop the engine, not graceful, 30 s timeout. */
SPATE_API void spate_stop_opts_init(struct spate_stop_opts *opts);

/*
 * Stop the context. Safe in every state and twice; stop before start makes
 * the context STOPPED (start then fails). Without graceful the batch running
 * now finishes and nothing more is processed. After stop no thread, fd or
 * io_uring ring of the context remains. With stop_engine the engine is
 * destroyed (also by a later stop that asks for it, when an earlier one kept
 * it); otherwise it can make the next context.
 * Returns SPATE_OK, or ETIMEDOUT (graceful timed out; the context is stopped
 * anyway), EDEADLK (called from a batch callback: stop from another thread).
 */
SPATE_API SPATE_NODISCARD spate_status spate_context_stop_opts(spate_context *ctx,
                                                               const struct spate_stop_opts *opts,
                                                               struct spate_error *err);

/* spate_context_stop_opts with stop_engine and graceful as given. */
SPATE_API SPATE_NODISCARD spate_status spate_context_stop(spate_context *ctx, bool stop_engine,
                                                          bool graceful, struct spate_error *err);

/* Current state. */
SPATE_API enum spate_context_state spate_context_state(const spate_context *ctx);

/*
 * Manual clock only: advance by intervals batch intervals. Returns when every
 * batch that fell due has run and its outputs are done.
 * Returns SPATE_OK, or EINVAL (not a manual clock, intervals < 0), ECANCELED
 * (not ACTIVE), EDEADLK (called from a batch callback). A failing batch does not fail this call:
 * see await_termination.
 */
SPATE_API SPATE_NODISCARD spate_status spate_context_advance(spate_context *ctx, int64_t intervals,
                                                             struct spate_error *err);

/*
 * The last asynchronous error (a failed batch), or NULL. Borrowed: valid
 * until the next call on ctx.
 */
SPATE_API const char *spate_context_last_error(spate_context *ctx);

/* Batches completed so far, and the info of the last one (false when none). */
SPATE_API uint64_t spate_context_batches_completed(const spate_context *ctx);
SPATE_API bool spate_context_last_batch(const spate_context *ctx, struct spate_batch_info *out);

/*
 * Record latency: for every record of every successful batch, the time from
 * its arrival in the engine to the end of its batch's outputs. A record
 * arrives when a receiver takes it in (socket, listen, UDP, files: when it
 * was received, so a wait for ring room or for the rate limit counts), when
 * an open-loop generator was due to make it (a rate-limited generator stream
 * dates its records by its schedule, so a generator held back by a slow
 * engine still reports the delay), when spate_receiver_store or
 * spate_queue_push is called; a constant stream's rows are not counted.
 * Receivers date their ring data in ranges: a byte is dated by the start of
 * its range, which is at most 50 us earlier while the engine keeps up (the
 * ranges grow when it lags), and the records of each range are counted.
 * Histogram buckets are 1/32 wide and figures are the bucket's top: dates
 * err early and figures long.
 */
struct spate_latency_stats {
    uint64_t records; /* records measured */
    int64_t p50_us, p90_us, p99_us, p999_us, max_us;
};

/* Latency since start or the last reset (all zero before any record). ctx NULL: zeros. */
SPATE_API void spate_context_latency(const spate_context *ctx, struct spate_latency_stats *out);
/* Forget the records measured so far (e.g. after a warm-up). */
SPATE_API void spate_context_latency_reset(spate_context *ctx);

/*
 * Opt-in helper: the first SIGINT or SIGTERM stops ctx gracefully (the
 * engine is kept; a later spate_context_stop can stop it), a second one
 * gives up the graceful part and stops at once. Installs handlers for the
 * two signals (restored by spate_context_destroy) and one helper thread;
 * nothing is installed unless the program calls this. One context at a time.
 * Returns SPATE_OK, EINVAL (ctx NULL), EBUSY (a helper is already installed),
 * EIO (a pipe, handler or thread could not be set up).
 */
SPATE_API SPATE_NODISCARD spate_status spate_context_stop_on_signals(spate_context *ctx,
                                                                     struct spate_error *err);

/* Stop if needed (not graceful, engine kept) and free the context with its streams. NULL: nothing.
 */
SPATE_API void spate_context_destroy(spate_context *ctx);

#ifdef __cplusplus
}
#endif

#endif /* SPATE_CONTEXT_H */
