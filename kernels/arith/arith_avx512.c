/*
 * kernels/arith/arith_avx512.c - AVX-512 arithmetic and casts.
 *
 * add, sub and mul (vpmullq, AVX512DQ) run 8 lanes per instruction under
 * the row's validity bits as a zeroing mask, so null rows come out 0 with
 * no extra blend; loads and stores are masked to the rows below n. x86 has
 * no SIMD integer division, so i64 div and mod, and f64 mod (fmod), use the
 * scalar kernels. Casts use vcvtqq2pd and vcvttpd2qq (AVX512DQ); the latter
 * returns INT64_MIN for NaN and out-of-range lanes, which are fixed up to
 * Spark's 0 and INT64_MAX with two compares.
 */
#include <immintrin.h>

#include "kernels/arith/arith.h"

SP_KINLINE __m512i op8(__mmask8 m, __m512i x, __m512i y, enum sp_arith op, bool f64) {
    if (f64) {
        __m512d xd = _mm512_castsi512_pd(x), yd = _mm512_castsi512_pd(y), r;
        switch (op) {
        case SP_ARITH_ADD:
            r = _mm512_maskz_add_pd(m, xd, yd);
            break;
        case SP_ARITH_SUB:
            r = _mm512_maskz_sub_pd(m, xd, yd);
            break;
        case SP_ARITH_MUL:
            r = _mm512_maskz_mul_pd(m, xd, yd);
            break;
        default:
            r = _mm512_maskz_div_pd(m, xd, yd);
            break;
        }
        return _mm512_castpd_si512(r);
    }
    switch (op) {
    case SP_ARITH_ADD:
        return _mm512_maskz_add_epi64(m, x, y);
    case SP_ARITH_SUB:
        return _mm512_maskz_sub_epi64(m, x, y);
    default:
        return _mm512_maskz_mullo_epi64(m, x, y);
    }
}

SP_KINLINE uint32_t body(const int64_t *a, const uint64_t *va, const int64_t *b, const uint64_t *vb,
                         __m512i k, uint32_t n, enum sp_arith op, int64_t *out,
                         uint64_t *restrict vout, bool f64, bool col) {
    uint32_t nulls = 0;

    for (uint32_t base = 0; base < n; base += 64) {
        uint32_t rows = SP_KMIN(n - base, 64u);
        uint64_t live = _bzhi_u64(~(uint64_t)0, rows);
        uint64_t word = sp_valid_word2(va, vb, base >> 6) & live;

        for (uint32_t j = 0; j < rows; j += 8) {
            __mmask8 lm = (__mmask8)(live >> j);
            __m512i x = _mm512_maskz_loadu_epi64(lm, a + base + j);
            __m512i y = col ? _mm512_maskz_loadu_epi64(lm, b + base + j) : k;
            _mm512_mask_storeu_epi64(out + base + j, lm, op8((__mmask8)(word >> j), x, y, op, f64));
        }
        vout[base >> 6] = word;
        nulls += rows - (uint32_t)_mm_popcnt_u64(word);
    }
    return nulls;
}

SP_KINLINE uint32_t dispatch(const int64_t *a, const uint64_t *va, const int64_t *b,
                             const uint64_t *vb, __m512i k, uint32_t n, enum sp_arith op,
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

uint32_t sp_arith_i64_col_avx512(const int64_t *restrict a, const uint64_t *restrict va,
                                 const int64_t *restrict b, const uint64_t *restrict vb, uint32_t n,
                                 enum sp_arith op, int64_t *restrict out, uint64_t *restrict vout) {
    if (op == SP_ARITH_DIV || op == SP_ARITH_MOD)
        return sp_arith_i64_col_scalar(a, va, b, vb, n, op, out, vout);
    return dispatch(a, va, b, vb, _mm512_setzero_si512(), n, op, out, vout, false, true);
}

uint32_t sp_arith_i64_lit_avx512(const int64_t *restrict a, const uint64_t *restrict va, int64_t k,
                                 uint32_t n, enum sp_arith op, int64_t *restrict out,
                                 uint64_t *restrict vout) {
    if (op == SP_ARITH_DIV || op == SP_ARITH_MOD)
        return sp_arith_i64_lit_scalar(a, va, k, n, op, out, vout);
    return dispatch(a, va, NULL, NULL, _mm512_set1_epi64(k), n, op, out, vout, false, false);
}

uint32_t sp_arith_f64_col_avx512(const double *restrict a, const uint64_t *restrict va,
                                 const double *restrict b, const uint64_t *restrict vb, uint32_t n,
                                 enum sp_arith op, double *restrict out, uint64_t *restrict vout) {
    if (op == SP_ARITH_MOD)
        return sp_arith_f64_col_scalar(a, va, b, vb, n, op, out, vout);
    return dispatch((const int64_t *)a, va, (const int64_t *)b, vb, _mm512_setzero_si512(), n, op,
                    (int64_t *)out, vout, true, true);
}

uint32_t sp_arith_f64_lit_avx512(const double *restrict a, const uint64_t *restrict va, double k,
                                 uint32_t n, enum sp_arith op, double *restrict out,
                                 uint64_t *restrict vout) {
    if (op == SP_ARITH_MOD)
        return sp_arith_f64_lit_scalar(a, va, k, n, op, out, vout);
    return dispatch((const int64_t *)a, va, NULL, NULL, _mm512_castpd_si512(_mm512_set1_pd(k)), n,
                    op, (int64_t *)out, vout, true, false);
}

/* ---- Casts ---- */

void sp_cast_i64_f64_avx512(const int64_t *restrict v, uint32_t n, double *restrict out) {
    for (uint32_t i = 0; i < n; i += 8) {
        __mmask8 lm = (__mmask8)_bzhi_u32(0xff, SP_KMIN(n - i, 8u));
        __m512i x = _mm512_maskz_loadu_epi64(lm, v + i);
        _mm512_mask_storeu_pd(out + i, lm, _mm512_cvtepi64_pd(x));
    }
}

void sp_cast_f64_i64_avx512(const double *restrict v, uint32_t n, int64_t *restrict out) {
    const __m512d limit = _mm512_set1_pd(0x1p63);
    const __m512i max = _mm512_set1_epi64(INT64_MAX);

    for (uint32_t i = 0; i < n; i += 8) {
        __mmask8 lm = (__mmask8)_bzhi_u32(0xff, SP_KMIN(n - i, 8u));
        __m512d x = _mm512_maskz_loadu_pd(lm, v + i);
        __m512i r = _mm512_cvttpd_epi64(x); /* INT64_MIN when NaN or out of range */
        r = _mm512_mask_mov_epi64(r, _mm512_cmp_pd_mask(x, limit, _CMP_GE_OQ), max);
        r = _mm512_maskz_mov_epi64(_mm512_cmp_pd_mask(x, x, _CMP_ORD_Q), r);
        _mm512_mask_storeu_epi64(out + i, lm, r);
    }
}
