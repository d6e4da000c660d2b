/*
 * engine/latency.h - a log-linear histogram of record latencies.
 *
 * Values (microseconds) below 32 have a bucket each; above, every power of
 * two is cut into 32 buckets, so a bucket's width is at most 1/32 of its
 * lower bound. Counts are weighted (many records of one arrival range share
 * a value). Not thread safe: the context guards it with its mutex.
 */
#ifndef SP_LATENCY_H
#define SP_LATENCY_H

#include <stdint.h>

#define SP_LAT_SUB_BITS 5
#define SP_LAT_SUB (1u << SP_LAT_SUB_BITS)
#define SP_LAT_BUCKETS (SP_LAT_SUB + (64u - SP_LAT_SUB_BITS) * SP_LAT_SUB)

struct sp_latency {
    uint64_t records; /* sum of counts */
    uint64_t max_us;  /* exact */
    uint64_t count[SP_LAT_BUCKETS];
};

void sp_latency_reset(struct sp_latency *h);
void sp_latency_add(struct sp_latency *h, uint64_t us, uint64_t records);
/* The smallest bucket upper bound (capped at max) with at least q of the records at or
 * below it; 0 when empty. q in [0, 1]. */
uint64_t sp_latency_quantile(const struct sp_latency *h, double q);

/* Bucket index of v and the largest value of bucket i (exposed for tests). */
uint32_t sp_latency_bucket(uint64_t v);
uint64_t sp_latency_bucket_max(uint32_t i);

#endif /* SP_LATENCY_H */
