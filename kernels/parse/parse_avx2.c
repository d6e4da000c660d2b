/*
 * kernels/parse/parse_avx2.c - integers with 128-bit SIMD (parse_simd.h).
 *
 * AVX2 has no byte-masked load. A field whose 16 bytes from its start lie in
 * one page is loaded directly: bytes past the field are read but cannot
 * fault, and parse_simd.h ignores them. Otherwise (and in sanitizer builds,
 * where such a read would be reported) it goes through a 16-byte stack copy,
 * which costs a store-forwarding stall: 2.5x slower on its own.
 */
#include "kernels/parse/parse_simd.h"

/* GCC says so with __SANITIZE_*__, clang with __has_feature. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SP_PARSE_COPY_ALWAYS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||                         \
    __has_feature(memory_sanitizer)
#define SP_PARSE_COPY_ALWAYS 1
#endif
#endif
#ifndef SP_PARSE_COPY_ALWAYS
#define SP_PARSE_COPY_ALWAYS 0
#endif

SP_KINLINE __m128i load_field(const char *p, uint32_t len) {
    if (len == 0) /* p may be one past the end, even the next page's first byte */
        return _mm_setzero_si128();
    if (!SP_PARSE_COPY_ALWAYS && ((uintptr_t)p & 4095u) <= 4096u - 16u)
        return _mm_loadu_si128((const __m128i *)p);
    char buf[16] __attribute__((aligned(16))) = {0};
    memcpy(buf, p, SP_KMIN(len, 16u));
    return _mm_load_si128((const __m128i *)buf);
}

uint32_t sp_parse_i64_avx2(const char *const *restrict ptr, const uint32_t *restrict len,
                           uint32_t n, int64_t *restrict out, uint64_t *restrict ok) {
    uint32_t bad = 0;
    for (uint32_t i = 0; i < n; i++) {
        int64_t v = 0;
        bool good = sp_parse_i64_simd_one(load_field(ptr[i], len[i]), ptr[i], len[i], &v);
        out[i] = good ? v : 0;
        sp_parse_set_ok(ok, i, good);
        bad += !good;
    }
    return bad;
}
