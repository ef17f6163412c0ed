#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "qtl/core/error.hpp"
#include "qtl/ops/reference/relu6.hpp"
#include "qtl/ops/relu6.hpp"

// RELU6 (prepares into RELU's relu_prepared): hand-computed cases, SIMD ==
// reference on random inputs at tile-edge sizes, reference vs float math,
// error paths.

namespace {

using qtl::ops::relu6_params;

template <class T>
std::vector<T> run(const qtl::ops::relu_prepared<T>& p, const std::vector<T>& in, bool simd = true) {
    std::vector<T> out(in.size());
    qtl::tensor_view<const T> x(in, {static_cast<std::int32_t>(in.size())});
    qtl::tensor_view<T> y(out, {static_cast<std::int32_t>(in.size())});
    if (simd) qtl::ops::eval(p, x, y);
    else qtl::ops::reference::eval(p, x, y);
    return out;
}

constexpr std::size_t lanes = xsimd::batch<std::int32_t>::size;

}  // namespace

TEST_CASE("RELU6 int8 by hand: upper clamp out_zp + round(6 / out_scale)") {
    // Same tensors as above: hi = -20 + round(6 / 0.25) = 4.  d = 4 -> -12;
    // d = 20 -> 20 -> 4;  d = 12 -> 4 (exactly 6.0);  d = -1 -> -22 -> -20.
    const auto p = qtl::ops::prepare(relu6_params<std::int8_t>{{4}, 0.5f, 10, 0.25f, -20});
    CHECK(p.clamp.activation_min == -20);
    CHECK(p.clamp.activation_max == 4);
    const std::vector<std::int8_t> in{14, 30, 22, 9};
    const std::vector<std::int8_t> expected{-12, 4, 4, -20};
    CHECK(run(p, in) == expected);
    CHECK(run(p, in, false) == expected);
}

TEST_CASE("RELU6 int8 whose 6.0 lies beyond the output range clamps at 127") {
    // out scale 0.01, zp 0: round(6 / 0.01) = 600 > 127, so hi = 127.
    const auto p = qtl::ops::prepare(relu6_params<std::int8_t>{{1}, 0.02f, 0, 0.01f, 0});
    CHECK(p.clamp.activation_max == 127);
    CHECK(run(p, std::vector<std::int8_t>{100}) == std::vector<std::int8_t>{127});  // 200 -> 127
}

TEST_CASE("RELU6 int16 by hand (16x8, zero points 0)") {
    // in scale 2^-10, out scale 2^-11: M = 2, hi = round(6 * 2048) = 12288.
    const auto relu6 = qtl::ops::prepare(relu6_params<std::int16_t>{{5}, 1.0f / 1024, 0, 1.0f / 2048, 0});
    CHECK(relu6.clamp.activation_min == 0);
    CHECK(relu6.clamp.activation_max == 12288);
    const std::vector<std::int16_t> in{100, -100, 10000, 20000, -32768};
    // 100 -> 200;  -100 -> 0;  10000 -> 20000 -> 12288;  20000 -> 40000 -> 12288;  -32768 -> 0.
    CHECK(run(relu6, in) == std::vector<std::int16_t>{200, 0, 12288, 12288, 0});
    CHECK(run(relu6, in, false) == std::vector<std::int16_t>{200, 0, 12288, 12288, 0});
}

TEST_CASE_TEMPLATE("RELU6: SIMD eval == reference eval on random inputs at tile-edge sizes", T, std::int8_t,
                   std::int16_t) {
    std::mt19937 rng(1234);
    std::uniform_real_distribution<float> log_scale(-12.0f, 2.0f);
    std::uniform_int_distribution<int> zp_dist(-128, 127);
    std::uniform_int_distribution<int> value(std::numeric_limits<T>::min(), std::numeric_limits<T>::max());
    const std::size_t sizes[] = {0, 1, lanes - 1, lanes, lanes + 1, 2 * lanes + 1, 37, 511, 512, 513, 1500};
    int checked = 0;
    for (int trial = 0; trial < 20; ++trial) {
        const float in_scale = std::exp2(log_scale(rng)), out_scale = std::exp2(log_scale(rng));
        const std::int32_t in_zp = std::is_same_v<T, std::int8_t> ? zp_dist(rng) : 0;
        const std::int32_t out_zp = std::is_same_v<T, std::int8_t> ? zp_dist(rng) : 0;
        if (in_scale / out_scale > 4096.0f) continue;  // the int32 headroom check rejects these (tested below)
        for (const std::size_t n : sizes) {
            std::vector<T> in(n);
            for (auto& v : in) v = static_cast<T>(value(rng));
            const qtl::shape s{static_cast<std::int32_t>(n)};
            const auto p = qtl::ops::prepare(relu6_params<T>{s, in_scale, in_zp, out_scale, out_zp});
            CHECK(run(p, in) == run(p, in, false));
            ++checked;
        }
    }
    CHECK(checked > 150);
}

TEST_CASE("RELU6 in place: output aliasing the input") {
    const auto p = qtl::ops::prepare(relu6_params<std::int8_t>{{1000}, 0.1f, 3, 0.05f, -7});
    std::vector<std::int8_t> data(1000);
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::int8_t>(i * 37);
    const auto expected = run(p, data, false);
    qtl::ops::eval(p, qtl::tensor_view<const std::int8_t>(data, {1000}), qtl::tensor_view<std::int8_t>(data, {1000}));
    CHECK(data == expected);
}

TEST_CASE_TEMPLATE("RELU6 reference vs float math: within 0.75 output LSB", T, std::int8_t, std::int16_t) {
    // out = round(round(d * M)): double rounding errs by at most 0.5 (final) + 0.5 * 2^-right_shift
    // <= 0.75 LSB; M's Q31 and float rounding add < 2^-23 * |d| * M LSB (< 0.01 here).
    // The float truth is min(relu(deq(q)), 6), clamped to the output's representable range.
    const float in_scale = std::is_same_v<T, std::int8_t> ? 0.0371f : 0.00037f;
    const float out_scale = std::is_same_v<T, std::int8_t> ? 0.0297f : 0.00029f;
    const std::int32_t in_zp = std::is_same_v<T, std::int8_t> ? -17 : 0;
    const std::int32_t out_zp = std::is_same_v<T, std::int8_t> ? -100 : 0;
    std::vector<T> in;
    for (std::int32_t q = std::numeric_limits<T>::min(); q <= std::numeric_limits<T>::max(); ++q)
        in.push_back(static_cast<T>(q));
    const qtl::shape s{static_cast<std::int32_t>(in.size())};
    {
        const auto p = qtl::ops::prepare(relu6_params<T>{s, in_scale, in_zp, out_scale, out_zp});
        const auto out = run(p, in, false);
        const double lo = (double(std::numeric_limits<T>::min()) - out_zp) * out_scale;
        const double hi = (double(std::numeric_limits<T>::max()) - out_zp) * out_scale;
        double worst = 0;
        for (std::size_t i = 0; i < in.size(); ++i) {
            const double truth = std::clamp(std::min(std::max(0.0, (double(in[i]) - in_zp) * in_scale), 6.0), lo, hi);
            worst = std::max(worst, std::abs((double(out[i]) - out_zp) * out_scale - truth) / out_scale);
        }
        CHECK(worst <= 0.76);
    }
}

TEST_CASE("RELU6 errors name the op and what is wrong") {
    using qtl::error;
    const float nan = std::numeric_limits<float>::quiet_NaN();
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(relu6_params<std::int8_t>{{2}, 0.0f, 0, 1.0f, 0}),
                         "RELU6: input scale must be finite and > 0, got 0", error);
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(relu6_params<std::int8_t>{{2}, 1.0f, 0, nan, 0}),
                         "RELU6: output scale must be finite and > 0, got nan", error);
    CHECK_THROWS_AS(qtl::ops::prepare(relu6_params<std::int8_t>{{2}, -1.0f, 0, 1.0f, 0}), error);
    CHECK_THROWS_AS(qtl::ops::prepare(relu6_params<std::int8_t>{{2}, 1.0f, 0, std::numeric_limits<float>::infinity(), 0}),
                    error);
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(relu6_params<std::int8_t>{{2}, 1.0f, 128, 1.0f, 0}),
                         "RELU6: input zero point must lie in [-128, 127], got 128", error);
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(relu6_params<std::int16_t>{{2}, 1.0f, 0, 1.0f, 3}),
                         "RELU6: output zero point must be 0 for int16 (16x8) tensors, got 3", error);
    CHECK_THROWS_AS(qtl::ops::prepare(relu6_params<std::int8_t>{{2, -1}, 1.0f, 0, 1.0f, 0}), error);
    // M = 2^24 = 0.5 * 2^25: |q - 0| up to 128, and 128 * 2^25 overflows int32.
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(relu6_params<std::int8_t>{{2}, 16777216.0f, 0, 1.0f, 0}),
                         "RELU6: input-to-output multiplier 1.67772e+07 is too large: an input difference of 128 "
                         "times 2^25 overflows TFLite's int32 requantization",
                         error);

    const auto p = qtl::ops::prepare(relu6_params<std::int8_t>{{2, 3}, 1.0f, 0, 1.0f, 0});
    std::vector<std::int8_t> in(6), out(6), out_short(3);
    CHECK_THROWS_WITH_AS(
        qtl::ops::eval(p, qtl::tensor_view<const std::int8_t>(in, {3, 2}), qtl::tensor_view<std::int8_t>(out, {2, 3})),
        "RELU6: input shape [3, 2] differs from the prepared [2, 3]", error);
    CHECK_THROWS_WITH_AS(qtl::ops::reference::eval(p, qtl::tensor_view<const std::int8_t>(in, {2, 3}),
                                                   qtl::tensor_view<std::int8_t>(out_short, {3})),
                         "RELU6: output shape [3] differs from the prepared [2, 3]", error);
}
