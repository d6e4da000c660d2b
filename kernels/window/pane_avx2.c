/*
 * kernels/window/pane_avx2.c - AVX2 pane combine: 4 rows at a time, the
 * words gathered with vpgatherqq, combined in registers, and stored back one
 * lane at a time (AVX2 has no scatter); the last n % 4 rows go through the
 * scalar loop, so no word outside the indexed ones is read. i64 MIN/MAX use
 * vpcmpgtq and a blend (no 64-bit integer min/max before AVX-512).
 */
#include <immintrin.h>

#include "kernels/window/pane.h"

SP_KINLINE __m256i word_index(const uint32_t *idx, uint32_t i, __m256i stride, __m256i offset) {
    __m256i x = _mm256_cvtepu32_epi64(_mm_loadu_si128((const __m128i *)(const void *)(idx + i)));
    return _mm256_add_epi64(_mm256_mul_epu32(x, stride), offset);
}

/* Store the 4 lanes of acc at the word indexes wi. */
SP_KINLINE void scatter4(uint64_t *base, __m256i wi, __m256i acc) {
    uint64_t w[4], a[4];
    _mm256_storeu_si256((__m256i *)(void *)w, wi);
    _mm256_storeu_si256((__m256i *)(void *)a, acc);
    base[w[0]] = a[0];
    base[w[1]] = a[1];
    base[w[2]] = a[2];
    base[w[3]] = a[3];
}

SP_KINLINE void combine_i64(uint64_t *base, uint32_t stride_words, uint32_t offset_words,
                            const uint32_t *restrict idx, const int64_t *restrict vals, uint32_t n,
                            enum sp_pane_op op) {
    const __m256i stride = _mm256_set1_epi64x(stride_words);
    const __m256i offset = _mm256_set1_epi64x(offset_words);
    uint32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m256i wi = word_index(idx, i, stride, offset);
        __m256i acc = _mm256_i64gather_epi64((const long long *)(const void *)base, wi, 8);
        __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(vals + i));
        switch (op) {
        case SP_PANE_ADD:
            acc = _mm256_add_epi64(acc, v);
            break;
        case SP_PANE_SUB:
            acc = _mm256_sub_epi64(acc, v);
            break;
        case SP_PANE_MIN: /* v < acc ? v : acc */
            acc = _mm256_blendv_epi8(acc, v, _mm256_cmpgt_epi64(acc, v));
            break;
        case SP_PANE_MAX: /* v > acc ? v : acc */
            acc = _mm256_blendv_epi8(acc, v, _mm256_cmpgt_epi64(v, acc));
            break;
        }
        scatter4(base, wi, acc);
    }
    sp_pane_combine_i64_scalar(base, stride_words, offset_words, idx + i, vals + i, n - i, op);
}

SP_KINLINE void combine_f64(uint64_t *base, uint32_t stride_words, uint32_t offset_words,
                            const uint32_t *restrict idx, const double *restrict vals, uint32_t n,
                            enum sp_pane_op op) {
    const __m256i stride = _mm256_set1_epi64x(stride_words);
    const __m256i offset = _mm256_set1_epi64x(offset_words);
    uint32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m256i wi = word_index(idx, i, stride, offset);
        __m256d acc = _mm256_i64gather_pd((const double *)(const void *)base, wi, 8);
        __m256d v = _mm256_loadu_pd(vals + i);
        switch (op) {
        case SP_PANE_ADD:
            acc = _mm256_add_pd(acc, v);
            break;
        case SP_PANE_SUB:
            acc = _mm256_sub_pd(acc, v);
            break;
        case SP_PANE_MIN: /* v < acc ? v : acc, as vminpd with v first */
            acc = _mm256_min_pd(v, acc);
            break;
        case SP_PANE_MAX:
            acc = _mm256_max_pd(v, acc);
            break;
        }
        scatter4(base, wi, _mm256_castpd_si256(acc));
    }
    sp_pane_combine_f64_scalar(base, stride_words, offset_words, idx + i, vals + i, n - i, op);
}

void sp_pane_combine_i64_avx2(uint64_t *base, uint32_t stride_words, uint32_t offset_words,
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

void sp_pane_combine_f64_avx2(uint64_t *base, uint32_t stride_words, uint32_t offset_words,
                              const uint32_t *restrict idx, const double *restrict vals, uint32_t n,
                              enum sp_pane_op op) {
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
