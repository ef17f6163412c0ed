// read_model() on the real models of ../shared/models.  Expected facts come
// from ../shared/models/README.md (I/O types and shapes, op lists, counts,
// versions) and, for numbers the README does not give (quantization
// parameters, option values, small constant tensors), from a throwaway
// Python walk of the flatbuffers with `struct` (outside the repo), noted
// where used.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "qtl/io/tflite/reader.hpp"
#include "support/shared_data.hpp"

using namespace qtl::tflite;

namespace {

model read_shared(const std::string& relative, const read_options& options = {}) {
    return read_model(qtl::test::shared_file(relative), options);
}

std::vector<std::uint8_t> shared_bytes(const std::string& relative) {
    std::ifstream in(qtl::test::shared_file(relative), std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

const tensor& input(const model& m, std::size_t i = 0) {
    REQUIRE(i < m.main().inputs.size());
    return m.main().tensors.at(static_cast<std::size_t>(m.main().inputs[i]));
}
const tensor& output(const model& m, std::size_t i = 0) {
    REQUIRE(i < m.main().outputs.size());
    return m.main().tensors.at(static_cast<std::size_t>(m.main().outputs[i]));
}
const tensor& tensor_at(const model& m, std::int32_t index) {
    REQUIRE(index >= 0);
    return m.main().tensors.at(static_cast<std::size_t>(index));
}

// (op name, version) -> count.
std::map<std::pair<std::string, int>, int> op_counts(const model& m) {
    std::map<std::pair<std::string, int>, int> counts;
    for (const auto& o : m.main().operators) ++counts[{describe(o.builtin_code), o.version}];
    return counts;
}

template <class T>
std::vector<T> values(const model& m, const tensor& t) {
    const auto data = m.data_of(t);
    std::vector<T> out(data.size() / sizeof(T));
    std::memcpy(out.data(), data.data(), out.size() * sizeof(T));
    return out;
}

std::string text(std::span<const std::uint8_t> bytes) {
    std::string s(bytes.begin(), bytes.end());
    return s.substr(0, s.find('\0'));
}

void check_io(const tensor& t, tensor_type type, const qtl::shape& shape) {
    CAPTURE(t.name);
    CHECK(t.type == type);
    CHECK(t.shape == shape);
}

}  // namespace

TEST_CASE("hello_world_float: FLOAT32[1,1] -> FLOAT32[1,1], FULLY_CONNECTED v1 x3, ReLU fused on the first two") {
    const auto m = read_shared("models/hello_world_float.tflite");
    CHECK(m.version == 3);
    CHECK(m.description == "MLIR Converted.");
    REQUIRE(m.subgraphs.size() == 1);
    REQUIRE(m.main().inputs.size() == 1);
    REQUIRE(m.main().outputs.size() == 1);
    check_io(input(m), tensor_type::FLOAT32, {1, 1});
    check_io(output(m), tensor_type::FLOAT32, {1, 1});
    CHECK(!input(m).is_quantized());
    CHECK(input(m).shape_signature == std::vector<std::int32_t>{-1, 1});  // dynamic batch

    const auto& ops = m.main().operators;
    REQUIRE(ops.size() == 3);
    const activation_function_type expected[] = {activation_function_type::RELU, activation_function_type::RELU,
                                                 activation_function_type::NONE};
    for (std::size_t i = 0; i < 3; ++i) {
        CAPTURE(i);
        CHECK(ops[i].builtin_code == builtin_operator::FULLY_CONNECTED);
        CHECK(ops[i].version == 1);
        const auto& o = ops[i].options_as<fully_connected_options>();
        CHECK(o.fused_activation_function == expected[i]);
        CHECK(o.weights_format == fully_connected_options_weights_format::DEFAULT);
        CHECK(!o.keep_num_dims);
        // Weights and bias are constant float tensors.
        REQUIRE(ops[i].inputs.size() == 3);
        CHECK(tensor_at(m, ops[i].inputs[1]).type == tensor_type::FLOAT32);
        CHECK(m.data_of(tensor_at(m, ops[i].inputs[1])).size() ==
              4 * qtl::num_elements(tensor_at(m, ops[i].inputs[1]).shape));
    }
    // The signature and metadata the converter wrote (Python walk of the file).
    REQUIRE(m.signature_defs.size() == 1);
    const auto& sig = m.signature_defs[0];
    CHECK(sig.signature_key == "serving_default");
    CHECK(sig.subgraph_index == 0);
    REQUIRE(sig.inputs.size() == 1);
    CHECK(sig.inputs[0].name == "dense_input");
    CHECK(sig.inputs[0].tensor_index == 0);
    REQUIRE(sig.outputs.size() == 1);
    CHECK(sig.outputs[0].name == "dense_2");
    CHECK(sig.outputs[0].tensor_index == 9);
    const auto version = m.metadata_bytes("min_runtime_version");
    REQUIRE(version.has_value());
    CHECK(text(*version) == "1.5.0");
    CHECK(m.metadata_bytes("CONVERSION_METADATA").has_value());
    CHECK(!m.metadata_bytes("no such entry").has_value());
    CHECK(m.repairs.empty());
}

TEST_CASE("hello_world_int8: INT8[1,1] -> INT8[1,1], FULLY_CONNECTED v4 x3, per-tensor parameters") {
    const auto m = read_shared("models/hello_world_int8.tflite");
    check_io(input(m), tensor_type::INT8, {1, 1});
    check_io(output(m), tensor_type::INT8, {1, 1});
    // Parameters from the Python walk of the file.
    REQUIRE(input(m).is_quantized());
    CHECK(input(m).quantization->params ==
          qtl::quant_params{{0.024480115622282028f}, {-128}, -1, 0});
    CHECK(output(m).quantization->params ==
          qtl::quant_params{{0.008290956728160381f}, {5}, -1, 0});
    CHECK(op_counts(m) == std::map<std::pair<std::string, int>, int>{{{"FULLY_CONNECTED", 4}, 3}});
    CHECK(text(*m.metadata_bytes("min_runtime_version")) == "1.14.0");
    // Every FULLY_CONNECTED: int8 weights, int32 bias with zero point 0 and
    // scale = input scale * weight scale (TFLite's bias rule, DESIGN.md 3).
    for (const auto& o : m.main().operators) {
        const auto& in = tensor_at(m, o.inputs[0]);
        const auto& w = tensor_at(m, o.inputs[1]);
        const auto& b = tensor_at(m, o.inputs[2]);
        CHECK(w.type == tensor_type::INT8);
        CHECK(b.type == tensor_type::INT32);
        REQUIRE(b.is_quantized());
        CHECK(b.quantization->params.zero_points == std::vector<std::int32_t>{0});
        CHECK(b.quantization->params.scales[0] ==
              doctest::Approx(in.quantization->params.scales[0] * w.quantization->params.scales[0]).epsilon(1e-6));
    }
}

TEST_CASE("micro_speech: INT8[1,1960] -> INT8[1,4], RESHAPE, DEPTHWISE_CONV_2D v3, FULLY_CONNECTED v4, SOFTMAX v2") {
    const auto m = read_shared("models/micro_speech_quantized.tflite");
    CHECK(m.description == "TOCO Converted.");
    check_io(input(m), tensor_type::INT8, {1, 1960});
    check_io(output(m), tensor_type::INT8, {1, 4});
    const auto& ops = m.main().operators;
    REQUIRE(ops.size() == 4);
    CHECK(ops[0].builtin_code == builtin_operator::RESHAPE);
    CHECK(ops[0].version == 1);  // Python walk
    CHECK(ops[1].builtin_code == builtin_operator::DEPTHWISE_CONV_2D);
    CHECK(ops[1].version == 3);
    CHECK(ops[2].builtin_code == builtin_operator::FULLY_CONNECTED);
    CHECK(ops[2].version == 4);
    CHECK(ops[3].builtin_code == builtin_operator::SOFTMAX);
    CHECK(ops[3].version == 2);

    // Option values from the Python walk of the file.
    CHECK(ops[0].options_as<reshape_options>().new_shape == std::vector<std::int32_t>{-1, 49, 40, 1});
    const auto& dw = ops[1].options_as<depthwise_conv_2d_options>();
    CHECK(dw.padding == padding::SAME);
    CHECK(dw.stride_w == 2);
    CHECK(dw.stride_h == 2);
    CHECK(dw.depth_multiplier == 8);
    CHECK(dw.fused_activation_function == activation_function_type::RELU);
    CHECK(dw.dilation_w_factor == 1);
    CHECK(dw.dilation_h_factor == 1);
    CHECK(ops[3].options_as<softmax_options>().beta == 1.0f);

    // Per-channel depthwise weights: axis 3, one scale per output channel.
    const auto& w = tensor_at(m, ops[1].inputs[1]);
    CHECK(w.type == tensor_type::INT8);
    REQUIRE(w.shape.size() == 4);
    REQUIRE(w.is_quantized());
    CHECK(w.quantization->params.axis == 3);
    CHECK(w.quantization->params.scales.size() == static_cast<std::size_t>(w.shape[3]));
    // SOFTMAX output: the fixed int8 parameters 1/256, -128 (DESIGN.md 3).
    CHECK(output(m).quantization->params == qtl::quant_params{{1.0f / 256}, {-128}, -1, 0});
    CHECK(m.signature_defs.empty());
}

TEST_CASE("person_detect: refused as published (quantized_dimension 3 on rank-1 biases)") {
    const auto bytes = shared_bytes("models/person_detect.tflite");
    REQUIRE(bytes.size() == 300568);
    try {
        (void)read_model(bytes);
        FAIL("person_detect.tflite was accepted without the repair option");
    } catch (const qtl::error& e) {
        // The first offending tensor (Python walk): 33, the bias of operator 0.
        CHECK(e.where() == "tensor 33 'MobilenetV1/MobilenetV1/Conv2d_0/Conv2D_bias'");
        CHECK(std::string(e.message()).find("quantized_dimension is 3, expected 0 <= quantized_dimension < rank 1") !=
              std::string::npos);
        CHECK(std::string(e.message()).find("quantized_dimension must be in range [0, 1). Was 3.") !=
              std::string::npos);
        CHECK(std::string(e.message()).find("repair_quantized_dimension") != std::string::npos);
    }
    // Through the path API the location starts with the file.
    try {
        (void)read_shared("models/person_detect.tflite");
        FAIL("accepted");
    } catch (const qtl::error& e) {
        CHECK(e.where().find("person_detect.tflite: tensor 33 ") != std::string::npos);
    }
}

TEST_CASE("person_detect: accepted with repair_quantized_dimension, 14 bias tensors changed and reported") {
    const auto m = read_shared("models/person_detect.tflite", read_options{.repair_quantized_dimension = true});
    check_io(input(m), tensor_type::INT8, {1, 96, 96, 1});
    check_io(output(m), tensor_type::INT8, {1, 2});
    CHECK(m.main().operators.size() == 31);
    CHECK(op_counts(m) == std::map<std::pair<std::string, int>, int>{{{"AVERAGE_POOL_2D", 2}, 1},
                                                                    {{"CONV_2D", 2}, 14},
                                                                    {{"DEPTHWISE_CONV_2D", 3}, 14},
                                                                    {{"RESHAPE", 1}, 1},
                                                                    {{"SOFTMAX", 2}, 1}});
    // The repaired tensors (Python walk): the bias of every DEPTHWISE_CONV_2D.
    const std::set<std::uint32_t> expected = {33, 36, 40, 44, 48, 52, 56, 60, 64, 68, 72, 76, 80, 84};
    REQUIRE(m.repairs.size() == 14);
    std::set<std::uint32_t> repaired;
    for (const auto& r : m.repairs) {
        CAPTURE(r.description);
        CHECK(r.subgraph == 0);
        repaired.insert(r.tensor);
        CHECK(r.description.find("quantized_dimension 3 -> 0 (rank 1") != std::string::npos);
        const auto& t = tensor_at(m, static_cast<std::int32_t>(r.tensor));
        CHECK(t.type == tensor_type::INT32);
        REQUIRE(t.shape.size() == 1);
        CHECK(t.quantization->quantized_dimension == 0);
        CHECK(t.quantization->params.axis == 0);
        CHECK(t.quantization->params.scales.size() == static_cast<std::size_t>(t.shape[0]));
    }
    CHECK(repaired == expected);
    std::set<std::uint32_t> depthwise_biases;
    for (const auto& o : m.main().operators)
        if (o.builtin_code == builtin_operator::DEPTHWISE_CONV_2D)
            depthwise_biases.insert(static_cast<std::uint32_t>(o.inputs.at(2)));
    CHECK(depthwise_biases == expected);

    // Option values (Python walk): operator 0 depthwise 3x3/2 with RELU6,
    // operator 27 the 3x3/2 VALID average pool, 30 the softmax.
    const auto& ops = m.main().operators;
    const auto& dw0 = ops[0].options_as<depthwise_conv_2d_options>();
    CHECK(dw0.padding == padding::SAME);
    CHECK(dw0.stride_w == 2);
    CHECK(dw0.stride_h == 2);
    CHECK(dw0.depth_multiplier == 8);
    CHECK(dw0.fused_activation_function == activation_function_type::RELU6);
    const auto& conv2 = ops[2].options_as<conv_2d_options>();
    CHECK(conv2.padding == padding::SAME);
    CHECK(conv2.stride_w == 1);
    CHECK(conv2.fused_activation_function == activation_function_type::RELU6);
    CHECK(conv2.quantized_bias_type == tensor_type::FLOAT32);  // not set
    const auto& pool = ops[27].options_as<pool_2d_options>();
    CHECK(ops[27].builtin_code == builtin_operator::AVERAGE_POOL_2D);
    CHECK(pool.padding == padding::VALID);
    CHECK(pool.stride_w == 2);
    CHECK(pool.stride_h == 2);
    CHECK(pool.filter_width == 3);
    CHECK(pool.filter_height == 3);
    CHECK(pool.fused_activation_function == activation_function_type::NONE);
    CHECK(ops[29].options_as<reshape_options>().new_shape == std::vector<std::int32_t>{1, 2});
    CHECK(ops[30].options_as<softmax_options>().beta == 1.0f);
}

TEST_CASE("mobilenet_v2: INT8[1,3,224,224] -> INT8[1,1000], 84 ops as the README lists them") {
    const auto m = read_shared("models/mobilenet_v2_quantized_1x3x224x224.tflite");
    CHECK(m.description == "TinyNeuralNetwork Converted.");
    check_io(input(m), tensor_type::INT8, {1, 3, 224, 224});
    check_io(output(m), tensor_type::INT8, {1, 1000});
    CHECK(input(m).quantization->params == qtl::quant_params{{0.018631115555763245f}, {-14}, -1, 0});
    CHECK(m.main().operators.size() == 84);
    // README: TRANSPOSE, PAD x18, CONV_2D v3 x35, DEPTHWISE_CONV_2D v3 x17,
    // ADD v2 x10, MEAN, RESHAPE, FULLY_CONNECTED v4; the versions of the
    // single ops from the Python walk.
    CHECK(op_counts(m) == std::map<std::pair<std::string, int>, int>{{{"TRANSPOSE", 2}, 1},
                                                                    {{"PAD", 2}, 18},
                                                                    {{"CONV_2D", 3}, 35},
                                                                    {{"DEPTHWISE_CONV_2D", 3}, 17},
                                                                    {{"ADD", 2}, 10},
                                                                    {{"MEAN", 2}, 1},
                                                                    {{"RESHAPE", 1}, 1},
                                                                    {{"FULLY_CONNECTED", 4}, 1}});
    CHECK(m.operator_codes.size() == 84);  // this converter writes one code per op
    const auto& ops = m.main().operators;
    CHECK(ops[0].builtin_code == builtin_operator::TRANSPOSE);
    CHECK(std::holds_alternative<transpose_options>(ops[0].options));
    CHECK(ops[1].builtin_code == builtin_operator::PAD);
    const auto& conv = ops[2].options_as<conv_2d_options>();  // after the explicit PAD: VALID
    CHECK(conv.padding == padding::VALID);
    CHECK(conv.stride_w == 2);
    CHECK(conv.stride_h == 2);
    CHECK(conv.fused_activation_function == activation_function_type::RELU6);
    CHECK(ops[81].builtin_code == builtin_operator::MEAN);
    CHECK(ops[81].options_as<reducer_options>().keep_dims);
    CHECK(ops[82].options_as<reshape_options>().new_shape == std::vector<std::int32_t>{1, 1280});
    const auto& fc = ops[83].options_as<fully_connected_options>();  // empty table: defaults
    CHECK(fc.fused_activation_function == activation_function_type::NONE);
    CHECK(!fc.keep_num_dims);
    for (const auto& o : ops)
        if (o.builtin_code == builtin_operator::ADD) {
            CHECK(o.options_as<add_options>().fused_activation_function == activation_function_type::NONE);
            CHECK(o.options_as<add_options>().pot_scale_int16);  // absent: default true
        }
    // Every weight of a CONV_2D is per-channel on axis 0 with zero points 0.
    for (const auto& o : ops)
        if (o.builtin_code == builtin_operator::CONV_2D) {
            const auto& w = tensor_at(m, o.inputs[1]);
            REQUIRE(w.is_quantized());
            CHECK(w.quantization->params.axis == 0);
            CHECK(w.quantization->params.scales.size() == static_cast<std::size_t>(w.shape[0]));
            CHECK(std::all_of(w.quantization->params.zero_points.begin(), w.quantization->params.zero_points.end(),
                              [](std::int32_t z) { return z == 0; }));
        }
}

TEST_CASE("seanet 16x8 models: I/O types and shapes from the README") {
    struct io {
        const char* name;
        std::vector<std::pair<tensor_type, qtl::shape>> inputs, outputs;
        const char* op;
        int version;  // Python walk
    };
    const auto i16 = tensor_type::INT16;
    const std::vector<io> models = {
        {"add0", {{i16, {1, 1, 5, 64}}, {i16, {1, 1, 5, 64}}}, {{i16, {1, 1, 5, 64}}}, "ADD", 2},
        {"add1", {{i16, {1, 3, 12, 64}}, {i16, {1, 3, 12, 64}}}, {{i16, {1, 3, 12, 64}}}, "ADD", 2},
        {"conv0", {{i16, {1, 8, 166, 2}}}, {{i16, {1, 2, 160, 8}}}, "CONV_2D", 3},
        {"conv1", {{i16, {1, 4, 162, 8}}}, {{i16, {1, 2, 160, 8}}}, "CONV_2D", 3},
        {"leaky_relu0", {{i16, {1, 2, 160, 8}}}, {{i16, {1, 2, 160, 8}}}, "LEAKY_RELU", 2},
        {"pad0", {{i16, {1, 2, 160, 2}}}, {{i16, {1, 2, 166, 2}}}, "PAD", 2},
        {"quantize0", {{tensor_type::INT32, {1, 2, 160, 2}}}, {{i16, {1, 2, 160, 2}}}, "QUANTIZE", 1},
        {"strided_slice0", {{i16, {1, 8, 166, 2}}}, {{i16, {1, 6, 166, 2}}}, "STRIDED_SLICE", 2},
        {"sub0", {{i16, {1, 2, 12, 64}}, {i16, {64}}}, {{i16, {1, 2, 12, 64}}}, "SUB", 2},
    };
    for (const auto& x : models) {
        CAPTURE(x.name);
        const auto m = read_shared(std::string("models/seanet/") + x.name + ".tflite");
        REQUIRE(m.main().inputs.size() == x.inputs.size());
        REQUIRE(m.main().outputs.size() == x.outputs.size());
        for (std::size_t i = 0; i < x.inputs.size(); ++i) check_io(input(m, i), x.inputs[i].first, x.inputs[i].second);
        for (std::size_t i = 0; i < x.outputs.size(); ++i)
            check_io(output(m, i), x.outputs[i].first, x.outputs[i].second);
        REQUIRE(m.main().operators.size() == 1);
        CHECK(describe(m.main().operators[0].builtin_code) == x.op);
        CHECK(m.main().operators[0].version == x.version);
        // 16x8: int16 activations are symmetric (zero point 0, DESIGN.md 3).
        for (const auto& t : m.main().tensors)
            if (t.type == i16) {
                REQUIRE(t.is_quantized());
                CHECK(t.quantization->params.zero_points == std::vector<std::int32_t>{0});
            }
        // These files use builtin_code (not only the deprecated byte): both agree.
        CHECK(static_cast<int>(m.operator_codes[0].deprecated_builtin_code) ==
              static_cast<int>(m.operator_codes[0].builtin_code));
    }
}

TEST_CASE("seanet conv0/conv1: CONV_2D options, int8 per-channel weights, int64 bias") {
    for (const char* name : {"conv0", "conv1"}) {
        CAPTURE(name);
        const auto m = read_shared(std::string("models/seanet/") + name + ".tflite");
        const auto& o = m.main().operators[0];
        // Python walk: padding 1 (VALID), stride 1x1, no activation, no dilation fields.
        const auto& c = o.options_as<conv_2d_options>();
        CHECK(c.padding == padding::VALID);
        CHECK(c.stride_w == 1);
        CHECK(c.stride_h == 1);
        CHECK(c.dilation_w_factor == 1);
        CHECK(c.dilation_h_factor == 1);
        CHECK(c.fused_activation_function == activation_function_type::NONE);
        REQUIRE(o.inputs.size() == 3);
        const auto& w = tensor_at(m, o.inputs[1]);
        const auto& b = tensor_at(m, o.inputs[2]);
        CHECK(w.type == tensor_type::INT8);
        CHECK(b.type == tensor_type::INT64);
        CHECK(w.quantization->params.axis == 0);
        CHECK(w.quantization->params.scales.size() == 8);
        CHECK(b.shape == qtl::shape{8});
        // Bias scale[c] = input scale * weight scale[c].
        const float in_scale = input(m).quantization->params.scales[0];
        for (std::size_t ch = 0; ch < 8; ++ch)
            CHECK(b.quantization->params.scales[ch] ==
                  doctest::Approx(in_scale * w.quantization->params.scales[ch]).epsilon(1e-6));
    }
    const auto m = read_shared("models/seanet/conv0.tflite");
    const auto& o = m.main().operators[0];
    const auto& w = tensor_at(m, o.inputs[1]);
    const auto& b = tensor_at(m, o.inputs[2]);
    // Python walk: weights [8, 7, 7, 2] (784 bytes), first scales, bias values.
    CHECK(w.shape == qtl::shape{8, 7, 7, 2});
    CHECK(m.data_of(w).size() == 784);
    CHECK(w.quantization->params.scales[0] == 0.00938112847507f);
    CHECK(w.quantization->params.scales[1] == 0.013202056288719177f);
    CHECK(b.quantization->params.scales[0] == 8.266889381047804e-06f);
    CHECK(values<std::int64_t>(m, b) == std::vector<std::int64_t>{-34, -10, -16, -11, -20, -14, -28, -24});
}

TEST_CASE("seanet add/sub/leaky_relu/pad/strided_slice/quantize: decoded options and constant inputs") {
    for (const char* name : {"add0", "add1"}) {
        CAPTURE(name);
        const auto m = read_shared(std::string("models/seanet/") + name + ".tflite");
        const auto& a = m.main().operators[0].options_as<add_options>();
        CHECK(a.fused_activation_function == activation_function_type::NONE);
        CHECK(!a.pot_scale_int16);  // Python walk: the field is stored as 0
    }
    {
        const auto m = read_shared("models/seanet/sub0.tflite");
        const auto& s = m.main().operators[0].options_as<sub_options>();
        CHECK(s.fused_activation_function == activation_function_type::NONE);
        CHECK(!s.pot_scale_int16);
        CHECK(m.data_of(input(m, 1)).empty());  // the [64] operand is a runtime input
    }
    {
        const auto m = read_shared("models/seanet/leaky_relu0.tflite");
        CHECK(m.main().operators[0].options_as<leaky_relu_options>().alpha == 0.3f);
    }
    {
        const auto m = read_shared("models/seanet/pad0.tflite");
        const auto& o = m.main().operators[0];
        CHECK(o.options_type == builtin_options_type::PadOptions);
        CHECK(std::holds_alternative<pad_options>(o.options));
        const auto& paddings = tensor_at(m, o.inputs[1]);
        CHECK(paddings.type == tensor_type::INT32);
        CHECK(paddings.shape == qtl::shape{4, 2});
        CHECK(!paddings.is_quantized());
        // [1,2,160,2] -> [1,2,166,2]: 3 before and after on axis 2.
        CHECK(values<std::int32_t>(m, paddings) == std::vector<std::int32_t>{0, 0, 0, 0, 3, 3, 0, 0});
    }
    {
        const auto m = read_shared("models/seanet/strided_slice0.tflite");
        const auto& o = m.main().operators[0];
        const auto& s = o.options_as<strided_slice_options>();
        CHECK(s.begin_mask == 13);  // Python walk
        CHECK(s.end_mask == 15);
        CHECK(s.ellipsis_mask == 0);
        CHECK(s.new_axis_mask == 0);
        CHECK(s.shrink_axis_mask == 0);
        CHECK(!s.offset);
        REQUIRE(o.inputs.size() == 4);
        CHECK(values<std::int32_t>(m, tensor_at(m, o.inputs[1])) == std::vector<std::int32_t>{0, -6, 0, 0});
        CHECK(values<std::int32_t>(m, tensor_at(m, o.inputs[2])) == std::vector<std::int32_t>{0, 0, 0, 2});
        CHECK(values<std::int32_t>(m, tensor_at(m, o.inputs[3])) == std::vector<std::int32_t>{1, 1, 1, 1});
    }
    {
        const auto m = read_shared("models/seanet/quantize0.tflite");
        const auto& o = m.main().operators[0];
        CHECK(o.options_type == builtin_options_type::NONE);  // the file stores no options table
        CHECK(std::holds_alternative<quantize_options>(o.options));
        CHECK(input(m).quantization->params.scales == std::vector<float>{1.4901161193847656e-07f});
        CHECK(output(m).quantization->params.scales == std::vector<float>{0.0009219714556820691f});
    }
}

TEST_CASE("read_model: bytes at any alignment and the path API give the same model") {
    const auto bytes = shared_bytes("models/micro_speech_quantized.tflite");
    std::vector<std::uint8_t> shifted(bytes.size() + 3);
    std::memcpy(shifted.data() + 3, bytes.data(), bytes.size());
    const auto a = read_model(std::span<const std::uint8_t>(shifted).subspan(3));
    const auto b = read_shared("models/micro_speech_quantized.tflite");
    REQUIRE(a.main().tensors.size() == b.main().tensors.size());
    for (std::size_t i = 0; i < a.main().tensors.size(); ++i) {
        CAPTURE(i);
        CHECK(a.main().tensors[i].name == b.main().tensors[i].name);
        CHECK(a.main().tensors[i].shape == b.main().tensors[i].shape);
        CHECK(a.main().tensors[i].quantization == b.main().tensors[i].quantization);
        CHECK(std::ranges::equal(a.data_of(a.main().tensors[i]), b.data_of(b.main().tensors[i])));
    }
    CHECK_THROWS_WITH_AS(read_model(std::filesystem::path("/nonexistent/model.tflite")),
                         "/nonexistent/model.tflite: cannot open the file", qtl::error);
}
