/*
 * engine/window.h - state of reduce_by_key_and_window across batches.
 *
 * A window keeps its last npanes panes (each the reduce_by_key result of
 * one parent batch), split by radix partition exactly as the per-batch
 * aggregation splits them, so that stage 2 task r touches only partition r
 * of every pane. Pane keys and values are deep copies in the pane's own
 * region, freed when the pane leaves the window. With an inverse function a
 * running table per radix partition holds the window's current value per
 * key; its keys are copied into its own region and are never removed (Spark
 * keeps keys whose value went back to the identity). Built-in aggregates
 * combine a pane into a table in two passes (engine/exec.c, win_fold): the
 * keys are looked up a block at a time, then a pane kernel
 * (kernels/window/pane.h) combines the values by entry index.
 */
#ifndef SP_WINDOW_H
#define SP_WINDOW_H

#include "engine/agg.h"
#include "engine/batch.h"

struct sp_pane_part {
    struct sp_region region; /* keys, values, hashes and long key bytes */
    uint32_t n;
    void *keys;       /* struct spate_string[n] or int64_t[n] */
    int64_t *vals;    /* value bits (i64 or f64) */
    uint64_t *hashes; /* XXH3 of each key */
    int64_t *cnts;    /* AVG: the count behind each sum in vals (pane column 2), else NULL */
};

struct sp_running {
    struct sp_region region; /* the table's arrays and its keys' bytes */
    struct sp_agg_table table;
    bool ready;
};

/*
 * Without an inverse a window is a two-stacks queue of panes: the back is a
 * running table of the panes added since the last flip (running[r]); the
 * front holds, for each of the oldest front_n panes, the aggregate of that
 * pane and every newer front pane (suffix[slot]). A window is the oldest
 * front suffix combined with the back, so a slide costs O(keys in the window)
 * however many panes it spans; when the oldest pane must leave and the front
 * is empty, the back's panes become the front (their suffixes built newest
 * first), O(panes x keys) once every npanes slides. Suffix tables point at
 * their panes' key bytes: a pane leaves the window no earlier than any
 * suffix that holds its keys. An empty pane's suffix is an alias of the
 * newer one. When keys turn over from pane to pane the suffixes would hold
 * O(panes x window keys); past four times the panes' keys a partition drops
 * them and merges its panes at each slide until the next flip.
 */
struct sp_suffix {
    struct sp_region region;
    struct sp_agg_table table;
    const struct sp_suffix *alias; /* an empty pane's: the newer suffix it equals */
    bool ready;
};

struct sp_window_state {
    uint32_t npanes;
    uint64_t *pane_batch;       /* batch index held by each slot; 0 = empty */
    struct sp_pane_part *parts; /* [slot * SP_AGG_RADIX + r] */
    struct sp_running running[SP_AGG_RADIX];
    struct sp_suffix *suffix;      /* [slot * SP_AGG_RADIX + r]: two-stacks front (no inverse) */
    uint32_t front_n;              /* panes in the front stack */
    bool merge_only[SP_AGG_RADIX]; /* partition r's suffixes outgrew their panes: merge instead */
    uint64_t last_k;               /* batch index of the newest pane; 0 = none */
};

/* Free the suffix aggregate of slot in partition r. */
void sp_window_clear_suffix(struct sp_window_state *st, uint32_t slot, uint32_t r);
/* Empty every pane, suffix and running table (after a failed batch). */
void sp_window_reset(struct sp_window_state *st);

/* State for a window of npanes panes. NULL on ENOMEM. */
struct sp_window_state *sp_window_create(uint32_t npanes);
void sp_window_destroy(struct sp_window_state *st);

/* Free what slot holds in partition r. */
void sp_window_clear_part(struct sp_window_state *st, uint32_t slot, uint32_t r);

/*
 * Deep-copy the rows of part (chunks of (key, value)) into slot's partition r
 * and hash their keys with hash_str/hash_i64. Returns SPATE_OK or ENOMEM.
 */
spate_status
sp_window_store_part(struct sp_window_state *st, uint32_t slot, uint32_t r,
                     const struct sp_part *part, bool key_is_string, bool with_count,
                     void (*hash_str)(const struct spate_string *restrict, const uint16_t *restrict,
                                      uint32_t, uint64_t *restrict),
                     void (*hash_i64)(const int64_t *restrict, const uint16_t *restrict, uint32_t,
                                      uint64_t *restrict));

/* Copy a string view's long bytes into r (short views are returned as they are). */
bool sp_window_own_string(struct sp_region *r, const struct spate_string *in,
                          struct spate_string *out);

/* ---- window(): whole batches kept for the length of the window ---- */

struct sp_raw_pane {
    struct sp_region region; /* the copied chunks and their string bytes */
    struct sp_part part;     /* the parent batch's rows, dense */
};

struct sp_raw_window {
    uint32_t npanes;
    uint64_t *pane_batch;      /* batch index held by each slot; 0 = empty */
    struct sp_raw_pane *panes; /* npanes */
};

/* NULL on ENOMEM. */
struct sp_raw_window *sp_raw_window_create(uint32_t npanes);
void sp_raw_window_destroy(struct sp_raw_window *w);
/* Empty slot (free its copies). */
void sp_raw_window_clear(struct sp_raw_window *w, uint32_t slot);

/* A dense copy of chunk (selection applied) in r, string bytes included. NULL on ENOMEM. */
struct sp_chunk *sp_chunk_copy_deep(struct sp_region *r, const struct sp_schema *s,
                                    const struct sp_chunk *chunk);

#endif /* SP_WINDOW_H */
