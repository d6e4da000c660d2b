/*
 * tests/fuzz/fuzz_csv.c - parse_csv's chunk parser and the field kernels.
 *
 * The input's lines (up to one chunk) go through sp_csv_parse_chunk with a
 * five-column schema (i64, f64, bool, timestamp, string) and a delimiter
 * taken from the first byte, once per ISA this CPU runs: every table must
 * give the same rows, byte for byte, and the same malformed count, and
 * good + malformed + blank lines must add up to the lines given. Then every
 * ','-separated field goes through parse_i64 and parse_f64 of every ISA
 * against the scalar reference. Any difference aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/csv.h"
#include "engine/mem.h"
#include "engine/region.h"
#include "kernels/kernels.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct spate_column_def cols[] = {{"id", SPATE_TYPE_I64},
                                               {"x", SPATE_TYPE_F64},
                                               {"ok", SPATE_TYPE_BOOL},
                                               {"t", SPATE_TYPE_TIMESTAMP},
                                               {"name", SPATE_TYPE_STRING}};

/* The rows of out as bytes: values, validity bits, string bytes. */
static size_t dump(const struct sp_chunk *out, char *buf, size_t cap) {
    size_t at = 0;
    for (uint32_t r = 0; r < out->view.rows; r++) {
        for (uint32_t c = 0; c < 5; c++) {
            const struct spate_column_view *cv = &out->cols[c];
            bool valid = cv->validity == NULL || ((cv->validity[r >> 6] >> (r & 63)) & 1);
            if (at + 64 > cap)
                return at;
            buf[at++] = valid ? 'v' : 'n';
            if (!valid)
                continue;
            if (c == 4) {
                const struct spate_string *s = &((const struct spate_string *)cv->data)[r];
                uint32_t len = s->len < 40 ? s->len : 40;
                memcpy(buf + at, sp_str_data(s), len);
                at += len;
            } else if (c == 2) {
                buf[at++] = (char)((const uint8_t *)cv->data)[r];
            } else {
                memcpy(buf + at, (const char *)cv->data + 8 * r, 8);
                at += 8;
            }
        }
    }
    return at;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0)
        return 0;
    static struct spate_dstream node;
    static struct sp_schema line_schema;
    static bool ready;
    if (!ready) {
        struct spate_column_def lc[] = {{"line", SPATE_TYPE_STRING}};
        if (sp_schema_set(&node.schema, cols, 5, NULL) != SPATE_OK ||
            sp_schema_set(&line_schema, lc, 1, NULL) != SPATE_OK)
            abort();
        node.kind = SP_NODE_PARSE_CSV;
        node.u.csv.dead_fd = -1;
        ready = true;
    }
    char delim = (char)data[0];
    if (delim == '"' || delim == '\n' || delim == '\r' || delim == '\0')
        delim = ',';
    node.u.csv.delimiter = delim;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;

    struct sp_region r;
    sp_region_init(&r, SP_MEM_DEFAULT_ARENA, 1 << 16);
    struct sp_chunk *in = sp_chunk_new(&r, &line_schema);
    if (in == NULL)
        abort();
    /* Lines, each a view into the input (no '\n'). */
    uint32_t lines = 0, blank = 0;
    struct spate_string *lv = sp_col_data(in, 0);
    for (size_t at = 0; at < len && lines < SPATE_CHUNK_ROWS;) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - text) : len;
        uint32_t l = (uint32_t)(end - at);
        memset(&lv[lines], 0, sizeof(lv[lines]));
        lv[lines].len = l;
        if (l <= SPATE_STRING_INLINE)
            memcpy(lv[lines].prefix, text + at, l);
        else {
            memcpy(lv[lines].prefix, text + at, 4);
            lv[lines].u.ptr = text + at;
        }
        blank += l == 0 || (l == 1 && text[at] == '\r');
        lines++;
        at = end + 1;
    }
    in->view.rows = lines;

    static char ref[1 << 20], got[1 << 20];
    size_t ref_len = 0;
    uint64_t ref_bad = 0, ref_rows = 0;
    for (const char *const *isa = sp_kernels_built(); *isa != NULL; isa++) {
        const struct sp_kernels *k = sp_kernels_select(*isa);
        if (k == NULL)
            continue;
        struct sp_csv_scratch sc;
        struct sp_chunk *out = sp_chunk_new(&r, &node.schema);
        if (out == NULL || !sp_csv_scratch_init(&sc, &r, 5))
            abort();
        uint64_t before = atomic_load(&node.malformed);
        if (!sp_csv_parse_chunk(&node, k, &sc, &r, in, out))
            abort();
        uint64_t bad = atomic_load(&node.malformed) - before;
        if (out->view.rows + bad + blank != lines)
            abort();
        size_t n = dump(out, k == &sp_kernels_scalar ? ref : got, sizeof(ref));
        if (k == &sp_kernels_scalar) {
            ref_len = n;
            ref_bad = bad;
            ref_rows = out->view.rows;
        } else if (n != ref_len || bad != ref_bad || out->view.rows != ref_rows ||
                   memcmp(ref, got, n) != 0) {
            abort();
        }
    }

    /* Every ','-field through the number kernels of every ISA. */
    static const char *fp[4096];
    static uint32_t fl[4096];
    uint32_t nf = 0;
    for (size_t at = 0; at <= len && nf < 4096;) {
        const char *c = memchr(text + at, ',', len - at);
        size_t end = c ? (size_t)(c - text) : len;
        fp[nf] = text + at;
        fl[nf++] = (uint32_t)(end - at);
        at = end + 1;
    }
    static int64_t ri[4096], gi[4096];
    static double rf[4096], gf[4096];
    static uint64_t rok[64], gok[64], rfok[64], gfok[64];
    uint32_t rb = sp_kernels_scalar.parse_i64(fp, fl, nf, ri, rok);
    uint32_t rfb = sp_kernels_scalar.parse_f64(fp, fl, nf, rf, rfok);
    for (const char *const *isa = sp_kernels_built(); *isa != NULL; isa++) {
        const struct sp_kernels *k = sp_kernels_select(*isa);
        if (k == NULL || k == &sp_kernels_scalar)
            continue;
        if (k->parse_i64(fp, fl, nf, gi, gok) != rb || memcmp(ri, gi, 8 * nf) != 0)
            abort();
        if (k->parse_f64(fp, fl, nf, gf, gfok) != rfb || memcmp(rf, gf, 8 * nf) != 0)
            abort();
        for (uint32_t i = 0; i < nf; i++)
            if (((rok[i >> 6] ^ gok[i >> 6]) >> (i & 63)) & 1 ||
                ((rfok[i >> 6] ^ gfok[i >> 6]) >> (i & 63)) & 1)
                abort();
    }
    sp_region_destroy(&r);
    return 0;
}
