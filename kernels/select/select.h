/*
 * kernels/select/select.h - selection vectors: set operations (and, or, not)
 * and compaction (gather of 8-byte values and 16-byte string views, and of a
 * validity bitmap) by a selection.
 *
 * Exact semantics (select_scalar.c is the reference):
 *   - selections are ascending uint16 row numbers below SPATE_CHUNK_ROWS,
 *     without duplicates; outputs follow the same rule. sel_and writes
 *     a ∩ b, sel_or a ∪ b, sel_not {0..n} \ a (n <= SPATE_CHUNK_ROWS, the
 *     entries of a below n); rooms: min(na, nb), na + nb and n. Nothing is
 *     written at or past the room;
 *   - gather_u64 / gather_str: out[i] = v[sel[i]] for i < n;
 *   - compact_validity: bit i of out = bit sel[i] of validity (NULL: all
 *     valid) for i < n, bits at or past n zero, (n + 63) / 64 words written;
 *     returns the number of set bits.
 * The SIMD set operations go through a bitmap of the chunk's rows on the
 * stack (SPATE_CHUNK_ROWS / 8 bytes), built and read by the helpers below.
 */
#ifndef SP_KERNELS_SELECT_H
#define SP_KERNELS_SELECT_H

#include "kernels/common.h"

#define SP_SEL_WORDS ((SPATE_CHUNK_ROWS + 63) / 64)

/* Clear words [0, nw) of bits and set the bit of each row of sel[0, n). */
SP_KINLINE void sp_sel_to_bits(const uint16_t *restrict sel, uint32_t n, uint64_t *restrict bits,
                               uint32_t nw, bool clear) {
    if (clear)
        memset(bits, 0, nw * sizeof bits[0]);
    for (uint32_t i = 0; i < n; i++)
        bits[sel[i] >> 6] |= (uint64_t)1 << (sel[i] & 63);
}

/* ---- Entry points (tables in kernels/dispatch.c) ---- */

#define SP_SELECT_DECLARE(isa)                                                                     \
    uint32_t sp_sel_and_##isa(const uint16_t *restrict a, uint32_t na, const uint16_t *restrict b, \
                              uint32_t nb, uint16_t *restrict out);                                \
    uint32_t sp_sel_or_##isa(const uint16_t *restrict a, uint32_t na, const uint16_t *restrict b,  \
                             uint32_t nb, uint16_t *restrict out);                                 \
    uint32_t sp_sel_not_##isa(const uint16_t *restrict a, uint32_t na, uint32_t n,                 \
                              uint16_t *restrict out);                                             \
    void sp_gather_u64_##isa(const uint64_t *restrict v, const uint16_t *restrict sel, uint32_t n, \
                             uint64_t *restrict out);                                              \
    uint32_t sp_compact_validity_##isa(const uint64_t *restrict validity,                          \
                                       const uint16_t *restrict sel, uint32_t n,                   \
                                       uint64_t *restrict out);

SP_SELECT_DECLARE(scalar)
#ifdef SPATE_HAVE_AVX2
SP_SELECT_DECLARE(avx2)
#endif
#ifdef SPATE_HAVE_AVX512
SP_SELECT_DECLARE(avx512)
#endif

/* 16-byte views: plain 16-byte copies in every ISA (scalar code compiles to
 * one vector load and store per row; a gather would only add work). */
void sp_gather_str_scalar(const struct spate_string *restrict v, const uint16_t *restrict sel,
                          uint32_t n, struct spate_string *restrict out);

/* ---- Set operations through a bitmap (SIMD variants) ---- */

/* a ∩ b: bits of a, then each b tested (b beyond a's last row stops). */
SP_KINLINE uint32_t sp_sel_and_bits(const uint16_t *restrict a, uint32_t na,
                                    const uint16_t *restrict b, uint32_t nb,
                                    uint16_t *restrict out) {
    uint64_t bits[SP_SEL_WORDS];
    uint32_t count = 0;

    if (na == 0 || nb == 0)
        return 0;
    uint32_t last = a[na - 1];
    sp_sel_to_bits(a, na, bits, (last >> 6) + 1, true);
    for (uint32_t j = 0; j < nb && b[j] <= last; j++) {
        uint32_t x = b[j];
        out[count] = (uint16_t)x; /* count < na here: a's last row is still ahead */
        count += (uint32_t)(bits[x >> 6] >> (x & 63)) & 1;
    }
    return count;
}

#endif /* SP_KERNELS_SELECT_H */
