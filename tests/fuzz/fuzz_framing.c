/*
 * tests/fuzz/fuzz_framing.c - line framing (io/framing.c) against a
 * reference that sees the whole input at once. The first byte picks
 * max_line, the second how the rest is cut into pieces; the framer must
 * emit exactly the lines of the reference (over-long ones counted and
 * skipped, the unterminated tail emitted with a '\n' at the end), whatever
 * the piece boundaries. Any difference aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/framing.h"

struct out {
    char buf[1 << 17];
    size_t len;
    uint64_t lines;
};

static int collect(void *user, const char *a, size_t alen, const char *b, size_t blen,
                   uint32_t lines) {
    struct out *o = user;
    if (o->len + alen + blen > sizeof(o->buf) || alen + blen == 0 ||
        (blen > 0 ? b[blen - 1] : a[alen - 1]) != '\n')
        abort();
    memcpy(o->buf + o->len, a, alen);
    memcpy(o->buf + o->len + alen, b, blen);
    /* A run of lines: its count must be its number of '\n'. */
    uint32_t nl = 0;
    for (size_t i = 0; i < alen + blen; i++)
        nl += o->buf[o->len + i] == '\n';
    if (nl != lines || lines == 0)
        abort();
    o->len += alen + blen;
    o->lines += lines;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2 || size > 60000)
        return 0;
    uint32_t max_line = 1 + data[0] % 64;
    uint32_t cut = data[1];
    const char *text = (const char *)data + 2;
    size_t n = size - 2;

    /* Reference: split at '\n' over the whole input. */
    static struct out want, got;
    want.len = want.lines = 0;
    uint64_t want_bad = 0;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        bool end = i == n;
        if (!end && text[i] != '\n')
            continue;
        size_t len = i - start;
        if (end && len == 0)
            break;
        if (len > max_line) {
            want_bad++;
        } else {
            memcpy(want.buf + want.len, text + start, len);
            want.buf[want.len + len] = '\n';
            want.len += len + 1;
            want.lines++;
        }
        start = i + 1;
    }

    /* The framer, fed in pieces of 1..(cut % 17 + 1) bytes, or all at once when cut is 0. */
    got.len = got.lines = 0;
    char carry[65 + 1];
    _Atomic uint64_t bad = 0;
    struct sp_line_framer f;
    sp_framer_init(&f, carry, max_line, &bad, collect, &got);
    size_t at = 0, step = 0;
    while (at < n) {
        size_t piece = cut == 0 ? n : 1 + (step++ * 7 + cut) % (cut % 17 + 1);
        if (piece > n - at)
            piece = n - at;
        if (sp_framer_consume(&f, text + at, piece) != 0)
            abort();
        at += piece;
    }
    if (sp_framer_finish(&f) != 0)
        abort();
    if (got.lines != want.lines || got.len != want.len || memcmp(got.buf, want.buf, got.len) != 0 ||
        atomic_load(&bad) != want_bad) {
        fprintf(stderr,
                "framing mismatch: max_line %u cut %u: %llu lines/%llu bad, want %llu/%llu\n",
                max_line, cut, (unsigned long long)got.lines, (unsigned long long)atomic_load(&bad),
                (unsigned long long)want.lines, (unsigned long long)want_bad);
        abort();
    }
    return 0;
}
