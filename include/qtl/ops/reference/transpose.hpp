#pragma once
// Reference TRANSPOSE: for every output index (row-major), read the input
// element at the permuted index, as TFLite's reference_ops::Transpose does.
// The oracle for ops::eval.

#include <cstddef>
#include <vector>

#include "qtl/ops/transpose.hpp"

namespace qtl::ops::reference {

template <class T>
void eval(const transpose_prepared<T>& p, tensor_view<const T> input, tensor_view<T> output) {
    detail::transpose_op::check_views(p, input, output);
    const std::size_t rank = p.input_shape.size();
    std::vector<std::size_t> in_strides(rank, 1);
    for (std::size_t d = rank; d-- > 1;) in_strides[d - 1] = in_strides[d] * static_cast<std::size_t>(p.input_shape[d]);
    std::vector<std::size_t> out_index(rank, 0);
    for (std::size_t o = 0; o < output.size(); ++o) {
        std::size_t i = 0;
        for (std::size_t d = 0; d < rank; ++d) i += out_index[d] * in_strides[static_cast<std::size_t>(p.perm[d])];
        output[o] = input[i];
        for (std::size_t d = rank; d-- > 0;) {  // next output index
            if (++out_index[d] < static_cast<std::size_t>(p.output_shape[d])) break;
            out_index[d] = 0;
        }
    }
}

}  // namespace qtl::ops::reference
