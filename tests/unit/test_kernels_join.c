/*
 * tests/unit/test_kernels_join.c - the hash join kernels of every ISA
 * against a nested-loop join.
 *
 * The probe's output order is specified (candidates in order, a candidate's
 * build rows ascending), so every ISA's pairs are compared exactly with the
 * nested loop's (hence with the scalar kernel's), together with the matched
 * bitmaps and the table's key and row counts; ISAs the CPU lacks are skipped
 * and named. Cases: empty sides, one
 * row, all-null keys, no matches, all matching, one key x 100 rows on both
 * sides, every key on one hash (collisions), output room of 1 (resumption
 * inside a row's matches), INT64_MIN/MAX, sizes around vector widths and
 * SPATE_CHUNK_ROWS, selections and validity, inline and pointer strings.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "kernels/kernels.h"

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

static const struct sp_kernels *tables[4];
static size_t table_count;

static int group_setup(void **state) {
    (void)state;
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

/* One side of a join: i64 or string keys, optional validity and selection. */
struct side {
    uint32_t n;     /* physical rows */
    int64_t *ikeys; /* NULL for string sides */
    struct spate_string *skeys;
    uint64_t *validity; /* NULL = all valid */
    uint16_t *sel;      /* probe only: NULL = 0..ncand */
    uint32_t ncand;     /* candidates (probe side) */
    bool collide;       /* every hash is 42 */
};

static bool valid(const struct side *s, uint32_t row) {
    return s->validity == NULL || ((s->validity[row >> 6] >> (row & 63)) & 1);
}

static bool key_equal(const struct side *a, uint32_t i, const struct side *b, uint32_t j) {
    if (a->ikeys != NULL)
        return a->ikeys[i] == b->ikeys[j];
    const struct spate_string *x = &a->skeys[i], *y = &b->skeys[j];
    return x->len == y->len && memcmp(sp_str_data(x), sp_str_data(y), x->len) == 0;
}

static void hash_side(const struct sp_kernels *k, const struct side *s, const uint16_t *sel,
                      uint32_t n, uint64_t *h) {
    if (s->collide) {
        for (uint32_t i = 0; i < n; i++)
            h[i] = 42;
    } else if (s->ikeys != NULL) {
        k->hash_i64(s->ikeys, sel, n, h);
    } else {
        k->hash_str(s->skeys, sel, n, h);
    }
}

/* Check every table on (build b, probe p) with output room `room` per call. */
static void check_join(const struct side *b, const struct side *p, bool emit_unmatched,
                       uint32_t room) {
    uint32_t nb = b->n, np = p->ncand;
    /* The nested-loop answer. */
    size_t cap = (size_t)np * (nb + 1) + 1;
    uint32_t *want_p = calloc(cap, 4), *want_b = calloc(cap, 4);
    uint64_t *want_pm = calloc(p->n / 64 + 1, 8), *want_bm = calloc(nb / 64 + 1, 8);
    size_t nwant = 0;
    uint32_t want_rows = 0;
    for (uint32_t j = 0; j < nb; j++)
        want_rows += valid(b, j);
    for (uint32_t i = 0; i < np; i++) {
        uint32_t phys = p->sel != NULL ? p->sel[i] : i;
        if (!valid(p, phys))
            continue;
        bool any = false;
        for (uint32_t j = 0; j < nb; j++) {
            if (!valid(b, j) || !key_equal(p, phys, b, j))
                continue;
            want_p[nwant] = phys;
            want_b[nwant++] = j;
            want_bm[j >> 6] |= 1ull << (j & 63);
            any = true;
        }
        if (any)
            want_pm[phys >> 6] |= 1ull << (phys & 63);
        else if (emit_unmatched) {
            want_p[nwant] = phys;
            want_b[nwant++] = SP_JOIN_NONE;
        }
    }
    uint32_t slots = sp_join_slots_for(nb);
    struct sp_join_slot *slot = calloc(slots, sizeof(*slot));
    uint32_t *perm = calloc(nb + 1, 4), *scratch = calloc(nb + 1, 4);
    uint64_t *bh = calloc(nb + 1, 8), *ph = calloc(np + 1, 8);
    /* Room for every pair plus one vector of lanes: a call may store a whole group's lanes
     * past its count (never past max_out, which here can exceed the pairs left). */
    uint32_t *got_p = calloc(cap + 16, 4), *got_b = calloc(cap + 16, 4);
    uint64_t *pm = calloc(p->n / 64 + 1, 8), *bm = calloc(nb / 64 + 1, 8);
    for (size_t t = 0; t < table_count; t++) {
        const struct sp_kernels *k = tables[t];
        hash_side(k, b, NULL, nb, bh);
        hash_side(k, p, p->sel, np, ph);
        struct sp_join_table tab = {.slots = slot, .perm = perm, .mask = slots - 1};
        uint32_t nkeys = b->ikeys != NULL
                             ? k->join_build_i64(&tab, b->ikeys, b->validity, bh, nb, scratch)
                             : k->join_build_str(&tab, b->skeys, b->validity, bh, nb, scratch);
        assert_int_equal(nkeys, tab.nkeys);
        assert_int_equal(tab.nrows, want_rows);
        uint32_t distinct = 0;
        for (uint32_t j = 0; j < nb; j++) {
            if (!valid(b, j))
                continue;
            uint32_t first = 0;
            while (!valid(b, first) || !key_equal(b, first, b, j))
                first++;
            distinct += first == j;
        }
        assert_int_equal(nkeys, distinct);
        memset(pm, 0, (p->n / 64 + 1) * 8);
        memset(bm, 0, (nb / 64 + 1) * 8);
        struct sp_join_cursor cur = {0, 0};
        size_t ngot = 0;
        uint32_t calls = 0;
        while (cur.pos < np) {
            uint32_t w =
                b->ikeys != NULL
                    ? k->join_probe_i64(&tab, p->ikeys, p->validity, p->sel, ph, np, emit_unmatched,
                                        got_p + ngot, got_b + ngot, room, &cur, pm, bm)
                    : k->join_probe_str(&tab, p->skeys, p->validity, p->sel, ph, np, emit_unmatched,
                                        got_p + ngot, got_b + ngot, room, &cur, pm, bm);
            assert_true(w <= room);
            assert_true(ngot + w <= nwant);
            ngot += w;
            assert_true(++calls <= nwant + np + 1); /* progress */
        }
        assert_int_equal(ngot, nwant);
        if (ngot > 0) {
            assert_memory_equal(got_p, want_p, ngot * 4);
            assert_memory_equal(got_b, want_b, ngot * 4);
        }
        assert_memory_equal(pm, want_pm, (p->n / 64 + 1) * 8);
        assert_memory_equal(bm, want_bm, (nb / 64 + 1) * 8);
    }
    free(slot), free(perm), free(scratch), free(bh), free(ph), free(got_p), free(got_b);
    free(pm), free(bm), free(want_p), free(want_b), free(want_pm), free(want_bm);
}

/* Run a case both ways (inner-style and with unmatched rows) at a few output rooms. */
static void check_all(const struct side *b, const struct side *p) {
    static const uint32_t rooms[] = {1, 2, 7, 64, SPATE_CHUNK_ROWS, 1u << 20};
    for (size_t r = 0; r < sizeof rooms / sizeof rooms[0]; r++) {
        check_join(b, p, false, rooms[r]);
        check_join(b, p, true, rooms[r]);
    }
}

static struct side i64_side(uint32_t n, int64_t (*gen)(uint32_t i)) {
    struct side s = {.n = n, .ncand = n};
    s.ikeys = calloc(n + 1, 8);
    for (uint32_t i = 0; i < n; i++)
        s.ikeys[i] = gen(i);
    return s;
}

static void free_side(struct side *s) {
    if (s->skeys != NULL)
        for (uint32_t i = 0; i < s->n; i++)
            if (s->skeys[i].len > SPATE_STRING_INLINE)
                free((void *)(uintptr_t)s->skeys[i].u.ptr);
    free(s->ikeys), free(s->skeys), free(s->validity), free(s->sel);
}

static int64_t gen_mod7(uint32_t i) {
    return (int64_t)(i % 7);
}
static int64_t gen_id(uint32_t i) {
    return (int64_t)i;
}
static int64_t gen_far(uint32_t i) {
    return (int64_t)i + 1000000;
}
static int64_t gen_one(uint32_t i) {
    (void)i;
    return 5;
}
static int64_t gen_extreme(uint32_t i) {
    static const int64_t v[] = {INT64_MIN, INT64_MAX, 0, -1, INT64_MIN + 1, INT64_MAX - 1};
    return v[i % 6];
}
static int64_t gen_rand(uint32_t i) {
    (void)i;
    return (int64_t)rnd_below(64) - 32;
}

static void test_empty_and_one(void **state) {
    (void)state;
    struct side e = i64_side(0, gen_id), one = i64_side(1, gen_one), ten = i64_side(10, gen_mod7);
    check_all(&e, &e);
    check_all(&e, &ten);
    check_all(&ten, &e);
    check_all(&one, &one);
    check_all(&one, &ten);
    check_all(&ten, &one);
    free_side(&e), free_side(&one), free_side(&ten);
}

static void test_nulls(void **state) {
    (void)state;
    struct side b = i64_side(100, gen_mod7), p = i64_side(100, gen_mod7);
    b.validity = calloc(2, 8); /* every build key null */
    check_all(&b, &p);
    p.validity = calloc(2, 8); /* and every probe key */
    check_all(&b, &p);
    free(b.validity);
    b.validity = NULL;
    check_all(&b, &p);
    for (uint32_t w = 0; w < 2; w++)
        p.validity[w] = rnd();
    b.validity = calloc(2, 8);
    for (uint32_t w = 0; w < 2; w++)
        b.validity[w] = rnd();
    check_all(&b, &p);
    free_side(&b), free_side(&p);
}

static void test_no_match_all_match(void **state) {
    (void)state;
    struct side b = i64_side(300, gen_id), far = i64_side(300, gen_far),
                same = i64_side(300, gen_id);
    check_all(&b, &far);
    check_all(&b, &same);
    free_side(&b), free_side(&far), free_side(&same);
}

static void test_heavy_duplicates(void **state) {
    (void)state;
    struct side b = i64_side(100, gen_one), p = i64_side(100, gen_one);
    check_all(&b, &p);
    struct side mixed = i64_side(257, gen_mod7);
    check_all(&mixed, &p);
    check_all(&mixed, &mixed);
    free_side(&b), free_side(&p), free_side(&mixed);
}

static void test_collisions(void **state) {
    (void)state;
    struct side b = i64_side(200, gen_mod7), p = i64_side(150, gen_id);
    b.collide = p.collide = true;
    check_all(&b, &p);
    struct side u = i64_side(130, gen_id);
    u.collide = true;
    check_all(&u, &p);
    free_side(&b), free_side(&p), free_side(&u);
}

static void test_extremes(void **state) {
    (void)state;
    struct side b = i64_side(12, gen_extreme), p = i64_side(37, gen_extreme);
    check_all(&b, &p);
    free_side(&b), free_side(&p);
}

/* Sizes around vector widths and the chunk capacity, random keys, selections, validity. */
static void test_sizes(void **state) {
    (void)state;
    static const uint32_t sizes[] = {2,
                                     3,
                                     4,
                                     5,
                                     7,
                                     8,
                                     9,
                                     15,
                                     16,
                                     17,
                                     31,
                                     32,
                                     33,
                                     63,
                                     64,
                                     65,
                                     SPATE_CHUNK_ROWS - 1,
                                     SPATE_CHUNK_ROWS,
                                     SPATE_CHUNK_ROWS + 1};
    for (size_t a = 0; a < sizeof sizes / sizeof sizes[0]; a++) {
        uint32_t n = sizes[a];
        struct side b = i64_side(n, gen_rand), p = i64_side(sizes[(a * 7) % 19], gen_rand);
        check_join(&b, &p, false, 3);
        check_join(&b, &p, true, 64);
        p.validity = calloc(p.n / 64 + 1, 8);
        b.validity = calloc(b.n / 64 + 1, 8);
        for (uint32_t w = 0; w <= p.n / 64; w++)
            p.validity[w] = rnd() | rnd();
        for (uint32_t w = 0; w <= b.n / 64; w++)
            b.validity[w] = rnd() | rnd();
        p.sel = calloc(p.n + 1, 2);
        p.ncand = 0;
        for (uint32_t i = 0; i < p.n && i < 32768; i++)
            if (rnd() & 1)
                p.sel[p.ncand++] = (uint16_t)i;
        check_join(&b, &p, true, 5);
        check_join(&b, &p, false, 1u << 20);
        free_side(&b), free_side(&p);
    }
}

static struct spate_string make_str(const char *s, uint32_t len) {
    struct spate_string v;
    memset(&v, 0, sizeof v);
    v.len = len;
    if (len <= SPATE_STRING_INLINE) {
        memcpy(v.prefix, s, len);
    } else {
        memcpy(v.prefix, s, 4);
        char *p = malloc(len);
        memcpy(p, s, len);
        v.u.ptr = p;
    }
    return v;
}

static struct side str_side(uint32_t n, uint32_t distinct) {
    struct side s = {.n = n, .ncand = n};
    s.skeys = calloc(n + 1, sizeof(struct spate_string));
    char buf[64];
    for (uint32_t i = 0; i < n; i++) {
        uint32_t v = rnd_below(distinct);
        /* Short keys inline; long ones share a 4-byte prefix and a length. */
        int len = v % 2 ? snprintf(buf, sizeof buf, "k%u", v)
                        : snprintf(buf, sizeof buf, "long-key-with-a-shared-prefix-%08u", v);
        s.skeys[i] = make_str(buf, (uint32_t)len);
    }
    return s;
}

static void test_strings(void **state) {
    (void)state;
    struct side e = str_side(0, 1), b = str_side(300, 40), p = str_side(200, 60);
    check_all(&e, &p);
    check_all(&b, &e);
    check_all(&b, &p);
    b.collide = p.collide = true;
    check_join(&b, &p, true, 3);
    b.collide = p.collide = false;
    struct side dup_b = str_side(100, 1), dup_p = str_side(100, 1);
    check_all(&dup_b, &dup_p);
    p.validity = calloc(4, 8);
    for (uint32_t w = 0; w < 4; w++)
        p.validity[w] = rnd();
    p.sel = calloc(200, 2);
    p.ncand = 0;
    for (uint32_t i = 0; i < 200; i += 3)
        p.sel[p.ncand++] = (uint16_t)i;
    check_all(&b, &p);
    /* The empty string as a key. */
    struct side z = {.n = 3, .ncand = 3};
    z.skeys = calloc(3, sizeof(struct spate_string));
    z.skeys[1] = make_str("x", 1);
    check_all(&z, &z);
    free_side(&e), free_side(&b), free_side(&p), free_side(&dup_b), free_side(&dup_p);
    free_side(&z);
}

/* A bigger random join in both key types: more distinct keys than one chunk. */
static void test_large_random(void **state) {
    (void)state;
    struct side b = {.n = 5000, .ncand = 5000}, p = {.n = 7000, .ncand = 7000};
    b.ikeys = calloc(b.n, 8);
    p.ikeys = calloc(p.n, 8);
    for (uint32_t i = 0; i < b.n; i++)
        b.ikeys[i] = (int64_t)rnd_below(4000);
    for (uint32_t i = 0; i < p.n; i++)
        p.ikeys[i] = (int64_t)rnd_below(8000);
    check_join(&b, &p, true, SPATE_CHUNK_ROWS);
    check_join(&b, &p, false, 1);
    free_side(&b), free_side(&p);
}

/* The slot count: a power of two, at least twice the rows, bounded for huge builds. */
static void test_slots_for(void **state) {
    (void)state;
    assert_int_equal(sp_join_slots_for(0), 16);
    assert_int_equal(sp_join_slots_for(8), 16);
    assert_int_equal(sp_join_slots_for(9), 32);
    assert_int_equal(sp_join_slots_for(1000000), 1u << 21);
    assert_int_equal(sp_join_slots_for(1u << 30), 1u << 31);
    assert_int_equal(sp_join_slots_for(UINT32_MAX), 1u << 31);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_and_one),
        cmocka_unit_test(test_nulls),
        cmocka_unit_test(test_no_match_all_match),
        cmocka_unit_test(test_heavy_duplicates),
        cmocka_unit_test(test_collisions),
        cmocka_unit_test(test_extremes),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_large_random),
        cmocka_unit_test(test_slots_for),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
