/*
 * engine/arrow.c - a batch as an Arrow record batch (C Data Interface).
 *
 * The export copies: a batch's memory is released when its outputs are
 * done, while an Arrow consumer may keep the arrays as long as it likes, so
 * the export owns its buffers and frees them in the release callbacks.
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
    }
    return "n";
}

/* ---- Columns ---- */

/* Fill child array a with column col of every chunk of b (selections applied). */
static spate_status export_column(const struct spate_batch *b, uint32_t col, uint64_t rows,
                                  struct ArrowArray *a, struct spate_error *err) {
    struct owned *o = new_owned();
    if (o == NULL)
        return ENOMEM;
    enum spate_type type = b->schema->cols[col].type;
    a->private_data = o;
    a->release = release_array;
    a->length = (int64_t)rows;
    a->n_buffers = type == SPATE_TYPE_STRING ? 3 : 2;
    a->buffers = own(o, sizeof(void *) * 3);
    uint8_t *valid = own(o, (rows + 7) / 8);
    if (a->buffers == NULL || valid == NULL)
        return ENOMEM;
    size_t width = sp_type_width(type);
    uint64_t bytes = 0; /* string bytes */
    if (type == SPATE_TYPE_STRING) {
        for (uint32_t p = 0; p < b->nparts; p++)
            for (uint32_t c = 0; c < b->parts[p].nchunks; c++) {
                const struct spate_chunk_view *v = &b->parts[p].chunks[c]->view;
                const struct spate_string *s = v->columns[col].data;
                for (uint32_t i = 0; i < v->rows; i++)
                    bytes += s[sp_chunk_row(v, i)].len;
            }
        if (bytes > INT32_MAX)
            return sp_error_set(err, EOVERFLOW, "export: column '%s' holds more than 2 GiB of text",
                                b->schema->cols[col].name);
    }
    void *data = type == SPATE_TYPE_BOOL     ? own(o, (rows + 7) / 8)
                 : type == SPATE_TYPE_STRING ? own(o, sizeof(int32_t) * (rows + 1))
                                             : own(o, width * rows);
    char *chars = type == SPATE_TYPE_STRING ? own(o, bytes) : NULL;
    if (data == NULL || (type == SPATE_TYPE_STRING && chars == NULL))
        return ENOMEM;
    uint64_t at = 0, nulls = 0, char_at = 0;
    for (uint32_t p = 0; p < b->nparts; p++) {
        for (uint32_t c = 0; c < b->parts[p].nchunks; c++) {
            const struct spate_chunk_view *v = &b->parts[p].chunks[c]->view;
            const struct spate_column_view *cv = &v->columns[col];
            for (uint32_t i = 0; i < v->rows; i++, at++) {
                uint32_t row = sp_chunk_row(v, i);
                bool ok = sp_valid(cv->validity, row);
                if (ok)
                    valid[at >> 3] |= (uint8_t)(1u << (at & 7));
                else
                    nulls++;
                if (type == SPATE_TYPE_STRING) {
                    const struct spate_string *s = &((const struct spate_string *)cv->data)[row];
                    ((int32_t *)data)[at] = (int32_t)char_at;
                    if (ok && s->len > 0) {
                        memcpy(chars + char_at, sp_str_data(s), s->len);
                        char_at += s->len;
                    }
                } else if (type == SPATE_TYPE_BOOL) {
                    if (((const uint8_t *)cv->data)[row])
                        ((uint8_t *)data)[at >> 3] |= (uint8_t)(1u << (at & 7));
                } else {
                    memcpy((char *)data + width * at, (const char *)cv->data + width * row, width);
                }
            }
        }
    }
    if (type == SPATE_TYPE_STRING)
        ((int32_t *)data)[rows] = (int32_t)char_at;
    a->null_count = (int64_t)nulls;
    a->buffers[0] = nulls > 0 ? valid : NULL;
    a->buffers[1] = data;
    if (type == SPATE_TYPE_STRING)
        a->buffers[2] = chars;
    return SPATE_OK;
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
        struct owned *co = new_owned();
        if (co == NULL)
            goto fail;
        snprintf(co->name, sizeof(co->name), "%s", b->schema->cols[col].name);
        cs[col].private_data = co;
        cs[col].release = release_schema;
        cs[col].format = format_of(b->schema->cols[col].type);
        cs[col].name = co->name;
        cs[col].flags = ARROW_FLAG_NULLABLE;
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
