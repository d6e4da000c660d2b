/*
 * io/receiver_files.c - textFileStream on inotify and io_uring.
 *
 * One thread ("spate-files") uses an io_uring (made at create, so that a
 * failure is reported by start) and the directory's inotify descriptor, polled in short slices so
 * stop is seen at once. A complete file is opened and read front to back with io_uring reads of up
 * to RF_READ bytes into a staging buffer, cut into lines by an sp_line_framer and copied into the
 * sp_ring, published after every read; so every published position is a line boundary and the batch
 * clock can cut anywhere. Names seen are kept as XXH3 hashes in an open-addressing set, so a file
 * closed twice is read once.
 *
 * All memory comes from mmap (io/ never uses the C heap).
 */
#include "io/receiver_files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "io/framing.h"
#include "io/ring.h"
#include "io/sink.h"

#define RF_READ (1u << 20)         /* bytes per read */
#define RF_POLL_MS 20              /* stop is checked this often */
#define RF_DEFAULT_RING (8u << 20) /* ring bytes when 0 */
#define RF_DEFAULT_MAX_LINE (64u << 10)
#define RF_MAX_NAMES (1u << 24)

struct sp_file_receiver {
    struct sp_file_receiver_stats stats;
    _Atomic bool stop;
    char dir[4096];
    bool include_existing;
    uint32_t max_line;
    struct sp_ring *ring;
    int ifd; /* inotify */
    char *staging;
    char *carry;
    struct sp_line_framer framer;
    struct sp_line_sink sink; /* lines into the ring */
    uint64_t *names;          /* set of name hashes (0 = empty) */
    uint32_t names_cap, names_n;
    struct io_uring uring;
    bool uring_ready;
    pthread_t thread;
    bool started, joined;
};

static bool stopping(const struct sp_file_receiver *r) {
    return atomic_load_explicit(&r->stop, memory_order_relaxed);
}

/* ---- Names seen ---- */

/* Whether name was seen before; records it. false also when the set cannot grow. */
static bool seen_before(struct sp_file_receiver *r, const char *name) {
    uint64_t h = XXH3_64bits(name, strlen(name));
    h += h == 0;
    if (2 * (r->names_n + 1) > r->names_cap && r->names_cap < RF_MAX_NAMES) {
        uint32_t cap = r->names_cap ? r->names_cap * 2 : 1024;
        uint64_t *n = sp_io_map(sizeof(uint64_t) * cap);
        if (n != NULL) {
            for (uint32_t i = 0; i < r->names_cap; i++) {
                if (r->names[i] == 0)
                    continue;
                uint32_t s = (uint32_t)r->names[i] & (cap - 1);
                while (n[s] != 0)
                    s = (s + 1) & (cap - 1);
                n[s] = r->names[i];
            }
            if (r->names != NULL)
                munmap(r->names, sizeof(uint64_t) * r->names_cap);
            r->names = n;
            r->names_cap = cap;
        }
    }
    if (r->names_cap == 0)
        return false;
    uint32_t s = (uint32_t)h & (r->names_cap - 1);
    while (r->names[s] != 0) {
        if (r->names[s] == h)
            return true;
        s = (s + 1) & (r->names_cap - 1);
    }
    if (2 * (r->names_n + 1) <= r->names_cap) {
        r->names[s] = h;
        r->names_n++;
    }
    return false;
}

/* ---- Reading one file ---- */

/* Read the file at dir/name through the ring. 0, or -ECANCELED when stopped on a full ring. */
static int read_file(struct sp_file_receiver *r, const char *name) {
    if (name[0] == '.' || seen_before(r, name))
        return 0;
    char path[8192];
    snprintf(path, sizeof(path), "%s/%s", r->dir, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block us */
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        else
            atomic_fetch_add(&r->stats.failed, 1);
        return 0;
    }
    sp_framer_reset(&r->framer);
    uint64_t off = 0;
    int rc = 0;
    for (;;) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&r->uring);
        if (sqe == NULL) {
            rc = -EBUSY;
            break;
        }
        io_uring_prep_read(sqe, fd, r->staging, RF_READ, off);
        if (io_uring_submit_and_wait(&r->uring, 1) < 0) {
            rc = -EIO;
            break;
        }
        struct io_uring_cqe *cqe;
        if (io_uring_wait_cqe(&r->uring, &cqe) != 0) {
            rc = -EIO;
            break;
        }
        int res = cqe->res;
        io_uring_cqe_seen(&r->uring, cqe);
        if (res == -EINTR || res == -EAGAIN)
            continue;
        if (res < 0) {
            rc = res;
            break;
        }
        if (res == 0)
            break; /* end of file */
        atomic_fetch_add_explicit(&r->stats.bytes, (uint64_t)res, memory_order_relaxed);
        off += (uint64_t)res;
        rc = sp_framer_consume(&r->framer, r->staging, (size_t)res);
        sp_sink_publish(&r->sink);
        if (rc != 0)
            break;
    }
    close(fd);
    if (rc == 0) {
        rc = sp_framer_finish(&r->framer); /* a last line without '\n' ends with its file */
        sp_sink_publish(&r->sink);
        if (rc == 0)
            atomic_fetch_add(&r->stats.files, 1);
    } else if (rc != -ECANCELED) {
        atomic_fetch_add(&r->stats.failed, 1);
        sp_framer_reset(&r->framer);
        rc = 0;
    }
    return rc;
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The files there at start, in name order. */
static void read_existing(struct sp_file_receiver *r) {
    DIR *d = opendir(r->dir);
    if (d == NULL)
        return;
    size_t cap = 1 << 16, n = 0, bytes = 64u << 20;
    char **names = sp_io_map(sizeof(char *) * cap);
    char *pool = sp_io_map(bytes);
    size_t used = 0;
    struct dirent *e;
    while (names != NULL && pool != NULL && (e = readdir(d)) != NULL && n < cap) {
        size_t len = strlen(e->d_name) + 1;
        if (e->d_name[0] == '.' || used + len > bytes ||
            (e->d_type != DT_REG && e->d_type != DT_UNKNOWN && e->d_type != DT_LNK))
            continue;
        memcpy(pool + used, e->d_name, len);
        names[n++] = pool + used;
        used += len;
    }
    closedir(d);
    if (names != NULL && pool != NULL) {
        qsort(names, n, sizeof(char *), cmp_names);
        for (size_t i = 0; i < n && !stopping(r); i++)
            if (read_file(r, names[i]) != 0)
                break;
    }
    if (names != NULL)
        munmap(names, sizeof(char *) * cap);
    if (pool != NULL)
        munmap(pool, bytes);
}

static void *files_main(void *arg) {
    struct sp_file_receiver *r = arg;
    pthread_setname_np(pthread_self(), "spate-files");
    if (r->include_existing)
        read_existing(r);
    char events[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
    while (!stopping(r)) {
        struct pollfd pfd = {r->ifd, POLLIN, 0};
        if (poll(&pfd, 1, RF_POLL_MS) <= 0)
            continue;
        ssize_t n = read(r->ifd, events, sizeof(events));
        if (n <= 0)
            continue;
        for (ssize_t at = 0; at < n;) {
            const struct inotify_event *ev = (const struct inotify_event *)(events + at);
            at += (ssize_t)(sizeof(*ev) + ev->len);
            if (ev->mask & IN_Q_OVERFLOW) {
                /* Events were lost: take every name not seen yet (a file still being written
                 * may then be read in part; its later close is seen as a repeat). */
                atomic_fetch_add(&r->stats.overflows, 1);
                read_existing(r);
                continue;
            }
            if (ev->len == 0 || (ev->mask & IN_ISDIR))
                continue;
            if (read_file(r, ev->name) == -ECANCELED)
                break;
        }
    }
    /* Files that completed while stopping: their events are still queued; take them. */
    ssize_t n;
    while ((n = read(r->ifd, events, sizeof(events))) > 0) {
        for (ssize_t at = 0; at < n;) {
            const struct inotify_event *ev = (const struct inotify_event *)(events + at);
            at += (ssize_t)(sizeof(*ev) + ev->len);
            if (ev->len > 0 && !(ev->mask & IN_ISDIR) && read_file(r, ev->name) == -ECANCELED)
                return NULL;
        }
    }
    return NULL;
}

int sp_file_receiver_create(const struct sp_file_receiver_opts *opts, struct sp_file_receiver **out,
                            char *errbuf, size_t errlen) {
    *out = NULL;
    if (opts == NULL || opts->dir == NULL || opts->dir[0] == '\0' ||
        strlen(opts->dir) >= sizeof(((struct sp_file_receiver *)0)->dir)) {
        snprintf(errbuf, errlen, "text_file_stream: a directory is needed");
        return -EINVAL;
    }
    struct sp_file_receiver *r = sp_io_map(sizeof(*r));
    if (r == NULL)
        goto oom;
    /* The ring is made here, so a failure is the start's; reads are few and whole, so the
     * thread that uses it needs no SINGLE_ISSUER. */
    int rc = io_uring_queue_init(8, &r->uring, 0);
    if (rc != 0) {
        munmap(r, sizeof(*r));
        snprintf(errbuf, errlen, "io_uring cannot be set up (%s)", strerror(-rc));
        return -ENOSYS;
    }
    r->uring_ready = true;
    r->ifd = -1;
    snprintf(r->dir, sizeof(r->dir), "%s", opts->dir);
    r->include_existing = opts->include_existing;
    r->max_line = opts->max_line ? opts->max_line : RF_DEFAULT_MAX_LINE;
    if (r->max_line < opts->record_bytes) /* the carry holds a record */
        r->max_line = opts->record_bytes;
    uint32_t ring = opts->ring_bytes ? opts->ring_bytes : RF_DEFAULT_RING;
    if (ring < 2 * (r->max_line + 1))
        ring = 2 * (r->max_line + 1);
    r->staging = sp_io_map(RF_READ);
    r->carry = sp_io_map((size_t)r->max_line + 1);
    if (r->staging == NULL || r->carry == NULL || sp_ring_create(ring, &r->ring) != 0)
        goto oom;
    sp_sink_init(&r->sink, r->ring, opts->max_records_per_second, &r->stop, &r->stats.lines,
                 &r->stats.blocked_ns);
    if (opts->record_bytes > 0)
        sp_framer_init_records(&r->framer, r->carry, opts->record_bytes, r->max_line,
                               &r->stats.malformed, sp_sink_emit, &r->sink);
    else
        sp_framer_init(&r->framer, r->carry, r->max_line, &r->stats.malformed, sp_sink_emit,
                       &r->sink);
    r->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (r->ifd < 0 ||
        inotify_add_watch(r->ifd, r->dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_ONLYDIR) < 0) {
        int e = errno;
        snprintf(errbuf, errlen, "text_file_stream: cannot watch '%s': %s", opts->dir, strerror(e));
        sp_file_receiver_destroy(r);
        return -e;
    }
    *out = r;
    return 0;
oom:
    sp_file_receiver_destroy(r);
    snprintf(errbuf, errlen, "text_file_stream: out of memory");
    return -ENOMEM;
}

int sp_file_receiver_start(struct sp_file_receiver *r, char *errbuf, size_t errlen) {
    int e = pthread_create(&r->thread, NULL, files_main, r);
    if (e != 0) {
        snprintf(errbuf, errlen, "text_file_stream: cannot start a thread: %s", strerror(e));
        return -e;
    }
    r->started = true;
    return 0;
}

void sp_file_receiver_stop(struct sp_file_receiver *r) {
    if (r == NULL || !r->started || r->joined)
        return;
    atomic_store(&r->stop, true);
    pthread_join(r->thread, NULL);
    r->joined = true;
}

void sp_file_receiver_destroy(struct sp_file_receiver *r) {
    if (r == NULL)
        return;
    sp_file_receiver_stop(r);
    if (r->uring_ready)
        io_uring_queue_exit(&r->uring);
    if (r->ifd >= 0)
        close(r->ifd);
    if (r->ring != NULL)
        sp_ring_destroy(r->ring);
    if (r->staging != NULL)
        munmap(r->staging, RF_READ);
    if (r->carry != NULL)
        munmap(r->carry, (size_t)r->max_line + 1);
    if (r->names != NULL)
        munmap(r->names, sizeof(uint64_t) * r->names_cap);
    munmap(r, sizeof(*r));
}

struct sp_ring *sp_file_receiver_ring(struct sp_file_receiver *r) {
    return r->ring;
}

const struct sp_file_receiver_stats *sp_file_receiver_stats(const struct sp_file_receiver *r) {
    return &r->stats;
}
