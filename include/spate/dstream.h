/*
 * spate/dstream.h - discretized streams: transformations and outputs.
 *
 * A dstream belongs to the context that made it and is freed with it. Every
 * definition call fails (NULL and a message) once the context is started or
 * stopped, saying which. Narrow transformations (flat_map, map, filter) are
 * fused per chunk with what follows them; reduce_by_key aggregates into
 * per-worker partial tables, radix-partitioned by XXH3 hash, merged late.
 */
#ifndef SPATE_DSTREAM_H
#define SPATE_DSTREAM_H

#include "spate/context.h"
#include "spate/batch.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct spate_dstream spate_dstream;

/* The context that owns ds. */
SPATE_API spate_context *spate_dstream_context(const spate_dstream *ds);
/* Columns of ds's schema, and column col (NULL name when out of range). Borrowed. */
SPATE_API uint32_t spate_dstream_num_columns(const spate_dstream *ds);
SPATE_API struct spate_column_def spate_dstream_column(const spate_dstream *ds, uint32_t col);

/* ---- Narrow transformations ---- */

/*
 * flatMap with the built-in tokenizer: every word of string column 0 of ds
 * becomes a record (column "word", string). Words are separated by ASCII
 * whitespace (space, \t, \n, \v, \f, \r); the views point into the input
 * batch, nothing is copied. Returns NULL on EINVAL (column 0 not a string),
 * EBUSY/ECANCELED (context started/stopped), ENOMEM.
 */
SPATE_API spate_dstream *spate_dstream_flat_map_words(spate_dstream *ds, struct spate_error *err);

/*
 * flatMap(line => tokens): as flat_map_words, but the words of column 0 are
 * separated by runs of any of the bytes delims[0, num_delims) (any byte
 * values, NUL included) instead of whitespace. As with strtok, and unlike
 * Java's String.split, no empty words are made; lines are split one by
 * one, so a word never spans two records. Output column "word" (string).
 * Returns NULL on EINVAL (column 0 not a string, no delimiters or more than
 * 256), EBUSY, ECANCELED, ENOMEM.
 */
SPATE_API spate_dstream *spate_dstream_flat_map_split(spate_dstream *ds, const char *delims,
                                                      uint32_t num_delims, struct spate_error *err);

/*
 * A chunk callback for map: fill every output column for each of in->rows
 * rows through the builder. Return SPATE_OK, or an error (with a message in
 * err) to fail the batch.
 */
typedef spate_status (*spate_map_fn)(void *user, const struct spate_chunk_view *in,
                                     spate_chunk_builder *out, struct spate_error *err);

/*
 * map: one output row per input row, output schema columns (copied), computed
 * chunk at a time by fn. user is passed to fn and never freed by spate.
 * Returns NULL on EINVAL, EBUSY, ECANCELED, ENOMEM.
 */
SPATE_API spate_dstream *spate_dstream_map(spate_dstream *ds,
                                           const struct spate_column_def *columns,
                                           uint32_t num_columns, spate_map_fn fn, void *user,
                                           struct spate_error *err);

/*
 * mapValues: a map over the values of a pair stream that keeps its key: the
 * output is the key column key_col of ds (passed through: its values, string
 * views included, are copied as they are, never computed) followed by the
 * value columns computed by fn. fn gets the whole input chunk and a builder whose
 * columns 0..num_columns are the value columns. Returns NULL on EINVAL (no
 * function, key_col out of range, no value columns), EBUSY, ECANCELED, ENOMEM.
 */
SPATE_API spate_dstream *spate_dstream_map_values(spate_dstream *ds, uint32_t key_col,
                                                  const struct spate_column_def *columns,
                                                  uint32_t num_columns, spate_map_fn fn, void *user,
                                                  struct spate_error *err);

/*
 * select: a projection, the columns cols[0..n) of ds in that order (zero
 * copy: the output points at the input's columns). Returns NULL on EINVAL
 * (no columns, a column out of range), EBUSY, ECANCELED, ENOMEM.
 */
SPATE_API spate_dstream *spate_dstream_select(spate_dstream *ds, const uint32_t *cols, uint32_t n,
                                              struct spate_error *err);

/*
 * map to pairs (key, 1): the key column col of ds and a literal i64 column
 * "value". The common word-count step, with no callback.
 */
SPATE_API spate_dstream *spate_dstream_map_to_pair(spate_dstream *ds, uint32_t key_col,
                                                   int64_t value, struct spate_error *err);

/*
 * A chunk callback for filter: write into sel_out the logical row indexes
 * (ascending) of in that pass and return their number.
 */
typedef uint32_t (*spate_filter_fn)(void *user, const struct spate_chunk_view *in,
                                    uint16_t *sel_out);

/* filter with a chunk callback. Returns NULL on EINVAL, EBUSY, ECANCELED, ENOMEM. */
SPATE_API spate_dstream *spate_dstream_filter(spate_dstream *ds, spate_filter_fn fn, void *user,
                                              struct spate_error *err);

enum spate_cmp {
    SPATE_CMP_EQ = 0,
    SPATE_CMP_NE = 1,
    SPATE_CMP_LT = 2,
    SPATE_CMP_LE = 3,
    SPATE_CMP_GT = 4,
    SPATE_CMP_GE = 5
};

/* filter with a built-in vectorized comparison of an i64/timestamp column with a literal;
 * null values never pass. */
SPATE_API spate_dstream *spate_dstream_filter_i64(spate_dstream *ds, uint32_t col,
                                                  enum spate_cmp op, int64_t literal,
                                                  struct spate_error *err);

/* filter keeping rows whose string column col equals (or, with prefix, starts with) s. */
SPATE_API spate_dstream *spate_dstream_filter_string(spate_dstream *ds, uint32_t col, const char *s,
                                                     bool prefix, struct spate_error *err);

/* ---- Vectorized column filters, arithmetic and casts ---- */

/*
 * filter with a built-in vectorized comparison of a f64 column with a literal, as IEEE 754
 * orders doubles: any comparison with a NaN (in the column or as the literal) is false except
 * SPATE_CMP_NE, which is true; -0.0 == +0.0. Null values never pass.
 *
 * Returns the new stream, or NULL with err set: EINVAL (col is not a f64 column, unknown op),
 * EBUSY (the context has started), ECANCELED (stopped), ENOMEM.
 * Ownership: the stream belongs to ds's context. Thread safety: the defining thread.
 */
SPATE_API spate_dstream *spate_dstream_filter_f64(spate_dstream *ds, uint32_t col,
                                                  enum spate_cmp op, double literal,
                                                  struct spate_error *err);

/*
 * filter keeping rows where column col_a OP column col_b: two i64/timestamp columns (signed
 * comparison) or two f64 columns (IEEE, as filter_f64). A row where either value is null
 * never passes.
 *
 * Returns the new stream, or NULL with err set: EINVAL (no such column, the columns are not
 * both integer or both f64, unknown op), EBUSY, ECANCELED, ENOMEM.
 * Ownership: the stream belongs to ds's context. Thread safety: the defining thread.
 */
SPATE_API spate_dstream *spate_dstream_filter_cols(spate_dstream *ds, uint32_t col_a,
                                                   enum spate_cmp op, uint32_t col_b,
                                                   struct spate_error *err);

/* Arithmetic operators of with_arith. */
enum spate_arith {
    SPATE_ARITH_ADD = 0,
    SPATE_ARITH_SUB = 1,
    SPATE_ARITH_MUL = 2,
    SPATE_ARITH_DIV = 3,
    SPATE_ARITH_MOD = 4
};

/*
 * Append a column named name holding col_a OP col_b (with_arith), col OP literal
 * (with_arith_i64 on an i64/timestamp column, with_arith_f64 on a f64 column). Integer
 * operands give an i64 column and f64 operands a f64 column; mixing them is an error (cast
 * first). The result is null where an operand is null. i64 follows Spark's non-ANSI Long
 * arithmetic: add, sub and mul wrap around (two's complement); div truncates toward zero and
 * mod takes the dividend's sign; a zero divisor gives null; INT64_MIN / -1 is INT64_MIN.
 * f64 is IEEE 754 (x / 0.0 is an infinity or NaN; mod is C's fmod).
 *
 * Returns the new stream, or NULL with err set: EINVAL (no such column, wrong column types,
 * unknown op, name NULL, empty, too long or already a column, already 64 columns), EBUSY,
 * ECANCELED, ENOMEM.
 * Ownership: the stream belongs to ds's context; name is copied. Thread safety: the defining
 * thread.
 */
SPATE_API spate_dstream *spate_dstream_with_arith(spate_dstream *ds, const char *name,
                                                  uint32_t col_a, enum spate_arith op,
                                                  uint32_t col_b, struct spate_error *err);
SPATE_API spate_dstream *spate_dstream_with_arith_i64(spate_dstream *ds, const char *name,
                                                      uint32_t col, enum spate_arith op,
                                                      int64_t literal, struct spate_error *err);
SPATE_API spate_dstream *spate_dstream_with_arith_f64(spate_dstream *ds, const char *name,
                                                      uint32_t col, enum spate_arith op,
                                                      double literal, struct spate_error *err);

/*
 * Append a column named name holding column col cast to type to: an i64/timestamp column to
 * SPATE_TYPE_F64 (rounded to nearest), or a f64 column to SPATE_TYPE_I64 with Spark's non-ANSI
 * cast (Java's double-to-long: truncation toward zero, NaN -> 0, out of range saturates to
 * INT64_MIN / INT64_MAX). Nulls stay null.
 *
 * Returns the new stream, or NULL with err set: EINVAL (no such column, a cast other than
 * those two, name as for with_arith), EBUSY, ECANCELED, ENOMEM.
 * Ownership: the stream belongs to ds's context; name is copied. Thread safety: the defining
 * thread.
 */
SPATE_API spate_dstream *spate_dstream_with_cast(spate_dstream *ds, const char *name, uint32_t col,
                                                 enum spate_type to, struct spate_error *err);

/* Options of parse_csv; initialise with spate_csv_opts_init(). */
struct spate_csv_opts {
    uint32_t col;            /* the string column holding one line each (default 0) */
    char delimiter;          /* between fields (default ','); not '"', '\r' or '\n' */
    const char *dead_letter; /* a file malformed lines are appended to, as they came (one per
                                line); NULL: only counted. Opened (created) at definition. */
};

SPATE_API void spate_csv_opts_init(struct spate_csv_opts *opts);

/*
 * parse_csv: every line of ds's string column becomes one record of the
 * declared columns (i64, f64, bool, timestamp or string; the i64 and f64
 * fields through the SIMD parse kernels), fused with what follows. Fields are
 * separated by the delimiter; a field may be quoted ("a,b", with "" for a
 * quote inside); an empty field is null; a final '\r' is dropped. bool is
 * true/false (any case) or 1/0; timestamp is ISO-8601 (2026-11-25,
 * 2026-11-25T21:00:00.5Z, with a space for the T, an offset like +01:00) or
 * an integer of milliseconds since the epoch; string fields point into the
 * line (no copy unless unquoting). A line with another number of fields, or
 * a field its type cannot read, is malformed: counted (spate_dstream_malformed),
 * appended to the dead-letter file when there is one, and skipped, while the
 * lines around it are kept. Blank lines are skipped silently.
 * Returns NULL on EINVAL (no columns, a list column, col not a string, a bad
 * delimiter), EIO (the dead-letter file cannot be opened), EBUSY, ECANCELED, ENOMEM.
 */
SPATE_API spate_dstream *spate_dstream_parse_csv(spate_dstream *ds,
                                                 const struct spate_column_def *columns,
                                                 uint32_t num_columns,
                                                 const struct spate_csv_opts *opts,
                                                 struct spate_error *err);

/* Records parse_csv or parse_binary stream ds skipped as malformed since it was defined (0 for
 * other streams). */
SPATE_API uint64_t spate_dstream_malformed(const spate_dstream *ds);

/* ---- Fixed-width little-endian binary records ---- */

/* One field of a binary record: an output column of parse_binary. */
struct spate_binary_field {
    const char *name;     /* the output column's name */
    enum spate_type type; /* I64, F64, BOOL, TIMESTAMP or STRING */
    uint32_t width;       /* bytes in the record; 0 = the type's own: 8 (i64, f64, timestamp), 1
                             (bool). i64 also 4 (int32, sign-extended); f64 also 4 (float);
                             string: N >= 1 (required), trailing NUL bytes trimmed */
    uint32_t offset;      /* first byte in the record; when every field has offset 0 the fields
                             are packed in order (field k starts where field k-1 ends) */
};

/* Options of parse_binary; initialise with spate_binary_opts_init(). */
struct spate_binary_opts {
    uint32_t record_bytes;   /* the record size; 0 = where the last field ends. A record of any
                                other length is malformed */
    const char *dead_letter; /* a file malformed records are appended to, one per line as
                                lowercase hex digits (records are bytes: NUL and '\n' allowed);
                                NULL: only counted. Opened (created) at definition */
};

SPATE_API void spate_binary_opts_init(struct spate_binary_opts *opts);

/*
 * parse_binary: every value of ds's string column col (a record, as made by
 * an input with record_bytes set, or pushed to a queue) becomes one record of
 * the fields' columns, fused with what follows. Fields are little-endian:
 * i64 (8 bytes, or 4 as int32), f64 (8 bytes IEEE double, or 4 as float),
 * bool (1 byte, 0 or 1), timestamp (8-byte int64 of milliseconds since the
 * epoch, stored as nanoseconds like every spate timestamp), string (N bytes,
 * trailing NUL bytes trimmed, pointing into the record without a copy).
 * Fields may overlap and leave gaps. The 8-byte fields go through the
 * decode_fixed64 kernels (SIMD gathers, or strided loads when the records
 * lie back to back in the input's ring). A record whose length is not the
 * record size, with a bool byte other than 0 or 1, or with a timestamp out
 * of the nanosecond range is malformed: counted (spate_dstream_malformed),
 * appended to the dead-letter file when there is one, and skipped, while the
 * records around it are kept. Null values are skipped silently.
 * Returns NULL on EINVAL (col not a string, no fields, more than 64, an
 * unsupported type or width, a field past record_bytes), EIO (the
 * dead-letter file cannot be opened), EBUSY, ECANCELED, ENOMEM.
 * Ownership: the stream belongs to ds's context; fields and opts are copied.
 */
SPATE_API spate_dstream *spate_dstream_parse_binary(spate_dstream *ds, uint32_t col,
                                                    const struct spate_binary_field *fields,
                                                    uint32_t num_fields,
                                                    const struct spate_binary_opts *opts,
                                                    struct spate_error *err);

/*
 * union: the records of streams[0], then of streams[1], ... (Spark's union of
 * many). The streams must belong to one context, have the same slide and the
 * same column types (names come from the first). Returns NULL on EINVAL (n < 1,
 * NULL stream, different context, slide or types), EBUSY, ECANCELED, ENOMEM.
 */
SPATE_API spate_dstream *spate_dstream_union(spate_dstream *const *streams, uint32_t n,
                                             struct spate_error *err);

/* Where a transform function writes its output rows. Borrowed for the call. */
typedef struct spate_batch_writer spate_batch_writer;

/*
 * Append rows rows to the transform's output batch; columns in the output
 * schema's order, copied (string bytes too). Returns SPATE_OK, EINVAL (bad
 * arguments, missing data), ENOMEM.
 */
SPATE_API SPATE_NODISCARD spate_status
spate_batch_writer_append(spate_batch_writer *out, const struct spate_column_data *columns,
                          uint64_t rows, struct spate_error *err);

/*
 * A function over a whole batch: read in, append any number of rows to out.
 * Return an error (message in err) to fail the batch.
 */
typedef spate_status (*spate_transform_fn)(void *user, const spate_batch *in,
                                           spate_batch_writer *out, struct spate_error *err);

/*
 * flatMap with a chunk callback: fn gets each input chunk and appends any
 * number of output rows (schema columns, copied) to out, which go straight
 * on to the next operator (fused, on the worker thread). Returns NULL on
 * EINVAL, EBUSY, ECANCELED, ENOMEM.
 */
typedef spate_status (*spate_flat_map_fn)(void *user, const struct spate_chunk_view *in,
                                          spate_batch_writer *out, struct spate_error *err);

SPATE_API spate_dstream *spate_dstream_flat_map(spate_dstream *ds,
                                                const struct spate_column_def *columns,
                                                uint32_t num_columns, spate_flat_map_fn fn,
                                                void *user, struct spate_error *err);

/*
 * The function of flat_map_values, row level: for logical row row of in,
 * append any number of value rows (the value columns only) to out; each gets
 * the row's key.
 */
typedef spate_status (*spate_flat_map_values_fn)(void *user, const struct spate_chunk_view *in,
                                                 uint32_t row, spate_batch_writer *out,
                                                 struct spate_error *err);

/*
 * flatMapValues: every input row becomes zero or more rows (key of key_col,
 * values appended by fn), fused with what follows. Output columns: the key,
 * then columns (the value columns, copied). Returns NULL on EINVAL (no
 * function, key_col out of range, no value columns), EBUSY, ECANCELED, ENOMEM.
 */
SPATE_API spate_dstream *spate_dstream_flat_map_values(spate_dstream *ds, uint32_t key_col,
                                                       const struct spate_column_def *columns,
                                                       uint32_t num_columns,
                                                       spate_flat_map_values_fn fn, void *user,
                                                       struct spate_error *err);

/*
 * The function of map_partitions: read partition part of batch (its chunks
 * through spate_batch_num_chunks / spate_batch_chunk) and append any number
 * of rows to out, which become partition part of the output.
 */
typedef spate_status (*spate_partition_fn)(void *user, const spate_batch *batch, uint32_t part,
                                           spate_batch_writer *out, struct spate_error *err);

/*
 * mapPartitions: fn runs once per partition of every batch, partitions in
 * parallel on the worker threads (so fn must be thread-safe across
 * partitions); the place for per-partition set-up such as one connection or
 * one buffer per partition. The output keeps the partitioning. Returns NULL
 * on EINVAL, EBUSY, ECANCELED, ENOMEM.
 */
SPATE_API spate_dstream *spate_dstream_map_partitions(spate_dstream *ds,
                                                      const struct spate_column_def *columns,
                                                      uint32_t num_columns, spate_partition_fn fn,
                                                      void *user, struct spate_error *err);

/*
 * transform: fn runs once per batch (at every slide of ds) on the scheduler
 * thread with the whole batch, and its appended rows, schema columns
 * (copied), are the output batch. The escape hatch for what no built-in
 * operation does (flatMap to several columns, custom group-bys, sampling).
 * Returns NULL on EINVAL, EBUSY, ECANCELED, ENOMEM.
 */
SPATE_API spate_dstream *spate_dstream_transform(spate_dstream *ds,
                                                 const struct spate_column_def *columns,
                                                 uint32_t num_columns, spate_transform_fn fn,
                                                 void *user, struct spate_error *err);

/* A function over the batches of two streams at the same time (Spark's transformWith). */
typedef spate_status (*spate_transform2_fn)(void *user, const spate_batch *left,
                                            const spate_batch *right, spate_batch_writer *out,
                                            struct spate_error *err);

/*
 * transformWith: as transform, with the batches of two streams of the same
 * context and slide. Returns NULL on EINVAL (different contexts or slides),
 * EBUSY, ECANCELED, ENOMEM.
 */
SPATE_API spate_dstream *spate_dstream_transform_with(spate_dstream *left, spate_dstream *right,
                                                      const struct spate_column_def *columns,
                                                      uint32_t num_columns, spate_transform2_fn fn,
                                                      void *user, struct spate_error *err);

/*
 * repartition: the same records in num_partitions partitions (chunks dealt
 * out in turn), so that what follows runs as that many tasks. Order across
 * partitions is not kept, as in Spark. Returns NULL on EINVAL (0 or more
 * than 4096 partitions), EBUSY, ECANCELED, ENOMEM.
 */
SPATE_API spate_dstream *spate_dstream_repartition(spate_dstream *ds, uint32_t num_partitions,
                                                   struct spate_error *err);

/* ---- Aggregations ---- */

/* count: one record per batch (column "count", i64); [0] for an empty batch. */
SPATE_API spate_dstream *spate_dstream_count(spate_dstream *ds, struct spate_error *err);

enum spate_agg {
    SPATE_AGG_SUM = 1,   /* sum of the value column (i64 wraps modulo 2^64; f64) */
    SPATE_AGG_COUNT = 2, /* number of records per key (value column ignored) */
    SPATE_AGG_MIN = 3,
    SPATE_AGG_MAX = 4,
    /* mean of the non-null values of an i64 or f64 value column, as f64 (the output value
     * column keeps the value column's name). As Spark's avg, the sum is kept in f64 (an i64
     * value is converted first; exact while partial sums stay within +-2^53) next to an
     * exact i64 count, so partial tables and window panes merge by adding both. */
    SPATE_AGG_AVG = 5
};

/* Most key columns of a composite key (spate_reduce_opts.key_cols). */
#define SPATE_MAX_KEY_COLS 4

/*
 * A user reduce function, chunk-level: acc[i] = f(acc[i], vals[i]) for i < n.
 * Must be associative and commutative, as Spark's reduceByKey requires.
 */
typedef void (*spate_reduce_i64_fn)(void *user, int64_t *acc, const int64_t *vals, uint32_t n);

/* Options of reduce_by_key; initialise with spate_reduce_opts_init(). */
struct spate_reduce_opts {
    uint32_t key_col;       /* key column: string or i64 (default 0) */
    uint32_t value_col;     /* value column: i64 (or f64 for SUM/MIN/MAX) (default 1) */
    enum spate_agg agg;     /* built-in aggregate (default SUM); ignored when fn is set */
    spate_reduce_i64_fn fn; /* user reduce function over i64 values, or NULL */
    void *user;
    /* Composite key (reduce_by_key and reduce_by_key_and_window): key_cols[0..num_key_cols)
     * are distinct string, i64 or timestamp columns that together form the key; 0 (the
     * default) uses key_col alone. */
    uint32_t key_cols[SPATE_MAX_KEY_COLS];
    uint32_t num_key_cols;
};

SPATE_API void spate_reduce_opts_init(struct spate_reduce_opts *opts);

/*
 * reduceByKey: one record (key, value) per distinct key of the batch; the
 * output columns are named after the input's key and value columns (value
 * "count" for COUNT). Null keys are dropped (counted as a group of none).
 * Null values take no part in SUM, MIN, MAX and AVG (a key whose values are
 * all null has no record); COUNT counts records. With a composite key
 * (num_key_cols > 0) the output is every key column, in key_cols order, then
 * the value; a record with a null in any key column is dropped.
 * Returns NULL on EINVAL (bad columns or types, more than SPATE_MAX_KEY_COLS
 * key columns, AVG of a non-numeric column), EBUSY, ECANCELED, ENOMEM.
 */
SPATE_API spate_dstream *spate_dstream_reduce_by_key(spate_dstream *ds,
                                                     const struct spate_reduce_opts *opts,
                                                     struct spate_error *err);

/*
 * reduce: one record with the reduction of the value column (opts->value_col)
 * over the whole batch, with a built-in SUM, MIN or MAX (i64 or f64) or a
 * user reduce function (i64, applied pairwise chunk-wide, so it must be
 * associative and commutative); no record for an empty batch, as in Spark.
 * opts->key_col is ignored. Returns NULL on EINVAL, EBUSY, ECANCELED, ENOMEM.
 */
SPATE_API spate_dstream *spate_dstream_reduce(spate_dstream *ds,
                                              const struct spate_reduce_opts *opts,
                                              struct spate_error *err);

/* countByValue: (value of column 0, count) per distinct value of the batch. */
SPATE_API spate_dstream *spate_dstream_count_by_value(spate_dstream *ds, struct spate_error *err);

/* ---- Joins ---- */

enum spate_join_kind {
    SPATE_JOIN_INNER = 0, /* join */
    SPATE_JOIN_LEFT = 1,  /* leftOuterJoin: every left record, right values null when unmatched */
    SPATE_JOIN_RIGHT = 2, /* rightOuterJoin */
    SPATE_JOIN_FULL = 3   /* fullOuterJoin */
};

/* Options of join; initialise with spate_join_opts_init(). */
struct spate_join_opts {
    enum spate_join_kind kind; /* default INNER */
    uint32_t left_key;         /* key column of the left stream (default 0) */
    uint32_t right_key;        /* key column of the right stream (default 0) */
};

SPATE_API void spate_join_opts_init(struct spate_join_opts *opts);

/*
 * join and the outer joins of two pair streams, per batch (Spark's join on
 * DStreams): one record per matching (left, right) pair of a key, duplicates
 * on both sides giving every combination. Columns: the key, the left
 * stream's other columns, the right stream's other columns; the side with no
 * match in an outer join is null. Records with a null key match nothing and
 * are dropped. Both streams need the same context and slide and key types
 * (string or i64). A radix-partitioned hash join: build on the right, probe
 * with the left, one radix partition per task.
 * Returns NULL on EINVAL (different contexts, slides or key types, a key
 * column that is not a string or i64, too many columns), EBUSY, ECANCELED, ENOMEM.
 */
SPATE_API spate_dstream *spate_dstream_join(spate_dstream *left, spate_dstream *right,
                                            const struct spate_join_opts *opts,
                                            struct spate_error *err);

/*
 * A combiner for combine_by_key (Spark's combineByKey): a fixed-size state
 * per key, built from the key's rows. Row level: create and merge_value read
 * whatever columns they need from in at logical row row. Must not fail; the
 * functions run on worker threads, for different keys at the same time.
 */
struct spate_combiner {
    uint32_t state_size; /* bytes of one combiner state, 1 to 4096 */
    /* createCombiner: the state of a key from its first row in a partition */
    void (*create)(void *user, void *state, const struct spate_chunk_view *in, uint32_t row);
    /* mergeValue: one more row of the key into its state */
    void (*merge_value)(void *user, void *state, const struct spate_chunk_view *in, uint32_t row);
    /* mergeCombiners: state = state (+) other, for states of one key from two partitions */
    void (*merge_combiners)(void *user, void *state, const void *other);
    /* The key's output values from its final state: set row row of the builder's columns
     * (the value columns). An error fails the batch. */
    spate_status (*finish)(void *user, const void *state, spate_chunk_builder *out, uint32_t row,
                           struct spate_error *err);
    void *user;
};

/*
 * combineByKey: one record per distinct non-null key of the batch, (key,
 * value columns from finish). States are combined per worker and radix
 * partition, then the partials of each radix partition merged with
 * merge_combiners, as Spark combines map-side. Returns NULL on EINVAL (no
 * combiner or a function missing, state_size out of range, key_col not a
 * string or i64 column, no value columns), EBUSY, ECANCELED, ENOMEM.
 */
SPATE_API spate_dstream *spate_dstream_combine_by_key(spate_dstream *ds, uint32_t key_col,
                                                      const struct spate_combiner *combiner,
                                                      const struct spate_column_def *columns,
                                                      uint32_t num_columns,
                                                      struct spate_error *err);

/* ---- Grouping ---- */

/* Options of group_by_key and cogroup; initialise with spate_group_opts_init(). */
struct spate_group_opts {
    uint32_t key_col;     /* key column: string or i64 (default 0) */
    uint32_t value_col;   /* the column whose values are grouped: any scalar type (default 1) */
    uint32_t right_key;   /* cogroup: the other stream's key column (default 0) */
    uint32_t right_value; /* cogroup: the other stream's value column (default 1) */
};

SPATE_API void spate_group_opts_init(struct spate_group_opts *opts);

/*
 * groupByKey: one record per distinct key of the batch, (key, list of its
 * values), the list column of type SPATE_LIST_OF(value type) named after the
 * value column (Spark's (K, Iterable[V]); print shows CompactBuffer(a, b)).
 * Null keys are dropped; null values are kept in the lists. The order of
 * values within a list is unspecified, as in Spark. Rows are scattered by
 * XXH3 radix partition and grouped one partition per task; the lists point
 * into the batch. Returns NULL on EINVAL (bad columns or types), EBUSY,
 * ECANCELED, ENOMEM.
 */
SPATE_API spate_dstream *spate_dstream_group_by_key(spate_dstream *ds,
                                                    const struct spate_group_opts *opts,
                                                    struct spate_error *err);

/*
 * cogroup: one record per key present in either stream's batch: (key, list
 * of left values, list of right values), a side without the key giving an
 * empty list. Both streams need the same context and slide and key kinds.
 * Returns NULL on EINVAL (different contexts, slides or key types, bad
 * columns), EBUSY, ECANCELED, ENOMEM.
 */
SPATE_API spate_dstream *spate_dstream_cogroup(spate_dstream *left, spate_dstream *right,
                                               const struct spate_group_opts *opts,
                                               struct spate_error *err);

/* ---- Windows ---- */

/* Options of windowed operations; initialise with spate_window_opts_init(). */
struct spate_window_opts {
    int64_t length_ms; /* window length: a multiple of the stream's slide */
    int64_t slide_ms;  /* slide: a multiple of the stream's slide; 0 = the stream's slide */
    bool use_inverse;  /* keep a running window: add the newest pane and take the
                          expired one out (built-in SUM and COUNT, or inv_fn) */
    spate_reduce_i64_fn inv_fn; /* with a user reduce fn and use_inverse: acc = inv(acc, old) */
    void *inv_user;
    /* Optional filter of reduce_by_key_and_window's output (Spark's filterFunc): a key for
     * which it returns false is left out; one whose value is also the identity (0) is removed
     * from the running window. skey is set for string keys, ikey for i64 keys; ivalue or
     * fvalue is the value, as the column's type. Runs on worker threads. */
    bool (*keep_fn)(void *user, const struct spate_string *skey, int64_t ikey, int64_t ivalue,
                    double fvalue);
    void *keep_user;
};

SPATE_API void spate_window_opts_init(struct spate_window_opts *opts);

/* The slide of ds in ms: the batch interval for inputs, the slide for windowed streams. */
SPATE_API int64_t spate_dstream_slide_ms(const spate_dstream *ds);

/*
 * reduceByKeyAndWindow: every slide, one record (key, value) per key with
 * data in the last length of the stream, reduced as reduce_by_key would.
 * Windows are built from per-batch panes (the batch's reduce_by_key result),
 * never from raw rows. With an inverse the window keeps a running table, adds
 * the newest pane and takes the expired one out, so a slide costs O(new +
 * expired keys) however long the window; without one the panes form a
 * two-stacks queue, so a slide costs O(keys in the window) (amortized: every
 * length slides the front is rebuilt at once).
 * As in Spark, with the inverse a key whose value went back to the identity
 * stays (e.g. (a,0)); without it, keys with no data in the window disappear.
 * Early windows are partial. The output is valid at batches S, 2S, 3S, ...
 * AVG keeps (sum, count) per key in the panes and the running table, so it
 * has an inverse; with it, a key whose count went back to 0 stays with a null
 * average (Spark's identity value). Composite keys work with and without the
 * inverse; keep_fn takes one key and a plain value, so it is refused with a
 * composite key or AVG.
 * Returns NULL on EINVAL (length or slide not a multiple of ds's slide,
 * use_inverse with MIN/MAX or a reduce fn without inv_fn, bad columns,
 * keep_fn with a composite key or AVG), EBUSY, ECANCELED, ENOMEM.
 */
SPATE_API spate_dstream *spate_dstream_reduce_by_key_and_window(spate_dstream *ds,
                                                                const struct spate_reduce_opts *ro,
                                                                const struct spate_window_opts *wo,
                                                                struct spate_error *err);

/* ---- State ---- */

/*
 * The update function of update_state_by_key, called once per key per batch:
 * values[0..n) are the key's new values in this batch (n may be 0),
 * *state is its state (0 and has_state false for a key seen the first time).
 * Write the new state and return true to keep the key, false to remove it.
 * Row level: the slow path, one call per key.
 */
typedef bool (*spate_update_state_fn)(void *user, const int64_t *values, uint32_t n, bool has_state,
                                      int64_t *state);

/* Options of update_state_by_key; initialise with spate_state_opts_init(). */
struct spate_state_opts {
    uint32_t key_col;         /* string or i64 (default 0) */
    uint32_t value_col;       /* i64 (default 1) */
    spate_update_state_fn fn; /* required */
    void *user;
    const struct spate_column_data *initial; /* optional initial state: 2 columns, the keys
                                                (the key column's type) and i64 states; copied */
    uint64_t initial_rows;
};

SPATE_API void spate_state_opts_init(struct spate_state_opts *opts);

/*
 * updateStateByKey: keeps one i64 state per key across batches. Every batch
 * the function runs for every key that has state or new values (also keys
 * without new values, as in Spark); the output is the whole state, (key,
 * state), keys with state first, in a stable order. State lives in memory
 * in per-partition tables rebuilt each batch (no checkpoint directory is
 * needed). Returns NULL on EINVAL (bad columns, no function), EBUSY,
 * ECANCELED, ENOMEM.
 */
SPATE_API spate_dstream *spate_dstream_update_state_by_key(spate_dstream *ds,
                                                           const struct spate_state_opts *opts,
                                                           struct spate_error *err);

/*
 * window: every slide, all records of the last length of ds, oldest batch
 * first (Spark's window(length, slide)). The batches in the window are kept
 * as copies, so their input is released as usual. Early windows are partial;
 * when the slide is longer than the window some batches fall in no window.
 * Returns NULL on EINVAL (length or slide not multiples of ds's slide),
 * EBUSY, ECANCELED, ENOMEM.
 */
SPATE_API spate_dstream *spate_dstream_window(spate_dstream *ds, const struct spate_window_opts *wo,
                                              struct spate_error *err);

/*
 * countByWindow: every slide, one record (column "count") with the number of
 * records in the window; [0] for an empty window once data has been seen,
 * nothing before. Kept incrementally (a running count with an inverse).
 * Returns NULL on EINVAL (length or slide not multiples), EBUSY, ECANCELED, ENOMEM.
 */
SPATE_API spate_dstream *spate_dstream_count_by_window(spate_dstream *ds,
                                                       const struct spate_window_opts *wo,
                                                       struct spate_error *err);

/*
 * reduceByWindow: every slide, one record with the reduction (opts->value_col,
 * SUM/MIN/MAX or an i64 function) of the records in the window; nothing for a
 * window without data (with the inverse: once data was seen, the running
 * value stays, e.g. [0] for a SUM). Windows are built from per-batch panes;
 * use_inverse (SUM, or fn with inv_fn) keeps a running value.
 * Returns NULL on EINVAL, EBUSY, ECANCELED, ENOMEM.
 */
SPATE_API spate_dstream *spate_dstream_reduce_by_window(spate_dstream *ds,
                                                        const struct spate_reduce_opts *opts,
                                                        const struct spate_window_opts *wo,
                                                        struct spate_error *err);

/*
 * countByValueAndWindow: every slide, (value of column 0, count) for the
 * values in the window; values whose count went back to 0 are dropped.
 * Incremental (a running table with an inverse).
 */
SPATE_API spate_dstream *spate_dstream_count_by_value_and_window(spate_dstream *ds,
                                                                 const struct spate_window_opts *wo,
                                                                 struct spate_error *err);

/*
 * groupByKeyAndWindow: group_by_key over window(length, slide) of ds (as
 * Spark defines it): every slide, (key, list of its values in the window).
 * Returns NULL on EINVAL (as window and group_by_key), EBUSY, ECANCELED, ENOMEM.
 */
SPATE_API spate_dstream *spate_dstream_group_by_key_and_window(spate_dstream *ds,
                                                               const struct spate_group_opts *opts,
                                                               const struct spate_window_opts *wo,
                                                               struct spate_error *err);

/* The state of one key inside a map_with_state function (Spark's State). Borrowed for the call. */
typedef struct spate_keyed_state spate_keyed_state;

/* Whether the key has state. */
SPATE_API bool spate_keyed_state_exists(const spate_keyed_state *state);
/* The key's state, 0 when it has none. */
SPATE_API int64_t spate_keyed_state_get(const spate_keyed_state *state);
/* Whether this call is the last one for a key idle past the timeout. */
SPATE_API bool spate_keyed_state_is_timing_out(const spate_keyed_state *state);
/* Set the key's state. EINVAL after remove in the same call, or when timing out. */
SPATE_API SPATE_NODISCARD spate_status spate_keyed_state_update(spate_keyed_state *state,
                                                                int64_t value,
                                                                struct spate_error *err);
/* Remove the key's state. EINVAL after remove in the same call, or when timing out. */
SPATE_API SPATE_NODISCARD spate_status spate_keyed_state_remove(spate_keyed_state *state,
                                                                struct spate_error *err);

/*
 * The function of map_with_state, called once per input record (value set)
 * and once more for a key idle past the timeout (value NULL, state timing
 * out). Set *emit and *mapped to output a record (key, mapped). Return an
 * error to fail the batch (changes to state made before it stay).
 */
typedef spate_status (*spate_map_state_fn)(void *user, int64_t batch_time_ms,
                                           const struct spate_string *skey, int64_t ikey,
                                           const int64_t *value, spate_keyed_state *state,
                                           int64_t *mapped, bool *emit, struct spate_error *err);

/* Options of map_with_state (Spark's StateSpec); initialise with spate_map_state_opts_init(). */
struct spate_map_state_opts {
    uint32_t key_col;      /* string or i64 (default 0); the function gets skey or ikey */
    uint32_t value_col;    /* i64 (default 1) */
    spate_map_state_fn fn; /* required */
    void *user;
    int64_t timeout_ms; /* a key with no data for longer is timed out; 0 = never */
    const struct spate_column_data *initial; /* optional initial state, as for update_state_by_key;
                                                such keys count as idle from the start */
    uint64_t initial_rows;
};

SPATE_API void spate_map_state_opts_init(struct spate_map_state_opts *opts);

/*
 * mapWithState: the function runs once per record, never for idle keys,
 * except one last call (is_timing_out) for a key idle longer than timeout_ms,
 * which is then dropped. Unlike Spark, which finds timeouts only at
 * checkpoint batches, spate finds them at the first batch past the timeout.
 * Output: (key, mapped) for each call that set *emit. Returns NULL on EINVAL
 * (bad columns, no function, negative timeout), EBUSY, ECANCELED, ENOMEM.
 */
SPATE_API spate_dstream *spate_dstream_map_with_state(spate_dstream *ds,
                                                      const struct spate_map_state_opts *opts,
                                                      struct spate_error *err);

/* stateSnapshots: (key, state) of every key with state after each batch of a map_with_state stream.
 */
SPATE_API spate_dstream *spate_dstream_state_snapshots(spate_dstream *map_with_state,
                                                       struct spate_error *err);

/* ---- Output operations ---- */

/*
 * print(n): write, per batch at which ds is valid (every slide), to stdout ("-----" / "Time: <ms>
 * ms" / "-----", the first n records, "..." when there are more, an empty line). Records of one
 * column print as the value, of more as (a,b,...). n = 0 means 10.
 */
SPATE_API SPATE_NODISCARD spate_status spate_dstream_print(spate_dstream *ds, uint32_t n,
                                                           struct spate_error *err);

/* As print, written to file descriptor fd (borrowed, must outlive the context). */
SPATE_API SPATE_NODISCARD spate_status spate_dstream_print_fd(spate_dstream *ds, uint32_t n, int fd,
                                                              struct spate_error *err);

/*
 * saveAsTextFiles: every batch at which ds is valid is written to
 * prefix-<batch time ms>.suffix (no ".suffix" when suffix is NULL or empty),
 * one record per line as print formats them, through a temporary file that
 * is renamed into place, so readers never see a partial file. prefix may
 * contain directories (which must exist). An I/O error fails the batch.
 * Returns SPATE_OK, EINVAL (no prefix, too long), EBUSY, ECANCELED, ENOMEM.
 */
SPATE_API SPATE_NODISCARD spate_status spate_dstream_save_as_text_files(spate_dstream *ds,
                                                                        const char *prefix,
                                                                        const char *suffix,
                                                                        struct spate_error *err);

/*
 * foreachRDD: fn is called on the scheduler thread once per batch, also for
 * empty batches, with the whole batch (read-only, valid during the call).
 * Returning an error fails the batch: reported by await_termination; later
 * batches still run.
 */
typedef spate_status (*spate_batch_fn)(void *user, const spate_batch *batch,
                                       struct spate_error *err);

SPATE_API SPATE_NODISCARD spate_status spate_dstream_foreach_batch(spate_dstream *ds,
                                                                   spate_batch_fn fn, void *user,
                                                                   struct spate_error *err);

#ifdef __cplusplus
}
#endif

#endif /* SPATE_DSTREAM_H */
