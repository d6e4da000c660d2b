/*
 * engine/state.c - lifetime of update_state_by_key's tables.
 *
 * Invariant: table[cur] of a part is the state after the last batch that
 * completed; the other buffer is scratch for the next batch.
 */
#include "engine/state.h"
#include "engine/mem.h"

struct sp_state *sp_state_create(void) {
    struct sp_state *st = sp_mem_zalloc(SP_MEM_DEFAULT_ARENA, sizeof(*st), 64);
    if (st == NULL)
        return NULL;
    for (uint32_t r = 0; r < SP_AGG_RADIX; r++)
        for (int b = 0; b < 2; b++)
            sp_region_init(&st->parts[r].region[b], SP_MEM_DEFAULT_ARENA, 256 << 10);
    return st;
}

void sp_state_clear(struct sp_state *st) {
    for (uint32_t r = 0; r < SP_AGG_RADIX; r++) {
        for (int b = 0; b < 2; b++) {
            sp_region_destroy(&st->parts[r].region[b]);
            st->parts[r].ready[b] = false;
        }
    }
}

void sp_state_destroy(struct sp_state *st) {
    if (st == NULL)
        return;
    sp_state_clear(st);
    sp_mem_free(SP_MEM_DEFAULT_ARENA, st, sizeof(*st));
}
