/*
 * tests/conformance/test_arrow.c - spate_batch_export: a batch as an Arrow
 * record batch (struct array of the columns), read back through the raw C
 * Data Interface after the batch itself is gone: formats, lengths, validity
 * bitmaps and null counts, bit-packed bools, utf8 offsets and bytes, a
 * selection applied, several chunks and partitions concatenated, and the
 * release callbacks (moved-out children included) leaving nothing behind.
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(export_after_the_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
