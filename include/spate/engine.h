/*
 * spate/engine.h - the engine: worker threads and memory (Spark's SparkContext).
 *
 * An engine owns W worker threads, each pinned to a core and given its own
 * jemalloc arena, and the kernel table chosen for this CPU. A streaming
 * context is made from an engine; an engine outlives any number of contexts
 * made one after the other.
 */
#ifndef SPATE_ENGINE_H
#define SPATE_ENGINE_H

#include "spate/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct spate_engine spate_engine;

/* Engine configuration; initialise with spate_engine_opts_init(). */
struct spate_engine_opts {
    uint32_t workers; /* worker threads; 0 = all online cores */
    bool pin_workers; /* pin worker i to online core i mod cores (default true) */
    const char *isa;  /* "scalar", "avx2", "avx512" or NULL/"auto"; SPATE_ISA overrides */
    const char *name; /* optional name used in thread names and messages */
};

/*
 * Fill opts with defaults: all cores, pinned, ISA chosen by CPU feature.
 * Ownership: the caller owns opts. Thread safety: any thread.
 */
SPATE_API void spate_engine_opts_init(struct spate_engine_opts *opts);

/*
 * Create an engine: start the worker threads and their arenas.
 *
 * Returns SPATE_OK, or EINVAL (out is NULL, unknown or unsupported ISA),
 * ENOMEM, EAGAIN (a thread could not be started).
 * Ownership: the caller owns *out and frees it with spate_engine_destroy(),
 * or lets spate_context_stop() destroy it. opts may be NULL (defaults).
 */
SPATE_API SPATE_NODISCARD spate_status spate_engine_create(const struct spate_engine_opts *opts,
                                                           spate_engine **out,
                                                           struct spate_error *err);

/*
 * Stop the workers and free the engine. destroy(NULL) does nothing.
 * An engine still used by an active context must not be destroyed; stop the
 * context first. Thread safety: call from the owning thread.
 */
SPATE_API void spate_engine_destroy(spate_engine *engine);

/* Number of worker threads. */
SPATE_API uint32_t spate_engine_workers(const spate_engine *engine);

/* The kernel ISA in use: "scalar", "avx2" or "avx512". Borrowed, static. */
SPATE_API const char *spate_engine_isa(const spate_engine *engine);

/* Memory figures of the engine's arenas, next to the process RSS. */
struct spate_memory_stats {
    uint64_t allocated; /* bytes handed out by spate's arenas */
    uint64_t active;    /* bytes in active pages of spate's arenas */
    uint64_t retained;  /* bytes retained by jemalloc (all arenas) */
    uint64_t rss;       /* resident set size of the process */
};

/*
 * Read the memory figures. Returns SPATE_OK or EINVAL.
 * Ownership: the caller owns out. Thread safety: any thread.
 */
SPATE_API SPATE_NODISCARD spate_status spate_engine_memory(const spate_engine *engine,
                                                           struct spate_memory_stats *out,
                                                           struct spate_error *err);

#ifdef __cplusplus
}
#endif

#endif /* SPATE_ENGINE_H */
