#pragma once
// LEAKY_RELU (TFLite builtin 98) on quantized tensors.  TFLite's
// QuantizeLeakyRelu requantizes with one of two multipliers, chosen by the
// sign of the input difference:
//
//   d   = q - in_zp
//   out = clamp(out_zp + multiply_by_quantized_multiplier(d, d >= 0 ? M_identity : M_alpha), qmin, qmax)
//   M_identity = in_scale / out_scale,  M_alpha = (in_scale * alpha) / out_scale
//
// both computed in float and then widened, as TFLite's prepare does.  Alpha
// may be any finite value (negative too: the sign stays in the multiplier).
//
// Types: int8 (op version 1) and int16 (16x8 mode, op version 2; zero points 0).

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>

#include <xsimd/xsimd.hpp>

#include "qtl/core/error.hpp"
#include "qtl/core/shape.hpp"
#include "qtl/core/tensor_view.hpp"
#include "qtl/detail/gcc_bug_105593.hpp"
#include "qtl/detail/simd_select.hpp"
#include "qtl/fixedpoint/multiply_by_quantized_multiplier_batch.hpp"
#include "qtl/fixedpoint/quantize_multiplier.hpp"
#include "qtl/fixedpoint/requantize.hpp"
#include "qtl/fixedpoint/requantize_batch.hpp"
#include "qtl/ops/detail/quantization_checks.hpp"
#include "qtl/ops/relu.hpp"

QTL_DETAIL_GCC_BUG_105593_BEGIN

namespace qtl::ops {

template <class T>
struct leaky_relu_params {
    static_assert(std::is_same_v<T, std::int8_t> || std::is_same_v<T, std::int16_t>,
                  "LEAKY_RELU supports int8 and int16 (16x8) tensors only");
    qtl::shape shape;  // input and output
    float input_scale = 1.0f;
    std::int32_t input_zero_point = 0;
    float output_scale = 1.0f;
    std::int32_t output_zero_point = 0;
    float alpha = 0.2f;  // LeakyReluOptions.alpha
};

template <class T>
struct leaky_relu_prepared {
    qtl::shape shape;
    std::int32_t input_zero_point = 0;
    quantized_multiplier identity;  // for d >= 0
    quantized_multiplier alpha;     // for d < 0
    requantize_params clamp;        // output zero point, [qmin, qmax]
};

namespace detail::leaky_relu_op {

inline const std::string where = "LEAKY_RELU";

template <class T>
void check_views(const leaky_relu_prepared<T>& p, const tensor_view<const T>& input, const tensor_view<T>& output) {
    check(input.shape == p.shape, where, "input shape ", shape_text(input.shape), " differs from the prepared ",
          shape_text(p.shape));
    check(output.shape == p.shape, where, "output shape ", shape_text(output.shape), " differs from the prepared ",
          shape_text(p.shape));
}

}  // namespace detail::leaky_relu_op

template <class T>
leaky_relu_prepared<T> prepare(const leaky_relu_params<T>& p) {
    using namespace detail::leaky_relu_op;
    detail::check_tensor_quantization<T>(where, "input", p.input_scale, p.input_zero_point);
    detail::check_tensor_quantization<T>(where, "output", p.output_scale, p.output_zero_point);
    check(std::isfinite(p.alpha), where, "alpha must be finite, got ", p.alpha);
    num_elements(p.shape, where + " shape");

    leaky_relu_prepared<T> r;
    r.shape = p.shape;
    r.input_zero_point = p.input_zero_point;
    const float alpha_product = p.input_scale * p.alpha;  // float arithmetic throughout, as TFLite
    const double alpha_multiplier = alpha_product / p.output_scale;
    const double identity_multiplier = p.input_scale / p.output_scale;
    r.alpha = quantize_multiplier(alpha_multiplier);
    r.identity = quantize_multiplier(identity_multiplier);
    const std::int64_t max_difference = detail::relu_op::max_input_difference<T>(p.input_zero_point);
    detail::relu_op::check_multiplier_headroom(where, "alpha", r.alpha, alpha_multiplier, max_difference);
    detail::relu_op::check_multiplier_headroom(where, "identity", r.identity, identity_multiplier, max_difference);
    r.clamp = {p.output_zero_point, element_traits<T>::min, element_traits<T>::max};
    return r;
}

// SIMD path: input differences are widened to int32 a chunk at a time; each
// batch picks its lanes' multiplier and shift by sign, then goes through the
// lane-wise multiply_by_quantized_multiplier and the requantize stage's
// clamp (zero point, [qmin, qmax]) of requantize_batch.hpp.
template <class T, class A = xsimd::default_arch>
void eval(const leaky_relu_prepared<T>& p, tensor_view<const T> input, tensor_view<T> output) {
    detail::leaky_relu_op::check_views(p, input, output);
    using batch = xsimd::batch<std::int32_t, A>;
    constexpr std::size_t lanes = batch::size;
    constexpr std::size_t chunk = 512;  // a multiple of every lane count
    const std::size_t n = input.size();
    const T* in = input.data.data();
    T* out = output.data.data();

    const qtl::detail::fixedpoint::requantize_clamp<A> clamp(p.clamp);
    const batch zero(0);
    const batch identity_multiplier(p.identity.multiplier), identity_shift(p.identity.shift);
    const batch alpha_multiplier(p.alpha.multiplier), alpha_shift(p.alpha.shift);
    alignas(64) std::int32_t acc[chunk];
    alignas(A::alignment()) std::int32_t tail[lanes];
    for (std::size_t i = 0; i < n; i += chunk) {
        const std::size_t m = std::min(chunk, n - i);
        for (std::size_t j = 0; j < m; ++j) acc[j] = std::int32_t{in[i + j]} - p.input_zero_point;
        for (std::size_t j = 0; j < m; j += lanes) {
            const std::size_t count = std::min(lanes, m - j);
            const batch d = qtl::detail::fixedpoint::load_lanes<A>(acc + j, count, tail);
            const auto non_negative = d >= zero;
            const batch multiplier = ::qtl::detail::simd_select(non_negative, identity_multiplier, alpha_multiplier);
            const batch shift = ::qtl::detail::simd_select(non_negative, identity_shift, alpha_shift);
            qtl::detail::fixedpoint::store_lanes(clamp(multiply_by_quantized_multiplier(d, multiplier, shift)),
                                            out + i + j, count);
        }
    }
}

}  // namespace qtl::ops

QTL_DETAIL_GCC_BUG_105593_END
