#pragma once
// CONV_2D, hybrid ("dynamic-range") kernel: float NHWC input, int8 filter
// [O, KH, KW, C], float bias, float output.  What TFLite runs for a float
// input with int8 weights (conv.cc EvalHybridPerChannel / EvalHybrid):
//
//   per batch image n (the whole H x W x C image, not per pixel):
//     1. quantize the image to int8 on the fly:
//          per-channel filter whose scales differ: asymmetric, scale s_n and
//            zero point z_n (AsymmetricQuantizeFloats; EvalHybridPerChannel)
//          otherwise (one scale, or all equal): symmetric, z_n = 0
//            (SymmetricQuantizeFloats; EvalHybrid)
//     2. acc[n, y, x, o] = sum over the in-bounds taps of w * (q - z_n)   (int32)
//        (taps outside the image contribute 0: real zero padding)
//     3. out = clamp(float(acc) * (w_scale[o] * s_n) + bias[o])
//
// CONV_2D has no asymmetric_quantize_inputs option: the choice above is
// TFLite's, made from the filter's scales.  The float stage follows TFLite's
// default (optimized) kernels: the scale product first, float(acc) times it
// (no FMA), then the bias, then the clamp.  Grouped convolution (filter depth
// != input depth) is refused.  TFLite versions: 2 per tensor, 5 per channel.
//
// eval() is the SIMD path: per output pixel, the patch (KH x KW x C codes,
// out-of-bounds taps filled with z_n, as TFLite's im2col does) widened to
// int16 and multiplied with 4 filter rows per pass (fully_connected.hpp's
// int16 multiply-add kernels), minus z_n * sum(w[o]).  reference/
// hybrid_conv_2d.hpp has TFLite's reference loops; both give the same bits.

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
#include "qtl/ops/hybrid_fully_connected.hpp"
#include "qtl/ops/padding.hpp"
#include "qtl/quant/quant_params.hpp"

namespace qtl::ops {

struct hybrid_conv_2d_params {
    qtl::shape input_shape;   // float [N, H, W, C]
    qtl::shape filter_shape;  // [O, KH, KW, C]
    std::span<const std::int8_t> weights;  // row-major over filter_shape
    std::span<const float> bias;           // O values; empty: no bias
    quant_params filter;                   // 1 scale, or O scales on axis 0; zero points 0 (or none)
    std::int32_t stride_height = 1, stride_width = 1;
    std::int32_t dilation_height = 1, dilation_width = 1;
    qtl::ops::padding padding = padding::valid;
    fused_activation activation = fused_activation::none;
};

struct hybrid_conv_2d_prepared {
    qtl::shape input_shape;   // [N, H, W, C]
    qtl::shape filter_shape;  // [O, KH, KW, C]
    qtl::shape output_shape;  // [N, OH, OW, O]
    std::int32_t stride_height = 1, stride_width = 1;
    std::int32_t dilation_height = 1, dilation_width = 1;
    padded_window padding;
    bool asymmetric = true;  // per-channel scales that differ (EvalHybridPerChannel)

    std::vector<std::int8_t> filter;     // [O, KH, KW, C]
    std::vector<float> weight_scales;    // [O]
    std::vector<float> bias;             // [O]; empty: no bias
    std::vector<std::int32_t> row_sums;  // [O]: sum of each filter
    float lo = -std::numeric_limits<float>::infinity();
    float hi = std::numeric_limits<float>::infinity();

    // SIMD layout: each filter flattened to KH*KW*C values, padded to a multiple of 32; O padded to 4.
    std::size_t patch = 0;
    std::size_t padded_patch = 0;
    std::vector<std::int8_t> packed_filter;
};

namespace detail::hybrid {

inline const std::string conv_name = "CONV_2D (hybrid)";

inline void check_nhwc(const std::string& where, const char* tensor, const qtl::shape& s) {
    check(s.size() == 4, where, tensor, " must have rank 4, got shape ", shape_text(s));
    for (std::size_t d = 0; d < 4; ++d)
        check(s[d] >= 1, where, tensor, " dimensions must be >= 1, got shape ", shape_text(s));
    (void)num_elements(s, where);
}

inline void check_conv_shapes(const std::string& where, const qtl::shape& prepared_in, const qtl::shape& prepared_out,
                              const qtl::shape& in, const qtl::shape& out) {
    if (in != prepared_in)
        throw error(where, qtl::detail::concat("input shape ", to_string(in), " does not match the prepared ",
                                               to_string(prepared_in)));
    if (out != prepared_out)
        throw error(where, qtl::detail::concat("output shape ", to_string(out), " does not match the prepared ",
                                               to_string(prepared_out)));
}

}  // namespace detail::hybrid

inline hybrid_conv_2d_prepared prepare(const hybrid_conv_2d_params& params) {
    namespace hy = detail::hybrid;
    namespace fc = detail::fully_connected;
    const std::string& where = hy::conv_name;
    hy::check_nhwc(where, "input", params.input_shape);
    hy::check_nhwc(where, "filter", params.filter_shape);
    const qtl::shape& s = params.input_shape;
    const qtl::shape& f = params.filter_shape;
    check(f[3] == s[3], where, "filter ", shape_text(f), " reads ", f[3], " channels but the input ", shape_text(s),
          " has ", s[3], " (grouped hybrid convolution is not supported)");
    const auto channels = static_cast<std::size_t>(f[0]);
    const std::size_t patch = static_cast<std::size_t>(f[1]) * static_cast<std::size_t>(f[2]) * static_cast<std::size_t>(f[3]);
    check(params.weights.size() == channels * patch, where, "filter ", shape_text(f), " needs ", channels * patch,
          " values, got ", params.weights.size());

    hybrid_conv_2d_prepared p;
    p.weight_scales = hy::weight_scales(where, params.filter, channels, 0);
    p.asymmetric = false;
    if (params.filter.scales.size() > 1)
        for (float sc : params.filter.scales) p.asymmetric = p.asymmetric || sc != params.filter.scales[0];
    p.bias = hy::checked_bias(where, params.bias, channels);
    std::tie(p.lo, p.hi) = hy::activation_clamp(params.activation, where);
    const window_2d window{f[1], f[2], params.stride_height, params.stride_width, params.dilation_height,
                           params.dilation_width, params.padding};
    p.padding = compute_padding(window, s[1], s[2], where);
    p.input_shape = s;
    p.filter_shape = f;
    p.output_shape = {s[0], p.padding.height.output_size, p.padding.width.output_size, f[0]};
    p.stride_height = params.stride_height;
    p.stride_width = params.stride_width;
    p.dilation_height = params.dilation_height;
    p.dilation_width = params.dilation_width;
    p.filter.assign(params.weights.begin(), params.weights.end());
    p.patch = patch;
    p.padded_patch = fc::round_up(patch, fc::depth_step);
    p.packed_filter.assign(fc::round_up(channels, fc::row_block) * p.padded_patch, 0);
    p.row_sums.assign(channels, 0);
    for (std::size_t o = 0; o < channels; ++o)
        for (std::size_t k = 0; k < patch; ++k) {
            const std::int8_t w = p.filter[o * patch + k];
            p.row_sums[o] += w;
            p.packed_filter[o * p.padded_patch + k] = w;
        }
    return p;
}

// SIMD evaluation, bit-identical to reference::eval.
template <class A = xsimd::default_arch>
void eval(const hybrid_conv_2d_prepared& p, tensor_view<const float> input, tensor_view<float> output) {
    namespace hy = detail::hybrid;
    namespace fc = detail::fully_connected;
    hy::check_conv_shapes(hy::conv_name, p.input_shape, p.output_shape, input.shape, output.shape);
    const std::int32_t batches = p.input_shape[0], in_h = p.input_shape[1], in_w = p.input_shape[2];
    const std::int32_t depth = p.input_shape[3];
    const std::int32_t kh = p.filter_shape[1], kw = p.filter_shape[2];
    const std::int32_t out_h = p.output_shape[1], out_w = p.output_shape[2];
    const auto channels = static_cast<std::size_t>(p.output_shape[3]);
    const std::size_t image = static_cast<std::size_t>(in_h) * static_cast<std::size_t>(in_w) * static_cast<std::size_t>(depth);
    const std::size_t padded_channels = fc::round_up(channels, fc::row_block);
    std::vector<std::int8_t> q(image);
    std::vector<std::int16_t> patch(p.padded_patch, 0);  // the padding past `patch` stays 0
    std::int32_t dots[fc::row_block];
    std::vector<float> scales(channels);

    for (std::int32_t n = 0; n < batches; ++n) {
        const float* x = input.data.data() + static_cast<std::size_t>(n) * image;
        const hy::input_quantization iq = hy::quantize_input(p.asymmetric, x, image, q.data());
        for (std::size_t o = 0; o < channels; ++o) scales[o] = p.weight_scales[o] * iq.scale;
        const auto fill = static_cast<std::int16_t>(iq.zero_point);
        for (std::int32_t oy = 0; oy < out_h; ++oy) {
            for (std::int32_t ox = 0; ox < out_w; ++ox) {
                const std::int32_t y0 = oy * p.stride_height - p.padding.height.before;
                const std::int32_t x0 = ox * p.stride_width - p.padding.width.before;
                std::size_t k = 0;
                for (std::int32_t fy = 0; fy < kh; ++fy) {
                    const std::int32_t iy = y0 + fy * p.dilation_height;
                    for (std::int32_t fx = 0; fx < kw; ++fx) {
                        const std::int32_t ix = x0 + fx * p.dilation_width;
                        if (iy >= 0 && iy < in_h && ix >= 0 && ix < in_w) {
                            const std::int8_t* src =
                                q.data() + (static_cast<std::size_t>(iy) * in_w + static_cast<std::size_t>(ix)) * depth;
                            for (std::int32_t c = 0; c < depth; ++c) patch[k + c] = src[c];
                        } else {
                            for (std::int32_t c = 0; c < depth; ++c) patch[k + c] = fill;
                        }
                        k += static_cast<std::size_t>(depth);
                    }
                }
                float* out = output.data.data() +
                             ((static_cast<std::size_t>(n) * out_h + oy) * out_w + ox) * channels;
                for (std::size_t o = 0; o < padded_channels; o += fc::row_block) {
                    fc::dot_4_rows<A>(patch.data(), p.packed_filter.data() + o * p.padded_patch, p.padded_patch,
                                      p.padded_patch, dots);
                    for (std::size_t j = 0; j < fc::row_block && o + j < channels; ++j) {
                        const std::size_t c = o + j;
                        const auto correction = static_cast<std::int32_t>(static_cast<std::uint32_t>(p.row_sums[c]) *
                                                                          static_cast<std::uint32_t>(-iq.zero_point));
                        float v = hy::scaled(fc::wrapping_add(dots[j], correction), scales[c]);
                        v += p.bias.empty() ? 0.0f : p.bias[c];
                        out[c] = hy::clamp(v, p.lo, p.hi);
                    }
                }
            }
        }
    }
}

}  // namespace qtl::ops
