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
 * key, is three dependent loads, and the engine's former table two). A key
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

#endif /* SP_KERNELS_JOIN_H */
