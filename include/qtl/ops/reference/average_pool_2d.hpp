#pragma once
// AVERAGE_POOL_2D, scalar reference: the loops of TFLite's
// reference_integer_ops::AveragePool (int8 and int16), the oracle for
// qtl::ops::eval of average_pool_2d_prepared; no SIMD here.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "qtl/core/error.hpp"
#include "qtl/core/tensor_view.hpp"
#include "qtl/ops/average_pool_2d.hpp"

namespace qtl::ops::reference {

template <class T>
void eval(const average_pool_2d_prepared<T>& p, std::type_identity_t<tensor_view<const T>> input,
          std::type_identity_t<tensor_view<T>> output) {
    detail::pool::check_runtime_shapes<T>("AVERAGE_POOL_2D", p.input_shape, p.output_shape, input.shape,
                                          output.shape);
    const int batches = p.input_shape[0], input_height = p.input_shape[1], input_width = p.input_shape[2];
    const int depth = p.input_shape[3];
    const int output_height = p.output_shape[1], output_width = p.output_shape[2];
    for (int batch = 0; batch < batches; ++batch) {
        for (int out_y = 0; out_y < output_height; ++out_y) {
            for (int out_x = 0; out_x < output_width; ++out_x) {
                for (int channel = 0; channel < depth; ++channel) {
                    const int in_x_origin = out_x * p.stride_width - p.padding.width.before;
                    const int in_y_origin = out_y * p.stride_height - p.padding.height.before;
                    // The filter region clamped to the input.
                    const int filter_x_start = std::max(0, -in_x_origin);
                    const int filter_x_end = std::min(p.filter_width, input_width - in_x_origin);
                    const int filter_y_start = std::max(0, -in_y_origin);
                    const int filter_y_end = std::min(p.filter_height, input_height - in_y_origin);
                    std::int32_t acc = 0;
                    int filter_count = 0;
                    for (int filter_y = filter_y_start; filter_y < filter_y_end; ++filter_y) {
                        for (int filter_x = filter_x_start; filter_x < filter_x_end; ++filter_x) {
                            const int in_x = in_x_origin + filter_x;
                            const int in_y = in_y_origin + filter_y;
                            acc += input.data[((std::size_t(batch) * input_height + in_y) * input_width + in_x) * depth +
                                              channel];
                            ++filter_count;
                        }
                    }
                    if (filter_count == 0)  // cannot happen for a prepared SAME / VALID window
                        throw error("AVERAGE_POOL_2D", qtl::detail::concat("window of output (", out_y, ", ", out_x,
                                                                      ") holds no input value"));
                    // Round to the closest integer, ties away from zero.
                    acc = acc > 0 ? (acc + filter_count / 2) / filter_count : (acc - filter_count / 2) / filter_count;
                    acc = std::max(acc, p.output.activation_min);
                    acc = std::min(acc, p.output.activation_max);
                    output.data[((std::size_t(batch) * output_height + out_y) * output_width + out_x) * depth + channel] =
                        static_cast<T>(acc);
                }
            }
        }
    }
}

}  // namespace qtl::ops::reference
