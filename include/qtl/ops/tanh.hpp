#pragma once
// TANH (TFLite builtin 28) on quantized tensors, as TFLite's reference
// kernels compute it:
//
//  int8  (op version 2): a 256-entry table of the float function,
//        out = clamp(round(tanh(in_scale * (q - in_zp)) * 128)), built once by
//        make_int8_lut (TFLite's LUTPopulate<int8_t>).  Output scale 1/128,
//        zero point 0.
//  int16 (16x8 mode, op version 3): tanh(x) = 2 sigmoid(2x) - 1, interpolated
//        in sigmoid_q16_table with the input in units of 1/12288 (one step of
//        x, 1/48, is 256 units):
//          v = (q * M + round) >> shift,  a = |v|,  i = a >> 8,  t = a & 255
//          r = i >= 255 ? 0xFFFF << 8 : (T[i] << 8) + t * (T[i+1] - T[i])
//          out = (v >= 0 ? r - 2^23 + 2^7 : -r + 2^23 + 2^7 - 1) >> 8
//        Output scale 1/32768, zero points 0.
//
// prepare() refuses other output parameters (qtl::error).

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <type_traits>

#include <xsimd/xsimd.hpp>

#include "qtl/core/error.hpp"
#include "qtl/core/shape.hpp"
#include "qtl/core/tensor_view.hpp"
#include "qtl/detail/gcc_bug_105593.hpp"
#include "qtl/detail/simd_select.hpp"
#include "qtl/fixedpoint/requantize_batch.hpp"
#include "qtl/ops/detail/int16_lanes.hpp"
#include "qtl/ops/detail/quantization_checks.hpp"
#include "qtl/ops/lookup_table.hpp"

QTL_DETAIL_GCC_BUG_105593_BEGIN

namespace qtl::ops {

template <class T>
struct tanh_params {
    static_assert(std::is_same_v<T, std::int8_t> || std::is_same_v<T, std::int16_t>,
                  "TANH supports int8 and int16 (16x8) tensors only");
    qtl::shape shape;  // input and output
    float input_scale = 1.0f;
    std::int32_t input_zero_point = 0;
    float output_scale = std::is_same_v<T, std::int8_t> ? 1.0f / 128 : 1.0f / 32768;  // the only valid values
    std::int32_t output_zero_point = 0;
};

template <class T>
struct tanh_prepared {
    qtl::shape shape;
    int8_lut table;                 // int8: the whole op
    sigmoid_table_rescale rescale;  // int16: input to 1/12288 units
};

namespace detail::tanh_op {

inline const std::string where = "TANH";

template <class T>
void check_views(const tanh_prepared<T>& p, const tensor_view<const T>& input, const tensor_view<T>& output) {
    check(input.shape == p.shape, where, "input shape ", shape_text(input.shape), " differs from the prepared ",
          shape_text(p.shape));
    check(output.shape == p.shape, where, "output shape ", shape_text(output.shape), " differs from the prepared ",
          shape_text(p.shape));
}

// One int16 element, TFLite's reference arithmetic (the oracle of the batch version below).
inline std::int16_t tanh_int16(std::int16_t q, const sigmoid_table_rescale& r) noexcept {
    const std::int32_t v = (std::int32_t{q} * r.multiplier + r.round()) >> r.shift;
    const auto a = static_cast<std::uint32_t>(std::abs(v));
    const std::uint32_t i = a >> 8;
    std::int32_t result;
    if (i >= 255) {
        result = 0xFFFF << 8;  // saturate
    } else {
        const std::uint32_t ua = sigmoid_q16_table[i], ub = sigmoid_q16_table[i + 1];
        result = static_cast<std::int32_t>((ua << 8) + (a & 0xffu) * (ub - ua));
    }
    result = v >= 0 ? result - (1 << 23) + (1 << 7) : -result + (1 << 23) + (1 << 7) - 1;
    return static_cast<std::int16_t>(result >> 8);
}

// The same on int32 lanes (gathered table entries, lane arithmetic; all
// intermediate values fit int32 as in TFLite).
template <class A>
xsimd::batch<std::int32_t, A> tanh_int16(xsimd::batch<std::int32_t, A> q, const sigmoid_table_rescale& r) noexcept {
    using batch = xsimd::batch<std::int32_t, A>;
    const batch v = (q * batch(r.multiplier) + batch(r.round())) >> r.shift;
    const batch a = xsimd::abs(v);
    const batch i = a >> 8;
    const batch index = xsimd::min(i, batch(254));
    const batch ua = batch::gather(sigmoid_q16_table_int32.data(), index);
    const batch ub = batch::gather(sigmoid_q16_table_int32.data() + 1, index);
    batch result = qtl::detail::fixedpoint::shift_left(ua, 8) + (a & batch(0xff)) * (ub - ua);
    result = ::qtl::detail::simd_select(i >= batch(255), batch(0xFFFF << 8), result);
    result = ::qtl::detail::simd_select(v >= batch(0), result + batch(-(1 << 23) + (1 << 7)),
                           batch((1 << 23) + (1 << 7) - 1) - result);
    return result >> 8;
}

}  // namespace detail::tanh_op

template <class T>
tanh_prepared<T> prepare(const tanh_params<T>& p) {
    using namespace detail::tanh_op;
    detail::check_tensor_scale(where, "input", p.input_scale);
    num_elements(p.shape, where + " shape");
    tanh_prepared<T> r;
    r.shape = p.shape;
    if constexpr (std::is_same_v<T, std::int8_t>) {
        detail::check_tensor_zero_point<T>(where, "input", p.input_zero_point);
        check(p.output_scale == 1.0f / 128 && p.output_zero_point == 0, where,
              "int8 output must have scale 1/128 and zero point 0, got scale ", p.output_scale, " and zero point ",
              p.output_zero_point);
        r.table = make_int8_lut(p.input_scale, p.input_zero_point, p.output_scale, p.output_zero_point,
                                [](float x) { return std::tanh(x); }, where);
    } else {
        detail::check_tensor_zero_point<T>(where, "input", p.input_zero_point);
        check(p.output_scale == 1.0f / 32768 && p.output_zero_point == 0, where,
              "int16 output must have scale 1/32768 and zero point 0, got scale ", p.output_scale, " and zero point ",
              p.output_zero_point);
        r.rescale = sigmoid_table_input_rescale(p.input_scale, 1, where);
    }
    return r;
}

// int8: the table gather (scalar: see lookup_n).  int16: the batch
// arithmetic above on int32 lanes, a chunk of inputs widened at a time.
template <class T, class A = xsimd::default_arch>
void eval(const tanh_prepared<T>& p, tensor_view<const T> input, tensor_view<T> output) {
    detail::tanh_op::check_views(p, input, output);
    const std::size_t n = input.size();
    const T* in = input.data.data();
    T* out = output.data.data();
    if constexpr (std::is_same_v<T, std::int8_t>) {
        lookup_n(p.table, in, n, out);
    } else {
        detail::map_int16_lanes<A>(in, n, out, [&](xsimd::batch<std::int32_t, A> q) {
            return detail::tanh_op::tanh_int16<A>(q, p.rescale);
        });
    }
}

}  // namespace qtl::ops

QTL_DETAIL_GCC_BUG_105593_END
