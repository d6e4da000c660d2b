/*
 * kernels/text/text_simd.h - the ISA-neutral half of the SIMD text kernels.
 *
 * The AVX2 and AVX-512 files only differ in how they turn 64 bytes into a
 * 64-bit mask (whitespace or '\n'); everything after that is bit arithmetic,
 * shared here. Word starts are non-space bytes after a space (or after the
 * previous block's last byte, carried in), word ends (exclusive) are spaces
 * after a non-space; positions come out of the masks with tzcnt loops.
 *
 * Included only by files compiled with at least -mbmi -mpopcnt; static inline
 * only (see kernels/common.h).
 */
#ifndef SP_KERNELS_TEXT_SIMD_H
#define SP_KERNELS_TEXT_SIMD_H

#include <stdbool.h>
#include <immintrin.h>

#include "kernels/text/text.h"

#define SP_TEXT_BLOCK 64 /* bytes per mask */

/*
 * Write base + the index of every set bit of bits into out, ascending, and
 * return how many. With room (at least 64 free entries at out) it writes 8 or
 * 16 entries unconditionally, so entries past the count get scratch values.
 */
SP_KINLINE uint32_t sp_text_emit(uint32_t *restrict out, uint64_t bits, uint32_t base, bool room)
{
    uint32_t cnt = (uint32_t)_mm_popcnt_u64(bits);

    if (room) {
        for (int j = 0; j < 8; j++) {
            out[j] = base + (uint32_t)_tzcnt_u64(bits);
            bits = _blsr_u64(bits);
        }
        if (cnt > 8) {
            for (int j = 8; j < 16; j++) {
                out[j] = base + (uint32_t)_tzcnt_u64(bits);
                bits = _blsr_u64(bits);
            }
            out += 16;
            while (bits) {
                *out++ = base + (uint32_t)_tzcnt_u64(bits);
                bits = _blsr_u64(bits);
            }
        }
    } else {
        while (bits) {
            *out++ = base + (uint32_t)_tzcnt_u64(bits);
            bits = _blsr_u64(bits);
        }
    }
    return cnt;
}

/* The lowest k set bits of bits (k >= 1, bits has at least k). Returns the
 * k-th bit alone in *last. */
SP_KINLINE uint64_t sp_text_first_bits(uint64_t bits, uint32_t k, uint64_t *last)
{
    uint64_t rest = bits;

    for (uint32_t j = 1; j < k; j++)
        rest = _blsr_u64(rest);
    *last = _blsi_u64(rest);
    return bits & (*last | (*last - 1));
}

/* ---- Tokenizer state ---- */

struct sp_tok {
    uint32_t *restrict starts;
    uint32_t *restrict lens; /* holds end offsets until converted */
    uint32_t max_words;
    uint32_t ns;    /* starts written */
    uint32_t ne;    /* words completed (ends written); ne < max_words between blocks */
    uint64_t carry; /* 1 when the byte before the block belongs to a word */
};

/* Turn the end offsets in lens[from, to) into lengths. */
SP_KINLINE void sp_tok_lengths(struct sp_tok *t, uint32_t from, uint32_t to)
{
    for (uint32_t j = from; j < to; j++)
        t->lens[j] -= t->starts[j];
}

/*
 * One block of 64 bytes at offset base; ws has a bit per byte (bits past the
 * end of the text must be set: the end of the range ends a word). Returns true
 * when max_words words are complete, with *consumed set.
 */
SP_KINLINE bool sp_tok_block(struct sp_tok *t, uint64_t ws, uint32_t base, uint32_t *consumed)
{
    uint64_t word = ~ws;
    uint64_t prev = (word << 1) | t->carry;
    uint64_t st = word & ~prev; /* first byte of a word */
    uint64_t en = ws & prev;    /* first space after a word */
    uint32_t nen = (uint32_t)_mm_popcnt_u64(en);

    t->carry = word >> 63;
    if (t->ne + nen >= t->max_words) {
        uint64_t last;

        en = sp_text_first_bits(en, t->max_words - t->ne, &last);
        st &= last - 1;
        t->ns += sp_text_emit(t->starts + t->ns, st, base, false);
        sp_text_emit(t->lens + t->ne, en, base, false);
        sp_tok_lengths(t, t->ne, t->max_words);
        t->ne = t->max_words;
        *consumed = base + (uint32_t)_tzcnt_u64(last);
        return true;
    }
    if (st)
        t->ns += sp_text_emit(t->starts + t->ns, st, base, t->max_words - t->ns >= 64);
    if (en) {
        sp_text_emit(t->lens + t->ne, en, base, t->max_words - t->ne >= 64);
        sp_tok_lengths(t, t->ne, t->ne + nen);
        t->ne += nen;
    }
    return false;
}

/* After the last block: a word running to the end of the text ends there. */
SP_KINLINE uint32_t sp_tok_finish(struct sp_tok *t, uint32_t len, uint32_t *consumed)
{
    if (t->carry) {
        t->lens[t->ne] = len - t->starts[t->ne];
        t->ne++;
    }
    *consumed = len;
    return t->ne;
}

/* ---- Newline state ---- */

struct sp_nl {
    uint32_t *restrict pos;
    uint32_t max_pos;
    uint32_t np; /* positions written; np < max_pos between blocks */
};

/* One block: nl has a bit per '\n'. Returns true when pos[] is full. */
SP_KINLINE bool sp_nl_block(struct sp_nl *t, uint64_t nl, uint32_t base, uint32_t *consumed)
{
    uint32_t cnt = (uint32_t)_mm_popcnt_u64(nl);

    if (t->np + cnt >= t->max_pos) {
        uint64_t last;

        nl = sp_text_first_bits(nl, t->max_pos - t->np, &last);
        sp_text_emit(t->pos + t->np, nl, base, false);
        t->np = t->max_pos;
        *consumed = base + (uint32_t)_tzcnt_u64(last) + 1;
        return true;
    }
    if (nl)
        t->np += sp_text_emit(t->pos + t->np, nl, base, t->max_pos - t->np >= 64);
    return false;
}

#endif /* SP_KERNELS_TEXT_SIMD_H */
