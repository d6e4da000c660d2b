/*
 * tests/unit/test_oom_binary.c - out-of-memory loop over a parse_binary
 * pipeline (queue of binary values -> parse_binary with a dead-letter file ->
 * foreach_batch): for n = 0, 1, 2, ... the n-th allocation from sp_mem
 * fails. Every step must fail with ENOMEM or succeed, a batch that runs out
 * is a failed batch, and nothing may crash, hang or leak (the ASan tree runs
 * this). The loop ends at the first n where the whole run succeeds, whose
 * rows and malformed count must be exact. Needs SPATE_FAULT_INJECTION (Debug).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/mem.h"
#include "spate/spate.h"

#ifdef SPATE_FAULT_INJECTION

static spate_status count_rows(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    *(uint64_t *)user += spate_batch_rows(b);
    return SPATE_OK;
}

static long batch_failures; /* runs where the failure hit inside a batch */

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

/* SPATE_OK when everything worked, ENOMEM when something ran out of memory. */
static spate_status binary_run(const char *dead, uint64_t *rows, uint64_t *malformed) {
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
    static const struct spate_binary_field fields[] = {{"id", SPATE_TYPE_I64, 0, 0},
                                                       {"ok", SPATE_TYPE_BOOL, 0, 0},
                                                       {"name", SPATE_TYPE_STRING, 16, 0}};
    struct spate_binary_opts bo;
    spate_binary_opts_init(&bo);
    bo.dead_letter = dead;
    struct spate_column_def cols[] = {{"value", SPATE_TYPE_STRING}};
    spate_dstream *q = spate_context_queue_stream(ctx, cols, 1, &err);
    spate_dstream *p = q ? spate_dstream_parse_binary(q, 0, fields, 3, &bo, &err) : NULL;
    rc = p ? spate_dstream_foreach_batch(p, count_rows, rows, &err) : ENOMEM;
    static char recs[5][25];
    struct spate_string views[5];
    for (int i = 0; i < 5; i++) {
        memset(recs[i], 0, sizeof(recs[i]));
        recs[i][0] = (char)i;
        recs[i][8] = i == 3 ? 7 : 1; /* record 3: a bad bool */
        snprintf(recs[i] + 9, 16, "name-%d-long", i);
        mkview(&views[i], recs[i], 25);
    }
    struct spate_column_data data = {views, NULL};
    if (rc == SPATE_OK)
        rc = spate_queue_push(q, &data, 5, &err);
    if (rc == SPATE_OK)
        rc = spate_context_start(ctx, &err);
    if (rc == SPATE_OK)
        rc = spate_context_advance(ctx, 1, &err);
    if (rc == SPATE_OK) {
        bool stopped;
        spate_status brc = spate_context_await_termination_timeout(ctx, 0, &stopped, &err);
        if (brc == EIO && strstr(err.message, "out of memory") != NULL) {
            rc = ENOMEM;
            batch_failures++;
        } else
            rc = brc;
    }
    *malformed = p ? spate_dstream_malformed(p) : 0;
    spate_status src = spate_context_stop(ctx, true, false, &err);
    spate_context_destroy(ctx);
    if (src != SPATE_OK)
        return src;
    return rc;
}

static void oom_loop_parse_binary(void **state) {
    (void)state;
    char dead[] = "/tmp/spate-oom-dead-XXXXXX";
    int fd = mkstemp(dead);
    assert_true(fd >= 0);
    close(fd);
    long n;
    uint64_t rows = 0, malformed = 0;
    for (n = 0; n < 5000; n++) {
        rows = malformed = 0;
        sp_mem_fail_after(n);
        spate_status rc = binary_run(dead, &rows, &malformed);
        sp_mem_fail_after(-1);
        if (rc == SPATE_OK)
            break;
        if (rc != ENOMEM)
            fail_msg("allocation %ld failing gave %d (%s), not ENOMEM", n, rc, strerror(rc));
    }
    unlink(dead);
    assert_true(n < 5000);
    assert_int_equal(rows, 4);
    assert_int_equal(malformed, 1);
    assert_true(batch_failures > 0); /* the loop reached the batches, not only set-up */
    printf("oom loop: the run succeeds once %ld allocations succeed; %ld runs failed inside a "
           "batch\n",
           n, batch_failures);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(oom_loop_parse_binary),
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
