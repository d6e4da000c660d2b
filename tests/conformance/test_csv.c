/*
 * tests/conformance/test_csv.c - parse_csv: lines into typed columns.
 *
 * Exact values for every type and form (quotes, "" escapes, empty fields as
 * nulls, CRLF, ISO-8601 timestamps with fractions and offsets, epoch
 * milliseconds, bool spellings); malformed lines of each kind counted
 * exactly and written to the dead-letter file while the lines around them
 * are kept in order; a random mix checked against a naive parse with 1, 2
 * and 4 workers and on every ISA (the conformance runs); definition errors.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "spate/spate.h"

#include "harness.h"

/* Every row of every batch rendered as text, in order (one partition per queue batch). */
struct rows {
    uint32_t n;
    char line[4096][160];
};

static void render(char *buf, size_t cap, const struct spate_chunk_view *v, uint32_t r) {
    size_t at = 0;
    for (uint32_t c = 0; c < v->num_columns && at < cap; c++) {
        char cell[96];
        int64_t i;
        double f;
        const char *s;
        uint32_t len;
        switch (v->columns[c].type) {
        case SPATE_TYPE_F64:
            if (spate_chunk_get_f64(v, c, r, &f))
                snprintf(cell, sizeof(cell), "%.17g", f);
            else
                snprintf(cell, sizeof(cell), "null");
            break;
        case SPATE_TYPE_STRING:
            if (spate_chunk_get_string(v, c, r, &s, &len))
                snprintf(cell, sizeof(cell), "[%.*s]", (int)len, s);
            else
                snprintf(cell, sizeof(cell), "null");
            break;
        case SPATE_TYPE_BOOL: {
            const struct spate_column_view *col = &v->columns[c];
            uint32_t phys = v->sel ? v->sel[r] : r;
            if (col->validity && !((col->validity[phys >> 6] >> (phys & 63)) & 1))
                snprintf(cell, sizeof(cell), "null");
            else
                snprintf(cell, sizeof(cell), "%s",
                         ((const uint8_t *)col->data)[phys] ? "true" : "false");
            break;
        }
        default:
            if (spate_chunk_get_i64(v, c, r, &i))
                snprintf(cell, sizeof(cell), "%lld", (long long)i);
            else
                snprintf(cell, sizeof(cell), "null");
            break;
        }
        at += (size_t)snprintf(buf + at, cap - at, "%s%s", c ? "|" : "", cell);
    }
}

static spate_status collect(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    struct rows *out = user;
    for (uint32_t p = 0; p < spate_batch_num_partitions(b); p++)
        for (uint32_t k = 0; k < spate_batch_num_chunks(b, p); k++) {
            struct spate_chunk_view v;
            if (spate_batch_chunk(b, p, k, &v) != SPATE_OK)
                return EIO;
            for (uint32_t r = 0; r < v.rows && out->n < 4096; r++)
                render(out->line[out->n++], sizeof(out->line[0]), &v, r);
        }
    return SPATE_OK;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(a, b);
}

static const struct spate_column_def cols5[] = {{"id", SPATE_TYPE_I64},
                                                {"x", SPATE_TYPE_F64},
                                                {"ok", SPATE_TYPE_BOOL},
                                                {"t", SPATE_TYPE_TIMESTAMP},
                                                {"name", SPATE_TYPE_STRING}};

static struct rows got;

/* Run lines through parse_csv (cols5 unless given) on one batch; return the stream. */
static uint64_t run_lines(const char *const *lines, uint32_t n, const char *dead_letter,
                          uint32_t workers) {
    spate_context *ctx = harness_manual_ctx(workers);
    struct spate_error err;
    struct spate_column_def lc[] = {{"line", SPATE_TYPE_STRING}};
    spate_dstream *q = spate_context_queue_stream(ctx, lc, 1, &err);
    assert_non_null(q);
    struct spate_csv_opts o;
    spate_csv_opts_init(&o);
    o.dead_letter = dead_letter;
    spate_dstream *p = spate_dstream_parse_csv(q, cols5, 5, &o, &err);
    if (p == NULL)
        fail_msg("parse_csv: %s", err.message);
    memset(&got, 0, sizeof(got));
    assert_int_equal(spate_dstream_foreach_batch(p, collect, &got, &err), SPATE_OK);
    assert_int_equal(spate_queue_push_lines(q, lines, n, &err), SPATE_OK);
    harness_run_keep(ctx, 1);
    uint64_t malformed = spate_dstream_malformed(p);
    harness_close(ctx);
    return malformed;
}

static void every_type_and_form(void **state) {
    (void)state;
    static const char *lines[] = {
        "1,2.5,true,2026-11-25T21:00:00Z,plain",
        "-7,-0.125,FALSE,2026-11-25,\"quoted, with a comma\"",
        "+3,1e3,1,2026-11-25 21:00:00.5+01:00,\"say \"\"hi\"\"\"",
        "9223372036854775807,NaN,0,1764104400123,a string longer than twelve bytes\r",
        ",,,,",
        "4,Infinity,true,2026-02-28T23:59:59.999999999Z,\"\"",
        "5,0.1,True,2026-11-25T21:00Z,x",
    };
    uint64_t bad = run_lines(lines, 7, NULL, 2);
    assert_int_equal(bad, 0);
    static const char *want[] = {
        "1|2.5|true|1795640400000000000|[plain]",
        "-7|-0.125|false|1795564800000000000|[quoted, with a comma]",
        "3|1000|true|1795636800500000000|[say \"hi\"]",
        "9223372036854775807|nan|false|1764104400123000000|[a string longer than twelve bytes]",
        "null|null|null|null|null",
        "4|inf|true|1772323199999999999|[]",
        "5|0.10000000000000001|true|1795640400000000000|[x]",
    };
    assert_int_equal(got.n, 7);
    for (uint32_t i = 0; i < 7; i++)
        assert_string_equal(got.line[i], want[i]);
}

static void malformed_lines_are_counted_and_kept_aside(void **state) {
    (void)state;
    char path[] = "/tmp/spate-dead-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    static const char *lines[] = {
        "1,1.0,true,2026-01-01,a",                    /* good */
        "2,1.0,true,2026-01-01",                      /* 4 fields */
        "3,1.0,true,2026-01-01,a,extra",              /* 6 fields */
        "4x,1.0,true,2026-01-01,a",                   /* bad i64 */
        "5,1.0.0,true,2026-01-01,a",                  /* bad f64 */
        "6,1.0,yes,2026-01-01,a",                     /* bad bool */
        "7,1.0,true,2026-13-01,a",                    /* bad timestamp */
        "8,1.0,true,2026-01-01,\"unterminated",       /* quote */
        "9,1.0,true,2026-01-01,\"a\"b",               /* text after the quote */
        "10,1.0,true,2026-01-01,b",                   /* good */
        "",                                           /* blank: skipped, not counted */
        "99999999999999999999,1.0,true,2026-01-01,a", /* out of range */
        "11,1.0,true,2026-02-29,a",                   /* not a leap year */
        "12,1.0,true,2024-02-29T10:00:00-02:30,c",    /* good */
        "13,1.0,true,2026-01-01T25:00,a",             /* bad hour */
    };
    uint64_t bad = run_lines(lines, 15, path, 2);
    assert_int_equal(bad, 11);
    assert_int_equal(got.n, 3);
    assert_string_equal(got.line[0], "1|1|true|1767225600000000000|[a]");
    assert_string_equal(got.line[1], "10|1|true|1767225600000000000|[b]");
    assert_string_equal(got.line[2], "12|1|true|1709209800000000000|[c]");
    /* The dead-letter file: the malformed lines as they came, each whole (their order is the
     * order within a chunk; partitions run in parallel, so compare them sorted). */
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char got_lines[16][64], want_lines[16][64];
    uint32_t ng = 0;
    while (ng < 16 && fgets(got_lines[ng], sizeof(got_lines[0]), f) != NULL)
        ng++;
    fclose(f);
    unlink(path);
    static const int bad_idx[] = {1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 14};
    uint32_t nw = (uint32_t)(sizeof(bad_idx) / sizeof(bad_idx[0]));
    for (uint32_t i = 0; i < nw; i++)
        snprintf(want_lines[i], sizeof(want_lines[0]), "%s\n", lines[bad_idx[i]]);
    assert_int_equal(ng, nw);
    qsort(got_lines, ng, sizeof(got_lines[0]), cmp_str);
    qsort(want_lines, nw, sizeof(want_lines[0]), cmp_str);
    for (uint32_t i = 0; i < nw; i++)
        assert_string_equal(got_lines[i], want_lines[i]);
}

/* A random mix of good and bad lines against a naive expectation, any worker count. */
static void random_lines_match_naive(void **state) {
    (void)state;
    enum { N = 3000 };
    static char text[N][96];
    static const char *lines[N];
    static char want[N][160];
    uint32_t nwant = 0, nbad = 0;
    uint64_t x = 99;
    for (uint32_t i = 0; i < N; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        int64_t id = (int64_t)(x >> 20) % 2000000 - 1000000;
        int kind = (int)((x >> 8) % 10);
        double v = (double)((x >> 30) % 100000) / 64.0; /* exact in binary */
        lines[i] = text[i];
        switch (kind) {
        case 0: /* bad number */
            snprintf(text[i], sizeof(text[i]), "%lldq,%.6f,true,1000,w%u", (long long)id, v, i);
            nbad++;
            break;
        case 1: /* missing field */
            snprintf(text[i], sizeof(text[i]), "%lld,%.6f,true,1000", (long long)id, v);
            nbad++;
            break;
        default:
            snprintf(text[i], sizeof(text[i]), "%lld,%.6f,%s,%lld,%s%u", (long long)id, v,
                     kind % 2 ? "true" : "false", (long long)i * 7,
                     kind == 9 ? "a-rather-long-name-" : "w", i);
            snprintf(want[nwant++], sizeof(want[0]), "%lld|%.17g|%s|%lld|[%s%u]", (long long)id, v,
                     kind % 2 ? "true" : "false", (long long)i * 7000000,
                     kind == 9 ? "a-rather-long-name-" : "w", i);
            break;
        }
    }
    for (uint32_t workers = 1; workers <= 4; workers *= 2) {
        uint64_t bad = run_lines(lines, N, NULL, workers);
        assert_int_equal(bad, nbad);
        assert_int_equal(got.n, nwant);
        for (uint32_t i = 0; i < nwant; i++)
            assert_string_equal(got.line[i], want[i]);
    }
}

static void definition_errors(void **state) {
    (void)state;
    spate_context *ctx = harness_manual_ctx(1);
    struct spate_error err;
    struct spate_column_def lc[] = {{"n", SPATE_TYPE_I64}, {"line", SPATE_TYPE_STRING}};
    spate_dstream *q = spate_context_queue_stream(ctx, lc, 2, &err);
    struct spate_csv_opts o;
    spate_csv_opts_init(&o);
    assert_null(spate_dstream_parse_csv(q, cols5, 5, &o, &err)); /* column 0 is not a string */
    assert_non_null(strstr(err.message, "must exist and be a string"));
    o.col = 1;
    assert_non_null(spate_dstream_parse_csv(q, cols5, 5, &o, &err));
    assert_null(spate_dstream_parse_csv(q, cols5, 0, &o, &err));
    o.delimiter = '"';
    assert_null(spate_dstream_parse_csv(q, cols5, 5, &o, &err));
    o.delimiter = '\t';
    o.dead_letter = "/nonexistent-dir/dead.txt";
    assert_null(spate_dstream_parse_csv(q, cols5, 5, &o, &err));
    assert_non_null(strstr(err.message, "dead-letter"));
    o.dead_letter = NULL;
    struct spate_column_def lists[] = {{"l", SPATE_LIST_OF(SPATE_TYPE_I64)}};
    assert_null(spate_dstream_parse_csv(q, lists, 1, &o, &err));
    assert_int_equal(spate_dstream_malformed(q), 0);
    harness_close(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_type_and_form),
        cmocka_unit_test(malformed_lines_are_counted_and_kept_aside),
        cmocka_unit_test(random_lines_match_naive),
        cmocka_unit_test(definition_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
