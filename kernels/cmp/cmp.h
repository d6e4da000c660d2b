/*
 * kernels/cmp/cmp.h - comparison filters beyond filter_cmp_i64: a f64 column
 * against a literal, and an i64 or f64 column against another column.
 *
 * Exact semantics (cmp_scalar.c is the reference): the selection contract of
 * kernels/filter/filter.h (candidates sel_in[0..n) or 0..n, passing rows
 * written ascending to sel_out, scratch only below n). A row passes when it
 * is valid in every input bitmap (NULL: all valid) and the comparison holds.
 * f64 compares as IEEE 754 (C's operators): a NaN on either side makes every
 * operator false except NE, which is true; -0.0 == +0.0; infinities order as
 * usual. i64 compares as signed 64-bit integers.
 */
#ifndef SP_KERNELS_CMP_H
#define SP_KERNELS_CMP_H

#include "kernels/common.h"

/* x OP y for doubles, op a constant after inlining. */
SP_KINLINE bool sp_cmp_f64(double x, enum sp_cmp op, double y) {
    switch (op) {
    case SP_CMP_EQ:
        return x == y;
    case SP_CMP_NE:
        return x != y;
    case SP_CMP_LT:
        return x < y;
    case SP_CMP_LE:
        return x <= y;
    case SP_CMP_GT:
        return x > y;
    case SP_CMP_GE:
        return x >= y;
    }
    return false;
}

/* ---- Entry points (tables in kernels/dispatch.c) ---- */

#define SP_CMP_DECLARE(isa)                                                                        \
    uint32_t sp_filter_cmp_f64_##isa(const double *restrict v, const uint64_t *restrict validity,  \
                                     const uint16_t *restrict sel_in, uint32_t n, enum sp_cmp op,  \
                                     double k, uint16_t *restrict sel_out);                        \
    uint32_t sp_filter_cmp_i64_col_##isa(const int64_t *restrict a, const uint64_t *restrict va,   \
                                         const int64_t *restrict b, const uint64_t *restrict vb,   \
                                         const uint16_t *restrict sel_in, uint32_t n,              \
                                         enum sp_cmp op, uint16_t *restrict sel_out);              \
    uint32_t sp_filter_cmp_f64_col_##isa(const double *restrict a, const uint64_t *restrict va,    \
                                         const double *restrict b, const uint64_t *restrict vb,    \
                                         const uint16_t *restrict sel_in, uint32_t n,              \
                                         enum sp_cmp op, uint16_t *restrict sel_out);

SP_CMP_DECLARE(scalar)
#ifdef SPATE_HAVE_AVX2
SP_CMP_DECLARE(avx2)
#endif
#ifdef SPATE_HAVE_AVX512
SP_CMP_DECLARE(avx512)
#endif

#endif /* SP_KERNELS_CMP_H */
