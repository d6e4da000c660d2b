/*
 * tests/e2e/test_listen.c - socket_listen_stream with many producers:
 * 16 threads each connect three times to one listening stream and send
 * numbered lines in writes of random sizes with pauses, so lines are cut
 * across receive buffers and connections interleave; some connections end
 * with a line without '\n'. Every line must arrive exactly once, whole
 * (never mixed with another connection's bytes), and in order within its
 * connection. A port already in use fails the start with a message.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "spate/spate.h"

#define PRODUCERS 16
#define CONNS 3
#define LINES 400

/* next[p][c]: the sequence number expected next on connection c of producer p. */
struct tracker {
    uint32_t next[PRODUCERS][CONNS];
    uint64_t lines, bad;
};

static spate_status track(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    struct tracker *t = user;
    for (uint32_t p = 0; p < spate_batch_num_partitions(b); p++)
        for (uint32_t c = 0; c < spate_batch_num_chunks(b, p); c++) {
            struct spate_chunk_view v;
            if (spate_batch_chunk(b, p, c, &v) != SPATE_OK)
                return EIO;
            for (uint32_t r = 0; r < v.rows; r++) {
                const char *s;
                uint32_t len;
                char buf[64];
                unsigned pr, co, seq;
                char tail[8];
                if (!spate_chunk_get_string(&v, 0, r, &s, &len) || len >= sizeof(buf)) {
                    t->bad++;
                    continue;
                }
                memcpy(buf, s, len);
                buf[len] = '\0';
                if (sscanf(buf, "p%u c%u s%u %7s", &pr, &co, &seq, tail) != 4 ||
                    strcmp(tail, "end") != 0 || pr >= PRODUCERS || co >= CONNS ||
                    seq != t->next[pr][co]) {
                    t->bad++;
                    continue;
                }
                t->next[pr][co]++;
                t->lines++;
            }
        }
    return SPATE_OK;
}

static atomic_int producers_failed;
static uint16_t port;

static void *producer(void *arg) {
    unsigned id = (unsigned)(uintptr_t)arg;
    uint64_t rng = id * 7919 + 1;
    for (unsigned c = 0; c < CONNS; c++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa;
        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        sa.sin_port = htons(port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
            atomic_fetch_add(&producers_failed, 1);
            return NULL;
        }
        static _Thread_local char text[LINES * 40];
        size_t len = 0;
        for (unsigned s = 0; s < LINES; s++)
            len += (size_t)snprintf(text + len, sizeof(text) - len, "p%u c%u s%u end\n", id, c, s);
        if ((id + c) % 2 == 1)
            len--; /* the connection's last line has no '\n': it ends at EOF */
        for (size_t at = 0; at < len;) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            size_t piece = 1 + (rng >> 33) % 300;
            if (piece > len - at)
                piece = len - at;
            ssize_t w = send(fd, text + at, piece, MSG_NOSIGNAL);
            if (w <= 0) {
                atomic_fetch_add(&producers_failed, 1);
                close(fd);
                return NULL;
            }
            at += (size_t)w;
            if ((rng >> 20) % 16 == 0) {
                struct timespec ts = {0, 200000};
                nanosleep(&ts, NULL);
            }
        }
        close(fd);
    }
    return NULL;
}

static void many_producers(void **state) {
    (void)state;
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
    struct spate_socket_opts so;
    spate_socket_opts_init(&so);
    so.recv_buffer_bytes = 4096; /* small buffers: lines cross them often */
    so.recv_buffers = 16;
    so.ring_bytes = 1u << 20;
    so.max_line_bytes = 1024;
    spate_dstream *in = spate_context_socket_listen_stream(ctx, "127.0.0.1", 0, &so, &err);
    assert_non_null(in);
    static struct tracker t;
    memset(&t, 0, sizeof(t));
    assert_int_equal(spate_dstream_foreach_batch(in, track, &t, &err), SPATE_OK);
    assert_int_equal(spate_input_port(in), 0);
    assert_int_equal(spate_context_start(ctx, &err), SPATE_OK);
    port = spate_input_port(in);
    assert_true(port != 0);
    /* A second stream on the same port cannot start. */
    pthread_t th[PRODUCERS];
    for (unsigned p = 0; p < PRODUCERS; p++)
        assert_int_equal(pthread_create(&th[p], NULL, producer, (void *)(uintptr_t)p), 0);
    for (unsigned p = 0; p < PRODUCERS; p++)
        pthread_join(th[p], NULL);
    assert_int_equal(atomic_load(&producers_failed), 0);
    struct spate_input_stats st;
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(spate_input_stats(in, &st, &err), SPATE_OK);
        if (st.records >= (uint64_t)PRODUCERS * CONNS * LINES)
            break;
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(spate_context_stop(ctx, true, true, &err), SPATE_OK);
    assert_int_equal(spate_input_stats(in, &st, &err), SPATE_OK);
    spate_context_destroy(ctx);
    assert_int_equal(t.bad, 0);
    assert_int_equal(t.lines, (uint64_t)PRODUCERS * CONNS * LINES);
    for (unsigned p = 0; p < PRODUCERS; p++)
        for (unsigned c = 0; c < CONNS; c++)
            assert_int_equal(t.next[p][c], LINES);
    assert_int_equal(st.accepted, PRODUCERS * CONNS);
    assert_int_equal(st.malformed, 0);
}

static spate_status ignore(void *user, const spate_batch *b, struct spate_error *err) {
    (void)user;
    (void)b;
    (void)err;
    return SPATE_OK;
}

/* A rate limit of 20,000 records/s: 30,000 lines take at least 0.4 s (the bucket holds a
 * second's worth at most), and all of them arrive. */
static void rate_limited(void **state) {
    (void)state;
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
    struct spate_socket_opts so;
    spate_socket_opts_init(&so);
    so.max_records_per_second = 20000;
    spate_dstream *in = spate_context_socket_listen_stream(ctx, "127.0.0.1", 0, &so, &err);
    assert_non_null(in);
    static struct tracker none;
    assert_int_equal(spate_dstream_foreach_batch(in, ignore, &none, &err), SPATE_OK);
    assert_int_equal(spate_context_start(ctx, &err), SPATE_OK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(spate_input_port(in));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    static char text[30000 * 8];
    size_t len = 0;
    for (int i = 0; i < 30000; i++)
        len += (size_t)snprintf(text + len, sizeof(text) - len, "%d\n", i);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t at = 0; at < len;) {
        ssize_t w = send(fd, text + at, len - at, MSG_NOSIGNAL);
        assert_true(w > 0);
        at += (size_t)w;
    }
    close(fd);
    struct spate_input_stats st;
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(spate_input_stats(in, &st, &err), SPATE_OK);
        if (st.records >= 30000)
            break;
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    assert_int_equal(spate_context_stop(ctx, true, true, &err), SPATE_OK);
    assert_int_equal(spate_input_stats(in, &st, &err), SPATE_OK);
    spate_context_destroy(ctx);
    assert_int_equal(st.records, 30000);
    /* The bucket is one second deep: at most 20,000 + 2,000 records pass unthrottled. */
    if (!(secs >= 0.4 && secs < 10))
        fail_msg("took %.3f s, blocked %.3f s, records %llu", secs, (double)st.blocked_ns * 1e-9,
                 (unsigned long long)st.records);
    assert_true(st.blocked_ns > 300000000ull); /* the receiver waited on its budget */
}

static void port_in_use(void **state) {
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 1), 0);
    socklen_t sl = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    struct spate_error err;
    spate_engine *engine;
    assert_int_equal(spate_engine_create(NULL, &engine, &err), SPATE_OK);
    struct spate_context_opts co;
    spate_context_opts_init(&co);
    co.manual_clock = true;
    spate_context *ctx;
    assert_int_equal(spate_context_create(engine, &co, &ctx, &err), SPATE_OK);
    spate_dstream *in =
        spate_context_socket_listen_stream(ctx, "127.0.0.1", ntohs(sa.sin_port), NULL, &err);
    assert_non_null(in);
    assert_int_equal(spate_dstream_print(in, 1, &err), SPATE_OK);
    assert_int_equal(spate_context_start(ctx, &err), EIO);
    assert_non_null(strstr(err.message, "cannot listen"));
    spate_status rc = spate_context_stop(ctx, true, false, &err);
    (void)rc;
    spate_context_destroy(ctx);
    close(fd);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(many_producers),
        cmocka_unit_test(rate_limited),
        cmocka_unit_test(port_in_use),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
