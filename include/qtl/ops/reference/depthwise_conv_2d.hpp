#pragma once
// DEPTHWISE_CONV_2D, scalar reference: the loops of TFLite's reference kernel
// (reference_integer_ops::DepthwiseConvPerChannel, int8 and 16x8), one output
// element at a time, on the prepared (unpacked) weights.  The oracle for
// qtl::ops::eval of depthwise_conv_2d_prepared; no SIMD here.

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "qtl/core/tensor_view.hpp"
#include "qtl/fixedpoint/requantize.hpp"
#include "qtl/ops/depthwise_conv_2d.hpp"

namespace qtl::ops::reference {

template <class Activation>
void eval(const depthwise_conv_2d_prepared<Activation>& p, std::type_identity_t<tensor_view<const Activation>> input,
          std::type_identity_t<tensor_view<Activation>> output) {
    using detail::conv::wrapping_add;
    detail::conv::check_runtime_shapes<Activation>("DEPTHWISE_CONV_2D", p.input_shape, p.output_shape, input.shape,
                                                   output.shape);
    constexpr bool wide = std::is_same_v<Activation, std::int16_t>;  // 16x8: int64 accumulator
    using acc_type = conv_bias_t<Activation>;

    const int batches = p.input_shape[0], input_height = p.input_shape[1], input_width = p.input_shape[2];
    const int input_depth = p.input_shape[3];
    const int filter_height = p.filter_shape[1], filter_width = p.filter_shape[2];
    const int output_height = p.output_shape[1], output_width = p.output_shape[2], output_depth = p.output_shape[3];
    const int depth_multiplier = p.depth_multiplier;

    for (int batch = 0; batch < batches; ++batch) {
        for (int out_y = 0; out_y < output_height; ++out_y) {
            for (int out_x = 0; out_x < output_width; ++out_x) {
                for (int in_channel = 0; in_channel < input_depth; ++in_channel) {
                    for (int m = 0; m < depth_multiplier; ++m) {
                        const int output_channel = m + in_channel * depth_multiplier;
                        const int in_x_origin = out_x * p.stride_width - p.padding.width.before;
                        const int in_y_origin = out_y * p.stride_height - p.padding.height.before;
                        acc_type acc = 0;
                        for (int filter_y = 0; filter_y < filter_height; ++filter_y) {
                            for (int filter_x = 0; filter_x < filter_width; ++filter_x) {
                                const int in_x = in_x_origin + p.dilation_width * filter_x;
                                const int in_y = in_y_origin + p.dilation_height * filter_y;
                                // Zero padding: taps outside the image are skipped.
                                if (in_x < 0 || in_x >= input_width || in_y < 0 || in_y >= input_height) continue;
                                const std::int32_t input_val =
                                    input.data[((std::size_t(batch) * input_height + in_y) * input_width + in_x) *
                                                   input_depth + in_channel];
                                const std::int32_t filter_val =
                                    p.filter[(std::size_t(filter_y) * filter_width + filter_x) * output_depth +
                                             output_channel];
                                if constexpr (wide)
                                    acc += std::int64_t{filter_val} * input_val;
                                else
                                    acc = wrapping_add(acc, filter_val * (input_val + p.input_offset));
                            }
                        }
                        acc = wrapping_add(acc, p.bias[std::size_t(output_channel)]);
                        Activation& out =
                            output.data[((std::size_t(batch) * output_height + out_y) * output_width + out_x) *
                                            output_depth + output_channel];
                        if constexpr (wide) {
                            out = detail::conv::requantize_16x8(acc, p.multipliers[std::size_t(output_channel)],
                                                                p.shifts[std::size_t(output_channel)], p.output);
                        } else {
                            const quantized_multiplier qm{p.multipliers[std::size_t(output_channel)],
                                                          static_cast<int>(p.shifts[std::size_t(output_channel)])};
                            out = requantize<Activation>(acc, qm, p.output);
                        }
                    }
                }
            }
        }
    }
}

}  // namespace qtl::ops::reference
