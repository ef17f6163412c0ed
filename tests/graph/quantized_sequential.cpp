#include <doctest/doctest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <span>
#include <vector>

#include "qtl/graph/quantized_sequential.hpp"
#include "qtl/io/tflite/executor.hpp"

// qtl::quantized_sequential against an independent path: qtl::tflite::executor
// on the converted model (op-code dispatch, op by op, through ops::eval).  The
// two must give the same bytes on every sample, for int8, int8 per-tensor,
// int4 weights and 16x8, on a random MLP and on two small conv nets.  A 2x2
// dense layer is also checked against requantized values worked out by hand.
// A counting operator new checks that dense/softmax networks allocate nothing
// in forward().

namespace {

std::size_t allocations = 0;

}  // namespace

// GCC pairs the inlined free() with the library's operator new, not this one.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(std::size_t n) {
    ++allocations;
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

namespace {

using qtl::tflite::executor;

struct lcg {
    std::uint32_t s = 2024;
    float next() {  // [-1, 1)
        s = s * 1664525u + 1013904223u;
        return static_cast<float>(s >> 8) / static_cast<float>(1u << 23) - 1.0f;
    }
};

template <class Net>
void randomize(Net& net, lcg& r) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        (
            [&] {
                auto& l = net.template layer<I>();
                if constexpr (requires { l.weights; }) {
                    for (auto& w : l.weights) w = r.next();
                    for (auto& b : l.bias) b = 0.3f * r.next();
                }
            }(),
            ...);
    }(std::make_index_sequence<Net::size>{});
}

template <std::size_t N>
std::vector<std::vector<float>> random_samples(std::size_t count, lcg& r) {
    std::vector<std::vector<float>> s(count, std::vector<float>(N));
    for (auto& x : s)
        for (auto& v : x) v = 2.0f * r.next();
    return s;
}

// Every sample: quantized_sequential::forward == executor, byte for byte,
// with native (integer) model input and output; and with a float32 model
// input, forward(float) == executor fed the same floats.
template <class Net>
void check_against_executor(const Net& net, const qtl::sequential_quantize_options& base, std::size_t samples) {
    using Q = qtl::quantized_sequential_for<Net>;
    using T = typename Q::value_type;
    lcg r{7};
    const auto calib = random_samples<Net::inputs>(48, r);
    const auto tests = random_samples<Net::inputs>(samples, r);

    auto q = qtl::quantize(net, calib, base);
    executor run(q.model);
    REQUIRE(run.input_tensor(0).type == (sizeof(T) == 1 ? qtl::tflite::tensor_type::INT8 : qtl::tflite::tensor_type::INT16));
    const auto in_q = q.net->input_quantization();
    std::size_t differing = 0, nonconstant = 0;
    typename Q::output_type first{};
    for (std::size_t s = 0; s < tests.size(); ++s) {
        typename Q::input_type x;
        for (std::size_t i = 0; i < x.size(); ++i)
            x[i] = qtl::ops::detail::affine_quantize_value<T>(tests[s][i], in_q.scale, in_q.zero_point);
        run.set_input<T>(0, x);
        run.invoke();
        const auto expected = run.output<T>(0);
        const auto got = q.net->forward(x);
        REQUIRE(expected.size() == got.size());
        for (std::size_t i = 0; i < got.size(); ++i) differing += got[i] != expected[i];
        if (s == 0) first = got;
        nonconstant += got != first;
    }
    CHECK(differing == 0);
    CHECK(nonconstant > 0);  // the outputs react to the input (not a degenerate model)

    // float32 model input: QUANTIZE in the model, forward(float) here.
    auto fopt = base;
    fopt.input_type = qtl::io_type::float32;
    auto qf = qtl::quantize(net, calib, fopt);
    executor runf(qf.model);
    REQUIRE(runf.input_tensor(0).type == qtl::tflite::tensor_type::FLOAT32);
    std::size_t differing_float = 0;
    for (const auto& t : tests) {
        typename Q::float_input_type x;
        std::copy(t.begin(), t.end(), x.begin());
        runf.set_input<float>(0, x);
        runf.invoke();
        const auto expected = runf.output<T>(0);
        const auto got = qf.net->forward(x);
        for (std::size_t i = 0; i < got.size(); ++i) differing_float += got[i] != expected[i];
    }
    CHECK(differing_float == 0);
}

using mlp_int8 = qtl::sequential<qtl::dense<37, 19, qtl::int8_scheme, qtl::relu>, qtl::dense<19, 10, qtl::int8_scheme>,
                                 qtl::softmax_layer<10>>;
using mlp_per_tensor = qtl::sequential<qtl::dense<37, 19, qtl::int8_per_tensor_scheme, qtl::relu6>,
                                       qtl::dense<19, 10, qtl::int8_per_tensor_scheme>,
                                       qtl::softmax_layer<10, qtl::int8_per_tensor_scheme>>;
using mlp_int4 = qtl::sequential<qtl::dense<37, 19, qtl::int4_scheme, qtl::relu>, qtl::dense<19, 10, qtl::int4_scheme>,
                                 qtl::softmax_layer<10, qtl::int4_scheme>>;
using mlp_16x8 = qtl::sequential<qtl::dense<37, 19, qtl::int16x8_scheme, qtl::relu>,
                                 qtl::dense<19, 10, qtl::int16x8_scheme>, qtl::softmax_layer<10, qtl::int16x8_scheme>>;

// conv (VALID, stride 1) -> max pool 2x2 -> flatten -> dense -> softmax
template <class S>
using convnet = qtl::sequential<qtl::conv2d<8, 8, 3, 4, 3, 1, qtl::tflite::padding::VALID, S, qtl::relu>,
                                qtl::max_pool2d<6, 6, 4, 2>, qtl::dense<36, 10, S>, qtl::softmax_layer<10, S>>;
// conv (SAME, stride 2, relu6) -> max pool 2x2 stride 1 -> dense -> dense -> softmax
template <class S>
using convnet2 = qtl::sequential<qtl::conv2d<9, 9, 2, 5, 3, 2, qtl::tflite::padding::SAME, S, qtl::relu6>,
                                 qtl::max_pool2d<5, 5, 5, 2, 1>, qtl::dense<80, 12, S, qtl::relu>, qtl::dense<12, 7, S>,
                                 qtl::softmax_layer<7, S>>;

template <class Net>
std::unique_ptr<Net> random_net(std::uint32_t seed) {
    auto net = std::make_unique<Net>();
    lcg r{seed};
    randomize(*net, r);
    return net;
}

}  // namespace

TEST_CASE("quantized_sequential: a 2x2 dense layer requantized by hand") {
    using net_t = qtl::sequential<qtl::dense<2, 2, qtl::int8_per_tensor_scheme>>;
    net_t net;
    auto& d = net.layer<0>();
    // W = [[0.5, -0.25], [0.9921875, 0.125]]: weight scale = 0.9921875 / 127 = 1/128,
    // so q(W) = [[64, -32], [127, 16]].  b = [0.25, -0.5]: bias scale =
    // input scale * weight scale = 1/64 * 1/128 = 1/8192, q(b) = [2048, -4096].
    d.weights = {0.5f, -0.25f, 0.9921875f, 0.125f};
    d.bias = {0.25f, -0.5f};
    const qtl::graph g = net.to_graph();
    // Ranges: input [0, 255/64] -> scale 1/64, zero point -128;
    //         output [-2, 255/64 - 2] -> scale 1/64, zero point -128 + 128 = 0.
    qtl::calibration cal;
    cal.ranges[g.inputs[0]] = {0.0f, 3.984375f};
    cal.ranges[g.outputs[0]] = {-2.0f, 1.984375f};
    qtl::conversion_options opt;
    opt.layers = net.layer_schemes();
    const auto model = qtl::convert(g, cal, opt);
    qtl::quantized_sequential_for<net_t> q(model);
    CHECK(q.input_quantization().scale == 1.0f / 64);
    CHECK(q.input_quantization().zero_point == -128);
    CHECK(q.output_quantization().scale == 1.0f / 64);
    CHECK(q.output_quantization().zero_point == 0);

    // x = [1.0, 0.5] -> q(x) = [64 - 128, 32 - 128] = [-64, -96]; x - zp = [64, 32].
    // acc0 = 64*64 + (-32)*32 + 2048 = 5120;  acc1 = 127*64 + 16*32 - 4096 = 4544.
    // M = (1/64)(1/128)/(1/64) = 2^-7: multiplier 2^30, shift -6.
    // srdhm(acc, 2^30) = acc / 2 = 2560, 2272; rounding >> 6: 40, 35.5 -> 36.
    // (float: 0.625 * 64 = 40, 0.5546875 * 64 = 35.5.)  Output zero point 0.
    const std::array<std::int8_t, 2> x{-64, -96};
    const auto y = q.forward(x);
    CHECK(y[0] == 40);
    CHECK(y[1] == 36);
    const auto yf = q.forward(std::array<float, 2>{1.0f, 0.5f});  // quantized at the input
    CHECK(yf == y);

    executor run(model);
    run.set_input<std::int8_t>(0, x);
    run.invoke();
    CHECK(run.output<std::int8_t>(0)[0] == 40);
    CHECK(run.output<std::int8_t>(0)[1] == 36);
}

TEST_CASE("quantized_sequential: random MLP equals the executor (int8, per-tensor, int4, 16x8)") {
    qtl::sequential_quantize_options opt;
    opt.calibration.threads = 1;
    opt.calibration.progress = qtl::progress_bar::never;
    SUBCASE("int8 per-channel") { check_against_executor(*random_net<mlp_int8>(1), opt, 200); }
    SUBCASE("int8 per-tensor, relu6") { check_against_executor(*random_net<mlp_per_tensor>(2), opt, 200); }
    SUBCASE("int4 weights") { check_against_executor(*random_net<mlp_int4>(3), opt, 200); }
    SUBCASE("16x8") { check_against_executor(*random_net<mlp_16x8>(4), opt, 200); }
}

TEST_CASE("quantized_sequential: conv -> max pool -> dense -> softmax equals the executor") {
    qtl::sequential_quantize_options opt;
    opt.calibration.threads = 1;
    opt.calibration.progress = qtl::progress_bar::never;
    SUBCASE("int8") { check_against_executor(*random_net<convnet<qtl::int8_scheme>>(5), opt, 100); }
    SUBCASE("int4") { check_against_executor(*random_net<convnet<qtl::int4_scheme>>(6), opt, 100); }
    SUBCASE("16x8") { check_against_executor(*random_net<convnet<qtl::int16x8_scheme>>(7), opt, 100); }
    SUBCASE("SAME stride 2, int8") { check_against_executor(*random_net<convnet2<qtl::int8_scheme>>(8), opt, 100); }
    SUBCASE("SAME stride 2, 16x8") { check_against_executor(*random_net<convnet2<qtl::int16x8_scheme>>(9), opt, 100); }
}

TEST_CASE("quantized_sequential: forward() of dense and softmax layers does not allocate") {
    qtl::sequential_quantize_options opt;
    opt.calibration.threads = 1;
    opt.calibration.progress = qtl::progress_bar::never;
    lcg r{11};
    const auto calib = random_samples<37>(16, r);
    auto check_no_allocation = [&](const auto& net) {
        auto q = qtl::quantize(net, calib, opt);
        typename std::remove_cvref_t<decltype(*q.net)>::float_input_type x{};
        for (auto& v : x) v = r.next();
        q.net->forward(x);  // warm-up (nothing should be lazy, but be fair)
        const std::size_t before = allocations;
        for (int i = 0; i < 10; ++i) q.net->forward(x);
        CHECK(allocations - before == 0);
    };
    check_no_allocation(*random_net<mlp_int8>(1));
    check_no_allocation(*random_net<mlp_int4>(3));
    check_no_allocation(*random_net<mlp_16x8>(4));
}

TEST_CASE("quantized_sequential: a model that is not this network is refused") {
    qtl::sequential_quantize_options opt;
    opt.calibration.threads = 1;
    opt.calibration.progress = qtl::progress_bar::never;
    lcg r{12};
    const auto calib = random_samples<37>(8, r);
    const auto q8 = qtl::quantize(*random_net<mlp_int8>(1), calib, opt);
    // int16 layer types on an int8 model
    CHECK_THROWS_WITH_AS(qtl::quantized_sequential_for<mlp_16x8>{q8.model}, doctest::Contains("is INT8 but the layer types say INT16"),
                         qtl::error);
    // other sizes
    using other = qtl::sequential<qtl::dense<37, 18, qtl::int8_scheme, qtl::relu>, qtl::dense<18, 10>,
                                  qtl::softmax_layer<10>>;
    CHECK_THROWS_WITH_AS(qtl::quantized_sequential_for<other>{q8.model}, doctest::Contains("the layer type says [1, 18]"),
                         qtl::error);
    // a missing layer
    using shorter = qtl::sequential<qtl::dense<37, 19, qtl::int8_scheme, qtl::relu>, qtl::dense<19, 10>>;
    CHECK_THROWS_WITH_AS(qtl::quantized_sequential_for<shorter>{q8.model}, doctest::Contains("is left over"),
                         qtl::error);
    // uint8 model input
    auto u8 = opt;
    u8.input_type = qtl::io_type::uint8;
    CHECK_THROWS_AS(qtl::quantize(*random_net<mlp_int8>(1), calib, u8), qtl::error);
}
