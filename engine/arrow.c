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
    /* The schema: a struct of the columns. */
    struct owned *so = new_owned();
    if (so == NULL)
        goto fail;
    schema->private_data = so;
    schema->release = release_schema;
    schema->format = "+s";
    schema->name = "";
    schema->children = own(so, sizeof(struct ArrowSchema *) * ncols);
    struct ArrowSchema *cs = own(so, sizeof(struct ArrowSchema) * ncols);
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
    if (schema->children == NULL || cs == NULL || array->buffers == NULL ||
        array->children == NULL || ca == NULL)
        goto fail;
    for (uint32_t col = 0; col < ncols; col++) {
        schema->children[col] = &cs[col]; /* zeroed: release NULL until filled */
        array->children[col] = &ca[col];
    }
    schema->n_children = ncols; /* only now may the release callbacks walk the children */
    array->n_children = ncols;
    for (uint32_t col = 0; col < ncols; col++) {
        rc = export_field(&b->schema->cols[col], &cs[col]);
        if (rc != SPATE_OK)
            goto fail;
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
