#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string_view>
#include <type_traits>
#include <vector>

#include "qtl/core/error.hpp"
#include "qtl/fixedpoint/quantize_multiplier.hpp"
#include "qtl/fixedpoint/requantize.hpp"
#include "qtl/fixedpoint/requantize_batch.hpp"
#include "qtl/ops/custom_layer.hpp"
#include "qtl/ops/lookup_table.hpp"
#include "qtl/quant/scheme.hpp"

// The quantized_layer concept with two small layers written here: an
// exportable ABS (TFLite builtin 101) that ends in the requantize stage, and
// a table-based softsign that TFLite has no builtin for.  Calibration, the
// chosen parameters and the integer results are checked by hand; the export
// guard both ways; broken layers do not satisfy the concept.

namespace {

using qtl::ops::layer_quantization;
using qtl::ops::tflite_builtin_op;

// |x|, quantized like TFLite's ABS: out = clamp(out_zp + MBQM(|q - in_zp|, in_scale / out_scale)).
template <class Scheme>
struct quantized_abs {
    using activation_scheme = Scheme;
    using weight_scheme = qtl::ops::no_weights;
    using value = typename Scheme::value_type;
    static constexpr std::string_view name = "abs";
    // ABS: version 2 for int8, 3 for int16 with quantized input (TFLite's op versioning).
    static constexpr tflite_builtin_op tflite_builtin{101, std::is_same_v<value, std::int8_t> ? 2 : 3, "ABS"};

    struct prepared {
        std::int32_t input_zero_point = 0;
        qtl::quantized_multiplier multiplier;
        qtl::requantize_params clamp;
    };

    qtl::shape output_shape(const qtl::shape& s) const { return s; }

    void forward(qtl::tensor_view<const float> x, qtl::tensor_view<float> y) const {
        for (std::size_t i = 0; i < x.size(); ++i) y[i] = std::abs(x[i]);
    }

    prepared prepare(const layer_quantization& q) const {
        const float ratio = q.input.scale / q.output.scale;  // float division, as TFLite's ABS
        return {q.input.zero_point, qtl::quantize_multiplier(ratio),
                {q.output.zero_point, Scheme::qmin, Scheme::qmax}};
    }

    static void eval(const prepared& p, qtl::tensor_view<const value> x, qtl::tensor_view<value> y) {
        std::vector<std::int32_t> acc(x.size());
        for (std::size_t i = 0; i < x.size(); ++i) acc[i] = std::abs(std::int32_t{x[i]} - p.input_zero_point);
        qtl::requantize_n<value>(acc.data(), acc.size(), p.multiplier, p.clamp, y.data.data());
    }
};

// x / (1 + |x|) as a 256-entry table: no TFLite builtin computes it.
struct softsign {
    using activation_scheme = qtl::int8_activation;
    using weight_scheme = qtl::ops::no_weights;
    static constexpr std::string_view name = "softsign";
    static constexpr tflite_builtin_op tflite_builtin = qtl::ops::no_tflite_builtin;
    struct prepared {
        qtl::ops::int8_lut table;
    };

    qtl::shape output_shape(const qtl::shape& s) const { return s; }
    void forward(qtl::tensor_view<const float> x, qtl::tensor_view<float> y) const {
        for (std::size_t i = 0; i < x.size(); ++i) y[i] = x[i] / (1.0f + std::abs(x[i]));
    }
    prepared prepare(const layer_quantization& q) const {
        return {qtl::ops::make_int8_lut(q.input.scale, q.input.zero_point, q.output.scale, q.output.zero_point,
                                        [](float v) { return v / (1.0f + std::abs(v)); }, "softsign")};
    }
    static void eval(const prepared& p, qtl::tensor_view<const std::int8_t> x, qtl::tensor_view<std::int8_t> y) {
        qtl::ops::lookup_n(p.table, x.data.data(), x.size(), y.data.data());
    }
};

// A layer whose float math produces NaN.
struct nan_layer : quantized_abs<qtl::int8_activation> {
    static constexpr std::string_view name = "nan_layer";
    void forward(qtl::tensor_view<const float>, qtl::tensor_view<float> y) const {
        for (std::size_t i = 0; i < y.size(); ++i) y[i] = std::numeric_limits<float>::quiet_NaN();
    }
};

// Broken layers.
struct no_eval : softsign {
    static void eval() {}  // wrong signature
};
struct per_channel_activations : softsign {
    using activation_scheme = qtl::int8_weight_per_channel<0>;
};
struct asymmetric_weights : softsign {
    using weight_scheme = qtl::int8_activation;
};
struct no_export_trait {
    using activation_scheme = qtl::int8_activation;
    using weight_scheme = qtl::ops::no_weights;
    using prepared = softsign::prepared;
    static constexpr std::string_view name = "no_export_trait";
    qtl::shape output_shape(const qtl::shape& s) const { return s; }
    void forward(qtl::tensor_view<const float>, qtl::tensor_view<float>) const {}
    prepared prepare(const layer_quantization&) const { return {}; }
    static void eval(const prepared&, qtl::tensor_view<const std::int8_t>, qtl::tensor_view<std::int8_t>) {}
};
struct int16_eval_for_int8_scheme : softsign {
    static void eval(const prepared&, qtl::tensor_view<const std::int16_t>, qtl::tensor_view<std::int16_t>) {}
};

static_assert(qtl::ops::quantized_layer<quantized_abs<qtl::int8_activation>>);
static_assert(qtl::ops::quantized_layer<quantized_abs<qtl::int16_activation>>);
static_assert(qtl::ops::quantized_layer<softsign>);
static_assert(qtl::ops::quantized_layer<nan_layer>);
static_assert(!qtl::ops::quantized_layer<no_eval>);
static_assert(!qtl::ops::quantized_layer<per_channel_activations>);
static_assert(!qtl::ops::quantized_layer<asymmetric_weights>);
static_assert(!qtl::ops::quantized_layer<no_export_trait>);
static_assert(!qtl::ops::quantized_layer<int16_eval_for_int8_scheme>);
static_assert(qtl::ops::layer_weight_scheme<qtl::int8_weight_per_channel<0>>);

struct samples {
    std::vector<float> a{-2.0f, 1.0f, 0.5f};
    std::vector<float> b{3.0f, -1.0f};
    std::vector<qtl::tensor_view<const float>> views{qtl::tensor_view<const float>(a, {3}),
                                                     qtl::tensor_view<const float>(b, {1, 2})};
};

}  // namespace

TEST_CASE("custom layer: calibration records the input and output ranges of the float forward") {
    // abs over {-2, 1, 0.5} and {3, -1}: input [-2, 3], output [0.5, 3] (choosing the
    // parameters widens it to include 0).
    const samples s;
    const auto r = qtl::ops::calibrate(quantized_abs<qtl::int8_activation>{}, std::span(s.views));
    CHECK(r.input == qtl::value_range{-2.0f, 3.0f});
    CHECK(r.output == qtl::value_range{0.5f, 3.0f});
}

TEST_CASE("custom layer: parameters chosen from the ranges with the layer's activation scheme") {
    // int8 asymmetric, TFLite's rule: input [-2, 3]: scale 5 / 255, zero point
    // round(-128 + 2 / (5 / 255)) = round(-128 + 102) = -26;  output [0, 3]: scale 3 / 255, zero point -128.
    // int16 symmetric: scale max|v| / 32767, zero point 0.
    const qtl::ops::layer_ranges r{{-2.0f, 3.0f}, {0.5f, 3.0f}};
    const auto q8 = qtl::ops::choose_quantization<quantized_abs<qtl::int8_activation>>(r);
    CHECK(q8.input.scale == 5.0f / 255.0f);
    CHECK(q8.input.zero_point == -26);
    CHECK(q8.output.scale == 3.0f / 255.0f);
    CHECK(q8.output.zero_point == -128);
    const auto q16 = qtl::ops::choose_quantization<quantized_abs<qtl::int16_activation>>(r);
    CHECK(q16.input.scale == 3.0f / 32767.0f);
    CHECK(q16.input.zero_point == 0);
    CHECK(q16.output.scale == 3.0f / 32767.0f);
}

TEST_CASE("custom layer: calibrate_and_prepare, then the integer kernel by hand") {
    // With the parameters above, M = (5/255) / (3/255) = 5/3:
    //   x = -2: q = -26 - 102 = -128, |d| = 102 -> 170 -> -128 + 170 = 42  (42 + 128) * 3/255 = 2.0
    //   x = 3:  q = 127, |d| = 153 -> 255 -> 127                              3.0
    //   x = 1:  q = 25,  |d| = 51 -> 85 -> -43                                1.0
    //   x = -1: q = -77, |d| = 51 -> -43;   x = 0: q = -26 -> -128            0.0
    const samples s;
    const quantized_abs<qtl::int8_activation> layer;
    const auto p = qtl::ops::calibrate_and_prepare(layer, std::span(s.views));
    CHECK(p.input_zero_point == -26);
    CHECK(p.clamp.output_zero_point == -128);
    std::vector<std::int8_t> in{-128, 127, 25, -77, -26}, out(5);
    decltype(layer)::eval(p, qtl::tensor_view<const std::int8_t>(in, {5}), qtl::tensor_view<std::int8_t>(out, {5}));
    CHECK(out == std::vector<std::int8_t>{42, 127, -43, -43, -128});
}

TEST_CASE("custom layer: a table layer's integer output tracks its float math within half a step") {
    // softsign over [-4, 4]: outputs in [-0.8, 0.8].  The table holds round(f(deq(q)) / s_out)
    // + zp, so each output is within s_out / 2 of f(deq(q)) (plus float rounding), where that
    // lies in the output's representable range (the truth is clamped to it).
    std::vector<float> calibration;
    for (int i = 0; i <= 80; ++i) calibration.push_back(-4.0f + 0.1f * i);
    const std::vector<qtl::tensor_view<const float>> views{qtl::tensor_view<const float>(calibration, {81})};
    const softsign layer;
    const auto q = qtl::ops::choose_quantization<softsign>(qtl::ops::calibrate(layer, std::span(views)));
    const auto p = layer.prepare(q);
    std::vector<std::int8_t> in, out(256);
    for (int v = -128; v <= 127; ++v) in.push_back(static_cast<std::int8_t>(v));
    softsign::eval(p, qtl::tensor_view<const std::int8_t>(in, {256}), qtl::tensor_view<std::int8_t>(out, {256}));
    double worst = 0;
    for (std::size_t i = 0; i < in.size(); ++i) {
        const double x = (in[i] - q.input.zero_point) * double(q.input.scale);
        const double truth = std::clamp(x / (1 + std::abs(x)), (-128.0 - q.output.zero_point) * q.output.scale,
                                        (127.0 - q.output.zero_point) * q.output.scale);
        worst = std::max(worst, std::abs((out[i] - q.output.zero_point) * double(q.output.scale) - truth));
    }
    CHECK(worst <= q.output.scale * 0.5 + 1e-6);
}

TEST_CASE("custom layer: the export guard gives the builtin, or refuses by name") {
    const auto abs8 = qtl::ops::require_exportable<quantized_abs<qtl::int8_activation>>("encoder/abs1");
    CHECK(abs8 == tflite_builtin_op{101, 2, "ABS"});
    CHECK(qtl::ops::require_exportable<quantized_abs<qtl::int16_activation>>("abs2").version == 3);
    CHECK_THROWS_WITH_AS(qtl::ops::require_exportable<softsign>("head/act7"),
                         "layer 'head/act7': cannot be exported to TFLite: softsign has no TFLite builtin equivalent "
                         "(its tflite_builtin is none); run the model with qtl's integer executor, or express the "
                         "layer with builtin ops",
                         qtl::error);
    // The runtime form the graph exporter uses with a stored trait.
    CHECK_THROWS_AS(qtl::ops::require_exportable(qtl::ops::no_tflite_builtin, "x", "custom"), qtl::error);
    CHECK(qtl::ops::require_exportable(tflite_builtin_op{19, 2, "RELU"}, "x", "relu").name == "RELU");
    CHECK_FALSE(qtl::ops::no_tflite_builtin.exportable());
}

TEST_CASE("custom layer: calibration errors name the layer, the sample and the element") {
    std::vector<float> good{1.0f, 2.0f}, bad{0.5f, 1.0f, std::numeric_limits<float>::quiet_NaN()};
    const std::vector<qtl::tensor_view<const float>> views{qtl::tensor_view<const float>(good, {2}),
                                                           qtl::tensor_view<const float>(bad, {3})};
    CHECK_THROWS_WITH_AS(qtl::ops::calibrate(softsign{}, std::span(views)),
                         "calibrating layer softsign: sample 1 input element 2 is nan", qtl::error);
    const std::vector<qtl::tensor_view<const float>> first{views[0]};
    CHECK_THROWS_WITH_AS(qtl::ops::calibrate(nan_layer{}, std::span(first)),
                         "calibrating layer nan_layer: sample 0 output element 0 is nan", qtl::error);
    // No samples: nothing observed, no parameters.
    const std::vector<qtl::tensor_view<const float>> none;
    CHECK_THROWS_WITH_AS(qtl::ops::calibrate_and_prepare(softsign{}, std::span(none)),
                         "layer softsign input: empty range: nothing was observed", qtl::error);
}
