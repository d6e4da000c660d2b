/*
 * engine/csv.c - parse_csv: lines of a string column into typed columns.
 *
 * A chunk is parsed column at a time: every line is split into fields
 * first (memchr for the delimiter; a quoted field scanned for its closing
 * quote), then each column's fields go through one kernel call (parse_i64 /
 * parse_f64, SIMD) or a scalar loop (bool, timestamp, string views), and
 * the lines no column rejected are compacted into the output chunk. A line
 * is malformed as a whole: the wrong number of fields, an unterminated quote,
 * or a field its column's type cannot read. Nothing valid around it is lost.
 */
#include "engine/csv.h"
#include "engine/common.h"
#include "kernels/parse/parse.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

bool sp_csv_scratch_init(struct sp_csv_scratch *sc, struct sp_region *r, uint32_t ncols) {
    size_t cells = (size_t)ncols * SPATE_CHUNK_ROWS;
    sc->ptr = sp_region_alloc(r, sizeof(*sc->ptr) * cells, 64);
    sc->len = sp_region_alloc(r, sizeof(*sc->len) * cells, 64);
    sc->quoted = sp_region_alloc(r, cells, 64);
    sc->bad = sp_region_alloc(r, SPATE_CHUNK_ROWS, 64);
    sc->ival = sp_region_alloc(r, sizeof(int64_t) * SPATE_CHUNK_ROWS, 64);
    sc->fval = sp_region_alloc(r, sizeof(double) * SPATE_CHUNK_ROWS, 64);
    sc->ok = sp_region_alloc(r, sizeof(uint64_t) * (SPATE_CHUNK_ROWS / 64 + 1), 64);
    return sc->ptr && sc->len && sc->quoted && sc->bad && sc->ival && sc->fval && sc->ok;
}

/* ---- Timestamps ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* n digits at p as a number, or -1. */
static int digits_at(const char *p, uint32_t n) {
    int v = 0;
    for (uint32_t i = 0; i < n; i++) {
        unsigned d = (unsigned char)p[i] - (unsigned)'0';
        if (d > 9)
            return -1;
        v = v * 10 + (int)d;
    }
    return v;
}

bool sp_csv_parse_timestamp(const char *p, uint32_t len, int64_t *ns) {
    int64_t ms;
    if (sp_parse_i64_one(p, len, &ms)) { /* an integer: milliseconds since the epoch */
        if (ms > INT64_MAX / 1000000 || ms < INT64_MIN / 1000000)
            return false;
        *ns = ms * 1000000;
        return true;
    }
    if (len < 10 || p[4] != '-' || p[7] != '-')
        return false;
    int y = digits_at(p, 4), mo = digits_at(p + 5, 2), d = digits_at(p + 8, 2);
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 0 || mo < 1 || mo > 12 || d < 1)
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[mo - 1] + (mo == 2 && leap))
        return false;
    int64_t secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400;
    int64_t frac_ns = 0;
    uint32_t i = 10;
    if (i < len) {
        if ((p[i] != 'T' && p[i] != ' ') || len < i + 6 || p[i + 3] != ':')
            return false;
        int h = digits_at(p + i + 1, 2), mi = digits_at(p + i + 4, 2), s = 0;
        i += 6;
        if (i < len && p[i] == ':') {
            if (len < i + 3 || (s = digits_at(p + i + 1, 2)) < 0)
                return false;
            i += 3;
        }
        if (h < 0 || h > 23 || mi < 0 || mi > 59 || s > 60)
            return false;
        secs += h * 3600 + mi * 60 + s;
        if (i < len && p[i] == '.') {
            int64_t scale = 100000000;
            uint32_t nd = 0;
            for (i++; i < len && (unsigned)(p[i] - '0') <= 9; i++, nd++) {
                frac_ns += (p[i] - '0') * scale;
                scale /= 10;
            }
            if (nd == 0)
                return false;
        }
        if (i < len && p[i] == 'Z') {
            i++;
        } else if (i < len && (p[i] == '+' || p[i] == '-')) {
            int sign = p[i] == '-' ? -1 : 1;
            int oh, om;
            if (len == i + 6 && p[i + 3] == ':') {
                oh = digits_at(p + i + 1, 2);
                om = digits_at(p + i + 4, 2);
            } else if (len == i + 5) {
                oh = digits_at(p + i + 1, 2);
                om = digits_at(p + i + 3, 2);
            } else {
                return false;
            }
            if (oh < 0 || oh > 23 || om < 0 || om > 59)
                return false;
            secs -= sign * (oh * 3600 + om * 60); /* local = UTC + offset */
            i = len;
        }
    }
    if (i != len)
        return false;
    if (secs > INT64_MAX / 1000000000 - 1 || secs < INT64_MIN / 1000000000 + 1)
        return false;
    *ns = secs * 1000000000 + frac_ns;
    return true;
}

/* ---- Splitting ---- */

/*
 * Split line p[0, len) into at most ncols fields of the scratch at row.
 * Returns the number of fields found (more than ncols: too many), or
 * UINT32_MAX for an unterminated or misplaced quote. Quoted fields keep their
 * escaped bytes ("" inside); quoted[] marks them.
 */
static uint32_t split_line(const char *p, uint32_t len, char delim, struct sp_csv_scratch *sc,
                           uint32_t ncols, uint32_t row) {
    uint32_t f = 0, i = 0;
    for (;;) {
        const char *fp;
        uint32_t fl;
        uint8_t q = 0;
        if (i < len && p[i] == '"') {
            uint32_t j = i + 1;
            q = 1;
            for (;;) {
                const char *e = memchr(p + j, '"', len - j);
                if (e == NULL)
                    return UINT32_MAX; /* unterminated */
                uint32_t at = (uint32_t)(e - p);
                if (at + 1 < len && p[at + 1] == '"') {
                    j = at + 2; /* "" is a quote inside */
                    q = 2;
                    continue;
                }
                fp = p + i + 1;
                fl = at - i - 1;
                i = at + 1;
                break;
            }
            if (i < len && p[i] != delim)
                return UINT32_MAX; /* text after the closing quote */
        } else {
            const char *d = memchr(p + i, delim, len - i);
            uint32_t end = d != NULL ? (uint32_t)(d - p) : len;
            fp = p + i;
            fl = end - i;
            i = end;
        }
        if (f < ncols) {
            size_t cell = (size_t)f * SPATE_CHUNK_ROWS + row;
            sc->ptr[cell] = fp;
            sc->len[cell] = fl;
            sc->quoted[cell] = q;
        }
        f++;
        if (i >= len)
            return f;
        i++; /* the delimiter; a final one ends an empty last field */
        if (i == len) {
            if (f < ncols) {
                size_t cell = (size_t)f * SPATE_CHUNK_ROWS + row;
                sc->ptr[cell] = p + len;
                sc->len[cell] = 0;
                sc->quoted[cell] = 0;
            }
            return f + 1;
        }
    }
}

/* The bytes of a quoted field with "" turned into ", in r. NULL on ENOMEM. */
static const char *unquote(struct sp_region *r, const char *p, uint32_t len, uint32_t *out_len) {
    char *dst = sp_region_alloc(r, len ? len : 1, 8);
    if (dst == NULL)
        return NULL;
    uint32_t n = 0;
    for (uint32_t i = 0; i < len; i++) {
        dst[n++] = p[i];
        if (p[i] == '"' && i + 1 < len && p[i + 1] == '"')
            i++;
    }
    *out_len = n;
    return dst;
}

static bool parse_bool(const char *p, uint32_t len, uint8_t *out) {
    if ((len == 4 && strncasecmp(p, "true", 4) == 0) || (len == 1 && p[0] == '1')) {
        *out = 1;
        return true;
    }
    if ((len == 5 && strncasecmp(p, "false", 5) == 0) || (len == 1 && p[0] == '0')) {
        *out = 0;
        return true;
    }
    return false;
}

static void set_null(struct sp_chunk *out, uint64_t **valid, struct sp_region *r, uint32_t col,
                     uint32_t row, bool *oom) {
    if (valid[col] == NULL) {
        valid[col] = sp_chunk_add_validity(r, out, col);
        if (valid[col] == NULL) {
            *oom = true;
            return;
        }
        for (uint32_t i = 0; i < (SPATE_CHUNK_ROWS + 63) / 64; i++)
            valid[col][i] = ~0ull;
    }
    valid[col][row >> 6] &= ~(1ull << (row & 63));
}

/* Append the malformed lines of the chunk to the dead-letter file (one write). */
static void dead_letters(struct spate_dstream *node, struct sp_region *r, const char **lp,
                         const uint32_t *ll, const uint8_t *bad, uint32_t rows) {
    size_t bytes = 0;
    for (uint32_t i = 0; i < rows; i++)
        bytes += bad[i] ? ll[i] + 1 : 0;
    char *buf = sp_region_alloc(r, bytes ? bytes : 1, 8);
    if (buf == NULL)
        return; /* counted all the same */
    size_t at = 0;
    for (uint32_t i = 0; i < rows; i++) {
        if (!bad[i])
            continue;
        memcpy(buf + at, lp[i], ll[i]);
        at += ll[i];
        buf[at++] = '\n';
    }
    sp_dead_letter_write(node->u.csv.dead_fd, buf, at);
}

spate_status sp_dead_letter_open(const char *path, const char *what, int *fd,
                                 struct spate_error *err) {
    *fd = -1;
    if (path == NULL)
        return SPATE_OK;
    *fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (*fd < 0)
        return sp_error_set(err, EIO, "%s: cannot open the dead-letter file '%s': %s", what, path,
                            strerror(errno));
    return SPATE_OK;
}

void sp_dead_letter_write(int fd, const char *buf, size_t len) {
    for (size_t done = 0; done < len;) {
        ssize_t w = write(fd, buf + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* the file is a courtesy: the count stays exact */
        done += (size_t)w;
    }
}

bool sp_csv_parse_chunk(struct spate_dstream *node, const struct sp_kernels *k,
                        struct sp_csv_scratch *sc, struct sp_region *r, const struct sp_chunk *in,
                        struct sp_chunk *out) {
    const struct sp_schema *s = &node->schema;
    uint32_t ncols = s->ncols, rows = in->view.rows;
    const struct spate_column_view *lc = &in->cols[node->u.csv.col];
    char delim = node->u.csv.delimiter;
    /* The lines, for the dead-letter file. */
    const char **lp = sp_region_alloc(r, sizeof(*lp) * (rows ? rows : 1), 64);
    uint32_t *ll = sp_region_alloc(r, sizeof(*ll) * (rows ? rows : 1), 64);
    if (lp == NULL || ll == NULL)
        return false;
    uint32_t nbad = 0;
    for (uint32_t i = 0; i < rows; i++) {
        uint32_t phys = sp_chunk_row(&in->view, i);
        sc->bad[i] = 0;
        if (!sp_valid(lc->validity, phys)) {
            lp[i] = NULL;
            ll[i] = 0;
            sc->bad[i] = 2; /* a null line: skipped like a blank one */
            continue;
        }
        const struct spate_string *line = &((const struct spate_string *)lc->data)[phys];
        const char *p = sp_str_data(line);
        uint32_t len = line->len;
        if (len > 0 && p[len - 1] == '\r')
            len--;
        lp[i] = p;
        ll[i] = len;
        if (len == 0) {
            sc->bad[i] = 2; /* blank */
            continue;
        }
        if (split_line(p, len, delim, sc, ncols, i) != ncols) {
            sc->bad[i] = 1;
            nbad++;
        }
    }
    /* Column by column: what each field holds, and which lines a column rejects. */
    const int64_t *parsed[SP_MAX_COLUMNS] = {0}; /* i64 / f64 columns: values (bits) by line */
    for (uint32_t c = 0; c < ncols; c++) {
        const char **fp = sc->ptr + (size_t)c * SPATE_CHUNK_ROWS;
        uint32_t *fl = sc->len + (size_t)c * SPATE_CHUNK_ROWS;
        for (uint32_t i = 0; i < rows; i++)
            if (sc->bad[i]) { /* no fields: give the kernels an empty one */
                fp[i] = "";
                fl[i] = 0;
            }
        enum spate_type t = s->cols[c].type;
        if (t == SPATE_TYPE_I64 || t == SPATE_TYPE_F64) {
            if (t == SPATE_TYPE_I64)
                k->parse_i64(fp, fl, rows, sc->ival, sc->ok);
            else
                k->parse_f64(fp, fl, rows, sc->fval, sc->ok);
            for (uint32_t i = 0; i < rows; i++)
                if (!sc->bad[i] && fl[i] > 0 && !((sc->ok[i >> 6] >> (i & 63)) & 1)) {
                    sc->bad[i] = 1;
                    nbad++;
                }
            /* ival/fval serve one column at a time: keep this one's values. */
            int64_t *keep = sp_region_alloc(r, sizeof(int64_t) * (rows ? rows : 1), 64);
            if (keep == NULL)
                return false;
            memcpy(keep, t == SPATE_TYPE_I64 ? (const void *)sc->ival : (const void *)sc->fval,
                   sizeof(int64_t) * rows);
            parsed[c] = keep;
        } else if (t == SPATE_TYPE_BOOL || t == SPATE_TYPE_TIMESTAMP) {
            for (uint32_t i = 0; i < rows; i++) {
                if (sc->bad[i] || fl[i] == 0)
                    continue;
                uint8_t b;
                int64_t ns;
                bool good = t == SPATE_TYPE_BOOL ? parse_bool(fp[i], fl[i], &b)
                                                 : sp_csv_parse_timestamp(fp[i], fl[i], &ns);
                if (!good) {
                    sc->bad[i] = 1;
                    nbad++;
                }
            }
        }
    }
    /* Compaction: the lines no column rejected. */
    uint64_t *valid[SP_MAX_COLUMNS];
    for (uint32_t c = 0; c < ncols; c++) {
        out->cols[c].validity = NULL;
        valid[c] = NULL;
    }
    bool oom = false;
    uint32_t n = 0;
    for (uint32_t i = 0; i < rows; i++) {
        if (sc->bad[i])
            continue;
        for (uint32_t c = 0; c < ncols; c++) {
            size_t cell = (size_t)c * SPATE_CHUNK_ROWS + i;
            const char *fp = sc->ptr[cell];
            uint32_t fl = sc->len[cell];
            enum spate_type t = s->cols[c].type;
            bool null = fl == 0 && (t != SPATE_TYPE_STRING || !sc->quoted[cell]);
            void *dst = sp_col_data(out, c);
            if (null) {
                memset((char *)dst + sp_type_width(t) * n, 0, sp_type_width(t));
                set_null(out, valid, r, c, n, &oom);
                continue;
            }
            switch (t) {
            case SPATE_TYPE_I64:
            case SPATE_TYPE_F64:
                ((int64_t *)dst)[n] = parsed[c][i];
                break;
            case SPATE_TYPE_BOOL:
                (void)parse_bool(fp, fl, &((uint8_t *)dst)[n]);
                break;
            case SPATE_TYPE_TIMESTAMP:
                (void)sp_csv_parse_timestamp(fp, fl, &((int64_t *)dst)[n]);
                break;
            case SPATE_TYPE_STRING:
                if (sc->quoted[cell] == 2) {
                    uint32_t ul = 0;
                    const char *u = unquote(r, fp, fl, &ul);
                    if (u == NULL)
                        return false;
                    sp_string_view(&((struct spate_string *)dst)[n], u, ul);
                } else {
                    sp_string_view(&((struct spate_string *)dst)[n], fp, fl);
                }
                break;
            default:
                break;
            }
        }
        n++;
    }
    out->view.rows = n;
    out->view.sel = NULL;
    if (oom)
        return false;
    if (nbad > 0) {
        atomic_fetch_add(&node->malformed, nbad);
        if (node->u.csv.dead_fd >= 0) {
            for (uint32_t i = 0; i < rows; i++)
                sc->bad[i] = sc->bad[i] == 1;
            dead_letters(node, r, lp, ll, sc->bad, rows);
        }
    }
    return true;
}
