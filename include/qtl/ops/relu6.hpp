#pragma once
// RELU6 (TFLite builtin 21) on quantized tensors: RELU (relu.hpp) with the
// upper clamp min(qmax, out_zp + round(6 / out_scale)).  It prepares into
// relu_prepared<T>, so eval() and reference::eval() are RELU's.
//
// Types: int8 (op version 2) and int16 (16x8 mode, op version 3; zero points 0).

#include <cstdint>
#include <type_traits>

#include "qtl/core/shape.hpp"
#include "qtl/ops/relu.hpp"

namespace qtl::ops {

template <class T>
struct relu6_params {
    static_assert(std::is_same_v<T, std::int8_t> || std::is_same_v<T, std::int16_t>,
                  "RELU6 supports int8 and int16 (16x8) tensors only");
    qtl::shape shape;  // input and output
    float input_scale = 1.0f;
    std::int32_t input_zero_point = 0;
    float output_scale = 1.0f;
    std::int32_t output_zero_point = 0;
};

template <class T>
relu_prepared<T> prepare(const relu6_params<T>& p) {
    return detail::relu_op::prepare_clamped<T>("RELU6", p.shape, p.input_scale, p.input_zero_point, p.output_scale,
                                               p.output_zero_point, 6.0f);
}

}  // namespace qtl::ops
