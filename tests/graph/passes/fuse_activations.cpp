// fuse_activations(): which activations fuse into which producers, checked
// on the structure and, through a naive interpreter, on the values.
#include "qtl/graph/passes/fuse_activations.hpp"

#include <cmath>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "support/naive_float_graph.hpp"

using namespace qtl;
using tflite::activation_function_type;
using tflite::builtin_operator;

namespace {

// x[1,4] -> producer(op) -> activation(act) -> y
graph chain(builtin_operator producer, builtin_operator act) {
    graph g;
    auto x = g.add_activation("x", {1, 2, 2, 1});
    auto p = g.add_activation("p", {1, 2, 2, 1});
    const std::vector<float> k{1.5f};
    switch (producer) {
        case builtin_operator::ADD:
            g.add_node(producer, tflite::add_options{}, {x, g.add_constant("k", {1}, std::span<const float>(k))}, {p});
            break;
        case builtin_operator::MUL:
            g.add_node(producer, tflite::mul_options{}, {x, g.add_constant("k", {1}, std::span<const float>(k))}, {p});
            break;
        case builtin_operator::MAX_POOL_2D: {
            tflite::pool_2d_options o;
            o.stride_w = o.stride_h = o.filter_width = o.filter_height = 1;
            g.add_node(producer, o, {x}, {p});
            break;
        }
        case builtin_operator::CONV_2D: {
            tflite::conv_2d_options o;
            o.stride_w = o.stride_h = 1;
            const std::vector<float> w{-2.0f};
            g.add_node(producer, o, {x, g.add_constant("w", {1, 1, 1, 1}, std::span<const float>(w)), -1}, {p});
            break;
        }
        default: g.add_node(producer, {}, {x}, {p}); break;
    }
    auto y = g.add_activation("y", {1, 2, 2, 1});
    g.add_node(act, {}, {p}, {y});
    g.inputs = {x};
    g.outputs = {y};
    g.validate();
    return g;
}

void check_same(const graph& a, const graph& b) {
    const std::vector<std::vector<float>> in{{-7.0f, -0.4f, 0.3f, 5.0f}};
    const auto ra = qtl_test::run_naive(a, in), rb = qtl_test::run_naive(b, in);
    for (std::size_t i = 0; i < ra[0].v.size(); ++i) CHECK(std::abs(ra[0].v[i] - rb[0].v[i]) < 1e-6);
}

}  // namespace

TEST_CASE("fuse_activations: RELU, RELU6, RELU_N1_TO_1 into CONV_2D, ADD, MUL, MAX_POOL_2D") {
    const std::pair<builtin_operator, activation_function_type> acts[] = {
        {builtin_operator::RELU, activation_function_type::RELU},
        {builtin_operator::RELU6, activation_function_type::RELU6},
        {builtin_operator::RELU_N1_TO_1, activation_function_type::RELU_N1_TO_1}};
    for (auto producer : {builtin_operator::CONV_2D, builtin_operator::ADD, builtin_operator::MUL,
                          builtin_operator::MAX_POOL_2D})
        for (auto [op, fused] : acts) {
            INFO(tflite::describe(producer) << " + " << tflite::describe(op));
            const auto before = chain(producer, op);
            auto g = before;
            std::vector<std::string> log;
            CHECK(fuse_activations(g, &log));
            REQUIRE(g.nodes.size() == 1);
            CHECK(g.nodes[0].op == producer);
            CHECK(passes::fused_activation_of(g.nodes[0]) == fused);
            CHECK(g.tensor(g.nodes[0].outputs[0]).name == "y");
            CHECK(g.outputs == g.nodes[0].outputs);
            CHECK(log.size() == 1);
            check_same(before, g);
            g.validate();
        }
}

TEST_CASE("fuse_activations: what is left alone") {
    SUBCASE("TANH is not a fusable activation") {
        auto g = chain(builtin_operator::ADD, builtin_operator::TANH);
        CHECK_FALSE(fuse_activations(g));
    }
    SUBCASE("CONCATENATION: TFLite's kernel refuses a fused activation") {
        graph g;
        auto x = g.add_activation("x", {1, 2});
        auto c = g.add_activation("c", {1, 4});
        tflite::concatenation_options co;
        co.axis = 1;
        g.add_node(builtin_operator::CONCATENATION, co, {x, x}, {c});
        auto y = g.add_activation("y", {1, 4});
        g.add_node(builtin_operator::RELU, {}, {c}, {y});
        g.inputs = {x};
        g.outputs = {y};
        CHECK_FALSE(fuse_activations(g));
    }
    SUBCASE("a producer without fused activations (LOGISTIC)") {
        auto g = chain(builtin_operator::LOGISTIC, builtin_operator::RELU);
        CHECK_FALSE(fuse_activations(g));
    }
    SUBCASE("the producer already has one") {
        auto g = chain(builtin_operator::ADD, builtin_operator::RELU);
        std::get<tflite::add_options>(g.nodes[0].options).fused_activation_function = activation_function_type::RELU6;
        CHECK_FALSE(fuse_activations(g));
    }
    SUBCASE("the pre-activation value is read elsewhere") {
        auto g = chain(builtin_operator::ADD, builtin_operator::RELU);
        g.outputs.push_back(g.nodes[0].outputs[0]);
        CHECK_FALSE(fuse_activations(g));
        CHECK(g.nodes.size() == 2);
    }
}
