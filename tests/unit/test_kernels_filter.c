/*
 * tests/unit/test_kernels_filter.c - differential tests of filter_cmp_i64 and
 * filter_eq_str.
 *
 * The scalar table is checked against a plain if-based oracle; every other
 * ISA built and supported by this CPU must return the same count and rows.
 * Inputs (values, validity, selection) end at PROT_NONE guard pages, and so
 * does sel_out with room for exactly n rows: a read past the inputs or a
 * write at or past n crashes. n covers 0..3*64+1 and SPATE_CHUNK_ROWS-1..,
 * validity NULL/all/none/random, selections NULL/identity/sparse/empty.
 */
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

#define ROWS SPATE_CHUNK_ROWS
#define WORDS ((ROWS + 63) / 64)

/* ---- Deterministic random numbers ---- */

static uint64_t rng_state = 0x243f6a8885a308d3u;

static uint64_t rnd(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static uint32_t rnd_below(uint32_t n) {
    return n == 0 ? 0 : (uint32_t)(rnd() % n);
}

/* ---- Guarded memory: a PROT_NONE page right after the usable bytes ---- */

struct guarded {
    char *map;
    size_t total;
    char *hi; /* one past the last usable byte (the guard page starts here) */
};

static void guarded_init(struct guarded *g, size_t size) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t usable = (size + page - 1) / page * page;

    g->total = usable + 2 * page;
    g->map = mmap(NULL, g->total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(g->map != MAP_FAILED);
    assert_int_equal(mprotect(g->map + page, usable, PROT_READ | PROT_WRITE), 0);
    g->hi = g->map + page + usable;
}

static void guarded_free(struct guarded *g) {
    munmap(g->map, g->total);
}

/* Place count elements of size bytes at the end of g (copying src). */
static void *place(struct guarded *g, const void *src, size_t count, size_t size) {
    char *p = g->hi - count * size;
    if (count > 0)
        memcpy(p, src, count * size);
    return p;
}

static struct guarded val_mem, valid_mem, sel_mem, out_mem;

static const struct sp_kernels *variants[4];
static size_t variant_count;

static int group_setup(void **state) {
    (void)state;
    const char *seed = getenv("SPATE_TEST_SEED");
    if (seed != NULL)
        rng_state = strtoull(seed, NULL, 0);
    guarded_init(&val_mem, ROWS * sizeof(struct spate_string));
    guarded_init(&valid_mem, WORDS * sizeof(uint64_t));
    guarded_init(&sel_mem, ROWS * sizeof(uint16_t));
    guarded_init(&out_mem, ROWS * sizeof(uint16_t));
    for (const char *const *name = sp_kernels_built(); *name != NULL; name++) {
        if (strcmp(*name, "scalar") == 0)
            continue;
        const struct sp_kernels *k = sp_kernels_select(*name);
        if (k == NULL) {
            print_message("[   INFO   ] %s: built but not supported by this CPU, not tested\n",
                          *name);
            continue;
        }
        variants[variant_count++] = k;
    }
    if (variant_count == 0)
        print_message("[   INFO   ] no SIMD variant to compare: scalar checked alone\n");
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    guarded_free(&val_mem);
    guarded_free(&valid_mem);
    guarded_free(&sel_mem);
    guarded_free(&out_mem);
    return 0;
}

/* ---- Input generators ---- */

/* n values to test: 0..3*64+1, and around the chunk capacity. */
static uint32_t n_values[3 * 64 + 2 + 3];
static size_t n_count;

static void make_n_values(void) {
    n_count = 0;
    for (uint32_t n = 0; n <= 3 * 64 + 1 && n <= ROWS; n++)
        n_values[n_count++] = n;
    for (uint32_t n = ROWS - 1; n <= ROWS; n++)
        if (n > 3 * 64 + 1)
            n_values[n_count++] = n;
}

enum valid_kind { VALID_NULL, VALID_ALL, VALID_NONE, VALID_RANDOM, VALID_SPARSE, VALID_KINDS };
enum sel_kind { SEL_NULL, SEL_IDENTITY, SEL_SPARSE, SEL_DENSE, SEL_EMPTY, SEL_KINDS };

/* Validity for rows [0, rows): NULL or a guarded copy. */
static const uint64_t *make_validity(enum valid_kind kind, uint32_t rows) {
    uint64_t words[WORDS];
    uint32_t nw = (rows + 63) / 64;

    for (uint32_t w = 0; w < nw; w++) {
        switch (kind) {
        case VALID_ALL:
            words[w] = ~(uint64_t)0;
            break;
        case VALID_NONE:
            words[w] = 0;
            break;
        case VALID_RANDOM:
            words[w] = rnd_below(4) == 0 ? ~(uint64_t)0 : rnd_below(4) == 0 ? 0 : rnd();
            break;
        default:
            words[w] = rnd() & rnd() & rnd();
            break;
        }
    }
    return kind == VALID_NULL ? NULL : place(&valid_mem, words, nw, sizeof words[0]);
}

/*
 * Selection: returns the candidate count and sets *sel (NULL or guarded).
 * Rows come from [0, rows).
 */
static uint32_t make_sel(enum sel_kind kind, uint32_t rows, const uint16_t **sel) {
    uint16_t buf[ROWS];
    uint32_t n = 0;

    switch (kind) {
    case SEL_NULL:
        *sel = NULL;
        return rows;
    case SEL_IDENTITY:
        for (uint32_t r = 0; r < rows; r++)
            buf[n++] = (uint16_t)r;
        break;
    case SEL_SPARSE:
        for (uint32_t r = 0; r < rows; r++)
            if (rnd_below(8) == 0)
                buf[n++] = (uint16_t)r;
        break;
    case SEL_DENSE:
        for (uint32_t r = 0; r < rows; r++)
            if (rnd_below(8) != 0)
                buf[n++] = (uint16_t)r;
        break;
    default:
        break;
    }
    *sel = place(&sel_mem, buf, n, sizeof buf[0]);
    return n;
}

static bool valid_row(const uint64_t *validity, uint32_t row) {
    return validity == NULL || ((validity[row / 64] >> (row % 64)) & 1);
}

/* ---- filter_cmp_i64 ---- */

static const int64_t literals[] = {INT64_MIN, INT64_MIN + 1, -1000,    -1, 0, 1,
                                   7,         INT64_MAX - 1, INT64_MAX};

static int64_t rnd_value(void) {
    switch (rnd_below(4)) {
    case 0:
        return literals[rnd_below(sizeof literals / sizeof literals[0])];
    case 1:
        return (int64_t)rnd();
    default:
        return (int64_t)rnd_below(16) - 8;
    }
}

static bool oracle_cmp(int64_t x, enum sp_cmp op, int64_t k) {
    switch (op) {
    case SP_CMP_EQ:
        return x == k;
    case SP_CMP_NE:
        return x != k;
    case SP_CMP_LT:
        return x < k;
    case SP_CMP_LE:
        return x <= k;
    case SP_CMP_GT:
        return x > k;
    case SP_CMP_GE:
        return x >= k;
    }
    return false;
}

static const char *const op_names[] = {"eq", "ne", "lt", "le", "gt", "ge"};

/* Run the oracle, scalar and every variant; everything must agree. */
static void check_cmp(const int64_t *v, const uint64_t *validity, const uint16_t *sel, uint32_t n,
                      enum sp_cmp op, int64_t k) {
    uint16_t expect[ROWS];
    uint16_t *out = (uint16_t *)out_mem.hi - n;
    uint32_t en = 0;

    for (uint32_t i = 0; i < n; i++) {
        uint32_t row = sel ? sel[i] : i;
        if (valid_row(validity, row) && oracle_cmp(v[row], op, k))
            expect[en++] = (uint16_t)row;
    }
    const struct sp_kernels *tables[5] = {&sp_kernels_scalar};
    size_t tc = 1;
    for (size_t t = 0; t < variant_count; t++)
        tables[tc++] = variants[t];
    for (size_t t = 0; t < tc; t++) {
        uint32_t got = tables[t]->filter_cmp_i64(v, validity, sel, n, op, k, out);
        if (got != en || memcmp(out, expect, en * sizeof(uint16_t)) != 0)
            fail_msg("%s filter_cmp_i64 %s k=%lld n=%u validity=%s sel=%s: count %u, expected %u",
                     tables[t]->isa, op_names[op], (long long)k, n, validity ? "yes" : "NULL",
                     sel ? "yes" : "NULL", got, en);
    }
}

static void test_filter_cmp_i64(void **state) {
    (void)state;
    int64_t vals[ROWS];

    make_n_values();
    for (size_t ni = 0; ni < n_count; ni++) {
        uint32_t rows = n_values[ni];
        for (int vk = 0; vk < VALID_KINDS; vk++) {
            for (int sk = 0; sk < SEL_KINDS; sk++) {
                const uint16_t *sel;
                uint32_t n = make_sel((enum sel_kind)sk, rows, &sel);
                const uint64_t *validity = make_validity((enum valid_kind)vk, rows);
                for (uint32_t r = 0; r < rows; r++)
                    vals[r] = rnd_value();
                const int64_t *v = place(&val_mem, vals, rows, sizeof vals[0]);
                for (int op = SP_CMP_EQ; op <= SP_CMP_GE; op++) {
                    int64_t k = rnd_below(2) ? literals[rnd_below(9)] : rnd_value();
                    check_cmp(v, validity, sel, n, (enum sp_cmp)op, k);
                }
            }
        }
    }
}

/* Every operator with every extreme literal, on values that are all extremes. */
static void test_filter_cmp_i64_extremes(void **state) {
    (void)state;
    int64_t vals[ROWS];
    uint32_t rows = ROWS < 130 ? ROWS : 130;

    for (uint32_t r = 0; r < rows; r++)
        vals[r] = literals[r % 9];
    const int64_t *v = place(&val_mem, vals, rows, sizeof vals[0]);
    for (size_t ki = 0; ki < sizeof literals / sizeof literals[0]; ki++) {
        for (int op = SP_CMP_EQ; op <= SP_CMP_GE; op++) {
            const uint16_t *sel;
            for (int sk = 0; sk < SEL_KINDS; sk++) {
                uint32_t n = make_sel((enum sel_kind)sk, rows, &sel);
                check_cmp(v, NULL, sel, n, (enum sp_cmp)op, literals[ki]);
                check_cmp(v, make_validity(VALID_RANDOM, rows), sel, n, (enum sp_cmp)op,
                          literals[ki]);
            }
        }
    }
}

/* ---- filter_eq_str ---- */

static char str_pool[ROWS * 24 + 64]; /* bytes the long views point into */

/* A view of bytes[0, len) with the prefix right and the padding garbage
 * (kernels must not read padding). */
static struct spate_string make_str(const char *bytes, uint32_t len) {
    struct spate_string s;
    memset(&s, 0x5a, sizeof s);
    s.len = len;
    memset(s.prefix, 0, sizeof s.prefix);
    memcpy(s.prefix, bytes, len < 4 ? len : 4);
    if (len > SPATE_STRING_INLINE) {
        s.u.ptr = bytes;
    } else if (len > 4) {
        memcpy(s.u.inlined, bytes + 4, len - 4);
        if (rnd_below(2))
            memset(s.u.inlined + (len - 4), 0, 12 - len);
    } else if (rnd_below(2)) {
        memset(s.u.inlined, 0, sizeof s.u.inlined);
    }
    return s;
}

static const char *const literals_str[] = {
    "",      "a",           "ab",           "abc",           "abcd",
    "abcde", "abcdabcdabc", "abcdabcdabcd", "abcdabcdabcda", "abcdabcdabcdabcdabcdabcd",
    "b",     "\0a",         "a\0"};
static const uint32_t literal_lens[] = {0, 1, 2, 3, 4, 5, 11, 12, 13, 24, 1, 2, 2};

static bool oracle_str(const struct spate_string *x, const char *s, uint32_t slen, bool prefix) {
    if (prefix ? x->len < slen : x->len != slen)
        return false;
    return slen == 0 || memcmp(sp_str_data(x), s, slen) == 0;
}

static void check_str(const struct spate_string *v, const uint64_t *validity, const uint16_t *sel,
                      uint32_t n, const char *s, uint32_t slen, bool prefix) {
    uint16_t expect[ROWS];
    uint16_t *out = (uint16_t *)out_mem.hi - n;
    uint32_t en = 0;

    for (uint32_t i = 0; i < n; i++) {
        uint32_t row = sel ? sel[i] : i;
        if (valid_row(validity, row) && oracle_str(&v[row], s, slen, prefix))
            expect[en++] = (uint16_t)row;
    }
    const struct sp_kernels *tables[5] = {&sp_kernels_scalar};
    size_t tc = 1;
    for (size_t t = 0; t < variant_count; t++)
        tables[tc++] = variants[t];
    for (size_t t = 0; t < tc; t++) {
        uint32_t got = tables[t]->filter_eq_str(v, validity, sel, n, s, slen, prefix, out);
        if (got != en || memcmp(out, expect, en * sizeof(uint16_t)) != 0)
            fail_msg("%s filter_eq_str slen=%u prefix=%d n=%u: count %u, expected %u",
                     tables[t]->isa, slen, prefix, n, got, en);
    }
}

static void test_filter_eq_str(void **state) {
    (void)state;
    struct spate_string views[ROWS];

    make_n_values();
    for (size_t ni = 0; ni < n_count; ni += (ni < 70 ? 1 : 13)) {
        uint32_t rows = n_values[ni];
        for (int vk = 0; vk < VALID_KINDS; vk++) {
            const uint64_t *validity = make_validity((enum valid_kind)vk, rows);
            for (uint32_t r = 0; r < rows; r++) {
                char *bytes = str_pool + r * 24;
                if (!valid_row(validity, r)) {
                    /* a null row: garbage that must not be dereferenced */
                    memset(&views[r], 0, sizeof views[r]);
                    views[r].len = 100;
                    continue;
                }
                if (rnd_below(2)) {
                    /* a literal or a variation of one: matches and near misses */
                    uint32_t li = rnd_below(sizeof literal_lens / sizeof literal_lens[0]);
                    uint32_t len = literal_lens[li];
                    memcpy(bytes, literals_str[li], len);
                    if (rnd_below(3) == 0 && len < 24)
                        bytes[len++] = 'x';
                    if (rnd_below(4) == 0 && len > 0)
                        bytes[rnd_below(len)] ^= 1;
                    views[r] = make_str(bytes, len);
                } else {
                    uint32_t len = rnd_below(25);
                    for (uint32_t i = 0; i < len; i++)
                        bytes[i] = "abcd"[rnd_below(4)];
                    views[r] = make_str(bytes, len);
                }
            }
            const struct spate_string *v = place(&val_mem, views, rows, sizeof views[0]);
            for (int sk = 0; sk < SEL_KINDS; sk++) {
                const uint16_t *sel;
                uint32_t n = make_sel((enum sel_kind)sk, rows, &sel);
                for (size_t li = 0; li < sizeof literal_lens / sizeof literal_lens[0]; li++) {
                    check_str(v, validity, sel, n, literals_str[li], literal_lens[li], false);
                    check_str(v, validity, sel, n, literals_str[li], literal_lens[li], true);
                }
            }
        }
    }
    /* slen 0 with a NULL pointer: equality matches empty strings only */
    views[0] = make_str("", 0);
    views[1] = make_str("abc", 3);
    uint32_t rows = ROWS < 2 ? ROWS : 2;
    const struct spate_string *v = place(&val_mem, views, rows, sizeof views[0]);
    check_str(v, NULL, NULL, rows, NULL, 0, false);
    check_str(v, NULL, NULL, rows, NULL, 0, true);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filter_cmp_i64),
        cmocka_unit_test(test_filter_cmp_i64_extremes),
        cmocka_unit_test(test_filter_eq_str),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
