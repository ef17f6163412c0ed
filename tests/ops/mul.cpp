#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "qtl/core/error.hpp"
#include "qtl/ops/mul.hpp"
#include "qtl/ops/reference/mul.hpp"
#include "support/ops_testing.hpp"

// MUL: hand-computed cases (TFLite's arithmetic by hand, in the comments;
// ../shared/models/seanet has no MUL, so there is no golden),
// SIMD == reference on random inputs and broadcast shapes, the float bound,
// and the error paths.

namespace {

using qtl::fused_activation;
using qtl::ops::mul_params;

template <class T>
std::vector<T> run_simd(const qtl::ops::mul_prepared<T>& p, const std::vector<T>& a, const std::vector<T>& b) {
    std::vector<T> out(p.plan.output_size);
    qtl::ops::eval(p, {a, p.plan.input1_shape}, {b, p.plan.input2_shape}, {out, p.plan.output_shape});
    return out;
}

template <class T>
std::vector<T> run_reference(const qtl::ops::mul_prepared<T>& p, const std::vector<T>& a, const std::vector<T>& b) {
    std::vector<T> out(p.plan.output_size);
    qtl::ops::reference::eval(p, {a, p.plan.input1_shape}, {b, p.plan.input2_shape}, {out, p.plan.output_shape});
    return out;
}

// Both paths on the same inputs; they must agree, the result is returned.
template <class T>
std::vector<T> run_both(const mul_params<T>& params, const std::vector<T>& a, const std::vector<T>& b) {
    const auto p = qtl::ops::prepare(params);
    const auto simd = run_simd(p, a, b);
    const auto reference = run_reference(p, a, b);
    CHECK(simd == reference);
    return reference;
}

template <class T>
mul_params<T> params_of(qtl::shape s1, qtl::shape s2, float scale1, std::int32_t zp1, float scale2, std::int32_t zp2,
                        float out_scale, std::int32_t out_zp, fused_activation act = fused_activation::none) {
    mul_params<T> p;
    p.input1_shape = std::move(s1);
    p.input2_shape = std::move(s2);
    p.input1_scale = scale1;
    p.input1_zero_point = zp1;
    p.input2_scale = scale2;
    p.input2_zero_point = zp2;
    p.output_scale = out_scale;
    p.output_zero_point = out_zp;
    p.activation = act;
    return p;
}

constexpr std::size_t lanes = xsimd::batch<std::int32_t>::size;

}  // namespace

TEST_CASE("MUL int8: hand-computed products") {
    // Scales 0.5, 0.25 -> 0.125: M = 0.5 * 0.25 / 0.125 = 1 = (2^30, shift 1).
    //  q1 = 3, q2 = 6: 18 -> 18 << 1 = 36 -> srdhm(36, 2^30) = 18.   (1.5 * 1.5 = 2.25 = 18 * 0.125)
    const auto p = qtl::ops::prepare(params_of<std::int8_t>({1}, {1}, 0.5f, 0, 0.25f, 0, 0.125f, 0));
    CHECK(p.output_multiplier == qtl::quantized_multiplier{1 << 30, 1});
    CHECK(run_both(params_of<std::int8_t>({1}, {1}, 0.5f, 0, 0.25f, 0, 0.125f, 0), {3}, {6}) ==
          std::vector<std::int8_t>{18});
    // Scales 1, 1 -> 4: M = 0.25 = (2^30, -1).  TFLite's double rounding:
    //  (3, 2): 6 -> srdhm = 3 -> rdbp(3, 1) = 1.5 -> 2;   (-3, 2): -3 -> -1.5 -> -2
    //  (5, 1): srdhm(5, 2^30) = 2.5 rounds up to 3, rdbp(3, 1) = 2 (the exact 1.25 would give 1)
    //  (-5, 1): srdhm = floor(-2.5 + 0.5) = -2, rdbp(-2, 1) = -1
    CHECK(run_both(params_of<std::int8_t>({4}, {4}, 1.0f, 0, 1.0f, 0, 4.0f, 0), {3, -3, 5, -5}, {2, 2, 1, 1}) ==
          std::vector<std::int8_t>{2, -2, 2, -1});
    // Scales 1, 1 -> 0.25: M = 4 = (2^30, 3), a left shift first (TFLite's MUL version 3):
    //  (3, 2): 6 << 3 = 48 -> srdhm = 24;  (100, 100): 40000 saturates at 127;  (-100, 100): -128.
    CHECK(run_both(params_of<std::int8_t>({3}, {3}, 1.0f, 0, 1.0f, 0, 0.25f, 0), {3, 100, -100}, {2, 100, 100}) ==
          std::vector<std::int8_t>{24, 127, -128});
}

TEST_CASE("MUL int8: zero points, fused activations, broadcasting") {
    // Scales 1, 1 -> 1 (M = (2^30, 1), exact), zero points 5, -5 -> 10:
    //  q1 = 8 (3), q2 = -3 (2): 6 + 10 = 16;  q1 = 8, q2 = -1 (4): 12 + 10 = 22;  q1 = 2 (-3), q2 = -3: -6 + 10 = 4.
    //  RELU clamps at 10 (real 0), RELU6 at 16, RELU_N1_TO_1 to [9, 11].
    const std::vector<std::int8_t> a{8, 8, 2}, b{-3, -1, -3};
    const auto with = [&](fused_activation act) {
        return run_both(params_of<std::int8_t>({3}, {3}, 1.0f, 5, 1.0f, -5, 1.0f, 10, act), a, b);
    };
    CHECK(with(fused_activation::none) == std::vector<std::int8_t>{16, 22, 4});
    CHECK(with(fused_activation::relu) == std::vector<std::int8_t>{16, 22, 10});
    CHECK(with(fused_activation::relu6) == std::vector<std::int8_t>{16, 16, 10});
    CHECK(with(fused_activation::relu_n1_to_1) == std::vector<std::int8_t>{11, 11, 9});
    // [2, 3] * [3] and a scalar * [2, 2].
    CHECK(run_both(params_of<std::int8_t>({2, 3}, {3}, 1.0f, 0, 1.0f, 0, 1.0f, 0), {1, 2, 3, -1, -2, -3}, {2, 3, 4}) ==
          std::vector<std::int8_t>{2, 6, 12, -2, -6, -12});
    CHECK(run_both(params_of<std::int8_t>({}, {2, 2}, 1.0f, 0, 1.0f, 0, 1.0f, 0), {-3}, {1, 2, 3, 4}) ==
          std::vector<std::int8_t>{-3, -6, -9, -12});
}

TEST_CASE("MUL: the multiplier is computed in float, as TFLite's Prepare does") {
    // 0.1f * 0.2f / 0.3f in float32 arithmetic is 0.0666666701 (computed by a
    // throwaway float32 emulation), QuantizeMultiplier -> (1145324672, -3); the
    // same quotient in double (0.06666666600) would give (1145324601, -3).
    const auto p = qtl::ops::prepare(params_of<std::int8_t>({1}, {1}, 0.1f, 0, 0.2f, 0, 0.3f, 0));
    CHECK(p.output_multiplier == qtl::quantized_multiplier{1145324672, -3});
}

TEST_CASE("MUL int16 (16x8): products of symmetric int16") {
    // Scales 2^-10, 2^-10 -> 2^-10: M = 2^-10 = (2^30, -9).
    //  (1024, 2048) = 1.0 * 2.0: product 2^21 -> srdhm 2^20 -> rdbp by 2^9 = 2048.
    //  (-1024, 2048): -2048.  (32767, 32767): 1073676289 -> ~1048512, saturates at 32767.
    //  (-32768, 32767): saturates at -32768.  (-32768, -32768): 2^30 -> 2^20, saturates at 32767.
    //  (1, 1): 1 -> srdhm(1, 2^30) = 0.5 rounds up to 1, rdbp(1, 9) = 0.
    const float s = 1.0f / 1024;
    CHECK(run_both(params_of<std::int16_t>({6}, {6}, s, 0, s, 0, s, 0), {1024, -1024, 32767, -32768, -32768, 1},
                   {2048, 2048, 32767, 32767, -32768, 1}) ==
          std::vector<std::int16_t>{2048, -2048, 32767, -32768, 32767, 0});
}

namespace {

using qtl::test::random_values;

template <class T>
mul_params<T> random_params(std::mt19937& rng, qtl::shape s1, qtl::shape s2) {
    std::uniform_real_distribution<float> log_scale(-12.0f, 2.0f);
    std::uniform_int_distribution<int> zp(-128, 127);
    const auto scale = [&] { return std::exp2(log_scale(rng)); };
    const bool int16 = sizeof(T) == 2;
    const float s1_scale = scale(), s2_scale = scale();
    // The output scale lies within 2^-4 .. 2^10 of the product scale, so that
    // multipliers above 1 (positive shifts) are covered as well.
    std::uniform_real_distribution<float> ratio(-4.0f, 10.0f);
    const float out_scale = s1_scale * s2_scale * std::exp2(ratio(rng));
    const fused_activation acts[] = {fused_activation::none, fused_activation::relu, fused_activation::relu6,
                                     fused_activation::relu_n1_to_1};
    return params_of<T>(std::move(s1), std::move(s2), s1_scale, int16 ? 0 : zp(rng), s2_scale, int16 ? 0 : zp(rng),
                        out_scale, int16 ? 0 : zp(rng), acts[rng() % 4]);
}

struct shape_pair {
    qtl::shape a, b;
};

// Tile-edge sizes and broadcast patterns: equal shapes, scalar, row, column,
// outer, rank 6, runs longer than one chunk (256).
std::vector<shape_pair> tested_shapes() {
    std::vector<shape_pair> shapes;
    for (std::size_t n : {std::size_t{1}, lanes - 1, lanes, lanes + 1, 2 * lanes + 1, std::size_t{255},
                          std::size_t{256}, std::size_t{257}, std::size_t{1000}}) {
        if (n == 0) continue;
        const auto d = static_cast<std::int32_t>(n);
        shapes.push_back({{d}, {d}});
        shapes.push_back({{d}, {1}});
        shapes.push_back({{}, {d}});
        shapes.push_back({{3, d}, {d}});
        shapes.push_back({{d}, {2, 3, d}});
        shapes.push_back({{3, 1}, {1, d}});
        shapes.push_back({{d, 1}, {d, 3}});
    }
    shapes.push_back({{2, 1, 3, 1, 5, 7}, {1, 4, 3, 2, 1, 7}});
    shapes.push_back({{1, 2, 1, 3, 1, 5}, {2, 1, 4, 1, 3, 1}});
    shapes.push_back({{7, 5, 3}, {7, 1, 3}});
    shapes.push_back({{1, 1, 12, 64}, {64}});
    shapes.push_back({{0, 3}, {3}});
    return shapes;
}

template <class T>
void check_simd_equals_reference() {
    std::mt19937 rng(5 * sizeof(T));
    for (const auto& shapes : tested_shapes()) {
        for (int trial = 0; trial < 3; ++trial) {
            const auto p = qtl::ops::prepare(random_params<T>(rng, shapes.a, shapes.b));
            const auto a = random_values<T>(rng, p.plan.input1_size);
            const auto b = random_values<T>(rng, p.plan.input2_size);
            INFO("shapes " << qtl::to_string(shapes.a) << " * " << qtl::to_string(shapes.b) << ", trial " << trial);
            CHECK(run_simd(p, a, b) == run_reference(p, a, b));
        }
    }
}

}  // namespace

TEST_CASE("MUL: SIMD eval equals the reference on random inputs and broadcast shapes") {
    check_simd_equals_reference<std::int8_t>();
    check_simd_equals_reference<std::int16_t>();
}

TEST_CASE("MUL: the reference stays within the quantization bound of the float product") {
    // The product of the integer inputs is exact; only the requantization
    // rounds: srdhm then rdbp, at most 1/2 + 1/2 = 1 output LSB, plus the Q31
    // multiplier's relative error (2^-31 of the value; 1e-6 LSB is plenty for
    // int16 magnitudes).  The exact value is clamped to the activation range.
    std::mt19937 rng(13);
    const auto run = [&](auto tag) {
        using T = decltype(tag);
        for (int trial = 0; trial < 200; ++trial) {
            const auto params = random_params<T>(rng, {64}, {64});
            const auto p = qtl::ops::prepare(params);
            const auto a = random_values<T>(rng, 64), b = random_values<T>(rng, 64);
            const auto out = run_reference(p, a, b);
            for (std::size_t i = 0; i < out.size(); ++i) {
                // TFLite shifts the product left before the multiply when M > 1;
                // beyond int32 that wraps (in TFLite and in qtl alike): no bound there.
                const double product = double(a[i] - params.input1_zero_point) * (b[i] - params.input2_zero_point);
                if (std::abs(product) * std::exp2(std::max(p.output_multiplier.shift, 0)) >= 2147483648.0) continue;
                const double real = product * double(params.input1_scale) * double(params.input2_scale);
                const double unclamped = real / params.output_scale + params.output_zero_point;
                const double exact = std::clamp(unclamped, double(p.output.activation_min),
                                                double(p.output.activation_max));
                // The float multiplier itself carries float rounding (2^-24 relative, twice).
                const double bound = 1.0 + 2.5e-7 * std::abs(unclamped) + 1e-6;
                INFO("trial " << trial << " element " << i << ": got " << int(out[i]) << ", exact " << exact);
                CHECK(std::abs(out[i] - exact) <= bound);
            }
        }
    };
    run(std::int8_t{});
    run(std::int16_t{});
}

TEST_CASE("MUL: prepare() rejects bad specs, eval() bad shapes") {
    const auto good = params_of<std::int8_t>({2, 3}, {3}, 0.5f, 0, 0.5f, 0, 1.0f, 0);
    CHECK_NOTHROW(qtl::ops::prepare(good));
    auto bad = good;
    bad.input1_scale = 0.0f;
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(bad), "MUL: input 1 scale must be finite and > 0, got 0", qtl::error);
    bad = good;
    bad.input2_scale = std::numeric_limits<float>::quiet_NaN();
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(bad), "MUL: input 2 scale must be finite and > 0, got nan", qtl::error);
    bad = good;
    bad.output_scale = -1.0f;
    CHECK_THROWS_AS(qtl::ops::prepare(bad), qtl::error);
    bad = good;
    bad.input1_zero_point = 128;
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(bad), "MUL: input 1 zero point 128 is outside the int8 range [-128, 127]",
                         qtl::error);
    bad = good;
    bad.activation = fused_activation::tanh;
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(bad),
                         "MUL: fused activation 4 is not supported (expected NONE, RELU, RELU_N1_TO_1 or RELU6)",
                         qtl::error);
    bad = good;
    bad.input2_shape = {4};
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(bad),
                         "MUL: shapes [2, 3] and [4] cannot be broadcast: dimension 1 of the output would need 3 and 4",
                         qtl::error);
    bad = good;
    bad.input1_shape = {1, 1, 1, 1, 1, 1, 3};
    CHECK_THROWS_AS(qtl::ops::prepare(bad), qtl::error);
    // A multiplier that overflows float: 1e30 * 1e30 / 1e-30.
    bad = good;
    bad.input1_scale = 1e30f;
    bad.input2_scale = 1e30f;
    bad.output_scale = 1e-30f;
    CHECK_THROWS_AS(qtl::ops::prepare(bad), qtl::error);

    auto bad16 = params_of<std::int16_t>({3}, {3}, 0.5f, 0, 0.5f, 0, 1.0f, 0);
    bad16.output_zero_point = 5;
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(bad16), "MUL: output zero point must be 0 for int16 (16x8 mode), got 5",
                         qtl::error);
    bad16.output_zero_point = 0;
    bad16.input1_zero_point = -1;
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(bad16), "MUL: input 1 zero point must be 0 for int16 (16x8 mode), got -1",
                         qtl::error);

    const auto p = qtl::ops::prepare(good);
    std::vector<std::int8_t> a(6), b(3), out(6), wrong(4);
    CHECK_THROWS_WITH_AS(qtl::ops::eval(p, {a, {6}}, {b, {3}}, {out, {2, 3}}),
                         "MUL: input 1 has shape [6] but the op was prepared for [2, 3]", qtl::error);
    CHECK_THROWS_WITH_AS(qtl::ops::reference::eval(p, {a, {2, 3}}, {wrong, {4}}, {out, {2, 3}}),
                         "MUL: input 2 has shape [4] but the op was prepared for [3]", qtl::error);
    CHECK_THROWS_WITH_AS(qtl::ops::eval(p, {a, {2, 3}}, {b, {3}}, {out, {3, 2}}),
                         "MUL: output has shape [3, 2], expected [2, 3]", qtl::error);
}
