/*
 * engine/batch.h - schemas, columnar chunks and batches inside the engine.
 *
 * A chunk is the public spate_chunk_view plus the column array it points
 * at, allocated in one piece; column buffers hold SPATE_CHUNK_ROWS rows,
 * 64-byte aligned. A batch is P partitions, each a growable list of chunks
 * or, for text inputs before they are framed, a byte range of a ring.
 */
#ifndef SP_BATCH_H
#define SP_BATCH_H

#include "spate/batch.h"
#include "engine/common.h"
#include "engine/region.h"

#include <stdatomic.h>

#ifndef SPATE_CHUNK_ROWS
#define SPATE_CHUNK_ROWS 2048
#endif

#define SP_MAX_COLUMNS 64

struct sp_schema {
    uint32_t ncols;
    struct spate_column_def cols[SP_MAX_COLUMNS]; /* names point into names[] */
    char names[SP_MAX_COLUMNS][48];
};

/* Copy defs into s. Returns SPATE_OK or EINVAL (too many columns, bad type, no name). */
spate_status sp_schema_set(struct sp_schema *s, const struct spate_column_def *defs, uint32_t n,
                           struct spate_error *err);
size_t sp_type_width(enum spate_type t);
/* A normalized view of data[0, len) (zero padding; longer than 12 bytes: borrows data). */
void sp_string_view(struct spate_string *s, const char *data, uint32_t len);
/* EINVAL with a message naming what when a user-declared schema has a LIST column
 * (lists are made by group_by_key and cogroup only). */
spate_status sp_schema_no_lists(const struct spate_column_def *defs, uint32_t n, const char *what,
                                struct spate_error *err);

struct sp_chunk {
    struct spate_chunk_view view;    /* rows, num_columns, columns, sel */
    struct spate_column_view cols[]; /* view.columns points here */
};

/* Writable access to a column's data and validity. */
static inline void *sp_col_data(struct sp_chunk *c, uint32_t col) {
    return (void *)(uintptr_t)c->cols[col].data;
}

/* A new chunk with room for SPATE_CHUNK_ROWS rows of every column of s, rows = 0. */
struct sp_chunk *sp_chunk_new(struct sp_region *r, const struct sp_schema *s);
/* A chunk header only (columns point nowhere): the caller sets the buffers. */
struct sp_chunk *sp_chunk_new_header(struct sp_region *r, const struct sp_schema *s);
/* Allocate (zeroed) a validity bitmap for column col of c. */
uint64_t *sp_chunk_add_validity(struct sp_region *r, struct sp_chunk *c, uint32_t col);
/* Row index of logical row i (selection applied). */
static inline uint32_t sp_chunk_row(const struct spate_chunk_view *v, uint32_t i) {
    return v->sel != NULL ? v->sel[i] : i;
}
static inline bool sp_valid(const uint64_t *validity, uint32_t row) {
    return validity == NULL || ((validity[row >> 6] >> (row & 63)) & 1u);
}

struct sp_part {
    struct sp_chunk **chunks;
    uint32_t nchunks;
    uint32_t cap;
    const char *text; /* text partition: bytes of whole lines, each ending in '\n' */
    uint64_t text_len;
};

/* Append chunk to part (growing the list in r). Returns SPATE_OK or ENOMEM. */
spate_status sp_part_append(struct sp_region *r, struct sp_part *part, struct sp_chunk *chunk);

struct spate_batch {
    int64_t time_ms;
    const struct sp_schema *schema;
    uint32_t nparts;
    struct sp_part *parts;
    bool text;                        /* partitions are text ranges (lines), not chunks */
    uint32_t record_bytes;            /* text batches: > 0 when the ranges are fixed-width
                                         binary records of this size, not lines */
    uint64_t rows;                    /* rows, known for chunk batches; lines for text batches */
    _Atomic(struct sp_zc_token *) zc; /* zero-copy Arrow exports made during a callback */
};

struct sp_zc_token;

/* A batch of nparts empty partitions in r. NULL on ENOMEM. */
struct spate_batch *sp_batch_new(struct sp_region *r, const struct sp_schema *s, uint32_t nparts,
                                 int64_t time_ms);
/* Recount rows from the chunks. */
void sp_batch_count_rows(struct spate_batch *b);

struct spate_chunk_builder {
    struct sp_chunk *chunk;   /* the output chunk being filled */
    struct sp_region *region; /* where copied strings go */
    uint32_t rows;            /* rows the callback must fill */
    uint32_t col_base;        /* the callback's column 0 is chunk column col_base */
    bool oom;                 /* a copy failed */
};

#endif /* SP_BATCH_H */
