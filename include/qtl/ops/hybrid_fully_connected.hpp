#pragma once
// FULLY_CONNECTED, hybrid ("dynamic-range") kernel: float input, int8
// weights, float bias, float output.  What TensorFlow's converter emits with
// Optimize.DEFAULT and no representative dataset, and what TFLite runs with
// EvalHybrid (fully_connected.cc):
//
//   per input row r (rows = elements / I):
//     1. quantize the row to int8 on the fly:
//          asymmetric_quantize_inputs: scale s_r, zero point z_r
//            (PortableAsymmetricQuantizeFloats, quantize_row_asymmetric)
//          otherwise: symmetric, z_r = 0, s_r = max|x| / 127
//            (PortableSymmetricQuantizeFloats, quantize_row_symmetric below)
//     2. acc[r, o] = sum_i q[r, i] * w[o, i] - z_r * sum_i w[o, i]     (int32)
//     3. out[r, o] = clamp(float(acc) * (s_r * w_scale[o]) + bias[o])
//
// Float details as TFLite's x86 build computes them: the scale product
// s_r * w_scale[o] is one float multiply, float(acc) times it another (no
// FMA), then the bias is added (the output starts as the bias and the
// product is accumulated into it), then the fused activation clamps.  An
// input that is all zeros (the whole batch) gives the bias, activated.
//
// Weights: symmetric (zero point 0), per tensor, or per channel along axis 0
// (O scales).  TFLite versions: 3 symmetric inputs, 9 asymmetric, 12 with
// per-channel weights (io/tflite/op_versions.hpp).
//
// Block-wise int4 weights (one scale per block of inputs, TFLite's
// BlockwiseQuantization) take the other hybrid path TFLite has,
// EvalBlockwise4Bit: ops::fully_connected_blockwise_params in
// ops/fully_connected.hpp (rows quantized the same way, then per output and
// block an int32 dot product of the int8 codes with the int4 weights, combined
// in float as sum_b dot_b * scale_b - z * sum_b scale_b * wsum_b, times s_r,
// plus the bias).  The executor runs it for FLOAT32-input FULLY_CONNECTED ops
// with block-wise INT4 weights; convert_dynamic_range() emits them with
// dynamic_range_options::block_size.  XNNPACK (LiteRT's path for block sizes
// that are multiples of 32) orders the float operations differently and
// agrees to float rounding when the scales are bfloat16 values, as qtl's
// converter makes them (docs/dynamic_range.md).
//
// eval() is the SIMD path: each row's codes widened to int16 (padded to 32),
// then 4 weight rows per pass with the int16 multiply-add kernels of
// fully_connected.hpp; reference/hybrid_fully_connected.hpp has the plain
// loops.  Both give the same bits.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "qtl/core/error.hpp"
#include "qtl/core/shape.hpp"
#include "qtl/core/tensor_view.hpp"
#include "qtl/ops/fully_connected.hpp"
#include "qtl/ops/fused_activation.hpp"
#include "qtl/quant/quant_params.hpp"

namespace qtl::ops {

struct hybrid_fully_connected_params {
    qtl::shape input_shape;               // float [..., I]
    qtl::shape weights_shape;             // [O, I]
    std::span<const std::int8_t> weights; // O * I values
    std::span<const float> bias;          // O values; empty: no bias
    quant_params weights_quant;           // per tensor, or O scales on axis 0; zero points 0 (or none)
    fused_activation activation = fused_activation::none;
    bool keep_num_dims = false;
    bool asymmetric_quantize_inputs = true;  // the op option; qtl's converter sets it
};

struct hybrid_fully_connected_prepared {
    qtl::shape input_shape;
    qtl::shape output_shape;
    std::size_t rows = 0;
    std::size_t input_depth = 0;   // I
    std::size_t output_depth = 0;  // O
    bool asymmetric = true;

    std::vector<std::int8_t> weights;      // [O, I]
    std::vector<float> weight_scales;      // [O] (a per-tensor scale repeated)
    std::vector<float> bias;               // [O]; empty: no bias
    std::vector<std::int32_t> row_sums;    // [O]: sum_i w[o, i]
    float lo = -std::numeric_limits<float>::infinity();  // the fused activation's clamp
    float hi = std::numeric_limits<float>::infinity();

    // What the SIMD path reads: rows padded to a multiple of 32, O to 4.
    std::size_t padded_depth = 0;
    std::vector<std::int8_t> packed_weights;
};

namespace detail::hybrid {

inline const std::string fc_name = "FULLY_CONNECTED (hybrid)";

// The float clamp of a fused activation (TFLite's CalculateActivationRange).
inline std::pair<float, float> activation_clamp(fused_activation act, const std::string& where) {
    constexpr float inf = std::numeric_limits<float>::infinity();
    switch (act) {
        case fused_activation::none: return {-inf, inf};
        case fused_activation::relu: return {0.0f, inf};
        case fused_activation::relu_n1_to_1: return {-1.0f, 1.0f};
        case fused_activation::relu6: return {0.0f, 6.0f};
        default: break;
    }
    throw error(where, qtl::detail::concat("fused activation ", int(act),
                                           " is not supported (NONE, RELU, RELU_N1_TO_1, RELU6 are)"));
}

// TFLite's PortableSymmetricQuantizeFloats: range = max(|min|, |max|) in
// float, scale = range / 127, codes round(x * (127 / range)) clamped to
// [-127, 127].  An all-zero input gives scale 1 and zero codes.
inline float quantize_row_symmetric(const float* values, std::size_t n, std::int8_t* out) noexcept {
    float lowest = 0.0f, highest = 0.0f;
    if (n > 0) {
        const auto [lo, hi] = std::minmax_element(values, values + n);
        lowest = *lo;
        highest = *hi;
    }
    const float range = std::max(std::abs(lowest), std::abs(highest));
    if (range == 0.0f) {
        std::fill(out, out + n, std::int8_t{0});
        return 1.0f;
    }
    const float inverse = 127.0f / range;
    for (std::size_t i = 0; i < n; ++i) {
        const float rounded = std::round(values[i] * inverse);
        out[i] = static_cast<std::int8_t>(std::min(127.0f, std::max(-127.0f, rounded)));  // NaN -> -127
    }
    return range / 127.0f;
}

// One quantized input row (or image): its codes' scale and zero point.
struct input_quantization {
    float scale = 1.0f;
    std::int32_t zero_point = 0;
};

inline input_quantization quantize_input(bool asymmetric, const float* values, std::size_t n, std::int8_t* out) {
    if (asymmetric) {
        const auto q = detail::fully_connected::quantize_row_asymmetric(values, n, out);
        return {q.scale, q.zero_point};
    }
    return {quantize_row_symmetric(values, n, out), 0};
}

// float(acc) * scale, rounded on its own (never fused with the bias add).
inline float scaled(std::int32_t acc, float scale) noexcept {
    return detail::fully_connected::separate_product(static_cast<float>(acc), scale);
}

inline float clamp(float v, float lo, float hi) noexcept { return std::min(std::max(v, lo), hi); }

inline bool all_zero(const float* values, std::size_t n) noexcept {
    return std::all_of(values, values + n, [](float v) { return v == 0.0f; });
}

// Weight scales, one per output channel: 1 (per tensor, repeated) or
// `channels` along `axis`; zero points absent or 0; scales finite and > 0.
inline std::vector<float> weight_scales(const std::string& where, const quant_params& q, std::size_t channels,
                                        int axis, bool require_per_channel = false) {
    check(!q.is_per_block(), where,
          "block-wise weights run in TFLite's block-wise kernel: ops::fully_connected_blockwise_params "
          "(ops/fully_connected.hpp), not the per-channel hybrid one");
    if (require_per_channel) {
        check(q.scales.size() == channels, where, "weights need one scale per output channel (", channels,
              "), got ", q.scales.size());
    } else {
        check(q.scales.size() == 1 || q.scales.size() == channels, where, "weights need 1 scale or ", channels,
              " (one per output channel), got ", q.scales.size());
    }
    if (q.scales.size() > 1)
        check(q.axis == axis, where, "per-channel weights must be quantized along axis ", axis, ", got axis ", q.axis);
    check(q.zero_points.empty() || q.zero_points.size() == q.scales.size(), where, "weights have ", q.scales.size(),
          " scales but ", q.zero_points.size(), " zero points");
    for (std::size_t c = 0; c < q.zero_points.size(); ++c)
        check(q.zero_points[c] == 0, where, "weights must be symmetric (zero point 0), got ", q.zero_points[c],
              " at index ", c);
    for (std::size_t c = 0; c < q.scales.size(); ++c)
        check(std::isfinite(q.scales[c]) && q.scales[c] > 0.0f, where, "weight scale must be finite and > 0, got ",
              q.scales[c], " at index ", c);
    if (q.scales.size() == channels) return q.scales;
    return std::vector<float>(channels, q.scales[0]);
}

inline std::vector<float> checked_bias(const std::string& where, std::span<const float> bias, std::size_t channels) {
    check(bias.empty() || bias.size() == channels, where, "bias must have ", channels, " values (or none), got ",
          bias.size());
    return {bias.begin(), bias.end()};
}

}  // namespace detail::hybrid

inline hybrid_fully_connected_prepared prepare(const hybrid_fully_connected_params& params) {
    namespace fc = detail::fully_connected;
    namespace hy = detail::hybrid;
    const std::string& where = hy::fc_name;
    const auto [output_depth, input_depth] = fc::check_weights_shape(params.weights_shape);
    check(params.weights.size() == output_depth * input_depth, where, "weights ", shape_text(params.weights_shape),
          " need ", output_depth * input_depth, " values, got ", params.weights.size());

    hybrid_fully_connected_prepared p;
    p.weight_scales = hy::weight_scales(where, params.weights_quant, output_depth, 0);
    p.bias = hy::checked_bias(where, params.bias, output_depth);
    std::tie(p.lo, p.hi) = hy::activation_clamp(params.activation, where);
    const fc::fc_geometry geometry = fc::input_geometry(params.input_shape, output_depth, input_depth, params.keep_num_dims);
    p.input_shape = params.input_shape;
    p.output_shape = geometry.output_shape;
    p.rows = geometry.rows;
    p.input_depth = input_depth;
    p.output_depth = output_depth;
    p.asymmetric = params.asymmetric_quantize_inputs;
    p.weights.assign(params.weights.begin(), params.weights.end());
    p.row_sums.assign(output_depth, 0);
    p.padded_depth = fc::round_up(input_depth, fc::depth_step);
    p.packed_weights.assign(fc::round_up(output_depth, fc::row_block) * p.padded_depth, 0);
    for (std::size_t o = 0; o < output_depth; ++o) {
        for (std::size_t i = 0; i < input_depth; ++i) {
            const std::int8_t w = p.weights[o * input_depth + i];
            p.row_sums[o] += w;
            p.packed_weights[o * p.padded_depth + i] = w;
        }
    }
    return p;
}

// SIMD evaluation, bit-identical to reference::eval.
template <class A = xsimd::default_arch>
void eval(const hybrid_fully_connected_prepared& p, tensor_view<const float> input, tensor_view<float> output) {
    namespace fc = detail::fully_connected;
    namespace hy = detail::hybrid;
    fc::check_eval_shapes(p.input_shape, p.output_shape, input.shape, output.shape);
    const std::size_t in_depth = p.input_depth, out_depth = p.output_depth, depth = p.padded_depth;
    const std::size_t padded_rows = fc::round_up(out_depth, fc::row_block);
    const float* x = input.data.data();
    float* y = output.data.data();
    if (hy::all_zero(x, p.rows * in_depth)) {  // TFLite skips the products for an all-zero batch
        for (std::size_t r = 0; r < p.rows; ++r)
            for (std::size_t o = 0; o < out_depth; ++o)
                y[r * out_depth + o] = hy::clamp(p.bias.empty() ? 0.0f : p.bias[o], p.lo, p.hi);
        return;
    }
    std::vector<std::int8_t> q(in_depth);
    std::vector<std::int16_t> wide(depth, 0);  // the padding stays 0
    std::int32_t dots[fc::row_block];
    for (std::size_t r = 0; r < p.rows; ++r) {
        const hy::input_quantization iq = hy::quantize_input(p.asymmetric, x + r * in_depth, in_depth, q.data());
        std::copy(q.begin(), q.end(), wide.begin());
        float* out_row = y + r * out_depth;
        for (std::size_t o = 0; o < padded_rows; o += fc::row_block) {
            fc::dot_4_rows<A>(wide.data(), p.packed_weights.data() + o * depth, depth, depth, dots);
            for (std::size_t j = 0; j < fc::row_block && o + j < out_depth; ++j) {
                const std::size_t c = o + j;
                const std::int32_t acc =
                    fc::wrapping_add(dots[j], static_cast<std::int32_t>(static_cast<std::uint32_t>(p.row_sums[c]) *
                                                                        static_cast<std::uint32_t>(-iq.zero_point)));
                const float scale = iq.scale * p.weight_scales[c];
                float v = p.bias.empty() ? 0.0f : p.bias[c];  // the output starts as the bias
                v += hy::scaled(acc, scale);
                out_row[c] = hy::clamp(v, p.lo, p.hi);
            }
        }
    }
}

}  // namespace qtl::ops
