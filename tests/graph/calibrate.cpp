// calibrate(): ranges per tensor from a representative dataset.  Expected
// ranges are the min/max of the samples worked out in the test.
#include <doctest/doctest.h>

#include <cmath>
#include <list>
#include <vector>

#include "qtl/graph/calibrate.hpp"

namespace {

using B = qtl::tflite::builtin_operator;

// y = relu(x), z = y + x (two calibrated activations besides the input)
struct small_graph {
    qtl::graph g;
    std::int32_t x, y, z;
    small_graph() {
        x = g.add_activation("x", {1, 4});
        y = g.add_activation("y", {1, 4});
        z = g.add_activation("z", {1, 4});
        g.add_node(B::RELU, {}, {x}, {y});
        g.add_node(B::ADD, qtl::tflite::add_options{}, {y, x}, {z});
        g.inputs = {x};
        g.outputs = {z};
    }
};

std::vector<std::vector<float>> ramp_samples(std::size_t n) {
    std::vector<std::vector<float>> s;
    for (std::size_t i = 0; i < n; ++i) {
        const float a = static_cast<float>(i);
        s.push_back({-a, a / 2, 1.0f, a - 3});
    }
    return s;
}

}  // namespace

TEST_CASE("min/max ranges of inputs and activations, by hand") {
    small_graph s;
    const auto samples = ramp_samples(10);  // i = 0..9
    qtl::calibration_options o;
    o.progress = qtl::progress_bar::never;
    const auto cal = qtl::calibrate(s.g, samples, o);
    CHECK(cal.samples == 10);
    CHECK(cal.method == "minmax");
    // x: values -9..9 (-a for a=9, a-3 for a=9 -> 6, a/2 -> 4.5): min -9, max 6
    CHECK(cal.range(s.x) == qtl::value_range{-9.0f, 6.0f});
    // y = relu(x): min 0, max 6
    CHECK(cal.range(s.y) == qtl::value_range{0.0f, 6.0f});
    // z = relu(x) + x: negative x gives x (min -9), positive gives 2x (max 12)
    CHECK(cal.range(s.z) == qtl::value_range{-9.0f, 12.0f});
}

TEST_CASE("the result does not depend on the thread count or the chunk size") {
    small_graph s;
    std::vector<std::vector<float>> samples;
    for (int i = 0; i < 300; ++i) {
        const float t = static_cast<float>(i) * 0.37f;
        samples.push_back({std::sin(t) * 3, std::cos(t * 1.7f) * 2, t / 100, -std::sin(t * 0.3f)});
    }
    for (auto selection : {qtl::range_selection::minmax(), qtl::range_selection::percentile(99.0),
                           qtl::range_selection::entropy(), qtl::range_selection::mse()}) {
        qtl::calibration_options one;
        one.selection = selection;
        one.threads = 1;
        one.progress = qtl::progress_bar::never;
        auto many = one;
        many.threads = 3;
        many.chunk = 7;
        const auto a = qtl::calibrate(s.g, samples, one);
        const auto b = qtl::calibrate(s.g, samples, many);
        CHECK(a.ranges == b.ranges);
        CHECK(a.observed == b.observed);
    }
}

TEST_CASE("percentile clips a rare outlier that min/max keeps") {
    small_graph s;
    std::vector<std::vector<float>> samples;
    for (int i = 0; i < 1000; ++i) samples.push_back({static_cast<float>(i % 10) / 10, 0, 0, 0});
    samples.push_back({100.0f, 0, 0, 0});  // one value in 4004
    qtl::calibration_options o;
    o.progress = qtl::progress_bar::never;
    o.selection = qtl::range_selection::percentile(99.9);
    const auto p = qtl::calibrate(s.g, samples, o);
    CHECK(p.range(s.x).max < 1.5f);
    CHECK(p.observed.at(s.x).max == 100.0f);
    o.selection = qtl::range_selection::minmax();
    CHECK(qtl::calibrate(s.g, samples, o).range(s.x).max == 100.0f);
}

TEST_CASE("moving average with constant 1 keeps the last sample's range") {
    small_graph s;
    qtl::calibration_options o;
    o.moving_average = true;
    o.averaging_constant = 1.0f;
    o.threads = 4;  // ignored: a moving average is order dependent
    o.progress = qtl::progress_bar::never;
    const auto cal = qtl::calibrate(s.g, ramp_samples(5), o);  // last: a = 4 -> {-4, 2, 1, 1}
    CHECK(cal.range(s.x) == qtl::value_range{-4.0f, 2.0f});
}

TEST_CASE("datasets: any iterable, multi-input samples, a flat array") {
    qtl::graph g;
    auto a = g.add_activation("a", {2});
    auto b = g.add_activation("b", {2});
    auto c = g.add_activation("c", {2});
    g.add_node(B::ADD, qtl::tflite::add_options{}, {a, b}, {c});
    g.inputs = {a, b};
    g.outputs = {c};
    // a std::list of samples, each two inputs of ints
    std::list<std::vector<std::vector<int>>> samples{{{1, 2}, {10, 20}}, {{-1, 0}, {5, 5}}};
    qtl::calibration_options o;
    o.progress = qtl::progress_bar::never;
    const auto cal = qtl::calibrate(g, samples, o);
    CHECK(cal.range(a) == qtl::value_range{-1.0f, 2.0f});
    CHECK(cal.range(b) == qtl::value_range{5.0f, 20.0f});
    CHECK(cal.range(c) == qtl::value_range{4.0f, 22.0f});

    small_graph s;
    const std::vector<float> flat{1, 2, 3, 4, -5, 6, 7, 8};
    const auto f = qtl::calibrate_flat(s.g, flat, o);
    CHECK(f.samples == 2);
    CHECK(f.range(s.x) == qtl::value_range{-5.0f, 8.0f});
    CHECK_THROWS_WITH_AS(qtl::calibrate_flat(s.g, std::vector<float>(7), o), doctest::Contains("not a multiple"),
                         qtl::error);
}

TEST_CASE("bad datasets: empty, NaN/inf, wrong size, wrong input count") {
    small_graph s;
    qtl::calibration_options o;
    o.progress = qtl::progress_bar::never;
    CHECK_THROWS_WITH_AS(qtl::calibrate(s.g, std::vector<std::vector<float>>{}, o), doctest::Contains("dataset is empty"),
                         qtl::error);
    auto samples = ramp_samples(6);
    samples[4][2] = NAN;
    CHECK_THROWS_WITH_AS(qtl::calibrate(s.g, samples, o), doctest::Contains("calibration sample 4"), qtl::error);
    CHECK_THROWS_WITH_AS(qtl::calibrate(s.g, samples, o), doctest::Contains("element 2 is nan"), qtl::error);
    samples[4][2] = INFINITY;
    CHECK_THROWS_WITH_AS(qtl::calibrate(s.g, samples, o), doctest::Contains("element 2 is inf"), qtl::error);
    samples = ramp_samples(3);
    samples[1].push_back(0);
    CHECK_THROWS_WITH_AS(qtl::calibrate(s.g, samples, o), doctest::Contains("has 5 values, the graph expects 4"),
                         qtl::error);
    std::vector<std::vector<std::vector<float>>> two_inputs{{{1, 2, 3, 4}, {1, 2, 3, 4}}};
    CHECK_THROWS_WITH_AS(qtl::calibrate(s.g, two_inputs, o), doctest::Contains("more inputs than the graph's 1"),
                         qtl::error);
}

TEST_CASE("a calibration that overflows float in the graph names the sample") {
    small_graph s;
    std::vector<std::vector<float>> samples{{1, 2, 3, 4}, {3e38f, 3e38f, 0, 0}};  // relu(x) + x overflows to inf
    qtl::calibration_options o;
    o.progress = qtl::progress_bar::never;
    o.threads = 1;
    CHECK_THROWS_WITH_AS(qtl::calibrate(s.g, samples, o), doctest::Contains("calibration sample 1"), qtl::error);
}
