#pragma once
// Scalar reference of DEQUANTIZE, written to mirror TFLite's reference
// kernels: reference_ops::Dequantize (per tensor: the scale widened to double,
// the product cast to float) and PerChannelDequantize (a float product); int4
// input is unpacked first, as TFLite does.  The oracle for qtl::ops::eval.

#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>
#include <vector>

#include "qtl/core/error.hpp"
#include "qtl/core/int4_packing.hpp"
#include "qtl/core/tensor_view.hpp"
#include "qtl/ops/dequantize.hpp"

namespace qtl::ops::detail {

// One element as TFLite's reference kernels compute it.
template <class In>
float reference_dequantize_element(const dequantize_prepared<In>& p, std::size_t i, std::int32_t q) {
    if (p.scales.size() == 1) return static_cast<float>(static_cast<double>(p.scales[0]) * (q - p.zero_points[0]));
    const std::size_t channel = (i / p.inner) % p.channels;
    return static_cast<float>(p.scales[channel] * static_cast<float>(q - p.zero_points[channel]));
}

}  // namespace qtl::ops::detail

namespace qtl::ops::reference {

template <class In>
    requires(!std::is_same_v<In, int4>)
void eval(const dequantize_prepared<In>& p, std::type_identity_t<tensor_view<const In>> input,
          tensor_view<float> output) {
    check(input.shape == p.shape, "DEQUANTIZE", "input has shape ", shape_text(input.shape),
          " but the op was prepared for ", shape_text(p.shape));
    ops::detail::check_dequantize_output(p.shape, output.shape);
    for (std::size_t i = 0; i < p.size; ++i) output[i] = ops::detail::reference_dequantize_element(p, i, input[i]);
}

inline void eval(const dequantize_prepared<int4>& p, std::span<const std::uint8_t> packed, tensor_view<float> output) {
    check(packed.size() == packed_int4_bytes(p.size), "DEQUANTIZE", "int4 input of shape ", shape_text(p.shape),
          " needs ", packed_int4_bytes(p.size), " packed bytes, got ", packed.size());
    ops::detail::check_dequantize_output(p.shape, output.shape);
    const std::vector<std::int8_t> values = unpack_int4(packed, p.size);
    for (std::size_t i = 0; i < p.size; ++i) output[i] = ops::detail::reference_dequantize_element(p, i, values[i]);
}

}  // namespace qtl::ops::reference
