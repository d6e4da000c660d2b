/*
 * tests/conformance/test_operations.c - exact results of the DStream
 * operations on the manual clock: word count (flat_map_words, map_to_pair,
 * reduce_by_key SUM and COUNT), reduce_by_key over i64 keys with every
 * built-in aggregate and user functions, f64 sums, count, the filters, map
 * with a chunk callback, and several outputs on one stream.
 *
 * Every result is collected through foreach_batch (walking partitions and
 * chunks with the public accessors), turned into one canonical text line per
 * record, sorted, and compared with a naive computation done here. The
 * invariance test runs the same random input on engines of 1, 2 and 4
 * workers and every ISA the CPU supports, and requires identical results.
 *
 * Callbacks run on the scheduler thread and only record; assertions run on
 * the main thread after spate_context_advance() has returned (which waits
 * for the outputs of every batch it made due).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spate/spate.h"

/* ---- A growable string and a list of strings ---- */

struct sb {
    char *p;
    size_t len, cap;
};

static void sb_put(struct sb *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (np == NULL)
            abort();
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_printf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sb *b, const char *fmt, ...) {
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    sb_put(b, tmp, (size_t)n);
}

/* Strings escaped so that the canonical line stays printable and unambiguous. */
static void sb_str(struct sb *b, const char *d, uint32_t len) {
    for (uint32_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)d[i];
        if (ch < 0x20 || ch >= 0x7f || ch == '\\' || ch == '|')
            sb_printf(b, "\\x%02x", ch);
        else
            sb_put(b, (const char *)&d[i], 1);
    }
}

static char *sb_take(struct sb *b) {
    if (b->p == NULL)
        sb_put(b, "", 0);
    char *p = b->p;
    memset(b, 0, sizeof(*b));
    return p;
}

struct strlist {
    char **v;
    size_t n, cap;
};

static void sl_add(struct strlist *l, char *s) {
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = realloc(l->v, l->cap * sizeof(char *));
        if (l->v == NULL)
            abort();
    }
    l->v[l->n++] = s;
}

static void sl_addf(struct strlist *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sl_addf(struct strlist *l, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    sl_add(l, strdup(tmp));
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

/* ---- A foreach_batch sink: one canonical line per record, per call ---- */

#define MAX_CALLS 16
#define MAX_COLS 4

struct sink {
    pthread_mutex_t mu;
    uint32_t calls;
    int64_t times[MAX_CALLS];
    uint64_t rows_at[MAX_CALLS];
    struct strlist lines[MAX_CALLS]; /* canonical records of call i */
    uint32_t ncols;
    enum spate_type types[MAX_COLS];
    char problem[256]; /* first inconsistency seen in a batch, or empty */
};

static void sink_init(struct sink *s) {
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
}

static void sink_free(struct sink *s) {
    for (int i = 0; i < MAX_CALLS; i++)
        sl_free(&s->lines[i]);
    pthread_mutex_destroy(&s->mu);
}

static void sink_problem(struct sink *s, const char *what) {
    if (s->problem[0] == '\0')
        snprintf(s->problem, sizeof(s->problem), "%s", what);
}

static void encode_value(struct sb *b, const struct spate_chunk_view *v, uint32_t col,
                         uint32_t row) {
    switch (v->columns[col].type) {
    case SPATE_TYPE_I64:
    case SPATE_TYPE_TIMESTAMP: {
        int64_t x;
        if (spate_chunk_get_i64(v, col, row, &x))
            sb_printf(b, "%" PRId64, x);
        else
            sb_put(b, "\\N", 2);
        break;
    }
    case SPATE_TYPE_F64: {
        double x;
        if (spate_chunk_get_f64(v, col, row, &x))
            sb_printf(b, "%.17g", x);
        else
            sb_put(b, "\\N", 2);
        break;
    }
    case SPATE_TYPE_STRING: {
        const char *d = NULL;
        uint32_t len = 0;
        if (spate_chunk_get_string(v, col, row, &d, &len))
            sb_str(b, d, len);
        else
            sb_put(b, "\\N", 2);
        break;
    }
    case SPATE_TYPE_BOOL: {
        const struct spate_column_view *c = &v->columns[col];
        uint32_t phys = v->sel != NULL ? v->sel[row] : row;
        if (c->validity != NULL && !((c->validity[phys >> 6] >> (phys & 63)) & 1u))
            sb_put(b, "\\N", 2);
        else
            sb_printf(b, "%u", ((const uint8_t *)c->data)[phys]);
        break;
    }
    default: /* no list columns in these pipelines */
        sb_put(b, "?", 1);
        break;
    }
}

static spate_status sink_fn(void *user, const spate_batch *batch, struct spate_error *err) {
    (void)err;
    struct sink *s = user;
    pthread_mutex_lock(&s->mu);
    uint32_t call = s->calls++;
    if (call >= MAX_CALLS) {
        sink_problem(s, "too many calls");
        pthread_mutex_unlock(&s->mu);
        return SPATE_OK;
    }
    s->times[call] = spate_batch_time_ms(batch);
    s->rows_at[call] = spate_batch_rows(batch);
    uint32_t ncols = spate_batch_num_columns(batch);
    s->ncols = ncols;
    for (uint32_t c = 0; c < ncols && c < MAX_COLS; c++)
        s->types[c] = spate_batch_column_type(batch, c);
    uint64_t seen = 0;
    for (uint32_t p = 0; p < spate_batch_num_partitions(batch); p++) {
        for (uint32_t ci = 0; ci < spate_batch_num_chunks(batch, p); ci++) {
            struct spate_chunk_view v;
            if (spate_batch_chunk(batch, p, ci, &v) != SPATE_OK) {
                sink_problem(s, "spate_batch_chunk failed inside the range");
                continue;
            }
            if (v.rows > SPATE_CHUNK_ROWS)
                sink_problem(s, "a chunk has more than SPATE_CHUNK_ROWS rows");
            if (v.num_columns != ncols)
                sink_problem(s, "a chunk's column count differs from the batch's");
            for (uint32_t c = 0; c < v.num_columns && c < ncols; c++)
                if (v.columns[c].type != spate_batch_column_type(batch, c))
                    sink_problem(s, "a chunk's column type differs from the batch's");
            for (uint32_t r = 0; r < v.rows; r++) {
                struct sb b = {0};
                for (uint32_t c = 0; c < v.num_columns; c++) {
                    if (c > 0)
                        sb_put(&b, "|", 1);
                    encode_value(&b, &v, c, r);
                }
                sl_add(&s->lines[call], sb_take(&b));
            }
            seen += v.rows;
        }
        struct spate_chunk_view v;
        if (spate_batch_chunk(batch, p, spate_batch_num_chunks(batch, p), &v) != EINVAL)
            sink_problem(s, "spate_batch_chunk past the last chunk is not EINVAL");
    }
    if (seen != s->rows_at[call])
        sink_problem(s, "spate_batch_rows differs from the rows of the chunks");
    pthread_mutex_unlock(&s->mu);
    return SPATE_OK;
}

static void add_sink(spate_dstream *ds, struct sink *s) {
    assert_non_null(ds);
    struct spate_error err;
    spate_error_init(&err);
    spate_status rc = spate_dstream_foreach_batch(ds, sink_fn, s, &err);
    if (rc != SPATE_OK)
        fail_msg("foreach_batch: %d %s", rc, err.message);
}

/* The sink ran calls times, consistently, with batch times zero + k * interval. */
static void sink_check(struct sink *s, uint32_t calls, int64_t interval) {
    pthread_mutex_lock(&s->mu);
    uint32_t n = s->calls;
    char problem[256];
    memcpy(problem, s->problem, sizeof(problem));
    pthread_mutex_unlock(&s->mu);
    if (problem[0] != '\0')
        fail_msg("sink: %s", problem);
    assert_int_equal(n, calls);
    for (uint32_t i = 0; i < n; i++)
        assert_int_equal(s->times[i], interval * (int64_t)(i + 1));
}

/* Call call (0-based) of s holds exactly the records of exp (any order). */
static void expect_call(struct sink *s, uint32_t call, struct strlist *exp, const char *what) {
    assert_true(call < s->calls);
    struct strlist *got = &s->lines[call];
    sl_sort(got);
    sl_sort(exp);
    size_t n = got->n < exp->n ? got->n : exp->n;
    for (size_t i = 0; i < n; i++)
        if (strcmp(got->v[i], exp->v[i]) != 0)
            fail_msg("%s, batch %u: record %zu is '%s', expected '%s' (%zu records, expected %zu)",
                     what, call + 1, i, got->v[i], exp->v[i], got->n, exp->n);
    if (got->n != exp->n)
        fail_msg("%s, batch %u: %zu records, expected %zu; first extra: '%s'", what, call + 1,
                 got->n, exp->n, got->n > exp->n ? got->v[n] : exp->v[n]);
}

/* All records of call as one string (sorted), for comparing runs. */
static char *call_text(struct sink *s, uint32_t call) {
    struct strlist *l = &s->lines[call];
    sl_sort(l);
    struct sb b = {0};
    sb_printf(&b, "time=%" PRId64 " rows=%" PRIu64 "\n", s->times[call], s->rows_at[call]);
    for (size_t i = 0; i < l->n; i++) {
        sb_put(&b, l->v[i], strlen(l->v[i]));
        sb_put(&b, "\n", 1);
    }
    return sb_take(&b);
}

/* ---- Engine and context of one test; torn down even when it fails ---- */

static spate_engine *cur_engine;
static spate_context *cur_ctx;

static void open_ctx(uint32_t workers, const char *isa) {
    struct spate_engine_opts eo;
    spate_engine_opts_init(&eo);
    eo.workers = workers;
    eo.pin_workers = false;
    eo.isa = isa;
    eo.name = "operations";
    struct spate_error err;
    spate_error_init(&err);
    spate_status rc = spate_engine_create(&eo, &cur_engine, &err);
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

static void start_ctx(void) {
    struct spate_error err;
    spate_error_init(&err);
    spate_status rc = spate_context_start(cur_ctx, &err);
    if (rc != SPATE_OK)
        fail_msg("start: %d %s", rc, err.message);
}

static void advance(int64_t n) {
    struct spate_error err;
    spate_error_init(&err);
    spate_status rc = spate_context_advance(cur_ctx, n, &err);
    if (rc != SPATE_OK)
        fail_msg("advance: %d %s", rc, err.message);
    /* No batch may have failed. */
    bool stopped;
    spate_error_init(&err);
    rc = spate_context_await_termination_timeout(cur_ctx, 0, &stopped, &err);
    if (rc != SPATE_OK)
        fail_msg("a batch failed: %d %s", rc, err.message);
}

static void close_ctx(void) {
    if (cur_ctx != NULL) {
        spate_status rc = spate_context_stop(cur_ctx, true, false, NULL);
        assert_int_equal(rc, SPATE_OK);
        spate_context_destroy(cur_ctx);
        cur_ctx = NULL;
        cur_engine = NULL; /* stopped with the context */
    }
    spate_engine_destroy(cur_engine);
    cur_engine = NULL;
}

static int teardown(void **state) {
    (void)state;
    if (cur_ctx != NULL) {
        spate_context_destroy(cur_ctx);
        cur_ctx = NULL;
    }
    spate_engine_destroy(cur_engine);
    cur_engine = NULL;
    return 0;
}

static spate_dstream *queue(const struct spate_column_def *cols, uint32_t n) {
    struct spate_error err;
    spate_error_init(&err);
    spate_dstream *q = spate_context_queue_stream(cur_ctx, cols, n, &err);
    if (q == NULL)
        fail_msg("queue_stream: %s", err.message);
    return q;
}

static spate_dstream *lines_queue(void) {
    static const struct spate_column_def cols[] = {{"line", SPATE_TYPE_STRING}};
    return queue(cols, 1);
}

static void push_lines(spate_dstream *q, const char *const *lines, uint64_t n) {
    struct spate_error err;
    spate_error_init(&err);
    spate_status rc = spate_queue_push_lines(q, lines, n, &err);
    if (rc != SPATE_OK)
        fail_msg("push_lines: %d %s", rc, err.message);
}

static void push_cols(spate_dstream *q, const struct spate_column_data *cols, uint64_t n) {
    struct spate_error err;
    spate_error_init(&err);
    spate_status rc = spate_queue_push(q, cols, n, &err);
    if (rc != SPATE_OK)
        fail_msg("queue_push: %d %s", rc, err.message);
}

static spate_dstream *checked(spate_dstream *ds, const struct spate_error *err) {
    if (ds == NULL)
        fail_msg("defining a stream failed: %s", err->message);
    return ds;
}

static spate_dstream *reduce(spate_dstream *ds, uint32_t key, uint32_t val, enum spate_agg agg,
                             spate_reduce_i64_fn fn) {
    struct spate_reduce_opts ro;
    spate_reduce_opts_init(&ro);
    ro.key_col = key;
    ro.value_col = val;
    ro.agg = agg;
    ro.fn = fn;
    struct spate_error err;
    spate_error_init(&err);
    return checked(spate_dstream_reduce_by_key(ds, &ro, &err), &err);
}

static spate_dstream *words_of(spate_dstream *ds) {
    struct spate_error err;
    spate_error_init(&err);
    return checked(spate_dstream_flat_map_words(ds, &err), &err);
}

static spate_dstream *pairs_of(spate_dstream *ds, uint32_t key, int64_t value) {
    struct spate_error err;
    spate_error_init(&err);
    return checked(spate_dstream_map_to_pair(ds, key, value, &err), &err);
}

static spate_dstream *count_of(spate_dstream *ds) {
    struct spate_error err;
    spate_error_init(&err);
    return checked(spate_dstream_count(ds, &err), &err);
}

static spate_dstream *filter_i64(spate_dstream *ds, uint32_t col, enum spate_cmp op, int64_t k) {
    struct spate_error err;
    spate_error_init(&err);
    return checked(spate_dstream_filter_i64(ds, col, op, k, &err), &err);
}

static spate_dstream *filter_str(spate_dstream *ds, uint32_t col, const char *s, bool prefix) {
    struct spate_error err;
    spate_error_init(&err);
    return checked(spate_dstream_filter_string(ds, col, s, prefix, &err), &err);
}

/* ---- Naive references ---- */

static bool is_ws(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

struct word {
    const char *p;
    uint32_t len;
};

struct wordvec {
    struct word *v;
    size_t n, cap;
};

static void naive_words(const char *const *lines, size_t n, struct wordvec *out) {
    for (size_t i = 0; i < n; i++) {
        const char *l = lines[i];
        size_t len = strlen(l), j = 0;
        while (j < len) {
            while (j < len && is_ws(l[j]))
                j++;
            size_t s = j;
            while (j < len && !is_ws(l[j]))
                j++;
            if (j > s) {
                if (out->n == out->cap) {
                    out->cap = out->cap ? out->cap * 2 : 256;
                    out->v = realloc(out->v, out->cap * sizeof(struct word));
                    if (out->v == NULL)
                        abort();
                }
                out->v[out->n++] = (struct word){l + s, (uint32_t)(j - s)};
            }
        }
    }
}

static int cmp_word(const void *a, const void *b) {
    const struct word *x = a, *y = b;
    uint32_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->p, y->p, n);
    if (c != 0)
        return c;
    return (x->len > y->len) - (x->len < y->len);
}

/* Expected word count records "word|count"; also returns the number of words. */
static size_t naive_wordcount(const char *const *lines, size_t n, struct strlist *exp) {
    struct wordvec w = {0};
    naive_words(lines, n, &w);
    if (w.n > 1)
        qsort(w.v, w.n, sizeof(struct word), cmp_word);
    for (size_t i = 0; i < w.n;) {
        size_t j = i;
        while (j < w.n && cmp_word(&w.v[i], &w.v[j]) == 0)
            j++;
        struct sb b = {0};
        sb_str(&b, w.v[i].p, w.v[i].len);
        sb_printf(&b, "|%zu", j - i);
        sl_add(exp, sb_take(&b));
        i = j;
    }
    size_t total = w.n;
    free(w.v);
    return total;
}

static void copy_list(struct strlist *dst, const struct strlist *src) {
    for (size_t i = 0; i < src->n; i++)
        sl_add(dst, strdup(src->v[i]));
}

/* Deterministic random numbers (xorshift64*). */
static uint64_t rng_state;

static uint64_t rnd(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

static uint64_t rnd_below(uint64_t n) {
    return rnd() % n;
}

/* ---- Word count ---- */

/* A word count graph on a lines queue: SUM over (word, 1) pairs and COUNT over words. */
struct wc {
    spate_dstream *q;
    struct sink sum, count;
};

static void wc_define(struct wc *w) {
    sink_init(&w->sum);
    sink_init(&w->count);
    w->q = lines_queue();
    spate_dstream *words = words_of(w->q);
    add_sink(reduce(pairs_of(words, 0, 1), 0, 1, SPATE_AGG_SUM, NULL), &w->sum);
    add_sink(reduce(words, 0, 1, SPATE_AGG_COUNT, NULL), &w->count);
}

static void wc_expect(struct wc *w, uint32_t call, const char *const *lines, size_t n) {
    struct strlist exp = {0}, exp2 = {0};
    naive_wordcount(lines, n, &exp);
    copy_list(&exp2, &exp);
    expect_call(&w->sum, call, &exp, "word count (SUM)");
    expect_call(&w->count, call, &exp2, "word count (COUNT)");
    sl_free(&exp);
    sl_free(&exp2);
}

static void wc_free(struct wc *w) {
    sink_free(&w->sum);
    sink_free(&w->count);
}

static void test_wordcount_whitespace(void **state) {
    (void)state;
    static const char *const lines[] = {
        "the quick brown fox",
        "the  lazy\tdog\t\tthe",
        "",
        "   ",
        "\t",
        "fox\r",
        "carriage\rreturn\r\n",
        "  leading and trailing  ",
        "vertical\vtab\fform feed",
        "a a a a a a a a a a",
        "UPPER upper Upper",
        "punct, punct. punct,",
        "x",
    };
    open_ctx(2, NULL);
    struct wc w;
    wc_define(&w);
    start_ctx();
    push_lines(w.q, lines, sizeof(lines) / sizeof(lines[0]));
    advance(1);
    sink_check(&w.sum, 1, 1000);
    sink_check(&w.count, 1, 1000);
    wc_expect(&w, 0, lines, sizeof(lines) / sizeof(lines[0]));
    close_ctx();
    wc_free(&w);
}

static void test_wordcount_one_batch_per_interval(void **state) {
    (void)state;
    static const char *const b1[] = {"a b c", "a b", "a"};
    static const char *const b2[] = {"d d d d"};
    static const char *const b3[] = {"a d", "e"};
    open_ctx(2, NULL);
    struct wc w;
    wc_define(&w);
    start_ctx();
    push_lines(w.q, b1, 3);
    push_lines(w.q, b2, 1);
    push_lines(w.q, b3, 2);
    advance(4);
    sink_check(&w.sum, 4, 1000);
    sink_check(&w.count, 4, 1000);
    wc_expect(&w, 0, b1, 3);
    wc_expect(&w, 1, b2, 1);
    wc_expect(&w, 2, b3, 2);
    /* The 4th batch is empty, and its outputs still run. */
    assert_int_equal(w.sum.rows_at[3], 0);
    assert_int_equal(w.count.rows_at[3], 0);
    wc_expect(&w, 3, NULL, 0);
    close_ctx();
    wc_free(&w);
}

static void test_wordcount_long_words(void **state) {
    (void)state;
    char w100[101], w5000[5001], line1[400], line2[5200];
    for (int i = 0; i < 100; i++)
        w100[i] = (char)('a' + i % 26);
    w100[100] = '\0';
    for (int i = 0; i < 5000; i++)
        w5000[i] = (char)('A' + i % 23);
    w5000[5000] = '\0';
    snprintf(line1, sizeof(line1), "%s %s\t%s", w100, w100, w100);
    snprintf(line2, sizeof(line2), "%s %s", w5000, w100);
    const char *lines[] = {
        "abcdefghijkl abcdefghijklm abcdefghijkl",    /* 12 (inline) and 13 bytes */
        "abcdefghijklm abcdefghijklmn abcdefghijklm", /* same prefix, longer */
        "abcd abcde abc abcd abcde",                  /* around the 4-byte prefix */
        "abcdXXXXXXXXXXXXXXXX1 abcdXXXXXXXXXXXXXXXX2 abcdXXXXXXXXXXXXXXXX1",
        "abcdefghijkX abcdefghijkY abcdefghijkX", /* differ in the last inline byte */
        "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
        line1,
        line2,
        line2,
    };
    open_ctx(3, NULL);
    struct wc w;
    wc_define(&w);
    start_ctx();
    push_lines(w.q, lines, sizeof(lines) / sizeof(lines[0]));
    advance(1);
    sink_check(&w.sum, 1, 1000);
    sink_check(&w.count, 1, 1000);
    wc_expect(&w, 0, lines, sizeof(lines) / sizeof(lines[0]));
    close_ctx();
    wc_free(&w);
}

/* n random lines of words drawn from a vocabulary, with mixed whitespace. */
struct textgen {
    char **vocab;
    size_t nvocab;
    char **lines;
    size_t nlines;
};

static void textgen_make(struct textgen *t, uint64_t seed, size_t nvocab, size_t nlines,
                         uint32_t max_words) {
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789_-.,";
    static const char *const spaces[] = {" ", "  ", "\t", " \t ", "\r"};
    rng_state = seed;
    t->nvocab = nvocab;
    t->vocab = calloc(nvocab, sizeof(char *));
    for (size_t i = 0; i < nvocab; i++) {
        size_t len = 1 + rnd_below(i % 7 == 0 ? 40 : 14);
        t->vocab[i] = malloc(len + 1);
        for (size_t j = 0; j < len; j++)
            t->vocab[i][j] = alphabet[rnd_below(sizeof(alphabet) - 1)];
        t->vocab[i][len] = '\0';
    }
    t->nlines = nlines;
    t->lines = calloc(nlines, sizeof(char *));
    for (size_t i = 0; i < nlines; i++) {
        struct sb b = {0};
        uint32_t nw = (uint32_t)rnd_below(max_words + 1);
        if (rnd_below(4) == 0)
            sb_put(&b, " ", 1);
        for (uint32_t k = 0; k < nw; k++) {
            if (k > 0) {
                const char *sp = spaces[rnd_below(5)];
                sb_put(&b, sp, strlen(sp));
            }
            const char *wd = t->vocab[rnd_below(nvocab)];
            sb_put(&b, wd, strlen(wd));
        }
        t->lines[i] = sb_take(&b);
    }
}

static void textgen_free(struct textgen *t) {
    for (size_t i = 0; i < t->nvocab; i++)
        free(t->vocab[i]);
    for (size_t i = 0; i < t->nlines; i++)
        free(t->lines[i]);
    free(t->vocab);
    free(t->lines);
}

static void test_wordcount_many_keys(void **state) {
    (void)state;
    struct textgen t;
    textgen_make(&t, 42, 30000, 12000, 8); /* about 50k words, most keys distinct */
    struct wordvec all = {0};
    naive_words((const char *const *)t.lines, t.nlines, &all);
    assert_true(all.n > 40000);
    free(all.v);

    open_ctx(4, NULL);
    struct wc w;
    wc_define(&w);
    start_ctx();
    /* One big batch, then the same text split in two batches. */
    push_lines(w.q, (const char *const *)t.lines, t.nlines);
    push_lines(w.q, (const char *const *)t.lines, t.nlines / 3);
    push_lines(w.q, (const char *const *)t.lines + t.nlines / 3, t.nlines - t.nlines / 3);
    advance(3);
    sink_check(&w.sum, 3, 1000);
    sink_check(&w.count, 3, 1000);
    wc_expect(&w, 0, (const char *const *)t.lines, t.nlines);
    wc_expect(&w, 1, (const char *const *)t.lines, t.nlines / 3);
    wc_expect(&w, 2, (const char *const *)t.lines + t.nlines / 3, t.nlines - t.nlines / 3);
    close_ctx();
    wc_free(&w);
    textgen_free(&t);
}

/* ---- reduce_by_key over i64 keys ---- */

static void user_max(void *user, int64_t *acc, const int64_t *vals, uint32_t n) {
    (void)user;
    for (uint32_t i = 0; i < n; i++)
        acc[i] = vals[i] > acc[i] ? vals[i] : acc[i];
}

static void user_sum(void *user, int64_t *acc, const int64_t *vals, uint32_t n) {
    (void)user;
    for (uint32_t i = 0; i < n; i++)
        acc[i] = (int64_t)((uint64_t)acc[i] + (uint64_t)vals[i]);
}

struct kv {
    int64_t k, v;
};

static int cmp_kv(const void *a, const void *b) {
    const struct kv *x = a, *y = b;
    return (x->k > y->k) - (x->k < y->k);
}

/* Expected "key|agg" records of (keys, vals) with null keys (bit clear in kvalid) dropped. */
static void naive_reduce_i64(const int64_t *keys, const uint64_t *kvalid, const int64_t *vals,
                             size_t n, enum spate_agg agg, struct strlist *exp) {
    struct kv *a = malloc(sizeof(struct kv) * (n + 1));
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (kvalid == NULL || ((kvalid[i >> 6] >> (i & 63)) & 1u))
            a[m++] = (struct kv){keys[i], vals[i]};
    qsort(a, m, sizeof(struct kv), cmp_kv);
    for (size_t i = 0; i < m;) {
        size_t j = i;
        uint64_t sum = 0;
        int64_t mn = INT64_MAX, mx = INT64_MIN;
        for (; j < m && a[j].k == a[i].k; j++) {
            sum += (uint64_t)a[j].v;
            mn = a[j].v < mn ? a[j].v : mn;
            mx = a[j].v > mx ? a[j].v : mx;
        }
        int64_t r = agg == SPATE_AGG_SUM   ? (int64_t)sum
                    : agg == SPATE_AGG_MIN ? mn
                    : agg == SPATE_AGG_MAX ? mx
                                           : (int64_t)(j - i);
        sl_addf(exp, "%" PRId64 "|%" PRId64, a[i].k, r);
        i = j;
    }
    free(a);
}

static void test_reduce_i64_keys(void **state) {
    (void)state;
    enum { N = 9000 };
    static int64_t keys[N], vals[N];
    static uint64_t kvalid[(N + 63) / 64];
    rng_state = 7;
    for (size_t i = 0; i < N; i++) {
        keys[i] = (int64_t)rnd_below(600) - 100;
        vals[i] = (int64_t)rnd_below(2000001) - 1000000;
    }
    /* Extremes: keys at the ends of the range, and a SUM that wraps. */
    keys[10] = INT64_MIN;
    keys[11] = INT64_MAX;
    keys[12] = 0;
    keys[20] = keys[21] = keys[22] = 77777;
    vals[20] = INT64_MAX;
    vals[21] = INT64_MAX;
    vals[22] = INT64_MIN;
    vals[30] = INT64_MIN;
    vals[31] = INT64_MAX;
    memset(kvalid, 0xff, sizeof(kvalid));
    for (size_t i = 100; i < N; i += 97)
        kvalid[i >> 6] &= ~(1ull << (i & 63)); /* null keys form no group */

    open_ctx(3, NULL);
    static const struct spate_column_def cols[] = {{"key", SPATE_TYPE_I64},
                                                   {"value", SPATE_TYPE_I64}};
    spate_dstream *q = queue(cols, 2);
    struct sink s_sum, s_min, s_max, s_cnt, s_umax, s_usum;
    struct sink *all[] = {&s_sum, &s_min, &s_max, &s_cnt, &s_umax, &s_usum};
    for (int i = 0; i < 6; i++)
        sink_init(all[i]);
    add_sink(reduce(q, 0, 1, SPATE_AGG_SUM, NULL), &s_sum);
    add_sink(reduce(q, 0, 1, SPATE_AGG_MIN, NULL), &s_min);
    add_sink(reduce(q, 0, 1, SPATE_AGG_MAX, NULL), &s_max);
    add_sink(reduce(q, 0, 1, SPATE_AGG_COUNT, NULL), &s_cnt);
    add_sink(reduce(q, 0, 1, SPATE_AGG_SUM, user_max), &s_umax);
    add_sink(reduce(q, 0, 1, SPATE_AGG_SUM, user_sum), &s_usum);
    start_ctx();
    struct spate_column_data cd[2] = {{keys, kvalid}, {vals, NULL}};
    push_cols(q, cd, N);
    struct spate_column_data cd2[2] = {{keys + 5, NULL}, {vals + 5, NULL}};
    push_cols(q, cd2, 1000);
    advance(2);

    static const enum spate_agg aggs[] = {SPATE_AGG_SUM,   SPATE_AGG_MIN, SPATE_AGG_MAX,
                                          SPATE_AGG_COUNT, SPATE_AGG_MAX, SPATE_AGG_SUM};
    static const char *const names[] = {"SUM", "MIN", "MAX", "COUNT", "user max", "user sum"};
    for (int i = 0; i < 6; i++) {
        sink_check(all[i], 2, 1000);
        struct strlist e1 = {0}, e2 = {0};
        naive_reduce_i64(keys, kvalid, vals, N, aggs[i], &e1);
        naive_reduce_i64(keys + 5, NULL, vals + 5, 1000, aggs[i], &e2);
        expect_call(all[i], 0, &e1, names[i]);
        expect_call(all[i], 1, &e2, names[i]);
        sl_free(&e1);
        sl_free(&e2);
    }
    close_ctx();
    for (int i = 0; i < 6; i++)
        sink_free(all[i]);
}

/* Keys of a string column other than column 0, values of a column before it. */
static void test_reduce_string_key_not_first(void **state) {
    (void)state;
    static const struct spate_column_def cols[] = {
        {"n", SPATE_TYPE_I64}, {"pad", SPATE_TYPE_F64}, {"name", SPATE_TYPE_STRING}};
    static const char *const names[] = {"x", "y", "a-long-name-over-12", "x", "", "y", "x"};
    static const int64_t ns[] = {1, 2, 3, 4, 5, 6, 7};
    static const double pad[] = {0, 0, 0, 0, 0, 0, 0};
    struct spate_string v[7];
    for (int i = 0; i < 7; i++) {
        memset(&v[i], 0, sizeof(v[i]));
        v[i].len = (uint32_t)strlen(names[i]);
        if (v[i].len <= SPATE_STRING_INLINE) {
            memcpy(v[i].prefix, names[i], v[i].len < 4 ? v[i].len : 4);
            if (v[i].len > 4)
                memcpy(v[i].u.inlined, names[i] + 4, v[i].len - 4);
        } else {
            memcpy(v[i].prefix, names[i], 4);
            v[i].u.ptr = names[i];
        }
    }
    open_ctx(2, NULL);
    spate_dstream *q = queue(cols, 3);
    struct sink s;
    sink_init(&s);
    spate_dstream *r = reduce(q, 2, 0, SPATE_AGG_SUM, NULL);
    struct spate_column_def c0 = spate_dstream_column(r, 0), c1 = spate_dstream_column(r, 1);
    assert_string_equal(c0.name, "name");
    assert_int_equal(c0.type, SPATE_TYPE_STRING);
    assert_string_equal(c1.name, "n");
    assert_int_equal(c1.type, SPATE_TYPE_I64);
    add_sink(r, &s);
    start_ctx();
    struct spate_column_data cd[3] = {{ns, NULL}, {pad, NULL}, {v, NULL}};
    push_cols(q, cd, 7);
    advance(1);
    sink_check(&s, 1, 1000);
    struct strlist exp = {0};
    sl_addf(&exp, "x|12");
    sl_addf(&exp, "y|8");
    sl_addf(&exp, "a-long-name-over-12|3");
    sl_addf(&exp, "|5");
    expect_call(&s, 0, &exp, "string keys in column 2");
    sl_free(&exp);
    close_ctx();
    sink_free(&s);
}

static void test_reduce_f64(void **state) {
    (void)state;
    enum { N = 5000 };
    static int64_t keys[N];
    static double vals[N];
    rng_state = 99;
    for (size_t i = 0; i < N; i++) {
        keys[i] = (int64_t)rnd_below(40);
        /* Quarters of small integers: every partial sum is exact in any order. */
        vals[i] = (double)((int64_t)rnd_below(4001) - 2000) * 0.25;
    }
    open_ctx(4, NULL);
    static const struct spate_column_def cols[] = {{"key", SPATE_TYPE_I64},
                                                   {"amount", SPATE_TYPE_F64}};
    spate_dstream *q = queue(cols, 2);
    struct sink s_sum, s_min, s_max;
    sink_init(&s_sum);
    sink_init(&s_min);
    sink_init(&s_max);
    spate_dstream *rs = reduce(q, 0, 1, SPATE_AGG_SUM, NULL);
    assert_int_equal(spate_dstream_column(rs, 1).type, SPATE_TYPE_F64);
    assert_string_equal(spate_dstream_column(rs, 1).name, "amount");
    add_sink(rs, &s_sum);
    add_sink(reduce(q, 0, 1, SPATE_AGG_MIN, NULL), &s_min);
    add_sink(reduce(q, 0, 1, SPATE_AGG_MAX, NULL), &s_max);
    start_ctx();
    struct spate_column_data cd[2] = {{keys, NULL}, {vals, NULL}};
    push_cols(q, cd, N);
    advance(1);
    struct strlist es = {0}, emn = {0}, emx = {0};
    for (int64_t k = 0; k < 40; k++) {
        double sum = 0, mn = 1e300, mx = -1e300;
        bool any = false;
        for (size_t i = 0; i < N; i++) {
            if (keys[i] != k)
                continue;
            any = true;
            sum += vals[i];
            mn = vals[i] < mn ? vals[i] : mn;
            mx = vals[i] > mx ? vals[i] : mx;
        }
        if (!any)
            continue;
        sl_addf(&es, "%" PRId64 "|%.17g", k, sum);
        sl_addf(&emn, "%" PRId64 "|%.17g", k, mn);
        sl_addf(&emx, "%" PRId64 "|%.17g", k, mx);
    }
    sink_check(&s_sum, 1, 1000);
    expect_call(&s_sum, 0, &es, "f64 SUM");
    expect_call(&s_min, 0, &emn, "f64 MIN");
    expect_call(&s_max, 0, &emx, "f64 MAX");
    sl_free(&es);
    sl_free(&emn);
    sl_free(&emx);
    close_ctx();
    sink_free(&s_sum);
    sink_free(&s_min);
    sink_free(&s_max);
}

/* ---- count ---- */

static void test_count(void **state) {
    (void)state;
    enum { BIG = 5000 };
    static const char *big[BIG];
    for (int i = 0; i < BIG; i++)
        big[i] = (i % 3 == 0) ? "three" : "other words here";
    open_ctx(2, NULL);
    spate_dstream *q = lines_queue();
    struct sink s_lines, s_words, s_filtered;
    sink_init(&s_lines);
    sink_init(&s_words);
    sink_init(&s_filtered);
    spate_dstream *c = count_of(q);
    assert_int_equal(spate_dstream_num_columns(c), 1);
    assert_string_equal(spate_dstream_column(c, 0).name, "count");
    assert_int_equal(spate_dstream_column(c, 0).type, SPATE_TYPE_I64);
    add_sink(c, &s_lines);
    add_sink(count_of(words_of(q)), &s_words);
    add_sink(count_of(filter_str(q, 0, "three", false)), &s_filtered);
    start_ctx();
    /* Batch 1: nothing queued. Batch 2: an empty push. 3: five lines. 4: many. */
    static const char *const five[] = {"a", "b c", "", "three", "d e f"};
    advance(1);
    push_lines(q, NULL, 0);
    push_lines(q, five, 5);
    push_lines(q, big, BIG);
    advance(3);
    sink_check(&s_lines, 4, 1000);
    sink_check(&s_words, 4, 1000);
    struct spate_input_stats st;
    struct spate_error err;
    spate_error_init(&err);
    assert_int_equal(spate_input_stats(q, &st, &err), SPATE_OK);
    assert_int_equal(st.records, 5 + BIG);
    spate_error_init(&err);
    assert_int_equal(spate_input_stats(c, &st, &err), EINVAL); /* not an input */
    assert_true(err.message[0] != '\0');
    sink_check(&s_filtered, 4, 1000);
    static const char *const exp_lines[] = {"0", "0", "5", "5000"};
    static const char *const exp_words[] = {"0", "0", "7", "11666"};
    static const char *const exp_filtered[] = {"0", "0", "1", "1667"};
    for (uint32_t i = 0; i < 4; i++) {
        struct strlist e1 = {0}, e2 = {0}, e3 = {0};
        sl_addf(&e1, "%s", exp_lines[i]);
        sl_addf(&e2, "%s", exp_words[i]);
        sl_addf(&e3, "%s", exp_filtered[i]);
        expect_call(&s_lines, i, &e1, "count of lines");
        expect_call(&s_words, i, &e2, "count of words");
        expect_call(&s_filtered, i, &e3, "count of filtered lines");
        sl_free(&e1);
        sl_free(&e2);
        sl_free(&e3);
    }
    close_ctx();
    sink_free(&s_lines);
    sink_free(&s_words);
    sink_free(&s_filtered);
}

/* ---- filters ---- */

static bool cmp_holds(enum spate_cmp op, int64_t a, int64_t b) {
    switch (op) {
    case SPATE_CMP_EQ:
        return a == b;
    case SPATE_CMP_NE:
        return a != b;
    case SPATE_CMP_LT:
        return a < b;
    case SPATE_CMP_LE:
        return a <= b;
    case SPATE_CMP_GT:
        return a > b;
    case SPATE_CMP_GE:
        return a >= b;
    }
    return false;
}

static void test_filter_i64_ops(void **state) {
    (void)state;
    enum { N = 3000 };
    static int64_t v[N], id[N];
    static uint64_t valid[(N + 63) / 64];
    rng_state = 1234;
    memset(valid, 0xff, sizeof(valid));
    for (size_t i = 0; i < N; i++) {
        id[i] = (int64_t)i;
        v[i] = (int64_t)rnd_below(41) - 20; /* many rows equal the literal */
        if (rnd_below(10) == 0)
            valid[i >> 6] &= ~(1ull << (i & 63));
    }
    v[0] = INT64_MIN;
    v[1] = INT64_MAX;
    static const int64_t literal = 3;
    open_ctx(2, NULL);
    static const struct spate_column_def cols[] = {{"v", SPATE_TYPE_I64}, {"id", SPATE_TYPE_I64}};
    spate_dstream *q = queue(cols, 2);
    struct sink s[6], s_range, s_min;
    for (int op = 0; op < 6; op++) {
        sink_init(&s[op]);
        add_sink(filter_i64(q, 0, (enum spate_cmp)op, literal), &s[op]);
    }
    sink_init(&s_range);
    sink_init(&s_min);
    /* Chained: a selection over a selection. */
    add_sink(filter_i64(filter_i64(q, 0, SPATE_CMP_GT, -5), 0, SPATE_CMP_LE, 5), &s_range);
    add_sink(filter_i64(q, 0, SPATE_CMP_LE, INT64_MIN), &s_min);
    start_ctx();
    struct spate_column_data cd[2] = {{v, valid}, {id, NULL}};
    push_cols(q, cd, N);
    advance(1);
    for (int op = 0; op < 6; op++) {
        struct strlist exp = {0};
        for (size_t i = 0; i < N; i++)
            if (((valid[i >> 6] >> (i & 63)) & 1u) && cmp_holds((enum spate_cmp)op, v[i], literal))
                sl_addf(&exp, "%" PRId64 "|%" PRId64, v[i], id[i]);
        sink_check(&s[op], 1, 1000);
        char what[32];
        snprintf(what, sizeof(what), "filter_i64 op %d", op);
        expect_call(&s[op], 0, &exp, what);
        sl_free(&exp);
    }
    struct strlist er = {0}, em = {0};
    for (size_t i = 0; i < N; i++) {
        if (!((valid[i >> 6] >> (i & 63)) & 1u))
            continue;
        if (v[i] > -5 && v[i] <= 5)
            sl_addf(&er, "%" PRId64 "|%" PRId64, v[i], id[i]);
        if (v[i] == INT64_MIN)
            sl_addf(&em, "%" PRId64 "|%" PRId64, v[i], id[i]);
    }
    expect_call(&s_range, 0, &er, "filter_i64 chained");
    expect_call(&s_min, 0, &em, "filter_i64 LE INT64_MIN");
    sl_free(&er);
    sl_free(&em);
    close_ctx();
    for (int op = 0; op < 6; op++)
        sink_free(&s[op]);
    sink_free(&s_range);
    sink_free(&s_min);
}

/* filter_i64 works on timestamp columns too. */
static void test_filter_timestamp(void **state) {
    (void)state;
    static const int64_t ts[] = {1000000000, 2000000000, 1500000000, -5, 2000000001, 0};
    static const uint64_t valid[1] = {0x2f}; /* row 4 null */
    open_ctx(2, NULL);
    static const struct spate_column_def cols[] = {{"at", SPATE_TYPE_TIMESTAMP}};
    spate_dstream *q = queue(cols, 1);
    struct sink s;
    sink_init(&s);
    add_sink(filter_i64(q, 0, SPATE_CMP_GE, 1500000000), &s);
    start_ctx();
    struct spate_column_data cd[1] = {{ts, valid}};
    push_cols(q, cd, 6);
    advance(1);
    struct strlist exp = {0};
    sl_addf(&exp, "2000000000");
    sl_addf(&exp, "1500000000");
    sink_check(&s, 1, 1000);
    assert_int_equal(s.types[0], SPATE_TYPE_TIMESTAMP);
    expect_call(&s, 0, &exp, "filter_i64 on a timestamp");
    sl_free(&exp);
    close_ctx();
    sink_free(&s);
}

static void test_filter_string(void **state) {
    (void)state;
    static const char *const lines[] = {
        "apple",
        "apples",
        "app",
        "apple pie",
        "",
        "banana",
        "apple",
        "abcdefghijklmnop",
        "abcdefghijklmnoq",
        "abcdefghijklmno",
        "abcdefghijkl",
        "abcdefghijklm",
        "Apple",
        "a",
        "abcdefghijklmnop",
    };
    enum { N = sizeof(lines) / sizeof(lines[0]) };
    static const struct {
        const char *s;
        bool prefix;
    } cases[] = {
        {"apple", false},
        {"app", true},
        {"apple", true},
        {"abcdefghijklmnop", false},
        {"abcdefghijklmno", true},
        {"abcdefghijkl", false},
        {"abcdefghijkl", true},
        {"", false},
        {"", true},
        {"zzz", true},
        {"a", false},
    };
    enum { C = sizeof(cases) / sizeof(cases[0]) };
    open_ctx(2, NULL);
    spate_dstream *q = lines_queue();
    struct sink s[C], s_words;
    for (int i = 0; i < C; i++) {
        sink_init(&s[i]);
        add_sink(filter_str(q, 0, cases[i].s, cases[i].prefix), &s[i]);
    }
    sink_init(&s_words);
    add_sink(filter_str(words_of(q), 0, "pie", false), &s_words);
    start_ctx();
    push_lines(q, lines, N);
    push_lines(q, lines, N);
    advance(2);
    for (int i = 0; i < C; i++) {
        struct strlist exp = {0};
        size_t sl = strlen(cases[i].s);
        for (int j = 0; j < N; j++) {
            size_t ll = strlen(lines[j]);
            bool hit = cases[i].prefix ? (ll >= sl && memcmp(lines[j], cases[i].s, sl) == 0)
                                       : strcmp(lines[j], cases[i].s) == 0;
            if (hit)
                sl_addf(&exp, "%s", lines[j]);
        }
        struct strlist exp2 = {0};
        copy_list(&exp2, &exp);
        char what[64];
        snprintf(what, sizeof(what), "filter_string '%s' prefix=%d", cases[i].s,
                 (int)cases[i].prefix);
        sink_check(&s[i], 2, 1000);
        expect_call(&s[i], 0, &exp, what);
        expect_call(&s[i], 1, &exp2, what);
        sl_free(&exp);
        sl_free(&exp2);
    }
    struct strlist ew = {0};
    sl_addf(&ew, "pie");
    expect_call(&s_words, 0, &ew, "filter_string on words");
    sl_free(&ew);
    close_ctx();
    for (int i = 0; i < C; i++)
        sink_free(&s[i]);
    sink_free(&s_words);
}

/* Keeps the rows whose column 0 (i64) is even. */
static uint32_t keep_even(void *user, const struct spate_chunk_view *in, uint16_t *sel_out) {
    uint32_t *calls = user;
    __atomic_fetch_add(calls, 1, __ATOMIC_RELAXED);
    uint32_t m = 0;
    for (uint32_t i = 0; i < in->rows; i++) {
        int64_t x;
        if (spate_chunk_get_i64(in, 0, i, &x) && x % 2 == 0)
            sel_out[m++] = (uint16_t)i;
    }
    return m;
}

/* Keeps no row. */
static uint32_t keep_none(void *user, const struct spate_chunk_view *in, uint16_t *sel_out) {
    (void)user;
    (void)in;
    (void)sel_out;
    return 0;
}

static void test_filter_callback(void **state) {
    (void)state;
    enum { N = 4500 };
    static int64_t v[N];
    rng_state = 555;
    for (size_t i = 0; i < N; i++)
        v[i] = (int64_t)rnd_below(1000) - 500;
    open_ctx(2, NULL);
    static const struct spate_column_def cols[] = {{"v", SPATE_TYPE_I64}};
    spate_dstream *q = queue(cols, 1);
    struct sink s_even, s_pos_even, s_none, s_cnt;
    sink_init(&s_even);
    sink_init(&s_pos_even);
    sink_init(&s_none);
    sink_init(&s_cnt);
    uint32_t calls = 0;
    struct spate_error err;
    spate_error_init(&err);
    spate_dstream *even = checked(spate_dstream_filter(q, keep_even, &calls, &err), &err);
    add_sink(even, &s_even);
    /* After a built-in filter: the callback sees a selection and writes logical rows. */
    spate_dstream *pos = filter_i64(q, 0, SPATE_CMP_GE, 0);
    add_sink(checked(spate_dstream_filter(pos, keep_even, &calls, &err), &err), &s_pos_even);
    spate_dstream *none = checked(spate_dstream_filter(q, keep_none, NULL, &err), &err);
    add_sink(none, &s_none);
    add_sink(count_of(none), &s_cnt);
    start_ctx();
    struct spate_column_data cd[1] = {{v, NULL}};
    push_cols(q, cd, N);
    advance(1);
    struct strlist e1 = {0}, e2 = {0}, e3 = {0}, e4 = {0};
    for (size_t i = 0; i < N; i++) {
        if (v[i] % 2 == 0)
            sl_addf(&e1, "%" PRId64, v[i]);
        if (v[i] % 2 == 0 && v[i] >= 0)
            sl_addf(&e2, "%" PRId64, v[i]);
    }
    sl_addf(&e4, "0");
    sink_check(&s_even, 1, 1000);
    expect_call(&s_even, 0, &e1, "filter callback: even");
    expect_call(&s_pos_even, 0, &e2, "filter callback after filter_i64");
    expect_call(&s_none, 0, &e3, "filter callback: none");
    expect_call(&s_cnt, 0, &e4, "count after filtering all out");
    assert_true(__atomic_load_n(&calls, __ATOMIC_RELAXED) > 0);
    sl_free(&e1);
    sl_free(&e2);
    sl_free(&e3);
    sl_free(&e4);
    close_ctx();
    sink_free(&s_even);
    sink_free(&s_pos_even);
    sink_free(&s_none);
    sink_free(&s_cnt);
}

/* ---- map with a chunk callback ---- */

/* (upper-cased copy, length) of column 0; both null where the input is null. */
static spate_status map_upper(void *user, const struct spate_chunk_view *in,
                              spate_chunk_builder *out, struct spate_error *err) {
    (void)user;
    int64_t *lens = spate_builder_column(out, 1);
    if (lens == NULL || spate_builder_column(out, 0) != NULL) {
        snprintf(err->message, sizeof(err->message), "builder columns are not as documented");
        return EINVAL;
    }
    char small[64];
    for (uint32_t i = 0; i < in->rows; i++) {
        const char *d;
        uint32_t len;
        spate_status rc;
        if (!spate_chunk_get_string(in, 0, i, &d, &len)) {
            rc = spate_builder_set_null(out, 0, i);
            if (rc == SPATE_OK)
                rc = spate_builder_set_null(out, 1, i);
            if (rc != SPATE_OK)
                return rc;
            continue;
        }
        char *buf = len <= sizeof(small) ? small : malloc(len);
        if (buf == NULL)
            return ENOMEM;
        for (uint32_t j = 0; j < len; j++)
            buf[j] = (char)toupper((unsigned char)d[j]);
        rc = spate_builder_set_string(out, 0, i, buf, len);
        if (buf != small)
            free(buf);
        if (rc != SPATE_OK)
            return rc;
        lens[i] = (int64_t)len;
    }
    return SPATE_OK;
}

/* (the input string itself, by view, not copied; its first byte or null). */
static spate_status map_view(void *user, const struct spate_chunk_view *in,
                             spate_chunk_builder *out, struct spate_error *err) {
    (void)user;
    (void)err;
    const struct spate_string *strs = in->columns[0].data;
    int64_t *first = spate_builder_column(out, 1);
    for (uint32_t i = 0; i < in->rows; i++) {
        uint32_t phys = in->sel != NULL ? in->sel[i] : i;
        const char *d;
        uint32_t len;
        spate_status rc = SPATE_OK;
        if (!spate_chunk_get_string(in, 0, i, &d, &len)) {
            rc = spate_builder_set_null(out, 0, i);
            if (rc == SPATE_OK)
                rc = spate_builder_set_null(out, 1, i);
        } else {
            rc = spate_builder_set_view(out, 0, i, &strs[phys]);
            if (len == 0)
                rc = rc == SPATE_OK ? spate_builder_set_null(out, 1, i) : rc;
            else
                first[i] = (unsigned char)d[0];
        }
        if (rc != SPATE_OK)
            return rc;
    }
    return SPATE_OK;
}

static void test_map_callback(void **state) {
    (void)state;
    static const char *const texts[] = {
        "hello",       "",
        "Hello World", "mixed CASE 123 _!",
        NULL,          "abcdefghijklm",
        NULL,          "a string that is certainly longer than twelve bytes, about sixty of them",
        "x",           "tab\there",
    };
    enum { N = sizeof(texts) / sizeof(texts[0]), REP = 700 };
    static struct spate_string views[N * REP];
    static uint64_t valid[(N * REP + 63) / 64];
    memset(valid, 0, sizeof(valid));
    for (size_t i = 0; i < N * REP; i++) {
        const char *t = texts[i % N];
        memset(&views[i], 0, sizeof(views[i]));
        if (t == NULL)
            continue; /* null: validity bit clear */
        valid[i >> 6] |= 1ull << (i & 63);
        uint32_t len = (uint32_t)strlen(t);
        views[i].len = len;
        memcpy(views[i].prefix, t, len < 4 ? len : 4);
        if (len <= SPATE_STRING_INLINE) {
            if (len > 4)
                memcpy(views[i].u.inlined, t + 4, len - 4);
        } else {
            views[i].u.ptr = t;
        }
    }
    open_ctx(2, NULL);
    static const struct spate_column_def in_cols[] = {{"text", SPATE_TYPE_STRING}};
    static const struct spate_column_def out_cols[] = {{"upper", SPATE_TYPE_STRING},
                                                       {"len", SPATE_TYPE_I64}};
    spate_dstream *q = queue(in_cols, 1);
    struct spate_error err;
    spate_error_init(&err);
    spate_dstream *m = checked(spate_dstream_map(q, out_cols, 2, map_upper, NULL, &err), &err);
    assert_int_equal(spate_dstream_num_columns(m), 2);
    assert_string_equal(spate_dstream_column(m, 0).name, "upper");
    assert_string_equal(spate_dstream_column(m, 1).name, "len");
    assert_int_equal(spate_dstream_column(m, 1).type, SPATE_TYPE_I64);
    struct sink s, s_sel, s_cnt;
    sink_init(&s);
    sink_init(&s_sel);
    sink_init(&s_cnt);
    add_sink(m, &s);
    /* map over a selection: only rows starting with "mixed". */
    spate_dstream *m2 = checked(
        spate_dstream_map(filter_str(q, 0, "mixed", true), out_cols, 2, map_upper, NULL, &err),
        &err);
    add_sink(m2, &s_sel);
    /* A reduce keyed by the map's output: null keys are dropped. */
    add_sink(reduce(m, 0, 1, SPATE_AGG_COUNT, NULL), &s_cnt);
    static const struct spate_column_def view_cols[] = {{"same", SPATE_TYPE_STRING},
                                                        {"first", SPATE_TYPE_I64}};
    struct sink s_view;
    sink_init(&s_view);
    add_sink(checked(spate_dstream_map(q, view_cols, 2, map_view, NULL, &err), &err), &s_view);
    start_ctx();
    struct spate_column_data cd[1] = {{views, valid}};
    push_cols(q, cd, N * REP);
    advance(1);
    struct strlist exp = {0}, exp_sel = {0}, exp_cnt = {0}, exp_view = {0};
    for (size_t i = 0; i < N * REP; i++) {
        const char *t = texts[i % N];
        if (t == NULL) {
            sl_addf(&exp, "\\N|\\N");
            sl_addf(&exp_view, "\\N|\\N");
            continue;
        }
        struct sb bv = {0};
        sb_str(&bv, t, (uint32_t)strlen(t));
        if (t[0] != '\0')
            sb_printf(&bv, "|%d", (int)(unsigned char)t[0]);
        else
            sb_put(&bv, "|\\N", 3);
        sl_add(&exp_view, sb_take(&bv));
        struct sb b = {0};
        for (const char *p = t; *p; p++) {
            char u = (char)toupper((unsigned char)*p);
            sb_str(&b, &u, 1);
        }
        sb_printf(&b, "|%zu", strlen(t));
        char *line = sb_take(&b);
        if (strncmp(t, "mixed", 5) == 0)
            sl_add(&exp_sel, strdup(line));
        sl_add(&exp, line);
    }
    for (size_t i = 0; i < N; i++) {
        if (texts[i] == NULL)
            continue;
        struct sb b = {0};
        for (const char *p = texts[i]; *p; p++) {
            char u = (char)toupper((unsigned char)*p);
            sb_str(&b, &u, 1);
        }
        sb_printf(&b, "|%d", (int)REP);
        sl_add(&exp_cnt, sb_take(&b));
    }
    sink_check(&s, 1, 1000);
    expect_call(&s, 0, &exp, "map upper");
    expect_call(&s_sel, 0, &exp_sel, "map over a selection");
    expect_call(&s_cnt, 0, &exp_cnt, "count by map output");
    expect_call(&s_view, 0, &exp_view, "map by set_view");
    sl_free(&exp_view);
    sink_free(&s_view);
    sl_free(&exp);
    sl_free(&exp_sel);
    sl_free(&exp_cnt);
    close_ctx();
    sink_free(&s);
    sink_free(&s_sel);
    sink_free(&s_cnt);
}

/* ---- Several outputs on one stream ---- */

static void test_two_outputs_same_stream(void **state) {
    (void)state;
    static const char *const b1[] = {"to be or not to be", "that is the question"};
    static const char *const b2[] = {"be be be"};
    open_ctx(2, NULL);
    spate_dstream *q = lines_queue();
    spate_dstream *counts = reduce(words_of(q), 0, 1, SPATE_AGG_COUNT, NULL);
    struct sink a, b, c, d;
    sink_init(&a);
    sink_init(&b);
    sink_init(&c);
    sink_init(&d);
    add_sink(counts, &a);
    add_sink(q, &c);
    add_sink(counts, &b);
    add_sink(q, &d);
    start_ctx();
    push_lines(q, b1, 2);
    push_lines(q, b2, 1);
    advance(3);
    sink_check(&a, 3, 1000);
    sink_check(&b, 3, 1000);
    sink_check(&c, 3, 1000);
    sink_check(&d, 3, 1000);
    for (uint32_t i = 0; i < 3; i++) {
        char *ta = call_text(&a, i), *tb = call_text(&b, i);
        char *tc = call_text(&c, i), *td = call_text(&d, i);
        assert_string_equal(ta, tb);
        assert_string_equal(tc, td);
        free(ta);
        free(tb);
        free(tc);
        free(td);
    }
    struct strlist e = {0};
    naive_wordcount(b1, 2, &e);
    expect_call(&a, 0, &e, "first output");
    sl_free(&e);
    close_ctx();
    sink_free(&a);
    sink_free(&b);
    sink_free(&c);
    sink_free(&d);
}

static void test_schemas_of_operations(void **state) {
    (void)state;
    open_ctx(1, NULL);
    spate_dstream *q = lines_queue();
    spate_dstream *w = words_of(q);
    assert_int_equal(spate_dstream_num_columns(w), 1);
    assert_string_equal(spate_dstream_column(w, 0).name, "word");
    assert_int_equal(spate_dstream_column(w, 0).type, SPATE_TYPE_STRING);
    spate_dstream *p = pairs_of(w, 0, 1);
    assert_int_equal(spate_dstream_num_columns(p), 2);
    assert_string_equal(spate_dstream_column(p, 0).name, "word");
    assert_string_equal(spate_dstream_column(p, 1).name, "value");
    assert_int_equal(spate_dstream_column(p, 1).type, SPATE_TYPE_I64);
    assert_null(spate_dstream_column(p, 2).name);
    spate_dstream *r = reduce(p, 0, 1, SPATE_AGG_SUM, NULL);
    assert_string_equal(spate_dstream_column(r, 0).name, "word");
    assert_string_equal(spate_dstream_column(r, 1).name, "value");
    spate_dstream *rc = reduce(w, 0, 1, SPATE_AGG_COUNT, NULL);
    assert_int_equal(spate_dstream_num_columns(rc), 2);
    assert_string_equal(spate_dstream_column(rc, 1).name, "count");
    assert_int_equal(spate_dstream_column(rc, 1).type, SPATE_TYPE_I64);
    assert_ptr_equal(spate_dstream_context(rc), cur_ctx);
    /* Type errors are caught when the stream is defined. */
    struct spate_error err;
    spate_error_init(&err);
    assert_null(spate_dstream_reduce_by_key(w, NULL, &err)); /* SUM needs a value column */
    assert_true(err.message[0] != '\0');
    static const struct spate_column_def icols[] = {{"v", SPATE_TYPE_I64}};
    spate_dstream *iq = queue(icols, 1);
    spate_error_init(&err);
    assert_null(spate_dstream_flat_map_words(iq, &err));
    assert_true(err.message[0] != '\0');
    spate_error_init(&err);
    assert_null(spate_dstream_filter_string(iq, 0, "x", false, &err));
    assert_true(err.message[0] != '\0');
    close_ctx();
}

/* ---- Invariance over workers and ISAs ---- */

struct inv_result {
    char *text; /* every sink, every batch, canonical */
};

static const char *const isas[] = {"scalar", "avx2", "avx512"};

/* Runs the invariance graph over t (and pairs) and returns its canonical text, or NULL when the
 * ISA is not supported here. */
static char *invariance_run(uint32_t workers, const char *isa, const struct textgen *t,
                            const int64_t *k, const int64_t *v, size_t n, const char *prefix,
                            struct strlist *wc_expected) {
    char *saved = getenv("SPATE_ISA") != NULL ? strdup(getenv("SPATE_ISA")) : NULL;
    setenv("SPATE_ISA", isa, 1);
    struct spate_engine_opts eo;
    spate_engine_opts_init(&eo);
    eo.workers = workers;
    eo.pin_workers = false;
    struct spate_error err;
    spate_error_init(&err);
    spate_status rc = spate_engine_create(&eo, &cur_engine, &err);
    if (saved != NULL) {
        setenv("SPATE_ISA", saved, 1);
        free(saved);
    } else {
        unsetenv("SPATE_ISA");
    }
    if (rc == EINVAL) {
        assert_true(err.message[0] != '\0');
        assert_null(cur_engine);
        return NULL;
    }
    assert_int_equal(rc, SPATE_OK);
    assert_string_equal(spate_engine_isa(cur_engine), isa);
    struct spate_context_opts o;
    spate_context_opts_init(&o);
    o.batch_interval_ms = 1000;
    o.manual_clock = true;
    rc = spate_context_create(cur_engine, &o, &cur_ctx, &err);
    assert_int_equal(rc, SPATE_OK);

    spate_dstream *q = lines_queue();
    static const struct spate_column_def cols[] = {{"k", SPATE_TYPE_I64}, {"v", SPATE_TYPE_I64}};
    spate_dstream *iq = queue(cols, 2);
    enum { S = 7 };
    struct sink s[S];
    for (int i = 0; i < S; i++)
        sink_init(&s[i]);
    spate_dstream *words = words_of(q);
    add_sink(reduce(words, 0, 1, SPATE_AGG_COUNT, NULL), &s[0]);
    add_sink(reduce(pairs_of(filter_str(words, 0, prefix, true), 0, 1), 0, 1, SPATE_AGG_SUM, NULL),
             &s[1]);
    add_sink(count_of(filter_str(words, 0, t->vocab[7], false)), &s[2]);
    add_sink(reduce(filter_i64(iq, 1, SPATE_CMP_GE, 0), 0, 1, SPATE_AGG_SUM, NULL), &s[3]);
    add_sink(count_of(filter_i64(iq, 0, SPATE_CMP_LT, 100)), &s[4]);
    add_sink(reduce(iq, 0, 1, SPATE_AGG_MAX, user_max), &s[5]);
    add_sink(count_of(words), &s[6]);
    start_ctx();
    size_t half = t->nlines / 2;
    push_lines(q, (const char *const *)t->lines, half);
    push_lines(q, (const char *const *)t->lines + half, t->nlines - half);
    struct spate_column_data cd[2] = {{k, NULL}, {v, NULL}};
    push_cols(iq, cd, n);
    advance(3);
    struct sb out = {0};
    for (int i = 0; i < S; i++) {
        sink_check(&s[i], 3, 1000);
        for (uint32_t c = 0; c < 3; c++) {
            char *txt = call_text(&s[i], c);
            sb_printf(&out, "sink %d call %u\n", i, c);
            sb_put(&out, txt, strlen(txt));
            free(txt);
        }
    }
    if (wc_expected != NULL)
        expect_call(&s[0], 0, wc_expected, "invariance word count");
    close_ctx();
    for (int i = 0; i < S; i++)
        sink_free(&s[i]);
    return sb_take(&out);
}

static void test_invariance_workers_and_isa(void **state) {
    (void)state;
    struct textgen t;
    textgen_make(&t, 2024, 3000, 3000, 7);
    enum { N = 6000 };
    static int64_t k[N], v[N];
    rng_state = 77;
    for (size_t i = 0; i < N; i++) {
        k[i] = (int64_t)rnd_below(300);
        v[i] = (int64_t)rnd_below(2001) - 1000;
    }
    /* The most common two-letter prefix of the vocabulary makes a non-empty filter. */
    char prefix[3] = {t.vocab[0][0], t.vocab[0][1], '\0'};
    if (strlen(t.vocab[0]) < 2)
        prefix[1] = '\0';
    struct strlist wc = {0};
    naive_wordcount((const char *const *)t.lines, t.nlines / 2, &wc);

    static const uint32_t workers[] = {1, 2, 4};
    char *reference = NULL;
    int runs = 0;
    for (size_t wi = 0; wi < 3; wi++) {
        for (size_t ii = 0; ii < 3; ii++) {
            char *txt = invariance_run(workers[wi], isas[ii], &t, k, v, N, prefix,
                                       reference == NULL ? &wc : NULL);
            if (txt == NULL)
                continue;
            runs++;
            if (reference == NULL) {
                reference = txt;
                continue;
            }
            if (strcmp(reference, txt) != 0) {
                size_t at = 0;
                while (reference[at] == txt[at])
                    at++;
                size_t from = at > 60 ? at - 60 : 0;
                fail_msg("workers=%u isa=%s differs from workers=1 isa=scalar at byte %zu: "
                         "'%.120s' vs '%.120s'",
                         workers[wi], isas[ii], at, reference + from, txt + from);
            }
            free(txt);
        }
    }
    assert_true(runs >= 3);
    free(reference);
    sl_free(&wc);
    textgen_free(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_wordcount_whitespace, teardown),
        cmocka_unit_test_teardown(test_wordcount_one_batch_per_interval, teardown),
        cmocka_unit_test_teardown(test_wordcount_long_words, teardown),
        cmocka_unit_test_teardown(test_wordcount_many_keys, teardown),
        cmocka_unit_test_teardown(test_reduce_i64_keys, teardown),
        cmocka_unit_test_teardown(test_reduce_string_key_not_first, teardown),
        cmocka_unit_test_teardown(test_reduce_f64, teardown),
        cmocka_unit_test_teardown(test_count, teardown),
        cmocka_unit_test_teardown(test_filter_i64_ops, teardown),
        cmocka_unit_test_teardown(test_filter_timestamp, teardown),
        cmocka_unit_test_teardown(test_filter_string, teardown),
        cmocka_unit_test_teardown(test_filter_callback, teardown),
        cmocka_unit_test_teardown(test_map_callback, teardown),
        cmocka_unit_test_teardown(test_two_outputs_same_stream, teardown),
        cmocka_unit_test_teardown(test_schemas_of_operations, teardown),
        cmocka_unit_test_teardown(test_invariance_workers_and_isa, teardown),
    };
    return cmocka_run_group_tests_name("operations", tests, NULL, NULL);
}
