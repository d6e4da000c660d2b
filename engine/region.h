/*
 * engine/region.h - per-batch bump allocator, released in bulk.
 *
 * One region per worker (and one for the scheduler thread) per context: not
 * thread-safe, by design. Everything a batch materializes lives in regions
 * and is released when the batch's outputs are done; the first block is kept
 * across batches so a steady stream does not touch the allocator.
 */
#ifndef SP_REGION_H
#define SP_REGION_H

#include "engine/common.h"

struct sp_region_block;

struct sp_region {
    unsigned arena;               /* jemalloc arena the blocks come from */
    size_t block_size;            /* default block size */
    struct sp_region_block *head; /* current block (newest first) */
    char *cur;                    /* next free byte in head */
    char *end;                    /* end of head */
    uint64_t used;                /* bytes handed out since the last reset */
};

void sp_region_init(struct sp_region *r, unsigned arena, size_t block_size);
/* size bytes aligned to align (power of two <= 4096). NULL on ENOMEM. */
void *sp_region_alloc(struct sp_region *r, size_t size, size_t align);
/* Release everything but the first block. */
void sp_region_reset(struct sp_region *r);
/* Release everything. */
void sp_region_destroy(struct sp_region *r);

#endif /* SP_REGION_H */
