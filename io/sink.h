/*
 * io/sink.h - what every line receiver shares: writing whole lines into its
 * sp_ring (waiting on a full ring, which is the backpressure, and on the
 * optional rate limit) and publishing them, and registering a provided
 * buffer ring with io_uring.
 *
 * A receiver keeps one sp_line_sink, hands sp_sink_emit to its framers as
 * their emit callback (with the sink as user) and calls sp_sink_publish
 * after each batch of completions: every published position is then a line
 * boundary.
 */
#ifndef SP_IO_SINK_H
#define SP_IO_SINK_H

#include <liburing.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/rate.h"

struct sp_ring;

struct sp_line_sink {
    struct sp_ring *ring;
    uint32_t pending;       /* bytes written, not yet published */
    uint32_t pending_lines; /* lines in them */
    int64_t first_ns;       /* when the first of them arrived (before any wait for room) */
    struct sp_rate rate;
    const _Atomic bool *stop; /* the receiver's stop flag: waiting ends with -ECANCELED */
    _Atomic uint64_t *lines;  /* the receiver's counters */
    _Atomic uint64_t *blocked_ns;
};

void sp_sink_init(struct sp_line_sink *s, struct sp_ring *ring, uint64_t max_records_per_second,
                  const _Atomic bool *stop, _Atomic uint64_t *lines, _Atomic uint64_t *blocked_ns);
/* Make the lines written so far visible (after the rate limit lets them through). */
void sp_sink_publish(struct sp_line_sink *s);
/* The framers' emit callback (user: the sink). 0, or -ECANCELED when stopped on a full ring. */
int sp_sink_emit(void *user, const char *a, size_t alen, const char *b, size_t blen,
                 uint32_t lines);

/* Fill br with count buffers of size bytes from bufs and register it as group bgid.
 * 0 or -errno. */
int sp_bufring_register(struct io_uring *u, struct io_uring_buf_ring *br, char *bufs, uint32_t size,
                        uint32_t count, int bgid);

/*
 * A receiver's I/O thread with a start handshake: start creates it and waits
 * until the thread reports its set-up (sp_io_thread_ready), so that a set-up
 * failure (io_uring unavailable) is start's error; stop sets the receiver's
 * stop flag and joins, once.
 */
struct sp_io_thread {
    pthread_t thread;
    bool started, joined;
    sem_t ready;
    int init_rc; /* 0 or -errno from the thread's set-up */
    char init_msg[256];
};

/* 0, or -errno with a message (the thread could not start or its set-up failed). */
int sp_io_thread_start(struct sp_io_thread *t, void *(*fn)(void *), void *arg, char *errbuf,
                       size_t errlen);
/* From the thread: its set-up is done with rc (0 or -errno, a message in t->init_msg). */
void sp_io_thread_ready(struct sp_io_thread *t, int rc);
void sp_io_thread_stop(struct sp_io_thread *t, _Atomic bool *stop);

/* Anonymous memory for io/ (which never uses the C heap); NULL on failure. */
void *sp_io_map(size_t len);
uint64_t sp_io_now_ns(void);

#endif /* SP_IO_SINK_H */
