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

/* Write base + the index of every set bit of bits into out, ascending; returns
 * how many. Writes exactly that many entries. */
SP_KINLINE uint32_t sp_text_emit_exact(uint32_t *restrict out, uint64_t bits, uint32_t base) {
    uint32_t cnt = 0;

    for (; bits != 0; bits = _blsr_u64(bits))
        out[cnt++] = base + (uint32_t)_tzcnt_u64(bits);
    return cnt;
}

/*
 * The same with room for 64 entries at out: the first k entries (k a
 * constant) are written unconditionally, scratch past the count, so masks
 * with up to k bits take no data-dependent branch; more finish in a loop.
 * k is sized to the usual density: 16 for words, 4 for lines.
 */
SP_KINLINE uint32_t sp_text_emit_fast(uint32_t *restrict out, uint64_t bits, uint32_t base, int k) {
    uint32_t cnt = (uint32_t)_mm_popcnt_u64(bits);

    for (int j = 0; j < k; j++) {
        out[j] = base + (uint32_t)_tzcnt_u64(bits);
        bits = _blsr_u64(bits);
    }
    if (cnt > (uint32_t)k)
        sp_text_emit_exact(out + k, bits, base);
    return cnt;
}

/* The lowest k set bits of bits (k >= 1, bits has at least k). Returns the
 * k-th bit alone in *last. */
SP_KINLINE uint64_t sp_text_first_bits(uint64_t bits, uint32_t k, uint64_t *last) {
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
SP_KINLINE void sp_tok_lengths(struct sp_tok *t, uint32_t from, uint32_t to) {
    for (uint32_t j = from; j < to; j++)
        t->lens[j] -= t->starts[j];
}

/*
 * The same for lens[from, from + n), when both arrays have room for 64
 * entries at from: up to 16 words as one group of 16 lanes. The extra lanes
 * hold scratch that is rewritten before use; they were written (by
 * sp_text_emit_fast of this block or earlier ones), since from <= the starts
 * count before this block.
 */
SP_KINLINE void sp_tok_lengths_fast(struct sp_tok *t, uint32_t from, uint32_t n) {
    uint32_t *restrict lens = t->lens + from;
    const uint32_t *restrict starts = t->starts + from;

    if (n > 16) {
        sp_tok_lengths(t, from, from + n);
        return;
    }
    for (uint32_t j = 0; j < 16; j++)
        lens[j] -= starts[j];
}

/* Word starts and ends (exclusive) of a block with whitespace mask ws; carries
 * the last byte's class to the next block. */
SP_KINLINE void sp_tok_masks(struct sp_tok *t, uint64_t ws, uint64_t *st, uint64_t *en) {
    uint64_t word = ~ws;
    uint64_t prev = (word << 1) | t->carry;

    *st = word & ~prev; /* first byte of a word */
    *en = ws & prev;    /* first space after a word */
    t->carry = word >> 63;
}

/* Whether the outputs have room for the unconditional writes of a fast
 * block (64 entries; ne <= ns, so lens has at least as much room). */
SP_KINLINE bool sp_tok_roomy(const struct sp_tok *t) {
    return t->max_words - t->ns >= 64;
}

/*
 * A block without that room, written exactly: returns true when max_words
 * words are complete, with *consumed set to the end of the last one.
 */
SP_KINLINE bool sp_tok_block_exact(struct sp_tok *t, uint64_t st, uint64_t en, uint32_t base,
                                   uint32_t *consumed) {
    uint32_t nen = (uint32_t)_mm_popcnt_u64(en);
    bool full = t->ne + nen >= t->max_words;
    uint64_t last = 0;

    if (full) {
        en = sp_text_first_bits(en, t->max_words - t->ne, &last);
        st &= last - 1;
        nen = t->max_words - t->ne;
    }
    t->ns += sp_text_emit_exact(t->starts + t->ns, st, base);
    sp_text_emit_exact(t->lens + t->ne, en, base);
    sp_tok_lengths(t, t->ne, t->ne + nen);
    t->ne += nen;
    if (full)
        *consumed = base + (uint32_t)_tzcnt_u64(last);
    return full;
}

/*
 * One block of 64 bytes at offset base; ws has a bit per byte (bits past the
 * end of the text must be set: the end of the range ends a word). Returns true
 * when max_words words are complete, with *consumed set.
 */
SP_KINLINE bool sp_tok_block(struct sp_tok *t, uint64_t ws, uint32_t base, uint32_t *consumed) {
    uint64_t st;
    uint64_t en;

    sp_tok_masks(t, ws, &st, &en);
    if (!sp_tok_roomy(t))
        return sp_tok_block_exact(t, st, en, base, consumed);
    /* ne + nen <= ns + 32 < max_words: the block cannot fill the output */
    uint32_t nen = (uint32_t)_mm_popcnt_u64(en);
    t->ns += sp_text_emit_fast(t->starts + t->ns, st, base, 16);
    sp_text_emit_fast(t->lens + t->ne, en, base, 16);
    sp_tok_lengths_fast(t, t->ne, nen);
    t->ne += nen;
    return false;
}

/* After the last block: a word running to the end of the text ends there. */
SP_KINLINE uint32_t sp_tok_finish(struct sp_tok *t, uint32_t len, uint32_t *consumed) {
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
SP_KINLINE bool sp_nl_block(struct sp_nl *t, uint64_t nl, uint32_t base, uint32_t *consumed) {
    uint32_t cnt = (uint32_t)_mm_popcnt_u64(nl);

    if (t->np + cnt >= t->max_pos) {
        uint64_t last;

        nl = sp_text_first_bits(nl, t->max_pos - t->np, &last);
        sp_text_emit_exact(t->pos + t->np, nl, base);
        t->np = t->max_pos;
        *consumed = base + (uint32_t)_tzcnt_u64(last) + 1;
        return true;
    }
    if (nl == 0)
        return false;
    if (t->max_pos - t->np >= 64)
        t->np += sp_text_emit_fast(t->pos + t->np, nl, base, 4);
    else
        t->np += sp_text_emit_exact(t->pos + t->np, nl, base);
    return false;
}

#endif /* SP_KERNELS_TEXT_SIMD_H */
