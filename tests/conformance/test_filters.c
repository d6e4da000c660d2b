/*
 * tests/conformance/test_filters.c - exact results of the vectorized column
 * operations: filter_f64, filter_cols (i64/timestamp and f64 pairs),
 * with_arith (column and literal forms, i64 and f64), with_cast, and their
 * argument errors.
 *
 * Random columns with nulls and the special values (INT64_MIN/MAX, zero
 * divisors, NaN, +-0.0, +-inf) span several chunks; every result is
 * collected through foreach_batch as one canonical line per record, sorted,
 * and compared with a naive computation done here, on engines of 1, 2 and 4
 * workers. Chains put the operations behind a filter, so they also run on
 * selected chunks and the batch is compacted through the gather kernels.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spate/spate.h"

#define N 5000 /* rows: several chunks */

/* ---- Deterministic random numbers ---- */

static uint64_t rng_state = 99;

static uint64_t rnd(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static uint32_t rnd_below(uint32_t n) {
    return (uint32_t)(rnd() % n);
}

/* ---- Sorted lists of canonical records ---- */

struct strlist {
    char **v;
    size_t n, cap;
};

static void sl_add(struct strlist *l, const char *s) {
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->v = realloc(l->v, l->cap * sizeof(char *));
        if (l->v == NULL)
            abort();
    }
    l->v[l->n] = strdup(s);
    if (l->v[l->n] == NULL)
        abort();
    l->n++;
}

static void sl_free(struct strlist *l) {
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void sl_sort(struct strlist *l) {
    if (l->n > 1)
        qsort(l->v, l->n, sizeof(char *), cmp_str);
}

/* One value as text: integers in decimal, doubles with %.17g (NaN as "NaN"), null as \N. */
static void fmt_i64(char *b, size_t cap, bool valid, int64_t x) {
    if (valid)
        snprintf(b, cap, "%" PRId64, x);
    else
        snprintf(b, cap, "\\N");
}

static void fmt_f64(char *b, size_t cap, bool valid, double x) {
    if (!valid)
        snprintf(b, cap, "\\N");
    else if (isnan(x))
        snprintf(b, cap, "NaN");
    else
        snprintf(b, cap, "%.17g", x);
}

/* ---- A foreach_batch sink: the canonical records of its one batch ---- */

struct sink {
    pthread_mutex_t mu;
    uint32_t calls;
    struct strlist lines;
    char problem[128];
};

static void sink_init(struct sink *s) {
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
}

static void sink_free(struct sink *s) {
    sl_free(&s->lines);
    pthread_mutex_destroy(&s->mu);
}

static spate_status sink_fn(void *user, const spate_batch *batch, struct spate_error *err) {
    (void)err;
    struct sink *s = user;
    pthread_mutex_lock(&s->mu);
    s->calls++;
    for (uint32_t p = 0; p < spate_batch_num_partitions(batch); p++) {
        for (uint32_t ci = 0; ci < spate_batch_num_chunks(batch, p); ci++) {
            struct spate_chunk_view v;
            if (spate_batch_chunk(batch, p, ci, &v) != SPATE_OK) {
                snprintf(s->problem, sizeof s->problem, "spate_batch_chunk failed");
                continue;
            }
            for (uint32_t r = 0; r < v.rows; r++) {
                char line[512] = "";
                size_t len = 0;
                for (uint32_t c = 0; c < v.num_columns; c++) {
                    char val[64];
                    if (v.columns[c].type == SPATE_TYPE_F64) {
                        double x = 0;
                        bool ok = spate_chunk_get_f64(&v, c, r, &x);
                        fmt_f64(val, sizeof val, ok, x);
                    } else {
                        int64_t x = 0;
                        bool ok = spate_chunk_get_i64(&v, c, r, &x);
                        fmt_i64(val, sizeof val, ok, x);
                    }
                    len +=
                        (size_t)snprintf(line + len, sizeof line - len, "%s%s", c ? "|" : "", val);
                }
                sl_add(&s->lines, line);
            }
        }
    }
    pthread_mutex_unlock(&s->mu);
    return SPATE_OK;
}

static void add_sink(spate_dstream *ds, struct sink *s) {
    struct spate_error err;
    spate_error_init(&err);
    assert_non_null(ds);
    if (spate_dstream_foreach_batch(ds, sink_fn, s, &err) != SPATE_OK)
        fail_msg("foreach_batch: %s", err.message);
}

/* The sink ran once and holds exactly the records of exp. */
static void expect_records(struct sink *s, struct strlist *exp, const char *what) {
    if (s->problem[0] != '\0')
        fail_msg("%s: %s", what, s->problem);
    assert_int_equal(s->calls, 1);
    sl_sort(&s->lines);
    sl_sort(exp);
    size_t n = s->lines.n < exp->n ? s->lines.n : exp->n;
    for (size_t i = 0; i < n; i++)
        if (strcmp(s->lines.v[i], exp->v[i]) != 0)
            fail_msg("%s: record %zu is '%s', expected '%s' (%zu records, expected %zu)", what, i,
                     s->lines.v[i], exp->v[i], s->lines.n, exp->n);
    if (s->lines.n != exp->n)
        fail_msg("%s: %zu records, expected %zu", what, s->lines.n, exp->n);
}

/* ---- Engine and context of one run ---- */

static spate_engine *cur_engine;
static spate_context *cur_ctx;

static void open_ctx(uint32_t workers) {
    struct spate_engine_opts eo;
    spate_engine_opts_init(&eo);
    eo.workers = workers;
    eo.pin_workers = false;
    eo.name = "filters";
    struct spate_error err;
    spate_error_init(&err);
    spate_status rc = spate_engine_create(&eo, &cur_engine, &err);
    if (rc != SPATE_OK && getenv("SPATE_ISA") != NULL && strstr(err.message, "not supported")) {
        print_message("skipping: SPATE_ISA=%s is not supported by this CPU\n", getenv("SPATE_ISA"));
        skip();
    }
    if (rc != SPATE_OK)
        fail_msg("engine_create: %d %s", rc, err.message);
    struct spate_context_opts o;
    spate_context_opts_init(&o);
    o.batch_interval_ms = 1000;
    o.manual_clock = true;
    rc = spate_context_create(cur_engine, &o, &cur_ctx, &err);
    if (rc != SPATE_OK)
        fail_msg("context_create: %d %s", rc, err.message);
}

/* Push cols (n rows) into q, run one batch, stop and destroy. */
static void run_one(spate_dstream *q, const struct spate_column_data *cols) {
    struct spate_error err;
    spate_error_init(&err);
    if (spate_context_start(cur_ctx, &err) != SPATE_OK)
        fail_msg("start: %s", err.message);
    if (spate_queue_push(q, cols, N, &err) != SPATE_OK)
        fail_msg("queue_push: %s", err.message);
    if (spate_context_advance(cur_ctx, 1, &err) != SPATE_OK)
        fail_msg("advance: %s", err.message);
    bool stopped;
    if (spate_context_await_termination_timeout(cur_ctx, 0, &stopped, &err) != SPATE_OK)
        fail_msg("a batch failed: %s", err.message);
    assert_int_equal(spate_context_stop(cur_ctx, true, false, &err), SPATE_OK);
    spate_context_destroy(cur_ctx);
    cur_ctx = NULL;
    cur_engine = NULL; /* stopped with the context */
}

static int teardown(void **state) {
    (void)state;
    if (cur_ctx != NULL)
        spate_context_destroy(cur_ctx);
    cur_ctx = NULL;
    spate_engine_destroy(cur_engine);
    cur_engine = NULL;
    return 0;
}

static spate_dstream *checked(spate_dstream *ds, const struct spate_error *err) {
    if (ds == NULL)
        fail_msg("defining a stream failed: %s", err->message);
    return ds;
}

/* ---- Random input: columns a, b (i64), x, y (f64), t (timestamp), id ---- */

enum { COL_A, COL_B, COL_X, COL_Y, COL_T, COL_ID, NCOLS };

static int64_t a[N], b[N], t[N], id[N];
static double x[N], y[N];
static uint64_t va[(N + 63) / 64], vb[(N + 63) / 64], vx[(N + 63) / 64], vy[(N + 63) / 64];

static const struct spate_column_def cols_def[NCOLS] = {
    {"a", SPATE_TYPE_I64}, {"b", SPATE_TYPE_I64},       {"x", SPATE_TYPE_F64},
    {"y", SPATE_TYPE_F64}, {"t", SPATE_TYPE_TIMESTAMP}, {"id", SPATE_TYPE_I64}};

static bool bit(const uint64_t *v, size_t i) {
    return (v[i >> 6] >> (i & 63)) & 1u;
}

static int64_t rnd_i64(void) {
    static const int64_t sp[] = {INT64_MIN, INT64_MAX, -1, 0, 1, INT64_MIN + 1};
    return rnd_below(5) == 0 ? sp[rnd_below(6)] : (int64_t)rnd_below(21) - 10;
}

static double rnd_f64(void) {
    static const double sp[] = {NAN, 0.0, -0.0, INFINITY, -INFINITY, 1e300};
    return rnd_below(5) == 0 ? sp[rnd_below(6)] : ((double)rnd_below(41) - 20) * 0.25;
}

static void make_input(struct spate_column_data *cd) {
    rng_state = 4242;
    for (size_t i = 0; i < N; i++) {
        a[i] = rnd_i64();
        b[i] = rnd_below(3) == 0 ? a[i] : rnd_i64();
        x[i] = rnd_f64();
        y[i] = rnd_below(3) == 0 ? (x[i] == 0.0 ? -x[i] : x[i]) : rnd_f64();
        t[i] = (int64_t)rnd_below(21) - 10;
        id[i] = (int64_t)i;
    }
    uint64_t *vs[4] = {va, vb, vx, vy};
    for (int k = 0; k < 4; k++)
        for (size_t w = 0; w < (N + 63) / 64; w++)
            vs[k][w] = rnd_below(4) == 0 ? ~(uint64_t)0 : rnd() | rnd(); /* ~25% null */
    cd[COL_A] = (struct spate_column_data){a, va};
    cd[COL_B] = (struct spate_column_data){b, vb};
    cd[COL_X] = (struct spate_column_data){x, vx};
    cd[COL_Y] = (struct spate_column_data){y, vy};
    cd[COL_T] = (struct spate_column_data){t, NULL};
    cd[COL_ID] = (struct spate_column_data){id, NULL};
}

/* The canonical record of input row i, with extra (already formatted) appended. */
static void row_line(char *line, size_t cap, size_t i, const char *extra) {
    char s[6][64];
    fmt_i64(s[0], sizeof s[0], bit(va, i), a[i]);
    fmt_i64(s[1], sizeof s[1], bit(vb, i), b[i]);
    fmt_f64(s[2], sizeof s[2], bit(vx, i), x[i]);
    fmt_f64(s[3], sizeof s[3], bit(vy, i), y[i]);
    fmt_i64(s[4], sizeof s[4], true, t[i]);
    fmt_i64(s[5], sizeof s[5], true, id[i]);
    snprintf(line, cap, "%s|%s|%s|%s|%s|%s%s%s", s[0], s[1], s[2], s[3], s[4], s[5],
             extra ? "|" : "", extra ? extra : "");
}

static bool cmp_i64(enum spate_cmp op, int64_t p, int64_t q) {
    switch (op) {
    case SPATE_CMP_EQ:
        return p == q;
    case SPATE_CMP_NE:
        return p != q;
    case SPATE_CMP_LT:
        return p < q;
    case SPATE_CMP_LE:
        return p <= q;
    case SPATE_CMP_GT:
        return p > q;
    case SPATE_CMP_GE:
        return p >= q;
    }
    return false;
}

/* IEEE, spelled out: NaN compares false except NE. */
static bool cmp_f64(enum spate_cmp op, double p, double q) {
    if (isnan(p) || isnan(q))
        return op == SPATE_CMP_NE;
    switch (op) {
    case SPATE_CMP_EQ:
        return !(p < q) && !(p > q);
    case SPATE_CMP_NE:
        return p < q || p > q;
    case SPATE_CMP_LT:
        return p < q;
    case SPATE_CMP_LE:
        return !(p > q);
    case SPATE_CMP_GT:
        return p > q;
    case SPATE_CMP_GE:
        return !(p < q);
    }
    return false;
}

static const uint32_t worker_counts[] = {1, 2, 4};

/* ---- filter_f64 ---- */

static const double f64_literals[] = {0.0, -0.0, 1.5, NAN, INFINITY, -2.25};

static void test_filter_f64(void **state) {
    (void)state;
    struct spate_column_data cd[NCOLS];
    make_input(cd);
    for (size_t wi = 0; wi < 3; wi++) {
        for (size_t li = 0; li < sizeof f64_literals / sizeof f64_literals[0]; li++) {
            double k = f64_literals[li];
            struct spate_error err;
            spate_error_init(&err);
            open_ctx(worker_counts[wi]);
            spate_dstream *q =
                checked(spate_context_queue_stream(cur_ctx, cols_def, NCOLS, &err), &err);
            struct sink s[7];
            for (int op = 0; op < 6; op++) {
                sink_init(&s[op]);
                add_sink(
                    checked(spate_dstream_filter_f64(q, COL_X, (enum spate_cmp)op, k, &err), &err),
                    &s[op]);
            }
            /* behind an i64 filter: a selection over a selection */
            sink_init(&s[6]);
            spate_dstream *f =
                checked(spate_dstream_filter_i64(q, COL_T, SPATE_CMP_GE, 0, &err), &err);
            add_sink(checked(spate_dstream_filter_f64(f, COL_X, SPATE_CMP_LE, k, &err), &err),
                     &s[6]);
            run_one(q, cd);
            for (int op = 0; op < 7; op++) {
                struct strlist exp = {0};
                enum spate_cmp o = op < 6 ? (enum spate_cmp)op : SPATE_CMP_LE;
                for (size_t i = 0; i < N; i++) {
                    if (!bit(vx, i) || !cmp_f64(o, x[i], k) || (op == 6 && t[i] < 0))
                        continue;
                    char line[512];
                    row_line(line, sizeof line, i, NULL);
                    sl_add(&exp, line);
                }
                char what[96];
                snprintf(what, sizeof what, "filter_f64 op %d k=%g workers=%u", op, k,
                         worker_counts[wi]);
                expect_records(&s[op], &exp, what);
                sl_free(&exp);
                sink_free(&s[op]);
            }
        }
    }
}

/* ---- filter_cols ---- */

static void test_filter_cols(void **state) {
    (void)state;
    struct spate_column_data cd[NCOLS];
    make_input(cd);
    for (size_t wi = 0; wi < 3; wi++) {
        struct spate_error err;
        spate_error_init(&err);
        open_ctx(worker_counts[wi]);
        spate_dstream *q =
            checked(spate_context_queue_stream(cur_ctx, cols_def, NCOLS, &err), &err);
        struct sink si[6], sf[6], st, sc;
        spate_dstream *f = checked(spate_dstream_filter_i64(q, COL_T, SPATE_CMP_NE, 3, &err), &err);
        for (int op = 0; op < 6; op++) {
            sink_init(&si[op]);
            sink_init(&sf[op]);
            add_sink(
                checked(spate_dstream_filter_cols(q, COL_A, (enum spate_cmp)op, COL_B, &err), &err),
                &si[op]);
            add_sink(
                checked(spate_dstream_filter_cols(f, COL_X, (enum spate_cmp)op, COL_Y, &err), &err),
                &sf[op]);
        }
        sink_init(&st); /* an i64 column against a timestamp column */
        add_sink(checked(spate_dstream_filter_cols(q, COL_A, SPATE_CMP_LT, COL_T, &err), &err),
                 &st);
        sink_init(&sc); /* a column against itself: every valid non-NaN row */
        add_sink(checked(spate_dstream_filter_cols(q, COL_X, SPATE_CMP_EQ, COL_X, &err), &err),
                 &sc);
        run_one(q, cd);
        for (int op = 0; op < 6; op++) {
            struct strlist ei = {0}, ef = {0};
            for (size_t i = 0; i < N; i++) {
                char line[512];
                row_line(line, sizeof line, i, NULL);
                if (bit(va, i) && bit(vb, i) && cmp_i64((enum spate_cmp)op, a[i], b[i]))
                    sl_add(&ei, line);
                if (t[i] != 3 && bit(vx, i) && bit(vy, i) &&
                    cmp_f64((enum spate_cmp)op, x[i], y[i]))
                    sl_add(&ef, line);
            }
            char what[64];
            snprintf(what, sizeof what, "filter_cols i64 op %d workers=%u", op, worker_counts[wi]);
            expect_records(&si[op], &ei, what);
            snprintf(what, sizeof what, "filter_cols f64 op %d workers=%u", op, worker_counts[wi]);
            expect_records(&sf[op], &ef, what);
            sl_free(&ei);
            sl_free(&ef);
            sink_free(&si[op]);
            sink_free(&sf[op]);
        }
        struct strlist et = {0}, ec = {0};
        for (size_t i = 0; i < N; i++) {
            char line[512];
            row_line(line, sizeof line, i, NULL);
            if (bit(va, i) && a[i] < t[i])
                sl_add(&et, line);
            if (bit(vx, i) && !isnan(x[i]))
                sl_add(&ec, line);
        }
        expect_records(&st, &et, "filter_cols i64 < timestamp");
        expect_records(&sc, &ec, "filter_cols x == x");
        sl_free(&et);
        sl_free(&ec);
        sink_free(&st);
        sink_free(&sc);
    }
}

/* ---- with_arith and with_cast ---- */

/* Spark's non-ANSI Long arithmetic; false for a null result (zero divisor). */
static bool naive_i64(enum spate_arith op, int64_t p, int64_t q, int64_t *r) {
    switch (op) {
    case SPATE_ARITH_ADD:
        *r = (int64_t)((uint64_t)p + (uint64_t)q);
        return true;
    case SPATE_ARITH_SUB:
        *r = (int64_t)((uint64_t)p - (uint64_t)q);
        return true;
    case SPATE_ARITH_MUL:
        *r = (int64_t)((uint64_t)p * (uint64_t)q);
        return true;
    case SPATE_ARITH_DIV:
        if (q == 0)
            return false;
        *r = p == INT64_MIN && q == -1 ? INT64_MIN : p / q;
        return true;
    case SPATE_ARITH_MOD:
        if (q == 0)
            return false;
        *r = q == -1 ? 0 : p % q;
        return true;
    }
    return false;
}

static double naive_f64(enum spate_arith op, double p, double q) {
    switch (op) {
    case SPATE_ARITH_ADD:
        return p + q;
    case SPATE_ARITH_SUB:
        return p - q;
    case SPATE_ARITH_MUL:
        return p * q;
    case SPATE_ARITH_DIV:
        return p / q;
    case SPATE_ARITH_MOD:
        return fmod(p, q);
    }
    return 0.0;
}

static int64_t naive_d2l(double d) {
    if (isnan(d))
        return 0;
    if (d >= 9223372036854775807.0)
        return INT64_MAX;
    if (d <= -9223372036854775808.0)
        return INT64_MIN;
    return (int64_t)d;
}

enum { ARITH_COL, ARITH_LIT, ARITH_F64_COL, ARITH_F64_LIT, ARITH_FILTERED, ARITH_KINDS };

static const int64_t i64_literals[] = {0, -1, 7, INT64_MIN};

static void test_with_arith(void **state) {
    (void)state;
    struct spate_column_data cd[NCOLS];
    make_input(cd);
    for (size_t wi = 0; wi < 3; wi++) {
        for (size_t li = 0; li < 4; li++) {
            int64_t ki = i64_literals[li];
            double kf = f64_literals[li];
            struct spate_error err;
            spate_error_init(&err);
            open_ctx(worker_counts[wi]);
            spate_dstream *q =
                checked(spate_context_queue_stream(cur_ctx, cols_def, NCOLS, &err), &err);
            spate_dstream *f =
                checked(spate_dstream_filter_i64(q, COL_T, SPATE_CMP_GT, -4, &err), &err);
            struct sink s[5][ARITH_KINDS];
            for (int op = 0; op < 5; op++) {
                enum spate_arith o = (enum spate_arith)op;
                spate_dstream *d[ARITH_KINDS] = {
                    spate_dstream_with_arith(q, "r", COL_A, o, COL_B, &err),
                    spate_dstream_with_arith_i64(q, "r", COL_A, o, ki, &err),
                    spate_dstream_with_arith(q, "r", COL_X, o, COL_Y, &err),
                    spate_dstream_with_arith_f64(q, "r", COL_X, o, kf, &err),
                    spate_dstream_with_arith(f, "r", COL_A, o, COL_T, &err),
                };
                for (int kd = 0; kd < ARITH_KINDS; kd++) {
                    sink_init(&s[op][kd]);
                    add_sink(checked(d[kd], &err), &s[op][kd]);
                }
            }
            run_one(q, cd);
            for (int op = 0; op < 5; op++) {
                enum spate_arith o = (enum spate_arith)op;
                for (int kd = 0; kd < ARITH_KINDS; kd++) {
                    struct strlist exp = {0};
                    for (size_t i = 0; i < N; i++) {
                        char extra[64], line[512];
                        int64_t r = 0;
                        bool valid;
                        switch (kd) {
                        case ARITH_COL:
                            valid = bit(va, i) && bit(vb, i) && naive_i64(o, a[i], b[i], &r);
                            fmt_i64(extra, sizeof extra, valid, r);
                            break;
                        case ARITH_LIT:
                            valid = bit(va, i) && naive_i64(o, a[i], ki, &r);
                            fmt_i64(extra, sizeof extra, valid, r);
                            break;
                        case ARITH_F64_COL:
                            fmt_f64(extra, sizeof extra, bit(vx, i) && bit(vy, i),
                                    naive_f64(o, x[i], y[i]));
                            break;
                        case ARITH_F64_LIT:
                            fmt_f64(extra, sizeof extra, bit(vx, i), naive_f64(o, x[i], kf));
                            break;
                        default:
                            if (t[i] <= -4)
                                continue;
                            valid = bit(va, i) && naive_i64(o, a[i], t[i], &r);
                            fmt_i64(extra, sizeof extra, valid, r);
                            break;
                        }
                        row_line(line, sizeof line, i, extra);
                        sl_add(&exp, line);
                    }
                    char what[96];
                    snprintf(what, sizeof what, "with_arith kind %d op %d literal %zu workers=%u",
                             kd, op, li, worker_counts[wi]);
                    expect_records(&s[op][kd], &exp, what);
                    sl_free(&exp);
                    sink_free(&s[op][kd]);
                }
            }
        }
    }
}

static void test_with_cast(void **state) {
    (void)state;
    struct spate_column_data cd[NCOLS];
    make_input(cd);
    for (size_t i = 0; i < N; i += 7) /* out of range and fractional values */
        x[i] = (double)(int64_t)rnd() * (rnd_below(2) ? 4.0 : -0.37);
    for (size_t wi = 0; wi < 3; wi++) {
        struct spate_error err;
        spate_error_init(&err);
        open_ctx(worker_counts[wi]);
        spate_dstream *q =
            checked(spate_context_queue_stream(cur_ctx, cols_def, NCOLS, &err), &err);
        struct sink s_i2f, s_t2f, s_f2i, s_chain;
        sink_init(&s_i2f);
        sink_init(&s_t2f);
        sink_init(&s_f2i);
        sink_init(&s_chain);
        add_sink(checked(spate_dstream_with_cast(q, "c", COL_A, SPATE_TYPE_F64, &err), &err),
                 &s_i2f);
        add_sink(checked(spate_dstream_with_cast(q, "c", COL_T, SPATE_TYPE_F64, &err), &err),
                 &s_t2f);
        add_sink(checked(spate_dstream_with_cast(q, "c", COL_X, SPATE_TYPE_I64, &err), &err),
                 &s_f2i);
        /* cast then arithmetic on the new column, behind a filter on it */
        spate_dstream *c =
            checked(spate_dstream_with_cast(q, "c", COL_A, SPATE_TYPE_F64, &err), &err);
        spate_dstream *fc =
            checked(spate_dstream_filter_cols(c, NCOLS, SPATE_CMP_GE, COL_X, &err), &err);
        add_sink(
            checked(spate_dstream_with_arith(fc, "s", NCOLS, SPATE_ARITH_ADD, COL_Y, &err), &err),
            &s_chain);
        run_one(q, cd);
        struct strlist e1 = {0}, e2 = {0}, e3 = {0}, e4 = {0};
        for (size_t i = 0; i < N; i++) {
            char extra[128], v1[64], v2[64], line[512];
            fmt_f64(extra, sizeof extra, bit(va, i), (double)a[i]);
            row_line(line, sizeof line, i, extra);
            sl_add(&e1, line);
            fmt_f64(extra, sizeof extra, true, (double)t[i]);
            row_line(line, sizeof line, i, extra);
            sl_add(&e2, line);
            fmt_i64(extra, sizeof extra, bit(vx, i), naive_d2l(x[i]));
            row_line(line, sizeof line, i, extra);
            sl_add(&e3, line);
            if (bit(va, i) && bit(vx, i) && cmp_f64(SPATE_CMP_GE, (double)a[i], x[i])) {
                fmt_f64(v1, sizeof v1, true, (double)a[i]);
                fmt_f64(v2, sizeof v2, bit(vy, i), (double)a[i] + y[i]);
                snprintf(extra, sizeof extra, "%s|%s", v1, v2);
                row_line(line, sizeof line, i, extra);
                sl_add(&e4, line);
            }
        }
        expect_records(&s_i2f, &e1, "with_cast i64 -> f64");
        expect_records(&s_t2f, &e2, "with_cast timestamp -> f64");
        expect_records(&s_f2i, &e3, "with_cast f64 -> i64");
        expect_records(&s_chain, &e4, "with_cast, filter_cols, with_arith");
        sl_free(&e1);
        sl_free(&e2);
        sl_free(&e3);
        sl_free(&e4);
        sink_free(&s_i2f);
        sink_free(&s_t2f);
        sink_free(&s_f2i);
        sink_free(&s_chain);
    }
}

/* ---- Argument errors: EINVAL with a message, and nothing defined ---- */

static void expect_einval(spate_dstream *ds, struct spate_error *err, const char *what) {
    if (ds != NULL)
        fail_msg("%s: defined, expected EINVAL", what);
    if (err->message[0] == '\0')
        fail_msg("%s: no message", what);
    spate_error_init(err);
}

static void test_errors(void **state) {
    (void)state;
    struct spate_error err;
    spate_error_init(&err);
    open_ctx(1);
    spate_dstream *q = checked(spate_context_queue_stream(cur_ctx, cols_def, NCOLS, &err), &err);
    expect_einval(spate_dstream_filter_f64(q, COL_A, SPATE_CMP_EQ, 0.0, &err), &err,
                  "filter_f64 on an i64 column");
    expect_einval(spate_dstream_filter_f64(q, NCOLS, SPATE_CMP_EQ, 0.0, &err), &err,
                  "filter_f64 on no column");
    expect_einval(spate_dstream_filter_f64(q, COL_X, (enum spate_cmp)9, 0.0, &err), &err,
                  "filter_f64 with an unknown op");
    expect_einval(spate_dstream_filter_f64(NULL, COL_X, SPATE_CMP_EQ, 0.0, &err), &err,
                  "filter_f64 on NULL");
    expect_einval(spate_dstream_filter_cols(q, COL_A, SPATE_CMP_EQ, COL_X, &err), &err,
                  "filter_cols i64 against f64");
    expect_einval(spate_dstream_filter_cols(q, COL_A, (enum spate_cmp) - 1, COL_B, &err), &err,
                  "filter_cols with an unknown op");
    expect_einval(spate_dstream_with_arith(q, "r", COL_A, SPATE_ARITH_ADD, COL_X, &err), &err,
                  "with_arith i64 + f64");
    expect_einval(spate_dstream_with_arith(q, "r", COL_A, (enum spate_arith)5, COL_B, &err), &err,
                  "with_arith with an unknown op");
    expect_einval(spate_dstream_with_arith(q, "a", COL_A, SPATE_ARITH_ADD, COL_B, &err), &err,
                  "with_arith with a taken name");
    expect_einval(spate_dstream_with_arith(q, NULL, COL_A, SPATE_ARITH_ADD, COL_B, &err), &err,
                  "with_arith with no name");
    expect_einval(spate_dstream_with_arith_i64(q, "r", COL_X, SPATE_ARITH_ADD, 1, &err), &err,
                  "with_arith_i64 on a f64 column");
    expect_einval(spate_dstream_with_arith_f64(q, "r", COL_A, SPATE_ARITH_ADD, 1.0, &err), &err,
                  "with_arith_f64 on an i64 column");
    expect_einval(spate_dstream_with_cast(q, "c", COL_X, SPATE_TYPE_STRING, &err), &err,
                  "with_cast to string");
    expect_einval(spate_dstream_with_cast(q, "c", COL_A, SPATE_TYPE_I64, &err), &err,
                  "with_cast i64 to i64");
    expect_einval(spate_dstream_with_cast(q, "c", NCOLS, SPATE_TYPE_F64, &err), &err,
                  "with_cast of no column");
    assert_int_equal(spate_context_stop(cur_ctx, true, false, &err), SPATE_OK);
    spate_context_destroy(cur_ctx);
    cur_ctx = NULL;
    cur_engine = NULL; /* stopped with the context */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_filter_f64, teardown),
        cmocka_unit_test_teardown(test_filter_cols, teardown),
        cmocka_unit_test_teardown(test_with_arith, teardown),
        cmocka_unit_test_teardown(test_with_cast, teardown),
        cmocka_unit_test_teardown(test_errors, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
