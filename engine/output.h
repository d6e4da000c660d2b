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

#endif /* SP_OUTPUT_H */
