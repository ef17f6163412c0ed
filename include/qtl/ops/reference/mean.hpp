#pragma once
// Reference MEAN, written like TFLite's reference_ops::QuantizedMeanOrSum:
// visit every input element in row-major order and add it (wrapping int32)
// to the output element it reduces into, then remove the input zero point
// and requantize each sum with the prepared multiplier (1/n folded in).
// The oracle for ops::eval.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "qtl/fixedpoint/requantize.hpp"
#include "qtl/ops/mean.hpp"

namespace qtl::ops::reference {

template <rounding_policy Policy = double_rounding, class T>
void eval(const mean_prepared<T>& p, tensor_view<const T> input, tensor_view<T> output) {
    using namespace qtl::ops::detail::mean_op;
    check_views(p, input, output);
    std::vector<std::int32_t> sums(output.size(), 0);
    if (input.size() == 0) {  // TFLite: outputs stay at T() = 0
        std::fill(output.data.begin(), output.data.end(), T{0});
        return;
    }
    const std::size_t rank = p.input_shape.size();
    std::vector<bool> reduced(rank, false);
    for (const int a : p.axes) reduced[static_cast<std::size_t>(a)] = true;
    std::vector<std::size_t> index(rank, 0);
    for (std::size_t i = 0; i < input.size(); ++i) {
        std::size_t out = 0;  // TFLite's ReducedOutputOffset: the index with reduced axes skipped
        for (std::size_t d = 0; d < rank; ++d)
            if (!reduced[d]) out = out * static_cast<std::size_t>(p.input_shape[d]) + index[d];
        sums[out] = wrapping_add(sums[out], input[i]);
        for (std::size_t d = rank; d-- > 0;) {
            if (++index[d] < static_cast<std::size_t>(p.input_shape[d])) break;
            index[d] = 0;
        }
    }
    for (std::size_t o = 0; o < output.size(); ++o)
        output[o] = requantize<T, Policy>(remove_zero_point(sums[o], p.input_zero_point, p.reduced_count), p.multiplier,
                                          p.requantize);
}

}  // namespace qtl::ops::reference
