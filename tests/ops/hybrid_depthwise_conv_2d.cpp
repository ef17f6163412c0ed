#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <tuple>
#include <type_traits>
#include <vector>

#include "qtl/ops/hybrid_depthwise_conv_2d.hpp"
#include "qtl/ops/reference/hybrid_depthwise_conv_2d.hpp"
#include "support/ops_testing.hpp"

// Hybrid DEPTHWISE_CONV_2D (float in, int8 per-channel filter, float out):
// a hand-computed case (input scale exactly 1), SIMD == reference bit for
// bit on random shapes and multipliers, and the error against float math
// with the dequantized filter bounded by the input quantization step.

using namespace qtl;

namespace {

std::vector<float> run_both(const ops::hybrid_depthwise_conv_2d_params& params, const std::vector<float>& x) {
    const auto p = ops::prepare(params);
    std::vector<float> simd(num_elements(p.output_shape)), ref(simd.size());
    ops::eval(p, tensor_view<const float>(x, p.input_shape), tensor_view<float>(simd, p.output_shape));
    ops::reference::eval(p, tensor_view<const float>(x, p.input_shape), tensor_view<float>(ref, p.output_shape));
    for (std::size_t i = 0; i < ref.size(); ++i) CHECK(simd[i] == ref[i]);
    return ref;
}

}  // namespace

TEST_CASE("hybrid_depthwise_conv_2d: worked by hand") {
    // Input 1x2x2x2, pixels (NHWC) [0, 50], [255, 0], [10, 0], [100.4, 20]:
    // the whole image's range is [0, 255], scale 1, zero point -128; centred
    // codes q + 128 = the values rounded: channel 0 {0, 255, 10, 100}, channel 1 {50, 0, 0, 20}.
    // Filter [1, 2, 2, 2], taps (channel 0, channel 1): (1, -1), (2, 0), (3, 5), (4, -127).
    // VALID, one output pixel:
    //   channel 0: 0 + 510 + 30 + 400 = 940 -> (940 * 1) * 0.5 + 1 = 471
    //   channel 1: -50 + 0 + 0 - 2540 = -2590 -> (-2590 * 1) * 0.25 - 2 = -649.5
    const std::vector<std::int8_t> w = {1, -1, 2, 0, 3, 5, 4, -127};
    const std::vector<float> bias = {1.0f, -2.0f};
    ops::hybrid_depthwise_conv_2d_params p;
    p.input_shape = {1, 2, 2, 2};
    p.filter_shape = {1, 2, 2, 2};
    p.weights = w;
    p.bias = bias;
    p.filter.scales = {0.5f, 0.25f};
    p.filter.axis = 3;
    const std::vector<float> x = {0.0f, 50.0f, 255.0f, 0.0f, 10.0f, 0.0f, 100.4f, 20.0f};
    CHECK(run_both(p, x) == std::vector<float>{471.0f, -649.5f});
    // RELU_N1_TO_1 clamps to [-1, 1].
    p.activation = fused_activation::relu_n1_to_1;
    CHECK(run_both(p, x) == std::vector<float>{1.0f, -1.0f});
}

TEST_CASE("hybrid_depthwise_conv_2d: depth multiplier 2, worked by hand") {
    // Input 1x1x1x1 = [2.0]: range [0, 2], scale s = 2/255 (rounded to float),
    // zero point -128, code round(-128 + 2 / s) = 127, centred 255.  One input
    // channel feeds two outputs (multiplier 2) with weights 1 and -2, scales 1:
    //   out 0 = (255 * s) * 1 = 2, out 1 = (-510 * s) * 1 = -4, up to float rounding of s.
    const std::vector<std::int8_t> w = {1, -2};
    ops::hybrid_depthwise_conv_2d_params p;
    p.input_shape = {1, 1, 1, 1};
    p.filter_shape = {1, 1, 1, 2};
    p.weights = w;
    p.filter.scales = {1.0f, 1.0f};
    p.filter.axis = 3;
    const auto y = run_both(p, {2.0f});
    CHECK(y[0] == doctest::Approx(2.0).epsilon(1e-6));
    CHECK(y[1] == doctest::Approx(-4.0).epsilon(1e-6));
}

TEST_CASE_TEMPLATE_DEFINE("hybrid_depthwise_conv_2d: SIMD == reference, error bounded by the input step", A,
                          simd_arch) {
    {
        std::mt19937 rng(7);
        struct shape_case {
            int n, h, w, c, m, kh, kw, stride, dilation;
            ops::padding pad;
        };
        const shape_case cases[] = {
            {1, 5, 5, 3, 1, 3, 3, 1, 1, ops::padding::same}, {2, 6, 7, 2, 2, 3, 3, 2, 1, ops::padding::valid},
            {1, 8, 8, 17, 1, 3, 3, 1, 2, ops::padding::same}, {1, 4, 4, 16, 1, 1, 1, 1, 1, ops::padding::valid},
            {1, 7, 5, 5, 3, 2, 3, 2, 1, ops::padding::same}, {2, 3, 3, 1, 4, 3, 3, 1, 1, ops::padding::same},
        };
        for (const auto& sc : cases) {
            const int oc = sc.c * sc.m;
            auto w = test::random_values<std::int8_t>(rng, std::size_t(sc.kh) * sc.kw * oc);
            for (auto& v : w) v = v == -128 ? std::int8_t{-127} : v;
            std::vector<float> x(std::size_t(sc.n) * sc.h * sc.w * sc.c), bias(static_cast<std::size_t>(oc));
            std::normal_distribution<float> dist(-0.1f, 1.5f);
            for (auto& v : x) v = dist(rng);
            for (auto& v : bias) v = dist(rng);
            ops::hybrid_depthwise_conv_2d_params params;
            params.input_shape = {sc.n, sc.h, sc.w, sc.c};
            params.filter_shape = {1, sc.kh, sc.kw, oc};
            params.weights = w;
            params.bias = bias;
            params.stride_height = params.stride_width = sc.stride;
            params.dilation_height = params.dilation_width = sc.dilation;
            params.padding = sc.pad;
            for (int o = 0; o < oc; ++o) params.filter.scales.push_back(test::random_scale(rng, 1e-3f, 1e-1f));
            params.filter.axis = 3;
            const auto p = ops::prepare(params);
            std::vector<float> simd(num_elements(p.output_shape)), ref(simd.size());
            ops::eval<A>(p, tensor_view<const float>(x, p.input_shape), tensor_view<float>(simd, p.output_shape));
            ops::reference::eval(p, tensor_view<const float>(x, p.input_shape), tensor_view<float>(ref, p.output_shape));
            CHECK(simd == ref);

            // |error| <= s_n * sum |w * w_scale| over the in-bounds taps (one input
            // step per element, see the FC test), plus float rounding.
            const std::size_t image = std::size_t(sc.h) * sc.w * sc.c;
            const int oh = p.output_shape[1], ow = p.output_shape[2];
            for (int b = 0; b < sc.n; ++b) {
                float lo = 0.0f, hi = 0.0f;
                for (std::size_t i = 0; i < image; ++i) {
                    lo = std::min(lo, x[b * image + i]);
                    hi = std::max(hi, x[b * image + i]);
                }
                const double step = (double(hi) - lo) / 255.0;
                for (int oy = 0; oy < oh; ++oy)
                    for (int ox = 0; ox < ow; ++ox)
                        for (int o = 0; o < oc; ++o) {
                            const double ws = params.filter.scales[std::size_t(o)];
                            double exact = bias[std::size_t(o)], abs_w = 0.0;
                            for (int ky = 0; ky < sc.kh; ++ky)
                                for (int kx = 0; kx < sc.kw; ++kx) {
                                    const int iy = oy * sc.stride - p.padding.height.before + ky * sc.dilation;
                                    const int ix = ox * sc.stride - p.padding.width.before + kx * sc.dilation;
                                    if (iy < 0 || iy >= sc.h || ix < 0 || ix >= sc.w) continue;
                                    const double wv = w[(std::size_t(ky) * sc.kw + kx) * oc + o] * ws;
                                    exact += wv * x[b * image + (std::size_t(iy) * sc.w + ix) * sc.c + o / sc.m];
                                    abs_w += std::abs(wv);
                                }
                            const float got = ref[((std::size_t(b) * oh + oy) * ow + ox) * oc + o];
                            CHECK(std::abs(got - exact) <= step * abs_w + 1e-5 * (std::abs(exact) + 1.0));
                        }
            }
        }
    }
}
// prepare() packs for the default arch's width, so eval<A> is compared only on
// the tested archs of that width.
template <class... A>
auto same_width_as_default(std::tuple<A...>)
    -> decltype(std::tuple_cat(std::conditional_t<xsimd::batch<std::int32_t, A>::size ==
                                                      xsimd::batch<std::int32_t>::size,
                                                  std::tuple<A>, std::tuple<>>{}...));
using depthwise_archs = decltype(same_width_as_default(qtl::test::tested_archs{}));
TEST_CASE_TEMPLATE_APPLY(simd_arch, depthwise_archs);

TEST_CASE("hybrid_depthwise_conv_2d: prepare() needs one scale per output channel") {
    const std::vector<std::int8_t> w = {1, -1, 2, 0, 3, 5, 4, -127};
    ops::hybrid_depthwise_conv_2d_params p;
    p.input_shape = {1, 2, 2, 2};
    p.filter_shape = {1, 2, 2, 2};
    p.weights = w;
    p.filter.scales = {0.5f};  // TFLite would read scale[1] past the end
    CHECK_THROWS_AS(ops::prepare(p), error);
    p.filter.scales = {0.5f, 0.25f};
    p.filter.axis = 0;  // wrong axis
    CHECK_THROWS_AS(ops::prepare(p), error);
    p.filter.axis = 3;
    p.filter_shape = {1, 2, 2, 3};  // 3 is not a multiple of 2 channels
    CHECK_THROWS_AS(ops::prepare(p), error);
}
