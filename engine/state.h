/*
 * engine/state.h - per-key state of update_state_by_key across batches.
 *
 * One table per radix partition, double-buffered: batch k builds its state
 * table into buffer k % 2 from the table of batch k-1 and the new values, so
 * removed keys simply are not copied and nothing needs deleting from an
 * open-addressing table. The buffer written at batch k was last read by
 * batch k-1's outputs, which are done, so resetting it is safe. Keys are
 * copied into the buffer's region; the state's memory is O(live keys).
 */
#ifndef SP_STATE_H
#define SP_STATE_H

#include "engine/agg.h"

struct sp_state_part {
    struct sp_region region[2];
    struct sp_agg_table table[2];
    bool ready[2];
    uint32_t cur; /* buffer holding the latest state */
};

struct sp_state {
    struct sp_state_part parts[SP_AGG_RADIX];
};

/* What a map_with_state function sees and does for one call (spate_keyed_state). */
struct spate_keyed_state {
    bool exists;     /* the key had state before the call */
    bool timing_out; /* the last call for a key idle past the timeout */
    bool updated;    /* update() was called: value is the new state */
    bool removed;    /* remove() was called */
    int64_t value;
};

/* Entry flag of map_with_state tables (in sp_agg_entry.pad_): the key has no state. */
#define SP_STATE_DEAD 1u

/* NULL on ENOMEM. */
struct sp_state *sp_state_create(void);
void sp_state_destroy(struct sp_state *st);
/* Forget every key (after a failed batch left the state half built). */
void sp_state_clear(struct sp_state *st);

#endif /* SP_STATE_H */
