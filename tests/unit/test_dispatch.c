/*
 * tests/unit/test_dispatch.c - choosing a kernel table: sp_kernels_select,
 * sp_kernels_built and sp_cpu_supports.
 *
 * "scalar" always works; an unknown name gives NULL; a built ISA is returned
 * exactly when the CPU supports it (so "avx512" is NULL on a CPU without it);
 * NULL and "auto" give the best supported table. SPATE_ISA, when set, is
 * checked the way the engine uses it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "kernels/kernels.h"

static void check_table(const struct sp_kernels *k, const char *isa) {
    assert_non_null(k);
    assert_string_equal(k->isa, isa);
    assert_non_null(k->tokenize_ws);
    assert_non_null(k->find_newlines);
    assert_non_null(k->make_views);
    assert_non_null(k->filter_cmp_i64);
    assert_non_null(k->filter_eq_str);
    assert_non_null(k->hash_i64);
    assert_non_null(k->hash_str);
}

static void test_scalar_always(void **state) {
    (void)state;
    assert_true(sp_cpu_supports("scalar"));
    assert_ptr_equal(sp_kernels_select("scalar"), &sp_kernels_scalar);
    check_table(&sp_kernels_scalar, "scalar");
}

static void test_unknown_names(void **state) {
    (void)state;
    static const char *const bad[] = {"",     "sse2",  "avx",     "AVX2",  "avx512f",
                                      "neon", "auto ", "scalar2", "Scalar"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_null(sp_kernels_select(bad[i]));
        assert_false(sp_cpu_supports(bad[i]));
    }
    assert_false(sp_cpu_supports(NULL));
}

static void test_built_list(void **state) {
    (void)state;
    const char *const *built = sp_kernels_built();
    size_t n = 0;

    assert_non_null(built);
    assert_string_equal(built[0], "scalar");
    for (; built[n] != NULL; n++) {
        assert_true(n < 3);
        print_message("[   INFO   ] built: %s (%s by this CPU)\n", built[n],
                      sp_cpu_supports(built[n]) ? "supported" : "not supported");
    }
#ifdef SPATE_HAVE_AVX2
    check_table(&sp_kernels_avx2, "avx2");
    assert_string_equal(built[1], "avx2");
#endif
#ifdef SPATE_HAVE_AVX512
    check_table(&sp_kernels_avx512, "avx512");
    assert_string_equal(built[n - 1], "avx512");
#endif
    /* every supported built table can be forced, the others give NULL */
    for (size_t i = 0; i < n; i++) {
        const struct sp_kernels *k = sp_kernels_select(built[i]);
        if (sp_cpu_supports(built[i])) {
            check_table(k, built[i]);
        } else {
            print_message("[  SKIPPED ] forcing %s: not supported by this CPU, NULL checked\n",
                          built[i]);
            assert_null(k);
        }
    }
}

static bool is_built(const char *isa) {
    for (const char *const *b = sp_kernels_built(); *b != NULL; b++)
        if (strcmp(*b, isa) == 0)
            return true;
    return false;
}

static void test_forced_not_built_or_supported(void **state) {
    (void)state;
    static const char *const isas[] = {"avx2", "avx512"};
    for (size_t i = 0; i < 2; i++) {
        const struct sp_kernels *k = sp_kernels_select(isas[i]);
        if (!is_built(isas[i]) || !sp_cpu_supports(isas[i]))
            assert_null(k);
        else
            check_table(k, isas[i]);
    }
    /* avx512 implies avx2 on every CPU we accept */
    if (sp_cpu_supports("avx512"))
        assert_true(sp_cpu_supports("avx2"));
}

static void test_auto_is_best(void **state) {
    (void)state;
    const struct sp_kernels *best = &sp_kernels_scalar;

    for (const char *const *b = sp_kernels_built(); *b != NULL; b++)
        if (sp_cpu_supports(*b))
            best = sp_kernels_select(*b);
    assert_ptr_equal(sp_kernels_select(NULL), best);
    assert_ptr_equal(sp_kernels_select("auto"), best);
    print_message("[   INFO   ] auto selects %s\n", best->isa);
}

static void test_env_forcing(void **state) {
    (void)state;
    const char *isa = getenv("SPATE_ISA");
    if (isa == NULL) {
        print_message("[  SKIPPED ] SPATE_ISA is not set\n");
        skip();
    }
    const struct sp_kernels *k = sp_kernels_select(isa);
    if (strcmp(isa, "auto") == 0) {
        assert_non_null(k);
    } else if (is_built(isa) && sp_cpu_supports(isa)) {
        check_table(k, isa);
    } else {
        assert_null(k);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalar_always), cmocka_unit_test(test_unknown_names),
        cmocka_unit_test(test_built_list),    cmocka_unit_test(test_forced_not_built_or_supported),
        cmocka_unit_test(test_auto_is_best),  cmocka_unit_test(test_env_forcing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
