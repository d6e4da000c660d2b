/*
 * io/rate.h - a receiver's optional rate limit (Spark's
 * spark.streaming.receiver.maxRate): a token bucket of records per second,
 * one second deep, that the receiver thread takes from before it publishes
 * lines, sleeping while the bucket is empty. Holding the thread is the
 * backpressure: TCP senders slow down; UDP datagrams beyond the socket
 * buffer are dropped by the kernel, as UDP does.
 */
#ifndef SP_IO_RATE_H
#define SP_IO_RATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct sp_rate {
    uint64_t per_second; /* 0: no limit */
    double tokens;
    uint64_t last_ns;
};

static inline uint64_t sp_rate_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void sp_rate_init(struct sp_rate *r, uint64_t per_second) {
    r->per_second = per_second;
    r->tokens = (double)per_second / 10; /* a tenth of a second's worth to start */
    r->last_ns = sp_rate_now_ns();
}

/*
 * Take n records, sleeping until the bucket has them (in slices of at most
 * 10 ms, returning early when *stop becomes true). Adds the time slept to
 * *blocked_ns.
 */
static inline void sp_rate_take(struct sp_rate *r, uint64_t n, const _Atomic bool *stop,
                                _Atomic uint64_t *blocked_ns) {
    if (r->per_second == 0)
        return;
    uint64_t t0 = 0;
    for (;;) {
        uint64_t now = sp_rate_now_ns();
        r->tokens += (double)(now - r->last_ns) * 1e-9 * (double)r->per_second;
        if (r->tokens > (double)r->per_second)
            r->tokens = (double)r->per_second; /* one second deep */
        r->last_ns = now;
        if (r->tokens >= (double)n || (r->tokens >= (double)r->per_second && n > r->per_second) ||
            atomic_load_explicit(stop, memory_order_relaxed))
            break;
        if (t0 == 0)
            t0 = now;
        double wait_s = ((double)n - r->tokens) / (double)r->per_second;
        long ns = wait_s > 0.01 ? 10000000L : (long)(wait_s * 1e9) + 1000;
        struct timespec ts = {0, ns};
        nanosleep(&ts, NULL);
    }
    r->tokens -= (double)n;
    if (t0 != 0)
        atomic_fetch_add_explicit(blocked_ns, sp_rate_now_ns() - t0, memory_order_relaxed);
}

#endif /* SP_IO_RATE_H */
