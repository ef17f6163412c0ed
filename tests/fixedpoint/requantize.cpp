#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include <gemmlowp/fixedpoint/fixedpoint.h>

#include "qtl/fixedpoint/requantize.hpp"

// The requantize stage: hand-computed values, and the array forms against a
// stage written here from gemmlowp's primitives (double rounding) with plain
// int64 zero-point addition and clamping.

namespace {

constexpr std::int32_t int32_min = std::numeric_limits<std::int32_t>::min();
constexpr std::int32_t int32_max = std::numeric_limits<std::int32_t>::max();
constexpr std::int32_t half = 1 << 30;  // 0.5 in Q31

std::int32_t gemmlowp_multiply(std::int32_t x, std::int32_t m, int shift) {
    const int left = shift > 0 ? shift : 0;
    const int right = shift > 0 ? 0 : -shift;
    const auto shifted = static_cast<std::int32_t>(static_cast<std::uint32_t>(x) * (std::uint32_t{1} << left));
    return gemmlowp::RoundingDivideByPOT(gemmlowp::SaturatingRoundingDoublingHighMul(shifted, m), right);
}

template <class Out>
Out oracle_stage(std::int32_t acc, std::int32_t m, int shift, const qtl::requantize_params& p) {
    std::int64_t v = std::int64_t{gemmlowp_multiply(acc, m, shift)} + p.output_zero_point;
    if (v < p.activation_min) v = p.activation_min;
    if (v > p.activation_max) v = p.activation_max;
    return static_cast<Out>(v);
}

}  // namespace

TEST_CASE("requantize: hand-computed int8 values, double rounding") {
    const qtl::quantized_multiplier eighth{half, -2};  // 0.125
    const qtl::requantize_params p{-5, -128, 127};
    CHECK(qtl::requantize<std::int8_t>(1000, eighth, p) == 120);   // 125 - 5
    CHECK(qtl::requantize<std::int8_t>(1004, eighth, p) == 121);   // 125.5 -> 126, - 5
    CHECK(qtl::requantize<std::int8_t>(-900, eighth, p) == -118);  // -112.5 -> -113 (away from zero), - 5
    CHECK(qtl::requantize<std::int8_t>(-1004, eighth, p) == -128); // -126 - 5 = -131, clamped
    CHECK(qtl::requantize<std::int8_t>(2000, eighth, p) == 127);   // 250 - 5, clamped
    CHECK(qtl::requantize<std::int8_t>(0, eighth, p) == -5);
}

TEST_CASE("requantize: single rounding rounds ties up") {
    const qtl::quantized_multiplier eighth{half, -2};
    const qtl::requantize_params p{-5, -128, 127};
    CHECK(qtl::requantize<std::int8_t, qtl::single_rounding>(1004, eighth, p) == 121);   // 125.5 -> 126
    CHECK(qtl::requantize<std::int8_t, qtl::single_rounding>(-900, eighth, p) == -117);  // -112.5 -> -112
    CHECK(qtl::requantize<std::int8_t, qtl::single_rounding>(-1004, eighth, p) == -128);
}

TEST_CASE("requantize: uint8, int16 and int32 outputs") {
    const qtl::quantized_multiplier eighth{half, -2};
    const qtl::requantize_params u8{128, 0, 255};
    CHECK(qtl::requantize<std::uint8_t>(1000, eighth, u8) == 253);   // 125 + 128
    CHECK(qtl::requantize<std::uint8_t>(1100, eighth, u8) == 255);   // 137.5 -> 138, + 128 = 266
    CHECK(qtl::requantize<std::uint8_t>(-1100, eighth, u8) == 0);    // -138 + 128 = -10
    CHECK(qtl::requantize<std::uint8_t>(-1020, eighth, u8) == 0);    // -127.5 -> -128, + 128 = 0
    CHECK(qtl::requantize<std::uint8_t>(-1012, eighth, u8) == 1);    // -126.5 -> -127, + 128

    const qtl::requantize_params i16{0, -32768, 32767};
    CHECK(qtl::requantize<std::int16_t>(300000, eighth, i16) == 32767);  // 37500
    CHECK(qtl::requantize<std::int16_t>(-262144, eighth, i16) == -32768);
    CHECK(qtl::requantize<std::int16_t>(-262156, eighth, i16) == -32768);  // -32769.5 clamped
    CHECK(qtl::requantize<std::int16_t>(100, eighth, i16) == 13);          // 12.5 -> 13

    const qtl::requantize_params i32{0, int32_min, int32_max};
    CHECK(qtl::requantize<std::int32_t>(int32_max, {half, 0}, i32) == 1 << 30);  // 2^30 - 0.5 -> 2^30
}

TEST_CASE("requantize: the zero point is added without wrapping") {
    // srdhm(INT32_MAX, INT32_MAX) = 2^31 - 2; + 100 exceeds int32 and clamps to INT32_MAX.
    CHECK(qtl::requantize<std::int32_t>(int32_max, {int32_max, 0}, {100, int32_min, int32_max}) == int32_max);
    // srdhm(INT32_MIN, INT32_MAX) = -(2^31 - 1); - 100 clamps to INT32_MIN.
    CHECK(qtl::requantize<std::int32_t>(int32_min, {int32_max, 0}, {-100, int32_min, int32_max}) == int32_min);
    CHECK(qtl::requantize<std::int8_t>(int32_max, {int32_max, 0}, {100, -128, 127}) == 127);
}

TEST_CASE("requantize: fused activation ranges and an empty range") {
    const qtl::quantized_multiplier eighth{half, -2};
    const qtl::requantize_params relu6{-5, -5, 43};  // e.g. scale 6/48, zero point -5
    CHECK(qtl::requantize<std::int8_t>(-1000, eighth, relu6) == -5);
    CHECK(qtl::requantize<std::int8_t>(1000, eighth, relu6) == 43);
    CHECK(qtl::requantize<std::int8_t>(200, eighth, relu6) == 20);  // 25 - 5
    // act_min > act_max is not a valid range; the stage still has a defined
    // result: max with act_min, then min with act_max, so act_max.
    const qtl::requantize_params inverted{0, 10, 5};
    CHECK(qtl::requantize<std::int8_t>(-1000, eighth, inverted) == 5);
    CHECK(qtl::requantize<std::int8_t>(1000, eighth, inverted) == 5);
    CHECK(qtl::requantize<std::int8_t>(56, eighth, inverted) == 5);
}

TEST_CASE("requantize_n_reference == the stage built from gemmlowp") {
    std::mt19937 rng(11);
    std::uniform_int_distribution<std::int32_t> q31(1 << 30, int32_max);
    std::uniform_int_distribution<int> shifts(-31, 8);
    std::uniform_int_distribution<std::int32_t> zp(-128, 127);
    std::vector<std::int32_t> acc(1000);
    long mismatches = 0;
    for (int round = 0; round < 200; ++round) {
        for (auto& a : acc) a = static_cast<std::int32_t>(rng()) >> (rng() % 32);
        const qtl::quantized_multiplier qm{q31(rng), shifts(rng)};
        const qtl::requantize_params p{zp(rng), -128, 127};
        std::vector<std::int8_t> out(acc.size());
        qtl::requantize_n_reference<std::int8_t>(acc.data(), acc.size(), qm, p, out.data());
        for (std::size_t i = 0; i < acc.size(); ++i)
            if (out[i] != oracle_stage<std::int8_t>(acc[i], qm.multiplier, qm.shift, p)) ++mismatches;
    }
    CHECK(mismatches == 0);
}

TEST_CASE("requantize_channels_n_reference: element i uses channel i % channels") {
    // Channel 0: 0.5, channel 1: 1.0.
    const std::int32_t multipliers[] = {half, half};
    const std::int32_t shifts[] = {0, 1};
    const std::int32_t acc[] = {10, 10, 20, 20, 30};
    std::int16_t out[5] = {};
    qtl::requantize_channels_n_reference<std::int16_t>(acc, 5, multipliers, shifts, 2, {1, -100, 100}, out);
    CHECK(out[0] == 6);
    CHECK(out[1] == 11);
    CHECK(out[2] == 11);
    CHECK(out[3] == 21);
    CHECK(out[4] == 16);

    std::mt19937 rng(12);
    std::uniform_int_distribution<std::int32_t> q31(1 << 30, int32_max);
    std::uniform_int_distribution<int> shift_dist(-31, 4);
    long mismatches = 0;
    for (std::size_t channels : {1u, 3u, 16u, 37u}) {
        std::vector<std::int32_t> m(channels), s(channels), a(channels * 5 + 2);
        for (std::size_t c = 0; c < channels; ++c) {
            m[c] = q31(rng);
            s[c] = shift_dist(rng);
        }
        for (auto& v : a) v = static_cast<std::int32_t>(rng()) >> (rng() % 32);
        const qtl::requantize_params p{-3, -128, 127};
        std::vector<std::int8_t> o(a.size());
        qtl::requantize_channels_n_reference<std::int8_t>(a.data(), a.size(), m.data(), s.data(), channels, p, o.data());
        for (std::size_t i = 0; i < a.size(); ++i)
            if (o[i] != oracle_stage<std::int8_t>(a[i], m[i % channels], s[i % channels], p)) ++mismatches;
    }
    CHECK(mismatches == 0);
}

TEST_CASE("requantize_channels_n_reference: zero channels is an error") {
    const std::int32_t acc[] = {1, 2};
    std::int8_t out[2] = {};
    CHECK_THROWS_AS(qtl::requantize_channels_n_reference<std::int8_t>(acc, 2, nullptr, nullptr, 0, {0, -128, 127}, out),
                    qtl::error);
    // Nothing to do is fine with any channel count.
    CHECK_NOTHROW(qtl::requantize_channels_n_reference<std::int8_t>(acc, 0, nullptr, nullptr, 0, {0, -128, 127}, out));
}
