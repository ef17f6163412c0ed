// qtl::float_executor: every supported op on a small hand-computed graph,
// a chain read through values(), TFLite's hello_world float model (sin(x),
// checked against the sine and against a naive FC chain computed here), the
// errors, and the speed of a 784-128-10 calibration pass.
#include "qtl/graph/float_executor.hpp"

#include <cmath>
#include <cstdint>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "qtl/io/tflite/reader.hpp"
#include "support/shared_data.hpp"

using namespace qtl;
using op = tflite::builtin_operator;
using tflite::activation_function_type;
using tflite::tensor_type;

namespace {

using floats = std::vector<float>;

// Runs g on the given inputs and returns output 0.
floats run(const graph& g, const std::vector<floats>& inputs) {
    float_executor ex(g);
    REQUIRE(ex.input_count() == inputs.size());
    for (std::size_t i = 0; i < inputs.size(); ++i) ex.set_input(i, inputs[i]);
    ex.invoke();
    const auto out = ex.output(0);
    return floats(out.begin(), out.end());
}

// A graph with one activation input `x` of `in_shape`, one node and output `y`.
struct single {
    graph g;
    std::int32_t x = -1, y = -1;
    single(shape in_shape, shape out_shape) {
        x = g.add_activation("x", std::move(in_shape));
        y = g.add_activation("y", std::move(out_shape));
        g.inputs = {x};
        g.outputs = {y};
    }
    std::int32_t ints(std::vector<std::int32_t> v, shape s) {
        return g.add_constant(name(), std::move(s), std::span<const std::int32_t>(v));
    }
    std::int32_t consts(floats v, shape s) { return g.add_constant(name(), std::move(s), std::span<const float>(v)); }
    // "c<index>" (built with append: GCC 12 warns falsely about "c" + std::string)
    std::string name() const { return std::string(1, 'c').append(std::to_string(g.tensors.size())); }
    void node(op o, tflite::builtin_options opt, std::vector<std::int32_t> extra = {}) {
        std::vector<std::int32_t> in{x};
        in.insert(in.end(), extra.begin(), extra.end());
        g.add_node(o, std::move(opt), std::move(in), {y});
    }
};

void check_approx(const floats& got, const floats& want, double eps = 1e-5) {
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
        CAPTURE(i);
        CHECK(got[i] == doctest::Approx(want[i]).epsilon(eps));
    }
}

// hello_world_float.tflite -> graph: a FULLY_CONNECTED-only model, copied as is.
graph graph_of(const tflite::model& m) {
    const auto& sg = m.main();
    graph g;
    for (const auto& t : sg.tensors) {
        graph_tensor gt;
        gt.name = t.name;
        gt.type = t.type;
        gt.shape = t.shape;
        const auto data = m.data_of(t);
        if (!data.empty()) {
            gt.is_constant = true;
            gt.data.assign(data.begin(), data.end());
        }
        g.add_tensor(std::move(gt));
    }
    for (const auto& o : sg.operators) g.add_node(o.builtin_code, o.options, o.inputs, o.outputs);
    g.inputs = sg.inputs;
    g.outputs = sg.outputs;
    return g;
}

}  // namespace

TEST_CASE("float_executor: FULLY_CONNECTED with batch rows, bias, RELU and keep_num_dims") {
    // x rows [1, 2, 3], [-1, 0, 1]; w [[1, 0, -1], [2, 1, 0]]; bias [0.5, -1]
    // row 0: [-2 + 0.5, 4 - 1] = [-1.5, 3]; row 1: [-2 + 0.5, -2 - 1] = [-1.5, -3]
    for (bool keep : {false, true}) {
        single s({1, 2, 3}, keep ? shape{1, 2, 2} : shape{2, 2});
        const auto w = s.consts({1, 0, -1, 2, 1, 0}, {2, 3});
        const auto b = s.consts({0.5f, -1}, {2});
        tflite::fully_connected_options o;
        o.keep_num_dims = keep;
        s.node(op::FULLY_CONNECTED, o, {w, b});
        CHECK(run(s.g, {{1, 2, 3, -1, 0, 1}}) == floats{-1.5f, 3, -1.5f, -3});
        o.fused_activation_function = activation_function_type::RELU;
        s.g.nodes[0].options = o;
        CHECK(run(s.g, {{1, 2, 3, -1, 0, 1}}) == floats{0, 3, 0, 0});
    }
    // No bias (input -1), RELU6.
    single s({1, 2}, {1, 1});
    const auto w = s.consts({4, 2}, {1, 2});
    tflite::fully_connected_options o;
    o.fused_activation_function = activation_function_type::RELU6;
    s.node(op::FULLY_CONNECTED, o, {w, -1});
    CHECK(run(s.g, {{1, 0.5f}}) == floats{5});  // 4 + 1
    CHECK(run(s.g, {{2, 1}}) == floats{6});
}

TEST_CASE("float_executor: CONV_2D options map to strides and padding") {
    {  // 3x3 image 1..9, 2x2 filter [[1, 0], [0, -1]], bias 1, VALID: x[y][x] - x[y+1][x+1] + 1 = -3
        single s({1, 3, 3, 1}, {1, 2, 2, 1});
        const auto f = s.consts({1, 0, 0, -1}, {1, 2, 2, 1});
        const auto b = s.consts({1}, {1});
        tflite::conv_2d_options o;
        o.padding = tflite::padding::VALID;
        o.stride_h = o.stride_w = 1;
        s.node(op::CONV_2D, o, {f, b});
        CHECK(run(s.g, {{1, 2, 3, 4, 5, 6, 7, 8, 9}}) == floats{-3, -3, -3, -3});
    }
    {  // 2x3 image 1..6, 1x1 filter 2, stride_w 2, stride_h 1: 2 * x[:, ::2]
        single s({1, 2, 3, 1}, {1, 2, 2, 1});
        const auto f = s.consts({2}, {1, 1, 1, 1});
        tflite::conv_2d_options o;
        o.padding = tflite::padding::VALID;
        o.stride_h = 1;
        o.stride_w = 2;
        s.node(op::CONV_2D, o, {f});
        CHECK(run(s.g, {{1, 2, 3, 4, 5, 6}}) == floats{2, 6, 8, 12});
    }
    {  // two channels in, two out, 1x1: out0 = in0 + in1, out1 = in0 - in1, RELU
        single s({1, 1, 2, 2}, {1, 1, 2, 2});
        const auto f = s.consts({1, 1, 1, -1}, {2, 1, 1, 2});
        tflite::conv_2d_options o;
        o.stride_h = o.stride_w = 1;
        o.fused_activation_function = activation_function_type::RELU;
        s.node(op::CONV_2D, o, {f});
        CHECK(run(s.g, {{3, 1, 1, 3}}) == floats{4, 2, 4, 0});
    }
    {  // dilation 2, SAME: 3x3 image, 2x2 filter of ones -> taps (y, x), (y, x+2), (y+2, x), (y+2, x+2)
        single s({1, 3, 3, 1}, {1, 3, 3, 1});
        const auto f = s.consts({1, 1, 1, 1}, {1, 2, 2, 1});
        tflite::conv_2d_options o;
        o.stride_h = o.stride_w = 1;
        o.dilation_h_factor = o.dilation_w_factor = 2;
        s.node(op::CONV_2D, o, {f});
        // effective filter 3, total padding 2, 1 before: output (0,0) reads (-1,-1) (-1,1) (1,-1) (1,1) -> 5
        const floats y = run(s.g, {{1, 2, 3, 4, 5, 6, 7, 8, 9}});
        CHECK(y[0] == 5);
        CHECK(y[4] == 1 + 3 + 7 + 9);
        CHECK(y[8] == 5);
    }
}

TEST_CASE("float_executor: CONV_2D and DEPTHWISE_CONV_2D with asymmetric options against a naive loop") {
    // input [2, 9, 8, 3]; 3x2 filter; stride (h 2, w 1); dilation (h 1, w 2); SAME; RELU6.
    const int n = 2, h = 9, w = 8, c = 3, kh = 3, kw = 2, sh = 2, sw = 1, dh = 1, dw = 2;
    const int oh = (h + sh - 1) / sh, ow = (w + sw - 1) / sw;  // SAME
    const int ph = std::max(0, (oh - 1) * sh + (kh - 1) * dh + 1 - h) / 2;
    const int pw = std::max(0, (ow - 1) * sw + (kw - 1) * dw + 1 - w) / 2;
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> d(-1.0f, 1.0f);
    auto random = [&](std::size_t count) {
        floats v(count);
        for (auto& x : v) x = d(rng);
        return v;
    };
    const floats x = random(std::size_t(n) * h * w * c);
    for (bool depthwise : {false, true}) {
        CAPTURE(depthwise);
        const int oc = depthwise ? 2 * c : 5;  // depthwise: multiplier 2
        const floats f = random(std::size_t(oc) * kh * kw * (depthwise ? 1 : c)), b = random(std::size_t(oc));
        single s({n, h, w, c}, {n, oh, ow, oc});
        const auto ft = s.consts(f, depthwise ? shape{1, kh, kw, oc} : shape{oc, kh, kw, c});
        const auto bt = s.consts(b, {oc});
        if (depthwise) {
            tflite::depthwise_conv_2d_options o;
            o.stride_h = sh;
            o.stride_w = sw;
            o.dilation_h_factor = dh;
            o.dilation_w_factor = dw;
            o.depth_multiplier = 2;
            o.fused_activation_function = activation_function_type::RELU6;
            s.node(op::DEPTHWISE_CONV_2D, o, {ft, bt});
        } else {
            tflite::conv_2d_options o;
            o.stride_h = sh;
            o.stride_w = sw;
            o.dilation_h_factor = dh;
            o.dilation_w_factor = dw;
            o.fused_activation_function = activation_function_type::RELU6;
            s.node(op::CONV_2D, o, {ft, bt});
        }
        const floats y = run(s.g, {x});
        floats want;
        for (int bb = 0; bb < n; ++bb)
            for (int oy = 0; oy < oh; ++oy)
                for (int ox = 0; ox < ow; ++ox)
                    for (int o = 0; o < oc; ++o) {
                        double acc = b[std::size_t(o)];
                        for (int ky = 0; ky < kh; ++ky)
                            for (int kx = 0; kx < kw; ++kx) {
                                const int iy = oy * sh - ph + ky * dh, ix = ox * sw - pw + kx * dw;
                                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                                const std::size_t px = ((std::size_t(bb) * h + iy) * w + ix) * c;
                                if (depthwise)
                                    acc += double(x[px + std::size_t(o / 2)]) * f[(std::size_t(ky) * kw + kx) * oc + o];
                                else
                                    for (int i = 0; i < c; ++i)
                                        acc += double(x[px + std::size_t(i)]) *
                                               f[((std::size_t(o) * kh + ky) * kw + kx) * c + i];
                            }
                        want.push_back(float(std::min(std::max(acc, 0.0), 6.0)));
                    }
        REQUIRE(y.size() == want.size());
        for (std::size_t i = 0; i < y.size(); ++i) {
            CAPTURE(i);
            CHECK(std::abs(y[i] - want[i]) < 1e-5f);
        }
    }
}

TEST_CASE("float_executor: DEPTHWISE_CONV_2D with multiplier 2") {
    // see tests/kernels/float_kernels.cpp for the arithmetic
    single s({1, 2, 2, 2}, {1, 1, 1, 4});
    const auto f = s.consts({1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1}, {1, 2, 2, 4});
    const auto b = s.consts({0, 0, 0, 0.5f}, {4});
    tflite::depthwise_conv_2d_options o;
    o.padding = tflite::padding::VALID;
    o.stride_h = o.stride_w = 1;
    o.depth_multiplier = 2;
    s.node(op::DEPTHWISE_CONV_2D, o, {f, b});
    CHECK(run(s.g, {{1, 10, 2, 20, 3, 30, 4, 40}}) == floats{10, 4, 40, 100.5f});
}

TEST_CASE("float_executor: AVERAGE_POOL_2D and MAX_POOL_2D") {
    tflite::pool_2d_options o;
    o.padding = tflite::padding::SAME;
    o.stride_h = o.stride_w = 2;
    o.filter_height = o.filter_width = 2;
    const floats x{1, 2, 3, 4, 5, 6, 7, 8, 9};
    single a({1, 3, 3, 1}, {1, 2, 2, 1});
    a.node(op::AVERAGE_POOL_2D, o);
    CHECK(run(a.g, {x}) == floats{3, 4.5f, 7.5f, 9});
    single m({1, 3, 3, 1}, {1, 2, 2, 1});
    o.fused_activation_function = activation_function_type::RELU_N1_TO_1;
    m.node(op::MAX_POOL_2D, o);
    CHECK(run(m.g, {floats{-5, -2, -3, -4, -6, -6, 7, 8, 0.5f}}) == floats{-1, -1, 1, 0.5f});
}

TEST_CASE("float_executor: ADD, SUB, MUL broadcast with fused activations") {
    const floats x{1, 2, 3, 4, 5, 6};
    {
        single s({2, 3}, {2, 3});
        s.node(op::ADD, tflite::add_options{}, {s.consts({10, 20, 30}, {3})});
        CHECK(run(s.g, {x}) == floats{11, 22, 33, 14, 25, 36});
    }
    {
        single s({2, 3}, {2, 3});
        tflite::sub_options o;
        o.fused_activation_function = activation_function_type::RELU;
        s.node(op::SUB, o, {s.consts({3}, {1, 1})});
        CHECK(run(s.g, {x}) == floats{0, 0, 0, 1, 2, 3});
    }
    {  // [2, 1] * [1, 3] -> [2, 3], RELU6; two graph inputs
        graph g;
        const auto a = g.add_activation("a", {2, 1});
        const auto b = g.add_activation("b", {1, 3});
        const auto y = g.add_activation("y", {2, 3});
        tflite::mul_options o;
        o.fused_activation_function = activation_function_type::RELU6;
        g.add_node(op::MUL, o, {a, b}, {y});
        g.inputs = {a, b};
        g.outputs = {y};
        CHECK(run(g, {{1, -1}, {1, 5, 10}}) == floats{1, 5, 6, 0, 0, 0});
    }
}

TEST_CASE("float_executor: CONCATENATION on any axis") {
    graph g;
    const auto a = g.add_activation("a", {2, 2});
    const auto b = g.add_activation("b", {2, 1});
    const auto y = g.add_activation("y", {2, 3});
    tflite::concatenation_options o;
    o.axis = -1;
    g.add_node(op::CONCATENATION, o, {a, b}, {y});
    g.inputs = {a, b};
    g.outputs = {y};
    CHECK(run(g, {{1, 2, 3, 4}, {5, 6}}) == floats{1, 2, 5, 3, 4, 6});

    graph h;
    const auto c = h.add_activation("c", {1, 2});
    const auto k = h.add_constant("k", {2, 2}, std::span<const float>(floats{3, 4, 5, 6}));
    const auto z = h.add_activation("z", {3, 2});
    o.axis = 0;
    o.fused_activation_function = activation_function_type::RELU6;
    h.add_node(op::CONCATENATION, o, {c, k}, {z});
    h.inputs = {c};
    h.outputs = {z};
    CHECK(run(h, {{-1, 2}}) == floats{0, 2, 3, 4, 5, 6});
}

TEST_CASE("float_executor: RESHAPE from the shape input, the options, or -1") {
    const floats x{1, 2, 3, 4, 5, 6};
    {
        single s({2, 3}, {3, 2});
        s.node(op::RESHAPE, tflite::reshape_options{}, {s.ints({-1, 2}, {2})});
        CHECK(run(s.g, {x}) == x);
    }
    {
        single s({2, 3}, {6});
        tflite::reshape_options o;
        o.new_shape = std::vector<std::int32_t>{6};
        s.node(op::RESHAPE, o);
        CHECK(run(s.g, {x}) == x);
    }
    {  // the shape input says [3, 2] but the graph says [2, 3]
        single s({2, 3}, {2, 3});
        s.node(op::RESHAPE, tflite::reshape_options{}, {s.ints({3, 2}, {2})});
        CHECK_THROWS_WITH_AS(float_executor{s.g}, doctest::Contains("computes output shape [3, 2]"), error);
    }
}

TEST_CASE("float_executor: SOFTMAX with beta, and the activation ops") {
    {
        single s({2, 2}, {2, 2});
        tflite::softmax_options o;
        o.beta = 2.0f;
        s.node(op::SOFTMAX, o);
        const floats y = run(s.g, {{0, std::log(3.0f), 1, 1}});
        check_approx(y, {0.1f, 0.9f, 0.5f, 0.5f});
    }
    const floats x{-4, -1, -0.5f, 0, 0.5f, 2, 7};
    auto unary = [&](op o, tflite::builtin_options opt = {}) {
        single s({7}, {7});
        s.node(o, opt);
        return run(s.g, {x});
    };
    CHECK(unary(op::RELU) == floats{0, 0, 0, 0, 0.5f, 2, 7});
    CHECK(unary(op::RELU6) == floats{0, 0, 0, 0, 0.5f, 2, 6});
    CHECK(unary(op::RELU_N1_TO_1) == floats{-1, -1, -0.5f, 0, 0.5f, 1, 1});
    tflite::leaky_relu_options leaky;
    leaky.alpha = 0.5f;
    CHECK(unary(op::LEAKY_RELU, leaky) == floats{-2, -0.5f, -0.25f, 0, 0.5f, 2, 7});
    check_approx(unary(op::HARD_SWISH), {0, -1.0f / 3, -1.25f / 6, 0, 1.75f / 6, 10.0f / 6, 7});
    floats logistic, tanh_values;
    for (float v : x) {
        logistic.push_back(float(1 / (1 + std::exp(-double(v)))));
        tanh_values.push_back(float(std::tanh(double(v))));
    }
    check_approx(unary(op::LOGISTIC), logistic);
    check_approx(unary(op::TANH), tanh_values);
}

TEST_CASE("float_executor: PAD and PADV2") {
    {
        single s({2, 3}, {4, 4});
        s.node(op::PAD, tflite::pad_options{}, {s.ints({1, 1, 0, 1}, {2, 2})});
        CHECK(run(s.g, {{1, 2, 3, 4, 5, 6}}) ==
              floats{0, 0, 0, 0, 1, 2, 3, 0, 4, 5, 6, 0, 0, 0, 0, 0});
    }
    {
        single s({1, 2}, {1, 5});
        s.node(op::PADV2, std::monostate{}, {s.ints({0, 0, 2, 1}, {2, 2}), s.consts({-7}, {})});
        CHECK(run(s.g, {{1, 2}}) == floats{-7, -7, 1, 2, -7});
    }
}

TEST_CASE("float_executor: MEAN with keep_dims, TRANSPOSE") {
    const floats x{1, 2, 3, 4, 5, 6};
    {
        single s({2, 3}, {2, 1});
        tflite::reducer_options o;
        o.keep_dims = true;
        s.node(op::MEAN, o, {s.ints({1}, {1})});
        CHECK(run(s.g, {x}) == floats{2, 5});
    }
    {
        single s({1, 2, 3}, {3});
        s.node(op::MEAN, tflite::reducer_options{}, {s.ints({0, -2}, {2})});
        CHECK(run(s.g, {x}) == floats{2.5f, 3.5f, 4.5f});
    }
    {
        single s({2, 3}, {3, 2});
        s.node(op::TRANSPOSE, tflite::transpose_options{}, {s.ints({1, 0}, {2})});
        CHECK(run(s.g, {x}) == floats{1, 4, 2, 5, 3, 6});
    }
}

TEST_CASE("float_executor: STRIDED_SLICE with masks") {
    const floats x{1, 2, 3, 4, 5, 6};  // [2, 3]
    {  // x[:, ::-2] via begin_mask on axis 0 and a negative stride
        single s({2, 3}, {2, 2});
        tflite::strided_slice_options o;
        o.begin_mask = 1;
        o.end_mask = 1;
        s.node(op::STRIDED_SLICE, o, {s.ints({9, -1}, {2}), s.ints({0, -4}, {2}), s.ints({1, -2}, {2})});
        CHECK(run(s.g, {x}) == floats{3, 1, 6, 4});
    }
    {  // x[1, 1:] with shrink_axis on axis 0
        single s({2, 3}, {2});
        tflite::strided_slice_options o;
        o.shrink_axis_mask = 1;
        o.end_mask = 2;
        s.node(op::STRIDED_SLICE, o, {s.ints({1, 1}, {2}), s.ints({2, 0}, {2}), s.ints({1, 1}, {2})});
        CHECK(run(s.g, {x}) == floats{5, 6});
    }
}

TEST_CASE("float_executor: SQUEEZE, EXPAND_DIMS and CAST") {
    {
        single s({1, 3, 1}, {3});
        s.node(op::SQUEEZE, std::monostate{});
        CHECK(run(s.g, {{1, 2, 3}}) == floats{1, 2, 3});
        single bad({1, 3, 1}, {3, 2});
        bad.node(op::SQUEEZE, std::monostate{});
        CHECK_THROWS_WITH_AS(float_executor{bad.g}, doctest::Contains("size-1 dimensions removed"), error);
    }
    {
        single s({2, 3}, {2, 1, 3});
        s.node(op::EXPAND_DIMS, std::monostate{}, {s.ints({-2}, {})});
        CHECK(run(s.g, {{1, 2, 3, 4, 5, 6}}) == floats{1, 2, 3, 4, 5, 6});
    }
    {  // a UINT8 graph input holds its numeric values; CAST to float copies them
        graph g;
        const auto x = g.add_activation("x", {3}, tensor_type::UINT8);
        const auto y = g.add_activation("y", {3});
        g.add_node(op::CAST, std::monostate{}, {x}, {y});
        g.inputs = {x};
        g.outputs = {y};
        CHECK(run(g, {{0, 7, 255}}) == floats{0, 7, 255});
        g.tensors[static_cast<std::size_t>(y)].type = tensor_type::INT32;  // float -> int truncates toward zero
        g.tensors[static_cast<std::size_t>(x)].type = tensor_type::FLOAT32;
        CHECK(run(g, {{-1.5f, 2.7f, 3}}) == floats{-1, 2, 3});
    }
}

TEST_CASE("float_executor: a chain, values() of every tensor, reuse across invokes") {
    // x[1, 2] -> FC(w = [[1, 1], [1, -1]]) -> h -> RELU -> r -> ADD(r, r) -> y
    graph g;
    const auto x = g.add_activation("x", {1, 2});
    const auto w = g.add_constant("w", {2, 2}, std::span<const float>(floats{1, 1, 1, -1}));
    const auto axes = g.add_constant("axes", {1}, std::span<const std::int32_t>(std::vector<std::int32_t>{-1}));
    const auto h = g.add_activation("h", {1, 2});
    const auto r = g.add_activation("r", {1, 2});
    const auto y = g.add_activation("y", {1, 2});
    const auto m = g.add_activation("m", {1});
    g.add_node(op::FULLY_CONNECTED, tflite::fully_connected_options{}, {x, w, -1}, {h});
    g.add_node(op::RELU, std::monostate{}, {h}, {r});
    g.add_node(op::ADD, tflite::add_options{}, {r, r}, {y});
    g.add_node(op::MEAN, tflite::reducer_options{}, {y, axes}, {m});
    g.inputs = {x};
    g.outputs = {y, m};
    float_executor ex(g);
    CHECK(ex.input_count() == 1);
    CHECK(ex.output_count() == 2);
    CHECK(&ex.model() != &g);  // the executor keeps its own copy
    CHECK(ex.model().nodes.size() == 4);
    ex.set_input(0, floats{1, 3});
    ex.invoke();
    CHECK(floats(ex.values(h).begin(), ex.values(h).end()) == floats{4, -2});
    CHECK(floats(ex.values(r).begin(), ex.values(r).end()) == floats{4, 0});
    CHECK(floats(ex.output(0).begin(), ex.output(0).end()) == floats{8, 0});
    CHECK(ex.output(1)[0] == 4);
    CHECK(floats(ex.values(w).begin(), ex.values(w).end()) == floats{1, 1, 1, -1});
    CHECK(ex.values(axes)[0] == -1.0f);
    CHECK(floats(ex.values(x).begin(), ex.values(x).end()) == floats{1, 3});
    ex.set_input(0, floats{3, 1});
    ex.invoke();
    CHECK(floats(ex.output(0).begin(), ex.output(0).end()) == floats{8, 4});
    float_executor moved = std::move(ex);  // the prepared closures survive a move
    moved.set_input(0, floats{0, 1});
    moved.invoke();
    CHECK(floats(moved.output(0).begin(), moved.output(0).end()) == floats{2, 0});
}

TEST_CASE("float_executor: TFLite's hello_world float model computes sin(x)") {
    const auto model = tflite::read_model(test::shared_file("models/hello_world_float.tflite"));
    const graph g = graph_of(model);
    float_executor ex(g);
    REQUIRE(ex.input_count() == 1);
    // Naive FC chain from the model's own tensors: relu(relu(x W1 + b1) W2 + b2) W3 + b3.
    std::vector<const graph_node*> fcs;
    for (const auto& n : g.nodes) fcs.push_back(&n);
    REQUIRE(fcs.size() == 3);
    auto naive = [&](float x) {
        std::vector<double> a{x};
        for (const graph_node* n : fcs) {
            const auto& wt = g.tensor(n->inputs[1]);
            const auto w = wt.values<float>();
            const auto b = g.tensor(n->inputs[2]).values<float>();
            const std::size_t out = static_cast<std::size_t>(wt.shape[0]), in = static_cast<std::size_t>(wt.shape[1]);
            REQUIRE(in == a.size());
            std::vector<double> next(out);
            const auto act = std::get<tflite::fully_connected_options>(n->options).fused_activation_function;
            for (std::size_t o = 0; o < out; ++o) {
                double s = b[o];
                for (std::size_t i = 0; i < in; ++i) s += a[i] * w[o * in + i];
                next[o] = act == activation_function_type::RELU ? std::max(s, 0.0) : s;
            }
            a = next;
        }
        return a[0];
    };
    double max_error = 0, max_vs_naive = 0;
    for (int i = 0; i < 100; ++i) {
        const float x = float(2 * std::numbers::pi * i / 99);
        ex.set_input(0, floats{x});
        ex.invoke();
        const double y = ex.output(0)[0];
        max_error = std::max(max_error, std::abs(y - std::sin(double(x))));
        max_vs_naive = std::max(max_vs_naive, std::abs(y - naive(x)));
    }
    MESSAGE("hello_world float: max |y - sin x| = " << max_error);
    CHECK(max_error < 0.15);
    CHECK(max_vs_naive < 1e-5);
}

TEST_CASE("float_executor: errors name the node, the tensor or the sizes") {
    {  // unsupported op
        single s({1, 4}, {1, 4});
        s.g.add_node(op::LSTM, std::monostate{}, {s.x}, {s.y}, "my_lstm");
        CHECK_THROWS_WITH_AS(float_executor{s.g}, doctest::Contains("node 0 (LSTM 'my_lstm')"), error);
        CHECK_THROWS_WITH_AS(float_executor{s.g}, doctest::Contains("supported ops: FULLY_CONNECTED"), error);
    }
    {  // wrong input size, wrong input index, wrong output index
        single s({2, 2}, {2, 2});
        s.node(op::RELU, std::monostate{});
        float_executor ex(s.g);
        CHECK_THROWS_WITH_AS(ex.set_input(0, floats{1, 2, 3}), doctest::Contains("expects 4 values"), error);
        CHECK_THROWS_AS(ex.set_input(1, floats{1, 2, 3, 4}), error);
        CHECK_THROWS_AS(ex.output(1), error);
        CHECK_THROWS_AS(ex.values(99), error);
    }
    {  // shape mismatch: the graph's FC output shape is wrong
        single s({1, 3}, {1, 4});
        s.node(op::FULLY_CONNECTED, tflite::fully_connected_options{}, {s.consts(floats(6, 1.0f), {2, 3})});
        CHECK_THROWS_WITH_AS(float_executor{s.g}, doctest::Contains("computes output shape [1, 2] but tensor 1 'y'"),
                             error);
    }
    {  // weights that are not constants
        graph g;
        const auto x = g.add_activation("x", {1, 3});
        const auto w = g.add_activation("w", {2, 3});
        const auto y = g.add_activation("y", {1, 2});
        g.add_node(op::FULLY_CONNECTED, tflite::fully_connected_options{}, {x, w}, {y});
        g.inputs = {x, w};
        g.outputs = {y};
        CHECK_THROWS_WITH_AS(float_executor{g}, doctest::Contains("must be a constant"), error);
    }
    {  // a CONV_2D whose filter channels differ from the input's, and a broadcast that cannot be
        single s({1, 3, 3, 2}, {1, 3, 3, 1});
        tflite::conv_2d_options o;
        o.stride_h = o.stride_w = 1;
        s.node(op::CONV_2D, o, {s.consts(floats(3, 1.0f), {1, 1, 1, 3})});
        CHECK_THROWS_WITH_AS(float_executor{s.g}, doctest::Contains("grouped convolution"), error);
        single b({2, 3}, {2, 3});
        b.node(op::ADD, tflite::add_options{}, {b.consts({1, 2}, {2})});
        CHECK_THROWS_AS(float_executor{b.g}, error);
    }
    {  // an invalid graph (validate) and an unsupported fused activation
        single s({2}, {2});
        s.g.add_node(op::RELU, std::monostate{}, {5}, {s.y});
        CHECK_THROWS_AS(float_executor{s.g}, error);
        single t({1, 2}, {1, 2});
        tflite::add_options o;
        o.fused_activation_function = activation_function_type::SIGN_BIT;
        t.node(op::ADD, o, {t.x});
        CHECK_THROWS_WITH_AS(float_executor{t.g}, doctest::Contains("SIGN_BIT"), error);
        single two({2}, {2});
        const auto extra = two.g.add_activation("extra", {2});
        two.g.add_node(op::RELU, std::monostate{}, {two.x}, {two.y, extra});
        CHECK_THROWS_WITH_AS(float_executor{two.g}, doctest::Contains("has 2 outputs, expected 1"), error);
    }
}
