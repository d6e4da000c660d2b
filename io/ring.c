/*
 * io/ring.c - single-producer/single-consumer byte ring, double-mapped.
 *
 * The data pages come from one memfd mapped twice, back to back, inside a
 * reservation of 2 * capacity bytes, so base[i] and base[i + capacity] are
 * the same byte and any range of up to capacity bytes starting at any
 * position is contiguous. Positions are free-running uint32_t counters:
 * tail - head is the number of readable bytes (0 <= tail - head <= capacity,
 * unsigned wrap-around included) and position & mask is the offset.
 *
 * Invariants: only the producer stores tail and only the consumer stores
 * head; each side publishes with a release store and reads the other side
 * with an acquire load, so bytes written before a publish are visible to a
 * consumer that saw the new tail, and bytes the consumer read before a
 * release are never overwritten before it is done with them.
 */
#include "io/ring.h"

#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define SP_MIN_I64(a, b) ((a) < (b) ? (a) : (b))
#define RING_MAX_CAPACITY (UINT32_C(1) << 30) /* 1 GiB: 2 GiB of address space */

struct sp_ring_mark {
    uint32_t pos; /* bytes from here on arrived at t_ns or later */
    int64_t t_ns;
};

struct sp_ring {
    alignas(64) _Atomic uint32_t tail; /* producer's cache line: published end */
    _Atomic uint32_t mtail;            /* marks written (free-running) */
    int64_t last_mark_ns;              /* producer's: time of its last mark */
    alignas(64) _Atomic uint32_t head; /* consumer's cache line: freed up to here */
    _Atomic uint32_t mhead;            /* marks consumed */
    int64_t cur_ns;                    /* consumer's: time of the last mark it passed */
    alignas(64) char *base;            /* first of the two mappings (read-only after create) */
    uint32_t capacity;                 /* power of two, multiple of the page size */
    uint32_t mask;                     /* capacity - 1 */
    size_t self_size;                  /* bytes mapped for this struct */
    struct sp_ring_mark marks[SP_RING_MARKS];
};

_Static_assert(offsetof(struct sp_ring, head) - offsetof(struct sp_ring, tail) >= 64,
               "head and tail on separate cache lines");

/* ---- Lifecycle ---- */

/* Round up to a power of two no smaller than the page size; 0 when too big. */
static uint32_t round_capacity(uint32_t want, uint32_t page) {
    uint32_t cap = page;
    while (cap < want) {
        if (cap >= RING_MAX_CAPACITY)
            return 0;
        cap <<= 1;
    }
    return cap <= RING_MAX_CAPACITY ? cap : 0;
}

/*
 * Reserve 2 * cap bytes of address space, then map the memfd over both
 * halves with MAP_FIXED. Reserving first guarantees that the second mapping
 * lands right after the first without racing other mmap callers.
 */
static int map_twice(int fd, uint32_t cap, char **out) {
    size_t len = (size_t)cap;
    char *base = mmap(NULL, 2 * len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED)
        return -errno;
    for (int half = 0; half < 2; half++) {
        void *want = base + (size_t)half * len;
        void *got = mmap(want, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
        if (got == MAP_FAILED) {
            int rc = -errno;
            munmap(base, 2 * len);
            return rc;
        }
    }
    *out = base;
    return 0;
}

int sp_ring_create(uint32_t capacity, struct sp_ring **out) {
    struct sp_ring *ring = NULL;
    size_t self_size;
    long page_l = sysconf(_SC_PAGESIZE);
    uint32_t page = page_l > 0 ? (uint32_t)page_l : 4096u;
    uint32_t cap;
    int fd = -1;
    int rc;

    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if (capacity == 0 || capacity > RING_MAX_CAPACITY)
        return -EINVAL;
    cap = round_capacity(capacity, page);
    if (cap == 0)
        return -EINVAL;

    self_size = (sizeof(*ring) + page - 1) / page * page;
    ring = mmap(NULL, self_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ring == MAP_FAILED)
        return -errno;
    ring->self_size = self_size;
    ring->capacity = cap;
    ring->mask = cap - 1;
    atomic_init(&ring->head, 0);
    atomic_init(&ring->tail, 0);
    atomic_init(&ring->mtail, 0);
    atomic_init(&ring->mhead, 0);
    ring->last_mark_ns = INT64_MIN / 2; /* the first publish always marks */

    fd = memfd_create("spate-ring", MFD_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        goto fail;
    }
    if (ftruncate(fd, (off_t)cap) != 0) {
        rc = -errno;
        goto fail;
    }
    rc = map_twice(fd, cap, &ring->base);
    if (rc != 0)
        goto fail;
    /* The mappings keep the memory alive; the descriptor is not needed. */
    close(fd);
    *out = ring;
    return 0;

fail:
    if (fd >= 0)
        close(fd);
    munmap(ring, self_size);
    return rc;
}

void sp_ring_destroy(struct sp_ring *ring) {
    if (ring == NULL)
        return;
    munmap(ring->base, 2 * (size_t)ring->capacity);
    munmap(ring, ring->self_size);
}

uint32_t sp_ring_capacity(const struct sp_ring *ring) {
    return ring->capacity;
}

/* ---- Producer side ---- */

uint32_t sp_ring_free_space(const struct sp_ring *ring) {
    /* tail is ours (relaxed); head needs acquire so the consumer's reads of
     * the freed bytes happen before we overwrite them. */
    uint32_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
    uint32_t head = atomic_load_explicit(&ring->head, memory_order_acquire);
    return ring->capacity - (tail - head);
}

char *sp_ring_write_ptr(struct sp_ring *ring) {
    uint32_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
    return ring->base + (tail & ring->mask);
}

static int64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void sp_ring_publish_at(struct sp_ring *ring, uint32_t n, int64_t arrival_ns) {
    uint32_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
    int64_t now = mono_ns();
    uint32_t mt = atomic_load_explicit(&ring->mtail, memory_order_relaxed);
    uint32_t mh = atomic_load_explicit(&ring->mhead, memory_order_acquire);
    uint32_t used = mt - mh;
    /* The step doubles with each eighth of the marks in use: a lagging consumer stretches
     * the marks over more time instead of running out of them. */
    int64_t step = SP_RING_MARK_NS << (used * 8 / SP_RING_MARKS);
    if (used < SP_RING_MARKS && now - ring->last_mark_ns >= step) {
        /* The mark goes out before the bytes it dates: a consumer that sees the bytes sees
         * their mark. With the marks full the bytes keep the older date. */
        int64_t t = arrival_ns < now ? arrival_ns : now;
        ring->marks[mt & (SP_RING_MARKS - 1)] = (struct sp_ring_mark){tail, t};
        atomic_store_explicit(&ring->mtail, mt + 1, memory_order_release);
        ring->last_mark_ns = now;
    }
    atomic_store_explicit(&ring->tail, tail + n, memory_order_release);
}

void sp_ring_publish(struct sp_ring *ring, uint32_t n) {
    sp_ring_publish_at(ring, n, INT64_MAX); /* now */
}

/* ---- Consumer side ---- */

uint32_t sp_ring_tail(const struct sp_ring *ring) {
    return atomic_load_explicit(&ring->tail, memory_order_acquire);
}

uint32_t sp_ring_head(const struct sp_ring *ring) {
    return atomic_load_explicit(&ring->head, memory_order_relaxed);
}

const char *sp_ring_at(const struct sp_ring *ring, uint32_t pos) {
    return ring->base + (pos & ring->mask);
}

void sp_arrivals_add(struct sp_ring_arrival *out, uint32_t *n, uint32_t max, int64_t t_ns,
                     uint64_t units) {
    if (units == 0 || max == 0)
        return;
    if (*n == max) {
        uint32_t k = 0;
        for (uint32_t i = 0; i + 1 < *n; i += 2, k++)
            out[k] = (struct sp_ring_arrival){SP_MIN_I64(out[i].t_ns, out[i + 1].t_ns),
                                              out[i].units + out[i + 1].units};
        if (*n % 2 == 1)
            out[k++] = out[*n - 1];
        *n = k;
        if (*n == max) { /* max == 1: fold into the one entry */
            out[0].units += units;
            out[0].t_ns = SP_MIN_I64(out[0].t_ns, t_ns);
            return;
        }
    }
    out[(*n)++] = (struct sp_ring_arrival){t_ns, units};
}

void sp_ring_arrivals(struct sp_ring *ring, uint32_t start, uint32_t end,
                      struct sp_ring_arrival *out, uint32_t *n, uint32_t max) {
    uint32_t mh = atomic_load_explicit(&ring->mhead, memory_order_relaxed);
    uint32_t mt = atomic_load_explicit(&ring->mtail, memory_order_acquire);
    uint32_t pos = start;
    int64_t t = ring->cur_ns;
    while (mh != mt) {
        const struct sp_ring_mark *m = &ring->marks[mh & (SP_RING_MARKS - 1)];
        if ((int32_t)(m->pos - end) >= 0) /* dates bytes of a later range */
            break;
        if ((int32_t)(m->pos - pos) > 0)
            sp_arrivals_add(out, n, max, t, m->pos - pos);
        if ((int32_t)(m->pos - pos) >= 0)
            pos = m->pos;
        t = m->t_ns;
        mh++;
    }
    sp_arrivals_add(out, n, max, t, end - pos);
    ring->cur_ns = t;
    atomic_store_explicit(&ring->mhead, mh, memory_order_release);
}

void sp_ring_release(struct sp_ring *ring, uint32_t pos) {
    atomic_store_explicit(&ring->head, pos, memory_order_release);
}
