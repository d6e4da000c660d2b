/*
 * engine/arrow.h - export of batches through the Arrow C Data Interface.
 * (The implementation is spate_batch_export in include/spate/batch.h.)
 */
#ifndef SP_ARROW_H
#define SP_ARROW_H

#include "spate/batch.h"

#endif /* SP_ARROW_H */
