/*
 * examples/binary_ticks.c - fixed-width little-endian binary records over
 * UDP, decoded into typed columns: the quantity traded per symbol, every
 * second.
 *
 *   ticks  = udp_stream(127.0.0.1, any port, record_bytes 33)   batch interval 1 s
 *   fields = ticks.parse_binary(id i64, price float, qty int32, buy bool,
 *                               t ms timestamp, sym 8 bytes)    packed in order
 *   qty    = fields.reduce_by_key(sym, SUM of qty)
 *   qty.print()
 *
 *   binary_ticks [--seconds S]     (default 5)
 *
 * The program sends its own ticks to the stream: a datagram of 20 records
 * every 10 ms, and now and then one with a torn record at its end, which
 * the input counts as malformed and drops (shown at the end).
 */
#include "spate/spate.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define REC 33 /* 8 + 4 + 4 + 1 + 8 + 8 bytes */

static int fail(const char *what, const struct spate_error *err) {
    fprintf(stderr, "binary_ticks: %s: %s\n", what, err->message);
    return 1;
}

static void put_le(unsigned char *p, uint64_t v, int bytes) {
    for (int b = 0; b < bytes; b++)
        p[b] = (unsigned char)(v >> (8 * b));
}

/* One tick, little-endian whatever the host. */
static void encode(unsigned char *r, uint64_t id, float price, int32_t qty, int buy, int64_t t_ms,
                   const char *sym) {
    uint32_t pb;
    memcpy(&pb, &price, 4);
    put_le(r, id, 8);
    put_le(r + 8, pb, 4);
    put_le(r + 12, (uint32_t)qty, 4);
    r[16] = (unsigned char)buy;
    put_le(r + 17, (uint64_t)t_ms, 8);
    memset(r + 25, 0, 8); /* NUL-padded: parse_binary trims the padding */
    memcpy(r + 25, sym, strlen(sym) < 8 ? strlen(sym) : 8);
}

int main(int argc, char **argv) {
    long seconds = argc > 2 && strcmp(argv[1], "--seconds") == 0 ? strtol(argv[2], NULL, 10) : 5;
    if (seconds <= 0) {
        fprintf(stderr, "usage: binary_ticks [--seconds S]\n");
        return 2;
    }
    struct spate_error err;
    spate_engine *engine;
    if (spate_engine_create(NULL, &engine, &err) != SPATE_OK)
        return fail("engine", &err);
    struct spate_context_opts co;
    spate_context_opts_init(&co);
    co.batch_interval_ms = 1000;
    spate_context *ssc;
    if (spate_context_create(engine, &co, &ssc, &err) != SPATE_OK)
        return fail("context", &err);

    struct spate_socket_opts so;
    spate_socket_opts_init(&so);
    so.record_bytes = REC;
    spate_dstream *ticks = spate_context_udp_stream(ssc, "127.0.0.1", 0, &so, &err);
    static const struct spate_binary_field fields[] = {
        {"id", SPATE_TYPE_I64, 0, 0},      {"price", SPATE_TYPE_F64, 4, 0},
        {"qty", SPATE_TYPE_I64, 4, 0},     {"buy", SPATE_TYPE_BOOL, 0, 0},
        {"t", SPATE_TYPE_TIMESTAMP, 0, 0}, {"sym", SPATE_TYPE_STRING, 8, 0},
    };
    spate_dstream *parsed =
        ticks ? spate_dstream_parse_binary(ticks, 0, fields, 6, NULL, &err) : NULL;
    struct spate_reduce_opts ro;
    spate_reduce_opts_init(&ro);
    ro.key_col = 5;   /* sym */
    ro.value_col = 2; /* qty */
    spate_dstream *qty = parsed ? spate_dstream_reduce_by_key(parsed, &ro, &err) : NULL;
    if (qty == NULL || spate_dstream_print(qty, 10, &err) != SPATE_OK)
        return fail("define", &err);
    if (spate_context_start(ssc, &err) != SPATE_OK)
        return fail("start", &err);

    /* The sender: 20 ticks a datagram, one datagram every 10 ms. */
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(spate_input_port(ticks));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    static const char *const syms[] = {"ACME", "GLOBEX", "INITECH", "HOOLI"};
    unsigned char buf[21 * REC];
    uint64_t id = 0, seed = 1;
    for (long d = 0; d < seconds * 100; d++) {
        size_t len = 0;
        for (int i = 0; i < 20; i++, len += REC) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            encode(buf + len, id++, 100.0f + (float)(seed >> 54) / 8.0f, (int32_t)(seed >> 58) + 1,
                   (int)(seed >> 40) & 1, (int64_t)time(NULL) * 1000, syms[(seed >> 33) % 4]);
        }
        if (d % 97 == 96)
            len += 7; /* a torn record: counted as malformed by the input */
        if (sendto(fd, buf, len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
            perror("binary_ticks: sendto");
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    close(fd);

    spate_status rc = spate_context_stop(ssc, true, true, &err);
    struct spate_input_stats st;
    if (rc == SPATE_OK && spate_input_stats(ticks, &st, &err) == SPATE_OK)
        printf("ticks: %llu records, %llu datagrams, %llu torn records dropped, %llu malformed "
               "fields\n",
               (unsigned long long)st.records, (unsigned long long)st.datagrams,
               (unsigned long long)st.malformed,
               (unsigned long long)spate_dstream_malformed(parsed));
    spate_context_destroy(ssc);
    return rc == SPATE_OK ? 0 : fail("stop", &err);
}
