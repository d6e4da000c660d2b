/*
 * kernels/join/join_avx512.c - AVX-512 probe of an i64 join table, 8 probe
 * rows at a time.
 *
 * Each group of 8 candidates loads its hashes and keys, loads the 8 home
 * slots (key, then start and count: eight 16-byte loads, a little faster
 * here than two 8-lane gathers), and resolves every lane without a
 * branch per row: count 0 is a miss, an equal key with count 1 a hit (the
 * build row is the slot's start), an unequal key moves that lane one slot on
 * and gathers again. The group's pairs are compressed and stored at once, so
 * a random mix of hits and misses costs no mispredicted branch, the scalar
 * loop's cost on a table in the caches. A group where some lane hits a
 * duplicated key, a resumed row, output room under 8 and the tail go through
 * the scalar loop (kernels/join/join.h), which gives the same pairs in the
 * same order. Builds and string probes are the scalar kernels.
 */
#include <immintrin.h>

#include "kernels/join/join.h"

#define LANES 8

/* Validity bits of the group's 8 physical rows (all set without validity). */
SP_KINLINE __mmask8 group_valid(const uint64_t *validity, const uint16_t *sel, uint32_t i) {
    if (validity == NULL)
        return 0xff;
    uint32_t m = 0;
    for (uint32_t l = 0; l < LANES; l++) {
        uint32_t phys = sel != NULL ? sel[i + l] : i + l;
        m |= (uint32_t)sp_valid_bit(validity, phys) << l;
    }
    return (__mmask8)m;
}

/* Slot s as one vector: key, then start | count << 32. */
SP_KINLINE __m128i sload(const struct sp_join_table *t, uint64_t s) {
    return _mm_load_si128((const __m128i *)(const void *)&t->slots[s]);
}

uint32_t sp_join_probe_i64_avx512(const struct sp_join_table *restrict t,
                                  const int64_t *restrict keys, const uint64_t *restrict validity,
                                  const uint16_t *restrict sel, const uint64_t *restrict hashes,
                                  uint32_t n, bool emit_unmatched, uint32_t *restrict out_probe,
                                  uint32_t *restrict out_build, uint32_t max_out,
                                  struct sp_join_cursor *restrict cur,
                                  uint64_t *restrict probe_matched,
                                  uint64_t *restrict build_matched) {
    const __m512i mask = _mm512_set1_epi64(t->mask);
    const __m512i one = _mm512_set1_epi64(1), low32 = _mm512_set1_epi64(0xffffffff);
    const __m512i iota = _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i none = _mm256_set1_epi32(-1);
    uint32_t w = 0;

    while (cur->pos < n && w < max_out) {
        uint32_t i = cur->pos;
        if (cur->k != 0 || i + LANES > n || max_out - w < LANES) {
            /* The scalar loop, to the end of this group of rows (or of the output room). */
            w += sp_join_probe_rows(t, keys, false, validity, sel, hashes, SP_KMIN(n, i + LANES),
                                    emit_unmatched, out_probe + w, out_build + w, max_out - w, cur,
                                    probe_matched, build_matched);
            continue;
        }
        for (uint32_t l = 0; l < LANES && i + SP_JOIN_AHEAD + l < n; l++)
            __builtin_prefetch(&t->slots[sp_join_home(hashes[i + SP_JOIN_AHEAD + l], t->mask)]);
        __mmask8 valid = group_valid(validity, sel, i);
        __m512i phys, key;
        if (sel != NULL) {
            __m256i rows = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(sel + i)));
            phys = _mm512_cvtepu32_epi64(rows);
            key = _mm512_mask_i32gather_epi64(_mm512_setzero_si512(), valid, rows, keys, 8);
        } else {
            phys = _mm512_add_epi64(_mm512_set1_epi64(i), iota);
            key = _mm512_maskz_loadu_epi64(valid, keys + i);
        }
        __m512i slot = _mm512_and_si512(_mm512_loadu_si512(hashes + i), mask);
        __m512i start = _mm512_setzero_si512();
        __mmask8 open = valid, hit = 0, multi = 0;
        while (open != 0) {
            uint64_t at[LANES];
            _mm512_storeu_si512(at, slot);
            __m512i a = _mm512_castsi128_si512(sload(t, at[0]));
            __m512i b = _mm512_castsi128_si512(sload(t, at[1]));
            a = _mm512_inserti64x2(a, sload(t, at[2]), 1);
            b = _mm512_inserti64x2(b, sload(t, at[3]), 1);
            a = _mm512_inserti64x2(a, sload(t, at[4]), 2);
            b = _mm512_inserti64x2(b, sload(t, at[5]), 2);
            a = _mm512_inserti64x2(a, sload(t, at[6]), 3);
            b = _mm512_inserti64x2(b, sload(t, at[7]), 3);
            __m512i skey = _mm512_unpacklo_epi64(a, b); /* keys of lanes 0..7 */
            __m512i sc = _mm512_unpackhi_epi64(a, b);   /* start | count << 32 */
            __m512i count = _mm512_srli_epi64(sc, 32);
            __mmask8 empty = _mm512_mask_cmpeq_epi64_mask(open, count, _mm512_setzero_si512());
            __mmask8 eq = _mm512_mask_cmpeq_epi64_mask(open & ~empty, skey, key);
            __mmask8 single = _mm512_mask_cmpeq_epi64_mask(eq, count, one);
            hit |= single;
            multi |= eq & ~single;
            start = _mm512_mask_and_epi64(start, single, sc, low32);
            open &= ~(empty | eq);
            slot = _mm512_and_si512(_mm512_mask_add_epi64(slot, open, slot, one), mask);
        }
        if (multi != 0) { /* a duplicated key: the scalar loop writes its rows in order */
            w += sp_join_probe_rows(t, keys, false, validity, sel, hashes, i + LANES,
                                    emit_unmatched, out_probe + w, out_build + w, max_out - w, cur,
                                    probe_matched, build_matched);
            continue;
        }
        __mmask8 out = emit_unmatched ? valid : hit;
        __m256i p32 = _mm512_cvtepi64_epi32(phys);
        __m256i b32 = _mm256_mask_mov_epi32(none, hit, _mm512_cvtepi64_epi32(start));
        _mm256_storeu_si256((__m256i *)(void *)(out_probe + w),
                            _mm256_maskz_compress_epi32(out, p32));
        _mm256_storeu_si256((__m256i *)(void *)(out_build + w),
                            _mm256_maskz_compress_epi32(out, b32));
        if ((probe_matched != NULL || build_matched != NULL) && hit != 0) {
            uint64_t rows[LANES];
            _mm512_storeu_si512(rows, start);
            for (uint32_t m = hit; m != 0; m &= m - 1) {
                uint32_t l = (uint32_t)__builtin_ctz(m);
                if (probe_matched != NULL)
                    sp_join_set_bit(probe_matched, sel != NULL ? sel[i + l] : i + l);
                if (build_matched != NULL)
                    sp_join_set_bit(build_matched, (uint32_t)rows[l]);
            }
        }
        w += (uint32_t)__builtin_popcount(out);
        cur->pos = i + LANES;
    }
    return w;
}
