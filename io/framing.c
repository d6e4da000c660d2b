/*
 * io/framing.c - line framing of a byte stream (see framing.h).
 *
 * Invariants: carry_len <= max_line; when skipping, carry is empty and
 * every byte up to the next '\n' is dropped. Complete lines inside one piece
 * are emitted straight from the piece (b), so carry is touched only for the
 * line that crosses a piece boundary.
 */
#include "io/framing.h"

#include <string.h>

void sp_framer_init(struct sp_line_framer *f, char *carry, uint32_t max_line,
                    _Atomic uint64_t *malformed, sp_line_emit_fn emit, void *user) {
    f->carry = carry;
    f->carry_len = 0;
    f->max_line = max_line;
    f->skipping = false;
    f->malformed = malformed;
    f->emit = emit;
    f->user = user;
}

static void count_malformed(struct sp_line_framer *f) {
    if (f->malformed != NULL)
        atomic_fetch_add_explicit(f->malformed, 1, memory_order_relaxed);
}

int sp_framer_consume(struct sp_line_framer *f, const char *p, size_t n) {
    const char *end = p + n;
    while (p < end) {
        size_t left = (size_t)(end - p);
        const char *nl = memchr(p, '\n', left);
        if (f->skipping) {
            if (nl == NULL)
                return 0;
            f->skipping = false;
            p = nl + 1;
            continue;
        }
        if (nl == NULL) {
            /* Partial line: keep it unless it is already too long. */
            if (f->carry_len + left > f->max_line) {
                count_malformed(f);
                f->carry_len = 0;
                f->skipping = true;
                return 0;
            }
            memcpy(f->carry + f->carry_len, p, left);
            f->carry_len += (uint32_t)left;
            return 0;
        }
        size_t len = (size_t)(nl - p); /* without the '\n' */
        if (f->carry_len + len > f->max_line) {
            count_malformed(f);
        } else {
            int rc = f->emit(f->user, f->carry, f->carry_len, p, len + 1);
            if (rc != 0)
                return rc;
        }
        f->carry_len = 0;
        p = nl + 1;
    }
    return 0;
}

int sp_framer_finish(struct sp_line_framer *f) {
    int rc = 0;
    if (!f->skipping && f->carry_len > 0) {
        f->carry[f->carry_len] = '\n';
        rc = f->emit(f->user, f->carry, f->carry_len + 1u, "", 0);
    }
    sp_framer_reset(f);
    return rc;
}

void sp_framer_reset(struct sp_line_framer *f) {
    f->carry_len = 0;
    f->skipping = false;
}
