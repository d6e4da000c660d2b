/*
 * io/receiver_generator.h - a built-in source: text lines of Zipf-distributed
 * words made on their own thread into an sp_ring, like a receiver would
 * write what it read. Deterministic from the seed, at a target rate (open
 * loop: the schedule is kept whatever was late) or as fast as the ring is
 * drained; a full ring makes the thread wait (backpressure), never drop.
 */
#ifndef SP_RECEIVER_GENERATOR_H
#define SP_RECEIVER_GENERATOR_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sp_ring;
struct sp_gen_receiver;

struct sp_gen_receiver_opts {
    uint32_t vocabulary; /* distinct words (>= 1) */
    uint32_t min_words;  /* words per line, at least 1 */
    uint32_t max_words;  /* at most 64 */
    uint64_t rate;       /* lines per second; 0 = as fast as possible */
    uint64_t max_lines;  /* stop after this many lines; 0 = never */
    uint64_t seed;
    uint32_t ring_bytes; /* capacity of the line ring */
};

struct sp_gen_receiver_stats {
    _Atomic uint64_t lines;      /* lines published */
    _Atomic uint64_t words;      /* words in them */
    _Atomic uint64_t bytes;      /* bytes in them, '\n' included */
    _Atomic uint64_t blocked_ns; /* time spent waiting for ring space */
};

/* Build the vocabulary and the ring. Returns 0 or -errno (message in errbuf). */
int sp_gen_receiver_create(const struct sp_gen_receiver_opts *opts, struct sp_gen_receiver **out,
                           char *errbuf, size_t errlen);
/* Start the thread. Returns 0 or -errno. */
int sp_gen_receiver_start(struct sp_gen_receiver *g, char *errbuf, size_t errlen);
/* Stop and join the thread; published lines stay in the ring. Safe twice. */
void sp_gen_receiver_stop(struct sp_gen_receiver *g);
/* Stop if needed and free everything. NULL: nothing. */
void sp_gen_receiver_destroy(struct sp_gen_receiver *g);
struct sp_ring *sp_gen_receiver_ring(struct sp_gen_receiver *g);
const struct sp_gen_receiver_stats *sp_gen_receiver_stats(const struct sp_gen_receiver *g);

#endif /* SP_RECEIVER_GENERATOR_H */
