#pragma once
// Scalar fixed-point primitives of TFLite's requantization.  These are the
// reference: the batch (SIMD) versions in multiply_by_quantized_multiplier_batch.hpp
// must equal them bit for bit, and they equal gemmlowp's fixedpoint.h and
// TFLite's common.h (tested against gemmlowp in tests/fixedpoint/).
//
// Every shift and product is done in unsigned or 64-bit arithmetic where
// TFLite relies on two's-complement wrap-around, so there is no UB here.

#include <cstdint>
#include <limits>
#include <type_traits>

#include "qtl/fixedpoint/quantize_multiplier.hpp"
#include "qtl/fixedpoint/rounding_policy.hpp"

namespace qtl {

// round(a * b / 2^31), saturating the one overflow case a == b == INT32_MIN
// to INT32_MAX (gemmlowp's SaturatingRoundingDoublingHighMul).  Ties round
// towards +infinity, not away from zero: gemmlowp adds 2^30 - 1 to a negative
// product before the truncating division, so -0.5 becomes 0 (the net effect
// for both signs is floor((a * b + 2^30) / 2^31)).
constexpr std::int32_t saturating_rounding_doubling_high_mul(std::int32_t a, std::int32_t b) noexcept {
    if (a == b && a == std::numeric_limits<std::int32_t>::min()) return std::numeric_limits<std::int32_t>::max();
    const std::int64_t ab = static_cast<std::int64_t>(a) * b;
    const std::int64_t nudge = ab >= 0 ? (1LL << 30) : (1 - (1LL << 30));
    return static_cast<std::int32_t>((ab + nudge) / (1LL << 31));  // division truncates toward zero
}

// x / 2^exponent rounded to nearest, ties away from zero; exponent in [0, 31]
// (gemmlowp's RoundingDivideByPOT).
constexpr std::int32_t rounding_divide_by_pot(std::int32_t x, int exponent) noexcept {
    const std::int32_t mask = static_cast<std::int32_t>((1LL << exponent) - 1);
    const std::int32_t remainder = x & mask;
    const std::int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

// x * 2^shift modulo 2^32, as TFLite's `x * (1 << shift)` behaves on
// two's-complement hardware; shift >= 0.  Shifts of 32 and more (multipliers
// >= 2^31, which no real requantization has) give 0 instead of UB.
constexpr std::int32_t wrapping_shift_left(std::int32_t x, int shift) noexcept {
    if (shift >= 32) return 0;
    return static_cast<std::int32_t>(static_cast<std::uint32_t>(x) << shift);
}

// TFLite's MultiplyByQuantizedMultiplier(int32 x, multiplier, shift):
//   double rounding: rounding_divide_by_pot(srdhm(x << max(shift,0), m), max(-shift,0)),
//                    shift >= -31 (any value quantize_multiplier<double_rounding> gives)
//   single rounding: (x * m + 2^(30 - shift)) >> (31 - shift), shift in [-31, 30]
// Any int32 x and multiplier (also negative ones) are fine.
template <rounding_policy Policy = double_rounding>
constexpr std::int32_t multiply_by_quantized_multiplier(std::int32_t x, std::int32_t multiplier, int shift) noexcept {
    if constexpr (std::is_same_v<Policy, double_rounding>) {
        const int left_shift = shift > 0 ? shift : 0;
        const int right_shift = shift > 0 ? 0 : -shift;
        return rounding_divide_by_pot(
            saturating_rounding_doubling_high_mul(wrapping_shift_left(x, left_shift), multiplier), right_shift);
    } else {
        const int total_shift = 31 - shift;
        const std::int64_t round = 1LL << (total_shift - 1);
        const std::int64_t result = (static_cast<std::int64_t>(x) * multiplier + round) >> total_shift;
        return static_cast<std::int32_t>(result);  // TFLite assumes it fits; keep the low 32 bits as it does
    }
}

template <rounding_policy Policy = double_rounding>
constexpr std::int32_t multiply_by_quantized_multiplier(std::int32_t x, quantized_multiplier qm) noexcept {
    return multiply_by_quantized_multiplier<Policy>(x, qm.multiplier, qm.shift);
}

// TFLite's MultiplyByQuantizedMultiplier(int64 x, ...) used by 16x8 kernels
// with int64 accumulators: the multiplier is reduced to Q15 (rounded, and
// saturated to 0x7FFF where rounding would reach 2^15) and one rounding right
// shift (half up) is applied.  TFLite's double- and single-rounding builds
// compute exactly the same thing here, so there is no policy parameter.
// TFLite assumes x in [-2^47, 2^47); outside it the product wraps modulo 2^64
// (no UB).  shift in [-31, 7].
constexpr std::int32_t multiply_by_quantized_multiplier_int64(std::int64_t x, std::int32_t multiplier, int shift) noexcept {
    const std::int32_t reduced = multiplier < 0x7FFF0000 ? ((multiplier + (1 << 15)) >> 16) : 0x7FFF;
    const int total_shift = 15 - shift;
    const std::uint64_t product = static_cast<std::uint64_t>(x) * static_cast<std::uint64_t>(std::int64_t{reduced});
    const auto rounded = static_cast<std::int64_t>(product + (std::uint64_t{1} << (total_shift - 1)));
    return static_cast<std::int32_t>(rounded >> total_shift);
}

}  // namespace qtl
