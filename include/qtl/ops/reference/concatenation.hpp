#pragma once
// Reference CONCATENATION: for every output index (row-major), find the input
// that owns its coordinate along the axis and read that input's element.
// The oracle for ops::eval.

#include <cstddef>
#include <span>
#include <vector>

#include "qtl/ops/concatenation.hpp"

namespace qtl::ops::reference {

template <class T>
void eval(const concatenation_prepared<T>& p, std::span<const tensor_view<const T>> inputs, tensor_view<T> output) {
    detail::concatenation_op::check_views(p, inputs, output);
    const std::size_t rank = p.output_shape.size();
    const auto axis = static_cast<std::size_t>(p.axis);
    std::vector<std::size_t> index(rank, 0);
    for (std::size_t o = 0; o < output.size(); ++o) {
        // Which input, and the coordinate inside it.
        std::size_t input = 0;
        std::size_t along = index[axis];
        while (along >= static_cast<std::size_t>(p.input_shapes[input][axis])) {
            along -= static_cast<std::size_t>(p.input_shapes[input][axis]);
            ++input;
        }
        const auto& shape = p.input_shapes[input];
        std::size_t offset = 0;
        for (std::size_t d = 0; d < rank; ++d)
            offset = offset * static_cast<std::size_t>(shape[d]) + (d == axis ? along : index[d]);
        output[o] = inputs[input][offset];
        for (std::size_t d = rank; d-- > 0;) {
            if (++index[d] < static_cast<std::size_t>(p.output_shape[d])) break;
            index[d] = 0;
        }
    }
}

}  // namespace qtl::ops::reference
