/*
 * engine/exec.h - running the graph for one batch.
 *
 * Stage 1 runs on every input partition, one task per partition: the
 * narrow operators between a batch-producing node and its consumer are fused
 * per chunk (no queue between them) and end in a sink: materialize into
 * the output partition, count, or a per-worker partial aggregate radix-
 * partitioned by hash. Stage 2 (aggregates) merges radix partition r of every
 * worker's partials on one worker each. Batches are memoized per node for the
 * batch, so two outputs of one stream compute it once.
 */
#ifndef SP_EXEC_H
#define SP_EXEC_H

#include "engine/context.h"

/* Set up per-worker state for ctx (regions, scratch). Returns SPATE_OK or ENOMEM. */
spate_status sp_exec_create(struct spate_context *ctx, struct sp_exec **out,
                            struct spate_error *err);
void sp_exec_destroy(struct sp_exec *exec);

/*
 * Run job: compute what every output needs and run the outputs in order.
 * Fills info (records, failed); a failure is reported in err (the first
 * one), and the other outputs still run. Releases the batch's memory and
 * input data before returning.
 */
void sp_exec_run_job(struct sp_exec *exec, struct sp_job *job, struct spate_batch_info *info,
                     struct spate_error *err);

#endif /* SP_EXEC_H */
