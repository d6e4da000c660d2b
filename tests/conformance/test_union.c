/*
 * tests/conformance/test_union.c - union, count_by_value and reduce: union yields the
 * first stream's records, then the second's (Spark's order), keeps working
 * when one side is empty, refuses streams of other slides, types or contexts
 * at definition; count_by_value counts every distinct value exactly; reduce
 * gives one record per batch (none for an empty one) with every aggregate.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spate/spate.h"

#include "harness.h"

struct seen {
    char text[4096];
    size_t len;
    uint32_t calls;
};

/* Append "v1,v2,...;" of column 0 (i64) for the whole batch, partitions in order. */
static spate_status record(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    struct seen *s = user;
    s->calls++;
    for (uint32_t p = 0; p < spate_batch_num_partitions(b); p++) {
        for (uint32_t c = 0; c < spate_batch_num_chunks(b, p); c++) {
            struct spate_chunk_view v;
            if (spate_batch_chunk(b, p, c, &v) != SPATE_OK)
                return SPATE_OK;
            for (uint32_t r = 0; r < v.rows; r++) {
                int64_t x = -1;
                if (!spate_chunk_get_i64(&v, 0, r, &x))
                    x = -1;
                int64_t y = 0;
                bool pair = v.num_columns > 1 && spate_chunk_get_i64(&v, 1, r, &y);
                int n = pair ? snprintf(s->text + s->len, sizeof(s->text) - s->len, "%lld:%lld,",
                                        (long long)x, (long long)y)
                             : snprintf(s->text + s->len, sizeof(s->text) - s->len, "%lld,",
                                        (long long)x);
                if (n > 0 && (size_t)n < sizeof(s->text) - s->len)
                    s->len += (size_t)n;
            }
        }
    }
    if (s->len + 1 < sizeof(s->text))
        s->text[s->len++] = ';';
    s->text[s->len] = '\0';
    return SPATE_OK;
}

static spate_context *make_ctx(void) {
    /* One worker: one partition per input, so the order inside each stream is the push order. */
    return harness_manual_ctx(1);
}

static void push(spate_dstream *q, const int64_t *v, uint64_t n) {
    struct spate_error err;
    struct spate_column_data d = {v, NULL};
    assert_int_equal(spate_queue_push(q, &d, n, &err), SPATE_OK);
}

static void union_keeps_stream_order(void **state) {
    (void)state;
    struct spate_error err;
    spate_context *ctx = make_ctx();
    struct spate_column_def a_cols[] = {{"a", SPATE_TYPE_I64}};
    struct spate_column_def b_cols[] = {{"b", SPATE_TYPE_I64}};
    spate_dstream *a = spate_context_queue_stream(ctx, a_cols, 1, &err);
    spate_dstream *b = spate_context_queue_stream(ctx, b_cols, 1, &err);
    spate_dstream *c = spate_context_queue_stream(ctx, a_cols, 1, &err);
    spate_dstream *parts[] = {a, b, c};
    spate_dstream *u = spate_dstream_union(parts, 3, &err);
    assert_non_null(u);
    assert_string_equal(spate_dstream_column(u, 0).name, "a");
    struct seen s;
    memset(&s, 0, sizeof(s));
    assert_int_equal(spate_dstream_foreach_batch(u, record, &s, &err), SPATE_OK);
    static const int64_t a1[] = {1, 2, 3}, b1[] = {10, 20}, c1[] = {100}, a2[] = {4};
    push(a, a1, 3);
    push(b, b1, 2);
    push(c, c1, 1);
    push(a, a2, 1); /* batch 2: only a has data */
    assert_int_equal(spate_context_start(ctx, &err), SPATE_OK);
    assert_int_equal(spate_context_advance(ctx, 3, &err), SPATE_OK);
    assert_int_equal(s.calls, 3);
    assert_string_equal(s.text, "1,2,3,10,20,100,;4,;;");
    assert_int_equal(spate_context_stop(ctx, true, false, &err), SPATE_OK);
    spate_context_destroy(ctx);
}

static void union_definition_errors(void **state) {
    (void)state;
    struct spate_error err;
    spate_context *ctx = make_ctx();
    spate_context *other = NULL;
    struct spate_column_def i_cols[] = {{"x", SPATE_TYPE_I64}};
    struct spate_column_def s_cols[] = {{"x", SPATE_TYPE_STRING}};
    struct spate_column_def kv[] = {{"k", SPATE_TYPE_I64}, {"v", SPATE_TYPE_I64}};
    spate_dstream *i1 = spate_context_queue_stream(ctx, i_cols, 1, &err);
    spate_dstream *s1 = spate_context_queue_stream(ctx, s_cols, 1, &err);
    spate_dstream *pairs = spate_context_queue_stream(ctx, kv, 2, &err);
    struct spate_reduce_opts ro;
    spate_reduce_opts_init(&ro);
    struct spate_window_opts wo;
    spate_window_opts_init(&wo);
    wo.length_ms = 2000;
    wo.slide_ms = 2000;
    spate_dstream *slow = spate_dstream_reduce_by_key_and_window(pairs, &ro, &wo, &err);
    assert_non_null(slow);
    spate_dstream *mixed[] = {i1, s1};
    err.message[0] = '\0';
    assert_null(spate_dstream_union(mixed, 2, &err));
    assert_true(strstr(err.message, "types") != NULL);
    spate_dstream *slides[] = {pairs, slow};
    err.message[0] = '\0';
    assert_null(spate_dstream_union(slides, 2, &err));
    assert_true(strstr(err.message, "slide") != NULL);
    assert_null(spate_dstream_union(NULL, 0, &err));
    spate_dstream *with_null[] = {i1, NULL};
    assert_null(spate_dstream_union(with_null, 2, &err));
    /* Streams of two contexts. */
    struct spate_engine_opts eo;
    spate_engine_opts_init(&eo);
    eo.workers = 1;
    eo.pin_workers = false;
    spate_engine *e2;
    assert_int_equal(spate_engine_create(&eo, &e2, &err), SPATE_OK);
    struct spate_context_opts co;
    spate_context_opts_init(&co);
    assert_int_equal(spate_context_create(e2, &co, &other, &err), SPATE_OK);
    spate_dstream *o1 = spate_context_queue_stream(other, i_cols, 1, &err);
    spate_dstream *ctxs[] = {i1, o1};
    err.message[0] = '\0';
    assert_null(spate_dstream_union(ctxs, 2, &err));
    assert_true(strstr(err.message, "context") != NULL);
    assert_int_equal(spate_context_stop(other, true, false, &err), SPATE_OK);
    spate_context_destroy(other);
    assert_int_equal(spate_context_stop(ctx, true, false, &err), SPATE_OK);
    spate_context_destroy(ctx);
}

static int cmp_pair(const void *x, const void *y) {
    const int64_t *a = x, *b = y;
    return (a[0] > b[0]) - (a[0] < b[0]);
}

static spate_status collect_pairs(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    int64_t *out = user; /* out[0] = count of pairs, then (value, count) pairs */
    for (uint32_t p = 0; p < spate_batch_num_partitions(b); p++) {
        for (uint32_t c = 0; c < spate_batch_num_chunks(b, p); c++) {
            struct spate_chunk_view v;
            if (spate_batch_chunk(b, p, c, &v) != SPATE_OK)
                return EIO;
            for (uint32_t r = 0; r < v.rows && out[0] < 1000; r++) {
                int64_t *slot = &out[1 + 2 * out[0]];
                if (!spate_chunk_get_i64(&v, 0, r, &slot[0]) ||
                    !spate_chunk_get_i64(&v, 1, r, &slot[1]))
                    return EIO;
                out[0]++;
            }
        }
    }
    return SPATE_OK;
}

static void count_by_value_counts(void **state) {
    (void)state;
    struct spate_error err;
    spate_context *ctx = make_ctx();
    struct spate_column_def cols[] = {{"x", SPATE_TYPE_I64}};
    spate_dstream *q = spate_context_queue_stream(ctx, cols, 1, &err);
    spate_dstream *cbv = spate_dstream_count_by_value(q, &err);
    assert_non_null(cbv);
    assert_string_equal(spate_dstream_column(cbv, 1).name, "count");
    static int64_t out[1 + 2 * 1000];
    out[0] = 0;
    assert_int_equal(spate_dstream_foreach_batch(cbv, collect_pairs, out, &err), SPATE_OK);
    enum { N = 5000 };
    static int64_t v[N];
    int64_t naive[50] = {0};
    srand(3);
    for (int i = 0; i < N; i++) {
        v[i] = rand() % 50;
        naive[v[i]]++;
    }
    push(q, v, N);
    assert_int_equal(spate_context_start(ctx, &err), SPATE_OK);
    assert_int_equal(spate_context_advance(ctx, 1, &err), SPATE_OK);
    qsort(&out[1], (size_t)out[0], 2 * sizeof(int64_t), cmp_pair);
    int64_t distinct = 0;
    for (int k = 0; k < 50; k++)
        distinct += naive[k] > 0;
    assert_int_equal(out[0], distinct);
    for (int64_t i = 0; i < out[0]; i++)
        assert_int_equal(out[2 + 2 * i], naive[out[1 + 2 * i]]);
    assert_int_equal(spate_context_stop(ctx, true, false, &err), SPATE_OK);
    spate_context_destroy(ctx);
}

static void max_fn(void *user, int64_t *acc, const int64_t *vals, uint32_t n) {
    (void)user;
    for (uint32_t i = 0; i < n; i++)
        acc[i] = vals[i] > acc[i] ? vals[i] : acc[i];
}

struct reduced {
    uint32_t calls, records;
    int64_t last;
};

static spate_status take_reduced(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    struct reduced *r = user;
    r->calls++;
    r->records += (uint32_t)spate_batch_rows(b);
    for (uint32_t p = 0; p < spate_batch_num_partitions(b); p++) {
        for (uint32_t c = 0; c < spate_batch_num_chunks(b, p); c++) {
            struct spate_chunk_view v;
            if (spate_batch_chunk(b, p, c, &v) != SPATE_OK || v.rows != 1)
                return EIO;
            double d;
            if (!spate_chunk_get_i64(&v, 0, 0, &r->last)) {
                if (!spate_chunk_get_f64(&v, 0, 0, &d))
                    return EIO;
                r->last = (int64_t)d;
            }
        }
    }
    return SPATE_OK;
}

static void reduce_whole_batches(void **state) {
    (void)state;
    enum { N = 7001 };
    static int64_t v[N];
    static double f[N];
    int64_t sum = 0, mn = INT64_MAX, mx = INT64_MIN;
    srand(9);
    for (int i = 0; i < N; i++) {
        v[i] = rand() % 100000 - 50000;
        f[i] = (double)v[i];
        sum += v[i];
        mn = v[i] < mn ? v[i] : mn;
        mx = v[i] > mx ? v[i] : mx;
    }
    for (uint32_t workers = 1; workers <= 4; workers *= 4) {
        struct spate_error err;
        spate_context *ctx = harness_manual_ctx(workers);
        struct spate_column_def cols[] = {
            {"key", SPATE_TYPE_I64}, {"x", SPATE_TYPE_I64}, {"y", SPATE_TYPE_F64}};
        spate_dstream *q = spate_context_queue_stream(ctx, cols, 3, &err);
        static struct reduced r[5];
        memset(r, 0, sizeof(r));
        struct spate_reduce_opts ro[5];
        for (int i = 0; i < 5; i++) {
            spate_reduce_opts_init(&ro[i]);
            ro[i].value_col = 1;
        }
        ro[1].agg = SPATE_AGG_MIN;
        ro[2].agg = SPATE_AGG_MAX;
        ro[3].fn = max_fn;
        ro[4].value_col = 2; /* f64 sum */
        for (int i = 0; i < 5; i++) {
            spate_dstream *red = spate_dstream_reduce(q, &ro[i], &err);
            assert_non_null(red);
            assert_int_equal(spate_dstream_foreach_batch(red, take_reduced, &r[i], &err), SPATE_OK);
        }
        struct spate_column_data d[3] = {{v, NULL}, {v, NULL}, {f, NULL}};
        assert_int_equal(spate_queue_push(q, d, N, &err), SPATE_OK);
        harness_run(ctx, 2); /* batch 2 is empty: no record */
        int64_t want[5] = {sum, mn, mx, mx, sum};
        for (int i = 0; i < 5; i++) {
            assert_int_equal(r[i].calls, 2);
            assert_int_equal(r[i].records, 1);
            assert_int_equal(r[i].last, want[i]);
        }
    }
}

/* transform: every value x of the batch becomes x copies of (x, "n<x>"); x < 0 fails the batch. */
static spate_status expand(void *user, const spate_batch *in, spate_batch_writer *out,
                           struct spate_error *err) {
    (void)user;
    for (uint32_t p = 0; p < spate_batch_num_partitions(in); p++) {
        for (uint32_t c = 0; c < spate_batch_num_chunks(in, p); c++) {
            struct spate_chunk_view v;
            if (spate_batch_chunk(in, p, c, &v) != SPATE_OK)
                return EIO;
            for (uint32_t r = 0; r < v.rows; r++) {
                int64_t x = 0;
                if (!spate_chunk_get_i64(&v, 0, r, &x))
                    continue;
                if (x < 0) {
                    snprintf(err->message, sizeof(err->message), "negative value %lld",
                             (long long)x);
                    return EINVAL;
                }
                static int64_t xs[64];
                static struct spate_string names[64];
                char name[16];
                int len = snprintf(name, sizeof(name), "n%lld", (long long)x);
                for (int64_t i = 0; i < x && i < 64; i++) {
                    xs[i] = x;
                    memset(&names[i], 0, sizeof(names[i]));
                    names[i].len = (uint32_t)len;
                    memcpy((char *)&names[i] + offsetof(struct spate_string, prefix), name,
                           (size_t)len);
                }
                struct spate_column_data cols[2] = {{xs, NULL}, {names, NULL}};
                spate_status rc = spate_batch_writer_append(out, cols, (uint64_t)x, err);
                if (rc != SPATE_OK)
                    return rc;
            }
        }
    }
    return SPATE_OK;
}

static spate_status sum_col0(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    int64_t *acc = user; /* acc[0] = rows, acc[1] = sum, acc[2] = calls */
    acc[2]++;
    for (uint32_t p = 0; p < spate_batch_num_partitions(b); p++) {
        for (uint32_t c = 0; c < spate_batch_num_chunks(b, p); c++) {
            struct spate_chunk_view v;
            if (spate_batch_chunk(b, p, c, &v) != SPATE_OK)
                return EIO;
            for (uint32_t r = 0; r < v.rows; r++) {
                int64_t x;
                const char *s;
                uint32_t len;
                if (!spate_chunk_get_i64(&v, 0, r, &x) ||
                    !spate_chunk_get_string(&v, 1, r, &s, &len) || len < 2 || atoll(s + 1) != x)
                    return EIO;
                acc[0]++;
                acc[1] += x;
            }
        }
    }
    return SPATE_OK;
}

static void transform_whole_batches(void **state) {
    (void)state;
    struct spate_error err;
    spate_context *ctx = harness_manual_ctx(2);
    struct spate_column_def cols[] = {{"x", SPATE_TYPE_I64}};
    spate_dstream *q = spate_context_queue_stream(ctx, cols, 1, &err);
    struct spate_column_def out_cols[] = {{"x", SPATE_TYPE_I64}, {"name", SPATE_TYPE_STRING}};
    spate_dstream *t = spate_dstream_transform(q, out_cols, 2, expand, NULL, &err);
    assert_non_null(t);
    static int64_t acc[3];
    memset(acc, 0, sizeof(acc));
    assert_int_equal(spate_dstream_foreach_batch(t, sum_col0, acc, &err), SPATE_OK);
    int64_t b1[] = {1, 2, 3, 40}, b2[] = {5, -1};
    push(q, b1, 4);
    push(q, b2, 2); /* fails: a negative value */
    assert_int_equal(spate_context_start(ctx, &err), SPATE_OK);
    assert_int_equal(spate_context_advance(ctx, 3, &err), SPATE_OK);
    bool stopped;
    err.message[0] = '\0';
    assert_int_equal(spate_context_await_termination_timeout(ctx, 0, &stopped, &err), EIO);
    assert_non_null(strstr(err.message, "negative value -1"));
    assert_int_equal(acc[2], 2); /* batches 1 and 3 reached the output */
    assert_int_equal(acc[0], 1 + 2 + 3 + 40);
    assert_int_equal(acc[1], 1 + 4 + 9 + 1600);
    harness_close(ctx);
    assert_null(spate_dstream_transform(NULL, out_cols, 2, expand, NULL, &err));
}

/* flat_map: each value x becomes x rows (x, "n<x>"), counted downstream by key, and printed. */
static spate_status expand_chunk(void *user, const struct spate_chunk_view *in,
                                 spate_batch_writer *out, struct spate_error *err) {
    (void)user;
    for (uint32_t r = 0; r < in->rows; r++) {
        int64_t x = 0;
        if (!spate_chunk_get_i64(in, 0, r, &x) || x < 0 || x > 64)
            continue;
        int64_t xs[64];
        struct spate_string names[64];
        char name[16];
        int len = snprintf(name, sizeof(name), "n%lld", (long long)x);
        for (int64_t i = 0; i < x; i++) {
            xs[i] = x;
            memset(&names[i], 0, sizeof(names[i]));
            names[i].len = (uint32_t)len;
            memcpy((char *)&names[i] + offsetof(struct spate_string, prefix), name, (size_t)len);
        }
        struct spate_column_data cols[2] = {{xs, NULL}, {names, NULL}};
        spate_status rc = spate_batch_writer_append(out, cols, (uint64_t)x, err);
        if (rc != SPATE_OK)
            return rc;
    }
    return SPATE_OK;
}

static void flat_map_chunks(void **state) {
    (void)state;
    for (uint32_t workers = 1; workers <= 4; workers *= 4) {
        struct spate_error err;
        spate_context *ctx = harness_manual_ctx(workers);
        struct spate_column_def cols[] = {{"x", SPATE_TYPE_I64}};
        spate_dstream *q = spate_context_queue_stream(ctx, cols, 1, &err);
        struct spate_column_def out_cols[] = {{"x", SPATE_TYPE_I64}, {"name", SPATE_TYPE_STRING}};
        spate_dstream *fm = spate_dstream_flat_map(q, out_cols, 2, expand_chunk, NULL, &err);
        assert_non_null(fm);
        static int64_t acc[3];
        memset(acc, 0, sizeof(acc));
        assert_int_equal(spate_dstream_foreach_batch(fm, sum_col0, acc, &err), SPATE_OK);
        spate_dstream *by_x = spate_dstream_count_by_value(fm, &err);
        static int64_t counted[1 + 2 * 1000];
        counted[0] = 0;
        assert_int_equal(spate_dstream_foreach_batch(by_x, collect_pairs, counted, &err), SPATE_OK);
        enum { N = 3000 };
        static int64_t v[N];
        int64_t rows = 0, sum = 0, per[65] = {0};
        for (int i = 0; i < N; i++) {
            v[i] = i % 65;
            rows += v[i];
            sum += v[i] * v[i];
            per[v[i]] += v[i];
        }
        push(q, v, N);
        harness_run(ctx, 1);
        assert_int_equal(acc[0], rows);
        assert_int_equal(acc[1], sum);
        assert_int_equal(counted[0], 64); /* x = 1..64 */
        for (int64_t i = 0; i < counted[0]; i++)
            assert_int_equal(counted[2 + 2 * i], per[counted[1 + 2 * i]]);
    }
}

/* transform_with: (left rows, right rows) of the same batch, as one record. */
static spate_status pair_counts(void *user, const spate_batch *left, const spate_batch *right,
                                spate_batch_writer *out, struct spate_error *err) {
    (void)user;
    int64_t l = (int64_t)spate_batch_rows(left), r = (int64_t)spate_batch_rows(right);
    struct spate_column_data cols[2] = {{&l, NULL}, {&r, NULL}};
    return spate_batch_writer_append(out, cols, 1, err);
}

static spate_status take_pair(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    int64_t *got = user; /* got[2k], got[2k+1] for batch k */
    struct spate_chunk_view v;
    int64_t k = spate_batch_time_ms(b) / 1000;
    if (k < 1 || k > 3 || spate_batch_chunk(b, 0, 0, &v) != SPATE_OK ||
        !spate_chunk_get_i64(&v, 0, 0, &got[2 * k]) ||
        !spate_chunk_get_i64(&v, 1, 0, &got[2 * k + 1]))
        return EIO;
    return SPATE_OK;
}

static void transform_with_two_streams(void **state) {
    (void)state;
    struct spate_error err;
    spate_context *ctx = harness_manual_ctx(2);
    struct spate_column_def cols[] = {{"x", SPATE_TYPE_I64}};
    spate_dstream *a = spate_context_queue_stream(ctx, cols, 1, &err);
    spate_dstream *b = spate_context_queue_stream(ctx, cols, 1, &err);
    struct spate_column_def out_cols[] = {{"left", SPATE_TYPE_I64}, {"right", SPATE_TYPE_I64}};
    spate_dstream *t = spate_dstream_transform_with(a, b, out_cols, 2, pair_counts, NULL, &err);
    assert_non_null(t);
    static int64_t got[8];
    assert_int_equal(spate_dstream_foreach_batch(t, take_pair, got, &err), SPATE_OK);
    int64_t v[10] = {0};
    push(a, v, 3);
    push(b, v, 7);
    push(a, v, 0);
    push(b, v, 2);
    harness_run(ctx, 3);
    assert_int_equal(got[2], 3);
    assert_int_equal(got[3], 7);
    assert_int_equal(got[4], 0);
    assert_int_equal(got[5], 2);
    assert_int_equal(got[6], 0);
    assert_int_equal(got[7], 0);
    assert_null(spate_dstream_transform_with(NULL, b, out_cols, 2, pair_counts, NULL, &err));
}

/* Regression: a queue batch comes out in push order (partitions read in turn). */
static spate_status collect_order(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    int64_t *out = user; /* out[0] = count, then the values */
    for (uint32_t p = 0; p < spate_batch_num_partitions(b); p++) {
        for (uint32_t c = 0; c < spate_batch_num_chunks(b, p); c++) {
            struct spate_chunk_view v;
            if (spate_batch_chunk(b, p, c, &v) != SPATE_OK)
                return EIO;
            for (uint32_t r = 0; r < v.rows && out[0] < 6000; r++)
                if (!spate_chunk_get_i64(&v, 0, r, &out[1 + out[0]++]))
                    return EIO;
        }
    }
    return SPATE_OK;
}

static void queue_batches_keep_push_order(void **state) {
    (void)state;
    struct spate_error err;
    spate_context *ctx = harness_manual_ctx(2);
    struct spate_column_def cols[] = {{"x", SPATE_TYPE_I64}};
    spate_dstream *q = spate_context_queue_stream(ctx, cols, 1, &err);
    static int64_t got[1 + 6000];
    got[0] = 0;
    assert_int_equal(spate_dstream_foreach_batch(q, collect_order, got, &err), SPATE_OK);
    static int64_t v[5000];
    for (int i = 0; i < 5000; i++)
        v[i] = i;
    push(q, v, 5000);
    harness_run(ctx, 1);
    assert_int_equal(got[0], 5000);
    for (int i = 0; i < 5000; i++)
        assert_int_equal(got[1 + i], i);
}

/* Regression: the view of a null string is never read when a batch is pushed. */
static void null_string_views_are_not_read(void **state) {
    (void)state;
    struct spate_error err;
    spate_context *ctx = harness_manual_ctx(1);
    struct spate_column_def cols[] = {{"s", SPATE_TYPE_STRING}};
    spate_dstream *q = spate_context_queue_stream(ctx, cols, 1, &err);
    spate_dstream *counts = spate_dstream_count_by_value(q, &err);
    assert_int_equal(spate_dstream_print_fd(counts, 10, 2, &err), SPATE_OK);
    struct spate_string views[2];
    memset(views, 0, sizeof(views));
    views[0].len = 3;
    memcpy((char *)&views[0] + offsetof(struct spate_string, prefix), "abc", 3);
    views[1].len = 100; /* garbage in a null slot: a NULL pointer with a length */
    views[1].u.ptr = NULL;
    uint64_t valid = 1; /* row 1 is null */
    struct spate_column_data d = {views, &valid};
    assert_int_equal(spate_queue_push(q, &d, 2, &err), SPATE_OK);
    harness_run(ctx, 1);
}

/* repartition: the same rows in n partitions, and what follows still counts them all. */
static spate_status parts_and_rows(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    int64_t *out = user;
    out[0] = spate_batch_num_partitions(b);
    out[1] = (int64_t)spate_batch_rows(b);
    int64_t nonempty = 0;
    for (uint32_t p = 0; p < spate_batch_num_partitions(b); p++)
        nonempty += spate_batch_num_chunks(b, p) > 0;
    out[2] = nonempty;
    return SPATE_OK;
}

static void repartition_spreads_rows(void **state) {
    (void)state;
    struct spate_error err;
    spate_context *ctx = harness_manual_ctx(2);
    struct spate_column_def cols[] = {{"x", SPATE_TYPE_I64}};
    spate_dstream *q = spate_context_queue_stream(ctx, cols, 1, &err);
    spate_dstream *r = spate_dstream_repartition(q, 7, &err);
    assert_non_null(r);
    assert_null(spate_dstream_repartition(q, 0, &err));
    static int64_t seen[3];
    assert_int_equal(spate_dstream_foreach_batch(r, parts_and_rows, seen, &err), SPATE_OK);
    static int64_t counted[1 + 2 * 1000];
    counted[0] = 0;
    assert_int_equal(spate_dstream_foreach_batch(spate_dstream_count_by_value(r, &err),
                                                 collect_pairs, counted, &err),
                     SPATE_OK);
    static int64_t v[20000];
    for (int i = 0; i < 20000; i++)
        v[i] = i % 10;
    push(q, v, 20000);
    harness_run(ctx, 1);
    assert_int_equal(seen[0], 7);
    assert_int_equal(seen[1], 20000);
    assert_true(seen[2] >= 2); /* the chunks went to several partitions */
    assert_int_equal(counted[0], 10);
    for (int64_t i = 0; i < counted[0]; i++)
        assert_int_equal(counted[2 + 2 * i], 2000);
}

/* select: a zero-copy projection, columns in the asked order, after a filter's selection. */
static spate_status check_projection(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    int64_t *out = user; /* out[0] = rows seen, out[1] = mismatches */
    if (spate_batch_num_columns(b) != 2 || strcmp(spate_batch_column_name(b, 0), "c") != 0 ||
        strcmp(spate_batch_column_name(b, 1), "a") != 0)
        out[1]++;
    for (uint32_t p = 0; p < spate_batch_num_partitions(b); p++) {
        for (uint32_t c = 0; c < spate_batch_num_chunks(b, p); c++) {
            struct spate_chunk_view v;
            if (spate_batch_chunk(b, p, c, &v) != SPATE_OK)
                return EIO;
            for (uint32_t r = 0; r < v.rows; r++) {
                int64_t a, cc;
                if (!spate_chunk_get_i64(&v, 0, r, &cc) || !spate_chunk_get_i64(&v, 1, r, &a) ||
                    cc != a * 3 || a % 2 != 0)
                    out[1]++;
                out[0]++;
            }
        }
    }
    return SPATE_OK;
}

static void select_projects_columns(void **state) {
    (void)state;
    struct spate_error err;
    spate_context *ctx = harness_manual_ctx(2);
    struct spate_column_def cols[] = {
        {"a", SPATE_TYPE_I64}, {"b", SPATE_TYPE_I64}, {"c", SPATE_TYPE_I64}};
    spate_dstream *q = spate_context_queue_stream(ctx, cols, 3, &err);
    spate_dstream *even = spate_dstream_filter_i64(q, 1, SPATE_CMP_EQ, 0, &err); /* b == 0 */
    static const uint32_t pick[] = {2, 0};
    spate_dstream *proj = spate_dstream_select(even, pick, 2, &err);
    assert_non_null(proj);
    static const uint32_t bad[] = {3};
    assert_null(spate_dstream_select(q, bad, 1, &err));
    assert_null(spate_dstream_select(q, pick, 0, &err));
    static int64_t seen[2];
    assert_int_equal(spate_dstream_foreach_batch(proj, check_projection, seen, &err), SPATE_OK);
    enum { N = 3001 };
    static int64_t a[N], b[N], c[N];
    for (int i = 0; i < N; i++) {
        a[i] = i;
        b[i] = i % 2;
        c[i] = 3 * i;
    }
    struct spate_column_data d[3] = {{a, NULL}, {b, NULL}, {c, NULL}};
    assert_int_equal(spate_queue_push(q, d, N, &err), SPATE_OK);
    harness_run(ctx, 1);
    assert_int_equal(seen[0], (N + 1) / 2);
    assert_int_equal(seen[1], 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(union_keeps_stream_order),
        cmocka_unit_test(union_definition_errors),
        cmocka_unit_test(count_by_value_counts),
        cmocka_unit_test(reduce_whole_batches),
        cmocka_unit_test(transform_whole_batches),
        cmocka_unit_test(flat_map_chunks),
        cmocka_unit_test(transform_with_two_streams),
        cmocka_unit_test(queue_batches_keep_push_order),
        cmocka_unit_test(null_string_views_are_not_read),
        cmocka_unit_test(repartition_spreads_rows),
        cmocka_unit_test(select_projects_columns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
