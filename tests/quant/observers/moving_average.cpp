#include "qtl/quant/observers/moving_average.hpp"

#include <limits>
#include <vector>

#include <doctest/doctest.h>

static_assert(qtl::observer<qtl::moving_average_minmax_observer>);
static_assert(qtl::per_channel_observer<qtl::per_channel_moving_average_minmax_observer>);

TEST_CASE("moving_average_minmax_observer: hand-computed updates") {
    qtl::moving_average_minmax_observer obs(0.5f);
    const std::vector<float> b1 = {0, 1, 2}, b2 = {-2, 4}, b3 = {1};
    obs.observe(b1);  // first batch sets [0, 2]
    CHECK(obs.range() == qtl::value_range{0, 2});
    obs.observe(b2);  // min 0 + 0.5 * (-2 - 0) = -1, max 2 + 0.5 * (4 - 2) = 3
    CHECK(obs.range() == qtl::value_range{-1, 3});
    obs.observe(b3);  // min -1 + 0.5 * (1 + 1) = 0, max 3 + 0.5 * (1 - 3) = 2
    CHECK(obs.range() == qtl::value_range{0, 2});
    CHECK(obs.batches() == 3);

    // An empty batch is not a batch.
    obs.observe(std::span<const float>());
    CHECK(obs.batches() == 3);
}

TEST_CASE("moving_average_minmax_observer: an outlier batch moves it by c only") {
    qtl::moving_average_minmax_observer obs(0.01f);
    const std::vector<float> normal = {-1, 1}, outlier = {-1, 101};
    for (int i = 0; i < 50; ++i) obs.observe(normal);
    obs.observe(outlier);  // max 1 + 0.01 * (101 - 1) = 2
    CHECK(obs.range().max == doctest::Approx(2.0f));
    CHECK(obs.range().min == doctest::Approx(-1.0f));
}

TEST_CASE("moving_average_minmax_observer: merge weights by batch count") {
    qtl::moving_average_minmax_observer a(0.1f), b(0.1f);
    const std::vector<float> x = {0, 2}, y = {-4, 4};
    a.observe(x);
    for (int i = 0; i < 3; ++i) b.observe(y);  // stays [-4, 4]
    a.merge(b);  // weight of b: 3 / 4 -> min 0 + 0.75 * -4 = -3, max 2 + 0.75 * 2 = 3.5
    CHECK(a.range().min == doctest::Approx(-3.0f));
    CHECK(a.range().max == doctest::Approx(3.5f));
    CHECK(a.batches() == 4);

    qtl::moving_average_minmax_observer empty(0.1f);
    empty.merge(a);
    CHECK(empty.range() == a.range());
}

TEST_CASE("moving_average_minmax_observer: errors") {
    CHECK_THROWS_WITH_AS(qtl::moving_average_minmax_observer(0.0f, "act"),
                         "act: averaging constant must be in (0, 1], got 0", qtl::error);
    CHECK_THROWS_AS(qtl::moving_average_minmax_observer(1.5f), qtl::error);
    CHECK_THROWS_AS(qtl::moving_average_minmax_observer(std::numeric_limits<float>::quiet_NaN()), qtl::error);
    qtl::moving_average_minmax_observer obs(0.5f, "act");
    CHECK_THROWS_WITH_AS(obs.range(), "act: no values observed (empty calibration dataset?)", qtl::error);
    const std::vector<float> bad = {0, std::numeric_limits<float>::infinity()};
    CHECK_THROWS_WITH_AS(obs.observe(bad), "act: element 1 of the batch is inf (calibration data must be finite)",
                         qtl::error);
}

TEST_CASE("per_channel_moving_average_minmax_observer: per channel updates") {
    qtl::per_channel_moving_average_minmax_observer obs(1, 0.5f);
    std::vector<float> b1 = {0, 10,   // shape [2, 2]: channel 0 = {0, 2}, channel 1 = {10, 12}
                             2, 12};
    std::vector<float> b2 = {-2, 20,
                             0, 20};
    obs.observe(qtl::tensor_view<const float>(std::span<const float>(b1), {2, 2}));
    obs.observe(qtl::tensor_view<const float>(std::span<const float>(b2), {2, 2}));
    const auto r = obs.ranges();
    REQUIRE(r.size() == 2);
    CHECK(r[0] == qtl::value_range{-1, 1});    // min 0 + .5 * (-2 - 0), max 2 + .5 * (0 - 2)
    CHECK(r[1] == qtl::value_range{15, 16});   // min 10 + .5 * (20 - 10), max 12 + .5 * (20 - 12)
    std::vector<float> three(3, 0.0f);
    CHECK_THROWS_AS(obs.observe(qtl::tensor_view<const float>(std::span<const float>(three), {1, 3})), qtl::error);
}
