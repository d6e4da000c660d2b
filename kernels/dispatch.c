/*
 * kernels/dispatch.c - the kernel tables of every ISA built, and the choice
 * of one.
 *
 * One const table per ISA, all defined here so that the set of variants of
 * each kernel reads at a glance. A kernel without a SIMD variant points at
 * the scalar function in the SIMD tables: make_views, hash_str and parse_f64
 * in both (none gained from SIMD: per-string lengths and branches dominate).
 * Selection is a pure function of the name, the build and the CPU; the
 * caller keeps the returned pointer (there is no process-wide choice, so
 * tests can run two tables side by side).
 */
#include "kernels/kernels.h"

#include <string.h>

#include "kernels/binary/binary.h"
#include "kernels/filter/filter.h"
#include "kernels/hash/hash.h"
#include "kernels/join/join.h"
#include "kernels/parse/parse.h"
#include "kernels/text/text.h"

#include "kernels/arith/arith.h"
#include "kernels/cmp/cmp.h"
#include "kernels/hash/combine.h"
#include "kernels/select/select.h"

#include "kernels/window/pane.h"

/*
 * Window panes: every table uses the scalar pane_combine. The AVX2 (gather,
 * then four scalar stores) and AVX-512 (gather and scatter) variants give
 * the same bits but ran slower on a Sapphire Rapids class Xeon (spate-micro,
 * pane_combine_<op>/<isa>/<n>/<entries>, medians of 3, Mkeys/s, scalar /
 * avx2 / avx512): add_i64 2048 keys into 10K entries 757 / 736 / 757, into
 * 1M entries 153 / 124 / 126; min_f64 10K 1283 / 740 / 756, 1M 175 / 128 /
 * 127. Random 40-byte entries make it a load-store loop whatever the ISA:
 * the scalar loop keeps more independent loads in flight than a gather, and
 * a scatter of 8 costs more than 8 stores. The variants stay built, tested
 * against scalar and benchmarked (spate-micro calls them directly), so the
 * choice can be measured again on another CPU and flipped here.
 */
#define SP_PANE_KERNELS(isa)                                                                       \
    .pane_combine_i64 = sp_pane_combine_i64_##isa, .pane_combine_f64 = sp_pane_combine_f64_##isa

/*
 * Column kernels (compare, selection, compaction, arithmetic, casts,
 * hash_combine): every one has AVX2 and AVX-512 code except sel_and (the
 * scalar merge beat a bitmap, see kernels/select/select.h), gather_str
 * (16-byte copies: the scalar loop is already one vector load and store per
 * row) and, in the AVX2 table, the casts (no 64-bit integer <-> double
 * conversion before AVX512DQ). Inside the SIMD variants, i64 div/mod and
 * f64 mod call the scalar kernels (x86 has no SIMD integer division).
 */
#define SP_COLUMN_KERNELS(isa, cast_isa)                                                           \
    .filter_cmp_f64 = sp_filter_cmp_f64_##isa, .filter_cmp_i64_col = sp_filter_cmp_i64_col_##isa,  \
    .filter_cmp_f64_col = sp_filter_cmp_f64_col_##isa, .sel_and = sp_sel_and_scalar,               \
    .sel_or = sp_sel_or_##isa, .sel_not = sp_sel_not_##isa, .gather_u64 = sp_gather_u64_##isa,     \
    .gather_str = sp_gather_str_scalar, .compact_validity = sp_compact_validity_##isa,             \
    .arith_i64_col = sp_arith_i64_col_##isa, .arith_i64_lit = sp_arith_i64_lit_##isa,              \
    .arith_f64_col = sp_arith_f64_col_##isa, .arith_f64_lit = sp_arith_f64_lit_##isa,              \
    .cast_i64_f64 = sp_cast_i64_f64_##cast_isa, .cast_f64_i64 = sp_cast_f64_i64_##cast_isa,        \
    .hash_combine = sp_hash_combine_##isa

/*
 * Hash join: the AVX2 and AVX-512 tables have their own i64 probe (4 or 8 rows
 * a group, no branch per row: 1.6x and 2.1x the scalar loop on a 10K-key
 * table in the caches, 1.0x and 1.4x on a 1M-key table, bench/micro/
 * micro_join.c); builds and string probes are the scalar code (a build's
 * inserts depend on each other, a string probe compares views).
 */
#define SP_JOIN_KERNELS(probe_isa)                                                                 \
    .join_build_i64 = sp_join_build_i64_scalar, .join_build_str = sp_join_build_str_scalar,        \
    .join_probe_i64 = sp_join_probe_i64_##probe_isa, .join_probe_str = sp_join_probe_str_scalar

const struct sp_kernels sp_kernels_scalar = {
    .isa = "scalar",
    .tokenize_ws = sp_text_tokenize_ws_scalar,
    .tokenize_set = sp_text_tokenize_set_scalar,
    .find_newlines = sp_text_find_newlines_scalar,
    .make_views = sp_text_make_views_scalar,
    .filter_cmp_i64 = sp_filter_cmp_i64_scalar,
    .filter_eq_str = sp_filter_eq_str_scalar,
    .hash_i64 = sp_hash_i64_scalar,
    .hash_str = sp_hash_str_scalar,
    .parse_i64 = sp_parse_i64_scalar,
    .parse_f64 = sp_parse_f64_scalar,
    SP_COLUMN_KERNELS(scalar, scalar),
    .decode_fixed64 = sp_binary_decode_fixed64_scalar,
    .decode_fixed64_strided = sp_binary_decode_fixed64_strided_scalar,
    SP_JOIN_KERNELS(scalar),
    SP_PANE_KERNELS(scalar),
};

#ifdef SPATE_HAVE_AVX2
const struct sp_kernels sp_kernels_avx2 = {
    .isa = "avx2",
    .tokenize_ws = sp_text_tokenize_ws_avx2,
    .tokenize_set = sp_text_tokenize_set_avx2,
    .find_newlines = sp_text_find_newlines_avx2,
    .make_views = sp_text_make_views_scalar,
    .filter_cmp_i64 = sp_filter_cmp_i64_avx2,
    .filter_eq_str = sp_filter_eq_str_avx2,
    .hash_i64 = sp_hash_i64_avx2,
    .hash_str = sp_hash_str_scalar,
    .parse_i64 = sp_parse_i64_avx2,
    .parse_f64 = sp_parse_f64_scalar,
    SP_COLUMN_KERNELS(avx2, scalar),
    .decode_fixed64 = sp_binary_decode_fixed64_avx2,
    .decode_fixed64_strided = sp_binary_decode_fixed64_strided_avx2,
    SP_JOIN_KERNELS(avx2),
    SP_PANE_KERNELS(scalar),
};
#endif

#ifdef SPATE_HAVE_AVX512
const struct sp_kernels sp_kernels_avx512 = {
    .isa = "avx512",
    .tokenize_ws = sp_text_tokenize_ws_avx512,
    .tokenize_set = sp_text_tokenize_set_avx512,
    .find_newlines = sp_text_find_newlines_avx512,
    .make_views = sp_text_make_views_scalar,
    .filter_cmp_i64 = sp_filter_cmp_i64_avx512,
    .filter_eq_str = sp_filter_eq_str_avx512,
    .hash_i64 = sp_hash_i64_avx512,
    .hash_str = sp_hash_str_scalar,
    .parse_i64 = sp_parse_i64_avx512,
    .parse_f64 = sp_parse_f64_scalar,
    SP_COLUMN_KERNELS(avx512, avx512),
    .decode_fixed64 = sp_binary_decode_fixed64_avx512,
    .decode_fixed64_strided = sp_binary_decode_fixed64_strided_avx512,
    SP_JOIN_KERNELS(avx512),
    SP_PANE_KERNELS(scalar),
};
#endif

/* Built tables, best last; the name list below follows the same order. */
static const struct sp_kernels *const built_tables[] = {
    &sp_kernels_scalar,
#ifdef SPATE_HAVE_AVX2
    &sp_kernels_avx2,
#endif
#ifdef SPATE_HAVE_AVX512
    &sp_kernels_avx512,
#endif
};

static const char *const built_names[] = {
    "scalar",
#ifdef SPATE_HAVE_AVX2
    "avx2",
#endif
#ifdef SPATE_HAVE_AVX512
    "avx512",
#endif
    NULL,
};

const char *const *sp_kernels_built(void) {
    return built_names;
}

const struct sp_kernels *sp_kernels_select(const char *name) {
    size_t count = sizeof built_tables / sizeof built_tables[0];

    if (name == NULL || strcmp(name, "auto") == 0) {
        for (size_t i = count; i-- > 0;) {
            if (sp_cpu_supports(built_tables[i]->isa))
                return built_tables[i];
        }
        return &sp_kernels_scalar;
    }
    for (size_t i = 0; i < count; i++) {
        if (strcmp(name, built_tables[i]->isa) == 0)
            return sp_cpu_supports(name) ? built_tables[i] : NULL;
    }
    return NULL;
}
