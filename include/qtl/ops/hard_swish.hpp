#pragma once
// HARD_SWISH (TFLite builtin 117), hard_swish(x) = x * relu6(x + 3) / 6, on
// int8 tensors (op version 1; TFLite has no int16 kernel for it).  TFLite's
// reference kernel works in int16 fixed point (gemmlowp semantics):
//
//   x16      = (q - in_zp) * 2^7                    the input on a 128x finer scale
//   pre_out  = srdhm16(x16, M_out)                   x on the output scale, not yet shifted
//   reluish  = x16 rescaled so that 3.0 is 2^15 (M_reluish, saturating), then
//              mapped from [-1, 1] to [0, 1]:  (reluish + 2^15) >> 1       = relu6(x + 3) / 6 in Q0.15
//   out      = clamp(rounding_divide_by_pot(sdhm16(reluish, pre_out), -exp_out) + out_zp, -128, 127)
//
// with M_out = (in_scale / 128) / out_scale and M_reluish = (in_scale / 128) /
// (3 / 32768) as Q15 multipliers (a Q31 multiplier rounded to 16 bits) and
// power-of-two exponents; sdhm16 truncates where srdhm16 rounds, which TFLite
// chose to cancel the rounding bias.  TFLite requires exp_out <= 0
// (in_scale / 128 <= out_scale); prepare() throws qtl::error otherwise.
//
// With 256 possible inputs, prepare() also tabulates the whole arithmetic:
// eval() is a table gather, reference::eval() runs the arithmetic per element.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <tuple>
#include <type_traits>

#include "qtl/core/error.hpp"
#include "qtl/core/shape.hpp"
#include "qtl/core/tensor_view.hpp"
#include "qtl/fixedpoint/quantize_multiplier.hpp"
#include "qtl/ops/detail/quantization_checks.hpp"
#include "qtl/ops/lookup_table.hpp"

namespace qtl::ops {

template <class T>
struct hard_swish_params {
    static_assert(std::is_same_v<T, std::int8_t>,
                  "HARD_SWISH supports int8 tensors only: TFLite has no int16 (16x8) HARD_SWISH kernel");
    qtl::shape shape;  // input and output
    float input_scale = 1.0f;
    std::int32_t input_zero_point = 0;
    float output_scale = 1.0f;
    std::int32_t output_zero_point = 0;
};

template <class T>
struct hard_swish_prepared {
    qtl::shape shape;
    std::int16_t input_zero_point = 0;
    std::int16_t output_zero_point = 0;
    std::int16_t output_multiplier = 0;  // Q15
    int output_exponent = 0;             // <= 0
    std::int16_t reluish_multiplier = 0;  // Q15
    int reluish_exponent = 0;
    int8_lut table;  // the arithmetic below for each of the 256 inputs
};

namespace detail::hard_swish_op {

inline const std::string where = "HARD_SWISH";

// --- gemmlowp's int16 fixed-point primitives (scalar) -----------------------------

// round(a * b / 2^15), ties towards +infinity as gemmlowp nudges them, saturating -1 * -1.
constexpr std::int16_t saturating_rounding_doubling_high_mul(std::int16_t a, std::int16_t b) noexcept {
    if (a == b && a == std::numeric_limits<std::int16_t>::min()) return std::numeric_limits<std::int16_t>::max();
    const std::int32_t ab = std::int32_t{a} * b;
    const std::int32_t nudge = ab >= 0 ? (1 << 14) : (1 - (1 << 14));
    return static_cast<std::int16_t>((ab + nudge) / (1 << 15));  // division truncates toward zero
}

// a * b / 2^15 truncated toward zero (TFLite's SaturatingDoublingHighMul, like ARM's SQDMULH).
constexpr std::int16_t saturating_doubling_high_mul(std::int16_t a, std::int16_t b) noexcept {
    if (a == b && a == std::numeric_limits<std::int16_t>::min()) return std::numeric_limits<std::int16_t>::max();
    return static_cast<std::int16_t>((std::int32_t{a} * b) / (1 << 15));
}

// gemmlowp's RoundingDivideByPOT on int16, exponent in [0, 31].  Its mask is
// an int16, so from exponent 16 on it is -1 and the "rounding" compares x
// itself with -1 or 0: those are gemmlowp's (and so TFLite's) results, kept.
constexpr std::int16_t rounding_divide_by_pot(std::int16_t x, int exponent) noexcept {
    const auto mask = static_cast<std::int16_t>((std::int64_t{1} << exponent) - 1);
    const auto remainder = static_cast<std::int16_t>(x & mask);
    const auto threshold = static_cast<std::int16_t>((mask >> 1) + (x < 0 ? 1 : 0));
    return static_cast<std::int16_t>((x >> exponent) + (remainder > threshold ? 1 : 0));
}

// value * 2^amount clamped to int16 (TFLite's SaturatingLeftShift), amount in [0, 30].
constexpr std::int16_t saturating_left_shift(std::int16_t value, int amount) noexcept {
    const std::int64_t result = std::int64_t{value} * (std::int64_t{1} << amount);
    return static_cast<std::int16_t>(std::clamp<std::int64_t>(result, std::numeric_limits<std::int16_t>::min(),
                                                              std::numeric_limits<std::int16_t>::max()));
}

// TFLite's DownScaleInt32ToInt16Multiplier: a Q31 multiplier rounded to Q15.
constexpr std::int16_t q15_multiplier(std::int32_t q31) noexcept {
    constexpr std::int32_t rounding = 1 << 15;
    if (q31 >= std::numeric_limits<std::int32_t>::max() - rounding) return std::numeric_limits<std::int16_t>::max();
    return static_cast<std::int16_t>((q31 + rounding) >> 16);
}

// One element: TFLite's reference HardSwish arithmetic.
template <class T>
std::int8_t hard_swish_one(const hard_swish_prepared<T>& p, std::int8_t q) noexcept {
    const auto input_value = static_cast<std::int16_t>(q - p.input_zero_point);
    const auto hires = static_cast<std::int16_t>(input_value * (1 << 7));
    const std::int16_t preshift_output = saturating_rounding_doubling_high_mul(hires, p.output_multiplier);
    // Rescale so that 3.0 is 2^15: shift left (all but one bit, so that saturation there
    // cannot matter), multiply, shift the last bit left (saturating) or shift right.
    std::int16_t reluish = hires;
    if (p.reluish_exponent > 0) reluish = saturating_left_shift(reluish, p.reluish_exponent - 1);
    reluish = saturating_rounding_doubling_high_mul(reluish, p.reluish_multiplier);
    if (p.reluish_exponent > 0) reluish = saturating_left_shift(reluish, 1);
    if (p.reluish_exponent < 0) reluish = rounding_divide_by_pot(reluish, -p.reluish_exponent);
    reluish = static_cast<std::int16_t>((std::int32_t{reluish} + (1 << 15)) >> 1);  // [-1, 1] -> [0, 1]
    const std::int16_t preshift_output_value = saturating_doubling_high_mul(reluish, preshift_output);
    std::int16_t out = rounding_divide_by_pot(preshift_output_value, -p.output_exponent);
    out = static_cast<std::int16_t>(out + p.output_zero_point);  // int16 arithmetic, as TFLite
    out = std::min<std::int16_t>(out, 127);
    out = std::max<std::int16_t>(out, -128);
    return static_cast<std::int8_t>(out);
}

template <class T>
void check_views(const hard_swish_prepared<T>& p, const tensor_view<const T>& input, const tensor_view<T>& output) {
    check(input.shape == p.shape, where, "input shape ", shape_text(input.shape), " differs from the prepared ",
          shape_text(p.shape));
    check(output.shape == p.shape, where, "output shape ", shape_text(output.shape), " differs from the prepared ",
          shape_text(p.shape));
}

}  // namespace detail::hard_swish_op

template <class T>
hard_swish_prepared<T> prepare(const hard_swish_params<T>& p) {
    using namespace detail::hard_swish_op;
    detail::check_tensor_quantization<T>(where, "input", p.input_scale, p.input_zero_point);
    detail::check_tensor_quantization<T>(where, "output", p.output_scale, p.output_zero_point);
    num_elements(p.shape, where + " shape");

    hard_swish_prepared<T> r;
    r.shape = p.shape;
    r.input_zero_point = static_cast<std::int16_t>(p.input_zero_point);
    r.output_zero_point = static_cast<std::int16_t>(p.output_zero_point);
    // Float arithmetic, as TFLite's prepare.
    const float hires_input_scale = (1.0f / 128.0f) * p.input_scale;
    const float reluish_scale = 3.0f / 32768.0f;
    const float output_multiplier = hires_input_scale / p.output_scale;
    const quantized_multiplier out = quantize_multiplier(output_multiplier);
    r.output_multiplier = q15_multiplier(out.multiplier);
    r.output_exponent = out.shift;
    check(r.output_exponent <= 0, where, "the output multiplier (input scale / 128) / output scale = ",
          output_multiplier, " must be < 1 (TFLite requires its exponent <= 0, got ", r.output_exponent, ")");
    const float reluish_multiplier = hires_input_scale / reluish_scale;
    const quantized_multiplier reluish = quantize_multiplier(reluish_multiplier);
    r.reluish_multiplier = q15_multiplier(reluish.multiplier);
    r.reluish_exponent = reluish.shift;
    check(r.reluish_exponent <= 31, where, "input scale ", p.input_scale,
          " is too large: the relu6 rescaling would shift by more than 31 bits");
    r.table = tabulate_int8([&](std::int8_t q) { return hard_swish_one(r, q); });
    return r;
}

// The table gather built in prepare() (scalar: see lookup_n): with every
// input precomputed there is no arithmetic left to vectorize.
template <class T>
void eval(const hard_swish_prepared<T>& p, tensor_view<const T> input, tensor_view<T> output) {
    detail::hard_swish_op::check_views(p, input, output);
    lookup_n(p.table, input.data.data(), input.size(), output.data.data());
}

}  // namespace qtl::ops
