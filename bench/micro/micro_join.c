/*
 * bench/micro/micro_join.c - the hash join kernels (kernels/join/) on one
 * core, against a naive loop.
 *
 * The build side has 10K or 1M distinct random i64 keys; the probe side is
 * PROBE_ROWS rows of which half carry a build key (drawn at random) and half
 * a key the build side lacks. Each probe iteration goes a chunk at a time as
 * the engine does: hash_i64 of the chunk, then join_probe_i64 writing the
 * (probe row, build row) pairs; items are probe rows. join_build hashes and
 * builds the table over the build keys; items are build rows. The naive
 * loop is what a user writes: a multiplicative hash and an open-addressing
 * table of (key, row) with linear probing, no prefetch, same pair outputs.
 * Names: join_probe/<isa|naive>/<build rows>, join_build/<isa|naive>/<build rows>.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/micro/micro_join.h"
#include "bench/shim/shim.h"
#include "kernels/kernels.h"

#define PROBE_ROWS (4u << 20)
#define CHUNK SPATE_CHUNK_ROWS

static int64_t *build_keys_10k, *build_keys_1m;
static int64_t *probe_keys_10k, *probe_keys_1m;

static uint64_t rng = 0x2545f4914f6cdd1du;
static uint64_t next_rand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void *xalloc(size_t n) {
    void *p = aligned_alloc(64, (n + 63) / 64 * 64);
    if (p == NULL) {
        fprintf(stderr, "spate-micro: out of memory\n");
        exit(1);
    }
    return p;
}

/* Distinct keys: odd numbers through a bijective mix; keys the build lacks are even. */
static int64_t key_of(uint64_t i, bool in_build) {
    uint64_t x = i * 2 + (in_build ? 1 : 0);
    x ^= x >> 31;
    return (int64_t)x; /* x -> x ^ (x >> 31) is a bijection that keeps the low bit */
}

static void make_side(uint32_t n, int64_t **build, int64_t **probe) {
    *build = xalloc(sizeof(int64_t) * n);
    *probe = xalloc(sizeof(int64_t) * PROBE_ROWS);
    for (uint32_t i = 0; i < n; i++)
        (*build)[i] = key_of(i, true);
    for (uint32_t i = 0; i < PROBE_ROWS; i++) {
        uint64_t r = next_rand();
        (*probe)[i] = (r & 1) ? key_of((r >> 1) % n, true) : key_of((r >> 1) % (4u * n), false);
    }
}

static uint32_t min_u32(uint32_t a, uint32_t b) {
    return a < b ? a : b;
}

struct jcase {
    bool naive;                 /* the naive loop, not the kernels */
    const struct sp_kernels *k; /* NULL: the ISA is not supported here */
    uint32_t build_rows;
    bool shared; /* the ISA's join kernels are the scalar ones */
};

static int64_t *build_of(uint32_t n) {
    return n == 10000 ? build_keys_10k : build_keys_1m;
}

static int64_t *probe_of(uint32_t n) {
    return n == 10000 ? probe_keys_10k : probe_keys_1m;
}

/* ---- The naive table: (key, row) slots, linear probing ---- */

struct naive_slot {
    int64_t key;
    uint32_t row; /* UINT32_MAX: empty */
    uint32_t pad;
};

static uint32_t naive_hash(int64_t key, uint32_t mask) {
    return (uint32_t)(((uint64_t)key * 0x9e3779b97f4a7c15u) >> 32) & mask;
}

static void naive_build(struct naive_slot *slots, uint32_t mask, const int64_t *keys, uint32_t n) {
    for (uint32_t s = 0; s <= mask; s++)
        slots[s].row = UINT32_MAX;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t s = naive_hash(keys[i], mask);
        while (slots[s].row != UINT32_MAX)
            s = (s + 1) & mask;
        slots[s] = (struct naive_slot){keys[i], i, 0};
    }
}

/* Every match of each probe row (duplicates sit further along the run). */
static uint32_t naive_probe(const struct naive_slot *slots, uint32_t mask, const int64_t *keys,
                            uint32_t n, uint32_t *out_probe, uint32_t *out_build) {
    uint32_t w = 0;
    for (uint32_t i = 0; i < n; i++) {
        for (uint32_t s = naive_hash(keys[i], mask); slots[s].row != UINT32_MAX;
             s = (s + 1) & mask) {
            if (slots[s].key == keys[i]) {
                out_probe[w] = i;
                out_build[w++] = slots[s].row;
            }
        }
    }
    return w;
}

/* ---- Benchmarks ---- */

static void bench_probe(sp_bench_state *st, const void *arg) {
    const struct jcase *c = arg;
    const struct sp_kernels *k = c->k;
    uint32_t n = c->build_rows, nslots = sp_join_slots_for(n);
    const int64_t *bkeys = build_of(n), *pkeys = probe_of(n);
    static uint64_t hashes[CHUNK];
    static uint32_t pidx[CHUNK], bidx[CHUNK];
    uint64_t matches = 0;
    if (!c->naive && k == NULL) {
        sp_bench_skip(st, "ISA not supported by this CPU");
        return;
    }
    if (c->naive) {
        struct naive_slot *slots = xalloc(sizeof(*slots) * nslots);
        naive_build(slots, nslots - 1, bkeys, n);
        while (sp_bench_keep_running(st)) {
            for (uint32_t at = 0; at < PROBE_ROWS; at += CHUNK)
                matches += naive_probe(slots, nslots - 1, pkeys + at, CHUNK, pidx, bidx);
            sp_bench_use(bidx);
        }
        free(slots);
    } else {
        struct sp_join_table t = {.slots = xalloc(sizeof(struct sp_join_slot) * nslots),
                                  .perm = xalloc(sizeof(uint32_t) * n),
                                  .mask = nslots - 1};
        uint64_t *bh = xalloc(sizeof(uint64_t) * n);
        uint32_t *scratch = xalloc(sizeof(uint32_t) * n);
        for (uint32_t at = 0; at < n; at += CHUNK)
            k->hash_i64(bkeys + at, NULL, min_u32(n - at, CHUNK), bh + at);
        k->join_build_i64(&t, bkeys, NULL, bh, n, scratch);
        while (sp_bench_keep_running(st)) {
            for (uint32_t at = 0; at < PROBE_ROWS; at += CHUNK) {
                k->hash_i64(pkeys + at, NULL, CHUNK, hashes);
                struct sp_join_cursor cur = {0, 0};
                while (cur.pos < CHUNK)
                    matches += k->join_probe_i64(&t, pkeys + at, NULL, NULL, hashes, CHUNK, false,
                                                 pidx, bidx, CHUNK, &cur, NULL, NULL);
            }
            sp_bench_use(bidx);
        }
        free(t.slots), free(t.perm), free(bh), free(scratch);
    }
    int64_t it = sp_bench_iterations(st);
    sp_bench_set_items(st, it * (int64_t)PROBE_ROWS);
    sp_bench_counter(st, "match_ratio", it ? (double)matches / ((double)it * PROBE_ROWS) : 0);
    if (c->shared)
        sp_bench_set_label(st, "same join code as scalar");
}

static void bench_build(sp_bench_state *st, const void *arg) {
    const struct jcase *c = arg;
    const struct sp_kernels *k = c->k;
    uint32_t n = c->build_rows, nslots = sp_join_slots_for(n);
    const int64_t *bkeys = build_of(n);
    if (!c->naive && k == NULL) {
        sp_bench_skip(st, "ISA not supported by this CPU");
        return;
    }
    if (c->naive) {
        struct naive_slot *slots = xalloc(sizeof(*slots) * nslots);
        while (sp_bench_keep_running(st)) {
            naive_build(slots, nslots - 1, bkeys, n);
            sp_bench_use(slots);
        }
        free(slots);
    } else {
        struct sp_join_table t = {.slots = xalloc(sizeof(struct sp_join_slot) * nslots),
                                  .perm = xalloc(sizeof(uint32_t) * n),
                                  .mask = nslots - 1};
        uint64_t *bh = xalloc(sizeof(uint64_t) * n);
        uint32_t *scratch = xalloc(sizeof(uint32_t) * n);
        while (sp_bench_keep_running(st)) {
            for (uint32_t at = 0; at < n; at += CHUNK)
                k->hash_i64(bkeys + at, NULL, min_u32(n - at, CHUNK), bh + at);
            k->join_build_i64(&t, bkeys, NULL, bh, n, scratch);
            sp_bench_use(t.slots);
        }
        free(t.slots), free(t.perm), free(bh), free(scratch);
    }
    sp_bench_set_items(st, sp_bench_iterations(st) * (int64_t)n);
    if (c->shared)
        sp_bench_set_label(st, "same join code as scalar");
}

static struct jcase cases[2][2][4];

void sp_micro_join_register(void) {
    static const uint32_t sizes[] = {10000, 1000000};
    make_side(10000, &build_keys_10k, &probe_keys_10k);
    make_side(1000000, &build_keys_1m, &probe_keys_1m);
    char name[128];
    for (int b = 0; b < 2; b++) {
        sp_bench_fn fn = b == 0 ? bench_probe : bench_build;
        const char *what = b == 0 ? "join_probe" : "join_build";
        for (int s = 0; s < 2; s++) {
            size_t nc = 0;
            cases[b][s][nc] = (struct jcase){true, NULL, sizes[s], false};
            snprintf(name, sizeof name, "%s/naive/%u", what, sizes[s]);
            sp_bench_register(name, fn, &cases[b][s][nc++]);
            for (const char *const *isa = sp_kernels_built(); *isa != NULL && nc < 4; isa++) {
                const struct sp_kernels *k = sp_kernels_select(*isa);
                bool shared = k != NULL && k != &sp_kernels_scalar &&
                              k->join_probe_i64 == sp_kernels_scalar.join_probe_i64 &&
                              k->join_build_i64 == sp_kernels_scalar.join_build_i64;
                cases[b][s][nc] = (struct jcase){false, k, sizes[s], shared};
                snprintf(name, sizeof name, "%s/%s/%u", what, *isa, sizes[s]);
                sp_bench_register(name, fn, &cases[b][s][nc++]);
            }
        }
    }
}
