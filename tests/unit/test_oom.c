/*
 * tests/unit/test_oom.c - out-of-memory loops (SQLite's faultsim): for
 * n = 0, 1, 2, ... make the n-th allocation from sp_mem fail and run a whole
 * word count (engine, context, streams, pushes, start, two batches, stop,
 * destroy). Every step must fail with ENOMEM or succeed; a batch that runs
 * out of memory is reported as a failed batch; nothing may crash, hang or
 * leak (the ASan tree runs this). The loop ends at the first n where the
 * whole run succeeds. Needs a build with SPATE_FAULT_INJECTION (Debug).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "engine/mem.h"
#include "spate/spate.h"

#ifdef SPATE_FAULT_INJECTION

static spate_status count_rows(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    *(uint64_t *)user += spate_batch_rows(b);
    return SPATE_OK;
}

static long batch_failures; /* runs where the failure hit inside a batch */

/* SPATE_OK when everything worked, ENOMEM when something ran out of memory. */
static spate_status word_count_run(uint64_t *rows) {
    struct spate_error err;
    spate_status rc;
    struct spate_engine_opts eo;
    spate_engine_opts_init(&eo);
    eo.workers = 2;
    eo.pin_workers = false;
    spate_engine *engine = NULL;
    spate_context *ctx = NULL;
    if ((rc = spate_engine_create(&eo, &engine, &err)) != SPATE_OK)
        return rc;
    struct spate_context_opts co;
    spate_context_opts_init(&co);
    co.manual_clock = true;
    if ((rc = spate_context_create(engine, &co, &ctx, &err)) != SPATE_OK) {
        spate_engine_destroy(engine);
        return rc;
    }
    struct spate_column_def cols[] = {{"line", SPATE_TYPE_STRING}};
    spate_dstream *q = spate_context_queue_stream(ctx, cols, 1, &err);
    spate_dstream *w = q ? spate_dstream_flat_map_words(q, &err) : NULL;
    struct spate_reduce_opts ro;
    spate_reduce_opts_init(&ro);
    ro.agg = SPATE_AGG_COUNT;
    spate_dstream *r = w ? spate_dstream_reduce_by_key(w, &ro, &err) : NULL;
    struct spate_window_opts wo;
    spate_window_opts_init(&wo);
    wo.length_ms = 2000;
    wo.use_inverse = true;
    spate_dstream *win = w ? spate_dstream_reduce_by_key_and_window(w, &ro, &wo, &err) : NULL;
    rc = r && win ? spate_dstream_foreach_batch(r, count_rows, rows, &err) : ENOMEM;
    if (rc == SPATE_OK)
        rc = spate_dstream_foreach_batch(win, count_rows, rows, &err);
    static const char *lines[] = {"a b c a", "a-long-word-over-twelve-bytes b", "", "x y z"};
    if (rc == SPATE_OK)
        rc = spate_queue_push_lines(q, lines, 4, &err);
    if (rc == SPATE_OK)
        rc = spate_queue_push_lines(q, lines + 1, 2, &err);
    if (rc == SPATE_OK)
        rc = spate_context_start(ctx, &err);
    if (rc == SPATE_OK)
        rc = spate_context_advance(ctx, 2, &err);
    if (rc == SPATE_OK) {
        bool stopped;
        spate_status brc = spate_context_await_termination_timeout(ctx, 0, &stopped, &err);
        if (brc == EIO && strstr(err.message, "out of memory") != NULL) {
            rc = ENOMEM; /* a batch ran out: reported, the context carried on */
            batch_failures++;
        } else
            rc = brc;
    }
    spate_status src = spate_context_stop(ctx, true, false, &err);
    spate_context_destroy(ctx);
    if (src != SPATE_OK)
        return src;
    return rc;
}

static void oom_loop_word_count(void **state) {
    (void)state;
    long n;
    for (n = 0; n < 5000; n++) {
        uint64_t rows = 0;
        sp_mem_fail_after(n);
        spate_status rc = word_count_run(&rows);
        sp_mem_fail_after(-1);
        if (rc == SPATE_OK) {
            assert_true(rows > 0);
            break;
        }
        if (rc != ENOMEM)
            fail_msg("allocation %ld failing gave %d (%s), not ENOMEM", n, rc, strerror(rc));
    }
    assert_true(n < 5000);
    assert_true(batch_failures > 0); /* the loop reached the batches, not only set-up */
    printf("oom loop: the run succeeds once %ld allocations succeed; %ld runs failed inside a "
           "batch\n",
           n, batch_failures);
}

/* ---- Composite keys and AVG: reduce_by_key and both window forms ---- */

/* SPATE_OK when everything worked, ENOMEM when something ran out of memory. */
static spate_status composite_avg_run(uint64_t *rows) {
    struct spate_error err;
    spate_status rc;
    struct spate_engine_opts eo;
    spate_engine_opts_init(&eo);
    eo.workers = 2;
    eo.pin_workers = false;
    spate_engine *engine = NULL;
    spate_context *ctx = NULL;
    if ((rc = spate_engine_create(&eo, &engine, &err)) != SPATE_OK)
        return rc;
    struct spate_context_opts co;
    spate_context_opts_init(&co);
    co.manual_clock = true;
    if ((rc = spate_context_create(engine, &co, &ctx, &err)) != SPATE_OK) {
        spate_engine_destroy(engine);
        return rc;
    }
    struct spate_column_def cols[] = {
        {"s", SPATE_TYPE_STRING}, {"k", SPATE_TYPE_I64}, {"v", SPATE_TYPE_I64}};
    spate_dstream *q = spate_context_queue_stream(ctx, cols, 3, &err);
    struct spate_reduce_opts ro;
    spate_reduce_opts_init(&ro);
    ro.agg = SPATE_AGG_AVG;
    ro.num_key_cols = 2;
    ro.key_cols[0] = 0;
    ro.key_cols[1] = 1;
    ro.value_col = 2;
    spate_dstream *out[3] = {NULL, NULL, NULL};
    out[0] = q ? spate_dstream_reduce_by_key(q, &ro, &err) : NULL;
    struct spate_window_opts wo;
    spate_window_opts_init(&wo);
    wo.length_ms = 2000;
    wo.use_inverse = true;
    out[1] = q ? spate_dstream_reduce_by_key_and_window(q, &ro, &wo, &err) : NULL;
    wo.use_inverse = false;
    out[2] = q ? spate_dstream_reduce_by_key_and_window(q, &ro, &wo, &err) : NULL;
    rc = out[0] && out[1] && out[2] ? SPATE_OK : ENOMEM;
    for (int i = 0; i < 3 && rc == SPATE_OK; i++)
        rc = spate_dstream_foreach_batch(out[i], count_rows, rows, &err);
    static struct spate_string s[4];
    static const char *text[4] = {"a", "a-long-key-over-twelve-bytes", "a", "b"};
    for (int i = 0; i < 4; i++) {
        memset(&s[i], 0, sizeof(s[i]));
        s[i].len = (uint32_t)strlen(text[i]);
        if (s[i].len > 12) {
            memcpy(s[i].prefix, text[i], 4);
            s[i].u.ptr = text[i];
        } else {
            memcpy((char *)&s[i] + offsetof(struct spate_string, prefix), text[i], s[i].len);
        }
    }
    static int64_t k[4] = {1, 2, 1, 3}, v[4] = {10, 20, 30, 40};
    static uint64_t v_valid[1] = {0xb}; /* row 2's value is null */
    struct spate_column_data cd[3] = {{s, NULL}, {k, NULL}, {v, v_valid}};
    if (rc == SPATE_OK)
        rc = spate_queue_push(q, cd, 4, &err);
    if (rc == SPATE_OK)
        rc = spate_queue_push(q, cd, 3, &err);
    if (rc == SPATE_OK)
        rc = spate_context_start(ctx, &err);
    if (rc == SPATE_OK)
        rc = spate_context_advance(ctx, 3, &err);
    if (rc == SPATE_OK) {
        bool stopped;
        spate_status brc = spate_context_await_termination_timeout(ctx, 0, &stopped, &err);
        if (brc == EIO && strstr(err.message, "out of memory") != NULL) {
            rc = ENOMEM;
            batch_failures++;
        } else
            rc = brc;
    }
    spate_status src = spate_context_stop(ctx, true, false, &err);
    spate_context_destroy(ctx);
    if (src != SPATE_OK)
        return src;
    return rc;
}

static void oom_loop_composite_avg(void **state) {
    (void)state;
    long n;
    batch_failures = 0;
    for (n = 0; n < 5000; n++) {
        uint64_t rows = 0;
        sp_mem_fail_after(n);
        spate_status rc = composite_avg_run(&rows);
        sp_mem_fail_after(-1);
        if (rc == SPATE_OK) {
            assert_true(rows > 0);
            break;
        }
        if (rc != ENOMEM)
            fail_msg("allocation %ld failing gave %d (%s), not ENOMEM", n, rc, strerror(rc));
    }
    assert_true(n < 5000);
    assert_true(batch_failures > 0);
    printf("oom loop (composite keys, AVG): the run succeeds once %ld allocations succeed; %ld "
           "runs failed inside a batch\n",
           n, batch_failures);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(oom_loop_word_count),
        cmocka_unit_test(oom_loop_composite_avg),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#else

static void oom_needs_fault_injection(void **state) {
    (void)state;
    skip(); /* SPATE_FAULT_INJECTION is off in this tree: the Debug (ASan) tree runs it */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(oom_needs_fault_injection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#endif
