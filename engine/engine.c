/*
 * engine/engine.c - create and destroy engines; error helpers.
 *
 * An engine is the worker pool plus the kernel table chosen for this CPU
 * (overridable with opts.isa or SPATE_ISA). It holds no global state, so a
 * process may create several engines, and one engine serves any number of
 * streaming contexts one after the other.
 */
#include "engine/engine.h"
#include "engine/mem.h"
#include "engine/worker.h"
#include "spate/context.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

/* ---- Errors ---- */

void spate_error_init(struct spate_error *err) {
    if (err != NULL)
        err->message[0] = '\0';
}

spate_status sp_error_set(struct spate_error *err, spate_status code, const char *fmt, ...) {
    if (err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
    }
    return code;
}

spate_status sp_error_copy(struct spate_error *dst, const struct spate_error *src,
                           spate_status code) {
    if (dst != NULL && src != NULL && dst != src)
        memcpy(dst->message, src->message, sizeof(dst->message));
    return code;
}

int64_t sp_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- Engine ---- */

void spate_engine_opts_init(struct spate_engine_opts *opts) {
    if (opts == NULL)
        return;
    memset(opts, 0, sizeof(*opts));
    opts->pin_workers = true;
}

spate_status spate_engine_create(const struct spate_engine_opts *opts, spate_engine **out,
                                 struct spate_error *err) {
    if (out == NULL)
        return sp_error_set(err, EINVAL, "spate_engine_create: out is NULL");
    *out = NULL;
    struct spate_engine_opts defaults;
    if (opts == NULL) {
        spate_engine_opts_init(&defaults);
        opts = &defaults;
    }
    uint32_t workers = opts->workers;
    if (workers == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        workers = n > 0 ? (uint32_t)n : 1;
    }
    if (workers > 1024)
        return sp_error_set(err, EINVAL, "spate_engine_create: %u workers is more than 1024",
                            workers);
    /* SPATE_ISA in the environment wins over the option, so that a user can
     * force a variant on any program without recompiling it. */
    const char *isa = getenv("SPATE_ISA");
    if (isa == NULL || isa[0] == '\0')
        isa = opts->isa;
    const struct sp_kernels *kernels = sp_kernels_select(isa);
    if (kernels == NULL)
        return sp_error_set(err, EINVAL,
                            "spate_engine_create: ISA '%s' is unknown, not built in, or not "
                            "supported by this CPU (use scalar, avx2, avx512 or auto)",
                            isa);
    spate_engine *e = sp_mem_zalloc(SP_MEM_DEFAULT_ARENA, sizeof(*e), SP_CACHE_LINE);
    if (e == NULL)
        return sp_error_set(err, ENOMEM, "spate_engine_create: out of memory");
    e->kernels = kernels;
    e->workers = workers;
    e->pinned = opts->pin_workers;
    snprintf(e->name, sizeof(e->name), "%s", opts->name != NULL ? opts->name : "spate");
    spate_status rc = sp_pool_create(workers, opts->pin_workers, &e->pool, err);
    if (rc != SPATE_OK) {
        sp_mem_free(SP_MEM_DEFAULT_ARENA, e, sizeof(*e));
        return rc;
    }
    *out = e;
    return SPATE_OK;
}

/* ---- References: contexts hold their engine until they let go of it ---- */

static pthread_mutex_t global_mu = PTHREAD_MUTEX_INITIALIZER;

void sp_global_lock(void) {
    pthread_mutex_lock(&global_mu);
}

void sp_global_unlock(void) {
    pthread_mutex_unlock(&global_mu);
}

void sp_engine_ref_locked(spate_engine *e) {
    e->refs++;
}

static void engine_free(spate_engine *e) {
    sp_mem_free(SP_MEM_DEFAULT_ARENA, e, sizeof(*e));
}

void sp_engine_unref_locked(spate_engine *e) {
    if (SPATE_NEVER(e->refs == 0))
        return;
    if (--e->refs == 0 && e->stopped)
        engine_free(e);
}

void sp_engine_stop_locked(spate_engine *e) {
    if (!e->stopped) {
        sp_pool_destroy(e->pool);
        e->pool = NULL;
        e->stopped = true;
    }
    if (e->refs == 0)
        engine_free(e);
}

void spate_engine_destroy(spate_engine *engine) {
    if (engine == NULL)
        return;
    sp_global_lock();
    /* Misuse guard: an ACTIVE context on this engine is stopped first. From inside one of
     * its batches that cannot be done: the engine goes when that context stops. */
    while (engine->bound != NULL) {
        spate_context *ctx = engine->bound;
        if (sp_context_on_own_thread(ctx)) {
            engine->destroy_pending = true;
            sp_global_unlock();
            return;
        }
        sp_global_unlock();
        spate_status ignored = spate_context_stop(ctx, false, false, NULL);
        SP_UNUSED(ignored);
        sp_global_lock();
    }
    /* A context still holding the engine keeps its memory until it lets go;
     * its start then fails (ECANCELED) instead of touching freed memory. */
    sp_engine_stop_locked(engine);
    sp_global_unlock();
}

uint32_t spate_engine_workers(const spate_engine *engine) {
    return engine != NULL ? engine->workers : 0;
}

const char *spate_engine_isa(const spate_engine *engine) {
    return engine != NULL ? engine->kernels->isa : "none";
}

spate_status spate_engine_memory(const spate_engine *engine, struct spate_memory_stats *out,
                                 struct spate_error *err) {
    if (engine == NULL || out == NULL)
        return sp_error_set(err, EINVAL, "spate_engine_memory: engine or out is NULL");
    out->allocated = sp_mem_allocated();
    sp_mem_jemalloc_stats(&out->active, &out->retained);
    out->rss = sp_mem_rss();
    return SPATE_OK;
}
