/*
 * kernels/join/join_scalar.c - hash join build and probe (kernels/join/join.h
 * describes the table), for i64 and string keys.
 *
 * These are also the avx2 and avx512 entries. The probe is a chain of two
 * dependent loads at most per row (slot, then a string key or perm[] for a
 * duplicated key) and is bound by memory latency once the table leaves the
 * caches, not by instructions: with the hashes of the whole input known up
 * front, the loop prefetches the slot of the row SP_JOIN_AHEAD rows ahead,
 * which keeps that many misses in flight. A gather-based probe does no
 * better on that bound (a gather of 8 slots waits for the slowest of 8
 * misses, and the lanes that hit a duplicated key or a collision fall back to
 * this loop anyway); bench/micro/micro_join.c measures this loop against a
 * plain linear-probing loop without prefetch.
 */
#include "kernels/join/join.h"

#define SP_JOIN_AHEAD 16 /* rows between a slot's prefetch and its probe */

SP_KINLINE bool is_valid(const uint64_t *validity, uint32_t row) {
    return validity == NULL || sp_valid_bit(validity, row);
}

/* First build row of a slot's key (the representative compared with a string probe key). */
SP_KINLINE uint32_t first_row(const struct sp_join_table *t, const struct sp_join_slot *sl) {
    return sl->count == 1 ? sl->start : t->perm[sl->start];
}

/* ---- Build ---- */

SP_KINLINE uint32_t build(struct sp_join_table *restrict t, const void *restrict keys,
                          bool is_string, const uint64_t *restrict validity,
                          const uint64_t *restrict hashes, uint32_t n, uint32_t *restrict scratch) {
    struct sp_join_slot *slots = t->slots;
    const struct spate_string *skeys = keys;
    const int64_t *ikeys = keys;
    uint32_t mask = t->mask, nkeys = 0, nrows = 0;

    memset(slots, 0, sizeof(*slots) * ((size_t)mask + 1));
    /* Pass 1: one slot per distinct key, start = its first row, count = its rows. */
    for (uint32_t i = 0; i < n; i++) {
        if (i + SP_JOIN_AHEAD < n)
            __builtin_prefetch(&slots[sp_join_home(hashes[i + SP_JOIN_AHEAD], mask)], 1);
        if (!is_valid(validity, i)) {
            scratch[i] = UINT32_MAX;
            continue;
        }
        uint64_t key = is_string ? hashes[i] : (uint64_t)ikeys[i];
        uint32_t s = sp_join_home(hashes[i], mask);
        for (;;) {
            struct sp_join_slot *sl = &slots[s];
            if (sl->count == 0) {
                *sl = (struct sp_join_slot){key, i, 1};
                nkeys++;
                break;
            }
            if (sl->key == key && (!is_string || sp_join_str_equal(&skeys[sl->start], &skeys[i]))) {
                sl->count++;
                break;
            }
            s = (s + 1) & mask;
        }
        scratch[i] = s;
        nrows++;
    }
    /* Pass 2: a range of perm for every duplicated key; start = the range's end for now. */
    uint32_t at = 0;
    for (uint32_t s = 0; s <= mask; s++) {
        if (slots[s].count > 1) {
            at += slots[s].count;
            slots[s].start = at;
        }
    }
    /* Pass 3: the rows of duplicated keys, filled backwards so each range is ascending. */
    for (uint32_t i = n; i-- > 0;) {
        uint32_t s = scratch[i];
        if (s != UINT32_MAX && slots[s].count > 1)
            t->perm[--slots[s].start] = i;
    }
    t->keys = keys;
    t->nkeys = nkeys;
    t->nrows = nrows;
    return nkeys;
}

uint32_t sp_join_build_i64_scalar(struct sp_join_table *restrict t, const int64_t *restrict keys,
                                  const uint64_t *restrict validity,
                                  const uint64_t *restrict hashes, uint32_t n,
                                  uint32_t *restrict scratch) {
    return build(t, keys, false, validity, hashes, n, scratch);
}

uint32_t sp_join_build_str_scalar(struct sp_join_table *restrict t,
                                  const struct spate_string *restrict keys,
                                  const uint64_t *restrict validity,
                                  const uint64_t *restrict hashes, uint32_t n,
                                  uint32_t *restrict scratch) {
    return build(t, keys, true, validity, hashes, n, scratch);
}

/* ---- Probe ---- */

/* The slot of a probe key, NULL when the build side does not have it. */
SP_KINLINE const struct sp_join_slot *find(const struct sp_join_table *restrict t, bool is_string,
                                           uint64_t hash, uint64_t key,
                                           const struct spate_string *skey) {
    const struct spate_string *bkeys = t->keys;
    uint32_t s = sp_join_home(hash, t->mask);
    for (;;) {
        const struct sp_join_slot *sl = &t->slots[s];
        if (sl->count == 0)
            return NULL;
        if (sl->key == key && (!is_string || sp_join_str_equal(&bkeys[first_row(t, sl)], skey)))
            return sl;
        s = (s + 1) & t->mask;
    }
}

SP_KINLINE void set_bit(uint64_t *bits, uint32_t i) {
    bits[i >> 6] |= (uint64_t)1 << (i & 63);
}

SP_KINLINE uint32_t probe(const struct sp_join_table *restrict t, const void *restrict keys,
                          bool is_string, const uint64_t *restrict validity,
                          const uint16_t *restrict sel, const uint64_t *restrict hashes, uint32_t n,
                          bool emit_unmatched, uint32_t *restrict out_probe,
                          uint32_t *restrict out_build, uint32_t max_out,
                          struct sp_join_cursor *restrict cur, uint64_t *restrict probe_matched,
                          uint64_t *restrict build_matched) {
    const struct spate_string *skeys = keys;
    const int64_t *ikeys = keys;
    uint32_t i = cur->pos, k = cur->k, w = 0;

    while (i < n && w < max_out) {
        if (i + SP_JOIN_AHEAD < n)
            __builtin_prefetch(&t->slots[sp_join_home(hashes[i + SP_JOIN_AHEAD], t->mask)]);
        uint32_t phys = sel != NULL ? sel[i] : i;
        if (!is_valid(validity, phys)) { /* a null key matches nothing and is not emitted */
            i++;
            continue;
        }
        const struct sp_join_slot *sl =
            find(t, is_string, hashes[i], is_string ? hashes[i] : (uint64_t)ikeys[phys],
                 is_string ? &skeys[phys] : NULL);
        if (sl == NULL) {
            if (emit_unmatched) {
                out_probe[w] = phys;
                out_build[w++] = SP_JOIN_NONE;
            }
            i++;
            continue;
        }
        if (probe_matched != NULL)
            set_bit(probe_matched, phys);
        if (sl->count == 1) { /* the common case: one row, kept in the slot */
            out_probe[w] = phys;
            out_build[w++] = sl->start;
            if (build_matched != NULL)
                set_bit(build_matched, sl->start);
            i++;
            continue;
        }
        const uint32_t *rows = t->perm + sl->start;
        uint32_t take = SP_KMIN(sl->count - k, max_out - w);
        for (uint32_t j = 0; j < take; j++) {
            out_probe[w + j] = phys;
            out_build[w + j] = rows[k + j];
            if (build_matched != NULL)
                set_bit(build_matched, rows[k + j]);
        }
        w += take;
        k += take;
        if (k == sl->count) {
            k = 0;
            i++;
        }
    }
    cur->pos = i;
    cur->k = k;
    return w;
}

uint32_t sp_join_probe_i64_scalar(const struct sp_join_table *restrict t,
                                  const int64_t *restrict keys, const uint64_t *restrict validity,
                                  const uint16_t *restrict sel, const uint64_t *restrict hashes,
                                  uint32_t n, bool emit_unmatched, uint32_t *restrict out_probe,
                                  uint32_t *restrict out_build, uint32_t max_out,
                                  struct sp_join_cursor *restrict cur,
                                  uint64_t *restrict probe_matched,
                                  uint64_t *restrict build_matched) {
    return probe(t, keys, false, validity, sel, hashes, n, emit_unmatched, out_probe, out_build,
                 max_out, cur, probe_matched, build_matched);
}

uint32_t sp_join_probe_str_scalar(const struct sp_join_table *restrict t,
                                  const struct spate_string *restrict keys,
                                  const uint64_t *restrict validity, const uint16_t *restrict sel,
                                  const uint64_t *restrict hashes, uint32_t n, bool emit_unmatched,
                                  uint32_t *restrict out_probe, uint32_t *restrict out_build,
                                  uint32_t max_out, struct sp_join_cursor *restrict cur,
                                  uint64_t *restrict probe_matched,
                                  uint64_t *restrict build_matched) {
    return probe(t, keys, true, validity, sel, hashes, n, emit_unmatched, out_probe, out_build,
                 max_out, cur, probe_matched, build_matched);
}
