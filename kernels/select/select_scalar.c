/*
 * kernels/select/select_scalar.c - scalar reference of the selection kernels:
 * merge-based set operations and plain gathers.
 *
 * The set operations are plain merges (a form that advances both cursors
 * without branches, i += x <= y, measured slower: every step then waits on
 * the previous one's compare); the complement walks 0..n with one cursor into
 * a. compact_validity builds each output word in a register.
 */
#include "kernels/select/select.h"

uint32_t sp_sel_and_scalar(const uint16_t *restrict a, uint32_t na, const uint16_t *restrict b,
                           uint32_t nb, uint16_t *restrict out) {
    uint32_t i = 0, j = 0, count = 0;

    while (i < na && j < nb) {
        if (a[i] < b[j]) {
            i++;
        } else if (b[j] < a[i]) {
            j++;
        } else {
            out[count++] = a[i];
            i++;
            j++;
        }
    }
    return count;
}

uint32_t sp_sel_or_scalar(const uint16_t *restrict a, uint32_t na, const uint16_t *restrict b,
                          uint32_t nb, uint16_t *restrict out) {
    uint32_t i = 0, j = 0, count = 0;

    while (i < na && j < nb) {
        if (a[i] < b[j]) {
            out[count++] = a[i++];
        } else if (b[j] < a[i]) {
            out[count++] = b[j++];
        } else {
            out[count++] = a[i++];
            j++;
        }
    }
    while (i < na)
        out[count++] = a[i++];
    while (j < nb)
        out[count++] = b[j++];
    return count;
}

uint32_t sp_sel_not_scalar(const uint16_t *restrict a, uint32_t na, uint32_t n,
                           uint16_t *restrict out) {
    uint32_t j = 0, count = 0;

    for (uint32_t row = 0; row < n; row++) {
        bool in = j < na && a[j] == row;
        out[count] = (uint16_t)row; /* count <= row < n */
        count += !in;
        j += in;
    }
    return count;
}

void sp_gather_u64_scalar(const uint64_t *restrict v, const uint16_t *restrict sel, uint32_t n,
                          uint64_t *restrict out) {
    for (uint32_t i = 0; i < n; i++)
        out[i] = v[sel[i]];
}

void sp_gather_str_scalar(const struct spate_string *restrict v, const uint16_t *restrict sel,
                          uint32_t n, struct spate_string *restrict out) {
    for (uint32_t i = 0; i < n; i++)
        memcpy(&out[i], &v[sel[i]], sizeof out[i]);
}

uint32_t sp_compact_validity_scalar(const uint64_t *restrict validity, const uint16_t *restrict sel,
                                    uint32_t n, uint64_t *restrict out) {
    uint32_t valid = 0;

    for (uint32_t base = 0; base < n; base += 64) {
        uint32_t end = SP_KMIN(n, base + 64);
        uint64_t word = 0;

        if (validity == NULL) {
            word = sp_low_mask(end - base);
        } else {
            for (uint32_t i = base; i < end; i++)
                word |= sp_valid_bit(validity, sel[i]) << (i - base);
        }
        out[base >> 6] = word;
        valid += (uint32_t)__builtin_popcountll(word);
    }
    return valid;
}
