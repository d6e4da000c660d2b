/*
 * tests/conformance/harness.h - what the conformance programs share: a
 * context on the manual clock over a fresh engine, and running its queued
 * batches to the end. Static inline only: each test program includes it.
 * Failures are cmocka assertions in the calling test.
 */
#ifndef SPATE_TEST_HARNESS_H
#define SPATE_TEST_HARNESS_H

#include "spate/spate.h"

#include <stdlib.h>
#include <string.h>

/* A manual-clock context (interval 1000 ms, zero time 0) on an engine of workers threads. */
static inline spate_context *harness_manual_ctx(uint32_t workers) {
    struct spate_error err;
    struct spate_engine_opts eo;
    spate_engine_opts_init(&eo);
    eo.workers = workers;
    eo.pin_workers = false;
    spate_engine *engine;
    spate_status rc = spate_engine_create(&eo, &engine, &err);
    if (rc != SPATE_OK && getenv("SPATE_ISA") != NULL && strstr(err.message, "not supported")) {
        print_message("skipping: SPATE_ISA=%s is not supported by this CPU\n", getenv("SPATE_ISA"));
        skip();
    }
    assert_int_equal(rc, SPATE_OK);
    struct spate_context_opts co;
    spate_context_opts_init(&co);
    co.manual_clock = true;
    co.batch_interval_ms = 1000;
    spate_context *ctx;
    assert_int_equal(spate_context_create(engine, &co, &ctx, &err), SPATE_OK);
    return ctx;
}

/* Start, run batches batches, require that none failed, stop (engine too) and destroy. */
static inline void harness_run(spate_context *ctx, uint32_t batches) {
    struct spate_error err;
    assert_int_equal(spate_context_start(ctx, &err), SPATE_OK);
    assert_int_equal(spate_context_advance(ctx, batches, &err), SPATE_OK);
    bool stopped;
    spate_status rc = spate_context_await_termination_timeout(ctx, 0, &stopped, &err);
    if (rc != SPATE_OK)
        fail_msg("a batch failed: %s", err.message);
    assert_int_equal(spate_context_stop(ctx, true, false, &err), SPATE_OK);
    spate_context_destroy(ctx);
}

/* Start and run batches batches, requiring that none failed; the context stays (close it). */
static inline void harness_run_keep(spate_context *ctx, uint32_t batches) {
    struct spate_error err;
    assert_int_equal(spate_context_start(ctx, &err), SPATE_OK);
    assert_int_equal(spate_context_advance(ctx, batches, &err), SPATE_OK);
    bool stopped;
    spate_status rc = spate_context_await_termination_timeout(ctx, 0, &stopped, &err);
    if (rc != SPATE_OK)
        fail_msg("a batch failed: %s", err.message);
}

/* Stop (engine too) and destroy a context that was only defined (or run with _keep). */
static inline void harness_close(spate_context *ctx) {
    struct spate_error err;
    assert_int_equal(spate_context_stop(ctx, true, false, &err), SPATE_OK);
    spate_context_destroy(ctx);
}

#endif /* SPATE_TEST_HARNESS_H */
