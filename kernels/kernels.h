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

/* ---- Hash join tables (kernels/join/join.h) ---- */

/* One distinct build key: its rows are start (count == 1) or perm[start, start + count). */
struct sp_join_slot {
    uint64_t key;   /* the i64 key, or the hash of a string key */
    uint32_t start; /* the build row (count == 1) or the first index into perm */
    uint32_t count; /* build rows with this key; 0 = empty slot */
};

/*
 * A join table over caller-owned arrays: slots (mask + 1 of them, a power of
 * two from sp_join_slots_for) and perm (room for the build's n rows). The
 * build kernel fills both and the counts; keys is the build key column, read
 * again by string probes (it must outlive the table).
 */
struct sp_join_table {
    struct sp_join_slot *slots;
    uint32_t *perm;   /* build rows of duplicated keys, grouped by key, ascending */
    const void *keys; /* build keys (int64_t or struct spate_string) */
    uint32_t mask;    /* slots - 1 */
    uint32_t nkeys;   /* distinct valid keys */
    uint32_t nrows;   /* build rows with a valid key */
};

/* Where a probe stopped: candidate row pos, its match k (0 when between rows). */
struct sp_join_cursor {
    uint32_t pos;
    uint32_t k;
};

#define SP_JOIN_NONE UINT32_MAX /* out_build of an unmatched probe row */

/* Slots for a build of n rows: a power of two >= 2n (load factor <= 1/2), at least 16, at
 * most 2^31 (so n < 2^31 keeps a free slot). */
static inline uint32_t sp_join_slots_for(uint32_t n) {
    uint32_t s = 16;
    while (s < 2 * (uint64_t)n && s < (1u << 31))
        s *= 2;
    return s;
}

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

    /* ---- Hash join (kernels/join/join.h) ---- */

    /*
     * Build t over keys[0, n) with their hashes (hash_i64 / hash_str, dense):
     * rows whose validity bit is clear (validity NULL = all valid) are left
     * out. t->slots, t->perm and t->mask are set by the caller (slots:
     * sp_join_slots_for(n), perm and scratch: n entries each); the kernel
     * writes every slot, perm, t->keys, t->nkeys and t->nrows. Returns nkeys.
     */
    uint32_t (*join_build_i64)(struct sp_join_table *restrict t, const int64_t *restrict keys,
                               const uint64_t *restrict validity, const uint64_t *restrict hashes,
                               uint32_t n, uint32_t *restrict scratch);
    uint32_t (*join_build_str)(struct sp_join_table *restrict t,
                               const struct spate_string *restrict keys,
                               const uint64_t *restrict validity, const uint64_t *restrict hashes,
                               uint32_t n, uint32_t *restrict scratch);
    /*
     * Probe t with candidate rows 0..n (physical row sel[i], or i when sel is
     * NULL; hashes[i] is candidate i's hash, dense), starting at *cur (zero it
     * for a new input). For each candidate in order whose key is valid and
     * equal to build keys, write (its physical row, the build row) for every
     * such build row, ascending; with emit_unmatched, a valid key without a
     * match writes (its physical row, SP_JOIN_NONE). Null keys match nothing
     * and write nothing. Writes at most max_out pairs into out_probe /
     * out_build and returns the count (entries past the count, below max_out,
     * may be overwritten); *cur is then where to resume (done when
     * cur->pos == n), which may be inside one row's matches. When not NULL,
     * probe_matched gets the bit of every matched physical probe row and
     * build_matched the bit of every build row written (bits are only set).
     */
    uint32_t (*join_probe_i64)(const struct sp_join_table *restrict t, const int64_t *restrict keys,
                               const uint64_t *restrict validity, const uint16_t *restrict sel,
                               const uint64_t *restrict hashes, uint32_t n, bool emit_unmatched,
                               uint32_t *restrict out_probe, uint32_t *restrict out_build,
                               uint32_t max_out, struct sp_join_cursor *restrict cur,
                               uint64_t *restrict probe_matched, uint64_t *restrict build_matched);
    uint32_t (*join_probe_str)(const struct sp_join_table *restrict t,
                               const struct spate_string *restrict keys,
                               const uint64_t *restrict validity, const uint16_t *restrict sel,
                               const uint64_t *restrict hashes, uint32_t n, bool emit_unmatched,
                               uint32_t *restrict out_probe, uint32_t *restrict out_build,
                               uint32_t max_out, struct sp_join_cursor *restrict cur,
                               uint64_t *restrict probe_matched, uint64_t *restrict build_matched);

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
