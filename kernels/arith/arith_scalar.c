/*
 * kernels/arith/arith_scalar.c - scalar reference of the arithmetic and cast
 * kernels.
 *
 * One loop body for the four arithmetic kernels, parameterized by constant
 * flags (f64 or i64, column or literal, operator). The output validity is
 * built a word (64 rows) at a time; null rows are written as 0 with a select
 * rather than a branch, so the loop stays branch-free and vectorizable.
 */
#include "kernels/arith/arith.h"

SP_KINLINE uint32_t body(const void *a, const uint64_t *va, const void *b, const uint64_t *vb,
                         int64_t ki, double kf, uint32_t n, enum sp_arith op, void *out,
                         uint64_t *restrict vout, bool f64, bool col) {
    uint32_t nulls = 0;

    for (uint32_t base = 0; base < n; base += 64) {
        uint32_t end = SP_KMIN(n, base + 64);
        uint64_t word = sp_valid_word2(va, vb, base >> 6) & sp_low_mask(end - base);

        for (uint32_t row = base; row < end; row++) {
            bool valid = (word >> (row - base)) & 1;
            if (f64) {
                double y = col ? ((const double *)b)[row] : kf;
                double r = sp_arith_f64(((const double *)a)[row], y, op);
                ((double *)out)[row] = valid ? r : 0.0;
            } else {
                bool zero = false;
                int64_t y = col ? ((const int64_t *)b)[row] : ki;
                int64_t r = sp_arith_i64(((const int64_t *)a)[row], y, op, &zero);
                valid = valid && !zero;
                word &= ~((uint64_t)zero << (row - base));
                ((int64_t *)out)[row] = valid ? r : 0;
            }
        }
        vout[base >> 6] = word;
        nulls += (end - base) - (uint32_t)__builtin_popcountll(word);
    }
    return nulls;
}

SP_KINLINE uint32_t dispatch(const void *a, const uint64_t *va, const void *b, const uint64_t *vb,
                             int64_t ki, double kf, uint32_t n, enum sp_arith op, void *out,
                             uint64_t *restrict vout, bool f64, bool col) {
    switch (op) {
    case SP_ARITH_ADD:
        return body(a, va, b, vb, ki, kf, n, SP_ARITH_ADD, out, vout, f64, col);
    case SP_ARITH_SUB:
        return body(a, va, b, vb, ki, kf, n, SP_ARITH_SUB, out, vout, f64, col);
    case SP_ARITH_MUL:
        return body(a, va, b, vb, ki, kf, n, SP_ARITH_MUL, out, vout, f64, col);
    case SP_ARITH_DIV:
        return body(a, va, b, vb, ki, kf, n, SP_ARITH_DIV, out, vout, f64, col);
    case SP_ARITH_MOD:
        return body(a, va, b, vb, ki, kf, n, SP_ARITH_MOD, out, vout, f64, col);
    }
    return 0;
}

uint32_t sp_arith_i64_col_scalar(const int64_t *restrict a, const uint64_t *restrict va,
                                 const int64_t *restrict b, const uint64_t *restrict vb, uint32_t n,
                                 enum sp_arith op, int64_t *restrict out, uint64_t *restrict vout) {
    return dispatch(a, va, b, vb, 0, 0.0, n, op, out, vout, false, true);
}

uint32_t sp_arith_i64_lit_scalar(const int64_t *restrict a, const uint64_t *restrict va, int64_t k,
                                 uint32_t n, enum sp_arith op, int64_t *restrict out,
                                 uint64_t *restrict vout) {
    return dispatch(a, va, NULL, NULL, k, 0.0, n, op, out, vout, false, false);
}

uint32_t sp_arith_f64_col_scalar(const double *restrict a, const uint64_t *restrict va,
                                 const double *restrict b, const uint64_t *restrict vb, uint32_t n,
                                 enum sp_arith op, double *restrict out, uint64_t *restrict vout) {
    return dispatch(a, va, b, vb, 0, 0.0, n, op, out, vout, true, true);
}

uint32_t sp_arith_f64_lit_scalar(const double *restrict a, const uint64_t *restrict va, double k,
                                 uint32_t n, enum sp_arith op, double *restrict out,
                                 uint64_t *restrict vout) {
    return dispatch(a, va, NULL, NULL, 0, k, n, op, out, vout, true, false);
}

/* ---- Casts ---- */

void sp_cast_i64_f64_scalar(const int64_t *restrict v, uint32_t n, double *restrict out) {
    for (uint32_t i = 0; i < n; i++)
        out[i] = (double)v[i];
}

void sp_cast_f64_i64_scalar(const double *restrict v, uint32_t n, int64_t *restrict out) {
    for (uint32_t i = 0; i < n; i++)
        out[i] = sp_cast_f64_i64(v[i]);
}
