/*
 * bench/micro/micro_pane.c - the pane combine kernels (kernels/window/pane.h)
 * against the naive struct loop, on one core.
 *
 * A window table is an array of 40-byte entries laid out as the engine's
 * (engine/agg.h: hash, 16-byte key, 8-byte value, 8-byte count); a pane is n
 * distinct entry indexes in random order with one value each. Every
 * iteration combines the next of PANES precomputed panes, so a 1M-entry table
 * (40 MB) is touched all over rather than in the same few cache lines.
 * "naive" is the loop the engine had: e = &entries[idx[i]], then the
 * operator on e->val. Each ISA's own variant is called directly, also where
 * its kernel table points at the scalar code (then labelled "table: scalar";
 * kernels/dispatch.c says why), so that the choice can be measured again. Ops: add_i64 (SUM, COUNT
 * and the inverse's SUB have the same shape) and min_f64 (MIN/MAX). Names:
 * pane_combine_<op>/<isa>/<n>/<table entries>; items are pane keys.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/micro/micro_pane.h"
#include "bench/shim/shim.h"
#include "kernels/kernels.h"
#include "kernels/window/pane.h"

#define PANES 256u
#define MAX_PANE 2048u

struct pane_entry { /* the engine's struct sp_agg_entry, as words */
    uint64_t hash;
    uint64_t key[2];
    union {
        int64_t i;
        double f;
    } val;
    uint64_t count;
};
_Static_assert(sizeof(struct pane_entry) == 40, "the engine's entries are 40 bytes");

static struct pane_entry *table_10k, *table_1m;
static uint32_t *pane_idx_10k, *pane_idx_1m; /* PANES x MAX_PANE distinct indexes each */
static int64_t *pane_vals;                   /* MAX_PANE values (i64 and f64 bits) */

static uint64_t rng = 0x3c6ef372fe94f82au;
static uint64_t next_rand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void *xalloc(size_t n) {
    void *p = malloc(n);
    if (p == NULL) {
        fprintf(stderr, "spate-micro: out of memory\n");
        exit(1);
    }
    return p;
}

/* PANES panes of MAX_PANE distinct indexes below entries (a partial shuffle each). */
static uint32_t *make_panes(uint32_t entries) {
    uint32_t *perm = xalloc(sizeof(uint32_t) * entries);
    uint32_t *out = xalloc(sizeof(uint32_t) * PANES * MAX_PANE);
    for (uint32_t e = 0; e < entries; e++)
        perm[e] = e;
    for (uint32_t p = 0; p < PANES; p++)
        for (uint32_t i = 0; i < MAX_PANE; i++) {
            uint32_t j = i + (uint32_t)(next_rand() % (entries - i));
            uint32_t t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
            out[p * MAX_PANE + i] = perm[i];
        }
    free(perm);
    return out;
}

static struct pane_entry *make_table(uint32_t entries) {
    struct pane_entry *t = xalloc(sizeof(*t) * entries);
    for (uint32_t e = 0; e < entries; e++) {
        memset(&t[e], 0, sizeof(t[e]));
        t[e].hash = next_rand();
        t[e].val.f = (double)(next_rand() % 1000000);
    }
    return t;
}

static void make_inputs(void) {
    table_10k = make_table(10000);
    table_1m = make_table(1000000);
    pane_idx_10k = make_panes(10000);
    pane_idx_1m = make_panes(1000000);
    pane_vals = xalloc(sizeof(int64_t) * MAX_PANE);
    for (uint32_t i = 0; i < MAX_PANE; i++) {
        double d = (double)(next_rand() % 1000000) - 500000.0;
        if (i % 2 == 0)
            memcpy(&pane_vals[i], &d, 8);
        else
            pane_vals[i] = (int64_t)(next_rand() % 1000);
    }
}

/* ---- Benchmarks ---- */

typedef void (*pane_i64_fn)(uint64_t *, uint32_t, uint32_t, const uint32_t *restrict,
                            const int64_t *restrict, uint32_t, enum sp_pane_op);
typedef void (*pane_f64_fn)(uint64_t *, uint32_t, uint32_t, const uint32_t *restrict,
                            const double *restrict, uint32_t, enum sp_pane_op);

struct pane_case {
    pane_i64_fn i64; /* the variant (unused by naive) */
    pane_f64_fn f64;
    bool naive;
    bool supported;    /* this CPU runs the variant */
    bool table_scalar; /* the ISA's kernel table uses the scalar code instead */
    bool min_f64;      /* min_f64, else add_i64 */
    bool big;          /* the 1M-entry table, else 10K */
    uint32_t n;        /* pane keys */
};

static void naive_add_i64(struct pane_entry *t, const uint32_t *idx, const int64_t *vals,
                          uint32_t n) {
    for (uint32_t i = 0; i < n; i++) {
        struct pane_entry *e = &t[idx[i]];
        e->val.i = (int64_t)((uint64_t)e->val.i + (uint64_t)vals[i]);
    }
}

static void naive_min_f64(struct pane_entry *t, const uint32_t *idx, const double *vals,
                          uint32_t n) {
    for (uint32_t i = 0; i < n; i++) {
        struct pane_entry *e = &t[idx[i]];
        e->val.f = vals[i] < e->val.f ? vals[i] : e->val.f;
    }
}

static void bench_pane(sp_bench_state *st, const void *arg) {
    const struct pane_case *c = arg;
    if (!c->naive && !c->supported) {
        sp_bench_skip(st, "ISA not supported by this CPU");
        return;
    }
    struct pane_entry *t = c->big ? table_1m : table_10k;
    const uint32_t *panes = c->big ? pane_idx_1m : pane_idx_10k;
    uint64_t *base = (uint64_t *)(void *)t;
    const uint32_t stride = (uint32_t)(sizeof(struct pane_entry) / 8);
    const uint32_t val_word = 3;
    uint32_t p = 0;
    while (sp_bench_keep_running(st)) {
        const uint32_t *idx = panes + (size_t)p * MAX_PANE;
        p = (p + 1) % PANES;
        if (c->naive && c->min_f64)
            naive_min_f64(t, idx, (const double *)(const void *)pane_vals, c->n);
        else if (c->naive)
            naive_add_i64(t, idx, pane_vals, c->n);
        else if (c->min_f64)
            c->f64(base, stride, val_word, idx, (const double *)(const void *)pane_vals, c->n,
                   SP_PANE_MIN);
        else
            c->i64(base, stride, val_word, idx, pane_vals, c->n, SP_PANE_ADD);
    }
    sp_bench_use(t);
    sp_bench_set_items(st, sp_bench_iterations(st) * (int64_t)c->n);
    if (c->table_scalar)
        sp_bench_set_label(st, "table: scalar");
}

static struct pane_case pane_cases[2 * 2 * 2 * 4];

/* The variant of isa, and whether its kernel table uses the scalar code instead. */
static void variant(const char *isa, struct pane_case *c) {
    const struct sp_kernels *k = sp_kernels_select(isa);
    c->i64 = sp_pane_combine_i64_scalar;
    c->f64 = sp_pane_combine_f64_scalar;
    c->supported = k != NULL;
#ifdef SPATE_HAVE_AVX2
    if (strcmp(isa, "avx2") == 0) {
        c->i64 = sp_pane_combine_i64_avx2;
        c->f64 = sp_pane_combine_f64_avx2;
    }
#endif
#ifdef SPATE_HAVE_AVX512
    if (strcmp(isa, "avx512") == 0) {
        c->i64 = sp_pane_combine_i64_avx512;
        c->f64 = sp_pane_combine_f64_avx512;
    }
#endif
    c->table_scalar = k != NULL && strcmp(isa, "scalar") != 0 &&
                      (c->min_f64 ? k->pane_combine_f64 != c->f64 : k->pane_combine_i64 != c->i64);
}

void sp_micro_pane_register(void) {
    static const uint32_t sizes[] = {256, MAX_PANE};
    size_t nc = 0;
    char name[128];

    make_inputs();
    for (int op = 0; op < 2; op++)
        for (int big = 0; big < 2; big++)
            for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
                const char *opname = op ? "min_f64" : "add_i64";
                const char *tname = big ? "1m" : "10k";
                struct pane_case base = {.min_f64 = op == 1, .big = big == 1, .n = sizes[s]};
                pane_cases[nc] = base;
                pane_cases[nc].naive = true;
                snprintf(name, sizeof name, "pane_combine_%s/naive/%u/%s", opname, sizes[s], tname);
                sp_bench_register(name, bench_pane, &pane_cases[nc++]);
                for (const char *const *isa = sp_kernels_built(); *isa != NULL; isa++) {
                    pane_cases[nc] = base;
                    variant(*isa, &pane_cases[nc]);
                    snprintf(name, sizeof name, "pane_combine_%s/%s/%u/%s", opname, *isa, sizes[s],
                             tname);
                    sp_bench_register(name, bench_pane, &pane_cases[nc++]);
                }
            }
}
