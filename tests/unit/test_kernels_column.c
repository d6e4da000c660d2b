/*
 * tests/unit/test_kernels_column.c - differential tests of the column
 * kernels: filter_cmp_f64, column-against-column compares, selection set
 * operations, compaction (gathers and validity), arithmetic, casts and
 * hash_combine.
 *
 * Each kernel's scalar table entry is checked against a plain oracle written
 * here, and every other ISA built and supported by this CPU must give the
 * same bits (ISAs the CPU lacks are reported and skipped). Inputs end at
 * PROT_NONE guard pages and outputs have exactly the documented room, so a
 * read past an input or a write past the room crashes. The start of each
 * input moves with n (vector alignment varies); n covers 0, 1, the vector
 * widths and around them, 3*64+1 and SPATE_CHUNK_ROWS-1, SPATE_CHUNK_ROWS;
 * validity NULL, all, none, random and sparse; selections NULL, identity,
 * sparse, dense and empty; values include INT64_MIN/MAX, NaN, +-0.0, +-inf.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <setjmp.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "kernels/kernels.h"

#define ROWS SPATE_CHUNK_ROWS
#define WORDS ((ROWS + 63) / 64)

/* ---- Deterministic random numbers ---- */

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

/* Room for count elements of size bytes ending at the guard page. */
static void *room(struct guarded *g, size_t count, size_t size) {
    return g->hi - count * size;
}

enum { MEM_A, MEM_B, MEM_VA, MEM_VB, MEM_SEL, MEM_SEL2, MEM_OUT, MEM_OUT2, MEM_VOUT, MEM_COUNT };
static struct guarded mem[MEM_COUNT];

static const struct sp_kernels *tables[4];
static size_t table_count;

static int group_setup(void **state) {
    (void)state;
    const char *seed = getenv("SPATE_TEST_SEED");
    if (seed != NULL)
        rng_state = strtoull(seed, NULL, 0);
    for (int m = 0; m < MEM_COUNT; m++)
        guarded_init(&mem[m], 2 * ROWS * sizeof(struct spate_string));
    tables[table_count++] = &sp_kernels_scalar;
    for (const char *const *name = sp_kernels_built(); *name != NULL; name++) {
        if (strcmp(*name, "scalar") == 0)
            continue;
        const struct sp_kernels *k = sp_kernels_select(*name);
        if (k == NULL) {
            print_message("[  SKIPPED ] %s: built but not supported by this CPU, not tested\n",
                          *name);
            continue;
        }
        tables[table_count++] = k;
    }
    if (table_count == 1)
        print_message("[   INFO   ] no SIMD variant to compare: scalar checked alone\n");
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    for (int m = 0; m < MEM_COUNT; m++)
        guarded_free(&mem[m]);
    return 0;
}

/* ---- Input generators ---- */

static const uint32_t n_list[] = {0,  1,  2,  3,  4,  5,   7,   8,   9,   15,  16,  17,       31,
                                  32, 33, 63, 64, 65, 100, 127, 128, 129, 191, 193, ROWS - 1, ROWS};
#define N_COUNT (sizeof n_list / sizeof n_list[0])

enum valid_kind { VALID_NULL, VALID_ALL, VALID_NONE, VALID_RANDOM, VALID_SPARSE, VALID_KINDS };
enum sel_kind { SEL_NULL, SEL_IDENTITY, SEL_SPARSE, SEL_DENSE, SEL_EMPTY, SEL_KINDS };

static const uint64_t *make_validity(int m, enum valid_kind kind, uint32_t rows) {
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
    return kind == VALID_NULL ? NULL : place(&mem[m], words, nw, sizeof words[0]);
}

/* Ascending rows of [0, rows) into buf by kind; returns the count. */
static uint32_t fill_sel(enum sel_kind kind, uint32_t rows, uint16_t *buf) {
    uint32_t n = 0;
    uint32_t keep = kind == SEL_SPARSE ? 1 : kind == SEL_DENSE ? 7 : 8;

    if (kind == SEL_EMPTY)
        return 0;
    for (uint32_t r = 0; r < rows; r++)
        if (kind == SEL_NULL || kind == SEL_IDENTITY || rnd_below(8) < keep)
            buf[n++] = (uint16_t)r;
    return n;
}

static uint32_t make_sel(int m, enum sel_kind kind, uint32_t rows, const uint16_t **sel) {
    uint16_t buf[ROWS];
    uint32_t n = fill_sel(kind, rows, buf);

    *sel = kind == SEL_NULL ? NULL : place(&mem[m], buf, n, sizeof buf[0]);
    return n;
}

static bool valid_row(const uint64_t *validity, uint32_t row) {
    return validity == NULL || ((validity[row / 64] >> (row % 64)) & 1);
}

static const int64_t i64_specials[] = {INT64_MIN, INT64_MIN + 1, -1000,    -1, 0, 1, 2,
                                       7,         INT64_MAX - 1, INT64_MAX};
#define I64_SPECIALS (sizeof i64_specials / sizeof i64_specials[0])

static int64_t rnd_i64(void) {
    switch (rnd_below(4)) {
    case 0:
        return i64_specials[rnd_below(I64_SPECIALS)];
    case 1:
        return (int64_t)rnd();
    default:
        return (int64_t)rnd_below(16) - 8;
    }
}

static double f64_specials[12];
#define F64_SPECIALS (sizeof f64_specials / sizeof f64_specials[0])

static void make_f64_specials(void) {
    const double s[F64_SPECIALS] = {NAN, -NAN, 0.0,    -0.0,    INFINITY, -INFINITY,
                                    1.0, -1.0, 0x1p63, -0x1p63, 1e300,    4.9e-324};
    memcpy(f64_specials, s, sizeof s);
}

static double rnd_f64(void) {
    switch (rnd_below(4)) {
    case 0:
        return f64_specials[rnd_below(F64_SPECIALS)];
    case 1:
        return ((double)(int64_t)rnd()) / 1e3;
    default:
        return (double)((int)rnd_below(16) - 8) * 0.5;
    }
}

static const char *const op_names[] = {"eq", "ne", "lt", "le", "gt", "ge"};

static bool oracle_i64(int64_t x, enum sp_cmp op, int64_t y) {
    switch (op) {
    case SP_CMP_EQ:
        return x == y;
    case SP_CMP_NE:
        return x != y;
    case SP_CMP_LT:
        return x < y;
    case SP_CMP_LE:
        return x <= y;
    case SP_CMP_GT:
        return x > y;
    case SP_CMP_GE:
        return x >= y;
    }
    return false;
}

/*
 * f64 results equal bit for bit, except that any NaN equals any NaN: which
 * operand's payload a NaN result carries depends on operand order, which a
 * compiler may swap for commutative operations (the oracle included).
 */
static bool same_f64s(const double *x, const double *y, uint32_t n) {
    for (uint32_t i = 0; i < n; i++)
        if (!(isnan(x[i]) && isnan(y[i])) && memcmp(&x[i], &y[i], sizeof(double)) != 0)
            return false;
    return true;
}

/* IEEE by cases, without relying on the operators under test for NaN. */
static bool oracle_f64(double x, enum sp_cmp op, double y) {
    if (isnan(x) || isnan(y))
        return op == SP_CMP_NE;
    switch (op) {
    case SP_CMP_EQ:
        return !(x < y) && !(x > y);
    case SP_CMP_NE:
        return x < y || x > y;
    case SP_CMP_LT:
        return x < y;
    case SP_CMP_LE:
        return !(x > y);
    case SP_CMP_GT:
        return x > y;
    case SP_CMP_GE:
        return !(x < y);
    }
    return false;
}

/* ---- Compare kernels ---- */

enum cmp_kind { CMP_F64_LIT, CMP_I64_COL, CMP_F64_COL };

static void check_cmp(enum cmp_kind kind, const void *a, const uint64_t *va, const void *b,
                      const uint64_t *vb, double kf, const uint16_t *sel, uint32_t n,
                      enum sp_cmp op) {
    uint16_t expect[ROWS];
    uint16_t *out = room(&mem[MEM_OUT], n, sizeof(uint16_t));
    uint32_t en = 0;

    for (uint32_t i = 0; i < n; i++) {
        uint32_t row = sel ? sel[i] : i;
        bool pass;
        if (kind == CMP_I64_COL)
            pass = oracle_i64(((const int64_t *)a)[row], op, ((const int64_t *)b)[row]);
        else
            pass = oracle_f64(((const double *)a)[row], op,
                              kind == CMP_F64_COL ? ((const double *)b)[row] : kf);
        if (pass && valid_row(va, row) && valid_row(vb, row))
            expect[en++] = (uint16_t)row;
    }
    for (size_t t = 0; t < table_count; t++) {
        uint32_t got;
        if (kind == CMP_F64_LIT)
            got = tables[t]->filter_cmp_f64(a, va, sel, n, op, kf, out);
        else if (kind == CMP_I64_COL)
            got = tables[t]->filter_cmp_i64_col(a, va, b, vb, sel, n, op, out);
        else
            got = tables[t]->filter_cmp_f64_col(a, va, b, vb, sel, n, op, out);
        if (got != en || memcmp(out, expect, en * sizeof(uint16_t)) != 0)
            fail_msg("%s cmp kind %d %s k=%g n=%u va=%s vb=%s sel=%s: count %u, expected %u",
                     tables[t]->isa, (int)kind, op_names[op], kf, n, va ? "yes" : "NULL",
                     vb ? "yes" : "NULL", sel ? "yes" : "NULL", got, en);
    }
}

static void fill_values(enum cmp_kind kind, uint32_t rows, int64_t *ai, double *af) {
    for (uint32_t r = 0; r < rows; r++) {
        if (kind == CMP_I64_COL)
            ai[r] = rnd_i64();
        else
            af[r] = rnd_f64();
    }
}

static void run_cmp(enum cmp_kind kind) {
    int64_t ai[ROWS], bi[ROWS];
    double af[ROWS], bf[ROWS];

    make_f64_specials();
    for (size_t ni = 0; ni < N_COUNT; ni++) {
        uint32_t rows = n_list[ni];
        if (rows > ROWS) /* tiny-chunk builds */
            continue;
        for (int vk = 0; vk < VALID_KINDS; vk++) {
            for (int sk = 0; sk < SEL_KINDS; sk++) {
                const uint16_t *sel;
                uint32_t n = make_sel(MEM_SEL, (enum sel_kind)sk, rows, &sel);
                const uint64_t *va = make_validity(MEM_VA, (enum valid_kind)vk, rows);
                const uint64_t *vb =
                    kind == CMP_F64_LIT
                        ? NULL
                        : make_validity(MEM_VB, (enum valid_kind)rnd_below(VALID_KINDS), rows);
                fill_values(kind, rows, ai, af);
                fill_values(kind, rows, bi, bf);
                if (kind != CMP_I64_COL && rows > 0 && rnd_below(2)) /* equal pairs, +-0 */
                    for (uint32_t r = 0; r < rows; r += 3)
                        bf[r] = af[r] == 0.0 ? -af[r] : af[r];
                if (kind == CMP_I64_COL && rows > 0 && rnd_below(2))
                    for (uint32_t r = 0; r < rows; r += 3)
                        bi[r] = ai[r];
                const void *a = kind == CMP_I64_COL ? place(&mem[MEM_A], ai, rows, 8)
                                                    : place(&mem[MEM_A], af, rows, 8);
                const void *b = kind == CMP_I64_COL ? place(&mem[MEM_B], bi, rows, 8)
                                                    : place(&mem[MEM_B], bf, rows, 8);
                for (int op = SP_CMP_EQ; op <= SP_CMP_GE; op++) {
                    double k = rnd_below(2) ? f64_specials[rnd_below(F64_SPECIALS)] : rnd_f64();
                    check_cmp(kind, a, va, b, vb, k, sel, n, (enum sp_cmp)op);
                }
            }
        }
    }
}

static void test_filter_cmp_f64(void **state) {
    (void)state;
    run_cmp(CMP_F64_LIT);
}

/* Every operator with every special literal on values that are all specials. */
static void test_filter_cmp_f64_specials(void **state) {
    (void)state;
    double vals[ROWS];
    uint32_t rows = ROWS < 130 ? ROWS : 130;

    make_f64_specials();
    for (uint32_t r = 0; r < rows; r++)
        vals[r] = f64_specials[r % F64_SPECIALS];
    const double *v = place(&mem[MEM_A], vals, rows, sizeof vals[0]);
    for (size_t ki = 0; ki < F64_SPECIALS; ki++) {
        for (int op = SP_CMP_EQ; op <= SP_CMP_GE; op++) {
            for (int sk = 0; sk < SEL_KINDS; sk++) {
                const uint16_t *sel;
                uint32_t n = make_sel(MEM_SEL, (enum sel_kind)sk, rows, &sel);
                check_cmp(CMP_F64_LIT, v, NULL, NULL, NULL, f64_specials[ki], sel, n,
                          (enum sp_cmp)op);
            }
        }
    }
    /* the IEEE rules, spelled out on the scalar reference */
    uint16_t out[4];
    double nan_zero[2] = {NAN, -0.0};
    assert_int_equal(sp_kernels_scalar.filter_cmp_f64(nan_zero, NULL, NULL, 2, SP_CMP_EQ, 0.0, out),
                     1);
    assert_int_equal(out[0], 1);
    assert_int_equal(sp_kernels_scalar.filter_cmp_f64(nan_zero, NULL, NULL, 2, SP_CMP_NE, 0.0, out),
                     1);
    assert_int_equal(out[0], 0);
    assert_int_equal(sp_kernels_scalar.filter_cmp_f64(nan_zero, NULL, NULL, 2, SP_CMP_NE, NAN, out),
                     2);
    assert_int_equal(sp_kernels_scalar.filter_cmp_f64(nan_zero, NULL, NULL, 2, SP_CMP_GE, NAN, out),
                     0);
}

static void test_filter_cmp_i64_col(void **state) {
    (void)state;
    run_cmp(CMP_I64_COL);
}

static void test_filter_cmp_f64_col(void **state) {
    (void)state;
    run_cmp(CMP_F64_COL);
}

/* ---- Selection set operations ---- */

static void check_sel_ops(const uint16_t *a, uint32_t na, const uint16_t *b, uint32_t nb,
                          uint32_t n) {
    bool in_a[ROWS] = {false}, in_b[ROWS] = {false};
    uint16_t e_and[ROWS], e_or[ROWS], e_not[ROWS];
    uint32_t n_and = 0, n_or = 0, n_not = 0;

    for (uint32_t i = 0; i < na; i++)
        in_a[a[i]] = true;
    for (uint32_t i = 0; i < nb; i++)
        in_b[b[i]] = true;
    for (uint32_t r = 0; r < ROWS; r++) {
        if (in_a[r] && in_b[r])
            e_and[n_and++] = (uint16_t)r;
        if (in_a[r] || in_b[r])
            e_or[n_or++] = (uint16_t)r;
        if (r < n && !in_a[r])
            e_not[n_not++] = (uint16_t)r;
    }
    for (size_t t = 0; t < table_count; t++) {
        const char *isa = tables[t]->isa;
        uint32_t r_and = na < nb ? na : nb;
        uint16_t *out = room(&mem[MEM_OUT], r_and, sizeof(uint16_t));
        uint32_t got = tables[t]->sel_and(a, na, b, nb, out);
        if (got != n_and || memcmp(out, e_and, got * sizeof out[0]) != 0)
            fail_msg("%s sel_and na=%u nb=%u: %u, expected %u", isa, na, nb, got, n_and);
        out = room(&mem[MEM_OUT], na + nb, sizeof(uint16_t));
        got = tables[t]->sel_or(a, na, b, nb, out);
        if (got != n_or || memcmp(out, e_or, got * sizeof out[0]) != 0)
            fail_msg("%s sel_or na=%u nb=%u: %u, expected %u", isa, na, nb, got, n_or);
        out = room(&mem[MEM_OUT], n, sizeof(uint16_t));
        got = tables[t]->sel_not(a, na, n, out);
        if (got != n_not || memcmp(out, e_not, got * sizeof out[0]) != 0)
            fail_msg("%s sel_not na=%u n=%u: %u, expected %u", isa, na, n, got, n_not);
    }
}

static void test_sel_ops(void **state) {
    (void)state;
    uint16_t abuf[ROWS], bbuf[ROWS];

    for (size_t ni = 0; ni < N_COUNT; ni++) {
        uint32_t rows = n_list[ni];
        if (rows > ROWS) /* tiny-chunk builds */
            continue;
        for (int ak = SEL_IDENTITY; ak < SEL_KINDS; ak++) {
            for (int bk = SEL_IDENTITY; bk < SEL_KINDS; bk++) {
                uint32_t na = fill_sel((enum sel_kind)ak, rows, abuf);
                /* b sometimes from a shorter range: one input ends first */
                uint32_t nb = fill_sel((enum sel_kind)bk, rnd_below(2) ? rows : rows / 2, bbuf);
                const uint16_t *a = place(&mem[MEM_SEL], abuf, na, sizeof abuf[0]);
                const uint16_t *b = place(&mem[MEM_SEL2], bbuf, nb, sizeof bbuf[0]);
                check_sel_ops(a, na, b, nb, rows);
                check_sel_ops(b, nb, a, na, rows);
            }
        }
    }
}

/* ---- Compaction ---- */

static void test_compaction(void **state) {
    (void)state;
    uint64_t vals[ROWS];
    struct spate_string views[ROWS];

    for (size_t ni = 0; ni < N_COUNT; ni++) {
        uint32_t rows = n_list[ni];
        if (rows > ROWS) /* tiny-chunk builds */
            continue;
        for (uint32_t r = 0; r < rows; r++) {
            vals[r] = rnd();
            for (size_t byte = 0; byte < sizeof views[r]; byte++)
                ((unsigned char *)&views[r])[byte] = (unsigned char)rnd();
        }
        const uint64_t *v = place(&mem[MEM_A], vals, rows, sizeof vals[0]);
        const struct spate_string *sv = place(&mem[MEM_B], views, rows, sizeof views[0]);
        for (int vk = 0; vk < VALID_KINDS; vk++) {
            const uint64_t *validity = make_validity(MEM_VA, (enum valid_kind)vk, rows);
            for (int sk = SEL_IDENTITY; sk < SEL_KINDS; sk++) {
                const uint16_t *sel;
                uint32_t n = make_sel(MEM_SEL, (enum sel_kind)sk, rows, &sel);
                uint32_t nw = (n + 63) / 64;
                uint64_t ev[WORDS] = {0};
                uint32_t evalid = 0;
                for (uint32_t i = 0; i < n; i++) {
                    if (valid_row(validity, sel[i])) {
                        ev[i / 64] |= (uint64_t)1 << (i % 64);
                        evalid++;
                    }
                }
                for (size_t t = 0; t < table_count; t++) {
                    const char *isa = tables[t]->isa;
                    uint64_t *out = room(&mem[MEM_OUT], n, sizeof(uint64_t));
                    struct spate_string *sout =
                        room(&mem[MEM_OUT2], n, sizeof(struct spate_string));
                    uint64_t *vout = room(&mem[MEM_VOUT], nw, sizeof(uint64_t));
                    tables[t]->gather_u64(v, sel, n, out);
                    tables[t]->gather_str(sv, sel, n, sout);
                    for (uint32_t i = 0; i < n; i++) {
                        if (out[i] != vals[sel[i]])
                            fail_msg("%s gather_u64 n=%u: row %u differs", isa, n, i);
                        if (memcmp(&sout[i], &views[sel[i]], sizeof sout[i]) != 0)
                            fail_msg("%s gather_str n=%u: row %u differs", isa, n, i);
                    }
                    uint32_t got = tables[t]->compact_validity(validity, sel, n, vout);
                    if (got != evalid || memcmp(vout, ev, nw * sizeof ev[0]) != 0)
                        fail_msg("%s compact_validity n=%u validity=%d: %u valid, expected %u", isa,
                                 n, vk, got, evalid);
                }
            }
        }
    }
}

/* ---- Arithmetic ---- */

static const char *const arith_names[] = {"add", "sub", "mul", "div", "mod"};

/* The oracle: returns whether the row is valid (false: zero divisor). */
static bool oracle_arith_i64(int64_t x, int64_t y, enum sp_arith op, int64_t *r) {
    uint64_t ux = (uint64_t)x, uy = (uint64_t)y;
    switch (op) {
    case SP_ARITH_ADD:
        *r = (int64_t)(ux + uy);
        return true;
    case SP_ARITH_SUB:
        *r = (int64_t)(ux - uy);
        return true;
    case SP_ARITH_MUL:
        *r = (int64_t)(ux * uy);
        return true;
    case SP_ARITH_DIV:
        if (y == 0)
            return false;
        *r = (x == INT64_MIN && y == -1) ? INT64_MIN : x / y;
        return true;
    case SP_ARITH_MOD:
        if (y == 0)
            return false;
        *r = (x == INT64_MIN && y == -1) ? 0 : x % y;
        return true;
    }
    return false;
}

static double oracle_arith_f64(double x, double y, enum sp_arith op) {
    switch (op) {
    case SP_ARITH_ADD:
        return x + y;
    case SP_ARITH_SUB:
        return x - y;
    case SP_ARITH_MUL:
        return x * y;
    case SP_ARITH_DIV:
        return x / y;
    case SP_ARITH_MOD:
        return fmod(x, y);
    }
    return 0.0;
}

static void run_arith(bool f64, bool col) {
    int64_t ai[ROWS], bi[ROWS], ei[ROWS];
    double af[ROWS], bf[ROWS], ef[ROWS];

    make_f64_specials();
    for (size_t ni = 0; ni < N_COUNT; ni++) {
        uint32_t rows = n_list[ni];
        if (rows > ROWS) /* tiny-chunk builds */
            continue;
        uint32_t nw = (rows + 63) / 64;
        for (int vk = 0; vk < VALID_KINDS; vk++) {
            const uint64_t *va = make_validity(MEM_VA, (enum valid_kind)vk, rows);
            const uint64_t *vb =
                col ? make_validity(MEM_VB, (enum valid_kind)rnd_below(VALID_KINDS), rows) : NULL;
            for (uint32_t r = 0; r < rows; r++) {
                ai[r] = rnd_i64();
                bi[r] = rnd_i64();
                af[r] = rnd_f64();
                bf[r] = rnd_f64();
            }
            const void *a = place(&mem[MEM_A], f64 ? (const void *)af : (const void *)ai, rows, 8);
            const void *b = place(&mem[MEM_B], f64 ? (const void *)bf : (const void *)bi, rows, 8);
            for (int op = SP_ARITH_ADD; op <= SP_ARITH_MOD; op++) {
                int64_t ki = rnd_below(3) == 0 ? 0 : rnd_below(3) == 0 ? -1 : rnd_i64();
                double kf = rnd_below(2) ? f64_specials[rnd_below(F64_SPECIALS)] : rnd_f64();
                uint64_t ev[WORDS] = {0};
                uint32_t enulls = 0;
                for (uint32_t r = 0; r < rows; r++) {
                    bool valid = valid_row(va, r) && valid_row(vb, r);
                    if (f64) {
                        ef[r] = oracle_arith_f64(af[r], col ? bf[r] : kf, (enum sp_arith)op);
                    } else {
                        valid =
                            oracle_arith_i64(ai[r], col ? bi[r] : ki, (enum sp_arith)op, &ei[r]) &&
                            valid;
                    }
                    if (valid)
                        ev[r / 64] |= (uint64_t)1 << (r % 64);
                    else {
                        ei[r] = 0;
                        ef[r] = 0.0;
                        enulls++;
                    }
                }
                for (size_t t = 0; t < table_count; t++) {
                    void *out = room(&mem[MEM_OUT], rows, 8);
                    uint64_t *vout = room(&mem[MEM_VOUT], nw, sizeof(uint64_t));
                    uint32_t got;
                    if (f64 && col)
                        got = tables[t]->arith_f64_col(a, va, b, vb, rows, (enum sp_arith)op, out,
                                                       vout);
                    else if (f64)
                        got =
                            tables[t]->arith_f64_lit(a, va, kf, rows, (enum sp_arith)op, out, vout);
                    else if (col)
                        got = tables[t]->arith_i64_col(a, va, b, vb, rows, (enum sp_arith)op, out,
                                                       vout);
                    else
                        got =
                            tables[t]->arith_i64_lit(a, va, ki, rows, (enum sp_arith)op, out, vout);
                    if (got != enulls || memcmp(vout, ev, nw * sizeof ev[0]) != 0 ||
                        (f64 ? !same_f64s(out, ef, rows) : memcmp(out, ei, rows * 8) != 0))
                        fail_msg("%s arith %s %s %s n=%u validity=%d: %u nulls, expected %u",
                                 tables[t]->isa, f64 ? "f64" : "i64", col ? "col" : "lit",
                                 arith_names[op], rows, vk, got, enulls);
                }
            }
        }
    }
}

static void test_arith_i64(void **state) {
    (void)state;
    run_arith(false, true);
    run_arith(false, false);
    /* the documented corner cases, on the reference */
    int64_t a[4] = {INT64_MIN, INT64_MIN, INT64_MAX, -7};
    int64_t b[4] = {-1, -1, 1, 0};
    int64_t out[4];
    uint64_t vout[1];
    assert_int_equal(sp_kernels_scalar.arith_i64_col(a, NULL, b, NULL, 4, SP_ARITH_DIV, out, vout),
                     1);
    assert_true(out[0] == INT64_MIN && out[3] == 0 && vout[0] == 0x7);
    assert_int_equal(sp_kernels_scalar.arith_i64_col(a, NULL, b, NULL, 4, SP_ARITH_MOD, out, vout),
                     1);
    assert_true(out[0] == 0);
    assert_int_equal(sp_kernels_scalar.arith_i64_col(a, NULL, b, NULL, 4, SP_ARITH_ADD, out, vout),
                     0);
    assert_true(out[2] == INT64_MIN && vout[0] == 0xf); /* MAX + 1 wraps */
}

static void test_arith_f64(void **state) {
    (void)state;
    run_arith(true, true);
    run_arith(true, false);
}

/* ---- Casts and hash_combine ---- */

static int64_t oracle_d2l(double x) {
    if (isnan(x))
        return 0;
    if (x >= 9223372036854775807.0)
        return INT64_MAX;
    if (x <= -9223372036854775808.0)
        return INT64_MIN;
    return (int64_t)x;
}

static void test_casts(void **state) {
    (void)state;
    int64_t iv[ROWS], io[ROWS];
    double fv[ROWS], fo[ROWS];

    make_f64_specials();
    for (size_t ni = 0; ni < N_COUNT; ni++) {
        uint32_t n = n_list[ni];
        if (n > ROWS) /* tiny-chunk builds */
            continue;
        for (uint32_t r = 0; r < n; r++) {
            iv[r] = rnd_i64();
            fv[r] = rnd_below(3) == 0 ? (double)(int64_t)rnd() * (rnd_below(2) ? 1.0 : -3.5)
                                      : rnd_f64();
            fo[r] = (double)iv[r];
            io[r] = oracle_d2l(fv[r]);
        }
        const int64_t *pi = place(&mem[MEM_A], iv, n, 8);
        const double *pf = place(&mem[MEM_B], fv, n, 8);
        for (size_t t = 0; t < table_count; t++) {
            double *of = room(&mem[MEM_OUT], n, 8);
            int64_t *oi = room(&mem[MEM_OUT2], n, 8);
            tables[t]->cast_i64_f64(pi, n, of);
            tables[t]->cast_f64_i64(pf, n, oi);
            if (memcmp(of, fo, n * 8) != 0)
                fail_msg("%s cast_i64_f64 n=%u differs", tables[t]->isa, n);
            for (uint32_t r = 0; r < n; r++)
                if (oi[r] != io[r])
                    fail_msg("%s cast_f64_i64 n=%u row %u: %g -> %lld, expected %lld",
                             tables[t]->isa, n, r, fv[r], (long long)oi[r], (long long)io[r]);
        }
    }
    /* Spark's documented results */
    double s[7] = {NAN, INFINITY, -INFINITY, 1e19, -1e19, -2.9, 2.9};
    int64_t o[7];
    sp_kernels_scalar.cast_f64_i64(s, 7, o);
    assert_true(o[0] == 0 && o[1] == INT64_MAX && o[2] == INT64_MIN && o[3] == INT64_MAX &&
                o[4] == INT64_MIN && o[5] == -2 && o[6] == 2);
}

static uint64_t boost_mix(uint64_t h, uint64_t k) {
    const uint64_t m = 0xc6a4a7935bd1e995u;
    k *= m;
    k ^= k >> 47;
    k *= m;
    h ^= k;
    h *= m;
    h += 0xe6546b64;
    return h;
}

static void test_hash_combine(void **state) {
    (void)state;
    uint64_t h[ROWS], h2[ROWS], e[ROWS];

    for (size_t ni = 0; ni < N_COUNT; ni++) {
        uint32_t n = n_list[ni];
        if (n > ROWS) /* tiny-chunk builds */
            continue;
        for (uint32_t r = 0; r < n; r++) {
            h[r] = rnd();
            h2[r] = rnd_below(4) == 0 ? 0 : rnd();
            e[r] = boost_mix(h[r], h2[r]);
        }
        const uint64_t *p2 = place(&mem[MEM_B], h2, n, 8);
        for (size_t t = 0; t < table_count; t++) {
            uint64_t *ph = place(&mem[MEM_A], h, n, 8);
            tables[t]->hash_combine(ph, p2, n);
            if (memcmp(ph, e, n * 8) != 0)
                fail_msg("%s hash_combine n=%u differs", tables[t]->isa, n);
        }
    }
    /* order matters: (a, b) and (b, a) differ */
    uint64_t x[1] = {1}, y[1] = {2};
    sp_kernels_scalar.hash_combine(x, y, 1);
    uint64_t x2[1] = {2}, y2[1] = {1};
    sp_kernels_scalar.hash_combine(x2, y2, 1);
    assert_true(x[0] != x2[0]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filter_cmp_f64),
        cmocka_unit_test(test_filter_cmp_f64_specials),
        cmocka_unit_test(test_filter_cmp_i64_col),
        cmocka_unit_test(test_filter_cmp_f64_col),
        cmocka_unit_test(test_sel_ops),
        cmocka_unit_test(test_compaction),
        cmocka_unit_test(test_arith_i64),
        cmocka_unit_test(test_arith_f64),
        cmocka_unit_test(test_casts),
        cmocka_unit_test(test_hash_combine),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
