/*
 * kernels/filter/filter_scalar.c - scalar reference of the filter kernels:
 * i64 comparison with a literal and string equality/prefix.
 *
 * This file is the specification (plain C, always built). Each kernel has one
 * loop body parameterized by constant flags (selection or not, validity or
 * not, operator), inlined into every specialization. Without a selection the
 * validity bitmap is read a 64-bit word at a time: words with no valid row
 * are skipped, all-valid words take the loop without bit tests. Rows are
 * appended branch-free: the row is always stored at sel_out[count] and count
 * grows by the predicate, so the scratch store stays below n.
 */
#include "kernels/filter/filter.h"

/* ---- filter_cmp_i64 ---- */

SP_KINLINE uint32_t cmp_i64_body(const int64_t *restrict v, const uint64_t *restrict validity,
                                 const uint16_t *restrict sel_in, uint32_t n, enum sp_cmp op,
                                 int64_t k, uint16_t *restrict sel_out, bool has_valid,
                                 bool has_sel) {
    uint32_t count = 0;

    if (has_sel) {
        for (uint32_t i = 0; i < n; i++) {
            uint32_t row = sel_in[i];
            bool pass = sp_filter_cmp(v[row], op, k);
            if (has_valid)
                pass = pass && sp_valid_bit(validity, row);
            sel_out[count] = (uint16_t)row;
            count += pass;
        }
        return count;
    }
    for (uint32_t base = 0; base < n; base += 64) {
        uint32_t end = SP_KMIN(n, base + 64);
        uint64_t word = has_valid ? validity[base >> 6] : ~(uint64_t)0;

        if (word == 0)
            continue;
        if (word == ~(uint64_t)0) {
            for (uint32_t row = base; row < end; row++) {
                sel_out[count] = (uint16_t)row;
                count += sp_filter_cmp(v[row], op, k);
            }
        } else {
            for (uint32_t row = base; row < end; row++) {
                sel_out[count] = (uint16_t)row;
                count += sp_filter_cmp(v[row], op, k) & (uint32_t)(word >> (row - base)) & 1;
            }
        }
    }
    return count;
}

SP_KINLINE uint32_t cmp_i64_op(const int64_t *restrict v, const uint64_t *restrict validity,
                               const uint16_t *restrict sel_in, uint32_t n, enum sp_cmp op,
                               int64_t k, uint16_t *restrict sel_out) {
    if (sel_in != NULL) {
        if (validity != NULL)
            return cmp_i64_body(v, validity, sel_in, n, op, k, sel_out, true, true);
        return cmp_i64_body(v, validity, sel_in, n, op, k, sel_out, false, true);
    }
    if (validity != NULL)
        return cmp_i64_body(v, validity, sel_in, n, op, k, sel_out, true, false);
    return cmp_i64_body(v, validity, sel_in, n, op, k, sel_out, false, false);
}

uint32_t sp_filter_cmp_i64_scalar(const int64_t *restrict v, const uint64_t *restrict validity,
                                  const uint16_t *restrict sel_in, uint32_t n, enum sp_cmp op,
                                  int64_t k, uint16_t *restrict sel_out) {
    switch (op) {
    case SP_CMP_EQ:
        return cmp_i64_op(v, validity, sel_in, n, SP_CMP_EQ, k, sel_out);
    case SP_CMP_NE:
        return cmp_i64_op(v, validity, sel_in, n, SP_CMP_NE, k, sel_out);
    case SP_CMP_LT:
        return cmp_i64_op(v, validity, sel_in, n, SP_CMP_LT, k, sel_out);
    case SP_CMP_LE:
        return cmp_i64_op(v, validity, sel_in, n, SP_CMP_LE, k, sel_out);
    case SP_CMP_GT:
        return cmp_i64_op(v, validity, sel_in, n, SP_CMP_GT, k, sel_out);
    case SP_CMP_GE:
        return cmp_i64_op(v, validity, sel_in, n, SP_CMP_GE, k, sel_out);
    }
    return 0;
}

/* ---- filter_eq_str ---- */

SP_KINLINE uint32_t eq_str_body(const struct spate_string *restrict v,
                                const uint64_t *restrict validity, const uint16_t *restrict sel_in,
                                uint32_t n, const struct sp_str_key *key, enum sp_str_mode mode,
                                uint16_t *restrict sel_out, bool has_valid, bool has_sel) {
    uint32_t count = 0;

    if (has_sel) {
        for (uint32_t i = 0; i < n; i++) {
            uint32_t row = sel_in[i];
            bool pass =
                (!has_valid || sp_valid_bit(validity, row)) && sp_str_match(&v[row], key, mode);
            sel_out[count] = (uint16_t)row;
            count += pass;
        }
        return count;
    }
    for (uint32_t base = 0; base < n; base += 64) {
        uint32_t end = SP_KMIN(n, base + 64);
        uint64_t word = has_valid ? validity[base >> 6] : ~(uint64_t)0;

        if (word == 0)
            continue;
        for (uint32_t row = base; row < end; row++) {
            bool pass = ((word >> (row - base)) & 1) && sp_str_match(&v[row], key, mode);
            sel_out[count] = (uint16_t)row;
            count += pass;
        }
    }
    return count;
}

SP_KINLINE uint32_t eq_str_mode(const struct spate_string *restrict v,
                                const uint64_t *restrict validity, const uint16_t *restrict sel_in,
                                uint32_t n, const struct sp_str_key *key, enum sp_str_mode mode,
                                uint16_t *restrict sel_out) {
    if (sel_in != NULL) {
        if (validity != NULL)
            return eq_str_body(v, validity, sel_in, n, key, mode, sel_out, true, true);
        return eq_str_body(v, validity, sel_in, n, key, mode, sel_out, false, true);
    }
    if (validity != NULL)
        return eq_str_body(v, validity, sel_in, n, key, mode, sel_out, true, false);
    return eq_str_body(v, validity, sel_in, n, key, mode, sel_out, false, false);
}

uint32_t sp_filter_eq_str_scalar(const struct spate_string *restrict v,
                                 const uint64_t *restrict validity, const uint16_t *restrict sel_in,
                                 uint32_t n, const char *s, uint32_t slen, bool prefix,
                                 uint16_t *restrict sel_out) {
    struct sp_str_key key;

    switch (sp_str_key_init(&key, s, slen, prefix)) {
    case SP_STR_EQ_SHORT:
        return eq_str_mode(v, validity, sel_in, n, &key, SP_STR_EQ_SHORT, sel_out);
    case SP_STR_EQ_LONG:
        return eq_str_mode(v, validity, sel_in, n, &key, SP_STR_EQ_LONG, sel_out);
    default:
        return eq_str_mode(v, validity, sel_in, n, &key, SP_STR_PREFIX, sel_out);
    }
}
