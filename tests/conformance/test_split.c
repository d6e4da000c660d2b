/*
 * tests/conformance/test_split.c - flat_map_split: words separated by runs of
 * any delimiter byte, from queued lines (against a naive split of the same
 * lines, as multisets, on 1, 2 and 4 workers, with null lines and NUL and
 * high delimiter bytes) and from a ring input (the generator's text: split
 * by ' ' gives flat_map_words's words, split by a byte the text lacks gives
 * one word a line, never one spanning lines); and its definition errors.
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

#define LINES 3000
#define BATCHES 3

struct words {
    char **w;
    uint32_t *len;
    uint64_t n, cap;
};

static void words_add(struct words *ws, const char *p, uint32_t len) {
    if (ws->n == ws->cap) {
        ws->cap = ws->cap ? ws->cap * 2 : 1024;
        ws->w = realloc(ws->w, sizeof(char *) * ws->cap);
        ws->len = realloc(ws->len, sizeof(uint32_t) * ws->cap);
        assert_non_null(ws->w);
        assert_non_null(ws->len);
    }
    ws->w[ws->n] = malloc(len + 1);
    assert_non_null(ws->w[ws->n]);
    memcpy(ws->w[ws->n], p, len);
    ws->w[ws->n][len] = '\0';
    ws->len[ws->n++] = len;
}

static void words_free(struct words *ws) {
    for (uint64_t i = 0; i < ws->n; i++)
        free(ws->w[i]);
    free(ws->w);
    free(ws->len);
}

static spate_status collect(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    struct words *ws = user;
    for (uint32_t p = 0; p < spate_batch_num_partitions(b); p++)
        for (uint32_t c = 0; c < spate_batch_num_chunks(b, p); c++) {
            struct spate_chunk_view v;
            if (spate_batch_chunk(b, p, c, &v) != SPATE_OK)
                return EIO;
            for (uint32_t r = 0; r < v.rows; r++) {
                const char *s;
                uint32_t len;
                if (!spate_chunk_get_string(&v, 0, r, &s, &len))
                    return EIO; /* words are never null */
                words_add(ws, s, len);
            }
        }
    return SPATE_OK;
}

static spate_status count_rows(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    *(uint64_t *)user += spate_batch_rows(b);
    return SPATE_OK;
}

static int cmp_word(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static uint64_t rng = 0x243f6a8885a308d3u;
static uint32_t rnd(uint32_t n) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static void split_queue(uint32_t workers) {
    static const char delims[] = {',', ';', ' ', (char)0xe9};
    const char alphabet[] = "abcxyz,; \xe9\xff";
    spate_context *ctx = harness_manual_ctx(workers);
    struct spate_error err;
    struct spate_column_def cols[] = {{"line", SPATE_TYPE_STRING}};
    spate_dstream *q = spate_context_queue_stream(ctx, cols, 1, &err);
    spate_dstream *w = spate_dstream_flat_map_split(q, delims, sizeof delims, &err);
    assert_non_null(w);
    struct words got = {0};
    assert_int_equal(spate_dstream_foreach_batch(w, collect, &got, &err), SPATE_OK);
    struct words want = {0};
    for (int b = 0; b < BATCHES; b++) {
        static char text[LINES][80];
        struct spate_string views[LINES];
        uint64_t valid[(LINES + 63) / 64];
        memset(valid, 0, sizeof valid);
        for (uint32_t i = 0; i < LINES; i++) {
            uint32_t len = rnd(60);
            for (uint32_t j = 0; j < len; j++)
                text[i][j] = alphabet[rnd(sizeof alphabet - 1)];
            memset(&views[i], 0, sizeof views[i]);
            views[i].len = len;
            if (len <= SPATE_STRING_INLINE)
                memcpy(views[i].prefix, text[i], len);
            else {
                memcpy(views[i].prefix, text[i], 4);
                views[i].u.ptr = text[i];
            }
            if (rnd(10) == 0)
                continue; /* a null line: no words */
            valid[i / 64] |= 1ull << (i % 64);
            uint32_t j = 0;
            while (j < len) {
                while (j < len && memchr(delims, text[i][j], sizeof delims) != NULL)
                    j++;
                uint32_t s = j;
                while (j < len && memchr(delims, text[i][j], sizeof delims) == NULL)
                    j++;
                if (j > s)
                    words_add(&want, text[i] + s, j - s);
            }
        }
        struct spate_column_data d[] = {{views, valid}};
        assert_int_equal(spate_queue_push(q, d, LINES, &err), SPATE_OK);
    }
    harness_run(ctx, BATCHES);
    assert_true(want.n > LINES);
    assert_int_equal(got.n, want.n);
    qsort(got.w, got.n, sizeof(char *), cmp_word);
    qsort(want.w, want.n, sizeof(char *), cmp_word);
    for (uint64_t i = 0; i < want.n; i++)
        assert_string_equal(got.w[i], want.w[i]);
    words_free(&got);
    words_free(&want);
}

static void test_queue_1(void **state) {
    (void)state;
    split_queue(1);
}

static void test_queue_2(void **state) {
    (void)state;
    split_queue(2);
}

static void test_queue_4(void **state) {
    (void)state;
    split_queue(4);
}

/* Words of the generator's text (a ring input) by flat_map_words and by a split. */
static uint64_t ring_words(const char *delims, uint32_t n, uint64_t *lines) {
    spate_context *ctx = harness_manual_ctx(2);
    struct spate_error err;
    struct spate_generator_opts go;
    spate_generator_opts_init(&go);
    go.max_lines = 20000;
    go.seed = 5;
    spate_dstream *in = spate_context_generator_stream(ctx, &go, &err);
    spate_dstream *w = delims == NULL ? spate_dstream_flat_map_words(in, &err)
                                      : spate_dstream_flat_map_split(in, delims, n, &err);
    assert_non_null(w);
    uint64_t words = 0;
    *lines = 0;
    assert_int_equal(spate_dstream_foreach_batch(w, count_rows, &words, &err), SPATE_OK);
    assert_int_equal(spate_dstream_foreach_batch(in, count_rows, lines, &err), SPATE_OK);
    assert_int_equal(spate_context_start(ctx, &err), SPATE_OK);
    for (int i = 0; i < 20000 && *lines < go.max_lines; i++)
        assert_int_equal(spate_context_advance(ctx, 1, &err), SPATE_OK);
    assert_int_equal(*lines, go.max_lines);
    harness_close(ctx);
    return words;
}

static void test_ring(void **state) {
    (void)state;
    uint64_t lines;
    uint64_t ws = ring_words(NULL, 0, &lines);
    uint64_t sp = ring_words(" ", 1, &lines);
    assert_true(ws > lines);
    assert_int_equal(sp, ws);
    assert_int_equal(ring_words("#", 1, &lines), lines); /* no '#': a line is one word */
}

static void test_errors(void **state) {
    (void)state;
    spate_context *ctx = harness_manual_ctx(1);
    struct spate_error err;
    struct spate_column_def cols[] = {{"line", SPATE_TYPE_STRING}};
    struct spate_column_def icols[] = {{"n", SPATE_TYPE_I64}};
    spate_dstream *q = spate_context_queue_stream(ctx, cols, 1, &err);
    spate_dstream *qi = spate_context_queue_stream(ctx, icols, 1, &err);
    assert_null(spate_dstream_flat_map_split(q, ",", 0, &err));
    assert_true(strstr(err.message, "flat_map") != NULL);
    assert_null(spate_dstream_flat_map_split(q, NULL, 1, &err));
    assert_true(strstr(err.message, "flat_map") != NULL);
    char many[257];
    memset(many, ',', sizeof many);
    assert_null(spate_dstream_flat_map_split(q, many, 257, &err));
    assert_null(spate_dstream_flat_map_split(qi, ",", 1, &err));
    assert_true(strstr(err.message, "flat_map") != NULL);
    assert_null(spate_dstream_flat_map_split(NULL, ",", 1, &err));
    assert_non_null(spate_dstream_flat_map_split(q, many, 256, &err));
    harness_close(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue_1), cmocka_unit_test(test_queue_2),
        cmocka_unit_test(test_queue_4), cmocka_unit_test(test_ring),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
