/*
 * tests/conformance/test_receiver.c - receiver streams (Spark's custom
 * receivers): threads of the program's receiver store rows and lines; every
 * batch takes all that was stored since the last, exactly once (numbered
 * rows, nothing lost or doubled); a graceful stop stops the receiver, then
 * processes what it stored; stores after stop fail; start failures and the
 * stop of receivers started before a failing one; definition errors.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "spate/spate.h"

#include "harness.h"

#define THREADS 3
#define STORES 200
#define ROWS 37
#define TOTAL (THREADS * STORES * ROWS)

struct prog {
    spate_receiver *r;
    pthread_t th[THREADS];
    atomic_bool quit;
    atomic_int done;
    atomic_uint_fast64_t stored; /* rows stored successfully */
    atomic_int starts, stops;
    bool forever;           /* store until stopped (graceful stop test) */
    spate_status fail_with; /* start fails with this */
    bool lines;             /* store_lines instead of store */
};

struct worker_arg {
    struct prog *p;
    int64_t id;
};
static struct worker_arg wargs[THREADS];

static void *producer(void *arg) {
    struct worker_arg *wa = arg;
    struct prog *p = wa->p;
    for (int64_t s = 0; !atomic_load(&p->quit) && (p->forever || s < STORES); s++) {
        int64_t v[ROWS];
        char text[ROWS][24];
        const char *lines[ROWS];
        for (int64_t i = 0; i < ROWS; i++) {
            v[i] = (wa->id * 1000000 + s) * 100 + i; /* unique per row */
            snprintf(text[i], sizeof(text[i]), "%lld", (long long)v[i]);
            lines[i] = text[i];
        }
        struct spate_error err;
        struct spate_column_data d[] = {{v, NULL}};
        spate_status rc = p->lines ? spate_receiver_store_lines(p->r, lines, ROWS, &err)
                                   : spate_receiver_store(p->r, d, ROWS, &err);
        if (rc == ECANCELED)
            break; /* stopped */
        if (rc != SPATE_OK)
            abort();
        atomic_fetch_add(&p->stored, ROWS);
        if (p->forever) {
            struct timespec ts = {0, 200000};
            nanosleep(&ts, NULL);
        }
    }
    atomic_fetch_add(&p->done, 1);
    return NULL;
}

static spate_status prog_start(void *user, spate_receiver *r, struct spate_error *err) {
    struct prog *p = user;
    atomic_fetch_add(&p->starts, 1);
    if (p->fail_with != SPATE_OK) {
        snprintf(err->message, sizeof(err->message), "the device is unplugged");
        return p->fail_with;
    }
    p->r = r;
    for (int t = 0; t < THREADS; t++) {
        wargs[t] = (struct worker_arg){p, t};
        if (pthread_create(&p->th[t], NULL, producer, &wargs[t]) != 0)
            return EAGAIN;
    }
    return SPATE_OK;
}

static void prog_stop(void *user) {
    struct prog *p = user;
    atomic_fetch_add(&p->stops, 1);
    atomic_store(&p->quit, true);
    for (int t = 0; t < THREADS; t++)
        pthread_join(p->th[t], NULL);
}

/* Every row seen, once. */
struct seen {
    uint8_t *hit; /* by (thread, store, row) */
    uint64_t rows, dup, bad, batches, max_parts;
};

static spate_status check_rows(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    struct seen *s = user;
    s->batches++;
    if (spate_batch_num_partitions(b) > s->max_parts)
        s->max_parts = spate_batch_num_partitions(b);
    for (uint32_t p = 0; p < spate_batch_num_partitions(b); p++)
        for (uint32_t c = 0; c < spate_batch_num_chunks(b, p); c++) {
            struct spate_chunk_view v;
            if (spate_batch_chunk(b, p, c, &v) != SPATE_OK)
                return EIO;
            for (uint32_t r = 0; r < v.rows; r++) {
                int64_t x;
                const char *str;
                uint32_t len;
                if (spate_chunk_get_string(&v, 0, r, &str, &len)) {
                    char tmp[32];
                    snprintf(tmp, sizeof(tmp), "%.*s", (int)len, str);
                    x = atoll(tmp);
                } else if (!spate_chunk_get_i64(&v, 0, r, &x)) {
                    s->bad++;
                    continue;
                }
                int64_t t = x / 100000000, st = (x / 100) % 1000000, i = x % 100;
                if (t < 0 || t >= THREADS || i >= ROWS || st >= 1000000) {
                    s->bad++;
                    continue;
                }
                uint64_t idx = ((uint64_t)t * 1000000 + (uint64_t)st) * ROWS + (uint64_t)i;
                if (s->hit[idx])
                    s->dup++;
                s->hit[idx] = 1;
                s->rows++;
            }
        }
    return SPATE_OK;
}

static const struct spate_column_def icol[] = {{"v", SPATE_TYPE_I64}};
static const struct spate_column_def scol[] = {{"line", SPATE_TYPE_STRING}};

static void every_store_once(void **state) {
    (void)state;
    for (int lines = 0; lines <= 1; lines++) {
        static struct prog p;
        memset(&p, 0, sizeof(p));
        p.lines = lines;
        struct seen s = {calloc((size_t)THREADS * 1000000 * ROWS / 64 + 1, 64), 0, 0, 0, 0, 0};
        assert_non_null(s.hit);
        spate_context *ctx = harness_manual_ctx(2);
        struct spate_error err;
        struct spate_receiver_ops ops = {prog_start, prog_stop, &p};
        spate_dstream *rs = spate_context_receiver_stream(ctx, lines ? scol : icol, 1, &ops, &err);
        assert_non_null(rs);
        /* Not a queue: pushes are refused. */
        int64_t one = 1;
        struct spate_column_data d[] = {{&one, NULL}};
        assert_int_equal(spate_queue_push(rs, d, 1, &err), EINVAL);
        assert_int_equal(spate_dstream_foreach_batch(rs, check_rows, &s, &err), SPATE_OK);
        assert_int_equal(spate_context_start(ctx, &err), SPATE_OK);
        while (atomic_load(&p.done) < THREADS) {
            /* Batches while the threads store: each takes what was stored so far. */
            assert_int_equal(spate_context_advance(ctx, 1, &err), SPATE_OK);
        }
        assert_int_equal(spate_context_advance(ctx, 1, &err), SPATE_OK);
        bool stopped;
        assert_int_equal(spate_context_await_termination_timeout(ctx, 0, &stopped, &err), SPATE_OK);
        assert_int_equal(atomic_load(&p.stored), TOTAL);
        assert_int_equal(s.rows, TOTAL);
        assert_int_equal(s.dup, 0);
        assert_int_equal(s.bad, 0);
        assert_true(s.max_parts > 1); /* stores are partitions of their own */
        assert_int_equal(spate_context_stop(ctx, true, false, &err), SPATE_OK);
        assert_int_equal(atomic_load(&p.starts), 1);
        assert_int_equal(atomic_load(&p.stops), 1);
        /* After stop (the handle lives as long as the context): refused. */
        assert_int_equal(spate_receiver_store(p.r, d, 1, &err), ECANCELED);
        spate_context_destroy(ctx);
        free(s.hit);
    }
}

/* A graceful stop on the wall clock: the receiver stops, then everything stored is processed. */
static void graceful_stop_processes_all_stored(void **state) {
    (void)state;
    static struct prog p;
    memset(&p, 0, sizeof(p));
    p.forever = true;
    struct seen s = {calloc((size_t)THREADS * 1000000 * ROWS / 64 + 1, 64), 0, 0, 0, 0, 0};
    assert_non_null(s.hit);
    struct spate_error err;
    struct spate_engine_opts eo;
    spate_engine_opts_init(&eo);
    eo.workers = 2;
    eo.pin_workers = false;
    spate_engine *engine;
    assert_int_equal(spate_engine_create(&eo, &engine, &err), SPATE_OK);
    struct spate_context_opts co;
    spate_context_opts_init(&co);
    co.batch_interval_ms = 20;
    spate_context *ctx;
    assert_int_equal(spate_context_create(engine, &co, &ctx, &err), SPATE_OK);
    struct spate_receiver_ops ops = {prog_start, prog_stop, &p};
    spate_dstream *rs = spate_context_receiver_stream(ctx, icol, 1, &ops, &err);
    assert_int_equal(spate_dstream_foreach_batch(rs, check_rows, &s, &err), SPATE_OK);
    assert_int_equal(spate_context_start(ctx, &err), SPATE_OK);
    struct timespec ts = {0, 150000000};
    nanosleep(&ts, NULL);
    assert_int_equal(spate_context_stop(ctx, true, true, &err), SPATE_OK);
    assert_true(atomic_load(&p.stored) > 0);
    assert_int_equal(s.rows, atomic_load(&p.stored));
    assert_int_equal(s.dup, 0);
    assert_int_equal(atomic_load(&p.stops), 1);
    spate_context_destroy(ctx);
    free(s.hit);
}

static void start_failures(void **state) {
    (void)state;
    static struct prog good, bad;
    memset(&good, 0, sizeof(good));
    memset(&bad, 0, sizeof(bad));
    bad.fail_with = EIO;
    spate_context *ctx = harness_manual_ctx(1);
    struct spate_error err;
    struct spate_receiver_ops gops = {prog_start, prog_stop, &good};
    struct spate_receiver_ops bops = {prog_start, prog_stop, &bad};
    spate_dstream *g = spate_context_receiver_stream(ctx, icol, 1, &gops, &err);
    assert_non_null(g);
    assert_non_null(spate_context_receiver_stream(ctx, icol, 1, &bops, &err));
    assert_int_equal(spate_dstream_print(g, 1, &err), SPATE_OK);
    spate_status rc = spate_context_start(ctx, &err);
    if (rc != EIO)
        fail_msg("start: %d %s", rc, err.message);
    assert_non_null(strstr(err.message, "the device is unplugged"));
    /* The receiver that started was stopped; the one that failed never is. */
    assert_int_equal(atomic_load(&good.starts), 1);
    assert_int_equal(atomic_load(&good.stops), 1);
    assert_int_equal(atomic_load(&bad.stops), 0);
    rc = spate_context_stop(ctx, true, false, &err); /* the engine goes too */
    (void)rc;
    spate_context_destroy(ctx);
    assert_int_equal(atomic_load(&good.stops), 1);
}

static void definition_errors(void **state) {
    (void)state;
    spate_context *ctx = harness_manual_ctx(1);
    struct spate_error err;
    struct spate_receiver_ops ops = {prog_start, NULL, NULL};
    assert_null(spate_context_receiver_stream(ctx, icol, 1, &ops, &err));
    assert_non_null(strstr(err.message, "required"));
    assert_null(spate_context_receiver_stream(ctx, icol, 1, NULL, &err));
    assert_int_equal(spate_receiver_store(NULL, NULL, 0, &err), EINVAL);
    assert_int_equal(spate_receiver_store_lines(NULL, NULL, 0, &err), EINVAL);
    harness_close(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_store_once),
        cmocka_unit_test(graceful_stop_processes_all_stored),
        cmocka_unit_test(start_failures),
        cmocka_unit_test(definition_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
