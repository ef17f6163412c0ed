#pragma once
// Reference PAD: for every output index (row-major), the input element when
// each coordinate lies inside [before, before + input dim), else the pad
// value, as TFLite's reference_ops::Pad does.  The oracle for ops::eval.

#include <cstddef>
#include <vector>

#include "qtl/ops/pad.hpp"

namespace qtl::ops::reference {

template <class T>
void eval(const pad_prepared<T>& p, tensor_view<const T> input, tensor_view<T> output) {
    detail::pad_op::check_views(p, input, output);
    const std::size_t rank = p.output_shape.size();
    std::vector<std::size_t> index(rank, 0);
    for (std::size_t o = 0; o < output.size(); ++o) {
        bool inside = true;
        std::size_t offset = 0;
        for (std::size_t d = 0; d < rank; ++d) {
            const auto before = static_cast<std::size_t>(p.paddings[d][0]);
            const auto size = static_cast<std::size_t>(p.input_shape[d]);
            inside = inside && index[d] >= before && index[d] < before + size;
            offset = offset * size + (index[d] - before);  // only used when inside
        }
        output[o] = inside ? input[offset] : p.pad_value;
        for (std::size_t d = rank; d-- > 0;) {
            if (++index[d] < static_cast<std::size_t>(p.output_shape[d])) break;
            index[d] = 0;
        }
    }
}

}  // namespace qtl::ops::reference
