/*
 * engine/window.c - pane storage of windowed aggregations.
 *
 * Invariant: a pane part owns every byte its keys point to (its region), so
 * the batch that produced it can be released at once; a pane part is freed
 * only when its slot is reused by the pane that pushes it out of the window.
 */
#include "engine/window.h"
#include "engine/mem.h"
#include "kernels/kernels.h"

#include <errno.h>

struct sp_window_state *sp_window_create(uint32_t npanes) {
    struct sp_window_state *st = sp_mem_zalloc(SP_MEM_DEFAULT_ARENA, sizeof(*st), 64);
    if (st == NULL)
        return NULL;
    st->npanes = npanes;
    st->pane_batch = sp_mem_zalloc(SP_MEM_DEFAULT_ARENA, sizeof(uint64_t) * npanes, 64);
    st->parts = sp_mem_zalloc(SP_MEM_DEFAULT_ARENA,
                              sizeof(struct sp_pane_part) * npanes * SP_AGG_RADIX, 64);
    st->suffix =
        sp_mem_zalloc(SP_MEM_DEFAULT_ARENA, sizeof(struct sp_suffix) * npanes * SP_AGG_RADIX, 64);
    if (st->pane_batch == NULL || st->parts == NULL || st->suffix == NULL) {
        sp_window_destroy(st);
        return NULL;
    }
    for (uint32_t i = 0; i < npanes * SP_AGG_RADIX; i++) {
        /* Small first blocks: a window holds npanes x 16 of each, often nearly empty. */
        sp_region_init(&st->parts[i].region, SP_MEM_DEFAULT_ARENA, 16 << 10);
        sp_region_init(&st->suffix[i].region, SP_MEM_DEFAULT_ARENA, 16 << 10);
    }
    for (uint32_t r = 0; r < SP_AGG_RADIX; r++)
        sp_region_init(&st->running[r].region, SP_MEM_DEFAULT_ARENA, 256 << 10);
    return st;
}

void sp_window_destroy(struct sp_window_state *st) {
    if (st == NULL)
        return;
    if (st->parts != NULL) {
        for (uint32_t i = 0; i < st->npanes * SP_AGG_RADIX; i++)
            sp_region_destroy(&st->parts[i].region);
        sp_mem_free(SP_MEM_DEFAULT_ARENA, st->parts,
                    sizeof(struct sp_pane_part) * st->npanes * SP_AGG_RADIX);
    }
    if (st->suffix != NULL) {
        for (uint32_t i = 0; i < st->npanes * SP_AGG_RADIX; i++)
            sp_region_destroy(&st->suffix[i].region);
        sp_mem_free(SP_MEM_DEFAULT_ARENA, st->suffix,
                    sizeof(struct sp_suffix) * st->npanes * SP_AGG_RADIX);
    }
    for (uint32_t r = 0; r < SP_AGG_RADIX; r++)
        sp_region_destroy(&st->running[r].region);
    sp_mem_free(SP_MEM_DEFAULT_ARENA, st->pane_batch, sizeof(uint64_t) * st->npanes);
    sp_mem_free(SP_MEM_DEFAULT_ARENA, st, sizeof(*st));
}

void sp_window_clear_part(struct sp_window_state *st, uint32_t slot, uint32_t r) {
    struct sp_pane_part *p = &st->parts[slot * SP_AGG_RADIX + r];
    sp_region_destroy(&p->region);
    p->n = 0;
    p->keys = NULL;
    p->vals = NULL;
    p->hashes = NULL;
}

void sp_window_clear_suffix(struct sp_window_state *st, uint32_t slot, uint32_t r) {
    struct sp_suffix *x = &st->suffix[slot * SP_AGG_RADIX + r];
    sp_region_destroy(&x->region);
    memset(&x->table, 0, sizeof(x->table));
    x->alias = NULL;
    x->ready = false;
}

void sp_window_reset(struct sp_window_state *st) {
    for (uint32_t s = 0; s < st->npanes; s++) {
        for (uint32_t r = 0; r < SP_AGG_RADIX; r++) {
            sp_window_clear_part(st, s, r);
            sp_window_clear_suffix(st, s, r);
        }
        st->pane_batch[s] = 0;
    }
    for (uint32_t r = 0; r < SP_AGG_RADIX; r++) {
        sp_region_destroy(&st->running[r].region);
        st->running[r].ready = false;
        st->merge_only[r] = false;
    }
    st->front_n = 0;
    st->last_k = 0;
}

bool sp_window_own_string(struct sp_region *r, const struct spate_string *in,
                          struct spate_string *out) {
    *out = *in;
    if (in->len <= SPATE_STRING_INLINE)
        return true;
    char *copy = sp_region_alloc(r, in->len, 8);
    if (copy == NULL)
        return false;
    memcpy(copy, in->u.ptr, in->len);
    out->u.ptr = copy;
    return true;
}

spate_status
sp_window_store_part(struct sp_window_state *st, uint32_t slot, uint32_t r,
                     const struct sp_part *part, bool key_is_string, bool with_count,
                     void (*hash_str)(const struct spate_string *restrict, const uint16_t *restrict,
                                      uint32_t, uint64_t *restrict),
                     void (*hash_i64)(const int64_t *restrict, const uint16_t *restrict, uint32_t,
                                      uint64_t *restrict)) {
    struct sp_pane_part *p = &st->parts[slot * SP_AGG_RADIX + r];
    uint32_t n = 0;
    for (uint32_t c = 0; c < part->nchunks; c++)
        n += part->chunks[c]->view.rows;
    p->n = n;
    p->cnts = NULL;
    if (n == 0)
        return SPATE_OK;
    if (with_count && (p->cnts = sp_region_alloc(&p->region, sizeof(int64_t) * n, 64)) == NULL)
        return ENOMEM;
    size_t kw = key_is_string ? sizeof(struct spate_string) : sizeof(int64_t);
    p->keys = sp_region_alloc(&p->region, kw * n, 64);
    p->vals = sp_region_alloc(&p->region, sizeof(int64_t) * n, 64);
    p->hashes = sp_region_alloc(&p->region, sizeof(uint64_t) * n, 64);
    if (p->keys == NULL || p->vals == NULL || p->hashes == NULL)
        return ENOMEM;
    uint32_t at = 0;
    for (uint32_t c = 0; c < part->nchunks; c++) {
        const struct spate_chunk_view *v = &part->chunks[c]->view;
        /* Stage-2 output chunks are dense: no selection, no nulls. */
        if (key_is_string) {
            const struct spate_string *k = v->columns[0].data;
            struct spate_string *dst = (struct spate_string *)p->keys + at;
            for (uint32_t i = 0; i < v->rows; i++)
                if (!sp_window_own_string(&p->region, &k[i], &dst[i]))
                    return ENOMEM;
            hash_str(dst, NULL, v->rows, p->hashes + at);
        } else {
            int64_t *dst = (int64_t *)p->keys + at;
            memcpy(dst, v->columns[0].data, sizeof(int64_t) * v->rows);
            hash_i64(dst, NULL, v->rows, p->hashes + at);
        }
        memcpy(p->vals + at, v->columns[1].data, sizeof(int64_t) * v->rows);
        if (with_count)
            memcpy(p->cnts + at, v->columns[2].data, sizeof(int64_t) * v->rows);
        at += v->rows;
    }
    return SPATE_OK;
}

/* ---- window() ---- */

struct sp_raw_window *sp_raw_window_create(uint32_t npanes) {
    struct sp_raw_window *w = sp_mem_zalloc(SP_MEM_DEFAULT_ARENA, sizeof(*w), 64);
    if (w == NULL)
        return NULL;
    w->npanes = npanes;
    w->pane_batch = sp_mem_zalloc(SP_MEM_DEFAULT_ARENA, sizeof(uint64_t) * npanes, 64);
    w->panes = sp_mem_zalloc(SP_MEM_DEFAULT_ARENA, sizeof(struct sp_raw_pane) * npanes, 64);
    if (w->pane_batch == NULL || w->panes == NULL) {
        sp_raw_window_destroy(w);
        return NULL;
    }
    for (uint32_t i = 0; i < npanes; i++)
        sp_region_init(&w->panes[i].region, SP_MEM_DEFAULT_ARENA, 256 << 10);
    return w;
}

void sp_raw_window_clear(struct sp_raw_window *w, uint32_t slot) {
    sp_region_destroy(&w->panes[slot].region);
    memset(&w->panes[slot].part, 0, sizeof(w->panes[slot].part));
    w->pane_batch[slot] = 0;
}

void sp_raw_window_destroy(struct sp_raw_window *w) {
    if (w == NULL)
        return;
    if (w->panes != NULL) {
        for (uint32_t i = 0; i < w->npanes; i++)
            sp_region_destroy(&w->panes[i].region);
        sp_mem_free(SP_MEM_DEFAULT_ARENA, w->panes, sizeof(struct sp_raw_pane) * w->npanes);
    }
    sp_mem_free(SP_MEM_DEFAULT_ARENA, w->pane_batch, sizeof(uint64_t) * w->npanes);
    sp_mem_free(SP_MEM_DEFAULT_ARENA, w, sizeof(*w));
}

/* A deep copy of list in (items, their validity, string bytes) in r. */
static bool copy_list(struct sp_region *r, enum spate_type elem, const struct spate_list *in,
                      struct spate_list *out) {
    size_t width = sp_type_width(elem);
    *out = *in;
    if (in->len == 0) {
        out->items = NULL;
        out->validity = NULL;
        return true;
    }
    void *items = sp_region_alloc(r, width * in->len, 64);
    if (items == NULL)
        return false;
    memcpy(items, in->items, width * in->len);
    if (elem == SPATE_TYPE_STRING) {
        struct spate_string *s = items;
        for (uint32_t i = 0; i < in->len; i++)
            if (sp_valid(in->validity, i) && !sp_window_own_string(r, &s[i], &s[i]))
                return false;
    }
    out->items = items;
    if (in->validity != NULL) {
        size_t bytes = sizeof(uint64_t) * ((in->len + 63) / 64);
        uint64_t *v = sp_region_alloc(r, bytes, 64);
        if (v == NULL)
            return false;
        memcpy(v, in->validity, bytes);
        out->validity = v;
    }
    return true;
}

struct sp_chunk *sp_chunk_copy_deep(struct sp_region *r, const struct sp_schema *s,
                                    const struct sp_chunk *in) {
    struct sp_chunk *c = sp_chunk_new(r, s);
    if (c == NULL)
        return NULL;
    uint32_t rows = in->view.rows;
    for (uint32_t col = 0; col < s->ncols; col++) {
        const struct spate_column_view *src = &in->cols[col];
        size_t width = sp_type_width(src->type);
        char *dst = sp_col_data(c, col);
        uint64_t *v = NULL;
        if (src->validity != NULL && (v = sp_chunk_add_validity(r, c, col)) == NULL)
            return NULL;
        for (uint32_t i = 0; i < rows; i++) {
            uint32_t phys = sp_chunk_row(&in->view, i);
            if (SPATE_TYPE_IS_LIST(src->type)) {
                struct spate_list *out = &((struct spate_list *)(void *)dst)[i];
                if (!sp_valid(src->validity, phys))
                    memset(out, 0, sizeof(*out));
                else if (!copy_list(r, SPATE_LIST_ELEM(src->type),
                                    &((const struct spate_list *)src->data)[phys], out))
                    return NULL;
            } else if (src->type == SPATE_TYPE_STRING) {
                const struct spate_string *str = &((const struct spate_string *)src->data)[phys];
                struct spate_string *out = &((struct spate_string *)(void *)dst)[i];
                if (!sp_valid(src->validity, phys))
                    memset(out, 0, sizeof(*out)); /* a null's view may be stale: not read */
                else if (!sp_window_own_string(r, str, out))
                    return NULL;
            } else {
                memcpy(dst + width * i, (const char *)src->data + width * phys, width);
            }
            if (v != NULL && sp_valid(src->validity, phys))
                v[i >> 6] |= 1ull << (i & 63);
        }
    }
    c->view.rows = rows;
    return c;
}
