/*
 * tests/conformance/test_agg.c - reduce_by_key and reduce_by_key_and_window
 * with AVG and with composite keys, against a naive computation.
 *
 * Random columns with nulls (an i64 key of few values, an i64 key of many, a
 * string key with short and long values, a timestamp, i64 and f64 values)
 * run as several batches through one queue stream that feeds many outputs at
 * once: AVG over i64 and f64 values by i64, string and composite keys, every
 * aggregate by composite keys of two to four columns, and windows with and
 * without the inverse. Each output is collected through foreach_batch as one
 * canonical line per record (prefixed by the batch time), sorted, and
 * compared with the naive result, on engines of 1, 2 and 4 workers. The f64
 * values are small multiples of 1/4, so every sum is exact whatever the
 * order of the additions and the results must match to the bit.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spate/spate.h"
#include "kernels/kernels.h" /* the key hashes, to make keys that collide */

#define B 5                    /* batches */
#define NB 3000                /* rows a batch: more than one chunk */
#define WORDS ((NB + 63) / 64) /* validity words a batch */

/* ---- Deterministic random numbers ---- */

static uint64_t rng_state = 7;

static uint64_t rnd(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static uint32_t rnd_below(uint32_t n) {
    return (uint32_t)(rnd() % n);
}

/* ---- Sorted lists of canonical records ---- */

struct strlist {
    char **v;
    size_t n, cap;
};

static void sl_add(struct strlist *l, const char *s) {
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->v = realloc(l->v, l->cap * sizeof(char *));
        if (l->v == NULL)
            abort();
    }
    l->v[l->n] = strdup(s);
    if (l->v[l->n] == NULL)
        abort();
    l->n++;
}

static void sl_free(struct strlist *l) {
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void sl_sort(struct strlist *l) {
    if (l->n > 1)
        qsort(l->v, l->n, sizeof(char *), cmp_str);
}

static void fmt_f64(char *b, size_t cap, bool valid, double x) {
    if (!valid)
        snprintf(b, cap, "\\N");
    else
        snprintf(b, cap, "%.17g", x);
}

/* ---- Input: columns k (i64, few), s (string), t (timestamp), g (i64, many), vi, vf ---- */

enum { COL_K, COL_S, COL_T, COL_G, COL_VI, COL_VF, COL_NAME, NCOLS };

static const struct spate_column_def cols_def[NCOLS] = {
    {"k", SPATE_TYPE_I64},      {"s", SPATE_TYPE_STRING}, {"t", SPATE_TYPE_TIMESTAMP},
    {"g", SPATE_TYPE_I64},      {"vi", SPATE_TYPE_I64},   {"vf", SPATE_TYPE_F64},
    {"name", SPATE_TYPE_STRING}};

static int64_t k_[B][NB], t_[B][NB], g_[B][NB], vi_[B][NB];
static double vf_[B][NB];
static struct spate_string s_[B][NB], name_[B][NB];
static uint64_t vk[B][WORDS], vs[B][WORDS], vg[B][WORDS], vvi[B][WORDS], vvf[B][WORDS];

static const char *const words[] = {"",
                                    "a",
                                    "bc",
                                    "twelve-bytes",
                                    "thirteen-byte",
                                    "a much longer string key, well past the inline bytes",
                                    "x|y",
                                    "Zz",
                                    "ab",
                                    "c"}; /* ("a", "bc") and ("ab", "c") must not meet */

#define NWORDS (sizeof(words) / sizeof(words[0]))

static void set_str(struct spate_string *s, const char *text) {
    memset(s, 0, sizeof(*s));
    s->len = (uint32_t)strlen(text);
    if (s->len > 12) {
        memcpy(s->prefix, text, 4);
        s->u.ptr = text;
    } else {
        memcpy((char *)s + offsetof(struct spate_string, prefix), text, s->len);
    }
}

static bool bit(const uint64_t *v, size_t i) {
    return v == NULL || ((v[i >> 6] >> (i & 63)) & 1u);
}

static void rand_validity(uint64_t *v, uint32_t null_in) {
    memset(v, 0, WORDS * 8);
    for (uint32_t i = 0; i < NB; i++)
        if (rnd_below(null_in) != 0)
            v[i / 64] |= 1ull << (i % 64);
}

static void make_input(void) {
    rng_state = 7;
    for (int b = 0; b < B; b++) {
        for (int i = 0; i < NB; i++) {
            k_[b][i] = (int64_t)rnd_below(23) - 11;
            set_str(&s_[b][i], words[rnd_below(NWORDS)]);
            t_[b][i] = (int64_t)rnd_below(5) * 1000000000;
            g_[b][i] = (int64_t)rnd_below(4000) * 7919 - 100000;
            vi_[b][i] = (int64_t)rnd_below(2001) - 1000;
            vf_[b][i] = ((double)rnd_below(401) - 200) * 0.25;
            set_str(&name_[b][i], words[rnd_below(NWORDS)]);
        }
        rand_validity(vk[b], 12);
        rand_validity(vs[b], 12);
        rand_validity(vg[b], 20);
        rand_validity(vvi[b], 6);
        rand_validity(vvf[b], 6);
    }
    /* Batch 3 has a key whose values are all null (no record for it); batches 4 and 5 have
     * no k = 11, batches 3 to 5 no s = "Zz": inverse windows take those keys to the identity. */
    for (int i = 0; i < NB; i++) {
        if (k_[2][i] == -11)
            vvi[2][i / 64] &= ~(1ull << (i % 64));
        for (int b = 2; b < B; b++) {
            if (b >= 3 && k_[b][i] == 11)
                k_[b][i] = 10;
            if (strcmp(spate_string_data(&s_[b][i]), "Zz") == 0)
                set_str(&s_[b][i], "a");
        }
    }
}

/* Input cell as text (false when null). */
static bool cell(int b, int i, int col, char *out, size_t cap) {
    switch (col) {
    case COL_K:
        snprintf(out, cap, "%" PRId64, k_[b][i]);
        return bit(vk[b], (size_t)i);
    case COL_S:
        snprintf(out, cap, "%.*s", (int)s_[b][i].len, spate_string_data(&s_[b][i]));
        return bit(vs[b], (size_t)i);
    case COL_T:
        snprintf(out, cap, "%" PRId64, t_[b][i]);
        return true;
    case COL_G:
        snprintf(out, cap, "%" PRId64, g_[b][i]);
        return bit(vg[b], (size_t)i);
    case COL_NAME:
        snprintf(out, cap, "%.*s", (int)name_[b][i].len, spate_string_data(&name_[b][i]));
        return true;
    default:
        return false;
    }
}

/* ---- One output under test ---- */

struct acase {
    const char *what;
    uint32_t nkeys;
    uint32_t keys[SPATE_MAX_KEY_COLS];
    enum spate_agg agg;
    uint32_t vcol;        /* COL_VI or COL_VF */
    uint32_t window;      /* 0: reduce_by_key; else the window length in batches */
    uint32_t slide;       /* window slide in batches */
    bool inverse;         /* window with the inverse */
    bool one_key_in_cols; /* nkeys == 1 given through key_cols (the same as key_col) */
};

/* The naive result of c for the batch at index k (1-based), as sorted lines into exp. */
struct group {
    char key[256];
    double fsum;
    int64_t isum, imin, imax;
    double fmin, fmax;
    int64_t n;
};

static int cmp_group(const void *a, const void *b) {
    return strcmp(((const struct group *)a)->key, ((const struct group *)b)->key);
}

/* Key text of row i of batch b under c, or false when a key column is null. */
static bool key_text(const struct acase *c, int b, int i, char *out, size_t cap) {
    size_t len = 0;
    out[0] = '\0';
    for (uint32_t j = 0; j < c->nkeys; j++) {
        char v[128];
        if (!cell(b, i, (int)c->keys[j], v, sizeof v))
            return false;
        len += (size_t)snprintf(out + len, cap - len, "%s%s", j ? "|" : "", v);
    }
    return true;
}

static size_t naive_groups(const struct acase *c, int b_lo, int b_hi, struct group *g) {
    size_t n = 0;
    for (int b = b_lo; b <= b_hi; b++) {
        for (int i = 0; i < NB; i++) {
            char key[256];
            if (!key_text(c, b, i, key, sizeof key))
                continue;
            bool count = c->agg == SPATE_AGG_COUNT;
            bool vvalid = c->vcol == COL_VI ? bit(vvi[b], (size_t)i) : bit(vvf[b], (size_t)i);
            if (!count && !vvalid)
                continue;
            struct group *x = &g[n++];
            memset(x, 0, sizeof(*x));
            snprintf(x->key, sizeof x->key, "%s", key);
            x->n = 1;
            if (!count) {
                x->isum = x->imin = x->imax = vi_[b][i];
                x->fsum = x->fmin = x->fmax = c->vcol == COL_VI ? (double)vi_[b][i] : vf_[b][i];
            }
        }
    }
    if (n == 0)
        return 0;
    qsort(g, n, sizeof(*g), cmp_group);
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        if (out > 0 && strcmp(g[out - 1].key, g[i].key) == 0) {
            struct group *y = &g[out - 1];
            y->n += g[i].n;
            y->isum = (int64_t)((uint64_t)y->isum + (uint64_t)g[i].isum);
            y->fsum += g[i].fsum;
            y->imin = g[i].imin < y->imin ? g[i].imin : y->imin;
            y->imax = g[i].imax > y->imax ? g[i].imax : y->imax;
            y->fmin = g[i].fmin < y->fmin ? g[i].fmin : y->fmin;
            y->fmax = g[i].fmax > y->fmax ? g[i].fmax : y->fmax;
        } else {
            g[out++] = g[i];
        }
    }
    return out;
}

static void group_value(const struct acase *c, const struct group *x, char *v, size_t cap) {
    bool f = c->vcol == COL_VF;
    switch (c->agg) {
    case SPATE_AGG_COUNT:
        snprintf(v, cap, "%" PRId64, x->n);
        break;
    case SPATE_AGG_SUM:
        if (f)
            fmt_f64(v, cap, true, x->fsum);
        else
            snprintf(v, cap, "%" PRId64, x->isum);
        break;
    case SPATE_AGG_MIN:
        if (f)
            fmt_f64(v, cap, true, x->fmin);
        else
            snprintf(v, cap, "%" PRId64, x->imin);
        break;
    case SPATE_AGG_MAX:
        if (f)
            fmt_f64(v, cap, true, x->fmax);
        else
            snprintf(v, cap, "%" PRId64, x->imax);
        break;
    case SPATE_AGG_AVG:
        fmt_f64(v, cap, x->n > 0, x->n > 0 ? x->fsum / (double)x->n : 0);
        break;
    }
}

static struct group gbuf[2][B * NB];

/* Append c's expected lines for batch k (1-based) to exp. */
static void naive_batch(const struct acase *c, int k, struct strlist *exp) {
    int lo = k, hi = k;
    if (c->window != 0) {
        if (k % (int)c->slide != 0)
            return;
        lo = k - (int)c->window + 1 < 1 ? 1 : k - (int)c->window + 1;
    }
    size_t n = naive_groups(c, lo - 1, hi - 1, gbuf[0]);
    char line[512], v[64];
    for (size_t i = 0; i < n; i++) {
        group_value(c, &gbuf[0][i], v, sizeof v);
        snprintf(line, sizeof line, "%d|%.255s|%.63s", k * 1000, gbuf[0][i].key, v);
        sl_add(exp, line);
    }
    if (c->window == 0 || !c->inverse)
        return;
    /* With the inverse, every key seen so far stays, at the identity once out of the window. */
    size_t seen = naive_groups(c, 0, hi - 1, gbuf[1]);
    for (size_t i = 0; i < seen; i++) {
        if (bsearch(&gbuf[1][i], gbuf[0], n, sizeof(struct group), cmp_group) != NULL)
            continue;
        struct group zero;
        memset(&zero, 0, sizeof(zero));
        group_value(c, &zero, v, sizeof v);
        snprintf(line, sizeof line, "%d|%.255s|%.63s", k * 1000, gbuf[1][i].key, v);
        sl_add(exp, line);
    }
}

/* ---- A foreach_batch sink: canonical lines, prefixed by the batch time ---- */

struct sink {
    pthread_mutex_t mu;
    uint32_t calls;
    struct strlist lines;
    char header[256]; /* column names and types of the first batch */
    char problem[128];
};

static spate_status sink_fn(void *user, const spate_batch *batch, struct spate_error *err) {
    (void)err;
    struct sink *s = user;
    pthread_mutex_lock(&s->mu);
    if (s->calls++ == 0) {
        size_t len = 0;
        for (uint32_t c = 0; c < spate_batch_num_columns(batch); c++)
            len += (size_t)snprintf(s->header + len, sizeof s->header - len, "%s%s:%s",
                                    c ? "," : "", spate_batch_column_name(batch, c),
                                    spate_type_name(spate_batch_column_type(batch, c)));
    }
    int64_t time = spate_batch_time_ms(batch);
    for (uint32_t p = 0; p < spate_batch_num_partitions(batch); p++) {
        for (uint32_t ci = 0; ci < spate_batch_num_chunks(batch, p); ci++) {
            struct spate_chunk_view v;
            if (spate_batch_chunk(batch, p, ci, &v) != SPATE_OK) {
                snprintf(s->problem, sizeof s->problem, "spate_batch_chunk failed");
                continue;
            }
            for (uint32_t r = 0; r < v.rows; r++) {
                char line[512];
                size_t len = (size_t)snprintf(line, sizeof line, "%" PRId64, time);
                for (uint32_t c = 0; c < v.num_columns; c++) {
                    char val[160];
                    if (v.columns[c].type == SPATE_TYPE_F64) {
                        double x = 0;
                        bool ok = spate_chunk_get_f64(&v, c, r, &x);
                        fmt_f64(val, sizeof val, ok, x);
                    } else if (v.columns[c].type == SPATE_TYPE_STRING) {
                        const char *d = NULL;
                        uint32_t n = 0;
                        if (spate_chunk_get_string(&v, c, r, &d, &n))
                            snprintf(val, sizeof val, "%.*s", (int)n, d);
                        else
                            snprintf(val, sizeof val, "\\N");
                    } else {
                        int64_t x = 0;
                        if (spate_chunk_get_i64(&v, c, r, &x))
                            snprintf(val, sizeof val, "%" PRId64, x);
                        else
                            snprintf(val, sizeof val, "\\N");
                    }
                    len += (size_t)snprintf(line + len, sizeof line - len, "|%s", val);
                }
                sl_add(&s->lines, line);
            }
        }
    }
    pthread_mutex_unlock(&s->mu);
    return SPATE_OK;
}

/* ---- The cases ---- */

static const struct acase cases[] = {
    /* AVG by one key */
    {"avg vi by k", 1, {COL_K}, SPATE_AGG_AVG, COL_VI, 0, 0, false, false},
    {"avg vf by k", 1, {COL_K}, SPATE_AGG_AVG, COL_VF, 0, 0, false, false},
    {"avg vi by s", 1, {COL_S}, SPATE_AGG_AVG, COL_VI, 0, 0, false, false},
    {"avg vf by s", 1, {COL_S}, SPATE_AGG_AVG, COL_VF, 0, 0, false, true},
    {"avg vi by g (many keys)", 1, {COL_G}, SPATE_AGG_AVG, COL_VI, 0, 0, false, false},
    /* composite keys, every aggregate */
    {"sum vi by k,s", 2, {COL_K, COL_S}, SPATE_AGG_SUM, COL_VI, 0, 0, false, false},
    {"sum vf by s,k", 2, {COL_S, COL_K}, SPATE_AGG_SUM, COL_VF, 0, 0, false, false},
    {"count by k,g", 2, {COL_K, COL_G}, SPATE_AGG_COUNT, COL_VI, 0, 0, false, false},
    {"min vi by k,t", 2, {COL_K, COL_T}, SPATE_AGG_MIN, COL_VI, 0, 0, false, false},
    {"max vf by s,name", 2, {COL_S, COL_NAME}, SPATE_AGG_MAX, COL_VF, 0, 0, false, false},
    {"avg vi by s,t,k", 3, {COL_S, COL_T, COL_K}, SPATE_AGG_AVG, COL_VI, 0, 0, false, false},
    {"avg vf by k,s,t,name",
     4,
     {COL_K, COL_S, COL_T, COL_NAME},
     SPATE_AGG_AVG,
     COL_VF,
     0,
     0,
     false,
     false},
    {"sum vi by g,k,s,t (many keys)",
     4,
     {COL_G, COL_K, COL_S, COL_T},
     SPATE_AGG_SUM,
     COL_VI,
     0,
     0,
     false,
     false},
    /* windows */
    {"win avg vi by k", 1, {COL_K}, SPATE_AGG_AVG, COL_VI, 3, 1, false, false},
    {"win inv avg vi by k", 1, {COL_K}, SPATE_AGG_AVG, COL_VI, 2, 1, true, false},
    {"win inv avg vf by s", 1, {COL_S}, SPATE_AGG_AVG, COL_VF, 3, 1, true, false},
    {"win avg vf by k,s", 2, {COL_K, COL_S}, SPATE_AGG_AVG, COL_VF, 3, 1, false, false},
    {"win inv avg vi by s,t", 2, {COL_S, COL_T}, SPATE_AGG_AVG, COL_VI, 2, 1, true, false},
    {"win inv sum vi by k,s", 2, {COL_K, COL_S}, SPATE_AGG_SUM, COL_VI, 3, 1, true, false},
    {"win inv count by k,t,s",
     3,
     {COL_K, COL_T, COL_S},
     SPATE_AGG_COUNT,
     COL_VI,
     2,
     1,
     true,
     false},
    {"win min vi by k,name", 2, {COL_K, COL_NAME}, SPATE_AGG_MIN, COL_VI, 4, 2, false, false},
    {"win sum vi by g,k (many keys)", 2, {COL_G, COL_K}, SPATE_AGG_SUM, COL_VI, 3, 1, false, false},
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

static struct sink sinks[NCASES];

static spate_dstream *define_case(spate_dstream *q, const struct acase *c,
                                  struct spate_error *err) {
    struct spate_reduce_opts ro;
    spate_reduce_opts_init(&ro);
    ro.agg = c->agg;
    ro.value_col = c->vcol;
    if (c->nkeys == 1 && !c->one_key_in_cols) {
        ro.key_col = c->keys[0];
    } else {
        ro.num_key_cols = c->nkeys;
        memcpy(ro.key_cols, c->keys, sizeof(ro.key_cols));
    }
    if (c->window == 0)
        return spate_dstream_reduce_by_key(q, &ro, err);
    struct spate_window_opts wo;
    spate_window_opts_init(&wo);
    wo.length_ms = 1000 * (int64_t)c->window;
    wo.slide_ms = 1000 * (int64_t)c->slide;
    wo.use_inverse = c->inverse;
    return spate_dstream_reduce_by_key_and_window(q, &ro, &wo, err);
}

static void run_all(uint32_t workers) {
    struct spate_error err;
    spate_error_init(&err);
    struct spate_engine_opts eo;
    spate_engine_opts_init(&eo);
    eo.workers = workers;
    eo.pin_workers = false;
    eo.name = "agg";
    spate_engine *engine;
    spate_status rc = spate_engine_create(&eo, &engine, &err);
    if (rc != SPATE_OK && getenv("SPATE_ISA") != NULL && strstr(err.message, "not supported")) {
        print_message("skipping: SPATE_ISA=%s is not supported by this CPU\n", getenv("SPATE_ISA"));
        skip();
    }
    assert_int_equal(rc, SPATE_OK);
    struct spate_context_opts co;
    spate_context_opts_init(&co);
    co.batch_interval_ms = 1000;
    co.manual_clock = true;
    spate_context *ctx;
    assert_int_equal(spate_context_create(engine, &co, &ctx, &err), SPATE_OK);
    spate_dstream *q = spate_context_queue_stream(ctx, cols_def, NCOLS, &err);
    if (q == NULL)
        fail_msg("queue_stream: %s", err.message);
    for (size_t i = 0; i < NCASES; i++) {
        memset(&sinks[i], 0, sizeof(sinks[i]));
        pthread_mutex_init(&sinks[i].mu, NULL);
        spate_dstream *ds = define_case(q, &cases[i], &err);
        if (ds == NULL)
            fail_msg("%s: %s", cases[i].what, err.message);
        if (spate_dstream_foreach_batch(ds, sink_fn, &sinks[i], &err) != SPATE_OK)
            fail_msg("foreach_batch: %s", err.message);
    }
    assert_int_equal(spate_context_start(ctx, &err), SPATE_OK);
    for (int b = 0; b < B; b++) {
        struct spate_column_data cd[NCOLS] = {{k_[b], vk[b]},  {s_[b], vs[b]},   {t_[b], NULL},
                                              {g_[b], vg[b]},  {vi_[b], vvi[b]}, {vf_[b], vvf[b]},
                                              {name_[b], NULL}};
        if (spate_queue_push(q, cd, NB, &err) != SPATE_OK)
            fail_msg("queue_push: %s", err.message);
    }
    assert_int_equal(spate_context_advance(ctx, B, &err), SPATE_OK);
    bool stopped;
    if (spate_context_await_termination_timeout(ctx, 0, &stopped, &err) != SPATE_OK)
        fail_msg("a batch failed: %s", err.message);
    assert_int_equal(spate_context_stop(ctx, true, false, &err), SPATE_OK);
    spate_context_destroy(ctx);

    for (size_t i = 0; i < NCASES; i++) {
        const struct acase *c = &cases[i];
        struct sink *s = &sinks[i];
        if (s->problem[0] != '\0')
            fail_msg("%s: %s", c->what, s->problem);
        /* Output columns: the key columns, then the value (f64 for AVG, named after it). */
        char header[256];
        size_t len = 0;
        for (uint32_t j = 0; j < c->nkeys; j++)
            len += (size_t)snprintf(header + len, sizeof header - len, "%s:%s,",
                                    cols_def[c->keys[j]].name,
                                    spate_type_name(cols_def[c->keys[j]].type));
        const char *vtype = c->agg == SPATE_AGG_AVG || c->vcol == COL_VF ? "f64" : "i64";
        snprintf(header + len, sizeof header - len, "%s:%s",
                 c->agg == SPATE_AGG_COUNT ? "count" : cols_def[c->vcol].name, vtype);
        if (strcmp(s->header, header) != 0)
            fail_msg("%s: columns '%s', expected '%s'", c->what, s->header, header);
        struct strlist exp = {0};
        for (int k = 1; k <= B; k++)
            naive_batch(c, k, &exp);
        /* The inverse AVG windows do take keys to a count of 0 (a null average). */
        size_t nulls = 0;
        for (size_t j = 0; j < exp.n; j++)
            nulls += strstr(exp.v[j], "|\\N") != NULL;
        if (c->inverse && c->agg == SPATE_AGG_AVG && nulls == 0)
            fail_msg("%s: the input takes no key out of the window", c->what);
        sl_sort(&s->lines);
        sl_sort(&exp);
        size_t n = s->lines.n < exp.n ? s->lines.n : exp.n;
        for (size_t j = 0; j < n; j++)
            if (strcmp(s->lines.v[j], exp.v[j]) != 0)
                fail_msg("%s (%u workers): record %zu is '%s', expected '%s' (%zu records, "
                         "expected %zu)",
                         c->what, workers, j, s->lines.v[j], exp.v[j], s->lines.n, exp.n);
        if (s->lines.n != exp.n)
            fail_msg("%s (%u workers): %zu records, expected %zu", c->what, workers, s->lines.n,
                     exp.n);
        sl_free(&exp);
        sl_free(&s->lines);
        pthread_mutex_destroy(&s->mu);
    }
}

static void test_agg_workers_1(void **state) {
    (void)state;
    make_input();
    run_all(1);
}

static void test_agg_workers_2(void **state) {
    (void)state;
    make_input();
    run_all(2);
}

static void test_agg_workers_4(void **state) {
    (void)state;
    make_input();
    run_all(4);
}

/* ---- Keys whose hashes collide ---- */

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

#define HBITS 21 /* pairs tried: 2^21, so that some share 39 bits of their hash */

/*
 * Find pairs of (k, g) keys whose combined hashes (hash_i64 of each column, mixed
 * by hash_combine, as the engine does) agree in the upper 32 bits (the tag the
 * tables compare before the key) and in the low 7 (the slot of a small table),
 * so the second key of a pair probes the first one's slot and must be told apart
 * by the key itself. Writes up to max pairs as a[2*i], a[2*i+1]; returns how many.
 */
static uint32_t colliding_pairs(int64_t (*a)[2], uint32_t max) {
    uint32_t n = 1u << HBITS;
    int64_t *k = malloc(sizeof(int64_t) * n), *g = malloc(sizeof(int64_t) * n);
    uint64_t *h = malloc(sizeof(uint64_t) * n), *h2 = malloc(sizeof(uint64_t) * n);
    assert_non_null(k);
    assert_non_null(g);
    assert_non_null(h);
    assert_non_null(h2);
    for (uint32_t i = 0; i < n; i++) {
        k[i] = (int64_t)(i & 1023);
        g[i] = (int64_t)(i >> 10) * 7919 + 3;
    }
    sp_kernels_scalar.hash_i64(k, NULL, n, h);
    sp_kernels_scalar.hash_i64(g, NULL, n, h2);
    sp_kernels_scalar.hash_combine(h, h2, n);
    for (uint32_t i = 0; i < n; i++) /* 39 bits of hash, then the index */
        h[i] = ((h[i] >> 32) << 7 | (h[i] & 127)) << HBITS | i;
    qsort(h, n, sizeof(uint64_t), cmp_u64);
    uint32_t found = 0;
    for (uint32_t i = 1; i < n && found < max; i++) {
        if (h[i] >> HBITS != h[i - 1] >> HBITS)
            continue;
        uint32_t x = (uint32_t)(h[i - 1] & (n - 1)), y = (uint32_t)(h[i] & (n - 1));
        a[2 * found][0] = k[x];
        a[2 * found][1] = g[x];
        a[2 * found + 1][0] = k[y];
        a[2 * found + 1][1] = g[y];
        found++;
    }
    free(k);
    free(g);
    free(h);
    free(h2);
    return found;
}

/* reduce_by_key (SUM and AVG) and an inverse window over keys that collide, on 1 and 4
 * workers: every key keeps its own value. */
static void test_agg_hash_collisions(void **state) {
    (void)state;
    int64_t pairs[8][2];
    uint32_t np = colliding_pairs(pairs, 4);
    if (np == 0)
        skip(); /* no pair among the keys tried: nothing to test */
    enum { ROWS = 64 };
    static int64_t kc[ROWS], gc[ROWS], vc[ROWS];
    static const struct spate_column_def defs[] = {
        {"k", SPATE_TYPE_I64}, {"g", SPATE_TYPE_I64}, {"v", SPATE_TYPE_I64}};
    uint32_t nkeys = 2 * np;
    for (uint32_t i = 0; i < ROWS; i++) { /* key j gets values 1 << j */
        kc[i] = pairs[i % nkeys][0];
        gc[i] = pairs[i % nkeys][1];
        vc[i] = (int64_t)1 << (i % nkeys);
    }
    for (uint32_t workers = 1; workers <= 4; workers += 3) {
        struct spate_error err;
        spate_error_init(&err);
        struct spate_engine_opts eo;
        spate_engine_opts_init(&eo);
        eo.workers = workers;
        eo.pin_workers = false;
        spate_engine *engine;
        spate_status rc = spate_engine_create(&eo, &engine, &err);
        if (rc != SPATE_OK && getenv("SPATE_ISA") != NULL && strstr(err.message, "not supported"))
            skip();
        assert_int_equal(rc, SPATE_OK);
        struct spate_context_opts co;
        spate_context_opts_init(&co);
        co.batch_interval_ms = 1000;
        co.manual_clock = true;
        spate_context *ctx;
        assert_int_equal(spate_context_create(engine, &co, &ctx, &err), SPATE_OK);
        spate_dstream *q = spate_context_queue_stream(ctx, defs, 3, &err);
        assert_non_null(q);
        struct spate_reduce_opts ro;
        spate_reduce_opts_init(&ro);
        ro.num_key_cols = 2;
        ro.key_cols[0] = 0;
        ro.key_cols[1] = 1;
        ro.value_col = 2;
        struct sink sk[3];
        spate_dstream *out[3];
        out[0] = spate_dstream_reduce_by_key(q, &ro, &err);
        ro.agg = SPATE_AGG_AVG;
        out[1] = spate_dstream_reduce_by_key(q, &ro, &err);
        struct spate_window_opts wo;
        spate_window_opts_init(&wo);
        wo.length_ms = 2000;
        wo.use_inverse = true;
        out[2] = spate_dstream_reduce_by_key_and_window(q, &ro, &wo, &err);
        for (int i = 0; i < 3; i++) {
            memset(&sk[i], 0, sizeof(sk[i]));
            pthread_mutex_init(&sk[i].mu, NULL);
            if (out[i] == NULL)
                fail_msg("define: %s", err.message);
            assert_int_equal(spate_dstream_foreach_batch(out[i], sink_fn, &sk[i], &err), SPATE_OK);
        }
        assert_int_equal(spate_context_start(ctx, &err), SPATE_OK);
        struct spate_column_data cd[3] = {{kc, NULL}, {gc, NULL}, {vc, NULL}};
        assert_int_equal(spate_queue_push(q, cd, ROWS, &err), SPATE_OK);
        assert_int_equal(spate_context_advance(ctx, 1, &err), SPATE_OK);
        assert_int_equal(spate_context_stop(ctx, true, false, &err), SPATE_OK);
        spate_context_destroy(ctx);
        for (int i = 0; i < 3; i++) {
            struct strlist exp = {0};
            for (uint32_t j = 0; j < nkeys; j++) {
                int64_t sum = 0, cnt = 0;
                for (uint32_t r = j; r < ROWS; r += nkeys) {
                    sum += vc[r];
                    cnt++;
                }
                char line[160], v[64];
                if (i == 0)
                    snprintf(v, sizeof v, "%" PRId64, sum);
                else
                    fmt_f64(v, sizeof v, true, (double)sum / (double)cnt);
                snprintf(line, sizeof line, "1000|%" PRId64 "|%" PRId64 "|%s", pairs[j][0],
                         pairs[j][1], v);
                sl_add(&exp, line);
            }
            sl_sort(&exp);
            sl_sort(&sk[i].lines);
            assert_int_equal(sk[i].lines.n, exp.n);
            for (size_t j = 0; j < exp.n; j++)
                assert_string_equal(sk[i].lines.v[j], exp.v[j]);
            sl_free(&exp);
            sl_free(&sk[i].lines);
            pthread_mutex_destroy(&sk[i].mu);
        }
    }
}

/* ---- Argument errors ---- */

static bool keep_all(void *user, const struct spate_string *skey, int64_t ikey, int64_t ivalue,
                     double fvalue) {
    (void)user;
    (void)skey;
    (void)ikey;
    (void)ivalue;
    (void)fvalue;
    return true;
}

static void expect_einval(spate_dstream *ds, const struct spate_error *err, const char *what) {
    if (ds != NULL)
        fail_msg("%s: defined, expected EINVAL", what);
    if (err->message[0] == '\0')
        fail_msg("%s: no message", what);
}

static void test_agg_errors(void **state) {
    (void)state;
    struct spate_error err;
    spate_error_init(&err);
    struct spate_engine_opts eo;
    spate_engine_opts_init(&eo);
    eo.workers = 1;
    eo.pin_workers = false;
    spate_engine *engine;
    assert_int_equal(spate_engine_create(&eo, &engine, &err), SPATE_OK);
    struct spate_context_opts co;
    spate_context_opts_init(&co);
    co.batch_interval_ms = 1000;
    co.manual_clock = true;
    spate_context *ctx;
    assert_int_equal(spate_context_create(engine, &co, &ctx, &err), SPATE_OK);
    spate_dstream *q = spate_context_queue_stream(ctx, cols_def, NCOLS, &err);
    assert_non_null(q);
    struct spate_reduce_opts ro;
    struct spate_window_opts wo;
    spate_window_opts_init(&wo);
    wo.length_ms = 2000;

    spate_reduce_opts_init(&ro);
    ro.value_col = COL_VI;
    ro.num_key_cols = SPATE_MAX_KEY_COLS + 1;
    expect_einval(spate_dstream_reduce_by_key(q, &ro, &err), &err, "too many key columns");

    spate_reduce_opts_init(&ro);
    ro.value_col = COL_VI;
    ro.num_key_cols = 2;
    ro.key_cols[0] = COL_K;
    ro.key_cols[1] = NCOLS;
    expect_einval(spate_dstream_reduce_by_key(q, &ro, &err), &err, "key column out of range");
    ro.key_cols[1] = COL_VF;
    expect_einval(spate_dstream_reduce_by_key(q, &ro, &err), &err, "f64 key column");
    ro.key_cols[1] = COL_K;
    expect_einval(spate_dstream_reduce_by_key(q, &ro, &err), &err, "key column twice");
    ro.key_cols[1] = COL_VI;
    expect_einval(spate_dstream_reduce_by_key(q, &ro, &err), &err, "value column is a key");

    spate_reduce_opts_init(&ro);
    ro.agg = SPATE_AGG_AVG;
    ro.key_col = COL_K;
    ro.value_col = COL_S;
    expect_einval(spate_dstream_reduce_by_key(q, &ro, &err), &err, "AVG of a string column");
    ro.agg = (enum spate_agg)6;
    ro.value_col = COL_VI;
    expect_einval(spate_dstream_reduce_by_key(q, &ro, &err), &err, "unknown aggregate");

    ro.agg = SPATE_AGG_AVG;
    expect_einval(spate_dstream_reduce(q, &ro, &err), &err, "reduce with AVG");
    expect_einval(spate_dstream_reduce_by_window(q, &ro, &wo, &err), &err,
                  "reduce_by_window with AVG");

    wo.keep_fn = keep_all;
    expect_einval(spate_dstream_reduce_by_key_and_window(q, &ro, &wo, &err), &err,
                  "keep_fn with AVG");
    ro.agg = SPATE_AGG_SUM;
    ro.num_key_cols = 2;
    ro.key_cols[0] = COL_K;
    ro.key_cols[1] = COL_S;
    expect_einval(spate_dstream_reduce_by_key_and_window(q, &ro, &wo, &err), &err,
                  "keep_fn with a composite key");
    wo.keep_fn = NULL;
    wo.use_inverse = true;
    ro.agg = SPATE_AGG_MIN;
    expect_einval(spate_dstream_reduce_by_key_and_window(q, &ro, &wo, &err), &err,
                  "inverse of MIN with a composite key");
    expect_einval(spate_dstream_reduce_by_key_and_window(q, &ro, NULL, &err), &err,
                  "no window options");
    expect_einval(spate_dstream_reduce_by_key(NULL, &ro, &err), &err, "NULL stream");

    /* The valid forms are accepted on the same stream. */
    ro.agg = SPATE_AGG_AVG;
    assert_non_null(spate_dstream_reduce_by_key_and_window(q, &ro, &wo, &err));
    assert_non_null(spate_dstream_reduce_by_key(q, &ro, &err));
    assert_int_equal(spate_context_stop(ctx, true, false, &err), SPATE_OK);
    spate_context_destroy(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agg_workers_1), cmocka_unit_test(test_agg_workers_2),
        cmocka_unit_test(test_agg_workers_4), cmocka_unit_test(test_agg_hash_collisions),
        cmocka_unit_test(test_agg_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
