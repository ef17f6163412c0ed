#pragma once
// DEPTHWISE_CONV_2D, hybrid ("dynamic-range") kernel: float NHWC input with
// C channels, int8 filter [1, KH, KW, C*M] quantized per output channel,
// float bias, float output.  What TFLite runs for a float input with int8
// weights (depthwise_conv.cc EvalHybridPerChannel):
//
//   per batch image n (the whole image):
//     1. quantize it asymmetrically to int8: scale s_n, zero point z_n
//        (AsymmetricQuantizeFloats; TFLite's depthwise hybrid is always
//        asymmetric and always per channel)
//     2. acc[n, y, x, c*M + m] = sum over the in-bounds taps of
//          w[0, ky, kx, c*M + m] * (q[n, iy, ix, c] - z_n)              (int32)
//     3. out = clamp((float(acc) * s_n) * w_scale[o] + bias[o])
//
// The float stage is that of TFLite's default kernel on x86
// (DepthwiseConvHybridGeneral: acc * input_scale * per_channel_scale, left
// to right, no FMA), then the bias, then the clamp.  The filter needs one
// scale per output channel (TFLite reads scale[o] for every o; a single
// scale is accepted only when there is one output channel).  TFLite versions:
// 6 per channel (io/tflite/op_versions.hpp).
//
// eval() is the SIMD path: the image's centred codes (q - z_n) widened to
// int32 once, output channels in xsimd int32 lanes, one multiply-add per
// in-bounds tap; reference/hybrid_depthwise_conv_2d.hpp has the plain loops.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "qtl/core/error.hpp"
#include "qtl/core/shape.hpp"
#include "qtl/core/tensor_view.hpp"
#include "qtl/ops/fused_activation.hpp"
#include "qtl/ops/hybrid_conv_2d.hpp"
#include "qtl/ops/hybrid_fully_connected.hpp"
#include "qtl/ops/padding.hpp"
#include "qtl/quant/quant_params.hpp"

namespace qtl::ops {

struct hybrid_depthwise_conv_2d_params {
    qtl::shape input_shape;   // float [N, H, W, C]
    qtl::shape filter_shape;  // [1, KH, KW, C * M]
    std::span<const std::int8_t> weights;  // row-major over filter_shape
    std::span<const float> bias;           // C * M values; empty: no bias
    quant_params filter;                   // C * M scales on axis 3; zero points 0 (or none)
    std::int32_t stride_height = 1, stride_width = 1;
    std::int32_t dilation_height = 1, dilation_width = 1;
    qtl::ops::padding padding = padding::valid;
    fused_activation activation = fused_activation::none;
};

struct hybrid_depthwise_conv_2d_prepared {
    qtl::shape input_shape;   // [N, H, W, C]
    qtl::shape filter_shape;  // [1, KH, KW, C*M]
    qtl::shape output_shape;  // [N, OH, OW, C*M]
    std::int32_t depth_multiplier = 1;
    std::int32_t stride_height = 1, stride_width = 1;
    std::int32_t dilation_height = 1, dilation_width = 1;
    padded_window padding;

    std::vector<std::int8_t> filter;   // [1, KH, KW, C*M]
    std::vector<float> weight_scales;  // [C*M]
    std::vector<float> bias;           // [C*M]; empty: no bias
    float lo = -std::numeric_limits<float>::infinity();
    float hi = std::numeric_limits<float>::infinity();

    // SIMD layout: output channels padded to whole int32 batches.
    std::size_t padded_channels = 0;
    std::vector<std::int32_t> packed_filter;  // [KH][KW][padded_channels], zero padded
};

namespace detail::hybrid {
inline const std::string depthwise_name = "DEPTHWISE_CONV_2D (hybrid)";
}  // namespace detail::hybrid

inline hybrid_depthwise_conv_2d_prepared prepare(const hybrid_depthwise_conv_2d_params& params) {
    namespace hy = detail::hybrid;
    const std::string& where = hy::depthwise_name;
    hy::check_nhwc(where, "input", params.input_shape);
    hy::check_nhwc(where, "filter", params.filter_shape);
    const qtl::shape& s = params.input_shape;
    const qtl::shape& f = params.filter_shape;
    check(f[0] == 1 && f[3] % s[3] == 0, where, "filter ", shape_text(f),
          " must be [1, KH, KW, C * multiplier] for an input with ", s[3], " channels");
    const auto channels = static_cast<std::size_t>(f[3]);
    const std::size_t taps = static_cast<std::size_t>(f[1]) * static_cast<std::size_t>(f[2]);
    check(params.weights.size() == taps * channels, where, "filter ", shape_text(f), " needs ", taps * channels,
          " values, got ", params.weights.size());

    hybrid_depthwise_conv_2d_prepared p;
    p.weight_scales = hy::weight_scales(where, params.filter, channels, 3, /*require_per_channel=*/true);
    p.bias = hy::checked_bias(where, params.bias, channels);
    std::tie(p.lo, p.hi) = hy::activation_clamp(params.activation, where);
    const window_2d window{f[1], f[2], params.stride_height, params.stride_width, params.dilation_height,
                           params.dilation_width, params.padding};
    p.padding = compute_padding(window, s[1], s[2], where);
    p.input_shape = s;
    p.filter_shape = f;
    p.output_shape = {s[0], p.padding.height.output_size, p.padding.width.output_size, f[3]};
    p.depth_multiplier = f[3] / s[3];  // TFLite derives it from the shapes
    p.stride_height = params.stride_height;
    p.stride_width = params.stride_width;
    p.dilation_height = params.dilation_height;
    p.dilation_width = params.dilation_width;
    p.filter.assign(params.weights.begin(), params.weights.end());

    constexpr std::size_t lanes = xsimd::batch<std::int32_t>::size;
    p.padded_channels = (channels + lanes - 1) / lanes * lanes;
    p.packed_filter.assign(taps * p.padded_channels, 0);
    for (std::size_t t = 0; t < taps; ++t)
        for (std::size_t o = 0; o < channels; ++o) p.packed_filter[t * p.padded_channels + o] = p.filter[t * channels + o];
    return p;
}

// SIMD evaluation, bit-identical to reference::eval.  The packing uses the
// default arch's lane count, so A must have the same int32 width.
template <class A = xsimd::default_arch>
void eval(const hybrid_depthwise_conv_2d_prepared& p, tensor_view<const float> input, tensor_view<float> output) {
    namespace hy = detail::hybrid;
    using batch = xsimd::batch<std::int32_t, A>;
    constexpr std::size_t lanes = batch::size;
    check(p.padded_channels % lanes == 0, hy::depthwise_name, "prepared for another SIMD width");
    hy::check_conv_shapes(hy::depthwise_name, p.input_shape, p.output_shape, input.shape, output.shape);
    const std::int32_t batches = p.input_shape[0], in_h = p.input_shape[1], in_w = p.input_shape[2];
    const std::int32_t depth = p.input_shape[3], multiplier = p.depth_multiplier;
    const std::int32_t kh = p.filter_shape[1], kw = p.filter_shape[2];
    const std::int32_t out_h = p.output_shape[1], out_w = p.output_shape[2];
    const auto channels = static_cast<std::size_t>(p.output_shape[3]);
    const std::size_t pc = p.padded_channels;
    const std::size_t pixels = static_cast<std::size_t>(in_h) * static_cast<std::size_t>(in_w);
    const std::size_t image = pixels * static_cast<std::size_t>(depth);
    std::vector<std::int8_t> q(image);
    std::vector<std::int32_t> centred(pixels * pc, 0);  // [H][W][padded_channels]: q[c / M] - z
    alignas(64) std::int32_t acc_lanes[lanes];
    std::vector<std::int32_t> acc(pc);

    for (std::int32_t n = 0; n < batches; ++n) {
        const float* x = input.data.data() + static_cast<std::size_t>(n) * image;
        const auto rq = detail::fully_connected::quantize_row_asymmetric(x, image, q.data());
        for (std::size_t px = 0; px < pixels; ++px)
            for (std::size_t o = 0; o < channels; ++o)
                centred[px * pc + o] = std::int32_t{q[px * static_cast<std::size_t>(depth) + o / static_cast<std::size_t>(multiplier)]} -
                                       rq.zero_point;
        for (std::int32_t oy = 0; oy < out_h; ++oy) {
            const std::int32_t y0 = oy * p.stride_height - p.padding.height.before;
            for (std::int32_t ox = 0; ox < out_w; ++ox) {
                const std::int32_t x0 = ox * p.stride_width - p.padding.width.before;
                for (std::size_t o = 0; o < pc; o += lanes) {
                    batch sum(0);
                    for (std::int32_t fy = 0; fy < kh; ++fy) {
                        const std::int32_t iy = y0 + fy * p.dilation_height;
                        if (iy < 0 || iy >= in_h) continue;
                        for (std::int32_t fx = 0; fx < kw; ++fx) {
                            const std::int32_t ix = x0 + fx * p.dilation_width;
                            if (ix < 0 || ix >= in_w) continue;
                            const std::size_t tap = static_cast<std::size_t>(fy) * kw + static_cast<std::size_t>(fx);
                            const std::size_t px = static_cast<std::size_t>(iy) * in_w + static_cast<std::size_t>(ix);
                            sum += batch::load_unaligned(p.packed_filter.data() + tap * pc + o) *
                                   batch::load_unaligned(centred.data() + px * pc + o);
                        }
                    }
                    sum.store_aligned(acc_lanes);
                    std::copy(acc_lanes, acc_lanes + lanes, acc.begin() + static_cast<std::ptrdiff_t>(o));
                }
                float* out = output.data.data() + ((static_cast<std::size_t>(n) * out_h + oy) * out_w + ox) * channels;
                for (std::size_t c = 0; c < channels; ++c) {
                    float v = hy::scaled(acc[c], rq.scale);  // (acc * s_n) * w_scale[c], each rounded
                    v = detail::fully_connected::separate_product(v, p.weight_scales[c]);
                    v += p.bias.empty() ? 0.0f : p.bias[c];
                    out[c] = hy::clamp(v, p.lo, p.hi);
                }
            }
        }
    }
}

}  // namespace qtl::ops
