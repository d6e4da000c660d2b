/*
 * engine/input.c - socket and queue inputs: definition, sealing, release.
 *
 * Invariants: a socket input's cuts are ring positions at line boundaries
 * (the receiver publishes whole lines only), taken in order by the clock
 * side; ring space is given back only after the batch that covers it has
 * finished its outputs, so string views into the ring stay valid for the
 * whole batch. Queue items are immutable once pushed.
 */
#include "engine/input.h"
#include "engine/context.h"
#include "engine/dstream.h"
#include "engine/generator.h"
#include "engine/mem.h"
#include "io/receiver_files.h"
#include "io/receiver_generator.h"
#include "io/receiver_listen.h"
#include "io/receiver_udp.h"
#include "io/receiver_socket.h"
#include "io/ring.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <sys/socket.h>

void spate_socket_opts_init(struct spate_socket_opts *opts) {
    if (opts == NULL)
        return;
    memset(opts, 0, sizeof(*opts));
    opts->max_line_bytes = 1u << 20;
    opts->ring_bytes = 128u << 20;
    opts->recv_buffer_bytes = 64u << 10;
    opts->recv_buffers = 64;
    opts->reconnect_min_ms = 10;
    opts->reconnect_max_ms = 1000;
}

static struct sp_input *input_new(spate_dstream *ds, enum sp_input_kind kind,
                                  struct spate_error *err) {
    struct sp_input *in = sp_mem_zalloc(SP_MEM_DEFAULT_ARENA, sizeof(*in), 64);
    if (in == NULL) {
        sp_error_set(err, ENOMEM, "out of memory defining an input");
        return NULL;
    }
    in->kind = kind;
    in->ds = ds;
    pthread_mutex_init(&in->mu, NULL);
    ds->input = in;
    return in;
}

spate_dstream *spate_context_socket_listen_stream(spate_context *ctx, const char *host,
                                                  uint16_t port,
                                                  const struct spate_socket_opts *opts,
                                                  struct spate_error *err) {
    if (ctx == NULL || host == NULL || strlen(host) >= sizeof(((struct sp_input *)0)->host)) {
        sp_error_set(err, EINVAL, "socket_listen_stream: a context and a host are needed");
        return NULL;
    }
    if (sp_context_check_definable(ctx, "socket_listen_stream", err) != SPATE_OK)
        return NULL;
    struct spate_socket_opts o;
    spate_socket_opts_init(&o);
    if (opts != NULL)
        o = *opts;
    if (o.max_connections == 0)
        o.max_connections = 256;
    if (o.max_line_bytes < o.record_bytes) /* binary records: the carry holds one */
        o.max_line_bytes = o.record_bytes;
    if (o.max_connections > 65536 || o.max_line_bytes > (1u << 30) ||
        o.ring_bytes < 2 * (o.max_line_bytes + 1)) {
        sp_error_set(err, EINVAL,
                     "socket_listen_stream: max_connections up to 65536, a ring of at least two "
                     "lines");
        return NULL;
    }
    spate_dstream *ds = sp_dstream_new(ctx, SP_NODE_SOCKET, NULL, err); /* a text ring input */
    if (ds == NULL)
        return NULL;
    struct spate_column_def cols[] = {{"value", SPATE_TYPE_STRING}};
    struct sp_input *in = NULL;
    if (sp_schema_set(&ds->schema, cols, 1, err) != SPATE_OK ||
        (in = input_new(ds, SP_INPUT_LISTEN, err)) == NULL) {
        sp_mem_free(SP_MEM_DEFAULT_ARENA, ds, sizeof(*ds));
        return NULL;
    }
    snprintf(in->host, sizeof(in->host), "%s", host);
    in->port = port;
    in->sopts = o;
    sp_context_add_node(ctx, ds);
    return ds;
}

spate_dstream *spate_context_udp_stream(spate_context *ctx, const char *host, uint16_t port,
                                        const struct spate_socket_opts *opts,
                                        struct spate_error *err) {
    if (ctx == NULL || host == NULL || strlen(host) >= sizeof(((struct sp_input *)0)->host)) {
        sp_error_set(err, EINVAL, "udp_stream: a context and a host are needed");
        return NULL;
    }
    if (sp_context_check_definable(ctx, "udp_stream", err) != SPATE_OK)
        return NULL;
    struct spate_socket_opts o;
    spate_socket_opts_init(&o);
    o.max_line_bytes = 64u << 10; /* a datagram is at most this */
    o.ring_bytes = 16u << 20;
    if (opts != NULL)
        o = *opts;
    if (o.record_bytes > 65507) {
        sp_error_set(err, EINVAL, "udp_stream: record_bytes %u is more than a datagram holds",
                     o.record_bytes);
        return NULL;
    }
    if (o.max_line_bytes < o.record_bytes) /* binary records: the carry holds one */
        o.max_line_bytes = o.record_bytes;
    if (o.max_line_bytes > (1u << 30) || o.ring_bytes < 2 * (o.max_line_bytes + 1)) {
        sp_error_set(err, EINVAL, "udp_stream: the ring must hold two lines");
        return NULL;
    }
    spate_dstream *ds = sp_dstream_new(ctx, SP_NODE_SOCKET, NULL, err); /* a text ring input */
    if (ds == NULL)
        return NULL;
    struct spate_column_def cols[] = {{"value", SPATE_TYPE_STRING}};
    struct sp_input *in = NULL;
    if (sp_schema_set(&ds->schema, cols, 1, err) != SPATE_OK ||
        (in = input_new(ds, SP_INPUT_UDP, err)) == NULL) {
        sp_mem_free(SP_MEM_DEFAULT_ARENA, ds, sizeof(*ds));
        return NULL;
    }
    snprintf(in->host, sizeof(in->host), "%s", host);
    in->port = port;
    in->sopts = o;
    sp_context_add_node(ctx, ds);
    return ds;
}

uint16_t spate_input_port(const spate_dstream *input) {
    if (input == NULL || input->input == NULL ||
        (input->input->kind != SP_INPUT_LISTEN && input->input->kind != SP_INPUT_UDP))
        return 0;
    struct sp_input *in = input->input;
    pthread_mutex_lock(&in->mu);
    uint16_t p = in->bound_port;
    pthread_mutex_unlock(&in->mu);
    return p;
}

spate_dstream *spate_context_socket_text_stream(spate_context *ctx, const char *host, uint16_t port,
                                                const struct spate_socket_opts *opts,
                                                struct spate_error *err) {
    if (ctx == NULL || host == NULL || host[0] == '\0' || port == 0) {
        sp_error_set(err, EINVAL, "socket_text_stream: %s",
                     ctx == NULL ? "the context is NULL" : "a host and a non-zero port are needed");
        return NULL;
    }
    if (sp_context_check_definable(ctx, "socket_text_stream", err) != SPATE_OK)
        return NULL;
    struct spate_socket_opts o;
    spate_socket_opts_init(&o);
    if (opts != NULL)
        o = *opts;
    if (o.max_line_bytes < o.record_bytes) /* binary records: the carry holds one */
        o.max_line_bytes = o.record_bytes;
    if (o.max_line_bytes == 0 || o.ring_bytes < 4096 || o.ring_bytes > (1u << 30) ||
        o.ring_bytes <= o.max_line_bytes || o.recv_buffer_bytes == 0 || o.recv_buffers == 0 ||
        o.reconnect_min_ms == 0 || o.reconnect_max_ms < o.reconnect_min_ms) {
        sp_error_set(err, EINVAL,
                     "socket_text_stream: bad options (ring_bytes 4 KiB..1 GiB and above "
                     "max_line_bytes, non-zero buffers, reconnect_min_ms <= reconnect_max_ms)");
        return NULL;
    }
    if (strlen(host) >= sizeof(((struct sp_input *)0)->host)) {
        sp_error_set(err, EINVAL, "socket_text_stream: host name too long");
        return NULL;
    }
    /* Resolve now so that a typo fails at definition, not at start. */
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(host, NULL, &hints, &res);
    if (gai != 0) {
        sp_error_set(err, EINVAL, "socket_text_stream: cannot resolve host '%s': %s", host,
                     gai_strerror(gai));
        return NULL;
    }
    freeaddrinfo(res);
    spate_dstream *ds = sp_dstream_new(ctx, SP_NODE_SOCKET, NULL, err);
    if (ds == NULL)
        return NULL;
    struct spate_column_def cols[] = {{"value", SPATE_TYPE_STRING}};
    if (sp_schema_set(&ds->schema, cols, 1, err) != SPATE_OK)
        goto fail;
    struct sp_input *in = input_new(ds, SP_INPUT_SOCKET, err);
    if (in == NULL)
        goto fail;
    snprintf(in->host, sizeof(in->host), "%s", host);
    in->port = port;
    in->sopts = o;
    sp_context_add_node(ctx, ds);
    return ds;
fail:
    sp_mem_free(SP_MEM_DEFAULT_ARENA, ds, sizeof(*ds));
    return NULL;
}

void spate_file_stream_opts_init(struct spate_file_stream_opts *opts) {
    if (opts == NULL)
        return;
    memset(opts, 0, sizeof(*opts));
    opts->ring_bytes = 64u << 20;
    opts->max_line_bytes = 1u << 20;
}

spate_dstream *spate_context_text_file_stream(spate_context *ctx, const char *dir,
                                              const struct spate_file_stream_opts *opts,
                                              struct spate_error *err) {
    if (ctx == NULL || dir == NULL || dir[0] == '\0') {
        sp_error_set(err, EINVAL, "text_file_stream: a context and a directory are needed");
        return NULL;
    }
    if (sp_context_check_definable(ctx, "text_file_stream", err) != SPATE_OK)
        return NULL;
    struct spate_file_stream_opts o;
    spate_file_stream_opts_init(&o);
    if (opts != NULL)
        o = *opts;
    if (o.max_line_bytes < o.record_bytes) /* binary records: the carry holds one */
        o.max_line_bytes = o.record_bytes;
    if (strlen(dir) >= sizeof(((struct sp_input *)0)->dir) || o.ring_bytes < 65536 ||
        o.ring_bytes > (1u << 30) || o.max_line_bytes == 0 || o.max_line_bytes > o.ring_bytes / 2) {
        sp_error_set(err, EINVAL,
                     "text_file_stream: a directory path under 4 KiB, ring_bytes 64 KiB..1 GiB, "
                     "max_line_bytes 1..ring_bytes/2");
        return NULL;
    }
    spate_dstream *ds = sp_dstream_new(ctx, SP_NODE_SOCKET, NULL, err); /* a text ring input */
    if (ds == NULL)
        return NULL;
    struct spate_column_def cols[] = {{"value", SPATE_TYPE_STRING}};
    struct sp_input *in = NULL;
    if (sp_schema_set(&ds->schema, cols, 1, err) != SPATE_OK ||
        (in = input_new(ds, SP_INPUT_FILES, err)) == NULL) {
        sp_mem_free(SP_MEM_DEFAULT_ARENA, ds, sizeof(*ds));
        return NULL;
    }
    snprintf(in->dir, sizeof(in->dir), "%s", dir);
    in->fopts = o;
    sp_context_add_node(ctx, ds);
    return ds;
}

void spate_generator_opts_init(struct spate_generator_opts *opts) {
    if (opts == NULL)
        return;
    memset(opts, 0, sizeof(*opts));
    opts->vocabulary = 100000;
    opts->min_words = 1;
    opts->max_words = 20;
    opts->seed = 1;
    opts->ring_bytes = 128u << 20;
    opts->kind = SPATE_GENERATOR_TEXT;
    opts->keys = 10000;
    opts->first_event_ns = INT64_C(1767225600) * 1000000000; /* 2026-01-01T00:00:00Z */
    opts->event_interval_ns = 100000;
}

spate_dstream *spate_context_generator_stream(spate_context *ctx,
                                              const struct spate_generator_opts *opts,
                                              struct spate_error *err) {
    if (ctx == NULL) {
        sp_error_set(err, EINVAL, "generator_stream: the context is NULL");
        return NULL;
    }
    if (sp_context_check_definable(ctx, "generator_stream", err) != SPATE_OK)
        return NULL;
    struct spate_generator_opts o;
    spate_generator_opts_init(&o);
    if (opts != NULL)
        o = *opts;
    if (o.kind != SPATE_GENERATOR_TEXT)
        return sp_tgen_stream(ctx, &o, err);
    if (o.vocabulary == 0 || o.vocabulary > (1u << 24) || o.min_words == 0 ||
        o.max_words < o.min_words || o.max_words > 64 || o.ring_bytes < 65536 ||
        o.ring_bytes > (1u << 30)) {
        sp_error_set(err, EINVAL,
                     "generator_stream: vocabulary 1..16M, 1 <= min_words <= max_words <= 64, "
                     "ring_bytes 64 KiB..1 GiB");
        return NULL;
    }
    spate_dstream *ds = sp_dstream_new(ctx, SP_NODE_SOCKET, NULL, err); /* a text ring input */
    if (ds == NULL)
        return NULL;
    struct spate_column_def cols[] = {{"value", SPATE_TYPE_STRING}};
    struct sp_input *in = NULL;
    if (sp_schema_set(&ds->schema, cols, 1, err) != SPATE_OK ||
        (in = input_new(ds, SP_INPUT_GENERATOR, err)) == NULL) {
        sp_mem_free(SP_MEM_DEFAULT_ARENA, ds, sizeof(*ds));
        return NULL;
    }
    in->gopts = o;
    sp_context_add_node(ctx, ds);
    return ds;
}

spate_dstream *spate_context_queue_stream(spate_context *ctx,
                                          const struct spate_column_def *columns,
                                          uint32_t num_columns, struct spate_error *err) {
    if (ctx == NULL) {
        sp_error_set(err, EINVAL, "queue_stream: the context is NULL");
        return NULL;
    }
    if (sp_context_check_definable(ctx, "queue_stream", err) != SPATE_OK)
        return NULL;
    spate_dstream *ds = sp_dstream_new(ctx, SP_NODE_QUEUE, NULL, err);
    if (ds == NULL)
        return NULL;
    if (sp_schema_no_lists(columns, num_columns, "queue_stream", err) != SPATE_OK ||
        sp_schema_set(&ds->schema, columns, num_columns, err) != SPATE_OK)
        goto fail;
    if (input_new(ds, SP_INPUT_QUEUE, err) == NULL)
        goto fail;
    sp_context_add_node(ctx, ds);
    return ds;
fail:
    sp_mem_free(SP_MEM_DEFAULT_ARENA, ds, sizeof(*ds));
    return NULL;
}

void sp_queue_item_free_list(struct sp_queue_item *item) {
    while (item != NULL) {
        struct sp_queue_item *next = item->next;
        sp_queue_item_free(item);
        item = next;
    }
}

void sp_queue_item_free(struct sp_queue_item *item) {
    if (item == NULL)
        return;
    /* The item lives in its own region: copy the region out before releasing it. */
    struct sp_region r = item->region;
    sp_region_destroy(&r);
}

/* Copy rows of columns (schema s) into a new item with its own region. */
spate_status sp_queue_item_build(const struct sp_schema *s, const struct spate_column_data *columns,
                                 uint64_t rows, const char *what, struct sp_queue_item **out,
                                 struct spate_error *err) {
    int64_t arrived = sp_now_ns(); /* before the copy: the copy counts as latency */
    if (columns == NULL && rows > 0)
        return sp_error_set(err, EINVAL, "%s: columns is NULL", what);
    for (uint32_t c = 0; c < s->ncols && rows > 0; c++)
        if (columns[c].data == NULL)
            return sp_error_set(err, EINVAL, "%s: column %u has no data", what, c);
    SPATE_RETURN_NOT_OK(sp_schema_no_lists(s->cols, s->ncols, what, err));
    struct sp_region r;
    sp_region_init(&r, SP_MEM_DEFAULT_ARENA, 1 << 20);
    struct sp_queue_item *item = sp_region_alloc(&r, sizeof(*item), 64);
    if (item == NULL)
        goto oom;
    memset(item, 0, sizeof(*item));
    item->batch = sp_batch_new(&r, s, 1, 0);
    if (item->batch == NULL)
        goto oom;
    for (uint64_t base = 0; base < rows; base += SPATE_CHUNK_ROWS) {
        uint32_t n = (uint32_t)SP_MIN((uint64_t)SPATE_CHUNK_ROWS, rows - base);
        struct sp_chunk *ch = sp_chunk_new(&r, s);
        if (ch == NULL)
            goto oom;
        for (uint32_t c = 0; c < s->ncols; c++) {
            size_t width = sp_type_width(s->cols[c].type);
            const char *src = (const char *)columns[c].data + width * base;
            char *dst = sp_col_data(ch, c);
            if (s->cols[c].type == SPATE_TYPE_STRING) {
                const struct spate_string *sv = (const struct spate_string *)src;
                struct spate_string *dv = (struct spate_string *)dst;
                const uint64_t *valid = columns[c].validity;
                for (uint32_t i = 0; i < n; i++) {
                    memset(&dv[i], 0, sizeof(dv[i]));
                    uint64_t row = base + i;
                    if (valid != NULL && !((valid[row >> 6] >> (row & 63)) & 1u))
                        continue; /* a null slot's view may hold anything: never read it */
                    uint32_t len = sv[i].len;
                    const char *bytes = spate_string_data(&sv[i]);
                    dv[i].len = len;
                    if (len <= SPATE_STRING_INLINE) {
                        if (len > 0)
                            memcpy((char *)&dv[i] + offsetof(struct spate_string, prefix), bytes,
                                   len);
                        continue;
                    }
                    char *copy = sp_region_alloc(&r, len, 8);
                    if (copy == NULL)
                        goto oom;
                    memcpy(copy, bytes, len);
                    memcpy(dv[i].prefix, copy, 4);
                    dv[i].u.ptr = copy;
                }
            } else {
                memcpy(dst, src, width * n);
            }
            if (columns[c].validity != NULL) {
                uint64_t *v = sp_chunk_add_validity(&r, ch, c);
                if (v == NULL)
                    goto oom;
                for (uint32_t i = 0; i < n; i++) {
                    uint64_t row = base + i;
                    if ((columns[c].validity[row >> 6] >> (row & 63)) & 1u)
                        v[i >> 6] |= 1ull << (i & 63);
                }
            }
        }
        ch->view.rows = n;
        if (sp_part_append(&r, &item->batch->parts[0], ch) != SPATE_OK)
            goto oom;
    }
    item->rows = rows;
    item->arrival_ns = arrived;
    item->region = r;
    *out = item;
    return SPATE_OK;
oom:
    sp_region_destroy(&r);
    return sp_error_set(err, ENOMEM, "%s: out of memory", what);
}

spate_status sp_input_put_item(struct sp_input *in, struct sp_queue_item *item) {
    pthread_mutex_lock(&in->mu);
    if (in->closed || in->rstopped) {
        pthread_mutex_unlock(&in->mu);
        sp_queue_item_free(item);
        return ECANCELED;
    }
    if (in->qtail != NULL)
        in->qtail->next = item;
    else
        in->qhead = item;
    in->qtail = item;
    pthread_mutex_unlock(&in->mu);
    return SPATE_OK;
}

/* Copy rows into an item and append it to in's queue (queue pushes and receiver stores). */
static spate_status enqueue(struct sp_input *in, const struct spate_column_data *columns,
                            uint64_t rows, const char *what, struct spate_error *err) {
    struct sp_queue_item *item;
    SPATE_RETURN_NOT_OK(sp_queue_item_build(&in->ds->schema, columns, rows, what, &item, err));
    if (sp_input_put_item(in, item) != SPATE_OK) /* freed there */
        return sp_error_set(err, ECANCELED, "%s: the %s is stopped", what,
                            in->receiver ? "receiver" : "context");
    return SPATE_OK;
}

spate_status spate_queue_push(spate_dstream *queue, const struct spate_column_data *columns,
                              uint64_t rows, struct spate_error *err) {
    if (queue == NULL || queue->kind != SP_NODE_QUEUE || queue->input->constant != NULL ||
        queue->input->receiver)
        return sp_error_set(err, EINVAL, "queue_push: not a queue stream");
    return enqueue(queue->input, columns, rows, "queue_push", err);
}

spate_status spate_receiver_store(spate_receiver *receiver, const struct spate_column_data *columns,
                                  uint64_t rows, struct spate_error *err) {
    if (receiver == NULL || receiver->in == NULL)
        return sp_error_set(err, EINVAL, "receiver_store: the receiver is NULL");
    return enqueue(receiver->in, columns, rows, "receiver_store", err);
}

spate_dstream *spate_context_receiver_stream(spate_context *ctx,
                                             const struct spate_column_def *columns,
                                             uint32_t num_columns,
                                             const struct spate_receiver_ops *ops,
                                             struct spate_error *err) {
    if (ops == NULL || ops->start == NULL || ops->stop == NULL) {
        sp_error_set(err, EINVAL, "receiver_stream: the ops and their start and stop are required");
        return NULL;
    }
    spate_dstream *ds = spate_context_queue_stream(ctx, columns, num_columns, err);
    if (ds == NULL)
        return NULL;
    ds->input->receiver = true;
    ds->input->rops = *ops;
    ds->input->handle.in = ds->input;
    return ds;
}

spate_dstream *spate_context_constant_stream(spate_context *ctx,
                                             const struct spate_column_def *columns,
                                             uint32_t num_columns,
                                             const struct spate_column_data *data, uint64_t rows,
                                             struct spate_error *err) {
    spate_dstream *ds = spate_context_queue_stream(ctx, columns, num_columns, err);
    if (ds == NULL)
        return NULL;
    /* The node stays linked in ctx (freed with it); an empty constant item keeps it harmless. */
    struct sp_queue_item *item;
    if (sp_queue_item_build(&ds->schema, data, rows, "constant_stream", &item, err) != SPATE_OK) {
        if (sp_queue_item_build(&ds->schema, NULL, 0, "constant_stream", &ds->input->constant,
                                NULL) != SPATE_OK)
            ds->input->constant = NULL;
        return NULL;
    }
    ds->input->constant = item;
    return ds;
}

/* Lines as views to the caller's bytes, handed to queue_push or receiver_store (which copy). */
static spate_status push_lines(spate_dstream *queue, spate_receiver *receiver,
                               const char *const *lines, uint64_t count, const char *what,
                               struct spate_error *err) {
    if (lines == NULL && count > 0)
        return sp_error_set(err, EINVAL, "%s: lines is NULL", what);
    /* Views to the caller's bytes; queue_push copies them. */
    struct sp_region r;
    sp_region_init(&r, SP_MEM_DEFAULT_ARENA, 1 << 16);
    struct spate_string *views =
        count > 0 ? sp_region_alloc(&r, sizeof(struct spate_string) * count, 64) : NULL;
    if (count > 0 && views == NULL) {
        sp_region_destroy(&r);
        return sp_error_set(err, ENOMEM, "%s: out of memory", what);
    }
    for (uint64_t i = 0; i < count; i++) {
        const char *l = lines[i] != NULL ? lines[i] : "";
        sp_string_view(&views[i], l, (uint32_t)strlen(l));
    }
    struct spate_column_data col = {views, NULL};
    spate_status rc = receiver != NULL ? spate_receiver_store(receiver, &col, count, err)
                                       : spate_queue_push(queue, &col, count, err);
    sp_region_destroy(&r);
    return rc;
}

spate_status spate_queue_push_lines(spate_dstream *queue, const char *const *lines, uint64_t count,
                                    struct spate_error *err) {
    if (queue == NULL || queue->kind != SP_NODE_QUEUE || queue->schema.ncols != 1 ||
        queue->schema.cols[0].type != SPATE_TYPE_STRING)
        return sp_error_set(err, EINVAL, "queue_push_lines: not a one-column string queue");
    return push_lines(queue, NULL, lines, count, "queue_push_lines", err);
}

spate_status spate_receiver_store_lines(spate_receiver *receiver, const char *const *lines,
                                        uint64_t count, struct spate_error *err) {
    if (receiver == NULL || receiver->in == NULL)
        return sp_error_set(err, EINVAL, "receiver_store_lines: the receiver is NULL");
    const struct sp_schema *s = &receiver->in->ds->schema;
    if (s->ncols != 1 || s->cols[0].type != SPATE_TYPE_STRING)
        return sp_error_set(err, EINVAL, "receiver_store_lines: not a one-column string stream");
    return push_lines(NULL, receiver, lines, count, "receiver_store_lines", err);
}

spate_status spate_input_stats(const spate_dstream *input, struct spate_input_stats *out,
                               struct spate_error *err) {
    if (input == NULL || input->input == NULL || out == NULL)
        return sp_error_set(err, EINVAL, "input_stats: not an input stream");
    struct sp_input *in = input->input;
    memset(out, 0, sizeof(*out));
    out->records = atomic_load(&in->records);
    out->bytes = atomic_load(&in->bytes);
    pthread_mutex_lock(&in->mu);
    out->malformed = in->rx_malformed;
    out->reconnects = in->rx_connects > 0 ? in->rx_connects - 1 : 0;
    out->blocked_ns = in->rx_blocked_ns;
    if (in->rx != NULL) {
        const struct sp_socket_receiver_stats *st = sp_socket_receiver_stats(in->rx);
        out->malformed = atomic_load_explicit(&st->malformed, memory_order_relaxed);
        uint64_t c = atomic_load_explicit(&st->connects, memory_order_relaxed);
        out->reconnects = c > 0 ? c - 1 : 0;
        out->blocked_ns = atomic_load_explicit(&st->blocked_ns, memory_order_relaxed);
        out->bytes = atomic_load_explicit(&st->bytes, memory_order_relaxed);
    } else if (in->udp != NULL) {
        const struct sp_udp_receiver_stats *us = sp_udp_receiver_stats(in->udp);
        out->bytes = atomic_load(&us->bytes);
        out->malformed = atomic_load(&us->malformed);
        out->blocked_ns = atomic_load(&us->blocked_ns);
        out->datagrams = atomic_load(&us->datagrams);
    } else if (in->kind == SP_INPUT_UDP) {
        out->bytes = in->rx_bytes;
        out->datagrams = in->datagrams;
    } else if (in->lsn != NULL) {
        const struct sp_listen_receiver_stats *ls = sp_listen_receiver_stats(in->lsn);
        out->bytes = atomic_load(&ls->bytes);
        out->malformed = atomic_load(&ls->malformed);
        out->blocked_ns = atomic_load(&ls->blocked_ns);
        out->accepted = atomic_load(&ls->accepted);
    } else if (in->kind == SP_INPUT_LISTEN) {
        out->bytes = in->rx_bytes;
        out->accepted = in->accepted;
    } else if (in->files != NULL) {
        const struct sp_file_receiver_stats *fs = sp_file_receiver_stats(in->files);
        out->bytes = atomic_load(&fs->bytes);
        out->malformed = atomic_load(&fs->malformed);
        out->blocked_ns = atomic_load(&fs->blocked_ns);
        out->files = atomic_load(&fs->files);
    } else if (in->kind == SP_INPUT_FILES) {
        out->bytes = in->rx_bytes;
        out->files = in->files_read;
    } else if (in->gen != NULL) {
        const struct sp_gen_receiver_stats *gs = sp_gen_receiver_stats(in->gen);
        out->bytes = atomic_load(&gs->bytes);
        out->blocked_ns = atomic_load(&gs->blocked_ns);
    } else if (in->kind != SP_INPUT_QUEUE) {
        out->bytes = in->rx_bytes;
    } else if (in->tgen != NULL) {
        sp_tgen_stats(in->tgen, &out->bytes, &out->blocked_ns);
    }
    pthread_mutex_unlock(&in->mu);
    return SPATE_OK;
}

/* ---- Engine side ---- */

static spate_status start_generator(struct sp_input *in, struct spate_error *err) {
    struct sp_gen_receiver_opts go;
    memset(&go, 0, sizeof(go));
    go.vocabulary = in->gopts.vocabulary;
    go.min_words = in->gopts.min_words;
    go.max_words = in->gopts.max_words;
    go.rate = in->gopts.lines_per_second;
    go.max_lines = in->gopts.max_lines;
    go.seed = in->gopts.seed;
    go.ring_bytes = in->gopts.ring_bytes;
    char msg[SPATE_ERROR_MESSAGE_SIZE];
    msg[0] = '\0';
    struct sp_gen_receiver *g = NULL;
    int rc = sp_gen_receiver_create(&go, &g, msg, sizeof(msg));
    if (rc == 0) {
        in->ring = sp_gen_receiver_ring(g);
        in->sealed = sp_ring_tail(in->ring);
        in->gen = g;
        rc = sp_gen_receiver_start(g, msg, sizeof(msg));
    }
    if (rc != 0)
        return sp_error_set(err, rc == -ENOMEM ? ENOMEM : EIO, "generator_stream cannot start: %s",
                            msg[0] ? msg : strerror(-rc));
    return SPATE_OK;
}

/* Stop a program's receiver once (idempotent); later stores fail. */
static void receiver_stop(struct sp_input *in) {
    pthread_mutex_lock(&in->mu);
    bool call = in->rstarted && !in->rstopped;
    in->rstopped = true;
    pthread_mutex_unlock(&in->mu);
    if (call)
        in->rops.stop(in->rops.user); /* stores until it returns still land */
}

/* The provided buffers to ask for: the option rounded up to a power of two (at most 32768). */
static uint32_t recv_buffer_count(const struct sp_input *in) {
    uint32_t count = 1;
    while (count < in->sopts.recv_buffers && count < 32768)
        count <<= 1;
    return count;
}

static spate_status start_listen(struct sp_input *in, struct spate_error *err) {
    uint32_t count = recv_buffer_count(in);
    struct sp_listen_receiver_opts lo = {in->host,
                                         in->port,
                                         in->sopts.max_connections,
                                         in->sopts.max_line_bytes,
                                         in->sopts.ring_bytes,
                                         in->sopts.recv_buffer_bytes,
                                         count,
                                         in->sopts.max_records_per_second,
                                         in->sopts.record_bytes};
    char msg[SPATE_ERROR_MESSAGE_SIZE];
    msg[0] = '\0';
    struct sp_listen_receiver *r = NULL;
    int rc = sp_listen_receiver_create(&lo, &r, msg, sizeof(msg));
    if (rc == 0) {
        in->ring = sp_listen_receiver_ring(r);
        in->sealed = sp_ring_tail(in->ring);
        pthread_mutex_lock(&in->mu);
        in->lsn = r;
        in->bound_port = sp_listen_receiver_port(r);
        pthread_mutex_unlock(&in->mu);
        rc = sp_listen_receiver_start(r, msg, sizeof(msg));
        if (rc != 0) { /* let the port go now, not at destroy */
            pthread_mutex_lock(&in->mu);
            in->lsn = NULL;
            in->ring = NULL;
            pthread_mutex_unlock(&in->mu);
            sp_listen_receiver_destroy(r);
        }
    }
    if (rc != 0)
        return sp_error_set(err, rc == -ENOMEM ? ENOMEM : EIO,
                            "socket_listen_stream %s:%u cannot start: %s", in->host, in->port,
                            msg[0] ? msg : strerror(-rc));
    return SPATE_OK;
}

static spate_status start_udp(struct sp_input *in, struct spate_error *err) {
    uint32_t count = recv_buffer_count(in);
    struct sp_udp_receiver_opts uo = {in->host,
                                      in->port,
                                      in->sopts.max_line_bytes,
                                      in->sopts.ring_bytes,
                                      count,
                                      in->sopts.recv_buffer_bytes,
                                      in->sopts.max_records_per_second,
                                      in->sopts.record_bytes};
    char msg[SPATE_ERROR_MESSAGE_SIZE];
    msg[0] = '\0';
    struct sp_udp_receiver *r = NULL;
    int rc = sp_udp_receiver_create(&uo, &r, msg, sizeof(msg));
    if (rc == 0) {
        in->ring = sp_udp_receiver_ring(r);
        in->sealed = sp_ring_tail(in->ring);
        pthread_mutex_lock(&in->mu);
        in->udp = r;
        in->bound_port = sp_udp_receiver_port(r);
        pthread_mutex_unlock(&in->mu);
        rc = sp_udp_receiver_start(r, msg, sizeof(msg));
        if (rc != 0) { /* let the port go now, not at destroy */
            pthread_mutex_lock(&in->mu);
            in->udp = NULL;
            in->ring = NULL;
            pthread_mutex_unlock(&in->mu);
            sp_udp_receiver_destroy(r);
        }
    }
    if (rc != 0)
        return sp_error_set(err, rc == -ENOMEM ? ENOMEM : EIO, "udp_stream %s:%u cannot start: %s",
                            in->host, in->port, msg[0] ? msg : strerror(-rc));
    return SPATE_OK;
}

static spate_status start_files(struct sp_input *in, struct spate_error *err) {
    struct sp_file_receiver_opts fo = {in->dir,
                                       in->fopts.include_existing,
                                       in->fopts.ring_bytes,
                                       in->fopts.max_line_bytes,
                                       in->fopts.max_records_per_second,
                                       in->fopts.record_bytes};
    char msg[SPATE_ERROR_MESSAGE_SIZE];
    msg[0] = '\0';
    struct sp_file_receiver *r = NULL;
    int rc = sp_file_receiver_create(&fo, &r, msg, sizeof(msg));
    if (rc == 0) {
        in->ring = sp_file_receiver_ring(r);
        in->sealed = sp_ring_tail(in->ring);
        pthread_mutex_lock(&in->mu);
        in->files = r;
        pthread_mutex_unlock(&in->mu);
        rc = sp_file_receiver_start(r, msg, sizeof(msg));
    }
    if (rc != 0)
        return sp_error_set(err, rc == -ENOMEM ? ENOMEM : EIO,
                            "text_file_stream %s cannot start: %s", in->dir,
                            msg[0] ? msg : strerror(-rc));
    return SPATE_OK;
}

spate_status sp_input_start(struct sp_input *in, const char *ctx_name, struct spate_error *err) {
    if (in->kind == SP_INPUT_GENERATOR)
        return start_generator(in, err);
    if (in->kind == SP_INPUT_FILES)
        return start_files(in, err);
    if (in->kind == SP_INPUT_LISTEN)
        return start_listen(in, err);
    if (in->kind == SP_INPUT_UDP)
        return start_udp(in, err);
    if (in->receiver) {
        struct spate_error e;
        e.message[0] = '\0';
        spate_status rc = in->rops.start(in->rops.user, &in->handle, &e);
        if (rc != SPATE_OK)
            return sp_error_set(err, rc, "receiver_stream cannot start: %s",
                                e.message[0] ? e.message : strerror(rc));
        in->rstarted = true;
        return SPATE_OK;
    }
    if (in->kind != SP_INPUT_SOCKET)
        return SPATE_OK;
    struct sp_socket_receiver_opts ro;
    memset(&ro, 0, sizeof(ro));
    ro.host = in->host;
    ro.port = in->port;
    ro.max_line = in->sopts.max_line_bytes;
    ro.ring_bytes = in->sopts.ring_bytes;
    ro.buf_size = in->sopts.recv_buffer_bytes;
    uint32_t count = recv_buffer_count(in);
    ro.buf_count = count;
    ro.reconnect_min_ms = in->sopts.reconnect_min_ms;
    ro.reconnect_max_ms = in->sopts.reconnect_max_ms;
    ro.quiet = in->sopts.quiet;
    ro.max_records_per_second = in->sopts.max_records_per_second;
    ro.record_bytes = in->sopts.record_bytes;
    ro.name = ctx_name;
    char msg[SPATE_ERROR_MESSAGE_SIZE];
    msg[0] = '\0';
    struct sp_socket_receiver *rx = NULL;
    int rc = sp_socket_receiver_create(&ro, &rx, msg, sizeof(msg));
    if (rc == 0) {
        /* The first cut starts where the ring starts: read before the thread
         * runs, or lines received at once would fall before the first cut. */
        in->sealed = sp_ring_tail(sp_socket_receiver_ring(rx));
        rc = sp_socket_receiver_start(rx, msg, sizeof(msg));
        if (rc != 0) {
            sp_socket_receiver_destroy(rx);
            rx = NULL;
        }
    }
    if (rc != 0)
        return sp_error_set(err, rc == -ENOMEM ? ENOMEM : EIO,
                            "socket_text_stream %s:%u cannot start: %s", in->host, in->port,
                            msg[0] ? msg : strerror(-rc));
    pthread_mutex_lock(&in->mu);
    in->rx = rx;
    pthread_mutex_unlock(&in->mu);
    in->ring = sp_socket_receiver_ring(rx);
    return SPATE_OK;
}

void sp_input_stop(struct sp_input *in) {
    if (in->receiver)
        receiver_stop(in);
    if (in->kind == SP_INPUT_SOCKET && in->rx != NULL)
        sp_socket_receiver_stop(in->rx);
    if (in->kind == SP_INPUT_GENERATOR && in->gen != NULL)
        sp_gen_receiver_stop(in->gen);
    if (in->kind == SP_INPUT_FILES && in->files != NULL)
        sp_file_receiver_stop(in->files);
    if (in->kind == SP_INPUT_LISTEN && in->lsn != NULL)
        sp_listen_receiver_stop(in->lsn);
    if (in->kind == SP_INPUT_UDP && in->udp != NULL)
        sp_udp_receiver_stop(in->udp);
}

static void keep_rx_stats(struct sp_input *in) {
    const struct sp_socket_receiver_stats *st = sp_socket_receiver_stats(in->rx);
    in->rx_malformed = atomic_load_explicit(&st->malformed, memory_order_relaxed);
    in->rx_connects = atomic_load_explicit(&st->connects, memory_order_relaxed);
    in->rx_blocked_ns = atomic_load_explicit(&st->blocked_ns, memory_order_relaxed);
    in->rx_bytes = atomic_load_explicit(&st->bytes, memory_order_relaxed);
}

void sp_input_destroy(struct sp_input *in) {
    if (in == NULL)
        return;
    if (in->receiver)
        receiver_stop(in);
    if (in->gen != NULL) {
        const struct sp_gen_receiver_stats *gs = sp_gen_receiver_stats(in->gen);
        pthread_mutex_lock(&in->mu);
        in->gen_words = atomic_load(&gs->words);
        in->rx_bytes = atomic_load(&gs->bytes);
        in->rx_blocked_ns = atomic_load(&gs->blocked_ns);
        struct sp_gen_receiver *g = in->gen;
        in->gen = NULL;
        in->ring = NULL;
        pthread_mutex_unlock(&in->mu);
        sp_gen_receiver_destroy(g);
    }
    if (in->udp != NULL) {
        const struct sp_udp_receiver_stats *us = sp_udp_receiver_stats(in->udp);
        pthread_mutex_lock(&in->mu);
        in->datagrams = atomic_load(&us->datagrams);
        in->rx_bytes = atomic_load(&us->bytes);
        in->rx_malformed = atomic_load(&us->malformed);
        in->rx_blocked_ns = atomic_load(&us->blocked_ns);
        struct sp_udp_receiver *u = in->udp;
        in->udp = NULL;
        in->ring = NULL;
        pthread_mutex_unlock(&in->mu);
        sp_udp_receiver_destroy(u);
    }
    if (in->lsn != NULL) {
        const struct sp_listen_receiver_stats *ls = sp_listen_receiver_stats(in->lsn);
        pthread_mutex_lock(&in->mu);
        in->accepted = atomic_load(&ls->accepted);
        in->rx_bytes = atomic_load(&ls->bytes);
        in->rx_malformed = atomic_load(&ls->malformed);
        in->rx_blocked_ns = atomic_load(&ls->blocked_ns);
        struct sp_listen_receiver *l = in->lsn;
        in->lsn = NULL;
        in->ring = NULL;
        pthread_mutex_unlock(&in->mu);
        sp_listen_receiver_destroy(l);
    }
    if (in->files != NULL) {
        const struct sp_file_receiver_stats *fs = sp_file_receiver_stats(in->files);
        pthread_mutex_lock(&in->mu);
        in->files_read = atomic_load(&fs->files);
        in->rx_bytes = atomic_load(&fs->bytes);
        in->rx_malformed = atomic_load(&fs->malformed);
        in->rx_blocked_ns = atomic_load(&fs->blocked_ns);
        struct sp_file_receiver *f = in->files;
        in->files = NULL;
        in->ring = NULL;
        pthread_mutex_unlock(&in->mu);
        sp_file_receiver_destroy(f);
    }
    if (in->rx != NULL) {
        pthread_mutex_lock(&in->mu);
        keep_rx_stats(in);
        struct sp_socket_receiver *rx = in->rx;
        in->rx = NULL;
        in->ring = NULL;
        pthread_mutex_unlock(&in->mu);
        sp_socket_receiver_destroy(rx);
    }
    pthread_mutex_lock(&in->mu);
    struct sp_queue_item *it = in->qhead;
    in->qhead = in->qtail = NULL;
    in->closed = true;
    pthread_mutex_unlock(&in->mu);
    while (it != NULL) {
        struct sp_queue_item *next = it->next;
        sp_queue_item_free(it);
        it = next;
    }
    sp_queue_item_free(in->constant);
    in->constant = NULL;
    sp_tgen_destroy(in->tgen); /* stopped with the receiver above */
    in->tgen = NULL;
}

void sp_input_seal(struct sp_input *in, struct sp_cut *cut) {
    memset(cut, 0, sizeof(*cut));
    if (in->constant != NULL) { /* the same rows every batch; never freed by a batch */
        cut->item = in->constant;
        return;
    }
    if (in->kind != SP_INPUT_QUEUE) { /* a ring input: socket or generator */
        cut->start = in->sealed;
        cut->end = in->ring != NULL ? sp_ring_tail(in->ring) : in->sealed;
        in->sealed = cut->end;
        if (in->ring != NULL && cut->end != cut->start)
            sp_ring_arrivals(in->ring, cut->start, cut->end, cut->arrivals, &cut->narrivals,
                             SP_CUT_ARRIVALS);
        return;
    }
    pthread_mutex_lock(&in->mu);
    cut->item = in->qhead;
    if (in->receiver) { /* everything stored since the last cut */
        in->qhead = in->qtail = NULL;
    } else if (in->qhead != NULL) {
        in->qhead = in->qhead->next;
        if (in->qhead == NULL)
            in->qtail = NULL;
        cut->item->next = NULL;
    }
    pthread_mutex_unlock(&in->mu);
    for (const struct sp_queue_item *it = cut->item; it != NULL; it = it->next)
        sp_arrivals_add(cut->arrivals, &cut->narrivals, SP_CUT_ARRIVALS, it->arrival_ns, it->rows);
}

bool sp_input_pending(struct sp_input *in) {
    if (in->kind != SP_INPUT_QUEUE)
        return in->ring != NULL && sp_ring_tail(in->ring) != in->sealed;
    pthread_mutex_lock(&in->mu);
    bool pending = in->qhead != NULL;
    pthread_mutex_unlock(&in->mu);
    return pending;
}

void sp_input_release(struct sp_input *in, struct sp_cut *cut) {
    if (in->kind != SP_INPUT_QUEUE) {
        if (in->ring != NULL && cut->end != cut->start)
            sp_ring_release(in->ring, cut->end);
        return;
    }
    if (in->tgen != NULL) { /* the typed generator's bound counts what is not yet released */
        uint64_t bytes = 0;
        for (const struct sp_queue_item *it = cut->item; it != NULL; it = it->next)
            bytes += it->bytes;
        sp_tgen_release(in->tgen, bytes);
    }
    if (cut->item != in->constant)
        sp_queue_item_free_list(cut->item);
    cut->item = NULL;
}

struct sp_ring *sp_input_ring(struct sp_input *in) {
    return in->ring;
}

uint32_t sp_input_record_bytes(const struct sp_input *in) {
    switch (in->kind) {
    case SP_INPUT_SOCKET:
    case SP_INPUT_LISTEN:
    case SP_INPUT_UDP:
        return in->sopts.record_bytes;
    case SP_INPUT_FILES:
        return in->fopts.record_bytes;
    default:
        return 0;
    }
}
