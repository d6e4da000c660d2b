/*
 * kernels/hash/combine_avx2.c - AVX2 hash_combine: the mix of combine.h on 4
 * lanes. AVX2 has no 64-bit multiply; each one is three vpmuludq (low x low
 * and the cross products shifted up 32), the low 64 bits of the product. The
 * tail (fewer than 4 rows) is scalar.
 */
#include <immintrin.h>

#include "kernels/hash/combine.h"

/* The low 64 bits of x * y per lane. */
SP_KINLINE __m256i mullo64(__m256i x, __m256i y) {
    __m256i lo = _mm256_mul_epu32(x, y);
    __m256i c1 = _mm256_mul_epu32(x, _mm256_srli_epi64(y, 32));
    __m256i c2 = _mm256_mul_epu32(_mm256_srli_epi64(x, 32), y);
    return _mm256_add_epi64(lo, _mm256_slli_epi64(_mm256_add_epi64(c1, c2), 32));
}

void sp_hash_combine_avx2(uint64_t *restrict h, const uint64_t *restrict h2, uint32_t n) {
    const __m256i mul = _mm256_set1_epi64x((long long)SP_HASH_MIX_MUL);
    const __m256i add = _mm256_set1_epi64x((long long)SP_HASH_MIX_ADD);
    uint32_t i = 0;

    for (; i + 4 <= n; i += 4) {
        __m256i k = mullo64(_mm256_loadu_si256((const __m256i *)(h2 + i)), mul);
        k = mullo64(_mm256_xor_si256(k, _mm256_srli_epi64(k, 47)), mul);
        __m256i x = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(h + i)), k);
        x = _mm256_add_epi64(mullo64(x, mul), add);
        _mm256_storeu_si256((__m256i *)(h + i), x);
    }
    for (; i < n; i++)
        h[i] = sp_hash_combine1(h[i], h2[i]);
}
