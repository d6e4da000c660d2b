/*
 * kernels/window/pane_scalar.c - the reference pane combine: one word at a
 * time, in row order (kernels/window/pane.h states the semantics).
 */
#include "kernels/window/pane.h"

/* The word of row i. Words are read and written with memcpy: the caller's entries are
 * structs whose fields (i64, f64, two u32) alias these words. */
SP_KINLINE uint64_t *pane_word(uint64_t *base, uint32_t stride, uint32_t offset, uint32_t i) {
    return base + (size_t)i * stride + offset;
}

SP_KINLINE void combine_i64(uint64_t *base, uint32_t stride, uint32_t offset,
                            const uint32_t *restrict idx, const int64_t *restrict vals, uint32_t n,
                            enum sp_pane_op op) {
    for (uint32_t i = 0; i < n; i++) {
        uint64_t *w = pane_word(base, stride, offset, idx[i]);
        int64_t acc, v = vals[i];
        memcpy(&acc, w, 8);
        switch (op) {
        case SP_PANE_ADD:
            acc = (int64_t)((uint64_t)acc + (uint64_t)v);
            break;
        case SP_PANE_SUB:
            acc = (int64_t)((uint64_t)acc - (uint64_t)v);
            break;
        case SP_PANE_MIN:
            acc = v < acc ? v : acc;
            break;
        case SP_PANE_MAX:
            acc = v > acc ? v : acc;
            break;
        }
        memcpy(w, &acc, 8);
    }
}

SP_KINLINE void combine_f64(uint64_t *base, uint32_t stride, uint32_t offset,
                            const uint32_t *restrict idx, const double *restrict vals, uint32_t n,
                            enum sp_pane_op op) {
    for (uint32_t i = 0; i < n; i++) {
        uint64_t *w = pane_word(base, stride, offset, idx[i]);
        double acc, v = vals[i];
        memcpy(&acc, w, 8);
        switch (op) {
        case SP_PANE_ADD:
            acc = acc + v;
            break;
        case SP_PANE_SUB:
            acc = acc - v;
            break;
        case SP_PANE_MIN:
            acc = v < acc ? v : acc;
            break;
        case SP_PANE_MAX:
            acc = v > acc ? v : acc;
            break;
        }
        memcpy(w, &acc, 8);
    }
}

/* One loop per operator (the switch is hoisted by the constant op). */
void sp_pane_combine_i64_scalar(uint64_t *base, uint32_t stride_words, uint32_t offset_words,
                                const uint32_t *restrict idx, const int64_t *restrict vals,
                                uint32_t n, enum sp_pane_op op) {
    switch (op) {
    case SP_PANE_ADD:
        combine_i64(base, stride_words, offset_words, idx, vals, n, SP_PANE_ADD);
        break;
    case SP_PANE_SUB:
        combine_i64(base, stride_words, offset_words, idx, vals, n, SP_PANE_SUB);
        break;
    case SP_PANE_MIN:
        combine_i64(base, stride_words, offset_words, idx, vals, n, SP_PANE_MIN);
        break;
    case SP_PANE_MAX:
        combine_i64(base, stride_words, offset_words, idx, vals, n, SP_PANE_MAX);
        break;
    }
}

void sp_pane_combine_f64_scalar(uint64_t *base, uint32_t stride_words, uint32_t offset_words,
                                const uint32_t *restrict idx, const double *restrict vals,
                                uint32_t n, enum sp_pane_op op) {
    switch (op) {
    case SP_PANE_ADD:
        combine_f64(base, stride_words, offset_words, idx, vals, n, SP_PANE_ADD);
        break;
    case SP_PANE_SUB:
        combine_f64(base, stride_words, offset_words, idx, vals, n, SP_PANE_SUB);
        break;
    case SP_PANE_MIN:
        combine_f64(base, stride_words, offset_words, idx, vals, n, SP_PANE_MIN);
        break;
    case SP_PANE_MAX:
        combine_f64(base, stride_words, offset_words, idx, vals, n, SP_PANE_MAX);
        break;
    }
}
