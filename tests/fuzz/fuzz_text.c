/*
 * tests/fuzz/fuzz_text.c - the text kernels (tokenize_ws, find_newlines,
 * make_views) of every ISA this CPU runs, against a plain reference written
 * here, with output capacities taken from the input so that early stops
 * and resumption are exercised. Any difference aborts.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool ws(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

enum { MAXW = 70000 };
static uint32_t ref_s[MAXW], ref_l[MAXW], got_s[MAXW], got_l[MAXW];

static void check_isa(const struct sp_kernels *k, const char *text, uint32_t n, uint32_t cap,
                      uint32_t nref) {
    /* Tokenize with at most cap words a call, resuming where each call stopped. */
    uint32_t off = 0, total = 0;
    while (off < n) {
        uint32_t consumed = 0, w = k->tokenize_ws(text + off, n - off, got_s + total, got_l + total,
                                                  cap, &consumed);
        if (w > cap || consumed > n - off || (w == 0 && consumed == 0))
            abort();
        for (uint32_t i = 0; i < w; i++)
            got_s[total + i] += off;
        total += w;
        off += consumed;
    }
    if (total != nref || memcmp(got_s, ref_s, total * 4) != 0 || memcmp(got_l, ref_l, total * 4))
        abort();
    /* Views of the words: every byte and the zero padding. */
    static struct spate_string views[MAXW];
    k->make_views(text, ref_s, ref_l, nref, views);
    for (uint32_t i = 0; i < nref; i++) {
        if (views[i].len != ref_l[i] || memcmp(sp_str_data(&views[i]), text + ref_s[i], ref_l[i]))
            abort();
        if (ref_l[i] <= SPATE_STRING_INLINE)
            for (uint32_t b = ref_l[i]; b < SPATE_STRING_INLINE; b++)
                if (((const char *)&views[i])[4 + b] != 0)
                    abort();
    }
    /* Newlines, with the same capacity. */
    uint32_t nl = 0;
    for (uint32_t i = 0; i < n; i++)
        nl += text[i] == '\n';
    off = 0;
    uint32_t found = 0;
    while (off < n) {
        uint32_t consumed = 0, m = k->find_newlines(text + off, n - off, got_s, cap, &consumed);
        if (m > cap || consumed > n - off || (m == 0 && consumed != n - off))
            abort();
        for (uint32_t i = 0; i < m; i++)
            if (text[off + got_s[i]] != '\n')
                abort();
        found += m;
        if (m == 0)
            break;
        off += consumed;
    }
    if (found != nl)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 60000)
        return 0;
    uint32_t cap = 1 + data[0] % 40;
    /* A private copy: kernels must not read past n (ASan sees the heap bounds). */
    uint32_t n = (uint32_t)(size - 1);
    char *text = malloc(n ? n : 1);
    if (text == NULL)
        return 0;
    memcpy(text, data + 1, n);
    uint32_t nref = 0;
    for (uint32_t i = 0; i < n;) {
        while (i < n && ws(text[i]))
            i++;
        uint32_t s = i;
        while (i < n && !ws(text[i]))
            i++;
        if (i > s) {
            ref_s[nref] = s;
            ref_l[nref++] = i - s;
        }
    }
    static const char *const isas[] = {"scalar", "avx2", "avx512"};
    for (int i = 0; i < 3; i++) {
        const struct sp_kernels *k = sp_kernels_select(isas[i]);
        if (k != NULL)
            check_isa(k, text, n, cap, nref);
    }
    free(text);
    return 0;
}
