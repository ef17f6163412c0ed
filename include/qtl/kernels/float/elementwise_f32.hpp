#pragma once
// Float elementwise kernels with TFLite's float semantics: the activations
// (RELU, RELU6, RELU_N1_TO_1, LOGISTIC, TANH, LEAKY_RELU, HARD_SWISH), the
// binary ADD / SUB / MUL with NumPy broadcasting (ops/broadcast.hpp's plan)
// and a fused clamp, and SOFTMAX over the last axis.  Plain loops over
// contiguous runs, which the compiler vectorizes; the math functions
// (exp, tanh) are the standard library's.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>

#include "qtl/ops/broadcast.hpp"

namespace qtl::kernels {

enum class unary_f32_kind { relu, relu6, relu_n1_to_1, logistic, tanh, leaky_relu, hard_swish };

// out[i] = f(in[i]); alpha is LEAKY_RELU's slope.  in and out may alias.
inline void unary_f32(unary_f32_kind kind, const float* in, float* out, std::size_t n, float alpha = 0.0f) {
    switch (kind) {
        case unary_f32_kind::relu:
            for (std::size_t i = 0; i < n; ++i) out[i] = std::max(in[i], 0.0f);
            break;
        case unary_f32_kind::relu6:
            for (std::size_t i = 0; i < n; ++i) out[i] = std::min(std::max(in[i], 0.0f), 6.0f);
            break;
        case unary_f32_kind::relu_n1_to_1:
            for (std::size_t i = 0; i < n; ++i) out[i] = std::min(std::max(in[i], -1.0f), 1.0f);
            break;
        case unary_f32_kind::logistic:
            for (std::size_t i = 0; i < n; ++i) out[i] = 1.0f / (1.0f + std::exp(-in[i]));
            break;
        case unary_f32_kind::tanh:
            for (std::size_t i = 0; i < n; ++i) out[i] = std::tanh(in[i]);
            break;
        case unary_f32_kind::leaky_relu:
            for (std::size_t i = 0; i < n; ++i) out[i] = in[i] > 0.0f ? in[i] : in[i] * alpha;
            break;
        case unary_f32_kind::hard_swish:
            for (std::size_t i = 0; i < n; ++i) out[i] = in[i] * std::min(6.0f, std::max(0.0f, in[i] + 3.0f)) / 6.0f;
            break;
    }
}

// Clamps in place (a fused activation); +-inf bounds leave values as they are.
inline void clamp_f32(float* data, std::size_t n, float lo, float hi) {
    if (lo == -std::numeric_limits<float>::infinity() && hi == std::numeric_limits<float>::infinity()) return;
    for (std::size_t i = 0; i < n; ++i) data[i] = std::min(std::max(data[i], lo), hi);
}

enum class binary_f32_kind { add, sub, mul };

namespace detail {

template <class F>
void binary_f32_runs(const ops::broadcast_plan& plan, const float* a, const float* b, float* out, F f) {
    ops::for_each_broadcast_run(plan, [&](const ops::broadcast_run& r) {
        const float* x = a + r.input1;
        const float* y = b + r.input2;
        float* o = out + r.output;
        // The three shapes of a run get their own loops so that each one vectorizes.
        if (r.step1 == 1 && r.step2 == 1)
            for (std::size_t i = 0; i < r.length; ++i) o[i] = f(x[i], y[i]);
        else if (r.step1 == 1) {
            const float s = y[0];
            for (std::size_t i = 0; i < r.length; ++i) o[i] = f(x[i], s);
        } else if (r.step2 == 1) {
            const float s = x[0];
            for (std::size_t i = 0; i < r.length; ++i) o[i] = f(s, y[i]);
        } else {
            const float v = f(x[0], y[0]);
            for (std::size_t i = 0; i < r.length; ++i) o[i] = v;
        }
    });
}

}  // namespace detail

// out = clamp(a op b) over the plan's broadcast output.
inline void binary_f32(binary_f32_kind kind, const ops::broadcast_plan& plan, const float* a, const float* b,
                       float* out, float lo = -std::numeric_limits<float>::infinity(),
                       float hi = std::numeric_limits<float>::infinity()) {
    switch (kind) {
        case binary_f32_kind::add: detail::binary_f32_runs(plan, a, b, out, [](float x, float y) { return x + y; }); break;
        case binary_f32_kind::sub: detail::binary_f32_runs(plan, a, b, out, [](float x, float y) { return x - y; }); break;
        case binary_f32_kind::mul: detail::binary_f32_runs(plan, a, b, out, [](float x, float y) { return x * y; }); break;
    }
    clamp_f32(out, plan.output_size, lo, hi);
}

// SOFTMAX over the last axis of `rows` rows of `depth` values:
// exp((x - max) * beta) / sum, as TFLite's float kernel.
inline void softmax_f32(const float* in, float* out, std::size_t rows, std::size_t depth, float beta) {
    for (std::size_t r = 0; r < rows; ++r) {
        const float* x = in + r * depth;
        float* y = out + r * depth;
        float top = -std::numeric_limits<float>::infinity();
        for (std::size_t i = 0; i < depth; ++i) top = std::max(top, x[i]);
        float sum = 0.0f;
        for (std::size_t i = 0; i < depth; ++i) {
            y[i] = std::exp((x[i] - top) * beta);
            sum += y[i];
        }
        const float inv = 1.0f / sum;
        for (std::size_t i = 0; i < depth; ++i) y[i] *= inv;
    }
}

}  // namespace qtl::kernels
