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
 * The SIMD or and not go through a bitmap of the chunk's rows on the stack
 * (SPATE_CHUNK_ROWS / 8 bytes), built by the helper below.
 */
#ifndef SP_KERNELS_SELECT_H
#define SP_KERNELS_SELECT_H

#include "kernels/common.h"

#define SP_SEL_WORDS ((SPATE_CHUNK_ROWS + 63) / 64)

/*
 * Clear words [0, nw) of bits (when clear) and set the bit of each row of
 * sel[0, n). The word being filled stays in a register and is stored when
 * the rows move on to the next word (sel is ascending, so each word is one
 * run): or-ing each bit into memory would chain every row of a word through
 * store-to-load forwarding.
 */
SP_KINLINE void sp_sel_to_bits(const uint16_t *restrict sel, uint32_t n, uint64_t *restrict bits,
                               uint32_t nw, bool clear) {
    uint32_t cur = 0;
    uint64_t word = 0;

    if (clear)
        memset(bits, 0, nw * sizeof bits[0]);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t w = sel[i] >> 6;
        if (w != cur) {
            bits[cur] |= word;
            word = 0;
            cur = w;
        }
        word |= (uint64_t)1 << (sel[i] & 63);
    }
    if (n > 0)
        bits[cur] |= word;
}

/* ---- Entry points (tables in kernels/dispatch.c) ---- */

#define SP_SELECT_DECLARE(isa)                                                                     \
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

/* a ∩ b: the scalar merge in every ISA. Through a bitmap (set a's rows, test
 * b's) it measured slower than the merge (micro benchmark sel_and: avx512
 * 1.0 G rows/s against 1.4 G for the merge, on random selections). */
uint32_t sp_sel_and_scalar(const uint16_t *restrict a, uint32_t na, const uint16_t *restrict b,
                           uint32_t nb, uint16_t *restrict out);

/* 16-byte views: plain 16-byte copies in every ISA (scalar code compiles to
 * one vector load and store per row; a gather would only add work). */
void sp_gather_str_scalar(const struct spate_string *restrict v, const uint16_t *restrict sel,
                          uint32_t n, struct spate_string *restrict out);

#endif /* SP_KERNELS_SELECT_H */
