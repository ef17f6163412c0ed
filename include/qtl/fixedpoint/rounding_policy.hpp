#pragma once
// Rounding policies of TFLite's fixed-point requantization, as types, so the
// choice is always visible in the code that makes it.
//
//  double_rounding: TFLite's default (and gemmlowp's).  The product is first
//      rounded to Q31 by a saturating rounding doubling high multiply
//      (ties towards +infinity), then divided by 2^right_shift with rounding
//      half away from zero.  Two roundings: 5 * 0.25 (multiplier 0.5, shift
//      -1) is 5 * 0.5 = 2.5 -> 3, then 3 / 2 = 1.5 -> 2; single rounding
//      gives round(1.25) = 1.
//  single_rounding: TFLite built with TFLITE_SINGLE_ROUNDING (TFLite Micro on
//      some targets).  One 64-bit product, one rounding right shift
//      (round half up, i.e. towards +inf).

#include <type_traits>

namespace qtl {

struct double_rounding {};
struct single_rounding {};

template <class P>
concept rounding_policy = std::is_same_v<P, double_rounding> || std::is_same_v<P, single_rounding>;

}  // namespace qtl
