/*
 * tests/conformance/test_window_pane.c - reduce_by_key_and_window where the
 * pane kernels (kernels/window/pane.h) do the combining: first values that a
 * wrong fresh start would change (-0.0 in a f64 SUM, NaN, +-inf and -0.0 in
 * MIN/MAX, INT64_MAX in MIN, INT64_MIN in MAX), i64 wrap across panes and
 * back out through the inverse, and windows of more keys than the engine
 * looks up per kernel call (thousands a pane), for every built-in aggregate,
 * a user reduce function and its inverse, against a naive window here.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spate/spate.h"

#include "harness.h"

#define NK 3000  /* keys 0..NK-1 */
#define NBATCH 8 /* batches pushed */
#define MAXROWS 6000

/* The last emission seen of every window (per batch), key -> value bits. */
struct emission {
    bool present[NK];
    uint64_t bits[NK];
};

struct collector {
    struct emission em[NBATCH + 1];
    uint32_t n;
    bool bad;
};

static spate_status collect(void *user, const spate_batch *b, struct spate_error *err) {
    (void)err;
    struct collector *c = user;
    if (c->n >= NBATCH) {
        c->bad = true;
        return SPATE_OK;
    }
    struct emission *e = &c->em[++c->n];
    memset(e, 0, sizeof(*e));
    for (uint32_t p = 0; p < spate_batch_num_partitions(b); p++)
        for (uint32_t i = 0; i < spate_batch_num_chunks(b, p); i++) {
            struct spate_chunk_view v;
            if (spate_batch_chunk(b, p, i, &v) != SPATE_OK) {
                c->bad = true;
                continue;
            }
            for (uint32_t r = 0; r < v.rows; r++) {
                int64_t key;
                double f;
                int64_t x;
                if (!spate_chunk_get_i64(&v, 0, r, &key) || key < 0 || key >= NK ||
                    e->present[key]) {
                    c->bad = true;
                    continue;
                }
                e->present[key] = true;
                if (spate_chunk_get_f64(&v, 1, r, &f))
                    memcpy(&e->bits[key], &f, 8);
                else if (spate_chunk_get_i64(&v, 1, r, &x))
                    e->bits[key] = (uint64_t)x;
                else
                    c->bad = true;
            }
        }
    return SPATE_OK;
}

/* Batch b (1-based): rows[b] rows of (key, value bits). */
struct input {
    uint32_t rows[NBATCH + 1];
    int64_t key[NBATCH + 1][MAXROWS];
    uint64_t val[NBATCH + 1][MAXROWS];
};

static void user_sum(void *user, int64_t *acc, const int64_t *vals, uint32_t n) {
    (void)user;
    for (uint32_t i = 0; i < n; i++)
        acc[i] = (int64_t)((uint64_t)acc[i] + (uint64_t)vals[i]);
}

static void user_sub(void *user, int64_t *acc, const int64_t *vals, uint32_t n) {
    (void)user;
    for (uint32_t i = 0; i < n; i++)
        acc[i] = (int64_t)((uint64_t)acc[i] - (uint64_t)vals[i]);
}

struct run_opts {
    enum spate_agg agg;
    bool f64;  /* value column f64 */
    bool user; /* user_sum (and user_sub as the inverse) instead of agg */
    bool inverse;
    uint32_t len_b; /* window length in batches; slide 1 */
    uint32_t workers;
};

static void run_window(const struct input *in, const struct run_opts *o, struct collector *c) {
    struct spate_error err;
    spate_context *ctx = harness_manual_ctx(o->workers);
    struct spate_column_def cols[] = {{"key", SPATE_TYPE_I64},
                                      {"value", o->f64 ? SPATE_TYPE_F64 : SPATE_TYPE_I64}};
    spate_dstream *q = spate_context_queue_stream(ctx, cols, 2, &err);
    assert_non_null(q);
    struct spate_reduce_opts ro;
    spate_reduce_opts_init(&ro);
    ro.agg = o->agg;
    if (o->user)
        ro.fn = user_sum;
    struct spate_window_opts wo;
    spate_window_opts_init(&wo);
    wo.length_ms = 1000 * (int64_t)o->len_b;
    wo.slide_ms = 1000;
    wo.use_inverse = o->inverse;
    if (o->user && o->inverse)
        wo.inv_fn = user_sub;
    spate_dstream *w = spate_dstream_reduce_by_key_and_window(q, &ro, &wo, &err);
    if (w == NULL)
        fail_msg("window: %s", err.message);
    memset(c, 0, sizeof(*c));
    assert_int_equal(spate_dstream_foreach_batch(w, collect, c, &err), SPATE_OK);
    for (int b = 1; b <= NBATCH; b++) {
        struct spate_column_data data[2] = {{in->key[b], NULL}, {in->val[b], NULL}};
        assert_int_equal(spate_queue_push(q, data, in->rows[b], &err), SPATE_OK);
    }
    harness_run(ctx, NBATCH);
    assert_false(c->bad);
    assert_int_equal(c->n, NBATCH);
}

/* ---- First values: one row per key in one batch, so every window holds one value ---- */

static const uint64_t f64_firsts[] = {
    0x8000000000000000ull, /* -0.0 */
    0x0000000000000000ull, /* +0.0 */
    0x7ff8000000000000ull, /* NaN */
    0x7ff0000000000000ull, /* +inf */
    0xfff0000000000000ull, /* -inf */
    0x0000000000000001ull, /* smallest subnormal */
    0x3ff8000000000000ull, /* 1.5 */
};
static const uint64_t i64_firsts[] = {
    0x7fffffffffffffffull, 0x8000000000000000ull, 0, 0xffffffffffffffffull, 42,
};

#define NFIRST 7

/* Key j (j < nvals) gets vals[j] in batch 1 + j % 3, nothing else. */
static void make_firsts(struct input *in, const uint64_t *vals, uint32_t nvals) {
    memset(in->rows, 0, sizeof(in->rows));
    for (uint32_t j = 0; j < nvals; j++) {
        uint32_t b = 1 + j % 3;
        in->key[b][in->rows[b]] = (int64_t)j;
        in->val[b][in->rows[b]++] = vals[j];
    }
}

static bool same_value(uint64_t got, uint64_t want, bool f64) {
    if (!f64)
        return got == want;
    double g, w;
    memcpy(&g, &got, 8);
    memcpy(&w, &want, 8);
    return (isnan(g) && isnan(w)) || got == want;
}

/* Windows that hold key j's batch emit exactly its value (AVG: value / 1). */
static void check_firsts(const struct collector *c, const uint64_t *vals, uint32_t nvals,
                         uint32_t len_b, bool f64, const char *what) {
    for (uint32_t k = 1; k <= NBATCH; k++)
        for (uint32_t j = 0; j < nvals; j++) {
            uint32_t b = 1 + j % 3;
            if (k < b || k >= b + len_b)
                continue;
            if (!c->em[k].present[j])
                fail_msg("%s: batch %u key %u missing", what, k, j);
            if (!same_value(c->em[k].bits[j], vals[j], f64))
                fail_msg("%s: batch %u key %u: %016" PRIx64 ", expected %016" PRIx64, what, k, j,
                         c->em[k].bits[j], vals[j]);
        }
}

static struct input input;
static struct collector col;

static void window_first_values_stay_exact(void **state) {
    (void)state;
    static const enum spate_agg f64_aggs[] = {SPATE_AGG_SUM, SPATE_AGG_MIN, SPATE_AGG_MAX,
                                              SPATE_AGG_AVG};
    static const char *const names[] = {"sum", "min", "max", "avg"};
    make_firsts(&input, f64_firsts, NFIRST);
    for (size_t a = 0; a < 4; a++)
        for (uint32_t len_b = 2; len_b <= 4; len_b += 2) {
            struct run_opts o = {.agg = f64_aggs[a], .f64 = true, .len_b = len_b, .workers = 2};
            run_window(&input, &o, &col);
            check_firsts(&col, f64_firsts, NFIRST, len_b, true, names[a]);
        }
    /* The running table of an inverse window: the first value, then value - value. */
    struct run_opts o = {
        .agg = SPATE_AGG_SUM, .f64 = true, .inverse = true, .len_b = 2, .workers = 2};
    run_window(&input, &o, &col);
    check_firsts(&col, f64_firsts, NFIRST, 2, true, "sum inverse");
    for (uint32_t j = 0; j < NFIRST; j++) {
        uint32_t k = 1 + j % 3 + 2; /* the first batch after the key's pane left */
        double v, d;
        memcpy(&v, &f64_firsts[j], 8);
        d = v - v;
        uint64_t want;
        memcpy(&want, &d, 8);
        assert_true(col.em[k].present[j]); /* kept, as Spark keeps it */
        if (!same_value(col.em[k].bits[j], want, true))
            fail_msg("sum inverse after leaving: key %u: %016" PRIx64, j, col.em[k].bits[j]);
    }
    make_firsts(&input, i64_firsts, 5);
    static const enum spate_agg i64_aggs[] = {SPATE_AGG_SUM, SPATE_AGG_MIN, SPATE_AGG_MAX};
    for (size_t a = 0; a < 3; a++) {
        struct run_opts oi = {.agg = i64_aggs[a], .len_b = 3, .workers = 1};
        run_window(&input, &oi, &col);
        check_firsts(&col, i64_firsts, 5, 3, false, names[a]);
    }
}

/* INT64_MAX + 1 wraps to INT64_MIN in the window, and the inverse takes the 1 out again. */
static void window_i64_wraps_and_unwraps(void **state) {
    (void)state;
    memset(input.rows, 0, sizeof(input.rows));
    input.rows[1] = input.rows[2] = 1;
    input.key[1][0] = input.key[2][0] = 7;
    input.val[1][0] = 0x7fffffffffffffffull;
    input.val[2][0] = 1;
    for (int inverse = 0; inverse <= 1; inverse++) {
        struct run_opts o = {.agg = SPATE_AGG_SUM, .inverse = inverse, .len_b = 2, .workers = 2};
        run_window(&input, &o, &col);
        assert_int_equal(col.em[1].bits[7], 0x7fffffffffffffffull);
        assert_int_equal(col.em[2].bits[7], 0x8000000000000000ull);
        assert_true(col.em[3].present[7] == true);
        assert_int_equal(col.em[3].bits[7], 1);
        if (inverse)
            assert_int_equal(col.em[4].bits[7], 0); /* kept at the identity */
        else
            assert_false(col.em[4].present[7]);
    }
}

/* ---- Many keys: several lookup blocks a pane ---- */

static uint64_t rng = 0x6a09e667f3bcc908u;
static uint32_t rnd_below(uint32_t n) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static void make_many(struct input *in, bool f64) {
    for (uint32_t b = 1; b <= NBATCH; b++) {
        /* Most keys in most batches, a few batches with a narrow key range or none. */
        uint32_t n = b == 5 ? 0 : MAXROWS / (b % 3 == 0 ? 4 : 1);
        uint32_t spread = b == 6 ? 300 : NK;
        in->rows[b] = n;
        for (uint32_t i = 0; i < n; i++) {
            in->key[b][i] = (int64_t)rnd_below(spread);
            int64_t v = (int64_t)rnd_below(2001) - 1000;
            if (f64) {
                double d = (double)v / 4; /* exact in any order */
                memcpy(&in->val[b][i], &d, 8);
            } else {
                in->val[b][i] = (uint64_t)v;
            }
        }
    }
}

/* The naive window over batches max(1, k - len + 1)..k, as value bits (COUNT, SUM, MIN, MAX,
 * AVG; inverse windows keep every key seen, at the identity). */
static void naive_window(const struct input *in, const struct run_opts *o, uint32_t k,
                         bool *present, uint64_t *bits) {
    static double fsum[NK], fmin[NK], fmax[NK];
    static int64_t isum[NK], imin[NK], imax[NK], cnt[NK];
    static bool seen[NK];
    memset(present, 0, NK);
    memset(cnt, 0, sizeof cnt);
    if (k == 1 || !o->inverse)
        memset(seen, 0, sizeof seen);
    uint32_t from = k >= o->len_b ? k - o->len_b + 1 : 1;
    for (uint32_t b = from; b <= k; b++)
        for (uint32_t i = 0; i < in->rows[b]; i++) {
            int64_t key = in->key[b][i];
            double f;
            memcpy(&f, &in->val[b][i], 8);
            int64_t x = (int64_t)in->val[b][i];
            if (!o->f64)
                f = (double)x; /* AVG of an i64 column sums doubles */
            if (cnt[key]++ == 0) {
                fsum[key] = 0, isum[key] = 0;
                fmin[key] = fmax[key] = f;
                imin[key] = imax[key] = x;
            }
            fsum[key] += f;
            isum[key] = (int64_t)((uint64_t)isum[key] + (uint64_t)x); /* f64 bits too: wrap */
            fmin[key] = f < fmin[key] ? f : fmin[key];
            fmax[key] = f > fmax[key] ? f : fmax[key];
            imin[key] = x < imin[key] ? x : imin[key];
            imax[key] = x > imax[key] ? x : imax[key];
        }
    for (uint32_t key = 0; key < NK; key++) {
        if (cnt[key] > 0)
            seen[key] = true;
        if (!(cnt[key] > 0 || (o->inverse && seen[key])))
            continue;
        present[key] = true;
        double d = 0;
        int64_t x = 0;
        if (cnt[key] == 0) { /* an inverse window's key back at the identity */
            memset(&bits[key], 0, 8);
            continue;
        }
        switch (o->agg) {
        case SPATE_AGG_COUNT:
            x = cnt[key];
            break;
        case SPATE_AGG_MIN:
            d = fmin[key], x = imin[key];
            break;
        case SPATE_AGG_MAX:
            d = fmax[key], x = imax[key];
            break;
        case SPATE_AGG_AVG:
            d = fsum[key] / (double)cnt[key];
            break;
        default:
            d = fsum[key], x = isum[key];
            break;
        }
        if (o->f64 || o->agg == SPATE_AGG_AVG)
            memcpy(&bits[key], &d, 8);
        else
            bits[key] = (uint64_t)x;
    }
}

static void check_many(const struct input *in, const struct run_opts *o,
                       const struct collector *c) {
    static bool present[NK];
    static uint64_t bits[NK];
    for (uint32_t k = 1; k <= NBATCH; k++) {
        naive_window(in, o, k, present, bits);
        for (uint32_t key = 0; key < NK; key++) {
            if (present[key] != c->em[k].present[key])
                fail_msg("agg %d inverse %d user %d batch %u key %u: present %d, expected %d",
                         (int)o->agg, o->inverse, o->user, k, key, c->em[k].present[key],
                         present[key]);
            /* An inverse AVG whose count went back to 0 has no defined value to compare. */
            if (present[key] && o->agg == SPATE_AGG_AVG && o->inverse)
                continue;
            if (present[key] && !same_value(c->em[k].bits[key], bits[key], o->f64))
                fail_msg("agg %d inverse %d user %d batch %u key %u: %016" PRIx64
                         ", expected %016" PRIx64,
                         (int)o->agg, o->inverse, o->user, k, key, c->em[k].bits[key], bits[key]);
        }
    }
}

static void window_many_keys(void **state) {
    (void)state;
    static const struct run_opts runs[] = {
        {.agg = SPATE_AGG_SUM, .len_b = 3, .workers = 2},
        {.agg = SPATE_AGG_SUM, .inverse = true, .len_b = 3, .workers = 2},
        {.agg = SPATE_AGG_COUNT, .inverse = true, .len_b = 4, .workers = 1},
        {.agg = SPATE_AGG_MIN, .len_b = 4, .workers = 2},
        {.agg = SPATE_AGG_MAX, .len_b = 2, .workers = 4},
        {.agg = SPATE_AGG_SUM, .user = true, .len_b = 3, .workers = 2},
        {.agg = SPATE_AGG_SUM, .user = true, .inverse = true, .len_b = 3, .workers = 2},
        {.agg = SPATE_AGG_SUM, .f64 = true, .len_b = 3, .workers = 2},
        {.agg = SPATE_AGG_SUM, .f64 = true, .inverse = true, .len_b = 3, .workers = 2},
        {.agg = SPATE_AGG_MIN, .f64 = true, .len_b = 5, .workers = 2},
        {.agg = SPATE_AGG_MAX, .f64 = true, .len_b = 3, .workers = 1},
        {.agg = SPATE_AGG_AVG, .f64 = true, .len_b = 3, .workers = 2},
        {.agg = SPATE_AGG_AVG, .len_b = 4, .workers = 2},
    };
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
        make_many(&input, runs[r].f64);
        run_window(&input, &runs[r], &col);
        check_many(&input, &runs[r], &col);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(window_first_values_stay_exact),
        cmocka_unit_test(window_i64_wraps_and_unwraps),
        cmocka_unit_test(window_many_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
