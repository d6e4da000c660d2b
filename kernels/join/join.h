/*
 * kernels/join/join.h - hash join: build a table over the build side's keys,
 * probe it with the other side's keys, output (probe row, build row) index
 * pairs that drive the caller's materialization.
 *
 * The table is open addressing with linear probing over 16-byte slots, one
 * slot per distinct key: {key (the i64 itself, or the 64-bit hash of a string
 * key), start, count}. A key seen once keeps its build row in start, so a
 * probe of a unique-key i64 table is one slot load: the slot holds the key to
 * compare and the row to emit (a chained table, heads[] then next[] then the
 * key, is three dependent loads, and the engine's former tag-slot table two;
 * with this table and a columnar fill of the output, spate-bench join-probe
 * went from 17.5 to 30-33 M rows/s on one worker, README "Performance"). A key
 * seen count > 1 times keeps its rows, in build order, in perm[start, start +
 * count). String slots compare the hash, then the build key's view
 * (keys[first row]) with the probe key's.
 */
#ifndef SP_KERNELS_JOIN_H
#define SP_KERNELS_JOIN_H

#include "kernels/common.h"

/* String view equality (length, prefix, then inline bytes or the pointed-to bytes). */
SP_KINLINE bool sp_join_str_equal(const struct spate_string *a, const struct spate_string *b) {
    uint64_t a0 = sp_load_u64(a), b0 = sp_load_u64(b);
    if (a0 != b0) /* length and prefix */
        return false;
    if (a->len <= SPATE_STRING_INLINE)
        return sp_load_u64((const char *)a + 8) == sp_load_u64((const char *)b + 8);
    return memcmp(a->u.ptr, b->u.ptr, a->len) == 0;
}

/* The slot where the linear probe of hash starts. */
SP_KINLINE uint32_t sp_join_home(uint64_t hash, uint32_t mask) {
    return (uint32_t)hash & mask;
}

#define SP_JOIN_AHEAD 16 /* rows between a slot's prefetch and its probe */

SP_KINLINE bool sp_join_valid(const uint64_t *validity, uint32_t row) {
    return validity == NULL || sp_valid_bit(validity, row);
}

/* First build row of a slot's key (the representative compared with a string probe key). */
SP_KINLINE uint32_t sp_join_first_row(const struct sp_join_table *t,
                                      const struct sp_join_slot *sl) {
    return sl->count == 1 ? sl->start : t->perm[sl->start];
}

/* The slot of a probe key, NULL when the build side does not have it. */
SP_KINLINE const struct sp_join_slot *sp_join_find(const struct sp_join_table *restrict t,
                                                   bool is_string, uint64_t hash, uint64_t key,
                                                   const struct spate_string *skey) {
    const struct spate_string *bkeys = t->keys;
    uint32_t s = sp_join_home(hash, t->mask);
    for (;;) {
        const struct sp_join_slot *sl = &t->slots[s];
        if (sl->count == 0)
            return NULL;
        if (sl->key == key &&
            (!is_string || sp_join_str_equal(&bkeys[sp_join_first_row(t, sl)], skey)))
            return sl;
        s = (s + 1) & t->mask;
    }
}

SP_KINLINE void sp_join_set_bit(uint64_t *bits, uint32_t i) {
    bits[i >> 6] |= (uint64_t)1 << (i & 63);
}

/*
 * The probe of candidates cur->pos..n as the kernel contract says (kernels.h):
 * the scalar kernels, and the SIMD ones for what their vector loop leaves
 * (duplicated keys, a resumed row, little output room, the tail).
 */
SP_KINLINE uint32_t sp_join_probe_rows(
    const struct sp_join_table *restrict t, const void *restrict keys, bool is_string,
    const uint64_t *restrict validity, const uint16_t *restrict sel,
    const uint64_t *restrict hashes, uint32_t n, bool emit_unmatched, uint32_t *restrict out_probe,
    uint32_t *restrict out_build, uint32_t max_out, struct sp_join_cursor *restrict cur,
    uint64_t *restrict probe_matched, uint64_t *restrict build_matched) {
    const struct spate_string *skeys = keys;
    const int64_t *ikeys = keys;
    uint32_t i = cur->pos, k = cur->k, w = 0;

    while (i < n && w < max_out) {
        if (i + SP_JOIN_AHEAD < n)
            __builtin_prefetch(&t->slots[sp_join_home(hashes[i + SP_JOIN_AHEAD], t->mask)]);
        uint32_t phys = sel != NULL ? sel[i] : i;
        if (!sp_join_valid(validity, phys)) { /* a null key matches nothing and is not emitted */
            i++;
            continue;
        }
        const struct sp_join_slot *sl =
            sp_join_find(t, is_string, hashes[i], is_string ? hashes[i] : (uint64_t)ikeys[phys],
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
            sp_join_set_bit(probe_matched, phys);
        if (sl->count == 1) { /* the common case: one row, kept in the slot */
            out_probe[w] = phys;
            out_build[w++] = sl->start;
            if (build_matched != NULL)
                sp_join_set_bit(build_matched, sl->start);
            i++;
            continue;
        }
        const uint32_t *rows = t->perm + sl->start;
        uint32_t take = SP_KMIN(sl->count - k, max_out - w);
        for (uint32_t j = 0; j < take; j++) {
            out_probe[w + j] = phys;
            out_build[w + j] = rows[k + j];
            if (build_matched != NULL)
                sp_join_set_bit(build_matched, rows[k + j]);
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

/* ---- Entry points (tables in kernels/dispatch.c) ---- */

uint32_t sp_join_build_i64_scalar(struct sp_join_table *restrict t, const int64_t *restrict keys,
                                  const uint64_t *restrict validity,
                                  const uint64_t *restrict hashes, uint32_t n,
                                  uint32_t *restrict scratch);
uint32_t sp_join_build_str_scalar(struct sp_join_table *restrict t,
                                  const struct spate_string *restrict keys,
                                  const uint64_t *restrict validity,
                                  const uint64_t *restrict hashes, uint32_t n,
                                  uint32_t *restrict scratch);
uint32_t sp_join_probe_i64_scalar(const struct sp_join_table *restrict t,
                                  const int64_t *restrict keys, const uint64_t *restrict validity,
                                  const uint16_t *restrict sel, const uint64_t *restrict hashes,
                                  uint32_t n, bool emit_unmatched, uint32_t *restrict out_probe,
                                  uint32_t *restrict out_build, uint32_t max_out,
                                  struct sp_join_cursor *restrict cur,
                                  uint64_t *restrict probe_matched,
                                  uint64_t *restrict build_matched);
uint32_t sp_join_probe_str_scalar(const struct sp_join_table *restrict t,
                                  const struct spate_string *restrict keys,
                                  const uint64_t *restrict validity, const uint16_t *restrict sel,
                                  const uint64_t *restrict hashes, uint32_t n, bool emit_unmatched,
                                  uint32_t *restrict out_probe, uint32_t *restrict out_build,
                                  uint32_t max_out, struct sp_join_cursor *restrict cur,
                                  uint64_t *restrict probe_matched,
                                  uint64_t *restrict build_matched);

#ifdef SPATE_HAVE_AVX2
uint32_t sp_join_probe_i64_avx2(const struct sp_join_table *restrict t,
                                const int64_t *restrict keys, const uint64_t *restrict validity,
                                const uint16_t *restrict sel, const uint64_t *restrict hashes,
                                uint32_t n, bool emit_unmatched, uint32_t *restrict out_probe,
                                uint32_t *restrict out_build, uint32_t max_out,
                                struct sp_join_cursor *restrict cur,
                                uint64_t *restrict probe_matched, uint64_t *restrict build_matched);
#endif

#ifdef SPATE_HAVE_AVX512
uint32_t sp_join_probe_i64_avx512(const struct sp_join_table *restrict t,
                                  const int64_t *restrict keys, const uint64_t *restrict validity,
                                  const uint16_t *restrict sel, const uint64_t *restrict hashes,
                                  uint32_t n, bool emit_unmatched, uint32_t *restrict out_probe,
                                  uint32_t *restrict out_build, uint32_t max_out,
                                  struct sp_join_cursor *restrict cur,
                                  uint64_t *restrict probe_matched,
                                  uint64_t *restrict build_matched);
#endif

#endif /* SP_KERNELS_JOIN_H */
