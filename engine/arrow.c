/*
 * engine/arrow.c - a batch as an Arrow record batch (C Data Interface).
 *
 * The export copies: a batch's memory is released when its outputs are
 * done, while an Arrow consumer may keep the arrays as long as it likes, so
 * the export owns its buffers and frees them in the release callbacks.
 * A list column (group_by_key) is Arrow's list ("+l": int32 offsets and
 * one child array of the items).
 * Invariants: every ArrowSchema/ArrowArray node's private_data lists the
 * blocks it owns; the parent's release releases the children not moved out
 * (release != NULL), then frees its own blocks, then marks itself released.
 */
#include "engine/arrow.h"
#include "engine/batch.h"
#include "engine/mem.h"
#include "kernels/kernels.h"

#include <errno.h>
#include <stdio.h>

#define MAX_BLOCKS 6

struct owned {
    void *block[MAX_BLOCKS];
    size_t size[MAX_BLOCKS];
    int n;
    char name[48];
};

static void *own(struct owned *o, size_t size) {
    if (o->n == MAX_BLOCKS)
        return NULL;
    void *p = sp_mem_zalloc(SP_MEM_DEFAULT_ARENA, size ? size : 1, 64);
    if (p != NULL) {
        o->block[o->n] = p;
        o->size[o->n++] = size ? size : 1;
    }
    return p;
}

static void free_owned(struct owned *o) {
    if (o == NULL)
        return;
    for (int i = 0; i < o->n; i++)
        sp_mem_free(SP_MEM_DEFAULT_ARENA, o->block[i], o->size[i]);
    sp_mem_free(SP_MEM_DEFAULT_ARENA, o, sizeof(*o));
}

static struct owned *new_owned(void) {
    return sp_mem_zalloc(SP_MEM_DEFAULT_ARENA, sizeof(struct owned), 64);
}

/* ---- Release callbacks ---- */

static void release_schema(struct ArrowSchema *s) {
    for (int64_t i = 0; i < s->n_children; i++)
        if (s->children[i]->release != NULL)
            s->children[i]->release(s->children[i]);
    free_owned(s->private_data);
    s->release = NULL;
}

static void release_array(struct ArrowArray *a) {
    for (int64_t i = 0; i < a->n_children; i++)
        if (a->children[i]->release != NULL)
            a->children[i]->release(a->children[i]);
    free_owned(a->private_data);
    a->release = NULL;
}

static const char *format_of(enum spate_type t) {
    switch (t) {
    case SPATE_TYPE_I64:
        return "l";
    case SPATE_TYPE_F64:
        return "g";
    case SPATE_TYPE_BOOL:
        return "b";
    case SPATE_TYPE_TIMESTAMP:
        return "tsn:";
    case SPATE_TYPE_STRING:
        return "u";
    case SPATE_TYPE_LIST_I64:
    case SPATE_TYPE_LIST_F64:
    case SPATE_TYPE_LIST_BOOL:
    case SPATE_TYPE_LIST_TIMESTAMP:
    case SPATE_TYPE_LIST_STRING:
        return "+l";
    }
    return "n";
}

/* ---- Columns ---- */

/* One value to export: where it is, and whether it is valid. */
struct cell {
    const void *p;
    bool valid;
};

static struct cell *cells_alloc(uint64_t n) {
    return sp_mem_alloc(SP_MEM_DEFAULT_ARENA, sizeof(struct cell) * (n ? n : 1), 64);
}

static void cells_free(struct cell *c, uint64_t n) {
    sp_mem_free(SP_MEM_DEFAULT_ARENA, c, sizeof(struct cell) * (n ? n : 1));
}

static spate_status export_values(enum spate_type type, const char *name, const struct cell *cells,
                                  uint64_t n, struct ArrowArray *a, struct spate_error *err);

/* A list column: int32 offsets, and one child array of every list's items in order. */
static spate_status export_lists(struct owned *o, enum spate_type elem, const char *name,
                                 const struct cell *cells, uint64_t n, struct ArrowArray *a,
                                 struct spate_error *err) {
    uint64_t items = 0;
    for (uint64_t i = 0; i < n; i++)
        if (cells[i].valid)
            items += ((const struct spate_list *)cells[i].p)->len;
    if (items > INT32_MAX)
        return sp_error_set(err, EOVERFLOW, "export: list column '%s' holds more than 2^31 items",
                            name);
    int32_t *offsets = own(o, sizeof(int32_t) * (n + 1));
    a->children = own(o, sizeof(struct ArrowArray *));
    struct ArrowArray *child = own(o, sizeof(struct ArrowArray));
    struct cell *ic = cells_alloc(items);
    if (offsets == NULL || a->children == NULL || child == NULL || ic == NULL) {
        if (ic != NULL)
            cells_free(ic, items);
        return ENOMEM;
    }
    size_t width = sp_type_width(elem);
    uint64_t at = 0;
    for (uint64_t i = 0; i < n; i++) {
        offsets[i] = (int32_t)at;
        if (!cells[i].valid)
            continue;
        const struct spate_list *l = cells[i].p;
        for (uint32_t j = 0; j < l->len; j++, at++) {
            ic[at].p = (const char *)l->items + width * j;
            ic[at].valid = sp_valid(l->validity, j);
        }
    }
    offsets[n] = (int32_t)at;
    a->buffers[1] = offsets;
    a->children[0] = child; /* zeroed: release NULL until filled */
    a->n_children = 1;
    spate_status rc = export_values(elem, name, ic, items, child, err);
    cells_free(ic, items);
    return rc;
}

/* Fill array a with the n values of cells, of type (list items of elem). */
static spate_status export_values(enum spate_type type, const char *name, const struct cell *cells,
                                  uint64_t n, struct ArrowArray *a, struct spate_error *err) {
    struct owned *o = new_owned();
    if (o == NULL)
        return ENOMEM;
    a->private_data = o;
    a->release = release_array;
    a->length = (int64_t)n;
    a->n_buffers = type == SPATE_TYPE_STRING ? 3 : 2;
    a->buffers = own(o, sizeof(void *) * 3);
    uint8_t *valid = own(o, (n + 7) / 8);
    if (a->buffers == NULL || valid == NULL)
        return ENOMEM;
    uint64_t nulls = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (cells[i].valid)
            valid[i >> 3] |= (uint8_t)(1u << (i & 7));
        else
            nulls++;
    }
    a->null_count = (int64_t)nulls;
    a->buffers[0] = nulls > 0 ? valid : NULL;
    if (SPATE_TYPE_IS_LIST(type))
        return export_lists(o, SPATE_LIST_ELEM(type), name, cells, n, a, err);
    size_t width = sp_type_width(type);
    uint64_t bytes = 0; /* string bytes */
    if (type == SPATE_TYPE_STRING) {
        for (uint64_t i = 0; i < n; i++)
            if (cells[i].valid)
                bytes += ((const struct spate_string *)cells[i].p)->len;
        if (bytes > INT32_MAX)
            return sp_error_set(err, EOVERFLOW, "export: column '%s' holds more than 2 GiB of text",
                                name);
    }
    void *data = type == SPATE_TYPE_BOOL     ? own(o, (n + 7) / 8)
                 : type == SPATE_TYPE_STRING ? own(o, sizeof(int32_t) * (n + 1))
                                             : own(o, width * n);
    char *chars = type == SPATE_TYPE_STRING ? own(o, bytes) : NULL;
    if (data == NULL || (type == SPATE_TYPE_STRING && chars == NULL))
        return ENOMEM;
    uint64_t char_at = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (type == SPATE_TYPE_STRING) {
            const struct spate_string *s = cells[i].p;
            ((int32_t *)data)[i] = (int32_t)char_at;
            if (cells[i].valid && s->len > 0) {
                memcpy(chars + char_at, sp_str_data(s), s->len);
                char_at += s->len;
            }
        } else if (type == SPATE_TYPE_BOOL) {
            if (*(const uint8_t *)cells[i].p)
                ((uint8_t *)data)[i >> 3] |= (uint8_t)(1u << (i & 7));
        } else {
            memcpy((char *)data + width * i, cells[i].p, width);
        }
    }
    a->buffers[1] = data;
    if (type == SPATE_TYPE_STRING) {
        ((int32_t *)data)[n] = (int32_t)char_at;
        a->buffers[2] = chars;
    }
    return SPATE_OK;
}

/* Fill child array a with column col of every chunk of b (selections applied). */
static spate_status export_column(const struct spate_batch *b, uint32_t col, uint64_t rows,
                                  struct ArrowArray *a, struct spate_error *err) {
    const struct spate_column_def *def = &b->schema->cols[col];
    struct cell *cells = cells_alloc(rows);
    if (cells == NULL)
        return ENOMEM;
    size_t width = sp_type_width(def->type);
    uint64_t at = 0;
    for (uint32_t p = 0; p < b->nparts; p++) {
        for (uint32_t c = 0; c < b->parts[p].nchunks; c++) {
            const struct spate_chunk_view *v = &b->parts[p].chunks[c]->view;
            const struct spate_column_view *cv = &v->columns[col];
            for (uint32_t i = 0; i < v->rows; i++, at++) {
                uint32_t row = sp_chunk_row(v, i);
                cells[at].p = (const char *)cv->data + width * row;
                cells[at].valid = sp_valid(cv->validity, row);
            }
        }
    }
    spate_status rc = export_values(def->type, def->name, cells, rows, a, err);
    cells_free(cells, rows);
    return rc;
}

/* The schema of column def: a list gets its one child, "item". */
static spate_status export_field(const struct spate_column_def *def, struct ArrowSchema *cs) {
    struct owned *co = new_owned();
    if (co == NULL)
        return ENOMEM;
    snprintf(co->name, sizeof(co->name), "%s", def->name);
    cs->private_data = co;
    cs->release = release_schema;
    cs->format = format_of(def->type);
    cs->name = co->name;
    cs->flags = ARROW_FLAG_NULLABLE;
    if (!SPATE_TYPE_IS_LIST(def->type))
        return SPATE_OK;
    cs->children = own(co, sizeof(struct ArrowSchema *));
    struct ArrowSchema *item = own(co, sizeof(struct ArrowSchema));
    if (cs->children == NULL || item == NULL)
        return ENOMEM;
    cs->children[0] = item;
    cs->n_children = 1;
    struct spate_column_def idef = {"item", SPATE_LIST_ELEM(def->type)};
    return export_field(&idef, item);
}

/* The schema of b's columns as a struct ("+s"), strings in string_format. On failure (ENOMEM)
 * nothing is left to release. */
static spate_status struct_schema(const struct spate_batch *b, const char *string_format,
                                  struct ArrowSchema *schema) {
    uint32_t ncols = b->schema->ncols;
    memset(schema, 0, sizeof(*schema));
    struct owned *so = new_owned();
    if (so == NULL)
        return ENOMEM;
    schema->private_data = so;
    schema->release = release_schema;
    schema->format = "+s";
    schema->name = "";
    schema->children = own(so, sizeof(struct ArrowSchema *) * ncols);
    struct ArrowSchema *cs = own(so, sizeof(struct ArrowSchema) * ncols);
    if (schema->children == NULL || cs == NULL)
        goto fail;
    for (uint32_t col = 0; col < ncols; col++)
        schema->children[col] = &cs[col]; /* zeroed: release NULL until filled */
    schema->n_children = ncols;           /* only now may the release callback walk them */
    for (uint32_t col = 0; col < ncols; col++) {
        if (export_field(&b->schema->cols[col], &cs[col]) != SPATE_OK)
            goto fail;
        if (b->schema->cols[col].type == SPATE_TYPE_STRING)
            cs[col].format = string_format;
    }
    return SPATE_OK;
fail:
    schema->release(schema);
    return ENOMEM;
}

spate_status spate_batch_export(const spate_batch *b, struct ArrowSchema *schema,
                                struct ArrowArray *array, struct spate_error *err) {
    if (b == NULL || schema == NULL || array == NULL)
        return sp_error_set(err, EINVAL, "export: NULL argument");
    memset(schema, 0, sizeof(*schema));
    memset(array, 0, sizeof(*array));
    uint32_t ncols = b->schema->ncols;
    uint64_t rows = 0;
    for (uint32_t p = 0; p < b->nparts; p++)
        for (uint32_t c = 0; c < b->parts[p].nchunks; c++)
            rows += b->parts[p].chunks[c]->view.rows;
    spate_status rc = ENOMEM;
    if (struct_schema(b, "u", schema) != SPATE_OK)
        goto fail;
    /* The array: a struct array of the columns, no nulls at the top. */
    struct owned *ao = new_owned();
    if (ao == NULL)
        goto fail;
    array->private_data = ao;
    array->release = release_array;
    array->length = (int64_t)rows;
    array->n_buffers = 1;
    array->buffers = own(ao, sizeof(void *));
    array->children = own(ao, sizeof(struct ArrowArray *) * ncols);
    struct ArrowArray *ca = own(ao, sizeof(struct ArrowArray) * ncols);
    if (array->buffers == NULL || array->children == NULL || ca == NULL)
        goto fail;
    for (uint32_t col = 0; col < ncols; col++)
        array->children[col] = &ca[col]; /* zeroed: release NULL until filled */
    array->n_children = ncols;           /* only now may the release callback walk the children */
    for (uint32_t col = 0; col < ncols; col++) {
        rc = export_column(b, col, rows, &ca[col], err);
        if (rc != SPATE_OK)
            goto fail;
    }
    return SPATE_OK;
fail:
    if (schema->release != NULL)
        schema->release(schema);
    if (array->release != NULL)
        array->release(array);
    if (rc == ENOMEM)
        return sp_error_set(err, ENOMEM, "export: out of memory");
    return rc;
}

/* ---- Zero-copy export: an Arrow stream of one record batch per chunk ---- */

/*
 * Who still holds a batch's zero-copy exports: live counts the export
 * objects not released; refs counts them plus the batch, so that the token
 * outlives whichever of the two goes last and a late release never touches
 * the batch's (reused) memory.
 */
struct sp_zc_token {
    _Atomic uint32_t live;
    _Atomic uint32_t refs;
};

/* One more live export of t's batch. */
static void zc_token_ref(struct sp_zc_token *t) {
    atomic_fetch_add(&t->refs, 1);
    atomic_fetch_add(&t->live, 1);
}

/* b's token, made on first use (the batch holds one reference); takes no reference itself. */
static struct sp_zc_token *zc_token_get(struct spate_batch *b) {
    struct sp_zc_token *t = atomic_load(&b->zc);
    if (t == NULL) {
        struct sp_zc_token *n = sp_mem_zalloc(SP_MEM_DEFAULT_ARENA, sizeof(*n), 64);
        if (n == NULL)
            return NULL;
        atomic_init(&n->refs, 1); /* the batch's */
        atomic_init(&n->live, 0);
        if (atomic_compare_exchange_strong(&b->zc, &t, n))
            t = n;
        else /* another partition's callback made it first: t is that one */
            sp_mem_free(SP_MEM_DEFAULT_ARENA, n, sizeof(*n));
    }
    return t;
}

static void zc_token_drop(struct sp_zc_token *t, bool live) {
    if (live)
        atomic_fetch_sub(&t->live, 1);
    if (atomic_fetch_sub(&t->refs, 1) == 1)
        sp_mem_free(SP_MEM_DEFAULT_ARENA, t, sizeof(*t));
}

spate_status sp_arrow_check_borrowed(struct spate_batch *b, struct spate_error *err) {
    struct sp_zc_token *t = atomic_exchange(&b->zc, NULL);
    if (t == NULL)
        return SPATE_OK;
    uint32_t live = atomic_load(&t->live);
    zc_token_drop(t, false);
    if (live == 0)
        return SPATE_OK;
    return sp_error_set(err, EINVAL,
                        "the callback returned with %u zero-copy Arrow export(s) of the batch "
                        "not released (release them before returning)",
                        live);
}

struct zc_stream {
    struct spate_batch *b;
    struct sp_zc_token *tok;
    uint32_t part, chunk; /* the next chunk */
    char error[256];
};

/* Private data of every borrowed array: its owned blocks, and its token when it counts. */
struct zc_array {
    struct owned *owned;
    struct sp_zc_token *tok;
};

static void zc_release_array(struct ArrowArray *a) {
    for (int64_t i = 0; i < a->n_children; i++)
        if (a->children[i]->release != NULL)
            a->children[i]->release(a->children[i]);
    struct zc_array *z = a->private_data;
    free_owned(z->owned);
    if (z->tok != NULL)
        zc_token_drop(z->tok, true);
    sp_mem_free(SP_MEM_DEFAULT_ARENA, z, sizeof(*z));
    a->release = NULL;
}

/*
 * Make a the export of rows rows whose private data holds its blocks and a
 * reference on tok (every borrowed array counts until released: a consumer
 * may move a column out of its chunk's array). Returns its blocks, or NULL on
 * ENOMEM (a is then left without a release).
 */
static struct owned *zc_array_init(struct ArrowArray *a, struct sp_zc_token *tok, uint32_t rows) {
    struct owned *o = new_owned();
    struct zc_array *z = sp_mem_zalloc(SP_MEM_DEFAULT_ARENA, sizeof(*z), 64);
    if (o == NULL || z == NULL) {
        free_owned(o);
        if (z != NULL)
            sp_mem_free(SP_MEM_DEFAULT_ARENA, z, sizeof(*z));
        return NULL;
    }
    z->owned = o;
    z->tok = tok;
    zc_token_ref(tok);
    a->private_data = z;
    a->release = zc_release_array;
    a->length = rows;
    return o;
}

/* A column whose buffers the array borrows from the chunk (fixed width, no selection). It
 * counts as an export of its own (tok): a consumer may move it out of its parent. */
static spate_status zc_borrow_column(const struct spate_column_view *cv, uint32_t rows,
                                     struct sp_zc_token *tok, struct ArrowArray *a) {
    struct owned *o = zc_array_init(a, tok, rows);
    if (o == NULL)
        return ENOMEM;
    a->n_buffers = 2;
    a->buffers = own(o, sizeof(void *) * 2);
    if (a->buffers == NULL)
        return ENOMEM;
    int64_t nulls = 0;
    for (uint32_t i = 0; cv->validity != NULL && i < rows; i++)
        nulls += !sp_valid(cv->validity, i);
    a->null_count = nulls;
    a->buffers[0] = nulls > 0 ? (const void *)cv->validity : NULL; /* LSB-first bits, as Arrow */
    a->buffers[1] = cv->data;
    return SPATE_OK;
}

/* A string column as Arrow string views: spate's view array, rewritten (gathered through the
 * chunk's selection, long strings given a buffer index and offset where spate has a pointer,
 * nulls zeroed) unless every view is inline and there is no selection and no null: then it is
 * lent as it is. The string
 * bytes are never copied: each long string is a variadic buffer of its own. */
static spate_status zc_string_views(const struct spate_chunk_view *v, uint32_t col,
                                    struct sp_zc_token *tok, struct ArrowArray *a) {
    const struct spate_column_view *cv = &v->columns[col];
    const struct spate_string *s = cv->data;
    uint32_t rows = v->rows, nlong = 0;
    int64_t nulls = 0;
    for (uint32_t i = 0; i < rows; i++) {
        uint32_t row = sp_chunk_row(v, i);
        bool ok = sp_valid(cv->validity, row);
        nulls += !ok;
        nlong += ok && s[row].len > SPATE_STRING_INLINE;
    }
    struct owned *o = zc_array_init(a, tok, rows);
    if (o == NULL)
        return ENOMEM;
    a->null_count = nulls;
    /* validity, views, one variadic buffer per long string, then the variadic sizes */
    a->n_buffers = 2 + nlong + 1;
    a->buffers = own(o, sizeof(void *) * (size_t)a->n_buffers);
    int64_t *sizes = own(o, sizeof(int64_t) * (nlong ? nlong : 1));
    if (a->buffers == NULL || sizes == NULL)
        return ENOMEM;
    a->buffers[a->n_buffers - 1] = sizes;
    if (nlong == 0 && v->sel == NULL && nulls == 0) {
        a->buffers[0] = NULL;
        a->buffers[1] = cv->data; /* every view is inline: the same 16 bytes as Arrow's */
        return SPATE_OK;
    }
    struct spate_string *views = own(o, sizeof(*views) * (rows ? rows : 1));
    uint8_t *valid = nulls > 0 ? own(o, (rows + 7) / 8) : NULL;
    if (views == NULL || (nulls > 0 && valid == NULL))
        return ENOMEM;
    uint32_t k = 0;
    for (uint32_t i = 0; i < rows; i++) {
        uint32_t row = sp_chunk_row(v, i);
        if (!sp_valid(cv->validity, row)) {
            memset(&views[i], 0, sizeof(views[i]));
            continue;
        }
        if (valid != NULL)
            valid[i >> 3] |= (uint8_t)(1u << (i & 7));
        views[i] = s[row];
        if (s[row].len > SPATE_STRING_INLINE) {
            uint32_t index = k, offset = 0;
            memcpy((char *)&views[i] + 8, &index, 4);
            memcpy((char *)&views[i] + 12, &offset, 4);
            a->buffers[2 + k] = s[row].u.ptr;
            sizes[k++] = s[row].len;
        }
    }
    a->buffers[0] = valid;
    a->buffers[1] = views;
    return SPATE_OK;
}

/* Chunk ch of b as a struct array; every array made counts as borrowed until released. */
static spate_status zc_chunk(struct spate_batch *b, const struct sp_chunk *ch,
                             struct ArrowArray *out, struct spate_error *err) {
    uint32_t ncols = b->schema->ncols, rows = ch->view.rows;
    memset(out, 0, sizeof(*out));
    struct sp_zc_token *tok = zc_token_get(b);
    struct owned *ao = tok != NULL ? zc_array_init(out, tok, rows) : NULL;
    if (ao == NULL)
        return ENOMEM;
    out->n_buffers = 1;
    out->buffers = own(ao, sizeof(void *));
    out->children = own(ao, sizeof(struct ArrowArray *) * ncols);
    struct ArrowArray *ca = own(ao, sizeof(struct ArrowArray) * ncols);
    spate_status rc = ENOMEM;
    if (out->buffers == NULL || out->children == NULL || ca == NULL)
        goto fail;
    for (uint32_t col = 0; col < ncols; col++)
        out->children[col] = &ca[col];
    out->n_children = ncols;
    for (uint32_t col = 0; col < ncols; col++) {
        const struct spate_column_view *cv = &ch->cols[col];
        enum spate_type t = cv->type;
        bool fixed = t == SPATE_TYPE_I64 || t == SPATE_TYPE_F64 || t == SPATE_TYPE_TIMESTAMP;
        if (ch->view.sel == NULL && fixed) {
            rc = zc_borrow_column(cv, rows, tok, &ca[col]);
        } else if (t == SPATE_TYPE_STRING) {
            rc = zc_string_views(&ch->view, col, tok, &ca[col]);
        } else {
            /* Copied: bools (bit-packed in Arrow), lists, fixed-width rows under a selection. */
            struct cell *cells = cells_alloc(rows);
            rc = ENOMEM;
            if (cells == NULL)
                goto fail;
            size_t width = sp_type_width(t);
            for (uint32_t i = 0; i < rows; i++) {
                uint32_t row = sp_chunk_row(&ch->view, i);
                cells[i].p = (const char *)cv->data + width * row;
                cells[i].valid = sp_valid(cv->validity, row);
            }
            rc = export_values(t, b->schema->cols[col].name, cells, rows, &ca[col], err);
            cells_free(cells, rows);
        }
        if (rc != SPATE_OK)
            goto fail;
    }
    return SPATE_OK;
fail:
    out->release(out);
    return rc;
}

static struct zc_stream *zc_of(struct ArrowArrayStream *s) {
    return s->private_data;
}

static int zc_get_schema(struct ArrowArrayStream *s, struct ArrowSchema *out) {
    struct zc_stream *z = zc_of(s);
    if (struct_schema(z->b, "vu", out) != SPATE_OK) {
        snprintf(z->error, sizeof(z->error), "out of memory exporting the schema");
        return ENOMEM;
    }
    return 0;
}

static int zc_get_next(struct ArrowArrayStream *s, struct ArrowArray *out) {
    struct zc_stream *z = zc_of(s);
    while (z->part < z->b->nparts && z->chunk >= z->b->parts[z->part].nchunks) {
        z->part++;
        z->chunk = 0;
    }
    if (z->part >= z->b->nparts) {
        memset(out, 0, sizeof(*out)); /* the end: release NULL */
        return 0;
    }
    const struct sp_chunk *ch = z->b->parts[z->part].chunks[z->chunk++];
    struct spate_error err;
    err.message[0] = '\0';
    spate_status rc = zc_chunk(z->b, ch, out, &err);
    if (rc != SPATE_OK) {
        snprintf(z->error, sizeof(z->error), "%s", err.message[0] ? err.message : strerror(rc));
        return rc;
    }
    return 0;
}

static const char *zc_get_last_error(struct ArrowArrayStream *s) {
    struct zc_stream *z = zc_of(s);
    return z->error[0] ? z->error : NULL;
}

static void zc_release_stream(struct ArrowArrayStream *s) {
    struct zc_stream *z = zc_of(s);
    zc_token_drop(z->tok, true);
    sp_mem_free(SP_MEM_DEFAULT_ARENA, z, sizeof(*z));
    s->release = NULL;
}

spate_status spate_batch_export_stream(const spate_batch *batch, struct ArrowArrayStream *out,
                                       struct spate_error *err) {
    if (batch == NULL || out == NULL)
        return sp_error_set(err, EINVAL, "export_stream: NULL argument");
    if (batch->text)
        return sp_error_set(err, EINVAL, "export_stream: the batch is raw text, not chunks");
    struct zc_stream *z = sp_mem_zalloc(SP_MEM_DEFAULT_ARENA, sizeof(*z), 64);
    if (z == NULL)
        return sp_error_set(err, ENOMEM, "export_stream: out of memory");
    /* The engine's own batch: borrowed counts exports, the batch stays read-only otherwise. */
    z->b = (struct spate_batch *)(uintptr_t)batch;
    z->tok = zc_token_get(z->b);
    if (z->tok == NULL) {
        sp_mem_free(SP_MEM_DEFAULT_ARENA, z, sizeof(*z));
        return sp_error_set(err, ENOMEM, "export_stream: out of memory");
    }
    zc_token_ref(z->tok);
    out->get_schema = zc_get_schema;
    out->get_next = zc_get_next;
    out->get_last_error = zc_get_last_error;
    out->release = zc_release_stream;
    out->private_data = z;
    return SPATE_OK;
}
