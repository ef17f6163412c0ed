#pragma once
// DEPTHWISE_CONV_2D, integer: TFLite's builtin depthwise convolution on NHWC
// activations.  Each input channel c feeds depth_multiplier (M) output
// channels o = c * M + m, each with its own KH x KW filter:
//
//   out[n, y, x, c*M + m] = requantize(bias[o] + sum_{ky, kx}
//       w[0, ky, kx, o] * (in[n, y*sh - pad_top + ky*dh, x*sw - pad_left + kx*dw, c] - in_zp))
//
// taps outside the input skipped (zero padding).  Weights [1, KH, KW, C*M],
// symmetric, per tensor or per output channel along axis 3.  Type signatures
// and requantization as CONV_2D (see conv_2d.hpp, whose validation and
// requantize helpers this op shares): int8 with int8 or int4 weights and int32
// bias; 16x8 with int64 bias and TFLite's 64-bit requantization.
//
// eval() is the SIMD path.  int8 runs the kernels of kernels/depthwise_int8.hpp
// (VPMADDWD on tap pairs, AVX-512BW / AVX2 / portable picked at run time,
// weights packed in prepare).  16x8 widens each input image once to int32
// (offset added, channels padded to whole batches), then vectorizes over input
// channels, one pass per multiplier index m with the weights repacked as
// [m][kh][kw][c] in int32 lanes.  reference/depthwise_conv_2d.hpp mirrors
// TFLite's reference kernel (reference_integer_ops::DepthwiseConvPerChannel).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "qtl/core/element_types.hpp"
#include "qtl/core/error.hpp"
#include "qtl/core/shape.hpp"
#include "qtl/core/tensor_view.hpp"
#include "qtl/fixedpoint/requantize.hpp"
#include "qtl/fixedpoint/requantize_batch.hpp"
#include "qtl/kernels/depthwise_int8.hpp"
#include "qtl/ops/conv_2d.hpp"
#include "qtl/ops/fused_activation.hpp"
#include "qtl/ops/padding.hpp"
#include "qtl/quant/quant_params.hpp"

namespace qtl::ops {

template <class Activation, class Weight = std::int8_t>
struct depthwise_conv_2d_params {
    static_assert(is_conv_type_signature<Activation, Weight>,
                  "DEPTHWISE_CONV_2D supports int8 activations with int8 or int4 weights, and int16 activations with "
                  "int8 weights (16x8); TFLite has no kernel for other combinations");

    qtl::shape input_shape;   // [batches, height, width, channels]
    qtl::shape filter_shape;  // [1, filter_height, filter_width, channels * depth_multiplier]
    std::int32_t depth_multiplier = 1;
    float input_scale = 0.0f;
    std::int32_t input_zero_point = 0;
    float output_scale = 0.0f;
    std::int32_t output_zero_point = 0;
    qtl::quant_params filter;  // one scale, or channels * depth_multiplier scales with axis 3; zero points 0
    std::span<const conv_weight_storage_t<Weight>> weights;  // row-major over filter_shape
    std::span<const conv_bias_t<Activation>> bias;          // empty (no bias) or one per output channel
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
struct depthwise_conv_2d_prepared {
    using bias_type = conv_bias_t<Activation>;

    qtl::shape input_shape;   // [N, H, W, C]
    qtl::shape filter_shape;  // [1, KH, KW, C*M]
    qtl::shape output_shape;  // [N, OH, OW, C*M]
    std::int32_t depth_multiplier = 1;
    std::int32_t stride_height = 1, stride_width = 1;
    std::int32_t dilation_height = 1, dilation_width = 1;
    padded_window padding;
    std::int32_t input_offset = 0;    // -input_zero_point
    std::vector<std::int8_t> filter;  // [1, KH, KW, C*M], int4 weights unpacked
    std::vector<bias_type> bias;      // C*M values, zeros when the op has no bias
    bool per_channel = false;
    std::vector<std::int32_t> multipliers;  // C*M values
    std::vector<std::int32_t> shifts;
    requantize_params output;

    // 16x8 SIMD layout: input channels padded to a multiple of `packed_lanes`.
    std::size_t packed_lanes = 0;
    std::int32_t channels_padded = 0;
    std::vector<std::int32_t> packed_filter;  // [M][KH][KW][channels_padded]
    std::vector<bias_type> packed_bias;       // [M][channels_padded]

    // int8: the weights packed for the best depthwise kernel of this machine.
    kernels::depthwise_int8_packed kernel;
};

template <class Activation, class Weight>
depthwise_conv_2d_prepared<Activation> prepare(const depthwise_conv_2d_params<Activation, Weight>& params) {
    using namespace detail::conv;
    const std::string where = "DEPTHWISE_CONV_2D";
    check_nhwc(where, "input", params.input_shape);
    check_nhwc(where, "filter", params.filter_shape);
    check(params.filter_shape[0] == 1, where, "filter shape must be [1, height, width, channels * multiplier], got ",
          shape_text(params.filter_shape));
    check(params.depth_multiplier >= 1, where, "depth multiplier must be >= 1, got ", params.depth_multiplier);
    const std::int32_t channels = params.input_shape[3];
    const std::int32_t out_channels = params.filter_shape[3];
    check(std::int64_t{channels} * params.depth_multiplier == out_channels, where, "filter output channels ",
          out_channels, " must equal input channels ", channels, " * depth multiplier ", params.depth_multiplier);
    check_activation_quantization<Activation>(where, "input", params.input_scale, params.input_zero_point);
    check_activation_quantization<Activation>(where, "output", params.output_scale, params.output_zero_point);

    depthwise_conv_2d_prepared<Activation> p;
    p.input_shape = params.input_shape;
    p.filter_shape = params.filter_shape;
    p.depth_multiplier = params.depth_multiplier;
    p.stride_height = params.stride_height;
    p.stride_width = params.stride_width;
    p.dilation_height = params.dilation_height;
    p.dilation_width = params.dilation_width;
    const window_2d window{params.filter_shape[1], params.filter_shape[2], params.stride_height, params.stride_width,
                           params.dilation_height, params.dilation_width, params.padding};
    p.padding = compute_padding(window, params.input_shape[1], params.input_shape[2], params.input_padding, where);
    p.output_shape = {params.input_shape[0], p.padding.height.output_size, p.padding.width.output_size, out_channels};
    num_elements(p.output_shape, where);
    p.input_offset = -params.input_zero_point;

    const std::vector<float> weight_scales = filter_scales(where, params.filter, std::size_t(out_channels), 3);
    p.per_channel = params.filter.scales.size() > 1;
    compute_multipliers<Activation>(where, params.input_scale, weight_scales, params.output_scale, p.multipliers,
                                    p.shifts);
    p.output = output_range<Activation>(where, params.activation, params.output_scale, params.output_zero_point);
    p.filter = unpack_weights<Weight>(where, params.weights, num_elements(params.filter_shape));
    p.bias = bias_or_zeros(where, params.bias, std::size_t(out_channels));

    if constexpr (std::is_same_v<Activation, std::int8_t>) {
        kernels::depthwise_int8_spec spec;
        spec.batches = p.input_shape[0];
        spec.height = p.input_shape[1];
        spec.width = p.input_shape[2];
        spec.channels = channels;
        spec.depth_multiplier = p.depth_multiplier;
        spec.kernel_height = p.filter_shape[1];
        spec.kernel_width = p.filter_shape[2];
        spec.stride_height = p.stride_height;
        spec.stride_width = p.stride_width;
        spec.dilation_height = p.dilation_height;
        spec.dilation_width = p.dilation_width;
        spec.pad_top = p.padding.height.before;
        spec.pad_left = p.padding.width.before;
        spec.output_height = p.output_shape[1];
        spec.output_width = p.output_shape[2];
        spec.weights = p.filter;
        spec.bias = p.bias;
        spec.input_zero_point = params.input_zero_point;
        std::vector<quantized_multiplier> qms(p.per_channel ? p.multipliers.size() : 1);
        for (std::size_t o = 0; o < qms.size(); ++o) qms[o] = {p.multipliers[o], static_cast<int>(p.shifts[o])};
        spec.multipliers = qms;
        spec.output = p.output;
        p.kernel = kernels::pack_depthwise_int8(spec);
        return p;
    }

    // 16x8 SIMD layout: for multiplier index m, the weights of output channels c*M + m, c = 0..C-1.
    const std::size_t lanes = int32_lanes<xsimd::default_arch>;
    const std::size_t c_count = std::size_t(channels), m_count = std::size_t(params.depth_multiplier);
    const std::size_t padded = (c_count + lanes - 1) / lanes * lanes;
    const std::size_t taps = std::size_t(params.filter_shape[1]) * std::size_t(params.filter_shape[2]);
    p.packed_lanes = lanes;
    p.channels_padded = static_cast<std::int32_t>(padded);
    p.packed_filter.assign(m_count * taps * padded, 0);
    p.packed_bias.assign(m_count * padded, 0);
    for (std::size_t m = 0; m < m_count; ++m)
        for (std::size_t c = 0; c < c_count; ++c) {
            const std::size_t o = c * m_count + m;
            p.packed_bias[m * padded + c] = p.bias[o];
            for (std::size_t t = 0; t < taps; ++t)
                p.packed_filter[(m * taps + t) * padded + c] = p.filter[t * std::size_t(out_channels) + o];
        }
    return p;
}

namespace detail::depthwise {

// One image of the input widened to int32 with the input offset added, each
// pixel's channels padded with zeros to `padded`: the taps then load whole
// int32 batches (weights are zero in the padding lanes).
template <class Activation>
void widen_image(const Activation* in, std::size_t pixels, std::size_t channels, std::size_t padded,
                 std::int32_t offset, std::int32_t* out) noexcept {
    for (std::size_t i = 0; i < pixels; ++i, in += channels, out += padded) {
        for (std::size_t c = 0; c < channels; ++c) out[c] = std::int32_t{in[c]} + offset;
        std::fill(out + channels, out + padded, 0);
    }
}

// One output row (16x8; int8 runs kernels/depthwise_int8.hpp):
// acc[x * C*M + c * M + m] for every output pixel x and channel, from the
// widened image.  Loops channel batches outside the pixels so the batch's
// weights and bias stay hot.
template <class A, class Activation, class Acc>
void depthwise_row(const depthwise_conv_2d_prepared<Activation>& p, const std::int32_t* image, std::int32_t in_y0,
                   Acc* acc) {
    using batch = xsimd::batch<std::int32_t, A>;
    constexpr std::size_t lanes = batch::size;
    constexpr bool wide = std::is_same_v<Activation, std::int16_t>;
    const std::int32_t height = p.input_shape[1], width = p.input_shape[2];
    const std::size_t channels = std::size_t(p.input_shape[3]);
    const std::int32_t kh = p.filter_shape[1], kw = p.filter_shape[2];
    const std::size_t taps = std::size_t(kh) * std::size_t(kw);
    const std::size_t m_count = std::size_t(p.depth_multiplier);
    const std::size_t padded = std::size_t(p.channels_padded);
    const std::size_t out_channels = channels * m_count;
    const std::int32_t out_width = p.output_shape[2];
    // Filter rows inside the input are the same for the whole output row.
    std::int32_t ky_start = 0, ky_end = kh;
    while (ky_start < kh && in_y0 + p.dilation_height * ky_start < 0) ++ky_start;
    while (ky_end > ky_start && in_y0 + p.dilation_height * (ky_end - 1) >= height) --ky_end;

    for (std::size_t m = 0; m < m_count; ++m) {
        for (std::size_t c0 = 0; c0 < channels; c0 += lanes) {
            const std::size_t count = std::min(lanes, channels - c0);
            const std::int32_t* weights = p.packed_filter.data() + m * taps * padded + c0;
            const auto* bias = p.packed_bias.data() + m * padded + c0;
            for (std::int32_t ox = 0; ox < out_width; ++ox) {
                const std::int32_t in_x0 = ox * p.stride_width - p.padding.width.before;
                batch sum(0);
                alignas(A::alignment()) std::int64_t wide_sum[wide ? lanes : 1];
                if constexpr (wide) {
                    std::copy(bias, bias + lanes, wide_sum);
                } else {
                    sum = batch::load_unaligned(bias);
                }
                [[maybe_unused]] int pending = 0;  // products per lane in `sum` since the last widening (16x8)
                for (std::int32_t ky = ky_start; ky < ky_end; ++ky) {
                    const std::int32_t y = in_y0 + p.dilation_height * ky;
                    const std::int32_t* in_row = image + std::size_t(y) * std::size_t(width) * padded + c0;
                    const std::int32_t* w_row = weights + std::size_t(ky) * std::size_t(kw) * padded;
                    for (std::int32_t kx = 0; kx < kw; ++kx) {
                        const std::int32_t x = in_x0 + p.dilation_width * kx;
                        if (x < 0 || x >= width) continue;
                        sum += batch::load_unaligned(in_row + std::size_t(x) * padded) *
                               batch::load_unaligned(w_row + std::size_t(kx) * padded);
                        if constexpr (wide) {
                            if (++pending == conv::taps_per_int32_chunk) {
                                conv::widen_add<A>(sum, wide_sum);
                                sum = batch(0);
                                pending = 0;
                            }
                        }
                    }
                }
                Acc* out = acc + std::size_t(ox) * out_channels;
                if constexpr (wide) {
                    conv::widen_add<A>(sum, wide_sum);
                    if (m_count == 1) {
                        std::copy(wide_sum, wide_sum + count, out + c0);
                    } else {
                        for (std::size_t j = 0; j < count; ++j) out[(c0 + j) * m_count + m] = wide_sum[j];
                    }
                } else if (m_count == 1) {
                    conv::store_first<A>(sum, out + c0, count);
                } else {
                    alignas(A::alignment()) std::int32_t values[lanes];
                    sum.store_aligned(values);
                    for (std::size_t j = 0; j < count; ++j) out[(c0 + j) * m_count + m] = values[j];
                }
            }
        }
    }
}

}  // namespace detail::depthwise

namespace detail::depthwise {

// 16x8: the input image widened to int32, int64 accumulators.
template <class A>
void eval_16x8(const depthwise_conv_2d_prepared<std::int16_t>& p, const std::int16_t* input, std::int16_t* output) {
    using namespace detail::conv;
    check(p.packed_lanes == int32_lanes<A>, "DEPTHWISE_CONV_2D", "weights were packed for ", p.packed_lanes,
          " int32 lanes, this instruction set has ", int32_lanes<A>);
    const std::size_t batches = std::size_t(p.input_shape[0]);
    const std::size_t in_image = std::size_t(p.input_shape[1]) * std::size_t(p.input_shape[2]) * std::size_t(p.input_shape[3]);
    const std::int32_t out_height = p.output_shape[1], out_width = p.output_shape[2];
    const std::size_t out_channels = std::size_t(p.output_shape[3]);
    const std::size_t row = std::size_t(out_width) * out_channels;
    const std::size_t pixels = std::size_t(p.input_shape[1]) * std::size_t(p.input_shape[2]);
    std::vector<std::int64_t> acc(row);
    std::vector<std::int32_t> image(pixels * std::size_t(p.channels_padded));
    for (std::size_t n = 0; n < batches; ++n) {
        widen_image(input + n * in_image, pixels, std::size_t(p.input_shape[3]), std::size_t(p.channels_padded),
                    p.input_offset, image.data());
        for (std::int32_t oy = 0; oy < out_height; ++oy) {
            depthwise_row<A>(p, image.data(), oy * p.stride_height - p.padding.height.before, acc.data());
            std::int16_t* out = output + ((n * std::size_t(out_height)) + std::size_t(oy)) * row;
            for (std::size_t i = 0; i < row; ++i) {
                const std::size_t o = i % out_channels;
                out[i] = requantize_16x8(acc[i], p.multipliers[o], p.shifts[o], p.output);
            }
        }
    }
}

}  // namespace detail::depthwise

// SIMD path.  Throws qtl::error when the shapes differ from the prepared ones
// or (16x8) `p` was packed for another lane count.  int8 ignores A: its
// kernel was chosen by CPUID in prepare.
template <class Activation, class A = xsimd::default_arch>
void eval(const depthwise_conv_2d_prepared<Activation>& p, std::type_identity_t<tensor_view<const Activation>> input,
          std::type_identity_t<tensor_view<Activation>> output) {
    detail::conv::check_runtime_shapes<Activation>("DEPTHWISE_CONV_2D", p.input_shape, p.output_shape, input.shape,
                                                   output.shape);
    if constexpr (std::is_same_v<Activation, std::int8_t>)
        kernels::depthwise_int8(p.kernel, input.data.data(), output.data.data());
    else
        detail::depthwise::eval_16x8<A>(p, input.data.data(), output.data.data());
}

}  // namespace qtl::ops
