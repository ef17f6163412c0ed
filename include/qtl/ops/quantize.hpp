#pragma once
// QUANTIZE, the TFLite op (kernels/quantize.cc): float32 -> int8/uint8/int16,
// or a requantization between integer types, bit-exact with TFLite's
// reference kernels.  (qtl/quant/quantize.hpp quantizes xtensor containers
// with compile-time schemes; this is the graph op on tensor views.)
//
//  float input (reference_ops::AffineQuantize, PerChannelQuantize):
//    q = clamp(round(x / scale) + zero_point, type range)
//    x / scale is a float division and round() is std::round on the float
//    quotient (half away from zero), as in TFLite.  Where TFLite's cast to
//    int32 is undefined qtl defines it: NaN gives the zero point, values
//    beyond the type range saturate (also +-inf).
//  integer input (reference_ops::Requantize):
//    M = input_scale / output_scale (in double)
//    q = clamp(MBQM(q_in - input_zero_point, M) + output_zero_point, type range)
//    i.e. qtl's requantize stage.  TFLite's shortcut for int8 <-> uint8 with
//    equal scales (flip the top bit) gives the same values: M = 1 is
//    multiplier 2^30 with shift 1, and MBQM(x, 2^30, 1) = x exactly.
//
// Supported conversions are TFLite's: float32 -> int8/uint8/int16 (per
// tensor, or per channel along an axis: version 3), int8/uint8 ->
// int8/uint8, int16 -> int8/int16/int32, int32 -> int8/int16.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "qtl/core/element_types.hpp"
#include "qtl/core/error.hpp"
#include "qtl/core/shape.hpp"
#include "qtl/core/tensor_view.hpp"
#include "qtl/detail/gcc_bug_105593.hpp"
#include "qtl/detail/simd_select.hpp"
#include "qtl/fixedpoint/quantize_multiplier.hpp"
#include "qtl/fixedpoint/requantize.hpp"
#include "qtl/fixedpoint/requantize_batch.hpp"
#include "qtl/quant/quant_params.hpp"

QTL_DETAIL_GCC_BUG_105593_BEGIN

namespace qtl::ops {

namespace detail {

template <class T, class... U>
inline constexpr bool is_one_of = (std::is_same_v<T, U> || ...);

template <class In, class Out>
inline constexpr bool is_quantize_conversion =
    (std::is_same_v<In, float> && is_one_of<Out, std::int8_t, std::uint8_t, std::int16_t>) ||
    (is_one_of<In, std::int8_t, std::uint8_t> && is_one_of<Out, std::int8_t, std::uint8_t>) ||
    (std::is_same_v<In, std::int16_t> && is_one_of<Out, std::int8_t, std::int16_t, std::int32_t>) ||
    (std::is_same_v<In, std::int32_t> && is_one_of<Out, std::int8_t, std::int16_t>);

}  // namespace detail

template <class In, class Out>
struct quantize_params {
    static_assert(detail::is_quantize_conversion<In, Out>,
                  "QUANTIZE supports TFLite's conversions only: float -> int8/uint8/int16, int8/uint8 -> "
                  "int8/uint8, int16 -> int8/int16/int32 and int32 -> int8/int16");
    qtl::shape shape;
    qtl::quant_params input;   // integer input: one scale and zero point; float input: leave empty
    qtl::quant_params output;  // one scale and zero point, or (float input) one per index along `axis`
};

template <class In, class Out>
struct quantize_prepared {
    qtl::shape shape;
    std::size_t size = 0;
    // float input: one scale and zero point per channel (one when per tensor);
    // element i belongs to channel (i / inner) % channels.
    std::vector<float> scales;
    std::vector<std::int32_t> zero_points;
    std::size_t channels = 1;
    std::size_t inner = 1;
    // integer input: out = requantize(q - input_zero_point, multiplier, output)
    std::int32_t input_zero_point = 0;
    quantized_multiplier multiplier;
    requantize_params output;
};

namespace detail {

// Checks one scale and zero point of a tensor of type T.
template <class T>
void check_quantize_tensor(const std::string& tensor, float scale, std::int32_t zero_point) {
    check(std::isfinite(scale) && scale > 0.0f, "QUANTIZE", tensor, " scale must be finite and > 0, got ", scale);
    if constexpr (!std::is_same_v<T, float>) {
        constexpr std::int32_t qmin = element_traits<T>::min, qmax = element_traits<T>::max;
        check(zero_point >= qmin && zero_point <= qmax, "QUANTIZE", tensor, " zero point ", zero_point,
              " is outside the ", element_traits<T>::name, " range [", qmin, ", ", qmax, "]");
    }
}

inline void check_per_tensor(const qtl::quant_params& q, const std::string& tensor, const std::string& where) {
    check(q.axis < 0 && q.block_size == 0, where, tensor, " must be quantized per tensor, got axis ", q.axis,
          " and block size ", q.block_size);
    check(q.scales.size() == 1 && q.zero_points.size() == 1, where, tensor,
          " needs one scale and one zero point, got ", q.scales.size(), " and ", q.zero_points.size());
}

// TFLite's float -> integer step for one value (reference_ops::AffineQuantize).
template <class Out>
Out affine_quantize_value(float x, float scale, std::int32_t zero_point) noexcept {
    constexpr std::int32_t qmin = element_traits<Out>::min, qmax = element_traits<Out>::max;
    const float rounded = std::round(x / scale);
    if (std::isnan(rounded)) return static_cast<Out>(zero_point);
    // Clamping before adding the zero point keeps the cast defined; the bounds
    // are exact in float and the result equals clamp(rounded + zp, qmin, qmax).
    const float low = static_cast<float>(qmin - zero_point), high = static_cast<float>(qmax - zero_point);
    return static_cast<Out>(static_cast<std::int32_t>(std::min(std::max(rounded, low), high)) + zero_point);
}

// q - zero_point as TFLite's int32 subtraction, modulo 2^32 where that overflows.
constexpr std::int32_t wrapping_subtract(std::int32_t q, std::int32_t zero_point) noexcept {
    return static_cast<std::int32_t>(static_cast<std::uint32_t>(q) - static_cast<std::uint32_t>(zero_point));
}

}  // namespace detail

// Validates the spec (qtl::error naming QUANTIZE) and computes the
// per-channel layout or the requantization multiplier once.
template <class In, class Out>
quantize_prepared<In, Out> prepare(const quantize_params<In, Out>& params) {
    const std::string where = "QUANTIZE";
    quantize_prepared<In, Out> p;
    p.shape = params.shape;
    p.size = num_elements(params.shape, where);
    const qtl::quant_params& out = params.output;

    if constexpr (std::is_same_v<In, float>) {
        check(params.input.scales.empty() && params.input.zero_points.empty(), where,
              "a float input has no quantization parameters, got ", params.input.scales.size(), " scales");
        check(out.block_size == 0, where, "the output cannot be quantized per block (block size ", out.block_size,
              ")");
        if (out.is_per_tensor()) {
            detail::check_per_tensor(out, "output", where);
        } else {
            const int axis = normalize_axis(out.axis, params.shape.size(), where);
            const auto channels = static_cast<std::size_t>(params.shape[static_cast<std::size_t>(axis)]);
            check(out.scales.size() == channels && out.zero_points.size() == channels, where, "output axis ", axis,
                  " has ", channels, " channels but ", out.scales.size(), " scales and ", out.zero_points.size(),
                  " zero points");
            p.channels = channels;
            for (std::size_t d = static_cast<std::size_t>(axis) + 1; d < params.shape.size(); ++d)
                p.inner *= static_cast<std::size_t>(params.shape[d]);
        }
        for (std::size_t c = 0; c < out.scales.size(); ++c)
            detail::check_quantize_tensor<Out>(out.is_per_tensor() ? "output" : "output channel " + std::to_string(c),
                                               out.scales[c], out.zero_points[c]);
        p.scales = out.scales;
        p.zero_points = out.zero_points;
    } else {
        detail::check_per_tensor(params.input, "input", where);
        detail::check_per_tensor(out, "output", where);
        const float input_scale = params.input.scales[0], output_scale = out.scales[0];
        detail::check_quantize_tensor<In>("input", input_scale, params.input.zero_points[0]);
        detail::check_quantize_tensor<Out>("output", output_scale, out.zero_points[0]);
        if constexpr (std::is_same_v<In, std::int16_t> && std::is_same_v<Out, std::int16_t>) {
            check(params.input.zero_points[0] == 0 && out.zero_points[0] == 0, where,
                  "int16 -> int16 needs zero points 0, got ", params.input.zero_points[0], " and ",
                  out.zero_points[0]);
        }
        const double real_multiplier = static_cast<double>(input_scale) / static_cast<double>(output_scale);
        check(std::isfinite(real_multiplier) && real_multiplier < 2147483648.0, where,
              "the multiplier input scale / output scale = ", real_multiplier, " must be below 2^31");
        p.input_zero_point = params.input.zero_points[0];
        p.multiplier = quantize_multiplier(real_multiplier);
        p.output = {out.zero_points[0], element_traits<Out>::min, element_traits<Out>::max};
    }
    return p;
}

// SIMD evaluation; throws qtl::error when a shape differs from the prepared one.
template <class In, class Out, class A = xsimd::default_arch>
void eval(const quantize_prepared<In, Out>& p, std::type_identity_t<tensor_view<const In>> input,
          std::type_identity_t<tensor_view<Out>> output) {
    check(input.shape == p.shape, "QUANTIZE", "input has shape ", shape_text(input.shape),
          " but the op was prepared for ", shape_text(p.shape));
    check(output.shape == p.shape, "QUANTIZE", "output has shape ", shape_text(output.shape), ", expected ",
          shape_text(p.shape));
    using int_batch = xsimd::batch<std::int32_t, A>;
    constexpr std::size_t lanes = int_batch::size;
    constexpr std::size_t chunk = 256;  // a multiple of every lane count
    static_assert(chunk % lanes == 0);
    alignas(A::alignment()) std::int32_t values[chunk];
    const In* in = input.data.data();
    Out* out = output.data.data();

    if constexpr (std::is_same_v<In, float>) {
        using float_batch = xsimd::batch<float, A>;
        static_assert(float_batch::size == lanes);
        constexpr std::int32_t qmin = element_traits<Out>::min, qmax = element_traits<Out>::max;
        alignas(A::alignment()) float scales[chunk];
        alignas(A::alignment()) std::int32_t zero_points[chunk];
        alignas(A::alignment()) float x[chunk];
        // round(x / scale) half away from zero, clamped to the type range
        // minus the zero point, NaN -> 0; then the zero point is added.
        const auto quantize = [](float_batch value, float_batch scale, int_batch zero_point) {
            const float_batch quotient = value / scale;
            const float_batch truncated = xsimd::trunc(quotient);
            const float_batch fraction = quotient - truncated;  // exact
            float_batch rounded = truncated + ::qtl::detail::simd_select(fraction >= float_batch(0.5f), float_batch(1.0f),
                                                            ::qtl::detail::simd_select(fraction <= float_batch(-0.5f),
                                                                          float_batch(-1.0f), float_batch(0.0f)));
            rounded = ::qtl::detail::simd_select(rounded == rounded, rounded, float_batch(0.0f));
            const float_batch low = xsimd::to_float(int_batch(qmin) - zero_point);
            const float_batch high = xsimd::to_float(int_batch(qmax) - zero_point);
            return xsimd::to_int(xsimd::min(xsimd::max(rounded, low), high)) + zero_point;
        };
        const bool per_tensor = p.scales.size() == 1;
        const float_batch scale0(per_tensor ? p.scales[0] : 1.0f);
        const int_batch zero_point0(per_tensor ? p.zero_points[0] : 0);
        for (std::size_t start = 0; start < p.size; start += chunk) {
            const std::size_t n = std::min(chunk, p.size - start);
            const std::size_t padded = (n + lanes - 1) / lanes * lanes;
            std::copy(in + start, in + start + n, x);
            std::fill(x + n, x + padded, 0.0f);
            if (!per_tensor) {
                // Channel of element `start`, then advance it element by element.
                std::size_t position = start % p.inner, channel = (start / p.inner) % p.channels;
                for (std::size_t j = 0; j < padded; ++j) {
                    scales[j] = p.scales[channel];
                    zero_points[j] = p.zero_points[channel];
                    if (++position == p.inner) {
                        position = 0;
                        if (++channel == p.channels) channel = 0;
                    }
                }
            }
            for (std::size_t i = 0; i < padded; i += lanes) {
                const float_batch value = float_batch::load_aligned(x + i);
                const int_batch q = per_tensor ? quantize(value, scale0, zero_point0)
                                               : quantize(value, float_batch::load_aligned(scales + i),
                                                          int_batch::load_aligned(zero_points + i));
                q.store_aligned(values + i);
            }
            for (std::size_t j = 0; j < n; ++j) out[start + j] = static_cast<Out>(values[j]);
        }
    } else {
        const int_batch zero_point(p.input_zero_point);
        for (std::size_t start = 0; start < p.size; start += chunk) {
            const std::size_t n = std::min(chunk, p.size - start);
            const std::size_t padded = (n + lanes - 1) / lanes * lanes;
            for (std::size_t j = 0; j < n; ++j) values[j] = in[start + j];
            std::fill(values + n, values + padded, 0);
            // Lane subtraction wraps like detail::wrapping_subtract.
            for (std::size_t i = 0; i < padded; i += lanes)
                (int_batch::load_aligned(values + i) - zero_point).store_aligned(values + i);
            requantize_n<Out, double_rounding, A>(values, n, p.multiplier, p.output, out + start);
        }
    }
}

}  // namespace qtl::ops

QTL_DETAIL_GCC_BUG_105593_END
