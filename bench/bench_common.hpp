#pragma once
// Shared by qtl's benchmark binaries: reproducible random int8 data, the GOPS
// counter, the requantization scales every backend gets, the one-thread setup
// of the optional anchors (oneDNN, XNNPACK), and the check that an anchor
// computes the same layer as qtl (its output next to qtl's reference op).

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <span>
#include <string>
#include <vector>

#if QTL_BENCH_ONEDNN
#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>
#endif
#if QTL_BENCH_XNNPACK
#include <xnnpack.h>
#endif

namespace qtl_bench {

// Values uniform in [lo, hi], the same for a given seed on every run.
template <class T>
std::vector<T> random_values(std::size_t count, std::uint32_t seed, int lo, int hi) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> value(lo, hi);
    std::vector<T> out(count);
    for (auto& v : out) v = static_cast<T>(value(rng));
    return out;
}

// Per-channel weight scales: `base` times a factor in [0.5, 1.5].
inline std::vector<float> random_scales(std::size_t count, std::uint32_t seed, float base) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> spread(0.5f, 1.5f);
    std::vector<float> out(count);
    for (auto& s : out) s = base * spread(rng);
    return out;
}

// An output scale that spreads the outputs over int8: the accumulator of
// `taps` products of uniform int8 activations (|x| ~ 74 on average) and
// weights (~ 73) has a spread of about sqrt(taps) * 74 * 73 steps; 40 output
// steps per standard deviation keeps most values off the clamps.
inline float spread_output_scale(float input_scale, float weight_scale, std::size_t taps) {
    return input_scale * weight_scale * std::sqrt(float(taps)) * 74.0f * 73.0f / 40.0f;
}

// Integer operations per second: one multiply-accumulate counts as two.
inline void set_gops(benchmark::State& state, double macs) {
    state.counters["GOPS"] = benchmark::Counter(2.0 * macs * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// Largest |a[i] - b[i]| in output steps: 0 for a bit-exact anchor, 1 for an
// anchor that requantizes in float (rounding ties differ).  Reported as the
// `max_diff` counter so a misconfigured anchor is visible in the results.
inline int max_abs_diff(std::span<const std::int8_t> a, std::span<const std::int8_t> b) {
    if (a.size() != b.size()) return 256;
    int worst = 0;
    for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(int(a[i]) - int(b[i])));
    return worst;
}

inline void set_max_diff(benchmark::State& state, int diff) {
    state.counters["max_diff"] = benchmark::Counter(double(diff));
}

// u8 activations for oneDNN's fast int8 path: the same values shifted by 128
// (so the zero point shifts by 128 too).
inline std::vector<std::uint8_t> shifted_to_u8(std::span<const std::int8_t> values) {
    std::vector<std::uint8_t> out(values.size());
    for (std::size_t i = 0; i < values.size(); ++i) out[i] = static_cast<std::uint8_t>(values[i] + 128);
    return out;
}

// One thread for every anchor, set up once before the benchmarks run.
inline void init_backends(const char* program) {
#if QTL_BENCH_ONEDNN
    omp_set_num_threads(1);
#endif
#if QTL_BENCH_XNNPACK
    if (xnn_initialize(nullptr) != xnn_status_success) std::fprintf(stderr, "%s: xnn_initialize failed\n", program);
#endif
    (void)program;
}

inline void shutdown_backends() {
#if QTL_BENCH_XNNPACK
    xnn_deinitialize();
#endif
}

// Registers `fn(state, args...)` as <layer>/<backend>, timed in microseconds.
template <class Fn, class... Args>
benchmark::internal::Benchmark* add(const std::string& layer, const char* backend, Fn fn, Args... args) {
    return benchmark::RegisterBenchmark((layer + "/" + backend).c_str(), fn, args...)->Unit(benchmark::kMicrosecond);
}

}  // namespace qtl_bench
