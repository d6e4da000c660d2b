/*
 * kernels/hash/hash.h - the hash kernels of every ISA.
 *
 * The hash is XXH3-64 with seed 0 and the default secret, exactly: an i64 is
 * hashed as its 8 bytes in memory (XXH3_64bits(&v, 8)), a string as its
 * bytes (XXH3_64bits(data, len)). Output i belongs to candidate row i
 * (sel_in[i], or i without a selection): outputs are dense.
 */
#ifndef SP_KERNELS_HASH_H
#define SP_KERNELS_HASH_H

#include "kernels/common.h"

/* ---- Entry points (tables in kernels/dispatch.c) ---- */

void sp_hash_i64_scalar(const int64_t *restrict v, const uint16_t *restrict sel_in, uint32_t n,
                        uint64_t *restrict out);
void sp_hash_str_scalar(const struct spate_string *restrict v, const uint16_t *restrict sel_in,
                        uint32_t n, uint64_t *restrict out);

#ifdef SPATE_HAVE_AVX2
void sp_hash_i64_avx2(const int64_t *restrict v, const uint16_t *restrict sel_in, uint32_t n,
                      uint64_t *restrict out);
#endif

#ifdef SPATE_HAVE_AVX512
void sp_hash_i64_avx512(const int64_t *restrict v, const uint16_t *restrict sel_in, uint32_t n,
                        uint64_t *restrict out);
#endif

#endif /* SP_KERNELS_HASH_H */
