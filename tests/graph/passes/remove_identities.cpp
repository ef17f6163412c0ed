// remove_identities(): each kind of identity leftover, the look-alikes that
// are not identities, and the uint8-input CAST that must stay.
#include "qtl/graph/passes/remove_identities.hpp"

#include <cmath>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "support/naive_float_graph.hpp"

using namespace qtl;
using tflite::builtin_operator;
using tflite::tensor_type;

namespace {

std::int32_t floats(graph& g, const std::string& name, qtl::shape s, std::vector<float> v) {
    return g.add_constant(name, std::move(s), std::span<const float>(v));
}

std::vector<builtin_operator> ops_of(const graph& g) {
    std::vector<builtin_operator> r;
    for (const auto& n : g.nodes) r.push_back(n.op);
    return r;
}

}  // namespace

TEST_CASE("remove_identities: same-shape RESHAPE, +0, *1, same-type CAST") {
    graph g;
    auto x = g.add_activation("x", {1, 3});
    const std::vector<std::int32_t> s{1, 3};
    auto r = g.add_activation("r", {1, 3});
    g.add_node(builtin_operator::RESHAPE, tflite::reshape_options{},
               {x, g.add_constant("shape", {2}, std::span<const std::int32_t>(s))}, {r});
    auto a = g.add_activation("a", {1, 3});
    g.add_node(builtin_operator::ADD, tflite::add_options{}, {floats(g, "zeros", {3}, {0, 0, 0}), r}, {a});
    auto t = g.add_activation("t", {1, 3});
    g.add_node(builtin_operator::TANH, {}, {a}, {t});
    auto c = g.add_activation("c", {1, 3});
    g.add_node(builtin_operator::CAST, {}, {t}, {c});
    auto d = g.add_activation("d", {1, 3});
    g.add_node(builtin_operator::SUB, tflite::sub_options{}, {c, floats(g, "zero", {}, {0})}, {d});
    auto m = g.add_activation("dropout", {1, 3});
    g.add_node(builtin_operator::MUL, tflite::mul_options{}, {d, floats(g, "one", {1, 1}, {1})}, {m});
    g.inputs = {x};
    g.outputs = {m};
    const auto before = g;
    std::vector<std::string> log;
    CHECK(remove_identities(g, &log));
    CHECK(ops_of(g) == std::vector<builtin_operator>{builtin_operator::TANH});
    CHECK(log.size() == 5);
    // The graph output keeps its name: TANH now writes 'dropout'.
    CHECK(g.tensor(g.outputs[0]).name == "dropout");
    CHECK(g.nodes[0].inputs[0] == g.inputs[0]);
    const auto a1 = qtl_test::run_naive(before, {{-1.0f, 0.5f, 2.0f}}), a2 = qtl_test::run_naive(g, {{-1.0f, 0.5f, 2.0f}});
    for (std::size_t i = 0; i < 3; ++i) CHECK(std::abs(a1[0].v[i] - a2[0].v[i]) < 1e-6);
    g.validate();
}

TEST_CASE("remove_identities: look-alikes that are not identities") {
    graph g;
    auto x = g.add_activation("x", {1, 3});
    // 0 - x is not x.
    auto s = g.add_activation("s", {1, 3});
    g.add_node(builtin_operator::SUB, tflite::sub_options{}, {floats(g, "z", {3}, {0, 0, 0}), x}, {s});
    // x * 1 broadcast to [2,3] changes the shape.
    auto m = g.add_activation("m", {2, 3});
    g.add_node(builtin_operator::MUL, tflite::mul_options{}, {s, floats(g, "ones", {2, 3}, {1, 1, 1, 1, 1, 1})}, {m});
    // x + 0 with a fused RELU is a RELU.
    auto a = g.add_activation("a", {2, 3});
    tflite::add_options ao;
    ao.fused_activation_function = tflite::activation_function_type::RELU;
    g.add_node(builtin_operator::ADD, ao, {m, floats(g, "zero", {1}, {0})}, {a});
    // x * 0.5 is not x.
    auto h = g.add_activation("h", {2, 3});
    g.add_node(builtin_operator::MUL, tflite::mul_options{}, {a, floats(g, "half", {1}, {0.5f})}, {h});
    // RESHAPE that changes the shape.
    const std::vector<std::int32_t> ns{6};
    auto r = g.add_activation("r", {6});
    g.add_node(builtin_operator::RESHAPE, tflite::reshape_options{},
               {h, g.add_constant("ns", {1}, std::span<const std::int32_t>(ns))}, {r});
    g.inputs = {x};
    g.outputs = {r};
    CHECK_FALSE(remove_identities(g));
    CHECK(g.nodes.size() == 5);
}

TEST_CASE("remove_identities: a uint8 input's CAST to float32 stays, and the input stays UINT8") {
    graph g;
    auto x = g.add_activation("pixels", {2, 2}, tensor_type::UINT8);
    auto f = g.add_activation("pixels_f", {2, 2});
    g.add_node(builtin_operator::CAST, {}, {x}, {f});
    const std::vector<std::int32_t> ax{0};
    auto e = g.add_activation("batched", {1, 2, 2});
    g.add_node(builtin_operator::EXPAND_DIMS, {}, {f, g.add_constant("axis", {}, std::span<const std::int32_t>(ax))}, {e});
    g.inputs = {x};
    g.outputs = {e};
    CHECK_FALSE(remove_identities(g));
    CHECK(ops_of(g) == std::vector<builtin_operator>{builtin_operator::CAST, builtin_operator::EXPAND_DIMS});
    CHECK(g.tensor(g.inputs[0]).type == tensor_type::UINT8);
}

TEST_CASE("remove_identities: an identity between a graph input and a graph output stays") {
    graph g;
    auto x = g.add_activation("x", {1, 3});
    auto c = g.add_activation("y", {1, 3});
    g.add_node(builtin_operator::CAST, {}, {x}, {c});
    g.inputs = {x};
    g.outputs = {c};
    CHECK_FALSE(remove_identities(g));  // removing it would merge the model's input and output
    CHECK(g.nodes.size() == 1);
}
