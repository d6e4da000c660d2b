/*
 * kernels/parse/parse_simd.h - the ISA-neutral half of the SIMD integer
 * parser: up to 16 digits in one 128-bit register.
 *
 * The digits are right-aligned with one pshufb (a table per length), checked
 * with one compare, and combined by multiply-adds: pairs (pmaddubsw, x10+1),
 * fours (pmaddwd, x100+1), eights (packusdw, pmaddwd, x10000+1), then the two
 * eights in scalar (hi * 10^8 + lo). Fields of 17 to 19 digits, or with
 * anything odd, take the scalar reference. The two ISA files differ only in
 * how they load a field without reading past it.
 *
 * Included only by files compiled with at least -mavx2; static inline only.
 */
#ifndef SP_KERNELS_PARSE_SIMD_H
#define SP_KERNELS_PARSE_SIMD_H

#include <immintrin.h>

#include "kernels/parse/parse.h"

/* shuffle[L]: byte j of the result is byte j - (16 - L) of the field, or 0. */
SP_KINLINE __m128i sp_parse_align(uint32_t digits) {
    static const int8_t table[17][16] __attribute__((aligned(16))) = {
#define R(L)                                                                                       \
    {(0 >= 16 - L) ? 0 - (16 - L) : -1,   (1 >= 16 - L) ? 1 - (16 - L) : -1,                       \
     (2 >= 16 - L) ? 2 - (16 - L) : -1,   (3 >= 16 - L) ? 3 - (16 - L) : -1,                       \
     (4 >= 16 - L) ? 4 - (16 - L) : -1,   (5 >= 16 - L) ? 5 - (16 - L) : -1,                       \
     (6 >= 16 - L) ? 6 - (16 - L) : -1,   (7 >= 16 - L) ? 7 - (16 - L) : -1,                       \
     (8 >= 16 - L) ? 8 - (16 - L) : -1,   (9 >= 16 - L) ? 9 - (16 - L) : -1,                       \
     (10 >= 16 - L) ? 10 - (16 - L) : -1, (11 >= 16 - L) ? 11 - (16 - L) : -1,                     \
     (12 >= 16 - L) ? 12 - (16 - L) : -1, (13 >= 16 - L) ? 13 - (16 - L) : -1,                     \
     (14 >= 16 - L) ? 14 - (16 - L) : -1, (15 >= 16 - L) ? 15 - (16 - L) : -1}
        R(0), R(1),  R(2),  R(3),  R(4),  R(5),  R(6),  R(7),  R(8),
        R(9), R(10), R(11), R(12), R(13), R(14), R(15), R(16),
#undef R
    };
    return _mm_load_si128((const __m128i *)table[digits]);
}

/*
 * Parse the digits at bytes [start, start + digits) of v (a field loaded from
 * its first byte; bytes past the field are anything). digits in 1..16.
 * Returns false when one of them is not a digit.
 */
SP_KINLINE bool sp_parse_digits16(__m128i v, uint32_t start, uint32_t digits, uint64_t *out) {
    __m128i d = _mm_sub_epi8(v, _mm_set1_epi8('0'));
    /* digit <=> (byte - '0') <= 9 unsigned */
    __m128i is_digit = _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d);
    uint32_t want = ((1u << digits) - 1) << start;
    if (((uint32_t)_mm_movemask_epi8(is_digit) & want) != want)
        return false;
    if (start != 0)
        d = _mm_srli_si128(d, 1); /* a sign: the digits start at byte 1 */
    d = _mm_shuffle_epi8(d, sp_parse_align(digits));
    __m128i pairs =
        _mm_maddubs_epi16(d, _mm_setr_epi8(10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1));
    __m128i fours = _mm_madd_epi16(pairs, _mm_setr_epi16(100, 1, 100, 1, 100, 1, 100, 1));
    __m128i packed = _mm_packus_epi32(fours, fours);
    __m128i eights = _mm_madd_epi16(packed, _mm_setr_epi16(10000, 1, 10000, 1, 10000, 1, 10000, 1));
    uint64_t hi = (uint32_t)_mm_cvtsi128_si32(eights);
    uint64_t lo = (uint32_t)_mm_extract_epi32(eights, 1);
    *out = hi * 100000000u + lo;
    return true;
}

/* One field, whose first 16 bytes (or fewer, the rest anything) are in v. */
SP_KINLINE bool sp_parse_i64_simd_one(__m128i v, const char *p, uint32_t len, int64_t *out) {
    uint32_t start = len > 0 && (p[0] == '-' || p[0] == '+');
    uint32_t digits = len - start;
    if (digits == 0 || len > 16) /* empty, or 16+ characters: the reference */
        return sp_parse_i64_one(p, len, out);
    uint64_t u;
    if (!sp_parse_digits16(v, start, digits, &u))
        return false;
    *out = p[0] == '-' ? (int64_t)(0 - u) : (int64_t)u; /* 16 digits never overflow */
    return true;
}

#endif /* SP_KERNELS_PARSE_SIMD_H */
