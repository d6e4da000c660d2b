/*
 * tests/e2e/test_generator_typed.c - the typed generators (keyed pairs, YSB,
 * NEXMark person/auction/bid): spate_generator_fill is pure (the same range
 * gives the same rows, a range split in two gives the same rows), NEXMark
 * events come 1 : 3 : 46 and every reference points at an earlier event, a
 * stream makes exactly the rows fill makes for its first max_lines events
 * (also under backpressure and with two workers), three NEXMark streams of
 * one seed agree, a rate is kept as an upper bound, a slow sink makes the
 * generator wait (bounded memory, nothing lost), and misuse is refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "spate/spate.h"

#define NCOLS_MAX 9

static uint64_t mix(uint64_t x) {
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t hash_bytes(uint64_t h, const char *s, uint32_t len) {
    for (uint32_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return mix(h ^ len);
}

/* Rows made by fill, in plain arrays (freed by rows_free). */
struct rows {
    uint64_t n;
    uint32_t ncols;
    const struct spate_column_def *defs;
    struct spate_column_data cols[NCOLS_MAX];
    char *bytes;
};

static void fill(const struct spate_generator_opts *o, uint64_t first, uint64_t count,
                 struct rows *r) {
    struct spate_error err;
    memset(r, 0, sizeof(*r));
    assert_int_equal(spate_generator_columns(o, &r->defs, &r->ncols, &err), SPATE_OK);
    uint64_t n = spate_generator_rows(o, first, count);
    for (uint32_t c = 0; c < r->ncols; c++)
        r->cols[c].data = calloc(n + 1, 16); /* 16: the widest type, a string view */
    uint64_t cap = spate_generator_bytes(o, count);
    r->bytes = malloc(cap + 1);
    assert_int_equal(spate_generator_fill(o, first, count, r->cols, r->bytes, cap, &r->n, &err),
                     SPATE_OK);
    assert_int_equal(r->n, n);
}

static void rows_free(struct rows *r) {
    for (uint32_t c = 0; c < r->ncols; c++)
        free((void *)(uintptr_t)r->cols[c].data);
    free(r->bytes);
}

static const int64_t *i64_col(const struct rows *r, uint32_t c) {
    return r->cols[c].data;
}

static const struct spate_string *str_col(const struct rows *r, uint32_t c) {
    return r->cols[c].data;
}

static uint64_t row_hash(const struct rows *r, uint64_t i) {
    uint64_t h = 1469598103934665603ull;
    for (uint32_t c = 0; c < r->ncols; c++) {
        if (r->defs[c].type == SPATE_TYPE_STRING) {
            const struct spate_string *s = &str_col(r, c)[i];
            h = hash_bytes(h, spate_string_data(s), s->len);
        } else {
            h = mix(h ^ (uint64_t)i64_col(r, c)[i]);
        }
    }
    return h;
}

static struct spate_generator_opts opts_of(enum spate_generator_kind kind) {
    struct spate_generator_opts o;
    spate_generator_opts_init(&o);
    o.kind = kind;
    o.seed = 5;
    o.keys = 1000;
    return o;
}

static const enum spate_generator_kind typed[] = {
    SPATE_GENERATOR_KEYED, SPATE_GENERATOR_YSB, SPATE_GENERATOR_NEXMARK_PERSON,
    SPATE_GENERATOR_NEXMARK_AUCTION, SPATE_GENERATOR_NEXMARK_BID};

static void fill_is_pure_and_splits(void **state) {
    (void)state;
    for (size_t k = 0; k < sizeof(typed) / sizeof(typed[0]); k++) {
        struct spate_generator_opts o = opts_of(typed[k]);
        struct rows a, b, lo, hi;
        fill(&o, 0, 20000, &a);
        fill(&o, 0, 20000, &b);
        fill(&o, 0, 7777, &lo);
        fill(&o, 7777, 20000 - 7777, &hi);
        assert_int_equal(lo.n + hi.n, a.n);
        for (uint64_t i = 0; i < a.n; i++) {
            assert_int_equal(row_hash(&a, i), row_hash(&b, i));
            uint64_t want = i < lo.n ? row_hash(&lo, i) : row_hash(&hi, i - lo.n);
            assert_int_equal(row_hash(&a, i), want);
        }
        /* Another seed, other rows. */
        struct spate_generator_opts o2 = o;
        o2.seed = 6;
        struct rows c;
        fill(&o2, 0, 20000, &c);
        uint64_t same = 0;
        for (uint64_t i = 0; i < a.n; i++)
            same += row_hash(&a, i) == row_hash(&c, i);
        assert_true(same < a.n / 2);
        rows_free(&a);
        rows_free(&b);
        rows_free(&lo);
        rows_free(&hi);
        rows_free(&c);
    }
}

static bool is_one_of(const struct spate_string *s, const char *const *words, int n) {
    for (int i = 0; i < n; i++)
        if (s->len == strlen(words[i]) && memcmp(spate_string_data(s), words[i], s->len) == 0)
            return true;
    return false;
}

static void keyed_and_ysb_values(void **state) {
    (void)state;
    struct spate_generator_opts ko = opts_of(SPATE_GENERATOR_KEYED);
    struct rows k;
    fill(&ko, 0, 100000, &k);
    uint64_t seen_keys = 0;
    static uint8_t hit[1000];
    memset(hit, 0, sizeof(hit));
    for (uint64_t i = 0; i < k.n; i++) {
        int64_t key = i64_col(&k, 0)[i], v = i64_col(&k, 1)[i];
        assert_true(key >= 0 && key < 1000 && v >= 0 && v < 100);
        seen_keys += hit[key] == 0;
        hit[key] = 1;
    }
    assert_int_equal(seen_keys, 1000); /* uniform: 100 rows a key, every key seen */
    rows_free(&k);
    struct spate_generator_opts yo = opts_of(SPATE_GENERATOR_YSB);
    struct rows y;
    fill(&yo, 0, 30000, &y);
    static const char *const ad_types[] = {"banner", "modal", "sponsored-search", "mail", "mobile"};
    static const char *const event_types[] = {"view", "click", "purchase"};
    uint64_t views = 0;
    for (uint64_t i = 0; i < y.n; i++) {
        assert_true(i64_col(&y, 2)[i] >= 0 && i64_col(&y, 2)[i] < 1000);
        assert_true(is_one_of(&str_col(&y, 3)[i], ad_types, 5));
        assert_true(is_one_of(&str_col(&y, 4)[i], event_types, 3));
        views += str_col(&y, 4)[i].len == 4;
        assert_int_equal(i64_col(&y, 5)[i], yo.first_event_ns + (int64_t)(i * 100000));
        assert_true(i64_col(&y, 6)[i] >= 0 && i64_col(&y, 6)[i] <= 0xffffffffll);
    }
    assert_true(views > y.n / 4 && views < y.n / 2); /* a third of the events */
    rows_free(&y);
}

/* Event number of a NEXMark row from its date_time. */
static uint64_t event_of(const struct spate_generator_opts *o, int64_t t) {
    return (uint64_t)(t - o->first_event_ns) / o->event_interval_ns;
}

static void nexmark_proportions_and_references(void **state) {
    (void)state;
    enum { EVENTS = 500000 };
    struct spate_generator_opts po = opts_of(SPATE_GENERATOR_NEXMARK_PERSON),
                                ao = opts_of(SPATE_GENERATOR_NEXMARK_AUCTION),
                                bo = opts_of(SPATE_GENERATOR_NEXMARK_BID);
    struct rows p, a, b;
    fill(&po, 0, EVENTS, &p);
    fill(&ao, 0, EVENTS, &a);
    fill(&bo, 0, EVENTS, &b);
    assert_int_equal(p.n, EVENTS / 50 * 1);
    assert_int_equal(a.n, EVENTS / 50 * 3);
    assert_int_equal(b.n, EVENTS / 50 * 46);
    /* Person and auction ids are 1000, 1001, ... in event order; event times increase. */
    for (uint64_t i = 0; i < p.n; i++) {
        assert_int_equal(i64_col(&p, 0)[i], 1000 + (int64_t)i);
        assert_int_equal(event_of(&po, i64_col(&p, 6)[i]) % 50, 0);
        const struct spate_string *st = &str_col(&p, 5)[i];
        assert_int_equal(st->len, 2);
    }
    uint64_t hot_sellers = 0;
    for (uint64_t i = 0; i < a.n; i++) {
        assert_int_equal(i64_col(&a, 0)[i], 1000 + (int64_t)i);
        uint64_t n = event_of(&ao, i64_col(&a, 5)[i]);
        assert_true(n % 50 >= 1 && n % 50 <= 3);
        int64_t seller = i64_col(&a, 7)[i];
        assert_true(seller >= 1000 && seller < 1000 + (int64_t)p.n);
        /* The seller's person event comes before the auction's. */
        assert_true(event_of(&po, i64_col(&p, 6)[seller - 1000]) < n);
        hot_sellers += seller % 100 == 0;
        int64_t cat = i64_col(&a, 8)[i];
        assert_true(cat >= 10 && cat < 15);
        assert_true(i64_col(&a, 4)[i] > i64_col(&a, 3)[i]); /* reserve above the initial bid */
        assert_true(i64_col(&a, 6)[i] > i64_col(&a, 5)[i]); /* expires after it opens */
    }
    assert_true(hot_sellers > a.n / 2); /* 3 in 4 auctions by a hot seller */
    uint64_t hot_auctions = 0;
    for (uint64_t i = 0; i < b.n; i++) {
        uint64_t n = event_of(&bo, i64_col(&b, 4)[i]);
        assert_true(n % 50 >= 4);
        int64_t auction = i64_col(&b, 0)[i], bidder = i64_col(&b, 1)[i];
        assert_true(auction >= 1000 && auction < 1000 + (int64_t)a.n);
        assert_true(event_of(&ao, i64_col(&a, 5)[auction - 1000]) < n);
        assert_true(bidder >= 1000 && bidder < 1000 + (int64_t)p.n);
        assert_true(event_of(&po, i64_col(&p, 6)[bidder - 1000]) < n);
        assert_true(i64_col(&b, 2)[i] >= 100); /* at least $1, in cents */
        hot_auctions += auction % 100 == 0;
    }
    assert_true(hot_auctions > b.n * 4 / 10); /* half the bids on a hot auction */
    rows_free(&p);
    rows_free(&a);
    rows_free(&b);
}

/* ---- Streams ---- */

struct seen {
    pthread_mutex_t mu;
    uint64_t rows, sum; /* order-free: the sum of the row hashes */
    uint64_t parts;     /* partitions with rows (a typed generator's items) */
};

static spate_status collect(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    struct seen *s = user;
    uint32_t ncols = spate_batch_num_columns(b);
    uint64_t rows = 0, sum = 0, parts = 0;
    for (uint32_t p = 0; p < spate_batch_num_partitions(b); p++) {
        parts += spate_batch_num_chunks(b, p) > 0;
        for (uint32_t c = 0; c < spate_batch_num_chunks(b, p); c++) {
            struct spate_chunk_view v;
            if (spate_batch_chunk(b, p, c, &v) != SPATE_OK)
                return EIO;
            for (uint32_t r = 0; r < v.rows; r++) {
                uint64_t h = 1469598103934665603ull;
                for (uint32_t col = 0; col < ncols; col++) {
                    if (spate_batch_column_type(b, col) == SPATE_TYPE_STRING) {
                        const char *d;
                        uint32_t len;
                        if (!spate_chunk_get_string(&v, col, r, &d, &len))
                            return EIO;
                        h = hash_bytes(h, d, len);
                    } else {
                        int64_t x;
                        if (!spate_chunk_get_i64(&v, col, r, &x))
                            return EIO;
                        h = mix(h ^ (uint64_t)x);
                    }
                }
                sum += h;
                rows++;
            }
        }
    }
    pthread_mutex_lock(&s->mu);
    s->rows += rows;
    s->sum += sum;
    s->parts += parts;
    pthread_mutex_unlock(&s->mu);
    return SPATE_OK;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Run streams of opts (n of them) on one context until each has want[i] rows or run_ms
 * passed; seen[i] gets what stream i delivered. Returns the seconds the streams ran. */
static double run_streams(const struct spate_generator_opts *opts, uint32_t n, uint32_t workers,
                          const uint64_t *want, long run_ms, struct seen *seen) {
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
    spate_dstream *streams[3];
    for (uint32_t i = 0; i < n; i++) {
        streams[i] = spate_context_generator_stream(ctx, &opts[i], &err);
        assert_non_null(streams[i]);
        memset(&seen[i], 0, sizeof(seen[i]));
        pthread_mutex_init(&seen[i].mu, NULL);
        assert_int_equal(spate_dstream_foreach_batch(streams[i], collect, &seen[i], &err),
                         SPATE_OK);
    }
    double t0 = now_s();
    assert_int_equal(spate_context_start(ctx, &err), SPATE_OK);
    for (long waited = 0; waited < run_ms; waited += 10) {
        bool all = want != NULL;
        for (uint32_t i = 0; i < n && all; i++) {
            struct spate_input_stats st;
            assert_int_equal(spate_input_stats(streams[i], &st, &err), SPATE_OK);
            all = st.records >= want[i];
        }
        if (all)
            break;
        sleep_ms(10);
    }
    assert_int_equal(spate_context_stop(ctx, true, true, &err), SPATE_OK);
    double secs = now_s() - t0;
    spate_context_destroy(ctx);
    for (uint32_t i = 0; i < n; i++)
        pthread_mutex_destroy(&seen[i].mu);
    return secs;
}

static void stream_equals_fill(void **state) {
    (void)state;
    enum { EVENTS = 60000 };
    for (size_t k = 0; k < sizeof(typed) / sizeof(typed[0]); k++) {
        struct spate_generator_opts o = opts_of(typed[k]);
        o.max_lines = EVENTS;
        o.ring_bytes = 1u << 16; /* small: the generator waits for batches to finish */
        struct rows r;
        fill(&o, 0, EVENTS, &r);
        uint64_t sum = 0;
        for (uint64_t i = 0; i < r.n; i++)
            sum += row_hash(&r, i);
        for (uint32_t workers = 1; workers <= 2; workers++) {
            struct seen s;
            run_streams(&o, 1, workers, &r.n, 60000, &s);
            assert_int_equal(s.rows, r.n); /* max_lines: no more, no fewer */
            assert_int_equal(s.sum, sum);
        }
        rows_free(&r);
    }
}

static void nexmark_streams_agree(void **state) {
    (void)state;
    enum { EVENTS = 100000 };
    struct spate_generator_opts o[3] = {opts_of(SPATE_GENERATOR_NEXMARK_PERSON),
                                        opts_of(SPATE_GENERATOR_NEXMARK_AUCTION),
                                        opts_of(SPATE_GENERATOR_NEXMARK_BID)};
    uint64_t want[3], sums[3];
    for (int i = 0; i < 3; i++) {
        o[i].max_lines = EVENTS;
        struct rows r;
        fill(&o[i], 0, EVENTS, &r);
        want[i] = r.n;
        sums[i] = 0;
        for (uint64_t j = 0; j < r.n; j++)
            sums[i] += row_hash(&r, j);
        rows_free(&r);
    }
    assert_int_equal(want[0], 2000);
    assert_int_equal(want[1], 6000);
    assert_int_equal(want[2], 92000);
    struct seen s[3];
    run_streams(o, 3, 2, want, 60000, s);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(s[i].rows, want[i]);
        assert_int_equal(s[i].sum, sums[i]);
    }
}

static void typed_generator_keeps_to_its_rate(void **state) {
    (void)state;
    struct spate_generator_opts o = opts_of(SPATE_GENERATOR_KEYED);
    o.lines_per_second = 20000;
    struct seen s;
    double secs = run_streams(&o, 1, 2, NULL, 500, &s);
    assert_true(s.rows > 0);
    /* Never ahead of the schedule (events due by the stop, plus the one made at once). */
    assert_true((double)s.rows <= 20000.0 * secs + 1);
    /* At a low rate events are gathered into items of at least 5 ms (not one per event). */
    o.lines_per_second = 2000;
    secs = run_streams(&o, 1, 2, NULL, 500, &s);
    assert_true(s.rows > 0);
    assert_true((double)s.rows <= 2000.0 * secs + 1);
    assert_true((double)s.parts <= secs * 200 + 2);
}

static spate_status slow_sink(void *user, const spate_batch *b, struct spate_error *err) {
    struct timespec ts = {0, 5000000}; /* 5 ms a batch with rows: the generator must wait */
    if (spate_batch_rows(b) > 0)
        nanosleep(&ts, NULL);
    return collect(user, b, err);
}

static void typed_generator_pushes_back(void **state) {
    (void)state;
    struct spate_error err;
    struct spate_engine_opts eo;
    spate_engine_opts_init(&eo);
    eo.workers = 1;
    eo.pin_workers = false;
    spate_engine *engine;
    assert_int_equal(spate_engine_create(&eo, &engine, &err), SPATE_OK);
    struct spate_context_opts co;
    spate_context_opts_init(&co);
    co.batch_interval_ms = 10;
    spate_context *ctx;
    assert_int_equal(spate_context_create(engine, &co, &ctx, &err), SPATE_OK);
    struct spate_generator_opts o = opts_of(SPATE_GENERATOR_NEXMARK_BID);
    o.max_lines = 300000;
    o.ring_bytes = 1u << 16; /* about one item: every batch waits for the last to be done */
    spate_dstream *bids = spate_context_generator_stream(ctx, &o, &err);
    assert_non_null(bids);
    struct seen s;
    memset(&s, 0, sizeof(s));
    pthread_mutex_init(&s.mu, NULL);
    assert_int_equal(spate_dstream_foreach_batch(bids, slow_sink, &s, &err), SPATE_OK);
    assert_int_equal(spate_context_start(ctx, &err), SPATE_OK);
    uint64_t want = spate_generator_rows(&o, 0, o.max_lines);
    struct spate_input_stats st;
    for (int waited = 0; waited < 60000; waited += 10) {
        assert_int_equal(spate_input_stats(bids, &st, &err), SPATE_OK);
        if (st.records >= want)
            break;
        sleep_ms(10);
    }
    assert_int_equal(spate_input_stats(bids, &st, &err), SPATE_OK);
    assert_true(st.blocked_ns > 0); /* the generator waited for the slow sink */
    assert_true(st.bytes > 0);
    assert_int_equal(spate_context_stop(ctx, true, true, &err), SPATE_OK);
    assert_int_equal(s.rows, want); /* nothing lost */
    spate_context_destroy(ctx);
    pthread_mutex_destroy(&s.mu);
}

static void typed_generator_misuse(void **state) {
    (void)state;
    struct spate_error err;
    struct spate_generator_opts o;
    spate_generator_opts_init(&o);
    assert_int_equal(o.kind, SPATE_GENERATOR_TEXT);
    int64_t v[4];
    struct spate_column_data cols[2] = {{v, NULL}, {v + 2, NULL}};
    uint64_t rows;
    err.message[0] = '\0';
    assert_int_equal(spate_generator_fill(&o, 0, 2, cols, NULL, 0, &rows, &err), EINVAL);
    assert_true(err.message[0] != '\0');
    assert_int_equal(spate_generator_fill(NULL, 0, 2, cols, NULL, 0, &rows, &err), EINVAL);
    o.kind = SPATE_GENERATOR_KEYED;
    assert_int_equal(spate_generator_fill(&o, 0, 2, NULL, NULL, 0, &rows, &err), EINVAL);
    assert_int_equal(spate_generator_fill(&o, 0, 2, cols, NULL, 0, NULL, &err), EINVAL);
    assert_int_equal(spate_generator_fill(&o, UINT64_MAX, 2, cols, NULL, 0, &rows, &err), EINVAL);
    assert_int_equal(spate_generator_fill(&o, 0, 2, cols, NULL, 0, &rows, &err), SPATE_OK);
    assert_int_equal(rows, 2);
    /* Far into the sequence: times wrap, nothing overflows (UBSan builds check). */
    struct spate_generator_opts far = opts_of(SPATE_GENERATOR_NEXMARK_BID);
    struct rows fr;
    fill(&far, UINT64_C(1) << 62, 100, &fr);
    assert_int_equal(fr.n, 92);
    rows_free(&fr);
    o.keys = 0;
    err.message[0] = '\0';
    assert_int_equal(spate_generator_fill(&o, 0, 2, cols, NULL, 0, &rows, &err), EINVAL);
    assert_true(err.message[0] != '\0');
    o.keys = 10;
    o.kind = SPATE_GENERATOR_NEXMARK_PERSON;
    struct spate_column_data pcols[7];
    char bytes[8];
    assert_int_equal(spate_generator_fill(&o, 0, 50, pcols, bytes, sizeof(bytes), &rows, &err),
                     EINVAL); /* bytes too small */
    assert_int_equal(spate_generator_rows(&o, 0, 0), 0);
    assert_int_equal(spate_generator_rows(&o, 1, 49), 0);
    assert_int_equal(spate_generator_rows(&o, 0, 51), 2);
    const struct spate_column_def *defs;
    uint32_t n;
    o.kind = (enum spate_generator_kind)42;
    assert_int_equal(spate_generator_columns(&o, &defs, &n, &err), EINVAL);
    assert_int_equal(spate_generator_columns(&o, NULL, &n, &err), EINVAL);
    /* Streams: bad options are refused at definition. */
    struct spate_engine_opts eo;
    spate_engine_opts_init(&eo);
    eo.workers = 1;
    eo.pin_workers = false;
    spate_engine *engine;
    assert_int_equal(spate_engine_create(&eo, &engine, &err), SPATE_OK);
    struct spate_context_opts co;
    spate_context_opts_init(&co);
    spate_context *ctx;
    assert_int_equal(spate_context_create(engine, &co, &ctx, &err), SPATE_OK);
    err.message[0] = '\0';
    assert_null(spate_context_generator_stream(ctx, &o, &err)); /* unknown kind */
    assert_true(err.message[0] != '\0');
    o.kind = SPATE_GENERATOR_YSB;
    o.keys = 0;
    assert_null(spate_context_generator_stream(ctx, &o, &err));
    o.keys = 10;
    o.ring_bytes = 1024;
    assert_null(spate_context_generator_stream(ctx, &o, &err));
    o.ring_bytes = 1u << 20;
    spate_dstream *ds = spate_context_generator_stream(ctx, &o, &err);
    assert_non_null(ds);
    /* Not a queue: pushes are refused. */
    assert_int_equal(spate_queue_push(ds, NULL, 0, &err), EINVAL);
    spate_context_destroy(ctx); /* never started: nothing to stop */
    spate_engine_destroy(engine);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fill_is_pure_and_splits),
        cmocka_unit_test(keyed_and_ysb_values),
        cmocka_unit_test(nexmark_proportions_and_references),
        cmocka_unit_test(stream_equals_fill),
        cmocka_unit_test(nexmark_streams_agree),
        cmocka_unit_test(typed_generator_keeps_to_its_rate),
        cmocka_unit_test(typed_generator_pushes_back),
        cmocka_unit_test(typed_generator_misuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
