#pragma once
// CONV_2D, integer: TFLite's builtin 2-D convolution on NHWC activations.
//
//   out[n, y, x, o] = requantize(bias[o] + sum_{ky, kx, i}
//                         w[o, ky, kx, i] * (in[n, y*sh - pad_top + ky*dh, x*sw - pad_left + kx*dw, g*I + i] - in_zp))
//
// with g = o / (O / groups) (groups = C / I, TFLite's grouped convolution) and
// taps outside the input skipped (zero padding).  Type signatures, as TFLite's
// kernels have them:
//
//   activations  weights  bias   accumulator  requantization
//   int8         int8     int32  int32        multiply_by_quantized_multiplier (double rounding)
//   int8         int4     int32  int32        same; int4 weights are unpacked to int8 once
//   int16 (zp 0) int8     int64  int64        multiply_by_quantized_multiplier_int64
//
// Weights are symmetric (zero point 0), per tensor or per output channel
// (axis 0); the multiplier of channel o is input_scale * w_scale[o] /
// output_scale, computed in double as TFLite does.  The int32 accumulator
// wraps modulo 2^32 like TFLite's on real hardware (it cannot overflow for
// filters below 2^16 taps).
//
// prepare() validates the spec and computes everything once; eval() is the
// fast path: ungrouped int8 convolutions run on the int8 GEMM kernels (1x1
// stride 1 directly on kernels/gemm_int8.hpp, every other kernel size,
// stride and dilation through kernels/conv_int8.hpp's im2col tiles); 16x8
// and grouped ones on xsimd (vectorized over output channels, int32 lanes,
// weights repacked as [group][kh][kw][i][o]).  reference/conv_2d.hpp has the
// plain loops that mirror TFLite's reference kernel.  All end in the same
// requantize stage.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "qtl/core/element_types.hpp"
#include "qtl/core/error.hpp"
#include "qtl/core/int4_packing.hpp"
#include "qtl/core/shape.hpp"
#include "qtl/core/tensor_view.hpp"
#include "qtl/fixedpoint/multiply_by_quantized_multiplier.hpp"
#include "qtl/fixedpoint/quantize_multiplier.hpp"
#include "qtl/fixedpoint/requantize.hpp"
#include "qtl/fixedpoint/requantize_batch.hpp"
#include "qtl/kernels/conv_int8.hpp"
#include "qtl/kernels/gemm_int8.hpp"
#include "qtl/ops/fused_activation.hpp"
#include "qtl/ops/padding.hpp"
#include "qtl/quant/quant_params.hpp"

namespace qtl::ops {

// The (activation, weight) pairs TFLite has integer convolution kernels for.
template <class Activation, class Weight>
inline constexpr bool is_conv_type_signature =
    (std::is_same_v<Activation, std::int8_t> && (std::is_same_v<Weight, std::int8_t> || std::is_same_v<Weight, int4>)) ||
    (std::is_same_v<Activation, std::int16_t> && std::is_same_v<Weight, std::int8_t>);

// Bias (and accumulator) type: int32 with int8 activations, int64 in 16x8 mode.
template <class Activation>
using conv_bias_t = std::conditional_t<std::is_same_v<Activation, std::int16_t>, std::int64_t, std::int32_t>;

// How weights are stored: one int8 per value, or int4 packed two per byte
// (element 2i in the low nibble, TFLite's order; see core/int4_packing.hpp).
template <class Weight>
using conv_weight_storage_t = std::conditional_t<std::is_same_v<Weight, int4>, std::uint8_t, std::int8_t>;

template <class Activation, class Weight = std::int8_t>
struct conv_2d_params {
    static_assert(is_conv_type_signature<Activation, Weight>,
                  "CONV_2D supports int8 activations with int8 or int4 weights, and int16 activations with int8 "
                  "weights (16x8); TFLite has no kernel for other combinations");

    qtl::shape input_shape;   // [batches, height, width, channels]
    qtl::shape filter_shape;  // [out_channels, filter_height, filter_width, channels / groups]
    float input_scale = 0.0f;
    std::int32_t input_zero_point = 0;
    float output_scale = 0.0f;
    std::int32_t output_zero_point = 0;
    qtl::quant_params filter;  // one scale, or out_channels scales with axis 0; zero points 0
    std::span<const conv_weight_storage_t<Weight>> weights;  // row-major over filter_shape
    std::span<const conv_bias_t<Activation>> bias;          // empty (no bias) or out_channels values
    std::int32_t stride_height = 1;
    std::int32_t stride_width = 1;
    std::int32_t dilation_height = 1;
    std::int32_t dilation_width = 1;
    qtl::ops::padding padding = padding::valid;
    // Zero-point padding in front of the window (a folded PAD): the op then
    // equals PAD(input, zero point) followed by this op on the padded input.
    qtl::ops::input_padding input_padding;
    fused_activation activation = fused_activation::none;
};

template <class Activation>
struct conv_2d_prepared {
    using bias_type = conv_bias_t<Activation>;

    qtl::shape input_shape;   // [N, H, W, C]
    qtl::shape filter_shape;  // [O, KH, KW, I]
    qtl::shape output_shape;  // [N, OH, OW, O]
    std::int32_t stride_height = 1, stride_width = 1;
    std::int32_t dilation_height = 1, dilation_width = 1;
    padded_window padding;
    std::int32_t groups = 1;        // C / I
    std::int32_t input_offset = 0;  // -input_zero_point, added to every input value
    std::vector<std::int8_t> filter;  // [O, KH, KW, I], int4 weights unpacked
    std::vector<bias_type> bias;      // O values, zeros when the op has no bias
    bool per_channel = false;
    std::vector<std::int32_t> multipliers;  // O values (equal when per tensor)
    std::vector<std::int32_t> shifts;       // O values
    requantize_params output;               // output zero point and the fused activation's clamp

    // xsimd layout (16x8 and grouped convolutions only; empty otherwise):
    // output channels of each group padded to a multiple of `packed_lanes`
    // (zero weights and bias in the padding).
    std::size_t packed_lanes = 0;
    std::int32_t group_channels_padded = 0;
    std::vector<std::int32_t> packed_filter;  // [groups][KH][KW][I][group_channels_padded]
    std::vector<bias_type> packed_bias;       // [groups][group_channels_padded]

    // int8 1x1 convolutions with stride 1 and no groups are a GEMM over the
    // N*H*W pixels: they run on the kernels of kernels/gemm_int8.hpp.
    bool pointwise = false;
    kernels::gemm_int8_packed gemm;
    // Every other ungrouped int8 convolution: im2col tiles on the same
    // kernels (kernels/conv_int8.hpp).
    bool im2col = false;
    kernels::conv_int8_packed conv;
};

namespace detail::conv {

inline bool is_positive_finite(float x) { return std::isfinite(x) && x > 0.0f; }

// Per-tensor activation quantization: scale finite and > 0, zero point in
// range; 16x8 mode also needs zero point 0.
template <class Activation>
void check_activation_quantization(const std::string& where, const char* tensor, float scale,
                                   std::int32_t zero_point) {
    check(is_positive_finite(scale), where, tensor, " scale must be finite and > 0, got ", scale);
    if constexpr (std::is_same_v<Activation, std::int16_t>) {
        check(zero_point == 0, where, tensor, " zero point must be 0 for int16 activations (16x8), got ",
              zero_point);
    } else {
        check(zero_point >= element_traits<Activation>::min && zero_point <= element_traits<Activation>::max, where,
              tensor, " zero point ", zero_point, " is outside the ", element_traits<Activation>::name, " range");
    }
}

// The weight scales, one per output channel (a per-tensor scale broadcast).
// `axis` is the per-channel axis the op requires (0 for CONV_2D, 3 for DEPTHWISE).
inline std::vector<float> filter_scales(const std::string& where, const quant_params& q, std::size_t channels,
                                        int axis) {
    check(!q.is_per_block(), where, "block-wise weight quantization is not supported (block_size ", q.block_size,
          ")");
    check(q.scales.size() == 1 || q.scales.size() == channels, where, "weights need 1 scale or ", channels,
          " (one per output channel), got ", q.scales.size());
    if (q.scales.size() > 1 || !q.is_per_tensor())
        check(q.axis == axis, where, "per-channel weights must be quantized along axis ", axis, ", got axis ", q.axis);
    check(q.zero_points.empty() || q.zero_points.size() == q.scales.size(), where, "weights have ",
          q.scales.size(), " scales but ", q.zero_points.size(), " zero points");
    for (std::size_t c = 0; c < q.zero_points.size(); ++c)
        check(q.zero_points[c] == 0, where, "weight zero points must be 0 (symmetric), got ", q.zero_points[c],
              " for channel ", c);
    for (std::size_t c = 0; c < q.scales.size(); ++c)
        check(is_positive_finite(q.scales[c]), where, "weight scale must be finite and > 0, got ", q.scales[c],
              " for channel ", c);
    std::vector<float> scales(channels, q.scales[0]);
    if (q.scales.size() == channels) scales = q.scales;
    return scales;
}

// TFLite's PopulateConvolutionQuantizationParams: per channel,
// QuantizeMultiplier(double(input_scale) * double(w_scale) / double(output_scale)).
template <class Activation>
void compute_multipliers(const std::string& where, float input_scale, const std::vector<float>& weight_scales,
                         float output_scale, std::vector<std::int32_t>& multipliers, std::vector<std::int32_t>& shifts) {
    multipliers.resize(weight_scales.size());
    shifts.resize(weight_scales.size());
    for (std::size_t c = 0; c < weight_scales.size(); ++c) {
        const double real = static_cast<double>(input_scale) * static_cast<double>(weight_scales[c]) /
                            static_cast<double>(output_scale);
        check(std::isfinite(real), where, "input_scale * weight_scale / output_scale is not finite for channel ", c);
        const quantized_multiplier qm = quantize_multiplier(real);
        if constexpr (std::is_same_v<Activation, std::int16_t>) {
            // TFLite's 64-bit MultiplyByQuantizedMultiplier requires shift < 8.
            check(qm.shift <= 7, where, "16x8 requantization needs input_scale * weight_scale / output_scale < 128, got ",
                  real, " for channel ", c);
        }
        multipliers[c] = qm.multiplier;
        shifts[c] = qm.shift;
    }
}

template <class Activation>
requantize_params output_range(const std::string& where, fused_activation act, float output_scale,
                               std::int32_t output_zero_point) {
    check(act == fused_activation::none || act == fused_activation::relu || act == fused_activation::relu6 ||
              act == fused_activation::relu_n1_to_1,
          where, "fused activation ", int(act), " cannot be fused into an integer op (NONE, RELU, RELU_N1_TO_1 or RELU6)");
    return activation_range<Activation>(act, output_scale, output_zero_point);
}

// The weights as int8 values; int4 ones unpacked from their packed bytes.
template <class Weight>
std::vector<std::int8_t> unpack_weights(const std::string& where, std::span<const conv_weight_storage_t<Weight>> weights,
                                        std::size_t count) {
    if constexpr (std::is_same_v<Weight, int4>) {
        check(weights.size() == packed_int4_bytes(count), where, "need ", packed_int4_bytes(count),
              " bytes for ", count, " packed int4 weights, got ", weights.size());
        return unpack_int4(weights, count);
    } else {
        check(weights.size() == count, where, "need ", count, " weights, got ", weights.size());
        return {weights.begin(), weights.end()};
    }
}

template <class Bias>
std::vector<Bias> bias_or_zeros(const std::string& where, std::span<const Bias> bias, std::size_t channels) {
    check(bias.empty() || bias.size() == channels, where, "bias must be empty or have ", channels,
          " values (one per output channel), got ", bias.size());
    if (bias.empty()) return std::vector<Bias>(channels, 0);
    return {bias.begin(), bias.end()};
}

inline void check_nhwc(const std::string& where, const char* tensor, const shape& s) {
    check(s.size() == 4, where, tensor, " must have rank 4, got shape ", shape_text(s));
    for (std::size_t d = 0; d < 4; ++d)
        check(s[d] >= 1, where, tensor, " dimensions must be >= 1, got shape ", shape_text(s));
    num_elements(s, where);  // throws on absurd sizes
}

// Two's-complement addition without UB, as TFLite's int32 / int64 sums behave.
template <class T>
constexpr T wrapping_add(T a, T b) noexcept {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
}

// The 16x8 requantize stage: TFLite's int64 MultiplyByQuantizedMultiplier,
// then the clamp (the output zero point is 0, so TFLite adds none).
inline std::int16_t requantize_16x8(std::int64_t acc, std::int32_t multiplier, std::int32_t shift,
                                    const requantize_params& p) noexcept {
    const std::int32_t scaled = multiply_by_quantized_multiplier_int64(acc, multiplier, static_cast<int>(shift));
    return static_cast<std::int16_t>(std::min(std::max(scaled, p.activation_min), p.activation_max));
}

template <class Activation>
void check_runtime_shapes(const std::string& where, const shape& input_expected, const shape& output_expected,
                          const shape& input, const shape& output) {
    // Tested before building a message: this runs on every eval.
    if (input != input_expected)
        throw error(where, qtl::detail::concat("input shape ", to_string(input), " does not match the prepared ",
                                               to_string(input_expected)));
    if (output != output_expected)
        throw error(where, qtl::detail::concat("output shape ", to_string(output), " does not match the prepared ",
                                               to_string(output_expected)));
}

template <class A>
inline constexpr std::size_t int32_lanes = xsimd::batch<std::int32_t, A>::size;

// Products |int16 * int8| <= 2^22, so 256 of them sum to at most 2^30: the
// 16x8 SIMD path adds that many in int32 lanes before widening to int64.
inline constexpr int taps_per_int32_chunk = 256;

// Stores the first `count` lanes of v at out (count <= lanes).
template <class A, class T>
void store_first(xsimd::batch<T, A> v, T* out, std::size_t count) noexcept {
    constexpr std::size_t lanes = xsimd::batch<T, A>::size;
    if (count == lanes) return v.store_unaligned(out);
    alignas(A::alignment()) T values[lanes];
    v.store_aligned(values);
    std::copy(values, values + count, out);
}

// Adds the int32 lanes of `part` to the int64 accumulators acc[0..lanes)
// (wrapping, as the reference's int64 sum with an extreme bias does).
template <class A>
void widen_add(xsimd::batch<std::int32_t, A> part, std::int64_t* acc) noexcept {
    constexpr std::size_t lanes = xsimd::batch<std::int32_t, A>::size;
    alignas(A::alignment()) std::int32_t values[lanes];
    part.store_aligned(values);
    for (std::size_t j = 0; j < lanes; ++j) acc[j] = wrapping_add(acc[j], std::int64_t{values[j]});
}

}  // namespace detail::conv

template <class Activation, class Weight>
conv_2d_prepared<Activation> prepare(const conv_2d_params<Activation, Weight>& params) {
    using namespace detail::conv;
    const std::string where = "CONV_2D";
    check_nhwc(where, "input", params.input_shape);
    check_nhwc(where, "filter", params.filter_shape);
    const std::int32_t channels = params.input_shape[3];
    const std::int32_t out_channels = params.filter_shape[0];
    const std::int32_t filter_channels = params.filter_shape[3];
    check(channels % filter_channels == 0, where, "input channels ", channels,
          " must be a multiple of the filter's input channels ", filter_channels, " (filter shape ",
          shape_text(params.filter_shape), ")");
    const std::int32_t groups = channels / filter_channels;
    check(out_channels % groups == 0, where, "output channels ", out_channels, " must be a multiple of the ", groups,
          " groups (input channels ", channels, " / filter input channels ", filter_channels, ")");
    check_activation_quantization<Activation>(where, "input", params.input_scale, params.input_zero_point);
    check_activation_quantization<Activation>(where, "output", params.output_scale, params.output_zero_point);

    conv_2d_prepared<Activation> p;
    p.input_shape = params.input_shape;
    p.filter_shape = params.filter_shape;
    p.stride_height = params.stride_height;
    p.stride_width = params.stride_width;
    p.dilation_height = params.dilation_height;
    p.dilation_width = params.dilation_width;
    const window_2d window{params.filter_shape[1], params.filter_shape[2], params.stride_height, params.stride_width,
                           params.dilation_height, params.dilation_width, params.padding};
    p.padding = compute_padding(window, params.input_shape[1], params.input_shape[2], params.input_padding, where);
    p.output_shape = {params.input_shape[0], p.padding.height.output_size, p.padding.width.output_size, out_channels};
    num_elements(p.output_shape, where);
    p.groups = groups;
    p.input_offset = -params.input_zero_point;

    const std::vector<float> weight_scales = filter_scales(where, params.filter, std::size_t(out_channels), 0);
    p.per_channel = params.filter.scales.size() > 1;
    compute_multipliers<Activation>(where, params.input_scale, weight_scales, params.output_scale, p.multipliers,
                                    p.shifts);
    p.output = output_range<Activation>(where, params.activation, params.output_scale, params.output_zero_point);
    p.filter = unpack_weights<Weight>(where, params.weights, num_elements(params.filter_shape));
    p.bias = bias_or_zeros(where, params.bias, std::size_t(out_channels));

    const std::size_t lanes = int32_lanes<xsimd::default_arch>;
    const std::size_t group_channels = std::size_t(out_channels / groups);
    const std::size_t padded = (group_channels + lanes - 1) / lanes * lanes;
    const std::size_t kh = std::size_t(params.filter_shape[1]), kw = std::size_t(params.filter_shape[2]);
    const std::size_t ic = std::size_t(filter_channels);
    p.packed_lanes = lanes;
    p.group_channels_padded = static_cast<std::int32_t>(padded);

    // Ungrouped int8: the GEMM kernels (TFLite's [O, KH, KW, I] filter is the
    // GEMM's [n][k] weight matrix with k = KH*KW*I).
    if constexpr (std::is_same_v<Activation, std::int8_t>) {
        if (groups == 1) {
            std::vector<quantized_multiplier> multipliers;
            for (std::size_t o = 0; o < std::size_t(out_channels); ++o) multipliers.push_back({p.multipliers[o], p.shifts[o]});
            if (!p.per_channel) multipliers.resize(1);  // the kernels' per-tensor epilogue
            p.pointwise = kh == 1 && kw == 1 && p.stride_height == 1 && p.stride_width == 1 &&
                          p.padding.height.before == 0 && p.padding.width.before == 0 &&
                          p.output_shape[1] == params.input_shape[1] && p.output_shape[2] == params.input_shape[2];
            if (p.pointwise) {
                kernels::gemm_int8_spec spec;
                spec.k = ic;
                spec.n = std::size_t(out_channels);
                spec.weights = p.filter;  // [O, 1, 1, I] is [n][k]
                spec.bias = p.bias;
                spec.input_zero_point = params.input_zero_point;
                spec.multipliers = multipliers;
                spec.output = p.output;
                p.gemm = kernels::pack_gemm_int8(spec);
            } else {
                kernels::conv_int8_spec spec;
                spec.shape.batches = std::size_t(params.input_shape[0]);
                spec.shape.height = std::size_t(params.input_shape[1]);
                spec.shape.width = std::size_t(params.input_shape[2]);
                spec.shape.channels = ic;
                spec.shape.kernel_height = kh;
                spec.shape.kernel_width = kw;
                spec.shape.stride_height = std::size_t(p.stride_height);
                spec.shape.stride_width = std::size_t(p.stride_width);
                spec.shape.dilation_height = std::size_t(p.dilation_height);
                spec.shape.dilation_width = std::size_t(p.dilation_width);
                spec.shape.pad_top = std::size_t(p.padding.height.before);
                spec.shape.pad_left = std::size_t(p.padding.width.before);
                spec.shape.out_height = std::size_t(p.output_shape[1]);
                spec.shape.out_width = std::size_t(p.output_shape[2]);
                spec.out_channels = std::size_t(out_channels);
                spec.weights = p.filter;
                spec.bias = p.bias;
                spec.input_zero_point = params.input_zero_point;
                spec.multipliers = multipliers;
                spec.output = p.output;
                p.conv = kernels::pack_conv_int8(spec);
                p.im2col = true;
            }
            return p;
        }
    }

    // xsimd layout, for the convolutions the GEMM kernels do not take.
    p.packed_filter.assign(std::size_t(groups) * kh * kw * ic * padded, 0);
    p.packed_bias.assign(std::size_t(groups) * padded, 0);
    for (std::size_t o = 0; o < std::size_t(out_channels); ++o) {
        const std::size_t g = o / group_channels, og = o % group_channels;
        p.packed_bias[g * padded + og] = p.bias[o];
        for (std::size_t y = 0; y < kh; ++y)
            for (std::size_t x = 0; x < kw; ++x)
                for (std::size_t i = 0; i < ic; ++i)
                    p.packed_filter[(((g * kh + y) * kw + x) * ic + i) * padded + og] =
                        p.filter[((o * kh + y) * kw + x) * ic + i];
    }
    return p;
}

namespace detail::conv {

// One output pixel, output channels [first, first + Tiles * lanes) of group g:
// Tiles accumulator batches stay in registers over every tap.  Writes the
// int32 (int8 path) or int64 (16x8) sums of the valid channels to `acc`.
template <class A, int Tiles, class Activation, class Acc>
void conv_pixel_tile(const conv_2d_prepared<Activation>& p, const Activation* in_batch, std::int32_t in_y0,
                     std::int32_t in_x0, std::size_t g, std::size_t first, Acc* acc) {
    using batch = xsimd::batch<std::int32_t, A>;
    constexpr std::size_t lanes = batch::size;
    constexpr bool wide = std::is_same_v<Activation, std::int16_t>;
    const std::int32_t height = p.input_shape[1], width = p.input_shape[2];
    const std::size_t channels = std::size_t(p.input_shape[3]);
    const std::int32_t kh = p.filter_shape[1], kw = p.filter_shape[2];
    const std::size_t ic = std::size_t(p.filter_shape[3]);
    const std::size_t padded = std::size_t(p.group_channels_padded);
    const std::size_t group_channels = std::size_t(p.output_shape[3] / p.groups);

    batch sum[Tiles];
    alignas(A::alignment()) std::int64_t wide_sum[wide ? Tiles * lanes : 1];
    for (int t = 0; t < Tiles; ++t) {
        const std::size_t at = g * padded + first + std::size_t(t) * lanes;
        if constexpr (wide) {
            sum[t] = batch(0);
            for (std::size_t j = 0; j < lanes; ++j) wide_sum[std::size_t(t) * lanes + j] = p.packed_bias[at + j];
        } else {
            sum[t] = batch::load_unaligned(p.packed_bias.data() + at);
        }
    }
    [[maybe_unused]] int pending = 0;  // products per lane in sum[] since the last widening (16x8)
    [[maybe_unused]] const auto flush = [&] {
        for (int t = 0; t < Tiles; ++t) {
            widen_add<A>(sum[t], wide_sum + std::size_t(t) * lanes);
            sum[t] = batch(0);
        }
        pending = 0;
    };
    const batch offset(p.input_offset);
    for (std::int32_t ky = 0; ky < kh; ++ky) {
        const std::int32_t y = in_y0 + p.dilation_height * ky;
        if (y < 0 || y >= height) continue;
        for (std::int32_t kx = 0; kx < kw; ++kx) {
            const std::int32_t x = in_x0 + p.dilation_width * kx;
            if (x < 0 || x >= width) continue;
            const Activation* in = in_batch + (std::size_t(y) * std::size_t(width) + std::size_t(x)) * channels + g * ic;
            const std::int32_t* w =
                p.packed_filter.data() + ((g * std::size_t(kh) + std::size_t(ky)) * std::size_t(kw) + std::size_t(kx)) * ic * padded + first;
            if constexpr (wide) {
                for (std::size_t i0 = 0; i0 < ic;) {
                    const std::size_t n = std::min(ic - i0, std::size_t(taps_per_int32_chunk - pending));
                    for (std::size_t i = i0; i < i0 + n; ++i) {
                        const batch v(static_cast<std::int32_t>(in[i]));
                        for (int t = 0; t < Tiles; ++t)
                            sum[t] += v * batch::load_unaligned(w + i * padded + std::size_t(t) * lanes);
                    }
                    i0 += n;
                    pending += static_cast<int>(n);
                    if (pending == taps_per_int32_chunk) flush();
                }
            } else {
                for (std::size_t i = 0; i < ic; ++i) {
                    const batch v = batch(static_cast<std::int32_t>(in[i])) + offset;
                    for (int t = 0; t < Tiles; ++t)
                        sum[t] += v * batch::load_unaligned(w + i * padded + std::size_t(t) * lanes);
                }
            }
        }
    }
    const std::size_t out_first = g * group_channels + first;
    for (int t = 0; t < Tiles; ++t) {
        const std::size_t start = first + std::size_t(t) * lanes;
        if (start >= group_channels) break;
        const std::size_t count = std::min(lanes, group_channels - start);
        if constexpr (wide) {
            widen_add<A>(sum[t], wide_sum + std::size_t(t) * lanes);
            std::copy(wide_sum + std::size_t(t) * lanes, wide_sum + std::size_t(t) * lanes + count,
                      acc + out_first + std::size_t(t) * lanes);
        } else {
            store_first<A>(sum[t], acc + out_first + std::size_t(t) * lanes, count);
        }
    }
}

inline constexpr int max_tiles = 4;

template <class A, class Activation, class Acc>
void conv_pixel(const conv_2d_prepared<Activation>& p, const Activation* in_batch, std::int32_t in_y0,
                std::int32_t in_x0, Acc* acc) {
    constexpr std::size_t lanes = int32_lanes<A>;
    const std::size_t padded = std::size_t(p.group_channels_padded);
    for (std::size_t g = 0; g < std::size_t(p.groups); ++g) {
        for (std::size_t first = 0; first < padded; first += max_tiles * lanes) {
            switch (std::min<std::size_t>(max_tiles, (padded - first) / lanes)) {
                case 4: conv_pixel_tile<A, 4>(p, in_batch, in_y0, in_x0, g, first, acc); break;
                case 3: conv_pixel_tile<A, 3>(p, in_batch, in_y0, in_x0, g, first, acc); break;
                case 2: conv_pixel_tile<A, 2>(p, in_batch, in_y0, in_x0, g, first, acc); break;
                default: conv_pixel_tile<A, 1>(p, in_batch, in_y0, in_x0, g, first, acc); break;
            }
        }
    }
}

}  // namespace detail::conv

// Fast path.  Throws qtl::error when the shapes differ from the prepared ones
// or `p` was packed for another lane count.  `options` apply to ungrouped
// int8 convolutions (threads to both GEMM paths, scratch to the im2col one);
// results never depend on them.
template <class Activation, class A = xsimd::default_arch>
void eval(const conv_2d_prepared<Activation>& p, std::type_identity_t<tensor_view<const Activation>> input,
          std::type_identity_t<tensor_view<Activation>> output, const kernels::conv_int8_options& options = {}) {
    using namespace detail::conv;
    const std::string where = "CONV_2D";
    check_runtime_shapes<Activation>(where, p.input_shape, p.output_shape, input.shape, output.shape);
    check(p.packed_lanes == int32_lanes<A>, where, "weights were packed for ", p.packed_lanes,
          " int32 lanes, this instruction set has ", int32_lanes<A>);
    constexpr bool wide = std::is_same_v<Activation, std::int16_t>;
    using acc_type = std::conditional_t<wide, std::int64_t, std::int32_t>;
    if constexpr (!wide) {
        if (p.pointwise) {
            const std::size_t pixels = std::size_t(p.input_shape[0]) * std::size_t(p.input_shape[1]) *
                                       std::size_t(p.input_shape[2]);
            kernels::gemm_int8_options gemm_options;
            gemm_options.threads = options.threads;
            kernels::gemm_int8(p.gemm, input.data.data(), pixels, std::size_t(p.input_shape[3]), output.data.data(),
                               std::size_t(p.output_shape[3]), gemm_options);
            return;
        }
        if (p.im2col) return kernels::conv_int8(p.conv, input.data, output.data, options);
    }
    (void)options;

    const std::size_t batches = std::size_t(p.input_shape[0]);
    const std::size_t in_image = std::size_t(p.input_shape[1]) * std::size_t(p.input_shape[2]) * std::size_t(p.input_shape[3]);
    const std::int32_t out_height = p.output_shape[1], out_width = p.output_shape[2];
    const std::size_t out_channels = std::size_t(p.output_shape[3]);
    const std::size_t row = std::size_t(out_width) * out_channels;
    std::vector<acc_type> acc(row);
    for (std::size_t n = 0; n < batches; ++n) {
        const Activation* in_batch = input.data.data() + n * in_image;
        for (std::int32_t oy = 0; oy < out_height; ++oy) {
            const std::int32_t in_y0 = oy * p.stride_height - p.padding.height.before;
            for (std::int32_t ox = 0; ox < out_width; ++ox)
                conv_pixel<A>(p, in_batch, in_y0, ox * p.stride_width - p.padding.width.before,
                              acc.data() + std::size_t(ox) * out_channels);
            Activation* out = output.data.data() + ((n * std::size_t(out_height)) + std::size_t(oy)) * row;
            if constexpr (wide) {
                for (std::size_t i = 0; i < row; ++i) {
                    const std::size_t o = i % out_channels;
                    out[i] = requantize_16x8(acc[i], p.multipliers[o], p.shifts[o], p.output);
                }
            } else if (p.per_channel) {
                requantize_channels_n<Activation, double_rounding, A>(acc.data(), row, p.multipliers.data(),
                                                                     p.shifts.data(), out_channels, p.output, out);
            } else {
                requantize_n<Activation, double_rounding, A>(acc.data(), row, {p.multipliers[0], p.shifts[0]}, p.output,
                                                            out);
            }
        }
    }
}

}  // namespace qtl::ops
