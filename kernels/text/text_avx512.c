/*
 * kernels/text/text_avx512.c - AVX-512BW text kernels: 64 bytes per mask.
 *
 * A byte is whitespace when a vpshufb lookup on its low nibble gives the byte
 * back (the table holds ' ' at 0 and '\t'..'\r' at 9..13; bytes >= 0x80 map
 * to 0), which is two instructions per 64 bytes. The tail is read with a
 * masked load, so nothing at or past text + len is touched; masked-off bytes
 * read as ' ' (tokenize) or 0 (newlines). Positions come out of the masks in
 * text_simd.h. make_views has no AVX-512 variant: the avx512 table in
 * kernels/dispatch.c points at the scalar one.
 */
#include "kernels/text/text_simd.h"

/* The whitespace lookup, repeated in each 128-bit lane. */
static inline __m512i ws_table(void)
{
    return _mm512_broadcast_i32x4(
        _mm_setr_epi8(' ', 0, 0, 0, 0, 0, 0, 0, 0, '\t', '\n', '\v', '\f', '\r', 0, 0));
}

static inline uint64_t ws_mask(__m512i bytes, __m512i table)
{
    return _mm512_cmpeq_epi8_mask(_mm512_shuffle_epi8(table, bytes), bytes);
}

uint32_t sp_text_tokenize_ws_avx512(const char *restrict text, uint32_t len,
                                    uint32_t *restrict starts, uint32_t *restrict lens,
                                    uint32_t max_words, uint32_t *restrict consumed)
{
    struct sp_tok t = {starts, lens, max_words, 0, 0, 0};
    const __m512i table = ws_table();
    uint32_t base = 0;

    if (max_words == 0) {
        *consumed = 0;
        return 0;
    }
    for (; len - base >= SP_TEXT_BLOCK; base += SP_TEXT_BLOCK) {
        __m512i bytes = _mm512_loadu_si512((const void *)(text + base));
        if (sp_tok_block(&t, ws_mask(bytes, table), base, consumed))
            return t.ne;
    }
    if (base < len) {
        __mmask64 in = _bzhi_u64(~(uint64_t)0, len - base);
        __m512i bytes = _mm512_mask_loadu_epi8(_mm512_set1_epi8(' '), in, text + base);
        if (sp_tok_block(&t, ws_mask(bytes, table), base, consumed))
            return t.ne;
    }
    return sp_tok_finish(&t, len, consumed);
}

uint32_t sp_text_find_newlines_avx512(const char *restrict text, uint32_t len,
                                      uint32_t *restrict pos, uint32_t max_pos,
                                      uint32_t *restrict consumed)
{
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
