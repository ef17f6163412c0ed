#pragma once
// Scalar reference of SUB, written to mirror TFLite's reference kernels
// (reference_ops::Sub / SubElementwise for int8, reference_ops::Sub
// with the general scale path for int16, BroadcastQuantSubSlow when shapes
// differ; and the power-of-two int16 Sub16): one output element at a time,
// every input index computed from the full 6-D broadcast walk.  The oracle
// for qtl::ops::eval.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "qtl/core/tensor_view.hpp"
#include "qtl/fixedpoint/multiply_by_quantized_multiplier.hpp"
#include "qtl/fixedpoint/requantize.hpp"
#include "qtl/ops/sub.hpp"
#include "qtl/ops/broadcast.hpp"

namespace qtl::ops::reference {

template <class T>
void eval(const sub_prepared<T>& p, std::type_identity_t<tensor_view<const T>> input1,
          std::type_identity_t<tensor_view<const T>> input2, std::type_identity_t<tensor_view<T>> output) {
    check_broadcast_views(p.plan, input1.shape, input2.shape, output.shape, "SUB");
    for_each_broadcast_index(p.plan, [&](std::size_t o, std::size_t i1, std::size_t i2) {
        if (p.power_of_two_int16) {
            // F0 fixed point: one input rounded to the output's power of two,
            // a saturating subtraction, then the activation clamp (inside int16).
            const std::int32_t difference = rounding_divide_by_pot(input1[i1], p.input1_right_shift) -
                                            rounding_divide_by_pot(input2[i2], p.input2_right_shift);
            output[o] =
                static_cast<T>(std::min(std::max(difference, p.output.activation_min), p.output.activation_max));
        } else {
            const std::int32_t scaled1 = ops::detail::rescale_add_sub_input(input1[i1], p.input1, p.left_shift);
            const std::int32_t scaled2 = ops::detail::rescale_add_sub_input(input2[i2], p.input2, p.left_shift);
            output[o] = requantize<T>(scaled1 - scaled2, p.output_multiplier, p.output);
        }
    });
}

}  // namespace qtl::ops::reference
