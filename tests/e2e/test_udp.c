/*
 * tests/e2e/test_udp.c - udp_stream: datagrams of every size up to 65507
 * bytes, each several numbered lines and a last line without '\n' that
 * fills it exactly; every line must arrive once and whole (sent paced, so
 * that loopback drops nothing). A port already bound fails the start.
 * With small receive buffers, datagrams that fit arrive whole and each one
 * that does not is dropped and counted as malformed once.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
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

#define DGRAMS 300

struct seen {
    uint32_t lines[DGRAMS]; /* numbered lines of datagram d */
    uint32_t ends[DGRAMS];  /* its last line */
    uint32_t tiny, bad;
    uint64_t total;
};

static spate_status check(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    struct seen *s = user;
    for (uint32_t p = 0; p < spate_batch_num_partitions(b); p++)
        for (uint32_t c = 0; c < spate_batch_num_chunks(b, p); c++) {
            struct spate_chunk_view v;
            if (spate_batch_chunk(b, p, c, &v) != SPATE_OK)
                return EIO;
            for (uint32_t r = 0; r < v.rows; r++) {
                const char *str;
                uint32_t len;
                if (!spate_chunk_get_string(&v, 0, r, &str, &len)) {
                    s->bad++;
                    continue;
                }
                s->total++;
                char head[32];
                snprintf(head, sizeof(head), "%.*s", (int)(len < 31 ? len : 31), str);
                unsigned d, l;
                if (head[0] == 'x') {
                    s->tiny++;
                } else if (sscanf(head, "d%u l%u", &d, &l) == 2 && d < DGRAMS && l == s->lines[d]) {
                    s->lines[d]++;
                } else if (sscanf(head, "d%u end", &d) == 1 && strstr(head, "end") && d < DGRAMS) {
                    s->ends[d]++;
                } else {
                    s->bad++;
                }
            }
        }
    return SPATE_OK;
}

static void datagrams_of_every_size(void **state) {
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
    spate_dstream *in = spate_context_udp_stream(ctx, "127.0.0.1", 0, NULL, &err);
    assert_non_null(in);
    static struct seen s;
    memset(&s, 0, sizeof(s));
    assert_int_equal(spate_dstream_foreach_batch(in, check, &s, &err), SPATE_OK);
    assert_int_equal(spate_context_start(ctx, &err), SPATE_OK);
    uint16_t port = spate_input_port(in);
    assert_true(port != 0);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    static char buf[65507];
    static uint32_t want_lines[DGRAMS];
    static bool tiny_d[DGRAMS];
    uint32_t want_tiny = 0, want_ends = 0;
    uint64_t seed = 5;
    for (uint32_t d = 0; d < DGRAMS; d++) {
        static const uint32_t fixed[] = {1,    2,    11,    100,   1000,  1500,
                                         4096, 9000, 16384, 32768, 65000, 65507};
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        uint32_t size = d < 12 ? fixed[d] : 1 + (uint32_t)((seed >> 33) % 65507);
        char end[32];
        int elen = snprintf(end, sizeof(end), "d%u end", d);
        uint32_t at = 0;
        if (size < (uint32_t)elen + 1) {
            memset(buf, 'x', size); /* too small for a numbered line: one line of x */
            at = size;
            want_tiny++;
            tiny_d[d] = true;
        } else {
            for (uint32_t l = 0;; l++) {
                char line[32];
                int n = snprintf(line, sizeof(line), "d%u l%u\n", d, l);
                if (at + (uint32_t)n + (uint32_t)elen > size)
                    break;
                memcpy(buf + at, line, (size_t)n);
                at += (uint32_t)n;
                want_lines[d]++;
            }
            memcpy(buf + at, end, (size_t)elen);
            at += (uint32_t)elen;
            memset(buf + at, 'z', size - at); /* fill exactly, no final '\n' */
            at = size;
            want_ends++;
        }
        assert_int_equal(sendto(fd, buf, at, 0, (struct sockaddr *)&sa, sizeof(sa)), (ssize_t)at);
        if (d % 8 == 7) {
            struct timespec ts = {0, 2000000};
            nanosleep(&ts, NULL);
        }
    }
    close(fd);
    uint64_t want_total = want_tiny + want_ends;
    for (uint32_t d = 0; d < DGRAMS; d++)
        want_total += want_lines[d];
    struct spate_input_stats st;
    for (int i = 0; i < 500; i++) {
        assert_int_equal(spate_input_stats(in, &st, &err), SPATE_OK);
        if (st.records >= want_total)
            break;
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(spate_context_stop(ctx, true, true, &err), SPATE_OK);
    assert_int_equal(spate_input_stats(in, &st, &err), SPATE_OK);
    spate_context_destroy(ctx);
    assert_int_equal(s.bad, 0);
    assert_int_equal(s.total, want_total);
    assert_int_equal(s.tiny, want_tiny);
    for (uint32_t d = 0; d < DGRAMS; d++) {
        assert_int_equal(s.lines[d], want_lines[d]);
        assert_int_equal(s.ends[d], tiny_d[d] ? 0 : 1); /* the last line, ended by the datagram */
    }
    (void)want_ends;
    assert_int_equal(st.datagrams, DGRAMS);
}

static void port_in_use(void **state) {
    (void)state;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
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
    spate_dstream *in = spate_context_udp_stream(ctx, "127.0.0.1", ntohs(sa.sin_port), NULL, &err);
    assert_non_null(in);
    assert_int_equal(spate_dstream_print(in, 1, &err), SPATE_OK);
    assert_int_equal(spate_context_start(ctx, &err), EIO);
    assert_non_null(strstr(err.message, "cannot bind"));
    spate_status rc = spate_context_stop(ctx, true, false, &err);
    (void)rc;
    spate_context_destroy(ctx);
    close(fd);
}

static spate_status count_rows(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    atomic_fetch_add((_Atomic uint64_t *)user, spate_batch_rows(b));
    return SPATE_OK;
}

static void small_buffers(void **state) {
    (void)state;
    struct spate_error err;
    struct spate_engine_opts eo;
    spate_engine_opts_init(&eo);
    eo.workers = 2;
    spate_engine *engine;
    assert_int_equal(spate_engine_create(&eo, &engine, &err), SPATE_OK);
    struct spate_context_opts co;
    spate_context_opts_init(&co);
    co.batch_interval_ms = 20;
    spate_context *ctx;
    assert_int_equal(spate_context_create(engine, &co, &ctx, &err), SPATE_OK);
    struct spate_socket_opts so;
    spate_socket_opts_init(&so);
    so.max_line_bytes = 64u << 10;
    so.ring_bytes = 16u << 20;
    so.recv_buffer_bytes = 2048;
    so.recv_buffers = 256;
    spate_dstream *in = spate_context_udp_stream(ctx, "127.0.0.1", 0, &so, &err);
    assert_non_null(in);
    _Atomic uint64_t rows = 0; /* added on the scheduler thread, read here */
    assert_int_equal(spate_dstream_foreach_batch(in, count_rows, &rows, &err), SPATE_OK);
    assert_int_equal(spate_context_start(ctx, &err), SPATE_OK);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(spate_input_port(in));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    static char buf[4000];
    uint64_t want_rows = 0, want_bad = 0;
    for (int d = 0; d < 200; d++) {
        /* lines of 10 bytes; every 7th datagram too long for a buffer */
        uint32_t lines = d % 7 == 3 ? 300 : 1 + (uint32_t)(d % 150);
        for (uint32_t l = 0; l < lines; l++)
            memcpy(buf + 10 * l, "abcdefghi\n", 10);
        assert_int_equal(sendto(fd, buf, 10 * lines, 0, (struct sockaddr *)&sa, sizeof(sa)),
                         (ssize_t)(10 * lines));
        if (10 * lines + 16 > 2048)
            want_bad++;
        else
            want_rows += lines;
        if (d % 20 == 19) {
            struct timespec ts = {0, 2000000};
            nanosleep(&ts, NULL);
        }
    }
    close(fd);
    struct spate_input_stats st = {0};
    for (int i = 0; i < 5000 && (st.datagrams < 200 || atomic_load(&rows) < want_rows); i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
        assert_int_equal(spate_input_stats(in, &st, &err), SPATE_OK);
    }
    assert_int_equal(spate_context_stop(ctx, true, true, &err), SPATE_OK);
    assert_int_equal(spate_input_stats(in, &st, &err), SPATE_OK);
    assert_int_equal(st.datagrams, 200);
    assert_int_equal(st.malformed, want_bad);
    assert_int_equal(atomic_load(&rows), want_rows);
    spate_context_destroy(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(datagrams_of_every_size),
        cmocka_unit_test(port_in_use),
        cmocka_unit_test(small_buffers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
