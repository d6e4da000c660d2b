/*
 * kernels/parse/parse_avx512.c - integers with 128-bit SIMD (parse_simd.h).
 * A field is loaded with a byte-masked load (AVX-512BW/VL): the bytes past
 * it are not read and cannot fault.
 */
#include "kernels/parse/parse_simd.h"

uint32_t sp_parse_i64_avx512(const char *const *restrict ptr, const uint32_t *restrict len,
                             uint32_t n, int64_t *restrict out, uint64_t *restrict ok) {
    uint32_t bad = 0;
    for (uint32_t i = 0; i < n; i++) {
        /* Masked-off bytes are not read (an empty field's ptr may be past the end). */
        __mmask16 m = (__mmask16)(len[i] >= 16 ? 0xffffu : (1u << len[i]) - 1);
        __m128i v = _mm_maskz_loadu_epi8(m, ptr[i]);
        int64_t x = 0;
        bool good = sp_parse_i64_simd_one(v, ptr[i], len[i], &x);
        out[i] = good ? x : 0;
        sp_parse_set_ok(ok, i, good);
        bad += !good;
    }
    return bad;
}
