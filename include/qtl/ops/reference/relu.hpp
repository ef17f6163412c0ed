#pragma once
// Reference RELU and RELU6: TFLite's ReluX, one element at a time, the
// oracle for ops::eval (relu.hpp).

#include <cstddef>
#include <cstdint>

#include "qtl/fixedpoint/requantize.hpp"
#include "qtl/ops/relu.hpp"

namespace qtl::ops::reference {

template <class T>
void eval(const relu_prepared<T>& p, tensor_view<const T> input, tensor_view<T> output) {
    detail::relu_op::check_views(p.op, p, input, output);
    for (std::size_t i = 0; i < input.size(); ++i) {
        // out_zp + MBQM(q - in_zp, M), then max(lo), then min(hi).
        output[i] = requantize<T>(std::int32_t{input[i]} - p.input_zero_point, p.multiplier, p.clamp);
    }
}

}  // namespace qtl::ops::reference
