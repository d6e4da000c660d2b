/*
 * tests/unit/test_ring.c - the double-mapped SPSC byte ring (io/ring.c).
 *
 * Checks the lifecycle and capacity rounding, that a record written across
 * the physical end of the buffer reads back contiguous (the double mapping),
 * and an SPSC stress run: a producer thread writes numbered records of
 * varying sizes, a consumer thread checks every one in place, so anything
 * lost, doubled, reordered or torn shows up as a mismatch. The consumer also
 * dates every range it takes (arrival marks): the dated bytes add up to the
 * bytes taken and the dates never go back. Arrival marks are also checked
 * alone: each byte is dated no later than its publish and at most one mark
 * step earlier, merging keeps the earliest date, a consumer that lags
 * stretches the marks (still dating bytes early, never late), and
 * publish_at dates by the arrival it is given.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "io/ring.h"

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define STRESS_BYTES (16ull * 1024 * 1024) /* sanitizers: slower, and CI may be loaded */
#else
#define STRESS_BYTES (64ull * 1024 * 1024)
#endif
#define STRESS_MAX_PAYLOAD 3000u
#define STRESS_HDR 8u /* uint32 payload length + uint32 sequence number */

static uint32_t page_size(void) {
    return (uint32_t)sysconf(_SC_PAGESIZE);
}

/* ---- Lifecycle ---- */

static void test_create_destroy(void **state) {
    (void)state;
    struct sp_ring *ring = NULL;
    assert_int_equal(sp_ring_create(page_size(), &ring), 0);
    assert_non_null(ring);
    assert_int_equal(sp_ring_capacity(ring), page_size());
    assert_int_equal(sp_ring_free_space(ring), page_size());
    assert_int_equal(sp_ring_head(ring), 0);
    assert_int_equal(sp_ring_tail(ring), 0);
    sp_ring_destroy(ring);
    sp_ring_destroy(NULL);
}

static void test_capacity_rounding(void **state) {
    (void)state;
    struct sp_ring *ring = NULL;
    uint32_t page = page_size();

    assert_int_equal(sp_ring_create(1, &ring), 0);
    assert_int_equal(sp_ring_capacity(ring), page);
    sp_ring_destroy(ring);

    assert_int_equal(sp_ring_create(page + 1, &ring), 0);
    assert_int_equal(sp_ring_capacity(ring), 2 * page);
    sp_ring_destroy(ring);

    assert_int_equal(sp_ring_create(100000, &ring), 0);
    assert_int_equal(sp_ring_capacity(ring), 131072);
    sp_ring_destroy(ring);

    assert_int_equal(sp_ring_create(1u << 20, &ring), 0);
    assert_int_equal(sp_ring_capacity(ring), 1u << 20);
    sp_ring_destroy(ring);
}

static void test_bad_capacity(void **state) {
    (void)state;
    struct sp_ring *ring = (struct sp_ring *)&ring;
    assert_int_equal(sp_ring_create(0, &ring), -EINVAL);
    assert_null(ring);
    assert_int_equal(sp_ring_create((1u << 30) + 1, &ring), -EINVAL);
    assert_null(ring);
    assert_int_equal(sp_ring_create(UINT32_MAX, &ring), -EINVAL);
    assert_int_equal(sp_ring_create(4096, NULL), -EINVAL);
}

/* ---- Contiguity across the physical end ---- */

static void test_wrap_contiguous(void **state) {
    (void)state;
    struct sp_ring *ring = NULL;
    assert_int_equal(sp_ring_create(page_size(), &ring), 0);
    uint32_t cap = sp_ring_capacity(ring);
    char rec[1000];

    /* Move head and tail to 100 bytes before the physical end. */
    uint32_t first = cap - 100;
    memset(sp_ring_write_ptr(ring), 'a', first);
    sp_ring_publish(ring, first);
    assert_int_equal(sp_ring_tail(ring), first);
    sp_ring_release(ring, first);
    assert_int_equal(sp_ring_free_space(ring), cap);

    /* A 1000-byte record straddles the end but is written in one go. */
    for (size_t i = 0; i < sizeof(rec); i++)
        rec[i] = (char)(i * 7 + 3);
    memcpy(sp_ring_write_ptr(ring), rec, sizeof(rec));
    sp_ring_publish(ring, sizeof(rec));
    assert_int_equal(sp_ring_free_space(ring), cap - sizeof(rec));

    /* Read back in place, contiguous, and through the low mapping too. */
    const char *p = sp_ring_at(ring, first);
    assert_memory_equal(p, rec, sizeof(rec));
    assert_memory_equal(sp_ring_at(ring, cap), rec + 100, sizeof(rec) - 100);
    assert_ptr_equal(sp_ring_at(ring, first + cap), p);
    sp_ring_release(ring, first + sizeof(rec));
    assert_int_equal(sp_ring_free_space(ring), cap);

    /* A full ring from any position: capacity bytes are contiguous. */
    memset(sp_ring_write_ptr(ring), 'z', cap);
    sp_ring_publish(ring, cap);
    assert_int_equal(sp_ring_free_space(ring), 0);
    const char *q = sp_ring_at(ring, sp_ring_head(ring));
    for (uint32_t i = 0; i < cap; i++)
        assert_true(q[i] == 'z');
    sp_ring_destroy(ring);
}

/* Free-running positions keep working when the uint32_t counters wrap. */
static void test_counter_wraparound(void **state) {
    (void)state;
    struct sp_ring *ring = NULL;
    assert_int_equal(sp_ring_create(page_size(), &ring), 0);
    uint32_t cap = sp_ring_capacity(ring);
    char pat[1u << 16];
    for (size_t i = 0; i < sizeof(pat); i++)
        pat[i] = (char)(i ^ (i >> 3));
    assert_true(cap <= sizeof(pat));

    /* Move both counters to just below 2^32 (publish/release only). */
    uint64_t target = (UINT64_C(1) << 32) - cap - 123;
    uint64_t pos = 0;
    while (pos + cap <= target) {
        sp_ring_publish(ring, cap);
        sp_ring_release(ring, sp_ring_tail(ring));
        pos += cap;
    }
    sp_ring_publish(ring, (uint32_t)(target - pos));
    sp_ring_release(ring, sp_ring_tail(ring));
    assert_int_equal(sp_ring_tail(ring), (uint32_t)target);

    /* Real records across the counter wrap. */
    for (uint32_t k = 0; k < 6; k++) {
        uint32_t n = cap / 2 + k * 31;
        uint32_t head = sp_ring_head(ring);
        assert_int_equal(sp_ring_free_space(ring), cap);
        memcpy(sp_ring_write_ptr(ring), pat + k, n);
        sp_ring_publish(ring, n);
        assert_int_equal(sp_ring_tail(ring) - head, n);
        assert_int_equal(sp_ring_free_space(ring), cap - n);
        assert_memory_equal(sp_ring_at(ring, head), pat + k, n);
        sp_ring_release(ring, head + n);
    }
    assert_true(sp_ring_tail(ring) < 4 * cap); /* it did wrap */
    sp_ring_destroy(ring);
}

/* ---- SPSC stress ---- */

struct stress {
    struct sp_ring *ring;
    const unsigned char *pattern; /* pattern[i] = i & 0xff, 256 + max payload long */
    uint64_t records;             /* written by the producer when done */
    uint64_t bytes;
    _Atomic bool producer_done;
    _Atomic bool consumer_failed; /* lets the producer give up instead of hanging */
    uint64_t consumed_records;
    uint64_t consumed_bytes;
    uint64_t dated_bytes;  /* bytes the consumer's arrival ranges cover */
    int64_t last_dated_ns; /* date of the consumer's last range */
    int errors;
};

/* Deterministic size sequence: mostly small, sometimes near the maximum. */
static uint32_t payload_len(uint64_t seq) {
    uint64_t x = seq * 0x9E3779B97F4A7C15ull;
    x ^= x >> 29;
    if ((x & 15) == 0)
        return (uint32_t)(x % STRESS_MAX_PAYLOAD);
    return (uint32_t)(x % 200);
}

/* ---- Arrival marks ---- */

static int64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ns(int64_t ns) {
    struct timespec ts = {0, (long)ns};
    nanosleep(&ts, NULL);
}

/* Publish n bytes; returns the time just after. */
static int64_t publish(struct sp_ring *ring, uint32_t n) {
    memset(sp_ring_write_ptr(ring), 'x', n);
    sp_ring_publish(ring, n);
    return mono_ns();
}

static void test_arrivals_dates(void **state) {
    (void)state;
    struct sp_ring *ring;
    assert_int_equal(sp_ring_create(1 << 16, &ring), 0);
    int64_t before[3], after[3];
    uint32_t sizes[3] = {100, 200, 50};
    for (int i = 0; i < 3; i++) {
        before[i] = mono_ns();
        after[i] = publish(ring, sizes[i]);
        sleep_ns(2 * SP_RING_MARK_NS); /* the next publish marks */
    }
    /* Two cuts at publish boundaries: [0, 100) and [100, 350). */
    struct sp_ring_arrival a[8];
    uint32_t n = 0;
    sp_ring_arrivals(ring, 0, 100, a, &n, 8);
    assert_int_equal(n, 1);
    assert_int_equal(a[0].units, 100);
    assert_true(a[0].t_ns >= before[0] && a[0].t_ns <= after[0]);
    n = 0;
    sp_ring_arrivals(ring, 100, 350, a, &n, 8);
    assert_int_equal(n, 2);
    assert_int_equal(a[0].units, 200);
    assert_int_equal(a[1].units, 50);
    assert_true(a[0].t_ns >= before[1] && a[0].t_ns <= after[1]);
    assert_true(a[1].t_ns >= before[2] && a[1].t_ns <= after[2]);
    /* Bytes published within one mark step of the last mark keep its date. */
    int64_t t0 = mono_ns();
    publish(ring, 10);
    int64_t t1 = publish(ring, 20);
    n = 0;
    sp_ring_arrivals(ring, 350, 380, a, &n, 8);
    uint64_t units = 0;
    for (uint32_t k = 0; k < n; k++) {
        units += a[k].units;
        assert_true(a[k].t_ns >= t0 && a[k].t_ns <= t1);
    }
    assert_int_equal(units, 30);
    sp_ring_destroy(ring);
}

static void test_arrivals_merge(void **state) {
    (void)state;
    struct sp_ring *ring;
    assert_int_equal(sp_ring_create(1 << 16, &ring), 0);
    int64_t first = mono_ns();
    for (int i = 0; i < 10; i++) {
        publish(ring, 10);
        sleep_ns(2 * SP_RING_MARK_NS);
    }
    struct sp_ring_arrival a[4];
    uint32_t n = 0;
    sp_ring_arrivals(ring, 0, 100, a, &n, 4);
    assert_true(n >= 1 && n <= 4);
    uint64_t units = 0;
    for (uint32_t k = 0; k < n; k++) {
        units += a[k].units;
        if (k > 0)
            assert_true(a[k].t_ns >= a[k - 1].t_ns);
    }
    assert_int_equal(units, 100);
    assert_true(a[0].t_ns >= first && a[0].t_ns - first < SP_RING_MARK_NS * 100);
    /* Merging helper alone: max 1 folds everything into the first entry. */
    struct sp_ring_arrival one[1];
    uint32_t m = 0;
    sp_arrivals_add(one, &m, 1, 5, 3);
    sp_arrivals_add(one, &m, 1, 9, 4);
    sp_arrivals_add(one, &m, 1, 7, 0);
    assert_int_equal(m, 1);
    assert_int_equal(one[0].t_ns, 5);
    assert_int_equal(one[0].units, 7);
    sp_ring_destroy(ring);
}

static void test_arrivals_stretch(void **state) {
    (void)state;
    struct sp_ring *ring;
    assert_int_equal(sp_ring_create(1 << 16, &ring), 0);
    /* Publishes a base step apart while the consumer takes nothing: past an eighth of the
     * marks the step doubles, so fewer marks than publishes, and every byte is still dated
     * no later than its publish. */
    enum { PUBS = 3000 };
    static int64_t after[PUBS];
    for (uint32_t i = 0; i < PUBS; i++) {
        int64_t t = mono_ns();
        while (mono_ns() - t < SP_RING_MARK_NS)
            ;
        after[i] = publish(ring, 1);
    }
    static struct sp_ring_arrival a[SP_RING_MARKS];
    uint32_t n = 0;
    sp_ring_arrivals(ring, 0, PUBS, a, &n, SP_RING_MARKS);
    uint64_t units = 0;
    for (uint32_t k = 0; k < n; k++) {
        assert_true(a[k].t_ns <= after[units]); /* its first byte's publish */
        units += a[k].units;
    }
    assert_int_equal(units, PUBS);
    assert_true(n >= SP_RING_MARKS / 8);
    assert_true(n < PUBS);
    /* The marks are free again: new bytes get a new date. */
    sleep_ns(2 * SP_RING_MARK_NS);
    int64_t t0 = mono_ns();
    int64_t t1 = publish(ring, 5);
    n = 0;
    sp_ring_arrivals(ring, PUBS, PUBS + 5, a, &n, 64);
    assert_int_equal(n, 1);
    assert_true(a[0].t_ns >= t0 && a[0].t_ns <= t1);
    /* publish_at dates by the given arrival, never later than now. */
    sleep_ns(2 * SP_RING_MARK_NS);
    int64_t past = mono_ns() - 5000000;
    memset(sp_ring_write_ptr(ring), 'y', 3);
    sp_ring_publish_at(ring, 3, past);
    sleep_ns(2 * SP_RING_MARK_NS);
    memset(sp_ring_write_ptr(ring), 'z', 4);
    int64_t before_future = mono_ns();
    sp_ring_publish_at(ring, 4, INT64_MAX);
    int64_t after_future = mono_ns();
    n = 0;
    sp_ring_arrivals(ring, PUBS + 5, PUBS + 12, a, &n, 64);
    assert_int_equal(n, 2);
    assert_int_equal(a[0].t_ns, past);
    assert_int_equal(a[0].units, 3);
    assert_true(a[1].t_ns >= before_future && a[1].t_ns <= after_future);
    /* Merging keeps the earlier time whichever comes first. */
    struct sp_ring_arrival m[2];
    uint32_t mn = 0;
    sp_arrivals_add(m, &mn, 2, 9, 1);
    sp_arrivals_add(m, &mn, 2, 4, 1);
    sp_arrivals_add(m, &mn, 2, 7, 1);
    assert_int_equal(mn, 2);
    assert_int_equal(m[0].t_ns, 4);
    assert_int_equal(m[0].units, 2);
    sp_ring_destroy(ring);
}

static void *stress_producer(void *arg) {
    struct stress *st = arg;
    uint64_t seq = 0;
    uint64_t bytes = 0;
    while (bytes < STRESS_BYTES) {
        /* Batch several records per publish, sometimes just one. */
        uint32_t batch = (uint32_t)(seq % 5) + 1;
        uint32_t off = 0;
        for (uint32_t b = 0; b < batch; b++) {
            uint32_t len = payload_len(seq);
            uint32_t need = STRESS_HDR + len;
            while (sp_ring_free_space(st->ring) < off + need) {
                if (off > 0) {
                    sp_ring_publish(st->ring, off);
                    off = 0;
                } else {
                    if (atomic_load(&st->consumer_failed))
                        return NULL;
                    sched_yield();
                }
            }
            char *dst = sp_ring_write_ptr(st->ring) + off;
            uint32_t seq32 = (uint32_t)seq;
            memcpy(dst, &len, 4);
            memcpy(dst + 4, &seq32, 4);
            memcpy(dst + 8, st->pattern + (seq & 0xff), len);
            off += need;
            bytes += need;
            seq++;
        }
        sp_ring_publish(st->ring, off);
    }
    st->records = seq;
    st->bytes = bytes;
    atomic_store_explicit(&st->producer_done, true, memory_order_release);
    return NULL;
}

static void *stress_consumer(void *arg) {
    struct stress *st = arg;
    uint64_t seq = 0;
    uint64_t bytes = 0;
    for (;;) {
        bool done = atomic_load_explicit(&st->producer_done, memory_order_acquire);
        uint32_t head = sp_ring_head(st->ring);
        uint32_t tail = sp_ring_tail(st->ring);
        if (head == tail) {
            if (done)
                break;
            sched_yield();
            continue;
        }
        /* Consume a varying number of records per release. */
        uint32_t limit = (uint32_t)(seq % 7) + 1;
        uint32_t pos = head;
        for (uint32_t n = 0; n < limit && pos != tail; n++) {
            const char *rec = sp_ring_at(st->ring, pos);
            uint32_t len;
            uint32_t seq32;
            memcpy(&len, rec, 4);
            memcpy(&seq32, rec + 4, 4);
            if (seq32 != (uint32_t)seq || len != payload_len(seq) ||
                tail - pos < STRESS_HDR + len ||
                memcmp(rec + 8, st->pattern + (seq & 0xff), len) != 0) {
                st->errors++;
                atomic_store(&st->consumer_failed, true);
                return NULL;
            }
            pos += STRESS_HDR + len;
            bytes += STRESS_HDR + len;
            seq++;
        }
        struct sp_ring_arrival arr[8];
        uint32_t na = 0;
        sp_ring_arrivals(st->ring, head, pos, arr, &na, 8);
        for (uint32_t k = 0; k < na; k++) {
            if (arr[k].t_ns < st->last_dated_ns)
                st->errors++;
            st->last_dated_ns = arr[k].t_ns;
            st->dated_bytes += arr[k].units;
        }
        sp_ring_release(st->ring, pos);
    }
    st->consumed_records = seq;
    st->consumed_bytes = bytes;
    return NULL;
}

static void run_stress(uint32_t capacity) {
    static unsigned char pattern[256 + STRESS_MAX_PAYLOAD];
    struct stress st;
    pthread_t prod;
    pthread_t cons;

    for (size_t i = 0; i < sizeof(pattern); i++)
        pattern[i] = (unsigned char)(i & 0xff);
    memset(&st, 0, sizeof(st));
    st.pattern = pattern;
    atomic_init(&st.producer_done, false);
    atomic_init(&st.consumer_failed, false);
    assert_int_equal(sp_ring_create(capacity, &st.ring), 0);

    assert_int_equal(pthread_create(&cons, NULL, stress_consumer, &st), 0);
    assert_int_equal(pthread_create(&prod, NULL, stress_producer, &st), 0);
    pthread_join(prod, NULL);
    pthread_join(cons, NULL);

    assert_int_equal(st.errors, 0);
    assert_true(st.records > 0);
    assert_true(st.consumed_records == st.records);
    assert_true(st.consumed_bytes == st.bytes);
    assert_true(st.dated_bytes == st.bytes);
    assert_true(st.bytes >= STRESS_BYTES);
    assert_int_equal(sp_ring_head(st.ring), sp_ring_tail(st.ring));
    sp_ring_destroy(st.ring);
}

static void test_spsc_stress_small(void **state) {
    (void)state;
    run_stress(page_size()); /* constant wrapping, often full */
}

static void test_spsc_stress_large(void **state) {
    (void)state;
    run_stress(1u << 20);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_destroy),     cmocka_unit_test(test_capacity_rounding),
        cmocka_unit_test(test_bad_capacity),       cmocka_unit_test(test_wrap_contiguous),
        cmocka_unit_test(test_counter_wraparound), cmocka_unit_test(test_spsc_stress_small),
        cmocka_unit_test(test_spsc_stress_large),  cmocka_unit_test(test_arrivals_dates),
        cmocka_unit_test(test_arrivals_merge),     cmocka_unit_test(test_arrivals_stretch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
