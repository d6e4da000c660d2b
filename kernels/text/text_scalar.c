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
                                    uint32_t max_words, uint32_t *restrict consumed) {
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

void sp_byteset_init(struct sp_byteset *set, const char *delims, uint32_t n) {
    memset(set, 0, sizeof(*set));
    for (uint32_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)delims[i];
        set->bits[b >> 6] |= 1ull << (b & 63);
        set->lo[b >> 7][b & 15] |= (uint8_t)(1u << ((b >> 4) & 7));
    }
}

static inline int in_set(const struct sp_byteset *set, unsigned char c) {
    return (int)(set->bits[c >> 6] >> (c & 63)) & 1;
}

uint32_t sp_text_tokenize_set_scalar(const char *restrict text, uint32_t len,
                                     const struct sp_byteset *restrict set,
                                     uint32_t *restrict starts, uint32_t *restrict lens,
                                     uint32_t max_words, uint32_t *restrict consumed) {
    const unsigned char *p = (const unsigned char *)text;
    uint32_t count = 0;
    uint32_t i = 0;

    if (max_words == 0) {
        *consumed = 0;
        return 0;
    }
    while (i < len) {
        while (i < len && in_set(set, p[i]))
            i++;
        if (i == len)
            break;
        uint32_t start = i;
        while (i < len && !in_set(set, p[i]))
            i++;
        starts[count] = start;
        lens[count] = i - start;
        if (++count == max_words) {
            *consumed = i;
            return count;
        }
    }
    *consumed = len;
    return count;
}

uint32_t sp_text_find_newlines_scalar(const char *restrict text, uint32_t len,
                                      uint32_t *restrict pos, uint32_t max_pos,
                                      uint32_t *restrict consumed) {
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

/*
 * The view of p[0, len): its two 8-byte halves as stored (len and prefix, then
 * the inline bytes 4..11 or the pointer). Short strings are read with
 * overlapping loads that stay inside p[0, len), so no length needs a
 * byte-at-a-time copy.
 */
static inline struct spate_string make_view(const char *p, uint32_t len) {
    struct spate_string view;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t head = len; /* len, then bytes 0..3 */
    uint64_t tail = 0;   /* bytes 4..11 */

    if (len > SPATE_STRING_INLINE) {
        head |= (uint64_t)sp_load_u32(p) << 32; /* the pointer goes in below */
    } else if (len >= 8) {
        uint64_t first = sp_load_u64(p);
        uint64_t last4 = sp_load_u32(p + len - 4);
        head |= first << 32;
        tail = first >> 32 | (last4 >> (8 * (SPATE_STRING_INLINE - len))) << 32;
    } else if (len >= 4) {
        head |= (uint64_t)sp_load_u32(p) << 32;
        tail = (uint64_t)sp_load_u32(p + len - 4) >> (8 * (8 - len));
    } else if (len > 0) {
        uint64_t bytes = (uint64_t)(unsigned char)p[0] |
                         (uint64_t)(unsigned char)p[len / 2] << (8 * (len / 2)) |
                         (uint64_t)(unsigned char)p[len - 1] << (8 * (len - 1));
        head |= bytes << 32;
    }
    memcpy(&view, &head, sizeof head);
    memcpy((char *)&view + sizeof head, &tail, sizeof tail);
#else
    memset(&view, 0, sizeof view);
    view.len = len;
    memcpy(view.prefix, p, SP_KMIN(len, (uint32_t)sizeof view.prefix));
    if (len > sizeof view.prefix && len <= SPATE_STRING_INLINE)
        memcpy(view.u.inlined, p + sizeof view.prefix, len - sizeof view.prefix);
#endif
    if (len > SPATE_STRING_INLINE)
        view.u.ptr = p;
    return view;
}

void sp_text_make_views_scalar(const char *text, const uint32_t *restrict starts,
                               const uint32_t *restrict lens, uint32_t n,
                               struct spate_string *restrict out) {
    for (uint32_t i = 0; i < n; i++)
        out[i] = make_view(text + starts[i], lens[i]);
}
