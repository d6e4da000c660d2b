/*
 * kernels/filter/filter_avx512.c - AVX-512 filter_cmp_i64: compare 8 lanes
 * into a mask, compress the row numbers of the set bits.
 *
 * Without a selection, 64 rows (one validity word) are compared under the
 * validity mask with masked loads, which never touch rows at or past n or
 * skipped by the mask; row numbers of the passing lanes come out 16 at a time
 * with vpcompressd, are narrowed to uint16 and written with a masked store,
 * so nothing past the count is written. With a selection, 16 rows are
 * gathered at a time (values, and validity words shifted by the row's bit).
 *
 * filter_eq_str tests 4 views (64 bytes) per instruction: vptestnmq of
 * (view ^ want) under the key's byte mask (filter.h) gives the head test of
 * both halves of each view; that decides short equality, and the few rows
 * that pass it for long equality or prefix are finished with sp_str_match.
 */
#include <immintrin.h>

#include "kernels/filter/filter.h"

/* Lanes of x OP k, restricted to live; op is a constant after inlining. */
SP_KINLINE __mmask8 cmp8(__mmask8 live, __m512i x, __m512i k, enum sp_cmp op) {
    switch (op) {
    case SP_CMP_EQ:
        return _mm512_mask_cmpeq_epi64_mask(live, x, k);
    case SP_CMP_NE:
        return _mm512_mask_cmpneq_epi64_mask(live, x, k);
    case SP_CMP_LT:
        return _mm512_mask_cmplt_epi64_mask(live, x, k);
    case SP_CMP_LE:
        return _mm512_mask_cmple_epi64_mask(live, x, k);
    case SP_CMP_GT:
        return _mm512_mask_cmpgt_epi64_mask(live, x, k);
    case SP_CMP_GE:
        return _mm512_mask_cmpge_epi64_mask(live, x, k);
    }
    return 0;
}

/* Append the 16 rows (32-bit lanes of rows) selected by m; returns the count. */
SP_KINLINE uint32_t emit16(uint16_t *restrict out, __mmask16 m, __m512i rows) {
    uint32_t cnt = (uint32_t)_mm_popcnt_u32(m);
    __m256i packed = _mm512_cvtepi32_epi16(_mm512_maskz_compress_epi32(m, rows));

    _mm256_mask_storeu_epi16(out, (__mmask16)_bzhi_u32(0xffff, cnt), packed);
    return cnt;
}

SP_KINLINE uint32_t dense(const int64_t *restrict v, const uint64_t *restrict validity, uint32_t n,
                          enum sp_cmp op, int64_t k, uint16_t *restrict sel_out) {
    const __m512i kv = _mm512_set1_epi64(k);
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    uint32_t count = 0;

    for (uint32_t base = 0; base < n; base += 64) {
        uint64_t live = _bzhi_u64(~(uint64_t)0, SP_KMIN(n - base, 64u));
        uint64_t pass = 0;

        if (validity != NULL)
            live &= validity[base >> 6];
        if (live == 0)
            continue;
        for (uint32_t j = 0; j < 64; j += 8) {
            __mmask8 lm = (__mmask8)(live >> j);
            __m512i x = _mm512_maskz_loadu_epi64(lm, v + base + j);
            pass |= (uint64_t)cmp8(lm, x, kv, op) << j;
        }
        for (uint32_t j = 0; j < 64 && pass != 0; j += 16, pass >>= 16) {
            __m512i rows = _mm512_add_epi32(iota, _mm512_set1_epi32((int)(base + j)));
            count += emit16(sel_out + count, (__mmask16)pass, rows);
        }
    }
    return count;
}

SP_KINLINE uint32_t selected(const int64_t *restrict v, const uint64_t *restrict validity,
                             const uint16_t *restrict sel_in, uint32_t n, enum sp_cmp op, int64_t k,
                             uint16_t *restrict sel_out) {
    const __m512i kv = _mm512_set1_epi64(k);
    const __m512i one = _mm512_set1_epi64(1);
    uint32_t count = 0;

    for (uint32_t i = 0; i < n; i += 16) {
        __mmask16 live = (__mmask16)_bzhi_u32(0xffff, SP_KMIN(n - i, 16u));
        __m512i rows = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(live, sel_in + i));
        __m256i rows_lo = _mm512_castsi512_si256(rows);
        __m256i rows_hi = _mm512_extracti64x4_epi64(rows, 1);
        __mmask8 live_lo = (__mmask8)live;
        __mmask8 live_hi = (__mmask8)(live >> 8);
        __m512i x_lo = _mm512_mask_i32gather_epi64(kv, live_lo, rows_lo, v, 8);
        __m512i x_hi = _mm512_mask_i32gather_epi64(kv, live_hi, rows_hi, v, 8);
        __mmask8 m_lo = cmp8(live_lo, x_lo, kv, op);
        __mmask8 m_hi = cmp8(live_hi, x_hi, kv, op);

        if (validity != NULL) {
            const __m256i low6 = _mm256_set1_epi32(63);
            __m512i w_lo = _mm512_mask_i32gather_epi64(one, m_lo, _mm256_srli_epi32(rows_lo, 6),
                                                       (const void *)validity, 8);
            __m512i w_hi = _mm512_mask_i32gather_epi64(one, m_hi, _mm256_srli_epi32(rows_hi, 6),
                                                       (const void *)validity, 8);
            w_lo = _mm512_srlv_epi64(w_lo, _mm512_cvtepu32_epi64(_mm256_and_si256(rows_lo, low6)));
            w_hi = _mm512_srlv_epi64(w_hi, _mm512_cvtepu32_epi64(_mm256_and_si256(rows_hi, low6)));
            m_lo = _mm512_mask_test_epi64_mask(m_lo, w_lo, one);
            m_hi = _mm512_mask_test_epi64_mask(m_hi, w_hi, one);
        }
        count += emit16(sel_out + count, (__mmask16)(m_lo | (uint32_t)m_hi << 8), rows);
    }
    return count;
}

SP_KINLINE uint32_t cmp_op(const int64_t *restrict v, const uint64_t *restrict validity,
                           const uint16_t *restrict sel_in, uint32_t n, enum sp_cmp op, int64_t k,
                           uint16_t *restrict sel_out) {
    if (sel_in != NULL)
        return selected(v, validity, sel_in, n, op, k, sel_out);
    return dense(v, validity, n, op, k, sel_out);
}

uint32_t sp_filter_cmp_i64_avx512(const int64_t *restrict v, const uint64_t *restrict validity,
                                  const uint16_t *restrict sel_in, uint32_t n, enum sp_cmp op,
                                  int64_t k, uint16_t *restrict sel_out) {
    switch (op) {
    case SP_CMP_EQ:
        return cmp_op(v, validity, sel_in, n, SP_CMP_EQ, k, sel_out);
    case SP_CMP_NE:
        return cmp_op(v, validity, sel_in, n, SP_CMP_NE, k, sel_out);
    case SP_CMP_LT:
        return cmp_op(v, validity, sel_in, n, SP_CMP_LT, k, sel_out);
    case SP_CMP_LE:
        return cmp_op(v, validity, sel_in, n, SP_CMP_LE, k, sel_out);
    case SP_CMP_GT:
        return cmp_op(v, validity, sel_in, n, SP_CMP_GT, k, sel_out);
    case SP_CMP_GE:
        return cmp_op(v, validity, sel_in, n, SP_CMP_GE, k, sel_out);
    }
    return 0;
}

/* ---- filter_eq_str ---- */

/* Lanes of the 4 views at x whose half passes the head test (bit 2j: view
 * j's first half, 2j+1: its second half), under lanes. */
SP_KINLINE uint32_t head8(__m512i x, __m512i want, __m512i mask, __mmask8 lanes) {
    return _mm512_mask_testn_epi64_mask(lanes, _mm512_xor_si512(x, want), mask);
}

/* One bit per view from the lane bits of head8 (both halves must pass). */
SP_KINLINE uint32_t views_passing(uint32_t lanes) {
    return _pext_u32(lanes & (lanes >> 1), 0x55555555u);
}

SP_KINLINE uint32_t eq_str_simd(const struct spate_string *restrict v,
                                const uint64_t *restrict validity, const uint16_t *restrict sel_in,
                                uint32_t n, const struct sp_str_key *key, enum sp_str_mode mode,
                                uint16_t *restrict sel_out) {
    const __m512i want = _mm512_broadcast_i64x2(_mm_loadu_si128((const __m128i *)key->want));
    const __m512i mask = _mm512_broadcast_i64x2(_mm_loadu_si128((const __m128i *)key->mask));
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    uint32_t count = 0;

    for (uint32_t i = 0; i < n; i += 16) {
        uint32_t live = _bzhi_u32(0xffff, SP_KMIN(n - i, 16u));
        uint32_t hit = 0;
        __m512i rows;

        if (sel_in != NULL) {
            uint32_t r[16];
            uint32_t lanes = 0;
            rows = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16((__mmask16)live, sel_in + i));
            _mm512_storeu_si512(r, rows); /* dead lanes hold row 0: loaded, never passed */
            for (uint32_t g = 0; g < 16; g += 4) {
                __m512i x = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)&v[r[g]]));
                x = _mm512_inserti32x4(x, _mm_loadu_si128((const __m128i *)&v[r[g + 1]]), 1);
                x = _mm512_inserti32x4(x, _mm_loadu_si128((const __m128i *)&v[r[g + 2]]), 2);
                x = _mm512_inserti32x4(x, _mm_loadu_si128((const __m128i *)&v[r[g + 3]]), 3);
                lanes |= head8(x, want, mask, 0xff) << (2 * g);
            }
            hit = views_passing(lanes) & live;
            if (validity != NULL) {
                for (uint32_t bits = hit; bits != 0; bits = _blsr_u32(bits)) {
                    uint32_t j = _tzcnt_u32(bits);
                    if (!sp_valid_bit(validity, r[j]))
                        hit &= ~(1u << j);
                }
            }
            if (mode != SP_STR_EQ_SHORT) {
                for (uint32_t bits = hit; bits != 0; bits = _blsr_u32(bits)) {
                    uint32_t j = _tzcnt_u32(bits);
                    if (!sp_str_match(&v[r[j]], key, mode))
                        hit &= ~(1u << j);
                }
            }
        } else {
            uint64_t lane_live = _pdep_u64(live, 0x5555555555555555u) * 3; /* 2 per view */
            uint32_t lanes = 0;
            rows = _mm512_add_epi32(iota, _mm512_set1_epi32((int)i));
            for (uint32_t g = 0; g < 16; g += 4) {
                __mmask8 lm = (__mmask8)(lane_live >> (2 * g));
                __m512i x = _mm512_maskz_loadu_epi64(lm, &v[i + g]);
                lanes |= head8(x, want, mask, lm) << (2 * g);
            }
            hit = views_passing(lanes);
            if (validity != NULL) /* i is a multiple of 16: one word holds the 16 bits */
                hit &= (uint32_t)(validity[i >> 6] >> (i & 63));
            if (mode != SP_STR_EQ_SHORT) {
                for (uint32_t bits = hit; bits != 0; bits = _blsr_u32(bits)) {
                    uint32_t j = _tzcnt_u32(bits);
                    if (!sp_str_match(&v[i + j], key, mode))
                        hit &= ~(1u << j);
                }
            }
        }
        count += emit16(sel_out + count, (__mmask16)hit, rows);
    }
    return count;
}

uint32_t sp_filter_eq_str_avx512(const struct spate_string *restrict v,
                                 const uint64_t *restrict validity, const uint16_t *restrict sel_in,
                                 uint32_t n, const char *s, uint32_t slen, bool prefix,
                                 uint16_t *restrict sel_out) {
    struct sp_str_key key;

    switch (sp_str_key_init(&key, s, slen, prefix)) {
    case SP_STR_EQ_SHORT:
        return eq_str_simd(v, validity, sel_in, n, &key, SP_STR_EQ_SHORT, sel_out);
    case SP_STR_EQ_LONG:
        return eq_str_simd(v, validity, sel_in, n, &key, SP_STR_EQ_LONG, sel_out);
    default:
        return eq_str_simd(v, validity, sel_in, n, &key, SP_STR_PREFIX, sel_out);
    }
}
