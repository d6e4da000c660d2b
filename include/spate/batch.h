/*
 * spate/batch.h - read-only views of one batch of a stream.
 *
 * A batch (Spark's RDD for one interval) is P partitions, each a list of
 * columnar chunks of up to SPATE_CHUNK_ROWS rows. foreach_batch callbacks get
 * a const spate_batch; everything reached from it is borrowed and valid only
 * during the callback.
 */
#ifndef SPATE_BATCH_H
#define SPATE_BATCH_H

#include "spate/schema.h"
#include "spate/arrow_abi.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct spate_batch spate_batch;

/* One column of caller-owned data (queue pushes, writers, initial state): copied by spate. */
struct spate_column_data {
    const void *data; /* rows values of the column's type (struct spate_string for strings) */
    const uint64_t *validity; /* NULL = no nulls */
};

/* One column of a chunk. Borrowed. */
struct spate_column_view {
    enum spate_type type;
    const void *data;         /* rows values: int64_t, double, uint8_t or struct spate_string */
    const uint64_t *validity; /* bit i set = row i valid; NULL = no nulls */
};

/*
 * One chunk: up to SPATE_CHUNK_ROWS rows of every column. When sel is not
 * NULL only rows sel[0..rows) of the columns are part of the chunk.
 */
struct spate_chunk_view {
    uint32_t rows; /* rows in the chunk (after selection) */
    uint32_t num_columns;
    const struct spate_column_view *columns;
    const uint16_t *sel; /* NULL = rows 0..rows */
};

/* Batch time in ms (zero_time + k * interval). */
SPATE_API int64_t spate_batch_time_ms(const spate_batch *batch);
/* Rows in the whole batch. */
SPATE_API uint64_t spate_batch_rows(const spate_batch *batch);
/* Columns of the batch's schema. */
SPATE_API uint32_t spate_batch_num_columns(const spate_batch *batch);
/* Name and type of column col (NULL / 0 when out of range). Borrowed. */
SPATE_API const char *spate_batch_column_name(const spate_batch *batch, uint32_t col);
SPATE_API enum spate_type spate_batch_column_type(const spate_batch *batch, uint32_t col);
/* Partitions, and chunks of partition part. */
SPATE_API uint32_t spate_batch_num_partitions(const spate_batch *batch);
SPATE_API uint32_t spate_batch_num_chunks(const spate_batch *batch, uint32_t part);

/*
 * View chunk idx of partition part. Returns SPATE_OK or EINVAL (out of range).
 * Ownership: out is the caller's; what it points to is borrowed for the
 * duration of the callback that received batch.
 */
SPATE_API SPATE_NODISCARD spate_status spate_batch_chunk(const spate_batch *batch, uint32_t part,
                                                         uint32_t idx,
                                                         struct spate_chunk_view *out);

/*
 * Row-level convenience (the slow path): the value of column col at logical
 * row row of chunk (after selection). Returns false when the value is null.
 */
SPATE_API bool spate_chunk_get_i64(const struct spate_chunk_view *chunk, uint32_t col, uint32_t row,
                                   int64_t *out);
SPATE_API bool spate_chunk_get_f64(const struct spate_chunk_view *chunk, uint32_t col, uint32_t row,
                                   double *out);
SPATE_API bool spate_chunk_get_string(const struct spate_chunk_view *chunk, uint32_t col,
                                      uint32_t row, const char **data, uint32_t *len);
/* The list at row of a LIST column (false when null, not a list, or out of range). */
SPATE_API bool spate_chunk_get_list(const struct spate_chunk_view *chunk, uint32_t col,
                                    uint32_t row, struct spate_list *out);

/*
 * Export the whole batch (every partition and chunk, selections applied) as
 * one Arrow record batch: a struct array whose children are the columns,
 * formats "l" (i64), "g" (f64), "b" (bool, bit-packed), "tsn:" (timestamp,
 * ns) and "u" (utf8, int32 offsets), with validity bitmaps where a column has
 * nulls. The export owns copies of the data, so it stays valid after the
 * callback that got batch returns, until the consumer calls the release
 * callbacks (Arrow's move rules apply: a moved-from struct has release NULL).
 * Returns SPATE_OK, EINVAL (NULL arguments), EOVERFLOW (a string column of
 * more than 2 GiB), ENOMEM.
 * Ownership: the caller owns *schema and *array and must call their release.
 */
SPATE_API SPATE_NODISCARD spate_status spate_batch_export(const spate_batch *batch,
                                                          struct ArrowSchema *schema,
                                                          struct ArrowArray *array,
                                                          struct spate_error *err);

/*
 * Export the batch without copying its data, as an Arrow stream of record
 * batches, one per chunk (partition 0's chunks first). i64, f64 and
 * timestamp columns and validity bitmaps point at the chunk's own buffers;
 * strings are Arrow string views ("vu"), whose 16-byte layout is spate's for
 * strings of up to 12 bytes, with longer strings' bytes left where they are
 * (each one a variadic buffer of its own); bools, lists and chunks with a
 * selection are copied. The export borrows the batch: the stream and every
 * array it gave must be released before the callback that got batch
 * returns. A foreach_batch callback that returns with an export still
 * unreleased fails its batch with a message saying so (the consumer would
 * otherwise read freed memory). Returns SPATE_OK, EINVAL (NULL arguments),
 * ENOMEM. Ownership: the caller owns *out and must call its release.
 */
SPATE_API SPATE_NODISCARD spate_status spate_batch_export_stream(const spate_batch *batch,
                                                                 struct ArrowArrayStream *out,
                                                                 struct spate_error *err);

/*
 * Builder for the output of a chunk callback (map). Output columns hold as
 * many rows as the input chunk; values are written by the callback.
 */
typedef struct spate_chunk_builder spate_chunk_builder;

/* The writable data of output column col: int64_t*, double* or uint8_t* with room for every row.
 * NULL for string columns (use spate_builder_set_string) or out of range. */
SPATE_API void *spate_builder_column(spate_chunk_builder *b, uint32_t col);
/* Copy len bytes into the batch's memory and store them at row of string column col. */
SPATE_API SPATE_NODISCARD spate_status spate_builder_set_string(spate_chunk_builder *b,
                                                                uint32_t col, uint32_t row,
                                                                const char *data, uint32_t len);
/* Store a view whose bytes already live in the input batch (no copy). */
SPATE_API SPATE_NODISCARD spate_status spate_builder_set_view(spate_chunk_builder *b, uint32_t col,
                                                              uint32_t row,
                                                              const struct spate_string *s);
/* Mark row of column col as null. */
SPATE_API SPATE_NODISCARD spate_status spate_builder_set_null(spate_chunk_builder *b, uint32_t col,
                                                              uint32_t row);

#ifdef __cplusplus
}
#endif

#endif /* SPATE_BATCH_H */
