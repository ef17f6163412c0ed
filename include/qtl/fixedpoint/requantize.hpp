#pragma once
// The requantize stage every integer op ends in: an int32 accumulator (bias
// already added) is scaled by a quantized multiplier, offset by the output
// zero point and clamped to the activation range, then narrowed.
//
//   out = clamp(multiply_by_quantized_multiplier(acc, m, shift) + zp, act_min, act_max)
//
// act_min/act_max already include the fused activation (RELU, RELU6, ...)
// intersected with the output type's range (see fused_activation_range).

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "qtl/core/error.hpp"
#include "qtl/fixedpoint/multiply_by_quantized_multiplier.hpp"

namespace qtl {

struct requantize_params {
    std::int32_t output_zero_point = 0;
    std::int32_t activation_min = 0;  // in the output's quantized domain
    std::int32_t activation_max = 0;
};

template <class Out, rounding_policy Policy = double_rounding>
constexpr Out requantize(std::int32_t acc, quantized_multiplier qm, const requantize_params& p) noexcept {
    const std::int64_t shifted =
        std::int64_t{multiply_by_quantized_multiplier<Policy>(acc, qm.multiplier, qm.shift)} + p.output_zero_point;
    // max then min rather than std::clamp: defined even for act_min > act_max
    // (the result is then act_max), and the batch version does the same.
    return static_cast<Out>(std::min<std::int64_t>(std::max<std::int64_t>(shifted, p.activation_min), p.activation_max));
}

}  // namespace qtl

namespace qtl {

// Array forms of the stage, the entry points ops use after accumulating a row.
// The SIMD versions live in requantize_batch.hpp and must equal these.

// out[i] = requantize(acc[i], qm, p) for i < n.
template <class Out, rounding_policy Policy = double_rounding>
void requantize_n_reference(const std::int32_t* acc, std::size_t n, quantized_multiplier qm,
                            const requantize_params& p, Out* out) noexcept {
    for (std::size_t i = 0; i < n; ++i) out[i] = requantize<Out, Policy>(acc[i], qm, p);
}

// Per channel: element i belongs to channel i % channels (channels innermost,
// as in NHWC / [batch, out_features]); multipliers and shifts have `channels` entries.
// Throws qtl::error when channels == 0 and n > 0.
template <class Out, rounding_policy Policy = double_rounding>
void requantize_channels_n_reference(const std::int32_t* acc, std::size_t n, const std::int32_t* multipliers,
                                     const std::int32_t* shifts, std::size_t channels,
                                     const requantize_params& p, Out* out) {
    if (n > 0 && channels == 0)
        throw error("requantize_channels_n_reference", detail::concat("channels must be > 0, got 0 for ", n, " elements"));
    for (std::size_t i = 0; i < n; ++i) {
        const std::size_t c = i % channels;
        out[i] = requantize<Out, Policy>(acc[i], {multipliers[c], static_cast<int>(shifts[c])}, p);
    }
}

}  // namespace qtl
