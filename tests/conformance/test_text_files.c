/*
 * tests/conformance/test_text_files.c - save_as_text_files: one file per
 * batch named prefix-<time ms>.suffix (no suffix when empty), every record
 * on its own line as print formats it, empty batches give empty files, no
 * temporary file is left behind, and a directory that does not exist fails
 * the batch with a message (reported by await_termination) without
 * stopping later batches.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spate/spate.h"

#include "harness.h"

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static spate_context *start_with(const char *prefix, const char *suffix, spate_dstream **q_out) {
    struct spate_error err;
    spate_context *ctx = harness_manual_ctx(1);
    struct spate_column_def cols[] = {{"k", SPATE_TYPE_STRING}, {"v", SPATE_TYPE_I64}};
    spate_dstream *q = spate_context_queue_stream(ctx, cols, 2, &err);
    assert_int_equal(spate_dstream_save_as_text_files(q, prefix, suffix, &err), SPATE_OK);
    *q_out = q;
    return ctx;
}

static void push_pairs(spate_dstream *q, uint32_t n) {
    static struct spate_string keys[16];
    static int64_t vals[16];
    static const char *names[] = {"a", "bb", "a-rather-long-key-name"};
    for (uint32_t i = 0; i < n; i++) {
        const char *s = names[i % 3];
        memset(&keys[i], 0, sizeof(keys[i]));
        keys[i].len = (uint32_t)strlen(s);
        memcpy(keys[i].prefix, s, 4 < keys[i].len ? 4 : keys[i].len);
        if (keys[i].len > 12)
            keys[i].u.ptr = s;
        else
            memcpy((char *)&keys[i] + offsetof(struct spate_string, prefix), s, keys[i].len);
        vals[i] = (int64_t)i * 10;
    }
    struct spate_column_data d[2] = {{keys, NULL}, {vals, NULL}};
    struct spate_error err;
    assert_int_equal(spate_queue_push(q, d, n, &err), SPATE_OK);
}

static void files_per_batch(void **state) {
    (void)state;
    char dir[] = "/tmp/spate-text-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char prefix[256];
    snprintf(prefix, sizeof(prefix), "%s/out", dir);
    spate_dstream *q;
    spate_context *ctx = start_with(prefix, "txt", &q);
    push_pairs(q, 3);
    struct spate_error err;
    assert_int_equal(spate_context_start(ctx, &err), SPATE_OK);
    assert_int_equal(spate_context_advance(ctx, 2, &err), SPATE_OK);
    char path[512];
    snprintf(path, sizeof(path), "%s-1000.txt", prefix);
    const char *text = slurp(path);
    assert_non_null(text);
    assert_string_equal(text, "(a,0)\n(bb,10)\n(a-rather-long-key-name,20)\n");
    snprintf(path, sizeof(path), "%s-2000.txt", prefix);
    text = slurp(path);
    assert_non_null(text);
    assert_string_equal(text, ""); /* an empty batch is an empty file */
    assert_int_equal(spate_context_stop(ctx, true, false, &err), SPATE_OK);
    spate_context_destroy(ctx);
    /* Exactly the two files, nothing temporary left. */
    DIR *d = opendir(dir);
    assert_non_null(d);
    int files = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        assert_null(strstr(e->d_name, "tmp"));
        files++;
        char p[512];
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
    assert_int_equal(files, 2);
}

static void no_suffix(void **state) {
    (void)state;
    char dir[] = "/tmp/spate-text-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char prefix[256], path[512];
    snprintf(prefix, sizeof(prefix), "%s/plain", dir);
    spate_dstream *q;
    spate_context *ctx = start_with(prefix, "", &q);
    push_pairs(q, 1);
    struct spate_error err;
    assert_int_equal(spate_context_start(ctx, &err), SPATE_OK);
    assert_int_equal(spate_context_advance(ctx, 1, &err), SPATE_OK);
    snprintf(path, sizeof(path), "%s-1000", prefix);
    const char *text = slurp(path);
    assert_non_null(text);
    assert_string_equal(text, "(a,0)\n");
    unlink(path);
    rmdir(dir);
    assert_int_equal(spate_context_stop(ctx, true, false, &err), SPATE_OK);
    spate_context_destroy(ctx);
}

static void missing_directory_fails_the_batch(void **state) {
    (void)state;
    spate_dstream *q;
    spate_context *ctx = start_with("/nonexistent-spate-dir/out", "txt", &q);
    struct spate_error err;
    assert_int_equal(spate_context_start(ctx, &err), SPATE_OK);
    assert_int_equal(spate_context_advance(ctx, 2, &err), SPATE_OK);
    bool stopped = true;
    err.message[0] = '\0';
    assert_int_equal(spate_context_await_termination_timeout(ctx, 10, &stopped, &err), EIO);
    assert_non_null(strstr(err.message, "nonexistent-spate-dir"));
    assert_int_equal(spate_context_batches_completed(ctx), 2); /* the second batch still ran */
    assert_int_equal(spate_context_stop(ctx, true, false, &err), SPATE_OK);
    spate_context_destroy(ctx);
}

static void bad_arguments(void **state) {
    (void)state;
    struct spate_error err;
    err.message[0] = '\0';
    assert_int_equal(spate_dstream_save_as_text_files(NULL, "x", "y", &err), EINVAL);
    spate_dstream *q;
    spate_context *ctx = start_with("/tmp/x", NULL, &q);
    err.message[0] = '\0';
    assert_int_equal(spate_dstream_save_as_text_files(q, "", "txt", &err), EINVAL);
    assert_true(err.message[0] != '\0');
    assert_int_equal(spate_context_stop(ctx, true, false, &err), SPATE_OK);
    spate_context_destroy(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(files_per_batch),
        cmocka_unit_test(no_suffix),
        cmocka_unit_test(missing_directory_fails_the_batch),
        cmocka_unit_test(bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
