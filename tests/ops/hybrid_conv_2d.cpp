#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <tuple>
#include <vector>

#include "qtl/ops/hybrid_conv_2d.hpp"
#include "qtl/ops/reference/hybrid_conv_2d.hpp"
#include "support/ops_testing.hpp"

// Hybrid CONV_2D (float in, int8 filter, float out): hand-computed cases
// (inputs chosen so that the per-image input scale is exactly 1), SIMD ==
// reference bit for bit on random shapes, strides, dilations and paddings,
// and the error against float math with the dequantized filter bounded by
// the input quantization step.

using namespace qtl;

namespace {

std::vector<float> run_both(const ops::hybrid_conv_2d_params& params, const std::vector<float>& x) {
    const auto p = ops::prepare(params);
    std::vector<float> simd(num_elements(p.output_shape)), ref(simd.size());
    ops::eval(p, tensor_view<const float>(x, p.input_shape), tensor_view<float>(simd, p.output_shape));
    ops::reference::eval(p, tensor_view<const float>(x, p.input_shape), tensor_view<float>(ref, p.output_shape));
    for (std::size_t i = 0; i < ref.size(); ++i) CHECK(simd[i] == ref[i]);
    return ref;
}

// Two 2x2x1 filters {1, 2, 3, 4} and {-1, 0, 5, -127}, bias {1, -2}.
const std::vector<std::int8_t> hand_filter = {1, 2, 3, 4, -1, 0, 5, -127};
const std::vector<float> hand_bias = {1.0f, -2.0f};

ops::hybrid_conv_2d_params hand_params(std::vector<float> scales, ops::padding pad) {
    ops::hybrid_conv_2d_params p;
    p.input_shape = {1, 2, 2, 1};
    p.filter_shape = {2, 2, 2, 1};
    p.weights = hand_filter;
    p.bias = hand_bias;
    p.filter.scales = std::move(scales);
    p.filter.axis = p.filter.scales.size() > 1 ? 0 : -1;
    p.padding = pad;
    return p;
}

}  // namespace

TEST_CASE("hybrid_conv_2d: per-channel filter, asymmetric input, worked by hand") {
    // Image [0, 255, 10, 100.4] (2x2x1): range [0, 255], scale 1, zero point
    // -128 (scales 0.5 and 0.25 differ, so TFLite quantizes asymmetrically).
    // Codes [-128, 127, -118, -28], centred (q + 128): [0, 255, 10, 100].
    // VALID, one output pixel:
    //   channel 0: 0*1 + 255*2 + 10*3 + 100*4 = 940 -> 940 * (0.5 * 1) + 1 = 471
    //   channel 1: -0 + 0 + 50 - 12700 = -12650 -> -12650 * 0.25 - 2 = -3164.5
    const std::vector<float> x = {0.0f, 255.0f, 10.0f, 100.4f};
    CHECK(run_both(hand_params({0.5f, 0.25f}, ops::padding::valid), x) == std::vector<float>{471.0f, -3164.5f});
    // SAME: a 2x2 output; total padding 1 per axis, all of it after (bottom/right).
    // Pixel (0, 1) reads taps (0,1)=255 [w 1] and (1,1)=100 [w 3]; the taps past the
    // edge add nothing: channel 0 = 255 + 300 = 555 -> 278.5; channel 1 = -255 + 500 = 245 -> 59.25.
    // Pixel (1, 1) reads only (1,1)=100: channel 0 = 100 -> 51, channel 1 = -100 -> -27.
    const auto y = run_both(hand_params({0.5f, 0.25f}, ops::padding::same), x);
    REQUIRE(y.size() == 8);
    CHECK(y[0] == 471.0f);
    CHECK(y[1] == -3164.5f);
    CHECK(y[2] == 278.5f);
    CHECK(y[3] == 59.25f);
    CHECK(y[6] == 51.0f);
    CHECK(y[7] == -27.0f);
}

TEST_CASE("hybrid_conv_2d: one scale, symmetric input, worked by hand") {
    // Equal scales: TFLite's EvalHybrid quantizes symmetrically.
    // Image [127, -63.6, 0.2, 10]: max |x| = 127, scale 1, codes [127, -64, 0, 10].
    // Channel 0: 127 - 128 + 0 + 40 = 39 -> 39 * 0.5 + 1 = 20.5.
    // Channel 1: -127 + 0 + 0 - 1270 = -1397 -> -1397 * 0.5 - 2 = -700.5.
    const std::vector<float> x = {127.0f, -63.6f, 0.2f, 10.0f};
    CHECK(run_both(hand_params({0.5f}, ops::padding::valid), x) == std::vector<float>{20.5f, -700.5f});
    CHECK(run_both(hand_params({0.5f, 0.5f}, ops::padding::valid), x) == std::vector<float>{20.5f, -700.5f});
    CHECK_FALSE(ops::prepare(hand_params({0.5f, 0.5f}, ops::padding::valid)).asymmetric);
    CHECK(ops::prepare(hand_params({0.5f, 0.25f}, ops::padding::valid)).asymmetric);
}

TEST_CASE_TEMPLATE_DEFINE("hybrid_conv_2d: SIMD == reference, error bounded by the input step", A, simd_arch) {
    std::mt19937 rng(99);
    struct shape_case {
        int n, h, w, c, o, kh, kw, stride, dilation;
        ops::padding pad;
    };
    const shape_case cases[] = {
        {1, 5, 5, 3, 4, 3, 3, 1, 1, ops::padding::same},  {2, 6, 7, 2, 5, 3, 3, 2, 1, ops::padding::valid},
        {1, 8, 8, 4, 3, 3, 3, 1, 2, ops::padding::same},  {1, 4, 4, 16, 8, 1, 1, 1, 1, ops::padding::valid},
        {1, 7, 5, 33, 1, 2, 3, 2, 1, ops::padding::same}, {2, 3, 3, 1, 6, 3, 3, 1, 1, ops::padding::same},
    };
    for (const auto& sc : cases) {
        for (bool per_channel : {true, false}) {
            const std::size_t patch = std::size_t(sc.kh) * sc.kw * sc.c;
            auto w = test::random_values<std::int8_t>(rng, std::size_t(sc.o) * patch);
            for (auto& v : w) v = v == -128 ? std::int8_t{-127} : v;
            std::vector<float> x(std::size_t(sc.n) * sc.h * sc.w * sc.c), bias(std::size_t(sc.o));
            std::normal_distribution<float> dist(0.2f, 1.5f);
            for (auto& v : x) v = dist(rng);
            for (auto& v : bias) v = dist(rng);
            ops::hybrid_conv_2d_params params;
            params.input_shape = {sc.n, sc.h, sc.w, sc.c};
            params.filter_shape = {sc.o, sc.kh, sc.kw, sc.c};
            params.weights = w;
            params.bias = bias;
            params.stride_height = params.stride_width = sc.stride;
            params.dilation_height = params.dilation_width = sc.dilation;
            params.padding = sc.pad;
            params.activation = fused_activation::relu6;
            if (per_channel && sc.o > 1) {
                for (int o = 0; o < sc.o; ++o) params.filter.scales.push_back(test::random_scale(rng, 1e-3f, 1e-1f));
                params.filter.axis = 0;
            } else {
                params.filter.scales = {test::random_scale(rng, 1e-3f, 1e-1f)};
            }
            const auto p = ops::prepare(params);
            std::vector<float> simd(num_elements(p.output_shape)), ref(simd.size());
            ops::eval<A>(p, tensor_view<const float>(x, p.input_shape), tensor_view<float>(simd, p.output_shape));
            ops::reference::eval(p, tensor_view<const float>(x, p.input_shape), tensor_view<float>(ref, p.output_shape));
            CHECK(simd == ref);

            // Float math with the dequantized filter, every tap in-bounds or zero.
            // Each input element is off by at most one step s_n (see the FC test),
            // so |error| <= s_n * sum |w * w_scale| over the taps, plus float rounding;
            // the RELU6 clamp only shrinks differences.
            const std::size_t image = std::size_t(sc.h) * sc.w * sc.c;
            const int oh = p.output_shape[1], ow = p.output_shape[2];
            for (int b = 0; b < sc.n; ++b) {
                float lo = 0.0f, hi = 0.0f;
                for (std::size_t i = 0; i < image; ++i) {
                    lo = std::min(lo, x[b * image + i]);
                    hi = std::max(hi, x[b * image + i]);
                }
                const double step = p.asymmetric ? (double(hi) - lo) / 255.0 : std::max(-lo, hi) / 127.0;
                for (int oy = 0; oy < oh; ++oy)
                    for (int ox = 0; ox < ow; ++ox)
                        for (int o = 0; o < sc.o; ++o) {
                            const double ws = p.weight_scales[std::size_t(o)];
                            double exact = bias[std::size_t(o)], abs_w = 0.0;
                            for (int ky = 0; ky < sc.kh; ++ky)
                                for (int kx = 0; kx < sc.kw; ++kx) {
                                    const int iy = oy * sc.stride - p.padding.height.before + ky * sc.dilation;
                                    const int ix = ox * sc.stride - p.padding.width.before + kx * sc.dilation;
                                    if (iy < 0 || iy >= sc.h || ix < 0 || ix >= sc.w) continue;
                                    for (int c = 0; c < sc.c; ++c) {
                                        const double wv = w[((std::size_t(o) * sc.kh + ky) * sc.kw + kx) * sc.c + c] * ws;
                                        exact += wv * x[b * image + (std::size_t(iy) * sc.w + ix) * sc.c + c];
                                        abs_w += std::abs(wv);
                                    }
                                }
                            exact = std::min(std::max(exact, 0.0), 6.0);
                            const float got = ref[((std::size_t(b) * oh + oy) * ow + ox) * sc.o + o];
                            CHECK(std::abs(got - exact) <= step * abs_w + 1e-5 * (std::abs(exact) + 1.0));
                        }
            }
        }
    }
}
TEST_CASE_TEMPLATE_APPLY(simd_arch, qtl::test::tested_archs);

TEST_CASE("hybrid_conv_2d: prepare() refuses bad parameters") {
    auto p = hand_params({0.5f, 0.25f}, ops::padding::valid);
    p.input_shape = {1, 2, 2, 2};  // grouped: filter depth 1, input depth 2
    CHECK_THROWS_AS(ops::prepare(p), error);
    p = hand_params({0.5f, 0.25f, 1.0f}, ops::padding::valid);
    CHECK_THROWS_AS(ops::prepare(p), error);
    p = hand_params({0.5f, -0.25f}, ops::padding::valid);
    CHECK_THROWS_AS(ops::prepare(p), error);
    p = hand_params({0.5f}, ops::padding::valid);
    p.filter_shape = {2, 3, 3, 1};  // VALID 3x3 on a 2x2 image: empty output
    CHECK_THROWS_AS(ops::prepare(p), error);
}
