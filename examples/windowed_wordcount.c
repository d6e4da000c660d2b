/*
 * examples/windowed_wordcount.c - word counts over a sliding window, as in
 * Spark's guide (reduceByKeyAndWindow with an inverse function):
 *
 *   lines  = socket_text_stream(host, port)            batch interval 1 s
 *   pairs  = lines.flat_map_words().map_to_pair(1)
 *   counts = pairs.reduce_by_key_and_window(SUM, length 30 s, slide 10 s,
 *                                           with the inverse)
 *   counts.print()                                     every 10 s
 *
 *   line_generator --port 9999 --seconds 60 &
 *   windowed_wordcount 127.0.0.1 9999 [--seconds S]
 *
 * With the inverse, each slide adds the newest second of data and takes the
 * oldest out, whatever the window length; words whose count went back to 0
 * stay in the output as (word,0), as in Spark.
 */
#include "spate/spate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, const struct spate_error *err) {
    fprintf(stderr, "windowed_wordcount: %s: %s\n", what, err->message);
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: windowed_wordcount <host> <port> [--seconds S]\n");
        return 2;
    }
    long port = strtol(argv[2], NULL, 10);
    long seconds = argc > 4 && strcmp(argv[3], "--seconds") == 0 ? strtol(argv[4], NULL, 10) : 0;
    if (port <= 0 || port > 65535 || seconds < 0) {
        fprintf(stderr, "usage: windowed_wordcount <host> <port> [--seconds S]\n");
        return 2;
    }
    struct spate_error err;
    spate_engine *engine;
    if (spate_engine_create(NULL, &engine, &err) != SPATE_OK)
        return fail("engine", &err);
    struct spate_context_opts co;
    spate_context_opts_init(&co);
    co.batch_interval_ms = 1000;
    spate_context *ssc;
    if (spate_context_create(engine, &co, &ssc, &err) != SPATE_OK)
        return fail("context", &err);

    spate_dstream *lines =
        spate_context_socket_text_stream(ssc, argv[1], (uint16_t)port, NULL, &err);
    spate_dstream *words = lines ? spate_dstream_flat_map_words(lines, &err) : NULL;
    spate_dstream *pairs = words ? spate_dstream_map_to_pair(words, 0, 1, &err) : NULL;
    struct spate_reduce_opts ro;
    spate_reduce_opts_init(&ro); /* SUM of column 1 by column 0 */
    struct spate_window_opts wo;
    spate_window_opts_init(&wo);
    wo.length_ms = 30000;
    wo.slide_ms = 10000;
    wo.use_inverse = true;
    spate_dstream *counts =
        pairs ? spate_dstream_reduce_by_key_and_window(pairs, &ro, &wo, &err) : NULL;
    if (counts == NULL || spate_dstream_print(counts, 10, &err) != SPATE_OK)
        return fail("define", &err);

    if (spate_context_start(ssc, &err) != SPATE_OK)
        return fail("start", &err);
    bool stopped = false;
    spate_status rc =
        seconds > 0 ? spate_context_await_termination_timeout(ssc, seconds * 1000, &stopped, &err)
                    : spate_context_await_termination(ssc, &err);
    if (rc != SPATE_OK)
        fprintf(stderr, "windowed_wordcount: a batch failed: %s\n", err.message);
    rc = spate_context_stop(ssc, true, true, &err);
    spate_context_destroy(ssc);
    return rc == SPATE_OK ? 0 : fail("stop", &err);
}
