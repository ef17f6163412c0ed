#pragma once
// The tensor quantization checks most ops' prepare() share, so that every op
// rejects a bad scale or zero point with the same words.  `where` is the op
// name (qtl::error's where), `tensor` names the tensor ("input", "output",
// "input 2").
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include "qtl/core/element_types.hpp"
#include "qtl/core/error.hpp"

namespace qtl::ops::detail {

// A scale of 0, below 0, inf or NaN has no real-valued meaning.
inline void check_tensor_scale(const std::string& where, std::string_view tensor, float scale) {
    check(std::isfinite(scale) && scale > 0.0f, where, tensor, " scale must be finite and > 0, got ", scale);
}

// Zero point in T's range; 0 for int16 (16x8 activations are symmetric).
template <class T>
void check_tensor_zero_point(const std::string& where, std::string_view tensor, std::int32_t zero_point) {
    if constexpr (std::is_same_v<T, std::int16_t>) {
        check(zero_point == 0, where, tensor, " zero point must be 0 for int16 (16x8) tensors, got ", zero_point);
    } else {
        check(zero_point >= element_traits<T>::min && zero_point <= element_traits<T>::max, where, tensor,
              " zero point must lie in [", element_traits<T>::min, ", ", element_traits<T>::max, "], got ", zero_point);
    }
}

template <class T>
void check_tensor_quantization(const std::string& where, std::string_view tensor, float scale,
                               std::int32_t zero_point) {
    check_tensor_scale(where, tensor, scale);
    check_tensor_zero_point<T>(where, tensor, zero_point);
}

// Ops that move raw values (no requantization) need the output to mean what
// the input means; `why` says why, e.g. "raw values are copied".
inline void check_same_quantization(const std::string& where, std::string_view why, float input_scale,
                                    std::int32_t input_zero_point, float output_scale,
                                    std::int32_t output_zero_point) {
    check(input_scale == output_scale && input_zero_point == output_zero_point, where,
          "input and output must share scale and zero point (", why, "): input (", input_scale, ", ", input_zero_point,
          "), output (", output_scale, ", ", output_zero_point, ")");
}

}  // namespace qtl::ops::detail
