/*
 * kernels/hash/combine.h - hash_combine: fold the hashes of a second key
 * column into the first, so that a composite key hashes as one value.
 *
 * The mix is Boost's 64-bit hash_combine_impl (Boost 1.56 to 1.80, after
 * MurmurHash2-64A), with m = 0xc6a4a7935bd1e995:
 *   k = h2; k *= m; k ^= k >> 47; k *= m;  h ^= k; h *= m; h += 0xe6546b64;
 * h2 is mixed before it meets h and h is not, so the order of the columns
 * matters: (a, b) and (b, a) hash differently. (Boost 1.81's newer form,
 * mix(h + c + h2), is symmetric in h and h2, which would make (a, b) and
 * (b, a) collide here.) Every variant gives the same bits.
 */
#ifndef SP_KERNELS_HASH_COMBINE_H
#define SP_KERNELS_HASH_COMBINE_H

#include "kernels/common.h"

#define SP_HASH_MIX_MUL 0xc6a4a7935bd1e995ull
#define SP_HASH_MIX_ADD 0xe6546b64ull

SP_KINLINE uint64_t sp_hash_combine1(uint64_t h, uint64_t h2) {
    uint64_t k = h2 * SP_HASH_MIX_MUL;

    k ^= k >> 47;
    k *= SP_HASH_MIX_MUL;
    return ((h ^ k) * SP_HASH_MIX_MUL) + SP_HASH_MIX_ADD;
}

void sp_hash_combine_scalar(uint64_t *restrict h, const uint64_t *restrict h2, uint32_t n);
#ifdef SPATE_HAVE_AVX2
void sp_hash_combine_avx2(uint64_t *restrict h, const uint64_t *restrict h2, uint32_t n);
#endif
#ifdef SPATE_HAVE_AVX512
void sp_hash_combine_avx512(uint64_t *restrict h, const uint64_t *restrict h2, uint32_t n);
#endif

#endif /* SP_KERNELS_HASH_COMBINE_H */
