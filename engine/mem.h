/*
 * engine/mem.h - the one allocation choke point.
 *
 * Built on jemalloc's mallocx/sdallocx with explicit arenas (one per worker,
 * created with arenas.create), or on aligned_alloc/free when built with
 * SPATE_ALLOCATOR=libc (sanitizer builds). Every block is aligned to at least
 * 64 bytes. Failure returns NULL; nothing aborts.
 */
#ifndef SP_MEM_H
#define SP_MEM_H

#include "engine/common.h"

#define SP_MEM_DEFAULT_ARENA 0u /* jemalloc's arena for the calling thread */
#define SP_CACHE_LINE 64

/* Allocate size bytes aligned to align (power of two, raised to 64) in arena
 * (an index from sp_mem_arena_create, or SP_MEM_DEFAULT_ARENA). NULL on failure. */
void *sp_mem_alloc(unsigned arena, size_t size, size_t align);
/* As sp_mem_alloc, zero-filled. */
void *sp_mem_zalloc(unsigned arena, size_t size, size_t align);
/* Free a block of size bytes from sp_mem_alloc. NULL: nothing. */
void sp_mem_free(unsigned arena, void *p, size_t size);

/* Create an arena with spate's decay settings; 0 = failure (or libc build: no arenas). */
unsigned sp_mem_arena_create(void);
/* Destroy an arena made by sp_mem_arena_create (all its blocks must be freed). */
void sp_mem_arena_destroy(unsigned arena);

/* Bytes currently allocated through sp_mem. */
uint64_t sp_mem_allocated(void);
/* jemalloc's active and retained bytes (0 for libc). */
void sp_mem_jemalloc_stats(uint64_t *active, uint64_t *retained);
/* Resident set size of the process in bytes. */
uint64_t sp_mem_rss(void);

#ifdef SPATE_FAULT_INJECTION
/* Make the n-th allocation from now (0 = the next) and every later one fail; -1 turns it off. */
void sp_mem_fail_after(long n);
#endif

#endif /* SP_MEM_H */
