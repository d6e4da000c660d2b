/*
 * engine/state.c - lifetime of update_state_by_key's tables.
 *
 * Invariant: table[cur] of a part is the state after the last batch that
 * completed; the other buffer is scratch for the next batch.
 */
#include "engine/state.h"
#include "engine/mem.h"

#include <errno.h>

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

/* ---- The State handle of map_with_state ---- */

bool spate_keyed_state_exists(const spate_keyed_state *state) {
    return state != NULL && !state->removed && (state->exists || state->updated);
}

int64_t spate_keyed_state_get(const spate_keyed_state *state) {
    return spate_keyed_state_exists(state) ? state->value : 0;
}

bool spate_keyed_state_is_timing_out(const spate_keyed_state *state) {
    return state != NULL && state->timing_out;
}

spate_status spate_keyed_state_update(spate_keyed_state *state, int64_t value,
                                      struct spate_error *err) {
    if (state == NULL)
        return sp_error_set(err, EINVAL, "state update: the state is NULL");
    if (state->timing_out)
        return sp_error_set(err, EINVAL,
                            "state update: the state is timing out and cannot be "
                            "updated");
    if (state->removed)
        return sp_error_set(err, EINVAL, "state update: the state was removed in this call");
    state->value = value;
    state->updated = true;
    return SPATE_OK;
}

spate_status spate_keyed_state_remove(spate_keyed_state *state, struct spate_error *err) {
    if (state == NULL)
        return sp_error_set(err, EINVAL, "state remove: the state is NULL");
    if (state->timing_out)
        return sp_error_set(err, EINVAL,
                            "state remove: the state is timing out and cannot be "
                            "removed");
    if (state->removed)
        return sp_error_set(err, EINVAL, "state remove: the state was already removed");
    state->removed = true;
    return SPATE_OK;
}
