/*
 * kernels/filter/filter_avx2.c - AVX2 filter_cmp_i64: compare 2x4 lanes,
 * movemask, and a lookup table from the 8-bit mask to the indexes of its set
 * bits.
 *
 * The table entry (8 byte indexes) widened to uint16 and added to the group's
 * first row gives the passing rows; for a selection it becomes a vpshufb
 * control that picks the passing entries of sel_in (values of a selection
 * are loaded one by one: vpgatherdq is slower than that on recent cores). A whole group of 8 is
 * stored (16 bytes) and the count advances by the popcount, so entries past
 * the count get scratch values, always below n: count <= the group's first
 * index and the group ends at or before n. The last partial group is done
 * with masked loads (no row at or past n is read) and a tzcnt loop.
 * Without a selection the validity bitmap is read a word (64 rows) at a time
 * and groups with no valid row are skipped.
 *
 * filter_eq_str tests 2 views (32 bytes) per compare: (view ^ want) & mask
 * == 0 lane-wise is the head test of filter.h, which decides short equality;
 * the few rows that pass it for long equality or prefix are finished with
 * sp_str_match. Groups of 8 rows are emitted through the same table.
 */
#include <immintrin.h>

#include "kernels/filter/filter.h"

/* Byte indexes of the set bits of each 8-bit mask, packed low byte first. */
static const uint64_t set_bit_index[256] = {
    0x0000000000000000u, 0x0000000000000000u, 0x0000000000000001u, 0x0000000000000100u,
    0x0000000000000002u, 0x0000000000000200u, 0x0000000000000201u, 0x0000000000020100u,
    0x0000000000000003u, 0x0000000000000300u, 0x0000000000000301u, 0x0000000000030100u,
    0x0000000000000302u, 0x0000000000030200u, 0x0000000000030201u, 0x0000000003020100u,
    0x0000000000000004u, 0x0000000000000400u, 0x0000000000000401u, 0x0000000000040100u,
    0x0000000000000402u, 0x0000000000040200u, 0x0000000000040201u, 0x0000000004020100u,
    0x0000000000000403u, 0x0000000000040300u, 0x0000000000040301u, 0x0000000004030100u,
    0x0000000000040302u, 0x0000000004030200u, 0x0000000004030201u, 0x0000000403020100u,
    0x0000000000000005u, 0x0000000000000500u, 0x0000000000000501u, 0x0000000000050100u,
    0x0000000000000502u, 0x0000000000050200u, 0x0000000000050201u, 0x0000000005020100u,
    0x0000000000000503u, 0x0000000000050300u, 0x0000000000050301u, 0x0000000005030100u,
    0x0000000000050302u, 0x0000000005030200u, 0x0000000005030201u, 0x0000000503020100u,
    0x0000000000000504u, 0x0000000000050400u, 0x0000000000050401u, 0x0000000005040100u,
    0x0000000000050402u, 0x0000000005040200u, 0x0000000005040201u, 0x0000000504020100u,
    0x0000000000050403u, 0x0000000005040300u, 0x0000000005040301u, 0x0000000504030100u,
    0x0000000005040302u, 0x0000000504030200u, 0x0000000504030201u, 0x0000050403020100u,
    0x0000000000000006u, 0x0000000000000600u, 0x0000000000000601u, 0x0000000000060100u,
    0x0000000000000602u, 0x0000000000060200u, 0x0000000000060201u, 0x0000000006020100u,
    0x0000000000000603u, 0x0000000000060300u, 0x0000000000060301u, 0x0000000006030100u,
    0x0000000000060302u, 0x0000000006030200u, 0x0000000006030201u, 0x0000000603020100u,
    0x0000000000000604u, 0x0000000000060400u, 0x0000000000060401u, 0x0000000006040100u,
    0x0000000000060402u, 0x0000000006040200u, 0x0000000006040201u, 0x0000000604020100u,
    0x0000000000060403u, 0x0000000006040300u, 0x0000000006040301u, 0x0000000604030100u,
    0x0000000006040302u, 0x0000000604030200u, 0x0000000604030201u, 0x0000060403020100u,
    0x0000000000000605u, 0x0000000000060500u, 0x0000000000060501u, 0x0000000006050100u,
    0x0000000000060502u, 0x0000000006050200u, 0x0000000006050201u, 0x0000000605020100u,
    0x0000000000060503u, 0x0000000006050300u, 0x0000000006050301u, 0x0000000605030100u,
    0x0000000006050302u, 0x0000000605030200u, 0x0000000605030201u, 0x0000060503020100u,
    0x0000000000060504u, 0x0000000006050400u, 0x0000000006050401u, 0x0000000605040100u,
    0x0000000006050402u, 0x0000000605040200u, 0x0000000605040201u, 0x0000060504020100u,
    0x0000000006050403u, 0x0000000605040300u, 0x0000000605040301u, 0x0000060504030100u,
    0x0000000605040302u, 0x0000060504030200u, 0x0000060504030201u, 0x0006050403020100u,
    0x0000000000000007u, 0x0000000000000700u, 0x0000000000000701u, 0x0000000000070100u,
    0x0000000000000702u, 0x0000000000070200u, 0x0000000000070201u, 0x0000000007020100u,
    0x0000000000000703u, 0x0000000000070300u, 0x0000000000070301u, 0x0000000007030100u,
    0x0000000000070302u, 0x0000000007030200u, 0x0000000007030201u, 0x0000000703020100u,
    0x0000000000000704u, 0x0000000000070400u, 0x0000000000070401u, 0x0000000007040100u,
    0x0000000000070402u, 0x0000000007040200u, 0x0000000007040201u, 0x0000000704020100u,
    0x0000000000070403u, 0x0000000007040300u, 0x0000000007040301u, 0x0000000704030100u,
    0x0000000007040302u, 0x0000000704030200u, 0x0000000704030201u, 0x0000070403020100u,
    0x0000000000000705u, 0x0000000000070500u, 0x0000000000070501u, 0x0000000007050100u,
    0x0000000000070502u, 0x0000000007050200u, 0x0000000007050201u, 0x0000000705020100u,
    0x0000000000070503u, 0x0000000007050300u, 0x0000000007050301u, 0x0000000705030100u,
    0x0000000007050302u, 0x0000000705030200u, 0x0000000705030201u, 0x0000070503020100u,
    0x0000000000070504u, 0x0000000007050400u, 0x0000000007050401u, 0x0000000705040100u,
    0x0000000007050402u, 0x0000000705040200u, 0x0000000705040201u, 0x0000070504020100u,
    0x0000000007050403u, 0x0000000705040300u, 0x0000000705040301u, 0x0000070504030100u,
    0x0000000705040302u, 0x0000070504030200u, 0x0000070504030201u, 0x0007050403020100u,
    0x0000000000000706u, 0x0000000000070600u, 0x0000000000070601u, 0x0000000007060100u,
    0x0000000000070602u, 0x0000000007060200u, 0x0000000007060201u, 0x0000000706020100u,
    0x0000000000070603u, 0x0000000007060300u, 0x0000000007060301u, 0x0000000706030100u,
    0x0000000007060302u, 0x0000000706030200u, 0x0000000706030201u, 0x0000070603020100u,
    0x0000000000070604u, 0x0000000007060400u, 0x0000000007060401u, 0x0000000706040100u,
    0x0000000007060402u, 0x0000000706040200u, 0x0000000706040201u, 0x0000070604020100u,
    0x0000000007060403u, 0x0000000706040300u, 0x0000000706040301u, 0x0000070604030100u,
    0x0000000706040302u, 0x0000070604030200u, 0x0000070604030201u, 0x0007060403020100u,
    0x0000000000070605u, 0x0000000007060500u, 0x0000000007060501u, 0x0000000706050100u,
    0x0000000007060502u, 0x0000000706050200u, 0x0000000706050201u, 0x0000070605020100u,
    0x0000000007060503u, 0x0000000706050300u, 0x0000000706050301u, 0x0000070605030100u,
    0x0000000706050302u, 0x0000070605030200u, 0x0000070605030201u, 0x0007060503020100u,
    0x0000000007060504u, 0x0000000706050400u, 0x0000000706050401u, 0x0000070605040100u,
    0x0000000706050402u, 0x0000070605040200u, 0x0000070605040201u, 0x0007060504020100u,
    0x0000000706050403u, 0x0000070605040300u, 0x0000070605040301u, 0x0007060504030100u,
    0x0000070605040302u, 0x0007060504030200u, 0x0007060504030201u, 0x0706050403020100u,
};

/* The 4-bit mask of lanes with x OP k, before inversion: EQ/NE use x == k,
 * LT/GE use k > x, GT/LE use x > k. */
SP_KINLINE uint32_t cmp4(__m256i x, __m256i k, enum sp_cmp op) {
    __m256i r;

    if (op == SP_CMP_EQ || op == SP_CMP_NE)
        r = _mm256_cmpeq_epi64(x, k);
    else if (op == SP_CMP_LT || op == SP_CMP_GE)
        r = _mm256_cmpgt_epi64(k, x);
    else
        r = _mm256_cmpgt_epi64(x, k);
    return (uint32_t)_mm256_movemask_pd(_mm256_castsi256_pd(r));
}

/* Mask of the 8 lanes x0:x1 OP k. */
SP_KINLINE uint32_t cmp8(__m256i x0, __m256i x1, __m256i k, enum sp_cmp op) {
    uint32_t m = cmp4(x0, k, op) | cmp4(x1, k, op) << 4;
    bool invert = op == SP_CMP_NE || op == SP_CMP_LE || op == SP_CMP_GE;

    return invert ? m ^ 0xffu : m;
}

/* Lane masks for vpmaskmovq from the low 4 bits of m. */
SP_KINLINE __m256i lane_mask(uint32_t m) {
    const __m256i bit = _mm256_setr_epi64x(1, 2, 4, 8);
    __m256i b = _mm256_and_si256(_mm256_set1_epi64x((long long)m), bit);
    return _mm256_cmpeq_epi64(b, bit);
}

/* The 8 uint16 indexes of the set bits of m (scratch past the popcount). */
SP_KINLINE __m128i bit_indexes(uint32_t m) {
    return _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)set_bit_index[m]));
}

/* Append rows base + bit for each set bit of m, exactly. */
SP_KINLINE uint32_t emit_exact(uint16_t *restrict out, uint32_t m, uint32_t base) {
    uint32_t cnt = 0;

    for (; m != 0; m = _blsr_u32(m))
        out[cnt++] = (uint16_t)(base + _tzcnt_u32(m));
    return cnt;
}

SP_KINLINE uint32_t dense(const int64_t *restrict v, const uint64_t *restrict validity, uint32_t n,
                          enum sp_cmp op, int64_t k, uint16_t *restrict sel_out) {
    const __m256i kv = _mm256_set1_epi64x(k);
    uint32_t count = 0;

    for (uint32_t base = 0; base < n; base += 64) {
        uint64_t live = _bzhi_u64(~(uint64_t)0, SP_KMIN(n - base, 64u));

        if (validity != NULL)
            live &= validity[base >> 6];
        if (live == 0)
            continue;
        for (uint32_t j = 0; j < 64; j += 8) {
            uint32_t group = (uint32_t)(live >> j) & 0xffu;
            uint32_t row = base + j;
            uint32_t m;

            if (group == 0)
                continue;
            if (n - row >= 8) {
                __m256i x0 = _mm256_loadu_si256((const __m256i *)(v + row));
                __m256i x1 = _mm256_loadu_si256((const __m256i *)(v + row + 4));
                m = cmp8(x0, x1, kv, op) & group;
                __m128i rows = _mm_add_epi16(bit_indexes(m), _mm_set1_epi16((short)row));
                _mm_storeu_si128((__m128i *)(sel_out + count), rows);
                count += (uint32_t)_mm_popcnt_u32(m);
            } else {
                const long long *p = (const long long *)(v + row);
                __m256i x0 = _mm256_maskload_epi64(p, lane_mask(group));
                __m256i x1 = kv; /* lanes 4-7 are past n unless group has them */
                if (n - row > 4)
                    x1 = _mm256_maskload_epi64(p + 4, lane_mask(group >> 4));
                m = cmp8(x0, x1, kv, op) & group;
                count += emit_exact(sel_out + count, m, row);
            }
        }
    }
    return count;
}

SP_KINLINE uint32_t selected(const int64_t *restrict v, const uint64_t *restrict validity,
                             const uint16_t *restrict sel_in, uint32_t n, enum sp_cmp op, int64_t k,
                             uint16_t *restrict sel_out) {
    const __m256i kv = _mm256_set1_epi64x(k);
    const __m128i spread = _mm_set1_epi16(0x0202);
    const __m128i pair = _mm_set1_epi16(0x0100);
    uint32_t count = 0;
    uint32_t i = 0;

    for (; n - i >= 8; i += 8) {
        const uint16_t *rows = sel_in + i;
        __m128i sel = _mm_loadu_si128((const __m128i *)rows);
        /* plain loads: vpgatherdq is slower than scalar code on recent cores */
        __m256i x0 = _mm256_setr_epi64x(v[rows[0]], v[rows[1]], v[rows[2]], v[rows[3]]);
        __m256i x1 = _mm256_setr_epi64x(v[rows[4]], v[rows[5]], v[rows[6]], v[rows[7]]);
        uint32_t m = cmp8(x0, x1, kv, op);

        if (validity != NULL && m != 0) {
            uint32_t valid = 0;
            for (uint32_t j = 0; j < 8; j++)
                valid |= (uint32_t)sp_valid_bit(validity, rows[j]) << j;
            m &= valid;
        }
        /* byte index b of a passing entry -> bytes 2b, 2b+1 of sel */
        __m128i ctrl = _mm_add_epi16(_mm_mullo_epi16(bit_indexes(m), spread), pair);
        _mm_storeu_si128((__m128i *)(sel_out + count), _mm_shuffle_epi8(sel, ctrl));
        count += (uint32_t)_mm_popcnt_u32(m);
    }
    for (; i < n; i++) {
        uint32_t row = sel_in[i];
        if (sp_filter_cmp(v[row], op, k) && (validity == NULL || sp_valid_bit(validity, row)))
            sel_out[count++] = (uint16_t)row;
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

uint32_t sp_filter_cmp_i64_avx2(const int64_t *restrict v, const uint64_t *restrict validity,
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

/* Lanes of the 2 views at x whose half passes the head test. */
SP_KINLINE uint32_t head4(__m256i x, __m256i want, __m256i mask) {
    __m256i miss = _mm256_and_si256(_mm256_xor_si256(x, want), mask);
    __m256i ok = _mm256_cmpeq_epi64(miss, _mm256_setzero_si256());
    return (uint32_t)_mm256_movemask_pd(_mm256_castsi256_pd(ok));
}

SP_KINLINE uint32_t eq_str_simd(const struct spate_string *restrict v,
                                const uint64_t *restrict validity, const uint16_t *restrict sel_in,
                                uint32_t n, const struct sp_str_key *key, enum sp_str_mode mode,
                                uint16_t *restrict sel_out) {
    const __m256i want = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)key->want));
    const __m256i mask = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)key->mask));
    const __m128i spread = _mm_set1_epi16(0x0202);
    const __m128i pair = _mm_set1_epi16(0x0100);
    uint32_t count = 0;
    uint32_t i = 0;

    for (; n - i >= 8; i += 8) {
        uint32_t lanes = 0;
        uint32_t hit;

        if (sel_in != NULL) {
            const uint16_t *r = sel_in + i;
            for (uint32_t g = 0; g < 8; g += 2) {
                __m256i x =
                    _mm256_loadu2_m128i((const __m128i *)&v[r[g + 1]], (const __m128i *)&v[r[g]]);
                lanes |= head4(x, want, mask) << (2 * g);
            }
            hit = _pext_u32(lanes & (lanes >> 1), 0x5555);
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
            __m128i sel = _mm_loadu_si128((const __m128i *)r);
            __m128i ctrl = _mm_add_epi16(_mm_mullo_epi16(bit_indexes(hit), spread), pair);
            _mm_storeu_si128((__m128i *)(sel_out + count), _mm_shuffle_epi8(sel, ctrl));
        } else {
            for (uint32_t g = 0; g < 8; g += 2) {
                __m256i x = _mm256_loadu_si256((const __m256i *)&v[i + g]);
                lanes |= head4(x, want, mask) << (2 * g);
            }
            hit = _pext_u32(lanes & (lanes >> 1), 0x5555);
            if (validity != NULL) /* i is a multiple of 8: one word holds the 8 bits */
                hit &= (uint32_t)(validity[i >> 6] >> (i & 63));
            hit &= 0xffu;
            if (mode != SP_STR_EQ_SHORT) {
                for (uint32_t bits = hit; bits != 0; bits = _blsr_u32(bits)) {
                    uint32_t j = _tzcnt_u32(bits);
                    if (!sp_str_match(&v[i + j], key, mode))
                        hit &= ~(1u << j);
                }
            }
            __m128i rows = _mm_add_epi16(bit_indexes(hit), _mm_set1_epi16((short)i));
            _mm_storeu_si128((__m128i *)(sel_out + count), rows);
        }
        count += (uint32_t)_mm_popcnt_u32(hit);
    }
    for (; i < n; i++) {
        uint32_t row = sel_in != NULL ? sel_in[i] : i;
        if ((validity == NULL || sp_valid_bit(validity, row)) && sp_str_match(&v[row], key, mode))
            sel_out[count++] = (uint16_t)row;
    }
    return count;
}

uint32_t sp_filter_eq_str_avx2(const struct spate_string *restrict v,
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
