#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <tuple>
#include <vector>

#include "qtl/ops/hybrid_fully_connected.hpp"
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
