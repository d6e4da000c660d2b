/*
 * examples/stream_join.c - joining two streams per batch (Spark's
 * stream-stream join) and with a window: clicks joined to the impressions
 * of the last 3 seconds, a left outer join so that every click shows, with
 * a null impression when none matched. The data comes from two queue
 * streams the program fills, on the manual clock, so the output is the
 * same at every run:
 *
 *   impressions(ad, cost) --window 3 s--+
 *                                       +--> left outer join on ad --> print
 *   clicks(ad, user) -------------------+
 *                                       +--> join on ad --> print
 *   advertisers(ad, name), static ------+
 *
 * The second join is a stream-static join (Spark's transform(rdd =>
 * rdd.join(table))): the advertisers table is a constant stream, hashed once
 * at start and probed inside the clicks' pipeline.
 */
#include "spate/spate.h"

#include <stdio.h>
#include <string.h>

/* A string view of s (which must outlive its use): inline up to 12 bytes, else a pointer. */
static struct spate_string view(const char *s) {
    struct spate_string v;
    memset(&v, 0, sizeof(v));
    v.len = (uint32_t)strlen(s);
    memcpy(v.prefix, s, v.len < 4 ? v.len : 4);
    if (v.len > SPATE_STRING_INLINE)
        v.u.ptr = s;
    else if (v.len > 4)
        memcpy(v.u.inlined, s + 4, v.len - 4);
    return v;
}

static int fail(const char *what, const struct spate_error *err) {
    fprintf(stderr, "stream_join: %s: %s\n", what, err->message);
    return 1;
}

int main(void) {
    struct spate_error err;
    struct spate_engine_opts eo;
    spate_engine_opts_init(&eo);
    eo.workers = 2;
    spate_engine *engine;
    if (spate_engine_create(&eo, &engine, &err) != SPATE_OK)
        return fail("engine", &err);
    struct spate_context_opts co;
    spate_context_opts_init(&co);
    co.manual_clock = true; /* the program moves time: deterministic output */
    spate_context *ssc;
    if (spate_context_create(engine, &co, &ssc, &err) != SPATE_OK)
        return fail("context", &err);

    struct spate_column_def imp_cols[] = {{"ad", SPATE_TYPE_I64}, {"cost", SPATE_TYPE_I64}};
    struct spate_column_def click_cols[] = {{"ad", SPATE_TYPE_I64}, {"user", SPATE_TYPE_I64}};
    spate_dstream *impressions = spate_context_queue_stream(ssc, imp_cols, 2, &err);
    spate_dstream *clicks = spate_context_queue_stream(ssc, click_cols, 2, &err);
    if (impressions == NULL || clicks == NULL)
        return fail("inputs", &err);
    /* The impressions of the last 3 s: the sum of their cost per ad. */
    struct spate_reduce_opts ro;
    spate_reduce_opts_init(&ro);
    struct spate_window_opts wo;
    spate_window_opts_init(&wo);
    wo.length_ms = 3000;
    spate_dstream *recent = spate_dstream_reduce_by_key_and_window(impressions, &ro, &wo, &err);
    struct spate_join_opts jo;
    spate_join_opts_init(&jo);
    jo.kind = SPATE_JOIN_LEFT;
    spate_dstream *joined = recent ? spate_dstream_join(clicks, recent, &jo, &err) : NULL;
    if (joined == NULL || spate_dstream_print(joined, 10, &err) != SPATE_OK)
        return fail("define", &err);
    /* The static table: which advertiser owns each ad. */
    int64_t table_ad[] = {1, 2, 3};
    struct spate_string names[3] = {view("acme"), view("globe"), view("initech industries")};
    struct spate_column_def adv_cols[] = {{"ad", SPATE_TYPE_I64},
                                          {"advertiser", SPATE_TYPE_STRING}};
    struct spate_column_data adv[] = {{table_ad, NULL}, {names, NULL}};
    spate_dstream *advertisers = spate_context_constant_stream(ssc, adv_cols, 2, adv, 3, &err);
    spate_join_opts_init(&jo); /* inner */
    spate_dstream *owned = advertisers ? spate_dstream_join(clicks, advertisers, &jo, &err) : NULL;
    if (owned == NULL || spate_dstream_print(owned, 10, &err) != SPATE_OK)
        return fail("define the static join", &err);

    /* Batch 1: impressions of ads 1 and 2; batch 2: clicks on 1 and 3; batch 5: a click on 2. */
    int64_t imp_ad[] = {1, 2, 1}, imp_cost[] = {10, 20, 5};
    int64_t click_ad[] = {1, 3}, click_user[] = {100, 101};
    int64_t late_ad[] = {2}, late_user[] = {102};
    struct spate_column_data imp[] = {{imp_ad, NULL}, {imp_cost, NULL}};
    struct spate_column_data c2[] = {{click_ad, NULL}, {click_user, NULL}};
    struct spate_column_data c5[] = {{late_ad, NULL}, {late_user, NULL}};
    struct spate_column_data none[] = {{NULL, NULL}, {NULL, NULL}};
    if (spate_queue_push(impressions, imp, 3, &err) != SPATE_OK ||
        spate_queue_push(clicks, none, 0, &err) != SPATE_OK || /* batch 1 */
        spate_queue_push(clicks, c2, 2, &err) != SPATE_OK ||   /* batch 2 */
        spate_queue_push(clicks, none, 0, &err) != SPATE_OK || /* batch 3 */
        spate_queue_push(clicks, none, 0, &err) != SPATE_OK || /* batch 4 */
        spate_queue_push(clicks, c5, 1, &err) != SPATE_OK)     /* batch 5: too late */
        return fail("push", &err);

    if (spate_context_start(ssc, &err) != SPATE_OK ||
        spate_context_advance(ssc, 5, &err) != SPATE_OK)
        return fail("run", &err);
    bool stopped;
    if (spate_context_await_termination_timeout(ssc, 0, &stopped, &err) != SPATE_OK)
        return fail("a batch", &err);
    spate_status rc = spate_context_stop(ssc, true, false, &err);
    spate_context_destroy(ssc);
    return rc == SPATE_OK ? 0 : fail("stop", &err);
}
