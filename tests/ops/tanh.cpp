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
#include "qtl/ops/tanh.hpp"
#include "qtl/ops/reference/tanh.hpp"
#include "support/ops_testing.hpp"

// TANH: hand-computed values, SIMD == reference (exhaustive over the
// int16 inputs, every arch, tile-edge sizes), float bounds, errors.

namespace {

using qtl::ops::tanh_params;

using qtl::test::tested_archs;

template <class T>
std::vector<T> run_reference(const qtl::ops::tanh_prepared<T>& p, const std::vector<T>& in) {
    std::vector<T> out(in.size());
    qtl::ops::reference::eval(p, qtl::tensor_view<const T>(in, p.shape), qtl::tensor_view<T>(out, p.shape));
    return out;
}

template <class T, class A = xsimd::default_arch>
std::vector<T> run_simd(const qtl::ops::tanh_prepared<T>& p, const std::vector<T>& in) {
    std::vector<T> out(in.size());
    qtl::ops::eval<T, A>(p, qtl::tensor_view<const T>(in, p.shape), qtl::tensor_view<T>(out, p.shape));
    return out;
}

using qtl::test::all_values;
using qtl::test::flat;

}  // namespace

TEST_CASE("TANH int8 by hand: tanh(0) = 0 -> 0, output scale 1/128, zero point 0") {
    // Input scale 1/32, zero point 5: q = 37 is x = 1.
    //   5    -> 0
    //   37   -> round(128 * 0.7615942) = round(97.48) = 97
    //   -27  -> -97
    //   127  -> x = 3.8125, round(128 * 0.999027) = 128 -> clamped 127
    //   -128 -> x = -4.15625, round(-128 * 0.999508) = -128
    const std::vector<std::int8_t> in{5, 37, -27, 127, -128};
    const auto p = qtl::ops::prepare(tanh_params<std::int8_t>{flat(in.size()), 1.0f / 32, 5});
    const std::vector<std::int8_t> expected{0, 97, -97, 127, -128};
    CHECK(run_reference(p, in) == expected);
    CHECK(run_simd(p, in) == expected);
}

TEST_CASE("TANH int16 by hand: TFLite's table interpolation") {
    // Input scale 2^-12 (power of two, shift 0): M = 3, v = 3q; one step of x (1/48) is 256 units.
    //   q 0:     r = 32768 << 8 = 2^23, (r - 2^23 + 128) >> 8 = 0
    //   q 4096:  v 12288, i 48, t 0: r = 57724 << 8 = 14777344, (r - 2^23 + 128) >> 8 = 24956   (tanh(1) 32768 = 24956.2)
    //   q -4096: (-r + 2^23 + 127) >> 8 = -6388609 >> 8 = -24956
    //   q 100:   v 300, i 1, t 44: r = 33451 * 256 + 44 * (34133 - 33451) = 8593464,
    //            (r - 2^23 + 128) >> 8 = 800                                                 (tanh(0.0244) 32768 = 799.8)
    const std::vector<std::int16_t> in{0, 4096, -4096, 100};
    const auto p = qtl::ops::prepare(tanh_params<std::int16_t>{flat(in.size()), 1.0f / 4096, 0});
    CHECK(p.rescale.multiplier == 3);
    CHECK(p.rescale.shift == 0);
    const std::vector<std::int16_t> expected{0, 24956, -24956, 800};
    CHECK(run_reference(p, in) == expected);
    CHECK(run_simd(p, in) == expected);
}

TEST_CASE("TANH int16 by hand: scale 2^-11 is TANH's second power-of-two case; saturation") {
    // Input scale 2^-11: M = 3 << 1 = 6, no shift; q = 2048 is x = 1 -> v 12288 -> 24956.
    // q 32767: v = 196602, i = 767 >= 255: r = 0xFFFF << 8, (r - 2^23 + 128) >> 8 = 32767.
    // q -32768: (-(0xFFFF << 8) + 2^23 + 127) >> 8 = -8388225 >> 8 = -32767.
    const std::vector<std::int16_t> in{2048, 32767, -32768};
    const auto p = qtl::ops::prepare(tanh_params<std::int16_t>{flat(3), 1.0f / 2048, 0});
    CHECK(p.rescale.multiplier == 6);
    CHECK(p.rescale.shift == 0);
    const std::vector<std::int16_t> expected{24956, 32767, -32767};
    CHECK(run_reference(p, in) == expected);
    CHECK(run_simd(p, in) == expected);
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
        const auto p = qtl::ops::prepare(tanh_params<std::int16_t>{flat(all16.size()), s, 0});
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
        const auto p16 = qtl::ops::prepare(tanh_params<std::int16_t>{flat(n), 0.0007f, 0});
        const auto p8 = qtl::ops::prepare(tanh_params<std::int8_t>{flat(n), 0.07f, 3});
        CHECK((run_simd<std::int16_t, A>(p16, in16) == run_reference(p16, in16)));
        CHECK((run_simd<std::int8_t, A>(p8, in8) == run_reference(p8, in8)));
    }
}

template <class... A>
void check_all_archs(std::tuple<A...>*) {
    (check_simd_matches_reference<A>(), ...);
}

}  // namespace

TEST_CASE("TANH: SIMD eval == reference eval, every int16 input, every arch, tile-edge sizes") {
    check_all_archs(static_cast<tested_archs*>(nullptr));
}

TEST_CASE("TANH int8 reference vs float math: within half an output step") {
    // The table holds round(128 tanh(x)) clamped to [-128, 127]: within 0.5 / 128 of
    // tanh(deq(q)) (plus float rounding, < 1e-6), with the truth clamped to 127 / 128.
    const auto in = all_values<std::int8_t>();
    for (const float s : {0.01f, 0.03125f, 0.3f}) {
        for (const std::int32_t zp : {-128, -7, 0, 127}) {
            const auto p = qtl::ops::prepare(tanh_params<std::int8_t>{flat(in.size()), s, zp});
            const auto out = run_reference(p, in);
            double worst = 0;
            for (std::size_t i = 0; i < in.size(); ++i) {
                const double truth = std::min(std::tanh((double(in[i]) - zp) * s), 127.0 / 128);
                worst = std::max(worst, std::abs(out[i] / 128.0 - truth));
            }
            CAPTURE(s);
            CAPTURE(zp);
            CHECK(worst <= 0.5 / 128 + 1e-6);
        }
    }
}

TEST_CASE("TANH int16 reference vs float math: within 4 output LSB") {
    // tanh(x) = 2 sigmoid(2x) - 1 on the same table, so LOGISTIC's budget (in 1/32768 units
    // of sigmoid: entries 0.56, interpolation 0.69, input rounding 0.33) doubles: 2 * 1.58 =
    // 3.16, plus the final >> 8 (0.5): <= 3.7; at saturation (|x| >= 5.3) tanh is within
    // 2.5e-5 * 2 of +-1 (1.6) and TFLite's ends are +-32767 (1).  4 LSB covers both.
    const auto in = all_values<std::int16_t>();
    for (const float s : int16_scales) {
        const auto p = qtl::ops::prepare(tanh_params<std::int16_t>{flat(in.size()), s, 0});
        const auto out = run_reference(p, in);
        double worst = 0;
        for (std::size_t i = 0; i < in.size(); ++i)
            worst = std::max(worst, std::abs(out[i] - std::tanh(double(in[i]) * s) * 32768.0));
        CAPTURE(s);
        CHECK(worst <= 4.0);
    }
}

TEST_CASE("TANH errors name the op and what is wrong") {
    using qtl::error;
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(tanh_params<std::int8_t>{{4}, 0.1f, 0, 1.0f / 256, -128}),
                         "TANH: int8 output must have scale 1/128 and zero point 0, got scale 0.00390625 and "
                         "zero point -128",
                         error);
    CHECK_THROWS_AS(qtl::ops::prepare(tanh_params<std::int8_t>{{4}, 0.1f, 0, 1.0f / 128, 1}), error);
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(tanh_params<std::int16_t>{{4}, 0.1f, 0, 1.0f / 256, 0}),
                         "TANH: int16 output must have scale 1/32768 and zero point 0, got scale 0.00390625 "
                         "and zero point 0",
                         error);
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(tanh_params<std::int16_t>{{4}, 0.1f, 2}),
                         "TANH: input zero point must be 0 for int16 (16x8) tensors, got 2", error);
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(tanh_params<std::int8_t>{{4}, 0.0f, 0}),
                         "TANH: input scale must be finite and > 0, got 0", error);
    CHECK_THROWS_AS(qtl::ops::prepare(tanh_params<std::int8_t>{{4}, std::numeric_limits<float>::infinity(), 0}),
                    error);
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(tanh_params<std::int8_t>{{4}, 0.1f, 200}),
                         "TANH: input zero point must lie in [-128, 127], got 200", error);
    // 16 * 12288 = 196608 >= 65536: q * M would overflow TFLite's int32 arithmetic.
    CHECK_THROWS_AS(qtl::ops::prepare(tanh_params<std::int16_t>{{4}, 16.0f, 0}), error);
    CHECK_THROWS_AS(qtl::ops::prepare(tanh_params<std::int16_t>{{-4}, 0.1f, 0}), error);

    const auto p = qtl::ops::prepare(tanh_params<std::int8_t>{{4}, 0.1f, 0});
    std::vector<std::int8_t> in(4), out(4);
    CHECK_THROWS_WITH_AS(
        qtl::ops::eval(p, qtl::tensor_view<const std::int8_t>(in, {2, 2}), qtl::tensor_view<std::int8_t>(out, {4})),
        "TANH: input shape [2, 2] differs from the prepared [4]", error);
    CHECK_THROWS_WITH_AS(qtl::ops::reference::eval(p, qtl::tensor_view<const std::int8_t>(in, {4}),
                                                   qtl::tensor_view<std::int8_t>(out, {1, 4})),
                         "TANH: output shape [1, 4] differs from the prepared [4]", error);
}
