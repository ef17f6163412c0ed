#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <tuple>
#include <vector>

#include <gemmlowp/fixedpoint/fixedpoint.h>
#include <xsimd/xsimd.hpp>

#include "qtl/core/error.hpp"
#include "qtl/ops/reference/softmax.hpp"
#include "qtl/ops/softmax.hpp"
#include "support/ops_testing.hpp"

// SOFTMAX: the gemmlowp primitives against gemmlowp itself, the int8
// reference against a softmax composed from gemmlowp's FixedPoint types,
// hand-computed rows, SIMD == reference on random rows at tile-edge depths
// for every arch, float bounds, errors.

namespace {

using qtl::ops::softmax_params;
namespace sm = qtl::ops::detail::softmax_op;

using qtl::test::tested_archs;

template <class T>
std::vector<T> run_reference(const qtl::ops::softmax_prepared<T>& p, const std::vector<T>& in) {
    std::vector<T> out(in.size());
    qtl::ops::reference::eval(p, qtl::tensor_view<const T>(in, p.shape), qtl::tensor_view<T>(out, p.shape));
    return out;
}

template <class T, class A = xsimd::default_arch>
std::vector<T> run_simd(const qtl::ops::softmax_prepared<T>& p, const std::vector<T>& in) {
    std::vector<T> out(in.size());
    qtl::ops::eval<T, A>(p, qtl::tensor_view<const T>(in, p.shape), qtl::tensor_view<T>(out, p.shape));
    return out;
}

// Inputs that stress the primitives: every power of two and its neighbours, plus random values.
std::vector<std::int32_t> edge_and_random_int32(std::int32_t lo, std::int32_t hi, std::size_t random_count) {
    std::vector<std::int32_t> v{lo, hi, 0, 1, -1};
    for (int k = 0; k < 31; ++k) {
        for (const std::int64_t base : {std::int64_t{1} << k, -(std::int64_t{1} << k)}) {
            for (int delta = -1; delta <= 1; ++delta) {
                const std::int64_t x = base + delta;
                if (x >= lo && x <= hi) v.push_back(static_cast<std::int32_t>(x));
            }
        }
    }
    std::mt19937 rng(99);
    std::uniform_int_distribution<std::int32_t> dist(lo, hi);
    for (std::size_t i = 0; i < random_count; ++i) v.push_back(dist(rng));
    return v;
}

}  // namespace

TEST_CASE("softmax fixed point: exp_on_negative_values and its pieces equal gemmlowp") {
    using F5 = gemmlowp::FixedPoint<std::int32_t, 5>;
    using F0 = gemmlowp::FixedPoint<std::int32_t, 0>;
    int mismatches = 0;
    // exp on Q5.26 inputs in [-32, 0]: a dense sweep plus edges.
    auto inputs = edge_and_random_int32(std::numeric_limits<std::int32_t>::min(), 0, 200000);
    for (std::int64_t a = std::numeric_limits<std::int32_t>::min(); a <= 0; a += 4099) inputs.push_back(static_cast<std::int32_t>(a));
    for (const std::int32_t a : inputs) {
        const std::int32_t expected = gemmlowp::exp_on_negative_values(F5::FromRaw(a)).raw();
        mismatches += sm::exp_on_negative_values_q5_26(a) != expected;
    }
    CHECK(mismatches == 0);
    // The quarter-interval polynomial alone, on its domain [-1/4, 0) in Q0.31.
    mismatches = 0;
    for (const std::int32_t a : edge_and_random_int32(-(1 << 29), -1, 100000))
        mismatches += sm::exp_on_interval_between_negative_one_quarter_and_0_excl(a) !=
                      gemmlowp::exp_on_interval_between_negative_one_quarter_and_0_excl(F0::FromRaw(a)).raw();
    CHECK(mismatches == 0);
    // RoundingHalfSum and the saturating shifts over the whole int32 range.
    mismatches = 0;
    const auto any = edge_and_random_int32(std::numeric_limits<std::int32_t>::min(), std::numeric_limits<std::int32_t>::max(), 100000);
    for (std::size_t i = 0; i + 1 < any.size(); ++i) {
        mismatches += sm::rounding_half_sum(any[i], any[i + 1]) != gemmlowp::RoundingHalfSum(any[i], any[i + 1]);
        mismatches += sm::saturating_shift_left<1>(any[i]) != gemmlowp::SaturatingRoundingMultiplyByPOT<1>(any[i]);
        mismatches += sm::saturating_shift_left<2>(any[i]) != gemmlowp::SaturatingRoundingMultiplyByPOT<2>(any[i]);
        mismatches += sm::saturating_shift_left<5>(any[i]) != gemmlowp::SaturatingRoundingMultiplyByPOT<5>(any[i]);
    }
    CHECK(mismatches == 0);
}

TEST_CASE("softmax fixed point: one_over_one_plus_x_for_x_in_0_1 and the reciprocal equal gemmlowp") {
    using F0 = gemmlowp::FixedPoint<std::int32_t, 0>;
    auto inputs = edge_and_random_int32(0, std::numeric_limits<std::int32_t>::max(), 200000);
    for (std::int64_t a = 0; a <= std::numeric_limits<std::int32_t>::max(); a += 4093) inputs.push_back(static_cast<std::int32_t>(a));
    int mismatches = 0;
    for (const std::int32_t a : inputs)
        mismatches += sm::one_over_one_plus_x_for_x_in_0_1(a) != gemmlowp::one_over_one_plus_x_for_x_in_0_1(F0::FromRaw(a)).raw();
    CHECK(mismatches == 0);
    // reciprocal(x) in Q12.19: 1 / x = result 2^-bits; checked in float against 1 / x.
    for (const std::int32_t x : {1 << 19, 3 << 18, (1 << 19) + 1, 1 << 27, (1 << 28) - 1, 123456789}) {
        int bits = 0;
        const std::int32_t r = sm::reciprocal(x, 12, bits);
        const double value = double(x) / (1 << 19);
        CHECK(std::abs(r / 2147483648.0 / std::exp2(bits) - 1.0 / value) < 1e-8 / value);
    }
}

namespace {

// TFLite's int8 softmax algorithm composed from gemmlowp's own FixedPoint
// types (the test's oracle for reference::eval): the prepared multiplier,
// shift and diff_min come from prepare() and are checked separately.
std::vector<std::int8_t> gemmlowp_softmax_row(const std::vector<std::int8_t>& row, std::int32_t multiplier, int left_shift,
                                              std::int32_t diff_min) {
    using FixedPointScaledDiff = gemmlowp::FixedPoint<std::int32_t, 5>;
    using FixedPointAccum = gemmlowp::FixedPoint<std::int32_t, 12>;
    using FixedPoint0 = gemmlowp::FixedPoint<std::int32_t, 0>;
    const std::int32_t max_in_row = *std::max_element(row.begin(), row.end());
    auto exp_of = [&](std::int32_t d) {
        const std::int32_t rescaled = gemmlowp::SaturatingRoundingDoublingHighMul(d * (1 << left_shift), multiplier);
        return gemmlowp::exp_on_negative_values(FixedPointScaledDiff::FromRaw(rescaled));
    };
    FixedPointAccum sum = FixedPointAccum::Zero();
    for (const std::int8_t q : row)
        if (q - max_in_row >= diff_min) sum = sum + gemmlowp::Rescale<12>(exp_of(q - max_in_row));
    const int headroom_plus_one = __builtin_clz(static_cast<std::uint32_t>(sum.raw()));
    const int num_bits_over_unit = 12 - headroom_plus_one;
    const auto shifted_minus_one =
        static_cast<std::int32_t>((static_cast<std::uint32_t>(sum.raw()) << headroom_plus_one) - (1u << 31));
    const FixedPoint0 scale = gemmlowp::one_over_one_plus_x_for_x_in_0_1(FixedPoint0::FromRaw(shifted_minus_one));
    const int exponent = num_bits_over_unit + 31 - 8;
    std::vector<std::int8_t> out;
    for (const std::int8_t q : row) {
        if (q - max_in_row < diff_min) {
            out.push_back(-128);
            continue;
        }
        const std::int32_t unsat = gemmlowp::RoundingDivideByPOT((scale * exp_of(q - max_in_row)).raw(), exponent);
        out.push_back(static_cast<std::int8_t>(std::clamp(unsat - 128, -128, 127)));
    }
    return out;
}

}  // namespace

TEST_CASE("SOFTMAX int8 prepare: TFLite's multiplier, shift and diff_min by hand") {
    // beta 1, input scale 1/16: beta * s * 2^26 = 2^22 = 0.5 * 2^23 -> Q31 2^30, left shift 23.
    // diff_min = -floor(31 * 2^26 / 2^23) = -248: differences below -248 / 16 = -15.5 count as exp = 0.
    const auto p = qtl::ops::prepare(softmax_params<std::int8_t>{{1, 4}, 1.0f / 16, 0});
    CHECK(p.input_multiplier == (1 << 30));
    CHECK(p.input_left_shift == 23);
    CHECK(p.diff_min == -248);
    CHECK(p.rows == 1);
    CHECK(p.depth == 4);
}

TEST_CASE("SOFTMAX int8 reference == softmax composed from gemmlowp's FixedPoint, random rows") {
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> log_scale(-8.0f, 0.0f);
    std::uniform_int_distribution<int> q(-128, 127);
    for (int trial = 0; trial < 200; ++trial) {
        const std::int32_t depth = 1 + trial % 37;
        const float scale = std::exp2(log_scale(rng)), beta = trial % 3 == 0 ? 1.0f : 0.5f + trial % 5;
        const auto p = qtl::ops::prepare(softmax_params<std::int8_t>{{depth}, scale, q(rng), 1.0f / 256, -128, beta});
        std::vector<std::int8_t> row(static_cast<std::size_t>(depth));
        for (auto& v : row) v = static_cast<std::int8_t>(q(rng));
        CHECK(run_reference(p, row) == gemmlowp_softmax_row(row, p.input_multiplier, p.input_left_shift, p.diff_min));
    }
}

TEST_CASE("SOFTMAX int8 by hand: equal logits give 1/n") {
    // Every difference is 0, exp(0) is Q0.31 max, rescaled to Q12.19 it is 2^19, so the sum is
    // n 2^19.  n = 4: clz(2^21) = 10, num_bits_over_unit = 2, 1/sum = one_over_one_plus_x(0)
    // ~ 2^31, shift 25: (2^31 - 2) / 2^25 rounds to 64 -> 64 - 128 = -64 (0.25 * 256 - 128).
    // n = 2: 128 -> 0 (0.5).  n = 1: 256 -> 128, clamped to 127.
    for (const auto& [n, expected] : {std::pair{4, -64}, std::pair{2, 0}, std::pair{1, 127}}) {
        const auto p = qtl::ops::prepare(softmax_params<std::int8_t>{{2, n}, 0.1f, 3});
        const std::vector<std::int8_t> in(static_cast<std::size_t>(2 * n), 17);
        const std::vector<std::int8_t> want(in.size(), static_cast<std::int8_t>(expected));
        CHECK(run_reference(p, in) == want);
        CHECK(run_simd(p, in) == want);
    }
}

TEST_CASE("SOFTMAX int8 by hand: two logits one apart") {
    // Input scale 1/16, q = 0 and -16 (x = 0 and -1): p = 1 / (1 + e^-1) = 0.7310586 and
    // 0.2689414; 256 p = 187.15 and 68.85 -> 187 - 128 = 59 and 69 - 128 = -59.
    // beta 2 doubles the difference: p = 0.8807971, 0.1192029 -> 225.48, 30.52 -> 97, -97.
    const std::vector<std::int8_t> in{0, -16};
    CHECK(run_reference(qtl::ops::prepare(softmax_params<std::int8_t>{{2}, 1.0f / 16, 0}), in) ==
          std::vector<std::int8_t>{59, -59});
    const auto p2 = qtl::ops::prepare(softmax_params<std::int8_t>{{2}, 1.0f / 16, 0, 1.0f / 256, -128, 2.0f});
    CHECK(run_reference(p2, in) == std::vector<std::int8_t>{97, -97});
    CHECK(run_simd(p2, in) == std::vector<std::int8_t>{97, -97});
}

TEST_CASE("SOFTMAX int8 by hand: differences below diff_min count as zero") {
    // Input scale 1, beta 1: M = 2^26 = 0.5 * 2^27, left shift 27, diff_min = -floor(31 / 2) = -15.
    // Row {0, -15, -16}: -16 < diff_min -> -128 without computing exp(-16); exp(-15) = 3.1e-7
    // rounds to -128 as well; the max gets 1 / (1 + 3.1e-7) -> 256 -> clamped 127.
    const auto p = qtl::ops::prepare(softmax_params<std::int8_t>{{3}, 1.0f, 0});
    CHECK(p.diff_min == -15);
    CHECK(p.exp_of_difference[16] == 0);
    CHECK(p.exp_of_difference[15] != 0);
    const std::vector<std::int8_t> in{0, -15, -16};
    CHECK(run_reference(p, in) == std::vector<std::int8_t>{127, -128, -128});
    CHECK(run_simd(p, in) == std::vector<std::int8_t>{127, -128, -128});
}

TEST_CASE("SOFTMAX int16 by hand: equal logits give about 1/n, one dominant logit about 1") {
    // exp(0) comes from the top segment of the exp table: lut[511] ~ 32768 exp(-10/512) =
    // 32134, lut[512] = 32767, so e = lut[511] + (633 * 127 + 64) >> 7 ~ 32762.  For n = 4,
    // sum = 131048, clz = 15: shifted sum 131048 -> x = 32744 in the reciprocal table,
    // 1 / (1 + 0.99965) ~ 16387 (Q0.15), and (32762 * 16387 + 2^15) >> 16 = 8192.
    // The table entries carry TFLite's interpolation bias, so allow 3 LSB.
    for (const int n : {1, 2, 4, 5, 10}) {
        const auto p = qtl::ops::prepare(softmax_params<std::int16_t>{{n}, 0.001f, 0});
        const std::vector<std::int16_t> in(static_cast<std::size_t>(n), 1234);
        const auto out = run_reference(p, in);
        for (const auto v : out) CHECK(std::abs(v - std::min(32768.0 / n, 32767.0)) <= 3.0);
        CHECK(run_simd(p, in) == out);
    }
    // One logit 30 units above the rest (beta * scale * 30 = 30 > 10: the rest fall off the
    // exp table and contribute its smallest entry, ~exp(-10)).
    const auto p = qtl::ops::prepare(softmax_params<std::int16_t>{{3}, 1.0f, 0});
    const auto out = run_reference(p, std::vector<std::int16_t>{30, 0, -30});
    CHECK(out[0] >= 32764);
    CHECK(out[1] <= 2);
    CHECK(out[2] <= 2);
}

namespace {

template <class T, class A>
void check_simd_matches_reference() {
    std::mt19937 rng(2024);
    std::uniform_real_distribution<float> log_scale(std::is_same_v<T, std::int8_t> ? -8.0f : -14.0f,
                                                    std::is_same_v<T, std::int8_t> ? 1.0f : -3.0f);
    std::uniform_real_distribution<float> beta_dist(0.2f, 3.0f);
    std::uniform_int_distribution<int> value(std::numeric_limits<T>::min(), std::numeric_limits<T>::max());
    std::uniform_int_distribution<int> zp(-128, 127);
    constexpr std::int32_t lanes = xsimd::batch<std::int32_t, A>::size;
    for (const std::int32_t depth : {1, lanes - 1, lanes, lanes + 1, 2 * lanes + 1, 10, 100, 511, 513}) {
        for (const std::int32_t rows : {1, 3}) {
            if (depth < 1) continue;
            const float scale = std::exp2(log_scale(rng)), beta = beta_dist(rng);
            const std::int32_t in_zp = std::is_same_v<T, std::int8_t> ? zp(rng) : 0;
            const auto p = qtl::ops::prepare(softmax_params<T>{{rows, depth}, scale, in_zp,
                                                               std::is_same_v<T, std::int8_t> ? 1.0f / 256 : 1.0f / 32768,
                                                               std::is_same_v<T, std::int8_t> ? -128 : 0, beta});
            std::vector<T> in(static_cast<std::size_t>(rows * depth));
            // Narrow the spread of some rows so that many elements stay significant.
            const int spread = depth % 2 ? 20 : (std::numeric_limits<T>::max() - std::numeric_limits<T>::min());
            const int base = value(rng) / 2;
            for (auto& v : in)
                v = static_cast<T>(std::clamp(base + value(rng) % (spread + 1), int(std::numeric_limits<T>::min()),
                                              int(std::numeric_limits<T>::max())));
            bool fits = true;  // int8 rows whose sum reaches 512 throw in both paths (tested below)
            try {
                const auto reference = run_reference(p, in);
                CAPTURE(depth);
                CHECK((run_simd<T, A>(p, in) == reference));
            } catch (const qtl::error&) {
                fits = false;
            }
            if (!fits) CHECK_THROWS_AS((run_simd<T, A>(p, in)), qtl::error);
        }
    }
}

template <class... A>
void check_all_archs(std::tuple<A...>*) {
    (check_simd_matches_reference<std::int8_t, A>(), ...);
    (check_simd_matches_reference<std::int16_t, A>(), ...);
}

}  // namespace

TEST_CASE("SOFTMAX: SIMD eval == reference eval on random rows, every arch, tile-edge depths") {
    check_all_archs(static_cast<tested_archs*>(nullptr));
}

TEST_CASE("SOFTMAX in place: output aliasing the input") {
    std::vector<std::int8_t> a(3 * 70);
    std::vector<std::int16_t> b(3 * 70);
    for (std::size_t i = 0; i < a.size(); ++i) {
        a[i] = static_cast<std::int8_t>(i * 13);
        b[i] = static_cast<std::int16_t>(i * 1301);
    }
    const auto p8 = qtl::ops::prepare(softmax_params<std::int8_t>{{3, 70}, 0.05f, 1});
    const auto p16 = qtl::ops::prepare(softmax_params<std::int16_t>{{3, 70}, 0.0003f, 0});
    const auto expected8 = run_reference(p8, a);
    const auto expected16 = run_reference(p16, b);
    auto a2 = a;
    auto b2 = b;
    qtl::ops::eval(p8, qtl::tensor_view<const std::int8_t>(a, p8.shape), qtl::tensor_view<std::int8_t>(a, p8.shape));
    qtl::ops::eval(p16, qtl::tensor_view<const std::int16_t>(b, p16.shape), qtl::tensor_view<std::int16_t>(b, p16.shape));
    qtl::ops::reference::eval(p8, qtl::tensor_view<const std::int8_t>(a2, p8.shape), qtl::tensor_view<std::int8_t>(a2, p8.shape));
    qtl::ops::reference::eval(p16, qtl::tensor_view<const std::int16_t>(b2, p16.shape),
                              qtl::tensor_view<std::int16_t>(b2, p16.shape));
    CHECK(a == expected8);
    CHECK(b == expected16);
    CHECK(a2 == expected8);
    CHECK(b2 == expected16);
}

namespace {

// softmax(beta * x) of one row in double.
std::vector<double> float_softmax(const std::vector<double>& x, double beta) {
    const double m = *std::max_element(x.begin(), x.end());
    std::vector<double> e(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) e[i] = std::exp(beta * (x[i] - m));
    const double sum = std::accumulate(e.begin(), e.end(), 0.0);
    for (auto& v : e) v /= sum;
    return e;
}

}  // namespace

TEST_CASE("SOFTMAX int8 reference vs float math: within half an output step (+1e-4)") {
    // Each exp is accurate to ~2^-29; rounding each to Q12.19 for the sum costs at most
    // depth * 2^-20 relative (<= 1e-4 for depth <= 100); the reciprocal ~2^-29; the final
    // rounding 0.5 / 256.  Probabilities above 255.5 / 256 clamp to 127: the truth is clamped too.
    std::mt19937 rng(8);
    std::uniform_int_distribution<int> q(-128, 127);
    double worst = 0;
    for (int trial = 0; trial < 100; ++trial) {
        const std::int32_t depth = 2 + trial % 99;
        const float scale = trial % 2 ? 0.05f : 0.11f;
        const float beta = trial % 3 ? 1.0f : 0.7f;
        const auto p = qtl::ops::prepare(softmax_params<std::int8_t>{{depth}, scale, -3, 1.0f / 256, -128, beta});
        std::vector<std::int8_t> row(static_cast<std::size_t>(depth));
        std::vector<double> x(row.size());
        for (std::size_t i = 0; i < row.size(); ++i) {
            row[i] = static_cast<std::int8_t>(q(rng));
            x[i] = (row[i] + 3) * double(scale);
        }
        const auto out = run_reference(p, row);
        const auto truth = float_softmax(x, beta);
        for (std::size_t i = 0; i < row.size(); ++i)
            worst = std::max(worst, std::abs((out[i] + 128) / 256.0 - std::min(truth[i], 255.0 / 256)));
    }
    CHECK(worst <= 0.5 / 256 + 1e-4);
}

TEST_CASE("SOFTMAX int16 tables vs exp and 1 / (1 + x): within 6 and 2 LSB") {
    // TFLite's exp table spans [-10, 0] and its last entry is clamped to 32767, which with
    // the midpoint bias leaves the top segments up to ~6 LSB (of 1/32767.5) low; the
    // reciprocal table of 1 / (1 + x) on [0, 1] stays within 2.
    const auto p = qtl::ops::prepare(softmax_params<std::int16_t>{{4}, 0.001f, 0});
    double worst_exp = 0, worst_reciprocal = 0;
    for (std::int32_t v = -32768; v <= 32767; ++v) {
        const auto q = static_cast<std::int16_t>(v);
        worst_exp = std::max(worst_exp, std::abs(p.exp_lut(q) - 32767.5 * std::exp((v - 32767) * (10.0 / 65535))));
        worst_reciprocal =
            std::max(worst_reciprocal, std::abs(p.reciprocal_lut(q) - 32767.5 / (1.0 + (v + 32768) / 65535.0)));
    }
    CHECK(worst_exp <= 6.0);
    CHECK(worst_reciprocal <= 2.0);
}

TEST_CASE("SOFTMAX int16 reference vs float math: within the tables' error budget") {
    // In LSB (1/32768) units, with T_j = 32767.5 exp(x_j - max) and the table's E_j:
    //   |E_j - T_j| <= 6 where x_j - max >= -10 (table test above), and E_j <= 2, T_j < 1.5
    //   below -10 (the table's floor), so the sum S = sum E_j (>= 32756, the max's entry) is
    //   off by at most 6 n_near + 2 n_far.  Then out_i / 32768 = E_i / S (1 +- reciprocal table
    //   1.2e-4 +- 14-bit sum truncation 1.5e-5) +- 0.5 final rounding, so
    //   |out_i - 32768 p_i| <= 6 + 0.5 + p_i (4.5 + 6 n_near + 2 n_far) (+ 0.1 for S vs 32768).
    std::mt19937 rng(9);
    std::uniform_int_distribution<int> q(-32768, 32767);
    int checked = 0;
    double worst = 0;
    for (int trial = 0; trial < 100; ++trial) {
        const std::int32_t depth = 2 + trial % 50;
        const float scale = trial % 2 ? 0.0003f : 0.0001f;
        const auto p = qtl::ops::prepare(softmax_params<std::int16_t>{{depth}, scale, 0});
        std::vector<std::int16_t> row(static_cast<std::size_t>(depth));
        std::vector<double> x(row.size());
        for (std::size_t i = 0; i < row.size(); ++i) {
            row[i] = static_cast<std::int16_t>(q(rng));
            x[i] = row[i] * double(scale);
        }
        const auto out = run_reference(p, row);
        const auto truth = float_softmax(x, 1.0);
        const double max_x = *std::max_element(x.begin(), x.end());
        const auto n_far = static_cast<double>(std::count_if(x.begin(), x.end(), [&](double v) { return v - max_x < -10; }));
        const double n_near = depth - n_far;
        for (std::size_t i = 0; i < row.size(); ++i) {
            const double error = std::abs(out[i] - std::min(truth[i] * 32768.0, 32767.0));
            const double bound = 6.6 + truth[i] * (4.5 + 6 * n_near + 2 * n_far);
            worst = std::max(worst, error / bound);
            CHECK(error <= bound);
            ++checked;
        }
    }
    MESSAGE("int16 softmax: worst error is ", worst, " of its bound over ", checked, " outputs");
}

TEST_CASE("SOFTMAX errors name the op and what is wrong") {
    using qtl::error;
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(softmax_params<std::int8_t>{{2, 3}, 0.1f, 0, 1.0f / 256, -128, 1.0f, 0}),
                         "SOFTMAX: TFLite normalizes the last axis only: axis must be -1 or 1, got 0", error);
    CHECK_NOTHROW(qtl::ops::prepare(softmax_params<std::int8_t>{{2, 3}, 0.1f, 0, 1.0f / 256, -128, 1.0f, 1}));
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(softmax_params<std::int8_t>{{}, 0.1f, 0}),
                         "SOFTMAX: the input must have rank >= 1, got a scalar", error);
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(softmax_params<std::int16_t>{{1, 1, 1, 2, 3}, 0.1f, 0}),
                         "SOFTMAX: TFLite's int16 kernel supports ranks 1 to 4, got rank 5", error);
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(softmax_params<std::int8_t>{{3}, 0.1f, 0, 1.0f / 256, 0}),
                         "SOFTMAX: int8 output must have scale 1/256 and zero point -128, got scale 0.00390625 and "
                         "zero point 0",
                         error);
    CHECK_THROWS_AS(qtl::ops::prepare(softmax_params<std::int8_t>{{3}, 0.1f, 0, 1.0f / 200, -128}), error);
    CHECK_NOTHROW(qtl::ops::prepare(softmax_params<std::int8_t>{{3}, 0.1f, 0, 1.0005f / 256, -128}));  // TFLite's 0.1%
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(softmax_params<std::int16_t>{{3}, 0.1f, 0, 1.0f / 256, 0}),
                         "SOFTMAX: int16 output must have scale 1/32768 and zero point 0, got scale 0.00390625 and "
                         "zero point 0",
                         error);
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(softmax_params<std::int16_t>{{3}, 0.1f, 5}),
                         "SOFTMAX: input zero point must be 0 for int16 (16x8) tensors, got 5", error);
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(softmax_params<std::int8_t>{{3}, 0.1f, -300}),
                         "SOFTMAX: input zero point must lie in [-128, 127], got -300", error);
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(softmax_params<std::int8_t>{{3}, 0.1f, 0, 1.0f / 256, -128, 0.0f}),
                         "SOFTMAX: beta must be finite and > 0, got 0", error);
    CHECK_THROWS_AS(qtl::ops::prepare(softmax_params<std::int8_t>{{3}, std::numeric_limits<float>::quiet_NaN(), 0}),
                    error);
    // beta * s * 2^26 = 0.67 <= 1: TFLite's QuantizeMultiplierGreaterThanOne check fails.
    CHECK_THROWS_AS(qtl::ops::prepare(softmax_params<std::int8_t>{{3}, 1e-8f, 0}), error);
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(softmax_params<std::int16_t>{{70000}, 0.001f, 0}),
                         "SOFTMAX: the last dimension (70000) is too long for the int16 kernel's int32 sum (at most "
                         "65538)",
                         error);
    CHECK_THROWS_AS(qtl::ops::prepare(softmax_params<std::int16_t>{{3}, 100.0f, 0}), error);  // rescale overflows int32

    // 512 equal int8 logits: the sum of exps is exactly 512, TFLite's kernel aborts.
    const auto p = qtl::ops::prepare(softmax_params<std::int8_t>{{2, 512}, 0.1f, 0});
    std::vector<std::int8_t> in(1024, 5), out(1024);
    in[0] = 6;  // row 0 sums to less than 512 (its other exps are exp(-0.1))
    CHECK_THROWS_WITH_AS(qtl::ops::eval(p, qtl::tensor_view<const std::int8_t>(in, p.shape),
                                        qtl::tensor_view<std::int8_t>(out, p.shape)),
                         "SOFTMAX: row 1: the sum of exponentials is 512 >= 512, beyond what TFLite's int8 kernel can "
                         "normalize (it aborts); use fewer classes, a smaller beta or 16x8 mode",
                         error);
    CHECK_THROWS_AS(qtl::ops::reference::eval(p, qtl::tensor_view<const std::int8_t>(in, p.shape),
                                              qtl::tensor_view<std::int8_t>(out, p.shape)),
                    error);
    std::vector<std::int8_t> short_out(10);
    CHECK_THROWS_WITH_AS(qtl::ops::eval(p, qtl::tensor_view<const std::int8_t>(in, p.shape),
                                        qtl::tensor_view<std::int8_t>(short_out, {10})),
                         "SOFTMAX: output shape [10] differs from the prepared [2, 512]", error);
}
