/*
 * kernels/text/text_avx2.c - AVX2 text kernels: two 32-byte compares per
 * 64-bit mask.
 *
 * Same classification as the AVX-512 file (vpshufb on the low nibble gives a
 * whitespace byte back), with two vpmovmskb per 64 bytes. The tail of fewer
 * than 64 bytes is copied into a stack block padded with ' ' (tokenize) or 0
 * (newlines), so nothing at or past text + len is read. Positions come out of
 * the masks in text_simd.h. make_views has no AVX2 variant: the avx2 table in
 * kernels/dispatch.c points at the scalar one.
 */
#include "kernels/text/text_simd.h"

static inline __m256i ws_table(void) {
    return _mm256_setr_epi8(' ', 0, 0, 0, 0, 0, 0, 0, 0, '\t', '\n', '\v', '\f', '\r', 0, 0, ' ', 0,
                            0, 0, 0, 0, 0, 0, 0, '\t', '\n', '\v', '\f', '\r', 0, 0);
}

static inline uint64_t eq_mask(__m256i lo, __m256i hi, __m256i want_lo, __m256i want_hi) {
    uint32_t m_lo = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(lo, want_lo));
    uint32_t m_hi = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(hi, want_hi));
    return (uint64_t)m_hi << 32 | m_lo;
}

/* Whitespace mask of the 64 bytes at p. */
static inline uint64_t ws_mask(const char *p, __m256i table) {
    __m256i lo = _mm256_loadu_si256((const __m256i *)p);
    __m256i hi = _mm256_loadu_si256((const __m256i *)(p + 32));
    return eq_mask(lo, hi, _mm256_shuffle_epi8(table, lo), _mm256_shuffle_epi8(table, hi));
}

/* '\n' mask of the 64 bytes at p. */
static inline uint64_t nl_mask(const char *p) {
    const __m256i nl = _mm256_set1_epi8('\n');
    __m256i lo = _mm256_loadu_si256((const __m256i *)p);
    __m256i hi = _mm256_loadu_si256((const __m256i *)(p + 32));
    return eq_mask(lo, hi, nl, nl);
}

uint32_t sp_text_tokenize_ws_avx2(const char *restrict text, uint32_t len,
                                  uint32_t *restrict starts, uint32_t *restrict lens,
                                  uint32_t max_words, uint32_t *restrict consumed) {
    struct sp_tok t = {starts, lens, max_words, 0, 0, 0};
    const __m256i table = ws_table();
    uint32_t base = 0;

    if (max_words == 0) {
        *consumed = 0;
        return 0;
    }
    for (; len - base >= SP_TEXT_BLOCK; base += SP_TEXT_BLOCK) {
        if (sp_tok_block(&t, ws_mask(text + base, table), base, consumed))
            return t.ne;
    }
    if (base < len) {
        _Alignas(32) char tail[SP_TEXT_BLOCK];
        memset(tail, ' ', sizeof tail);
        memcpy(tail, text + base, len - base);
        if (sp_tok_block(&t, ws_mask(tail, table), base, consumed))
            return t.ne;
    }
    return sp_tok_finish(&t, len, consumed);
}

/* tokenize_set's separator mask (the lookups of text_avx512.c, 32 bytes at a time). */
struct set_tables {
    __m256i t0, t1, bit;
};

static inline struct set_tables set_tables(const struct sp_byteset *set) {
    struct set_tables st;
    st.t0 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)set->lo[0]));
    st.t1 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)set->lo[1]));
    st.bit = _mm256_broadcastsi128_si256(
        _mm_setr_epi8(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128));
    return st;
}

static inline uint32_t set_mask32(__m256i bytes, const struct set_tables *st) {
    const __m256i nib = _mm256_set1_epi8(0x0f);
    __m256i lo = _mm256_and_si256(bytes, nib);
    __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), nib);
    __m256i row =
        _mm256_blendv_epi8(_mm256_shuffle_epi8(st->t0, lo), _mm256_shuffle_epi8(st->t1, lo), bytes);
    __m256i hit = _mm256_and_si256(row, _mm256_shuffle_epi8(st->bit, hi));
    return ~(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(hit, _mm256_setzero_si256()));
}

static inline uint64_t set_mask(const char *p, const struct set_tables *st) {
    uint32_t m_lo = set_mask32(_mm256_loadu_si256((const __m256i *)p), st);
    uint32_t m_hi = set_mask32(_mm256_loadu_si256((const __m256i *)(p + 32)), st);
    return (uint64_t)m_hi << 32 | m_lo;
}

uint32_t sp_text_tokenize_set_avx2(const char *restrict text, uint32_t len,
                                   const struct sp_byteset *restrict set, uint32_t *restrict starts,
                                   uint32_t *restrict lens, uint32_t max_words,
                                   uint32_t *restrict consumed) {
    struct sp_tok t = {starts, lens, max_words, 0, 0, 0};
    const struct set_tables st = set_tables(set);
    uint32_t base = 0;

    if (max_words == 0) {
        *consumed = 0;
        return 0;
    }
    for (; len - base >= SP_TEXT_BLOCK; base += SP_TEXT_BLOCK) {
        if (sp_tok_block(&t, set_mask(text + base, &st), base, consumed))
            return t.ne;
    }
    if (base < len) { /* bytes past the end separate like a delimiter */
        _Alignas(32) char tail[SP_TEXT_BLOCK];
        memset(tail, 0, sizeof tail);
        memcpy(tail, text + base, len - base);
        uint64_t in = _bzhi_u64(~(uint64_t)0, len - base);
        if (sp_tok_block(&t, set_mask(tail, &st) | ~in, base, consumed))
            return t.ne;
    }
    return sp_tok_finish(&t, len, consumed);
}

uint32_t sp_text_find_newlines_avx2(const char *restrict text, uint32_t len, uint32_t *restrict pos,
                                    uint32_t max_pos, uint32_t *restrict consumed) {
    struct sp_nl t = {pos, max_pos, 0};
    uint32_t base = 0;

    if (max_pos == 0) {
        *consumed = 0;
        return 0;
    }
    for (; len - base >= SP_TEXT_BLOCK; base += SP_TEXT_BLOCK) {
        if (sp_nl_block(&t, nl_mask(text + base), base, consumed))
            return t.np;
    }
    if (base < len) {
        _Alignas(32) char tail[SP_TEXT_BLOCK];
        memset(tail, 0, sizeof tail);
        memcpy(tail, text + base, len - base);
        if (sp_nl_block(&t, nl_mask(tail), base, consumed))
            return t.np;
    }
    *consumed = len;
    return t.np;
}
