/*
 * kernels/binary/binary_avx512.c - AVX-512 decode kernels: 8 records per gather.
 *
 * As binary_avx2.c with 8 lanes: record pointers plus the offset gathered
 * as absolute addresses, or i * stride from base (stride 8: plain loads).
 * The 0-7 rows left at the end go through the scalar code, so no lane ever
 * reads outside its field.
 */
#include <immintrin.h>

#include "kernels/binary/binary.h"

void sp_binary_decode_fixed64_avx512(const char *const *restrict rec, uint32_t offset, uint32_t n,
                                     uint64_t *restrict out) {
    const __m512i off = _mm512_set1_epi64((long long)offset);
    uint32_t i = 0;
    for (; n - i >= 8; i += 8) {
        __m512i addr = _mm512_add_epi64(_mm512_loadu_si512((const void *)(rec + i)), off);
        __m512i v = _mm512_i64gather_epi64(addr, (const void *)0, 1);
        _mm512_storeu_si512((void *)(out + i), v);
    }
    sp_binary_decode_fixed64_scalar(rec + i, offset, n - i, out + i);
}

void sp_binary_decode_fixed64_strided_avx512(const char *restrict base, uint32_t stride, uint32_t n,
                                             uint64_t *restrict out) {
    uint32_t i = 0;
    if (stride == 8) {
        for (; n - i >= 8; i += 8)
            _mm512_storeu_si512((void *)(out + i),
                                _mm512_loadu_si512((const void *)(base + (size_t)i * 8)));
    } else {
        const long long s = (long long)stride;
        __m512i idx = _mm512_setr_epi64(0, s, 2 * s, 3 * s, 4 * s, 5 * s, 6 * s, 7 * s);
        const __m512i step = _mm512_set1_epi64(8 * s);
        for (; n - i >= 8; i += 8) {
            __m512i v = _mm512_i64gather_epi64(idx, (const void *)base, 1);
            _mm512_storeu_si512((void *)(out + i), v);
            idx = _mm512_add_epi64(idx, step);
        }
    }
    sp_binary_decode_fixed64_strided_scalar(base + (size_t)i * stride, stride, n - i, out + i);
}
