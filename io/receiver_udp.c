/*
 * io/receiver_udp.c - datagrams of lines on io_uring (see receiver_udp.h).
 *
 * Invariants: a provided buffer returns to the ring once its datagram was
 * framed; every published ring position is a line boundary; all memory
 * comes from mmap (io/ never uses the C heap).
 */
#include "io/receiver_udp.h"

#include <arpa/inet.h>
#include <errno.h>
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

#define RU_BGID 11
#define RU_BUF (64u << 10) /* default buffer: the largest datagram and its header fit */
#define RU_BUF_MIN 256u
#define RU_POLL_MS 20
#define RU_REAP_TRIES 50

struct sp_udp_receiver {
    struct sp_udp_receiver_stats stats;
    _Atomic bool stop;
    struct sp_udp_receiver_opts o;
    int fd;
    uint16_t port;
    struct sp_ring *ring;
    char *bufs;
    size_t bufs_map;
    struct io_uring_buf_ring *br;
    size_t br_map;
    char *carry;
    struct sp_line_framer framer;
    struct sp_io_thread io; /* the I/O thread and its start handshake */
    struct io_uring uring;
    bool armed;
    struct sp_line_sink sink; /* lines into the ring */
    struct msghdr msg;        /* recvmsg's layout: no name, no control data */
};

static bool stopping(const struct sp_udp_receiver *r) {
    return atomic_load_explicit(&r->stop, memory_order_relaxed);
}

static void recycle(struct sp_udp_receiver *r, unsigned bid) {
    io_uring_buf_ring_add(r->br, r->bufs + (size_t)bid * r->o.buf_size, r->o.buf_size,
                          (unsigned short)bid, io_uring_buf_ring_mask(r->o.buf_count), 0);
    io_uring_buf_ring_advance(r->br, 1);
}

static bool arm(struct sp_udp_receiver *r) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->uring);
    if (sqe == NULL)
        return false;
    io_uring_prep_recvmsg_multishot(sqe, r->fd, &r->msg, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = RU_BGID;
    io_uring_sqe_set_data64(sqe, 1);
    r->armed = true;
    return true;
}

static void run(struct sp_udp_receiver *r) {
    struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = RU_POLL_MS * 1000000L};
    arm(r);
    while (!stopping(r)) {
        struct io_uring_cqe *cqe;
        int ret = io_uring_submit_and_wait_timeout(&r->uring, &cqe, 1, &ts, NULL);
        if (ret == -ETIME || ret == -EINTR) {
            if (!r->armed)
                arm(r);
            continue;
        }
        if (ret < 0 && ret != -EBUSY) /* EBUSY: the CQ is full; reap it below */
            break;
        unsigned head, n = 0;
        bool cancelled = false;
        io_uring_for_each_cqe(&r->uring, head, cqe) {
            n++;
            if (cqe->user_data != 1)
                continue;
            if (cqe->flags & IORING_CQE_F_BUFFER) {
                unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
                char *buf = r->bufs + (size_t)bid * r->o.buf_size;
                struct io_uring_recvmsg_out *out =
                    cqe->res > 0 ? io_uring_recvmsg_validate(buf, cqe->res, &r->msg) : NULL;
                if (out != NULL && !cancelled) {
                    atomic_fetch_add_explicit(&r->stats.bytes, out->payloadlen,
                                              memory_order_relaxed);
                    atomic_fetch_add_explicit(&r->stats.datagrams, 1, memory_order_relaxed);
                    if (out->flags & MSG_TRUNC) { /* longer than a buffer: its end is lost */
                        atomic_fetch_add_explicit(&r->stats.malformed, 1, memory_order_relaxed);
                    } else {
                        /* One datagram, lines whole: its last line ends with it (records:
                         * a remainder shorter than a record is malformed). */
                        int rc = sp_framer_consume(
                            &r->framer, io_uring_recvmsg_payload(out, &r->msg),
                            io_uring_recvmsg_payload_length(out, cqe->res, &r->msg));
                        if (rc == 0)
                            rc = sp_framer_finish(&r->framer);
                        cancelled = rc != 0;
                    }
                }
                recycle(r, bid);
            }
            if (!(cqe->flags & IORING_CQE_F_MORE))
                r->armed = false;
        }
        io_uring_cq_advance(&r->uring, n);
        sp_sink_publish(&r->sink);
        if (!r->armed && !stopping(r))
            arm(r);
    }
    struct io_uring_sqe *sqe = r->armed ? io_uring_get_sqe(&r->uring) : NULL;
    if (sqe != NULL) {
        io_uring_prep_cancel64(sqe, 1, 0);
        io_uring_sqe_set_data64(sqe, 2);
        io_uring_submit(&r->uring);
    }
    for (int empty = 0; r->armed && empty < RU_REAP_TRIES;) {
        struct io_uring_cqe *cqe;
        int ret = io_uring_wait_cqe_timeout(&r->uring, &cqe, &ts);
        if (ret == -ETIME || ret == -EINTR) {
            empty++;
            continue;
        }
        if (ret < 0)
            break;
        if (cqe->user_data == 1) {
            if (cqe->flags & IORING_CQE_F_BUFFER)
                recycle(r, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
            if (!(cqe->flags & IORING_CQE_F_MORE))
                r->armed = false;
        }
        io_uring_cqe_seen(&r->uring, cqe);
    }
    sp_sink_publish(&r->sink);
}

static void *ru_main(void *arg) {
    struct sp_udp_receiver *r = arg;
    pthread_setname_np(pthread_self(), "spate-udp");
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE |
              IORING_SETUP_CLAMP;
    p.cq_entries = 4 * r->o.buf_count + 64;
    int rc = io_uring_queue_init_params(8, &r->uring, &p);
    if (rc == -EINVAL) {
        memset(&p, 0, sizeof(p));
        p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
        p.cq_entries = 4 * r->o.buf_count + 64;
        rc = io_uring_queue_init_params(8, &r->uring, &p);
    }
    if (rc == 0) {
        rc = sp_bufring_register(&r->uring, r->br, r->bufs, r->o.buf_size, r->o.buf_count, RU_BGID);
        if (rc < 0)
            io_uring_queue_exit(&r->uring);
    }
    if (rc < 0)
        snprintf(r->io.init_msg, sizeof(r->io.init_msg), "io_uring unavailable: %s", strerror(-rc));
    sp_io_thread_ready(&r->io, rc);
    if (rc < 0)
        return NULL;
    run(r);
    io_uring_unregister_buf_ring(&r->uring, RU_BGID);
    io_uring_queue_exit(&r->uring);
    return NULL;
}

int sp_udp_receiver_create(const struct sp_udp_receiver_opts *opts, struct sp_udp_receiver **out,
                           char *errbuf, size_t errlen) {
    *out = NULL;
    struct sp_udp_receiver_opts o = *opts;
    o.max_line = o.max_line ? o.max_line : RU_BUF;
    if (o.max_line < o.record_bytes) /* the carry holds a record */
        o.max_line = o.record_bytes;
    o.ring_bytes = o.ring_bytes ? o.ring_bytes : 16u << 20;
    o.buf_count = o.buf_count ? o.buf_count : 64;
    o.buf_size = o.buf_size ? o.buf_size : RU_BUF;
    if ((o.buf_count & (o.buf_count - 1)) != 0 || o.buf_count > 32768 ||
        o.ring_bytes < 2 * (o.max_line + 1) || o.buf_size < RU_BUF_MIN || o.buf_size > (1u << 20)) {
        snprintf(errbuf, errlen,
                 "udp_stream: a power of two of buffers of 256 B to 1 MiB, a ring of two lines");
        return -EINVAL;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char port[8];
    snprintf(port, sizeof(port), "%u", o.port);
    int gai = getaddrinfo(o.host, port, &hints, &res);
    if (gai != 0) {
        snprintf(errbuf, errlen, "cannot resolve '%s': %s", o.host ? o.host : "",
                 gai_strerror(gai));
        return -EINVAL;
    }
    int fd = socket(res->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int rcvbuf = 8 << 20;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0) {
        int e = errno;
        snprintf(errbuf, errlen, "cannot bind %s:%u: %s", o.host ? o.host : "", o.port,
                 strerror(e));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return -e;
    }
    freeaddrinfo(res);
    struct sockaddr_storage sa;
    socklen_t sl = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    struct sp_udp_receiver *r = sp_io_map(sizeof(*r));
    if (r == NULL) {
        close(fd);
        snprintf(errbuf, errlen, "out of memory");
        return -ENOMEM;
    }
    r->o = o;
    r->fd = fd;
    r->port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                             : ((struct sockaddr_in *)&sa)->sin_port);
    r->bufs_map = (size_t)o.buf_size * o.buf_count;
    r->br_map = sizeof(struct io_uring_buf) * o.buf_count;
    r->bufs = sp_io_map(r->bufs_map);
    r->br = sp_io_map(r->br_map);
    r->carry = sp_io_map((size_t)o.max_line + 1);
    if (r->bufs == NULL || r->br == NULL || r->carry == NULL ||
        sp_ring_create(o.ring_bytes, &r->ring) != 0) {
        sp_udp_receiver_destroy(r);
        snprintf(errbuf, errlen, "out of memory");
        return -ENOMEM;
    }
    sp_sink_init(&r->sink, r->ring, o.max_records_per_second, &r->stop, &r->stats.lines,
                 &r->stats.blocked_ns);
    if (o.record_bytes > 0)
        sp_framer_init_records(&r->framer, r->carry, o.record_bytes, o.max_line,
                               &r->stats.malformed, sp_sink_emit, &r->sink);
    else
        sp_framer_init(&r->framer, r->carry, o.max_line, &r->stats.malformed, sp_sink_emit,
                       &r->sink);
    *out = r;
    return 0;
}

int sp_udp_receiver_start(struct sp_udp_receiver *r, char *errbuf, size_t errlen) {
    return sp_io_thread_start(&r->io, ru_main, r, errbuf, errlen);
}

void sp_udp_receiver_stop(struct sp_udp_receiver *r) {
    if (r != NULL)
        sp_io_thread_stop(&r->io, &r->stop);
}

void sp_udp_receiver_destroy(struct sp_udp_receiver *r) {
    if (r == NULL)
        return;
    sp_udp_receiver_stop(r);
    if (r->fd >= 0)
        close(r->fd);
    if (r->ring != NULL)
        sp_ring_destroy(r->ring);
    if (r->bufs != NULL)
        munmap(r->bufs, r->bufs_map);
    if (r->br != NULL)
        munmap(r->br, r->br_map);
    if (r->carry != NULL)
        munmap(r->carry, (size_t)r->o.max_line + 1);
    munmap(r, sizeof(*r));
}

uint16_t sp_udp_receiver_port(const struct sp_udp_receiver *r) {
    return r->port;
}

struct sp_ring *sp_udp_receiver_ring(struct sp_udp_receiver *r) {
    return r->ring;
}

const struct sp_udp_receiver_stats *sp_udp_receiver_stats(const struct sp_udp_receiver *r) {
    return &r->stats;
}
