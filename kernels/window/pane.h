/*
 * kernels/window/pane.h - window panes: combine a pane's values into the
 * entries of a window aggregate, or take them out again (the inverse).
 *
 * The window table keeps one fixed-size entry per key (engine/agg.h: 40-byte
 * structs, 5 words); the engine first looks every key of a pane up (or adds
 * it) and gets the entry index of each, then hands the index vector and the
 * pane's values to one of these kernels. The word combined for row i is
 *   w = base[(size_t)idx[i] * stride_words + offset_words]
 * and the kernels apply w = w OP vals[i] for i < n:
 *   ADD  w + v        SUB  w - v      (the inverse of ADD)
 *   MIN  v < w ? v : w                MAX  v > w ? v : w
 * i64: ADD and SUB wrap (two's complement). f64: IEEE, round to nearest;
 * MIN/MAX keep w unless v compares strictly less (greater), so a NaN already
 * in w stays (every comparison with it is false), a NaN in v is ignored, and
 * of -0.0 and +0.0 (equal) the one already in w stays. These are the rules
 * of the engine's pairwise reduce (and of x86 minpd/maxpd with v as the first
 * operand), so every variant gives the same bits. ADD/SUB of two NaNs give a
 * NaN whose payload the variants do not pin down (C leaves the operand order
 * of a commutative + to the compiler); with at most one NaN operand the
 * result is that NaN, quieted.
 *
 * Fresh entries: the kernels have no notion of them. A caller that adds an
 * entry sets its word first to a value that OP leaves unchanged: 0 (i64 ADD),
 * -0.0 (f64 ADD: -0.0 + v is v for every v, -0.0 and +0.0 included; only a
 * signalling NaN comes out quieted), or v itself for MIN/MAX (v OP v is v,
 * bit for bit). sp_pane_fresh() gives that value.
 *
 * Precondition: the indexes idx[0, n) are distinct (the keys of one pane
 * are), so no two rows update one word; the AVX-512 variant scatters 8 rows
 * at a time and would otherwise lose an update. stride_words >= 1 and
 * offset_words < stride_words. No variant reads or writes a word other than
 * the indexed ones (masked gathers and scatters at the tail), nor reads idx
 * or vals past n.
 */
#ifndef SP_KERNELS_WINDOW_PANE_H
#define SP_KERNELS_WINDOW_PANE_H

#include "kernels/common.h"

/* The word a fresh entry starts with so that (word OP v) == v, as bits. */
SP_KINLINE uint64_t sp_pane_fresh(enum sp_pane_op op, bool f64, uint64_t v) {
    if (op == SP_PANE_MIN || op == SP_PANE_MAX)
        return v;
    return f64 ? 0x8000000000000000ull : 0; /* -0.0, or integer 0 */
}

void sp_pane_combine_i64_scalar(uint64_t *base, uint32_t stride_words, uint32_t offset_words,
                                const uint32_t *restrict idx, const int64_t *restrict vals,
                                uint32_t n, enum sp_pane_op op);
void sp_pane_combine_f64_scalar(uint64_t *base, uint32_t stride_words, uint32_t offset_words,
                                const uint32_t *restrict idx, const double *restrict vals,
                                uint32_t n, enum sp_pane_op op);
#ifdef SPATE_HAVE_AVX2
void sp_pane_combine_i64_avx2(uint64_t *base, uint32_t stride_words, uint32_t offset_words,
                              const uint32_t *restrict idx, const int64_t *restrict vals,
                              uint32_t n, enum sp_pane_op op);
void sp_pane_combine_f64_avx2(uint64_t *base, uint32_t stride_words, uint32_t offset_words,
                              const uint32_t *restrict idx, const double *restrict vals, uint32_t n,
                              enum sp_pane_op op);
#endif
#ifdef SPATE_HAVE_AVX512
void sp_pane_combine_i64_avx512(uint64_t *base, uint32_t stride_words, uint32_t offset_words,
                                const uint32_t *restrict idx, const int64_t *restrict vals,
                                uint32_t n, enum sp_pane_op op);
void sp_pane_combine_f64_avx512(uint64_t *base, uint32_t stride_words, uint32_t offset_words,
                                const uint32_t *restrict idx, const double *restrict vals,
                                uint32_t n, enum sp_pane_op op);
#endif

#endif /* SP_KERNELS_WINDOW_PANE_H */
