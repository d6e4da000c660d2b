/*
 * kernels/arith/arith_avx2.c - AVX2 arithmetic.
 *
 * add, sub and mul run 4 lanes per instruction; each lane's validity bit
 * becomes a lane mask that zeroes null rows (vpand), and the last partial
 * group uses vpmaskmovq for loads and stores, so no row at or past n is
 * touched. AVX2 has no 64-bit multiply: mul is built from three vpmuludq
 * (low x low, and the two cross products shifted up 32), which is the low
 * 64 bits of the product, i.e. the wrapping result. x86 has no SIMD integer
 * division, so i64 div and mod, and f64 mod (fmod), use the scalar kernels.
 * The casts have no AVX2 variant (no 64-bit integer <-> double conversion
 * before AVX512DQ): the AVX2 table points at the scalar ones.
 */
#include <immintrin.h>

#include "kernels/arith/arith.h"

/* Lane masks for vpmaskmovq / vpand from the low 4 bits of m. */
SP_KINLINE __m256i lane_mask(uint32_t m) {
    const __m256i bit = _mm256_setr_epi64x(1, 2, 4, 8);
    __m256i b = _mm256_and_si256(_mm256_set1_epi64x((long long)m), bit);
    return _mm256_cmpeq_epi64(b, bit);
}

/* The low 64 bits of x * y per lane. */
SP_KINLINE __m256i mullo64(__m256i x, __m256i y) {
    __m256i lo = _mm256_mul_epu32(x, y);
    __m256i c1 = _mm256_mul_epu32(x, _mm256_srli_epi64(y, 32));
    __m256i c2 = _mm256_mul_epu32(_mm256_srli_epi64(x, 32), y);
    return _mm256_add_epi64(lo, _mm256_slli_epi64(_mm256_add_epi64(c1, c2), 32));
}

SP_KINLINE __m256i op4(__m256i x, __m256i y, enum sp_arith op, bool f64) {
    if (f64) {
        __m256d xd = _mm256_castsi256_pd(x), yd = _mm256_castsi256_pd(y), r;
        switch (op) {
        case SP_ARITH_ADD:
            r = _mm256_add_pd(xd, yd);
            break;
        case SP_ARITH_SUB:
            r = _mm256_sub_pd(xd, yd);
            break;
        case SP_ARITH_MUL:
            r = _mm256_mul_pd(xd, yd);
            break;
        default:
            r = _mm256_div_pd(xd, yd);
            break;
        }
        return _mm256_castpd_si256(r);
    }
    switch (op) {
    case SP_ARITH_ADD:
        return _mm256_add_epi64(x, y);
    case SP_ARITH_SUB:
        return _mm256_sub_epi64(x, y);
    default:
        return mullo64(x, y);
    }
}

SP_KINLINE uint32_t body(const int64_t *a, const uint64_t *va, const int64_t *b, const uint64_t *vb,
                         __m256i k, uint32_t n, enum sp_arith op, int64_t *out,
                         uint64_t *restrict vout, bool f64, bool col) {
    uint32_t nulls = 0;

    for (uint32_t base = 0; base < n; base += 64) {
        uint32_t rows = SP_KMIN(n - base, 64u);
        uint64_t word = sp_valid_word2(va, vb, base >> 6) & _bzhi_u64(~(uint64_t)0, rows);

        for (uint32_t j = 0; j < rows; j += 4) {
            const int64_t *pa = a + base + j;
            int64_t *po = out + base + j;
            __m256i keep = lane_mask((uint32_t)(word >> j));
            if (j + 4 <= rows) {
                __m256i x = _mm256_loadu_si256((const __m256i *)pa);
                __m256i y = col ? _mm256_loadu_si256((const __m256i *)(b + base + j)) : k;
                _mm256_storeu_si256((__m256i *)po, _mm256_and_si256(op4(x, y, op, f64), keep));
            } else {
                __m256i in = lane_mask(_bzhi_u32(0xf, rows - j));
                __m256i x = _mm256_maskload_epi64((const long long *)pa, in);
                __m256i y = col ? _mm256_maskload_epi64((const long long *)(b + base + j), in) : k;
                _mm256_maskstore_epi64((long long *)po, in,
                                       _mm256_and_si256(op4(x, y, op, f64), keep));
            }
        }
        vout[base >> 6] = word;
        nulls += rows - (uint32_t)_mm_popcnt_u64(word);
    }
    return nulls;
}

SP_KINLINE uint32_t dispatch(const int64_t *a, const uint64_t *va, const int64_t *b,
                             const uint64_t *vb, __m256i k, uint32_t n, enum sp_arith op,
                             int64_t *out, uint64_t *restrict vout, bool f64, bool col) {
    switch (op) {
    case SP_ARITH_ADD:
        return body(a, va, b, vb, k, n, SP_ARITH_ADD, out, vout, f64, col);
    case SP_ARITH_SUB:
        return body(a, va, b, vb, k, n, SP_ARITH_SUB, out, vout, f64, col);
    case SP_ARITH_MUL:
        return body(a, va, b, vb, k, n, SP_ARITH_MUL, out, vout, f64, col);
    default: /* f64 div; the callers send i64 div/mod and f64 mod to scalar */
        return body(a, va, b, vb, k, n, SP_ARITH_DIV, out, vout, f64, col);
    }
}

uint32_t sp_arith_i64_col_avx2(const int64_t *restrict a, const uint64_t *restrict va,
                               const int64_t *restrict b, const uint64_t *restrict vb, uint32_t n,
                               enum sp_arith op, int64_t *restrict out, uint64_t *restrict vout) {
    if (op == SP_ARITH_DIV || op == SP_ARITH_MOD)
        return sp_arith_i64_col_scalar(a, va, b, vb, n, op, out, vout);
    return dispatch(a, va, b, vb, _mm256_setzero_si256(), n, op, out, vout, false, true);
}

uint32_t sp_arith_i64_lit_avx2(const int64_t *restrict a, const uint64_t *restrict va, int64_t k,
                               uint32_t n, enum sp_arith op, int64_t *restrict out,
                               uint64_t *restrict vout) {
    if (op == SP_ARITH_DIV || op == SP_ARITH_MOD)
        return sp_arith_i64_lit_scalar(a, va, k, n, op, out, vout);
    return dispatch(a, va, NULL, NULL, _mm256_set1_epi64x(k), n, op, out, vout, false, false);
}

uint32_t sp_arith_f64_col_avx2(const double *restrict a, const uint64_t *restrict va,
                               const double *restrict b, const uint64_t *restrict vb, uint32_t n,
                               enum sp_arith op, double *restrict out, uint64_t *restrict vout) {
    if (op == SP_ARITH_MOD)
        return sp_arith_f64_col_scalar(a, va, b, vb, n, op, out, vout);
    return dispatch((const int64_t *)a, va, (const int64_t *)b, vb, _mm256_setzero_si256(), n, op,
                    (int64_t *)out, vout, true, true);
}

uint32_t sp_arith_f64_lit_avx2(const double *restrict a, const uint64_t *restrict va, double k,
                               uint32_t n, enum sp_arith op, double *restrict out,
                               uint64_t *restrict vout) {
    if (op == SP_ARITH_MOD)
        return sp_arith_f64_lit_scalar(a, va, k, n, op, out, vout);
    return dispatch((const int64_t *)a, va, NULL, NULL, _mm256_castpd_si256(_mm256_set1_pd(k)), n,
                    op, (int64_t *)out, vout, true, false);
}
