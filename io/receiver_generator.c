/*
 * io/receiver_generator.c - Zipf word lines made into an sp_ring.
 *
 * Invariants: the thread publishes whole lines only (every published ring
 * position is a line boundary, as with the socket receiver, so the batch
 * clock can cut anywhere); words are drawn by inverse CDF with a binary
 * search over the precomputed Zipf(1) distribution; all memory is mmap'd
 * (io/ never uses the C heap).
 */
#include "io/receiver_generator.h"
#include "io/ring.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define WORD_MAX 15 /* bytes of the longest word */

struct sp_gen_receiver {
    struct sp_gen_receiver_stats stats;
    _Atomic bool stop;
    struct sp_gen_receiver_opts opts;
    struct sp_ring *ring;
    char (*words)[WORD_MAX + 1]; /* vocabulary */
    uint8_t *lens;
    double *cdf;
    size_t map_words, map_lens, map_cdf;
    uint64_t rng;
    pthread_t thread;
    bool started, joined;
};

static void *map_anon(size_t len) {
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static uint64_t next_rng(uint64_t *s) {
    uint64_t x = *s += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void nap(long ns) {
    struct timespec ts = {0, ns};
    nanosleep(&ts, NULL);
}

int sp_gen_receiver_create(const struct sp_gen_receiver_opts *opts, struct sp_gen_receiver **out,
                           char *errbuf, size_t errlen) {
    *out = NULL;
    if (opts == NULL || opts->vocabulary == 0 || opts->vocabulary > (1u << 24) ||
        opts->min_words == 0 || opts->max_words < opts->min_words || opts->max_words > 64 ||
        opts->ring_bytes < 64u * (WORD_MAX + 1)) {
        snprintf(errbuf, errlen,
                 "generator: a vocabulary of 1 to 16 M words, 1 <= min_words <= max_words <= "
                 "64, and a ring of at least a few KiB are needed");
        return -EINVAL;
    }
    struct sp_gen_receiver *g = map_anon(sizeof(*g));
    if (g == NULL)
        goto oom;
    g->opts = *opts;
    g->rng = opts->seed ^ 0x5eed5eed5eed5eedull;
    uint32_t n = opts->vocabulary;
    g->map_words = sizeof(*g->words) * n;
    g->map_lens = n;
    g->map_cdf = sizeof(double) * n;
    g->words = map_anon(g->map_words);
    g->lens = map_anon(g->map_lens);
    g->cdf = map_anon(g->map_cdf);
    if (g->words == NULL || g->lens == NULL || g->cdf == NULL ||
        sp_ring_create(opts->ring_bytes, &g->ring) != 0)
        goto oom;
    /* Pronounceable words of 2 to 12 letters; rank i has weight 1 / (i + 1). */
    static const char consonants[] = "bdfgklmnprstvz", vowels[] = "aeiou";
    uint64_t s = opts->seed * 7 + 1;
    double acc = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t len = 2 + (uint32_t)(next_rng(&s) % 11);
        for (uint32_t j = 0; j < len; j++)
            g->words[i][j] = (j % 2) ? vowels[next_rng(&s) % 5] : consonants[next_rng(&s) % 14];
        g->lens[i] = (uint8_t)len;
        acc += 1.0 / (double)(i + 1);
        g->cdf[i] = acc;
    }
    *out = g;
    return 0;
oom:
    sp_gen_receiver_destroy(g);
    snprintf(errbuf, errlen, "generator: out of memory");
    return -ENOMEM;
}

static uint32_t draw(struct sp_gen_receiver *g) {
    uint32_t n = g->opts.vocabulary;
    double u = (double)(next_rng(&g->rng) >> 11) * (1.0 / 9007199254740992.0) * g->cdf[n - 1];
    uint32_t lo = 0, hi = n - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (g->cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void *gen_main(void *arg) {
    struct sp_gen_receiver *g = arg;
    pthread_setname_np(pthread_self(), "spate-gen");
    const struct sp_gen_receiver_opts *o = &g->opts;
    uint32_t line_max = o->max_words * (WORD_MAX + 1);
    int64_t start = now_ns();
    uint64_t made = 0;
    while (!atomic_load_explicit(&g->stop, memory_order_relaxed)) {
        if (o->max_lines > 0 && made >= o->max_lines)
            break;
        uint64_t burst = 1024;
        if (o->rate > 0) { /* open loop: what the schedule says is due by now */
            uint64_t due = (uint64_t)((double)(now_ns() - start) * 1e-9 * (double)o->rate) + 1;
            if (due <= made) {
                nap(200000);
                continue;
            }
            burst = due - made < burst ? due - made : burst;
        }
        if (o->max_lines > 0 && burst > o->max_lines - made)
            burst = o->max_lines - made;
        /* Room for the burst, or wait: a full ring pushes back. */
        uint32_t need = (uint32_t)burst * line_max;
        if (need > sp_ring_capacity(g->ring) / 2)
            need = sp_ring_capacity(g->ring) / 2, burst = need / line_max;
        int64_t t0 = 0;
        long backoff = 20000;
        while (sp_ring_free_space(g->ring) < need && !atomic_load(&g->stop)) {
            if (t0 == 0)
                t0 = now_ns();
            nap(backoff);
            backoff = backoff < 1000000 ? backoff * 2 : backoff;
        }
        if (t0 != 0)
            atomic_fetch_add_explicit(&g->stats.blocked_ns, (uint64_t)(now_ns() - t0),
                                      memory_order_relaxed);
        if (atomic_load(&g->stop))
            break;
        /* Open loop: the burst's first line was due at its place in the schedule, and a wait
         * for the ring counts as latency; otherwise the lines arrive as they are made. */
        int64_t arrived =
            o->rate > 0 ? start + (int64_t)((double)made * 1e9 / (double)o->rate) : now_ns();
        char *dst = sp_ring_write_ptr(g->ring);
        uint32_t len = 0;
        uint64_t words = 0;
        for (uint64_t l = 0; l < burst; l++) {
            uint32_t nw =
                o->min_words + (uint32_t)(next_rng(&g->rng) % (o->max_words - o->min_words + 1));
            for (uint32_t w = 0; w < nw; w++) {
                uint32_t k = draw(g);
                if (w > 0)
                    dst[len++] = ' ';
                memcpy(dst + len, g->words[k], g->lens[k]);
                len += g->lens[k];
            }
            dst[len++] = '\n';
            words += nw;
        }
        /* Counted first: a consumer that sees the lines also sees them counted. */
        atomic_fetch_add_explicit(&g->stats.lines, burst, memory_order_relaxed);
        atomic_fetch_add_explicit(&g->stats.words, words, memory_order_relaxed);
        atomic_fetch_add_explicit(&g->stats.bytes, len, memory_order_relaxed);
        sp_ring_publish_at(g->ring, len, arrived);
        made += burst;
    }
    return NULL;
}

int sp_gen_receiver_start(struct sp_gen_receiver *g, char *errbuf, size_t errlen) {
    if (g->started)
        return -EBUSY;
    int e = pthread_create(&g->thread, NULL, gen_main, g);
    if (e != 0) {
        snprintf(errbuf, errlen, "generator: cannot start its thread: %s", strerror(e));
        return -e;
    }
    g->started = true;
    return 0;
}

void sp_gen_receiver_stop(struct sp_gen_receiver *g) {
    if (g == NULL || !g->started || g->joined)
        return;
    atomic_store(&g->stop, true);
    pthread_join(g->thread, NULL);
    g->joined = true;
}

void sp_gen_receiver_destroy(struct sp_gen_receiver *g) {
    if (g == NULL)
        return;
    sp_gen_receiver_stop(g);
    sp_ring_destroy(g->ring);
    if (g->words != NULL)
        munmap(g->words, g->map_words);
    if (g->lens != NULL)
        munmap(g->lens, g->map_lens);
    if (g->cdf != NULL)
        munmap(g->cdf, g->map_cdf);
    munmap(g, sizeof(*g));
}

struct sp_ring *sp_gen_receiver_ring(struct sp_gen_receiver *g) {
    return g->ring;
}

const struct sp_gen_receiver_stats *sp_gen_receiver_stats(const struct sp_gen_receiver *g) {
    return &g->stats;
}
