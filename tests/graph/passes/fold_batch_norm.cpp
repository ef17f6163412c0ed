// fold_batch_norm(): folded weights and biases checked against values
// computed by hand, and the folded graph against the original one run by a
// naive interpreter (tests/support/naive_float_graph.hpp).
#include "qtl/graph/passes/fold_batch_norm.hpp"

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "support/naive_float_graph.hpp"

using namespace qtl;
using tflite::builtin_operator;

namespace {

std::int32_t floats(graph& g, const std::string& name, qtl::shape s, std::vector<float> v) {
    return g.add_constant(name, std::move(s), std::span<const float>(v));
}

void check_same_outputs(const graph& before, const graph& after, const std::vector<std::vector<float>>& in) {
    const auto a = qtl_test::run_naive(before, in), b = qtl_test::run_naive(after, in);
    REQUIRE(a.size() == b.size());
    for (std::size_t o = 0; o < a.size(); ++o) {
        REQUIRE(a[o].v.size() == b[o].v.size());
        for (std::size_t i = 0; i < a[o].v.size(); ++i) CHECK(std::abs(a[o].v[i] - b[o].v[i]) < 1e-5);
    }
}

// x[1,3] -> FC(W[2,3], bias?) -> MUL(scale[2]) -> ADD(shift[2], fused act) -> y
graph dense_bn(bool with_bias, tflite::activation_function_type add_act) {
    graph g;
    auto x = g.add_activation("x", {1, 3});
    auto w = floats(g, "w", {2, 3}, {1, 2, 3, 4, 5, 6});
    auto f = g.add_activation("fc", {1, 2});
    std::vector<std::int32_t> in{x, w, -1};
    if (with_bias) in[2] = floats(g, "bias", {2}, {10, 20});
    g.add_node(builtin_operator::FULLY_CONNECTED, tflite::fully_connected_options{}, in, {f});
    auto m = g.add_activation("bn/mul", {1, 2});
    g.add_node(builtin_operator::MUL, tflite::mul_options{}, {floats(g, "scale", {2}, {0.5f, -2.0f}), f}, {m});
    auto a = g.add_activation("bn/add", {1, 2});
    tflite::add_options ao;
    ao.fused_activation_function = add_act;
    g.add_node(builtin_operator::ADD, ao, {m, floats(g, "shift", {2}, {1.0f, 3.0f})}, {a});
    g.inputs = {x};
    g.outputs = {a};
    g.validate();
    return g;
}

}  // namespace

TEST_CASE("fold_batch_norm: MUL + ADD after FULLY_CONNECTED with a bias") {
    const auto before = dense_bn(true, tflite::activation_function_type::RELU);
    auto g = before;
    std::vector<std::string> log;
    CHECK(fold_batch_norm(g, &log));
    REQUIRE(g.nodes.size() == 1);
    const auto& n = g.nodes[0];
    CHECK(n.op == builtin_operator::FULLY_CONNECTED);
    CHECK(std::get<tflite::fully_connected_options>(n.options).fused_activation_function ==
          tflite::activation_function_type::RELU);  // moved from the ADD
    // W' = W * s[row]: rows {1,2,3}*0.5 and {4,5,6}*-2; b' = b*s + t = {10*.5+1, 20*-2+3}.
    CHECK(g.tensor(n.inputs[1]).values<float>() == std::vector<float>{0.5f, 1.0f, 1.5f, -8.0f, -10.0f, -12.0f});
    CHECK(g.tensor(n.inputs[2]).values<float>() == std::vector<float>{6.0f, -37.0f});
    CHECK(g.tensor(n.outputs[0]).name == "bn/add");  // the chain's last tensor keeps its name
    CHECK(g.outputs == n.outputs);
    REQUIRE(log.size() == 1);
    CHECK(log[0].find("MUL 'bn/mul' + ADD 'bn/add' folded into FULLY_CONNECTED 'fc'") != std::string::npos);
    check_same_outputs(before, g, {{1.0f, -2.0f, 0.5f}});
    check_same_outputs(before, g, {{-3.0f, 0.25f, 4.0f}});
    g.validate();
}

TEST_CASE("fold_batch_norm: a missing bias is created") {
    const auto before = dense_bn(false, tflite::activation_function_type::NONE);
    auto g = before;
    CHECK(fold_batch_norm(g));
    REQUIRE(g.nodes.size() == 1);
    REQUIRE(g.nodes[0].inputs.size() == 3);
    CHECK(g.tensor(g.nodes[0].inputs[2]).values<float>() == std::vector<float>{1.0f, 3.0f});  // 0*s + t
    check_same_outputs(before, g, {{1.0f, -2.0f, 0.5f}});
}

TEST_CASE("fold_batch_norm: CONV_2D and DEPTHWISE_CONV_2D channels") {
    graph g;
    auto x = g.add_activation("x", {1, 3, 3, 2});
    std::vector<float> cw(2 * 2 * 2 * 2);
    for (std::size_t i = 0; i < cw.size(); ++i) cw[i] = 0.1f * static_cast<float>(i) - 0.7f;
    tflite::conv_2d_options co;
    co.stride_w = co.stride_h = 1;
    auto c = g.add_activation("conv", {1, 3, 3, 2});
    g.add_node(builtin_operator::CONV_2D, co, {x, floats(g, "cw", {2, 2, 2, 2}, cw), floats(g, "cb", {2}, {0.1f, 0.2f})},
               {c});
    auto m = g.add_activation("m", {1, 3, 3, 2});
    g.add_node(builtin_operator::MUL, tflite::mul_options{}, {c, floats(g, "s", {1, 1, 1, 2}, {2.0f, -1.0f})}, {m});
    auto a = g.add_activation("a", {1, 3, 3, 2});
    g.add_node(builtin_operator::ADD, tflite::add_options{}, {m, floats(g, "t", {2}, {0.5f, 0.25f})}, {a});
    // Depthwise with multiplier 2: weights [1,2,2,4], channels along the last axis.
    std::vector<float> dw(2 * 2 * 4);
    for (std::size_t i = 0; i < dw.size(); ++i) dw[i] = 0.05f * static_cast<float>(i) - 0.3f;
    tflite::depthwise_conv_2d_options dwo;
    dwo.stride_w = dwo.stride_h = 2;
    dwo.depth_multiplier = 2;
    auto d = g.add_activation("dw", {1, 2, 2, 4});
    g.add_node(builtin_operator::DEPTHWISE_CONV_2D, dwo, {a, floats(g, "dww", {1, 2, 2, 4}, dw), -1}, {d});
    auto m2 = g.add_activation("m2", {1, 2, 2, 4});
    g.add_node(builtin_operator::MUL, tflite::mul_options{}, {d, floats(g, "s2", {4}, {1.5f, 0.5f, -1.0f, 3.0f})}, {m2});
    g.inputs = {x};
    g.outputs = {m2};
    g.validate();
    const auto before = g;
    CHECK(fold_batch_norm(g));
    REQUIRE(g.nodes.size() == 2);
    CHECK(g.nodes[0].op == builtin_operator::CONV_2D);
    CHECK(g.nodes[1].op == builtin_operator::DEPTHWISE_CONV_2D);
    // Conv channel 1 (weights [1,...]) scaled by -1, bias {0.1*2+0.5, 0.2*-1+0.25}.
    const auto w = g.tensor(g.nodes[0].inputs[1]).values<float>();
    CHECK(w[0] == doctest::Approx(cw[0] * 2.0f));
    CHECK(w[8] == doctest::Approx(-cw[8]));
    const auto bias = g.tensor(g.nodes[0].inputs[2]).values<float>();
    CHECK(bias[0] == doctest::Approx(0.7f));
    CHECK(bias[1] == doctest::Approx(0.05f));
    // Depthwise: element k scales by s2[k % 4]; its created bias is zero (MUL only).
    const auto w2 = g.tensor(g.nodes[1].inputs[1]).values<float>();
    CHECK(w2[3] == doctest::Approx(dw[3] * 3.0f));
    CHECK(w2[6] == doctest::Approx(dw[6] * -1.0f));
    CHECK(g.tensor(g.nodes[1].inputs[2]).values<float>() == std::vector<float>(4, 0.0f));
    std::vector<float> in(18);
    for (std::size_t i = 0; i < in.size(); ++i) in[i] = std::sin(static_cast<float>(i));
    check_same_outputs(before, g, {in});
}

TEST_CASE("fold_batch_norm: what is left alone") {
    SUBCASE("the layer has a fused activation") {
        auto g = dense_bn(true, tflite::activation_function_type::NONE);
        std::get<tflite::fully_connected_options>(g.nodes[0].options).fused_activation_function =
            tflite::activation_function_type::RELU;
        CHECK_FALSE(fold_batch_norm(g));
        CHECK(g.nodes.size() == 3);
    }
    SUBCASE("the layer's output has another reader") {
        auto g = dense_bn(true, tflite::activation_function_type::NONE);
        g.outputs.push_back(g.nodes[0].outputs[0]);
        CHECK_FALSE(fold_batch_norm(g));
    }
    SUBCASE("the MUL has a fused activation: only the ADD... is not next to the layer") {
        auto g = dense_bn(true, tflite::activation_function_type::NONE);
        std::get<tflite::mul_options>(g.nodes[1].options).fused_activation_function =
            tflite::activation_function_type::RELU6;
        CHECK_FALSE(fold_batch_norm(g));
    }
    SUBCASE("the scale is not per channel (it varies along the batch)") {
        graph g;
        auto x = g.add_activation("x", {2, 3});
        auto f = g.add_activation("fc", {2, 2});
        g.add_node(builtin_operator::FULLY_CONNECTED, tflite::fully_connected_options{},
                   {x, floats(g, "w", {2, 3}, {1, 2, 3, 4, 5, 6}), -1}, {f});
        auto m = g.add_activation("m", {2, 2});
        g.add_node(builtin_operator::MUL, tflite::mul_options{}, {f, floats(g, "s", {2, 2}, {1, 2, 3, 4})}, {m});
        g.inputs = {x};
        g.outputs = {m};
        CHECK_FALSE(fold_batch_norm(g));
    }
    SUBCASE("weights are not constant") {
        graph g;
        auto x = g.add_activation("x", {1, 3});
        auto w = g.add_activation("w", {2, 3});
        auto f = g.add_activation("fc", {1, 2});
        g.add_node(builtin_operator::FULLY_CONNECTED, tflite::fully_connected_options{}, {x, w, -1}, {f});
        auto m = g.add_activation("m", {1, 2});
        g.add_node(builtin_operator::MUL, tflite::mul_options{}, {f, floats(g, "s", {2}, {1, 2})}, {m});
        g.inputs = {x, w};
        g.outputs = {m};
        CHECK_FALSE(fold_batch_norm(g));
    }
}

TEST_CASE("fold_batch_norm: shared weights are copied, not changed in place") {
    graph g;
    auto x = g.add_activation("x", {1, 2});
    auto w = floats(g, "w", {2, 2}, {1, 2, 3, 4});
    auto f1 = g.add_activation("fc1", {1, 2});
    g.add_node(builtin_operator::FULLY_CONNECTED, tflite::fully_connected_options{}, {x, w, -1}, {f1});
    auto m = g.add_activation("m", {1, 2});
    g.add_node(builtin_operator::MUL, tflite::mul_options{}, {f1, floats(g, "s", {2}, {3, 3})}, {m});
    auto f2 = g.add_activation("fc2", {1, 2});
    g.add_node(builtin_operator::FULLY_CONNECTED, tflite::fully_connected_options{}, {m, w, -1}, {f2});
    g.inputs = {x};
    g.outputs = {f2};
    const auto before = g;
    CHECK(fold_batch_norm(g));
    REQUIRE(g.nodes.size() == 2);
    CHECK(g.tensor(g.nodes[0].inputs[1]).values<float>() == std::vector<float>{3, 6, 9, 12});
    CHECK(g.tensor(g.nodes[1].inputs[1]).values<float>() == std::vector<float>{1, 2, 3, 4});
    check_same_outputs(before, g, {{0.5f, -1.5f}});
}

TEST_CASE("fold_batch_norm: SUB of a constant folds as ADD of its negation") {
    graph g;
    auto x = g.add_activation("x", {1, 2});
    auto f = g.add_activation("fc", {1, 2});
    g.add_node(builtin_operator::FULLY_CONNECTED, tflite::fully_connected_options{},
               {x, floats(g, "w", {2, 2}, {1, 2, 3, 4}), floats(g, "b", {2}, {1, 1})}, {f});
    auto s = g.add_activation("s", {1, 2});
    tflite::sub_options so;
    so.fused_activation_function = tflite::activation_function_type::RELU6;
    g.add_node(builtin_operator::SUB, so, {f, floats(g, "t", {2}, {0.5f, -2.0f})}, {s});
    g.inputs = {x};
    g.outputs = {s};
    const auto before = g;
    CHECK(fold_batch_norm(g));
    REQUIRE(g.nodes.size() == 1);
    CHECK(g.tensor(g.nodes[0].inputs[2]).values<float>() == std::vector<float>{0.5f, 3.0f});  // b - t
    CHECK(passes::fused_activation_of(g.nodes[0]) == tflite::activation_function_type::RELU6);
    check_same_outputs(before, g, {{0.75f, -0.25f}});

    // constant - x is not a shift: left alone.
    graph h;
    auto hx = h.add_activation("x", {1, 2});
    auto hf = h.add_activation("fc", {1, 2});
    h.add_node(builtin_operator::FULLY_CONNECTED, tflite::fully_connected_options{},
               {hx, floats(h, "w", {2, 2}, {1, 2, 3, 4}), -1}, {hf});
    auto hs = h.add_activation("s", {1, 2});
    h.add_node(builtin_operator::SUB, tflite::sub_options{}, {floats(h, "t", {2}, {0.5f, -2.0f}), hf}, {hs});
    h.inputs = {hx};
    h.outputs = {hs};
    CHECK_FALSE(fold_batch_norm(h));
}

TEST_CASE("fold_batch_norm: a layer whose options are not decoded is left alone") {
    auto g = dense_bn(true, tflite::activation_function_type::RELU);
    g.nodes[0].options = std::monostate{};
    CHECK_FALSE(fold_batch_norm(g));
    CHECK(g.nodes.size() == 3);
}
