#pragma once
// AVERAGE_POOL_2D, integer (int8 or int16): TFLite's builtin average pooling
// on NHWC activations.  Input and output share scale and zero point, so the
// average is taken on the stored values directly:
//
//   sum   = sum of the window's values inside the input (taps in the padding are left out)
//   count = number of those values
//   out   = clamp(sum > 0 ? (sum + count/2) / count : (sum - count/2) / count, act_min, act_max)
//
// with C++'s truncating division, i.e. the average rounded half away from
// zero, and [act_min, act_max] the fused activation's range (TFLite's
// reference_integer_ops::AveragePool, int32 accumulator).
//
// eval() is the SIMD path (xsimd, vectorized over channels in int32 lanes,
// with an exact float-estimate-and-correct division); the reference in
// reference/average_pool_2d.hpp mirrors TFLite's loops.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "qtl/core/element_types.hpp"
#include "qtl/core/error.hpp"
#include "qtl/core/shape.hpp"
#include "qtl/core/tensor_view.hpp"
#include "qtl/detail/gcc_bug_105593.hpp"
#include "qtl/detail/simd_select.hpp"
#include "qtl/fixedpoint/requantize.hpp"
#include "qtl/ops/detail/quantization_checks.hpp"
#include "qtl/ops/fused_activation.hpp"
#include "qtl/ops/padding.hpp"

QTL_DETAIL_GCC_BUG_105593_BEGIN

namespace qtl::ops {

template <class T>
struct average_pool_2d_params {
    static_assert(std::is_same_v<T, std::int8_t> || std::is_same_v<T, std::int16_t>,
                  "AVERAGE_POOL_2D supports int8 and int16 activations; TFLite has no other integer kernel");

    qtl::shape input_shape;  // [batches, height, width, channels]
    float input_scale = 0.0f;
    std::int32_t input_zero_point = 0;
    float output_scale = 0.0f;  // must equal input_scale
    std::int32_t output_zero_point = 0;  // must equal input_zero_point
    std::int32_t filter_height = 1;
    std::int32_t filter_width = 1;
    std::int32_t stride_height = 1;
    std::int32_t stride_width = 1;
    qtl::ops::padding padding = padding::valid;
    fused_activation activation = fused_activation::none;
};

template <class T>
struct average_pool_2d_prepared {
    qtl::shape input_shape;   // [N, H, W, C]
    qtl::shape output_shape;  // [N, OH, OW, C]
    std::int32_t filter_height = 1, filter_width = 1;
    std::int32_t stride_height = 1, stride_width = 1;
    padded_window padding;
    requantize_params output;  // activation_min / activation_max: the fused activation's clamp
};

namespace detail::pool {

// The checks AVERAGE_POOL_2D and MAX_POOL_2D share; returns the padded window.
template <class T, class Params>
padded_window prepare_pool(const std::string& where, const Params& params, requantize_params& output,
                           shape& output_shape) {
    const shape& s = params.input_shape;
    check(s.size() == 4, where, "input must have rank 4, got shape ", shape_text(s));
    for (std::size_t d = 0; d < 4; ++d) check(s[d] >= 1, where, "input dimensions must be >= 1, got shape ", shape_text(s));
    num_elements(s, where);
    detail::check_tensor_scale(where, "input", params.input_scale);
    detail::check_tensor_scale(where, "output", params.output_scale);
    check(params.input_zero_point >= element_traits<T>::min && params.input_zero_point <= element_traits<T>::max,
          where, "input zero point ", params.input_zero_point, " is outside the ", element_traits<T>::name, " range");
    // The kernel never rescales: a different output quantization would silently change the values' meaning.
    check(params.output_zero_point == params.input_zero_point, where,
          "output zero point must equal the input's (pooling does not requantize): input ", params.input_zero_point,
          ", output ", params.output_zero_point);
    const float larger = std::max(params.input_scale, params.output_scale);
    check(std::abs(params.input_scale - params.output_scale) <= 1e-6f * larger, where,
          "output scale must equal the input's (pooling does not requantize): input ", params.input_scale, ", output ",
          params.output_scale);
    const fused_activation act = params.activation;
    check(act == fused_activation::none || act == fused_activation::relu || act == fused_activation::relu6 ||
              act == fused_activation::relu_n1_to_1,
          where, "fused activation ", int(act), " cannot be fused into an integer op (NONE, RELU, RELU_N1_TO_1 or RELU6)");
    output = activation_range<T>(act, params.output_scale, params.output_zero_point);
    const window_2d window{params.filter_height, params.filter_width, params.stride_height, params.stride_width, 1, 1,
                           params.padding};
    const padded_window padding = compute_padding(window, s[1], s[2], where);
    output_shape = {s[0], padding.height.output_size, padding.width.output_size, s[3]};
    return padding;
}

}  // namespace detail::pool

template <class T>
average_pool_2d_prepared<T> prepare(const average_pool_2d_params<T>& params) {
    const std::string where = "AVERAGE_POOL_2D";
    average_pool_2d_prepared<T> p;
    p.padding = detail::pool::prepare_pool<T>(where, params, p.output, p.output_shape);
    p.input_shape = params.input_shape;
    p.filter_height = params.filter_height;
    p.filter_width = params.filter_width;
    p.stride_height = params.stride_height;
    p.stride_width = params.stride_width;
    // TFLite sums in int32: |sum| + count/2 must stay below 2^31 for a full window.
    const std::int64_t area = std::int64_t{params.filter_height} * params.filter_width;
    const std::int64_t largest = -std::int64_t{element_traits<T>::min};
    check(area * (2 * largest + 1) <= 2 * std::int64_t{std::numeric_limits<std::int32_t>::max()}, where, "filter ",
          params.filter_height, "x", params.filter_width, " (", area, " values) could overflow the int32 sum of ",
          element_traits<T>::name, " values");
    return p;
}

namespace detail::pool {

// One image widened to int32, each pixel's channels padded with zeros to
// `padded`, so that every tap loads whole batches.
template <class T>
void widen_image(const T* in, std::size_t pixels, std::size_t channels, std::size_t padded,
                 std::int32_t* out) noexcept {
    for (std::size_t i = 0; i < pixels; ++i, in += channels, out += padded) {
        for (std::size_t c = 0; c < channels; ++c) out[c] = in[c];
        std::fill(out + channels, out + padded, 0);
    }
}

// TFLite's rounded average, lane by lane:
//   sum > 0 ? (sum + count/2) / count : (sum - count/2) / count   (C++ division)
// = sign(sum) * floor(a / count) with a = |sum| + count/2 < 2^31 (prepare()
// bounds the window).  The quotient q = floor(a / count) is the average of
// int16 values at most, below 2^15 + 1; float computes a / count within
// 3 * 2^-24 relative error, i.e. less than 0.01 absolute, so truncating it
// is q or q +- 1, and one remainder test corrects it exactly.
template <class A>
xsimd::batch<std::int32_t, A> rounded_average(xsimd::batch<std::int32_t, A> sum, xsimd::batch<std::int32_t, A> count,
                                              xsimd::batch<std::int32_t, A> half, xsimd::batch<float, A> inverse) noexcept {
    using batch = xsimd::batch<std::int32_t, A>;
    const batch a = xsimd::abs(sum) + half;
    batch q = xsimd::to_int(xsimd::to_float(a) * inverse);  // truncates
    const batch r = a - q * count;                           // small: int32 wrap-around cannot matter
    q = q + ::qtl::detail::simd_select(r >= count, batch(1), batch(0)) - ::qtl::detail::simd_select(r < batch(0), batch(1), batch(0));
    return ::qtl::detail::simd_select(sum < batch(0), batch(0) - q, q);
}

template <class T>
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

}  // namespace detail::pool

// SIMD path: each image widened once to int32 lanes (channels padded to whole
// batches), window sums vectorized over channels, then the rounding division
// exactly in int32 / float lanes (detail::pool::rounded_average).
template <class T, class A = xsimd::default_arch>
void eval(const average_pool_2d_prepared<T>& p, std::type_identity_t<tensor_view<const T>> input,
          std::type_identity_t<tensor_view<T>> output) {
    using namespace detail::pool;
    check_runtime_shapes<T>("AVERAGE_POOL_2D", p.input_shape, p.output_shape, input.shape, output.shape);
    using batch = xsimd::batch<std::int32_t, A>;
    constexpr std::size_t lanes = batch::size;

    const std::int32_t height = p.input_shape[1], width = p.input_shape[2];
    const std::size_t channels = std::size_t(p.input_shape[3]);
    const std::size_t padded = (channels + lanes - 1) / lanes * lanes;
    const std::size_t pixels = std::size_t(height) * std::size_t(width);
    const std::int32_t out_height = p.output_shape[1], out_width = p.output_shape[2];
    const batch act_min(p.output.activation_min), act_max(p.output.activation_max);
    std::vector<std::int32_t> image(pixels * padded);
    alignas(A::alignment()) std::int32_t values[lanes];
    T* out = output.data.data();
    for (std::int32_t n = 0; n < p.input_shape[0]; ++n) {
        widen_image(input.data.data() + std::size_t(n) * pixels * channels, pixels, channels, padded, image.data());
        for (std::int32_t oy = 0; oy < out_height; ++oy) {
            for (std::int32_t ox = 0; ox < out_width; ++ox, out += channels) {
                const clipped_window w = clip_window(oy, ox, p.stride_height, p.stride_width, p.padding,
                                                     p.filter_height, p.filter_width, height, width);
                const std::int32_t count = w.count();
                if (count <= 0)  // cannot happen for a prepared SAME / VALID window; TFLite fails here too
                    throw error("AVERAGE_POOL_2D",
                                qtl::detail::concat("window of output (", oy, ", ", ox, ") holds no input value"));
                const batch divisor(count), half(count / 2);
                const xsimd::batch<float, A> inverse(1.0f / static_cast<float>(count));
                for (std::size_t c0 = 0; c0 < channels; c0 += lanes) {
                    batch sum(0);
                    for (std::int32_t fy = w.y_start; fy < w.y_end; ++fy) {
                        const std::int32_t* row = image.data() + std::size_t(w.in_y0 + fy) * std::size_t(width) * padded + c0;
                        for (std::int32_t fx = w.x_start; fx < w.x_end; ++fx)
                            sum += batch::load_unaligned(row + std::size_t(w.in_x0 + fx) * padded);
                    }
                    const batch average = rounded_average<A>(sum, divisor, half, inverse);
                    xsimd::min(xsimd::max(average, act_min), act_max).store_aligned(values);
                    const std::size_t valid = std::min(lanes, channels - c0);
                    if (valid == lanes) {  // a fixed trip count the compiler turns into a vector narrowing
                        for (std::size_t j = 0; j < lanes; ++j) out[c0 + j] = static_cast<T>(values[j]);
                    } else {
                        for (std::size_t j = 0; j < valid; ++j) out[c0 + j] = static_cast<T>(values[j]);
                    }
                }
            }
        }
    }
}

}  // namespace qtl::ops

QTL_DETAIL_GCC_BUG_105593_END
