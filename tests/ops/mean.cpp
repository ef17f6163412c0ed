#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <tuple>
#include <type_traits>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "qtl/ops/mean.hpp"
#include "qtl/ops/reference/mean.hpp"
#include "support/ops_testing.hpp"

// MEAN: hand-computed means (TFLite's integer arithmetic worked out in the
// comments: 1/n folded into the Q31 multiplier, double rounding), shapes for
// axes/keep_dims, TFLite's zero output for empty inputs, the optimized path
// (xsimd sums + requantize_n, every instruction set this build can run, both
// rounding policies) against the reference on random shapes and lane-edge
// sizes, the reference against float math, and the errors.

using namespace qtl;

namespace {

using qtl::test::tested_archs;

template <class T>
ops::mean_params<T> params(shape in, std::vector<std::int32_t> axes, bool keep_dims, float in_scale = 0.5f,
                           std::int32_t in_zp = 0, float out_scale = 0.5f, std::int32_t out_zp = 0) {
    return {std::move(in), std::move(axes), keep_dims, in_scale, in_zp, out_scale, out_zp};
}

template <class T, class Policy = double_rounding, class A = xsimd::default_arch>
std::vector<T> mean_optimized(const ops::mean_prepared<T>& p, const std::vector<T>& in) {
    std::vector<T> out(num_elements(p.output_shape), T{33});
    ops::eval<Policy, A>(p, tensor_view<const T>(in, p.input_shape), tensor_view<T>(out, p.output_shape));
    return out;
}

template <class T, class Policy = double_rounding>
std::vector<T> mean_reference(const ops::mean_prepared<T>& p, const std::vector<T>& in) {
    std::vector<T> out(num_elements(p.output_shape), T{-33});
    ops::reference::eval<Policy>(p, tensor_view<const T>(in, p.input_shape), tensor_view<T>(out, p.output_shape));
    return out;
}

}  // namespace

TEST_CASE_TEMPLATE("mean: hand-computed, same input and output parameters", T, std::int8_t, std::int16_t) {
    // Ratio 1.0: QuantizeMultiplier gives (2^30, shift 1).  n = 4: s = floor(log2 4) = 2,
    // m' = (2^30 << 2) / 4 = 2^30, shift' = 1 - 2 = -1.
    auto p = ops::prepare(params<T>({4}, {0}, false));
    CHECK(p.output_shape == shape{});
    CHECK(p.reduced_count == 4);
    CHECK(p.multiplier == quantized_multiplier{1 << 30, -1});
    // sum 1+2+3+4 = 10: srdhm(10, 2^30) = round(10 / 2) = 5, then 5 / 2^1 = 2.5 rounds away from zero: 3.
    CHECK(mean_reference(p, {1, 2, 3, 4}) == std::vector<T>{3});
    CHECK(mean_optimized(p, {1, 2, 3, 4}) == std::vector<T>{3});
    // sum -10: srdhm = -5, -5 / 2 = -2.5 rounds away from zero: -3.
    CHECK(mean_reference(p, {-1, -2, -3, -4}) == std::vector<T>{-3});
    CHECK(mean_optimized(p, {-1, -2, -3, -4}) == std::vector<T>{-3});

    // n = 3: s = 1, m' = (2^30 << 1) / 3 = 715827882 (truncated), shift' = 0.
    p = ops::prepare(params<T>({1, 3}, {1}, true));
    CHECK(p.output_shape == shape{1, 1});
    CHECK(p.multiplier == quantized_multiplier{715827882, 0});
    // sum 7: (7 * 715827882 + 2^30) >> 31 = 6084536998 >> 31 = 2 (7/3 = 2.33)
    CHECK(mean_reference(p, {1, 2, 4}) == std::vector<T>{2});
    // sum 8: (8 * 715827882 + 2^30) >> 31 = 6800364880 >> 31 = 3 (8/3 = 2.67)
    CHECK(mean_optimized(p, {1, 3, 4}) == std::vector<T>{3});

    // 1x7x7x2 over H, W with keep_dims (MobileNetV2's global average pool has
    // this form, [1, 7, 7, 1280]): n = 49, s = 5, m' = 2^35 / 49 = 701219150,
    // shift' = -4.  A constant 5: sum 245, srdhm(245, m') = 80, 80 / 16 = 5.
    p = ops::prepare(params<T>({1, 7, 7, 2}, {1, 2}, true));
    CHECK(p.output_shape == shape{1, 1, 1, 2});
    CHECK(p.multiplier == quantized_multiplier{701219150, -4});
    std::vector<T> image(98);
    for (std::size_t i = 0; i < image.size(); ++i) image[i] = static_cast<T>(i % 2 ? -7 : 5);
    CHECK(mean_reference(p, image) == std::vector<T>{5, -7});
    CHECK(mean_optimized(p, image) == std::vector<T>{5, -7});
}

TEST_CASE("mean: hand-computed requantization between different parameters (int8)") {
    // input scale 0.5 zp 10, output scale 0.25 zp -5: ratio 2 -> (2^30, shift 2);
    // n = 2: s = 1, m' = 2^30, shift' = 1.
    auto p = ops::prepare(params<std::int8_t>({2}, {0}, false, 0.5f, 10, 0.25f, -5));
    CHECK(p.multiplier == quantized_multiplier{1 << 30, 1});
    // [12, 16] are the reals 1 and 3, mean 2 = 8 output steps: sum 28 - 10 * 2 = 8,
    // srdhm(8 << 1, 2^30) = 8, + zp -5 = 3.
    CHECK(mean_reference(p, {12, 16}) == std::vector<std::int8_t>{3});
    CHECK(mean_optimized(p, {12, 16}) == std::vector<std::int8_t>{3});
    // [127, 127]: real 58.5 = 234 steps, 234 - 5 = 229 saturates at 127.
    CHECK(mean_reference(p, {127, 127}) == std::vector<std::int8_t>{127});
    CHECK(mean_optimized(p, {127, 127}) == std::vector<std::int8_t>{127});

    // No axes: n = 1, a plain requantization, scale 1 zp 0 -> scale 0.5 zp 1
    // (ratio 2: (2^30, 2)): 1 -> srdhm(4, 2^30) = 2 -> 3; 2 -> 5; -3 -> -6 -> -5.
    p = ops::prepare(params<std::int8_t>({3}, {}, false, 1.0f, 0, 0.5f, 1));
    CHECK(p.output_shape == shape{3});
    CHECK(mean_reference(p, {1, 2, -3}) == std::vector<std::int8_t>{3, 5, -5});
    CHECK(mean_optimized(p, {1, 2, -3}) == std::vector<std::int8_t>{3, 5, -5});
}

TEST_CASE("mean: axes resolve like TFLite (negative, repeated), keep_dims shapes, scalar input") {
    auto p = ops::prepare(params<std::int8_t>({2, 3, 4}, {0, -1, 0}, true));
    CHECK(p.axes == std::vector<int>{0, 2});
    CHECK(p.reduced_count == 8);
    CHECK(p.output_shape == shape{1, 3, 1});
    p = ops::prepare(params<std::int8_t>({2, 3, 4}, {2, 0}, false));
    CHECK(p.output_shape == shape{3});
    // [2, 3] over axis 1 (n = 3, sums 0+1+2 = 3 -> 1 and 3+4+5 = 12 -> 4), keep_dims off.
    p = ops::prepare(params<std::int8_t>({2, 3}, {-1}, false));
    CHECK(mean_reference(p, {0, 1, 2, 3, 4, 5}) == std::vector<std::int8_t>{1, 4});
    CHECK(mean_optimized(p, {0, 1, 2, 3, 4, 5}) == std::vector<std::int8_t>{1, 4});
    // Scalar input: TFLite ignores the axes, n = 1.
    const auto scalar = ops::prepare(params<std::int16_t>({}, {0}, false));
    CHECK(scalar.output_shape == shape{});
    CHECK(mean_reference(scalar, {-1234}) == std::vector<std::int16_t>{-1234});
    CHECK(mean_optimized(scalar, {-1234}) == std::vector<std::int16_t>{-1234});
}

TEST_CASE("mean: empty inputs give TFLite's integer 'NaN' (0), not the zero point") {
    auto p = ops::prepare(params<std::int8_t>({2, 0}, {1}, false, 0.5f, 7, 0.5f, 7));
    CHECK(p.output_shape == shape{2});
    CHECK(p.reduced_count == 0);
    CHECK(mean_reference(p, {}) == std::vector<std::int8_t>{0, 0});
    CHECK(mean_optimized(p, {}) == std::vector<std::int8_t>{0, 0});
    p = ops::prepare(params<std::int8_t>({0, 3}, {1}, true));
    CHECK(p.output_shape == shape{0, 1});
    CHECK(mean_reference(p, {}).empty());
    CHECK(mean_optimized(p, {}).empty());
}

TEST_CASE_TEMPLATE("mean: the mean of a constant tensor is that constant (any n, any axes)", T, std::int8_t, std::int16_t) {
    // The folded multiplier m' = floor(m 2^s / n) is within 2^-29 of m 2^s / n,
    // so c * n * m' / 2^(31 - shift') is within |c| 2^-29 of c: rounds to c.
    std::mt19937 rng(23);
    for (int trial = 0; trial < 100; ++trial) {
        const std::size_t rank = 1 + rng() % 4;
        shape s;
        std::vector<std::int32_t> axes;
        for (std::size_t d = 0; d < rank; ++d) {
            s.push_back(1 + static_cast<std::int32_t>(rng() % 12));
            if (rng() % 2) axes.push_back(static_cast<std::int32_t>(d));
        }
        const auto p = ops::prepare(params<T>(s, axes, rng() % 2 == 0));
        const T c = static_cast<T>(static_cast<std::int32_t>(rng()));
        const std::vector<T> in(num_elements(s), c);
        const std::vector<T> expected(num_elements(p.output_shape), c);
        CHECK(mean_reference(p, in) == expected);
        CHECK(mean_optimized(p, in) == expected);
    }
}

TEST_CASE_TEMPLATE_DEFINE("mean: optimized == reference on random shapes, lane and block edges, every arch", A, optimized_vs_reference) {
    std::mt19937 rng(29);
    // The requantize stage's xsimd lanes, and the sums' blocks (every size of
    // a row: one block, several, tails of 1 and block - 1).
    constexpr std::int32_t lanes = static_cast<std::int32_t>(xsimd::batch<std::int32_t, A>::size);
    constexpr auto block = static_cast<std::int32_t>(qtl::ops::detail::mean_op::sum_block);
    const std::int32_t edges[] = {1, 2, 3, 5, 7, lanes - 1, lanes, lanes + 1, 2 * lanes + 1,
                                  block - 1, block, block + 1, 2 * block - 1, 3 * block + 1};
    const auto run = [&](auto type_tag, auto policy) {
        using T = decltype(type_tag);
        using Policy = decltype(policy);
        for (int trial = 0; trial < 150; ++trial) {
            const std::size_t rank = 1 + rng() % 5;
            shape s;
            std::vector<std::int32_t> axes;
            std::size_t n = 1;
            for (std::size_t d = 0; d < rank; ++d) {
                std::int32_t size = edges[rng() % std::size(edges)];
                if (size < 1 || n * static_cast<std::size_t>(size) > 4000) size = 1 + static_cast<std::int32_t>(rng() % 2);
                s.push_back(size);
                n *= static_cast<std::size_t>(size);
                if (rng() % 2) axes.push_back(static_cast<std::int32_t>(d) - (rng() % 2 ? static_cast<std::int32_t>(rank) : 0));
            }
            const bool int8 = std::is_same_v<T, std::int8_t>;
            const float in_scale = std::ldexp(1.0f + static_cast<float>(rng() % 1000) / 1000.0f, -static_cast<int>(rng() % 12));
            const float out_scale = in_scale * std::ldexp(0.5f + static_cast<float>(rng() % 1000) / 1000.0f, static_cast<int>(rng() % 5) - 2);
            const std::int32_t in_zp = int8 ? static_cast<std::int32_t>(rng() % 256) - 128 : 0;
            const std::int32_t out_zp = int8 ? static_cast<std::int32_t>(rng() % 256) - 128 : 0;
            const auto p = ops::prepare(params<T>(s, axes, rng() % 2 == 0, in_scale, in_zp, out_scale, out_zp));
            std::vector<T> in(n);
            for (auto& v : in) v = static_cast<T>(static_cast<std::int32_t>(rng()));
            INFO("shape " << to_string(s) << " axes " << to_string(axes));
            CHECK(mean_optimized<T, Policy, A>(p, in) == mean_reference<T, Policy>(p, in));
        }
    };
    run(std::int8_t{}, double_rounding{});
    run(std::int8_t{}, single_rounding{});
    run(std::int16_t{}, double_rounding{});
    run(std::int16_t{}, single_rounding{});
}
TEST_CASE_TEMPLATE_APPLY(optimized_vs_reference, tested_archs);

TEST_CASE("mean: int16 sums wrap modulo 2^32 like TFLite's WrappingAdd, in both paths") {
    // 70000 elements of 32767: the int32 sum 2293690000 wraps to -2001277296.
    // Ratio 1 and n = 70000: s = 16, m' = (2^30 << 16) / 70000 = 1005267773, shift' = -15.
    const auto p = ops::prepare(params<std::int16_t>({70000}, {0}, false));
    CHECK(p.multiplier == quantized_multiplier{1005267773, -15});
    const std::vector<std::int16_t> in(70000, 32767);
    // srdhm: -2001277296 * 1005267773 / 2^31 = -936826491.03 -> -936826491;
    // / 2^15 = -28589.68 -> -28590 (what TFLite outputs, not the true mean 32767).
    const auto expected = static_cast<std::int16_t>(
        rounding_divide_by_pot(saturating_rounding_doubling_high_mul(-2001277296, 1005267773), 15));
    CHECK(expected == -28590);
    CHECK(mean_reference(p, in) == std::vector<std::int16_t>{expected});
    CHECK(mean_optimized(p, in) == std::vector<std::int16_t>{expected});
}

TEST_CASE_TEMPLATE("mean: reference within the quantization bound of the float mean", T, std::int8_t, std::int16_t) {
    // t = mean of the dequantized inputs / out_scale (output steps).  The
    // folded multiplier is within 2^-29 + 2^-31 (relative) of in/(n out);
    // double rounding adds at most 1/2 + 1/2^(right shift + 1) <= 3/4 step
    // (single rounding 1/2).  So |(out - zp_out) - t| <= 0.75 + |t| 2^-28,
    // unless t + zp_out is outside T's range, where out is the clamp bound.
    std::mt19937 rng(31);
    const bool int8 = std::is_same_v<T, std::int8_t>;
    double worst = 0;
    for (int trial = 0; trial < 300; ++trial) {
        const std::size_t rank = 1 + rng() % 4;
        shape s;
        std::vector<std::int32_t> axes;
        for (std::size_t d = 0; d < rank; ++d) {
            s.push_back(1 + static_cast<std::int32_t>(rng() % 9));
            if (rng() % 2) axes.push_back(static_cast<std::int32_t>(d));
        }
        const float in_scale = std::ldexp(1.0f + static_cast<float>(rng() % 1000) / 1000.0f, -static_cast<int>(rng() % 10));
        const float out_scale = in_scale * std::ldexp(0.5f + static_cast<float>(rng() % 1000) / 1000.0f, static_cast<int>(rng() % 3) - 2);
        const std::int32_t in_zp = int8 ? static_cast<std::int32_t>(rng() % 256) - 128 : 0;
        const std::int32_t out_zp = int8 ? static_cast<std::int32_t>(rng() % 256) - 128 : 0;
        const auto p = ops::prepare(params<T>(s, axes, false, in_scale, in_zp, out_scale, out_zp));
        std::vector<T> in(num_elements(s));
        for (auto& v : in) v = static_cast<T>(static_cast<std::int32_t>(rng()));
        const auto out = mean_reference(p, in);

        // Float means over the reduced axes, in the output's row-major order.
        std::vector<double> sums(out.size(), 0.0);
        std::vector<bool> reduced(rank, false);
        for (const int a : p.axes) reduced[static_cast<std::size_t>(a)] = true;
        std::vector<std::size_t> index(rank, 0);
        for (std::size_t i = 0; i < in.size(); ++i) {
            std::size_t o = 0;
            for (std::size_t d = 0; d < rank; ++d)
                if (!reduced[d]) o = o * static_cast<std::size_t>(s[d]) + index[d];
            sums[o] += (static_cast<double>(in[i]) - in_zp) * static_cast<double>(in_scale);
            for (std::size_t d = rank; d-- > 0;) {
                if (++index[d] < static_cast<std::size_t>(s[d])) break;
                index[d] = 0;
            }
        }
        constexpr double qmin = std::numeric_limits<T>::min(), qmax = std::numeric_limits<T>::max();
        for (std::size_t o = 0; o < out.size(); ++o) {
            const double t = sums[o] / static_cast<double>(p.reduced_count) / static_cast<double>(out_scale);
            const double bound = 0.75 + std::abs(t) * std::ldexp(1.0, -28);
            if (t + out_zp > qmax + bound) {
                CHECK(out[o] == qmax);
            } else if (t + out_zp < qmin - bound) {
                CHECK(out[o] == qmin);
            } else if (out[o] != qmin && out[o] != qmax) {
                const double error = std::abs((static_cast<double>(out[o]) - out_zp) - t);
                worst = std::max(worst, error);
                CHECK(error <= bound);
            }
        }
    }
    MESSAGE("worst |output - float mean| = " << worst << " output steps");
}

TEST_CASE("mean: prepare() and eval() errors") {
    CHECK_THROWS_WITH_AS(ops::prepare(params<std::int8_t>({2, 3}, {2}, false)),
                         doctest::Contains("MEAN: axis 2 is out of range for rank 2"), error);
    CHECK_THROWS_WITH_AS(ops::prepare(params<std::int8_t>({2, 3}, {-3}, false)), doctest::Contains("out of range"), error);
    CHECK_THROWS_WITH_AS(ops::prepare(params<std::int16_t>({2}, {0}, false, 0.5f, 1, 0.5f, 0)),
                         doctest::Contains("input zero point must be 0 for int16"), error);
    CHECK_THROWS_WITH_AS(ops::prepare(params<std::int16_t>({2}, {0}, false, 0.5f, 0, 0.5f, -1)),
                         doctest::Contains("output zero point must be 0 for int16"), error);
    CHECK_THROWS_WITH_AS(ops::prepare(params<std::int8_t>({2}, {0}, false, 0.5f, 0, 0.5f, 200)),
                         doctest::Contains("[-128, 127], got 200"), error);
    CHECK_THROWS_WITH_AS(ops::prepare(params<std::int8_t>({2}, {0}, false, -0.5f)),
                         doctest::Contains("input scale must be finite and > 0"), error);
    CHECK_THROWS_WITH_AS(ops::prepare(params<std::int8_t>({2}, {0}, false, 0.5f, 0, INFINITY)),
                         doctest::Contains("output scale must be finite and > 0"), error);
    CHECK_THROWS_WITH_AS(ops::prepare(params<std::int8_t>({2}, {0}, false, 1.0f, 0, 1e-10f)),
                         doctest::Contains("too large"), error);
    CHECK_THROWS_AS(ops::prepare(params<std::int8_t>({2, -1}, {0}, false)), error);

    const auto p = ops::prepare(params<std::int8_t>({2, 3}, {1}, true));
    std::vector<std::int8_t> in(6), out(2);
    CHECK_THROWS_WITH_AS(ops::eval(p, tensor_view<const std::int8_t>(in, {2, 3}), tensor_view<std::int8_t>(out, {2})),
                         doctest::Contains("output shape [2] differs from the prepared [2, 1]"), error);
    CHECK_THROWS_WITH_AS(
        ops::reference::eval(p, tensor_view<const std::int8_t>(in, {3, 2}), tensor_view<std::int8_t>(out, {2, 1})),
        doctest::Contains("input shape [3, 2] differs from the prepared [2, 3]"), error);
}
