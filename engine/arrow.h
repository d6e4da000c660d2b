/*
 * engine/arrow.h - export of batches through the Arrow C Data Interface.
 * (The implementation is spate_batch_export in include/spate/batch.h.)
 */
#ifndef SP_ARROW_H
#define SP_ARROW_H

#include "spate/batch.h"

/*
 * After a callback got batch b: forget its zero-copy exports; EINVAL with a
 * message when some were not released (their later release is still safe:
 * it no longer touches b).
 */
spate_status sp_arrow_check_borrowed(struct spate_batch *b, struct spate_error *err);

#endif /* SP_ARROW_H */
