#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <random>

#include <xtensor/xarray.hpp>
#include <xtensor/xrandom.hpp>

#include "qtl/core/int4_packing.hpp"
#include "qtl/quant/quantize.hpp"

using namespace qtl;

TEST_CASE("quantize: int8 asymmetric, hand-computed, rounding half away from zero and saturation") {
    // [-1, 3]: scale 4/255, zero point -64 (see choose_params tests)
    const auto p = choose_params<int8_activation>(value_range{-1.0f, 3.0f});
    const float s = p.scales[0];
    const xt::xarray<float> x{-1.0f, 1.0f, 3.0f, 10.0f, -10.0f, 0.5f * s, -0.5f * s, 1.5f * s, 0.0f};
    const auto q = quantize<int8_activation>(x, p);
    //  -1/s = -63.75 -> -64 - 64 = -128;  1/s = 63.75 -> 64 - 64 = 0;  3/s = 191.25 -> 191 - 64 = 127
    //  saturates at 127 / -128;  ties: 0.5 -> 1, -0.5 -> -1, 1.5 -> 2;  0 -> zero point
    const xt::xarray<std::int8_t> expected{-128, 0, 127, 127, -128, -63, -65, -62, -64};
    CHECK(q == expected);
    const auto back = dequantize<int8_activation>(q, p);
    CHECK(back(1) == doctest::Approx(64 * s));  // q 0 is 64 steps above the zero point
    CHECK(back(0) == doctest::Approx(-64 * s));
    CHECK(back(8) == 0.0f);  // zero is exact
}

TEST_CASE("quantize: uint8, int16 and int4 schemes, hand-computed") {
    auto p = choose_params<uint8_activation>(value_range{-1.0f, 3.0f});  // zp 64
    CHECK(quantize<uint8_activation>(xt::xarray<float>{-1.0f, 0.0f, 3.0f, 4.0f}, p) ==
          xt::xarray<std::uint8_t>{0, 64, 255, 255});
    p = quant_params{{0.5f}, {0}, -1, 0};
    CHECK(quantize<int16_activation>(xt::xarray<float>{1.0f, -1.25f, 20000.0f, -20000.0f}, p) ==
          xt::xarray<std::int16_t>{2, -3, 32767, -32768});
    using int4_w = quantizer<int4, symmetric, per_tensor, narrow_range>;
    p = quant_params{{0.1f}, {0}, -1, 0};
    const auto q4 = quantize<int4_w>(xt::xarray<float>{0.7f, -0.7f, 0.25f, -2.0f, 0.04f}, p);
    CHECK(q4 == xt::xarray<std::int8_t>{7, -7, 3, -7, 0});  // 2.5 -> 3; -20 saturates at narrow -7
    const auto packed = pack_int4(std::span<const std::int8_t>(q4.data(), q4.size()));
    CHECK(packed == std::vector<std::uint8_t>{0x97, 0x93, 0x00});  // (7 | -7<<4), (3 | -7<<4), (0)
    using int4_full = quantizer<int4, symmetric>;
    CHECK(quantize<int4_full>(xt::xarray<float>{-2.0f}, p) == xt::xarray<std::int8_t>{-8});
}

TEST_CASE("quantize: per channel on axis 0 and axis 3") {
    // [2, 3] weights, axis 0 scales {0.02, 0.5}
    const quant_params p0{{0.02f, 0.5f}, {0, 0}, 0, 0};
    const xt::xarray<float> w{{0.1f, -0.2f, 2.54f}, {1.0f, -63.0f, 0.2f}};
    CHECK(quantize<int8_weight_per_channel<0>>(w, p0) == xt::xarray<std::int8_t>{{5, -10, 127}, {2, -126, 0}});
    // NHWC [1, 1, 2, 2], axis 3 scales {1, 0.25}: element (.., c) uses scale c
    const quant_params p3{{1.0f, 0.25f}, {0, 0}, 3, 0};
    const xt::xarray<float> d{{{{1.0f, 1.0f}, {-2.6f, -0.3f}}}};
    CHECK(quantize<int8_weight_per_channel<3>>(d, p3) == xt::xarray<std::int8_t>{{{{1, 4}, {-3, -1}}}});
    const auto back = dequantize<int8_weight_per_channel<3>>(xt::xarray<std::int8_t>{{{{1, 4}, {-3, -1}}}}, p3);
    CHECK(back(0, 0, 0, 1) == 1.0f);
    CHECK(back(0, 0, 1, 0) == -3.0f);
    CHECK(back(0, 0, 1, 1) == -0.25f);
}

TEST_CASE("quantize: per block with a partial last block") {
    // [1, 5] along axis 1 in blocks of 2: scales for blocks {0,1} {2,3} {4}
    using Q = int4_weight_per_block<1, 2>;
    const quant_params p{{0.1f, 1.0f, 0.01f}, {0, 0, 0}, 1, 2};
    const xt::xarray<float> w{{0.3f, -0.7f, 3.0f, -6.4f, 0.05f}};
    CHECK(quantize<Q>(w, p) == xt::xarray<std::int8_t>{{3, -7, 3, -6, 5}});
    CHECK(dequantize<Q>(xt::xarray<std::int8_t>{{3, -7, 3, -6, 5}}, p)(0, 4) == doctest::Approx(0.05f));
}

TEST_CASE("quantize: round trip error is at most scale/2 inside the range") {
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> lo_dist(-5.0f, 0.5f), width(0.01f, 10.0f);
    for (int trial = 0; trial < 50; ++trial) {
        const float lo = lo_dist(rng), hi = lo + width(rng);
        const auto p = choose_params<int8_activation>(value_range{lo, hi});
        std::uniform_real_distribution<float> in_range(std::min(lo, 0.0f), std::max(hi, 0.0f));
        xt::xarray<float> x = xt::zeros<float>({257});
        for (auto& v : x) v = in_range(rng);
        const auto y = fake_quantize<int8_activation>(x, p);
        const float bound = p.scales[0] / 2 * (1 + 1e-5f) + 1e-6f;
        CHECK(xt::amax(xt::abs(y - x))() <= bound);
    }
    // symmetric per channel, axis 0
    xt::xarray<float> w = xt::random::randn<float>({8, 33}, 0.0f, 1.0f, rng);
    const auto p = choose_params_for<int8_weight_per_channel<0>>(w);
    const auto y = fake_quantize<int8_weight_per_channel<0>>(w, p);
    for (std::size_t c = 0; c < 8; ++c)
        for (std::size_t k = 0; k < 33; ++k) CHECK(std::abs(y(c, k) - w(c, k)) <= p.scales[c] / 2 * (1 + 1e-5f));
}

TEST_CASE("quantize: bad input and mismatched parameters are errors") {
    const quant_params p{{0.1f}, {0}, -1, 0};
    CHECK_THROWS_WITH_AS(quantize<int8_activation>(xt::xarray<float>{1.0f, std::nanf("")}, p, "input 'x'"),
                         "input 'x': element 1 is NaN", qtl::error);
    // infinities saturate like any out-of-range value
    CHECK(quantize<int8_activation>(xt::xarray<float>{INFINITY, -INFINITY}, p) == xt::xarray<std::int8_t>{127, -128});
    CHECK_THROWS_AS(quantize<int8_activation>(xt::xarray<float>{1.0f}, quant_params{{0.0f}, {0}, -1, 0}), qtl::error);
    CHECK_THROWS_AS(quantize<int8_activation>(xt::xarray<float>{1.0f}, quant_params{{0.1f}, {200}, -1, 0}), qtl::error);
    CHECK_THROWS_AS(quantize<int8_weight_per_tensor>(xt::xarray<float>{1.0f}, quant_params{{0.1f}, {3}, -1, 0}),
                    qtl::error);  // symmetric needs zero point 0
    const quant_params pc{{0.1f, 0.2f}, {0, 0}, 0, 0};
    xt::xarray<float> column{1.0f, 2.0f, 3.0f};
    column.reshape({3, 1});
    CHECK_THROWS_WITH_AS(quantize<int8_weight_per_channel<0>>(column, pc),
                         "quantize: shape [3, 1] needs 3 scales for this scheme, got 2", qtl::error);
    CHECK_THROWS_AS(quantize<int8_weight_per_channel<1>>(xt::xarray<float>{{1.0f, 2.0f}}, pc), qtl::error);  // axis
    xt::xarray<std::int8_t> nine{9};
    CHECK_THROWS_AS(dequantize<int4_weight_per_channel<0>>(nine, quant_params{{1.0f}, {0}, 0, 0}),
                    qtl::error);  // 9 is not an int4 value
}
