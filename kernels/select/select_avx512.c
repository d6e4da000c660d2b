/*
 * kernels/select/select_avx512.c - AVX-512 selection kernels.
 *
 * Set operations: or and not set the rows of their inputs in a bitmap of
 * the chunk (select.h) and turn the bitmap back into rows 16 bits at a time
 * with vpcompressd (row numbers of the set bits), narrowed to uint16 and
 * written with a masked store, so nothing is written past the count (and is
 * the scalar merge: see select.h). Gathers use vpgatherdq, 8 rows per instruction, with a masked
 * tail; compact_validity gathers the validity words of 8 rows, shifts each row's bit down and tests
 * it into a mask, 8 output bits per step.
 */
#include <immintrin.h>

#include "kernels/select/select.h"

/* Append the rows of the set bits of bits[0, nw); returns the count. */
SP_KINLINE uint32_t bits_to_sel(const uint64_t *restrict bits, uint32_t nw,
                                uint16_t *restrict out) {
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    uint32_t count = 0;

    for (uint32_t w = 0; w < nw; w++) {
        uint64_t word = bits[w];
        for (uint32_t j = 0; word != 0; j += 16, word >>= 16) {
            __mmask16 m = (__mmask16)word;
            __m512i rows = _mm512_add_epi32(iota, _mm512_set1_epi32((int)(w * 64 + j)));
            uint32_t cnt = (uint32_t)_mm_popcnt_u32(m);
            __m256i packed = _mm512_cvtepi32_epi16(_mm512_maskz_compress_epi32(m, rows));
            _mm256_mask_storeu_epi16(out + count, (__mmask16)_bzhi_u32(0xffff, cnt), packed);
            count += cnt;
        }
    }
    return count;
}

uint32_t sp_sel_or_avx512(const uint16_t *restrict a, uint32_t na, const uint16_t *restrict b,
                          uint32_t nb, uint16_t *restrict out) {
    uint64_t bits[SP_SEL_WORDS];
    uint32_t last, nw;

    if (na == 0 || nb == 0) {
        const uint16_t *src = na ? a : b;
        uint32_t cnt = na + nb;
        memcpy(out, src, cnt * sizeof out[0]);
        return cnt;
    }
    last = a[na - 1] > b[nb - 1] ? a[na - 1] : b[nb - 1];
    nw = (last >> 6) + 1;
    sp_sel_to_bits(a, na, bits, nw, true);
    sp_sel_to_bits(b, nb, bits, nw, false);
    return bits_to_sel(bits, nw, out);
}

uint32_t sp_sel_not_avx512(const uint16_t *restrict a, uint32_t na, uint32_t n,
                           uint16_t *restrict out) {
    uint64_t bits[SP_SEL_WORDS];
    uint32_t nw = (n + 63) / 64;

    sp_sel_to_bits(a, na, bits, nw, true);
    for (uint32_t w = 0; w < nw; w++)
        bits[w] = ~bits[w] & sp_low_mask(SP_KMIN(n - w * 64, 64u));
    return bits_to_sel(bits, nw, out);
}

void sp_gather_u64_avx512(const uint64_t *restrict v, const uint16_t *restrict sel, uint32_t n,
                          uint64_t *restrict out) {
    for (uint32_t i = 0; i < n; i += 8) {
        __mmask8 live = (__mmask8)_bzhi_u32(0xff, SP_KMIN(n - i, 8u));
        __m256i idx = _mm256_cvtepu16_epi32(_mm_maskz_loadu_epi16(live, sel + i));
        __m512i x =
            _mm512_mask_i32gather_epi64(_mm512_setzero_si512(), live, idx, (const void *)v, 8);
        _mm512_mask_storeu_epi64(out + i, live, x);
    }
}

uint32_t sp_compact_validity_avx512(const uint64_t *restrict validity, const uint16_t *restrict sel,
                                    uint32_t n, uint64_t *restrict out) {
    const __m512i one = _mm512_set1_epi64(1);
    uint32_t valid = 0;

    if (validity == NULL)
        return sp_compact_validity_scalar(validity, sel, n, out); /* constant words */
    for (uint32_t base = 0; base < n; base += 64) {
        uint32_t end = SP_KMIN(n, base + 64);
        uint64_t word = 0;

        for (uint32_t i = base; i < end; i += 8) {
            __mmask8 live = (__mmask8)_bzhi_u32(0xff, SP_KMIN(end - i, 8u));
            __m256i idx = _mm256_cvtepu16_epi32(_mm_maskz_loadu_epi16(live, sel + i));
            __m512i w = _mm512_mask_i32gather_epi64(
                _mm512_setzero_si512(), live, _mm256_srli_epi32(idx, 6), (const void *)validity, 8);
            __m512i shift = _mm512_cvtepu32_epi64(_mm256_and_si256(idx, _mm256_set1_epi32(63)));
            __mmask8 m = _mm512_mask_test_epi64_mask(live, _mm512_srlv_epi64(w, shift), one);
            word |= (uint64_t)m << (i - base);
        }
        out[base >> 6] = word;
        valid += (uint32_t)_mm_popcnt_u64(word);
    }
    return valid;
}
