#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "qtl/quant/choose_params.hpp"

using namespace qtl;

// Expected values below are computed by hand from DESIGN.md section 3.

TEST_CASE("choose_params: int8 asymmetric activations") {
    // [-1, 3]: scale = 4/255; zero point = round(-128 - (-1)/(4/255)) = round(-128 + 63.75) = -64
    auto p = choose_params<int8_activation>(value_range{-1.0f, 3.0f});
    CHECK(p.scales[0] == doctest::Approx(4.0 / 255).epsilon(1e-7));
    CHECK(p.zero_points[0] == -64);
    CHECK(p.axis == -1);
    // [2, 5] is widened to [0, 5]: zero point at qmin
    p = choose_params<int8_activation>(value_range{2.0f, 5.0f});
    CHECK(p.scales[0] == doctest::Approx(5.0 / 255).epsilon(1e-7));
    CHECK(p.zero_points[0] == -128);
    // [-5, -2] is widened to [-5, 0]: zero point at qmax
    p = choose_params<int8_activation>(value_range{-5.0f, -2.0f});
    CHECK(p.zero_points[0] == 127);
    // [-0.3, 0.7]: scale = 1/255, zp = round(-128 + 76.5) = round(-51.5) = -52 (half away from zero);
    // float arithmetic gives 76.49999 or 76.5; both round to -52/-51 -> accept the TFLite float result:
    p = choose_params<int8_activation>(value_range{-0.3f, 0.7f});
    const float s = (0.7f - -0.3f) / 255.0f;
    CHECK(p.zero_points[0] == static_cast<int>(std::round(-128.0f - (-0.3f) / s)));
    // a single value: [4, 4] -> [0, 4]
    p = choose_params<int8_activation>(value_range{4.0f, 4.0f});
    CHECK(p.scales[0] == doctest::Approx(4.0 / 255).epsilon(1e-7));
    CHECK(p.zero_points[0] == -128);
}

TEST_CASE("choose_params: uint8 and int16") {
    auto p = choose_params<uint8_activation>(value_range{-1.0f, 3.0f});
    CHECK(p.zero_points[0] == 64);  // round(0 + 63.75)
    p = choose_params<int16_activation>(value_range{-2.0f, 1.0f});
    CHECK(p.scales[0] == doctest::Approx(2.0 / 32767).epsilon(1e-7));
    CHECK(p.zero_points[0] == 0);
}

TEST_CASE("choose_params: symmetric weights use max|w| / qmax") {
    auto p = choose_params<int8_weight_per_tensor>(value_range{-0.5f, 1.27f});
    CHECK(p.scales[0] == doctest::Approx(0.01).epsilon(1e-6));
    CHECK(p.zero_points[0] == 0);
    p = choose_params<quantizer<int4, symmetric, per_tensor, narrow_range>>(value_range{-0.7f, 0.1f});
    CHECK(p.scales[0] == doctest::Approx(0.1).epsilon(1e-6));  // 0.7 / 7
}

TEST_CASE("choose_params: all-zero ranges get scale 1 and round-trip 0 exactly") {
    auto p = choose_params<int8_activation>(value_range{0.0f, 0.0f});
    CHECK(p.scales[0] == 1.0f);
    CHECK(p.zero_points[0] == 0);
    p = choose_params<uint8_activation>(value_range{0.0f, 0.0f});
    CHECK(p.zero_points[0] == 0);
    p = choose_params<int8_weight_per_tensor>(value_range{0.0f, 0.0f});
    CHECK(p.scales[0] == 1.0f);
}

TEST_CASE("choose_params: NaN, inf and empty ranges are errors") {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const float inf = std::numeric_limits<float>::infinity();
    CHECK_THROWS_AS(choose_params<int8_activation>(value_range{nan, 1.0f}), qtl::error);
    CHECK_THROWS_AS(choose_params<int8_activation>(value_range{-inf, 1.0f}), qtl::error);
    CHECK_THROWS_WITH_AS(choose_params<int8_activation>(value_range{}, "tensor 'x'"),
                         "tensor 'x': empty range: nothing was observed", qtl::error);
    CHECK_THROWS_AS(choose_params<int8_activation>(value_range{-3e38f, 3e38f}), qtl::error);  // overflows float
}

TEST_CASE("choose_params: per channel on axis 0 and axis 3, from data") {
    // weights [2, 3], axis 0: channel maxima 2 and 0.3
    const std::vector<float> w{1.0f, -2.0f, 0.5f, 0.1f, 0.2f, -0.3f};
    auto p = choose_params<int8_weight_per_channel<0>>(tensor_view<const float>(w, {2, 3}));
    REQUIRE(p.scales.size() == 2);
    CHECK(p.axis == 0);
    CHECK(p.scales[0] == doctest::Approx(2.0 / 127).epsilon(1e-6));
    CHECK(p.scales[1] == doctest::Approx(0.3 / 127).epsilon(1e-6));
    // depthwise weights [1, 2, 2, 2], axis 3: channel c is element i % 2
    const std::vector<float> d{1, -4, 2, 0.5f, -3, 1, 0.25f, 2};
    p = choose_params<int8_weight_per_channel<3>>(tensor_view<const float>(d, {1, 2, 2, 2}));
    REQUIRE(p.scales.size() == 2);
    CHECK(p.scales[0] == doctest::Approx(3.0 / 127).epsilon(1e-6));
    CHECK(p.scales[1] == doctest::Approx(4.0 / 127).epsilon(1e-6));
    CHECK(p.zero_points == std::vector<std::int32_t>{0, 0});
}

TEST_CASE("choose_params: per block with a partial last block") {
    // [2, 5] blocked along axis 1 by 2: blocks {0,1} {2,3} {4} per row -> scales laid out [2, 3]
    const std::vector<float> w{0.7f, -0.1f, 0.2f, 0.35f, -1.4f,  //
                               7.0f, 0.0f, 0.0f, 0.0f, 0.07f};
    auto p = choose_params<int4_weight_per_block<1, 2>>(tensor_view<const float>(w, {2, 5}));
    REQUIRE(p.scales.size() == 6);
    CHECK(p.block_size == 2);
    CHECK(p.axis == 1);
    const double expected[6] = {0.1, 0.05, 0.2, 1.0, 1.0 /* all-zero block */, 0.01};
    for (int i = 0; i < 6; ++i) CHECK(p.scales[i] == doctest::Approx(expected[i]).epsilon(1e-6));
    // blocked along axis 0 of [3, 2] by 2: blocks rows {0,1} and {2}, per column -> [2, 2]
    const std::vector<float> v{1, 2, 3, 4, 5, 6};
    p = choose_params<quantizer<std::int8_t, symmetric, per_block<0, 2>, narrow_range>>(tensor_view<const float>(v, {3, 2}));
    REQUIRE(p.scales.size() == 4);
    CHECK(p.scales[0] == doctest::Approx(3.0 / 127).epsilon(1e-6));
    CHECK(p.scales[1] == doctest::Approx(4.0 / 127).epsilon(1e-6));
    CHECK(p.scales[2] == doctest::Approx(5.0 / 127).epsilon(1e-6));
    CHECK(p.scales[3] == doctest::Approx(6.0 / 127).epsilon(1e-6));
}

TEST_CASE("choose_params: data errors name the element") {
    const std::vector<float> w{1.0f, std::numeric_limits<float>::quiet_NaN()};
    CHECK_THROWS_WITH_AS(choose_params<int8_weight_per_tensor>(tensor_view<const float>(w, {2}), "weights"),
                         "weights: element 1 is nan", qtl::error);
    CHECK_THROWS_AS(choose_params<int8_weight_per_channel<2>>(tensor_view<const float>(w, {2})), qtl::error);
}
