#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "qtl/fixedpoint/multiply_by_quantized_multiplier.hpp"
#include "qtl/fixedpoint/multiply_by_quantized_multiplier_batch.hpp"

// The batch primitives equal the scalar ones lane by lane (the scalar ones are
// tested against gemmlowp and exact 128-bit arithmetic in
// multiply_by_quantized_multiplier.cpp), for every instruction set this build
// can run: each is instantiated explicitly, so the -march=native build checks
// the SSE2, SSE4.1, AVX, AVX2 and AVX-512 code paths side by side, and the
// default build checks SSE2.  The portable 16-bit-halves product is checked on
// every arch as well, although x86 archs normally use pmuldq/pmuludq.
//
// Inputs: every pair of edge values (INT32_MIN/MAX, 0, +-1, +-2^k, +-2^k +- 1)
// with every shift, and random values (2^20 per function and arch; 2^16 under
// ASan, __SANITIZE_ADDRESS__, to stay under 2 s there).

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr std::size_t random_cases = std::size_t{1} << 16;
constexpr int edge_shift_step = 7;  // every 7th shift for the edge x edge x shift sweep
#else
constexpr std::size_t random_cases = std::size_t{1} << 20;
constexpr int edge_shift_step = 1;
#endif

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

std::vector<std::int32_t> edge_values() {
    std::vector<std::int64_t> wide = {int32_min, int32_min + 1LL, int32_max, int32_max - 1LL, 0, 1, -1};
    for (int k = 1; k <= 31; ++k) {
        const std::int64_t p = std::int64_t{1} << k;
        for (std::int64_t v : {p - 1, p, p + 1, -p - 1, -p, -p + 1}) wide.push_back(v);
    }
    std::vector<std::int32_t> values;
    for (std::int64_t v : wide)
        if (v >= int32_min && v <= int32_max) values.push_back(static_cast<std::int32_t>(v));
    std::sort(values.begin(), values.end());
    values.erase(std::unique(values.begin(), values.end()), values.end());
    return values;
}

// Every (a, b) pair of edge values, flattened, padded to whole batches with zeros.
struct pairs {
    std::vector<std::int32_t> a, b;
};

pairs edge_pairs(std::size_t lanes) {
    const std::vector<std::int32_t> edges = edge_values();
    pairs p;
    for (std::int32_t x : edges)
        for (std::int32_t y : edges) {
            p.a.push_back(x);
            p.b.push_back(y);
        }
    while (p.a.size() % lanes != 0) {
        p.a.push_back(0);
        p.b.push_back(0);
    }
    return p;
}

// Random int32 values, a quarter of them edge values, a quarter small.
std::vector<std::int32_t> random_values(std::size_t n, std::mt19937& rng) {
    static const std::vector<std::int32_t> edges = edge_values();
    std::vector<std::int32_t> v(n);
    for (auto& x : v) {
        const std::uint32_t kind = rng() % 4;
        if (kind == 0) x = edges[rng() % edges.size()];
        else if (kind == 1) x = static_cast<std::int32_t>(rng()) >> (rng() % 32);
        else x = static_cast<std::int32_t>(rng());
    }
    return v;
}

std::vector<std::int32_t> random_shifts(std::size_t n, int lo, int hi, std::mt19937& rng) {
    std::uniform_int_distribution<int> dist(lo, hi);
    std::vector<std::int32_t> v(n);
    for (auto& s : v) s = dist(rng);
    return v;
}

// Runs batch_fn over x, y, z in whole batches and compares each lane with
// scalar_fn; returns the number of mismatching lanes, CHECKing the first one.
template <class A, class BatchFn, class ScalarFn>
long mismatches(const std::vector<std::int32_t>& x, const std::vector<std::int32_t>& y, const std::vector<std::int32_t>& z,
                BatchFn batch_fn, ScalarFn scalar_fn) {
    using batch = xsimd::batch<std::int32_t, A>;
    constexpr std::size_t lanes = batch::size;
    if (x.size() % lanes != 0) FAIL("inputs must fill whole batches");
    long count = 0;
    alignas(A::alignment()) std::int32_t got[lanes];
    for (std::size_t i = 0; i < x.size(); i += lanes) {
        batch_fn(batch::load_unaligned(x.data() + i), batch::load_unaligned(y.data() + i), batch::load_unaligned(z.data() + i))
            .store_aligned(got);
        for (std::size_t j = 0; j < lanes; ++j) {
            const std::int32_t expected = scalar_fn(x[i + j], y[i + j], z[i + j]);
            if (got[j] != expected && count++ == 0) {
                INFO("arch " << std::string(A::name()) << ", lane " << j << ": x=" << x[i + j] << " y=" << y[i + j] << " z=" << z[i + j]);
                CHECK(got[j] == expected);
            }
        }
    }
    return count;
}

}  // namespace

TEST_CASE_TEMPLATE_DEFINE("widening_multiply gives the exact 64-bit product", A, widening_multiply_test) {
    using batch = xsimd::batch<std::int32_t, A>;
    constexpr std::size_t lanes = batch::size;
    INFO("arch " << std::string(A::name()));
    std::mt19937 rng(21);
    const pairs edges = edge_pairs(lanes);
    const std::vector<std::int32_t> ra = random_values(random_cases, rng), rb = random_values(random_cases, rng);
    long bad = 0;
    for (int portable = 0; portable < 2; ++portable) {
        const auto product = [&](batch a, batch b) {
            return portable ? qtl::detail::fixedpoint::widening_multiply_by_halves(a, b) : qtl::detail::fixedpoint::widening_multiply(a, b);
        };
        const auto hi = [&](batch a, batch b, batch) { return product(a, b).hi; };
        const auto lo = [&](batch a, batch b, batch) { return product(a, b).lo; };
        const auto exact_hi = [](std::int32_t a, std::int32_t b, std::int32_t) {
            return static_cast<std::int32_t>((std::int64_t{a} * b) >> 32);  // arithmetic shift (C++20)
        };
        const auto exact_lo = [](std::int32_t a, std::int32_t b, std::int32_t) {
            return static_cast<std::int32_t>(static_cast<std::uint32_t>(static_cast<std::uint64_t>(std::int64_t{a} * b)));
        };
        bad += mismatches<A>(edges.a, edges.b, edges.a, hi, exact_hi) + mismatches<A>(edges.a, edges.b, edges.a, lo, exact_lo);
        bad += mismatches<A>(ra, rb, ra, hi, exact_hi) + mismatches<A>(ra, rb, ra, lo, exact_lo);
    }
    CHECK(bad == 0);
}

TEST_CASE_TEMPLATE_DEFINE("saturating_rounding_doubling_high_mul: batch == scalar", A, srdhm_test) {
    using batch = xsimd::batch<std::int32_t, A>;
    INFO("arch " << std::string(A::name()));
    std::mt19937 rng(22);
    const pairs edges = edge_pairs(batch::size);
    const std::vector<std::int32_t> ra = random_values(random_cases, rng), rb = random_values(random_cases, rng);
    const auto simd = [](batch a, batch b, batch) { return qtl::saturating_rounding_doubling_high_mul(a, b); };
    const auto scalar = [](std::int32_t a, std::int32_t b, std::int32_t) { return qtl::saturating_rounding_doubling_high_mul(a, b); };
    CHECK(mismatches<A>(edges.a, edges.b, edges.a, simd, scalar) == 0);
    CHECK(mismatches<A>(ra, rb, ra, simd, scalar) == 0);
}

TEST_CASE_TEMPLATE_DEFINE("rounding_divide_by_pot: batch == scalar, uniform and per-lane exponents", A, rdbpot_test) {
    using batch = xsimd::batch<std::int32_t, A>;
    INFO("arch " << std::string(A::name()));
    std::mt19937 rng(23);
    const pairs edges = edge_pairs(batch::size);
    const std::vector<std::int32_t> rx = random_values(random_cases / 8, rng);
    long bad = 0;
    for (int exponent = 0; exponent <= 31; ++exponent) {
        const auto simd = [exponent](batch x, batch, batch) { return qtl::rounding_divide_by_pot(x, exponent); };
        const auto scalar = [exponent](std::int32_t x, std::int32_t, std::int32_t) { return qtl::rounding_divide_by_pot(x, exponent); };
        bad += mismatches<A>(edges.a, edges.a, edges.a, simd, scalar);
        bad += mismatches<A>(rx, rx, rx, simd, scalar);
    }
    // Per-lane: every edge x with exponents cycling through 0..31 across lanes, then random.
    std::vector<std::int32_t> cycling(edges.a.size());
    for (std::size_t i = 0; i < cycling.size(); ++i) cycling[i] = static_cast<std::int32_t>((i / 3) % 32);
    const std::vector<std::int32_t> rx2 = random_values(random_cases, rng), re = random_shifts(random_cases, 0, 31, rng);
    const auto simd = [](batch x, batch e, batch) { return qtl::rounding_divide_by_pot(x, e); };
    const auto scalar = [](std::int32_t x, std::int32_t e, std::int32_t) { return qtl::rounding_divide_by_pot(x, e); };
    for (int rotation = 0; rotation < 32; rotation += edge_shift_step) {
        std::vector<std::int32_t> e(cycling.size());
        for (std::size_t i = 0; i < e.size(); ++i) e[i] = (cycling[i] + rotation) % 32;
        bad += mismatches<A>(edges.a, e, e, simd, scalar);
    }
    bad += mismatches<A>(rx2, re, re, simd, scalar);
    CHECK(bad == 0);
}

TEST_CASE_TEMPLATE_DEFINE("multiply_by_quantized_multiplier per tensor: batch == scalar, both policies", A, per_tensor_test) {
    using batch = xsimd::batch<std::int32_t, A>;
    INFO("arch " << std::string(A::name()));
    const std::vector<std::int32_t> edges = edge_values();
    std::mt19937 rng(24);
    std::vector<std::int32_t> xs = edges;  // edge x, topped up to 256 with random x
    while (xs.size() < 256 || xs.size() % batch::size != 0) xs.push_back(static_cast<std::int32_t>(rng()));
    const std::vector<std::int32_t> randoms = random_values(4096, rng);
    long bad = 0, lanes_checked = 0;
    const auto sweep = [&](auto policy, int shift, std::int32_t m, const std::vector<std::int32_t>& x) {
        using Policy = decltype(policy);
        const auto simd = [&](batch v, batch, batch) { return qtl::multiply_by_quantized_multiplier<Policy>(v, m, shift); };
        const auto scalar = [&](std::int32_t v, std::int32_t, std::int32_t) {
            return qtl::multiply_by_quantized_multiplier<Policy>(v, m, shift);
        };
        bad += mismatches<A>(x, x, x, simd, scalar);
        lanes_checked += static_cast<long>(x.size());
    };
    // Every shift (double rounding also past 31, where the left shift wraps to 0),
    // every edge multiplier, edge and random x.
    for (int shift = -31; shift <= 33; shift += (shift >= 28 || shift <= -28) ? 1 : edge_shift_step) {
        for (std::int32_t m : edges) {
            sweep(qtl::double_rounding{}, shift, m, xs);
            if (shift <= 30) sweep(qtl::single_rounding{}, shift, m, xs);
        }
    }
    // Random multipliers and shifts, a batch of random x each.
    std::uniform_int_distribution<int> shifts(-31, 30);
    const std::vector<std::int32_t> ms = random_values(random_cases / 4096, rng);
    for (std::int32_t m : ms) {
        const int shift = shifts(rng);
        sweep(qtl::double_rounding{}, shift, m, randoms);
        sweep(qtl::single_rounding{}, shift, m, randoms);
    }
    CHECK(bad == 0);
    CHECK(lanes_checked > 1000000);
    // The quantized_multiplier overload and the default policy.
    const batch x(1004);
    CHECK(qtl::multiply_by_quantized_multiplier(x, qtl::quantized_multiplier{1 << 30, -2}).get(0) == 126);
    CHECK(qtl::multiply_by_quantized_multiplier<qtl::single_rounding>(batch(-900), qtl::quantized_multiplier{1 << 30, -2}).get(0) == -112);
}

TEST_CASE_TEMPLATE_DEFINE("multiply_by_quantized_multiplier per lane: batch == scalar, both policies", A, per_lane_test) {
    using batch = xsimd::batch<std::int32_t, A>;
    INFO("arch " << std::string(A::name()));
    std::mt19937 rng(25);
    const pairs edges = edge_pairs(batch::size);
    long bad = 0;
    // Edge x edge pairs, with the shift of each lane cycling through the valid range.
    for (int rotation = 0; rotation < 64; rotation += edge_shift_step) {
        std::vector<std::int32_t> s(edges.a.size());
        for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<std::int32_t>((i + static_cast<std::size_t>(rotation)) % 62) - 31;
        bad += mismatches<A>(
            edges.a, edges.b, s, [](batch x, batch m, batch sh) { return qtl::multiply_by_quantized_multiplier<qtl::double_rounding>(x, m, sh); },
            [](std::int32_t x, std::int32_t m, std::int32_t sh) { return qtl::multiply_by_quantized_multiplier<qtl::double_rounding>(x, m, sh); });
        bad += mismatches<A>(
            edges.a, edges.b, s, [](batch x, batch m, batch sh) { return qtl::multiply_by_quantized_multiplier<qtl::single_rounding>(x, m, sh); },
            [](std::int32_t x, std::int32_t m, std::int32_t sh) { return qtl::multiply_by_quantized_multiplier<qtl::single_rounding>(x, m, sh); });
    }
    const std::vector<std::int32_t> rx = random_values(random_cases, rng), rm = random_values(random_cases, rng);
    const std::vector<std::int32_t> double_shifts = random_shifts(random_cases, -31, 40, rng);  // wraps past 31
    const std::vector<std::int32_t> single_shifts = random_shifts(random_cases, -31, 30, rng);
    bad += mismatches<A>(
        rx, rm, double_shifts, [](batch x, batch m, batch sh) { return qtl::multiply_by_quantized_multiplier<qtl::double_rounding>(x, m, sh); },
        [](std::int32_t x, std::int32_t m, std::int32_t sh) { return qtl::multiply_by_quantized_multiplier<qtl::double_rounding>(x, m, sh); });
    bad += mismatches<A>(
        rx, rm, single_shifts, [](batch x, batch m, batch sh) { return qtl::multiply_by_quantized_multiplier<qtl::single_rounding>(x, m, sh); },
        [](std::int32_t x, std::int32_t m, std::int32_t sh) { return qtl::multiply_by_quantized_multiplier<qtl::single_rounding>(x, m, sh); });
    CHECK(bad == 0);
    // The default policy is double rounding.
    CHECK(qtl::multiply_by_quantized_multiplier(batch(5), batch(1 << 30), batch(-1)).get(0) == 2);
}

TEST_CASE_TEMPLATE_APPLY(widening_multiply_test, tested_archs);
TEST_CASE_TEMPLATE_APPLY(srdhm_test, tested_archs);
TEST_CASE_TEMPLATE_APPLY(rdbpot_test, tested_archs);
TEST_CASE_TEMPLATE_APPLY(per_tensor_test, tested_archs);
TEST_CASE_TEMPLATE_APPLY(per_lane_test, tested_archs);
