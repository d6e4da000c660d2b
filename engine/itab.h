/*
 * engine/itab.h - the flat i64-key table of reduce_by_key's COUNT and SUM.
 *
 * Static inline: the inner loop of the commonest aggregation (engine/exec.c)
 * and the group-by micro-benchmark (bench/micro/micro_tables.c) run this one
 * copy. Tables live in a region; growth leaves the old slots there until the
 * region is reset.
 */
#ifndef SP_ITAB_H
#define SP_ITAB_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/region.h"

/*
 * The stage-1 table of the commonest aggregation, COUNT or SUM of i64 by an
 * i64 key: open addressing over 16-byte slots holding the key and its running
 * value side by side (INT64_MIN marks an empty slot; that key itself is kept
 * aside), so a probe touches one cache line and no entry array. At most a
 * quarter of the slots are used: a probe that misses its first slot costs a
 * branch misprediction, and at L2-resident sizes mispredictions, not cache
 * misses, set the speed (keyed-sum with 10K keys, one worker: 89 M rows/s at
 * a load of 5/8, 164 M at 1/4; the generic sp_agg_table, slot then entry,
 * 104 M). Stage 2 hashes the keys again and merges them into its radix
 * partition's table.
 */
#define SP_ITAB_EMPTY INT64_MIN

struct sp_islot {
    int64_t key; /* SP_ITAB_EMPTY = empty */
    int64_t val;
};

struct sp_itab {
    struct sp_islot *slots;
    uint32_t mask, n; /* n: keys in slots, at most sp_itab_capacity() */
    bool has_min;     /* the key INT64_MIN, kept aside */
    int64_t min_val;
};

/* The slot of key k: a multiplicative hash, independent of the XXH3 radix partition. */
static inline uint32_t sp_itab_slot(int64_t k, uint32_t mask) {
    return (uint32_t)(((uint64_t)k * 0x9e3779b97f4a7c15ull) >> 32) & mask;
}

/* Keys a table of slots slots may hold: a quarter while it is small enough for L2 (where
 * mispredictions cost most), half beyond (where cache misses do, and memory counts). */
static inline uint32_t sp_itab_capacity(uint32_t slots) {
    return slots <= (1u << 15) ? slots / 4 : slots / 2;
}

static inline bool sp_itab_init(struct sp_itab *t, struct sp_region *r, uint32_t hint) {
    uint32_t slots = 64;
    while (sp_itab_capacity(slots) < hint && slots < (1u << 30))
        slots *= 2;
    t->slots = sp_region_alloc(r, sizeof(struct sp_islot) * slots, 64);
    if (t->slots == NULL)
        return false;
    for (uint32_t i = 0; i < slots; i++)
        t->slots[i].key = SP_ITAB_EMPTY;
    t->mask = slots - 1;
    t->n = 0;
    t->has_min = false;
    t->min_val = 0;
    return true;
}

static inline bool sp_itab_grow(struct sp_itab *t, struct sp_region *r) {
    struct sp_itab g;
    if (t->mask >= (1u << 29) || !sp_itab_init(&g, r, sp_itab_capacity((t->mask + 1) * 2)))
        return false;
    for (uint32_t s = 0; s <= t->mask; s++) {
        const struct sp_islot *e = &t->slots[s];
        if (e->key == SP_ITAB_EMPTY)
            continue;
        /* The slot of a key is its multiplicative hash's high bits (see itab_slot). */
        uint32_t d = sp_itab_slot(e->key, g.mask);
        while (g.slots[d].key != SP_ITAB_EMPTY)
            d = (d + 1) & g.mask;
        g.slots[d] = *e;
    }
    g.n = t->n;
    g.has_min = t->has_min;
    g.min_val = t->min_val;
    *t = g;
    return true;
}

/* Add add to key k in t (the table of k's radix partition). Returns false on ENOMEM. */
static inline __attribute__((always_inline)) bool
sp_itab_add(struct sp_itab *t, struct sp_region *r, int64_t k, uint64_t add) {
    if (__builtin_expect(k == SP_ITAB_EMPTY, 0)) {
        t->min_val = (int64_t)((uint64_t)t->min_val + add);
        t->has_min = true;
        return true;
    }
    uint32_t s = sp_itab_slot(k, t->mask);
    for (;;) {
        struct sp_islot *e = &t->slots[s];
        if (e->key == k) {
            e->val = (int64_t)((uint64_t)e->val + add); /* wraps, as Java's long */
            return true;
        }
        if (e->key == SP_ITAB_EMPTY)
            break;
        s = (s + 1) & t->mask;
    }
    if (t->n + 1 > sp_itab_capacity(t->mask + 1)) {
        if (!sp_itab_grow(t, r))
            return false;
        s = sp_itab_slot(k, t->mask);
        while (t->slots[s].key != SP_ITAB_EMPTY)
            s = (s + 1) & t->mask;
    }
    t->slots[s].key = k;
    t->slots[s].val = (int64_t)add;
    t->n++;
    return true;
}

#endif /* SP_ITAB_H */
