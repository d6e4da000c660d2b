/*
 * engine/batch.c - chunks, partitions, batches, and their public read-only views.
 *
 * Invariant: every buffer is allocated in a region of the batch (or of the
 * queue item that fed it), so a batch is freed in bulk by resetting regions
 * once its outputs are done; nothing here is freed one by one.
 */
#include "engine/batch.h"
#include "kernels/kernels.h"

#include <errno.h>

size_t sp_type_width(enum spate_type t) {
    switch (t) {
    case SPATE_TYPE_I64:
    case SPATE_TYPE_F64:
    case SPATE_TYPE_TIMESTAMP:
        return 8;
    case SPATE_TYPE_BOOL:
        return 1;
    case SPATE_TYPE_STRING:
        return sizeof(struct spate_string);
    case SPATE_TYPE_LIST_I64:
    case SPATE_TYPE_LIST_F64:
    case SPATE_TYPE_LIST_BOOL:
    case SPATE_TYPE_LIST_TIMESTAMP:
    case SPATE_TYPE_LIST_STRING:
        return sizeof(struct spate_list);
    }
    return 0;
}

const char *spate_type_name(enum spate_type type) {
    switch (type) {
    case SPATE_TYPE_I64:
        return "i64";
    case SPATE_TYPE_F64:
        return "f64";
    case SPATE_TYPE_BOOL:
        return "bool";
    case SPATE_TYPE_TIMESTAMP:
        return "timestamp";
    case SPATE_TYPE_STRING:
        return "string";
    case SPATE_TYPE_LIST_I64:
        return "list<i64>";
    case SPATE_TYPE_LIST_F64:
        return "list<f64>";
    case SPATE_TYPE_LIST_BOOL:
        return "list<bool>";
    case SPATE_TYPE_LIST_TIMESTAMP:
        return "list<timestamp>";
    case SPATE_TYPE_LIST_STRING:
        return "list<string>";
    }
    return "unknown";
}

const char *spate_string_data(const struct spate_string *s) {
    return s != NULL ? sp_str_data(s) : NULL;
}

spate_status sp_schema_set(struct sp_schema *s, const struct spate_column_def *defs, uint32_t n,
                           struct spate_error *err) {
    if (n == 0 || n > SP_MAX_COLUMNS || defs == NULL)
        return sp_error_set(err, EINVAL, "a schema has 1 to %d columns (got %u)", SP_MAX_COLUMNS,
                            n);
    for (uint32_t i = 0; i < n; i++) {
        if (defs[i].name == NULL || defs[i].name[0] == '\0')
            return sp_error_set(err, EINVAL, "column %u has no name", i);
        if (strlen(defs[i].name) >= sizeof(s->names[0]))
            return sp_error_set(err, EINVAL, "column name '%s' is longer than %zu bytes",
                                defs[i].name, sizeof(s->names[0]) - 1);
        if (sp_type_width(defs[i].type) == 0)
            return sp_error_set(err, EINVAL, "column '%s' has an unknown type %d", defs[i].name,
                                (int)defs[i].type);
    }
    s->ncols = n;
    for (uint32_t i = 0; i < n; i++) {
        memcpy(s->names[i], defs[i].name, strlen(defs[i].name) + 1);
        s->cols[i].name = s->names[i];
        s->cols[i].type = defs[i].type;
    }
    return SPATE_OK;
}

spate_status sp_schema_no_lists(const struct spate_column_def *defs, uint32_t n, const char *what,
                                struct spate_error *err) {
    for (uint32_t i = 0; i < n && defs != NULL; i++)
        if (SPATE_TYPE_IS_LIST(defs[i].type))
            return sp_error_set(err, EINVAL,
                                "%s: column '%s' is a list; lists come only from group_by_key and "
                                "cogroup",
                                what, defs[i].name ? defs[i].name : "?");
    return SPATE_OK;
}

/* Column buffers: 64-byte aligned, capacity rounded to 64 bytes plus one vector. */
static size_t col_bytes(enum spate_type t) {
    size_t b = sp_type_width(t) * SPATE_CHUNK_ROWS;
    return (b + 63) / 64 * 64 + 64;
}

struct sp_chunk *sp_chunk_new_header(struct sp_region *r, const struct sp_schema *s) {
    size_t hdr = sizeof(struct sp_chunk) + sizeof(struct spate_column_view) * s->ncols;
    struct sp_chunk *c = sp_region_alloc(r, hdr, 64);
    if (c == NULL)
        return NULL;
    c->view.rows = 0;
    c->view.num_columns = s->ncols;
    c->view.columns = c->cols;
    c->view.sel = NULL;
    for (uint32_t i = 0; i < s->ncols; i++) {
        c->cols[i].type = s->cols[i].type;
        c->cols[i].data = NULL;
        c->cols[i].validity = NULL;
    }
    return c;
}

struct sp_chunk *sp_chunk_new(struct sp_region *r, const struct sp_schema *s) {
    struct sp_chunk *c = sp_chunk_new_header(r, s);
    if (c == NULL)
        return NULL;
    for (uint32_t i = 0; i < s->ncols; i++) {
        void *d = sp_region_alloc(r, col_bytes(s->cols[i].type), 64);
        if (d == NULL)
            return NULL;
        c->cols[i].data = d;
    }
    return c;
}

uint64_t *sp_chunk_add_validity(struct sp_region *r, struct sp_chunk *c, uint32_t col) {
    size_t words = (SPATE_CHUNK_ROWS + 63) / 64;
    uint64_t *v = sp_region_alloc(r, words * 8, 64);
    if (v == NULL)
        return NULL;
    memset(v, 0, words * 8);
    c->cols[col].validity = v;
    return v;
}

spate_status sp_part_append(struct sp_region *r, struct sp_part *part, struct sp_chunk *chunk) {
    if (part->nchunks == part->cap) {
        uint32_t cap = part->cap ? part->cap * 2 : 16;
        struct sp_chunk **n = sp_region_alloc(r, sizeof(*n) * cap, 8);
        if (n == NULL)
            return ENOMEM;
        if (part->nchunks)
            memcpy(n, part->chunks, sizeof(*n) * part->nchunks);
        part->chunks = n;
        part->cap = cap;
    }
    part->chunks[part->nchunks++] = chunk;
    return SPATE_OK;
}

struct spate_batch *sp_batch_new(struct sp_region *r, const struct sp_schema *s, uint32_t nparts,
                                 int64_t time_ms) {
    struct spate_batch *b = sp_region_alloc(r, sizeof(*b), 64);
    if (b == NULL)
        return NULL;
    memset(b, 0, sizeof(*b));
    b->parts = sp_region_alloc(r, sizeof(struct sp_part) * (nparts ? nparts : 1), 64);
    if (b->parts == NULL)
        return NULL;
    memset(b->parts, 0, sizeof(struct sp_part) * (nparts ? nparts : 1));
    b->nparts = nparts;
    b->schema = s;
    b->time_ms = time_ms;
    return b;
}

void sp_batch_count_rows(struct spate_batch *b) {
    uint64_t rows = 0;
    for (uint32_t p = 0; p < b->nparts; p++)
        for (uint32_t c = 0; c < b->parts[p].nchunks; c++)
            rows += b->parts[p].chunks[c]->view.rows;
    b->rows = rows;
}

/* ---- Public read-only views ---- */

int64_t spate_batch_time_ms(const spate_batch *batch) {
    return batch != NULL ? batch->time_ms : 0;
}

uint64_t spate_batch_rows(const spate_batch *batch) {
    return batch != NULL ? batch->rows : 0;
}

uint32_t spate_batch_num_columns(const spate_batch *batch) {
    return batch != NULL ? batch->schema->ncols : 0;
}

const char *spate_batch_column_name(const spate_batch *batch, uint32_t col) {
    if (batch == NULL || col >= batch->schema->ncols)
        return NULL;
    return batch->schema->cols[col].name;
}

enum spate_type spate_batch_column_type(const spate_batch *batch, uint32_t col) {
    if (batch == NULL || col >= batch->schema->ncols)
        return (enum spate_type)0;
    return batch->schema->cols[col].type;
}

uint32_t spate_batch_num_partitions(const spate_batch *batch) {
    return batch != NULL ? batch->nparts : 0;
}

uint32_t spate_batch_num_chunks(const spate_batch *batch, uint32_t part) {
    if (batch == NULL || part >= batch->nparts)
        return 0;
    return batch->parts[part].nchunks;
}

spate_status spate_batch_chunk(const spate_batch *batch, uint32_t part, uint32_t idx,
                               struct spate_chunk_view *out) {
    if (batch == NULL || out == NULL || part >= batch->nparts || idx >= batch->parts[part].nchunks)
        return EINVAL;
    *out = batch->parts[part].chunks[idx]->view;
    return SPATE_OK;
}

static bool chunk_cell(const struct spate_chunk_view *chunk, uint32_t col, uint32_t row,
                       enum spate_type want, uint32_t *phys) {
    if (chunk == NULL || col >= chunk->num_columns || row >= chunk->rows)
        return false;
    const struct spate_column_view *c = &chunk->columns[col];
    if (c->type != want && !(want == SPATE_TYPE_I64 && c->type == SPATE_TYPE_TIMESTAMP))
        return false;
    *phys = sp_chunk_row(chunk, row);
    return sp_valid(c->validity, *phys);
}

bool spate_chunk_get_i64(const struct spate_chunk_view *chunk, uint32_t col, uint32_t row,
                         int64_t *out) {
    uint32_t phys;
    if (!chunk_cell(chunk, col, row, SPATE_TYPE_I64, &phys))
        return false;
    *out = ((const int64_t *)chunk->columns[col].data)[phys];
    return true;
}

bool spate_chunk_get_f64(const struct spate_chunk_view *chunk, uint32_t col, uint32_t row,
                         double *out) {
    uint32_t phys;
    if (!chunk_cell(chunk, col, row, SPATE_TYPE_F64, &phys))
        return false;
    *out = ((const double *)chunk->columns[col].data)[phys];
    return true;
}

bool spate_chunk_get_string(const struct spate_chunk_view *chunk, uint32_t col, uint32_t row,
                            const char **data, uint32_t *len) {
    uint32_t phys;
    if (!chunk_cell(chunk, col, row, SPATE_TYPE_STRING, &phys))
        return false;
    const struct spate_string *s = &((const struct spate_string *)chunk->columns[col].data)[phys];
    *data = sp_str_data(s);
    *len = s->len;
    return true;
}

bool spate_chunk_get_list(const struct spate_chunk_view *chunk, uint32_t col, uint32_t row,
                          struct spate_list *out) {
    uint32_t phys;
    if (out == NULL || chunk == NULL || col >= chunk->num_columns ||
        !SPATE_TYPE_IS_LIST(chunk->columns[col].type) ||
        !chunk_cell(chunk, col, row, chunk->columns[col].type, &phys))
        return false;
    *out = ((const struct spate_list *)chunk->columns[col].data)[phys];
    return true;
}

void sp_string_view(struct spate_string *s, const char *data, uint32_t len) {
    memset(s, 0, sizeof(*s));
    s->len = len;
    if (len <= SPATE_STRING_INLINE) {
        if (len > 0)
            memcpy((char *)s + offsetof(struct spate_string, prefix), data, len);
    } else {
        memcpy(s->prefix, data, 4);
        s->u.ptr = data;
    }
}

/* ---- Builder (map callbacks) ---- */

/* The chunk column of the builder's column *col (map_values builds from column 1 on). */
static bool builder_col(const spate_chunk_builder *b, uint32_t *col) {
    if (*col >= b->chunk->view.num_columns - b->col_base)
        return false;
    *col += b->col_base;
    return true;
}

void *spate_builder_column(spate_chunk_builder *b, uint32_t col) {
    if (b == NULL || !builder_col(b, &col) || b->chunk->cols[col].type == SPATE_TYPE_STRING ||
        SPATE_TYPE_IS_LIST(b->chunk->cols[col].type))
        return NULL;
    return sp_col_data(b->chunk, col);
}

spate_status spate_builder_set_string(spate_chunk_builder *b, uint32_t col, uint32_t row,
                                      const char *data, uint32_t len) {
    if (b == NULL || !builder_col(b, &col) || row >= b->rows ||
        b->chunk->cols[col].type != SPATE_TYPE_STRING || (data == NULL && len > 0))
        return EINVAL;
    struct spate_string *s = &((struct spate_string *)sp_col_data(b->chunk, col))[row];
    if (len <= SPATE_STRING_INLINE) {
        sp_string_view(s, data, len);
        return SPATE_OK;
    }
    char *copy = sp_region_alloc(b->region, len, 8);
    if (copy == NULL) {
        b->oom = true;
        return ENOMEM;
    }
    memcpy(copy, data, len);
    sp_string_view(s, copy, len);
    return SPATE_OK;
}

spate_status spate_builder_set_view(spate_chunk_builder *b, uint32_t col, uint32_t row,
                                    const struct spate_string *s) {
    if (b == NULL || s == NULL || !builder_col(b, &col) || row >= b->rows ||
        b->chunk->cols[col].type != SPATE_TYPE_STRING)
        return EINVAL;
    sp_string_view(&((struct spate_string *)sp_col_data(b->chunk, col))[row], sp_str_data(s),
                   s->len);
    return SPATE_OK;
}

spate_status spate_builder_set_null(spate_chunk_builder *b, uint32_t col, uint32_t row) {
    if (b == NULL || !builder_col(b, &col) || row >= b->rows)
        return EINVAL;
    uint64_t *v = (uint64_t *)(uintptr_t)b->chunk->cols[col].validity;
    if (v == NULL) {
        v = sp_chunk_add_validity(b->region, b->chunk, col);
        if (v == NULL) {
            b->oom = true;
            return ENOMEM;
        }
        /* Until now every row was valid. */
        for (uint32_t i = 0; i < (SPATE_CHUNK_ROWS + 63) / 64; i++)
            v[i] = ~0ull;
    }
    /* A null cell holds zeroes, so that nothing reads a stale view or list through it. */
    size_t width = sp_type_width(b->chunk->cols[col].type);
    memset((char *)sp_col_data(b->chunk, col) + width * row, 0, width);
    v[row >> 6] &= ~(1ull << (row & 63));
    return SPATE_OK;
}
