/*
 * kernels/cpu.c - which ISAs this CPU runs, from cpuid via
 * __builtin_cpu_supports (which also checks that the OS saves the AVX and
 * AVX-512 register state).
 *
 * "avx2" needs AVX2 plus BMI1/BMI2 and POPCNT (the AVX2 files are built with
 * -mbmi -mbmi2 -mpopcnt -mlzcnt); "avx512" needs F, BW, VL and DQ on top of
 * that. Non-x86 builds only run "scalar".
 */
#include "kernels/kernels.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
static bool has_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi") &&
           __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("popcnt");
}

static bool has_avx512(void) {
    return has_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
}
#else
static bool has_avx2(void) {
    return false;
}

static bool has_avx512(void) {
    return false;
}
#endif

bool sp_cpu_supports(const char *isa) {
    if (isa == NULL)
        return false;
    if (strcmp(isa, "scalar") == 0)
        return true;
    if (strcmp(isa, "avx2") == 0)
        return has_avx2();
    if (strcmp(isa, "avx512") == 0)
        return has_avx512();
    return false;
}
