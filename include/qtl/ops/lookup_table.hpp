#pragma once
// Lookup tables of TFLite's integer activation kernels, shared by LOGISTIC,
// TANH, SOFTMAX (16x8), HARD_SWISH and user-defined layers:
//
//  int8_lut            256 int8 entries, one per input value, indexed by the
//                      input's byte (TFLite's LUTPopulate<int8_t> and
//                      LUTLookup(int8)).  TFLite's reference int8 LOGISTIC
//                      and TANH *are* such a table of the float function.
//  int16_lut           513 int16 entries spanning the int16 input range:
//                      512 segments of 128 inputs, linearly interpolated
//                      (TFLite's LUTPopulate<int16_t> and LUTLookup(int16)),
//                      used by 16x8 SOFTMAX for exp(x) and 1 / (1 + x).
//  sigmoid_q16_table   the 256-entry sigmoid table of TFLite's int16
//                      LOGISTIC and TANH kernels.
//
// Tables are built once in prepare() with the float arithmetic TFLite uses
// (same types, same operation order), so a model runs bit for bit as TFLite
// runs it on the same libm.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>

#include "qtl/core/error.hpp"

namespace qtl::ops {

namespace detail::lut {

// a * b rounded to FloatT before anything is added to it.  TFLite's table
// builders compute `min + i * step` with two roundings; GCC in GNU mode (and
// clang) may fuse such a pair into one FMA on -march targets that have it,
// which changes the last bit of a sample and, rarely, a table entry.  The
// volatile store forces the rounded product; tables are built once, so its
// cost does not matter.
template <class FloatT>
FloatT rounded_product(FloatT a, FloatT b) noexcept {
    volatile FloatT product = a * b;
    return product;
}

// static_cast<std::int32_t>(x) for a float that may lie beyond int32 (TFLite
// casts directly, which is UB there; every in-range value gives the same result).
template <class FloatT>
std::int32_t saturating_to_int32(FloatT x) noexcept {
    if (!(x > static_cast<FloatT>(std::numeric_limits<std::int32_t>::min()))) return std::numeric_limits<std::int32_t>::min();
    if (!(x < static_cast<FloatT>(2147483648.0))) return std::numeric_limits<std::int32_t>::max();
    return static_cast<std::int32_t>(x);
}

}  // namespace detail::lut

// --- int8 -> int8 ----------------------------------------------------------------

struct int8_lut {
    // values[static_cast<std::uint8_t>(x)] is the output for input x, TFLite's
    // byte order [0, 1, ..., 127, -128, ..., -1].
    std::array<std::int8_t, 256> values{};

    std::int8_t operator()(std::int8_t x) const noexcept { return values[static_cast<std::uint8_t>(x)]; }
};

// TFLite's LUTPopulate<int8_t>: for every input q,
//   out = clamp(int32(round(f(in_scale * (q - in_zp)) * (1 / out_scale)) + out_zp), -128, 127)
// in float arithmetic.  `where` names the op for the error thrown when f
// returns NaN.
template <class Transform>
int8_lut make_int8_lut(float input_scale, std::int32_t input_zero_point, float output_scale,
                       std::int32_t output_zero_point, Transform&& transform, const std::string& where) {
    int8_lut lut;
    const float inverse_scale = 1 / output_scale;
    for (std::int32_t q = -128; q <= 127; ++q) {
        const float dequantized = input_scale * static_cast<float>(q - input_zero_point);
        const float transformed = transform(dequantized);
        check(!std::isnan(transformed), where, "the function is NaN at input ", q, " (real value ", dequantized, ")");
        const float rescaled = std::round(transformed * inverse_scale);
        const float shifted = rescaled + static_cast<float>(output_zero_point);
        const std::int32_t quantized = detail::lut::saturating_to_int32(shifted);
        lut.values[static_cast<std::uint8_t>(static_cast<std::int8_t>(q))] =
            static_cast<std::int8_t>(std::max(std::min(quantized, std::int32_t{127}), std::int32_t{-128}));
    }
    return lut;
}

// A table of an integer function, e.g. a kernel's whole per-element
// arithmetic evaluated once for each of the 256 inputs.
template <class Function>
int8_lut tabulate_int8(Function&& f) {
    int8_lut lut;
    for (std::int32_t q = -128; q <= 127; ++q) {
        const auto x = static_cast<std::int8_t>(q);
        lut.values[static_cast<std::uint8_t>(x)] = static_cast<std::int8_t>(f(x));
    }
    return lut;
}

// out[i] = lut(in[i]).  A byte gather: x86 before AVX-512 VBMI has no
// instruction for a 256-entry byte table that beats this loop, so it stays
// scalar (compilers unroll it).
inline void lookup_n(const int8_lut& lut, const std::int8_t* in, std::size_t n, std::int8_t* out) noexcept {
    const std::int8_t* table = lut.values.data();
    for (std::size_t i = 0; i < n; ++i) out[i] = table[static_cast<std::uint8_t>(in[i])];
}

// --- int16 -> int16, interpolated ---------------------------------------------------

struct int16_lut {
    // Entry i is the output at the start of segment i (inputs [128 (i - 256),
    // 128 (i - 255))); entry 512 only gives the last segment its slope.
    std::array<std::int16_t, 513> values{};

    // TFLite's LUTLookup(int16): base + round(slope * offset / 128), with the
    // slope and the sum kept in int16 as TFLite keeps them.
    std::int16_t operator()(std::int16_t x) const noexcept {
        const auto index = static_cast<std::size_t>(256 + (x >> 7));  // arithmetic shift: [0, 511]
        const std::int32_t offset = x & 0x7f;
        const std::int16_t base = values[index];
        const auto slope = static_cast<std::int16_t>(values[index + 1] - base);
        const std::int32_t delta = (slope * offset + 64) >> 7;
        return static_cast<std::int16_t>(base + delta);
    }
};

// TFLite's LUTPopulateInt16<FloatT>: samples f at the 513 segment ends of the
// input range, and moves each sample by half the error linear interpolation
// makes at the segment's midpoint:
//   lut[i] = clamp(round(f(x_i) * k) - round((round((f(x_i+1) k + round(f(x_i) k)) / 2) - round(f(mid_i) k)) / 2))
// with k = 65536 / (output range).  FloatT is float for most ops and double
// for SOFTMAX's tables (TFLite keeps double there for compatibility).
template <class FloatT, class Transform>
int16_lut make_int16_lut(FloatT input_scale, std::int32_t input_zero_point, FloatT output_scale,
                         std::int32_t output_zero_point, Transform&& transform) {
    static_assert(std::is_floating_point_v<FloatT>, "make_int16_lut: FloatT must be float or double");
    using detail::lut::rounded_product;
    constexpr std::int32_t qmin = std::numeric_limits<std::int16_t>::min();
    constexpr std::int32_t qmax = std::numeric_limits<std::int16_t>::max();
    const FloatT input_min = input_scale * static_cast<FloatT>(qmin - input_zero_point);
    const FloatT input_max = input_scale * static_cast<FloatT>(qmax - input_zero_point);
    const FloatT output_min = output_scale * static_cast<FloatT>(qmin - output_zero_point);
    const FloatT output_max = output_scale * static_cast<FloatT>(qmax - output_zero_point);

    constexpr int steps = 512;
    const FloatT step = (input_max - input_min) / static_cast<FloatT>(steps);
    const FloatT half_step = step / 2;
    const FloatT output_scaling_inv = static_cast<FloatT>(qmax - qmin + 1) / (output_max - output_min);
    const auto table_min = static_cast<FloatT>(qmin);
    const auto table_max = static_cast<FloatT>(qmax);

    int16_lut lut;
    for (int i = 0; i < steps; ++i) {
        const FloatT x = input_min + rounded_product(static_cast<FloatT>(i), step);
        const FloatT val = transform(x);
        const FloatT val_midpoint = transform(x + half_step);
        const FloatT val_next = transform(input_min + rounded_product(static_cast<FloatT>(i + 1), step));

        const FloatT sample_val = std::round(val * output_scaling_inv);
        const FloatT midpoint_interp_val =
            std::round((rounded_product(val_next, output_scaling_inv) + std::round(val * output_scaling_inv)) / 2);
        const FloatT midpoint_val = std::round(val_midpoint * output_scaling_inv);
        const FloatT midpoint_err = midpoint_interp_val - midpoint_val;
        const FloatT bias = std::round(midpoint_err / 2);
        lut.values[static_cast<std::size_t>(i)] =
            static_cast<std::int16_t>(std::min<FloatT>(std::max<FloatT>(sample_val - bias, table_min), table_max));
    }
    lut.values[steps] = static_cast<std::int16_t>(
        std::min<FloatT>(std::max<FloatT>(std::round(transform(input_max) * output_scaling_inv), table_min), table_max));
    return lut;
}

// --- the sigmoid table of int16 LOGISTIC and TANH -----------------------------------

// sigmoid(i / 24) in Q0.16 for i = 0..255: the numbers TFLite's int16
// LOGISTIC and TANH interpolate between (tanh(x) = 2 sigmoid(2x) - 1).  They
// are not plain roundings of 65536 sigmoid(i / 24): each entry is lowered by
// half the midpoint error of the chord to the next entry, which halves the
// worst error of linear interpolation,
//     t[i] = round(s(i) - (s(i) + s(i + 1) - 2 s(i + 1/2)) / 4),  s(x) = 65536 sigmoid(x / 24),
// computed in double (no entry is within 0.004 of a rounding tie).  The last
// entry, which no interval starts from, is saturated to 65535 as TFLite's is.
// Bit-exactness with TFLite needs exactly these values; a test checks them
// against the plain sigmoid and the interpolation error bound.
inline std::array<std::uint16_t, 256> make_sigmoid_q16_table() {
    const auto s = [](double x) { return 65536.0 / (1.0 + std::exp(-x / 24.0)); };
    std::array<std::uint16_t, 256> t{};
    for (std::size_t i = 0; i < 255; ++i) {
        const double x = static_cast<double>(i);
        t[i] = static_cast<std::uint16_t>(std::lround(s(x) - (s(x) + s(x + 1) - 2 * s(x + 0.5)) / 4));
    }
    t[255] = 65535;
    return t;
}
inline const std::array<std::uint16_t, 256> sigmoid_q16_table = make_sigmoid_q16_table();

// The same table widened to int32 with one repeated last entry, so that SIMD
// code can gather entries i and i + 1 for any clamped i in [0, 255].
// (Initialized after sigmoid_q16_table: inline variables defined in this
// order in every translation unit are initialized in this order.)
inline const std::array<std::int32_t, 257> sigmoid_q16_table_int32 = [] {
    std::array<std::int32_t, 257> t{};
    for (std::size_t i = 0; i < 256; ++i) t[i] = sigmoid_q16_table[i];
    t[256] = sigmoid_q16_table[255];
    return t;
}();

// TFLite's CheckedLog2: log2(x) rounded, and whether x is within 0.1% (in
// log2) of that power of two.  Float arithmetic, as TFLite.
inline bool checked_log2(float x, int& log2_rounded) noexcept {
    const float x_log2 = std::log(x) * (1.0f / std::log(2.0f));
    const float rounded = std::round(x_log2);
    log2_rounded = static_cast<int>(rounded);
    return std::abs(x_log2 - rounded) < 1e-3f;
}

// The input rescaling of TFLite's int16 LOGISTIC and TANH: an input q of
// scale s becomes v = (q * multiplier + round) >> shift, in units of 1/12288
// (one sigmoid_q16_table step, 1/24, is 512 units for LOGISTIC; one step of
// tanh's argument, 1/48, is 256 units).  A power-of-two scale 2^(k - 12),
// k in [0, max_pot_shift] (LOGISTIC: 0, TANH: 1), uses multiplier 3 << k and
// no shift; any other scale doubles s * 4096 * 3 until it exceeds 16383.5.
struct sigmoid_table_rescale {
    std::int32_t multiplier = 0;
    int shift = 0;
    std::int32_t round() const noexcept { return shift > 0 ? std::int32_t{1} << (shift - 1) : 0; }
};

inline sigmoid_table_rescale sigmoid_table_input_rescale(float input_scale, int max_pot_shift, const std::string& where) {
    sigmoid_table_rescale r;
    int log2_rounded = 0;
    const bool near_pot = checked_log2(input_scale, log2_rounded);
    const int pot_shift = (15 - 3) + log2_rounded;
    if (near_pot && pot_shift >= 0 && pot_shift <= max_pot_shift) {
        r.multiplier = 3 << pot_shift;
        return r;
    }
    double multiplier = input_scale * 4096.0 * 3.0;
    while (multiplier <= 32767.0 / 2.0 && r.shift <= 30) {
        ++r.shift;
        multiplier *= 2.0;
    }
    // TFLite computes q * multiplier in int32: |q| <= 32768 must not overflow it.
    check(multiplier < 65536.0, where, "input scale ", input_scale,
          " is too large for the int16 kernel: the rescaled input would overflow int32 (scale must be < ",
          65536.0 / 12288.0, ")");
    r.multiplier = static_cast<std::int32_t>(multiplier);
    check(std::int64_t{32768} * r.multiplier + r.round() <= std::int64_t{2147483647}, where, "input scale ",
          input_scale, " is too large for the int16 kernel: the rescaled input would overflow int32");
    return r;
}

}  // namespace qtl::ops
