/*
 * tests/conformance/test_window.c - reduce_by_key_and_window against a naive
 * window computed here from the raw rows: windows of several lengths and
 * slides (early partial windows, slide greater than the length, slide equal
 * to the length), with and without the inverse (which keeps keys reduced
 * back to the identity, as Spark does), MIN/MAX, f64 sums, string keys,
 * outputs only at valid batches, definition-time errors, and the same
 * results on 1, 2 and 4 workers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spate/spate.h"

#include "harness.h"

#define NKEYS 40
#define NBATCH 13
#define MAXROWS 3000

/* What one emission of the window held: value and presence per key. */
struct emission {
    int64_t time_ms;
    bool present[NKEYS];
    int64_t value[NKEYS];
    double fvalue[NKEYS];
    uint32_t rows;
};

struct collector {
    struct emission em[NBATCH + 1];
    uint32_t n;
    bool bad; /* a key out of range or twice in one batch */
    bool f64;
};

static spate_status collect(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    struct collector *c = user;
    if (c->n > NBATCH) {
        c->bad = true;
        return SPATE_OK;
    }
    struct emission *e = &c->em[c->n++];
    memset(e, 0, sizeof(*e));
    e->time_ms = spate_batch_time_ms(b);
    for (uint32_t p = 0; p < spate_batch_num_partitions(b); p++) {
        for (uint32_t i = 0; i < spate_batch_num_chunks(b, p); i++) {
            struct spate_chunk_view v;
            if (spate_batch_chunk(b, p, i, &v) != SPATE_OK) {
                c->bad = true;
                continue;
            }
            for (uint32_t r = 0; r < v.rows; r++) {
                int64_t key = -1;
                const char *s;
                uint32_t len;
                if (spate_chunk_get_string(&v, 0, r, &s, &len))
                    key = len >= 1 ? atoi(s + 1) : -1; /* "k<number>" */
                else if (!spate_chunk_get_i64(&v, 0, r, &key))
                    key = -1;
                if (key < 0 || key >= NKEYS || e->present[key]) {
                    c->bad = true;
                    continue;
                }
                e->present[key] = true;
                e->rows++;
                if (c->f64) {
                    if (!spate_chunk_get_f64(&v, 1, r, &e->fvalue[key]))
                        c->bad = true;
                } else if (!spate_chunk_get_i64(&v, 1, r, &e->value[key])) {
                    c->bad = true;
                }
            }
        }
    }
    return SPATE_OK;
}

/* The raw input: batch b (1-based) has rows[b] rows of (key, value). */
struct input {
    uint32_t rows[NBATCH + 1];
    int64_t key[NBATCH + 1][MAXROWS];
    int64_t val[NBATCH + 1][MAXROWS];
};

static void make_input(struct input *in, unsigned seed) {
    srand(seed);
    memset(in->rows, 0, sizeof(in->rows));
    for (int b = 1; b <= NBATCH; b++) {
        /* Some empty batches, some with few keys so that keys come and go. */
        uint32_t n = (b % 5 == 0) ? 0 : (uint32_t)(rand() % MAXROWS);
        int spread = (b % 3 == 0) ? 5 : NKEYS;
        in->rows[b] = n;
        for (uint32_t i = 0; i < n; i++) {
            in->key[b][i] = rand() % spread;
            in->val[b][i] = rand() % 16 - 5;
        }
    }
}

enum kind { K_SUM, K_COUNT, K_MIN, K_MAX, K_FSUM };

static void check_against_naive(const struct input *in, const struct collector *c, uint32_t len_b,
                                uint32_t slide_b, bool inverse, enum kind kind) {
    assert_false(c->bad);
    assert_int_equal(c->n, NBATCH / slide_b);
    bool ever[NKEYS] = {false};
    uint32_t em = 0;
    for (uint32_t k = 1; k <= NBATCH; k++) {
        for (uint32_t i = 0; i < in->rows[k]; i++)
            ever[in->key[k][i]] = true;
        if (k % slide_b != 0)
            continue;
        const struct emission *e = &c->em[em++];
        assert_int_equal(e->time_ms, (int64_t)k * 1000);
        uint32_t first = k >= len_b ? k - len_b + 1 : 1;
        for (int key = 0; key < NKEYS; key++) {
            bool seen = false;
            int64_t acc = 0;
            for (uint32_t b = first; b <= k; b++) {
                for (uint32_t i = 0; i < in->rows[b]; i++) {
                    if (in->key[b][i] != key)
                        continue;
                    int64_t v = kind == K_COUNT ? 1 : in->val[b][i];
                    if (!seen)
                        acc = v;
                    else if (kind == K_MIN)
                        acc = v < acc ? v : acc;
                    else if (kind == K_MAX)
                        acc = v > acc ? v : acc;
                    else
                        acc += v;
                    seen = true;
                }
            }
            bool expect_present = inverse ? ever[key] : seen;
            if (e->present[key] != expect_present)
                fail_msg("batch %u key %d: present %d, expected %d", k, key, e->present[key],
                         expect_present);
            if (!expect_present)
                continue;
            if (kind == K_FSUM)
                assert_true(e->fvalue[key] == (double)acc);
            else if (e->value[key] != acc)
                fail_msg("batch %u key %d: value %" PRId64 ", expected %" PRId64, k, key,
                         e->value[key], acc);
        }
    }
}

/* Run one window over the input; string keys as "k<n>" when strings is set. */
static void run_window(const struct input *in, uint32_t workers, uint32_t len_b, uint32_t slide_b,
                       bool inverse, enum kind kind, bool strings, struct collector *c) {
    struct spate_error err;
    spate_context *ctx = harness_manual_ctx(workers);
    struct spate_column_def cols[] = {{"key", strings ? SPATE_TYPE_STRING : SPATE_TYPE_I64},
                                      {"value", kind == K_FSUM ? SPATE_TYPE_F64 : SPATE_TYPE_I64}};
    spate_dstream *q = spate_context_queue_stream(ctx, cols, 2, &err);
    assert_non_null(q);
    struct spate_reduce_opts ro;
    spate_reduce_opts_init(&ro);
    ro.agg = kind == K_COUNT ? SPATE_AGG_COUNT
             : kind == K_MIN ? SPATE_AGG_MIN
             : kind == K_MAX ? SPATE_AGG_MAX
                             : SPATE_AGG_SUM;
    struct spate_window_opts wo;
    spate_window_opts_init(&wo);
    wo.length_ms = 1000 * (int64_t)len_b;
    wo.slide_ms = 1000 * (int64_t)slide_b;
    wo.use_inverse = inverse;
    spate_dstream *w = spate_dstream_reduce_by_key_and_window(q, &ro, &wo, &err);
    if (w == NULL)
        fail_msg("window: %s", err.message);
    assert_int_equal(spate_dstream_slide_ms(w), 1000 * (int64_t)slide_b);
    memset(c, 0, sizeof(*c));
    c->f64 = kind == K_FSUM;
    assert_int_equal(spate_dstream_foreach_batch(w, collect, c, &err), SPATE_OK);
    static struct spate_string skeys[MAXROWS];
    static char names[MAXROWS][8];
    static double fvals[MAXROWS];
    for (int b = 1; b <= NBATCH; b++) {
        for (uint32_t i = 0; i < in->rows[b]; i++) {
            int n = snprintf(names[i], sizeof(names[i]), "k%" PRId64, in->key[b][i]);
            memset(&skeys[i], 0, sizeof(skeys[i]));
            skeys[i].len = (uint32_t)n;
            memcpy((char *)&skeys[i] + offsetof(struct spate_string, prefix), names[i], (size_t)n);
            fvals[i] = (double)in->val[b][i];
        }
        struct spate_column_data data[2] = {
            {strings ? (const void *)skeys : (const void *)in->key[b], NULL},
            {kind == K_FSUM ? (const void *)fvals : (const void *)in->val[b], NULL}};
        assert_int_equal(spate_queue_push(q, data, in->rows[b], &err), SPATE_OK);
    }
    harness_run(ctx, NBATCH);
}

static struct input input;
static struct collector col;

static void windows_match_naive(void **state) {
    (void)state;
    static const uint32_t shapes[][2] = {{1, 1}, {3, 1}, {4, 2}, {2, 3},
                                         {5, 5}, {6, 1}, {3, 2}, {13, 1}};
    make_input(&input, 11);
    for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
        for (int inverse = 0; inverse <= 1; inverse++) {
            run_window(&input, 2, shapes[s][0], shapes[s][1], inverse, K_SUM, false, &col);
            check_against_naive(&input, &col, shapes[s][0], shapes[s][1], inverse, K_SUM);
        }
    }
}

static void window_aggregates(void **state) {
    (void)state;
    make_input(&input, 12);
    static const enum kind kinds[] = {K_COUNT, K_MIN, K_MAX, K_FSUM};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        run_window(&input, 2, 3, 1, false, kinds[i], false, &col);
        check_against_naive(&input, &col, 3, 1, false, kinds[i]);
    }
    run_window(&input, 2, 4, 2, true, K_COUNT, false, &col);
    check_against_naive(&input, &col, 4, 2, true, K_COUNT);
}

static void window_string_keys(void **state) {
    (void)state;
    make_input(&input, 13);
    run_window(&input, 2, 3, 1, false, K_SUM, true, &col);
    check_against_naive(&input, &col, 3, 1, false, K_SUM);
    run_window(&input, 2, 3, 1, true, K_SUM, true, &col);
    check_against_naive(&input, &col, 3, 1, true, K_SUM);
    /* Two-stacks flips with string keys whose bytes live in the panes. */
    run_window(&input, 2, 5, 1, false, K_MAX, true, &col);
    check_against_naive(&input, &col, 5, 1, false, K_MAX);
}

static void window_same_on_any_worker_count(void **state) {
    (void)state;
    make_input(&input, 14);
    for (uint32_t workers = 1; workers <= 4; workers *= 2) {
        run_window(&input, workers, 4, 2, false, K_SUM, false, &col);
        check_against_naive(&input, &col, 4, 2, false, K_SUM);
        run_window(&input, workers, 4, 1, true, K_SUM, true, &col);
        check_against_naive(&input, &col, 4, 1, true, K_SUM);
    }
}

/* count_by_window and count_by_value_and_window on the same input, against the naive window. */
struct counts {
    uint32_t calls;
    int64_t total[NBATCH + 1]; /* count_by_window's value per emission, -1 = no record */
    int64_t byval[NBATCH + 1][NKEYS];
    bool bad;
};

static spate_status collect_total(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    struct counts *c = user;
    uint32_t k = (uint32_t)(spate_batch_time_ms(b) / 1000);
    if (k > NBATCH || spate_batch_rows(b) > 1) {
        c->bad = true;
        return SPATE_OK;
    }
    c->calls++;
    c->total[k] = -1;
    for (uint32_t p = 0; p < spate_batch_num_partitions(b); p++) {
        for (uint32_t i = 0; i < spate_batch_num_chunks(b, p); i++) {
            struct spate_chunk_view v;
            if (spate_batch_chunk(b, p, i, &v) != SPATE_OK || v.rows != 1 ||
                !spate_chunk_get_i64(&v, 0, 0, &c->total[k]))
                c->bad = true;
        }
    }
    return SPATE_OK;
}

static spate_status collect_byval(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    struct counts *c = user;
    uint32_t k = (uint32_t)(spate_batch_time_ms(b) / 1000);
    if (k > NBATCH) {
        c->bad = true;
        return SPATE_OK;
    }
    for (uint32_t p = 0; p < spate_batch_num_partitions(b); p++) {
        for (uint32_t i = 0; i < spate_batch_num_chunks(b, p); i++) {
            struct spate_chunk_view v;
            if (spate_batch_chunk(b, p, i, &v) != SPATE_OK)
                c->bad = true;
            for (uint32_t r = 0; r < v.rows; r++) {
                int64_t key, n;
                if (!spate_chunk_get_i64(&v, 0, r, &key) || !spate_chunk_get_i64(&v, 1, r, &n) ||
                    key < 0 || key >= NKEYS || c->byval[k][key] != 0)
                    c->bad = true;
                else
                    c->byval[k][key] = n;
            }
        }
    }
    return SPATE_OK;
}

static void counting_windows(void **state) {
    (void)state;
    /* Start with empty batches: count_by_window says nothing until data is seen. */
    make_input(&input, 15);
    input.rows[1] = input.rows[2] = 0;
    static struct counts c;
    for (uint32_t workers = 1; workers <= 2; workers++) {
        memset(&c, 0, sizeof(c));
        struct spate_error err;
        spate_context *ctx = harness_manual_ctx(workers);
        struct spate_column_def cols[] = {{"key", SPATE_TYPE_I64}, {"value", SPATE_TYPE_I64}};
        spate_dstream *q = spate_context_queue_stream(ctx, cols, 2, &err);
        struct spate_window_opts wo;
        spate_window_opts_init(&wo);
        wo.length_ms = 3000;
        spate_dstream *cw = spate_dstream_count_by_window(q, &wo, &err);
        assert_non_null(cw);
        spate_dstream *cv = spate_dstream_count_by_value_and_window(q, &wo, &err);
        assert_non_null(cv);
        assert_int_equal(spate_dstream_foreach_batch(cw, collect_total, &c, &err), SPATE_OK);
        assert_int_equal(spate_dstream_foreach_batch(cv, collect_byval, &c, &err), SPATE_OK);
        for (int b = 1; b <= NBATCH; b++) {
            struct spate_column_data d[2] = {{input.key[b], NULL}, {input.val[b], NULL}};
            assert_int_equal(spate_queue_push(q, d, input.rows[b], &err), SPATE_OK);
        }
        harness_run(ctx, NBATCH);
        assert_false(c.bad);
        assert_int_equal(c.calls, NBATCH);
        bool seen = false;
        for (uint32_t k = 1; k <= NBATCH; k++) {
            uint32_t first = k >= 3 ? k - 2 : 1;
            int64_t total = 0, byval[NKEYS] = {0};
            for (uint32_t b = first; b <= k; b++) {
                total += input.rows[b];
                for (uint32_t i = 0; i < input.rows[b]; i++)
                    byval[input.key[b][i]]++;
            }
            seen = seen || input.rows[k] > 0;
            assert_int_equal(c.total[k], seen ? total : -1);
            for (int key = 0; key < NKEYS; key++)
                assert_int_equal(c.byval[k][key], byval[key]); /* zero: no record */
        }
    }
}

/* Most keys leave the window (their count goes to 0), then come back. */
static void count_by_value_keys_leave_and_return(void **state) {
    (void)state;
    memset(input.rows, 0, sizeof(input.rows));
    for (int b = 1; b <= NBATCH; b++) {
        bool all = b == 1 || b == 8; /* every key; otherwise only key 0 */
        input.rows[b] = all ? NKEYS : 3;
        for (uint32_t i = 0; i < input.rows[b]; i++) {
            input.key[b][i] = all ? (int64_t)i : 0;
            input.val[b][i] = 1;
        }
    }
    static struct counts c;
    memset(&c, 0, sizeof(c));
    struct spate_error err;
    spate_context *ctx = harness_manual_ctx(2);
    struct spate_column_def cols[] = {{"key", SPATE_TYPE_I64}, {"value", SPATE_TYPE_I64}};
    spate_dstream *q = spate_context_queue_stream(ctx, cols, 2, &err);
    struct spate_window_opts wo;
    spate_window_opts_init(&wo);
    wo.length_ms = 2000;
    spate_dstream *cv = spate_dstream_count_by_value_and_window(q, &wo, &err);
    assert_non_null(cv);
    assert_int_equal(spate_dstream_foreach_batch(cv, collect_byval, &c, &err), SPATE_OK);
    for (int b = 1; b <= NBATCH; b++) {
        struct spate_column_data d[2] = {{input.key[b], NULL}, {input.val[b], NULL}};
        assert_int_equal(spate_queue_push(q, d, input.rows[b], &err), SPATE_OK);
    }
    harness_run(ctx, NBATCH);
    assert_false(c.bad);
    for (uint32_t k = 1; k <= NBATCH; k++) {
        int64_t byval[NKEYS] = {0};
        for (uint32_t b = k >= 2 ? k - 1 : 1; b <= k; b++)
            for (uint32_t i = 0; i < input.rows[b]; i++)
                byval[input.key[b][i]]++;
        for (int key = 0; key < NKEYS; key++)
            assert_int_equal(c.byval[k][key], byval[key]);
    }
}

/* window(): every row of the batches in the window, and count() of the windowed stream. */
struct raw_seen {
    uint32_t calls, count_calls;
    int64_t sum[NBATCH + 1], rows[NBATCH + 1], counted[NBATCH + 1];
    bool bad;
};

static spate_status raw_rows(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    struct raw_seen *r = user;
    uint32_t k = (uint32_t)(spate_batch_time_ms(b) / 1000);
    if (k > NBATCH) {
        r->bad = true;
        return SPATE_OK;
    }
    r->calls++;
    for (uint32_t p = 0; p < spate_batch_num_partitions(b); p++) {
        for (uint32_t i = 0; i < spate_batch_num_chunks(b, p); i++) {
            struct spate_chunk_view v;
            if (spate_batch_chunk(b, p, i, &v) != SPATE_OK)
                r->bad = true;
            for (uint32_t row = 0; row < v.rows; row++) {
                int64_t key, val;
                const char *s;
                uint32_t len;
                if (!spate_chunk_get_i64(&v, 1, row, &val) ||
                    !spate_chunk_get_string(&v, 0, row, &s, &len) || len < 2)
                    r->bad = true;
                else if ((key = atoi(s + 1)) < 0 || key >= NKEYS)
                    r->bad = true;
                r->sum[k] += val;
                r->rows[k]++;
            }
        }
    }
    return SPATE_OK;
}

static spate_status raw_count(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    struct raw_seen *r = user;
    uint32_t k = (uint32_t)(spate_batch_time_ms(b) / 1000);
    struct spate_chunk_view v;
    if (k > NBATCH || spate_batch_chunk(b, 0, 0, &v) != SPATE_OK ||
        !spate_chunk_get_i64(&v, 0, 0, &r->counted[k]))
        r->bad = true;
    r->count_calls++;
    return SPATE_OK;
}

static void raw_windows_match_naive(void **state) {
    (void)state;
    static const uint32_t shapes[][2] = {{3, 1}, {4, 2}, {2, 3}, {1, 1}};
    make_input(&input, 16);
    static struct raw_seen r;
    static struct spate_string keys[MAXROWS];
    static char names[MAXROWS][24];
    for (size_t sh = 0; sh < sizeof(shapes) / sizeof(shapes[0]); sh++) {
        uint32_t len_b = shapes[sh][0], slide_b = shapes[sh][1];
        memset(&r, 0, sizeof(r));
        struct spate_error err;
        spate_context *ctx = harness_manual_ctx(2);
        struct spate_column_def cols[] = {{"key", SPATE_TYPE_STRING}, {"value", SPATE_TYPE_I64}};
        spate_dstream *q = spate_context_queue_stream(ctx, cols, 2, &err);
        struct spate_window_opts wo;
        spate_window_opts_init(&wo);
        wo.length_ms = 1000 * (int64_t)len_b;
        wo.slide_ms = 1000 * (int64_t)slide_b;
        spate_dstream *w = spate_dstream_window(q, &wo, &err);
        assert_non_null(w);
        spate_dstream *c = spate_dstream_count(w, &err);
        assert_int_equal(spate_dstream_foreach_batch(w, raw_rows, &r, &err), SPATE_OK);
        assert_int_equal(spate_dstream_foreach_batch(c, raw_count, &r, &err), SPATE_OK);
        for (int b = 1; b <= NBATCH; b++) {
            /* Long keys: the window must own copies of their bytes. */
            for (uint32_t i = 0; i < input.rows[b]; i++) {
                int n = snprintf(names[i], sizeof(names[i]), "k%" PRId64 "-long-key-name",
                                 input.key[b][i]);
                memset(&keys[i], 0, sizeof(keys[i]));
                keys[i].len = (uint32_t)n;
                memcpy(keys[i].prefix, names[i], 4);
                keys[i].u.ptr = names[i];
            }
            struct spate_column_data d[2] = {{keys, NULL}, {input.val[b], NULL}};
            assert_int_equal(spate_queue_push(q, d, input.rows[b], &err), SPATE_OK);
        }
        harness_run(ctx, NBATCH);
        assert_false(r.bad);
        assert_int_equal(r.calls, NBATCH / slide_b);
        assert_int_equal(r.count_calls, NBATCH / slide_b);
        for (uint32_t k = slide_b; k <= NBATCH; k += slide_b) {
            int64_t rows = 0, sum = 0;
            for (uint32_t b = k >= len_b ? k - len_b + 1 : 1; b <= k; b++) {
                rows += input.rows[b];
                for (uint32_t i = 0; i < input.rows[b]; i++)
                    sum += input.val[b][i];
            }
            assert_int_equal(r.rows[k], rows);
            assert_int_equal(r.sum[k], sum);
            assert_int_equal(r.counted[k], rows);
        }
    }
}

/* reduce_by_window: SUM with and without the inverse, MAX, against the naive window. */
static spate_status take_one(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    int64_t *v = user; /* v[k]: the value at batch k, INT64_MIN when no record */
    uint32_t k = (uint32_t)(spate_batch_time_ms(b) / 1000);
    if (k > NBATCH)
        return EIO;
    v[k] = INT64_MIN;
    for (uint32_t p = 0; p < spate_batch_num_partitions(b); p++) {
        for (uint32_t i = 0; i < spate_batch_num_chunks(b, p); i++) {
            struct spate_chunk_view cv;
            if (spate_batch_chunk(b, p, i, &cv) != SPATE_OK || cv.rows != 1 || v[k] != INT64_MIN ||
                !spate_chunk_get_i64(&cv, 0, 0, &v[k]))
                return EIO;
        }
    }
    return SPATE_OK;
}

static void reduce_by_window_matches_naive(void **state) {
    (void)state;
    make_input(&input, 17);
    input.rows[1] = 0;                                 /* nothing before batch 2 */
    input.rows[6] = input.rows[7] = input.rows[8] = 0; /* a window of 3 without data */
    static int64_t got[3][NBATCH + 1];
    struct spate_error err;
    spate_context *ctx = harness_manual_ctx(2);
    struct spate_column_def cols[] = {{"key", SPATE_TYPE_I64}, {"value", SPATE_TYPE_I64}};
    spate_dstream *q = spate_context_queue_stream(ctx, cols, 2, &err);
    struct spate_window_opts wo;
    spate_window_opts_init(&wo);
    wo.length_ms = 3000;
    struct spate_reduce_opts ro;
    spate_reduce_opts_init(&ro); /* SUM of column 1 */
    spate_dstream *sum = spate_dstream_reduce_by_window(q, &ro, &wo, &err);
    wo.use_inverse = true;
    spate_dstream *isum = spate_dstream_reduce_by_window(q, &ro, &wo, &err);
    ro.agg = SPATE_AGG_MAX;
    assert_null(spate_dstream_reduce_by_window(q, &ro, &wo, &err)); /* MAX has no inverse */
    wo.use_inverse = false;
    spate_dstream *max = spate_dstream_reduce_by_window(q, &ro, &wo, &err);
    assert_non_null(sum);
    assert_non_null(isum);
    assert_non_null(max);
    assert_int_equal(spate_dstream_foreach_batch(sum, take_one, got[0], &err), SPATE_OK);
    assert_int_equal(spate_dstream_foreach_batch(isum, take_one, got[1], &err), SPATE_OK);
    assert_int_equal(spate_dstream_foreach_batch(max, take_one, got[2], &err), SPATE_OK);
    for (int b = 1; b <= NBATCH; b++) {
        struct spate_column_data d[2] = {{input.key[b], NULL}, {input.val[b], NULL}};
        assert_int_equal(spate_queue_push(q, d, input.rows[b], &err), SPATE_OK);
    }
    harness_run(ctx, NBATCH);
    bool seen = false;
    for (uint32_t k = 1; k <= NBATCH; k++) {
        int64_t total = 0, mx = INT64_MIN;
        uint64_t rows = 0;
        for (uint32_t b = k >= 3 ? k - 2 : 1; b <= k; b++) {
            for (uint32_t i = 0; i < input.rows[b]; i++) {
                total += input.val[b][i];
                mx = input.val[b][i] > mx ? input.val[b][i] : mx;
                rows++;
            }
        }
        seen = seen || input.rows[k] > 0;
        assert_int_equal(got[0][k], rows > 0 ? total : INT64_MIN);
        assert_int_equal(got[1][k], seen ? total : INT64_MIN);
        assert_int_equal(got[2][k], rows > 0 ? mx : INT64_MIN);
    }
}

/* The filter of expired keys (Spark's filterFunc) on a window with the inverse. */
static bool keep_nonzero(void *user, const struct spate_string *skey, int64_t ikey, int64_t iv,
                         double fv) {
    (void)user;
    (void)skey;
    (void)ikey;
    (void)fv;
    return iv != 0;
}

static bool keep_even_keys(void *user, const struct spate_string *skey, int64_t ikey, int64_t iv,
                           double fv) {
    (void)user;
    (void)skey;
    (void)iv;
    (void)fv;
    return ikey % 2 == 0;
}

static void window_filter_function(void **state) {
    (void)state;
    make_input(&input, 18);
    for (int which = 0; which < 2; which++) {
        struct spate_error err;
        spate_context *ctx = harness_manual_ctx(2);
        struct spate_column_def cols[] = {{"key", SPATE_TYPE_I64}, {"value", SPATE_TYPE_I64}};
        spate_dstream *q = spate_context_queue_stream(ctx, cols, 2, &err);
        struct spate_reduce_opts ro;
        spate_reduce_opts_init(&ro);
        ro.agg = SPATE_AGG_COUNT; /* counts: keys go back to 0 when they leave the window */
        struct spate_window_opts wo;
        spate_window_opts_init(&wo);
        wo.length_ms = 2000;
        wo.use_inverse = true;
        wo.keep_fn = which == 0 ? keep_nonzero : keep_even_keys;
        spate_dstream *w = spate_dstream_reduce_by_key_and_window(q, &ro, &wo, &err);
        assert_non_null(w);
        memset(&col, 0, sizeof(col));
        assert_int_equal(spate_dstream_foreach_batch(w, collect, &col, &err), SPATE_OK);
        for (int b = 1; b <= NBATCH; b++) {
            struct spate_column_data d[2] = {{input.key[b], NULL}, {input.val[b], NULL}};
            assert_int_equal(spate_queue_push(q, d, input.rows[b], &err), SPATE_OK);
        }
        harness_run(ctx, NBATCH);
        assert_false(col.bad);
        bool ever[NKEYS] = {false};
        for (uint32_t k = 1; k <= NBATCH; k++) {
            int64_t n[NKEYS] = {0};
            for (uint32_t i = 0; i < input.rows[k]; i++)
                ever[input.key[k][i]] = true;
            for (uint32_t b = k >= 2 ? k - 1 : 1; b <= k; b++)
                for (uint32_t i = 0; i < input.rows[b]; i++)
                    n[input.key[b][i]]++;
            const struct emission *e = &col.em[k - 1];
            for (int key = 0; key < NKEYS; key++) {
                bool want = ever[key] && (which == 0 ? n[key] != 0 : key % 2 == 0);
                assert_int_equal(e->present[key], want);
                if (want)
                    assert_int_equal(e->value[key], n[key]);
            }
        }
    }
}

static void window_definition_errors(void **state) {
    (void)state;
    struct spate_error err;
    spate_engine *engine;
    struct spate_engine_opts eo;
    spate_engine_opts_init(&eo);
    eo.workers = 1;
    eo.pin_workers = false;
    assert_int_equal(spate_engine_create(&eo, &engine, &err), SPATE_OK);
    struct spate_context_opts co;
    spate_context_opts_init(&co);
    co.batch_interval_ms = 1000;
    spate_context *ctx;
    assert_int_equal(spate_context_create(engine, &co, &ctx, &err), SPATE_OK);
    struct spate_column_def cols[] = {{"key", SPATE_TYPE_I64}, {"value", SPATE_TYPE_I64}};
    spate_dstream *q = spate_context_queue_stream(ctx, cols, 2, &err);
    struct spate_reduce_opts ro;
    spate_reduce_opts_init(&ro);
    struct spate_window_opts wo;
    spate_window_opts_init(&wo);
    static const int64_t bad[][2] = {{1500, 1000}, {3000, 2500}, {0, 1000}, {-1000, 1000}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        wo.length_ms = bad[i][0];
        wo.slide_ms = bad[i][1];
        err.message[0] = '\0';
        assert_null(spate_dstream_reduce_by_key_and_window(q, &ro, &wo, &err));
        assert_true(strstr(err.message, "multiple") != NULL);
    }
    /* A window of a windowed stream: multiples of its slide (2 s), not of the interval. */
    wo.length_ms = 4000;
    wo.slide_ms = 2000;
    spate_dstream *w = spate_dstream_reduce_by_key_and_window(q, &ro, &wo, &err);
    assert_non_null(w);
    wo.length_ms = 3000;
    wo.slide_ms = 0;
    err.message[0] = '\0';
    assert_null(spate_dstream_reduce_by_key_and_window(w, &ro, &wo, &err));
    assert_true(err.message[0] != '\0');
    /* MAX has no inverse. */
    ro.agg = SPATE_AGG_MAX;
    wo.length_ms = 3000;
    wo.slide_ms = 1000;
    wo.use_inverse = true;
    err.message[0] = '\0';
    assert_null(spate_dstream_reduce_by_key_and_window(q, &ro, &wo, &err));
    assert_true(strstr(err.message, "inverse") != NULL);
    assert_null(spate_dstream_reduce_by_key_and_window(q, &ro, NULL, &err));
    assert_int_equal(spate_context_stop(ctx, true, false, &err), SPATE_OK);
    spate_context_destroy(ctx);
}

/* ---- A failed batch fails alone: the window goes on with every other batch's data ---- */

static spate_status fail_on_666(void *user, const struct spate_chunk_view *in,
                                spate_chunk_builder *b, struct spate_error *err) {
    (void)user;
    int64_t *v = spate_builder_column(b, 1);
    for (uint32_t i = 0; i < in->rows; i++) {
        const char *s;
        uint32_t len;
        if (!spate_chunk_get_string(in, 0, i, &s, &len) || !spate_chunk_get_i64(in, 1, i, &v[i]))
            return EINVAL;
        if (spate_builder_set_string(b, 0, i, s, len) != SPATE_OK)
            return ENOMEM;
        if (v[i] == 666) {
            snprintf(err->message, sizeof(err->message), "boom");
            return EIO;
        }
    }
    return SPATE_OK;
}

struct sums {
    int64_t time[16], sum[16], rows[16];
    uint32_t n;
};

static spate_status sum_rows(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    struct sums *s = user;
    if (s->n >= 16)
        return EIO;
    uint32_t k = s->n++;
    s->time[k] = spate_batch_time_ms(b);
    s->sum[k] = s->rows[k] = 0;
    for (uint32_t p = 0; p < spate_batch_num_partitions(b); p++)
        for (uint32_t c = 0; c < spate_batch_num_chunks(b, p); c++) {
            struct spate_chunk_view v;
            if (spate_batch_chunk(b, p, c, &v) != SPATE_OK)
                return EIO;
            for (uint32_t r = 0; r < v.rows; r++) {
                const char *str;
                uint32_t len;
                int64_t x;
                if (!spate_chunk_get_string(&v, 0, r, &str, &len) ||
                    !spate_chunk_get_i64(&v, 1, r, &x) ||
                    (x != 0 && atoi(str + strlen("a-long-key-number-")) != x))
                    return EIO; /* the key names its batch (0: an inverse window's leftover) */
                s->sum[k] += x;
                s->rows[k]++;
            }
        }
    return SPATE_OK;
}

static void failed_batch_leaves_the_window_going(void **state) {
    (void)state;
    static char names[11][48];
    for (int inverse = 0; inverse <= 1; inverse++) {
        struct spate_error err;
        spate_context *ctx = harness_manual_ctx(2);
        struct spate_column_def cols[] = {{"key", SPATE_TYPE_STRING}, {"value", SPATE_TYPE_I64}};
        spate_dstream *q = spate_context_queue_stream(ctx, cols, 2, &err);
        spate_dstream *m = spate_dstream_map(q, cols, 2, fail_on_666, NULL, &err);
        struct spate_reduce_opts ro;
        spate_reduce_opts_init(&ro);
        struct spate_window_opts wo;
        spate_window_opts_init(&wo);
        wo.length_ms = 3000;
        wo.use_inverse = inverse;
        spate_dstream *w = spate_dstream_reduce_by_key_and_window(m, &ro, &wo, &err);
        assert_non_null(w);
        static struct sums got;
        memset(&got, 0, sizeof(got));
        assert_int_equal(spate_dstream_foreach_batch(w, sum_rows, &got, &err), SPATE_OK);
        for (int b = 1; b <= 10; b++) {
            snprintf(names[b], sizeof(names[b]), "a-long-key-number-%d", b);
            struct spate_string s;
            memset(&s, 0, sizeof(s));
            s.len = (uint32_t)strlen(names[b]);
            memcpy(s.prefix, names[b], 4);
            s.u.ptr = names[b];
            int64_t val = b == 5 ? 666 : b;
            struct spate_column_data d[] = {{&s, NULL}, {&val, NULL}};
            assert_int_equal(spate_queue_push(q, d, 1, &err), SPATE_OK);
        }
        assert_int_equal(spate_context_start(ctx, &err), SPATE_OK);
        assert_int_equal(spate_context_advance(ctx, 10, &err), SPATE_OK);
        bool stopped;
        assert_int_equal(spate_context_await_termination_timeout(ctx, 0, &stopped, &err), EIO);
        assert_non_null(strstr(err.message, "boom"));
        harness_close(ctx);
        /* Every batch but 5 emitted its window of the last three batches, 5's rows left out. */
        assert_int_equal(got.n, 9);
        for (uint32_t i = 0; i < got.n; i++) {
            int64_t b = got.time[i] / 1000, want = 0, rows = 0;
            assert_int_not_equal(b, 5);
            for (int64_t j = b - 2; j <= b; j++)
                if (j >= 1 && j != 5) {
                    want += j;
                    rows++;
                }
            if (inverse) /* the running window keeps keys at 0: rows only grow */
                assert_true(got.rows[i] >= rows);
            else
                assert_int_equal(got.rows[i], rows);
            assert_int_equal(got.sum[i], want);
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(windows_match_naive),
        cmocka_unit_test(failed_batch_leaves_the_window_going),
        cmocka_unit_test(window_aggregates),
        cmocka_unit_test(window_string_keys),
        cmocka_unit_test(window_same_on_any_worker_count),
        cmocka_unit_test(counting_windows),
        cmocka_unit_test(raw_windows_match_naive),
        cmocka_unit_test(reduce_by_window_matches_naive),
        cmocka_unit_test(window_filter_function),
        cmocka_unit_test(count_by_value_keys_leave_and_return),
        cmocka_unit_test(window_definition_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
