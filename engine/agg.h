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
    uint32_t pad_;
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
};

/* Radix partitions: a power of two. */
#define SP_AGG_RADIX_BITS 4
#define SP_AGG_RADIX (1u << SP_AGG_RADIX_BITS)

static inline uint32_t sp_agg_radix(uint64_t hash) {
    return (uint32_t)(hash >> (64 - SP_AGG_RADIX_BITS));
}

/* An empty table with room for about hint keys. Returns SPATE_OK or ENOMEM. */
spate_status sp_agg_table_init(struct sp_agg_table *t, struct sp_region *r, uint32_t hint);

/*
 * Find or add the key of hash; returns the entry index, sets *fresh when it
 * was added (value zeroed, stamp 0), or UINT32_MAX on ENOMEM.
 */
uint32_t sp_agg_find_or_add_i64(struct sp_agg_table *t, struct sp_region *r, uint64_t hash,
                                int64_t key, bool *fresh);
uint32_t sp_agg_find_or_add_str(struct sp_agg_table *t, struct sp_region *r, uint64_t hash,
                                const struct spate_string *key, bool *fresh);

/* Equality of two normalized string views. */
bool sp_str_equal(const struct spate_string *a, const struct spate_string *b);

#endif /* SP_AGG_H */
