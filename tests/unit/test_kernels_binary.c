/*
 * tests/unit/test_kernels_binary.c - decode_fixed64 and decode_fixed64_strided
 * of every ISA against the scalar reference and a byte-by-byte decode.
 *
 * n covers 0, 1, every vector-width edge up to 3*8+1 and the chunk capacity;
 * record pointers are unaligned and in random order, offsets run 0..40,
 * strides 8..100. Records sit against a PROT_NONE guard page, so a variant
 * that reads a byte past a field (or past the last record) crashes; a
 * sentinel after out[n - 1] catches writes past the output.
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
#define MAX_STRIDE 100
#define SENTINEL 0x5a5a5a5a5a5a5a5aull

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

static char *guard_map;
static size_t guard_total, guard_usable;
static char *guard_hi; /* a PROT_NONE page starts here */

static const struct sp_kernels *tables[4];
static size_t table_count;

static int group_setup(void **state) {
    (void)state;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    guard_usable = ((size_t)ROWS * MAX_STRIDE + 64 + page - 1) / page * page;
    guard_total = guard_usable + page;
    guard_map = mmap(NULL, guard_total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (guard_map == MAP_FAILED || mprotect(guard_map + guard_usable, page, PROT_NONE) != 0)
        return -1;
    guard_hi = guard_map + guard_usable;
    for (size_t i = 0; i < guard_usable; i++)
        guard_map[i] = (char)rnd();
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

/* The little-endian value of the 8 bytes at p, assembled by hand. */
static uint64_t naive_le64(const char *p) {
    uint64_t v = 0;
    for (int b = 7; b >= 0; b--)
        v = v << 8 | (unsigned char)p[b];
    return v;
}

/* Tried in order up to the first above ROWS (a build with small chunks stops early). */
static const uint32_t sizes[] = {0,  1,  2,  3,  4,  5,  7,  8,  9,   15,   16,       17,  23,
                                 24, 25, 31, 32, 33, 63, 64, 65, 100, 1000, ROWS - 1, ROWS};

static void check_pointers(uint32_t n, uint32_t offset, bool at_guard) {
    static const char *rec[ROWS];
    static uint64_t want[ROWS], got[ROWS + 1];
    char *lo = guard_hi - guard_usable;
    for (uint32_t i = 0; i < n; i++) {
        /* The field ends at the guard page, or anywhere below it (unaligned). */
        size_t back = at_guard && (i % 3 == 0 || i == n - 1) ? 0 : rnd_below(4096);
        const char *f = guard_hi - 8 - back;
        if (f - offset < lo)
            f = lo + offset;
        rec[i] = f - offset;
        want[i] = naive_le64(f);
    }
    for (size_t t = 0; t < table_count; t++) {
        got[n] = SENTINEL;
        tables[t]->decode_fixed64(rec, offset, n, got);
        assert_int_equal(got[n], SENTINEL);
        for (uint32_t i = 0; i < n; i++)
            if (got[i] != want[i])
                fail_msg("%s decode_fixed64 n=%u offset=%u row %u: %llx != %llx", tables[t]->isa, n,
                         offset, i, (unsigned long long)got[i], (unsigned long long)want[i]);
    }
}

static void test_decode_pointers(void **state) {
    (void)state;
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]) && sizes[s] <= ROWS; s++)
        for (uint32_t offset = 0; offset <= 40; offset += 1 + rnd_below(7)) {
            check_pointers(sizes[s], offset, true);
            check_pointers(sizes[s], offset, false);
        }
}

static void check_strided(uint32_t n, uint32_t stride, uint32_t field_end) {
    static uint64_t want[ROWS], got[ROWS + 1];
    /* The last record's field ends field_end bytes below the guard page. */
    const char *base = n == 0 ? guard_hi - 8 : guard_hi - 8 - field_end - (size_t)(n - 1) * stride;
    for (uint32_t i = 0; i < n; i++)
        want[i] = naive_le64(base + (size_t)i * stride);
    for (size_t t = 0; t < table_count; t++) {
        got[n] = SENTINEL;
        tables[t]->decode_fixed64_strided(base, stride, n, got);
        assert_int_equal(got[n], SENTINEL);
        for (uint32_t i = 0; i < n; i++)
            if (got[i] != want[i])
                fail_msg("%s decode_fixed64_strided n=%u stride=%u row %u", tables[t]->isa, n,
                         stride, i);
    }
}

static void test_decode_strided(void **state) {
    (void)state;
    static const uint32_t strides[] = {8, 9, 10, 12, 13, 16, 17, 24, 31, 64, MAX_STRIDE};
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]) && sizes[s] <= ROWS; s++)
        for (size_t st = 0; st < sizeof(strides) / sizeof(strides[0]); st++) {
            check_strided(sizes[s], strides[st], 0);
            check_strided(sizes[s], strides[st], 1 + rnd_below(63));
        }
}

/* Known answers: the byte order is little-endian on every ISA. */
static void test_decode_known(void **state) {
    (void)state;
    static const char rec[3][16] = {{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
                                    {(char)0xff, (char)0xff, (char)0xff, (char)0xff, (char)0xff,
                                     (char)0xff, (char)0xff, (char)0xff, 0, 0, 0, 0, 0, 0, 0,
                                     (char)0x80},
                                    {0}};
    const char *ptrs[9];
    for (int i = 0; i < 9; i++)
        ptrs[i] = rec[i % 3];
    uint64_t out[9];
    for (size_t t = 0; t < table_count; t++) {
        tables[t]->decode_fixed64(ptrs, 0, 9, out);
        assert_true(out[0] == 0x0807060504030201ull && out[1] == UINT64_MAX && out[2] == 0);
        tables[t]->decode_fixed64(ptrs, 8, 9, out);
        assert_true(out[0] == 0x100f0e0d0c0b0a09ull && out[1] == 0x8000000000000000ull);
        tables[t]->decode_fixed64_strided(rec[0] + 1, 16, 3, out);
        assert_true(out[0] == 0x0908070605040302ull && out[1] == 0x00ffffffffffffffull &&
                    out[2] == 0);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_known),
        cmocka_unit_test(test_decode_pointers),
        cmocka_unit_test(test_decode_strided),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
