// graph_to_tflite(): structure of the emitted model, op versions (expected
// values read from TFLite's lite/tools/versioning/op_version.cc), and the
// round trip graph -> model -> bytes -> model -> graph.
#include "qtl/graph/to_tflite.hpp"

#include <cstdint>
#include <vector>

#include <doctest/doctest.h>

#include "qtl/graph/from_tflite.hpp"
#include "qtl/io/tflite/reader.hpp"
#include "qtl/io/tflite/writer.hpp"

using namespace qtl;
using tflite::builtin_operator;
using tflite::tensor_type;

namespace {

std::vector<float> ramp(std::size_t n, float scale) {
    std::vector<float> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = scale * static_cast<float>(static_cast<int>(i % 7) - 3);
    return v;
}

// x[?,4,4,2] -> CONV_2D -> DEPTHWISE (dilated) -> MAX_POOL -> RESHAPE ->
// FC (keep_num_dims) -> FC (no bias input) -> SOFTMAX.
graph sample_graph() {
    graph g;
    auto x = g.add_activation("image", {1, 4, 4, 2});
    g.tensor(x).dynamic_batch = true;
    const auto w1 = ramp(3 * 3 * 3 * 2, 0.1f);
    auto cw = g.add_constant("conv/w", {3, 3, 3, 2}, std::span<const float>(w1));
    const std::vector<float> b1{0.5f, -0.5f, 0.25f};
    auto cb = g.add_constant("conv/b", {3}, std::span<const float>(b1));
    auto c = g.add_activation("conv", {1, 4, 4, 3});
    g.tensor(c).dynamic_batch = true;
    tflite::conv_2d_options co;
    co.stride_w = co.stride_h = 1;
    co.fused_activation_function = tflite::activation_function_type::RELU;
    g.add_node(builtin_operator::CONV_2D, co, {x, cw, cb}, {c});

    const auto w2 = ramp(2 * 2 * 3, 0.2f);
    auto dw = g.add_constant("dw/w", {1, 2, 2, 3}, std::span<const float>(w2));
    auto d = g.add_activation("dw", {1, 4, 4, 3});
    tflite::depthwise_conv_2d_options dwo;
    dwo.stride_w = dwo.stride_h = 1;
    dwo.depth_multiplier = 1;
    dwo.dilation_w_factor = dwo.dilation_h_factor = 2;
    g.add_node(builtin_operator::DEPTHWISE_CONV_2D, dwo, {c, dw, -1}, {d});

    auto p = g.add_activation("pool", {1, 2, 2, 3});
    tflite::pool_2d_options po;
    po.padding = tflite::padding::VALID;
    po.stride_w = po.stride_h = po.filter_width = po.filter_height = 2;
    g.add_node(builtin_operator::MAX_POOL_2D, po, {d}, {p});

    const std::vector<std::int32_t> s{1, 12};
    auto rs = g.add_constant("flatten/shape", {2}, std::span<const std::int32_t>(s));
    auto r = g.add_activation("flatten", {1, 12});
    g.add_node(builtin_operator::RESHAPE, tflite::reshape_options{}, {p, rs}, {r});

    const auto w3 = ramp(5 * 12, 0.05f);
    auto fw = g.add_constant("dense/w", {5, 12}, std::span<const float>(w3));
    const std::vector<float> b3(5, 0.1f);
    auto fb = g.add_constant("dense/b", {5}, std::span<const float>(b3));
    auto f = g.add_activation("dense", {1, 5});
    tflite::fully_connected_options fo;
    fo.keep_num_dims = true;
    g.add_node(builtin_operator::FULLY_CONNECTED, fo, {r, fw, fb}, {f});

    const auto w4 = ramp(3 * 5, 0.3f);
    auto lw = g.add_constant("logits/w", {3, 5}, std::span<const float>(w4));
    auto l = g.add_activation("logits", {1, 3});
    g.add_node(builtin_operator::FULLY_CONNECTED, tflite::fully_connected_options{}, {f, lw}, {l});

    auto y = g.add_activation("probs", {1, 3});
    tflite::softmax_options so;
    so.beta = 1.0f;
    g.add_node(builtin_operator::SOFTMAX, so, {l}, {y});
    g.inputs = {x};
    g.outputs = {y};
    g.validate();
    return g;
}

std::int32_t version_of(const tflite::model& m, std::size_t op_index) {
    const auto& o = m.main().operators.at(op_index);
    return m.operator_codes.at(o.opcode_index).version;
}

}  // namespace

TEST_CASE("graph_to_tflite: tensors, buffers, signature") {
    const auto g = sample_graph();
    const auto m = graph_to_tflite(g);
    REQUIRE(m.subgraphs.size() == 1);
    const auto& sg = m.main();
    REQUIRE(sg.tensors.size() == g.tensors.size());
    CHECK(m.buffers.at(0).data.empty());
    std::size_t constants = 0;
    for (std::size_t i = 0; i < g.tensors.size(); ++i) {
        const auto& t = g.tensors[i];
        const auto& o = sg.tensors[i];
        CHECK(o.name == t.name);
        CHECK(o.type == t.type);
        CHECK(o.shape == t.shape);
        CHECK_FALSE(o.is_quantized());
        if (t.is_constant) {
            ++constants;
            REQUIRE(o.buffer != 0);
            CHECK(m.buffers.at(o.buffer).data == t.data);
        } else {
            CHECK(o.buffer == 0);
        }
    }
    CHECK(m.buffers.size() == constants + 1);  // one buffer per constant, plus the sentinel
    CHECK(sg.tensors[0].shape_signature == std::vector<std::int32_t>{-1, 4, 4, 2});  // dynamic batch
    CHECK(sg.tensors[2].shape_signature.empty());                                  // conv/b: static
    REQUIRE(m.signature_defs.size() == 1);
    CHECK(m.signature_defs[0].signature_key == "serving_default");
    REQUIRE(m.signature_defs[0].inputs.size() == 1);
    CHECK(m.signature_defs[0].inputs[0].name == "image");
    CHECK(m.signature_defs[0].outputs[0].name == "probs");
}

TEST_CASE("graph_to_tflite: operator codes and float op versions (op_version.cc)") {
    const auto m = graph_to_tflite(sample_graph());
    const auto& ops = m.main().operators;
    REQUIRE(ops.size() == 7);
    CHECK(ops[0].builtin_code == builtin_operator::CONV_2D);
    CHECK(version_of(m, 0) == 1);
    CHECK(version_of(m, 1) == 2);  // DEPTHWISE_CONV_2D with dilation != 1
    CHECK(version_of(m, 2) == 1);  // MAX_POOL_2D float
    CHECK(version_of(m, 3) == 1);  // RESHAPE
    CHECK(version_of(m, 4) == 5);  // FULLY_CONNECTED keep_num_dims
    CHECK(version_of(m, 5) == 6);  // FULLY_CONNECTED with two inputs (no bias)
    CHECK(version_of(m, 6) == 1);  // SOFTMAX float
    // One code per (op, version): the two FULLY_CONNECTED have different versions.
    CHECK(m.operator_codes.size() == 7);
    CHECK(ops[4].opcode_index != ops[5].opcode_index);
    CHECK(ops[1].inputs == std::vector<std::int32_t>{3, 4, -1});  // absent bias stays -1
}

TEST_CASE("graph_to_tflite: versions of the other float ops that need more than 1") {
    graph g;
    auto x = g.add_activation("x", {1, 2, 3, 4, 5});
    auto y = g.add_activation("y", {1, 1, 1, 1, 5});
    auto s = g.add_activation("s", {1, 2, 3, 4, 5});
    g.add_node(builtin_operator::SUB, tflite::sub_options{}, {x, y}, {s});  // broadcast, rank 5 -> 3
    const std::vector<std::int32_t> b{0, 0, 0, 0, 0}, e{1, 2, 3, 4, 5}, st{1, 1, 1, 1, 1};
    auto tb = g.add_constant("b", {5}, std::span<const std::int32_t>(b));
    auto te = g.add_constant("e", {5}, std::span<const std::int32_t>(e));
    auto ts = g.add_constant("st", {5}, std::span<const std::int32_t>(st));
    auto sl = g.add_activation("sl", {1, 2, 3, 4, 5});
    g.add_node(builtin_operator::STRIDED_SLICE, tflite::strided_slice_options{}, {s, tb, te, ts}, {sl});  // rank 5 -> 4
    auto a = g.add_activation("a", {1, 2, 3, 4, 5});
    g.add_node(builtin_operator::ADD, tflite::add_options{}, {sl, x}, {a});  // float: 1
    g.inputs = {x, y};
    g.outputs = {a};
    const auto m = graph_to_tflite(g);
    CHECK(version_of(m, 0) == 3);
    CHECK(version_of(m, 1) == 4);
    CHECK(version_of(m, 2) == 1);
}

TEST_CASE("graph_to_tflite: round trip through the file format") {
    const auto g = sample_graph();
    const auto bytes = tflite::write_model(graph_to_tflite(g));
    const auto back = graph_from_tflite(tflite::read_model(std::span<const std::uint8_t>(bytes)));
    REQUIRE(back.tensors.size() == g.tensors.size());
    for (std::size_t i = 0; i < g.tensors.size(); ++i) {
        INFO("tensor " << i << " " << g.tensors[i].name);
        CHECK(back.tensors[i].name == g.tensors[i].name);
        CHECK(back.tensors[i].type == g.tensors[i].type);
        CHECK(back.tensors[i].shape == g.tensors[i].shape);
        CHECK(back.tensors[i].dynamic_batch == g.tensors[i].dynamic_batch);
        CHECK(back.tensors[i].is_constant == g.tensors[i].is_constant);
        CHECK(back.tensors[i].data == g.tensors[i].data);
    }
    REQUIRE(back.nodes.size() == g.nodes.size());
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
        INFO("node " << i);
        CHECK(back.nodes[i].op == g.nodes[i].op);
        CHECK(back.nodes[i].options == g.nodes[i].options);
        CHECK(back.nodes[i].inputs == g.nodes[i].inputs);
        CHECK(back.nodes[i].outputs == g.nodes[i].outputs);
        CHECK(back.nodes[i].name == g.nodes[i].name);
    }
    CHECK(back.inputs == g.inputs);
    CHECK(back.outputs == g.outputs);
    // Writing the re-imported graph gives the same bytes.
    CHECK(tflite::write_model(graph_to_tflite(back)) == bytes);
}

TEST_CASE("graph_to_tflite: uint8 input and integer constants keep their types") {
    graph g;
    auto x = g.add_activation("pixels", {2, 2}, tensor_type::UINT8);
    auto f = g.add_activation("pixels_f", {2, 2});
    g.add_node(builtin_operator::CAST, {}, {x}, {f});
    const std::vector<std::int32_t> axis{0};
    auto ax = g.add_constant("axis", {}, std::span<const std::int32_t>(axis));
    auto e = g.add_activation("batched", {1, 2, 2});
    g.add_node(builtin_operator::EXPAND_DIMS, {}, {f, ax}, {e});
    g.inputs = {x};
    g.outputs = {e};
    const auto m = graph_to_tflite(g);
    CHECK(m.main().tensors[0].type == tensor_type::UINT8);
    CHECK(m.main().tensors[2].type == tensor_type::INT32);
    CHECK(m.main().tensors[2].shape.empty());
    CHECK(version_of(m, 0) == 1);  // CAST uint8 -> float32
    const auto bytes = tflite::write_model(m);
    const auto back = graph_from_tflite(tflite::read_model(std::span<const std::uint8_t>(bytes)));
    CHECK(back.tensor(back.inputs[0]).type == tensor_type::UINT8);
    CHECK(back.tensors[2].values<std::int32_t>() == axis);
}

TEST_CASE("graph_to_tflite: refuses what it cannot write") {
    graph g;
    auto x = g.add_activation("x", {1, 2});
    auto y = g.add_activation("y", {1, 2});
    g.add_node(builtin_operator::CUSTOM, {}, {x}, {y}, "MyOp");
    g.inputs = {x};
    g.outputs = {y};
    CHECK_THROWS_WITH_AS(graph_to_tflite(g), doctest::Contains("CUSTOM op cannot be written"), qtl::error);
    graph bad;
    bad.outputs = {3};
    CHECK_THROWS_AS(graph_to_tflite(bad), qtl::error);  // validate() runs first
}

TEST_CASE("graph_to_tflite: ops whose options the graph does not hold are refused unless allowed") {
    graph g;
    auto a = g.add_activation("a", {}, tensor_type::INT32);
    auto b = g.add_activation("b", {}, tensor_type::INT32);
    auto p = g.add_activation("packed", {2}, tensor_type::INT32);
    g.add_node(builtin_operator::PACK, {}, {a, b}, {p});
    g.inputs = {a, b};
    g.outputs = {p};
    CHECK_THROWS_WITH_AS(graph_to_tflite(g), doctest::Contains("node 0 (PACK 'packed'): the graph does not hold"),
                         qtl::error);
    const auto m = graph_to_tflite(g, {.allow_undecoded_options = true});
    REQUIRE(m.main().operators.size() == 1);
    CHECK(m.main().operators[0].options_type == tflite::builtin_options_type::NONE);
    // Ops whose kernels read no options pass by default.
    CHECK(options_fully_known(graph_node{builtin_operator::TANH, {}, {}, {}, {}}));
    CHECK(options_fully_known(graph_node{builtin_operator::CAST, {}, {}, {}, {}}));
    CHECK_FALSE(options_fully_known(graph_node{builtin_operator::SQUEEZE, {}, {}, {}, {}}));
    CHECK_FALSE(options_fully_known(graph_node{builtin_operator::SHAPE, {}, {}, {}, {}}));
    CHECK(options_fully_known(graph_node{builtin_operator::RESHAPE, tflite::reshape_options{}, {}, {}, {}}));
}
