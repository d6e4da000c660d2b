/*
 * kernels/cmp/cmp_avx512.c - AVX-512 filter_cmp_f64 and column-against-column
 * filters: compare 8 lanes into a mask, compress the passing row numbers.
 *
 * The layout of kernels/filter/filter_avx512.c: without a selection, 64 rows
 * (one word of each validity bitmap, ANDed) are compared under the validity
 * mask with masked loads, which never touch rows at or past n; with a
 * selection, 16 rows are gathered at a time, values and validity words
 * alike. f64 lanes use the ordered predicates (_CMP_*_OQ) and NE the
 * unordered one (_CMP_NEQ_UQ), which is IEEE's rule for NaN; -0.0 == +0.0
 * holds in vcmppd. Passing rows are compressed 16 at a time (vpcompressd),
 * narrowed to uint16 and written with a masked store: nothing is written
 * past the count.
 */
#include <immintrin.h>

#include "kernels/cmp/cmp.h"

/* Lanes of x OP y under live; f64 picks the floating compare. */
SP_KINLINE __mmask8 cmp8(__mmask8 live, __m512i x, __m512i y, enum sp_cmp op, bool f64) {
    if (f64) {
        __m512d xd = _mm512_castsi512_pd(x);
        __m512d yd = _mm512_castsi512_pd(y);
        switch (op) {
        case SP_CMP_EQ:
            return _mm512_mask_cmp_pd_mask(live, xd, yd, _CMP_EQ_OQ);
        case SP_CMP_NE:
            return _mm512_mask_cmp_pd_mask(live, xd, yd, _CMP_NEQ_UQ);
        case SP_CMP_LT:
            return _mm512_mask_cmp_pd_mask(live, xd, yd, _CMP_LT_OQ);
        case SP_CMP_LE:
            return _mm512_mask_cmp_pd_mask(live, xd, yd, _CMP_LE_OQ);
        case SP_CMP_GT:
            return _mm512_mask_cmp_pd_mask(live, xd, yd, _CMP_GT_OQ);
        case SP_CMP_GE:
            return _mm512_mask_cmp_pd_mask(live, xd, yd, _CMP_GE_OQ);
        }
        return 0;
    }
    switch (op) {
    case SP_CMP_EQ:
        return _mm512_mask_cmpeq_epi64_mask(live, x, y);
    case SP_CMP_NE:
        return _mm512_mask_cmpneq_epi64_mask(live, x, y);
    case SP_CMP_LT:
        return _mm512_mask_cmplt_epi64_mask(live, x, y);
    case SP_CMP_LE:
        return _mm512_mask_cmple_epi64_mask(live, x, y);
    case SP_CMP_GT:
        return _mm512_mask_cmpgt_epi64_mask(live, x, y);
    case SP_CMP_GE:
        return _mm512_mask_cmpge_epi64_mask(live, x, y);
    }
    return 0;
}

/* Append the 16 rows (32-bit lanes of rows) selected by m; returns the count. */
SP_KINLINE uint32_t emit16(uint16_t *restrict out, __mmask16 m, __m512i rows) {
    uint32_t cnt = (uint32_t)_mm_popcnt_u32(m);
    __m256i packed = _mm512_cvtepi32_epi16(_mm512_maskz_compress_epi32(m, rows));

    _mm256_mask_storeu_epi16(out, (__mmask16)_bzhi_u32(0xffff, cnt), packed);
    return cnt;
}

SP_KINLINE uint32_t dense(const int64_t *a, const uint64_t *va, const int64_t *b,
                          const uint64_t *vb, __m512i k, uint32_t n, enum sp_cmp op,
                          uint16_t *restrict sel_out, bool f64, bool col) {
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    uint32_t count = 0;

    for (uint32_t base = 0; base < n; base += 64) {
        uint64_t live = _bzhi_u64(sp_valid_word2(va, vb, base >> 6), SP_KMIN(n - base, 64u));
        uint64_t pass = 0;

        if (live == 0)
            continue;
        for (uint32_t j = 0; j < 64; j += 8) {
            __mmask8 lm = (__mmask8)(live >> j);
            __m512i x = _mm512_maskz_loadu_epi64(lm, a + base + j);
            __m512i y = col ? _mm512_maskz_loadu_epi64(lm, b + base + j) : k;
            pass |= (uint64_t)cmp8(lm, x, y, op, f64) << j;
        }
        for (uint32_t j = 0; j < 64 && pass != 0; j += 16, pass >>= 16) {
            __m512i rows = _mm512_add_epi32(iota, _mm512_set1_epi32((int)(base + j)));
            count += emit16(sel_out + count, (__mmask16)pass, rows);
        }
    }
    return count;
}

/* Lanes of m whose row (8 rows in idx) is valid in validity. */
SP_KINLINE __mmask8 valid8(__mmask8 m, __m256i idx, const uint64_t *validity) {
    const __m512i one = _mm512_set1_epi64(1);
    __m512i w =
        _mm512_mask_i32gather_epi64(one, m, _mm256_srli_epi32(idx, 6), (const void *)validity, 8);

    w = _mm512_srlv_epi64(w, _mm512_cvtepu32_epi64(_mm256_and_si256(idx, _mm256_set1_epi32(63))));
    return _mm512_mask_test_epi64_mask(m, w, one);
}

/* Compare the 8 selected rows idx under live. */
SP_KINLINE __mmask8 selected8(const int64_t *a, const uint64_t *va, const int64_t *b,
                              const uint64_t *vb, __m512i k, __m256i idx, __mmask8 live,
                              enum sp_cmp op, bool f64, bool col) {
    __m512i x = _mm512_mask_i32gather_epi64(k, live, idx, (const void *)a, 8);
    __m512i y = col ? _mm512_mask_i32gather_epi64(k, live, idx, (const void *)b, 8) : k;
    __mmask8 m = cmp8(live, x, y, op, f64);

    if (va != NULL)
        m = valid8(m, idx, va);
    if (vb != NULL)
        m = valid8(m, idx, vb);
    return m;
}

SP_KINLINE uint32_t selected(const int64_t *a, const uint64_t *va, const int64_t *b,
                             const uint64_t *vb, __m512i k, const uint16_t *restrict sel_in,
                             uint32_t n, enum sp_cmp op, uint16_t *restrict sel_out, bool f64,
                             bool col) {
    uint32_t count = 0;

    for (uint32_t i = 0; i < n; i += 16) {
        __mmask16 live = (__mmask16)_bzhi_u32(0xffff, SP_KMIN(n - i, 16u));
        __m512i rows = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(live, sel_in + i));
        __mmask8 m_lo =
            selected8(a, va, b, vb, k, _mm512_castsi512_si256(rows), (__mmask8)live, op, f64, col);
        __mmask8 m_hi = selected8(a, va, b, vb, k, _mm512_extracti64x4_epi64(rows, 1),
                                  (__mmask8)(live >> 8), op, f64, col);
        count += emit16(sel_out + count, (__mmask16)(m_lo | (uint32_t)m_hi << 8), rows);
    }
    return count;
}

SP_KINLINE uint32_t run_op(const int64_t *a, const uint64_t *va, const int64_t *b,
                           const uint64_t *vb, __m512i k, const uint16_t *restrict sel_in,
                           uint32_t n, enum sp_cmp op, uint16_t *restrict sel_out, bool f64,
                           bool col) {
    if (sel_in != NULL)
        return selected(a, va, b, vb, k, sel_in, n, op, sel_out, f64, col);
    return dense(a, va, b, vb, k, n, op, sel_out, f64, col);
}

SP_KINLINE uint32_t dispatch(const int64_t *a, const uint64_t *va, const int64_t *b,
                             const uint64_t *vb, __m512i k, const uint16_t *restrict sel_in,
                             uint32_t n, enum sp_cmp op, uint16_t *restrict sel_out, bool f64,
                             bool col) {
    switch (op) {
    case SP_CMP_EQ:
        return run_op(a, va, b, vb, k, sel_in, n, SP_CMP_EQ, sel_out, f64, col);
    case SP_CMP_NE:
        return run_op(a, va, b, vb, k, sel_in, n, SP_CMP_NE, sel_out, f64, col);
    case SP_CMP_LT:
        return run_op(a, va, b, vb, k, sel_in, n, SP_CMP_LT, sel_out, f64, col);
    case SP_CMP_LE:
        return run_op(a, va, b, vb, k, sel_in, n, SP_CMP_LE, sel_out, f64, col);
    case SP_CMP_GT:
        return run_op(a, va, b, vb, k, sel_in, n, SP_CMP_GT, sel_out, f64, col);
    case SP_CMP_GE:
        return run_op(a, va, b, vb, k, sel_in, n, SP_CMP_GE, sel_out, f64, col);
    }
    return 0;
}

uint32_t sp_filter_cmp_f64_avx512(const double *restrict v, const uint64_t *restrict validity,
                                  const uint16_t *restrict sel_in, uint32_t n, enum sp_cmp op,
                                  double k, uint16_t *restrict sel_out) {
    return dispatch((const int64_t *)v, validity, NULL, NULL,
                    _mm512_castpd_si512(_mm512_set1_pd(k)), sel_in, n, op, sel_out, true, false);
}

uint32_t sp_filter_cmp_i64_col_avx512(const int64_t *restrict a, const uint64_t *restrict va,
                                      const int64_t *restrict b, const uint64_t *restrict vb,
                                      const uint16_t *restrict sel_in, uint32_t n, enum sp_cmp op,
                                      uint16_t *restrict sel_out) {
    return dispatch(a, va, b, vb, _mm512_setzero_si512(), sel_in, n, op, sel_out, false, true);
}

uint32_t sp_filter_cmp_f64_col_avx512(const double *restrict a, const uint64_t *restrict va,
                                      const double *restrict b, const uint64_t *restrict vb,
                                      const uint16_t *restrict sel_in, uint32_t n, enum sp_cmp op,
                                      uint16_t *restrict sel_out) {
    return dispatch((const int64_t *)a, va, (const int64_t *)b, vb, _mm512_setzero_si512(), sel_in,
                    n, op, sel_out, true, true);
}
