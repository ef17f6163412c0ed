#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "qtl/ops/max_pool_2d.hpp"
#include "qtl/ops/reference/max_pool_2d.hpp"

// MAX_POOL_2D: hand-computed cases (SAME padding that must not act as zeros,
// fused activations, int16 extremes), SIMD == reference on random specs at
// lane-edge channel counts (lanes of the element type itself), the reference
// against the float maximum, and the error paths.  (seanet has no pooling op,
// so there is no golden here.)

namespace {

using qtl::fused_activation;
using qtl::shape;
using qtl::tensor_view;
using qtl::ops::max_pool_2d_params;
using qtl::ops::padding;

template <class T>
std::vector<T> run_simd(const qtl::ops::max_pool_2d_prepared<T>& p, const std::vector<T>& in) {
    std::vector<T> out(qtl::num_elements(p.output_shape));
    qtl::ops::eval(p, tensor_view<const T>(in, p.input_shape), tensor_view<T>(out, p.output_shape));
    return out;
}

template <class T>
std::vector<T> run_reference(const qtl::ops::max_pool_2d_prepared<T>& p, const std::vector<T>& in) {
    std::vector<T> out(qtl::num_elements(p.output_shape));
    qtl::ops::reference::eval(p, tensor_view<const T>(in, p.input_shape), tensor_view<T>(out, p.output_shape));
    return out;
}

template <class T>
void check_both(const qtl::ops::max_pool_2d_prepared<T>& p, const std::vector<T>& in, const std::vector<T>& expected) {
    CHECK(run_reference(p, in) == expected);
    CHECK(run_simd(p, in) == expected);
}

template <class T>
max_pool_2d_params<T> pool(shape input_shape, int filter, int stride, padding pad, float scale = 1.0f,
                           std::int32_t zero_point = 0) {
    max_pool_2d_params<T> p;
    p.input_shape = std::move(input_shape);
    p.input_scale = p.output_scale = scale;
    p.input_zero_point = p.output_zero_point = zero_point;
    p.filter_height = p.filter_width = filter;
    p.stride_height = p.stride_width = stride;
    p.padding = pad;
    return p;
}

}  // namespace

TEST_CASE("max_pool_2d int8: SAME 2x2 stride 2, padding is not a zero") {
    // Input 3x3:   1  2 -7
    //              3  4 -2
    //             -9 -6  5
    // SAME, 2x2, stride 2: windows {1,2,3,4}, {-7,-2}, {-9,-6}, {5}:
    //   max = 4, -2, -6, 5   (a zero-padded window would give 0, 0, 0, 5)
    const std::vector<std::int8_t> in{1, 2, -7, 3, 4, -2, -9, -6, 5};
    auto params = pool<std::int8_t>({1, 3, 3, 1}, 2, 2, padding::same, 2.0f);
    check_both(qtl::ops::prepare(params), in, {4, -2, -6, 5});
    // Scale 2, zp 0: RELU [0, 127], RELU6 [0, 3], RELU_N1_TO_1 [-1, 1].
    params.activation = fused_activation::relu;
    check_both(qtl::ops::prepare(params), in, {4, 0, 0, 5});
    params.activation = fused_activation::relu6;
    check_both(qtl::ops::prepare(params), in, {3, 0, 0, 3});
    params.activation = fused_activation::relu_n1_to_1;
    check_both(qtl::ops::prepare(params), in, {1, -1, -1, 1});
}

TEST_CASE("max_pool_2d int8: 3x3 stride 1 SAME over two channels with a zero point") {
    // 2x2 image, two channels: ch0 [[5, -3], [7, -128]], ch1 [[-128, -128], [-128, -127]].
    // 3x3 SAME stride 1: every window (pad 1 on each side) covers the whole image,
    // so every output is the channel's maximum: ch0 7, ch1 -127.  With zp -100
    // and RELU the lower bound is -100: ch1 -> -100.
    const std::vector<std::int8_t> in{5, -128, -3, -128, 7, -128, -128, -127};
    auto params = pool<std::int8_t>({1, 2, 2, 2}, 3, 1, padding::same, 0.1f, -100);
    check_both(qtl::ops::prepare(params), in, {7, -127, 7, -127, 7, -127, 7, -127});
    params.activation = fused_activation::relu;
    check_both(qtl::ops::prepare(params), in, {7, -100, 7, -100, 7, -100, 7, -100});
}

TEST_CASE("max_pool_2d int16: extremes") {
    // Windows [-32768 x 4] -> -32768 (the initial value is never larger than
    // the data), [32767, -1, 0, 5] -> 32767.
    const std::vector<std::int16_t> in{-32768, -32768, -32768, -32768, 32767, -1, 0, 5};
    check_both(qtl::ops::prepare(pool<std::int16_t>({2, 2, 2, 1}, 2, 2, padding::valid)), in, {-32768, 32767});
}

// --- SIMD == reference ----------------------------------------------------------

namespace {

template <class T>
void check_simd_equals_reference(std::mt19937& rng, int channels) {
    max_pool_2d_params<T> params;
    params.filter_height = 1 + int(rng() % 4);
    params.filter_width = 1 + int(rng() % 4);
    params.stride_height = 1 + int(rng() % 3);
    params.stride_width = 1 + int(rng() % 3);
    params.padding = rng() % 2 ? padding::same : padding::valid;
    params.input_shape = {1 + int(rng() % 2), params.filter_height + int(rng() % 3), params.filter_width + int(rng() % 3),
                          channels};
    params.input_scale = params.output_scale = 0.05f;
    params.input_zero_point = params.output_zero_point = std::int32_t(rng() % 200) - 100;
    const fused_activation acts[] = {fused_activation::none, fused_activation::relu, fused_activation::relu6,
                                     fused_activation::relu_n1_to_1};
    params.activation = acts[rng() % 4];
    std::vector<T> in(qtl::num_elements(params.input_shape));
    for (auto& v : in)
        v = rng() % 8 == 0 ? (rng() % 2 ? std::numeric_limits<T>::max() : std::numeric_limits<T>::min())
                           : static_cast<T>(std::uniform_int_distribution<std::int32_t>(
                                 std::numeric_limits<T>::min(), std::numeric_limits<T>::max())(rng));
    const auto p = qtl::ops::prepare(params);
    INFO("input " << qtl::to_string(params.input_shape) << " filter " << params.filter_height << "x"
                  << params.filter_width << " stride " << params.stride_height << "x" << params.stride_width);
    CHECK(run_simd(p, in) == run_reference(p, in));
}

template <class T>
void check_lane_edges(std::mt19937& rng) {
    const int l = int(xsimd::batch<T>::size);
    for (const int channels : {1, 2, 3, l - 1, l, l + 1, 2 * l + 1}) {
        if (channels < 1) continue;
        CAPTURE(channels);
        for (int rep = 0; rep < 4; ++rep) check_simd_equals_reference<T>(rng, channels);
    }
}

}  // namespace

TEST_CASE("max_pool_2d: SIMD eval == reference eval at lane-edge channel counts") {
    std::mt19937 rng(141);
    check_lane_edges<std::int8_t>(rng);
    check_lane_edges<std::int16_t>(rng);
}

// --- reference vs float math --------------------------------------------------------

TEST_CASE("max_pool_2d reference: exactly the clamped maximum of the dequantized window") {
    // Dequantization is monotonic and scale / zero point are shared, so the
    // output dequantizes to the real maximum exactly (or to the clamp).
    std::mt19937 rng(2024);
    for (int rep = 0; rep < 30; ++rep) {
        auto params = pool<std::int8_t>({1, 4 + int(rng() % 4), 4 + int(rng() % 4), 1 + int(rng() % 4)},
                                        1 + int(rng() % 3), 1 + int(rng() % 2), rng() % 2 ? padding::same : padding::valid,
                                        0.25f, std::int32_t(rng() % 40) - 20);
        params.activation = rng() % 2 ? fused_activation::relu_n1_to_1 : fused_activation::none;
        std::vector<std::int8_t> in(qtl::num_elements(params.input_shape));
        for (auto& v : in) v = static_cast<std::int8_t>(std::int32_t(rng() % 256) - 128);
        const auto p = qtl::ops::prepare(params);
        const auto out = run_reference(p, in);
        const int h = params.input_shape[1], w = params.input_shape[2], c = params.input_shape[3];
        for (int y = 0; y < p.output_shape[1]; ++y)
            for (int x = 0; x < p.output_shape[2]; ++x)
                for (int ch = 0; ch < c; ++ch) {
                    double largest = -1e30;
                    for (int fy = 0; fy < params.filter_height; ++fy)
                        for (int fx = 0; fx < params.filter_width; ++fx) {
                            const int iy = y * params.stride_height - p.padding.height.before + fy;
                            const int ix = x * params.stride_width - p.padding.width.before + fx;
                            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                            largest = std::max(largest, (in[(std::size_t(iy) * w + ix) * c + ch] - params.input_zero_point) * 0.25);
                        }
                    // The activation range in reals: RELU_N1_TO_1 [-1, 1] (exact multiples of 0.25).
                    const double clamped = params.activation == fused_activation::relu_n1_to_1
                                               ? std::min(1.0, std::max(-1.0, largest))
                                               : largest;
                    const double got = (out[(std::size_t(y) * p.output_shape[2] + x) * c + ch] - params.output_zero_point) * 0.25;
                    // -1 and 1 are representable unless the zero point pushes them out of int8.
                    const double lowest = (-128 - params.output_zero_point) * 0.25, highest = (127 - params.output_zero_point) * 0.25;
                    CHECK(got == std::min(highest, std::max(lowest, clamped)));
                }
    }
}

// --- errors ------------------------------------------------------------------------

TEST_CASE("max_pool_2d prepare: bad specs throw qtl::error naming MAX_POOL_2D and what is wrong") {
    const auto good = pool<std::int16_t>({1, 4, 4, 3}, 2, 2, padding::valid, 0.5f);
    CHECK_NOTHROW(qtl::ops::prepare(good));
    const auto fails = [&](auto mutate, const char* message) {
        auto params = good;
        mutate(params);
        CHECK_THROWS_WITH_AS(qtl::ops::prepare(params), doctest::Contains(message), qtl::error);
        CHECK_THROWS_WITH_AS(qtl::ops::prepare(params), doctest::Contains("MAX_POOL_2D"), qtl::error);
    };
    using P = max_pool_2d_params<std::int16_t>;
    fails([](P& p) { p.input_shape = {1, 1, 4, 4, 3}; }, "input must have rank 4");
    fails([](P& p) { p.filter_height = -2; }, "filter height must be >= 1, got -2");
    fails([](P& p) { p.stride_width = 0; }, "stride width must be >= 1, got 0");
    fails([](P& p) { p.filter_width = 5; }, "gives an empty output");
    fails([](P& p) { p.output_scale = std::numeric_limits<float>::quiet_NaN(); }, "output scale must be finite and > 0");
    fails([](P& p) { p.output_scale = 0.5001f; }, "output scale must equal the input's");
    fails([](P& p) { p.output_zero_point = 1; }, "output zero point must equal the input's (pooling does not requantize): input 0, output 1");
    fails([](P& p) { p.input_zero_point = p.output_zero_point = 40000; }, "input zero point 40000 is outside the int16 range");
    fails([](P& p) { p.activation = fused_activation::sign_bit; }, "fused activation 5 cannot be fused");
    fails([](P& p) { p.padding = static_cast<padding>(3); }, "padding must be SAME (0) or VALID (1), got 3");
    // Large windows are fine for max pooling (no sum).
    CHECK_NOTHROW(qtl::ops::prepare(pool<std::int16_t>({1, 300, 300, 1}, 300, 1, padding::valid)));
}

TEST_CASE("max_pool_2d eval: shapes other than the prepared ones throw") {
    const auto p = qtl::ops::prepare(pool<std::int8_t>({1, 4, 4, 1}, 2, 2, padding::valid));
    std::vector<std::int8_t> in(16), out(4);
    const tensor_view<const std::int8_t> good_in(in, shape{1, 4, 4, 1});
    const tensor_view<std::int8_t> good_out(out, shape{1, 2, 2, 1});
    CHECK_NOTHROW(qtl::ops::eval(p, good_in, good_out));
    CHECK_THROWS_WITH_AS(qtl::ops::eval(p, tensor_view<const std::int8_t>(in, shape{1, 4, 4, 1}),
                                        tensor_view<std::int8_t>(out, shape{1, 1, 4, 1})),
                         "MAX_POOL_2D: output shape [1, 1, 4, 1] does not match the prepared [1, 2, 2, 1]", qtl::error);
    CHECK_THROWS_WITH_AS(qtl::ops::reference::eval(p, tensor_view<const std::int8_t>(in, shape{16, 1, 1, 1}), good_out),
                         "MAX_POOL_2D: input shape [16, 1, 1, 1] does not match the prepared [1, 4, 4, 1]", qtl::error);
}
