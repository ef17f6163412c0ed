#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <tuple>
#include <vector>

#include "qtl/core/int4_packing.hpp"
#include "qtl/ops/fully_connected.hpp"
#include "qtl/ops/hybrid_fully_connected.hpp"
#include "qtl/ops/reference/fully_connected.hpp"
#include "qtl/ops/reference/hybrid_fully_connected.hpp"
#include "support/ops_testing.hpp"

// Hybrid FULLY_CONNECTED (float in, int8 weights, float out): hand-computed
// cases (inputs chosen so that the on-the-fly input scale is exactly 1 and
// every float in the comments is exact), SIMD == reference bit for bit on
// random inputs at tile-edge sizes, and the error against a plain float
// computation with the dequantized weights bounded by the input quantization
// step.

using namespace qtl;

namespace {

// Weights [2, 4] used by the hand-computed cases: rows {1, 2, 3, 4} and
// {-1, 0, 5, -127}, scales 0.5 and 0.25, bias {1, -2}.
const std::vector<std::int8_t> hand_weights = {1, 2, 3, 4, -1, 0, 5, -127};
const std::vector<float> hand_bias = {1.0f, -2.0f};

ops::hybrid_fully_connected_params hand_params(bool asymmetric, fused_activation act = fused_activation::none) {
    ops::hybrid_fully_connected_params p;
    p.input_shape = {1, 4};
    p.weights_shape = {2, 4};
    p.weights = hand_weights;
    p.bias = hand_bias;
    p.weights_quant.scales = {0.5f, 0.25f};
    p.weights_quant.zero_points = {0, 0};
    p.weights_quant.axis = 0;
    p.activation = act;
    p.asymmetric_quantize_inputs = asymmetric;
    return p;
}

std::vector<float> run_both(const ops::hybrid_fully_connected_params& params, const std::vector<float>& x) {
    const auto p = ops::prepare(params);
    std::vector<float> simd(num_elements(p.output_shape)), ref(simd.size());
    ops::eval(p, tensor_view<const float>(x, p.input_shape), tensor_view<float>(simd, p.output_shape));
    ops::reference::eval(p, tensor_view<const float>(x, p.input_shape), tensor_view<float>(ref, p.output_shape));
    for (std::size_t i = 0; i < ref.size(); ++i) CHECK(simd[i] == ref[i]);
    return ref;
}

}  // namespace

TEST_CASE("hybrid_fully_connected: asymmetric input, worked by hand") {
    // Row [0, 255, 10, 100.4]: range widened to [0, 255], scale 255 / 255 = 1,
    // zero point from min = -128 - 0 / 1 = -128 (nudged to qmin).
    // Codes round(-128 + x) = [-128, 127, -118, -28].
    // Row 0 weights {1,2,3,4}: dot = -128 + 254 - 354 - 112 = -340, row sum 10,
    //   acc = -340 - (-128) * 10 = 940; out = 940 * (1 * 0.5) + 1 = 471.
    // Row 1 weights {-1,0,5,-127}: dot = 128 + 0 - 590 + 3556 = 3094, row sum -123,
    //   acc = 3094 - (-128)(-123) = -12650; out = -12650 * 0.25 - 2 = -3164.5.
    const auto y = run_both(hand_params(true), {0.0f, 255.0f, 10.0f, 100.4f});
    CHECK(y == std::vector<float>{471.0f, -3164.5f});

    // The same with RELU: -3164.5 clamps to 0.
    const auto r = run_both(hand_params(true, fused_activation::relu), {0.0f, 255.0f, 10.0f, 100.4f});
    CHECK(r == std::vector<float>{471.0f, 0.0f});

    // Row [-128, 127, 3.4, -7.6]: range [-128, 127], scale 1, zero point 0;
    // codes [-128, 127, 3, -8].  Row 0: -128 + 254 + 9 - 32 = 103 -> 103 * 0.5 + 1 = 52.5.
    // Row 1: 128 + 0 + 15 + 1016 = 1159 -> 1159 * 0.25 - 2 = 287.75.
    const auto z = run_both(hand_params(true), {-128.0f, 127.0f, 3.4f, -7.6f});
    CHECK(z == std::vector<float>{52.5f, 287.75f});
}

TEST_CASE("hybrid_fully_connected: symmetric input, worked by hand") {
    // Row [127, -63.6, 0.2, 10]: range max|x| = 127, scale 127 / 127 = 1,
    // codes round(x * 127 / 127) = [127, -64, 0, 10].
    // Row 0: 127 - 128 + 0 + 40 = 39 -> 39 * 0.5 + 1 = 20.5.
    // Row 1: -127 + 0 + 0 - 1270 = -1397 -> -1397 * 0.25 - 2 = -351.25.
    const auto y = run_both(hand_params(false), {127.0f, -63.6f, 0.2f, 10.0f});
    CHECK(y == std::vector<float>{20.5f, -351.25f});
    // RELU6 clamps 20.5 to 6 and -351.25 to 0.
    const auto r = run_both(hand_params(false, fused_activation::relu6), {127.0f, -63.6f, 0.2f, 10.0f});
    CHECK(r == std::vector<float>{6.0f, 0.0f});
}

TEST_CASE("hybrid_fully_connected: an all-zero input gives the bias") {
    const auto y = run_both(hand_params(true), {0.0f, 0.0f, 0.0f, 0.0f});
    CHECK(y == hand_bias);
}

TEST_CASE("hybrid_fully_connected: two rows are quantized independently") {
    // Row 0 as the asymmetric case above, row 1 = row 0 / 2 (scale 0.5,
    // zero point -128, same codes): acc is the same, out = acc * 0.5 * w_scale + bias.
    auto params = hand_params(true);
    params.input_shape = {2, 4};
    const auto y = run_both(params, {0.0f, 255.0f, 10.0f, 100.4f, 0.0f, 127.5f, 5.0f, 50.2f});
    CHECK(y == std::vector<float>{471.0f, -3164.5f, 236.0f, -1583.25f});
}

TEST_CASE_TEMPLATE_DEFINE("hybrid_fully_connected: SIMD == reference, error bounded by the input step", A, simd_arch) {
    std::mt19937 rng(1234);
    for (std::size_t rows : {1u, 3u}) {
        for (std::size_t in : {1u, 7u, 31u, 32u, 33u, 100u}) {
            for (std::size_t out : {1u, 3u, 4u, 5u, 17u}) {
                for (bool asymmetric : {true, false}) {
                    for (bool per_channel : {true, false}) {
                        auto w = test::random_values<std::int8_t>(rng, in * out);
                        for (auto& v : w) v = v == -128 ? std::int8_t{-127} : v;
                        std::vector<float> x(rows * in), bias(out);
                        std::normal_distribution<float> dist(0.3f, 2.0f);
                        for (auto& v : x) v = dist(rng);
                        for (auto& v : bias) v = dist(rng);
                        ops::hybrid_fully_connected_params params;
                        params.input_shape = {static_cast<std::int32_t>(rows), static_cast<std::int32_t>(in)};
                        params.weights_shape = {static_cast<std::int32_t>(out), static_cast<std::int32_t>(in)};
                        params.weights = w;
                        params.bias = bias;
                        params.asymmetric_quantize_inputs = asymmetric;
                        if (per_channel) {
                            for (std::size_t o = 0; o < out; ++o) params.weights_quant.scales.push_back(test::random_scale(rng, 1e-3f, 1e-1f));
                            params.weights_quant.axis = 0;
                        } else {
                            params.weights_quant.scales = {test::random_scale(rng, 1e-3f, 1e-1f)};
                        }
                        const auto p = ops::prepare(params);
                        std::vector<float> simd(rows * out), ref(rows * out);
                        ops::eval<A>(p, tensor_view<const float>(x, p.input_shape), tensor_view<float>(simd, p.output_shape));
                        ops::reference::eval(p, tensor_view<const float>(x, p.input_shape),
                                             tensor_view<float>(ref, p.output_shape));
                        CHECK(simd == ref);
                        // Against float math with the dequantized weights: each input
                        // element is off by at most one quantization step s_r (half a
                        // step of rounding, plus up to half a step from nudging the
                        // zero point to an integer), so |error| <= s_r * sum |w|,
                        // plus float rounding.
                        for (std::size_t r = 0; r < rows; ++r) {
                            float lo = 0.0f, hi = 0.0f;
                            for (std::size_t i = 0; i < in; ++i) {
                                lo = std::min(lo, x[r * in + i]);
                                hi = std::max(hi, x[r * in + i]);
                            }
                            const double step = asymmetric ? (double(hi) - lo) / 255.0 : std::max(-lo, hi) / 127.0;
                            for (std::size_t o = 0; o < out; ++o) {
                                const double ws = params.weights_quant.scales[per_channel ? o : 0];
                                double exact = bias[o], abs_w = 0.0;
                                for (std::size_t i = 0; i < in; ++i) {
                                    exact += double(x[r * in + i]) * w[o * in + i] * ws;
                                    abs_w += std::abs(double(w[o * in + i])) * ws;
                                }
                                const double bound = step * abs_w + 1e-5 * (std::abs(exact) + 1.0);
                                CHECK(std::abs(ref[r * out + o] - exact) <= bound);
                            }
                        }
                    }
                }
            }
        }
    }
}
TEST_CASE_TEMPLATE_APPLY(simd_arch, qtl::test::tested_archs);

TEST_CASE("hybrid_fully_connected: prepare() refuses bad parameters") {
    auto p = hand_params(true);
    p.weights_quant.scales = {0.5f, 0.25f, 1.0f};
    CHECK_THROWS_AS(ops::prepare(p), error);
    p = hand_params(true);
    p.weights_quant.zero_points = {0, 3};
    CHECK_THROWS_AS(ops::prepare(p), error);
    p = hand_params(true);
    p.activation = fused_activation::tanh;
    CHECK_THROWS_AS(ops::prepare(p), error);
    p = hand_params(true);
    p.input_shape = {1, 5};
    CHECK_THROWS_AS(ops::prepare(p), error);
    p = hand_params(true);
    std::vector<float> bad_bias = {1.0f};
    p.bias = bad_bias;
    CHECK_THROWS_AS(ops::prepare(p), error);
}

// ---- block-wise int4 weights -------------------------------------------------
// The block-wise hybrid path is TFLite's EvalBlockwise4Bit, implemented in
// ops/fully_connected.hpp (fully_connected_blockwise_params) and run by the
// executor for FLOAT32-input FULLY_CONNECTED ops with block-wise INT4 weights.
// Here: a case worked by hand, and agreement with XNNPACK's order of the
// float operations (LiteRT hands block sizes that are multiples of 32 to
// XNNPACK's qd8-f32-qb4w kernels) to float rounding: the reason qtl's
// outputs and LiteRT's agree within 1e-4 of the output range.

namespace {

std::vector<float> run_blockwise(const ops::fully_connected_blockwise_prepared& p, const std::vector<float>& input) {
    std::vector<float> out(num_elements(p.output_shape), 99.0f);
    ops::eval(p, {input, p.input_shape}, {out, p.output_shape});
    return out;
}

ops::fully_connected_blockwise_params blockwise_params(const qtl::shape& input_shape, int outputs, int inputs,
                                                       int block, const std::vector<std::uint8_t>& packed,
                                                       const std::vector<float>& scales,
                                                       const std::vector<float>& bias) {
    ops::fully_connected_blockwise_params p;
    p.input_shape = input_shape;
    p.weights_shape = {outputs, inputs};
    p.weights = packed;
    p.bias = bias;
    p.weights_quant.scales = scales;
    p.weights_quant.axis = 1;
    p.weights_quant.block_size = block;
    return p;
}

}  // namespace

TEST_CASE("hybrid_fully_connected: block-wise int4 weights, worked by hand") {
    // One row of 32 inputs: x[0] = -128, x[1] = 127, x[16] = 5, x[17] = -3, others 0.  Its range
    // [-128, 127] gives input scale 255 / 255 = 1 and zero point -128 - (-128) / 1 = 0: codes = x.
    std::vector<float> x(32, 0.0f);
    x[0] = -128.0f;
    x[1] = 127.0f;
    x[16] = 5.0f;
    x[17] = -3.0f;
    // Weights [4, 32], blocks of 16: row o has w[0] = o + 1, w[1] = -1, w[16] = 2, w[17] = 7 - o (as int4:
    // 7 - o <= 7), others 0; scales 0.5 (block 0) and 0.25 (block 1) for every row; bias {1, -2, 0.5, 0}.
    std::vector<std::int8_t> w(4 * 32, 0);
    for (int o = 0; o < 4; ++o) {
        w[o * 32 + 0] = static_cast<std::int8_t>(o + 1);
        w[o * 32 + 1] = -1;
        w[o * 32 + 16] = 2;
        w[o * 32 + 17] = static_cast<std::int8_t>(7 - o);
    }
    const auto packed = pack_int4(w);
    const std::vector<float> scales = {0.5f, 0.25f, 0.5f, 0.25f, 0.5f, 0.25f, 0.5f, 0.25f};
    const std::vector<float> bias = {1.0f, -2.0f, 0.5f, 0.0f};
    const auto p = ops::prepare(blockwise_params({1, 32}, 4, 32, 16, packed, scales, bias));
    // out[o] = 0.5 * (-128 (o + 1) - 127) + 0.25 * (5 * 2 - 3 (7 - o)) + bias[o]:
    //   o = 0: -127.5 - 2.75 + 1 = -129.25      o = 1: -191.5 - 2 - 2 = -195.5
    //   o = 2: -255.5 - 1.25 + 0.5 = -256.25    o = 3: -319.5 - 0.5 + 0 = -320
    const std::vector<float> expected = {-129.25f, -195.5f, -256.25f, -320.0f};
    CHECK(run_blockwise(p, x) == expected);
    std::vector<float> ref(4, 99.0f);
    ops::reference::eval(p, {x, p.input_shape}, {ref, p.output_shape});
    CHECK(ref == expected);
}

TEST_CASE("hybrid_fully_connected: block-wise int4 agrees with XNNPACK's float order to rounding") {
    std::mt19937 rng(77);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::uniform_int_distribution<int> code(-7, 7);
    for (const int block : {32, 64, 128}) {
        const int outputs = 12, inputs = 256, rows = 3, blocks = inputs / block;
        std::vector<std::int8_t> w(static_cast<std::size_t>(outputs * inputs));
        for (auto& v : w) v = static_cast<std::int8_t>(code(rng));
        // Scales with 11 significant bits (any binary16 value), so that the two orders round differently.
        std::vector<float> scales(static_cast<std::size_t>(outputs * blocks));
        for (auto& s : scales) s = std::ldexp(static_cast<float>(1024 + rng() % 1024), -15 - static_cast<int>(rng() % 4));
        std::vector<float> bias(static_cast<std::size_t>(outputs));
        for (auto& b : bias) b = 0.1f * normal(rng);
        std::vector<float> x(static_cast<std::size_t>(rows * inputs));
        for (std::size_t i = 0; i < x.size(); ++i) x[i] = normal(rng) + (i < static_cast<std::size_t>(inputs) ? 0.8f : 0.0f);
        const auto packed = pack_int4(w);
        const auto p = ops::prepare(blockwise_params({rows, inputs}, outputs, inputs, block, packed, scales, bias));
        const auto got = run_blockwise(p, x);

        // XNNPACK's qd8-f32-qb4w order: a float "ksum" per output, -sum_b (sum of the block's weights) * scale_b,
        // times the input zero point first; then each block's integer dot product times its scale added;
        // then times the input scale; then the bias.  (Row quantization: TFLite's, as both runtimes quantize
        // rows to the same codes up to ties.)
        float top = 0.0f, worst = 0.0f;
        std::vector<std::int8_t> q(static_cast<std::size_t>(inputs));
        for (int r = 0; r < rows; ++r) {
            const auto rq = ops::detail::fully_connected::quantize_row_asymmetric(x.data() + r * inputs,
                                                                                 static_cast<std::size_t>(inputs), q.data());
            for (int o = 0; o < outputs; ++o) {
                float ksum = 0.0f;
                for (int b = 0; b < blocks; ++b) {
                    int wsum = 0;
                    for (int k = 0; k < block; ++k) wsum += w[static_cast<std::size_t>(o * inputs + b * block + k)];
                    ksum -= static_cast<float>(wsum) * scales[static_cast<std::size_t>(o * blocks + b)];
                }
                float out = ksum * static_cast<float>(rq.zero_point);
                for (int b = 0; b < blocks; ++b) {
                    int dot = 0;
                    for (int k = 0; k < block; ++k)
                        dot += q[static_cast<std::size_t>(b * block + k)] * w[static_cast<std::size_t>(o * inputs + b * block + k)];
                    out += static_cast<float>(dot) * scales[static_cast<std::size_t>(o * blocks + b)];
                }
                out = out * rq.scale + bias[static_cast<std::size_t>(o)];
                const float g = got[static_cast<std::size_t>(r * outputs + o)];
                top = std::max(top, std::abs(out));
                worst = std::max(worst, std::abs(g - out));
            }
        }
        INFO("block " << block << ": max |TFLite order - XNNPACK order| = " << worst << ", max |output| = " << top);
        CHECK(worst <= 1e-5f * top);
        CHECK(top > 0.1f);
    }
}
