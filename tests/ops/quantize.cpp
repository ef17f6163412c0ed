#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "qtl/core/error.hpp"
#include "qtl/ops/quantize.hpp"
#include "qtl/ops/reference/quantize.hpp"
#include "support/shared_data.hpp"

// QUANTIZE: hand-computed float -> int and int -> int cases (TFLite's
// arithmetic by hand in the comments), the seanet quantize0 golden (int32 ->
// int16, written by TFLite's reference interpreter), SIMD == reference on
// random inputs for every conversion, the float bounds, the error paths.

namespace {

using qtl::ops::quantize_params;

qtl::quant_params per_tensor(float scale, std::int32_t zero_point) { return {{scale}, {zero_point}, -1, 0}; }

template <class In, class Out>
quantize_params<In, Out> params_of(qtl::shape shape, qtl::quant_params input, qtl::quant_params output) {
    return {std::move(shape), std::move(input), std::move(output)};
}

template <class In, class Out>
std::vector<Out> run_simd(const qtl::ops::quantize_prepared<In, Out>& p, const std::vector<In>& in) {
    std::vector<Out> out(p.size);
    qtl::ops::eval(p, {in, p.shape}, {out, p.shape});
    return out;
}

template <class In, class Out>
std::vector<Out> run_reference(const qtl::ops::quantize_prepared<In, Out>& p, const std::vector<In>& in) {
    std::vector<Out> out(p.size);
    qtl::ops::reference::eval(p, {in, p.shape}, {out, p.shape});
    return out;
}

// Both paths on the same input; they must agree, the result is returned.
template <class In, class Out>
std::vector<Out> run_both(const quantize_params<In, Out>& params, const std::vector<In>& in) {
    const auto p = qtl::ops::prepare(params);
    const auto simd = run_simd(p, in);
    const auto reference = run_reference(p, in);
    CHECK(simd == reference);
    return reference;
}

template <class In, class Out>
std::vector<Out> quantize(const std::vector<In>& in, qtl::quant_params input, qtl::quant_params output) {
    return run_both(params_of<In, Out>({static_cast<std::int32_t>(in.size())}, std::move(input), std::move(output)),
                    in);
}

constexpr float infinity = std::numeric_limits<float>::infinity();
constexpr float not_a_number = std::numeric_limits<float>::quiet_NaN();
constexpr std::size_t lanes = xsimd::batch<std::int32_t>::size;

}  // namespace

TEST_CASE("QUANTIZE float -> int8: round(x / scale) half away from zero, clamp") {
    // Scale 0.5, zero point -1:
    //  0.25 -> 0.5 -> 1 -> 0;  -0.25 -> -0.5 -> -1 -> -2;  0.74 -> 1.48 -> 1 -> 0
    //  63.75 -> 127.5 -> 128 -> 127;  64.25 -> 128.5 -> 129 -> 128 -> 127 (clamped)
    //  1000 -> 127;  -1000 -> -128;  +infinity -> 127;  -infinity -> -128;  NaN -> the zero point -1
    const std::vector<float> x{0.25f,    -0.25f,    0.74f,    63.75f,    64.25f,
                               1000.0f, -1000.0f, infinity, -infinity, not_a_number};
    CHECK(quantize<float, std::int8_t>(x, {}, per_tensor(0.5f, -1)) ==
          std::vector<std::int8_t>{0, -2, 0, 127, 127, 127, -128, 127, -128, -1});
}

TEST_CASE("QUANTIZE float: the quotient is a float division, as in TFLite") {
    // 0.25f / 0.1f: 0.1f is 0.100000001490116, the exact quotient 2.49999996
    // (nearer 2), but the float quotient rounds to 2.5 exactly (floats near 2.5
    // are 2^-22 apart), and std::round(2.5f) = 3.  TFLite gives 3.
    CHECK(quantize<float, std::int8_t>({0.25f, -0.25f}, {}, per_tensor(0.1f, 0)) == std::vector<std::int8_t>{3, -3});
}

TEST_CASE("QUANTIZE float -> uint8 and int16") {
    // uint8, scale 1/128, zero point 128: -1 -> 0;  0 -> 128;  0.5 -> 192;  0.99 -> 126.72 -> 127 -> 255;
    // 2 -> 384 -> 255 (clamped);  -0.00390625 (= -0.5 / 128) -> -0.5 -> -1 -> 127.
    CHECK(quantize<float, std::uint8_t>({-1.0f, 0.0f, 0.5f, 0.99f, 2.0f, -0.00390625f}, {},
                                        per_tensor(1.0f / 128, 128)) ==
          std::vector<std::uint8_t>{0, 128, 192, 255, 255, 127});
    // int16, scale 2^-10, zero point 0: 1 -> 1024;  -31.9995 -> -32767.488 -> -32767;
    // 40 -> 40960 -> 32767;  -40 -> -32768;  0.00048828125 (half an LSB) -> 1.
    CHECK(quantize<float, std::int16_t>({1.0f, -31.9995f, 40.0f, -40.0f, 0.00048828125f}, {},
                                        per_tensor(1.0f / 1024, 0)) ==
          std::vector<std::int16_t>{1024, -32767, 32767, -32768, 1});
}

TEST_CASE("QUANTIZE float -> int8 per channel (version 3)") {
    // Shape [2, 3], axis 1: scales {1, 0.5, 0.25}, zero points {0, 1, -1}.
    //  row {1, 1, 1}: {1, 2 + 1, 4 - 1} = {1, 3, 3};  row {2, 2, 2}: {2, 5, 7}.
    const auto along_1 = params_of<float, std::int8_t>({2, 3}, {}, {{1.0f, 0.5f, 0.25f}, {0, 1, -1}, 1, 0});
    CHECK(run_both(along_1, {1, 1, 1, 2, 2, 2}) == std::vector<std::int8_t>{1, 3, 3, 2, 5, 7});
    // Axis 0: scales {1, 0.25}, zero points {0, 10}: row 0 as is, row 1 times 4 plus 10.
    const auto along_0 = params_of<float, std::int8_t>({2, 3}, {}, {{1.0f, 0.25f}, {0, 10}, 0, 0});
    CHECK(run_both(along_0, {1, -2, 3, 1, -2, 3}) == std::vector<std::int8_t>{1, -2, 3, 14, 2, 22});
}

TEST_CASE("QUANTIZE requantize int8 <-> uint8 and int8 -> int8") {
    // Same scale, zero points -128 -> 0: M = 1 = (2^30, 1), q + 128 (TFLite's top-bit flip).
    CHECK(quantize<std::int8_t, std::uint8_t>({-128, 0, 127, -1}, per_tensor(0.5f, -128), per_tensor(0.5f, 0)) ==
          std::vector<std::uint8_t>{0, 128, 255, 127});
    CHECK(quantize<std::uint8_t, std::int8_t>({0, 128, 255, 127}, per_tensor(0.5f, 0), per_tensor(0.5f, -128)) ==
          std::vector<std::int8_t>{-128, 0, 127, -1});
    // int8 scale 0.5 -> 1.0, zero points 0: M = 0.5 = (2^30, 0), a bare srdhm, whose ties round up:
    //  3 -> 1.5 -> 2;  -3 -> -1.5 -> -1 (not -2);  5 -> 3;  -5 -> -2;  127 -> 64;  -128 -> -64.
    CHECK(quantize<std::int8_t, std::int8_t>({3, -3, 5, -5, 127, -128}, per_tensor(0.5f, 0), per_tensor(1.0f, 0)) ==
          std::vector<std::int8_t>{2, -1, 3, -2, 64, -64});
    // Zero points 10 -> -20: 13 -> (3 * 0.5 = 1.5) -> 2 -> -18.
    CHECK(quantize<std::int8_t, std::int8_t>({13}, per_tensor(0.5f, 10), per_tensor(1.0f, -20)) ==
          std::vector<std::int8_t>{-18});
    // uint8 scale 1 -> 2, zero points 128 -> 0: M = (2^30, 0):
    //  255 -> 127 * 0.5 = 63.5 -> 64;  0 -> -64;  129 -> 0.5 -> srdhm(1, 2^30) = 1.
    CHECK(quantize<std::uint8_t, std::int8_t>({255, 0, 129}, per_tensor(1.0f, 128), per_tensor(2.0f, 0)) ==
          std::vector<std::int8_t>{64, -64, 1});
}

TEST_CASE("QUANTIZE requantize from int16 and int32") {
    // int16 scale 2^-8 -> int8 scale 2^-1, zero point -5: M = 2^-7 = (2^30, -6):
    //  1000: srdhm = 500, rdbp(500, 6) = 7.8125 -> 8, + (-5) = 3;  -1000: -8 - 5 = -13;
    //  32767 -> 256 - 5 = 251 -> 127;  -32768 -> -256 - 5 -> -128.
    CHECK(quantize<std::int16_t, std::int8_t>({1000, -1000, 32767, -32768}, per_tensor(1.0f / 256, 0),
                                              per_tensor(0.5f, -5)) == std::vector<std::int8_t>{3, -13, 127, -128});
    // int16 scale 1 -> 0.5 (zero points 0): M = 2 = (2^30, 2): 100 << 2 = 400, srdhm = 200;
    //  20000 -> 40000 -> 32767;  -20000 -> -32768.
    CHECK(quantize<std::int16_t, std::int16_t>({100, 20000, -20000}, per_tensor(1.0f, 0), per_tensor(0.5f, 0)) ==
          std::vector<std::int16_t>{200, 32767, -32768});
    // int16 scale 1 -> int32 scale 2^-10: M = 1024 = (2^30, 11): 100 -> 102400;  -32768 -> -33554432.
    CHECK(quantize<std::int16_t, std::int32_t>({100, -32768}, per_tensor(1.0f, 0), per_tensor(1.0f / 1024, 0)) ==
          std::vector<std::int32_t>{102400, -33554432});
    // int32 scale 1 -> int16 scale 4: M = 0.25 = (2^30, -1):
    //  10: srdhm = 5, rdbp(5, 1) = 2.5 -> 3;  -10 -> -3;  6 -> 3 -> 1.5 -> 2;
    //  2^31 - 1 -> 32767;  -2^31 -> -32768.
    CHECK(quantize<std::int32_t, std::int16_t>({10, -10, 6, 2147483647, -2147483647 - 1}, per_tensor(1.0f, 0),
                                               per_tensor(4.0f, 0)) ==
          std::vector<std::int16_t>{3, -3, 2, 32767, -32768});
    // int32 zero point 5: 15 -> 10 -> 3.  -2^31 - 5 wraps to 2^31 - 5 (TFLite's
    // int32 subtraction overflows there; qtl wraps): -> 32767.
    CHECK(quantize<std::int32_t, std::int16_t>({15, -2147483647 - 1}, per_tensor(1.0f, 5), per_tensor(4.0f, 0)) ==
          std::vector<std::int16_t>{3, 32767});
    // int32 -> int8, scale 1 -> 1, zero points 0 -> 3: 100 -> 103;  200 -> 127.
    CHECK(quantize<std::int32_t, std::int8_t>({100, 200}, per_tensor(1.0f, 0), per_tensor(1.0f, 3)) ==
          std::vector<std::int8_t>{103, 127});
}

TEST_CASE("QUANTIZE int32 -> int16 matches the seanet quantize0 golden bit for bit") {
    // Read once from ../shared/models/seanet/quantize0.tflite with a throwaway
    // flatbuffer walk (outside the repo): one QUANTIZE (opcode version 1),
    // input INT32[1, 2, 160, 2] scale 1.49011612e-07 (1.25 * 2^-23), output
    // INT16[1, 2, 160, 2] scale 0.000921971456, zero points 0.
    const std::string dir = "models/seanet/";
    const auto in = qtl::test::read_csv_integers<std::int32_t>(dir + "quantize0_input0_int32.csv");
    const auto golden = qtl::test::read_csv_integers<std::int16_t>(dir + "quantize0_golden_int16.csv");
    const auto p = qtl::ops::prepare(params_of<std::int32_t, std::int16_t>(
        {1, 2, 160, 2}, per_tensor(1.49011612e-07f, 0), per_tensor(0.000921971456f, 0)));
    REQUIRE(in.size() == p.size);
    REQUIRE(golden.size() == p.size);
    const auto simd = run_simd(p, in);
    const auto reference = run_reference(p, in);
    std::size_t exact_simd = 0, exact_reference = 0;
    for (std::size_t i = 0; i < golden.size(); ++i) {
        exact_simd += simd[i] == golden[i];
        exact_reference += reference[i] == golden[i];
    }
    INFO("quantize0: SIMD exact " << exact_simd << " / " << golden.size() << ", reference exact " << exact_reference);
    CHECK(exact_reference == golden.size());
    CHECK(exact_simd == golden.size());
}

namespace {

std::vector<float> random_floats(std::mt19937& rng, std::size_t n, float scale) {
    std::uniform_real_distribution<float> uniform(-300.0f, 300.0f);
    std::vector<float> v(n);
    for (auto& x : v) {
        switch (rng() % 8) {
            case 0: {  // exactly half-way between two steps
                const float k = std::floor(uniform(rng));
                x = (k + 0.5f) * scale;
                break;
            }
            case 1: {
                const float specials[] = {infinity, -infinity, not_a_number, 0.0f, -0.0f, 1e30f, -1e30f, 1e-40f};
                x = specials[rng() % 8];
                break;
            }
            default: x = uniform(rng) * scale;
        }
    }
    return v;
}

template <class T>
std::vector<T> random_integers(std::mt19937& rng, std::size_t n) {
    std::uniform_int_distribution<std::int64_t> dist(std::numeric_limits<T>::min(), std::numeric_limits<T>::max());
    std::vector<T> v(n);
    for (auto& x : v) x = static_cast<T>(dist(rng));
    return v;
}

std::vector<std::size_t> tested_sizes() {
    return {1, lanes - 1, lanes, lanes + 1, 2 * lanes + 1, 255, 256, 257, 1000};
}

template <class T>
std::int32_t random_zero_point(std::mt19937& rng) {
    if constexpr (std::is_same_v<T, std::int16_t>) return 0;
    std::uniform_int_distribution<std::int64_t> dist(qtl::element_traits<T>::min, qtl::element_traits<T>::max);
    return static_cast<std::int32_t>(dist(rng));
}

template <class Out>
void check_float_simd_equals_reference() {
    std::mt19937 rng(sizeof(Out) + 40);
    std::uniform_real_distribution<float> log_scale(-12.0f, 4.0f);
    for (std::size_t n : tested_sizes()) {
        if (n == 0) continue;
        const float scale = std::exp2(log_scale(rng)) * (1.0f + static_cast<float>(rng() % 100) / 100.0f);
        const auto in = random_floats(rng, n, scale);
        const auto p = qtl::ops::prepare(params_of<float, Out>({static_cast<std::int32_t>(n)}, {},
                                                               per_tensor(scale, random_zero_point<Out>(rng))));
        INFO("size " << n);
        CHECK(run_simd(p, in) == run_reference(p, in));
    }
    // Per channel along each axis of [3, 5, 7] and of an odd [2, 9].
    for (const qtl::shape& shape : {qtl::shape{3, 5, 7}, qtl::shape{2, 9}}) {
        for (int axis = 0; axis < static_cast<int>(shape.size()); ++axis) {
            qtl::quant_params q;
            q.axis = axis;
            for (std::int32_t c = 0; c < shape[static_cast<std::size_t>(axis)]; ++c) {
                q.scales.push_back(std::exp2(log_scale(rng)));
                q.zero_points.push_back(random_zero_point<Out>(rng));
            }
            const auto p = qtl::ops::prepare(params_of<float, Out>(shape, {}, q));
            const auto in = random_floats(rng, p.size, q.scales[0]);
            INFO("shape " << qtl::to_string(shape) << " axis " << axis);
            CHECK(run_simd(p, in) == run_reference(p, in));
        }
    }
}

template <class In, class Out>
void check_requantize_simd_equals_reference() {
    std::mt19937 rng(sizeof(In) * 10 + sizeof(Out));
    std::uniform_real_distribution<float> log_scale(-16.0f, 4.0f);
    for (std::size_t n : tested_sizes()) {
        if (n == 0) continue;
        for (int trial = 0; trial < 3; ++trial) {
            const bool both_int16 = std::is_same_v<In, std::int16_t> && std::is_same_v<Out, std::int16_t>;
            const std::int32_t zp_in = both_int16 ? 0 : random_zero_point<In>(rng);
            const std::int32_t zp_out = both_int16 ? 0 : random_zero_point<Out>(rng);
            const auto p = qtl::ops::prepare(params_of<In, Out>({static_cast<std::int32_t>(n)},
                                                                per_tensor(std::exp2(log_scale(rng)), zp_in),
                                                                per_tensor(std::exp2(log_scale(rng)), zp_out)));
            const auto in = random_integers<In>(rng, n);
            INFO("size " << n << " trial " << trial);
            CHECK(run_simd(p, in) == run_reference(p, in));
        }
    }
}

}  // namespace

TEST_CASE("QUANTIZE: SIMD eval equals the reference for every conversion") {
    check_float_simd_equals_reference<std::int8_t>();
    check_float_simd_equals_reference<std::uint8_t>();
    check_float_simd_equals_reference<std::int16_t>();
    check_requantize_simd_equals_reference<std::int8_t, std::int8_t>();
    check_requantize_simd_equals_reference<std::int8_t, std::uint8_t>();
    check_requantize_simd_equals_reference<std::uint8_t, std::int8_t>();
    check_requantize_simd_equals_reference<std::uint8_t, std::uint8_t>();
    check_requantize_simd_equals_reference<std::int16_t, std::int8_t>();
    check_requantize_simd_equals_reference<std::int16_t, std::int16_t>();
    check_requantize_simd_equals_reference<std::int16_t, std::int32_t>();
    check_requantize_simd_equals_reference<std::int32_t, std::int8_t>();
    check_requantize_simd_equals_reference<std::int32_t, std::int16_t>();
}

TEST_CASE("QUANTIZE: the reference stays within the quantization bound") {
    // float -> int8/int16: round-to-nearest of the float quotient, whose own
    // rounding is 2^-24 relative: |q - zp - x / scale| <= 1/2 + 2^-23 |x / scale|
    // for x inside the representable range.
    std::mt19937 rng(21);
    std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
    for (int trial = 0; trial < 100; ++trial) {
        const float scale = std::exp2(uniform(rng) * 10.0f);
        const std::int32_t zp = random_zero_point<std::int8_t>(rng);
        std::vector<float> x(64);
        for (auto& v : x) v = uniform(rng) * 120.0f * scale;
        const auto q = quantize<float, std::int8_t>(x, {}, per_tensor(scale, zp));
        for (std::size_t i = 0; i < x.size(); ++i) {
            const double exact = double(x[i]) / scale + zp;
            if (exact < -128.0 || exact > 127.0) continue;  // clamped: no rounding bound
            INFO("x " << x[i] << " scale " << scale << " zp " << zp << " -> " << int(q[i]));
            CHECK(std::abs(q[i] - exact) <= 0.5 + std::exp2(-23.0) * std::abs(exact - zp));
        }
    }
    // int -> int: the requantization rounds twice (srdhm, rdbp), at most one
    // output LSB, plus the Q31 multiplier's 2^-31 relative error; values that
    // land outside the output range are clamped.
    for (int trial = 0; trial < 100; ++trial) {
        const float in_scale = std::exp2(uniform(rng) * 8.0f), out_scale = std::exp2(uniform(rng) * 8.0f);
        const auto in = random_integers<std::int16_t>(rng, 64);
        const auto q = quantize<std::int16_t, std::int8_t>(in, per_tensor(in_scale, 0), per_tensor(out_scale, -7));
        for (std::size_t i = 0; i < in.size(); ++i) {
            const double exact = std::clamp(in[i] * double(in_scale) / out_scale - 7.0, -128.0, 127.0);
            INFO("in " << in[i] << " scales " << in_scale << " -> " << out_scale << ": " << int(q[i]));
            CHECK(std::abs(q[i] - exact) <= 1.0 + 1e-6);
        }
    }
}

TEST_CASE("QUANTIZE: prepare() rejects bad specs, eval() bad shapes") {
    using F8 = quantize_params<float, std::int8_t>;
    CHECK_NOTHROW(qtl::ops::prepare(F8{{4}, {}, per_tensor(0.5f, 0)}));
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(F8{{4}, {}, per_tensor(0.0f, 0)}),
                         "QUANTIZE: output scale must be finite and > 0, got 0", qtl::error);
    CHECK_THROWS_AS(qtl::ops::prepare(F8{{4}, {}, per_tensor(not_a_number, 0)}), qtl::error);
    CHECK_THROWS_AS(qtl::ops::prepare(F8{{4}, {}, per_tensor(infinity, 0)}), qtl::error);
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(F8{{4}, {}, per_tensor(0.5f, 200)}),
                         "QUANTIZE: output zero point 200 is outside the int8 range [-128, 127]",
                         qtl::error);
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(F8{{4}, per_tensor(1.0f, 0), per_tensor(0.5f, 0)}),
                         "QUANTIZE: a float input has no quantization parameters, got 1 scales", qtl::error);
    CHECK_THROWS_AS(qtl::ops::prepare(F8{{4}, {}, {{0.5f, 0.5f}, {0}, -1, 0}}), qtl::error);
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(F8{{2, 3}, {}, {{1.0f, 1.0f}, {0, 0}, 1, 0}}),
                         "QUANTIZE: output axis 1 has 3 channels but 2 scales and 2 zero points", qtl::error);
    CHECK_THROWS_AS(qtl::ops::prepare(F8{{2, 3}, {}, {{1.0f, 1.0f}, {0, 0}, 2, 0}}), qtl::error);
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(F8{{2, 2}, {}, {{1.0f, 0.0f}, {0, 0}, 1, 0}}),
                         "QUANTIZE: output channel 1 scale must be finite and > 0, got 0", qtl::error);
    CHECK_THROWS_AS(qtl::ops::prepare(F8{{2, 4}, {}, {{1.0f, 1.0f}, {0, 0}, 1, 2}}), qtl::error);
    CHECK_THROWS_AS(qtl::ops::prepare(F8{{-1}, {}, per_tensor(0.5f, 0)}), qtl::error);

    using R16 = quantize_params<std::int16_t, std::int16_t>;
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(R16{{4}, per_tensor(1.0f, 3), per_tensor(0.5f, 0)}),
                         "QUANTIZE: int16 -> int16 needs zero points 0, got 3 and 0", qtl::error);
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(R16{{4}, {{1.0f, 1.0f}, {0, 0}, 0, 0}, per_tensor(0.5f, 0)}),
                         "QUANTIZE: input must be quantized per tensor, got axis 0 and block size 0", qtl::error);
    CHECK_THROWS_AS(qtl::ops::prepare(R16{{4}, {}, per_tensor(0.5f, 0)}), qtl::error);
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(R16{{4}, per_tensor(-1.0f, 0), per_tensor(0.5f, 0)}),
                         "QUANTIZE: input scale must be finite and > 0, got -1", qtl::error);
    using R32 = quantize_params<std::int32_t, std::int8_t>;
    CHECK_THROWS_AS(qtl::ops::prepare(R32{{4}, per_tensor(1e10f, 0), per_tensor(1e-10f, 0)}), qtl::error);
    using R8 = quantize_params<std::int8_t, std::uint8_t>;
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(R8{{4}, per_tensor(1.0f, 0), per_tensor(1.0f, -1)}),
                         "QUANTIZE: output zero point -1 is outside the uint8 range [0, 255]", qtl::error);

    const auto p = qtl::ops::prepare(F8{{2, 2}, {}, per_tensor(0.5f, 0)});
    std::vector<float> in(4);
    std::vector<std::int8_t> out(4);
    CHECK_THROWS_WITH_AS(qtl::ops::eval(p, {in, {4}}, {out, {2, 2}}),
                         "QUANTIZE: input has shape [4] but the op was prepared for [2, 2]", qtl::error);
    CHECK_THROWS_WITH_AS(qtl::ops::reference::eval(p, {in, {2, 2}}, {out, {1, 4}}),
                         "QUANTIZE: output has shape [1, 4], expected [2, 2]", qtl::error);
}
