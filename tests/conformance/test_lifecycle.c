/*
 * tests/conformance/test_lifecycle.c - the streaming context lifecycle, rule
 * by rule, as SEMANTICS.md keeps it from Spark Streaming.
 *
 * Every misuse is checked for its exact error code and for a non-empty
 * message. Contexts use the manual clock unless the rule is about the wall
 * clock, and engines have 1-4 unpinned workers. Objects are tracked so that
 * the teardown stops and frees whatever a failed assertion left behind, and
 * the next test does not see a stale ACTIVE context (EBUSY).
 *
 * Assertions run only on the main thread: callbacks (scheduler thread) only
 * record what they saw, under a mutex, and the test checks it afterwards.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <stdatomic.h>
#include <unistd.h>

#include "spate/spate.h"

/* ---- Tracking, so that a failed test cannot leave an ACTIVE context ---- */

#define MAX_TRACKED 8

static spate_context *tracked_ctx[MAX_TRACKED];
static spate_engine *tracked_engine[MAX_TRACKED];

static void track(void **slots, void *p) {
    for (int i = 0; i < MAX_TRACKED; i++) {
        if (slots[i] == NULL) {
            slots[i] = p;
            return;
        }
    }
    fail_msg("more than %d tracked objects", MAX_TRACKED);
}

static void untrack(void **slots, void *p) {
    for (int i = 0; i < MAX_TRACKED; i++)
        if (slots[i] == p)
            slots[i] = NULL;
}

/* Create an engine of workers unpinned workers. */
static spate_engine *new_engine(uint32_t workers) {
    struct spate_engine_opts eo;
    spate_engine_opts_init(&eo);
    eo.workers = workers;
    eo.pin_workers = false;
    eo.name = "lifecycle";
    struct spate_error err;
    spate_error_init(&err);
    spate_engine *e = NULL;
    spate_status rc = spate_engine_create(&eo, &e, &err);
    if (rc != SPATE_OK)
        fail_msg("spate_engine_create: %d %s", rc, err.message);
    assert_non_null(e);
    assert_int_equal(spate_engine_workers(e), workers);
    track((void **)tracked_engine, e);
    return e;
}

/* The engine was destroyed by a stop(stop_engine = true): forget the handle. */
static void engine_gone(spate_engine *e) {
    untrack((void **)tracked_engine, e);
}

static void manual_opts(struct spate_context_opts *o, int64_t interval_ms) {
    spate_context_opts_init(o);
    o->batch_interval_ms = interval_ms;
    o->manual_clock = true;
    o->name = "lifecycle";
}

static spate_context *new_ctx(spate_engine *e, const struct spate_context_opts *o) {
    struct spate_error err;
    spate_error_init(&err);
    spate_context *ctx = NULL;
    spate_status rc = spate_context_create(e, o, &ctx, &err);
    if (rc != SPATE_OK)
        fail_msg("spate_context_create: %d %s", rc, err.message);
    assert_non_null(ctx);
    assert_int_equal(spate_context_state(ctx), SPATE_CONTEXT_INITIALIZED);
    track((void **)tracked_ctx, ctx);
    return ctx;
}

static void ctx_destroy(spate_context *ctx) {
    untrack((void **)tracked_ctx, ctx);
    spate_context_destroy(ctx);
}

static int teardown(void **state) {
    (void)state;
    for (int i = 0; i < MAX_TRACKED; i++) {
        if (tracked_ctx[i] != NULL) {
            spate_context_destroy(tracked_ctx[i]);
            tracked_ctx[i] = NULL;
        }
    }
    for (int i = 0; i < MAX_TRACKED; i++) {
        if (tracked_engine[i] != NULL) {
            spate_engine_destroy(tracked_engine[i]);
            tracked_engine[i] = NULL;
        }
    }
    return 0;
}

/* ---- Small helpers ---- */

#define assert_msg(err) assert_true((err).message[0] != '\0')
#define assert_msg_has(err, s)                                                                     \
    do {                                                                                           \
        if (strstr((err).message, (s)) == NULL)                                                    \
            fail_msg("message '%s' does not contain '%s'", (err).message, (s));                    \
    } while (0)

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms) {
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static spate_dstream *lines_queue(spate_context *ctx) {
    static const struct spate_column_def cols[] = {{"line", SPATE_TYPE_STRING}};
    struct spate_error err;
    spate_error_init(&err);
    spate_dstream *q = spate_context_queue_stream(ctx, cols, 1, &err);
    if (q == NULL)
        fail_msg("queue_stream: %s", err.message);
    return q;
}

static void push_lines(spate_dstream *q, const char *const *lines, uint64_t n) {
    struct spate_error err;
    spate_error_init(&err);
    spate_status rc = spate_queue_push_lines(q, lines, n, &err);
    if (rc != SPATE_OK)
        fail_msg("queue_push_lines: %d %s", rc, err.message);
}

/* What a foreach_batch callback saw; filled on the scheduler thread. */
struct counter {
    pthread_mutex_t mu;
    uint64_t calls;
    uint64_t rows;
    int64_t times[64];        /* batch time of call i */
    uint64_t rows_at[64];     /* rows of call i */
    uint64_t fail_on_call;    /* 1-based call that returns an error; 0 = none */
    const char *fail_message; /* its message */
    spate_context *stop_ctx;  /* when set: call stop from inside the callback */
    spate_status inner_rc;    /* what that stop returned */
    char inner_msg[SPATE_ERROR_MESSAGE_SIZE];
};

static void counter_init(struct counter *c) {
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->mu, NULL);
    c->inner_rc = -1;
}

static void counter_destroy(struct counter *c) {
    pthread_mutex_destroy(&c->mu);
}

static uint64_t counter_calls(struct counter *c) {
    pthread_mutex_lock(&c->mu);
    uint64_t n = c->calls;
    pthread_mutex_unlock(&c->mu);
    return n;
}

static uint64_t counter_rows(struct counter *c) {
    pthread_mutex_lock(&c->mu);
    uint64_t n = c->rows;
    pthread_mutex_unlock(&c->mu);
    return n;
}

static spate_status count_fn(void *user, const spate_batch *batch, struct spate_error *err) {
    struct counter *c = user;
    spate_context *stop_ctx;
    pthread_mutex_lock(&c->mu);
    uint64_t call = ++c->calls;
    uint64_t rows = spate_batch_rows(batch);
    c->rows += rows;
    if (call <= 64) {
        c->times[call - 1] = spate_batch_time_ms(batch);
        c->rows_at[call - 1] = rows;
    }
    stop_ctx = c->stop_ctx;
    pthread_mutex_unlock(&c->mu);
    if (stop_ctx != NULL) {
        struct spate_error inner;
        spate_error_init(&inner);
        spate_status rc = spate_context_stop(stop_ctx, false, false, &inner);
        pthread_mutex_lock(&c->mu);
        c->inner_rc = rc;
        memcpy(c->inner_msg, inner.message, sizeof(c->inner_msg));
        pthread_mutex_unlock(&c->mu);
    }
    if (c->fail_on_call != 0 && call == c->fail_on_call) {
        snprintf(err->message, sizeof(err->message), "%s", c->fail_message);
        return EINVAL;
    }
    return SPATE_OK;
}

static void add_counter(spate_dstream *ds, struct counter *c) {
    struct spate_error err;
    spate_error_init(&err);
    spate_status rc = spate_dstream_foreach_batch(ds, count_fn, c, &err);
    if (rc != SPATE_OK)
        fail_msg("foreach_batch: %d %s", rc, err.message);
}

static void start_ok(spate_context *ctx) {
    struct spate_error err;
    spate_error_init(&err);
    spate_status rc = spate_context_start(ctx, &err);
    if (rc != SPATE_OK)
        fail_msg("start: %d %s", rc, err.message);
    assert_int_equal(spate_context_state(ctx), SPATE_CONTEXT_ACTIVE);
}

static void stop_ok(spate_context *ctx, bool stop_engine, bool graceful) {
    struct spate_error err;
    spate_error_init(&err);
    spate_status rc = spate_context_stop(ctx, stop_engine, graceful, &err);
    if (rc != SPATE_OK)
        fail_msg("stop: %d %s", rc, err.message);
    assert_int_equal(spate_context_state(ctx), SPATE_CONTEXT_STOPPED);
}

static void advance_ok(spate_context *ctx, int64_t n) {
    struct spate_error err;
    spate_error_init(&err);
    spate_status rc = spate_context_advance(ctx, n, &err);
    if (rc != SPATE_OK)
        fail_msg("advance: %d %s", rc, err.message);
}

/* Entries of a /proc directory, "." and ".." left out. */
static int count_dir(const char *path) {
    DIR *d = opendir(path);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

/* ---- start and stop ---- */

static void test_start_without_outputs_is_einval_and_stops(void **state) {
    (void)state;
    spate_engine *e = new_engine(1);
    struct spate_context_opts o;
    manual_opts(&o, 100);
    spate_context *ctx = new_ctx(e, &o);
    (void)lines_queue(ctx);
    struct spate_error err;
    spate_error_init(&err);
    assert_int_equal(spate_context_start(ctx, &err), EINVAL);
    assert_msg(err);
    assert_int_equal(spate_context_state(ctx), SPATE_CONTEXT_STOPPED);
    /* STOPPED for good: a second start is ECANCELED. */
    spate_error_init(&err);
    assert_int_equal(spate_context_start(ctx, &err), ECANCELED);
    assert_msg(err);
    ctx_destroy(ctx);
}

static void test_start_twice_is_noop(void **state) {
    (void)state;
    spate_engine *e = new_engine(2);
    struct spate_context_opts o;
    manual_opts(&o, 100);
    spate_context *ctx = new_ctx(e, &o);
    struct counter c;
    counter_init(&c);
    add_counter(lines_queue(ctx), &c);
    start_ok(ctx);
    struct spate_error err;
    spate_error_init(&err);
    assert_int_equal(spate_context_start(ctx, &err), SPATE_OK);
    assert_int_equal(spate_context_state(ctx), SPATE_CONTEXT_ACTIVE);
    /* Still one clock: one advance is one batch. */
    advance_ok(ctx, 1);
    assert_int_equal(counter_calls(&c), 1);
    stop_ok(ctx, false, false);
    ctx_destroy(ctx);
    counter_destroy(&c);
}

static void test_start_after_stop_is_ecanceled(void **state) {
    (void)state;
    spate_engine *e = new_engine(1);
    struct spate_context_opts o;
    manual_opts(&o, 100);
    spate_context *ctx = new_ctx(e, &o);
    struct counter c;
    counter_init(&c);
    add_counter(lines_queue(ctx), &c);
    start_ok(ctx);
    stop_ok(ctx, false, false);
    struct spate_error err;
    spate_error_init(&err);
    assert_int_equal(spate_context_start(ctx, &err), ECANCELED);
    assert_msg(err);
    assert_int_equal(spate_context_state(ctx), SPATE_CONTEXT_STOPPED);
    ctx_destroy(ctx);
    counter_destroy(&c);
}

static void test_stop_before_start_then_start_fails(void **state) {
    (void)state;
    spate_engine *e = new_engine(1);
    struct spate_context_opts o;
    manual_opts(&o, 100);
    spate_context *ctx = new_ctx(e, &o);
    struct counter c;
    counter_init(&c);
    add_counter(lines_queue(ctx), &c);
    stop_ok(ctx, false, false);
    struct spate_error err;
    spate_error_init(&err);
    assert_int_equal(spate_context_start(ctx, &err), ECANCELED);
    assert_msg(err);
    assert_int_equal(spate_context_state(ctx), SPATE_CONTEXT_STOPPED);
    assert_int_equal(counter_calls(&c), 0);
    ctx_destroy(ctx);
    counter_destroy(&c);
}

static void test_stop_twice_is_ok(void **state) {
    (void)state;
    spate_engine *e = new_engine(2);
    struct spate_context_opts o;
    manual_opts(&o, 100);
    spate_context *ctx = new_ctx(e, &o);
    struct counter c;
    counter_init(&c);
    add_counter(lines_queue(ctx), &c);
    start_ok(ctx);
    stop_ok(ctx, false, false);
    stop_ok(ctx, false, false);
    stop_ok(ctx, false, true);
    ctx_destroy(ctx);
    counter_destroy(&c);
}

/* ---- One ACTIVE context per process ---- */

static void test_second_active_context_is_ebusy(void **state) {
    (void)state;
    spate_engine *e = new_engine(2);
    struct spate_context_opts o;
    manual_opts(&o, 100);
    spate_context *a = new_ctx(e, &o);
    spate_context *b = new_ctx(e, &o);
    struct counter ca, cb;
    counter_init(&ca);
    counter_init(&cb);
    add_counter(lines_queue(a), &ca);
    spate_dstream *qb = lines_queue(b);
    add_counter(qb, &cb);
    start_ok(a);

    struct spate_error err;
    spate_error_init(&err);
    assert_int_equal(spate_context_start(b, &err), EBUSY);
    assert_msg(err);
    assert_msg_has(err, "another");
    assert_msg_has(err, "active");
    assert_int_equal(spate_context_state(b), SPATE_CONTEXT_INITIALIZED);
    assert_int_equal(spate_context_state(a), SPATE_CONTEXT_ACTIVE);

    /* Once the first stops (engine kept), the second starts and runs. */
    stop_ok(a, false, false);
    start_ok(b);
    static const char *const lines[] = {"x y", "z"};
    push_lines(qb, lines, 2);
    advance_ok(b, 1);
    assert_int_equal(counter_calls(&cb), 1);
    assert_int_equal(counter_rows(&cb), 2);
    assert_int_equal(counter_calls(&ca), 0);
    stop_ok(b, true, false);
    engine_gone(e);
    ctx_destroy(a);
    ctx_destroy(b);
    counter_destroy(&ca);
    counter_destroy(&cb);
}

/* ---- Definitions after start / after stop ---- */

static int map_noop(void *user, const struct spate_chunk_view *in, spate_chunk_builder *out,
                    struct spate_error *err) {
    (void)user;
    (void)in;
    (void)out;
    (void)err;
    return SPATE_OK;
}

static uint32_t filter_all(void *user, const struct spate_chunk_view *in, uint16_t *sel_out) {
    (void)user;
    for (uint32_t i = 0; i < in->rows; i++)
        sel_out[i] = (uint16_t)i;
    return in->rows;
}

/* Every definition call on ctx (through q, a string queue of ctx) fails with code/word. */
static void check_definitions_refused(spate_context *ctx, spate_dstream *q, spate_status code,
                                      const char *word) {
    static const struct spate_column_def cols[] = {{"line", SPATE_TYPE_STRING}};
    static const struct spate_column_def icols[] = {{"k", SPATE_TYPE_I64}, {"v", SPATE_TYPE_I64}};
    struct spate_error err;
    struct counter c;
    counter_init(&c);

#define REFUSED_NULL(call)                                                                         \
    do {                                                                                           \
        spate_error_init(&err);                                                                    \
        assert_null(call);                                                                         \
        assert_msg(err);                                                                           \
        assert_msg_has(err, word);                                                                 \
    } while (0)
#define REFUSED_CODE(call)                                                                         \
    do {                                                                                           \
        spate_error_init(&err);                                                                    \
        assert_int_equal((call), code);                                                            \
        assert_msg(err);                                                                           \
        assert_msg_has(err, word);                                                                 \
    } while (0)

    struct spate_socket_opts so;
    spate_socket_opts_init(&so);
    so.quiet = true;
    struct spate_reduce_opts ro;
    spate_reduce_opts_init(&ro);
    ro.agg = SPATE_AGG_COUNT;

    REFUSED_NULL(spate_context_queue_stream(ctx, cols, 1, &err));
    REFUSED_NULL(spate_context_queue_stream(ctx, icols, 2, &err));
    REFUSED_NULL(spate_context_socket_text_stream(ctx, "127.0.0.1", 9, &so, &err));
    REFUSED_NULL(spate_dstream_flat_map_words(q, &err));
    REFUSED_NULL(spate_dstream_map(q, cols, 1, map_noop, NULL, &err));
    REFUSED_NULL(spate_dstream_map_to_pair(q, 0, 1, &err));
    REFUSED_NULL(spate_dstream_filter(q, filter_all, NULL, &err));
    REFUSED_NULL(spate_dstream_filter_string(q, 0, "a", false, &err));
    REFUSED_NULL(spate_dstream_count(q, &err));
    REFUSED_NULL(spate_dstream_reduce_by_key(q, &ro, &err));
    REFUSED_CODE(spate_dstream_print_fd(q, 3, STDOUT_FILENO, &err));
    REFUSED_CODE(spate_dstream_print(q, 3, &err));
    REFUSED_CODE(spate_dstream_foreach_batch(q, count_fn, &c, &err));
#undef REFUSED_NULL
#undef REFUSED_CODE
    counter_destroy(&c);
}

static void test_define_after_start_and_stop(void **state) {
    (void)state;
    spate_engine *e = new_engine(2);
    struct spate_context_opts o;
    manual_opts(&o, 100);
    spate_context *ctx = new_ctx(e, &o);
    static const struct spate_column_def icols[] = {{"k", SPATE_TYPE_I64}, {"v", SPATE_TYPE_I64}};
    struct spate_error err;
    spate_error_init(&err);
    spate_dstream *q = lines_queue(ctx);
    spate_dstream *iq = spate_context_queue_stream(ctx, icols, 2, &err);
    assert_non_null(iq);
    struct counter c;
    counter_init(&c);
    add_counter(q, &c);
    add_counter(iq, &c);
    start_ok(ctx);

    check_definitions_refused(ctx, q, EBUSY, "started");
    spate_error_init(&err);
    assert_null(spate_dstream_filter_i64(iq, 0, SPATE_CMP_GT, 1, &err));
    assert_msg_has(err, "started");

    /* A refused definition leaves the running graph alone. */
    static const char *const lines[] = {"a", "b", "c"};
    push_lines(q, lines, 3);
    advance_ok(ctx, 1);
    assert_int_equal(counter_calls(&c), 2);
    assert_int_equal(counter_rows(&c), 3);

    stop_ok(ctx, false, false);
    check_definitions_refused(ctx, q, ECANCELED, "stopped");
    spate_error_init(&err);
    assert_null(spate_dstream_filter_i64(iq, 0, SPATE_CMP_GT, 1, &err));
    assert_msg_has(err, "stopped");

    /* Pushing to a stopped context's queue is ECANCELED too. */
    spate_error_init(&err);
    assert_int_equal(spate_queue_push_lines(q, lines, 3, &err), ECANCELED);
    assert_msg(err);
    ctx_destroy(ctx);
    counter_destroy(&c);
}

static void test_define_after_stop_before_start(void **state) {
    (void)state;
    spate_engine *e = new_engine(1);
    struct spate_context_opts o;
    manual_opts(&o, 100);
    spate_context *ctx = new_ctx(e, &o);
    spate_dstream *q = lines_queue(ctx);
    stop_ok(ctx, false, false);
    check_definitions_refused(ctx, q, ECANCELED, "stopped");
    ctx_destroy(ctx);
}

/* ---- Engines across contexts ---- */

static void test_engine_kept_makes_next_context(void **state) {
    (void)state;
    spate_engine *e = new_engine(3);
    struct spate_context_opts o;
    manual_opts(&o, 100);
    static const char *const lines[] = {"one", "two", "three", "four"};

    spate_context *a = new_ctx(e, &o);
    struct counter ca;
    counter_init(&ca);
    spate_dstream *qa = lines_queue(a);
    add_counter(qa, &ca);
    start_ok(a);
    push_lines(qa, lines, 2);
    advance_ok(a, 1);
    assert_int_equal(counter_rows(&ca), 2);
    stop_ok(a, false, false);
    ctx_destroy(a);

    spate_context *b = new_ctx(e, &o);
    struct counter cb;
    counter_init(&cb);
    spate_dstream *qb = lines_queue(b);
    add_counter(qb, &cb);
    start_ok(b);
    push_lines(qb, lines, 4);
    advance_ok(b, 2);
    assert_int_equal(counter_calls(&cb), 2);
    assert_int_equal(cb.rows_at[0], 4);
    assert_int_equal(cb.rows_at[1], 0);
    assert_int_equal(cb.times[0], 100);
    assert_int_equal(cb.times[1], 200);
    stop_ok(b, true, false);
    engine_gone(e);
    ctx_destroy(b);
    counter_destroy(&ca);
    counter_destroy(&cb);
}

/* stop(false) keeps the engine (its workers live on); a later stop(true) still stops it. */
static void test_later_stop_stops_engine(void **state) {
    (void)state;
    int tasks0 = count_dir("/proc/self/task");
    spate_engine *e = new_engine(2);
    struct spate_context_opts o;
    manual_opts(&o, 100);
    spate_context *ctx = new_ctx(e, &o);
    struct counter c;
    counter_init(&c);
    add_counter(lines_queue(ctx), &c);
    start_ok(ctx);
    advance_ok(ctx, 1);
    stop_ok(ctx, false, false);
    assert_true(count_dir("/proc/self/task") >= tasks0 + 2); /* the engine's workers */
    stop_ok(ctx, true, false);
    engine_gone(e);
    int tasks = count_dir("/proc/self/task");
    for (int i = 0; i < 200 && tasks != tasks0; i++) {
        sleep_ms(10);
        tasks = count_dir("/proc/self/task");
    }
    assert_int_equal(tasks, tasks0);
    stop_ok(ctx, true, false);
    ctx_destroy(ctx);
    counter_destroy(&c);
}

/* ---- await_termination ---- */

static void test_await_timeout_active_and_stopped(void **state) {
    (void)state;
    spate_engine *e = new_engine(1);
    struct spate_context_opts o;
    manual_opts(&o, 100);
    spate_context *ctx = new_ctx(e, &o);
    struct counter c;
    counter_init(&c);
    add_counter(lines_queue(ctx), &c);
    start_ok(ctx);

    struct spate_error err;
    spate_error_init(&err);
    bool stopped = true;
    int64_t t0 = now_ms();
    assert_int_equal(spate_context_await_termination_timeout(ctx, 200, &stopped, &err), SPATE_OK);
    int64_t waited = now_ms() - t0;
    assert_false(stopped);
    assert_true(waited >= 190);
    assert_true(waited < 5000);

    stop_ok(ctx, false, false);
    stopped = false;
    t0 = now_ms();
    assert_int_equal(spate_context_await_termination_timeout(ctx, 10000, &stopped, &err), SPATE_OK);
    assert_true(stopped);
    assert_int_equal(spate_context_await_termination(ctx, &err), SPATE_OK);
    assert_true(now_ms() - t0 < 1000);
    ctx_destroy(ctx);
    counter_destroy(&c);
}

struct stopper {
    spate_context *ctx;
    int64_t delay_ms;
    spate_status rc;
};

static void *stop_later(void *arg) {
    struct stopper *s = arg;
    sleep_ms(s->delay_ms);
    s->rc = spate_context_stop(s->ctx, false, false, NULL);
    return NULL;
}

static void test_await_returns_when_stopped_by_other_thread(void **state) {
    (void)state;
    spate_engine *e = new_engine(1);
    struct spate_context_opts o;
    manual_opts(&o, 100);
    spate_context *ctx = new_ctx(e, &o);
    struct counter c;
    counter_init(&c);
    add_counter(lines_queue(ctx), &c);
    start_ok(ctx);
    struct stopper s = {ctx, 100, -1};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, stop_later, &s), 0);
    struct spate_error err;
    spate_error_init(&err);
    assert_int_equal(spate_context_await_termination(ctx, &err), SPATE_OK);
    assert_int_equal(spate_context_state(ctx), SPATE_CONTEXT_STOPPED);
    pthread_join(th, NULL);
    assert_int_equal(s.rc, SPATE_OK);
    ctx_destroy(ctx);
    counter_destroy(&c);
}

static void test_await_never_started_is_einval(void **state) {
    (void)state;
    spate_engine *e = new_engine(1);
    struct spate_context_opts o;
    manual_opts(&o, 100);
    spate_context *ctx = new_ctx(e, &o);
    struct counter c;
    counter_init(&c);
    add_counter(lines_queue(ctx), &c);
    struct spate_error err;
    spate_error_init(&err);
    int64_t t0 = now_ms();
    assert_int_equal(spate_context_await_termination(ctx, &err), EINVAL);
    assert_msg(err);
    spate_error_init(&err);
    bool stopped = true;
    assert_int_equal(spate_context_await_termination_timeout(ctx, 5000, &stopped, &err), EINVAL);
    assert_msg(err);
    assert_true(now_ms() - t0 < 1000);
    /* Stopped without being started: await returns at once. */
    stop_ok(ctx, false, false);
    assert_int_equal(spate_context_await_termination(ctx, &err), SPATE_OK);
    assert_int_equal(spate_context_await_termination_timeout(ctx, 5000, &stopped, &err), SPATE_OK);
    assert_true(stopped);
    spate_error_init(&err);
    assert_int_equal(spate_context_await_termination_timeout(ctx, -1, &stopped, &err), EINVAL);
    assert_msg(err);
    ctx_destroy(ctx);
    counter_destroy(&c);
}

/* ---- Failures inside batches ---- */

struct listen {
    pthread_mutex_t mu;
    uint64_t n;
    struct spate_batch_info info[64];
};

static void listener(void *user, const struct spate_batch_info *info) {
    struct listen *l = user;
    pthread_mutex_lock(&l->mu);
    if (l->n < 64)
        l->info[l->n] = *info;
    l->n++;
    pthread_mutex_unlock(&l->mu);
}

static void listen_init(struct listen *l) {
    memset(l, 0, sizeof(*l));
    pthread_mutex_init(&l->mu, NULL);
}

static uint64_t listen_count(struct listen *l) {
    pthread_mutex_lock(&l->mu);
    uint64_t n = l->n;
    pthread_mutex_unlock(&l->mu);
    return n;
}

static void test_foreach_failure_reported_once(void **state) {
    (void)state;
    static const char *const why = "injected failure in batch two (foreach)";
    spate_engine *e = new_engine(2);
    struct spate_context_opts o;
    manual_opts(&o, 100);
    struct listen l;
    listen_init(&l);
    o.on_batch = listener;
    o.on_batch_user = &l;
    spate_context *ctx = new_ctx(e, &o);
    struct counter c;
    counter_init(&c);
    c.fail_on_call = 2;
    c.fail_message = why;
    spate_dstream *q = lines_queue(ctx);
    add_counter(q, &c);
    start_ok(ctx);
    assert_null(spate_context_last_error(ctx));

    static const char *const lines[] = {"a b", "c"};
    for (int i = 0; i < 4; i++) {
        push_lines(q, lines, 2);
        advance_ok(ctx, 1); /* a failing batch does not fail advance */
    }
    /* Batches 3 and 4 still ran. */
    assert_int_equal(counter_calls(&c), 4);
    assert_int_equal(counter_rows(&c), 8);

    struct spate_error err;
    spate_error_init(&err);
    bool stopped = true;
    assert_int_equal(spate_context_await_termination_timeout(ctx, 100, &stopped, &err), EIO);
    assert_msg_has(err, why);
    const char *last = spate_context_last_error(ctx);
    assert_non_null(last);
    if (strstr(last, why) == NULL)
        fail_msg("last_error '%s' does not contain '%s'", last, why);

    /* Reported once: the next wait times out cleanly. */
    spate_error_init(&err);
    stopped = true;
    assert_int_equal(spate_context_await_termination_timeout(ctx, 50, &stopped, &err), SPATE_OK);
    assert_false(stopped);

    /* The listener saw batch 2, and only it, failed. */
    assert_int_equal(listen_count(&l), 4);
    for (uint64_t i = 0; i < 4; i++) {
        assert_int_equal(l.info[i].batch_index, i + 1);
        assert_int_equal(l.info[i].failed, i == 1);
    }
    stop_ok(ctx, false, false);
    assert_int_equal(spate_context_await_termination(ctx, &err), SPATE_OK);
    ctx_destroy(ctx);
    counter_destroy(&c);
    pthread_mutex_destroy(&l.mu);
}

/* Fails the chunk that holds the line "boom". */
static int map_boom(void *user, const struct spate_chunk_view *in, spate_chunk_builder *out,
                    struct spate_error *err) {
    (void)user;
    for (uint32_t i = 0; i < in->rows; i++) {
        const char *d;
        uint32_t len;
        if (spate_chunk_get_string(in, 0, i, &d, &len) && len == 4 && memcmp(d, "boom", 4) == 0) {
            snprintf(err->message, sizeof(err->message), "map callback exploded on boom");
            return EPROTO;
        }
        const struct spate_string *s = in->columns[0].data;
        spate_status rc = spate_builder_set_view(out, 0, i, &s[in->sel != NULL ? in->sel[i] : i]);
        if (rc != SPATE_OK)
            return rc;
    }
    return SPATE_OK;
}

static void test_map_failure_reported(void **state) {
    (void)state;
    spate_engine *e = new_engine(2);
    struct spate_context_opts o;
    manual_opts(&o, 100);
    spate_context *ctx = new_ctx(e, &o);
    spate_dstream *q = lines_queue(ctx);
    static const struct spate_column_def cols[] = {{"copy", SPATE_TYPE_STRING}};
    struct spate_error err;
    spate_error_init(&err);
    spate_dstream *m = spate_dstream_map(q, cols, 1, map_boom, NULL, &err);
    assert_non_null(m);
    struct counter c;
    counter_init(&c);
    add_counter(m, &c);
    start_ok(ctx);
    static const char *const ok[] = {"fine", "also fine"};
    static const char *const bad[] = {"fine", "boom"};
    push_lines(q, ok, 2);
    push_lines(q, bad, 2);
    push_lines(q, ok, 2);
    advance_ok(ctx, 3);
    /* Batch 2's output could not run; 1 and 3 did. */
    assert_true(counter_calls(&c) >= 2);
    assert_int_equal(c.times[0], 100);
    assert_int_equal(c.times[counter_calls(&c) - 1], 300);
    assert_int_equal(c.rows_at[0], 2);
    spate_error_init(&err);
    bool stopped = true;
    assert_int_equal(spate_context_await_termination_timeout(ctx, 100, &stopped, &err), EIO);
    assert_msg_has(err, "map callback exploded on boom");
    assert_non_null(spate_context_last_error(ctx));
    spate_error_init(&err);
    assert_int_equal(spate_context_await_termination_timeout(ctx, 20, &stopped, &err), SPATE_OK);
    assert_false(stopped);
    stop_ok(ctx, false, false);
    ctx_destroy(ctx);
    counter_destroy(&c);
}

static void test_stop_inside_callback_is_edeadlk(void **state) {
    (void)state;
    spate_engine *e = new_engine(1);
    struct spate_context_opts o;
    manual_opts(&o, 100);
    spate_context *ctx = new_ctx(e, &o);
    struct counter c;
    counter_init(&c);
    c.stop_ctx = ctx;
    add_counter(lines_queue(ctx), &c);
    start_ok(ctx);
    advance_ok(ctx, 1);
    pthread_mutex_lock(&c.mu);
    spate_status inner = c.inner_rc;
    char msg[SPATE_ERROR_MESSAGE_SIZE];
    memcpy(msg, c.inner_msg, sizeof(msg));
    c.stop_ctx = NULL;
    pthread_mutex_unlock(&c.mu);
    assert_int_equal(inner, EDEADLK);
    assert_true(msg[0] != '\0');
    assert_int_equal(spate_context_state(ctx), SPATE_CONTEXT_ACTIVE);
    advance_ok(ctx, 1);
    assert_int_equal(counter_calls(&c), 2);
    stop_ok(ctx, false, false);
    ctx_destroy(ctx);
    counter_destroy(&c);
}

/* await_termination (no timeout) on an ACTIVE context returns EIO as soon as a batch fails. */
struct advancer {
    spate_context *ctx;
    int64_t delay_ms;
    int64_t batches;
    spate_status rc;
};

static void *advance_later(void *arg) {
    struct advancer *a = arg;
    sleep_ms(a->delay_ms);
    a->rc = spate_context_advance(a->ctx, a->batches, NULL);
    return NULL;
}

static void test_await_reports_failure_while_waiting(void **state) {
    (void)state;
    static const char *const why = "failure seen by a waiting await";
    spate_engine *e = new_engine(2);
    struct spate_context_opts o;
    manual_opts(&o, 100);
    spate_context *ctx = new_ctx(e, &o);
    struct counter c;
    counter_init(&c);
    c.fail_on_call = 1;
    c.fail_message = why;
    add_counter(lines_queue(ctx), &c);
    start_ok(ctx);
    struct advancer a = {ctx, 100, 2, -1};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, advance_later, &a), 0);
    struct spate_error err;
    spate_error_init(&err);
    assert_int_equal(spate_context_await_termination(ctx, &err), EIO);
    assert_msg_has(err, why);
    assert_int_equal(spate_context_state(ctx), SPATE_CONTEXT_ACTIVE);
    pthread_join(th, NULL);
    assert_int_equal(a.rc, SPATE_OK);
    assert_int_equal(counter_calls(&c), 2);
    stop_ok(ctx, false, false);
    ctx_destroy(ctx);
    counter_destroy(&c);
}

/* A slow batch makes a graceful stop time out: ETIMEDOUT, and the context is stopped anyway. */
static spate_status slow_fn(void *user, const spate_batch *batch, struct spate_error *err) {
    (void)batch;
    (void)err;
    sleep_ms(150);
    struct counter *c = user;
    pthread_mutex_lock(&c->mu);
    c->calls++;
    pthread_mutex_unlock(&c->mu);
    return SPATE_OK;
}

static void test_graceful_stop_timeout(void **state) {
    (void)state;
    spate_engine *e = new_engine(1);
    struct spate_context_opts o;
    manual_opts(&o, 100);
    spate_context *ctx = new_ctx(e, &o);
    struct counter c;
    counter_init(&c);
    spate_dstream *q = lines_queue(ctx);
    struct spate_error err;
    spate_error_init(&err);
    assert_int_equal(spate_dstream_foreach_batch(q, slow_fn, &c, &err), SPATE_OK);
    start_ok(ctx);
    static const char *const lines[] = {"a"};
    for (int i = 0; i < 8; i++)
        push_lines(q, lines, 1);
    struct spate_stop_opts so;
    spate_stop_opts_init(&so);
    assert_true(so.stop_engine);
    assert_false(so.graceful);
    assert_int_equal(so.graceful_timeout_ms, 30000);
    so.stop_engine = false;
    so.graceful = true;
    so.graceful_timeout_ms = 200;
    int64_t t0 = now_ms();
    spate_error_init(&err);
    assert_int_equal(spate_context_stop_opts(ctx, &so, &err), ETIMEDOUT);
    assert_msg(err);
    assert_true(now_ms() - t0 < 5000);
    assert_int_equal(spate_context_state(ctx), SPATE_CONTEXT_STOPPED);
    assert_true(counter_calls(&c) < 8);
    ctx_destroy(ctx);
    counter_destroy(&c);
}

/* destroy on an ACTIVE context stops it (engine kept, the active slot freed). */
static void test_destroy_active_context(void **state) {
    (void)state;
    spate_engine *e = new_engine(2);
    struct spate_context_opts o;
    manual_opts(&o, 100);
    spate_context *a = new_ctx(e, &o);
    struct counter ca, cb;
    counter_init(&ca);
    counter_init(&cb);
    add_counter(lines_queue(a), &ca);
    start_ok(a);
    advance_ok(a, 1);
    ctx_destroy(a);
    spate_context *b = new_ctx(e, &o);
    add_counter(lines_queue(b), &cb);
    start_ok(b);
    advance_ok(b, 2);
    assert_int_equal(counter_calls(&cb), 2);
    stop_ok(b, false, false);
    ctx_destroy(b);
    counter_destroy(&ca);
    counter_destroy(&cb);
}

/*
 * Regression: advance called from inside a batch callback must fail (like stop's EDEADLK)
 * instead of waiting for the very batch that is calling it. If it hangs, a stop from this
 * thread unblocks it, so that the test fails without hanging the program.
 */
struct inner_advance {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    spate_context *ctx;
    bool tried, done;
    spate_status rc;
    char msg[SPATE_ERROR_MESSAGE_SIZE];
};

static spate_status advance_inside_fn(void *user, const spate_batch *batch,
                                      struct spate_error *err) {
    (void)batch;
    (void)err;
    struct inner_advance *ia = user;
    pthread_mutex_lock(&ia->mu);
    bool first = !ia->tried;
    ia->tried = true;
    pthread_mutex_unlock(&ia->mu);
    if (!first)
        return SPATE_OK;
    struct spate_error inner;
    spate_error_init(&inner);
    spate_status rc = spate_context_advance(ia->ctx, 1, &inner);
    pthread_mutex_lock(&ia->mu);
    ia->rc = rc;
    memcpy(ia->msg, inner.message, sizeof(ia->msg));
    ia->done = true;
    pthread_cond_broadcast(&ia->cv);
    pthread_mutex_unlock(&ia->mu);
    return SPATE_OK;
}

static void test_advance_inside_callback_does_not_hang(void **state) {
    (void)state;
    spate_engine *e = new_engine(1);
    struct spate_context_opts o;
    manual_opts(&o, 100);
    spate_context *ctx = new_ctx(e, &o);
    struct inner_advance ia;
    memset(&ia, 0, sizeof(ia));
    pthread_mutex_init(&ia.mu, NULL);
    pthread_cond_init(&ia.cv, NULL);
    ia.ctx = ctx;
    ia.rc = -1;
    spate_dstream *q = lines_queue(ctx);
    struct spate_error err;
    spate_error_init(&err);
    assert_int_equal(spate_dstream_foreach_batch(q, advance_inside_fn, &ia, &err), SPATE_OK);
    start_ok(ctx);
    struct advancer a = {ctx, 0, 1, -1};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, advance_later, &a), 0);
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 3;
    pthread_mutex_lock(&ia.mu);
    while (!ia.done)
        if (pthread_cond_timedwait(&ia.cv, &ia.mu, &dl) == ETIMEDOUT)
            break;
    bool done = ia.done;
    pthread_mutex_unlock(&ia.mu);
    if (!done) {
        /* Hung: stopping wakes both advances up (the scheduler is told to stop). */
        spate_status rc = spate_context_stop(ctx, false, false, NULL);
        pthread_join(th, NULL);
        ctx_destroy(ctx);
        pthread_cond_destroy(&ia.cv);
        pthread_mutex_destroy(&ia.mu);
        fail_msg("spate_context_advance called from a foreach_batch callback did not return "
                 "within 3 s (deadlock; stop from the main thread returned %d)",
                 rc);
    }
    pthread_join(th, NULL);
    assert_int_not_equal(ia.rc, SPATE_OK);
    assert_true(ia.msg[0] != '\0');
    assert_int_equal(spate_context_state(ctx), SPATE_CONTEXT_ACTIVE);
    stop_ok(ctx, false, false);
    ctx_destroy(ctx);
    pthread_cond_destroy(&ia.cv);
    pthread_mutex_destroy(&ia.mu);
}

/* ---- Graceful stop ---- */

static void test_graceful_stop_processes_pending(void **state) {
    (void)state;
    spate_engine *e = new_engine(2);
    struct spate_context_opts o;
    manual_opts(&o, 100);
    spate_context *ctx = new_ctx(e, &o);
    struct counter c;
    counter_init(&c);
    spate_dstream *q = lines_queue(ctx);
    add_counter(q, &c);
    start_ok(ctx);
    static const char *const lines[] = {"1", "2", "3", "4", "5", "6", "7"};
    push_lines(q, lines, 7);
    push_lines(q, lines, 3);
    push_lines(q, lines, 5);
    assert_int_equal(counter_calls(&c), 0);
    stop_ok(ctx, false, true);
    assert_int_equal(counter_rows(&c), 15);
    assert_true(counter_calls(&c) >= 3);
    ctx_destroy(ctx);
    counter_destroy(&c);
}

/* Pushes from another thread while the wall clock runs; a graceful stop takes in all of it. */
struct pusher {
    spate_dstream *q;
    int batches;
    spate_status rc;
};

static void *push_many(void *arg) {
    struct pusher *p = arg;
    static const char *const lines[] = {"w1 w2", "w3", "w4 w5 w6", "",    "w7",
                                        "w8",    "w9", "w10",      "w11", "w12"};
    p->rc = SPATE_OK;
    for (int i = 0; i < p->batches && p->rc == SPATE_OK; i++) {
        p->rc = spate_queue_push_lines(p->q, lines, 10, NULL);
        if (i % 5 == 0)
            sleep_ms(3);
    }
    return NULL;
}

static void test_graceful_stop_wall_clock_concurrent_pushes(void **state) {
    (void)state;
    spate_engine *e = new_engine(2);
    struct spate_context_opts o;
    spate_context_opts_init(&o);
    o.batch_interval_ms = 20;
    spate_context *ctx = new_ctx(e, &o);
    struct counter c;
    counter_init(&c);
    spate_dstream *q = lines_queue(ctx);
    add_counter(q, &c);
    start_ok(ctx);
    struct pusher p = {q, 60, -1};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, push_many, &p), 0);
    pthread_join(th, NULL);
    assert_int_equal(p.rc, SPATE_OK);
    stop_ok(ctx, false, true);
    assert_int_equal(counter_rows(&c), 600);
    struct spate_input_stats st;
    struct spate_error err;
    spate_error_init(&err);
    assert_int_equal(spate_input_stats(q, &st, &err), SPATE_OK);
    assert_int_equal(st.records, 600);
    ctx_destroy(ctx);
    counter_destroy(&c);
}

static void test_non_graceful_stop_drops_pending(void **state) {
    (void)state;
    spate_engine *e = new_engine(1);
    struct spate_context_opts o;
    manual_opts(&o, 100);
    spate_context *ctx = new_ctx(e, &o);
    struct counter c;
    counter_init(&c);
    spate_dstream *q = lines_queue(ctx);
    add_counter(q, &c);
    start_ok(ctx);
    static const char *const lines[] = {"1", "2"};
    push_lines(q, lines, 2);
    stop_ok(ctx, false, false);
    assert_int_equal(counter_calls(&c), 0);
    ctx_destroy(ctx);
    counter_destroy(&c);
}

/* ---- NULL arguments ---- */

static void test_null_arguments(void **state) {
    (void)state;
    struct spate_error err;
    static const struct spate_column_def cols[] = {{"line", SPATE_TYPE_STRING}};

#define EXPECT_CODE(call, code)                                                                    \
    do {                                                                                           \
        spate_error_init(&err);                                                                    \
        assert_int_equal((call), (code));                                                          \
        assert_msg(err);                                                                           \
    } while (0)
#define EXPECT_NULL(call)                                                                          \
    do {                                                                                           \
        spate_error_init(&err);                                                                    \
        assert_null(call);                                                                         \
        assert_msg(err);                                                                           \
    } while (0)

    EXPECT_CODE(spate_engine_create(NULL, NULL, &err), EINVAL);
    spate_context *ctx = (spate_context *)&err; /* must be set to NULL on failure */
    struct spate_context_opts o;
    manual_opts(&o, 100);
    EXPECT_CODE(spate_context_create(NULL, &o, &ctx, &err), EINVAL);
    assert_null(ctx);
    EXPECT_CODE(spate_context_start(NULL, &err), EINVAL);
    EXPECT_CODE(spate_context_stop(NULL, true, false, &err), EINVAL);
    EXPECT_CODE(spate_context_stop_opts(NULL, NULL, &err), EINVAL);
    EXPECT_CODE(spate_context_await_termination(NULL, &err), EINVAL);
    bool stopped;
    EXPECT_CODE(spate_context_await_termination_timeout(NULL, 10, &stopped, &err), EINVAL);
    EXPECT_CODE(spate_context_advance(NULL, 1, &err), EINVAL);
    EXPECT_NULL(spate_context_queue_stream(NULL, cols, 1, &err));
    EXPECT_NULL(spate_context_socket_text_stream(NULL, "127.0.0.1", 9, NULL, &err));
    EXPECT_NULL(spate_dstream_flat_map_words(NULL, &err));
    EXPECT_NULL(spate_dstream_map(NULL, cols, 1, map_noop, NULL, &err));
    EXPECT_NULL(spate_dstream_map_to_pair(NULL, 0, 1, &err));
    EXPECT_NULL(spate_dstream_filter(NULL, filter_all, NULL, &err));
    EXPECT_NULL(spate_dstream_filter_i64(NULL, 0, SPATE_CMP_EQ, 1, &err));
    EXPECT_NULL(spate_dstream_filter_string(NULL, 0, "x", false, &err));
    EXPECT_NULL(spate_dstream_count(NULL, &err));
    EXPECT_NULL(spate_dstream_reduce_by_key(NULL, NULL, &err));
    EXPECT_CODE(spate_dstream_print(NULL, 1, &err), EINVAL);
    EXPECT_CODE(spate_dstream_print_fd(NULL, 1, STDOUT_FILENO, &err), EINVAL);
    EXPECT_CODE(spate_dstream_foreach_batch(NULL, count_fn, NULL, &err), EINVAL);
    static const char *const lines[] = {"a"};
    EXPECT_CODE(spate_queue_push_lines(NULL, lines, 1, &err), EINVAL);
    struct spate_column_data cd = {lines, NULL};
    EXPECT_CODE(spate_queue_push(NULL, &cd, 1, &err), EINVAL);
    struct spate_input_stats st;
    EXPECT_CODE(spate_input_stats(NULL, &st, &err), EINVAL);
    struct spate_memory_stats ms;
    EXPECT_CODE(spate_engine_memory(NULL, &ms, &err), EINVAL);

    /* NULL err everywhere is fine too. */
    assert_int_equal(spate_context_start(NULL, NULL), EINVAL);
    assert_null(spate_dstream_count(NULL, NULL));
    assert_null(spate_context_last_error(NULL));
    assert_int_equal(spate_context_batches_completed(NULL), 0);
    struct spate_batch_info info;
    assert_false(spate_context_last_batch(NULL, &info));
    spate_context_destroy(NULL);
    spate_engine_destroy(NULL);

    /* Bad arguments on live objects. */
    spate_engine *e = new_engine(1);
    EXPECT_CODE(spate_context_create(e, &o, NULL, &err), EINVAL);
    o.batch_interval_ms = 0;
    EXPECT_CODE(spate_context_create(e, &o, &ctx, &err), EINVAL);
    o.batch_interval_ms = -5;
    EXPECT_CODE(spate_context_create(e, &o, &ctx, &err), EINVAL);
    manual_opts(&o, 100);
    ctx = new_ctx(e, &o);
    spate_dstream *q = lines_queue(ctx);
    EXPECT_NULL(spate_dstream_map(q, cols, 1, NULL, NULL, &err));
    EXPECT_NULL(spate_dstream_filter(q, NULL, NULL, &err));
    EXPECT_NULL(spate_dstream_filter_string(q, 0, NULL, false, &err));
    EXPECT_NULL(spate_dstream_filter_i64(q, 0, SPATE_CMP_EQ, 1, &err)); /* a string column */
    EXPECT_NULL(spate_dstream_map_to_pair(q, 5, 1, &err));
    EXPECT_CODE(spate_dstream_foreach_batch(q, NULL, NULL, &err), EINVAL);
    EXPECT_CODE(spate_dstream_print_fd(q, 1, -1, &err), EINVAL);
    EXPECT_CODE(spate_context_advance(ctx, -1, &err), EINVAL);
    /* Advancing a context that is not ACTIVE is ECANCELED. */
    EXPECT_CODE(spate_context_advance(ctx, 1, &err), ECANCELED);
    ctx_destroy(ctx);
#undef EXPECT_CODE
#undef EXPECT_NULL
}

/* ---- Threads and fds ---- */

/* A local TCP port that nothing listens on. */
static uint16_t closed_port(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
    close(s);
    return ntohs(a.sin_port);
}

static void test_stop_leaves_no_threads_or_fds(void **state) {
    (void)state;
    uint16_t port = closed_port();
    int tasks0 = count_dir("/proc/self/task");
    int fds0 = count_dir("/proc/self/fd");

    spate_engine *e = new_engine(3);
    struct spate_context_opts o;
    manual_opts(&o, 100);
    spate_context *ctx = new_ctx(e, &o);
    struct spate_socket_opts so;
    spate_socket_opts_init(&so);
    so.quiet = true;
    so.reconnect_min_ms = 5;
    so.reconnect_max_ms = 20;
    struct spate_error err;
    spate_error_init(&err);
    spate_dstream *sock = spate_context_socket_text_stream(ctx, "127.0.0.1", port, &so, &err);
    if (sock == NULL)
        fail_msg("socket_text_stream: %s", err.message);
    spate_dstream *q = lines_queue(ctx);
    struct counter c1, c2;
    counter_init(&c1);
    counter_init(&c2);
    add_counter(spate_dstream_flat_map_words(sock, &err), &c1);
    add_counter(q, &c2);
    spate_error_init(&err);
    spate_status rc = spate_context_start(ctx, &err);
    if (rc == EIO) {
        /* io_uring unavailable here: start failed cleanly, and must leave nothing either. */
        assert_msg(err);
        assert_int_equal(spate_context_state(ctx), SPATE_CONTEXT_STOPPED);
    } else {
        assert_int_equal(rc, SPATE_OK);
        static const char *const lines[] = {"p q"};
        push_lines(q, lines, 1);
        advance_ok(ctx, 2);
        sleep_ms(60); /* a few reconnect attempts */
        advance_ok(ctx, 1);
        assert_int_equal(counter_calls(&c1), 3);
        assert_int_equal(counter_rows(&c1), 0);
        assert_int_equal(counter_rows(&c2), 1);
    }
    stop_ok(ctx, true, false);
    engine_gone(e);
    ctx_destroy(ctx);

    int tasks = count_dir("/proc/self/task");
    int fds = count_dir("/proc/self/fd");
    /* io_uring's kernel workers may take a moment to leave the thread group. */
    for (int i = 0; i < 200 && (tasks != tasks0 || fds != fds0); i++) {
        sleep_ms(10);
        tasks = count_dir("/proc/self/task");
        fds = count_dir("/proc/self/fd");
    }
    assert_int_equal(tasks, tasks0);
    assert_int_equal(fds, fds0);
    counter_destroy(&c1);
    counter_destroy(&c2);
    if (rc == EIO)
        skip();
}

static void test_failed_start_leaves_nothing(void **state) {
    (void)state;
    int tasks0 = count_dir("/proc/self/task");
    int fds0 = count_dir("/proc/self/fd");
    spate_engine *e = new_engine(2);
    struct spate_context_opts o;
    manual_opts(&o, 100);
    spate_context *ctx = new_ctx(e, &o);
    (void)lines_queue(ctx);
    struct spate_error err;
    spate_error_init(&err);
    assert_int_equal(spate_context_start(ctx, &err), EINVAL); /* no outputs */
    assert_msg(err);
    stop_ok(ctx, true, false);
    engine_gone(e);
    ctx_destroy(ctx);
    int tasks = count_dir("/proc/self/task");
    for (int i = 0; i < 200 && tasks != tasks0; i++) {
        sleep_ms(10);
        tasks = count_dir("/proc/self/task");
    }
    assert_int_equal(tasks, tasks0);
    assert_int_equal(count_dir("/proc/self/fd"), fds0);
}

/* ---- Batch times ---- */

static void test_listener_indexes_and_times(void **state) {
    (void)state;
    spate_engine *e = new_engine(2);
    struct spate_context_opts o;
    manual_opts(&o, 250);
    o.zero_time_ms = 7000;
    struct listen l;
    listen_init(&l);
    o.on_batch = listener;
    o.on_batch_user = &l;
    spate_context *ctx = new_ctx(e, &o);
    struct counter c;
    counter_init(&c);
    spate_dstream *q = lines_queue(ctx);
    add_counter(q, &c);
    start_ok(ctx);
    static const char *const lines[] = {"a", "b", "c"};
    push_lines(q, lines, 3);
    advance_ok(ctx, 1);
    advance_ok(ctx, 2);
    assert_int_equal(listen_count(&l), 3);
    for (uint64_t i = 0; i < 3; i++) {
        assert_int_equal(l.info[i].batch_index, i + 1);
        assert_int_equal(l.info[i].batch_time_ms, 7000 + 250 * (int64_t)(i + 1));
        assert_false(l.info[i].failed);
        assert_true(l.info[i].processing_time_us >= 0);
        assert_true(l.info[i].scheduling_delay_us >= 0);
        assert_int_equal(c.times[i], 7000 + 250 * (int64_t)(i + 1));
    }
    assert_int_equal(l.info[0].records, 3);
    assert_int_equal(l.info[1].records, 0);
    assert_int_equal(spate_context_batches_completed(ctx), 3);
    struct spate_batch_info last;
    assert_true(spate_context_last_batch(ctx, &last));
    assert_int_equal(last.batch_index, 3);
    assert_int_equal(last.batch_time_ms, 7750);
    /* advance(0) runs nothing. */
    advance_ok(ctx, 0);
    assert_int_equal(spate_context_batches_completed(ctx), 3);
    stop_ok(ctx, false, false);
    ctx_destroy(ctx);
    counter_destroy(&c);
    pthread_mutex_destroy(&l.mu);
}

/* A sink slower than the interval: batches keep their times, the lag and delay show it. */
static spate_status slow_sink(void *user, const spate_batch *b, struct spate_error *err) {
    (void)user;
    (void)b;
    (void)err;
    sleep_ms(60);
    return SPATE_OK;
}

static void test_slow_batches_show_lag(void **state) {
    (void)state;
    spate_engine *e = new_engine(1);
    struct spate_context_opts o;
    spate_context_opts_init(&o);
    o.batch_interval_ms = 20;
    struct listen l;
    listen_init(&l);
    o.on_batch = listener;
    o.on_batch_user = &l;
    spate_context *ctx = new_ctx(e, &o);
    struct spate_error err;
    spate_error_init(&err);
    assert_int_equal(spate_dstream_foreach_batch(lines_queue(ctx), slow_sink, NULL, &err),
                     SPATE_OK);
    start_ok(ctx);
    for (int i = 0; i < 300 && listen_count(&l) < 6; i++)
        sleep_ms(10);
    stop_ok(ctx, false, false);
    uint64_t n = listen_count(&l);
    assert_true(n >= 6);
    if (n > 64)
        n = 64;
    /* The clock never runs user code: batch k still has time zero + k x interval. */
    for (uint64_t i = 1; i < n; i++)
        assert_int_equal(l.info[i].batch_time_ms - l.info[i - 1].batch_time_ms, 20);
    /* Each batch takes 3 intervals: later batches start late and see others waiting. */
    assert_true(l.info[n - 1].scheduling_delay_us > 60000);
    assert_true(l.info[n - 1].lag_batches >= 1);
    assert_true(l.info[n - 1].processing_time_us >= 55000);
    ctx_destroy(ctx);
}

/* ---- Regressions: misuse across contexts and from inside batches ---- */

/* The engine destroyed while a context still holds it, then that context stops it too. */
static void test_engine_destroyed_then_stop_engine(void **state) {
    (void)state;
    spate_engine *e = new_engine(1);
    struct spate_context_opts o;
    manual_opts(&o, 1000);
    spate_context *ctx = new_ctx(e, &o);
    engine_gone(e);
    spate_engine_destroy(e); /* the context keeps its memory until it lets go */
    struct spate_error err;
    spate_error_init(&err);
    static struct counter c;
    counter_init(&c);
    add_counter(lines_queue(ctx), &c);
    assert_int_equal(spate_context_start(ctx, &err), ECANCELED);
    assert_msg(err);
    assert_int_equal(spate_context_stop(ctx, true, false, &err), SPATE_OK);
    ctx_destroy(ctx);
}

/* Stopping context B with its engine stops context A that runs on the same engine. */
static void test_stop_engine_of_a_running_neighbour(void **state) {
    (void)state;
    spate_engine *e = new_engine(2);
    struct spate_context_opts o;
    manual_opts(&o, 1000);
    spate_context *a = new_ctx(e, &o);
    spate_context *b = new_ctx(e, &o);
    struct counter c;
    counter_init(&c);
    add_counter(lines_queue(a), &c);
    start_ok(a);
    advance_ok(a, 1);
    stop_ok(b, true, false); /* the engine goes: A cannot keep running on it */
    engine_gone(e);
    assert_int_equal(spate_context_state(a), SPATE_CONTEXT_STOPPED);
    struct spate_error err;
    spate_error_init(&err);
    assert_int_equal(spate_context_advance(a, 1, &err), ECANCELED);
    ctx_destroy(a);
    ctx_destroy(b);
}

/* stop and advance from a function that runs on a worker thread: EDEADLK, no hang. */
static spate_context *worker_ctx;
static _Atomic int worker_stop_rc, worker_advance_rc;

static uint32_t stop_from_worker(void *user, const struct spate_chunk_view *in, uint16_t *sel) {
    (void)user;
    struct spate_error err;
    atomic_store(&worker_stop_rc, spate_context_stop(worker_ctx, false, false, &err));
    atomic_store(&worker_advance_rc, spate_context_advance(worker_ctx, 1, &err));
    for (uint32_t i = 0; i < in->rows; i++)
        sel[i] = (uint16_t)i;
    return in->rows;
}

static void test_stop_from_a_worker_thread(void **state) {
    (void)state;
    spate_engine *e = new_engine(1);
    struct spate_context_opts o;
    manual_opts(&o, 1000);
    worker_ctx = new_ctx(e, &o);
    spate_dstream *q = lines_queue(worker_ctx);
    struct spate_error err;
    spate_error_init(&err);
    spate_dstream *f = spate_dstream_filter(q, stop_from_worker, NULL, &err);
    struct counter c;
    counter_init(&c);
    add_counter(f, &c);
    static const char *lines[] = {"a", "b"};
    push_lines(q, lines, 2);
    start_ok(worker_ctx);
    advance_ok(worker_ctx, 1);
    assert_int_equal(atomic_load(&worker_stop_rc), EDEADLK);
    assert_int_equal(atomic_load(&worker_advance_rc), EDEADLK);
    assert_int_equal(c.rows, 2);
    stop_ok(worker_ctx, false, false);
    ctx_destroy(worker_ctx);
}

/* The engine destroyed from inside a batch of its context: done when that context stops. */
static spate_engine *cb_engine;

static spate_status destroy_engine_in_batch(void *user, const spate_batch *b,
                                            struct spate_error *err) {
    (void)user;
    (void)b;
    (void)err;
    spate_engine_destroy(cb_engine); /* must neither hang nor free the running pool */
    return SPATE_OK;
}

static void test_engine_destroy_from_a_batch(void **state) {
    (void)state;
    cb_engine = new_engine(1);
    struct spate_context_opts o;
    manual_opts(&o, 1000);
    spate_context *ctx = new_ctx(cb_engine, &o);
    struct spate_error err;
    spate_error_init(&err);
    assert_int_equal(
        spate_dstream_foreach_batch(lines_queue(ctx), destroy_engine_in_batch, NULL, &err),
        SPATE_OK);
    start_ok(ctx);
    advance_ok(ctx, 2); /* the engine still serves the context */
    engine_gone(cb_engine);
    stop_ok(ctx, false, false); /* the pending destroy happens here, even without stop_engine */
    ctx_destroy(ctx);
}

/* The context destroyed from its own listener: freed once that batch is over. */
static _Atomic int listener_destroyed;
static spate_context *self_ctx;

static void destroy_in_listener(void *user, const struct spate_batch_info *info) {
    (void)user;
    (void)info;
    if (atomic_exchange(&listener_destroyed, 1) == 0)
        spate_context_destroy(self_ctx);
}

static void test_context_destroy_from_its_listener(void **state) {
    (void)state;
    spate_engine *e = new_engine(1);
    struct spate_context_opts o;
    spate_context_opts_init(&o);
    o.batch_interval_ms = 10;
    o.on_batch = destroy_in_listener;
    struct spate_error err;
    spate_error_init(&err);
    assert_int_equal(spate_context_create(e, &o, &self_ctx, &err), SPATE_OK);
    static struct counter c; /* batches may still run while the reaper stops the context */
    counter_init(&c);
    add_counter(lines_queue(self_ctx), &c);
    assert_int_equal(spate_context_start(self_ctx, &err), SPATE_OK);
    for (int i = 0; i < 200 && !atomic_load(&listener_destroyed); i++)
        sleep_ms(5);
    assert_true(atomic_load(&listener_destroyed));
    sleep_ms(300); /* the reaper thread stops and frees it (ASan checks); then the engine goes */
}

static void test_wall_clock_batch_times(void **state) {
    (void)state;
    spate_engine *e = new_engine(1);
    struct spate_context_opts o;
    spate_context_opts_init(&o);
    o.batch_interval_ms = 50;
    struct listen l;
    listen_init(&l);
    o.on_batch = listener;
    o.on_batch_user = &l;
    spate_context *ctx = new_ctx(e, &o);
    struct counter c;
    counter_init(&c);
    add_counter(lines_queue(ctx), &c);
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    int64_t start_real = (int64_t)rt.tv_sec * 1000 + rt.tv_nsec / 1000000;
    start_ok(ctx);
    /* advance is only for the manual clock. */
    struct spate_error err;
    spate_error_init(&err);
    assert_int_equal(spate_context_advance(ctx, 1, &err), EINVAL);
    assert_msg(err);
    sleep_ms(300);
    for (int i = 0; i < 70 && spate_context_batches_completed(ctx) < 3; i++)
        sleep_ms(10);
    assert_true(spate_context_batches_completed(ctx) >= 3);
    stop_ok(ctx, false, false);

    uint64_t n = listen_count(&l);
    assert_true(n >= 3);
    if (n > 64)
        n = 64;
    /* The first batch is due one interval after the start time rounded down. */
    assert_true(l.info[0].batch_time_ms > start_real - 50);
    assert_true(l.info[0].batch_time_ms <= start_real + 100);
    for (uint64_t i = 0; i < n; i++) {
        assert_int_equal(l.info[i].batch_time_ms % 50, 0);
        assert_int_equal(l.info[i].batch_index, i + 1);
        if (i > 0)
            assert_int_equal(l.info[i].batch_time_ms - l.info[i - 1].batch_time_ms, 50);
    }
    ctx_destroy(ctx);
    counter_destroy(&c);
    pthread_mutex_destroy(&l.mu);
}

/* ---- Engines and ISAs ---- */

static void test_engine_isa_choice(void **state) {
    (void)state;
    char *saved = getenv("SPATE_ISA") != NULL ? strdup(getenv("SPATE_ISA")) : NULL;
    unsetenv("SPATE_ISA");

    struct spate_engine_opts eo;
    spate_engine_opts_init(&eo);
    eo.workers = 1;
    eo.pin_workers = false;
    struct spate_error err;
    spate_engine *e = (spate_engine *)&err; /* must be set to NULL on failure */

    eo.isa = "bogus";
    spate_error_init(&err);
    assert_int_equal(spate_engine_create(&eo, &e, &err), EINVAL);
    assert_msg(err);
    assert_null(e);

    eo.isa = "scalar";
    assert_int_equal(spate_engine_create(&eo, &e, &err), SPATE_OK);
    assert_string_equal(spate_engine_isa(e), "scalar");
    spate_engine_destroy(e);

    eo.isa = NULL;
    assert_int_equal(spate_engine_create(&eo, &e, &err), SPATE_OK);
    const char *best = spate_engine_isa(e);
    assert_true(strcmp(best, "scalar") == 0 || strcmp(best, "avx2") == 0 ||
                strcmp(best, "avx512") == 0);
    spate_engine_destroy(e);

    eo.isa = "auto";
    assert_int_equal(spate_engine_create(&eo, &e, &err), SPATE_OK);
    assert_string_equal(spate_engine_isa(e), best);
    spate_engine_destroy(e);

    /* SPATE_ISA wins over the option. */
    setenv("SPATE_ISA", "scalar", 1);
    eo.isa = NULL;
    assert_int_equal(spate_engine_create(&eo, &e, &err), SPATE_OK);
    assert_string_equal(spate_engine_isa(e), "scalar");
    spate_engine_destroy(e);
    eo.isa = "avx2";
    assert_int_equal(spate_engine_create(&eo, &e, &err), SPATE_OK);
    assert_string_equal(spate_engine_isa(e), "scalar");
    spate_engine_destroy(e);
    setenv("SPATE_ISA", "bogus", 1);
    eo.isa = "scalar";
    spate_error_init(&err);
    assert_int_equal(spate_engine_create(&eo, &e, &err), EINVAL);
    assert_msg(err);
    unsetenv("SPATE_ISA");

    if (saved != NULL) {
        setenv("SPATE_ISA", saved, 1);
        free(saved);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_start_without_outputs_is_einval_and_stops, teardown),
        cmocka_unit_test_teardown(test_start_twice_is_noop, teardown),
        cmocka_unit_test_teardown(test_start_after_stop_is_ecanceled, teardown),
        cmocka_unit_test_teardown(test_stop_before_start_then_start_fails, teardown),
        cmocka_unit_test_teardown(test_stop_twice_is_ok, teardown),
        cmocka_unit_test_teardown(test_second_active_context_is_ebusy, teardown),
        cmocka_unit_test_teardown(test_define_after_start_and_stop, teardown),
        cmocka_unit_test_teardown(test_define_after_stop_before_start, teardown),
        cmocka_unit_test_teardown(test_engine_kept_makes_next_context, teardown),
        cmocka_unit_test_teardown(test_later_stop_stops_engine, teardown),
        cmocka_unit_test_teardown(test_await_timeout_active_and_stopped, teardown),
        cmocka_unit_test_teardown(test_await_returns_when_stopped_by_other_thread, teardown),
        cmocka_unit_test_teardown(test_await_never_started_is_einval, teardown),
        cmocka_unit_test_teardown(test_foreach_failure_reported_once, teardown),
        cmocka_unit_test_teardown(test_map_failure_reported, teardown),
        cmocka_unit_test_teardown(test_stop_inside_callback_is_edeadlk, teardown),
        cmocka_unit_test_teardown(test_await_reports_failure_while_waiting, teardown),
        cmocka_unit_test_teardown(test_advance_inside_callback_does_not_hang, teardown),
        cmocka_unit_test_teardown(test_graceful_stop_processes_pending, teardown),
        cmocka_unit_test_teardown(test_graceful_stop_timeout, teardown),
        cmocka_unit_test_teardown(test_destroy_active_context, teardown),
        cmocka_unit_test_teardown(test_non_graceful_stop_drops_pending, teardown),
        cmocka_unit_test_teardown(test_graceful_stop_wall_clock_concurrent_pushes, teardown),
        cmocka_unit_test_teardown(test_null_arguments, teardown),
        cmocka_unit_test_teardown(test_stop_leaves_no_threads_or_fds, teardown),
        cmocka_unit_test_teardown(test_failed_start_leaves_nothing, teardown),
        cmocka_unit_test_teardown(test_listener_indexes_and_times, teardown),
        cmocka_unit_test_teardown(test_wall_clock_batch_times, teardown),
        cmocka_unit_test_teardown(test_slow_batches_show_lag, teardown),
        cmocka_unit_test_teardown(test_engine_destroyed_then_stop_engine, teardown),
        cmocka_unit_test_teardown(test_stop_engine_of_a_running_neighbour, teardown),
        cmocka_unit_test_teardown(test_stop_from_a_worker_thread, teardown),
        cmocka_unit_test_teardown(test_engine_destroy_from_a_batch, teardown),
        cmocka_unit_test_teardown(test_context_destroy_from_its_listener, teardown),
        cmocka_unit_test_teardown(test_engine_isa_choice, teardown),
    };
    return cmocka_run_group_tests_name("lifecycle", tests, NULL, NULL);
}
