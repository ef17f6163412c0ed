#pragma once
// Reference LEAKY_RELU: TFLite's QuantizeLeakyRelu, one element at a time,
// the oracle for ops::eval (leaky_relu.hpp).

#include <cstddef>
#include <cstdint>

#include "qtl/fixedpoint/requantize.hpp"
#include "qtl/ops/leaky_relu.hpp"

namespace qtl::ops::reference {

template <class T>
void eval(const leaky_relu_prepared<T>& p, tensor_view<const T> input, tensor_view<T> output) {
    detail::leaky_relu_op::check_views(p, input, output);
    for (std::size_t i = 0; i < input.size(); ++i) {
        const std::int32_t d = std::int32_t{input[i]} - p.input_zero_point;
        output[i] = requantize<T>(d, d >= 0 ? p.identity : p.alpha, p.clamp);
    }
}

}  // namespace qtl::ops::reference
