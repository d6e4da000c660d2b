/*
 * engine/agg.h - hash aggregation tables for reduce_by_key.
 *
 * Open addressing with linear probing over 64-bit slots that hold the upper
 * 32 bits of the key's XXH3 hash next to an entry index, so a probe compares
 * tags without touching the entry; entries are dense in insertion order, so
 * the merge and the output walk memory linearly. Each worker keeps one table
 * per radix partition (the top bits of the hash); stage 2 merges partition r
 * of every worker into one table, on one worker, with no locks.
 */
#ifndef SP_AGG_H
#define SP_AGG_H

#include "engine/common.h"
#include "engine/region.h"
#include "spate/schema.h"
#include "spate/dstream.h"

struct sp_agg_entry {
    uint64_t hash;
    union {
        struct spate_string s;
        int64_t i;
    } key;
    union {
        int64_t i;
        double f;
    } val;
    uint32_t stamp; /* generation of the last touch (user reduce functions) */
    uint32_t pad_;  /* AVG: stamp and pad_ hold the count (see sp_agg_count) */
};

struct sp_agg_table {
    uint64_t *slots; /* 0 = empty, else (hash >> 32) << 32 | (entry index + 1) */
    uint32_t mask;   /* slots - 1 */
    uint32_t n;      /* entries in use */
    uint32_t cap;    /* entries allocated */
    struct sp_agg_entry *entries;
};

/* Kind of key and how values combine. */
struct sp_agg_spec {
    bool key_is_string;
    bool value_is_f64;
    enum spate_agg agg;
    spate_reduce_i64_fn fn; /* user function (i64), or NULL */
    void *user;
    /* AVG: val.f is the sum of the valid values, sp_agg_count() their number; value_is_f64
     * then says whether the input values are f64 (the output always is). */
    bool avg;
    /* Composite key: nkeys (2..SPATE_MAX_KEY_COLS) columns packed into one string key (each
     * i64 as 8 bytes, each string as a 4-byte length and its bytes), so the string-key
     * tables and windows carry it; the hash is the columns' hashes combined. 0: one key. */
    uint32_t nkeys;
    uint32_t key_cols[SPATE_MAX_KEY_COLS];         /* input columns of the key */
    enum spate_type key_types[SPATE_MAX_KEY_COLS]; /* string, i64 or timestamp */
};

/* The count of an AVG entry: 64 bits over the stamp and pad_ fields, which AVG does not use. */
static inline uint64_t sp_agg_count(const struct sp_agg_entry *e) {
    return (uint64_t)e->pad_ << 32 | e->stamp;
}

static inline void sp_agg_set_count(struct sp_agg_entry *e, uint64_t n) {
    e->stamp = (uint32_t)n;
    e->pad_ = (uint32_t)(n >> 32);
}

/* Radix partitions: a power of two. */
#define SP_AGG_RADIX_BITS 4
#define SP_AGG_RADIX (1u << SP_AGG_RADIX_BITS)

static inline uint32_t sp_agg_radix(uint64_t hash) {
    return (uint32_t)(hash >> (64 - SP_AGG_RADIX_BITS));
}

/* An empty table with room for about hint keys. Returns SPATE_OK or ENOMEM. */
spate_status sp_agg_table_init(struct sp_agg_table *t, struct sp_region *r, uint32_t hint);

/* Add an entry for hash at empty slot s (growing first when full). UINT32_MAX on ENOMEM. */
uint32_t sp_agg_add_entry(struct sp_agg_table *t, struct sp_region *r, uint64_t hash, uint32_t s,
                          bool *fresh);

/* Equality of two normalized string views (unused inline bytes are zero). */
static inline bool sp_str_equal(const struct spate_string *a, const struct spate_string *b) {
    uint64_t a0, b0, a1, b1;
    memcpy(&a0, a, 8);
    memcpy(&b0, b, 8);
    if (a0 != b0) /* length and prefix */
        return false;
    if (a->len <= SPATE_STRING_INLINE) {
        memcpy(&a1, (const char *)a + 8, 8);
        memcpy(&b1, (const char *)b + 8, 8);
        return a1 == b1;
    }
    return memcmp(a->u.ptr, b->u.ptr, a->len) == 0;
}

/*
 * Find or add the key of hash; returns the entry index, sets *fresh when it
 * was added (value zeroed, stamp 0), or UINT32_MAX on ENOMEM. Inline: this
 * is the inner loop of every aggregation.
 */
static inline uint32_t sp_agg_find_or_add_i64(struct sp_agg_table *t, struct sp_region *r,
                                              uint64_t hash, int64_t key, bool *fresh) {
    uint64_t tag = hash & 0xffffffff00000000ull;
    uint32_t s = (uint32_t)hash & t->mask;
    *fresh = false;
    for (;;) {
        uint64_t v = t->slots[s];
        if (v == 0)
            break;
        if ((v & 0xffffffff00000000ull) == tag && t->entries[(uint32_t)v - 1].key.i == key)
            return (uint32_t)v - 1;
        s = (s + 1) & t->mask;
    }
    uint32_t idx = sp_agg_add_entry(t, r, hash, s, fresh);
    if (idx != UINT32_MAX)
        t->entries[idx].key.i = key;
    return idx;
}

static inline uint32_t sp_agg_find_or_add_str(struct sp_agg_table *t, struct sp_region *r,
                                              uint64_t hash, const struct spate_string *key,
                                              bool *fresh) {
    uint64_t tag = hash & 0xffffffff00000000ull;
    uint32_t s = (uint32_t)hash & t->mask;
    *fresh = false;
    for (;;) {
        uint64_t v = t->slots[s];
        if (v == 0)
            break;
        if ((v & 0xffffffff00000000ull) == tag &&
            sp_str_equal(&t->entries[(uint32_t)v - 1].key.s, key))
            return (uint32_t)v - 1;
        s = (s + 1) & t->mask;
    }
    uint32_t idx = sp_agg_add_entry(t, r, hash, s, fresh);
    if (idx != UINT32_MAX)
        t->entries[idx].key.s = *key;
    return idx;
}

/* Find the entry of a key without adding it; UINT32_MAX when absent. */
static inline uint32_t sp_agg_find(const struct sp_agg_table *t, bool is_string, uint64_t hash,
                                   const struct spate_string *skey, int64_t ikey) {
    uint64_t tag = hash & 0xffffffff00000000ull;
    uint32_t s = (uint32_t)hash & t->mask;
    for (;;) {
        uint64_t v = t->slots[s];
        if (v == 0)
            return UINT32_MAX;
        if ((v & 0xffffffff00000000ull) == tag) {
            const struct sp_agg_entry *e = &t->entries[(uint32_t)v - 1];
            if (is_string ? sp_str_equal(&e->key.s, skey) : e->key.i == ikey)
                return (uint32_t)v - 1;
        }
        s = (s + 1) & t->mask;
    }
}

#endif /* SP_AGG_H */
