/*
 * engine/exec.c - stage 1 (fused narrow operators into a sink, per input
 * partition) and stage 2 (late merge of radix-partitioned partial
 * aggregates) for one batch, and the outputs that consume the results.
 *
 * Invariants: a task touches only its worker's state (regions, scratch,
 * partial tables) and its own output partition, so stage 1 needs no locks;
 * stage 2 reads other workers' partials only after the stage-1 barrier
 * (sp_pool_run returns). Every byte a batch allocates lives in a region
 * reset after the outputs, and string views point into memory that lives
 * as long (the input ring range, a queue item, or a region).
 */
#include "engine/exec.h"
#include "engine/arrow.h"
#include "engine/binary.h"
#include "engine/csv.h"
#include "engine/agg.h"
#include "engine/engine.h"
#include "engine/input.h"
#include "engine/mem.h"
#include "engine/output.h"
#include "engine/state.h"
#include "engine/window.h"
#include "engine/worker.h"
#include "kernels/kernels.h"
#include "engine/itab.h"
#include "kernels/window/pane.h"
#include "io/ring.h"

#include <errno.h>
#include <inttypes.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>

/* Scratch of one worker for one node: output buffers reused chunk after chunk. */
struct sp_level {
    struct sp_chunk *out;      /* full buffers with the node's schema */
    struct sp_chunk *hdr;      /* header only: filters and map_to_pair point it at other buffers */
    uint16_t *sel;             /* SPATE_CHUNK_ROWS */
    int64_t *constant;         /* map_to_pair: the value, SPATE_CHUNK_ROWS times */
    struct sp_csv_scratch csv; /* parse_csv: the fields of a chunk */
    struct sp_binary_scratch bin; /* parse_binary: the records of a chunk */
};

/* Sub-partitions of a radix partition for the scatter plan: 4 per stage-2 task. */
#define SP_AGG_SUB_BITS (SP_AGG_RADIX_BITS + 2)
#define SP_AGG_SUB (1u << SP_AGG_SUB_BITS)
/* Keys from which reduce_by_key scatters rows instead of pre-aggregating them per worker. */
#define SP_AGG_SCATTER_KEYS (1u << 17)

struct sp_wstate {
    alignas(64) struct sp_region persist; /* scratch, for the life of the context */
    struct sp_region batch;               /* this batch's results, reset after it */
    struct sp_level *levels;              /* by node id */
    uint32_t *starts, *lens;              /* tokenizer / line positions */
    uint64_t *hashes;
    uint32_t *gidx; /* user reduce: entries gathered */
    uint8_t *grad;  /* ... and their radix partitions */
    int64_t *gacc, *gval;
    uint32_t gcount;
    uint32_t stamp;
    uint64_t *hashes2; /* composite keys: a further key column's hashes (allocated on use) */
    struct sp_agg_table tables[SP_AGG_RADIX];
    struct sp_ctab {
        struct sp_agg_table t; /* key -> entry index = combiner index */
        char *states;          /* state_size bytes per entry */
        uint32_t cap;          /* states allocated */
        bool ready;
    } ctab[SP_AGG_RADIX];              /* combine_by_key: this batch's partial combiners */
    struct sp_itab itab[SP_AGG_RADIX]; /* i64-key COUNT / SUM partials (see sp_itab) */
    struct sp_kvbuf {
        uint32_t n, cap;
        struct sp_islot *kv;
    } kvbuf[SP_AGG_SUB]; /* ... or, with many keys, the rows by sub-partition (see merge_kv) */
    uint32_t last_in[SP_AGG_RADIX]; /* keys each itab ended with last time */
    uint32_t last_n[SP_AGG_RADIX];  /* keys each partial table ended with last time: the
                                       next table starts that big instead of growing again */
    uint64_t count;
    bool has_acc; /* reduce: the worker's partial result */
    union {
        int64_t i;
        double f;
    } acc;
    uint64_t lines;
    uint64_t range_lines[SP_CUT_ARRIVALS]; /* lines per arrival range of the cut counted */
    struct sp_queue_item *items;           /* flat_map output of this batch, freed with it */
    struct sp_scatter {
        uint32_t n, cap;
        uint64_t *hashes;
        struct spate_string *skeys; /* string keys, or */
        int64_t *ikeys;             /* i64 keys */
        int64_t *vals;
    } scatter[SP_AGG_RADIX]; /* update_state_by_key: rows by radix partition */
    struct sp_jbuf {
        uint32_t n, cap;
        struct sp_jref {
            const struct sp_chunk *chunk;
            uint32_t row;  /* physical row in chunk */
            uint32_t next; /* group/cogroup: next row of the same key, UINT32_MAX = none */
            uint64_t hash;
        } * refs;
    } jbuf[2][SP_AGG_RADIX]; /* join: row references by side and radix partition */
};

struct sp_exec {
    struct spate_context *ctx;
    const struct sp_kernels *k;
    struct sp_pool *pool;
    uint32_t nworkers;
    struct sp_wstate *ws;
    size_t ws_bytes;
    struct sp_region sched; /* the scheduler thread's region, per batch */
    pthread_mutex_t err_mu;
    _Atomic bool failed;
    spate_status err_code;
    struct spate_error err;
    struct sp_job *job;
    struct spate_batch **sources; /* per input, this batch */
    size_t sources_bytes;
    struct sp_window_state **windows; /* by node id: state of window nodes, else NULL */
    size_t windows_bytes;
    struct sp_state **states;        /* by node id: update_state_by_key / map_with_state tables */
    struct spate_batch **snaps;      /* by node id: a map_with_state node's snapshot this batch */
    struct sp_raw_window **raws;     /* by node id: window() state */
    struct sp_static_join **statics; /* by node id: hashed constant tables of broadcast joins */
    uint64_t *agg_keys; /* by node id: keys reduce_by_key output last batch (picks its plan) */
    bool agg_scatter;   /* the aggregation being set up scatters (no partial tables) */
    size_t agg_keys_bytes;
    struct sp_queue_item *items; /* rows transform functions appended this batch */
};

/* A writer appends to a transform's output batch, or (flat_map) pushes chunks down a chain. */
struct spate_batch_writer {
    struct sp_exec *ex;
    struct spate_batch *out;      /* transform, map_partitions: rows join out->parts[part] */
    struct sp_region *region;     /* ... whose chunk lists grow here */
    struct sp_queue_item **items; /* ... and whose copies are freed with the batch from here */
    struct chain_run *cr; /* flat_map: the chain, the worker, the partition, the next level */
    struct sp_wstate *ws;
    uint32_t part, level;
    const struct sp_schema *schema;
    /* flat_map_values: every appended row gets the key at row key_row of key_chunk */
    const struct sp_chunk *key_chunk;
    uint32_t key_col, key_row;
};

enum sink_kind { SINK_MATERIALIZE, SINK_COUNT, SINK_AGG, SINK_SCATTER, SINK_REDUCE };

struct chain_run {
    struct sp_exec *ex;
    const struct spate_batch *src;
    struct spate_dstream *base;      /* node whose batch src is */
    struct spate_dstream *chain[64]; /* narrow nodes, in order from base */
    uint32_t nchain;
    enum sink_kind sink;
    struct spate_batch *out;        /* materialize */
    const struct sp_schema *schema; /* schema reaching the sink */
    struct sp_agg_spec spec;        /* agg */
    uint32_t key_col, val_col;      /* agg */
    bool itab;    /* agg: i64 keys with COUNT or SUM of i64: the flat tables of sp_wstate.itab */
    bool scatter; /* ... and so many keys that rows are scattered, aggregated once in stage 2 */
    uint32_t node_id; /* agg: the reduce node */
    bool partial;     /* agg: emit a window pane's form (packed key; AVG as sum and count) */
};

static void record_error(struct sp_exec *ex, spate_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void record_error(struct sp_exec *ex, spate_status code, const char *fmt, ...) {
    pthread_mutex_lock(&ex->err_mu);
    if (!atomic_load(&ex->failed)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ex->err.message, sizeof(ex->err.message), fmt, ap);
        va_end(ap);
        ex->err_code = code;
        atomic_store(&ex->failed, true);
    }
    pthread_mutex_unlock(&ex->err_mu);
}

/* ---- Broadcast joins: a constant right side hashed once ---- */

struct sp_static_join {
    struct sp_region region;    /* everything below */
    struct sp_join_table table; /* the join kernels' table over keys */
    void *keys;                 /* the right side's keys, all rows in order (i64 or views) */
    bool is_string;
    /* The right side's non-key cells of every row, row after row (stride bytes: the values,
     * then one validity byte per column), so the output of a match reads one place instead
     * of following row -> chunk -> column, dependent loads that dominate once the table is
     * in DRAM. */
    char *payload;
    uint32_t stride;
    uint32_t ncols; /* non-key columns */
    uint32_t off[SP_MAX_COLUMNS], width[SP_MAX_COLUMNS];
};

static void static_join_free(struct sp_static_join *sj) {
    if (sj == NULL)
        return;
    sp_region_destroy(&sj->region);
    sp_mem_free(SP_MEM_DEFAULT_ARENA, sj, sizeof(*sj));
}

/* Hash the constant stream's rows by key (on the scheduler thread, at start): its rows are
 * numbered in order across chunks, and that number indexes the payload rows. */
static struct sp_static_join *static_join_build(struct sp_exec *ex, struct spate_dstream *ds) {
    struct sp_static_join *sj = sp_mem_zalloc(SP_MEM_DEFAULT_ARENA, sizeof(*sj), 64);
    if (sj == NULL)
        return NULL;
    sp_region_init(&sj->region, SP_MEM_DEFAULT_ARENA, 1 << 20);
    const struct sp_queue_item *item = ds->u.join.right->input->constant;
    uint32_t rkey = ds->u.join.opts.right_key;
    sj->is_string = ds->schema.cols[0].type == SPATE_TYPE_STRING;
    const struct sp_part *p = &item->batch->parts[0];
    uint32_t rows = 0;
    for (uint32_t c = 0; c < p->nchunks; c++)
        rows += p->chunks[c]->view.rows;
    size_t kw = sj->is_string ? sizeof(struct spate_string) : sizeof(int64_t);
    uint32_t nslots = sp_join_slots_for(rows);
    uint64_t *hashes = sp_region_alloc(&sj->region, sizeof(uint64_t) * (rows + 1), 64);
    uint64_t *valid = sp_region_alloc(&sj->region, sizeof(uint64_t) * (rows / 64 + 1), 64);
    uint32_t *scratch = sp_region_alloc(&sj->region, sizeof(uint32_t) * (rows + 1), 64);
    sj->keys = sp_region_alloc(&sj->region, kw * (rows + 1), 64);
    sj->table.perm = sp_region_alloc(&sj->region, sizeof(uint32_t) * (rows + 1), 64);
    sj->table.slots = sp_region_alloc(&sj->region, sizeof(struct sp_join_slot) * nslots, 64);
    sj->table.mask = nslots - 1;
    if (hashes == NULL || valid == NULL || scratch == NULL || sj->keys == NULL ||
        sj->table.perm == NULL || sj->table.slots == NULL)
        goto fail;
    /* The keys, their validity and hashes, dense over every row. */
    memset(valid, 0, sizeof(uint64_t) * (rows / 64 + 1));
    uint32_t at = 0;
    for (uint32_t c = 0; c < p->nchunks; c++) {
        const struct sp_chunk *ch = p->chunks[c];
        const struct spate_column_view *kc = &ch->cols[rkey];
        uint32_t n = ch->view.rows;
        memcpy((char *)sj->keys + kw * at, kc->data, kw * n);
        if (sj->is_string)
            ex->k->hash_str(kc->data, NULL, n, hashes + at);
        else
            ex->k->hash_i64(kc->data, NULL, n, hashes + at);
        for (uint32_t i = 0; i < n; i++)
            if (sp_valid(kc->validity, i))
                valid[(at + i) >> 6] |= 1ull << ((at + i) & 63);
        at += n;
    }
    if (sj->is_string)
        ex->k->join_build_str(&sj->table, sj->keys, valid, hashes, rows, scratch);
    else
        ex->k->join_build_i64(&sj->table, sj->keys, valid, hashes, rows, scratch);
    /* The payload rows. */
    const struct sp_schema *rs = &ds->u.join.right->schema;
    uint32_t width = 0;
    for (uint32_t c = 0; c < rs->ncols; c++) {
        if (c == rkey)
            continue;
        sj->width[sj->ncols] = (uint32_t)sp_type_width(rs->cols[c].type);
        sj->off[sj->ncols++] = width;
        width += sj->width[sj->ncols - 1];
    }
    sj->stride = width + sj->ncols;
    sj->payload = sp_region_alloc(&sj->region, (size_t)sj->stride * (rows ? rows : 1), 64);
    if (sj->payload == NULL)
        goto fail;
    at = 0;
    for (uint32_t ci = 0; ci < p->nchunks; ci++) {
        const struct sp_chunk *ch = p->chunks[ci];
        for (uint32_t i = 0; i < ch->view.rows; i++, at++) {
            char *row = sj->payload + (size_t)at * sj->stride;
            uint32_t k = 0;
            for (uint32_t c = 0; c < rs->ncols; c++) {
                if (c == rkey)
                    continue;
                const struct spate_column_view *cv = &ch->cols[c];
                memcpy(row + sj->off[k], (const char *)cv->data + sj->width[k] * i, sj->width[k]);
                row[width + k] = sp_valid(cv->validity, i);
                k++;
            }
        }
    }
    return sj;
fail:
    static_join_free(sj);
    return NULL;
}

/* ---- Set-up ---- */

/* Put a stateful node's initial (key, state) rows in its tables: present from batch 1. */
static bool load_initial_state(struct sp_exec *ex, struct spate_dstream *ds) {
    struct sp_state *st = ex->states[ds->id];
    const struct sp_queue_item *item = ds->initial;
    if (item == NULL)
        return true;
    bool is_string = ds->schema.cols[0].type == SPATE_TYPE_STRING;
    uint64_t hashes[SPATE_CHUNK_ROWS];
    const struct sp_part *part = &item->batch->parts[0];
    for (uint32_t c = 0; c < part->nchunks; c++) {
        const struct spate_chunk_view *v = &part->chunks[c]->view;
        const struct spate_column_view *kc = &v->columns[0], *sc = &v->columns[1];
        if (is_string)
            ex->k->hash_str(kc->data, NULL, v->rows, hashes);
        else
            ex->k->hash_i64(kc->data, NULL, v->rows, hashes);
        for (uint32_t i = 0; i < v->rows; i++) {
            if (!sp_valid(kc->validity, i) || !sp_valid(sc->validity, i))
                continue;
            struct sp_state_part *sp = &st->parts[sp_agg_radix(hashes[i])];
            if (!sp->ready[0]) {
                if (sp_agg_table_init(&sp->table[0], &sp->region[0], 64) != SPATE_OK)
                    return false;
                sp->ready[0] = true;
            }
            bool fresh;
            const struct spate_string *skey = &((const struct spate_string *)kc->data)[i];
            uint32_t idx =
                is_string
                    ? sp_agg_find_or_add_str(&sp->table[0], &sp->region[0], hashes[i], skey, &fresh)
                    : sp_agg_find_or_add_i64(&sp->table[0], &sp->region[0], hashes[i],
                                             ((const int64_t *)kc->data)[i], &fresh);
            if (idx == UINT32_MAX)
                return false;
            struct sp_agg_entry *e = &sp->table[0].entries[idx];
            if (fresh && is_string && !sp_window_own_string(&sp->region[0], skey, &e->key.s))
                return false;
            e->val.i = ((const int64_t *)sc->data)[i]; /* the last row of a key wins */
            e->stamp = 0;                              /* idle since batch 0 */
            e->pad_ = 0;                               /* alive */
        }
    }
    return true;
}

spate_status sp_exec_create(struct spate_context *ctx, struct sp_exec **out,
                            struct spate_error *err) {
    *out = NULL;
    spate_engine *eng = ctx->engine;
    struct sp_exec *ex = sp_mem_zalloc(SP_MEM_DEFAULT_ARENA, sizeof(*ex), 64);
    if (ex == NULL)
        return sp_error_set(err, ENOMEM, "out of memory setting up the context");
    ex->ctx = ctx;
    ex->k = eng->kernels;
    ex->pool = eng->pool;
    ex->nworkers = eng->workers;
    pthread_mutex_init(&ex->err_mu, NULL);
    sp_region_init(&ex->sched, SP_MEM_DEFAULT_ARENA, 1 << 20);
    ex->ws_bytes = sizeof(struct sp_wstate) * ex->nworkers;
    ex->ws = sp_mem_zalloc(SP_MEM_DEFAULT_ARENA, ex->ws_bytes, 64);
    ex->sources_bytes = sizeof(struct spate_batch *) * (ctx->ninputs + 1);
    ex->sources = sp_mem_zalloc(SP_MEM_DEFAULT_ARENA, ex->sources_bytes, 64);
    ex->windows_bytes = sizeof(struct sp_window_state *) * (ctx->nnodes + 1);
    ex->windows = sp_mem_zalloc(SP_MEM_DEFAULT_ARENA, ex->windows_bytes, 64);
    ex->states = sp_mem_zalloc(SP_MEM_DEFAULT_ARENA, ex->windows_bytes, 64);
    ex->snaps = sp_mem_zalloc(SP_MEM_DEFAULT_ARENA, ex->windows_bytes, 64);
    ex->raws = sp_mem_zalloc(SP_MEM_DEFAULT_ARENA, ex->windows_bytes, 64);
    ex->statics = sp_mem_zalloc(SP_MEM_DEFAULT_ARENA, ex->windows_bytes, 64);
    ex->agg_keys_bytes = sizeof(uint64_t) * (ctx->nnodes + 1);
    ex->agg_keys = sp_mem_zalloc(SP_MEM_DEFAULT_ARENA, ex->agg_keys_bytes, 64);
    if (ex->ws == NULL || ex->sources == NULL || ex->windows == NULL || ex->states == NULL ||
        ex->snaps == NULL || ex->raws == NULL || ex->statics == NULL || ex->agg_keys == NULL)
        goto oom;
    for (struct spate_dstream *ds = ctx->nodes; ds != NULL; ds = ds->next_in_ctx) {
        if (ds->kind != SP_NODE_JOIN_STATIC)
            continue;
        ex->statics[ds->id] = static_join_build(ex, ds);
        if (ex->statics[ds->id] == NULL)
            goto oom;
    }
    for (struct spate_dstream *ds = ctx->nodes; ds != NULL; ds = ds->next_in_ctx) {
        if (ds->kind != SP_NODE_WINDOW)
            continue;
        ex->raws[ds->id] = sp_raw_window_create(ds->u.window.npanes);
        if (ex->raws[ds->id] == NULL)
            goto oom;
    }
    for (struct spate_dstream *ds = ctx->nodes; ds != NULL; ds = ds->next_in_ctx) {
        if (ds->kind != SP_NODE_UPDATE_STATE && ds->kind != SP_NODE_MAP_STATE)
            continue;
        ex->states[ds->id] = sp_state_create();
        if (ex->states[ds->id] == NULL || !load_initial_state(ex, ds))
            goto oom;
    }
    for (struct spate_dstream *ds = ctx->nodes; ds != NULL; ds = ds->next_in_ctx) {
        if (ds->kind != SP_NODE_REDUCE_WINDOW)
            continue;
        ex->windows[ds->id] = sp_window_create(ds->u.window.npanes);
        if (ex->windows[ds->id] == NULL)
            goto oom;
    }
    for (uint32_t w = 0; w < ex->nworkers; w++) {
        struct sp_wstate *ws = &ex->ws[w];
        unsigned arena = sp_pool_arena(ex->pool, w);
        sp_region_init(&ws->persist, arena, 1 << 20);
        sp_region_init(&ws->batch, arena, 4 << 20);
        struct sp_region *r = &ws->persist;
        ws->levels = sp_region_alloc(r, sizeof(struct sp_level) * (ctx->nnodes + 1), 64);
        ws->starts = sp_region_alloc(r, sizeof(uint32_t) * SPATE_CHUNK_ROWS, 64);
        ws->lens = sp_region_alloc(r, sizeof(uint32_t) * SPATE_CHUNK_ROWS, 64);
        ws->hashes = sp_region_alloc(r, sizeof(uint64_t) * SPATE_CHUNK_ROWS, 64);
        ws->gidx = sp_region_alloc(r, sizeof(uint32_t) * SPATE_CHUNK_ROWS, 64);
        ws->grad = sp_region_alloc(r, SPATE_CHUNK_ROWS, 64);
        ws->gacc = sp_region_alloc(r, sizeof(int64_t) * SPATE_CHUNK_ROWS, 64);
        ws->gval = sp_region_alloc(r, sizeof(int64_t) * SPATE_CHUNK_ROWS, 64);
        if (!ws->levels || !ws->starts || !ws->lens || !ws->hashes || !ws->gidx || !ws->grad ||
            !ws->gacc || !ws->gval)
            goto oom;
        for (struct spate_dstream *ds = ctx->nodes; ds != NULL; ds = ds->next_in_ctx) {
            struct sp_level *lv = &ws->levels[ds->id];
            lv->out = sp_chunk_new(r, &ds->schema);
            lv->hdr = sp_chunk_new_header(r, &ds->schema);
            lv->sel = sp_region_alloc(r, sizeof(uint16_t) * SPATE_CHUNK_ROWS, 64);
            if (lv->out == NULL || lv->hdr == NULL || lv->sel == NULL)
                goto oom;
            if (ds->kind == SP_NODE_PARSE_CSV &&
                !sp_csv_scratch_init(&lv->csv, r, ds->schema.ncols))
                goto oom;
            if ((ds->kind == SP_NODE_ARITH || ds->kind == SP_NODE_CAST) &&
                sp_chunk_add_validity(r, lv->out, ds->schema.ncols - 1) == NULL)
                goto oom; /* the appended column's validity (arith: its nulls) */
            if (ds->kind == SP_NODE_PARSE_BINARY && !sp_binary_scratch_init(&lv->bin, r))
                goto oom;
            if (ds->kind == SP_NODE_MAP_TO_PAIR) {
                lv->constant = sp_region_alloc(r, sizeof(int64_t) * SPATE_CHUNK_ROWS, 64);
                if (lv->constant == NULL)
                    goto oom;
                for (uint32_t i = 0; i < SPATE_CHUNK_ROWS; i++)
                    lv->constant[i] = ds->u.pair.value;
            }
        }
    }
    *out = ex;
    return SPATE_OK;
oom:
    sp_exec_destroy(ex);
    return sp_error_set(err, ENOMEM, "out of memory setting up the context's workers");
}

void sp_exec_destroy(struct sp_exec *ex) {
    if (ex == NULL)
        return;
    if (ex->ws != NULL) {
        for (uint32_t w = 0; w < ex->nworkers; w++) {
            sp_region_destroy(&ex->ws[w].persist);
            sp_region_destroy(&ex->ws[w].batch);
        }
        sp_mem_free(SP_MEM_DEFAULT_ARENA, ex->ws, ex->ws_bytes);
    }
    sp_mem_free(SP_MEM_DEFAULT_ARENA, ex->sources, ex->sources_bytes);
    if (ex->windows != NULL) {
        for (struct spate_dstream *ds = ex->ctx->nodes; ds != NULL; ds = ds->next_in_ctx)
            sp_window_destroy(ex->windows[ds->id]);
        sp_mem_free(SP_MEM_DEFAULT_ARENA, ex->windows, ex->windows_bytes);
    }
    if (ex->states != NULL) {
        for (struct spate_dstream *ds = ex->ctx->nodes; ds != NULL; ds = ds->next_in_ctx)
            sp_state_destroy(ex->states[ds->id]);
        sp_mem_free(SP_MEM_DEFAULT_ARENA, ex->states, ex->windows_bytes);
    }
    sp_mem_free(SP_MEM_DEFAULT_ARENA, ex->snaps, ex->windows_bytes);
    sp_mem_free(SP_MEM_DEFAULT_ARENA, ex->agg_keys, ex->agg_keys_bytes);
    if (ex->statics != NULL) {
        for (struct spate_dstream *ds = ex->ctx->nodes; ds != NULL; ds = ds->next_in_ctx)
            static_join_free(ex->statics[ds->id]);
        sp_mem_free(SP_MEM_DEFAULT_ARENA, ex->statics, ex->windows_bytes);
    }
    if (ex->raws != NULL) {
        for (struct spate_dstream *ds = ex->ctx->nodes; ds != NULL; ds = ds->next_in_ctx)
            sp_raw_window_destroy(ex->raws[ds->id]);
        sp_mem_free(SP_MEM_DEFAULT_ARENA, ex->raws, ex->windows_bytes);
    }
    sp_region_destroy(&ex->sched);
    pthread_mutex_destroy(&ex->err_mu);
    sp_mem_free(SP_MEM_DEFAULT_ARENA, ex, sizeof(*ex));
}

/* ---- Sinks ---- */

/* Rows sel[0, rows) of column data s (width bytes a value) into dst, dense: the gather
 * kernels for 8- and 16-byte values, a copy loop for the rest (bool). */
static void gather_rows(const struct sp_kernels *k, char *dst, const char *s, size_t width,
                        const uint16_t *sel, uint32_t rows) {
    if (width == 8) {
        k->gather_u64((const uint64_t *)(const void *)s, sel, rows, (uint64_t *)(void *)dst);
    } else if (width == 16) {
        k->gather_str((const struct spate_string *)(const void *)s, sel, rows,
                      (struct spate_string *)(void *)dst);
    } else {
        for (uint32_t i = 0; i < rows; i++)
            memcpy(dst + width * i, s + width * (size_t)sel[i], width);
    }
}

/* Validity of rows sel[0, rows) (sel NULL: rows 0..rows) into the zeroed bitmap v, dense. */
static void compact_bits(const struct sp_kernels *k, uint64_t *v, const uint64_t *validity,
                         const uint16_t *sel, uint32_t rows) {
    if (sel != NULL) {
        k->compact_validity(validity, sel, rows, v);
        return;
    }
    memcpy(v, validity, sizeof(uint64_t) * ((rows + 63) / 64));
    if (rows % 64 != 0)
        v[rows / 64] &= (1ull << (rows % 64)) - 1; /* bits past the last row stay clear */
}

/* Copy the selected rows of in into a new dense chunk of partition part. */
static void sink_materialize(struct chain_run *cr, struct sp_wstate *ws, uint32_t part,
                             const struct sp_chunk *in) {
    uint32_t rows = in->view.rows;
    if (rows == 0)
        return;
    struct sp_chunk *c = sp_chunk_new(&ws->batch, cr->schema);
    if (c == NULL)
        goto oom;
    const uint16_t *sel = in->view.sel;
    for (uint32_t col = 0; col < cr->schema->ncols; col++) {
        const struct spate_column_view *src = &in->cols[col];
        size_t width = sp_type_width(src->type);
        char *dst = sp_col_data(c, col);
        const char *s = src->data;
        if (sel == NULL)
            memcpy(dst, s, width * rows);
        else
            gather_rows(cr->ex->k, dst, s, width, sel, rows);
        if (src->validity != NULL) {
            uint64_t *v = sp_chunk_add_validity(&ws->batch, c, col);
            if (v == NULL)
                goto oom;
            compact_bits(cr->ex->k, v, src->validity, sel, rows);
        }
    }
    c->view.rows = rows;
    if (sp_part_append(&ws->batch, &cr->out->parts[part], c) != SPATE_OK)
        goto oom;
    return;
oom:
    record_error(cr->ex, ENOMEM, "out of memory materializing a batch");
}

/* Apply the user reduce function to the gathered (entry, value) pairs. */
static void flush_gather(struct chain_run *cr, struct sp_wstate *ws, struct sp_agg_table *tables) {
    uint32_t m = ws->gcount;
    if (m == 0)
        return;
    for (uint32_t j = 0; j < m; j++)
        ws->gacc[j] = tables[ws->grad[j]].entries[ws->gidx[j]].val.i;
    cr->spec.fn(cr->spec.user, ws->gacc, ws->gval, m);
    for (uint32_t j = 0; j < m; j++)
        tables[ws->grad[j]].entries[ws->gidx[j]].val.i = ws->gacc[j];
    ws->gcount = 0;
    ws->stamp++;
}

/* Fold one value into an entry. */
static inline void fold(struct chain_run *cr, struct sp_wstate *ws, struct sp_agg_table *tables,
                        uint32_t radix, uint32_t idx, bool fresh, const void *vals, uint32_t phys,
                        bool count_only) {
    struct sp_agg_entry *e = &tables[radix].entries[idx];
    if (count_only) {
        e->val.i = (int64_t)((uint64_t)e->val.i + 1);
        return;
    }
    if (cr->spec.avg) { /* the sum in f64 (as Spark's avg), the count beside it */
        double v = cr->spec.value_is_f64 ? ((const double *)vals)[phys]
                                         : (double)((const int64_t *)vals)[phys];
        e->val.f = fresh ? v : e->val.f + v;
        sp_agg_set_count(e, sp_agg_count(e) + 1);
        return;
    }
    if (cr->spec.value_is_f64) {
        double v = ((const double *)vals)[phys];
        switch (cr->spec.agg) {
        case SPATE_AGG_MIN:
            e->val.f = fresh || v < e->val.f ? v : e->val.f;
            break;
        case SPATE_AGG_MAX:
            e->val.f = fresh || v > e->val.f ? v : e->val.f;
            break;
        default:
            e->val.f = fresh ? v : e->val.f + v;
            break;
        }
        return;
    }
    int64_t v = ((const int64_t *)vals)[phys];
    if (cr->spec.fn != NULL) {
        if (fresh) {
            e->val.i = v;
            e->stamp = ws->stamp; /* its value is already in the entry: not gathered */
            return;
        }
        if (e->stamp == ws->stamp) {
            flush_gather(cr, ws, tables);
            e = &tables[radix].entries[idx];
        }
        e->stamp = ws->stamp;
        uint32_t j = ws->gcount++;
        ws->gidx[j] = idx;
        ws->grad[j] = (uint8_t)radix;
        ws->gval[j] = v;
        if (ws->gcount == SPATE_CHUNK_ROWS)
            flush_gather(cr, ws, tables);
        return;
    }
    switch (cr->spec.agg) {
    case SPATE_AGG_MIN:
        e->val.i = fresh || v < e->val.i ? v : e->val.i;
        break;
    case SPATE_AGG_MAX:
        e->val.i = fresh || v > e->val.i ? v : e->val.i;
        break;
    default: /* sum wraps modulo 2^64, as Java's long does */
        e->val.i = (int64_t)((uint64_t)e->val.i + (uint64_t)v);
        break;
    }
}

/* The fast paths of sink_agg: no nulls, no user function, i64 SUM or COUNT. The
 * flags are constants at each call, so each specialization is a tight loop. */
enum agg_fast { FAST_COUNT, FAST_SUM_I64 };

static inline __attribute__((always_inline)) bool
agg_fast_rows(struct sp_wstate *ws, const struct sp_chunk *in, const void *keys,
              const int64_t *vals, const bool key_is_string, const enum agg_fast mode) {
    const uint16_t *sel = in->view.sel;
    uint32_t rows = in->view.rows;
    for (uint32_t i = 0; i < rows; i++) {
        uint32_t phys = sel != NULL ? sel[i] : i;
        uint64_t h = ws->hashes[i];
        struct sp_agg_table *t = &ws->tables[sp_agg_radix(h)];
        bool fresh;
        uint32_t idx =
            key_is_string
                ? sp_agg_find_or_add_str(t, &ws->batch, h,
                                         &((const struct spate_string *)keys)[phys], &fresh)
                : sp_agg_find_or_add_i64(t, &ws->batch, h, ((const int64_t *)keys)[phys], &fresh);
        if (idx == UINT32_MAX)
            return false;
        uint64_t add = mode == FAST_COUNT ? 1u : (uint64_t)vals[phys];
        t->entries[idx].val.i = (int64_t)((uint64_t)t->entries[idx].val.i + add);
    }
    return true;
}

/* The dense case (no selection, no nulls), COUNT or SUM: the tightest loop. */
static inline __attribute__((always_inline)) bool itab_dense(struct sp_wstate *ws, uint32_t rows,
                                                             const int64_t *restrict keys,
                                                             const int64_t *restrict vals,
                                                             const bool count) {
    const uint64_t *restrict hashes = ws->hashes;
    for (uint32_t i = 0; i < rows; i++) {
        if (!sp_itab_add(&ws->itab[sp_agg_radix(hashes[i])], &ws->batch, keys[i],
                         count ? 1u : (uint64_t)vals[i]))
            return false;
    }
    return true;
}

/* COUNT (vals NULL) or SUM of i64 values by i64 key into the worker's itabs; rows with a null
 * key or value are skipped. Returns false on ENOMEM. Not inlined: a function of its own keeps
 * the loop's registers (inlined into push it spilled to the stack at every row). */
static __attribute__((noinline)) bool itab_rows(struct sp_wstate *ws,
                                                const struct spate_chunk_view *in,
                                                const int64_t *keys, const uint64_t *kvalid,
                                                const int64_t *vals, const uint64_t *vvalid) {
    const uint16_t *sel = in->sel;
    if (sel == NULL && kvalid == NULL && (vals == NULL || vvalid == NULL))
        return vals == NULL ? itab_dense(ws, in->rows, keys, NULL, true)
                            : itab_dense(ws, in->rows, keys, vals, false);
    for (uint32_t i = 0; i < in->rows; i++) {
        uint32_t phys = sel != NULL ? sel[i] : i;
        if (!sp_valid(kvalid, phys) || (vals != NULL && !sp_valid(vvalid, phys)))
            continue;
        if (!sp_itab_add(&ws->itab[sp_agg_radix(ws->hashes[i])], &ws->batch, keys[phys],
                         vals != NULL ? (uint64_t)vals[phys] : 1u))
            return false;
    }
    return true;
}

/* The scatter plan's stage 1: (key, value) of every row with a valid key (and value) into the
 * worker's buffer of its sub-partition; value 1 for COUNT. Returns false on ENOMEM. */
static __attribute__((noinline)) bool kv_scatter_rows(struct sp_wstate *ws,
                                                      const struct spate_chunk_view *in,
                                                      const int64_t *keys, const uint64_t *kvalid,
                                                      const int64_t *vals, const uint64_t *vvalid) {
    const uint16_t *sel = in->sel;
    for (uint32_t i = 0; i < in->rows; i++) {
        uint32_t phys = sel != NULL ? sel[i] : i;
        if (!sp_valid(kvalid, phys) || (vals != NULL && !sp_valid(vvalid, phys)))
            continue;
        struct sp_kvbuf *b = &ws->kvbuf[ws->hashes[i] >> (64 - SP_AGG_SUB_BITS)];
        if (b->n == b->cap) {
            uint32_t cap = b->cap ? b->cap * 2 : 1024;
            struct sp_islot *kv = sp_region_alloc(&ws->batch, sizeof(*kv) * cap, 64);
            if (kv == NULL)
                return false;
            if (b->n > 0)
                memcpy(kv, b->kv, sizeof(*kv) * b->n);
            b->kv = kv;
            b->cap = cap;
        }
        b->kv[b->n++] = (struct sp_islot){keys[phys], vals != NULL ? vals[phys] : 1};
    }
    return true;
}

/* ---- Composite keys and AVG ---- */

/*
 * reduce_by_key with a composite key, stage 1: the key columns' hashes combined
 * (hash_i64 or hash_str per column, mixed by hash_combine), each row's key
 * packed into one string (see sp_agg_spec.nkeys) and folded into the generic
 * string-key tables. Rows with a null in any key column, or a null value
 * (but for COUNT), take no part. A packed key is built in a stack buffer and
 * copied into the batch's region only when it makes a new entry.
 */
static void sink_agg_multi(struct chain_run *cr, struct sp_wstate *ws, const struct sp_chunk *in) {
    const struct sp_agg_spec *spec = &cr->spec;
    const struct sp_kernels *k = cr->ex->k;
    uint32_t rows = in->view.rows;
    const uint16_t *sel = in->view.sel;
    if (ws->hashes2 == NULL && (ws->hashes2 = sp_region_alloc(
                                    &ws->persist, sizeof(uint64_t) * SPATE_CHUNK_ROWS, 64)) == NULL)
        goto oom;
    const struct spate_column_view *kcs[SPATE_MAX_KEY_COLS];
    for (uint32_t key_idx = 0; key_idx < spec->nkeys; key_idx++) {
        kcs[key_idx] = &in->cols[spec->key_cols[key_idx]];
        uint64_t *h = key_idx == 0 ? ws->hashes : ws->hashes2;
        if (spec->key_types[key_idx] == SPATE_TYPE_STRING)
            k->hash_str(kcs[key_idx]->data, sel, rows, h);
        else
            k->hash_i64(kcs[key_idx]->data, sel, rows, h);
        if (key_idx > 0)
            k->hash_combine(ws->hashes, ws->hashes2, rows);
    }
    bool count_only = spec->fn == NULL && spec->agg == SPATE_AGG_COUNT;
    const struct spate_column_view *vc = count_only ? NULL : &in->cols[cr->val_col];
    char buf[256]; /* packed keys up to this size need no allocation */
    for (uint32_t i = 0; i < rows; i++) {
        uint32_t phys = sel != NULL ? sel[i] : i;
        bool valid = vc == NULL || sp_valid(vc->validity, phys);
        size_t len = 0;
        for (uint32_t key_idx = 0; key_idx < spec->nkeys; key_idx++) {
            valid = valid && sp_valid(kcs[key_idx]->validity, phys);
            len += spec->key_types[key_idx] == SPATE_TYPE_STRING
                       ? 4 + (size_t)((const struct spate_string *)kcs[key_idx]->data)[phys].len
                       : 8;
        }
        if (!valid)
            continue; /* null keys form no group; null values take no part */
        char *p = len <= sizeof(buf) ? buf : sp_region_alloc(&ws->batch, len, 8);
        if (p == NULL)
            goto oom;
        char *at = p;
        for (uint32_t key_idx = 0; key_idx < spec->nkeys; key_idx++) {
            if (spec->key_types[key_idx] == SPATE_TYPE_STRING) {
                const struct spate_string *s =
                    &((const struct spate_string *)kcs[key_idx]->data)[phys];
                memcpy(at, &s->len, 4);
                memcpy(at + 4, sp_str_data(s), s->len);
                at += 4 + (size_t)s->len;
            } else {
                memcpy(at, (const int64_t *)kcs[key_idx]->data + phys, 8);
                at += 8;
            }
        }
        struct spate_string key;
        sp_string_view(&key, p, (uint32_t)len);
        uint64_t h = ws->hashes[i];
        uint32_t radix = sp_agg_radix(h);
        bool fresh;
        uint32_t idx = sp_agg_find_or_add_str(&ws->tables[radix], &ws->batch, h, &key, &fresh);
        if (idx == UINT32_MAX)
            goto oom;
        if (fresh && p == buf &&
            !sp_window_own_string(&ws->batch, &key, &ws->tables[radix].entries[idx].key.s))
            goto oom;
        fold(cr, ws, ws->tables, radix, idx, fresh, vc != NULL ? vc->data : NULL, phys, count_only);
    }
    if (spec->fn != NULL)
        flush_gather(cr, ws, ws->tables);
    return;
oom:
    record_error(cr->ex, ENOMEM, "out of memory in reduce_by_key");
}

/*
 * Write entry e as row row of chunk c. The final form: the key columns (a
 * composite key unpacked; long strings point into the packed key's bytes,
 * which live as long as the entry's key) and the value (AVG: sum / count,
 * null for a count of 0, which only an inverse window reaches). When partial,
 * a window pane's form: (key, value or AVG's sum, AVG's count). Returns false
 * on ENOMEM.
 */
static bool put_entry(const struct sp_agg_spec *spec, struct sp_region *rg, struct sp_chunk *c,
                      uint32_t row, const struct sp_agg_entry *e, bool partial) {
    uint32_t vcol = 1;
    if (spec->nkeys == 0 || partial) {
        if (spec->key_is_string)
            ((struct spate_string *)sp_col_data(c, 0))[row] = e->key.s;
        else
            ((int64_t *)sp_col_data(c, 0))[row] = e->key.i;
    } else {
        const char *p = sp_str_data(&e->key.s);
        for (uint32_t key_idx = 0; key_idx < spec->nkeys; key_idx++) {
            if (spec->key_types[key_idx] == SPATE_TYPE_STRING) {
                uint32_t len;
                memcpy(&len, p, 4);
                sp_string_view(&((struct spate_string *)sp_col_data(c, key_idx))[row], p + 4, len);
                p += 4 + (size_t)len;
            } else {
                memcpy((int64_t *)sp_col_data(c, key_idx) + row, p, 8);
                p += 8;
            }
        }
        vcol = spec->nkeys;
    }
    if (!spec->avg) {
        memcpy((int64_t *)sp_col_data(c, vcol) + row, &e->val, 8); /* i64 or f64 bits */
        return true;
    }
    uint64_t n = sp_agg_count(e);
    if (partial) {
        ((double *)sp_col_data(c, 1))[row] = e->val.f;
        ((int64_t *)sp_col_data(c, 2))[row] = (int64_t)n;
        return true;
    }
    ((double *)sp_col_data(c, vcol))[row] = n > 0 ? e->val.f / (double)n : 0.0;
    if (n > 0)
        return true;
    uint64_t *v = (uint64_t *)c->cols[vcol].validity;
    if (v == NULL) { /* the first null: every other row valid */
        if ((v = sp_chunk_add_validity(rg, c, vcol)) == NULL)
            return false;
        memset(v, 0xff, (SPATE_CHUNK_ROWS + 63) / 64 * 8);
    }
    v[row / 64] &= ~(1ull << (row % 64));
    return true;
}

static void sink_agg(struct chain_run *cr, struct sp_wstate *ws, const struct sp_chunk *in) {
    uint32_t rows = in->view.rows;
    if (rows == 0)
        return;
    if (cr->spec.nkeys > 0) {
        sink_agg_multi(cr, ws, in);
        return;
    }
    const struct spate_column_view *kc = &in->cols[cr->key_col];
    bool count_only = cr->spec.fn == NULL && cr->spec.agg == SPATE_AGG_COUNT;
    const struct spate_column_view *vc = count_only ? NULL : &in->cols[cr->val_col];
    const uint16_t *sel = in->view.sel;
    if (cr->spec.key_is_string)
        cr->ex->k->hash_str(kc->data, sel, rows, ws->hashes);
    else
        cr->ex->k->hash_i64(kc->data, sel, rows, ws->hashes);
    if (cr->scatter) {
        if (!kv_scatter_rows(ws, &in->view, kc->data, kc->validity, vc != NULL ? vc->data : NULL,
                             vc != NULL ? vc->validity : NULL))
            record_error(cr->ex, ENOMEM, "out of memory in reduce_by_key");
        return;
    }
    if (cr->itab) {
        if (!itab_rows(ws, &in->view, kc->data, kc->validity, vc != NULL ? vc->data : NULL,
                       vc != NULL ? vc->validity : NULL))
            record_error(cr->ex, ENOMEM, "out of memory in reduce_by_key");
        return;
    }
    bool sum_i64 = cr->spec.fn == NULL && cr->spec.agg == SPATE_AGG_SUM && !cr->spec.value_is_f64;
    if (kc->validity == NULL && (count_only || (sum_i64 && vc->validity == NULL))) {
        const int64_t *vals = vc != NULL ? vc->data : NULL;
        bool ok;
        if (cr->spec.key_is_string)
            ok = count_only ? agg_fast_rows(ws, in, kc->data, vals, true, FAST_COUNT)
                            : agg_fast_rows(ws, in, kc->data, vals, true, FAST_SUM_I64);
        else
            ok = count_only ? agg_fast_rows(ws, in, kc->data, vals, false, FAST_COUNT)
                            : agg_fast_rows(ws, in, kc->data, vals, false, FAST_SUM_I64);
        if (!ok)
            record_error(cr->ex, ENOMEM, "out of memory in reduce_by_key");
        return;
    }
    for (uint32_t i = 0; i < rows; i++) {
        uint32_t phys = sel != NULL ? sel[i] : i;
        if (!sp_valid(kc->validity, phys))
            continue; /* null keys form no group */
        if (vc != NULL && !sp_valid(vc->validity, phys))
            continue; /* null values do not take part */
        uint64_t h = ws->hashes[i];
        uint32_t radix = sp_agg_radix(h);
        bool fresh;
        uint32_t idx;
        if (cr->spec.key_is_string)
            idx = sp_agg_find_or_add_str(&ws->tables[radix], &ws->batch, h,
                                         &((const struct spate_string *)kc->data)[phys], &fresh);
        else
            idx = sp_agg_find_or_add_i64(&ws->tables[radix], &ws->batch, h,
                                         ((const int64_t *)kc->data)[phys], &fresh);
        if (idx == UINT32_MAX) {
            record_error(cr->ex, ENOMEM, "out of memory in reduce_by_key");
            return;
        }
        fold(cr, ws, ws->tables, radix, idx, fresh, vc != NULL ? vc->data : NULL, phys, count_only);
    }
    if (cr->spec.fn != NULL)
        flush_gather(cr, ws, ws->tables);
}

/* Grow a scatter buffer to room for at least need rows. */
static bool scatter_grow(struct sp_scatter *sc, struct sp_region *r, uint32_t need) {
    uint32_t cap = sc->cap ? sc->cap : 256;
    while (cap < need)
        cap *= 2;
    uint64_t *h = sp_region_alloc(r, sizeof(uint64_t) * cap, 64);
    struct spate_string *sk = sp_region_alloc(r, sizeof(struct spate_string) * cap, 64);
    int64_t *ik = sp_region_alloc(r, sizeof(int64_t) * cap, 64);
    int64_t *v = sp_region_alloc(r, sizeof(int64_t) * cap, 64);
    if (h == NULL || sk == NULL || ik == NULL || v == NULL)
        return false;
    if (sc->n > 0) {
        memcpy(h, sc->hashes, sizeof(uint64_t) * sc->n);
        memcpy(sk, sc->skeys, sizeof(struct spate_string) * sc->n);
        memcpy(ik, sc->ikeys, sizeof(int64_t) * sc->n);
        memcpy(v, sc->vals, sizeof(int64_t) * sc->n);
    }
    sc->hashes = h;
    sc->skeys = sk;
    sc->ikeys = ik;
    sc->vals = v;
    sc->cap = cap;
    return true;
}

/* update_state_by_key, stage 1: rows to the worker's buffer of their radix partition. */
static void sink_scatter(struct chain_run *cr, struct sp_wstate *ws, const struct sp_chunk *in) {
    uint32_t rows = in->view.rows;
    if (rows == 0)
        return;
    const struct spate_column_view *kc = &in->cols[cr->key_col];
    const struct spate_column_view *vc = &in->cols[cr->val_col];
    const uint16_t *sel = in->view.sel;
    if (cr->spec.key_is_string)
        cr->ex->k->hash_str(kc->data, sel, rows, ws->hashes);
    else
        cr->ex->k->hash_i64(kc->data, sel, rows, ws->hashes);
    for (uint32_t i = 0; i < rows; i++) {
        uint32_t phys = sel != NULL ? sel[i] : i;
        if (!sp_valid(kc->validity, phys) || !sp_valid(vc->validity, phys))
            continue;
        struct sp_scatter *sc = &ws->scatter[sp_agg_radix(ws->hashes[i])];
        if (sc->n == sc->cap && !scatter_grow(sc, &ws->batch, sc->n + 1)) {
            record_error(cr->ex, ENOMEM, "out of memory in update_state_by_key");
            return;
        }
        uint32_t j = sc->n++;
        sc->hashes[j] = ws->hashes[i];
        if (cr->spec.key_is_string)
            sc->skeys[j] = ((const struct spate_string *)kc->data)[phys];
        else
            sc->ikeys[j] = ((const int64_t *)kc->data)[phys];
        sc->vals[j] = ((const int64_t *)vc->data)[phys];
    }
}

/* a = a (+) b, both i64 or f64 bits: SUM (COUNT adds up too), MIN, MAX or the user's function. */
static void reduce_pair(const struct sp_agg_spec *spec, int64_t *a, const int64_t *b) {
    if (spec->fn != NULL) {
        spec->fn(spec->user, a, b, 1);
    } else if (spec->value_is_f64) {
        double x, y;
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        x = spec->agg == SPATE_AGG_MIN   ? (y < x ? y : x)
            : spec->agg == SPATE_AGG_MAX ? (y > x ? y : x)
                                         : x + y;
        memcpy(a, &x, 8);
    } else {
        *a = spec->agg == SPATE_AGG_MIN   ? (*b < *a ? *b : *a)
             : spec->agg == SPATE_AGG_MAX ? (*b > *a ? *b : *a)
                                          : (int64_t)((uint64_t)*a + (uint64_t)*b);
    }
}

/* reduce, stage 1: the chunk's valid values, reduced pairwise (the user's function gets whole
 * arrays: a[i] = f(a[i], b[i]) for half the values at a time), into the worker's result. */
static void sink_reduce(struct chain_run *cr, struct sp_wstate *ws, const struct sp_chunk *in) {
    const struct spate_column_view *vc = &in->cols[cr->val_col];
    int64_t *v = ws->gval; /* SPATE_CHUNK_ROWS values: i64 or f64 bits */
    uint32_t n = 0;
    for (uint32_t i = 0; i < in->view.rows; i++) {
        uint32_t phys = sp_chunk_row(&in->view, i);
        if (sp_valid(vc->validity, phys))
            memcpy(&v[n++], (const char *)vc->data + 8 * (size_t)phys, 8);
    }
    while (n > 1) {
        uint32_t half = n / 2;
        if (cr->spec.fn != NULL) {
            cr->spec.fn(cr->spec.user, v, v + (n - half), half);
        } else {
            for (uint32_t i = 0; i < half; i++)
                reduce_pair(&cr->spec, &v[i], &v[n - half + i]);
        }
        n -= half;
    }
    if (n == 0)
        return;
    if (!ws->has_acc) {
        memcpy(&ws->acc, &v[0], 8);
        ws->has_acc = true;
    } else {
        reduce_pair(&cr->spec, &ws->acc.i, &v[0]);
    }
}

/* ---- Fused narrow operators ---- */

static void push(struct chain_run *cr, struct sp_wstate *ws, uint32_t part, uint32_t level,
                 struct sp_chunk *in);

static void sink(struct chain_run *cr, struct sp_wstate *ws, uint32_t part, struct sp_chunk *in) {
    switch (cr->sink) {
    case SINK_MATERIALIZE:
        sink_materialize(cr, ws, part, in);
        break;
    case SINK_COUNT:
        ws->count += in->view.rows;
        break;
    case SINK_REDUCE:
        sink_reduce(cr, ws, in);
        break;
    case SINK_AGG:
        sink_agg(cr, ws, in);
        break;
    case SINK_SCATTER:
        sink_scatter(cr, ws, in);
        break;
    }
}

/* A header chunk that shares in's columns, with selection sel of rows rows. */
static struct sp_chunk *select_rows(struct sp_level *lv, const struct sp_chunk *in,
                                    const uint16_t *sel, uint32_t rows) {
    struct sp_chunk *h = lv->hdr;
    for (uint32_t c = 0; c < in->view.num_columns; c++)
        h->cols[c] = in->cols[c];
    h->view.rows = rows;
    h->view.sel = sel;
    return h;
}

/*
 * with_arith / with_cast: a header chunk sharing in's columns and selection, plus the computed
 * column in the level's buffer. The kernels run over the physical rows up to the last selected
 * one (rows outside the selection are computed and never read), so the selection carries over
 * unchanged. Arithmetic validity comes from the kernel (NULL when it found no null); a cast
 * keeps its operand's validity.
 */
static struct sp_chunk *append_computed(const struct sp_kernels *k, struct sp_level *lv,
                                        const struct spate_dstream *node,
                                        const struct sp_chunk *in) {
    struct sp_chunk *h = lv->hdr;
    uint32_t ncols = in->view.num_columns;
    uint32_t rows = in->view.rows;
    uint32_t phys = in->view.sel != NULL && rows > 0 ? in->view.sel[rows - 1] + 1u : rows;
    struct spate_column_view *dst = &h->cols[ncols];
    uint64_t *valid = (uint64_t *)(uintptr_t)lv->out->cols[ncols].validity;

    for (uint32_t c = 0; c < ncols; c++)
        h->cols[c] = in->cols[c];
    *dst = lv->out->cols[ncols];
    h->view.rows = rows;
    h->view.sel = in->view.sel;
    if (node->kind == SP_NODE_CAST) {
        const struct spate_column_view *src = &in->cols[node->u.cast.col];
        if (node->u.cast.to_f64)
            k->cast_i64_f64(src->data, phys, (double *)(uintptr_t)dst->data);
        else
            k->cast_f64_i64(src->data, phys, (int64_t *)(uintptr_t)dst->data);
        dst->validity = src->validity;
        return h;
    }
    const struct spate_column_view *a = &in->cols[node->u.arith.col_a];
    const struct spate_column_view *b =
        node->u.arith.literal ? NULL : &in->cols[node->u.arith.col_b];
    enum sp_arith op = (enum sp_arith)node->u.arith.op;
    uint32_t nulls;
    if (node->u.arith.f64) {
        double *out = (double *)(uintptr_t)dst->data;
        nulls =
            b != NULL
                ? k->arith_f64_col(a->data, a->validity, b->data, b->validity, phys, op, out, valid)
                : k->arith_f64_lit(a->data, a->validity, node->u.arith.kf, phys, op, out, valid);
    } else {
        int64_t *out = (int64_t *)(uintptr_t)dst->data;
        nulls =
            b != NULL
                ? k->arith_i64_col(a->data, a->validity, b->data, b->validity, phys, op, out, valid)
                : k->arith_i64_lit(a->data, a->validity, node->u.arith.ki, phys, op, out, valid);
    }
    dst->validity = nulls > 0 ? valid : NULL;
    return h;
}

static void flat_map_words(struct chain_run *cr, struct sp_wstate *ws, uint32_t part,
                           uint32_t level, struct spate_dstream *node, struct sp_chunk *in) {
    const struct sp_kernels *k = cr->ex->k;
    struct sp_chunk *out = ws->levels[node->id].out;
    struct spate_string *words = sp_col_data(out, 0);
    const struct spate_column_view *col = &in->cols[0];
    const struct spate_string *strs = col->data;
    out->view.rows = 0;
    for (uint32_t i = 0; i < in->view.rows; i++) {
        uint32_t phys = sp_chunk_row(&in->view, i);
        if (!sp_valid(col->validity, phys))
            continue;
        const char *data = sp_str_data(&strs[phys]);
        uint32_t len = strs[phys].len, off = 0;
        while (off < len) {
            uint32_t consumed = 0;
            uint32_t room = SPATE_CHUNK_ROWS - out->view.rows;
            uint32_t n =
                node->u.words.split
                    ? k->tokenize_set(data + off, len - off, &node->u.words.set, ws->starts,
                                      ws->lens, room, &consumed)
                    : k->tokenize_ws(data + off, len - off, ws->starts, ws->lens, room, &consumed);
            k->make_views(data + off, ws->starts, ws->lens, n, words + out->view.rows);
            out->view.rows += n;
            off += consumed;
            if (out->view.rows == SPATE_CHUNK_ROWS) {
                push(cr, ws, part, level + 1, out);
                out->view.rows = 0;
            }
            if (n == 0 && consumed == 0)
                break; /* cannot happen with room > 0; guards against a loop */
        }
    }
    if (out->view.rows > 0)
        push(cr, ws, part, level + 1, out);
}

/* Copy one value of width w with fixed-size moves (a memcpy of a variable size is a libc call
 * per cell, which dominated joins' output). */
static inline void copy_value(char *dst, const char *src, size_t w) {
    switch (w) {
    case 8:
        memcpy(dst, src, 8);
        break;
    case 16:
        memcpy(dst, src, 16);
        break;
    case 1:
        *dst = *src;
        break;
    default:
        memcpy(dst, src, w);
        break;
    }
}

/* Rows r0 .. r0 + n - 1 of column dcol of dst = the cells (and nulls) of column scol of src at
 * rows idx[0, n): one column at a time, the copy's width chosen once, not per cell. */
static void put_cells(struct sp_chunk *dst, uint32_t dcol, uint32_t r0, const struct sp_chunk *src,
                      uint32_t scol, const uint32_t *idx, uint32_t n) {
    const struct spate_column_view *c = &src->cols[scol];
    size_t w = sp_type_width(c->type);
    char *d = (char *)sp_col_data(dst, dcol) + w * r0;
    const char *s = c->data;
    if (w == 8)
        for (uint32_t m = 0; m < n; m++)
            memcpy(d + 8 * m, s + 8 * (size_t)idx[m], 8);
    else if (w == 16)
        for (uint32_t m = 0; m < n; m++)
            memcpy(d + 16 * m, s + 16 * (size_t)idx[m], 16);
    else
        for (uint32_t m = 0; m < n; m++)
            copy_value(d + w * m, s + w * idx[m], w);
    uint64_t *v = (uint64_t *)(uintptr_t)dst->cols[dcol].validity;
    for (uint32_t m = 0; m < n; m++) {
        uint32_t row = r0 + m;
        uint64_t bit = 1ull << (row & 63);
        if (sp_valid(c->validity, idx[m]))
            v[row >> 6] |= bit;
        else
            v[row >> 6] &= ~bit;
    }
}

/* Probe the hashed constant table with every row of in (the join kernels give the pairs of
 * rows that match); the records go on down the chain. */
static void static_join_push(struct chain_run *cr, struct sp_wstate *ws, uint32_t part,
                             uint32_t level, struct spate_dstream *node, struct sp_chunk *in) {
    const struct sp_static_join *sj = cr->ex->statics[node->id];
    const struct sp_kernels *kn = cr->ex->k;
    struct sp_chunk *out = ws->levels[node->id].out;
    const struct spate_join_opts *o = &node->u.join.opts;
    const struct sp_schema *ls = &node->parent->schema, *rs = &node->u.join.right->schema;
    const struct spate_column_view *kc = &in->cols[o->left_key];
    uint32_t rows = in->view.rows;
    const uint16_t *sel = in->view.sel;
    /* Own arrays, not ws->hashes: a full output goes down the chain mid-probe, and the
     * operators there hash into ws->hashes. */
    uint64_t hashes[SPATE_CHUNK_ROWS];
    uint32_t pidx[SPATE_CHUNK_ROWS], bidx[SPATE_CHUNK_ROWS];
    if (sj->is_string)
        kn->hash_str(kc->data, sel, rows, hashes);
    else
        kn->hash_i64(kc->data, sel, rows, hashes);
    /* Validity for every output column, from the persistent scratch (set per row). */
    for (uint32_t c = 0; c < out->view.num_columns; c++)
        if (out->cols[c].validity == NULL && sp_chunk_add_validity(&ws->persist, out, c) == NULL) {
            record_error(cr->ex, ENOMEM, "out of memory in join");
            return;
        }
    out->view.rows = 0;
    out->view.sel = NULL;
    bool left = o->kind == SPATE_JOIN_LEFT; /* unmatched rows too, with null right cells */
    struct sp_join_cursor cur = {0, 0};
    while (cur.pos < rows) {
        if (out->view.rows == SPATE_CHUNK_ROWS) {
            push(cr, ws, part, level + 1, out);
            out->view.rows = 0;
        }
        uint32_t room = SPATE_CHUNK_ROWS - out->view.rows;
        uint32_t np = sj->is_string
                          ? kn->join_probe_str(&sj->table, kc->data, kc->validity, sel, hashes,
                                               rows, left, pidx, bidx, room, &cur, NULL, NULL)
                          : kn->join_probe_i64(&sj->table, kc->data, kc->validity, sel, hashes,
                                               rows, left, pidx, bidx, room, &cur, NULL, NULL);
        /* The left side's cells, a column at a time; then the right side's from the payload
         * rows, a record at a time (one payload row is one place to read). */
        uint32_t r0 = out->view.rows, col = 0;
        put_cells(out, col++, r0, in, o->left_key, pidx, np);
        for (uint32_t c = 0; c < ls->ncols; c++)
            if (c != o->left_key)
                put_cells(out, col++, r0, in, c, pidx, np);
        uint32_t rcol0 = col;
        for (uint32_t m = 0; m < np; m++) {
            uint32_t row = r0 + m;
            col = rcol0;
            const char *prow =
                bidx[m] != SP_JOIN_NONE ? sj->payload + (size_t)bidx[m] * sj->stride : NULL;
            uint32_t k = 0;
            for (uint32_t c = 0; c < rs->ncols; c++) {
                if (c == o->right_key)
                    continue;
                if (prow != NULL) {
                    size_t w = sj->width[k];
                    copy_value((char *)sp_col_data(out, col) + w * row, prow + sj->off[k], w);
                    uint64_t *v = (uint64_t *)(uintptr_t)out->cols[col].validity;
                    if (prow[sj->stride - sj->ncols + k])
                        v[row >> 6] |= 1ull << (row & 63);
                    else
                        v[row >> 6] &= ~(1ull << (row & 63));
                    col++;
                    k++;
                } else { /* left join, no match: null */
                    size_t w = sp_type_width(rs->cols[c].type);
                    memset((char *)sp_col_data(out, col) + w * row, 0, w);
                    uint64_t *v = (uint64_t *)(uintptr_t)out->cols[col].validity;
                    v[row >> 6] &= ~(1ull << (row & 63));
                    col++;
                }
            }
        }
        out->view.rows = r0 + np;
    }
    if (out->view.rows > 0)
        push(cr, ws, part, level + 1, out);
}

/* Column dcol of dst (rows dense) = column scol of src's logical rows, validity too. */
static bool gather_column(const struct sp_kernels *k, struct sp_region *r, struct sp_chunk *dst,
                          uint32_t dcol, const struct sp_chunk *src, uint32_t scol) {
    const struct spate_column_view *c = &src->cols[scol];
    size_t width = sp_type_width(c->type);
    char *d = sp_col_data(dst, dcol);
    const char *from = c->data;
    uint32_t rows = src->view.rows;
    if (src->view.sel == NULL)
        memcpy(d, from, width * rows);
    else
        gather_rows(k, d, from, width, src->view.sel, rows);
    if (c->validity == NULL)
        return true;
    /* The level's chunk has no validity buffer of its own: borrow or build one. */
    if (src->view.sel == NULL) {
        dst->cols[dcol].validity = c->validity;
        return true;
    }
    uint64_t *v = sp_region_alloc(r, sizeof(uint64_t) * ((rows + 63) / 64), 64);
    if (v == NULL)
        return false;
    k->compact_validity(c->validity, src->view.sel, rows, v);
    dst->cols[dcol].validity = v;
    return true;
}

static void push(struct chain_run *cr, struct sp_wstate *ws, uint32_t part, uint32_t level,
                 struct sp_chunk *in) {
    if (atomic_load_explicit(&cr->ex->failed, memory_order_relaxed))
        return;
    if (level == cr->nchain) {
        sink(cr, ws, part, in);
        return;
    }
    struct spate_dstream *node = cr->chain[level];
    struct sp_level *lv = &ws->levels[node->id];
    const struct sp_kernels *k = cr->ex->k;
    switch (node->kind) {
    case SP_NODE_FLAT_MAP_WORDS:
        flat_map_words(cr, ws, part, level, node, in);
        return;
    case SP_NODE_MAP: {
        struct sp_chunk *out = lv->out;
        for (uint32_t c = 0; c < out->view.num_columns; c++)
            out->cols[c].validity = NULL;
        out->view.rows = in->view.rows;
        out->view.sel = NULL;
        struct spate_chunk_builder b = {.chunk = out,
                                        .region = &ws->batch,
                                        .rows = in->view.rows,
                                        .col_base = node->u.map.values ? 1 : 0,
                                        .oom = false};
        if (node->u.map.values && !gather_column(k, &ws->batch, out, 0, in, node->u.map.key_col)) {
            record_error(cr->ex, ENOMEM, "out of memory in map_values");
            return;
        }
        struct spate_error e;
        e.message[0] = '\0';
        spate_status rc = node->u.map.fn(node->u.map.user, &in->view, &b, &e);
        if (rc != SPATE_OK) {
            record_error(cr->ex, rc, "map function failed: %s",
                         e.message[0] ? e.message : strerror(rc));
            return;
        }
        if (b.oom) {
            record_error(cr->ex, ENOMEM, "out of memory in a map function's output");
            return;
        }
        push(cr, ws, part, level + 1, out);
        return;
    }
    case SP_NODE_FLAT_MAP: {
        struct spate_batch_writer w = {.ex = cr->ex,
                                       .cr = cr,
                                       .ws = ws,
                                       .part = part,
                                       .level = level,
                                       .schema = &node->schema};
        struct spate_error e;
        e.message[0] = '\0';
        spate_status rc = node->u.flat_map.fn(node->u.flat_map.user, &in->view, &w, &e);
        if (rc != SPATE_OK)
            record_error(cr->ex, rc, "flat_map function failed: %s",
                         e.message[0] ? e.message : strerror(rc));
        return;
    }
    case SP_NODE_PARSE_CSV:
        if (!sp_csv_parse_chunk(node, k, &lv->csv, &ws->batch, in, lv->out)) {
            record_error(cr->ex, ENOMEM, "out of memory in parse_csv");
            return;
        }
        if (lv->out->view.rows > 0)
            push(cr, ws, part, level + 1, lv->out);
        return;
    case SP_NODE_PARSE_BINARY:
        if (!sp_binary_parse_chunk(node, k, &lv->bin, &ws->batch, in, lv->out)) {
            record_error(cr->ex, ENOMEM, "out of memory in parse_binary");
            return;
        }
        if (lv->out->view.rows > 0)
            push(cr, ws, part, level + 1, lv->out);
        return;
    case SP_NODE_FLAT_MAP_VALUES: {
        struct spate_batch_writer w = {.ex = cr->ex,
                                       .cr = cr,
                                       .ws = ws,
                                       .part = part,
                                       .level = level,
                                       .schema = &node->schema,
                                       .key_chunk = in,
                                       .key_col = node->u.fmv.key_col};
        struct spate_error e;
        e.message[0] = '\0';
        for (uint32_t i = 0; i < in->view.rows; i++) {
            w.key_row = sp_chunk_row(&in->view, i);
            spate_status rc = node->u.fmv.fn(node->u.fmv.user, &in->view, i, &w, &e);
            if (rc != SPATE_OK) {
                record_error(cr->ex, rc, "flat_map_values function failed: %s",
                             e.message[0] ? e.message : strerror(rc));
                return;
            }
            if (atomic_load_explicit(&cr->ex->failed, memory_order_relaxed))
                return;
        }
        return;
    }
    case SP_NODE_JOIN_STATIC:
        static_join_push(cr, ws, part, level, node, in);
        return;
    case SP_NODE_SELECT: {
        struct sp_chunk *h = lv->hdr;
        for (uint32_t c = 0; c < node->u.select.n; c++)
            h->cols[c] = in->cols[node->u.select.cols[c]];
        h->view.rows = in->view.rows;
        h->view.sel = in->view.sel;
        push(cr, ws, part, level + 1, h);
        return;
    }
    case SP_NODE_MAP_TO_PAIR: {
        struct sp_chunk *h = lv->hdr;
        h->cols[0] = in->cols[node->u.pair.key_col];
        h->cols[1].type = SPATE_TYPE_I64;
        h->cols[1].data = lv->constant;
        h->cols[1].validity = NULL;
        h->view.rows = in->view.rows;
        h->view.sel = in->view.sel;
        push(cr, ws, part, level + 1, h);
        return;
    }
    case SP_NODE_FILTER_FN: {
        uint32_t m = node->u.filter_fn.fn(node->u.filter_fn.user, &in->view, lv->sel);
        if (m > in->view.rows) {
            record_error(cr->ex, EINVAL, "filter function returned %u rows of %u", m,
                         in->view.rows);
            return;
        }
        for (uint32_t j = 0; j < m; j++) {
            if (lv->sel[j] >= in->view.rows || (j > 0 && lv->sel[j] <= lv->sel[j - 1])) {
                record_error(cr->ex, EINVAL,
                             "filter function wrote row %u at %u: rows must be ascending and "
                             "below %u",
                             lv->sel[j], j, in->view.rows);
                return;
            }
        }
        if (in->view.sel != NULL)
            for (uint32_t j = 0; j < m; j++)
                lv->sel[j] = in->view.sel[lv->sel[j]];
        if (m > 0)
            push(cr, ws, part, level + 1, select_rows(lv, in, lv->sel, m));
        return;
    }
    case SP_NODE_FILTER_I64: {
        const struct spate_column_view *c = &in->cols[node->u.filter_i64.col];
        uint32_t m = k->filter_cmp_i64(c->data, c->validity, in->view.sel, in->view.rows,
                                       (enum sp_cmp)node->u.filter_i64.op,
                                       node->u.filter_i64.literal, lv->sel);
        if (m > 0)
            push(cr, ws, part, level + 1, select_rows(lv, in, lv->sel, m));
        return;
    }
    case SP_NODE_FILTER_STR: {
        const struct spate_column_view *c = &in->cols[node->u.filter_str.col];
        uint32_t m = k->filter_eq_str(c->data, c->validity, in->view.sel, in->view.rows,
                                      node->u.filter_str.s, node->u.filter_str.len,
                                      node->u.filter_str.prefix, lv->sel);
        if (m > 0)
            push(cr, ws, part, level + 1, select_rows(lv, in, lv->sel, m));
        return;
    }
    case SP_NODE_FILTER_F64: {
        const struct spate_column_view *c = &in->cols[node->u.filter_f64.col];
        uint32_t m = k->filter_cmp_f64(c->data, c->validity, in->view.sel, in->view.rows,
                                       (enum sp_cmp)node->u.filter_f64.op,
                                       node->u.filter_f64.literal, lv->sel);
        if (m > 0)
            push(cr, ws, part, level + 1, select_rows(lv, in, lv->sel, m));
        return;
    }
    case SP_NODE_FILTER_COLS: {
        const struct spate_column_view *a = &in->cols[node->u.filter_cols.col_a];
        const struct spate_column_view *b = &in->cols[node->u.filter_cols.col_b];
        enum sp_cmp op = (enum sp_cmp)node->u.filter_cols.op;
        uint32_t m = node->u.filter_cols.f64
                         ? k->filter_cmp_f64_col(a->data, a->validity, b->data, b->validity,
                                                 in->view.sel, in->view.rows, op, lv->sel)
                         : k->filter_cmp_i64_col(a->data, a->validity, b->data, b->validity,
                                                 in->view.sel, in->view.rows, op, lv->sel);
        if (m > 0)
            push(cr, ws, part, level + 1, select_rows(lv, in, lv->sel, m));
        return;
    }
    case SP_NODE_ARITH:
    case SP_NODE_CAST:
        push(cr, ws, part, level + 1, append_computed(k, lv, node, in));
        return;
    default:
        record_error(cr->ex, EINVAL, "internal: node kind %d is not narrow", (int)node->kind);
        return;
    }
}

/* Text partition straight into the tokenizer: words never become lines first. */
static void text_words(struct chain_run *cr, struct sp_wstate *ws, uint32_t part, const char *text,
                       uint64_t len64) {
    const struct sp_kernels *k = cr->ex->k;
    struct spate_dstream *node = cr->chain[0];
    struct sp_chunk *out = ws->levels[node->id].out;
    struct spate_string *words = sp_col_data(out, 0);
    uint32_t len = (uint32_t)len64, off = 0;
    while (off < len) {
        uint32_t consumed = 0;
        uint32_t n = k->tokenize_ws(text + off, len - off, ws->starts, ws->lens, SPATE_CHUNK_ROWS,
                                    &consumed);
        k->make_views(text + off, ws->starts, ws->lens, n, words);
        out->view.rows = n;
        out->view.sel = NULL;
        if (n > 0)
            push(cr, ws, part, 1, out);
        if (consumed == 0)
            break;
        off += consumed;
    }
}

/* Text partition into line records (column "value"); "\r\n" is one line end. */
static void text_lines(struct chain_run *cr, struct sp_wstate *ws, uint32_t part, const char *text,
                       uint64_t len64) {
    const struct sp_kernels *k = cr->ex->k;
    struct sp_chunk *out = ws->levels[cr->base->id].out;
    struct spate_string *lines = sp_col_data(out, 0);
    uint32_t len = (uint32_t)len64, off = 0;
    while (off < len) {
        uint32_t consumed = 0;
        uint32_t n =
            k->find_newlines(text + off, len - off, ws->starts, SPATE_CHUNK_ROWS, &consumed);
        if (n == 0) {
            /* Bytes after the last '\n': cannot come from a receiver, kept as a line. */
            ws->starts[0] = 0;
            ws->lens[0] = len - off;
            k->make_views(text + off, ws->starts, ws->lens, 1, lines);
            out->view.rows = 1;
            out->view.sel = NULL;
            push(cr, ws, part, 0, out);
            break;
        }
        uint32_t prev = 0;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t end = ws->starts[i];
            uint32_t l = end - prev;
            if (l > 0 && text[off + end - 1] == '\r')
                l--;
            ws->starts[i] = prev;
            ws->lens[i] = l;
            prev = end + 1;
        }
        k->make_views(text + off, ws->starts, ws->lens, n, lines);
        out->view.rows = n;
        out->view.sel = NULL;
        push(cr, ws, part, 0, out);
        off += consumed;
    }
}

/* Binary partition into records of rb bytes (column "value"), views into the ring. */
static void text_records(struct chain_run *cr, struct sp_wstate *ws, uint32_t part,
                         const char *text, uint64_t len, uint32_t rb) {
    const struct sp_kernels *k = cr->ex->k;
    struct sp_chunk *out = ws->levels[cr->base->id].out;
    struct spate_string *recs = sp_col_data(out, 0);
    uint64_t total = len / rb;
    for (uint64_t first = 0; first < total; first += SPATE_CHUNK_ROWS) {
        uint32_t n =
            (uint32_t)(total - first < SPATE_CHUNK_ROWS ? total - first : SPATE_CHUNK_ROWS);
        for (uint32_t i = 0; i < n; i++) {
            ws->starts[i] = i * rb;
            ws->lens[i] = rb;
        }
        k->make_views(text + first * rb, ws->starts, ws->lens, n, recs);
        out->view.rows = n;
        out->view.sel = NULL;
        push(cr, ws, part, 0, out);
    }
}

static void chain_task(void *arg, uint32_t part, uint32_t worker) {
    struct chain_run *cr = arg;
    struct sp_wstate *ws = &cr->ex->ws[worker];
    const struct sp_part *p = &cr->src->parts[part];
    if (cr->src->text && cr->src->record_bytes > 0) {
        text_records(cr, ws, part, p->text, p->text_len, cr->src->record_bytes);
        return;
    }
    if (cr->src->text) {
        /* Whitespace words straight from the text ('\n' separates them too); split words go
         * line by line, so that a word never spans two lines. */
        if (cr->nchain > 0 && cr->chain[0]->kind == SP_NODE_FLAT_MAP_WORDS &&
            !cr->chain[0]->u.words.split)
            text_words(cr, ws, part, p->text, p->text_len);
        else
            text_lines(cr, ws, part, p->text, p->text_len);
        return;
    }
    for (uint32_t c = 0; c < p->nchunks; c++)
        push(cr, ws, part, 0, p->chunks[c]);
}

/* ---- Stage 2: late merge of partial aggregates ---- */

/* Emit the keys of itab t as (key, value) chunks of partition r of out. */
static bool itab_emit(const struct sp_itab *t, struct sp_region *rg, struct spate_batch *out,
                      uint32_t r) {
    struct sp_chunk *c = NULL;
    for (uint32_t s = 0; s <= t->mask + 1; s++) {
        bool last = s == t->mask + 1;
        int64_t key, val;
        if (!last && t->slots[s].key != SP_ITAB_EMPTY) {
            key = t->slots[s].key;
            val = t->slots[s].val;
        } else if (last && t->has_min) {
            key = INT64_MIN;
            val = t->min_val;
        } else {
            continue;
        }
        if (c == NULL || c->view.rows == SPATE_CHUNK_ROWS) {
            if ((c = sp_chunk_new(rg, out->schema)) == NULL ||
                sp_part_append(rg, &out->parts[r], c) != SPATE_OK)
                return false;
        }
        ((int64_t *)sp_col_data(c, 0))[c->view.rows] = key;
        ((int64_t *)sp_col_data(c, 1))[c->view.rows++] = val;
    }
    return true;
}

/* Stage 2 of an itab aggregation: partition r of every worker added into one itab (COUNT and
 * SUM partials both add up), or with one worker its table as it is, then emitted. */
static void merge_itab(struct chain_run *cr, struct sp_wstate *ws, uint32_t r) {
    struct sp_exec *ex = cr->ex;
    if (ex->nworkers == 1) { /* nothing to merge: the table as it is */
        if (!itab_emit(&ex->ws[0].itab[r], &ws->batch, cr->out, r))
            goto oom;
        return;
    }
    /* Merged in a generic table (dense entries: the output walks them in order), the keys
     * hashed again a chunk at a time. */
    uint32_t hint = 0;
    for (uint32_t w = 0; w < ex->nworkers; w++)
        hint += ex->ws[w].itab[r].n + ex->ws[w].itab[r].has_min;
    if (hint == 0)
        return;
    struct sp_agg_table final;
    if (sp_agg_table_init(&final, &ws->batch, hint) != SPATE_OK)
        goto oom;
    int64_t *keys = ws->gacc, *vals = ws->gval; /* scratch of SPATE_CHUNK_ROWS */
    for (uint32_t w = 0; w < ex->nworkers; w++) {
        const struct sp_itab *t = &ex->ws[w].itab[r];
        uint32_t m = 0;
        for (uint32_t s = 0; s <= t->mask + 1; s++) {
            bool last = s == t->mask + 1;
            if (!last && t->n > 0 && t->slots[s].key != SP_ITAB_EMPTY) {
                keys[m] = t->slots[s].key;
                vals[m++] = t->slots[s].val;
            }
            if (last && t->has_min) {
                keys[m] = INT64_MIN;
                vals[m++] = t->min_val;
            }
            if (m < SPATE_CHUNK_ROWS && !last)
                continue;
            ex->k->hash_i64(keys, NULL, m, ws->hashes);
            for (uint32_t j = 0; j < m; j++) {
                bool fresh;
                uint32_t idx =
                    sp_agg_find_or_add_i64(&final, &ws->batch, ws->hashes[j], keys[j], &fresh);
                if (idx == UINT32_MAX)
                    goto oom;
                struct sp_agg_entry *f = &final.entries[idx];
                f->val.i = (int64_t)((uint64_t)f->val.i + (uint64_t)vals[j]); /* COUNT, SUM add */
            }
            m = 0;
        }
    }
    for (uint32_t base = 0; base < final.n; base += SPATE_CHUNK_ROWS) {
        uint32_t rows = SP_MIN(SPATE_CHUNK_ROWS, final.n - base);
        struct sp_chunk *c = sp_chunk_new(&ws->batch, cr->out->schema);
        if (c == NULL)
            goto oom;
        int64_t *k = sp_col_data(c, 0), *v = sp_col_data(c, 1);
        for (uint32_t i = 0; i < rows; i++) {
            k[i] = final.entries[base + i].key.i;
            v[i] = final.entries[base + i].val.i;
        }
        c->view.rows = rows;
        if (sp_part_append(&ws->batch, &cr->out->parts[r], c) != SPATE_OK)
            goto oom;
    }
    return;
oom:
    record_error(ex, ENOMEM, "out of memory merging reduce_by_key partials");
}

/*
 * The scatter plan's stage 2 for radix partition r: each of its sub-partitions
 * aggregated from every worker's rows into one itab small enough for the
 * cache (a quarter of a radix partition's keys), then emitted. Rows cross
 * memory twice in sequence (scatter, then here) instead of being probed at
 * random into per-worker tables of every key and merged again.
 */
static void merge_kv(struct chain_run *cr, struct sp_wstate *ws, uint32_t r) {
    struct sp_exec *ex = cr->ex;
    uint32_t per = SP_AGG_SUB / SP_AGG_RADIX;
    uint64_t expect = cr->ex->agg_keys[cr->node_id] / SP_AGG_SUB;
    for (uint32_t sub = r * per; sub < (r + 1) * per; sub++) {
        uint64_t rows = 0;
        for (uint32_t w = 0; w < ex->nworkers; w++)
            rows += ex->ws[w].kvbuf[sub].n;
        if (rows == 0)
            continue;
        struct sp_itab t;
        if (!sp_itab_init(&t, &ws->batch, (uint32_t)SP_MIN(rows, expect + expect / 4 + 16)))
            goto oom;
        for (uint32_t w = 0; w < ex->nworkers; w++) {
            const struct sp_kvbuf *b = &ex->ws[w].kvbuf[sub];
            for (uint32_t i = 0; i < b->n; i++)
                if (!sp_itab_add(&t, &ws->batch, b->kv[i].key, (uint64_t)b->kv[i].val))
                    goto oom;
        }
        if (!itab_emit(&t, &ws->batch, cr->out, r))
            goto oom;
    }
    return;
oom:
    record_error(ex, ENOMEM, "out of memory in reduce_by_key");
}

static void merge_task(void *arg, uint32_t r, uint32_t worker) {
    struct chain_run *cr = arg;
    struct sp_exec *ex = cr->ex;
    struct sp_wstate *ws = &ex->ws[worker];
    if (cr->scatter) {
        merge_kv(cr, ws, r);
        return;
    }
    if (cr->itab) {
        merge_itab(cr, ws, r);
        return;
    }
    uint32_t hint = 0;
    for (uint32_t w = 0; w < ex->nworkers; w++)
        hint += ex->ws[w].tables[r].n;
    if (hint == 0)
        return;
    /* The final table of partition r lives in tables[] of a scratch array on this worker. */
    struct sp_agg_table final[SP_AGG_RADIX];
    if (sp_agg_table_init(&final[r], &ws->batch, hint) != SPATE_OK)
        goto oom;
    bool count_merge = cr->spec.fn == NULL && cr->spec.agg == SPATE_AGG_COUNT;
    for (uint32_t w = 0; w < ex->nworkers; w++) {
        const struct sp_agg_table *t = &ex->ws[w].tables[r];
        for (uint32_t i = 0; i < t->n; i++) {
            const struct sp_agg_entry *e = &t->entries[i];
            bool fresh;
            uint32_t idx =
                cr->spec.key_is_string
                    ? sp_agg_find_or_add_str(&final[r], &ws->batch, e->hash, &e->key.s, &fresh)
                    : sp_agg_find_or_add_i64(&final[r], &ws->batch, e->hash, e->key.i, &fresh);
            if (idx == UINT32_MAX)
                goto oom;
            if (count_merge) {
                struct sp_agg_entry *f = &final[r].entries[idx];
                f->val.i = (int64_t)((uint64_t)f->val.i + (uint64_t)e->val.i);
            } else if (cr->spec.avg) { /* sums and counts add up */
                struct sp_agg_entry *f = &final[r].entries[idx];
                f->val.f = fresh ? e->val.f : f->val.f + e->val.f;
                sp_agg_set_count(f, sp_agg_count(f) + sp_agg_count(e));
            } else {
                /* Partial values fold like input values (sum of sums, min of mins, f(f, f)). */
                fold(cr, ws, final, r, idx, fresh, &e->val, 0, false);
            }
        }
        if (cr->spec.fn != NULL)
            flush_gather(cr, ws, final);
    }
    /* Emit partition r: chunks of (key, value). */
    const struct sp_agg_table *f = &final[r];
    bool plain = !cr->spec.avg && cr->spec.nkeys == 0; /* else put_entry writes every column */
    for (uint32_t base = 0; base < f->n; base += SPATE_CHUNK_ROWS) {
        uint32_t rows = SP_MIN(SPATE_CHUNK_ROWS, f->n - base);
        struct sp_chunk *c = sp_chunk_new(&ws->batch, cr->out->schema);
        if (c == NULL)
            goto oom;
        if (!plain) {
            for (uint32_t i = 0; i < rows; i++)
                if (!put_entry(&cr->spec, &ws->batch, c, i, &f->entries[base + i], cr->partial))
                    goto oom;
        } else if (cr->spec.key_is_string) {
            struct spate_string *k = sp_col_data(c, 0);
            for (uint32_t i = 0; i < rows; i++)
                k[i] = f->entries[base + i].key.s;
        } else {
            int64_t *k = sp_col_data(c, 0);
            for (uint32_t i = 0; i < rows; i++)
                k[i] = f->entries[base + i].key.i;
        }
        int64_t *v = sp_col_data(c, 1); /* i64 or f64: both 8 bytes, copied as bits */
        for (uint32_t i = 0; plain && i < rows; i++)
            memcpy(&v[i], &f->entries[base + i].val, 8);
        c->view.rows = rows;
        if (sp_part_append(&ws->batch, &cr->out->parts[r], c) != SPATE_OK)
            goto oom;
    }
    return;
oom:
    record_error(ex, ENOMEM, "out of memory merging reduce_by_key partials");
}

/* Reset every worker's partial tables. Runs on the scheduler thread while the
 * workers are idle (a pool task would not reach every worker: tasks go to
 * whichever worker claims them). */
static void agg_init_task(void *arg, uint32_t w, uint32_t worker) {
    struct sp_exec *ex = arg;
    (void)worker;
    struct sp_wstate *ws = &ex->ws[w]; /* worker w's tables, set up by whichever runs this */
    ws->gcount = 0;
    ws->stamp = 1;
    for (uint32_t r = 0; r < SP_AGG_RADIX; r++) {
        if (ex->agg_scatter) { /* no partial tables: rows go to kvbuf */
            memset(&ws->itab[r], 0, sizeof(ws->itab[r]));
            memset(&ws->tables[r], 0, sizeof(ws->tables[r]));
            continue;
        }
        if (sp_agg_table_init(&ws->tables[r], &ws->batch, SP_MAX(64, ws->last_n[r])) != SPATE_OK ||
            !sp_itab_init(&ws->itab[r], &ws->batch, ws->last_in[r]))
            record_error(ex, ENOMEM, "out of memory in reduce_by_key");
    }
}

/* Empty partial tables on every worker, sized from last time, set up in parallel. */
static spate_status agg_init(struct sp_exec *ex) {
    sp_pool_run(ex->pool, ex->nworkers, agg_init_task, ex);
    return atomic_load(&ex->failed) ? ENOMEM : SPATE_OK;
}

/* ---- Batches per node ---- */

static spate_status get_batch(struct sp_exec *ex, struct spate_dstream *ds, bool text_ok,
                              struct spate_batch **out);

/* Set up cr's chain: narrow nodes from the nearest batch-producing ancestor of top, top included.
 */
static spate_status build_chain(struct sp_exec *ex, struct chain_run *cr,
                                struct spate_dstream *top) {
    memset(cr, 0, sizeof(*cr));
    cr->ex = ex;
    struct spate_dstream *stack[64];
    uint32_t n = 0;
    struct spate_dstream *d = top;
    while (d != NULL && sp_node_is_narrow(d)) {
        if (n == 64) {
            record_error(ex, EINVAL, "a chain of more than 64 narrow transformations");
            return EINVAL;
        }
        stack[n++] = d;
        d = d->parent;
    }
    cr->base = d;
    cr->nchain = n;
    for (uint32_t i = 0; i < n; i++)
        cr->chain[i] = stack[n - 1 - i];
    cr->schema = top != NULL ? &top->schema : &d->schema;
    struct spate_batch *src;
    /* A text batch may feed the chain directly (tokenizer or line framing). */
    SPATE_RETURN_NOT_OK(get_batch(ex, d, true, &src));
    cr->src = src;
    return SPATE_OK;
}

static spate_status materialize(struct sp_exec *ex, struct spate_dstream *ds,
                                struct spate_batch **out) {
    struct chain_run cr;
    SPATE_RETURN_NOT_OK(build_chain(ex, &cr, ds));
    if (cr.nchain == 0 && ds->kind != SP_NODE_SOCKET) {
        *out = (struct spate_batch *)cr.src;
        return SPATE_OK;
    }
    cr.sink = SINK_MATERIALIZE;
    cr.out = sp_batch_new(&ex->sched, &ds->schema, cr.src->nparts, ex->job->time_ms);
    if (cr.out == NULL) {
        record_error(ex, ENOMEM, "out of memory");
        return ENOMEM;
    }
    sp_pool_run(ex->pool, cr.src->nparts, chain_task, &cr);
    if (atomic_load(&ex->failed))
        return ex->err_code;
    sp_batch_count_rows(cr.out);
    *out = cr.out;
    return SPATE_OK;
}

static spate_status run_count(struct sp_exec *ex, struct spate_dstream *ds,
                              struct spate_batch **out) {
    struct chain_run cr;
    SPATE_RETURN_NOT_OK(build_chain(ex, &cr, ds->parent));
    cr.sink = SINK_COUNT;
    for (uint32_t w = 0; w < ex->nworkers; w++)
        ex->ws[w].count = 0;
    sp_pool_run(ex->pool, cr.src->nparts, chain_task, &cr);
    if (atomic_load(&ex->failed))
        return ex->err_code;
    uint64_t total = 0;
    for (uint32_t w = 0; w < ex->nworkers; w++)
        total += ex->ws[w].count;
    struct spate_batch *b = sp_batch_new(&ex->sched, &ds->schema, 1, ex->job->time_ms);
    struct sp_chunk *c = b != NULL ? sp_chunk_new(&ex->sched, &ds->schema) : NULL;
    if (c == NULL || sp_part_append(&ex->sched, &b->parts[0], c) != SPATE_OK) {
        record_error(ex, ENOMEM, "out of memory");
        return ENOMEM;
    }
    ((int64_t *)sp_col_data(c, 0))[0] = (int64_t)total;
    c->view.rows = 1;
    b->rows = 1;
    *out = b;
    return SPATE_OK;
}

/* Fill cr's aggregation spec from a reduce definition; in_schema is what reaches the sink,
 * out_schema is (key columns, value). */
static void set_agg_spec(struct chain_run *cr, const struct spate_reduce_opts *ro,
                         const struct sp_schema *in_schema, const struct sp_schema *out_schema) {
    cr->key_col = ro->key_col;
    cr->val_col = ro->value_col;
    cr->spec.key_is_string = out_schema->cols[0].type == SPATE_TYPE_STRING;
    cr->spec.agg = ro->agg;
    cr->spec.fn = ro->fn;
    cr->spec.user = ro->user;
    cr->spec.value_is_f64 = out_schema->cols[1].type == SPATE_TYPE_F64;
    /* A composite key travels packed in a string; AVG's value type is its input's. */
    cr->spec.nkeys = ro->num_key_cols;
    for (uint32_t i = 0; i < ro->num_key_cols; i++) {
        cr->spec.key_cols[i] = ro->key_cols[i];
        cr->spec.key_types[i] = out_schema->cols[i].type;
    }
    if (ro->num_key_cols > 0) {
        cr->spec.key_is_string = true;
        cr->spec.value_is_f64 = out_schema->cols[ro->num_key_cols].type == SPATE_TYPE_F64;
    }
    cr->spec.avg = ro->fn == NULL && ro->agg == SPATE_AGG_AVG;
    if (cr->spec.avg)
        cr->spec.value_is_f64 = in_schema->cols[ro->value_col].type == SPATE_TYPE_F64;
}

/* The schema of a window pane of reduce ds when it differs from ds's (packed composite key,
 * AVG's sum and count), or ds's own; allocated in the scheduler's region. NULL on ENOMEM. */
static const struct sp_schema *pane_schema(struct sp_exec *ex, const struct spate_dstream *ds,
                                           const struct sp_agg_spec *spec) {
    if (!spec->avg && spec->nkeys == 0)
        return &ds->schema;
    struct sp_schema *s = sp_region_alloc(&ex->sched, sizeof(*s), 64);
    uint32_t vcol = spec->nkeys > 0 ? spec->nkeys : 1;
    struct spate_column_def cols[] = {
        {"key", spec->nkeys > 0 ? SPATE_TYPE_STRING : ds->schema.cols[0].type},
        {"value", ds->schema.cols[vcol].type},
        {"count", SPATE_TYPE_I64}};
    if (s == NULL || sp_schema_set(s, cols, spec->avg ? 3 : 2, NULL) != SPATE_OK)
        return NULL;
    return s;
}

/* reduce_by_key of ds's parent batch with ro; the output schema is ds's. */
/* reduce over the whole batch: a partial result per worker, combined here. */
static spate_status run_reduce_all(struct sp_exec *ex, struct spate_dstream *ds,
                                   const struct spate_reduce_opts *ro, struct spate_batch **out) {
    struct chain_run cr;
    SPATE_RETURN_NOT_OK(build_chain(ex, &cr, ds->parent));
    cr.sink = SINK_REDUCE;
    cr.val_col = ro->value_col;
    cr.spec.agg = ro->agg;
    cr.spec.fn = ro->fn;
    cr.spec.user = ro->user;
    cr.spec.value_is_f64 = ds->schema.cols[0].type == SPATE_TYPE_F64;
    for (uint32_t w = 0; w < ex->nworkers; w++)
        ex->ws[w].has_acc = false;
    sp_pool_run(ex->pool, cr.src->nparts, chain_task, &cr);
    if (atomic_load(&ex->failed))
        return ex->err_code;
    struct spate_batch *b = sp_batch_new(&ex->sched, &ds->schema, 1, ex->job->time_ms);
    if (b == NULL) {
        record_error(ex, ENOMEM, "out of memory");
        return ENOMEM;
    }
    bool has = false;
    int64_t acc = 0;
    for (uint32_t w = 0; w < ex->nworkers; w++) {
        if (!ex->ws[w].has_acc)
            continue;
        if (!has)
            acc = ex->ws[w].acc.i;
        else
            reduce_pair(&cr.spec, &acc, &ex->ws[w].acc.i);
        has = true;
    }
    if (has) { /* an empty batch reduces to nothing */
        struct sp_chunk *c = sp_chunk_new(&ex->sched, &ds->schema);
        if (c == NULL || sp_part_append(&ex->sched, &b->parts[0], c) != SPATE_OK) {
            record_error(ex, ENOMEM, "out of memory");
            return ENOMEM;
        }
        memcpy(sp_col_data(c, 0), &acc, 8);
        c->view.rows = 1;
        b->rows = 1;
    }
    *out = b;
    return SPATE_OK;
}

static spate_status run_reduce(struct sp_exec *ex, struct spate_dstream *ds,
                               const struct spate_reduce_opts *ro, bool partial,
                               struct spate_batch **out) {
    struct chain_run cr;
    SPATE_RETURN_NOT_OK(build_chain(ex, &cr, ds->parent));
    cr.sink = SINK_AGG;
    set_agg_spec(&cr, ro, &ds->parent->schema, &ds->schema);
    cr.partial = partial;
    const struct sp_schema *out_schema = partial ? pane_schema(ex, ds, &cr.spec) : &ds->schema;
    /* COUNT or SUM of i64 by i64 key: past SP_AGG_SCATTER_KEYS keys the rows are scattered
     * and aggregated once; below, the flat tables pay off when rows repeat keys (their set-up
     * and scan are per slot, so a batch of few rows a key, a window's small pane, keeps the
     * generic tables). */
    bool flat = !cr.spec.key_is_string && cr.spec.fn == NULL && !cr.spec.value_is_f64 &&
                (cr.spec.agg == SPATE_AGG_COUNT || cr.spec.agg == SPATE_AGG_SUM);
    cr.node_id = ds->id;
    cr.scatter = flat && ex->agg_keys[ds->id] >= SP_AGG_SCATTER_KEYS;
    cr.itab = flat && (cr.scatter || cr.src->rows >= 8 * ex->agg_keys[ds->id]);
    for (uint32_t w = 0; cr.scatter && w < ex->nworkers; w++)
        memset(ex->ws[w].kvbuf, 0, sizeof(ex->ws[w].kvbuf));
    ex->agg_scatter = cr.scatter;
    cr.out = out_schema != NULL
                 ? sp_batch_new(&ex->sched, out_schema, SP_AGG_RADIX, ex->job->time_ms)
                 : NULL;
    if (cr.out == NULL) {
        record_error(ex, ENOMEM, "out of memory");
        return ENOMEM;
    }
    if (agg_init(ex) != SPATE_OK)
        record_error(ex, ENOMEM, "out of memory in reduce_by_key");
    if (!atomic_load(&ex->failed))
        sp_pool_run(ex->pool, cr.src->nparts, chain_task, &cr);
    for (uint32_t w = 0; w < ex->nworkers; w++)
        for (uint32_t r = 0; r < SP_AGG_RADIX; r++) {
            ex->ws[w].last_n[r] = ex->ws[w].tables[r].n;
            ex->ws[w].last_in[r] = ex->ws[w].itab[r].n;
        }
    if (!atomic_load(&ex->failed))
        sp_pool_run(ex->pool, SP_AGG_RADIX, merge_task, &cr);
    if (atomic_load(&ex->failed))
        return ex->err_code;
    sp_batch_count_rows(cr.out);
    ex->agg_keys[ds->id] = cr.out->rows;
    *out = cr.out;
    return SPATE_OK;
}

/* ---- Joins ---- */

struct join_run {
    struct sp_exec *ex;
    const struct spate_batch *side[2]; /* 0 = left (probe), 1 = right (build) */
    uint32_t key[2];
    bool is_string;
    enum spate_join_kind kind;
    const struct sp_schema *ls, *rs;
    struct spate_batch *out;
};

/* Stage 1: references to every row with a valid key, by radix partition. */
static void join_scatter_task(void *arg, uint32_t task, uint32_t worker) {
    struct join_run *jr = arg;
    struct sp_wstate *ws = &jr->ex->ws[worker];
    uint32_t side = task & 1, part = task >> 1;
    if (part >= jr->side[side]->nparts)
        return;
    const struct sp_part *p = &jr->side[side]->parts[part];
    for (uint32_t c = 0; c < p->nchunks; c++) {
        const struct sp_chunk *ch = p->chunks[c];
        const struct spate_column_view *kc = &ch->cols[jr->key[side]];
        uint32_t rows = ch->view.rows;
        const uint16_t *sel = ch->view.sel;
        if (jr->is_string)
            jr->ex->k->hash_str(kc->data, sel, rows, ws->hashes);
        else
            jr->ex->k->hash_i64(kc->data, sel, rows, ws->hashes);
        for (uint32_t i = 0; i < rows; i++) {
            uint32_t phys = sel != NULL ? sel[i] : i;
            if (!sp_valid(kc->validity, phys))
                continue;
            struct sp_jbuf *b = &ws->jbuf[side][sp_agg_radix(ws->hashes[i])];
            if (b->n == b->cap) {
                uint32_t cap = b->cap ? b->cap * 2 : 256;
                struct sp_jref *n = sp_region_alloc(&ws->batch, sizeof(*n) * cap, 64);
                if (n == NULL) {
                    record_error(jr->ex, ENOMEM, "out of memory in join");
                    return;
                }
                if (b->n)
                    memcpy(n, b->refs, sizeof(*n) * b->n);
                b->refs = n;
                b->cap = cap;
            }
            b->refs[b->n++] = (struct sp_jref){ch, phys, UINT32_MAX, ws->hashes[i]};
        }
    }
}

/* The output being filled by one stage-2 task. */
struct join_out {
    struct sp_chunk *chunk;
    uint32_t part;
};

static void copy_cell(struct sp_chunk *dst, uint32_t dcol, uint32_t drow, const struct sp_jref *src,
                      uint32_t scol) {
    const struct spate_column_view *c = &src->chunk->cols[scol];
    size_t w = sp_type_width(c->type);
    memcpy((char *)sp_col_data(dst, dcol) + w * drow, (const char *)c->data + w * src->row, w);
    if (!sp_valid(c->validity, src->row))
        ((uint64_t *)(uintptr_t)dst->cols[dcol].validity)[drow >> 6] &= ~(1ull << (drow & 63));
}

/* Append the record of (l, r); either may be NULL (an outer join's missing side). */
static bool join_emit(struct join_run *jr, struct sp_wstate *ws, struct join_out *jo,
                      const struct sp_jref *l, const struct sp_jref *r) {
    struct sp_chunk *c = jo->chunk;
    if (c == NULL || c->view.rows == SPATE_CHUNK_ROWS) {
        c = sp_chunk_new(&ws->batch, jr->out->schema);
        if (c == NULL || sp_part_append(&ws->batch, &jr->out->parts[jo->part], c) != SPATE_OK)
            return false;
        /* Every column may get nulls in an outer join: all valid to start with. */
        for (uint32_t col = 0; col < c->view.num_columns; col++) {
            uint64_t *v = sp_chunk_add_validity(&ws->batch, c, col);
            if (v == NULL)
                return false;
            memset(v, 0xff, (SPATE_CHUNK_ROWS + 63) / 64 * 8);
        }
        jo->chunk = c;
    }
    uint32_t row = c->view.rows++;
    copy_cell(c, 0, row, l != NULL ? l : r, l != NULL ? jr->key[0] : jr->key[1]);
    uint32_t col = 1;
    for (uint32_t side = 0; side < 2; side++) {
        const struct sp_schema *s = side == 0 ? jr->ls : jr->rs;
        const struct sp_jref *ref = side == 0 ? l : r;
        for (uint32_t sc = 0; sc < s->ncols; sc++) {
            if (sc == jr->key[side])
                continue;
            if (ref != NULL) {
                copy_cell(c, col, row, ref, sc);
            } else {
                memset((char *)sp_col_data(c, col) + sp_type_width(s->cols[sc].type) * row, 0,
                       sp_type_width(s->cols[sc].type));
                ((uint64_t *)(uintptr_t)c->cols[col].validity)[row >> 6] &= ~(1ull << (row & 63));
            }
            col++;
        }
    }
    return true;
}

static const struct spate_string *ref_str(const struct sp_jref *x, uint32_t col) {
    return &((const struct spate_string *)x->chunk->cols[col].data)[x->row];
}

static int64_t ref_i64(const struct sp_jref *x, uint32_t col) {
    return ((const int64_t *)x->chunk->cols[col].data)[x->row];
}

/* Probe rows per call of the probe kernel (their keys, hashes and pairs are on the stack). */
#define SP_JOIN_BLOCK 1024

/* Stage 2: build partition r of the right side, probe it with partition r of the left, both
 * through the join kernels: the pairs of references they give are the records. */
static void join_task(void *arg, uint32_t r, uint32_t worker) {
    struct join_run *jr = arg;
    struct sp_exec *ex = jr->ex;
    const struct sp_kernels *kn = ex->k;
    struct sp_wstate *ws = &ex->ws[worker];
    uint32_t nright = 0;
    for (uint32_t w = 0; w < ex->nworkers; w++)
        nright += ex->ws[w].jbuf[1][r].n;
    struct join_out jo = {NULL, r};
    bool is_string = jr->is_string;
    size_t kw = is_string ? sizeof(struct spate_string) : sizeof(int64_t);
    uint32_t nslots = sp_join_slots_for(nright);
    bool keep_right = jr->kind == SPATE_JOIN_RIGHT || jr->kind == SPATE_JOIN_FULL;
    /* Build: the right side's references of every worker in arrival order, their keys and
     * hashes dense, then the table (null keys were left out by the scatter). */
    struct sp_jref *build = sp_region_alloc(&ws->batch, sizeof(*build) * (nright + 1), 64);
    char *bkeys = sp_region_alloc(&ws->batch, kw * (nright + 1), 64);
    uint64_t *bhash = sp_region_alloc(&ws->batch, sizeof(uint64_t) * (nright + 1), 64);
    uint32_t *scratch = sp_region_alloc(&ws->batch, sizeof(uint32_t) * (nright + 1), 64);
    struct sp_join_table t = {
        .slots = sp_region_alloc(&ws->batch, sizeof(struct sp_join_slot) * nslots, 64),
        .perm = sp_region_alloc(&ws->batch, sizeof(uint32_t) * (nright + 1), 64),
        .mask = nslots - 1,
    };
    size_t matched_words = keep_right ? nright / 64 + 1 : 0;
    uint64_t *matched =
        keep_right ? sp_region_alloc(&ws->batch, sizeof(uint64_t) * matched_words, 64) : NULL;
    if (build == NULL || bkeys == NULL || bhash == NULL || scratch == NULL || t.slots == NULL ||
        t.perm == NULL || (keep_right && matched == NULL))
        goto oom;
    uint32_t at = 0;
    for (uint32_t w = 0; w < ex->nworkers; w++) {
        const struct sp_jbuf *b = &ex->ws[w].jbuf[1][r];
        if (b->n > 0)
            memcpy(build + at, b->refs, sizeof(*build) * b->n);
        at += b->n;
    }
    struct spate_string *bkeys_s = (struct spate_string *)(void *)bkeys;
    int64_t *bkeys_i = (int64_t *)(void *)bkeys;
    for (uint32_t j = 0; j < nright; j++) {
        if (is_string)
            bkeys_s[j] = *ref_str(&build[j], jr->key[1]);
        else
            bkeys_i[j] = ref_i64(&build[j], jr->key[1]);
        bhash[j] = build[j].hash;
    }
    if (is_string)
        kn->join_build_str(&t, bkeys_s, NULL, bhash, nright, scratch);
    else
        kn->join_build_i64(&t, bkeys_i, NULL, bhash, nright, scratch);
    if (matched != NULL)
        memset(matched, 0, sizeof(uint64_t) * matched_words);
    /* Probe, SP_JOIN_BLOCK left references at a time. */
    bool keep_left = jr->kind == SPATE_JOIN_LEFT || jr->kind == SPATE_JOIN_FULL;
    union {
        int64_t i[SP_JOIN_BLOCK];
        struct spate_string s[SP_JOIN_BLOCK];
    } pkeys;
    uint64_t phash[SP_JOIN_BLOCK];
    uint32_t pidx[SP_JOIN_BLOCK], bidx[SP_JOIN_BLOCK];
    for (uint32_t w = 0; w < ex->nworkers; w++) {
        const struct sp_jbuf *b = &ex->ws[w].jbuf[0][r];
        for (uint32_t base = 0; base < b->n; base += SP_JOIN_BLOCK) {
            const struct sp_jref *refs = b->refs + base;
            uint32_t cnt = SP_MIN(b->n - base, (uint32_t)SP_JOIN_BLOCK);
            for (uint32_t i = 0; i < cnt; i++) {
                if (is_string)
                    pkeys.s[i] = *ref_str(&refs[i], jr->key[0]);
                else
                    pkeys.i[i] = ref_i64(&refs[i], jr->key[0]);
                phash[i] = refs[i].hash;
            }
            struct sp_join_cursor cur = {0, 0};
            while (cur.pos < cnt) {
                uint32_t np =
                    is_string ? kn->join_probe_str(&t, pkeys.s, NULL, NULL, phash, cnt, keep_left,
                                                   pidx, bidx, SP_JOIN_BLOCK, &cur, NULL, matched)
                              : kn->join_probe_i64(&t, pkeys.i, NULL, NULL, phash, cnt, keep_left,
                                                   pidx, bidx, SP_JOIN_BLOCK, &cur, NULL, matched);
                for (uint32_t m = 0; m < np; m++)
                    if (!join_emit(jr, ws, &jo, &refs[pidx[m]],
                                   bidx[m] != SP_JOIN_NONE ? &build[bidx[m]] : NULL))
                        goto oom;
            }
        }
    }
    /* Right rows no left row matched, in arrival order. */
    if (keep_right) {
        for (uint32_t j = 0; j < nright; j++)
            if (!((matched[j >> 6] >> (j & 63)) & 1) && !join_emit(jr, ws, &jo, NULL, &build[j]))
                goto oom;
    }
    return;
oom:
    record_error(ex, ENOMEM, "out of memory in join");
}

static spate_status run_join(struct sp_exec *ex, struct spate_dstream *ds,
                             struct spate_batch **out) {
    struct join_run jr;
    memset(&jr, 0, sizeof(jr));
    jr.ex = ex;
    struct spate_batch *lb, *rb;
    SPATE_RETURN_NOT_OK(get_batch(ex, ds->parent, false, &lb));
    SPATE_RETURN_NOT_OK(get_batch(ex, ds->u.join.right, false, &rb));
    jr.side[0] = lb;
    jr.side[1] = rb;
    jr.key[0] = ds->u.join.opts.left_key;
    jr.key[1] = ds->u.join.opts.right_key;
    jr.is_string = ds->schema.cols[0].type == SPATE_TYPE_STRING;
    jr.kind = ds->u.join.opts.kind;
    jr.ls = &ds->parent->schema;
    jr.rs = &ds->u.join.right->schema;
    jr.out = sp_batch_new(&ex->sched, &ds->schema, SP_AGG_RADIX, ex->job->time_ms);
    if (jr.out == NULL) {
        record_error(ex, ENOMEM, "out of memory");
        return ENOMEM;
    }
    for (uint32_t w = 0; w < ex->nworkers; w++)
        memset(ex->ws[w].jbuf, 0, sizeof(ex->ws[w].jbuf));
    uint32_t parts = SP_MAX(lb->nparts, rb->nparts);
    sp_pool_run(ex->pool, 2 * parts, join_scatter_task, &jr);
    if (!atomic_load(&ex->failed))
        sp_pool_run(ex->pool, SP_AGG_RADIX, join_task, &jr);
    if (atomic_load(&ex->failed))
        return ex->err_code;
    sp_batch_count_rows(jr.out);
    *out = jr.out;
    return SPATE_OK;
}

/* ---- combine_by_key ---- */

struct combine_run {
    struct sp_exec *ex;
    struct spate_dstream *ds;
    struct spate_batch *in;
    struct spate_batch *out;
    bool is_string;
};

/* Find or add the key of hash in ct (growing its states); the state's index or UINT32_MAX. */
static uint32_t ctab_find(struct sp_ctab *ct, struct sp_region *rg, uint32_t size, bool is_string,
                          uint64_t hash, const struct spate_string *skey, int64_t ikey,
                          bool *fresh) {
    if (!ct->ready) {
        if (sp_agg_table_init(&ct->t, rg, 64) != SPATE_OK)
            return UINT32_MAX;
        ct->states = NULL;
        ct->cap = 0;
        ct->ready = true;
    }
    uint32_t idx = is_string ? sp_agg_find_or_add_str(&ct->t, rg, hash, skey, fresh)
                             : sp_agg_find_or_add_i64(&ct->t, rg, hash, ikey, fresh);
    if (idx == UINT32_MAX || idx < ct->cap)
        return idx;
    uint32_t cap = ct->cap ? ct->cap * 2 : 64;
    char *st = sp_region_alloc(rg, (size_t)size * cap, 64);
    if (st == NULL)
        return UINT32_MAX;
    if (ct->cap > 0)
        memcpy(st, ct->states, (size_t)size * ct->cap);
    ct->states = st;
    ct->cap = cap;
    return idx;
}

/* Stage 1: every row of partition part into the worker's combiner of its key. */
static void combine_task(void *arg, uint32_t part, uint32_t worker) {
    struct combine_run *cr = arg;
    struct sp_exec *ex = cr->ex;
    struct sp_wstate *ws = &ex->ws[worker];
    const struct spate_combiner *c = &cr->ds->u.combine.c;
    uint32_t kc = cr->ds->u.combine.key_col;
    const struct sp_part *p = &cr->in->parts[part];
    for (uint32_t ci = 0; ci < p->nchunks; ci++) {
        const struct sp_chunk *ch = p->chunks[ci];
        const struct spate_column_view *key = &ch->cols[kc];
        uint32_t rows = ch->view.rows;
        const uint16_t *sel = ch->view.sel;
        if (cr->is_string)
            ex->k->hash_str(key->data, sel, rows, ws->hashes);
        else
            ex->k->hash_i64(key->data, sel, rows, ws->hashes);
        for (uint32_t i = 0; i < rows; i++) {
            uint32_t phys = sel != NULL ? sel[i] : i;
            if (!sp_valid(key->validity, phys))
                continue; /* null keys form no group */
            uint64_t h = ws->hashes[i];
            struct sp_ctab *ct = &ws->ctab[sp_agg_radix(h)];
            bool fresh;
            const struct spate_string *skey =
                cr->is_string ? &((const struct spate_string *)key->data)[phys] : NULL;
            int64_t ikey = cr->is_string ? 0 : ((const int64_t *)key->data)[phys];
            uint32_t idx =
                ctab_find(ct, &ws->batch, c->state_size, cr->is_string, h, skey, ikey, &fresh);
            if (idx == UINT32_MAX) {
                record_error(ex, ENOMEM, "out of memory in combine_by_key");
                return;
            }
            void *state = ct->states + (size_t)c->state_size * idx;
            if (fresh)
                c->create(c->user, state, &ch->view, i);
            else
                c->merge_value(c->user, state, &ch->view, i);
        }
    }
}

/* Stage 2: radix partition r of every worker merged, then (key, finish(state)). */
static void combine_merge_task(void *arg, uint32_t r, uint32_t worker) {
    struct combine_run *cr = arg;
    struct sp_exec *ex = cr->ex;
    struct sp_region *rg = &ex->ws[worker].batch;
    const struct spate_combiner *c = &cr->ds->u.combine.c;
    size_t size = c->state_size;
    struct sp_ctab m;
    memset(&m, 0, sizeof(m));
    for (uint32_t w = 0; w < ex->nworkers; w++) {
        const struct sp_ctab *ct = &ex->ws[w].ctab[r];
        if (!ct->ready)
            continue;
        for (uint32_t j = 0; j < ct->t.n; j++) {
            const struct sp_agg_entry *e = &ct->t.entries[j];
            bool fresh;
            uint32_t idx = ctab_find(&m, rg, c->state_size, cr->is_string, e->hash, &e->key.s,
                                     e->key.i, &fresh);
            if (idx == UINT32_MAX)
                goto oom;
            if (fresh)
                memcpy(m.states + size * idx, ct->states + size * j, size);
            else
                c->merge_combiners(c->user, m.states + size * idx, ct->states + size * j);
        }
    }
    uint32_t keys = m.ready ? m.t.n : 0;
    for (uint32_t base = 0; base < keys; base += SPATE_CHUNK_ROWS) {
        uint32_t rows = SP_MIN(SPATE_CHUNK_ROWS, keys - base);
        struct sp_chunk *ch = sp_chunk_new(rg, cr->out->schema);
        if (ch == NULL)
            goto oom;
        struct spate_chunk_builder b = {
            .chunk = ch, .region = rg, .rows = rows, .col_base = 1, .oom = false};
        for (uint32_t i = 0; i < rows; i++) {
            const struct sp_agg_entry *e = &m.t.entries[base + i];
            if (cr->is_string)
                ((struct spate_string *)sp_col_data(ch, 0))[i] = e->key.s;
            else
                ((int64_t *)sp_col_data(ch, 0))[i] = e->key.i;
            struct spate_error err;
            err.message[0] = '\0';
            spate_status rc = c->finish(c->user, m.states + size * (base + i), &b, i, &err);
            if (rc != SPATE_OK) {
                record_error(ex, rc, "combine_by_key finish function failed: %s",
                             err.message[0] ? err.message : strerror(rc));
                return;
            }
            if (b.oom)
                goto oom;
        }
        ch->view.rows = rows;
        if (sp_part_append(rg, &cr->out->parts[r], ch) != SPATE_OK)
            goto oom;
    }
    return;
oom:
    record_error(ex, ENOMEM, "out of memory in combine_by_key");
}

static spate_status run_combine(struct sp_exec *ex, struct spate_dstream *ds,
                                struct spate_batch **out) {
    struct combine_run cr = {.ex = ex, .ds = ds};
    SPATE_RETURN_NOT_OK(get_batch(ex, ds->parent, false, &cr.in));
    cr.is_string = ds->schema.cols[0].type == SPATE_TYPE_STRING;
    cr.out = sp_batch_new(&ex->sched, &ds->schema, SP_AGG_RADIX, ex->job->time_ms);
    if (cr.out == NULL) {
        record_error(ex, ENOMEM, "out of memory");
        return ENOMEM;
    }
    for (uint32_t w = 0; w < ex->nworkers; w++)
        memset(ex->ws[w].ctab, 0, sizeof(ex->ws[w].ctab));
    if (cr.in->nparts > 0)
        sp_pool_run(ex->pool, cr.in->nparts, combine_task, &cr);
    if (!atomic_load(&ex->failed))
        sp_pool_run(ex->pool, SP_AGG_RADIX, combine_merge_task, &cr);
    if (atomic_load(&ex->failed))
        return ex->err_code;
    sp_batch_count_rows(cr.out);
    *out = cr.out;
    return SPATE_OK;
}

/* ---- group_by_key, cogroup ---- */

struct group_run {
    struct join_run jr; /* the scatter: sides, keys, key kind */
    uint32_t nsides;
    uint32_t val[2];
    struct spate_batch *out;
};

/*
 * Stage 2 of group_by_key / cogroup for radix partition r: number the keys in
 * a table (each row's group kept in its reference), count each group's values
 * per side, lay the values out group after group, and emit (key, lists).
 */
static void group_task(void *arg, uint32_t r, uint32_t worker) {
    struct group_run *gr = arg;
    struct sp_exec *ex = gr->jr.ex;
    struct sp_region *rg = &ex->ws[worker].batch;
    bool is_string = gr->jr.is_string;
    uint32_t total = 0, per_side[2] = {0, 0};
    for (uint32_t side = 0; side < gr->nsides; side++)
        for (uint32_t w = 0; w < ex->nworkers; w++)
            per_side[side] += ex->ws[w].jbuf[side][r].n;
    total = per_side[0] + per_side[1];
    if (total == 0)
        return;
    struct sp_agg_table t;
    if (sp_agg_table_init(&t, rg, total) != SPATE_OK)
        goto oom;
    uint32_t *cnt[2] = {NULL, NULL}, *nulls[2] = {NULL, NULL}, *off[2] = {NULL, NULL};
    char *items[2] = {NULL, NULL};
    uint64_t **bits[2] = {NULL, NULL};
    size_t width[2] = {0, 0};
    for (uint32_t side = 0; side < gr->nsides; side++) {
        cnt[side] = sp_region_alloc(rg, sizeof(uint32_t) * total, 64);
        nulls[side] = sp_region_alloc(rg, sizeof(uint32_t) * total, 64);
        if (cnt[side] == NULL || nulls[side] == NULL)
            goto oom;
        memset(cnt[side], 0, sizeof(uint32_t) * total);
        memset(nulls[side], 0, sizeof(uint32_t) * total);
    }
    /* 1. Group of every row, values and nulls per group. */
    for (uint32_t side = 0; side < gr->nsides; side++) {
        uint32_t kc = gr->jr.key[side], vc = gr->val[side];
        for (uint32_t w = 0; w < ex->nworkers; w++) {
            struct sp_jbuf *b = &ex->ws[w].jbuf[side][r];
            for (uint32_t i = 0; i < b->n; i++) {
                struct sp_jref *x = &b->refs[i];
                bool fresh;
                uint32_t e = is_string
                                 ? sp_agg_find_or_add_str(&t, rg, x->hash, ref_str(x, kc), &fresh)
                                 : sp_agg_find_or_add_i64(&t, rg, x->hash, ref_i64(x, kc), &fresh);
                if (e == UINT32_MAX)
                    goto oom;
                x->next = e; /* only this task touches partition r's references */
                cnt[side][e]++;
                nulls[side][e] += !sp_valid(x->chunk->cols[vc].validity, x->row);
            }
        }
    }
    uint32_t groups = t.n;
    /* 2. Each group's values side by side: offsets, then the values in arrival order. */
    for (uint32_t side = 0; side < gr->nsides; side++) {
        enum spate_type vt = gr->out->schema->cols[1 + side].type;
        width[side] = sp_type_width(SPATE_LIST_ELEM(vt));
        off[side] = sp_region_alloc(rg, sizeof(uint32_t) * (groups + 1), 64);
        items[side] = sp_region_alloc(rg, width[side] * (per_side[side] ? per_side[side] : 1), 64);
        bits[side] = sp_region_alloc(rg, sizeof(uint64_t *) * groups, 64);
        if (off[side] == NULL || items[side] == NULL || bits[side] == NULL)
            goto oom;
        uint32_t at = 0;
        for (uint32_t g = 0; g < groups; g++) {
            off[side][g] = at;
            at += cnt[side][g];
            bits[side][g] = NULL;
            if (nulls[side][g] > 0) { /* only groups with nulls get a bitmap */
                size_t bytes = sizeof(uint64_t) * ((cnt[side][g] + 63) / 64);
                if ((bits[side][g] = sp_region_alloc(rg, bytes, 64)) == NULL)
                    goto oom;
                memset(bits[side][g], 0, bytes);
            }
            cnt[side][g] = 0; /* from here on: values placed so far */
        }
        off[side][groups] = at;
        uint32_t vc = gr->val[side];
        for (uint32_t w = 0; w < ex->nworkers; w++) {
            const struct sp_jbuf *b = &ex->ws[w].jbuf[side][r];
            for (uint32_t i = 0; i < b->n; i++) {
                const struct sp_jref *x = &b->refs[i];
                uint32_t g = x->next, k = cnt[side][g]++;
                const struct spate_column_view *col = &x->chunk->cols[vc];
                bool ok = sp_valid(col->validity, x->row);
                char *dst = items[side] + width[side] * (off[side][g] + k);
                if (ok)
                    memcpy(dst, (const char *)col->data + width[side] * x->row, width[side]);
                else
                    memset(dst, 0, width[side]);
                if (ok && bits[side][g] != NULL)
                    bits[side][g][k >> 6] |= 1ull << (k & 63);
            }
        }
    }
    /* 3. (key, lists) in the order keys first arrived. */
    for (uint32_t base = 0; base < groups; base += SPATE_CHUNK_ROWS) {
        uint32_t rows = SP_MIN(SPATE_CHUNK_ROWS, groups - base);
        struct sp_chunk *c = sp_chunk_new(rg, gr->out->schema);
        if (c == NULL)
            goto oom;
        for (uint32_t i = 0; i < rows; i++) {
            uint32_t g = base + i;
            const struct sp_agg_entry *e = &t.entries[g];
            if (is_string)
                ((struct spate_string *)sp_col_data(c, 0))[i] = e->key.s;
            else
                ((int64_t *)sp_col_data(c, 0))[i] = e->key.i;
            for (uint32_t side = 0; side < gr->nsides; side++) {
                struct spate_list *l = &((struct spate_list *)sp_col_data(c, 1 + side))[i];
                l->len = off[side][g + 1] - off[side][g];
                l->null_count = nulls[side][g];
                l->items = l->len > 0 ? items[side] + width[side] * off[side][g] : NULL;
                l->validity = bits[side][g];
            }
        }
        c->view.rows = rows;
        if (sp_part_append(rg, &gr->out->parts[r], c) != SPATE_OK)
            goto oom;
    }
    return;
oom:
    record_error(ex, ENOMEM, "out of memory in group_by_key");
}

static spate_status run_group(struct sp_exec *ex, struct spate_dstream *ds,
                              struct spate_batch **out) {
    struct group_run gr;
    memset(&gr, 0, sizeof(gr));
    gr.jr.ex = ex;
    struct spate_batch *lb, *rb = NULL;
    SPATE_RETURN_NOT_OK(get_batch(ex, ds->parent, false, &lb));
    gr.nsides = ds->u.group.right != NULL ? 2 : 1;
    if (gr.nsides == 2)
        SPATE_RETURN_NOT_OK(get_batch(ex, ds->u.group.right, false, &rb));
    /* group_by_key scatters its one side; an empty batch stands in for the other. */
    struct spate_batch *none = sp_batch_new(&ex->sched, &ds->schema, 0, ex->job->time_ms);
    if (none == NULL) {
        record_error(ex, ENOMEM, "out of memory");
        return ENOMEM;
    }
    gr.jr.side[0] = lb;
    gr.jr.side[1] = rb != NULL ? rb : none;
    for (uint32_t s = 0; s < 2; s++) {
        gr.jr.key[s] = ds->u.group.key[s];
        gr.val[s] = ds->u.group.val[s];
    }
    gr.jr.is_string = ds->schema.cols[0].type == SPATE_TYPE_STRING;
    gr.out = sp_batch_new(&ex->sched, &ds->schema, SP_AGG_RADIX, ex->job->time_ms);
    if (gr.out == NULL) {
        record_error(ex, ENOMEM, "out of memory");
        return ENOMEM;
    }
    for (uint32_t w = 0; w < ex->nworkers; w++)
        memset(ex->ws[w].jbuf, 0, sizeof(ex->ws[w].jbuf));
    uint32_t parts = SP_MAX(gr.jr.side[0]->nparts, gr.jr.side[1]->nparts);
    if (parts > 0)
        sp_pool_run(ex->pool, 2 * parts, join_scatter_task, &gr.jr);
    if (!atomic_load(&ex->failed))
        sp_pool_run(ex->pool, SP_AGG_RADIX, group_task, &gr);
    if (atomic_load(&ex->failed))
        return ex->err_code;
    sp_batch_count_rows(gr.out);
    *out = gr.out;
    return SPATE_OK;
}

/* flat_map_values: columns with the key of the writer's current row in front. */
static spate_status writer_with_key(spate_batch_writer *w, const struct spate_column_data *columns,
                                    uint64_t rows, struct spate_column_data *out,
                                    struct spate_error *err) {
    const struct spate_column_view *kc = &w->key_chunk->cols[w->key_col];
    size_t width = sp_type_width(kc->type);
    char *keys = sp_region_alloc(&w->ws->batch, width * rows, 64);
    if (keys == NULL)
        return sp_error_set(err, ENOMEM, "batch_writer_append: out of memory");
    const char *key = (const char *)kc->data + width * w->key_row;
    for (uint64_t i = 0; i < rows; i++)
        memcpy(keys + width * i, key, width);
    uint64_t *valid = NULL;
    if (!sp_valid(kc->validity, w->key_row)) {
        size_t bytes = sizeof(uint64_t) * ((rows + 63) / 64);
        if ((valid = sp_region_alloc(&w->ws->batch, bytes, 64)) == NULL)
            return sp_error_set(err, ENOMEM, "batch_writer_append: out of memory");
        memset(valid, 0, bytes);
    }
    out[0].data = keys;
    out[0].validity = valid;
    memcpy(&out[1], columns, sizeof(*columns) * (w->schema->ncols - 1));
    return SPATE_OK;
}

spate_status spate_batch_writer_append(spate_batch_writer *w,
                                       const struct spate_column_data *columns, uint64_t rows,
                                       struct spate_error *err) {
    if (w == NULL)
        return sp_error_set(err, EINVAL, "batch_writer_append: the writer is NULL");
    if (rows == 0)
        return SPATE_OK;
    if (rows > UINT32_MAX)
        return sp_error_set(err, EINVAL, "batch_writer_append: %" PRIu64 " rows in one call", rows);
    struct spate_column_data keyed[SP_MAX_COLUMNS];
    if (w->key_chunk != NULL) {
        if (columns == NULL)
            return sp_error_set(err, EINVAL, "batch_writer_append: columns is NULL");
        SPATE_RETURN_NOT_OK(writer_with_key(w, columns, rows, keyed, err));
        columns = keyed;
    }
    struct sp_queue_item *item;
    SPATE_RETURN_NOT_OK(
        sp_queue_item_build(w->schema, columns, rows, "batch_writer_append", &item, err));
    if (w->cr != NULL) {
        /* flat_map: the copies live until the batch is released (views may point into them);
         * each chunk goes down the chain now. */
        item->next = w->ws->items;
        w->ws->items = item;
        const struct sp_part *fp = &item->batch->parts[0];
        for (uint32_t c = 0; c < fp->nchunks; c++)
            push(w->cr, w->ws, w->part, w->level + 1, fp->chunks[c]);
        return SPATE_OK;
    }
    /* transform, map_partitions: the item lives until the batch is released; its chunks join
     * the output partition. */
    item->next = *w->items;
    *w->items = item;
    const struct sp_part *p = &item->batch->parts[0];
    for (uint32_t c = 0; c < p->nchunks; c++)
        if (sp_part_append(w->region, &w->out->parts[w->part], p->chunks[c]) != SPATE_OK)
            return sp_error_set(err, ENOMEM, "batch_writer_append: out of memory");
    return SPATE_OK;
}

static spate_status run_transform(struct sp_exec *ex, struct spate_dstream *ds,
                                  struct spate_batch **out) {
    struct spate_batch *in, *right = NULL;
    SPATE_RETURN_NOT_OK(get_batch(ex, ds->parent, false, &in));
    if (ds->kind == SP_NODE_TRANSFORM2)
        SPATE_RETURN_NOT_OK(get_batch(ex, ds->u.transform2.right, false, &right));
    struct spate_batch_writer w = {.ex = ex,
                                   .out =
                                       sp_batch_new(&ex->sched, &ds->schema, 1, ex->job->time_ms),
                                   .region = &ex->sched,
                                   .items = &ex->items,
                                   .schema = &ds->schema};
    if (w.out == NULL) {
        record_error(ex, ENOMEM, "out of memory");
        return ENOMEM;
    }
    struct spate_error e;
    e.message[0] = '\0';
    spate_status rc = ds->kind == SP_NODE_TRANSFORM2
                          ? ds->u.transform2.fn(ds->u.transform2.user, in, right, &w, &e)
                          : ds->u.transform.fn(ds->u.transform.user, in, &w, &e);
    /* Always forget the batches' exports; an export left out fails the batch unless the
     * function already did. */
    struct spate_error be;
    spate_status brc = sp_arrow_check_borrowed(in, &be);
    if (right != NULL && brc == SPATE_OK)
        brc = sp_arrow_check_borrowed(right, &be);
    else if (right != NULL)
        (void)sp_arrow_check_borrowed(right, NULL);
    if (rc == SPATE_OK && brc != SPATE_OK) {
        rc = brc;
        e = be;
    }
    if (rc != SPATE_OK) {
        record_error(ex, rc, "transform function failed: %s",
                     e.message[0] ? e.message : strerror(rc));
        return rc;
    }
    sp_batch_count_rows(w.out);
    *out = w.out;
    return SPATE_OK;
}

struct mpart_run {
    struct sp_exec *ex;
    struct spate_dstream *ds;
    struct spate_batch *in;
    struct spate_batch *out;
};

static void mpart_task(void *arg, uint32_t part, uint32_t worker) {
    struct mpart_run *mr = arg;
    struct sp_exec *ex = mr->ex;
    struct sp_wstate *ws = &ex->ws[worker];
    struct spate_batch_writer w = {.ex = ex,
                                   .out = mr->out,
                                   .region = &ws->batch,
                                   .items = &ws->items,
                                   .ws = ws,
                                   .part = part,
                                   .schema = &mr->ds->schema};
    struct spate_error e;
    e.message[0] = '\0';
    spate_status rc = mr->ds->u.mpart.fn(mr->ds->u.mpart.user, mr->in, part, &w, &e);
    if (rc != SPATE_OK)
        record_error(ex, rc, "map_partitions function failed on partition %u: %s", part,
                     e.message[0] ? e.message : strerror(rc));
}

/* map_partitions: the function on every partition, in parallel; the output keeps them. */
static spate_status run_map_partitions(struct sp_exec *ex, struct spate_dstream *ds,
                                       struct spate_batch **out) {
    struct mpart_run mr = {.ex = ex, .ds = ds};
    SPATE_RETURN_NOT_OK(get_batch(ex, ds->parent, false, &mr.in));
    mr.out = sp_batch_new(&ex->sched, &ds->schema, mr.in->nparts, ex->job->time_ms);
    if (mr.out == NULL) {
        record_error(ex, ENOMEM, "out of memory");
        return ENOMEM;
    }
    sp_pool_run(ex->pool, mr.in->nparts, mpart_task, &mr);
    struct spate_error e;
    if (sp_arrow_check_borrowed(mr.in, &e) != SPATE_OK)
        record_error(ex, EINVAL, "map_partitions: %s", e.message);
    if (atomic_load(&ex->failed))
        return ex->err_code;
    sp_batch_count_rows(mr.out);
    *out = mr.out;
    return SPATE_OK;
}

/* repartition: the parent's chunks dealt out to the new partitions in turn. */
static spate_status run_repartition(struct sp_exec *ex, struct spate_dstream *ds,
                                    struct spate_batch **out) {
    struct spate_batch *in;
    SPATE_RETURN_NOT_OK(get_batch(ex, ds->parent, false, &in));
    struct spate_batch *b =
        sp_batch_new(&ex->sched, &ds->schema, ds->u.partitions, ex->job->time_ms);
    if (b == NULL) {
        record_error(ex, ENOMEM, "out of memory");
        return ENOMEM;
    }
    uint32_t next = 0;
    for (uint32_t p = 0; p < in->nparts; p++) {
        for (uint32_t c = 0; c < in->parts[p].nchunks; c++) {
            if (sp_part_append(&ex->sched, &b->parts[next], in->parts[p].chunks[c]) != SPATE_OK) {
                record_error(ex, ENOMEM, "out of memory");
                return ENOMEM;
            }
            next = (next + 1) % ds->u.partitions;
        }
    }
    b->rows = in->rows;
    *out = b;
    return SPATE_OK;
}

/* union: the partitions of every parent's batch, in order. */
static spate_status run_union(struct sp_exec *ex, struct spate_dstream *ds,
                              struct spate_batch **out) {
    uint32_t n = ds->u.uni.n, nparts = 0;
    struct spate_batch *parts_of[64];
    struct spate_batch **pb = parts_of;
    if (n > 64) {
        pb = sp_region_alloc(&ex->sched, sizeof(*pb) * n, 8);
        if (pb == NULL)
            return ENOMEM;
    }
    for (uint32_t i = 0; i < n; i++) {
        SPATE_RETURN_NOT_OK(get_batch(ex, ds->u.uni.parents[i], false, &pb[i]));
        nparts += pb[i]->nparts;
    }
    struct spate_batch *b = sp_batch_new(&ex->sched, &ds->schema, nparts, ex->job->time_ms);
    if (b == NULL) {
        record_error(ex, ENOMEM, "out of memory");
        return ENOMEM;
    }
    uint32_t at = 0;
    for (uint32_t i = 0; i < n; i++) {
        memcpy(&b->parts[at], pb[i]->parts, sizeof(struct sp_part) * pb[i]->nparts);
        at += pb[i]->nparts;
        b->rows += pb[i]->rows;
    }
    *out = b;
    return SPATE_OK;
}

static spate_status get_batch(struct sp_exec *ex, struct spate_dstream *ds, bool text_ok,
                              struct spate_batch **out) {
    if (ds->memo != NULL && ds->memo_time == ex->job->time_ms && (text_ok || !ds->memo->text)) {
        *out = ds->memo;
        return SPATE_OK;
    }
    spate_status rc;
    struct spate_batch *b = NULL;
    switch (ds->kind) {
    case SP_NODE_SOCKET:
    case SP_NODE_QUEUE: {
        uint32_t idx = 0;
        for (struct sp_input *in = ex->ctx->inputs; in != NULL && in != ds->input; in = in->next)
            idx++;
        b = ex->sources[idx];
        if (!b->text || text_ok) {
            *out = b;
            return SPATE_OK;
        }
        rc = materialize(ex, ds, &b);
        break;
    }
    case SP_NODE_COUNT:
        rc = run_count(ex, ds, &b);
        break;
    case SP_NODE_REDUCE:
        rc = run_reduce(ex, ds, &ds->u.reduce, false, &b);
        break;
    case SP_NODE_UNION:
        rc = run_union(ex, ds, &b);
        break;
    case SP_NODE_REPARTITION:
        rc = run_repartition(ex, ds, &b);
        break;
    case SP_NODE_REDUCE_ALL:
        rc = run_reduce_all(ex, ds, &ds->u.reduce, &b);
        break;
    case SP_NODE_TRANSFORM:
    case SP_NODE_TRANSFORM2:
        rc = run_transform(ex, ds, &b);
        break;
    case SP_NODE_MAP_PARTITIONS:
        rc = run_map_partitions(ex, ds, &b);
        break;
    case SP_NODE_GROUP:
        rc = run_group(ex, ds, &b);
        break;
    case SP_NODE_COMBINE:
        rc = run_combine(ex, ds, &b);
        break;
    case SP_NODE_JOIN:
        rc = run_join(ex, ds, &b);
        break;
    case SP_NODE_STATE_SNAPSHOT:
        if (ex->snaps[ds->parent->id] == NULL || ds->parent->memo_time != ex->job->time_ms) {
            record_error(ex, EINVAL, "internal: state snapshot read before its state ran");
            return EINVAL;
        }
        b = ex->snaps[ds->parent->id];
        rc = SPATE_OK;
        break;
    case SP_NODE_REDUCE_WINDOW:
    case SP_NODE_UPDATE_STATE:
    case SP_NODE_MAP_STATE:
    case SP_NODE_WINDOW:
        /* Computed by window_update / state_update at the batches where it is valid. */
        record_error(ex, EINVAL, "internal: window stream read at a batch where it is not valid");
        return EINVAL;
    default:
        rc = materialize(ex, ds, &b);
        break;
    }
    if (rc != SPATE_OK)
        return rc;
    ds->memo = b;
    ds->memo_time = ex->job->time_ms;
    *out = b;
    return SPATE_OK;
}

/* ---- Windows ---- */

struct win_run {
    struct chain_run cr; /* the aggregation spec (fold rules) */
    struct sp_window_state *st;
    const struct sp_window_def *def;
    const struct spate_batch *pane; /* this batch's reduce_by_key, R partitions */
    uint32_t slot;                  /* where the new pane goes */
    bool had_old;                   /* the slot held a pane that now leaves the window */
    bool flip;                      /* two-stacks: the back becomes the front first */
    uint32_t front_n;               /* two-stacks: front panes once the old one left */
    uint64_t k;                     /* batch index */
    bool emit;
    struct spate_batch *out;
    _Atomic bool broken; /* a task failed: the window state may be half updated */
};

/*
 * Panes combine in two passes: the keys of a block of pane rows are looked up
 * (or added) in the window table, giving one entry index per row, then a pane
 * kernel (kernels/window/pane.h) combines the block's values into those
 * entries' words. The keys of one pane, or of one table, are distinct, so the
 * indexes of a block are too (the kernels' precondition). A fresh entry's
 * words start at the operator's identity, or at the value for MIN/MAX, so the
 * kernel leaves exactly the pane's value there, as a first value would be.
 * User reduce functions keep a one-value-at-a-time path (win_combine).
 */
#define WIN_BLOCK 256u /* rows looked up per kernel call (stack buffers: 5 KiB) */
#define WIN_STRIDE (sizeof(struct sp_agg_entry) / 8)
#define WIN_VAL_WORD (offsetof(struct sp_agg_entry, val) / 8)
#define WIN_CNT_WORD (offsetof(struct sp_agg_entry, stamp) / 8)
_Static_assert(sizeof(struct sp_agg_entry) % 8 == 0 && offsetof(struct sp_agg_entry, val) % 8 == 0,
               "pane kernels see table entries as 64-bit words");
_Static_assert(offsetof(struct sp_agg_entry, stamp) % 8 == 0 &&
                   offsetof(struct sp_agg_entry, pad_) ==
                       offsetof(struct sp_agg_entry, stamp) + 4 &&
                   __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "AVG's count (sp_agg_count) is the 64-bit word at stamp");

/* How pane values meet a window's entries. */
struct win_plan {
    bool kernel;        /* a built-in aggregate: the pane kernels; else the user's functions */
    bool f64;           /* the val words hold doubles */
    enum sp_pane_op op; /* on the val words */
    bool count;         /* AVG: the count words too, ADD (SUB for the inverse) */
};

/* Adding a pane: as values reduce pairwise (reduce_pair), COUNT adding up. */
static struct win_plan win_plan_add(const struct sp_agg_spec *spec) {
    struct win_plan pl = {.kernel = spec->fn == NULL, .f64 = spec->value_is_f64, .op = SP_PANE_ADD};
    if (spec->avg) {
        pl.f64 = true; /* the sum is f64 whatever the input type */
        pl.count = true;
    } else if (spec->agg == SPATE_AGG_MIN) {
        pl.op = SP_PANE_MIN;
    } else if (spec->agg == SPATE_AGG_MAX) {
        pl.op = SP_PANE_MAX;
    }
    return pl;
}

/* Taking a pane out: SUB for SUM/COUNT/AVG and f64 values, else the user's inv_fn. */
static struct win_plan win_plan_sub(const struct sp_agg_spec *spec,
                                    const struct sp_window_def *def) {
    struct win_plan pl = {.kernel = true, .f64 = spec->value_is_f64, .op = SP_PANE_SUB};
    if (spec->avg) {
        pl.f64 = true;
        pl.count = true;
    } else if (!spec->value_is_f64 && def->inv_fn != NULL) {
        pl.kernel = false;
    }
    return pl;
}

/* entries[idx[j]] (op)= vals[j] (and AVG's counts) for j < n, with the best pane kernels. */
static void win_apply(const struct sp_kernels *k, const struct win_plan *pl, struct sp_agg_table *t,
                      const uint32_t *idx, const int64_t *vals, const int64_t *cnts, uint32_t n) {
    uint64_t *base = (uint64_t *)(void *)t->entries;
    if (pl->f64)
        k->pane_combine_f64(base, WIN_STRIDE, WIN_VAL_WORD, idx, (const double *)(const void *)vals,
                            n, pl->op);
    else
        k->pane_combine_i64(base, WIN_STRIDE, WIN_VAL_WORD, idx, vals, n, pl->op);
    if (pl->count)
        k->pane_combine_i64(base, WIN_STRIDE, WIN_CNT_WORD, idx, cnts, n,
                            pl->op == SP_PANE_SUB ? SP_PANE_SUB : SP_PANE_ADD);
}

/* A fresh entry's first words (sp_agg_add_entry zeroed it: AVG's count starts at 0). */
static void win_fresh(const struct win_plan *pl, struct sp_agg_entry *e, int64_t bits) {
    uint64_t w = sp_pane_fresh(pl->op, pl->f64, (uint64_t)bits);
    memcpy(&e->val, &w, 8);
}

/* acc = acc (+) v with the user's reduce function (fresh: acc = v). */
static void win_combine(const struct sp_agg_spec *spec, struct sp_agg_entry *e, int64_t bits,
                        bool fresh) {
    if (fresh)
        e->val.i = bits;
    else
        reduce_pair(spec, &e->val.i, &bits);
}

static uint32_t win_find(struct sp_agg_table *t, struct sp_region *r, bool is_string,
                         const struct sp_pane_part *p, uint32_t i, bool *fresh) {
    if (is_string)
        return sp_agg_find_or_add_str(t, r, p->hashes[i], &((struct spate_string *)p->keys)[i],
                                      fresh);
    return sp_agg_find_or_add_i64(t, r, p->hashes[i], ((int64_t *)p->keys)[i], fresh);
}

static bool win_hidden(const struct win_run *wr, const struct sp_agg_entry *e);

/* Emit the entries of table t as chunks of partition r of wr->out. */
static bool win_emit(struct win_run *wr, struct sp_wstate *ws, const struct sp_agg_table *t,
                     uint32_t r) {
    for (uint32_t base = 0; base < t->n; base += SPATE_CHUNK_ROWS) {
        uint32_t rows = SP_MIN(SPATE_CHUNK_ROWS, t->n - base);
        struct sp_chunk *c = sp_chunk_new(&ws->batch, wr->out->schema);
        if (c == NULL)
            return false;
        uint32_t out_rows = 0;
        uint32_t vcol = wr->def->keyless ? 0 : 1;
        for (uint32_t i = 0; i < rows; i++) {
            const struct sp_agg_entry *e = &t->entries[base + i];
            if (win_hidden(wr, e))
                continue;
            if (wr->cr.spec.avg || wr->cr.spec.nkeys > 0) {
                if (!put_entry(&wr->cr.spec, &ws->batch, c, out_rows++, e, false))
                    return false;
                continue;
            }
            if (!wr->def->keyless && wr->cr.spec.key_is_string)
                ((struct spate_string *)sp_col_data(c, 0))[out_rows] = e->key.s;
            else if (!wr->def->keyless)
                ((int64_t *)sp_col_data(c, 0))[out_rows] = e->key.i;
            memcpy((char *)sp_col_data(c, vcol) + 8 * (size_t)out_rows, &e->val, 8);
            out_rows++;
        }
        c->view.rows = out_rows;
        if (sp_part_append(&ws->batch, &wr->out->parts[r], c) != SPATE_OK)
            return false;
    }
    return true;
}

/* Whether the window's output leaves e out (count_by_value_and_window's zeros, the filter). */
static bool win_hidden(const struct win_run *wr, const struct sp_agg_entry *e) {
    if (wr->def->drop_zero && e->val.i == 0)
        return true;
    if (wr->def->keep_fn == NULL)
        return false;
    bool is_string = wr->cr.spec.key_is_string;
    return !wr->def->keep_fn(wr->def->keep_user, is_string ? &e->key.s : NULL,
                             is_string ? 0 : e->key.i, e->val.i, e->val.f);
}

/* Whether a running-table entry may go: hidden and at the identity (0), so that it is the
 * same as absent if its key comes back. */
static bool win_removable(const struct win_run *wr, const struct sp_agg_entry *e) {
    return e->val.i == 0 && (wr->def->drop_zero || wr->def->keep_fn != NULL) && win_hidden(wr, e);
}

/*
 * Rebuild *table without the entries drop() says go, into a fresh region that
 * replaces *region (keys copied in, values, stamps and flags kept). Long-lived
 * tables (running windows, map_with_state) use it so that removed keys give
 * their memory back. Returns false on ENOMEM (the old table stays).
 */
static bool rebuild_table(struct sp_region *region, struct sp_agg_table *table, bool is_string,
                          bool (*drop)(const void *ctx, const struct sp_agg_entry *e),
                          const void *drop_ctx) {
    struct sp_region fresh_region;
    sp_region_init(&fresh_region, region->arena, region->block_size);
    struct sp_agg_table t;
    uint32_t live = 0;
    for (uint32_t i = 0; i < table->n; i++)
        live += !drop(drop_ctx, &table->entries[i]);
    if (sp_agg_table_init(&t, &fresh_region, live > 0 ? live : 1) != SPATE_OK)
        goto fail;
    for (uint32_t i = 0; i < table->n; i++) {
        const struct sp_agg_entry *e = &table->entries[i];
        if (drop(drop_ctx, e))
            continue;
        bool fresh;
        uint32_t idx = is_string
                           ? sp_agg_find_or_add_str(&t, &fresh_region, e->hash, &e->key.s, &fresh)
                           : sp_agg_find_or_add_i64(&t, &fresh_region, e->hash, e->key.i, &fresh);
        if (idx == UINT32_MAX)
            goto fail;
        struct sp_agg_entry *n = &t.entries[idx];
        if (is_string && !sp_window_own_string(&fresh_region, &e->key.s, &n->key.s))
            goto fail;
        n->val = e->val;
        n->stamp = e->stamp;
        n->pad_ = e->pad_;
    }
    sp_region_destroy(region);
    *region = fresh_region;
    *table = t;
    return true;
fail:
    sp_region_destroy(&fresh_region);
    return false;
}

static bool drop_removable(const void *wr, const struct sp_agg_entry *e) {
    return win_removable(wr, e);
}

/*
 * Insert every key of pane p, or (p NULL) every entry of table src, into t,
 * values combined. own_keys: fresh string keys get their long bytes copied
 * into r (a table that outlives the pane). Returns false on ENOMEM.
 */
static bool win_fold(const struct sp_kernels *k, struct sp_agg_table *t, struct sp_region *r,
                     const struct sp_agg_spec *spec, const struct sp_pane_part *p,
                     const struct sp_agg_table *src, bool own_keys) {
    struct win_plan pl = win_plan_add(spec);
    bool is_string = spec->key_is_string;
    uint32_t idx[WIN_BLOCK];
    int64_t vals[WIN_BLOCK], cnts[WIN_BLOCK];
    uint32_t total = p != NULL ? p->n : src->n;
    for (uint32_t from = 0; from < total; from += WIN_BLOCK) {
        uint32_t n = SP_MIN(WIN_BLOCK, total - from);
        /* 1. Lookup: one entry index per row. */
        for (uint32_t j = 0; j < n; j++) {
            uint32_t i = from + j;
            bool fresh;
            uint32_t x;
            if (p != NULL) {
                x = win_find(t, r, is_string, p, i, &fresh);
                vals[j] = p->vals[i];
                cnts[j] = p->cnts != NULL ? p->cnts[i] : 0;
            } else {
                const struct sp_agg_entry *e = &src->entries[i];
                x = is_string ? sp_agg_find_or_add_str(t, r, e->hash, &e->key.s, &fresh)
                              : sp_agg_find_or_add_i64(t, r, e->hash, e->key.i, &fresh);
                vals[j] = e->val.i;
                cnts[j] = (int64_t)sp_agg_count(e);
            }
            if (x == UINT32_MAX)
                return false;
            struct sp_agg_entry *e = &t->entries[x];
            if (fresh && own_keys && is_string && !sp_window_own_string(r, &e->key.s, &e->key.s))
                return false;
            if (!pl.kernel) { /* a user function: one value at a time */
                win_combine(spec, e, vals[j], fresh);
                continue;
            }
            if (fresh)
                win_fresh(&pl, e, vals[j]);
            idx[j] = x;
        }
        /* 2. Combine (t->entries is final for the block: lookups may have grown it). */
        if (pl.kernel)
            win_apply(k, &pl, t, idx, vals, cnts, n);
    }
    return true;
}

/* Insert every entry of table src into t (values combined). */
static bool win_add_table(const struct sp_kernels *k, struct sp_agg_table *t, struct sp_region *r,
                          const struct sp_agg_spec *spec, const struct sp_agg_table *src) {
    return win_fold(k, t, r, spec, NULL, src, false);
}

/* Insert every key of pane p into t (values combined). */
static bool win_add_pane(const struct sp_kernels *k, struct sp_agg_table *t, struct sp_region *r,
                         const struct sp_agg_spec *spec, const struct sp_pane_part *p) {
    return win_fold(k, t, r, spec, p, NULL, false);
}

/* Take pane old out of the running table t: its values, inverse-combined. */
static bool win_remove_pane(const struct win_run *wr, struct sp_agg_table *t, struct sp_region *r,
                            const struct sp_pane_part *old) {
    const struct sp_kernels *k = wr->cr.ex->k;
    struct win_plan pl = win_plan_sub(&wr->cr.spec, wr->def);
    bool is_string = wr->cr.spec.key_is_string;
    uint32_t idx[WIN_BLOCK];
    int64_t vals[WIN_BLOCK], cnts[WIN_BLOCK];
    for (uint32_t from = 0; from < old->n; from += WIN_BLOCK) {
        uint32_t n = 0, end = SP_MIN(from + WIN_BLOCK, old->n);
        for (uint32_t i = from; i < end; i++) {
            bool fresh;
            uint32_t x = win_find(t, r, is_string, old, i, &fresh);
            if (x == UINT32_MAX)
                return false;
            if (SPATE_NEVER(fresh)) /* every key of a pane was added with it */
                continue;
            if (!pl.kernel) { /* the user's inv_fn, one value at a time */
                int64_t bits = old->vals[i];
                wr->def->inv_fn(wr->def->inv_user, &t->entries[x].val.i, &bits, 1);
                continue;
            }
            idx[n] = x;
            vals[n] = old->vals[i];
            cnts[n] = old->cnts != NULL ? old->cnts[i] : 0;
            n++;
        }
        if (pl.kernel)
            win_apply(k, &pl, t, idx, vals, cnts, n);
    }
    return true;
}

/*
 * Two-stacks flip for partition r: the panes of slots after wr->slot (oldest
 * first, wr->slot itself is about to leave) become the front; each gets the
 * aggregate of itself and every newer pane, built newest first.
 */
static bool win_flip(struct win_run *wr, uint32_t r) {
    struct sp_window_state *st = wr->st;
    const struct sp_agg_spec *spec = &wr->cr.spec;
    const struct sp_suffix *newer = NULL;
    uint64_t pane_keys = 0, suffix_keys = 0;
    st->merge_only[r] = false;
    for (uint32_t j = st->npanes - 1; j >= 1; j--) {
        uint32_t s = (wr->slot + j) % st->npanes;
        struct sp_suffix *x = &st->suffix[s * SP_AGG_RADIX + r];
        const struct sp_pane_part *p = &st->parts[s * SP_AGG_RADIX + r];
        sp_window_clear_suffix(st, s, r);
        pane_keys += p->n;
        if (p->n == 0 && newer != NULL) { /* an empty pane: the same aggregate as the newer */
            x->alias = newer;
            x->ready = true;
            continue;
        }
        uint32_t hint = p->n + (newer != NULL ? newer->table.n : 0);
        if (sp_agg_table_init(&x->table, &x->region, hint > 0 ? hint : 1) != SPATE_OK)
            return false;
        x->ready = true;
        if (!win_add_pane(wr->cr.ex->k, &x->table, &x->region, spec, p))
            return false;
        if (newer != NULL &&
            !win_add_table(wr->cr.ex->k, &x->table, &x->region, spec, &newer->table))
            return false;
        suffix_keys += x->table.n;
        newer = x;
        /* Keys that change from pane to pane make every suffix hold most of the window:
         * past four times the panes' own keys, give the memory back and merge the panes at
         * each slide instead (until the next flip finds the keys settled). */
        if (suffix_keys > 4 * pane_keys + 4096) {
            for (uint32_t i = 1; i < st->npanes; i++)
                sp_window_clear_suffix(st, (wr->slot + i) % st->npanes, r);
            st->merge_only[r] = true;
            break;
        }
    }
    /* The back is now empty. */
    struct sp_running *run = &st->running[r];
    sp_region_destroy(&run->region);
    return sp_agg_table_init(&run->table, &run->region, 64) == SPATE_OK;
}

static void window_task(void *arg, uint32_t r, uint32_t worker) {
    struct win_run *wr = arg;
    struct sp_exec *ex = wr->cr.ex;
    struct sp_wstate *ws = &ex->ws[worker];
    struct sp_window_state *st = wr->st;
    bool is_string = wr->cr.spec.key_is_string;
    struct sp_running *run = &st->running[r];
    if (!run->ready) {
        if (sp_agg_table_init(&run->table, &run->region, 64) != SPATE_OK)
            goto oom;
        run->ready = true;
    }
    /* 1. The pane leaving the window: take it out of the running table (or, without an
     * inverse, out of the front stack, flipping the back over first when the front is
     * empty), then free it. */
    if (wr->had_old && wr->def->inverse &&
        !win_remove_pane(wr, &run->table, &run->region, &st->parts[wr->slot * SP_AGG_RADIX + r]))
        goto oom;
    if (wr->had_old && !wr->def->inverse && wr->flip && !win_flip(wr, r))
        goto oom;
    sp_window_clear_suffix(st, wr->slot, r);
    sp_window_clear_part(st, wr->slot, r);
    /* 2. The new pane: own copy, then into the running table (the back stack without an
     * inverse). */
    if (sp_window_store_part(st, wr->slot, r, &wr->pane->parts[r], is_string, wr->cr.spec.avg,
                             ex->k->hash_str, ex->k->hash_i64) != SPATE_OK)
        goto oom;
    /* The running table of an inverse window owns its keys: the pane's bytes leave with
     * the pane. The back stack's keys live as long as their panes. */
    if (!win_fold(ex->k, &run->table, &run->region, &wr->cr.spec,
                  &st->parts[wr->slot * SP_AGG_RADIX + r], NULL, wr->def->inverse))
        goto oom;
    /* Keys whose count went back to 0 leave (count_by_value_and_window): rebuild the
     * table once they are the majority, so the cost stays O(1) per key and update. */
    if (wr->def->inverse && (wr->def->drop_zero || wr->def->keep_fn != NULL)) {
        uint32_t gone = 0;
        for (uint32_t i = 0; i < run->table.n; i++)
            gone += win_removable(wr, &run->table.entries[i]);
        if (gone > 0 && gone * 2 > run->table.n &&
            !rebuild_table(&run->region, &run->table, is_string, drop_removable, wr))
            goto oom;
    }
    if (!wr->emit)
        return;
    /* 3. Emit: the running table, or the oldest front suffix combined with the back. */
    const struct sp_suffix *front = NULL;
    if (!wr->def->inverse && wr->front_n > 0 && st->merge_only[r]) {
        /* The suffixes gave up (see win_flip): merge the panes in the window, oldest first. */
        struct sp_agg_table t;
        uint32_t hint = 1;
        for (uint32_t s = 0; s < st->npanes; s++)
            hint += st->parts[s * SP_AGG_RADIX + r].n;
        if (sp_agg_table_init(&t, &ws->batch, hint) != SPATE_OK)
            goto oom;
        for (uint32_t j = 1; j <= st->npanes; j++) {
            uint32_t s = (wr->slot + j) % st->npanes;
            if ((s == wr->slot || st->pane_batch[s] != 0) &&
                !win_add_pane(ex->k, &t, &ws->batch, &wr->cr.spec,
                              &st->parts[s * SP_AGG_RADIX + r]))
                goto oom;
        }
        if (!win_emit(wr, ws, &t, r))
            goto oom;
        return;
    }
    if (!wr->def->inverse && wr->front_n > 0) {
        front = &st->suffix[((wr->slot + 1) % st->npanes) * SP_AGG_RADIX + r];
        if (front->alias != NULL)
            front = front->alias;
        if (SPATE_NEVER(!front->ready))
            front = NULL;
    }
    if (front == NULL) {
        if (!win_emit(wr, ws, &run->table, r))
            goto oom;
        return;
    }
    struct sp_agg_table t;
    if (sp_agg_table_init(&t, &ws->batch, front->table.n + run->table.n + 1) != SPATE_OK ||
        !win_add_table(ex->k, &t, &ws->batch, &wr->cr.spec, &front->table) ||
        !win_add_table(ex->k, &t, &ws->batch, &wr->cr.spec, &run->table) ||
        !win_emit(wr, ws, &t, r))
        goto oom;
    return;
oom:
    atomic_store(&wr->broken, true);
    record_error(ex, ENOMEM, "out of memory in reduce_by_key_and_window");
}

/*
 * count_by_window's pane: the parent batch's count as the one record (0, count)
 * of a (key, count) batch, in the radix partition of key 0, so that the keyed
 * window machinery runs it; no record for an empty batch (no key before data).
 */
static spate_status keyless_pane(struct sp_exec *ex, struct spate_dstream *ds,
                                 struct spate_batch **out) {
    int64_t total = 0;
    bool has;
    if (ds->u.window.reduce.fn == NULL && ds->u.window.reduce.agg == SPATE_AGG_COUNT) {
        struct spate_batch *counted; /* count_by_window */
        SPATE_RETURN_NOT_OK(run_count(ex, ds, &counted));
        total = ((const int64_t *)counted->parts[0].chunks[0]->cols[0].data)[0];
        has = total > 0;
    } else {
        struct spate_batch *reduced; /* reduce_by_window: one value, or none */
        SPATE_RETURN_NOT_OK(run_reduce_all(ex, ds, &ds->u.window.reduce, &reduced));
        has = reduced->rows > 0;
        if (has)
            memcpy(&total, reduced->parts[0].chunks[0]->cols[0].data, 8); /* i64 or f64 bits */
    }
    struct sp_schema *s = sp_region_alloc(&ex->sched, sizeof(*s), 64);
    struct spate_column_def cols[] = {{"key", SPATE_TYPE_I64}, {"count", SPATE_TYPE_I64}};
    if (s == NULL || sp_schema_set(s, cols, 2, NULL) != SPATE_OK)
        return ENOMEM;
    struct spate_batch *b = sp_batch_new(&ex->sched, s, SP_AGG_RADIX, ex->job->time_ms);
    if (b == NULL)
        return ENOMEM;
    if (has) {
        int64_t zero = 0;
        uint64_t h;
        ex->k->hash_i64(&zero, NULL, 1, &h);
        struct sp_chunk *c = sp_chunk_new(&ex->sched, s);
        if (c == NULL || sp_part_append(&ex->sched, &b->parts[sp_agg_radix(h)], c) != SPATE_OK)
            return ENOMEM;
        ((int64_t *)sp_col_data(c, 0))[0] = 0;
        ((int64_t *)sp_col_data(c, 1))[0] = total;
        c->view.rows = 1;
    }
    *out = b;
    return SPATE_OK;
}

/* At every batch where the parent is valid: store the pane; at every slide: emit. */
static spate_status window_update(struct sp_exec *ex, struct spate_dstream *ds) {
    uint64_t k = ex->job->index;
    const struct sp_window_def *def = &ds->u.window;
    struct sp_window_state *st = ex->windows[ds->id];
    if (k % ds->parent->slide_b != 0)
        return SPATE_OK;
    /* A batch that never reached the window (its pane failed, or the clock skipped it): the
     * panes no longer line up with their slots, so the window starts again from empty. */
    if (st->last_k != 0 && k != st->last_k + ds->parent->slide_b)
        sp_window_reset(st);
    struct win_run wr;
    memset(&wr, 0, sizeof(wr));
    struct spate_batch *pane;
    wr.cr.ex = ex;
    spate_status pane_rc;
    if (def->keyless) {
        pane_rc = keyless_pane(ex, ds, &pane);
        wr.cr.spec.agg = def->reduce.fn != NULL ? SPATE_AGG_SUM : def->reduce.agg;
        wr.cr.spec.fn = def->reduce.fn;
        wr.cr.spec.user = def->reduce.user;
        wr.cr.spec.value_is_f64 = ds->schema.cols[0].type == SPATE_TYPE_F64;
    } else {
        pane_rc = run_reduce(ex, ds, &def->reduce, true, &pane);
        set_agg_spec(&wr.cr, &def->reduce, &ds->parent->schema, &ds->schema);
    }
    /* A batch whose pane failed (a user function, memory) fails, and only it: its pane is
     * empty, so the window goes on with every other batch's data in the right slots. */
    if (pane_rc != SPATE_OK &&
        (pane = sp_batch_new(&ex->sched, &ds->schema, SP_AGG_RADIX, ex->job->time_ms)) == NULL) {
        sp_window_reset(st);
        return pane_rc;
    }
    wr.st = st;
    wr.def = def;
    wr.pane = pane;
    wr.k = k;
    wr.slot = (uint32_t)((k / ds->parent->slide_b) % st->npanes);
    /* Panes older than the window (possible when the slide skips batches) leave too. */
    wr.had_old = st->pane_batch[wr.slot] != 0;
    wr.flip = wr.had_old && st->front_n == 0;
    wr.front_n = st->front_n;
    if (wr.had_old) /* a full window: the oldest pane, at the head of the front, leaves */
        wr.front_n = (wr.flip ? st->npanes : st->front_n) - 1;
    wr.emit = k % def->slide_b == 0;
    if (wr.emit) {
        wr.out = sp_batch_new(&ex->sched, &ds->schema, SP_AGG_RADIX, ex->job->time_ms);
        if (wr.out == NULL) {
            record_error(ex, ENOMEM, "out of memory");
            return ENOMEM;
        }
    }
    sp_pool_run(ex->pool, SP_AGG_RADIX, window_task, &wr);
    st->pane_batch[wr.slot] = k;
    st->front_n = wr.front_n;
    if (atomic_load(&wr.broken)) {
        /* The window's state may be half updated: start it again from empty. */
        sp_window_reset(st);
        return ex->err_code;
    }
    st->last_k = k;
    if (pane_rc != SPATE_OK)
        return pane_rc;
    if (wr.emit) {
        sp_batch_count_rows(wr.out);
        ds->memo = wr.out;
        ds->memo_time = ex->job->time_ms;
    }
    return SPATE_OK;
}

/* Append (key of e, v) to partition r of b; *cur is the chunk being filled. */
static bool emit_pair(struct sp_wstate *ws, struct spate_batch *b, uint32_t r,
                      struct sp_chunk **cur, bool is_string, const struct sp_agg_entry *e,
                      int64_t v) {
    struct sp_chunk *c = *cur;
    if (c == NULL || c->view.rows == SPATE_CHUNK_ROWS) {
        c = sp_chunk_new(&ws->batch, b->schema);
        if (c == NULL || sp_part_append(&ws->batch, &b->parts[r], c) != SPATE_OK)
            return false;
        *cur = c;
    }
    uint32_t row = c->view.rows++;
    if (is_string)
        ((struct spate_string *)sp_col_data(c, 0))[row] = e->key.s;
    else
        ((int64_t *)sp_col_data(c, 0))[row] = e->key.i;
    ((int64_t *)sp_col_data(c, 1))[row] = v;
    return true;
}

/* ---- State ---- */

struct state_run {
    struct chain_run cr;
    struct sp_state *st;
    const struct spate_state_opts *opts;
    struct spate_batch *out;
};

static uint32_t state_find(struct sp_agg_table *t, struct sp_region *r, bool is_string,
                           uint64_t hash, const struct spate_string *sk, int64_t ik, bool *fresh) {
    return is_string ? sp_agg_find_or_add_str(t, r, hash, sk, fresh)
                     : sp_agg_find_or_add_i64(t, r, hash, ik, fresh);
}

/* Keep key (from entry e) with state in the next table; strings are copied into its region. */
static bool state_keep(struct sp_agg_table *next, struct sp_region *r, bool is_string,
                       const struct sp_agg_entry *e, int64_t state) {
    bool fresh;
    uint32_t idx = is_string ? sp_agg_find_or_add_str(next, r, e->hash, &e->key.s, &fresh)
                             : sp_agg_find_or_add_i64(next, r, e->hash, e->key.i, &fresh);
    if (idx == UINT32_MAX)
        return false;
    struct sp_agg_entry *n = &next->entries[idx];
    if (is_string && fresh && !sp_window_own_string(r, &e->key.s, &n->key.s))
        return false;
    n->val.i = state;
    return true;
}

static void state_task(void *arg, uint32_t r, uint32_t worker) {
    struct state_run *sr = arg;
    struct sp_exec *ex = sr->cr.ex;
    struct sp_wstate *ws = &ex->ws[worker];
    struct sp_state_part *sp = &sr->st->parts[r];
    bool is_string = sr->cr.spec.key_is_string;
    /* 1. Group this batch's values by key: counts, then offsets, then values. */
    uint32_t total = 0;
    for (uint32_t w = 0; w < ex->nworkers; w++)
        total += ex->ws[w].scatter[r].n;
    struct sp_agg_table groups;
    uint32_t *row_group = NULL, *start = NULL, *fill = NULL;
    int64_t *values = NULL;
    if (sp_agg_table_init(&groups, &ws->batch, total > 0 ? total : 1) != SPATE_OK)
        goto oom;
    if (total > 0) {
        row_group = sp_region_alloc(&ws->batch, sizeof(uint32_t) * total, 64);
        values = sp_region_alloc(&ws->batch, sizeof(int64_t) * total, 64);
        if (row_group == NULL || values == NULL)
            goto oom;
    }
    uint32_t at = 0;
    for (uint32_t w = 0; w < ex->nworkers; w++) {
        const struct sp_scatter *sc = &ex->ws[w].scatter[r];
        for (uint32_t i = 0; i < sc->n; i++, at++) {
            bool fresh;
            uint32_t g = state_find(&groups, &ws->batch, is_string, sc->hashes[i], &sc->skeys[i],
                                    sc->ikeys[i], &fresh);
            if (g == UINT32_MAX)
                goto oom;
            groups.entries[g].val.i++;
            row_group[at] = g;
        }
    }
    start = sp_region_alloc(&ws->batch, sizeof(uint32_t) * (groups.n + 1), 64);
    fill = sp_region_alloc(&ws->batch, sizeof(uint32_t) * (groups.n + 1), 64);
    if (start == NULL || fill == NULL)
        goto oom;
    start[0] = 0;
    for (uint32_t g = 0; g < groups.n; g++)
        start[g + 1] = start[g] + (uint32_t)groups.entries[g].val.i;
    memcpy(fill, start, sizeof(uint32_t) * (groups.n + 1));
    at = 0;
    for (uint32_t w = 0; w < ex->nworkers; w++) {
        const struct sp_scatter *sc = &ex->ws[w].scatter[r];
        for (uint32_t i = 0; i < sc->n; i++, at++)
            values[fill[row_group[at]]++] = sc->vals[i];
    }
    /* 2. Build the next state: keys with state first (in their order), then new keys. */
    uint32_t nb = sp->cur ^ 1;
    sp_region_reset(&sp->region[nb]);
    if (sp_agg_table_init(&sp->table[nb], &sp->region[nb], 64) != SPATE_OK)
        goto oom;
    sp->ready[nb] = true;
    struct sp_agg_table *next = &sp->table[nb];
    const struct spate_state_opts *o = sr->opts;
    if (sp->ready[sp->cur]) {
        const struct sp_agg_table *prev = &sp->table[sp->cur];
        for (uint32_t i = 0; i < prev->n; i++) {
            const struct sp_agg_entry *e = &prev->entries[i];
            uint32_t g = sp_agg_find(&groups, is_string, e->hash, &e->key.s, e->key.i);
            const int64_t *vals = NULL;
            uint32_t n = 0;
            if (g != UINT32_MAX) {
                vals = values + start[g];
                n = start[g + 1] - start[g];
                groups.entries[g].stamp = 1; /* handled with its state */
            }
            int64_t state = e->val.i;
            if (o->fn(o->user, vals, n, true, &state) &&
                !state_keep(next, &sp->region[nb], is_string, e, state))
                goto oom;
        }
    }
    for (uint32_t g = 0; g < groups.n; g++) {
        const struct sp_agg_entry *e = &groups.entries[g];
        if (e->stamp != 0)
            continue;
        int64_t state = 0;
        if (start[g + 1] > start[g] &&
            o->fn(o->user, values + start[g], start[g + 1] - start[g], false, &state) &&
            !state_keep(next, &sp->region[nb], is_string, e, state))
            goto oom;
    }
    /* 3. The output partition r: the whole state. */
    struct sp_chunk *chunk = NULL;
    for (uint32_t i = 0; i < next->n; i++)
        if (!emit_pair(ws, sr->out, r, &chunk, is_string, &next->entries[i],
                       next->entries[i].val.i))
            goto oom;
    return;
oom:
    record_error(ex, ENOMEM, "out of memory in update_state_by_key");
}

/* At every batch where the parent is valid: new values in, the function over every key. */
static spate_status state_update(struct sp_exec *ex, struct spate_dstream *ds) {
    if (ex->job->index % ds->parent->slide_b != 0)
        return SPATE_OK;
    struct sp_state *st = ex->states[ds->id];
    struct state_run sr;
    SPATE_RETURN_NOT_OK(build_chain(ex, &sr.cr, ds->parent));
    sr.cr.sink = SINK_SCATTER;
    sr.cr.key_col = ds->u.state.key_col;
    sr.cr.val_col = ds->u.state.value_col;
    sr.cr.spec.key_is_string = ds->schema.cols[0].type == SPATE_TYPE_STRING;
    sr.st = st;
    sr.opts = &ds->u.state;
    sr.out = sp_batch_new(&ex->sched, &ds->schema, SP_AGG_RADIX, ex->job->time_ms);
    if (sr.out == NULL) {
        record_error(ex, ENOMEM, "out of memory");
        return ENOMEM;
    }
    for (uint32_t w = 0; w < ex->nworkers; w++)
        memset(ex->ws[w].scatter, 0, sizeof(ex->ws[w].scatter));
    sp_pool_run(ex->pool, sr.cr.src->nparts, chain_task, &sr.cr);
    if (!atomic_load(&ex->failed))
        sp_pool_run(ex->pool, SP_AGG_RADIX, state_task, &sr);
    if (atomic_load(&ex->failed)) {
        /* Some partitions may have moved on and others not: start again from empty. */
        sp_state_clear(st);
        return ex->err_code;
    }
    for (uint32_t r = 0; r < SP_AGG_RADIX; r++)
        st->parts[r].cur ^= 1;
    sp_batch_count_rows(sr.out);
    ds->memo = sr.out;
    ds->memo_time = ex->job->time_ms;
    return SPATE_OK;
}

/* ---- map_with_state ---- */

struct mstate_run {
    struct chain_run cr;
    struct sp_state *st;
    const struct spate_map_state_opts *opts;
    struct spate_batch *mapped, *snap;
    uint64_t k;
    int64_t interval_ms;
};

static bool drop_dead(const void *unused, const struct sp_agg_entry *e) {
    SP_UNUSED(unused);
    return (e->pad_ & SP_STATE_DEAD) != 0;
}

/* Call the user's function for one key; emit and mapped say what to output. */
static spate_status mstate_call(struct mstate_run *mr, const struct sp_agg_entry *e,
                                const int64_t *value, struct spate_keyed_state *h, int64_t *mapped,
                                bool *emit) {
    const struct spate_map_state_opts *o = mr->opts;
    bool is_string = mr->cr.spec.key_is_string;
    struct spate_error uerr;
    uerr.message[0] = '\0';
    *mapped = 0;
    *emit = false;
    spate_status rc = o->fn(o->user, mr->cr.ex->job->time_ms, is_string ? &e->key.s : NULL,
                            is_string ? 0 : e->key.i, value, h, mapped, emit, &uerr);
    if (rc != SPATE_OK)
        record_error(mr->cr.ex, rc, "map_with_state function failed%s: %s",
                     value == NULL ? " on a timeout" : "",
                     uerr.message[0] ? uerr.message : strerror(rc));
    return rc;
}

static void mstate_task(void *arg, uint32_t r, uint32_t worker) {
    struct mstate_run *mr = arg;
    struct sp_exec *ex = mr->cr.ex;
    struct sp_wstate *ws = &ex->ws[worker];
    struct sp_state_part *sp = &mr->st->parts[r];
    bool is_string = mr->cr.spec.key_is_string;
    struct sp_chunk *mapped_chunk = NULL, *snap_chunk = NULL;
    int64_t mapped;
    bool emit;
    if (!sp->ready[0]) {
        if (sp_agg_table_init(&sp->table[0], &sp->region[0], 64) != SPATE_OK)
            goto oom;
        sp->ready[0] = true;
    }
    struct sp_agg_table *t = &sp->table[0];
    /* 1. One call per record, in arrival order within each worker's share. */
    for (uint32_t w = 0; w < ex->nworkers; w++) {
        const struct sp_scatter *sc = &ex->ws[w].scatter[r];
        for (uint32_t i = 0; i < sc->n; i++) {
            bool fresh;
            uint32_t idx = is_string ? sp_agg_find_or_add_str(t, &sp->region[0], sc->hashes[i],
                                                              &sc->skeys[i], &fresh)
                                     : sp_agg_find_or_add_i64(t, &sp->region[0], sc->hashes[i],
                                                              sc->ikeys[i], &fresh);
            if (idx == UINT32_MAX)
                goto oom;
            struct sp_agg_entry *e = &t->entries[idx];
            if (fresh) {
                e->pad_ = SP_STATE_DEAD; /* no state yet */
                if (is_string && !sp_window_own_string(&sp->region[0], &e->key.s, &e->key.s))
                    goto oom;
            }
            struct spate_keyed_state h = {.exists = !(e->pad_ & SP_STATE_DEAD), .value = e->val.i};
            if (mstate_call(mr, e, &sc->vals[i], &h, &mapped, &emit) != SPATE_OK)
                return;
            if (h.removed) {
                e->pad_ |= SP_STATE_DEAD;
            } else if (h.updated) {
                e->val.i = h.value;
                e->pad_ &= ~SP_STATE_DEAD;
            }
            e->stamp = (uint32_t)mr->k; /* data arrived: the idle time starts again */
            if (emit && !emit_pair(ws, mr->mapped, r, &mapped_chunk, is_string, e, mapped))
                goto oom;
        }
    }
    /* 2. Keys idle past the timeout get one last call and are dropped; the rest is the snapshot. */
    uint32_t dead = 0;
    for (uint32_t i = 0; i < t->n; i++) {
        struct sp_agg_entry *e = &t->entries[i];
        if (e->pad_ & SP_STATE_DEAD) {
            dead++;
            continue;
        }
        int64_t idle_ms = (int64_t)(mr->k - e->stamp) * mr->interval_ms;
        if (mr->opts->timeout_ms > 0 && idle_ms > mr->opts->timeout_ms) {
            struct spate_keyed_state h = {.exists = true, .timing_out = true, .value = e->val.i};
            if (mstate_call(mr, e, NULL, &h, &mapped, &emit) != SPATE_OK)
                return;
            if (emit && !emit_pair(ws, mr->mapped, r, &mapped_chunk, is_string, e, mapped))
                goto oom;
            e->pad_ |= SP_STATE_DEAD;
            dead++;
            continue;
        }
        if (!emit_pair(ws, mr->snap, r, &snap_chunk, is_string, e, e->val.i))
            goto oom;
    }
    /* 3. Dead keys are the majority: rebuild the table at the start of the next batch, when
     * this batch's outputs (whose keys point into this table's region) are done. */
    if (dead > 0 && dead * 2 > t->n)
        sp->ready[1] = true;
    return;
oom:
    record_error(ex, ENOMEM, "out of memory in map_with_state");
}

static spate_status mstate_update(struct sp_exec *ex, struct spate_dstream *ds) {
    if (ex->job->index % ds->parent->slide_b != 0)
        return SPATE_OK;
    struct sp_state *st = ex->states[ds->id];
    bool is_string = ds->schema.cols[0].type == SPATE_TYPE_STRING;
    for (uint32_t r = 0; r < SP_AGG_RADIX; r++) {
        if (st->parts[r].ready[1]) { /* compaction asked for by the last batch */
            st->parts[r].ready[1] = false;
            if (!rebuild_table(&st->parts[r].region[0], &st->parts[r].table[0], is_string,
                               drop_dead, NULL)) {
                record_error(ex, ENOMEM, "out of memory in map_with_state");
                return ENOMEM;
            }
        }
    }
    struct mstate_run mr;
    SPATE_RETURN_NOT_OK(build_chain(ex, &mr.cr, ds->parent));
    mr.cr.sink = SINK_SCATTER;
    mr.cr.key_col = ds->u.mstate.key_col;
    mr.cr.val_col = ds->u.mstate.value_col;
    mr.cr.spec.key_is_string = is_string;
    mr.st = st;
    mr.opts = &ds->u.mstate;
    mr.k = ex->job->index;
    mr.interval_ms = ex->ctx->opts.batch_interval_ms;
    mr.mapped = sp_batch_new(&ex->sched, &ds->schema, SP_AGG_RADIX, ex->job->time_ms);
    mr.snap = sp_batch_new(&ex->sched, &ds->schema, SP_AGG_RADIX, ex->job->time_ms);
    if (mr.mapped == NULL || mr.snap == NULL) {
        record_error(ex, ENOMEM, "out of memory");
        return ENOMEM;
    }
    for (uint32_t w = 0; w < ex->nworkers; w++)
        memset(ex->ws[w].scatter, 0, sizeof(ex->ws[w].scatter));
    sp_pool_run(ex->pool, mr.cr.src->nparts, chain_task, &mr.cr);
    if (!atomic_load(&ex->failed))
        sp_pool_run(ex->pool, SP_AGG_RADIX, mstate_task, &mr);
    if (atomic_load(&ex->failed))
        return ex->err_code;
    sp_batch_count_rows(mr.mapped);
    sp_batch_count_rows(mr.snap);
    ds->memo = mr.mapped;
    ds->memo_time = ex->job->time_ms;
    ex->snaps[ds->id] = mr.snap;
    return SPATE_OK;
}

/* ---- window() ---- */

/* Keep a copy of the parent's batch; at every slide, the batch of the panes in the window. */
static spate_status raw_window_update(struct sp_exec *ex, struct spate_dstream *ds) {
    uint64_t k = ex->job->index;
    if (k % ds->parent->slide_b != 0)
        return SPATE_OK;
    struct sp_raw_window *w = ex->raws[ds->id];
    struct spate_batch *in;
    SPATE_RETURN_NOT_OK(get_batch(ex, ds->parent, false, &in));
    uint32_t slot = (uint32_t)((k / ds->parent->slide_b) % w->npanes);
    sp_raw_window_clear(w, slot); /* the pane that leaves the window */
    struct sp_raw_pane *pane = &w->panes[slot];
    for (uint32_t p = 0; p < in->nparts; p++) {
        for (uint32_t c = 0; c < in->parts[p].nchunks; c++) {
            const struct sp_chunk *ch = in->parts[p].chunks[c];
            if (ch->view.rows == 0)
                continue;
            struct sp_chunk *copy = sp_chunk_copy_deep(&pane->region, &ds->schema, ch);
            if (copy == NULL || sp_part_append(&pane->region, &pane->part, copy) != SPATE_OK) {
                sp_raw_window_clear(w, slot);
                record_error(ex, ENOMEM, "out of memory in window");
                return ENOMEM;
            }
        }
    }
    w->pane_batch[slot] = k;
    if (k % ds->u.window.slide_b != 0)
        return SPATE_OK;
    /* One partition per pane in the window, oldest first. */
    struct spate_batch *out = sp_batch_new(&ex->sched, &ds->schema, w->npanes, ex->job->time_ms);
    if (out == NULL) {
        record_error(ex, ENOMEM, "out of memory");
        return ENOMEM;
    }
    uint32_t n = 0;
    uint64_t first = k >= ds->u.window.length_b ? k - ds->u.window.length_b + 1 : 1;
    for (uint32_t j = 1; j <= w->npanes; j++) {
        uint32_t s = (slot + j) % w->npanes;
        if (w->pane_batch[s] != 0 && w->pane_batch[s] >= first)
            out->parts[n++] = w->panes[s].part;
    }
    out->nparts = n;
    sp_batch_count_rows(out);
    ds->memo = out;
    ds->memo_time = ex->job->time_ms;
    return SPATE_OK;
}

/* ---- Sources of a job ---- */

struct lines_arg {
    struct sp_exec *ex;
    struct spate_batch *b;
    const char *text;          /* the cut's bytes */
    uint32_t nranges;          /* arrival ranges of the cut */
    const uint32_t *range_end; /* offset in text where each range ends */
};

/* Lines of text[0, len): '\n's, plus one for trailing bytes without one. */
static uint64_t count_lines(const struct sp_kernels *k, uint32_t *scratch, const char *text,
                            uint32_t len) {
    uint32_t off = 0;
    uint64_t lines = 0;
    while (off < len) {
        uint32_t consumed = 0;
        uint32_t n = k->find_newlines(text + off, len - off, scratch, SPATE_CHUNK_ROWS, &consumed);
        lines += n;
        if (n == 0) {
            lines++; /* trailing bytes without '\n' */
            break;
        }
        off += consumed;
    }
    return lines;
}

/* The lines of a part, counted per arrival range of the cut (ranges and parts both end at
 * line ends), so that record latency weighs each range by its lines. */
static void count_lines_task(void *arg, uint32_t part, uint32_t worker) {
    struct lines_arg *la = arg;
    struct sp_wstate *ws = &la->ex->ws[worker];
    const struct sp_part *p = &la->b->parts[part];
    uint32_t from = (uint32_t)(p->text - la->text), to = from + (uint32_t)p->text_len;
    uint32_t r = 0, at = from;
    while (r < la->nranges && la->range_end[r] <= from)
        r++;
    while (at < to) {
        uint32_t end = r < la->nranges && la->range_end[r] < to ? la->range_end[r] : to;
        uint64_t n = count_lines(la->ex->k, ws->starts, la->text + at, end - at);
        ws->lines += n;
        if (r < la->nranges)
            ws->range_lines[r] += n;
        at = end;
        r++;
    }
}

static spate_status build_sources(struct sp_exec *ex, struct sp_job *job, uint64_t *records) {
    uint32_t i = 0;
    *records = 0;
    for (struct sp_input *in = ex->ctx->inputs; in != NULL; in = in->next, i++) {
        struct sp_cut *cut = &job->cuts[i];
        struct spate_batch *b =
            sp_batch_new(&ex->sched, &in->ds->schema, ex->nworkers, job->time_ms);
        if (b == NULL)
            return ENOMEM;
        uint32_t rb = in->kind != SP_INPUT_QUEUE ? sp_input_record_bytes(in) : 0;
        if (rb > 0) { /* a ring range of binary records: split at record boundaries */
            b->text = true;
            b->record_bytes = rb;
            uint32_t len = cut->end - cut->start;
            const char *text = len > 0 ? sp_ring_at(sp_input_ring(in), cut->start) : "";
            uint64_t total = len / rb, at = 0;
            for (uint32_t p = 0; p < ex->nworkers; p++) {
                uint64_t end = total * (p + 1) / ex->nworkers;
                b->parts[p].text = text + at * rb;
                b->parts[p].text_len = (end - at) * rb;
                at = end;
            }
            b->rows = total;
            for (uint32_t k = 0; k < cut->narrivals; k++) /* in records: exact */
                cut->arrivals[k].units /= rb;
            atomic_fetch_add(&in->records, total);
            atomic_fetch_add(&in->bytes, len);
        } else if (in->kind != SP_INPUT_QUEUE) { /* socket or generator: a ring range of lines */
            b->text = true;
            uint32_t len = cut->end - cut->start;
            const char *text = len > 0 ? sp_ring_at(sp_input_ring(in), cut->start) : "";
            /* Split at line boundaries near len * p / W. */
            uint32_t pos = 0;
            for (uint32_t p = 0; p < ex->nworkers; p++) {
                uint32_t end = (uint32_t)((uint64_t)len * (p + 1) / ex->nworkers);
                if (end < pos)
                    end = pos;
                if (end > 0 && end < len && text[end - 1] != '\n') {
                    const char *nl = memchr(text + end, '\n', len - end);
                    end = nl != NULL ? (uint32_t)(nl - text) + 1 : len;
                }
                b->parts[p].text = text + pos;
                b->parts[p].text_len = end - pos;
                pos = end;
            }
            uint32_t range_end[SP_CUT_ARRIVALS];
            uint64_t acc = 0;
            for (uint32_t k = 0; k < cut->narrivals; k++) {
                acc += cut->arrivals[k].units;
                range_end[k] = (uint32_t)SP_MIN(acc, (uint64_t)len);
            }
            for (uint32_t w = 0; w < ex->nworkers; w++) {
                ex->ws[w].lines = 0;
                memset(ex->ws[w].range_lines, 0, sizeof(ex->ws[w].range_lines));
            }
            struct lines_arg la = {ex, b, text, cut->narrivals, range_end};
            if (len > 0)
                sp_pool_run(ex->pool, ex->nworkers, count_lines_task, &la);
            uint64_t lines = 0;
            for (uint32_t w = 0; w < ex->nworkers; w++)
                lines += ex->ws[w].lines;
            /* Arrival ranges in lines from now on: record latency counts them exactly. */
            for (uint32_t k = 0; k < cut->narrivals; k++) {
                cut->arrivals[k].units = 0;
                for (uint32_t w = 0; w < ex->nworkers; w++)
                    cut->arrivals[k].units += ex->ws[w].range_lines[k];
            }
            b->rows = lines;
            atomic_fetch_add(&in->records, lines);
            atomic_fetch_add(&in->bytes, len);
        } else if (cut->item != NULL && in->receiver) {
            /* Every store since the last batch, each a partition of its own. */
            uint32_t items = 0;
            for (const struct sp_queue_item *it = cut->item; it != NULL; it = it->next)
                items++;
            b = sp_batch_new(&ex->sched, &in->ds->schema, items, job->time_ms);
            if (b == NULL)
                return ENOMEM;
            uint32_t p = 0;
            for (const struct sp_queue_item *it = cut->item; it != NULL; it = it->next, p++) {
                const struct sp_part *src = &it->batch->parts[0];
                for (uint32_t c = 0; c < src->nchunks; c++)
                    if (sp_part_append(&ex->sched, &b->parts[p], src->chunks[c]) != SPATE_OK)
                        return ENOMEM;
                b->rows += it->rows;
            }
            atomic_fetch_add(&in->records, b->rows);
        } else if (cut->item != NULL) {
            /* Contiguous runs of chunks per partition: reading the partitions in turn
             * gives the rows in the order they were pushed. */
            const struct spate_batch *q = cut->item->batch;
            uint32_t nch = q->parts[0].nchunks;
            for (uint32_t c = 0; c < nch; c++)
                if (sp_part_append(&ex->sched,
                                   &b->parts[(uint64_t)c * ex->nworkers / (nch ? nch : 1)],
                                   q->parts[0].chunks[c]) != SPATE_OK)
                    return ENOMEM;
            b->rows = cut->item->rows;
            atomic_fetch_add(&in->records, b->rows);
        }
        *records += b->rows;
        cut->records = b->rows;
        ex->sources[i] = b;
    }
    return SPATE_OK;
}

/* ---- A job ---- */

void sp_exec_run_job(struct sp_exec *ex, struct sp_job *job, struct spate_batch_info *info,
                     struct spate_error *err) {
    ex->job = job;
    atomic_store(&ex->failed, false);
    ex->err_code = SPATE_OK;
    ex->err.message[0] = '\0';
    bool failed = false;
    uint64_t records = 0;
    if (build_sources(ex, job, &records) != SPATE_OK) {
        failed = true;
        sp_error_set(err, ENOMEM, "out of memory building batch %" PRId64 " ms", job->time_ms);
        goto release;
    }
    /* Windows see every batch of their parent, whether or not an output reads them now. */
    for (struct spate_dstream *ds = ex->ctx->nodes; ds != NULL; ds = ds->next_in_ctx) {
        if (!sp_node_is_stateful(ds))
            continue;
        atomic_store(&ex->failed, false);
        ex->err.message[0] = '\0';
        spate_status rc = ds->kind == SP_NODE_REDUCE_WINDOW ? window_update(ex, ds)
                          : ds->kind == SP_NODE_MAP_STATE   ? mstate_update(ex, ds)
                          : ds->kind == SP_NODE_WINDOW      ? raw_window_update(ex, ds)
                                                            : state_update(ex, ds);
        if (rc != SPATE_OK && !failed) {
            sp_error_set(err, rc, "window failed at batch time %" PRId64 " ms: %s", job->time_ms,
                         ex->err.message[0] ? ex->err.message : strerror(rc));
            failed = true;
        }
    }
    /* Every output runs even when an earlier one failed; the first error is kept. An
     * output runs at the batches where its stream is valid (every slide). */
    for (struct sp_output *o = ex->ctx->outputs; o != NULL; o = o->next) {
        if (job->index % o->ds->slide_b != 0)
            continue;
        atomic_store(&ex->failed, false);
        ex->err.message[0] = '\0';
        struct spate_batch *b = NULL;
        spate_status rc = get_batch(ex, o->ds, false, &b);
        struct spate_error oe;
        oe.message[0] = '\0';
        const char *what = "batch";
        if (rc == SPATE_OK) {
            switch (o->kind) {
            case SP_OUT_PRINT:
                what = "print";
                rc = sp_output_print(b, o->n, o->fd, &ex->sched, &oe);
                break;
            case SP_OUT_TEXT_FILES:
                what = "save_as_text_files";
                rc = sp_output_save_text(b, o->prefix, o->suffix, &ex->sched, &oe);
                break;
            case SP_OUT_FOREACH:
                what = "foreach_batch";
                rc = o->fn(o->user, b, &oe);
                spate_status brc = sp_arrow_check_borrowed(b, rc == SPATE_OK ? &oe : NULL);
                if (rc == SPATE_OK)
                    rc = brc;
                break;
            }
        } else {
            memcpy(oe.message, ex->err.message, sizeof(oe.message));
        }
        if (rc != SPATE_OK && !failed) {
            sp_error_set(err, rc, "%s failed at batch time %" PRId64 " ms: %s", what, job->time_ms,
                         oe.message[0] ? oe.message : strerror(rc));
            failed = true;
        }
    }
release:
    info->records = records;
    info->failed = failed;
    /* Release the batch: regions back to their first block, input data back to the inputs. */
    for (struct spate_dstream *ds = ex->ctx->nodes; ds != NULL; ds = ds->next_in_ctx)
        ds->memo = NULL;
    for (uint32_t w = 0; w < ex->nworkers; w++) {
        sp_region_reset(&ex->ws[w].batch);
        while (ex->ws[w].items != NULL) {
            struct sp_queue_item *next = ex->ws[w].items->next;
            sp_queue_item_free(ex->ws[w].items);
            ex->ws[w].items = next;
        }
    }
    sp_region_reset(&ex->sched);
    while (ex->items != NULL) {
        struct sp_queue_item *next = ex->items->next;
        sp_queue_item_free(ex->items);
        ex->items = next;
    }
    uint32_t i = 0;
    for (struct sp_input *in = ex->ctx->inputs; in != NULL; in = in->next, i++)
        sp_input_release(in, &job->cuts[i]);
    ex->job = NULL;
}
