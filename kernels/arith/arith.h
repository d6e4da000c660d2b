/*
 * kernels/arith/arith.h - arithmetic on i64 and f64 columns, and casts
 * between them.
 *
 * Exact semantics (arith_scalar.c is the reference):
 *   - rows 0..n, no selection: out[i] = a[i] OP b[i] (col) or a[i] OP k
 *     (lit). vout gets (n + 63) / 64 words, the AND of the input bitmaps
 *     (NULL: all valid) with bits at or past n zero; out[i] = 0 for a null
 *     output row, whatever the inputs hold there. Returns the null count;
 *   - i64 follows Spark's non-ANSI Long arithmetic: add, sub and mul wrap
 *     (two's complement, computed unsigned so there is no undefined
 *     behaviour); div truncates toward zero and mod takes the dividend's
 *     sign (Java's / and %); a zero divisor makes the row null;
 *     INT64_MIN / -1 wraps to INT64_MIN and INT64_MIN % -1 is 0;
 *   - f64 is IEEE 754: x / 0.0 is ±inf or NaN (Spark SQL's Divide would
 *     give null; Scala's Double / does not), MOD is C's fmod;
 *   - cast_i64_f64 rounds to nearest even (the CPU's mode); cast_f64_i64 is
 *     Spark's non-ANSI cast of a double to a long, which is Java's d2l
 *     (JLS 5.1.3): truncation toward zero, NaN -> 0, values >= 2^63 ->
 *     INT64_MAX, values < -2^63 (and -inf) -> INT64_MIN.
 */
#ifndef SP_KERNELS_ARITH_H
#define SP_KERNELS_ARITH_H

#include <math.h>

#include "kernels/common.h"

/* a OP b on i64; sets *zero for a zero divisor (then returns 0). */
SP_KINLINE int64_t sp_arith_i64(int64_t x, int64_t y, enum sp_arith op, bool *zero) {
    switch (op) {
    case SP_ARITH_ADD:
        return (int64_t)((uint64_t)x + (uint64_t)y);
    case SP_ARITH_SUB:
        return (int64_t)((uint64_t)x - (uint64_t)y);
    case SP_ARITH_MUL:
        return (int64_t)((uint64_t)x * (uint64_t)y);
    case SP_ARITH_DIV:
        *zero = y == 0;
        if (y == 0)
            return 0;
        return y == -1 ? (int64_t)(0 - (uint64_t)x) : x / y;
    case SP_ARITH_MOD:
        *zero = y == 0;
        return y == 0 || y == -1 ? 0 : x % y;
    }
    return 0;
}

/* a OP b on f64 (IEEE). */
SP_KINLINE double sp_arith_f64(double x, double y, enum sp_arith op) {
    switch (op) {
    case SP_ARITH_ADD:
        return x + y;
    case SP_ARITH_SUB:
        return x - y;
    case SP_ARITH_MUL:
        return x * y;
    case SP_ARITH_DIV:
        return x / y;
    case SP_ARITH_MOD:
        return fmod(x, y);
    }
    return 0.0;
}

/* Spark's non-ANSI double -> long (Java's d2l). */
SP_KINLINE int64_t sp_cast_f64_i64(double x) {
    if (x != x)
        return 0;
    if (x >= 0x1p63)
        return INT64_MAX;
    if (x < -0x1p63)
        return INT64_MIN;
    return (int64_t)x;
}

/* ---- Entry points (tables in kernels/dispatch.c) ---- */

#define SP_ARITH_DECLARE(isa)                                                                      \
    uint32_t sp_arith_i64_col_##isa(const int64_t *restrict a, const uint64_t *restrict va,        \
                                    const int64_t *restrict b, const uint64_t *restrict vb,        \
                                    uint32_t n, enum sp_arith op, int64_t *restrict out,           \
                                    uint64_t *restrict vout);                                      \
    uint32_t sp_arith_i64_lit_##isa(const int64_t *restrict a, const uint64_t *restrict va,        \
                                    int64_t k, uint32_t n, enum sp_arith op,                       \
                                    int64_t *restrict out, uint64_t *restrict vout);               \
    uint32_t sp_arith_f64_col_##isa(const double *restrict a, const uint64_t *restrict va,         \
                                    const double *restrict b, const uint64_t *restrict vb,         \
                                    uint32_t n, enum sp_arith op, double *restrict out,            \
                                    uint64_t *restrict vout);                                      \
    uint32_t sp_arith_f64_lit_##isa(const double *restrict a, const uint64_t *restrict va,         \
                                    double k, uint32_t n, enum sp_arith op, double *restrict out,  \
                                    uint64_t *restrict vout);

SP_ARITH_DECLARE(scalar)
#ifdef SPATE_HAVE_AVX2
SP_ARITH_DECLARE(avx2)
#endif
#ifdef SPATE_HAVE_AVX512
SP_ARITH_DECLARE(avx512)
#endif

void sp_cast_i64_f64_scalar(const int64_t *restrict v, uint32_t n, double *restrict out);
void sp_cast_f64_i64_scalar(const double *restrict v, uint32_t n, int64_t *restrict out);
#ifdef SPATE_HAVE_AVX512
void sp_cast_i64_f64_avx512(const int64_t *restrict v, uint32_t n, double *restrict out);
void sp_cast_f64_i64_avx512(const double *restrict v, uint32_t n, int64_t *restrict out);
#endif

#endif /* SP_KERNELS_ARITH_H */
