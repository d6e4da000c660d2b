/*
 * engine/context.c - the streaming context: lifecycle, batch clock, scheduler.
 *
 * Invariants:
 * - state moves only INITIALIZED -> ACTIVE -> STOPPED (or straight to
 *   STOPPED), under ctx->mu; at most one context per process is ACTIVE
 *   (the global lock in engine.c guards the slot).
 * - the clock thread only seals inputs and queues jobs: it never runs user
 *   code, so a slow batch shows up as scheduling delay, never as late batch
 *   times. The scheduler runs jobs one at a time, in batch order.
 * - after stop returns, no thread, fd, io_uring ring or region of the
 *   context remains.
 */
#include "engine/context.h"
#include "engine/engine.h"
#include "engine/exec.h"
#include "engine/mem.h"
#include "engine/worker.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static spate_context *active_ctx; /* under the global lock */

/* A day: longer intervals make no sense, and it keeps ns arithmetic far from overflow. */
#define SP_MAX_INTERVAL_MS (24LL * 3600 * 1000)

/* The monotonic time ms from now, saturated (a huge timeout means "no timeout"). */
static int64_t deadline_after_ms(int64_t ms) {
    int64_t now = sp_now_ns();
    if (ms >= (INT64_MAX - now) / 1000000)
        return INT64_MAX;
    return now + ms * 1000000;
}

void spate_context_opts_init(struct spate_context_opts *opts) {
    if (opts == NULL)
        return;
    memset(opts, 0, sizeof(*opts));
    opts->batch_interval_ms = 1000;
}

void spate_stop_opts_init(struct spate_stop_opts *opts) {
    if (opts == NULL)
        return;
    memset(opts, 0, sizeof(*opts));
    opts->stop_engine = true;
    opts->graceful_timeout_ms = 30000;
}

static void cond_init_mono(pthread_cond_t *cv) {
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
}

static struct timespec mono_deadline(int64_t ns) {
    struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000), .tv_nsec = (long)(ns % 1000000000)};
    return ts;
}

spate_status spate_context_create(spate_engine *engine, const struct spate_context_opts *opts,
                                  spate_context **out, struct spate_error *err) {
    if (out == NULL)
        return sp_error_set(err, EINVAL, "spate_context_create: out is NULL");
    *out = NULL;
    if (engine == NULL)
        return sp_error_set(err, EINVAL, "spate_context_create: engine is NULL");
    struct spate_context_opts o;
    spate_context_opts_init(&o);
    if (opts != NULL)
        o = *opts;
    if (o.batch_interval_ms <= 0 || o.batch_interval_ms > SP_MAX_INTERVAL_MS)
        return sp_error_set(err, EINVAL,
                            "spate_context_create: batch interval must be 1 ms to %lld ms (got "
                            "%" PRId64 " ms)",
                            (long long)SP_MAX_INTERVAL_MS, o.batch_interval_ms);
    spate_context *ctx = sp_mem_zalloc(SP_MEM_DEFAULT_ARENA, sizeof(*ctx), 64);
    if (ctx == NULL)
        return sp_error_set(err, ENOMEM, "spate_context_create: out of memory");
    sp_global_lock();
    if (engine->stopped) {
        sp_global_unlock();
        sp_mem_free(SP_MEM_DEFAULT_ARENA, ctx, sizeof(*ctx));
        return sp_error_set(err, ECANCELED, "spate_context_create: the engine was stopped");
    }
    sp_engine_ref_locked(engine);
    sp_global_unlock();
    ctx->engine = engine;
    ctx->opts = o;
    snprintf(ctx->name, sizeof(ctx->name), "%s", o.name != NULL ? o.name : "spate");
    ctx->opts.name = ctx->name;
    ctx->state = SPATE_CONTEXT_INITIALIZED;
    pthread_mutex_init(&ctx->mu, NULL);
    cond_init_mono(&ctx->cv);
    cond_init_mono(&ctx->clock_cv);
    *out = ctx;
    return SPATE_OK;
}

enum spate_context_state spate_context_state(const spate_context *ctx) {
    if (ctx == NULL)
        return SPATE_CONTEXT_STOPPED;
    spate_context *c = (spate_context *)(uintptr_t)ctx;
    pthread_mutex_lock(&c->mu);
    enum spate_context_state s = c->state;
    pthread_mutex_unlock(&c->mu);
    return s;
}

/* ---- Definition ---- */

spate_status sp_context_check_definable(struct spate_context *ctx, const char *what,
                                        struct spate_error *err) {
    pthread_mutex_lock(&ctx->mu);
    enum spate_context_state s = ctx->state;
    pthread_mutex_unlock(&ctx->mu);
    if (s == SPATE_CONTEXT_ACTIVE)
        return sp_error_set(err, EBUSY,
                            "%s: the streaming context has already been started; new inputs, "
                            "transformations and output operations cannot be added after start",
                            what);
    if (s == SPATE_CONTEXT_STOPPED)
        return sp_error_set(err, ECANCELED,
                            "%s: the streaming context has already been stopped; new inputs, "
                            "transformations and output operations cannot be added after stop",
                            what);
    return SPATE_OK;
}

void sp_context_add_node(struct spate_context *ctx, struct spate_dstream *ds) {
    ds->id = ctx->nnodes++;
    if (ctx->nodes_tail != NULL)
        ctx->nodes_tail->next_in_ctx = ds;
    else
        ctx->nodes = ds;
    ctx->nodes_tail = ds;
    if (ds->input != NULL) {
        if (ctx->inputs_tail != NULL)
            ctx->inputs_tail->next = ds->input;
        else
            ctx->inputs = ds->input;
        ctx->inputs_tail = ds->input;
        ctx->ninputs++;
    }
}

static spate_status add_output(spate_dstream *ds, struct sp_output *tmpl, const char *what,
                               struct spate_error *err) {
    if (ds == NULL)
        return sp_error_set(err, EINVAL, "%s: the stream is NULL", what);
    SPATE_RETURN_NOT_OK(sp_context_check_definable(ds->ctx, what, err));
    struct sp_output *o = sp_mem_zalloc(SP_MEM_DEFAULT_ARENA, sizeof(*o), 64);
    if (o == NULL)
        return sp_error_set(err, ENOMEM, "%s: out of memory", what);
    *o = *tmpl;
    o->ds = ds;
    o->next = NULL;
    spate_context *ctx = ds->ctx;
    if (ctx->outputs_tail != NULL)
        ctx->outputs_tail->next = o;
    else
        ctx->outputs = o;
    ctx->outputs_tail = o;
    ctx->noutputs++;
    return SPATE_OK;
}

spate_status spate_dstream_print(spate_dstream *ds, uint32_t n, struct spate_error *err) {
    return spate_dstream_print_fd(ds, n, STDOUT_FILENO, err);
}

spate_status spate_dstream_print_fd(spate_dstream *ds, uint32_t n, int fd,
                                    struct spate_error *err) {
    if (fd < 0)
        return sp_error_set(err, EINVAL, "print: bad file descriptor %d", fd);
    struct sp_output t = {.kind = SP_OUT_PRINT, .n = n == 0 ? 10 : n, .fd = fd};
    return add_output(ds, &t, "print", err);
}

spate_status spate_dstream_foreach_batch(spate_dstream *ds, spate_batch_fn fn, void *user,
                                         struct spate_error *err) {
    if (fn == NULL)
        return sp_error_set(err, EINVAL, "foreach_batch: the function is NULL");
    struct sp_output t = {.kind = SP_OUT_FOREACH, .fn = fn, .user = user};
    return add_output(ds, &t, "foreach_batch", err);
}

spate_status spate_dstream_save_as_text_files(spate_dstream *ds, const char *prefix,
                                              const char *suffix, struct spate_error *err) {
    if (prefix == NULL || prefix[0] == '\0')
        return sp_error_set(err, EINVAL, "save_as_text_files: a prefix is needed");
    struct sp_output t;
    memset(&t, 0, sizeof(t));
    t.kind = SP_OUT_TEXT_FILES;
    if (strlen(prefix) >= sizeof(t.prefix) ||
        (suffix != NULL && strlen(suffix) >= sizeof(t.suffix)))
        return sp_error_set(err, EINVAL, "save_as_text_files: prefix or suffix too long");
    memcpy(t.prefix, prefix, strlen(prefix) + 1);
    if (suffix != NULL)
        memcpy(t.suffix, suffix, strlen(suffix) + 1);
    return add_output(ds, &t, "save_as_text_files", err);
}

/* ---- Clock and scheduler ---- */

/* Seal every input at the next batch boundary and queue its job (under mu). */
static spate_status seal_job_locked(spate_context *ctx, int64_t due_ns) {
    size_t bytes = sizeof(struct sp_job) + sizeof(struct sp_cut) * (ctx->ninputs + 1);
    struct sp_job *job = sp_mem_zalloc(SP_MEM_DEFAULT_ARENA, bytes, 64);
    if (job == NULL)
        return ENOMEM;
    job->cuts = (struct sp_cut *)(job + 1);
    job->index = ctx->next_index++;
    job->time_ms = ctx->zero_ms + (int64_t)job->index * ctx->opts.batch_interval_ms;
    job->due_ns = due_ns;
    uint32_t i = 0;
    for (struct sp_input *in = ctx->inputs; in != NULL; in = in->next, i++)
        sp_input_seal(in, &job->cuts[i]);
    if (ctx->jobs_tail != NULL)
        ctx->jobs_tail->next = job;
    else
        ctx->jobs_head = job;
    ctx->jobs_tail = job;
    ctx->queued++;
    pthread_cond_broadcast(&ctx->cv);
    return SPATE_OK;
}

static void free_job(spate_context *ctx, struct sp_job *job) {
    size_t bytes = sizeof(struct sp_job) + sizeof(struct sp_cut) * (ctx->ninputs + 1);
    uint32_t i = 0;
    for (struct sp_input *in = ctx->inputs; in != NULL; in = in->next, i++)
        if (in->kind == SP_INPUT_QUEUE && job->cuts[i].item != in->constant)
            sp_queue_item_free_list(job->cuts[i].item);
    sp_mem_free(SP_MEM_DEFAULT_ARENA, job, bytes);
}

/* Add the records job took to ctx's latency histogram, each range of them dated by its
 * arrival, the batch ending at end_ns; returns the largest latency (us). Under mu. */
static int64_t record_latency(spate_context *ctx, const struct sp_job *job, int64_t end_ns) {
    int64_t max_us = 0;
    uint32_t i = 0;
    for (struct sp_input *in = ctx->inputs; in != NULL; in = in->next, i++) {
        const struct sp_cut *cut = &job->cuts[i];
        uint64_t units = 0;
        for (uint32_t k = 0; k < cut->narrivals; k++)
            units += cut->arrivals[k].units;
        if (units == 0 || cut->records == 0)
            continue;
        /* Records split by units: records (build_sources counts a ring range's lines or
         * fixed-width records, items count their rows), so the shares are exact; should they
         * not be, each share rounds up, giving the older ranges the rounding, and
         * microseconds round up: figures err long. */
        uint64_t left = cut->records;
        for (uint32_t k = 0; k < cut->narrivals; k++) {
            const struct sp_ring_arrival *a = &cut->arrivals[k];
            double share = (double)left * (double)a->units / (double)units;
            uint64_t r = k + 1 == cut->narrivals ? left : (uint64_t)share;
            if ((double)r < share)
                r++;
            if (r > left)
                r = left;
            left -= r;
            units -= a->units;
            int64_t us = (end_ns - a->t_ns + 999) / 1000;
            if (us < 0)
                us = 0;
            sp_latency_add(&ctx->latency, (uint64_t)us, r);
            if (r > 0 && us > max_us)
                max_us = us;
        }
    }
    return max_us;
}

static void *clock_main(void *arg) {
    spate_context *ctx = arg;
    pthread_setname_np(pthread_self(), "spate-clock");
    int64_t interval_ns = ctx->opts.batch_interval_ms * 1000000;
    pthread_mutex_lock(&ctx->mu);
    while (!ctx->stop_clock) {
        int64_t due = ctx->zero_mono_ns + (int64_t)ctx->next_index * interval_ns;
        if (sp_now_ns() < due) {
            struct timespec ts = mono_deadline(due);
            pthread_cond_timedwait(&ctx->clock_cv, &ctx->mu, &ts);
            continue;
        }
        if (seal_job_locked(ctx, due) != SPATE_OK) {
            /* Out of memory for a job header: try again at the next tick. */
            ctx->next_index++;
        }
    }
    pthread_mutex_unlock(&ctx->mu);
    return NULL;
}

static void *sched_main(void *arg) {
    spate_context *ctx = arg;
    pthread_setname_np(pthread_self(), "spate-sched");
    pthread_mutex_lock(&ctx->mu);
    for (;;) {
        while (!ctx->stop_scheduler && ctx->jobs_head == NULL)
            pthread_cond_wait(&ctx->cv, &ctx->mu);
        if (ctx->stop_scheduler)
            break;
        struct sp_job *job = ctx->jobs_head;
        ctx->jobs_head = job->next;
        if (ctx->jobs_head == NULL)
            ctx->jobs_tail = NULL;
        ctx->running_job = true;
        uint64_t behind = 0; /* jobs sealed after this one and waiting: the lag */
        for (struct sp_job *j = ctx->jobs_head; j != NULL; j = j->next)
            behind++;
        pthread_mutex_unlock(&ctx->mu);

        struct spate_batch_info info;
        memset(&info, 0, sizeof(info));
        struct spate_error err;
        err.message[0] = '\0';
        int64_t start = sp_now_ns();
        sp_exec_run_job(ctx->exec, job, &info, &err);
        int64_t end = sp_now_ns();
        info.batch_time_ms = job->time_ms;
        info.batch_index = job->index;
        info.scheduling_delay_us = (start - job->due_ns) / 1000;
        if (info.scheduling_delay_us < 0)
            info.scheduling_delay_us = 0;
        info.processing_time_us = (end - start) / 1000;
        info.lag_batches = behind;
        if (!info.failed) {
            pthread_mutex_lock(&ctx->mu);
            info.latency_max_us = record_latency(ctx, job, end);
            pthread_mutex_unlock(&ctx->mu);
        }
        if (ctx->opts.on_batch != NULL)
            ctx->opts.on_batch(ctx->opts.on_batch_user, &info);
        free_job(ctx, job);

        pthread_mutex_lock(&ctx->mu);
        ctx->running_job = false;
        ctx->completed++;
        ctx->last = info;
        ctx->have_last = true;
        if (info.failed) {
            memcpy(ctx->error, err.message, sizeof(ctx->error));
            ctx->error_pending = true;
        }
        pthread_cond_broadcast(&ctx->cv);
    }
    pthread_mutex_unlock(&ctx->mu);
    return NULL;
}

/* ---- Start ---- */

static void stop_threads_and_inputs(spate_context *ctx);
static spate_status start_locked_out(spate_context *ctx, struct spate_error *err);

spate_status spate_context_start(spate_context *ctx, struct spate_error *err) {
    if (ctx == NULL)
        return sp_error_set(err, EINVAL, "start: the context is NULL");
    pthread_mutex_lock(&ctx->mu);
    enum spate_context_state s = ctx->state;
    pthread_mutex_unlock(&ctx->mu);
    if (s == SPATE_CONTEXT_ACTIVE)
        return SPATE_OK;
    if (s == SPATE_CONTEXT_STOPPED)
        return sp_error_set(err, ECANCELED,
                            "start: the streaming context has been stopped and cannot be "
                            "started again; create a new one");
    pthread_mutex_lock(&ctx->mu);
    if (ctx->starting || ctx->state != SPATE_CONTEXT_INITIALIZED) {
        pthread_mutex_unlock(&ctx->mu);
        return sp_error_set(err, EBUSY, "start: the context is being started or stopped");
    }
    ctx->starting = true; /* a concurrent stop waits until start is done */
    pthread_mutex_unlock(&ctx->mu);
    spate_status rc = start_locked_out(ctx, err);
    pthread_mutex_lock(&ctx->mu);
    ctx->starting = false;
    pthread_cond_broadcast(&ctx->cv);
    pthread_mutex_unlock(&ctx->mu);
    return rc;
}

/* start, between the state checks and the end of starting (ctx->starting is set). */
static spate_status start_locked_out(spate_context *ctx, struct spate_error *err) {
    if (ctx->noutputs == 0) {
        pthread_mutex_lock(&ctx->mu);
        ctx->state = SPATE_CONTEXT_STOPPED;
        pthread_mutex_unlock(&ctx->mu);
        return sp_error_set(err, EINVAL,
                            "start: no output operations registered, so nothing to execute "
                            "(add print or foreach_batch)");
    }
    sp_global_lock();
    if (active_ctx != NULL) {
        sp_global_unlock();
        return sp_error_set(err, EBUSY,
                            "start: another streaming context is active in this process; only "
                            "one may be active at a time (stop it first)");
    }
    if (ctx->engine == NULL || ctx->engine->stopped) {
        sp_global_unlock();
        pthread_mutex_lock(&ctx->mu);
        ctx->state = SPATE_CONTEXT_STOPPED;
        pthread_mutex_unlock(&ctx->mu);
        return sp_error_set(err, ECANCELED, "start: the context's engine has been stopped");
    }
    active_ctx = ctx;
    ctx->engine->bound = ctx;
    sp_global_unlock();

    spate_status rc = sp_exec_create(ctx, &ctx->exec, err);
    for (struct sp_input *in = ctx->inputs; in != NULL && rc == SPATE_OK; in = in->next)
        rc = sp_input_start(in, ctx->name, err);
    if (rc == SPATE_OK) {
        int64_t interval = ctx->opts.batch_interval_ms;
        if (ctx->opts.manual_clock) {
            ctx->zero_ms = ctx->opts.zero_time_ms;
            ctx->zero_mono_ns = sp_now_ns();
        } else {
            struct timespec rt;
            clock_gettime(CLOCK_REALTIME, &rt);
            int64_t now_ms = (int64_t)rt.tv_sec * 1000 + rt.tv_nsec / 1000000;
            int64_t mono = sp_now_ns();
            ctx->zero_ms = now_ms / interval * interval;
            ctx->zero_mono_ns = mono - (now_ms - ctx->zero_ms) * 1000000;
        }
        ctx->next_index = 1;
        int e = pthread_create(&ctx->sched_thread, NULL, sched_main, ctx);
        if (e == 0) {
            ctx->sched_started = true;
            if (!ctx->opts.manual_clock) {
                e = pthread_create(&ctx->clock_thread, NULL, clock_main, ctx);
                if (e == 0)
                    ctx->clock_started = true;
            }
        }
        if (e != 0)
            rc = sp_error_set(err, EAGAIN, "start: cannot start a thread: %s", strerror(e));
    }
    if (rc != SPATE_OK) {
        stop_threads_and_inputs(ctx);
        pthread_mutex_lock(&ctx->mu);
        ctx->state = SPATE_CONTEXT_STOPPED;
        pthread_cond_broadcast(&ctx->cv);
        pthread_mutex_unlock(&ctx->mu);
        sp_global_lock();
        active_ctx = NULL;
        ctx->engine->bound = NULL;
        sp_global_unlock();
        return rc;
    }
    pthread_mutex_lock(&ctx->mu);
    ctx->state = SPATE_CONTEXT_ACTIVE;
    pthread_mutex_unlock(&ctx->mu);
    return SPATE_OK;
}

/* Join the threads, release receivers, queued data and per-worker state. */
static void stop_threads_and_inputs(spate_context *ctx) {
    pthread_mutex_lock(&ctx->mu);
    ctx->stop_clock = true;
    ctx->stop_scheduler = true;
    pthread_cond_broadcast(&ctx->cv);
    pthread_cond_broadcast(&ctx->clock_cv);
    pthread_mutex_unlock(&ctx->mu);
    if (ctx->clock_started)
        pthread_join(ctx->clock_thread, NULL);
    if (ctx->sched_started)
        pthread_join(ctx->sched_thread, NULL);
    ctx->clock_started = ctx->sched_started = false;
    /* Jobs sealed but never run (stop without graceful). */
    while (ctx->jobs_head != NULL) {
        struct sp_job *job = ctx->jobs_head;
        ctx->jobs_head = job->next;
        free_job(ctx, job);
    }
    ctx->jobs_tail = NULL;
    for (struct sp_input *in = ctx->inputs; in != NULL; in = in->next)
        sp_input_destroy(in);
    sp_exec_destroy(ctx->exec);
    ctx->exec = NULL;
}

/* ---- Stop ---- */

bool sp_context_on_own_thread(const struct spate_context *ctx) {
    if (ctx->sched_started && pthread_equal(pthread_self(), ctx->sched_thread))
        return true;
    return ctx->engine != NULL && ctx->engine->pool != NULL &&
           sp_pool_current() == ctx->engine->pool;
}

static void let_go_of_engine(spate_context *ctx, bool stop_engine) {
    sp_global_lock();
    spate_engine *e = ctx->engine;
    if (e == NULL || !(stop_engine || e->destroy_pending)) {
        sp_global_unlock();
        return;
    }
    ctx->engine = NULL;
    /* Another context running on the engine is stopped first: its workers are going. */
    bool can_stop = true;
    while (e->bound != NULL && e->bound != ctx) {
        spate_context *other = e->bound;
        sp_global_unlock();
        spate_status rc = spate_context_stop(other, false, false, NULL);
        sp_global_lock();
        if (rc != SPATE_OK) { /* we run inside its batch: leave the engine to it */
            e->destroy_pending = true;
            can_stop = false;
            break;
        }
    }
    if (can_stop)
        sp_engine_stop_locked(e); /* frees nothing while this context holds a reference */
    sp_engine_unref_locked(e);    /* the last reference of a stopped engine frees it */
    sp_global_unlock();
}

static bool inputs_pending_locked(spate_context *ctx) {
    for (struct sp_input *in = ctx->inputs; in != NULL; in = in->next)
        if (sp_input_pending(in))
            return true;
    return false;
}

/* Graceful: stop receiving, then keep the clock going until all that was received ran. */
static spate_status drain(spate_context *ctx, int64_t timeout_ms) {
    for (struct sp_input *in = ctx->inputs; in != NULL; in = in->next)
        sp_input_stop(in);
    int64_t deadline = deadline_after_ms(timeout_ms);
    spate_status rc = SPATE_OK;
    pthread_mutex_lock(&ctx->mu);
    for (;;) {
        bool pending = inputs_pending_locked(ctx);
        if (!pending && ctx->jobs_head == NULL && !ctx->running_job)
            break;
        if (sp_now_ns() >= deadline) {
            rc = ETIMEDOUT;
            break;
        }
        if (atomic_load(&ctx->force_stop)) {
            rc = ECANCELED;
            break;
        }
        if (ctx->opts.manual_clock && pending && ctx->jobs_head == NULL && !ctx->running_job)
            (void)seal_job_locked(ctx, sp_now_ns()); /* the manual clock moves itself here */
        /* Re-check at least every 10 ms: ring tails move without a signal. */
        int64_t wake = SP_MIN(deadline, sp_now_ns() + 10000000);
        struct timespec ts = mono_deadline(wake);
        pthread_cond_timedwait(&ctx->cv, &ctx->mu, &ts);
    }
    pthread_mutex_unlock(&ctx->mu);
    return rc;
}

spate_status spate_context_stop_opts(spate_context *ctx, const struct spate_stop_opts *opts,
                                     struct spate_error *err) {
    if (ctx == NULL)
        return sp_error_set(err, EINVAL, "stop: the context is NULL");
    struct spate_stop_opts o;
    spate_stop_opts_init(&o);
    if (opts != NULL)
        o = *opts;
    pthread_mutex_lock(&ctx->mu);
    if (sp_context_on_own_thread(ctx)) {
        pthread_mutex_unlock(&ctx->mu);
        return sp_error_set(err, EDEADLK,
                            "stop: called from inside a batch callback; stop the context from "
                            "another thread");
    }
    while (ctx->starting)
        pthread_cond_wait(&ctx->cv, &ctx->mu);
    if (ctx->state == SPATE_CONTEXT_INITIALIZED) {
        ctx->state = SPATE_CONTEXT_STOPPED;
        pthread_cond_broadcast(&ctx->cv);
        pthread_mutex_unlock(&ctx->mu);
        let_go_of_engine(ctx, o.stop_engine);
        return SPATE_OK;
    }
    if (ctx->state == SPATE_CONTEXT_STOPPED || ctx->stopping) {
        while (ctx->state != SPATE_CONTEXT_STOPPED)
            pthread_cond_wait(&ctx->cv, &ctx->mu);
        pthread_mutex_unlock(&ctx->mu);
        let_go_of_engine(ctx, o.stop_engine);
        return SPATE_OK;
    }
    ctx->stopping = true;
    pthread_mutex_unlock(&ctx->mu);

    spate_status rc = SPATE_OK;
    if (o.graceful) {
        rc = drain(ctx, o.graceful_timeout_ms > 0 ? o.graceful_timeout_ms : 0);
        if (rc == ECANCELED)
            sp_error_set(err, ECANCELED,
                         "stop: graceful stop interrupted (a second signal); stopped without "
                         "processing the rest");
        if (rc == ETIMEDOUT)
            sp_error_set(err, ETIMEDOUT,
                         "stop: graceful stop timed out after %" PRId64
                         " ms; stopped without processing the rest",
                         o.graceful_timeout_ms);
    }
    stop_threads_and_inputs(ctx);
    sp_global_lock();
    if (active_ctx == ctx)
        active_ctx = NULL;
    if (ctx->engine != NULL && ctx->engine->bound == ctx)
        ctx->engine->bound = NULL;
    sp_global_unlock();
    pthread_mutex_lock(&ctx->mu);
    ctx->state = SPATE_CONTEXT_STOPPED;
    ctx->stopping = false;
    pthread_cond_broadcast(&ctx->cv);
    pthread_mutex_unlock(&ctx->mu);
    let_go_of_engine(ctx, o.stop_engine);
    return rc;
}

spate_status spate_context_stop(spate_context *ctx, bool stop_engine, bool graceful,
                                struct spate_error *err) {
    struct spate_stop_opts o;
    spate_stop_opts_init(&o);
    o.stop_engine = stop_engine;
    o.graceful = graceful;
    return spate_context_stop_opts(ctx, &o, err);
}

/* ---- Waiting ---- */

static spate_status await_impl(spate_context *ctx, int64_t timeout_ms, bool *stopped,
                               struct spate_error *err) {
    if (ctx == NULL)
        return sp_error_set(err, EINVAL, "await_termination: the context is NULL");
    int64_t deadline = timeout_ms >= 0 ? deadline_after_ms(timeout_ms) : INT64_MAX;
    spate_status rc = SPATE_OK;
    pthread_mutex_lock(&ctx->mu);
    for (;;) {
        if (ctx->error_pending) {
            ctx->error_pending = false;
            rc = sp_error_set(err, EIO, "%s", ctx->error);
            break;
        }
        if (ctx->state == SPATE_CONTEXT_STOPPED)
            break;
        if (ctx->state == SPATE_CONTEXT_INITIALIZED) {
            rc = sp_error_set(err, EINVAL, "await_termination: the context has not been started");
            break;
        }
        if (timeout_ms < 0) {
            pthread_cond_wait(&ctx->cv, &ctx->mu);
        } else {
            if (sp_now_ns() >= deadline)
                break;
            struct timespec ts = mono_deadline(deadline);
            pthread_cond_timedwait(&ctx->cv, &ctx->mu, &ts);
        }
    }
    if (stopped != NULL)
        *stopped = ctx->state == SPATE_CONTEXT_STOPPED;
    pthread_mutex_unlock(&ctx->mu);
    return rc;
}

spate_status spate_context_await_termination(spate_context *ctx, struct spate_error *err) {
    return await_impl(ctx, -1, NULL, err);
}

spate_status spate_context_await_termination_timeout(spate_context *ctx, int64_t timeout_ms,
                                                     bool *stopped, struct spate_error *err) {
    if (timeout_ms < 0)
        return sp_error_set(err, EINVAL, "await_termination: negative timeout");
    return await_impl(ctx, timeout_ms, stopped, err);
}

spate_status spate_context_advance(spate_context *ctx, int64_t intervals, struct spate_error *err) {
    if (ctx == NULL || intervals < 0)
        return sp_error_set(err, EINVAL, "advance: %s",
                            ctx == NULL ? "the context is NULL" : "negative intervals");
    if (!ctx->opts.manual_clock)
        return sp_error_set(err, EINVAL, "advance: the context does not use the manual clock");
    pthread_mutex_lock(&ctx->mu);
    if (sp_context_on_own_thread(ctx)) {
        pthread_mutex_unlock(&ctx->mu);
        return sp_error_set(err, EDEADLK,
                            "advance: called from inside a batch callback, which would wait for "
                            "itself; advance the clock from another thread");
    }
    if (ctx->state != SPATE_CONTEXT_ACTIVE || ctx->stopping) {
        pthread_mutex_unlock(&ctx->mu);
        return sp_error_set(err, ECANCELED, "advance: the context is not active");
    }
    /* One batch at a time: memory stays bounded for any count, and a stop from another
     * thread gets in between batches. */
    spate_status rc = SPATE_OK;
    for (int64_t i = 0; i < intervals && rc == SPATE_OK; i++) {
        if (ctx->state != SPATE_CONTEXT_ACTIVE || ctx->stopping || ctx->stop_scheduler)
            break;
        rc = seal_job_locked(ctx, sp_now_ns());
        uint64_t target = ctx->queued;
        while (ctx->completed < target && ctx->state == SPATE_CONTEXT_ACTIVE &&
               !ctx->stop_scheduler)
            pthread_cond_wait(&ctx->cv, &ctx->mu);
    }
    pthread_mutex_unlock(&ctx->mu);
    if (rc != SPATE_OK)
        return sp_error_set(err, rc, "advance: out of memory");
    return SPATE_OK;
}

const char *spate_context_last_error(spate_context *ctx) {
    if (ctx == NULL)
        return NULL;
    pthread_mutex_lock(&ctx->mu);
    const char *r = NULL;
    if (ctx->error[0] != '\0') {
        memcpy(ctx->error_out, ctx->error, sizeof(ctx->error_out));
        r = ctx->error_out;
    }
    pthread_mutex_unlock(&ctx->mu);
    return r;
}

uint64_t spate_context_batches_completed(const spate_context *ctx) {
    if (ctx == NULL)
        return 0;
    spate_context *c = (spate_context *)(uintptr_t)ctx;
    pthread_mutex_lock(&c->mu);
    uint64_t n = c->completed;
    pthread_mutex_unlock(&c->mu);
    return n;
}

bool spate_context_last_batch(const spate_context *ctx, struct spate_batch_info *out) {
    if (ctx == NULL || out == NULL)
        return false;
    spate_context *c = (spate_context *)(uintptr_t)ctx;
    pthread_mutex_lock(&c->mu);
    bool have = c->have_last;
    if (have)
        *out = c->last;
    pthread_mutex_unlock(&c->mu);
    return have;
}

void spate_context_latency(const spate_context *ctx, struct spate_latency_stats *out) {
    if (out == NULL)
        return;
    memset(out, 0, sizeof(*out));
    if (ctx == NULL)
        return;
    spate_context *c = (spate_context *)(uintptr_t)ctx;
    pthread_mutex_lock(&c->mu);
    const struct sp_latency *h = &c->latency;
    out->records = h->records;
    out->p50_us = (int64_t)sp_latency_quantile(h, 0.50);
    out->p90_us = (int64_t)sp_latency_quantile(h, 0.90);
    out->p99_us = (int64_t)sp_latency_quantile(h, 0.99);
    out->p999_us = (int64_t)sp_latency_quantile(h, 0.999);
    out->max_us = (int64_t)h->max_us;
    pthread_mutex_unlock(&c->mu);
}

void spate_context_latency_reset(spate_context *ctx) {
    if (ctx == NULL)
        return;
    pthread_mutex_lock(&ctx->mu);
    sp_latency_reset(&ctx->latency);
    pthread_mutex_unlock(&ctx->mu);
}

/* ---- Destroy ---- */

static void *reaper_main(void *arg) {
    spate_context_destroy(arg);
    return NULL;
}

void spate_context_destroy(spate_context *ctx) {
    if (ctx == NULL)
        return;
    if (sp_context_on_own_thread(ctx)) {
        /* Inside one of its own batches: the threads cannot be joined from here. A detached
         * thread stops and frees the context once this batch is over. */
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int e = pthread_create(&t, &attr, reaper_main, ctx);
        pthread_attr_destroy(&attr);
        SP_UNUSED(e); /* without a thread the context stays until the process ends */
        return;
    }
    spate_status ignored = spate_context_stop(ctx, false, false, NULL);
    SP_UNUSED(ignored);
    sp_signals_release(ctx);
    sp_global_lock();
    if (ctx->engine != NULL) {
        sp_engine_unref_locked(ctx->engine);
        ctx->engine = NULL;
    }
    sp_global_unlock();
    struct spate_dstream *ds = ctx->nodes;
    while (ds != NULL) {
        struct spate_dstream *next = ds->next_in_ctx;
        if (ds->input != NULL) {
            sp_input_destroy(ds->input);
            pthread_mutex_destroy(&ds->input->mu);
            sp_mem_free(SP_MEM_DEFAULT_ARENA, ds->input, sizeof(*ds->input));
        }
        sp_dstream_free_node(ds);
        sp_mem_free(SP_MEM_DEFAULT_ARENA, ds, sizeof(*ds));
        ds = next;
    }
    struct sp_output *o = ctx->outputs;
    while (o != NULL) {
        struct sp_output *next = o->next;
        sp_mem_free(SP_MEM_DEFAULT_ARENA, o, sizeof(*o));
        o = next;
    }
    pthread_mutex_destroy(&ctx->mu);
    pthread_cond_destroy(&ctx->cv);
    pthread_cond_destroy(&ctx->clock_cv);
    sp_mem_free(SP_MEM_DEFAULT_ARENA, ctx, sizeof(*ctx));
}
