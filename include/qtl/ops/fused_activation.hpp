#pragma once
// Fused activations of TFLite ops (ActivationFunctionType in the schema) and
// the quantized clamp range they become:
//   RELU: [zp + round(0/s), qmax], RELU6: [.., zp + round(6/s)], RELU_N1_TO_1:
//   [zp + round(-1/s), zp + round(1/s)], each limited to the output type range.

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "qtl/core/element_types.hpp"
#include "qtl/core/error.hpp"
#include "qtl/fixedpoint/requantize.hpp"

namespace qtl {

// Values are the schema's ActivationFunctionType enum.
enum class fused_activation : std::int8_t { none = 0, relu = 1, relu_n1_to_1 = 2, relu6 = 3, tanh = 4, sign_bit = 5 };

// The clamp range [min, max] of a quantized output of type Out with the given
// scale and zero point.  TANH and SIGN_BIT are not fusable into integer ops.
template <class Out>
requantize_params activation_range(fused_activation act, float output_scale, std::int32_t output_zero_point) {
    constexpr std::int32_t qmin = element_traits<Out>::min;
    constexpr std::int32_t qmax = element_traits<Out>::max;
    const auto quantize = [&](float f) {
        return output_zero_point + static_cast<std::int32_t>(std::round(f / output_scale));
    };
    requantize_params p{output_zero_point, qmin, qmax};
    switch (act) {
        case fused_activation::none: break;
        case fused_activation::relu: p.activation_min = std::max(qmin, quantize(0.0f)); break;
        case fused_activation::relu6:
            p.activation_min = std::max(qmin, quantize(0.0f));
            p.activation_max = std::min(qmax, quantize(6.0f));
            break;
        case fused_activation::relu_n1_to_1:
            p.activation_min = std::max(qmin, quantize(-1.0f));
            p.activation_max = std::min(qmax, quantize(1.0f));
            break;
        default:
            throw error("fused activation", detail::concat("activation ", int(act),
                                                           " cannot be fused into a quantized op"));
    }
    return p;
}

}  // namespace qtl
