/*
 * kernels/text/text.h - the text kernels of every ISA, and the byte classes
 * they share.
 *
 * Exact semantics (the scalar file is the reference, SIMD files match it bit
 * for bit):
 *   - whitespace is ' ', '\t', '\n', '\v', '\f', '\r'; every other byte,
 *     NUL and 0x80-0xFF included, belongs to a word;
 *   - tokenize_set is tokenize_ws with the bytes of the set as separators
 *     (any byte value; an empty set makes the whole text one word);
 *   - tokenize_ws with max_words == 0 returns 0 and *consumed = 0. When the
 *     count reaches max_words it stops at once and *consumed is the end of the
 *     last word written (starts[max_words-1] + lens[max_words-1]), which is at
 *     or before the start of the next word; otherwise *consumed = len. So a
 *     caller that resumes at text + *consumed gets the remaining words;
 *   - find_newlines likewise: max_pos == 0 gives 0 and *consumed = 0; when the
 *     count reaches max_pos, *consumed = pos[max_pos-1] + 1; otherwise len;
 *   - make_views: len, the first min(len, 4) bytes in prefix and, for
 *     len <= 12, bytes 4..len-1 in u.inlined; unused bytes are zero. Longer
 *     strings point into text (u.ptr = text + start).
 *   - SIMD variants may write scratch values into starts/lens/pos at indexes
 *     at or past the returned count, but never at or past max_words/max_pos.
 */
#ifndef SP_KERNELS_TEXT_H
#define SP_KERNELS_TEXT_H

#include "kernels/common.h"

/* ---- Byte classes ---- */

/* ASCII whitespace as isspace() in the C locale: ' ' and '\t'..'\r'. */
SP_KINLINE int sp_text_is_ws(unsigned char c) {
    return c == ' ' || (unsigned char)(c - '\t') <= '\r' - '\t';
}

/* ---- Entry points (tables in kernels/dispatch.c) ---- */

struct sp_byteset;

uint32_t sp_text_tokenize_set_scalar(const char *restrict text, uint32_t len,
                                     const struct sp_byteset *restrict set,
                                     uint32_t *restrict starts, uint32_t *restrict lens,
                                     uint32_t max_words, uint32_t *restrict consumed);
uint32_t sp_text_tokenize_ws_scalar(const char *restrict text, uint32_t len,
                                    uint32_t *restrict starts, uint32_t *restrict lens,
                                    uint32_t max_words, uint32_t *restrict consumed);
uint32_t sp_text_find_newlines_scalar(const char *restrict text, uint32_t len,
                                      uint32_t *restrict pos, uint32_t max_pos,
                                      uint32_t *restrict consumed);
void sp_text_make_views_scalar(const char *text, const uint32_t *restrict starts,
                               const uint32_t *restrict lens, uint32_t n,
                               struct spate_string *restrict out);

#ifdef SPATE_HAVE_AVX2
uint32_t sp_text_tokenize_set_avx2(const char *restrict text, uint32_t len,
                                   const struct sp_byteset *restrict set, uint32_t *restrict starts,
                                   uint32_t *restrict lens, uint32_t max_words,
                                   uint32_t *restrict consumed);
uint32_t sp_text_tokenize_ws_avx2(const char *restrict text, uint32_t len,
                                  uint32_t *restrict starts, uint32_t *restrict lens,
                                  uint32_t max_words, uint32_t *restrict consumed);
uint32_t sp_text_find_newlines_avx2(const char *restrict text, uint32_t len, uint32_t *restrict pos,
                                    uint32_t max_pos, uint32_t *restrict consumed);
#endif

#ifdef SPATE_HAVE_AVX512
uint32_t sp_text_tokenize_set_avx512(const char *restrict text, uint32_t len,
                                     const struct sp_byteset *restrict set,
                                     uint32_t *restrict starts, uint32_t *restrict lens,
                                     uint32_t max_words, uint32_t *restrict consumed);
uint32_t sp_text_tokenize_ws_avx512(const char *restrict text, uint32_t len,
                                    uint32_t *restrict starts, uint32_t *restrict lens,
                                    uint32_t max_words, uint32_t *restrict consumed);
uint32_t sp_text_find_newlines_avx512(const char *restrict text, uint32_t len,
                                      uint32_t *restrict pos, uint32_t max_pos,
                                      uint32_t *restrict consumed);
#endif

#endif /* SP_KERNELS_TEXT_H */
