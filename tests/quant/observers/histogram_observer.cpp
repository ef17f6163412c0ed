#include "qtl/quant/observers/histogram_observer.hpp"

#include <limits>
#include <random>
#include <vector>

#include <doctest/doctest.h>

static_assert(qtl::observer<qtl::histogram_observer>);

TEST_CASE("histogram_observer: each selection gives its range function's answer") {
    std::mt19937 rng(1);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> values(20000);
    for (auto& v : values) v = normal(rng);
    values.push_back(30.0f);

    for (const auto selection : {qtl::range_selection::minmax(), qtl::range_selection::percentile(99.9),
                                 qtl::range_selection::entropy(), qtl::range_selection::mse()}) {
        qtl::histogram_observer obs(selection);
        obs.observe(values);
        qtl::histogram h(2048);
        h.add(values);
        switch (selection.how) {
            case qtl::range_selection::method::minmax: CHECK(obs.range() == h.observed()); CHECK(obs.range().max == 30.0f); break;
            case qtl::range_selection::method::percentile: CHECK(obs.range() == qtl::percentile_range(h, 0.1, 99.9)); break;
            case qtl::range_selection::method::entropy: CHECK(obs.range() == qtl::entropy_range(h)); break;
            case qtl::range_selection::method::mse: CHECK(obs.range() == qtl::mse_range(h)); break;
        }
        CHECK(obs.range().max <= 30.0f);
    }
}

TEST_CASE("histogram_observer: observers on several threads merge to the same answer") {
    std::mt19937 rng(2);
    std::normal_distribution<float> normal(1.0f, 2.0f);
    std::vector<std::vector<float>> batches(8, std::vector<float>(1000));
    for (auto& b : batches)
        for (auto& v : b) v = normal(rng);
    batches[5][17] = -50.0f;

    qtl::histogram_observer single(qtl::range_selection::percentile(99.99));
    for (const auto& b : batches) single.observe(b);

    qtl::histogram_observer even(qtl::range_selection::percentile(99.99)), odd(qtl::range_selection::percentile(99.99));
    for (std::size_t i = 0; i < batches.size(); ++i) (i % 2 ? odd : even).observe(batches[i]);
    even.merge(odd);
    CHECK(even.range() == single.range());
    CHECK(even.histogram().total() == 8000);
}

TEST_CASE("histogram_observer: NaN/inf batches and empty datasets are errors") {
    qtl::histogram_observer obs(qtl::range_selection::entropy(), 2048, "tensor 'conv1'");
    CHECK_THROWS_WITH_AS(obs.range(), "tensor 'conv1': no values observed (empty calibration dataset?)", qtl::error);
    const std::vector<float> bad = {1.0f, std::numeric_limits<float>::quiet_NaN()};
    CHECK_THROWS_WITH_AS(obs.observe(bad), "tensor 'conv1': element 1 of the batch is nan (calibration data must be finite)",
                         qtl::error);
    CHECK(obs.histogram().total() == 0);  // nothing of the bad batch was counted
}
