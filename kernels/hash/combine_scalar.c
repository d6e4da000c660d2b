/*
 * kernels/hash/combine_scalar.c - scalar reference of hash_combine (the mix
 * is in combine.h).
 */
#include "kernels/hash/combine.h"

void sp_hash_combine_scalar(uint64_t *restrict h, const uint64_t *restrict h2, uint32_t n) {
    for (uint32_t i = 0; i < n; i++)
        h[i] = sp_hash_combine1(h[i], h2[i]);
}
