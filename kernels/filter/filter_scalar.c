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
                                 bool has_sel)
{
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
                               int64_t k, uint16_t *restrict sel_out)
{
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
                                  int64_t k, uint16_t *restrict sel_out)
{
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

/*
 * The literal as a view and a mask over the view's bytes: the length word and
 * the first min(slen, 4) prefix bytes, plus (equality with slen <= 12, where a
 * matching view is inline) the inline bytes. Compared 8 bytes at a time.
 */
struct str_key {
    uint64_t want[2];
    uint64_t mask[2];
    const char *s;
    uint32_t slen;
};

static void str_key_init(struct str_key *key, const char *s, uint32_t slen, bool prefix)
{
    struct spate_string want;
    struct spate_string mask;
    uint32_t head = SP_KMIN(slen, (uint32_t)sizeof want.prefix);

    memset(&want, 0, sizeof want);
    memset(&mask, 0, sizeof mask);
    if (!prefix) {
        want.len = slen;
        mask.len = UINT32_MAX;
    }
    if (head > 0)
        memcpy(want.prefix, s, head);
    memset(mask.prefix, 0xff, head);
    if (!prefix && slen > sizeof want.prefix && slen <= SPATE_STRING_INLINE) {
        memcpy(want.u.inlined, s + sizeof want.prefix, slen - sizeof want.prefix);
        memset(mask.u.inlined, 0xff, slen - sizeof want.prefix);
    }
    memcpy(key->want, &want, sizeof key->want);
    memcpy(key->mask, &mask, sizeof key->mask);
    key->s = s;
    key->slen = slen;
}

/* Whether view x matches; mode is a constant: 0 equality with slen <= 12,
 * 1 equality with slen > 12, 2 prefix. */
SP_KINLINE bool str_match(const struct spate_string *restrict x, const struct str_key *key,
                          int mode)
{
    const char *bytes = (const char *)x;
    uint64_t head = sp_load_u64(bytes);

    if (((head ^ key->want[0]) & key->mask[0]) != 0)
        return false;
    if (mode == 0)
        return ((sp_load_u64(bytes + 8) ^ key->want[1]) & key->mask[1]) == 0;
    if (mode == 2 && x->len < key->slen)
        return false;
    if (key->slen <= sizeof x->prefix)
        return true;
    return memcmp(sp_str_data(x) + sizeof x->prefix, key->s + sizeof x->prefix,
                  key->slen - sizeof x->prefix) == 0;
}

SP_KINLINE uint32_t eq_str_body(const struct spate_string *restrict v,
                                const uint64_t *restrict validity,
                                const uint16_t *restrict sel_in, uint32_t n,
                                const struct str_key *key, int mode, uint16_t *restrict sel_out,
                                bool has_valid, bool has_sel)
{
    uint32_t count = 0;

    if (has_sel) {
        for (uint32_t i = 0; i < n; i++) {
            uint32_t row = sel_in[i];
            bool pass = (!has_valid || sp_valid_bit(validity, row)) && str_match(&v[row], key, mode);
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
            bool pass = ((word >> (row - base)) & 1) && str_match(&v[row], key, mode);
            sel_out[count] = (uint16_t)row;
            count += pass;
        }
    }
    return count;
}

SP_KINLINE uint32_t eq_str_mode(const struct spate_string *restrict v,
                                const uint64_t *restrict validity,
                                const uint16_t *restrict sel_in, uint32_t n,
                                const struct str_key *key, int mode, uint16_t *restrict sel_out)
{
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
                                 const uint64_t *restrict validity,
                                 const uint16_t *restrict sel_in, uint32_t n, const char *s,
                                 uint32_t slen, bool prefix, uint16_t *restrict sel_out)
{
    struct str_key key;

    str_key_init(&key, s, slen, prefix);
    if (prefix)
        return eq_str_mode(v, validity, sel_in, n, &key, 2, sel_out);
    if (slen <= SPATE_STRING_INLINE)
        return eq_str_mode(v, validity, sel_in, n, &key, 0, sel_out);
    return eq_str_mode(v, validity, sel_in, n, &key, 1, sel_out);
}
