/*
 * kernels/hash/combine_avx512.c - AVX-512 hash_combine: the mix of combine.h
 * on 8 lanes, with vpmullq (AVX512DQ) for the three multiplies and masked
 * loads and stores for the tail.
 */
#include <immintrin.h>

#include "kernels/hash/combine.h"

void sp_hash_combine_avx512(uint64_t *restrict h, const uint64_t *restrict h2, uint32_t n) {
    const __m512i mul = _mm512_set1_epi64((long long)SP_HASH_MIX_MUL);
    const __m512i add = _mm512_set1_epi64((long long)SP_HASH_MIX_ADD);

    for (uint32_t i = 0; i < n; i += 8) {
        __mmask8 lm = (__mmask8)_bzhi_u32(0xff, SP_KMIN(n - i, 8u));
        __m512i k = _mm512_mullo_epi64(_mm512_maskz_loadu_epi64(lm, h2 + i), mul);
        k = _mm512_mullo_epi64(_mm512_xor_si512(k, _mm512_srli_epi64(k, 47)), mul);
        __m512i x = _mm512_xor_si512(_mm512_maskz_loadu_epi64(lm, h + i), k);
        x = _mm512_add_epi64(_mm512_mullo_epi64(x, mul), add);
        _mm512_mask_storeu_epi64(h + i, lm, x);
    }
}
