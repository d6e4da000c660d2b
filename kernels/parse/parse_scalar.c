/*
 * kernels/parse/parse_scalar.c - the reference field parsers.
 *
 * parse_f64 takes Clinger's fast path where it is exact (at most 19
 * significant digits, a mantissa below 2^53 and a power of ten within
 * 10^22: one correctly rounded multiply or divide) and otherwise hands a
 * NUL-terminated copy to strtod, which rounds correctly; either way the
 * result is strtod's. It has no SIMD variant: every table points here.
 */
#include "kernels/parse/parse.h"

#include <stdlib.h>
#include <strings.h>

uint32_t sp_parse_i64_scalar(const char *const *restrict ptr, const uint32_t *restrict len,
                             uint32_t n, int64_t *restrict out, uint64_t *restrict ok) {
    uint32_t bad = 0;
    for (uint32_t i = 0; i < n; i++) {
        int64_t v = 0;
        bool good = sp_parse_i64_one(ptr[i], len[i], &v);
        out[i] = good ? v : 0;
        sp_parse_set_ok(ok, i, good);
        bad += !good;
    }
    return bad;
}

static const double pow10_exact[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* The grammar of the header, checked; true when p[0, len) is a number strtod reads whole. */
static bool f64_syntax(const char *p, uint32_t len, bool *fast, uint64_t *mant, int *exp10,
                       bool *neg) {
    uint32_t i = 0;
    *neg = false;
    if (i < len && (p[i] == '+' || p[i] == '-'))
        *neg = p[i++] == '-';
    uint64_t m = 0;
    int digits = 0, dropped = 0, e = 0;
    bool trunc = false; /* a significant digit past the 19th: not exact in m */
    uint32_t mant_digits = 0;
    for (; i < len && (unsigned)(p[i] - '0') <= 9; i++, mant_digits++) {
        if (digits < 19) {
            m = m * 10 + (unsigned)(p[i] - '0');
            digits += m > 0;
        } else {
            dropped++;
            trunc = true;
        }
    }
    if (i < len && p[i] == '.') {
        for (i++; i < len && (unsigned)(p[i] - '0') <= 9; i++, mant_digits++) {
            if (digits < 19) {
                m = m * 10 + (unsigned)(p[i] - '0');
                digits += m > 0;
                e--;
            } else {
                trunc = true;
            }
        }
    }
    if (mant_digits == 0)
        return false;
    if (i < len && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        bool eneg = false;
        if (i < len && (p[i] == '+' || p[i] == '-'))
            eneg = p[i++] == '-';
        if (i == len)
            return false;
        int x = 0;
        for (; i < len && (unsigned)(p[i] - '0') <= 9; i++)
            if (x < 100000)
                x = x * 10 + (p[i] - '0');
        e += eneg ? -x : x;
    }
    if (i != len)
        return false;
    e += dropped;
    *mant = m;
    *exp10 = e;
    *fast = !trunc && m < (1ull << 53) && e >= -22 && e <= 22;
    return true;
}

/* NaN, Infinity, inf, nan, infinity in any case, with an optional sign. */
static bool f64_special(const char *p, uint32_t len, double *out) {
    uint32_t i = 0;
    bool neg = false;
    if (len > 0 && (p[0] == '+' || p[0] == '-')) {
        neg = p[0] == '-';
        i = 1;
    }
    uint32_t rest = len - i;
    if ((rest == 3 && strncasecmp(p + i, "nan", 3) == 0)) {
        *out = neg ? -__builtin_nan("") : __builtin_nan("");
        return true;
    }
    if ((rest == 3 && strncasecmp(p + i, "inf", 3) == 0) ||
        (rest == 8 && strncasecmp(p + i, "infinity", 8) == 0)) {
        *out = neg ? -__builtin_inf() : __builtin_inf();
        return true;
    }
    return false;
}

static bool parse_f64_one(const char *p, uint32_t len, double *out) {
    bool fast, neg;
    uint64_t m;
    int e;
    if (!f64_syntax(p, len, &fast, &m, &e, &neg))
        return f64_special(p, len, out);
    if (fast) {
        double v = (double)m;
        v = e < 0 ? v / pow10_exact[-e] : v * pow10_exact[e];
        *out = neg ? -v : v;
        return true;
    }
    char buf[512];
    if (len >= sizeof(buf))
        return false; /* a number of 512 digits: not one a stream carries */
    memcpy(buf, p, len);
    buf[len] = '\0';
    *out = strtod(buf, NULL);
    return true;
}

uint32_t sp_parse_f64_scalar(const char *const *restrict ptr, const uint32_t *restrict len,
                             uint32_t n, double *restrict out, uint64_t *restrict ok) {
    uint32_t bad = 0;
    for (uint32_t i = 0; i < n; i++) {
        double v = 0;
        bool good = parse_f64_one(ptr[i], len[i], &v);
        out[i] = good ? v : 0;
        sp_parse_set_ok(ok, i, good);
        bad += !good;
    }
    return bad;
}
