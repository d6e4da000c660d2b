/*
 * engine/output.h - output operations that the engine formats itself.
 */
#ifndef SP_OUTPUT_H
#define SP_OUTPUT_H

#include "engine/batch.h"

/*
 * Print batch b in Spark's DStream.print format to fd: a dashed line,
 * "Time: <ms> ms", a dashed line, the first n records one per line (a
 * record of several columns as (a,b,...)), "..." when there are more, and
 * an empty line. Scratch memory comes from r. Returns SPATE_OK or EIO.
 */
spate_status sp_output_print(const struct spate_batch *b, uint32_t n, int fd, struct sp_region *r,
                             struct spate_error *err);

/*
 * Write every record of b, one per line as print formats them, to
 * prefix-<time ms>.suffix (no ".suffix" when suffix is empty): into a
 * temporary file first, fsync'ed, then renamed, so a reader never sees a
 * partial file. Returns SPATE_OK, EIO or ENOMEM.
 */
spate_status sp_output_save_text(const struct spate_batch *b, const char *prefix,
                                 const char *suffix, struct sp_region *r, struct spate_error *err);

#endif /* SP_OUTPUT_H */
