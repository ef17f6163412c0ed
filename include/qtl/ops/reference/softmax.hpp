#pragma once
// Reference SOFTMAX: TFLite's reference kernels row by row (gemmlowp fixed
// point for int8, the two interpolated tables for int16), computing every
// exponential on the fly as TFLite does; the oracle for ops::eval (softmax.hpp).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "qtl/fixedpoint/requantize.hpp"
#include "qtl/ops/softmax.hpp"

namespace qtl::ops::reference {

template <class T>
void eval(const softmax_prepared<T>& p, tensor_view<const T> input, tensor_view<T> output) {
    using namespace detail::softmax_op;
    check_views(p, input, output);
    const std::size_t depth = p.depth;
    for (std::size_t row = 0; row < p.rows; ++row) {
        const T* in = input.data.data() + row * depth;
        T* out = output.data.data() + row * depth;
        T max_in_row = std::numeric_limits<T>::min();
        for (std::size_t c = 0; c < depth; ++c) max_in_row = std::max(max_in_row, in[c]);

        if constexpr (std::is_same_v<T, std::int8_t>) {
            // Sum of exps in Q12.19 (int64 here: TFLite's int32 sum fails its check before it could overflow).
            std::int64_t sum = 0;
            for (std::size_t c = 0; c < depth; ++c) {
                const std::int32_t d = std::int32_t{in[c]} - max_in_row;
                if (d >= p.diff_min) sum += rounding_divide_by_pot(exp_of_difference(p, d), 12);
            }
            const quantized_multiplier scale = int8_row_scale(sum, row);
            for (std::size_t c = 0; c < depth; ++c) {
                const std::int32_t d = std::int32_t{in[c]} - max_in_row;
                // rounding_divide_by_pot(srdhm(1/sum, exp), exponent) - 128, clamped.
                out[c] = d >= p.diff_min ? requantize<std::int8_t>(exp_of_difference(p, d), scale, int8_output_clamp)
                                         : std::int8_t{-128};
            }
        } else {
            std::int32_t sum = 0;  // Q16.15
            for (std::size_t c = 0; c < depth; ++c) {
                out[c] = int16_exp_of_difference(p, std::int32_t{in[c]} - max_in_row);  // cached, as TFLite does
                sum += out[c];
            }
            const int16_row_scale s = int16_reciprocal(p, sum);
            const std::int64_t round = std::int64_t{1} << (s.right_shift - 1);
            for (std::size_t c = 0; c < depth; ++c) {
                const auto result = static_cast<std::int32_t>(
                    (static_cast<std::int64_t>(out[c]) * s.reciprocal + round) >> s.right_shift);
                out[c] = static_cast<std::int16_t>(std::clamp(result, std::int32_t{0}, std::int32_t{32767}));
            }
        }
    }
}

}  // namespace qtl::ops::reference
