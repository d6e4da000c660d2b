/*
 * tests/conformance/test_arrow.c - spate_batch_export: a batch as an Arrow
 * record batch (struct array of the columns), read back through the raw C
 * Data Interface after the batch itself is gone: formats, lengths, validity
 * bitmaps and null counts, bit-packed bools, utf8 offsets and bytes, a
 * selection applied, several chunks and partitions concatenated, and the
 * release callbacks (moved-out children included) leaving nothing behind.
 * And spate_batch_export_stream: one record batch per chunk, fixed-width
 * buffers lent without a copy (the very pointers of the chunk), strings as
 * Arrow views (long ones pointing at their bytes), a selection gathered, and
 * an export kept past its callback failing the batch yet safe to release.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "spate/spate.h"

#include "harness.h"

enum { N = 5000 };

static struct ArrowSchema got_schema[3];
static struct ArrowArray got_array[3];
static int exported;

static spate_status export_it(void *user, const spate_batch *b, struct spate_error *err) {
    (void)user;
    if (exported >= 3)
        return EIO;
    spate_status rc = spate_batch_export(b, &got_schema[exported], &got_array[exported], err);
    exported++;
    return rc;
}

static bool bit(const void *bitmap, int64_t i) {
    return bitmap == NULL || ((((const uint8_t *)bitmap)[i >> 3] >> (i & 7)) & 1);
}

static void export_after_the_batch(void **state) {
    (void)state;
    struct spate_error err;
    spate_context *ctx = harness_manual_ctx(2);
    struct spate_column_def cols[] = {{"id", SPATE_TYPE_I64},
                                      {"x", SPATE_TYPE_F64},
                                      {"flag", SPATE_TYPE_BOOL},
                                      {"ts", SPATE_TYPE_TIMESTAMP},
                                      {"name", SPATE_TYPE_STRING}};
    spate_dstream *q = spate_context_queue_stream(ctx, cols, 5, &err);
    /* Keep even ids: the exported batch has a selection applied. */
    spate_dstream *even = spate_dstream_filter_i64(q, 0, SPATE_CMP_GE, 0, &err);
    assert_non_null(even);
    assert_int_equal(spate_dstream_foreach_batch(even, export_it, NULL, &err), SPATE_OK);
    static int64_t id[N], ts[N];
    static double x[N];
    static uint8_t flag[N];
    static struct spate_string name[N];
    static char text[N][32];
    static uint64_t id_valid[(N + 63) / 64], name_valid[(N + 63) / 64];
    for (int i = 0; i < N; i++) {
        id[i] = i % 3 == 0 ? -i : i; /* negative ids are filtered out */
        x[i] = i * 0.5;
        flag[i] = (uint8_t)(i % 2);
        ts[i] = (int64_t)i * 1000000000;
        int len = snprintf(text[i], sizeof(text[i]), i % 4 ? "w%d" : "a-long-name-%d", i);
        name[i].len = (uint32_t)len;
        memcpy(name[i].prefix, text[i], 4);
        if (len > 12)
            name[i].u.ptr = text[i];
        else
            memcpy((char *)&name[i] + offsetof(struct spate_string, prefix), text[i], (size_t)len);
        if (i % 7 != 0)
            id_valid[i / 64] |= 1ull << (i % 64);
        if (i % 5 != 0)
            name_valid[i / 64] |= 1ull << (i % 64);
    }
    struct spate_column_data d[5] = {
        {id, id_valid}, {x, NULL}, {flag, NULL}, {ts, NULL}, {name, name_valid}};
    assert_int_equal(spate_queue_push(q, d, N, &err), SPATE_OK);
    harness_run(ctx, 2);             /* batch 2 is empty */
    memset(text, 'x', sizeof(text)); /* the export owns copies */

    assert_int_equal(exported, 2);
    struct ArrowSchema *s = &got_schema[0];
    struct ArrowArray *a = &got_array[0];
    assert_string_equal(s->format, "+s");
    assert_int_equal(s->n_children, 5);
    static const char *formats[] = {"l", "g", "b", "tsn:", "u"};
    for (int c = 0; c < 5; c++) {
        assert_string_equal(s->children[c]->format, formats[c]);
        assert_string_equal(s->children[c]->name, cols[c].name);
    }
    /* The rows that pass: valid ids >= 0. Their order is the batch's (partitions in turn):
     * check them as a set by id. */
    int64_t want_rows = 0;
    for (int i = 0; i < N; i++)
        want_rows += i % 7 != 0 && id[i] >= 0;
    assert_int_equal(a->length, want_rows);
    assert_int_equal(a->n_children, 5);
    const struct ArrowArray *ida = a->children[0], *xa = a->children[1], *fa = a->children[2],
                            *tsa = a->children[3], *na = a->children[4];
    assert_int_equal(ida->null_count, 0); /* null ids never pass the filter */
    static bool seen[N];
    int64_t name_nulls = 0;
    for (int64_t r = 0; r < a->length; r++) {
        int64_t i = ((const int64_t *)ida->buffers[1])[r];
        assert_true(i >= 0 && i < N && !seen[i]);
        seen[i] = true;
        assert_true(((const double *)xa->buffers[1])[r] == (double)i * 0.5);
        assert_int_equal(bit(fa->buffers[1], r), i % 2);
        assert_int_equal(((const int64_t *)tsa->buffers[1])[r], i * 1000000000);
        const int32_t *off = na->buffers[1];
        if (!bit(na->buffers[0], r)) {
            name_nulls++;
            assert_int_equal(i % 5, 0);
            assert_int_equal(off[r + 1], off[r]);
            continue;
        }
        char want[32];
        int len = snprintf(want, sizeof(want), i % 4 ? "w%lld" : "a-long-name-%lld", (long long)i);
        assert_int_equal(off[r + 1] - off[r], len);
        assert_memory_equal((const char *)na->buffers[2] + off[r], want, (size_t)len);
    }
    assert_int_equal(na->null_count, name_nulls);
    /* The empty batch exports an empty record batch. */
    assert_int_equal(got_array[1].length, 0);
    assert_int_equal(got_array[1].n_children, 5);
    /* Move a child out (Arrow's move: copy, then mark the source released), release all. */
    struct ArrowArray moved = *a->children[4];
    a->children[4]->release = NULL;
    a->release(a);
    assert_null(a->release);
    moved.release(&moved);
    s->release(s);
    got_array[1].release(&got_array[1]);
    got_schema[1].release(&got_schema[1]);
    assert_int_equal(spate_batch_export(NULL, s, a, &err), EINVAL);
}

/* ---- Zero-copy stream export ---- */

struct zc_check {
    int batches;
    int64_t rows;
    int64_t borrowed_columns; /* i64 column arrays whose buffer is the chunk's own */
    int64_t long_strings;
    bool bad;
    bool leak;       /* keep the last array: the callback must then fail */
    bool leak_child; /* keep a column moved out of the last array: the same */
    struct ArrowArrayStream kept_stream;
    struct ArrowArray kept;
};

static const char *view_bytes(const struct ArrowArray *a, int64_t r, uint32_t *len) {
    const uint8_t *v = (const uint8_t *)a->buffers[1] + 16 * r;
    int32_t n;
    memcpy(&n, v, 4);
    *len = (uint32_t)n;
    if (n <= 12)
        return (const char *)v + 4;
    int32_t index, offset;
    memcpy(&index, v + 8, 4);
    memcpy(&offset, v + 12, 4);
    if (index < 0 || 2 + index >= a->n_buffers - 1)
        return NULL;
    return (const char *)a->buffers[2 + index] + offset;
}

static spate_status zero_copy_it(void *user, const spate_batch *b, struct spate_error *err) {
    struct zc_check *c = user;
    struct ArrowArrayStream st;
    spate_status rc = spate_batch_export_stream(b, &st, err);
    if (rc != SPATE_OK)
        return rc;
    struct ArrowSchema sc;
    if (st.get_schema(&st, &sc) != 0)
        return EIO;
    static const char *formats[] = {"l", "g", "b", "tsn:", "vu"};
    for (int col = 0; col < 5; col++)
        if (sc.n_children != 5 || strcmp(sc.children[col]->format, formats[col]) != 0)
            c->bad = true;
    sc.release(&sc);
    c->batches++;
    uint32_t part = 0, idx = 0;
    for (;;) {
        struct ArrowArray a;
        if (st.get_next(&st, &a) != 0)
            return EIO;
        if (a.release == NULL)
            break; /* the end */
        /* The chunk this array came from: the next non-empty slot in partition order. */
        struct spate_chunk_view v;
        while (part < spate_batch_num_partitions(b) && idx >= spate_batch_num_chunks(b, part)) {
            part++;
            idx = 0;
        }
        if (spate_batch_chunk(b, part, idx++, &v) != SPATE_OK || (uint32_t)a.length != v.rows)
            c->bad = true;
        const struct ArrowArray *ida = a.children[0], *xa = a.children[1], *fa = a.children[2],
                                *na = a.children[4];
        if (v.sel == NULL && ida->buffers[1] == v.columns[0].data)
            c->borrowed_columns++;
        for (int64_t r = 0; r < a.length; r++) {
            if (!bit(ida->buffers[0], r))
                continue; /* a null id: nothing to check the row against */
            int64_t i = ((const int64_t *)ida->buffers[1])[r];
            if (i < 0 || i >= N || ((const double *)xa->buffers[1])[r] != (double)i * 0.5 ||
                bit(fa->buffers[1], r) != (i % 2 == 1) || bit(na->buffers[0], r) != (i % 5 != 0))
                c->bad = true;
            if (!bit(na->buffers[0], r))
                continue;
            char want[32];
            int len =
                snprintf(want, sizeof(want), i % 4 ? "w%lld" : "a-long-name-%lld", (long long)i);
            uint32_t got_len;
            const char *got = view_bytes(na, r, &got_len);
            if (got == NULL || got_len != (uint32_t)len || memcmp(got, want, (size_t)len) != 0)
                c->bad = true;
            c->long_strings += len > 12;
        }
        c->rows += a.length;
        if (c->leak) {
            if (c->kept.release != NULL)
                c->kept.release(&c->kept);
            c->kept = a; /* moved out: released after the batch, which must fail */
        } else if (c->leak_child) {
            if (c->kept.release != NULL)
                c->kept.release(&c->kept);
            c->kept = *a.children[0]; /* Arrow's move of a child, then the parent goes */
            a.children[0]->release = NULL;
            a.release(&a);
        } else {
            a.release(&a);
        }
    }
    if (c->leak)
        c->kept_stream = st;
    else
        st.release(&st);
    return SPATE_OK;
}

static void zero_copy_stream(void **state) {
    (void)state;
    for (int variant = 0; variant < 4; variant++) { /* plain, selection, leaked, child kept */
        struct spate_error err;
        spate_context *ctx = harness_manual_ctx(2);
        struct spate_column_def cols[] = {{"id", SPATE_TYPE_I64},
                                          {"x", SPATE_TYPE_F64},
                                          {"flag", SPATE_TYPE_BOOL},
                                          {"ts", SPATE_TYPE_TIMESTAMP},
                                          {"name", SPATE_TYPE_STRING}};
        spate_dstream *q = spate_context_queue_stream(ctx, cols, 5, &err);
        spate_dstream *out =
            variant == 1 ? spate_dstream_filter_i64(q, 0, SPATE_CMP_GE, 100, &err) : q;
        static struct zc_check c;
        memset(&c, 0, sizeof(c));
        c.leak = variant == 2;
        c.leak_child = variant == 3;
        assert_int_equal(spate_dstream_foreach_batch(out, zero_copy_it, &c, &err), SPATE_OK);
        static int64_t id[N], ts[N];
        static double x[N];
        static uint8_t flag[N];
        static struct spate_string name[N];
        static char text[N][32];
        static uint64_t id_valid[(N + 63) / 64], name_valid[(N + 63) / 64];
        memset(id_valid, 0, sizeof(id_valid));
        memset(name_valid, 0, sizeof(name_valid));
        int64_t want_rows = 0;
        for (int i = 0; i < N; i++) {
            id[i] = i;
            x[i] = (double)i * 0.5;
            flag[i] = (uint8_t)(i % 2);
            ts[i] = (int64_t)i;
            int len = snprintf(text[i], sizeof(text[i]), i % 4 ? "w%d" : "a-long-name-%d", i);
            memset(&name[i], 0, sizeof(name[i]));
            name[i].len = (uint32_t)len;
            memcpy(name[i].prefix, text[i], 4);
            if (len > 12)
                name[i].u.ptr = text[i];
            else
                memcpy((char *)&name[i] + offsetof(struct spate_string, prefix), text[i],
                       (size_t)len);
            if (i % 7 != 0)
                id_valid[i / 64] |= 1ull << (i % 64);
            if (i % 5 != 0)
                name_valid[i / 64] |= 1ull << (i % 64);
            want_rows += variant != 1 || (i % 7 != 0 && i >= 100);
        }
        struct spate_column_data d[5] = {
            {id, id_valid}, {x, NULL}, {flag, NULL}, {ts, NULL}, {name, name_valid}};
        assert_int_equal(spate_queue_push(q, d, N, &err), SPATE_OK);
        if (variant < 2) {
            harness_run(ctx, 1);
            assert_false(c.bad);
            assert_int_equal(c.batches, 1);
            assert_int_equal(c.rows, want_rows);
            assert_true(c.long_strings > 0);
            if (variant == 0)
                assert_true(c.borrowed_columns > 0); /* the i64 buffers are the chunks' own */
            continue;
        }
        /* An export kept past the callback fails the batch, and can still be released. */
        assert_int_equal(spate_context_start(ctx, &err), SPATE_OK);
        assert_int_equal(spate_context_advance(ctx, 1, &err), SPATE_OK);
        bool stopped;
        assert_int_equal(spate_context_await_termination_timeout(ctx, 0, &stopped, &err), EIO);
        assert_non_null(strstr(err.message, "not released"));
        harness_close(ctx);
        c.kept.release(&c.kept);
        if (c.kept_stream.release != NULL)
            c.kept_stream.release(&c.kept_stream);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(export_after_the_batch),
        cmocka_unit_test(zero_copy_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
