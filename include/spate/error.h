/*
 * spate/error.h - the one error model of the public API.
 *
 * Every fallible call returns a spate_status: SPATE_OK (0) or a positive
 * <errno.h> value. The last parameter of such a call is an optional
 * caller-owned struct spate_error, written only on failure, never allocated
 * by spate. Failures that happen later on worker threads are reported through
 * spate_context_last_error() and spate_context_await_termination().
 */
#ifndef SPATE_ERROR_H
#define SPATE_ERROR_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SPATE_API __attribute__((visibility("default")))
#define SPATE_NODISCARD __attribute__((warn_unused_result))

/* SPATE_OK or a positive errno value (EINVAL, EBUSY, ECANCELED, ETIMEDOUT, ENOMEM, EIO, ...). */
typedef int spate_status;

#define SPATE_OK 0
#define SPATE_ERROR_MESSAGE_SIZE 256

/* Caller-allocated; may be passed as NULL to every call that takes one. */
struct spate_error {
    char message[SPATE_ERROR_MESSAGE_SIZE]; /* NUL-terminated; written only on failure */
};

/*
 * Reset err to an empty message. Returns nothing.
 * Ownership: the caller owns err. Thread safety: any thread.
 */
SPATE_API void spate_error_init(struct spate_error *err);

#ifdef __cplusplus
}
#endif

#endif /* SPATE_ERROR_H */
