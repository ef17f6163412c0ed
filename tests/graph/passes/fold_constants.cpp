// fold_constants(): each foldable op on constants whose result is computed
// by hand here, and the cases that must be left alone.
#include "qtl/graph/passes/fold_constants.hpp"

#include <cstdint>
#include <string>
#include <vector>

#include <doctest/doctest.h>

using namespace qtl;
using tflite::builtin_operator;
using tflite::tensor_type;

namespace {

std::int32_t ints(graph& g, const std::string& name, qtl::shape s, std::vector<std::int32_t> v) {
    return g.add_constant(name, std::move(s), std::span<const std::int32_t>(v));
}
std::int32_t floats(graph& g, const std::string& name, qtl::shape s, std::vector<float> v) {
    return g.add_constant(name, std::move(s), std::span<const float>(v));
}

// The graph "x -> (folded value) -> ADD(x, value)": the value's consumer keeps it alive.
const graph_tensor& folded_operand(const graph& g) {
    REQUIRE(g.nodes.size() == 1);
    return g.tensor(g.nodes[0].inputs[1]);
}

}  // namespace

TEST_CASE("fold_constants: Keras Flatten's shape chain with a fixed batch") {
    graph g;
    auto x = g.add_activation("x", {2, 3, 2});  // batch fixed to 2
    g.tensor(x).dynamic_batch = true;
    auto shp = g.add_activation("shape", {3}, tensor_type::INT32);
    g.add_node(builtin_operator::SHAPE, {}, {x}, {shp});
    auto batch = g.add_activation("batch", {}, tensor_type::INT32);
    tflite::strided_slice_options so;
    so.shrink_axis_mask = 1;
    g.add_node(builtin_operator::STRIDED_SLICE, so,
               {shp, ints(g, "b", {1}, {0}), ints(g, "e", {1}, {1}), ints(g, "s", {1}, {1})}, {batch});
    auto packed = g.add_activation("packed", {2}, tensor_type::INT32);
    g.add_node(builtin_operator::PACK, {}, {batch, ints(g, "twelve", {}, {6})}, {packed});
    auto y = g.add_activation("flat", {2, 6});
    g.add_node(builtin_operator::RESHAPE, tflite::reshape_options{}, {x, packed}, {y});
    g.inputs = {x};
    g.outputs = {y};
    std::vector<std::string> log;
    CHECK(fold_constants(g, &log));
    REQUIRE(g.nodes.size() == 1);
    CHECK(g.nodes[0].op == builtin_operator::RESHAPE);
    const auto& s = g.tensor(g.nodes[0].inputs[1]);
    CHECK(s.is_constant);
    CHECK(s.values<std::int32_t>() == std::vector<std::int32_t>{2, 6});
    CHECK(log.size() == 3);
    CHECK(log[0].find("SHAPE") != std::string::npos);
    CHECK(log[0].find("{2, 3, 2}") != std::string::npos);
    CHECK(g.tensors.size() == 3);  // x, the folded shape, y: the rest is removed
    CHECK_FALSE(fold_constants(g));  // fixed point
    g.validate();
}

TEST_CASE("fold_constants: STRIDED_SLICE with masks and negative strides") {
    // in = [[0,1,2,3],[4,5,6,7],[8,9,10,11]]; slice [::-1, 1:-1:2] -> rows 2,1,0; columns 1 -> [[9],[5],[1]].
    graph g;
    std::vector<std::int32_t> v(12);
    for (int i = 0; i < 12; ++i) v[static_cast<std::size_t>(i)] = i;
    auto in = ints(g, "in", {3, 4}, v);
    tflite::strided_slice_options so;
    so.begin_mask = 1;
    so.end_mask = 1;
    auto out = g.add_activation("out", {3, 1}, tensor_type::INT32);
    g.add_node(builtin_operator::STRIDED_SLICE, so,
               {in, ints(g, "b", {2}, {7, 1}), ints(g, "e", {2}, {0, -1}), ints(g, "s", {2}, {-1, 2})}, {out});
    auto x = g.add_activation("x", {3, 1}, tensor_type::INT32);
    auto y = g.add_activation("y", {3, 1}, tensor_type::INT32);
    g.add_node(builtin_operator::ADD, tflite::add_options{}, {x, out}, {y});
    g.inputs = {x};
    g.outputs = {y};
    CHECK(fold_constants(g));
    CHECK(folded_operand(g).values<std::int32_t>() == std::vector<std::int32_t>{9, 5, 1});
}

TEST_CASE("fold_constants: CONCATENATION, GATHER, CAST, binary ops") {
    graph g;
    auto x = g.add_activation("x", {2, 3});
    auto add_use = [&](std::int32_t c, const char* name) {
        auto y = g.add_activation(name, {2, 3});
        g.add_node(builtin_operator::MUL, tflite::mul_options{}, {x, c}, {y});
        g.outputs.push_back(y);
    };
    g.inputs = {x};
    // CONCATENATION along axis 1: [[1],[2]] ++ [[3,4],[5,6]] -> [[1,3,4],[2,5,6]].
    auto cat = g.add_activation("cat", {2, 3});
    tflite::concatenation_options co;
    co.axis = -1;
    g.add_node(builtin_operator::CONCATENATION, co,
               {floats(g, "c0", {2, 1}, {1, 2}), floats(g, "c1", {2, 2}, {3, 4, 5, 6})}, {cat});
    add_use(cat, "y_cat");
    // GATHER of 1-D params: [10,20,30,40][[3,0,1],[2,2,0]].
    auto gat = g.add_activation("gat", {2, 3});
    g.add_node(builtin_operator::GATHER, {},
               {floats(g, "p", {4}, {10, 20, 30, 40}), ints(g, "i", {2, 3}, {3, 0, 1, 2, 2, 0})}, {gat});
    add_use(gat, "y_gat");
    // CAST float -> int32 truncates toward zero: {-1.7, 1.7, 2.5, -0.2, 3, 0}.
    auto cst = g.add_activation("cst", {2, 3}, tensor_type::INT32);
    g.add_node(builtin_operator::CAST, {}, {floats(g, "f", {2, 3}, {-1.7f, 1.7f, 2.5f, -0.2f, 3.0f, 0.0f})}, {cst});
    auto xi = g.add_activation("xi", {2, 3}, tensor_type::INT32);
    g.inputs.push_back(xi);
    auto yc = g.add_activation("y_cst", {2, 3}, tensor_type::INT32);
    g.add_node(builtin_operator::ADD, tflite::add_options{}, {xi, cst}, {yc});
    g.outputs.push_back(yc);
    // SUB with broadcasting and a fused RELU: [[1,2,3],[4,5,6]] - [2.5] -> relu -> [[0,0,.5],[1.5,2.5,3.5]].
    auto sub = g.add_activation("sub", {2, 3});
    tflite::sub_options sbo;
    sbo.fused_activation_function = tflite::activation_function_type::RELU;
    g.add_node(builtin_operator::SUB, sbo, {floats(g, "m", {2, 3}, {1, 2, 3, 4, 5, 6}), floats(g, "k", {1}, {2.5f})},
               {sub});
    add_use(sub, "y_sub");
    // int32 MUL with a row broadcast: [[1],[2]] * [3,4,5] -> [[3,4,5],[6,8,10]].
    auto mul = g.add_activation("mul", {2, 3}, tensor_type::INT32);
    g.add_node(builtin_operator::MUL, tflite::mul_options{}, {ints(g, "r", {2, 1}, {1, 2}), ints(g, "q", {3}, {3, 4, 5})},
               {mul});
    auto ym = g.add_activation("y_mul", {2, 3}, tensor_type::INT32);
    g.add_node(builtin_operator::ADD, tflite::add_options{}, {xi, mul}, {ym});
    g.outputs.push_back(ym);
    g.validate();

    CHECK(fold_constants(g));
    REQUIRE(g.nodes.size() == 5);
    auto operand = [&](std::size_t n) -> const graph_tensor& {
        const auto& t = g.tensor(g.nodes[n].inputs[1]);
        REQUIRE(t.is_constant);
        return t;
    };
    CHECK(operand(0).values<float>() == std::vector<float>{1, 3, 4, 2, 5, 6});
    CHECK(operand(1).values<float>() == std::vector<float>{40, 10, 20, 30, 30, 10});
    CHECK(operand(2).values<std::int32_t>() == std::vector<std::int32_t>{-1, 1, 2, 0, 3, 0});
    CHECK(operand(3).values<float>() == std::vector<float>{0, 0, 0.5f, 1.5f, 2.5f, 3.5f});
    CHECK(operand(4).values<std::int32_t>() == std::vector<std::int32_t>{3, 4, 5, 6, 8, 10});
    g.validate();
}

TEST_CASE("fold_constants: what is left alone") {
    graph g;
    auto x = g.add_activation("x", {1, 4});
    // A node writing a graph output stays, even on constants.
    auto out_c = g.add_activation("out_c", {2});
    g.add_node(builtin_operator::ADD, tflite::add_options{},
               {floats(g, "a", {2}, {1, 2}), floats(g, "b", {2}, {3, 4})}, {out_c});
    // An op on an activation stays.
    auto r = g.add_activation("r", {1, 4});
    g.add_node(builtin_operator::RELU, {}, {x}, {r});
    // PACK whose axis cannot be told from the shapes ([2] packed twice -> [2,2]) stays.
    auto pk = g.add_activation("pk", {2, 2}, tensor_type::INT32);
    g.add_node(builtin_operator::PACK, {}, {ints(g, "p0", {2}, {1, 2}), ints(g, "p1", {2}, {3, 4})}, {pk});
    auto xi = g.add_activation("xi", {2, 2}, tensor_type::INT32);
    auto yi = g.add_activation("yi", {2, 2}, tensor_type::INT32);
    g.add_node(builtin_operator::ADD, tflite::add_options{}, {xi, pk}, {yi});
    // An op qtl does not evaluate (SIN) stays.
    auto sn = g.add_activation("sn", {2});
    g.add_node(builtin_operator::SIN, {}, {floats(g, "angles", {2}, {0, 1})}, {sn});
    auto ys = g.add_activation("ys", {2});
    auto x2 = g.add_activation("x2", {2});
    g.add_node(builtin_operator::ADD, tflite::add_options{}, {x2, sn}, {ys});
    g.inputs = {x, xi, x2};
    g.outputs = {out_c, r, yi, ys};
    CHECK_FALSE(fold_constants(g));
    CHECK(g.nodes.size() == 6);
}

TEST_CASE("fold_constants: PACK of vectors along a recoverable axis") {
    // [1,2,3] and [4,5,6] packed into [3,2]: the only axis giving that shape is 1 -> [[1,4],[2,5],[3,6]].
    graph g;
    auto pk = g.add_activation("pk", {3, 2}, tensor_type::INT32);
    g.add_node(builtin_operator::PACK, {}, {ints(g, "a", {3}, {1, 2, 3}), ints(g, "b", {3}, {4, 5, 6})}, {pk});
    auto x = g.add_activation("x", {3, 2}, tensor_type::INT32);
    auto y = g.add_activation("y", {3, 2}, tensor_type::INT32);
    g.add_node(builtin_operator::ADD, tflite::add_options{}, {x, pk}, {y});
    g.inputs = {x};
    g.outputs = {y};
    CHECK(fold_constants(g));
    CHECK(folded_operand(g).values<std::int32_t>() == std::vector<std::int32_t>{1, 4, 2, 5, 3, 6});
}
