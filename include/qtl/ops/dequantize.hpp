#pragma once
// DEQUANTIZE, the TFLite op (kernels/dequantize.cc): int8/uint8/int16/int4
// -> float32, bit-exact with TFLite's reference kernels
// (reference_ops::Dequantize, PerChannelDequantize):
//
//   x = float(scale * (q - zero_point))
//
// per tensor in double (TFLite widens the scale), per channel in float.  Both
// give the same float: q - zero_point has at most 17 bits and the scale 24,
// so the product is exact in double and also exactly what a float multiply
// rounds, once.  The SIMD path therefore multiplies in float lanes.
//
// int4 input is packed two values per byte in TFLite's order (see
// core/int4_packing.hpp): its eval() takes the bytes as a span, the output
// view carries the shape.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "qtl/core/element_types.hpp"
#include "qtl/core/error.hpp"
#include "qtl/core/int4_packing.hpp"
#include "qtl/core/shape.hpp"
#include "qtl/core/tensor_view.hpp"
#include "qtl/detail/gcc_bug_105593.hpp"
#include "qtl/quant/quant_params.hpp"

QTL_DETAIL_GCC_BUG_105593_BEGIN

namespace qtl::ops {

template <class In>
struct dequantize_params {
    static_assert(std::is_same_v<In, std::int8_t> || std::is_same_v<In, std::uint8_t> ||
                      std::is_same_v<In, std::int16_t> || std::is_same_v<In, int4>,
                  "DEQUANTIZE supports int8, uint8, int16 and int4 inputs (TFLite's set without float16)");
    qtl::shape shape;
    qtl::quant_params input;  // one scale and zero point, or one per index along `axis`
};

template <class In>
struct dequantize_prepared {
    qtl::shape shape;
    std::size_t size = 0;
    // One scale and zero point per channel (one when per tensor); element i
    // belongs to channel (i / inner) % channels.
    std::vector<float> scales;
    std::vector<std::int32_t> zero_points;
    std::size_t channels = 1;
    std::size_t inner = 1;
};

// Validates the spec (qtl::error naming DEQUANTIZE) and lays out the channels once.
template <class In>
dequantize_prepared<In> prepare(const dequantize_params<In>& params) {
    const std::string where = "DEQUANTIZE";
    const qtl::quant_params& q = params.input;
    dequantize_prepared<In> p;
    p.shape = params.shape;
    p.size = num_elements(params.shape, where);
    check(q.block_size == 0, where, "the input cannot be quantized per block (block size ", q.block_size, ")");
    if (q.is_per_tensor()) {
        check(q.scales.size() == 1 && q.zero_points.size() == 1, where,
              "a per-tensor input needs one scale and one zero point, got ", q.scales.size(), " and ",
              q.zero_points.size());
    } else {
        const int axis = normalize_axis(q.axis, params.shape.size(), where);
        const auto channels = static_cast<std::size_t>(params.shape[static_cast<std::size_t>(axis)]);
        check(q.scales.size() == channels && q.zero_points.size() == channels, where, "input axis ", axis, " has ",
              channels, " channels but ", q.scales.size(), " scales and ", q.zero_points.size(), " zero points");
        p.channels = channels;
        for (std::size_t d = static_cast<std::size_t>(axis) + 1; d < params.shape.size(); ++d)
            p.inner *= static_cast<std::size_t>(params.shape[d]);
    }
    constexpr std::int32_t qmin = element_traits<In>::min, qmax = element_traits<In>::max;
    for (std::size_t c = 0; c < q.scales.size(); ++c) {
        const std::string tensor = q.is_per_tensor() ? "input" : "input channel " + std::to_string(c);
        check(std::isfinite(q.scales[c]) && q.scales[c] > 0.0f, where, tensor, " scale must be finite and > 0, got ",
              q.scales[c]);
        check(q.zero_points[c] >= qmin && q.zero_points[c] <= qmax, where, tensor, " zero point ", q.zero_points[c],
              " is outside the ", element_traits<In>::name, " range [", qmin, ", ", qmax, "]");
    }
    p.scales = q.scales;
    p.zero_points = q.zero_points;
    return p;
}

namespace detail {

// The shared SIMD loop: widen(start, n, values) writes elements
// [start, start + n) of the input as int32.
template <class In, class A, class Widen>
void dequantize_chunks(const dequantize_prepared<In>& p, float* out, Widen widen) {
    using int_batch = xsimd::batch<std::int32_t, A>;
    using float_batch = xsimd::batch<float, A>;
    constexpr std::size_t lanes = int_batch::size;
    static_assert(float_batch::size == lanes);
    constexpr std::size_t chunk = 256;  // a multiple of every lane count
    static_assert(chunk % lanes == 0);
    alignas(A::alignment()) std::int32_t values[chunk];
    alignas(A::alignment()) float scales[chunk];
    alignas(A::alignment()) std::int32_t zero_points[chunk];
    alignas(A::alignment()) float result[chunk];
    const bool per_tensor = p.scales.size() == 1;
    const float_batch scale0(per_tensor ? p.scales[0] : 1.0f);
    const int_batch zero_point0(per_tensor ? p.zero_points[0] : 0);
    for (std::size_t start = 0; start < p.size; start += chunk) {
        const std::size_t n = std::min(chunk, p.size - start);
        const std::size_t padded = (n + lanes - 1) / lanes * lanes;
        widen(start, n, values);
        std::fill(values + n, values + padded, 0);
        if (!per_tensor) {
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
            const int_batch q = int_batch::load_aligned(values + i);
            const float_batch x =
                per_tensor ? xsimd::to_float(q - zero_point0) * scale0
                           : xsimd::to_float(q - int_batch::load_aligned(zero_points + i)) *
                                 float_batch::load_aligned(scales + i);
            x.store_aligned(result + i);
        }
        std::copy(result, result + n, out + start);
    }
}

inline void check_dequantize_output(const qtl::shape& prepared, const qtl::shape& output) {
    check(output == prepared, "DEQUANTIZE", "output has shape ", shape_text(output), ", expected ",
          shape_text(prepared));
}

}  // namespace detail

// SIMD evaluation of int8/uint8/int16 input; throws qtl::error when a shape
// differs from the prepared one.
template <class In, class A = xsimd::default_arch>
    requires(!std::is_same_v<In, int4>)
void eval(const dequantize_prepared<In>& p, std::type_identity_t<tensor_view<const In>> input,
          tensor_view<float> output) {
    check(input.shape == p.shape, "DEQUANTIZE", "input has shape ", shape_text(input.shape),
          " but the op was prepared for ", shape_text(p.shape));
    detail::check_dequantize_output(p.shape, output.shape);
    const In* in = input.data.data();
    detail::dequantize_chunks<In, A>(p, output.data.data(), [in](std::size_t start, std::size_t n, std::int32_t* v) {
        for (std::size_t j = 0; j < n; ++j) v[j] = in[start + j];
    });
}

// SIMD evaluation of packed int4 input (packed_int4_bytes(size) bytes).
template <class A = xsimd::default_arch>
void eval(const dequantize_prepared<int4>& p, std::span<const std::uint8_t> packed, tensor_view<float> output) {
    check(packed.size() == packed_int4_bytes(p.size), "DEQUANTIZE", "int4 input of shape ", shape_text(p.shape),
          " needs ", packed_int4_bytes(p.size), " packed bytes, got ", packed.size());
    detail::check_dequantize_output(p.shape, output.shape);
    detail::dequantize_chunks<int4, A>(p, output.data.data(), [packed](std::size_t start, std::size_t n,
                                                                       std::int32_t* v) {
        for (std::size_t j = 0; j < n; ++j) {
            const std::size_t i = start + j;
            const std::uint8_t byte = packed[i / 2];
            v[j] = sign_extend_int4(static_cast<std::uint8_t>(i % 2 == 0 ? byte & 0x0F : byte >> 4));
        }
    });
}

}  // namespace qtl::ops

QTL_DETAIL_GCC_BUG_105593_END
