/*
 * examples/network_wordcount.c - Spark's NetworkWordCount on spate.
 *
 * Counts the words of the text lines read from a TCP server, per batch, and
 * prints the first ten (word,count) pairs of every batch in Spark's format:
 *
 *   lines  = socket_text_stream(host, port)
 *   words  = lines.flat_map_words()
 *   pairs  = words.map_to_pair(word -> (word, 1))
 *   counts = pairs.reduce_by_key(SUM)
 *   counts.print()
 *
 * Try it with the line generator next to it:
 *
 *   line_generator --port 9999 &
 *   network_wordcount 127.0.0.1 9999 1000 --seconds 10
 *
 * Without --seconds it runs until Ctrl-C, with it for S seconds; either way it
 * stops gracefully (everything received is still counted) and prints a
 * summary to stderr. A second Ctrl-C stops at once.
 */
#include "spate/spate.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int usage(const char *why) {
    if (why != NULL)
        fprintf(stderr, "network_wordcount: %s\n", why);
    fprintf(stderr, "usage: network_wordcount <host> <port> [interval_ms] [--seconds S]\n");
    return 2;
}

/* Parse a whole decimal number within [min, max]. */
static int parse_num(const char *s, int64_t min, int64_t max, int64_t *out) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* foreach_batch: add up the counts of a batch (the words it saw), for the summary. */
static spate_status sum_counts(void *user, const spate_batch *batch, struct spate_error *err) {
    (void)err;
    int64_t *words = user;
    for (uint32_t part = 0; part < spate_batch_num_partitions(batch); part++) {
        for (uint32_t idx = 0; idx < spate_batch_num_chunks(batch, part); idx++) {
            struct spate_chunk_view chunk;
            if (spate_batch_chunk(batch, part, idx, &chunk) != SPATE_OK)
                continue;
            for (uint32_t row = 0; row < chunk.rows; row++) {
                int64_t count = 0;
                if (spate_chunk_get_i64(&chunk, 1, row, &count))
                    *words += count;
            }
        }
    }
    return SPATE_OK;
}

int main(int argc, char **argv) {
    const char *host = NULL;
    int64_t port = 0, interval_ms = 1000, seconds = 0;
    int positional = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0) {
            if (i + 1 >= argc || parse_num(argv[++i], 1, INT64_MAX / 1000, &seconds) != 0)
                return usage("--seconds needs a positive number");
        } else if (positional == 0) {
            host = argv[i];
            positional++;
        } else if (positional == 1) {
            if (parse_num(argv[i], 1, 65535, &port) != 0)
                return usage("the port must be a number from 1 to 65535");
            positional++;
        } else if (positional == 2) {
            if (parse_num(argv[i], 1, 86400000, &interval_ms) != 0)
                return usage("interval_ms must be a positive number of milliseconds");
            positional++;
        } else {
            return usage("too many arguments");
        }
    }
    if (positional < 2)
        return usage(NULL);

    struct spate_error err;
    spate_error_init(&err);
    spate_engine *engine = NULL;
    spate_context *ctx = NULL;
    int64_t words_seen = 0;
    int code = 1;

    /* An engine (Spark's SparkContext) and a streaming context with the batch interval. */
    struct spate_engine_opts eo;
    spate_engine_opts_init(&eo);
    eo.pin_workers = false; /* share the cores politely, e.g. with line_generator */
    if (spate_engine_create(&eo, &engine, &err) != SPATE_OK)
        goto fail;
    struct spate_context_opts co;
    spate_context_opts_init(&co);
    co.batch_interval_ms = interval_ms;
    co.name = "network_wordcount";
    if (spate_context_create(engine, &co, &ctx, &err) != SPATE_OK)
        goto fail;

    /* The graph. A NULL stream means a bad argument here, such as an unknown host. */
    spate_dstream *lines = spate_context_socket_text_stream(ctx, host, (uint16_t)port, NULL, &err);
    if (lines == NULL) {
        code = 2;
        fprintf(stderr, "network_wordcount: %s\n", err.message);
        usage(NULL);
        goto out;
    }
    spate_dstream *words = spate_dstream_flat_map_words(lines, &err);
    spate_dstream *pairs = words != NULL ? spate_dstream_map_to_pair(words, 0, 1, &err) : NULL;
    struct spate_reduce_opts ro;
    spate_reduce_opts_init(&ro); /* SUM of column 1 grouped by column 0 */
    spate_dstream *counts = pairs != NULL ? spate_dstream_reduce_by_key(pairs, &ro, &err) : NULL;
    if (counts == NULL || spate_dstream_print(counts, 10, &err) != SPATE_OK ||
        spate_dstream_foreach_batch(counts, sum_counts, &words_seen, &err) != SPATE_OK)
        goto fail;

    if (spate_context_start(ctx, &err) != SPATE_OK)
        goto fail;
    /* Ctrl-C stops gracefully (everything received is counted); a second one forces it. */
    if (spate_context_stop_on_signals(ctx, &err) != SPATE_OK)
        goto fail;
    double t0 = now_s();
    if (seconds == 0) {
        /* Until Ctrl-C. A failed batch is reported; later batches still run. */
        while (spate_context_await_termination(ctx, &err) != SPATE_OK)
            fprintf(stderr, "network_wordcount: batch failed: %s\n", err.message);
    }

    bool stopped = false;
    int64_t deadline_ms = seconds * 1000;
    while (!stopped && now_s() - t0 < (double)seconds) {
        int64_t left_ms = deadline_ms - (int64_t)((now_s() - t0) * 1000.0);
        if (spate_context_await_termination_timeout(ctx, left_ms > 0 ? left_ms : 0, &stopped,
                                                    &err) != SPATE_OK)
            fprintf(stderr, "network_wordcount: batch failed: %s\n", err.message);
    }
    /* Graceful: what was received is still counted; this also stops the engine. */
    if (spate_context_stop(ctx, true, true, &err) != SPATE_OK)
        fprintf(stderr, "network_wordcount: stop: %s\n", err.message);
    engine = NULL;
    double elapsed = now_s() - t0;

    struct spate_input_stats st;
    if (spate_input_stats(lines, &st, &err) != SPATE_OK)
        goto fail;
    fprintf(stderr,
            "network_wordcount: %" PRIu64 " batches, %" PRIu64 " records, %" PRId64
            " words in %.1f s (%.0f words/s)\n",
            spate_context_batches_completed(ctx), st.records, words_seen, elapsed,
            elapsed > 0 ? (double)words_seen / elapsed : 0.0);
    code = 0;
    goto out;

fail:
    fprintf(stderr, "network_wordcount: %s\n", err.message);
out:
    if (ctx != NULL) {
        /* Safe in every state; stops (and here also destroys) the engine if still running. */
        if (spate_context_stop(ctx, true, false, &err) != SPATE_OK)
            fprintf(stderr, "network_wordcount: stop: %s\n", err.message);
        spate_context_destroy(ctx);
    } else {
        spate_engine_destroy(engine);
    }
    return code;
}
