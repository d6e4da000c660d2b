/*
 * engine/binary.c - parse_binary: fixed-width little-endian binary records of
 * a string column into typed columns.
 *
 * A chunk is decoded column at a time, as parse_csv parses one: the records
 * of the right length are gathered first (their bytes and their input row),
 * then each field goes through one pass over them: the 8-byte fields through
 * the decode_fixed64 kernels (strided when the records lie at a fixed
 * distance from each other, as records framed from one stream do in the
 * ring), the others through scalar loops that also check them (bool bytes,
 * timestamp range). Rows a field rejected are squeezed out of every column
 * at the end, so the output keeps the input's order. A record is malformed
 * as a whole: the wrong length or a field that cannot be read. Nothing valid
 * around it is lost.
 */
#include "engine/binary.h"
#include "engine/common.h"
#include "engine/context.h"
#include "engine/csv.h"
#include "engine/mem.h"
#include "kernels/binary/binary.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* ---- Definition ---- */

void spate_binary_opts_init(struct spate_binary_opts *opts) {
    if (opts == NULL)
        return;
    memset(opts, 0, sizeof(*opts));
}

/* The field's width in the record, or 0 when type and width do not go together. */
static uint32_t field_width(const struct spate_binary_field *f) {
    switch (f->type) {
    case SPATE_TYPE_I64:
    case SPATE_TYPE_F64:
        return f->width == 0 ? 8 : (f->width == 4 || f->width == 8 ? f->width : 0);
    case SPATE_TYPE_TIMESTAMP:
        return f->width == 0 || f->width == 8 ? 8 : 0;
    case SPATE_TYPE_BOOL:
        return f->width == 0 || f->width == 1 ? 1 : 0;
    case SPATE_TYPE_STRING:
        return f->width <= (1u << 30) ? f->width : 0;
    default:
        return 0;
    }
}

spate_dstream *spate_dstream_parse_binary(spate_dstream *ds, uint32_t col,
                                          const struct spate_binary_field *fields,
                                          uint32_t num_fields, const struct spate_binary_opts *opts,
                                          struct spate_error *err) {
    const char *what = "parse_binary";
    if (ds == NULL) {
        sp_error_set(err, EINVAL, "%s: the stream is NULL", what);
        return NULL;
    }
    if (sp_context_check_definable(ds->ctx, what, err) != SPATE_OK)
        return NULL;
    struct spate_binary_opts o;
    spate_binary_opts_init(&o);
    if (opts != NULL)
        o = *opts;
    if (col >= ds->schema.ncols || ds->schema.cols[col].type != SPATE_TYPE_STRING) {
        sp_error_set(err, EINVAL, "%s: column %u must exist and be a string (the record)", what,
                     col);
        return NULL;
    }
    if (fields == NULL || num_fields == 0 || num_fields > SP_MAX_COLUMNS) {
        sp_error_set(err, EINVAL, "%s: 1 to %u fields are needed", what, SP_MAX_COLUMNS);
        return NULL;
    }
    struct spate_column_def defs[SP_MAX_COLUMNS];
    struct sp_binary_layout lay;
    bool packed = true;
    for (uint32_t c = 0; c < num_fields; c++)
        packed = packed && fields[c].offset == 0;
    uint64_t at = 0, end = 0;
    for (uint32_t c = 0; c < num_fields; c++) {
        uint32_t w = field_width(&fields[c]);
        if (fields[c].name == NULL || fields[c].name[0] == '\0') {
            sp_error_set(err, EINVAL, "%s: field %u has no name", what, c);
            return NULL;
        }
        if (w == 0) {
            sp_error_set(err, EINVAL,
                         "%s: field %u: type %s cannot be %u bytes wide (i64 and f64: 4 or 8, "
                         "timestamp: 8, bool: 1, string: 1 or more)",
                         what, c, spate_type_name(fields[c].type), fields[c].width);
            return NULL;
        }
        uint64_t off = packed ? at : fields[c].offset;
        at = off + w;
        end = at > end ? at : end;
        lay.offset[c] = (uint32_t)off;
        lay.width[c] = w;
        defs[c].name = fields[c].name;
        defs[c].type = fields[c].type;
    }
    uint64_t rb = o.record_bytes != 0 ? o.record_bytes : end;
    if (end > rb || rb > (1u << 30)) {
        sp_error_set(err, EINVAL,
                     "%s: the fields end at byte %llu, past the record size %llu (at most 1 GiB)",
                     what, (unsigned long long)end, (unsigned long long)rb);
        return NULL;
    }
    if (sp_schema_no_lists(defs, num_fields, what, err) != SPATE_OK)
        return NULL;
    int fd;
    if (sp_dead_letter_open(o.dead_letter, what, &fd, err) != SPATE_OK)
        return NULL;
    struct sp_binary_layout *where =
        sp_mem_zalloc(SP_MEM_DEFAULT_ARENA, sizeof(struct sp_binary_layout), 64);
    spate_dstream *out =
        where != NULL ? sp_dstream_new(ds->ctx, SP_NODE_PARSE_BINARY, ds, err) : NULL;
    if (out == NULL) {
        if (where == NULL)
            sp_error_set(err, ENOMEM, "%s: out of memory", what);
        sp_mem_free(SP_MEM_DEFAULT_ARENA, where, sizeof(struct sp_binary_layout));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    *where = lay;
    out->u.bin.col = col;
    out->u.bin.record_bytes = (uint32_t)rb;
    out->u.bin.dead_fd = fd;
    out->u.bin.where = where;
    if (sp_schema_set(&out->schema, defs, num_fields, err) != SPATE_OK) {
        sp_dstream_free_node(out);
        sp_mem_free(SP_MEM_DEFAULT_ARENA, out, sizeof(*out));
        return NULL;
    }
    sp_context_add_node(ds->ctx, out);
    return out;
}

void sp_binary_free_node(struct spate_dstream *ds) {
    if (ds->u.bin.dead_fd >= 0) {
        close(ds->u.bin.dead_fd);
        ds->u.bin.dead_fd = -1;
    }
    if (ds->u.bin.where != NULL) {
        sp_mem_free(SP_MEM_DEFAULT_ARENA, ds->u.bin.where, sizeof(struct sp_binary_layout));
        ds->u.bin.where = NULL;
    }
}

/* ---- Decoding ---- */

bool sp_binary_scratch_init(struct sp_binary_scratch *sc, struct sp_region *r) {
    sc->rec = sp_region_alloc(r, sizeof(*sc->rec) * SPATE_CHUNK_ROWS, 64);
    sc->row = sp_region_alloc(r, sizeof(*sc->row) * SPATE_CHUNK_ROWS, 64);
    sc->bad = sp_region_alloc(r, SPATE_CHUNK_ROWS, 64);
    sc->inbad = sp_region_alloc(r, SPATE_CHUNK_ROWS, 64);
    sc->u64 = sp_region_alloc(r, sizeof(*sc->u64) * SPATE_CHUNK_ROWS, 64);
    return sc->rec && sc->row && sc->bad && sc->inbad && sc->u64;
}

/* The 4 bytes at p as a little-endian integer. */
static uint32_t le32(const char *p) {
    const unsigned char *b = (const unsigned char *)p;
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* The length of p[0, width) without its trailing NUL bytes: 8 bytes at a time from the end
 * (the last byte is the most significant of a little-endian load, so the count of leading
 * zero bits says how many NULs end the word), never reading outside the field. */
static uint32_t trim_nuls(const char *p, uint32_t width) {
    uint32_t len = width;
    for (; len >= 8; len -= 8) {
        uint64_t w = sp_binary_le64(p + len - 8);
        if (w != 0)
            return len - (uint32_t)__builtin_clzll(w) / 8;
    }
    while (len > 0 && p[len - 1] == '\0')
        len--;
    return len;
}

/* The 8-byte field at offset of the m records into out: strided when stride > 0. */
static void decode64(const struct sp_kernels *k, const struct sp_binary_scratch *sc, uint32_t m,
                     uint32_t offset, uint32_t stride, uint64_t *out) {
    if (stride > 0)
        k->decode_fixed64_strided(sc->rec[0] + offset, stride, m, out);
    else
        k->decode_fixed64(sc->rec, offset, m, out);
}

/* Decode field c of the m records into column c of out (row j = record j); a field it cannot
 * read marks its record bad. Returns the records newly marked. */
static uint32_t decode_field(const struct sp_kernels *k, struct sp_binary_scratch *sc,
                             enum spate_type t, uint32_t offset, uint32_t width, uint32_t m,
                             uint32_t stride, void *dst) {
    uint32_t rejected = 0;
    const char *const *rec = sc->rec;
    switch (t) {
    case SPATE_TYPE_I64:
        if (width == 8) {
            decode64(k, sc, m, offset, stride, dst);
        } else {
            for (uint32_t j = 0; j < m; j++)
                ((int64_t *)dst)[j] = (int32_t)le32(rec[j] + offset);
        }
        break;
    case SPATE_TYPE_F64:
        if (width == 8) {
            decode64(k, sc, m, offset, stride, sc->u64);
            memcpy(dst, sc->u64, sizeof(double) * m);
        } else {
            for (uint32_t j = 0; j < m; j++) {
                uint32_t bits = le32(rec[j] + offset);
                float f;
                memcpy(&f, &bits, sizeof(f));
                ((double *)dst)[j] = (double)f;
            }
        }
        break;
    case SPATE_TYPE_TIMESTAMP:
        decode64(k, sc, m, offset, stride, sc->u64);
        for (uint32_t j = 0; j < m; j++) {
            int64_t ms = (int64_t)sc->u64[j];
            bool ok = ms <= INT64_MAX / 1000000 && ms >= INT64_MIN / 1000000;
            ((int64_t *)dst)[j] = ok ? ms * 1000000 : 0;
            if (!ok && !sc->bad[j]) {
                sc->bad[j] = 1;
                rejected++;
            }
        }
        break;
    case SPATE_TYPE_BOOL:
        for (uint32_t j = 0; j < m; j++) {
            uint8_t b = (uint8_t)rec[j][offset];
            ((uint8_t *)dst)[j] = b & 1;
            if (b > 1 && !sc->bad[j]) {
                sc->bad[j] = 1;
                rejected++;
            }
        }
        break;
    case SPATE_TYPE_STRING:
        for (uint32_t j = 0; j < m; j++) {
            const char *p = rec[j] + offset;
            sp_string_view(&((struct spate_string *)dst)[j], p, trim_nuls(p, width));
        }
        break;
    default:
        break;
    }
    return rejected;
}

/* Append the malformed records of the chunk to the dead-letter file, one line of hex digits
 * each (one write). */
static void dead_letters(struct spate_dstream *node, struct sp_region *r,
                         const struct spate_string *vals, const struct spate_chunk_view *view,
                         const uint8_t *inbad, uint32_t rows) {
    static const char hex[] = "0123456789abcdef";
    size_t bytes = 0;
    for (uint32_t i = 0; i < rows; i++)
        bytes += inbad[i] ? 2 * (size_t)vals[sp_chunk_row(view, i)].len + 1 : 0;
    char *buf = sp_region_alloc(r, bytes ? bytes : 1, 8);
    if (buf == NULL)
        return; /* counted all the same */
    size_t at = 0;
    for (uint32_t i = 0; i < rows; i++) {
        if (!inbad[i])
            continue;
        const struct spate_string *v = &vals[sp_chunk_row(view, i)];
        const unsigned char *p = (const unsigned char *)sp_str_data(v);
        for (uint32_t b = 0; b < v->len; b++) {
            buf[at++] = hex[p[b] >> 4];
            buf[at++] = hex[p[b] & 15];
        }
        buf[at++] = '\n';
    }
    sp_dead_letter_write(node->u.bin.dead_fd, buf, at);
}

bool sp_binary_parse_chunk(struct spate_dstream *node, const struct sp_kernels *k,
                           struct sp_binary_scratch *sc, struct sp_region *r,
                           const struct sp_chunk *in, struct sp_chunk *out) {
    const struct sp_schema *s = &node->schema;
    const struct sp_binary_layout *lay = node->u.bin.where;
    uint32_t ncols = s->ncols, rows = in->view.rows, rb = node->u.bin.record_bytes;
    const struct spate_column_view *vc = &in->cols[node->u.bin.col];
    const struct spate_string *vals = vc->data;
    /* The records of the right length, in order. */
    uint32_t m = 0, nbad = 0;
    for (uint32_t i = 0; i < rows; i++) {
        uint32_t phys = sp_chunk_row(&in->view, i);
        sc->inbad[i] = 0;
        if (!sp_valid(vc->validity, phys))
            continue; /* a null value: skipped, not malformed */
        if (vals[phys].len != rb) {
            sc->inbad[i] = 1;
            nbad++;
            continue;
        }
        sc->rec[m] = sp_str_data(&vals[phys]);
        sc->row[m] = i;
        sc->bad[m] = 0;
        m++;
    }
    /* Records at a fixed distance (back to back in a ring, or inline views in a row) take
     * the strided kernel. */
    uint32_t stride = 0;
    if (m > 1 && sc->rec[1] > sc->rec[0] && (size_t)(sc->rec[1] - sc->rec[0]) <= UINT32_MAX) {
        stride = (uint32_t)(sc->rec[1] - sc->rec[0]);
        for (uint32_t j = 2; j < m && stride > 0; j++)
            if (sc->rec[j] != sc->rec[0] + (size_t)j * stride)
                stride = 0;
    }
    uint32_t rejected = 0;
    for (uint32_t c = 0; c < ncols; c++) {
        out->cols[c].validity = NULL;
        rejected += decode_field(k, sc, s->cols[c].type, lay->offset[c], lay->width[c], m, stride,
                                 sp_col_data(out, c));
    }
    uint32_t n = m;
    if (rejected > 0) { /* squeeze the rejected records out of every column, in order */
        for (uint32_t c = 0; c < ncols; c++) {
            size_t w = sp_type_width(s->cols[c].type);
            char *d = sp_col_data(out, c);
            n = 0;
            for (uint32_t j = 0; j < m; j++) {
                if (sc->bad[j])
                    continue;
                if (n != j)
                    memcpy(d + n * w, d + j * w, w);
                n++;
            }
        }
        for (uint32_t j = 0; j < m; j++)
            if (sc->bad[j]) {
                sc->inbad[sc->row[j]] = 1;
                nbad++;
            }
    }
    out->view.rows = n;
    out->view.sel = NULL;
    if (nbad > 0) {
        atomic_fetch_add(&node->malformed, nbad);
        if (node->u.bin.dead_fd >= 0)
            dead_letters(node, r, vals, &in->view, sc->inbad, rows);
    }
    return true;
}
