/*
 * engine/dstream.c - defining streams: transformations and outputs.
 *
 * Invariant: the graph changes only while the context is INITIALIZED, on
 * the owner's thread; every definition call checks the state first and
 * says whether the context is started or stopped. Definition-time errors
 * (bad columns, bad types) fail here, not at start.
 */
#include "engine/binary.h"
#include "engine/context.h"
#include "engine/csv.h"
#include "engine/dstream.h"
#include "engine/input.h"
#include "engine/mem.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

struct spate_dstream *sp_dstream_new(struct spate_context *ctx, enum sp_node_kind kind,
                                     struct spate_dstream *parent, struct spate_error *err) {
    struct spate_dstream *ds = sp_mem_zalloc(SP_MEM_DEFAULT_ARENA, sizeof(*ds), 64);
    if (ds == NULL) {
        sp_error_set(err, ENOMEM, "out of memory defining a stream");
        return NULL;
    }
    ds->ctx = ctx;
    ds->kind = kind;
    ds->parent = parent;
    ds->slide_b = parent != NULL ? parent->slide_b : 1;
    ds->memo_time = INT64_MIN;
    return ds;
}

void sp_dstream_free_node(struct spate_dstream *ds) {
    sp_queue_item_free(ds->initial);
    ds->initial = NULL;
    if (ds->kind == SP_NODE_UNION && ds->u.uni.parents != NULL)
        sp_mem_free(SP_MEM_DEFAULT_ARENA, ds->u.uni.parents,
                    sizeof(struct spate_dstream *) * ds->u.uni.n);
    if (ds->kind == SP_NODE_FILTER_STR && ds->u.filter_str.s != NULL)
        sp_mem_free(SP_MEM_DEFAULT_ARENA, ds->u.filter_str.s, ds->u.filter_str.len + 1);
    if (ds->kind == SP_NODE_PARSE_CSV && ds->u.csv.dead_fd >= 0) {
        close(ds->u.csv.dead_fd);
        ds->u.csv.dead_fd = -1;
    }
    if (ds->kind == SP_NODE_PARSE_BINARY)
        sp_binary_free_node(ds);
}

/* Common checks of a transformation on ds. */
static bool can_define(spate_dstream *ds, const char *what, struct spate_error *err) {
    if (ds == NULL) {
        sp_error_set(err, EINVAL, "%s: the stream is NULL", what);
        return false;
    }
    return sp_context_check_definable(ds->ctx, what, err) == SPATE_OK;
}

static spate_dstream *finish(spate_dstream *ds, const struct spate_column_def *cols, uint32_t n,
                             struct spate_error *err) {
    if (sp_schema_set(&ds->schema, cols, n, err) != SPATE_OK) {
        sp_dstream_free_node(ds);
        sp_mem_free(SP_MEM_DEFAULT_ARENA, ds, sizeof(*ds));
        return NULL;
    }
    sp_context_add_node(ds->ctx, ds);
    return ds;
}

/* finish() for a schema the user declared: no list columns. */
static spate_dstream *finish_user(spate_dstream *ds, const struct spate_column_def *cols,
                                  uint32_t n, struct spate_error *err) {
    if (sp_schema_no_lists(cols, n, "the output schema", err) != SPATE_OK) {
        sp_dstream_free_node(ds);
        sp_mem_free(SP_MEM_DEFAULT_ARENA, ds, sizeof(*ds));
        return NULL;
    }
    return finish(ds, cols, n, err);
}

/* A transformation of ds by a user function: the checks every such definition makes. */
static spate_dstream *new_fn_node(spate_dstream *ds, const char *what, enum sp_node_kind kind,
                                  bool has_fn, struct spate_error *err) {
    if (!can_define(ds, what, err))
        return NULL;
    if (!has_fn) {
        sp_error_set(err, EINVAL, "%s: the function is NULL", what);
        return NULL;
    }
    return sp_dstream_new(ds->ctx, kind, ds, err);
}

spate_context *spate_dstream_context(const spate_dstream *ds) {
    return ds != NULL ? ds->ctx : NULL;
}

uint32_t spate_dstream_num_columns(const spate_dstream *ds) {
    return ds != NULL ? ds->schema.ncols : 0;
}

struct spate_column_def spate_dstream_column(const spate_dstream *ds, uint32_t col) {
    struct spate_column_def none = {NULL, (enum spate_type)0};
    if (ds == NULL || col >= ds->schema.ncols)
        return none;
    return ds->schema.cols[col];
}

/* ---- Narrow transformations ---- */

spate_dstream *spate_dstream_flat_map_words(spate_dstream *ds, struct spate_error *err) {
    if (!can_define(ds, "flat_map_words", err))
        return NULL;
    if (ds->schema.cols[0].type != SPATE_TYPE_STRING) {
        sp_error_set(err, EINVAL, "flat_map_words: column 0 ('%s') is %s, not a string",
                     ds->schema.cols[0].name, spate_type_name(ds->schema.cols[0].type));
        return NULL;
    }
    spate_dstream *out = sp_dstream_new(ds->ctx, SP_NODE_FLAT_MAP_WORDS, ds, err);
    if (out == NULL)
        return NULL;
    struct spate_column_def cols[] = {{"word", SPATE_TYPE_STRING}};
    return finish(out, cols, 1, err);
}

spate_dstream *spate_dstream_flat_map_split(spate_dstream *ds, const char *delims,
                                            uint32_t num_delims, struct spate_error *err) {
    if (delims == NULL && num_delims > 0) {
        sp_error_set(err, EINVAL, "flat_map_split: delims is NULL");
        return NULL;
    }
    if (num_delims == 0 || num_delims > 256) {
        sp_error_set(err, EINVAL, "flat_map_split: 1 to 256 delimiter bytes, not %u", num_delims);
        return NULL;
    }
    spate_dstream *out = spate_dstream_flat_map_words(ds, err);
    if (out == NULL)
        return NULL;
    out->u.words.split = true;
    sp_byteset_init(&out->u.words.set, delims, num_delims);
    return out;
}

spate_dstream *spate_dstream_map(spate_dstream *ds, const struct spate_column_def *columns,
                                 uint32_t num_columns, spate_map_fn fn, void *user,
                                 struct spate_error *err) {
    spate_dstream *out = new_fn_node(ds, "map", SP_NODE_MAP, fn != NULL, err);
    if (out == NULL)
        return NULL;
    out->u.map.fn = fn;
    out->u.map.user = user;
    return finish_user(out, columns, num_columns, err);
}

spate_dstream *spate_dstream_select(spate_dstream *ds, const uint32_t *cols, uint32_t n,
                                    struct spate_error *err) {
    if (!can_define(ds, "select", err))
        return NULL;
    if (cols == NULL || n == 0 || n > SP_MAX_COLUMNS) {
        sp_error_set(err, EINVAL, "select: 1 to %d columns are needed", SP_MAX_COLUMNS);
        return NULL;
    }
    struct spate_column_def defs[SP_MAX_COLUMNS];
    for (uint32_t i = 0; i < n; i++) {
        if (cols[i] >= ds->schema.ncols) {
            sp_error_set(err, EINVAL, "select: no column %u (the stream has %u)", cols[i],
                         ds->schema.ncols);
            return NULL;
        }
        defs[i] = ds->schema.cols[cols[i]];
    }
    spate_dstream *out = sp_dstream_new(ds->ctx, SP_NODE_SELECT, ds, err);
    if (out == NULL)
        return NULL;
    out->u.select.n = n;
    memcpy(out->u.select.cols, cols, sizeof(uint32_t) * n);
    return finish(out, defs, n, err);
}

/* Output schema of map_values / flat_map_values: the key column, then the value columns. */
static spate_dstream *finish_values(spate_dstream *out, const char *what, uint32_t key_col,
                                    const struct spate_column_def *columns, uint32_t n,
                                    struct spate_error *err) {
    struct spate_column_def cols[SP_MAX_COLUMNS];
    const struct sp_schema *in = &out->parent->schema;
    spate_status rc = SPATE_OK;
    if (key_col >= in->ncols)
        rc = sp_error_set(err, EINVAL, "%s: no key column %u (the stream has %u)", what, key_col,
                          in->ncols);
    else if (SPATE_TYPE_IS_LIST(in->cols[key_col].type))
        rc = sp_error_set(err, EINVAL, "%s: the key column '%s' is a list", what,
                          in->cols[key_col].name);
    else if (n == 0 || columns == NULL || n >= SP_MAX_COLUMNS)
        rc = sp_error_set(err, EINVAL, "%s: 1 to %u value columns are needed, got %u", what,
                          SP_MAX_COLUMNS - 1, n);
    if (rc != SPATE_OK) {
        sp_mem_free(SP_MEM_DEFAULT_ARENA, out, sizeof(*out));
        return NULL;
    }
    cols[0] = in->cols[key_col];
    memcpy(&cols[1], columns, sizeof(*columns) * n);
    if (sp_schema_no_lists(columns, n, what, err) != SPATE_OK) {
        sp_mem_free(SP_MEM_DEFAULT_ARENA, out, sizeof(*out));
        return NULL;
    }
    return finish(out, cols, n + 1, err);
}

spate_dstream *spate_dstream_map_values(spate_dstream *ds, uint32_t key_col,
                                        const struct spate_column_def *columns,
                                        uint32_t num_columns, spate_map_fn fn, void *user,
                                        struct spate_error *err) {
    spate_dstream *out = new_fn_node(ds, "map_values", SP_NODE_MAP, fn != NULL, err);
    if (out == NULL)
        return NULL;
    out->u.map.fn = fn;
    out->u.map.user = user;
    out->u.map.values = true;
    out->u.map.key_col = key_col;
    return finish_values(out, "map_values", key_col, columns, num_columns, err);
}

spate_dstream *spate_dstream_flat_map_values(spate_dstream *ds, uint32_t key_col,
                                             const struct spate_column_def *columns,
                                             uint32_t num_columns, spate_flat_map_values_fn fn,
                                             void *user, struct spate_error *err) {
    spate_dstream *out =
        new_fn_node(ds, "flat_map_values", SP_NODE_FLAT_MAP_VALUES, fn != NULL, err);
    if (out == NULL)
        return NULL;
    out->u.fmv.fn = fn;
    out->u.fmv.user = user;
    out->u.fmv.key_col = key_col;
    return finish_values(out, "flat_map_values", key_col, columns, num_columns, err);
}

spate_dstream *spate_dstream_map_to_pair(spate_dstream *ds, uint32_t key_col, int64_t value,
                                         struct spate_error *err) {
    if (!can_define(ds, "map_to_pair", err))
        return NULL;
    if (key_col >= ds->schema.ncols) {
        sp_error_set(err, EINVAL, "map_to_pair: no column %u (the stream has %u)", key_col,
                     ds->schema.ncols);
        return NULL;
    }
    spate_dstream *out = sp_dstream_new(ds->ctx, SP_NODE_MAP_TO_PAIR, ds, err);
    if (out == NULL)
        return NULL;
    out->u.pair.key_col = key_col;
    out->u.pair.value = value;
    struct spate_column_def cols[] = {ds->schema.cols[key_col], {"value", SPATE_TYPE_I64}};
    return finish(out, cols, 2, err);
}

spate_dstream *spate_dstream_filter(spate_dstream *ds, spate_filter_fn fn, void *user,
                                    struct spate_error *err) {
    spate_dstream *out = new_fn_node(ds, "filter", SP_NODE_FILTER_FN, fn != NULL, err);
    if (out == NULL)
        return NULL;
    out->u.filter_fn.fn = fn;
    out->u.filter_fn.user = user;
    return finish(out, ds->schema.cols, ds->schema.ncols, err);
}

spate_dstream *spate_dstream_filter_i64(spate_dstream *ds, uint32_t col, enum spate_cmp op,
                                        int64_t literal, struct spate_error *err) {
    if (!can_define(ds, "filter_i64", err))
        return NULL;
    if (col >= ds->schema.ncols || (ds->schema.cols[col].type != SPATE_TYPE_I64 &&
                                    ds->schema.cols[col].type != SPATE_TYPE_TIMESTAMP)) {
        sp_error_set(err, EINVAL, "filter_i64: column %u is not an i64 or timestamp column", col);
        return NULL;
    }
    if ((int)op < SPATE_CMP_EQ || (int)op > SPATE_CMP_GE) {
        sp_error_set(err, EINVAL, "filter_i64: unknown comparison %d", (int)op);
        return NULL;
    }
    spate_dstream *out = sp_dstream_new(ds->ctx, SP_NODE_FILTER_I64, ds, err);
    if (out == NULL)
        return NULL;
    out->u.filter_i64.col = col;
    out->u.filter_i64.op = op;
    out->u.filter_i64.literal = literal;
    return finish(out, ds->schema.cols, ds->schema.ncols, err);
}

spate_dstream *spate_dstream_filter_string(spate_dstream *ds, uint32_t col, const char *s,
                                           bool prefix, struct spate_error *err) {
    if (!can_define(ds, "filter_string", err))
        return NULL;
    if (s == NULL || col >= ds->schema.ncols || ds->schema.cols[col].type != SPATE_TYPE_STRING) {
        sp_error_set(err, EINVAL, "filter_string: column %u is not a string column, or s is NULL",
                     col);
        return NULL;
    }
    spate_dstream *out = sp_dstream_new(ds->ctx, SP_NODE_FILTER_STR, ds, err);
    if (out == NULL)
        return NULL;
    size_t len = strlen(s);
    out->u.filter_str.s = sp_mem_alloc(SP_MEM_DEFAULT_ARENA, len + 1, 64);
    if (out->u.filter_str.s == NULL) {
        sp_mem_free(SP_MEM_DEFAULT_ARENA, out, sizeof(*out));
        sp_error_set(err, ENOMEM, "out of memory defining a stream");
        return NULL;
    }
    memcpy(out->u.filter_str.s, s, len + 1);
    out->u.filter_str.len = (uint32_t)len;
    out->u.filter_str.col = col;
    out->u.filter_str.prefix = prefix;
    return finish(out, ds->schema.cols, ds->schema.ncols, err);
}

/* ---- Vectorized column filters, arithmetic and casts ---- */

static bool is_int_col(const spate_dstream *ds, uint32_t col) {
    return col < ds->schema.ncols && (ds->schema.cols[col].type == SPATE_TYPE_I64 ||
                                      ds->schema.cols[col].type == SPATE_TYPE_TIMESTAMP);
}

static bool is_f64_col(const spate_dstream *ds, uint32_t col) {
    return col < ds->schema.ncols && ds->schema.cols[col].type == SPATE_TYPE_F64;
}

static bool check_cmp(enum spate_cmp op, const char *what, struct spate_error *err) {
    if ((int)op >= SPATE_CMP_EQ && (int)op <= SPATE_CMP_GE)
        return true;
    sp_error_set(err, EINVAL, "%s: unknown comparison %d", what, (int)op);
    return false;
}

spate_dstream *spate_dstream_filter_f64(spate_dstream *ds, uint32_t col, enum spate_cmp op,
                                        double literal, struct spate_error *err) {
    if (!can_define(ds, "filter_f64", err))
        return NULL;
    if (!is_f64_col(ds, col)) {
        sp_error_set(err, EINVAL, "filter_f64: column %u is not a f64 column", col);
        return NULL;
    }
    if (!check_cmp(op, "filter_f64", err))
        return NULL;
    spate_dstream *out = sp_dstream_new(ds->ctx, SP_NODE_FILTER_F64, ds, err);
    if (out == NULL)
        return NULL;
    out->u.filter_f64.col = col;
    out->u.filter_f64.op = op;
    out->u.filter_f64.literal = literal;
    return finish(out, ds->schema.cols, ds->schema.ncols, err);
}

spate_dstream *spate_dstream_filter_cols(spate_dstream *ds, uint32_t col_a, enum spate_cmp op,
                                         uint32_t col_b, struct spate_error *err) {
    if (!can_define(ds, "filter_cols", err))
        return NULL;
    bool ints = is_int_col(ds, col_a) && is_int_col(ds, col_b);
    bool f64 = is_f64_col(ds, col_a) && is_f64_col(ds, col_b);
    if (!ints && !f64) {
        sp_error_set(err, EINVAL,
                     "filter_cols: columns %u and %u are not both i64/timestamp or both f64", col_a,
                     col_b);
        return NULL;
    }
    if (!check_cmp(op, "filter_cols", err))
        return NULL;
    spate_dstream *out = sp_dstream_new(ds->ctx, SP_NODE_FILTER_COLS, ds, err);
    if (out == NULL)
        return NULL;
    out->u.filter_cols.col_a = col_a;
    out->u.filter_cols.col_b = col_b;
    out->u.filter_cols.op = op;
    out->u.filter_cols.f64 = f64;
    return finish(out, ds->schema.cols, ds->schema.ncols, err);
}

/* The checks of a node appending column name; the output schema into defs (n + 1 columns). */
static bool appended_schema(spate_dstream *ds, const char *what, const char *name,
                            enum spate_type type, struct spate_column_def *defs,
                            struct spate_error *err) {
    uint32_t n = ds->schema.ncols;
    if (name == NULL || name[0] == '\0') {
        sp_error_set(err, EINVAL, "%s: the column name is NULL or empty", what);
        return false;
    }
    if (n >= SP_MAX_COLUMNS) {
        sp_error_set(err, EINVAL, "%s: the stream already has %d columns", what, SP_MAX_COLUMNS);
        return false;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (strcmp(ds->schema.cols[i].name, name) == 0) {
            sp_error_set(err, EINVAL, "%s: the stream already has a column '%s'", what, name);
            return false;
        }
        defs[i] = ds->schema.cols[i];
    }
    defs[n].name = name;
    defs[n].type = type;
    return true;
}

/* with_arith and its literal forms: operand checks done, b = UINT32_MAX for a literal. */
static spate_dstream *new_arith(spate_dstream *ds, const char *what, const char *name, uint32_t a,
                                enum spate_arith op, uint32_t b, bool f64, int64_t ki, double kf,
                                struct spate_error *err) {
    struct spate_column_def defs[SP_MAX_COLUMNS];
    if ((int)op < SPATE_ARITH_ADD || (int)op > SPATE_ARITH_MOD) {
        sp_error_set(err, EINVAL, "%s: unknown operator %d", what, (int)op);
        return NULL;
    }
    if (!appended_schema(ds, what, name, f64 ? SPATE_TYPE_F64 : SPATE_TYPE_I64, defs, err))
        return NULL;
    spate_dstream *out = sp_dstream_new(ds->ctx, SP_NODE_ARITH, ds, err);
    if (out == NULL)
        return NULL;
    out->u.arith.col_a = a;
    out->u.arith.col_b = b;
    out->u.arith.op = op;
    out->u.arith.f64 = f64;
    out->u.arith.literal = b == UINT32_MAX;
    out->u.arith.ki = ki;
    out->u.arith.kf = kf;
    return finish(out, defs, ds->schema.ncols + 1, err);
}

spate_dstream *spate_dstream_with_arith(spate_dstream *ds, const char *name, uint32_t col_a,
                                        enum spate_arith op, uint32_t col_b,
                                        struct spate_error *err) {
    if (!can_define(ds, "with_arith", err))
        return NULL;
    bool ints = is_int_col(ds, col_a) && is_int_col(ds, col_b);
    bool f64 = is_f64_col(ds, col_a) && is_f64_col(ds, col_b);
    if (!ints && !f64) {
        sp_error_set(err, EINVAL,
                     "with_arith: columns %u and %u are not both i64/timestamp or both f64 "
                     "(cast one with with_cast)",
                     col_a, col_b);
        return NULL;
    }
    return new_arith(ds, "with_arith", name, col_a, op, col_b, f64, 0, 0.0, err);
}

spate_dstream *spate_dstream_with_arith_i64(spate_dstream *ds, const char *name, uint32_t col,
                                            enum spate_arith op, int64_t literal,
                                            struct spate_error *err) {
    if (!can_define(ds, "with_arith_i64", err))
        return NULL;
    if (!is_int_col(ds, col)) {
        sp_error_set(err, EINVAL, "with_arith_i64: column %u is not an i64 or timestamp column",
                     col);
        return NULL;
    }
    return new_arith(ds, "with_arith_i64", name, col, op, UINT32_MAX, false, literal, 0.0, err);
}

spate_dstream *spate_dstream_with_arith_f64(spate_dstream *ds, const char *name, uint32_t col,
                                            enum spate_arith op, double literal,
                                            struct spate_error *err) {
    if (!can_define(ds, "with_arith_f64", err))
        return NULL;
    if (!is_f64_col(ds, col)) {
        sp_error_set(err, EINVAL, "with_arith_f64: column %u is not a f64 column", col);
        return NULL;
    }
    return new_arith(ds, "with_arith_f64", name, col, op, UINT32_MAX, true, 0, literal, err);
}

spate_dstream *spate_dstream_with_cast(spate_dstream *ds, const char *name, uint32_t col,
                                       enum spate_type to, struct spate_error *err) {
    struct spate_column_def defs[SP_MAX_COLUMNS];
    if (!can_define(ds, "with_cast", err))
        return NULL;
    bool to_f64 = is_int_col(ds, col) && to == SPATE_TYPE_F64;
    if (!to_f64 && !(is_f64_col(ds, col) && to == SPATE_TYPE_I64)) {
        sp_error_set(err, EINVAL,
                     "with_cast: column %u cannot be cast to type %d (i64/timestamp -> f64 and "
                     "f64 -> i64 are supported)",
                     col, (int)to);
        return NULL;
    }
    if (!appended_schema(ds, "with_cast", name, to, defs, err))
        return NULL;
    spate_dstream *out = sp_dstream_new(ds->ctx, SP_NODE_CAST, ds, err);
    if (out == NULL)
        return NULL;
    out->u.cast.col = col;
    out->u.cast.to_f64 = to_f64;
    return finish(out, defs, ds->schema.ncols + 1, err);
}

spate_dstream *spate_dstream_union(spate_dstream *const *streams, uint32_t n,
                                   struct spate_error *err) {
    if (streams == NULL || n == 0) {
        sp_error_set(err, EINVAL, "union: no streams");
        return NULL;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (streams[i] == NULL) {
            sp_error_set(err, EINVAL, "union: stream %u is NULL", i);
            return NULL;
        }
    }
    spate_dstream *first = streams[0];
    if (!can_define(first, "union", err))
        return NULL;
    for (uint32_t i = 1; i < n; i++) {
        const spate_dstream *d = streams[i];
        if (d->ctx != first->ctx) {
            sp_error_set(err, EINVAL, "union: stream %u belongs to another context", i);
            return NULL;
        }
        if (d->slide_b != first->slide_b) {
            sp_error_set(err, EINVAL,
                         "union: stream %u slides every %" PRId64 " ms, stream 0 every %" PRId64
                         " ms; the slides must be equal",
                         i, spate_dstream_slide_ms(d), spate_dstream_slide_ms(first));
            return NULL;
        }
        bool same = d->schema.ncols == first->schema.ncols;
        for (uint32_t c = 0; same && c < d->schema.ncols; c++)
            same = d->schema.cols[c].type == first->schema.cols[c].type;
        if (!same) {
            sp_error_set(err, EINVAL, "union: stream %u has other column types than stream 0", i);
            return NULL;
        }
    }
    spate_dstream *out = sp_dstream_new(first->ctx, SP_NODE_UNION, first, err);
    if (out == NULL)
        return NULL;
    out->u.uni.parents = sp_mem_alloc(SP_MEM_DEFAULT_ARENA, sizeof(spate_dstream *) * n, 64);
    if (out->u.uni.parents == NULL) {
        sp_mem_free(SP_MEM_DEFAULT_ARENA, out, sizeof(*out));
        sp_error_set(err, ENOMEM, "union: out of memory");
        return NULL;
    }
    memcpy(out->u.uni.parents, streams, sizeof(spate_dstream *) * n);
    out->u.uni.n = n;
    return finish(out, first->schema.cols, first->schema.ncols, err);
}

spate_dstream *spate_dstream_flat_map(spate_dstream *ds, const struct spate_column_def *columns,
                                      uint32_t num_columns, spate_flat_map_fn fn, void *user,
                                      struct spate_error *err) {
    spate_dstream *out = new_fn_node(ds, "flat_map", SP_NODE_FLAT_MAP, fn != NULL, err);
    if (out == NULL)
        return NULL;
    out->u.flat_map.fn = fn;
    out->u.flat_map.user = user;
    return finish_user(out, columns, num_columns, err);
}

spate_dstream *spate_dstream_map_partitions(spate_dstream *ds,
                                            const struct spate_column_def *columns,
                                            uint32_t num_columns, spate_partition_fn fn, void *user,
                                            struct spate_error *err) {
    spate_dstream *out = new_fn_node(ds, "map_partitions", SP_NODE_MAP_PARTITIONS, fn != NULL, err);
    if (out == NULL)
        return NULL;
    out->u.mpart.fn = fn;
    out->u.mpart.user = user;
    return finish_user(out, columns, num_columns, err);
}

spate_dstream *spate_dstream_transform(spate_dstream *ds, const struct spate_column_def *columns,
                                       uint32_t num_columns, spate_transform_fn fn, void *user,
                                       struct spate_error *err) {
    spate_dstream *out = new_fn_node(ds, "transform", SP_NODE_TRANSFORM, fn != NULL, err);
    if (out == NULL)
        return NULL;
    out->u.transform.fn = fn;
    out->u.transform.user = user;
    return finish_user(out, columns, num_columns, err);
}

spate_dstream *spate_dstream_transform_with(spate_dstream *left, spate_dstream *right,
                                            const struct spate_column_def *columns,
                                            uint32_t num_columns, spate_transform2_fn fn,
                                            void *user, struct spate_error *err) {
    if (!can_define(left, "transform_with", err))
        return NULL;
    if (right == NULL || fn == NULL || right->ctx != left->ctx || right->slide_b != left->slide_b) {
        sp_error_set(err, EINVAL,
                     "transform_with: a function and a right stream of the same context and "
                     "slide are needed");
        return NULL;
    }
    spate_dstream *out = sp_dstream_new(left->ctx, SP_NODE_TRANSFORM2, left, err);
    if (out == NULL)
        return NULL;
    out->u.transform2.fn = fn;
    out->u.transform2.user = user;
    out->u.transform2.right = right;
    return finish_user(out, columns, num_columns, err);
}

spate_dstream *spate_dstream_repartition(spate_dstream *ds, uint32_t num_partitions,
                                         struct spate_error *err) {
    if (!can_define(ds, "repartition", err))
        return NULL;
    if (num_partitions == 0 || num_partitions > 4096) {
        sp_error_set(err, EINVAL, "repartition: 1 to 4096 partitions (got %u)", num_partitions);
        return NULL;
    }
    spate_dstream *out = sp_dstream_new(ds->ctx, SP_NODE_REPARTITION, ds, err);
    if (out == NULL)
        return NULL;
    out->u.partitions = num_partitions;
    return finish(out, ds->schema.cols, ds->schema.ncols, err);
}

/* ---- Aggregations ---- */

spate_dstream *spate_dstream_count(spate_dstream *ds, struct spate_error *err) {
    if (!can_define(ds, "count", err))
        return NULL;
    spate_dstream *out = sp_dstream_new(ds->ctx, SP_NODE_COUNT, ds, err);
    if (out == NULL)
        return NULL;
    struct spate_column_def cols[] = {{"count", SPATE_TYPE_I64}};
    return finish(out, cols, 1, err);
}

void spate_reduce_opts_init(struct spate_reduce_opts *opts) {
    if (opts == NULL)
        return;
    memset(opts, 0, sizeof(*opts));
    opts->key_col = 0;
    opts->value_col = 1;
    opts->agg = SPATE_AGG_SUM;
}

static bool is_key_type(enum spate_type t) {
    return t == SPATE_TYPE_STRING || t == SPATE_TYPE_I64 || t == SPATE_TYPE_TIMESTAMP;
}

/* The key and value columns of a stateful operation: a string or i64 key, an other i64 value. */
static bool check_state_columns(const spate_dstream *ds, const char *what, uint32_t key_col,
                                uint32_t value_col, struct spate_error *err) {
    const struct sp_schema *s = &ds->schema;
    if (key_col >= s->ncols || !is_key_type(s->cols[key_col].type)) {
        sp_error_set(err, EINVAL, "%s: key column %u must exist and be a string or i64 column",
                     what, key_col);
        return false;
    }
    if (value_col >= s->ncols || value_col == key_col ||
        (s->cols[value_col].type != SPATE_TYPE_I64 &&
         s->cols[value_col].type != SPATE_TYPE_TIMESTAMP)) {
        sp_error_set(err, EINVAL, "%s: value column %u must exist, differ from the key, be i64",
                     what, value_col);
        return false;
    }
    return true;
}

/* Check the composite key of o (num_key_cols > 0) on schema s: 1 to SPATE_MAX_KEY_COLS
 * distinct key columns of key types. One column is folded into key_col (the one-key paths). */
static bool check_key_cols(const struct sp_schema *s, const char *what, struct spate_reduce_opts *o,
                           struct spate_error *err) {
    if (o->num_key_cols > SPATE_MAX_KEY_COLS) {
        sp_error_set(err, EINVAL, "%s: %u key columns; a composite key has at most %d", what,
                     o->num_key_cols, SPATE_MAX_KEY_COLS);
        return false;
    }
    for (uint32_t i = 0; i < o->num_key_cols; i++) {
        uint32_t c = o->key_cols[i];
        if (c >= s->ncols || !is_key_type(s->cols[c].type)) {
            sp_error_set(err, EINVAL,
                         "%s: key column %u must exist and be a string, i64 or timestamp column",
                         what, c);
            return false;
        }
        for (uint32_t j = 0; j < i; j++)
            if (o->key_cols[j] == c) {
                sp_error_set(err, EINVAL, "%s: key column %u appears twice in key_cols", what, c);
                return false;
            }
    }
    if (o->num_key_cols == 1) {
        o->key_col = o->key_cols[0];
        o->num_key_cols = 0;
    }
    return true;
}

/* Check a reduce definition on ds; fills *o, the output columns and *ncols (keys, value). */
static bool check_reduce(spate_dstream *ds, const char *what, const struct spate_reduce_opts *opts,
                         struct spate_reduce_opts *o,
                         struct spate_column_def cols[SPATE_MAX_KEY_COLS + 1], uint32_t *ncols,
                         struct spate_error *err) {
    spate_reduce_opts_init(o);
    if (opts != NULL)
        *o = *opts;
    const struct sp_schema *s = &ds->schema;
    if (!check_key_cols(s, what, o, err))
        return false;
    if (o->num_key_cols == 0 &&
        (o->key_col >= s->ncols || !is_key_type(s->cols[o->key_col].type))) {
        sp_error_set(err, EINVAL, "%s: key column %u must exist and be a string or i64 column",
                     what, o->key_col);
        return false;
    }
    bool count = o->fn == NULL && o->agg == SPATE_AGG_COUNT;
    bool avg = o->fn == NULL && o->agg == SPATE_AGG_AVG;
    if (o->fn == NULL && (o->agg < SPATE_AGG_SUM || o->agg > SPATE_AGG_AVG)) {
        sp_error_set(err, EINVAL, "%s: unknown aggregate %d", what, (int)o->agg);
        return false;
    }
    uint32_t nkeys = o->num_key_cols > 0 ? o->num_key_cols : 1;
    const uint32_t *keys = o->num_key_cols > 0 ? o->key_cols : &o->key_col;
    enum spate_type vt = SPATE_TYPE_I64;
    if (!count) {
        bool is_key = false;
        for (uint32_t i = 0; i < nkeys; i++)
            is_key |= keys[i] == o->value_col;
        if (o->value_col >= s->ncols || is_key) {
            sp_error_set(err, EINVAL, "%s: value column %u must exist and differ from the key",
                         what, o->value_col);
            return false;
        }
        vt = s->cols[o->value_col].type;
        if (vt == SPATE_TYPE_TIMESTAMP)
            vt = SPATE_TYPE_I64;
        if (vt != SPATE_TYPE_I64 && !(vt == SPATE_TYPE_F64 && o->fn == NULL)) {
            sp_error_set(err, EINVAL,
                         "%s: value column '%s' is %s; built-in aggregates take i64 or f64, "
                         "reduce functions i64",
                         what, s->cols[o->value_col].name,
                         spate_type_name(s->cols[o->value_col].type));
            return false;
        }
        if (avg)
            vt = SPATE_TYPE_F64;
    }
    for (uint32_t i = 0; i < nkeys; i++)
        cols[i] = s->cols[keys[i]];
    cols[nkeys].name = count ? "count" : s->cols[o->value_col].name;
    cols[nkeys].type = vt;
    *ncols = nkeys + 1;
    return true;
}

spate_dstream *spate_dstream_reduce_by_key(spate_dstream *ds, const struct spate_reduce_opts *opts,
                                           struct spate_error *err) {
    if (!can_define(ds, "reduce_by_key", err))
        return NULL;
    struct spate_reduce_opts o;
    struct spate_column_def cols[SPATE_MAX_KEY_COLS + 1];
    uint32_t ncols;
    if (!check_reduce(ds, "reduce_by_key", opts, &o, cols, &ncols, err))
        return NULL;
    spate_dstream *out = sp_dstream_new(ds->ctx, SP_NODE_REDUCE, ds, err);
    if (out == NULL)
        return NULL;
    out->u.reduce = o;
    return finish(out, cols, ncols, err);
}

spate_dstream *spate_dstream_count_by_value(spate_dstream *ds, struct spate_error *err) {
    if (ds == NULL) {
        sp_error_set(err, EINVAL, "count_by_value: the stream is NULL");
        return NULL;
    }
    struct spate_reduce_opts ro;
    spate_reduce_opts_init(&ro);
    ro.key_col = 0;
    ro.agg = SPATE_AGG_COUNT;
    return spate_dstream_reduce_by_key(ds, &ro, err);
}

/* ---- State ---- */

/* Copy an initial state (key, state) into out; on failure free out and say why. */
static bool take_initial(spate_dstream *out, const struct spate_column_def cols[2],
                         const struct spate_column_data *initial, uint64_t rows, const char *what,
                         struct spate_error *err) {
    if (initial == NULL && rows == 0)
        return true;
    struct sp_schema schema;
    if (sp_schema_set(&schema, cols, 2, err) != SPATE_OK ||
        sp_queue_item_build(&schema, initial, rows, what, &out->initial, err) != SPATE_OK) {
        sp_mem_free(SP_MEM_DEFAULT_ARENA, out, sizeof(*out));
        return false;
    }
    out->initial->batch->schema = &out->schema; /* not the local copy above */
    return true;
}

void spate_state_opts_init(struct spate_state_opts *opts) {
    if (opts == NULL)
        return;
    memset(opts, 0, sizeof(*opts));
    opts->value_col = 1;
}

spate_dstream *spate_dstream_update_state_by_key(spate_dstream *ds,
                                                 const struct spate_state_opts *opts,
                                                 struct spate_error *err) {
    const char *what = "update_state_by_key";
    if (!can_define(ds, what, err))
        return NULL;
    if (opts == NULL || opts->fn == NULL) {
        sp_error_set(err, EINVAL, "%s: an update function is needed", what);
        return NULL;
    }
    if (!check_state_columns(ds, what, opts->key_col, opts->value_col, err))
        return NULL;
    const struct sp_schema *s = &ds->schema;
    spate_dstream *out = sp_dstream_new(ds->ctx, SP_NODE_UPDATE_STATE, ds, err);
    if (out == NULL)
        return NULL;
    out->u.state = *opts;
    struct spate_column_def cols[2] = {s->cols[opts->key_col], {"state", SPATE_TYPE_I64}};
    if (!take_initial(out, cols, opts->initial, opts->initial_rows, what, err))
        return NULL;
    return finish(out, cols, 2, err);
}

/* ---- Joins ---- */

void spate_join_opts_init(struct spate_join_opts *opts) {
    if (opts != NULL)
        memset(opts, 0, sizeof(*opts));
}

/*
 * Two keyed streams that run together (join, cogroup): one context, one
 * slide, and key columns that exist and are both strings or both i64.
 * Returns false with a message naming what.
 */
static bool keyed_pair_ok(const spate_dstream *left, uint32_t lkey, const spate_dstream *right,
                          uint32_t rkey, const char *what, struct spate_error *err) {
    if (right->ctx != left->ctx) {
        sp_error_set(err, EINVAL, "%s: the streams belong to different contexts", what);
        return false;
    }
    if (right->slide_b != left->slide_b) {
        sp_error_set(err, EINVAL,
                     "%s: the left stream slides every %" PRId64 " ms, the right every %" PRId64
                     " ms; the slides must be equal",
                     what, spate_dstream_slide_ms(left), spate_dstream_slide_ms(right));
        return false;
    }
    const struct sp_schema *ls = &left->schema, *rs = &right->schema;
    if (lkey >= ls->ncols || rkey >= rs->ncols || !is_key_type(ls->cols[lkey].type) ||
        !is_key_type(rs->cols[rkey].type) ||
        (ls->cols[lkey].type == SPATE_TYPE_STRING) != (rs->cols[rkey].type == SPATE_TYPE_STRING)) {
        sp_error_set(err, EINVAL, "%s: the key columns must exist and both be strings or both i64",
                     what);
        return false;
    }
    return true;
}

spate_dstream *spate_dstream_join(spate_dstream *left, spate_dstream *right,
                                  const struct spate_join_opts *opts, struct spate_error *err) {
    const char *what = "join";
    if (!can_define(left, what, err))
        return NULL;
    if (right == NULL) {
        sp_error_set(err, EINVAL, "%s: the right stream is NULL", what);
        return NULL;
    }
    struct spate_join_opts o;
    spate_join_opts_init(&o);
    if (opts != NULL)
        o = *opts;
    if (!keyed_pair_ok(left, o.left_key, right, o.right_key, what, err))
        return NULL;
    if ((int)o.kind < SPATE_JOIN_INNER || (int)o.kind > SPATE_JOIN_FULL) {
        sp_error_set(err, EINVAL, "%s: unknown join kind %d", what, (int)o.kind);
        return NULL;
    }
    const struct sp_schema *ls = &left->schema, *rs = &right->schema;
    if (ls->ncols + rs->ncols - 1 > SP_MAX_COLUMNS) {
        sp_error_set(err, EINVAL, "%s: more than %d columns", what, SP_MAX_COLUMNS);
        return NULL;
    }
    struct spate_column_def cols[SP_MAX_COLUMNS];
    uint32_t n = 0;
    cols[n++] = ls->cols[o.left_key];
    for (uint32_t c = 0; c < ls->ncols; c++)
        if (c != o.left_key)
            cols[n++] = ls->cols[c];
    for (uint32_t c = 0; c < rs->ncols; c++)
        if (c != o.right_key)
            cols[n++] = rs->cols[c];
    /* A constant right side (a static table) with an inner or left join: the table is hashed
     * once at start and probed inside the left side's fused chain, with no shuffle. */
    bool broadcast = right->kind == SP_NODE_QUEUE && right->input != NULL &&
                     right->input->constant != NULL &&
                     (o.kind == SPATE_JOIN_INNER || o.kind == SPATE_JOIN_LEFT);
    spate_dstream *out =
        sp_dstream_new(left->ctx, broadcast ? SP_NODE_JOIN_STATIC : SP_NODE_JOIN, left, err);
    if (out == NULL)
        return NULL;
    out->u.join.right = right;
    out->u.join.opts = o;
    return finish(out, cols, n, err);
}

void spate_map_state_opts_init(struct spate_map_state_opts *opts) {
    if (opts == NULL)
        return;
    memset(opts, 0, sizeof(*opts));
    opts->value_col = 1;
}

spate_dstream *spate_dstream_map_with_state(spate_dstream *ds,
                                            const struct spate_map_state_opts *opts,
                                            struct spate_error *err) {
    const char *what = "map_with_state";
    if (!can_define(ds, what, err))
        return NULL;
    if (opts == NULL || opts->fn == NULL || opts->timeout_ms < 0) {
        sp_error_set(err, EINVAL, "%s: a function and a timeout >= 0 are needed", what);
        return NULL;
    }
    if (!check_state_columns(ds, what, opts->key_col, opts->value_col, err))
        return NULL;
    const struct sp_schema *s = &ds->schema;
    spate_dstream *out = sp_dstream_new(ds->ctx, SP_NODE_MAP_STATE, ds, err);
    if (out == NULL)
        return NULL;
    out->u.mstate = *opts;
    struct spate_column_def cols[2] = {s->cols[opts->key_col], {"mapped", SPATE_TYPE_I64}};
    struct spate_column_def init_cols[2] = {s->cols[opts->key_col], {"state", SPATE_TYPE_I64}};
    if (!take_initial(out, init_cols, opts->initial, opts->initial_rows, what, err))
        return NULL;
    return finish(out, cols, 2, err);
}

spate_dstream *spate_dstream_state_snapshots(spate_dstream *mws, struct spate_error *err) {
    const char *what = "state_snapshots";
    if (!can_define(mws, what, err))
        return NULL;
    if (mws->kind != SP_NODE_MAP_STATE) {
        sp_error_set(err, EINVAL, "%s: the stream is not a map_with_state stream", what);
        return NULL;
    }
    spate_dstream *out = sp_dstream_new(mws->ctx, SP_NODE_STATE_SNAPSHOT, mws, err);
    if (out == NULL)
        return NULL;
    struct spate_column_def cols[2] = {mws->schema.cols[0], {"state", SPATE_TYPE_I64}};
    return finish(out, cols, 2, err);
}

spate_dstream *spate_dstream_reduce(spate_dstream *ds, const struct spate_reduce_opts *opts,
                                    struct spate_error *err) {
    if (!can_define(ds, "reduce", err))
        return NULL;
    struct spate_reduce_opts o;
    spate_reduce_opts_init(&o);
    if (opts != NULL)
        o = *opts;
    const struct sp_schema *s = &ds->schema;
    if (o.value_col >= s->ncols) {
        sp_error_set(err, EINVAL, "reduce: no column %u", o.value_col);
        return NULL;
    }
    enum spate_type vt = s->cols[o.value_col].type;
    if (vt == SPATE_TYPE_TIMESTAMP)
        vt = SPATE_TYPE_I64;
    bool builtin = o.fn == NULL &&
                   (o.agg == SPATE_AGG_SUM || o.agg == SPATE_AGG_MIN || o.agg == SPATE_AGG_MAX);
    if ((o.fn == NULL && !builtin) ||
        (vt != SPATE_TYPE_I64 && !(vt == SPATE_TYPE_F64 && builtin))) {
        sp_error_set(err, EINVAL,
                     "reduce: SUM, MIN or MAX of an i64 or f64 column, or a reduce function of "
                     "an i64 column");
        return NULL;
    }
    spate_dstream *out = sp_dstream_new(ds->ctx, SP_NODE_REDUCE_ALL, ds, err);
    if (out == NULL)
        return NULL;
    out->u.reduce = o;
    struct spate_column_def cols[] = {{s->cols[o.value_col].name, vt}};
    return finish(out, cols, 1, err);
}

/* ---- Windows ---- */

void spate_window_opts_init(struct spate_window_opts *opts) {
    if (opts != NULL)
        memset(opts, 0, sizeof(*opts));
}

int64_t spate_dstream_slide_ms(const spate_dstream *ds) {
    return ds != NULL ? (int64_t)ds->slide_b * ds->ctx->opts.batch_interval_ms : 0;
}

/* Check a window's length and slide against ds; fills the batch counts. */
static bool check_window(spate_dstream *ds, const char *what, const struct spate_window_opts *wo,
                         struct sp_window_def *w, struct spate_error *err) {
    if (wo == NULL) {
        sp_error_set(err, EINVAL, "%s: window options are needed", what);
        return false;
    }
    int64_t parent_slide = spate_dstream_slide_ms(ds);
    int64_t slide = wo->slide_ms != 0 ? wo->slide_ms : parent_slide;
    int64_t interval = ds->ctx->opts.batch_interval_ms;
    if (wo->length_ms <= 0 || slide <= 0 || wo->length_ms % parent_slide != 0 ||
        slide % parent_slide != 0 || wo->length_ms / interval > 100000 ||
        slide / interval > 100000) {
        sp_error_set(err, EINVAL,
                     "%s: window length %" PRId64 " ms and slide %" PRId64
                     " ms must be positive multiples of the stream's slide (%" PRId64
                     " ms), at most 100000 batches",
                     what, wo->length_ms, slide, parent_slide);
        return false;
    }
    w->length_b = (uint32_t)(wo->length_ms / interval);
    w->slide_b = (uint32_t)(slide / interval);
    w->npanes = (uint32_t)(wo->length_ms / parent_slide);
    return true;
}

spate_dstream *spate_dstream_reduce_by_key_and_window(spate_dstream *ds,
                                                      const struct spate_reduce_opts *ro,
                                                      const struct spate_window_opts *wo,
                                                      struct spate_error *err) {
    const char *what = "reduce_by_key_and_window";
    if (!can_define(ds, what, err))
        return NULL;
    struct sp_window_def shape;
    memset(&shape, 0, sizeof(shape));
    if (!check_window(ds, what, wo, &shape, err))
        return NULL;
    struct spate_reduce_opts o;
    struct spate_column_def cols[SPATE_MAX_KEY_COLS + 1];
    uint32_t ncols;
    if (!check_reduce(ds, what, ro, &o, cols, &ncols, err))
        return NULL;
    bool avg = o.fn == NULL && o.agg == SPATE_AGG_AVG;
    if (wo->keep_fn != NULL && (o.num_key_cols > 0 || avg)) {
        sp_error_set(err, EINVAL,
                     "%s: keep_fn takes one key and a plain value: not available with a "
                     "composite key or AVG",
                     what);
        return NULL;
    }
    bool builtin_inverse = o.fn == NULL && (o.agg == SPATE_AGG_SUM || o.agg == SPATE_AGG_COUNT ||
                                            o.agg == SPATE_AGG_AVG);
    if (wo->use_inverse && !builtin_inverse && !(o.fn != NULL && wo->inv_fn != NULL)) {
        sp_error_set(err, EINVAL,
                     "%s: use_inverse needs SUM, COUNT or AVG, or a reduce function with inv_fn "
                     "(MIN and MAX have no inverse)",
                     what);
        return NULL;
    }
    spate_dstream *out = sp_dstream_new(ds->ctx, SP_NODE_REDUCE_WINDOW, ds, err);
    if (out == NULL)
        return NULL;
    struct sp_window_def *w = &out->u.window;
    *w = shape;
    w->reduce = o;
    w->inverse = wo->use_inverse;
    w->inv_fn = wo->inv_fn;
    w->inv_user = wo->inv_user;
    w->keep_fn = wo->keep_fn;
    w->keep_user = wo->keep_user;
    out->slide_b = w->slide_b;
    return finish(out, cols, ncols, err);
}

spate_dstream *spate_dstream_count_by_value_and_window(spate_dstream *ds,
                                                       const struct spate_window_opts *wo,
                                                       struct spate_error *err) {
    if (wo == NULL) {
        sp_error_set(err, EINVAL, "count_by_value_and_window: window options are needed");
        return NULL;
    }
    struct spate_reduce_opts ro;
    spate_reduce_opts_init(&ro);
    ro.key_col = 0;
    ro.agg = SPATE_AGG_COUNT;
    struct spate_window_opts w = *wo;
    w.use_inverse = true;
    spate_dstream *out = spate_dstream_reduce_by_key_and_window(ds, &ro, &w, err);
    if (out != NULL)
        out->u.window.drop_zero = true;
    return out;
}

spate_dstream *spate_dstream_window(spate_dstream *ds, const struct spate_window_opts *wo,
                                    struct spate_error *err) {
    if (!can_define(ds, "window", err))
        return NULL;
    struct sp_window_def w;
    memset(&w, 0, sizeof(w));
    if (!check_window(ds, "window", wo, &w, err))
        return NULL;
    spate_dstream *out = sp_dstream_new(ds->ctx, SP_NODE_WINDOW, ds, err);
    if (out == NULL)
        return NULL;
    out->u.window = w;
    out->slide_b = w.slide_b;
    return finish(out, ds->schema.cols, ds->schema.ncols, err);
}

spate_dstream *spate_dstream_count_by_window(spate_dstream *ds, const struct spate_window_opts *wo,
                                             struct spate_error *err) {
    const char *what = "count_by_window";
    if (!can_define(ds, what, err))
        return NULL;
    struct sp_window_def shape;
    memset(&shape, 0, sizeof(shape));
    if (!check_window(ds, what, wo, &shape, err))
        return NULL;
    spate_dstream *out = sp_dstream_new(ds->ctx, SP_NODE_REDUCE_WINDOW, ds, err);
    if (out == NULL)
        return NULL;
    struct sp_window_def *w = &out->u.window;
    *w = shape;
    spate_reduce_opts_init(&w->reduce);
    w->reduce.agg = SPATE_AGG_COUNT;
    w->inverse = true;
    w->keyless = true;
    out->slide_b = w->slide_b;
    struct spate_column_def cols[] = {{"count", SPATE_TYPE_I64}};
    return finish(out, cols, 1, err);
}

spate_dstream *spate_dstream_reduce_by_window(spate_dstream *ds, const struct spate_reduce_opts *ro,
                                              const struct spate_window_opts *wo,
                                              struct spate_error *err) {
    const char *what = "reduce_by_window";
    if (!can_define(ds, what, err))
        return NULL;
    struct sp_window_def w;
    memset(&w, 0, sizeof(w));
    if (!check_window(ds, what, wo, &w, err))
        return NULL;
    spate_reduce_opts_init(&w.reduce);
    if (ro != NULL)
        w.reduce = *ro;
    const struct sp_schema *s = &ds->schema;
    if (w.reduce.value_col >= s->ncols) {
        sp_error_set(err, EINVAL, "%s: no column %u", what, w.reduce.value_col);
        return NULL;
    }
    enum spate_type vt = s->cols[w.reduce.value_col].type;
    if (vt == SPATE_TYPE_TIMESTAMP)
        vt = SPATE_TYPE_I64;
    bool builtin =
        w.reduce.fn == NULL && (w.reduce.agg == SPATE_AGG_SUM || w.reduce.agg == SPATE_AGG_MIN ||
                                w.reduce.agg == SPATE_AGG_MAX);
    if ((w.reduce.fn == NULL && !builtin) ||
        (vt != SPATE_TYPE_I64 && !(vt == SPATE_TYPE_F64 && builtin))) {
        sp_error_set(err, EINVAL,
                     "%s: SUM, MIN or MAX of an i64 or f64 column, or a reduce function of an i64 "
                     "column",
                     what);
        return NULL;
    }
    if (wo->use_inverse && !(w.reduce.fn == NULL && w.reduce.agg == SPATE_AGG_SUM) &&
        !(w.reduce.fn != NULL && wo->inv_fn != NULL)) {
        sp_error_set(err, EINVAL,
                     "%s: use_inverse needs SUM, or a reduce function with inv_fn (MIN and MAX "
                     "have no inverse)",
                     what);
        return NULL;
    }
    spate_dstream *out = sp_dstream_new(ds->ctx, SP_NODE_REDUCE_WINDOW, ds, err);
    if (out == NULL)
        return NULL;
    w.inverse = wo->use_inverse;
    w.inv_fn = wo->inv_fn;
    w.inv_user = wo->inv_user;
    w.keyless = true;
    out->u.window = w;
    out->slide_b = w.slide_b;
    struct spate_column_def cols[] = {{s->cols[w.reduce.value_col].name, vt}};
    return finish(out, cols, 1, err);
}

/* ---- Grouping ---- */

void spate_group_opts_init(struct spate_group_opts *opts) {
    if (opts == NULL)
        return;
    memset(opts, 0, sizeof(*opts));
    opts->value_col = 1;
    opts->right_value = 1;
}

/* A column of s that group_by_key may group: it exists and is a scalar. */
static bool groupable(const struct sp_schema *s, uint32_t col) {
    return col < s->ncols && !SPATE_TYPE_IS_LIST(s->cols[col].type);
}

static spate_dstream *define_group(spate_dstream *left, spate_dstream *right,
                                   const struct spate_group_opts *opts, const char *what,
                                   struct spate_error *err) {
    if (!can_define(left, what, err))
        return NULL;
    struct spate_group_opts o;
    spate_group_opts_init(&o);
    if (opts != NULL)
        o = *opts;
    const struct sp_schema *ls = &left->schema;
    if (o.key_col >= ls->ncols || !is_key_type(ls->cols[o.key_col].type)) {
        sp_error_set(err, EINVAL, "%s: key column %u must exist and be a string or i64", what,
                     o.key_col);
        return NULL;
    }
    if (!groupable(ls, o.value_col) || o.value_col == o.key_col) {
        sp_error_set(err, EINVAL, "%s: value column %u must exist, not be the key, not be a list",
                     what, o.value_col);
        return NULL;
    }
    struct spate_column_def cols[3];
    cols[0] = ls->cols[o.key_col];
    cols[1].name = ls->cols[o.value_col].name;
    cols[1].type = SPATE_LIST_OF(ls->cols[o.value_col].type);
    uint32_t n = 2;
    if (right != NULL) {
        const struct sp_schema *rs = &right->schema;
        if (!keyed_pair_ok(left, o.key_col, right, o.right_key, what, err))
            return NULL;
        if (!groupable(rs, o.right_value) || o.right_value == o.right_key) {
            sp_error_set(err, EINVAL,
                         "%s: right value column %u must exist, not be the key, not be a list",
                         what, o.right_value);
            return NULL;
        }
        cols[2].name = rs->cols[o.right_value].name;
        cols[2].type = SPATE_LIST_OF(rs->cols[o.right_value].type);
        n = 3;
    }
    spate_dstream *out = sp_dstream_new(left->ctx, SP_NODE_GROUP, left, err);
    if (out == NULL)
        return NULL;
    out->u.group.right = right;
    out->u.group.key[0] = o.key_col;
    out->u.group.val[0] = o.value_col;
    out->u.group.key[1] = o.right_key;
    out->u.group.val[1] = o.right_value;
    return finish(out, cols, n, err);
}

spate_dstream *spate_dstream_group_by_key(spate_dstream *ds, const struct spate_group_opts *opts,
                                          struct spate_error *err) {
    return define_group(ds, NULL, opts, "group_by_key", err);
}

spate_dstream *spate_dstream_cogroup(spate_dstream *left, spate_dstream *right,
                                     const struct spate_group_opts *opts, struct spate_error *err) {
    if (left != NULL && right == NULL) {
        sp_error_set(err, EINVAL, "cogroup: the right stream is NULL");
        return NULL;
    }
    return define_group(left, right, opts, "cogroup", err);
}

spate_dstream *spate_dstream_group_by_key_and_window(spate_dstream *ds,
                                                     const struct spate_group_opts *opts,
                                                     const struct spate_window_opts *wo,
                                                     struct spate_error *err) {
    /* Check the grouping first, so that a bad column leaves no window node behind. */
    struct spate_group_opts o;
    spate_group_opts_init(&o);
    if (opts != NULL)
        o = *opts;
    if (ds != NULL &&
        (o.key_col >= ds->schema.ncols || !is_key_type(ds->schema.cols[o.key_col].type) ||
         !groupable(&ds->schema, o.value_col) || o.value_col == o.key_col)) {
        sp_error_set(err, EINVAL,
                     "group_by_key_and_window: key column %u must be a string or i64 and value "
                     "column %u a scalar column other than the key",
                     o.key_col, o.value_col);
        return NULL;
    }
    spate_dstream *w = spate_dstream_window(ds, wo, err);
    return w != NULL ? define_group(w, NULL, &o, "group_by_key_and_window", err) : NULL;
}

/* ---- combine_by_key ---- */

spate_dstream *spate_dstream_combine_by_key(spate_dstream *ds, uint32_t key_col,
                                            const struct spate_combiner *combiner,
                                            const struct spate_column_def *columns,
                                            uint32_t num_columns, struct spate_error *err) {
    const char *what = "combine_by_key";
    if (!can_define(ds, what, err))
        return NULL;
    if (combiner == NULL || combiner->create == NULL || combiner->merge_value == NULL ||
        combiner->merge_combiners == NULL || combiner->finish == NULL) {
        sp_error_set(err, EINVAL,
                     "%s: the combiner and its create, merge_value, merge_combiners and finish "
                     "functions are required",
                     what);
        return NULL;
    }
    if (combiner->state_size == 0 || combiner->state_size > 4096) {
        sp_error_set(err, EINVAL, "%s: state_size must be 1 to 4096 bytes (got %u)", what,
                     combiner->state_size);
        return NULL;
    }
    if (key_col >= ds->schema.ncols || !is_key_type(ds->schema.cols[key_col].type)) {
        sp_error_set(err, EINVAL, "%s: key column %u must exist and be a string or i64", what,
                     key_col);
        return NULL;
    }
    spate_dstream *out = sp_dstream_new(ds->ctx, SP_NODE_COMBINE, ds, err);
    if (out == NULL)
        return NULL;
    out->u.combine.c = *combiner;
    out->u.combine.key_col = key_col;
    return finish_values(out, what, key_col, columns, num_columns, err);
}

/* ---- parse_csv ---- */

void spate_csv_opts_init(struct spate_csv_opts *opts) {
    if (opts == NULL)
        return;
    memset(opts, 0, sizeof(*opts));
    opts->delimiter = ',';
}

spate_dstream *spate_dstream_parse_csv(spate_dstream *ds, const struct spate_column_def *columns,
                                       uint32_t num_columns, const struct spate_csv_opts *opts,
                                       struct spate_error *err) {
    const char *what = "parse_csv";
    if (!can_define(ds, what, err))
        return NULL;
    struct spate_csv_opts o;
    spate_csv_opts_init(&o);
    if (opts != NULL)
        o = *opts;
    if (o.col >= ds->schema.ncols || ds->schema.cols[o.col].type != SPATE_TYPE_STRING) {
        sp_error_set(err, EINVAL, "%s: column %u must exist and be a string (the line)", what,
                     o.col);
        return NULL;
    }
    if (o.delimiter == '"' || o.delimiter == '\r' || o.delimiter == '\n' || o.delimiter == '\0') {
        sp_error_set(err, EINVAL, "%s: the delimiter cannot be a quote, NUL or a line end", what);
        return NULL;
    }
    if (columns == NULL || num_columns == 0) {
        sp_error_set(err, EINVAL, "%s: at least one column is needed", what);
        return NULL;
    }
    if (sp_schema_no_lists(columns, num_columns, what, err) != SPATE_OK)
        return NULL;
    int fd;
    if (sp_dead_letter_open(o.dead_letter, what, &fd, err) != SPATE_OK)
        return NULL;
    spate_dstream *out = sp_dstream_new(ds->ctx, SP_NODE_PARSE_CSV, ds, err);
    if (out == NULL) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    out->u.csv.col = o.col;
    out->u.csv.delimiter = o.delimiter;
    out->u.csv.dead_fd = fd;
    return finish(out, columns, num_columns, err);
}

uint64_t spate_dstream_malformed(const spate_dstream *ds) {
    return ds != NULL && (ds->kind == SP_NODE_PARSE_CSV || ds->kind == SP_NODE_PARSE_BINARY)
               ? atomic_load(&ds->malformed)
               : 0;
}
