/*
 * engine/latency.c - log-linear latency histogram (see latency.h).
 */
#include "engine/latency.h"

#include <string.h>

uint32_t sp_latency_bucket(uint64_t v) {
    if (v < SP_LAT_SUB)
        return (uint32_t)v;
    uint32_t e = 63u - (uint32_t)__builtin_clzll(v); /* >= SP_LAT_SUB_BITS */
    uint32_t sub = (uint32_t)(v >> (e - SP_LAT_SUB_BITS)) & (SP_LAT_SUB - 1);
    return SP_LAT_SUB + (e - SP_LAT_SUB_BITS) * SP_LAT_SUB + sub;
}

uint64_t sp_latency_bucket_max(uint32_t i) {
    if (i < SP_LAT_SUB)
        return i;
    uint32_t e = (i - SP_LAT_SUB) / SP_LAT_SUB + SP_LAT_SUB_BITS;
    uint64_t sub = (i - SP_LAT_SUB) % SP_LAT_SUB;
    uint64_t lo = (UINT64_C(1) << e) | (sub << (e - SP_LAT_SUB_BITS));
    return lo + ((UINT64_C(1) << (e - SP_LAT_SUB_BITS)) - 1);
}

void sp_latency_reset(struct sp_latency *h) {
    memset(h, 0, sizeof(*h));
}

void sp_latency_add(struct sp_latency *h, uint64_t us, uint64_t records) {
    if (records == 0)
        return;
    h->count[sp_latency_bucket(us)] += records;
    h->records += records;
    if (us > h->max_us)
        h->max_us = us;
}

uint64_t sp_latency_quantile(const struct sp_latency *h, double q) {
    if (h->records == 0)
        return 0;
    if (q < 0)
        q = 0;
    double want = q * (double)h->records;
    uint64_t need = (uint64_t)want;
    if ((double)need < want || need == 0)
        need++; /* at least one record, rounding up */
    if (need > h->records)
        need = h->records;
    uint64_t seen = 0;
    for (uint32_t i = 0; i < SP_LAT_BUCKETS; i++) {
        seen += h->count[i];
        if (seen >= need) {
            uint64_t top = sp_latency_bucket_max(i);
            return top < h->max_us ? top : h->max_us;
        }
    }
    return h->max_us;
}
