/*
 * engine/dstream.h - the DStream graph: one node per stream.
 *
 * Nodes are immutable once the context starts. Narrow nodes (flat_map,
 * map, filter) are fused per chunk into the pipeline of whatever consumes
 * them; breakers (count, reduce_by_key) and inputs produce batches.
 */
#ifndef SP_DSTREAM_H
#define SP_DSTREAM_H

#include "spate/dstream.h"
#include "spate/io.h"
#include "engine/batch.h"
#include "kernels/kernels.h"

enum sp_node_kind {
    SP_NODE_SOCKET,
    SP_NODE_QUEUE,
    SP_NODE_FLAT_MAP_WORDS,
    SP_NODE_MAP,
    SP_NODE_MAP_TO_PAIR,
    SP_NODE_FILTER_FN,
    SP_NODE_FILTER_I64,
    SP_NODE_FILTER_STR,
    SP_NODE_COUNT,
    SP_NODE_REDUCE,
    SP_NODE_REDUCE_WINDOW,
    SP_NODE_UNION,
    SP_NODE_UPDATE_STATE,
    SP_NODE_JOIN,
    SP_NODE_MAP_STATE,
    SP_NODE_STATE_SNAPSHOT,
    SP_NODE_WINDOW,
    SP_NODE_REDUCE_ALL,
    SP_NODE_TRANSFORM,
    SP_NODE_FLAT_MAP,
    SP_NODE_TRANSFORM2,
    SP_NODE_REPARTITION,
    SP_NODE_SELECT,
    SP_NODE_JOIN_STATIC, /* join with a constant stream: built once, probed in the chain */
    SP_NODE_FLAT_MAP_VALUES,
    SP_NODE_MAP_PARTITIONS,
    SP_NODE_GROUP, /* group_by_key (no right side) and cogroup */
    SP_NODE_COMBINE,
    SP_NODE_PARSE_CSV,
    SP_NODE_FILTER_F64,  /* f64 column against a literal */
    SP_NODE_FILTER_COLS, /* column against column, i64 or f64 */
    SP_NODE_ARITH,       /* appends col OP col / col OP literal */
    SP_NODE_CAST,        /* appends a cast column */
    SP_NODE_PARSE_BINARY
};

/* A reduce_by_key_and_window definition, in batches. */
struct sp_window_def {
    struct spate_reduce_opts reduce;
    uint32_t length_b; /* window length in batches */
    uint32_t slide_b;  /* slide in batches */
    uint32_t npanes;   /* panes in a window: length_b / parent's slide */
    bool inverse;      /* running window with an inverse */
    bool keyless;      /* count_by_window: one value, no key column */
    bool drop_zero;    /* count_by_value_and_window: keys whose count went to 0 leave */
    bool (*keep_fn)(void *user, const struct spate_string *skey, int64_t ikey, int64_t ivalue,
                    double fvalue); /* the user's filter of the output, or NULL */
    void *keep_user;
    spate_reduce_i64_fn inv_fn;
    void *inv_user;
};

struct sp_input;
struct sp_binary_layout;

struct spate_dstream {
    struct spate_context *ctx;
    enum sp_node_kind kind;
    struct spate_dstream *parent; /* NULL for inputs */
    struct sp_schema schema;
    uint32_t id; /* index in the context's node list */
    struct spate_dstream *next_in_ctx;
    struct sp_input *input; /* inputs only */
    uint32_t slide_b;       /* valid at batches k with k % slide_b == 0 */
    union {
        struct {
            bool split; /* flat_map_split: separators are set, not whitespace */
            struct sp_byteset set;
        } words;
        struct {
            spate_map_fn fn;
            void *user;
            bool values; /* map_values: output column 0 is the input's key_col */
            uint32_t key_col;
        } map;
        struct {
            spate_flat_map_values_fn fn;
            void *user;
            uint32_t key_col;
        } fmv;
        struct {
            spate_partition_fn fn;
            void *user;
        } mpart;
        struct {
            struct spate_dstream *right; /* cogroup's other stream; NULL for group_by_key */
            uint32_t key[2], val[2];
        } group;
        struct {
            struct spate_combiner c;
            uint32_t key_col;
        } combine;
        struct {
            uint32_t col;
            char delimiter;
            int dead_fd; /* -1: none */
        } csv;
        struct {
            uint32_t col;
            uint32_t record_bytes;
            int dead_fd;                    /* -1: none */
            struct sp_binary_layout *where; /* offsets and widths by column (engine/binary.c) */
        } bin;
        struct {
            uint32_t key_col;
            int64_t value;
        } pair;
        struct {
            spate_filter_fn fn;
            void *user;
        } filter_fn;
        struct {
            uint32_t col;
            enum spate_cmp op;
            int64_t literal;
        } filter_i64;
        struct {
            uint32_t col;
            bool prefix;
            uint32_t len;
            char *s; /* copied, allocated with sp_mem */
        } filter_str;
        struct {
            uint32_t col;
            enum spate_cmp op;
            double literal;
        } filter_f64;
        struct {
            uint32_t col_a, col_b;
            enum spate_cmp op;
            bool f64; /* both f64; else both i64/timestamp */
        } filter_cols;
        struct {
            uint32_t col_a, col_b; /* col_b: unused with a literal */
            enum spate_arith op;
            bool f64;     /* f64 operands and result; else i64 */
            bool literal; /* col_a OP ki / kf */
            int64_t ki;
            double kf;
        } arith;
        struct {
            uint32_t col;
            bool to_f64; /* i64/timestamp -> f64; else f64 -> i64 */
        } cast;
        struct spate_reduce_opts reduce;
        struct sp_window_def window;
        struct spate_state_opts state;
        uint32_t partitions; /* repartition */
        struct {
            uint32_t n;
            uint32_t cols[SP_MAX_COLUMNS];
        } select;
        struct spate_map_state_opts mstate;
        struct {
            spate_transform_fn fn;
            void *user;
        } transform;
        struct {
            spate_flat_map_fn fn;
            void *user;
        } flat_map;
        struct {
            spate_transform2_fn fn;
            void *user;
            struct spate_dstream *right; /* the left stream is parent */
        } transform2;
        struct {
            struct spate_dstream *right; /* the left side is parent */
            struct spate_join_opts opts;
        } join;
        struct {
            struct spate_dstream **parents; /* allocated with sp_mem */
            uint32_t n;
        } uni;
    } u;
    struct sp_queue_item *initial; /* update_state / map_with_state: initial (key, state) rows */
    _Atomic uint64_t malformed;    /* parse_csv, parse_binary: records skipped as malformed */
    /* Per batch: the materialized batch of this node, when computed. */
    struct spate_batch *memo;
    int64_t memo_time;
};

/* Nodes that keep state across batches and must see every batch of their parent. */
static inline bool sp_node_is_stateful(const struct spate_dstream *ds) {
    return ds->kind == SP_NODE_REDUCE_WINDOW || ds->kind == SP_NODE_UPDATE_STATE ||
           ds->kind == SP_NODE_MAP_STATE || ds->kind == SP_NODE_WINDOW;
}

static inline bool sp_node_is_narrow(const struct spate_dstream *ds) {
    return ds->kind == SP_NODE_FLAT_MAP_WORDS || ds->kind == SP_NODE_MAP ||
           ds->kind == SP_NODE_FLAT_MAP || ds->kind == SP_NODE_SELECT ||
           ds->kind == SP_NODE_FLAT_MAP_VALUES || ds->kind == SP_NODE_PARSE_CSV ||
           ds->kind == SP_NODE_JOIN_STATIC || ds->kind == SP_NODE_MAP_TO_PAIR ||
           ds->kind == SP_NODE_FILTER_FN || ds->kind == SP_NODE_FILTER_I64 ||
           ds->kind == SP_NODE_FILTER_STR || ds->kind == SP_NODE_FILTER_F64 ||
           ds->kind == SP_NODE_FILTER_COLS || ds->kind == SP_NODE_ARITH ||
           ds->kind == SP_NODE_CAST || ds->kind == SP_NODE_PARSE_BINARY;
}

/* A zeroed node of kind (schema unset, not linked). NULL on ENOMEM. */
struct spate_dstream *sp_dstream_new(struct spate_context *ctx, enum sp_node_kind kind,
                                     struct spate_dstream *parent, struct spate_error *err);

/* Free what a node owns beyond itself (copied strings). */
void sp_dstream_free_node(struct spate_dstream *ds);

#endif /* SP_DSTREAM_H */
