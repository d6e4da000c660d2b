/*
 * kernels/hash/hash_avx2.c - AVX2 hash_i64: XXH3-64 of 4 values at once.
 *
 * The same computation as hash_avx512.c (XXH3_len_4to8_64b with seed 0 for
 * 8-byte inputs: swap the 32-bit halves, xor a secret constant, rrmxmx), with
 * the two missing instructions built from others: rotates from two shifts,
 * 64-bit multiplies by the constant from three vpmuludq. The 0-3 rows left at
 * the end go through the scalar function. hash_str has no AVX2 variant: the
 * avx2 table in kernels/dispatch.c points at the scalar one.
 */
#include <immintrin.h>
#include <xxhash.h>

#include "kernels/hash/hash.h"

#define PRIME_MX2 0x9FB21C651E98DF25ULL /* XXH3_rrmxmx's multiplier */

/* Low 64 bits of a * PRIME_MX2 in each lane. */
SP_KINLINE __m256i mul_mx2(__m256i a) {
    const __m256i lo32 = _mm256_set1_epi64x((long long)(PRIME_MX2 & 0xffffffffu));
    const __m256i hi32 = _mm256_set1_epi64x((long long)(PRIME_MX2 >> 32));
    __m256i low = _mm256_mul_epu32(a, lo32);
    __m256i cross = _mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64(a, 32), lo32),
                                     _mm256_mul_epu32(a, hi32));
    return _mm256_add_epi64(low, _mm256_slli_epi64(cross, 32));
}

SP_KINLINE __m256i rotl(__m256i x, int r) {
    return _mm256_or_si256(_mm256_slli_epi64(x, r), _mm256_srli_epi64(x, 64 - r));
}

SP_KINLINE __m256i xxh3_8bytes(__m256i x, __m256i bitflip) {
    __m256i h = _mm256_xor_si256(_mm256_shuffle_epi32(x, _MM_SHUFFLE(2, 3, 0, 1)), bitflip);

    h = _mm256_xor_si256(h, _mm256_xor_si256(rotl(h, 49), rotl(h, 24)));
    h = mul_mx2(h);
    h = _mm256_xor_si256(h, _mm256_add_epi64(_mm256_srli_epi64(h, 35), _mm256_set1_epi64x(8)));
    h = mul_mx2(h);
    return _mm256_xor_si256(h, _mm256_srli_epi64(h, 28));
}

void sp_hash_i64_avx2(const int64_t *restrict v, const uint16_t *restrict sel_in, uint32_t n,
                      uint64_t *restrict out) {
    const __m256i bitflip = _mm256_set1_epi64x(
        (long long)(XXH_readLE64(XXH3_kSecret + 8) ^ XXH_readLE64(XXH3_kSecret + 16)));
    uint32_t i = 0;

    for (; n - i >= 4; i += 4) {
        __m256i x;
        if (sel_in != NULL) {
            /* four loads beat vpgatherdq, which is slower than scalar here */
            x = _mm256_setr_epi64x(v[sel_in[i]], v[sel_in[i + 1]], v[sel_in[i + 2]],
                                   v[sel_in[i + 3]]);
        } else {
            x = _mm256_loadu_si256((const __m256i *)(v + i));
        }
        _mm256_storeu_si256((__m256i *)(out + i), xxh3_8bytes(x, bitflip));
    }
    if (sel_in != NULL)
        sp_hash_i64_scalar(v, sel_in + i, n - i, out + i);
    else
        sp_hash_i64_scalar(v + i, NULL, n - i, out + i);
}
