/*
 * bench/micro/micro_kernels.c - micro-benchmarks of the kernel tables
 * (spate-micro), one line per kernel/isa/size.
 *
 * Every kernel runs through each ISA table built ("scalar", "avx2",
 * "avx512"; skipped with a reason when the CPU lacks it) and through a
 * "naive" baseline, the plain loop a user would write (isspace() tokenizer,
 * if-based filter, out-of-line libxxhash calls), so ratios come from one run.
 * Inputs are generated once, deterministically. A SIMD table entry that is
 * the scalar function is labelled "scalar code".
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h> /* not XXH_INLINE_ALL: the naive baseline calls the library */

#include "bench/micro/micro_join.h"
#include "bench/micro/micro_pane.h"
#include "bench/micro/micro_tables.h"
#include "bench/shim/shim.h"
#include "kernels/kernels.h"

#define TEXT_MAX (1u << 20) /* largest text */
#define ROWS 2048u          /* rows per filter/hash benchmark (one default chunk) */

/* ---- Inputs ---- */

static char *text;         /* words of 3-10 letters, single spaces, a '\n' every ~8 words */
static int64_t *values;    /* uniform in [0, 1000) */
static uint64_t *validity; /* ~7/8 valid */
static uint16_t *sel_half; /* every other row */
static struct spate_string *strings; /* words of 3-20 bytes */
static uint32_t *view_starts;
static uint32_t *view_lens;
static char *string_bytes;

static uint64_t rng = 0x2545f4914f6cdd1du;

static uint32_t rnd_below(uint32_t n) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static void *xmalloc(size_t size) {
    void *p = aligned_alloc(64, (size + 63) / 64 * 64);
    if (p == NULL) {
        fprintf(stderr, "spate-micro: out of memory\n");
        exit(1);
    }
    return p;
}

static void make_inputs(void) {
    text = xmalloc(TEXT_MAX);
    for (uint32_t i = 0, words = 0; i < TEXT_MAX;) {
        for (uint32_t w = 3 + rnd_below(8); w > 0 && i < TEXT_MAX; w--)
            text[i++] = (char)('a' + rnd_below(26));
        if (i < TEXT_MAX)
            text[i++] = ++words % 8 == 0 ? '\n' : ' ';
    }
    values = xmalloc(ROWS * sizeof *values);
    validity = xmalloc(ROWS / 64 * sizeof *validity);
    sel_half = xmalloc(ROWS * sizeof *sel_half);
    for (uint32_t i = 0; i < ROWS; i++)
        values[i] = rnd_below(1000);
    for (uint32_t w = 0; w < ROWS / 64; w++) {
        validity[w] = 0;
        for (uint32_t b = 0; b < 64; b++)
            validity[w] |= (uint64_t)(rnd_below(8) != 0) << b;
    }
    for (uint32_t i = 0; i < ROWS / 2; i++)
        sel_half[i] = (uint16_t)(2 * i);
    string_bytes = xmalloc(ROWS * 20);
    view_starts = xmalloc(ROWS * sizeof *view_starts);
    view_lens = xmalloc(ROWS * sizeof *view_lens);
    strings = xmalloc(ROWS * sizeof *strings);
    static const char *const vocab[] = {"alpha", "beta",           "gamma",
                                        "delta", "epsilon-zeta",   "eta-theta-iota",
                                        "kappa", "lambda-mu-nu-xi"};
    for (uint32_t i = 0; i < ROWS; i++) {
        char *p = string_bytes + i * 20;
        uint32_t len;
        if (rnd_below(2)) {
            const char *w = vocab[rnd_below(8)];
            len = (uint32_t)strlen(w);
            memcpy(p, w, len);
        } else {
            len = 3 + rnd_below(18);
            for (uint32_t j = 0; j < len; j++)
                p[j] = (char)('a' + rnd_below(26));
        }
        view_starts[i] = i * 20;
        view_lens[i] = len;
    }
    sp_kernels_scalar.make_views(string_bytes, view_starts, view_lens, ROWS, strings);
}

/* ---- Naive baselines ---- */

static uint32_t naive_tokenize(const char *t, uint32_t len, uint32_t *starts, uint32_t *lens,
                               uint32_t max_words) {
    uint32_t n = 0;
    uint32_t start = 0;
    int in_word = 0;

    for (uint32_t i = 0; i < len; i++) {
        if (isspace((unsigned char)t[i])) {
            if (in_word) {
                starts[n] = start;
                lens[n] = i - start;
                in_word = 0;
                if (++n == max_words)
                    return n;
            }
        } else if (!in_word) {
            in_word = 1;
            start = i;
        }
    }
    if (in_word) {
        starts[n] = start;
        lens[n++] = len - start;
    }
    return n;
}

static uint32_t naive_newlines(const char *t, uint32_t len, uint32_t *pos) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < len; i++)
        if (t[i] == '\n')
            pos[n++] = i;
    return n;
}

static uint32_t naive_filter_lt(const int64_t *v, const uint64_t *valid, const uint16_t *sel,
                                uint32_t n, int64_t k, uint16_t *out) {
    uint32_t count = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t row = sel ? sel[i] : i;
        if (valid && !((valid[row / 64] >> (row % 64)) & 1))
            continue;
        if (v[row] < k)
            out[count++] = (uint16_t)row;
    }
    return count;
}

static uint32_t naive_eq_str(const struct spate_string *v, uint32_t n, const char *s, uint32_t slen,
                             uint16_t *out) {
    uint32_t count = 0;
    for (uint32_t i = 0; i < n; i++)
        if (v[i].len == slen && memcmp(sp_str_data(&v[i]), s, slen) == 0)
            out[count++] = (uint16_t)i;
    return count;
}

/* ---- Benchmark cases ---- */

struct bcase {
    const struct sp_kernels *k; /* the table (NULL: not supported here, or naive) */
    bool naive;                 /* run the naive baseline instead */
    bool shared;                /* this SIMD slot holds the scalar function */
    uint32_t size;              /* bytes or rows */
    int variant;                /* PLAIN, WITH_VALIDITY, WITH_SEL... */
};

enum { PLAIN, WITH_VALIDITY, WITH_SEL, WITH_SEL_VALIDITY, SPLIT };

/* Returns false (benchmark skipped) when the table is not usable here. */
static bool ready(sp_bench_state *st, const struct bcase *c) {
    if (c->naive)
        return true;
    if (c->k == NULL) {
        sp_bench_skip(st, "ISA not supported by this CPU");
        return false;
    }
    if (c->shared)
        sp_bench_set_label(st, "scalar code");
    return true;
}

/* The naive split a user writes: a 256-entry delimiter table, byte by byte. */
static uint32_t naive_split(const char *t, uint32_t len, const bool *delim, uint32_t *starts,
                            uint32_t *lens, uint32_t max_words) {
    uint32_t n = 0, i = 0;
    while (i < len && n < max_words) {
        while (i < len && delim[(unsigned char)t[i]])
            i++;
        if (i == len)
            break;
        uint32_t s = i;
        while (i < len && !delim[(unsigned char)t[i]])
            i++;
        starts[n] = s;
        lens[n++] = i - s;
    }
    return n;
}

static void bench_tokenize(sp_bench_state *st, const void *arg) {
    const struct bcase *c = arg;
    uint32_t max_words = c->size / 2 + 1;
    uint32_t *starts = xmalloc(max_words * sizeof *starts);
    uint32_t *lens = xmalloc(max_words * sizeof *lens);
    uint32_t words = 0;
    static const char delims[] = " \n,;"; /* SPLIT: tokenize_set with these */
    struct sp_byteset set;
    bool delim[256] = {false};
    sp_byteset_init(&set, delims, sizeof delims - 1);
    for (size_t i = 0; i + 1 < sizeof delims; i++)
        delim[(unsigned char)delims[i]] = true;

    if (ready(st, c)) {
        while (sp_bench_keep_running(st)) {
            uint32_t consumed;
            if (c->k && c->variant == SPLIT)
                words = c->k->tokenize_set(text, c->size, &set, starts, lens, max_words, &consumed);
            else if (c->k)
                words = c->k->tokenize_ws(text, c->size, starts, lens, max_words, &consumed);
            else if (c->variant == SPLIT)
                words = naive_split(text, c->size, delim, starts, lens, max_words);
            else
                words = naive_tokenize(text, c->size, starts, lens, max_words);
            sp_bench_use(starts);
        }
        sp_bench_set_bytes(st, sp_bench_iterations(st) * c->size);
        sp_bench_set_items(st, sp_bench_iterations(st) * words);
    }
    free(starts);
    free(lens);
}

static void bench_newlines(sp_bench_state *st, const void *arg) {
    const struct bcase *c = arg;
    uint32_t *pos = xmalloc((c->size + 1) * sizeof *pos);
    uint32_t lines = 0;

    if (ready(st, c)) {
        while (sp_bench_keep_running(st)) {
            uint32_t consumed;
            if (c->k)
                lines = c->k->find_newlines(text, c->size, pos, c->size + 1, &consumed);
            else
                lines = naive_newlines(text, c->size, pos);
            sp_bench_use(pos);
        }
        sp_bench_set_bytes(st, sp_bench_iterations(st) * c->size);
        sp_bench_set_items(st, sp_bench_iterations(st) * lines);
    }
    free(pos);
}

static void bench_filter_lt(sp_bench_state *st, const void *arg) {
    const struct bcase *c = arg;
    const uint64_t *valid =
        c->variant == WITH_VALIDITY || c->variant == WITH_SEL_VALIDITY ? validity : NULL;
    const uint16_t *sel =
        c->variant == WITH_SEL || c->variant == WITH_SEL_VALIDITY ? sel_half : NULL;
    uint32_t n = sel ? c->size / 2 : c->size;
    uint16_t out[ROWS];

    if (ready(st, c)) {
        while (sp_bench_keep_running(st)) {
            if (c->k)
                c->k->filter_cmp_i64(values, valid, sel, n, SP_CMP_LT, 500, out);
            else
                naive_filter_lt(values, valid, sel, n, 500, out);
            sp_bench_use(out);
        }
        sp_bench_set_items(st, sp_bench_iterations(st) * n);
    }
}

static void bench_filter_eq_str(sp_bench_state *st, const void *arg) {
    const struct bcase *c = arg;
    uint16_t out[ROWS];

    if (ready(st, c)) {
        while (sp_bench_keep_running(st)) {
            if (c->k)
                c->k->filter_eq_str(strings, NULL, NULL, c->size, "kappa", 5, false, out);
            else
                naive_eq_str(strings, c->size, "kappa", 5, out);
            sp_bench_use(out);
        }
        sp_bench_set_items(st, sp_bench_iterations(st) * c->size);
    }
}

static void bench_hash_i64(sp_bench_state *st, const void *arg) {
    const struct bcase *c = arg;
    const uint16_t *sel = c->variant == WITH_SEL ? sel_half : NULL;
    uint32_t n = sel ? c->size / 2 : c->size;
    uint64_t out[ROWS];

    if (ready(st, c)) {
        while (sp_bench_keep_running(st)) {
            if (c->k) {
                c->k->hash_i64(values, sel, n, out);
            } else {
                for (uint32_t i = 0; i < n; i++)
                    out[i] = XXH3_64bits(&values[sel ? sel[i] : i], sizeof values[0]);
            }
            sp_bench_use(out);
        }
        sp_bench_set_items(st, sp_bench_iterations(st) * n);
    }
}

static void bench_hash_str(sp_bench_state *st, const void *arg) {
    const struct bcase *c = arg;
    uint64_t out[ROWS];

    if (ready(st, c)) {
        while (sp_bench_keep_running(st)) {
            if (c->k) {
                c->k->hash_str(strings, NULL, c->size, out);
            } else {
                for (uint32_t i = 0; i < c->size; i++)
                    out[i] = XXH3_64bits(sp_str_data(&strings[i]), strings[i].len);
            }
            sp_bench_use(out);
        }
        sp_bench_set_items(st, sp_bench_iterations(st) * c->size);
    }
}

static void bench_make_views(sp_bench_state *st, const void *arg) {
    const struct bcase *c = arg;
    struct spate_string *out = xmalloc(ROWS * sizeof *out);

    if (ready(st, c)) {
        while (sp_bench_keep_running(st)) {
            c->k->make_views(string_bytes, view_starts, view_lens, c->size, out);
            sp_bench_use(out);
        }
        sp_bench_set_items(st, sp_bench_iterations(st) * c->size);
    }
    free(out);
}

/* Integer fields as a CSV column carries them: 1 to 10 digits, some negative. */
static const char *num_ptr[ROWS];
static uint32_t num_len[ROWS];
static char num_text[ROWS][24];
static uint64_t num_bytes;

static void make_numbers(void) {
    uint64_t x = 12345;
    for (uint32_t i = 0; i < ROWS; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        int digits = 1 + (int)((x >> 40) % 10);
        uint64_t v = (x >> 20) % 10000000000ull;
        uint64_t mod = 1;
        for (int d = 0; d < digits; d++)
            mod *= 10;
        int n = snprintf(num_text[i], sizeof num_text[i], "%s%llu", (x >> 60) % 4 == 0 ? "-" : "",
                         (unsigned long long)(v % mod));
        num_ptr[i] = num_text[i];
        num_len[i] = (uint32_t)n;
        num_bytes += (uint64_t)n + 1; /* and its delimiter */
    }
}

/* What a user writes: strtoll on a NUL-terminated copy, checking the end pointer. */
static uint32_t naive_parse_i64(uint32_t n, int64_t *out, uint64_t *ok) {
    uint32_t bad = 0;
    for (uint32_t i = 0; i < n; i++) {
        char buf[32];
        uint32_t len = num_len[i] < 31 ? num_len[i] : 31;
        memcpy(buf, num_ptr[i], len);
        buf[len] = '\0';
        char *end;
        errno = 0;
        long long v = strtoll(buf, &end, 10);
        bool good = len > 0 && end == buf + len && errno == 0;
        out[i] = good ? v : 0;
        if (good)
            ok[i >> 6] |= 1ull << (i & 63);
        else
            ok[i >> 6] &= ~(1ull << (i & 63));
        bad += !good;
    }
    return bad;
}

static void bench_parse_i64(sp_bench_state *st, const void *arg) {
    const struct bcase *c = arg;
    static int64_t out[ROWS];
    static uint64_t ok[ROWS / 64 + 1];

    if (ready(st, c)) {
        while (sp_bench_keep_running(st)) {
            if (c->k)
                c->k->parse_i64(num_ptr, num_len, c->size, out, ok);
            else
                naive_parse_i64(c->size, out, ok);
            sp_bench_use(out);
        }
        sp_bench_set_items(st, sp_bench_iterations(st) * c->size);
        sp_bench_set_bytes(st, sp_bench_iterations(st) * num_bytes);
    }
}

/* Binary records: ROWS records of 24 bytes back to back, an 8-byte field at offset 8. */
#define REC_BYTES 24u
#define REC_FIELD 8u
static char *records;
static const char *rec_ptr[ROWS];

static void make_records(void) {
    records = xmalloc((size_t)ROWS * REC_BYTES);
    for (uint32_t i = 0; i < ROWS * REC_BYTES; i++)
        records[i] = (char)rnd_below(256);
    for (uint32_t i = 0; i < ROWS; i++)
        rec_ptr[i] = records + (size_t)i * REC_BYTES;
}

/* What a user writes: a memcpy per record (the host is little-endian). */
static void naive_decode(uint32_t n, uint64_t *out) {
    for (uint32_t i = 0; i < n; i++)
        memcpy(&out[i], rec_ptr[i] + REC_FIELD, sizeof out[i]);
}

static void bench_decode(sp_bench_state *st, const void *arg) {
    const struct bcase *c = arg;
    static uint64_t out[ROWS];

    if (ready(st, c)) {
        while (sp_bench_keep_running(st)) {
            if (c->k == NULL)
                naive_decode(c->size, out);
            else if (c->variant == WITH_SEL) /* the strided form */
                c->k->decode_fixed64_strided(records + REC_FIELD, REC_BYTES, c->size, out);
            else
                c->k->decode_fixed64(rec_ptr, REC_FIELD, c->size, out);
            sp_bench_use(out);
        }
        sp_bench_set_items(st, sp_bench_iterations(st) * c->size);
        sp_bench_set_bytes(st, sp_bench_iterations(st) * c->size * REC_BYTES);
    }
}

/* ---- Registration ---- */

/* Which table entry a benchmark exercises, to spot SIMD slots holding scalar code. */
enum slot {
    S_TOKENIZE,
    S_TOKENIZE_SET,
    S_NEWLINES,
    S_FILTER,
    S_EQ_STR,
    S_HASH_I64,
    S_HASH_STR,
    S_VIEWS,
    S_PARSE_I64,
    S_DECODE,
    S_DECODE_STRIDED
};

static bool same_as_scalar(const struct sp_kernels *k, enum slot s) {
    const struct sp_kernels *r = &sp_kernels_scalar;
    switch (s) {
    case S_TOKENIZE:
        return k->tokenize_ws == r->tokenize_ws;
    case S_TOKENIZE_SET:
        return k->tokenize_set == r->tokenize_set;
    case S_NEWLINES:
        return k->find_newlines == r->find_newlines;
    case S_FILTER:
        return k->filter_cmp_i64 == r->filter_cmp_i64;
    case S_EQ_STR:
        return k->filter_eq_str == r->filter_eq_str;
    case S_HASH_I64:
        return k->hash_i64 == r->hash_i64;
    case S_HASH_STR:
        return k->hash_str == r->hash_str;
    case S_VIEWS:
        return k->make_views == r->make_views;
    case S_PARSE_I64:
        return k->parse_i64 == r->parse_i64;
    case S_DECODE:
        return k->decode_fixed64 == r->decode_fixed64;
    case S_DECODE_STRIDED:
        return k->decode_fixed64_strided == r->decode_fixed64_strided;
    }
    return false;
}

struct family {
    const char *name;
    sp_bench_fn fn;
    enum slot slot;
    uint32_t size;
    int variant;
    bool naive; /* has a naive baseline */
};

static const struct family families[] = {
    {"tokenize", bench_tokenize, S_TOKENIZE, 4096, PLAIN, true},
    {"tokenize", bench_tokenize, S_TOKENIZE, TEXT_MAX, PLAIN, true},
    {"tokenize_set", bench_tokenize, S_TOKENIZE_SET, TEXT_MAX, SPLIT, true},
    {"newlines", bench_newlines, S_NEWLINES, TEXT_MAX, PLAIN, true},
    {"filter_lt_i64", bench_filter_lt, S_FILTER, ROWS, PLAIN, true},
    {"filter_lt_i64_valid", bench_filter_lt, S_FILTER, ROWS, WITH_VALIDITY, true},
    {"filter_lt_i64_sel", bench_filter_lt, S_FILTER, ROWS, WITH_SEL, true},
    {"filter_lt_i64_sel_valid", bench_filter_lt, S_FILTER, ROWS, WITH_SEL_VALIDITY, true},
    {"filter_eq_str", bench_filter_eq_str, S_EQ_STR, ROWS, PLAIN, true},
    {"hash_i64", bench_hash_i64, S_HASH_I64, ROWS, PLAIN, true},
    {"hash_i64_sel", bench_hash_i64, S_HASH_I64, ROWS, WITH_SEL, true},
    {"hash_str", bench_hash_str, S_HASH_STR, ROWS, PLAIN, true},
    {"make_views", bench_make_views, S_VIEWS, ROWS, PLAIN, false},
    {"parse_i64", bench_parse_i64, S_PARSE_I64, ROWS, PLAIN, true},
    {"decode_fixed64", bench_decode, S_DECODE, ROWS, PLAIN, true},
    {"decode_fixed64_strided", bench_decode, S_DECODE_STRIDED, ROWS, WITH_SEL, true},
};

#define FAMILIES (sizeof families / sizeof families[0])
static struct bcase cases[FAMILIES * 4];

static void register_all(void) {
    size_t nc = 0;
    char name[128];

    for (size_t f = 0; f < FAMILIES; f++) {
        const struct family *fam = &families[f];
        if (fam->naive) {
            cases[nc] = (struct bcase){NULL, true, false, fam->size, fam->variant};
            snprintf(name, sizeof name, "%s/naive/%u", fam->name, fam->size);
            sp_bench_register(name, fam->fn, &cases[nc++]);
        }
        for (const char *const *isa = sp_kernels_built(); *isa != NULL; isa++) {
            const struct sp_kernels *k = sp_kernels_select(*isa);
            bool shared = k != NULL && k != &sp_kernels_scalar && same_as_scalar(k, fam->slot);
            cases[nc] = (struct bcase){k, false, shared, fam->size, fam->variant};
            snprintf(name, sizeof name, "%s/%s/%u", fam->name, *isa, fam->size);
            sp_bench_register(name, fam->fn, &cases[nc++]);
        }
    }
}

/* ---- Column kernels: compare, selection, compaction, arithmetic, casts, hash_combine ---- */

static double *fvalues;       /* uniform in [0, 1000), some NaN */
static int64_t *values2;      /* a second i64 column, uniform in [0, 1000) */
static double *fvalues2;      /* a second f64 column */
static uint16_t *sel_third;   /* every third row */
static uint64_t *hashes2;     /* a second column of hashes */
static uint16_t *sel_rand[2]; /* rows passing two independent random filters (p = 1/2) */
static uint32_t sel_rand_n[2];

static void make_column_inputs(void) {
    fvalues = xmalloc(ROWS * sizeof *fvalues);
    fvalues2 = xmalloc(ROWS * sizeof *fvalues2);
    values2 = xmalloc(ROWS * sizeof *values2);
    sel_third = xmalloc(ROWS * sizeof *sel_third);
    hashes2 = xmalloc(ROWS * sizeof *hashes2);
    for (uint32_t i = 0; i < ROWS; i++) {
        fvalues[i] = rnd_below(64) == 0 ? __builtin_nan("") : (double)rnd_below(100000) / 100.0;
        fvalues2[i] = (double)rnd_below(100000) / 100.0;
        values2[i] = rnd_below(1000);
        hashes2[i] = (uint64_t)rnd_below(1u << 30) * 0x9e3779b97f4a7c15u;
    }
    for (uint32_t i = 0; i < ROWS / 3; i++)
        sel_third[i] = (uint16_t)(3 * i);
    for (int s = 0; s < 2; s++) {
        sel_rand[s] = xmalloc(ROWS * sizeof *sel_rand[s]);
        for (uint32_t i = 0; i < ROWS; i++)
            if (rnd_below(2))
                sel_rand[s][sel_rand_n[s]++] = (uint16_t)i;
    }
}

/* Naive baselines: the if-based loops a user would write. */
static uint32_t naive_cmp_f64_lt(const double *v, const uint64_t *valid, uint32_t n, double k,
                                 uint16_t *out) {
    uint32_t count = 0;
    for (uint32_t i = 0; i < n; i++)
        if (((valid[i / 64] >> (i % 64)) & 1) && v[i] < k)
            out[count++] = (uint16_t)i;
    return count;
}

static uint32_t naive_cmp_i64_col_lt(const int64_t *a, const int64_t *b, const uint64_t *valid,
                                     uint32_t n, uint16_t *out) {
    uint32_t count = 0;
    for (uint32_t i = 0; i < n; i++)
        if (((valid[i / 64] >> (i % 64)) & 1) && a[i] < b[i])
            out[count++] = (uint16_t)i;
    return count;
}

static uint32_t naive_sel_and(const uint16_t *a, uint32_t na, const uint16_t *b, uint32_t nb,
                              uint16_t *out) {
    uint32_t i = 0, j = 0, count = 0;
    while (i < na && j < nb) {
        if (a[i] < b[j]) {
            i++;
        } else if (b[j] < a[i]) {
            j++;
        } else {
            out[count++] = a[i];
            i++;
            j++;
        }
    }
    return count;
}

static uint32_t naive_sel_or(const uint16_t *a, uint32_t na, const uint16_t *b, uint32_t nb,
                             uint16_t *out) {
    uint32_t i = 0, j = 0, count = 0;
    while (i < na || j < nb) {
        if (j == nb || (i < na && a[i] < b[j]))
            out[count++] = a[i++];
        else if (i == na || b[j] < a[i])
            out[count++] = b[j++];
        else {
            out[count++] = a[i++];
            j++;
        }
    }
    return count;
}

enum col_kernel {
    CK_CMP_F64,
    CK_CMP_I64_COL,
    CK_CMP_F64_COL,
    CK_SEL_AND,
    CK_SEL_OR,
    CK_SEL_AND_REGULAR,
    CK_SEL_OR_REGULAR,
    CK_SEL_NOT,
    CK_GATHER,
    CK_COMPACT_VALIDITY,
    CK_ADD_I64,
    CK_MUL_I64,
    CK_ADD_F64,
    CK_MUL_F64,
    CK_CAST_F64_I64,
    CK_CAST_I64_F64,
    CK_HASH_COMBINE
};

struct col_case {
    struct bcase base;
    enum col_kernel kernel;
};

/* One benchmark body for the column kernels; items are rows (output rows for the set
 * operations), bytes the input bytes read. */
static void bench_column(sp_bench_state *st, const void *arg) {
    const struct col_case *cc = arg;
    const struct bcase *c = &cc->base;
    const struct sp_kernels *k = c->k;
    uint32_t n = c->size;
    static uint16_t sel_out[2 * ROWS];
    static uint64_t out[ROWS], vout[ROWS / 64], h[ROWS];
    uint64_t items = n, bytes = 0;

    if (!ready(st, c))
        return;
    while (sp_bench_keep_running(st)) {
        switch (cc->kernel) {
        case CK_CMP_F64:
            if (k)
                k->filter_cmp_f64(fvalues, validity, NULL, n, SP_CMP_LT, 500.0, sel_out);
            else
                naive_cmp_f64_lt(fvalues, validity, n, 500.0, sel_out);
            bytes = 8ull * n;
            break;
        case CK_CMP_I64_COL:
            if (k)
                k->filter_cmp_i64_col(values, validity, values2, NULL, NULL, n, SP_CMP_LT, sel_out);
            else
                naive_cmp_i64_col_lt(values, values2, validity, n, sel_out);
            bytes = 16ull * n;
            break;
        case CK_CMP_F64_COL:
            if (k) {
                k->filter_cmp_f64_col(fvalues, validity, fvalues2, NULL, NULL, n, SP_CMP_LT,
                                      sel_out);
            } else {
                uint32_t count = 0;
                for (uint32_t i = 0; i < n; i++)
                    if (((validity[i / 64] >> (i % 64)) & 1) && fvalues[i] < fvalues2[i])
                        sel_out[count++] = (uint16_t)i;
            }
            bytes = 16ull * n;
            break;
        case CK_SEL_AND:
        case CK_SEL_OR:
        case CK_SEL_AND_REGULAR:
        case CK_SEL_OR_REGULAR: {
            /* random selections (what filters produce: the merge's branches are unpredictable)
             * or regular ones (every 2nd and every 3rd row: predictable) */
            bool and_op = cc->kernel == CK_SEL_AND || cc->kernel == CK_SEL_AND_REGULAR;
            bool regular = cc->kernel == CK_SEL_AND_REGULAR || cc->kernel == CK_SEL_OR_REGULAR;
            const uint16_t *sa = regular ? sel_half : sel_rand[0];
            const uint16_t *sb = regular ? sel_third : sel_rand[1];
            uint32_t na = regular ? n / 2 : sel_rand_n[0], nb = regular ? n / 3 : sel_rand_n[1];
            uint32_t m;
            if (k)
                m = and_op ? k->sel_and(sa, na, sb, nb, sel_out)
                           : k->sel_or(sa, na, sb, nb, sel_out);
            else
                m = and_op ? naive_sel_and(sa, na, sb, nb, sel_out)
                           : naive_sel_or(sa, na, sb, nb, sel_out);
            items = na + nb; /* input rows merged */
            bytes = 2ull * items;
            sp_bench_use(&m);
            break;
        }
        case CK_SEL_NOT: {
            uint32_t m;
            if (k) {
                m = k->sel_not(sel_rand[0], sel_rand_n[0], n, sel_out);
            } else { /* the loop a user writes: a flag per row */
                static bool in[ROWS];
                memset(in, 0, sizeof in);
                for (uint32_t i = 0; i < sel_rand_n[0]; i++)
                    in[sel_rand[0][i]] = true;
                m = 0;
                for (uint32_t i = 0; i < n; i++)
                    if (!in[i])
                        sel_out[m++] = (uint16_t)i;
            }
            bytes = 2ull * sel_rand_n[0];
            sp_bench_use(&m);
            break;
        }
        case CK_GATHER:
            if (k) {
                k->gather_u64((const uint64_t *)values, sel_half, n / 2, out);
            } else {
                for (uint32_t i = 0; i < n / 2; i++)
                    out[i] = (uint64_t)values[sel_half[i]];
            }
            items = n / 2;
            bytes = 10ull * items;
            break;
        case CK_COMPACT_VALIDITY:
            if (k) {
                k->compact_validity(validity, sel_half, n / 2, vout);
            } else {
                memset(vout, 0, sizeof vout);
                for (uint32_t i = 0; i < n / 2; i++)
                    if ((validity[sel_half[i] / 64] >> (sel_half[i] % 64)) & 1)
                        vout[i / 64] |= 1ull << (i % 64);
            }
            items = n / 2;
            bytes = 2ull * items;
            break;
        case CK_ADD_I64:
        case CK_MUL_I64:
            if (k) {
                k->arith_i64_col(values, validity, values2, NULL, n,
                                 cc->kernel == CK_ADD_I64 ? SP_ARITH_ADD : SP_ARITH_MUL,
                                 (int64_t *)out, vout);
            } else {
                for (uint32_t i = 0; i < n; i++) {
                    bool valid = (validity[i / 64] >> (i % 64)) & 1;
                    uint64_t x = (uint64_t)values[i], y = (uint64_t)values2[i];
                    out[i] = valid ? (cc->kernel == CK_ADD_I64 ? x + y : x * y) : 0;
                    if (i % 64 == 0)
                        vout[i / 64] = validity[i / 64];
                }
            }
            bytes = 16ull * n;
            break;
        case CK_ADD_F64:
        case CK_MUL_F64:
            if (k) {
                k->arith_f64_col(fvalues, validity, fvalues2, NULL, n,
                                 cc->kernel == CK_ADD_F64 ? SP_ARITH_ADD : SP_ARITH_MUL,
                                 (double *)out, vout);
            } else {
                double *o = (double *)out;
                for (uint32_t i = 0; i < n; i++) {
                    bool valid = (validity[i / 64] >> (i % 64)) & 1;
                    double x = fvalues[i], y = fvalues2[i];
                    o[i] = valid ? (cc->kernel == CK_ADD_F64 ? x + y : x * y) : 0.0;
                    if (i % 64 == 0)
                        vout[i / 64] = validity[i / 64];
                }
            }
            bytes = 16ull * n;
            break;
        case CK_CAST_F64_I64:
            if (k) {
                k->cast_f64_i64(fvalues, n, (int64_t *)out);
            } else {
                int64_t *o = (int64_t *)out;
                for (uint32_t i = 0; i < n; i++) {
                    double d = fvalues[i];
                    o[i] = d != d        ? 0
                           : d >= 0x1p63 ? INT64_MAX
                           : d < -0x1p63 ? INT64_MIN
                                         : (int64_t)d;
                }
            }
            bytes = 8ull * n;
            break;
        case CK_CAST_I64_F64:
            if (k) {
                k->cast_i64_f64(values, n, (double *)out);
            } else {
                double *o = (double *)out;
                for (uint32_t i = 0; i < n; i++)
                    o[i] = (double)values[i];
            }
            bytes = 8ull * n;
            break;
        case CK_HASH_COMBINE:
            memcpy(h, hashes2, n * sizeof h[0]); /* a fresh first column each time */
            if (k) {
                k->hash_combine(h, hashes2, n);
            } else {
                for (uint32_t i = 0; i < n; i++) { /* boost::hash_combine, one call a row */
                    uint64_t kk = hashes2[i] * 0xc6a4a7935bd1e995u;
                    kk ^= kk >> 47;
                    kk *= 0xc6a4a7935bd1e995u;
                    h[i] = ((h[i] ^ kk) * 0xc6a4a7935bd1e995u) + 0xe6546b64u;
                }
            }
            bytes = 16ull * n;
            break;
        }
        sp_bench_use(sel_out);
        sp_bench_use(out);
        sp_bench_use(vout);
        sp_bench_use(h);
    }
    sp_bench_set_items(st, sp_bench_iterations(st) * (int64_t)items);
    sp_bench_set_bytes(st, sp_bench_iterations(st) * (int64_t)bytes);
}

/* Whether table k's entry for kernel is the scalar function. */
static bool column_same_as_scalar(const struct sp_kernels *k, enum col_kernel kernel) {
    const struct sp_kernels *r = &sp_kernels_scalar;
    switch (kernel) {
    case CK_CMP_F64:
        return k->filter_cmp_f64 == r->filter_cmp_f64;
    case CK_CMP_I64_COL:
        return k->filter_cmp_i64_col == r->filter_cmp_i64_col;
    case CK_CMP_F64_COL:
        return k->filter_cmp_f64_col == r->filter_cmp_f64_col;
    case CK_SEL_AND:
    case CK_SEL_AND_REGULAR:
        return k->sel_and == r->sel_and;
    case CK_SEL_OR:
    case CK_SEL_OR_REGULAR:
        return k->sel_or == r->sel_or;
    case CK_SEL_NOT:
        return k->sel_not == r->sel_not;
    case CK_GATHER:
        return k->gather_u64 == r->gather_u64;
    case CK_COMPACT_VALIDITY:
        return k->compact_validity == r->compact_validity;
    case CK_ADD_I64:
    case CK_MUL_I64:
        return k->arith_i64_col == r->arith_i64_col;
    case CK_ADD_F64:
    case CK_MUL_F64:
        return k->arith_f64_col == r->arith_f64_col;
    case CK_CAST_F64_I64:
        return k->cast_f64_i64 == r->cast_f64_i64;
    case CK_CAST_I64_F64:
        return k->cast_i64_f64 == r->cast_i64_f64;
    case CK_HASH_COMBINE:
        return k->hash_combine == r->hash_combine;
    }
    return false;
}

static const struct {
    const char *name;
    enum col_kernel kernel;
} column_families[] = {
    {"filter_lt_f64_valid", CK_CMP_F64},
    {"filter_lt_i64_col_valid", CK_CMP_I64_COL},
    {"filter_lt_f64_col_valid", CK_CMP_F64_COL},
    {"sel_and", CK_SEL_AND},
    {"sel_or", CK_SEL_OR},
    {"sel_and_regular", CK_SEL_AND_REGULAR},
    {"sel_or_regular", CK_SEL_OR_REGULAR},
    {"sel_not", CK_SEL_NOT},
    {"gather_u64_sel", CK_GATHER},
    {"compact_validity_sel", CK_COMPACT_VALIDITY},
    {"add_i64_col_valid", CK_ADD_I64},
    {"mul_i64_col_valid", CK_MUL_I64},
    {"add_f64_col_valid", CK_ADD_F64},
    {"mul_f64_col_valid", CK_MUL_F64},
    {"cast_f64_i64", CK_CAST_F64_I64},
    {"cast_i64_f64", CK_CAST_I64_F64},
    {"hash_combine", CK_HASH_COMBINE},
};

#define COLUMN_FAMILIES (sizeof column_families / sizeof column_families[0])
static struct col_case column_cases[COLUMN_FAMILIES * 4];

static void register_column(void) {
    size_t nc = 0;
    char name[128];

    make_column_inputs();
    for (size_t f = 0; f < COLUMN_FAMILIES; f++) {
        enum col_kernel kernel = column_families[f].kernel;
        column_cases[nc] = (struct col_case){{NULL, true, false, ROWS, PLAIN}, kernel};
        snprintf(name, sizeof name, "%s/naive/%u", column_families[f].name, ROWS);
        sp_bench_register(name, bench_column, &column_cases[nc++]);
        for (const char *const *isa = sp_kernels_built(); *isa != NULL; isa++) {
            const struct sp_kernels *k = sp_kernels_select(*isa);
            bool shared = k != NULL && k != &sp_kernels_scalar && column_same_as_scalar(k, kernel);
            column_cases[nc] = (struct col_case){{k, false, shared, ROWS, PLAIN}, kernel};
            snprintf(name, sizeof name, "%s/%s/%u", column_families[f].name, *isa, ROWS);
            sp_bench_register(name, bench_column, &column_cases[nc++]);
        }
    }
}

int main(int argc, char **argv) {
    make_inputs();
    make_numbers();
    make_records();
    register_all();
    sp_micro_tables_register();
    sp_micro_join_register();
    register_column();
    sp_micro_pane_register();
    return sp_bench_main(argc, argv);
}
