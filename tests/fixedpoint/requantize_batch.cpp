#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "qtl/fixedpoint/requantize.hpp"
#include "qtl/fixedpoint/requantize_batch.hpp"

// requantize_n / requantize_channels_n (SIMD) == requantize_n_reference /
// requantize_channels_n_reference (scalar; tested against gemmlowp in
// requantize.cpp), element for element, for every Out type, both rounding
// policies and every instruction set this build can run (each instantiated
// explicitly).  Sizes cover every tail: 0 .. 2 * lanes + 1 and larger ones;
// channel counts below, at and above the lane count.  Writes past n are
// caught by sentinels after the output.

namespace {

constexpr std::int32_t int32_min = std::numeric_limits<std::int32_t>::min();
constexpr std::int32_t int32_max = std::numeric_limits<std::int32_t>::max();

using tested_archs = std::tuple<xsimd::default_arch
#if XSIMD_WITH_SSE2
                                ,
                                xsimd::sse2
#endif
#if XSIMD_WITH_SSE4_1
                                ,
                                xsimd::sse4_1
#endif
#if XSIMD_WITH_AVX
                                ,
                                xsimd::avx
#endif
#if XSIMD_WITH_AVX2
                                ,
                                xsimd::avx2
#endif
#if XSIMD_WITH_AVX512F
                                ,
                                xsimd::avx512f
#endif
                                >;

template <class T>
struct type_tag {
    using type = T;
};

// Calls f(type_tag<Out>{}, Policy{}) for every Out type and rounding policy.
template <class F>
void for_each_out_and_policy(F f) {
    const auto per_out = [&](auto out_tag) {
        f(out_tag, qtl::double_rounding{});
        f(out_tag, qtl::single_rounding{});
    };
    per_out(type_tag<std::int8_t>{});
    per_out(type_tag<std::uint8_t>{});
    per_out(type_tag<std::int16_t>{});
    per_out(type_tag<std::int32_t>{});
}

template <class Policy>
constexpr int max_shift = std::is_same_v<Policy, qtl::single_rounding> ? 30 : 31;

std::int32_t random_accumulator(std::mt19937& rng) {
    switch (rng() % 4) {
        case 0: return static_cast<std::int32_t>(rng());
        case 1: return (rng() % 2) ? int32_max - static_cast<std::int32_t>(rng() % 4) : int32_min + static_cast<std::int32_t>(rng() % 4);
        default: return static_cast<std::int32_t>(rng()) >> (rng() % 32);
    }
}

template <class Policy>
qtl::quantized_multiplier random_multiplier(std::mt19937& rng) {
    std::uniform_int_distribution<int> shift(-31, max_shift<Policy>);
    switch (rng() % 8) {
        case 0: return {static_cast<std::int32_t>(rng()), shift(rng)};  // any int32, also negative
        case 1: return {int32_max, shift(rng)};
        case 2: return {1 << 30, shift(rng)};
        case 3: return {0, 0};
        default: return {std::uniform_int_distribution<std::int32_t>(1 << 30, int32_max)(rng), shift(rng)};
    }
}

// Usually a valid range for Out with a zero point inside it; sometimes
// anything at all (inverted ranges, ranges past Out, extreme zero points):
// the SIMD stage must agree with the scalar one on those too.
template <class Out>
qtl::requantize_params random_params(std::mt19937& rng) {
    const std::int64_t lo = std::numeric_limits<Out>::min(), hi = std::numeric_limits<Out>::max();
    if (rng() % 4 == 0) {
        return {static_cast<std::int32_t>(rng()) >> (rng() % 32), static_cast<std::int32_t>(rng()) >> (rng() % 32),
                static_cast<std::int32_t>(rng()) >> (rng() % 32)};
    }
    std::uniform_int_distribution<std::int64_t> in_range(lo, hi);
    std::int64_t a = in_range(rng), b = in_range(rng);
    if (a > b) std::swap(a, b);
    if (rng() % 2) {
        a = lo;
        b = hi;
    }
    return {static_cast<std::int32_t>(in_range(rng)), static_cast<std::int32_t>(a), static_cast<std::int32_t>(b)};
}

template <class Out>
constexpr Out sentinel = static_cast<Out>(0x5A);

template <class Out>
bool sentinels_intact(const std::vector<Out>& out, std::size_t n) {
    return std::all_of(out.begin() + static_cast<std::ptrdiff_t>(n), out.end(), [](Out v) { return v == sentinel<Out>; });
}

}  // namespace

TEST_CASE_TEMPLATE_DEFINE("requantize_n == requantize_n_reference for every size, type and policy", A, per_tensor_test) {
    constexpr std::size_t lanes = xsimd::batch<std::int32_t, A>::size;
    INFO("arch " << std::string(A::name()));
    std::mt19937 rng(31);
    std::vector<std::size_t> sizes;
    for (std::size_t n = 0; n <= 2 * lanes + 1; ++n) sizes.push_back(n);
    for (std::size_t n : {3 * lanes - 1, 7 * lanes, 100 * lanes + 3, std::size_t{1001}}) sizes.push_back(n);
    long elements = 0, bad = 0, overwritten = 0;
    for_each_out_and_policy([&](auto out_tag, auto policy) {
        using Out = typename decltype(out_tag)::type;
        using Policy = decltype(policy);
        for (int round = 0; round < 40; ++round)
            for (std::size_t n : sizes) {
                std::vector<std::int32_t> acc(n);
                for (auto& a : acc) a = random_accumulator(rng);
                const qtl::quantized_multiplier qm = random_multiplier<Policy>(rng);
                const qtl::requantize_params p = random_params<Out>(rng);
                std::vector<Out> expected(n), got(n + lanes + 1, sentinel<Out>);
                qtl::requantize_n_reference<Out, Policy>(acc.data(), n, qm, p, expected.data());
                qtl::requantize_n<Out, Policy, A>(acc.data(), n, qm, p, got.data());
                for (std::size_t i = 0; i < n; ++i)
                    if (got[i] != expected[i] && bad++ == 0) {
                        INFO("n=" << n << " i=" << i << " acc=" << acc[i] << " m=" << qm.multiplier << " shift=" << qm.shift
                                  << " zp=" << p.output_zero_point << " range=[" << p.activation_min << ", "
                                  << p.activation_max << "]");
                        CHECK(static_cast<long>(got[i]) == static_cast<long>(expected[i]));
                    }
                if (!sentinels_intact(got, n)) ++overwritten;
                elements += static_cast<long>(n);
            }
    });
    CHECK(bad == 0);
    CHECK(overwritten == 0);
    CHECK(elements > 100000);
}

TEST_CASE_TEMPLATE_DEFINE("requantize_channels_n == requantize_channels_n_reference for every size, channel count, type and policy",
                          A, per_channel_test) {
    constexpr std::size_t lanes = xsimd::batch<std::int32_t, A>::size;
    INFO("arch " << std::string(A::name()));
    std::mt19937 rng(32);
    const std::vector<std::size_t> channel_counts = {1, 2, 3, lanes - 1, lanes, lanes + 1, 2 * lanes + 3, 37, 64};
    long elements = 0, bad = 0, overwritten = 0;
    for_each_out_and_policy([&](auto out_tag, auto policy) {
        using Out = typename decltype(out_tag)::type;
        using Policy = decltype(policy);
        for (std::size_t channels : channel_counts) {
            // Whole rows, rows plus a partial row, and every small size.
            std::vector<std::size_t> sizes = {channels, 2 * channels, 5 * channels, 5 * channels + 1,
                                              3 * channels + channels / 2, 4 * lanes * channels + 3};
            for (std::size_t n = 0; n <= 2 * lanes + 1; ++n) sizes.push_back(n);
            for (int round = 0; round < 6; ++round)
                for (std::size_t n : sizes) {
                    std::vector<std::int32_t> acc(n), multipliers(channels), shifts(channels);
                    for (auto& a : acc) a = random_accumulator(rng);
                    for (std::size_t c = 0; c < channels; ++c) {
                        const qtl::quantized_multiplier qm = random_multiplier<Policy>(rng);
                        multipliers[c] = qm.multiplier;
                        shifts[c] = qm.shift;
                    }
                    const qtl::requantize_params p = random_params<Out>(rng);
                    std::vector<Out> expected(n), got(n + lanes + 1, sentinel<Out>);
                    qtl::requantize_channels_n_reference<Out, Policy>(acc.data(), n, multipliers.data(), shifts.data(), channels,
                                                                      p, expected.data());
                    qtl::requantize_channels_n<Out, Policy, A>(acc.data(), n, multipliers.data(), shifts.data(), channels, p,
                                                               got.data());
                    for (std::size_t i = 0; i < n; ++i)
                        if (got[i] != expected[i] && bad++ == 0) {
                            INFO("channels=" << channels << " n=" << n << " i=" << i << " acc=" << acc[i]
                                             << " m=" << multipliers[i % channels] << " shift=" << shifts[i % channels]);
                            CHECK(static_cast<long>(got[i]) == static_cast<long>(expected[i]));
                        }
                    if (!sentinels_intact(got, n)) ++overwritten;
                    elements += static_cast<long>(n);
                }
        }
    });
    CHECK(bad == 0);
    CHECK(overwritten == 0);
    CHECK(elements > 100000);
}

TEST_CASE_TEMPLATE_DEFINE("requantize batch forms run in place", A, in_place_test) {
    constexpr std::size_t lanes = xsimd::batch<std::int32_t, A>::size;
    INFO("arch " << std::string(A::name()));
    std::mt19937 rng(33);
    const std::size_t n = 3 * lanes + 2, channels = lanes + 3;
    std::vector<std::int32_t> acc(n), multipliers(channels), shifts(channels);
    for (auto& a : acc) a = random_accumulator(rng);
    for (std::size_t c = 0; c < channels; ++c) {
        multipliers[c] = std::uniform_int_distribution<std::int32_t>(1 << 30, int32_max)(rng);
        shifts[c] = std::uniform_int_distribution<std::int32_t>(-20, 3)(rng);
    }
    const qtl::requantize_params p{7, int32_min, int32_max};
    const qtl::quantized_multiplier qm{1518500250, -3};

    std::vector<std::int32_t> expected(n), buffer = acc;
    qtl::requantize_n_reference<std::int32_t>(acc.data(), n, qm, p, expected.data());
    qtl::requantize_n<std::int32_t, qtl::double_rounding, A>(buffer.data(), n, qm, p, buffer.data());
    CHECK(buffer == expected);

    buffer = acc;
    qtl::requantize_channels_n_reference<std::int32_t, qtl::single_rounding>(acc.data(), n, multipliers.data(), shifts.data(),
                                                                             channels, p, expected.data());
    qtl::requantize_channels_n<std::int32_t, qtl::single_rounding, A>(buffer.data(), n, multipliers.data(), shifts.data(),
                                                                      channels, p, buffer.data());
    CHECK(buffer == expected);
}

TEST_CASE_TEMPLATE_DEFINE("requantize batch forms: ranges no product can reach give one constant", A, unreachable_test) {
    constexpr std::size_t lanes = xsimd::batch<std::int32_t, A>::size;
    INFO("arch " << std::string(A::name()));
    std::vector<std::int32_t> acc = {int32_min, -1000000, -1, 0, 1, 1000000, int32_max};
    while (acc.size() < 2 * lanes + 1) acc.push_back(static_cast<std::int32_t>(acc.size() * 7919));
    const std::size_t n = acc.size();
    const std::int32_t multipliers[] = {int32_max, 1 << 30, 1518500250};
    const std::int32_t shifts[] = {0, 5, -3};
    // {params, the output every element must have}, worked out by hand:
    struct case_t {
        qtl::requantize_params p;
        std::int32_t constant;
    };
    const case_t cases[] = {
        {{int32_min, 100, 200}, 100},    // product + zp <= INT32_MAX + INT32_MIN < 100: always act_min
        {{int32_max, -200, -100}, -100}, // product + zp >= INT32_MIN + INT32_MAX > -100: always act_max
        {{0, 10, 5}, 5},                 // inverted range: max with 10, then min with 5
        {{int32_min, 7, 3}, 3},          // inverted and unreachable: still act_max
    };
    for (const case_t& k : cases) {
        std::vector<std::int32_t> out(n, 0x5A5A);
        qtl::requantize_n<std::int32_t, qtl::double_rounding, A>(acc.data(), n, {1 << 30, 3}, k.p, out.data());
        CHECK(std::count(out.begin(), out.end(), k.constant) == static_cast<long>(n));
        std::fill(out.begin(), out.end(), 0x5A5A);
        qtl::requantize_channels_n<std::int32_t, qtl::single_rounding, A>(acc.data(), n, multipliers, shifts, 3, k.p, out.data());
        CHECK(std::count(out.begin(), out.end(), k.constant) == static_cast<long>(n));
    }
    // A reachable range whose bounds lie beyond int32 once the zero point is
    // taken off: the sum saturates at the range instead of wrapping.
    std::vector<std::int32_t> out(n), expected(n);
    const qtl::requantize_params wide{1000, int32_min, int32_max};
    qtl::requantize_n<std::int32_t, qtl::double_rounding, A>(acc.data(), n, {int32_max, 0}, wide, out.data());
    qtl::requantize_n_reference<std::int32_t, qtl::double_rounding>(acc.data(), n, {int32_max, 0}, wide, expected.data());
    CHECK(out == expected);
    CHECK(out[6] == int32_max);  // (2^31 - 2) + 1000 saturates
    CHECK(out[0] == -int32_max + 1000);
}

TEST_CASE_TEMPLATE_APPLY(per_tensor_test, tested_archs);
TEST_CASE_TEMPLATE_APPLY(unreachable_test, tested_archs);
TEST_CASE_TEMPLATE_APPLY(per_channel_test, tested_archs);
TEST_CASE_TEMPLATE_APPLY(in_place_test, tested_archs);

TEST_CASE("requantize_n and requantize_channels_n: hand-computed values with the default arch") {
    // 0.125 with zero point -5 (see requantize.cpp): 1000 -> 120, 1004 -> 121,
    // -900 -> -118 (double rounding), -117 (single rounding).
    const std::int32_t acc[] = {1000, 1004, -900, 0, -1004, 2000, 1000, 1004, -900};
    std::int8_t out[9] = {};
    qtl::requantize_n<std::int8_t>(acc, 9, {1 << 30, -2}, {-5, -128, 127}, out);
    const std::int8_t expected_double[] = {120, 121, -118, -5, -128, 127, 120, 121, -118};
    CHECK(std::equal(out, out + 9, expected_double));
    qtl::requantize_n<std::int8_t, qtl::single_rounding>(acc, 9, {1 << 30, -2}, {-5, -128, 127}, out);
    const std::int8_t expected_single[] = {120, 121, -117, -5, -128, 127, 120, 121, -117};
    CHECK(std::equal(out, out + 9, expected_single));

    // Channel 0: 0.5, channel 1: 1.0, zero point 1 (see requantize.cpp).
    const std::int32_t multipliers[] = {1 << 30, 1 << 30};
    const std::int32_t shifts[] = {0, 1};
    const std::int32_t acc2[] = {10, 10, 20, 20, 30};
    std::int16_t out2[5] = {};
    qtl::requantize_channels_n<std::int16_t>(acc2, 5, multipliers, shifts, 2, {1, -100, 100}, out2);
    const std::int16_t expected2[] = {6, 11, 11, 21, 16};
    CHECK(std::equal(out2, out2 + 5, expected2));
}

TEST_CASE("requantize_channels_n: zero channels is an error, an empty input is not") {
    const std::int32_t acc[] = {1, 2};
    std::int8_t out[2] = {};
    CHECK_THROWS_AS(qtl::requantize_channels_n<std::int8_t>(acc, 2, nullptr, nullptr, 0, {0, -128, 127}, out), qtl::error);
    CHECK_NOTHROW(qtl::requantize_channels_n<std::int8_t>(acc, 0, nullptr, nullptr, 0, {0, -128, 127}, out));
}
