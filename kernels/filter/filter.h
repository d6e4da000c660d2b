/*
 * kernels/filter/filter.h - the filter kernels of every ISA, and the
 * comparison they share.
 *
 * Exact semantics (the scalar file is the reference):
 *   - the candidate rows are sel_in[0..n) (ascending) or 0..n when sel_in is
 *     NULL; a row passes when it is valid (validity NULL: all rows are) and
 *     the predicate holds; passing rows are written to sel_out in candidate
 *     order and counted. sel_out needs room for n entries: variants may write
 *     scratch values at indexes at or past the returned count, never at or
 *     past n;
 *   - filter_cmp_i64 compares as signed 64-bit integers, v[row] OP k;
 *   - filter_eq_str: equality is len == slen and the same bytes; prefix is
 *     len >= slen and the first slen bytes equal (slen == 0 matches every
 *     valid row). The views' prefix bytes must hold the first min(len, 4)
 *     bytes of the string (the view contract); padding bytes are not read.
 */
#ifndef SP_KERNELS_FILTER_H
#define SP_KERNELS_FILTER_H

#include "kernels/common.h"

/* v OP k with op a compile-time constant after inlining. */
SP_KINLINE bool sp_filter_cmp(int64_t v, enum sp_cmp op, int64_t k)
{
    switch (op) {
    case SP_CMP_EQ:
        return v == k;
    case SP_CMP_NE:
        return v != k;
    case SP_CMP_LT:
        return v < k;
    case SP_CMP_LE:
        return v <= k;
    case SP_CMP_GT:
        return v > k;
    case SP_CMP_GE:
        return v >= k;
    }
    return false;
}

/* ---- Entry points (tables in kernels/dispatch.c) ---- */

uint32_t sp_filter_cmp_i64_scalar(const int64_t *restrict v, const uint64_t *restrict validity,
                                  const uint16_t *restrict sel_in, uint32_t n, enum sp_cmp op,
                                  int64_t k, uint16_t *restrict sel_out);
uint32_t sp_filter_eq_str_scalar(const struct spate_string *restrict v,
                                 const uint64_t *restrict validity,
                                 const uint16_t *restrict sel_in, uint32_t n, const char *s,
                                 uint32_t slen, bool prefix, uint16_t *restrict sel_out);

#ifdef SPATE_HAVE_AVX2
uint32_t sp_filter_cmp_i64_avx2(const int64_t *restrict v, const uint64_t *restrict validity,
                                const uint16_t *restrict sel_in, uint32_t n, enum sp_cmp op,
                                int64_t k, uint16_t *restrict sel_out);
#endif

#ifdef SPATE_HAVE_AVX512
uint32_t sp_filter_cmp_i64_avx512(const int64_t *restrict v, const uint64_t *restrict validity,
                                  const uint16_t *restrict sel_in, uint32_t n, enum sp_cmp op,
                                  int64_t k, uint16_t *restrict sel_out);
#endif

#endif /* SP_KERNELS_FILTER_H */
