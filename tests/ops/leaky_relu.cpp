#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <tuple>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "qtl/core/error.hpp"
#include "qtl/ops/leaky_relu.hpp"
#include "qtl/ops/reference/leaky_relu.hpp"
#include "support/ops_testing.hpp"
#include "support/shared_data.hpp"

// LEAKY_RELU: hand-computed cases, the seanet 16x8 golden (TFLite reference
// kernel output, bit-exact), SIMD == reference on random inputs at tile-edge
// sizes for every instruction set the build can run, float bound, errors.

namespace {

using qtl::ops::leaky_relu_params;

using qtl::test::tested_archs;

template <class T>
std::vector<T> run_reference(const qtl::ops::leaky_relu_prepared<T>& p, const std::vector<T>& in) {
    std::vector<T> out(in.size());
    qtl::ops::reference::eval(p, qtl::tensor_view<const T>(in, p.shape), qtl::tensor_view<T>(out, p.shape));
    return out;
}

template <class T, class A = xsimd::default_arch>
std::vector<T> run_simd(const qtl::ops::leaky_relu_prepared<T>& p, const std::vector<T>& in) {
    std::vector<T> out(in.size());
    qtl::ops::eval<T, A>(p, qtl::tensor_view<const T>(in, p.shape), qtl::tensor_view<T>(out, p.shape));
    return out;
}

}  // namespace

TEST_CASE("LEAKY_RELU int8 by hand: identity above zero, alpha below") {
    // Scales 0.5 in and out, zero points 0 and 3, alpha 0.25:
    // M_identity = 1 (Q31 2^30, shift 1), M_alpha = 0.25 (2^30, shift -1).
    // d = -4 -> -1 -> 2;  d = -6 -> srdhm(-6, 2^30) = -3, then -3 / 2 = -1.5 rounds away
    // from zero to -2 -> 1;  d = 6 -> 9;  d = 0 -> 3;  d = 127 -> 130 -> 127;  d = -128 -> -32 -> -29.
    const auto p = qtl::ops::prepare(leaky_relu_params<std::int8_t>{{6}, 0.5f, 0, 0.5f, 3, 0.25f});
    CHECK(p.identity == qtl::quantized_multiplier{1 << 30, 1});
    CHECK(p.alpha == qtl::quantized_multiplier{1 << 30, -1});
    const std::vector<std::int8_t> in{-4, -6, 6, 0, 127, -128};
    const std::vector<std::int8_t> expected{2, 1, 9, 3, 127, -29};
    CHECK(run_reference(p, in) == expected);
    CHECK(run_simd(p, in) == expected);
}

TEST_CASE("LEAKY_RELU int8 by hand: negative alpha keeps its sign in the multiplier") {
    // alpha -0.5, scales 1, zero points 0: M_alpha = -0.5 = Q31 -2^30, shift 0.
    // d = -3 -> srdhm(-3, -2^30) = floor((3 * 2^30 + 2^30) / 2^31) = 2 (1.5 rounds up);
    // d = -1 -> 0.5 -> 1;  d = -128 -> 64;  d = 5 -> 5.
    const auto p = qtl::ops::prepare(leaky_relu_params<std::int8_t>{{4}, 1.0f, 0, 1.0f, 0, -0.5f});
    CHECK(p.alpha == qtl::quantized_multiplier{-(1 << 30), 0});
    const std::vector<std::int8_t> in{-3, -1, -128, 5};
    const std::vector<std::int8_t> expected{2, 1, 64, 5};
    CHECK(run_reference(p, in) == expected);
    CHECK(run_simd(p, in) == expected);
}

TEST_CASE("LEAKY_RELU 16x8: seanet leaky_relu0 golden, bit-exact") {
    // Parameters read from ../shared/models/seanet/leaky_relu0.tflite with a throwaway
    // flatbuffer walker (not in the repo): one LEAKY_RELU (builtin 98, version 2),
    // input and output INT16 [1, 2, 160, 8], both scale 0.0017488234443590045
    // (float bits 0x3ae538c7) and zero point 0; LeakyReluOptions.alpha = 0.3f (0x3e99999a).
    const float scale = 0.0017488234443590045f;
    const qtl::shape s{1, 2, 160, 8};
    const auto p = qtl::ops::prepare(leaky_relu_params<std::int16_t>{s, scale, 0, scale, 0, 0.3f});
    const auto input = qtl::test::read_csv_integers<std::int16_t>("models/seanet/leaky_relu0_input0_int16.csv");
    const auto golden = qtl::test::read_csv_integers<std::int16_t>("models/seanet/leaky_relu0_golden_int16.csv");
    REQUIRE(input.size() == 2560);
    REQUIRE(golden.size() == 2560);
    const auto reference = run_reference(p, input);
    const auto simd = run_simd(p, input);
    std::size_t reference_exact = 0, simd_exact = 0;
    for (std::size_t i = 0; i < golden.size(); ++i) {
        reference_exact += reference[i] == golden[i];
        simd_exact += simd[i] == golden[i];
    }
    MESSAGE("leaky_relu0: reference ", reference_exact, " / ", golden.size(), " exact, SIMD ", simd_exact, " / ",
            golden.size());
    CHECK(reference_exact == golden.size());
    CHECK(simd_exact == golden.size());
}

namespace {

template <class T, class A>
void check_simd_matches_reference() {
    std::mt19937 rng(77);
    std::uniform_real_distribution<float> log_scale(-12.0f, 0.0f);
    std::uniform_real_distribution<float> alpha_dist(-2.0f, 2.0f);
    std::uniform_int_distribution<int> zp_dist(-128, 127);
    std::uniform_int_distribution<int> value(std::numeric_limits<T>::min(), std::numeric_limits<T>::max());
    constexpr std::size_t lanes = xsimd::batch<std::int32_t, A>::size;
    const std::size_t sizes[] = {0, 1, lanes - 1, lanes, lanes + 1, 2 * lanes + 1, 13, 511, 512, 513, 1200};
    for (int trial = 0; trial < 16; ++trial) {
        const float in_scale = std::exp2(log_scale(rng)), out_scale = std::exp2(log_scale(rng));
        if (in_scale / out_scale > 1000.0f) continue;
        const float alpha = trial == 0 ? 0.0f : alpha_dist(rng);
        const std::int32_t in_zp = std::is_same_v<T, std::int8_t> ? zp_dist(rng) : 0;
        const std::int32_t out_zp = std::is_same_v<T, std::int8_t> ? zp_dist(rng) : 0;
        for (const std::size_t n : sizes) {
            std::vector<T> in(n);
            for (auto& v : in) v = static_cast<T>(value(rng));
            const auto p = qtl::ops::prepare(
                leaky_relu_params<T>{{static_cast<std::int32_t>(n)}, in_scale, in_zp, out_scale, out_zp, alpha});
            CHECK((run_simd<T, A>(p, in) == run_reference(p, in)));
        }
    }
}

template <class... A>
void check_all_archs(std::tuple<A...>*) {
    (check_simd_matches_reference<std::int8_t, A>(), ...);
    (check_simd_matches_reference<std::int16_t, A>(), ...);
}

}  // namespace

TEST_CASE("LEAKY_RELU: SIMD eval == reference eval on random inputs, every arch, tile-edge sizes") {
    check_all_archs(static_cast<tested_archs*>(nullptr));
}

TEST_CASE_TEMPLATE("LEAKY_RELU reference vs float math: within 0.75 output LSB", T, std::int8_t, std::int16_t) {
    // Same bound as RELU: double rounding errs by <= 0.5 + 0.5 * 2^-right_shift <= 0.75 LSB,
    // the multipliers' float and Q31 rounding add < 0.01 LSB here.  Truth: leaky_relu(deq(q))
    // clamped to the output's representable range.
    const bool is8 = std::is_same_v<T, std::int8_t>;
    const float in_scale = is8 ? 0.0371f : 0.00037f, out_scale = is8 ? 0.0297f : 0.00029f;
    const std::int32_t in_zp = is8 ? 21 : 0, out_zp = is8 ? -5 : 0;
    for (const float alpha : {0.3f, 0.01f, -0.7f, 1.3f}) {
        std::vector<T> in;
        for (std::int32_t q = std::numeric_limits<T>::min(); q <= std::numeric_limits<T>::max(); ++q)
            in.push_back(static_cast<T>(q));
        const auto p = qtl::ops::prepare(
            leaky_relu_params<T>{{static_cast<std::int32_t>(in.size())}, in_scale, in_zp, out_scale, out_zp, alpha});
        const auto out = run_reference(p, in);
        const double lo = (double(std::numeric_limits<T>::min()) - out_zp) * out_scale;
        const double hi = (double(std::numeric_limits<T>::max()) - out_zp) * out_scale;
        double worst = 0;
        for (std::size_t i = 0; i < in.size(); ++i) {
            const double x = (double(in[i]) - in_zp) * in_scale;
            const double truth = std::clamp(x >= 0 ? x : x * double(alpha), lo, hi);
            worst = std::max(worst, std::abs((double(out[i]) - out_zp) * out_scale - truth) / out_scale);
        }
        CAPTURE(alpha);
        CHECK(worst <= 0.76);
    }
}

TEST_CASE("LEAKY_RELU errors name the op and what is wrong") {
    using qtl::error;
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(leaky_relu_params<std::int8_t>{{2}, 1.0f, 0, 1.0f, 0,
                                                                           std::numeric_limits<float>::quiet_NaN()}),
                         "LEAKY_RELU: alpha must be finite, got nan", error);
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(leaky_relu_params<std::int8_t>{{2}, -0.5f, 0, 1.0f, 0, 0.2f}),
                         "LEAKY_RELU: input scale must be finite and > 0, got -0.5", error);
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(leaky_relu_params<std::int16_t>{{2}, 1.0f, 1, 1.0f, 0, 0.2f}),
                         "LEAKY_RELU: input zero point must be 0 for int16 (16x8) tensors, got 1", error);
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(leaky_relu_params<std::int8_t>{{2}, 1.0f, 0, 1.0f, -129, 0.2f}),
                         "LEAKY_RELU: output zero point must lie in [-128, 127], got -129", error);
    // alpha 2^20 with M_identity 1: |d| <= 128 times 2^21 overflows int32.
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(leaky_relu_params<std::int8_t>{{2}, 1.0f, 0, 1.0f, 0, 16777216.0f}),
                         "LEAKY_RELU: alpha multiplier 1.67772e+07 is too large: an input difference of 128 times "
                         "2^25 overflows TFLite's int32 requantization",
                         error);
    const auto p = qtl::ops::prepare(leaky_relu_params<std::int16_t>{{4}, 1.0f, 0, 1.0f, 0, 0.2f});
    std::vector<std::int16_t> in(4), out(5);
    CHECK_THROWS_WITH_AS(qtl::ops::eval(p, qtl::tensor_view<const std::int16_t>(in, {4}),
                                        qtl::tensor_view<std::int16_t>(out, {5})),
                         "LEAKY_RELU: output shape [5] differs from the prepared [4]", error);
    CHECK_THROWS_WITH_AS(qtl::ops::reference::eval(p, qtl::tensor_view<const std::int16_t>(in, {2, 2}),
                                                   qtl::tensor_view<std::int16_t>(out, {5})),
                         "LEAKY_RELU: input shape [2, 2] differs from the prepared [4]", error);
}
