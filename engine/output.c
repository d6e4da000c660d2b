/*
 * engine/output.c - DStream.print, byte for byte as Spark prints it.
 *
 * Values print as Scala's toString would: i64 and timestamps as decimal
 * integers, f64 as Java's Double.toString for the common cases (1.0, 0.5,
 * 1.0E10, NaN, Infinity), bools as true/false, strings raw, nulls as "null";
 * records of several columns as tuples, (a,b). The whole batch's text is
 * built in memory and written with one loop of write(2), so a record is
 * never interleaved with another output's.
 */
#include "engine/output.h"
#include "kernels/kernels.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <unistd.h>

struct buf {
    char *p;
    size_t len, cap;
    struct sp_region *r;
    bool oom;
};

static void put(struct buf *b, const char *s, size_t n) {
    if (b->oom)
        return;
    if (b->len + n > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 4096);
        while (cap < b->len + n)
            cap *= 2;
        char *np = sp_region_alloc(b->r, cap, 64);
        if (np == NULL) {
            b->oom = true;
            return;
        }
        if (b->len)
            memcpy(np, b->p, b->len);
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void put_str(struct buf *b, const char *s) {
    put(b, s, strlen(s));
}

/* Java's Double.toString for what users see most: integral values get ".0". */
static int format_double(char *out, size_t cap, double v) {
    if (isnan(v))
        return snprintf(out, cap, "NaN");
    if (isinf(v))
        return snprintf(out, cap, v > 0 ? "Infinity" : "-Infinity");
    double a = fabs(v);
    if (a != 0.0 && (a < 1e-3 || a >= 1e7)) {
        /* Java: computerized scientific notation, d.dddE<n>. */
        char tmp[40];
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, v);
            if (strtod(tmp, NULL) == v)
                break;
        }
        char *e = strchr(tmp, 'e');
        if (e == NULL)
            return snprintf(out, cap, "%s", tmp);
        *e = '\0';
        int exp = atoi(e + 1);
        return snprintf(out, cap, "%s%sE%d", tmp, strchr(tmp, '.') ? "" : ".0", exp);
    }
    /* Plain notation: the fewest decimals (at least one) that read back as v. */
    char tmp[64];
    for (int decimals = 1; decimals <= 20; decimals++) {
        snprintf(tmp, sizeof(tmp), "%.*f", decimals, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    return snprintf(out, cap, "%s", tmp);
}

/* One scalar value of type at p (a list's item or a column's cell). */
static void put_scalar(struct buf *b, enum spate_type type, const void *p) {
    char tmp[64];
    int n = 0;
    switch (type) {
    case SPATE_TYPE_I64:
    case SPATE_TYPE_TIMESTAMP:
        n = snprintf(tmp, sizeof(tmp), "%" PRId64, *(const int64_t *)p);
        break;
    case SPATE_TYPE_F64:
        n = format_double(tmp, sizeof(tmp), *(const double *)p);
        break;
    case SPATE_TYPE_BOOL:
        n = snprintf(tmp, sizeof(tmp), "%s", *(const uint8_t *)p ? "true" : "false");
        break;
    case SPATE_TYPE_STRING: {
        const struct spate_string *s = p;
        put(b, sp_str_data(s), s->len);
        return;
    }
    default: /* lists are handled by put_value */
        return;
    }
    if (n > 0)
        put(b, tmp, (size_t)n);
}

static void put_value(struct buf *b, const struct spate_column_view *col, uint32_t row) {
    if (!sp_valid(col->validity, row)) {
        put_str(b, "null");
        return;
    }
    size_t width = sp_type_width(col->type);
    const void *p = (const char *)col->data + width * row;
    if (!SPATE_TYPE_IS_LIST(col->type)) {
        put_scalar(b, col->type, p);
        return;
    }
    /* Scala prints groupByKey's Iterable as CompactBuffer(a, b). */
    const struct spate_list *l = p;
    enum spate_type et = SPATE_LIST_ELEM(col->type);
    size_t ew = sp_type_width(et);
    put_str(b, "CompactBuffer(");
    for (uint32_t i = 0; i < l->len; i++) {
        if (i > 0)
            put_str(b, ", ");
        if (sp_valid(l->validity, i))
            put_scalar(b, et, (const char *)l->items + ew * i);
        else
            put_str(b, "null");
    }
    put_str(b, ")");
}

static spate_status write_all(int fd, const char *p, size_t n, struct spate_error *err) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return sp_error_set(err, EIO, "print: write to fd %d failed: %s", fd, strerror(errno));
        }
        p += w;
        n -= (size_t)w;
    }
    return SPATE_OK;
}

/* Append up to limit records of b, one per line; *more says whether some were left out. */
static void put_records(struct buf *out, const struct spate_batch *b, uint64_t limit, bool *more) {
    uint64_t printed = 0;
    uint32_t ncols = b->schema->ncols;
    *more = false;
    for (uint32_t p = 0; p < b->nparts && !*more; p++) {
        for (uint32_t c = 0; c < b->parts[p].nchunks && !*more; c++) {
            const struct spate_chunk_view *v = &b->parts[p].chunks[c]->view;
            for (uint32_t i = 0; i < v->rows; i++) {
                if (printed == limit) {
                    *more = true;
                    break;
                }
                uint32_t row = sp_chunk_row(v, i);
                if (ncols > 1)
                    put(out, "(", 1);
                for (uint32_t col = 0; col < ncols; col++) {
                    if (col > 0)
                        put(out, ",", 1);
                    put_value(out, &v->columns[col], row);
                }
                if (ncols > 1)
                    put(out, ")", 1);
                put(out, "\n", 1);
                printed++;
            }
        }
    }
}

spate_status sp_output_print(const struct spate_batch *b, uint32_t n, int fd, struct sp_region *r,
                             struct spate_error *err) {
    struct buf out = {.p = NULL, .len = 0, .cap = 0, .r = r, .oom = false};
    char head[128];
    int hn = snprintf(head, sizeof(head),
                      "-------------------------------------------\nTime: %" PRId64
                      " ms\n-------------------------------------------\n",
                      b->time_ms);
    put(&out, head, (size_t)hn);
    bool more;
    put_records(&out, b, n, &more);
    if (more)
        put(&out, "...\n", 4);
    put(&out, "\n", 1);
    if (out.oom)
        return sp_error_set(err, ENOMEM, "print: out of memory");
    return write_all(fd, out.p, out.len, err);
}

spate_status sp_output_save_text(const struct spate_batch *b, const char *prefix,
                                 const char *suffix, struct sp_region *r, struct spate_error *err) {
    char path[4096], tmp[4200];
    int n = suffix != NULL && suffix[0] != '\0'
                ? snprintf(path, sizeof(path), "%s-%" PRId64 ".%s", prefix, b->time_ms, suffix)
                : snprintf(path, sizeof(path), "%s-%" PRId64, prefix, b->time_ms);
    if (n < 0 || (size_t)n >= sizeof(path))
        return sp_error_set(err, EINVAL, "save_as_text_files: path too long");
    snprintf(tmp, sizeof(tmp), "%s.tmp-%d", path, (int)getpid());
    struct buf out = {.p = NULL, .len = 0, .cap = 0, .r = r, .oom = false};
    bool more;
    put_records(&out, b, UINT64_MAX, &more);
    if (out.oom)
        return sp_error_set(err, ENOMEM, "save_as_text_files: out of memory");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return sp_error_set(err, EIO, "save_as_text_files: cannot create %s: %s", tmp,
                            strerror(errno));
    spate_status rc = write_all(fd, out.p, out.len, err);
    /* Readers see the whole file or none of it: data on disk first, then the name. */
    if (rc == SPATE_OK && fsync(fd) != 0)
        rc = sp_error_set(err, EIO, "save_as_text_files: fsync %s: %s", tmp, strerror(errno));
    if (close(fd) != 0 && rc == SPATE_OK)
        rc = sp_error_set(err, EIO, "save_as_text_files: close %s: %s", tmp, strerror(errno));
    if (rc == SPATE_OK && rename(tmp, path) != 0)
        rc = sp_error_set(err, EIO, "save_as_text_files: rename to %s: %s", path, strerror(errno));
    if (rc != SPATE_OK)
        unlink(tmp);
    return rc;
}
