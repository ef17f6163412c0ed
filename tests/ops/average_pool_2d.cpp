#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "qtl/ops/average_pool_2d.hpp"
#include "qtl/ops/reference/average_pool_2d.hpp"

// AVERAGE_POOL_2D: hand-computed cases (SAME padding counting only valid
// values, rounding half away from zero, int16 sums beyond int16, fused
// activations), SIMD == reference on random specs at lane-edge channel
// counts, the reference against the float average, and the error paths.
// (seanet has no pooling op, so there is no golden here.)

namespace {

using qtl::fused_activation;
using qtl::shape;
using qtl::tensor_view;
using qtl::ops::average_pool_2d_params;
using qtl::ops::padding;

template <class T>
std::vector<T> run_simd(const qtl::ops::average_pool_2d_prepared<T>& p, const std::vector<T>& in) {
    std::vector<T> out(qtl::num_elements(p.output_shape));
    qtl::ops::eval(p, tensor_view<const T>(in, p.input_shape), tensor_view<T>(out, p.output_shape));
    return out;
}

template <class T>
std::vector<T> run_reference(const qtl::ops::average_pool_2d_prepared<T>& p, const std::vector<T>& in) {
    std::vector<T> out(qtl::num_elements(p.output_shape));
    qtl::ops::reference::eval(p, tensor_view<const T>(in, p.input_shape), tensor_view<T>(out, p.output_shape));
    return out;
}

template <class T>
void check_both(const qtl::ops::average_pool_2d_prepared<T>& p, const std::vector<T>& in,
                const std::vector<T>& expected) {
    CHECK(run_reference(p, in) == expected);
    CHECK(run_simd(p, in) == expected);
}

template <class T>
average_pool_2d_params<T> pool(shape input_shape, int filter, int stride, padding pad, float scale = 1.0f,
                               std::int32_t zero_point = 0) {
    average_pool_2d_params<T> p;
    p.input_shape = std::move(input_shape);
    p.input_scale = p.output_scale = scale;
    p.input_zero_point = p.output_zero_point = zero_point;
    p.filter_height = p.filter_width = filter;
    p.stride_height = p.stride_width = stride;
    p.padding = pad;
    return p;
}

}  // namespace

TEST_CASE("average_pool_2d int8: SAME 2x2 stride 2 averages only the values inside the input") {
    // Input 3x3:   1  2 -7
    //              3  4 -2
    //             -9 -6  5
    // SAME, 2x2, stride 2: out 2x2, padding 0 before, 1 after.
    //   out(0,0) = (1+2+3+4)/4 = 2.5  -> (10 + 2) / 4 = 3    (half away from zero)
    //   out(0,1) = (-7-2)/2    = -4.5 -> (-9 - 1) / 2 = -5
    //   out(1,0) = (-9-6)/2    = -7.5 -> (-15 - 1) / 2 = -8
    //   out(1,1) = 5/1         = 5    (the count is 1, not 4)
    const std::vector<std::int8_t> in{1, 2, -7, 3, 4, -2, -9, -6, 5};
    auto params = pool<std::int8_t>({1, 3, 3, 1}, 2, 2, padding::same, 2.0f);
    check_both(qtl::ops::prepare(params), in, {3, -5, -8, 5});
    // RELU at scale 2, zp 0: [0, 127].  RELU6: [0, round(6/2) = 3].
    // RELU_N1_TO_1: [round(-1/2) = -1, round(1/2) = 1] (std::round: half away from zero).
    params.activation = fused_activation::relu;
    check_both(qtl::ops::prepare(params), in, {3, 0, 0, 5});
    params.activation = fused_activation::relu6;
    check_both(qtl::ops::prepare(params), in, {3, 0, 0, 3});
    params.activation = fused_activation::relu_n1_to_1;
    check_both(qtl::ops::prepare(params), in, {1, -1, -1, 1});
}

TEST_CASE("average_pool_2d int8: VALID windows, stride 1, two channels, zero point") {
    // Same image as above in channel 0; channel 1 holds 10 * (row + col) - 40
    // = [-40 -30 -20 / -30 -20 -10 / -20 -10 0].  VALID 2x2 stride 1: 2x2
    // outputs, every count 4.
    //   ch0: (1+2+3+4)/4 = 2.5 -> 3; (2-7+4-2)/4 = -0.75 -> (-3 - 2) / 4 = -1;
    //        (3+4-9-6)/4 = -2 -> (-8 - 2) / 4 = -2; (4-2-6+5)/4 = 0.25 -> (1 + 2) / 4 = 0
    //   ch1: -30, -20, -20, -10 (exact)
    // With zero point 10, RELU clamps below at 10.
    const std::vector<std::int8_t> ch0{1, 2, -7, 3, 4, -2, -9, -6, 5};
    std::vector<std::int8_t> in;
    for (int i = 0; i < 9; ++i) {
        in.push_back(ch0[std::size_t(i)]);
        in.push_back(static_cast<std::int8_t>(10 * (i / 3 + i % 3) - 40));
    }
    auto params = pool<std::int8_t>({1, 3, 3, 2}, 2, 1, padding::valid, 0.5f, 10);
    check_both(qtl::ops::prepare(params), in, {3, -30, -1, -20, -2, -20, 0, -10});
    params.activation = fused_activation::relu;
    check_both(qtl::ops::prepare(params), in, {10, 10, 10, 10, 10, 10, 10, 10});
}

TEST_CASE("average_pool_2d int16: the int32 sum holds what int16 cannot") {
    // [32767, 32767, 32766, 32767]: sum 131067 -> (131067 + 2) / 4 = 32767 (32766.75 rounded);
    // [-32768] * 4: sum -131072 -> (-131072 - 2) / 4 = -32768 (truncation keeps -32768.5 -> -32768).
    const std::vector<std::int16_t> in{32767, 32767, 32766, 32767, -32768, -32768, -32768, -32768};
    const auto params = pool<std::int16_t>({2, 2, 2, 1}, 2, 2, padding::valid, 1.0f / 32768);
    check_both(qtl::ops::prepare(params), in, {32767, -32768});
}

// --- SIMD == reference ----------------------------------------------------------

namespace {

template <class T>
void check_simd_equals_reference(std::mt19937& rng, int channels) {
    average_pool_2d_params<T> params;
    params.filter_height = 1 + int(rng() % 4);
    params.filter_width = 1 + int(rng() % 4);
    params.stride_height = 1 + int(rng() % 3);
    params.stride_width = 1 + int(rng() % 3);
    params.padding = rng() % 2 ? padding::same : padding::valid;
    params.input_shape = {1 + int(rng() % 2), params.filter_height + int(rng() % 4), params.filter_width + int(rng() % 4),
                          channels};
    params.input_scale = params.output_scale = 0.05f;
    params.input_zero_point = params.output_zero_point =
        std::int32_t(rng() % 200) - 100 + (std::is_same_v<T, std::int16_t> ? std::int32_t(rng() % 20000) - 10000 : 0);
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

}  // namespace

TEST_CASE("average_pool_2d: SIMD eval == reference eval at lane-edge channel counts") {
    std::mt19937 rng(2718);
    const int l = int(xsimd::batch<std::int32_t>::size);
    for (const int channels : {1, 2, 3, l - 1, l, l + 1, 2 * l + 1, 4 * l + 3}) {
        if (channels < 1) continue;
        CAPTURE(channels);
        for (int rep = 0; rep < 6; ++rep) {
            check_simd_equals_reference<std::int8_t>(rng, channels);
            check_simd_equals_reference<std::int16_t>(rng, channels);
        }
    }
}

TEST_CASE("average_pool_2d: SIMD eval == reference eval on a large window (exact double division)") {
    // 100x100 window of extreme int16 values: sums near +-2^28, count up to 10000.
    std::mt19937 rng(5);
    average_pool_2d_params<std::int16_t> params = pool<std::int16_t>({1, 101, 103, 3}, 100, 3, padding::same);
    std::vector<std::int16_t> in(qtl::num_elements(params.input_shape));
    for (auto& v : in) v = rng() % 3 ? std::int16_t{32767} : static_cast<std::int16_t>(std::int32_t(rng() % 65536) - 32768);
    const auto p = qtl::ops::prepare(params);
    CHECK(run_simd(p, in) == run_reference(p, in));
}

TEST_CASE("average_pool_2d SIMD: the float-estimate division equals C++ integer division at the edges") {
    // rounded_average computes TFLite's sum > 0 ? (sum + count/2) / count :
    // (sum - count/2) / count with a float estimate and one correction; check
    // it against that integer formula on the cases where an estimate could
    // slip: exact multiples of count and their neighbours, the rounding ties
    // (n * count +- count/2 +- 1), and the largest sums prepare() allows
    // (count values of -32768 or 32767, count up to 65534).
    using batch = xsimd::batch<std::int32_t>;
    constexpr std::size_t lanes = batch::size;
    std::mt19937 rng(3);
    std::vector<std::int32_t> counts{1, 2, 3, 4, 5, 7, 9, 16, 25, 49, 100, 255, 256, 257, 1000, 4095, 4096, 9999, 65533, 65534};
    for (int i = 0; i < 200; ++i) counts.push_back(1 + std::int32_t(rng() % 65534));
    std::size_t checked = 0, wrong = 0;
    for (const std::int32_t count : counts) {
        const std::int64_t max_sum = std::int64_t{count} * 32767, min_sum = -std::int64_t{count} * 32768;
        std::vector<std::int64_t> sums{0, 1, -1, max_sum, min_sum, max_sum - 1, min_sum + 1};
        for (int k = 0; k < 40; ++k) {
            const std::int64_t n = std::int64_t(rng() % 65536) - 32768;  // a multiple of count inside the range
            for (const std::int64_t d : {-1, 0, 1}) {
                sums.push_back(n * count + d);
                sums.push_back(n * count + count / 2 + d);
                sums.push_back(n * count - count / 2 + d);
            }
        }
        std::vector<std::int32_t> values;
        for (const std::int64_t v : sums)
            if (v >= min_sum && v <= max_sum) values.push_back(static_cast<std::int32_t>(v));
        while (values.size() % lanes) values.push_back(0);
        const float inverse = 1.0f / static_cast<float>(count);
        for (std::size_t i = 0; i < values.size(); i += lanes) {
            const batch got = qtl::ops::detail::pool::rounded_average<xsimd::default_arch>(
                batch::load_unaligned(values.data() + i), batch(count), batch(count / 2),
                xsimd::batch<float>(inverse));
            alignas(64) std::int32_t out[lanes];
            got.store_aligned(out);
            for (std::size_t j = 0; j < lanes; ++j) {
                const std::int32_t sum = values[i + j];
                const std::int32_t expected = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
                ++checked;
                if (out[j] != expected) {
                    ++wrong;
                    INFO("sum " << sum << " count " << count << ": got " << out[j] << ", expected " << expected);
                    CHECK(out[j] == expected);
                }
            }
        }
    }
    CHECK(checked > 50000);
    CHECK(wrong == 0);
}

// --- reference vs float math --------------------------------------------------------

TEST_CASE("average_pool_2d reference: within half an LSB of the float average") {
    // Scale and zero point are shared, so out - zp should be the real average
    // over scale, rounded: |q - exact| <= 0.5 (exactly 0.5 only on ties), and
    // the clamp where the activation cuts.
    std::mt19937 rng(1618);
    for (int rep = 0; rep < 30; ++rep) {
        average_pool_2d_params<std::int8_t> params =
            pool<std::int8_t>({1, 5 + int(rng() % 4), 5 + int(rng() % 4), 1 + int(rng() % 5)}, 1 + int(rng() % 3),
                              1 + int(rng() % 2), rng() % 2 ? padding::same : padding::valid, 0.1f,
                              std::int32_t(rng() % 50) - 25);
        params.activation = rng() % 2 ? fused_activation::relu6 : fused_activation::none;
        std::vector<std::int8_t> in(qtl::num_elements(params.input_shape));
        for (auto& v : in) v = static_cast<std::int8_t>(std::int32_t(rng() % 256) - 128);
        const auto p = qtl::ops::prepare(params);
        const auto out = run_reference(p, in);
        const int h = params.input_shape[1], w = params.input_shape[2], c = params.input_shape[3];
        for (int y = 0; y < p.output_shape[1]; ++y)
            for (int x = 0; x < p.output_shape[2]; ++x)
                for (int ch = 0; ch < c; ++ch) {
                    double sum = 0.0;
                    int count = 0;
                    for (int fy = 0; fy < params.filter_height; ++fy)
                        for (int fx = 0; fx < params.filter_width; ++fx) {
                            const int iy = y * params.stride_height - p.padding.height.before + fy;
                            const int ix = x * params.stride_width - p.padding.width.before + fx;
                            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                            sum += (in[(std::size_t(iy) * w + ix) * c + ch] - params.input_zero_point) * 0.1;
                            ++count;
                        }
                    const double exact = sum / count / 0.1 + params.output_zero_point;
                    const double clamped = std::min<double>(std::max<double>(exact, p.output.activation_min),
                                                            p.output.activation_max);
                    const double q = out[(std::size_t(y) * p.output_shape[2] + x) * c + ch];
                    INFO("exact " << exact << " got " << q);
                    CHECK(std::abs(q - clamped) <= 0.5 + 1e-9);
                }
    }
}

// --- errors ------------------------------------------------------------------------

TEST_CASE("average_pool_2d prepare: bad specs throw qtl::error naming AVERAGE_POOL_2D and what is wrong") {
    const auto good = pool<std::int8_t>({1, 4, 4, 3}, 2, 2, padding::same, 0.5f, 3);
    CHECK_NOTHROW(qtl::ops::prepare(good));
    const auto fails = [&](auto mutate, const char* message) {
        auto params = good;
        mutate(params);
        CHECK_THROWS_WITH_AS(qtl::ops::prepare(params), doctest::Contains(message), qtl::error);
        CHECK_THROWS_WITH_AS(qtl::ops::prepare(params), doctest::Contains("AVERAGE_POOL_2D"), qtl::error);
    };
    using P = average_pool_2d_params<std::int8_t>;
    fails([](P& p) { p.input_shape = {4, 4, 3}; }, "input must have rank 4, got shape [4, 4, 3]");
    fails([](P& p) { p.input_shape = {1, 4, 0, 3}; }, "input dimensions must be >= 1");
    fails([](P& p) { p.filter_width = 0; }, "filter width must be >= 1, got 0");
    fails([](P& p) { p.stride_height = 0; }, "stride height must be >= 1, got 0");
    fails([](P& p) { p.padding = padding::valid; p.filter_height = 5; }, "gives an empty output");
    fails([](P& p) { p.input_scale = p.output_scale = 0.0f; }, "input scale must be finite and > 0, got 0");
    fails([](P& p) { p.output_scale = 0.25f; }, "output scale must equal the input's (pooling does not requantize)");
    fails([](P& p) { p.output_zero_point = 4; }, "output zero point must equal the input's");
    fails([](P& p) { p.input_zero_point = p.output_zero_point = 200; }, "input zero point 200 is outside the int8 range");
    fails([](P& p) { p.activation = fused_activation::tanh; }, "fused activation 4 cannot be fused");

    // int16 sums: 256x256 = 65536 values of -32768 would overflow int32.
    auto wide = pool<std::int16_t>({1, 300, 300, 1}, 255, 1, padding::valid);
    CHECK_NOTHROW(qtl::ops::prepare(wide));
    wide.filter_height = wide.filter_width = 256;
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(wide),
                         doctest::Contains("filter 256x256 (65536 values) could overflow the int32 sum of int16 values"),
                         qtl::error);
}

TEST_CASE("average_pool_2d eval: shapes other than the prepared ones throw") {
    const auto p = qtl::ops::prepare(pool<std::int8_t>({1, 4, 4, 1}, 2, 2, padding::valid));
    std::vector<std::int8_t> in(16), out(4);
    const tensor_view<const std::int8_t> good_in(in, shape{1, 4, 4, 1});
    const tensor_view<std::int8_t> good_out(out, shape{1, 2, 2, 1});
    CHECK_NOTHROW(qtl::ops::eval(p, good_in, good_out));
    CHECK_THROWS_WITH_AS(qtl::ops::eval(p, tensor_view<const std::int8_t>(in, shape{1, 2, 8, 1}), good_out),
                         "AVERAGE_POOL_2D: input shape [1, 2, 8, 1] does not match the prepared [1, 4, 4, 1]", qtl::error);
    CHECK_THROWS_WITH_AS(qtl::ops::reference::eval(p, good_in, tensor_view<std::int8_t>(out, shape{1, 4, 1, 1})),
                         "AVERAGE_POOL_2D: output shape [1, 4, 1, 1] does not match the prepared [1, 2, 2, 1]",
                         qtl::error);
}
