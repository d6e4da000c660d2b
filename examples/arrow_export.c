/*
 * examples/arrow_export.c - handing batches to Arrow consumers.
 *
 * A foreach_batch exports every batch of a word count through the Arrow C
 * Data Interface (spate_batch_export) and reads it back the way any Arrow
 * consumer would (DuckDB, pyarrow and polars import exactly these structs):
 * a struct array whose children are the columns. The consumer owns the
 * export and calls release when done; here it keeps each batch until the
 * next one arrives, to show that the export outlives the callback.
 *
 * A second foreach_batch borrows the same batches without copying
 * (spate_batch_export_stream): an ArrowArrayStream of one record batch per
 * chunk whose buffers are the engine's own, read and released inside the
 * callback.
 */
#include "spate/spate.h"

#include <errno.h>
#include <stdio.h>

static struct ArrowSchema kept_schema; /* the previous batch, still readable */
static struct ArrowArray kept_array;

static void release_kept(void) {
    if (kept_array.release != NULL)
        kept_array.release(&kept_array);
    if (kept_schema.release != NULL)
        kept_schema.release(&kept_schema);
}

static spate_status to_arrow(void *user, const spate_batch *batch, struct spate_error *err) {
    (void)user;
    release_kept();
    if (spate_batch_export(batch, &kept_schema, &kept_array, err) != SPATE_OK)
        return EIO;
    printf("batch %lld ms: arrow struct<", (long long)spate_batch_time_ms(batch));
    for (int64_t c = 0; c < kept_schema.n_children; c++)
        printf("%s%s: %s", c ? ", " : "", kept_schema.children[c]->name,
               kept_schema.children[c]->format);
    printf("> with %lld rows\n", (long long)kept_array.length);
    const struct ArrowArray *words = kept_array.children[0], *counts = kept_array.children[1];
    const int32_t *offsets = words->buffers[1];
    const char *chars = words->buffers[2];
    for (int64_t r = 0; r < kept_array.length && r < 5; r++)
        printf("  %.*s = %lld\n", (int)(offsets[r + 1] - offsets[r]), chars + offsets[r],
               (long long)((const int64_t *)counts->buffers[1])[r]);
    return SPATE_OK;
}

/* The zero-copy way: borrow, read, release before returning. */
static spate_status borrow(void *user, const spate_batch *batch, struct spate_error *err) {
    (void)user;
    struct ArrowArrayStream stream;
    if (spate_batch_export_stream(batch, &stream, err) != SPATE_OK)
        return EIO;
    int64_t chunks = 0, rows = 0, total = 0;
    for (;;) {
        struct ArrowArray chunk;
        if (stream.get_next(&stream, &chunk) != 0) {
            stream.release(&stream);
            return EIO;
        }
        if (chunk.release == NULL)
            break;                                             /* end of stream */
        const int64_t *counts = chunk.children[1]->buffers[1]; /* the engine's buffer */
        for (int64_t r = 0; r < chunk.length; r++)
            total += counts[r];
        chunks++;
        rows += chunk.length;
        chunk.release(&chunk);
    }
    stream.release(&stream);
    printf("batch %lld ms: borrowed %lld record batches, %lld rows, %lld words, no copy\n",
           (long long)spate_batch_time_ms(batch), (long long)chunks, (long long)rows,
           (long long)total);
    return SPATE_OK;
}

static int fail(const char *what, const struct spate_error *err) {
    fprintf(stderr, "arrow_export: %s: %s\n", what, err->message);
    return 1;
}

int main(void) {
    struct spate_error err;
    spate_engine *engine;
    if (spate_engine_create(NULL, &engine, &err) != SPATE_OK)
        return fail("engine", &err);
    struct spate_context_opts co;
    spate_context_opts_init(&co);
    co.manual_clock = true;
    spate_context *ssc;
    if (spate_context_create(engine, &co, &ssc, &err) != SPATE_OK)
        return fail("context", &err);
    struct spate_column_def cols[] = {{"line", SPATE_TYPE_STRING}};
    spate_dstream *lines = spate_context_queue_stream(ssc, cols, 1, &err);
    spate_dstream *words = lines ? spate_dstream_flat_map_words(lines, &err) : NULL;
    struct spate_reduce_opts ro;
    spate_reduce_opts_init(&ro);
    ro.agg = SPATE_AGG_COUNT;
    spate_dstream *counts = words ? spate_dstream_reduce_by_key(words, &ro, &err) : NULL;
    if (counts == NULL || spate_dstream_foreach_batch(counts, to_arrow, NULL, &err) != SPATE_OK ||
        spate_dstream_foreach_batch(counts, borrow, NULL, &err) != SPATE_OK)
        return fail("define", &err);
    const char *b1[] = {"to be or not to be", "that is the question"};
    const char *b2[] = {"whether tis nobler in the mind to suffer"};
    if (spate_queue_push_lines(lines, b1, 2, &err) != SPATE_OK ||
        spate_queue_push_lines(lines, b2, 1, &err) != SPATE_OK ||
        spate_context_start(ssc, &err) != SPATE_OK ||
        spate_context_advance(ssc, 2, &err) != SPATE_OK)
        return fail("run", &err);
    bool stopped;
    if (spate_context_await_termination_timeout(ssc, 0, &stopped, &err) != SPATE_OK)
        return fail("a batch", &err);
    spate_status rc = spate_context_stop(ssc, true, false, &err);
    spate_context_destroy(ssc);
    /* The last export is still valid after the context is gone. */
    printf("after stop: the last export still has %lld rows\n", (long long)kept_array.length);
    release_kept();
    return rc == SPATE_OK ? 0 : fail("stop", &err);
}
