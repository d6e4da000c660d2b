/*
 * io/framing.c - line framing of a byte stream (see framing.h).
 *
 * Invariants: carry_len <= max_line; when skipping, carry is empty and
 * every byte up to the next '\n' is dropped. Complete lines inside one piece
 * are emitted straight from the piece (b), so carry is touched only for the
 * line that crosses a piece boundary. In record mode carry_len < record_bytes
 * <= max_line and every emitted range is a whole number of records.
 */
#include "io/framing.h"

#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Number of '\n' in p[0, n): SSE2 compares summed with psadbw (no popcount instruction in
 * the baseline ISA: a libgcc call per block cost more than the compare). */
static uint32_t count_newlines(const char *p, size_t n) {
    uint64_t c = 0;
    size_t i = 0;
#if defined(__SSE2__)
    const __m128i nl = _mm_set1_epi8('\n'), zero = _mm_setzero_si128();
    while (i + 16 <= n) {
        __m128i acc = zero; /* per-byte counts, at most 255 blocks before they are summed */
        for (int k = 0; k < 255 && i + 16 <= n; k++, i += 16)
            acc = _mm_sub_epi8(acc, _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + i)), nl));
        __m128i sums = _mm_sad_epu8(acc, zero);
        c += (uint64_t)_mm_cvtsi128_si64(sums) +
             (uint64_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(sums, sums));
    }
#endif
    for (; i < n; i++)
        c += p[i] == '\n';
    return (uint32_t)c;
}

void sp_framer_init(struct sp_line_framer *f, char *carry, uint32_t max_line,
                    _Atomic uint64_t *malformed, sp_line_emit_fn emit, void *user) {
    f->carry = carry;
    f->carry_len = 0;
    f->max_line = max_line;
    f->skipping = false;
    f->malformed = malformed;
    f->emit = emit;
    f->user = user;
    f->record_bytes = 0;
}

void sp_framer_init_records(struct sp_line_framer *f, char *carry, uint32_t record_bytes,
                            uint32_t max_line, _Atomic uint64_t *malformed, sp_line_emit_fn emit,
                            void *user) {
    sp_framer_init(f, carry, max_line, malformed, emit, user);
    f->record_bytes = record_bytes;
}

static void count_malformed(struct sp_line_framer *f) {
    if (f->malformed != NULL)
        atomic_fetch_add_explicit(f->malformed, 1, memory_order_relaxed);
}

/* ---- Record mode ---- */

/* Whole records: complete the carried one first, then every whole record of the piece in one
 * emit, then carry the rest (less than one record). Invariant: carry_len < record_bytes. */
static int consume_records(struct sp_line_framer *f, const char *p, size_t n) {
    size_t rb = f->record_bytes;
    if (f->carry_len > 0) {
        size_t take = rb - f->carry_len;
        if (take > n)
            take = n;
        memcpy(f->carry + f->carry_len, p, take);
        f->carry_len += (uint32_t)take;
        p += take;
        n -= take;
        if (f->carry_len < rb)
            return 0;
        f->carry_len = 0;
        int rc = f->emit(f->user, f->carry, rb, p, 0, 1);
        if (rc != 0)
            return rc;
    }
    /* Runs capped as a line framer's are (max_line + 1 bytes), so one emit always fits. */
    size_t per_run = ((size_t)f->max_line + 1) / rb;
    while (n >= rb) {
        size_t count = n / rb < per_run ? n / rb : per_run;
        int rc = f->emit(f->user, f->carry, 0, p, count * rb, (uint32_t)count);
        if (rc != 0)
            return rc;
        p += count * rb;
        n -= count * rb;
    }
    memcpy(f->carry, p, n);
    f->carry_len = (uint32_t)n;
    return 0;
}

int sp_framer_consume(struct sp_line_framer *f, const char *p, size_t n) {
    if (f->record_bytes > 0)
        return consume_records(f, p, n);
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
        if (f->carry_len == 0 && left <= (size_t)f->max_line + 1) {
            /* No line in p[0, left) can be over-long: every complete one in one call. */
            const char *last = memrchr(nl, '\n', left - len);
            size_t run = (size_t)(last - p) + 1;
            int rc = f->emit(f->user, f->carry, 0, p, run, count_newlines(p, run));
            if (rc != 0)
                return rc;
            p += run;
            continue;
        }
        if (f->carry_len + len > f->max_line) {
            count_malformed(f);
        } else {
            int rc = f->emit(f->user, f->carry, f->carry_len, p, len + 1, 1);
            if (rc != 0)
                return rc;
        }
        f->carry_len = 0;
        p = nl + 1;
    }
    return 0;
}

int sp_framer_finish(struct sp_line_framer *f) {
    if (f->record_bytes > 0) { /* a torn record: counted, dropped */
        sp_framer_reset(f);    /* counts the partial record */
        return 0;
    }
    int rc = 0;
    if (!f->skipping && f->carry_len > 0) {
        f->carry[f->carry_len] = '\n';
        rc = f->emit(f->user, f->carry, f->carry_len + 1u, "", 0, 1);
    }
    sp_framer_reset(f);
    return rc;
}

void sp_framer_reset(struct sp_line_framer *f) {
    if (f->record_bytes > 0 && f->carry_len > 0)
        count_malformed(f); /* a torn record is lost with its connection */
    f->carry_len = 0;
    f->skipping = false;
}
