#pragma once
// Reference RESHAPE: one element at a time, the oracle for ops::eval.

#include <cstddef>

#include "qtl/ops/reshape.hpp"

namespace qtl::ops::reference {

template <class T>
void eval(const reshape_prepared<T>& p, tensor_view<const T> input, tensor_view<T> output) {
    detail::reshape_op::check_views(p, input, output);
    for (std::size_t i = 0; i < input.size(); ++i) output[i] = input[i];
}

}  // namespace qtl::ops::reference
