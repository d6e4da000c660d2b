/*
 * tests/e2e/test_signals.c - the opt-in signal helper: nothing is installed
 * unless asked; the first SIGINT stops gracefully (queued data is still
 * processed); a second signal during a slow graceful stop forces it; the
 * previous handlers come back when the context is destroyed; a second
 * helper is refused while one is installed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "spate/spate.h"

static _Atomic uint64_t rows_seen, batches_seen;
static int slow_ms;

static spate_status count_rows(void *user, const spate_batch *b, struct spate_error *err) {
    (void)user;
    (void)err;
    atomic_fetch_add(&rows_seen, spate_batch_rows(b));
    atomic_fetch_add(&batches_seen, 1);
    if (slow_ms > 0) {
        struct timespec ts = {0, (long)slow_ms * 1000000L};
        nanosleep(&ts, NULL);
    }
    return SPATE_OK;
}

/* A manual-clock context with batches of rows queued (not yet run). */
static spate_context *queued_ctx(uint32_t batches, uint32_t rows) {
    struct spate_error err;
    struct spate_engine_opts eo;
    spate_engine_opts_init(&eo);
    eo.workers = 1;
    eo.pin_workers = false;
    spate_engine *engine;
    assert_int_equal(spate_engine_create(&eo, &engine, &err), SPATE_OK);
    struct spate_context_opts co;
    spate_context_opts_init(&co);
    co.manual_clock = true;
    spate_context *ctx;
    assert_int_equal(spate_context_create(engine, &co, &ctx, &err), SPATE_OK);
    struct spate_column_def cols[] = {{"x", SPATE_TYPE_I64}};
    spate_dstream *q = spate_context_queue_stream(ctx, cols, 1, &err);
    assert_int_equal(spate_dstream_foreach_batch(q, count_rows, NULL, &err), SPATE_OK);
    static int64_t data[1000];
    for (uint32_t b = 0; b < batches; b++) {
        struct spate_column_data d = {data, NULL};
        assert_int_equal(spate_queue_push(q, &d, rows, &err), SPATE_OK);
    }
    atomic_store(&rows_seen, 0);
    atomic_store(&batches_seen, 0);
    return ctx;
}

static bool handler_is_default(int signo) {
    struct sigaction sa;
    sigaction(signo, NULL, &sa);
    return sa.sa_handler == SIG_DFL;
}

static void first_signal_stops_gracefully(void **state) {
    (void)state;
    assert_true(handler_is_default(SIGINT)); /* nothing installed by spate on its own */
    spate_context *ctx = queued_ctx(3, 100);
    struct spate_error err;
    assert_true(handler_is_default(SIGINT));
    assert_int_equal(spate_context_start(ctx, &err), SPATE_OK);
    assert_int_equal(spate_context_stop_on_signals(ctx, &err), SPATE_OK);
    assert_false(handler_is_default(SIGINT));
    assert_int_equal(spate_context_stop_on_signals(ctx, &err), EBUSY);
    raise(SIGINT);
    bool stopped = false;
    assert_int_equal(spate_context_await_termination_timeout(ctx, 10000, &stopped, &err), SPATE_OK);
    assert_true(stopped);
    assert_int_equal(atomic_load(&rows_seen), 300); /* the queued batches ran first */
    assert_int_equal(spate_context_stop(ctx, true, false, &err), SPATE_OK);
    spate_context_destroy(ctx);
    assert_true(handler_is_default(SIGINT));
    assert_true(handler_is_default(SIGTERM));
}

static void second_signal_forces(void **state) {
    (void)state;
    spate_context *ctx = queued_ctx(40, 10);
    struct spate_error err;
    slow_ms = 50; /* 40 batches: 2 s of graceful work */
    assert_int_equal(spate_context_start(ctx, &err), SPATE_OK);
    assert_int_equal(spate_context_stop_on_signals(ctx, &err), SPATE_OK);
    raise(SIGTERM);
    struct timespec ts = {0, 200 * 1000000L};
    nanosleep(&ts, NULL);
    raise(SIGTERM);
    bool stopped = false;
    assert_int_equal(spate_context_await_termination_timeout(ctx, 10000, &stopped, &err), SPATE_OK);
    assert_true(stopped);
    assert_true(atomic_load(&batches_seen) < 40); /* the rest was given up */
    slow_ms = 0;
    assert_int_equal(spate_context_stop(ctx, true, false, &err), SPATE_OK);
    spate_context_destroy(ctx);
    assert_true(handler_is_default(SIGTERM));
}

static void helper_needs_a_context(void **state) {
    (void)state;
    struct spate_error err;
    err.message[0] = '\0';
    assert_int_equal(spate_context_stop_on_signals(NULL, &err), EINVAL);
    assert_true(err.message[0] != '\0');
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(first_signal_stops_gracefully),
        cmocka_unit_test(second_signal_forces),
        cmocka_unit_test(helper_needs_a_context),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
