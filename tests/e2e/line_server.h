/*
 * tests/e2e/line_server.h - a loopback TCP line server for end-to-end tests.
 *
 * A test runs a "script" on a server thread: listen on 127.0.0.1 (port 0,
 * read back with getsockname, or a port reserved earlier), accept a client,
 * send bytes in pieces with pauses between them, close, accept again, and so
 * on. Every wait is bounded (poll with a short timeout, re-checking a quit
 * flag), so a failing test never hangs and its teardown can always end the
 * thread. The first error the script meets is kept in `failed` for the test
 * to assert on the main thread (cmocka is not thread safe).
 *
 * Everything is static inline: the header belongs to the e2e test programs.
 */
#ifndef SPATE_TESTS_E2E_LINE_SERVER_H
#define SPATE_TESTS_E2E_LINE_SERVER_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LS_POLL_SLICE_MS 20     /* how often blocked waits re-check the quit flag */
#define LS_STALL_LIMIT_MS 30000 /* a send that makes no progress this long fails */

struct ls_server;
typedef void (*ls_script_fn)(struct ls_server *s, void *arg);

struct ls_server {
    int listen_fd; /* -1 while not listening */
    uint16_t port; /* host order; valid once listening or reserved */
    pthread_t thread;
    bool thread_started;
    ls_script_fn script;
    void *arg;
    atomic_bool quit;    /* teardown: end the script now */
    atomic_bool release; /* the test is done with the connection */
    atomic_bool done;    /* the script has sent everything it will send */
    atomic_uint_fast64_t bytes_sent;
    atomic_int failed;   /* first errno-style error of the script, 0 if none */
    atomic_int accepted; /* connections accepted so far */
};

/* ---- Small utilities ---- */

static inline int64_t ls_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void ls_sleep_ms(int64_t ms) {
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Remember the first failure only: later ones are usually its consequences. */
static inline void ls_fail(struct ls_server *s, int code) {
    int expected = 0;
    atomic_compare_exchange_strong(&s->failed, &expected, code != 0 ? code : EIO);
}

static inline bool ls_quitting(struct ls_server *s) {
    return atomic_load(&s->quit);
}

/* Sleep ms in slices; false when told to quit meanwhile. */
static inline bool ls_pause(struct ls_server *s, int64_t ms) {
    int64_t end = ls_now_ms() + ms;
    while (!ls_quitting(s)) {
        int64_t left = end - ls_now_ms();
        if (left <= 0)
            return true;
        ls_sleep_ms(left < LS_POLL_SLICE_MS ? left : LS_POLL_SLICE_MS);
    }
    return false;
}

static inline void ls_init(struct ls_server *s) {
    memset(s, 0, sizeof(*s));
    s->listen_fd = -1;
    atomic_init(&s->quit, false);
    atomic_init(&s->release, false);
    atomic_init(&s->done, false);
    atomic_init(&s->bytes_sent, 0);
    atomic_init(&s->failed, 0);
    atomic_init(&s->accepted, 0);
}

static inline struct sockaddr_in ls_loopback(uint16_t port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

/*
 * Reserve a port for a server that starts later: bind port 0, read the port,
 * close. Returns 0 or an errno value.
 */
static inline int ls_reserve_port(uint16_t *port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    struct sockaddr_in a = ls_loopback(0);
    socklen_t alen = sizeof(a);
    int rc = 0;
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) != 0)
        rc = errno;
    else
        *port = ntohs(a.sin_port);
    close(fd);
    return rc;
}

/* Listen on 127.0.0.1:port (0 = any; s->port is then the one chosen). Returns 0 or errno. */
static inline int ls_listen(struct ls_server *s, uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    int one = 1;
    struct sockaddr_in a = ls_loopback(port);
    socklen_t alen = sizeof(a);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
        int rc = errno;
        close(fd);
        return rc;
    }
    s->listen_fd = fd;
    s->port = ntohs(a.sin_port);
    return 0;
}

/* Accept one client within timeout_ms. Returns the fd, or -1 (failure recorded unless quitting). */
static inline int ls_accept(struct ls_server *s, int64_t timeout_ms) {
    int64_t end = ls_now_ms() + timeout_ms;
    while (!ls_quitting(s)) {
        if (ls_now_ms() >= end) {
            ls_fail(s, ETIMEDOUT);
            return -1;
        }
        struct pollfd p = {s->listen_fd, POLLIN, 0};
        int n = poll(&p, 1, LS_POLL_SLICE_MS);
        if (n < 0 && errno != EINTR) {
            ls_fail(s, errno);
            return -1;
        }
        if (n <= 0)
            continue;
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0) {
            atomic_fetch_add(&s->accepted, 1);
            return fd;
        }
        if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED) {
            ls_fail(s, errno);
            return -1;
        }
    }
    return -1;
}

/*
 * Send all len bytes (MSG_NOSIGNAL: a closed peer is an error, not SIGPIPE).
 * A full socket is waited for in slices; no progress for LS_STALL_LIMIT_MS
 * fails. Returns 0, or an errno value (recorded) / ECANCELED when quitting.
 */
static inline int ls_send(struct ls_server *s, int fd, const void *buf, size_t len) {
    const char *p = buf;
    int64_t last_progress = ls_now_ms();
    while (len > 0) {
        if (ls_quitting(s))
            return ECANCELED;
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            atomic_fetch_add(&s->bytes_sent, (uint_fast64_t)n);
            last_progress = ls_now_ms();
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            int rc = errno;
            ls_fail(s, rc);
            return rc;
        }
        if (ls_now_ms() - last_progress > LS_STALL_LIMIT_MS) {
            ls_fail(s, ETIMEDOUT);
            return ETIMEDOUT;
        }
        struct pollfd pfd = {fd, POLLOUT, 0};
        (void)poll(&pfd, 1, LS_POLL_SLICE_MS);
    }
    return 0;
}

static inline int ls_send_str(struct ls_server *s, int fd, const char *str) {
    return ls_send(s, fd, str, strlen(str));
}

/* Keep the connection open until the test releases it (or quits, or timeout_ms passes). */
static inline void ls_hold(struct ls_server *s, int64_t timeout_ms) {
    int64_t end = ls_now_ms() + timeout_ms;
    while (!ls_quitting(s) && !atomic_load(&s->release) && ls_now_ms() < end)
        ls_sleep_ms(LS_POLL_SLICE_MS);
}

/* ---- Thread ---- */

static inline void *ls_thread_main(void *arg) {
    struct ls_server *s = arg;
    s->script(s, s->arg);
    atomic_store(&s->done, true);
    return NULL;
}

/* Run script(s, arg) on a new thread. Returns 0 or an errno value. */
static inline int ls_start(struct ls_server *s, ls_script_fn script, void *arg) {
    s->script = script;
    s->arg = arg;
    int rc = pthread_create(&s->thread, NULL, ls_thread_main, s);
    s->thread_started = rc == 0;
    return rc;
}

/* Tell the script to end, join it and close the listening socket. Safe to call twice. */
static inline void ls_stop(struct ls_server *s) {
    atomic_store(&s->release, true);
    atomic_store(&s->quit, true);
    if (s->thread_started) {
        pthread_join(s->thread, NULL);
        s->thread_started = false;
    }
    if (s->listen_fd >= 0) {
        close(s->listen_fd);
        s->listen_fd = -1;
    }
}

/* Let the script finish on its own (release the held connection), then join. */
static inline void ls_finish(struct ls_server *s) {
    atomic_store(&s->release, true);
    if (s->thread_started) {
        pthread_join(s->thread, NULL);
        s->thread_started = false;
    }
    ls_stop(s);
}

#endif /* SPATE_TESTS_E2E_LINE_SERVER_H */
