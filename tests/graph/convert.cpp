// convert(): each rule checked on a small hand-made graph with a hand-made
// calibration, so every expected number is worked out by hand below.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "qtl/graph/convert.hpp"
#include "qtl/io/tflite/reader.hpp"
#include "qtl/io/tflite/writer.hpp"

namespace {

using B = qtl::tflite::builtin_operator;
using T = qtl::tflite::tensor_type;

struct fc_graph {
    qtl::graph g;
    std::int32_t x = -1, w = -1, b = -1, y = -1;
};

// y = relu(x W^T + b), x [1,4], W [3,4], b [3].
fc_graph make_fc(std::vector<float> weights, std::vector<float> bias) {
    fc_graph f;
    f.x = f.g.add_activation("x", {1, 4});
    f.w = f.g.add_constant("w", {3, 4}, std::span<const float>(weights));
    f.b = f.g.add_constant("b", {3}, std::span<const float>(bias));
    f.y = f.g.add_activation("y", {1, 3});
    qtl::tflite::fully_connected_options o;
    o.fused_activation_function = qtl::tflite::activation_function_type::RELU;
    f.g.add_node(B::FULLY_CONNECTED, o, {f.x, f.w, f.b}, {f.y}, "dense");
    f.g.inputs = {f.x};
    f.g.outputs = {f.y};
    return f;
}

qtl::calibration ranges(std::initializer_list<std::pair<std::int32_t, qtl::value_range>> r) {
    qtl::calibration c;
    for (auto& [t, v] : r) c.ranges[t] = v;
    c.samples = 1;
    return c;
}

const qtl::tflite::tensor& model_tensor(const qtl::tflite::model& m, std::int32_t i) {
    return m.main().tensors.at(static_cast<std::size_t>(i));
}

template <class V>
std::vector<V> data(const qtl::tflite::model& m, const qtl::tflite::tensor& t) {
    auto bytes = m.data_of(t);
    std::vector<V> v(bytes.size() / sizeof(V));
    std::memcpy(v.data(), bytes.data(), bytes.size());
    return v;
}

// The model survives qtl's writer (which re-reads and validates it).
qtl::tflite::model round_trip(const qtl::tflite::model& m) {
    return qtl::tflite::read_model(qtl::tflite::write_model(m));
}

}  // namespace

TEST_CASE("int8 FULLY_CONNECTED: activation, weight and bias parameters by hand") {
    // weights: channel 0 max |w| 1.27 -> scale 0.01; channel 1 max 0.635 -> 0.005; channel 2 all zero -> scale 1
    auto f = make_fc({1.27f, -0.5f, 0.0f, 0.25f, 0.635f, 0.0f, -0.1f, 0.0f, 0, 0, 0, 0}, {0.5f, -0.25f, 0.0f});
    // x in [0, 2.55] -> scale 0.01, zero point -128; y in [0, 5.1] -> scale 0.02, zero point -128
    const auto cal = ranges({{f.x, {0.0f, 2.55f}}, {f.y, {0.0f, 5.1f}}});
    const auto m = round_trip(qtl::convert(f.g, cal));
    const auto& sg = m.main();
    REQUIRE(sg.operators.size() == 1);
    const auto& op = sg.operators[0];
    CHECK(op.builtin_code == B::FULLY_CONNECTED);
    CHECK(op.version == 4);  // int8 FULLY_CONNECTED (TFLite's op_version.cc)
    CHECK(m.metadata_bytes("min_runtime_version").has_value());
    CHECK(op.options_as<qtl::tflite::fully_connected_options>().fused_activation_function ==
          qtl::tflite::activation_function_type::RELU);

    const auto& x = model_tensor(m, op.inputs[0]);
    CHECK(x.type == T::INT8);
    CHECK(x.quantization->scale[0] == doctest::Approx(0.01f));
    CHECK(x.quantization->zero_point[0] == -128);
    const auto& y = model_tensor(m, op.outputs[0]);
    CHECK(y.quantization->scale[0] == doctest::Approx(0.02f));
    CHECK(y.quantization->zero_point[0] == -128);

    const auto& w = model_tensor(m, op.inputs[1]);
    CHECK(w.type == T::INT8);
    REQUIRE(w.quantization->scale.size() == 3);
    CHECK(w.quantization->scale[0] == doctest::Approx(0.01f));
    CHECK(w.quantization->scale[1] == doctest::Approx(0.005f));
    CHECK(w.quantization->scale[2] == 1.0f);
    CHECK(w.quantization->quantized_dimension == 0);
    const auto wq = data<std::int8_t>(m, w);
    CHECK(wq == std::vector<std::int8_t>{127, -50, 0, 25, 127, 0, -20, 0, 0, 0, 0, 0});

    const auto& b = model_tensor(m, op.inputs[2]);
    CHECK(b.type == T::INT32);
    REQUIRE(b.quantization->scale.size() == 3);
    CHECK(b.quantization->scale[0] == doctest::Approx(0.0001f));   // 0.01 * 0.01
    CHECK(b.quantization->scale[1] == doctest::Approx(0.00005f));  // 0.01 * 0.005
    CHECK(data<std::int32_t>(m, b) == std::vector<std::int32_t>{5000, -5000, 0});

    // model I/O is int8 (native), one signature
    CHECK(sg.inputs == std::vector<std::int32_t>{op.inputs[0]});
    CHECK(sg.outputs == std::vector<std::int32_t>{op.outputs[0]});
    REQUIRE(m.signature_defs.size() == 1);
    CHECK(m.signature_defs[0].signature_key == "serving_default");
}

TEST_CASE("per-tensor weights, and the tflite-micro profile forces them for FULLY_CONNECTED") {
    auto f = make_fc({1.27f, 0, 0, 0, 0.635f, 0, 0, 0, 0.254f, 0, 0, 0}, {0, 0, 0});
    const auto cal = ranges({{f.x, {0.0f, 2.55f}}, {f.y, {0.0f, 5.1f}}});
    qtl::conversion_options per_tensor;
    per_tensor.scheme.weights.granularity = qtl::weight_granularity::per_tensor;
    qtl::conversion_options micro;
    micro.target = qtl::target_profile::tflite_micro;
    for (const auto& o : {per_tensor, micro}) {
        const auto m = round_trip(qtl::convert(f.g, cal, o));
        const auto& op = m.main().operators[0];
        const auto& w = model_tensor(m, op.inputs[1]);
        REQUIRE(w.quantization->scale.size() == 1);
        CHECK(w.quantization->scale[0] == doctest::Approx(0.01f));
        CHECK(data<std::int8_t>(m, w) == std::vector<std::int8_t>{127, 0, 0, 0, 64, 0, 0, 0, 25, 0, 0, 0});
        CHECK(model_tensor(m, op.inputs[2]).quantization->scale.size() == 1);
    }
    micro.scheme.weights.bits = 4;
    CHECK_THROWS_WITH_AS(qtl::convert(f.g, cal, micro), doctest::Contains("no int4 weights"), qtl::error);
}

TEST_CASE("int4 per-channel weights are INT4, packed two per byte, in [-7, 7]") {
    auto f = make_fc({0.7f, -0.35f, 0.1f, 0, 1.4f, 0, 0, -1.4f, 0, 0, 0, 0}, {0, 0, 0});
    const auto cal = ranges({{f.x, {0.0f, 2.55f}}, {f.y, {0.0f, 5.1f}}});
    qtl::conversion_options o;
    o.scheme = qtl::int4_scheme::layer();
    const auto m = round_trip(qtl::convert(f.g, cal, o));
    const auto& w = model_tensor(m, m.main().operators[0].inputs[1]);
    CHECK(w.type == T::INT4);
    CHECK(w.quantization->scale[0] == doctest::Approx(0.1f));  // 0.7 / 7
    CHECK(w.quantization->scale[1] == doctest::Approx(0.2f));  // 1.4 / 7
    // channel 0: 7, -3.5 -> -4 (half away from zero), 1, 0; channel 1: 7, 0, 0, -7; channel 2: zeros
    const auto bytes = data<std::uint8_t>(m, w);
    CHECK(qtl::unpack_int4(bytes, 12) == std::vector<std::int8_t>{7, -4, 1, 0, 7, 0, 0, -7, 0, 0, 0, 0});
}

TEST_CASE("16x8 mode: int16 symmetric activations, int64 bias") {
    auto f = make_fc({1.27f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {0.5f, 0, 0});
    const auto cal = ranges({{f.x, {-3.2767f, 1.0f}}, {f.y, {0.0f, 6.5534f}}});
    qtl::conversion_options o;
    o.scheme = qtl::int16x8_scheme::layer();
    const auto m = round_trip(qtl::convert(f.g, cal, o));
    const auto& op = m.main().operators[0];
    const auto& x = model_tensor(m, op.inputs[0]);
    CHECK(x.type == T::INT16);
    CHECK(x.quantization->scale[0] == doctest::Approx(0.0001f));  // 3.2767 / 32767
    CHECK(x.quantization->zero_point[0] == 0);
    CHECK(model_tensor(m, op.outputs[0]).quantization->scale[0] == doctest::Approx(0.0002f));
    const auto& b = model_tensor(m, op.inputs[2]);
    CHECK(b.type == T::INT64);
    CHECK(data<std::int64_t>(m, b)[0] == 500000);  // 0.5 / (0.0001 * 0.01)
    // like TensorFlow's converter, the option stays unset (older runtimes reject what they do not know)
    CHECK(op.options_as<qtl::tflite::fully_connected_options>().quantized_bias_type == T::FLOAT32);
}

TEST_CASE("bias overflow guard: a tiny weight scale is raised so the int32 bias fits") {
    // weights 1e-8 and bias 1000: at input scale 0.01 the bias would be 1000 / (0.01 * 1e-8 / 127) ~ 1.3e15
    auto f = make_fc({1e-8f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {1000.0f, 0, 0});
    const auto cal = ranges({{f.x, {0.0f, 2.55f}}, {f.y, {0.0f, 5.1f}}});
    qtl::conversion_report report;
    const auto m = round_trip(qtl::convert(f.g, cal, {}, &report));
    const auto& op = m.main().operators[0];
    const auto& w = model_tensor(m, op.inputs[1]);
    const auto& b = model_tensor(m, op.inputs[2]);
    const auto q = data<std::int32_t>(m, b);
    CHECK(std::abs(static_cast<double>(q[0])) <= 1073741824.0);
    // the bias still dequantizes to 1000 (within its own scale)
    CHECK(q[0] * b.quantization->scale[0] == doctest::Approx(1000.0).epsilon(1e-6));
    CHECK(w.quantization->scale[0] >= 1000.0f / (0.01f * 1073741824.0f) * 0.999f);
    REQUIRE(report.notes.size() == 1);
    CHECK(report.notes[0].find("so the int32 bias fits") != std::string::npos);
}

TEST_CASE("fixed output parameters for SOFTMAX, LOGISTIC and TANH, whatever was calibrated") {
    for (auto [op, scale8, zp8] : {std::tuple{B::SOFTMAX, 1.0f / 256, -128}, std::tuple{B::LOGISTIC, 1.0f / 256, -128},
                                   std::tuple{B::TANH, 1.0f / 128, 0}}) {
        qtl::graph g;
        auto x = g.add_activation("x", {1, 8});
        auto y = g.add_activation("y", {1, 8});
        qtl::tflite::builtin_options opts;
        if (op == B::SOFTMAX) opts = qtl::tflite::softmax_options{1.0f};
        g.add_node(op, opts, {x}, {y});
        g.inputs = {x};
        g.outputs = {y};
        const auto cal = ranges({{x, {-4.0f, 4.0f}}, {y, {0.1f, 0.3f}}});
        for (auto [scheme, scale, zp] : {std::tuple{qtl::int8_scheme::layer(), scale8, zp8},
                                         std::tuple{qtl::int16x8_scheme::layer(), 1.0f / 32768, 0}}) {
            qtl::conversion_options o;
            o.scheme = scheme;
            const auto m = round_trip(qtl::convert(g, cal, o));
            const auto& out = model_tensor(m, m.main().operators[0].outputs[0]);
            CHECK(out.quantization->scale[0] == scale);
            CHECK(out.quantization->zero_point[0] == zp);
        }
    }
}

TEST_CASE("same scale: pooling and reshape share their input's parameters (union of the ranges)") {
    qtl::graph g;
    auto x = g.add_activation("x", {1, 4, 4, 1});
    auto p = g.add_activation("pooled", {1, 2, 2, 1});
    auto r = g.add_activation("flat", {1, 4});
    std::vector<std::int32_t> shape{1, 4};
    auto s = g.add_constant("shape", {2}, std::span<const std::int32_t>(shape));
    qtl::tflite::pool_2d_options po;
    po.padding = qtl::tflite::padding::VALID;
    po.stride_w = po.stride_h = po.filter_width = po.filter_height = 2;
    g.add_node(B::MAX_POOL_2D, po, {x}, {p});
    g.add_node(B::RESHAPE, qtl::tflite::reshape_options{}, {p, s}, {r});
    g.inputs = {x};
    g.outputs = {r};
    // union [-1, 2.5] + [0, 2.5] + [0, 1.5] = [-1, 2.5] -> scale 3.5/255, zero point round(-128 + 1/(3.5/255)) = -55
    const auto cal = ranges({{x, {-1.0f, 2.5f}}, {p, {0.0f, 2.5f}}, {r, {0.0f, 1.5f}}});
    const auto m = round_trip(qtl::convert(g, cal));
    const auto& ops = m.main().operators;
    REQUIRE(ops.size() == 2);
    for (auto i : {ops[0].inputs[0], ops[0].outputs[0], ops[1].outputs[0]}) {
        const auto& t = model_tensor(m, i);
        CHECK(t.quantization->scale[0] == doctest::Approx(3.5f / 255));
        CHECK(t.quantization->zero_point[0] == -55);
    }
    CHECK(model_tensor(m, ops[1].inputs[1]).type == T::INT32);
}

TEST_CASE("same scale: a CONCATENATION of inputs pinned differently takes its own range, both inputs requantized") {
    qtl::graph g;
    auto x = g.add_activation("x", {1, 4});
    auto a = g.add_activation("sig", {1, 4});
    auto t = g.add_activation("tanh", {1, 4});
    auto c = g.add_activation("cat", {1, 8});
    g.add_node(B::LOGISTIC, {}, {x}, {a});
    g.add_node(B::TANH, {}, {x}, {t});
    g.add_node(B::CONCATENATION, qtl::tflite::concatenation_options{1}, {a, t}, {c});
    g.inputs = {x};
    g.outputs = {c};
    const auto cal = ranges({{x, {-4.0f, 4.0f}}, {a, {0.0f, 1.0f}}, {t, {-1.0f, 1.0f}}, {c, {-1.0f, 1.0f}}});
    qtl::conversion_report report;
    const auto m = round_trip(qtl::convert(g, cal, {}, &report));
    const auto& ops = m.main().operators;
    // LOGISTIC, TANH, QUANTIZE (sig), QUANTIZE (tanh), CONCATENATION
    REQUIRE(ops.size() == 5);
    CHECK(ops[0].builtin_code == B::LOGISTIC);
    CHECK(ops[1].builtin_code == B::TANH);
    CHECK(ops[2].builtin_code == B::QUANTIZE);
    CHECK(ops[3].builtin_code == B::QUANTIZE);
    CHECK(ops[4].builtin_code == B::CONCATENATION);
    // LOGISTIC and TANH keep their fixed parameters
    CHECK(model_tensor(m, ops[0].outputs[0]).quantization->scale[0] == 1.0f / 256);
    CHECK(model_tensor(m, ops[1].outputs[0]).quantization->scale[0] == 1.0f / 128);
    // the concatenation and both of its (requantized) inputs: the output's range [-1, 1]:
    // scale 2/255, zero point round(-128 + 1 / (2/255)) = round(-0.5) = -1 (half away from zero)
    for (auto i : {ops[4].inputs[0], ops[4].inputs[1], ops[4].outputs[0]}) {
        CHECK(model_tensor(m, i).quantization->scale[0] == doctest::Approx(2.0f / 255));
        CHECK(model_tensor(m, i).quantization->zero_point[0] == -1);
    }
    CHECK(ops[2].inputs[0] == ops[0].outputs[0]);
    CHECK(ops[3].inputs[0] == ops[1].outputs[0]);
    CHECK(report.notes.size() == 2);
}

TEST_CASE("model I/O types: float32 adds QUANTIZE / DEQUANTIZE, uint8 shifts the zero point by 128") {
    auto f = make_fc({1.27f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {0, 0, 0});
    const auto cal = ranges({{f.x, {0.0f, 2.55f}}, {f.y, {0.0f, 5.1f}}});
    qtl::conversion_options o;
    o.input_type = qtl::io_type::float32;
    o.output_type = qtl::io_type::float32;
    auto m = round_trip(qtl::convert(f.g, cal, o));
    auto ops = m.main().operators;
    REQUIRE(ops.size() == 3);
    CHECK(ops[0].builtin_code == B::QUANTIZE);
    CHECK(ops[2].builtin_code == B::DEQUANTIZE);
    CHECK(model_tensor(m, m.main().inputs[0]).type == T::FLOAT32);
    CHECK(model_tensor(m, m.main().outputs[0]).type == T::FLOAT32);
    CHECK(model_tensor(m, m.main().outputs[0]).name == "y");

    o.input_type = qtl::io_type::uint8;
    o.output_type = qtl::io_type::uint8;
    m = round_trip(qtl::convert(f.g, cal, o));
    ops = m.main().operators;
    REQUIRE(ops.size() == 3);
    const auto& in = model_tensor(m, m.main().inputs[0]);
    CHECK(in.type == T::UINT8);
    CHECK(in.quantization->zero_point[0] == 0);  // int8 zero point -128 + 128
    CHECK(in.quantization->scale[0] == doctest::Approx(0.01f));
    CHECK(model_tensor(m, m.main().outputs[0]).quantization->zero_point[0] == 0);

    o.input_type = qtl::io_type::int16;
    CHECK_THROWS_WITH_AS(qtl::convert(f.g, cal, o), doctest::Contains("cannot carry"), qtl::error);
}

TEST_CASE("a uint8 image input read through CAST: the input stays uint8 and CAST becomes QUANTIZE") {
    qtl::graph g;
    auto x = g.add_activation("pixels", {1, 4}, T::UINT8);
    auto xf = g.add_activation("pixels_f", {1, 4});
    auto y = g.add_activation("y", {1, 4});
    g.add_node(B::CAST, {}, {x}, {xf});
    g.add_node(B::RELU, {}, {xf}, {y});
    g.inputs = {x};
    g.outputs = {y};
    const auto cal = ranges({{x, {0.0f, 255.0f}}, {xf, {0.0f, 255.0f}}, {y, {0.0f, 255.0f}}});
    const auto m = round_trip(qtl::convert(g, cal));
    const auto& ops = m.main().operators;
    REQUIRE(ops.size() == 2);
    CHECK(ops[0].builtin_code == B::QUANTIZE);
    const auto& in = model_tensor(m, m.main().inputs[0]);
    CHECK(in.type == T::UINT8);
    CHECK(in.quantization->scale[0] == 1.0f);
    CHECK(in.quantization->zero_point[0] == 0);
    CHECK(model_tensor(m, ops[0].outputs[0]).type == T::INT8);
}

TEST_CASE("per-layer schemes: an int16 layer inside an int8 model gets DEQUANTIZE/QUANTIZE around it") {
    qtl::graph g;
    auto x = g.add_activation("x", {1, 4});
    auto a = g.add_activation("a", {1, 4});
    auto b = g.add_activation("b", {1, 4});
    g.add_node(B::RELU, {}, {x}, {a}, "first");
    g.add_node(B::TANH, {}, {a}, {b}, "second");
    g.inputs = {x};
    g.outputs = {b};
    const auto cal = ranges({{x, {-1.0f, 1.0f}}, {a, {0.0f, 1.0f}}, {b, {0.0f, 0.8f}}});
    qtl::conversion_options o;
    o.layers["second"] = qtl::int16x8_scheme::layer();
    const auto m = round_trip(qtl::convert(g, cal, o));
    const auto& ops = m.main().operators;
    REQUIRE(ops.size() == 4);  // RELU, DEQUANTIZE, QUANTIZE, TANH
    CHECK(ops[1].builtin_code == B::DEQUANTIZE);
    CHECK(ops[2].builtin_code == B::QUANTIZE);
    CHECK(model_tensor(m, ops[3].inputs[0]).type == T::INT16);
    CHECK(model_tensor(m, ops[3].outputs[0]).type == T::INT16);
    CHECK(model_tensor(m, ops[0].outputs[0]).type == T::INT8);

    o.layers["nope"] = qtl::int8_scheme::layer();
    CHECK_THROWS_WITH_AS(qtl::convert(g, cal, o), doctest::Contains("no node is named 'nope'"), qtl::error);
}

TEST_CASE("errors: unsupported op, missing calibration, non-finite weights") {
    qtl::graph g;
    auto x = g.add_activation("x", {1, 4});
    auto y = g.add_activation("y", {1, 4});
    g.add_node(B::SIN, {}, {x}, {y}, "sine");
    g.inputs = {x};
    g.outputs = {y};
    const auto cal = ranges({{x, {-1.0f, 1.0f}}, {y, {-1.0f, 1.0f}}});
    CHECK_THROWS_WITH_AS(qtl::convert(g, cal), doctest::Contains("qtl cannot quantize SIN"), qtl::error);
    CHECK_THROWS_WITH_AS(qtl::convert(g, cal), doctest::Contains("node 0 (SIN 'sine')"), qtl::error);

    auto f = make_fc({1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {0, 0, 0});
    CHECK_THROWS_WITH_AS(qtl::convert(f.g, ranges({{f.x, {0.0f, 1.0f}}})), doctest::Contains("has no calibrated range"),
                         qtl::error);
    auto bad = make_fc({1, NAN, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {0, 0, 0});
    CHECK_THROWS_WITH_AS(qtl::convert(bad.g, ranges({{bad.x, {0.0f, 1.0f}}, {bad.y, {0.0f, 1.0f}}})),
                         doctest::Contains("weight element 1 is nan"), qtl::error);
}

TEST_CASE("selective quantization: a layer kept in float gets DEQUANTIZE before it and QUANTIZE after it") {
    qtl::graph g;
    auto x = g.add_activation("x", {1, 4});
    auto a = g.add_activation("a", {1, 4});
    auto t = g.add_activation("t", {1, 4});
    auto y = g.add_activation("y", {1, 4});
    g.add_node(B::RELU, {}, {x}, {a}, "relu");
    g.add_node(B::TANH, {}, {a}, {t}, "tanh");
    g.add_node(B::RELU6, {}, {t}, {y}, "relu6");
    g.inputs = {x};
    g.outputs = {y};
    const auto cal = ranges({{x, {-1.0f, 2.55f}}, {a, {0.0f, 2.55f}}, {t, {0.0f, 0.99f}}, {y, {0.0f, 0.99f}}});
    qtl::conversion_options o;
    o.layers["tanh"] = qtl::float_layer::layer();
    const auto m = round_trip(qtl::convert(g, cal, o));
    const auto& ops = m.main().operators;
    REQUIRE(ops.size() == 5);  // RELU, DEQUANTIZE, TANH (float), QUANTIZE, RELU6
    CHECK(ops[1].builtin_code == B::DEQUANTIZE);
    CHECK(ops[2].builtin_code == B::TANH);
    CHECK(model_tensor(m, ops[2].inputs[0]).type == T::FLOAT32);
    CHECK(model_tensor(m, ops[2].outputs[0]).type == T::FLOAT32);
    CHECK(ops[2].version == 1);  // float TANH
    CHECK(ops[3].builtin_code == B::QUANTIZE);
    // the float tensor is quantized for RELU6 from its calibrated range [0, 0.99]: scale 0.99/255
    const auto& q = model_tensor(m, ops[3].outputs[0]);
    CHECK(q.type == T::INT8);
    CHECK(q.quantization->scale[0] == doctest::Approx(0.99f / 255));
    CHECK(q.quantization->zero_point[0] == -128);
    CHECK(model_tensor(m, ops[4].outputs[0]).type == T::INT8);

    // a float weighted layer keeps float weights and bias
    auto f = make_fc({1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0}, {0.5f, 0, 0});
    qtl::conversion_options fo;
    fo.layers["dense"] = qtl::float_layer::layer();
    const auto fm = round_trip(qtl::convert(f.g, ranges({{f.x, {0.0f, 1.0f}}, {f.y, {0.0f, 1.5f}}}), fo));
    REQUIRE(fm.main().operators.size() == 1);
    const auto& fc = fm.main().operators[0];
    CHECK(model_tensor(fm, fc.inputs[1]).type == T::FLOAT32);
    CHECK(model_tensor(fm, fc.inputs[2]).type == T::FLOAT32);
    CHECK(data<float>(fm, model_tensor(fm, fc.inputs[2]))[0] == 0.5f);
    CHECK(model_tensor(fm, fm.main().inputs[0]).type == T::FLOAT32);
    fo.output_type = qtl::io_type::int8;
    CHECK_THROWS_WITH_AS(qtl::convert(f.g, ranges({{f.x, {0.0f, 1.0f}}, {f.y, {0.0f, 1.5f}}}), fo),
                         doctest::Contains("kept in float"), qtl::error);
}

TEST_CASE("16x8 mode keeps HARD_SWISH at int8 (TFLite has no int16 kernel for it), with conversions around it") {
    qtl::graph g;
    auto x = g.add_activation("x", {1, 4});
    auto h = g.add_activation("h", {1, 4});
    auto y = g.add_activation("y", {1, 4});
    g.add_node(B::HARD_SWISH, {}, {x}, {h}, "hs");
    g.add_node(B::RELU, {}, {h}, {y}, "relu");
    g.inputs = {x};
    g.outputs = {y};
    const auto cal = ranges({{x, {-3.0f, 3.0f}}, {h, {-0.375f, 3.0f}}, {y, {0.0f, 3.0f}}});
    qtl::conversion_options o;
    o.scheme = qtl::int16x8_scheme::layer();
    qtl::conversion_report report;
    const auto m = round_trip(qtl::convert(g, cal, o, &report));
    const auto& ops = m.main().operators;
    REQUIRE(ops.size() == 4);  // HARD_SWISH (int8), DEQUANTIZE, QUANTIZE (to int16), RELU (int16)
    CHECK(ops[0].builtin_code == B::HARD_SWISH);
    CHECK(model_tensor(m, ops[0].outputs[0]).type == T::INT8);
    CHECK(model_tensor(m, ops[3].outputs[0]).type == T::INT16);
    REQUIRE(report.notes.size() == 1);
    CHECK(report.notes[0].find("no int16 HARD_SWISH") != std::string::npos);
}

TEST_CASE("a float constant operand of ADD is quantized like an activation from its own range") {
    qtl::graph g;
    auto x = g.add_activation("x", {1, 4});
    const std::vector<float> cv{0.0f, 1.0f, 2.55f, -0.5f};
    auto c = g.add_constant("c", {1, 4}, std::span<const float>(cv));
    auto y = g.add_activation("y", {1, 4});
    g.add_node(B::ADD, qtl::tflite::add_options{}, {x, c}, {y});
    g.inputs = {x};
    g.outputs = {y};
    const auto cal = ranges({{x, {-1.0f, 1.0f}}, {y, {-1.5f, 3.55f}}});
    // int8: range [-0.5, 2.55] -> scale 3.05/255, zero point round(-128 + 0.5 / scale) = -86;
    // codes round(v / scale) - 86: 0 -> -86, 1 -> 84 - 86 = -2, 2.55 -> 213 - 86 = 127, -0.5 -> -42 - 86 = -128
    auto m = round_trip(qtl::convert(g, cal));
    auto ct = model_tensor(m, m.main().operators[0].inputs[1]);
    CHECK(ct.type == T::INT8);
    CHECK(ct.quantization->scale[0] == doctest::Approx(3.05f / 255));
    CHECK(ct.quantization->zero_point[0] == -86);
    CHECK(data<std::int8_t>(m, ct) == std::vector<std::int8_t>{-86, -2, 127, -128});
    // 16x8: symmetric, scale 2.55 / 32767; codes 0, round(12849.8) = 12850, 32767, round(-6424.9) = -6425
    qtl::conversion_options o;
    o.scheme = qtl::int16x8_scheme::layer();
    m = round_trip(qtl::convert(g, cal, o));
    ct = model_tensor(m, m.main().operators[0].inputs[1]);
    CHECK(ct.type == T::INT16);
    CHECK(ct.quantization->scale[0] == doctest::Approx(2.55f / 32767));
    CHECK(ct.quantization->zero_point[0] == 0);
    CHECK(data<std::int16_t>(m, ct) == std::vector<std::int16_t>{0, 12850, 32767, -6425});
}
