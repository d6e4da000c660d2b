/*
 * kernels/hash/hash_scalar.c - scalar reference of the hash kernels: XXH3-64
 * of each i64 (its 8 bytes) and of each string view's bytes.
 *
 * xxHash is compiled in (XXH_INLINE_ALL), so the fixed 8-byte length folds
 * to XXH3's 4-to-8-byte path and every call inlines. hash_str is also the
 * avx2 and avx512 entry.
 */
#include "kernels/hash/hash.h"

#include <xxhash.h>

/*
 * XXH3-64 of the 8 bytes at p. The empty asm statement hides the value from
 * GCC's loop vectorizer: at -O3 it would emulate the 64-bit multiplies with
 * SSE2, 1.7x slower than this scalar loop.
 */
static inline uint64_t hash8(const int64_t *p) {
    int64_t x = *p;
#if defined(__GNUC__)
    __asm__("" : "+r"(x));
#endif
    return XXH3_64bits(&x, sizeof x);
}

void sp_hash_i64_scalar(const int64_t *restrict v, const uint16_t *restrict sel_in, uint32_t n,
                        uint64_t *restrict out) {
    if (sel_in != NULL) {
        for (uint32_t i = 0; i < n; i++)
            out[i] = hash8(&v[sel_in[i]]);
        return;
    }
    for (uint32_t i = 0; i < n; i++)
        out[i] = hash8(&v[i]);
}

void sp_hash_str_scalar(const struct spate_string *restrict v, const uint16_t *restrict sel_in,
                        uint32_t n, uint64_t *restrict out) {
    for (uint32_t i = 0; i < n; i++) {
        const struct spate_string *s = &v[sel_in != NULL ? sel_in[i] : i];
        out[i] = XXH3_64bits(sp_str_data(s), s->len);
    }
}
