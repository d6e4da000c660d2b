/*
 * kernels/binary/binary.h - the decode kernels of fixed-width binary records.
 *
 * A field of a binary record is read as its bytes in little-endian order,
 * whatever the host: decode_fixed64 gathers the 8 bytes at rec[i] + offset
 * of n records given by pointer, decode_fixed64_strided the 8 bytes at
 * base + i * stride of n records laid out back to back (records framed from
 * one stream are contiguous in ring memory). Every variant reads exactly
 * those 8 bytes of each record (full vectors use gathers of 8-byte lanes,
 * the rows left at the end go through the scalar code), so a field that ends
 * at the last byte of a mapping is safe, and writes out[0, n) only.
 */
#ifndef SP_KERNELS_BINARY_H
#define SP_KERNELS_BINARY_H

#include "kernels/common.h"

/* The 8 bytes at p as a little-endian integer (the scalar specification): one unaligned load
 * on a little-endian host, the bytes assembled one by one elsewhere. */
SP_KINLINE uint64_t sp_binary_le64(const char *p) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return sp_load_u64(p);
#else
    const unsigned char *b = (const unsigned char *)p;
    return (uint64_t)b[0] | (uint64_t)b[1] << 8 | (uint64_t)b[2] << 16 | (uint64_t)b[3] << 24 |
           (uint64_t)b[4] << 32 | (uint64_t)b[5] << 40 | (uint64_t)b[6] << 48 |
           (uint64_t)b[7] << 56;
#endif
}

/* ---- Entry points (tables in kernels/dispatch.c) ---- */

void sp_binary_decode_fixed64_scalar(const char *const *restrict rec, uint32_t offset, uint32_t n,
                                     uint64_t *restrict out);
void sp_binary_decode_fixed64_strided_scalar(const char *restrict base, uint32_t stride, uint32_t n,
                                             uint64_t *restrict out);

#ifdef SPATE_HAVE_AVX2
void sp_binary_decode_fixed64_avx2(const char *const *restrict rec, uint32_t offset, uint32_t n,
                                   uint64_t *restrict out);
void sp_binary_decode_fixed64_strided_avx2(const char *restrict base, uint32_t stride, uint32_t n,
                                           uint64_t *restrict out);
#endif

#ifdef SPATE_HAVE_AVX512
void sp_binary_decode_fixed64_avx512(const char *const *restrict rec, uint32_t offset, uint32_t n,
                                     uint64_t *restrict out);
void sp_binary_decode_fixed64_strided_avx512(const char *restrict base, uint32_t stride, uint32_t n,
                                             uint64_t *restrict out);
#endif

#endif /* SP_KERNELS_BINARY_H */
