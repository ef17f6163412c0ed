#include "qtl/quant/observers/minmax.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <doctest/doctest.h>

static_assert(qtl::observer<qtl::minmax_observer>);
static_assert(qtl::per_channel_observer<qtl::per_channel_minmax_observer>);

TEST_CASE("minmax_observer: the exact min and max over all batches") {
    std::mt19937 rng(7);
    std::normal_distribution<float> normal(1.5f, 3.0f);
    std::vector<float> all;
    qtl::minmax_observer obs;
    for (int batch = 0; batch < 10; ++batch) {
        std::vector<float> values(257);
        for (auto& v : values) v = normal(rng);
        all.insert(all.end(), values.begin(), values.end());
        obs.observe(values);
    }
    const auto [lo, hi] = std::minmax_element(all.begin(), all.end());
    CHECK(obs.range() == qtl::value_range{*lo, *hi});
    CHECK(obs.count() == all.size());

    // Two observers on disjoint halves, merged, see the same range.
    qtl::minmax_observer a, b;
    a.observe(std::span<const float>(all).first(1000));
    b.observe(std::span<const float>(all).subspan(1000));
    a.merge(b);
    CHECK(a.range() == obs.range());
    CHECK(a.count() == all.size());
}

TEST_CASE("minmax_observer: bad data and empty datasets are errors") {
    qtl::minmax_observer obs("tensor 'input'");
    CHECK_THROWS_WITH_AS(obs.range(), "tensor 'input': no values observed (empty calibration dataset?)", qtl::error);
    obs.observe(std::span<const float>());  // an empty batch adds nothing
    CHECK_THROWS_AS(obs.range(), qtl::error);

    const std::vector<float> with_nan = {1.0f, 2.0f, std::numeric_limits<float>::quiet_NaN()};
    CHECK_THROWS_WITH_AS(obs.observe(with_nan),
                         "tensor 'input': element 2 of the batch is nan (calibration data must be finite)", qtl::error);
    const std::vector<float> with_inf = {-std::numeric_limits<float>::infinity()};
    CHECK_THROWS_WITH_AS(obs.observe(with_inf),
                         "tensor 'input': element 0 of the batch is -inf (calibration data must be finite)", qtl::error);
    CHECK(obs.count() == 0);  // rejected batches leave no trace

    const std::vector<float> one = {-0.5f};
    obs.observe(one);
    CHECK(obs.range() == qtl::value_range{-0.5f, -0.5f});
}

TEST_CASE("per_channel_minmax_observer: one range per index along the axis") {
    // shape [2, 1, 1, 3]: axis 3 has 3 channels, axis 0 has 2.
    std::vector<float> x = {1, -2, 3,   // batch 0
                            -4, 5, 0.5f};
    const qtl::tensor_view<const float> view(std::span<const float>(x), {2, 1, 1, 3});

    qtl::per_channel_minmax_observer last(3);
    last.observe(view);
    const auto r3 = last.ranges();
    REQUIRE(r3.size() == 3);
    CHECK(r3[0] == qtl::value_range{-4, 1});
    CHECK(r3[1] == qtl::value_range{-2, 5});
    CHECK(r3[2] == qtl::value_range{0.5f, 3});

    qtl::per_channel_minmax_observer first(0);
    first.observe(view);
    const auto r0 = first.ranges();
    REQUIRE(r0.size() == 2);
    CHECK(r0[0] == qtl::value_range{-2, 3});
    CHECK(r0[1] == qtl::value_range{-4, 5});

    // A second batch extends each channel; merging matches.
    std::vector<float> y = {10, -20, 0, 0, 0, 0};
    last.observe(qtl::tensor_view<const float>(std::span<const float>(y), {2, 1, 1, 3}));
    CHECK(last.ranges()[0] == qtl::value_range{-4, 10});
    CHECK(last.ranges()[1] == qtl::value_range{-20, 5});

    qtl::per_channel_minmax_observer other(3);
    other.observe(qtl::tensor_view<const float>(std::span<const float>(y), {2, 1, 1, 3}));
    qtl::per_channel_minmax_observer merged(3);
    merged.observe(view);
    merged.merge(other);
    CHECK(merged.ranges() == last.ranges());

    // Negative axes count from the end.
    qtl::per_channel_minmax_observer minus_one(-1);
    minus_one.observe(view);
    CHECK(minus_one.ranges() == r3);
}

TEST_CASE("per_channel_minmax_observer: errors name what is wrong") {
    std::vector<float> x(6, 1.0f);
    qtl::per_channel_minmax_observer obs(3, "weights");
    CHECK_THROWS_WITH_AS(obs.ranges(), "weights: no values observed (empty calibration dataset?)", qtl::error);
    CHECK_THROWS_AS(obs.observe(qtl::tensor_view<const float>(std::span<const float>(x), {6})), qtl::error);  // no axis 3
    obs.observe(qtl::tensor_view<const float>(std::span<const float>(x), {1, 1, 2, 3}));
    CHECK_THROWS_WITH_AS(obs.observe(qtl::tensor_view<const float>(std::span<const float>(x), {1, 1, 3, 2})),
                         "weights: expected 3 channels (from earlier batches), got 2", qtl::error);
    x[4] = std::numeric_limits<float>::quiet_NaN();
    CHECK_THROWS_AS(obs.observe(qtl::tensor_view<const float>(std::span<const float>(x), {1, 1, 2, 3})), qtl::error);
    qtl::per_channel_minmax_observer other_axis(0);
    CHECK_THROWS_AS(obs.merge(other_axis), qtl::error);
}
