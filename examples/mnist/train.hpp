#pragma once
// Training the demo's float network in plain C++: dense 784 -> 128 (ReLU) ->
// 10, softmax cross-entropy, mini-batch Adam, a fixed seed.  It trains the
// caller's arrays in place (TFLite's FULLY_CONNECTED layout: weights
// [outputs, inputs] row-major, one bias per output), so the arrays of a
// qtl::sequential model can be handed over directly.
//
// Determinism: the generator (splitmix64), the shuffle (Fisher-Yates) and
// the initialization are written here, not taken from <random>, whose
// distributions differ between standard libraries; the same seed gives the
// same weights on any machine with IEEE floats and the same compiler flags.
//
// Speed: MNIST images are ~80% zeros, so the first layer visits only the
// non-zero pixels of each image (forward and weight gradient); 5 epochs over
// 7,900 images take a few seconds on one core.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <span>
#include <vector>

#include "mnist_data.hpp"
#include "qtl/core/error.hpp"

namespace qtl::mnist {

// One dense layer's parameters, viewed in place.
struct dense_ref {
    std::span<float> weights;  // [outputs, inputs], row-major
    std::span<float> bias;     // [outputs]
    std::size_t inputs = 0, outputs = 0;

    void validate(const char* name) const {
        check(inputs > 0 && outputs > 0, name, "has no inputs or outputs");
        check(weights.size() == inputs * outputs, name, "weights hold ", weights.size(), " values, [", outputs, ", ",
              inputs, "] needs ", inputs * outputs);
        check(bias.size() == outputs, name, "bias holds ", bias.size(), " values, expected ", outputs);
    }
};

// splitmix64: tiny, fast, and the same sequence everywhere.
class rng {
public:
    explicit rng(std::uint64_t seed) : state_(seed) {}
    std::uint64_t next() {
        std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    // Uniform in [0, 1) with 53 random bits.
    double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
    // Uniform in [0, n); the modulo bias (< n / 2^64) is irrelevant here.
    std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }

private:
    std::uint64_t state_;
};

// He-uniform weights (the usual choice before a ReLU; fine for the softmax
// layer too at this size), zero biases.
inline void init_dense(dense_ref layer, rng& gen) {
    layer.validate("init_dense");
    const double limit = std::sqrt(6.0 / static_cast<double>(layer.inputs));
    for (auto& w : layer.weights) w = static_cast<float>((2.0 * gen.uniform() - 1.0) * limit);
    std::fill(layer.bias.begin(), layer.bias.end(), 0.0f);
}

struct train_options {
    int epochs = 10;
    std::size_t batch_size = 32;
    float learning_rate = 1e-3f;  // Adam's step size
    float beta1 = 0.9f, beta2 = 0.999f, epsilon = 1e-8f;
    std::uint64_t seed = 20261201;  // initialization and shuffling
    bool initialize = true;         // false: continue from the current weights
};

struct epoch_stats {
    double mean_loss = 0;       // cross-entropy over the epoch's images
    double train_accuracy = 0;  // of the predictions made while training
};

struct train_result {
    std::vector<epoch_stats> epochs;
    double seconds = 0;
};

namespace detail {

// Adam state for one parameter array.
struct adam_slot {
    std::vector<float> m, v;
    explicit adam_slot(std::size_t n = 0) : m(n, 0.0f), v(n, 0.0f) {}

    // grad holds the batch *sum*; scale turns it into the mean.
    void step(std::span<float> param, std::span<const float> grad, float scale, float lr_t, const train_options& o) {
        for (std::size_t i = 0; i < param.size(); ++i) {
            const float g = grad[i] * scale;
            m[i] = o.beta1 * m[i] + (1.0f - o.beta1) * g;
            v[i] = o.beta2 * v[i] + (1.0f - o.beta2) * g * g;
            param[i] -= lr_t * m[i] / (std::sqrt(v[i]) + o.epsilon);
        }
    }
};

// Softmax in place, max-subtracted; returns log(sum exp(z - max)) + max.
inline float softmax_in_place(std::span<float> z) {
    const float mx = *std::max_element(z.begin(), z.end());
    float sum = 0;
    for (auto& v : z) sum += (v = std::exp(v - mx));
    for (auto& v : z) v /= sum;
    return mx + std::log(sum);
}

}  // namespace detail

// Logits of one image (x: 784 floats) through hidden -> ReLU -> output.
inline std::vector<float> mlp_logits(const dense_ref& hidden, const dense_ref& output, std::span<const float> x) {
    check(x.size() == hidden.inputs, "mlp_logits", "input has ", x.size(), " values, expected ", hidden.inputs);
    check(output.inputs == hidden.outputs, "mlp_logits", "layer sizes do not chain");
    std::vector<float> h(hidden.outputs), z(output.outputs);
    for (std::size_t j = 0; j < hidden.outputs; ++j) {
        const float* w = hidden.weights.data() + j * hidden.inputs;
        float acc = hidden.bias[j];
        for (std::size_t i = 0; i < hidden.inputs; ++i) acc += w[i] * x[i];
        h[j] = std::max(acc, 0.0f);
    }
    for (std::size_t c = 0; c < output.outputs; ++c) {
        const float* w = output.weights.data() + c * output.inputs;
        float acc = output.bias[c];
        for (std::size_t j = 0; j < output.inputs; ++j) acc += w[j] * h[j];
        z[c] = acc;
    }
    return z;
}

inline std::size_t argmax(std::span<const float> v) {
    return static_cast<std::size_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

// Fraction of `set` that the float network classifies correctly.
inline double mlp_accuracy(const dense_ref& hidden, const dense_ref& output, const image_set& set) {
    check(set.size() > 0, "mlp_accuracy", "empty image set");
    std::size_t correct = 0;
    for (std::size_t n = 0; n < set.size(); ++n) {
        const auto z = mlp_logits(hidden, output, set.image_float(n));
        correct += argmax(z) == set.labels[n];
    }
    return static_cast<double>(correct) / static_cast<double>(set.size());
}

// The batch gradient of the cross-entropy loss, summed over images, and the
// scratch buffers one image needs.  accumulate() is the whole forward and
// backward pass of one image; train_mlp() calls it per image of a batch.
class gradient_accumulator {
public:
    std::vector<float> w1, b1, w2, b2;  // same layouts as the layers

    gradient_accumulator(const dense_ref& hidden, const dense_ref& output)
        : w1(hidden.weights.size()), b1(hidden.outputs), w2(output.weights.size()), b2(output.outputs),
          pre_(hidden.outputs), h_(hidden.outputs), dh_(hidden.outputs), z_(output.outputs) {}

    void zero() {
        for (auto* v : {&w1, &b1, &w2, &b2}) std::fill(v->begin(), v->end(), 0.0f);
    }

    // Adds one image's gradient; returns its loss.  `predicted` is set to
    // the network's answer before the update.
    double accumulate(const dense_ref& hidden, const dense_ref& output, std::span<const std::uint8_t> img,
                      std::size_t label, std::size_t& predicted) {
        const std::size_t H = hidden.outputs, C = output.outputs, D = hidden.inputs;
        check(img.size() == D && label < C, "gradient_accumulator", "image of ", img.size(), " pixels, label ", label);
        nz_index_.clear();
        nz_value_.clear();
        for (std::size_t i = 0; i < D; ++i)
            if (img[i] != 0) {
                nz_index_.push_back(static_cast<std::uint32_t>(i));
                nz_value_.push_back(static_cast<float>(img[i]) / 255.0f);
            }
        // Forward.
        for (std::size_t j = 0; j < H; ++j) {
            const float* w = hidden.weights.data() + j * D;
            float acc = hidden.bias[j];
            for (std::size_t k = 0; k < nz_index_.size(); ++k) acc += w[nz_index_[k]] * nz_value_[k];
            pre_[j] = acc;
            h_[j] = std::max(acc, 0.0f);
        }
        for (std::size_t c = 0; c < C; ++c) {
            const float* w = output.weights.data() + c * H;
            float acc = output.bias[c];
            for (std::size_t j = 0; j < H; ++j) acc += w[j] * h_[j];
            z_[c] = acc;
        }
        predicted = argmax(z_);
        const float logit = z_[label];
        // Cross-entropy = log(sum exp z) - z[label]; softmax_in_place turns z into p.
        const double loss = static_cast<double>(detail::softmax_in_place(z_)) - static_cast<double>(logit);
        // Backward: dL/dz = p - onehot.
        z_[label] -= 1.0f;
        std::fill(dh_.begin(), dh_.end(), 0.0f);
        for (std::size_t c = 0; c < C; ++c) {
            const float g = z_[c];
            b2[c] += g;
            float* gw = w2.data() + c * H;
            const float* w = output.weights.data() + c * H;
            for (std::size_t j = 0; j < H; ++j) {
                gw[j] += g * h_[j];
                dh_[j] += g * w[j];
            }
        }
        for (std::size_t j = 0; j < H; ++j) {
            if (pre_[j] <= 0.0f) continue;  // ReLU passes no gradient
            const float g = dh_[j];
            b1[j] += g;
            float* gw = w1.data() + j * D;
            for (std::size_t k = 0; k < nz_index_.size(); ++k) gw[nz_index_[k]] += g * nz_value_[k];
        }
        return loss;
    }

private:
    std::vector<std::uint32_t> nz_index_;  // the image's non-zero pixels
    std::vector<float> nz_value_;
    std::vector<float> pre_, h_, dh_, z_;
};

// Trains hidden (784 -> 128, ReLU) and output (128 -> 10, softmax) in place.
inline train_result train_mlp(dense_ref hidden, dense_ref output, const image_set& train,
                              const train_options& opt = {}) {
    hidden.validate("train_mlp: hidden layer");
    output.validate("train_mlp: output layer");
    check(hidden.inputs == image_size, "train_mlp", "the hidden layer takes ", hidden.inputs, " inputs, images have ",
          image_size, " pixels");
    check(output.inputs == hidden.outputs, "train_mlp", "the output layer takes ", output.inputs,
          " inputs, the hidden layer gives ", hidden.outputs);
    check(output.outputs == digit_count, "train_mlp", "the output layer has ", output.outputs, " outputs, expected ",
          digit_count, " (one per digit)");
    check(train.size() > 0 && opt.batch_size > 0 && opt.epochs > 0, "train_mlp",
          "needs images, a batch size > 0 and epochs > 0");

    const auto start = std::chrono::steady_clock::now();
    rng gen(opt.seed);
    if (opt.initialize) {
        init_dense(hidden, gen);
        init_dense(output, gen);
    }
    gradient_accumulator grad(hidden, output);
    detail::adam_slot aw1(grad.w1.size()), ab1(grad.b1.size()), aw2(grad.w2.size()), ab2(grad.b2.size());
    std::vector<std::size_t> order(train.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::int64_t step = 0;
    train_result result;

    for (int epoch = 0; epoch < opt.epochs; ++epoch) {
        for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[gen.below(i)]);
        double loss_sum = 0;
        std::size_t correct = 0;
        for (std::size_t b0 = 0; b0 < order.size(); b0 += opt.batch_size) {
            const std::size_t b1 = std::min(order.size(), b0 + opt.batch_size);
            grad.zero();
            for (std::size_t b = b0; b < b1; ++b) {
                std::size_t predicted = 0;
                loss_sum += grad.accumulate(hidden, output, train.image(order[b]), train.labels[order[b]], predicted);
                correct += predicted == train.labels[order[b]];
            }
            ++step;
            const float scale = 1.0f / static_cast<float>(b1 - b0);
            // Adam's bias correction folded into the step size.
            const double c1 = 1.0 - std::pow(static_cast<double>(opt.beta1), static_cast<double>(step));
            const double c2 = 1.0 - std::pow(static_cast<double>(opt.beta2), static_cast<double>(step));
            const float lr_t = static_cast<float>(opt.learning_rate * std::sqrt(c2) / c1);
            aw1.step(hidden.weights, grad.w1, scale, lr_t, opt);
            ab1.step(hidden.bias, grad.b1, scale, lr_t, opt);
            aw2.step(output.weights, grad.w2, scale, lr_t, opt);
            ab2.step(output.bias, grad.b2, scale, lr_t, opt);
        }
        result.epochs.push_back({loss_sum / static_cast<double>(order.size()),
                                 static_cast<double>(correct) / static_cast<double>(order.size())});
    }
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
}

}  // namespace qtl::mnist
