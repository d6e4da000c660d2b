/*
 * bench/e2e/spate_bench.c - end-to-end throughput of spate's DStream
 * pipelines on in-memory data, each next to the naive single-threaded C loop
 * a user would write for the same job, in the same run.
 *
 *   spate-bench WORKLOAD [--workers N] [--isa I] [--records N] [--keys K]
 *               [--batches B] [--rate R] [--interval MS] [--duration S]
 *               [--source memory|tcp] [--json]
 *
 * Workloads: wordcount, keyed-sum, window, ysb, join-probe, latency,
 * ingest-tcp, ingest-files, ingest-udp, parse-binary, nexmark-q0, q1, q2,
 * q3, q5, q7, q8, or all (what `make bench` runs).
 *
 * wordcount and keyed-sum with --source tcp also send the same records as
 * lines from loopback producers to a socket_listen_stream and run on the
 * wall clock (keyed-sum parses "key,value" lines with parse_csv).
 *
 * Data is generated first and pushed into queue streams (outside the timed
 * part); the manual clock then runs the batches, and the time from the first
 * batch's start to the last batch's outputs is what is reported. Every run
 * checks its result against the naive loop's (check "ok" or "mismatch").
 *
 * latency: a word count on the wall clock fed by the generator stream at
 * --rate lines/s with --interval ms batches for --duration s; reports each
 * record's latency from its arrival in the generator's ring to the end of
 * its batch's outputs (spate_context_latency) as p50/p99/p99.9/max, and the
 * largest lag in batches.
 *
 * Every report gives a latency: per record where records arrive during the
 * run (latency, ingest-*, wordcount --source tcp, and nexmark-*, whose
 * generators run alongside the batches), and for the manual-clock runs
 * whose data is queued before the timed part the processing time of each
 * batch (its records arrive at the cut); "latency_basis" in --json says
 * which.
 *
 * window: reduce_by_key_and_window with and without the inverse over the
 * same per-batch input for window lengths 2..600 batches: the per-slide cost
 * stays flat with the inverse (add the new pane, take the old one out) and
 * without it (two-stacks; each run spans at least three flips, so their
 * cost is amortized as in a long run).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "spate/spate.h"

struct cfg {
    uint64_t rate;       /* latency: lines per second from the generator */
    int64_t interval_ms; /* latency: batch interval */
    double duration_s;   /* latency: how long to run */
    uint32_t workers;
    const char *isa;
    uint64_t records;
    uint64_t keys;
    uint32_t batches;
    bool json;
    bool source_tcp; /* --source tcp: wordcount's lines come over loopback TCP */
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng_next(uint64_t *s) {
    uint64_t x = *s += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static void die(const char *what, const struct spate_error *err) {
    fprintf(stderr, "spate-bench: %s: %s\n", what, err != NULL ? err->message : "");
    exit(1);
}

static uint32_t used_workers; /* what the last engine really had */

/*
 * Latency of the last run, for its report. Wall-clock runs measure each
 * record from its arrival to its batch's outputs (spate_context_latency);
 * manual-clock runs, whose data is queued before the timed part, take a
 * batch's processing time as the latency of its records (they arrive at the
 * cut), so there it is per batch.
 */
static struct {
    const char *basis; /* "record" or "batch" */
    double p50_ms, p99_ms, max_ms;
    int64_t batch_us[1 << 16]; /* manual clock: processing time of each batch */
    uint32_t nbatches;
} lat_fig;

static void collect_batch(void *user, const struct spate_batch_info *info) {
    (void)user;
    if (lat_fig.nbatches < (1u << 16))
        lat_fig.batch_us[lat_fig.nbatches++] = info->processing_time_us;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void take_batch_latency(void) {
    uint32_t n = lat_fig.nbatches;
    lat_fig.basis = "batch";
    lat_fig.p50_ms = lat_fig.p99_ms = lat_fig.max_ms = 0;
    if (n == 0)
        return;
    qsort(lat_fig.batch_us, n, sizeof(int64_t), cmp_i64);
    lat_fig.p50_ms = (double)lat_fig.batch_us[(n - 1) / 2] / 1000.0;
    lat_fig.p99_ms = (double)lat_fig.batch_us[(uint64_t)(n - 1) * 99 / 100] / 1000.0;
    lat_fig.max_ms = (double)lat_fig.batch_us[n - 1] / 1000.0;
}

/* Per-record latency of a wall-clock run (before its context is destroyed). */
static void take_record_latency(spate_context *ctx) {
    struct spate_latency_stats ls;
    spate_context_latency(ctx, &ls);
    lat_fig.basis = "record";
    lat_fig.p50_ms = (double)ls.p50_us / 1000.0;
    lat_fig.p99_ms = (double)ls.p99_us / 1000.0;
    lat_fig.max_ms = (double)ls.max_us / 1000.0;
}

/* A context on an engine of c's workers and ISA: on the manual clock (interval 1 s) when
 * wall_interval_ms is 0, else on the wall clock with that interval. */
static spate_context *make_ctx_clock(const struct cfg *c, spate_engine **engine_out,
                                     int64_t wall_interval_ms) {
    struct spate_error err;
    struct spate_engine_opts eo;
    spate_engine_opts_init(&eo);
    eo.workers = c->workers;
    eo.isa = c->isa;
    spate_engine *engine;
    if (spate_engine_create(&eo, &engine, &err) != SPATE_OK)
        die("engine", &err);
    struct spate_context_opts co;
    spate_context_opts_init(&co);
    co.manual_clock = wall_interval_ms == 0;
    co.batch_interval_ms = wall_interval_ms == 0 ? 1000 : wall_interval_ms;
    co.on_batch = collect_batch;
    lat_fig.nbatches = 0;
    spate_context *ctx;
    if (spate_context_create(engine, &co, &ctx, &err) != SPATE_OK)
        die("context", &err);
    *engine_out = engine;
    used_workers = spate_engine_workers(engine);
    return ctx;
}

static spate_context *make_ctx(const struct cfg *c, spate_engine **engine_out) {
    return make_ctx_clock(c, engine_out, 0);
}

/* Run the context's queued batches and return the seconds they took. */
static double run_batches(spate_context *ctx, uint32_t batches) {
    struct spate_error err;
    if (spate_context_start(ctx, &err) != SPATE_OK)
        die("start", &err);
    double t0 = now_s();
    if (spate_context_advance(ctx, batches, &err) != SPATE_OK)
        die("advance", &err);
    double t = now_s() - t0;
    bool stopped;
    if (spate_context_await_termination_timeout(ctx, 0, &stopped, &err) != SPATE_OK)
        die("a batch failed", &err);
    if (spate_context_stop(ctx, true, false, &err) != SPATE_OK)
        die("stop", &err);
    spate_context_destroy(ctx);
    take_batch_latency();
    return t;
}

/* Peak resident set of the process so far, in bytes. */
static uint64_t peak_rss(void) {
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? (uint64_t)ru.ru_maxrss * 1024 : 0;
}

static void report(const struct cfg *c, const char *workload, const char *isa, uint64_t records,
                   uint64_t bytes, double secs, double base_secs, bool ok) {
    double rps = (double)records / secs, base = (double)records / base_secs;
    if (c->json) {
        printf("{\"workload\":\"%s\",\"workers\":%u,\"isa\":\"%s\",\"records\":%" PRIu64
               ",\"seconds\":%.4f,\"records_per_s\":%.0f,\"bytes_per_s\":%.0f,"
               "\"baseline\":\"naive single-threaded C loop\",\"baseline_records_per_s\":%.0f,"
               "\"ratio\":%.2f,\"latency_basis\":\"%s\",\"latency_p50_ms\":%.3f,"
               "\"latency_p99_ms\":%.3f,\"latency_max_ms\":%.3f,\"rss_bytes\":%" PRIu64
               ",\"check\":\"%s\"}\n",
               workload, used_workers, isa, records, secs, rps, (double)bytes / secs, base,
               rps / base, lat_fig.basis, lat_fig.p50_ms, lat_fig.p99_ms, lat_fig.max_ms,
               peak_rss(), ok ? "ok" : "mismatch");
    } else {
        printf("%-22s workers=%u isa=%-6s %12.1f M rec/s %9.1f MB/s | naive loop %9.1f M rec/s | "
               "ratio %5.2fx | check %s | latency (%s) p50 %.2f p99 %.2f max %.2f ms\n",
               workload, used_workers, isa, rps / 1e6, (double)bytes / secs / 1e6, base / 1e6,
               rps / base, ok ? "ok" : "MISMATCH", lat_fig.basis, lat_fig.p50_ms, lat_fig.p99_ms,
               lat_fig.max_ms);
    }
    fflush(stdout);
}

/* ---- The naive baselines: one thread, a plain open-addressing table ---- */

struct naive_i64 {
    int64_t *keys;
    int64_t *vals;
    uint8_t *used;
    uint64_t mask, n;
};

static void naive_i64_init(struct naive_i64 *t, uint64_t keys) {
    uint64_t cap = 16;
    while (cap < keys * 2)
        cap <<= 1;
    t->keys = calloc(cap, sizeof(int64_t));
    t->vals = calloc(cap, sizeof(int64_t));
    t->used = calloc(cap, 1);
    t->mask = cap - 1;
    t->n = 0;
}

/* The slot of key k: where it is, or the empty slot where it would go. */
static uint64_t naive_i64_slot(const struct naive_i64 *t, int64_t k) {
    uint64_t h = (uint64_t)k * 0x9e3779b97f4a7c15ull;
    uint64_t s = (h >> 20) & t->mask;
    while (t->used[s] && t->keys[s] != k)
        s = (s + 1) & t->mask;
    return s;
}

static void naive_i64_add(struct naive_i64 *t, int64_t k, int64_t v) {
    uint64_t s = naive_i64_slot(t, k);
    if (!t->used[s]) {
        t->used[s] = 1;
        t->keys[s] = k;
        t->n++;
    }
    t->vals[s] += v;
}

static void naive_i64_free(struct naive_i64 *t) {
    free(t->keys);
    free(t->vals);
    free(t->used);
}

/* Sum of all values and number of keys of every batch's output, for the check. */
struct totals {
    int64_t sum;
    uint64_t rows;
};

static spate_status add_totals(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    struct totals *t = user;
    t->rows += spate_batch_rows(b);
    for (uint32_t p = 0; p < spate_batch_num_partitions(b); p++) {
        for (uint32_t c = 0; c < spate_batch_num_chunks(b, p); c++) {
            struct spate_chunk_view v;
            if (spate_batch_chunk(b, p, c, &v) != SPATE_OK)
                return EIO;
            const int64_t *vals = v.columns[1].data;
            for (uint32_t r = 0; r < v.rows; r++)
                t->sum += vals[v.sel != NULL ? v.sel[r] : r];
        }
    }
    return SPATE_OK;
}

/* ---- keyed-sum: {i64 key, i64 value}, sum per key per batch ---- */

static void keyed_sum_tcp(const struct cfg *c, const int64_t *keys, const int64_t *vals, uint64_t n,
                          double base);

static void keyed_sum(const struct cfg *c) {
    uint64_t per = c->records / c->batches;
    int64_t *keys = malloc(sizeof(int64_t) * per * c->batches);
    int64_t *vals = malloc(sizeof(int64_t) * per * c->batches);
    uint64_t seed = 42;
    for (uint64_t i = 0; i < per * c->batches; i++) {
        keys[i] = (int64_t)(rng_next(&seed) % c->keys);
        vals[i] = (int64_t)(rng_next(&seed) % 100);
    }
    spate_engine *engine;
    spate_context *ctx = make_ctx(c, &engine);
    const char *isa = spate_engine_isa(engine);
    struct spate_error err;
    struct spate_column_def cols[] = {{"key", SPATE_TYPE_I64}, {"value", SPATE_TYPE_I64}};
    spate_dstream *q = spate_context_queue_stream(ctx, cols, 2, &err);
    struct spate_reduce_opts ro;
    spate_reduce_opts_init(&ro);
    spate_dstream *sums = spate_dstream_reduce_by_key(q, &ro, &err);
    struct totals got = {0, 0};
    if (sums == NULL || spate_dstream_foreach_batch(sums, add_totals, &got, &err) != SPATE_OK)
        die("keyed-sum", &err);
    for (uint32_t b = 0; b < c->batches; b++) {
        struct spate_column_data d[2] = {{keys + per * b, NULL}, {vals + per * b, NULL}};
        if (spate_queue_push(q, d, per, &err) != SPATE_OK)
            die("push", &err);
    }
    double secs = run_batches(ctx, c->batches);

    double t0 = now_s();
    struct totals want = {0, 0};
    for (uint32_t b = 0; b < c->batches; b++) {
        struct naive_i64 t;
        naive_i64_init(&t, c->keys < per ? c->keys : per);
        for (uint64_t i = per * b; i < per * (b + 1); i++)
            naive_i64_add(&t, keys[i], vals[i]);
        for (uint64_t s = 0; s <= t.mask; s++)
            want.sum += t.used[s] ? t.vals[s] : 0;
        want.rows += t.n;
        naive_i64_free(&t);
    }
    double base = now_s() - t0;
    char name[64];
    snprintf(name, sizeof(name), "keyed-sum/%" PRIu64 "-keys", c->keys);
    report(c, name, isa, per * c->batches, per * c->batches * 16, secs, base,
           got.sum == want.sum && got.rows == want.rows);
    if (c->source_tcp)
        keyed_sum_tcp(c, keys, vals, per * c->batches, base);
    free(keys);
    free(vals);
}

/* ---- wordcount: Zipf words, 1-20 per line, count per word per batch ---- */

struct naive_str {
    char **keys;
    uint32_t *lens;
    int64_t *vals;
    uint64_t mask, n;
};

static void naive_str_init(struct naive_str *t, uint64_t keys) {
    uint64_t cap = 16;
    while (cap < keys * 2)
        cap <<= 1;
    t->keys = calloc(cap, sizeof(char *));
    t->lens = calloc(cap, sizeof(uint32_t));
    t->vals = calloc(cap, sizeof(int64_t));
    t->mask = cap - 1;
    t->n = 0;
}

static void naive_str_add(struct naive_str *t, const char *w, uint32_t len) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (uint32_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)w[i]) * 1099511628211ull;
    uint64_t s = h & t->mask;
    while (t->keys[s] != NULL && (t->lens[s] != len || memcmp(t->keys[s], w, len) != 0))
        s = (s + 1) & t->mask;
    if (t->keys[s] == NULL) {
        t->keys[s] = (char *)w;
        t->lens[s] = len;
        t->n++;
    }
    t->vals[s]++;
}

static void wordcount_tcp(const struct cfg *c, char *const *lines, uint64_t nlines,
                          uint64_t words_total, uint64_t bytes, double base);

static void wordcount(const struct cfg *c) {
    enum { VOCAB = 100000 };
    /* Vocabulary: pronounceable words of 2-12 letters; Zipf(1) ranks by inverse CDF. */
    static char vocab[VOCAB][16];
    static double cdf[VOCAB];
    double acc = 0;
    uint64_t seed = 7;
    for (int i = 0; i < VOCAB; i++) {
        int len = 2 + (int)(rng_next(&seed) % 11);
        for (int j = 0; j < len; j++)
            vocab[i][j] = (char)((j % 2) ? "aeiou"[rng_next(&seed) % 5]
                                         : "bdfgklmnprstvz"[rng_next(&seed) % 14]);
        vocab[i][len] = '\0';
        acc += 1.0 / (i + 1);
        cdf[i] = acc;
    }
    uint64_t words_total = 0, bytes = 0;
    uint64_t lines_per = c->records / 10 / c->batches; /* about 10 words a line */
    char **lines = malloc(sizeof(char *) * lines_per * c->batches);
    char buf[20 * 16];
    for (uint64_t l = 0; l < lines_per * c->batches; l++) {
        int words = 1 + (int)(rng_next(&seed) % 20);
        size_t len = 0;
        for (int w = 0; w < words; w++) {
            double u = (double)(rng_next(&seed) >> 11) / 9007199254740992.0 * acc;
            int lo = 0, hi = VOCAB - 1;
            while (lo < hi) {
                int mid = (lo + hi) / 2;
                if (cdf[mid] < u)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            size_t wl = strlen(vocab[lo]);
            if (w > 0)
                buf[len++] = ' ';
            memcpy(buf + len, vocab[lo], wl);
            len += wl;
        }
        buf[len] = '\0';
        lines[l] = strdup(buf);
        words_total += (uint64_t)words;
        bytes += len + 1;
    }
    spate_engine *engine;
    spate_context *ctx = make_ctx(c, &engine);
    const char *isa = spate_engine_isa(engine);
    struct spate_error err;
    struct spate_column_def cols[] = {{"line", SPATE_TYPE_STRING}};
    spate_dstream *q = spate_context_queue_stream(ctx, cols, 1, &err);
    spate_dstream *words = spate_dstream_flat_map_words(q, &err);
    struct spate_reduce_opts ro;
    spate_reduce_opts_init(&ro);
    ro.agg = SPATE_AGG_COUNT;
    spate_dstream *counts = spate_dstream_reduce_by_key(words, &ro, &err);
    struct totals got = {0, 0};
    if (counts == NULL || spate_dstream_foreach_batch(counts, add_totals, &got, &err) != SPATE_OK)
        die("wordcount", &err);
    for (uint32_t b = 0; b < c->batches; b++)
        if (spate_queue_push_lines(q, (const char *const *)lines + lines_per * b, lines_per,
                                   &err) != SPATE_OK)
            die("push", &err);
    double secs = run_batches(ctx, c->batches);

    double t0 = now_s();
    struct totals want = {0, 0};
    for (uint32_t b = 0; b < c->batches; b++) {
        struct naive_str t;
        naive_str_init(&t, VOCAB);
        for (uint64_t l = lines_per * b; l < lines_per * (b + 1); l++) {
            const char *p = lines[l];
            while (*p) {
                while (*p == ' ')
                    p++;
                const char *w = p;
                while (*p && *p != ' ')
                    p++;
                if (p > w)
                    naive_str_add(&t, w, (uint32_t)(p - w));
            }
        }
        for (uint64_t s = 0; s <= t.mask; s++)
            want.sum += t.keys[s] != NULL ? t.vals[s] : 0;
        want.rows += t.n;
        free(t.keys);
        free(t.lens);
        free(t.vals);
    }
    double base = now_s() - t0;
    report(c, "wordcount", isa, words_total, bytes, secs, base,
           got.sum == want.sum && got.rows == want.rows && (uint64_t)got.sum == words_total);
    if (c->source_tcp)
        wordcount_tcp(c, lines, lines_per * c->batches, words_total, bytes, base);
    for (uint64_t l = 0; l < lines_per * c->batches; l++)
        free(lines[l]);
    free(lines);
}

/* ---- window: per-slide cost against the window length ---- */

#define SP_BENCH_MAX(a, b) ((a) > (b) ? (a) : (b))

static void window_scaling(const struct cfg *c) {
    static const uint32_t lengths[] = {2, 20, 200, 600};
    uint64_t per = 20000; /* records a batch: 10000 keys */
    int64_t *keys = malloc(sizeof(int64_t) * per);
    int64_t *vals = malloc(sizeof(int64_t) * per);
    uint64_t seed = 3;
    for (uint64_t i = 0; i < per; i++) {
        keys[i] = (int64_t)(rng_next(&seed) % 10000);
        vals[i] = 1;
    }
    for (int inverse = 1; inverse >= 0; inverse--) {
        for (size_t li = 0; li < sizeof(lengths) / sizeof(lengths[0]); li++) {
            uint32_t batches = SP_BENCH_MAX(700, 3 * lengths[li] + 100);
            spate_engine *engine;
            spate_context *ctx = make_ctx(c, &engine);
            const char *isa = spate_engine_isa(engine);
            struct spate_error err;
            struct spate_column_def cols[] = {{"key", SPATE_TYPE_I64}, {"value", SPATE_TYPE_I64}};
            spate_dstream *q = spate_context_queue_stream(ctx, cols, 2, &err);
            struct spate_reduce_opts ro;
            spate_reduce_opts_init(&ro);
            struct spate_window_opts wo;
            spate_window_opts_init(&wo);
            wo.length_ms = 1000 * (int64_t)lengths[li];
            wo.use_inverse = inverse;
            spate_dstream *w = spate_dstream_reduce_by_key_and_window(q, &ro, &wo, &err);
            struct totals got = {0, 0};
            if (w == NULL || spate_dstream_foreach_batch(w, add_totals, &got, &err) != SPATE_OK)
                die("window", &err);
            for (uint32_t b = 0; b < batches; b++) {
                struct spate_column_data d[2] = {{keys, NULL}, {vals, NULL}};
                if (spate_queue_push(q, d, per, &err) != SPATE_OK)
                    die("push", &err);
            }
            double secs = run_batches(ctx, batches);
            /* Every window sums min(k, L) batches of per ones. */
            int64_t want = 0;
            for (uint32_t k = 1; k <= batches; k++)
                want += (int64_t)per * (k < lengths[li] ? k : lengths[li]);
            if (c->json)
                printf("{\"workload\":\"window\",\"inverse\":%s,\"length_batches\":%u,"
                       "\"workers\":%u,\"isa\":\"%s\",\"us_per_slide\":%.1f,\"check\":\"%s\"}\n",
                       inverse ? "true" : "false", lengths[li], used_workers, isa,
                       secs / batches * 1e6, got.sum == want ? "ok" : "mismatch");
            else
                printf("window inverse=%-3s length=%3u batches  workers=%u isa=%-6s "
                       "%8.1f us per slide (%" PRIu64 " records, 10000 keys a batch) | check %s\n",
                       inverse ? "yes" : "no", lengths[li], used_workers, isa, secs / batches * 1e6,
                       per, got.sum == want ? "ok" : "MISMATCH");
            fflush(stdout);
        }
    }
    free(keys);
    free(vals);
}

/* ---- ysb: the Yahoo Streaming Benchmark's pipeline on in-memory events ---- */

static spate_status add_counts(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    int64_t *sum = user; /* the sum of the window counts of the last emission */
    int64_t s = 0;
    for (uint32_t p = 0; p < spate_batch_num_partitions(b); p++) {
        for (uint32_t c = 0; c < spate_batch_num_chunks(b, p); c++) {
            struct spate_chunk_view v;
            if (spate_batch_chunk(b, p, c, &v) != SPATE_OK)
                return EIO;
            for (uint32_t r = 0; r < v.rows; r++) {
                int64_t n;
                if (spate_chunk_get_i64(&v, 1, r, &n))
                    s += n;
            }
        }
    }
    *sum = s;
    return SPATE_OK;
}

static void ysb(const struct cfg *c) {
    enum { CAMPAIGNS = 1000, ADS = CAMPAIGNS * 10, WINDOW = 10 };
    uint32_t batches = c->batches < WINDOW ? WINDOW : c->batches / WINDOW * WINDOW;
    uint64_t per = c->records / batches, n = per * batches;
    int64_t *user = malloc(sizeof(int64_t) * n), *page = malloc(sizeof(int64_t) * n);
    int64_t *ad = malloc(sizeof(int64_t) * n), *ad_type = malloc(sizeof(int64_t) * n);
    int64_t *etime = malloc(sizeof(int64_t) * n), *ip = malloc(sizeof(int64_t) * n);
    struct spate_string *etype = malloc(sizeof(struct spate_string) * n);
    static const char *types[] = {"view", "click", "purchase"};
    uint64_t seed = 11;
    for (uint64_t i = 0; i < n; i++) {
        user[i] = (int64_t)(rng_next(&seed) % 1000000);
        page[i] = (int64_t)(rng_next(&seed) % 100000);
        ad[i] = (int64_t)(rng_next(&seed) % ADS);
        ad_type[i] = (int64_t)(rng_next(&seed) % 5);
        etime[i] = (int64_t)i;
        ip[i] = (int64_t)(rng_next(&seed) % 4000000000u);
        const char *t = types[rng_next(&seed) % 3];
        memset(&etype[i], 0, sizeof(etype[i]));
        etype[i].len = (uint32_t)strlen(t);
        memcpy((char *)&etype[i] + offsetof(struct spate_string, prefix), t, etype[i].len);
    }
    static int64_t tab_ad[ADS], tab_campaign[ADS];
    for (int i = 0; i < ADS; i++) {
        tab_ad[i] = i;
        tab_campaign[i] = i / 10;
    }
    spate_engine *engine;
    spate_context *ctx = make_ctx(c, &engine);
    const char *isa = spate_engine_isa(engine);
    struct spate_error err;
    struct spate_column_def cols[] = {{"user_id", SPATE_TYPE_I64},
                                      {"page_id", SPATE_TYPE_I64},
                                      {"ad_id", SPATE_TYPE_I64},
                                      {"ad_type", SPATE_TYPE_I64},
                                      {"event_type", SPATE_TYPE_STRING},
                                      {"event_time", SPATE_TYPE_TIMESTAMP},
                                      {"ip", SPATE_TYPE_I64}};
    spate_dstream *events = spate_context_queue_stream(ctx, cols, 7, &err);
    struct spate_column_def tcols[] = {{"ad_id", SPATE_TYPE_I64}, {"campaign", SPATE_TYPE_I64}};
    struct spate_column_data tdata[] = {{tab_ad, NULL}, {tab_campaign, NULL}};
    spate_dstream *table = spate_context_constant_stream(ctx, tcols, 2, tdata, ADS, &err);
    spate_dstream *views =
        events ? spate_dstream_filter_string(events, 4, "view", false, &err) : NULL;
    static const uint32_t keep[] = {2, 5}; /* ad_id, event_time: all the rest needs */
    spate_dstream *slim = views ? spate_dstream_select(views, keep, 2, &err) : NULL;
    spate_dstream *joined = slim && table ? spate_dstream_join(slim, table, NULL, &err) : NULL;
    /* joined: ad_id, event_time, campaign */
    struct spate_reduce_opts ro;
    spate_reduce_opts_init(&ro);
    ro.key_col = 2;
    ro.agg = SPATE_AGG_COUNT;
    struct spate_window_opts wo;
    spate_window_opts_init(&wo);
    wo.length_ms = 1000 * WINDOW; /* 10 batches of 1 s: the 10 s window */
    wo.slide_ms = 1000 * WINDOW;
    spate_dstream *per_campaign =
        joined ? spate_dstream_reduce_by_key_and_window(joined, &ro, &wo, &err) : NULL;
    static int64_t got_sum;
    got_sum = 0;
    if (per_campaign == NULL ||
        spate_dstream_foreach_batch(per_campaign, add_counts, &got_sum, &err) != SPATE_OK)
        die("ysb", &err);
    uint64_t used = n;
    for (uint32_t b = 0; b < batches; b++) {
        uint64_t at = per * b, rows = per;
        struct spate_column_data d[7] = {
            {user + at, NULL},  {page + at, NULL},  {ad + at, NULL}, {ad_type + at, NULL},
            {etype + at, NULL}, {etime + at, NULL}, {ip + at, NULL}};
        if (spate_queue_push(events, d, rows, &err) != SPATE_OK)
            die("push", &err);
    }
    double secs = run_batches(ctx, batches);
    /* Naive: the same pipeline in one loop; the last window's total is the check. */
    double t0 = now_s();
    static int64_t campaign_count[CAMPAIGNS];
    memset(campaign_count, 0, sizeof(campaign_count));
    int64_t want = 0;
    uint64_t last_window = (uint64_t)(batches - WINDOW) * per;
    for (uint64_t i = 0; i < used; i++) {
        if (etype[i].len != 4 || memcmp((const char *)&etype[i] + 4, "view", 4) != 0)
            continue;
        int64_t camp = tab_campaign[ad[i]];
        campaign_count[camp]++;
        if (i >= last_window)
            want++;
    }
    double base = now_s() - t0;
    report(c, "ysb", isa, used, used * 64, secs, base, got_sum == want);
    free(user);
    free(page);
    free(ad);
    free(ad_type);
    free(etime);
    free(ip);
    free(etype);
}

/* ---- nexmark: NEXMark queries over the typed generator streams ----
 *
 * The sources are NEXMark generator streams (spate_context_generator_stream,
 * kind NEXMARK_*) limited to --records / 2 events of the shared sequence; the
 * manual clock advances one batch at a time until every source has given all
 * its rows (so the generator runs inside the timed part, on its own thread).
 * Each batch takes what the generator made since the last one, always a run
 * of the sequence that follows the previous batch's, so a recorder on each
 * source notes the rows per batch and the naive loop, which makes the same
 * events with spate_generator_fill (also timed), uses the same boundaries for
 * its windows. Prices are integer cents; q1 converts with 908/1000, rounding
 * down. Windows are counted in batches (Spark's model): q5 slides a window of
 * 10 batches by 1, q7 and q8 use tumbling windows of 10 batches.
 */

enum { NX_WINDOW = 10, NX_BLOCK = 1 << 16 };

/* Rows per batch of one source, in batch order. */
struct nx_bounds {
    uint64_t *rows;
    uint64_t n, cap;
};

static spate_status nx_record(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    struct nx_bounds *bd = user;
    if (bd->n == bd->cap) {
        bd->cap = bd->cap ? bd->cap * 2 : 1024;
        bd->rows = realloc(bd->rows, sizeof(uint64_t) * bd->cap);
        if (bd->rows == NULL)
            return ENOMEM;
    }
    bd->rows[bd->n++] = spate_batch_rows(b);
    return SPATE_OK;
}

/* Row where batch k (0-based) ends: the sum of rows of batches 0..k. */
static uint64_t nx_end(const struct nx_bounds *bd, uint64_t k) {
    uint64_t s = 0;
    for (uint64_t i = 0; i <= k && i < bd->n; i++)
        s += bd->rows[i];
    return s;
}

static struct spate_generator_opts nx_opts(enum spate_generator_kind kind, uint64_t events) {
    struct spate_generator_opts o;
    spate_generator_opts_init(&o);
    o.kind = kind;
    o.max_lines = events;
    return o;
}

/* A NEXMark source of kind with its recorder. */
static spate_dstream *nx_source(spate_context *ctx, enum spate_generator_kind kind, uint64_t events,
                                struct nx_bounds *bd) {
    struct spate_error err;
    struct spate_generator_opts o = nx_opts(kind, events);
    spate_dstream *ds = spate_context_generator_stream(ctx, &o, &err);
    if (ds == NULL || spate_dstream_foreach_batch(ds, nx_record, bd, &err) != SPATE_OK)
        die("nexmark source", &err);
    return ds;
}

/* Start, then advance one batch at a time until each source took want[i] rows and the batch
 * count is a multiple of round; stop. Returns the seconds from start to the last outputs. */
static double nx_run(spate_context *ctx, spate_dstream *const *srcs, const uint64_t *want, int n,
                     uint32_t round, uint64_t *bytes) {
    struct spate_error err;
    double t0 = now_s();
    if (spate_context_start(ctx, &err) != SPATE_OK)
        die("start", &err);
    uint64_t seen = 0;
    for (uint64_t batches = 0;; batches++) {
        bool all = true;
        uint64_t records = 0;
        for (int i = 0; i < n; i++) {
            struct spate_input_stats st;
            if (spate_input_stats(srcs[i], &st, &err) != SPATE_OK)
                die("input stats", &err);
            all = all && st.records >= want[i];
            records += st.records;
        }
        if (all && batches % round == 0) {
            *bytes = 0;
            for (int i = 0; i < n; i++) {
                struct spate_input_stats st;
                if (spate_input_stats(srcs[i], &st, &err) != SPATE_OK)
                    die("input stats", &err);
                *bytes += st.bytes; /* column and string bytes the generators made */
            }
            break;
        }
        if (batches > 0 && records == seen && !all) { /* the last batch was empty: let the
                                                          generators have the cores */
            struct timespec ts = {0, 100000};
            nanosleep(&ts, NULL);
        }
        seen = records;
        if (spate_context_advance(ctx, 1, &err) != SPATE_OK)
            die("advance", &err);
    }
    double t = now_s() - t0;
    bool stopped;
    if (spate_context_await_termination_timeout(ctx, 0, &stopped, &err) != SPATE_OK)
        die("a batch failed", &err);
    if (spate_context_stop(ctx, true, false, &err) != SPATE_OK)
        die("stop", &err);
    /* The generators run during the batches: each record from its making to its batch's end. */
    take_record_latency(ctx);
    spate_context_destroy(ctx);
    return t;
}

/* The naive side's generator: events made NX_BLOCK at a time with spate_generator_fill. */
struct nx_gen {
    struct spate_generator_opts o;
    uint64_t at, end, n; /* next event, last event, rows in the buffers */
    uint32_t ncols;
    void *col[9];
    char *bytes;
    uint64_t bytes_cap;
};

static void nx_gen_init(struct nx_gen *g, enum spate_generator_kind kind, uint64_t events) {
    memset(g, 0, sizeof(*g));
    g->o = nx_opts(kind, events);
    g->end = events;
    const struct spate_column_def *defs;
    struct spate_error err;
    if (spate_generator_columns(&g->o, &defs, &g->ncols, &err) != SPATE_OK)
        die("generator columns", &err);
    for (uint32_t c = 0; c < g->ncols; c++)
        g->col[c] = malloc(16 * (size_t)NX_BLOCK);
    g->bytes_cap = spate_generator_bytes(&g->o, NX_BLOCK);
    g->bytes = malloc(g->bytes_cap + 1);
}

/* The next block of rows (false at the end). */
static bool nx_gen_next(struct nx_gen *g) {
    struct spate_error err;
    if (g->at >= g->end)
        return false;
    uint64_t count = g->end - g->at < NX_BLOCK ? g->end - g->at : NX_BLOCK;
    struct spate_column_data d[9];
    for (uint32_t c = 0; c < g->ncols; c++)
        d[c] = (struct spate_column_data){g->col[c], NULL};
    if (spate_generator_fill(&g->o, g->at, count, d, g->bytes, g->bytes_cap, &g->n, &err) !=
        SPATE_OK)
        die("generator fill", &err);
    g->at += count;
    return true;
}

static const int64_t *nx_i64(const struct nx_gen *g, uint32_t c) {
    return g->col[c];
}

static void nx_gen_free(struct nx_gen *g) {
    for (uint32_t c = 0; c < g->ncols; c++)
        free(g->col[c]);
    free(g->bytes);
}

/* Column col of chunk v at logical row r, as i64. */
static int64_t nx_get(const struct spate_chunk_view *v, uint32_t col, uint32_t r) {
    return ((const int64_t *)v->columns[col].data)[v->sel != NULL ? v->sel[r] : r];
}

/* Rows and the sum of a * column ca + column cb over every batch (cb may equal ca). */
struct nx_sum {
    uint64_t rows;
    int64_t sum;
    uint32_t ca, cb;
};

static spate_status nx_add(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    struct nx_sum *s = user;
    for (uint32_t p = 0; p < spate_batch_num_partitions(b); p++) {
        for (uint32_t c = 0; c < spate_batch_num_chunks(b, p); c++) {
            struct spate_chunk_view v;
            if (spate_batch_chunk(b, p, c, &v) != SPATE_OK)
                return EIO;
            for (uint32_t r = 0; r < v.rows; r++)
                s->sum += nx_get(&v, s->ca, r) * 7 + nx_get(&v, s->cb, r);
            s->rows += v.rows;
        }
    }
    return SPATE_OK;
}

/* The end of a NEXMark run: the report line. */
static void nx_report(const struct cfg *c, const char *name, const char *isa, uint64_t events,
                      uint64_t bytes, double secs, double base, bool ok) {
    report(c, name, isa, events, bytes, secs, base, ok);
}

/* q0 passthrough, q1 currency conversion, q2 selection: bids only, no state. */
static spate_status nx_q1_map(void *user, const struct spate_chunk_view *in,
                              spate_chunk_builder *out, struct spate_error *err) {
    (void)user;
    (void)err;
    int64_t *auction = spate_builder_column(out, 0), *price = spate_builder_column(out, 1);
    for (uint32_t r = 0; r < in->rows; r++) {
        auction[r] = nx_get(in, 0, r);
        price[r] = nx_get(in, 2, r) * 908 / 1000;
    }
    return SPATE_OK;
}

static uint32_t nx_q2_filter(void *user, const struct spate_chunk_view *in, uint16_t *sel_out) {
    (void)user;
    uint32_t n = 0;
    for (uint32_t r = 0; r < in->rows; r++)
        if (nx_get(in, 0, r) % 123 == 0)
            sel_out[n++] = (uint16_t)r;
    return n;
}

static void nexmark_stateless(const struct cfg *c, int q) {
    uint64_t events = c->records / 2;
    spate_engine *engine;
    spate_context *ctx = make_ctx(c, &engine);
    const char *isa = spate_engine_isa(engine);
    struct spate_error err;
    struct nx_bounds bd = {NULL, 0, 0};
    spate_dstream *bids = nx_source(ctx, SPATE_GENERATOR_NEXMARK_BID, events, &bd);
    spate_dstream *out = bids;
    struct nx_sum got = {0, 0, 0, 2}; /* q0: auction * 7 + price */
    if (q == 1) {
        struct spate_column_def cols[] = {{"auction", SPATE_TYPE_I64}, {"price", SPATE_TYPE_I64}};
        out = spate_dstream_map(bids, cols, 2, nx_q1_map, NULL, &err);
        got.cb = 1;
    } else if (q == 2) {
        static const uint32_t keep[] = {0, 2}; /* auction, price */
        spate_dstream *sel = spate_dstream_filter(bids, nx_q2_filter, NULL, &err);
        out = sel != NULL ? spate_dstream_select(sel, keep, 2, &err) : NULL;
        got.cb = 1;
    }
    if (out == NULL || spate_dstream_foreach_batch(out, nx_add, &got, &err) != SPATE_OK)
        die("nexmark", &err);
    struct spate_generator_opts bo = nx_opts(SPATE_GENERATOR_NEXMARK_BID, events);
    uint64_t want_bids = spate_generator_rows(&bo, 0, events);
    uint64_t bytes;
    double secs = nx_run(ctx, &bids, &want_bids, 1, 1, &bytes);

    double t0 = now_s();
    struct nx_gen g;
    nx_gen_init(&g, SPATE_GENERATOR_NEXMARK_BID, events);
    uint64_t rows = 0;
    int64_t sum = 0;
    while (nx_gen_next(&g)) {
        const int64_t *auction = nx_i64(&g, 0), *price = nx_i64(&g, 2);
        for (uint64_t i = 0; i < g.n; i++) {
            if (q == 2 && auction[i] % 123 != 0)
                continue;
            sum += auction[i] * 7 + (q == 1 ? price[i] * 908 / 1000 : price[i]);
            rows++;
        }
    }
    double base = now_s() - t0;
    nx_gen_free(&g);
    free(bd.rows);
    static const char *names[] = {"nexmark-q0", "nexmark-q1", "nexmark-q2"};
    nx_report(c, names[q], isa, events, bytes, secs, base, got.rows == rows && got.sum == sum);
}

/* q5 hot items: bids per auction over a window of 10 batches sliding by 1; per window the
 * auctions with the most bids. Checked: per window the top count, how many auctions have it
 * and the sum of their ids, summed over the windows. */
struct nx_top {
    int64_t count_sum, ties, id_sum;
};

static bool nx_keep_nonzero(void *user, const struct spate_string *skey, int64_t ikey,
                            int64_t ivalue, double fvalue) {
    (void)user, (void)skey, (void)ikey, (void)fvalue;
    return ivalue != 0;
}

static spate_status nx_q5_top(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    struct nx_top *t = user;
    int64_t max = 0, ties = 0, ids = 0;
    for (uint32_t p = 0; p < spate_batch_num_partitions(b); p++) {
        for (uint32_t c = 0; c < spate_batch_num_chunks(b, p); c++) {
            struct spate_chunk_view v;
            if (spate_batch_chunk(b, p, c, &v) != SPATE_OK)
                return EIO;
            for (uint32_t r = 0; r < v.rows; r++) {
                int64_t n = nx_get(&v, 1, r), id = nx_get(&v, 0, r);
                if (n > max)
                    max = n, ties = 0, ids = 0;
                if (n == max && n > 0)
                    ties++, ids += id;
            }
        }
    }
    t->count_sum += max;
    t->ties += ties;
    t->id_sum += ids;
    return SPATE_OK;
}

static void nexmark_q5(const struct cfg *c) {
    uint64_t events = c->records / 2;
    spate_engine *engine;
    spate_context *ctx = make_ctx(c, &engine);
    const char *isa = spate_engine_isa(engine);
    struct spate_error err;
    struct nx_bounds bd = {NULL, 0, 0};
    spate_dstream *bids = nx_source(ctx, SPATE_GENERATOR_NEXMARK_BID, events, &bd);
    struct spate_reduce_opts ro;
    spate_reduce_opts_init(&ro);
    ro.key_col = 0; /* auction */
    ro.agg = SPATE_AGG_COUNT;
    struct spate_window_opts wo;
    spate_window_opts_init(&wo);
    wo.length_ms = 1000 * NX_WINDOW;
    wo.slide_ms = 1000;
    wo.use_inverse = true;
    wo.keep_fn = nx_keep_nonzero; /* auctions whose bids left the window go */
    spate_dstream *counts = spate_dstream_reduce_by_key_and_window(bids, &ro, &wo, &err);
    struct nx_top got = {0, 0, 0};
    if (counts == NULL || spate_dstream_foreach_batch(counts, nx_q5_top, &got, &err) != SPATE_OK)
        die("nexmark-q5", &err);
    struct spate_generator_opts bo = nx_opts(SPATE_GENERATOR_NEXMARK_BID, events);
    uint64_t want_bids = spate_generator_rows(&bo, 0, events);
    uint64_t bytes;
    double secs = nx_run(ctx, &bids, &want_bids, 1, 1, &bytes);

    /* Naive: the auction of every bid, a dense count per auction id kept for the window
     * (add the new batch, take the expired one out), and a scan of the window's id range. */
    double t0 = now_s();
    struct spate_generator_opts ao = nx_opts(SPATE_GENERATOR_NEXMARK_AUCTION, events);
    uint64_t auctions = spate_generator_rows(&ao, 0, events) + 1;
    int64_t *auction = malloc(sizeof(int64_t) * (want_bids + 1));
    int64_t *count = calloc(auctions, sizeof(int64_t));
    struct nx_gen g;
    nx_gen_init(&g, SPATE_GENERATOR_NEXMARK_BID, events);
    uint64_t at = 0;
    while (nx_gen_next(&g)) {
        memcpy(auction + at, nx_i64(&g, 0), sizeof(int64_t) * g.n);
        at += g.n;
    }
    nx_gen_free(&g);
    struct nx_top want = {0, 0, 0};
    int64_t *lo = malloc(sizeof(int64_t) * (bd.n + 1)), *hi = malloc(sizeof(int64_t) * (bd.n + 1));
    uint64_t start = 0;
    for (uint64_t k = 0; k < bd.n; k++) {
        uint64_t end = start + bd.rows[k];
        lo[k] = INT64_MAX, hi[k] = INT64_MIN;
        for (uint64_t i = start; i < end; i++) {
            count[auction[i] - 1000]++;
            lo[k] = auction[i] < lo[k] ? auction[i] : lo[k];
            hi[k] = auction[i] > hi[k] ? auction[i] : hi[k];
        }
        if (k >= NX_WINDOW) { /* batch k - 10 leaves the window */
            uint64_t old_end = nx_end(&bd, k - NX_WINDOW),
                     old_start = old_end - bd.rows[k - NX_WINDOW];
            for (uint64_t i = old_start; i < old_end; i++)
                count[auction[i] - 1000]--;
        }
        int64_t wlo = INT64_MAX, whi = INT64_MIN;
        for (uint64_t j = k >= NX_WINDOW - 1 ? k - (NX_WINDOW - 1) : 0; j <= k; j++) {
            wlo = lo[j] < wlo ? lo[j] : wlo;
            whi = hi[j] > whi ? hi[j] : whi;
        }
        int64_t max = 0, ties = 0, ids = 0;
        for (int64_t id = wlo; id <= whi && wlo != INT64_MAX; id++) {
            int64_t n = count[id - 1000];
            if (n > max)
                max = n, ties = 0, ids = 0;
            if (n == max && n > 0)
                ties++, ids += id;
        }
        want.count_sum += max;
        want.ties += ties;
        want.id_sum += ids;
        start = end;
    }
    double base = now_s() - t0;
    free(auction);
    free(count);
    free(lo);
    free(hi);
    free(bd.rows);
    nx_report(c, "nexmark-q5", isa, events, bytes, secs, base,
              got.count_sum == want.count_sum && got.ties == want.ties &&
                  got.id_sum == want.id_sum && got.count_sum > 0);
}

/* q7 highest bid: per tumbling window of 10 batches the highest price (reduce_by_window MAX),
 * joined back with the window's bids on the price: the bids with the top price. */
static void nexmark_q7(const struct cfg *c) {
    uint64_t events = c->records / 2;
    spate_engine *engine;
    spate_context *ctx = make_ctx(c, &engine);
    const char *isa = spate_engine_isa(engine);
    struct spate_error err;
    struct nx_bounds bd = {NULL, 0, 0};
    spate_dstream *bids = nx_source(ctx, SPATE_GENERATOR_NEXMARK_BID, events, &bd);
    struct spate_window_opts wo;
    spate_window_opts_init(&wo);
    wo.length_ms = 1000 * NX_WINDOW;
    wo.slide_ms = 1000 * NX_WINDOW;
    struct spate_reduce_opts ro;
    spate_reduce_opts_init(&ro);
    ro.value_col = 2; /* price */
    ro.agg = SPATE_AGG_MAX;
    spate_dstream *top = spate_dstream_reduce_by_window(bids, &ro, &wo, &err);
    spate_dstream *win = top != NULL ? spate_dstream_window(bids, &wo, &err) : NULL;
    struct spate_join_opts jo;
    spate_join_opts_init(&jo);
    jo.left_key = 2; /* the window's bids by price */
    spate_dstream *best = win != NULL ? spate_dstream_join(win, top, &jo, &err) : NULL;
    struct nx_sum got = {0, 0, 0, 1}; /* price * 7 + auction */
    if (best == NULL || spate_dstream_foreach_batch(best, nx_add, &got, &err) != SPATE_OK)
        die("nexmark-q7", &err);
    struct spate_generator_opts bo = nx_opts(SPATE_GENERATOR_NEXMARK_BID, events);
    uint64_t want_bids = spate_generator_rows(&bo, 0, events);
    uint64_t bytes;
    double secs = nx_run(ctx, &bids, &want_bids, 1, NX_WINDOW, &bytes);

    double t0 = now_s();
    struct nx_gen g;
    nx_gen_init(&g, SPATE_GENERATOR_NEXMARK_BID, events);
    uint64_t row = 0, rows = 0, w = 0, wend = 0;
    int64_t sum = 0, max = -1, ties = 0, tsum = 0;
    while (nx_gen_next(&g)) {
        const int64_t *auction = nx_i64(&g, 0), *price = nx_i64(&g, 2);
        for (uint64_t i = 0; i < g.n; i++, row++) {
            while (row >= wend && w * NX_WINDOW < bd.n) { /* close the window, open the next */
                rows += (uint64_t)ties, sum += tsum;
                max = -1, ties = 0, tsum = 0;
                wend = nx_end(&bd, ++w * NX_WINDOW - 1);
            }
            if (price[i] > max)
                max = price[i], ties = 0, tsum = 0;
            if (price[i] == max)
                ties++, tsum += price[i] * 7 + auction[i];
        }
    }
    rows += (uint64_t)ties, sum += tsum;
    double base = now_s() - t0;
    nx_gen_free(&g);
    free(bd.rows);
    nx_report(c, "nexmark-q7", isa, events, bytes, secs, base,
              got.rows == rows && got.sum == sum && rows > 0);
}

/* q8 new users: persons and the auctions they opened within one tumbling window of 10
 * batches (a join of the two windows on person id = seller): (person id, name, reserve). */
static void nexmark_q8(const struct cfg *c) {
    uint64_t events = c->records / 2;
    spate_engine *engine;
    spate_context *ctx = make_ctx(c, &engine);
    const char *isa = spate_engine_isa(engine);
    struct spate_error err;
    struct nx_bounds pb = {NULL, 0, 0}, ab = {NULL, 0, 0};
    spate_dstream *src[2] = {nx_source(ctx, SPATE_GENERATOR_NEXMARK_PERSON, events, &pb),
                             nx_source(ctx, SPATE_GENERATOR_NEXMARK_AUCTION, events, &ab)};
    struct spate_window_opts wo;
    spate_window_opts_init(&wo);
    wo.length_ms = 1000 * NX_WINDOW;
    wo.slide_ms = 1000 * NX_WINDOW;
    spate_dstream *wp = spate_dstream_window(src[0], &wo, &err);
    spate_dstream *wa = wp != NULL ? spate_dstream_window(src[1], &wo, &err) : NULL;
    struct spate_join_opts jo;
    spate_join_opts_init(&jo);
    jo.right_key = 7; /* seller */
    spate_dstream *j = wa != NULL ? spate_dstream_join(wp, wa, &jo, &err) : NULL;
    /* j: id, name, email, credit_card, city, state, date_time, auction id, item_name,
     * description, initial_bid, reserve, ... */
    static const uint32_t keep[] = {0, 1, 11};
    spate_dstream *out = j != NULL ? spate_dstream_select(j, keep, 3, &err) : NULL;
    struct nx_sum got = {0, 0, 0, 2}; /* id * 7 + reserve */
    if (out == NULL || spate_dstream_foreach_batch(out, nx_add, &got, &err) != SPATE_OK)
        die("nexmark-q8", &err);
    struct spate_generator_opts po = nx_opts(SPATE_GENERATOR_NEXMARK_PERSON, events),
                                ao = nx_opts(SPATE_GENERATOR_NEXMARK_AUCTION, events);
    uint64_t want[2] = {spate_generator_rows(&po, 0, events), spate_generator_rows(&ao, 0, events)};
    uint64_t bytes;
    double secs = nx_run(ctx, src, want, 2, NX_WINDOW, &bytes);

    /* Naive: the persons of a window are a run of ids (rows in order); an auction of the
     * window matches when its seller is in that run. The persons are made too (timed). */
    double t0 = now_s();
    struct nx_gen gp, ga;
    nx_gen_init(&gp, SPATE_GENERATOR_NEXMARK_PERSON, events);
    int64_t id_sum = 0;
    while (nx_gen_next(&gp))
        for (uint64_t i = 0; i < gp.n; i++)
            id_sum += nx_i64(&gp, 0)[i];
    nx_gen_free(&gp);
    nx_gen_init(&ga, SPATE_GENERATOR_NEXMARK_AUCTION, events);
    uint64_t row = 0, rows = 0, w = 0, wend = 0;
    int64_t sum = 0, plo = 0, phi = 0;
    while (nx_gen_next(&ga)) {
        const int64_t *seller = nx_i64(&ga, 7), *reserve = nx_i64(&ga, 4);
        for (uint64_t i = 0; i < ga.n; i++, row++) {
            while (row >= wend && w * NX_WINDOW < ab.n) {
                uint64_t last = ++w * NX_WINDOW - 1;
                wend = nx_end(&ab, last);
                phi = 1000 + (int64_t)nx_end(&pb, last);
                plo = 1000 + (int64_t)(w > 1 ? nx_end(&pb, last - NX_WINDOW) : 0);
            }
            if (seller[i] >= plo && seller[i] < phi)
                rows++, sum += seller[i] * 7 + reserve[i];
        }
    }
    double base = now_s() - t0;
    nx_gen_free(&ga);
    free(pb.rows);
    free(ab.rows);
    nx_report(c, "nexmark-q8", isa, events, bytes, secs, base,
              got.rows == rows && got.sum == sum && rows > 0 && id_sum > 0);
}

/* q3 local item suggestion: persons in OR, ID or CA and the auctions of category 10 they
 * sell, joined incrementally whatever the order they arrive in: one i64 state per person
 * id (update_state_by_key over the union of both sides), bit 40 set when the person is
 * local and the low bits counting their category-10 auctions. The output is that state
 * (per matched person the number of matching auctions, not the auctions themselves:
 * spate's state values are i64). Checked on the last batch: matched persons and matches. */
#define NX_LOCAL (INT64_C(1) << 40)

static uint32_t nx_q3_local(void *user, const struct spate_chunk_view *in, uint16_t *sel_out) {
    (void)user;
    const struct spate_string *st = in->columns[5].data;
    uint32_t n = 0;
    for (uint32_t r = 0; r < in->rows; r++) {
        const struct spate_string *s = &st[in->sel != NULL ? in->sel[r] : r];
        if (s->len == 2 && ((s->prefix[0] == 'O' && s->prefix[1] == 'R') ||
                            (s->prefix[0] == 'I' && s->prefix[1] == 'D') ||
                            (s->prefix[0] == 'C' && s->prefix[1] == 'A')))
            sel_out[n++] = (uint16_t)r;
    }
    return n;
}

static spate_status nx_q3_person(void *user, const struct spate_chunk_view *in,
                                 spate_chunk_builder *out, struct spate_error *err) {
    (void)user, (void)err;
    int64_t *key = spate_builder_column(out, 0), *val = spate_builder_column(out, 1);
    for (uint32_t r = 0; r < in->rows; r++)
        key[r] = nx_get(in, 0, r), val[r] = NX_LOCAL;
    return SPATE_OK;
}

static spate_status nx_q3_auction(void *user, const struct spate_chunk_view *in,
                                  spate_chunk_builder *out, struct spate_error *err) {
    (void)user, (void)err;
    int64_t *key = spate_builder_column(out, 0), *val = spate_builder_column(out, 1);
    for (uint32_t r = 0; r < in->rows; r++)
        key[r] = nx_get(in, 7, r), val[r] = 1;
    return SPATE_OK;
}

static bool nx_q3_update(void *user, const int64_t *values, uint32_t n, bool has_state,
                         int64_t *state) {
    (void)user, (void)has_state;
    for (uint32_t i = 0; i < n; i++)
        *state += values[i];
    return true;
}

struct nx_matches {
    int64_t persons, matches;
};

static spate_status nx_q3_count(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    struct nx_matches *m = user, now = {0, 0};
    for (uint32_t p = 0; p < spate_batch_num_partitions(b); p++) {
        for (uint32_t c = 0; c < spate_batch_num_chunks(b, p); c++) {
            struct spate_chunk_view v;
            if (spate_batch_chunk(b, p, c, &v) != SPATE_OK)
                return EIO;
            for (uint32_t r = 0; r < v.rows; r++) {
                int64_t s = nx_get(&v, 1, r);
                if (s >= NX_LOCAL && (s & (NX_LOCAL - 1)) > 0)
                    now.persons++, now.matches += s & (NX_LOCAL - 1);
            }
        }
    }
    *m = now; /* the whole state: the last batch's is the answer */
    return SPATE_OK;
}

static void nexmark_q3(const struct cfg *c) {
    uint64_t events = c->records / 2;
    spate_engine *engine;
    spate_context *ctx = make_ctx(c, &engine);
    const char *isa = spate_engine_isa(engine);
    struct spate_error err;
    struct nx_bounds pb = {NULL, 0, 0}, ab = {NULL, 0, 0};
    spate_dstream *src[2] = {nx_source(ctx, SPATE_GENERATOR_NEXMARK_PERSON, events, &pb),
                             nx_source(ctx, SPATE_GENERATOR_NEXMARK_AUCTION, events, &ab)};
    struct spate_column_def kv[] = {{"key", SPATE_TYPE_I64}, {"value", SPATE_TYPE_I64}};
    spate_dstream *local = spate_dstream_filter(src[0], nx_q3_local, NULL, &err);
    spate_dstream *cat10 = spate_dstream_filter_i64(src[1], 8, SPATE_CMP_EQ, 10, &err);
    spate_dstream *sides[2] = {
        local != NULL ? spate_dstream_map(local, kv, 2, nx_q3_person, NULL, &err) : NULL,
        cat10 != NULL ? spate_dstream_map(cat10, kv, 2, nx_q3_auction, NULL, &err) : NULL};
    spate_dstream *both =
        sides[0] != NULL && sides[1] != NULL ? spate_dstream_union(sides, 2, &err) : NULL;
    struct spate_state_opts so;
    spate_state_opts_init(&so);
    so.fn = nx_q3_update;
    spate_dstream *state = both != NULL ? spate_dstream_update_state_by_key(both, &so, &err) : NULL;
    struct nx_matches got = {0, 0};
    if (state == NULL || spate_dstream_foreach_batch(state, nx_q3_count, &got, &err) != SPATE_OK)
        die("nexmark-q3", &err);
    struct spate_generator_opts po = nx_opts(SPATE_GENERATOR_NEXMARK_PERSON, events),
                                ao = nx_opts(SPATE_GENERATOR_NEXMARK_AUCTION, events);
    uint64_t want[2] = {spate_generator_rows(&po, 0, events), spate_generator_rows(&ao, 0, events)};
    uint64_t bytes;
    double secs = nx_run(ctx, src, want, 2, 1, &bytes);

    /* Naive: person ids are dense: a local flag and a count of category-10 auctions each. */
    double t0 = now_s();
    uint8_t *is_local = calloc(want[0] + 1, 1);
    int64_t *sold = calloc(want[0] + 1, sizeof(int64_t));
    struct nx_gen g;
    nx_gen_init(&g, SPATE_GENERATOR_NEXMARK_PERSON, events);
    while (nx_gen_next(&g)) {
        const struct spate_string *st = g.col[5];
        for (uint64_t i = 0; i < g.n; i++) {
            const char *s = spate_string_data(&st[i]);
            is_local[nx_i64(&g, 0)[i] - 1000] = (s[0] == 'O' && s[1] == 'R') ||
                                                (s[0] == 'I' && s[1] == 'D') ||
                                                (s[0] == 'C' && s[1] == 'A');
        }
    }
    nx_gen_free(&g);
    nx_gen_init(&g, SPATE_GENERATOR_NEXMARK_AUCTION, events);
    while (nx_gen_next(&g))
        for (uint64_t i = 0; i < g.n; i++)
            if (nx_i64(&g, 8)[i] == 10)
                sold[nx_i64(&g, 7)[i] - 1000]++;
    nx_gen_free(&g);
    struct nx_matches want_m = {0, 0};
    for (uint64_t p = 0; p < want[0]; p++)
        if (is_local[p] && sold[p] > 0)
            want_m.persons++, want_m.matches += sold[p];
    double base = now_s() - t0;
    free(is_local);
    free(sold);
    free(pb.rows);
    free(ab.rows);
    nx_report(c, "nexmark-q3", isa, events, bytes, secs, base,
              got.persons == want_m.persons && got.matches == want_m.matches && got.matches > 0);
}

/* One NEXMark query by name ("nexmark-q0" ... "nexmark-q8"); false when there is none. */
static bool nexmark(const struct cfg *c, const char *name) {
    if (strcmp(name, "nexmark-q0") == 0)
        nexmark_stateless(c, 0);
    else if (strcmp(name, "nexmark-q1") == 0)
        nexmark_stateless(c, 1);
    else if (strcmp(name, "nexmark-q2") == 0)
        nexmark_stateless(c, 2);
    else if (strcmp(name, "nexmark-q3") == 0)
        nexmark_q3(c);
    else if (strcmp(name, "nexmark-q5") == 0)
        nexmark_q5(c);
    else if (strcmp(name, "nexmark-q7") == 0)
        nexmark_q7(c);
    else if (strcmp(name, "nexmark-q8") == 0)
        nexmark_q8(c);
    else
        return false;
    return true;
}

/* ---- latency: a streaming word count on the wall clock, fed by the generator ---- */

struct lat {
    pthread_mutex_t mu;
    uint32_t n; /* batches */
    uint64_t lines, max_lag;
};

static void on_batch(void *user, const struct spate_batch_info *info) {
    struct lat *l = user;
    pthread_mutex_lock(&l->mu);
    l->n++;
    l->lines += info->records;
    if (info->lag_batches > l->max_lag)
        l->max_lag = info->lag_batches;
    pthread_mutex_unlock(&l->mu);
}

static void latency(const struct cfg *c) {
    struct spate_error err;
    struct spate_engine_opts eo;
    spate_engine_opts_init(&eo);
    eo.workers = c->workers;
    eo.isa = c->isa;
    spate_engine *engine;
    if (spate_engine_create(&eo, &engine, &err) != SPATE_OK)
        die("engine", &err);
    used_workers = spate_engine_workers(engine);
    static struct lat l;
    memset(&l, 0, sizeof(l));
    pthread_mutex_init(&l.mu, NULL);
    struct spate_context_opts co;
    spate_context_opts_init(&co);
    co.batch_interval_ms = c->interval_ms;
    co.on_batch = on_batch;
    co.on_batch_user = &l;
    spate_context *ctx;
    if (spate_context_create(engine, &co, &ctx, &err) != SPATE_OK)
        die("context", &err);
    struct spate_generator_opts go;
    spate_generator_opts_init(&go);
    go.lines_per_second = c->rate;
    spate_dstream *lines = spate_context_generator_stream(ctx, &go, &err);
    spate_dstream *words = lines ? spate_dstream_flat_map_words(lines, &err) : NULL;
    struct spate_reduce_opts ro;
    spate_reduce_opts_init(&ro);
    ro.agg = SPATE_AGG_COUNT;
    spate_dstream *counts = words ? spate_dstream_reduce_by_key(words, &ro, &err) : NULL;
    struct totals got = {0, 0};
    if (counts == NULL || spate_dstream_foreach_batch(counts, add_totals, &got, &err) != SPATE_OK)
        die("latency", &err);
    const char *isa = spate_engine_isa(engine);
    if (spate_context_start(ctx, &err) != SPATE_OK)
        die("start", &err);
    bool stopped;
    if (spate_context_await_termination_timeout(ctx, (int64_t)(c->duration_s * 1000), &stopped,
                                                &err) != SPATE_OK)
        die("a batch failed", &err);
    if (spate_context_stop(ctx, true, true, &err) != SPATE_OK)
        die("stop", &err);
    /* Each record from its arrival in the generator's ring to the end of its batch's outputs. */
    struct spate_latency_stats ls;
    spate_context_latency(ctx, &ls);
    spate_context_destroy(ctx);
    double p50 = (double)ls.p50_us / 1000, p99 = (double)ls.p99_us / 1000;
    double p999 = (double)ls.p999_us / 1000, mx = (double)ls.max_us / 1000;
    double rps = (double)l.lines / c->duration_s;
    if (c->json)
        printf("{\"workload\":\"latency\",\"workers\":%u,\"isa\":\"%s\",\"interval_ms\":%lld,"
               "\"target_lines_per_s\":%llu,\"lines_per_s\":%.0f,\"batches\":%u,"
               "\"records_measured\":%llu,\"latency_basis\":\"record\",\"latency_p50_ms\":%.3f,"
               "\"latency_p99_ms\":%.3f,\"latency_p999_ms\":%.3f,\"latency_max_ms\":%.3f,"
               "\"max_lag_batches\":%llu}\n",
               used_workers, isa, (long long)c->interval_ms, (unsigned long long)c->rate, rps, l.n,
               (unsigned long long)ls.records, p50, p99, p999, mx, (unsigned long long)l.max_lag);
    else
        printf("latency interval=%lld ms rate=%llu lines/s workers=%u isa=%s: %u batches, %.0f "
               "lines/s, record latency p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms "
               "(%llu records), max lag %llu batches\n",
               (long long)c->interval_ms, (unsigned long long)c->rate, used_workers, isa, l.n, rps,
               p50, p99, p999, mx, (unsigned long long)ls.records, (unsigned long long)l.max_lag);
    fflush(stdout);
    pthread_mutex_destroy(&l.mu);
}

/* ---- join-probe: a stream joined with a 1M-row table (a broadcast join), against a loop ---- */

static spate_status count_rows(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    *(uint64_t *)user += spate_batch_rows(b);
    return SPATE_OK;
}

static void join_probe(const struct cfg *c) {
    enum { BUILD = 1000000 };
    uint64_t per = c->records / c->batches, n = per * c->batches;
    int64_t *tkey = malloc(sizeof(int64_t) * BUILD), *tval = malloc(sizeof(int64_t) * BUILD);
    int64_t *key = malloc(sizeof(int64_t) * n), *val = malloc(sizeof(int64_t) * n);
    uint64_t seed = 23;
    for (int64_t i = 0; i < BUILD; i++) {
        tkey[i] = i * 7 + 3; /* unique keys, spread */
        tval[i] = i % 1000;
    }
    for (uint64_t i = 0; i < n; i++) {
        uint64_t x = rng_next(&seed);
        key[i] = (int64_t)(x % (BUILD * 2)) * 7 + 3 - ((x >> 40) % 2) * 2; /* half match */
        val[i] = (int64_t)(x >> 20) % 100;
    }
    spate_engine *engine;
    spate_context *ctx = make_ctx(c, &engine);
    const char *isa = spate_engine_isa(engine);
    struct spate_error err;
    struct spate_column_def tcols[] = {{"k", SPATE_TYPE_I64}, {"tv", SPATE_TYPE_I64}};
    struct spate_column_data td[] = {{tkey, NULL}, {tval, NULL}};
    spate_dstream *table = spate_context_constant_stream(ctx, tcols, 2, td, BUILD, &err);
    struct spate_column_def cols[] = {{"k", SPATE_TYPE_I64}, {"v", SPATE_TYPE_I64}};
    spate_dstream *q = spate_context_queue_stream(ctx, cols, 2, &err);
    spate_dstream *j = table && q ? spate_dstream_join(q, table, NULL, &err) : NULL;
    uint64_t got = 0;
    if (j == NULL || spate_dstream_foreach_batch(j, count_rows, &got, &err) != SPATE_OK)
        die("join-probe", &err);
    for (uint32_t b = 0; b < c->batches; b++) {
        struct spate_column_data d[2] = {{key + per * b, NULL}, {val + per * b, NULL}};
        if (spate_queue_push(q, d, per, &err) != SPATE_OK)
            die("push", &err);
    }
    double secs = run_batches(ctx, c->batches);
    /* Naive: a plain open-addressing table of the build side, probed row by row. */
    double t0 = now_s();
    struct naive_i64 t;
    naive_i64_init(&t, BUILD);
    for (int64_t i = 0; i < BUILD; i++)
        naive_i64_add(&t, tkey[i], tval[i]);
    uint64_t want = 0, sink = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t sl = naive_i64_slot(&t, key[i]);
        if (t.used[sl]) {
            want++;
            sink += (uint64_t)(t.vals[sl] + val[i]);
        }
    }
    double base = now_s() - t0;
    naive_i64_free(&t);
    if (sink == 1) /* keep the loop */
        fprintf(stderr, "\n");
    report(c, "join-probe/1M-build", isa, n, n * 16, secs, base, got == want);
    free(tkey);
    free(tval);
    free(key);
    free(val);
}

/* ---- ingest-tcp: loopback producers into a plain recv() loop, then into spate ---- */

#define INGEST_PRODUCERS 4

struct ingest {
    uint16_t port;
    uint64_t bytes_each; /* per producer */
    const char *text;    /* the lines every producer sends, bytes_each long */
};

static void *ingest_producer(void *arg) {
    const struct ingest *in = arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(in->port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int tries = 0; connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0; tries++) {
        if (tries > 200) {
            fprintf(stderr, "spate-bench: ingest: cannot connect\n");
            exit(1);
        }
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    for (uint64_t at = 0; at < in->bytes_each;) {
        ssize_t w = send(fd, in->text + at, in->bytes_each - at, MSG_NOSIGNAL);
        if (w <= 0) {
            fprintf(stderr, "spate-bench: ingest: send failed: %s\n", strerror(errno));
            exit(1);
        }
        at += (uint64_t)w;
    }
    close(fd);
    return NULL;
}

/* INGEST_PRODUCERS producers sending in's text to its port, run to the end; returns when they
 * started (now_s). */
static double run_producers(struct ingest *in) {
    pthread_t prod[INGEST_PRODUCERS];
    double t0 = now_s();
    for (int p = 0; p < INGEST_PRODUCERS; p++)
        pthread_create(&prod[p], NULL, ingest_producer, in);
    for (int p = 0; p < INGEST_PRODUCERS; p++)
        pthread_join(prod[p], NULL);
    return t0;
}

/* Socket options of spate's loopback receivers in these runs: a ring for a burst of every
 * producer, many receive buffers, no connect logging. */
static void bench_socket_opts(struct spate_socket_opts *so) {
    spate_socket_opts_init(so);
    so->ring_bytes = 256u << 20;
    so->recv_buffers = 256;
    so->quiet = true;
}

static void *plain_reader(void *arg) {
    int fd = (int)(intptr_t)arg;
    static _Thread_local char buf[1 << 16];
    uint64_t got = 0;
    for (;;) {
        ssize_t r = recv(fd, buf, sizeof(buf), 0);
        if (r <= 0)
            break;
        got += (uint64_t)r;
    }
    close(fd);
    return (void *)(uintptr_t)got;
}

/* The baseline: accept the producers, one blocking recv() loop each that only counts bytes. */
static double ingest_plain(struct ingest *in, uint64_t *bytes) {
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(sa);
    if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lfd, 64) != 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &sl) != 0) {
        fprintf(stderr, "spate-bench: ingest: cannot listen\n");
        exit(1);
    }
    in->port = ntohs(sa.sin_port);
    pthread_t prod[INGEST_PRODUCERS], rd[INGEST_PRODUCERS];
    double t0 = now_s();
    for (int p = 0; p < INGEST_PRODUCERS; p++)
        pthread_create(&prod[p], NULL, ingest_producer, in);
    for (int p = 0; p < INGEST_PRODUCERS; p++) {
        int fd = accept(lfd, NULL, NULL);
        pthread_create(&rd[p], NULL, plain_reader, (void *)(intptr_t)fd);
    }
    *bytes = 0;
    for (int p = 0; p < INGEST_PRODUCERS; p++) {
        void *got;
        pthread_join(rd[p], &got);
        *bytes += (uint64_t)(uintptr_t)got;
        pthread_join(prod[p], NULL);
    }
    double secs = now_s() - t0;
    close(lfd);
    return secs;
}

struct ingest_count {
    _Atomic uint64_t rows;
};

static spate_status ingest_add(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    struct ingest_count *ic = user;
    atomic_fetch_add(&ic->rows, spate_batch_rows(b));
    return SPATE_OK;
}

/* spate: a listen stream, lines counted (parse: parsed into typed columns first). */
/* What the ingest workloads count: src's lines, or (parse) the records parse_csv makes of
 * them as (i64 id, f64 value, string name). The context is started; dies on an error. */
static void ingest_count_from(spate_context *ctx, spate_dstream *src, bool parse,
                              struct ingest_count *ic) {
    struct spate_error err;
    spate_dstream *out = src;
    if (parse && src != NULL) {
        struct spate_column_def cols[] = {
            {"id", SPATE_TYPE_I64}, {"value", SPATE_TYPE_F64}, {"name", SPATE_TYPE_STRING}};
        out = spate_dstream_parse_csv(src, cols, 3, NULL, &err);
    }
    if (out == NULL || spate_dstream_foreach_batch(out, ingest_add, ic, &err) != SPATE_OK ||
        spate_context_start(ctx, &err) != SPATE_OK)
        die("ingest", &err);
}

/* Wait (bounded) until lines were counted, then stop gracefully and destroy; the seconds since t0.
 */
static double ingest_finish(spate_context *ctx, struct ingest_count *ic, uint64_t lines, double t0,
                            uint64_t *got) {
    struct spate_error err;
    while (atomic_load(&ic->rows) < lines && now_s() - t0 < 120) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    double secs = now_s() - t0;
    *got = atomic_load(&ic->rows);
    if (spate_context_stop(ctx, true, true, &err) != SPATE_OK)
        die("stop", &err);
    take_record_latency(ctx);
    spate_context_destroy(ctx);
    return secs;
}

static double ingest_spate(const struct cfg *c, struct ingest *in, uint64_t lines, bool parse,
                           uint64_t *got, const char **isa) {
    struct spate_error err;
    spate_engine *engine;
    spate_context *ctx = make_ctx_clock(c, &engine, 20);
    *isa = spate_engine_isa(engine);
    struct spate_socket_opts so;
    bench_socket_opts(&so);
    spate_dstream *src = spate_context_socket_listen_stream(ctx, "127.0.0.1", 0, &so, &err);
    struct ingest_count ic = {0};
    ingest_count_from(ctx, src, parse, &ic);
    in->port = spate_input_port(src);
    double t0 = run_producers(in);
    return ingest_finish(ctx, &ic, lines, t0, got);
}

static void ingest_tcp(const struct cfg *c) {
    /* CSV lines of about 30 bytes: "<id>,<value>,<name>\n". */
    uint64_t each = c->records / INGEST_PRODUCERS * 30;
    char *text = malloc(each + 64);
    uint64_t len = 0, lines = 0;
    uint64_t seed = 11;
    while (len < each) {
        uint64_t x = rng_next(&seed);
        int n = snprintf(text + len, 64, "%" PRIu64 ",%" PRIu64 ".%02u,name%u\n", x % 100000000,
                         x % 10000, (unsigned)(x >> 40) % 100, (unsigned)(x >> 50) % 1000);
        len += (uint64_t)n;
        lines++;
    }
    struct ingest in = {0, len, text};
    uint64_t plain_bytes;
    double plain = ingest_plain(&in, &plain_bytes);
    const uint64_t total = len * INGEST_PRODUCERS, total_lines = lines * INGEST_PRODUCERS;
    for (int parse = 0; parse <= 1; parse++) {
        uint64_t got;
        const char *isa;
        double secs = ingest_spate(c, &in, total_lines, parse, &got, &isa);
        const char *name = parse ? "ingest-tcp/parse-csv" : "ingest-tcp/lines";
        bool ok = got == total_lines && plain_bytes == total;
        if (c->json)
            printf("{\"workload\":\"%s\",\"workers\":%u,\"isa\":\"%s\",\"producers\":%d,"
                   "\"records\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"seconds\":%.4f,"
                   "\"records_per_s\":%.0f,\"bytes_per_s\":%.0f,\"baseline\":\"blocking recv() "
                   "loop per connection, counting bytes\",\"baseline_bytes_per_s\":%.0f,"
                   "\"baseline_records_per_s\":%.0f,"
                   "\"ratio\":%.2f,\"latency_basis\":\"record\",\"latency_p50_ms\":%.3f,"
                   "\"latency_p99_ms\":%.3f,\"latency_max_ms\":%.3f,\"rss_bytes\":%" PRIu64
                   ",\"check\":\"%s\"}\n",
                   name, used_workers, isa, INGEST_PRODUCERS, got, total, secs, (double)got / secs,
                   (double)total / secs, (double)total / plain, (double)total_lines / plain,
                   plain / secs, lat_fig.p50_ms, lat_fig.p99_ms, lat_fig.max_ms, peak_rss(),
                   ok ? "ok" : "mismatch");
        else
            printf("%-22s workers=%u isa=%-6s %12.1f M rec/s %9.1f MB/s | plain recv loop "
                   "%9.1f MB/s | ratio %5.2fx | check %s | latency (record) p50 %.2f p99 %.2f "
                   "max %.2f ms\n",
                   name, used_workers, isa, (double)got / secs / 1e6, (double)total / secs / 1e6,
                   (double)total / plain / 1e6, plain / secs, ok ? "ok" : "MISMATCH",
                   lat_fig.p50_ms, lat_fig.p99_ms, lat_fig.max_ms);
        fflush(stdout);
    }
    free(text);
}

/*
 * --source tcp: INGEST_PRODUCERS loopback producers each send text (nlines lines) to one
 * socket_listen_stream, build(src) makes the pipeline whose outputs add_totals sums; it runs
 * on the wall clock (--interval ms) until every line was taken, then stops gracefully.
 * Returns the seconds from the first send to the end of the stop; got gets the totals.
 */
static double tcp_source_run(const struct cfg *c, const char *what, const char *text, uint64_t len,
                             uint64_t nlines,
                             spate_dstream *(*build)(spate_dstream *src, struct spate_error *err),
                             struct totals *got, const char **isa) {
    struct ingest in = {0, len, text};
    struct spate_error err;
    spate_engine *engine;
    spate_context *ctx = make_ctx_clock(c, &engine, c->interval_ms);
    *isa = spate_engine_isa(engine);
    struct spate_socket_opts so;
    bench_socket_opts(&so);
    spate_dstream *src = spate_context_socket_listen_stream(ctx, "127.0.0.1", 0, &so, &err);
    spate_dstream *out = src ? build(src, &err) : NULL;
    *got = (struct totals){0, 0};
    if (out == NULL || spate_dstream_foreach_batch(out, add_totals, got, &err) != SPATE_OK ||
        spate_context_start(ctx, &err) != SPATE_OK)
        die(what, &err);
    in.port = spate_input_port(src);
    double t0 = run_producers(&in);
    const uint64_t want_lines = nlines * INGEST_PRODUCERS;
    struct spate_input_stats st = {0};
    while (spate_input_stats(src, &st, &err) == SPATE_OK && st.records < want_lines &&
           now_s() - t0 < 300) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    if (spate_context_stop(ctx, true, true, &err) != SPATE_OK)
        die("stop", &err);
    double secs = now_s() - t0;
    take_record_latency(ctx);
    spate_context_destroy(ctx);
    return secs;
}

static spate_dstream *wordcount_pipeline(spate_dstream *src, struct spate_error *err) {
    spate_dstream *words = spate_dstream_flat_map_words(src, err);
    struct spate_reduce_opts ro;
    spate_reduce_opts_init(&ro);
    ro.agg = SPATE_AGG_COUNT;
    return words ? spate_dstream_reduce_by_key(words, &ro, err) : NULL;
}

/* wordcount --source tcp: wordcount's lines over loopback. Batches are cut by time, so the
 * check is the sum of all counts; the naive loop's time is for the same data in memory. */
static void wordcount_tcp(const struct cfg *c, char *const *lines, uint64_t nlines,
                          uint64_t words_total, uint64_t bytes, double base) {
    char *text = malloc(bytes + 1);
    uint64_t len = 0;
    for (uint64_t l = 0; l < nlines; l++) {
        size_t n = strlen(lines[l]);
        memcpy(text + len, lines[l], n);
        len += n;
        text[len++] = '\n';
    }
    struct totals got;
    const char *isa;
    double secs =
        tcp_source_run(c, "wordcount/tcp", text, len, nlines, wordcount_pipeline, &got, &isa);
    report(c, "wordcount/tcp", isa, words_total * INGEST_PRODUCERS, len * INGEST_PRODUCERS, secs,
           base * INGEST_PRODUCERS, (uint64_t)got.sum == words_total * INGEST_PRODUCERS);
    free(text);
}

static spate_dstream *keyed_sum_pipeline(spate_dstream *src, struct spate_error *err) {
    struct spate_column_def cols[] = {{"key", SPATE_TYPE_I64}, {"value", SPATE_TYPE_I64}};
    spate_dstream *pairs = spate_dstream_parse_csv(src, cols, 2, NULL, err);
    struct spate_reduce_opts ro;
    spate_reduce_opts_init(&ro);
    return pairs ? spate_dstream_reduce_by_key(pairs, &ro, err) : NULL;
}

/* keyed-sum --source tcp: the records as "key,value" lines over loopback, parsed by
 * parse_csv, summed per key per batch; the check is the sum of all sums. */
static void keyed_sum_tcp(const struct cfg *c, const int64_t *keys, const int64_t *vals, uint64_t n,
                          double base) {
    char *text = malloc(n * 42 + 1);
    uint64_t len = 0;
    int64_t want = 0;
    for (uint64_t i = 0; i < n; i++) {
        len += (uint64_t)snprintf(text + len, 42, "%" PRId64 ",%" PRId64 "\n", keys[i], vals[i]);
        want += vals[i];
    }
    struct totals got;
    const char *isa;
    double secs = tcp_source_run(c, "keyed-sum/tcp", text, len, n, keyed_sum_pipeline, &got, &isa);
    char name[64];
    snprintf(name, sizeof(name), "keyed-sum/%" PRIu64 "-keys/tcp", c->keys);
    report(c, name, isa, n * INGEST_PRODUCERS, len * INGEST_PRODUCERS, secs,
           base * INGEST_PRODUCERS, got.sum == want * INGEST_PRODUCERS);
    free(text);
}

/* ---- ingest-files: a directory's files through text_file_stream, against cat ---- */

static void ingest_files(const struct cfg *c) {
    char dir[] = "/tmp/spate-bench-files-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        fprintf(stderr, "spate-bench: ingest-files: mkdtemp: %s\n", strerror(errno));
        return;
    }
    enum { FILES = 8 };
    uint64_t per = c->records / FILES, bytes = 0, lines = 0, seed = 17;
    char *buf = malloc(1 << 20);
    for (int f = 0; f < FILES; f++) {
        char path[256];
        snprintf(path, sizeof(path), "%s/part-%02d.csv", dir, f);
        FILE *fp = fopen(path, "w");
        if (fp == NULL || buf == NULL) {
            fprintf(stderr, "spate-bench: ingest-files: cannot write %s\n", path);
            exit(1);
        }
        size_t at = 0;
        for (uint64_t i = 0; i < per; i++) {
            uint64_t x = rng_next(&seed);
            at += (size_t)snprintf(buf + at, 64, "%" PRIu64 ",%" PRIu64 ".%02u,name%u\n",
                                   x % 100000000, x % 10000, (unsigned)(x >> 40) % 100,
                                   (unsigned)(x >> 50) % 1000);
            if (at > (1 << 20) - 128) {
                fwrite(buf, 1, at, fp);
                bytes += at;
                at = 0;
            }
        }
        fwrite(buf, 1, at, fp);
        bytes += at;
        lines += per;
        fclose(fp);
    }
    free(buf);
    /* The baseline: cat of the same files (warm page cache, as for spate). */
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "cat %s/*.csv > /dev/null", dir);
    if (system(cmd) != 0) { /* warm the cache */
        fprintf(stderr, "spate-bench: ingest-files: cat failed\n");
        exit(1);
    }
    double t0 = now_s();
    int rc = system(cmd);
    double cat_s = now_s() - t0;
    (void)rc;
    for (int parse = 0; parse <= 1; parse++) {
        struct spate_error err;
        spate_engine *engine;
        spate_context *ctx = make_ctx_clock(c, &engine, 20);
        const char *isa = spate_engine_isa(engine);
        struct spate_file_stream_opts fo;
        spate_file_stream_opts_init(&fo);
        fo.include_existing = true;
        fo.ring_bytes = 256u << 20;
        spate_dstream *src = spate_context_text_file_stream(ctx, dir, &fo, &err);
        struct ingest_count ic = {0};
        t0 = now_s(); /* the files are there: reading starts with the context */
        ingest_count_from(ctx, src, parse, &ic);
        uint64_t got;
        double secs = ingest_finish(ctx, &ic, lines, t0, &got);
        const char *name = parse ? "ingest-files/parse-csv" : "ingest-files/lines";
        if (c->json)
            printf("{\"workload\":\"%s\",\"workers\":%u,\"isa\":\"%s\",\"records\":%" PRIu64
                   ",\"bytes\":%" PRIu64 ",\"seconds\":%.4f,\"records_per_s\":%.0f,"
                   "\"bytes_per_s\":%.0f,\"baseline\":\"cat of the same files\","
                   "\"baseline_bytes_per_s\":%.0f,\"baseline_records_per_s\":%.0f,\"ratio\":%.2f,"
                   "\"latency_basis\":\"record\","
                   "\"latency_p50_ms\":%.3f,\"latency_p99_ms\":%.3f,\"latency_max_ms\":%.3f,"
                   "\"rss_bytes\":%" PRIu64 ",\"check\":\"%s\"}\n",
                   name, used_workers, isa, got, bytes, secs, (double)got / secs,
                   (double)bytes / secs, (double)bytes / cat_s, (double)lines / cat_s, cat_s / secs,
                   lat_fig.p50_ms, lat_fig.p99_ms, lat_fig.max_ms, peak_rss(),
                   got == lines ? "ok" : "mismatch");
        else
            printf("%-22s workers=%u isa=%-6s %12.1f M rec/s %9.1f MB/s | cat %9.1f MB/s | "
                   "ratio %5.2fx | check %s | latency (record) p50 %.2f p99 %.2f max %.2f ms\n",
                   name, used_workers, isa, (double)got / secs / 1e6, (double)bytes / secs / 1e6,
                   (double)bytes / cat_s / 1e6, cat_s / secs, got == lines ? "ok" : "MISMATCH",
                   lat_fig.p50_ms, lat_fig.p99_ms, lat_fig.max_ms);
        fflush(stdout);
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "spate-bench: could not remove %s\n", dir);
}

/* ---- ingest-udp: loopback datagrams into a plain recvmmsg() loop, then into spate ---- */

/*
 * UDP_PRODUCERS threads each send the same datagrams (whole CSV lines, up to
 * UDP_DGRAM bytes each) as fast as sendmmsg() takes them, first to a plain
 * reader (one thread, recvmmsg() of 64 datagrams, counting bytes), then to
 * spate's udp_stream counting records. UDP has no flow control: what the
 * reader does not take in time the kernel drops, so both sides report the
 * bytes delivered per second (until the last one arrived) and the fraction
 * lost, and the ratio compares delivered rates. Both sockets get the same
 * 8 MiB receive buffer.
 */
#define UDP_PRODUCERS 4
#define UDP_DGRAM 1400 /* payload bytes per datagram */
#define UDP_BATCH 64   /* datagrams per sendmmsg / recvmmsg */

struct udp_ingest {
    uint16_t port;
    const char *data;     /* the datagrams, back to back */
    const uint32_t *dlen; /* their sizes */
    uint32_t ndgrams;     /* per producer */
    atomic_bool producers_done;
};

static void *udp_producer(void *arg) {
    struct udp_ingest *u = arg;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(u->port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        fprintf(stderr, "spate-bench: ingest-udp: cannot connect\n");
        exit(1);
    }
    struct mmsghdr msgs[UDP_BATCH];
    struct iovec iov[UDP_BATCH];
    const char *at = u->data;
    for (uint32_t d = 0; d < u->ndgrams;) {
        uint32_t n = 0;
        const char *p = at;
        for (; n < UDP_BATCH && d + n < u->ndgrams; n++) {
            iov[n].iov_base = (void *)(uintptr_t)p;
            iov[n].iov_len = u->dlen[d + n];
            p += u->dlen[d + n];
            memset(&msgs[n], 0, sizeof(msgs[n]));
            msgs[n].msg_hdr.msg_iov = &iov[n];
            msgs[n].msg_hdr.msg_iovlen = 1;
        }
        int sent = sendmmsg(fd, msgs, n, 0);
        if (sent < 0 && (errno == ENOBUFS || errno == EAGAIN || errno == EINTR))
            continue;
        if (sent <= 0) {
            fprintf(stderr, "spate-bench: ingest-udp: send failed: %s\n", strerror(errno));
            exit(1);
        }
        for (int i = 0; i < sent; i++)
            at += u->dlen[d + (uint32_t)i];
        d += (uint32_t)sent;
    }
    close(fd);
    return NULL;
}

struct udp_plain {
    int fd;
    struct udp_ingest *u;
    uint64_t bytes;
    double last; /* when the last datagram arrived */
};

/* The baseline: recvmmsg() until the producers are done and 200 ms pass without data. */
static void *udp_plain_reader(void *arg) {
    struct udp_plain *r = arg;
    enum { BUF = 65536 };
    char *bufs = malloc((size_t)UDP_BATCH * BUF);
    struct mmsghdr msgs[UDP_BATCH];
    struct iovec iov[UDP_BATCH];
    for (int i = 0; i < UDP_BATCH; i++) {
        iov[i].iov_base = bufs + (size_t)i * BUF;
        iov[i].iov_len = BUF;
    }
    for (;;) {
        for (int i = 0; i < UDP_BATCH; i++) {
            memset(&msgs[i], 0, sizeof(msgs[i]));
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        int n = recvmmsg(r->fd, msgs, UDP_BATCH, MSG_WAITFORONE, NULL);
        if (n > 0) {
            for (int i = 0; i < n; i++)
                r->bytes += msgs[i].msg_len;
            r->last = now_s();
        } else if (atomic_load(&r->u->producers_done) && now_s() - r->last > 0.2) {
            break;
        }
    }
    free(bufs);
    return NULL;
}

static double udp_run_plain(struct udp_ingest *u, uint64_t *bytes) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    int rcvbuf = 8 << 20;
    struct timeval tv = {0, 50000}; /* recvmmsg wakes up to look at the end condition */
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(sa);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        fprintf(stderr, "spate-bench: ingest-udp: cannot bind\n");
        exit(1);
    }
    u->port = ntohs(sa.sin_port);
    atomic_store(&u->producers_done, false);
    struct udp_plain r = {fd, u, 0, 0};
    double t0 = now_s();
    r.last = t0;
    pthread_t rd, prod[UDP_PRODUCERS];
    pthread_create(&rd, NULL, udp_plain_reader, &r);
    for (int p = 0; p < UDP_PRODUCERS; p++)
        pthread_create(&prod[p], NULL, udp_producer, u);
    for (int p = 0; p < UDP_PRODUCERS; p++)
        pthread_join(prod[p], NULL);
    atomic_store(&u->producers_done, true);
    pthread_join(rd, NULL);
    close(fd);
    *bytes = r.bytes;
    return r.last - t0;
}

/* spate: a udp_stream, records counted; waits until 200 ms pass without new bytes. */
static double udp_run_spate(const struct cfg *c, struct udp_ingest *u, uint64_t *bytes,
                            uint64_t *records, uint64_t *malformed, const char **isa) {
    struct spate_error err;
    spate_engine *engine;
    spate_context *ctx = make_ctx_clock(c, &engine, 20);
    *isa = spate_engine_isa(engine);
    struct spate_socket_opts so;
    bench_socket_opts(&so);
    so.max_line_bytes = 64u << 10;
    spate_dstream *src = spate_context_udp_stream(ctx, "127.0.0.1", 0, &so, &err);
    struct ingest_count ic = {0};
    ingest_count_from(ctx, src, false, &ic);
    u->port = spate_input_port(src);
    pthread_t prod[UDP_PRODUCERS];
    double t0 = now_s(), last = t0;
    for (int p = 0; p < UDP_PRODUCERS; p++)
        pthread_create(&prod[p], NULL, udp_producer, u);
    for (int p = 0; p < UDP_PRODUCERS; p++)
        pthread_join(prod[p], NULL);
    struct spate_input_stats st;
    uint64_t seen = 0;
    for (;;) {
        if (spate_input_stats(src, &st, &err) != SPATE_OK)
            die("ingest-udp", &err);
        if (st.bytes != seen) {
            seen = st.bytes;
            last = now_s();
        } else if (now_s() - last > 0.2) {
            break;
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    /* Every line received is counted once the batches that hold it are done. */
    while (atomic_load(&ic.rows) < st.records && now_s() - last < 30) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    if (spate_context_stop(ctx, true, true, &err) != SPATE_OK ||
        spate_input_stats(src, &st, &err) != SPATE_OK)
        die("stop", &err);
    *bytes = st.bytes;
    *records = atomic_load(&ic.rows);
    *malformed = st.malformed;
    take_record_latency(ctx);
    spate_context_destroy(ctx);
    return last - t0;
}

static void ingest_udp(const struct cfg *c) {
    /* The CSV lines of ingest-tcp, packed whole into datagrams of up to UDP_DGRAM bytes. */
    uint64_t each = c->records / UDP_PRODUCERS * 30;
    uint32_t ndgrams = (uint32_t)(each / UDP_DGRAM + 1);
    char *data = malloc((size_t)ndgrams * UDP_DGRAM);
    uint32_t *dlen = malloc(sizeof(uint32_t) * ndgrams);
    uint64_t len = 0, lines = 0, seed = 11;
    uint32_t nd = 0, cur = 0;
    char line[64];
    while (len < each && nd < ndgrams) {
        uint64_t x = rng_next(&seed);
        int n = snprintf(line, sizeof(line), "%" PRIu64 ",%" PRIu64 ".%02u,name%u\n", x % 100000000,
                         x % 10000, (unsigned)(x >> 40) % 100, (unsigned)(x >> 50) % 1000);
        if (cur + (uint32_t)n > UDP_DGRAM) {
            dlen[nd++] = cur;
            cur = 0;
            if (nd == ndgrams)
                break;
        }
        memcpy(data + len, line, (size_t)n);
        len += (uint64_t)n;
        cur += (uint32_t)n;
        lines++;
    }
    if (nd < ndgrams && cur > 0)
        dlen[nd++] = cur;
    struct udp_ingest u = {0, data, dlen, nd, false};
    const uint64_t sent = len * UDP_PRODUCERS, sent_lines = lines * UDP_PRODUCERS;
    uint64_t plain_bytes;
    double plain_s = udp_run_plain(&u, &plain_bytes);
    uint64_t bytes, records, malformed;
    const char *isa;
    double secs = udp_run_spate(c, &u, &bytes, &records, &malformed, &isa);
    double rate = (double)bytes / secs, plain_rate = (double)plain_bytes / plain_s;
    double loss = 1.0 - (double)bytes / (double)sent;
    double plain_loss = 1.0 - (double)plain_bytes / (double)sent;
    /* Datagrams hold whole lines: what arrived are whole lines, none malformed. */
    bool ok = bytes <= sent && plain_bytes <= sent && records <= sent_lines && malformed == 0;
    const char *name = "ingest-udp/lines";
    if (c->json)
        printf("{\"workload\":\"%s\",\"workers\":%u,\"isa\":\"%s\",\"producers\":%d,"
               "\"sent_records\":%" PRIu64 ",\"sent_bytes\":%" PRIu64 ",\"records\":%" PRIu64
               ",\"bytes\":%" PRIu64 ",\"seconds\":%.4f,\"records_per_s\":%.0f,"
               "\"bytes_per_s\":%.0f,\"loss\":%.4f,\"baseline\":\"recvmmsg() loop of 64 "
               "datagrams, counting bytes\",\"baseline_bytes_per_s\":%.0f,\"baseline_loss\":%.4f,"
               "\"ratio\":%.2f,\"note\":\"UDP drops under overload: rates are of delivered "
               "bytes, loss is the fraction of sent bytes not delivered\","
               "\"latency_basis\":\"record\",\"latency_p50_ms\":%.3f,\"latency_p99_ms\":%.3f,"
               "\"latency_max_ms\":%.3f,\"rss_bytes\":%" PRIu64 ",\"check\":\"%s\"}\n",
               name, used_workers, isa, UDP_PRODUCERS, sent_lines, sent, records, bytes, secs,
               (double)records / secs, rate, loss, plain_rate, plain_loss, rate / plain_rate,
               lat_fig.p50_ms, lat_fig.p99_ms, lat_fig.max_ms, peak_rss(), ok ? "ok" : "mismatch");
    else
        printf("%-22s workers=%u isa=%-6s %12.1f M rec/s %9.1f MB/s delivered (loss %4.1f%%) | "
               "plain recvmmsg loop %9.1f MB/s delivered (loss %4.1f%%) | ratio %5.2fx | check "
               "%s | latency (record) p50 %.2f p99 %.2f max %.2f ms\n%-22s UDP drops under "
               "overload: rates count delivered bytes only\n",
               name, used_workers, isa, (double)records / secs / 1e6, rate / 1e6, loss * 100,
               plain_rate / 1e6, plain_loss * 100, rate / plain_rate, ok ? "ok" : "MISMATCH",
               lat_fig.p50_ms, lat_fig.p99_ms, lat_fig.max_ms, "");
    fflush(stdout);
    free(data);
    free(dlen);
}

/* ---- parse-binary: fixed-width binary records decoded by parse_binary ---- */

/*
 * 32-byte little-endian records (i64 id, f64 price, int32 qty, bool side,
 * an 11-byte symbol) pushed into a queue stream as binary values (at most
 * 4 M, outside the timed part), decoded by parse_binary and summed (qty, rows)
 * per batch, against a single-threaded loop that memcpy()s the same fields
 * out of each record, checks the bool and sums.
 */
#define PB_REC 32

struct pb_totals {
    int64_t qty;
    uint64_t rows;
};

static spate_status pb_add(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    struct pb_totals *t = user;
    t->rows += spate_batch_rows(b);
    for (uint32_t p = 0; p < spate_batch_num_partitions(b); p++)
        for (uint32_t k = 0; k < spate_batch_num_chunks(b, p); k++) {
            struct spate_chunk_view v;
            if (spate_batch_chunk(b, p, k, &v) != SPATE_OK)
                return EIO;
            const int64_t *qty = v.columns[2].data;
            for (uint32_t r = 0; r < v.rows; r++)
                t->qty += qty[v.sel != NULL ? v.sel[r] : r];
        }
    return SPATE_OK;
}

static void parse_binary_bench(const struct cfg *c) {
    uint64_t n = c->records < (4u << 20) ? c->records : (4u << 20);
    uint64_t per = n / c->batches;
    n = per * c->batches;
    char *recs = malloc(n * PB_REC);
    struct spate_string *views = malloc(sizeof(struct spate_string) * n);
    uint64_t seed = 23;
    for (uint64_t i = 0; i < n; i++) {
        char *r = recs + i * PB_REC;
        uint64_t x = rng_next(&seed);
        int64_t id = (int64_t)i;
        double price = (double)(x % 100000) / 100.0;
        int32_t qty = (int32_t)(x >> 20) % 1000 - 100;
        memcpy(r, &id, 8); /* the host is little-endian, as the records are */
        memcpy(r + 8, &price, 8);
        memcpy(r + 16, &qty, 4);
        r[20] = (char)((x >> 40) & 1);
        memset(r + 21, 0, 11);
        snprintf(r + 21, 11, "SYM%u", (unsigned)(x >> 50) % 5000);
        memset(&views[i], 0, sizeof(views[i]));
        views[i].len = PB_REC;
        memcpy(views[i].prefix, r, 4);
        views[i].u.ptr = r;
    }
    spate_engine *engine;
    spate_context *ctx = make_ctx(c, &engine);
    const char *isa = spate_engine_isa(engine);
    struct spate_error err;
    struct spate_column_def cols[] = {{"value", SPATE_TYPE_STRING}};
    static const struct spate_binary_field fields[] = {{"id", SPATE_TYPE_I64, 0, 0},
                                                       {"price", SPATE_TYPE_F64, 0, 0},
                                                       {"qty", SPATE_TYPE_I64, 4, 0},
                                                       {"side", SPATE_TYPE_BOOL, 0, 0},
                                                       {"sym", SPATE_TYPE_STRING, 11, 0}};
    spate_dstream *q = spate_context_queue_stream(ctx, cols, 1, &err);
    spate_dstream *p = q ? spate_dstream_parse_binary(q, 0, fields, 5, NULL, &err) : NULL;
    struct pb_totals got = {0, 0};
    if (p == NULL || spate_dstream_foreach_batch(p, pb_add, &got, &err) != SPATE_OK)
        die("parse-binary", &err);
    for (uint32_t b = 0; b < c->batches; b++) {
        struct spate_column_data d = {views + per * b, NULL};
        if (spate_queue_push(q, &d, per, &err) != SPATE_OK)
            die("push", &err);
    }
    double secs = run_batches(ctx, c->batches);

    double t0 = now_s();
    struct pb_totals want = {0, 0};
    for (uint64_t i = 0; i < n; i++) {
        const char *r = views[i].u.ptr;
        int64_t id;
        double price;
        int32_t qty;
        memcpy(&id, r, 8);
        memcpy(&price, r + 8, 8);
        memcpy(&qty, r + 16, 4);
        if ((unsigned char)r[20] > 1 || id < 0 || price < 0)
            continue;
        want.qty += qty;
        want.rows++;
    }
    double base = now_s() - t0;
    report(c, "parse-binary", isa, n, n * PB_REC, secs, base,
           got.qty == want.qty && got.rows == want.rows);
    free(recs);
    free(views);
}

static int usage(void) {
    fprintf(stderr, "usage: spate-bench "
                    "[wordcount|keyed-sum|window|ysb|join-probe|latency|ingest-tcp|ingest-files|"
                    "ingest-udp|parse-binary|nexmark-q0|nexmark-q1|nexmark-q2|nexmark-q3|"
                    "nexmark-q5|nexmark-q7|nexmark-q8|all] [--workers N] "
                    "[--isa scalar|avx2|avx512] [--records N] [--keys K] [--batches B] "
                    "[--rate LINES_PER_S] [--interval MS] [--duration S] [--source memory|tcp] "
                    "[--json]\n");
    return 2;
}

/* Every workload, in the order `all` runs them; NULL fn: a NEXMark query (nexmark()). */
static const struct {
    const char *name;
    void (*fn)(const struct cfg *c);
} workloads[] = {
    {"wordcount", wordcount},
    {"keyed-sum", keyed_sum},
    {"window", window_scaling},
    {"ysb", ysb},
    {"latency", latency},
    {"join-probe", join_probe},
    {"ingest-tcp", ingest_tcp},
    {"ingest-files", ingest_files},
    {"parse-binary", parse_binary_bench},
    {"ingest-udp", ingest_udp},
    {"nexmark-q0", NULL},
    {"nexmark-q1", NULL},
    {"nexmark-q2", NULL},
    {"nexmark-q3", NULL},
    {"nexmark-q5", NULL},
    {"nexmark-q7", NULL},
    {"nexmark-q8", NULL},
};

int main(int argc, char **argv) {
    struct cfg c = {.rate = 1000000,
                    .interval_ms = 10,
                    .duration_s = 5,
                    .workers = 0,
                    .isa = NULL,
                    .records = 20000000,
                    .keys = 10000,
                    .batches = 10,
                    .json = false};
    const char *workload = "all";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--json") == 0) {
            c.json = true;
        } else if (strcmp(a, "--workers") == 0 && v) {
            c.workers = (uint32_t)strtoul(v, NULL, 10);
            i++;
        } else if (strcmp(a, "--isa") == 0 && v) {
            c.isa = v;
            i++;
        } else if (strcmp(a, "--records") == 0 && v) {
            c.records = strtoull(v, NULL, 10);
            i++;
        } else if (strcmp(a, "--keys") == 0 && v) {
            c.keys = strtoull(v, NULL, 10);
            i++;
        } else if (strcmp(a, "--rate") == 0 && v) {
            c.rate = strtoull(v, NULL, 10);
            i++;
        } else if (strcmp(a, "--interval") == 0 && v) {
            c.interval_ms = strtoll(v, NULL, 10);
            i++;
        } else if (strcmp(a, "--duration") == 0 && v) {
            c.duration_s = strtod(v, NULL);
            i++;
        } else if (strcmp(a, "--source") == 0 && v &&
                   (strcmp(v, "memory") == 0 || strcmp(v, "tcp") == 0)) {
            c.source_tcp = strcmp(v, "tcp") == 0;
            i++;
        } else if (strcmp(a, "--batches") == 0 && v) {
            c.batches = (uint32_t)strtoul(v, NULL, 10);
            i++;
        } else if (a[0] != '-') {
            workload = a;
        } else {
            return usage();
        }
    }
    if (c.batches == 0 || c.records < c.batches || c.keys == 0)
        return usage();
    bool all = strcmp(workload, "all") == 0, known = all;
    double t_all = now_s();
    for (size_t w = 0; w < sizeof(workloads) / sizeof(workloads[0]); w++) {
        if (!all && strcmp(workload, workloads[w].name) != 0)
            continue;
        known = true;
        /* Progress on stderr: the tables on stdout stay clean for --json. */
        fprintf(stderr, "spate-bench: %s (%zu of %zu) at %.1f s\n", workloads[w].name, w + 1,
                sizeof(workloads) / sizeof(workloads[0]), now_s() - t_all);
        if (workloads[w].fn != NULL) {
            workloads[w].fn(&c);
        } else if (!nexmark(&c, workloads[w].name)) {
            return usage();
        }
        if (all && workloads[w].fn == keyed_sum) { /* also with 1,000,000 keys in the set */
            struct cfg big = c;
            big.keys = 1000000;
            keyed_sum(&big);
        }
    }
    if (!known)
        return usage();
    if (all)
        fprintf(stderr, "spate-bench: all done in %.1f s\n", now_s() - t_all);
    return 0;
}
