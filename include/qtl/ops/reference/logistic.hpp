#pragma once
// Reference LOGISTIC: TFLite's reference kernels one element at a time (the
// int8 table lookup, the int16 interpolation in sigmoid_q16_table), the
// oracle for ops::eval (logistic.hpp).

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "qtl/ops/logistic.hpp"

namespace qtl::ops::reference {

template <class T>
void eval(const logistic_prepared<T>& p, tensor_view<const T> input, tensor_view<T> output) {
    detail::logistic_op::check_views(p, input, output);
    for (std::size_t i = 0; i < input.size(); ++i) {
        if constexpr (std::is_same_v<T, std::int8_t>) {
            output[i] = p.table(input[i]);
        } else {
            output[i] = detail::logistic_op::logistic_int16(input[i], p.rescale);
        }
    }
}

}  // namespace qtl::ops::reference
