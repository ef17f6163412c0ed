#pragma once
// SOFTMAX (TFLite builtin 25) on quantized tensors, over the last axis, as
// TFLite's reference kernels compute it:
//
//  int8  (op version 2): gemmlowp fixed point.  Per row, with d = q - max(row):
//          s   = srdhm(d * 2^left_shift, M)                 Q5.26, M = beta * in_scale * 2^26 (capped)
//          e   = exp_on_negative_values(s)                  Q0.31, 0 where d < diff_min
//          sum = sum of rounding_divide_by_pot(e, 12)       Q12.19
//          1/sum = one_over_one_plus_x_for_x_in_0_1(...) with 2^num_bits_over_unit
//          out = clamp(rounding_divide_by_pot(srdhm(1/sum, e), num_bits_over_unit + 23) - 128)
//        The last line is the requantize stage with multiplier 1/sum and shift
//        -(num_bits_over_unit + 23).  Output scale 1/256 (within 0.1%, as
//        TFLite checks), zero point -128.  TFLite's kernel aborts when a row's
//        sum of exponentials reaches 512 (its shift would exceed 31); qtl
//        throws qtl::error there.  Only possible with depth >= 512.
//  int16 (16x8 mode, op version 3): two interpolated 513-entry tables (exp on
//        [-10, 0] and 1 / (1 + x) on [0, 1], built in double like TFLite):
//          e   = exp_lut(clamp(MBQM(d, beta * in_scale / (10 / 65535)) + 32767))   Q0.15
//          sum = sum of e; h = clz(sum)
//          r   = reciprocal_lut(clamp(((sum << (h - 1)) + 2^13 >> 14) - 98304))   Q0.15
//          out = clamp((e * r + 2^(30 - h)) >> (31 - h), 0, 32767)
//        Output scale 1/32768 (within 0.1%), zero points 0; rank 1 to 4
//        (TFLite's int16 kernel refuses others).
//
// The gemmlowp primitives below are scalar int32 versions of gemmlowp's
// fixedpoint.h functions (tested against gemmlowp in tests/ops/softmax.cpp).

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>

#include <xsimd/xsimd.hpp>

#include "qtl/core/error.hpp"
#include "qtl/core/shape.hpp"
#include "qtl/core/tensor_view.hpp"
#include "qtl/detail/gcc_bug_105593.hpp"
#include "qtl/fixedpoint/multiply_by_quantized_multiplier.hpp"
#include "qtl/fixedpoint/multiply_by_quantized_multiplier_batch.hpp"
#include "qtl/fixedpoint/quantize_multiplier.hpp"
#include "qtl/fixedpoint/requantize.hpp"
#include "qtl/fixedpoint/requantize_batch.hpp"
#include "qtl/ops/detail/quantization_checks.hpp"
#include "qtl/ops/lookup_table.hpp"

QTL_DETAIL_GCC_BUG_105593_BEGIN

namespace qtl::ops {

template <class T>
struct softmax_params {
    static_assert(std::is_same_v<T, std::int8_t> || std::is_same_v<T, std::int16_t>,
                  "SOFTMAX supports int8 and int16 (16x8) tensors only (int8 in, int8 out; int16 in, int16 out)");
    qtl::shape shape;  // input and output
    float input_scale = 1.0f;
    std::int32_t input_zero_point = 0;
    float output_scale = std::is_same_v<T, std::int8_t> ? 1.0f / 256 : 1.0f / 32768;  // the only valid values
    std::int32_t output_zero_point = std::is_same_v<T, std::int8_t> ? -128 : 0;
    float beta = 1.0f;  // SoftmaxOptions.beta
    int axis = -1;      // TFLite normalizes the last axis only
};

template <class T>
struct softmax_prepared {
    qtl::shape shape;
    std::size_t rows = 0;   // product of the other dimensions
    std::size_t depth = 0;  // the last dimension

    // int8
    std::int32_t input_multiplier = 0;  // Q31, with input_left_shift >= 1
    int input_left_shift = 0;
    std::int32_t diff_min = 0;  // differences below this contribute exp = 0
    // For the SIMD path: exp (Q0.31) and exp rescaled to Q12.19 of every
    // difference max - q in [0, 255] (0 below diff_min), a pure function of d.
    std::array<std::int32_t, 256> exp_of_difference{};
    std::array<std::int32_t, 256> exp_q12_of_difference{};

    // int16
    quantized_multiplier difference_multiplier;  // in_scale * beta / (10 / 65535)
    int16_lut exp_lut;                           // exp on [-10, 0]
    int16_lut reciprocal_lut;                    // 1 / (1 + x) on [0, 1]
};

namespace detail::softmax_op {

inline const std::string where = "SOFTMAX";

// --- gemmlowp's fixed-point functions on int32 (scalar) --------------------------
// gemmlowp adds without saturating and relies on the ranges never
// overflowing; the wrapping adds here compute the same values without UB.

constexpr std::int32_t wrapping_add(std::int32_t a, std::int32_t b) noexcept {
    return static_cast<std::int32_t>(static_cast<std::uint32_t>(a) + static_cast<std::uint32_t>(b));
}
constexpr std::int32_t wrapping_sub(std::int32_t a, std::int32_t b) noexcept {
    return static_cast<std::int32_t>(static_cast<std::uint32_t>(a) - static_cast<std::uint32_t>(b));
}

// Fixed-point product (any formats): gemmlowp's operator* on FixedPoint.
constexpr std::int32_t fixed_mul(std::int32_t a, std::int32_t b) noexcept {
    return saturating_rounding_doubling_high_mul(a, b);
}

// x * 2^Exponent, saturating (gemmlowp's SaturatingRoundingMultiplyByPOT for Exponent > 0).
template <int Exponent>
constexpr std::int32_t saturating_shift_left(std::int32_t x) noexcept {
    static_assert(Exponent > 0 && Exponent < 31);
    constexpr std::int32_t threshold = (std::int32_t{1} << (31 - Exponent)) - 1;
    if (x > threshold) return std::numeric_limits<std::int32_t>::max();
    if (x < -threshold) return std::numeric_limits<std::int32_t>::min();
    return static_cast<std::int32_t>(static_cast<std::uint32_t>(x) << Exponent);
}

// (a + b) / 2 rounded half away from zero (gemmlowp's RoundingHalfSum).
constexpr std::int32_t rounding_half_sum(std::int32_t a, std::int32_t b) noexcept {
    const std::int64_t sum = std::int64_t{a} + b;
    return static_cast<std::int32_t>((sum + (sum >= 0 ? 1 : -1)) / 2);
}

// exp(a) for a in [-1/4, 0), Q0.31 in and out: a Taylor expansion around -1/8.
constexpr std::int32_t exp_on_interval_between_negative_one_quarter_and_0_excl(std::int32_t a) noexcept {
    constexpr std::int32_t exp_minus_one_eighth = 1895147668;  // exp(-1/8) in Q0.31
    constexpr std::int32_t one_third = 715827883;              // 1/3 in Q0.31
    const std::int32_t x = wrapping_add(a, std::int32_t{1} << 28);  // a + 1/8
    const std::int32_t x2 = fixed_mul(x, x);
    const std::int32_t x3 = fixed_mul(x2, x);
    const std::int32_t x4 = fixed_mul(x2, x2);
    const std::int32_t x4_over_4 = rounding_divide_by_pot(x4, 2);
    // x^4/24 + x^3/6 + x^2/2 = ((x^4/4 + x^3) / 3 + x^2) / 2
    const std::int32_t higher_terms =
        rounding_divide_by_pot(wrapping_add(fixed_mul(wrapping_add(x4_over_4, x3), one_third), x2), 1);
    return wrapping_add(exp_minus_one_eighth, fixed_mul(exp_minus_one_eighth, wrapping_add(x, higher_terms)));
}

// exp(a) for a <= 0 in Q5.26, result in Q0.31: exp of a mod 1/4 times
// exp(-2^k) for each bit k of the rest (gemmlowp's barrel shifter).
constexpr std::int32_t exp_on_negative_values_q5_26(std::int32_t a) noexcept {
    constexpr int fractional_bits = 26;
    constexpr std::int32_t one_quarter = std::int32_t{1} << (fractional_bits - 2);
    const std::int32_t a_mod_quarter_minus_one_quarter = (a & (one_quarter - 1)) - one_quarter;
    std::int32_t result =
        exp_on_interval_between_negative_one_quarter_and_0_excl(saturating_shift_left<5>(a_mod_quarter_minus_one_quarter));
    const std::int32_t remainder = wrapping_sub(a_mod_quarter_minus_one_quarter, a);
    // exp(-1/4), exp(-1/2), exp(-1), exp(-2), exp(-4), exp(-8), exp(-16) in Q0.31
    constexpr std::int32_t exp_of_minus_power_of_two[7] = {1672461947, 1302514674, 790015084, 290630308,
                                                           39332535,   720401,     242};
    for (int k = 0; k < 7; ++k) {
        if (remainder & (std::int32_t{1} << (fractional_bits - 2 + k))) result = fixed_mul(result, exp_of_minus_power_of_two[k]);
    }
    // (With 5 integer bits gemmlowp needs no clamp below -32.)
    return a == 0 ? std::numeric_limits<std::int32_t>::max() : result;
}

// 1 / (1 + a) for a in [0, 1), Q0.31 in and out: three Newton-Raphson steps
// on the half denominator, from the 48/17 - 32/17 x initial guess.
constexpr std::int32_t one_over_one_plus_x_for_x_in_0_1(std::int32_t a) noexcept {
    const std::int32_t half_denominator = rounding_half_sum(a, std::numeric_limits<std::int32_t>::max());
    constexpr std::int32_t constant_48_over_17 = 1515870810;       // Q2.29
    constexpr std::int32_t constant_neg_32_over_17 = -1010580540;  // Q2.29
    constexpr std::int32_t one_q2_29 = std::int32_t{1} << 29;
    std::int32_t x = wrapping_add(constant_48_over_17, fixed_mul(half_denominator, constant_neg_32_over_17));
    for (int i = 0; i < 3; ++i) {
        const std::int32_t half_denominator_times_x = fixed_mul(half_denominator, x);          // Q2.29
        const std::int32_t one_minus = wrapping_sub(one_q2_29, half_denominator_times_x);      // Q2.29
        x = wrapping_add(x, saturating_shift_left<2>(fixed_mul(x, one_minus)));                // Q4.27 -> Q2.29
    }
    return saturating_shift_left<1>(x);  // x / 2 in Q1.30 rescaled to Q0.31
}

// TFLite's GetReciprocal: 1 / x for x > 0 in Q(integer_bits), as a Q0.31
// value and a power of two: 1/x = result * 2^-num_bits_over_unit.
inline std::int32_t reciprocal(std::int32_t x, int integer_bits, int& num_bits_over_unit) noexcept {
    const int headroom_plus_one = std::countl_zero(static_cast<std::uint32_t>(x));
    num_bits_over_unit = integer_bits - headroom_plus_one;
    const std::uint32_t shifted = headroom_plus_one >= 32 ? 0u : static_cast<std::uint32_t>(x) << headroom_plus_one;
    const auto shifted_sum_minus_one = static_cast<std::int32_t>(shifted - (std::uint32_t{1} << 31));
    return one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one);
}

// --- SOFTMAX pieces shared by eval and reference::eval ---------------------------

// exp(beta * in_scale * d) in Q0.31 for a difference d <= 0 (0 below diff_min).
template <class T>
std::int32_t exp_of_difference(const softmax_prepared<T>& p, std::int32_t d) noexcept {
    if (d < p.diff_min) return 0;
    // TFLite's MultiplyByQuantizedMultiplierGreaterThanOne: srdhm(d * 2^left_shift, M)
    const std::int32_t scaled = saturating_rounding_doubling_high_mul(wrapping_shift_left(d, p.input_left_shift),
                                                                      p.input_multiplier);
    return exp_on_negative_values_q5_26(scaled);
}

// The int8 requantization of a row: 1/sum as the multiplier, the shift
// -(num_bits_over_unit + 23).  Throws where TFLite's kernel aborts.
inline quantized_multiplier int8_row_scale(std::int64_t sum_of_exps_q12, std::size_t row) {
    // sum >= 2^28 (512.0 in Q12.19) gives a shift beyond 31 (TFLITE_CHECK in TFLite).
    check(sum_of_exps_q12 < (std::int64_t{1} << 28), where, "row ", row, ": the sum of exponentials is ",
          static_cast<double>(sum_of_exps_q12) / (1 << 19),
          " >= 512, beyond what TFLite's int8 kernel can normalize (it aborts); use fewer classes, a smaller beta "
          "or 16x8 mode");
    int num_bits_over_unit = 0;
    const std::int32_t scale = reciprocal(static_cast<std::int32_t>(sum_of_exps_q12), 12, num_bits_over_unit);
    return {scale, -(num_bits_over_unit + 31 - 8)};
}

inline constexpr requantize_params int8_output_clamp{-128, -128, 127};

// The int16 exp of one difference: rescale so that [-65535, 0] is [-10, 0],
// recenter to int16 and look up (TFLite's SoftMaxCalculateExp).
template <class T>
std::int16_t int16_exp_of_difference(const softmax_prepared<T>& p, std::int32_t d) noexcept {
    const std::int32_t scaled = multiply_by_quantized_multiplier(d, p.difference_multiplier);
    const std::int32_t symmetric = std::clamp(scaled + 32767, std::int32_t{-32768}, std::int32_t{32767});
    return p.exp_lut(static_cast<std::int16_t>(symmetric));
}

// The int16 reciprocal of a row's sum: {1/sum in Q0.15 (table), right shift 31 - clz(sum)}.
struct int16_row_scale {
    std::int32_t reciprocal = 0;
    int right_shift = 0;
};
template <class T>
int16_row_scale int16_reciprocal(const softmax_prepared<T>& p, std::int32_t sum_of_exps) noexcept {
    const int headroom_plus_one = std::countl_zero(static_cast<std::uint32_t>(sum_of_exps));
    const auto shifted_sum = static_cast<std::int32_t>(
        ((static_cast<std::int64_t>(sum_of_exps) << (headroom_plus_one - 1)) + (1 << 13)) >> 14);
    // 1 / (1 + x) with x = sum - 1, recentered from [0, 65535] to int16.
    const std::int32_t symmetric = std::clamp(shifted_sum - ((1 << 15) + (1 << 16)), std::int32_t{-32768}, std::int32_t{32767});
    return {p.reciprocal_lut(static_cast<std::int16_t>(symmetric)), 31 - headroom_plus_one};
}

template <class T>
void check_views(const softmax_prepared<T>& p, const tensor_view<const T>& input, const tensor_view<T>& output) {
    check(input.shape == p.shape, where, "input shape ", shape_text(input.shape), " differs from the prepared ",
          shape_text(p.shape));
    check(output.shape == p.shape, where, "output shape ", shape_text(output.shape), " differs from the prepared ",
          shape_text(p.shape));
}

}  // namespace detail::softmax_op

template <class T>
softmax_prepared<T> prepare(const softmax_params<T>& p) {
    using namespace detail::softmax_op;
    constexpr bool is_int8 = std::is_same_v<T, std::int8_t>;
    check(!p.shape.empty(), where, "the input must have rank >= 1, got a scalar");
    const std::size_t count = num_elements(p.shape, where + " shape");
    const int rank = static_cast<int>(p.shape.size());
    check(p.axis == -1 || p.axis == rank - 1, where, "TFLite normalizes the last axis only: axis must be -1 or ",
          rank - 1, ", got ", p.axis);
    detail::check_tensor_scale(where, "input", p.input_scale);
    check(std::isfinite(p.beta) && p.beta > 0.0f, where, "beta must be finite and > 0, got ", p.beta);

    softmax_prepared<T> r;
    r.shape = p.shape;
    r.depth = static_cast<std::size_t>(p.shape.back());
    r.rows = r.depth == 0 ? 0 : count / r.depth;
    if constexpr (is_int8) {
        detail::check_tensor_zero_point<T>(where, "input", p.input_zero_point);
        check(p.output_zero_point == -128 && std::abs(p.output_scale - 1.0f / 256) <= 0.001f * 1.0f / 256, where,
              "int8 output must have scale 1/256 and zero point -128, got scale ", p.output_scale,
              " and zero point ", p.output_zero_point);
        // TFLite's PreprocessSoftmaxScaling with 5 integer bits, in double.
        const double real_multiplier = std::min(double(p.beta) * double(p.input_scale) * double(1 << 26),
                                                double((std::int64_t{1} << 31) - 1));
        check(real_multiplier > 1.0, where, "beta * input scale = ", double(p.beta) * double(p.input_scale),
              " is too small: TFLite's int8 kernel needs beta * input_scale * 2^26 > 1");
        const quantized_multiplier qm = quantize_multiplier(real_multiplier);
        r.input_multiplier = qm.multiplier;
        r.input_left_shift = qm.shift;
        // -CalculateInputRadius(5, left_shift): the most negative difference whose rescaled
        // value is still above -32 (the Q5.26 range).
        r.diff_min = -static_cast<std::int32_t>(
            std::floor(1.0 * 31 * double(std::int64_t{1} << 26) / double(std::int64_t{1} << r.input_left_shift)));
        for (std::int32_t d = 0; d < 256; ++d) {
            const std::int32_t e = exp_of_difference(r, -d);
            r.exp_of_difference[static_cast<std::size_t>(d)] = e;
            r.exp_q12_of_difference[static_cast<std::size_t>(d)] = rounding_divide_by_pot(e, 12);
        }
    } else {
        detail::check_tensor_zero_point<T>(where, "input", p.input_zero_point);
        check(p.output_zero_point == 0 && std::abs(p.output_scale - 1.0f / 32768) <= 0.001f * 1.0f / 32768, where,
              "int16 output must have scale 1/32768 and zero point 0, got scale ", p.output_scale,
              " and zero point ", p.output_zero_point);
        check(rank <= 4, where, "TFLite's int16 kernel supports ranks 1 to 4, got rank ", rank);
        // The row sum of exps (each <= 32767) is an int32 in TFLite.
        check(r.depth <= 65538, where, "the last dimension (", r.depth,
              ") is too long for the int16 kernel's int32 sum (at most 65538)");
        const double range = 65535.0;
        r.exp_lut = make_int16_lut<double>(10.0 / range, 32767, 2.0 / range, 0, [](double x) { return std::exp(x); });
        r.reciprocal_lut =
            make_int16_lut<double>(1.0 / range, -32768, 2.0 / range, 0, [](double x) { return 1.0 / (1.0 + x); });
        const float scale_times_beta = p.input_scale * p.beta;  // float, as TFLite
        const double real_multiplier = scale_times_beta / (10.0 / 65535.0);
        r.difference_multiplier = quantize_multiplier(real_multiplier);
        const int left_shift = std::max(r.difference_multiplier.shift, 0);
        check(left_shift < 16 && (std::int64_t{65535} << left_shift) <= 2147483647LL, where, "beta * input scale = ",
              scale_times_beta, " is too large for the int16 kernel: differences times 2^", left_shift,
              " overflow TFLite's int32 rescaling");
    }
    return r;
}

// SIMD path.
//  int8:  per row, the exponentials are gathered from the prepared table of
//         every difference (scalar gathers) into an int32 chunk, and the
//         chunk goes through requantize_n, the vectorized requantize stage,
//         with 1/sum as the multiplier.
//  int16: the rescaling of the differences (multiply_by_quantized_multiplier
//         and the clamp) runs on xsimd batches, the table interpolation is
//         scalar, and the final (e * r + round) >> shift with its clamp runs
//         on xsimd batches again (e * r < 2^30 fits int32 lanes).
template <class T, class A = xsimd::default_arch>
void eval(const softmax_prepared<T>& p, tensor_view<const T> input, tensor_view<T> output) {
    using namespace detail::softmax_op;
    check_views(p, input, output);
    using batch = xsimd::batch<std::int32_t, A>;
    constexpr std::size_t lanes = batch::size;
    constexpr std::size_t chunk = 512;
    alignas(64) std::int32_t wide[chunk];
    alignas(A::alignment()) std::int32_t tail[lanes];
    const std::size_t depth = p.depth;
    for (std::size_t row = 0; row < p.rows; ++row) {
        const T* in = input.data.data() + row * depth;
        T* out = output.data.data() + row * depth;
        std::int32_t max_in_row = std::numeric_limits<T>::min();
        for (std::size_t c = 0; c < depth; ++c) max_in_row = std::max<std::int32_t>(max_in_row, in[c]);

        if constexpr (std::is_same_v<T, std::int8_t>) {
            std::int64_t sum = 0;
            for (std::size_t c = 0; c < depth; ++c)
                sum += p.exp_q12_of_difference[static_cast<std::size_t>(max_in_row - in[c])];
            const quantized_multiplier scale = int8_row_scale(sum, row);
            for (std::size_t c = 0; c < depth; c += chunk) {
                const std::size_t m = std::min(chunk, depth - c);
                for (std::size_t j = 0; j < m; ++j)
                    wide[j] = p.exp_of_difference[static_cast<std::size_t>(max_in_row - in[c + j])];
                requantize_n<std::int8_t, double_rounding, A>(wide, m, scale, int8_output_clamp, out + c);
            }
        } else {
            // Pass 1: exps, cached in the output as TFLite does, and their sum.
            std::int32_t sum = 0;
            for (std::size_t c = 0; c < depth; c += chunk) {
                const std::size_t m = std::min(chunk, depth - c);
                for (std::size_t j = 0; j < m; ++j) wide[j] = std::int32_t{in[c + j]} - max_in_row;
                for (std::size_t j = 0; j < m; j += lanes) {
                    const std::size_t count = std::min(lanes, m - j);
                    const batch d = qtl::detail::fixedpoint::load_lanes<A>(wide + j, count, tail);
                    const batch scaled = multiply_by_quantized_multiplier(d, p.difference_multiplier) + batch(32767);
                    xsimd::min(xsimd::max(scaled, batch(-32768)), batch(32767)).store_aligned(tail);
                    for (std::size_t k = 0; k < count; ++k) wide[j + k] = tail[k];
                }
                for (std::size_t j = 0; j < m; ++j) {
                    const std::int16_t e = p.exp_lut(static_cast<std::int16_t>(wide[j]));
                    out[c + j] = e;
                    sum += e;
                }
            }
            // Pass 2: scale by the reciprocal.
            const int16_row_scale s = int16_reciprocal(p, sum);
            const batch reciprocal(s.reciprocal), round(std::int32_t{1} << (s.right_shift - 1));
            for (std::size_t c = 0; c < depth; c += chunk) {
                const std::size_t m = std::min(chunk, depth - c);
                for (std::size_t j = 0; j < m; ++j) wide[j] = out[c + j];
                for (std::size_t j = 0; j < m; j += lanes) {
                    const std::size_t count = std::min(lanes, m - j);
                    const batch e = qtl::detail::fixedpoint::load_lanes<A>(wide + j, count, tail);
                    const batch result = (e * reciprocal + round) >> s.right_shift;
                    qtl::detail::fixedpoint::store_lanes(xsimd::min(xsimd::max(result, batch(0)), batch(32767)),
                                                         out + c + j, count);
                }
            }
        }
    }
}

}  // namespace qtl::ops

QTL_DETAIL_GCC_BUG_105593_END
