/*
 * engine/agg.c - the open-addressing tables behind reduce_by_key.
 *
 * Invariants: the slot array is a power of two and at most half full, so a
 * probe always ends at an empty slot; entries[0..n) are live and never move
 * except when the entry array grows (copied in order). Tables live in the
 * batch's region: growth leaves the old arrays there until the batch ends,
 * bounded by the geometric growth to the size of the final table.
 */
#include "engine/agg.h"
#include "kernels/kernels.h"

#include <errno.h>

static uint32_t pow2_at_least(uint32_t v) {
    uint32_t p = 16;
    while (p < v && p < (1u << 30))
        p <<= 1;
    return p;
}

spate_status sp_agg_table_init(struct sp_agg_table *t, struct sp_region *r, uint32_t hint) {
    uint32_t slots = pow2_at_least(hint * 2);
    t->slots = sp_region_alloc(r, sizeof(uint64_t) * slots, 64);
    t->cap = slots / 2;
    t->entries = sp_region_alloc(r, sizeof(struct sp_agg_entry) * t->cap, 64);
    if (t->slots == NULL || t->entries == NULL)
        return ENOMEM;
    memset(t->slots, 0, sizeof(uint64_t) * slots);
    t->mask = slots - 1;
    t->n = 0;
    return SPATE_OK;
}

/* Double the slots and the entries; rehash the slots from the stored hashes. */
static bool grow(struct sp_agg_table *t, struct sp_region *r) {
    uint32_t slots = (t->mask + 1) * 2;
    if (slots == 0 || slots > (1u << 31))
        return false;
    uint64_t *ns = sp_region_alloc(r, sizeof(uint64_t) * slots, 64);
    struct sp_agg_entry *ne = sp_region_alloc(r, sizeof(struct sp_agg_entry) * (slots / 2), 64);
    if (ns == NULL || ne == NULL)
        return false;
    memset(ns, 0, sizeof(uint64_t) * slots);
    memcpy(ne, t->entries, sizeof(struct sp_agg_entry) * t->n);
    uint32_t mask = slots - 1;
    for (uint32_t i = 0; i < t->n; i++) {
        uint64_t h = ne[i].hash;
        uint32_t s = (uint32_t)h & mask;
        while (ns[s] != 0)
            s = (s + 1) & mask;
        ns[s] = (h & 0xffffffff00000000ull) | (uint64_t)(i + 1);
    }
    t->slots = ns;
    t->entries = ne;
    t->mask = mask;
    t->cap = slots / 2;
    return true;
}

uint32_t sp_agg_add_entry(struct sp_agg_table *t, struct sp_region *r, uint64_t hash, uint32_t s,
                          bool *fresh) {
    if (t->n + 1 > t->cap) {
        if (!grow(t, r))
            return UINT32_MAX;
        /* Find the empty slot again in the grown table. */
        s = (uint32_t)hash & t->mask;
        while (t->slots[s] != 0)
            s = (s + 1) & t->mask;
    }
    uint32_t idx = t->n++;
    struct sp_agg_entry *e = &t->entries[idx];
    memset(e, 0, sizeof(*e));
    e->hash = hash;
    t->slots[s] = (hash & 0xffffffff00000000ull) | (uint64_t)(idx + 1);
    *fresh = true;
    return idx;
}
