/*
 * kernels/binary/binary_avx2.c - AVX2 decode kernels: 4 records per gather.
 *
 * x86 is little-endian, so a field is its 8 bytes as loaded. The pointer
 * form loads 4 record pointers, adds the offset and gathers with them as
 * absolute addresses (base 0, scale 1); the strided form gathers at
 * i * stride from base, or loads 4 values at once when stride is 8 (a
 * column of packed values). The 0-3 rows left at the end go through the
 * scalar code, so no lane ever reads outside its field.
 */
#include <immintrin.h>

#include "kernels/binary/binary.h"

void sp_binary_decode_fixed64_avx2(const char *const *restrict rec, uint32_t offset, uint32_t n,
                                   uint64_t *restrict out) {
    const __m256i off = _mm256_set1_epi64x((long long)offset);
    uint32_t i = 0;
    for (; n - i >= 4; i += 4) {
        __m256i addr = _mm256_add_epi64(_mm256_loadu_si256((const __m256i *)(rec + i)), off);
        __m256i v = _mm256_i64gather_epi64((const long long *)0, addr, 1);
        _mm256_storeu_si256((__m256i *)(out + i), v);
    }
    sp_binary_decode_fixed64_scalar(rec + i, offset, n - i, out + i);
}

void sp_binary_decode_fixed64_strided_avx2(const char *restrict base, uint32_t stride, uint32_t n,
                                           uint64_t *restrict out) {
    uint32_t i = 0;
    if (stride == 8) {
        for (; n - i >= 4; i += 4)
            _mm256_storeu_si256((__m256i *)(out + i),
                                _mm256_loadu_si256((const __m256i *)(base + (size_t)i * 8)));
    } else {
        const long long s = (long long)stride;
        __m256i idx = _mm256_setr_epi64x(0, s, 2 * s, 3 * s);
        const __m256i step = _mm256_set1_epi64x(4 * s);
        for (; n - i >= 4; i += 4) {
            __m256i v = _mm256_i64gather_epi64((const long long *)(const void *)base, idx, 1);
            _mm256_storeu_si256((__m256i *)(out + i), v);
            idx = _mm256_add_epi64(idx, step);
        }
    }
    sp_binary_decode_fixed64_strided_scalar(base + (size_t)i * stride, stride, n - i, out + i);
}
