/*
 * kernels/cmp/cmp_avx2.c - AVX2 filter_cmp_f64 and column-against-column
 * filters: compare 2x4 lanes, movemask, and the byte indexes of the mask's
 * set bits from BMI2 (pdep spreads the 8 mask bits to 8 byte masks, pext
 * keeps the matching bytes of 0x0706050403020100), so no lookup table.
 *
 * Without a selection the AND of the validity bitmaps is read a word (64
 * rows) at a time and groups of 8 rows with no valid row are skipped. A full
 * group stores 8 rows (16 bytes) and the count advances by the popcount;
 * entries past the count get scratch values below n, because count <= the
 * group's first row and the group ends at or before n. The last partial
 * group uses masked loads (no row at or past n is read) and an exact store.
 * With a selection, values are loaded one by one (vpgatherdq is not faster
 * on recent cores) and the passing entries of sel_in are picked with vpshufb.
 * f64 lanes use the ordered predicates, and NE the unordered one: IEEE's
 * rule for NaN, with -0.0 == +0.0.
 */
#include <immintrin.h>

#include "kernels/cmp/cmp.h"

/* Mask (4 bits) of lanes x OP y. */
SP_KINLINE uint32_t cmp4(__m256i x, __m256i y, enum sp_cmp op, bool f64) {
    if (f64) {
        __m256d xd = _mm256_castsi256_pd(x);
        __m256d yd = _mm256_castsi256_pd(y);
        __m256d r;
        switch (op) {
        case SP_CMP_EQ:
            r = _mm256_cmp_pd(xd, yd, _CMP_EQ_OQ);
            break;
        case SP_CMP_NE:
            r = _mm256_cmp_pd(xd, yd, _CMP_NEQ_UQ);
            break;
        case SP_CMP_LT:
            r = _mm256_cmp_pd(xd, yd, _CMP_LT_OQ);
            break;
        case SP_CMP_LE:
            r = _mm256_cmp_pd(xd, yd, _CMP_LE_OQ);
            break;
        case SP_CMP_GT:
            r = _mm256_cmp_pd(xd, yd, _CMP_GT_OQ);
            break;
        default:
            r = _mm256_cmp_pd(xd, yd, _CMP_GE_OQ);
            break;
        }
        return (uint32_t)_mm256_movemask_pd(r);
    }
    __m256i r;
    bool invert = op == SP_CMP_NE || op == SP_CMP_LE || op == SP_CMP_GE;
    if (op == SP_CMP_EQ || op == SP_CMP_NE)
        r = _mm256_cmpeq_epi64(x, y);
    else if (op == SP_CMP_LT || op == SP_CMP_GE)
        r = _mm256_cmpgt_epi64(y, x);
    else
        r = _mm256_cmpgt_epi64(x, y);
    uint32_t m = (uint32_t)_mm256_movemask_pd(_mm256_castsi256_pd(r));
    return invert ? m ^ 0xfu : m;
}

/* Lane masks for vpmaskmovq from the low 4 bits of m. */
SP_KINLINE __m256i lane_mask(uint32_t m) {
    const __m256i bit = _mm256_setr_epi64x(1, 2, 4, 8);
    __m256i b = _mm256_and_si256(_mm256_set1_epi64x((long long)m), bit);
    return _mm256_cmpeq_epi64(b, bit);
}

/* The 8 uint16 indexes of the set bits of m (scratch past the popcount). */
SP_KINLINE __m128i bit_indexes(uint32_t m) {
    uint64_t spread = _pdep_u64(m, 0x0101010101010101u) * 0xff;
    uint64_t idx = _pext_u64(0x0706050403020100u, spread);
    return _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)idx));
}

SP_KINLINE uint32_t dense(const int64_t *a, const uint64_t *va, const int64_t *b,
                          const uint64_t *vb, __m256i k, uint32_t n, enum sp_cmp op,
                          uint16_t *restrict sel_out, bool f64, bool col) {
    uint32_t count = 0;

    for (uint32_t base = 0; base < n; base += 64) {
        uint64_t live = _bzhi_u64(sp_valid_word2(va, vb, base >> 6), SP_KMIN(n - base, 64u));

        for (uint32_t j = 0; j < 64 && live != 0; j += 8, live >>= 8) {
            uint32_t group = (uint32_t)live & 0xffu;
            uint32_t first = base + j;
            __m256i x0, x1, y0 = k, y1 = k;

            if (group == 0)
                continue;
            if (first + 8 <= n) {
                x0 = _mm256_loadu_si256((const __m256i *)(a + first));
                x1 = _mm256_loadu_si256((const __m256i *)(a + first + 4));
                if (col) {
                    y0 = _mm256_loadu_si256((const __m256i *)(b + first));
                    y1 = _mm256_loadu_si256((const __m256i *)(b + first + 4));
                }
            } else {
                uint32_t in = _bzhi_u32(0xffu, n - first);
                __m256i m0 = lane_mask(in), m1 = lane_mask(in >> 4);
                x0 = _mm256_maskload_epi64((const long long *)(a + first), m0);
                x1 = _mm256_maskload_epi64((const long long *)(a + first + 4), m1);
                if (col) {
                    y0 = _mm256_maskload_epi64((const long long *)(b + first), m0);
                    y1 = _mm256_maskload_epi64((const long long *)(b + first + 4), m1);
                }
            }
            uint32_t m = (cmp4(x0, y0, op, f64) | cmp4(x1, y1, op, f64) << 4) & group;
            if (first + 8 <= n) {
                __m128i rows = _mm_add_epi16(bit_indexes(m), _mm_set1_epi16((short)first));
                _mm_storeu_si128((__m128i *)(sel_out + count), rows);
                count += (uint32_t)_mm_popcnt_u32(m);
            } else {
                for (; m != 0; m = _blsr_u32(m))
                    sel_out[count++] = (uint16_t)(first + _tzcnt_u32(m));
            }
        }
    }
    return count;
}

/* Element row of a column read as 64 bits (f64 columns too, without aliasing). */
SP_KINLINE long long ld(const int64_t *col, uint32_t row) {
    return (long long)sp_load_u64(col + row);
}

SP_KINLINE uint32_t selected(const int64_t *a, const uint64_t *va, const int64_t *b,
                             const uint64_t *vb, __m256i k, const uint16_t *restrict sel_in,
                             uint32_t n, enum sp_cmp op, uint16_t *restrict sel_out, bool f64,
                             bool col) {
    uint32_t count = 0;

    for (uint32_t i = 0; i < n; i += 8) {
        uint32_t cnt = SP_KMIN(n - i, 8u);
        uint16_t r[8];
        uint32_t valid = _bzhi_u32(0xffu, cnt);
        __m256i y0 = k, y1 = k;

        for (uint32_t j = 0; j < 8; j++) /* pad a partial group with its first row */
            r[j] = sel_in[i + (j < cnt ? j : 0)];
        __m256i x0 = _mm256_setr_epi64x(ld(a, r[0]), ld(a, r[1]), ld(a, r[2]), ld(a, r[3]));
        __m256i x1 = _mm256_setr_epi64x(ld(a, r[4]), ld(a, r[5]), ld(a, r[6]), ld(a, r[7]));
        if (col) {
            y0 = _mm256_setr_epi64x(ld(b, r[0]), ld(b, r[1]), ld(b, r[2]), ld(b, r[3]));
            y1 = _mm256_setr_epi64x(ld(b, r[4]), ld(b, r[5]), ld(b, r[6]), ld(b, r[7]));
        }
        uint32_t m = (cmp4(x0, y0, op, f64) | cmp4(x1, y1, op, f64) << 4) & valid;
        for (uint32_t bits = m; bits != 0; bits = _blsr_u32(bits)) {
            uint32_t j = _tzcnt_u32(bits);
            if ((va != NULL && !sp_valid_bit(va, r[j])) || (vb != NULL && !sp_valid_bit(vb, r[j])))
                m &= ~(1u << j);
        }
        if (cnt == 8) {
            __m128i idx = bit_indexes(m); /* uint16 index i -> bytes 2i, 2i+1 */
            __m128i ctrl =
                _mm_add_epi16(_mm_mullo_epi16(idx, _mm_set1_epi16(0x0202)), _mm_set1_epi16(0x0100));
            __m128i rows = _mm_loadu_si128((const __m128i *)r);
            _mm_storeu_si128((__m128i *)(sel_out + count), _mm_shuffle_epi8(rows, ctrl));
            count += (uint32_t)_mm_popcnt_u32(m);
        } else {
            for (; m != 0; m = _blsr_u32(m))
                sel_out[count++] = r[_tzcnt_u32(m)];
        }
    }
    return count;
}

SP_KINLINE uint32_t run_op(const int64_t *a, const uint64_t *va, const int64_t *b,
                           const uint64_t *vb, __m256i k, const uint16_t *restrict sel_in,
                           uint32_t n, enum sp_cmp op, uint16_t *restrict sel_out, bool f64,
                           bool col) {
    if (sel_in != NULL)
        return selected(a, va, b, vb, k, sel_in, n, op, sel_out, f64, col);
    return dense(a, va, b, vb, k, n, op, sel_out, f64, col);
}

SP_KINLINE uint32_t dispatch(const int64_t *a, const uint64_t *va, const int64_t *b,
                             const uint64_t *vb, __m256i k, const uint16_t *restrict sel_in,
                             uint32_t n, enum sp_cmp op, uint16_t *restrict sel_out, bool f64,
                             bool col) {
    switch (op) {
    case SP_CMP_EQ:
        return run_op(a, va, b, vb, k, sel_in, n, SP_CMP_EQ, sel_out, f64, col);
    case SP_CMP_NE:
        return run_op(a, va, b, vb, k, sel_in, n, SP_CMP_NE, sel_out, f64, col);
    case SP_CMP_LT:
        return run_op(a, va, b, vb, k, sel_in, n, SP_CMP_LT, sel_out, f64, col);
    case SP_CMP_LE:
        return run_op(a, va, b, vb, k, sel_in, n, SP_CMP_LE, sel_out, f64, col);
    case SP_CMP_GT:
        return run_op(a, va, b, vb, k, sel_in, n, SP_CMP_GT, sel_out, f64, col);
    case SP_CMP_GE:
        return run_op(a, va, b, vb, k, sel_in, n, SP_CMP_GE, sel_out, f64, col);
    }
    return 0;
}

uint32_t sp_filter_cmp_f64_avx2(const double *restrict v, const uint64_t *restrict validity,
                                const uint16_t *restrict sel_in, uint32_t n, enum sp_cmp op,
                                double k, uint16_t *restrict sel_out) {
    return dispatch((const int64_t *)v, validity, NULL, NULL,
                    _mm256_castpd_si256(_mm256_set1_pd(k)), sel_in, n, op, sel_out, true, false);
}

uint32_t sp_filter_cmp_i64_col_avx2(const int64_t *restrict a, const uint64_t *restrict va,
                                    const int64_t *restrict b, const uint64_t *restrict vb,
                                    const uint16_t *restrict sel_in, uint32_t n, enum sp_cmp op,
                                    uint16_t *restrict sel_out) {
    return dispatch(a, va, b, vb, _mm256_setzero_si256(), sel_in, n, op, sel_out, false, true);
}

uint32_t sp_filter_cmp_f64_col_avx2(const double *restrict a, const uint64_t *restrict va,
                                    const double *restrict b, const uint64_t *restrict vb,
                                    const uint16_t *restrict sel_in, uint32_t n, enum sp_cmp op,
                                    uint16_t *restrict sel_out) {
    return dispatch((const int64_t *)a, va, (const int64_t *)b, vb, _mm256_setzero_si256(), sel_in,
                    n, op, sel_out, true, true);
}
