/*
 * tests/conformance/test_print.c - DStream.print, byte for byte as Spark
 * Streaming prints it:
 *
 *   -------------------------------------------
 *   Time: <batch time> ms
 *   -------------------------------------------
 *   <the first n records, one per line; tuples as (a,b)>
 *   ...                     (only when there are more than n)
 *   <empty line>
 *
 * Output goes to a temporary file through spate_dstream_print_fd (or to
 * stdout redirected into one) and is read back after spate_context_advance()
 * returns, which is after the batch's outputs are done. Contexts use the
 * manual clock. Where record order is not defined (reduce_by_key) the
 * records of a batch are compared as a set; elsewhere as text.
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
#include <sys/stat.h>
#include <unistd.h>

#include "spate/spate.h"

#define DASHES "-------------------------------------------"

/* ---- Text helpers ---- */

struct sb {
    char *p;
    size_t len, cap;
};

static void sb_put(struct sb *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
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

static void sb_puts(struct sb *b, const char *s) {
    sb_put(b, s, strlen(s));
}

static void sb_printf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sb *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    sb_put(b, tmp, (size_t)n);
}

static void sb_header(struct sb *b, int64_t time_ms) {
    sb_printf(b, DASHES "\nTime: %" PRId64 " ms\n" DASHES "\n", time_ms);
}

static void sb_free(struct sb *b) {
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* ---- Temporary output files ---- */

struct outfile {
    int fd;
    char path[64];
};

static void outfile_open(struct outfile *f) {
    const char *dir = getenv("TMPDIR");
    snprintf(f->path, sizeof(f->path), "%s/spate_print_XXXXXX",
             dir != NULL && strlen(dir) < 40 ? dir : "/tmp");
    f->fd = mkstemp(f->path);
    assert_true(f->fd >= 0);
    unlink(f->path); /* gone when closed */
}

/* Everything written to f so far. The caller frees it. */
static char *outfile_read(struct outfile *f) {
    struct stat st;
    assert_int_equal(fstat(f->fd, &st), 0);
    size_t n = (size_t)st.st_size;
    char *p = malloc(n + 1);
    assert_non_null(p);
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(f->fd, p + got, n - got, (off_t)got);
        assert_true(r > 0);
        got += (size_t)r;
    }
    p[n] = '\0';
    return p;
}

static void expect_text(struct outfile *f, const char *expected) {
    char *got = outfile_read(f);
    if (strcmp(got, expected) != 0) {
        size_t at = 0;
        while (got[at] != '\0' && got[at] == expected[at])
            at++;
        fail_msg("print output differs at byte %zu.\n--- got ---\n%s--- expected ---\n%s", at, got,
                 expected);
    }
    free(got);
}

/* ---- Engine and context of one test; torn down even when it fails ---- */

static spate_engine *cur_engine;
static spate_context *cur_ctx;
static struct outfile files[4];
static int nfiles;

static void open_ctx(uint32_t workers, int64_t zero_ms, int64_t interval_ms) {
    struct spate_engine_opts eo;
    spate_engine_opts_init(&eo);
    eo.workers = workers;
    eo.pin_workers = false;
    eo.name = "print";
    struct spate_error err;
    spate_error_init(&err);
    spate_status rc = spate_engine_create(&eo, &cur_engine, &err);
    if (rc != SPATE_OK)
        fail_msg("engine_create: %d %s", rc, err.message);
    struct spate_context_opts o;
    spate_context_opts_init(&o);
    o.batch_interval_ms = interval_ms;
    o.zero_time_ms = zero_ms;
    o.manual_clock = true;
    rc = spate_context_create(cur_engine, &o, &cur_ctx, &err);
    if (rc != SPATE_OK)
        fail_msg("context_create: %d %s", rc, err.message);
}

static struct outfile *new_file(void) {
    assert_true(nfiles < 4);
    struct outfile *f = &files[nfiles++];
    outfile_open(f);
    return f;
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
    bool stopped;
    rc = spate_context_await_termination_timeout(cur_ctx, 0, &stopped, &err);
    if (rc != SPATE_OK)
        fail_msg("a batch failed: %d %s", rc, err.message);
}

static int teardown(void **state) {
    (void)state;
    if (cur_ctx != NULL) {
        spate_status rc = spate_context_stop(cur_ctx, true, false, NULL);
        spate_context_destroy(cur_ctx);
        cur_ctx = NULL;
        if (rc == SPATE_OK)
            cur_engine = NULL; /* stopped with the context */
    }
    spate_engine_destroy(cur_engine);
    cur_engine = NULL;
    for (int i = 0; i < nfiles; i++)
        close(files[i].fd);
    nfiles = 0;
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

static void print_to(spate_dstream *ds, uint32_t n, struct outfile *f) {
    assert_non_null(ds);
    struct spate_error err;
    spate_error_init(&err);
    spate_status rc = spate_dstream_print_fd(ds, n, f->fd, &err);
    if (rc != SPATE_OK)
        fail_msg("print_fd: %d %s", rc, err.message);
}

static spate_dstream *checked(spate_dstream *ds, const struct spate_error *err) {
    if (ds == NULL)
        fail_msg("defining a stream failed: %s", err->message);
    return ds;
}

/* A string view of s (borrowed). */
static struct spate_string view_of(const char *s) {
    struct spate_string v;
    memset(&v, 0, sizeof(v));
    v.len = (uint32_t)strlen(s);
    memcpy(v.prefix, s, v.len < 4 ? v.len : 4);
    if (v.len <= SPATE_STRING_INLINE) {
        if (v.len > 4)
            memcpy(v.u.inlined, s + 4, v.len - 4);
    } else {
        v.u.ptr = s;
    }
    return v;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The text of one printed batch of time t whose records (in any order) are
 * exp[0..n), with "..." when more is set. Returns the text after that batch.
 */
static const char *expect_batch_set(const char *text, int64_t t, const char *const *exp, size_t n,
                                    bool more) {
    struct sb h = {0};
    sb_header(&h, t);
    if (strncmp(text, h.p, h.len) != 0)
        fail_msg("expected header '%s' at '%.80s'", h.p, text);
    text += h.len;
    sb_free(&h);
    char **got = calloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        const char *nl = strchr(text, '\n');
        if (nl == NULL)
            fail_msg("record %zu of batch %" PRId64 " missing", i, t);
        got[i] = strndup(text, (size_t)(nl - text));
        text = nl + 1;
    }
    char **want = calloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        want[i] = strdup(exp[i]);
    qsort(got, n, sizeof(char *), cmp_str);
    qsort(want, n, sizeof(char *), cmp_str);
    for (size_t i = 0; i < n; i++)
        if (strcmp(got[i], want[i]) != 0)
            fail_msg("batch %" PRId64 ": record '%s', expected '%s'", t, got[i], want[i]);
    for (size_t i = 0; i < n; i++) {
        free(got[i]);
        free(want[i]);
    }
    free(got);
    free(want);
    if (more) {
        if (strncmp(text, "...\n", 4) != 0)
            fail_msg("batch %" PRId64 ": expected '...' at '%.40s'", t, text);
        text += 4;
    }
    if (text[0] != '\n')
        fail_msg("batch %" PRId64 ": expected the empty line at '%.40s'", t, text);
    return text + 1;
}

/* ---- Tests ---- */

static void test_dashes(void **state) {
    (void)state;
    assert_int_equal(strlen(DASHES), 43); /* Spark's line */
}

static void test_batch_times_and_raw_values(void **state) {
    (void)state;
    open_ctx(1, 0, 1000);
    struct outfile *f = new_file();
    spate_dstream *q = lines_queue();
    print_to(q, 10, f);
    start_ctx();
    static const char *const b1[] = {"hello", "world"};
    push_lines(q, b1, 2);
    advance(1);
    struct sb e = {0};
    sb_header(&e, 1000);
    sb_puts(&e, "hello\nworld\n\n");
    expect_text(f, e.p);
    advance(1);
    sb_header(&e, 2000);
    sb_puts(&e, "\n");
    expect_text(f, e.p);
    sb_free(&e);
}

static void test_zero_time_and_interval(void **state) {
    (void)state;
    open_ctx(2, 500, 250);
    struct outfile *f = new_file();
    spate_dstream *q = lines_queue();
    print_to(q, 3, f);
    start_ctx();
    static const char *const b2[] = {"x"};
    advance(1);
    push_lines(q, b2, 1);
    advance(2);
    struct sb e = {0};
    sb_header(&e, 750);
    sb_puts(&e, "\n");
    sb_header(&e, 1000);
    sb_puts(&e, "x\n\n");
    sb_header(&e, 1250);
    sb_puts(&e, "\n");
    expect_text(f, e.p);
    sb_free(&e);
}

static void test_n_zero_means_ten(void **state) {
    (void)state;
    open_ctx(1, 0, 1000);
    struct outfile *f = new_file();
    spate_dstream *q = lines_queue();
    print_to(q, 0, f);
    start_ctx();
    static const char *const lines[] = {"l0", "l1", "l2",  "l3",  "l4",  "l5",  "l6", "l7",
                                        "l8", "l9", "l10", "l11", "l12", "l13", "l14"};
    push_lines(q, lines, 15);
    push_lines(q, lines, 10);
    push_lines(q, lines, 11);
    advance(3);
    struct sb e = {0};
    sb_header(&e, 1000);
    for (int i = 0; i < 10; i++)
        sb_printf(&e, "l%d\n", i);
    sb_puts(&e, "...\n\n");
    sb_header(&e, 2000);
    for (int i = 0; i < 10; i++)
        sb_printf(&e, "l%d\n", i);
    sb_puts(&e, "\n");
    sb_header(&e, 3000);
    for (int i = 0; i < 10; i++)
        sb_printf(&e, "l%d\n", i);
    sb_puts(&e, "...\n\n");
    expect_text(f, e.p);
    sb_free(&e);
}

static void test_exactly_n_and_one_more(void **state) {
    (void)state;
    open_ctx(1, 0, 1000);
    struct outfile *f2 = new_file(), *f3 = new_file(), *f4 = new_file(), *f1 = new_file();
    spate_dstream *q = lines_queue();
    print_to(q, 2, f2);
    print_to(q, 3, f3);
    print_to(q, 4, f4);
    print_to(q, 1, f1);
    start_ctx();
    static const char *const rows[] = {"r1", "r2", "r3"};
    push_lines(q, rows, 3);
    advance(1);
    struct sb e = {0};
    sb_header(&e, 1000);
    sb_puts(&e, "r1\nr2\n...\n\n");
    expect_text(f2, e.p);
    sb_free(&e);
    sb_header(&e, 1000);
    sb_puts(&e, "r1\nr2\nr3\n\n");
    expect_text(f3, e.p);
    expect_text(f4, e.p);
    sb_free(&e);
    sb_header(&e, 1000);
    sb_puts(&e, "r1\n...\n\n");
    expect_text(f1, e.p);
    sb_free(&e);
}

static void test_empty_batch(void **state) {
    (void)state;
    open_ctx(2, 0, 1000);
    struct outfile *f = new_file();
    spate_dstream *q = lines_queue();
    print_to(q, 5, f);
    start_ctx();
    push_lines(q, NULL, 0); /* an empty batch pushed */
    advance(2);             /* ... and one with nothing queued */
    struct sb e = {0};
    sb_header(&e, 1000);
    sb_puts(&e, "\n");
    sb_header(&e, 2000);
    sb_puts(&e, "\n");
    expect_text(f, e.p);
    sb_free(&e);
}

static void test_raw_strings(void **state) {
    (void)state;
    char long_line[101];
    for (int i = 0; i < 100; i++)
        long_line[i] = (char)('a' + i % 26);
    long_line[100] = '\0';
    const char *rows[] = {"two words", "a,b",          "(paren)",       "",           "tab\there",
                          long_line,   "exactly12byt", "thirteen byte", "\"quoted\"", "null"};
    open_ctx(1, 0, 1000);
    struct outfile *f = new_file();
    spate_dstream *q = lines_queue();
    print_to(q, 20, f);
    start_ctx();
    push_lines(q, rows, 10);
    advance(1);
    struct sb e = {0};
    sb_header(&e, 1000);
    for (int i = 0; i < 10; i++) {
        sb_puts(&e, rows[i]);
        sb_puts(&e, "\n");
    }
    sb_puts(&e, "\n");
    expect_text(f, e.p);
    sb_free(&e);
}

static void test_words_single_column(void **state) {
    (void)state;
    open_ctx(1, 0, 1000);
    struct outfile *f = new_file();
    spate_dstream *q = lines_queue();
    struct spate_error err;
    spate_error_init(&err);
    print_to(checked(spate_dstream_flat_map_words(q, &err), &err), 4, f);
    start_ctx();
    static const char *const rows[] = {"  to be\tor", "not to be"};
    push_lines(q, rows, 2);
    advance(1);
    struct sb e = {0};
    sb_header(&e, 1000);
    sb_puts(&e, "to\nbe\nor\nnot\n...\n\n");
    expect_text(f, e.p);
    sb_free(&e);
}

static void test_pairs(void **state) {
    (void)state;
    open_ctx(2, 0, 1000);
    struct outfile *f = new_file(), *fp = new_file();
    spate_dstream *q = lines_queue();
    struct spate_error err;
    spate_error_init(&err);
    spate_dstream *pairs = checked(
        spate_dstream_map_to_pair(checked(spate_dstream_flat_map_words(q, &err), &err), 0, 1, &err),
        &err);
    struct spate_reduce_opts ro;
    spate_reduce_opts_init(&ro);
    spate_dstream *counts = checked(spate_dstream_reduce_by_key(pairs, &ro, &err), &err);
    print_to(counts, 10, f);
    print_to(pairs, 2, fp);
    start_ctx();
    static const char *const b1[] = {"word word word"};
    static const char *const b2[] = {"a b a c", "a b"};
    push_lines(q, b1, 1);
    push_lines(q, b2, 2);
    advance(2);
    struct sb e = {0};
    sb_header(&e, 1000);
    sb_puts(&e, "(word,3)\n\n");
    char *text = outfile_read(f);
    if (strncmp(text, e.p, e.len) != 0)
        fail_msg("got\n%s\nexpected to start with\n%s", text, e.p);
    static const char *const exp2[] = {"(a,3)", "(b,2)", "(c,1)"};
    const char *rest = expect_batch_set(text + e.len, 2000, exp2, 3, false);
    assert_string_equal(rest, "");
    free(text);
    sb_free(&e);
    /* map_to_pair keeps the order of its input. */
    sb_header(&e, 1000);
    sb_puts(&e, "(word,1)\n(word,1)\n...\n\n");
    sb_header(&e, 2000);
    sb_puts(&e, "(a,1)\n(b,1)\n...\n\n");
    expect_text(fp, e.p);
    sb_free(&e);
}

static void test_f64_like_java(void **state) {
    (void)state;
    open_ctx(1, 0, 1000);
    struct outfile *f = new_file(), *fs = new_file();
    static const struct spate_column_def cols[] = {{"k", SPATE_TYPE_STRING}, {"v", SPATE_TYPE_F64}};
    spate_dstream *q = queue(cols, 2);
    print_to(q, 10, f);
    struct spate_reduce_opts ro;
    spate_reduce_opts_init(&ro);
    struct spate_error err;
    spate_error_init(&err);
    print_to(checked(spate_dstream_reduce_by_key(q, &ro, &err), &err), 10, fs);
    start_ctx();
    struct spate_string keys[4] = {view_of("a"), view_of("b"), view_of("c"), view_of("c")};
    static const double vals[4] = {1.0, 2.5, 0.25, 0.75};
    struct spate_column_data cd[2] = {{keys, NULL}, {vals, NULL}};
    push_cols(q, cd, 4);
    advance(1);
    struct sb e = {0};
    sb_header(&e, 1000);
    sb_puts(&e, "(a,1.0)\n(b,2.5)\n(c,0.25)\n(c,0.75)\n\n");
    expect_text(f, e.p);
    sb_free(&e);
    /* Sums print the same way: 0.25 + 0.75 is 1.0, not 1. */
    char *text = outfile_read(fs);
    static const char *const exp[] = {"(a,1.0)", "(b,2.5)", "(c,1.0)"};
    assert_string_equal(expect_batch_set(text, 1000, exp, 3, false), "");
    free(text);
}

struct f64_case {
    double v;
    const char *java; /* Java's Double.toString(v) */
};

/* A one-column f64 stream of cases[] prints each value as Java does. */
static void check_f64_forms(const struct f64_case *cases, int n) {
    double *vals = calloc((size_t)n, sizeof(double));
    assert_non_null(vals);
    for (int i = 0; i < n; i++)
        vals[i] = cases[i].v;
    open_ctx(1, 0, 1000);
    struct outfile *f = new_file();
    static const struct spate_column_def cols[] = {{"v", SPATE_TYPE_F64}};
    spate_dstream *q = queue(cols, 1);
    print_to(q, (uint32_t)n, f);
    start_ctx();
    struct spate_column_data cd[1] = {{vals, NULL}};
    push_cols(q, cd, (uint64_t)n);
    advance(1);
    free(vals);
    struct sb e = {0};
    sb_header(&e, 1000);
    for (int i = 0; i < n; i++) {
        sb_puts(&e, cases[i].java);
        sb_puts(&e, "\n");
    }
    sb_puts(&e, "\n");
    expect_text(f, e.p);
    sb_free(&e);
}

static void test_f64_java_forms(void **state) {
    (void)state;
    static const struct f64_case cases[] = {
        {1.0, "1.0"},
        {2.5, "2.5"},
        {-0.5, "-0.5"},
        {0.0, "0.0"},
        {-0.0, "-0.0"},
        {0.1, "0.1"},
        {123.456, "123.456"},
        {15.0, "15.0"},
        {1234567.0, "1234567.0"},
        {9999999.0, "9999999.0"},
        {1.0e7, "1.0E7"},
        {12345678.0, "1.2345678E7"},
        {0.001, "0.001"},
        {1.0e-4, "1.0E-4"},
        {-2.5e-5, "-2.5E-5"},
        {1.0e21, "1.0E21"},
        {1.7976931348623157e308, "1.7976931348623157E308"},
        {NAN, "NaN"},
        {INFINITY, "Infinity"},
        {-INFINITY, "-Infinity"},
    };
    check_f64_forms(cases, (int)(sizeof(cases) / sizeof(cases[0])));
}

/* Regression: integral values whose shortest %g form has fewer digits than the integer part
 * (10, 100, 1500, ...) must still print in plain notation with ".0", as Java does. */
static void test_f64_integral_with_trailing_zeros(void **state) {
    (void)state;
    static const struct f64_case cases[] = {
        {10.0, "10.0"},   {100.0, "100.0"},   {20.0, "20.0"},           {1500.0, "1500.0"},
        {120.0, "120.0"}, {-300.0, "-300.0"}, {2000000.0, "2000000.0"}, {12.5, "12.5"},
    };
    check_f64_forms(cases, (int)(sizeof(cases) / sizeof(cases[0])));
}

static void test_tuples_of_three_and_i64(void **state) {
    (void)state;
    open_ctx(1, 0, 1000);
    struct outfile *f = new_file(), *fi = new_file();
    static const struct spate_column_def cols[] = {
        {"s", SPATE_TYPE_STRING}, {"n", SPATE_TYPE_I64}, {"x", SPATE_TYPE_F64}};
    spate_dstream *q = queue(cols, 3);
    print_to(q, 10, f);
    static const struct spate_column_def icols[] = {{"n", SPATE_TYPE_I64}};
    spate_dstream *iq = queue(icols, 1);
    print_to(iq, 10, fi);
    start_ctx();
    struct spate_string s[3] = {view_of("x"), view_of("a longer string here"), view_of("")};
    static const int64_t n[3] = {5, -42, INT64_MIN};
    static const double x[3] = {2.5, -1.0, 1e100};
    struct spate_column_data cd[3] = {{s, NULL}, {n, NULL}, {x, NULL}};
    push_cols(q, cd, 3);
    static const int64_t iv[4] = {0, -1, INT64_MAX, INT64_MIN};
    struct spate_column_data icd[1] = {{iv, NULL}};
    push_cols(iq, icd, 4);
    advance(1);
    struct sb e = {0};
    sb_header(&e, 1000);
    sb_puts(&e, "(x,5,2.5)\n(a longer string here,-42,-1.0)\n(,-9223372036854775808,1.0E100)\n\n");
    expect_text(f, e.p);
    sb_free(&e);
    sb_header(&e, 1000);
    sb_puts(&e, "0\n-1\n9223372036854775807\n-9223372036854775808\n\n");
    expect_text(fi, e.p);
    sb_free(&e);
}

static void test_bool_and_null(void **state) {
    (void)state;
    open_ctx(1, 0, 1000);
    struct outfile *f = new_file();
    static const struct spate_column_def cols[] = {{"s", SPATE_TYPE_STRING},
                                                   {"b", SPATE_TYPE_BOOL}};
    spate_dstream *q = queue(cols, 2);
    print_to(q, 10, f);
    start_ctx();
    struct spate_string s[3] = {view_of("yes"), view_of("gone"), view_of("no")};
    static const uint8_t b[3] = {1, 0, 0};
    static const uint64_t s_valid[1] = {0x5}; /* row 1 null */
    static const uint64_t b_valid[1] = {0x3}; /* row 2 null */
    struct spate_column_data cd[2] = {{s, s_valid}, {b, b_valid}};
    push_cols(q, cd, 3);
    advance(1);
    struct sb e = {0};
    sb_header(&e, 1000);
    sb_puts(&e, "(yes,true)\n(null,false)\n(no,null)\n\n");
    expect_text(f, e.p);
    sb_free(&e);
}

static void test_count_prints_zero(void **state) {
    (void)state;
    open_ctx(2, 0, 1000);
    struct outfile *f = new_file();
    spate_dstream *q = lines_queue();
    struct spate_error err;
    spate_error_init(&err);
    print_to(checked(spate_dstream_count(q, &err), &err), 10, f);
    start_ctx();
    static const char *const rows[] = {"a", "b", "c"};
    advance(1);
    push_lines(q, rows, 3);
    advance(1);
    struct sb e = {0};
    sb_header(&e, 1000);
    sb_puts(&e, "0\n\n");
    sb_header(&e, 2000);
    sb_puts(&e, "3\n\n");
    expect_text(f, e.p);
    sb_free(&e);
}

/* print() writes to stdout. */
static void test_print_to_stdout(void **state) {
    (void)state;
    open_ctx(1, 0, 1000);
    struct outfile *f = new_file();
    spate_dstream *q = lines_queue();
    struct spate_error err;
    spate_error_init(&err);
    assert_int_equal(spate_dstream_print(q, 2, &err), SPATE_OK);
    start_ctx();
    static const char *const rows[] = {"out", "put", "more"};
    push_lines(q, rows, 3);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(f->fd, STDOUT_FILENO) >= 0);
    struct spate_error aerr;
    spate_error_init(&aerr);
    spate_status rc = spate_context_advance(cur_ctx, 1, &aerr);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    assert_int_equal(rc, SPATE_OK);
    struct sb e = {0};
    sb_header(&e, 1000);
    sb_puts(&e, "out\nput\n...\n\n");
    expect_text(f, e.p);
    sb_free(&e);
}

/* With several workers and chunks, print shows the first n records in the batch's order. */
struct firsts {
    pthread_mutex_t mu;
    struct sb text; /* first 10 records, one per line */
};

static spate_status first_ten(void *user, const spate_batch *batch, struct spate_error *err) {
    (void)err;
    struct firsts *fs = user;
    pthread_mutex_lock(&fs->mu);
    uint32_t seen = 0;
    for (uint32_t p = 0; p < spate_batch_num_partitions(batch) && seen < 10; p++) {
        for (uint32_t c = 0; c < spate_batch_num_chunks(batch, p) && seen < 10; c++) {
            struct spate_chunk_view v;
            if (spate_batch_chunk(batch, p, c, &v) != SPATE_OK)
                break;
            for (uint32_t r = 0; r < v.rows && seen < 10; r++, seen++) {
                const char *d;
                uint32_t len;
                if (spate_chunk_get_string(&v, 0, r, &d, &len))
                    sb_put(&fs->text, d, len);
                sb_put(&fs->text, "\n", 1);
            }
        }
    }
    pthread_mutex_unlock(&fs->mu);
    return SPATE_OK;
}

static void test_first_n_in_batch_order(void **state) {
    (void)state;
    enum { N = 5000 };
    static char buf[N][8];
    static const char *rows[N];
    for (int i = 0; i < N; i++) {
        snprintf(buf[i], sizeof(buf[i]), "r%d", i);
        rows[i] = buf[i];
    }
    open_ctx(2, 0, 1000);
    struct outfile *f = new_file();
    spate_dstream *q = lines_queue();
    print_to(q, 10, f);
    struct firsts fs;
    memset(&fs, 0, sizeof(fs));
    pthread_mutex_init(&fs.mu, NULL);
    struct spate_error err;
    spate_error_init(&err);
    assert_int_equal(spate_dstream_foreach_batch(q, first_ten, &fs, &err), SPATE_OK);
    start_ctx();
    push_lines(q, rows, N);
    advance(1);
    struct sb e = {0};
    sb_header(&e, 1000);
    pthread_mutex_lock(&fs.mu);
    sb_puts(&e, fs.text.p);
    pthread_mutex_unlock(&fs.mu);
    sb_puts(&e, "...\n\n");
    expect_text(f, e.p);
    sb_free(&e);
    sb_free(&fs.text);
    pthread_mutex_destroy(&fs.mu);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dashes),
        cmocka_unit_test_teardown(test_batch_times_and_raw_values, teardown),
        cmocka_unit_test_teardown(test_zero_time_and_interval, teardown),
        cmocka_unit_test_teardown(test_n_zero_means_ten, teardown),
        cmocka_unit_test_teardown(test_exactly_n_and_one_more, teardown),
        cmocka_unit_test_teardown(test_empty_batch, teardown),
        cmocka_unit_test_teardown(test_raw_strings, teardown),
        cmocka_unit_test_teardown(test_words_single_column, teardown),
        cmocka_unit_test_teardown(test_pairs, teardown),
        cmocka_unit_test_teardown(test_f64_like_java, teardown),
        cmocka_unit_test_teardown(test_f64_java_forms, teardown),
        cmocka_unit_test_teardown(test_f64_integral_with_trailing_zeros, teardown),
        cmocka_unit_test_teardown(test_tuples_of_three_and_i64, teardown),
        cmocka_unit_test_teardown(test_bool_and_null, teardown),
        cmocka_unit_test_teardown(test_count_prints_zero, teardown),
        cmocka_unit_test_teardown(test_print_to_stdout, teardown),
        cmocka_unit_test_teardown(test_first_n_in_batch_order, teardown),
    };
    return cmocka_run_group_tests_name("print", tests, NULL, NULL);
}
