/*
 * kernels/window/pane_avx512.c - AVX-512 pane combine: 8 rows at a time,
 * word indexes idx * stride + offset built with vpmuludq, the words gathered,
 * combined and scattered back; the tail uses the same code under a mask, so
 * no word outside the indexed ones is touched. The scatter relies on the
 * indexes being distinct (kernels/window/pane.h).
 */
#include <immintrin.h>

#include "kernels/window/pane.h"

/* Word indexes of rows i..i+7 (lanes outside lm are zero and never used). */
SP_KINLINE __m512i word_index(const uint32_t *idx, uint32_t i, __mmask8 lm, __m512i stride,
                              __m512i offset) {
    __m512i x = _mm512_cvtepu32_epi64(_mm256_maskz_loadu_epi32(lm, idx + i));
    return _mm512_add_epi64(_mm512_mul_epu32(x, stride), offset);
}

SP_KINLINE void combine_i64(uint64_t *base, uint32_t stride_words, uint32_t offset_words,
                            const uint32_t *restrict idx, const int64_t *restrict vals, uint32_t n,
                            enum sp_pane_op op) {
    const __m512i stride = _mm512_set1_epi64(stride_words);
    const __m512i offset = _mm512_set1_epi64(offset_words);
    for (uint32_t i = 0; i < n; i += 8) {
        __mmask8 lm = (__mmask8)_bzhi_u32(0xff, SP_KMIN(n - i, 8u));
        __m512i wi = word_index(idx, i, lm, stride, offset);
        __m512i acc = _mm512_mask_i64gather_epi64(_mm512_setzero_si512(), lm, wi, base, 8);
        __m512i v = _mm512_maskz_loadu_epi64(lm, vals + i);
        switch (op) {
        case SP_PANE_ADD:
            acc = _mm512_add_epi64(acc, v);
            break;
        case SP_PANE_SUB:
            acc = _mm512_sub_epi64(acc, v);
            break;
        case SP_PANE_MIN:
            acc = _mm512_min_epi64(acc, v);
            break;
        case SP_PANE_MAX:
            acc = _mm512_max_epi64(acc, v);
            break;
        }
        _mm512_mask_i64scatter_epi64(base, lm, wi, acc, 8);
    }
}

SP_KINLINE void combine_f64(uint64_t *base, uint32_t stride_words, uint32_t offset_words,
                            const uint32_t *restrict idx, const double *restrict vals, uint32_t n,
                            enum sp_pane_op op) {
    const __m512i stride = _mm512_set1_epi64(stride_words);
    const __m512i offset = _mm512_set1_epi64(offset_words);
    for (uint32_t i = 0; i < n; i += 8) {
        __mmask8 lm = (__mmask8)_bzhi_u32(0xff, SP_KMIN(n - i, 8u));
        __m512i wi = word_index(idx, i, lm, stride, offset);
        __m512d acc = _mm512_mask_i64gather_pd(_mm512_setzero_pd(), lm, wi, base, 8);
        __m512d v = _mm512_maskz_loadu_pd(lm, vals + i);
        switch (op) {
        case SP_PANE_ADD:
            acc = _mm512_add_pd(acc, v);
            break;
        case SP_PANE_SUB:
            acc = _mm512_sub_pd(acc, v);
            break;
        case SP_PANE_MIN: /* v < acc ? v : acc, as vminpd with v first */
            acc = _mm512_min_pd(v, acc);
            break;
        case SP_PANE_MAX:
            acc = _mm512_max_pd(v, acc);
            break;
        }
        _mm512_mask_i64scatter_pd(base, lm, wi, acc, 8);
    }
}

void sp_pane_combine_i64_avx512(uint64_t *base, uint32_t stride_words, uint32_t offset_words,
                                const uint32_t *restrict idx, const int64_t *restrict vals,
                                uint32_t n, enum sp_pane_op op) {
    switch (op) {
    case SP_PANE_ADD:
        combine_i64(base, stride_words, offset_words, idx, vals, n, SP_PANE_ADD);
        break;
    case SP_PANE_SUB:
        combine_i64(base, stride_words, offset_words, idx, vals, n, SP_PANE_SUB);
        break;
    case SP_PANE_MIN:
        combine_i64(base, stride_words, offset_words, idx, vals, n, SP_PANE_MIN);
        break;
    case SP_PANE_MAX:
        combine_i64(base, stride_words, offset_words, idx, vals, n, SP_PANE_MAX);
        break;
    }
}

void sp_pane_combine_f64_avx512(uint64_t *base, uint32_t stride_words, uint32_t offset_words,
                                const uint32_t *restrict idx, const double *restrict vals,
                                uint32_t n, enum sp_pane_op op) {
    switch (op) {
    case SP_PANE_ADD:
        combine_f64(base, stride_words, offset_words, idx, vals, n, SP_PANE_ADD);
        break;
    case SP_PANE_SUB:
        combine_f64(base, stride_words, offset_words, idx, vals, n, SP_PANE_SUB);
        break;
    case SP_PANE_MIN:
        combine_f64(base, stride_words, offset_words, idx, vals, n, SP_PANE_MIN);
        break;
    case SP_PANE_MAX:
        combine_f64(base, stride_words, offset_words, idx, vals, n, SP_PANE_MAX);
        break;
    }
}
