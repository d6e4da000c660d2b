/*
 * tests/unit/test_kernels_pane.c - pane_combine_i64 and pane_combine_f64 of
 * every ISA against the scalar reference and a naive loop.
 *
 * n covers 0, 1, the vector-width edges, SPATE_CHUNK_ROWS and beyond; the
 * indexes are distinct (checked before every call: the kernels' precondition)
 * and come in random order, sorted, and with the table's first and last
 * entries among them. Values mix INT64_MIN/MAX (wrap), NaN, +-0.0, +-inf,
 * subnormals and random bits. The table, the index vector and the values end
 * at a PROT_NONE page (the table also starts right after one), so a variant
 * that reads past them crashes; every word that is not one of the indexed
 * ones must keep its bits.
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
#include "kernels/window/pane.h"

#define ROWS SPATE_CHUNK_ROWS
#define MAX_N (2 * ROWS + 65)     /* the largest pane tried */
#define MAX_ENTRIES (MAX_N + 100) /* entries in the largest table */
#define MAX_STRIDE 7              /* words per entry */
#define QNAN 0x7ff8000000000000ull

static uint64_t rng_state = 0x13198a2e03707344u;

static uint64_t rnd(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static uint32_t rnd_below(uint32_t n) {
    return n == 0 ? 0 : (uint32_t)(rnd() % n);
}

/* A buffer of `usable` bytes between two PROT_NONE pages. */
struct guarded {
    char *map;
    size_t total, usable;
    char *lo, *hi; /* first usable byte; the upper guard page */
};

static struct guarded g_table, g_idx, g_vals;

static int guarded_init(struct guarded *g, size_t bytes) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    g->usable = (bytes + page - 1) / page * page;
    g->total = g->usable + 2 * page;
    g->map = mmap(NULL, g->total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (g->map == MAP_FAILED)
        return -1;
    g->lo = g->map + page;
    g->hi = g->lo + g->usable;
    if (mprotect(g->map, page, PROT_NONE) != 0 || mprotect(g->hi, page, PROT_NONE) != 0)
        return -1;
    return 0;
}

/* What is tested: the scalar reference, then for every ISA built and supported here its
 * kernel table's entries and its own variant called directly (a table may point at the
 * scalar code, see kernels/dispatch.c; the variant is still kept correct). */
typedef void (*pane_i64_fn)(uint64_t *, uint32_t, uint32_t, const uint32_t *restrict,
                            const int64_t *restrict, uint32_t, enum sp_pane_op);
typedef void (*pane_f64_fn)(uint64_t *, uint32_t, uint32_t, const uint32_t *restrict,
                            const double *restrict, uint32_t, enum sp_pane_op);
struct impl {
    char isa[32];
    pane_i64_fn pane_combine_i64;
    pane_f64_fn pane_combine_f64;
};
static struct impl tables[8];
static size_t table_count;

static void add_impl(const char *isa, const char *how, pane_i64_fn i64, pane_f64_fn f64) {
    struct impl *m = &tables[table_count++];
    snprintf(m->isa, sizeof m->isa, "%s%s", isa, how);
    m->pane_combine_i64 = i64;
    m->pane_combine_f64 = f64;
}

static int group_setup(void **state) {
    (void)state;
    if (guarded_init(&g_table, (size_t)MAX_ENTRIES * MAX_STRIDE * 8) != 0 ||
        guarded_init(&g_idx, (size_t)MAX_N * 4) != 0 || guarded_init(&g_vals, (size_t)MAX_N * 8))
        return -1;
    add_impl("scalar", "", sp_pane_combine_i64_scalar, sp_pane_combine_f64_scalar);
    for (const char *const *name = sp_kernels_built(); *name != NULL; name++) {
        if (strcmp(*name, "scalar") == 0)
            continue;
        const struct sp_kernels *k = sp_kernels_select(*name);
        if (k == NULL) {
            print_message("[   INFO   ] %s: built but not supported by this CPU, not tested\n",
                          *name);
            continue;
        }
        add_impl(*name, " table", k->pane_combine_i64, k->pane_combine_f64);
#ifdef SPATE_HAVE_AVX2
        if (strcmp(*name, "avx2") == 0)
            add_impl(*name, "", sp_pane_combine_i64_avx2, sp_pane_combine_f64_avx2);
#endif
#ifdef SPATE_HAVE_AVX512
        if (strcmp(*name, "avx512") == 0)
            add_impl(*name, "", sp_pane_combine_i64_avx512, sp_pane_combine_f64_avx512);
#endif
    }
    for (size_t t = 0; t < table_count; t++)
        print_message("[   INFO   ] testing %s\n", tables[t].isa);
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    munmap(g_table.map, g_table.total);
    munmap(g_idx.map, g_idx.total);
    munmap(g_vals.map, g_vals.total);
    return 0;
}

/* ---- Inputs ---- */

static const uint64_t i64_edges[] = {
    0x8000000000000000ull, 0x7fffffffffffffffull, 0, 1, 0xffffffffffffffffull, 2,
    0x8000000000000001ull, 0x7ffffffffffffffeull,
};

static uint64_t rnd_i64(void) {
    return rnd_below(3) == 0 ? i64_edges[rnd_below(8)] : rnd();
}

/* f64 bits; nan_any: NaNs of any sign and payload (MIN/MAX select, never compute, so every
 * variant keeps the same NaN), else only the default quiet NaN (ADD/SUB of two NaNs leave
 * the payload to the operand order, see pane.h). */
static uint64_t rnd_f64(bool nan_any) {
    static const uint64_t edges[] = {
        0,                     /* +0.0 */
        0x8000000000000000ull, /* -0.0 */
        0x7ff0000000000000ull, /* +inf */
        0xfff0000000000000ull, /* -inf */
        0x0000000000000001ull, /* smallest subnormal */
        0x800fffffffffffffull, /* a negative subnormal */
        0x7fefffffffffffffull, /* DBL_MAX */
        0x3ff0000000000000ull, /* 1.0 */
        0xbff0000000000000ull, /* -1.0 */
    };
    uint32_t pick = rnd_below(4);
    if (pick == 0)
        return edges[rnd_below(sizeof edges / sizeof edges[0])];
    if (pick == 1 && rnd_below(3) == 0)
        return nan_any ? (0x7ff0000000000001ull | rnd()) : QNAN;
    double d = (double)(int64_t)(rnd() >> 8) / (double)(1 + rnd_below(1000));
    uint64_t b;
    memcpy(&b, &d, 8);
    return b;
}

/* ---- The naive loop: struct-free, one word at a time ---- */

static uint64_t naive_i64(uint64_t w, uint64_t v, enum sp_pane_op op) {
    int64_t a = (int64_t)w, b = (int64_t)v;
    switch (op) {
    case SP_PANE_ADD:
        return w + v;
    case SP_PANE_SUB:
        return w - v;
    case SP_PANE_MIN:
        return b < a ? v : w;
    case SP_PANE_MAX:
        return b > a ? v : w;
    }
    return w;
}

static uint64_t naive_f64(uint64_t w, uint64_t v, enum sp_pane_op op) {
    double a, b, r;
    memcpy(&a, &w, 8);
    memcpy(&b, &v, 8);
    switch (op) {
    case SP_PANE_ADD:
        r = a + b;
        break;
    case SP_PANE_SUB:
        r = a - b;
        break;
    case SP_PANE_MIN:
        return b < a ? v : w;
    case SP_PANE_MAX:
        return b > a ? v : w;
    default:
        return w;
    }
    memcpy(&w, &r, 8);
    return w;
}

/* ---- One case ---- */

/* The kernels' precondition, asserted before every call: idx[0, n) distinct and < entries. */
static void assert_distinct(const uint32_t *idx, uint32_t n, uint32_t entries) {
    static uint8_t seen[MAX_ENTRIES];
    memset(seen, 0, entries);
    for (uint32_t i = 0; i < n; i++) {
        assert_true(idx[i] < entries);
        assert_int_equal(seen[idx[i]], 0);
        seen[idx[i]] = 1;
    }
}

enum order { ORDER_RANDOM, ORDER_SORTED, ORDER_ENDS };

static void check(uint32_t n, uint32_t stride, uint32_t offset, bool f64, enum sp_pane_op op,
                  enum order order, bool table_at_low_guard) {
    static uint64_t init[MAX_ENTRIES * MAX_STRIDE], want[MAX_ENTRIES * MAX_STRIDE];
    static uint64_t scalar_got[MAX_ENTRIES * MAX_STRIDE];
    static uint32_t perm[MAX_ENTRIES];
    uint32_t entries = n + rnd_below(100);
    if (entries == 0)
        entries = 1;
    size_t words = (size_t)entries * stride;
    /* The table ends at the upper guard page, or starts right after the lower one. */
    uint64_t *base = table_at_low_guard ? (uint64_t *)(void *)g_table.lo
                                        : (uint64_t *)(void *)(g_table.hi - words * 8);
    uint32_t *idx = (uint32_t *)(void *)(g_idx.hi - (size_t)n * 4);
    uint64_t *vals = (uint64_t *)(void *)(g_vals.hi - (size_t)n * 8);
    bool nan_any = op == SP_PANE_MIN || op == SP_PANE_MAX;

    for (size_t w = 0; w < words; w++)
        init[w] = f64 ? rnd_f64(nan_any) : rnd_i64();
    for (uint32_t e = 0; e < entries; e++)
        perm[e] = e;
    for (uint32_t e = entries; e > 1; e--) { /* Fisher-Yates */
        uint32_t j = rnd_below(e);
        uint32_t t = perm[e - 1];
        perm[e - 1] = perm[j];
        perm[j] = t;
    }
    for (uint32_t i = 0; i < n; i++)
        idx[i] = perm[i];
    if (order == ORDER_SORTED || order == ORDER_ENDS) {
        for (uint32_t i = 0; i < n; i++) /* the n smallest, ascending */
            idx[i] = i;
    }
    if (order == ORDER_ENDS && n > 1) { /* the last entry first, the first entry last */
        idx[0] = entries - 1;
        idx[n - 1] = 0;
    } else if (order == ORDER_ENDS && n == 1) {
        idx[0] = entries - 1;
    }
    for (uint32_t i = 0; i < n; i++)
        vals[i] = f64 ? rnd_f64(nan_any) : rnd_i64();
    assert_distinct(idx, n, entries);

    memcpy(want, init, words * 8);
    for (uint32_t i = 0; i < n; i++) {
        uint64_t *w = &want[(size_t)idx[i] * stride + offset];
        *w = f64 ? naive_f64(*w, vals[i], op) : naive_i64(*w, vals[i], op);
    }
    for (size_t t = 0; t < table_count; t++) {
        memcpy(base, init, words * 8);
        if (f64)
            tables[t].pane_combine_f64(base, stride, offset, idx, (const double *)(void *)vals, n,
                                       op);
        else
            tables[t].pane_combine_i64(base, stride, offset, idx, (const int64_t *)(void *)vals, n,
                                       op);
        if (t == 0)
            memcpy(scalar_got, base, words * 8);
        for (size_t w = 0; w < words; w++) {
            if (base[w] != want[w])
                fail_msg("%s pane_combine_%s op=%d n=%u stride=%u offset=%u order=%d word %zu: "
                         "%016llx != naive %016llx",
                         tables[t].isa, f64 ? "f64" : "i64", (int)op, n, stride, offset, (int)order,
                         w, (unsigned long long)base[w], (unsigned long long)want[w]);
            if (base[w] != scalar_got[w])
                fail_msg("%s pane_combine_%s op=%d n=%u word %zu differs from scalar",
                         tables[t].isa, f64 ? "f64" : "i64", (int)op, n, w);
        }
    }
}

/* Tried in order up to the first above MAX_N (a build with small chunks stops early). */
static const uint32_t sizes[] = {
    0,  1,  2,  3,  4,  5,   7,    8,        9,    15,       16,       17,           31,
    32, 33, 63, 64, 65, 100, 1000, ROWS - 1, ROWS, ROWS + 1, ROWS + 7, 2 * ROWS + 65};

static void run_all(bool f64) {
    static const uint32_t strides[][2] = {{5, 3}, {5, 4}, {5, 0}, {1, 0}, {7, 6}, {2, 1}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        uint32_t n = sizes[s];
        if (n > MAX_N)
            continue;
        for (int op = SP_PANE_ADD; op <= SP_PANE_MAX; op++)
            for (size_t st = 0; st < sizeof strides / sizeof strides[0]; st++)
                for (int order = ORDER_RANDOM; order <= ORDER_ENDS; order++)
                    check(n, strides[st][0], strides[st][1], f64, (enum sp_pane_op)op,
                          (enum order)order, (s + st + (size_t)order) % 2 == 0);
    }
}

static void test_pane_i64(void **state) {
    (void)state;
    run_all(false);
}

static void test_pane_f64(void **state) {
    (void)state;
    run_all(true);
}

/* The fixed rules of pane.h, spelled out once: wrap, NaN, signed zeros, infinities. */
static void test_pane_edges(void **state) {
    (void)state;
    struct {
        bool f64;
        enum sp_pane_op op;
        uint64_t w, v, want;
    } cases[] = {
        {false, SP_PANE_ADD, 0x7fffffffffffffffull, 1, 0x8000000000000000ull},
        {false, SP_PANE_SUB, 0x8000000000000000ull, 1, 0x7fffffffffffffffull},
        {false, SP_PANE_MIN, 0x8000000000000000ull, 0x7fffffffffffffffull, 0x8000000000000000ull},
        {false, SP_PANE_MAX, 0x8000000000000000ull, 0x7fffffffffffffffull, 0x7fffffffffffffffull},
        {true, SP_PANE_MIN, QNAN, 0x3ff0000000000000ull, QNAN}, /* NaN in w stays */
        {true, SP_PANE_MIN, 0x3ff0000000000000ull, QNAN, 0x3ff0000000000000ull}, /* NaN v ignored */
        {true, SP_PANE_MAX, QNAN, 0x3ff0000000000000ull, QNAN},
        {true, SP_PANE_MAX, 0x3ff0000000000000ull, QNAN, 0x3ff0000000000000ull},
        {true, SP_PANE_MIN, 0, 0x8000000000000000ull, 0},                     /* +0 stays */
        {true, SP_PANE_MIN, 0x8000000000000000ull, 0, 0x8000000000000000ull}, /* -0 stays */
        {true, SP_PANE_MAX, 0x8000000000000000ull, 0, 0x8000000000000000ull},
        {true, SP_PANE_MIN, 0x7ff0000000000000ull, 0xfff0000000000000ull, 0xfff0000000000000ull},
        {true, SP_PANE_ADD, 0x7ff0000000000000ull, 0xfff0000000000000ull, 0xfff8000000000000ull},
        {true, SP_PANE_SUB, 0x7ff0000000000000ull, 0x7ff0000000000000ull, 0xfff8000000000000ull},
        {true, SP_PANE_ADD, 0x8000000000000000ull, 0x8000000000000000ull, 0x8000000000000000ull},
        {true, SP_PANE_ADD, 0x8000000000000000ull, 0, 0}, /* -0.0 is ADD's fresh word */
        {true, SP_PANE_SUB, 0x3ff0000000000000ull, 0x3ff0000000000000ull, 0},
    };
    for (size_t t = 0; t < table_count; t++)
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            /* Nine lanes so the SIMD bodies (not only their scalar tails) see the case. */
            uint64_t word[9 * 2];
            uint32_t idx[9];
            uint64_t v[9];
            for (uint32_t i = 0; i < 9; i++) {
                idx[i] = 8 - i;
                word[2 * i] = 0x5a5a5a5a5a5a5a5aull;
                word[2 * i + 1] = cases[c].w;
                v[i] = cases[c].v;
            }
            if (cases[c].f64)
                tables[t].pane_combine_f64(word, 2, 1, idx, (const double *)(void *)v, 9,
                                           cases[c].op);
            else
                tables[t].pane_combine_i64(word, 2, 1, idx, (const int64_t *)(void *)v, 9,
                                           cases[c].op);
            for (uint32_t i = 0; i < 9; i++) {
                assert_int_equal(word[2 * i], 0x5a5a5a5a5a5a5a5aull);
                if (word[2 * i + 1] != cases[c].want)
                    fail_msg("%s case %zu lane %u: %016llx != %016llx", tables[t].isa, c, i,
                             (unsigned long long)word[2 * i + 1],
                             (unsigned long long)cases[c].want);
            }
        }
}

/* sp_pane_fresh: a fresh word that OP leaves at v, bit for bit, for every variant. */
static void test_pane_fresh(void **state) {
    (void)state;
    for (size_t t = 0; t < table_count; t++)
        for (int op = SP_PANE_ADD; op <= SP_PANE_MAX; op++) {
            if (op == SP_PANE_SUB)
                continue; /* the inverse never meets a fresh entry */
            for (uint32_t r = 0; r < 200; r++) {
                bool f64 = r % 2 == 1;
                uint64_t v = f64 ? rnd_f64(op != SP_PANE_ADD) : rnd_i64();
                if (f64 && op == SP_PANE_ADD &&
                    (v & 0x7ff0000000000000ull) == 0x7ff0000000000000ull &&
                    (v & 0x000fffffffffffffull) != 0)
                    v = QNAN; /* a quiet NaN: adding to -0.0 keeps it */
                uint64_t word = sp_pane_fresh((enum sp_pane_op)op, f64, v);
                uint32_t idx = 0;
                if (f64)
                    tables[t].pane_combine_f64(&word, 1, 0, &idx, (const double *)(void *)&v, 1,
                                               (enum sp_pane_op)op);
                else
                    tables[t].pane_combine_i64(&word, 1, 0, &idx, (const int64_t *)(void *)&v, 1,
                                               (enum sp_pane_op)op);
                if (word != v)
                    fail_msg("%s fresh op=%d: %016llx != %016llx", tables[t].isa, op,
                             (unsigned long long)word, (unsigned long long)v);
            }
        }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pane_i64),
        cmocka_unit_test(test_pane_f64),
        cmocka_unit_test(test_pane_edges),
        cmocka_unit_test(test_pane_fresh),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
