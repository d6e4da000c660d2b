/*
 * io/sink.c - lines into a receiver's ring, and provided buffer rings (see sink.h).
 */
#include "io/sink.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "io/ring.h"

void *sp_io_map(size_t len) {
    void *p =
        mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

uint64_t sp_io_now_ns(void) {
    return sp_rate_now_ns();
}

void sp_sink_init(struct sp_line_sink *s, struct sp_ring *ring, uint64_t max_records_per_second,
                  const _Atomic bool *stop, _Atomic uint64_t *lines, _Atomic uint64_t *blocked_ns) {
    s->ring = ring;
    s->pending = 0;
    s->pending_lines = 0;
    sp_rate_init(&s->rate, max_records_per_second);
    s->stop = stop;
    s->lines = lines;
    s->blocked_ns = blocked_ns;
}

void sp_sink_publish(struct sp_line_sink *s) {
    if (s->pending == 0)
        return;
    sp_rate_take(&s->rate, s->pending_lines, s->stop, s->blocked_ns);
    atomic_fetch_add_explicit(s->lines, s->pending_lines, memory_order_relaxed);
    sp_ring_publish_at(s->ring, s->pending, s->first_ns); /* the rate limit's wait counts */
    s->pending = 0;
    s->pending_lines = 0;
}

int sp_sink_emit(void *user, const char *a, size_t alen, const char *b, size_t blen,
                 uint32_t lines) {
    struct sp_line_sink *s = user;
    uint32_t need = (uint32_t)(alen + blen);
    /* These bytes arrived now: a wait for room below counts as their latency. */
    int64_t arrived = s->pending == 0 ? (int64_t)sp_io_now_ns() : s->first_ns;
    if (sp_ring_free_space(s->ring) - s->pending < need) {
        sp_sink_publish(s);
        uint64_t t0 = sp_io_now_ns();
        long backoff = 20000;
        while (sp_ring_free_space(s->ring) < need) {
            if (atomic_load_explicit(s->stop, memory_order_relaxed)) {
                atomic_fetch_add(s->blocked_ns, sp_io_now_ns() - t0);
                return -ECANCELED;
            }
            struct timespec ts = {0, backoff};
            nanosleep(&ts, NULL);
            backoff = backoff < 1000000 ? backoff * 2 : backoff;
        }
        atomic_fetch_add(s->blocked_ns, sp_io_now_ns() - t0);
    }
    char *dst = sp_ring_write_ptr(s->ring) + s->pending;
    if (alen > 0)
        memcpy(dst, a, alen);
    memcpy(dst + alen, b, blen);
    if (s->pending == 0)
        s->first_ns = arrived;
    s->pending += need;
    s->pending_lines += lines;
    return 0;
}

int sp_bufring_register(struct io_uring *u, struct io_uring_buf_ring *br, char *bufs, uint32_t size,
                        uint32_t count, int bgid) {
    io_uring_buf_ring_init(br);
    for (uint32_t bid = 0; bid < count; bid++)
        io_uring_buf_ring_add(br, bufs + (size_t)bid * size, size, (unsigned short)bid,
                              io_uring_buf_ring_mask(count), (int)bid);
    io_uring_buf_ring_advance(br, (int)count);
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof(reg));
    reg.ring_addr = (uint64_t)(uintptr_t)br;
    reg.ring_entries = count;
    reg.bgid = (uint16_t)bgid;
    return io_uring_register_buf_ring(u, &reg, 0);
}

int sp_io_thread_start(struct sp_io_thread *t, void *(*fn)(void *), void *arg, char *errbuf,
                       size_t errlen) {
    sem_init(&t->ready, 0, 0);
    int e = pthread_create(&t->thread, NULL, fn, arg);
    if (e != 0) {
        snprintf(errbuf, errlen, "cannot start a thread: %s", strerror(e));
        return -e;
    }
    t->started = true;
    while (sem_wait(&t->ready) != 0 && errno == EINTR) {
    }
    if (t->init_rc < 0) {
        pthread_join(t->thread, NULL);
        t->joined = true;
        snprintf(errbuf, errlen, "%s", t->init_msg);
        return t->init_rc;
    }
    return 0;
}

void sp_io_thread_ready(struct sp_io_thread *t, int rc) {
    t->init_rc = rc;
    sem_post(&t->ready);
}

void sp_io_thread_stop(struct sp_io_thread *t, _Atomic bool *stop) {
    if (!t->started || t->joined)
        return;
    atomic_store(stop, true);
    pthread_join(t->thread, NULL);
    t->joined = true;
}
