// simplify() on the shapes Keras/TF float exports take.  Each model is built
// here with qtl::graph, written with graph_to_tflite + write_model, read back
// with read_model + graph_from_tflite (the path a user's file takes), then
// simplified.  Checked: the exact op list afterwards, and the outputs before
// vs after — before by a naive interpreter written for the tests
// (support/naive_float_graph.hpp; the float executor does not run SHAPE or
// PACK), after by both that interpreter and qtl::float_executor — within 1e-5.
#include "qtl/graph/simplify.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "qtl/graph/float_executor.hpp"
#include "qtl/graph/from_tflite.hpp"
#include "qtl/graph/to_tflite.hpp"
#include "qtl/io/npy.hpp"
#include "qtl/io/tflite/reader.hpp"
#include "qtl/io/tflite/writer.hpp"
#include "support/naive_float_graph.hpp"

using namespace qtl;
using tflite::activation_function_type;
using tflite::builtin_operator;
using tflite::tensor_type;
using op_list = std::vector<builtin_operator>;

namespace {

// Deterministic pseudo-random values in [-scale, scale].
std::vector<float> values(std::size_t n, float scale, unsigned seed) {
    std::vector<float> v(n);
    std::uint32_t s = 2463534242u + seed * 7919u;
    for (auto& x : v) {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        x = scale * (static_cast<float>(s % 20001u) / 10000.0f - 1.0f);
    }
    return v;
}

std::int32_t floats(graph& g, const std::string& name, qtl::shape s, std::vector<float> v) {
    return g.add_constant(name, std::move(s), std::span<const float>(v));
}
std::int32_t ints(graph& g, const std::string& name, qtl::shape s, std::vector<std::int32_t> v) {
    return g.add_constant(name, std::move(s), std::span<const std::int32_t>(v));
}
std::int32_t weights(graph& g, const std::string& name, qtl::shape s, float scale, unsigned seed) {
    return floats(g, name, s, values(num_elements(s), scale, seed));
}

std::int32_t dense(graph& g, std::int32_t x, const std::string& name, std::int32_t in, std::int32_t out, bool bias,
                   activation_function_type act, unsigned seed) {
    auto y = g.add_activation(name, {g.tensor(x).shape[0], out});
    g.tensor(y).dynamic_batch = g.tensor(x).dynamic_batch;
    tflite::fully_connected_options o;
    o.fused_activation_function = act;
    g.add_node(builtin_operator::FULLY_CONNECTED, o,
               {x, weights(g, name + "/kernel", {out, in}, 0.5f, seed),
                bias ? weights(g, name + "/bias", {out}, 0.2f, seed + 1) : -1},
               {y});
    return y;
}

// Unfused Keras BatchNormalization: MUL by a per-channel scale, ADD a per-channel shift.
std::int32_t batch_norm(graph& g, std::int32_t x, const std::string& name, unsigned seed) {
    const auto s = g.tensor(x).shape;
    const auto c = s.back();
    auto scale = values(static_cast<std::size_t>(c), 1.0f, seed);
    for (auto& v : scale) v += 1.5f;  // gamma / sqrt(var + eps): positive, around 1.5
    auto m = g.add_activation(name + "/mul", s);
    g.add_node(builtin_operator::MUL, tflite::mul_options{}, {x, floats(g, name + "/scale", {c}, scale)}, {m});
    auto a = g.add_activation(name + "/add", s);
    g.add_node(builtin_operator::ADD, tflite::add_options{}, {m, weights(g, name + "/shift", {c}, 0.3f, seed + 1)}, {a});
    return a;
}

std::int32_t unary(graph& g, builtin_operator op, std::int32_t x, const std::string& name) {
    auto y = g.add_activation(name, g.tensor(x).shape);
    tflite::builtin_options o;
    if (op == builtin_operator::SOFTMAX) o = tflite::softmax_options{1.0f};
    g.add_node(op, o, {x}, {y});
    return y;
}

std::int32_t pool(graph& g, builtin_operator op, std::int32_t x, const std::string& name, int k, int stride,
                  tflite::padding p) {
    const auto s = g.tensor(x).shape;
    const int oh = p == tflite::padding::SAME ? (s[1] + stride - 1) / stride : (s[1] - k + stride) / stride;
    const int ow = p == tflite::padding::SAME ? (s[2] + stride - 1) / stride : (s[2] - k + stride) / stride;
    auto y = g.add_activation(name, {s[0], oh, ow, s[3]});
    tflite::pool_2d_options o;
    o.padding = p;
    o.stride_w = o.stride_h = stride;
    o.filter_width = o.filter_height = k;
    g.add_node(op, o, {x}, {y});
    return y;
}

// Through the file format, as a user's model arrives.
graph through_file(const graph& g, std::int32_t batch = 1) {
    // SHAPE / PACK options are not in the graph: this file is for qtl's reader only.
    const auto bytes = tflite::write_model(graph_to_tflite(g, {.allow_undecoded_options = true}));
    graph_import_options o;
    o.batch = batch;
    return graph_from_tflite(tflite::read_model(std::span<const std::uint8_t>(bytes)), o);
}

op_list ops_of(const graph& g) {
    op_list r;
    for (const auto& n : g.nodes) r.push_back(n.op);
    return r;
}

// With QTL_WRITE_TFLITE_DIR set, saves the simplified model, its inputs and
// the expected outputs (.npy) there, for running it by hand in LiteRT
// (tests/conformance/litert/run_model.mjs; see docs/tflite_import.md).
void dump_if_asked(const std::string& name, const graph& after, const std::vector<std::vector<float>>& in,
                   const std::vector<qtl_test::naive_value>& expected) {
    const char* dir = std::getenv("QTL_WRITE_TFLITE_DIR");
    if (!dir || !*dir) return;
    const std::filesystem::path d(dir);
    std::filesystem::create_directories(d);
    tflite::write_model(graph_to_tflite(after), d / (name + ".tflite"));
    for (std::size_t i = 0; i < in.size(); ++i) {
        const auto& t = after.tensor(after.inputs[i]);
        npy::array a;
        if (t.type == tensor_type::UINT8) {
            std::vector<std::uint8_t> v(in[i].begin(), in[i].end());
            a = npy::make_array<std::uint8_t>(v, t.shape);
        } else {
            a = npy::make_array<float>(in[i], t.shape);
        }
        npy::write_file((d / (name + "_in" + std::to_string(i) + ".npy")).string(), a);
    }
    for (std::size_t o = 0; o < expected.size(); ++o) {
        std::vector<float> v(expected[o].v.begin(), expected[o].v.end());
        npy::write_file((d / (name + "_expected" + std::to_string(o) + ".npy")).string(),
                        npy::make_array<float>(v, expected[o].shape));
    }
}

// Runs `before` (naive) and `after` (naive and float_executor) on inputs
// derived from `seed` and compares every output within 1e-5.
void check_equivalent(const std::string& name, const graph& before, const graph& after, unsigned seed,
                      float input_scale = 2.0f, bool integer_inputs = false) {
    std::vector<std::vector<float>> in;
    for (auto i : before.inputs) {
        auto v = values(before.tensor(i).size(), input_scale, seed + static_cast<unsigned>(i));
        if (integer_inputs)
            for (auto& x : v) x = std::round(std::abs(x));
        in.push_back(std::move(v));
    }
    const auto expected = qtl_test::run_naive(before, in);
    const auto naive_after = qtl_test::run_naive(after, in);
    dump_if_asked(name, after, in, expected);
    float_executor run(after);
    for (std::size_t i = 0; i < in.size(); ++i) run.set_input(i, in[i]);
    run.invoke();
    REQUIRE(expected.size() == after.outputs.size());
    for (std::size_t o = 0; o < expected.size(); ++o) {
        const auto got = run.output(o);
        REQUIRE(got.size() == expected[o].v.size());
        REQUIRE(naive_after[o].v.size() == expected[o].v.size());
        double worst = 0.0;
        for (std::size_t k = 0; k < got.size(); ++k) {
            worst = std::max(worst, std::abs(static_cast<double>(got[k]) - expected[o].v[k]));
            worst = std::max(worst, std::abs(naive_after[o].v[k] - expected[o].v[k]));
        }
        INFO("output " << o << " max |after - before| = " << worst);
        CHECK(worst < 1e-5);
        // A degenerate output (all equal) would make the comparison meaningless.
        const auto [lo, hi] = std::minmax_element(expected[o].v.begin(), expected[o].v.end());
        CHECK(*hi - *lo > 1e-3);
    }
}

// Keras Flatten with a dynamic batch, then Dense + softmax.
graph flatten_model() {
    graph g;
    auto x = g.add_activation("image", {1, 2, 3, 2});
    g.tensor(x).dynamic_batch = true;
    auto shp = g.add_activation("flatten/Shape", {4}, tensor_type::INT32);
    g.add_node(builtin_operator::SHAPE, {}, {x}, {shp});
    auto batch = g.add_activation("flatten/strided_slice", {}, tensor_type::INT32);
    tflite::strided_slice_options so;
    so.shrink_axis_mask = 1;
    g.add_node(builtin_operator::STRIDED_SLICE, so,
               {shp, ints(g, "flatten/begin", {1}, {0}), ints(g, "flatten/end", {1}, {1}),
                ints(g, "flatten/strides", {1}, {1})},
               {batch});
    auto packed = g.add_activation("flatten/Reshape/shape", {2}, tensor_type::INT32);
    g.add_node(builtin_operator::PACK, {}, {batch, ints(g, "flatten/Const", {}, {12})}, {packed});
    auto flat = g.add_activation("flatten/Reshape", {1, 12});
    g.tensor(flat).dynamic_batch = true;
    g.add_node(builtin_operator::RESHAPE, tflite::reshape_options{}, {x, packed}, {flat});
    auto logits = dense(g, flat, "dense", 12, 4, true, activation_function_type::NONE, 11);
    auto probs = unary(g, builtin_operator::SOFTMAX, logits, "probs");
    g.tensor(probs).dynamic_batch = true;
    g.inputs = {x};
    g.outputs = {probs};
    g.validate();
    return g;
}

}  // namespace

TEST_CASE("simplify: Keras Flatten (SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE) with a dynamic batch") {
    for (std::int32_t batch : {1, 3}) {
        INFO("batch " << batch);
        const auto before = through_file(flatten_model(), batch);
        CHECK(before.tensor(before.inputs[0]).shape == qtl::shape{batch, 2, 3, 2});
        CHECK(ops_of(before) == op_list{builtin_operator::SHAPE, builtin_operator::STRIDED_SLICE, builtin_operator::PACK,
                                    builtin_operator::RESHAPE, builtin_operator::FULLY_CONNECTED,
                                    builtin_operator::SOFTMAX});
        auto g = before;
        const auto report = simplify(g);
        CHECK(ops_of(g) == op_list{builtin_operator::RESHAPE, builtin_operator::FULLY_CONNECTED, builtin_operator::SOFTMAX});
        const auto& shape_operand = g.tensor(g.nodes[0].inputs[1]);
        CHECK(shape_operand.is_constant);
        CHECK(shape_operand.values<std::int32_t>() == std::vector<std::int32_t>{batch, 12});
        REQUIRE(report.changes.size() == 3);  // SHAPE, STRIDED_SLICE, PACK folded
        CHECK(report.changes[0] == "fold_constants: SHAPE 'flatten/Shape' -> constant INT32 [4] {" +
                                       std::to_string(batch) + ", 2, 3, 2}");
        CHECK(report.changes[2] == "fold_constants: PACK 'flatten/Reshape/shape' -> constant INT32 [2] {" +
                                       std::to_string(batch) + ", 12}");
        CHECK(report.rounds == 2);
        CHECK(g.tensor(g.inputs[0]).dynamic_batch);  // still recorded on the input
        check_equivalent("flatten_batch" + std::to_string(batch), before, g, 1);
        if (const char* dir = std::getenv("QTL_WRITE_TFLITE_DIR"); dir && *dir)  // for LiteRT, by hand
            tflite::write_model(graph_to_tflite(before, {.allow_undecoded_options = true}),
                                std::filesystem::path(dir) / ("flatten_batch" + std::to_string(batch) + "_unsimplified.tflite"));
    }
}

TEST_CASE("simplify: unfused batch norm after CONV_2D, then RELU and MAX_POOL_2D") {
    graph g0;
    auto x = g0.add_activation("input", {1, 5, 5, 2});
    auto c = g0.add_activation("conv2d", {1, 5, 5, 3});
    tflite::conv_2d_options co;
    co.stride_w = co.stride_h = 1;
    g0.add_node(builtin_operator::CONV_2D, co,
                {x, weights(g0, "conv2d/kernel", {3, 3, 3, 2}, 0.4f, 3), weights(g0, "conv2d/bias", {3}, 0.1f, 4)}, {c});
    auto bn = batch_norm(g0, c, "bn", 5);
    auto r = unary(g0, builtin_operator::RELU, bn, "relu");
    auto p = pool(g0, builtin_operator::MAX_POOL_2D, r, "max_pool", 2, 2, tflite::padding::VALID);
    auto flat = g0.add_activation("flatten", {1, 12});
    g0.add_node(builtin_operator::RESHAPE, tflite::reshape_options{}, {p, ints(g0, "flatten/shape", {2}, {1, 12})}, {flat});
    auto d = dense(g0, flat, "dense", 12, 3, true, activation_function_type::NONE, 6);
    g0.inputs = {x};
    g0.outputs = {unary(g0, builtin_operator::SOFTMAX, d, "probs")};
    const auto before = through_file(g0);
    auto g = before;
    const auto report = simplify(g);
    CHECK(ops_of(g) == op_list{builtin_operator::CONV_2D, builtin_operator::MAX_POOL_2D, builtin_operator::RESHAPE,
                           builtin_operator::FULLY_CONNECTED, builtin_operator::SOFTMAX});
    CHECK(passes::fused_activation_of(g.nodes[0]) == activation_function_type::RELU);
    CHECK(g.tensor(g.nodes[0].outputs[0]).name == "relu");
    REQUIRE(report.changes.size() == 2);  // batch norm folded, RELU fused
    CHECK(report.changes[0] ==
          "fold_batch_norm: MUL 'bn/mul' + ADD 'bn/add' folded into CONV_2D 'conv2d' (weights scaled per output "
          "channel, bias updated)");
    CHECK(report.changes[1] == "fuse_activations: RELU 'relu' fused into CONV_2D 'conv2d'");
    check_equivalent("conv_bn", before, g, 2);
}

TEST_CASE("simplify: unfused batch norm after Dense layers, TANH and LOGISTIC hidden layers") {
    graph g0;
    auto x = g0.add_activation("features", {1, 6});
    auto d1 = dense(g0, x, "dense_1", 6, 5, false, activation_function_type::NONE, 21);  // use_bias=False
    auto t = unary(g0, builtin_operator::TANH, batch_norm(g0, d1, "bn_1", 22), "tanh");
    auto d2 = dense(g0, t, "dense_2", 5, 4, true, activation_function_type::NONE, 23);
    auto l = unary(g0, builtin_operator::LOGISTIC, batch_norm(g0, d2, "bn_2", 24), "sigmoid");
    auto d3 = dense(g0, l, "dense_3", 4, 2, true, activation_function_type::NONE, 25);  // logits: no activation
    g0.inputs = {x};
    g0.outputs = {d3};
    const auto before = through_file(g0);
    auto g = before;
    const auto report = simplify(g);
    CHECK(ops_of(g) == op_list{builtin_operator::FULLY_CONNECTED, builtin_operator::TANH, builtin_operator::FULLY_CONNECTED,
                           builtin_operator::LOGISTIC, builtin_operator::FULLY_CONNECTED});
    CHECK(g.nodes[0].inputs.size() == 3);
    CHECK(g.nodes[0].inputs[2] >= 0);  // a bias was created for dense_1
    CHECK(report.changes.size() == 2);
    check_equivalent("dense_bn", before, g, 3);
}

TEST_CASE("simplify: uint8 image input, CAST + EXPAND_DIMS, DEPTHWISE_CONV_2D and pooling stack") {
    graph g0;
    auto x = g0.add_activation("pixels", {1, 6, 6}, tensor_type::UINT8);
    auto f = g0.add_activation("pixels_f32", {1, 6, 6});
    g0.add_node(builtin_operator::CAST, {}, {x}, {f});
    auto e = g0.add_activation("expand", {1, 6, 6, 1});
    g0.add_node(builtin_operator::EXPAND_DIMS, {}, {f, ints(g0, "expand/axis", {}, {3})}, {e});
    // Rescaling(1/255) as Keras exports it: MUL by a scalar constant.
    auto sc = g0.add_activation("rescale", {1, 6, 6, 1});
    g0.add_node(builtin_operator::MUL, tflite::mul_options{}, {e, floats(g0, "rescale/scale", {}, {1.0f / 255.0f})}, {sc});
    auto dw = g0.add_activation("depthwise", {1, 6, 6, 2});
    tflite::depthwise_conv_2d_options o;
    o.stride_w = o.stride_h = 1;
    o.depth_multiplier = 2;
    g0.add_node(builtin_operator::DEPTHWISE_CONV_2D, o,
                {sc, weights(g0, "depthwise/kernel", {1, 3, 3, 2}, 3.0f, 31), weights(g0, "depthwise/bias", {2}, 0.5f, 32)},
                {dw});
    auto r6 = unary(g0, builtin_operator::RELU6, dw, "relu6");
    auto ap = pool(g0, builtin_operator::AVERAGE_POOL_2D, r6, "avg_pool", 2, 2, tflite::padding::SAME);
    auto mp = pool(g0, builtin_operator::MAX_POOL_2D, ap, "max_pool", 3, 1, tflite::padding::VALID);
    auto flat = g0.add_activation("flatten", {1, 2});
    g0.add_node(builtin_operator::RESHAPE, tflite::reshape_options{}, {mp, ints(g0, "flatten/shape", {2}, {1, 2})}, {flat});
    g0.inputs = {x};
    g0.outputs = {dense(g0, flat, "logits", 2, 3, true, activation_function_type::NONE, 33)};
    const auto before = through_file(g0);
    auto g = before;
    simplify(g);
    CHECK(ops_of(g) == op_list{builtin_operator::CAST, builtin_operator::EXPAND_DIMS, builtin_operator::MUL,
                           builtin_operator::DEPTHWISE_CONV_2D, builtin_operator::AVERAGE_POOL_2D,
                           builtin_operator::MAX_POOL_2D, builtin_operator::RESHAPE, builtin_operator::FULLY_CONNECTED});
    CHECK(g.tensor(g.inputs[0]).type == tensor_type::UINT8);  // the model's real input type is kept
    CHECK(passes::fused_activation_of(g.nodes[3]) == activation_function_type::RELU6);
    check_equivalent("uint8_depthwise", before, g, 4, 255.0f, true);
}

TEST_CASE("simplify: identity leftovers (same-shape RESHAPE, dropout MUL by 1, ADD of 0, same-type CAST)") {
    graph g0;
    auto x = g0.add_activation("x", {1, 4});
    auto r = g0.add_activation("reshape", {1, 4});
    g0.add_node(builtin_operator::RESHAPE, tflite::reshape_options{}, {x, ints(g0, "reshape/shape", {2}, {1, 4})}, {r});
    auto d1 = dense(g0, r, "dense_1", 4, 4, true, activation_function_type::RELU, 41);
    auto drop = g0.add_activation("dropout", {1, 4});
    g0.add_node(builtin_operator::MUL, tflite::mul_options{}, {d1, floats(g0, "dropout/keep", {}, {1.0f})}, {drop});
    auto z = g0.add_activation("add_zero", {1, 4});
    g0.add_node(builtin_operator::ADD, tflite::add_options{}, {drop, floats(g0, "zeros", {4}, {0, 0, 0, 0})}, {z});
    auto c = g0.add_activation("cast", {1, 4});
    g0.add_node(builtin_operator::CAST, {}, {z}, {c});
    auto out = dense(g0, c, "out", 4, 2, true, activation_function_type::NONE, 42);
    g0.inputs = {x};
    g0.outputs = {out};
    const auto before = through_file(g0);
    auto g = before;
    const auto report = simplify(g);
    CHECK(ops_of(g) == op_list{builtin_operator::FULLY_CONNECTED, builtin_operator::FULLY_CONNECTED});
    CHECK(g.nodes[0].inputs[0] == g.inputs[0]);
    CHECK(passes::fused_activation_of(g.nodes[0]) == activation_function_type::RELU);
    CHECK(report.changes.size() == 4);
    check_equivalent("identities", before, g, 5);
    // The float executor runs the original too: executor before == executor after.
    float_executor a(before), b(g);
    const auto in = values(4, 2.0f, 99);
    a.set_input(0, in);
    b.set_input(0, in);
    a.invoke();
    b.invoke();
    for (std::size_t k = 0; k < 2; ++k) CHECK(std::abs(a.output(0)[k] - b.output(0)[k]) < 1e-5);
}

TEST_CASE("simplify: the simplified graph exports and reads back") {
    auto g = through_file(flatten_model());
    CHECK_THROWS_WITH_AS(graph_to_tflite(g), doctest::Contains("node 0 (SHAPE 'flatten/Shape'): the graph does not hold"),
                         qtl::error);
    simplify(g);
    const auto m = graph_to_tflite(g);  // nothing undecoded is left
    const auto bytes = tflite::write_model(m);
    const auto back = graph_from_tflite(tflite::read_model(std::span<const std::uint8_t>(bytes)));
    CHECK(ops_of(back) == ops_of(g));
    CHECK(back.tensors.size() == g.tensors.size());
    CHECK(m.main().tensors[static_cast<std::size_t>(m.main().inputs[0])].shape_signature ==
          std::vector<std::int32_t>{-1, 2, 3, 2});
    auto again = back;
    CHECK_FALSE(simplify(again).changed());  // already at the fixed point
}

TEST_CASE("simplify: an op nobody can run is left in place; running it names the op") {
    graph g;
    auto x = g.add_activation("x", {1, 4});
    auto c = g.add_activation("c", {1, 4});
    g.add_node(builtin_operator::CUSTOM, {}, {x}, {c}, "MyFancyOp");  // as graph_from_tflite names it
    auto y = unary(g, builtin_operator::RELU, c, "y");
    g.inputs = {x};
    g.outputs = {y};
    CHECK_FALSE(simplify(g).changed());
    CHECK(ops_of(g) == op_list{builtin_operator::CUSTOM, builtin_operator::RELU});
    CHECK_THROWS_WITH_AS(float_executor{g}, doctest::Contains("CUSTOM 'MyFancyOp'"), qtl::error);
}
