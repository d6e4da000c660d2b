/*
 * tests/unit/test_receiver_socket.c - the io_uring socket receiver.
 *
 * Each test runs a loopback TCP server thread (127.0.0.1, port 0) that plays
 * a script, while the test thread consumes the receiver's ring like the
 * engine would. The checks are exact: the byte sequence of published lines,
 * the counters, that every published position is a line boundary, and that
 * stop/destroy return promptly and leave no file descriptor behind.
 * Every wait is bounded; a test that cannot use io_uring here is skipped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "io/receiver_socket.h"
#include "io/ring.h"

#define WAIT_MS 10000 /* generous bound for anything the tests wait on */

/* ---- Small helpers ---- */

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static uint64_t stat_get(const _Atomic uint64_t *c) {
    return atomic_load_explicit(c, memory_order_relaxed);
}

static void default_opts(struct sp_socket_receiver_opts *o, uint16_t port) {
    memset(o, 0, sizeof(*o));
    o->host = "127.0.0.1";
    o->port = port;
    o->max_line = 64;
    o->ring_bytes = 1u << 20;
    o->buf_size = 4096;
    o->buf_count = 16;
    o->reconnect_min_ms = 10;
    o->reconnect_max_ms = 100;
    o->quiet = true;
    o->name = "test";
}

/* Create a receiver, skipping the test when io_uring is not usable here. */
static struct sp_socket_receiver *create_or_skip(const struct sp_socket_receiver_opts *o) {
    struct sp_socket_receiver *rx = NULL;
    char msg[256] = "";
    int rc = sp_socket_receiver_create(o, &rx, msg, sizeof(msg));
    if (rc == -ENOSYS || rc == -EPERM) {
        fprintf(stderr, "skipping: %s\n", msg);
        skip();
    }
    if (rc != 0)
        fprintf(stderr, "create failed: %d %s\n", rc, msg);
    assert_int_equal(rc, 0);
    assert_non_null(rx);
    return rx;
}

static void start_or_skip(struct sp_socket_receiver *rx) {
    char msg[256] = "";
    int rc = sp_socket_receiver_start(rx, msg, sizeof(msg));
    if (rc == -ENOSYS || rc == -EPERM || rc == -EOPNOTSUPP ||
        (rc == -EINVAL && strstr(msg, "needs Linux") != NULL)) {
        /* io_uring blocked, or a kernel too old for provided buffer rings. */
        fprintf(stderr, "skipping: %s\n", msg);
        sp_socket_receiver_destroy(rx);
        skip();
    }
    assert_int_equal(rc, 0);
}

/* ---- Consumer side: collect everything the receiver publishes ---- */

struct collector {
    char *data;
    size_t len;
    size_t cap;
    int torn; /* published positions that were not line boundaries */
};

/* Move whatever is published into c (at most max bytes; 0 = all). */
static size_t drain(struct sp_ring *ring, struct collector *c, size_t max) {
    uint32_t head = sp_ring_head(ring);
    uint32_t tail = sp_ring_tail(ring);
    size_t n = tail - head;
    if (n == 0)
        return 0;
    const char *p = sp_ring_at(ring, head);
    if (p[n - 1] != '\n')
        c->torn++;
    if (max != 0 && n > max) {
        /* Stop at a line boundary within max bytes (lines are short). */
        const char *nl = memrchr(p, '\n', max);
        if (nl == NULL)
            return 0;
        n = (size_t)(nl - p) + 1;
    }
    if (c->len + n > c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 65536;
        while (cap < c->len + n)
            cap *= 2;
        c->data = realloc(c->data, cap);
        assert_non_null(c->data);
        c->cap = cap;
    }
    memcpy(c->data + c->len, p, n);
    c->len += n;
    sp_ring_release(ring, head + (uint32_t)n);
    return n;
}

/* Drain until c holds at least want bytes or the bound passes. */
static void collect_until(struct sp_ring *ring, struct collector *c, size_t want) {
    uint64_t end = now_ms() + WAIT_MS;
    while (c->len < want && now_ms() < end) {
        if (drain(ring, c, 0) == 0)
            sleep_ms(1);
    }
}

static void collector_free(struct collector *c) {
    free(c->data);
    memset(c, 0, sizeof(*c));
}

/* ---- Loopback server thread ---- */

struct server {
    int lfd;
    uint16_t port;
    int family;
    pthread_t thread;
    void (*script)(struct server *s);
    _Atomic bool finish; /* the test is done: close everything and exit */
    _Atomic int failures;
    uint64_t sent; /* bytes sent in total (read after join) */
};

static int listen_on(int family, uint16_t port, uint16_t *out_port) {
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_storage ss;
    socklen_t len;
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&ss, 0, sizeof(ss));
    if (family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        a->sin6_port = htons(port);
        len = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a->sin_port = htons(port);
        len = sizeof(*a);
    }
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 8) != 0) {
        close(fd);
        return -1;
    }
    len = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &len);
    *out_port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                         : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

/* A loopback port nobody listens on (bound then closed). */
static uint16_t free_port(void) {
    uint16_t port = 0;
    int fd = listen_on(AF_INET, 0, &port);
    assert_true(fd >= 0);
    close(fd);
    return port;
}

static bool finishing(struct server *s) {
    return atomic_load(&s->finish);
}

/* Accept one connection (bounded by WAIT_MS or finish); -1 on failure. */
static int srv_accept(struct server *s) {
    uint64_t end = now_ms() + WAIT_MS;
    while (!finishing(s) && now_ms() < end) {
        struct pollfd pfd = {.fd = s->lfd, .events = POLLIN};
        if (poll(&pfd, 1, 20) > 0) {
            int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
            int one = 1;
            if (fd >= 0)
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            return fd;
        }
    }
    return -1;
}

/* Send everything, giving up on error or when the test finishes. */
static bool srv_send(struct server *s, int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        if (finishing(s))
            return false;
        if (poll(&pfd, 1, 20) <= 0)
            continue;
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            return false;
        }
        p += n;
        len -= (size_t)n;
        s->sent += (uint64_t)n;
    }
    return true;
}

static bool srv_send_str(struct server *s, int fd, const char *str) {
    return srv_send(s, fd, str, strlen(str));
}

/* Wait (bounded) until the test says it is done. */
static void srv_wait_finish(struct server *s) {
    uint64_t end = now_ms() + 2 * WAIT_MS;
    while (!finishing(s) && now_ms() < end)
        sleep_ms(2);
}

static void srv_fail(struct server *s) {
    atomic_fetch_add(&s->failures, 1);
}

static void *server_main(void *arg) {
    struct server *s = arg;
    s->script(s);
    if (s->lfd >= 0)
        close(s->lfd);
    s->lfd = -1;
    return NULL;
}

static void server_start_on(struct server *s, void (*script)(struct server *), int family,
                            uint16_t port) {
    memset(s, 0, sizeof(*s));
    atomic_init(&s->finish, false);
    atomic_init(&s->failures, 0);
    s->family = family;
    s->script = script;
    s->lfd = listen_on(family, port, &s->port);
    assert_true(s->lfd >= 0);
    assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
}

static void server_start(struct server *s, void (*script)(struct server *)) {
    server_start_on(s, script, AF_INET, 0);
}

static void server_finish(struct server *s) {
    atomic_store(&s->finish, true);
    pthread_join(s->thread, NULL);
    assert_int_equal(atomic_load(&s->failures), 0);
}

/* Stop and time it; the receiver must notice within a second. */
static void stop_promptly(struct sp_socket_receiver *rx) {
    uint64_t t0 = now_ms();
    sp_socket_receiver_stop(rx);
    uint64_t took = now_ms() - t0;
    if (took >= 1000)
        fprintf(stderr, "stop took %llu ms\n", (unsigned long long)took);
    assert_true(took < 1000);
}

/* ---- Option checks and misuse ---- */

static void expect_einval(const struct sp_socket_receiver_opts *o) {
    struct sp_socket_receiver *rx = (struct sp_socket_receiver *)&rx;
    char msg[256] = "";
    assert_int_equal(sp_socket_receiver_create(o, &rx, msg, sizeof(msg)), -EINVAL);
    assert_null(rx);
    assert_true(strlen(msg) > 0);
}

static void test_bad_options(void **state) {
    (void)state;
    struct sp_socket_receiver_opts o;
    struct sp_socket_receiver *rx = NULL;
    char msg[256] = "";
    int fds = count_fds();

    assert_int_equal(sp_socket_receiver_create(NULL, &rx, msg, sizeof(msg)), -EINVAL);
    assert_true(strlen(msg) > 0);

    default_opts(&o, 9);
    o.host = NULL;
    expect_einval(&o);
    default_opts(&o, 9);
    o.host = "";
    expect_einval(&o);
    default_opts(&o, 0);
    expect_einval(&o);
    default_opts(&o, 9);
    o.buf_count = 3;
    expect_einval(&o);
    default_opts(&o, 9);
    o.ring_bytes = 4096;
    o.max_line = 8192; /* a line could never fit */
    expect_einval(&o);
    default_opts(&o, 9);
    o.reconnect_min_ms = 500;
    o.reconnect_max_ms = 100;
    expect_einval(&o);
    assert_int_equal(count_fds(), fds);
}

static void test_bad_host(void **state) {
    (void)state;
    struct sp_socket_receiver_opts o;
    struct sp_socket_receiver *rx = (struct sp_socket_receiver *)&rx;
    char msg[256] = "";
    int fds = count_fds();

    default_opts(&o, 9999);
    o.host = "bad host name"; /* rejected by the resolver without a DNS query */
    assert_int_equal(sp_socket_receiver_create(&o, &rx, msg, sizeof(msg)), -EINVAL);
    assert_null(rx);
    assert_non_null(strstr(msg, "cannot resolve host"));
    assert_int_equal(count_fds(), fds);
}

static void test_lifecycle_misuse(void **state) {
    (void)state;
    struct sp_socket_receiver_opts o;
    char msg[256] = "";
    uint16_t port = free_port();
    int fds = count_fds();

    sp_socket_receiver_destroy(NULL);
    sp_socket_receiver_stop(NULL);

    /* Stop without start, twice; start after stop is refused. */
    default_opts(&o, port);
    struct sp_socket_receiver *rx = create_or_skip(&o);
    assert_non_null(sp_socket_receiver_ring(rx));
    assert_int_equal(stat_get(&sp_socket_receiver_stats(rx)->connects), 0);
    sp_socket_receiver_stop(rx);
    sp_socket_receiver_stop(rx);
    assert_int_equal(sp_socket_receiver_start(rx, msg, sizeof(msg)), -ECANCELED);
    assert_true(strlen(msg) > 0);
    sp_socket_receiver_destroy(rx);

    /* Start twice. */
    rx = create_or_skip(&o);
    start_or_skip(rx);
    msg[0] = '\0';
    assert_int_equal(sp_socket_receiver_start(rx, msg, sizeof(msg)), -EBUSY);
    assert_true(strlen(msg) > 0);
    stop_promptly(rx);
    sp_socket_receiver_stop(rx);
    sp_socket_receiver_destroy(rx);

    /* Destroy without stop. */
    rx = create_or_skip(&o);
    start_or_skip(rx);
    sp_socket_receiver_destroy(rx);
    assert_int_equal(count_fds(), fds);
}

/* ---- Line cutting ---- */

/* n copies of ch, NUL-terminated (server thread only). */
static const char *rep(size_t n, char ch) {
    static char buf[4096];
    memset(buf, ch, n);
    buf[n] = '\0';
    return buf;
}

static void script_lines(struct server *s) {
    char nul_line[] = "nul\0inside\n"; /* 11 bytes plus the literal's NUL */
    int fd = srv_accept(s);
    if (fd < 0) {
        srv_fail(s);
        return;
    }
    /* No reconnects: the receiver must see exactly one connection. */
    close(s->lfd);
    s->lfd = -1;

    bool ok = srv_send_str(s, fd, "hello\nwor");
    sleep_ms(20);
    ok = ok && srv_send_str(s, fd, "ld\na\r\n\n");
    sleep_ms(20);
    ok = ok && srv_send_str(s, fd, rep(200, 'x'));
    ok = ok && srv_send_str(s, fd, "\nok1\n");
    sleep_ms(20);
    for (int i = 0; i < 3; i++) { /* over-long line split across writes */
        ok = ok && srv_send_str(s, fd, rep(40, 'y'));
        sleep_ms(20);
    }
    ok = ok && srv_send_str(s, fd, "\nok2\n");
    ok = ok && srv_send_str(s, fd, rep(64, 'L'));
    ok = ok && srv_send_str(s, fd, "\n");
    ok = ok && srv_send_str(s, fd, rep(65, 'M'));
    ok = ok && srv_send_str(s, fd, "\n");
    sleep_ms(20);
    ok = ok && srv_send(s, fd, nul_line, sizeof(nul_line) - 1);
    ok = ok && srv_send_str(s, fd, rep(100, 'z'));
    ok = ok && srv_send_str(s, fd, "\nafter\n");
    sleep_ms(20);
    ok = ok && srv_send_str(s, fd, rep(30, 'p')); /* a 64-byte line in two parts */
    sleep_ms(20);
    ok = ok && srv_send_str(s, fd, rep(34, 'p'));
    ok = ok && srv_send_str(s, fd, "\n");
    sleep_ms(20);
    ok = ok && srv_send_str(s, fd, "tail-no-newline");
    sleep_ms(20);
    if (!ok)
        srv_fail(s);
    close(fd);
}

/* Append n copies of ch then a '\n'. */
static size_t put_run(char *dst, size_t n, char ch) {
    memset(dst, ch, n);
    dst[n] = '\n';
    return n + 1;
}

static void test_lines(void **state) {
    (void)state;
    struct server srv;
    struct sp_socket_receiver_opts o;
    struct collector c = {0};
    char expect[1024];
    size_t elen = 0;
    int fds = count_fds();

    /* The exact bytes the ring must carry. */
    const char head[] = "hello\nworld\na\r\n\nok1\nok2\n";
    memcpy(expect + elen, head, sizeof(head) - 1);
    elen += sizeof(head) - 1;
    elen += put_run(expect + elen, 64, 'L');
    memcpy(expect + elen, "nul\0inside\nafter\n", 17);
    elen += 17;
    elen += put_run(expect + elen, 64, 'p');
    memcpy(expect + elen, "tail-no-newline\n", 16);
    elen += 16;

    server_start(&srv, script_lines);
    default_opts(&o, srv.port);
    o.reconnect_min_ms = 200;
    o.reconnect_max_ms = 400;
    struct sp_socket_receiver *rx = create_or_skip(&o);
    start_or_skip(rx);

    struct sp_ring *ring = sp_socket_receiver_ring(rx);
    collect_until(ring, &c, elen);
    sleep_ms(50);
    drain(ring, &c, 0); /* nothing more may arrive */
    const struct sp_socket_receiver_stats *st = sp_socket_receiver_stats(rx);

    assert_int_equal(c.len, elen);
    assert_memory_equal(c.data, expect, elen);
    assert_int_equal(c.torn, 0);
    assert_int_equal(stat_get(&st->lines), 11);
    assert_int_equal(stat_get(&st->malformed), 4);
    assert_int_equal(stat_get(&st->connects), 1);

    stop_promptly(rx);
    server_finish(&srv);
    assert_int_equal(stat_get(&st->bytes), srv.sent);
    sp_socket_receiver_destroy(rx);
    collector_free(&c);
    assert_int_equal(count_fds(), fds);
}

/* An over-long partial line cut by EOF is dropped (counted once), not published. */
static void script_overlong_eof(struct server *s) {
    char buf[128];
    int fd = srv_accept(s);
    if (fd < 0) {
        srv_fail(s);
        return;
    }
    close(s->lfd);
    s->lfd = -1;
    memset(buf, 'q', sizeof(buf));
    if (!srv_send_str(s, fd, "good\n") || !srv_send(s, fd, buf, sizeof(buf)))
        srv_fail(s);
    sleep_ms(20);
    close(fd);
}

static void test_overlong_at_eof(void **state) {
    (void)state;
    struct server srv;
    struct sp_socket_receiver_opts o;
    struct collector c = {0};

    server_start(&srv, script_overlong_eof);
    default_opts(&o, srv.port);
    o.reconnect_min_ms = 200;
    o.reconnect_max_ms = 400;
    struct sp_socket_receiver *rx = create_or_skip(&o);
    start_or_skip(rx);
    const struct sp_socket_receiver_stats *st = sp_socket_receiver_stats(rx);

    uint64_t end = now_ms() + WAIT_MS;
    while (stat_get(&st->bytes) < 133 && now_ms() < end)
        sleep_ms(2);
    sleep_ms(100); /* EOF handled by now */
    drain(sp_socket_receiver_ring(rx), &c, 0);
    assert_int_equal(c.len, 5);
    assert_memory_equal(c.data, "good\n", 5);
    assert_int_equal(stat_get(&st->malformed), 1);
    assert_int_equal(stat_get(&st->lines), 1);

    stop_promptly(rx);
    server_finish(&srv);
    sp_socket_receiver_destroy(rx);
    collector_free(&c);
}

/* ---- Reconnect ---- */

#define RECONNECT_LINES 2000

static void script_reconnect(struct server *s) {
    char line[32];
    int fd = srv_accept(s);
    bool ok = fd >= 0;
    for (int i = 1; ok && i <= RECONNECT_LINES; i++) {
        snprintf(line, sizeof(line), "a%d\n", i);
        ok = srv_send_str(s, fd, line);
    }
    ok = ok && srv_send_str(s, fd, "partial");
    sleep_ms(20);
    if (fd >= 0)
        close(fd);

    fd = ok ? srv_accept(s) : -1;
    ok = ok && fd >= 0;
    for (int i = 1; ok && i <= RECONNECT_LINES; i++) {
        snprintf(line, sizeof(line), "b%d\n", i);
        ok = srv_send_str(s, fd, line);
    }
    if (!ok)
        srv_fail(s);
    /* Hold the second connection until the test is done. */
    srv_wait_finish(s);
    if (fd >= 0)
        close(fd);
}

static void test_reconnect(void **state) {
    (void)state;
    struct server srv;
    struct sp_socket_receiver_opts o;
    struct collector c = {0};
    char *expect = malloc(64 * RECONNECT_LINES);
    size_t elen = 0;
    int fds = count_fds();

    assert_non_null(expect);
    for (int i = 1; i <= RECONNECT_LINES; i++)
        elen += (size_t)sprintf(expect + elen, "a%d\n", i);
    elen += (size_t)sprintf(expect + elen, "partial\n");
    for (int i = 1; i <= RECONNECT_LINES; i++)
        elen += (size_t)sprintf(expect + elen, "b%d\n", i);

    server_start(&srv, script_reconnect);
    default_opts(&o, srv.port);
    o.quiet = false; /* exercise the log lines (connected / closed) */
    o.name = "reconnect-test";
    struct sp_socket_receiver *rx = create_or_skip(&o);
    start_or_skip(rx);
    struct sp_ring *ring = sp_socket_receiver_ring(rx);
    collect_until(ring, &c, elen);
    sleep_ms(50);
    drain(ring, &c, 0);

    const struct sp_socket_receiver_stats *st = sp_socket_receiver_stats(rx);
    assert_int_equal(c.len, elen);
    assert_memory_equal(c.data, expect, elen);
    assert_int_equal(c.torn, 0);
    assert_int_equal(stat_get(&st->connects), 2);
    assert_int_equal(stat_get(&st->lines), 2 * RECONNECT_LINES + 1);
    assert_int_equal(stat_get(&st->malformed), 0);

    stop_promptly(rx);
    server_finish(&srv);
    assert_int_equal(stat_get(&st->bytes), srv.sent);
    sp_socket_receiver_destroy(rx);
    collector_free(&c);
    free(expect);
    assert_int_equal(count_fds(), fds);
}

/* ---- Server not up yet ---- */

static void script_late(struct server *s) {
    int fd = srv_accept(s);
    if (fd < 0 || !srv_send_str(s, fd, "late1\nlate2\n"))
        srv_fail(s);
    srv_wait_finish(s);
    if (fd >= 0)
        close(fd);
}

static void test_server_starts_late(void **state) {
    (void)state;
    struct server srv;
    struct sp_socket_receiver_opts o;
    struct collector c = {0};
    uint16_t port = free_port();
    int fds = count_fds();

    default_opts(&o, port);
    o.reconnect_min_ms = 10;
    o.reconnect_max_ms = 80;
    struct sp_socket_receiver *rx = create_or_skip(&o);
    start_or_skip(rx);
    const struct sp_socket_receiver_stats *st = sp_socket_receiver_stats(rx);
    sleep_ms(300); /* several refused attempts */
    assert_int_equal(stat_get(&st->connects), 0);

    server_start_on(&srv, script_late, AF_INET, port);
    collect_until(sp_socket_receiver_ring(rx), &c, 12);
    assert_int_equal(c.len, 12);
    assert_memory_equal(c.data, "late1\nlate2\n", 12);
    assert_int_equal(stat_get(&st->connects), 1);

    stop_promptly(rx);
    server_finish(&srv);
    sp_socket_receiver_destroy(rx);
    collector_free(&c);
    assert_int_equal(count_fds(), fds);
}

/* ---- IPv6 ---- */

static void script_v6(struct server *s) {
    int fd = srv_accept(s);
    if (fd < 0 || !srv_send_str(s, fd, "six\n"))
        srv_fail(s);
    srv_wait_finish(s);
    if (fd >= 0)
        close(fd);
}

static void test_ipv6_loopback(void **state) {
    (void)state;
    struct server srv;
    struct sp_socket_receiver_opts o;
    struct collector c = {0};
    uint16_t port = 0;
    int probe = listen_on(AF_INET6, 0, &port);
    if (probe < 0)
        skip(); /* no IPv6 loopback in this environment */
    close(probe);

    server_start_on(&srv, script_v6, AF_INET6, 0);
    default_opts(&o, srv.port);
    o.host = "::1";
    struct sp_socket_receiver *rx = create_or_skip(&o);
    start_or_skip(rx);
    collect_until(sp_socket_receiver_ring(rx), &c, 4);
    assert_int_equal(c.len, 4);
    assert_memory_equal(c.data, "six\n", 4);
    stop_promptly(rx);
    server_finish(&srv);
    sp_socket_receiver_destroy(rx);
    collector_free(&c);
}

/* ---- Backpressure ---- */

#define BP_BYTES (20u * 1024u * 1024u)

/* Line i of the backpressure stream, '\n' included; returns its length. */
static size_t gen_line(uint32_t i, char *out) {
    size_t len = 20 + (size_t)((i * 7919u) % 250u);
    snprintf(out, 12, "%010u:", i);
    for (size_t j = 11; j < len - 1; j++)
        out[j] = (char)('a' + (i + j) % 26);
    out[len - 1] = '\n';
    return len;
}

static uint32_t bp_line_count(uint64_t *bytes) {
    char line[300];
    uint64_t total = 0;
    uint32_t n = 0;
    while (total < BP_BYTES)
        total += gen_line(n++, line);
    *bytes = total;
    return n;
}

static void script_flood(struct server *s) {
    uint64_t bytes;
    uint32_t n = bp_line_count(&bytes);
    char *chunk = malloc(1u << 16);
    size_t used = 0;
    int fd = srv_accept(s);
    bool ok = fd >= 0 && chunk != NULL;
    for (uint32_t i = 0; ok && i < n; i++) {
        used += gen_line(i, chunk + used);
        if (used > (1u << 16) - 300 || i + 1 == n) {
            ok = srv_send(s, fd, chunk, used);
            used = 0;
        }
    }
    if (!ok)
        srv_fail(s);
    srv_wait_finish(s);
    if (fd >= 0)
        close(fd);
    free(chunk);
}

static void test_backpressure(void **state) {
    (void)state;
    struct server srv;
    struct sp_socket_receiver_opts o;
    uint64_t total_bytes;
    uint32_t total_lines = bp_line_count(&total_bytes);
    char line[300];
    uint32_t next = 0;
    uint64_t got = 0;
    int mismatches = 0;
    int fds = count_fds();

    server_start(&srv, script_flood);
    default_opts(&o, srv.port);
    o.max_line = 1024;
    o.ring_bytes = 64u * 1024u;
    o.buf_size = 4096;
    o.buf_count = 8;
    struct sp_socket_receiver *rx = create_or_skip(&o);
    start_or_skip(rx);
    struct sp_ring *ring = sp_socket_receiver_ring(rx);
    const struct sp_socket_receiver_stats *st = sp_socket_receiver_stats(rx);

    /* Let the ring fill up completely before consuming anything. */
    uint64_t fill_end = now_ms() + WAIT_MS;
    while (sp_ring_tail(ring) - sp_ring_head(ring) <= 60u * 1024u && now_ms() < fill_end)
        sleep_ms(2);
    assert_true(sp_ring_tail(ring) - sp_ring_head(ring) > 60u * 1024u);
    sleep_ms(50);

    /* Drain slowly, at most 8 KiB at a time, checking each line in place. */
    uint64_t end = now_ms() + 3 * WAIT_MS;
    while (next < total_lines && now_ms() < end && mismatches == 0) {
        uint32_t head = sp_ring_head(ring);
        uint32_t tail = sp_ring_tail(ring);
        uint32_t pos = head;
        if (head == tail) {
            sleep_ms(1);
            continue;
        }
        while (pos != tail && pos - head < 8192 && next < total_lines) {
            size_t len = gen_line(next, line);
            const char *p = sp_ring_at(ring, pos);
            if (tail - pos < len || memcmp(p, line, len) != 0) {
                mismatches++;
                break;
            }
            pos += (uint32_t)len;
            got += len;
            next++;
        }
        sp_ring_release(ring, pos);
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 50000}; /* a slow consumer */
        nanosleep(&ts, NULL);
    }
    assert_int_equal(mismatches, 0);
    assert_int_equal(next, total_lines);
    assert_true(got == total_bytes);
    sleep_ms(20);
    assert_int_equal(sp_ring_tail(ring), sp_ring_head(ring)); /* nothing extra */
    assert_true(stat_get(&st->bytes) == total_bytes);
    assert_int_equal(stat_get(&st->lines), total_lines);
    assert_int_equal(stat_get(&st->malformed), 0);
    assert_true(stat_get(&st->blocked_ns) > 0);
    assert_int_equal(stat_get(&st->connects), 1);

    stop_promptly(rx);
    server_finish(&srv);
    sp_socket_receiver_destroy(rx);
    assert_int_equal(count_fds(), fds);
}

/* ---- Stop in every state ---- */

static void script_hold(struct server *s) {
    int fd = srv_accept(s);
    if (fd < 0 || !srv_send_str(s, fd, "x\n"))
        srv_fail(s);
    srv_wait_finish(s);
    if (fd >= 0)
        close(fd);
}

static void test_stop_while_connected(void **state) {
    (void)state;
    struct server srv;
    struct sp_socket_receiver_opts o;
    struct collector c = {0};
    int fds = count_fds();

    server_start(&srv, script_hold);
    default_opts(&o, srv.port);
    struct sp_socket_receiver *rx = create_or_skip(&o);
    start_or_skip(rx);
    collect_until(sp_socket_receiver_ring(rx), &c, 2);
    assert_int_equal(c.len, 2);
    sleep_ms(50); /* blocked in the CQ wait now */
    stop_promptly(rx);
    sp_socket_receiver_destroy(rx);
    server_finish(&srv);
    collector_free(&c);
    assert_int_equal(count_fds(), fds);
}

static void test_stop_during_backoff(void **state) {
    (void)state;
    struct sp_socket_receiver_opts o;
    uint16_t port = free_port();
    int fds = count_fds();

    default_opts(&o, port);
    o.reconnect_min_ms = 2000; /* a long sleep to interrupt */
    o.reconnect_max_ms = 8000;
    struct sp_socket_receiver *rx = create_or_skip(&o);
    start_or_skip(rx);
    sleep_ms(100);
    assert_int_equal(stat_get(&sp_socket_receiver_stats(rx)->connects), 0);
    stop_promptly(rx);
    sp_socket_receiver_destroy(rx);
    assert_int_equal(count_fds(), fds);
}

static void script_endless(struct server *s) {
    char chunk[4096];
    int fd = srv_accept(s);
    memset(chunk, 'e', sizeof(chunk));
    for (size_t i = 63; i < sizeof(chunk); i += 64)
        chunk[i] = '\n';
    /* Until the receiver goes away (send fails) or the test finishes. */
    while (fd >= 0 && srv_send(s, fd, chunk, sizeof(chunk)))
        ;
    if (fd >= 0)
        close(fd);
}

static void test_stop_with_full_ring(void **state) {
    (void)state;
    struct server srv;
    struct sp_socket_receiver_opts o;
    int fds = count_fds();

    server_start(&srv, script_endless);
    default_opts(&o, srv.port);
    o.ring_bytes = 64u * 1024u;
    struct sp_socket_receiver *rx = create_or_skip(&o);
    start_or_skip(rx);
    struct sp_ring *ring = sp_socket_receiver_ring(rx);
    uint32_t cap = sp_ring_capacity(ring);

    uint64_t end = now_ms() + WAIT_MS;
    while (cap - (sp_ring_tail(ring) - sp_ring_head(ring)) >= 64 && now_ms() < end)
        sleep_ms(2);
    assert_true(cap - (sp_ring_tail(ring) - sp_ring_head(ring)) < 64);
    sleep_ms(50); /* the thread is in its ring-full wait */
    stop_promptly(rx);
    /* Published lines stay readable after stop. */
    assert_true(sp_ring_tail(ring) - sp_ring_head(ring) > cap - 64);
    sp_socket_receiver_destroy(rx);
    server_finish(&srv);
    assert_int_equal(count_fds(), fds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_options),         cmocka_unit_test(test_bad_host),
        cmocka_unit_test(test_lifecycle_misuse),    cmocka_unit_test(test_lines),
        cmocka_unit_test(test_overlong_at_eof),     cmocka_unit_test(test_reconnect),
        cmocka_unit_test(test_server_starts_late),  cmocka_unit_test(test_ipv6_loopback),
        cmocka_unit_test(test_backpressure),        cmocka_unit_test(test_stop_while_connected),
        cmocka_unit_test(test_stop_during_backoff), cmocka_unit_test(test_stop_with_full_ring),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
