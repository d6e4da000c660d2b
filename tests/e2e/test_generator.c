/*
 * tests/e2e/test_generator.c - the built-in generator stream: exactly
 * max_lines lines arrive, words are counted exactly (the word count of the
 * stream equals the words of the lines it saw), the same seed gives the same
 * words whatever the number of workers, and a rate is kept as an upper bound.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "spate/spate.h"

struct totals {
    pthread_mutex_t mu;
    uint64_t lines, words, checksum, spaces;
};

static spate_status count_lines(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    struct totals *t = user;
    uint64_t lines = 0, spaces = 0;
    for (uint32_t p = 0; p < spate_batch_num_partitions(b); p++) {
        for (uint32_t c = 0; c < spate_batch_num_chunks(b, p); c++) {
            struct spate_chunk_view v;
            if (spate_batch_chunk(b, p, c, &v) != SPATE_OK)
                return EIO;
            for (uint32_t r = 0; r < v.rows; r++) {
                const char *s;
                uint32_t len;
                if (!spate_chunk_get_string(&v, 0, r, &s, &len))
                    return EIO;
                for (uint32_t i = 0; i < len; i++)
                    spaces += s[i] == ' ';
                lines++;
            }
        }
    }
    pthread_mutex_lock(&t->mu);
    t->lines += lines;
    t->spaces += spaces;
    pthread_mutex_unlock(&t->mu);
    return SPATE_OK;
}

/* (word, count) records: total words and an order-free checksum of the counts. */
static spate_status count_words(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    struct totals *t = user;
    uint64_t words = 0, sum = 0;
    for (uint32_t p = 0; p < spate_batch_num_partitions(b); p++) {
        for (uint32_t c = 0; c < spate_batch_num_chunks(b, p); c++) {
            struct spate_chunk_view v;
            if (spate_batch_chunk(b, p, c, &v) != SPATE_OK)
                return EIO;
            for (uint32_t r = 0; r < v.rows; r++) {
                const char *s;
                uint32_t len;
                int64_t n;
                if (!spate_chunk_get_string(&v, 0, r, &s, &len) ||
                    !spate_chunk_get_i64(&v, 1, r, &n))
                    return EIO;
                uint64_t h = 1469598103934665603ull;
                for (uint32_t i = 0; i < len; i++)
                    h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
                words += (uint64_t)n;
                sum += h * (uint64_t)n;
            }
        }
    }
    pthread_mutex_lock(&t->mu);
    t->words += words;
    t->checksum += sum;
    pthread_mutex_unlock(&t->mu);
    return SPATE_OK;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void run(uint32_t workers, uint64_t max_lines, uint64_t rate, long run_ms,
                struct totals *t) {
    struct spate_error err;
    struct spate_engine_opts eo;
    spate_engine_opts_init(&eo);
    eo.workers = workers;
    eo.pin_workers = false;
    spate_engine *engine;
    assert_int_equal(spate_engine_create(&eo, &engine, &err), SPATE_OK);
    struct spate_context_opts co;
    spate_context_opts_init(&co);
    co.batch_interval_ms = 20;
    spate_context *ctx;
    assert_int_equal(spate_context_create(engine, &co, &ctx, &err), SPATE_OK);
    struct spate_generator_opts go;
    spate_generator_opts_init(&go);
    go.vocabulary = 5000;
    go.max_lines = max_lines;
    go.lines_per_second = rate;
    go.seed = 7;
    go.ring_bytes = 1u << 20; /* small: backpressure on the generator */
    spate_dstream *lines = spate_context_generator_stream(ctx, &go, &err);
    assert_non_null(lines);
    spate_dstream *words = spate_dstream_flat_map_words(lines, &err);
    struct spate_reduce_opts ro;
    spate_reduce_opts_init(&ro);
    ro.agg = SPATE_AGG_COUNT;
    spate_dstream *counts = spate_dstream_reduce_by_key(words, &ro, &err);
    memset(t, 0, sizeof(*t));
    pthread_mutex_init(&t->mu, NULL);
    assert_int_equal(spate_dstream_foreach_batch(lines, count_lines, t, &err), SPATE_OK);
    assert_int_equal(spate_dstream_foreach_batch(counts, count_words, t, &err), SPATE_OK);
    assert_int_equal(spate_context_start(ctx, &err), SPATE_OK);
    for (long waited = 0; waited < run_ms; waited += 10) {
        struct spate_input_stats st;
        assert_int_equal(spate_input_stats(lines, &st, &err), SPATE_OK);
        if (max_lines > 0 && st.records >= max_lines)
            break;
        sleep_ms(10);
    }
    assert_int_equal(spate_context_stop(ctx, true, true, &err), SPATE_OK);
    spate_context_destroy(ctx);
    pthread_mutex_destroy(&t->mu);
}

static void generator_exact_and_deterministic(void **state) {
    (void)state;
    struct totals a, b;
    run(1, 50000, 0, 30000, &a);
    assert_int_equal(a.lines, 50000);
    assert_int_equal(a.words, a.spaces + a.lines); /* words = spaces + 1 per line */
    run(2, 50000, 0, 30000, &b);
    assert_int_equal(b.lines, 50000);
    assert_int_equal(b.words, a.words);
    assert_int_equal(b.checksum, a.checksum); /* the same words, counted the same */
}

static void generator_keeps_to_its_rate(void **state) {
    (void)state;
    struct totals t;
    run(2, 0, 20000, 500, &t); /* 20,000 lines/s for about half a second, then stop */
    assert_true(t.lines > 0);
    assert_true(t.lines <= 20000 + 1024); /* never ahead of the schedule (a burst at most) */
    assert_int_equal(t.words, t.spaces + t.lines);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(generator_exact_and_deterministic),
        cmocka_unit_test(generator_keeps_to_its_rate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
