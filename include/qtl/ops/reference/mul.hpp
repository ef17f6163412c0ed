#pragma once
// Scalar reference of MUL, written to mirror TFLite's reference kernels
// (reference_integer_ops::MulElementwise, BroadcastMul*DSlow when shapes
// differ): one output element at a time, every input index computed from the
// full 6-D broadcast walk.  The oracle for qtl::ops::eval.

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "qtl/core/tensor_view.hpp"
#include "qtl/fixedpoint/requantize.hpp"
#include "qtl/ops/broadcast.hpp"
#include "qtl/ops/mul.hpp"

namespace qtl::ops::reference {

template <class T>
void eval(const mul_prepared<T>& p, std::type_identity_t<tensor_view<const T>> input1,
          std::type_identity_t<tensor_view<const T>> input2, std::type_identity_t<tensor_view<T>> output) {
    check_broadcast_views(p.plan, input1.shape, input2.shape, output.shape, "MUL");
    for_each_broadcast_index(p.plan, [&](std::size_t o, std::size_t i1, std::size_t i2) {
        const std::int32_t value1 = p.input1_offset + input1[i1];
        const std::int32_t value2 = p.input2_offset + input2[i2];
        output[o] = requantize<T>(value1 * value2, p.output_multiplier, p.output);
    });
}

}  // namespace qtl::ops::reference
