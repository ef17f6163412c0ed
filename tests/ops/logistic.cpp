#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <tuple>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "qtl/core/error.hpp"
#include "qtl/ops/logistic.hpp"
#include "qtl/ops/reference/logistic.hpp"
#include "support/ops_testing.hpp"

// LOGISTIC: hand-computed values, SIMD == reference (exhaustive over the
// int16 inputs, every arch, tile-edge sizes), float bounds, errors.

namespace {

using qtl::ops::logistic_params;

using qtl::test::tested_archs;

template <class T>
std::vector<T> run_reference(const qtl::ops::logistic_prepared<T>& p, const std::vector<T>& in) {
    std::vector<T> out(in.size());
    qtl::ops::reference::eval(p, qtl::tensor_view<const T>(in, p.shape), qtl::tensor_view<T>(out, p.shape));
    return out;
}

template <class T, class A = xsimd::default_arch>
std::vector<T> run_simd(const qtl::ops::logistic_prepared<T>& p, const std::vector<T>& in) {
    std::vector<T> out(in.size());
    qtl::ops::eval<T, A>(p, qtl::tensor_view<const T>(in, p.shape), qtl::tensor_view<T>(out, p.shape));
    return out;
}

using qtl::test::all_values;
using qtl::test::flat;

}  // namespace

TEST_CASE("LOGISTIC int8 by hand: sigmoid(0) = 0.5 -> 0, output scale 1/256, zero point -128") {
    // Input scale 1/16, zero point 0: q = 16 is x = 1.
    //   0    -> round(256 * 0.5) - 128 = 0
    //   16   -> round(256 * 0.7310586) - 128 = round(187.15) - 128 = 59
    //   -16  -> round(256 * 0.2689414) - 128 = round(68.85) - 128 = -59
    //   127  -> x = 7.9375, round(256 * 0.999643) = 256 -> 128 -> clamped 127
    //   -128 -> x = -8, round(256 * 0.000335) = 0 -> -128
    const std::vector<std::int8_t> in{0, 16, -16, 127, -128};
    const auto p = qtl::ops::prepare(logistic_params<std::int8_t>{flat(in.size()), 1.0f / 16, 0});
    const std::vector<std::int8_t> expected{0, 59, -59, 127, -128};
    CHECK(run_reference(p, in) == expected);
    CHECK(run_simd(p, in) == expected);
}

TEST_CASE("LOGISTIC int8 by hand: the input zero point shifts the curve") {
    // Input scale 1/16, zero point -20: q = -20 is x = 0 -> 0;  q = -4 is x = 1 -> 59.
    const std::vector<std::int8_t> in{-20, -4};
    const auto p = qtl::ops::prepare(logistic_params<std::int8_t>{flat(2), 1.0f / 16, -20});
    CHECK(run_reference(p, in) == std::vector<std::int8_t>{0, 59});
}

TEST_CASE("LOGISTIC int16 by hand: TFLite's table interpolation") {
    // Input scale 2^-12 is the power-of-two case: M = 3, no shift, so v = 3q and one
    // table step (1/24 of x) is 512 units of v.
    const std::vector<std::int16_t> in{0, 4096, -4096, 2048, 100};
    const auto p = qtl::ops::prepare(logistic_params<std::int16_t>{flat(in.size()), 1.0f / 4096, 0});
    CHECK(p.rescale.multiplier == 3);
    CHECK(p.rescale.shift == 0);
    // q 0:     r = 32768 << 9,  (r + 512) >> 10 = 16384            (0.5)
    // q 4096:  v 12288, i 24, t 0: r = 47911 << 9, (r + 512) >> 10 = 23956   (sigmoid(1) 32768 = 23955.2)
    // q -4096: (2^25 - (47911 << 9) + 511) >> 10 = 9024511 >> 10 = 8812       (8812.8)
    // q 2048:  v 6144, i 12: (40794 << 9 + 512) >> 10 = 20397                 (20396.7)
    // q 100:   v 300, i 0, t 300: r = 32768 * 512 + 300 * (33451 - 32768) = 16982116,
    //          (r + 512) >> 10 = 16584                                      (16584.0)
    const std::vector<std::int16_t> expected{16384, 23956, 8812, 20397, 16584};
    CHECK(run_reference(p, in) == expected);
    CHECK(run_simd(p, in) == expected);
}

TEST_CASE("LOGISTIC int16 by hand: a general scale, and saturation at both ends") {
    // Input scale 2^-8: s * 4096 * 3 = 48 is doubled 9 times to 24576 > 16383.5, so
    // M = 24576, shift 9 and v = (24576 q + 256) >> 9 = 48 q.
    // q 32767:  v = 1572816, i = 3071 >= 255: r = 0x7FFF << 10, (r + 512) >> 10 = 32767
    // q -32768: (2^25 - (0x7FFF << 10) + 511) >> 10 = 1535 >> 10 = 1 (TFLite's negative saturation is 1, not 0)
    // q 256 (x = 1): v = 12288 -> 23956 as above.
    const std::vector<std::int16_t> in{32767, -32768, 256};
    const auto p = qtl::ops::prepare(logistic_params<std::int16_t>{flat(3), 1.0f / 256, 0});
    CHECK(p.rescale.multiplier == 24576);
    CHECK(p.rescale.shift == 9);
    const std::vector<std::int16_t> expected{32767, 1, 23956};
    CHECK(run_reference(p, in) == expected);
    CHECK(run_simd(p, in) == expected);
}

TEST_CASE("sigmoid_q16_table is sigmoid(i / 24) in Q0.16, increasing, within 1.11 of the exact value") {
    for (std::size_t i = 0; i < 256; ++i) {
        const double exact = 65536.0 / (1.0 + std::exp(-double(i) / 24.0));
        CHECK(std::abs(qtl::ops::sigmoid_q16_table[i] - exact) < 1.11);
        if (i > 0) CHECK(qtl::ops::sigmoid_q16_table[i] >= qtl::ops::sigmoid_q16_table[i - 1]);
        CHECK(qtl::ops::sigmoid_q16_table_int32[i] == qtl::ops::sigmoid_q16_table[i]);
    }
    CHECK(qtl::ops::sigmoid_q16_table_int32[256] == 65535);
}

namespace {

// int16 scales: the power-of-two case, scales around it, tiny and large ones.
const float int16_scales[] = {1.0f / 4096, 1.0f / 2048, 1.0f / 32768, 0.00031f, 0.001f, 1e-7f, 0.05f, 1.0f, 5.0f};

template <class A>
void check_simd_matches_reference() {
    constexpr std::size_t lanes = xsimd::batch<std::int32_t, A>::size;
    // int16: every input, for each scale.
    const auto all16 = all_values<std::int16_t>();
    for (const float s : int16_scales) {
        const auto p = qtl::ops::prepare(logistic_params<std::int16_t>{flat(all16.size()), s, 0});
        CAPTURE(s);
        CHECK((run_simd<std::int16_t, A>(p, all16) == run_reference(p, all16)));
    }
    // Tile-edge sizes, both types.
    for (const std::size_t n : {std::size_t{0}, std::size_t{1}, lanes - 1, lanes, lanes + 1, 2 * lanes + 1,
                                std::size_t{511}, std::size_t{513}}) {
        std::vector<std::int16_t> in16(n);
        std::vector<std::int8_t> in8(n);
        for (std::size_t i = 0; i < n; ++i) {
            in16[i] = static_cast<std::int16_t>(i * 7919 - 30000);
            in8[i] = static_cast<std::int8_t>(i * 31);
        }
        const auto p16 = qtl::ops::prepare(logistic_params<std::int16_t>{flat(n), 0.0007f, 0});
        const auto p8 = qtl::ops::prepare(logistic_params<std::int8_t>{flat(n), 0.07f, 3});
        CHECK((run_simd<std::int16_t, A>(p16, in16) == run_reference(p16, in16)));
        CHECK((run_simd<std::int8_t, A>(p8, in8) == run_reference(p8, in8)));
    }
}

template <class... A>
void check_all_archs(std::tuple<A...>*) {
    (check_simd_matches_reference<A>(), ...);
}

}  // namespace

TEST_CASE("LOGISTIC: SIMD eval == reference eval, every int16 input, every arch, tile-edge sizes") {
    check_all_archs(static_cast<tested_archs*>(nullptr));
}

TEST_CASE("LOGISTIC int8 reference vs float math: within half an output step") {
    // The table holds round(256 sigmoid(x)) - 128, so each output is within 0.5 / 256 of
    // sigmoid(deq(q)) (plus float rounding, < 1e-6), except where 256 sigmoid > 255.5
    // is clamped to 127: the truth is clamped to 127 / 256 too.
    const auto in = all_values<std::int8_t>();
    for (const float s : {0.01f, 0.0625f, 0.3f}) {
        for (const std::int32_t zp : {-128, -7, 0, 127}) {
            const auto p = qtl::ops::prepare(logistic_params<std::int8_t>{flat(in.size()), s, zp});
            const auto out = run_reference(p, in);
            double worst = 0;
            for (std::size_t i = 0; i < in.size(); ++i) {
                const double x = (double(in[i]) - zp) * s;
                const double truth = std::min(1.0 / (1.0 + std::exp(-x)), 255.0 / 256);
                worst = std::max(worst, std::abs((out[i] + 128) / 256.0 - truth));
            }
            CAPTURE(s);
            CAPTURE(zp);
            CHECK(worst <= 0.5 / 256 + 1e-6);
        }
    }
}

TEST_CASE("LOGISTIC int16 reference vs float math: within 2.5 output LSB") {
    // Error budget, in units of 1/32768 (the output LSB):
    //   table entries vs 65536 sigmoid(i / 24): <= 1.11 / 2 = 0.56
    //   linear interpolation over a step h = 1/24: <= h^2 / 8 max|sigmoid''| = 0.0962 / 4608 = 2.1e-5 -> 0.69
    //   the input rounded to 1/12288: <= 0.5 / 12288 max|sigmoid'| (1/4) = 1.0e-5 -> 0.33
    //   the final >> 10 (rounds half down for x < 0):                             <= 0.5
    //   saturation at |v| >= 255 * 512 (|x| >= 10.6): sigmoid is within 2.5e-5 of 0 or 1 -> 0.82,
    //   and the negative side saturates at 1, not 0                                        +1
    // so <= 2.1 for in-range inputs; 2.5 covers the saturated ends.
    const auto in = all_values<std::int16_t>();
    for (const float s : int16_scales) {
        const auto p = qtl::ops::prepare(logistic_params<std::int16_t>{flat(in.size()), s, 0});
        const auto out = run_reference(p, in);
        double worst = 0;
        for (std::size_t i = 0; i < in.size(); ++i) {
            const double truth = 1.0 / (1.0 + std::exp(-double(in[i]) * s));
            worst = std::max(worst, std::abs(out[i] - truth * 32768.0));
        }
        CAPTURE(s);
        CHECK(worst <= 2.5);
    }
}

TEST_CASE("LOGISTIC errors name the op and what is wrong") {
    using qtl::error;
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(logistic_params<std::int8_t>{{4}, 0.1f, 0, 1.0f / 128, -128}),
                         "LOGISTIC: int8 output must have scale 1/256 and zero point -128, got scale 0.0078125 and "
                         "zero point -128",
                         error);
    CHECK_THROWS_AS(qtl::ops::prepare(logistic_params<std::int8_t>{{4}, 0.1f, 0, 1.0f / 256, 0}), error);
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(logistic_params<std::int16_t>{{4}, 0.1f, 0, 1.0f / 256, 0}),
                         "LOGISTIC: int16 output must have scale 1/32768 and zero point 0, got scale 0.00390625 "
                         "and zero point 0",
                         error);
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(logistic_params<std::int16_t>{{4}, 0.1f, 2}),
                         "LOGISTIC: input zero point must be 0 for int16 (16x8) tensors, got 2", error);
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(logistic_params<std::int8_t>{{4}, 0.0f, 0}),
                         "LOGISTIC: input scale must be finite and > 0, got 0", error);
    CHECK_THROWS_AS(qtl::ops::prepare(logistic_params<std::int8_t>{{4}, std::numeric_limits<float>::infinity(), 0}),
                    error);
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(logistic_params<std::int8_t>{{4}, 0.1f, 200}),
                         "LOGISTIC: input zero point must lie in [-128, 127], got 200", error);
    // 16 * 12288 = 196608 >= 65536: q * M would overflow TFLite's int32 arithmetic.
    CHECK_THROWS_AS(qtl::ops::prepare(logistic_params<std::int16_t>{{4}, 16.0f, 0}), error);
    CHECK_THROWS_AS(qtl::ops::prepare(logistic_params<std::int16_t>{{-4}, 0.1f, 0}), error);

    const auto p = qtl::ops::prepare(logistic_params<std::int8_t>{{4}, 0.1f, 0});
    std::vector<std::int8_t> in(4), out(4);
    CHECK_THROWS_WITH_AS(
        qtl::ops::eval(p, qtl::tensor_view<const std::int8_t>(in, {2, 2}), qtl::tensor_view<std::int8_t>(out, {4})),
        "LOGISTIC: input shape [2, 2] differs from the prepared [4]", error);
    CHECK_THROWS_WITH_AS(qtl::ops::reference::eval(p, qtl::tensor_view<const std::int8_t>(in, {4}),
                                                   qtl::tensor_view<std::int8_t>(out, {1, 4})),
                         "LOGISTIC: output shape [1, 4] differs from the prepared [4]", error);
}
