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
#include <unistd.h>

#define RING_MAX_CAPACITY (UINT32_C(1) << 30) /* 1 GiB: 2 GiB of address space */

struct sp_ring {
    alignas(64) _Atomic uint32_t tail; /* producer's cache line: published end */
    alignas(64) _Atomic uint32_t head; /* consumer's cache line: freed up to here */
    alignas(64) char *base;            /* first of the two mappings (read-only after create) */
    uint32_t capacity;                 /* power of two, multiple of the page size */
    uint32_t mask;                     /* capacity - 1 */
    size_t self_size;                  /* bytes mapped for this struct */
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

void sp_ring_publish(struct sp_ring *ring, uint32_t n) {
    uint32_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
    atomic_store_explicit(&ring->tail, tail + n, memory_order_release);
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

void sp_ring_release(struct sp_ring *ring, uint32_t pos) {
    atomic_store_explicit(&ring->head, pos, memory_order_release);
}
