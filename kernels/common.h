/*
 * kernels/common.h - small helpers shared by every kernel file.
 *
 * Only macros and static inline functions: this header is included by files
 * compiled with different ISA flags, and an extern or plain inline body could
 * be the copy the linker keeps for scalar callers (SIGILL on older CPUs).
 */
#ifndef SP_KERNELS_COMMON_H
#define SP_KERNELS_COMMON_H

#include <stdint.h>
#include <string.h>

#include "kernels/kernels.h"

/* Force inlining of the loop bodies that take constant flags, so that every
 * specialization (selection or not, validity or not, operator) is compiled. */
#define SP_KINLINE static inline __attribute__((always_inline))

#define SP_KMIN(a, b) ((a) < (b) ? (a) : (b))

/* Unaligned loads that do not break strict aliasing. */
SP_KINLINE uint32_t sp_load_u32(const void *p) {
    uint32_t x;
    memcpy(&x, p, sizeof x);
    return x;
}

SP_KINLINE uint64_t sp_load_u64(const void *p) {
    uint64_t x;
    memcpy(&x, p, sizeof x);
    return x;
}

/* Bit row of validity word (NULL validity: every row valid). */
SP_KINLINE uint64_t sp_valid_bit(const uint64_t *validity, uint32_t row) {
    return (validity[row >> 6] >> (row & 63)) & 1;
}

/* Mask of the low `bits` bits, bits in [0, 64]. */
SP_KINLINE uint64_t sp_low_mask(uint32_t bits) {
    return bits >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << bits) - 1);
}

/* Validity word w of the AND of two bitmaps (NULL: all valid). */
SP_KINLINE uint64_t sp_valid_word2(const uint64_t *va, const uint64_t *vb, uint32_t w) {
    return (va != NULL ? va[w] : ~(uint64_t)0) & (vb != NULL ? vb[w] : ~(uint64_t)0);
}

#endif /* SP_KERNELS_COMMON_H */
