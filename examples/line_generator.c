/*
 * examples/line_generator.c - a TCP server that sends lines of words, for
 * trying network_wordcount (the role `nc -lk 9999` plays in Spark's guide).
 *
 *   line_generator [--port P] [--seconds S] [--rate LINES_PER_S|0=max]
 *                  [--vocab N] [--seed X]
 *
 * Listens on 127.0.0.1:P (default 9999; 0 picks a free port, printed on
 * stderr), serves one client at a time, and sends lines of 1-20 words drawn
 * from a Zipf-distributed (rank k has weight 1/k) vocabulary of N pronounceable synthetic words
 * ("ka", "mebu", "zorita", ...; default 100000), at the given rate (default
 * 100000 lines/s; 0 = as fast as the client reads). The schedule is open
 * loop: it follows the clock from the moment a client connects, not the
 * client's pace. Everything is deterministic from the seed. A client that
 * goes away is dropped and the next one is awaited. After S seconds
 * (default 10) it prints what it sent on stderr and exits.
 *
 * Plain libc and POSIX sockets only; SIGPIPE is ignored and sends use
 * MSG_NOSIGNAL, so a closed client is an error code, not a signal.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_WORDS_PER_LINE 20
#define BURST_LINES 4096 /* lines generated and sent in one go at most */
#define POOL_BURSTS                                                                                \
    32 /* --rate 0: bursts made once and sent in turn, so the                                      \
          generator is not what limits the rate */

static const char CONSONANTS[] = "bdfgklmnprstvz";
static const char VOWELS[] = "aeiou";

struct vocab {
    char *text;       /* all words, back to back */
    uint32_t *offset; /* word i is text[offset[i] .. offset[i + 1]) */
    double *cdf;      /* cdf[k]: probability of ranks 0..k */
    uint32_t n;
};

/* One line of a burst: where it ends in the buffer and how many words it holds. */
struct line_mark {
    size_t end;
    uint32_t words;
};

struct burst {
    char *text;
    struct line_mark *marks;
    size_t len;
};

struct totals {
    uint64_t lines, words, bytes, clients;
};

static int usage(const char *why) {
    if (why != NULL)
        fprintf(stderr, "line_generator: %s\n", why);
    fprintf(stderr, "usage: line_generator [--port P] [--seconds S] [--rate LINES_PER_S|0=max] "
                    "[--vocab N] [--seed X]\n");
    return 2;
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out) {
    char *end = NULL;
    errno = 0;
    if (s == NULL || *s == '-')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* splitmix64: small, fast, and the same sequence everywhere for a seed. */
static uint64_t rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s) {
    return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0); /* [0, 1) */
}

/* ---- Vocabulary ---- */

/*
 * Word id -> syllables: id + 1 written in bijective base (consonants x
 * vowels), one consonant-vowel syllable per digit. Bijective numerals are
 * unique, so every id gives a different word.
 */
static size_t make_word(uint32_t id, char *out) {
    const uint64_t nc = sizeof(CONSONANTS) - 1, nv = sizeof(VOWELS) - 1, base = nc * nv;
    char rev[32];
    size_t len = 0;
    for (uint64_t x = (uint64_t)id + 1; x > 0; x = (x - 1) / base) {
        uint64_t digit = (x - 1) % base;
        rev[len++] = VOWELS[digit % nv];
        rev[len++] = CONSONANTS[digit / nv];
    }
    for (size_t i = 0; i < len; i++)
        out[i] = rev[len - 1 - i];
    return len;
}

static void vocab_free(struct vocab *v) {
    free(v->text);
    free(v->offset);
    free(v->cdf);
}

/* Build n words, shuffled by the seed so that the frequent ranks differ per seed. */
static int vocab_init(struct vocab *v, uint32_t n, uint64_t seed) {
    memset(v, 0, sizeof(*v));
    uint32_t *perm = malloc(sizeof(uint32_t) * n);
    v->offset = malloc(sizeof(uint32_t) * ((size_t)n + 1));
    v->cdf = malloc(sizeof(double) * n);
    v->text = malloc((size_t)n * 16);
    if (perm == NULL || v->offset == NULL || v->cdf == NULL || v->text == NULL) {
        free(perm);
        vocab_free(v);
        return -1;
    }
    for (uint32_t i = 0; i < n; i++)
        perm[i] = i;
    for (uint32_t i = n - 1; i > 0; i--) { /* Fisher-Yates */
        uint32_t j = (uint32_t)(rng_next(&seed) % ((uint64_t)i + 1));
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    size_t pos = 0;
    double sum = 0;
    for (uint32_t k = 0; k < n; k++) {
        v->offset[k] = (uint32_t)pos;
        pos += make_word(perm[k], v->text + pos);
        sum += 1.0 / ((double)k + 1); /* Zipf with exponent 1 */
        v->cdf[k] = sum;
    }
    v->offset[n] = (uint32_t)pos;
    for (uint32_t k = 0; k < n; k++)
        v->cdf[k] /= sum;
    v->n = n;
    free(perm);
    return 0;
}

/* A rank drawn from the Zipf distribution (binary search of the cdf). */
static uint32_t vocab_draw(const struct vocab *v, uint64_t *rng) {
    double u = rng_unit(rng);
    uint32_t lo = 0, hi = v->n - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (v->cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Append count lines to buf (room for BURST_LINES longest lines), marking where each ends. */
static size_t make_lines(const struct vocab *v, uint64_t *rng, uint32_t count, char *buf,
                         struct line_mark *marks) {
    size_t len = 0;
    for (uint32_t l = 0; l < count; l++) {
        uint32_t words = 1 + (uint32_t)(rng_next(rng) % MAX_WORDS_PER_LINE);
        for (uint32_t w = 0; w < words; w++) {
            uint32_t k = vocab_draw(v, rng);
            size_t wlen = v->offset[k + 1] - v->offset[k];
            if (w > 0)
                buf[len++] = ' ';
            memcpy(buf + len, v->text + v->offset[k], wlen);
            len += wlen;
        }
        buf[len++] = '\n';
        marks[l].end = len;
        marks[l].words = words;
    }
    return len;
}

/* ---- Sockets ---- */

static int listen_on(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof(a);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 4) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
        close(fd);
        return -1;
    }
    fprintf(stderr, "line_generator: listening on 127.0.0.1:%u\n", ntohs(a.sin_port));
    return fd;
}

static int ms_until(double deadline) {
    double left = deadline - now_s();
    return left <= 0 ? 0 : left > 0.1 ? 100 : (int)(left * 1000) + 1;
}

/* Wait for a client until the deadline. Returns its fd or -1. */
static int accept_until(int lfd, double deadline) {
    while (now_s() < deadline) {
        struct pollfd p = {lfd, POLLIN, 0};
        if (poll(&p, 1, ms_until(deadline)) > 0) {
            int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0)
                return fd;
        }
    }
    return -1;
}

/* Send len bytes until the deadline. Returns the bytes sent; *gone when the client went away. */
static size_t send_until(int fd, const char *buf, size_t len, double deadline, bool *gone) {
    size_t sent = 0;
    while (sent < len && now_s() < deadline) {
        ssize_t n = send(fd, buf + sent, len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            sent += (size_t)n;
        } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            *gone = true;
            break;
        } else {
            struct pollfd p = {fd, POLLOUT, 0};
            (void)poll(&p, 1, ms_until(deadline));
        }
    }
    return sent;
}

static void sleep_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

int main(int argc, char **argv) {
    uint64_t port = 9999, seconds = 10, rate = 100000, nvocab = 100000, seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        int bad;
        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
            usage(NULL);
            return 0;
        }
        if (strcmp(opt, "--port") == 0)
            bad = parse_u64(val, 0, 65535, &port);
        else if (strcmp(opt, "--seconds") == 0)
            bad = parse_u64(val, 1, 1000000, &seconds);
        else if (strcmp(opt, "--rate") == 0)
            bad = parse_u64(val, 0, 1000000000, &rate);
        else if (strcmp(opt, "--vocab") == 0)
            bad = parse_u64(val, 1, 10000000, &nvocab);
        else if (strcmp(opt, "--seed") == 0)
            bad = parse_u64(val, 0, UINT64_MAX, &seed);
        else
            return usage("unknown option");
        if (bad != 0) {
            fprintf(stderr, "line_generator: bad value for %s\n", opt);
            return usage(NULL);
        }
        i++;
    }
    signal(SIGPIPE, SIG_IGN);

    struct vocab v;
    char *buf = malloc((size_t)BURST_LINES * MAX_WORDS_PER_LINE * 16);
    struct line_mark *marks = malloc(sizeof(*marks) * BURST_LINES);
    if (buf == NULL || marks == NULL || vocab_init(&v, (uint32_t)nvocab, seed) != 0) {
        fprintf(stderr, "line_generator: out of memory\n");
        return 1;
    }
    int lfd = listen_on((uint16_t)port);
    if (lfd < 0) {
        fprintf(stderr, "line_generator: cannot listen on 127.0.0.1:%" PRIu64 ": %s\n", port,
                strerror(errno));
        return 1;
    }

    uint64_t rng = seed ^ 0x5eed5eed5eed5eedull;
    struct burst pool[POOL_BURSTS];
    uint64_t next_burst = 0;
    memset(pool, 0, sizeof(pool));
    for (int b = 0; b < POOL_BURSTS && rate == 0; b++) {
        pool[b].text = malloc((size_t)BURST_LINES * MAX_WORDS_PER_LINE * 16);
        pool[b].marks = malloc(sizeof(struct line_mark) * BURST_LINES);
        if (pool[b].text == NULL || pool[b].marks == NULL) {
            fprintf(stderr, "line_generator: out of memory\n");
            return 1;
        }
        pool[b].len = make_lines(&v, &rng, BURST_LINES, pool[b].text, pool[b].marks);
    }
    struct totals t = {0, 0, 0, 0};
    double start = now_s(), deadline = start + (double)seconds;
    while (now_s() < deadline) {
        int fd = accept_until(lfd, deadline);
        if (fd < 0)
            break;
        t.clients++;
        double since = now_s();
        uint64_t client_lines = 0; /* the schedule restarts with every client */
        bool gone = false;
        while (!gone && now_s() < deadline) {
            uint64_t due = BURST_LINES;
            if (rate > 0) {
                /* Open loop: send what the clock says is due by now, whatever was late. */
                uint64_t target = (uint64_t)((now_s() - since) * (double)rate) + 1;
                if (target <= client_lines) {
                    sleep_s(0.0005);
                    continue;
                }
                due = target - client_lines < BURST_LINES ? target - client_lines : BURST_LINES;
            }
            const char *out = buf;
            const struct line_mark *m = marks;
            size_t len;
            if (rate == 0) {
                struct burst *b = &pool[next_burst++ % POOL_BURSTS];
                out = b->text;
                m = b->marks;
                len = b->len;
            } else {
                len = make_lines(&v, &rng, (uint32_t)due, buf, marks);
            }
            size_t sent = send_until(fd, out, len, deadline, &gone);
            for (uint32_t l = 0; l < due && m[l].end <= sent; l++) { /* whole lines only */
                t.lines++;
                t.words += m[l].words;
            }
            t.bytes += sent;
            client_lines += due;
        }
        close(fd);
        if (gone)
            fprintf(stderr, "line_generator: client %" PRIu64 " went away\n", t.clients);
    }
    close(lfd);
    double took = now_s() - start;
    fprintf(stderr,
            "line_generator: sent %" PRIu64 " lines, %" PRIu64 " words (%" PRIu64
            " bytes) to %" PRIu64 " client(s) in %.1f s\n",
            t.lines, t.words, t.bytes, t.clients, took);
    vocab_free(&v);
    free(buf);
    free(marks);
    for (int b = 0; b < POOL_BURSTS; b++) {
        free(pool[b].text);
        free(pool[b].marks);
    }
    return 0;
}
