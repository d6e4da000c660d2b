/*
 * engine/binary.h - parse_binary: fixed-width little-endian binary records of
 * a string column into typed columns.
 */
#ifndef SP_BINARY_H
#define SP_BINARY_H

#include "engine/batch.h"
#include "engine/dstream.h"
#include "kernels/kernels.h"

/* Where each output column's field lies in a record (owned by the node, sp_mem). */
struct sp_binary_layout {
    uint32_t offset[SP_MAX_COLUMNS]; /* first byte of the field */
    uint32_t width[SP_MAX_COLUMNS];  /* its bytes: 1, 4, 8 or a string's N */
};

/* Per worker and parse_binary node: room for the records of one chunk. */
struct sp_binary_scratch {
    const char **rec; /* [SPATE_CHUNK_ROWS]: bytes of the records of the right length */
    uint32_t *row;    /* [SPATE_CHUNK_ROWS]: their row in the input chunk */
    uint8_t *bad;     /* [SPATE_CHUNK_ROWS] by record: a field rejected it */
    uint8_t *inbad;   /* [SPATE_CHUNK_ROWS] by input row: malformed */
    uint64_t *u64;    /* [SPATE_CHUNK_ROWS]: decoded 8-byte fields */
};

/* Scratch in r. Returns false on ENOMEM. */
bool sp_binary_scratch_init(struct sp_binary_scratch *sc, struct sp_region *r);

/*
 * Decode the records of in (column node->u.bin.col) into out (node's schema,
 * room for SPATE_CHUNK_ROWS rows; its validity pointers are reset here), in
 * order. Malformed records are counted on node and written to its
 * dead-letter file; null values are skipped. Returns false on ENOMEM.
 */
bool sp_binary_parse_chunk(struct spate_dstream *node, const struct sp_kernels *k,
                           struct sp_binary_scratch *sc, struct sp_region *r,
                           const struct sp_chunk *in, struct sp_chunk *out);

/* Free what a parse_binary node owns (layout, dead-letter file). */
void sp_binary_free_node(struct spate_dstream *ds);

#endif /* SP_BINARY_H */
