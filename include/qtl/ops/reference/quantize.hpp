#pragma once
// Scalar reference of QUANTIZE, written to mirror TFLite's reference kernels
// (reference_ops::AffineQuantize and PerChannelQuantize for float input,
// reference_ops::Requantize for integer input): one element at a time.  The
// oracle for qtl::ops::eval.

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "qtl/core/error.hpp"
#include "qtl/core/tensor_view.hpp"
#include "qtl/fixedpoint/requantize.hpp"
#include "qtl/ops/quantize.hpp"

namespace qtl::ops::reference {

template <class In, class Out>
void eval(const quantize_prepared<In, Out>& p, std::type_identity_t<tensor_view<const In>> input,
          std::type_identity_t<tensor_view<Out>> output) {
    check(input.shape == p.shape, "QUANTIZE", "input has shape ", shape_text(input.shape),
          " but the op was prepared for ", shape_text(p.shape));
    check(output.shape == p.shape, "QUANTIZE", "output has shape ", shape_text(output.shape), ", expected ",
          shape_text(p.shape));
    for (std::size_t i = 0; i < p.size; ++i) {
        if constexpr (std::is_same_v<In, float>) {
            const std::size_t channel = p.scales.size() == 1 ? 0 : (i / p.inner) % p.channels;
            output[i] = ops::detail::affine_quantize_value<Out>(input[i], p.scales[channel], p.zero_points[channel]);
        } else {
            output[i] = requantize<Out>(ops::detail::wrapping_subtract(input[i], p.input_zero_point), p.multiplier,
                                        p.output);
        }
    }
}

}  // namespace qtl::ops::reference
