// Operator versions and minimum runtime versions (qtl/io/tflite/op_versions.hpp).
//
// Oracles:
//  * the versions TensorFlow's converter wrote into ../shared/models (and the
//    min_runtime_version metadata of the files that have it);
//  * for signatures the files do not cover, and where a file disagrees with
//    TFLite's own rule, the version worked out by hand from TFLite's
//    GetBuiltinOperatorVersion (tensorflow/compiler/mlir/lite/tools/versioning/
//    op_version.cc) and the runtime table of runtime_version.cc (same folder),
//    quoted in the comments;
//  * where a file holds another version than the rule, the comment says which
//    TFLite tool wrote it (tensorflow/lite/tools/optimize/operator_property.cc
//    and model_utils.cc) and why that differs from the rule.
#include <doctest/doctest.h>

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "qtl/io/tflite/op_versions.hpp"
#include "qtl/io/tflite/reader.hpp"
#include "qtl/io/tflite/writer.hpp"
#include "support/shared_data.hpp"

using namespace qtl::tflite;
using B = builtin_operator;
using T = tensor_type;

namespace {

model read_shared(const std::string& relative, bool repair = false) {
    read_options options;
    options.repair_quantized_dimension = repair;
    return read_model(qtl::test::shared_file(relative), options);
}

std::string metadata_string(const model& m) {
    const auto bytes = m.metadata_bytes("min_runtime_version");
    REQUIRE(bytes.has_value());
    std::string s(bytes->begin(), bytes->end());
    return s.substr(0, s.find('\0'));
}

// (op name, version written in the file, minimum_op_version) -> count.
using tally = std::map<std::tuple<std::string, int, int>, int>;

tally versions_of(const model& m) {
    tally t;
    const auto& g = m.main();
    for (const auto& o : g.operators) ++t[{describe(o.builtin_code), o.version, minimum_op_version(m, g, o)}];
    return t;
}

// A one-subgraph model built by hand.
struct mini {
    model m;
    mini() {
        m.buffers.emplace_back();
        m.subgraphs.emplace_back();
    }
    subgraph& g() { return m.subgraphs[0]; }

    // scales == 0: no quantization; 1: per tensor; n: per axis along `axis`.
    std::int32_t tensor_of(T type, qtl::shape s, std::size_t scales = 0, std::int32_t axis = 0, float scale = 0.5f) {
        tensor t;
        t.name = "t" + std::to_string(g().tensors.size());
        t.type = type;
        t.shape = std::move(s);
        if (scales > 0) {
            quantization q;
            q.scale.assign(scales, scale);
            q.zero_point.assign(scales, 0);
            q.quantized_dimension = axis;
            q.params.scales = q.scale;
            q.params.zero_points.assign(scales, 0);
            q.params.axis = scales > 1 ? axis : -1;
            t.quantization = std::move(q);
        }
        g().tensors.push_back(std::move(t));
        return static_cast<std::int32_t>(g().tensors.size() - 1);
    }

    // Adds an op, sharing the first operator code of the same builtin (version 1).
    std::size_t op_of(B code, std::vector<std::int32_t> in, std::vector<std::int32_t> out, builtin_options opts = {}) {
        std::uint32_t index = 0;
        while (index < m.operator_codes.size() && m.operator_codes[index].builtin_code != code) ++index;
        if (index == m.operator_codes.size()) {
            operator_code c;
            c.builtin_code = code;
            m.operator_codes.push_back(c);
        }
        op o;
        o.opcode_index = index;
        o.builtin_code = code;
        o.version = m.operator_codes[index].version;
        o.inputs = std::move(in);
        o.outputs = std::move(out);
        o.options = std::move(opts);
        g().operators.push_back(std::move(o));
        return g().operators.size() - 1;
    }

    int version(std::size_t i) { return minimum_op_version(m, g(), g().operators.at(i)); }
};

// An op `code` with inputs of the given (type, shape, scales, axis) and one output.
struct spec {
    T type;
    qtl::shape shape;
    std::size_t scales = 0;
    std::int32_t axis = 0;
};
int version_of(B code, const std::vector<spec>& ins, const spec& out, builtin_options opts = {}) {
    mini x;
    std::vector<std::int32_t> in;
    for (const auto& s : ins) in.push_back(x.tensor_of(s.type, s.shape, s.scales, s.axis));
    const auto o = x.tensor_of(out.type, out.shape, out.scales, out.axis);
    const auto i = x.op_of(code, in, {o}, std::move(opts));
    return x.version(i);
}

}  // namespace

// ---- the converter's files ------------------------------------------------------

TEST_CASE("op versions: models whose versions TFLite's converter derived from the same rules") {
    // Every op here has the version the rule gives (file version == minimum).
    const char* files[] = {"models/hello_world_float.tflite", "models/hello_world_int8.tflite",
                           "models/micro_speech_quantized.tflite",
                           "models/mobilenet_v2_quantized_1x3x224x224.tflite"};
    const std::size_t op_counts[] = {3, 3, 4, 84};
    for (std::size_t f = 0; f < 4; ++f) {
        CAPTURE(files[f]);
        const auto m = read_shared(files[f]);
        const auto& g = m.main();
        REQUIRE(g.operators.size() == op_counts[f]);
        for (std::size_t i = 0; i < g.operators.size(); ++i) {
            CAPTURE(i);
            CAPTURE(describe(g.operators[i].builtin_code));
            CHECK(minimum_op_version(m, g, g.operators[i]) == g.operators[i].version);
        }
    }
    // The versions themselves (README of ../shared/models): float FC 1, int8 FC 4,
    // int8 per-channel DW 3, int8 SOFTMAX 2, RESHAPE 1, int8 CONV 3, ADD 2,
    // PAD 2, TRANSPOSE 2, MEAN 2.
    const auto mobilenet = versions_of(read_shared("models/mobilenet_v2_quantized_1x3x224x224.tflite"));
    const tally expected = {{{"TRANSPOSE", 2, 2}, 1}, {{"PAD", 2, 2}, 18},      {{"CONV_2D", 3, 3}, 35},
                            {{"DEPTHWISE_CONV_2D", 3, 3}, 17}, {{"ADD", 2, 2}, 10}, {{"MEAN", 2, 2}, 1},
                            {{"RESHAPE", 1, 1}, 1},    {{"FULLY_CONNECTED", 4, 4}, 1}};
    CHECK(mobilenet == expected);
    const auto float_fc = versions_of(read_shared("models/hello_world_float.tflite"));
    CHECK(float_fc == tally{{{"FULLY_CONNECTED", 1, 1}, 3}});
    const auto int8_fc = versions_of(read_shared("models/hello_world_int8.tflite"));
    CHECK(int8_fc == tally{{{"FULLY_CONNECTED", 4, 4}, 3}});
}

TEST_CASE("op versions: person_detect's CONV_2D was written by the 2019 quantizer at v2") {
    const auto m = read_shared("models/person_detect.tflite", /*repair=*/true);
    // int8 activations, int8 per-channel weights, int8 output: op_version.cc's
    // CONV_2D rule "int8 / int8 / int8 -> 3".  The file says 2: the early
    // post-training quantizer (operator_property.cc of 2019) set CONV_2D's
    // quantized version to 2 (DEPTHWISE_CONV_2D 3, FULLY_CONNECTED 4), and
    // nothing re-derived it.  Today's operator_property.cc says 3 for CONV_2D,
    // as op_version.cc does.  Every other op matches.
    const tally expected = {{{"CONV_2D", 2, 3}, 14},
                            {{"DEPTHWISE_CONV_2D", 3, 3}, 14},
                            {{"AVERAGE_POOL_2D", 2, 2}, 1},
                            {{"RESHAPE", 1, 1}, 1},
                            {{"SOFTMAX", 2, 2}, 1}};
    CHECK(versions_of(m) == expected);
    const auto& g = m.main();
    CHECK(g.operators.size() == 31);
}

TEST_CASE("op versions: seanet 16x8 files carry the quantizer's fixed versions") {
    // These files were versioned by the post-training quantizer alone: each
    // quantized op gets operator_property.cc's fixed version (ADD 2, SUB 2,
    // PAD 2, LEAKY_RELU 2, STRIDED_SLICE 2, CONV_2D 3) whatever the activation
    // type, the QUANTIZE it inserts is created at v1 (model_utils.cc,
    // MakeQuantizeOperator).  They have no min_runtime_version metadata,
    // consistent with UpdateOpVersion / UpdateMinimumRuntimeVersionForModel
    // never having run on them.
    // op_version.cc's rules for the same signatures:
    struct row {
        const char* file;
        const char* op;
        int file_version;
        int rule;
        const char* why;
    };
    const row rows[] = {
        {"add0", "ADD", 2, 3, "int16 in/out, pot_scale_int16 = false -> 3"},
        {"add1", "ADD", 2, 3, "int16 in/out, pot_scale_int16 = false -> 3"},
        {"sub0", "SUB", 2, 5, "int16 in/out, pot_scale_int16 = false -> 5 (broadcast rank 4 is not > 4)"},
        {"conv0", "CONV_2D", 3, 1, "int16 / int8 / int16 without quantized_bias_type matches no rule -> 1"},
        {"conv1", "CONV_2D", 3, 1, "int16 / int8 / int16 without quantized_bias_type matches no rule -> 1"},
        {"leaky_relu0", "LEAKY_RELU", 2, 2, "int16 input -> 2"},
        {"pad0", "PAD", 2, 3, "int16 input, rank 4 -> 3"},
        {"quantize0", "QUANTIZE", 1, 2, "per-tensor int16 output -> 2"},
        {"strided_slice0", "STRIDED_SLICE", 2, 1, "int16 input has no rule (only int8 -> 2) -> 1"},
    };
    for (const auto& r : rows) {
        CAPTURE(r.file);
        CAPTURE(r.why);
        const auto m = read_shared(std::string("models/seanet/") + r.file + ".tflite");
        CHECK_FALSE(m.metadata_bytes("min_runtime_version").has_value());
        const auto& g = m.main();
        REQUIRE(g.operators.size() == 1);
        const auto& o = g.operators[0];
        CHECK(describe(o.builtin_code) == r.op);
        CHECK(o.version == r.file_version);
        CHECK(minimum_op_version(m, g, o) == r.rule);
    }
}

TEST_CASE("op versions: assign_op_versions keeps the converter's versions where they are the rule's") {
    auto m = read_shared("models/mobilenet_v2_quantized_1x3x224x224.tflite");
    const auto before = m.operator_codes;
    assign_op_versions(m);
    REQUIRE(m.operator_codes.size() == before.size());
    for (std::size_t i = 0; i < before.size(); ++i) CHECK(m.operator_codes[i].version == before[i].version);

    // person_detect: its 14 CONV_2D share one code, raised from 2 to 3.
    auto p = read_shared("models/person_detect.tflite", true);
    assign_op_versions(p);
    for (const auto& o : p.main().operators) {
        CHECK(o.version == p.operator_codes[o.opcode_index].version);
        if (o.builtin_code == B::CONV_2D) CHECK(o.version == 3);
    }
    CHECK(p.operator_codes.size() == 5);  // no split needed
}

// ---- runtime versions ---------------------------------------------------------------

TEST_CASE("op versions: minimum runtime version of the converter's files") {
    // The metadata TFLite wrote is the oracle where it is consistent with the
    // file's own op versions.
    const auto hello_float = read_shared("models/hello_world_float.tflite");
    CHECK(metadata_string(hello_float) == "1.5.0");
    CHECK(minimum_runtime_version(hello_float) == "1.5.0");
    const auto hello_int8 = read_shared("models/hello_world_int8.tflite");
    CHECK(metadata_string(hello_int8) == "1.14.0");
    CHECK(minimum_runtime_version(hello_int8) == "1.14.0");

    // micro_speech says "1.5.0" although it holds FULLY_CONNECTED v4, which
    // runtime_version.cc maps to "1.14.0" (as DEPTHWISE_CONV_2D v3 and
    // SOFTMAX v2): its metadata was not derived from that table, so the
    // table's answer is the expected one.
    const auto micro = read_shared("models/micro_speech_quantized.tflite");
    CHECK(metadata_string(micro) == "1.5.0");
    CHECK(minimum_runtime_version(micro) == "1.14.0");

    // mobilenet (no metadata): TRANSPOSE 2, PAD 2, CONV_2D 3, DW 3, ADD 2,
    // MEAN 2, FC 4 -> "1.14.0"; RESHAPE 1 -> "1.5.0".
    CHECK(minimum_runtime_version(read_shared("models/mobilenet_v2_quantized_1x3x224x224.tflite")) == "1.14.0");

    // seanet after re-versioning: SUB v5 -> "2.4.0", ADD v3 -> "2.4.0",
    // PAD v3 -> "2.4.0", LEAKY_RELU v2 -> "2.3.0", QUANTIZE v2 -> "1.15.0".
    const std::pair<const char*, const char*> seanet[] = {
        {"sub0", "2.4.0"}, {"add0", "2.4.0"}, {"pad0", "2.4.0"}, {"leaky_relu0", "2.3.0"}, {"quantize0", "1.15.0"}};
    for (const auto& [file, runtime] : seanet) {
        CAPTURE(file);
        auto m = read_shared(std::string("models/seanet/") + file + ".tflite");
        assign_op_versions(m);
        CHECK(minimum_runtime_version(m) == runtime);
    }
}

TEST_CASE("op versions: runtime table entries") {
    // Straight from runtime_version.cc.
    CHECK(minimum_runtime_version(B::CONV_2D, 1) == "1.5.0");
    CHECK(minimum_runtime_version(B::CONV_2D, 3) == "1.14.0");
    CHECK(minimum_runtime_version(B::CONV_2D, 7) == "2.11.0");
    CHECK(minimum_runtime_version(B::CONV_2D, 8) == "2.15.0");
    CHECK(minimum_runtime_version(B::DEPTHWISE_CONV_2D, 2) == "1.12.0");
    CHECK(minimum_runtime_version(B::FULLY_CONNECTED, 9) == "2.3.0");
    CHECK(minimum_runtime_version(B::FULLY_CONNECTED, 10) == "2.11.0");
    CHECK(minimum_runtime_version(B::FULLY_CONNECTED, 12) == "2.17.0");
    CHECK(minimum_runtime_version(B::ADD, 3) == "2.4.0");
    CHECK(minimum_runtime_version(B::SUB, 1) == "1.6.0");
    CHECK(minimum_runtime_version(B::LEAKY_RELU, 1) == "1.13.1");
    CHECK(minimum_runtime_version(B::HARD_SWISH, 1) == "1.15.0");
    CHECK(minimum_runtime_version(B::EXPAND_DIMS, 1) == "1.10.0");
    CHECK(minimum_runtime_version(B::TRANSPOSE, 7) == "2.14.4");
    CHECK(minimum_runtime_version(B::QUANTIZE, 2) == "1.15.0");
    CHECK(minimum_runtime_version(B::DEQUANTIZE, 6) == "2.18.0");
    CHECK(minimum_runtime_version(B::CAST, 3) == "2.8.0");
    // No entry: versions TFLite does not list, ops qtl has no table for, CUSTOM.
    CHECK(minimum_runtime_version(B::RESHAPE, 2).empty());
    CHECK(minimum_runtime_version(B::MEAN, 4).empty());
    CHECK(minimum_runtime_version(B::CONV_2D, 9).empty());
    CHECK(minimum_runtime_version(B::GATHER, 1).empty());
    CHECK(minimum_runtime_version(B::CUSTOM, 1).empty());
}

TEST_CASE("op versions: runtime versions compare numerically") {
    CHECK(compare_runtime_versions("2.11.0", "2.3.0") > 0);
    CHECK(compare_runtime_versions("1.14.0", "1.5.0") > 0);
    CHECK(compare_runtime_versions("1.13.1", "1.14.0") < 0);
    CHECK(compare_runtime_versions("2.3.0", "2.3.0") == 0);
    CHECK(compare_runtime_versions("2.3", "2.3.0") < 0);  // a prefix is older (TFLite's CompareRuntimeVersion)
    CHECK_THROWS_AS((void)compare_runtime_versions("2.x.0", "2.3.0"), qtl::error);
    CHECK_THROWS_AS((void)compare_runtime_versions("", "2.3.0"), qtl::error);
    CHECK_THROWS_AS((void)compare_runtime_versions("2..0", "2.3.0"), qtl::error);

    // A model whose ops need "1.5.0" (RESHAPE v1), "2.3.0" (LEAKY_RELU v2) and
    // "2.11.0" (CONV_2D v7): a string comparison would pick "2.3.0".
    mini x;
    const auto a = x.tensor_of(T::INT16, {1, 4});
    const auto b = x.tensor_of(T::INT16, {1, 4});
    x.op_of(B::LEAKY_RELU, {a}, {b});
    x.m.operator_codes.back().version = 2;
    x.op_of(B::RESHAPE, {a}, {b});
    x.op_of(B::CONV_2D, {a}, {b});
    x.m.operator_codes.back().version = 7;
    CHECK(minimum_runtime_version(x.m) == "2.11.0");
    // A custom op and an op without a table entry are skipped.
    operator_code custom;
    custom.builtin_code = B::CUSTOM;
    custom.custom_code = "MyOp";
    x.m.operator_codes.push_back(custom);
    op o;
    o.opcode_index = static_cast<std::uint32_t>(x.m.operator_codes.size() - 1);
    o.builtin_code = B::CUSTOM;
    o.inputs = {a};
    o.outputs = {b};
    x.g().operators.push_back(o);
    CHECK(minimum_runtime_version(x.m) == "2.11.0");

    // Nothing known: "" and assign_min_runtime_version writes nothing.
    mini y;
    const auto c = y.tensor_of(T::FLOAT32, {2});
    y.op_of(B::GATHER, {c, c}, {c});
    CHECK(minimum_runtime_version(y.m).empty());
    CHECK(assign_min_runtime_version(y.m).empty());
    CHECK_FALSE(y.m.metadata_bytes("min_runtime_version").has_value());
}

// ---- hand-built signatures ----------------------------------------------------------

TEST_CASE("op versions: FULLY_CONNECTED signatures") {
    const builtin_options plain = fully_connected_options{};
    fully_connected_options keep;
    keep.keep_num_dims = true;
    fully_connected_options asym;
    asym.asymmetric_quantize_inputs = true;
    fully_connected_options bias_type;
    bias_type.quantized_bias_type = T::INT32;

    // op_version.cc FULLY_CONNECTED, rules in order:
    // float -> 1
    CHECK(version_of(B::FULLY_CONNECTED, {{T::FLOAT32, {1, 8}}, {T::FLOAT32, {4, 8}}, {T::FLOAT32, {4}}},
                     {T::FLOAT32, {1, 4}}, plain) == 1);
    // int8 / int8 / int8 (bias present) -> 4
    CHECK(version_of(B::FULLY_CONNECTED, {{T::INT8, {1, 8}, 1}, {T::INT8, {4, 8}, 1}, {T::INT32, {4}, 1}},
                     {T::INT8, {1, 4}, 1}, plain) == 4);
    // int8 / int4 / int8 -> 10
    CHECK(version_of(B::FULLY_CONNECTED, {{T::INT8, {1, 8}, 1}, {T::INT4, {4, 8}, 4}, {T::INT32, {4}, 4}},
                     {T::INT8, {1, 4}, 1}, plain) == 10);
    // keep_num_dims is tested before the types: int4 with keep_num_dims -> 5
    CHECK(version_of(B::FULLY_CONNECTED, {{T::INT8, {1, 8}, 1}, {T::INT4, {4, 8}, 4}, {T::INT32, {4}, 4}},
                     {T::INT8, {1, 4}, 1}, keep) == 5);
    // two inputs (no bias slot) -> 6, even for int8
    CHECK(version_of(B::FULLY_CONNECTED, {{T::INT8, {1, 8}, 1}, {T::INT8, {4, 8}, 1}}, {T::INT8, {1, 4}, 1},
                     plain) == 6);
    // a bias slot holding -1 is still three inputs -> 4
    {
        mini x;
        const auto in = x.tensor_of(T::INT8, {1, 8}, 1);
        const auto w = x.tensor_of(T::INT8, {4, 8}, 1);
        const auto out = x.tensor_of(T::INT8, {1, 4}, 1);
        CHECK(x.version(x.op_of(B::FULLY_CONNECTED, {in, w, -1}, {out}, plain)) == 4);
    }
    // 16x8 (int16 / int8 / int16): no rule without quantized_bias_type -> 1; with it -> 11
    CHECK(version_of(B::FULLY_CONNECTED, {{T::INT16, {1, 8}, 1}, {T::INT8, {4, 8}, 1}, {T::INT64, {4}, 1}},
                     {T::INT16, {1, 4}, 1}, plain) == 1);
    CHECK(version_of(B::FULLY_CONNECTED, {{T::INT16, {1, 8}, 1}, {T::INT8, {4, 8}, 1}, {T::INT32, {4}, 1}},
                     {T::INT16, {1, 4}, 1}, bias_type) == 11);
    // int16 weights -> 7; int16 / int4 / int16 -> 13
    CHECK(version_of(B::FULLY_CONNECTED, {{T::INT16, {1, 8}, 1}, {T::INT16, {4, 8}, 1}, {T::INT64, {4}, 1}},
                     {T::INT16, {1, 4}, 1}, plain) == 7);
    CHECK(version_of(B::FULLY_CONNECTED, {{T::INT16, {1, 8}, 1}, {T::INT4, {4, 8}, 4}, {T::INT64, {4}, 4}},
                     {T::INT16, {1, 4}, 1}, plain) == 13);
    // hybrid (float / int8 / float): per-tensor weights -> 3, asymmetric inputs -> 9,
    // one scale per output row (scale count == weights.shape[0]) -> 12
    CHECK(version_of(B::FULLY_CONNECTED, {{T::FLOAT32, {1, 8}}, {T::INT8, {4, 8}, 1}, {T::FLOAT32, {4}}},
                     {T::FLOAT32, {1, 4}}, plain) == 3);
    CHECK(version_of(B::FULLY_CONNECTED, {{T::FLOAT32, {1, 8}}, {T::INT8, {4, 8}, 1}, {T::FLOAT32, {4}}},
                     {T::FLOAT32, {1, 4}}, asym) == 9);
    CHECK(version_of(B::FULLY_CONNECTED, {{T::FLOAT32, {1, 8}}, {T::INT8, {4, 8}, 4}, {T::FLOAT32, {4}}},
                     {T::FLOAT32, {1, 4}}, asym) == 12);
    // ... and a single output row with its single scale counts as per-channel too
    CHECK(version_of(B::FULLY_CONNECTED, {{T::FLOAT32, {1, 8}}, {T::INT8, {1, 8}, 1}, {T::FLOAT32, {1}}},
                     {T::FLOAT32, {1, 1}}, plain) == 12);
    // shuffled weights (float / uint8 path) -> 2
    fully_connected_options shuffled;
    shuffled.weights_format = fully_connected_options_weights_format::SHUFFLED4x16INT8;
    CHECK(version_of(B::FULLY_CONNECTED, {{T::UINT8, {1, 16}, 1}, {T::UINT8, {4, 16}, 1}, {T::INT32, {4}, 1}},
                     {T::UINT8, {1, 4}, 1}, shuffled) == 2);
}

TEST_CASE("op versions: CONV_2D and DEPTHWISE_CONV_2D signatures") {
    const builtin_options conv = conv_2d_options{};
    conv_2d_options conv_bias;
    conv_bias.quantized_bias_type = T::INT32;
    // op_version.cc CONV_2D: int8/int8/int8 -> 3, int8/int4/int8 -> 7,
    // hybrid -> 2 (5 per-channel), int16/int16/int16 -> 4, 16x8 -> 1 (8 with
    // quantized_bias_type), grouped (input depth != filter depth) -> 6, float -> 1.
    CHECK(version_of(B::CONV_2D, {{T::INT8, {1, 5, 5, 3}, 1}, {T::INT8, {4, 3, 3, 3}, 4}, {T::INT32, {4}, 4}},
                     {T::INT8, {1, 3, 3, 4}, 1}, conv) == 3);
    CHECK(version_of(B::CONV_2D, {{T::INT8, {1, 5, 5, 3}, 1}, {T::INT4, {4, 3, 3, 3}, 4}, {T::INT32, {4}, 4}},
                     {T::INT8, {1, 3, 3, 4}, 1}, conv) == 7);
    CHECK(version_of(B::CONV_2D, {{T::FLOAT32, {1, 5, 5, 3}}, {T::INT8, {4, 3, 3, 3}, 1}, {T::FLOAT32, {4}}},
                     {T::FLOAT32, {1, 3, 3, 4}}, conv) == 2);
    CHECK(version_of(B::CONV_2D, {{T::FLOAT32, {1, 5, 5, 3}}, {T::INT8, {4, 3, 3, 3}, 4}, {T::FLOAT32, {4}}},
                     {T::FLOAT32, {1, 3, 3, 4}}, conv) == 5);
    CHECK(version_of(B::CONV_2D, {{T::INT16, {1, 5, 5, 3}, 1}, {T::INT16, {4, 3, 3, 3}, 4}, {T::INT64, {4}, 4}},
                     {T::INT16, {1, 3, 3, 4}, 1}, conv) == 4);
    CHECK(version_of(B::CONV_2D, {{T::INT16, {1, 5, 5, 3}, 1}, {T::INT8, {4, 3, 3, 3}, 4}, {T::INT64, {4}, 4}},
                     {T::INT16, {1, 3, 3, 4}, 1}, conv) == 1);
    CHECK(version_of(B::CONV_2D, {{T::INT16, {1, 5, 5, 3}, 1}, {T::INT8, {4, 3, 3, 3}, 4}, {T::INT32, {4}, 4}},
                     {T::INT16, {1, 3, 3, 4}, 1}, conv_bias) == 8);
    CHECK(version_of(B::CONV_2D, {{T::INT8, {1, 5, 5, 6}, 1}, {T::INT8, {4, 3, 3, 3}, 4}, {T::INT32, {4}, 4}},
                     {T::INT8, {1, 3, 3, 4}, 1}, conv) == 6);
    CHECK(version_of(B::CONV_2D, {{T::FLOAT32, {1, 5, 5, 3}}, {T::FLOAT32, {4, 3, 3, 3}}, {T::FLOAT32, {4}}},
                     {T::FLOAT32, {1, 3, 3, 4}}, conv) == 1);

    // DEPTHWISE_CONV_2D: int8 -> 3, int8/int4 -> 7, hybrid -> 4 (6 when the
    // scale count equals filter.shape[3]), int16 weights -> 5, dilation -> 2,
    // float and 16x8 -> 1.
    const builtin_options dw = depthwise_conv_2d_options{};
    depthwise_conv_2d_options dilated;
    dilated.dilation_h_factor = 2;
    CHECK(version_of(B::DEPTHWISE_CONV_2D, {{T::INT8, {1, 5, 5, 4}, 1}, {T::INT8, {1, 3, 3, 4}, 4, 3},
                                            {T::INT32, {4}, 4}},
                     {T::INT8, {1, 3, 3, 4}, 1}, dw) == 3);
    CHECK(version_of(B::DEPTHWISE_CONV_2D, {{T::INT8, {1, 5, 5, 4}, 1}, {T::INT4, {1, 3, 3, 4}, 4, 3},
                                            {T::INT32, {4}, 4}},
                     {T::INT8, {1, 3, 3, 4}, 1}, dw) == 7);
    CHECK(version_of(B::DEPTHWISE_CONV_2D, {{T::FLOAT32, {1, 5, 5, 4}}, {T::INT8, {1, 3, 3, 4}, 1},
                                            {T::FLOAT32, {4}}},
                     {T::FLOAT32, {1, 3, 3, 4}}, dw) == 4);
    CHECK(version_of(B::DEPTHWISE_CONV_2D, {{T::FLOAT32, {1, 5, 5, 4}}, {T::INT8, {1, 3, 3, 4}, 4, 3},
                                            {T::FLOAT32, {4}}},
                     {T::FLOAT32, {1, 3, 3, 4}}, dw) == 6);
    CHECK(version_of(B::DEPTHWISE_CONV_2D, {{T::INT16, {1, 5, 5, 4}, 1}, {T::INT16, {1, 3, 3, 4}, 4, 3},
                                            {T::INT64, {4}, 4}},
                     {T::INT16, {1, 3, 3, 4}, 1}, dw) == 5);
    CHECK(version_of(B::DEPTHWISE_CONV_2D, {{T::INT16, {1, 5, 5, 4}, 1}, {T::INT8, {1, 3, 3, 4}, 4, 3},
                                            {T::INT64, {4}, 4}},
                     {T::INT16, {1, 3, 3, 4}, 1}, dw) == 1);
    CHECK(version_of(B::DEPTHWISE_CONV_2D, {{T::INT16, {1, 5, 5, 4}, 1}, {T::INT8, {1, 3, 3, 4}, 4, 3},
                                            {T::INT64, {4}, 4}},
                     {T::INT16, {1, 1, 3, 4}, 1}, dilated) == 2);
    CHECK(version_of(B::DEPTHWISE_CONV_2D, {{T::FLOAT32, {1, 5, 5, 4}}, {T::FLOAT32, {1, 3, 3, 4}},
                                            {T::FLOAT32, {4}}},
                     {T::FLOAT32, {1, 3, 3, 4}}, dw) == 1);
}

TEST_CASE("op versions: ADD, SUB, MUL signatures") {
    add_options general;
    general.pot_scale_int16 = false;
    const builtin_options pot = add_options{};
    // ADD: int8 -> 2; 16x8 general scales -> 3, power-of-two scales -> 1;
    // unquantized int16 -> 5; int64 -> 4; float16 -> 6; float -> 1.
    CHECK(version_of(B::ADD, {{T::INT8, {1, 4}, 1}, {T::INT8, {1, 4}, 1}}, {T::INT8, {1, 4}, 1}, pot) == 2);
    CHECK(version_of(B::ADD, {{T::INT16, {1, 4}, 1}, {T::INT16, {1, 4}, 1}}, {T::INT16, {1, 4}, 1}, general) == 3);
    CHECK(version_of(B::ADD, {{T::INT16, {1, 4}, 1}, {T::INT16, {1, 4}, 1}}, {T::INT16, {1, 4}, 1}, pot) == 1);
    CHECK(version_of(B::ADD, {{T::INT16, {1, 4}}, {T::INT16, {1, 4}}}, {T::INT16, {1, 4}}, general) == 5);
    CHECK(version_of(B::ADD, {{T::INT64, {1, 4}}, {T::INT64, {1, 4}}}, {T::INT64, {1, 4}}) == 4);
    CHECK(version_of(B::ADD, {{T::FLOAT16, {1, 4}}, {T::FLOAT16, {1, 4}}}, {T::FLOAT16, {1, 4}}) == 6);
    CHECK(version_of(B::ADD, {{T::FLOAT32, {1, 4}}, {T::FLOAT32, {1, 4}}}, {T::FLOAT32, {1, 4}}) == 1);

    // SUB: 16x8 general -> 5; int8 -> 2; broadcast with rank > 4 -> 3; float -> 1.
    sub_options sub_general;
    sub_general.pot_scale_int16 = false;
    CHECK(version_of(B::SUB, {{T::INT16, {1, 4}, 1}, {T::INT16, {4}, 1}}, {T::INT16, {1, 4}, 1}, sub_general) == 5);
    CHECK(version_of(B::SUB, {{T::INT8, {1, 4}, 1}, {T::INT8, {1, 4}, 1}}, {T::INT8, {1, 4}, 1}) == 2);
    CHECK(version_of(B::SUB, {{T::INT8, {1, 1, 1, 2, 4}, 1}, {T::INT8, {4}, 1}}, {T::INT8, {1, 1, 1, 2, 4}, 1}) ==
          3);
    CHECK(version_of(B::SUB, {{T::FLOAT32, {1, 4}}, {T::FLOAT32, {1, 4}}}, {T::FLOAT32, {1, 4}}) == 1);

    // MUL: int8 -> 2; int8 with s1 * s2 / s_out >= 1 -> 3; quantized int16 -> 4;
    // unquantized int16 -> 7; float -> 1.
    CHECK(version_of(B::MUL, {{T::INT8, {4}, 1}, {T::INT8, {4}, 1}}, {T::INT8, {4}, 1}) == 2);  // 0.25 / 0.5 < 1
    {
        mini x;
        const auto a = x.tensor_of(T::INT8, {4}, 1, 0, 2.0f);
        const auto b = x.tensor_of(T::INT8, {4}, 1, 0, 1.0f);
        const auto c = x.tensor_of(T::INT8, {4}, 1, 0, 2.0f);  // 2 * 1 / 2 = 1 >= 1
        CHECK(x.version(x.op_of(B::MUL, {a, b}, {c})) == 3);
    }
    CHECK(version_of(B::MUL, {{T::INT16, {4}, 1}, {T::INT16, {4}, 1}}, {T::INT16, {4}, 1}) == 4);
    CHECK(version_of(B::MUL, {{T::INT16, {4}}, {T::INT16, {4}}}, {T::INT16, {4}}) == 7);
    CHECK(version_of(B::MUL, {{T::FLOAT32, {4}}, {T::FLOAT32, {4}}}, {T::FLOAT32, {4}}) == 1);
}

TEST_CASE("op versions: activations, pooling, softmax, concatenation") {
    // int16 in and out -> 3, int8 -> 2, float -> 1 (pools, TANH, LOGISTIC).
    for (const B code : {B::AVERAGE_POOL_2D, B::MAX_POOL_2D, B::TANH, B::LOGISTIC}) {
        CAPTURE(describe(code));
        CHECK(version_of(code, {{T::INT16, {1, 4, 4, 2}, 1}}, {T::INT16, {1, 2, 2, 2}, 1}) == 3);
        CHECK(version_of(code, {{T::INT8, {1, 4, 4, 2}, 1}}, {T::INT8, {1, 2, 2, 2}, 1}) == 2);
        CHECK(version_of(code, {{T::FLOAT32, {1, 4, 4, 2}}}, {T::FLOAT32, {1, 2, 2, 2}}) == 1);
    }
    // int16 input -> 3, int8 -> 2 (SOFTMAX, MEAN, RELU6, RELU; RELU also uint8 -> 2).
    for (const B code : {B::SOFTMAX, B::MEAN, B::RELU6, B::RELU}) {
        CAPTURE(describe(code));
        CHECK(version_of(code, {{T::INT16, {1, 8}, 1}}, {T::INT16, {1, 8}, 1}) == 3);
        CHECK(version_of(code, {{T::INT8, {1, 8}, 1}}, {T::INT8, {1, 8}, 1}) == 2);
        CHECK(version_of(code, {{T::FLOAT32, {1, 8}}}, {T::FLOAT32, {1, 8}}) == 1);
    }
    CHECK(version_of(B::RELU, {{T::UINT8, {1, 8}, 1}}, {T::UINT8, {1, 8}, 1}) == 2);
    CHECK(version_of(B::RELU6, {{T::UINT8, {1, 8}, 1}}, {T::UINT8, {1, 8}, 1}) == 1);
    // LEAKY_RELU: int16 -> 2, otherwise 1 (int8 too).
    CHECK(version_of(B::LEAKY_RELU, {{T::INT16, {8}, 1}}, {T::INT16, {8}, 1}) == 2);
    CHECK(version_of(B::LEAKY_RELU, {{T::INT8, {8}, 1}}, {T::INT8, {8}, 1}) == 1);
    // HARD_SWISH, RESHAPE, EXPAND_DIMS: one version whatever the types.
    CHECK(version_of(B::HARD_SWISH, {{T::INT8, {8}, 1}}, {T::INT8, {8}, 1}) == 1);
    CHECK(version_of(B::RESHAPE, {{T::INT16, {8}, 1}, {T::INT32, {2}}}, {T::INT16, {2, 4}, 1}) == 1);
    CHECK(version_of(B::EXPAND_DIMS, {{T::INT8, {8}, 1}, {T::INT32, {1}}}, {T::INT8, {1, 8}, 1}) == 1);
    // SQUEEZE: only string input -> 2.
    CHECK(version_of(B::SQUEEZE, {{T::INT8, {1, 8}, 1}}, {T::INT8, {8}, 1}) == 1);
    CHECK(version_of(B::SQUEEZE, {{T::STRING, {1, 8}}}, {T::STRING, {8}}) == 2);
    // CONCATENATION: int4 -> 5, int16 -> 3, int8 -> 2, float -> 1.
    CHECK(version_of(B::CONCATENATION, {{T::INT16, {1, 4}, 1}, {T::INT16, {1, 4}, 1}}, {T::INT16, {1, 8}, 1}) == 3);
    CHECK(version_of(B::CONCATENATION, {{T::INT8, {1, 4}, 1}, {T::INT8, {1, 4}, 1}}, {T::INT8, {1, 8}, 1}) == 2);
    CHECK(version_of(B::CONCATENATION, {{T::INT4, {1, 4}, 1}, {T::INT4, {1, 4}, 1}}, {T::INT4, {1, 8}, 1}) == 5);
    CHECK(version_of(B::CONCATENATION, {{T::FLOAT32, {1, 4}}, {T::FLOAT32, {1, 4}}}, {T::FLOAT32, {1, 8}}) == 1);
}

TEST_CASE("op versions: PAD, TRANSPOSE, STRIDED_SLICE (rank-dependent)") {
    // PAD / PADV2: rank > 4 -> 4, int16 -> 3, int8 -> 2, bool -> 5.
    for (const B code : {B::PAD, B::PADV2}) {
        CAPTURE(describe(code));
        CHECK(version_of(code, {{T::INT16, {1, 2, 3, 4}, 1}, {T::INT32, {4, 2}}}, {T::INT16, {1, 2, 5, 4}, 1}) == 3);
        CHECK(version_of(code, {{T::INT8, {1, 2, 3, 4}, 1}, {T::INT32, {4, 2}}}, {T::INT8, {1, 2, 5, 4}, 1}) == 2);
        CHECK(version_of(code, {{T::INT8, {1, 1, 2, 3, 4}, 1}, {T::INT32, {5, 2}}}, {T::INT8, {1, 1, 2, 5, 4}, 1}) ==
              4);
        CHECK(version_of(code, {{T::BOOL, {2, 3}}, {T::INT32, {2, 2}}}, {T::BOOL, {2, 5}}) == 5);
        CHECK(version_of(code, {{T::FLOAT32, {2, 3}}, {T::INT32, {2, 2}}}, {T::FLOAT32, {2, 5}}) == 1);
    }
    // TRANSPOSE: int8 -> 2, rank 5 -> 4, int16 -> 5, rank 6 -> 6, int4 -> 7, rank 7 -> 8.
    CHECK(version_of(B::TRANSPOSE, {{T::INT8, {1, 2, 3, 4}, 1}, {T::INT32, {4}}}, {T::INT8, {1, 3, 2, 4}, 1}) == 2);
    CHECK(version_of(B::TRANSPOSE, {{T::INT8, {1, 1, 2, 3, 4}, 1}, {T::INT32, {5}}}, {T::INT8, {1, 1, 3, 2, 4}, 1}) ==
          4);
    CHECK(version_of(B::TRANSPOSE, {{T::INT16, {1, 1, 2, 3, 4}, 1}, {T::INT32, {5}}},
                     {T::INT16, {1, 1, 3, 2, 4}, 1}) == 5);
    CHECK(version_of(B::TRANSPOSE, {{T::INT8, {1, 1, 1, 2, 3, 4}, 1}, {T::INT32, {6}}},
                     {T::INT8, {1, 1, 1, 3, 2, 4}, 1}) == 6);
    CHECK(version_of(B::TRANSPOSE, {{T::INT4, {2, 3}, 1}, {T::INT32, {2}}}, {T::INT4, {3, 2}, 1}) == 7);
    CHECK(version_of(B::TRANSPOSE, {{T::FLOAT32, {1, 1, 1, 1, 1, 2, 3}}, {T::INT32, {7}}},
                     {T::FLOAT32, {1, 1, 1, 1, 1, 3, 2}}) == 8);
    CHECK(version_of(B::TRANSPOSE, {{T::FLOAT32, {2, 3}}, {T::INT32, {2}}}, {T::FLOAT32, {3, 2}}) == 1);

    // STRIDED_SLICE: int8 -> 2, int16 -> 1, rank 5 -> 4, ellipsis / new-axis mask -> 6, offset -> 8.
    const std::vector<spec> idx = {{T::INT32, {4}}, {T::INT32, {4}}, {T::INT32, {4}}};
    auto with = [&](spec input) {
        std::vector<spec> v{input};
        v.insert(v.end(), idx.begin(), idx.end());
        return v;
    };
    CHECK(version_of(B::STRIDED_SLICE, with({T::INT8, {1, 2, 3, 4}, 1}), {T::INT8, {1, 2, 2, 4}, 1},
                     strided_slice_options{}) == 2);
    CHECK(version_of(B::STRIDED_SLICE, with({T::INT16, {1, 2, 3, 4}, 1}), {T::INT16, {1, 2, 2, 4}, 1},
                     strided_slice_options{}) == 1);
    CHECK(version_of(B::STRIDED_SLICE, with({T::INT8, {1, 1, 2, 3, 4}, 1}), {T::INT8, {1, 1, 2, 2, 4}, 1},
                     strided_slice_options{}) == 4);
    strided_slice_options ellipsis;
    ellipsis.ellipsis_mask = 1;
    CHECK(version_of(B::STRIDED_SLICE, with({T::INT8, {1, 2, 3, 4}, 1}), {T::INT8, {1, 2, 2, 4}, 1}, ellipsis) == 6);
    strided_slice_options offset;
    offset.offset = true;
    CHECK(version_of(B::STRIDED_SLICE, with({T::INT8, {1, 2, 3, 4}, 1}), {T::INT8, {1, 2, 2, 4}, 1}, offset) == 8);
}

TEST_CASE("op versions: QUANTIZE, DEQUANTIZE, CAST") {
    // QUANTIZE: int8 out -> 1, int16 out -> 2, per-axis out -> 3, int4 -> 4.
    CHECK(version_of(B::QUANTIZE, {{T::FLOAT32, {2, 3}}}, {T::INT8, {2, 3}, 1}) == 1);
    CHECK(version_of(B::QUANTIZE, {{T::FLOAT32, {2, 3}}}, {T::INT16, {2, 3}, 1}) == 2);
    CHECK(version_of(B::QUANTIZE, {{T::INT8, {2, 3}, 1}}, {T::INT8, {2, 3}, 3, 1}) == 3);
    CHECK(version_of(B::QUANTIZE, {{T::FLOAT32, {2, 3}}}, {T::INT4, {2, 3}, 1}) == 4);
    // DEQUANTIZE: int8 -> 2, int8 per-axis -> 5, int16 / float16 -> 3, int4 -> 6, uint8 -> 1.
    CHECK(version_of(B::DEQUANTIZE, {{T::INT8, {2, 3}, 1}}, {T::FLOAT32, {2, 3}}) == 2);
    CHECK(version_of(B::DEQUANTIZE, {{T::INT8, {2, 3}, 2, 0}}, {T::FLOAT32, {2, 3}}) == 5);
    CHECK(version_of(B::DEQUANTIZE, {{T::INT16, {2, 3}, 1}}, {T::FLOAT32, {2, 3}}) == 3);
    CHECK(version_of(B::DEQUANTIZE, {{T::FLOAT16, {2, 3}}}, {T::FLOAT32, {2, 3}}) == 3);
    CHECK(version_of(B::DEQUANTIZE, {{T::INT4, {2, 3}, 1}}, {T::FLOAT32, {2, 3}}) == 6);
    CHECK(version_of(B::DEQUANTIZE, {{T::UINT8, {2, 3}, 1}}, {T::FLOAT32, {2, 3}}) == 1);
    // CAST: int8 either side -> 3, float16 -> 5, int4 -> float -> 6, uint32 -> 2, int32 <-> float -> 1.
    CHECK(version_of(B::CAST, {{T::INT8, {4}}}, {T::FLOAT32, {4}}) == 3);
    CHECK(version_of(B::CAST, {{T::FLOAT32, {4}}}, {T::INT8, {4}}) == 3);
    CHECK(version_of(B::CAST, {{T::FLOAT16, {4}}}, {T::FLOAT32, {4}}) == 5);
    CHECK(version_of(B::CAST, {{T::INT4, {4}}}, {T::FLOAT32, {4}}) == 6);
    CHECK(version_of(B::CAST, {{T::UINT32, {4}}}, {T::INT32, {4}}) == 2);
    CHECK(version_of(B::CAST, {{T::INT32, {4}}}, {T::FLOAT32, {4}}) == 1);
}

TEST_CASE("op versions: ops without a rule get 1; malformed ops throw") {
    CHECK_FALSE(has_version_rule(B::GATHER));
    CHECK_FALSE(has_version_rule(B::CUSTOM));
    CHECK(has_version_rule(B::CONV_2D));
    CHECK(has_version_rule(B::RESHAPE));
    // int8 GATHER is v2 in TFLite, but its rule needs batch_dims, which qtl does not decode.
    CHECK(version_of(B::GATHER, {{T::INT8, {4, 2}, 1}, {T::INT32, {3}}}, {T::INT8, {3, 2}, 1}) == 1);

    mini x;
    const auto a = x.tensor_of(T::INT8, {1, 4}, 1);
    const auto i = x.op_of(B::CONV_2D, {a}, {a});  // no filter input
    CHECK_THROWS_WITH_AS(x.version(i), doctest::Contains("input 1"), qtl::error);
    const auto j = x.op_of(B::ADD, {a, 99}, {a});  // tensor index out of range
    CHECK_THROWS_WITH_AS(x.version(j), doctest::Contains("input 1 is tensor 99, out of range"), qtl::error);
    const auto k = x.op_of(B::RELU, {a}, {-1});  // -1 is only for optional inputs
    CHECK_THROWS_WITH_AS(x.version(k), doctest::Contains("output 0 is tensor -1"), qtl::error);
}

// ---- assign_op_versions -------------------------------------------------------------

TEST_CASE("op versions: assign_op_versions splits a code shared by different signatures") {
    mini x;
    // Two CONV_2D ops on one operator code: int8 (v3) and hybrid per-tensor (v2);
    // a FULLY_CONNECTED int4 (v10); a custom op and an unused code stay as they are.
    const auto in8 = x.tensor_of(T::INT8, {1, 5, 5, 3}, 1);
    const auto w8 = x.tensor_of(T::INT8, {4, 3, 3, 3}, 4, 0);
    const auto b32 = x.tensor_of(T::INT32, {4}, 4, 0);
    const auto out8 = x.tensor_of(T::INT8, {1, 3, 3, 4}, 1);
    const auto inf = x.tensor_of(T::FLOAT32, {1, 5, 5, 3});
    const auto w8t = x.tensor_of(T::INT8, {4, 3, 3, 3}, 1);
    const auto bf = x.tensor_of(T::FLOAT32, {4});
    const auto outf = x.tensor_of(T::FLOAT32, {1, 3, 3, 4});
    const auto fc_in = x.tensor_of(T::INT8, {1, 8}, 1);
    const auto fc_w = x.tensor_of(T::INT4, {2, 8}, 2, 0);
    const auto fc_b = x.tensor_of(T::INT32, {2}, 2, 0);
    const auto fc_out = x.tensor_of(T::INT8, {1, 2}, 1);
    x.g().inputs = {in8};
    x.g().outputs = {out8};
    x.op_of(B::CONV_2D, {in8, w8, b32}, {out8}, conv_2d_options{});
    x.op_of(B::CONV_2D, {inf, w8t, bf}, {outf}, conv_2d_options{});
    x.op_of(B::CONV_2D, {in8, w8, b32}, {out8}, conv_2d_options{});
    x.op_of(B::FULLY_CONNECTED, {fc_in, fc_w, fc_b}, {fc_out}, fully_connected_options{});
    operator_code custom;
    custom.builtin_code = B::CUSTOM;
    custom.custom_code = "Mine";
    custom.version = 7;
    x.m.operator_codes.push_back(custom);
    op c;
    c.opcode_index = 2;
    c.builtin_code = B::CUSTOM;
    c.version = 7;
    c.inputs = {fc_out};
    c.outputs = {fc_out};
    x.g().operators.push_back(c);
    operator_code unused;
    unused.builtin_code = B::MEAN;
    unused.version = 9;
    x.m.operator_codes.push_back(unused);

    assign_op_versions(x.m);
    const auto& codes = x.m.operator_codes;
    const auto& ops = x.g().operators;
    REQUIRE(codes.size() == 5);  // CONV v3, FC v10, custom, unused MEAN, CONV v2 appended
    CHECK(codes[0].builtin_code == B::CONV_2D);
    CHECK(codes[0].version == 3);
    CHECK(codes[1].builtin_code == B::FULLY_CONNECTED);
    CHECK(codes[1].version == 10);
    CHECK(codes[2].custom_code == "Mine");
    CHECK(codes[2].version == 7);
    CHECK(codes[3].version == 9);
    CHECK(codes[4].builtin_code == B::CONV_2D);
    CHECK(codes[4].version == 2);
    CHECK(ops[0].opcode_index == 0);
    CHECK(ops[1].opcode_index == 4);
    CHECK(ops[2].opcode_index == 0);
    CHECK(ops[3].opcode_index == 1);
    CHECK(ops[4].opcode_index == 2);
    const int want[] = {3, 2, 3, 10, 7};
    for (std::size_t i = 0; i < ops.size(); ++i) CHECK(ops[i].version == want[i]);

    // CONV_2D v3 -> 1.14.0, CONV_2D v2 -> 1.14.0, FC v10 -> 2.11.0.
    CHECK(assign_min_runtime_version(x.m) == "2.11.0");

    // The file says the same after a write / read round trip.
    const auto back = read_model(std::span<const std::uint8_t>(write_model(x.m)));
    REQUIRE(back.operator_codes.size() == 5);
    CHECK(back.operator_codes[4].version == 2);
    REQUIRE(back.main().operators.size() == 5);
    for (std::size_t i = 0; i < 5; ++i) CHECK(back.main().operators[i].version == want[i]);
    CHECK(metadata_string(back) == "2.11.0");

    // Running it again changes nothing.
    auto again = x.m;
    assign_op_versions(again);
    REQUIRE(again.operator_codes.size() == 5);
    for (std::size_t i = 0; i < 5; ++i) CHECK(again.operator_codes[i].version == codes[i].version);
}

TEST_CASE("op versions: assign_op_versions refuses inconsistent ops") {
    mini x;
    const auto a = x.tensor_of(T::INT8, {4}, 1);
    x.op_of(B::RELU, {a}, {a});
    auto bad_index = x.m;
    bad_index.subgraphs[0].operators[0].opcode_index = 5;
    CHECK_THROWS_WITH_AS(assign_op_versions(bad_index), doctest::Contains("opcode_index 5"), qtl::error);
    auto mismatch = x.m;
    mismatch.subgraphs[0].operators[0].builtin_code = B::TANH;
    CHECK_THROWS_WITH_AS(assign_op_versions(mismatch), doctest::Contains("differs"), qtl::error);
    CHECK_THROWS_AS((void)minimum_runtime_version(bad_index), qtl::error);
}
