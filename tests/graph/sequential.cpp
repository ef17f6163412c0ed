#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "qtl/graph/sequential.hpp"

// qtl::sequential: forward() against a naive double-precision loop written
// here, to_graph() structure (ops, shapes, fused activations, the Keras
// [in, out] kernel transposed to TFLite's [out, in] on a hand-made 3x2
// example), layer_schemes(), and .npz loading (files written with qtl's own
// npz writer) with its errors.  Size mismatches between layers are
// compile-time errors: tests/compile_fail/sequential_*.cpp.

namespace fs = std::filesystem;
using op = qtl::tflite::builtin_operator;
using act = qtl::tflite::activation_function_type;

namespace {

// Deterministic values in [-1, 1).
struct lcg {
    std::uint32_t s = 12345;
    float next() {
        s = s * 1664525u + 1013904223u;
        return static_cast<float>(s >> 8) / static_cast<float>(1u << 23) - 1.0f;
    }
};

template <class Layer>
void randomize(Layer& l, lcg& r) {
    for (auto& w : l.weights) w = r.next();
    for (auto& b : l.bias) b = r.next() * 0.5f;
}

// y = act(W x + b), W [out, in], in double.
std::vector<double> naive_dense(const std::vector<double>& x, const float* w, const float* b, std::size_t in,
                                std::size_t out, int activation /*0 none, 1 relu, 6 relu6*/) {
    std::vector<double> y(out);
    for (std::size_t o = 0; o < out; ++o) {
        double acc = b[o];
        for (std::size_t i = 0; i < in; ++i) acc += double(w[o * in + i]) * x[i];
        if (activation == 1) acc = acc < 0 ? 0 : acc;
        if (activation == 6) acc = acc < 0 ? 0 : (acc > 6 ? 6 : acc);
        y[o] = acc;
    }
    return y;
}

std::vector<double> naive_softmax(const std::vector<double>& x, double beta) {
    double sum = 0;
    std::vector<double> y(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) sum += y[i] = std::exp(beta * x[i]);
    for (auto& v : y) v /= sum;
    return y;
}

std::string temp_file(const std::string& name) {
    const fs::path d = fs::temp_directory_path() / "qtl_sequential_test";
    fs::create_directories(d);
    return (d / name).string();
}

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

qtl::npy::array f32(std::vector<float> v, qtl::shape s) { return qtl::npy::make_array<float>(v, std::move(s)); }

// The hand-made 3 -> 2 layer: Keras kernel [in = 3, out = 2].
const std::vector<float> keras_kernel{1, 2,   // input 0 -> outputs 0, 1
                                      3, 4,   // input 1
                                      5, 6};  // input 2
const std::vector<float> keras_bias{0.5f, -1.0f};

using tiny = qtl::sequential<qtl::dense<3, 2, qtl::int8_scheme, qtl::relu>, qtl::softmax_layer<2>>;

}  // namespace

TEST_CASE("sequential: forward equals a naive loop") {
    using net_t = qtl::sequential<qtl::dense<37, 20, qtl::int8_scheme, qtl::relu>,
                                  qtl::dense<20, 16, qtl::int8_scheme, qtl::relu6>,
                                  qtl::dense<16, 5, qtl::float_layer>, qtl::softmax_layer<5>>;
    static_assert(net_t::inputs == 37 && net_t::outputs == 5 && net_t::size == 4);
    auto net = std::make_unique<net_t>();
    lcg r;
    randomize(net->layer<0>(), r);
    randomize(net->layer<1>(), r);
    randomize(net->layer<2>(), r);
    for (auto& w : net->layer<1>().weights) w *= 4.0f;  // so that some outputs reach the relu6 clamp
    net->layer<3>().beta = 0.75f;

    int clamped6 = 0, zero = 0;
    for (int sample = 0; sample < 20; ++sample) {
        net_t::input_type x;
        std::vector<double> xd(37);
        for (std::size_t i = 0; i < 37; ++i) xd[i] = x[i] = r.next() * 2.0f;
        auto h1 = naive_dense(xd, net->layer<0>().weights.data(), net->layer<0>().bias.data(), 37, 20, 1);
        auto h2 = naive_dense(h1, net->layer<1>().weights.data(), net->layer<1>().bias.data(), 20, 16, 6);
        auto h3 = naive_dense(h2, net->layer<2>().weights.data(), net->layer<2>().bias.data(), 16, 5, 0);
        const auto expected = naive_softmax(h3, 0.75);
        for (double v : h1) zero += v == 0.0;
        for (double v : h2) clamped6 += v == 6.0;

        const auto y = net->forward(x);
        double sum = 0;
        for (std::size_t i = 0; i < 5; ++i) {
            CHECK(y[i] == doctest::Approx(expected[i]).epsilon(1e-5));
            sum += y[i];
        }
        CHECK(sum == doctest::Approx(1.0).epsilon(1e-6));

        // layer by layer, through the public per-layer forward
        std::array<float, 20> a1;
        net->layer<0>().forward(x.data(), a1.data());
        for (std::size_t i = 0; i < 20; ++i) CHECK(a1[i] == doctest::Approx(h1[i]).epsilon(1e-5).scale(1.0));
    }
    CHECK(zero > 0);      // the relu did cut
    CHECK(clamped6 > 0);  // the relu6 did clamp
}

TEST_CASE("sequential: to_graph lowers to FULLY_CONNECTED + SOFTMAX with the weights transposed") {
    tiny net;
    qtl::npz::archive z{{"dense_0/kernel", f32(keras_kernel, {3, 2})}, {"dense_0/bias", f32(keras_bias, {2})}};
    net.load(z);
    // TFLite layout [out, in]: row 0 = column 0 of the Keras kernel
    CHECK(net.layer<0>().weights == std::array<float, 6>{1, 3, 5, 2, 4, 6});
    CHECK(net.layer<0>().weight(1, 2) == 6.0f);
    CHECK(net.layer<0>().bias == std::array<float, 2>{0.5f, -1.0f});

    const qtl::graph g = net.to_graph();
    REQUIRE(g.nodes.size() == 2);
    REQUIRE(g.inputs.size() == 1);
    REQUIRE(g.outputs.size() == 1);
    CHECK(g.tensor(g.inputs[0]).name == "input");
    CHECK(g.tensor(g.inputs[0]).shape == qtl::shape{1, 3});
    CHECK(g.tensor(g.inputs[0]).type == qtl::tflite::tensor_type::FLOAT32);

    const auto& fc = g.nodes[0];
    CHECK(fc.op == op::FULLY_CONNECTED);
    CHECK(fc.name == "dense_0");
    CHECK(std::get<qtl::tflite::fully_connected_options>(fc.options).fused_activation_function == act::RELU);
    REQUIRE(fc.inputs.size() == 3);
    CHECK(fc.inputs[0] == g.inputs[0]);
    const auto& w = g.tensor(fc.inputs[1]);
    CHECK(w.shape == qtl::shape{2, 3});
    CHECK(w.values<float>() == std::vector<float>{1, 3, 5, 2, 4, 6});
    CHECK(g.tensor(fc.inputs[2]).values<float>() == keras_bias);
    CHECK(g.tensor(fc.outputs[0]).shape == qtl::shape{1, 2});

    const auto& sm = g.nodes[1];
    CHECK(sm.op == op::SOFTMAX);
    CHECK(sm.name == "softmax_0");
    CHECK(std::get<qtl::tflite::softmax_options>(sm.options).beta == 1.0f);
    CHECK(sm.inputs == fc.outputs);
    CHECK(g.outputs == sm.outputs);

    // x = [1, 1, 1]: W x + b = [1 + 3 + 5 + 0.5, 2 + 4 + 6 - 1] = [9.5, 11]; softmax by hand
    const auto y = net.forward({1, 1, 1});
    const double e0 = std::exp(9.5), e1 = std::exp(11.0);
    CHECK(y[0] == doctest::Approx(e0 / (e0 + e1)));
    CHECK(y[1] == doctest::Approx(e1 / (e0 + e1)));

    const auto g4 = net.to_graph(4);
    CHECK(g4.tensor(g4.inputs[0]).shape == qtl::shape{4, 3});
    CHECK(g4.tensor(g4.outputs[0]).shape == qtl::shape{4, 2});
    CHECK_THROWS_AS(net.to_graph(0), qtl::error);
}

TEST_CASE("sequential: default names, renaming, and layer_schemes") {
    using net_t = qtl::sequential<qtl::dense<4, 3, qtl::int4_scheme, qtl::relu>, qtl::dense<3, 3, qtl::float_layer>,
                                  qtl::dense<3, 2, qtl::int16x8_scheme>, qtl::softmax_layer<2, qtl::int16x8_scheme>>;
    net_t net;
    CHECK(net.names() == std::array<std::string, 4>{"dense_0", "dense_1", "dense_2", "softmax_0"});
    net.names()[1] = "kept_in_float";

    const auto schemes = net.layer_schemes();
    REQUIRE(schemes.size() == 4);
    qtl::layer_scheme int4;  // int8 activations, int4 per-channel weights
    int4.weights.bits = 4;
    int4.weights.granularity = qtl::weight_granularity::per_channel;
    qtl::layer_scheme fl;
    fl.activations = qtl::activation_precision::float32;
    qtl::layer_scheme x16;
    x16.activations = qtl::activation_precision::int16;
    CHECK(schemes.at("dense_0") == int4);
    CHECK(schemes.at("kept_in_float") == fl);
    CHECK(schemes.at("dense_2") == x16);
    CHECK(schemes.at("softmax_0") == x16);

    // every key is a node of the lowered graph
    const auto g = net.to_graph();
    for (const auto& [name, s] : schemes) {
        bool found = false;
        for (const auto& n : g.nodes) found = found || n.name == name;
        CHECK_MESSAGE(found, name);
    }
    CHECK(g.nodes[1].name == "kept_in_float");
    CHECK(std::get<qtl::tflite::fully_connected_options>(g.nodes[1].options).fused_activation_function == act::NONE);
}

TEST_CASE("sequential: load_npz / save_npz through files") {
    const auto path = temp_file("tiny.npz");
    qtl::npz::write_file(path, {{"dense_0/kernel", f32(keras_kernel, {3, 2})}, {"dense_0/bias", f32(keras_bias, {2})}});
    tiny net;
    net.load_npz(path);
    CHECK(net.layer<0>().weights == std::array<float, 6>{1, 3, 5, 2, 4, 6});

    // save writes Keras layout back; a second net reads it
    const auto out = temp_file("tiny_saved.npz");
    net.save_npz(out);
    const auto z = qtl::npz::read_file(out);
    REQUIRE(z.size() == 2);
    CHECK(z.at("dense_0/kernel").shape == qtl::shape{3, 2});
    CHECK(z.at("dense_0/kernel").as<float>() == keras_kernel);
    tiny other;
    other.load_npz(out);
    CHECK(other.layer<0>().weights == net.layer<0>().weights);
    CHECK(other.layer<0>().bias == net.layer<0>().bias);

    // renamed layers read renamed keys
    tiny renamed;
    renamed.names()[0] = "hidden";
    qtl::npz::archive zr{{"hidden/kernel", f32(keras_kernel, {3, 2})}, {"hidden/bias", f32(keras_bias, {2})}};
    renamed.load(zr);
    CHECK(renamed.layer<0>().weights == net.layer<0>().weights);
    CHECK_THROWS_AS(renamed.load_npz(path), qtl::error);
    CHECK_THROWS_AS(net.load_npz(temp_file("does_not_exist.npz")), qtl::error);
}

TEST_CASE("sequential: bad archives name the key and the shapes, and change nothing") {
    using two = qtl::sequential<qtl::dense<3, 2, qtl::int8_scheme>, qtl::dense<2, 1, qtl::int8_scheme>>;
    two net;
    net.layer<0>().weights.fill(7.0f);
    const auto good0k = f32(keras_kernel, {3, 2});
    const auto good0b = f32(keras_bias, {2});
    const auto good1k = f32({1, 2}, {2, 1});
    const auto good1b = f32({3}, {1});

    // dense_1/bias missing: dense_0 is valid, but must not be loaded either
    const auto missing = error_of([&] {
        net.load({{"dense_0/kernel", good0k}, {"dense_0/bias", good0b}, {"dense_1/kernel", good1k}}, "'m.npz'");
    });
    CHECK(contains(missing, "'dense_1/bias'"));
    CHECK(contains(missing, "[1]"));
    CHECK(contains(missing, "'m.npz'"));
    CHECK(net.layer<0>().weights[0] == 7.0f);

    // TFLite layout [out, in] instead of Keras [in, out]
    const auto shape_err = error_of([&] {
        net.load({{"dense_0/kernel", f32(keras_kernel, {2, 3})}, {"dense_0/bias", good0b},
                  {"dense_1/kernel", good1k}, {"dense_1/bias", good1b}});
    });
    CHECK(contains(shape_err, "'dense_0/kernel'"));
    CHECK(contains(shape_err, "[2, 3]"));
    CHECK(contains(shape_err, "[3, 2]"));

    const std::vector<double> d(6, 1.0);
    const auto dtype_err = error_of([&] {
        net.load({{"dense_0/kernel", qtl::npy::make_array<double>(d, {3, 2})}, {"dense_0/bias", good0b},
                  {"dense_1/kernel", good1k}, {"dense_1/bias", good1b}});
    });
    CHECK(contains(dtype_err, "'dense_0/kernel'"));
    CHECK(contains(dtype_err, "float64"));
    CHECK(contains(dtype_err, "float32"));
    CHECK(net.layer<0>().weights[0] == 7.0f);

    net.load({{"dense_0/kernel", good0k}, {"dense_0/bias", good0b}, {"dense_1/kernel", good1k},
              {"dense_1/bias", good1b}});
    CHECK(net.layer<0>().weights[0] == 1.0f);
    CHECK(net.layer<1>().bias[0] == 3.0f);
    // y = W1 (W0 x + b0) + b1 at x = [1, 0, 0]: h = [1.5, 1], y = 1.5 + 2 + 3
    CHECK(net.forward({1, 0, 0})[0] == doctest::Approx(6.5));
}

// ---- conv2d / max_pool2d -------------------------------------------------------------

namespace {

// NHWC conv, batch 1, filters [F, K, K, C], TFLite padding (odd pixel bottom / right).
std::vector<double> naive_conv(const std::vector<double>& x, const float* w, const float* b, int h, int wd, int c,
                               int f, int k, int s, bool same, int* oh_out, int* ow_out) {
    const int oh = same ? (h + s - 1) / s : (h - k) / s + 1;
    const int ow = same ? (wd + s - 1) / s : (wd - k) / s + 1;
    const int top = same ? std::max(0, (oh - 1) * s + k - h) / 2 : 0;
    const int left = same ? std::max(0, (ow - 1) * s + k - wd) / 2 : 0;
    std::vector<double> y(static_cast<std::size_t>(oh * ow * f));
    for (int oy = 0; oy < oh; ++oy)
        for (int ox = 0; ox < ow; ++ox)
            for (int o = 0; o < f; ++o) {
                double acc = b[o];
                for (int ky = 0; ky < k; ++ky)
                    for (int kx = 0; kx < k; ++kx)
                        for (int i = 0; i < c; ++i) {
                            const int iy = oy * s + ky - top, ix = ox * s + kx - left;
                            if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                            acc += double(w[((o * k + ky) * k + kx) * c + i]) * x[(iy * wd + ix) * c + i];
                        }
                y[static_cast<std::size_t>((oy * ow + ox) * f + o)] = acc > 0 ? acc : 0;  // relu
            }
    *oh_out = oh;
    *ow_out = ow;
    return y;
}

std::vector<double> naive_max_pool(const std::vector<double>& x, int h, int w, int c, int p, int s) {
    const int oh = (h - p) / s + 1, ow = (w - p) / s + 1;
    std::vector<double> y(static_cast<std::size_t>(oh * ow * c), -1e300);
    for (int oy = 0; oy < oh; ++oy)
        for (int ox = 0; ox < ow; ++ox)
            for (int i = 0; i < c; ++i)
                for (int ky = 0; ky < p; ++ky)
                    for (int kx = 0; kx < p; ++kx) {
                        auto& o = y[static_cast<std::size_t>((oy * ow + ox) * c + i)];
                        o = std::max(o, x[static_cast<std::size_t>(((oy * s + ky) * w + ox * s + kx) * c + i)]);
                    }
    return y;
}

// 6x5x3 image -> conv 4 filters 3x3 stride 2 SAME relu (3x3x4) -> max pool 2 stride 1 (2x2x4) -> dense 16->3.
using same_conv = qtl::conv2d<6, 5, 3, 4, 3, 2, qtl::tflite::padding::SAME, qtl::int8_scheme, qtl::relu>;
using small_cnn = qtl::sequential<same_conv, qtl::max_pool2d<3, 3, 4, 2, 1>, qtl::dense<16, 3, qtl::int8_scheme>,
                                  qtl::softmax_layer<3>>;

}  // namespace

TEST_CASE("sequential: conv2d and max_pool2d forward equal naive loops") {
    static_assert(same_conv::out_h == 3 && same_conv::out_w == 3 && same_conv::outputs == 36);
    using valid_conv = qtl::conv2d<7, 6, 2, 5, 3, 2, qtl::tflite::padding::VALID, qtl::float_layer, qtl::relu>;
    static_assert(valid_conv::out_h == 3 && valid_conv::out_w == 2);  // floor((7 - 3) / 2) + 1, floor((6 - 3) / 2) + 1

    lcg r;
    small_cnn net;
    randomize(net.layer<0>(), r);
    randomize(net.layer<2>(), r);
    valid_conv vc;
    randomize(vc, r);
    int zeros = 0;
    for (int sample = 0; sample < 10; ++sample) {
        small_cnn::input_type x;
        std::vector<double> xd(x.size());
        for (std::size_t i = 0; i < x.size(); ++i) xd[i] = x[i] = r.next();
        int oh = 0, ow = 0;
        const auto c = naive_conv(xd, net.layer<0>().weights.data(), net.layer<0>().bias.data(), 6, 5, 3, 4, 3, 2,
                                  true, &oh, &ow);
        REQUIRE(oh == 3);
        REQUIRE(ow == 3);
        for (double v : c) zeros += v == 0.0;
        std::array<float, 36> c_ours;
        net.layer<0>().forward(x.data(), c_ours.data());
        for (std::size_t i = 0; i < 36; ++i) CHECK(c_ours[i] == doctest::Approx(c[i]).epsilon(1e-5).scale(1.0));

        const auto p = naive_max_pool(c, 3, 3, 4, 2, 1);
        const auto d = naive_dense(p, net.layer<2>().weights.data(), net.layer<2>().bias.data(), 16, 3, 0);
        const auto expected = naive_softmax(d, 1.0);
        const auto y = net.forward(x);
        for (std::size_t i = 0; i < 3; ++i) CHECK(y[i] == doctest::Approx(expected[i]).epsilon(1e-5));

        std::array<float, 7 * 6 * 2> vx;
        std::vector<double> vxd(vx.size());
        for (std::size_t i = 0; i < vx.size(); ++i) vxd[i] = vx[i] = r.next();
        const auto vexp = naive_conv(vxd, vc.weights.data(), vc.bias.data(), 7, 6, 2, 5, 3, 2, false, &oh, &ow);
        REQUIRE(vexp.size() == valid_conv::outputs);
        std::array<float, valid_conv::outputs> vy;
        vc.forward(vx.data(), vy.data());
        for (std::size_t i = 0; i < vy.size(); ++i) CHECK(vy[i] == doctest::Approx(vexp[i]).epsilon(1e-5).scale(1.0));
    }
    CHECK(zeros > 0);
}

TEST_CASE("sequential: a conv net lowers to CONV_2D, MAX_POOL_2D, RESHAPE, FULLY_CONNECTED, SOFTMAX") {
    small_cnn net;
    CHECK(net.names() == std::array<std::string, 4>{"conv2d_0", "max_pool_0", "dense_0", "softmax_0"});
    // Keras kernel [K, K, C, F] = [3, 3, 3, 4] with value = 1000 ky + 100 kx + 10 c + f
    std::vector<float> keras(3 * 3 * 3 * 4);
    for (int ky = 0; ky < 3; ++ky)
        for (int kx = 0; kx < 3; ++kx)
            for (int c = 0; c < 3; ++c)
                for (int f = 0; f < 4; ++f)
                    keras[static_cast<std::size_t>(((ky * 3 + kx) * 3 + c) * 4 + f)] =
                        static_cast<float>(1000 * ky + 100 * kx + 10 * c + f);
    qtl::npz::archive z{{"conv2d_0/kernel", f32(keras, {3, 3, 3, 4})},
                        {"conv2d_0/bias", f32({1, 2, 3, 4}, {4})},
                        {"dense_0/kernel", f32(std::vector<float>(48, 0.25f), {16, 3})},
                        {"dense_0/bias", f32({0, 0, 0}, {3})}};
    net.load(z);
    CHECK(net.layer<0>().weight(3, 2, 1, 0) == 2103.0f);  // filter 3, ky 2, kx 1, c 0
    CHECK(net.layer<0>().weight(0, 0, 2, 1) == 210.0f);
    CHECK(net.layer<0>().weights[1] == 10.0f);  // [F, K, K, C] order: c fastest
    CHECK(net.layer<0>().weights[3 * 3 * 3] == 1.0f);  // filter 1, tap (0, 0), c 0
    const auto saved = net.to_npz();
    CHECK(saved.at("conv2d_0/kernel").as<float>() == keras);
    CHECK(saved.at("conv2d_0/kernel").shape == qtl::shape{3, 3, 3, 4});

    const auto g = net.to_graph();
    REQUIRE(g.nodes.size() == 5);
    CHECK(g.nodes[0].op == op::CONV_2D);
    CHECK(g.nodes[1].op == op::MAX_POOL_2D);
    CHECK(g.nodes[2].op == op::RESHAPE);
    CHECK(g.nodes[3].op == op::FULLY_CONNECTED);
    CHECK(g.nodes[4].op == op::SOFTMAX);
    CHECK(g.tensor(g.inputs[0]).shape == qtl::shape{1, 6, 5, 3});
    CHECK(g.tensor(g.nodes[0].outputs[0]).shape == qtl::shape{1, 3, 3, 4});
    CHECK(g.tensor(g.nodes[1].outputs[0]).shape == qtl::shape{1, 2, 2, 4});
    CHECK(g.tensor(g.nodes[2].outputs[0]).shape == qtl::shape{1, 16});
    CHECK(g.tensor(g.nodes[4].outputs[0]).shape == qtl::shape{1, 3});
    const auto& co = std::get<qtl::tflite::conv_2d_options>(g.nodes[0].options);
    CHECK(co.stride_h == 2);
    CHECK(co.stride_w == 2);
    CHECK(co.padding == qtl::tflite::padding::SAME);
    CHECK(co.fused_activation_function == act::RELU);
    const auto& filter = g.tensor(g.nodes[0].inputs[1]);
    CHECK(filter.shape == qtl::shape{4, 3, 3, 3});
    CHECK(filter.values<float>()[((3 * 3 + 2) * 3 + 1) * 3 + 0] == 2103.0f);
    const auto& po = std::get<qtl::tflite::pool_2d_options>(g.nodes[1].options);
    CHECK(po.filter_height == 2);
    CHECK(po.stride_h == 1);
    const auto schemes = net.layer_schemes();
    CHECK(schemes.size() == 3);  // conv2d_0, dense_0, softmax_0: pooling has no scheme
    CHECK(schemes.count("max_pool_0") == 0);
}

#include "qtl/graph/float_executor.hpp"

// The lowered graph, run by qtl's float executor (its own kernels), computes
// what forward() computes: the lowering keeps layouts, padding and fused
// activations.
TEST_CASE("sequential: to_graph() run by qtl::float_executor matches forward()") {
    lcg r;
    auto mlp = std::make_unique<qtl::sequential<qtl::dense<40, 24, qtl::int8_scheme, qtl::relu>,
                                                qtl::dense<24, 10, qtl::int8_scheme, qtl::relu6>,
                                                qtl::softmax_layer<10>>>();
    randomize(mlp->layer<0>(), r);
    randomize(mlp->layer<1>(), r);
    mlp->layer<2>().beta = 1.5f;
    small_cnn cnn;
    randomize(cnn.layer<0>(), r);
    randomize(cnn.layer<2>(), r);
    qtl::float_executor run_mlp(mlp->to_graph()), run_cnn(cnn.to_graph());
    for (int sample = 0; sample < 5; ++sample) {
        std::array<float, 40> x;
        for (auto& v : x) v = r.next() * 3.0f;
        run_mlp.set_input(0, x);
        run_mlp.invoke();
        const auto y = mlp->forward(x);
        const auto g = run_mlp.output(0);
        REQUIRE(g.size() == 10);
        for (std::size_t i = 0; i < 10; ++i) CHECK(g[i] == doctest::Approx(y[i]).epsilon(1e-5).scale(1.0));

        small_cnn::input_type xi;
        for (auto& v : xi) v = r.next();
        run_cnn.set_input(0, xi);
        run_cnn.invoke();
        const auto yc = cnn.forward(xi);
        const auto gc = run_cnn.output(0);
        REQUIRE(gc.size() == 3);
        for (std::size_t i = 0; i < 3; ++i) CHECK(gc[i] == doctest::Approx(yc[i]).epsilon(1e-5).scale(1.0));
    }
}

TEST_CASE("sequential: a single layer, and value semantics") {
    using one = qtl::sequential<qtl::dense<2, 1, qtl::int8_per_tensor_scheme, qtl::relu6>>;
    static_assert(one::inputs == 2 && one::outputs == 1 && one::size == 1);
    static_assert(std::is_same_v<one::input_type, std::array<float, 2>>);
    one a;
    CHECK(a.layer<0>().weights == std::array<float, 2>{0, 0});  // zero-initialised
    CHECK(a.forward({5, 5})[0] == 0.0f);
    a.layer<0>().weight(0, 0) = 2.0f;
    a.layer<0>().weight(0, 1) = -1.0f;
    a.layer<0>().bias[0] = 0.5f;
    CHECK(a.forward({3, 1})[0] == 5.5f);  // 2 * 3 - 1 + 0.5
    CHECK(a.forward({9, 1})[0] == 6.0f);  // 17.5 clamped by relu6
    CHECK(a.forward({0, 1})[0] == 0.0f);  // -0.5 clamped at 0
    one b = a;                            // a copy owns its own weights
    b.layer<0>().bias[0] = 0.0f;
    CHECK(a.forward({3, 1})[0] == 5.5f);
    CHECK(b.forward({3, 1})[0] == 5.0f);
    const auto g = a.to_graph();
    REQUIRE(g.nodes.size() == 1);
    CHECK(std::get<qtl::tflite::fully_connected_options>(g.nodes[0].options).fused_activation_function ==
          act::RELU6);
    qtl::layer_scheme per_tensor;
    per_tensor.weights.granularity = qtl::weight_granularity::per_tensor;
    CHECK(a.layer_schemes().at("dense_0") == per_tensor);
}
