#pragma once
// Batch (SIMD) versions of the fixed-point primitives in
// multiply_by_quantized_multiplier.hpp, on xsimd::batch<std::int32_t, A>.
// Every function here equals its scalar namesake lane by lane, for every
// input the scalar one accepts (tested exhaustively on edge values and on
// random inputs, for each instruction set the build can run).
//
// The one operation SIMD int32 lanes lack is the 32x32 -> 64-bit product.
// widening_multiply() gives it as two int32 batches (high and low words);
// everything else is exact integer algebra on that pair:
//
//   p = a * b = hi * 2^32 + lo (lo read as unsigned)
//   srdhm(a, b)        = floor((p + 2^30) / 2^31)        (saturated)
//                      = low32(p >> 31) + bit 30 of p
//   single rounding    = floor((p + 2^(s-1)) / 2^s),  s = 31 - shift
//
// floor((p + 2^30) / 2^31) is what gemmlowp's "nudge, then divide truncating
// towards zero" computes for both signs (see docs/fixedpoint.md), which is
// why one formula serves positive and negative products.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>

#include <xsimd/xsimd.hpp>

#include "qtl/detail/gcc_bug_105593.hpp"
#include "qtl/detail/simd_select.hpp"
#include "qtl/fixedpoint/multiply_by_quantized_multiplier.hpp"
#include "qtl/fixedpoint/quantize_multiplier.hpp"
#include "qtl/fixedpoint/rounding_policy.hpp"

QTL_DETAIL_GCC_BUG_105593_BEGIN

namespace qtl {

namespace detail::fixedpoint {

template <class A>
using int32_batch = xsimd::batch<std::int32_t, A>;
template <class A>
using uint32_batch = xsimd::batch<std::uint32_t, A>;

// Which hand-written x86 path an arch gets; everything else uses portable xsimd.
template <class A>
inline constexpr bool is_x86_avx512 =
#if defined(__AVX512F__)
    std::is_base_of_v<xsimd::avx512f, A>;
#else
    false;
#endif

template <class A>
inline constexpr bool is_x86_avx2 =
#if defined(__AVX2__)
    std::is_base_of_v<xsimd::avx2, A>;
#else
    false;
#endif

template <class A>
inline constexpr bool is_x86_sse4_1 =
#if defined(__SSE4_1__)
    std::is_base_of_v<xsimd::sse4_1, A>;
#else
    false;
#endif

template <class A>
inline constexpr bool is_x86_sse2 =
#if defined(__SSE2__)
    std::is_base_of_v<xsimd::sse2, A>;
#else
    false;
#endif

// --- shifts -----------------------------------------------------------------
// Left and logical right shifts go through uint32 lanes so that no lane ever
// shifts a negative value left (defined in C++20, but xsimd's scalar fallback
// and UBSan are happier this way).  Counts must lie in [0, 31].

template <class A>
int32_batch<A> shift_left(int32_batch<A> x, int count) noexcept {
    return xsimd::bitwise_cast<int32_batch<A>>(xsimd::bitwise_cast<uint32_batch<A>>(x) << count);
}

template <class A>
int32_batch<A> shift_right_logical(int32_batch<A> x, int count) noexcept {
    return xsimd::bitwise_cast<int32_batch<A>>(xsimd::bitwise_cast<uint32_batch<A>>(x) >> count);
}

template <class A>
int32_batch<A> shift_right_arithmetic(int32_batch<A> x, int count) noexcept {
    return x >> count;
}

// Per-lane counts.  xsimd 8.1 has native per-lane shifts only for AVX2 and
// falls back to a scalar loop elsewhere (also on AVX-512), so x86 gets
// intrinsics: AVX2/AVX-512 have per-lane shift instructions; SSE2..SSE4.2
// shift the whole register once per lane count and keep lane i of the i-th
// result.
#if defined(__SSE2__)
template <class Shift>
__m128i shift_each_lane_sse2(__m128i x, __m128i count, Shift shift) noexcept {
    const __m128i zero = _mm_setzero_si128();
    const __m128i count01 = _mm_unpacklo_epi32(count, zero);  // 64-bit counts c0, c1
    const __m128i count23 = _mm_unpackhi_epi32(count, zero);  // 64-bit counts c2, c3
    const __m128i r0 = shift(x, count01);
    const __m128i r1 = shift(x, _mm_unpackhi_epi64(count01, count01));
    const __m128i r2 = shift(x, count23);
    const __m128i r3 = shift(x, _mm_unpackhi_epi64(count23, count23));
    // {r0[0], r0[1], r1[0], r1[1]} and {r2[2], r2[3], r3[2], r3[3]} -> {r0[0], r1[1], r2[2], r3[3]}
    const __m128 r01 = _mm_castsi128_ps(_mm_unpacklo_epi64(r0, r1));
    const __m128 r23 = _mm_castsi128_ps(_mm_unpackhi_epi64(r2, r3));
    return _mm_castps_si128(_mm_shuffle_ps(r01, r23, _MM_SHUFFLE(3, 0, 3, 0)));
}
#endif

template <class A>
int32_batch<A> shift_left(int32_batch<A> x, int32_batch<A> count) noexcept {
#if defined(__AVX512F__)
    if constexpr (is_x86_avx512<A>) return int32_batch<A>(_mm512_sllv_epi32(x, count));
#endif
#if defined(__AVX2__)
    if constexpr (is_x86_avx2<A>) return int32_batch<A>(_mm256_sllv_epi32(x, count));
#endif
#if defined(__SSE2__)
    if constexpr (is_x86_sse2<A>)
        return int32_batch<A>(shift_each_lane_sse2(x, count, [](__m128i v, __m128i c) { return _mm_sll_epi32(v, c); }));
#endif
    return xsimd::bitwise_cast<int32_batch<A>>(xsimd::bitwise_cast<uint32_batch<A>>(x) <<
                                                xsimd::bitwise_cast<uint32_batch<A>>(count));
}

template <class A>
int32_batch<A> shift_right_logical(int32_batch<A> x, int32_batch<A> count) noexcept {
#if defined(__AVX512F__)
    if constexpr (is_x86_avx512<A>) return int32_batch<A>(_mm512_srlv_epi32(x, count));
#endif
#if defined(__AVX2__)
    if constexpr (is_x86_avx2<A>) return int32_batch<A>(_mm256_srlv_epi32(x, count));
#endif
#if defined(__SSE2__)
    if constexpr (is_x86_sse2<A>)
        return int32_batch<A>(shift_each_lane_sse2(x, count, [](__m128i v, __m128i c) { return _mm_srl_epi32(v, c); }));
#endif
    return xsimd::bitwise_cast<int32_batch<A>>(xsimd::bitwise_cast<uint32_batch<A>>(x) >>
                                                xsimd::bitwise_cast<uint32_batch<A>>(count));
}

template <class A>
int32_batch<A> shift_right_arithmetic(int32_batch<A> x, int32_batch<A> count) noexcept {
#if defined(__AVX512F__)
    if constexpr (is_x86_avx512<A>) return int32_batch<A>(_mm512_srav_epi32(x, count));
#endif
#if defined(__AVX2__)
    if constexpr (is_x86_avx2<A>) return int32_batch<A>(_mm256_srav_epi32(x, count));
#endif
#if defined(__SSE2__)
    if constexpr (is_x86_sse2<A>)
        return int32_batch<A>(shift_each_lane_sse2(x, count, [](__m128i v, __m128i c) { return _mm_sra_epi32(v, c); }));
#endif
    return x >> count;
}

// --- the 64-bit product -----------------------------------------------------

template <class A>
struct wide_product {
    int32_batch<A> hi;  // bits 63..32 of a * b, signed
    int32_batch<A> lo;  // bits 31..0, as an unsigned word
};

// Portable: split each operand into 16-bit halves, a = ah * 2^16 + al with
// al in [0, 2^16).  The four partial products fit 32 bits (al * bl as
// unsigned), and the middle ones are added with an explicit carry word.
template <class A>
wide_product<A> widening_multiply_by_halves(int32_batch<A> a, int32_batch<A> b) noexcept {
    const int32_batch<A> low16(0xFFFF);
    const int32_batch<A> al = a & low16, bl = b & low16;
    const int32_batch<A> ah = shift_right_arithmetic(a, 16), bh = shift_right_arithmetic(b, 16);
    const int32_batch<A> ll = xsimd::bitwise_cast<int32_batch<A>>(xsimd::bitwise_cast<uint32_batch<A>>(al) *
                                                                  xsimd::bitwise_cast<uint32_batch<A>>(bl));
    const int32_batch<A> m1 = ah * bl, m2 = al * bh, hh = ah * bh;  // all fit int32
    const int32_batch<A> carry =
        shift_right_logical(ll, 16) + (m1 & low16) + (m2 & low16);  // < 3 * 2^16
    wide_product<A> p;
    p.lo = shift_left(carry, 16) | (ll & low16);
    p.hi = hh + shift_right_arithmetic(m1, 16) + shift_right_arithmetic(m2, 16) + shift_right_arithmetic(carry, 16);
    return p;
}

// x86: the even-lane 32x32 -> 64 multiply (pmuldq / pmuludq), once on the
// even lanes and once on the odd lanes moved down, then the words regrouped.
#if defined(__SSE2__)
inline void regroup_even_odd(__m128i even, __m128i odd, __m128i& hi, __m128i& lo) noexcept {
    const __m128i low_words = _mm_set1_epi64x(0xFFFFFFFF);
    lo = _mm_or_si128(_mm_and_si128(even, low_words), _mm_slli_epi64(odd, 32));
    hi = _mm_or_si128(_mm_srli_epi64(even, 32), _mm_andnot_si128(low_words, odd));
}
#endif
#if defined(__AVX2__)
inline void regroup_even_odd(__m256i even, __m256i odd, __m256i& hi, __m256i& lo) noexcept {
    const __m256i low_words = _mm256_set1_epi64x(0xFFFFFFFF);
    lo = _mm256_or_si256(_mm256_and_si256(even, low_words), _mm256_slli_epi64(odd, 32));
    hi = _mm256_or_si256(_mm256_srli_epi64(even, 32), _mm256_andnot_si256(low_words, odd));
}
#endif
#if defined(__AVX512F__)
inline void regroup_even_odd(__m512i even, __m512i odd, __m512i& hi, __m512i& lo) noexcept {
    lo = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
    hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 32), odd);
}
#endif

template <class A>
wide_product<A> widening_multiply(int32_batch<A> a, int32_batch<A> b) noexcept {
#if defined(__AVX512F__)
    if constexpr (is_x86_avx512<A>) {
        const __m512i even = _mm512_mul_epi32(a, b);
        const __m512i odd = _mm512_mul_epi32(_mm512_srli_epi64(a, 32), _mm512_srli_epi64(b, 32));
        __m512i hi, lo;
        regroup_even_odd(even, odd, hi, lo);
        return {int32_batch<A>(hi), int32_batch<A>(lo)};
    }
#endif
#if defined(__AVX2__)
    if constexpr (is_x86_avx2<A>) {
        const __m256i even = _mm256_mul_epi32(a, b);
        const __m256i odd = _mm256_mul_epi32(_mm256_srli_epi64(a, 32), _mm256_srli_epi64(b, 32));
        __m256i hi, lo;
        regroup_even_odd(even, odd, hi, lo);
        return {int32_batch<A>(hi), int32_batch<A>(lo)};
    }
#endif
#if defined(__SSE4_1__)
    if constexpr (is_x86_sse4_1<A>) {
        const __m128i even = _mm_mul_epi32(a, b);
        const __m128i odd = _mm_mul_epi32(_mm_srli_epi64(a, 32), _mm_srli_epi64(b, 32));
        __m128i hi, lo;
        regroup_even_odd(even, odd, hi, lo);
        return {int32_batch<A>(hi), int32_batch<A>(lo)};
    }
#endif
#if defined(__SSE2__)
    if constexpr (is_x86_sse2<A>) {
        // SSE2 only multiplies unsigned: a*b = ua*ub - 2^32 * (b if a < 0) - 2^32 * (a if b < 0).
        const __m128i even = _mm_mul_epu32(a, b);
        const __m128i odd = _mm_mul_epu32(_mm_srli_epi64(a, 32), _mm_srli_epi64(b, 32));
        __m128i hi, lo;
        regroup_even_odd(even, odd, hi, lo);
        const int32_batch<A> correction = (shift_right_arithmetic(a, 31) & b) + (shift_right_arithmetic(b, 31) & a);
        return {int32_batch<A>(hi) - correction, int32_batch<A>(lo)};
    }
#endif
    return widening_multiply_by_halves(a, b);
}

// a == b == INT32_MIN: the one product (2^62) whose doubled high word overflows.
template <class A>
xsimd::batch_bool<std::int32_t, A> both_int32_min(int32_batch<A> a, int32_batch<A> b) noexcept {
    const int32_batch<A> min(std::numeric_limits<std::int32_t>::min());
    return (a == min) & (b == min);
}

// low32(p >> 31): the doubled high word with the top bit of the low word.
template <class A>
int32_batch<A> high_word_doubled(const wide_product<A>& p) noexcept {
    return shift_left(p.hi, 1) | shift_right_logical(p.lo, 31);
}

}  // namespace detail::fixedpoint

// --- the primitives ---------------------------------------------------------

namespace detail::fixedpoint {

// floor((a * b + 2^30) / 2^31) modulo 2^32: the doubling high multiply
// without its saturation (a == b == INT32_MIN wraps to INT32_MIN).
//
// x86 with a signed even-lane multiply: the nudge is added to the 64-bit
// products (|a * b| <= 2^62, so the sum cannot overflow) and bits 31..62 are
// taken straight from them: the low word of an even lane shifted right by 31,
// the high word of an odd lane shifted left by 1 (9 instructions instead of
// regrouping the words first).
template <class A>
int32_batch<A> rounding_doubling_high_mul(int32_batch<A> a, int32_batch<A> b) noexcept {
#if defined(__AVX2__)
    if constexpr (is_x86_avx2<A>) {
        const __m256i nudge = _mm256_set1_epi64x(std::int64_t{1} << 30);
        const __m256i even = _mm256_add_epi64(_mm256_mul_epi32(a, b), nudge);
        const __m256i odd =
            _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(a, 32), _mm256_srli_epi64(b, 32)), nudge);
        return int32_batch<A>(_mm256_blend_epi32(_mm256_srli_epi64(even, 31), _mm256_slli_epi64(odd, 1), 0xAA));
    }
#endif
#if defined(__SSE4_1__)
    if constexpr (is_x86_sse4_1<A>) {
        const __m128i nudge = _mm_set1_epi64x(std::int64_t{1} << 30);
        const __m128i even = _mm_add_epi64(_mm_mul_epi32(a, b), nudge);
        const __m128i odd = _mm_add_epi64(_mm_mul_epi32(_mm_srli_epi64(a, 32), _mm_srli_epi64(b, 32)), nudge);
        return int32_batch<A>(_mm_blend_epi16(_mm_srli_epi64(even, 31), _mm_slli_epi64(odd, 1), 0xCC));
    }
#endif
    const wide_product<A> p = widening_multiply(a, b);
    return high_word_doubled(p) + (shift_right_logical(p.lo, 30) & int32_batch<A>(1));
}

}  // namespace detail::fixedpoint

// Lane-wise saturating_rounding_doubling_high_mul(a, b).
template <class A>
xsimd::batch<std::int32_t, A> saturating_rounding_doubling_high_mul(xsimd::batch<std::int32_t, A> a,
                                                                    xsimd::batch<std::int32_t, A> b) noexcept {
    using namespace detail::fixedpoint;
    return ::qtl::detail::simd_select(both_int32_min(a, b),
                         xsimd::batch<std::int32_t, A>(std::numeric_limits<std::int32_t>::max()),
                         rounding_doubling_high_mul(a, b));
}

// Lane-wise rounding_divide_by_pot(x, exponent), exponent in [0, 31]:
// x / 2^exponent rounded to nearest, ties away from zero.
template <class A>
xsimd::batch<std::int32_t, A> rounding_divide_by_pot(xsimd::batch<std::int32_t, A> x, int exponent) noexcept {
    using namespace detail::fixedpoint;
    using batch = xsimd::batch<std::int32_t, A>;
    const batch mask(static_cast<std::int32_t>((std::int64_t{1} << exponent) - 1));
    const batch negative = shift_right_arithmetic(x, 31);  // -1 where x < 0
    const batch threshold = shift_right_arithmetic(mask, 1) - negative;
    const batch round_up = ::qtl::detail::simd_select((x & mask) > threshold, batch(1), batch(0));
    return shift_right_arithmetic(x, exponent) + round_up;
}

// Per-lane exponents, each in [0, 31].
template <class A>
xsimd::batch<std::int32_t, A> rounding_divide_by_pot(xsimd::batch<std::int32_t, A> x,
                                                     xsimd::batch<std::int32_t, A> exponent) noexcept {
    using namespace detail::fixedpoint;
    using batch = xsimd::batch<std::int32_t, A>;
    const batch mask = shift_left(batch(1), exponent) - batch(1);  // 2^31 - 1 wraps right for 31
    const batch negative = shift_right_arithmetic(x, 31);
    const batch threshold = shift_right_arithmetic(mask, 1) - negative;
    const batch round_up = ::qtl::detail::simd_select((x & mask) > threshold, batch(1), batch(0));
    return shift_right_arithmetic(x, exponent) + round_up;
}

// Lane-wise multiply_by_quantized_multiplier<Policy>(x, multiplier, shift)
// with one multiplier for every lane (per-tensor quantization).  Same domain
// as the scalar one: shift >= -31 for double rounding, [-31, 30] for single.
template <rounding_policy Policy = double_rounding, class A>
xsimd::batch<std::int32_t, A> multiply_by_quantized_multiplier(xsimd::batch<std::int32_t, A> x, std::int32_t multiplier,
                                                               int shift) noexcept {
    using namespace detail::fixedpoint;
    using batch = xsimd::batch<std::int32_t, A>;
    if constexpr (std::is_same_v<Policy, double_rounding>) {
        if (shift > 0) x = shift < 32 ? shift_left(x, shift) : batch(0);  // wraps like the scalar one
        batch high = rounding_doubling_high_mul(x, batch(multiplier));
        if (multiplier == std::numeric_limits<std::int32_t>::min())  // only then can the product saturate
            high = ::qtl::detail::simd_select(x == batch(multiplier), batch(std::numeric_limits<std::int32_t>::max()), high);
        return shift < 0 ? rounding_divide_by_pot(high, -shift) : high;
    } else {
        const wide_product<A> p = widening_multiply(x, batch(multiplier));
        const batch one(1);
        if (shift >= 0) {
            // s = 31 - shift in [1, 31]: low32(p >> s) + bit (s - 1) of p, all within the two words.
            const int s = 31 - shift;
            const batch quotient = shift_right_logical(p.lo, s) | shift_left(p.hi, 32 - s);
            return quotient + (shift_right_logical(p.lo, s - 1) & one);
        }
        // s = 31 + r: first t = low32(p >> 31), then round t by 2^r half up.
        const int r = -shift;
        const batch t = high_word_doubled(p);
        const batch result = shift_right_arithmetic(t, r) + (shift_right_arithmetic(t, r - 1) & one);
        if (multiplier != std::numeric_limits<std::int32_t>::min()) return result;
        // x == m == INT32_MIN: p = 2^62 made t wrap to -2^31 instead of 2^31,
        // and -2^31 rounded by 2^r is exactly minus the right 2^(31 - r).
        return ::qtl::detail::simd_select(both_int32_min(x, batch(multiplier)), batch(0) - result, result);
    }
}

template <rounding_policy Policy = double_rounding, class A>
xsimd::batch<std::int32_t, A> multiply_by_quantized_multiplier(xsimd::batch<std::int32_t, A> x,
                                                               quantized_multiplier qm) noexcept {
    return multiply_by_quantized_multiplier<Policy>(x, qm.multiplier, qm.shift);
}

// Per-lane multipliers and shifts (per-channel quantization).
template <rounding_policy Policy = double_rounding, class A>
xsimd::batch<std::int32_t, A> multiply_by_quantized_multiplier(xsimd::batch<std::int32_t, A> x,
                                                               xsimd::batch<std::int32_t, A> multiplier,
                                                               xsimd::batch<std::int32_t, A> shift) noexcept {
    using namespace detail::fixedpoint;
    using batch = xsimd::batch<std::int32_t, A>;
    const batch zero(0);
    if constexpr (std::is_same_v<Policy, double_rounding>) {
        const batch left = xsimd::min(xsimd::max(shift, zero), batch(31));
        const batch shifted = ::qtl::detail::simd_select(shift > batch(31), zero, shift_left(x, left));  // wraps to 0 from 32 on
        const batch right = xsimd::max(zero - shift, zero);
        return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, multiplier), right);
    } else {
        // The two cases of the per-tensor version merged: with
        //   s = 31 - max(shift, 0) in [1, 31]   and   r = max(-shift, 0) in [0, 31],
        //   w = low32(p >> s) + (r == 0 ? bit (s - 1) of p : 0)
        //   result = (w >> r) + bit (r - 1) of w   (no bit when r == 0)
        const wide_product<A> p = widening_multiply(x, multiplier);
        const batch one(1);
        const batch s = batch(31) - xsimd::max(shift, zero);
        const batch r = xsimd::max(zero - shift, zero);
        const batch quotient = shift_right_logical(p.lo, s) | shift_left(p.hi, batch(32) - s);
        const batch bit_below = shift_right_logical(p.lo, s - one) & one;
        const batch w = quotient + ::qtl::detail::simd_select(r == zero, bit_below, zero);
        const batch result = shift_right_arithmetic(w, r) +
                             (shift_right_logical(shift_left(w, 1), r) & one);  // bit r-1 of w
        // p = 2^62 with r > 0 wrapped w to -2^31 (see the per-tensor version).
        return ::qtl::detail::simd_select(both_int32_min(x, multiplier) & (r > zero), zero - result, result);
    }
}

}  // namespace qtl

QTL_DETAIL_GCC_BUG_105593_END
