/*
 * io/receiver_listen.h - a TCP server receiver: one listening socket, many
 * producers, each connection framed on its own.
 *
 * One I/O thread ("spate-lsn") owns an io_uring with a multishot accept and
 * one multishot recv per connection, all picking buffers from one provided
 * buffer ring. Each connection has its own line framer (carry buffer), so a
 * line is never spliced from two connections: only complete lines reach the
 * shared sp_ring, in each connection's order. A connection's last line
 * without '\n' ends at its EOF; a connection that breaks loses only its
 * partial line. A full ring holds the thread (and the buffers), so TCP flow
 * control pushes back on every producer; nothing is dropped.
 */
#ifndef SP_RECEIVER_LISTEN_H
#define SP_RECEIVER_LISTEN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sp_ring;
struct sp_listen_receiver;

struct sp_listen_receiver_opts {
    const char *host;                /* address to bind ("0.0.0.0", "127.0.0.1", "::") */
    uint16_t port;                   /* 0: any free port (read it with sp_listen_receiver_port) */
    uint32_t max_conns;              /* connections received at a time (default 256); more wait */
    uint32_t max_line;               /* longer lines are malformed (default 64 KiB) */
    uint32_t ring_bytes;             /* (default 4 MiB) */
    uint32_t buf_size;               /* provided buffer bytes (default 64 KiB) */
    uint32_t buf_count;              /* provided buffers, a power of two (default 64) */
    uint64_t max_records_per_second; /* 0: no limit (io/rate.h) */
    uint32_t record_bytes; /* > 0: fixed-width binary records (max_line >= record_bytes) */
};

struct sp_listen_receiver_stats {
    _Atomic uint64_t accepted;  /* connections accepted */
    _Atomic uint64_t refused;   /* connections closed unread (never, unless the wait overflows) */
    _Atomic uint64_t lines;     /* lines published */
    _Atomic uint64_t bytes;     /* bytes received */
    _Atomic uint64_t malformed; /* over-long lines skipped */
    _Atomic uint64_t blocked_ns;
};

/* Bind and listen (errors such as EADDRINUSE come from here). 0 or -errno with a message. */
int sp_listen_receiver_create(const struct sp_listen_receiver_opts *opts,
                              struct sp_listen_receiver **out, char *errbuf, size_t errlen);
int sp_listen_receiver_start(struct sp_listen_receiver *r, char *errbuf, size_t errlen);
/* Stop accepting and receiving, join; published lines stay in the ring. Safe twice. */
void sp_listen_receiver_stop(struct sp_listen_receiver *r);
void sp_listen_receiver_destroy(struct sp_listen_receiver *r);
uint16_t sp_listen_receiver_port(const struct sp_listen_receiver *r);
struct sp_ring *sp_listen_receiver_ring(struct sp_listen_receiver *r);
const struct sp_listen_receiver_stats *sp_listen_receiver_stats(const struct sp_listen_receiver *r);

#endif /* SP_RECEIVER_LISTEN_H */
