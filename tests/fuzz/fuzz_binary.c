/*
 * tests/fuzz/fuzz_binary.c - binary records: record framing (io/framing.c in
 * record mode), parse_binary's chunk decoder and the decode kernels.
 *
 * The first bytes pick a layout (1 to 8 fields of every type and width,
 * packed or at random offsets, optional padding) and how the rest is cut.
 * 1. The rest goes through a record framer in pieces: it must emit exactly
 *    the whole records of the input, in runs of whole records no longer than
 *    max_line + 1 bytes, and count one torn record when a remainder is left.
 * 2. The rest is cut into values (mostly of the record size, some shorter or
 *    longer) that go through sp_binary_parse_chunk once per ISA this CPU
 *    runs: every table must give the same rows byte for byte and the same
 *    malformed count, and rows + malformed must add up to the values.
 * 3. decode_fixed64 and its strided form of every ISA against a byte-by-byte
 *    decode at every offset a record allows.
 * Any difference aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/binary.h"
#include "engine/mem.h"
#include "engine/region.h"
#include "io/framing.h"
#include "kernels/kernels.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- 1. Framing ---- */

struct frames {
    const uint8_t *want; /* the input: emitted bytes must be its prefix */
    size_t len;
    uint64_t records;
    uint32_t rb, max_run;
};

static int collect(void *user, const char *a, size_t alen, const char *b, size_t blen,
                   uint32_t records) {
    struct frames *f = user;
    size_t n = alen + blen;
    if (n == 0 || n % f->rb != 0 || n / f->rb != records || n > f->max_run ||
        memcmp(f->want + f->len, a, alen) != 0 || memcmp(f->want + f->len + alen, b, blen) != 0)
        abort();
    f->len += n;
    f->records += records;
    return 0;
}

static void check_framing(const uint8_t *p, size_t n, uint32_t rb, uint32_t extra, uint8_t cut) {
    static char carry[4096 + 64];
    uint32_t max_line = rb + extra;
    _Atomic uint64_t malformed = 0;
    struct frames f = {p, 0, 0, rb, max_line + 1};
    struct sp_line_framer fr;
    sp_framer_init_records(&fr, carry, rb, max_line, &malformed, collect, &f);
    uint64_t x = cut;
    for (size_t at = 0; at < n;) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        size_t piece = cut == 0 ? n - at : 1 + (x >> 33) % (2u * cut + 1);
        if (piece > n - at)
            piece = n - at;
        if (sp_framer_consume(&fr, (const char *)p + at, piece) != 0)
            abort();
        at += piece;
    }
    if (sp_framer_finish(&fr) != 0)
        abort();
    if (f.records != n / rb || f.len != n / rb * rb || malformed != (n % rb != 0))
        abort();
}

/* ---- 2. Decoding ---- */

static const char *const names[8] = {"f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7"};

/* The rows of out as bytes: values by type, string bytes with their length. */
static size_t dump(const struct sp_chunk *out, const struct sp_schema *s, char *buf, size_t cap) {
    size_t at = 0;
    for (uint32_t r = 0; r < out->view.rows; r++)
        for (uint32_t c = 0; c < s->ncols; c++) {
            const struct spate_column_view *cv = &out->cols[c];
            if (at + 64 > cap || cv->validity != NULL)
                abort(); /* no nulls ever come out of parse_binary */
            switch (s->cols[c].type) {
            case SPATE_TYPE_BOOL:
                buf[at++] = (char)((const uint8_t *)cv->data)[r];
                break;
            case SPATE_TYPE_STRING: {
                const struct spate_string *v = &((const struct spate_string *)cv->data)[r];
                uint32_t len = v->len < 40 ? v->len : 40;
                memcpy(buf + at, &v->len, 4);
                memcpy(buf + at + 4, sp_str_data(v), len);
                at += 4 + len;
                break;
            }
            default:
                memcpy(buf + at, (const char *)cv->data + 8 * r, 8);
                at += 8;
                break;
            }
        }
    return at;
}

static void check_decode(const uint8_t *p, size_t n, const struct spate_column_def *defs,
                         uint32_t nf, const struct sp_binary_layout *lay, uint32_t rb) {
    static struct spate_dstream node;
    static struct sp_schema value_schema;
    static bool ready;
    if (!ready) {
        struct spate_column_def vc[] = {{"value", SPATE_TYPE_STRING}};
        if (sp_schema_set(&value_schema, vc, 1, NULL) != SPATE_OK)
            abort();
        node.kind = SP_NODE_PARSE_BINARY;
        node.u.bin.dead_fd = -1;
        ready = true;
    }
    if (sp_schema_set(&node.schema, defs, nf, NULL) != SPATE_OK)
        abort();
    node.u.bin.col = 0;
    node.u.bin.record_bytes = rb;
    node.u.bin.where = (struct sp_binary_layout *)(uintptr_t)lay;

    struct sp_region r;
    sp_region_init(&r, SP_MEM_DEFAULT_ARENA, 1 << 16);
    struct sp_chunk *in = sp_chunk_new(&r, &value_schema);
    if (in == NULL)
        abort();
    /* Values: mostly whole records back to back; a byte of the input picks a wrong length
     * now and then. */
    struct spate_string *vals = sp_col_data(in, 0);
    uint32_t rows = 0;
    for (size_t at = 0; at < n && rows < SPATE_CHUNK_ROWS; rows++) {
        uint32_t len = rb;
        if (p[at] == 0xa5)
            len = (uint32_t)(p[(at + 1) % n] % (2 * rb + 1));
        if (len > n - at)
            len = (uint32_t)(n - at);
        sp_string_view(&vals[rows], (const char *)p + at, len);
        at += len ? len : 1;
    }
    in->view.rows = rows;

    static char ref[1 << 20], got[1 << 20];
    size_t ref_len = 0;
    uint64_t ref_bad = 0, ref_rows = 0;
    for (const char *const *isa = sp_kernels_built(); *isa != NULL; isa++) {
        const struct sp_kernels *k = sp_kernels_select(*isa);
        if (k == NULL)
            continue;
        struct sp_binary_scratch sc;
        struct sp_chunk *out = sp_chunk_new(&r, &node.schema);
        if (out == NULL || !sp_binary_scratch_init(&sc, &r))
            abort();
        uint64_t before = atomic_load(&node.malformed);
        if (!sp_binary_parse_chunk(&node, k, &sc, &r, in, out))
            abort();
        uint64_t bad = atomic_load(&node.malformed) - before;
        if (out->view.rows + bad != rows)
            abort();
        size_t len = dump(out, &node.schema, k == &sp_kernels_scalar ? ref : got, sizeof(ref));
        if (k == &sp_kernels_scalar) {
            ref_len = len;
            ref_bad = bad;
            ref_rows = out->view.rows;
        } else if (len != ref_len || bad != ref_bad || out->view.rows != ref_rows ||
                   memcmp(ref, got, len) != 0) {
            abort();
        }
    }
    sp_region_destroy(&r);
}

/* ---- 3. Kernels ---- */

static uint64_t naive_le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int b = 7; b >= 0; b--)
        v = v << 8 | p[b];
    return v;
}

static void check_kernels(const uint8_t *p, size_t n, uint32_t rb) {
    if (rb < 8 || n < rb)
        return;
    static const char *rec[SPATE_CHUNK_ROWS];
    static uint64_t want[SPATE_CHUNK_ROWS], got[SPATE_CHUNK_ROWS];
    uint32_t m = (uint32_t)(n / rb < SPATE_CHUNK_ROWS ? n / rb : SPATE_CHUNK_ROWS);
    for (uint32_t i = 0; i < m; i++) /* in reverse: not strided */
        rec[i] = (const char *)p + (size_t)(m - 1 - i) * rb;
    for (uint32_t off = 0; off + 8 <= rb; off++) {
        for (uint32_t i = 0; i < m; i++)
            want[i] = naive_le64((const uint8_t *)rec[i] + off);
        for (const char *const *isa = sp_kernels_built(); *isa != NULL; isa++) {
            const struct sp_kernels *k = sp_kernels_select(*isa);
            if (k == NULL)
                continue;
            k->decode_fixed64(rec, off, m, got);
            if (memcmp(want, got, 8 * (size_t)m) != 0)
                abort();
            k->decode_fixed64_strided((const char *)p + off, rb, m, got);
            for (uint32_t i = 0; i < m; i++)
                if (got[i] != want[m - 1 - i])
                    abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 4)
        return 0;
    /* Layout: data[0] fields and packing, then two bytes per field (kind, offset). */
    uint32_t nf = 1 + data[0] % 8;
    bool packed = (data[0] & 0x80) != 0;
    size_t hdr = 2 + 2 * (size_t)nf + 1;
    if (size < hdr)
        return 0;
    struct spate_column_def defs[8];
    struct sp_binary_layout lay;
    uint32_t at = 0, end = 0;
    for (uint32_t c = 0; c < nf; c++) {
        uint8_t kind = data[1 + 2 * c], off = data[2 + 2 * c];
        static const enum spate_type types[] = {
            SPATE_TYPE_I64,  SPATE_TYPE_I64,       SPATE_TYPE_F64,   SPATE_TYPE_F64,
            SPATE_TYPE_BOOL, SPATE_TYPE_TIMESTAMP, SPATE_TYPE_STRING};
        static const uint32_t widths[] = {8, 4, 8, 4, 1, 8, 0};
        uint32_t t = kind % 7;
        uint32_t w = widths[t] ? widths[t] : 1u + (uint32_t)(kind >> 3) % 20u;
        defs[c].name = names[c];
        defs[c].type = types[t];
        lay.offset[c] = packed ? at : off % 32u;
        lay.width[c] = w;
        at = lay.offset[c] + w;
        end = at > end ? at : end;
    }
    uint32_t rb = end + data[1 + 2 * nf] % 4; /* padding */
    uint8_t cut = data[2 + 2 * nf];
    const uint8_t *p = data + hdr;
    size_t n = size - hdr;

    check_framing(p, n, rb, cut % 64, cut);
    check_decode(p, n, defs, nf, &lay, rb);
    check_kernels(p, n, rb);
    return 0;
}
