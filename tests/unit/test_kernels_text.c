/*
 * tests/unit/test_kernels_text.c - differential tests of the text kernels
 * (tokenize_ws, tokenize_set, find_newlines, make_views).
 *
 * The scalar table is checked against a naive isspace()/byte-loop oracle;
 * every other ISA built and supported by this CPU is checked against scalar
 * bit for bit (counts, offsets, lengths, *consumed). Inputs sit against
 * PROT_NONE guard pages on both sides, and the outputs end at a guard page,
 * so a read outside [text, text + len) or a write past max_words crashes.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "kernels/kernels.h"

#define MAX_TEXT (1u << 18) /* largest text tested */

/* ---- Deterministic random numbers ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static uint32_t rnd_below(uint32_t n) {
    return n == 0 ? 0 : (uint32_t)(rnd() % n);
}

/* ---- Guarded memory: PROT_NONE pages on both sides ---- */

struct guarded {
    char *map;    /* the whole mapping */
    size_t total; /* its size */
    char *lo;     /* first usable byte */
    char *hi;     /* one past the last usable byte (a guard page starts here) */
};

static void guarded_init(struct guarded *g, size_t size) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t usable = (size + page - 1) / page * page;

    g->total = usable + 2 * page;
    g->map = mmap(NULL, g->total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(g->map != MAP_FAILED);
    assert_int_equal(mprotect(g->map + page, usable, PROT_READ | PROT_WRITE), 0);
    g->lo = g->map + page;
    g->hi = g->lo + usable;
}

static void guarded_free(struct guarded *g) {
    munmap(g->map, g->total);
}

/* Buffers shared by the tests (set up once per group). */
static struct guarded text_mem;  /* the text under test */
static struct guarded start_mem; /* uint32_t outputs of the variant under test */
static struct guarded len_mem;
static char *src;           /* generated text, copied into text_mem */
static uint32_t *ref_start; /* scalar outputs */
static uint32_t *ref_len;
static uint32_t *acc_start; /* resume-loop accumulation */
static uint32_t *acc_len;

static const struct sp_kernels *variants[4]; /* supported non-scalar tables */
static size_t variant_count;

static int group_setup(void **state) {
    (void)state;
    const char *seed = getenv("SPATE_TEST_SEED");
    if (seed != NULL)
        rng_state = strtoull(seed, NULL, 0);
    guarded_init(&text_mem, MAX_TEXT + 64);
    guarded_init(&start_mem, (MAX_TEXT + 1) * sizeof(uint32_t));
    guarded_init(&len_mem, (MAX_TEXT + 1) * sizeof(uint32_t));
    src = malloc(MAX_TEXT);
    ref_start = malloc((MAX_TEXT + 1) * sizeof(uint32_t));
    ref_len = malloc((MAX_TEXT + 1) * sizeof(uint32_t));
    acc_start = malloc((MAX_TEXT + 1) * sizeof(uint32_t));
    acc_len = malloc((MAX_TEXT + 1) * sizeof(uint32_t));
    if (!src || !ref_start || !ref_len || !acc_start || !acc_len)
        return -1;
    for (const char *const *name = sp_kernels_built(); *name != NULL; name++) {
        if (strcmp(*name, "scalar") == 0)
            continue;
        const struct sp_kernels *k = sp_kernels_select(*name);
        if (k == NULL) {
            print_message("[   INFO   ] %s: built but not supported by this CPU, not tested\n",
                          *name);
            continue;
        }
        variants[variant_count++] = k;
    }
    if (variant_count == 0)
        print_message("[   INFO   ] no SIMD variant to compare: scalar checked alone\n");
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    guarded_free(&text_mem);
    guarded_free(&start_mem);
    guarded_free(&len_mem);
    free(src);
    free(ref_start);
    free(ref_len);
    free(acc_start);
    free(acc_len);
    return 0;
}

/* Outputs with room for exactly n entries, ending at a guard page. */
static uint32_t *out_starts(uint32_t n) {
    return (uint32_t *)start_mem.hi - n;
}

static uint32_t *out_lens(uint32_t n) {
    return (uint32_t *)len_mem.hi - n;
}

/* Copy src[0, len) into the guarded text: at offset off from the low guard,
 * or (off < 0) ending at the high guard. */
static const char *place(uint32_t len, int off) {
    char *p = off >= 0 ? text_mem.lo + off : text_mem.hi - len;
    memcpy(p, src, len);
    return p;
}

/* ---- Text generators ---- */

static const char ws_chars[] = {' ', '\t', '\n', '\v', '\f', '\r'};

static char rnd_ws(void) {
    return ws_chars[rnd_below(sizeof ws_chars)];
}

/* Any byte that is not whitespace, NUL and 0x80-0xFF included. */
static char rnd_word_byte(void) {
    for (;;) {
        unsigned char c = (unsigned char)rnd();
        if (c != ' ' && (c < '\t' || c > '\r'))
            return (char)c;
    }
}

/* Words of wmin..wmax bytes separated by runs of smin..smax spaces. */
static void gen_words(uint32_t len, uint32_t wmin, uint32_t wmax, uint32_t smin, uint32_t smax) {
    uint32_t i = 0;
    if (rnd_below(2))
        for (uint32_t s = smin + rnd_below(smax - smin + 1); s > 0 && i < len; s--)
            src[i++] = rnd_ws();
    while (i < len) {
        for (uint32_t w = wmin + rnd_below(wmax - wmin + 1); w > 0 && i < len; w--)
            src[i++] = rnd_word_byte();
        for (uint32_t s = smin + rnd_below(smax - smin + 1); s > 0 && i < len; s--)
            src[i++] = rnd_ws();
    }
}

/* Independent bytes, each whitespace with probability pct/100. */
static void gen_bytes(uint32_t len, uint32_t pct) {
    for (uint32_t i = 0; i < len; i++)
        src[i] = rnd_below(100) < pct ? rnd_ws() : rnd_word_byte();
}

/* ---- Oracles ---- */

static int c_isspace(char c) {
    return isspace((unsigned char)c) && (unsigned char)c < 0x80;
}

static uint32_t oracle_tokenize(const char *t, uint32_t len, uint32_t *st, uint32_t *ln) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < len;) {
        if (c_isspace(t[i])) {
            i++;
            continue;
        }
        uint32_t s = i;
        while (i < len && !c_isspace(t[i]))
            i++;
        st[n] = s;
        ln[n] = i - s;
        n++;
    }
    return n;
}

/* ---- tokenize_ws ---- */

/* When set, check_tokenize runs tokenize_set with it instead of tokenize_ws. */
static const struct sp_byteset *cur_set;

static uint32_t run_tokenize(const struct sp_kernels *k, const char *text, uint32_t len,
                             uint32_t *st, uint32_t *ln, uint32_t max_words, uint32_t *consumed) {
    return cur_set != NULL ? k->tokenize_set(text, len, cur_set, st, ln, max_words, consumed)
                           : k->tokenize_ws(text, len, st, ln, max_words, consumed);
}

/*
 * Run scalar and every variant on text[0, len) with room for max_words;
 * compare everything. Returns the scalar count (outputs in ref_start/ref_len)
 * and its *consumed.
 */
static uint32_t check_tokenize(const char *text, uint32_t len, uint32_t max_words,
                               uint32_t *consumed_out, const char *what) {
    uint32_t consumed = 0xdeadbeef;
    uint32_t n = run_tokenize(&sp_kernels_scalar, text, len, out_starts(max_words),
                              out_lens(max_words), max_words, &consumed);
    memcpy(ref_start, out_starts(max_words), n * sizeof(uint32_t));
    memcpy(ref_len, out_lens(max_words), n * sizeof(uint32_t));
    if (n > max_words || consumed > len)
        fail_msg("scalar %s: len %u max %u: count %u consumed %u", what, len, max_words, n,
                 consumed);
    if (n == max_words) {
        uint32_t end = n == 0 ? 0 : ref_start[n - 1] + ref_len[n - 1];
        if (consumed != end)
            fail_msg("scalar %s: full output must stop at the last word's end", what);
    } else if (consumed != len) {
        fail_msg("scalar %s: consumed %u != len %u", what, consumed, len);
    }
    for (size_t v = 0; v < variant_count; v++) {
        uint32_t *st = out_starts(max_words);
        uint32_t *ln = out_lens(max_words);
        uint32_t vc = 0xdeadbeef;
        uint32_t vn = run_tokenize(variants[v], text, len, st, ln, max_words, &vc);
        if (vn != n || vc != consumed)
            fail_msg("%s %s: len %u max %u: count %u/%u consumed %u/%u (text at %p)",
                     variants[v]->isa, what, len, max_words, vn, n, vc, consumed,
                     (const void *)text);
        for (uint32_t i = 0; i < n; i++) {
            if (st[i] != ref_start[i] || ln[i] != ref_len[i])
                fail_msg("%s %s: len %u max %u: word %u is (%u,%u), scalar (%u,%u)",
                         variants[v]->isa, what, len, max_words, i, st[i], ln[i], ref_start[i],
                         ref_len[i]);
        }
    }
    *consumed_out = consumed;
    return n;
}

/* Full tokenize of the text, also against the oracle. */
static uint32_t check_tokenize_full(const char *text, uint32_t len, const char *what) {
    uint32_t consumed;
    uint32_t n = check_tokenize(text, len, len / 2 + 1, &consumed, what);
    uint32_t on = oracle_tokenize(text, len, acc_start, acc_len);

    assert_int_equal(n, on);
    assert_int_equal(consumed, len);
    assert_memory_equal(ref_start, acc_start, n * sizeof(uint32_t));
    assert_memory_equal(ref_len, acc_len, n * sizeof(uint32_t));
    return n;
}

static void test_tokenize_small_all_offsets(void **state) {
    (void)state;
    for (uint32_t len = 0; len <= 3 * 64 + 1; len++) {
        for (int off = -1; off < 64; off++) {
            gen_words(len, 1 + rnd_below(3), 3 + rnd_below(10), 1, 1 + rnd_below(4));
            check_tokenize_full(place(len, off), len, "words");
            gen_bytes(len, rnd_below(101));
            check_tokenize_full(place(len, off), len, "bytes");
        }
    }
}

static void test_tokenize_uniform(void **state) {
    (void)state;
    static const uint32_t lens[] = {0,   1,   2,   31,  32,  33,  63,   64,  65,
                                    127, 128, 129, 191, 192, 193, 4096, 4097};
    for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
        uint32_t len = lens[l];
        for (int off = -1; off < 3; off++) {
            /* every whitespace character alone, then mixed */
            for (size_t c = 0; c < sizeof ws_chars; c++) {
                memset(src, ws_chars[c], len);
                assert_int_equal(check_tokenize_full(place(len, off), len, "all-ws"), 0);
            }
            for (uint32_t i = 0; i < len; i++)
                src[i] = ws_chars[i % sizeof ws_chars];
            assert_int_equal(check_tokenize_full(place(len, off), len, "ws-mix"), 0);
            /* no whitespace: one word, including NUL and high bytes */
            for (uint32_t i = 0; i < len; i++)
                src[i] = (char)(0x80 + i % 128);
            assert_int_equal(check_tokenize_full(place(len, off), len, "high"), len ? 1 : 0);
            memset(src, 0, len);
            assert_int_equal(check_tokenize_full(place(len, off), len, "nul"), len ? 1 : 0);
            memset(src, 'x', len);
            assert_int_equal(check_tokenize_full(place(len, off), len, "x"), len ? 1 : 0);
            /* single-byte words: the densest case (32 words per 64 bytes) */
            for (uint32_t i = 0; i < len; i++)
                src[i] = (i % 2) ? rnd_ws() : rnd_word_byte();
            assert_int_equal(check_tokenize_full(place(len, off), len, "dense"), (len + 1) / 2);
            for (uint32_t i = 0; i < len; i++)
                src[i] = (i % 2) ? rnd_word_byte() : rnd_ws();
            assert_int_equal(check_tokenize_full(place(len, off), len, "dense2"), len / 2);
        }
    }
    /* bytes next to the whitespace codes are not whitespace */
    static const char near[] = {'\b',       0x0e,       0x1f,       '!',
                                0x00,       (char)0x7f, (char)0x80, (char)0x85,
                                (char)0xa0, (char)0x89, (char)0x8a, (char)0xff};
    for (uint32_t i = 0; i < 200; i++)
        src[i] = (i % 3 == 2) ? ' ' : near[rnd_below(sizeof near)];
    check_tokenize_full(place(200, -1), 200, "near-ws");
}

/* Resume loop: tokenizing with room for m at a time must give the full result. */
static void resume_tokenize(const char *text, uint32_t len, uint32_t m, uint32_t total) {
    uint32_t done = 0;
    uint32_t pos = 0;

    while (pos < len) {
        uint32_t consumed;
        uint32_t n = check_tokenize(text + pos, len - pos, m, &consumed, "resume");
        for (uint32_t i = 0; i < n; i++) {
            if (done + i >= total)
                fail_msg("resume with room %u: more words than the full result", m);
            assert_int_equal(ref_start[i] + pos, acc_start[done + i]);
            assert_int_equal(ref_len[i], acc_len[done + i]);
        }
        done += n;
        assert_true(consumed > 0 || n == 0);
        if (consumed == 0)
            break;
        pos += consumed;
    }
    assert_int_equal(pos, len);
    assert_int_equal(done, total);
}

static void test_tokenize_early_stop(void **state) {
    (void)state;
    for (int iter = 0; iter < 300; iter++) {
        uint32_t len = rnd_below(iter < 200 ? 200 : 700);
        if (iter % 3 == 0)
            gen_words(len, 1, 1 + rnd_below(12), 1, 1 + rnd_below(3));
        else
            gen_bytes(len, rnd_below(101));
        const char *text = place(len, iter % 2 ? -1 : (int)rnd_below(64));
        uint32_t consumed;
        uint32_t total = oracle_tokenize(text, len, acc_start, acc_len);
        uint32_t *full_start = malloc((total + 1) * sizeof(uint32_t));
        uint32_t *full_len = malloc((total + 1) * sizeof(uint32_t));
        assert_non_null(full_start);
        assert_non_null(full_len);
        memcpy(full_start, acc_start, total * sizeof(uint32_t));
        memcpy(full_len, acc_len, total * sizeof(uint32_t));
        /* every possible count, and one more */
        for (uint32_t m = 0; m <= total + 1; m++) {
            uint32_t n = check_tokenize(text, len, m, &consumed, "max_words");
            assert_int_equal(n, m < total ? m : total);
            assert_memory_equal(ref_start, full_start, n * sizeof(uint32_t));
            if (m >= 1) {
                memcpy(acc_start, full_start, total * sizeof(uint32_t));
                memcpy(acc_len, full_len, total * sizeof(uint32_t));
                resume_tokenize(text, len, m, total);
            }
        }
        free(full_start);
        free(full_len);
    }
}

/* ---- tokenize_set ---- */

/* Words of text[0, len) separated by runs of bytes with member[b] set. */
static uint32_t oracle_split(const char *text, uint32_t len, const bool *member, uint32_t *st,
                             uint32_t *ln) {
    uint32_t n = 0, i = 0;
    while (i < len) {
        while (i < len && member[(unsigned char)text[i]])
            i++;
        if (i == len)
            break;
        st[n] = i;
        while (i < len && !member[(unsigned char)text[i]])
            i++;
        ln[n] = i - st[n];
        n++;
    }
    return n;
}

/* Every ISA against scalar and the oracle, whole and with early stops resumed. */
static void check_set(const char *text, uint32_t len, const bool *member, const char *what) {
    uint32_t consumed;
    uint32_t n = check_tokenize(text, len, len / 2 + 1, &consumed, what);
    uint32_t on = oracle_split(text, len, member, acc_start, acc_len);
    assert_int_equal(n, on);
    assert_int_equal(consumed, len);
    assert_memory_equal(ref_start, acc_start, n * sizeof(uint32_t));
    assert_memory_equal(ref_len, acc_len, n * sizeof(uint32_t));
    for (uint32_t m = 1; m <= 3 && n > 0; m++) { /* resume in steps of m words */
        uint32_t off = 0, got = 0;
        while (off < len) {
            uint32_t c;
            uint32_t k = check_tokenize(text + off, len - off, m, &c, what);
            for (uint32_t j = 0; j < k; j++) {
                assert_true(got < on);
                assert_int_equal(off + ref_start[j], acc_start[got]);
                assert_int_equal(ref_len[j], acc_len[got]);
                got++;
            }
            if (k == 0)
                break;
            off += c;
        }
        assert_int_equal(got, on);
    }
}

static void test_tokenize_set(void **state) {
    (void)state;
    static const char *const fixed[] = {",", ",; ", "\t", "", "a"};
    for (int s = 0; s < 40; s++) {
        char delims[256];
        uint32_t nd = 0;
        if (s < 5) {
            nd = (uint32_t)strlen(fixed[s]);
            memcpy(delims, fixed[s], nd);
        } else if (s == 5) { /* NUL and high bytes */
            delims[nd++] = 0;
            delims[nd++] = (char)0x80;
            delims[nd++] = (char)0xff;
            delims[nd++] = (char)0x8f;
        } else if (s == 6) { /* every byte: no words */
            for (uint32_t b = 0; b < 256; b++)
                delims[nd++] = (char)b;
        } else {
            nd = 1 + rnd_below(s < 20 ? 6 : 60);
            for (uint32_t i = 0; i < nd; i++)
                delims[i] = (char)rnd_below(256);
        }
        struct sp_byteset set;
        sp_byteset_init(&set, delims, nd);
        bool member[256] = {false};
        for (uint32_t i = 0; i < nd; i++)
            member[(unsigned char)delims[i]] = true;
        cur_set = &set;
        static const uint32_t lens[] = {0, 1, 2, 31, 63, 64, 65, 127, 128, 129, 200, 4097};
        for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
            uint32_t len = lens[l];
            for (int off = -1; off < 3; off++) {
                uint32_t pct = rnd_below(101);
                for (uint32_t i = 0; i < len; i++) {
                    if (nd > 0 && rnd_below(100) < pct)
                        src[i] = delims[rnd_below(nd)];
                    else
                        src[i] = (char)rnd_below(256);
                }
                check_set(place(len, off), len, member, "set");
            }
        }
        cur_set = NULL;
    }
    /* The whitespace set gives tokenize_ws's words. */
    struct sp_byteset ws;
    sp_byteset_init(&ws, ws_chars, sizeof ws_chars);
    for (int iter = 0; iter < 50; iter++) {
        uint32_t len = rnd_below(700);
        gen_bytes(len, rnd_below(101));
        const char *text = place(len, iter % 2 ? -1 : (int)rnd_below(64));
        uint32_t c1, c2;
        uint32_t n1 = sp_kernels_scalar.tokenize_ws(text, len, ref_start, ref_len, len + 1, &c1);
        uint32_t n2 =
            sp_kernels_scalar.tokenize_set(text, len, &ws, acc_start, acc_len, len + 1, &c2);
        assert_int_equal(n1, n2);
        assert_int_equal(c1, c2);
        assert_memory_equal(ref_start, acc_start, n1 * sizeof(uint32_t));
        assert_memory_equal(ref_len, acc_len, n1 * sizeof(uint32_t));
    }
}

static void test_tokenize_large(void **state) {
    (void)state;
    /* long texts: the unrolled emission paths, then room running out */
    static const uint32_t lens[] = {MAX_TEXT, MAX_TEXT - 1, 100003, 65536};
    for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
        uint32_t len = lens[l];
        uint32_t consumed;
        gen_words(len, 1 + (uint32_t)l, 3 + 3 * (uint32_t)l, 1, 1 + (uint32_t)l);
        const char *text = place(len, l % 2 ? -1 : 7);
        uint32_t total = check_tokenize_full(text, len, "large");
        uint32_t stops[] = {total - 1, total - 63, total - 64, total - 65, total / 2, 100, 1};
        for (size_t s = 0; s < sizeof stops / sizeof stops[0]; s++) {
            uint32_t n = check_tokenize(text, len, stops[s], &consumed, "large-stop");
            assert_int_equal(n, stops[s]);
        }
    }
}

/* ---- find_newlines ---- */

static uint32_t check_newlines(const char *text, uint32_t len, uint32_t max_pos,
                               uint32_t *consumed_out, const char *what) {
    uint32_t consumed = 0xdeadbeef;
    uint32_t *out = out_starts(max_pos);
    uint32_t n = sp_kernels_scalar.find_newlines(text, len, out, max_pos, &consumed);
    memcpy(ref_start, out, n * sizeof(uint32_t));
    if (n > max_pos || consumed > len)
        fail_msg("scalar %s: bad count/consumed", what);
    if (n == max_pos) {
        if (consumed != (n == 0 ? 0 : ref_start[n - 1] + 1))
            fail_msg("scalar %s: full output must stop after the last newline", what);
    } else if (consumed != len) {
        fail_msg("scalar %s: consumed %u != len %u", what, consumed, len);
    }
    for (size_t v = 0; v < variant_count; v++) {
        uint32_t vc = 0xdeadbeef;
        uint32_t vn = variants[v]->find_newlines(text, len, out, max_pos, &vc);
        if (vn != n || vc != consumed)
            fail_msg("%s %s: len %u max %u: count %u/%u consumed %u/%u", variants[v]->isa, what,
                     len, max_pos, vn, n, vc, consumed);
        for (uint32_t i = 0; i < n; i++) {
            if (out[i] != ref_start[i])
                fail_msg("%s %s: len %u: newline %u at %u, scalar %u", variants[v]->isa, what, len,
                         i, out[i], ref_start[i]);
        }
    }
    *consumed_out = consumed;
    return n;
}

static uint32_t check_newlines_full(const char *text, uint32_t len, const char *what) {
    uint32_t consumed;
    uint32_t n = check_newlines(text, len, len + 1, &consumed, what);
    uint32_t on = 0;
    for (uint32_t i = 0; i < len; i++) {
        if (text[i] == '\n') {
            assert_true(on < n);
            assert_int_equal(ref_start[on], i);
            on++;
        }
    }
    assert_int_equal(n, on);
    assert_int_equal(consumed, len);
    return n;
}

static void gen_lines(uint32_t len, uint32_t pct) {
    for (uint32_t i = 0; i < len; i++)
        src[i] = rnd_below(100) < pct ? '\n' : (char)rnd();
}

static void test_newlines_small_all_offsets(void **state) {
    (void)state;
    for (uint32_t len = 0; len <= 3 * 64 + 1; len++) {
        for (int off = -1; off < 64; off++) {
            gen_lines(len, rnd_below(101));
            check_newlines_full(place(len, off), len, "bytes");
        }
        memset(src, '\n', len);
        assert_int_equal(check_newlines_full(place(len, -1), len, "all"), len);
        memset(src, 0, len);
        assert_int_equal(check_newlines_full(place(len, -1), len, "none"), 0);
        for (uint32_t i = 0; i < len; i++)
            src[i] = (char)(0x80 | i); /* 0x8a shares '\n''s low bits */
        assert_int_equal(check_newlines_full(place(len, 0), len, "high"), 0);
    }
}

static void test_newlines_early_stop(void **state) {
    (void)state;
    for (int iter = 0; iter < 300; iter++) {
        uint32_t len = rnd_below(iter < 200 ? 200 : 700);
        gen_lines(len, rnd_below(60));
        const char *text = place(len, iter % 2 ? -1 : (int)rnd_below(64));
        uint32_t total = check_newlines_full(text, len, "full");
        memcpy(acc_start, ref_start, total * sizeof(uint32_t));
        for (uint32_t m = 0; m <= total + 1; m++) {
            uint32_t consumed;
            uint32_t n = check_newlines(text, len, m, &consumed, "max_pos");
            assert_int_equal(n, m < total ? m : total);
            assert_memory_equal(ref_start, acc_start, n * sizeof(uint32_t));
            if (m == 0)
                continue;
            /* resume loop */
            uint32_t pos = 0;
            uint32_t done = 0;
            while (pos < len) {
                n = check_newlines(text + pos, len - pos, m, &consumed, "resume");
                for (uint32_t i = 0; i < n; i++)
                    assert_int_equal(ref_start[i] + pos, acc_start[done + i]);
                done += n;
                assert_true(consumed > 0);
                pos += consumed;
            }
            assert_int_equal(done, total);
        }
    }
}

static void test_newlines_large(void **state) {
    (void)state;
    uint32_t consumed;
    for (uint32_t pct = 0; pct <= 100; pct += 25) {
        gen_lines(MAX_TEXT, pct);
        const char *text = place(MAX_TEXT, pct % 50 ? 3 : -1);
        uint32_t total = check_newlines_full(text, MAX_TEXT, "large");
        if (total > 70) {
            assert_int_equal(check_newlines(text, MAX_TEXT, total - 65, &consumed, "l"),
                             total - 65);
            assert_int_equal(check_newlines(text, MAX_TEXT, total - 1, &consumed, "l"), total - 1);
        }
    }
}

/* ---- make_views ---- */

static void check_view(const struct spate_string *s, const char *data, uint32_t len) {
    assert_int_equal(s->len, len);
    for (uint32_t i = 0; i < 4; i++)
        assert_int_equal(s->prefix[i], i < len ? data[i] : 0);
    if (len > SPATE_STRING_INLINE) {
        assert_ptr_equal(s->u.ptr, data);
    } else {
        for (uint32_t i = 0; i < 8; i++)
            assert_int_equal(s->u.inlined[i], i + 4 < len ? data[i + 4] : 0);
    }
    assert_memory_equal(sp_str_data(s), data, len);
}

static void test_make_views(void **state) {
    (void)state;
    const struct sp_kernels *tables[5] = {&sp_kernels_scalar};
    size_t tc = 1;
    for (size_t v = 0; v < variant_count; v++)
        tables[tc++] = variants[v];

    uint32_t len = 4000;
    gen_bytes(len, 0);
    const char *text = place(len, -1);
    uint32_t *st = acc_start;
    uint32_t *ln = acc_len;
    uint32_t n = 0;
    /* every length 0..40 at the very end of the text, then random ones */
    for (uint32_t l = 0; l <= 40; l++) {
        st[n] = len - l;
        ln[n++] = l;
    }
    while (n < 1000) {
        uint32_t l = rnd_below(30);
        st[n] = rnd_below(len - l + 1);
        ln[n++] = l;
    }
    struct spate_string *views = malloc(n * sizeof *views);
    struct spate_string *ref = malloc(n * sizeof *ref);
    assert_non_null(views);
    assert_non_null(ref);
    for (size_t t = 0; t < tc; t++) {
        for (uint32_t count = 0; count <= n; count += count < 70 ? 1 : 311) {
            memset(views, 0xa5, n * sizeof *views);
            tables[t]->make_views(text, st, ln, count, views);
            for (uint32_t i = 0; i < count; i++)
                check_view(&views[i], text + st[i], ln[i]);
            for (uint32_t i = count; i < n; i++)
                assert_int_equal(views[i].len, 0xa5a5a5a5u); /* nothing written past n */
        }
        /* bit for bit, padding included */
        tables[t]->make_views(text, st, ln, n, views);
        if (t == 0)
            memcpy(ref, views, n * sizeof *views);
        assert_memory_equal(views, ref, n * sizeof *views);
    }
    free(views);
    free(ref);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokenize_small_all_offsets),
        cmocka_unit_test(test_tokenize_uniform),
        cmocka_unit_test(test_tokenize_early_stop),
        cmocka_unit_test(test_tokenize_large),
        cmocka_unit_test(test_tokenize_set),
        cmocka_unit_test(test_newlines_small_all_offsets),
        cmocka_unit_test(test_newlines_early_stop),
        cmocka_unit_test(test_newlines_large),
        cmocka_unit_test(test_make_views),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
