/*
 * tests/conformance/test_map_state.c - map_with_state against a naive
 * simulation: one call per record and never for idle keys, state
 * exists/get/update/remove, one last call with is_timing_out for a key idle
 * past the timeout (found at the first batch past it) and then the key is
 * gone, snapshots of the whole state after each batch, misuse of the state
 * (update after remove, update while timing out) failing the batch with a
 * message, and the same results on 1, 2 and 4 workers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spate/spate.h"

#include "harness.h"

#define NKEYS 30
#define NBATCH 10
#define MAXROWS 600

/*
 * The function: state = running sum of values; value 0 removes the state
 * (sent only as a key's single record of a batch); mapped = 1 per record,
 * -(state) on the timeout call.
 */
static _Atomic uint64_t record_calls, timeout_calls;

static spate_status sum_fn(void *user, int64_t t, const struct spate_string *skey, int64_t ikey,
                           const int64_t *value, spate_keyed_state *st, int64_t *mapped, bool *emit,
                           struct spate_error *err) {
    (void)user;
    (void)t;
    (void)skey;
    (void)ikey;
    *emit = true;
    if (value == NULL) {
        atomic_fetch_add(&timeout_calls, 1);
        if (!spate_keyed_state_is_timing_out(st) || !spate_keyed_state_exists(st))
            return EPROTO;
        *mapped = -spate_keyed_state_get(st);
        return SPATE_OK;
    }
    atomic_fetch_add(&record_calls, 1);
    if (spate_keyed_state_is_timing_out(st))
        return EPROTO;
    *mapped = 1;
    if (*value == 0)
        return spate_keyed_state_remove(st, err);
    return spate_keyed_state_update(st, spate_keyed_state_get(st) + *value, err);
}

struct input {
    uint32_t rows[NBATCH + 1];
    int64_t key[NBATCH + 1][MAXROWS];
    int64_t val[NBATCH + 1][MAXROWS];
};

struct seen {
    int64_t ones[NBATCH + 1][NKEYS];    /* mapped records with value 1 */
    int64_t timeout[NBATCH + 1][NKEYS]; /* the mapped value of the timeout call, 0 if none */
    bool snap_has[NBATCH + 1][NKEYS];
    int64_t snap[NBATCH + 1][NKEYS];
    bool bad;
};

static void walk(const spate_batch *b, struct seen *s, bool snapshot) {
    uint32_t k = (uint32_t)(spate_batch_time_ms(b) / 1000);
    if (k < 1 || k > NBATCH) {
        s->bad = true;
        return;
    }
    for (uint32_t p = 0; p < spate_batch_num_partitions(b); p++) {
        for (uint32_t c = 0; c < spate_batch_num_chunks(b, p); c++) {
            struct spate_chunk_view v;
            if (spate_batch_chunk(b, p, c, &v) != SPATE_OK) {
                s->bad = true;
                return;
            }
            for (uint32_t r = 0; r < v.rows; r++) {
                int64_t key, x;
                if (!spate_chunk_get_i64(&v, 0, r, &key) || !spate_chunk_get_i64(&v, 1, r, &x) ||
                    key < 0 || key >= NKEYS) {
                    s->bad = true;
                    continue;
                }
                if (snapshot) {
                    s->bad |= s->snap_has[k][key];
                    s->snap_has[k][key] = true;
                    s->snap[k][key] = x;
                } else if (x == 1) {
                    s->ones[k][key]++;
                } else {
                    s->bad |= s->timeout[k][key] != 0;
                    s->timeout[k][key] = x;
                }
            }
        }
    }
}

static spate_status on_mapped(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    walk(b, user, false);
    return SPATE_OK;
}

static spate_status on_snapshot(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    walk(b, user, true);
    return SPATE_OK;
}

static struct input input;
static struct seen seen;

static void make_input(unsigned seed) {
    srand(seed);
    for (int b = 1; b <= NBATCH; b++) {
        uint32_t n = 0;
        int spread = b <= 2 ? NKEYS : 8; /* keys 8.. go idle after batch 2 and time out */
        for (uint32_t i = 0; i < (uint32_t)(b == 6 ? 0 : 300); i++) {
            int64_t key = rand() % spread;
            if (key == 0)
                continue; /* key 0 only as below */
            input.key[b][n] = key;
            input.val[b][n++] = 1 + rand() % 9;
        }
        if (b == 1 || b == 3) { /* key 0: a record in batch 1, its single record 0 in batch 3 */
            input.key[b][n] = 0;
            input.val[b][n++] = b == 1 ? 5 : 0;
        }
        input.rows[b] = n;
    }
}

/* An initial state for map_with_state (keys idle since batch 0), and the naive side's start. */
static bool init_has[NKEYS];
static int64_t init_st[NKEYS];

static void check(int64_t timeout_batches) {
    assert_false(seen.bad);
    bool has[NKEYS];
    int64_t st[NKEYS], last[NKEYS] = {0};
    memcpy(has, init_has, sizeof(has));
    memcpy(st, init_st, sizeof(st));
    uint64_t records = 0, timeouts = 0;
    for (int k = 1; k <= NBATCH; k++) {
        int64_t ones[NKEYS] = {0};
        for (uint32_t i = 0; i < input.rows[k]; i++) {
            int64_t key = input.key[k][i], v = input.val[k][i];
            ones[key]++;
            records++;
            last[key] = k;
            if (v == 0) {
                has[key] = false;
                st[key] = 0;
            } else {
                st[key] += v;
                has[key] = true;
            }
        }
        for (int key = 0; key < NKEYS; key++) {
            assert_int_equal(seen.ones[k][key], ones[key]);
            int64_t want_timeout = 0;
            if (has[key] && k - last[key] > timeout_batches) {
                want_timeout = -st[key];
                has[key] = false;
                st[key] = 0;
                timeouts++;
            }
            if (seen.timeout[k][key] != want_timeout)
                fail_msg("batch %d key %d: timeout record %" PRId64 ", expected %" PRId64, k, key,
                         seen.timeout[k][key], want_timeout);
            assert_int_equal(seen.snap_has[k][key], has[key]);
            if (has[key])
                assert_int_equal(seen.snap[k][key], st[key]);
        }
    }
    assert_int_equal(atomic_load(&record_calls), records);
    assert_int_equal(atomic_load(&timeout_calls), timeouts);
}

static void run(uint32_t workers, int64_t timeout_ms) {
    struct spate_error err;
    spate_context *ctx = harness_manual_ctx(workers);
    struct spate_column_def cols[] = {{"key", SPATE_TYPE_I64}, {"value", SPATE_TYPE_I64}};
    spate_dstream *q = spate_context_queue_stream(ctx, cols, 2, &err);
    struct spate_map_state_opts mo;
    spate_map_state_opts_init(&mo);
    mo.fn = sum_fn;
    mo.timeout_ms = timeout_ms;
    static int64_t ikeys[NKEYS], istates[NKEYS];
    uint64_t ninit = 0;
    for (int key = 0; key < NKEYS; key++) {
        if (init_has[key]) {
            ikeys[ninit] = key;
            istates[ninit++] = init_st[key];
        }
    }
    struct spate_column_data init[2] = {{ikeys, NULL}, {istates, NULL}};
    if (ninit > 0) {
        mo.initial = init;
        mo.initial_rows = ninit;
    }
    spate_dstream *m = spate_dstream_map_with_state(q, &mo, &err);
    if (m == NULL)
        fail_msg("map_with_state: %s", err.message);
    spate_dstream *snaps = spate_dstream_state_snapshots(m, &err);
    assert_non_null(snaps);
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(spate_dstream_foreach_batch(m, on_mapped, &seen, &err), SPATE_OK);
    assert_int_equal(spate_dstream_foreach_batch(snaps, on_snapshot, &seen, &err), SPATE_OK);
    for (int b = 1; b <= NBATCH; b++) {
        struct spate_column_data d[2] = {{input.key[b], NULL}, {input.val[b], NULL}};
        assert_int_equal(spate_queue_push(q, d, input.rows[b], &err), SPATE_OK);
    }
    atomic_store(&record_calls, 0);
    atomic_store(&timeout_calls, 0);
    harness_run(ctx, NBATCH);
}

static void map_with_state_matches_naive(void **state) {
    (void)state;
    make_input(31);
    run(2, 2500); /* idle for 3 batches (3000 ms > 2500 ms): timed out */
    check(2);
}

static void map_with_state_without_timeout(void **state) {
    (void)state;
    make_input(32);
    run(2, 0);
    check(NBATCH + 1);
}

static void map_with_state_same_on_any_worker_count(void **state) {
    (void)state;
    make_input(33);
    for (uint32_t w = 1; w <= 4; w *= 2) {
        run(w, 1500);
        check(1);
    }
}

static void map_with_state_initial_state(void **state) {
    (void)state;
    make_input(34);
    init_has[0] = true; /* key 0 has records only in batches 1 and 3 */
    init_st[0] = 40;
    init_has[29] = true; /* idle from the start (only batches 1-2 reach key 29) */
    init_st[29] = 7;
    run(2, 2500);
    check(2);
    memset(init_has, 0, sizeof(init_has));
    memset(init_st, 0, sizeof(init_st));
}

/* Misuse inside the function: its error fails the batch, with the state's message. */
static spate_status misuse_fn(void *user, int64_t t, const struct spate_string *skey, int64_t ikey,
                              const int64_t *value, spate_keyed_state *st, int64_t *mapped,
                              bool *emit, struct spate_error *err) {
    (void)user;
    (void)t;
    (void)skey;
    (void)ikey;
    (void)mapped;
    *emit = false;
    if (value == NULL) /* timing out: updating is an error */
        return spate_keyed_state_update(st, 1, err);
    if (*value == 7) { /* update after remove is an error */
        spate_status rc = spate_keyed_state_remove(st, err);
        return rc != SPATE_OK ? rc : spate_keyed_state_update(st, 1, err);
    }
    return spate_keyed_state_update(st, *value, err);
}

static void state_misuse_fails_the_batch(void **state) {
    (void)state;
    struct spate_error err;
    spate_context *ctx = harness_manual_ctx(1);
    struct spate_column_def cols[] = {{"key", SPATE_TYPE_I64}, {"value", SPATE_TYPE_I64}};
    spate_dstream *q = spate_context_queue_stream(ctx, cols, 2, &err);
    struct spate_map_state_opts mo;
    spate_map_state_opts_init(&mo);
    mo.fn = misuse_fn;
    mo.timeout_ms = 1000;
    spate_dstream *m = spate_dstream_map_with_state(q, &mo, &err);
    assert_int_equal(spate_dstream_print_fd(m, 10, 2, &err), SPATE_OK);
    int64_t k1[] = {1}, v1[] = {3}, k2[] = {2}, v2[] = {7};
    struct spate_column_data b1[2] = {{k1, NULL}, {v1, NULL}}, b2[2] = {{k2, NULL}, {v2, NULL}};
    assert_int_equal(spate_queue_push(q, b1, 1, &err), SPATE_OK);
    assert_int_equal(spate_queue_push(q, b2, 1, &err), SPATE_OK);
    assert_int_equal(spate_context_start(ctx, &err), SPATE_OK);
    bool stopped;
    /* Batch 2: key 2 removes then updates. */
    assert_int_equal(spate_context_advance(ctx, 2, &err), SPATE_OK);
    err.message[0] = '\0';
    assert_int_equal(spate_context_await_termination_timeout(ctx, 0, &stopped, &err), EIO);
    assert_non_null(strstr(err.message, "removed"));
    /* Batch 3: key 1 idle 2000 ms > 1000 ms: its timeout call tries to update. */
    assert_int_equal(spate_context_advance(ctx, 1, &err), SPATE_OK);
    err.message[0] = '\0';
    assert_int_equal(spate_context_await_termination_timeout(ctx, 0, &stopped, &err), EIO);
    assert_non_null(strstr(err.message, "timing out"));
    harness_close(ctx);
}

static void map_with_state_definition_errors(void **state) {
    (void)state;
    struct spate_error err;
    spate_context *ctx = harness_manual_ctx(1);
    struct spate_column_def cols[] = {{"key", SPATE_TYPE_I64}, {"value", SPATE_TYPE_F64}};
    spate_dstream *q = spate_context_queue_stream(ctx, cols, 2, &err);
    struct spate_map_state_opts mo;
    spate_map_state_opts_init(&mo);
    assert_null(spate_dstream_map_with_state(q, &mo, &err)); /* no function */
    mo.fn = sum_fn;
    err.message[0] = '\0';
    assert_null(spate_dstream_map_with_state(q, &mo, &err)); /* f64 values */
    assert_true(err.message[0] != '\0');
    assert_null(spate_dstream_state_snapshots(q, &err)); /* not a map_with_state stream */
    assert_false(spate_keyed_state_exists(NULL));
    assert_int_equal(spate_keyed_state_update(NULL, 1, &err), EINVAL);
    harness_close(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(map_with_state_matches_naive),
        cmocka_unit_test(map_with_state_without_timeout),
        cmocka_unit_test(map_with_state_same_on_any_worker_count),
        cmocka_unit_test(map_with_state_initial_state),
        cmocka_unit_test(state_misuse_fails_the_batch),
        cmocka_unit_test(map_with_state_definition_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
