/*
 * kernels/cmp/cmp_scalar.c - scalar reference of filter_cmp_f64 and the
 * column-against-column filters.
 *
 * One loop body for the three kernels, parameterized by constant flags
 * (f64 or i64, literal or column, selection or not, operator). Without a
 * selection the AND of the validity bitmaps is taken a word (64 rows) at a
 * time and words with no valid row are skipped. Rows are appended
 * branch-free as in kernels/filter/filter_scalar.c: the row is stored at
 * sel_out[count] and count grows by the predicate.
 */
#include "kernels/cmp/cmp.h"

#include "kernels/filter/filter.h"

/* Whether row passes the comparison (validity aside). */
SP_KINLINE bool pass_row(const void *a, const void *b, int64_t ki, double kf, uint32_t row,
                         enum sp_cmp op, bool f64, bool col) {
    if (f64) {
        double y = col ? ((const double *)b)[row] : kf;
        return sp_cmp_f64(((const double *)a)[row], op, y);
    }
    int64_t y = col ? ((const int64_t *)b)[row] : ki;
    return sp_filter_cmp(((const int64_t *)a)[row], op, y);
}

SP_KINLINE uint32_t body(const void *a, const uint64_t *va, const void *b, const uint64_t *vb,
                         int64_t ki, double kf, const uint16_t *restrict sel_in, uint32_t n,
                         enum sp_cmp op, uint16_t *restrict sel_out, bool f64, bool col) {
    uint32_t count = 0;

    if (sel_in != NULL) {
        for (uint32_t i = 0; i < n; i++) {
            uint32_t row = sel_in[i];
            bool pass = pass_row(a, b, ki, kf, row, op, f64, col);
            if (va != NULL)
                pass = pass && sp_valid_bit(va, row);
            if (vb != NULL)
                pass = pass && sp_valid_bit(vb, row);
            sel_out[count] = (uint16_t)row;
            count += pass;
        }
        return count;
    }
    for (uint32_t base = 0; base < n; base += 64) {
        uint32_t end = SP_KMIN(n, base + 64);
        uint64_t word = sp_valid_word2(va, vb, base >> 6);

        if (word == 0)
            continue;
        for (uint32_t row = base; row < end; row++) {
            sel_out[count] = (uint16_t)row;
            count +=
                pass_row(a, b, ki, kf, row, op, f64, col) & (uint32_t)(word >> (row - base)) & 1;
        }
    }
    return count;
}

SP_KINLINE uint32_t dispatch(const void *a, const uint64_t *va, const void *b, const uint64_t *vb,
                             int64_t ki, double kf, const uint16_t *restrict sel_in, uint32_t n,
                             enum sp_cmp op, uint16_t *restrict sel_out, bool f64, bool col) {
    switch (op) {
    case SP_CMP_EQ:
        return body(a, va, b, vb, ki, kf, sel_in, n, SP_CMP_EQ, sel_out, f64, col);
    case SP_CMP_NE:
        return body(a, va, b, vb, ki, kf, sel_in, n, SP_CMP_NE, sel_out, f64, col);
    case SP_CMP_LT:
        return body(a, va, b, vb, ki, kf, sel_in, n, SP_CMP_LT, sel_out, f64, col);
    case SP_CMP_LE:
        return body(a, va, b, vb, ki, kf, sel_in, n, SP_CMP_LE, sel_out, f64, col);
    case SP_CMP_GT:
        return body(a, va, b, vb, ki, kf, sel_in, n, SP_CMP_GT, sel_out, f64, col);
    case SP_CMP_GE:
        return body(a, va, b, vb, ki, kf, sel_in, n, SP_CMP_GE, sel_out, f64, col);
    }
    return 0;
}

uint32_t sp_filter_cmp_f64_scalar(const double *restrict v, const uint64_t *restrict validity,
                                  const uint16_t *restrict sel_in, uint32_t n, enum sp_cmp op,
                                  double k, uint16_t *restrict sel_out) {
    return dispatch(v, validity, NULL, NULL, 0, k, sel_in, n, op, sel_out, true, false);
}

uint32_t sp_filter_cmp_i64_col_scalar(const int64_t *restrict a, const uint64_t *restrict va,
                                      const int64_t *restrict b, const uint64_t *restrict vb,
                                      const uint16_t *restrict sel_in, uint32_t n, enum sp_cmp op,
                                      uint16_t *restrict sel_out) {
    return dispatch(a, va, b, vb, 0, 0.0, sel_in, n, op, sel_out, false, true);
}

uint32_t sp_filter_cmp_f64_col_scalar(const double *restrict a, const uint64_t *restrict va,
                                      const double *restrict b, const uint64_t *restrict vb,
                                      const uint16_t *restrict sel_in, uint32_t n, enum sp_cmp op,
                                      uint16_t *restrict sel_out) {
    return dispatch(a, va, b, vb, 0, 0.0, sel_in, n, op, sel_out, true, true);
}
