#include "qtl/quant/observers/range_selection.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include <doctest/doctest.h>

namespace {

qtl::histogram histogram_of(const std::vector<float>& values, std::size_t bins = 2048) {
    qtl::histogram h(bins);
    h.add(values);
    return h;
}

// The sample quantile by sorting (the test's own computation).
float sorted_quantile(std::vector<float> values, double fraction) {
    std::sort(values.begin(), values.end());
    const auto i = static_cast<std::size_t>(fraction * static_cast<double>(values.size() - 1));
    return values[i];
}

// Mean squared round-trip error on the raw samples of an affine quantizer
// with `levels` levels on [lo, hi], written out here independently.
double sample_mse(const std::vector<float>& values, double lo, double hi, int levels) {
    const double scale = (hi - lo) / (levels - 1);
    const double zp = std::clamp(std::round(-lo / scale), 0.0, levels - 1.0);
    double sum = 0;
    for (float v : values) {
        const double q = std::clamp(std::round(v / scale) + zp, 0.0, levels - 1.0);
        const double d = v - (q - zp) * scale;
        sum += d * d;
    }
    return sum / static_cast<double>(values.size());
}

}  // namespace

TEST_CASE("percentile_range: within one bin of the sorted-sample percentile") {
    std::mt19937 rng(5);
    std::normal_distribution<float> normal(2.0f, 3.0f);
    std::vector<float> values(200001);
    for (auto& v : values) v = normal(rng);
    const auto h = histogram_of(values);
    for (const auto& [lower, upper] : {std::pair{0.01, 99.99}, std::pair{1.0, 99.0}, std::pair{10.0, 50.0}}) {
        const auto r = qtl::percentile_range(h, lower, upper);
        CAPTURE(lower);
        CHECK(std::abs(r.min - sorted_quantile(values, lower / 100)) <= h.bin_width());
        CHECK(std::abs(r.max - sorted_quantile(values, upper / 100)) <= h.bin_width());
    }
    // 0 and 100 are the observed extremes.
    const auto all = qtl::percentile_range(h, 0, 100);
    CHECK(all == h.observed());
}

TEST_CASE("percentile_range: a known distribution, by hand") {
    // 0, 1, ..., 999 once each: the 90th percentile is 900 (900 values lie below it).
    std::vector<float> values(1000);
    for (int i = 0; i < 1000; ++i) values[i] = static_cast<float>(i);
    const auto h = histogram_of(values, 1024);  // width 1: one value per bin
    REQUIRE(h.bin_width() == 1.0);
    const auto r = qtl::percentile_range(h, 10, 90);
    CHECK(r.min == doctest::Approx(100.0f));
    CHECK(r.max == doctest::Approx(900.0f));
}

TEST_CASE("entropy_range: a Gaussian with outliers gets its outliers clipped") {
    std::mt19937 rng(9);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> values(100000);
    for (auto& v : values) v = normal(rng);
    for (int i = 0; i < 20; ++i) values.push_back(i % 2 ? 40.0f + i : -40.0f - i);
    const auto h = histogram_of(values);
    const auto r = qtl::entropy_range(h);
    // The outliers sit at |x| >= 40; the bulk within ~4.5 sigma.  KL keeps the
    // bulk (threshold above 2 sigma) and clips the outliers (below 10).
    CHECK(r.max > 2.0f);
    CHECK(r.max < 10.0f);
    CHECK(r.min == -r.max);  // symmetric threshold on |x|

    // Without outliers and with few distinct values, nothing is clipped.
    const std::vector<float> few = {-1, 0, 1, 2};
    const auto hf = histogram_of(few, 64);
    CHECK(qtl::entropy_range(hf) == qtl::value_range{-1, 2});
}

TEST_CASE("entropy_range: one-sided data keeps 0 as its lower end") {
    std::mt19937 rng(13);
    std::exponential_distribution<float> expo(1.0f);
    std::vector<float> values(50000);
    for (auto& v : values) v = expo(rng);
    values.push_back(200.0f);
    const auto h = histogram_of(values);
    const auto r = qtl::entropy_range(h);
    CHECK(r.min == h.observed().min);  // no negative values: the low end is the data's own
    CHECK(r.max < 50.0f);
    CHECK(r.max > 3.0f);
}

TEST_CASE("mse_range: close to the brute-force minimum over raw samples") {
    std::mt19937 rng(21);
    std::exponential_distribution<float> expo(1.0f);
    std::bernoulli_distribution sign(0.3);
    std::vector<float> values(5000);
    for (auto& v : values) v = sign(rng) ? -expo(rng) : 2.0f * expo(rng);  // skewed Laplace-like tails
    const auto h = histogram_of(values);
    const auto r = qtl::mse_range(h, 16);  // few levels: clipping matters
    const double ours = sample_mse(values, r.min, r.max, 16);

    // Brute force over a 60 x 60 grid of [f * min, g * max].
    const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
    double best = std::numeric_limits<double>::infinity();
    for (int a = 1; a <= 60; ++a)
        for (int b = 1; b <= 60; ++b) best = std::min(best, sample_mse(values, *lo * a / 60.0, *hi * b / 60.0, 16));
    const double full = sample_mse(values, *lo, *hi, 16);
    CHECK(best < 0.8 * full);      // the data is such that clipping pays
    CHECK(ours <= 1.02 * best);    // and mse_range finds (nearly) the best clip
}

TEST_CASE("range selection: errors") {
    const qtl::histogram empty(64);
    CHECK_THROWS_WITH_AS(qtl::percentile_range(empty, 1, 99),
                         "percentile_range: no values observed (empty calibration dataset?)", qtl::error);
    CHECK_THROWS_AS(qtl::entropy_range(empty), qtl::error);
    CHECK_THROWS_AS(qtl::mse_range(empty), qtl::error);
    const auto h = histogram_of({1.0f, 2.0f}, 64);
    CHECK_THROWS_AS(qtl::percentile_range(h, 90, 10), qtl::error);
    CHECK_THROWS_AS(qtl::percentile_range(h, -1, 10), qtl::error);
    CHECK_THROWS_AS(qtl::percentile_range(h, 1, 101), qtl::error);
    CHECK_THROWS_WITH_AS(qtl::entropy_range(h, 1), "entropy_range: quant_levels must be in [2, 65536], got 1",
                         qtl::error);
    CHECK_THROWS_AS(qtl::mse_range(h, 0), qtl::error);
}
