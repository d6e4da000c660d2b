/*
 * tests/stress/spate_stress.c - exactly-once stress of the socket path.
 *
 *   spate-stress [--producers N] [--seconds S] [--workers W] [--interval MS] [--seed X]
 *                [--listen 1]
 *
 * N loopback producers (threads here, each its own TCP server) send numbered
 * records "p<id> <seq>" in bursts of random size with random pauses, and
 * close the connection every few bursts so that the receivers reconnect. spate reads the
 * N socket streams, unions them, and a foreach_batch marks every record it
 * sees; some batches sleep (a slow sink), so rings fill and backpressure
 * kicks in. After the producers stop and everything sent has arrived, the
 * checker proves that every record was delivered exactly once: nothing
 * lost, nothing doubled. With --listen 1 the roles turn: spate listens on one
 * socket_listen_stream and the N producers connect to it (and reconnect
 * every few bursts), all at once, each connection framed on its own.
 * It prints what differs and exits 1 on any
 * mismatch. make test runs a short run; the README says how to run it for hours.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "spate/spate.h"

#define MAX_PRODUCERS 64

struct producer {
    int id;
    int listen_fd;
    uint16_t port;
    uint64_t seed;
    double deadline;
    uint64_t sent;        /* records fully written */
    uint64_t connections; /* accepted (or, with --listen, made) */
    pthread_t thread;
};

static uint16_t listen_port; /* --listen: spate's port */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng(uint64_t *s) {
    uint64_t x = *s += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static bool send_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static void send_bursts(struct producer *pr, int fd);

static void *producer_main(void *arg) {
    struct producer *pr = arg;
    while (now_s() < pr->deadline) {
        int fd = accept(pr->listen_fd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        pr->connections++;
        send_bursts(pr, fd); /* then close: the receiver reconnects */
        close(fd);
    }
    return NULL;
}

/* Bursts of numbered records on one connection until it closes; false when the deadline passed
 * or the connection broke. */
static void send_bursts(struct producer *pr, int fd) {
    static __thread char buf[2100 * 32];
    int bursts = 1 + (int)(rng(&pr->seed) % 40); /* then close: a new connection follows */
    for (int b = 0; b < bursts && now_s() < pr->deadline; b++) {
        uint32_t lines = 1 + (uint32_t)(rng(&pr->seed) % 2000);
        size_t len = 0;
        for (uint32_t i = 0; i < lines; i++)
            len += (size_t)snprintf(buf + len, sizeof(buf) - len, "p%d %" PRIu64 "\n", pr->id,
                                    pr->sent + i);
        if (!send_all(fd, buf, len))
            break;
        pr->sent += lines;
        if (rng(&pr->seed) % 4 == 0)
            sleep_ms((long)(rng(&pr->seed) % 20)); /* a pause */
    }
}

/* --listen: connect to spate, send, close, again. */
static void *client_main(void *arg) {
    struct producer *pr = arg;
    while (now_s() < pr->deadline) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a;
        memset(&a, 0, sizeof(a));
        a.sin_family = AF_INET;
        a.sin_port = htons(listen_port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
            if (fd >= 0)
                close(fd);
            sleep_ms(5);
            continue;
        }
        pr->connections++;
        send_bursts(pr, fd);
        close(fd);
    }
    return NULL;
}

/* What the sink saw: a count per (producer, seq). */
struct seen {
    uint8_t *count[MAX_PRODUCERS];
    uint64_t cap;
    _Atomic uint64_t records, bad_lines, batches;
};

static spate_status sink(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    struct seen *s = user;
    uint64_t n = atomic_fetch_add(&s->batches, 1);
    for (uint32_t p = 0; p < spate_batch_num_partitions(b); p++) {
        for (uint32_t c = 0; c < spate_batch_num_chunks(b, p); c++) {
            struct spate_chunk_view v;
            if (spate_batch_chunk(b, p, c, &v) != SPATE_OK)
                return EIO;
            for (uint32_t r = 0; r < v.rows; r++) {
                const char *d;
                uint32_t len;
                char line[64];
                int id;
                uint64_t seq;
                if (!spate_chunk_get_string(&v, 0, r, &d, &len) || len >= sizeof(line)) {
                    atomic_fetch_add(&s->bad_lines, 1);
                    continue;
                }
                memcpy(line, d, len);
                line[len] = '\0';
                if (sscanf(line, "p%d %" SCNu64, &id, &seq) != 2 || id < 0 || id >= MAX_PRODUCERS ||
                    s->count[id] == NULL || seq >= s->cap) {
                    atomic_fetch_add(&s->bad_lines, 1);
                    continue;
                }
                if (s->count[id][seq] < 255)
                    s->count[id][seq]++;
                atomic_fetch_add(&s->records, 1);
            }
        }
    }
    if (n % 10 == 9)
        sleep_ms(30); /* a slow sink now and then */
    return SPATE_OK;
}

static int listen_any(uint16_t *port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof(a);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 4) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

static int usage(void) {
    fprintf(stderr, "usage: spate-stress [--producers N] [--seconds S] [--workers W] "
                    "[--interval MS] [--seed X] [--listen 1]\n");
    return 2;
}

int main(int argc, char **argv) {
    int producers = 4, seconds = 5, workers = 2, interval = 50, listen_mode = 0;
    uint64_t seed = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--producers") == 0)
            producers = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--seconds") == 0)
            seconds = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--workers") == 0)
            workers = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--interval") == 0)
            interval = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--seed") == 0)
            seed = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--listen") == 0)
            listen_mode = atoi(argv[i + 1]);
        else
            return usage();
    }
    if (argc % 2 == 0 || producers < 1 || producers > MAX_PRODUCERS || seconds < 1 || workers < 1 ||
        interval < 1)
        return usage();

    static struct producer pr[MAX_PRODUCERS];
    static struct seen seen;
    seen.cap = (uint64_t)seconds * 4000000ull; /* far above what loopback carries per producer */
    for (int p = 0; p < producers; p++) {
        seen.count[p] = calloc(seen.cap, 1);
        pr[p].id = p;
        pr[p].seed = seed * 1000003u + (uint64_t)p;
        pr[p].listen_fd = listen_mode ? -1 : listen_any(&pr[p].port);
        if (seen.count[p] == NULL || (!listen_mode && pr[p].listen_fd < 0)) {
            fprintf(stderr, "spate-stress: set-up failed: %s\n", strerror(errno));
            return 1;
        }
    }

    struct spate_error err;
    struct spate_engine_opts eo;
    spate_engine_opts_init(&eo);
    eo.workers = (uint32_t)workers;
    spate_engine *engine;
    if (spate_engine_create(&eo, &engine, &err) != SPATE_OK)
        goto fail;
    struct spate_context_opts co;
    spate_context_opts_init(&co);
    co.batch_interval_ms = interval;
    spate_context *ctx;
    if (spate_context_create(engine, &co, &ctx, &err) != SPATE_OK)
        goto fail;
    struct spate_socket_opts so;
    spate_socket_opts_init(&so);
    so.quiet = true;
    so.ring_bytes = 1u << 20; /* small rings: backpressure happens */
    so.max_line_bytes = 64;
    so.reconnect_min_ms = 2;
    so.reconnect_max_ms = 20;
    spate_dstream *streams[MAX_PRODUCERS];
    int nstreams = listen_mode ? 1 : producers;
    so.max_connections = (uint32_t)producers * 2;
    for (int p = 0; p < nstreams; p++) {
        streams[p] =
            listen_mode ? spate_context_socket_listen_stream(ctx, "127.0.0.1", 0, &so, &err)
                        : spate_context_socket_text_stream(ctx, "127.0.0.1", pr[p].port, &so, &err);
        if (streams[p] == NULL)
            goto fail;
    }
    spate_dstream *all = spate_dstream_union(streams, (uint32_t)nstreams, &err);
    if (all == NULL || spate_dstream_foreach_batch(all, sink, &seen, &err) != SPATE_OK)
        goto fail;
    if (spate_context_start(ctx, &err) != SPATE_OK)
        goto fail;
    listen_port = listen_mode ? spate_input_port(streams[0]) : 0;

    double t0 = now_s();
    for (int p = 0; p < producers; p++) {
        pr[p].deadline = t0 + seconds;
        pthread_create(&pr[p].thread, NULL, listen_mode ? client_main : producer_main, &pr[p]);
    }
    for (int p = 0; p < producers; p++) {
        /* Unblock an accept() waiting past the deadline. */
        while (pthread_tryjoin_np(pr[p].thread, NULL) != 0) {
            if (now_s() > pr[p].deadline + 0.5 && !listen_mode)
                shutdown(pr[p].listen_fd, SHUT_RDWR);
            sleep_ms(20);
        }
    }
    uint64_t sent = 0, connections = 0;
    for (int p = 0; p < producers; p++) {
        sent += pr[p].sent;
        connections += pr[p].connections;
    }
    /* Everything sent must arrive: wait for it (bounded), then stop gracefully. */
    double wait_until = now_s() + 60;
    while (atomic_load(&seen.records) < sent && now_s() < wait_until)
        sleep_ms(20);
    if (spate_context_stop(ctx, true, true, &err) != SPATE_OK)
        fprintf(stderr, "spate-stress: stop: %s\n", err.message);
    double took = now_s() - t0;

    uint64_t missing = 0, doubled = 0, beyond = 0;
    for (int p = 0; p < producers; p++) {
        for (uint64_t q = 0; q < seen.cap; q++) {
            uint8_t c = seen.count[p][q];
            if (q < pr[p].sent && c == 0 && missing++ < 5)
                fprintf(stderr, "missing: p%d %" PRIu64 "\n", p, q);
            if (c > 1 && doubled++ < 5)
                fprintf(stderr, "doubled: p%d %" PRIu64 " (%u times)\n", p, q, c);
            if (q >= pr[p].sent && c > 0)
                beyond++;
        }
    }
    uint64_t malformed = 0, reconnects = 0;
    for (int p = 0; p < nstreams; p++) {
        struct spate_input_stats st;
        if (spate_input_stats(streams[p], &st, &err) == SPATE_OK) {
            malformed += st.malformed;
            reconnects += listen_mode ? st.accepted - (uint64_t)producers : st.reconnects;
        }
    }
    spate_context_destroy(ctx);
    bool ok = missing == 0 && doubled == 0 && beyond == 0 && malformed == 0 &&
              atomic_load(&seen.bad_lines) == 0 && atomic_load(&seen.records) == sent;
    printf("spate-stress: %d producers, %" PRIu64 " records sent over %" PRIu64
           " connections (%" PRIu64 " reconnects), %" PRIu64 " received in %" PRIu64
           " batches, %.1f s (%.0f records/s); missing %" PRIu64 ", doubled %" PRIu64
           ", unknown %" PRIu64 ": %s\n",
           producers, sent, connections, reconnects, atomic_load(&seen.records),
           atomic_load(&seen.batches), took, (double)sent / took, missing, doubled,
           beyond + atomic_load(&seen.bad_lines), ok ? "exactly once" : "MISMATCH");
    for (int p = 0; p < producers; p++) {
        free(seen.count[p]);
        if (pr[p].listen_fd >= 0)
            close(pr[p].listen_fd);
    }
    return ok ? 0 : 1;
fail:
    fprintf(stderr, "spate-stress: %s\n", err.message);
    return 1;
}
