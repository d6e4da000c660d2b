/*
 * bench/shim/shim.cc - the C interface of shim.h over Google Benchmark.
 *
 * sp_bench_state is benchmark::State itself, cast; registered C functions are
 * wrapped in lambdas. Nothing else in bench/ is C++.
 */
#include "bench/shim/shim.h"

#include <benchmark/benchmark.h>

#include <string>

namespace {

benchmark::State &state(sp_bench_state *st) {
    return *reinterpret_cast<benchmark::State *>(st);
}

const benchmark::State &state(const sp_bench_state *st) {
    return *reinterpret_cast<const benchmark::State *>(st);
}

} // namespace

extern "C" {

void sp_bench_register(const char *name, sp_bench_fn fn, const void *arg) {
    benchmark::RegisterBenchmark(name, [fn, arg](benchmark::State &st) {
        fn(reinterpret_cast<sp_bench_state *>(&st), arg);
    });
}

bool sp_bench_keep_running(sp_bench_state *st) {
    return state(st).KeepRunning();
}

int64_t sp_bench_iterations(const sp_bench_state *st) {
    return static_cast<int64_t>(state(st).iterations());
}

void sp_bench_set_bytes(sp_bench_state *st, int64_t bytes) {
    state(st).SetBytesProcessed(bytes);
}

void sp_bench_set_items(sp_bench_state *st, int64_t items) {
    state(st).SetItemsProcessed(items);
}

void sp_bench_counter(sp_bench_state *st, const char *name, double value) {
    state(st).counters[name] = benchmark::Counter(value);
}

void sp_bench_set_label(sp_bench_state *st, const char *label) {
    state(st).SetLabel(label);
}

void sp_bench_skip(sp_bench_state *st, const char *why) {
    state(st).SkipWithError(why);
}

void sp_bench_use(const void *p) {
    benchmark::DoNotOptimize(p);
    benchmark::ClobberMemory();
}

int sp_bench_main(int argc, char **argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}

} // extern "C"
