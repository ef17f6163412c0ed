// The quantization demo: calibrate int8 activations of a small float layer
// with every observer qtl has, on two threads, and compare the round-trip
// error each calibration gives on held-out data.
//
// The "model" is y = relu(W x + b) with W 64x32; its representative dataset
// is 2000 random inputs, a few of them unusually large (the outliers that
// make min/max calibration waste int8 levels).
#include <qtl/qtl.hpp>
#include <xtensor/xadapt.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <thread>
#include <vector>

namespace {

constexpr int inputs = 32, outputs = 64;

struct layer {
    std::vector<float> weights, bias;
    std::vector<float> operator()(const std::vector<float>& x) const {
        std::vector<float> y(outputs);
        for (int o = 0; o < outputs; ++o) {
            float acc = bias[o];
            for (int i = 0; i < inputs; ++i) acc += weights[o * inputs + i] * x[i];
            y[o] = std::max(acc, 0.0f);
        }
        return y;
    }
};

std::vector<std::vector<float>> dataset(std::mt19937& rng, int samples) {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::bernoulli_distribution outlier(0.005);  // one sample in 200 has one huge input
    std::vector<std::vector<float>> xs(samples, std::vector<float>(inputs));
    for (auto& x : xs) {
        for (auto& v : x) v = normal(rng);
        if (outlier(rng)) x[0] *= 25.0f;
    }
    return xs;
}

// The layer's outputs for samples [begin, end), as one calibration batch.
std::vector<float> outputs_of(const layer& f, const std::vector<std::vector<float>>& xs, std::size_t begin,
                              std::size_t end) {
    std::vector<float> y;
    for (std::size_t i = begin; i < end; ++i) {
        const auto yi = f(xs[i]);
        y.insert(y.end(), yi.begin(), yi.end());
    }
    return y;
}

// Root-mean-square error of an int8 quantize/dequantize round trip.
double round_trip_rmse(const std::vector<float>& values, const qtl::quant_params& p) {
    xt::xarray<float> x = xt::adapt(values, {values.size()});
    const xt::xarray<float> back = qtl::fake_quantize<qtl::int8_activation>(x, p);
    return std::sqrt(static_cast<double>(xt::mean(xt::square(back - x))()));
}

}  // namespace

int main() {
    std::mt19937 rng(2026);
    std::normal_distribution<float> init(0.0f, 0.2f);
    layer f{std::vector<float>(inputs * outputs), std::vector<float>(outputs)};
    for (auto& w : f.weights) w = init(rng);
    for (auto& b : f.bias) b = init(rng);

    // Weights: int8 symmetric per output channel, straight from the data.
    const qtl::tensor_view<const float> w(std::span<const float>(f.weights), {outputs, inputs});
    const auto wp = qtl::choose_params<qtl::int8_weight_per_channel<0>>(w);
    std::printf("weights: %zu per-channel scales, channel 0 scale %.6f\n", wp.scales.size(), wp.scales[0]);

    const auto calibration = dataset(rng, 2000);
    const auto held_out = dataset(rng, 500);
    const std::vector<float> held_out_outputs = outputs_of(f, held_out, 0, held_out.size());

    // Calibrate each observer on two threads (each sees half the dataset in
    // batches of 50 samples), then merge: for min/max and histograms the
    // merged statistics equal one pass over all of it.
    constexpr std::size_t batch = 50;
    const std::size_t half = calibration.size() / 2;
    auto calibrate = [&](auto make_observer) {
        auto first = make_observer(), second = make_observer();
        std::thread t([&] {
            for (std::size_t i = 0; i < half; i += batch) first.observe(outputs_of(f, calibration, i, i + batch));
        });
        for (std::size_t i = half; i < calibration.size(); i += batch)
            second.observe(outputs_of(f, calibration, i, i + batch));
        t.join();
        first.merge(second);
        return first.range();
    };
    struct row {
        const char* name;
        qtl::value_range range;
    };
    const std::vector<row> rows = {
        {"min/max", calibrate([] { return qtl::minmax_observer(); })},
        {"moving average", calibrate([] { return qtl::moving_average_minmax_observer(0.1f); })},
        {"percentile 99.99", calibrate([] { return qtl::histogram_observer(qtl::range_selection::percentile(99.99)); })},
        {"entropy (KL)", calibrate([] { return qtl::histogram_observer(qtl::range_selection::entropy()); })},
        {"MSE", calibrate([] { return qtl::histogram_observer(qtl::range_selection::mse()); })},
    };

    std::printf("\nint8 activations of relu(Wx + b), %zu calibration samples, %zu held-out values\n",
                calibration.size(), held_out_outputs.size());
    // The bulk: held-out values up to their 99th percentile, where clipping
    // ranges win; the whole set is where the rare large values cost them.
    std::vector<float> sorted = held_out_outputs;
    std::sort(sorted.begin(), sorted.end());
    const float p99 = sorted[sorted.size() * 99 / 100];
    std::vector<float> bulk;
    for (float v : held_out_outputs)
        if (v <= p99) bulk.push_back(v);
    std::printf("%-18s %9s %9s %9s %5s %11s %11s\n", "observer", "min", "max", "scale", "zp", "RMSE all", "RMSE bulk");
    for (const auto& r : rows) {
        const auto p = qtl::choose_params<qtl::int8_activation>(r.range);
        std::printf("%-18s %9.4f %9.4f %9.6f %5d %11.6f %11.6f\n", r.name, r.range.min, r.range.max, p.scales[0],
                    p.zero_points[0], round_trip_rmse(held_out_outputs, p), round_trip_rmse(bulk, p));
    }
}
