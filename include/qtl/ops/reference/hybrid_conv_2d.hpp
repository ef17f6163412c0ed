#pragma once
// Scalar reference of the hybrid CONV_2D (float in, int8 filter, float out):
// the loops of TFLite's reference_ops::HybridConvPerChannel, with the float
// stage of its default kernel (scale product first, then the bias).  The
// oracle ops::eval is tested against.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "qtl/core/tensor_view.hpp"
#include "qtl/ops/hybrid_conv_2d.hpp"

namespace qtl::ops::reference {

inline void eval(const hybrid_conv_2d_prepared& p, tensor_view<const float> input, tensor_view<float> output) {
    namespace hy = detail::hybrid;
    hy::check_conv_shapes(hy::conv_name, p.input_shape, p.output_shape, input.shape, output.shape);
    const std::int32_t batches = p.input_shape[0], input_height = p.input_shape[1], input_width = p.input_shape[2];
    const std::int32_t input_depth = p.input_shape[3];
    const std::int32_t filter_height = p.filter_shape[1], filter_width = p.filter_shape[2];
    const std::int32_t output_height = p.output_shape[1], output_width = p.output_shape[2];
    const std::int32_t output_depth = p.output_shape[3];
    const std::size_t input_size = static_cast<std::size_t>(input_height) * input_width * input_depth;
    std::vector<std::int8_t> q(input_size * static_cast<std::size_t>(batches));

    const auto in_at = [&](std::int32_t b, std::int32_t y, std::int32_t x, std::int32_t c) {
        return q[((static_cast<std::size_t>(b) * input_height + y) * input_width + x) * input_depth + c];
    };
    const auto filter_at = [&](std::int32_t o, std::int32_t y, std::int32_t x, std::int32_t c) {
        return p.filter[((static_cast<std::size_t>(o) * filter_height + y) * filter_width + x) * input_depth + c];
    };

    for (std::int32_t batch = 0; batch < batches; ++batch) {
        const std::size_t offset = static_cast<std::size_t>(batch) * input_size;
        const hy::input_quantization iq =
            hy::quantize_input(p.asymmetric, input.data.data() + offset, input_size, q.data() + offset);
        for (std::int32_t out_y = 0; out_y < output_height; ++out_y) {
            for (std::int32_t out_x = 0; out_x < output_width; ++out_x) {
                for (std::int32_t out_channel = 0; out_channel < output_depth; ++out_channel) {
                    const std::int32_t in_x_origin = out_x * p.stride_width - p.padding.width.before;
                    const std::int32_t in_y_origin = out_y * p.stride_height - p.padding.height.before;
                    std::int64_t acc = 0;
                    for (std::int32_t filter_y = 0; filter_y < filter_height; ++filter_y) {
                        for (std::int32_t filter_x = 0; filter_x < filter_width; ++filter_x) {
                            const std::int32_t in_x = in_x_origin + p.dilation_width * filter_x;
                            const std::int32_t in_y = in_y_origin + p.dilation_height * filter_y;
                            if (in_x < 0 || in_x >= input_width || in_y < 0 || in_y >= input_height) continue;
                            for (std::int32_t in_channel = 0; in_channel < input_depth; ++in_channel) {
                                const std::int32_t input_val = in_at(batch, in_y, in_x, in_channel);
                                const std::int32_t filter_val = filter_at(out_channel, filter_y, filter_x, in_channel);
                                acc += std::int64_t{filter_val} * (input_val - iq.zero_point);
                            }
                        }
                    }
                    const auto acc32 = static_cast<std::int32_t>(static_cast<std::uint32_t>(acc));
                    const float scale = p.weight_scales[static_cast<std::size_t>(out_channel)] * iq.scale;
                    float acc_float = hy::scaled(acc32, scale);
                    acc_float += p.bias.empty() ? 0.0f : p.bias[static_cast<std::size_t>(out_channel)];
                    output.data[((static_cast<std::size_t>(batch) * output_height + out_y) * output_width + out_x) *
                                    output_depth + out_channel] = hy::clamp(acc_float, p.lo, p.hi);
                }
            }
        }
    }
}

}  // namespace qtl::ops::reference
