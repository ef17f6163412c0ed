#pragma once
// quantize_multiplier: a real multiplier as TFLite represents it, a Q31
// integer in [2^30, 2^31) and a power-of-two exponent:
//     real ≈ multiplier * 2^(shift - 31)
// Edge cases follow TFLite's QuantizeMultiplier exactly:
//  - 0 gives (0, 0);
//  - a mantissa that rounds up to 2^31 is halved and the shift incremented;
//  - an exponent below -31 would shift every bit out: flushed to (0, 0);
//  - multipliers > 1 give positive shifts (a left shift before the multiply);
//  - under single rounding, shifts above 30 saturate to (2^31 - 1, 30);
//  - negative inputs are not rejected (TFLite does not either): the sign
//    stays in the multiplier, in [-2^31, -2^30]; -2^31 is kept as is.
// NaN and infinities throw qtl::error (TFLite's result is undefined there).

#include <cmath>
#include <cstdint>

#include "qtl/core/error.hpp"
#include "qtl/fixedpoint/rounding_policy.hpp"

namespace qtl {

struct quantized_multiplier {
    std::int32_t multiplier = 0;
    int shift = 0;  // > 0: left shift, < 0: right shift

    friend bool operator==(const quantized_multiplier&, const quantized_multiplier&) = default;
};

template <rounding_policy Policy = double_rounding>
quantized_multiplier quantize_multiplier(double real_multiplier) {
    check(std::isfinite(real_multiplier), "quantize_multiplier", "multiplier must be finite, got ",
          real_multiplier);
    if (real_multiplier == 0.0) return {0, 0};
    int shift = 0;
    const double mantissa = std::frexp(real_multiplier, &shift);  // in [0.5, 1)
    auto q = static_cast<std::int64_t>(std::round(mantissa * static_cast<double>(1LL << 31)));
    if (q == (1LL << 31)) {  // the mantissa rounded up to 1.0
        q /= 2;
        ++shift;
    }
    if (shift < -31) return {0, 0};
    if constexpr (std::is_same_v<Policy, single_rounding>) {
        if (shift > 30) return {static_cast<std::int32_t>((1LL << 31) - 1), 30};
    }
    return {static_cast<std::int32_t>(q), shift};
}

}  // namespace qtl
