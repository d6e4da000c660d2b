/*
 * engine/dstream.c - defining streams: transformations and outputs.
 *
 * Invariant: the graph changes only while the context is INITIALIZED, on
 * the owner's thread; every definition call checks the state first and
 * says whether the context is started or stopped. Definition-time errors
 * (bad columns, bad types) fail here, not at start.
 */
#include "engine/context.h"
#include "engine/dstream.h"
#include "engine/mem.h"

#include <errno.h>

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
    ds->memo_time = INT64_MIN;
    return ds;
}

void sp_dstream_free_node(struct spate_dstream *ds) {
    if (ds->kind == SP_NODE_FILTER_STR && ds->u.filter_str.s != NULL)
        sp_mem_free(SP_MEM_DEFAULT_ARENA, ds->u.filter_str.s, ds->u.filter_str.len + 1);
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

spate_dstream *spate_dstream_map(spate_dstream *ds, const struct spate_column_def *columns,
                                 uint32_t num_columns, spate_map_fn fn, void *user,
                                 struct spate_error *err) {
    if (!can_define(ds, "map", err))
        return NULL;
    if (fn == NULL) {
        sp_error_set(err, EINVAL, "map: the function is NULL");
        return NULL;
    }
    spate_dstream *out = sp_dstream_new(ds->ctx, SP_NODE_MAP, ds, err);
    if (out == NULL)
        return NULL;
    out->u.map.fn = fn;
    out->u.map.user = user;
    return finish(out, columns, num_columns, err);
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
    if (!can_define(ds, "filter", err))
        return NULL;
    if (fn == NULL) {
        sp_error_set(err, EINVAL, "filter: the function is NULL");
        return NULL;
    }
    spate_dstream *out = sp_dstream_new(ds->ctx, SP_NODE_FILTER_FN, ds, err);
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

spate_dstream *spate_dstream_reduce_by_key(spate_dstream *ds, const struct spate_reduce_opts *opts,
                                           struct spate_error *err) {
    if (!can_define(ds, "reduce_by_key", err))
        return NULL;
    struct spate_reduce_opts o;
    spate_reduce_opts_init(&o);
    if (opts != NULL)
        o = *opts;
    const struct sp_schema *s = &ds->schema;
    if (o.key_col >= s->ncols || (s->cols[o.key_col].type != SPATE_TYPE_STRING &&
                                  s->cols[o.key_col].type != SPATE_TYPE_I64 &&
                                  s->cols[o.key_col].type != SPATE_TYPE_TIMESTAMP)) {
        sp_error_set(err, EINVAL,
                     "reduce_by_key: key column %u must exist and be a string or i64 column",
                     o.key_col);
        return NULL;
    }
    bool count = o.fn == NULL && o.agg == SPATE_AGG_COUNT;
    if (o.fn == NULL && (o.agg < SPATE_AGG_SUM || o.agg > SPATE_AGG_MAX)) {
        sp_error_set(err, EINVAL, "reduce_by_key: unknown aggregate %d", (int)o.agg);
        return NULL;
    }
    enum spate_type vt = SPATE_TYPE_I64;
    if (!count) {
        if (o.value_col >= s->ncols || o.value_col == o.key_col) {
            sp_error_set(err, EINVAL,
                         "reduce_by_key: value column %u must exist and differ from the key",
                         o.value_col);
            return NULL;
        }
        vt = s->cols[o.value_col].type;
        if (vt == SPATE_TYPE_TIMESTAMP)
            vt = SPATE_TYPE_I64;
        if (vt != SPATE_TYPE_I64 && !(vt == SPATE_TYPE_F64 && o.fn == NULL)) {
            sp_error_set(err, EINVAL,
                         "reduce_by_key: value column '%s' is %s; built-in aggregates take i64 "
                         "or f64, reduce functions i64",
                         s->cols[o.value_col].name, spate_type_name(s->cols[o.value_col].type));
            return NULL;
        }
    }
    spate_dstream *out = sp_dstream_new(ds->ctx, SP_NODE_REDUCE, ds, err);
    if (out == NULL)
        return NULL;
    out->u.reduce = o;
    struct spate_column_def cols[2] = {s->cols[o.key_col],
                                       {count ? "count" : s->cols[o.value_col].name, vt}};
    return finish(out, cols, 2, err);
}
