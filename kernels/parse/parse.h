/*
 * kernels/parse/parse.h - parsing text fields into typed values.
 *
 * Exact semantics (parse_scalar.c is the reference; SIMD variants match it
 * bit for bit):
 *   - parse_i64: a field is an optional '+' or '-' then 1 to 19 ASCII digits
 *     (leading zeros allowed) whose value fits an int64 (-9223372036854775808
 *     included). Anything else (empty, a space, a second sign, a '.', a value
 *     out of range) is invalid: out[i] = 0 and bit i of ok clear.
 *   - parse_f64: what Java's Double.parseDouble and strtod agree on, without
 *     surrounding spaces: [+-] digits [. digits] [(e|E) [+-] digits] (at
 *     least one digit in the mantissa), "NaN", "Infinity" and "inf"/"nan" in
 *     any case with an optional sign. Rounded to nearest as strtod does.
 *   - ok is written for every i < n (bits at or past n in the last word are
 *     left as they were). No variant touches a page outside a field's bytes:
 *     the AVX2 one may read up to 15 bytes past a field within the page of
 *     its last byte (not in sanitizer builds), the others read none.
 */
#ifndef SP_KERNELS_PARSE_H
#define SP_KERNELS_PARSE_H

#include "kernels/common.h"

/* Set or clear bit i of ok. */
SP_KINLINE void sp_parse_set_ok(uint64_t *ok, uint32_t i, bool v) {
    uint64_t bit = 1ull << (i & 63);
    ok[i >> 6] = v ? (ok[i >> 6] | bit) : (ok[i >> 6] & ~bit);
}

/* One integer field, the reference: true and *out on success. */
SP_KINLINE bool sp_parse_i64_one(const char *p, uint32_t len, int64_t *out) {
    uint32_t i = 0;
    bool neg = false;
    if (len > 0 && (p[0] == '-' || p[0] == '+')) {
        neg = p[0] == '-';
        i = 1;
    }
    if (i == len || len - i > 19)
        return false;
    uint64_t v = 0;
    for (; i < len; i++) {
        unsigned d = (unsigned char)p[i] - (unsigned)'0';
        if (d > 9)
            return false;
        v = v * 10 + d; /* 19 digits never wrap a uint64 */
    }
    if (v > (uint64_t)INT64_MAX + (neg ? 1u : 0u))
        return false;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

uint32_t sp_parse_i64_scalar(const char *const *restrict ptr, const uint32_t *restrict len,
                             uint32_t n, int64_t *restrict out, uint64_t *restrict ok);
uint32_t sp_parse_f64_scalar(const char *const *restrict ptr, const uint32_t *restrict len,
                             uint32_t n, double *restrict out, uint64_t *restrict ok);
#ifdef SPATE_HAVE_AVX2
uint32_t sp_parse_i64_avx2(const char *const *restrict ptr, const uint32_t *restrict len,
                           uint32_t n, int64_t *restrict out, uint64_t *restrict ok);
#endif
#ifdef SPATE_HAVE_AVX512
uint32_t sp_parse_i64_avx512(const char *const *restrict ptr, const uint32_t *restrict len,
                             uint32_t n, int64_t *restrict out, uint64_t *restrict ok);
#endif

#endif /* SP_KERNELS_PARSE_H */
