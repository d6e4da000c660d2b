/*
 * kernels/hash/hash_scalar.c - scalar reference of the hash kernels: XXH3-64
 * of each i64 (its 8 bytes) and of each string view's bytes.
 *
 * xxHash is compiled in (XXH_INLINE_ALL), so the fixed 8-byte length folds
 * to XXH3's 4-to-8-byte path and every call inlines. These loops are also the
 * avx2 entries (no gain from 4-lane 64-bit multiplies emulated with vpmuludq)
 * and the avx512 hash_str entry.
 */
#include "kernels/hash/hash.h"

#include <xxhash.h>

void sp_hash_i64_scalar(const int64_t *restrict v, const uint16_t *restrict sel_in, uint32_t n,
                        uint64_t *restrict out)
{
    if (sel_in != NULL) {
        for (uint32_t i = 0; i < n; i++)
            out[i] = XXH3_64bits(&v[sel_in[i]], sizeof v[0]);
        return;
    }
    for (uint32_t i = 0; i < n; i++)
        out[i] = XXH3_64bits(&v[i], sizeof v[0]);
}

void sp_hash_str_scalar(const struct spate_string *restrict v, const uint16_t *restrict sel_in,
                        uint32_t n, uint64_t *restrict out)
{
    for (uint32_t i = 0; i < n; i++) {
        const struct spate_string *s = &v[sel_in != NULL ? sel_in[i] : i];
        out[i] = XXH3_64bits(sp_str_data(s), s->len);
    }
}
