/*
 * kernels/join/join_scalar.c - hash join build and probe (kernels/join/join.h
 * describes the table), for i64 and string keys.
 *
 * The builds and the string probe are also the avx2 and avx512 entries, and
 * the i64 probe is the avx2 one. A probe is one slot load for a unique i64
 * key (a string key adds its build view, a duplicated key perm[]); once the
 * table leaves the caches that load's latency is the cost, so with the hashes
 * of the whole input known up front the loop prefetches the slot of the row
 * SP_JOIN_AHEAD rows ahead (kernels/join/join.h). A build is one random slot
 * access per row plus two sequential passes; it is not vectorized (a row's
 * insert depends on the rows before it).
 */
#include "kernels/join/join.h"

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
        if (!sp_join_valid(validity, i)) {
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

uint32_t sp_join_probe_i64_scalar(const struct sp_join_table *restrict t,
                                  const int64_t *restrict keys, const uint64_t *restrict validity,
                                  const uint16_t *restrict sel, const uint64_t *restrict hashes,
                                  uint32_t n, bool emit_unmatched, uint32_t *restrict out_probe,
                                  uint32_t *restrict out_build, uint32_t max_out,
                                  struct sp_join_cursor *restrict cur,
                                  uint64_t *restrict probe_matched,
                                  uint64_t *restrict build_matched) {
    return sp_join_probe_rows(t, keys, false, validity, sel, hashes, n, emit_unmatched, out_probe,
                              out_build, max_out, cur, probe_matched, build_matched);
}

uint32_t sp_join_probe_str_scalar(const struct sp_join_table *restrict t,
                                  const struct spate_string *restrict keys,
                                  const uint64_t *restrict validity, const uint16_t *restrict sel,
                                  const uint64_t *restrict hashes, uint32_t n, bool emit_unmatched,
                                  uint32_t *restrict out_probe, uint32_t *restrict out_build,
                                  uint32_t max_out, struct sp_join_cursor *restrict cur,
                                  uint64_t *restrict probe_matched,
                                  uint64_t *restrict build_matched) {
    return sp_join_probe_rows(t, keys, true, validity, sel, hashes, n, emit_unmatched, out_probe,
                              out_build, max_out, cur, probe_matched, build_matched);
}
