/*
 * bench/shim/shim.h - a C interface to Google Benchmark, so that benchmark
 * bodies are written in C against spate's C headers.
 *
 * A C program registers functions by name, then hands control to
 * sp_bench_main(). Each function loops on sp_bench_keep_running() (one
 * iteration per call) and reports bytes/items processed at the end. The C++
 * stays in bench/shim/shim.cc.
 */
#ifndef SP_BENCH_SHIM_H
#define SP_BENCH_SHIM_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The running benchmark (a benchmark::State underneath). */
typedef struct sp_bench_state sp_bench_state;

/* A benchmark body; arg is the pointer given at registration. */
typedef void (*sp_bench_fn)(sp_bench_state *st, const void *arg);

/* Register fn under name ("kernel/isa/size"); name is copied. */
void sp_bench_register(const char *name, sp_bench_fn fn, const void *arg);

/* True while another iteration should run (call once per iteration). */
bool sp_bench_keep_running(sp_bench_state *st);

/* Iterations run so far (after the loop: all of them). */
int64_t sp_bench_iterations(const sp_bench_state *st);

/* Totals over all iterations: reported as bytes_per_second and
 * items_per_second. */
void sp_bench_set_bytes(sp_bench_state *st, int64_t bytes);
void sp_bench_set_items(sp_bench_state *st, int64_t items);

/* A user counter reported with the benchmark (a plain value). */
void sp_bench_counter(sp_bench_state *st, const char *name, double value);

/* Free text shown after the figures. */
void sp_bench_set_label(sp_bench_state *st, const char *label);

/* Skip this benchmark with a reason (e.g. ISA not supported); return right
 * after, without entering the loop. */
void sp_bench_skip(sp_bench_state *st, const char *why);

/* Keep the compiler from dropping the computation of *p. */
void sp_bench_use(const void *p);

/* Parse benchmark flags, run what was registered; returns the exit code. */
int sp_bench_main(int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif /* SP_BENCH_SHIM_H */
