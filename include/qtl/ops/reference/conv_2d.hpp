#pragma once
// CONV_2D, scalar reference: the loops of TFLite's reference kernel
// (reference_integer_ops::ConvPerChannel, int8 and 16x8, with groups), one
// output element at a time, on the prepared (unpacked) weights.  The oracle
// for qtl::ops::eval of conv_2d_prepared; no SIMD here.

#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>

#include "qtl/core/error.hpp"
#include "qtl/core/tensor_view.hpp"
#include "qtl/fixedpoint/requantize.hpp"
#include "qtl/ops/conv_2d.hpp"

namespace qtl::ops::reference {

template <class Activation>
void eval(const conv_2d_prepared<Activation>& p, std::type_identity_t<tensor_view<const Activation>> input,
          std::type_identity_t<tensor_view<Activation>> output) {
    using detail::conv::wrapping_add;
    detail::conv::check_runtime_shapes<Activation>("CONV_2D", p.input_shape, p.output_shape, input.shape,
                                                   output.shape);
    constexpr bool wide = std::is_same_v<Activation, std::int16_t>;  // 16x8: int64 accumulator
    using acc_type = conv_bias_t<Activation>;

    const int batches = p.input_shape[0], input_height = p.input_shape[1], input_width = p.input_shape[2];
    const int input_depth = p.input_shape[3];
    const int output_depth = p.filter_shape[0], filter_height = p.filter_shape[1], filter_width = p.filter_shape[2];
    const int filter_input_depth = p.filter_shape[3];
    const int output_height = p.output_shape[1], output_width = p.output_shape[2];
    const int filters_per_group = output_depth / p.groups;
    const auto input_at = [&](int b, int y, int x, int c) {
        return input.data[((std::size_t(b) * input_height + y) * input_width + x) * input_depth + c];
    };
    const auto filter_at = [&](int o, int y, int x, int i) {
        return p.filter[((std::size_t(o) * filter_height + y) * filter_width + x) * filter_input_depth + i];
    };

    for (int batch = 0; batch < batches; ++batch) {
        for (int out_y = 0; out_y < output_height; ++out_y) {
            const int in_y_origin = out_y * p.stride_height - p.padding.height.before;
            for (int out_x = 0; out_x < output_width; ++out_x) {
                const int in_x_origin = out_x * p.stride_width - p.padding.width.before;
                for (int out_channel = 0; out_channel < output_depth; ++out_channel) {
                    const int group = out_channel / filters_per_group;
                    acc_type acc = 0;
                    for (int filter_y = 0; filter_y < filter_height; ++filter_y) {
                        const int in_y = in_y_origin + p.dilation_height * filter_y;
                        for (int filter_x = 0; filter_x < filter_width; ++filter_x) {
                            const int in_x = in_x_origin + p.dilation_width * filter_x;
                            // Zero padding: taps outside the image are skipped.
                            if (in_x < 0 || in_x >= input_width || in_y < 0 || in_y >= input_height) continue;
                            for (int in_channel = 0; in_channel < filter_input_depth; ++in_channel) {
                                const std::int32_t input_val =
                                    input_at(batch, in_y, in_x, in_channel + group * filter_input_depth);
                                const std::int32_t filter_val = filter_at(out_channel, filter_y, filter_x, in_channel);
                                if constexpr (wide)
                                    acc += std::int64_t{filter_val} * input_val;
                                else
                                    acc = wrapping_add(acc, filter_val * (input_val + p.input_offset));
                            }
                        }
                    }
                    acc = wrapping_add(acc, p.bias[std::size_t(out_channel)]);
                    Activation& out = output.data[((std::size_t(batch) * output_height + out_y) * output_width + out_x) *
                                                      output_depth + out_channel];
                    if constexpr (wide) {
                        out = detail::conv::requantize_16x8(acc, p.multipliers[std::size_t(out_channel)],
                                                            p.shifts[std::size_t(out_channel)], p.output);
                    } else {
                        const quantized_multiplier qm{p.multipliers[std::size_t(out_channel)],
                                                      static_cast<int>(p.shifts[std::size_t(out_channel)])};
                        out = requantize<Activation>(acc, qm, p.output);
                    }
                }
            }
        }
    }
}

}  // namespace qtl::ops::reference
