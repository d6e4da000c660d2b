/*
 * tests/unit/test_engine_internals.c - the engine's building blocks on
 * their own: the region allocator, the worker pool (every task exactly once,
 * under many back-to-back jobs), and the aggregation table against a naive
 * count over keys that collide in their hash tags.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "engine/agg.h"
#include "engine/latency.h"
#include "engine/mem.h"
#include "engine/region.h"
#include "engine/worker.h"

static void region_alloc_and_reset(void **state) {
    (void)state;
    struct sp_region r;
    sp_region_init(&r, SP_MEM_DEFAULT_ARENA, 4096);
    uint64_t before = sp_mem_allocated();
    for (int i = 1; i < 2000; i++) {
        size_t size = (size_t)(i * 7 % 5000) + 1;
        size_t align = (size_t)1 << (i % 8);
        char *p = sp_region_alloc(&r, size, align);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % (align < 8 ? 8 : align), 0);
        memset(p, 0xab, size); /* ASan checks the bounds */
    }
    sp_region_reset(&r);
    /* After reset at most the first standard block remains. */
    assert_true(sp_mem_allocated() - before <= 4096);
    assert_non_null(sp_region_alloc(&r, 100, 64));
    sp_region_destroy(&r);
    assert_int_equal(sp_mem_allocated(), before);
}

struct pool_arg {
    _Atomic uint32_t *hits;
    _Atomic uint32_t bad_worker;
    uint32_t nworkers;
};

static void pool_task(void *arg, uint32_t task, uint32_t worker) {
    struct pool_arg *a = arg;
    if (worker >= a->nworkers)
        atomic_fetch_add(&a->bad_worker, 1);
    atomic_fetch_add(&a->hits[task], 1);
}

static void pool_runs_every_task_once(void **state) {
    (void)state;
    for (uint32_t workers = 1; workers <= 4; workers++) {
        struct sp_pool *pool;
        struct spate_error err;
        assert_int_equal(sp_pool_create(workers, false, &pool, &err), 0);
        enum { MAXT = 257 };
        _Atomic uint32_t hits[MAXT];
        struct pool_arg a = {.hits = hits, .nworkers = workers};
        atomic_init(&a.bad_worker, 0);
        for (uint32_t job = 0; job < 2000; job++) {
            uint32_t n = job % MAXT;
            for (uint32_t i = 0; i < MAXT; i++)
                atomic_init(&hits[i], 0);
            sp_pool_run(pool, n, pool_task, &a);
            for (uint32_t i = 0; i < MAXT; i++)
                assert_int_equal(atomic_load(&hits[i]), i < n ? 1 : 0);
        }
        assert_int_equal(atomic_load(&a.bad_worker), 0);
        sp_pool_destroy(pool);
    }
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void agg_table_matches_naive(void **state) {
    (void)state;
    struct sp_region r;
    sp_region_init(&r, SP_MEM_DEFAULT_ARENA, 1 << 16);
    struct sp_agg_table t;
    assert_int_equal(sp_agg_table_init(&t, &r, 4), 0);
    enum { N = 100000, KEYS = 5000 };
    int64_t *keys = calloc(N, sizeof(int64_t));
    int64_t *naive = calloc(KEYS, sizeof(int64_t));
    assert_non_null(keys);
    assert_non_null(naive);
    srand(7);
    for (int i = 0; i < N; i++) {
        keys[i] = rand() % KEYS;
        naive[keys[i]]++;
        /* A poor hash on purpose: only 64 distinct values, same tag for many keys. */
        uint64_t h = ((uint64_t)(keys[i] % 64) << 32) | (uint64_t)(keys[i] % 64);
        bool fresh;
        uint32_t idx = sp_agg_find_or_add_i64(&t, &r, h, keys[i], &fresh);
        assert_int_not_equal(idx, UINT32_MAX);
        t.entries[idx].val.i++;
    }
    uint32_t distinct = 0;
    for (int k = 0; k < KEYS; k++)
        distinct += naive[k] > 0;
    assert_int_equal(t.n, distinct);
    int64_t *seen = calloc(t.n, sizeof(int64_t));
    for (uint32_t i = 0; i < t.n; i++) {
        int64_t k = t.entries[i].key.i;
        assert_true(k >= 0 && k < KEYS);
        assert_int_equal(t.entries[i].val.i, naive[k]);
        seen[i] = k;
    }
    qsort(seen, t.n, sizeof(int64_t), cmp_i64);
    for (uint32_t i = 1; i < t.n; i++)
        assert_true(seen[i] != seen[i - 1]);
    free(seen);
    free(keys);
    free(naive);
    sp_region_destroy(&r);
}

static void agg_string_keys(void **state) {
    (void)state;
    struct sp_region r;
    sp_region_init(&r, SP_MEM_DEFAULT_ARENA, 1 << 16);
    struct sp_agg_table t;
    assert_int_equal(sp_agg_table_init(&t, &r, 1), 0);
    /* Same length and prefix, differing after byte 12: only memcmp tells them apart. */
    static const char *words[] = {"abcdefghijklmnop", "abcdefghijklmnoq", "abcd", "abce", "",
                                  "abcdefghijkl",     "abcdefghijkm"};
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
            struct spate_string s;
            memset(&s, 0, sizeof(s));
            s.len = (uint32_t)strlen(words[i]);
            if (s.len <= SPATE_STRING_INLINE) {
                memcpy((char *)&s + offsetof(struct spate_string, prefix), words[i], s.len);
            } else {
                memcpy(s.prefix, words[i], 4);
                s.u.ptr = words[i];
            }
            bool fresh;
            uint32_t idx = sp_agg_find_or_add_str(&t, &r, 42 /* all collide */, &s, &fresh);
            assert_int_equal(fresh, round == 0);
            assert_int_equal(idx, i);
        }
    }
    assert_int_equal(t.n, 7);
    sp_region_destroy(&r);
}

/* The latency histogram: every value lands in a bucket whose top is at least the value and at
 * most 1/32 above it; quantiles follow the weighted counts and never pass the maximum. */
static void latency_histogram(void **state) {
    (void)state;
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint64_t v = x >> (x % 64);
        uint32_t b = sp_latency_bucket(v);
        assert_true(b < SP_LAT_BUCKETS);
        uint64_t top = sp_latency_bucket_max(b);
        assert_true(top >= v);
        assert_true(top - v <= v / 32);
        if (b > 0)
            assert_true(sp_latency_bucket_max(b - 1) < v);
    }
    assert_int_equal(sp_latency_bucket(UINT64_MAX), SP_LAT_BUCKETS - 1);
    assert_int_equal(sp_latency_bucket_max(SP_LAT_BUCKETS - 1), UINT64_MAX);
    static struct sp_latency h;
    sp_latency_reset(&h);
    assert_int_equal(sp_latency_quantile(&h, 0.5), 0);
    sp_latency_add(&h, 10, 90);    /* 90 records at 10 us */
    sp_latency_add(&h, 5000, 9);   /* 9 at 5 ms */
    sp_latency_add(&h, 70000, 1);  /* 1 at 70 ms */
    sp_latency_add(&h, 123456, 0); /* no records: nothing */
    assert_int_equal(h.records, 100);
    assert_int_equal(h.max_us, 70000);
    assert_int_equal(sp_latency_quantile(&h, 0.0), 10);
    assert_int_equal(sp_latency_quantile(&h, 0.5), 10);
    assert_int_equal(sp_latency_quantile(&h, 0.9), 10);
    uint64_t p91 = sp_latency_quantile(&h, 0.91);
    assert_true(p91 >= 5000 && p91 <= 5000 + 5000 / 32);
    assert_true(sp_latency_quantile(&h, 0.99) >= 5000 && sp_latency_quantile(&h, 0.99) < 70000);
    assert_int_equal(sp_latency_quantile(&h, 1.0), 70000);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(region_alloc_and_reset),  cmocka_unit_test(pool_runs_every_task_once),
        cmocka_unit_test(agg_table_matches_naive), cmocka_unit_test(agg_string_keys),
        cmocka_unit_test(latency_histogram),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
