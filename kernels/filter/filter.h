/*
 * kernels/filter/filter.h - the filter kernels of every ISA, and the
 * comparison they share.
 *
 * Exact semantics (the scalar file is the reference):
 *   - the candidate rows are sel_in[0..n) (ascending) or 0..n when sel_in is
 *     NULL; a row passes when it is valid (validity NULL: all rows are) and
 *     the predicate holds; passing rows are written to sel_out in candidate
 *     order and counted. sel_out needs room for n entries: variants may write
 *     scratch values at indexes at or past the returned count, never at or
 *     past n;
 *   - filter_cmp_i64 compares as signed 64-bit integers, v[row] OP k;
 *   - filter_eq_str: equality is len == slen and the same bytes; prefix is
 *     len >= slen and the first slen bytes equal (slen == 0 matches every
 *     valid row). The views' prefix bytes must hold the first min(len, 4)
 *     bytes of the string (the view contract); padding bytes are not read.
 */
#ifndef SP_KERNELS_FILTER_H
#define SP_KERNELS_FILTER_H

#include "kernels/common.h"

/* v OP k with op a compile-time constant after inlining. */
SP_KINLINE bool sp_filter_cmp(int64_t v, enum sp_cmp op, int64_t k) {
    switch (op) {
    case SP_CMP_EQ:
        return v == k;
    case SP_CMP_NE:
        return v != k;
    case SP_CMP_LT:
        return v < k;
    case SP_CMP_LE:
        return v <= k;
    case SP_CMP_GT:
        return v > k;
    case SP_CMP_GE:
        return v >= k;
    }
    return false;
}

/* ---- String keys (filter_eq_str) ---- */

/* How a literal is matched; a constant in each loop specialization. */
enum sp_str_mode {
    SP_STR_EQ_SHORT, /* equality, slen <= 12: a masked 16-byte compare decides */
    SP_STR_EQ_LONG,  /* equality, slen > 12: len and prefix, then memcmp */
    SP_STR_PREFIX    /* prefix: prefix bytes, len >= slen, then memcmp */
};

/*
 * The literal as a view and a mask over the view's bytes: the length word
 * (equality only) and the first min(slen, 4) prefix bytes, plus for
 * SP_STR_EQ_SHORT the inline bytes (a matching view is inline). A view
 * passes the head test when (bytes ^ want) & mask is zero, 8 bytes at a time.
 */
struct sp_str_key {
    uint64_t want[2];
    uint64_t mask[2];
    const char *s;
    uint32_t slen;
};

SP_KINLINE enum sp_str_mode sp_str_key_init(struct sp_str_key *key, const char *s, uint32_t slen,
                                            bool prefix) {
    struct spate_string want;
    struct spate_string mask;
    uint32_t head = SP_KMIN(slen, (uint32_t)sizeof want.prefix);
    bool eq_short = !prefix && slen <= SPATE_STRING_INLINE;

    memset(&want, 0, sizeof want);
    memset(&mask, 0, sizeof mask);
    if (!prefix) {
        want.len = slen;
        mask.len = UINT32_MAX;
    }
    if (head > 0)
        memcpy(want.prefix, s, head);
    memset(mask.prefix, 0xff, head);
    if (eq_short && slen > sizeof want.prefix) {
        memcpy(want.u.inlined, s + sizeof want.prefix, slen - sizeof want.prefix);
        memset(mask.u.inlined, 0xff, slen - sizeof want.prefix);
    }
    memcpy(key->want, &want, sizeof key->want);
    memcpy(key->mask, &mask, sizeof key->mask);
    key->s = s;
    key->slen = slen;
    return prefix ? SP_STR_PREFIX : eq_short ? SP_STR_EQ_SHORT : SP_STR_EQ_LONG;
}

/* Whether view x matches the key (x must be a valid row: long views are
 * dereferenced). */
SP_KINLINE bool sp_str_match(const struct spate_string *restrict x, const struct sp_str_key *key,
                             enum sp_str_mode mode) {
    const char *bytes = (const char *)x;
    uint64_t head = (sp_load_u64(bytes) ^ key->want[0]) & key->mask[0];

    if (mode == SP_STR_EQ_SHORT) /* the whole answer, branch-free */
        return (head | ((sp_load_u64(bytes + 8) ^ key->want[1]) & key->mask[1])) == 0;
    if (head != 0)
        return false;
    if (mode == SP_STR_PREFIX && x->len < key->slen)
        return false;
    if (key->slen <= sizeof x->prefix)
        return true;
    return memcmp(sp_str_data(x) + sizeof x->prefix, key->s + sizeof x->prefix,
                  key->slen - sizeof x->prefix) == 0;
}

/* ---- Entry points (tables in kernels/dispatch.c) ---- */

uint32_t sp_filter_cmp_i64_scalar(const int64_t *restrict v, const uint64_t *restrict validity,
                                  const uint16_t *restrict sel_in, uint32_t n, enum sp_cmp op,
                                  int64_t k, uint16_t *restrict sel_out);
uint32_t sp_filter_eq_str_scalar(const struct spate_string *restrict v,
                                 const uint64_t *restrict validity, const uint16_t *restrict sel_in,
                                 uint32_t n, const char *s, uint32_t slen, bool prefix,
                                 uint16_t *restrict sel_out);

#ifdef SPATE_HAVE_AVX2
uint32_t sp_filter_cmp_i64_avx2(const int64_t *restrict v, const uint64_t *restrict validity,
                                const uint16_t *restrict sel_in, uint32_t n, enum sp_cmp op,
                                int64_t k, uint16_t *restrict sel_out);
uint32_t sp_filter_eq_str_avx2(const struct spate_string *restrict v,
                               const uint64_t *restrict validity, const uint16_t *restrict sel_in,
                               uint32_t n, const char *s, uint32_t slen, bool prefix,
                               uint16_t *restrict sel_out);
#endif

#ifdef SPATE_HAVE_AVX512
uint32_t sp_filter_cmp_i64_avx512(const int64_t *restrict v, const uint64_t *restrict validity,
                                  const uint16_t *restrict sel_in, uint32_t n, enum sp_cmp op,
                                  int64_t k, uint16_t *restrict sel_out);
uint32_t sp_filter_eq_str_avx512(const struct spate_string *restrict v,
                                 const uint64_t *restrict validity, const uint16_t *restrict sel_in,
                                 uint32_t n, const char *s, uint32_t slen, bool prefix,
                                 uint16_t *restrict sel_out);
#endif

#endif /* SP_KERNELS_FILTER_H */
