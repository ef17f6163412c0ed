#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include <gemmlowp/fixedpoint/fixedpoint.h>

#include "qtl/core/error.hpp"
#include "qtl/ops/hard_swish.hpp"
#include "qtl/ops/reference/hard_swish.hpp"

// HARD_SWISH: the int16 primitives against gemmlowp, hand-computed values,
// SIMD (table) == reference (arithmetic) for every input and many scales,
// float bound, errors.

namespace {

using qtl::ops::hard_swish_params;
namespace hs = qtl::ops::detail::hard_swish_op;

std::vector<std::int8_t> run(const qtl::ops::hard_swish_prepared<std::int8_t>& p, const std::vector<std::int8_t>& in,
                             bool simd) {
    std::vector<std::int8_t> out(in.size());
    qtl::tensor_view<const std::int8_t> x(in, p.shape);
    qtl::tensor_view<std::int8_t> y(out, p.shape);
    if (simd) qtl::ops::eval(p, x, y);
    else qtl::ops::reference::eval(p, x, y);
    return out;
}

std::vector<std::int8_t> all_int8() {
    std::vector<std::int8_t> v;
    for (int q = -128; q <= 127; ++q) v.push_back(static_cast<std::int8_t>(q));
    return v;
}

}  // namespace

TEST_CASE("HARD_SWISH int16 primitives equal gemmlowp's (rounding divide exhaustively, products on a grid)") {
    int mismatches = 0;
    for (int e = 0; e <= 31; ++e) {
        for (std::int32_t x = -32768; x <= 32767; ++x) {
            const auto v = static_cast<std::int16_t>(x);
            mismatches += hs::rounding_divide_by_pot(v, e) != gemmlowp::RoundingDivideByPOT<std::int16_t>(v, e);
        }
    }
    CHECK(mismatches == 0);
    mismatches = 0;
    std::vector<std::int16_t> values{-32768, -32767, -16385, -16384, -1, 0, 1, 16383, 16384, 32766, 32767};
    for (std::int32_t x = -32768; x <= 32767; x += 97) values.push_back(static_cast<std::int16_t>(x));
    for (const auto a : values) {
        for (const auto b : values) {
            mismatches += hs::saturating_rounding_doubling_high_mul(a, b) !=
                          gemmlowp::SaturatingRoundingDoublingHighMul<std::int16_t>(a, b);
        }
    }
    CHECK(mismatches == 0);
}

TEST_CASE("HARD_SWISH int16 primitives by hand") {
    // sdhm truncates toward zero: 3 * 16384 / 2^15 = 1.5 -> 1, -1.5 -> -1; -1 * -1 saturates.
    CHECK(hs::saturating_doubling_high_mul(3, 16384) == 1);
    CHECK(hs::saturating_doubling_high_mul(-3, 16384) == -1);
    CHECK(hs::saturating_doubling_high_mul(-32768, -32768) == 32767);
    CHECK(hs::saturating_left_shift(20000, 1) == 32767);
    CHECK(hs::saturating_left_shift(-20000, 1) == -32768);
    CHECK(hs::saturating_left_shift(-100, 3) == -800);
    // Q31 -> Q15: 2^30 -> 16384;  2^31 - 1 saturates to 32767;  0x40008000 rounds up to 16385.
    CHECK(hs::q15_multiplier(1 << 30) == 16384);
    CHECK(hs::q15_multiplier(2147483647) == 32767);
    CHECK(hs::q15_multiplier(0x40008000) == 16385);
}

TEST_CASE("HARD_SWISH int8 by hand") {
    // Input and output scale 3/128: (in_scale / 128) / out_scale = 2^-7 -> Q15 16384, exponent -6;
    // (in_scale / 128) / (3 / 32768) = 2 -> Q15 16384, exponent 2.
    //  q 64 (x = 1.5): x16 = 8192, pre_out = srdhm(8192, 16384) = 4096;
    //    reluish: 8192 << 1 = 16384, srdhm(16384, 16384) = 8192, << 1 = 16384 (x / 3 = 0.5),
    //    (16384 + 32768) >> 1 = 24576 (0.75 = relu6(4.5) / 6);  sdhm(24576, 4096) = 3072,
    //    3072 / 2^6 = 48  (48 * 3/128 = 1.125 = 1.5 * 0.75)
    //  q -64: pre_out = srdhm(-8192, 16384) = -4096; reluish -16384 -> 8192 (0.25);
    //    sdhm(8192, -4096) = -1024, / 2^6 = -16  (-0.375)
    //  q 128 (x = 3): pre_out 8192; reluish: 16384 << 1 saturates to 32767, srdhm -> 16383,
    //    << 1 = 32766, (32766 + 32768) >> 1 = 32767; sdhm(32767, 8192) = 8191 (8191.75 truncated),
    //    8191 / 2^6 = 127.98 -> 128 -> clamped to 127  (hard_swish(3) = 3 = 128 steps)
    //  q -128 (x = -3): reluish -32768 -> 0 -> 0;  q 0 -> 0.
    const auto p = qtl::ops::prepare(hard_swish_params<std::int8_t>{{5}, 3.0f / 128, 0, 3.0f / 128, 0});
    CHECK(p.output_multiplier == 16384);
    CHECK(p.output_exponent == -6);
    CHECK(p.reluish_multiplier == 16384);
    CHECK(p.reluish_exponent == 2);
    const std::vector<std::int8_t> in{0, 64, -64, 127, -128};
    // 127 -> x16 16256: pre_out 8128, reluish saturates as for 128 -> 32767, sdhm -> 8127, / 64 = 126.98 -> 127.
    const std::vector<std::int8_t> expected{0, 48, -16, 127, 0};
    CHECK(run(p, in, false) == expected);
    CHECK(run(p, in, true) == expected);

    // The same with zero points 10 (input) and -5 (output): q is shifted by 10, the result by -5,
    // and x = 3 (q 138) is out of int8 range, so use x = 1.5, -1.5, -3: 43, -21, -5.
    const auto z = qtl::ops::prepare(hard_swish_params<std::int8_t>{{4}, 3.0f / 128, 10, 3.0f / 128, -5});
    CHECK(run(z, std::vector<std::int8_t>{10, 74, -54, -118}, false) == std::vector<std::int8_t>{-5, 43, -21, -5});
}

TEST_CASE("HARD_SWISH: SIMD (table) == reference (arithmetic), every input, random scales and sizes") {
    std::mt19937 rng(31);
    std::uniform_real_distribution<float> log_scale(-10.0f, 2.0f);
    std::uniform_int_distribution<int> zp(-128, 127);
    const auto all = all_int8();
    int checked = 0;
    for (int trial = 0; trial < 300; ++trial) {
        const float in_scale = std::exp2(log_scale(rng)), out_scale = std::exp2(log_scale(rng));
        if (in_scale / 128 > out_scale) continue;  // prepare refuses these (tested below)
        const auto p = qtl::ops::prepare(
            hard_swish_params<std::int8_t>{{static_cast<std::int32_t>(all.size())}, in_scale, zp(rng), out_scale, zp(rng)});
        CHECK(run(p, all, true) == run(p, all, false));
        ++checked;
    }
    CHECK(checked > 100);
    for (const std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{33}, std::size_t{1000}}) {
        std::vector<std::int8_t> in(n);
        for (std::size_t i = 0; i < n; ++i) in[i] = static_cast<std::int8_t>(i * 77);
        const auto p = qtl::ops::prepare(hard_swish_params<std::int8_t>{{static_cast<std::int32_t>(n)}, 0.05f, -3, 0.03f, 2});
        CHECK(run(p, in, true) == run(p, in, false));
    }
}

TEST_CASE("HARD_SWISH reference vs float math: within 1.5 output LSB") {
    // Budget in output steps: the final rounding 0.5; pre_out and reluish are rounded to Q15
    // (|pre_out| = |x| / out_scale * 2^exp_out, so its rounding is <= 0.5 * 2^exp_out <= 0.5
    // steps after the shift); sdhm truncates (< 1 unit of pre_out scale: <= 2^exp_out <= 0.5
    // steps), reluish's 2^-15 resolution times |x| / out_scale (<= 0.004 * |out| + small); the
    // Q15 multipliers are within 2^-15 relative.  <= 1.5 over the unclamped range.
    const auto all = all_int8();
    double worst = 0;
    for (const float in_scale : {0.02f, 3.0f / 128, 0.05f, 0.1f}) {
        for (const float out_scale : {0.02f, 0.035f, 0.07f}) {
            if (in_scale / 128 > out_scale) continue;
            for (const std::int32_t in_zp : {-50, 0, 40}) {
                const std::int32_t out_zp = -60;
                const auto p = qtl::ops::prepare(hard_swish_params<std::int8_t>{{256}, in_scale, in_zp, out_scale, out_zp});
                const auto out = run(p, all, false);
                for (std::size_t i = 0; i < all.size(); ++i) {
                    const double x = (all[i] - in_zp) * double(in_scale);
                    const double truth = std::clamp(x * std::clamp(x + 3.0, 0.0, 6.0) / 6.0, (-128.0 - out_zp) * out_scale,
                                                    (127.0 - out_zp) * out_scale);
                    worst = std::max(worst, std::abs((out[i] - out_zp) * double(out_scale) - truth) / out_scale);
                }
            }
        }
    }
    MESSAGE("HARD_SWISH: worst error ", worst, " output steps");
    CHECK(worst <= 1.5);
}

TEST_CASE("HARD_SWISH errors name the op and what is wrong") {
    using qtl::error;
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(hard_swish_params<std::int8_t>{{4}, 1.0f, 0, 0.001f, 0}),
                         "HARD_SWISH: the output multiplier (input scale / 128) / output scale = 7.8125 must be < 1 "
                         "(TFLite requires its exponent <= 0, got 3)",
                         error);
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(hard_swish_params<std::int8_t>{{4}, 0.0f, 0, 0.1f, 0}),
                         "HARD_SWISH: input scale must be finite and > 0, got 0", error);
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(hard_swish_params<std::int8_t>{{4}, 0.1f, 0, 0.1f, 128}),
                         "HARD_SWISH: output zero point must lie in [-128, 127], got 128", error);
    CHECK_THROWS_AS(qtl::ops::prepare(hard_swish_params<std::int8_t>{{4}, std::numeric_limits<float>::quiet_NaN(), 0, 0.1f, 0}),
                    error);
    CHECK_THROWS_AS(qtl::ops::prepare(hard_swish_params<std::int8_t>{{4, -1}, 0.1f, 0, 0.1f, 0}), error);
    const auto p = qtl::ops::prepare(hard_swish_params<std::int8_t>{{4}, 0.1f, 0, 0.1f, 0});
    std::vector<std::int8_t> in(4), out(4);
    CHECK_THROWS_WITH_AS(
        qtl::ops::eval(p, qtl::tensor_view<const std::int8_t>(in, {1, 4}), qtl::tensor_view<std::int8_t>(out, {4})),
        "HARD_SWISH: input shape [1, 4] differs from the prepared [4]", error);
    CHECK_THROWS_AS(
        qtl::ops::reference::eval(p, qtl::tensor_view<const std::int8_t>(in, {4}), qtl::tensor_view<std::int8_t>(out, {2, 2})),
        error);
}
