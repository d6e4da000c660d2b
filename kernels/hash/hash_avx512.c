/*
 * kernels/hash/hash_avx512.c - AVX-512 hash_i64: XXH3-64 of 8 values at once.
 *
 * For an 8-byte input XXH3 is (xxhash.h, XXH3_len_4to8_64b with seed 0):
 * swap the two 32-bit halves, xor a constant taken from the default secret,
 * then the rrmxmx mixer (two rotates, two 64-bit multiplies, shifts). Every
 * step has a lane-wise AVX-512 instruction (vprolq, vpmullq from AVX512DQ),
 * so this is the scalar function exactly, 8 lanes at a time; the tests check
 * it against XXH3_64bits. The tail uses masked loads and stores. hash_str has
 * no AVX-512 variant: the avx512 table in kernels/dispatch.c points at the
 * scalar one.
 */
#include <immintrin.h>
#include <xxhash.h>

#include "kernels/hash/hash.h"

#define PRIME_MX2 0x9FB21C651E98DF25ULL /* XXH3_rrmxmx's multiplier */

SP_KINLINE __m512i xxh3_8bytes(__m512i x, __m512i bitflip) {
    const __m512i mul = _mm512_set1_epi64((long long)PRIME_MX2);
    __m512i h = _mm512_xor_si512(_mm512_ror_epi64(x, 32), bitflip);

    h = _mm512_xor_si512(h, _mm512_xor_si512(_mm512_rol_epi64(h, 49), _mm512_rol_epi64(h, 24)));
    h = _mm512_mullo_epi64(h, mul);
    h = _mm512_xor_si512(h, _mm512_add_epi64(_mm512_srli_epi64(h, 35), _mm512_set1_epi64(8)));
    h = _mm512_mullo_epi64(h, mul);
    return _mm512_xor_si512(h, _mm512_srli_epi64(h, 28));
}

void sp_hash_i64_avx512(const int64_t *restrict v, const uint16_t *restrict sel_in, uint32_t n,
                        uint64_t *restrict out) {
    const __m512i bitflip = _mm512_set1_epi64(
        (long long)(XXH_readLE64(XXH3_kSecret + 8) ^ XXH_readLE64(XXH3_kSecret + 16)));

    for (uint32_t i = 0; i < n; i += 8) {
        __mmask8 live = (__mmask8)_bzhi_u32(0xff, SP_KMIN(n - i, 8u));
        __m512i x;

        if (sel_in != NULL) {
            __m256i rows = _mm256_cvtepu16_epi32(_mm_maskz_loadu_epi16(live, sel_in + i));
            x = _mm512_mask_i32gather_epi64(_mm512_setzero_si512(), live, rows, v, 8);
        } else {
            x = _mm512_maskz_loadu_epi64(live, v + i);
        }
        _mm512_mask_storeu_epi64(out + i, live, xxh3_8bytes(x, bitflip));
    }
}
