#pragma once
// MAX_POOL_2D, integer (int8 or int16): TFLite's builtin max pooling on NHWC
// activations.  Input and output share scale and zero point, so the maximum is
// taken on the stored values:
//
//   out = clamp(max of the window's values inside the input, act_min, act_max)
//
// taps in the padding are left out (they are not zeros), and [act_min,
// act_max] is the fused activation's range (TFLite's
// reference_integer_ops::MaxPool).  The spec checks are AVERAGE_POOL_2D's
// (TFLite's pooling ops share one Prepare; so do qtl's, see
// detail::pool::prepare_pool in average_pool_2d.hpp).
//
// eval() is the SIMD path (xsimd, vectorized over channels in lanes of the
// element type itself); reference/max_pool_2d.hpp mirrors TFLite's loops.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>

#include <xsimd/xsimd.hpp>

#include "qtl/core/shape.hpp"
#include "qtl/core/tensor_view.hpp"
#include "qtl/fixedpoint/requantize.hpp"
#include "qtl/ops/average_pool_2d.hpp"
#include "qtl/ops/fused_activation.hpp"
#include "qtl/ops/padding.hpp"

namespace qtl::ops {

template <class T>
struct max_pool_2d_params {
    static_assert(std::is_same_v<T, std::int8_t> || std::is_same_v<T, std::int16_t>,
                  "MAX_POOL_2D supports int8 and int16 activations; TFLite has no other integer kernel");

    qtl::shape input_shape;  // [batches, height, width, channels]
    float input_scale = 0.0f;
    std::int32_t input_zero_point = 0;
    float output_scale = 0.0f;           // must equal input_scale
    std::int32_t output_zero_point = 0;  // must equal input_zero_point
    std::int32_t filter_height = 1;
    std::int32_t filter_width = 1;
    std::int32_t stride_height = 1;
    std::int32_t stride_width = 1;
    qtl::ops::padding padding = padding::valid;
    fused_activation activation = fused_activation::none;
};

template <class T>
struct max_pool_2d_prepared {
    qtl::shape input_shape;   // [N, H, W, C]
    qtl::shape output_shape;  // [N, OH, OW, C]
    std::int32_t filter_height = 1, filter_width = 1;
    std::int32_t stride_height = 1, stride_width = 1;
    padded_window padding;
    requantize_params output;  // activation_min / activation_max: the fused activation's clamp
};

template <class T>
max_pool_2d_prepared<T> prepare(const max_pool_2d_params<T>& params) {
    max_pool_2d_prepared<T> p;
    p.padding = detail::pool::prepare_pool<T>("MAX_POOL_2D", params, p.output, p.output_shape);
    p.input_shape = params.input_shape;
    p.filter_height = params.filter_height;
    p.filter_width = params.filter_width;
    p.stride_height = params.stride_height;
    p.stride_width = params.stride_width;
    return p;
}

namespace detail::pool {

// Loads `count` (1..lanes) values; missing lanes get the type's lowest value.
template <class A, class T>
xsimd::batch<T, A> load_or_lowest(const T* src, std::size_t count) noexcept {
    using batch = xsimd::batch<T, A>;
    if (count == batch::size) return batch::load_unaligned(src);
    alignas(A::alignment()) T values[batch::size];
    std::fill(values, values + batch::size, std::numeric_limits<T>::lowest());
    std::copy(src, src + count, values);
    return batch::load_aligned(values);
}

}  // namespace detail::pool

// SIMD path.  Throws qtl::error when the shapes differ from the prepared ones.
template <class T, class A = xsimd::default_arch>
void eval(const max_pool_2d_prepared<T>& p, std::type_identity_t<tensor_view<const T>> input,
          std::type_identity_t<tensor_view<T>> output) {
    using namespace detail::pool;
    check_runtime_shapes<T>("MAX_POOL_2D", p.input_shape, p.output_shape, input.shape, output.shape);
    using batch = xsimd::batch<T, A>;
    constexpr std::size_t lanes = batch::size;

    const std::int32_t height = p.input_shape[1], width = p.input_shape[2];
    const std::size_t channels = std::size_t(p.input_shape[3]);
    const std::int32_t out_height = p.output_shape[1], out_width = p.output_shape[2];
    // The activation range lies within T's range (activation_range clips it).
    const batch act_min(static_cast<T>(p.output.activation_min)), act_max(static_cast<T>(p.output.activation_max));
    const T* in = input.data.data();
    T* out = output.data.data();
    alignas(A::alignment()) T tail[lanes];
    for (std::int32_t n = 0; n < p.input_shape[0]; ++n) {
        const T* in_batch = in + std::size_t(n) * std::size_t(height) * std::size_t(width) * channels;
        for (std::int32_t oy = 0; oy < out_height; ++oy) {
            for (std::int32_t ox = 0; ox < out_width; ++ox, out += channels) {
                const clipped_window w = clip_window(oy, ox, p.stride_height, p.stride_width, p.padding,
                                                     p.filter_height, p.filter_width, height, width);
                for (std::size_t c0 = 0; c0 < channels; c0 += lanes) {
                    const std::size_t valid = std::min(lanes, channels - c0);
                    batch largest(std::numeric_limits<T>::lowest());
                    for (std::int32_t fy = w.y_start; fy < w.y_end; ++fy) {
                        const T* row = in_batch + (std::size_t(w.in_y0 + fy) * std::size_t(width)) * channels + c0;
                        for (std::int32_t fx = w.x_start; fx < w.x_end; ++fx)
                            largest = xsimd::max(largest, load_or_lowest<A>(row + std::size_t(w.in_x0 + fx) * channels, valid));
                    }
                    largest = xsimd::min(xsimd::max(largest, act_min), act_max);
                    if (valid == lanes) {
                        largest.store_unaligned(out + c0);
                    } else {
                        largest.store_aligned(tail);
                        std::copy(tail, tail + valid, out + c0);
                    }
                }
            }
        }
    }
}

}  // namespace qtl::ops
