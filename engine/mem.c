/*
 * engine/mem.c - allocation through jemalloc arenas (or libc for sanitizers).
 *
 * Invariants: every block is at least 64-byte aligned, and the size passed to
 * sp_mem_free is the size that was asked for (sdallocx needs it). The
 * allocated-bytes counter is a relaxed atomic: blocks here are large
 * (regions, tables, chunks of queues), so the counter is off the hot path.
 */
#define SP_MEM_IMPL 1 /* the one file allowed to reach the allocators */
#include "engine/mem.h"

#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#ifdef SPATE_USE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

static _Atomic uint64_t allocated_bytes;

#ifdef SPATE_FAULT_INJECTION
static _Atomic long fail_countdown = -1;

void sp_mem_fail_after(long n) {
    atomic_store(&fail_countdown, n);
}

static bool should_fail(void) {
    long cur = atomic_load(&fail_countdown);
    while (cur >= 0) {
        if (cur == 0)
            return true;
        if (atomic_compare_exchange_weak(&fail_countdown, &cur, cur - 1))
            return false;
    }
    return false;
}
#else
static bool should_fail(void) {
    return false;
}
#endif

static size_t fix_align(size_t align) {
    return align < SP_CACHE_LINE ? SP_CACHE_LINE : align;
}

void *sp_mem_alloc(unsigned arena, size_t size, size_t align) {
    if (size == 0)
        size = 1;
    if (should_fail())
        return NULL;
    align = fix_align(align);
    void *p;
#ifdef SPATE_USE_JEMALLOC
    int flags = MALLOCX_ALIGN(align);
    if (arena != SP_MEM_DEFAULT_ARENA)
        flags |= MALLOCX_ARENA(arena) | MALLOCX_TCACHE_NONE; /* arenas can then be destroyed */
    p = mallocx(size, flags);
#else
    SP_UNUSED(arena);
    if (posix_memalign(&p, align, (size + align - 1) / align * align) != 0)
        p = NULL;
#endif
    if (p != NULL)
        atomic_fetch_add_explicit(&allocated_bytes, size, memory_order_relaxed);
    return p;
}

void *sp_mem_zalloc(unsigned arena, size_t size, size_t align) {
    void *p = sp_mem_alloc(arena, size, align);
    if (p != NULL)
        memset(p, 0, size);
    return p;
}

void sp_mem_free(unsigned arena, void *p, size_t size) {
    if (p == NULL)
        return;
    if (size == 0)
        size = 1;
    atomic_fetch_sub_explicit(&allocated_bytes, size, memory_order_relaxed);
#ifdef SPATE_USE_JEMALLOC
    SP_UNUSED(arena);
    /* The alignment is part of the size class: pass it back to sdallocx. */
    sdallocx(p, size, MALLOCX_ALIGN(SP_CACHE_LINE) | MALLOCX_TCACHE_NONE);
#else
    SP_UNUSED(arena);
    free(p);
#endif
}

unsigned sp_mem_arena_create(void) {
#ifdef SPATE_USE_JEMALLOC
    unsigned arena = 0;
    size_t len = sizeof(arena);
    if (mallctl("arenas.create", &arena, &len, NULL, 0) != 0)
        return 0;
    /* Give memory back to the OS within a second of a burst (DESIGN: bounded memory). */
    char name[64];
    ssize_t decay_ms = 1000;
    snprintf(name, sizeof(name), "arena.%u.dirty_decay_ms", arena);
    (void)mallctl(name, NULL, NULL, &decay_ms, sizeof(decay_ms));
    snprintf(name, sizeof(name), "arena.%u.muzzy_decay_ms", arena);
    (void)mallctl(name, NULL, NULL, &decay_ms, sizeof(decay_ms));
    return arena;
#else
    return 0;
#endif
}

void sp_mem_arena_destroy(unsigned arena) {
#ifdef SPATE_USE_JEMALLOC
    if (arena == 0)
        return;
    char name[64];
    /* Flush the thread caches' hold on this arena, then destroy it. */
    (void)mallctl("thread.tcache.flush", NULL, NULL, NULL, 0);
    snprintf(name, sizeof(name), "arena.%u.destroy", arena);
    (void)mallctl(name, NULL, NULL, NULL, 0);
#else
    SP_UNUSED(arena);
#endif
}

uint64_t sp_mem_allocated(void) {
    return atomic_load_explicit(&allocated_bytes, memory_order_relaxed);
}

void sp_mem_jemalloc_stats(uint64_t *active, uint64_t *retained) {
    *active = 0;
    *retained = 0;
#ifdef SPATE_USE_JEMALLOC
    uint64_t epoch = 1;
    size_t len = sizeof(epoch);
    (void)mallctl("epoch", &epoch, &len, &epoch, len);
    size_t v = 0;
    len = sizeof(v);
    if (mallctl("stats.active", &v, &len, NULL, 0) == 0)
        *active = v;
    len = sizeof(v);
    if (mallctl("stats.retained", &v, &len, NULL, 0) == 0)
        *retained = v;
#endif
}

uint64_t sp_mem_rss(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL)
        return 0;
    unsigned long size = 0, resident = 0;
    int n = fscanf(f, "%lu %lu", &size, &resident);
    fclose(f);
    if (n != 2)
        return 0;
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}
