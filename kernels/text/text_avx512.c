/*
 * kernels/text/text_avx512.c - AVX-512BW text kernels: 64 bytes per mask.
 *
 * A byte is whitespace when a vpshufb lookup on its low nibble gives the byte
 * back (the table holds ' ' at 0 and '\t'..'\r' at 9..13; bytes >= 0x80 map
 * to 0), which is two instructions per 64 bytes. The tail is read with a
 * masked load, so nothing at or past text + len is touched; masked-off bytes
 * read as ' ' (tokenize) or 0 (newlines). Word positions come out of the
 * masks 16 bits at a time with vpcompressd (about 1.2x the tzcnt loops of
 * text_simd.h, which serve the last blocks before the output fills and the
 * newline kernel). make_views has no AVX-512 variant (a masked-load version
 * was no faster): the avx512 table in kernels/dispatch.c points at the
 * scalar one.
 */
#include "kernels/text/text_simd.h"

/* The whitespace lookup, repeated in each 128-bit lane. */
static inline __m512i ws_table(void) {
    return _mm512_broadcast_i32x4(
        _mm_setr_epi8(' ', 0, 0, 0, 0, 0, 0, 0, 0, '\t', '\n', '\v', '\f', '\r', 0, 0));
}

static inline uint64_t ws_mask(__m512i bytes, __m512i table) {
    return _mm512_cmpeq_epi8_mask(_mm512_shuffle_epi8(table, bytes), bytes);
}

/*
 * Positions of the set bits of bits, 16 at a time: vpcompressd of pos (base +
 * 0..15, then +16...) under each 16-bit slice, stored whole. Needs room for
 * 64 entries at out (scratch past the count).
 */
static inline uint32_t emit_compress(uint32_t *restrict out, uint64_t bits, __m512i pos) {
    const __m512i sixteen = _mm512_set1_epi32(16);
    uint32_t n = 0;

    for (int q = 0; q < 4; q++) {
        __mmask16 m = (__mmask16)(bits >> (16 * q));
        _mm512_storeu_si512(out + n, _mm512_maskz_compress_epi32(m, pos));
        n += (uint32_t)_mm_popcnt_u32(m);
        pos = _mm512_add_epi32(pos, sixteen);
    }
    return n;
}

/* A block with room (sp_tok_roomy): never fills the output. */
static inline void block_fast(struct sp_tok *t, uint64_t st, uint64_t en, uint32_t base) {
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m512i pos = _mm512_add_epi32(iota, _mm512_set1_epi32((int)base));
    uint32_t nen;

    t->ns += emit_compress(t->starts + t->ns, st, pos);
    nen = emit_compress(t->lens + t->ne, en, pos);
    /* lens[ne..) hold end offsets: subtract the starts, 16 lanes at a time,
     * touching only the nen lanes */
    for (uint32_t j = 0; j < nen; j += 16) {
        __mmask16 m = (__mmask16)_bzhi_u32(0xffff, nen - j);
        uint32_t *lens = t->lens + t->ne + j;
        __m512i ends = _mm512_maskz_loadu_epi32(m, lens);
        __m512i starts = _mm512_maskz_loadu_epi32(m, t->starts + t->ne + j);
        _mm512_mask_storeu_epi32(lens, m, _mm512_sub_epi32(ends, starts));
    }
    t->ne += nen;
}

static inline bool block(struct sp_tok *t, uint64_t ws, uint32_t base, uint32_t *consumed) {
    uint64_t st;
    uint64_t en;

    sp_tok_masks(t, ws, &st, &en);
    if (!sp_tok_roomy(t))
        return sp_tok_block_exact(t, st, en, base, consumed);
    block_fast(t, st, en, base);
    return false;
}

uint32_t sp_text_tokenize_ws_avx512(const char *restrict text, uint32_t len,
                                    uint32_t *restrict starts, uint32_t *restrict lens,
                                    uint32_t max_words, uint32_t *restrict consumed) {
    struct sp_tok t = {starts, lens, max_words, 0, 0, 0};
    const __m512i table = ws_table();
    uint32_t base = 0;

    if (max_words == 0) {
        *consumed = 0;
        return 0;
    }
    for (; len - base >= SP_TEXT_BLOCK; base += SP_TEXT_BLOCK) {
        __m512i bytes = _mm512_loadu_si512((const void *)(text + base));
        if (block(&t, ws_mask(bytes, table), base, consumed))
            return t.ne;
    }
    if (base < len) {
        __mmask64 in = _bzhi_u64(~(uint64_t)0, len - base);
        __m512i bytes = _mm512_mask_loadu_epi8(_mm512_set1_epi8(' '), in, text + base);
        if (block(&t, ws_mask(bytes, table), base, consumed))
            return t.ne;
    }
    return sp_tok_finish(&t, len, consumed);
}

/*
 * tokenize_set's separator mask: bit ((b >> 4) & 7) of the set's nibble table
 * for b's top bit, looked up by b's low nibble, tested against that bit
 * (looked up by b's high nibble): three vpshufb, a blend and a test per 64
 * bytes, for any set of byte values.
 */
struct set_tables {
    __m512i t0, t1, bit;
};

static inline struct set_tables set_tables(const struct sp_byteset *set) {
    struct set_tables st;
    st.t0 = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(const void *)set->lo[0]));
    st.t1 = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(const void *)set->lo[1]));
    st.bit = _mm512_broadcast_i32x4(
        _mm_setr_epi8(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128));
    return st;
}

static inline uint64_t set_mask(__m512i bytes, const struct set_tables *st) {
    const __m512i nib = _mm512_set1_epi8(0x0f);
    __m512i lo = _mm512_and_si512(bytes, nib);
    __m512i hi = _mm512_and_si512(_mm512_srli_epi16(bytes, 4), nib);
    __m512i row =
        _mm512_mask_blend_epi8(_mm512_movepi8_mask(bytes), _mm512_shuffle_epi8(st->t0, lo),
                               _mm512_shuffle_epi8(st->t1, lo));
    return _mm512_test_epi8_mask(row, _mm512_shuffle_epi8(st->bit, hi));
}

uint32_t sp_text_tokenize_set_avx512(const char *restrict text, uint32_t len,
                                     const struct sp_byteset *restrict set,
                                     uint32_t *restrict starts, uint32_t *restrict lens,
                                     uint32_t max_words, uint32_t *restrict consumed) {
    struct sp_tok t = {starts, lens, max_words, 0, 0, 0};
    const struct set_tables st = set_tables(set);
    uint32_t base = 0;

    if (max_words == 0) {
        *consumed = 0;
        return 0;
    }
    for (; len - base >= SP_TEXT_BLOCK; base += SP_TEXT_BLOCK) {
        __m512i bytes = _mm512_loadu_si512((const void *)(text + base));
        if (block(&t, set_mask(bytes, &st), base, consumed))
            return t.ne;
    }
    if (base < len) { /* bytes past the end separate like a delimiter */
        __mmask64 in = _bzhi_u64(~(uint64_t)0, len - base);
        __m512i bytes = _mm512_maskz_loadu_epi8(in, text + base);
        if (block(&t, set_mask(bytes, &st) | ~in, base, consumed))
            return t.ne;
    }
    return sp_tok_finish(&t, len, consumed);
}

uint32_t sp_text_find_newlines_avx512(const char *restrict text, uint32_t len,
                                      uint32_t *restrict pos, uint32_t max_pos,
                                      uint32_t *restrict consumed) {
    struct sp_nl t = {pos, max_pos, 0};
    const __m512i nl = _mm512_set1_epi8('\n');
    uint32_t base = 0;

    if (max_pos == 0) {
        *consumed = 0;
        return 0;
    }
    for (; len - base >= SP_TEXT_BLOCK; base += SP_TEXT_BLOCK) {
        __m512i bytes = _mm512_loadu_si512((const void *)(text + base));
        if (sp_nl_block(&t, _mm512_cmpeq_epi8_mask(bytes, nl), base, consumed))
            return t.np;
    }
    if (base < len) {
        __mmask64 in = _bzhi_u64(~(uint64_t)0, len - base);
        __m512i bytes = _mm512_maskz_loadu_epi8(in, text + base);
        if (sp_nl_block(&t, _mm512_mask_cmpeq_epi8_mask(in, bytes, nl), base, consumed))
            return t.np;
    }
    *consumed = len;
    return t.np;
}
