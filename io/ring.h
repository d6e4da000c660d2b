/*
 * io/ring.h - single-producer/single-consumer byte ring, double-mapped.
 *
 * The ring's pages are mapped twice back to back, so any range of up to
 * capacity bytes starting anywhere is contiguous in memory: records never
 * wrap and the consumer can read a whole batch in place. Head and tail are
 * free-running uint32_t counters (liburing's arithmetic: capacity is a power
 * of two, position & mask), each on its own cache line.
 *
 * The producer writes at sp_ring_write_ptr() and publishes with
 * sp_ring_publish (release store of tail); the consumer reads up to
 * sp_ring_tail() (acquire) and frees with sp_ring_release (release store of
 * head). A full ring is the backpressure signal: the producer waits.
 *
 * Arrival marks: a publish at least one mark step after the last mark notes
 * (position, arrival time) in a small SPSC array beside the ring, so the
 * consumer can tell when each byte range arrived (sp_ring_arrivals). The
 * step is SP_RING_MARK_NS while the array is under 1/8 full and doubles with
 * each further eighth (up to 128 times at the end), so marks last for many
 * seconds of steady input whatever the batch interval. A byte is dated by
 * the last mark at or before it: never later than its arrival, at most a
 * step earlier (more when the marks are full), so latencies derived from
 * marks err long.
 */
#ifndef SP_RING_H
#define SP_RING_H

#include <stdint.h>
#include <stddef.h>

struct sp_ring;

/* Create a ring of at least capacity bytes (rounded up to a power of two and
 * the page size; at most 1 GiB). Returns 0 or -errno. */
int sp_ring_create(uint32_t capacity, struct sp_ring **out);
/* Unmap and free. NULL: nothing. */
void sp_ring_destroy(struct sp_ring *ring);
uint32_t sp_ring_capacity(const struct sp_ring *ring);

/* ---- Producer side ---- */
/* Bytes the producer may write now. */
uint32_t sp_ring_free_space(const struct sp_ring *ring);
/* Where the next byte goes; free_space bytes are contiguous from here. */
char *sp_ring_write_ptr(struct sp_ring *ring);
/* Make n written bytes visible to the consumer (they arrived now). */
void sp_ring_publish(struct sp_ring *ring, uint32_t n);
/* The same for bytes whose first one arrived at arrival_ns (CLOCK_MONOTONIC, not in the
 * future): a receiver that waited for room or for its rate limit, or an open-loop source
 * whose records were due then, dates them so that the wait counts as latency. */
void sp_ring_publish_at(struct sp_ring *ring, uint32_t n, int64_t arrival_ns);

/* ---- Consumer side ---- */
/* So many units (ring bytes, rows) and when they arrived (CLOCK_MONOTONIC ns). */
struct sp_ring_arrival {
    int64_t t_ns;
    uint64_t units;
};
/* Append (t_ns, units) to out[0, *n) (room for max): when full, neighbours merge pairwise
 * first, each pair taking the earlier of its times. units == 0: nothing. */
void sp_arrivals_add(struct sp_ring_arrival *out, uint32_t *n, uint32_t max, int64_t t_ns,
                     uint64_t units);
#define SP_RING_MARKS 8192u            /* marks held at once (a power of two) */
#define SP_RING_MARK_NS INT64_C(50000) /* the mark step while the marks are under 1/8 full */
/*
 * Date the bytes [start, end): the caller's successive calls cover the ring
 * in order without gaps (start = the previous end). Adds the ranges, in
 * order, to out[0, *n) with sp_arrivals_add. Consumer side, one thread at a
 * time.
 */
void sp_ring_arrivals(struct sp_ring *ring, uint32_t start, uint32_t end,
                      struct sp_ring_arrival *out, uint32_t *n, uint32_t max);
/* Published position (acquire). */
uint32_t sp_ring_tail(const struct sp_ring *ring);
/* Position the consumer has freed up to. */
uint32_t sp_ring_head(const struct sp_ring *ring);
/* Address of the byte at free-running position pos; up to capacity bytes are contiguous from it. */
const char *sp_ring_at(const struct sp_ring *ring, uint32_t pos);
/* Free everything before position pos (head <= pos <= tail). */
void sp_ring_release(struct sp_ring *ring, uint32_t pos);

#endif /* SP_RING_H */
