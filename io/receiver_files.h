/*
 * io/receiver_files.h - Spark's textFileStream: the lines of files that
 * appear in a directory, read with io_uring into an sp_ring.
 *
 * A file is taken when it is complete: moved into the directory (rename,
 * IN_MOVED_TO) or closed after writing (IN_CLOSE_WRITE); each name once.
 * Files present before start are ignored, as in Spark, unless
 * include_existing; names starting with '.' are ignored (editors' and
 * copiers' temporaries, Spark's default filter). Lines are cut as the
 * socket receiver cuts them (a last line without '\n' ends at the end of its
 * file, over-long lines are counted and skipped); a full ring makes the
 * thread wait, never drop.
 */
#ifndef SP_RECEIVER_FILES_H
#define SP_RECEIVER_FILES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sp_ring;
struct sp_file_receiver;

struct sp_file_receiver_opts {
    const char *dir;
    bool include_existing;           /* also the files there at start, in name order */
    uint32_t ring_bytes;             /* capacity of the line ring */
    uint32_t max_line;               /* longer lines are malformed */
    uint64_t max_records_per_second; /* 0: no limit (io/rate.h) */
    uint32_t record_bytes; /* > 0: fixed-width binary records (max_line >= record_bytes) */
};

struct sp_file_receiver_stats {
    _Atomic uint64_t files;      /* files read to the end */
    _Atomic uint64_t lines;      /* lines published */
    _Atomic uint64_t bytes;      /* bytes read */
    _Atomic uint64_t malformed;  /* over-long lines skipped */
    _Atomic uint64_t failed;     /* files that could not be opened or read */
    _Atomic uint64_t blocked_ns; /* time spent waiting for ring space */
    _Atomic uint64_t overflows;  /* inotify queue overflows (the directory was rescanned) */
};

/* Watch dir (inotify) and set up the ring. Returns 0 or -errno (message in errbuf). */
int sp_file_receiver_create(const struct sp_file_receiver_opts *opts, struct sp_file_receiver **out,
                            char *errbuf, size_t errlen);
/* Start the thread (its io_uring is created there). Returns 0 or -errno. */
int sp_file_receiver_start(struct sp_file_receiver *r, char *errbuf, size_t errlen);
/* Stop and join: a file being read is finished first (its lines published), unless the ring
 * stays full. Safe twice. */
void sp_file_receiver_stop(struct sp_file_receiver *r);
void sp_file_receiver_destroy(struct sp_file_receiver *r);
struct sp_ring *sp_file_receiver_ring(struct sp_file_receiver *r);
const struct sp_file_receiver_stats *sp_file_receiver_stats(const struct sp_file_receiver *r);

#endif /* SP_RECEIVER_FILES_H */
