/*
 * kernels/kernels.h - the kernel table: pure functions over columns.
 *
 * Every kernel has a scalar reference (<family>/<family>_scalar.c, plain C,
 * the specification) and SIMD variants in their own files compiled with
 * per-file ISA flags. Each ISA exports one const struct sp_kernels; the engine
 * picks one at creation (sp_kernels_select) and keeps the pointer, so two
 * variants can run side by side in one process (differential tests).
 *
 * Kernels read no globals, take no locks, do no I/O and never allocate: the
 * caller passes output buffers. Preconditions are the caller's job; kernels
 * cannot fail and return counts.
 */
#ifndef SP_KERNELS_H
#define SP_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "spate/schema.h"

#ifndef SPATE_CHUNK_ROWS
#define SPATE_CHUNK_ROWS 2048
#endif
_Static_assert((SPATE_CHUNK_ROWS & (SPATE_CHUNK_ROWS - 1)) == 0, "SPATE_CHUNK_ROWS: power of two");
_Static_assert(SPATE_CHUNK_ROWS <= 32768, "SPATE_CHUNK_ROWS: row indexes are uint16_t");
_Static_assert(sizeof(struct spate_string) == 16, "string views are 16 bytes");

/* Comparison operators (same values as enum spate_cmp). */
enum sp_cmp { SP_CMP_EQ = 0, SP_CMP_NE, SP_CMP_LT, SP_CMP_LE, SP_CMP_GT, SP_CMP_GE };

/* Arithmetic operators of the arith kernels (same values as enum spate_arith). */
enum sp_arith { SP_ARITH_ADD = 0, SP_ARITH_SUB, SP_ARITH_MUL, SP_ARITH_DIV, SP_ARITH_MOD };

/* How a window pane's values combine into the window's words (kernels/window/pane.h). */
enum sp_pane_op { SP_PANE_ADD = 0, SP_PANE_SUB, SP_PANE_MIN, SP_PANE_MAX };

/*
 * A set of delimiter bytes for tokenize_set (fill with sp_byteset_init):
 * bits is the set itself; lo holds it as two nibble tables for the SIMD
 * lookups: bit ((b >> 4) & 7) of lo[b >> 7][b & 15] is set when b is in it.
 */
struct sp_byteset {
    uint64_t bits[4];
    uint8_t lo[2][16];
};

/* The set of the bytes delims[0, n). */
void sp_byteset_init(struct sp_byteset *set, const char *delims, uint32_t n);

struct sp_kernels {
    const char *isa; /* "scalar", "avx2", "avx512" */

    /*
     * Tokenize text[0, len) into words separated by ASCII whitespace
     * (' ', '\t', '\n', '\v', '\f', '\r'). Writes the byte offset and length
     * of each word, in order, into starts[]/lens[] (room for max_words each)
     * and returns the number written. The end of the range is a word
     * boundary. Stops early when max_words words are written: *consumed is
     * then the offset where the caller resumes (the start of the next word
     * or a position before it); otherwise *consumed == len.
     * No variant reads before text or at/after text+len (tails use masked
     * loads or scalar code), nor writes past the outputs.
     */
    uint32_t (*tokenize_ws)(const char *restrict text, uint32_t len, uint32_t *restrict starts,
                            uint32_t *restrict lens, uint32_t max_words,
                            uint32_t *restrict consumed);

    /*
     * tokenize_ws with the bytes of set as the separators instead of
     * whitespace (same outputs, early stop and memory rule).
     */
    uint32_t (*tokenize_set)(const char *restrict text, uint32_t len,
                             const struct sp_byteset *restrict set, uint32_t *restrict starts,
                             uint32_t *restrict lens, uint32_t max_words,
                             uint32_t *restrict consumed);

    /*
     * Find line ends: write the offsets of every '\n' in text[0, len) into
     * pos[] (room for max_pos) and return the count; stops early at max_pos
     * (*consumed = offset after the last reported '\n', else len).
     * Same memory rule as tokenize_ws.
     */
    uint32_t (*find_newlines)(const char *restrict text, uint32_t len, uint32_t *restrict pos,
                              uint32_t max_pos, uint32_t *restrict consumed);

    /*
     * Build string views of text + starts[i] with lens[i] bytes for i < n
     * (inline copy of short strings, pointer for long ones). Unused inline
     * bytes and the unused prefix bytes are zero, so two views of equal
     * strings of length <= 12 are equal as 16 bytes.
     */
    void (*make_views)(const char *text, const uint32_t *restrict starts,
                       const uint32_t *restrict lens, uint32_t n,
                       struct spate_string *restrict out);

    /*
     * Compare v[] with literal k: write the rows (taken from sel_in, or 0..n
     * when sel_in is NULL) that pass and are valid (validity NULL = all) into
     * sel_out, ascending. Returns the count. n <= SPATE_CHUNK_ROWS.
     */
    uint32_t (*filter_cmp_i64)(const int64_t *restrict v, const uint64_t *restrict validity,
                               const uint16_t *restrict sel_in, uint32_t n, enum sp_cmp op,
                               int64_t k, uint16_t *restrict sel_out);

    /*
     * String equality with (or prefix of) s[0, slen): same selection rules.
     */
    uint32_t (*filter_eq_str)(const struct spate_string *restrict v,
                              const uint64_t *restrict validity, const uint16_t *restrict sel_in,
                              uint32_t n, const char *s, uint32_t slen, bool prefix,
                              uint16_t *restrict sel_out);

    /* out[i] = XXH3_64bits(&v[i], 8) for rows i < n (sel_in as above, outputs dense). */
    void (*hash_i64)(const int64_t *restrict v, const uint16_t *restrict sel_in, uint32_t n,
                     uint64_t *restrict out);
    /* out[i] = XXH3_64bits(data(v[i]), len(v[i])) (sel_in as above, outputs dense). */
    void (*hash_str)(const struct spate_string *restrict v, const uint16_t *restrict sel_in,
                     uint32_t n, uint64_t *restrict out);

    /*
     * Parse n text fields ptr[i][0, len[i]) as decimal integers / doubles
     * (grammar in kernels/parse/parse.h) into out[i], setting bit i of ok
     * for a valid field and clearing it (out[i] = 0) for an invalid one.
     * Returns the number of invalid fields. No variant touches a page outside
     * a field's bytes (see kernels/parse/parse.h).
     */
    uint32_t (*parse_i64)(const char *const *restrict ptr, const uint32_t *restrict len, uint32_t n,
                          int64_t *restrict out, uint64_t *restrict ok);
    uint32_t (*parse_f64)(const char *const *restrict ptr, const uint32_t *restrict len, uint32_t n,
                          double *restrict out, uint64_t *restrict ok);

    /* ---- Column kernels: compare, selection, compaction, arithmetic, casts ---- */

    /*
     * filter_cmp_i64's contract for a f64 column: IEEE comparison, so every
     * comparison with a NaN (either side) is false except NE, which is true,
     * and -0.0 == +0.0 (kernels/cmp/cmp.h).
     */
    uint32_t (*filter_cmp_f64)(const double *restrict v, const uint64_t *restrict validity,
                               const uint16_t *restrict sel_in, uint32_t n, enum sp_cmp op,
                               double k, uint16_t *restrict sel_out);
    /*
     * Column against column: rows where a[row] OP b[row] and both are valid
     * (va, vb: NULL = all valid); otherwise as filter_cmp_i64 / _f64.
     */
    uint32_t (*filter_cmp_i64_col)(const int64_t *restrict a, const uint64_t *restrict va,
                                   const int64_t *restrict b, const uint64_t *restrict vb,
                                   const uint16_t *restrict sel_in, uint32_t n, enum sp_cmp op,
                                   uint16_t *restrict sel_out);
    uint32_t (*filter_cmp_f64_col)(const double *restrict a, const uint64_t *restrict va,
                                   const double *restrict b, const uint64_t *restrict vb,
                                   const uint16_t *restrict sel_in, uint32_t n, enum sp_cmp op,
                                   uint16_t *restrict sel_out);

    /*
     * Set operations on ascending selections of rows < SPATE_CHUNK_ROWS:
     * sel_and writes a ∩ b (room for min(na, nb)), sel_or a ∪ b (room for
     * na + nb), sel_not the rows of 0..n missing from a (room for n, n <=
     * SPATE_CHUNK_ROWS, entries of a below n). Outputs are ascending, without
     * duplicates; returns the count (kernels/select/select.h).
     */
    uint32_t (*sel_and)(const uint16_t *restrict a, uint32_t na, const uint16_t *restrict b,
                        uint32_t nb, uint16_t *restrict out);
    uint32_t (*sel_or)(const uint16_t *restrict a, uint32_t na, const uint16_t *restrict b,
                       uint32_t nb, uint16_t *restrict out);
    uint32_t (*sel_not)(const uint16_t *restrict a, uint32_t na, uint32_t n,
                        uint16_t *restrict out);

    /*
     * Compaction by a selection: out[i] = v[sel[i]] for i < n, for 8-byte
     * values (i64, f64, timestamps) and 16-byte string views; compact_validity
     * sets bit i of out to bit sel[i] of validity (NULL: all valid), writes
     * (n + 63) / 64 words with bits at or past n zero, and returns the number
     * of valid rows.
     */
    void (*gather_u64)(const uint64_t *restrict v, const uint16_t *restrict sel, uint32_t n,
                       uint64_t *restrict out);
    void (*gather_str)(const struct spate_string *restrict v, const uint16_t *restrict sel,
                       uint32_t n, struct spate_string *restrict out);
    uint32_t (*compact_validity)(const uint64_t *restrict validity, const uint16_t *restrict sel,
                                 uint32_t n, uint64_t *restrict out);

    /*
     * Arithmetic over rows 0..n: out[i] = a[i] OP b[i] (_col) or a[i] OP k
     * (_lit). vout gets (n + 63) / 64 words: the AND of the inputs' validity
     * (NULL = all valid), minus i64 rows divided by zero; bits at or past n
     * are zero. Null rows get out[i] = 0. i64 wraps (two's complement), DIV
     * truncates, MOD takes the dividend's sign, INT64_MIN / -1 = INT64_MIN
     * and INT64_MIN % -1 = 0. f64 is IEEE (MOD is fmod). Returns the number
     * of null rows (kernels/arith/arith.h).
     */
    uint32_t (*arith_i64_col)(const int64_t *restrict a, const uint64_t *restrict va,
                              const int64_t *restrict b, const uint64_t *restrict vb, uint32_t n,
                              enum sp_arith op, int64_t *restrict out, uint64_t *restrict vout);
    uint32_t (*arith_i64_lit)(const int64_t *restrict a, const uint64_t *restrict va, int64_t k,
                              uint32_t n, enum sp_arith op, int64_t *restrict out,
                              uint64_t *restrict vout);
    uint32_t (*arith_f64_col)(const double *restrict a, const uint64_t *restrict va,
                              const double *restrict b, const uint64_t *restrict vb, uint32_t n,
                              enum sp_arith op, double *restrict out, uint64_t *restrict vout);
    uint32_t (*arith_f64_lit)(const double *restrict a, const uint64_t *restrict va, double k,
                              uint32_t n, enum sp_arith op, double *restrict out,
                              uint64_t *restrict vout);

    /*
     * Casts of rows 0..n (validity is unchanged: the caller keeps it).
     * i64 -> f64 rounds to nearest even. f64 -> i64 follows Spark's non-ANSI
     * cast (Java's d2l): truncate toward zero, NaN -> 0, out of range
     * saturates to INT64_MIN / INT64_MAX.
     */
    void (*cast_i64_f64)(const int64_t *restrict v, uint32_t n, double *restrict out);
    void (*cast_f64_i64)(const double *restrict v, uint32_t n, int64_t *restrict out);

    /*
     * h[i] = mix of h[i] and h2[i] for i < n, so that the hashes of several
     * key columns combine into one (kernels/hash/hash.h names the mix).
     */
    void (*hash_combine)(uint64_t *restrict h, const uint64_t *restrict h2, uint32_t n);
    /*
     * Fixed-width binary records (kernels/binary/binary.h): out[i] = the 8
     * bytes at rec[i] + offset read as a little-endian integer, i < n; the
     * strided form reads them at base + i * stride (records back to back).
     * No variant reads a byte of a record outside those 8, nor writes past
     * out[n - 1].
     */
    void (*decode_fixed64)(const char *const *restrict rec, uint32_t offset, uint32_t n,
                           uint64_t *restrict out);
    void (*decode_fixed64_strided)(const char *restrict base, uint32_t stride, uint32_t n,
                                   uint64_t *restrict out);

    /* ---- Window panes ---- */

    /*
     * For i < n: w = w OP vals[i], where w is the word
     * base[idx[i] * stride_words + offset_words] (a field of a fixed-size
     * table entry). ADD and SUB (the inverse) wrap for i64 and are IEEE for
     * f64; MIN/MAX take v only when it compares strictly less / greater, so
     * a NaN or a signed zero already in w stays. idx[0, n) must be distinct.
     * No variant touches a word other than the indexed ones. A fresh entry
     * starts at sp_pane_fresh() (kernels/window/pane.h has the details).
     */
    void (*pane_combine_i64)(uint64_t *base, uint32_t stride_words, uint32_t offset_words,
                             const uint32_t *restrict idx, const int64_t *restrict vals, uint32_t n,
                             enum sp_pane_op op);
    void (*pane_combine_f64)(uint64_t *base, uint32_t stride_words, uint32_t offset_words,
                             const uint32_t *restrict idx, const double *restrict vals, uint32_t n,
                             enum sp_pane_op op);
};

extern const struct sp_kernels sp_kernels_scalar;
#ifdef SPATE_HAVE_AVX2
extern const struct sp_kernels sp_kernels_avx2;
#endif
#ifdef SPATE_HAVE_AVX512
extern const struct sp_kernels sp_kernels_avx512;
#endif

/*
 * Choose the table: name "scalar"/"avx2"/"avx512" forces one (NULL or "auto":
 * the best the CPU and the build support). Returns NULL when the forced ISA
 * is unknown, not built, or not supported by this CPU.
 */
const struct sp_kernels *sp_kernels_select(const char *name);

/* Whether this CPU runs isa ("scalar" always true). */
bool sp_cpu_supports(const char *isa);

/* The ISAs compiled into this build, NULL-terminated, best last. */
const char *const *sp_kernels_built(void);

/* String view helpers shared by kernels and engine (plain functions, scalar). */
static inline const char *sp_str_data(const struct spate_string *s) {
    return s->len <= SPATE_STRING_INLINE ? s->prefix : s->u.ptr;
}

#endif /* SP_KERNELS_H */
