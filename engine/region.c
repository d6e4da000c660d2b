/*
 * engine/region.c - bump allocation over a list of blocks from sp_mem.
 *
 * Invariant: cur/end always describe the free tail of the newest block;
 * blocks are freed only by reset (all but the oldest standard block) and
 * destroy. Allocations larger than a quarter block get a block of their own
 * so a big table does not waste the rest of a standard block.
 */
#include "engine/region.h"
#include "engine/mem.h"

struct sp_region_block {
    struct sp_region_block *next; /* older block */
    size_t size;                  /* whole block, header included */
};

#define BLOCK_HEADER 64 /* keeps the payload 64-byte aligned */

void sp_region_init(struct sp_region *r, unsigned arena, size_t block_size) {
    memset(r, 0, sizeof(*r));
    r->arena = arena;
    r->block_size = block_size;
}

static struct sp_region_block *new_block(struct sp_region *r, size_t size) {
    struct sp_region_block *b = sp_mem_alloc(r->arena, size, SP_CACHE_LINE);
    if (b == NULL)
        return NULL;
    b->size = size;
    return b;
}

static uintptr_t align_up(uintptr_t p, size_t align) {
    return (p + align - 1) & ~(uintptr_t)(align - 1);
}

void *sp_region_alloc(struct sp_region *r, size_t size, size_t align) {
    if (align < 8)
        align = 8;
    uintptr_t p = align_up((uintptr_t)r->cur, align);
    if (r->cur != NULL && p + size <= (uintptr_t)r->end) {
        r->cur = (char *)(p + size);
        r->used += size;
        return (void *)p;
    }
    size_t need = size + align + BLOCK_HEADER;
    if (need > r->block_size / 4) {
        /* Big: a block of its own, linked behind the current one so that
         * the current block's free tail stays usable. */
        struct sp_region_block *b = new_block(r, need);
        if (b == NULL)
            return NULL;
        if (r->head == NULL) {
            b->next = NULL;
            r->head = b;
            r->cur = (char *)b + need;
            r->end = r->cur;
        } else {
            b->next = r->head->next;
            r->head->next = b;
        }
        r->used += size;
        return (void *)align_up((uintptr_t)b + BLOCK_HEADER, align);
    }
    struct sp_region_block *b = new_block(r, r->block_size);
    if (b == NULL)
        return NULL;
    b->next = r->head;
    r->head = b;
    r->cur = (char *)b + BLOCK_HEADER;
    r->end = (char *)b + r->block_size;
    p = align_up((uintptr_t)r->cur, align);
    r->cur = (char *)(p + size);
    r->used += size;
    return (void *)p;
}

void sp_region_reset(struct sp_region *r) {
    /* Keep the oldest block if it is a standard one; free the rest. */
    struct sp_region_block *b = r->head, *keep = NULL;
    while (b != NULL) {
        struct sp_region_block *next = b->next;
        if (next == NULL && b->size == r->block_size)
            keep = b;
        else
            sp_mem_free(r->arena, b, b->size);
        b = next;
    }
    r->head = keep;
    r->used = 0;
    if (keep != NULL) {
        keep->next = NULL;
        r->cur = (char *)keep + BLOCK_HEADER;
        r->end = (char *)keep + keep->size;
    } else {
        r->cur = r->end = NULL;
    }
}

void sp_region_destroy(struct sp_region *r) {
    struct sp_region_block *b = r->head;
    while (b != NULL) {
        struct sp_region_block *next = b->next;
        sp_mem_free(r->arena, b, b->size);
        b = next;
    }
    r->head = NULL;
    r->cur = r->end = NULL;
    r->used = 0;
}
