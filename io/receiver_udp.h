/*
 * io/receiver_udp.h - a UDP receiver: every datagram is one or more lines.
 *
 * One I/O thread ("spate-udp") owns an io_uring with one multishot recvmsg
 * on the bound socket, picking provided buffers of buf_size bytes (64 KiB by
 * default: any datagram fits), so each completion is one datagram; one that
 * did not fit (MSG_TRUNC) is dropped whole and counted as malformed. Small
 * buffers suit small datagrams: less memory to cycle through per datagram. Its lines are cut as
 * the other receivers cut them, a last line without '\n' ending with the
 * datagram. A full ring holds the thread; UDP has no flow control, so what
 * overflows the socket's receive buffer meanwhile is lost, as UDP loses it
 * (the kernel's drop counter is the one to watch).
 */
#ifndef SP_RECEIVER_UDP_H
#define SP_RECEIVER_UDP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sp_ring;
struct sp_udp_receiver;

struct sp_udp_receiver_opts {
    const char *host;
    uint16_t port; /* 0: any free port */
    uint32_t max_line;
    uint32_t ring_bytes;
    uint32_t buf_count;              /* provided buffers, a power of two (default 64) */
    uint32_t buf_size;               /* bytes each (default 64 KiB), at least 256 */
    uint64_t max_records_per_second; /* 0: no limit (io/rate.h) */
    uint32_t record_bytes; /* > 0: datagrams of fixed-width binary records (<= max_line) */
};

struct sp_udp_receiver_stats {
    _Atomic uint64_t datagrams;
    _Atomic uint64_t lines;
    _Atomic uint64_t bytes;
    _Atomic uint64_t malformed;
    _Atomic uint64_t blocked_ns;
};

int sp_udp_receiver_create(const struct sp_udp_receiver_opts *opts, struct sp_udp_receiver **out,
                           char *errbuf, size_t errlen);
int sp_udp_receiver_start(struct sp_udp_receiver *r, char *errbuf, size_t errlen);
void sp_udp_receiver_stop(struct sp_udp_receiver *r);
void sp_udp_receiver_destroy(struct sp_udp_receiver *r);
uint16_t sp_udp_receiver_port(const struct sp_udp_receiver *r);
struct sp_ring *sp_udp_receiver_ring(struct sp_udp_receiver *r);
const struct sp_udp_receiver_stats *sp_udp_receiver_stats(const struct sp_udp_receiver *r);

#endif /* SP_RECEIVER_UDP_H */
