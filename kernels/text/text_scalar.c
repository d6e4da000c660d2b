/*
 * kernels/text/text_scalar.c - scalar reference of the text kernels:
 * whitespace tokenizing, newline search and string views.
 *
 * This file is the specification (plain C, no intrinsics, always built); the
 * AVX2 and AVX-512 variants must produce the same counts, offsets and
 * *consumed values. The early-stop rule is in text.h: when the output fills,
 * stop at once and report the end of the last item written.
 */
#include "kernels/text/text.h"

uint32_t sp_text_tokenize_ws_scalar(const char *restrict text, uint32_t len,
                                    uint32_t *restrict starts, uint32_t *restrict lens,
                                    uint32_t max_words, uint32_t *restrict consumed)
{
    const unsigned char *p = (const unsigned char *)text;
    uint32_t count = 0;
    uint32_t i = 0;

    if (max_words == 0) {
        *consumed = 0;
        return 0;
    }
    while (i < len) {
        while (i < len && sp_text_is_ws(p[i]))
            i++;
        if (i == len)
            break;
        uint32_t start = i;
        while (i < len && !sp_text_is_ws(p[i]))
            i++;
        starts[count] = start;
        lens[count] = i - start;
        if (++count == max_words) {
            *consumed = i; /* end of the last word: the next starts at or after */
            return count;
        }
    }
    *consumed = len;
    return count;
}

uint32_t sp_text_find_newlines_scalar(const char *restrict text, uint32_t len,
                                      uint32_t *restrict pos, uint32_t max_pos,
                                      uint32_t *restrict consumed)
{
    uint32_t count = 0;
    uint32_t i = 0;

    if (max_pos == 0) {
        *consumed = 0;
        return 0;
    }
    while (i < len) {
        const char *nl = memchr(text + i, '\n', len - i);
        if (nl == NULL)
            break;
        i = (uint32_t)(nl - text);
        pos[count] = i++;
        if (++count == max_pos) {
            *consumed = i; /* just after the last '\n' reported */
            return count;
        }
    }
    *consumed = len;
    return count;
}

void sp_text_make_views_scalar(const char *text, const uint32_t *restrict starts,
                               const uint32_t *restrict lens, uint32_t n,
                               struct spate_string *restrict out)
{
    for (uint32_t i = 0; i < n; i++) {
        const char *src = text + starts[i];
        uint32_t len = lens[i];
        struct spate_string view;

        memset(&view, 0, sizeof view);
        view.len = len;
        memcpy(view.prefix, src, SP_KMIN(len, (uint32_t)sizeof view.prefix));
        if (len > SPATE_STRING_INLINE)
            view.u.ptr = src;
        else if (len > sizeof view.prefix)
            memcpy(view.u.inlined, src + sizeof view.prefix, len - sizeof view.prefix);
        out[i] = view;
    }
}
