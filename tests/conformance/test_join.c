/*
 * tests/conformance/test_join.c - join and the three outer joins against a
 * naive nested-loop join of the same rows: duplicate keys on both sides
 * (every combination), keys on one side only (nulls on the other in outer
 * joins), null keys (match nothing), an empty side, i64 and string keys,
 * and identical results on 1, 2 and 4 workers. Records are compared as
 * sorted canonical text, since the order of a join's output is not defined.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spate/spate.h"

#include "harness.h"

#define MAXR 400
#define LINE 96

struct side {
    uint32_t n;
    int64_t key[MAXR];
    uint64_t valid[(MAXR + 63) / 64];
    int64_t val[MAXR];
};

struct lines {
    char (*l)[LINE];
    uint32_t n, cap;
};

static void add(struct lines *ls, const char *s) {
    if (ls->n == ls->cap) {
        ls->cap = ls->cap ? ls->cap * 2 : 1024;
        ls->l = realloc(ls->l, (size_t)ls->cap * LINE);
        assert_non_null(ls->l);
    }
    snprintf(ls->l[ls->n++], LINE, "%s", s);
}

static int cmp_line(const void *a, const void *b) {
    return strcmp(a, b);
}

static spate_status collect(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    struct lines *ls = user;
    for (uint32_t p = 0; p < spate_batch_num_partitions(b); p++) {
        for (uint32_t c = 0; c < spate_batch_num_chunks(b, p); c++) {
            struct spate_chunk_view v;
            if (spate_batch_chunk(b, p, c, &v) != SPATE_OK)
                return EIO;
            for (uint32_t r = 0; r < v.rows; r++) {
                char key[24], lv[24], rv[24], line[LINE];
                const char *s;
                uint32_t len;
                int64_t x;
                if (spate_chunk_get_string(&v, 0, r, &s, &len))
                    snprintf(key, sizeof(key), "%.*s", (int)len, s);
                else if (spate_chunk_get_i64(&v, 0, r, &x))
                    snprintf(key, sizeof(key), "k%" PRId64, x);
                else
                    snprintf(key, sizeof(key), "NULLKEY");
                if (spate_chunk_get_i64(&v, 1, r, &x))
                    snprintf(lv, sizeof(lv), "%" PRId64, x);
                else
                    snprintf(lv, sizeof(lv), "null");
                if (spate_chunk_get_i64(&v, 2, r, &x))
                    snprintf(rv, sizeof(rv), "%" PRId64, x);
                else
                    snprintf(rv, sizeof(rv), "null");
                snprintf(line, sizeof(line), "(%s,%s,%s)", key, lv, rv);
                add(ls, line);
            }
        }
    }
    return SPATE_OK;
}

static bool valid(const struct side *s, uint32_t i) {
    return (s->valid[i / 64] >> (i % 64)) & 1;
}

static void naive(const struct side *l, const struct side *r, enum spate_join_kind kind,
                  struct lines *out) {
    char line[LINE];
    bool *rmatched = calloc(MAXR, sizeof(bool));
    for (uint32_t i = 0; i < l->n; i++) {
        if (!valid(l, i))
            continue;
        bool any = false;
        for (uint32_t j = 0; j < r->n; j++) {
            if (!valid(r, j) || r->key[j] != l->key[i])
                continue;
            any = true;
            rmatched[j] = true;
            snprintf(line, sizeof(line), "(k%" PRId64 ",%" PRId64 ",%" PRId64 ")", l->key[i],
                     l->val[i], r->val[j]);
            add(out, line);
        }
        if (!any && (kind == SPATE_JOIN_LEFT || kind == SPATE_JOIN_FULL)) {
            snprintf(line, sizeof(line), "(k%" PRId64 ",%" PRId64 ",null)", l->key[i], l->val[i]);
            add(out, line);
        }
    }
    if (kind == SPATE_JOIN_RIGHT || kind == SPATE_JOIN_FULL) {
        for (uint32_t j = 0; j < r->n; j++) {
            if (!valid(r, j) || rmatched[j])
                continue;
            snprintf(line, sizeof(line), "(k%" PRId64 ",null,%" PRId64 ")", r->key[j], r->val[j]);
            add(out, line);
        }
    }
    free(rmatched);
}

static void fill(struct side *s, uint32_t n, int spread, unsigned seed) {
    srand(seed);
    memset(s, 0, sizeof(*s));
    s->n = n;
    for (uint32_t i = 0; i < n; i++) {
        s->key[i] = rand() % spread;
        s->val[i] = rand() % 1000;
        if (rand() % 17 != 0) /* some null keys */
            s->valid[i / 64] |= 1ull << (i % 64);
    }
}

/* Run the join of l and r in one batch; string keys are "k<n>". */
static void run(const struct side *l, const struct side *r, enum spate_join_kind kind,
                uint32_t workers, bool strings, struct lines *got) {
    struct spate_error err;
    spate_context *ctx = harness_manual_ctx(workers);
    enum spate_type kt = strings ? SPATE_TYPE_STRING : SPATE_TYPE_I64;
    struct spate_column_def lc[] = {{"lval", SPATE_TYPE_I64}, {"key", kt}};
    struct spate_column_def rc[] = {{"key", kt}, {"rval", SPATE_TYPE_I64}};
    spate_dstream *lq = spate_context_queue_stream(ctx, lc, 2, &err);
    spate_dstream *rq = spate_context_queue_stream(ctx, rc, 2, &err);
    struct spate_join_opts jo;
    spate_join_opts_init(&jo);
    jo.kind = kind;
    jo.left_key = 1; /* the key need not be the first column */
    jo.right_key = 0;
    spate_dstream *j = spate_dstream_join(lq, rq, &jo, &err);
    if (j == NULL)
        fail_msg("join: %s", err.message);
    assert_int_equal(spate_dstream_num_columns(j), 3);
    assert_string_equal(spate_dstream_column(j, 0).name, "key");
    assert_string_equal(spate_dstream_column(j, 1).name, "lval");
    assert_string_equal(spate_dstream_column(j, 2).name, "rval");
    assert_int_equal(spate_dstream_foreach_batch(j, collect, got, &err), SPATE_OK);
    static struct spate_string lk[MAXR], rk[MAXR];
    static char names[2][MAXR][16];
    for (uint32_t i = 0; i < MAXR; i++) {
        for (int sd = 0; sd < 2; sd++) {
            const struct side *s = sd == 0 ? l : r;
            struct spate_string *k = sd == 0 ? &lk[i] : &rk[i];
            int len = snprintf(names[sd][i], 16, "k%" PRId64, i < s->n ? s->key[i] : 0);
            memset(k, 0, sizeof(*k));
            k->len = (uint32_t)len;
            memcpy((char *)k + offsetof(struct spate_string, prefix), names[sd][i], (size_t)len);
        }
    }
    struct spate_column_data ld[2] = {
        {l->val, NULL}, {strings ? (const void *)lk : (const void *)l->key, l->valid}};
    struct spate_column_data rd[2] = {{strings ? (const void *)rk : (const void *)r->key, r->valid},
                                      {r->val, NULL}};
    assert_int_equal(spate_queue_push(lq, ld, l->n, &err), SPATE_OK);
    assert_int_equal(spate_queue_push(rq, rd, r->n, &err), SPATE_OK);
    harness_run(ctx, 1);
}

static void compare(const struct side *l, const struct side *r, enum spate_join_kind kind,
                    uint32_t workers, bool strings) {
    struct lines got = {NULL, 0, 0}, want = {NULL, 0, 0};
    run(l, r, kind, workers, strings, &got);
    naive(l, r, kind, &want);
    if (got.n > 0)
        qsort(got.l, got.n, LINE, cmp_line);
    if (want.n > 0)
        qsort(want.l, want.n, LINE, cmp_line);
    if (got.n != want.n)
        fail_msg("kind %d workers %u: %u records, expected %u", (int)kind, workers, got.n, want.n);
    for (uint32_t i = 0; i < got.n; i++)
        if (strcmp(got.l[i], want.l[i]) != 0)
            fail_msg("kind %d workers %u: record %u is %s, expected %s", (int)kind, workers, i,
                     got.l[i], want.l[i]);
    free(got.l);
    free(want.l);
}

static struct side left, right;

static void joins_match_naive(void **state) {
    (void)state;
    fill(&left, 300, 40, 1);  /* keys 0..39, several rows each */
    fill(&right, 250, 60, 2); /* keys 0..59: some only on the right */
    for (int kind = SPATE_JOIN_INNER; kind <= SPATE_JOIN_FULL; kind++) {
        compare(&left, &right, (enum spate_join_kind)kind, 2, false);
        compare(&left, &right, (enum spate_join_kind)kind, 2, true);
    }
}

static void joins_with_an_empty_side(void **state) {
    (void)state;
    fill(&left, 100, 10, 3);
    fill(&right, 0, 10, 4);
    for (int kind = SPATE_JOIN_INNER; kind <= SPATE_JOIN_FULL; kind++) {
        compare(&left, &right, (enum spate_join_kind)kind, 2, false);
        compare(&right, &left, (enum spate_join_kind)kind, 2, false);
    }
}

static void joins_same_on_any_worker_count(void **state) {
    (void)state;
    fill(&left, 400, 30, 5);
    fill(&right, 400, 30, 6);
    for (uint32_t w = 1; w <= 4; w *= 2) {
        compare(&left, &right, SPATE_JOIN_FULL, w, true);
        compare(&left, &right, SPATE_JOIN_INNER, w, false);
    }
}

/* Windowed streams joined with each other: window(2 batches) on both sides, every outer
 * join kind, against the naive join of the rows of the last two batches of each side. */
static spate_status collect_by_batch(void *user, const spate_batch *b, struct spate_error *err) {
    struct lines *per = user;
    int64_t k = spate_batch_time_ms(b) / 1000;
    return k >= 1 && k <= 3 ? collect(&per[k], b, err) : EIO;
}

static void windowed_streams_join(void **state) {
    (void)state;
    static struct side ls[4], rs[4], lw, rw;
    for (uint32_t b = 1; b <= 3; b++) {
        fill(&ls[b], 60 * b, 12, 20 + b);
        fill(&rs[b], 50, 15, 30 + b);
    }
    for (int kind = SPATE_JOIN_INNER; kind <= SPATE_JOIN_FULL; kind++) {
        struct spate_error err;
        spate_context *ctx = harness_manual_ctx(2);
        struct spate_column_def lc[] = {{"key", SPATE_TYPE_I64}, {"lval", SPATE_TYPE_I64}};
        struct spate_column_def rc[] = {{"key", SPATE_TYPE_I64}, {"rval", SPATE_TYPE_I64}};
        spate_dstream *lq = spate_context_queue_stream(ctx, lc, 2, &err);
        spate_dstream *rq = spate_context_queue_stream(ctx, rc, 2, &err);
        for (uint32_t b = 1; b <= 3; b++) {
            struct spate_column_data ld[] = {{ls[b].key, ls[b].valid}, {ls[b].val, NULL}};
            struct spate_column_data rd[] = {{rs[b].key, rs[b].valid}, {rs[b].val, NULL}};
            assert_int_equal(spate_queue_push(lq, ld, ls[b].n, &err), SPATE_OK);
            assert_int_equal(spate_queue_push(rq, rd, rs[b].n, &err), SPATE_OK);
        }
        struct spate_window_opts wo;
        spate_window_opts_init(&wo);
        wo.length_ms = 2000;
        spate_dstream *lwin = spate_dstream_window(lq, &wo, &err);
        spate_dstream *rwin = spate_dstream_window(rq, &wo, &err);
        struct spate_join_opts jo;
        spate_join_opts_init(&jo);
        jo.kind = (enum spate_join_kind)kind;
        spate_dstream *j = spate_dstream_join(lwin, rwin, &jo, &err);
        assert_non_null(j);
        static struct lines got[4];
        memset(got, 0, sizeof(got));
        assert_int_equal(spate_dstream_foreach_batch(j, collect_by_batch, got, &err), SPATE_OK);
        harness_run(ctx, 3);
        for (uint32_t b = 1; b <= 3; b++) {
            /* The window: batches b-1 and b of each side, concatenated. */
            memset(&lw, 0, sizeof(lw));
            memset(&rw, 0, sizeof(rw));
            for (uint32_t k = b > 1 ? b - 1 : b; k <= b; k++) {
                for (uint32_t sd = 0; sd < 2; sd++) {
                    struct side *w = sd ? &rw : &lw;
                    const struct side *src = sd ? &rs[k] : &ls[k];
                    for (uint32_t i = 0; i < src->n; i++, w->n++) {
                        w->key[w->n] = src->key[i];
                        w->val[w->n] = src->val[i];
                        if (valid(src, i))
                            w->valid[w->n / 64] |= 1ull << (w->n % 64);
                    }
                }
            }
            struct lines want = {NULL, 0, 0};
            naive(&lw, &rw, (enum spate_join_kind)kind, &want);
            if (got[b].n > 0)
                qsort(got[b].l, got[b].n, LINE, cmp_line);
            if (want.n > 0)
                qsort(want.l, want.n, LINE, cmp_line);
            assert_int_equal(got[b].n, want.n);
            for (uint32_t i = 0; i < want.n; i++)
                assert_string_equal(got[b].l[i], want.l[i]);
            free(got[b].l);
            free(want.l);
        }
    }
}

/* A broadcast join (the right side a constant stream) with duplicate keys in the table, keys
 * on one side only and null keys, inner and left, against the naive join; batches repeat the
 * table every time. */
static void static_join_duplicates(void **state) {
    (void)state;
    fill(&left, 300, 40, 41);
    fill(&right, 200, 30, 42); /* ~7 rows a key: long chains through the table */
    for (int kind = SPATE_JOIN_INNER; kind <= SPATE_JOIN_LEFT; kind++) {
        struct spate_error err;
        spate_context *ctx = harness_manual_ctx(2);
        struct spate_column_def lc[] = {{"lval", SPATE_TYPE_I64}, {"key", SPATE_TYPE_I64}};
        struct spate_column_def rc[] = {{"key", SPATE_TYPE_I64}, {"rval", SPATE_TYPE_I64}};
        struct spate_column_data rd[2] = {{right.key, right.valid}, {right.val, NULL}};
        spate_dstream *table = spate_context_constant_stream(ctx, rc, 2, rd, right.n, &err);
        spate_dstream *lq = spate_context_queue_stream(ctx, lc, 2, &err);
        struct spate_join_opts jo;
        spate_join_opts_init(&jo);
        jo.kind = (enum spate_join_kind)kind;
        jo.left_key = 1;
        spate_dstream *j = spate_dstream_join(lq, table, &jo, &err);
        assert_non_null(j);
        static struct lines got[4];
        memset(got, 0, sizeof(got));
        assert_int_equal(spate_dstream_foreach_batch(j, collect_by_batch, got, &err), SPATE_OK);
        struct spate_column_data ld[2] = {{left.val, NULL}, {left.key, left.valid}};
        for (int b = 0; b < 2; b++)
            assert_int_equal(spate_queue_push(lq, ld, left.n, &err), SPATE_OK);
        harness_run(ctx, 2);
        for (uint32_t b = 1; b <= 2; b++) {
            struct lines want = {NULL, 0, 0};
            naive(&left, &right, (enum spate_join_kind)kind, &want);
            qsort(got[b].l, got[b].n, LINE, cmp_line);
            qsort(want.l, want.n, LINE, cmp_line);
            assert_int_equal(got[b].n, want.n);
            for (uint32_t i = 0; i < want.n; i++)
                assert_string_equal(got[b].l[i], want.l[i]);
            free(got[b].l);
            free(want.l);
        }
    }
}

/* The string view of s (inline up to 12 bytes, else a pointer to s). */
static struct spate_string view_of(const char *s) {
    struct spate_string v;
    memset(&v, 0, sizeof(v));
    v.len = (uint32_t)strlen(s);
    if (v.len <= 12) {
        memcpy((char *)&v + offsetof(struct spate_string, prefix), s, v.len);
    } else {
        memcpy(v.prefix, s, 4);
        v.u.ptr = s;
    }
    return v;
}

/* A broadcast join on string keys (inline and pointer views) whose output from one input chunk
 * fills more than one chunk (100 table rows a key), fed to reduce_by_key in the same chain: the
 * probe must not lose its place when a full output chunk goes down the chain mid-probe. */
static void static_join_strings_over_a_chunk_into_reduce(void **state) {
    (void)state;
    enum { KEYS = 5, PER_KEY = 100, LROWS = 60 };
    static char names[KEYS + 1][32];
    for (int k = 0; k <= KEYS; k++)
        snprintf(names[k], sizeof(names[k]), k % 2 ? "k%d" : "a-longer-table-key-%d", k);
    static struct spate_string tkey[KEYS * PER_KEY], lkey[LROWS];
    static int64_t tval[KEYS * PER_KEY], lval[LROWS];
    for (int i = 0; i < KEYS * PER_KEY; i++) {
        tkey[i] = view_of(names[i % KEYS]);
        tval[i] = i;
    }
    for (int i = 0; i < LROWS; i++) {
        lkey[i] = view_of(names[i % (KEYS + 1)]);
        lval[i] = 1;
    }
    for (int kind = SPATE_JOIN_INNER; kind <= SPATE_JOIN_LEFT; kind++) {
        struct spate_error err;
        spate_context *ctx = harness_manual_ctx(2);
        struct spate_column_def tc[] = {{"key", SPATE_TYPE_STRING}, {"rval", SPATE_TYPE_I64}};
        struct spate_column_def lc[] = {{"key", SPATE_TYPE_STRING}, {"lval", SPATE_TYPE_I64}};
        struct spate_column_data td[] = {{tkey, NULL}, {tval, NULL}};
        spate_dstream *table = spate_context_constant_stream(ctx, tc, 2, td, KEYS * PER_KEY, &err);
        spate_dstream *lq = spate_context_queue_stream(ctx, lc, 2, &err);
        struct spate_join_opts jo;
        spate_join_opts_init(&jo);
        jo.kind = (enum spate_join_kind)kind;
        spate_dstream *j = spate_dstream_join(lq, table, &jo, &err);
        assert_non_null(j);
        struct spate_reduce_opts ro;
        spate_reduce_opts_init(&ro);
        ro.value_col = 1; /* lval: 1 a record, so the sum counts the records of a key */
        spate_dstream *sums = spate_dstream_reduce_by_key(j, &ro, &err);
        assert_non_null(sums);
        struct lines got = {NULL, 0, 0};
        assert_int_equal(spate_dstream_foreach_batch(sums, collect, &got, &err), SPATE_OK);
        struct spate_column_data ld[] = {{lkey, NULL}, {lval, NULL}};
        assert_int_equal(spate_queue_push(lq, ld, LROWS, &err), SPATE_OK);
        harness_run(ctx, 1);
        struct lines want = {NULL, 0, 0};
        char line[LINE];
        for (int k = 0; k <= KEYS; k++) {
            if (k == KEYS && kind != SPATE_JOIN_LEFT)
                continue;
            int per = LROWS / (KEYS + 1);
            snprintf(line, sizeof(line), "(%s,%d,null)", names[k], k == KEYS ? per : per * PER_KEY);
            add(&want, line);
        }
        qsort(got.l, got.n, LINE, cmp_line);
        qsort(want.l, want.n, LINE, cmp_line);
        assert_int_equal(got.n, want.n);
        for (uint32_t i = 0; i < want.n; i++)
            assert_string_equal(got.l[i], want.l[i]);
        free(got.l);
        free(want.l);
    }
}

/* A stream joined with a static table (a constant stream): every batch sees the whole table. */
static spate_status count_batch(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    uint64_t *counts = user;
    counts[spate_batch_time_ms(b) / 1000] = spate_batch_rows(b);
    return SPATE_OK;
}

static void static_join_run(enum spate_join_kind kind) {
    struct spate_error err;
    spate_context *ctx = harness_manual_ctx(2);
    /* The table: ad -> campaign, 1000 ads over 100 campaigns (YSB's shape). */
    enum { ADS = 1000 };
    static int64_t ad[ADS], campaign[ADS];
    for (int i = 0; i < ADS; i++) {
        ad[i] = i;
        campaign[i] = i / 10;
    }
    struct spate_column_def tcols[] = {{"ad", SPATE_TYPE_I64}, {"campaign", SPATE_TYPE_I64}};
    struct spate_column_data tdata[] = {{ad, NULL}, {campaign, NULL}};
    spate_dstream *table = spate_context_constant_stream(ctx, tcols, 2, tdata, ADS, &err);
    assert_non_null(table);
    memset(ad, 0xff, sizeof(ad)); /* copied at definition */
    int64_t dummy = 0;
    struct spate_column_data one[] = {{&dummy, NULL}, {&dummy, NULL}};
    assert_int_equal(spate_queue_push(table, one, 1, &err), EINVAL);
    struct spate_column_def ecols[] = {{"ad", SPATE_TYPE_I64}, {"user", SPATE_TYPE_I64}};
    spate_dstream *events = spate_context_queue_stream(ctx, ecols, 2, &err);
    struct spate_join_opts sjo;
    spate_join_opts_init(&sjo);
    sjo.kind = kind;
    spate_dstream *j = spate_dstream_join(events, table, &sjo, &err);
    assert_non_null(j);
    static struct lines got[4];
    memset(got, 0, sizeof(got));
    static uint64_t table_rows[8];
    memset(table_rows, 0, sizeof(table_rows));
    assert_int_equal(spate_dstream_foreach_batch(table, count_batch, table_rows, &err), SPATE_OK);
    assert_int_equal(spate_dstream_foreach_batch(j, collect, &got[0], &err), SPATE_OK);
    static int64_t ev_ad[3][50], ev_user[3][50];
    struct lines want = {NULL, 0, 0};
    char line[LINE];
    for (int b = 0; b < 3; b++) {
        for (int i = 0; i < 50; i++) {
            ev_ad[b][i] = (b * 50 + i) * 8 % 1200; /* ads 1000.. are not in the table */
            ev_user[b][i] = b * 1000 + i;
            if (ev_ad[b][i] < ADS) {
                snprintf(line, sizeof(line), "(k%" PRId64 ",%" PRId64 ",%" PRId64 ")", ev_ad[b][i],
                         ev_user[b][i], ev_ad[b][i] / 10);
                add(&want, line);
            } else if (kind == SPATE_JOIN_LEFT) {
                snprintf(line, sizeof(line), "(k%" PRId64 ",%" PRId64 ",null)", ev_ad[b][i],
                         ev_user[b][i]);
                add(&want, line);
            }
        }
        struct spate_column_data d[] = {{ev_ad[b], NULL}, {ev_user[b], NULL}};
        assert_int_equal(spate_queue_push(events, d, 50, &err), SPATE_OK);
    }
    harness_run(ctx, 4);
    for (int k = 1; k <= 4; k++)
        assert_int_equal(table_rows[k], ADS); /* the whole table, every batch */
    qsort(got[0].l, got[0].n, LINE, cmp_line);
    qsort(want.l, want.n, LINE, cmp_line);
    assert_int_equal(got[0].n, want.n);
    for (uint32_t i = 0; i < want.n; i++)
        assert_string_equal(got[0].l[i], want.l[i]);
    free(got[0].l);
    free(want.l);
}

static void stream_static_join(void **state) {
    (void)state;
    static_join_run(SPATE_JOIN_INNER);
    static_join_run(SPATE_JOIN_LEFT);
}

/* Records, nulls of each side and a checksum of (key, lval, rval), nulls as -1. */
struct tally {
    uint64_t rows, null_left, null_right, sum;
};

static uint64_t mix3(int64_t k, int64_t l, int64_t r) {
    uint64_t h = (uint64_t)k * 0x9e3779b97f4a7c15u;
    h = (h ^ (uint64_t)l) * 0xbf58476d1ce4e5b9u;
    h = (h ^ (uint64_t)r) * 0x94d049bb133111ebu;
    return h ^ (h >> 31);
}

static spate_status tally_batch(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    struct tally *t = user;
    for (uint32_t p = 0; p < spate_batch_num_partitions(b); p++) {
        for (uint32_t c = 0; c < spate_batch_num_chunks(b, p); c++) {
            struct spate_chunk_view v;
            if (spate_batch_chunk(b, p, c, &v) != SPATE_OK)
                return EIO;
            for (uint32_t r = 0; r < v.rows; r++) {
                int64_t k = 0, l = -1, x = -1;
                if (!spate_chunk_get_i64(&v, 0, r, &k))
                    return EIO;
                t->null_left += !spate_chunk_get_i64(&v, 1, r, &l);
                t->null_right += !spate_chunk_get_i64(&v, 2, r, &x);
                t->sum += mix3(k, l, x);
                t->rows++;
            }
        }
    }
    return SPATE_OK;
}

/* A shuffle join big enough that a radix partition holds more left rows than one probe
 * call takes and one key has more right rows than one call can write (the kernels resume
 * inside that key's matches), every kind, on 1 and 2 workers, against a nested loop. */
static void shuffle_join_resumes_across_probe_calls(void **state) {
    (void)state;
    enum { LROWS = 20000, RROWS = 50 * 5 + 1500 };
    static int64_t lkey[LROWS], lval[LROWS], rkey[RROWS], rval[RROWS];
    for (int i = 0; i < LROWS; i++) {
        lkey[i] = i % 50; /* keys 0..9 have no right rows */
        lval[i] = i;
    }
    for (int i = 0; i < RROWS; i++) {
        rkey[i] = i < 250 ? 10 + i / 5 : 10; /* keys 10..59, key 10 with 1505 rows */
        rval[i] = 1000000 + i;
    }
    for (int kind = SPATE_JOIN_INNER; kind <= SPATE_JOIN_FULL; kind++) {
        struct tally want = {0, 0, 0, 0};
        bool keep_left = kind == SPATE_JOIN_LEFT || kind == SPATE_JOIN_FULL;
        bool keep_right = kind == SPATE_JOIN_RIGHT || kind == SPATE_JOIN_FULL;
        static bool right_hit[RROWS];
        memset(right_hit, 0, sizeof(right_hit));
        for (int i = 0; i < LROWS; i++) {
            bool any = false;
            for (int j = 0; j < RROWS; j++) {
                if (lkey[i] != rkey[j])
                    continue;
                any = right_hit[j] = true;
                want.rows++;
                want.sum += mix3(lkey[i], lval[i], rval[j]);
            }
            if (!any && keep_left) {
                want.rows++;
                want.null_right++;
                want.sum += mix3(lkey[i], lval[i], -1);
            }
        }
        for (int j = 0; keep_right && j < RROWS; j++) {
            if (!right_hit[j]) {
                want.rows++;
                want.null_left++;
                want.sum += mix3(rkey[j], -1, rval[j]);
            }
        }
        for (uint32_t workers = 1; workers <= 2; workers++) {
            struct spate_error err;
            spate_context *ctx = harness_manual_ctx(workers);
            struct spate_column_def lc[] = {{"key", SPATE_TYPE_I64}, {"lval", SPATE_TYPE_I64}};
            struct spate_column_def rc[] = {{"key", SPATE_TYPE_I64}, {"rval", SPATE_TYPE_I64}};
            spate_dstream *lq = spate_context_queue_stream(ctx, lc, 2, &err);
            spate_dstream *rq = spate_context_queue_stream(ctx, rc, 2, &err);
            struct spate_join_opts jo;
            spate_join_opts_init(&jo);
            jo.kind = (enum spate_join_kind)kind;
            spate_dstream *j = spate_dstream_join(lq, rq, &jo, &err);
            assert_non_null(j);
            struct tally got = {0, 0, 0, 0};
            assert_int_equal(spate_dstream_foreach_batch(j, tally_batch, &got, &err), SPATE_OK);
            struct spate_column_data ld[] = {{lkey, NULL}, {lval, NULL}};
            struct spate_column_data rd[] = {{rkey, NULL}, {rval, NULL}};
            assert_int_equal(spate_queue_push(lq, ld, LROWS, &err), SPATE_OK);
            assert_int_equal(spate_queue_push(rq, rd, RROWS, &err), SPATE_OK);
            harness_run(ctx, 1);
            assert_int_equal(got.rows, want.rows);
            assert_int_equal(got.null_left, want.null_left);
            assert_int_equal(got.null_right, want.null_right);
            assert_int_equal(got.sum, want.sum);
        }
    }
}

static void join_definition_errors(void **state) {
    (void)state;
    struct spate_error err;
    struct spate_engine_opts eo;
    spate_engine_opts_init(&eo);
    eo.workers = 1;
    eo.pin_workers = false;
    spate_engine *engine;
    assert_int_equal(spate_engine_create(&eo, &engine, &err), SPATE_OK);
    spate_context *ctx;
    assert_int_equal(spate_context_create(engine, NULL, &ctx, &err), SPATE_OK);
    struct spate_column_def ic[] = {{"k", SPATE_TYPE_I64}, {"v", SPATE_TYPE_I64}};
    struct spate_column_def sc[] = {{"k", SPATE_TYPE_STRING}, {"v", SPATE_TYPE_I64}};
    struct spate_column_def fc[] = {{"k", SPATE_TYPE_F64}, {"v", SPATE_TYPE_I64}};
    spate_dstream *a = spate_context_queue_stream(ctx, ic, 2, &err);
    spate_dstream *b = spate_context_queue_stream(ctx, sc, 2, &err);
    spate_dstream *f = spate_context_queue_stream(ctx, fc, 2, &err);
    err.message[0] = '\0';
    assert_null(spate_dstream_join(a, b, NULL, &err)); /* i64 with string keys */
    assert_true(err.message[0] != '\0');
    err.message[0] = '\0';
    assert_null(spate_dstream_join(f, f, NULL, &err)); /* f64 keys */
    assert_true(err.message[0] != '\0');
    assert_null(spate_dstream_join(a, NULL, NULL, &err));
    struct spate_join_opts jo;
    spate_join_opts_init(&jo);
    jo.left_key = 7;
    assert_null(spate_dstream_join(a, a, &jo, &err));
    assert_non_null(spate_dstream_join(a, a, NULL, &err)); /* a self-join is fine */
    assert_int_equal(spate_context_stop(ctx, true, false, &err), SPATE_OK);
    spate_context_destroy(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(joins_match_naive),
        cmocka_unit_test(joins_with_an_empty_side),
        cmocka_unit_test(joins_same_on_any_worker_count),
        cmocka_unit_test(windowed_streams_join),
        cmocka_unit_test(static_join_duplicates),
        cmocka_unit_test(static_join_strings_over_a_chunk_into_reduce),
        cmocka_unit_test(stream_static_join),
        cmocka_unit_test(shuffle_join_resumes_across_probe_calls),
        cmocka_unit_test(join_definition_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
