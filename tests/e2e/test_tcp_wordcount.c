/*
 * tests/e2e/test_tcp_wordcount.c - Spark's NetworkWordCount end to end, over
 * loopback TCP, through the public API only.
 *
 * The pipeline is socket_text_stream -> flat_map_words -> reduce_by_key
 * (COUNT) -> foreach_batch, which adds each batch's (word, count) into a
 * test-side table, plus a second foreach_batch on the raw line stream that
 * counts (and optionally collects) the lines. A server thread
 * (line_server.h) plays the script of each test: lines split across writes
 * in the middle of words, CRLF, empty and blank lines, NUL bytes, over-long
 * lines, disconnects, a server that comes up late, a producer far faster than
 * a deliberately slow sink. The server side computes the expected answer with
 * a naive whitespace tokenizer; every test then checks the per-word counts
 * (and line counts and line values) exactly: nothing lost, nothing doubled.
 *
 * Each test stops the context gracefully once everything was seen, which
 * must lose nothing. The callbacks never assert (cmocka is not thread safe):
 * they record the first problem, which the test asserts on its own thread.
 * Every wait is bounded; the fixture's teardown ends any server thread and
 * context a failed test leaves behind, so the next test can still run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spate/spate.h"
#include "line_server.h"

/* ---- Parameters ---- */

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define E2E_SANITIZED 1
#else
#define E2E_SANITIZED 0
#endif

#define INTERVAL_MS 50        /* batch interval of most tests (wall clock) */
#define WAIT_MS 10000         /* how long a test waits for all words to be counted */
#define ACCEPT_MS 10000       /* how long a server waits for the receiver to connect */
#define HOLD_MS 60000         /* upper bound on how long a server keeps a connection */
#define OVERLONG_MAX_LINE 64u /* max_line_bytes of the over-long lines test */
#if E2E_SANITIZED
#define BP_BYTES (8ull << 20) /* backpressure volume: sanitizers are 5-15x slower */
#define BP_WAIT_MS 30000
#else
#define BP_BYTES (30ull << 20)
#define BP_WAIT_MS 30000
#endif
#define BP_RING_BYTES (1u << 20) /* the smallest sensible ring: ~1/30 of the volume */
#define BP_SINK_SLEEP_MS 20      /* the slow sink */
#if defined(__SANITIZE_THREAD__)
#define BP_RSS_GROWTH_MAX (512ull << 20) /* TSan's shadow memory is counted in the RSS */
#else
#define BP_RSS_GROWTH_MAX (200ull << 20)
#endif
#define FIRST_WRITE_ROUNDS 25 /* short runs, each sending its data right after accept */
#define FIRST_WRITE_WAIT_MS 3000
#define GRACEFUL_INTERVAL_MS 500 /* long, so data is still waiting when stop is called */

/* ---- A byte-string -> count table; keys may hold NUL bytes ---- */

struct wt_entry {
    char *key; /* malloc'd copy, NULL = empty slot */
    uint32_t len;
    uint64_t hash;
    int64_t count;
};

struct wtable {
    struct wt_entry *slots;
    size_t cap;  /* power of two (0 before the first add) */
    size_t size; /* used slots */
};

static uint64_t wt_hash(const char *key, uint32_t len) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a: simple, and independent of the engine's XXH3 */
    for (uint32_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

static void wt_init(struct wtable *t) {
    memset(t, 0, sizeof(*t));
}

static void wt_free(struct wtable *t) {
    for (size_t i = 0; i < t->cap; i++)
        free(t->slots[i].key);
    free(t->slots);
    wt_init(t);
}

static struct wt_entry *wt_slot(const struct wtable *t, const char *key, uint32_t len, uint64_t h) {
    size_t mask = t->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct wt_entry *e = &t->slots[i];
        if (e->key == NULL || (e->hash == h && e->len == len && memcmp(e->key, key, len) == 0))
            return e;
    }
}

static bool wt_grow(struct wtable *t) {
    size_t cap = t->cap == 0 ? 64 : t->cap * 2;
    struct wt_entry *slots = calloc(cap, sizeof(*slots));
    if (slots == NULL)
        return false;
    struct wtable bigger = {slots, cap, t->size};
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].key != NULL)
            *wt_slot(&bigger, t->slots[i].key, t->slots[i].len, t->slots[i].hash) = t->slots[i];
    free(t->slots);
    *t = bigger;
    return true;
}

/* Add delta to key's count; *now (optional) gets the new count. False when out of memory. */
static bool wt_add(struct wtable *t, const char *key, uint32_t len, int64_t delta, int64_t *now) {
    if ((t->size + 1) * 2 > t->cap && !wt_grow(t))
        return false;
    uint64_t h = wt_hash(key, len);
    struct wt_entry *e = wt_slot(t, key, len, h);
    if (e->key == NULL) {
        e->key = malloc(len > 0 ? len : 1);
        if (e->key == NULL)
            return false;
        if (len > 0)
            memcpy(e->key, key, len);
        e->len = len;
        e->hash = h;
        e->count = 0;
        t->size++;
    }
    e->count += delta;
    if (now != NULL)
        *now = e->count;
    return true;
}

static int64_t wt_get(const struct wtable *t, const char *key, uint32_t len) {
    if (t->cap == 0)
        return 0;
    const struct wt_entry *e = wt_slot(t, key, len, wt_hash(key, len));
    return e->key != NULL ? e->count : 0;
}

/* Print a key readably: non-printable bytes as \xNN, long keys cut. */
static void print_key(FILE *f, const char *key, uint32_t len) {
    fputc('"', f);
    for (uint32_t i = 0; i < len && i < 48; i++) {
        unsigned char c = (unsigned char)key[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            fputc(c, f);
        else
            fprintf(f, "\\x%02x", c);
    }
    fputs(len > 48 ? "\"..." : "\"", f);
}

/* Count (and print the first few of) the keys whose counts differ between want and got. */
static size_t wt_diff(const struct wtable *want, const struct wtable *got, const char *what) {
    size_t bad = 0;
    for (int pass = 0; pass < 2; pass++) {
        const struct wtable *a = pass == 0 ? want : got;
        const struct wtable *b = pass == 0 ? got : want;
        for (size_t i = 0; i < a->cap; i++) {
            const struct wt_entry *e = &a->slots[i];
            if (e->key == NULL)
                continue;
            int64_t other = wt_get(b, e->key, e->len);
            if (pass == 1 && other != 0)
                continue; /* present in both: already compared in pass 0 */
            if (other == e->count)
                continue;
            if (bad < 10) {
                fprintf(stderr, "  %s mismatch: ", what);
                print_key(stderr, e->key, e->len);
                fprintf(stderr, " expected %" PRId64 ", got %" PRId64 "\n",
                        pass == 0 ? e->count : other, pass == 0 ? other : e->count);
            }
            bad++;
        }
    }
    return bad;
}

/* ---- The expected answer: a naive tokenizer over what the server sends ---- */

struct expect {
    struct wtable words; /* word -> occurrences */
    struct wtable lines; /* line value (no line end) -> occurrences */
    uint64_t nwords;
    uint64_t nlines;    /* valid lines */
    uint64_t malformed; /* lines longer than max_line */
    uint32_t max_line;  /* 0 = no limit */
    bool oom;
};

static bool is_space(char c) {
    switch (c) {
    case ' ':
    case '\t':
    case '\r':
    case '\n':
    case '\v':
    case '\f':
        return true;
    default:
        return false; /* NUL included: it is part of a word */
    }
}

/* One line, without its '\n'. */
static void expect_line(struct expect *e, const char *line, size_t len) {
    if (e->max_line != 0 && len > e->max_line) {
        e->malformed++;
        return;
    }
    size_t vlen = len > 0 && line[len - 1] == '\r' ? len - 1 : len; /* "\r\n" is one line end */
    e->nlines++;
    if (!wt_add(&e->lines, line, (uint32_t)vlen, 1, NULL))
        e->oom = true;
    size_t i = 0;
    while (i < len) {
        while (i < len && is_space(line[i]))
            i++;
        size_t start = i;
        while (i < len && !is_space(line[i]))
            i++;
        if (i > start) {
            e->nwords++;
            if (!wt_add(&e->words, line + start, (uint32_t)(i - start), 1, NULL))
                e->oom = true;
        }
    }
}

/* Whole lines; with eof a last line without '\n' counts too (readLine at end of stream). */
static void expect_stream(struct expect *e, const char *buf, size_t len, bool eof) {
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == '\n') {
            expect_line(e, buf + start, i - start);
            start = i + 1;
        }
    }
    if (eof && start < len)
        expect_line(e, buf + start, len - start);
    else if (start < len)
        e->oom = true; /* a script bug: a partial line without eof */
}

static void expect_free(struct expect *e) {
    wt_free(&e->words);
    wt_free(&e->lines);
    memset(e, 0, sizeof(*e));
}

/* ---- A growable byte script: data plus the points where the server pauses between writes ---- */

#define SB_MAX_CUTS 64

struct sbuf {
    char *data;
    size_t len, cap;
    size_t cut_at[SB_MAX_CUTS]; /* end offsets of writes */
    int pause_ms[SB_MAX_CUTS];  /* pause after each of those writes */
    size_t ncuts;
    bool close_after; /* close the connection at the end instead of holding it */
    bool oom;
};

static void sb_add(struct sbuf *b, const void *p, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap == 0 ? 4096 : b->cap;
        while (cap < b->len + n)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (d == NULL) {
            b->oom = true;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

/* A literal, NUL bytes included (hence a macro over sizeof). */
#define SB_LIT(b, lit) sb_add((b), (lit), sizeof(lit) - 1)

static void sb_addf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_addf(struct sbuf *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        b->oom = true;
        return;
    }
    sb_add(b, tmp, (size_t)n);
}

static void sb_fill(struct sbuf *b, char c, size_t n) {
    for (size_t i = 0; i < n && !b->oom; i++)
        sb_add(b, &c, 1);
}

/* End the current write here and pause ms before the next one. */
static void sb_cut(struct sbuf *b, int ms) {
    if (b->ncuts == SB_MAX_CUTS) {
        b->oom = true;
        return;
    }
    b->cut_at[b->ncuts] = b->len;
    b->pause_ms[b->ncuts] = ms;
    b->ncuts++;
}

static void sb_free(struct sbuf *b) {
    free(b->data);
    memset(b, 0, sizeof(*b));
}

/* A deterministic PRNG (splitmix64), so every run sends the same bytes. */
static uint64_t rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Word number i of a vocabulary: short inline words and long (>12 byte) out-of-line ones. */
static void sb_word(struct sbuf *b, uint64_t i) {
    if (i % 7 == 3)
        sb_addf(b, "longer_word_number_%" PRIu64, i);
    else
        sb_addf(b, "w%" PRIu64, i);
}

/* n random lines of 1..20 words from a vocabulary of vocab words, varied separators. */
static void sb_random_lines(struct sbuf *b, uint64_t *seed, uint64_t n, uint64_t vocab) {
    static const char *const seps[] = {" ", " ", " ", "  ", "\t", " \f "};
    for (uint64_t l = 0; l < n && !b->oom; l++) {
        uint64_t words = 1 + rng_next(seed) % 20;
        for (uint64_t w = 0; w < words; w++) {
            if (w > 0)
                sb_addf(b, "%s", seps[rng_next(seed) % 6]);
            uint64_t r = rng_next(seed) % vocab;
            sb_word(b, r * r / vocab); /* skewed: low numbers are frequent */
        }
        if (rng_next(seed) % 5 == 0)
            SB_LIT(b, "\r\n");
        else
            SB_LIT(b, "\n");
    }
}

/* ---- Server scripts ---- */

/* Send an sbuf with its pauses to one client, then hold the connection (or close it). */
static void send_sbuf(struct ls_server *s, int fd, const struct sbuf *b) {
    size_t pos = 0;
    for (size_t c = 0; c <= b->ncuts && !ls_quitting(s); c++) {
        size_t end = c < b->ncuts ? b->cut_at[c] : b->len;
        if (end > pos && ls_send(s, fd, b->data + pos, end - pos) != 0)
            return;
        pos = end;
        if (c < b->ncuts && b->pause_ms[c] > 0 && !ls_pause(s, b->pause_ms[c]))
            return;
    }
}

/* One connection per sbuf, in order; the last one is held open unless close_after. */
struct conn_script {
    struct sbuf *conns;
    size_t nconns;
    uint16_t late_port; /* != 0: listen on this port only after late_ms */
    int late_ms;
};

static void script_conns(struct ls_server *s, void *arg) {
    struct conn_script *cs = arg;
    if (cs->late_port != 0) {
        if (!ls_pause(s, cs->late_ms))
            return;
        int rc = ls_listen(s, cs->late_port);
        if (rc != 0) {
            ls_fail(s, rc);
            return;
        }
    }
    for (size_t i = 0; i < cs->nconns && !ls_quitting(s); i++) {
        int fd = ls_accept(s, ACCEPT_MS);
        if (fd < 0)
            return;
        send_sbuf(s, fd, &cs->conns[i]);
        if (i + 1 == cs->nconns) {
            atomic_store(&s->done, true);
            if (!cs->conns[i].close_after)
                ls_hold(s, HOLD_MS);
        }
        close(fd);
    }
}

/* The backpressure producer: random lines as fast as the socket takes them. */
struct bulk_script {
    uint64_t bytes; /* send at least this much, in whole lines */
    uint64_t seed;
    uint64_t vocab;
    struct expect *expect; /* filled while sending; read by the test once done */
};

static void script_bulk(struct ls_server *s, void *arg) {
    struct bulk_script *bs = arg;
    int fd = ls_accept(s, ACCEPT_MS);
    if (fd < 0)
        return;
    struct sbuf b;
    memset(&b, 0, sizeof(b));
    uint64_t sent = 0;
    uint64_t seed = bs->seed;
    while (sent < bs->bytes && !ls_quitting(s)) {
        b.len = 0;
        sb_random_lines(&b, &seed, 2000, bs->vocab);
        if (b.oom) {
            ls_fail(s, ENOMEM);
            break;
        }
        expect_stream(bs->expect, b.data, b.len, false);
        if (ls_send(s, fd, b.data, b.len) != 0)
            break;
        sent += b.len;
    }
    sb_free(&b);
    atomic_store(&s->done, true);
    ls_hold(s, HOLD_MS);
    close(fd);
}

/* ---- The word count under test ---- */

struct wc_run {
    spate_engine *engine; /* NULL once a stop took it */
    spate_context *ctx;
    spate_dstream *lines; /* the socket input */
    int sink_sleep_ms;    /* the counts sink sleeps this long per batch */
    bool keep_lines;      /* collect line values (small inputs only) */
    pthread_mutex_t mu;   /* guards everything below */
    struct wtable words;  /* word -> count, summed over batches */
    struct wtable line_values;
    uint64_t total_words;
    uint64_t total_lines;
    uint64_t count_batches;
    uint64_t line_batches;
    char problem[256]; /* first thing a callback found wrong */
};

static void wc_init(struct wc_run *run) {
    memset(run, 0, sizeof(*run));
    pthread_mutex_init(&run->mu, NULL);
    wt_init(&run->words);
    wt_init(&run->line_values);
}

/* Record the first problem (caller holds mu). */
static void wc_problem(struct wc_run *run, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void wc_problem(struct wc_run *run, const char *fmt, ...) {
    if (run->problem[0] != '\0')
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(run->problem, sizeof(run->problem), fmt, ap);
    va_end(ap);
}

/* foreach_batch on reduce_by_key's output: (word string, count i64), each word once per batch. */
static spate_status on_counts(void *user, const spate_batch *batch, struct spate_error *err) {
    (void)err;
    struct wc_run *run = user;
    struct wtable seen;
    wt_init(&seen);
    pthread_mutex_lock(&run->mu);
    run->count_batches++;
    if (spate_batch_num_columns(batch) != 2 ||
        spate_batch_column_type(batch, 0) != SPATE_TYPE_STRING ||
        spate_batch_column_type(batch, 1) != SPATE_TYPE_I64) {
        wc_problem(run, "reduce_by_key output is not (string, i64)");
        goto out;
    }
    uint64_t rows = 0;
    for (uint32_t part = 0; part < spate_batch_num_partitions(batch); part++) {
        for (uint32_t idx = 0; idx < spate_batch_num_chunks(batch, part); idx++) {
            struct spate_chunk_view view;
            if (spate_batch_chunk(batch, part, idx, &view) != SPATE_OK) {
                wc_problem(run, "batch_chunk(%u, %u) failed", part, idx);
                goto out;
            }
            for (uint32_t row = 0; row < view.rows; row++) {
                const char *word = NULL;
                uint32_t len = 0;
                int64_t count = 0;
                int64_t times = 0;
                if (!spate_chunk_get_string(&view, 0, row, &word, &len) ||
                    !spate_chunk_get_i64(&view, 1, row, &count)) {
                    wc_problem(run, "null word or count in batch %" PRId64,
                               spate_batch_time_ms(batch));
                    continue;
                }
                if (len == 0 || count <= 0)
                    wc_problem(run, "empty word or count %" PRId64 " <= 0", count);
                if (!wt_add(&seen, word, len, 1, &times) ||
                    !wt_add(&run->words, word, len, count, NULL))
                    wc_problem(run, "test table out of memory");
                else if (times > 1)
                    wc_problem(run, "a word appears %" PRId64 " times in one reduced batch", times);
                run->total_words += (uint64_t)count;
                rows++;
            }
        }
    }
    if (rows != spate_batch_rows(batch))
        wc_problem(run, "batch_rows %" PRIu64 " but the chunks hold %" PRIu64,
                   spate_batch_rows(batch), rows);
out:
    pthread_mutex_unlock(&run->mu);
    wt_free(&seen);
    if (run->sink_sleep_ms > 0)
        ls_sleep_ms(run->sink_sleep_ms);
    return SPATE_OK;
}

/* foreach_batch on the raw lines: count them; values never hold a line end. */
static spate_status on_lines(void *user, const spate_batch *batch, struct spate_error *err) {
    (void)err;
    struct wc_run *run = user;
    pthread_mutex_lock(&run->mu);
    run->line_batches++;
    run->total_lines += spate_batch_rows(batch);
    for (uint32_t part = 0; part < spate_batch_num_partitions(batch); part++) {
        for (uint32_t idx = 0; idx < spate_batch_num_chunks(batch, part); idx++) {
            struct spate_chunk_view view;
            if (spate_batch_chunk(batch, part, idx, &view) != SPATE_OK) {
                wc_problem(run, "line batch_chunk(%u, %u) failed", part, idx);
                goto out;
            }
            for (uint32_t row = 0; row < view.rows; row++) {
                const char *line = NULL;
                uint32_t len = 0;
                if (!spate_chunk_get_string(&view, 0, row, &line, &len)) {
                    wc_problem(run, "null line");
                    continue;
                }
                if (len > 0 && memchr(line, '\n', len) != NULL)
                    wc_problem(run, "a line value holds '\\n'");
                if (run->keep_lines && !wt_add(&run->line_values, line, len, 1, NULL))
                    wc_problem(run, "test table out of memory");
            }
        }
    }
out:
    pthread_mutex_unlock(&run->mu);
    return SPATE_OK;
}

/* Engine (workers, unpinned), context (wall clock), the pipeline and its two outputs. */
static spate_status wc_build(struct wc_run *run, uint32_t workers, uint16_t port,
                             const struct spate_socket_opts *sopts, int64_t interval_ms,
                             struct spate_error *err) {
    struct spate_engine_opts eo;
    spate_engine_opts_init(&eo);
    eo.workers = workers;
    eo.pin_workers = false;
    eo.name = "e2e";
    spate_status rc = spate_engine_create(&eo, &run->engine, err);
    if (rc != SPATE_OK)
        return rc;
    struct spate_context_opts co;
    spate_context_opts_init(&co);
    co.batch_interval_ms = interval_ms;
    co.name = "tcp_wordcount";
    rc = spate_context_create(run->engine, &co, &run->ctx, err);
    if (rc != SPATE_OK)
        return rc;
    run->lines = spate_context_socket_text_stream(run->ctx, "127.0.0.1", port, sopts, err);
    if (run->lines == NULL)
        return EINVAL;
    spate_dstream *words = spate_dstream_flat_map_words(run->lines, err);
    if (words == NULL)
        return EINVAL;
    struct spate_reduce_opts ro;
    spate_reduce_opts_init(&ro);
    ro.key_col = 0;
    ro.agg = SPATE_AGG_COUNT;
    spate_dstream *counts = spate_dstream_reduce_by_key(words, &ro, err);
    if (counts == NULL)
        return EINVAL;
    rc = spate_dstream_foreach_batch(counts, on_counts, run, err);
    if (rc != SPATE_OK)
        return rc;
    return spate_dstream_foreach_batch(run->lines, on_lines, run, err);
}

static void wc_totals(struct wc_run *run, uint64_t *words, uint64_t *lines) {
    pthread_mutex_lock(&run->mu);
    *words = run->total_words;
    *lines = run->total_lines;
    pthread_mutex_unlock(&run->mu);
}

/* Wait until at least words and lines were counted, the server failed, or timeout_ms passed. */
static bool wc_wait(struct wc_run *run, const struct ls_server *srv, uint64_t words, uint64_t lines,
                    int64_t timeout_ms) {
    int64_t end = ls_now_ms() + timeout_ms;
    for (;;) {
        uint64_t w, l;
        wc_totals(run, &w, &l);
        if (w >= words && l >= lines)
            return true;
        if (ls_now_ms() >= end || atomic_load(&srv->failed) != 0) {
            fprintf(stderr,
                    "  waited: %" PRIu64 "/%" PRIu64 " words, %" PRIu64 "/%" PRIu64 " lines\n", w,
                    words, l, lines);
            return false;
        }
        ls_sleep_ms(10);
    }
}

/* Graceful stop that also stops the engine; then no batch may have failed. */
static void wc_stop_graceful(struct wc_run *run) {
    struct spate_error err;
    spate_error_init(&err);
    spate_status rc = spate_context_stop(run->ctx, true, true, &err);
    run->engine = NULL; /* destroyed by the stop */
    if (rc != SPATE_OK)
        fail_msg("graceful stop: %d %s", rc, err.message);
    assert_int_equal(spate_context_state(run->ctx), SPATE_CONTEXT_STOPPED);
    bool stopped = false;
    rc = spate_context_await_termination_timeout(run->ctx, 0, &stopped, &err);
    if (rc != SPATE_OK)
        fail_msg("a batch failed: %d %s", rc, err.message);
    assert_true(stopped);
}

static void wc_teardown(struct wc_run *run) {
    if (run->ctx != NULL) {
        struct spate_error err;
        spate_status rc = spate_context_stop(run->ctx, true, false, &err);
        if (rc != SPATE_OK)
            fprintf(stderr, "teardown stop: %d %s\n", rc, err.message);
        spate_context_destroy(run->ctx);
        run->engine = NULL;
    }
    spate_engine_destroy(run->engine);
    wt_free(&run->words);
    wt_free(&run->line_values);
    pthread_mutex_destroy(&run->mu);
    memset(run, 0, sizeof(*run));
}

static struct spate_input_stats wc_stats(struct wc_run *run) {
    struct spate_input_stats st;
    struct spate_error err;
    memset(&st, 0, sizeof(st));
    spate_status rc = spate_input_stats(run->lines, &st, &err);
    if (rc != SPATE_OK)
        fail_msg("input_stats: %d %s", rc, err.message);
    return st;
}

/* ---- Fixture: everything a test may leave behind when it fails ---- */

#define MAX_CONNS 4

struct fx {
    struct ls_server srv;
    struct wc_run run;
    struct expect want;
    struct sbuf conns[MAX_CONNS];
    struct conn_script cs;
    struct wtable kept[3]; /* invariance: each run's result */
};

static int fx_setup(void **state) {
    struct fx *fx = calloc(1, sizeof(*fx));
    if (fx == NULL)
        return -1;
    ls_init(&fx->srv);
    wc_init(&fx->run);
    *state = fx;
    return 0;
}

static int fx_teardown(void **state) {
    struct fx *fx = *state;
    wc_teardown(&fx->run);
    ls_stop(&fx->srv);
    expect_free(&fx->want);
    for (size_t i = 0; i < MAX_CONNS; i++)
        sb_free(&fx->conns[i]);
    for (size_t i = 0; i < 3; i++)
        wt_free(&fx->kept[i]);
    free(fx);
    return 0;
}

static struct spate_socket_opts quiet_opts(void) {
    struct spate_socket_opts o;
    spate_socket_opts_init(&o);
    o.quiet = true;
    return o;
}

/* Fill want from the connections' bytes; a connection that closes ends with EOF. */
static void fx_expect_conns(struct fx *fx, size_t nconns, uint32_t max_line) {
    fx->want.max_line = max_line;
    for (size_t i = 0; i < nconns; i++) {
        assert_false(fx->conns[i].oom);
        expect_stream(&fx->want, fx->conns[i].data, fx->conns[i].len, fx->conns[i].close_after);
    }
    assert_false(fx->want.oom);
    fx->cs.conns = fx->conns;
    fx->cs.nconns = nconns;
}

/*
 * Run to completion: wait (when wait_ms > 0) for every expected word and
 * line, stop gracefully, compare. With wait_ms == 0 the stop comes at once.
 */
static void fx_run_and_check(struct fx *fx, int64_t wait_ms) {
    bool all = true;
    if (wait_ms > 0)
        all = wc_wait(&fx->run, &fx->srv, fx->want.nwords, fx->want.nlines, wait_ms);
    int srv_failed = atomic_load(&fx->srv.failed);
    if (srv_failed != 0)
        fail_msg("server failed: %s", strerror(srv_failed));
    wc_stop_graceful(&fx->run);
    if (fx->run.problem[0] != '\0')
        fail_msg("%s", fx->run.problem);
    size_t bad = wt_diff(&fx->want.words, &fx->run.words, "word");
    if (fx->run.keep_lines)
        bad += wt_diff(&fx->want.lines, &fx->run.line_values, "line");
    if (!all || bad != 0)
        fail_msg("%zu keys differ; words %" PRIu64 "/%" PRIu64 ", lines %" PRIu64 "/%" PRIu64, bad,
                 fx->run.total_words, fx->want.nwords, fx->run.total_lines, fx->want.nlines);
    assert_int_equal(fx->run.total_words, fx->want.nwords);
    assert_int_equal(fx->run.total_lines, fx->want.nlines);
}

static void fx_start(struct fx *fx, uint32_t workers, uint16_t port,
                     const struct spate_socket_opts *sopts, int64_t interval_ms) {
    struct spate_error err;
    spate_error_init(&err);
    spate_status rc = wc_build(&fx->run, workers, port, sopts, interval_ms, &err);
    if (rc != SPATE_OK)
        fail_msg("building the pipeline: %d %s", rc, err.message);
    rc = spate_context_start(fx->run.ctx, &err);
    if (rc != SPATE_OK)
        fail_msg("start: %d %s", rc, err.message);
}

/* ---- Tests ---- */

/* Line ends, blank lines, NUL bytes and writes split anywhere: every word counted once. */
static void test_known_lines(void **state) {
    struct fx *fx = *state;
    struct sbuf *b = &fx->conns[0];
    SB_LIT(b, "hello world\n");
    SB_LIT(b, "the quick brown fox jumps over the lazy dog\n");
    sb_cut(b, 30);
    SB_LIT(b, "a word spl"); /* split in the middle of a word ... */
    sb_cut(b, 80);
    SB_LIT(b, "it ac"); /* ... over two batch intervals */
    sb_cut(b, 120);
    SB_LIT(b, "ross writes\n");
    SB_LIT(b, "crlf ended line\r\n");
    SB_LIT(b, "\n");             /* empty line: a record without words */
    SB_LIT(b, "\r\n");           /* empty CRLF line */
    SB_LIT(b, "   \t \v\f  \n"); /* whitespace only */
    SB_LIT(b, " \t \r\n");
    sb_cut(b, 60);
    SB_LIT(b, "nul\0inside a\0word and \0 alone\n");
    SB_LIT(b, "  leading and trailing spaces  \n");
    SB_LIT(b, "tabs\tbetween\twords\tand\tcrlf\r\n");
    SB_LIT(b, "exactly12chr thirteen_chars supercalifragilisticexpialidocious\n");
    SB_LIT(b, "caf\xc3\xa9 na\xc3\xafve \xe2\x82"); /* split inside a UTF-8 sequence */
    sb_cut(b, 70);
    SB_LIT(b, "\xac uro\n");
    SB_LIT(b, "cr and lf in different writes\r");
    sb_cut(b, 90);
    SB_LIT(b, "\nrepeated repeated repeated\n");
    uint64_t seed = 42;
    sb_random_lines(b, &seed, 3000, 500); /* more rows than one chunk */
    size_t mid = b->len;
    SB_LIT(b, "bulk ");
    sb_random_lines(b, &seed, 3000, 500);
    b->cut_at[b->ncuts] = mid + 3; /* cut inside "bulk" */
    b->pause_ms[b->ncuts++] = 60;
    SB_LIT(b, "final line\n");
    fx_expect_conns(fx, 1, 0);

    assert_int_equal(ls_listen(&fx->srv, 0), 0);
    assert_int_equal(ls_start(&fx->srv, script_conns, &fx->cs), 0);
    fx->run.keep_lines = true;
    struct spate_socket_opts so = quiet_opts();
    fx_start(fx, 2, fx->srv.port, &so, INTERVAL_MS);
    fx_run_and_check(fx, WAIT_MS);

    struct spate_input_stats st = wc_stats(&fx->run);
    assert_int_equal(st.malformed, 0);
    assert_int_equal(st.bytes, atomic_load(&fx->srv.bytes_sent));
    assert_int_equal(st.records, fx->want.nlines);
    assert_int_equal(wt_get(&fx->run.words, "nul\0inside", 10), 1);
    assert_int_equal(wt_get(&fx->run.words, "\0", 1), 1);
    assert_int_equal(wt_get(&fx->run.words, "split", 5), 1);
    assert_int_equal(wt_get(&fx->run.words, "repeated", 8), 3);
    assert_int_equal(wt_get(&fx->run.line_values, "", 0), 2);
}

/* Lines over max_line_bytes are skipped and counted; the lines around them survive. */
static void test_overlong_lines(void **state) {
    struct fx *fx = *state;
    struct sbuf *b = &fx->conns[0];
    uint64_t overlong = 0;
    SB_LIT(b, "valid one\n");
    sb_fill(b, 'x', OVERLONG_MAX_LINE + 1); /* one byte too long */
    SB_LIT(b, "\n");
    overlong++;
    SB_LIT(b, "valid two\n");
    for (int i = 0; i < 16; i++) /* exactly the limit: accepted */
        SB_LIT(b, "edg ");
    SB_LIT(b, "\n");
    for (int i = 0; i < 200; i++) /* over-long, in three writes */
        sb_addf(b, "junk%d ", i);
    overlong++;
    sb_cut(b, 60);
    for (int i = 0; i < 200; i++)
        sb_addf(b, "junkb%d ", i);
    sb_cut(b, 80);
    SB_LIT(b, "tail\nvalid three\n"); /* its end and a valid line in one write */
    SB_LIT(b, "valid four\n");
    for (int i = 0; i < 20000; i++) /* ~200 KB: longer than a receive buffer */
        sb_addf(b, "huge%d ", i);
    SB_LIT(b, "\n");
    overlong++;
    SB_LIT(b, "after huge\n");
    sb_fill(b, 'y', 100); /* over-long and CRLF */
    SB_LIT(b, "\r\n");
    overlong++;
    sb_cut(b, 50);
    sb_fill(b, 'z', 100); /* over-long at the start of a write */
    SB_LIT(b, "\nvalid five\n");
    overlong++;
    for (int i = 0; i < 3; i++) { /* back to back */
        sb_fill(b, 'q', 70 + (size_t)i);
        SB_LIT(b, "\n");
        overlong++;
    }
    SB_LIT(b, "final valid line\n");
    fx_expect_conns(fx, 1, OVERLONG_MAX_LINE);
    assert_int_equal(fx->want.malformed, overlong);

    assert_int_equal(ls_listen(&fx->srv, 0), 0);
    assert_int_equal(ls_start(&fx->srv, script_conns, &fx->cs), 0);
    fx->run.keep_lines = true;
    struct spate_socket_opts so = quiet_opts();
    so.max_line_bytes = OVERLONG_MAX_LINE;
    fx_start(fx, 2, fx->srv.port, &so, INTERVAL_MS);
    fx_run_and_check(fx, WAIT_MS);

    struct spate_input_stats st = wc_stats(&fx->run);
    assert_int_equal(st.malformed, overlong);
    assert_int_equal(st.records, fx->want.nlines);
    assert_int_equal(st.bytes, atomic_load(&fx->srv.bytes_sent));
    assert_int_equal(wt_get(&fx->run.words, "edg", 3), 16);
    assert_int_equal(wt_get(&fx->run.words, "tail", 4), 0);
}

/* The server closes the connection twice; the receiver reconnects and loses nothing. */
static void test_reconnect(void **state) {
    struct fx *fx = *state;
    uint64_t seed = 7;
    sb_random_lines(&fx->conns[0], &seed, 500, 200);
    SB_LIT(&fx->conns[0], "no newline before eof"); /* readLine returns it at EOF */
    fx->conns[0].close_after = true;
    SB_LIT(&fx->conns[1], "second connection\n");
    sb_random_lines(&fx->conns[1], &seed, 700, 200);
    fx->conns[1].close_after = true;
    sb_random_lines(&fx->conns[2], &seed, 300, 200);
    SB_LIT(&fx->conns[2], "third connection\n");
    fx_expect_conns(fx, 3, 0);

    assert_int_equal(ls_listen(&fx->srv, 0), 0);
    assert_int_equal(ls_start(&fx->srv, script_conns, &fx->cs), 0);
    fx->run.keep_lines = true;
    struct spate_socket_opts so = quiet_opts();
    fx_start(fx, 2, fx->srv.port, &so, INTERVAL_MS);
    fx_run_and_check(fx, WAIT_MS);

    struct spate_input_stats st = wc_stats(&fx->run);
    assert_int_equal(atomic_load(&fx->srv.accepted), 3);
    assert_true(st.reconnects >= 2);
    assert_int_equal(st.records, fx->want.nlines);
    assert_int_equal(st.bytes, atomic_load(&fx->srv.bytes_sent));
    assert_int_equal(wt_get(&fx->run.line_values, "no newline before eof", 21), 1);
}

/* The context starts before anything listens; the receiver retries until it connects. */
static void test_server_not_up_yet(void **state) {
    struct fx *fx = *state;
    uint64_t seed = 99;
    sb_random_lines(&fx->conns[0], &seed, 1000, 300);
    SB_LIT(&fx->conns[0], "late but counted\n");
    fx_expect_conns(fx, 1, 0);
    uint16_t port = 0;
    assert_int_equal(ls_reserve_port(&port), 0);
    fx->cs.late_port = port;
    fx->cs.late_ms = 300;

    struct spate_socket_opts so = quiet_opts();
    fx_start(fx, 2, port, &so, INTERVAL_MS);
    assert_int_equal(ls_start(&fx->srv, script_conns, &fx->cs), 0);
    fx_run_and_check(fx, WAIT_MS);

    struct spate_input_stats st = wc_stats(&fx->run);
    assert_int_equal(st.records, fx->want.nlines);
    assert_int_equal(st.bytes, atomic_load(&fx->srv.bytes_sent));
    assert_int_equal(atomic_load(&fx->srv.accepted), 1);
}

/* Sample the engine's memory figures, keeping the highest RSS and allocated bytes seen. */
static uint64_t mem_sample(struct wc_run *run, uint64_t *rss_max, uint64_t *alloc_max) {
    struct spate_memory_stats m;
    struct spate_error err;
    if (spate_engine_memory(run->engine, &m, &err) != SPATE_OK)
        return 0;
    *rss_max = m.rss > *rss_max ? m.rss : *rss_max;
    *alloc_max = m.allocated > *alloc_max ? m.allocated : *alloc_max;
    return m.rss;
}

/* A producer much faster than a slow sink, into a 1 MiB ring: pushed back, nothing lost. */
static void test_backpressure(void **state) {
    struct fx *fx = *state;
    struct bulk_script bs = {BP_BYTES, 2024, 1000, &fx->want};
    assert_int_equal(ls_listen(&fx->srv, 0), 0);

    struct spate_socket_opts so = quiet_opts();
    so.ring_bytes = BP_RING_BYTES;
    so.max_line_bytes = 4096;
    fx->run.sink_sleep_ms = BP_SINK_SLEEP_MS;
    int64_t t0 = ls_now_ms();
    fx_start(fx, 2, fx->srv.port, &so, INTERVAL_MS);
    uint64_t rss_max = 0, alloc_max = 0;
    uint64_t rss0 = mem_sample(&fx->run, &rss_max, &alloc_max);
    assert_int_equal(ls_start(&fx->srv, script_bulk, &bs), 0);

    /* Sample RSS while the data flows; the expected totals are final once the server is done. */
    int64_t end = ls_now_ms() + BP_WAIT_MS;
    bool all = false;
    while (!all && ls_now_ms() < end && atomic_load(&fx->srv.failed) == 0) {
        mem_sample(&fx->run, &rss_max, &alloc_max);
        if (atomic_load(&fx->srv.done)) {
            uint64_t w, l;
            wc_totals(&fx->run, &w, &l);
            all = w >= fx->want.nwords && l >= fx->want.nlines;
        }
        ls_sleep_ms(20);
    }
    int srv_failed = atomic_load(&fx->srv.failed);
    if (srv_failed != 0)
        fail_msg("server failed: %s", strerror(srv_failed));
    fx_run_and_check(fx, 0);
    int64_t ms = ls_now_ms() - t0;
    struct spate_input_stats st = wc_stats(&fx->run);

    uint64_t sent = atomic_load(&fx->srv.bytes_sent);
    fprintf(stderr,
            "  backpressure: %" PRIu64 " bytes, %" PRIu64 " lines, %" PRIu64 " words in %" PRId64
            " ms (%.1f MB/s), %" PRIu64 " batches, blocked %.1f ms, rss %" PRIu64 " -> max %" PRIu64
            " MiB, spate allocated max %" PRIu64 " MiB\n",
            sent, fx->want.nlines, fx->want.nwords, ms, (double)sent / 1e3 / (double)(ms ? ms : 1),
            fx->run.count_batches, (double)st.blocked_ns / 1e6, rss0 >> 20, rss_max >> 20,
            alloc_max >> 20);
    assert_true(sent >= BP_BYTES);
    assert_int_equal(st.bytes, sent);
    assert_int_equal(st.records, fx->want.nlines);
    assert_int_equal(st.malformed, 0);
    assert_true(rss0 > 0);
    if (rss_max - rss0 > BP_RSS_GROWTH_MAX)
        fail_msg("RSS grew by %" PRIu64 " MiB (bound %llu MiB)", (rss_max - rss0) >> 20,
                 BP_RSS_GROWTH_MAX >> 20);
}

/*
 * The first bytes of a connection, sent the moment it is accepted, are
 * counted: short runs repeated, since a receiver that publishes lines before
 * the engine notes where its ring starts loses them only now and then.
 */
static void test_first_write_counted(void **state) {
    struct fx *fx = *state;
    uint64_t seed = 31;
    sb_random_lines(&fx->conns[0], &seed, 50, 100);
    fx_expect_conns(fx, 1, 0);

    for (int round = 0; round < FIRST_WRITE_ROUNDS; round++) {
        ls_init(&fx->srv);
        assert_int_equal(ls_listen(&fx->srv, 0), 0);
        assert_int_equal(ls_start(&fx->srv, script_conns, &fx->cs), 0);
        struct spate_socket_opts so = quiet_opts();
        fx_start(fx, 2, fx->srv.port, &so, INTERVAL_MS);
        if (!wc_wait(&fx->run, &fx->srv, fx->want.nwords, fx->want.nlines, FIRST_WRITE_WAIT_MS))
            fail_msg("round %d: the first write of the connection was not (all) counted", round);
        fx_run_and_check(fx, 0);
        wc_teardown(&fx->run);
        wc_init(&fx->run);
        ls_stop(&fx->srv);
    }
}

/* The same input gives the same counts with 1, 2 and 4 workers. */
static void test_worker_invariance(void **state) {
    struct fx *fx = *state;
    static const uint32_t workers[3] = {1, 2, 4};
    struct sbuf *b = &fx->conns[0];
    uint64_t seed = 1234;
    sb_random_lines(b, &seed, 4000, 3000);
    sb_cut(b, 70);
    sb_random_lines(b, &seed, 4000, 3000);
    SB_LIT(b, "half a li");
    sb_cut(b, 70);
    SB_LIT(b, "ne\n");
    sb_random_lines(b, &seed, 4000, 3000);
    fx_expect_conns(fx, 1, 0);

    for (int i = 0; i < 3; i++) {
        ls_init(&fx->srv);
        assert_int_equal(ls_listen(&fx->srv, 0), 0);
        assert_int_equal(ls_start(&fx->srv, script_conns, &fx->cs), 0);
        struct spate_socket_opts so = quiet_opts();
        fx_start(fx, workers[i], fx->srv.port, &so, INTERVAL_MS);
        fx_run_and_check(fx, WAIT_MS);
        fx->kept[i] = fx->run.words; /* keep the result, reset the run */
        wt_init(&fx->run.words);
        wc_teardown(&fx->run);
        wc_init(&fx->run);
        ls_stop(&fx->srv);
    }
    assert_int_equal(wt_diff(&fx->kept[0], &fx->kept[1], "1 vs 2 workers"), 0);
    assert_int_equal(wt_diff(&fx->kept[0], &fx->kept[2], "1 vs 4 workers"), 0);
}

/* Stop right after the receiver took the last byte: the graceful stop processes all of it. */
static void test_graceful_stop_loses_nothing(void **state) {
    struct fx *fx = *state;
    uint64_t seed = 555;
    sb_random_lines(&fx->conns[0], &seed, 20000, 2000);
    SB_LIT(&fx->conns[0], "the very last line\n");
    fx_expect_conns(fx, 1, 0);

    assert_int_equal(ls_listen(&fx->srv, 0), 0);
    assert_int_equal(ls_start(&fx->srv, script_conns, &fx->cs), 0);
    struct spate_socket_opts so = quiet_opts();
    fx_start(fx, 2, fx->srv.port, &so, GRACEFUL_INTERVAL_MS);

    int64_t end = ls_now_ms() + WAIT_MS;
    bool received = false;
    while (!received && ls_now_ms() < end && atomic_load(&fx->srv.failed) == 0) {
        struct spate_input_stats st = wc_stats(&fx->run);
        received = atomic_load(&fx->srv.done) && st.bytes == atomic_load(&fx->srv.bytes_sent);
        if (!received)
            ls_sleep_ms(1);
    }
    assert_true(received);
    uint64_t w_before, l_before;
    wc_totals(&fx->run, &w_before, &l_before);
    fprintf(stderr, "  graceful: %" PRIu64 " of %" PRIu64 " lines counted when stop was called\n",
            l_before, fx->want.nlines);
    fx_run_and_check(fx, 0);
    struct spate_input_stats st = wc_stats(&fx->run);
    assert_int_equal(st.records, fx->want.nlines);
    assert_int_equal(wt_get(&fx->run.words, "last", 4), 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_known_lines, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_overlong_lines, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_reconnect, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_server_not_up_yet, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_backpressure, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_first_write_counted, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_worker_invariance, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_graceful_stop_loses_nothing, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
