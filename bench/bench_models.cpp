// Whole int8 models from ../shared/models run by qtl's TFLite executor
// (qtl::tflite::executor, every operator prepared once, invoke() timed), one
// thread.  bench/litert_latency.mjs times the same models in LiteRT and
// writes entries of the same shape, so one results file holds both:
//
//   mobilenet_v2/qtl     mobilenet_v2_quantized_1x3x224x224.tflite
//   person_detect/qtl    person_detect.tflite, read with
//                        read_options::repair_quantized_dimension (as
//                        published, TFLite and qtl refuse it)
//
// Each repetition is one benchmark iteration that runs the model `runs`
// times after one untimed warm-up run (at least 5 runs and 1 s, at most 50
// runs) on random int8 inputs.  The benchmark's time (manual time) is the
// median wall-clock latency of those runs; counters:
//   latency_ms  median wall-clock latency (what a user waits)
//   cpu_ms      median CPU time of this thread per run (robust to a busy machine)
//   min_ms      fastest run
//   runs        runs in the repetition
//   macs        multiply-accumulates of the model's CONV_2D, DEPTHWISE_CONV_2D
//               and FULLY_CONNECTED operators (from the tensor shapes)
//   GOPS        2 * macs / latency: the model's rate against the instruction peaks
// The benchmark's own cpu_time is the CPU time of all runs together.
//
// Where the time goes: after the timed runs, every operator is run alone
// (executor::invoke_operator, in model order so each finds its inputs), 10
// times, and its fastest run counts.  Per operator type T (CONV_2D, ADD, ...):
//   op_T_ms     the sum of those times over the operators of type T
//   op_T_count  how many operators of type T the model has (folded PADs
//               included: they run as nothing)
//   operators_ms  the sum over all operators
// A lower bound of each type's share: alone and repeated, an operator finds
// its weights and inputs in cache, which inside invoke() it may not.
//
// The models folder is $QTL_SHARED_DIR/models when that is set, else the
// ../shared beside the source tree (QTL_BENCH_SHARED_DIR, set by CMake).

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bench_common.hpp"
#include "qtl/io/tflite/executor.hpp"
#include "qtl/io/tflite/reader.hpp"

#ifndef QTL_BENCH_SHARED_DIR
#define QTL_BENCH_SHARED_DIR "../shared"
#endif

namespace {

struct model_case {
    const char* name;
    const char* file;  // under <shared>/models
    bool repair;       // read_options::repair_quantized_dimension
};

constexpr model_case model_cases[] = {
    {"mobilenet_v2", "mobilenet_v2_quantized_1x3x224x224.tflite", false},
    {"person_detect", "person_detect.tflite", true},
};

std::filesystem::path shared_dir() {
    if (const char* env = std::getenv("QTL_SHARED_DIR"); env && *env) return env;
    return QTL_BENCH_SHARED_DIR;
}

double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

// The fastest of `runs` runs of operator i alone.
double fastest_operator_seconds(qtl::tflite::executor& run, std::size_t i, int runs) {
    double best = 0.0;
    for (int r = 0; r < runs; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        run.invoke_operator(i);
        const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (r == 0 || t < best) best = t;
    }
    return best;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t m = v.size() / 2;
    return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

// The multiply-accumulates of the operators that have them (the rest move
// or add values): an output element of CONV_2D takes KH*KW*I, of
// DEPTHWISE_CONV_2D KH*KW, of FULLY_CONNECTED K (the filter's last dimension).
double model_macs(const qtl::tflite::model& m) {
    using qtl::tflite::builtin_operator;
    const qtl::tflite::subgraph& g = m.main();
    double macs = 0.0;
    for (const qtl::tflite::op& o : g.operators) {
        if (o.inputs.size() < 2 || o.outputs.empty() || o.inputs[1] < 0) continue;
        const qtl::shape& filter = g.tensors[std::size_t(o.inputs[1])].shape;
        const double outputs = double(qtl::num_elements(g.tensors[std::size_t(o.outputs[0])].shape));
        if (filter.empty()) continue;
        switch (o.builtin_code) {
            case builtin_operator::CONV_2D:
                macs += outputs * double(qtl::num_elements(filter)) / double(filter[0]);
                break;
            case builtin_operator::DEPTHWISE_CONV_2D:
                if (filter.size() == 4) macs += outputs * double(filter[1]) * double(filter[2]);
                break;
            case builtin_operator::FULLY_CONNECTED: macs += outputs * double(filter.back()); break;
            default: break;
        }
    }
    return macs;
}

void model_qtl(benchmark::State& state, model_case mc) {
    std::unique_ptr<qtl::tflite::executor> run;
    double macs = 0.0;
    std::vector<std::string> operator_types;
    std::vector<std::vector<std::int8_t>> inputs;
    try {
        qtl::tflite::read_options options;
        options.repair_quantized_dimension = mc.repair;
        qtl::tflite::model model = qtl::tflite::read_model(shared_dir() / "models" / mc.file, options);
        macs = model_macs(model);
        for (const qtl::tflite::op& o : model.main().operators)
            operator_types.push_back(qtl::tflite::describe(o.builtin_code));
        run = std::make_unique<qtl::tflite::executor>(std::move(model));
        for (std::size_t i = 0; i < run->input_count(); ++i) {
            // Both models take int8 inputs; set_input throws for another type.
            const std::size_t count = qtl::num_elements(run->input_tensor(i).shape);
            inputs.push_back(qtl_bench::random_values<std::int8_t>(count, 2024 + std::uint32_t(i), -128, 127));
            run->set_input<std::int8_t>(i, inputs.back());
        }
        run->invoke();  // warm-up: first touch of every buffer
    } catch (const std::exception& e) {
        state.SkipWithError(e.what());
        return;
    }

    std::vector<double> wall, cpu;
    for (auto _ : state) {
        wall.clear();
        cpu.clear();
        double total = 0.0;
        while (wall.size() < 5 || (total < 1.0 && wall.size() < 50)) {
            const double c0 = thread_cpu_seconds();
            const auto t0 = std::chrono::steady_clock::now();
            run->invoke();
            const double w = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            cpu.push_back(thread_cpu_seconds() - c0);
            wall.push_back(w);
            total += w;
        }
        state.SetIterationTime(median(wall));
    }

    // Operator by operator, in model order (an operator's inputs must hold
    // their values; the arena reuses an intermediate's bytes once it is read).
    std::map<std::string, std::pair<double, int>> by_type;  // seconds, operators
    double operators = 0.0;
    try {
        for (std::size_t i = 0; i < run->input_count(); ++i) run->set_input<std::int8_t>(i, inputs[i]);
        for (std::size_t i = 0; i < run->operator_count(); ++i) {
            const double t = fastest_operator_seconds(*run, i, 10);
            auto& [seconds, count] = by_type[operator_types.at(i)];
            seconds += t;
            ++count;
            operators += t;
        }
    } catch (const std::exception& e) {
        state.SkipWithError(e.what());
        return;
    }

    state.counters["latency_ms"] = median(wall) * 1e3;
    state.counters["cpu_ms"] = median(cpu) * 1e3;
    state.counters["min_ms"] = *std::min_element(wall.begin(), wall.end()) * 1e3;
    state.counters["runs"] = double(wall.size());
    state.counters["macs"] = macs;
    state.counters["GOPS"] = 2.0 * macs / median(wall) * 1e-9;
    state.counters["operators_ms"] = operators * 1e3;
    for (const auto& [type, entry] : by_type) {
        state.counters["op_" + type + "_ms"] = entry.first * 1e3;
        state.counters["op_" + type + "_count"] = entry.second;
    }
}

// Google Benchmark appends "/iterations:1/manual_time" to these names; the
// results must say `mobilenet_v2/qtl` like every <layer>/<backend>, so the
// reporters drop those two parts of the name.
template <class Reporter>
struct plain_names : Reporter {
    using Reporter::Reporter;
    void ReportRuns(const std::vector<benchmark::BenchmarkReporter::Run>& runs) override {
        auto renamed = runs;
        for (auto& r : renamed) {
            r.run_name.iterations.clear();
            r.run_name.time_type.clear();
        }
        Reporter::ReportRuns(renamed);
    }
};

bool has_flag(int argc, char** argv, const std::string& prefix) {
    for (int i = 1; i < argc; ++i)
        if (std::string(argv[i]).rfind(prefix, 0) == 0) return true;
    return false;
}

}  // namespace

int main(int argc, char** argv) {
    // Read before Initialize() consumes the flags: a file reporter may only be
    // given with --benchmark_out, and ours writes JSON (the default format).
    const bool json_file = has_flag(argc, argv, "--benchmark_out=") &&
                           (!has_flag(argc, argv, "--benchmark_out_format=") ||
                            has_flag(argc, argv, "--benchmark_out_format=json"));
    for (const model_case& mc : model_cases)
        benchmark::RegisterBenchmark((std::string(mc.name) + "/qtl").c_str(), model_qtl, mc)
            ->Unit(benchmark::kMillisecond)
            ->Iterations(1)
            ->UseManualTime();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::AddCustomContext("qtl_shared_dir", shared_dir().string());
    plain_names<benchmark::ConsoleReporter> display(benchmark::ConsoleReporter::OO_Tabular);
    plain_names<benchmark::JSONReporter> file;
    benchmark::RunSpecifiedBenchmarks(&display, json_file ? &file : nullptr);
    benchmark::Shutdown();
    return 0;
}
