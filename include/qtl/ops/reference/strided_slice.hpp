#pragma once
// Reference STRIDED_SLICE: nested loops over the input dimensions, each from
// its start while `index < stop` (positive step) or `index > stop` (negative
// step), writing the visited elements in order, as TFLite's
// reference_ops::StridedSlice does.  The oracle for ops::eval.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "qtl/ops/strided_slice.hpp"

namespace qtl::ops::detail::strided_slice_op {

template <class T>
void strided_slice_visit(const strided_slice_prepared<T>& p, const std::vector<std::int64_t>& in_strides,
                         std::size_t d, std::int64_t in_offset, const tensor_view<const T>& input,
                         const tensor_view<T>& output, std::size_t& written) {
    if (d == in_strides.size()) {
        check(written < output.size(), "STRIDED_SLICE", "reference wrote past the prepared output");
        output[written++] = input[static_cast<std::size_t>(in_offset)];
        return;
    }
    const std::int64_t step = p.steps[d];
    for (std::int64_t i = p.starts[d]; step > 0 ? i < p.stops[d] : i > p.stops[d]; i += step)
        strided_slice_visit(p, in_strides, d + 1, in_offset + i * in_strides[d], input, output, written);
}

}  // namespace qtl::ops::detail::strided_slice_op

namespace qtl::ops::reference {

template <class T>
void eval(const strided_slice_prepared<T>& p, tensor_view<const T> input, tensor_view<T> output) {
    detail::strided_slice_op::check_views(p, input, output);
    const std::size_t rank = p.input_shape.size();
    std::vector<std::int64_t> in_strides(rank, 1);
    for (std::size_t d = rank; d-- > 1;) in_strides[d - 1] = in_strides[d] * p.input_shape[d];
    std::size_t written = 0;
    detail::strided_slice_op::strided_slice_visit(p, in_strides, 0, 0, input, output, written);
    check(written == output.size(), "STRIDED_SLICE", "reference wrote ", written, " elements, the prepared output has ",
          output.size());
}

}  // namespace qtl::ops::reference
