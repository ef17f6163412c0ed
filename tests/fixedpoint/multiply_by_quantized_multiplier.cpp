#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include <gemmlowp/fixedpoint/fixedpoint.h>

#include "qtl/fixedpoint/multiply_by_quantized_multiplier.hpp"

// Oracles:
//  - double rounding: gemmlowp's SaturatingRoundingDoublingHighMul and
//    RoundingDivideByPOT (scalar int32 specializations; gemmlowp's SIMD
//    headers only add overloads for vector types), composed the way TFLite's
//    MultiplyByQuantizedMultiplier composes them.
//  - single rounding and the int64 variant: exact 128-bit integer arithmetic
//    written here (floor division by a power of two, no shifts of signed values).
//
// Counts: 10^6 random cases per function in normal builds, 10^5 under ASan
// (__SANITIZE_ADDRESS__) so that each test stays well under 2 s there.

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr int random_cases = 100000;
#else
constexpr int random_cases = 1000000;
#endif

constexpr std::int32_t int32_min = std::numeric_limits<std::int32_t>::min();
constexpr std::int32_t int32_max = std::numeric_limits<std::int32_t>::max();

// INT32_MIN/MAX, 0, +-1, +-2^k and +-2^k +- 1 for every k.
std::vector<std::int32_t> edge_values() {
    std::vector<std::int64_t> wide = {int32_min, int32_min + 1LL, int32_max, int32_max - 1LL, 0, 1, -1};
    for (int k = 1; k <= 31; ++k) {
        const std::int64_t p = std::int64_t{1} << k;
        for (std::int64_t v : {p - 1, p, p + 1, -p - 1, -p, -p + 1}) wide.push_back(v);
    }
    std::vector<std::int32_t> values;
    for (std::int64_t v : wide)
        if (v >= int32_min && v <= int32_max) values.push_back(static_cast<std::int32_t>(v));
    std::sort(values.begin(), values.end());
    values.erase(std::unique(values.begin(), values.end()), values.end());
    return values;
}

// x * 2^left mod 2^32 (TFLite's `x * (1 << left_shift)` on two's complement),
// written as an unsigned multiplication.
std::int32_t times_power_of_two_mod_2_32(std::int32_t x, int left) {
    if (left >= 32) return 0;
    std::uint64_t factor = 1;
    for (int i = 0; i < left; ++i) factor *= 2;
    return static_cast<std::int32_t>(static_cast<std::uint32_t>(static_cast<std::uint64_t>(static_cast<std::uint32_t>(x)) * factor));
}

std::int32_t gemmlowp_double_rounding(std::int32_t x, std::int32_t multiplier, int shift) {
    const int left = shift > 0 ? shift : 0;
    const int right = shift > 0 ? 0 : -shift;
    return gemmlowp::RoundingDivideByPOT(
        gemmlowp::SaturatingRoundingDoublingHighMul(times_power_of_two_mod_2_32(x, left), multiplier), right);
}

// floor(numerator / 2^exponent) in exact 128-bit arithmetic.
__int128 floor_div_pow2(__int128 numerator, int exponent) {
    const __int128 divisor = static_cast<__int128>(1) << exponent;
    __int128 q = numerator / divisor;  // truncates toward zero
    if (numerator % divisor != 0 && numerator < 0) --q;
    return q;
}

std::int32_t low_32_bits(__int128 v) {
    return static_cast<std::int32_t>(static_cast<std::uint32_t>(static_cast<unsigned __int128>(v) & 0xFFFFFFFFu));
}

// TFLITE_SINGLE_ROUNDING: round(x * m / 2^(31 - shift)), ties up, low 32 bits kept.
std::int32_t exact_single_rounding(std::int32_t x, std::int32_t multiplier, int shift) {
    const int s = 31 - shift;
    const __int128 product = static_cast<__int128>(x) * multiplier;
    return low_32_bits(floor_div_pow2(product + (static_cast<__int128>(1) << (s - 1)), s));
}

// TFLite's int64 variant: multiplier reduced to Q15 (round half up, at most
// 0x7FFF), then round(x * reduced / 2^(15 - shift)) ties up.
std::int32_t exact_int64_variant(std::int64_t x, std::int32_t multiplier, int shift) {
    const std::int64_t reduced = std::min<std::int64_t>(floor_div_pow2(std::int64_t{multiplier} + 32768, 16), 0x7FFF);
    const int s = 15 - shift;
    return low_32_bits(floor_div_pow2(static_cast<__int128>(x) * reduced + (static_cast<__int128>(1) << (s - 1)), s));
}

}  // namespace

TEST_CASE("saturating_rounding_doubling_high_mul: hand-computed values") {
    constexpr std::int32_t half = 1 << 30;  // 0.5 in Q31
    CHECK(qtl::saturating_rounding_doubling_high_mul(3, half) == 2);    // 1.5 -> 2
    CHECK(qtl::saturating_rounding_doubling_high_mul(-3, half) == -1);  // -1.5 -> -1: ties go up
    CHECK(qtl::saturating_rounding_doubling_high_mul(-1, half) == 0);   // -0.5 -> 0
    CHECK(qtl::saturating_rounding_doubling_high_mul(1, half) == 1);    // 0.5 -> 1
    CHECK(qtl::saturating_rounding_doubling_high_mul(100, half) == 50);
    CHECK(qtl::saturating_rounding_doubling_high_mul(int32_max, int32_max) == int32_max - 1);  // (2^31-1)^2/2^31 = 2^31 - 2 + 2^-31
    CHECK(qtl::saturating_rounding_doubling_high_mul(int32_min, int32_min) == int32_max);      // the saturated case
    CHECK(qtl::saturating_rounding_doubling_high_mul(int32_min, int32_max) == -int32_max);     // -(2^31 - 1)
    CHECK(qtl::saturating_rounding_doubling_high_mul(int32_min, 1) == -1);
    CHECK(qtl::saturating_rounding_doubling_high_mul(0, int32_min) == 0);
}

TEST_CASE("saturating_rounding_doubling_high_mul == gemmlowp") {
    const std::vector<std::int32_t> edges = edge_values();
    long mismatches = 0;
    long cases = 0;
    for (std::int32_t a : edges)
        for (std::int32_t b : edges) {
            ++cases;
            if (qtl::saturating_rounding_doubling_high_mul(a, b) != gemmlowp::SaturatingRoundingDoublingHighMul(a, b)) {
                if (mismatches++ == 0) CHECK(qtl::saturating_rounding_doubling_high_mul(a, b) == gemmlowp::SaturatingRoundingDoublingHighMul(a, b));
            }
        }
    std::mt19937 rng(1);
    for (int i = 0; i < random_cases; ++i) {
        const auto a = static_cast<std::int32_t>(rng());
        const auto b = static_cast<std::int32_t>(rng());
        ++cases;
        if (qtl::saturating_rounding_doubling_high_mul(a, b) != gemmlowp::SaturatingRoundingDoublingHighMul(a, b)) {
            if (mismatches++ == 0) CHECK(qtl::saturating_rounding_doubling_high_mul(a, b) == gemmlowp::SaturatingRoundingDoublingHighMul(a, b));
        }
    }
    CHECK(mismatches == 0);
    CHECK(cases == static_cast<long>(edges.size() * edges.size()) + random_cases);
}

TEST_CASE("rounding_divide_by_pot: hand-computed values, ties away from zero") {
    CHECK(qtl::rounding_divide_by_pot(5, 1) == 3);    // 2.5 -> 3
    CHECK(qtl::rounding_divide_by_pot(-5, 1) == -3);  // -2.5 -> -3
    CHECK(qtl::rounding_divide_by_pot(-1, 1) == -1);  // -0.5 -> -1
    CHECK(qtl::rounding_divide_by_pot(7, 2) == 2);    // 1.75 -> 2
    CHECK(qtl::rounding_divide_by_pot(-6, 2) == -2);  // -1.5 -> -2
    CHECK(qtl::rounding_divide_by_pot(-5, 2) == -1);  // -1.25 -> -1
    CHECK(qtl::rounding_divide_by_pot(12345, 0) == 12345);
    CHECK(qtl::rounding_divide_by_pot(int32_min, 31) == -1);
    CHECK(qtl::rounding_divide_by_pot(int32_max, 31) == 1);  // 0.99999 -> 1
    CHECK(qtl::rounding_divide_by_pot(1 << 29, 31) == 0);    // 0.25 -> 0
    CHECK(qtl::rounding_divide_by_pot(1 << 30, 31) == 1);    // 0.5 -> 1
    CHECK(qtl::rounding_divide_by_pot(-(1 << 30), 31) == -1);
}

TEST_CASE("rounding_divide_by_pot == gemmlowp for every exponent 0..31") {
    const std::vector<std::int32_t> edges = edge_values();
    std::mt19937 rng(2);
    long mismatches = 0;
    for (int exponent = 0; exponent <= 31; ++exponent) {
        for (std::int32_t x : edges)
            if (qtl::rounding_divide_by_pot(x, exponent) != gemmlowp::RoundingDivideByPOT(x, exponent)) ++mismatches;
        for (int i = 0; i < random_cases / 32; ++i) {
            const auto x = static_cast<std::int32_t>(rng());
            if (qtl::rounding_divide_by_pot(x, exponent) != gemmlowp::RoundingDivideByPOT(x, exponent)) ++mismatches;
        }
    }
    CHECK(mismatches == 0);
}

TEST_CASE("multiply_by_quantized_multiplier: hand-computed values of both policies") {
    constexpr std::int32_t half = 1 << 30;
    // 100 * 0.5 = 50 exactly; 100 * 0.25 = 25; 100 * 2 = 200.
    CHECK(qtl::multiply_by_quantized_multiplier(100, half, 0) == 50);
    CHECK(qtl::multiply_by_quantized_multiplier(100, half, -1) == 25);
    CHECK(qtl::multiply_by_quantized_multiplier(100, half, 2) == 200);
    CHECK(qtl::multiply_by_quantized_multiplier<qtl::single_rounding>(100, half, 0) == 50);
    CHECK(qtl::multiply_by_quantized_multiplier<qtl::single_rounding>(100, half, -1) == 25);
    CHECK(qtl::multiply_by_quantized_multiplier<qtl::single_rounding>(100, half, 2) == 200);
    CHECK(qtl::multiply_by_quantized_multiplier(100, qtl::quantized_multiplier{half, 2}) == 200);
    // 5 * 0.25 = 1.25.  Double rounding: 5 * 0.5 = 2.5 -> 3, then 3 / 2 = 1.5 -> 2.
    // Single rounding rounds 1.25 once: 1.
    CHECK(qtl::multiply_by_quantized_multiplier<qtl::double_rounding>(5, half, -1) == 2);
    CHECK(qtl::multiply_by_quantized_multiplier<qtl::single_rounding>(5, half, -1) == 1);
    // -2 * 0.25 = -0.5.  Double: -2 * 0.5 = -1 exactly, -1 / 2 = -0.5 -> -1 (away from zero).
    // Single: ties go up -> 0.
    CHECK(qtl::multiply_by_quantized_multiplier<qtl::double_rounding>(-2, half, -1) == -1);
    CHECK(qtl::multiply_by_quantized_multiplier<qtl::single_rounding>(-2, half, -1) == 0);
    // 2 * 0.25 = 0.5: both give 1.
    CHECK(qtl::multiply_by_quantized_multiplier<qtl::double_rounding>(2, half, -1) == 1);
    CHECK(qtl::multiply_by_quantized_multiplier<qtl::single_rounding>(2, half, -1) == 1);
    // Left shift wraps like TFLite's x * (1 << shift): 2^30 * 2 = 2^31 -> INT32_MIN, times 0.5.
    CHECK(qtl::multiply_by_quantized_multiplier(1 << 30, half, 1) == -(1 << 30));
    // Shifts of 32 and more wrap the shifted value to 0.
    CHECK(qtl::multiply_by_quantized_multiplier(12345, half, 32) == 0);
    CHECK(qtl::multiply_by_quantized_multiplier(-7, half, 41) == 0);
}

TEST_CASE("multiply_by_quantized_multiplier<double_rounding> == gemmlowp as TFLite composes it") {
    const std::vector<std::int32_t> edges = edge_values();
    long mismatches = 0, cases = 0;
    // Every edge x, every edge multiplier, every shift -31..31 (and two beyond).
    for (int shift = -31; shift <= 33; ++shift)
        for (std::int32_t m : edges)
            for (std::int32_t x : edges) {
                ++cases;
                if (qtl::multiply_by_quantized_multiplier<qtl::double_rounding>(x, m, shift) != gemmlowp_double_rounding(x, m, shift)) {
                    if (mismatches++ == 0) {
                        INFO("x=" << x << " m=" << m << " shift=" << shift);
                        CHECK(qtl::multiply_by_quantized_multiplier<qtl::double_rounding>(x, m, shift) == gemmlowp_double_rounding(x, m, shift));
                    }
                }
            }
    std::mt19937 rng(3);
    std::uniform_int_distribution<int> shifts(-31, 31);
    std::uniform_int_distribution<std::int32_t> q31(1 << 30, int32_max);
    for (int i = 0; i < random_cases; ++i) {
        const auto x = static_cast<std::int32_t>(rng());
        // Half the cases with a quantize_multiplier-style multiplier, half with any int32.
        const std::int32_t m = (i & 1) ? q31(rng) : static_cast<std::int32_t>(rng());
        const int shift = shifts(rng);
        ++cases;
        if (qtl::multiply_by_quantized_multiplier<qtl::double_rounding>(x, m, shift) != gemmlowp_double_rounding(x, m, shift)) ++mismatches;
    }
    CHECK(mismatches == 0);
    CHECK(cases == 65L * static_cast<long>(edges.size() * edges.size()) + random_cases);
    // The default policy is double rounding.
    CHECK(qtl::multiply_by_quantized_multiplier(5, 1 << 30, -1) == gemmlowp_double_rounding(5, 1 << 30, -1));
}

TEST_CASE("multiply_by_quantized_multiplier<single_rounding> == exact 128-bit rounding") {
    const std::vector<std::int32_t> edges = edge_values();
    long mismatches = 0;
    for (int shift = -31; shift <= 30; ++shift)
        for (std::int32_t m : edges)
            for (std::int32_t x : edges)
                if (qtl::multiply_by_quantized_multiplier<qtl::single_rounding>(x, m, shift) != exact_single_rounding(x, m, shift)) {
                    if (mismatches++ == 0) {
                        INFO("x=" << x << " m=" << m << " shift=" << shift);
                        CHECK(qtl::multiply_by_quantized_multiplier<qtl::single_rounding>(x, m, shift) == exact_single_rounding(x, m, shift));
                    }
                }
    std::mt19937 rng(4);
    std::uniform_int_distribution<int> shifts(-31, 30);
    std::uniform_int_distribution<std::int32_t> q31(1 << 30, int32_max);
    for (int i = 0; i < random_cases; ++i) {
        const auto x = static_cast<std::int32_t>(rng());
        const std::int32_t m = (i & 1) ? q31(rng) : static_cast<std::int32_t>(rng());
        const int shift = shifts(rng);
        if (qtl::multiply_by_quantized_multiplier<qtl::single_rounding>(x, m, shift) != exact_single_rounding(x, m, shift)) ++mismatches;
    }
    CHECK(mismatches == 0);
}

TEST_CASE("double and single rounding differ by at most one, and only on near-ties") {
    // Independent sanity check of the two policies against each other: the
    // exact value x * m / 2^(31 - shift) lies within 1/2 of the single-rounded
    // result and within 1 of the double-rounded one.
    std::mt19937 rng(5);
    std::uniform_int_distribution<int> shifts(-31, 0);
    std::uniform_int_distribution<std::int32_t> q31(1 << 30, int32_max);
    long differ = 0, too_far = 0;
    for (int i = 0; i < random_cases / 10; ++i) {
        const auto x = static_cast<std::int32_t>(rng()) >> (rng() % 24);
        const std::int32_t m = q31(rng);
        const int shift = shifts(rng);
        const std::int64_t d = qtl::multiply_by_quantized_multiplier<qtl::double_rounding>(x, m, shift);
        const std::int64_t s = qtl::multiply_by_quantized_multiplier<qtl::single_rounding>(x, m, shift);
        if (d != s) ++differ;
        if (d - s > 1 || s - d > 1) ++too_far;
    }
    CHECK(too_far == 0);
    CHECK(differ > 0);  // the policies are really different
}

TEST_CASE("multiply_by_quantized_multiplier_int64: hand-computed values") {
    constexpr std::int32_t half = 1 << 30;  // reduced to 2^14 in Q15
    CHECK(qtl::multiply_by_quantized_multiplier_int64(1000, half, 0) == 500);
    CHECK(qtl::multiply_by_quantized_multiplier_int64(1001, half, 0) == 501);    // 500.5 -> 501
    CHECK(qtl::multiply_by_quantized_multiplier_int64(-1001, half, 0) == -500);  // -500.5 -> -500 (ties up)
    CHECK(qtl::multiply_by_quantized_multiplier_int64(std::int64_t{1} << 40, half, -20) == 1 << 19);
    CHECK(qtl::multiply_by_quantized_multiplier_int64(3, half, 7) == 192);  // 3 * 0.5 * 128
    // 0x7FFF8000 would round to 2^15 in Q15; TFLite saturates it to 0x7FFF.
    CHECK(qtl::multiply_by_quantized_multiplier_int64(1 << 15, 0x7FFF8000, 0) == 0x7FFF);
    CHECK(qtl::multiply_by_quantized_multiplier_int64(1 << 15, int32_max, 0) == 0x7FFF);
    // 0x7FFEFFFF rounds to 0x7FFF as well (below the saturation threshold).
    CHECK(qtl::multiply_by_quantized_multiplier_int64(1 << 15, 0x7FFEFFFF, 0) == 0x7FFF);
}

TEST_CASE("multiply_by_quantized_multiplier_int64 == exact 128-bit rounding") {
    const std::vector<std::int32_t> edges = edge_values();
    std::vector<std::int64_t> xs = {-(std::int64_t{1} << 47), (std::int64_t{1} << 47) - 1, 0, 1, -1};
    for (std::int32_t v : edges) {
        xs.push_back(v);
        xs.push_back(std::int64_t{v} * 65536);  // spreads over the 48-bit range
    }
    long mismatches = 0;
    for (int shift = -31; shift <= 7; ++shift)
        for (std::int32_t m : edges)
            for (std::int64_t x : xs)
                if (qtl::multiply_by_quantized_multiplier_int64(x, m, shift) != exact_int64_variant(x, m, shift)) {
                    if (mismatches++ == 0) {
                        INFO("x=" << static_cast<long long>(x) << " m=" << m << " shift=" << shift);
                        CHECK(qtl::multiply_by_quantized_multiplier_int64(x, m, shift) == exact_int64_variant(x, m, shift));
                    }
                }
    std::mt19937_64 rng(6);
    std::uniform_int_distribution<std::int64_t> x48(-(std::int64_t{1} << 47), (std::int64_t{1} << 47) - 1);
    std::uniform_int_distribution<int> shifts(-31, 7);
    std::uniform_int_distribution<std::int32_t> q31(1 << 30, int32_max);
    for (int i = 0; i < random_cases; ++i) {
        const std::int64_t x = x48(rng) >> (rng() % 40);
        const std::int32_t m = q31(rng);
        const int shift = shifts(rng);
        if (qtl::multiply_by_quantized_multiplier_int64(x, m, shift) != exact_int64_variant(x, m, shift)) ++mismatches;
    }
    CHECK(mismatches == 0);
}

TEST_CASE("the scalar primitives are usable in constant expressions") {
    static_assert(qtl::saturating_rounding_doubling_high_mul(3, 1 << 30) == 2);
    static_assert(qtl::rounding_divide_by_pot(-5, 1) == -3);
    static_assert(qtl::multiply_by_quantized_multiplier<qtl::single_rounding>(5, 1 << 30, -1) == 1);
    static_assert(qtl::multiply_by_quantized_multiplier_int64(1001, 1 << 30, 0) == 501);
    CHECK(qtl::multiply_by_quantized_multiplier<qtl::double_rounding>(5, 1 << 30, -1) == 2);
}
