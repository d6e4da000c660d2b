/*
 * engine/input.h - the engine side of input streams.
 *
 * A socket input owns an io/ receiver (created at start) whose ring the
 * batch clock cuts: the job of batch k covers ring positions
 * [cut of k-1, cut of k), released once batch k's outputs are done. A queue
 * input holds batches pushed by the program, each in its own region; the
 * clock takes the oldest one per batch (Spark's oneAtATime).
 */
#ifndef SP_INPUT_H
#define SP_INPUT_H

#include <pthread.h>
#include <stdatomic.h>

#include "engine/batch.h"
#include "io/ring.h"
#include "spate/io.h"

struct sp_socket_receiver;
struct sp_gen_receiver;
struct sp_file_receiver;
struct sp_listen_receiver;
struct sp_udp_receiver;
struct sp_tgen;
struct spate_dstream;
struct sp_input;

/* The handle a program's receiver stores through. */
struct spate_receiver {
    struct sp_input *in;
};

enum sp_input_kind {
    SP_INPUT_SOCKET,
    SP_INPUT_QUEUE,
    SP_INPUT_GENERATOR,
    SP_INPUT_FILES,
    SP_INPUT_LISTEN,
    SP_INPUT_UDP
};

struct sp_queue_item {
    struct sp_queue_item *next;
    struct sp_region region;   /* holds the item, its chunks and string bytes */
    struct spate_batch *batch; /* one partition of chunks */
    uint64_t rows;
    int64_t arrival_ns; /* when it was pushed or stored (monotonic) */
    uint64_t bytes; /* typed generator items: the memory they hold (its bound counts it) */
};

struct sp_input {
    enum sp_input_kind kind;
    struct spate_dstream *ds;
    struct sp_input *next;
    /* socket */
    char host[256];
    uint16_t port;
    struct spate_socket_opts sopts;
    struct sp_socket_receiver *rx; /* from start to stop */
    /* generator */
    struct spate_generator_opts gopts;
    struct sp_gen_receiver *gen; /* from start to destroy */
    uint64_t gen_words;          /* kept after the generator is gone */
    struct sp_tgen *tgen;        /* typed generator: a receiver stream fed by it */
    /* listen (host, port and sopts above) */
    struct sp_listen_receiver *lsn; /* from start to destroy */
    uint16_t bound_port;
    uint64_t accepted;           /* kept after the receiver is gone */
    struct sp_udp_receiver *udp; /* udp (host, port and sopts above), from start to destroy */
    uint64_t datagrams;
    /* files */
    char dir[4096];
    struct spate_file_stream_opts fopts;
    struct sp_file_receiver *files; /* from start to destroy */
    uint64_t files_read;            /* kept after the receiver is gone */
    /* socket, generator and files: the ring the producer fills (NULL when there is none) */
    struct sp_ring *ring;
    uint32_t sealed; /* ring position of the last cut (clock side) */
    /* queue */
    pthread_mutex_t mu;
    struct sp_queue_item *qhead, *qtail; /* under mu */
    bool closed;                         /* under mu: context stopped */
    struct sp_queue_item *constant;      /* constant stream: the rows of every batch */
    /* receiver stream (a queue whose batches take every item stored since the last) */
    bool receiver;
    struct spate_receiver_ops rops;
    struct spate_receiver handle;
    bool rstarted; /* start returned OK */
    bool rstopped; /* under mu: stop was called; stores fail */
    /* counters */
    _Atomic uint64_t records;
    _Atomic uint64_t bytes;
    uint64_t rx_malformed, rx_connects, rx_blocked_ns,
        rx_bytes; /* kept after the receiver is gone */
};

/* What a job took from one input. */
#define SP_CUT_ARRIVALS 64 /* arrival times kept per cut (neighbours merge beyond) */

struct sp_cut {
    uint32_t start, end;        /* socket: ring positions */
    struct sp_queue_item *item; /* queue: the batch taken, or NULL (empty batch); receiver:
                                   every item stored since the last cut, a list by next */
    uint64_t records;           /* rows the batch took from the input (set when it is built) */
    /* When the cut's data arrived, in order: units are ring bytes or rows (no arrivals for a
     * constant stream, whose rows are not new). */
    uint32_t narrivals;
    struct sp_ring_arrival arrivals[SP_CUT_ARRIVALS];
};

/* Start / stop receivers of socket inputs. start: SPATE_OK or EIO/ENOMEM with a message. */
spate_status sp_input_start(struct sp_input *in, const char *ctx_name, struct spate_error *err);
void sp_input_stop(struct sp_input *in);
/* Free what the input holds (receiver, queued items). */
void sp_input_destroy(struct sp_input *in);
/* Seal: what batch k takes from in. Clock side (one thread at a time). */
void sp_input_seal(struct sp_input *in, struct sp_cut *cut);
/* Whether in has data that no cut took yet (graceful stop). */
bool sp_input_pending(struct sp_input *in);
/* After the batch: give the ring space back / free the queue item. */
void sp_input_release(struct sp_input *in, struct sp_cut *cut);
/* Ring memory of a socket input (valid between start and destroy). */
struct sp_ring *sp_input_ring(struct sp_input *in);
/* A ring input's fixed record size (binary records: the ring holds whole records back to
 * back), or 0 for lines and other inputs. */
uint32_t sp_input_record_bytes(const struct sp_input *in);
void sp_queue_item_free(struct sp_queue_item *item);
/* Append item (built by the caller, now owned by in) to a receiver input's queue. Returns
 * SPATE_OK, or ECANCELED (stopped: the item is freed). */
spate_status sp_input_put_item(struct sp_input *in, struct sp_queue_item *item);
/* Free item and every item after it (by next). */
void sp_queue_item_free_list(struct sp_queue_item *item);
/* Copy rows of columns (schema s) into a new item (one partition of chunks) with its own region.
 * Returns SPATE_OK, EINVAL (missing data) or ENOMEM, with what naming the call in messages. */
spate_status sp_queue_item_build(const struct sp_schema *s, const struct spate_column_data *columns,
                                 uint64_t rows, const char *what, struct sp_queue_item **out,
                                 struct spate_error *err);

#endif /* SP_INPUT_H */
