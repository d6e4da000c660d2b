/*
 * tests/e2e/test_files.c - text_file_stream on a real directory and the wall
 * clock: a file written slowly is taken once closed, one renamed in is taken,
 * an empty file adds nothing, a last line without '\n' still counts, hidden
 * files and files there before start are ignored (unless include_existing),
 * a file closed twice is read once; every line arrives exactly once. A
 * missing directory fails the start with a message.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "spate/spate.h"

struct lines {
    pthread_mutex_t mu;
    uint32_t n;
    char line[256][48];
};

static spate_status collect(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    struct lines *ls = user;
    for (uint32_t p = 0; p < spate_batch_num_partitions(b); p++)
        for (uint32_t c = 0; c < spate_batch_num_chunks(b, p); c++) {
            struct spate_chunk_view v;
            if (spate_batch_chunk(b, p, c, &v) != SPATE_OK)
                return EIO;
            for (uint32_t r = 0; r < v.rows; r++) {
                const char *s;
                uint32_t len;
                if (!spate_chunk_get_string(&v, 0, r, &s, &len) || ls->n >= 256)
                    return EIO;
                pthread_mutex_lock(&ls->mu);
                snprintf(ls->line[ls->n++], 48, "%.*s", (int)len, s);
                pthread_mutex_unlock(&ls->mu);
            }
        }
    return SPATE_OK;
}

static void write_file(const char *dir, const char *name, const char *text) {
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void nap_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static int cmp(const void *a, const void *b) {
    return strcmp(a, b);
}

static uint32_t count_now(struct lines *ls) {
    pthread_mutex_lock(&ls->mu);
    uint32_t n = ls->n;
    pthread_mutex_unlock(&ls->mu);
    return n;
}

static spate_context *make_ctx(const char *dir, bool existing, struct lines *ls,
                               spate_dstream **out) {
    struct spate_error err;
    struct spate_engine_opts eo;
    spate_engine_opts_init(&eo);
    eo.workers = 2;
    eo.pin_workers = false;
    spate_engine *engine;
    assert_int_equal(spate_engine_create(&eo, &engine, &err), SPATE_OK);
    struct spate_context_opts co;
    spate_context_opts_init(&co);
    co.batch_interval_ms = 50;
    spate_context *ctx;
    assert_int_equal(spate_context_create(engine, &co, &ctx, &err), SPATE_OK);
    struct spate_file_stream_opts fo;
    spate_file_stream_opts_init(&fo);
    fo.include_existing = existing;
    spate_dstream *f = spate_context_text_file_stream(ctx, dir, &fo, &err);
    assert_non_null(f);
    assert_int_equal(spate_dstream_foreach_batch(f, collect, ls, &err), SPATE_OK);
    *out = f;
    return ctx;
}

static void files_that_appear(void **state) {
    (void)state;
    char dir[] = "/tmp/spate-files-XXXXXX";
    assert_non_null(mkdtemp(dir));
    write_file(dir, "before.txt", "old 1\nold 2\n");
    static struct lines ls;
    memset(&ls, 0, sizeof(ls));
    pthread_mutex_init(&ls.mu, NULL);
    spate_dstream *f;
    spate_context *ctx = make_ctx(dir, false, &ls, &f);
    struct spate_error err;
    assert_int_equal(spate_context_start(ctx, &err), SPATE_OK);
    nap_ms(60);
    /* Written slowly: nothing before the close. */
    char path[512];
    snprintf(path, sizeof(path), "%s/a.txt", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "a 1\na ", 6), 6);
    nap_ms(150);
    assert_int_equal(count_now(&ls), 0);
    assert_int_equal(write(fd, "2\na 3\n", 6), 6);
    close(fd);
    /* Renamed in, from a hidden name (never read as such). */
    write_file(dir, ".b.tmp", "b 1\nb 2\n");
    char from[512], to[512];
    snprintf(from, sizeof(from), "%s/.b.tmp", dir);
    snprintf(to, sizeof(to), "%s/b.txt", dir);
    assert_int_equal(rename(from, to), 0);
    write_file(dir, "empty.txt", "");
    write_file(dir, "c.txt", "c 1\nno newline at the end");
    write_file(dir, ".hidden", "never\n");
    /* a.txt closed again (once its first content is in): read once only. */
    for (int i = 0; i < 500 && count_now(&ls) < 3; i++)
        nap_ms(10);
    fd = open(path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "a 4\n", 4), 4);
    close(fd);
    for (int i = 0; i < 200 && count_now(&ls) < 7; i++)
        nap_ms(20);
    nap_ms(200); /* and nothing more comes */
    assert_int_equal(spate_context_stop(ctx, true, true, &err), SPATE_OK);
    struct spate_input_stats st;
    assert_int_equal(spate_input_stats(f, &st, &err), SPATE_OK);
    spate_context_destroy(ctx);
    qsort(ls.line, ls.n, sizeof(ls.line[0]), cmp);
    static const char *want[] = {"a 1", "a 2", "a 3", "b 1", "b 2", "c 1", "no newline at the end"};
    assert_int_equal(ls.n, 7);
    for (uint32_t i = 0; i < 7; i++)
        assert_string_equal(ls.line[i], want[i]);
    assert_int_equal(st.records, 7);
    assert_int_equal(st.files, 4); /* a, b, empty, c */
    /* With include_existing the old file is read too; a FIFO there is skipped, never waited on. */
    char fifo[512];
    snprintf(fifo, sizeof(fifo), "%s/a-fifo", dir);
    assert_int_equal(mkfifo(fifo, 0644), 0);
    memset(&ls, 0, sizeof(ls));
    pthread_mutex_init(&ls.mu, NULL);
    ctx = make_ctx(dir, true, &ls, &f);
    assert_int_equal(spate_context_start(ctx, &err), SPATE_OK);
    for (int i = 0; i < 200 && count_now(&ls) < 9; i++)
        nap_ms(20);
    assert_int_equal(spate_context_stop(ctx, true, true, &err), SPATE_OK);
    spate_context_destroy(ctx);
    assert_int_equal(ls.n, 2 + 4 + 2 + 2); /* before, a (4 lines now), b, c */
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void missing_directory(void **state) {
    (void)state;
    static struct lines ls;
    memset(&ls, 0, sizeof(ls));
    pthread_mutex_init(&ls.mu, NULL);
    spate_dstream *f;
    spate_context *ctx = make_ctx("/nonexistent/spate-dir", false, &ls, &f);
    struct spate_error err;
    assert_int_equal(spate_context_start(ctx, &err), EIO);
    assert_non_null(strstr(err.message, "cannot watch"));
    spate_status rc = spate_context_stop(ctx, true, false, &err); /* the engine goes too */
    (void)rc;
    spate_context_destroy(ctx);
    assert_null(spate_context_text_file_stream(NULL, "/tmp", NULL, &err));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(files_that_appear),
        cmocka_unit_test(missing_directory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
