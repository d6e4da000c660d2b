/*
 * tests/conformance/test_pairs.c - map_values, flat_map_values,
 * map_partitions, group_by_key, cogroup and group_by_key_and_window against a
 * naive computation over the same input, with 1, 2 and 4 workers: per batch, the output rows as a
 * multiset (rendered as text and sorted) must equal what the naive loop gives. The input has long
 * and short string keys, null keys, an empty batch, and goes through a filter
 * first so that the operators see chunks with a selection.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "spate/spate.h"

#include "harness.h"

#define NBATCH 4
#define MAXROWS 2000
#define MAXOUT 8000
#define LINE 160

struct input {
    uint32_t rows[NBATCH + 1];
    struct spate_string key[NBATCH + 1][MAXROWS];
    uint64_t valid[NBATCH + 1][MAXROWS / 64 + 1];
    int64_t val[NBATCH + 1][MAXROWS];
    uint64_t vvalid[NBATCH + 1][MAXROWS / 64 + 1]; /* value validity (group tests) */
    char text[NBATCH + 1][MAXROWS][32];
    /* cogroup's right side: (key, "s<number>") */
    uint32_t rrows[NBATCH + 1];
    struct spate_string rkey[NBATCH + 1][MAXROWS];
    struct spate_string rval[NBATCH + 1][MAXROWS];
    char rtext[NBATCH + 1][MAXROWS][32];
    char rvtext[NBATCH + 1][MAXROWS][16];
};

static struct input in;

static void make_string(struct spate_string *s, const char *text) {
    memset(s, 0, sizeof(*s));
    s->len = (uint32_t)strlen(text);
    if (s->len <= SPATE_STRING_INLINE) {
        memcpy(s->prefix, text, s->len < 4 ? s->len : 4);
        if (s->len > 4)
            memcpy(s->u.inlined, text + 4, s->len - 4);
    } else {
        memcpy(s->prefix, text, 4);
        s->u.ptr = text;
    }
}

static bool key_valid(uint32_t b, uint32_t i) {
    return (in.valid[b][i >> 6] >> (i & 63)) & 1u;
}

static void make_input(void) {
    memset(&in, 0, sizeof(in));
    for (uint32_t b = 1; b <= NBATCH; b++) {
        uint32_t n = b == 3 ? 0 : 500 * b;
        in.rows[b] = n;
        for (uint32_t i = 0; i < n; i++) {
            if (i % 7 == 0)
                snprintf(in.text[b][i], 32, "a-long-key-number-%u", i % 23);
            else
                snprintf(in.text[b][i], 32, "k%u", i % 23);
            make_string(&in.key[b][i], in.text[b][i]);
            if (i % 50 != 1)
                in.valid[b][i >> 6] |= 1ull << (i & 63);
            in.val[b][i] = (int64_t)((i * 7 + b) % 11) - 3;
            if (i % 31 != 5)
                in.vvalid[b][i >> 6] |= 1ull << (i & 63);
        }
        /* The right side: half as many rows, keys shared with the left and keys of its own. */
        in.rrows[b] = n / 2;
        for (uint32_t i = 0; i < n / 2; i++) {
            if (i % 5 == 0)
                snprintf(in.rtext[b][i], 32, "right-only-%u", i % 3);
            else
                snprintf(in.rtext[b][i], 32, "%s", in.text[b][2 * i + 1]);
            make_string(&in.rkey[b][i], in.rtext[b][i]);
            snprintf(in.rvtext[b][i], 16, "s%u", (i * 3 + b) % 13);
            make_string(&in.rval[b][i], in.rvtext[b][i]);
        }
    }
}

/* Rows of one batch rendered as text, sorted. */
struct rows {
    uint32_t n;
    char line[MAXOUT][LINE];
};

struct collector {
    struct rows got[NBATCH + 1];
    uint32_t batches;
    bool bad;
    bool check_parts; /* map_partitions: column 0 must be the partition index */
};

static int cmp_line(const void *a, const void *b) {
    return strcmp(a, b);
}

/* A multiset of integers, as moments (order-free). */
struct moments {
    int64_t n, s, q, c;
    uint32_t nulls;
};

static void moments_add(struct moments *m, int64_t x) {
    m->n++;
    m->s += x;
    m->q += x * x;
    m->c += x * x * x;
}

static void moments_render(char *buf, size_t cap, const struct moments *m) {
    snprintf(buf, cap, "[n=%lld,s=%lld,q=%lld,c=%lld]n%u", (long long)m->n, (long long)m->s,
             (long long)m->q, (long long)m->c, m->nulls);
}

static void render_cell(char *buf, size_t cap, const struct spate_chunk_view *v, uint32_t col,
                        uint32_t r) {
    const char *s;
    uint32_t len;
    int64_t i;
    double f;
    switch (v->columns[col].type) {
    case SPATE_TYPE_STRING:
        if (spate_chunk_get_string(v, col, r, &s, &len))
            snprintf(buf, cap, "%.*s", (int)len, s);
        else
            snprintf(buf, cap, "<null>");
        break;
    case SPATE_TYPE_F64:
        if (spate_chunk_get_f64(v, col, r, &f))
            snprintf(buf, cap, "%.3f", f);
        else
            snprintf(buf, cap, "<null>");
        break;
    case SPATE_TYPE_LIST_I64:
    case SPATE_TYPE_LIST_STRING: {
        struct spate_list l;
        if (!spate_chunk_get_list(v, col, r, &l)) {
            snprintf(buf, cap, "<null>");
            break;
        }
        /* The multiset of the list, whatever its order: count, sum, sums of squares and
         * cubes of the values (strings are "s<number>"), and the nulls. */
        struct moments m = {0, 0, 0, 0, 0};
        for (uint32_t k = 0; k < l.len; k++) {
            if (l.validity != NULL && !((l.validity[k >> 6] >> (k & 63)) & 1u)) {
                m.nulls++;
                continue;
            }
            int64_t x =
                v->columns[col].type == SPATE_TYPE_LIST_I64
                    ? ((const int64_t *)l.items)[k]
                    : atoll(spate_string_data(&((const struct spate_string *)l.items)[k]) + 1);
            moments_add(&m, x);
        }
        if (m.nulls != l.null_count)
            snprintf(buf, cap, "<bad null_count>");
        else
            moments_render(buf, cap, &m);
        break;
    }
    default:
        if (spate_chunk_get_i64(v, col, r, &i))
            snprintf(buf, cap, "%lld", (long long)i);
        else
            snprintf(buf, cap, "<null>");
        break;
    }
}

static spate_status collect(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    struct collector *c = user;
    if (c->batches >= NBATCH) {
        c->bad = true;
        return SPATE_OK;
    }
    struct rows *out = &c->got[++c->batches];
    out->n = 0;
    for (uint32_t p = 0; p < spate_batch_num_partitions(b); p++) {
        for (uint32_t k = 0; k < spate_batch_num_chunks(b, p); k++) {
            struct spate_chunk_view v;
            if (spate_batch_chunk(b, p, k, &v) != SPATE_OK) {
                c->bad = true;
                continue;
            }
            for (uint32_t r = 0; r < v.rows; r++) {
                if (out->n >= MAXOUT) {
                    c->bad = true;
                    return SPATE_OK;
                }
                char *line = out->line[out->n++];
                size_t at = 0;
                line[0] = '\0';
                for (uint32_t col = 0; col < v.num_columns; col++) {
                    char cell[LINE];
                    render_cell(cell, sizeof(cell), &v, col, r);
                    at += (size_t)snprintf(line + at, LINE - at, "%s%s", col ? "|" : "", cell);
                }
                int64_t part;
                if (c->check_parts && (!spate_chunk_get_i64(&v, 0, r, &part) || part != p))
                    c->bad = true;
            }
        }
    }
    qsort(out->line, out->n, LINE, cmp_line);
    return SPATE_OK;
}

static void add_line(struct rows *want, const char *fmt, ...) {
    assert_true(want->n < MAXOUT);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(want->line[want->n++], LINE, fmt, ap);
    va_end(ap);
}

static const char *key_text(uint32_t b, uint32_t i) {
    return key_valid(b, i) ? in.text[b][i] : "<null>";
}

static void check(struct collector *c, struct rows *want, uint32_t b) {
    qsort(want->line, want->n, LINE, cmp_line);
    assert_false(c->bad);
    assert_int_equal(c->got[b].n, want->n);
    for (uint32_t i = 0; i < want->n; i++)
        assert_string_equal(c->got[b].line[i], want->line[i]);
}

/* A queue stream of (key, value) with the input pushed (value nulls when asked). */
static spate_dstream *raw_stream(spate_context *ctx, bool value_nulls) {
    struct spate_error err;
    struct spate_column_def cols[] = {{"key", SPATE_TYPE_STRING}, {"value", SPATE_TYPE_I64}};
    spate_dstream *q = spate_context_queue_stream(ctx, cols, 2, &err);
    assert_non_null(q);
    for (uint32_t b = 1; b <= NBATCH; b++) {
        struct spate_column_data data[] = {{in.key[b], in.valid[b]},
                                           {in.val[b], value_nulls ? in.vvalid[b] : NULL}};
        assert_int_equal(spate_queue_push(q, data, in.rows[b], &err), SPATE_OK);
    }
    return q;
}

/* A queue stream of (key, value) with the input pushed, filtered to value >= 0. */
static spate_dstream *input_stream(spate_context *ctx, spate_dstream **queue) {
    struct spate_error err;
    spate_dstream *q = raw_stream(ctx, false);
    *queue = q;
    spate_dstream *f = spate_dstream_filter_i64(q, 1, SPATE_CMP_GE, 0, &err);
    assert_non_null(f);
    return f;
}

/* ---- map_values ---- */

static spate_status halve(void *user, const struct spate_chunk_view *v, spate_chunk_builder *b,
                          struct spate_error *err) {
    (void)user;
    (void)err;
    double *half = spate_builder_column(b, 0);
    int64_t *next = spate_builder_column(b, 1);
    if (half == NULL || next == NULL || spate_builder_column(b, 2) != NULL)
        return EINVAL;
    for (uint32_t r = 0; r < v->rows; r++) {
        int64_t x = 0;
        if (!spate_chunk_get_i64(v, 1, r, &x))
            return EINVAL;
        half[r] = (double)x * 0.5;
        next[r] = x + 1;
    }
    return SPATE_OK;
}

static struct collector col;
static struct rows want;

static void map_values_keeps_keys(void **state) {
    (void)state;
    make_input();
    for (uint32_t workers = 1; workers <= 4; workers *= 2) {
        spate_context *ctx = harness_manual_ctx(workers);
        struct spate_error err;
        spate_dstream *q;
        spate_dstream *f = input_stream(ctx, &q);
        struct spate_column_def vals[] = {{"half", SPATE_TYPE_F64}, {"next", SPATE_TYPE_I64}};
        spate_dstream *m = spate_dstream_map_values(f, 0, vals, 2, halve, NULL, &err);
        assert_non_null(m);
        assert_int_equal(spate_dstream_num_columns(m), 3);
        assert_string_equal(spate_dstream_column(m, 0).name, "key");
        assert_string_equal(spate_dstream_column(m, 1).name, "half");
        memset(&col, 0, sizeof(col));
        assert_int_equal(spate_dstream_foreach_batch(m, collect, &col, &err), SPATE_OK);
        harness_run(ctx, NBATCH);
        assert_int_equal(col.batches, NBATCH);
        for (uint32_t b = 1; b <= NBATCH; b++) {
            want.n = 0;
            for (uint32_t i = 0; i < in.rows[b]; i++)
                if (in.val[b][i] >= 0)
                    add_line(&want, "%s|%.3f|%lld", key_text(b, i), (double)in.val[b][i] * 0.5,
                             (long long)(in.val[b][i] + 1));
            check(&col, &want, b);
        }
    }
}

/* ---- flat_map_values ---- */

/* Value v becomes v rows (v, j) for j < v; value 100 fails the batch when asked. */
static spate_status expand(void *user, const struct spate_chunk_view *v, uint32_t row,
                           spate_batch_writer *out, struct spate_error *err) {
    const bool *fail_on_100 = user;
    int64_t x = 0;
    if (!spate_chunk_get_i64(v, 1, row, &x))
        return EINVAL;
    if (*fail_on_100 && x == 100) {
        snprintf(err->message, sizeof(err->message), "a hundred is not allowed");
        return EDOM;
    }
    int64_t a[8], j[8];
    for (int64_t i = 0; i < x; i++) {
        a[i] = x;
        j[i] = i;
    }
    struct spate_column_data cols[] = {{a, NULL}, {j, NULL}};
    return spate_batch_writer_append(out, cols, (uint64_t)x, err);
}

static void flat_map_values_keeps_keys(void **state) {
    (void)state;
    make_input();
    bool no = false;
    for (uint32_t workers = 1; workers <= 4; workers *= 2) {
        spate_context *ctx = harness_manual_ctx(workers);
        struct spate_error err;
        spate_dstream *q;
        spate_dstream *f = input_stream(ctx, &q);
        struct spate_column_def vals[] = {{"v", SPATE_TYPE_I64}, {"j", SPATE_TYPE_I64}};
        spate_dstream *m = spate_dstream_flat_map_values(f, 0, vals, 2, expand, &no, &err);
        assert_non_null(m);
        memset(&col, 0, sizeof(col));
        assert_int_equal(spate_dstream_foreach_batch(m, collect, &col, &err), SPATE_OK);
        harness_run(ctx, NBATCH);
        assert_int_equal(col.batches, NBATCH);
        for (uint32_t b = 1; b <= NBATCH; b++) {
            want.n = 0;
            for (uint32_t i = 0; i < in.rows[b]; i++)
                for (int64_t j = 0; j < in.val[b][i]; j++)
                    add_line(&want, "%s|%lld|%lld", key_text(b, i), (long long)in.val[b][i],
                             (long long)j);
            check(&col, &want, b);
        }
    }
}

static void flat_map_values_failure_fails_the_batch(void **state) {
    (void)state;
    make_input();
    in.val[2][10] = 100; /* batch 2 fails, 1 and 4 do not */
    bool yes = true;
    spate_context *ctx = harness_manual_ctx(2);
    struct spate_error err;
    spate_dstream *q;
    spate_dstream *f = input_stream(ctx, &q);
    struct spate_column_def vals[] = {{"v", SPATE_TYPE_I64}, {"j", SPATE_TYPE_I64}};
    spate_dstream *m = spate_dstream_flat_map_values(f, 0, vals, 2, expand, &yes, &err);
    assert_non_null(m);
    memset(&col, 0, sizeof(col));
    assert_int_equal(spate_dstream_foreach_batch(m, collect, &col, &err), SPATE_OK);
    assert_int_equal(spate_context_start(ctx, &err), SPATE_OK);
    assert_int_equal(spate_context_advance(ctx, NBATCH, &err), SPATE_OK);
    bool stopped;
    assert_int_equal(spate_context_await_termination_timeout(ctx, 0, &stopped, &err), EIO);
    assert_non_null(strstr(err.message, "a hundred is not allowed"));
    assert_int_equal(col.batches, NBATCH - 1); /* the failed batch has no output */
    assert_int_equal(spate_context_stop(ctx, true, false, &err), SPATE_OK);
    spate_context_destroy(ctx);
}

/* ---- map_partitions ---- */

/* One row per partition: (partition, rows, sum of values). */
static spate_status summarize(void *user, const spate_batch *b, uint32_t part,
                              spate_batch_writer *out, struct spate_error *err) {
    (void)user;
    int64_t rows = 0, sum = 0;
    for (uint32_t k = 0; k < spate_batch_num_chunks(b, part); k++) {
        struct spate_chunk_view v;
        if (spate_batch_chunk(b, part, k, &v) != SPATE_OK)
            return EINVAL;
        for (uint32_t r = 0; r < v.rows; r++) {
            int64_t x = 0;
            if (!spate_chunk_get_i64(&v, 1, r, &x))
                return EINVAL;
            rows++;
            sum += x;
        }
    }
    int64_t p = part;
    struct spate_column_data cols[] = {{&p, NULL}, {&rows, NULL}, {&sum, NULL}};
    return spate_batch_writer_append(out, cols, 1, err);
}

static void map_partitions_runs_once_per_partition(void **state) {
    (void)state;
    make_input();
    for (uint32_t workers = 1; workers <= 4; workers *= 2) {
        spate_context *ctx = harness_manual_ctx(workers);
        struct spate_error err;
        spate_dstream *q;
        spate_dstream *f = input_stream(ctx, &q);
        spate_dstream *rp = spate_dstream_repartition(f, 3, &err);
        assert_non_null(rp);
        struct spate_column_def cols[] = {
            {"part", SPATE_TYPE_I64}, {"rows", SPATE_TYPE_I64}, {"sum", SPATE_TYPE_I64}};
        spate_dstream *m = spate_dstream_map_partitions(rp, cols, 3, summarize, NULL, &err);
        assert_non_null(m);
        /* The totals of the partitions, reduced again, are the batch's. */
        struct spate_reduce_opts ro;
        spate_reduce_opts_init(&ro);
        ro.value_col = 2;
        spate_dstream *total = spate_dstream_reduce(m, &ro, &err);
        assert_non_null(total);
        memset(&col, 0, sizeof(col));
        col.check_parts = true;
        assert_int_equal(spate_dstream_foreach_batch(m, collect, &col, &err), SPATE_OK);
        static struct collector totals;
        memset(&totals, 0, sizeof(totals));
        assert_int_equal(spate_dstream_foreach_batch(total, collect, &totals, &err), SPATE_OK);
        harness_run(ctx, NBATCH);
        assert_int_equal(col.batches, NBATCH);
        assert_false(totals.bad);
        for (uint32_t b = 1; b <= NBATCH; b++) {
            int64_t rows = 0, sum = 0;
            for (uint32_t i = 0; i < in.rows[b]; i++)
                if (in.val[b][i] >= 0) {
                    rows++;
                    sum += in.val[b][i];
                }
            /* One row per partition that the repartition made (none for an empty batch). */
            int64_t got_rows = 0;
            for (uint32_t i = 0; i < col.got[b].n; i++) {
                long long p, r, s;
                assert_int_equal(sscanf(col.got[b].line[i], "%lld|%lld|%lld", &p, &r, &s), 3);
                got_rows += r;
            }
            assert_int_equal(got_rows, rows);
            if (rows > 0) {
                assert_int_equal(totals.got[b].n, 1);
                assert_int_equal(atoll(totals.got[b].line[0]), sum);
            }
        }
    }
}

/* ---- group_by_key, cogroup, group_by_key_and_window ---- */

static bool value_valid(uint32_t b, uint32_t i) {
    return (in.vvalid[b][i >> 6] >> (i & 63)) & 1u;
}

/* Distinct valid keys of batch b (left, and right when asked), in a small table. */
struct naive_groups {
    uint32_t n;
    char key[64][32];
    struct moments left[64], right[64];
};

static uint32_t naive_slot(struct naive_groups *g, const char *key) {
    for (uint32_t i = 0; i < g->n; i++)
        if (strcmp(g->key[i], key) == 0)
            return i;
    assert_true(g->n < 64);
    snprintf(g->key[g->n], 32, "%s", key);
    memset(&g->left[g->n], 0, sizeof(g->left[0]));
    memset(&g->right[g->n], 0, sizeof(g->right[0]));
    return g->n++;
}

static void naive_add_left(struct naive_groups *g, uint32_t b) {
    for (uint32_t i = 0; i < in.rows[b]; i++) {
        if (!key_valid(b, i))
            continue; /* null keys are dropped */
        struct moments *m = &g->left[naive_slot(g, in.text[b][i])];
        if (value_valid(b, i))
            moments_add(m, in.val[b][i]);
        else
            m->nulls++;
    }
}

static void naive_add_right(struct naive_groups *g, uint32_t b) {
    for (uint32_t i = 0; i < in.rrows[b]; i++)
        moments_add(&g->right[naive_slot(g, in.rtext[b][i])], atoll(in.rvtext[b][i] + 1));
}

static void want_groups(const struct naive_groups *g, bool cogroup) {
    want.n = 0;
    for (uint32_t i = 0; i < g->n; i++) {
        char l[64], r[64];
        moments_render(l, sizeof(l), &g->left[i]);
        moments_render(r, sizeof(r), &g->right[i]);
        if (cogroup)
            add_line(&want, "%s|%s|%s", g->key[i], l, r);
        else
            add_line(&want, "%s|%s", g->key[i], l);
    }
}

static struct naive_groups groups;

static void group_by_key_matches_naive(void **state) {
    (void)state;
    make_input();
    for (uint32_t workers = 1; workers <= 4; workers *= 2) {
        spate_context *ctx = harness_manual_ctx(workers);
        struct spate_error err;
        spate_dstream *q = raw_stream(ctx, true);
        spate_dstream *g = spate_dstream_group_by_key(q, NULL, &err);
        assert_non_null(g);
        assert_int_equal(spate_dstream_column(g, 1).type, SPATE_LIST_OF(SPATE_TYPE_I64));
        assert_string_equal(spate_dstream_column(g, 1).name, "value");
        memset(&col, 0, sizeof(col));
        assert_int_equal(spate_dstream_foreach_batch(g, collect, &col, &err), SPATE_OK);
        harness_run(ctx, NBATCH);
        assert_int_equal(col.batches, NBATCH);
        for (uint32_t b = 1; b <= NBATCH; b++) {
            groups.n = 0;
            naive_add_left(&groups, b);
            want_groups(&groups, false);
            check(&col, &want, b);
        }
    }
}

static void cogroup_matches_naive(void **state) {
    (void)state;
    make_input();
    for (uint32_t workers = 1; workers <= 4; workers *= 2) {
        spate_context *ctx = harness_manual_ctx(workers);
        struct spate_error err;
        spate_dstream *l = raw_stream(ctx, true);
        struct spate_column_def rcols[] = {{"rkey", SPATE_TYPE_STRING}, {"tag", SPATE_TYPE_STRING}};
        spate_dstream *r = spate_context_queue_stream(ctx, rcols, 2, &err);
        assert_non_null(r);
        for (uint32_t b = 1; b <= NBATCH; b++) {
            struct spate_column_data data[] = {{in.rkey[b], NULL}, {in.rval[b], NULL}};
            assert_int_equal(spate_queue_push(r, data, in.rrows[b], &err), SPATE_OK);
        }
        spate_dstream *g = spate_dstream_cogroup(l, r, NULL, &err);
        assert_non_null(g);
        assert_int_equal(spate_dstream_num_columns(g), 3);
        assert_int_equal(spate_dstream_column(g, 2).type, SPATE_LIST_OF(SPATE_TYPE_STRING));
        memset(&col, 0, sizeof(col));
        assert_int_equal(spate_dstream_foreach_batch(g, collect, &col, &err), SPATE_OK);
        harness_run(ctx, NBATCH);
        assert_int_equal(col.batches, NBATCH);
        for (uint32_t b = 1; b <= NBATCH; b++) {
            groups.n = 0;
            naive_add_left(&groups, b);
            naive_add_right(&groups, b);
            want_groups(&groups, true);
            check(&col, &want, b);
        }
    }
}

static void group_by_key_and_window_matches_naive(void **state) {
    (void)state;
    make_input();
    for (uint32_t workers = 1; workers <= 4; workers *= 2) {
        spate_context *ctx = harness_manual_ctx(workers);
        struct spate_error err;
        spate_dstream *q = raw_stream(ctx, true);
        struct spate_window_opts wo;
        spate_window_opts_init(&wo);
        wo.length_ms = 2000;
        spate_dstream *g = spate_dstream_group_by_key_and_window(q, NULL, &wo, &err);
        assert_non_null(g);
        memset(&col, 0, sizeof(col));
        assert_int_equal(spate_dstream_foreach_batch(g, collect, &col, &err), SPATE_OK);
        harness_run(ctx, NBATCH);
        assert_int_equal(col.batches, NBATCH);
        for (uint32_t b = 1; b <= NBATCH; b++) {
            groups.n = 0;
            if (b > 1)
                naive_add_left(&groups, b - 1);
            naive_add_left(&groups, b);
            want_groups(&groups, false);
            check(&col, &want, b);
        }
    }
}

/* groupByKey().mapValues(sum): reading the lists in a map_values callback. */
static spate_status sum_list(void *user, const struct spate_chunk_view *v, spate_chunk_builder *b,
                             struct spate_error *err) {
    (void)user;
    (void)err;
    int64_t *out = spate_builder_column(b, 0);
    for (uint32_t r = 0; r < v->rows; r++) {
        struct spate_list l;
        if (!spate_chunk_get_list(v, 1, r, &l))
            return EINVAL;
        out[r] = 0;
        for (uint32_t k = 0; k < l.len; k++)
            if (l.validity == NULL || ((l.validity[k >> 6] >> (k & 63)) & 1u))
                out[r] += ((const int64_t *)l.items)[k];
    }
    return SPATE_OK;
}

static void grouped_values_feed_map_values(void **state) {
    (void)state;
    make_input();
    spate_context *ctx = harness_manual_ctx(2);
    struct spate_error err;
    spate_dstream *q = raw_stream(ctx, true);
    spate_dstream *g = spate_dstream_group_by_key(q, NULL, &err);
    struct spate_column_def vals[] = {{"sum", SPATE_TYPE_I64}};
    spate_dstream *m = spate_dstream_map_values(g, 0, vals, 1, sum_list, NULL, &err);
    assert_non_null(m);
    memset(&col, 0, sizeof(col));
    assert_int_equal(spate_dstream_foreach_batch(m, collect, &col, &err), SPATE_OK);
    harness_run(ctx, NBATCH);
    for (uint32_t b = 1; b <= NBATCH; b++) {
        groups.n = 0;
        naive_add_left(&groups, b);
        want.n = 0;
        for (uint32_t i = 0; i < groups.n; i++)
            add_line(&want, "%s|%lld", groups.key[i], (long long)groups.left[i].s);
        check(&col, &want, b);
    }
}

/* ---- combine_by_key: the average per key, Spark's classic combineByKey example ---- */

struct avg_state {
    int64_t sum, count, nulls;
};

static void avg_add(struct avg_state *st, const struct spate_chunk_view *v, uint32_t row) {
    int64_t x;
    if (spate_chunk_get_i64(v, 1, row, &x)) {
        st->sum += x;
        st->count++;
    } else {
        st->nulls++;
    }
}

static void avg_create(void *user, void *state, const struct spate_chunk_view *v, uint32_t row) {
    (void)user;
    memset(state, 0, sizeof(struct avg_state));
    avg_add(state, v, row);
}

static void avg_merge_value(void *user, void *state, const struct spate_chunk_view *v,
                            uint32_t row) {
    (void)user;
    avg_add(state, v, row);
}

static void avg_merge(void *user, void *state, const void *other) {
    (void)user;
    struct avg_state *a = state;
    const struct avg_state *b = other;
    a->sum += b->sum;
    a->count += b->count;
    a->nulls += b->nulls;
}

static spate_status avg_finish(void *user, const void *state, spate_chunk_builder *out,
                               uint32_t row, struct spate_error *err) {
    (void)user;
    (void)err;
    const struct avg_state *st = state;
    double *avg = spate_builder_column(out, 0);
    int64_t *n = spate_builder_column(out, 1);
    if (avg == NULL || n == NULL)
        return EINVAL;
    n[row] = st->count + st->nulls;
    if (st->count == 0)
        return spate_builder_set_null(out, 0, row);
    avg[row] = (double)st->sum / (double)st->count;
    return SPATE_OK;
}

static void combine_by_key_matches_naive(void **state) {
    (void)state;
    make_input();
    struct spate_combiner c = {.state_size = sizeof(struct avg_state),
                               .create = avg_create,
                               .merge_value = avg_merge_value,
                               .merge_combiners = avg_merge,
                               .finish = avg_finish};
    for (uint32_t workers = 1; workers <= 4; workers *= 2) {
        spate_context *ctx = harness_manual_ctx(workers);
        struct spate_error err;
        spate_dstream *q = raw_stream(ctx, true);
        /* Four partitions, so that one key's partial states merge across workers. */
        spate_dstream *rp = spate_dstream_repartition(q, 4, &err);
        struct spate_column_def vals[] = {{"avg", SPATE_TYPE_F64}, {"rows", SPATE_TYPE_I64}};
        spate_dstream *m = spate_dstream_combine_by_key(rp, 0, &c, vals, 2, &err);
        assert_non_null(m);
        memset(&col, 0, sizeof(col));
        assert_int_equal(spate_dstream_foreach_batch(m, collect, &col, &err), SPATE_OK);
        harness_run(ctx, NBATCH);
        assert_int_equal(col.batches, NBATCH);
        for (uint32_t b = 1; b <= NBATCH; b++) {
            groups.n = 0;
            naive_add_left(&groups, b);
            want.n = 0;
            for (uint32_t i = 0; i < groups.n; i++) {
                const struct moments *g = &groups.left[i];
                if (g->n == 0)
                    add_line(&want, "%s|<null>|%lld", groups.key[i], (long long)g->nulls);
                else
                    add_line(&want, "%s|%.3f|%lld", groups.key[i], (double)g->s / (double)g->n,
                             (long long)(g->n + g->nulls));
            }
            check(&col, &want, b);
        }
    }
}

/* ---- reduce_by_key on i64 keys: the flat stage-1 tables, edge keys, nulls, growth ---- */

static int64_t ekeys[NBATCH + 1][MAXROWS], evals[NBATCH + 1][MAXROWS];
static uint64_t ekvalid[NBATCH + 1][MAXROWS / 64 + 1], evvalid[NBATCH + 1][MAXROWS / 64 + 1];

static void i64_keys_sum_and_count(void **state) {
    (void)state;
    static const int64_t edge[] = {INT64_MIN, INT64_MAX, 0, -1, 1, INT64_MIN + 1};
    for (uint32_t b = 1; b <= NBATCH; b++) {
        memset(ekvalid[b], 0, sizeof(ekvalid[b]));
        memset(evvalid[b], 0, sizeof(evvalid[b]));
        for (uint32_t i = 0; i < MAXROWS; i++) {
            /* Batch 2 has ~1900 distinct keys (the tables grow), the others few. */
            ekeys[b][i] = i % 10 < 6 ? edge[i % 6] : (int64_t)(b == 2 ? i * 7919 : i % 17);
            evals[b][i] = (int64_t)(i % 13) - 6 + (i == 5 ? INT64_MAX : 0); /* a wrap */
            if (i % 29 != 3)
                ekvalid[b][i >> 6] |= 1ull << (i & 63);
            if (i % 31 != 4)
                evvalid[b][i >> 6] |= 1ull << (i & 63);
        }
    }
    for (int count = 0; count <= 1; count++) {
        for (uint32_t workers = 1; workers <= 4; workers *= 2) {
            spate_context *ctx = harness_manual_ctx(workers);
            struct spate_error err;
            struct spate_column_def cols[] = {{"k", SPATE_TYPE_I64}, {"v", SPATE_TYPE_I64}};
            spate_dstream *q = spate_context_queue_stream(ctx, cols, 2, &err);
            for (uint32_t b = 1; b <= NBATCH; b++) {
                struct spate_column_data d[] = {{ekeys[b], ekvalid[b]}, {evals[b], evvalid[b]}};
                assert_int_equal(spate_queue_push(q, d, MAXROWS, &err), SPATE_OK);
            }
            /* Batch 3 goes through a filter: chunks with a selection. */
            spate_dstream *f = spate_dstream_filter_i64(q, 1, SPATE_CMP_NE, 3, &err);
            struct spate_reduce_opts ro;
            spate_reduce_opts_init(&ro);
            ro.agg = count ? SPATE_AGG_COUNT : SPATE_AGG_SUM;
            spate_dstream *r = spate_dstream_reduce_by_key(f, &ro, &err);
            assert_non_null(r);
            memset(&col, 0, sizeof(col));
            assert_int_equal(spate_dstream_foreach_batch(r, collect, &col, &err), SPATE_OK);
            harness_run(ctx, NBATCH);
            assert_int_equal(col.batches, NBATCH);
            for (uint32_t b = 1; b <= NBATCH; b++) {
                /* Naive: a linear table of the distinct keys (few enough). */
                static int64_t k[MAXROWS], v[MAXROWS];
                uint32_t n = 0;
                for (uint32_t i = 0; i < MAXROWS; i++) {
                    bool kv = (ekvalid[b][i >> 6] >> (i & 63)) & 1u;
                    bool vv = (evvalid[b][i >> 6] >> (i & 63)) & 1u;
                    if (!kv || !vv || evals[b][i] == 3) /* null values never pass the filter */
                        continue;
                    uint32_t j = 0;
                    while (j < n && k[j] != ekeys[b][i])
                        j++;
                    if (j == n) {
                        k[n] = ekeys[b][i];
                        v[n++] = 0;
                    }
                    v[j] = (int64_t)((uint64_t)v[j] + (count ? 1u : (uint64_t)evals[b][i]));
                }
                want.n = 0;
                for (uint32_t j = 0; j < n; j++)
                    add_line(&want, "%lld|%lld", (long long)k[j], (long long)v[j]);
                check(&col, &want, b);
            }
        }
    }
}

/* ---- reduce_by_key with many i64 keys: the scatter plan (chosen past 2^17 keys) ---- */

#define MANY 300000

struct many_check {
    int64_t *want[NBATCH + 1]; /* expected sum (or count) per key 0..MANY, per batch */
    bool *seen;
    uint32_t batches;
    uint64_t rows[NBATCH + 1];
    bool bad;
};

static spate_status check_many(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    struct many_check *m = user;
    uint32_t k = ++m->batches;
    if (k > NBATCH)
        return EIO;
    memset(m->seen, 0, MANY + 1);
    for (uint32_t p = 0; p < spate_batch_num_partitions(b); p++)
        for (uint32_t c = 0; c < spate_batch_num_chunks(b, p); c++) {
            struct spate_chunk_view v;
            if (spate_batch_chunk(b, p, c, &v) != SPATE_OK)
                return EIO;
            for (uint32_t r = 0; r < v.rows; r++) {
                int64_t key, val;
                if (!spate_chunk_get_i64(&v, 0, r, &key) || !spate_chunk_get_i64(&v, 1, r, &val))
                    m->bad = true;
                int64_t slot = key == INT64_MIN ? MANY : key; /* INT64_MIN counts at MANY */
                if (slot < 0 || slot > MANY || m->seen[slot] || m->want[k][slot] != val)
                    m->bad = true;
                else
                    m->seen[slot] = true;
                m->rows[k]++;
            }
        }
    return SPATE_OK;
}

static void many_i64_keys(void **state) {
    (void)state;
    enum { ROWS = 700000 };
    int64_t *keys = malloc(sizeof(int64_t) * ROWS), *vals = malloc(sizeof(int64_t) * ROWS);
    uint64_t *kvalid = calloc(ROWS / 64 + 1, 8);
    struct many_check m;
    memset(&m, 0, sizeof(m));
    m.seen = malloc(MANY + 1);
    assert_non_null(keys);
    assert_non_null(vals);
    assert_non_null(kvalid);
    assert_non_null(m.seen);
    uint64_t want_rows[NBATCH + 1];
    for (uint32_t b = 1; b <= NBATCH; b++) {
        m.want[b] = calloc(MANY + 1, sizeof(int64_t));
        assert_non_null(m.want[b]);
    }
    for (int count = 0; count <= 1; count++) {
        for (uint32_t workers = 1; workers <= 2; workers++) {
            spate_context *ctx = harness_manual_ctx(workers);
            struct spate_error err;
            struct spate_column_def cols[] = {{"k", SPATE_TYPE_I64}, {"v", SPATE_TYPE_I64}};
            spate_dstream *q = spate_context_queue_stream(ctx, cols, 2, &err);
            for (uint32_t b = 1; b <= NBATCH; b++) {
                uint32_t distinct = b == 3 ? 1000 : MANY; /* a batch with few keys between */
                uint64_t seed = b * 7 + (uint64_t)count;
                memset(m.want[b], 0, sizeof(int64_t) * (MANY + 1));
                memset(kvalid, 0, (ROWS / 64 + 1) * 8);
                bool *present = calloc(MANY + 1, 1);
                want_rows[b] = 0;
                for (uint32_t i = 0; i < ROWS; i++) {
                    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                    int64_t key = (int64_t)((seed >> 33) % distinct);
                    if (i % 1000 == 7)
                        key = INT64_MIN;
                    keys[i] = key;
                    vals[i] = (int64_t)((seed >> 20) % 100) - 50;
                    bool valid = i % 97 != 3;
                    if (valid)
                        kvalid[i >> 6] |= 1ull << (i & 63);
                    if (!valid || vals[i] == 13) /* the filter below drops 13 */
                        continue;
                    int64_t slot = key == INT64_MIN ? MANY : key;
                    m.want[b][slot] += count ? 1 : vals[i];
                    want_rows[b] += !present[slot];
                    present[slot] = true;
                }
                free(present);
                struct spate_column_data d[] = {{keys, kvalid}, {vals, NULL}};
                assert_int_equal(spate_queue_push(q, d, ROWS, &err), SPATE_OK);
            }
            spate_dstream *f = spate_dstream_filter_i64(q, 1, SPATE_CMP_NE, 13, &err);
            struct spate_reduce_opts ro;
            spate_reduce_opts_init(&ro);
            ro.agg = count ? SPATE_AGG_COUNT : SPATE_AGG_SUM;
            spate_dstream *r = spate_dstream_reduce_by_key(f, &ro, &err);
            m.batches = 0;
            m.bad = false;
            memset(m.rows, 0, sizeof(m.rows));
            assert_int_equal(spate_dstream_foreach_batch(r, check_many, &m, &err), SPATE_OK);
            harness_run(ctx, NBATCH);
            assert_int_equal(m.batches, NBATCH);
            assert_false(m.bad);
            for (uint32_t b = 1; b <= NBATCH; b++)
                assert_int_equal(m.rows[b], want_rows[b]);
        }
    }
    for (uint32_t b = 1; b <= NBATCH; b++)
        free(m.want[b]);
    free(m.seen);
    free(keys);
    free(vals);
    free(kvalid);
}

/* What print writes for a grouped stream: Scala's CompactBuffer(a, b). */
static void grouped_print_format(void **state) {
    (void)state;
    spate_context *ctx = harness_manual_ctx(1);
    struct spate_error err;
    struct spate_column_def cols[] = {{"key", SPATE_TYPE_STRING}, {"value", SPATE_TYPE_I64}};
    struct spate_column_def rcols[] = {{"key", SPATE_TYPE_STRING}, {"tag", SPATE_TYPE_STRING}};
    spate_dstream *l = spate_context_queue_stream(ctx, cols, 2, &err);
    spate_dstream *r = spate_context_queue_stream(ctx, rcols, 2, &err);
    struct spate_string k[4], t[2];
    for (int i = 0; i < 4; i++)
        make_string(&k[i], "a");
    make_string(&t[0], "x");
    make_string(&t[1], "y");
    int64_t v[4] = {1, 2, 3, 4};
    uint64_t vvalid = 0x7; /* the fourth value is null */
    struct spate_column_data ld[] = {{k, NULL}, {v, &vvalid}};
    struct spate_column_data rd[] = {{k, NULL}, {t, NULL}};
    assert_int_equal(spate_queue_push(l, ld, 4, &err), SPATE_OK);
    assert_int_equal(spate_queue_push(r, rd, 2, &err), SPATE_OK);
    spate_dstream *g = spate_dstream_group_by_key(l, NULL, &err);
    spate_dstream *cg = spate_dstream_cogroup(l, r, NULL, &err);
    assert_non_null(g);
    assert_non_null(cg);
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(spate_dstream_print_fd(g, 10, fileno(f), &err), SPATE_OK);
    assert_int_equal(spate_dstream_print_fd(cg, 10, fileno(f), &err), SPATE_OK);
    harness_run(ctx, 1);
    char text[512];
    rewind(f);
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);
    assert_string_equal(text, "-------------------------------------------\n"
                              "Time: 1000 ms\n"
                              "-------------------------------------------\n"
                              "(a,CompactBuffer(1, 2, 3, null))\n"
                              "\n"
                              "-------------------------------------------\n"
                              "Time: 1000 ms\n"
                              "-------------------------------------------\n"
                              "(a,CompactBuffer(1, 2, 3, null),CompactBuffer(x, y))\n"
                              "\n");
}

/* A grouped batch through the Arrow C Data Interface: a list column ("+l") of i64 items. */
static spate_status export_lists(void *user, const spate_batch *b, struct spate_error *err) {
    int *checked = user;
    struct ArrowSchema schema;
    struct ArrowArray array;
    spate_status rc = spate_batch_export(b, &schema, &array, err);
    if (rc != SPATE_OK)
        return rc;
    bool ok = schema.n_children == 2 && strcmp(schema.children[1]->format, "+l") == 0 &&
              schema.children[1]->n_children == 1 &&
              strcmp(schema.children[1]->children[0]->format, "l") == 0 && array.length == 1;
    if (ok) {
        const struct ArrowArray *list = array.children[1];
        const int32_t *off = list->buffers[1];
        const struct ArrowArray *items = list->children[0];
        const int64_t *iv = items->buffers[1];
        const uint8_t *ivalid = items->buffers[0];
        ok = list->n_children == 1 && off[0] == 0 && off[1] == 4 && items->length == 4 &&
             items->null_count == 1 && iv[0] == 1 && iv[1] == 2 && iv[2] == 3 && ivalid != NULL &&
             ivalid[0] == 0x7;
    }
    schema.release(&schema);
    array.release(&array);
    *checked = ok ? 1 : -1;
    return SPATE_OK;
}

static void grouped_arrow_export(void **state) {
    (void)state;
    spate_context *ctx = harness_manual_ctx(1);
    struct spate_error err;
    struct spate_column_def cols[] = {{"key", SPATE_TYPE_I64}, {"value", SPATE_TYPE_I64}};
    spate_dstream *l = spate_context_queue_stream(ctx, cols, 2, &err);
    int64_t k[4] = {9, 9, 9, 9}, v[4] = {1, 2, 3, 4};
    uint64_t vvalid = 0x7;
    struct spate_column_data ld[] = {{k, NULL}, {v, &vvalid}};
    assert_int_equal(spate_queue_push(l, ld, 4, &err), SPATE_OK);
    spate_dstream *g = spate_dstream_group_by_key(l, NULL, &err);
    int checked = 0;
    assert_int_equal(spate_dstream_foreach_batch(g, export_lists, &checked, &err), SPATE_OK);
    harness_run(ctx, 1);
    assert_int_equal(checked, 1);
}

static void definition_errors(void **state) {
    (void)state;
    spate_context *ctx = harness_manual_ctx(1);
    struct spate_error err;
    struct spate_column_def cols[] = {{"key", SPATE_TYPE_STRING}, {"value", SPATE_TYPE_I64}};
    spate_dstream *q = spate_context_queue_stream(ctx, cols, 2, &err);
    assert_non_null(q);
    struct spate_column_def vals[] = {{"v", SPATE_TYPE_I64}};
    assert_null(spate_dstream_map_values(q, 2, vals, 1, halve, NULL, &err));
    assert_non_null(strstr(err.message, "no key column 2"));
    assert_null(spate_dstream_map_values(q, 0, vals, 0, halve, NULL, &err));
    assert_non_null(strstr(err.message, "value columns"));
    assert_null(spate_dstream_map_values(q, 0, vals, 1, NULL, NULL, &err));
    assert_null(spate_dstream_flat_map_values(q, 5, vals, 1, expand, NULL, &err));
    assert_null(spate_dstream_flat_map_values(q, 0, vals, 1, NULL, NULL, &err));
    assert_null(spate_dstream_map_partitions(q, vals, 1, NULL, NULL, &err));
    assert_null(spate_dstream_map_partitions(q, vals, 0, summarize, NULL, &err));
    /* Lists come only from grouping. */
    struct spate_column_def lists[] = {{"l", SPATE_LIST_OF(SPATE_TYPE_I64)}};
    assert_null(spate_dstream_map_values(q, 0, lists, 1, halve, NULL, &err));
    assert_non_null(strstr(err.message, "lists come only from"));
    assert_null(spate_context_queue_stream(ctx, lists, 1, &err));
    struct spate_group_opts go;
    spate_group_opts_init(&go);
    go.value_col = 0; /* the key */
    assert_null(spate_dstream_group_by_key(q, &go, &err));
    go.value_col = 7;
    assert_null(spate_dstream_group_by_key(q, &go, &err));
    spate_group_opts_init(&go);
    go.key_col = 1; /* i64 key, while the right side's is a string */
    go.value_col = 0;
    assert_null(spate_dstream_cogroup(q, q, &go, &err));
    assert_non_null(strstr(err.message, "both be strings or both i64"));
    assert_null(spate_dstream_cogroup(q, NULL, NULL, &err));
    spate_dstream *g = spate_dstream_group_by_key(q, NULL, &err);
    assert_non_null(g);
    /* A list is not a key or a value to group or reduce, nor a key to carry. */
    assert_null(spate_dstream_map_values(g, 1, vals, 1, halve, NULL, &err));
    assert_non_null(strstr(err.message, "is a list"));
    spate_group_opts_init(&go);
    assert_null(spate_dstream_group_by_key(g, &go, &err));
    struct spate_reduce_opts ro;
    spate_reduce_opts_init(&ro);
    assert_null(spate_dstream_reduce_by_key(g, &ro, &err));
    struct spate_window_opts wo;
    spate_window_opts_init(&wo);
    wo.length_ms = 1500;
    assert_null(spate_dstream_group_by_key_and_window(q, NULL, &wo, &err));
    struct spate_combiner c = {.state_size = sizeof(struct avg_state),
                               .create = avg_create,
                               .merge_value = avg_merge_value,
                               .merge_combiners = avg_merge,
                               .finish = avg_finish};
    struct spate_column_def avg[] = {{"avg", SPATE_TYPE_F64}};
    assert_non_null(spate_dstream_combine_by_key(q, 0, &c, avg, 1, &err));
    assert_null(spate_dstream_combine_by_key(q, 1, &c, avg, 0, &err));
    assert_null(spate_dstream_combine_by_key(q, 9, &c, avg, 1, &err));
    c.finish = NULL;
    assert_null(spate_dstream_combine_by_key(q, 0, &c, avg, 1, &err));
    assert_non_null(strstr(err.message, "are required"));
    c.finish = avg_finish;
    c.state_size = 0;
    assert_null(spate_dstream_combine_by_key(q, 0, &c, avg, 1, &err));
    assert_null(spate_dstream_combine_by_key(q, 0, NULL, avg, 1, &err));
    harness_close(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(map_values_keeps_keys),
        cmocka_unit_test(flat_map_values_keeps_keys),
        cmocka_unit_test(flat_map_values_failure_fails_the_batch),
        cmocka_unit_test(map_partitions_runs_once_per_partition),
        cmocka_unit_test(group_by_key_matches_naive),
        cmocka_unit_test(cogroup_matches_naive),
        cmocka_unit_test(group_by_key_and_window_matches_naive),
        cmocka_unit_test(grouped_values_feed_map_values),
        cmocka_unit_test(combine_by_key_matches_naive),
        cmocka_unit_test(i64_keys_sum_and_count),
        cmocka_unit_test(many_i64_keys),
        cmocka_unit_test(grouped_print_format),
        cmocka_unit_test(grouped_arrow_export),
        cmocka_unit_test(definition_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
