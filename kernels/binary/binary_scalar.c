/*
 * kernels/binary/binary_scalar.c - the scalar reference of the decode kernels.
 *
 * Byte by byte assembly of little-endian integers (sp_binary_le64), which
 * compilers turn into one unaligned load on little-endian hosts: this file
 * is the specification the SIMD variants are tested against.
 */
#include "kernels/binary/binary.h"

void sp_binary_decode_fixed64_scalar(const char *const *restrict rec, uint32_t offset, uint32_t n,
                                     uint64_t *restrict out) {
    for (uint32_t i = 0; i < n; i++)
        out[i] = sp_binary_le64(rec[i] + offset);
}

void sp_binary_decode_fixed64_strided_scalar(const char *restrict base, uint32_t stride, uint32_t n,
                                             uint64_t *restrict out) {
    for (uint32_t i = 0; i < n; i++, base += stride)
        out[i] = sp_binary_le64(base);
}
