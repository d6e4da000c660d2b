/*
 * tests/conformance/test_state.c - update_state_by_key against a naive
 * simulation: the function runs for every key with state or new values each
 * batch (also with no new values), returning false removes the key, the
 * output is the whole state every batch (also after empty batches), with i64
 * and string keys, and the same results on 1, 2 and 4 workers.
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

#define NKEYS 60
#define NBATCH 12
#define MAXROWS 2000

/*
 * state = sum * 100 + idle, where idle counts batches in a row without new
 * values; a key idle for 2 batches is removed.
 */
static _Atomic uint64_t calls;

static bool update(void *user, const int64_t *values, uint32_t n, bool has_state, int64_t *state) {
    (void)user;
    atomic_fetch_add(&calls, 1);
    int64_t sum = has_state ? *state / 100 : 0, idle = has_state ? *state % 100 : 0;
    if (n == 0) {
        if (++idle >= 2)
            return false;
    } else {
        idle = 0;
        for (uint32_t i = 0; i < n; i++)
            sum += values[i];
    }
    *state = sum * 100 + idle;
    return true;
}

struct input {
    uint32_t rows[NBATCH + 1];
    int64_t key[NBATCH + 1][MAXROWS];
    int64_t val[NBATCH + 1][MAXROWS];
};

struct result {
    bool present[NBATCH + 1][NKEYS];
    int64_t state[NBATCH + 1][NKEYS];
    uint32_t batches;
    bool bad;
};

static spate_status collect(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    struct result *res = user;
    uint32_t k = ++res->batches;
    if (k > NBATCH || spate_batch_time_ms(b) != (int64_t)k * 1000) {
        res->bad = true;
        return SPATE_OK;
    }
    for (uint32_t p = 0; p < spate_batch_num_partitions(b); p++) {
        for (uint32_t c = 0; c < spate_batch_num_chunks(b, p); c++) {
            struct spate_chunk_view v;
            if (spate_batch_chunk(b, p, c, &v) != SPATE_OK)
                return EIO;
            for (uint32_t r = 0; r < v.rows; r++) {
                int64_t key = -1, st = 0;
                const char *s;
                uint32_t len;
                if (spate_chunk_get_string(&v, 0, r, &s, &len))
                    key = atoi(s + 3); /* "key<n>-long-enough-to-be-copied" */
                else if (!spate_chunk_get_i64(&v, 0, r, &key))
                    key = -1;
                if (key < 0 || key >= NKEYS || res->present[k][key] ||
                    !spate_chunk_get_i64(&v, 1, r, &st)) {
                    res->bad = true;
                    continue;
                }
                res->present[k][key] = true;
                res->state[k][key] = st;
            }
        }
    }
    return SPATE_OK;
}

static void make_input(struct input *in, unsigned seed) {
    srand(seed);
    for (int b = 1; b <= NBATCH; b++) {
        uint32_t n = (b == 4 || b == 9) ? 0 : (uint32_t)(rand() % MAXROWS);
        int spread = (b % 3 == 0) ? 7 : NKEYS; /* few keys: many go idle */
        in->rows[b] = n;
        for (uint32_t i = 0; i < n; i++) {
            in->key[b][i] = rand() % spread;
            in->val[b][i] = rand() % 20 - 4;
        }
    }
}

/* The initial state given to update_state_by_key, if any (the naive side starts from it too). */
static bool init_has[NKEYS];
static int64_t init_st[NKEYS];

static void check(const struct input *in, const struct result *res, uint64_t got_calls) {
    assert_false(res->bad);
    assert_int_equal(res->batches, NBATCH);
    bool has[NKEYS];
    int64_t st[NKEYS];
    memcpy(has, init_has, sizeof(has));
    memcpy(st, init_st, sizeof(st));
    uint64_t expect_calls = 0;
    for (int k = 1; k <= NBATCH; k++) {
        uint32_t n[NKEYS] = {0};
        int64_t sum[NKEYS] = {0};
        for (uint32_t i = 0; i < in->rows[k]; i++) {
            n[in->key[k][i]]++;
            sum[in->key[k][i]] += in->val[k][i];
        }
        for (int key = 0; key < NKEYS; key++) {
            if (!has[key] && n[key] == 0)
                continue;
            expect_calls++;
            int64_t s = has[key] ? st[key] / 100 : 0, idle = has[key] ? st[key] % 100 : 0;
            if (n[key] == 0 && ++idle >= 2) {
                has[key] = false;
                continue;
            }
            if (n[key] > 0) {
                idle = 0;
                s += sum[key];
            }
            has[key] = true;
            st[key] = s * 100 + idle;
        }
        for (int key = 0; key < NKEYS; key++) {
            if (res->present[k][key] != has[key])
                fail_msg("batch %d key %d: present %d, expected %d", k, key, res->present[k][key],
                         has[key]);
            if (has[key] && res->state[k][key] != st[key])
                fail_msg("batch %d key %d: state %" PRId64 ", expected %" PRId64, k, key,
                         res->state[k][key], st[key]);
        }
    }
    assert_int_equal(got_calls, expect_calls);
}

static struct input input;
static struct result result;

static void run(uint32_t workers, bool strings) {
    struct spate_error err;
    spate_context *ctx = harness_manual_ctx(workers);
    struct spate_column_def cols[] = {{"key", strings ? SPATE_TYPE_STRING : SPATE_TYPE_I64},
                                      {"value", SPATE_TYPE_I64}};
    spate_dstream *q = spate_context_queue_stream(ctx, cols, 2, &err);
    struct spate_state_opts so;
    spate_state_opts_init(&so);
    so.fn = update;
    static int64_t ikeys[NKEYS], istates[NKEYS];
    static struct spate_string iskeys[NKEYS];
    static char inames[NKEYS][40];
    uint64_t ninit = 0;
    for (int key = 0; key < NKEYS; key++) {
        if (!init_has[key])
            continue;
        ikeys[ninit] = key;
        istates[ninit] = init_st[key];
        int len =
            snprintf(inames[ninit], sizeof(inames[ninit]), "key%d-long-enough-to-be-copied", key);
        memset(&iskeys[ninit], 0, sizeof(iskeys[ninit]));
        iskeys[ninit].len = (uint32_t)len;
        memcpy(iskeys[ninit].prefix, inames[ninit], 4);
        iskeys[ninit].u.ptr = inames[ninit];
        ninit++;
    }
    struct spate_column_data init[2] = {
        {strings ? (const void *)iskeys : (const void *)ikeys, NULL}, {istates, NULL}};
    if (ninit > 0) {
        so.initial = init;
        so.initial_rows = ninit;
    }
    spate_dstream *st = spate_dstream_update_state_by_key(q, &so, &err);
    memset(inames, 'x', sizeof(inames)); /* copied at definition */
    if (st == NULL)
        fail_msg("update_state_by_key: %s", err.message);
    memset(&result, 0, sizeof(result));
    assert_int_equal(spate_dstream_foreach_batch(st, collect, &result, &err), SPATE_OK);
    static char names[MAXROWS][40];
    static struct spate_string skeys[MAXROWS];
    for (int b = 1; b <= NBATCH; b++) {
        for (uint32_t i = 0; i < input.rows[b]; i++) {
            int len = snprintf(names[i], sizeof(names[i]),
                               "key%" PRId64 "-long-enough-to-be-copied", input.key[b][i]);
            memset(&skeys[i], 0, sizeof(skeys[i]));
            skeys[i].len = (uint32_t)len;
            memcpy(skeys[i].prefix, names[i], 4);
            skeys[i].u.ptr = names[i];
        }
        struct spate_column_data d[2] = {
            {strings ? (const void *)skeys : (const void *)input.key[b], NULL},
            {input.val[b], NULL}};
        assert_int_equal(spate_queue_push(q, d, input.rows[b], &err), SPATE_OK);
        /* The pushed bytes are copied: scribble over them to prove it. */
        memset(names, 'x', sizeof(names));
    }
    atomic_store(&calls, 0);
    harness_run(ctx, NBATCH);
    check(&input, &result, atomic_load(&calls));
}

static void state_i64_keys(void **state) {
    (void)state;
    make_input(&input, 21);
    run(2, false);
}

static void state_string_keys(void **state) {
    (void)state;
    make_input(&input, 22);
    run(2, true);
}

static void state_same_on_any_worker_count(void **state) {
    (void)state;
    make_input(&input, 23);
    for (uint32_t w = 1; w <= 4; w *= 2) {
        run(w, false);
        run(w, true);
    }
}

static void state_with_initial_state(void **state) {
    (void)state;
    make_input(&input, 24);
    for (int key = 0; key < NKEYS; key += 3) {
        init_has[key] = true;
        init_st[key] = (int64_t)key * 1000 * 100; /* sum key*1000, idle 0 */
    }
    run(2, false);
    run(2, true);
    memset(init_has, 0, sizeof(init_has));
    memset(init_st, 0, sizeof(init_st));
}

static void state_definition_errors(void **state) {
    (void)state;
    struct spate_error err;
    struct spate_engine_opts eo;
    spate_engine_opts_init(&eo);
    eo.workers = 1;
    eo.pin_workers = false;
    spate_engine *engine;
    assert_int_equal(spate_engine_create(&eo, &engine, &err), SPATE_OK);
    spate_context *ctx;
    assert_int_equal(spate_context_create(engine, NULL, &ctx, &err), SPATE_OK);
    struct spate_column_def cols[] = {{"key", SPATE_TYPE_I64}, {"value", SPATE_TYPE_F64}};
    spate_dstream *q = spate_context_queue_stream(ctx, cols, 2, &err);
    struct spate_state_opts so;
    spate_state_opts_init(&so);
    err.message[0] = '\0';
    assert_null(spate_dstream_update_state_by_key(q, &so, &err)); /* no function */
    assert_true(err.message[0] != '\0');
    so.fn = update;
    err.message[0] = '\0';
    assert_null(spate_dstream_update_state_by_key(q, &so, &err)); /* f64 values */
    assert_true(err.message[0] != '\0');
    assert_null(spate_dstream_update_state_by_key(NULL, &so, &err));
    assert_int_equal(spate_context_stop(ctx, true, false, &err), SPATE_OK);
    spate_context_destroy(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(state_i64_keys),
        cmocka_unit_test(state_string_keys),
        cmocka_unit_test(state_same_on_any_worker_count),
        cmocka_unit_test(state_with_initial_state),
        cmocka_unit_test(state_definition_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
