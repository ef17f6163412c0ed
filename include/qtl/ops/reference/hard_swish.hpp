#pragma once
// Reference HARD_SWISH: TFLite's int16 fixed-point arithmetic per element,
// the oracle for ops::eval (hard_swish.hpp).

#include <cstddef>

#include "qtl/ops/hard_swish.hpp"

namespace qtl::ops::reference {

template <class T>
void eval(const hard_swish_prepared<T>& p, tensor_view<const T> input, tensor_view<T> output) {
    detail::hard_swish_op::check_views(p, input, output);
    for (std::size_t i = 0; i < input.size(); ++i) output[i] = detail::hard_swish_op::hard_swish_one(p, input[i]);
}

}  // namespace qtl::ops::reference
