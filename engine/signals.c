/*
 * engine/signals.c - the opt-in SIGINT/SIGTERM helper: first signal, a
 * graceful stop; second, a forced one.
 *
 * The handler only does async-signal-safe things: it counts, sets the
 * context's force flag on the second signal, and writes a byte to a
 * self-pipe. A helper thread reads the pipe and calls the ordinary
 * spate_context_stop, so no library code runs inside the handler.
 * Invariant: at most one context has the helper (the globals below, under
 * sig_mu); spate_context_destroy removes it before the context is freed.
 */
#include "engine/context.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#define SIG_BYTE_STOP 1
#define SIG_BYTE_QUIT 2

static pthread_mutex_t sig_mu = PTHREAD_MUTEX_INITIALIZER;
static spate_context *_Atomic sig_ctx; /* the context served, read by the handler */
static _Atomic int sig_count;
static int sig_pipe[2] = {-1, -1};
static pthread_t sig_thread;
static struct sigaction old_int, old_term;

static void on_signal(int signo) {
    SP_UNUSED(signo);
    int saved = errno;
    int n = atomic_fetch_add(&sig_count, 1) + 1;
    spate_context *ctx = atomic_load(&sig_ctx);
    if (n >= 2 && ctx != NULL)
        atomic_store(&ctx->force_stop, true);
    char b = SIG_BYTE_STOP;
    ssize_t w = write(sig_pipe[1], &b, 1); /* non-blocking: a full pipe already says stop */
    SP_UNUSED(w);
    errno = saved;
}

static void *sig_main(void *arg) {
    spate_context *ctx = arg;
    pthread_setname_np(pthread_self(), "spate-signals");
    bool stopped = false;
    for (;;) {
        char b;
        ssize_t r = read(sig_pipe[0], &b, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || b == SIG_BYTE_QUIT)
            break;
        if (!stopped) {
            stopped = true;
            spate_status rc = spate_context_stop(ctx, false, true, NULL);
            SP_UNUSED(rc); /* reported through the context's state; await returns */
        }
    }
    return NULL;
}

spate_status spate_context_stop_on_signals(spate_context *ctx, struct spate_error *err) {
    if (ctx == NULL)
        return sp_error_set(err, EINVAL, "stop_on_signals: the context is NULL");
    pthread_mutex_lock(&sig_mu);
    if (atomic_load(&sig_ctx) != NULL) {
        pthread_mutex_unlock(&sig_mu);
        return sp_error_set(err, EBUSY, "stop_on_signals: a context already has the helper");
    }
    if (pipe2(sig_pipe, O_CLOEXEC) != 0)
        goto fail;
    if (fcntl(sig_pipe[1], F_SETFL, O_NONBLOCK) != 0)
        goto fail_pipe;
    atomic_store(&sig_count, 0);
    atomic_store(&ctx->force_stop, false);
    atomic_store(&sig_ctx, ctx);
    if (pthread_create(&sig_thread, NULL, sig_main, ctx) != 0)
        goto fail_ctx;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    bool int_set = sigaction(SIGINT, &sa, &old_int) == 0;
    if (!int_set || sigaction(SIGTERM, &sa, &old_term) != 0) {
        if (int_set)
            sigaction(SIGINT, &old_int, NULL);
        char q = SIG_BYTE_QUIT;
        ssize_t w = write(sig_pipe[1], &q, 1);
        SP_UNUSED(w);
        pthread_join(sig_thread, NULL);
        goto fail_ctx;
    }
    pthread_mutex_unlock(&sig_mu);
    return SPATE_OK;
fail_ctx:
    atomic_store(&sig_ctx, NULL);
fail_pipe:
    close(sig_pipe[0]);
    close(sig_pipe[1]);
    sig_pipe[0] = sig_pipe[1] = -1;
fail:
    pthread_mutex_unlock(&sig_mu);
    return sp_error_set(err, EIO, "stop_on_signals: cannot set up the helper: %s", strerror(errno));
}

void sp_signals_release(spate_context *ctx) {
    pthread_mutex_lock(&sig_mu);
    if (atomic_load(&sig_ctx) != ctx) {
        pthread_mutex_unlock(&sig_mu);
        return;
    }
    /* Handlers first, so no signal writes to a pipe about to close. */
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    char q = SIG_BYTE_QUIT;
    ssize_t w;
    do
        w = write(sig_pipe[1], &q, 1);
    while (w < 0 && errno == EINTR);
    pthread_join(sig_thread, NULL);
    close(sig_pipe[0]);
    close(sig_pipe[1]);
    sig_pipe[0] = sig_pipe[1] = -1;
    atomic_store(&sig_ctx, NULL);
    pthread_mutex_unlock(&sig_mu);
}
