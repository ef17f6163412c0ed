#pragma once
// SUB: element-wise difference of two quantized tensors with NumPy broadcasting and
// a fused activation, bit-exact with TFLite's reference kernel (int8, and
// int16 in 16x8 mode).  The arithmetic is shared with ADD and described in
// detail/add_sub.hpp:
//   out = clamp(MBQM(MBQM((q1 - zp1) << s, m1) - MBQM((q2 - zp2) << s, m2), m_out) + zp_out)
// with s = 20 (int8) or 15 (int16).
//
//   auto prepared = qtl::ops::prepare(qtl::ops::sub_params<std::int8_t>{...});
//   qtl::ops::eval(prepared, input1, input2, output);          // SIMD
//   qtl::ops::reference::eval(prepared, input1, input2, output);  // scalar oracle

#include <cstdint>
#include <type_traits>

#include <xsimd/xsimd.hpp>

#include "qtl/core/tensor_view.hpp"
#include "qtl/ops/detail/add_sub.hpp"

namespace qtl::ops {

template <class T>
using sub_params = detail::add_sub_params<T, detail::add_sub_kind::sub>;

template <class T>
using sub_prepared = detail::add_sub_prepared<T, detail::add_sub_kind::sub>;

// Validates the spec (qtl::error naming SUB) and computes the multipliers,
// clamp range and broadcast plan once.
template <class T>
sub_prepared<T> prepare(const sub_params<T>& params) {
    return detail::prepare_add_sub(params);
}

// SIMD evaluation (the views' element type follows from the prepared op, so
// braced views work: eval(prepared, {a, shape_a}, {b, shape_b}, {out, shape}));
// throws qtl::error when a shape differs from the prepared one.
template <class T, class A = xsimd::default_arch>
void eval(const sub_prepared<T>& prepared, std::type_identity_t<tensor_view<const T>> input1,
          std::type_identity_t<tensor_view<const T>> input2, std::type_identity_t<tensor_view<T>> output) {
    detail::eval_add_sub<T, detail::add_sub_kind::sub, A>(prepared, input1, input2, output);
}

}  // namespace qtl::ops
