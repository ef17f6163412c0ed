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
#include "qtl/ops/sub.hpp"
#include "qtl/ops/reference/sub.hpp"
#include "support/add_int8_kernels_testing.hpp"
#include "support/ops_testing.hpp"
#include "support/shared_data.hpp"

// SUB: hand-computed cases (TFLite's arithmetic by hand, in the comments),
// the seanet sub0 golden (a broadcast of INT16[64]) written by TFLite's
// reference interpreter,
// SIMD == reference on random inputs and broadcast shapes, the float bound,
// and the error paths.

namespace {

using qtl::fused_activation;
using qtl::ops::sub_params;

template <class T>
std::vector<T> run_simd(const qtl::ops::sub_prepared<T>& p, const std::vector<T>& a, const std::vector<T>& b) {
    std::vector<T> out(p.plan.output_size);
    qtl::ops::eval(p, {a, p.plan.input1_shape}, {b, p.plan.input2_shape}, {out, p.plan.output_shape});
    return out;
}

template <class T>
std::vector<T> run_reference(const qtl::ops::sub_prepared<T>& p, const std::vector<T>& a, const std::vector<T>& b) {
    std::vector<T> out(p.plan.output_size);
    qtl::ops::reference::eval(p, {a, p.plan.input1_shape}, {b, p.plan.input2_shape}, {out, p.plan.output_shape});
    return out;
}

// Both paths on the same inputs; they must agree, the result is returned.
template <class T>
std::vector<T> run_both(const sub_params<T>& params, const std::vector<T>& a, const std::vector<T>& b) {
    const auto p = qtl::ops::prepare(params);
    const auto simd = run_simd(p, a, b);
    const auto reference = run_reference(p, a, b);
    CHECK(simd == reference);
    return reference;
}

template <class T>
sub_params<T> params_of(qtl::shape s1, qtl::shape s2, float scale1, std::int32_t zp1, float scale2, std::int32_t zp2,
                        float out_scale, std::int32_t out_zp, fused_activation act = fused_activation::none) {
    sub_params<T> p;
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

TEST_CASE("SUB int8: hand-computed differences") {
    // Scales 0.5, 0.5 -> 1.0, zero points 0: input multipliers 0.5 = (2^30, 0),
    // output 2^-20 = (2^30, -19) (as for ADD); the rescaled inputs are subtracted.
    //  q1 = 5, q2 = 3: 5 * 2^19 - 3 * 2^19 = 2^20 -> srdhm 2^19 -> rdbp by 2^19 = 1   (2.5 - 1.5)
    //  q1 = 3, q2 = 0: 1.5 -> 2;  q1 = 0, q2 = 3: -3 * 2^19 -> -3 * 2^18 -> -1.5 -> -2 (ties away)
    //  q1 = -128, q2 = 127: -255 * 2^19 -> -127.5 -> -128;  q1 = 127, q2 = -128: 127.5 -> 128 -> 127
    const auto params = params_of<std::int8_t>({5}, {5}, 0.5f, 0, 0.5f, 0, 1.0f, 0);
    CHECK(run_both(params, {5, 3, 0, -128, 127}, {3, 0, 3, 127, -128}) ==
          std::vector<std::int8_t>{1, 2, -2, -128, 127});
    // Zero points 10 and -4, output zero point -3: q1 = 15 (2.5), q2 = -1 (1.5): 1 - 3 = -2.
    CHECK(run_both(params_of<std::int8_t>({1}, {1}, 0.5f, 10, 0.5f, -4, 1.0f, -3), {15}, {-1}) ==
          std::vector<std::int8_t>{-2});
}

TEST_CASE("SUB int8: fused activations and broadcasting") {
    // Scales 1, 1 -> 1, output zero point 0: exact differences.  [2, 3] - [3]:
    //  {1, 2, 3, 4, 5, 6} - {10, 20, 30} = {-9, -18, -27, -6, -15, -24}; RELU clamps at 0,
    //  RELU_N1_TO_1 at -1.  Scalar - [3]: 5 - {1, 7, 5} = {4, -2, 0}, RELU6 -> {4, 0, 0}.
    const std::vector<std::int8_t> a{1, 2, 3, 4, 5, 6}, b{10, 20, 30};
    const auto row = [&](fused_activation act) {
        return run_both(params_of<std::int8_t>({2, 3}, {3}, 1.0f, 0, 1.0f, 0, 1.0f, 0, act), a, b);
    };
    CHECK(row(fused_activation::none) == std::vector<std::int8_t>{-9, -18, -27, -6, -15, -24});
    CHECK(row(fused_activation::relu) == std::vector<std::int8_t>{0, 0, 0, 0, 0, 0});
    CHECK(row(fused_activation::relu_n1_to_1) == std::vector<std::int8_t>{-1, -1, -1, -1, -1, -1});
    CHECK(run_both(params_of<std::int8_t>({}, {3}, 1.0f, 0, 1.0f, 0, 1.0f, 0, fused_activation::relu6), {5},
                   {1, 7, 5}) == std::vector<std::int8_t>{4, 0, 0});
    // [3] - [2, 1]: b broadcast along the row: {{1, 2, 3} - 1, {1, 2, 3} - 2}.
    CHECK(run_both(params_of<std::int8_t>({3}, {2, 1}, 1.0f, 0, 1.0f, 0, 1.0f, 0), {1, 2, 3}, {1, 2}) ==
          std::vector<std::int8_t>{0, 1, 2, -1, 0, 1});
}

TEST_CASE("SUB int16: the rescaled inputs are subtracted, not added with a negated multiplier") {
    // Scales 1 and 0.5 + 2^-16 -> 1, zero points 0, left shift 15; twice_max = 2.
    //  input 1 multiplier 0.5 = (2^30, 0); input 2: 0.25 + 2^-17 = (2^30 + 2^15, -1);
    //  output 2 / (2^15 * 1) = 2^-14 = (2^30, -13).
    //  q1 = -1: srdhm(-2^15, 2^30) = -2^14 = -16384.
    //  q2 = -1: x2 = -2^15, x2 * m2 = -(2^45 + 2^30), srdhm = floor((-(2^45 + 2^30) + 2^30) / 2^31)
    //           = -2^14 exactly; rdbp by 2 = -8192.
    //  raw = -16384 - (-8192) = -8192; srdhm(-8192, 2^30) = -4096; rdbp(-4096, 13) = -0.5 -> -1.
    // The old form (add with multiplier -m2) rounds the tie the other way:
    //  srdhm(-2^15, -m2) = floor((2^45 + 2^30 + 2^30) / 2^31) = 2^14 + 1, rdbp by 2 = 8192.5 -> 8193,
    //  raw = -8191, srdhm = floor(-4095.5 + 0.5) = -4095, rdbp by 2^13 -> 0.
    const float s2 = 0.5f + std::exp2(-16.0f);
    const auto params = params_of<std::int16_t>({1}, {1}, 1.0f, 0, s2, 0, 1.0f, 0);
    const auto p = qtl::ops::prepare(params);
    CHECK(p.input2.multiplier == qtl::quantized_multiplier{(1 << 30) + (1 << 15), -1});
    CHECK(p.output_multiplier == qtl::quantized_multiplier{1 << 30, -13});
    CHECK(run_both(params, {-1}, {-1}) == std::vector<std::int16_t>{-1});
}

TEST_CASE("SUB int16: the power-of-two path when pot_scale_int16 is set") {
    // Input 1 at the output scale 2^-10, input 2 at 2^-12 (rounded down by 2 bits):
    //  (100, 6): 100 - rdbp(6, 2) = 100 - 2 = 98;  (100, -6): 102;  (-32768, 400): saturates;
    //  (32767, -400): saturates;  (0, 5): -rdbp(5, 2) = -1.
    auto params = params_of<std::int16_t>({5}, {5}, 1.0f / 1024, 0, 1.0f / 4096, 0, 1.0f / 1024, 0);
    params.pot_scale_int16 = true;
    CHECK(qtl::ops::prepare(params).power_of_two_int16);
    CHECK(run_both(params, {100, 100, -32768, 32767, 0}, {6, -6, 400, -400, 5}) ==
          std::vector<std::int16_t>{98, 102, -32768, 32767, -1});
    // Input 1 the finer one: (6, 100): rdbp(6, 2) - 100 = -98.
    std::swap(params.input1_scale, params.input2_scale);
    CHECK(run_both(params, {6, 0, 0, 0, 0}, {100, 0, 0, 0, 0}) == std::vector<std::int16_t>{-98, 0, 0, 0, 0});
}

TEST_CASE("SUB int16 matches the seanet sub0 golden bit for bit (broadcast of INT16[64])") {
    // Read once from ../shared/models/seanet/sub0.tflite with a throwaway
    // flatbuffer walk (outside the repo): one SUB (opcode version 2), inputs
    // INT16[1, 2, 12, 64] scale 0.000969371584 and INT16[64] scale 8.7098424e-06
    // (a graph input here, its values in sub0_input1_int16.csv), output
    // INT16[1, 2, 12, 64] scale 0.000594149402, all zero points 0,
    // SubOptions: fused activation NONE, pot_scale_int16 false.
    const std::string dir = "models/seanet/";
    const auto a = qtl::test::read_csv_integers<std::int16_t>(dir + "sub0_input0_int16.csv");
    const auto b = qtl::test::read_csv_integers<std::int16_t>(dir + "sub0_input1_int16.csv");
    const auto golden = qtl::test::read_csv_integers<std::int16_t>(dir + "sub0_golden_int16.csv");
    const auto params =
        params_of<std::int16_t>({1, 2, 12, 64}, {64}, 0.000969371584f, 0, 8.7098424e-06f, 0, 0.000594149402f, 0);
    const auto p = qtl::ops::prepare(params);
    REQUIRE(a.size() == p.plan.output_size);
    REQUIRE(b.size() == 64);
    REQUIRE(golden.size() == p.plan.output_size);
    const auto simd = run_simd(p, a, b);
    const auto reference = run_reference(p, a, b);
    std::size_t exact_simd = 0, exact_reference = 0;
    for (std::size_t i = 0; i < golden.size(); ++i) {
        exact_simd += simd[i] == golden[i];
        exact_reference += reference[i] == golden[i];
    }
    INFO("sub0: SIMD exact " << exact_simd << " / " << golden.size() << ", reference exact " << exact_reference);
    CHECK(exact_reference == golden.size());
    CHECK(exact_simd == golden.size());
}

namespace {

using qtl::test::random_values;

template <class T>
sub_params<T> random_params(std::mt19937& rng, qtl::shape s1, qtl::shape s2) {
    std::uniform_real_distribution<float> log_scale(-12.0f, 2.0f);
    std::uniform_int_distribution<int> zp(-128, 127);
    const auto scale = [&] { return std::exp2(log_scale(rng)); };
    const bool int16 = sizeof(T) == 2;
    const float s1_scale = scale(), s2_scale = scale();
    // The output scale stays within 2^-8 .. 2^4 of the larger input scale
    // (TFLite needs the output multiplier below 1).
    std::uniform_real_distribution<float> ratio(-8.0f, 4.0f);
    const float out_scale = std::max(s1_scale, s2_scale) * std::exp2(ratio(rng));
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
void check_simd_equals_reference(bool pot) {
    std::mt19937 rng(pot ? 17 : 3 * sizeof(T));
    for (const auto& shapes : tested_shapes()) {
        for (int trial = 0; trial < 3; ++trial) {
            auto params = random_params<T>(rng, shapes.a, shapes.b);
            if (pot) {
                // Power-of-two scales: one input at the output scale, the other finer.
                const int e = static_cast<int>(rng() % 12);
                params.output_scale = std::exp2(-static_cast<float>(e));
                params.input1_scale = params.output_scale;
                params.input2_scale = std::exp2(-static_cast<float>(e + static_cast<int>(rng() % 16)));
                if (trial == 1) std::swap(params.input1_scale, params.input2_scale);
                params.pot_scale_int16 = true;
            }
            const auto p = qtl::ops::prepare(params);
            CHECK(p.power_of_two_int16 == pot);
            // int8 runs where both inputs advance take kernels/add_int8.hpp wherever the CPU has AVX2.
            if constexpr (std::is_same_v<T, std::int8_t>) CHECK(p.register_kernel == qtl::kernels::host_cpu_features().avx2);
            const auto a = random_values<T>(rng, p.plan.input1_size);
            const auto b = random_values<T>(rng, p.plan.input2_size);
            INFO("shapes " << qtl::to_string(shapes.a) << " + " << qtl::to_string(shapes.b) << ", trial " << trial);
            CHECK(run_simd(p, a, b) == run_reference(p, a, b));
        }
    }
}

}  // namespace

TEST_CASE("SUB: SIMD eval equals the reference on random inputs and broadcast shapes") {
    check_simd_equals_reference<std::int8_t>(false);
    check_simd_equals_reference<std::int16_t>(false);
    check_simd_equals_reference<std::int16_t>(true);
}

#if QTL_KERNELS_X86_TARGETS
TEST_CASE("SUB int8: the AVX-512 and the AVX2 kernel each equal the reference") {
    qtl::test::check_add_int8_kernels<true>(
        41, [](std::mt19937& rng, std::int32_t n) { return random_params<std::int8_t>(rng, {n}, {n}); },
        [](const auto& p, const auto& a, const auto& b) { return run_reference(p, a, b); });
}
#endif

TEST_CASE("SUB: the reference stays within the quantization bound of the float difference") {
    // Bound, in output LSBs: the output requantization rounds twice (srdhm,
    // then rdbp): at most 1/2 + 1/2 = 1 LSB.  Each input term is rounded twice
    // as well, to units of twice_max / 2^left_shift: at most 1 unit each, i.e.
    // 2 * twice_max / (2^left_shift * out_scale) LSB for both.  The Q31
    // multipliers add a relative 2^-30 or so.  Clamping is 1-Lipschitz, so the
    // exact value is clamped to the activation range before comparing.
    std::mt19937 rng(12);
    const auto run = [&](auto tag) {
        using T = decltype(tag);
        for (int trial = 0; trial < 200; ++trial) {
            const auto params = random_params<T>(rng, {64}, {64});
            const auto p = qtl::ops::prepare(params);
            const auto a = random_values<T>(rng, 64), b = random_values<T>(rng, 64);
            const auto out = run_reference(p, a, b);
            const double twice_max = 2.0 * std::max(params.input1_scale, params.input2_scale);
            const double bound =
                1.0 + 2.0 * twice_max / (std::exp2(p.left_shift) * params.output_scale) + 1e-6;
            for (std::size_t i = 0; i < out.size(); ++i) {
                const double real = (a[i] - params.input1_zero_point) * double(params.input1_scale) -
                                    (b[i] - params.input2_zero_point) * double(params.input2_scale);
                const double exact = std::clamp(real / params.output_scale + params.output_zero_point,
                                                double(p.output.activation_min), double(p.output.activation_max));
                INFO("trial " << trial << " element " << i << ": got " << int(out[i]) << ", exact " << exact);
                CHECK(std::abs(out[i] - exact) <= bound);
            }
        }
    };
    run(std::int8_t{});
    run(std::int16_t{});
}

TEST_CASE("SUB: prepare() rejects bad specs, eval() bad shapes") {
    const auto good = params_of<std::int8_t>({2, 3}, {3}, 0.5f, 0, 0.5f, 0, 1.0f, 0);
    CHECK_NOTHROW(qtl::ops::prepare(good));
    auto bad = good;
    bad.input1_scale = 0.0f;
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(bad), "SUB: input 1 scale must be finite and > 0, got 0", qtl::error);
    bad = good;
    bad.input2_scale = std::numeric_limits<float>::quiet_NaN();
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(bad), "SUB: input 2 scale must be finite and > 0, got nan", qtl::error);
    bad = good;
    bad.output_scale = -1.0f;
    CHECK_THROWS_AS(qtl::ops::prepare(bad), qtl::error);
    bad = good;
    bad.input1_zero_point = 128;
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(bad), "SUB: input 1 zero point 128 is outside the int8 range [-128, 127]",
                         qtl::error);
    bad = good;
    bad.activation = fused_activation::tanh;
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(bad),
                         "SUB: fused activation 4 is not supported (expected NONE, RELU, RELU_N1_TO_1 or RELU6)",
                         qtl::error);
    bad = good;
    bad.input2_shape = {4};
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(bad),
                         "SUB: shapes [2, 3] and [4] cannot be broadcast: dimension 1 of the output would need 3 and 4",
                         qtl::error);
    bad = good;
    bad.input1_shape = {1, 1, 1, 1, 1, 1, 3};
    CHECK_THROWS_AS(qtl::ops::prepare(bad), qtl::error);
    // An output scale so small that the output multiplier reaches 1:
    // 2 * 0.5 / (2^20 * 2^-20) = 1.
    bad = good;
    bad.output_scale = std::exp2(-20.0f);
    CHECK_THROWS_AS(qtl::ops::prepare(bad), qtl::error);

    auto bad16 = params_of<std::int16_t>({3}, {3}, 0.5f, 0, 0.5f, 0, 1.0f, 0);
    bad16.output_zero_point = 5;
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(bad16), "SUB: output zero point must be 0 for int16 (16x8 mode), got 5",
                         qtl::error);
    // Power-of-two path with both inputs coarser than the output: TFLite refuses it.
    bad16 = params_of<std::int16_t>({3}, {3}, 1.0f, 0, 1.0f, 0, 0.5f, 0);
    bad16.pot_scale_int16 = true;
    CHECK_THROWS_AS(qtl::ops::prepare(bad16), qtl::error);

    const auto p = qtl::ops::prepare(good);
    std::vector<std::int8_t> a(6), b(3), out(6), wrong(4);
    CHECK_THROWS_WITH_AS(qtl::ops::eval(p, {a, {6}}, {b, {3}}, {out, {2, 3}}),
                         "SUB: input 1 has shape [6] but the op was prepared for [2, 3]", qtl::error);
    CHECK_THROWS_WITH_AS(qtl::ops::reference::eval(p, {a, {2, 3}}, {wrong, {4}}, {out, {2, 3}}),
                         "SUB: input 2 has shape [4] but the op was prepared for [3]", qtl::error);
    CHECK_THROWS_WITH_AS(qtl::ops::eval(p, {a, {2, 3}}, {b, {3}}, {out, {3, 2}}),
                         "SUB: output has shape [3, 2], expected [2, 3]", qtl::error);
}
