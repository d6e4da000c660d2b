/*
 * tests/e2e/test_binary_inputs.c - fixed-width binary records (record_bytes)
 * through every input that frames bytes, decoded by parse_binary.
 *
 * Every record is 24 bytes: producer (u32), connection (u32), sequence
 * number (u64) and a check word made from the three, so a record cut at the
 * wrong place or mixed with another connection's bytes fails its check.
 *  - listen: 8 producers connect twice each and send records in writes of
 *    random sizes (records split across writes and receive buffers); half the
 *    connections end with a torn partial record. Every record arrives once,
 *    in order within its connection; the torn tails are the input's
 *    malformed count, exactly.
 *  - TCP client (socket_text_stream): the same against a server thread.
 *  - UDP: datagrams of 1 to 8 records, a third of them with a remainder
 *    shorter than a record: the remainders are the malformed count.
 *  - files: binary files read with include_existing, one with a torn tail.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "spate/spate.h"

#define REC 24
#define MAX_P 16
#define MAX_C 512

static const struct spate_binary_field fields[] = {
    {"p", SPATE_TYPE_I64, 4, 0},
    {"c", SPATE_TYPE_I64, 4, 0},
    {"seq", SPATE_TYPE_I64, 0, 0},
    {"chk", SPATE_TYPE_I64, 0, 0},
};

static uint64_t check_word(uint32_t p, uint32_t c, uint64_t seq) {
    return seq * 0x9e3779b97f4a7c15ull ^ ((uint64_t)p << 32 | c);
}

static void put_le(unsigned char *b, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

static void encode(unsigned char *b, uint32_t p, uint32_t c, uint64_t seq) {
    put_le(b, p, 4);
    put_le(b + 4, c, 4);
    put_le(b + 8, seq, 8);
    put_le(b + 16, check_word(p, c, seq), 8);
}

/* next[p][c]: the sequence number expected next from connection c of producer p. */
struct tracker {
    uint64_t next[MAX_P][MAX_C];
    uint64_t records, bad;
};

static spate_status track(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    struct tracker *t = user;
    for (uint32_t part = 0; part < spate_batch_num_partitions(b); part++)
        for (uint32_t k = 0; k < spate_batch_num_chunks(b, part); k++) {
            struct spate_chunk_view v;
            if (spate_batch_chunk(b, part, k, &v) != SPATE_OK)
                return EIO;
            for (uint32_t r = 0; r < v.rows; r++) {
                int64_t p, c, seq, chk;
                if (!spate_chunk_get_i64(&v, 0, r, &p) || !spate_chunk_get_i64(&v, 1, r, &c) ||
                    !spate_chunk_get_i64(&v, 2, r, &seq) || !spate_chunk_get_i64(&v, 3, r, &chk) ||
                    p < 0 || p >= MAX_P || c < 0 || c >= MAX_C ||
                    (uint64_t)chk != check_word((uint32_t)p, (uint32_t)c, (uint64_t)seq) ||
                    (uint64_t)seq != t->next[p][c]) {
                    t->bad++;
                    continue;
                }
                t->next[p][c]++;
                t->records++;
            }
        }
    return SPATE_OK;
}

static struct tracker t;

/* A running context on 2 workers (20 ms batches); in gets parse_binary and the tracker. */
static spate_context *make_ctx(spate_dstream *(*define)(spate_context *, void *), void *arg,
                               spate_dstream **in_out, spate_dstream **parsed_out) {
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
    spate_dstream *in = define(ctx, arg);
    assert_non_null(in);
    spate_dstream *parsed = spate_dstream_parse_binary(in, 0, fields, 4, NULL, &err);
    assert_non_null(parsed);
    memset(&t, 0, sizeof(t));
    assert_int_equal(spate_dstream_foreach_batch(parsed, track, &t, &err), SPATE_OK);
    assert_int_equal(spate_context_start(ctx, &err), SPATE_OK);
    *in_out = in;
    *parsed_out = parsed;
    return ctx;
}

/* Wait until in took want records (bounded), stop gracefully; stats after the stop. */
static void finish(spate_context *ctx, spate_dstream *in, uint64_t want,
                   struct spate_input_stats *st) {
    struct spate_error err;
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(spate_input_stats(in, st, &err), SPATE_OK);
        if (st->records >= want)
            break;
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(spate_context_stop(ctx, true, true, &err), SPATE_OK);
    assert_int_equal(spate_input_stats(in, st, &err), SPATE_OK);
}

/* Send buf[0, len) in writes of 1..max bytes. 0 or -1. */
static int send_pieces(int fd, const unsigned char *buf, size_t len, uint64_t *rng, size_t max) {
    for (size_t at = 0; at < len;) {
        *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
        size_t piece = 1 + (*rng >> 33) % max;
        if (piece > len - at)
            piece = len - at;
        ssize_t w = send(fd, buf + at, piece, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        at += (size_t)w;
        if ((*rng >> 20) % 32 == 0) {
            struct timespec ts = {0, 100000};
            nanosleep(&ts, NULL);
        }
    }
    return 0;
}

/* ---- Listen: many producers ---- */

#define PRODUCERS 8
#define CONNS 2
#define RECS 600

static atomic_int producers_failed;
static uint16_t port;

/* The connection's records, plus a torn tail of 1..REC-1 bytes when torn. */
static size_t make_stream(unsigned char *buf, uint32_t p, uint32_t c, uint32_t n, bool torn) {
    for (uint32_t s = 0; s < n; s++)
        encode(buf + (size_t)s * REC, p, c, s);
    size_t len = (size_t)n * REC;
    if (torn) {
        encode(buf + len, p, c, n);
        len += 1 + (p * 7 + c) % (REC - 1);
    }
    return len;
}

static void *producer(void *arg) {
    unsigned id = (unsigned)(uintptr_t)arg;
    uint64_t rng = id * 7919 + 3;
    static _Thread_local unsigned char buf[(RECS + 1) * REC];
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
        size_t len = make_stream(buf, id, c, RECS, (id + c) % 2 == 1);
        if (send_pieces(fd, buf, len, &rng, 100) != 0)
            atomic_fetch_add(&producers_failed, 1);
        close(fd);
    }
    return NULL;
}

static spate_dstream *define_listen(spate_context *ctx, void *arg) {
    (void)arg;
    struct spate_error err;
    struct spate_socket_opts so;
    spate_socket_opts_init(&so);
    so.recv_buffer_bytes = 1000; /* not a multiple of the record: records straddle buffers */
    so.recv_buffers = 16;
    so.ring_bytes = 1u << 20;
    so.max_line_bytes = 1024;
    so.record_bytes = REC;
    return spate_context_socket_listen_stream(ctx, "127.0.0.1", 0, &so, &err);
}

static void listen_many_producers(void **state) {
    (void)state;
    spate_dstream *in, *parsed;
    spate_context *ctx = make_ctx(define_listen, NULL, &in, &parsed);
    port = spate_input_port(in);
    assert_true(port != 0);
    pthread_t th[PRODUCERS];
    for (unsigned p = 0; p < PRODUCERS; p++)
        assert_int_equal(pthread_create(&th[p], NULL, producer, (void *)(uintptr_t)p), 0);
    for (unsigned p = 0; p < PRODUCERS; p++)
        pthread_join(th[p], NULL);
    assert_int_equal(atomic_load(&producers_failed), 0);
    struct spate_input_stats st;
    finish(ctx, in, (uint64_t)PRODUCERS * CONNS * RECS, &st);
    uint64_t bad = spate_dstream_malformed(parsed);
    spate_context_destroy(ctx);
    assert_int_equal(t.bad, 0);
    assert_int_equal(bad, 0);
    assert_int_equal(t.records, (uint64_t)PRODUCERS * CONNS * RECS);
    for (unsigned p = 0; p < PRODUCERS; p++)
        for (unsigned c = 0; c < CONNS; c++)
            assert_int_equal(t.next[p][c], RECS);
    assert_int_equal(st.records, (uint64_t)PRODUCERS * CONNS * RECS);
    assert_int_equal(st.accepted, PRODUCERS * CONNS);
    assert_int_equal(st.malformed, PRODUCERS * CONNS / 2); /* the torn tails */
}

/* ---- TCP client: a server thread sends, then closes ---- */

static int server_fd;
static atomic_int server_failed;

static void *server(void *arg) {
    (void)arg;
    int fd = accept(server_fd, NULL, NULL);
    if (fd < 0) {
        atomic_store(&server_failed, 1);
        return NULL;
    }
    static unsigned char buf[(RECS * 4 + 1) * REC];
    size_t len = make_stream(buf, 3, 7, RECS * 4, true);
    uint64_t rng = 11;
    if (send_pieces(fd, buf, len, &rng, 5000) != 0)
        atomic_store(&server_failed, 1);
    close(fd);
    return NULL;
}

static spate_dstream *define_client(spate_context *ctx, void *arg) {
    struct spate_error err;
    struct spate_socket_opts so;
    spate_socket_opts_init(&so);
    so.recv_buffer_bytes = 4096;
    so.recv_buffers = 8;
    so.ring_bytes = 1u << 20;
    so.max_line_bytes = 1024;
    so.record_bytes = REC;
    so.quiet = true;
    return spate_context_socket_text_stream(ctx, "127.0.0.1", *(uint16_t *)arg, &so, &err);
}

static void tcp_client(void **state) {
    (void)state;
    server_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(server_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(server_fd, 4), 0);
    socklen_t sl = sizeof(sa);
    assert_int_equal(getsockname(server_fd, (struct sockaddr *)&sa, &sl), 0);
    uint16_t server_port = ntohs(sa.sin_port);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, server, NULL), 0);
    spate_dstream *in, *parsed;
    spate_context *ctx = make_ctx(define_client, &server_port, &in, &parsed);
    pthread_join(th, NULL);
    assert_int_equal(atomic_load(&server_failed), 0);
    struct spate_input_stats st;
    finish(ctx, in, (uint64_t)RECS * 4, &st);
    spate_context_destroy(ctx);
    close(server_fd);
    assert_int_equal(t.bad, 0);
    assert_int_equal(t.records, RECS * 4);
    assert_int_equal(t.next[3][7], RECS * 4);
    assert_int_equal(st.malformed, 1); /* the torn tail at EOF */
}

/* ---- UDP: datagrams of whole records, some with a remainder ---- */

#define DGRAMS 400

static spate_dstream *define_udp(spate_context *ctx, void *arg) {
    (void)arg;
    struct spate_error err;
    struct spate_socket_opts so;
    spate_socket_opts_init(&so);
    so.max_line_bytes = 64u << 10;
    so.ring_bytes = 4u << 20;
    so.record_bytes = REC;
    return spate_context_udp_stream(ctx, "127.0.0.1", 0, &so, &err);
}

static void udp_datagrams(void **state) {
    (void)state;
    spate_dstream *in, *parsed;
    spate_context *ctx = make_ctx(define_udp, NULL, &in, &parsed);
    uint16_t udp_port = spate_input_port(in);
    assert_true(udp_port != 0);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(udp_port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    static unsigned char buf[9 * REC];
    uint64_t want = 0, want_bad = 0;
    static uint32_t per[DGRAMS];
    for (uint32_t d = 0; d < DGRAMS; d++) {
        uint32_t k = 1 + d % 8, rem = d % 3 == 0 ? 1 + d % (REC - 1) : 0;
        for (uint32_t s = 0; s < k + (rem > 0); s++)
            encode(buf + (size_t)s * REC, 1, d, s);
        size_t len = (size_t)k * REC + rem;
        assert_int_equal(sendto(fd, buf, len, 0, (struct sockaddr *)&sa, sizeof(sa)), (ssize_t)len);
        per[d] = k;
        want += k;
        want_bad += rem > 0;
        if (d % 8 == 7) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    }
    close(fd);
    struct spate_input_stats st;
    finish(ctx, in, want, &st);
    spate_context_destroy(ctx);
    assert_int_equal(t.bad, 0);
    assert_int_equal(t.records, want);
    for (uint32_t d = 0; d < DGRAMS; d++)
        assert_int_equal(t.next[1][d], per[d]);
    assert_int_equal(st.datagrams, DGRAMS);
    assert_int_equal(st.malformed, want_bad);
}

/* ---- Files ---- */

static void write_file(const char *dir, const char *name, const unsigned char *data, size_t len) {
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static spate_dstream *define_files(spate_context *ctx, void *arg) {
    struct spate_error err;
    struct spate_file_stream_opts fo;
    spate_file_stream_opts_init(&fo);
    fo.include_existing = true;
    fo.record_bytes = REC;
    return spate_context_text_file_stream(ctx, (const char *)arg, &fo, &err);
}

static void binary_files(void **state) {
    (void)state;
    char dir[] = "/tmp/spate-binfiles-XXXXXX";
    assert_non_null(mkdtemp(dir));
    static unsigned char buf[(50000 + 1) * REC];
    /* 1.2 MB: records straddle the reader's 1 MiB reads. */
    write_file(dir, "a.bin", buf, make_stream(buf, 0, 0, 50000, false));
    write_file(dir, "b.bin", buf, make_stream(buf, 0, 1, 50, true));
    write_file(dir, "c.bin", buf, 0);
    spate_dstream *in, *parsed;
    spate_context *ctx = make_ctx(define_files, dir, &in, &parsed);
    struct spate_input_stats st;
    finish(ctx, in, 50050, &st);
    spate_context_destroy(ctx);
    assert_int_equal(t.bad, 0);
    assert_int_equal(t.records, 50050);
    assert_int_equal(t.next[0][0], 50000);
    assert_int_equal(t.next[0][1], 50);
    assert_int_equal(st.malformed, 1);
    assert_int_equal(st.files, 3);
    static const char *names[] = {"a.bin", "b.bin", "c.bin"};
    for (int i = 0; i < 3; i++) {
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

/* ---- Definition errors ---- */

static void record_size_errors(void **state) {
    (void)state;
    struct spate_error err;
    spate_engine *engine;
    assert_int_equal(spate_engine_create(NULL, &engine, &err), SPATE_OK);
    struct spate_context_opts co;
    spate_context_opts_init(&co);
    co.manual_clock = true;
    spate_context *ctx;
    assert_int_equal(spate_context_create(engine, &co, &ctx, &err), SPATE_OK);
    struct spate_socket_opts so;
    spate_socket_opts_init(&so);
    so.record_bytes = 65508; /* more than a datagram holds */
    err.message[0] = '\0';
    assert_null(spate_context_udp_stream(ctx, "127.0.0.1", 0, &so, &err));
    assert_non_null(strstr(err.message, "record_bytes"));
    so.record_bytes = 2u << 20; /* raises max_line_bytes past what the 1 MiB ring holds */
    so.ring_bytes = 1u << 20;
    assert_null(spate_context_socket_listen_stream(ctx, "127.0.0.1", 0, &so, &err));
    spate_socket_opts_init(&so);
    so.record_bytes = 4096;
    assert_non_null(spate_context_socket_listen_stream(ctx, "127.0.0.1", 0, &so, &err));
    spate_status rc = spate_context_stop(ctx, true, false, &err);
    (void)rc;
    spate_context_destroy(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(listen_many_producers), cmocka_unit_test(tcp_client),
        cmocka_unit_test(udp_datagrams),         cmocka_unit_test(binary_files),
        cmocka_unit_test(record_size_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
