#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gemmlowp/fixedpoint/fixedpoint.h>

#include "qtl/kernels/register_requantize.hpp"

// kernels/register_requantize: the per-lane constants, the AVX2 register
// stage (also with uniform shifts) and the 16-lane AVX-512 stage, each in its
// three forms (one vector, two narrowed together, four narrowed together;
// AVX-512 also two rows of two vectors), against gemmlowp's scalar SaturatingRoundingDoublingHighMul and
// RoundingDivideByPOT (TFLite's MultiplyByQuantizedMultiplier), then the zero
// point and clamp, on edge accumulators, for every shift in [-31, 30] and
// every lane meeting every multiplier.  Both stages also in their
// one-rounding forms (one shift in [-23, -1] on every lane, the zero point in
// the 64-bit addend), and the AVX2 stage in its one_rounding_doubled form
// (accumulators below 2^30 in magnitude), which the AVX-512 stage has too,
// and both in the one_rounding_offset form (the same accumulators + 2^30).

namespace {

using qtl::kernels::make_register_requantize_constants;

std::int8_t gemmlowp_requantize(std::int32_t acc, qtl::quantized_multiplier qm, const qtl::requantize_params& out) {
    const int left = std::max(qm.shift, 0), right = std::max(-qm.shift, 0);
    const auto shifted = static_cast<std::int32_t>(static_cast<std::uint32_t>(acc) << left);  // wraps
    const std::int32_t scaled =
        gemmlowp::RoundingDivideByPOT(gemmlowp::SaturatingRoundingDoublingHighMul(shifted, qm.multiplier), right);
    const std::int64_t y = std::int64_t{scaled} + out.output_zero_point;
    return static_cast<std::int8_t>(std::clamp<std::int64_t>(y, out.activation_min, out.activation_max));
}

constexpr std::int32_t int32_lo = std::numeric_limits<std::int32_t>::min();
constexpr std::int32_t int32_hi = std::numeric_limits<std::int32_t>::max();

// Edge values and random ones, a multiple of 8 of them.
std::vector<std::int32_t> edge_accumulators() {
    constexpr std::int32_t lo = int32_lo, hi = int32_hi;
    std::mt19937 rng(31);
    std::vector<std::int32_t> values{lo, lo + 1, lo + 2, -(1 << 30) - 1, -(1 << 30), -(1 << 30) + 1, -65537, -65536,
                                     -32769, -256, -255, -129, -128, -3, -2, -1, 0, 1, 2, 3, 127, 128, 255, 256,
                                     32767, 65535, 65536, (1 << 30) - 1, 1 << 30, (1 << 30) + 1, hi - 2, hi - 1, hi};
    for (int i = 0; i < 160; ++i) values.push_back(static_cast<std::int32_t>(rng()));
    for (int i = 0; i < 40; ++i) values.push_back(std::uniform_int_distribution<std::int32_t>(-70000, 70000)(rng));
    while (values.size() % 8 != 0) values.push_back(0);
    return values;
}

// The one_rounding_doubled form's bound on |x|, and the edge values, those
// beyond it moved to it.
constexpr std::int32_t doubled_bound = (1 << 30) - 1;
std::vector<std::int32_t> doubled_form_accumulators() {
    std::vector<std::int32_t> values = edge_accumulators();
    for (std::int32_t& v : values) v = std::clamp(v, -doubled_bound, doubled_bound);
    return values;
}

// 16 lanes' multipliers with `shift`, but lane 7 (m 0, shift 0) and lane 12 (the opposite shift).
std::vector<qtl::quantized_multiplier> lane_multipliers(int shift) {
    constexpr std::int32_t hi = int32_hi;
    const std::int32_t multipliers[16] = {1 << 30,    (1 << 30) + 1, hi,         hi - 1,     1518500250, 1276901417,
                                          1732546160, 0,             1073741825, 2147483000, 1500000000, 1 << 30,
                                          hi,         1234567890,    0,          1999999999};
    std::vector<qtl::quantized_multiplier> qms;
    for (int l = 0; l < 16; ++l)
        qms.push_back({multipliers[l], l == 7 ? 0 : l == 12 ? std::clamp(-shift, -31, 30) : shift});
    return qms;
}

const qtl::requantize_params output_params[] = {{0, -128, 127}, {-5, -20, 30}, {127, 127, 127}, {-128, -128, -100}};

}  // namespace

TEST_CASE("register_requantize: constants per lane, per-tensor replicated, padding zero") {
    const std::vector<qtl::quantized_multiplier> per_channel{{1 << 30, -3}, {1518500250, 2}, {1276901417, -31}};
    const auto c = make_register_requantize_constants(per_channel, 3, 8);
    CHECK(c.usable);
    CHECK(c.left_shifts);
    CHECK(c.multiplier == std::vector<std::int32_t>{1 << 30, 1518500250, 1276901417, 0, 0, 0, 0, 0});
    CHECK(c.multiplier_odd == std::vector<std::int32_t>{1518500250, 0, 0, 0, 0, 0, 0, 0});
    CHECK(c.left == std::vector<std::int32_t>{0, 2, 0, 0, 0, 0, 0, 0});
    CHECK(c.right == std::vector<std::int32_t>{3, 0, 31, 0, 0, 0, 0, 0});
    CHECK(c.mask == std::vector<std::int32_t>{7, 0, 0x7FFFFFFF, 0, 0, 0, 0, 0});
    CHECK(c.half == std::vector<std::int32_t>{3, 0, 0x3FFFFFFF, 0, 0, 0, 0, 0});

    const std::vector<qtl::quantized_multiplier> per_tensor{{1 << 30, -1}};
    const auto t = make_register_requantize_constants(per_tensor, 3, 4);
    CHECK_FALSE(t.left_shifts);
    CHECK(t.multiplier == std::vector<std::int32_t>{1 << 30, 1 << 30, 1 << 30, 0});
    CHECK(t.multiplier_odd == std::vector<std::int32_t>{1 << 30, 0, 0, 0});
    CHECK(t.right == std::vector<std::int32_t>{1, 1, 1, 0});

    const std::vector<qtl::quantized_multiplier> saturating{{1 << 30, 0}, {int32_lo, 0}};
    CHECK_FALSE(make_register_requantize_constants(saturating, 2, 8).usable);
}

TEST_CASE("register_requantize: the one-rounding constants, by hand, and when they apply") {
    constexpr std::int64_t two30 = std::int64_t{1} << 30;
    // Lanes 0-2 shifts -1, -2, -23; lane 3 is padding (shift taken as -1); zero point -5.
    const std::vector<qtl::quantized_multiplier> qms{{1 << 30, -1}, {1518500250, -2}, {1276901417, -23}};
    const auto c = make_register_requantize_constants(qms, 3, 4, -5);
    REQUIRE(c.one_rounding);
    CHECK(c.zero_point == -5);
    // 2^30 + 2^(30+right) - 5 * 2^(31+right)
    CHECK(c.addend_even == std::vector<std::int64_t>{two30 + 2 * two30 - 5 * 4 * two30,
                                                     two30 + (two30 << 23) - 5 * (two30 << 24)});
    CHECK(c.addend_odd == std::vector<std::int64_t>{two30 + 4 * two30 - 5 * 8 * two30,
                                                    two30 + 2 * two30 - 5 * 4 * two30});
    CHECK(c.shift_even == std::vector<std::int64_t>{32, 54});
    CHECK(c.shift_odd == std::vector<std::int64_t>{33 - 32, 32 - 32});
    // AVX2's: + 2^63 modulo 2^64, and 2^31 less for negative products.  These
    // addends are negative (zero point -5), so + 2^63 stays within int64.
    for (std::size_t pair = 0; pair < 2; ++pair) {
        constexpr std::int64_t int64_lo = std::numeric_limits<std::int64_t>::min();
        REQUIRE(c.addend_even[pair] < 0);
        REQUIRE(c.addend_odd[pair] < 0);
        CHECK(c.logical_addend_even[pair] == c.addend_even[pair] - int64_lo);
        CHECK(c.logical_addend_odd[pair] == c.addend_odd[pair] - int64_lo);
        CHECK(c.logical_addend_even_negative[pair] == c.addend_even[pair] - int64_lo - 2 * two30);
        CHECK(c.logical_addend_odd_negative[pair] == c.addend_odd[pair] - int64_lo - 2 * two30);
    }
    // right - 1, and -2^(32 - right): the 2^(63 - 31 - right) the logical shifts leave.
    CHECK(c.logical_shift == std::vector<std::int32_t>{0, 1, 22, 0});
    CHECK(c.logical_correction == std::vector<std::int32_t>{int32_lo, -(1 << 30), -(1 << 9), int32_lo});

    const auto one_rounding = [](std::vector<qtl::quantized_multiplier> qms, std::int32_t zero_point) {
        return make_register_requantize_constants(qms, 2, 2, zero_point).one_rounding;
    };
    CHECK_FALSE(one_rounding({{1 << 30, 0}}, 0));    // no right shift
    CHECK_FALSE(one_rounding({{1 << 30, -24}}, 0));  // the 64-bit sum could overflow
    CHECK_FALSE(one_rounding({{1 << 30, -3}, {1 << 30, 2}}, 0));
    CHECK_FALSE(one_rounding({{1 << 30, -3}}, 128));
    CHECK(one_rounding({{1 << 30, -3}}, -128));
    CHECK(one_rounding({{1 << 30, -1}, {1 << 30, -23}}, 127));
}

#if QTL_KERNELS_X86_TARGETS
TEST_CASE("register_requantize: the AVX2 stage (one, two and four vectors) equals gemmlowp on edge values") {
    if (!qtl::kernels::detect_cpu_features().avx2) return;
    const std::vector<std::int32_t> values = edge_accumulators();
    std::size_t one_rounding = 0;
    for (const qtl::requantize_params out : output_params)
        for (int shift = -31; shift <= 30; ++shift)
            for (const bool same_shift : {false, true}) {
                CAPTURE(shift);
                CAPTURE(same_shift);
                CAPTURE(out.output_zero_point);
                // Mixed shifts run a two-rounding form; one shift in [-23, -1] everywhere, the one-rounding form.
                std::vector<qtl::quantized_multiplier> qms = lane_multipliers(shift);
                if (same_shift)
                    for (auto& qm : qms) qm.shift = shift;
                const auto c = make_register_requantize_constants(qms, 16, 16, out.output_zero_point);
                REQUIRE(c.usable);
                REQUIRE(c.one_rounding == (same_shift && shift >= -23 && shift <= -1));
                one_rounding += c.one_rounding;
                std::size_t checked = 0, wrong = 0;
                std::string first_wrong;
                // Lanes 0-7: channels [0, 8); lanes 8-15 (two_to_bytes' second vector): channels [8, 16).
                for (std::size_t i = 0; i < values.size(); i += 8)
                    for (std::size_t rot = 0; rot < 8; ++rot) {  // every value meets every lane's multiplier
                        std::int32_t acc[32];
                        for (std::size_t j = 0; j < 32; ++j) acc[j] = values[(i + j + rot) % values.size()];
                        std::int8_t one[8], two[16], four[32];
                        qtl::kernels::register_requantize_avx2::requantize_lanes(c, out, acc, 0, 8, one, two, four);
                        for (std::size_t j = 0; j < 32; ++j) {
                            const std::int8_t expected = gemmlowp_requantize(acc[j], qms[j % 8], out);
                            bool ok = four[j] == expected && (j >= 8 || one[j] == expected);
                            if (j < 16) ok = ok && two[j] == gemmlowp_requantize(acc[j], qms[j], out);
                            ++checked;
                            if (!ok && wrong++ == 0)
                                first_wrong = "acc " + std::to_string(acc[j]) + " lane " + std::to_string(j) +
                                              ": expected " + std::to_string(expected) + ", got four " +
                                              std::to_string(four[j]) +
                                              (j < 16 ? ", two " + std::to_string(two[j]) : "");
                        }
                    }
                CAPTURE(first_wrong);
                CHECK(checked == values.size() * 32);
                CHECK(wrong == 0);
            }
    CHECK(one_rounding == 23 * 4);
}

TEST_CASE("register_requantize: when the AVX2 one_rounding_doubled form applies, and its addends by hand") {
    const std::vector<qtl::quantized_multiplier> qms{{1 << 30, -1}, {1518500250, -23}, {0, -7}};
    constexpr std::int64_t below = (std::int64_t{1} << 30) - 1;
    const auto c = make_register_requantize_constants(qms, 3, 4, -5, below);
    REQUIRE(c.one_rounding_doubled);
    REQUIRE(c.doubled_addend_even.size() == 2);
    // 2^31 + 2^(31+right) + zp * 2^(32+right): lane 0 right 1, lane 1 right 23, lane 2 right 7,
    // lane 3 (padding) right 1.
    CHECK(c.doubled_addend_even[0] == (std::int64_t{1} << 31) + (std::int64_t{1} << 32) - 5 * (std::int64_t{1} << 33));
    CHECK(c.doubled_addend_odd[0] == (std::int64_t{1} << 31) + (std::int64_t{1} << 54) - 5 * (std::int64_t{1} << 55));
    CHECK(c.doubled_addend_even[1] == (std::int64_t{1} << 31) + (std::int64_t{1} << 38) - 5 * (std::int64_t{1} << 39));
    CHECK(c.doubled_addend_odd[1] == (std::int64_t{1} << 31) + (std::int64_t{1} << 32) - 5 * (std::int64_t{1} << 33));
    // one_rounding_offset: 2m per lane (odd lanes' also at the even lane before), and the
    // doubled addends less 2^31 m and 2^32.
    CHECK(c.offset_multiplier[0] == static_cast<std::int32_t>(std::uint32_t{1} << 31));
    CHECK(c.offset_multiplier[1] == static_cast<std::int32_t>(3037000500u));
    CHECK(c.offset_multiplier_odd[0] == static_cast<std::int32_t>(3037000500u));
    CHECK(c.offset_multiplier[2] == 0);
    CHECK(c.offset_multiplier[3] == 0);
    CHECK(c.offset_addend_even[0] ==
          c.doubled_addend_even[0] - (std::int64_t{1} << 61) - (std::int64_t{1} << 32));
    CHECK(c.offset_addend_odd[0] ==
          c.doubled_addend_odd[0] - std::int64_t{1518500250} * (std::int64_t{1} << 31) - (std::int64_t{1} << 32));
    CHECK(c.offset_addend_even[1] == c.doubled_addend_even[1] - (std::int64_t{1} << 32));
    CHECK_FALSE(make_register_requantize_constants(qms, 3, 4, -5).one_rounding_doubled);  // no bound given
    CHECK_FALSE(make_register_requantize_constants(qms, 3, 4, -5, below + 1).one_rounding_doubled);
    const std::vector<qtl::quantized_multiplier> negative{{-(1 << 30), -3}};
    CHECK_FALSE(make_register_requantize_constants(negative, 1, 2, 0, 1000).one_rounding_doubled);
    const std::vector<qtl::quantized_multiplier> no_right_shift{{1 << 30, 0}};
    CHECK_FALSE(make_register_requantize_constants(no_right_shift, 1, 2, 0, 1000).one_rounding_doubled);
    // The bound of a kernel's accumulators: |bias| + products * 255 * 128.
    CHECK(qtl::kernels::accumulator_bound(1000, 9) == 1000 + 9 * 255 * 128);
}

TEST_CASE("register_requantize: the AVX2 one_rounding_doubled and _offset stages equal gemmlowp where |x| < 2^30") {
    if (!qtl::kernels::detect_cpu_features().avx2) return;
    using qtl::kernels::register_requantize_avx2::lanes_stage;
    const std::vector<std::int32_t> values = doubled_form_accumulators();
    std::size_t checked = 0, wrong = 0;
    for (const lanes_stage which : {lanes_stage::one_rounding_doubled, lanes_stage::one_rounding_offset})
        for (const qtl::requantize_params out : output_params)
            for (int shift = -23; shift <= -1; ++shift) {
                std::vector<qtl::quantized_multiplier> qms = lane_multipliers(shift);  // 0 in lanes 7 and 14
                for (auto& qm : qms) qm.shift = shift;
                const auto c = make_register_requantize_constants(qms, 16, 16, out.output_zero_point, doubled_bound);
                REQUIRE(c.one_rounding_doubled);
                for (std::size_t i = 0; i < values.size(); i += 8)
                    for (std::size_t rot = 0; rot < 8; ++rot) {  // every value meets every lane's multiplier
                        std::int32_t acc[32];
                        for (std::size_t j = 0; j < 32; ++j) acc[j] = values[(i + j + rot) % values.size()];
                        std::int8_t one[8], two[16], four[32];
                        qtl::kernels::register_requantize_avx2::requantize_lanes(
                            c, out, acc, 0, 8, one, two, four, which);
                        for (std::size_t j = 0; j < 32; ++j) {
                            const std::int8_t expected = gemmlowp_requantize(acc[j], qms[j % 8], out);
                            ++checked;
                            if (four[j] == expected && (j >= 8 || one[j] == expected) &&
                                (j >= 16 || two[j] == gemmlowp_requantize(acc[j], qms[j], out)))
                                continue;
                            if (wrong++ == 0)
                                FAIL_CHECK("form " << int(which) << " shift " << shift << " zero point "
                                                    << out.output_zero_point << " acc " << acc[j] << " lane " << j
                                                    << ": expected " << int(expected) << ", got four " << int(four[j]));
                        }
                    }
            }
    CHECK(checked == values.size() * 32 * 23 * 4 * 2);
    CHECK(wrong == 0);
}

TEST_CASE("register_requantize: the AVX2 stage with uniform shifts (per-tensor) equals gemmlowp on edge values") {
    if (!qtl::kernels::detect_cpu_features().avx2) return;
    const std::vector<std::int32_t> values = edge_accumulators();
    std::size_t checked = 0, wrong = 0;
    for (const qtl::requantize_params out : output_params)
        for (int shift = -31; shift <= 30; ++shift)
            for (const std::int32_t multiplier : {1 << 30, (1 << 30) + 1, 1518500250, int32_hi - 1, int32_hi, 0}) {
                const qtl::quantized_multiplier qm{multiplier, shift};
                const auto c = make_register_requantize_constants(std::span(&qm, 1), 16, 16, out.output_zero_point);
                for (std::size_t start = 0; start < values.size(); start += 8) {
                    std::int32_t acc[32];
                    for (std::size_t j = 0; j < 32; ++j) acc[j] = values[(start + j) % values.size()];
                    std::int8_t one[8], two[16], four[32];
                    qtl::kernels::register_requantize_avx2::requantize_lanes(c, out, acc, 0, 8, one, two, four,
                                                                             qtl::kernels::register_requantize_avx2::lanes_stage::uniform);
                    for (std::size_t j = 0; j < 32; ++j) {
                        const std::int8_t expected = gemmlowp_requantize(acc[j], qm, out);
                        ++checked;
                        if (four[j] == expected && (j >= 16 || two[j] == expected) && (j >= 8 || one[j] == expected))
                            continue;
                        if (wrong++ == 0)
                            FAIL_CHECK("shift " << shift << " multiplier " << multiplier << " acc " << acc[j]
                                                << ": expected " << int(expected) << ", got four " << int(four[j]));
                    }
                }
            }
    CHECK(checked == values.size() / 8 * 32 * 4 * 62 * 6);
    CHECK(wrong == 0);
}

TEST_CASE("register_requantize: the AVX-512 stage (one, two, four vectors, two rows) equals gemmlowp on edge values") {
    const auto f = qtl::kernels::detect_cpu_features();
    if (!(f.avx512f && f.avx512bw)) {
        MESSAGE("no AVX-512BW on this CPU: the 16-lane stage is not run");
        return;
    }
    const std::vector<std::int32_t> values = edge_accumulators();
    std::size_t checked = 0, wrong = 0, one_rounding = 0;
    for (const qtl::requantize_params out : output_params)
        for (int shift = -31; shift <= 30; ++shift)
            for (const bool same_shift : {false, true}) {
                // 64 channels: vector q's lanes take the 16 multipliers rotated by q, so
                // that a wrong column offset in the two- and four-vector forms shows.
                // Mixed shifts run the two-rounding form; one shift in [-23, -1] everywhere, the one-rounding form.
                std::vector<qtl::quantized_multiplier> sixteen = lane_multipliers(shift);
                if (same_shift)
                    for (auto& qm : sixteen) qm.shift = shift;
                std::vector<qtl::quantized_multiplier> qms;
                for (std::size_t j = 0; j < 64; ++j) qms.push_back(sixteen[(j + j / 16) % 16]);
                const auto c = make_register_requantize_constants(qms, 64, 64, out.output_zero_point);
                REQUIRE(c.usable);
                REQUIRE(c.one_rounding == (same_shift && shift >= -23 && shift <= -1));
                one_rounding += c.one_rounding;
                for (const std::size_t col_step : {std::size_t{0}, std::size_t{16}})  // depthwise's, the GEMM's
                    for (std::size_t start = 0; start < values.size(); ++start) {  // every value meets every lane
                        std::int32_t acc[64];
                        for (std::size_t j = 0; j < 64; ++j) acc[j] = values[(start + j) % values.size()];
                        std::int8_t one[16], two[32], four[64], rows[64];
                        qtl::kernels::register_requantize_avx512::requantize_lanes(c, out, acc, 0, col_step, one, two,
                                                                                   four, rows);
                        for (std::size_t j = 0; j < 64; ++j) {
                            const std::int8_t expected =
                                gemmlowp_requantize(acc[j], qms[j / 16 * col_step + j % 16], out);
                            // Two rows of two vectors: the second row has the first's channels.
                            const std::int8_t expected_rows =
                                gemmlowp_requantize(acc[j], qms[j / 16 % 2 * col_step + j % 16], out);
                            const bool ok = four[j] == expected && rows[j] == expected_rows &&
                                            (j >= 32 || two[j] == expected) && (j >= 16 || one[j] == expected);
                            ++checked;
                            if (!ok && wrong++ == 0) {
                                CAPTURE(shift);
                                CAPTURE(same_shift);
                                CAPTURE(col_step);
                                CAPTURE(out.output_zero_point);
                                FAIL_CHECK("acc " << acc[j] << " lane " << j << ": expected " << int(expected)
                                                  << ", got four " << int(four[j]) << ", rows " << int(rows[j])
                                                  << " (expected " << int(expected_rows) << ")"
                                                  << (j < 32 ? ", two " + std::to_string(two[j]) : std::string())
                                                  << (j < 16 ? ", one " + std::to_string(one[j]) : std::string()));
                            }
                        }
                    }
            }
    CHECK(checked == values.size() * 64 * 2 * 62 * 4 * 2);
    CHECK(one_rounding == 23 * 4);
    CHECK(wrong == 0);
}

TEST_CASE("register_requantize: the AVX-512 one_rounding_doubled and _offset stages equal gemmlowp where |x| < 2^30") {
    const auto f = qtl::kernels::detect_cpu_features();
    if (!(f.avx512f && f.avx512bw)) {
        MESSAGE("no AVX-512BW on this CPU: the 16-lane doubled stage is not run");
        return;
    }
    const std::vector<std::int32_t> values = doubled_form_accumulators();
    std::size_t checked = 0, wrong = 0;
    using form = qtl::kernels::register_requantize_form;
    for (const form special : {form::one_rounding_doubled, form::one_rounding_offset})
        for (const qtl::requantize_params out : output_params)
            for (int shift = -23; shift <= -1; ++shift) {
                // 64 channels, vector q's multipliers rotated by q (zero in two lanes of each).
                std::vector<qtl::quantized_multiplier> sixteen = lane_multipliers(shift), qms;
                for (auto& qm : sixteen) qm.shift = shift;
                for (std::size_t j = 0; j < 64; ++j) qms.push_back(sixteen[(j + j / 16) % 16]);
                const auto c = make_register_requantize_constants(qms, 64, 64, out.output_zero_point, doubled_bound);
                REQUIRE(c.one_rounding_doubled);
                for (const std::size_t col_step : {std::size_t{0}, std::size_t{16}})
                    for (std::size_t start = 0; start < values.size(); ++start) {
                        std::int32_t acc[64];
                        for (std::size_t j = 0; j < 64; ++j) acc[j] = values[(start + j) % values.size()];
                        std::int8_t one[16], two[32], four[64], rows[64];
                        qtl::kernels::register_requantize_avx512::requantize_lanes(c, out, acc, 0, col_step, one, two,
                                                                                   four, rows, special);
                        for (std::size_t j = 0; j < 64; ++j) {
                            const std::int8_t expected =
                                gemmlowp_requantize(acc[j], qms[j / 16 * col_step + j % 16], out);
                            const std::int8_t expected_rows =
                                gemmlowp_requantize(acc[j], qms[j / 16 % 2 * col_step + j % 16], out);
                            ++checked;
                            if (four[j] == expected && rows[j] == expected_rows && (j >= 32 || two[j] == expected) &&
                                (j >= 16 || one[j] == expected))
                                continue;
                            if (wrong++ == 0)
                                FAIL_CHECK("form " << int(special) << " shift " << shift << " zero point "
                                                    << out.output_zero_point << " col_step " << col_step << " acc "
                                                    << acc[j] << " lane " << j << ": expected " << int(expected)
                                                    << ", got four " << int(four[j]) << ", rows " << int(rows[j]));
                        }
                    }
            }
    CHECK(checked == values.size() * 64 * 2 * 23 * 4 * 2);
    CHECK(wrong == 0);
}
#endif
