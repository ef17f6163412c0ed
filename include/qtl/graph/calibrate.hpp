#pragma once
// calibrate(): runs a float graph over a representative dataset and records,
// for every float activation (graph inputs included), the range conversion
// will quantize it with.  The C++ counterpart of TensorFlow's
// `representative_dataset`.
//
//   std::vector<std::vector<float>> samples = ...;          // one flat sample each
//   qtl::calibration cal = qtl::calibrate(g, samples);      // min/max, all cores
//   qtl::calibration kl  = qtl::calibrate(g, samples, {.selection = qtl::range_selection::entropy()});
//
// A dataset is anything iterable.  Each element is one sample: either a
// contiguous float range (single-input graphs) or a range of them, one per
// graph input.  Samples are streamed: at most `chunk` of them are held at a
// time, spread over the worker threads, each with its own executor and
// observers; observers merge exactly (min/max, histograms), so the result
// does not depend on the thread count.  The moving-average observer is
// order dependent and always runs on one thread.

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <ranges>
#include <span>
#include <string>
#include <thread>
#include <type_traits>
#include <variant>
#include <vector>

#include <unistd.h>

#include "qtl/core/error.hpp"
#include "qtl/graph/float_executor.hpp"
#include "qtl/graph/calibration.hpp"
#include "qtl/graph/graph.hpp"
#include "qtl/quant/observers/histogram_observer.hpp"
#include "qtl/quant/observers/minmax.hpp"
#include "qtl/quant/observers/moving_average.hpp"
#include "qtl/quant/value_range.hpp"

namespace qtl {

enum class progress_bar { automatic, always, never };

struct calibration_options {
    // How a tensor's range is chosen from what it took: minmax (TFLite's
    // converter), percentile, entropy (KL) or mse over a histogram.
    range_selection selection = range_selection::minmax();
    bool moving_average = false;      // moving-average min/max instead (PyTorch's observer)
    float averaging_constant = 0.01f;
    std::size_t histogram_bins = 2048;
    unsigned threads = 0;             // 0: every core
    std::size_t chunk = 256;          // samples held in memory at a time
    progress_bar progress = progress_bar::automatic;  // automatic: only when stderr is a terminal
};

namespace detail {

inline std::string describe_selection(const calibration_options& o) {
    if (o.moving_average) return concat("moving-average minmax (c=", o.averaging_constant, ")");
    switch (o.selection.how) {
        case range_selection::method::minmax: return "minmax";
        case range_selection::method::percentile:
            return concat("percentile [", o.selection.lower_percent, ", ", o.selection.upper_percent, "]");
        case range_selection::method::entropy: return "entropy (KL)";
        case range_selection::method::mse: return "mse";
    }
    return "?";
}

// One tensor's observer, of the kind the options ask for.
class tensor_observer {
public:
    tensor_observer(const calibration_options& o, const std::string& name) {
        if (o.moving_average)
            impl_ = moving_average_minmax_observer(o.averaging_constant, name);
        else if (o.selection.how == range_selection::method::minmax)
            impl_ = minmax_observer(name);
        else
            impl_ = histogram_observer(o.selection, o.histogram_bins, name);
    }
    void observe(std::span<const float> v) {
        std::visit([&](auto& obs) { obs.observe(v); }, impl_);
        for (float x : v) seen_.include(x);  // finite: the observer threw otherwise
    }
    void merge(const tensor_observer& other) {
        std::visit(
            [&](auto& obs) { obs.merge(std::get<std::decay_t<decltype(obs)>>(other.impl_)); }, impl_);
        seen_.include(other.seen_);
    }
    value_range range() const {
        return std::visit([](const auto& obs) { return obs.range(); }, impl_);
    }
    const value_range& seen() const { return seen_; }

private:
    std::variant<minmax_observer, moving_average_minmax_observer, histogram_observer> impl_;
    value_range seen_;
};

// The tensors calibration watches: float graph inputs and node outputs.
inline std::vector<std::int32_t> calibrated_tensors(const graph& g) {
    std::vector<std::int32_t> out;
    for (auto i : g.inputs) out.push_back(i);
    for (const auto& n : g.nodes)
        for (auto o : n.outputs)
            if (g.tensor(o).type == tflite::tensor_type::FLOAT32 || g.is_output(o)) out.push_back(o);
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

// A sample's inputs as one flat float vector per graph input.
template <class Sample>
std::vector<std::vector<float>> sample_inputs(const Sample& s, const graph& g, std::size_t index) {
    std::vector<std::vector<float>> out;
    auto take = [&](const auto& input, std::size_t k) {
        check(k < g.inputs.size(), concat("calibration sample ", index), "has more inputs than the graph's ",
              g.inputs.size());
        using E = std::remove_cvref_t<decltype(*std::ranges::begin(input))>;
        static_assert(std::is_arithmetic_v<E>, "qtl::calibrate: a sample's values must be numbers");
        std::vector<float> v;
        for (const auto& x : input) v.push_back(static_cast<float>(x));
        const auto& t = g.tensor(g.inputs[k]);
        check(v.size() == t.size(), concat("calibration sample ", index), "input ", k, " ('", t.name, "') has ",
              v.size(), " values, the graph expects ", t.size(), " (shape ", shape_text(t.shape), ")");
        for (std::size_t i = 0; i < v.size(); ++i)
            check(std::isfinite(v[i]), concat("calibration sample ", index), "input ", k, " ('", t.name,
                  "') element ", i, " is ", v[i], " (calibration data must be finite)");
        out.push_back(std::move(v));
    };
    using First = std::remove_cvref_t<decltype(*std::ranges::begin(s))>;
    if constexpr (std::is_arithmetic_v<First>) {
        take(s, 0);
    } else {
        std::size_t k = 0;
        for (const auto& input : s) take(input, k++);
    }
    check(out.size() == g.inputs.size(), concat("calibration sample ", index), "has ", out.size(),
          " inputs, the graph has ", g.inputs.size());
    return out;
}

class progress_printer {
public:
    progress_printer(progress_bar mode, std::optional<std::size_t> total)
        : on_(mode == progress_bar::always || (mode == progress_bar::automatic && ::isatty(2))), total_(total) {}
    void update(std::size_t done) {
        if (!on_) return;
        if (total_ && *total_ > 0) {
            const int width = 30;
            const auto filled = static_cast<int>(width * done / *total_);
            std::fprintf(stderr, "\rcalibrating [%.*s%*s] %zu/%zu", filled, "##############################",
                         width - filled, "", done, *total_);
        } else {
            std::fprintf(stderr, "\rcalibrating: %zu samples", done);
        }
        std::fflush(stderr);
    }
    void finish() {
        if (on_) std::fprintf(stderr, "\n");
    }

private:
    bool on_;
    std::optional<std::size_t> total_;
};

}  // namespace detail

template <std::ranges::input_range Dataset>
calibration calibrate(const graph& g, Dataset&& dataset, const calibration_options& options = {}) {
    const float_executor prototype(g);  // checks the graph once, before any thread starts
    const auto watched = detail::calibrated_tensors(g);
    check(options.chunk > 0, "calibrate", "chunk must be > 0");

    unsigned threads = options.threads ? options.threads : std::max(1u, std::thread::hardware_concurrency());
    if (options.moving_average) threads = 1;

    struct worker_state {
        std::optional<float_executor> exec;
        std::vector<detail::tensor_observer> observers;
        std::optional<error> failure;
    };
    std::vector<worker_state> workers(threads);
    for (auto& w : workers)
        for (auto t : watched) w.observers.emplace_back(options, g.describe_tensor(t));

    std::optional<std::size_t> total;
    if constexpr (std::ranges::sized_range<Dataset>) total = static_cast<std::size_t>(std::ranges::size(dataset));
    detail::progress_printer progress(options.progress, total);

    std::size_t seen = 0;
    std::vector<std::vector<std::vector<float>>> chunk;
    auto run_chunk = [&](std::size_t first_index) {
        auto work = [&](unsigned wi) {
            auto& w = workers[wi];
            try {
                if (!w.exec) w.exec.emplace(g);
                for (std::size_t s = wi; s < chunk.size(); s += threads) {
                    for (std::size_t k = 0; k < chunk[s].size(); ++k) w.exec->set_input(k, chunk[s][k]);
                    try {
                        w.exec->invoke();
                        for (std::size_t i = 0; i < watched.size(); ++i) w.observers[i].observe(w.exec->values(watched[i]));
                    } catch (const error& e) {
                        throw error(detail::concat("calibration sample ", first_index + s), e.what());
                    }
                }
            } catch (const error& e) {
                w.failure = e;
            }
        };
        if (threads == 1 || chunk.size() == 1) {
            work(0);
        } else {
            std::vector<std::thread> pool;
            for (unsigned wi = 0; wi < threads; ++wi) pool.emplace_back(work, wi);
            for (auto& t : pool) t.join();
        }
        for (auto& w : workers)
            if (w.failure) {
                progress.finish();
                throw *w.failure;
            }
        chunk.clear();
        progress.update(seen);
    };

    for (const auto& sample : dataset) {
        chunk.push_back(detail::sample_inputs(sample, g, seen));
        ++seen;
        if (chunk.size() == options.chunk) run_chunk(seen - options.chunk);
    }
    if (!chunk.empty()) run_chunk(seen - chunk.size());
    progress.finish();
    check(seen > 0, "calibrate", "the dataset is empty: calibration needs at least one sample");

    for (unsigned wi = 1; wi < threads; ++wi)
        for (std::size_t i = 0; i < watched.size(); ++i)
            if (workers[wi].exec) workers[0].observers[i].merge(workers[wi].observers[i]);

    calibration result;
    result.samples = seen;
    result.method = detail::describe_selection(options);
    for (std::size_t i = 0; i < watched.size(); ++i) {
        result.ranges[watched[i]] = workers[0].observers[i].range();
        result.observed[watched[i]] = workers[0].observers[i].seen();
    }
    return result;
}

// A calibration of a graph with one input, from samples given as one flat span
// (`count` samples of the input's size each): what the CLI reads from a .npy.
inline calibration calibrate_flat(const graph& g, std::span<const float> samples, const calibration_options& options = {}) {
    check(g.inputs.size() == 1, "calibrate", "a flat sample array needs a graph with one input, this one has ",
          g.inputs.size());
    const auto n = g.tensor(g.inputs[0]).size();
    check(n > 0 && samples.size() % n == 0, "calibrate", "the sample array holds ", samples.size(),
          " values, not a multiple of the input size ", n);
    std::vector<std::span<const float>> views;
    for (std::size_t i = 0; i + n <= samples.size(); i += n) views.push_back(samples.subspan(i, n));
    return calibrate(g, views, options);
}

}  // namespace qtl
