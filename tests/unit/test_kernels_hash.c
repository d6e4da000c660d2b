/*
 * tests/unit/test_kernels_hash.c - hash_i64 and hash_str of every ISA against
 * XXH3_64bits called directly.
 *
 * Values include 0, -1 and the extremes; n covers 0..3*64+1 and the chunk
 * capacity; selections are NULL, the identity, sparse or empty; strings have
 * lengths 0..300 (every XXH3 length class, inline and pointer views). The
 * i64 input ends at a PROT_NONE guard page, so a read past n crashes.
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
#include <xxhash.h>

#include "kernels/kernels.h"

#define ROWS SPATE_CHUNK_ROWS

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

static char *guard_map;
static size_t guard_total;
static char *guard_hi; /* a PROT_NONE page starts here */

static const struct sp_kernels *tables[4];
static size_t table_count;

static int group_setup(void **state) {
    (void)state;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t usable = (ROWS * sizeof(int64_t) + page - 1) / page * page;

    guard_total = usable + page;
    guard_map = mmap(NULL, guard_total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (guard_map == MAP_FAILED || mprotect(guard_map + usable, page, PROT_NONE) != 0)
        return -1;
    guard_hi = guard_map + usable;
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
    munmap(guard_map, guard_total);
    return 0;
}

static const int64_t specials[] = {
    0, 1, -1, INT64_MIN, INT64_MAX, INT64_MIN + 1, INT64_MAX - 1, 0x100000000, 0xffffffff, 42};

static void check_i64(const int64_t *v, const uint16_t *sel, uint32_t n) {
    uint64_t out[ROWS + 1];

    for (size_t t = 0; t < table_count; t++) {
        out[n] = 0x0123456789abcdefu;
        tables[t]->hash_i64(v, sel, n, out);
        for (uint32_t i = 0; i < n; i++) {
            uint64_t want = XXH3_64bits(&v[sel ? sel[i] : i], sizeof(int64_t));
            if (out[i] != want)
                fail_msg("%s hash_i64 n=%u sel=%s: row %u: %016llx, XXH3 %016llx", tables[t]->isa,
                         n, sel ? "yes" : "NULL", i, (unsigned long long)out[i],
                         (unsigned long long)want);
        }
        assert_true(out[n] == 0x0123456789abcdefu); /* nothing written past n */
    }
}

static void test_hash_i64(void **state) {
    (void)state;
    int64_t vals[ROWS];
    uint16_t sel[ROWS];

    /* n = 0..3*64+1, then ROWS-1 and ROWS */
    for (uint32_t n = 0; n <= ROWS; n = n <= 3 * 64 || n + 1 >= ROWS ? n + 1 : ROWS - 1) {
        for (uint32_t i = 0; i < n; i++)
            vals[i] = rnd_below(3) == 0 ? specials[rnd_below(10)] : (int64_t)rnd();
        const int64_t *v = (const int64_t *)guard_hi - n;
        memcpy((void *)v, vals, n * sizeof vals[0]);
        check_i64(v, NULL, n);
        /* identity, sparse and empty selections over all n rows */
        for (uint32_t i = 0; i < n; i++)
            sel[i] = (uint16_t)i;
        check_i64(v, sel, n);
        uint32_t m = 0;
        for (uint32_t i = 0; i < n; i++)
            if (rnd_below(5) == 0)
                sel[m++] = (uint16_t)i;
        check_i64(v, sel, m);
        check_i64(v, sel, 0);
    }
}

static void check_str(const struct spate_string *v, const uint16_t *sel, uint32_t n) {
    uint64_t out[ROWS + 1];

    for (size_t t = 0; t < table_count; t++) {
        out[n] = 0x0123456789abcdefu;
        tables[t]->hash_str(v, sel, n, out);
        for (uint32_t i = 0; i < n; i++) {
            const struct spate_string *s = &v[sel ? sel[i] : i];
            uint64_t want = XXH3_64bits(sp_str_data(s), s->len);
            if (out[i] != want)
                fail_msg("%s hash_str len=%u: %016llx, XXH3 %016llx", tables[t]->isa, s->len,
                         (unsigned long long)out[i], (unsigned long long)want);
        }
        assert_true(out[n] == 0x0123456789abcdefu);
    }
}

static void test_hash_str(void **state) {
    (void)state;
    static char bytes[301 * 301];
    struct spate_string views[ROWS];
    uint32_t starts[ROWS];
    uint32_t lens[ROWS];
    uint16_t sel[ROWS];

    for (size_t i = 0; i < sizeof bytes; i++)
        bytes[i] = (char)rnd();
    /* every length 0..300 (one view each), in batches of at most ROWS */
    for (uint32_t first = 0; first <= 300; first += ROWS) {
        uint32_t n = 0;
        for (uint32_t len = first; len <= 300 && n < ROWS; len++, n++) {
            starts[n] = len * 301;
            lens[n] = len;
        }
        sp_kernels_scalar.make_views(bytes, starts, lens, n, views);
        check_str(views, NULL, n);
        uint32_t m = 0;
        for (uint32_t i = 0; i < n; i += 3)
            sel[m++] = (uint16_t)i;
        check_str(views, sel, m);
        check_str(views, sel, 0);
    }
    /* the lengths around XXH3's classes, repeated over a full chunk */
    static const uint32_t class_lens[] = {0, 1, 3, 4, 8, 9, 12, 13, 16, 17, 128, 129, 240, 241};
    for (uint32_t i = 0; i < ROWS; i++) {
        lens[i] = class_lens[i % 14];
        starts[i] = rnd_below(300 * 301 - 241);
    }
    sp_kernels_scalar.make_views(bytes, starts, lens, ROWS, views);
    check_str(views, NULL, ROWS);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_i64),
        cmocka_unit_test(test_hash_str),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
