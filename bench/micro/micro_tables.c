/*
 * bench/micro/micro_tables.c - the hash tables behind group-by, on one core.
 *
 * Each benchmark aggregates the same rows (COUNT by a short string key, SUM
 * by an i64 key) with:
 *   tags   the engine's table (engine/agg.h): open addressing over 64-bit
 *          slots holding a 32-bit hash tag and an entry index, linear
 *          probing, entries dense in insertion order;
 *   swiss  a table with SIMD-probed control bytes as SwissTable lays them
 *          out (groups of 16 one-byte tags matched with one SSE2 compare,
 *          7 hash bits a tag, triangular probing over groups), written here
 *          only to measure the design against the engine's;
 *   flat   (i64 keys) the engine's stage 1 of COUNT and SUM by an i64 key
 *          (engine/itab.h): rows go to the flat key/value table of their
 *          XXH3 radix partition, probed by a multiplicative hash;
 *   naive  what a user writes: FNV-1a and strcmp / a modulo hash, linear
 *          probing over key and value arrays.
 * tags and swiss hash with the XXH3 kernel (best ISA) a chunk at a time, as
 * the engine does; tables are sized for the keys up front, so no run grows.
 * Names: groupby_<key>/<table>/<keys>; items are rows.
 */
#include <emmintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/micro/micro_tables.h"
#include "bench/shim/shim.h"
#include "engine/agg.h"
#include "engine/itab.h"
#include "engine/mem.h"
#include "engine/region.h"
#include "kernels/kernels.h"

#define GROUP_ROWS (4u << 20)
#define CHUNK SPATE_CHUNK_ROWS

static struct spate_string *skeys; /* GROUP_ROWS views of words from a vocabulary */
static const char **cstr;          /* the same words, NUL-terminated, for the naive loop */
static int64_t *ikeys_10k, *ikeys_1m, *ivals;
static const struct sp_kernels *kern;

static uint64_t rng = 0x9e3779b97f4a7c15u;
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

#define VOCAB 10000u

static void make_rows(void) {
    static char words[VOCAB][12];
    for (uint32_t w = 0; w < VOCAB; w++) {
        uint32_t len = 3 + (uint32_t)(next_rand() % 8); /* 3..10 bytes: inline views */
        for (uint32_t j = 0; j < len; j++)
            words[w][j] = (char)('a' + next_rand() % 26);
        words[w][len] = '\0';
    }
    skeys = xalloc(sizeof(*skeys) * GROUP_ROWS);
    cstr = xalloc(sizeof(*cstr) * GROUP_ROWS);
    ikeys_10k = xalloc(sizeof(int64_t) * GROUP_ROWS);
    ikeys_1m = xalloc(sizeof(int64_t) * GROUP_ROWS);
    ivals = xalloc(sizeof(int64_t) * GROUP_ROWS);
    for (uint32_t i = 0; i < GROUP_ROWS; i++) {
        uint64_t r = next_rand();
        const char *w = words[r % VOCAB];
        cstr[i] = w;
        uint32_t len = (uint32_t)strlen(w);
        memset(&skeys[i], 0, sizeof(skeys[i]));
        skeys[i].len = len;
        memcpy(skeys[i].prefix, w, len);
        ikeys_10k[i] = (int64_t)((r >> 20) % 10000) * 7919;
        ikeys_1m[i] = (int64_t)((r >> 20) % 1000000) * 7919;
        ivals[i] = (int64_t)(r >> 54);
    }
}

/* ---- swiss: control bytes, 16 a group ---- */

struct swiss {
    uint8_t *ctrl; /* 0x80 empty, else the low 7 hash bits */
    uint32_t *slot;
    uint32_t groups_mask;
    uint32_t n;
    struct sp_agg_entry *entries;
};

static void swiss_init(struct swiss *t, uint32_t keys) {
    uint32_t groups = 1;
    while (groups * 16 * 7 / 8 < keys)
        groups <<= 1;
    t->ctrl = xalloc((size_t)groups * 16);
    t->slot = xalloc(sizeof(uint32_t) * groups * 16);
    t->entries = xalloc(sizeof(struct sp_agg_entry) * keys);
    t->groups_mask = groups - 1;
    t->n = 0;
}

static void swiss_clear(struct swiss *t) {
    memset(t->ctrl, 0x80, (size_t)(t->groups_mask + 1) * 16);
    t->n = 0;
}

static void swiss_free(struct swiss *t) {
    free(t->ctrl);
    free(t->slot);
    free(t->entries);
}

/* Find or add; key equality by eq(entry, key). */
#define SWISS_FIND_OR_ADD(t, hash, EQ, SET)                                                        \
    do {                                                                                           \
        uint8_t tag_ = (uint8_t)((hash)&0x7f);                                                     \
        uint32_t g_ = (uint32_t)((hash) >> 7) & (t)->groups_mask;                                  \
        __m128i want_ = _mm_set1_epi8((char)tag_), empty_ = _mm_set1_epi8((char)0x80);             \
        for (uint32_t step_ = 1;; step_++) {                                                       \
            __m128i c_ = _mm_loadu_si128((const __m128i *)((t)->ctrl + (size_t)g_ * 16));          \
            uint32_t m_ = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(c_, want_));                  \
            while (m_ != 0) {                                                                      \
                uint32_t s_ = g_ * 16 + (uint32_t)__builtin_ctz(m_);                               \
                struct sp_agg_entry *e_ = &(t)->entries[(t)->slot[s_]];                            \
                if (EQ) {                                                                          \
                    found = e_;                                                                    \
                    goto done_;                                                                    \
                }                                                                                  \
                m_ &= m_ - 1;                                                                      \
            }                                                                                      \
            uint32_t em_ = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(c_, empty_));                \
            if (em_ != 0) {                                                                        \
                uint32_t s_ = g_ * 16 + (uint32_t)__builtin_ctz(em_);                              \
                (t)->ctrl[s_] = tag_;                                                              \
                (t)->slot[s_] = (t)->n;                                                            \
                found = &(t)->entries[(t)->n++];                                                   \
                memset(found, 0, sizeof(*found));                                                  \
                SET;                                                                               \
                goto done_;                                                                        \
            }                                                                                      \
            g_ = (g_ + step_) & (t)->groups_mask;                                                  \
        }                                                                                          \
    done_:;                                                                                        \
    } while (0)

static inline struct sp_agg_entry *swiss_str(struct swiss *t, uint64_t hash,
                                             const struct spate_string *k) {
    struct sp_agg_entry *found;
    SWISS_FIND_OR_ADD(t, hash, sp_str_equal(&e_->key.s, k), found->key.s = *k);
    return found;
}

static inline struct sp_agg_entry *swiss_i64(struct swiss *t, uint64_t hash, int64_t k) {
    struct sp_agg_entry *found;
    SWISS_FIND_OR_ADD(t, hash, e_->key.i == k, found->key.i = k);
    return found;
}

/* ---- naive: what a user writes ---- */

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

/* ---- bodies ---- */

enum table { T_TAGS, T_SWISS, T_NAIVE, T_FLAT };
struct gcase {
    enum table table;
    bool str;      /* string keys (COUNT) or i64 keys (SUM) */
    uint32_t keys; /* distinct keys */
};

static uint64_t run_tags(const struct gcase *c, struct sp_region *r) {
    struct sp_agg_table t;
    sp_region_reset(r);
    if (sp_agg_table_init(&t, r, c->keys) != SPATE_OK)
        return 0;
    const int64_t *ik = c->keys == 10000 ? ikeys_10k : ikeys_1m;
    uint64_t h[CHUNK];
    for (uint32_t base = 0; base < GROUP_ROWS; base += CHUNK) {
        if (c->str)
            kern->hash_str(skeys + base, NULL, CHUNK, h);
        else
            kern->hash_i64(ik + base, NULL, CHUNK, h);
        for (uint32_t i = 0; i < CHUNK; i++) {
            bool fresh;
            uint32_t e = c->str ? sp_agg_find_or_add_str(&t, r, h[i], &skeys[base + i], &fresh)
                                : sp_agg_find_or_add_i64(&t, r, h[i], ik[base + i], &fresh);
            t.entries[e].val.i += c->str ? 1 : ivals[base + i];
        }
    }
    return t.n;
}

static uint64_t run_flat(const struct gcase *c, struct sp_region *r) {
    struct sp_itab t[SP_AGG_RADIX];
    sp_region_reset(r);
    for (uint32_t p = 0; p < SP_AGG_RADIX; p++)
        if (!sp_itab_init(&t[p], r, c->keys / SP_AGG_RADIX + 16))
            return 0;
    const int64_t *ik = c->keys == 10000 ? ikeys_10k : ikeys_1m;
    uint64_t h[CHUNK];
    for (uint32_t base = 0; base < GROUP_ROWS; base += CHUNK) {
        kern->hash_i64(ik + base, NULL, CHUNK, h);
        for (uint32_t i = 0; i < CHUNK; i++)
            if (!sp_itab_add(&t[sp_agg_radix(h[i])], r, ik[base + i], (uint64_t)ivals[base + i]))
                return 0;
    }
    uint64_t n = 0;
    for (uint32_t p = 0; p < SP_AGG_RADIX; p++)
        n += t[p].n + t[p].has_min;
    return n;
}

static uint64_t run_swiss(const struct gcase *c, struct swiss *t) {
    swiss_clear(t);
    const int64_t *ik = c->keys == 10000 ? ikeys_10k : ikeys_1m;
    uint64_t h[CHUNK];
    for (uint32_t base = 0; base < GROUP_ROWS; base += CHUNK) {
        if (c->str)
            kern->hash_str(skeys + base, NULL, CHUNK, h);
        else
            kern->hash_i64(ik + base, NULL, CHUNK, h);
        for (uint32_t i = 0; i < CHUNK; i++) {
            if (c->str)
                swiss_str(t, h[i], &skeys[base + i])->val.i += 1;
            else
                swiss_i64(t, h[i], ik[base + i])->val.i += ivals[base + i];
        }
    }
    return t->n;
}

struct naive {
    const char **skey;
    int64_t *ikey;
    int64_t *val;
    uint8_t *used;
    uint64_t mask;
};

static uint64_t run_naive(const struct gcase *c, struct naive *t) {
    memset(t->used, 0, t->mask + 1);
    const int64_t *ik = c->keys == 10000 ? ikeys_10k : ikeys_1m;
    uint64_t n = 0;
    for (uint32_t i = 0; i < GROUP_ROWS; i++) {
        uint64_t s;
        if (c->str) {
            const char *k = cstr[i];
            s = fnv1a(k) & t->mask;
            while (t->used[s] && strcmp(t->skey[s], k) != 0)
                s = (s + 1) & t->mask;
            if (!t->used[s]) {
                t->used[s] = 1, t->skey[s] = k, t->val[s] = 0;
                n++;
            }
            t->val[s] += 1;
        } else {
            int64_t k = ik[i];
            s = ((uint64_t)k * 0x9e3779b97f4a7c15ull >> 20) & t->mask;
            while (t->used[s] && t->ikey[s] != k)
                s = (s + 1) & t->mask;
            if (!t->used[s]) {
                t->used[s] = 1, t->ikey[s] = k, t->val[s] = 0;
                n++;
            }
            t->val[s] += ivals[i];
        }
    }
    return n;
}

static void bench_group(sp_bench_state *st, const void *arg) {
    const struct gcase *c = arg;
    uint64_t distinct = 0;
    struct sp_region r;
    struct swiss sw;
    struct naive nv;
    sp_region_init(&r, SP_MEM_DEFAULT_ARENA, 1 << 20);
    memset(&sw, 0, sizeof(sw));
    memset(&nv, 0, sizeof(nv));
    if (c->table == T_SWISS)
        swiss_init(&sw, c->keys);
    if (c->table == T_NAIVE) {
        uint64_t slots = 16;
        while (slots < (uint64_t)c->keys * 2)
            slots <<= 1;
        nv.mask = slots - 1;
        nv.skey = xalloc(sizeof(char *) * slots);
        nv.ikey = xalloc(sizeof(int64_t) * slots);
        nv.val = xalloc(sizeof(int64_t) * slots);
        nv.used = xalloc(slots);
    }
    while (sp_bench_keep_running(st)) {
        distinct = c->table == T_TAGS    ? run_tags(c, &r)
                   : c->table == T_FLAT  ? run_flat(c, &r)
                   : c->table == T_SWISS ? run_swiss(c, &sw)
                                         : run_naive(c, &nv);
        sp_bench_use(&distinct);
    }
    sp_bench_set_items(st, sp_bench_iterations(st) * GROUP_ROWS);
    sp_bench_set_bytes(st, sp_bench_iterations(st) * GROUP_ROWS * 16); /* a view or key + value */
    sp_bench_counter(st, "distinct_keys", (double)distinct);
    if (c->table != T_NAIVE)
        sp_bench_set_label(st, kern->isa); /* the hash kernel's ISA */
    sp_region_destroy(&r);
    if (c->table == T_SWISS)
        swiss_free(&sw);
    free(nv.skey);
    free(nv.ikey);
    free(nv.val);
    free(nv.used);
}

void sp_micro_tables_register(void) {
    static struct gcase cases[11];
    static const char *names[] = {"tags", "swiss", "naive", "flat"};
    kern = sp_kernels_select(NULL);
    make_rows();
    uint32_t nc = 0;
    char name[96];
    for (int t = 0; t < 3; t++) {
        cases[nc] = (struct gcase){(enum table)t, true, VOCAB};
        snprintf(name, sizeof name, "groupby_str/%s/%u", names[t], VOCAB);
        sp_bench_register(name, bench_group, &cases[nc++]);
    }
    for (uint32_t k = 10000; k <= 1000000; k *= 100)
        for (int t = 0; t < 4; t++) {
            cases[nc] = (struct gcase){(enum table)t, false, k};
            snprintf(name, sizeof name, "groupby_i64/%s/%u", names[t], k);
            sp_bench_register(name, bench_group, &cases[nc++]);
        }
}
