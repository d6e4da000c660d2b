/*
 * kernels/select/select_avx2.c - AVX2 selection kernels.
 *
 * or and not go through the chunk bitmap of select.h, as in
 * select_avx512.c; the bitmap becomes rows 8 bits at a time: BMI2 pdep/pext
 * give the byte indexes of the set bits, widened to uint16 and offset by the
 * byte's first row, and 8 rows are stored while the room allows it (the
 * entries past the count are scratch), exactly otherwise. Gathers use
 * vpgatherdq, 4 rows per instruction, with a masked tail; compact_validity
 * gathers 4 validity words, shifts each row's bit to the sign bit and
 * collects the 4 bits with vmovmskpd.
 */
#include <immintrin.h>

#include "kernels/select/select.h"

/* Lane masks for vpmaskmovq from the low 4 bits of m. */
SP_KINLINE __m256i lane_mask(uint32_t m) {
    const __m256i bit = _mm256_setr_epi64x(1, 2, 4, 8);
    __m256i b = _mm256_and_si256(_mm256_set1_epi64x((long long)m), bit);
    return _mm256_cmpeq_epi64(b, bit);
}

/* Append the rows of the set bits of bits[0, nw) into out (room entries). */
SP_KINLINE uint32_t bits_to_sel(const uint64_t *restrict bits, uint32_t nw, uint32_t room,
                                uint16_t *restrict out) {
    uint32_t count = 0;

    for (uint32_t w = 0; w < nw; w++) {
        uint64_t word = bits[w];
        for (uint32_t j = 0; word != 0; j += 8, word >>= 8) {
            uint32_t m = (uint32_t)word & 0xffu;
            uint32_t first = w * 64 + j;
            if (m == 0)
                continue;
            if (count + 8 <= room) {
                uint64_t spread = _pdep_u64(m, 0x0101010101010101u) * 0xff;
                uint64_t idx = _pext_u64(0x0706050403020100u, spread);
                __m128i rows = _mm_add_epi16(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)idx)),
                                             _mm_set1_epi16((short)first));
                _mm_storeu_si128((__m128i *)(out + count), rows);
                count += (uint32_t)_mm_popcnt_u32(m);
            } else {
                for (; m != 0; m = _blsr_u32(m))
                    out[count++] = (uint16_t)(first + _tzcnt_u32(m));
            }
        }
    }
    return count;
}

uint32_t sp_sel_or_avx2(const uint16_t *restrict a, uint32_t na, const uint16_t *restrict b,
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
    return bits_to_sel(bits, nw, na + nb, out);
}

uint32_t sp_sel_not_avx2(const uint16_t *restrict a, uint32_t na, uint32_t n,
                         uint16_t *restrict out) {
    uint64_t bits[SP_SEL_WORDS];
    uint32_t nw = (n + 63) / 64;

    sp_sel_to_bits(a, na, bits, nw, true);
    for (uint32_t w = 0; w < nw; w++)
        bits[w] = ~bits[w] & sp_low_mask(SP_KMIN(n - w * 64, 64u));
    return bits_to_sel(bits, nw, n, out);
}

/* The 4 row numbers sel[i..i+cnt) as 32-bit lanes (lanes past cnt: 0). */
SP_KINLINE __m128i rows4(const uint16_t *restrict sel, uint32_t i, uint32_t cnt) {
    if (cnt == 4)
        return _mm_cvtepu16_epi32(_mm_loadl_epi64((const __m128i *)(sel + i)));
    uint32_t r[4] = {0, 0, 0, 0};
    for (uint32_t j = 0; j < cnt; j++)
        r[j] = sel[i + j];
    return _mm_loadu_si128((const __m128i *)r);
}

void sp_gather_u64_avx2(const uint64_t *restrict v, const uint16_t *restrict sel, uint32_t n,
                        uint64_t *restrict out) {
    uint32_t i = 0;

    for (; i + 4 <= n; i += 4) {
        __m256i x = _mm256_i32gather_epi64((const long long *)v, rows4(sel, i, 4), 8);
        _mm256_storeu_si256((__m256i *)(out + i), x);
    }
    if (i < n) {
        __m256i live = lane_mask(_bzhi_u32(0xf, n - i));
        __m256i x = _mm256_mask_i32gather_epi64(_mm256_setzero_si256(), (const long long *)v,
                                                rows4(sel, i, n - i), live, 8);
        _mm256_maskstore_epi64((long long *)(out + i), live, x);
    }
}

uint32_t sp_compact_validity_avx2(const uint64_t *restrict validity, const uint16_t *restrict sel,
                                  uint32_t n, uint64_t *restrict out) {
    uint32_t valid = 0;

    if (validity == NULL)
        return sp_compact_validity_scalar(validity, sel, n, out); /* constant words */
    for (uint32_t base = 0; base < n; base += 64) {
        uint32_t end = SP_KMIN(n, base + 64);
        uint64_t word = 0;

        for (uint32_t i = base; i < end; i += 4) {
            uint32_t cnt = SP_KMIN(end - i, 4u);
            __m128i idx = rows4(sel, i, cnt);
            __m256i live = lane_mask(_bzhi_u32(0xf, cnt));
            __m256i w =
                _mm256_mask_i32gather_epi64(_mm256_setzero_si256(), (const long long *)validity,
                                            _mm_srli_epi32(idx, 6), live, 8);
            __m256i shift = _mm256_cvtepu32_epi64(
                _mm_sub_epi32(_mm_set1_epi32(63), _mm_and_si128(idx, _mm_set1_epi32(63))));
            uint32_t m = (uint32_t)_mm256_movemask_pd(
                _mm256_castsi256_pd(_mm256_and_si256(_mm256_sllv_epi64(w, shift), live)));
            word |= (uint64_t)m << (i - base);
        }
        out[base >> 6] = word;
        valid += (uint32_t)_mm_popcnt_u64(word);
    }
    return valid;
}
