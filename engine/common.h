/*
 * engine/common.h - what every engine file uses: assertions, error helpers,
 * the status-propagation macros, and the ban on the libc allocator.
 *
 * Invariant: every fallible internal call returns a spate_status (0 or a
 * positive errno value) and leaves its message in a struct spate_error.
 */
#ifndef SP_COMMON_H
#define SP_COMMON_H

#include <stdarg.h>
#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdlib.h> /* before the poison below: the headers may name malloc */
#include <string.h>

#include "spate/error.h"

#ifdef SPATE_DEBUG
#include <assert.h>
#define SPATE_ASSERT(x) assert(x)
#else
#define SPATE_ASSERT(x) ((void)0)
#endif
/* Defensive branches: true/false in release, asserted in debug. */
#define SPATE_ALWAYS(x) (SPATE_ASSERT(x), (x))
#define SPATE_NEVER(x) (SPATE_ASSERT(!(x)), (x))

#define SPATE_RETURN_NOT_OK(expr)                                                                  \
    do {                                                                                           \
        spate_status sp_rc_ = (expr);                                                              \
        if (sp_rc_ != SPATE_OK)                                                                    \
            return sp_rc_;                                                                         \
    } while (0)

#define SP_UNUSED(x) ((void)(x))
#define SP_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SP_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Write a formatted message into err (if not NULL) and return code. */
spate_status sp_error_set(struct spate_error *err, spate_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Copy src's message into dst (both may be NULL) and return code. */
spate_status sp_error_copy(struct spate_error *dst, const struct spate_error *src,
                           spate_status code);

/* Monotonic time in nanoseconds. */
int64_t sp_now_ns(void);

/* The libc allocator is not used in engine/: everything goes through sp_mem
 * (mem.c, the one file that reaches the allocators, defines SP_MEM_IMPL).
 * Tests include these headers too: the ban holds for the library's own files. */
#if defined(SP_LIBRARY_BUILD) && !defined(SP_MEM_IMPL)
#pragma GCC poison malloc calloc realloc free aligned_alloc
#endif

#endif /* SP_COMMON_H */
