#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>

#include "qtl/fixedpoint/quantize_multiplier.hpp"

// Expected values are worked out by hand from the definition
//   real = multiplier * 2^(shift - 31),  multiplier in [2^30, 2^31),
// with the mantissa rounded half away from zero (std::round, as TFLite's
// TfLiteRound) and TFLite's three special cases.

namespace {

constexpr std::int32_t two_30 = 1 << 30;
constexpr std::int32_t int32_max = std::numeric_limits<std::int32_t>::max();
constexpr std::int32_t int32_min = std::numeric_limits<std::int32_t>::min();

qtl::quantized_multiplier qm(std::int32_t multiplier, int shift) { return {multiplier, shift}; }

}  // namespace

TEST_CASE("quantize_multiplier: exact powers of two and simple fractions") {
    CHECK(qtl::quantize_multiplier(0.5) == qm(two_30, 0));
    CHECK(qtl::quantize_multiplier(1.0) == qm(two_30, 1));
    CHECK(qtl::quantize_multiplier(0.25) == qm(two_30, -1));
    CHECK(qtl::quantize_multiplier(2.0) == qm(two_30, 2));
    CHECK(qtl::quantize_multiplier(0.75) == qm(3 << 29, 0));    // 0.75 * 2^31
    CHECK(qtl::quantize_multiplier(3.0) == qm(3 << 29, 2));     // 0.75 * 2^2
    CHECK(qtl::quantize_multiplier(1.5) == qm(3 << 29, 1));
    CHECK(qtl::quantize_multiplier(0.1) == qm(1717986918, -3));  // 0.8 * 2^-3; 0.8 * 2^31 = 1717986918.4
    CHECK(qtl::quantize_multiplier(1.0 / 3.0) == qm(1431655765, -1));  // 2/3 * 2^31 = 1431655765.33
}

TEST_CASE("quantize_multiplier: zero") {
    CHECK(qtl::quantize_multiplier(0.0) == qm(0, 0));
    CHECK(qtl::quantize_multiplier(-0.0) == qm(0, 0));
    CHECK(qtl::quantize_multiplier<qtl::single_rounding>(0.0) == qm(0, 0));
}

TEST_CASE("quantize_multiplier: mantissa rounding, ties away from zero") {
    // 0.5 + 2^-32: mantissa * 2^31 = 2^30 + 0.5, a tie, rounds up.
    CHECK(qtl::quantize_multiplier(0.5 + std::ldexp(1.0, -32)) == qm(two_30 + 1, 0));
    // 0.5 + 2^-33: 2^30 + 0.25 rounds down.
    CHECK(qtl::quantize_multiplier(0.5 + std::ldexp(1.0, -33)) == qm(two_30, 0));
    // 0.5 + 3 * 2^-33: 2^30 + 0.75 rounds up.
    CHECK(qtl::quantize_multiplier(0.5 + 3 * std::ldexp(1.0, -33)) == qm(two_30 + 1, 0));
}

TEST_CASE("quantize_multiplier: mantissa rounding up to 2^31 moves to the next power of two") {
    // 1 - 2^-32: mantissa * 2^31 = 2^31 - 0.5, a tie, rounds to 2^31 -> (2^30, shift + 1).
    CHECK(qtl::quantize_multiplier(1.0 - std::ldexp(1.0, -32)) == qm(two_30, 1));
    // The next double below stays below the tie: 2^31 - 1.
    CHECK(qtl::quantize_multiplier(std::nextafter(1.0 - std::ldexp(1.0, -32), 0.0)) == qm(int32_max, 0));
    // Well inside the rounding band.
    CHECK(qtl::quantize_multiplier(1.0 - std::ldexp(1.0, -40)) == qm(two_30, 1));
    CHECK(qtl::quantize_multiplier(0.5 - std::ldexp(1.0, -45)) == qm(two_30, 0));
    CHECK(qtl::quantize_multiplier(4.0 - std::ldexp(1.0, -35)) == qm(two_30, 3));
    CHECK(qtl::quantize_multiplier<qtl::single_rounding>(1.0 - std::ldexp(1.0, -40)) == qm(two_30, 1));
}

TEST_CASE("quantize_multiplier: tiny multipliers flush to zero below shift -31") {
    CHECK(qtl::quantize_multiplier(std::ldexp(1.0, -31)) == qm(two_30, -30));
    CHECK(qtl::quantize_multiplier(std::ldexp(1.0, -32)) == qm(two_30, -31));  // the smallest kept shift
    CHECK(qtl::quantize_multiplier(0.75 * std::ldexp(1.0, -32)) == qm(0, 0));   // shift would be -32
    CHECK(qtl::quantize_multiplier(std::ldexp(1.0, -33)) == qm(0, 0));
    CHECK(qtl::quantize_multiplier(std::ldexp(1.0, -40)) == qm(0, 0));
    CHECK(qtl::quantize_multiplier(std::numeric_limits<double>::denorm_min()) == qm(0, 0));
    // Rounding up rescues a value from the flush: (1 - 2^-40) * 2^-32 has
    // frexp exponent -32, the mantissa rounds to 2^31, the shift becomes -31.
    CHECK(qtl::quantize_multiplier((1.0 - std::ldexp(1.0, -40)) * std::ldexp(1.0, -32)) == qm(two_30, -31));
    CHECK(qtl::quantize_multiplier<qtl::single_rounding>(std::ldexp(1.0, -40)) == qm(0, 0));
}

TEST_CASE("quantize_multiplier: multipliers above one give left shifts") {
    CHECK(qtl::quantize_multiplier(std::ldexp(1.0, 29)) == qm(two_30, 30));
    CHECK(qtl::quantize_multiplier(std::ldexp(1.0, 30)) == qm(two_30, 31));
    CHECK(qtl::quantize_multiplier(std::ldexp(1.0, 40)) == qm(two_30, 41));  // double rounding keeps it
    // Single rounding cannot shift left by more than 30: saturated to (2^31 - 1, 30).
    CHECK(qtl::quantize_multiplier<qtl::single_rounding>(std::ldexp(1.0, 29)) == qm(two_30, 30));
    CHECK(qtl::quantize_multiplier<qtl::single_rounding>(std::ldexp(1.0, 30)) == qm(int32_max, 30));
    CHECK(qtl::quantize_multiplier<qtl::single_rounding>(std::ldexp(3.0, 40)) == qm(int32_max, 30));
    CHECK(qtl::quantize_multiplier<qtl::single_rounding>(3.0) == qm(3 << 29, 2));
}

TEST_CASE("quantize_multiplier: negative multipliers as TFLite computes them") {
    // TFLite does not reject them: frexp keeps the sign in the mantissa.
    CHECK(qtl::quantize_multiplier(-0.5) == qm(-two_30, 0));
    CHECK(qtl::quantize_multiplier(-1.0) == qm(-two_30, 1));
    CHECK(qtl::quantize_multiplier(-3.0) == qm(-(3 << 29), 2));
    // -(1 - 2^-40): the mantissa rounds to -2^31, which TFLite's "== 2^31"
    // test does not catch; it fits int32 and is kept as INT32_MIN.
    CHECK(qtl::quantize_multiplier(-(1.0 - std::ldexp(1.0, -40))) == qm(int32_min, 0));
    CHECK(qtl::quantize_multiplier(-std::ldexp(1.0, -40)) == qm(0, 0));
}

TEST_CASE("quantize_multiplier: NaN and infinities throw qtl::error") {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const double inf = std::numeric_limits<double>::infinity();
    CHECK_THROWS_AS(qtl::quantize_multiplier(nan), qtl::error);
    CHECK_THROWS_AS(qtl::quantize_multiplier(inf), qtl::error);
    CHECK_THROWS_AS(qtl::quantize_multiplier(-inf), qtl::error);
    CHECK_THROWS_AS(qtl::quantize_multiplier<qtl::single_rounding>(nan), qtl::error);
    CHECK_THROWS_WITH_AS(qtl::quantize_multiplier(inf), doctest::Contains("finite"), qtl::error);
}

TEST_CASE("quantize_multiplier: random multipliers are within half a unit of the last place") {
    // Independent check of the representation: for real in [2^-31, 2^29),
    // multiplier in [2^30, 2^31) and |multiplier * 2^(shift-31) - real| <= 2^(shift-32),
    // with the exponent from std::ilogb (real in [2^e, 2^(e+1)) -> shift e + 1,
    // or e + 2 when the mantissa rounded up).
    std::mt19937_64 rng(20240611);
    std::uniform_real_distribution<double> exponent(-31.0, 29.0);
    int checked = 0;
    for (int i = 0; i < 100000; ++i) {
        const double real = std::exp2(exponent(rng));
        const qtl::quantized_multiplier q = qtl::quantize_multiplier(real);
        const int e = std::ilogb(real);
        const bool in_range = q.multiplier >= two_30 && (q.shift == e + 1 || (q.shift == e + 2 && q.multiplier == two_30));
        const double represented = std::ldexp(static_cast<double>(q.multiplier), q.shift - 31);
        const bool close = std::fabs(represented - real) <= std::ldexp(1.0, q.shift - 32);
        if (!in_range || !close) {
            INFO("real = " << real << ", multiplier = " << q.multiplier << ", shift = " << q.shift);
            CHECK(in_range);
            CHECK(close);
            break;
        }
        // Both policies agree wherever the shift is <= 30 (here always).
        if (!(qtl::quantize_multiplier<qtl::single_rounding>(real) == q)) {
            CHECK(qtl::quantize_multiplier<qtl::single_rounding>(real) == q);
            break;
        }
        ++checked;
    }
    CHECK(checked == 100000);
}
