#include <doctest/doctest.h>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "qtl/graph/builder.hpp"

// graph_builder: every output shape below is derived by hand from TFLite's
// rules (SAME: ceil(in / stride); VALID: floor((in - effective) / stride) + 1,
// effective = (filter - 1) * dilation + 1), the options each node carries,
// the constants the shape ops add, and the errors for shapes that cannot work.

using qtl::graph_builder;
using qtl::shape;
using op = qtl::tflite::builtin_operator;
using act = qtl::tflite::activation_function_type;
using qtl::tflite::padding;

namespace {

std::vector<float> filled(std::size_t n, float v = 0.5f) { return std::vector<float>(n, v); }

const qtl::graph_node& node_writing(const qtl::graph& g, graph_builder::tensor t) {
    const auto n = g.producer(t.index);
    REQUIRE(n >= 0);
    return g.nodes[static_cast<std::size_t>(n)];
}

template <class Options>
const Options& options_of(const qtl::graph& g, graph_builder::tensor t) {
    const auto* o = std::get_if<Options>(&node_writing(g, t).options);
    REQUIRE(o != nullptr);
    return *o;
}

// The message of the qtl::error `f` throws (fails the test if it does not).
template <class F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const qtl::error& e) {
        return e.what();
    }
    FAIL("expected a qtl::error");
    return {};
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("builder: the brief's small CNN, shapes and options") {
    graph_builder b;
    const auto x = b.input("image", {1, 28, 28, 1});
    const auto c = b.conv_2d(x, "conv1", filled(8 * 3 * 3 * 1), {8, 3, 3, 1}, filled(8),
                             {.stride = 1, .padding = padding::SAME, .activation = qtl::fused_activation::relu});
    const auto p = b.max_pool_2d(c, {.filter = 2, .stride = 2});
    const auto f = b.flatten(p);
    const auto d = b.fully_connected(f, "dense1", filled(10 * 1568), {10, 1568}, filled(10));
    const auto s = b.softmax(d);
    b.output(s);

    CHECK(b.shape(c) == shape{1, 28, 28, 8});  // SAME, stride 1
    CHECK(b.shape(p) == shape{1, 14, 14, 8});  // 2x2 / 2 VALID: floor((28 - 2) / 2) + 1
    CHECK(b.shape(f) == shape{1, 1568});       // 14 * 14 * 8
    CHECK(b.shape(d) == shape{1, 10});
    CHECK(b.shape(s) == shape{1, 10});

    const qtl::graph g = std::move(b).build();
    REQUIRE(g.nodes.size() == 5);
    CHECK(g.nodes[0].op == op::CONV_2D);
    CHECK(g.nodes[1].op == op::MAX_POOL_2D);
    CHECK(g.nodes[2].op == op::RESHAPE);
    CHECK(g.nodes[3].op == op::FULLY_CONNECTED);
    CHECK(g.nodes[4].op == op::SOFTMAX);
    CHECK(g.nodes[0].name == "conv1");
    CHECK(g.nodes[3].name == "dense1");
    CHECK(g.inputs == std::vector<std::int32_t>{x.index});
    CHECK(g.outputs == std::vector<std::int32_t>{s.index});

    const auto& co = std::get<qtl::tflite::conv_2d_options>(g.nodes[0].options);
    CHECK(co.padding == padding::SAME);
    CHECK(co.stride_h == 1);
    CHECK(co.stride_w == 1);
    CHECK(co.dilation_h_factor == 1);
    CHECK(co.fused_activation_function == act::RELU);
    // conv inputs: activation, filter [O, H, W, I], bias [O]
    REQUIRE(g.nodes[0].inputs.size() == 3);
    CHECK(g.tensor(g.nodes[0].inputs[1]).name == "conv1/weights");
    CHECK(g.tensor(g.nodes[0].inputs[1]).shape == shape{8, 3, 3, 1});
    CHECK(g.tensor(g.nodes[0].inputs[1]).is_constant);
    CHECK(g.tensor(g.nodes[0].inputs[2]).shape == shape{8});

    const auto& po = std::get<qtl::tflite::pool_2d_options>(g.nodes[1].options);
    CHECK(po.filter_height == 2);
    CHECK(po.filter_width == 2);
    CHECK(po.stride_h == 2);
    CHECK(po.stride_w == 2);
    CHECK(po.padding == padding::VALID);

    // flatten: RESHAPE with a constant INT32 shape [batch, -1]
    REQUIRE(g.nodes[2].inputs.size() == 2);
    const auto& shape_const = g.tensor(g.nodes[2].inputs[1]);
    CHECK(shape_const.type == qtl::tflite::tensor_type::INT32);
    CHECK(shape_const.values<std::int32_t>() == std::vector<std::int32_t>{1, -1});

    const auto& fo = std::get<qtl::tflite::fully_connected_options>(g.nodes[3].options);
    CHECK(fo.fused_activation_function == act::NONE);
    CHECK(g.tensor(g.nodes[3].inputs[1]).shape == shape{10, 1568});
    CHECK(std::get<qtl::tflite::softmax_options>(g.nodes[4].options).beta == 1.0f);

    std::set<std::string> names;
    for (const auto& t : g.tensors) CHECK(names.insert(t.name).second);
}

TEST_CASE("builder: conv_2d strides, dilation and padding") {
    graph_builder b;
    const auto x = b.input("x", {2, 7, 7, 3});
    const auto w = filled(4 * 3 * 3 * 3);
    // VALID stride 2: floor((7 - 3) / 2) + 1 = 3
    CHECK(b.shape(b.conv_2d(x, "valid_s2", w, {4, 3, 3, 3}, {}, {.stride = 2})) == shape{2, 3, 3, 4});
    // SAME stride 2: ceil(7 / 2) = 4
    CHECK(b.shape(b.conv_2d(x, "same_s2", w, {4, 3, 3, 3}, {}, {.stride = 2, .padding = padding::SAME})) ==
          shape{2, 4, 4, 4});
    // VALID dilation 2: effective 5, 7 - 5 + 1 = 3
    CHECK(b.shape(b.conv_2d(x, "dilated", w, {4, 3, 3, 3}, {}, {.dilation = 2})) == shape{2, 3, 3, 4});
    // per-axis strides: h 1 -> 5, w 2 -> 3
    const auto hw = b.conv_2d(x, "hw", w, {4, 3, 3, 3}, {}, {.stride_h = 1, .stride_w = 2});
    CHECK(b.shape(hw) == shape{2, 5, 3, 4});
    // a 1x5 filter: h 7, w 3
    CHECK(b.shape(b.conv_2d(x, "wide", filled(2 * 1 * 5 * 3), {2, 1, 5, 3})) == shape{2, 7, 3, 2});
    const auto& o = options_of<qtl::tflite::conv_2d_options>(b.peek(), hw);
    CHECK(o.stride_h == 1);
    CHECK(o.stride_w == 2);
    CHECK(o.padding == padding::VALID);
    // no bias: the optional input is -1
    CHECK(node_writing(b.peek(), hw).inputs[2] == -1);
    const auto& od = b.peek().nodes[2].options;
    CHECK(std::get<qtl::tflite::conv_2d_options>(od).dilation_h_factor == 2);
    CHECK(std::get<qtl::tflite::conv_2d_options>(od).dilation_w_factor == 2);
}

TEST_CASE("builder: depthwise_conv_2d infers the depth multiplier") {
    graph_builder b;
    const auto x = b.input("x", {1, 8, 8, 3});
    const auto d = b.depthwise_conv_2d(x, "dw", filled(3 * 3 * 6), {1, 3, 3, 6}, filled(6),
                                       {.padding = padding::SAME, .activation = qtl::fused_activation::relu6});
    CHECK(b.shape(d) == shape{1, 8, 8, 6});
    const auto& o = options_of<qtl::tflite::depthwise_conv_2d_options>(b.peek(), d);
    CHECK(o.depth_multiplier == 2);
    CHECK(o.fused_activation_function == act::RELU6);
    CHECK(o.stride_h == 1);
    // VALID stride 2 on 8: floor((8 - 3) / 2) + 1 = 3
    const auto d2 =
        b.depthwise_conv_2d(x, "dw2", filled(9 * 3), {1, 3, 3, 3}, {}, {.stride = 2, .depth_multiplier = 1});
    CHECK(b.shape(d2) == shape{1, 3, 3, 3});

    const auto e = error_of([&] { b.depthwise_conv_2d(x, "bad", filled(9 * 4), {1, 3, 3, 4}); });
    CHECK(contains(e, "'bad'"));
    CHECK(contains(e, "[1, 8, 8, 3]"));
    CHECK(contains(e, "[1, 3, 3, 4]"));
    CHECK_THROWS_AS(b.depthwise_conv_2d(x, "bad_mult", filled(9 * 6), {1, 3, 3, 6}, {}, {.depth_multiplier = 3}),
                    qtl::error);
    CHECK_THROWS_AS(b.depthwise_conv_2d(x, "bad_rank", filled(9 * 6), {3, 3, 6}), qtl::error);
}

TEST_CASE("builder: pooling") {
    graph_builder b;
    const auto x = b.input("x", {1, 7, 7, 2});
    // 3x3 / 2 SAME: ceil(7 / 2) = 4
    const auto a = b.average_pool_2d(x, {.filter = 3, .stride = 2, .padding = padding::SAME});
    CHECK(b.shape(a) == shape{1, 4, 4, 2});
    const auto& o = options_of<qtl::tflite::pool_2d_options>(b.peek(), a);
    CHECK(o.filter_height == 3);
    CHECK(o.filter_width == 3);
    CHECK(o.stride_h == 2);
    CHECK(o.padding == padding::SAME);
    CHECK(node_writing(b.peek(), a).op == op::AVERAGE_POOL_2D);
    // default: 2x2, stride 2, VALID: floor((7 - 2) / 2) + 1 = 3
    const auto m = b.max_pool_2d(x);
    CHECK(b.shape(m) == shape{1, 3, 3, 2});
    // per-axis: 1x7 window over width only
    CHECK(b.shape(b.max_pool_2d(x, {.filter_h = 1, .filter_w = 7})) == shape{1, 7, 1, 2});
    // a VALID window larger than the input
    CHECK_THROWS_AS(b.max_pool_2d(x, {.filter = 8}), qtl::error);
    CHECK_THROWS_AS(b.max_pool_2d(b.input("flat", {1, 4})), qtl::error);
}

TEST_CASE("builder: add, sub, mul broadcast as NumPy") {
    graph_builder b;
    const auto x = b.input("x", {1, 4, 4, 8});
    const std::vector<float> bias(8, 1.0f);
    const auto c = b.constant("per_channel", {8}, bias);
    const auto s = b.add(x, c, qtl::fused_activation::relu);
    CHECK(b.shape(s) == shape{1, 4, 4, 8});
    CHECK(options_of<qtl::tflite::add_options>(b.peek(), s).fused_activation_function == act::RELU);
    const auto y = b.input("y", {2, 1, 3});
    const auto z = b.input("z", {1, 5, 1});
    CHECK(b.shape(b.sub(y, z)) == shape{2, 5, 3});
    const auto m = b.mul(z, y, qtl::fused_activation::none, "scale");
    CHECK(b.shape(m) == shape{2, 5, 3});
    CHECK(node_writing(b.peek(), m).op == op::MUL);
    CHECK(node_writing(b.peek(), m).name == "scale");

    const auto p = b.input("p", {1, 4});
    const auto q = b.input("q", {1, 3});
    const auto e = error_of([&] { b.add(p, q, qtl::fused_activation::none, "residual"); });
    CHECK(contains(e, "'residual'"));
    CHECK(contains(e, "[1, 4]"));
    CHECK(contains(e, "[1, 3]"));
}

TEST_CASE("builder: residual block and concatenation") {
    graph_builder b;
    const auto x = b.input("x", {1, 4, 4, 8});
    const auto c1 = b.conv_2d(x, "branch_a", filled(8 * 8), {8, 1, 1, 8});
    const auto r = b.add(x, c1);
    const auto c2 = b.conv_2d(r, "branch_b", filled(2 * 8), {2, 1, 1, 8});
    const auto cat = b.concatenation({r, c2}, 3);
    CHECK(b.shape(cat) == shape{1, 4, 4, 10});
    CHECK(options_of<qtl::tflite::concatenation_options>(b.peek(), cat).axis == 3);
    const auto cat2 = b.concatenation({c2, c2, r}, -1);
    CHECK(b.shape(cat2) == shape{1, 4, 4, 12});
    CHECK(options_of<qtl::tflite::concatenation_options>(b.peek(), cat2).axis == 3);
    CHECK(b.shape(b.concatenation({x, x}, 0)) == shape{2, 4, 4, 8});
    const auto odd = b.input("odd", {1, 5, 4, 2});
    const auto e = error_of([&] { b.concatenation({x, odd}, 3, qtl::fused_activation::none, "joined"); });
    CHECK(contains(e, "'joined'"));
    CHECK(contains(e, "[1, 5, 4, 2]"));
    CHECK(contains(e, "[1, 4, 4, 8]"));
    CHECK_THROWS_AS(b.concatenation({x, b.input("low_rank", {4, 4, 8})}, 2), qtl::error);
    b.output(cat);
    b.output(cat2);
    const auto g = std::move(b).build();
    CHECK(g.outputs.size() == 2);
}

TEST_CASE("builder: reshape, pad, mean, transpose add their constant operands") {
    graph_builder b;
    const auto x = b.input("x", {1, 2, 3, 4});
    const auto r = b.reshape(x, {-1, 12});
    CHECK(b.shape(r) == shape{2, 12});
    const auto& rn = node_writing(b.peek(), r);
    CHECK(b.peek().tensor(rn.inputs[1]).values<std::int32_t>() == std::vector<std::int32_t>{-1, 12});
    CHECK(*std::get<qtl::tflite::reshape_options>(rn.options).new_shape == std::vector<std::int32_t>{-1, 12});
    CHECK(b.shape(b.reshape(x, {24})) == shape{24});
    CHECK_THROWS_AS(b.reshape(x, {5, -1}), qtl::error);
    CHECK_THROWS_AS(b.reshape(x, {5, 5}), qtl::error);
    CHECK_THROWS_AS(b.reshape(x, {-1, -1}), qtl::error);

    const auto img = b.input("img", {1, 4, 4, 2});
    const auto p = b.pad(img, {{{0, 0}}, {{1, 2}}, {{3, 4}}, {{0, 0}}});
    CHECK(b.shape(p) == shape{1, 7, 11, 2});
    const auto& pc = b.peek().tensor(node_writing(b.peek(), p).inputs[1]);
    CHECK(pc.shape == shape{4, 2});
    CHECK(pc.values<std::int32_t>() == std::vector<std::int32_t>{0, 0, 1, 2, 3, 4, 0, 0});
    CHECK_THROWS_AS(b.pad(img, {{{0, 0}}, {{1, 1}}}), qtl::error);

    const auto feat = b.input("feat", {1, 7, 7, 16});
    const auto m = b.mean(feat, {1, 2});
    CHECK(b.shape(m) == shape{1, 16});
    CHECK_FALSE(options_of<qtl::tflite::reducer_options>(b.peek(), m).keep_dims);
    const auto mk = b.mean(feat, {-3, -2}, true);
    CHECK(b.shape(mk) == shape{1, 1, 1, 16});
    CHECK(b.peek().tensor(node_writing(b.peek(), mk).inputs[1]).values<std::int32_t>() ==
          std::vector<std::int32_t>{1, 2});
    CHECK_THROWS_AS(b.mean(feat, {1, 1}), qtl::error);
    CHECK_THROWS_AS(b.mean(feat, {4}), qtl::error);

    const auto t = b.transpose(b.input("nhwc", {1, 4, 5, 6}), {0, 3, 1, 2});
    CHECK(b.shape(t) == shape{1, 6, 4, 5});
    CHECK(b.peek().tensor(node_writing(b.peek(), t).inputs[1]).values<std::int32_t>() ==
          std::vector<std::int32_t>{0, 3, 1, 2});
    CHECK_THROWS_AS(b.transpose(t, {0, 1, 1, 2}), qtl::error);
    CHECK_THROWS_AS(b.transpose(t, {0, 1, 2}), qtl::error);
}

TEST_CASE("builder: activations keep the shape and carry their options") {
    graph_builder b;
    const auto x = b.input("x", {1, 3, 3, 5});
    struct expected {
        graph_builder::tensor t;
        op code;
    };
    const auto s = b.softmax(x, 0.5f);
    const auto l = b.leaky_relu(x, 0.1f);
    const std::vector<expected> all{{s, op::SOFTMAX},      {b.logistic(x), op::LOGISTIC}, {b.tanh(x), op::TANH},
                                    {b.relu(x), op::RELU}, {b.relu6(x), op::RELU6},       {l, op::LEAKY_RELU},
                                    {b.hard_swish(x), op::HARD_SWISH}};
    for (const auto& e : all) {
        CHECK(b.shape(e.t) == shape{1, 3, 3, 5});
        CHECK(node_writing(b.peek(), e.t).op == e.code);
        CHECK(node_writing(b.peek(), e.t).inputs == std::vector<std::int32_t>{x.index});
    }
    CHECK(options_of<qtl::tflite::softmax_options>(b.peek(), s).beta == 0.5f);
    CHECK(options_of<qtl::tflite::leaky_relu_options>(b.peek(), l).alpha == 0.1f);
    CHECK_THROWS_AS(b.softmax(x, 0.0f), qtl::error);
}

TEST_CASE("builder: fully_connected shapes and errors") {
    graph_builder b;
    const auto x = b.input("x", {4, 6});
    const auto y = b.fully_connected(x, "fc", filled(3 * 6), {3, 6}, filled(3), qtl::fused_activation::relu6);
    CHECK(b.shape(y) == shape{4, 3});
    CHECK(options_of<qtl::tflite::fully_connected_options>(b.peek(), y).fused_activation_function == act::RELU6);
    // rank 4 input flattened as TFLite does: 1 * 7 * 7 * 8 / 392 = 1 row
    const auto img = b.input("img", {1, 7, 7, 8});
    CHECK(b.shape(b.fully_connected(img, "head", filled(10 * 392), {10, 392})) == shape{1, 10});

    const auto f = b.input("f", {1, 1568});
    const auto e = error_of([&] { b.fully_connected(f, "dense1", filled(10 * 1569), {10, 1569}); });
    CHECK(contains(e, "'dense1'"));
    CHECK(contains(e, "[1, 1568]"));
    CHECK(contains(e, "[10, 1569]"));
    // weights / bias value counts
    CHECK_THROWS_AS(b.fully_connected(x, "few_weights", filled(17), {3, 6}), qtl::error);
    CHECK_THROWS_AS(b.fully_connected(x, "bad_bias", filled(18), {3, 6}, filled(2)), qtl::error);
    CHECK_THROWS_AS(b.fully_connected(x, "rank3_weights", filled(18), {3, 6, 1}), qtl::error);
}

TEST_CASE("builder: conv_2d channel mismatch names the layer and both shapes") {
    graph_builder b;
    const auto x = b.input("x", {1, 8, 8, 3});
    const auto e = error_of([&] { b.conv_2d(x, "stem", filled(16 * 9 * 4), {16, 3, 3, 4}); });
    CHECK(contains(e, "'stem'"));
    CHECK(contains(e, "[1, 8, 8, 3]"));
    CHECK(contains(e, "[16, 3, 3, 4]"));
    CHECK_THROWS_AS(b.conv_2d(b.input("flat", {1, 8}), "flat_conv", filled(9), {1, 3, 3, 1}), qtl::error);
    CHECK_THROWS_AS(b.conv_2d(x, "count", filled(5), {16, 3, 3, 3}), qtl::error);
    CHECK_THROWS_AS(b.conv_2d(x, "stride0", filled(9 * 3), {1, 3, 3, 3}, {}, {.stride = 0}), qtl::error);
}

TEST_CASE("builder: names are unique; a repeated explicit name is an error") {
    graph_builder b;
    const auto x = b.input("x", {1, 8, 8, 1});
    const auto p1 = b.max_pool_2d(x);
    const auto p2 = b.max_pool_2d(p1);
    const auto f1 = b.flatten(p2);
    const auto r = b.reshape(f1, {1, 4});
    CHECK(b.peek().tensor(p1.index).name == "max_pool_2d");
    CHECK(b.peek().tensor(p2.index).name == "max_pool_2d_1");
    CHECK(node_writing(b.peek(), p2).name == "max_pool_2d_1");
    CHECK(b.peek().tensor(f1.index).name == "flatten");
    CHECK(b.peek().tensor(r.index).name == "reshape");
    CHECK_THROWS_AS(b.relu(r, "flatten"), qtl::error);
    CHECK_THROWS_AS(b.input("x", {1}), qtl::error);
    CHECK_THROWS_AS(b.fully_connected(r, "x", filled(4), {1, 4}), qtl::error);
    b.output(b.relu(r));
    const auto g = std::move(b).build();
    std::set<std::string> names;
    for (const auto& t : g.tensors) CHECK(names.insert(t.name).second);
}

TEST_CASE("builder: build() needs inputs and outputs; handles are checked") {
    {
        graph_builder b;
        (void)b.input("x", {1, 2});
        CHECK_THROWS_AS(std::move(b).build(), qtl::error);
    }
    {
        graph_builder b;
        CHECK_THROWS_AS(b.relu(graph_builder::tensor{7}), qtl::error);
        CHECK_THROWS_AS(b.output(graph_builder::tensor{}), qtl::error);
    }
    {
        graph_builder b;
        const auto x = b.input("x", {1, 2}, qtl::tflite::tensor_type::INT8);
        const auto y = b.relu(x);
        CHECK(b.peek().tensor(y.index).type == qtl::tflite::tensor_type::INT8);
        b.output(y);
        const auto g = std::move(b).build();
        CHECK(g.nodes.size() == 1);
    }
}

TEST_CASE("builder: fused activations map to the schema's ActivationFunctionType") {
    CHECK(qtl::to_tflite(qtl::fused_activation::none) == act::NONE);
    CHECK(qtl::to_tflite(qtl::fused_activation::relu) == act::RELU);
    CHECK(qtl::to_tflite(qtl::fused_activation::relu_n1_to_1) == act::RELU_N1_TO_1);
    CHECK(qtl::to_tflite(qtl::fused_activation::relu6) == act::RELU6);
    CHECK(qtl::to_tflite(qtl::fused_activation::tanh) == act::TANH);
    CHECK(qtl::to_tflite(qtl::fused_activation::sign_bit) == act::SIGN_BIT);
}
