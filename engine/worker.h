/*
 * engine/worker.h - the engine's pool of pinned worker threads.
 *
 * The pool runs one parallel-for at a time: sp_pool_run(pool, n, fn, arg)
 * calls fn(arg, task, worker) for every task in [0, n) on the workers and
 * returns when all are done. Tasks are claimed from an atomic counter, so a
 * slow task does not hold back the others. Only one thread (the context's
 * scheduler) calls sp_pool_run at a time.
 */
#ifndef SP_WORKER_H
#define SP_WORKER_H

#include "engine/common.h"

struct sp_pool;

typedef void (*sp_task_fn)(void *arg, uint32_t task, uint32_t worker);

/* Start workers threads, pinned when pin is set. Returns 0 or an errno (message in err). */
spate_status sp_pool_create(uint32_t workers, bool pin, struct sp_pool **out,
                            struct spate_error *err);
/* Stop and join the workers, destroy their arenas. NULL: nothing. */
void sp_pool_destroy(struct sp_pool *pool);
uint32_t sp_pool_workers(const struct sp_pool *pool);
/* The jemalloc arena of worker w (0 when arenas are not available). */
unsigned sp_pool_arena(const struct sp_pool *pool, uint32_t w);
/* The pool whose worker thread calls this, or NULL on any other thread. */
const struct sp_pool *sp_pool_current(void);

/* Run fn over tasks [0, n) and wait. n == 0 returns at once. */
void sp_pool_run(struct sp_pool *pool, uint32_t n, sp_task_fn fn, void *arg);

#endif /* SP_WORKER_H */
