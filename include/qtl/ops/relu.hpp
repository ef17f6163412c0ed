#pragma once
// RELU (TFLite builtin 19) on quantized tensors, and the prepared form RELU6
// (relu6.hpp) shares.  TFLite's quantized ReluX requantizes the input to the
// output's scale and zero point and clamps:
//
//   out = clamp(out_zp + multiply_by_quantized_multiplier(q - in_zp, M), lo, hi)
//   M   = in_scale / out_scale             (a float division, as TFLite does it)
//   lo  = max(qmin, out_zp + round(0 / out_scale)) = max(qmin, out_zp)
//   hi  = qmax  (RELU6: min(qmax, out_zp + round(6 / out_scale)))
//
// which is exactly the shared requantize stage (fixedpoint/requantize.hpp)
// applied to q - in_zp.
//
// Types: int8 (op version 2) and int16 (16x8 mode, op version 3; TFLite
// requires both zero points 0).

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>

#include "qtl/core/element_types.hpp"
#include "qtl/core/error.hpp"
#include "qtl/core/shape.hpp"
#include "qtl/core/tensor_view.hpp"
#include "qtl/detail/gcc_bug_105593.hpp"
#include "qtl/fixedpoint/quantize_multiplier.hpp"
#include "qtl/fixedpoint/requantize.hpp"
#include "qtl/fixedpoint/requantize_batch.hpp"
#include "qtl/ops/detail/quantization_checks.hpp"

QTL_DETAIL_GCC_BUG_105593_BEGIN

namespace qtl::ops {

template <class T>
struct relu_params {
    static_assert(std::is_same_v<T, std::int8_t> || std::is_same_v<T, std::int16_t>,
                  "RELU supports int8 and int16 (16x8) tensors only");
    qtl::shape shape;  // input and output
    float input_scale = 1.0f;
    std::int32_t input_zero_point = 0;
    float output_scale = 1.0f;
    std::int32_t output_zero_point = 0;
};

// Also the prepared form of RELU6: the two differ only in `clamp`.
template <class T>
struct relu_prepared {
    const char* op = "RELU";  // or "RELU6", for messages
    qtl::shape shape;
    std::int32_t input_zero_point = 0;
    quantized_multiplier multiplier;  // in_scale / out_scale
    requantize_params clamp;          // output zero point and the activation range
};

namespace detail::relu_op {

// TFLite computes x * 2^shift in int32 before the fixed-point multiply; it
// must not overflow for any input difference |q - in_zp| <= max_difference.
inline void check_multiplier_headroom(const std::string& where, const char* name, quantized_multiplier qm,
                                      double real_multiplier, std::int64_t max_difference) {
    const int left_shift = std::max(qm.shift, 0);
    check(left_shift < 31 && (max_difference << left_shift) <= 2147483647LL, where, name, " multiplier ",
          real_multiplier, " is too large: an input difference of ", max_difference, " times 2^", left_shift,
          " overflows TFLite's int32 requantization");
}

// Largest |q - zero_point| an input of type T can have.
template <class T>
std::int64_t max_input_difference(std::int32_t zero_point) {
    return std::max<std::int64_t>(std::int64_t{element_traits<T>::max} - zero_point,
                                  std::int64_t{zero_point} - element_traits<T>::min);
}

// What RELU and RELU6 share: validation, M and the lower clamp.  `upper` is
// the real-valued upper bound (infinity for RELU).
template <class T>
relu_prepared<T> prepare_clamped(const char* op, const qtl::shape& s, float input_scale,
                                 std::int32_t input_zero_point, float output_scale, std::int32_t output_zero_point,
                                 float upper) {
    const std::string where = op;
    detail::check_tensor_quantization<T>(where, "input", input_scale, input_zero_point);
    detail::check_tensor_quantization<T>(where, "output", output_scale, output_zero_point);
    num_elements(s, where + " shape");
    constexpr std::int32_t qmin = element_traits<T>::min, qmax = element_traits<T>::max;

    relu_prepared<T> p;
    p.op = op;
    p.shape = s;
    p.input_zero_point = input_zero_point;
    const double real_multiplier = input_scale / output_scale;  // float division, then widened (TFLite)
    p.multiplier = quantize_multiplier(real_multiplier);
    check_multiplier_headroom(where, "input-to-output", p.multiplier, real_multiplier,
                              max_input_difference<T>(input_zero_point));
    p.clamp.output_zero_point = output_zero_point;
    // round(0 / out_scale) is 0: the lower bound is the output zero point.
    p.clamp.activation_min = std::max(qmin, output_zero_point);
    p.clamp.activation_max = qmax;
    if (std::isfinite(upper)) {
        // zp + int(roundf(upper / out_scale)), computed without overflowing int32.
        const float steps = std::round(upper / output_scale);
        p.clamp.activation_max = steps >= static_cast<float>(qmax - output_zero_point)
                                     ? qmax
                                     : std::min(qmax, output_zero_point + static_cast<std::int32_t>(steps));
    }
    return p;
}

template <class T>
void check_views(const std::string& where, const relu_prepared<T>& p, const tensor_view<const T>& input,
                 const tensor_view<T>& output) {
    check(input.shape == p.shape, where, "input shape ", shape_text(input.shape), " differs from the prepared ",
          shape_text(p.shape));
    check(output.shape == p.shape, where, "output shape ", shape_text(output.shape), " differs from the prepared ",
          shape_text(p.shape));
}

// The SIMD path of RELU and RELU6: input differences are widened to int32
// a chunk at a time and go through requantize_n, the vectorized requantize
// stage (multiply, zero point, clamp).  Reading a chunk before writing it
// makes in-place evaluation safe.
template <class T>
void eval_requantize_chunks(const relu_prepared<T>& p, const T* in, std::size_t n, T* out) {
    constexpr std::size_t chunk = 512;
    alignas(64) std::int32_t acc[chunk];
    for (std::size_t i = 0; i < n; i += chunk) {
        const std::size_t m = std::min(chunk, n - i);
        for (std::size_t j = 0; j < m; ++j) acc[j] = std::int32_t{in[i + j]} - p.input_zero_point;
        requantize_n<T>(acc, m, p.multiplier, p.clamp, out + i);
    }
}

}  // namespace detail::relu_op

template <class T>
relu_prepared<T> prepare(const relu_params<T>& p) {
    return detail::relu_op::prepare_clamped<T>("RELU", p.shape, p.input_scale, p.input_zero_point, p.output_scale,
                                               p.output_zero_point, std::numeric_limits<float>::infinity());
}

// RELU and RELU6 (one prepared type).
template <class T>
void eval(const relu_prepared<T>& p, tensor_view<const T> input, tensor_view<T> output) {
    detail::relu_op::check_views(p.op, p, input, output);
    detail::relu_op::eval_requantize_chunks(p, input.data.data(), input.size(), output.data.data());
}

}  // namespace qtl::ops

QTL_DETAIL_GCC_BUG_105593_END
