/*
 * io/receiver_listen.c - many producers on one listening socket.
 *
 * Completion tags: user_data is (generation << 32) | (slot << 8) | tag. A
 * connection slot gets a new generation whenever it is reused, so a late
 * completion of an earlier connection in the same slot is recognised: its
 * buffer goes back, its bytes are dropped, never spliced into the next one.
 *
 * Invariants:
 *  - a provided buffer returns to the buffer ring only once its bytes were
 *    copied out (or its connection is gone);
 *  - a slot's fd is closed only after its recv has ended (a CQE without
 *    IORING_CQE_F_MORE), so no request ever refers to a closed fd;
 *  - published ring positions are line boundaries.
 *
 * All memory comes from mmap (io/ never uses the C heap).
 */
#include "io/receiver_listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <netdb.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "io/framing.h"
#include "io/ring.h"
#include "io/sink.h"

#define RL_BGID 9
#define RL_POLL_MS 20
#define RL_REAP_TRIES 50
#define RL_BACKLOG                                                                                 \
    1024 /* listen(2) backlog: what a cancelled multishot accept may still hand out */

enum { RL_ACCEPT = 1, RL_RECV = 2, RL_CANCEL = 3 };

struct rl_conn {
    int fd;
    uint32_t gen;
    bool open;  /* fd belongs to a connection */
    bool armed; /* its multishot recv has not ended */
    bool rearm; /* open, not armed: arming it again is owed (no SQE was free) */
    struct sp_line_framer framer;
};

struct sp_listen_receiver {
    struct sp_listen_receiver_stats stats;
    _Atomic bool stop;
    struct sp_listen_receiver_opts o;
    char host[256];
    int lfd;
    uint16_t port;
    struct sp_ring *ring;
    char *bufs;
    size_t bufs_map;
    struct io_uring_buf_ring *br;
    size_t br_map;
    struct rl_conn *conns;
    size_t conns_map;
    char *carries; /* max_conns * (max_line + 1), touched only as used */
    size_t carries_map;
    struct sp_io_thread io; /* the I/O thread and its start handshake */
    struct io_uring uring;
    bool accept_armed;
    bool accept_cancelled;    /* a cancel of the accept is in flight */
    uint64_t accept_retry_ns; /* after an accept error: not before this */
    int *waiting;             /* accepted fds waiting for a free slot (a FIFO of wait_cap) */
    uint32_t wait_cap;        /* max_conns + the backlog: a cancel of the accept lags */
    size_t waiting_map;
    uint32_t wait_head, wait_n;
    struct sp_line_sink sink; /* lines into the ring */
};

static bool stopping(const struct sp_listen_receiver *r) {
    return atomic_load_explicit(&r->stop, memory_order_relaxed);
}

static uint64_t ud(uint32_t tag, uint32_t slot, uint32_t gen) {
    return (uint64_t)gen << 32 | (uint64_t)slot << 8 | tag;
}

/* ---- io_uring ---- */

static void recycle(struct sp_listen_receiver *r, unsigned bid) {
    io_uring_buf_ring_add(r->br, r->bufs + (size_t)bid * r->o.buf_size, r->o.buf_size,
                          (unsigned short)bid, io_uring_buf_ring_mask(r->o.buf_count), 0);
    io_uring_buf_ring_advance(r->br, 1);
}

static struct io_uring_sqe *sqe_get(struct sp_listen_receiver *r) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->uring);
    if (sqe == NULL) { /* full: submit what is queued and try again */
        io_uring_submit(&r->uring);
        sqe = io_uring_get_sqe(&r->uring);
    }
    return sqe;
}

static bool arm_accept(struct sp_listen_receiver *r) {
    struct io_uring_sqe *sqe = sqe_get(r);
    if (sqe == NULL)
        return false;
    io_uring_prep_multishot_accept(sqe, r->lfd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, ud(RL_ACCEPT, 0, 0));
    r->accept_armed = true;
    return true;
}

static bool arm_recv(struct sp_listen_receiver *r, uint32_t slot) {
    struct rl_conn *c = &r->conns[slot];
    struct io_uring_sqe *sqe = sqe_get(r);
    c->rearm = sqe == NULL; /* no SQE now (a full CQ makes submit fail): later, never dropped */
    if (sqe == NULL)
        return false;
    io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = RL_BGID;
    io_uring_sqe_set_data64(sqe, ud(RL_RECV, slot, c->gen));
    c->armed = true;
    return true;
}

static void close_conn(struct rl_conn *c) {
    if (c->open)
        close(c->fd);
    c->open = false;
    c->rearm = false;
    c->fd = -1;
    sp_framer_reset(&c->framer);
}

/* Give fd a free slot and start receiving; false when every slot is busy. */
static bool place_conn(struct sp_listen_receiver *r, int fd) {
    for (uint32_t s = 0; s < r->o.max_conns; s++) {
        struct rl_conn *c = &r->conns[s];
        if (c->open || c->armed)
            continue;
        c->fd = fd;
        c->open = true;
        c->gen++;
        sp_framer_reset(&c->framer);
        arm_recv(r, s); /* or owed: rearm_all */
        return true;
    }
    return false;
}

/* A slot was freed: the oldest waiting connection takes it. */
static void place_waiting(struct sp_listen_receiver *r) {
    while (r->wait_n > 0 && !stopping(r)) {
        int fd = r->waiting[r->wait_head];
        if (!place_conn(r, fd))
            return;
        r->wait_head = (r->wait_head + 1) % r->wait_cap;
        r->wait_n--;
    }
}

/*
 * Every slot busy: the connection waits (its producer's sends fill the
 * socket buffer and block, as TCP flow control has it); once half as many
 * wait as there are slots, the multishot accept is cancelled (the kernel's
 * backlog holds the rest) until slots free up. The cancel lags: the FIFO has
 * room for the whole backlog besides, so a connection is never closed
 * unread and nothing sent is lost.
 */
static void on_accept(struct sp_listen_receiver *r, const struct io_uring_cqe *cqe) {
    if (!(cqe->flags & IORING_CQE_F_MORE)) {
        r->accept_armed = false;
        r->accept_cancelled = false;
    }
    if (cqe->res < 0) {
        if (cqe->res != -ECANCELED) /* out of fds, say: wait a little before trying again */
            r->accept_retry_ns = sp_io_now_ns() + 10000000u;
        return;
    }
    int fd = cqe->res;
    if (stopping(r)) {
        close(fd);
        return;
    }
    atomic_fetch_add(&r->stats.accepted, 1);
    if (r->wait_n == 0 && place_conn(r, fd))
        return;
    if (r->wait_n == r->wait_cap) { /* beyond the backlog: cannot happen, kept safe */
        close(fd);
        atomic_fetch_add(&r->stats.refused, 1);
        return;
    }
    r->waiting[(r->wait_head + r->wait_n) % r->wait_cap] = fd;
    r->wait_n++;
    if (r->wait_n * 2 >= r->o.max_conns && r->accept_armed && !r->accept_cancelled) {
        struct io_uring_sqe *sqe = sqe_get(r);
        if (sqe != NULL) {
            io_uring_prep_cancel64(sqe, ud(RL_ACCEPT, 0, 0), 0);
            io_uring_sqe_set_data64(sqe, ud(RL_CANCEL, 0, 0));
            r->accept_cancelled = true;
        }
    }
}

/* A recv completion that is not read (stopping): its buffer goes back, its end is noted. */
static void abandon_recv(struct sp_listen_receiver *r, const struct io_uring_cqe *cqe) {
    uint32_t slot = (uint32_t)(cqe->user_data >> 8) & 0xffffffu;
    if (cqe->flags & IORING_CQE_F_BUFFER)
        recycle(r, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
    if (slot < r->o.max_conns && !(cqe->flags & IORING_CQE_F_MORE) &&
        r->conns[slot].gen == (uint32_t)(cqe->user_data >> 32))
        r->conns[slot].armed = false;
}

/* A recv completion. Returns -ECANCELED when stopped while the ring was full. */
static int on_recv(struct sp_listen_receiver *r, const struct io_uring_cqe *cqe) {
    uint32_t slot = (uint32_t)(cqe->user_data >> 8) & 0xffffffu;
    uint32_t gen = (uint32_t)(cqe->user_data >> 32);
    int rc = 0;
    if (slot >= r->o.max_conns) {
        if (cqe->flags & IORING_CQE_F_BUFFER)
            recycle(r, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
        return 0;
    }
    struct rl_conn *c = &r->conns[slot];
    bool current = c->gen == gen;
    if (cqe->flags & IORING_CQE_F_BUFFER) {
        unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        if (current && c->open && cqe->res > 0) {
            atomic_fetch_add_explicit(&r->stats.bytes, (uint64_t)cqe->res, memory_order_relaxed);
            rc = sp_framer_consume(&c->framer, r->bufs + (size_t)bid * r->o.buf_size,
                                   (size_t)cqe->res);
        }
        recycle(r, bid);
    }
    if (!current || (cqe->flags & IORING_CQE_F_MORE))
        return rc;
    c->armed = false;
    if (rc != 0)
        return rc;
    if (cqe->res == 0) { /* EOF: the last line, then the slot is free */
        rc = sp_framer_finish(&c->framer);
        close_conn(c);
    } else if ((cqe->res > 0 || cqe->res == -ENOBUFS) && !stopping(r)) {
        arm_recv(r, slot); /* or owed: rearm_all */
    } else {
        close_conn(c); /* broken (or stopping): its partial line is lost */
    }
    return rc;
}

/* Arm the recvs owed (slots whose arming found no free SQE). */
static void rearm_all(struct sp_listen_receiver *r) {
    for (uint32_t s = 0; s < r->o.max_conns && !stopping(r); s++)
        if (r->conns[s].rearm && r->conns[s].open && !r->conns[s].armed)
            arm_recv(r, s);
}

static void run(struct sp_listen_receiver *r) {
    struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = RL_POLL_MS * 1000000L};
    arm_accept(r);
    io_uring_submit(&r->uring);
    while (!stopping(r)) {
        struct io_uring_cqe *cqe;
        int ret = io_uring_submit_and_wait_timeout(&r->uring, &cqe, 1, &ts, NULL);
        if (ret == -ETIME || ret == -EINTR) {
            rearm_all(r);
            if (!r->accept_armed && r->wait_n * 2 < r->o.max_conns &&
                sp_io_now_ns() >= r->accept_retry_ns)
                arm_accept(r);
            continue;
        }
        if (ret < 0 && ret != -EBUSY)
            break;
        unsigned head, n = 0;
        int rc = 0;
        io_uring_for_each_cqe(&r->uring, head, cqe) {
            uint32_t tag = (uint32_t)(cqe->user_data & 0xffu);
            if (tag == RL_ACCEPT)
                on_accept(r, cqe);
            else if (tag == RL_RECV && rc == 0)
                rc = on_recv(r, cqe);
            else if (tag == RL_RECV)
                abandon_recv(r, cqe); /* stopping on a full ring: the rest goes back */
            n++;
        }
        io_uring_cq_advance(&r->uring, n);
        sp_sink_publish(&r->sink);
        rearm_all(r);
        place_waiting(r);
        if (!r->accept_armed && r->wait_n * 2 < r->o.max_conns && !stopping(r) &&
            sp_io_now_ns() >= r->accept_retry_ns)
            arm_accept(r);
    }
    /* Stop: end every request (shut the sockets), reap, close. */
    shutdown(r->lfd, SHUT_RDWR);
    struct io_uring_sqe *sqe = sqe_get(r);
    if (sqe != NULL) {
        io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
        io_uring_sqe_set_data64(sqe, ud(RL_CANCEL, 0, 0));
    }
    for (uint32_t s = 0; s < r->o.max_conns; s++)
        if (r->conns[s].open)
            shutdown(r->conns[s].fd, SHUT_RDWR);
    io_uring_submit(&r->uring);
    for (int empty = 0; empty < RL_REAP_TRIES;) {
        bool busy = r->accept_armed;
        for (uint32_t s = 0; s < r->o.max_conns && !busy; s++)
            busy = r->conns[s].armed;
        if (!busy)
            break;
        struct io_uring_cqe *cqe;
        int ret = io_uring_wait_cqe_timeout(&r->uring, &cqe, &ts);
        if (ret == -ETIME || ret == -EINTR) {
            empty++;
            continue;
        }
        if (ret < 0)
            break;
        uint32_t tag = (uint32_t)(cqe->user_data & 0xffu);
        if (tag == RL_ACCEPT) {
            if (!(cqe->flags & IORING_CQE_F_MORE))
                r->accept_armed = false;
            if (cqe->res >= 0)
                close(cqe->res);
        } else if (tag == RL_RECV) {
            uint32_t slot = (uint32_t)(cqe->user_data >> 8) & 0xffffffu;
            if (cqe->flags & IORING_CQE_F_BUFFER)
                recycle(r, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
            if (slot < r->o.max_conns && !(cqe->flags & IORING_CQE_F_MORE) &&
                r->conns[slot].gen == (uint32_t)(cqe->user_data >> 32))
                r->conns[slot].armed = false;
        }
        io_uring_cqe_seen(&r->uring, cqe);
    }
    sp_sink_publish(&r->sink);
    for (uint32_t s = 0; s < r->o.max_conns; s++)
        close_conn(&r->conns[s]);
    for (; r->wait_n > 0; r->wait_n--, r->wait_head = (r->wait_head + 1) % r->wait_cap)
        close(r->waiting[r->wait_head]);
}

static int uring_setup(struct sp_listen_receiver *r) {
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE |
              IORING_SETUP_CLAMP;
    p.cq_entries = 8 * (r->o.buf_count + r->o.max_conns) + 256;
    int rc = io_uring_queue_init_params(64, &r->uring, &p);
    if (rc == -EINVAL) {
        memset(&p, 0, sizeof(p));
        p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
        p.cq_entries = 8 * (r->o.buf_count + r->o.max_conns) + 256;
        rc = io_uring_queue_init_params(64, &r->uring, &p);
    }
    if (rc < 0) {
        snprintf(r->io.init_msg, sizeof(r->io.init_msg), "io_uring unavailable: %s", strerror(-rc));
        return rc;
    }
    rc = sp_bufring_register(&r->uring, r->br, r->bufs, r->o.buf_size, r->o.buf_count, RL_BGID);
    if (rc < 0) {
        snprintf(r->io.init_msg, sizeof(r->io.init_msg),
                 "cannot register provided buffer ring: %s (spate needs Linux 6.0 or later)",
                 strerror(-rc));
        io_uring_queue_exit(&r->uring);
    }
    return rc;
}

static void *rl_main(void *arg) {
    struct sp_listen_receiver *r = arg;
    pthread_setname_np(pthread_self(), "spate-lsn");
    int rc = uring_setup(r);
    sp_io_thread_ready(&r->io, rc);
    if (rc < 0)
        return NULL;
    run(r);
    io_uring_unregister_buf_ring(&r->uring, RL_BGID);
    io_uring_queue_exit(&r->uring);
    return NULL;
}

int sp_listen_receiver_create(const struct sp_listen_receiver_opts *opts,
                              struct sp_listen_receiver **out, char *errbuf, size_t errlen) {
    *out = NULL;
    struct sp_listen_receiver_opts o = *opts;
    o.max_conns = o.max_conns ? o.max_conns : 256;
    o.max_line = o.max_line ? o.max_line : 64u << 10;
    if (o.max_line < o.record_bytes) /* the carry holds a record */
        o.max_line = o.record_bytes;
    o.ring_bytes = o.ring_bytes ? o.ring_bytes : 4u << 20;
    o.buf_size = o.buf_size ? o.buf_size : 64u << 10;
    o.buf_count = o.buf_count ? o.buf_count : 64;
    if (o.max_conns > (1u << 16) || (o.buf_count & (o.buf_count - 1)) != 0 || o.buf_count > 32768 ||
        o.ring_bytes < 2 * (o.max_line + 1)) {
        snprintf(errbuf, errlen,
                 "socket_listen_stream: up to 65536 connections, a power of two of buffers "
                 "(<= 32768), a ring of at least two lines");
        return -EINVAL;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char port[8];
    snprintf(port, sizeof(port), "%u", o.port);
    int gai = getaddrinfo(o.host, port, &hints, &res);
    if (gai != 0) {
        snprintf(errbuf, errlen, "cannot resolve '%s': %s", o.host ? o.host : "",
                 gai_strerror(gai));
        return -EINVAL;
    }
    int lfd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(lfd, res->ai_addr, res->ai_addrlen) != 0 || listen(lfd, RL_BACKLOG) != 0) {
        int e = errno;
        snprintf(errbuf, errlen, "cannot listen on %s:%u: %s", o.host ? o.host : "", o.port,
                 strerror(e));
        if (lfd >= 0)
            close(lfd);
        freeaddrinfo(res);
        return -e;
    }
    freeaddrinfo(res);
    struct sockaddr_storage sa;
    socklen_t sl = sizeof(sa);
    getsockname(lfd, (struct sockaddr *)&sa, &sl);
    struct sp_listen_receiver *r = sp_io_map(sizeof(*r));
    if (r == NULL) {
        close(lfd);
        snprintf(errbuf, errlen, "out of memory");
        return -ENOMEM;
    }
    r->o = o;
    r->lfd = lfd;
    r->port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                             : ((struct sockaddr_in *)&sa)->sin_port);
    r->bufs_map = (size_t)o.buf_size * o.buf_count;
    r->br_map = sizeof(struct io_uring_buf) * o.buf_count;
    r->conns_map = sizeof(struct rl_conn) * o.max_conns;
    r->carries_map = (size_t)(o.max_line + 1) * o.max_conns;
    r->wait_cap = o.max_conns + RL_BACKLOG + 64;
    r->waiting_map = sizeof(int) * r->wait_cap;
    r->bufs = sp_io_map(r->bufs_map);
    r->br = sp_io_map(r->br_map);
    r->conns = sp_io_map(r->conns_map);
    r->carries = sp_io_map(r->carries_map);
    r->waiting = sp_io_map(r->waiting_map);
    if (r->bufs == NULL || r->br == NULL || r->conns == NULL || r->carries == NULL ||
        r->waiting == NULL || sp_ring_create(o.ring_bytes, &r->ring) != 0) {
        sp_listen_receiver_destroy(r);
        snprintf(errbuf, errlen, "out of memory");
        return -ENOMEM;
    }
    sp_sink_init(&r->sink, r->ring, o.max_records_per_second, &r->stop, &r->stats.lines,
                 &r->stats.blocked_ns);
    for (uint32_t s = 0; s < o.max_conns; s++) {
        r->conns[s].fd = -1;
        char *carry = r->carries + (size_t)s * (o.max_line + 1);
        if (o.record_bytes > 0)
            sp_framer_init_records(&r->conns[s].framer, carry, o.record_bytes, o.max_line,
                                   &r->stats.malformed, sp_sink_emit, &r->sink);
        else
            sp_framer_init(&r->conns[s].framer, carry, o.max_line, &r->stats.malformed,
                           sp_sink_emit, &r->sink);
    }
    *out = r;
    return 0;
}

int sp_listen_receiver_start(struct sp_listen_receiver *r, char *errbuf, size_t errlen) {
    return sp_io_thread_start(&r->io, rl_main, r, errbuf, errlen);
}

void sp_listen_receiver_stop(struct sp_listen_receiver *r) {
    if (r != NULL)
        sp_io_thread_stop(&r->io, &r->stop);
}

void sp_listen_receiver_destroy(struct sp_listen_receiver *r) {
    if (r == NULL)
        return;
    sp_listen_receiver_stop(r);
    if (r->lfd >= 0)
        close(r->lfd);
    if (r->ring != NULL)
        sp_ring_destroy(r->ring);
    if (r->bufs != NULL)
        munmap(r->bufs, r->bufs_map);
    if (r->br != NULL)
        munmap(r->br, r->br_map);
    if (r->conns != NULL)
        munmap(r->conns, r->conns_map);
    if (r->carries != NULL)
        munmap(r->carries, r->carries_map);
    if (r->waiting != NULL)
        munmap(r->waiting, r->waiting_map);
    munmap(r, sizeof(*r));
}

uint16_t sp_listen_receiver_port(const struct sp_listen_receiver *r) {
    return r->port;
}

struct sp_ring *sp_listen_receiver_ring(struct sp_listen_receiver *r) {
    return r->ring;
}

const struct sp_listen_receiver_stats *
sp_listen_receiver_stats(const struct sp_listen_receiver *r) {
    return &r->stats;
}
