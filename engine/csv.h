/*
 * engine/csv.h - parse_csv: lines of a string column into typed columns.
 */
#ifndef SP_CSV_H
#define SP_CSV_H

#include "engine/batch.h"
#include "engine/dstream.h"
#include "kernels/kernels.h"

/* Per worker and parse_csv node: room for the fields of one chunk. */
struct sp_csv_scratch {
    const char **ptr; /* [col * SPATE_CHUNK_ROWS + row]: field bytes */
    uint32_t *len;
    uint8_t *quoted; /* [col * SPATE_CHUNK_ROWS + row] */
    uint8_t *bad;    /* [row]: the line is malformed */
    int64_t *ival;   /* [SPATE_CHUNK_ROWS]: parsed values of one column */
    double *fval;
    uint64_t *ok; /* [SPATE_CHUNK_ROWS / 64] */
};

/* Scratch for node's columns in r. Returns false on ENOMEM. */
bool sp_csv_scratch_init(struct sp_csv_scratch *sc, struct sp_region *r, uint32_t ncols);

/*
 * Parse the lines of in (column node->u.csv.col) into out (node's schema,
 * room for SPATE_CHUNK_ROWS rows; its validity pointers are reset here);
 * unquoted strings and validity come from r. Malformed lines are counted on
 * node and written to its dead-letter file. Returns false on ENOMEM.
 */
bool sp_csv_parse_chunk(struct spate_dstream *node, const struct sp_kernels *k,
                        struct sp_csv_scratch *sc, struct sp_region *r, const struct sp_chunk *in,
                        struct sp_chunk *out);

/*
 * Dead-letter files of the parsers (parse_csv, parse_binary): open path for
 * appending (created if missing) into *fd, or EIO with a message naming what;
 * path NULL gives *fd = -1. Writing is a courtesy: a failed write loses the
 * letters, never the counts.
 */
spate_status sp_dead_letter_open(const char *path, const char *what, int *fd,
                                 struct spate_error *err);
void sp_dead_letter_write(int fd, const char *buf, size_t len);

/* ISO-8601 or integer milliseconds into nanoseconds since the epoch (exposed for tests). */
bool sp_csv_parse_timestamp(const char *p, uint32_t len, int64_t *ns);

#endif /* SP_CSV_H */
