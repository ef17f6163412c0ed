#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "qtl/core/int4_packing.hpp"
#include "qtl/ops/depthwise_conv_2d.hpp"
#include "qtl/ops/reference/depthwise_conv_2d.hpp"
#include "support/ops_testing.hpp"

// DEPTHWISE_CONV_2D: hand-computed cases (SAME padding with stride 2 and
// dilation 2, per-channel along axis 3, depth multiplier 2, zero points, int4,
// 16x8, fused activation), SIMD == reference on random specs at tile-edge
// channel counts, the reference against float math, and the error paths.
// (seanet has no depthwise convolution, so there is no golden here.)

namespace {

using qtl::fused_activation;
using qtl::quant_params;
using qtl::shape;
using qtl::tensor_view;
using qtl::ops::depthwise_conv_2d_params;
using qtl::ops::padding;

constexpr std::size_t lanes = xsimd::batch<std::int32_t>::size;

template <class Activation>
std::vector<Activation> run_simd(const qtl::ops::depthwise_conv_2d_prepared<Activation>& p,
                                 const std::vector<Activation>& in) {
    std::vector<Activation> out(qtl::num_elements(p.output_shape));
    qtl::ops::eval(p, tensor_view<const Activation>(in, p.input_shape), tensor_view<Activation>(out, p.output_shape));
    return out;
}

template <class Activation>
std::vector<Activation> run_reference(const qtl::ops::depthwise_conv_2d_prepared<Activation>& p,
                                      const std::vector<Activation>& in) {
    std::vector<Activation> out(qtl::num_elements(p.output_shape));
    qtl::ops::reference::eval(p, tensor_view<const Activation>(in, p.input_shape),
                              tensor_view<Activation>(out, p.output_shape));
    return out;
}

template <class Activation>
void check_both(const qtl::ops::depthwise_conv_2d_prepared<Activation>& p, const std::vector<Activation>& in,
                const std::vector<Activation>& expected) {
    CHECK(run_reference(p, in) == expected);
    CHECK(run_simd(p, in) == expected);
}

quant_params per_tensor(float scale) { return {{scale}, {0}, -1, 0}; }

}  // namespace

TEST_CASE("depthwise_conv_2d int8: 3x3 SAME stride 2, per-channel scales along axis 3") {
    // Input [1,3,3,2]: channel 0 = 1..9, channel 1 = -1..-9 (row-major, scale 1, zp 0).
    // SAME, stride 2, 3x3: out 2x2, pad 1 before and 1 after; window origins -1 and 1.
    // Channel 0 weights all 1 (scale 0.5 -> multiplier 0.5):
    //   sums of the 2x2 valid corner of each window: 1+2+4+5 = 12, 2+3+5+6 = 16,
    //   4+5+7+8 = 24, 5+6+8+9 = 28 -> halved: 6, 8, 12, 14
    // Channel 1 weights: centre 2, top-left 1, others 0 (scale 1 -> multiplier 1):
    //   out(0,0): centre at (0,0): 2*-1 = -2 (top-left at (-1,-1) is padding)
    //   out(0,1): centre (0,2): -6;  out(1,0): centre (2,0): -14
    //   out(1,1): centre (2,2) 2*-9 plus top-left (1,1) 1*-5 = -23
    std::vector<std::int8_t> in(18);
    for (int i = 0; i < 9; ++i) {
        in[std::size_t(2 * i)] = static_cast<std::int8_t>(i + 1);
        in[std::size_t(2 * i + 1)] = static_cast<std::int8_t>(-(i + 1));
    }
    std::vector<std::int8_t> w(18, 0);  // [1, 3, 3, 2]
    for (int t = 0; t < 9; ++t) w[std::size_t(2 * t)] = 1;
    w[2 * 4 + 1] = 2;  // centre, channel 1
    w[2 * 0 + 1] = 1;  // top-left, channel 1
    depthwise_conv_2d_params<std::int8_t> params;
    params.input_shape = {1, 3, 3, 2};
    params.filter_shape = {1, 3, 3, 2};
    params.input_scale = params.output_scale = 1.0f;
    params.filter = {{0.5f, 1.0f}, {0, 0}, 3, 0};
    params.weights = w;
    params.stride_height = params.stride_width = 2;
    params.padding = padding::same;
    const auto p = qtl::ops::prepare(params);
    CHECK(p.output_shape == shape{1, 2, 2, 2});
    CHECK(p.padding.height == qtl::ops::padded_axis{2, 1, 1});
    check_both(p, in, {6, -2, 8, -6, 12, -14, 14, -23});
}

TEST_CASE("depthwise_conv_2d int8: SAME padding with stride 2 and dilation 2 (one channel, as the CONV_2D case)") {
    // With one channel and multiplier 1 depthwise is a plain convolution; the
    // numbers are those of the CONV_2D hand case: v(r, c) = 5r + c + 1 stored
    // with zp 3 (scale 0.5), filter [[1, 2], [3, 4]] (scale 2) dilated by 2,
    // stride 2, SAME (pad 1/1), output zp -100, multiplier 1:
    //   28, 57, 27 / 82, 152, 66 / 34, 55, 19 minus 100.
    std::vector<std::int8_t> in(25);
    for (int i = 0; i < 25; ++i) in[std::size_t(i)] = static_cast<std::int8_t>(i + 1 + 3);
    const std::vector<std::int8_t> w{1, 2, 3, 4};
    depthwise_conv_2d_params<std::int8_t> params;
    params.input_shape = {1, 5, 5, 1};
    params.filter_shape = {1, 2, 2, 1};
    params.input_scale = 0.5f;
    params.input_zero_point = 3;
    params.output_scale = 1.0f;
    params.output_zero_point = -100;
    params.filter = per_tensor(2.0f);
    params.weights = w;
    params.stride_height = params.stride_width = 2;
    params.dilation_height = params.dilation_width = 2;
    params.padding = padding::same;
    check_both(qtl::ops::prepare(params), in, {-72, -43, -73, -18, 52, -34, -66, -45, -81});
}

TEST_CASE("depthwise_conv_2d int8: depth multiplier 2 orders output channels c * 2 + m") {
    // Input [1,1,2,2] real pixels [3, -4] and [5, 6], stored with zp -1 (q = v - 1).
    // Filter [1,1,2,4], 1x2 VALID -> one output pixel; output channel o = c*2 + m:
    //   kx 0: [1, 2, 3, 4],  kx 1: [-1, 0, 2, 1],  bias [1, 2, 3, 4], output zp 5, all scales 1:
    //   o0 (c0, m0) = 1*3 + -1*5  + 1 = -1  -> 4
    //   o1 (c0, m1) = 2*3 +  0*5  + 2 =  8  -> 13
    //   o2 (c1, m0) = 3*-4 + 2*6  + 3 =  3  -> 8
    //   o3 (c1, m1) = 4*-4 + 1*6  + 4 = -6  -> -1
    // RELU clamps below at zp + 0 = 5: [5, 13, 8, 5].
    const std::vector<std::int8_t> in{2, -5, 4, 5};
    const std::vector<std::int8_t> w{1, 2, 3, 4, -1, 0, 2, 1};
    const std::vector<std::int32_t> bias{1, 2, 3, 4};
    depthwise_conv_2d_params<std::int8_t> params;
    params.input_shape = {1, 1, 2, 2};
    params.filter_shape = {1, 1, 2, 4};
    params.depth_multiplier = 2;
    params.input_scale = params.output_scale = 1.0f;
    params.input_zero_point = -1;
    params.output_zero_point = 5;
    params.filter = per_tensor(1.0f);
    params.weights = w;
    params.bias = bias;
    check_both(qtl::ops::prepare(params), in, {4, 13, 8, -1});
    params.activation = fused_activation::relu;
    check_both(qtl::ops::prepare(params), in, {5, 13, 8, 5});
}

TEST_CASE("depthwise_conv_2d int4 weights") {
    // Weights [1,1,1,3] = [-8, 7, -1] pack as 0x78 (-8 low, 7 high) and 0x0F (-1 low).
    // Input [2, 3, -4], scales 1: out = [-16, 21, 4].
    const std::vector<std::int8_t> in{2, 3, -4};
    const std::vector<std::uint8_t> packed{0x78, 0x0F};
    depthwise_conv_2d_params<std::int8_t, qtl::int4> params;
    params.input_shape = {1, 1, 1, 3};
    params.filter_shape = {1, 1, 1, 3};
    params.input_scale = params.output_scale = 1.0f;
    params.filter = per_tensor(1.0f);
    params.weights = packed;
    check_both(qtl::ops::prepare(params), in, {-16, 21, 4});
}

TEST_CASE("depthwise_conv_2d 16x8: int64 bias and the 64-bit requantization") {
    // Input [100, -1004] (int16, scale 1), weights [1, 1], output scale 2^24.
    // Channel 0: scale 1 -> multiplier 2^-24, bias 2^35: (2^35 + 100) / 2^24 = 2048.000006 -> 2048.
    // Channel 1: scale 2^21 -> multiplier 2^-3, bias 0: -1004 / 8 = -125.5; TFLite's
    //   64-bit path adds 2^16 and shifts by 17: floor(-125.5 + 0.5) = -125.
    const std::vector<std::int16_t> in{100, -1004};
    const std::vector<std::int8_t> w{1, 1};
    const std::vector<std::int64_t> bias{std::int64_t{1} << 35, 0};
    depthwise_conv_2d_params<std::int16_t> params;
    params.input_shape = {1, 1, 1, 2};
    params.filter_shape = {1, 1, 1, 2};
    params.input_scale = 1.0f;
    params.output_scale = 16777216.0f;
    params.filter = {{1.0f, 2097152.0f}, {0, 0}, 3, 0};
    params.weights = w;
    params.bias = bias;
    check_both(qtl::ops::prepare(params), in, {2048, -125});
}

// --- SIMD == reference ----------------------------------------------------------

namespace {

using qtl::test::random_scale;
using qtl::test::random_values_with_extremes;

template <class Activation, class Weight>
struct random_depthwise {
    depthwise_conv_2d_params<Activation, Weight> params;
    std::vector<qtl::ops::conv_weight_storage_t<Weight>> weights;
    std::vector<std::int8_t> weight_values;
    std::vector<qtl::ops::conv_bias_t<Activation>> bias;
    std::vector<Activation> input;

    random_depthwise(std::mt19937& rng, int channels, int multiplier, bool extreme_bias) {
        using bias_type = qtl::ops::conv_bias_t<Activation>;
        constexpr bool wide = std::is_same_v<Activation, std::int16_t>;
        const int kh = 1 + int(rng() % 3), kw = 1 + int(rng() % 3);
        params.stride_height = 1 + int(rng() % 2);
        params.stride_width = 1 + int(rng() % 3);
        params.dilation_height = 1 + int(rng() % 2);
        params.dilation_width = 1 + int(rng() % 2);
        params.padding = rng() % 2 ? padding::same : padding::valid;
        const int height = (kh - 1) * params.dilation_height + 1 + int(rng() % 4);
        const int width = (kw - 1) * params.dilation_width + 1 + int(rng() % 4);
        params.input_shape = {1 + int(rng() % 2), height, width, channels};
        params.filter_shape = {1, kh, kw, channels * multiplier};
        params.depth_multiplier = multiplier;
        params.input_scale = random_scale(rng, 1e-3f, 1e-1f);
        params.output_scale = random_scale(rng, 1e-3f, 1.0f);
        params.input_zero_point = wide ? 0 : std::int32_t(rng() % 256) - 128;
        params.output_zero_point = wide ? 0 : std::int32_t(rng() % 256) - 128;
        const bool per_channel = rng() % 2;
        const std::size_t out_channels = std::size_t(channels * multiplier);
        params.filter.axis = per_channel ? 3 : -1;
        for (std::size_t c = 0; c < (per_channel ? out_channels : 1); ++c) {
            params.filter.scales.push_back(random_scale(rng, 1e-3f, 1e-1f));
            params.filter.zero_points.push_back(0);
        }
        const std::size_t count = qtl::num_elements(params.filter_shape);
        if constexpr (std::is_same_v<Weight, qtl::int4>) {
            weight_values.resize(count);
            for (auto& v : weight_values) v = static_cast<std::int8_t>(int(rng() % 16) - 8);
            weights = qtl::pack_int4(weight_values);
        } else {
            weights = random_values_with_extremes<std::int8_t>(rng, count);
            weight_values = weights;
        }
        params.weights = weights;
        if (rng() % 4 != 0) {
            bias.resize(out_channels);
            for (auto& b : bias)
                b = extreme_bias && rng() % 8 == 0
                        ? static_cast<bias_type>(rng() % 2 ? std::numeric_limits<bias_type>::max() - 3
                                                           : std::numeric_limits<bias_type>::min() + 3)
                        : static_cast<bias_type>(std::int32_t(rng() % 20001) - 10000);
            params.bias = bias;
        }
        const fused_activation acts[] = {fused_activation::none, fused_activation::relu, fused_activation::relu6,
                                         fused_activation::relu_n1_to_1};
        params.activation = acts[rng() % 4];
        input = random_values_with_extremes<Activation>(rng, qtl::num_elements(params.input_shape));
    }
};

template <class Activation, class Weight>
void check_simd_equals_reference(std::mt19937& rng, int channels, int multiplier) {
    random_depthwise<Activation, Weight> dw(rng, channels, multiplier, true);
    const auto p = qtl::ops::prepare(dw.params);
    INFO("input " << qtl::to_string(dw.params.input_shape) << " filter " << qtl::to_string(dw.params.filter_shape)
                  << " stride " << dw.params.stride_height << "x" << dw.params.stride_width << " dilation "
                  << dw.params.dilation_height << "x" << dw.params.dilation_width);
    CHECK(run_simd(p, dw.input) == run_reference(p, dw.input));
}

}  // namespace

TEST_CASE("depthwise_conv_2d: SIMD eval == reference eval on random specs at tile-edge channel counts") {
    std::mt19937 rng(4242);
    const int l = int(lanes);
    for (const int channels : {1, 2, 3, l - 1, l, l + 1, 2 * l + 1, 5 * l + 3}) {
        if (channels < 1) continue;
        CAPTURE(channels);
        for (const int multiplier : {1, 2, 3}) {
            CAPTURE(multiplier);
            for (int rep = 0; rep < 2; ++rep) {
                check_simd_equals_reference<std::int8_t, std::int8_t>(rng, channels, multiplier);
                check_simd_equals_reference<std::int8_t, qtl::int4>(rng, channels, multiplier);
                check_simd_equals_reference<std::int16_t, std::int8_t>(rng, channels, multiplier);
            }
        }
    }
}

TEST_CASE("depthwise_conv_2d: input_padding equals padding the input with its zero point first (a folded PAD)") {
    // The oracle: the input padded by hand, then the op as TFLite runs it after a PAD.
    std::mt19937 rng(5150);
    const auto check_one = [&]<class Activation>(Activation, int channels) {
        random_depthwise<Activation, std::int8_t> dw(rng, channels, 1 + int(rng() % 2), false);
        const qtl::ops::input_padding pad{int(rng() % 4), int(rng() % 4), int(rng() % 4), int(rng() % 4)};
        auto padded_params = dw.params;
        const std::vector<Activation> padded_input =
            qtl::test::pad_nhwc(dw.input, dw.params.input_shape, pad, static_cast<Activation>(dw.params.input_zero_point),
                                padded_params.input_shape);
        dw.params.input_padding = pad;
        const auto folded = qtl::ops::prepare(dw.params);
        const auto unfolded = qtl::ops::prepare(padded_params);
        INFO("input " << qtl::to_string(dw.params.input_shape) << " pads " << pad.top << "," << pad.bottom << ","
                      << pad.left << "," << pad.right << " stride " << dw.params.stride_height << "x"
                      << dw.params.stride_width << " padding " << int(dw.params.padding));
        REQUIRE(folded.output_shape == unfolded.output_shape);
        CHECK(folded.padding.height.before == unfolded.padding.height.before + pad.top);
        CHECK(run_simd(folded, dw.input) == run_simd(unfolded, padded_input));
        CHECK(run_reference(folded, dw.input) == run_reference(unfolded, padded_input));
    };
    for (int rep = 0; rep < 12; ++rep) {
        check_one(std::int8_t{}, 1 + rep * 5);
        check_one(std::int16_t{}, 1 + rep * 3);
    }
    // Negative padding is an error.
    random_depthwise<std::int8_t, std::int8_t> dw(rng, 4, 1, false);
    dw.params.input_padding = {0, -1, 0, 0};
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(dw.params), doctest::Contains("input padding must be >= 0"), qtl::error);
}

TEST_CASE("depthwise_conv_2d 16x8: more than 256 taps widen exactly in the SIMD path") {
    // A 23x23 filter (529 taps, one VALID output pixel) of weight -128 over
    // inputs -32768: each product is 2^22 and their sum 529 * 2^22 =
    // 2218786816 no longer fits int32 (the SIMD path widens its int32 partial
    // sums to int64 every 256 taps).  Bias 2^40, multiplier
    // M = 1e-6 * 0.5 / 40: output (2^40 + 529 * 2^22) * M, about 13772.
    depthwise_conv_2d_params<std::int16_t> params;
    params.input_shape = {1, 23, 23, int(lanes) + 1};
    params.filter_shape = {1, 23, 23, int(lanes) + 1};
    params.input_scale = 1e-6f;
    params.output_scale = 40.0f;
    params.filter = per_tensor(0.5f);
    const std::vector<std::int8_t> w(qtl::num_elements(params.filter_shape), -128);
    const std::vector<std::int16_t> in(qtl::num_elements(params.input_shape), -32768);
    const std::vector<std::int64_t> bias(lanes + 1, std::int64_t{1} << 40);
    params.weights = w;
    params.bias = bias;
    const auto p = qtl::ops::prepare(params);
    const auto reference = run_reference(p, in);
    CHECK(run_simd(p, in) == reference);
    const double m = double(1e-6f) * 0.5 / 40.0;
    const double expected = (std::ldexp(1.0, 40) + 529.0 * 4194304.0) * m;
    for (const std::int16_t q : reference) CHECK(std::abs(q - expected) <= 0.5 + expected * std::ldexp(1.0, -15));
}

// --- reference vs float math --------------------------------------------------------

TEST_CASE("depthwise_conv_2d reference: dequantized output within the requantization bound") {
    // As for CONV_2D: inputs, weights and bias are exact reals once dequantized;
    // int8 requantization (two roundings) is within 0.5 + 0.25 LSB plus the
    // Q31 multiplier's 2^-31 relative error (bound 0.76 LSB); 16x8 within
    // 0.5 LSB plus the Q15 multiplier's relative error 2^-15.  Clamped outputs
    // must equal the clamp.
    std::mt19937 rng(31337);
    const auto check_against_float = [&](auto activation_tag) {
        using Activation = decltype(activation_tag);
        constexpr bool wide = std::is_same_v<Activation, std::int16_t>;
        for (int rep = 0; rep < 20; ++rep) {
            random_depthwise<Activation, std::int8_t> dw(rng, 1 + int(rng() % 7), 1 + int(rng() % 3), false);
            const auto& params = dw.params;
            const auto p = qtl::ops::prepare(params);
            const auto out = run_reference(p, dw.input);
            const auto& s = p.output_shape;
            const int in_h = params.input_shape[1], in_w = params.input_shape[2], in_c = params.input_shape[3];
            const int kh = params.filter_shape[1], kw = params.filter_shape[2], m_count = params.depth_multiplier;
            for (int n = 0; n < s[0]; ++n)
                for (int y = 0; y < s[1]; ++y)
                    for (int x = 0; x < s[2]; ++x)
                        for (int o = 0; o < s[3]; ++o) {
                            const int c = o / m_count;
                            const double w_scale = params.filter.scales[params.filter.scales.size() == 1 ? 0 : std::size_t(o)];
                            double real = dw.bias.empty() ? 0.0 : double(dw.bias[std::size_t(o)]) * params.input_scale * w_scale;
                            for (int ky = 0; ky < kh; ++ky)
                                for (int kx = 0; kx < kw; ++kx) {
                                    const int iy = y * params.stride_height - p.padding.height.before + ky * params.dilation_height;
                                    const int ix = x * params.stride_width - p.padding.width.before + kx * params.dilation_width;
                                    if (iy < 0 || iy >= in_h || ix < 0 || ix >= in_w) continue;
                                    const double xin = (double(dw.input[((std::size_t(n) * in_h + iy) * in_w + ix) * in_c + c]) -
                                                        params.input_zero_point) * params.input_scale;
                                    real += xin * double(dw.weight_values[(std::size_t(ky) * kw + kx) * s[3] + o]) * w_scale;
                                }
                            const double exact = real / params.output_scale + params.output_zero_point;
                            const double clamped = std::min<double>(std::max<double>(exact, p.output.activation_min),
                                                                    p.output.activation_max);
                            const double q = out[((std::size_t(n) * s[1] + y) * s[2] + x) * s[3] + o];
                            const double bound = wide ? 0.5 + std::abs(exact) * std::ldexp(1.0, -15) + 1e-6 : 0.76;
                            INFO("exact " << exact << " got " << q);
                            CHECK(std::abs(q - clamped) <= bound);
                        }
        }
    };
    check_against_float(std::int8_t{});
    check_against_float(std::int16_t{});
}

// --- errors ------------------------------------------------------------------------

TEST_CASE("depthwise_conv_2d prepare: bad specs throw qtl::error naming DEPTHWISE_CONV_2D and what is wrong") {
    const std::vector<std::int8_t> w(3 * 3 * 8, 1);
    const std::vector<std::int32_t> bias(8, 0);
    depthwise_conv_2d_params<std::int8_t> good;
    good.input_shape = {1, 5, 5, 4};
    good.filter_shape = {1, 3, 3, 8};
    good.depth_multiplier = 2;
    good.input_scale = good.output_scale = 0.1f;
    good.filter = per_tensor(0.01f);
    good.weights = w;
    good.bias = bias;
    CHECK_NOTHROW(qtl::ops::prepare(good));

    const auto fails = [&](auto mutate, const char* message) {
        auto params = good;
        mutate(params);
        CHECK_THROWS_WITH_AS(qtl::ops::prepare(params), doctest::Contains(message), qtl::error);
        CHECK_THROWS_WITH_AS(qtl::ops::prepare(params), doctest::Contains("DEPTHWISE_CONV_2D"), qtl::error);
    };
    using P = depthwise_conv_2d_params<std::int8_t>;
    fails([](P& p) { p.input_shape = {1, 5, 5, 4, 1}; }, "input must have rank 4");
    fails([](P& p) { p.filter_shape = {2, 3, 3, 4}; }, "filter shape must be [1, height, width, channels * multiplier], got [2, 3, 3, 4]");
    fails([](P& p) { p.depth_multiplier = 0; }, "depth multiplier must be >= 1, got 0");
    fails([](P& p) { p.depth_multiplier = 3; }, "filter output channels 8 must equal input channels 4 * depth multiplier 3");
    fails([](P& p) { p.stride_height = 0; }, "stride height must be >= 1, got 0");
    fails([](P& p) { p.dilation_width = 0; }, "dilation width must be >= 1, got 0");
    fails([](P& p) { p.dilation_width = 3; }, "gives an empty output");
    fails([](P& p) { p.input_scale = -0.1f; }, "input scale must be finite and > 0");
    fails([](P& p) { p.output_scale = std::numeric_limits<float>::infinity(); }, "output scale must be finite and > 0");
    fails([](P& p) { p.output_zero_point = -129; }, "output zero point -129 is outside the int8 range");
    fails([](P& p) { p.filter = {std::vector<float>(8, 0.1f), std::vector<std::int32_t>(8, 0), 0, 0}; },
          "per-channel weights must be quantized along axis 3, got axis 0");
    fails([](P& p) { p.filter = {std::vector<float>(4, 0.1f), std::vector<std::int32_t>(4, 0), 3, 0}; },
          "weights need 1 scale or 8 (one per output channel), got 4");
    fails([](P& p) { p.filter = {{0.1f}, {-2}, -1, 0}; }, "weight zero points must be 0 (symmetric), got -2");
    fails([](P& p) { p.filter = per_tensor(std::numeric_limits<float>::quiet_NaN()); }, "weight scale must be finite and > 0");
    fails([&](P& p) { p.weights = std::span<const std::int8_t>(w).first(70); }, "need 72 weights, got 70");
    fails([&](P& p) { p.bias = std::span<const std::int32_t>(bias).first(4); }, "bias must be empty or have 8 values");
    fails([](P& p) { p.activation = fused_activation::sign_bit; }, "fused activation 5 cannot be fused");

    depthwise_conv_2d_params<std::int16_t> wide;
    wide.input_shape = good.input_shape;
    wide.filter_shape = good.filter_shape;
    wide.depth_multiplier = 2;
    wide.input_scale = wide.output_scale = 0.1f;
    wide.filter = per_tensor(0.01f);
    wide.weights = w;
    CHECK_NOTHROW(qtl::ops::prepare(wide));
    wide.output_zero_point = 2;
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(wide),
                         doctest::Contains("output zero point must be 0 for int16 activations (16x8), got 2"), qtl::error);
}

TEST_CASE("depthwise_conv_2d eval: shapes other than the prepared ones throw") {
    const std::vector<std::int8_t> w(4, 1);
    depthwise_conv_2d_params<std::int8_t> params;
    params.input_shape = {1, 2, 2, 1};
    params.filter_shape = {1, 2, 2, 1};
    params.input_scale = params.output_scale = 1.0f;
    params.filter = per_tensor(1.0f);
    params.weights = w;
    const auto p = qtl::ops::prepare(params);
    std::vector<std::int8_t> in(4), out(1), wrong(2);
    const tensor_view<const std::int8_t> good_in(in, shape{1, 2, 2, 1});
    const tensor_view<std::int8_t> good_out(out, shape{1, 1, 1, 1});
    const tensor_view<const std::int8_t> bad_in(in, shape{1, 2, 1, 2});
    const tensor_view<std::int8_t> bad_out(wrong, shape{1, 1, 1, 2});
    CHECK_NOTHROW(qtl::ops::eval(p, good_in, good_out));
    CHECK_NOTHROW(qtl::ops::reference::eval(p, good_in, good_out));
    CHECK_THROWS_WITH_AS(qtl::ops::eval(p, bad_in, good_out),
                         "DEPTHWISE_CONV_2D: input shape [1, 2, 1, 2] does not match the prepared [1, 2, 2, 1]",
                         qtl::error);
    CHECK_THROWS_WITH_AS(qtl::ops::reference::eval(p, good_in, bad_out),
                         "DEPTHWISE_CONV_2D: output shape [1, 1, 1, 2] does not match the prepared [1, 1, 1, 1]",
                         qtl::error);
}
