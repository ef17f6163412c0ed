// The per-layer debugger on a graph small enough to work every number out by
// hand.
#include <doctest/doctest.h>

#include <cmath>
#include <sstream>
#include <vector>

#include "qtl/graph/convert.hpp"
#include "qtl/graph/layer_debugger.hpp"

namespace {

using B = qtl::tflite::builtin_operator;

struct relu_graph {
    qtl::graph g;
    std::int32_t x, y;
    relu_graph() {
        x = g.add_activation("x<in>", {1, 4});
        y = g.add_activation("y", {1, 4});
        g.add_node(B::RELU, {}, {x}, {y});
        g.inputs = {x};
        g.outputs = {y};
    }
};

}  // namespace

TEST_CASE("errors, SQNR and clipping by hand") {
    relu_graph r;
    // both tensors calibrated to [0, 2.55]: scale 0.01, zero point -128, representable [0, 2.55]
    qtl::calibration cal;
    cal.ranges[r.x] = {0.0f, 2.55f};
    cal.ranges[r.y] = {0.0f, 2.55f};
    qtl::conversion_report conv;
    const auto model = qtl::convert(r.g, cal, {}, &conv);
    // debug sample 0, 1, 2, 3: the first three are on the grid, 3 clips to 2.55 (error 0.45)
    const auto report = qtl::debug_layers(r.g, model, conv, {{{0.0f, 1.0f, 2.0f, 3.0f}}});
    REQUIRE(report.tensors.size() == 2);
    CHECK(report.samples == 1);
    for (const auto& e : report.tensors) {
        CHECK(e.scale == doctest::Approx(0.01f));
        CHECK(e.zero_point == -128);
        CHECK(e.max_abs_error == doctest::Approx(0.45).epsilon(1e-4));
        CHECK(e.rmse == doctest::Approx(0.225).epsilon(1e-4));                   // sqrt(0.45^2 / 4)
        CHECK(e.rmse_over_scale == doctest::Approx(22.5).epsilon(1e-3));
        CHECK(e.sqnr_db == doctest::Approx(18.397).epsilon(1e-3));              // 10 log10(14 / 0.2025)
        CHECK(e.clipped_fraction == 0.25);
        CHECK(e.float_min == 0.0f);
        CHECK(e.float_max == 3.0f);
        CHECK(e.quant_min == doctest::Approx(0.0f));
        CHECK(e.quant_max == doctest::Approx(2.55f));
        CHECK(qtl::verdict(e) == "clipped");
    }
    CHECK(report.tensors[0].op == "input");
    CHECK(report.tensors[1].op == "RELU");

    // on the grid: no error at all
    const auto exact = qtl::debug_layers(r.g, model, conv, {{{0.0f, 0.5f, 1.0f, 2.5f}}});
    for (const auto& e : exact.tensors) {
        CHECK(e.max_abs_error < 1e-6);
        CHECK(e.sqnr_db > 100);
        CHECK(e.clipped_fraction == 0.0);
        CHECK(qtl::verdict(e) == "ok");
    }
}

TEST_CASE("table, CSV and HTML outputs") {
    relu_graph r;
    qtl::calibration cal;
    cal.ranges[r.x] = {-1.0f, 1.0f};
    cal.ranges[r.y] = {0.0f, 1.0f};
    qtl::conversion_report conv;
    const auto model = qtl::convert(r.g, cal, {}, &conv);
    const auto report = qtl::debug_layers(r.g, model, conv, {{{-0.3f, 0.2f, 0.7f, 0.9f}}, {{0.1f, -0.9f, 0.33f, 0.0f}}});
    std::ostringstream table, csv, html;
    qtl::write_table(table, report);
    qtl::write_csv(csv, report);
    qtl::write_html(html, report, "relu <test>");
    CHECK(table.str().find("RMSE/scale") != std::string::npos);
    CHECK(table.str().find("x<in>") != std::string::npos);
    std::istringstream lines(csv.str());
    std::string line;
    std::vector<std::string> rows;
    while (std::getline(lines, line)) rows.push_back(line);
    REQUIRE(rows.size() == 3);
    CHECK(rows[0].rfind("tensor,op,type,scale,zero_point,sqnr_db", 0) == 0);
    CHECK(rows[1].rfind("x<in>,input,INT8,", 0) == 0);
    CHECK(rows[2].rfind("y,RELU,INT8,", 0) == 0);
    const auto h = html.str();
    CHECK(h.find("<svg") != std::string::npos);
    CHECK(h.find("relu &lt;test&gt;") != std::string::npos);
    CHECK(h.find("x&lt;in&gt;") != std::string::npos);
    CHECK(h.find("x<in>") == std::string::npos);
}

TEST_CASE("bad debug sets") {
    relu_graph r;
    qtl::calibration cal;
    cal.ranges[r.x] = {-1.0f, 1.0f};
    cal.ranges[r.y] = {0.0f, 1.0f};
    qtl::conversion_report conv;
    const auto model = qtl::convert(r.g, cal, {}, &conv);
    CHECK_THROWS_WITH_AS(qtl::debug_layers(r.g, model, conv, {}), doctest::Contains("debug set is empty"), qtl::error);
    CHECK_THROWS_WITH_AS(qtl::debug_layers(r.g, model, conv, {{{1.0f, 2.0f}, {3.0f}}}),
                         doctest::Contains("debug sample 0"), qtl::error);
    CHECK_THROWS_AS(qtl::debug_layers(r.g, model, conv, {{{1.0f, 2.0f}}}), qtl::error);
}
