/*
 * engine/context.h - the streaming context inside.
 *
 * Threads of an ACTIVE context: the batch clock (wall clock only), which
 * never runs user code: it seals the inputs at each tick and queues a job;
 * and the scheduler, which runs jobs in order on the engine's workers and
 * runs the outputs. ctx->mu guards the state, the job queue, the
 * completion figures and the error slot; ctx->cv signals all of them.
 */
#ifndef SP_CONTEXT_H
#define SP_CONTEXT_H

#include <pthread.h>
#include <stdatomic.h>

#include "spate/context.h"
#include "engine/dstream.h"
#include "engine/input.h"
#include "engine/latency.h"

struct sp_exec;

enum sp_output_kind { SP_OUT_PRINT, SP_OUT_FOREACH, SP_OUT_TEXT_FILES };

struct sp_output {
    enum sp_output_kind kind;
    struct spate_dstream *ds;
    struct sp_output *next;
    uint32_t n;        /* print */
    int fd;            /* print */
    spate_batch_fn fn; /* foreach */
    char prefix[1024]; /* text files */
    char suffix[64];   /* text files */
    void *user;
};

struct sp_job {
    struct sp_job *next;
    uint64_t index;      /* k */
    int64_t time_ms;     /* zero + k * interval */
    int64_t due_ns;      /* monotonic time the batch fell due */
    struct sp_cut *cuts; /* one per input, in input order */
};

struct spate_context {
    spate_engine *engine; /* NULL once the context let go of it */
    struct spate_context_opts opts;
    char name[64];
    enum spate_context_state state; /* under mu (also read unlocked by the owner thread) */
    pthread_mutex_t mu;
    pthread_cond_t cv;       /* state, jobs, completions, errors */
    pthread_cond_t clock_cv; /* wakes the clock thread at stop */

    /* The graph (fixed after start). */
    struct spate_dstream *nodes, *nodes_tail;
    uint32_t nnodes;
    struct sp_input *inputs, *inputs_tail;
    uint32_t ninputs;
    struct sp_output *outputs, *outputs_tail;
    uint32_t noutputs;

    /* Clock and jobs (under mu). */
    int64_t zero_ms;      /* batch k has time zero_ms + k * interval */
    int64_t zero_mono_ns; /* monotonic time of zero_ms (wall clock) */
    uint64_t next_index;  /* next batch to seal */
    struct sp_job *jobs_head, *jobs_tail;
    uint64_t queued;     /* jobs sealed */
    bool stop_clock;     /* the clock thread must exit */
    bool stop_scheduler; /* the scheduler must exit after its current job */
    bool stopping;       /* a stop is in progress */
    bool starting;       /* a start is in progress: stop waits for it */
    bool running_job;    /* the scheduler is inside a job */
    pthread_t clock_thread, sched_thread;
    bool clock_started, sched_started;

    /* Completion (under mu). */
    uint64_t completed;
    struct spate_batch_info last;
    bool have_last;
    char error[SPATE_ERROR_MESSAGE_SIZE];     /* last batch error */
    bool error_pending;                       /* not yet reported by await_termination */
    struct sp_latency latency;                /* records of successful batches */
    char error_out[SPATE_ERROR_MESSAGE_SIZE]; /* copy handed out by last_error */

    struct sp_exec *exec;    /* from start to stop */
    _Atomic bool force_stop; /* a second signal: give up a graceful stop */
};

/* Remove the signal helper if it serves ctx (engine/signals.c); before ctx is freed. */
void sp_signals_release(struct spate_context *ctx);

/* May ctx take a new stream or output now? EBUSY (started) / ECANCELED (stopped) with a message. */
spate_status sp_context_check_definable(struct spate_context *ctx, const char *what,
                                        struct spate_error *err);
/* Link a new node (and its input, if any) into ctx. */
void sp_context_add_node(struct spate_context *ctx, struct spate_dstream *ds);

#endif /* SP_CONTEXT_H */
