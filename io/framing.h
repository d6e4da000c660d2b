/*
 * io/framing.h - cutting a byte stream into '\n'-terminated lines.
 *
 * The framer is fed the bytes of one connection in pieces of any size and
 * hands every complete line, '\n' included, to its emit callback: a line
 * split across pieces is joined through the carry buffer (max_line + 1
 * bytes, the caller's). Runs of complete lines that cannot hold an over-long
 * line (the run is at most max_line + 1 bytes) go to emit in one call, with
 * their count, so a receiver copies a receive buffer in one memcpy. A line
 * longer than max_line bytes (without its
 * '\n') is counted as malformed and skipped through its '\n', and nothing
 * around it is lost. At the end of the stream a non-empty partial line is
 * emitted with a '\n' added, as readLine() does at EOF.
 *
 * Record mode (sp_framer_init_records): the stream is cut every record_bytes
 * bytes instead, with no delimiter; a record split across pieces is joined
 * through the carry buffer (at least record_bytes bytes), runs of whole
 * records go to emit in one call, and a partial record left at the end of
 * the stream (finish) is torn: counted as malformed and dropped.
 */
#ifndef SP_FRAMING_H
#define SP_FRAMING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Receives lines complete lines: a[0..alen) then b[0..blen), ending in '\n' (a run of
 * several lines comes in one call). Returns 0 or -errno (stops). */
typedef int (*sp_line_emit_fn)(void *user, const char *a, size_t alen, const char *b, size_t blen,
                               uint32_t lines);

struct sp_line_framer {
    char *carry;                 /* max_line + 1 bytes, the caller's */
    uint32_t carry_len;          /* bytes of the current partial line in carry */
    uint32_t max_line;           /* longest accepted line without its '\n' */
    bool skipping;               /* the current line is over-long: drop until '\n' */
    _Atomic uint64_t *malformed; /* incremented (relaxed) per over-long line */
    sp_line_emit_fn emit;
    void *user;
    uint32_t record_bytes; /* > 0: fixed-width records of this size, not lines */
};

void sp_framer_init(struct sp_line_framer *f, char *carry, uint32_t max_line,
                    _Atomic uint64_t *malformed, sp_line_emit_fn emit, void *user);
/* Record mode: cut the stream every record_bytes bytes; runs given to emit are at most
 * max_line + 1 bytes (as in line mode, so the same ring bound holds) and at least one record.
 * carry: max_line + 1 bytes, max_line >= record_bytes. malformed counts torn records. */
void sp_framer_init_records(struct sp_line_framer *f, char *carry, uint32_t record_bytes,
                            uint32_t max_line, _Atomic uint64_t *malformed, sp_line_emit_fn emit,
                            void *user);
/* Cut p[0..n) into lines. Returns 0 or the first error of emit. */
int sp_framer_consume(struct sp_line_framer *f, const char *p, size_t n);
/* End of the stream: emit the partial line (with '\n'), then reset. Returns 0 or emit's error. */
int sp_framer_finish(struct sp_line_framer *f);
/* Forget the partial line (the connection broke); in record mode a partial record is counted
 * as malformed. */
void sp_framer_reset(struct sp_line_framer *f);

#endif /* SP_FRAMING_H */
