#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <span>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "qtl/core/error.hpp"
#include "qtl/core/int4_packing.hpp"
#include "qtl/ops/dequantize.hpp"
#include "qtl/ops/reference/dequantize.hpp"
#include "support/ops_testing.hpp"

// DEQUANTIZE: hand-computed cases (products worked out by hand or with a
// float32 emulation, in the comments; ../shared/models/seanet has no
// DEQUANTIZE, so there is no golden), SIMD == reference on random inputs for
// every input type, per tensor and per channel, the float bound, the errors.

namespace {

using qtl::ops::dequantize_params;

qtl::quant_params per_tensor(float scale, std::int32_t zero_point) { return {{scale}, {zero_point}, -1, 0}; }

template <class In>
std::vector<float> run_simd(const qtl::ops::dequantize_prepared<In>& p, const std::vector<In>& in) {
    std::vector<float> out(p.size);
    qtl::ops::eval(p, {in, p.shape}, {out, p.shape});
    return out;
}

template <class In>
std::vector<float> run_reference(const qtl::ops::dequantize_prepared<In>& p, const std::vector<In>& in) {
    std::vector<float> out(p.size);
    qtl::ops::reference::eval(p, {in, p.shape}, {out, p.shape});
    return out;
}

std::vector<float> run_simd(const qtl::ops::dequantize_prepared<qtl::int4>& p, const std::vector<std::uint8_t>& in) {
    std::vector<float> out(p.size);
    qtl::ops::eval(p, std::span<const std::uint8_t>(in), {out, p.shape});
    return out;
}

std::vector<float> run_reference(const qtl::ops::dequantize_prepared<qtl::int4>& p,
                                 const std::vector<std::uint8_t>& in) {
    std::vector<float> out(p.size);
    qtl::ops::reference::eval(p, std::span<const std::uint8_t>(in), {out, p.shape});
    return out;
}

// Both paths; they must agree bit for bit (NaN-free inputs, so == is exact).
template <class In, class Data>
std::vector<float> run_both(const dequantize_params<In>& params, const Data& in) {
    const auto p = qtl::ops::prepare(params);
    const auto simd = run_simd(p, in);
    const auto reference = run_reference(p, in);
    CHECK(simd == reference);
    return reference;
}

constexpr std::size_t lanes = xsimd::batch<std::int32_t>::size;

}  // namespace

TEST_CASE("DEQUANTIZE per tensor: scale * (q - zero_point)") {
    // int8, scale 0.5, zero point -3: -3 -> 0;  1 -> 2;  -128 -> -62.5;  127 -> 65.
    CHECK(run_both(dequantize_params<std::int8_t>{{4}, per_tensor(0.5f, -3)},
                   std::vector<std::int8_t>{-3, 1, -128, 127}) == std::vector<float>{0.0f, 2.0f, -62.5f, 65.0f});
    // uint8, scale 0.1f (= 0.100000001490116), zero point 128 (a float32 emulation):
    //  128 -> 0;  130 -> 2 * 0.1f = 0.200000003 = 0.2f exactly;  0 -> -128 * 0.1f = -12.8000002 = -12.8f;
    //  255 -> 127 * 0.1f = 12.7000001892, rounded to float: 12.6999998 (= 12.7f).
    CHECK(run_both(dequantize_params<std::uint8_t>{{4}, per_tensor(0.1f, 128)},
                   std::vector<std::uint8_t>{128, 130, 0, 255}) == std::vector<float>{0.0f, 0.2f, -12.8f, 12.7f});
    // int16, scale 2^-15, zero point 0: 16384 -> 0.5;  -32768 -> -1;  1 -> 2^-15.
    CHECK(run_both(dequantize_params<std::int16_t>{{3}, per_tensor(1.0f / 32768, 0)},
                   std::vector<std::int16_t>{16384, -32768, 1}) == std::vector<float>{0.5f, -1.0f, 1.0f / 32768});
}

TEST_CASE("DEQUANTIZE int4: packed two per byte, low nibble first") {
    // Values {-8, 7, 1}: byte 0 = 0x78 (low nibble 8 = -8, high nibble 7), byte 1 = 0x01.
    //  Scale 0.25, zero point 0: {-2, 1.75, 0.25};  zero point -1: {-1.75, 2, 0.5}.
    const std::vector<std::uint8_t> packed{0x78, 0x01};
    CHECK(qtl::pack_int4(std::vector<std::int8_t>{-8, 7, 1}) == packed);
    CHECK(run_both(dequantize_params<qtl::int4>{{3}, per_tensor(0.25f, 0)}, packed) ==
          std::vector<float>{-2.0f, 1.75f, 0.25f});
    CHECK(run_both(dequantize_params<qtl::int4>{{3}, per_tensor(0.25f, -1)}, packed) ==
          std::vector<float>{-1.75f, 2.0f, 0.5f});
}

TEST_CASE("DEQUANTIZE per channel (version 5)") {
    // int8 [2, 3], axis 1: scales {1, 0.5, 0.25}, zero points {0, 2, -4}:
    //  {1, 2, 4} -> {1, 0, 2};  {-1, 6, 0} -> {-1, 2, 1}.
    CHECK(run_both(dequantize_params<std::int8_t>{{2, 3}, {{1.0f, 0.5f, 0.25f}, {0, 2, -4}, 1, 0}},
                   std::vector<std::int8_t>{1, 2, 4, -1, 6, 0}) == std::vector<float>{1, 0, 2, -1, 2, 1});
    // Axis 0: scales {2, 0.5}, zero points {0, 1}: {1, 2, 3} -> {2, 4, 6};  {1, 3, 5} -> {0, 1, 2}.
    CHECK(run_both(dequantize_params<std::int8_t>{{2, 3}, {{2.0f, 0.5f}, {0, 1}, 0, 0}},
                   std::vector<std::int8_t>{1, 2, 3, 1, 3, 5}) == std::vector<float>{2, 4, 6, 0, 1, 2});
    // int4 [2, 2], axis 0: scales {1, 0.5}: values {-8, 7, 2, -3} -> {-8, 7, 1, -1.5}.
    CHECK(run_both(dequantize_params<qtl::int4>{{2, 2}, {{1.0f, 0.5f}, {0, 0}, 0, 0}},
                   qtl::pack_int4(std::vector<std::int8_t>{-8, 7, 2, -3})) == std::vector<float>{-8, 7, 1, -1.5f});
}

namespace {

template <class In>
std::int32_t random_zero_point(std::mt19937& rng) {
    std::uniform_int_distribution<int> dist(qtl::element_traits<In>::min, qtl::element_traits<In>::max);
    return dist(rng);
}

// Random data of n elements in the layout eval() takes.
template <class In>
auto random_input(std::mt19937& rng, std::size_t n) {
    if constexpr (std::is_same_v<In, qtl::int4>) {
        std::uniform_int_distribution<int> nibble(-8, 7);
        std::vector<std::int8_t> values(n);
        for (auto& v : values) v = static_cast<std::int8_t>(nibble(rng));
        return qtl::pack_int4(values);
    } else {
        return qtl::test::random_values<In>(rng, n);
    }
}

template <class In>
void check_simd_equals_reference() {
    std::mt19937 rng(sizeof(typename qtl::element_traits<In>::value_type) + qtl::element_traits<In>::bits);
    std::uniform_real_distribution<float> log_scale(-20.0f, 10.0f);
    // Random scales with full mantissas, so that the float product actually rounds.
    const auto scale = [&] { return std::exp2(log_scale(rng)) * (1.0f + static_cast<float>(rng() % 997) / 997.0f); };
    for (std::size_t n : {std::size_t{1}, lanes - 1, lanes, lanes + 1, 2 * lanes + 1, std::size_t{255},
                          std::size_t{256}, std::size_t{257}, std::size_t{1001}}) {
        if (n == 0) continue;
        const auto p = qtl::ops::prepare(
            dequantize_params<In>{{static_cast<std::int32_t>(n)}, per_tensor(scale(), random_zero_point<In>(rng))});
        const auto in = random_input<In>(rng, n);
        INFO("size " << n);
        CHECK(run_simd(p, in) == run_reference(p, in));
    }
    for (const qtl::shape& shape : {qtl::shape{3, 5, 7}, qtl::shape{2, 9}, qtl::shape{1, 3, 3, 17}}) {
        for (int axis = 0; axis < static_cast<int>(shape.size()); ++axis) {
            qtl::quant_params q;
            q.axis = axis;
            for (std::int32_t c = 0; c < shape[static_cast<std::size_t>(axis)]; ++c) {
                q.scales.push_back(scale());
                q.zero_points.push_back(random_zero_point<In>(rng));
            }
            const auto p = qtl::ops::prepare(dequantize_params<In>{shape, q});
            const auto in = random_input<In>(rng, p.size);
            INFO("shape " << qtl::to_string(shape) << " axis " << axis);
            CHECK(run_simd(p, in) == run_reference(p, in));
        }
    }
}

}  // namespace

TEST_CASE("DEQUANTIZE: SIMD eval equals the reference for every input type") {
    check_simd_equals_reference<std::int8_t>();
    check_simd_equals_reference<std::uint8_t>();
    check_simd_equals_reference<std::int16_t>();
    check_simd_equals_reference<qtl::int4>();
}

TEST_CASE("DEQUANTIZE: the output is the exact product rounded once to float") {
    // scale * (q - zp) is exact in double (24 + 17 bits); the float output may
    // differ from it by half a float ulp: |x - exact| <= 2^-24 |exact|.
    std::mt19937 rng(31);
    std::uniform_real_distribution<float> log_scale(-20.0f, 10.0f);
    for (int trial = 0; trial < 100; ++trial) {
        const float scale = std::exp2(log_scale(rng)) * (1.0f + static_cast<float>(rng() % 997) / 997.0f);
        const std::int32_t zp = random_zero_point<std::uint8_t>(rng);
        const auto in = qtl::test::random_values<std::uint8_t>(rng, 64);
        const auto out = run_both(dequantize_params<std::uint8_t>{{64}, per_tensor(scale, zp)}, in);
        for (std::size_t i = 0; i < in.size(); ++i) {
            const double exact = double(scale) * (in[i] - zp);
            CHECK(std::abs(out[i] - exact) <= std::exp2(-24.0) * std::abs(exact));
        }
    }
}

TEST_CASE("DEQUANTIZE: prepare() rejects bad specs, eval() bad shapes") {
    using D8 = dequantize_params<std::int8_t>;
    CHECK_NOTHROW(qtl::ops::prepare(D8{{4}, per_tensor(0.5f, 0)}));
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(D8{{4}, per_tensor(0.0f, 0)}),
                         "DEQUANTIZE: input scale must be finite and > 0, got 0", qtl::error);
    CHECK_THROWS_AS(qtl::ops::prepare(D8{{4}, per_tensor(std::numeric_limits<float>::quiet_NaN(), 0)}), qtl::error);
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(D8{{4}, per_tensor(0.5f, -129)}),
                         "DEQUANTIZE: input zero point -129 is outside the int8 range [-128, 127]", qtl::error);
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(dequantize_params<qtl::int4>{{4}, per_tensor(0.5f, 8)}),
                         "DEQUANTIZE: input zero point 8 is outside the int4 range [-8, 7]", qtl::error);
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(D8{{4}, {{0.5f, 0.5f}, {0, 0}, -1, 0}}),
                         "DEQUANTIZE: a per-tensor input needs one scale and one zero point, got 2 and 2", qtl::error);
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(D8{{2, 3}, {{1.0f, 1.0f}, {0, 0}, 1, 0}}),
                         "DEQUANTIZE: input axis 1 has 3 channels but 2 scales and 2 zero points", qtl::error);
    CHECK_THROWS_AS(qtl::ops::prepare(D8{{2, 3}, {{1.0f, 1.0f}, {0, 0}, 2, 0}}), qtl::error);
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(D8{{2, 2}, {{1.0f, -2.0f}, {0, 0}, 0, 0}}),
                         "DEQUANTIZE: input channel 1 scale must be finite and > 0, got -2", qtl::error);
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(D8{{2, 4}, {{1.0f, 1.0f}, {0, 0}, 1, 2}}),
                         "DEQUANTIZE: the input cannot be quantized per block (block size 2)", qtl::error);

    const auto p = qtl::ops::prepare(D8{{2, 2}, per_tensor(0.5f, 0)});
    std::vector<std::int8_t> in(4);
    std::vector<float> out(4);
    CHECK_THROWS_WITH_AS(qtl::ops::eval(p, {in, {4}}, {out, {2, 2}}),
                         "DEQUANTIZE: input has shape [4] but the op was prepared for [2, 2]", qtl::error);
    CHECK_THROWS_WITH_AS(qtl::ops::reference::eval(p, {in, {2, 2}}, {out, {4}}),
                         "DEQUANTIZE: output has shape [4], expected [2, 2]", qtl::error);
    const auto p4 = qtl::ops::prepare(dequantize_params<qtl::int4>{{3}, per_tensor(0.5f, 0)});
    std::vector<std::uint8_t> packed(3);
    std::vector<float> out3(3);
    CHECK_THROWS_WITH_AS(qtl::ops::eval(p4, std::span<const std::uint8_t>(packed), {out3, {3}}),
                         "DEQUANTIZE: int4 input of shape [3] needs 2 packed bytes, got 3", qtl::error);
    CHECK_THROWS_AS(qtl::ops::reference::eval(p4, std::span<const std::uint8_t>(packed).first(1), {out3, {3}}),
                    qtl::error);
}
