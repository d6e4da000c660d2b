/*
 * io/receiver_socket.h - Spark's socketTextStream receiver on io_uring.
 *
 * One I/O thread per receiver owns its io_uring. It connects to host:port
 * (reconnecting with exponential backoff when the server is not up or goes
 * away), reads with multishot recv into a provided buffer ring, cuts lines at
 * '\n' and copies complete lines, each still ending in '\n', into an
 * sp_ring. So every published ring position is a line boundary and the batch
 * clock can cut there. A partial line waits in a carry buffer until its end
 * arrives (or the connection closes: then it is published with a '\n'
 * added, as readLine() does at EOF). Lines longer than max_line bytes are
 * counted as malformed and skipped without losing the lines around them.
 * When the ring is full the thread stops reading, so the socket buffer fills
 * and TCP flow control pushes back on the sender: nothing is dropped.
 */
#ifndef SP_RECEIVER_SOCKET_H
#define SP_RECEIVER_SOCKET_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sp_ring;
struct sp_socket_receiver;

struct sp_socket_receiver_opts {
    const char *host; /* numeric address or name (resolved at create) */
    uint16_t port;
    uint32_t max_line;   /* longest accepted line, without its '\n' ("\r" counts) */
    uint32_t ring_bytes; /* capacity of the line ring */
    uint32_t buf_size;   /* provided buffer size */
    uint32_t buf_count;  /* provided buffers (power of two) */
    uint32_t reconnect_min_ms;
    uint32_t reconnect_max_ms;
    bool quiet;                      /* no log lines on stderr */
    const char *name;                /* for log lines and the thread name */
    uint64_t max_records_per_second; /* 0: no limit (io/rate.h) */
    uint32_t record_bytes; /* > 0: fixed-width binary records (max_line >= record_bytes) */
};

/* Counters, written by the I/O thread, read by anyone (relaxed atomics). */
struct sp_socket_receiver_stats {
    _Atomic uint64_t bytes;      /* bytes received from the socket */
    _Atomic uint64_t lines;      /* lines published to the ring */
    _Atomic uint64_t malformed;  /* over-long lines skipped */
    _Atomic uint64_t connects;   /* successful connects (the first included) */
    _Atomic uint64_t blocked_ns; /* time spent waiting for ring space */
};

/*
 * Resolve the host, create the ring and set up io_uring (to fail early and
 * clearly when io_uring is unavailable). Nothing runs yet.
 * Returns 0 or -errno with a message in errbuf: -EINVAL (bad host/options),
 * -ENOSYS/-EPERM (io_uring unavailable: the message says so), -ENOMEM.
 */
int sp_socket_receiver_create(const struct sp_socket_receiver_opts *opts,
                              struct sp_socket_receiver **out, char *errbuf, size_t errlen);

/* Start the I/O thread. Returns 0 or -errno (message in errbuf). */
int sp_socket_receiver_start(struct sp_socket_receiver *r, char *errbuf, size_t errlen);

/*
 * Stop reading: the thread cancels and reaps every request, closes the
 * socket and exits; joined before return. Lines already published stay in
 * the ring for the consumer. Safe to call twice or without start.
 */
void sp_socket_receiver_stop(struct sp_socket_receiver *r);

/* Stop if needed and free everything (ring, io_uring, fds). NULL: nothing. */
void sp_socket_receiver_destroy(struct sp_socket_receiver *r);

/* The ring the receiver fills (consumer side is the caller's). */
struct sp_ring *sp_socket_receiver_ring(struct sp_socket_receiver *r);

/* The receiver's counters. */
const struct sp_socket_receiver_stats *sp_socket_receiver_stats(const struct sp_socket_receiver *r);

#endif /* SP_RECEIVER_SOCKET_H */
