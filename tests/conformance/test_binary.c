/*
 * tests/conformance/test_binary.c - parse_binary: fixed-width little-endian
 * records into typed columns.
 *
 * Exact values for every type and width (i64 and int32, double and float,
 * bool, millisecond timestamps, NUL-trimmed strings with NUL bytes inside,
 * unaligned offsets, short records held inline in their views); malformed
 * records of each kind (length, bool byte, timestamp range) counted exactly
 * and written to the dead-letter file as hex while the records around them
 * are kept in order; random records with explicit and packed layouts
 * against a naive decode with 1, 2 and 4 workers (and every ISA in the
 * conformance runs); definition errors.
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

enum { MAX_ROWS = 5000 };

/* Every row of every batch rendered as text, in order. */
struct rows {
    uint32_t n;
    char line[MAX_ROWS][160];
};

static void render(char *buf, size_t cap, const struct spate_chunk_view *v, uint32_t r) {
    size_t at = 0;
    for (uint32_t c = 0; c < v->num_columns && at < cap; c++) {
        char cell[96];
        int64_t i;
        double f;
        const char *s;
        uint32_t len;
        const struct spate_column_view *col = &v->columns[c];
        uint32_t phys = v->sel ? v->sel[r] : r;
        switch (col->type) {
        case SPATE_TYPE_F64:
            if (spate_chunk_get_f64(v, c, r, &f))
                snprintf(cell, sizeof(cell), "%.17g", f);
            else
                snprintf(cell, sizeof(cell), "null");
            break;
        case SPATE_TYPE_STRING:
            if (spate_chunk_get_string(v, c, r, &s, &len)) {
                size_t k = 0;
                cell[k++] = '[';
                for (uint32_t b = 0; b < len && k + 6 < sizeof(cell); b++) {
                    unsigned char ch = (unsigned char)s[b];
                    if (ch >= 32 && ch < 127)
                        cell[k++] = (char)ch;
                    else
                        k += (size_t)snprintf(cell + k, sizeof(cell) - k, "\\x%02x", ch);
                }
                cell[k++] = ']';
                cell[k] = '\0';
            } else {
                snprintf(cell, sizeof(cell), "null");
            }
            break;
        case SPATE_TYPE_BOOL:
            snprintf(cell, sizeof(cell), "%s",
                     ((const uint8_t *)col->data)[phys] ? "true" : "false");
            break;
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
            for (uint32_t r = 0; r < v.rows && out->n < MAX_ROWS; r++)
                render(out->line[out->n++], sizeof(out->line[0]), &v, r);
        }
    return SPATE_OK;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(a, b);
}

/* A string view of p[0, len) (bytes, NUL allowed). */
static void mkview(struct spate_string *s, const char *p, uint32_t len) {
    memset(s, 0, sizeof(*s));
    s->len = len;
    if (len <= 12) {
        memcpy(s->prefix, p, len);
    } else {
        memcpy(s->prefix, p, 4);
        s->u.ptr = p;
    }
}

static void put_le(unsigned char *p, uint64_t v, int bytes) {
    for (int b = 0; b < bytes; b++)
        p[b] = (unsigned char)(v >> (8 * b));
}

/* The layout of most tests: 40 bytes, unaligned fields of every type and width. */
#define REC 40
static const struct spate_binary_field fields7[] = {
    {"id", SPATE_TYPE_I64, 0, 0},       {"x", SPATE_TYPE_F64, 8, 8},
    {"ok", SPATE_TYPE_BOOL, 1, 16},     {"n", SPATE_TYPE_I64, 4, 17},
    {"t", SPATE_TYPE_TIMESTAMP, 0, 21}, {"f", SPATE_TYPE_F64, 4, 29},
    {"name", SPATE_TYPE_STRING, 7, 33},
};

static void encode7(unsigned char *r, int64_t id, double x, uint8_t ok, int32_t n, int64_t t_ms,
                    float f, const char *name, size_t name_len) {
    uint64_t xb;
    uint32_t fb;
    memcpy(&xb, &x, 8);
    memcpy(&fb, &f, 4);
    memset(r, 0, REC);
    put_le(r, (uint64_t)id, 8);
    put_le(r + 8, xb, 8);
    r[16] = ok;
    put_le(r + 17, (uint32_t)n, 4);
    put_le(r + 21, (uint64_t)t_ms, 8);
    put_le(r + 29, fb, 4);
    memcpy(r + 33, name, name_len);
}

static struct rows got;

/* Push n records (recs[i] of lens[i] bytes; NULL = a null value) through parse_binary on one
 * batch. Returns the malformed count. */
static uint64_t run_records(const struct spate_binary_field *fields, uint32_t nfields,
                            uint32_t record_bytes, const char *const *recs, const uint32_t *lens,
                            uint32_t n, const char *dead_letter, uint32_t workers) {
    spate_context *ctx = harness_manual_ctx(workers);
    struct spate_error err;
    struct spate_column_def vc[] = {{"value", SPATE_TYPE_STRING}};
    spate_dstream *q = spate_context_queue_stream(ctx, vc, 1, &err);
    assert_non_null(q);
    struct spate_binary_opts o;
    spate_binary_opts_init(&o);
    o.dead_letter = dead_letter;
    o.record_bytes = record_bytes;
    spate_dstream *p = spate_dstream_parse_binary(q, 0, fields, nfields, &o, &err);
    if (p == NULL)
        fail_msg("parse_binary: %s", err.message);
    memset(&got, 0, sizeof(got));
    assert_int_equal(spate_dstream_foreach_batch(p, collect, &got, &err), SPATE_OK);
    static struct spate_string views[MAX_ROWS];
    static uint64_t valid[MAX_ROWS / 64 + 1];
    bool any_null = false;
    memset(valid, 0xff, sizeof(valid));
    for (uint32_t i = 0; i < n; i++) {
        if (recs[i] == NULL) {
            valid[i >> 6] &= ~(1ull << (i & 63));
            any_null = true;
            mkview(&views[i], "", 0);
        } else {
            mkview(&views[i], recs[i], lens[i]);
        }
    }
    struct spate_column_data data = {views, any_null ? valid : NULL};
    assert_int_equal(spate_queue_push(q, &data, n, &err), SPATE_OK);
    harness_run_keep(ctx, 1);
    uint64_t malformed = spate_dstream_malformed(p);
    assert_int_equal(spate_dstream_malformed(q), 0); /* not a parsing stream */
    harness_close(ctx);
    return malformed;
}

static void every_type_and_width(void **state) {
    (void)state;
    static unsigned char r[5][REC];
    encode7(r[0], 1, 2.5, 1, 7, 1764104400123, 0.5f, "plain", 5);
    encode7(r[1], -1, -0.125, 0, -2147483647 - 1, -1, -1.5f, "seven!!", 7);
    encode7(r[2], INT64_MAX, 1e300, 1, 2147483647, 0, 3.25f, "a\0b", 3);
    encode7(r[3], INT64_MIN, 0.0, 0, 0, 9223372036854, 0.0f, "", 0);
    encode7(r[4], 0x0102030405060708, -0.0, 1, 0x01020304, 1000, 1e10f, "\0\0\0x", 4);
    const char *recs[5];
    uint32_t lens[5];
    for (int i = 0; i < 5; i++) {
        recs[i] = (const char *)r[i];
        lens[i] = REC;
    }
    uint64_t bad = run_records(fields7, 7, 0, recs, lens, 5, NULL, 2);
    assert_int_equal(bad, 0);
    static const char *want[] = {
        "1|2.5|true|7|1764104400123000000|0.5|[plain]",
        "-1|-0.125|false|-2147483648|-1000000|-1.5|[seven!!]",
        "9223372036854775807|1.0000000000000001e+300|true|2147483647|0|3.25|[a\\x00b]",
        "-9223372036854775808|0|false|0|9223372036854000000|0|[]",
        "72623859790382856|-0|true|16909060|1000000000|10000000000|[\\x00\\x00\\x00x]",
    };
    assert_int_equal(got.n, 5);
    for (uint32_t i = 0; i < 5; i++)
        assert_string_equal(got.line[i], want[i]);
}

/* Records of up to 12 bytes live inline in their views: the same decode. */
static void short_records_inline(void **state) {
    (void)state;
    static const struct spate_binary_field f[] = {{"a", SPATE_TYPE_I64, 4, 0},
                                                  {"b", SPATE_TYPE_I64, 8, 0}};
    static unsigned char r[64][12];
    const char *recs[64];
    uint32_t lens[64];
    static char want[64][64];
    for (int i = 0; i < 64; i++) {
        put_le(r[i], (uint32_t)(i * 3 - 50), 4);
        put_le(r[i] + 4, (uint64_t)i * 0x100000001ull, 8);
        recs[i] = (const char *)r[i];
        lens[i] = 12;
        snprintf(want[i], sizeof(want[i]), "%d|%llu", i * 3 - 50,
                 (unsigned long long)i * 0x100000001ull);
    }
    for (uint32_t workers = 1; workers <= 2; workers++) {
        assert_int_equal(run_records(f, 2, 0, recs, lens, 64, NULL, workers), 0);
        assert_int_equal(got.n, 64);
        for (int i = 0; i < 64; i++)
            assert_string_equal(got.line[i], want[i]);
    }
}

static void hex_line(char *out, const unsigned char *p, uint32_t len) {
    for (uint32_t i = 0; i < len; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
    out[2 * len] = '\n';
    out[2 * len + 1] = '\0';
}

static void malformed_records_are_counted_and_kept_aside(void **state) {
    (void)state;
    char path[] = "/tmp/spate-dead-bin-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    static unsigned char r[10][REC + 1];
    encode7(r[0], 1, 1.0, 1, 1, 1, 1.0f, "a", 1);                       /* good */
    encode7(r[1], 2, 1.0, 1, 1, 1, 1.0f, "b", 1);                       /* one byte short */
    encode7(r[2], 3, 1.0, 1, 1, 1, 1.0f, "c", 1);                       /* one byte long */
    encode7(r[3], 4, 1.0, 2, 1, 1, 1.0f, "d", 1);                       /* bool byte 2 */
    encode7(r[4], 5, 1.0, 0xff, 1, 1, 1.0f, "e", 1);                    /* bool byte 0xff */
    encode7(r[5], 6, 1.0, 0, 1, INT64_MAX / 1000000 + 1, 1.0f, "f", 1); /* timestamp range */
    encode7(r[6], 7, 1.0, 0, 1, INT64_MIN / 1000000 - 1, 1.0f, "g", 1); /* timestamp range */
    encode7(r[7], 8, 1.0, 0, 1, 1, 1.0f, "h", 1);                       /* good */
    encode7(r[8], 9, 1.0, 3, 1, INT64_MAX, 1.0f, "i", 1); /* bool and timestamp: once */
    encode7(r[9], 10, 1.0, 1, 1, 1, 1.0f, "j", 1);        /* good */
    const char *recs[12];
    uint32_t lens[12];
    for (int i = 0; i < 10; i++) {
        recs[i] = (const char *)r[i];
        lens[i] = REC;
    }
    lens[1] = REC - 1;
    lens[2] = REC + 1;
    recs[10] = NULL; /* a null value: skipped, not counted */
    lens[10] = 0;
    recs[11] = ""; /* empty: malformed */
    lens[11] = 0;
    uint64_t bad = run_records(fields7, 7, 0, recs, lens, 12, path, 2);
    assert_int_equal(bad, 8);
    assert_int_equal(got.n, 3);
    assert_string_equal(got.line[0], "1|1|true|1|1000000|1|[a]");
    assert_string_equal(got.line[1], "8|1|false|1|1000000|1|[h]");
    assert_string_equal(got.line[2], "10|1|true|1|1000000|1|[j]");
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char got_lines[16][2 * REC + 8], want_lines[16][2 * REC + 8];
    uint32_t ng = 0;
    while (ng < 16 && fgets(got_lines[ng], sizeof(got_lines[0]), f) != NULL)
        ng++;
    fclose(f);
    unlink(path);
    static const int bad_idx[] = {1, 2, 3, 4, 5, 6, 8, 11};
    for (uint32_t i = 0; i < 8; i++)
        hex_line(want_lines[i], (const unsigned char *)recs[bad_idx[i]], lens[bad_idx[i]]);
    assert_int_equal(ng, 8);
    qsort(got_lines, ng, sizeof(got_lines[0]), cmp_str);
    qsort(want_lines, 8, sizeof(want_lines[0]), cmp_str);
    for (uint32_t i = 0; i < 8; i++)
        assert_string_equal(got_lines[i], want_lines[i]);
}

/* Random good and bad records against a naive decode, explicit and packed layouts, any
 * worker count. */
static void random_records_match_naive(void **state) {
    (void)state;
    enum { N = 4000 };
    static unsigned char rec[N][REC + 2];
    static const char *recs[N];
    static uint32_t lens[N];
    static char want[N][160];
    /* The packed layout of the same fields: id, x, ok, n, t, f, name (40 bytes). */
    static const struct spate_binary_field packed[] = {
        {"id", SPATE_TYPE_I64, 0, 0},      {"x", SPATE_TYPE_F64, 0, 0},
        {"ok", SPATE_TYPE_BOOL, 0, 0},     {"n", SPATE_TYPE_I64, 4, 0},
        {"t", SPATE_TYPE_TIMESTAMP, 0, 0}, {"f", SPATE_TYPE_F64, 4, 0},
        {"name", SPATE_TYPE_STRING, 7, 0},
    };
    uint32_t nwant = 0, nbad = 0;
    uint64_t x = 7;
    for (uint32_t i = 0; i < N; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        int64_t id = (int64_t)(x ^ (x << 17));
        int kind = (int)((x >> 8) % 12);
        double v = (double)((int64_t)(x >> 30) % 100000) / 64.0;
        int32_t n32 = (int32_t)(uint32_t)(x >> 13);
        int64_t t = (int64_t)(x >> 24) % 4000000000000;
        float f = (float)((x >> 40) % 1000) / 8.0f;
        char name[8];
        int nl = (int)(x >> 50) % 8;
        for (int k = 0; k < nl; k++)
            name[k] = (char)('a' + (x >> (k * 3)) % 26);
        uint8_t ok = (uint8_t)((x >> 33) & 1);
        recs[i] = (const char *)rec[i];
        lens[i] = REC;
        if (kind == 0) { /* torn */
            lens[i] = (uint32_t)((x >> 20) % (REC + 2));
            if (lens[i] == REC)
                lens[i]++;
        } else if (kind == 1) {
            ok = (uint8_t)(2 + (x >> 40) % 250);
        }
        encode7(rec[i], id, v, ok, n32, t, f, name, (size_t)nl);
        if (kind <= 1) {
            nbad++;
            continue;
        }
        snprintf(want[nwant++], sizeof(want[0]), "%lld|%.17g|%s|%d|%lld|%.17g|[%.*s]",
                 (long long)id, v, ok ? "true" : "false", n32, (long long)t * 1000000, (double)f,
                 nl, name);
    }
    for (int layout = 0; layout < 2; layout++)
        for (uint32_t workers = 1; workers <= 4; workers *= 2) {
            uint64_t bad =
                run_records(layout ? packed : fields7, 7, 0, recs, lens, N, NULL, workers);
            assert_int_equal(bad, nbad);
            assert_int_equal(got.n, nwant);
            for (uint32_t i = 0; i < nwant; i++)
                assert_string_equal(got.line[i], want[i]);
        }
}

/* record_bytes larger than the fields: trailing padding, and records must have that size. */
static void record_size_with_padding(void **state) {
    (void)state;
    static const struct spate_binary_field f[] = {{"v", SPATE_TYPE_I64, 0, 4}};
    static unsigned char r[3][16];
    memset(r, 0xee, sizeof(r));
    put_le(r[0] + 4, 11, 8);
    put_le(r[1] + 4, 22, 8);
    put_le(r[2] + 4, 33, 8);
    const char *recs[] = {(const char *)r[0], (const char *)r[1], (const char *)r[2]};
    uint32_t lens[] = {16, 12, 16};
    assert_int_equal(run_records(f, 1, 16, recs, lens, 3, NULL, 1), 1);
    assert_int_equal(got.n, 2);
    assert_string_equal(got.line[0], "11");
    assert_string_equal(got.line[1], "33");
}

/* String fields of every width up to 24 bytes, with NUL bytes inside and at the end in every
 * position: only the trailing ones are trimmed. */
static void string_fields_trimmed(void **state) {
    (void)state;
    static unsigned char rec[600][24];
    static const char *recs[600];
    static uint32_t lens[600];
    static char want[600][160];
    for (uint32_t width = 1; width <= 24; width++) {
        struct spate_binary_field f[] = {{"s", SPATE_TYPE_STRING, width, 0}};
        uint64_t x = width;
        for (uint32_t i = 0; i < 600; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            uint32_t keep = (uint32_t)(x >> 33) % (width + 1); /* bytes before the NUL tail */
            memset(rec[i], 0, sizeof(rec[i]));
            for (uint32_t b = 0; b < keep; b++)
                rec[i][b] = (x >> (b % 48)) & 1 ? (unsigned char)('a' + b) : 0;
            if (keep > 0)
                rec[i][keep - 1] = 'z'; /* the last byte kept is not a NUL */
            recs[i] = (const char *)rec[i];
            lens[i] = width;
            size_t k = 0;
            want[i][k++] = '[';
            for (uint32_t b = 0; b < keep; b++) {
                if (rec[i][b] >= 32 && rec[i][b] < 127)
                    want[i][k++] = (char)rec[i][b];
                else
                    k += (size_t)snprintf(want[i] + k, sizeof(want[i]) - k, "\\x%02x", rec[i][b]);
            }
            want[i][k++] = ']';
            want[i][k] = '\0';
        }
        assert_int_equal(run_records(f, 1, 0, recs, lens, 600, NULL, 2), 0);
        assert_int_equal(got.n, 600);
        for (uint32_t i = 0; i < 600; i++)
            assert_string_equal(got.line[i], want[i]);
    }
}

static void definition_errors(void **state) {
    (void)state;
    spate_context *ctx = harness_manual_ctx(1);
    struct spate_error err;
    struct spate_column_def lc[] = {{"n", SPATE_TYPE_I64}, {"rec", SPATE_TYPE_STRING}};
    spate_dstream *q = spate_context_queue_stream(ctx, lc, 2, &err);
    struct spate_binary_opts o;
    spate_binary_opts_init(&o);
    err.message[0] = '\0';
    assert_null(spate_dstream_parse_binary(q, 0, fields7, 7, &o, &err)); /* not a string */
    assert_non_null(strstr(err.message, "must exist and be a string"));
    assert_null(spate_dstream_parse_binary(q, 2, fields7, 7, &o, &err)); /* no column 2 */
    assert_null(spate_dstream_parse_binary(NULL, 1, fields7, 7, &o, &err));
    assert_null(spate_dstream_parse_binary(q, 1, fields7, 0, &o, &err));
    assert_null(spate_dstream_parse_binary(q, 1, NULL, 1, &o, &err));
    struct spate_binary_field bad[] = {{"a", SPATE_TYPE_I64, 2, 0}};
    assert_null(spate_dstream_parse_binary(q, 1, bad, 1, &o, &err));
    assert_non_null(strstr(err.message, "wide"));
    bad[0] = (struct spate_binary_field){"a", SPATE_TYPE_STRING, 0, 0};
    assert_null(spate_dstream_parse_binary(q, 1, bad, 1, &o, &err));
    bad[0] = (struct spate_binary_field){NULL, SPATE_TYPE_I64, 8, 0};
    assert_null(spate_dstream_parse_binary(q, 1, bad, 1, &o, &err));
    assert_non_null(strstr(err.message, "no name"));
    bad[0] = (struct spate_binary_field){"a", SPATE_TYPE_BOOL, 4, 0};
    assert_null(spate_dstream_parse_binary(q, 1, bad, 1, &o, &err));
    bad[0] = (struct spate_binary_field){"a", SPATE_LIST_OF(SPATE_TYPE_I64), 8, 0};
    assert_null(spate_dstream_parse_binary(q, 1, bad, 1, &o, &err));
    o.record_bytes = 39; /* the fields end at 40 */
    assert_null(spate_dstream_parse_binary(q, 1, fields7, 7, &o, &err));
    assert_non_null(strstr(err.message, "record size"));
    o.record_bytes = 0;
    o.dead_letter = "/nonexistent-dir/dead.txt";
    assert_null(spate_dstream_parse_binary(q, 1, fields7, 7, &o, &err));
    assert_non_null(strstr(err.message, "dead-letter"));
    o.dead_letter = NULL;
    spate_dstream *p = spate_dstream_parse_binary(q, 1, fields7, 7, NULL, &err);
    assert_non_null(p);
    assert_int_equal(spate_dstream_malformed(p), 0);
    assert_int_equal(spate_dstream_malformed(q), 0);
    harness_close(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_type_and_width),
        cmocka_unit_test(short_records_inline),
        cmocka_unit_test(malformed_records_are_counted_and_kept_aside),
        cmocka_unit_test(random_records_match_naive),
        cmocka_unit_test(record_size_with_padding),
        cmocka_unit_test(string_fields_trimmed),
        cmocka_unit_test(definition_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
