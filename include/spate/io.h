/*
 * spate/io.h - input streams: TCP text sockets and in-memory queues.
 *
 * Receivers run on their own I/O threads with their own io_uring; they fill
 * bounded lock-free rings that the batch clock cuts every interval. A full
 * ring stops the receiver from reading, so TCP flow control pushes back on
 * the sender: nothing is dropped.
 */
#ifndef SPATE_IO_H
#define SPATE_IO_H

#include "spate/dstream.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Options of a socket text stream; initialise with spate_socket_opts_init(). */
struct spate_socket_opts {
    uint32_t max_line_bytes; /* longer lines are counted as malformed and skipped (default 1 MiB) */
    uint32_t ring_bytes;     /* bound of the receiver's ring (default 128 MiB, a power of two); a
                                batch holds at most this much: size it for peak rate x interval */
    uint32_t recv_buffer_bytes;      /* size of each provided receive buffer (default 64 KiB) */
    uint32_t recv_buffers;           /* number of provided receive buffers (default 64) */
    uint32_t reconnect_min_ms;       /* first reconnect delay (default 10) */
    uint32_t reconnect_max_ms;       /* reconnect delay cap (default 1000) */
    bool quiet;                      /* do not log connects and reconnects to stderr */
    uint32_t max_connections;        /* listen streams: open connections at once (default 256) */
    uint64_t max_records_per_second; /* rate limit of the receiver (Spark's
                                        spark.streaming.receiver.maxRate); 0 = none. The
                                        receiver thread waits: TCP senders are slowed down */
    uint32_t record_bytes;           /* > 0: fixed-width binary records of this size instead of
                                        lines (see "Binary records" below); 0 = lines (default) */
};

SPATE_API void spate_socket_opts_init(struct spate_socket_opts *opts);

/*
 * Spark's socketTextStream: connect to host:port and make one record (column
 * "value", string) per line. Lines end at '\n'; "\r\n" is one line end; an
 * empty line is a record. The receiver reconnects with backoff when the server
 * is not up or goes away. opts may be NULL.
 *
 * Returns the stream, or NULL: EINVAL (bad argument, host cannot be
 * resolved), EBUSY/ECANCELED (context started/stopped), ENOMEM.
 * Ownership: the stream belongs to ctx.
 */
SPATE_API spate_dstream *spate_context_socket_text_stream(spate_context *ctx, const char *host,
                                                          uint16_t port,
                                                          const struct spate_socket_opts *opts,
                                                          struct spate_error *err);

/*
 * A TCP server stream: listen on host:port (port 0: a free port, see
 * spate_input_port) and make one record (column "value", string) per line
 * from every producer that connects, each connection framed on its own (a
 * line never mixes two connections; a connection's last line without '\n'
 * ends at its EOF; a broken connection loses only its partial line). One
 * io_uring thread: multishot accept, a multishot recv per connection, one
 * provided buffer ring. opts as for socket_text_stream (the reconnect
 * settings unused); at most max_connections are received at once (default
 * 256); more wait, unread but not lost, for a free slot. Binding happens at start (EIO from start:
 * address in use...). Returns NULL on EINVAL, EBUSY, ECANCELED, ENOMEM.
 */
SPATE_API spate_dstream *spate_context_socket_listen_stream(spate_context *ctx, const char *host,
                                                            uint16_t port,
                                                            const struct spate_socket_opts *opts,
                                                            struct spate_error *err);

/*
 * A UDP stream: bind host:port (0: a free port, see spate_input_port) and
 * make one record (column "value", string) per line of every datagram; a
 * datagram's last line without '\n' ends with it (so one datagram can be one
 * record). One io_uring thread, a multishot recv with 64 KiB provided
 * buffers (a datagram never splits). UDP has no flow control: what overflows
 * the socket's receive buffer while the ring is full is lost, as with any UDP
 * reader. opts: max_line_bytes and ring_bytes, recv_buffers (a power of two)
 * and recv_buffer_bytes (256 B to 1 MiB, default 64 KiB: any datagram fits;
 * a datagram longer than a buffer less 16 bytes is dropped whole and counted
 * as malformed, so size it for the datagrams expected: small buffers suit
 * small datagrams).
 * Returns NULL on EINVAL, EBUSY, ECANCELED, ENOMEM; binding errors come from start (EIO).
 */
SPATE_API spate_dstream *spate_context_udp_stream(spate_context *ctx, const char *host,
                                                  uint16_t port,
                                                  const struct spate_socket_opts *opts,
                                                  struct spate_error *err);

/* The port a listen or UDP stream is bound to (after start), else 0. */
SPATE_API uint16_t spate_input_port(const spate_dstream *input);

/*
 * Spark's queueStream (oneAtATime): a stream whose batches the program pushes.
 * At every batch the oldest pushed batch is taken, or an empty batch when none
 * is queued. columns gives the schema (copied).
 * Returns the stream or NULL (EINVAL, EBUSY, ECANCELED, ENOMEM).
 */
SPATE_API spate_dstream *spate_context_queue_stream(spate_context *ctx,
                                                    const struct spate_column_def *columns,
                                                    uint32_t num_columns, struct spate_error *err);

/*
 * Queue one batch of rows rows (columns in schema order). Thread safety: any
 * thread, also while the context runs. Returns SPATE_OK, EINVAL (not a queue
 * stream, bad data), ECANCELED (context stopped), ENOMEM.
 */
SPATE_API SPATE_NODISCARD spate_status spate_queue_push(spate_dstream *queue,
                                                        const struct spate_column_data *columns,
                                                        uint64_t rows, struct spate_error *err);

/*
 * A stream with the same rows in every batch (a static table, for joining a
 * stream with reference data as Spark's transform(rdd.join(table)) does).
 * data (rows rows, columns in schema order) is copied. Returns the stream
 * or NULL (EINVAL, EBUSY, ECANCELED, ENOMEM).
 */
SPATE_API spate_dstream *spate_context_constant_stream(spate_context *ctx,
                                                       const struct spate_column_def *columns,
                                                       uint32_t num_columns,
                                                       const struct spate_column_data *data,
                                                       uint64_t rows, struct spate_error *err);

/* Convenience for a one-column string queue: queue one batch of lines. */
SPATE_API SPATE_NODISCARD spate_status spate_queue_push_lines(spate_dstream *queue,
                                                              const char *const *lines,
                                                              uint64_t count,
                                                              struct spate_error *err);

/*
 * What a generator stream makes. TEXT: lines of Zipf words (column "value").
 * The typed kinds make rows of fixed schemas (spate_generator_columns):
 *   KEYED: key i64 (uniform in 0..keys-1), value i64 (0..99).
 *   YSB: user_id i64, page_id i64, ad_id i64 (0..keys-1), ad_type string,
 *        event_type string ("view", "click" or "purchase"), event_time
 *        timestamp, ip i64 (an IPv4 address as a number).
 *   NEXMARK_PERSON: id, name, email, credit_card, city, state, date_time.
 *   NEXMARK_AUCTION: id, item_name, description, initial_bid, reserve,
 *        date_time, expires, seller, category.
 *   NEXMARK_BID: auction, bidder, price, channel, date_time.
 * The NEXMark kinds follow the NEXMark generator (Beam's GeneratorConfig): one
 * global event sequence where event n is a person, an auction or a bid by
 * n mod 50 (1 : 3 : 46); person and auction ids come from the event number
 * (the first of each is 1000), so an auction's seller is a person and a
 * bid's auction an auction of an earlier event; half of the bids go to a hot
 * auction, three in four auctions to a hot seller and three in four bids
 * from a hot bidder. Prices are in cents. Each NEXMark stream carries only
 * its kind of the shared sequence: three streams of one seed agree.
 * Event n's time is first_event_ns + n * event_interval_ns.
 */
enum spate_generator_kind {
    SPATE_GENERATOR_TEXT = 0,
    SPATE_GENERATOR_KEYED = 1,
    SPATE_GENERATOR_YSB = 2,
    SPATE_GENERATOR_NEXMARK_PERSON = 3,
    SPATE_GENERATOR_NEXMARK_AUCTION = 4,
    SPATE_GENERATOR_NEXMARK_BID = 5
};

/* Options of a generator stream; initialise with spate_generator_opts_init(). */
struct spate_generator_opts {
    uint32_t vocabulary; /* distinct words, Zipf(1) by rank (default 100000) */
    uint32_t min_words;  /* words per line (default 1 to 20) */
    uint32_t max_words;
    uint64_t lines_per_second;      /* 0 = as fast as the engine takes them (default); typed
                                       kinds: events per second (NEXMark: of the shared sequence) */
    uint64_t max_lines;             /* stop after this many lines; 0 = never (default); typed
                                       kinds: events (NEXMark: of the shared sequence) */
    uint64_t seed;                  /* the same seed gives the same lines (default 1) */
    uint32_t ring_bytes;            /* bound of its ring (default 128 MiB); typed kinds: bound of
                                       the memory of rows made, not yet processed (one item of up
                                       to 16,384 events always goes when none is outstanding,
                                       so the bound is at least that item) */
    enum spate_generator_kind kind; /* default SPATE_GENERATOR_TEXT */
    uint64_t keys;                  /* KEYED: distinct keys; YSB: distinct ads (default 10000) */
    int64_t first_event_ns;         /* typed kinds: time of event 0 (default 2026-01-01) */
    uint64_t event_interval_ns;     /* typed kinds: time between events (default 100 us,
                                       NEXMark's 10,000 events/s) */
};

SPATE_API void spate_generator_opts_init(struct spate_generator_opts *opts);

/*
 * A built-in source of text lines (column "value", string) of Zipf-distributed
 * words, made on its own thread, deterministic from the seed; at a target
 * rate (open loop) or as fast as the engine takes them, a full ring pushing
 * back. The stream behaves as a socket text stream does (same framing, same
 * zero-copy path), so it serves benchmarks and tests without a network.
 * With a typed kind (opts->kind) the stream has that kind's columns and makes
 * events 0, 1, 2, ... (the rows spate_generator_fill makes for them) straight
 * into columnar chunks on its own thread; it is a receiver stream (each batch
 * takes all that was made since the previous one) and cannot be restored
 * from a checkpoint.
 * Returns the stream or NULL: EINVAL (bad options), EBUSY, ECANCELED, ENOMEM.
 */
SPATE_API spate_dstream *spate_context_generator_stream(spate_context *ctx,
                                                        const struct spate_generator_opts *opts,
                                                        struct spate_error *err);

/*
 * The columns of a generator kind's rows (static storage, never freed);
 * *num_columns gets their number. Returns SPATE_OK or EINVAL (opts or an out
 * pointer NULL, unknown kind).
 */
SPATE_API SPATE_NODISCARD spate_status spate_generator_columns(
    const struct spate_generator_opts *opts, const struct spate_column_def **columns,
    uint32_t *num_columns, struct spate_error *err);

/*
 * Rows the events [first, first + count) make: count, or for a NEXMark kind
 * those of them of its kind. 0 for TEXT or bad options. Pure.
 */
SPATE_API uint64_t spate_generator_rows(const struct spate_generator_opts *opts, uint64_t first,
                                        uint64_t count);

/* Bytes of string data that spate_generator_fill may need for count events (an upper bound). */
SPATE_API uint64_t spate_generator_bytes(const struct spate_generator_opts *opts, uint64_t count);

/*
 * Make the rows of events [first, first + count) of a typed generator, exactly
 * the rows a generator stream with the same options produces for them (the
 * stream makes events 0, 1, 2, ... in order). columns[c].data (schema order of
 * spate_generator_columns) must have room for spate_generator_rows(opts,
 * first, count) values; validity is set to NULL (no nulls). Strings longer
 * than 12 bytes point into bytes (bytes_cap at least spate_generator_bytes(
 * opts, count)); shorter ones are inline, and a few point at static storage
 * of spate. The caller owns columns and bytes and keeps bytes as long as it
 * reads the strings. *rows gets the rows made. Pure and thread-safe: the
 * same options and range give the same rows, whatever was made before.
 * Returns SPATE_OK or EINVAL (TEXT kind, bad options, NULL arguments,
 * bytes_cap too small).
 */
SPATE_API SPATE_NODISCARD spate_status spate_generator_fill(const struct spate_generator_opts *opts,
                                                            uint64_t first, uint64_t count,
                                                            struct spate_column_data *columns,
                                                            char *bytes, uint64_t bytes_cap,
                                                            uint64_t *rows,
                                                            struct spate_error *err);

/* Options of text_file_stream; initialise with spate_file_stream_opts_init(). */
struct spate_file_stream_opts {
    bool include_existing;           /* also read the files already there at start (name order) */
    uint32_t ring_bytes;             /* line ring capacity (default 64 MiB) */
    uint32_t max_line_bytes;         /* longer lines are malformed and skipped (default 1 MiB) */
    uint64_t max_records_per_second; /* rate limit of the reader; 0 = none */
    uint32_t record_bytes;           /* > 0: fixed-width binary records of this size instead of
                                        lines (see "Binary records" below); 0 = lines (default) */
};

SPATE_API void spate_file_stream_opts_init(struct spate_file_stream_opts *opts);

/*
 * Spark's textFileStream: the lines (column "value", string) of every file
 * that appears in directory dir after start, taken once it is complete
 * (moved in by rename, or closed after writing), each name once, read with
 * io_uring. Files already there are ignored unless include_existing; names
 * starting with '.' are ignored. A last line without '\n' ends with its file.
 * The directory must exist at start (EIO from start otherwise). Returns NULL
 * on EINVAL (no dir, bad sizes), EBUSY, ECANCELED, ENOMEM.
 */
SPATE_API spate_dstream *spate_context_text_file_stream(spate_context *ctx, const char *dir,
                                                        const struct spate_file_stream_opts *opts,
                                                        struct spate_error *err);

/*
 * Binary records. With record_bytes > 0 in its options, a socket text,
 * listen, UDP or text file stream cuts its bytes every record_bytes bytes
 * instead of at line ends: each record (column "value", a string view of
 * exactly record_bytes bytes, NUL bytes included, pointing into the ring
 * without a copy) is one row, to be decoded by spate_dstream_parse_binary.
 * A record may straddle reads: it is joined as a split line is. A listen
 * stream frames every connection on its own (a record never mixes two), a
 * file stream every file; the partial record left when a connection ends or
 * breaks, or at the end of a file, is torn: counted in the input's malformed
 * counter (spate_input_stats) and dropped. A UDP datagram holds whole
 * records: a remainder shorter than a record at its end is malformed and
 * counted the same way. record_bytes raises max_line_bytes when larger (a
 * UDP record is at most 64 KiB); an invalid size is EINVAL at definition.
 */

/* Counters of an input stream. */
struct spate_input_stats {
    uint64_t records;    /* records taken into batches */
    uint64_t bytes;      /* bytes received */
    uint64_t malformed;  /* records skipped as malformed (over-long lines, torn binary records) */
    uint64_t reconnects; /* connections made after the first */
    uint64_t blocked_ns; /* time the receiver waited on a full ring (backpressure) */
    uint64_t files;      /* text_file_stream: files read */
    uint64_t accepted;   /* socket_listen_stream: connections accepted */
    uint64_t datagrams;  /* udp_stream: datagrams received */
};

/* ---- Receivers the program writes (Spark's custom Receiver) ---- */

typedef struct spate_receiver spate_receiver;

/* What spate calls on a program's receiver; user is passed back and never freed by spate. */
struct spate_receiver_ops {
    /* Once, when the context starts (on the thread calling spate_context_start): start what
     * will call spate_receiver_store*, usually a thread of the receiver's own. An error (with
     * a message in err) fails the start. */
    spate_status (*start)(void *user, spate_receiver *receiver, struct spate_error *err);
    /* Once, when the context stops (or its start fails later on): return only when nothing
     * of the receiver stores any more. Stores after it fail with ECANCELED. */
    void (*stop)(void *user);
    void *user;
};

/*
 * A stream fed by the program's own receiver. Every batch takes all that was
 * stored since the previous batch, each store a partition of its own (so
 * stores from several threads are processed in parallel); a graceful stop
 * stops the receiver, then processes what it stored. Returns NULL on EINVAL
 * (no ops, no start or stop, a bad schema), EBUSY, ECANCELED, ENOMEM.
 */
SPATE_API spate_dstream *spate_context_receiver_stream(spate_context *ctx,
                                                       const struct spate_column_def *columns,
                                                       uint32_t num_columns,
                                                       const struct spate_receiver_ops *ops,
                                                       struct spate_error *err);

/*
 * Store rows (columns in the stream's order, copied) from any thread, from
 * start until stop (the handle stays valid until the context is destroyed;
 * stores between stop and destroy fail with ECANCELED). Returns SPATE_OK, EINVAL (bad arguments),
 * ECANCELED (the receiver was stopped), ENOMEM.
 */
SPATE_API SPATE_NODISCARD spate_status spate_receiver_store(spate_receiver *receiver,
                                                            const struct spate_column_data *columns,
                                                            uint64_t rows, struct spate_error *err);

/* Store lines (NUL-terminated, copied) into a stream of one string column. */
SPATE_API SPATE_NODISCARD spate_status spate_receiver_store_lines(spate_receiver *receiver,
                                                                  const char *const *lines,
                                                                  uint64_t count,
                                                                  struct spate_error *err);

/* Read the counters of an input stream. Returns SPATE_OK or EINVAL (not an input). */
SPATE_API SPATE_NODISCARD spate_status spate_input_stats(const spate_dstream *input,
                                                         struct spate_input_stats *out,
                                                         struct spate_error *err);

#ifdef __cplusplus
}
#endif

#endif /* SPATE_IO_H */
