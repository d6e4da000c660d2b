/*
 * engine/worker.c - pinned worker threads running parallel-for jobs.
 *
 * Invariants: a job is published under the mutex with a new generation
 * number; each worker claims tasks with an atomic fetch-add until the counter
 * passes n, then checks out of the generation under the mutex; the caller
 * returns only when every worker has checked out, so no worker can confuse
 * the counters of two jobs. Workers sleep on a condition variable between jobs, so an idle
 * engine costs nothing.
 */
#include "engine/worker.h"
#include "engine/mem.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>

struct sp_worker {
    struct sp_pool *pool;
    pthread_t thread;
    uint32_t index;
    unsigned arena; /* this worker's jemalloc arena */
    int cpu;        /* pinned core, -1 when not pinned */
};

struct sp_pool {
    uint32_t nworkers; /* threads started */
    struct sp_worker *workers;
    size_t workers_bytes; /* size of the workers array */
    pthread_mutex_t mu;
    pthread_cond_t work_cv; /* workers wait for a new generation */
    pthread_cond_t done_cv; /* the caller waits for the job to finish */
    uint64_t generation;    /* bumped for every job (under mu) */
    bool stopping;          /* under mu */
    /* The current job. */
    sp_task_fn fn;
    void *arg;
    uint32_t ntasks;
    _Atomic uint32_t next_task; /* next task to claim */
    uint32_t checked_out;       /* workers done with this generation (under mu) */
};

static void run_tasks(struct sp_pool *pool, struct sp_worker *w) {
    for (;;) {
        uint32_t t = atomic_fetch_add_explicit(&pool->next_task, 1, memory_order_relaxed);
        if (t >= pool->ntasks)
            return;
        pool->fn(pool->arg, t, w->index);
    }
}

static _Thread_local const struct sp_pool *current_pool; /* set on worker threads */

const struct sp_pool *sp_pool_current(void) {
    return current_pool;
}

static void *worker_main(void *p) {
    struct sp_worker *w = p;
    struct sp_pool *pool = w->pool;
    current_pool = pool;
    char name[16];
    snprintf(name, sizeof(name), "spate-w%u", w->index);
    pthread_setname_np(pthread_self(), name);
    uint64_t seen = 0;
    pthread_mutex_lock(&pool->mu);
    for (;;) {
        while (!pool->stopping && pool->generation == seen)
            pthread_cond_wait(&pool->work_cv, &pool->mu);
        if (pool->stopping)
            break;
        seen = pool->generation;
        pthread_mutex_unlock(&pool->mu);
        run_tasks(pool, w);
        pthread_mutex_lock(&pool->mu);
        if (++pool->checked_out == pool->nworkers)
            pthread_cond_signal(&pool->done_cv);
    }
    pthread_mutex_unlock(&pool->mu);
    return NULL;
}

/* The i-th core this process may run on, or -1. */
static int nth_allowed_cpu(uint32_t i) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) != 0)
        return -1;
    int count = CPU_COUNT(&set);
    if (count <= 0)
        return -1;
    int want = (int)(i % (uint32_t)count);
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (CPU_ISSET(cpu, &set) && want-- == 0)
            return cpu;
    }
    return -1;
}

spate_status sp_pool_create(uint32_t workers, bool pin, struct sp_pool **out,
                            struct spate_error *err) {
    *out = NULL;
    struct sp_pool *pool = sp_mem_zalloc(SP_MEM_DEFAULT_ARENA, sizeof(*pool), SP_CACHE_LINE);
    if (pool == NULL)
        return sp_error_set(err, ENOMEM, "out of memory creating the worker pool");
    pool->workers_bytes = sizeof(struct sp_worker) * workers;
    pool->workers = sp_mem_zalloc(SP_MEM_DEFAULT_ARENA, pool->workers_bytes, SP_CACHE_LINE);
    if (pool->workers == NULL) {
        sp_mem_free(SP_MEM_DEFAULT_ARENA, pool, sizeof(*pool));
        return sp_error_set(err, ENOMEM, "out of memory creating the worker pool");
    }
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->work_cv, NULL);
    pthread_cond_init(&pool->done_cv, NULL);
    spate_status rc = SPATE_OK;
    for (uint32_t i = 0; i < workers; i++) {
        struct sp_worker *w = &pool->workers[i];
        w->pool = pool;
        w->index = i;
        w->arena = sp_mem_arena_create();
        w->cpu = pin ? nth_allowed_cpu(i) : -1;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        if (w->cpu >= 0) {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET(w->cpu, &set);
            /* Pinning is best effort: a restricted cgroup may refuse it. */
            (void)pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
        }
        int e = pthread_create(&w->thread, &attr, worker_main, w);
        pthread_attr_destroy(&attr);
        if (e != 0) {
            sp_mem_arena_destroy(w->arena);
            rc = sp_error_set(err, EAGAIN, "cannot start worker thread %u: %s", i, strerror(e));
            break;
        }
        pool->nworkers = i + 1;
    }
    if (rc != SPATE_OK) {
        sp_pool_destroy(pool);
        return rc;
    }
    *out = pool;
    return SPATE_OK;
}

void sp_pool_destroy(struct sp_pool *pool) {
    if (pool == NULL)
        return;
    pthread_mutex_lock(&pool->mu);
    pool->stopping = true;
    pthread_cond_broadcast(&pool->work_cv);
    pthread_mutex_unlock(&pool->mu);
    for (uint32_t i = 0; i < pool->nworkers; i++) {
        pthread_join(pool->workers[i].thread, NULL);
        sp_mem_arena_destroy(pool->workers[i].arena);
    }
    pthread_mutex_destroy(&pool->mu);
    pthread_cond_destroy(&pool->work_cv);
    pthread_cond_destroy(&pool->done_cv);
    sp_mem_free(SP_MEM_DEFAULT_ARENA, pool->workers, pool->workers_bytes);
    sp_mem_free(SP_MEM_DEFAULT_ARENA, pool, sizeof(*pool));
}

uint32_t sp_pool_workers(const struct sp_pool *pool) {
    return pool->nworkers;
}

unsigned sp_pool_arena(const struct sp_pool *pool, uint32_t w) {
    return pool->workers[w].arena;
}

void sp_pool_run(struct sp_pool *pool, uint32_t n, sp_task_fn fn, void *arg) {
    if (n == 0)
        return;
    pthread_mutex_lock(&pool->mu);
    pool->fn = fn;
    pool->arg = arg;
    pool->ntasks = n;
    atomic_store_explicit(&pool->next_task, 0, memory_order_relaxed);
    pool->checked_out = 0;
    pool->generation++;
    pthread_cond_broadcast(&pool->work_cv);
    /* Every worker takes part in every generation and checks out under mu, so
     * no worker can still touch this job when the next one is published. */
    while (pool->checked_out < pool->nworkers)
        pthread_cond_wait(&pool->done_cv, &pool->mu);
    pthread_mutex_unlock(&pool->mu);
}
