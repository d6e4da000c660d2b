/*
 * examples/stateful_wordcount.c - running word counts across batches, both
 * ways Spark offers:
 *
 *   update_state_by_key: the function sees every word each batch and keeps
 *     the running total (the output is the whole state);
 *   map_with_state: the function runs once per word occurrence, emits the
 *     word's running total, and forgets words idle for 10 s (one last call
 *     with is_timing_out first).
 *
 *   line_generator --port 9999 --seconds 30 &
 *   stateful_wordcount 127.0.0.1 9999 [--seconds S]
 */
#include "spate/spate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* update_state_by_key: total += the batch's counts; keep every word. */
static bool add_counts(void *user, const int64_t *values, uint32_t n, bool has_state,
                       int64_t *state) {
    (void)user;
    int64_t total = has_state ? *state : 0;
    for (uint32_t i = 0; i < n; i++)
        total += values[i];
    *state = total;
    return true;
}

/* map_with_state: emit the running total at every occurrence. */
static spate_status running_total(void *user, int64_t batch_time_ms,
                                  const struct spate_string *word, int64_t ikey, const int64_t *one,
                                  spate_keyed_state *state, int64_t *mapped, bool *emit,
                                  struct spate_error *err) {
    (void)user;
    (void)batch_time_ms;
    (void)word;
    (void)ikey;
    if (one == NULL) { /* idle for 10 s: the last call, the state cannot change */
        *mapped = spate_keyed_state_get(state);
        *emit = false;
        return SPATE_OK;
    }
    int64_t total = spate_keyed_state_get(state) + *one;
    *mapped = total;
    *emit = true;
    return spate_keyed_state_update(state, total, err);
}

static int fail(const char *what, const struct spate_error *err) {
    fprintf(stderr, "stateful_wordcount: %s: %s\n", what, err->message);
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: stateful_wordcount <host> <port> [--seconds S]\n");
        return 2;
    }
    long port = strtol(argv[2], NULL, 10);
    long seconds = argc > 4 && strcmp(argv[3], "--seconds") == 0 ? strtol(argv[4], NULL, 10) : 0;
    if (port <= 0 || port > 65535 || seconds < 0) {
        fprintf(stderr, "usage: stateful_wordcount <host> <port> [--seconds S]\n");
        return 2;
    }
    struct spate_error err;
    spate_engine *engine;
    if (spate_engine_create(NULL, &engine, &err) != SPATE_OK)
        return fail("engine", &err);
    spate_context *ssc;
    if (spate_context_create(engine, NULL, &ssc, &err) != SPATE_OK)
        return fail("context", &err);

    spate_dstream *lines =
        spate_context_socket_text_stream(ssc, argv[1], (uint16_t)port, NULL, &err);
    spate_dstream *words = lines ? spate_dstream_flat_map_words(lines, &err) : NULL;
    spate_dstream *pairs = words ? spate_dstream_map_to_pair(words, 0, 1, &err) : NULL;
    if (pairs == NULL)
        return fail("define", &err);

    struct spate_state_opts so;
    spate_state_opts_init(&so);
    so.fn = add_counts;
    spate_dstream *totals = spate_dstream_update_state_by_key(pairs, &so, &err);

    struct spate_map_state_opts mo;
    spate_map_state_opts_init(&mo);
    mo.fn = running_total;
    mo.timeout_ms = 10000;
    spate_dstream *running = spate_dstream_map_with_state(pairs, &mo, &err);
    if (totals == NULL || running == NULL || spate_dstream_print(totals, 10, &err) != SPATE_OK ||
        spate_dstream_print(running, 5, &err) != SPATE_OK)
        return fail("define", &err);

    if (spate_context_start(ssc, &err) != SPATE_OK)
        return fail("start", &err);
    bool stopped = false;
    spate_status rc =
        seconds > 0 ? spate_context_await_termination_timeout(ssc, seconds * 1000, &stopped, &err)
                    : spate_context_await_termination(ssc, &err);
    if (rc != SPATE_OK)
        fprintf(stderr, "stateful_wordcount: a batch failed: %s\n", err.message);
    rc = spate_context_stop(ssc, true, true, &err);
    spate_context_destroy(ssc);
    return rc == SPATE_OK ? 0 : fail("stop", &err);
}
