/*
 * engine/engine.h - the engine object (Spark's SparkContext) inside.
 */
#ifndef SP_ENGINE_H
#define SP_ENGINE_H

#include "spate/engine.h"
#include "engine/common.h"
#include "kernels/kernels.h"

struct sp_pool;
struct spate_context;

struct spate_engine {
    struct sp_pool *pool;             /* pinned workers, one arena each */
    const struct sp_kernels *kernels; /* chosen once at create */
    uint32_t workers;
    bool pinned;
    struct spate_context *bound; /* context currently using the engine (ACTIVE), or NULL */
    uint32_t refs;               /* contexts made from it that still hold it */
    bool stopped;                /* workers gone: destroyed by the user or by a stop */
    bool destroy_pending;        /* destroyed from a callback of its context: done at its stop */
    char name[32];
};

/* The lock over engine references and the process's one ACTIVE context. */
void sp_global_lock(void);
void sp_global_unlock(void);
/* A context takes / drops a reference (under the global lock). */
void sp_engine_ref_locked(spate_engine *e);
void sp_engine_unref_locked(spate_engine *e);
/* Whether the calling thread runs a batch of ctx (its scheduler or a worker of its engine). */
bool sp_context_on_own_thread(const struct spate_context *ctx);

/* Stop the workers of e and free it once no context holds it (under the global lock). */
void sp_engine_stop_locked(spate_engine *e);

#endif /* SP_ENGINE_H */
