/*
 * tests/e2e/test_latency.c - record latency (spate_context_latency and the
 * batch info's latency_max_us) through the public API: queue pushes, receiver
 * stores and the generator's ring are dated at arrival; every record of a
 * successful batch is measured exactly once (typed generators' items too,
 * dated by their schedule when rate-limited); a constant stream's rows
 * and a failed batch's records are not; reset forgets; the percentiles are ordered and bounded by
 * the time that really passed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "spate/spate.h"

static int64_t mono_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

struct fx {
    spate_engine *engine;
    spate_context *ctx;
};

static void fx_make(struct fx *f) {
    struct spate_error err;
    struct spate_engine_opts eo;
    spate_engine_opts_init(&eo);
    eo.workers = 2;
    assert_int_equal(spate_engine_create(&eo, &f->engine, &err), SPATE_OK);
    struct spate_context_opts co;
    spate_context_opts_init(&co);
    co.manual_clock = true;
    co.batch_interval_ms = 1000;
    assert_int_equal(spate_context_create(f->engine, &co, &f->ctx, &err), SPATE_OK);
}

static void fx_done(struct fx *f) {
    struct spate_error err;
    assert_int_equal(spate_context_stop(f->ctx, true, false, &err), SPATE_OK);
    spate_context_destroy(f->ctx);
}

static spate_status count_rows(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    *(uint64_t *)user += spate_batch_rows(b);
    return SPATE_OK;
}

static void check_ordered(const struct spate_latency_stats *s) {
    assert_true(s->p50_us <= s->p90_us);
    assert_true(s->p90_us <= s->p99_us);
    assert_true(s->p99_us <= s->p999_us);
    assert_true(s->p999_us <= s->max_us);
}

static void test_queue(void **state) {
    (void)state;
    struct fx f;
    fx_make(&f);
    struct spate_error err;
    struct spate_column_def cols[] = {{"v", SPATE_TYPE_I64}};
    spate_dstream *q = spate_context_queue_stream(f.ctx, cols, 1, &err);
    uint64_t seen = 0;
    assert_int_equal(spate_dstream_foreach_batch(q, count_rows, &seen, &err), SPATE_OK);
    int64_t v[1000];
    for (int i = 0; i < 1000; i++)
        v[i] = i;
    struct spate_column_data d[] = {{v, NULL}};
    int64_t t0 = mono_us();
    assert_int_equal(spate_queue_push(q, d, 1000, &err), SPATE_OK);
    assert_int_equal(spate_context_start(f.ctx, &err), SPATE_OK);
    struct spate_latency_stats s;
    spate_context_latency(f.ctx, &s);
    assert_int_equal(s.records, 0);
    assert_int_equal(s.max_us, 0);
    sleep_ms(30);
    assert_int_equal(spate_context_advance(f.ctx, 1, &err), SPATE_OK);
    int64_t t1 = mono_us();
    assert_int_equal(seen, 1000);
    struct spate_batch_info bi;
    assert_true(spate_context_last_batch(f.ctx, &bi));
    assert_true(bi.latency_max_us >= 30000);
    assert_true(bi.latency_max_us <= t1 - t0);
    spate_context_latency(f.ctx, &s);
    assert_int_equal(s.records, 1000);
    assert_true(s.p50_us >= 30000);
    assert_true(s.max_us <= t1 - t0);
    check_ordered(&s);
    /* An empty batch measures nothing more. */
    assert_int_equal(spate_context_advance(f.ctx, 1, &err), SPATE_OK);
    assert_true(spate_context_last_batch(f.ctx, &bi));
    assert_int_equal(bi.latency_max_us, 0);
    spate_context_latency(f.ctx, &s);
    assert_int_equal(s.records, 1000);
    spate_context_latency_reset(f.ctx);
    spate_context_latency(f.ctx, &s);
    assert_int_equal(s.records, 0);
    assert_int_equal(s.p99_us, 0);
    fx_done(&f);
    spate_context_latency(NULL, &s); /* zeros, no crash */
    assert_int_equal(s.records, 0);
    spate_context_latency_reset(NULL);
}

static spate_status rx_start(void *user, spate_receiver *r, struct spate_error *err) {
    (void)err;
    *(spate_receiver **)user = r;
    return SPATE_OK;
}

static void rx_stop(void *user) {
    (void)user;
}

static void test_receiver_two_ages(void **state) {
    (void)state;
    struct fx f;
    fx_make(&f);
    struct spate_error err;
    struct spate_column_def cols[] = {{"v", SPATE_TYPE_I64}};
    spate_receiver *r = NULL;
    struct spate_receiver_ops ops = {rx_start, rx_stop, &r};
    spate_dstream *in = spate_context_receiver_stream(f.ctx, cols, 1, &ops, &err);
    assert_non_null(in);
    uint64_t seen = 0;
    assert_int_equal(spate_dstream_foreach_batch(in, count_rows, &seen, &err), SPATE_OK);
    assert_int_equal(spate_context_start(f.ctx, &err), SPATE_OK);
    assert_non_null(r);
    int64_t v[300] = {0};
    struct spate_column_data d[] = {{v, NULL}};
    assert_int_equal(spate_receiver_store(r, d, 100, &err), SPATE_OK); /* old */
    sleep_ms(200);
    assert_int_equal(spate_receiver_store(r, d, 300, &err), SPATE_OK); /* young */
    assert_int_equal(spate_context_advance(f.ctx, 1, &err), SPATE_OK);
    assert_int_equal(seen, 400);
    struct spate_latency_stats s;
    spate_context_latency(f.ctx, &s);
    assert_int_equal(s.records, 400);
    /* 3/4 of the records are young, 1/4 at least 200 ms old. */
    assert_true(s.p50_us < 200000);
    assert_true(s.p90_us >= 200000);
    assert_true(s.max_us >= 200000);
    check_ordered(&s);
    fx_done(&f);
}

static spate_status fail_batch(void *user, const spate_batch *b, struct spate_error *err) {
    (void)user;
    (void)b;
    snprintf(err->message, sizeof(err->message), "refused");
    return EIO;
}

static void test_failed_and_constant(void **state) {
    (void)state;
    struct fx f;
    fx_make(&f);
    struct spate_error err;
    struct spate_column_def cols[] = {{"v", SPATE_TYPE_I64}};
    int64_t v[10] = {0};
    struct spate_column_data d[] = {{v, NULL}};
    spate_dstream *table = spate_context_constant_stream(f.ctx, cols, 1, d, 10, &err);
    assert_non_null(table);
    uint64_t seen = 0;
    assert_int_equal(spate_dstream_foreach_batch(table, count_rows, &seen, &err), SPATE_OK);
    spate_dstream *q = spate_context_queue_stream(f.ctx, cols, 1, &err);
    assert_int_equal(spate_dstream_foreach_batch(q, fail_batch, NULL, &err), SPATE_OK);
    assert_int_equal(spate_queue_push(q, d, 10, &err), SPATE_OK);
    assert_int_equal(spate_context_start(f.ctx, &err), SPATE_OK);
    assert_int_equal(spate_context_advance(f.ctx, 2, &err), SPATE_OK);
    assert_int_equal(seen, 20);
    struct spate_latency_stats s;
    spate_context_latency(f.ctx, &s);
    assert_int_equal(s.records, 0); /* the constant rows are not new; the queued rows failed */
    bool stopped;
    assert_int_not_equal(spate_context_await_termination_timeout(f.ctx, 0, &stopped, &err),
                         SPATE_OK);
    fx_done(&f);
}

static void run_generator(enum spate_generator_kind kind) {
    struct fx f;
    fx_make(&f);
    struct spate_error err;
    struct spate_generator_opts go;
    spate_generator_opts_init(&go);
    go.kind = kind;
    go.max_lines = 20000;
    go.ring_bytes = 8u << 20;
    spate_dstream *lines = spate_context_generator_stream(f.ctx, &go, &err);
    assert_non_null(lines);
    uint64_t seen = 0;
    assert_int_equal(spate_dstream_foreach_batch(lines, count_rows, &seen, &err), SPATE_OK);
    uint64_t want =
        kind == SPATE_GENERATOR_TEXT ? go.max_lines : spate_generator_rows(&go, 0, go.max_lines);
    int64_t t0 = mono_us();
    assert_int_equal(spate_context_start(f.ctx, &err), SPATE_OK);
    for (int i = 0; i < 2000 && seen < want; i++) {
        sleep_ms(5);
        assert_int_equal(spate_context_advance(f.ctx, 1, &err), SPATE_OK);
    }
    int64_t t1 = mono_us();
    assert_int_equal(seen, want);
    struct spate_latency_stats s;
    spate_context_latency(f.ctx, &s);
    assert_int_equal(s.records, want);
    assert_true(s.max_us <= t1 - t0);
    assert_true(s.max_us > 0);
    check_ordered(&s);
    fx_done(&f);
}

/* The text generator's ring (arrival marks) and a typed generator's items. */
static void test_generator_ring(void **state) {
    (void)state;
    run_generator(SPATE_GENERATOR_TEXT);
}

static void test_generator_typed(void **state) {
    (void)state;
    run_generator(SPATE_GENERATOR_NEXMARK_BID);
}

/* A rate-limited generator held back by a slow engine dates its records by its schedule:
 * the time it waited counts (without that, the backlog would look fresh). */
static void test_generator_schedule(void **state) {
    (void)state;
    struct fx f;
    fx_make(&f);
    struct spate_error err;
    struct spate_generator_opts go;
    spate_generator_opts_init(&go);
    go.kind = SPATE_GENERATOR_KEYED;
    go.lines_per_second = 50000;
    go.max_lines = 40000;      /* 0.8 s of schedule */
    go.ring_bytes = 64u << 10; /* one item outstanding: the generator waits for the engine */
    spate_dstream *in = spate_context_generator_stream(f.ctx, &go, &err);
    assert_non_null(in);
    uint64_t seen = 0;
    assert_int_equal(spate_dstream_foreach_batch(in, count_rows, &seen, &err), SPATE_OK);
    assert_int_equal(spate_context_start(f.ctx, &err), SPATE_OK);
    sleep_ms(1000); /* every event is due by now; the generator made only its first item */
    for (int i = 0; i < 4000 && seen < go.max_lines; i++) {
        assert_int_equal(spate_context_advance(f.ctx, 1, &err), SPATE_OK);
        sleep_ms(1);
    }
    assert_int_equal(seen, go.max_lines);
    struct spate_latency_stats s;
    spate_context_latency(f.ctx, &s);
    assert_int_equal(s.records, go.max_lines);
    /* Even the last event was due 0.8 s in, and nothing was processed before 1 s. */
    assert_true(s.p50_us >= 200000);
    check_ordered(&s);
    fx_done(&f);
}

/* A ring range counts its records, not its bytes: 1,000 short lines, then much later one
 * line three times as long as all of them, in one batch: the median record is an old one. */
static void test_ring_counts_lines(void **state) {
    (void)state;
    struct fx f;
    fx_make(&f);
    struct spate_error err;
    spate_dstream *in = spate_context_udp_stream(f.ctx, "127.0.0.1", 0, NULL, &err);
    assert_non_null(in);
    uint64_t seen = 0;
    assert_int_equal(spate_dstream_foreach_batch(in, count_rows, &seen, &err), SPATE_OK);
    assert_int_equal(spate_context_start(f.ctx, &err), SPATE_OK);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(spate_input_port(in));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    static char buf[32000];
    for (int i = 0; i < 1000; i++)
        memcpy(buf + 10 * i, "123456789\n", 10);
    assert_int_equal(sendto(fd, buf, 10000, 0, (struct sockaddr *)&sa, sizeof(sa)), 10000);
    sleep_ms(300);
    memset(buf, 'x', 29999);
    buf[29999] = '\n';
    assert_int_equal(sendto(fd, buf, 30000, 0, (struct sockaddr *)&sa, sizeof(sa)), 30000);
    close(fd);
    struct spate_input_stats st = {0};
    for (int i = 0; i < 2000 && st.bytes < 40000; i++) {
        sleep_ms(1);
        assert_int_equal(spate_input_stats(in, &st, &err), SPATE_OK);
    }
    assert_int_equal(spate_context_advance(f.ctx, 1, &err), SPATE_OK);
    assert_int_equal(seen, 1001);
    struct spate_latency_stats s;
    spate_context_latency(f.ctx, &s);
    assert_int_equal(s.records, 1001);
    assert_true(s.p50_us >= 250000); /* by bytes, three quarters would look young */
    assert_true(s.p90_us >= 250000);
    check_ordered(&s);
    fx_done(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue),
        cmocka_unit_test(test_receiver_two_ages),
        cmocka_unit_test(test_failed_and_constant),
        cmocka_unit_test(test_generator_ring),
        cmocka_unit_test(test_generator_typed),
        cmocka_unit_test(test_generator_schedule),
        cmocka_unit_test(test_ring_counts_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
