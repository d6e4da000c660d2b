/*
 * tests/unit/test_kernels_parse.c - differential tests of the field parsers.
 *
 * parse_i64: the scalar table against an independent oracle (strtoll with
 * the grammar's extra rules: no spaces, one optional sign, at most 19 digits
 * after it, the whole field used), then every other ISA built and supported
 * by this CPU against scalar, value and validity bit for bit, on random and
 * edge-case fields: every length 0..24, INT64_MIN/MAX and one past, signs
 * alone, a bad byte at every position, leading zeros, and batches of 0, 1,
 * 63, 64, 65 and SPATE_CHUNK_ROWS fields. Every field ends at a PROT_NONE
 * page, so a read past it crashes. parse_f64 (scalar in every table) is
 * checked against strtod on decimal, exponent and special forms.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "kernels/kernels.h"

static uint64_t rng_state = 0x243f6a8885a308d3u;

static uint64_t rnd(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static const struct sp_kernels *tables[4];
static size_t table_count;

/* Fields live at the end of pages followed by a guard page: field i ends at page i's end. */
#define FIELDS 4096
static char *arena;
static size_t page;

static int group_setup(void **state) {
    (void)state;
    page = (size_t)sysconf(_SC_PAGESIZE);
    /* FIELDS pages of data, each followed by a guard page. */
    arena =
        mmap(NULL, 2 * page * FIELDS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (arena == MAP_FAILED)
        return -1;
    for (size_t i = 0; i < FIELDS; i++)
        if (mprotect(arena + (2 * i + 1) * page, page, PROT_NONE) != 0)
            return -1;
    tables[table_count++] = &sp_kernels_scalar;
    for (const char *const *name = sp_kernels_built(); *name != NULL; name++) {
        if (strcmp(*name, "scalar") == 0)
            continue;
        const struct sp_kernels *k = sp_kernels_select(*name);
        if (k == NULL)
            print_message("[   INFO   ] %s: built but not supported by this CPU, not tested\n",
                          *name);
        else
            tables[table_count++] = k;
    }
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    munmap(arena, 2 * page * FIELDS);
    return 0;
}

/* Place text (len bytes) so that it ends where field slot i's guard page begins. */
static const char *place(uint32_t i, const char *text, uint32_t len) {
    char *end = arena + (2 * (size_t)i + 1) * page;
    memcpy(end - len, text, len);
    return end - len;
}

/* The oracle: the grammar of kernels/parse/parse.h through strtoll. */
static bool oracle_i64(const char *p, uint32_t len, int64_t *out) {
    char buf[64];
    if (len == 0 || len >= sizeof(buf))
        return false;
    uint32_t s = p[0] == '-' || p[0] == '+';
    if (len == s || len - s > 19)
        return false;
    for (uint32_t i = s; i < len; i++)
        if (p[i] < '0' || p[i] > '9')
            return false;
    memcpy(buf, p, len);
    buf[len] = '\0';
    errno = 0;
    char *end;
    long long v = strtoll(buf, &end, 10);
    if (errno == ERANGE || end != buf + len)
        return false;
    *out = v;
    return true;
}

static const char *ptrs[FIELDS];
static uint32_t lens[FIELDS];
static char texts[FIELDS][32];

/* Run every table on fields [0, n) and compare. */
static void check_i64(uint32_t n) {
    static int64_t want[FIELDS], got[FIELDS];
    static uint64_t want_ok[FIELDS / 64 + 1], got_ok[FIELDS / 64 + 1];
    for (uint32_t i = 0; i < n; i++)
        ptrs[i] = place(i, texts[i], lens[i]);
    memset(want_ok, 0xaa, sizeof(want_ok));
    uint32_t bad = sp_kernels_scalar.parse_i64(ptrs, lens, n, want, want_ok);
    uint32_t count_bad = 0;
    for (uint32_t i = 0; i < n; i++) {
        int64_t v = 0;
        bool ok = oracle_i64(texts[i], lens[i], &v);
        bool got_valid = (want_ok[i >> 6] >> (i & 63)) & 1;
        if (ok != got_valid || (ok && v != want[i]) || (!ok && want[i] != 0))
            fail_msg("scalar parse_i64 '%.*s': valid %d value %lld, oracle %d %lld", (int)lens[i],
                     texts[i], got_valid, (long long)want[i], ok, (long long)v);
        count_bad += !ok;
    }
    assert_int_equal(bad, count_bad);
    for (size_t t = 1; t < table_count; t++) {
        memset(got_ok, 0x55, sizeof(got_ok));
        memset(got, 0x77, sizeof(got));
        uint32_t tb = tables[t]->parse_i64(ptrs, lens, n, got, got_ok);
        assert_int_equal(tb, bad);
        for (uint32_t i = 0; i < n; i++) {
            bool a = (want_ok[i >> 6] >> (i & 63)) & 1, b = (got_ok[i >> 6] >> (i & 63)) & 1;
            if (a != b || want[i] != got[i])
                fail_msg("%s parse_i64 '%.*s': valid %d value %lld, scalar %d %lld", tables[t]->isa,
                         (int)lens[i], texts[i], b, (long long)got[i], a, (long long)want[i]);
        }
        /* Bits past n in the last word are left alone. */
        if (n % 64 != 0)
            assert_int_equal(got_ok[n / 64] >> (n % 64), 0x5555555555555555ull >> (n % 64));
    }
}

static void set_field(uint32_t i, const char *s) {
    lens[i] = (uint32_t)strlen(s);
    memcpy(texts[i], s, lens[i]);
}

static void i64_edge_cases(void **state) {
    (void)state;
    static const char *edge[] = {"",
                                 "-",
                                 "+",
                                 "0",
                                 "-0",
                                 "+7",
                                 "9223372036854775807",
                                 "9223372036854775808",
                                 "-9223372036854775808",
                                 "-9223372036854775809",
                                 "+9223372036854775807",
                                 "0000000000000000001",
                                 "00000000000000000001",
                                 "99999999999999999999",
                                 "1234567890123456",
                                 "-1234567890123456",
                                 "12345678901234567",
                                 "-123456789012345",
                                 "9999999999999999",
                                 "--1",
                                 "1-",
                                 " 1",
                                 "1 ",
                                 "1.0",
                                 "1e3",
                                 "0x10",
                                 "١٢",
                                 "abc",
                                 "12a4",
                                 "/",
                                 ":"};
    uint32_t n = (uint32_t)(sizeof(edge) / sizeof(edge[0]));
    for (uint32_t i = 0; i < n; i++)
        set_field(i, edge[i]);
    check_i64(n);
    check_i64(0);
    check_i64(1);
}

static void i64_random(void **state) {
    (void)state;
    static const uint32_t sizes[] = {63, 64, 65, 1000, FIELDS};
    for (int round = 0; round < 20; round++) {
        for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
            uint32_t n = sizes[si];
            for (uint32_t i = 0; i < n; i++) {
                uint32_t len = (uint32_t)(rnd() % 25);
                char *t = texts[i];
                for (uint32_t j = 0; j < len; j++)
                    t[j] = (char)('0' + rnd() % 10);
                if (len > 0 && rnd() % 3 == 0)
                    t[0] = rnd() % 2 ? '-' : '+';
                if (len > 0 && rnd() % 5 == 0) /* a bad byte anywhere */
                    t[rnd() % len] = "x /:.\x80\0e"[rnd() % 8];
                lens[i] = len;
            }
            check_i64(n);
        }
    }
}

/* ---- parse_f64 against strtod ---- */

static void check_f64(const char *s, bool valid) {
    uint32_t len = (uint32_t)strlen(s);
    const char *p = place(0, s, len);
    for (size_t t = 0; t < table_count; t++) {
        double v = -1;
        uint64_t ok = 0;
        uint32_t bad = tables[t]->parse_f64(&p, &len, 1, &v, &ok);
        if ((bad == 0) != valid || (ok & 1) != valid)
            fail_msg("%s parse_f64 '%s': valid %d, expected %d", tables[t]->isa, s, bad == 0,
                     valid);
        if (!valid)
            continue;
        double want = strtod(s, NULL);
        if (isnan(want) ? !isnan(v) : memcmp(&v, &want, sizeof(v)) != 0)
            fail_msg("%s parse_f64 '%s': %.17g, strtod %.17g", tables[t]->isa, s, v, want);
    }
}

static void f64_forms(void **state) {
    (void)state;
    static const char *good[] = {"0",
                                 "-0",
                                 "1.5",
                                 "-2.25",
                                 "+3",
                                 ".5",
                                 "5.",
                                 "1e10",
                                 "1E-5",
                                 "2.5e+3",
                                 "123456789012345678901234567890",
                                 "0.1",
                                 "0.30000000000000004",
                                 "9007199254740993",
                                 "1.7976931348623157e308",
                                 "4.9e-324",
                                 "1e400",
                                 "1e-400",
                                 "0.000000000000000000000000000001",
                                 "3.141592653589793238462643383279",
                                 "NaN",
                                 "-Infinity",
                                 "Infinity",
                                 "inf",
                                 "-nan"};
    static const char *bad[] = {"",   "-",  ".",     "e5",  "1e",       "1e+", "1.2.3",
                                " 1", "1 ", "0x1p3", "1,5", "infinite", "--1", "1e5x"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        check_f64(good[i], true);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        check_f64(bad[i], false);
    /* Random decimals of every shape: the fast path and strtod must agree. */
    for (int i = 0; i < 20000; i++) {
        char s[64];
        int digits = 1 + (int)(rnd() % 20), frac = (int)(rnd() % 12);
        int at = 0;
        if (rnd() % 2)
            s[at++] = '-';
        for (int j = 0; j < digits; j++)
            s[at++] = (char)('0' + rnd() % 10);
        if (frac > 0) {
            s[at++] = '.';
            for (int j = 0; j < frac; j++)
                s[at++] = (char)('0' + rnd() % 10);
        }
        if (rnd() % 3 == 0)
            at += snprintf(s + at, sizeof(s) - (size_t)at, "e%d", (int)(rnd() % 60) - 30);
        s[at] = '\0';
        check_f64(s, true);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(i64_edge_cases),
        cmocka_unit_test(i64_random),
        cmocka_unit_test(f64_forms),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
