/*
 * io/receiver_socket.c - Spark's socketTextStream receiver on io_uring.
 *
 * One I/O thread ("spate-rx") per receiver owns an io_uring created inside
 * that thread (so IORING_SETUP_SINGLE_ISSUER|DEFER_TASKRUN can be used; create
 * only probes that io_uring works at all). The thread connects with a plain
 * non-blocking connect() polled in short slices, then reads with one
 * multishot recv that picks buffers from a provided buffer ring. Each recv
 * completion is cut into lines at '\n'; complete lines are copied into the
 * sp_ring and published after each buffer, so every published ring position
 * is a line boundary.
 *
 * Invariants:
 *  - A provided buffer goes back to the buffer ring only after every byte of
 *    it was copied out. When the sp_ring is full the thread waits (stop-aware
 *    nanosleep backoff) holding that buffer and without reaping further CQEs,
 *    so the kernel runs out of buffers, the socket buffer fills and TCP flow
 *    control stalls the sender: no byte is ever dropped.
 *  - lines are cut by an sp_line_framer (io/framing.c) whose carry buffer
 *    holds the start of a line that crosses a receive buffer; over-long
 *    lines are counted once in stats.malformed and skipped.
 *
 * All memory comes from mmap (io/ never uses the C heap): the receiver
 * itself, the carry buffer, the provided buffers and the buffer ring.
 */
#include "io/receiver_socket.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "io/framing.h"
#include "io/rate.h"
#include "io/ring.h"

/* ---- Tunables and defaults (used when an option is 0) ---- */

#define RX_DEFAULT_MAX_LINE (64u * 1024u)
#define RX_DEFAULT_RING_BYTES (4u * 1024u * 1024u)
#define RX_DEFAULT_BUF_SIZE (64u * 1024u)
#define RX_DEFAULT_BUF_COUNT 64u
#define RX_DEFAULT_RECONNECT_MIN_MS 100u
#define RX_DEFAULT_RECONNECT_MAX_MS 5000u
#define RX_MAX_BUF_SIZE (16u * 1024u * 1024u)
#define RX_MAX_BUF_COUNT 32768u  /* buffer IDs are 16 bits; kernel ring limit */
#define RX_MAX_ADDRS 4           /* resolved addresses tried in order */
#define RX_BGID 7                /* our provided buffer group */
#define RX_SQ_ENTRIES 8u         /* at most a recv and a cancel in flight */
#define RX_POLL_MS 20            /* how often a waiting thread looks at stop */
#define RX_BLOCK_MIN_NS 20000L   /* ring-full backoff: 20 us ... */
#define RX_BLOCK_MAX_NS 1000000L /* ... up to 1 ms */
#define RX_REAP_TRIES 50         /* cancel reaping: 50 * RX_POLL_MS at most */

enum rx_tag { RX_TAG_RECV = 1, RX_TAG_CANCEL = 2 };
/* A recv's user_data is RX_TAG_RECV plus the session number above the tag byte, so a late
 * CQE of an earlier connection (a reap that gave up) is recognised and dropped, never
 * spliced into the next connection's bytes. */
#define RX_TAG_OF(ud) ((ud)&0xffu)
#define RX_SESSION_OF(ud) ((ud) >> 8)

struct sp_socket_receiver {
    struct sp_socket_receiver_stats stats; /* relaxed counters, read by anyone */
    uint64_t session;                      /* connection number (I/O thread only) */
    _Atomic bool stop;                     /* set by stop(), polled by the thread */

    /* ---- Configuration (immutable after create) ---- */
    char host[256]; /* as given, for log lines */
    char name[64];  /* receiver name, for log lines */
    uint16_t port;
    uint32_t max_line;
    uint32_t buf_size;
    uint32_t buf_count;
    uint32_t reconnect_min_ms;
    uint32_t reconnect_max_ms;
    bool quiet;
    struct sockaddr_storage addrs[RX_MAX_ADDRS]; /* getaddrinfo results */
    socklen_t addr_lens[RX_MAX_ADDRS];
    int n_addrs;

    /* ---- Memory (all mmap'ed; sizes kept for munmap) ---- */
    size_t self_map;
    struct sp_ring *ring;
    char *carry; /* max_line + 1 bytes: room for the '\n' added at EOF */
    size_t carry_map;
    char *bufs; /* buf_count provided buffers of buf_size bytes */
    size_t bufs_map;
    struct io_uring_buf_ring *br; /* kernel-shared buffer ring, page aligned */
    size_t br_map;

    /* ---- Thread handshake (start() waits for the thread's setup) ---- */
    pthread_t thread;
    bool started; /* pthread_create succeeded */
    bool joined;  /* pthread_join done */
    sem_t ready;  /* posted once the thread's io_uring is set up (or failed) */
    int init_rc;  /* 0 or -errno from the thread's setup */
    char init_msg[256];

    /* ---- I/O thread state (only the I/O thread touches these) ---- */
    struct io_uring uring;
    struct sp_line_framer framer; /* cuts lines; its carry buffer is carry above */
    uint32_t pending;             /* bytes written to the ring, not yet published */
    uint32_t avail;               /* cached free space beyond pending */
    uint64_t pending_lines;       /* lines inside pending */
    int64_t first_ns;             /* when the first byte of pending arrived */
    struct sp_rate rate;          /* the optional rate limit */
};

/* ---- Small helpers ---- */

static bool stopping(const struct sp_socket_receiver *rx) {
    return atomic_load_explicit(&rx->stop, memory_order_acquire);
}

static void stat_add(_Atomic uint64_t *c, uint64_t n) {
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(long ns) {
    struct timespec ts = {.tv_sec = ns / 1000000000L, .tv_nsec = ns % 1000000000L};
    nanosleep(&ts, NULL);
}

/* Sleep ms milliseconds in RX_POLL_MS slices. Returns true if stop was set. */
static bool sleep_ms(const struct sp_socket_receiver *rx, uint32_t ms) {
    uint64_t end = now_ns() + (uint64_t)ms * 1000000u;
    for (;;) {
        uint64_t t;
        if (stopping(rx))
            return true;
        t = now_ns();
        if (t >= end)
            return false;
        uint64_t left = end - t;
        uint64_t slice = (uint64_t)RX_POLL_MS * 1000000u;
        sleep_ns((long)(left < slice ? left : slice));
    }
}

static void set_msg(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_msg(char *errbuf, size_t errlen, const char *fmt, ...) {
    va_list ap;
    if (errbuf == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
}

static void log_line(const struct sp_socket_receiver *rx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* One line on stderr, "spate: receiver <name>: ...", unless quiet. */
static void log_line(const struct sp_socket_receiver *rx, const char *fmt, ...) {
    char msg[384];
    va_list ap;
    if (rx->quiet)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "spate: receiver %s: %s\n", rx->name, msg);
}

/* "host:port", or "[host]:port" for IPv6 literals. */
static void format_endpoint(const struct sp_socket_receiver *rx, char *out, size_t len) {
    if (strchr(rx->host, ':') != NULL)
        snprintf(out, len, "[%s]:%u", rx->host, (unsigned)rx->port);
    else
        snprintf(out, len, "%s:%u", rx->host, (unsigned)rx->port);
}

static uint32_t next_backoff(const struct sp_socket_receiver *rx, uint32_t ms) {
    return ms >= rx->reconnect_max_ms / 2 ? rx->reconnect_max_ms : ms * 2;
}

static size_t page_round(size_t n) {
    long page_l = sysconf(_SC_PAGESIZE);
    size_t page = page_l > 0 ? (size_t)page_l : 4096u;
    return (n + page - 1) / page * page;
}

static void *map_anon(size_t len) {
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* ---- Writing lines into the sp_ring ---- */

/* Make the lines written so far visible to the consumer. */
static void publish_pending(struct sp_socket_receiver *rx) {
    if (rx->pending == 0)
        return;
    sp_rate_take(&rx->rate, rx->pending_lines, &rx->stop, &rx->stats.blocked_ns);
    /* Count first: a consumer that sees the lines also sees them counted. */
    stat_add(&rx->stats.lines, rx->pending_lines);
    sp_ring_publish_at(rx->ring, rx->pending, rx->first_ns); /* the rate limit's wait counts */
    rx->pending = 0;
    rx->pending_lines = 0;
}

/*
 * Return where the next need bytes go, waiting for the consumer when the
 * ring lacks room (after publishing, so the consumer has something to take).
 * Returns NULL if stop was requested while waiting.
 */
static char *reserve(struct sp_socket_receiver *rx, uint32_t need) {
    if (rx->avail < need) {
        rx->avail = sp_ring_free_space(rx->ring) - rx->pending;
        if (rx->avail < need) {
            uint64_t t0 = now_ns();
            long backoff = RX_BLOCK_MIN_NS;
            publish_pending(rx);
            for (;;) {
                if (stopping(rx)) {
                    stat_add(&rx->stats.blocked_ns, now_ns() - t0);
                    return NULL;
                }
                sleep_ns(backoff);
                backoff = backoff * 2 > RX_BLOCK_MAX_NS ? RX_BLOCK_MAX_NS : backoff * 2;
                rx->avail = sp_ring_free_space(rx->ring);
                if (rx->avail >= need)
                    break;
            }
            stat_add(&rx->stats.blocked_ns, now_ns() - t0);
        }
    }
    return sp_ring_write_ptr(rx->ring) + rx->pending;
}

/* Copy lines complete lines, a[0..alen) then b[0..blen) (b ends with '\n'), into the ring. */
static int emit_line(struct sp_socket_receiver *rx, const char *a, size_t alen, const char *b,
                     size_t blen, uint32_t lines) {
    uint32_t need = (uint32_t)(alen + blen); /* <= max_line + 1 <= ring capacity / 2 */
    /* These bytes arrived now: a wait for room in reserve counts as their latency. */
    int64_t arrived = rx->pending == 0 || rx->avail < need ? (int64_t)now_ns() : rx->first_ns;
    char *dst = reserve(rx, need);
    if (dst == NULL)
        return -ECANCELED;
    if (alen > 0)
        memcpy(dst, a, alen);
    memcpy(dst + alen, b, blen);
    if (rx->pending == 0)
        rx->first_ns = arrived;
    rx->pending += need;
    rx->avail -= need;
    rx->pending_lines += lines;
    return 0;
}

/* The framer's emit callback: lines into the ring. */
static int emit_cb(void *user, const char *a, size_t alen, const char *b, size_t blen,
                   uint32_t lines) {
    return emit_line(user, a, alen, b, blen, lines);
}

/* Cut p[0..n) into lines (io/framing.c). Returns 0, or -ECANCELED when stopped
 * while waiting for ring space. */
static int consume(struct sp_socket_receiver *rx, const char *p, size_t n) {
    return sp_framer_consume(&rx->framer, p, n);
}

/* At EOF a non-empty partial line is published with a '\n', as readLine does. */
static int flush_partial(struct sp_socket_receiver *rx) {
    int rc = sp_framer_finish(&rx->framer);
    publish_pending(rx);
    return rc;
}

/* ---- io_uring plumbing (I/O thread only) ---- */

/* Give buffer bid back to the kernel. */
static void recycle_buffer(struct sp_socket_receiver *rx, unsigned bid) {
    io_uring_buf_ring_add(rx->br, rx->bufs + (size_t)bid * rx->buf_size, rx->buf_size,
                          (unsigned short)bid, io_uring_buf_ring_mask(rx->buf_count), 0);
    io_uring_buf_ring_advance(rx->br, 1);
}

static int arm_recv(struct sp_socket_receiver *rx, int fd) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&rx->uring);
    int rc;
    if (sqe == NULL)
        return -EBUSY;
    io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = RX_BGID;
    io_uring_sqe_set_data64(sqe, RX_TAG_RECV | (rx->session << 8));
    rc = io_uring_submit(&rx->uring);
    return rc < 0 ? rc : 0;
}

/*
 * Cancel the multishot recv (if still armed) and reap every completion left,
 * recycling the buffers they carry; gives up after RX_REAP_TRIES empty polls.
 */
static void cancel_and_reap(struct sp_socket_receiver *rx, int fd, bool armed) {
    struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = RX_POLL_MS * 1000000L};
    bool cancel_pending = false;
    struct io_uring_sqe *sqe = NULL;
    struct io_uring_cqe *cqe;

    if (armed)
        sqe = io_uring_get_sqe(&rx->uring);
    if (sqe != NULL) {
        io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
        io_uring_sqe_set_data64(sqe, RX_TAG_CANCEL);
        cancel_pending = io_uring_submit(&rx->uring) >= 1;
    }
    if (armed && !cancel_pending)
        shutdown(fd, SHUT_RDWR); /* the recv then ends with 0 */

    /* Bounded: RX_REAP_TRIES empty polls, and a CQE budget in case a kernel
     * keeps delivering data despite the cancel. */
    uint64_t budget = 4u * (uint64_t)rx->buf_count + 64u;
    for (int empty_polls = 0; empty_polls < RX_REAP_TRIES && budget > 0;) {
        /* Whatever is already in the CQ first, then wait for the rest. */
        if (io_uring_peek_cqe(&rx->uring, &cqe) != 0) {
            int ret;
            if (!armed && !cancel_pending)
                break;
            ret = io_uring_wait_cqe_timeout(&rx->uring, &cqe, &ts);
            if (ret == -ETIME || ret == -EINTR) {
                empty_polls++;
                continue;
            }
            if (ret < 0)
                break;
        }
        budget--;
        if (RX_TAG_OF(cqe->user_data) == RX_TAG_RECV) {
            if (cqe->flags & IORING_CQE_F_BUFFER)
                recycle_buffer(rx, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
            if (!(cqe->flags & IORING_CQE_F_MORE) && RX_SESSION_OF(cqe->user_data) == rx->session)
                armed = false;
        } else if (cqe->user_data == RX_TAG_CANCEL) {
            cancel_pending = false;
            /* Kernel without CANCEL_ANY: fall back to shutting the socket. */
            if (cqe->res == -EINVAL)
                shutdown(fd, SHUT_RDWR);
        }
        io_uring_cqe_seen(&rx->uring, cqe);
    }
}

/*
 * Read fd until EOF, error or stop. Returns 0 on EOF (partial line flushed),
 * -ECANCELED on stop, or -errno on a connection error.
 */
static int session(struct sp_socket_receiver *rx, int fd) {
    struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = RX_POLL_MS * 1000000L};
    bool armed = false;
    bool eof = false;
    int rc = 0;

    rx->session++; /* CQEs of earlier connections no longer match */
    sp_framer_reset(&rx->framer);
    rc = arm_recv(rx, fd);
    if (rc < 0)
        return rc;
    armed = true;

    while (rc == 0 && !eof) {
        struct io_uring_cqe *cqe;
        bool rearm = false;
        int ret;

        if (stopping(rx)) {
            rc = -ECANCELED;
            break;
        }
        ret = io_uring_wait_cqe_timeout(&rx->uring, &cqe, &ts);
        if (ret == -ETIME || ret == -EINTR) {
            /* Idle: let other threads run. Under valgrind, which serializes
             * threads and keeps its lock across io_uring_enter, this is what
             * lets the rest of the process make progress. */
            sched_yield();
            continue;
        }
        if (ret < 0) {
            rc = ret;
            break;
        }
        do {
            int res = cqe->res;
            unsigned flags = cqe->flags;
            if (RX_TAG_OF(cqe->user_data) == RX_TAG_RECV &&
                RX_SESSION_OF(cqe->user_data) != rx->session) {
                /* Left over from an earlier connection: give the buffer back, drop the bytes. */
                if (flags & IORING_CQE_F_BUFFER)
                    recycle_buffer(rx, flags >> IORING_CQE_BUFFER_SHIFT);
            } else if (cqe->user_data == (RX_TAG_RECV | (rx->session << 8))) {
                if (flags & IORING_CQE_F_BUFFER) {
                    unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
                    if (res > 0 && rc == 0) {
                        stat_add(&rx->stats.bytes, (uint64_t)res);
                        rc = consume(rx, rx->bufs + (size_t)bid * rx->buf_size, (size_t)res);
                        publish_pending(rx);
                    }
                    /* Copied (or abandoned on stop): the kernel may reuse it. */
                    recycle_buffer(rx, bid);
                }
                if (!(flags & IORING_CQE_F_MORE)) {
                    armed = false;
                    if (res == 0)
                        eof = true;
                    else if (res > 0 || res == -ENOBUFS)
                        rearm = true;
                    else if (rc == 0)
                        rc = res;
                }
            }
            io_uring_cqe_seen(&rx->uring, cqe);
        } while (rc == 0 && !eof && io_uring_peek_cqe(&rx->uring, &cqe) == 0);

        if (rc == 0 && !eof && rearm) {
            rc = arm_recv(rx, fd);
            armed = rc == 0;
        }
    }

    cancel_and_reap(rx, fd, armed);
    if (eof && rc == 0)
        rc = flush_partial(rx);
    sp_framer_reset(&rx->framer);
    publish_pending(rx);
    return rc;
}

/* Non-blocking connect polled in RX_POLL_MS slices; the socket ends up blocking. */
static int connect_one(const struct sp_socket_receiver *rx, const struct sockaddr *sa,
                       socklen_t len, int *out) {
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int rc = 0;
    if (fd < 0)
        return -errno;
    if (connect(fd, sa, len) != 0) {
        int err = 0;
        socklen_t elen = sizeof(err);
        if (errno != EINPROGRESS) {
            rc = -errno;
            goto fail;
        }
        for (;;) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            int n;
            if (stopping(rx)) {
                rc = -ECANCELED;
                goto fail;
            }
            n = poll(&pfd, 1, RX_POLL_MS);
            if (n > 0)
                break;
            if (n < 0 && errno != EINTR) {
                rc = -errno;
                goto fail;
            }
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0) {
            rc = -errno;
            goto fail;
        }
        if (err != 0) {
            rc = -err;
            goto fail;
        }
    }
    /* io_uring polls internally; a blocking socket keeps recv semantics plain. */
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        rc = -errno;
        goto fail;
    }
    *out = fd;
    return 0;

fail:
    close(fd);
    return rc;
}

/* Try each resolved address in order; returns the last error if none works. */
static int connect_any(const struct sp_socket_receiver *rx, int *out) {
    int rc = -ECONNREFUSED;
    for (int i = 0; i < rx->n_addrs; i++) {
        rc = connect_one(rx, (const struct sockaddr *)&rx->addrs[i], rx->addr_lens[i], out);
        if (rc == 0 || rc == -ECANCELED)
            return rc;
    }
    return rc;
}

/* Connect, read, reconnect with exponential backoff, until stop. */
static void run(struct sp_socket_receiver *rx) {
    char endpoint[300];
    uint32_t backoff = rx->reconnect_min_ms;

    format_endpoint(rx, endpoint, sizeof(endpoint));
    while (!stopping(rx)) {
        int fd = -1;
        int rc = connect_any(rx, &fd);
        if (rc == -ECANCELED)
            break;
        if (rc < 0) {
            log_line(rx, "connect failed: %s, retrying in %u ms", strerror(-rc), backoff);
            if (sleep_ms(rx, backoff))
                break;
            backoff = next_backoff(rx, backoff);
            continue;
        }
        stat_add(&rx->stats.connects, 1);
        backoff = rx->reconnect_min_ms;
        log_line(rx, "connected to %s", endpoint);

        rc = session(rx, fd);
        close(fd);
        if (rc == -ECANCELED || stopping(rx))
            break;
        if (rc == 0)
            log_line(rx, "connection closed, reconnecting in %u ms", backoff);
        else
            log_line(rx, "connection lost: %s, reconnecting in %u ms", strerror(-rc), backoff);
        if (sleep_ms(rx, backoff))
            break;
        backoff = next_backoff(rx, backoff);
    }
}

/*
 * Create the thread's io_uring (SINGLE_ISSUER|DEFER_TASKRUN when the kernel
 * takes them) and register the provided buffer ring, all buffers in it.
 */
static int uring_setup(struct sp_socket_receiver *rx) {
    struct io_uring_params p;
    struct io_uring_buf_reg reg;
    int rc;

    memset(&p, 0, sizeof(p));
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE |
              IORING_SETUP_CLAMP;
    p.cq_entries = rx->buf_count + 2u * RX_SQ_ENTRIES; /* every buffer's CQE fits */
    rc = io_uring_queue_init_params(RX_SQ_ENTRIES, &rx->uring, &p);
    if (rc == -EINVAL) {
        memset(&p, 0, sizeof(p));
        p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
        p.cq_entries = rx->buf_count + 2u * RX_SQ_ENTRIES;
        rc = io_uring_queue_init_params(RX_SQ_ENTRIES, &rx->uring, &p);
    }
    if (rc < 0) {
        set_msg(rx->init_msg, sizeof(rx->init_msg),
                "io_uring unavailable: %s (spate needs io_uring; check kernel version and "
                "seccomp)",
                strerror(-rc));
        return rc;
    }

    io_uring_buf_ring_init(rx->br);
    for (uint32_t bid = 0; bid < rx->buf_count; bid++)
        io_uring_buf_ring_add(rx->br, rx->bufs + (size_t)bid * rx->buf_size, rx->buf_size,
                              (unsigned short)bid, io_uring_buf_ring_mask(rx->buf_count), (int)bid);
    io_uring_buf_ring_advance(rx->br, (int)rx->buf_count);

    memset(&reg, 0, sizeof(reg));
    reg.ring_addr = (uint64_t)(uintptr_t)rx->br;
    reg.ring_entries = rx->buf_count;
    reg.bgid = RX_BGID;
    rc = io_uring_register_buf_ring(&rx->uring, &reg, 0);
    if (rc < 0) {
        set_msg(rx->init_msg, sizeof(rx->init_msg),
                "cannot register provided buffer ring: %s (spate needs Linux 6.0 or later)",
                strerror(-rc));
        io_uring_queue_exit(&rx->uring);
        return rc;
    }
    return 0;
}

static void *rx_main(void *arg) {
    struct sp_socket_receiver *rx = arg;
    int rc;

    pthread_setname_np(pthread_self(), "spate-rx");
    rc = uring_setup(rx);
    rx->init_rc = rc;
    sem_post(&rx->ready); /* start() reads init_rc after this */
    if (rc < 0)
        return NULL;

    run(rx);

    io_uring_unregister_buf_ring(&rx->uring, RX_BGID);
    io_uring_queue_exit(&rx->uring);
    return NULL;
}

/* ---- Public (internal) API ---- */

/* Copy opts with defaults applied and check them; 0 or -EINVAL with a message. */
static int apply_opts(struct sp_socket_receiver *rx, const struct sp_socket_receiver_opts *opts,
                      char *errbuf, size_t errlen) {
    if (opts->host == NULL || opts->host[0] == '\0') {
        set_msg(errbuf, errlen, "socket receiver: host is empty");
        return -EINVAL;
    }
    if (strlen(opts->host) >= sizeof(rx->host)) {
        set_msg(errbuf, errlen, "socket receiver: host name too long");
        return -EINVAL;
    }
    if (opts->port == 0) {
        set_msg(errbuf, errlen, "socket receiver: port 0 is not valid");
        return -EINVAL;
    }
    snprintf(rx->host, sizeof(rx->host), "%s", opts->host);
    snprintf(rx->name, sizeof(rx->name), "%s",
             opts->name != NULL && opts->name[0] != '\0' ? opts->name : "socket");
    rx->port = opts->port;
    rx->quiet = opts->quiet;
    rx->max_line = opts->max_line != 0 ? opts->max_line : RX_DEFAULT_MAX_LINE;
    if (rx->max_line < opts->record_bytes) /* the carry holds a record */
        rx->max_line = opts->record_bytes;
    rx->buf_size = opts->buf_size != 0 ? opts->buf_size : RX_DEFAULT_BUF_SIZE;
    rx->buf_count = opts->buf_count != 0 ? opts->buf_count : RX_DEFAULT_BUF_COUNT;
    rx->reconnect_min_ms =
        opts->reconnect_min_ms != 0 ? opts->reconnect_min_ms : RX_DEFAULT_RECONNECT_MIN_MS;
    rx->reconnect_max_ms =
        opts->reconnect_max_ms != 0 ? opts->reconnect_max_ms : RX_DEFAULT_RECONNECT_MAX_MS;

    if (rx->buf_count > RX_MAX_BUF_COUNT || (rx->buf_count & (rx->buf_count - 1)) != 0) {
        set_msg(errbuf, errlen, "socket receiver: buf_count %u is not a power of two <= %u",
                rx->buf_count, RX_MAX_BUF_COUNT);
        return -EINVAL;
    }
    if (rx->buf_size > RX_MAX_BUF_SIZE) {
        set_msg(errbuf, errlen, "socket receiver: buf_size %u exceeds %u", rx->buf_size,
                RX_MAX_BUF_SIZE);
        return -EINVAL;
    }
    if (rx->max_line >= (UINT32_C(1) << 30)) {
        set_msg(errbuf, errlen, "socket receiver: max_line %u is too large", rx->max_line);
        return -EINVAL;
    }
    if (rx->reconnect_min_ms > rx->reconnect_max_ms) {
        set_msg(errbuf, errlen, "socket receiver: reconnect_min_ms %u exceeds reconnect_max_ms %u",
                rx->reconnect_min_ms, rx->reconnect_max_ms);
        return -EINVAL;
    }
    return 0;
}

static int resolve(struct sp_socket_receiver *rx, char *errbuf, size_t errlen) {
    struct addrinfo hints;
    struct addrinfo *res = NULL;
    char port[8];
    int gai;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    snprintf(port, sizeof(port), "%u", (unsigned)rx->port);
    gai = getaddrinfo(rx->host, port, &hints, &res);
    if (gai != 0) {
        set_msg(errbuf, errlen, "cannot resolve host %s: %s", rx->host, gai_strerror(gai));
        return gai == EAI_MEMORY ? -ENOMEM : -EINVAL;
    }
    rx->n_addrs = 0;
    for (struct addrinfo *ai = res; ai != NULL && rx->n_addrs < RX_MAX_ADDRS; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof(rx->addrs[0]))
            continue;
        memcpy(&rx->addrs[rx->n_addrs], ai->ai_addr, ai->ai_addrlen);
        rx->addr_lens[rx->n_addrs] = ai->ai_addrlen;
        rx->n_addrs++;
    }
    freeaddrinfo(res);
    if (rx->n_addrs == 0) {
        set_msg(errbuf, errlen, "cannot resolve host %s: no usable address", rx->host);
        return -EINVAL;
    }
    return 0;
}

/* Fail early and clearly when io_uring is missing or blocked (seccomp). */
static int probe_uring(char *errbuf, size_t errlen) {
    struct io_uring probe;
    int rc = io_uring_queue_init(4, &probe, 0);
    if (rc < 0) {
        set_msg(errbuf, errlen,
                "io_uring unavailable: %s (spate needs io_uring; check kernel version and "
                "seccomp)",
                strerror(-rc));
        return rc;
    }
    io_uring_queue_exit(&probe);
    return 0;
}

static void free_receiver(struct sp_socket_receiver *rx) {
    if (rx->br != NULL)
        munmap(rx->br, rx->br_map);
    if (rx->bufs != NULL)
        munmap(rx->bufs, rx->bufs_map);
    if (rx->carry != NULL)
        munmap(rx->carry, rx->carry_map);
    sp_ring_destroy(rx->ring);
    munmap(rx, rx->self_map);
}

int sp_socket_receiver_create(const struct sp_socket_receiver_opts *opts,
                              struct sp_socket_receiver **out, char *errbuf, size_t errlen) {
    struct sp_socket_receiver *rx;
    size_t self_map = page_round(sizeof(*rx));
    int rc;

    if (out == NULL || opts == NULL) {
        set_msg(errbuf, errlen, "socket receiver: NULL argument");
        return -EINVAL;
    }
    *out = NULL;
    rx = map_anon(self_map); /* zero-filled */
    if (rx == NULL) {
        set_msg(errbuf, errlen, "socket receiver: out of memory");
        return -ENOMEM;
    }
    rx->self_map = self_map;
    atomic_init(&rx->stop, false);
    atomic_init(&rx->stats.bytes, 0);
    atomic_init(&rx->stats.lines, 0);
    atomic_init(&rx->stats.malformed, 0);
    atomic_init(&rx->stats.connects, 0);
    atomic_init(&rx->stats.blocked_ns, 0);

    rc = apply_opts(rx, opts, errbuf, errlen);
    sp_rate_init(&rx->rate, opts->max_records_per_second);
    if (rc != 0)
        goto fail;
    rc = resolve(rx, errbuf, errlen);
    if (rc != 0)
        goto fail;

    rc =
        sp_ring_create(opts->ring_bytes != 0 ? opts->ring_bytes : RX_DEFAULT_RING_BYTES, &rx->ring);
    if (rc != 0) {
        set_msg(errbuf, errlen, "socket receiver: cannot create a ring of %u bytes: %s",
                opts->ring_bytes, strerror(-rc));
        goto fail;
    }
    /* Every accepted line (max_line bytes plus '\n') must fit in the ring. */
    if (sp_ring_capacity(rx->ring) <= rx->max_line) {
        set_msg(errbuf, errlen, "socket receiver: ring of %u bytes cannot hold a %u-byte line",
                sp_ring_capacity(rx->ring), rx->max_line);
        rc = -EINVAL;
        goto fail;
    }

    rx->carry_map = page_round((size_t)rx->max_line + 1);
    rx->carry = map_anon(rx->carry_map);
    rx->bufs_map = page_round((size_t)rx->buf_size * rx->buf_count);
    rx->bufs = map_anon(rx->bufs_map);
    rx->br_map = page_round((size_t)rx->buf_count * sizeof(struct io_uring_buf));
    rx->br = map_anon(rx->br_map);
    if (rx->carry == NULL || rx->bufs == NULL || rx->br == NULL) {
        set_msg(errbuf, errlen, "socket receiver: out of memory");
        rc = -ENOMEM;
        goto fail;
    }
    if (opts->record_bytes > 0)
        sp_framer_init_records(&rx->framer, rx->carry, opts->record_bytes, rx->max_line,
                               &rx->stats.malformed, emit_cb, rx);
    else
        sp_framer_init(&rx->framer, rx->carry, rx->max_line, &rx->stats.malformed, emit_cb, rx);

    rc = probe_uring(errbuf, errlen);
    if (rc != 0)
        goto fail;
    if (sem_init(&rx->ready, 0, 0) != 0) {
        rc = -errno;
        set_msg(errbuf, errlen, "socket receiver: sem_init: %s", strerror(-rc));
        goto fail;
    }
    *out = rx;
    return 0;

fail:
    free_receiver(rx);
    return rc;
}

int sp_socket_receiver_start(struct sp_socket_receiver *r, char *errbuf, size_t errlen) {
    sigset_t all;
    sigset_t old;
    int rc;

    if (r == NULL) {
        set_msg(errbuf, errlen, "socket receiver: NULL receiver");
        return -EINVAL;
    }
    if (r->started) {
        set_msg(errbuf, errlen, "socket receiver %s: already started", r->name);
        return -EBUSY;
    }
    if (stopping(r)) {
        set_msg(errbuf, errlen, "socket receiver %s: stopped", r->name);
        return -ECANCELED;
    }
    /* The I/O thread takes no signals: they belong to the application. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&r->thread, NULL, rx_main, r);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        set_msg(errbuf, errlen, "socket receiver %s: cannot start I/O thread: %s", r->name,
                strerror(rc));
        return -rc;
    }
    r->started = true;
    while (sem_wait(&r->ready) != 0 && errno == EINTR)
        ;
    if (r->init_rc < 0) {
        pthread_join(r->thread, NULL);
        r->joined = true;
        set_msg(errbuf, errlen, "%s", r->init_msg);
        return r->init_rc;
    }
    return 0;
}

void sp_socket_receiver_stop(struct sp_socket_receiver *r) {
    if (r == NULL)
        return;
    atomic_store_explicit(&r->stop, true, memory_order_release);
    if (r->started && !r->joined) {
        pthread_join(r->thread, NULL);
        r->joined = true;
    }
}

void sp_socket_receiver_destroy(struct sp_socket_receiver *r) {
    if (r == NULL)
        return;
    sp_socket_receiver_stop(r);
    sem_destroy(&r->ready);
    free_receiver(r);
}

struct sp_ring *sp_socket_receiver_ring(struct sp_socket_receiver *r) {
    return r->ring;
}

const struct sp_socket_receiver_stats *
sp_socket_receiver_stats(const struct sp_socket_receiver *r) {
    return &r->stats;
}
