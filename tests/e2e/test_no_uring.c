/*
 * tests/e2e/test_no_uring.c - io_uring unavailable (an old kernel, or a
 * seccomp policy as container runtimes install): a socket stream must fail
 * at start with a clear message naming io_uring, leave the context STOPPED,
 * and not fall back silently. A forked child installs a seccomp filter that
 * makes io_uring_setup fail with ENOSYS, then tries.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spate/spate.h"

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif

static int deny_io_uring(void) {
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (uint32_t)offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (uint32_t)offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = (unsigned short)(sizeof(filter) / sizeof(filter[0])),
                              .filter = filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
}

/* In the child: 0 = the expected clear failure, other values say what went wrong. */
static int child(void) {
    if (deny_io_uring() != 0)
        return 10; /* cannot install the filter here: reported as a skip */
    struct spate_error err;
    struct spate_engine_opts eo;
    spate_engine_opts_init(&eo);
    eo.workers = 1;
    eo.pin_workers = false;
    spate_engine *engine;
    if (spate_engine_create(&eo, &engine, &err) != SPATE_OK)
        return 2;
    spate_context *ctx;
    if (spate_context_create(engine, NULL, &ctx, &err) != SPATE_OK)
        return 3;
    struct spate_socket_opts so;
    spate_socket_opts_init(&so);
    so.quiet = true;
    spate_dstream *lines = spate_context_socket_text_stream(ctx, "127.0.0.1", 9, &so, &err);
    if (lines == NULL || spate_dstream_print(lines, 10, &err) != SPATE_OK)
        return 4;
    err.message[0] = '\0';
    spate_status rc = spate_context_start(ctx, &err);
    if (rc == SPATE_OK)
        return 5; /* a silent fallback */
    if (strstr(err.message, "io_uring") == NULL) {
        fprintf(stderr, "message without io_uring: %s\n", err.message);
        return 6;
    }
    fprintf(stderr, "start failed as expected (%d): %s\n", rc, err.message);
    if (spate_context_state(ctx) != SPATE_CONTEXT_STOPPED)
        return 7;
    rc = spate_context_stop(ctx, true, false, &err);
    spate_context_destroy(ctx);
    return rc == SPATE_OK ? 0 : 8;
}

static void start_fails_clearly_without_io_uring(void **state) {
    (void)state;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(child());
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == 10)
        skip(); /* seccomp not permitted in this sandbox */
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(start_fails_clearly_without_io_uring),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
