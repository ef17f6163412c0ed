#pragma once
// TFLite's int8 requantization (double rounding) on AVX2 accumulator
// registers, shared by the GEMM and depthwise kernels' epilogues: per-lane
// constants prepared once by a kernel's packing, and the stage that uses them.
//
// For every lane, with the multiplier m and shift of its output channel
// (per-tensor ones replicated), qtl::requantize<int8_t, double_rounding>:
//
//   x <<= left                                        left = max(shift, 0), wrapping like qtl's
//   h = floor((x * m + 2^30) / 2^31)                  SaturatingRoundingDoublingHighMul: that floor is
//                                                     gemmlowp's nudge-and-truncate for both signs
//   y = (h >> right) + ((h & mask) > half + (h < 0))  RoundingDivideByPOT, right = max(-shift, 0)
//   out = clamp(y + zp, act_min, act_max)
//
// exactly, for every multiplier but INT32_MIN (the one product that
// saturates; `usable` says none is).  VPMULDQ multiplies the even lanes; the
// odd ones are shifted down first, with their multipliers stored shifted
// down.  Bits 31..62 of the 64-bit sums are h: the low word of an even lane
// shifted right by 31, the high word of an odd lane shifted left by 1.  That
// is 16 instructions per 8 lanes before the clamp, against about 40 for the
// general batch primitives of fixedpoint/ (which also handle the saturating
// product and take shifts as they come).
//
// The stage is compiled in an AVX2 target region, so kernels picked at run
// time by CPUID use it in any x86-64 build.  register_requantize_avx512 is
// the same stage on 16 lanes (AVX-512F/BW region), for the zmm kernels: half
// the instructions per output of running the AVX2 stage on each ymm half,
// with four_to_bytes / two_to_bytes narrowing several vectors at once.
//
// The 16-lane stage has a second form, one_rounding, for the layers whose
// every shift is in [-23, -1] (right >= 1; the conv, depthwise and FC
// layers of ../shared's int8 models have shifts in [-17, -1]).  With
// P = x * m, the two floors nest into one, and the zero point joins the
// 64-bit addend:
//
//   y + zp = floor((P + 2^30 + 2^(30+right) + zp * 2^(31+right) - 2^31 [P < 0]) / 2^(31+right))
//
// RoundingDivideByPOT is floor((h + 2^(right-1) - [h < 0]) / 2^right), and
// floor(floor(a / 2^31) / 2^r) = floor(a / 2^(31+r)).  [P < 0] stands in for
// [h < 0]: they differ only for P in [-2^30, 0), where h = 0 and both give 0
// (right >= 1).  |sum| < 2^62 + 2^61 + 2^54 fits int64 while right <= 23.
// That is 12 instructions per 16 lanes before the narrow instead of 14, and
// no zero point to add in it (run alone: 1.27 -> 1.03 ns per vector, Zen 5).
//
// AVX2 has neither the 64-bit arithmetic shift nor the masked subtract, so
// its one_rounding form picks the addend with or without the -2^31 by P's
// sign bit (VBLENDVPD) and adds 2^63 to the sum, which puts it in [0, 2^64):
// logical shifts floor it then, floor(floor(sum / 2^32) / 2^(right - 1)),
// the first a whole-word move and the second one 32-bit variable shift, and
// the 2^(63 - 31 - right) the 2^63 leaves comes off in 32 bits.  11
// instructions per 8 lanes with the zero point, against 15.
//
// Where the caller bounds every |x| below 2^30 (an accumulator of K int8
// products and a bias: |bias| + K * 255 * 128), there is a shorter way,
// one_rounding_doubled: with the product doubled, numerator and divisor of
// the one_rounding floor doubled,
//
//   y + zp = floor((2P + A2 - 2^32 [P < 0]) / 2^(32+right)),  A2 = 2 * addend
//          = (high_word(2P + A2) - [P < 0]) >> right          (arithmetic)
//
// The high word of a 64-bit lane is floor(sum / 2^32), there for a dword
// shuffle, so no 64-bit shift is needed, and the -2^32 [P < 0] becomes a
// 32-bit -1 after it: by the sign of x, which is P's where m > 0; where m is
// 0 the sum is A2, whose floor by 2^(32+right) is zp with or without the
// 2^32 off (A2 - zp * 2^(32+right) = 2^31 + 2^(31+right) > 2^32, and
// < 2^(32+right) + 2^32).  x doubled needs |x| < 2^30; the high
// word then lies within int32 (right <= 23, |zp| <= 128).  11 instructions
// per 8 lanes and 5 constants to load, against the logical form's 11
// instructions (two of them VBLENDVPD) and 8 constants: on AMD Zen 1 the AVX2
// GEMM of 12544 x 16 -> 96 went 2016 -> 1904 us with it (its epilogue runs
// per row and reloads the constants), where the logical form made it slower.
// The 16-lane stage has the form too: 10 instructions per 16 lanes against
// one_rounding's 12 and 5 constants against 6, the high words gathered by
// one masked VPSHUFD.  AMD Zen 5, the GEMM and conv benchmarks with and
// without it interleaved (medians of 3): the first layer 111-125 -> 94-118
// us, 1x1 56x56x128 216-225 -> 196-218 us.
//
// A kernel whose accumulators start from the bias can hand them over offset
// by 2^30, x' = x + 2^30, in [0, 2^31) where |x| < 2^30: one_rounding_offset.
// The doubling then goes into the multiplier, 2m < 2^32, an unsigned VPMULUDQ
// operand (x' * 2m = 2P + 2^31 m, the 2^31 m taken out of the addend), and
// [x < 0] is 1 - bit 30 of x':
//
//   y + zp = (high_word(x' * 2m + A2 - 2^31 m - 2^32) + (x' >> 30)) >> right
//
// the first shift logical, the second arithmetic.  That saves the doubling
// add: 9 instructions per 16 lanes (AVX2: 10 per 8).  The depthwise VNNI
// kernels run it; on AMD Zen 4, where their 3x3 layers are bound by the
// epilogue's instruction count, see depthwise_kernels.md.

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <span>
#include <type_traits>
#include <vector>

#include "qtl/detail/target_region.hpp"
#include "qtl/fixedpoint/quantize_multiplier.hpp"
#include "qtl/fixedpoint/requantize.hpp"
#include "qtl/kernels/cpu_features.hpp"

namespace qtl::kernels {

// Per-lane constants, `lanes_padded` values each (0 past the real lanes: their
// results are dropped).
struct register_requantize_constants {
    bool usable = false;       // no multiplier is INT32_MIN
    bool left_shifts = false;  // some shift is > 0
    std::vector<std::int32_t> multiplier;
    std::vector<std::int32_t> multiplier_odd;  // lane 2i holds lane 2i + 1's multiplier (VPMULDQ reads even lanes)
    std::vector<std::int32_t> left;            // max(shift, 0)
    std::vector<std::int32_t> right;           // max(-shift, 0)
    std::vector<std::int32_t> mask;            // 2^right - 1: the bits the right shift drops
    std::vector<std::int32_t> half;            // mask >> 1: RoundingDivideByPOT's threshold for x >= 0

    // The AVX-512 stage's one_rounding form: usable when every shift is in
    // [-23, -1], for output zero point `zero_point` only.  Per lane pair p
    // (lanes 2p and 2p + 1), `lanes_padded / 2` values each.
    bool one_rounding = false;
    std::int32_t zero_point = 0;
    std::vector<std::int64_t> addend_even, addend_odd;  // 2^30 + 2^(30+right) + zero_point * 2^(31+right)
    std::vector<std::int64_t> shift_even;               // 31 + right
    std::vector<std::int64_t> shift_odd;                // 31 + right - 32: an odd lane's result lands in the high word
    // The AVX2 one_rounding form's: the addends + 2^63 (mod 2^64), for P >= 0
    // and, 2^31 less, for P < 0; per lane, right - 1 and -2^(32 - right) (mod 2^32).
    std::vector<std::int64_t> logical_addend_even, logical_addend_odd;
    std::vector<std::int64_t> logical_addend_even_negative, logical_addend_odd_negative;
    std::vector<std::int32_t> logical_shift, logical_correction;
    // The one_rounding_doubled form (AVX2 and AVX-512): usable with one_rounding when the
    // caller's bound on |x| is below 2^30 and no multiplier is negative.  The
    // addends doubled: 2^31 + 2^(31+right) + zero_point * 2^(32+right).
    bool one_rounding_doubled = false;
    std::vector<std::int64_t> doubled_addend_even, doubled_addend_odd;
    // The one_rounding_offset form's (with one_rounding_doubled): 2m per lane
    // as an unsigned 32-bit pattern (lane 2i of the odd one holds lane 2i + 1's),
    // and the doubled addends - 2^31 m - 2^32 (modulo 2^64) per lane pair.
    std::vector<std::int32_t> offset_multiplier, offset_multiplier_odd;
    std::vector<std::int64_t> offset_addend_even, offset_addend_odd;
};

// The steps a register stage runs: both roundings as gemmlowp does them (with
// the left shift when some shift is > 0), or one_rounding (see the top), or
// one_rounding_doubled or one_rounding_offset (chosen by the kernels that use
// them, never by with_register_requantize_form).
enum class register_requantize_form {
    two_roundings,
    two_roundings_left_shifts,
    one_rounding,
    one_rounding_doubled,
    one_rounding_offset  // accumulators + register_requantize_offset (see the top)
};

// What one_rounding_offset's accumulators carry on top of their value.
inline constexpr std::int32_t register_requantize_offset = std::int32_t{1} << 30;

// The offset the accumulators of a stage of form F carry.
template <register_requantize_form F>
inline constexpr std::int32_t accumulator_offset_of =
    F == register_requantize_form::one_rounding_offset ? register_requantize_offset : 0;

// The bound on |accumulator + bias| of a kernel that sums `products` int8
// products (x - input zero point in [-255, 255], weights in [-128, 127]) onto
// a bias of magnitude up to `max_abs_bias`: what the one_rounding_doubled form
// needs below 2^30.
constexpr std::int64_t accumulator_bound(std::int64_t max_abs_bias, std::size_t products) noexcept {
    return max_abs_bias + static_cast<std::int64_t>(products) * 255 * 128;
}

// Calls f(std::integral_constant<register_requantize_form, F>{}) with the
// form that c and out allow.
template <class F>
void with_register_requantize_form(const register_requantize_constants& c, const requantize_params& out,
                                   const F& f) {
    using form = register_requantize_form;
    if (c.left_shifts)
        f(std::integral_constant<form, form::two_roundings_left_shifts>{});
    else if (c.one_rounding && c.zero_point == out.output_zero_point)
        f(std::integral_constant<form, form::one_rounding>{});
    else
        f(std::integral_constant<form, form::two_roundings>{});
}

// Whether a kernel may run the one_rounding_doubled form with these
// constants for output `out` (their zero point is in its addends).
inline bool one_rounding_doubled_applies(const register_requantize_constants& c,
                                         const requantize_params& out) noexcept {
    return c.one_rounding_doubled && c.zero_point == out.output_zero_point;
}

// `multipliers` holds 1 (per-tensor) or `lanes_used` values, shifts in
// [-31, 30]; `lanes_padded` is even; `zero_point` is the output's (in
// [-128, 127] for the one_rounding form); `max_abs_input` bounds |x| of every
// lane (accumulator_bound), unknown by default.
inline register_requantize_constants make_register_requantize_constants(
    std::span<const quantized_multiplier> multipliers, std::size_t lanes_used, std::size_t lanes_padded,
    std::int32_t zero_point = 0, std::int64_t max_abs_input = std::numeric_limits<std::int64_t>::max()) {
    register_requantize_constants c;
    c.usable = true;
    c.one_rounding = zero_point >= -128 && zero_point <= 127 && lanes_padded % 2 == 0;
    bool negative_multiplier = false;
    for (const quantized_multiplier& qm : multipliers) {
        if (qm.multiplier == INT32_MIN) c.usable = false;
        if (qm.shift > 0) c.left_shifts = true;
        if (qm.shift > -1 || qm.shift < -23) c.one_rounding = false;
        if (qm.multiplier < 0) negative_multiplier = true;
    }
    for (auto* v : {&c.multiplier, &c.multiplier_odd, &c.left, &c.right, &c.mask, &c.half}) v->assign(lanes_padded, 0);
    for (std::size_t lane = 0; lane < lanes_used; ++lane) {
        const quantized_multiplier qm = multipliers[multipliers.size() > 1 ? lane : 0];
        const int right = std::clamp(-qm.shift, 0, 31);
        c.multiplier[lane] = qm.multiplier;
        c.left[lane] = std::max(qm.shift, 0);
        c.right[lane] = right;
        c.mask[lane] = static_cast<std::int32_t>((std::uint32_t{1} << right) - 1u);
        c.half[lane] = c.mask[lane] >> 1;
        if (lane % 2 == 1) c.multiplier_odd[lane - 1] = qm.multiplier;
    }
    if (c.one_rounding) {
        c.zero_point = zero_point;
        for (auto* v : {&c.addend_even, &c.addend_odd, &c.shift_even, &c.shift_odd, &c.logical_addend_even,
                        &c.logical_addend_odd, &c.logical_addend_even_negative, &c.logical_addend_odd_negative})
            v->assign(lanes_padded / 2, 0);
        c.logical_shift.assign(lanes_padded, 0);
        c.logical_correction.assign(lanes_padded, 0);
        c.one_rounding_doubled = !negative_multiplier && max_abs_input >= 0 && max_abs_input < (std::int64_t{1} << 30);
        if (c.one_rounding_doubled) {
            for (auto* v : {&c.doubled_addend_even, &c.doubled_addend_odd, &c.offset_addend_even, &c.offset_addend_odd})
                v->assign(lanes_padded / 2, 0);
            c.offset_multiplier.assign(lanes_padded, 0);
            c.offset_multiplier_odd.assign(lanes_padded, 0);
        }
        for (std::size_t lane = 0; lane < lanes_padded; ++lane) {
            const int right = lane < lanes_used ? c.right[lane] : 1;  // padding: m 0, any shift gives zero_point
            const std::int64_t addend = (std::int64_t{1} << 30) + (std::int64_t{1} << (30 + right)) +
                                        std::int64_t{zero_point} * (std::int64_t{1} << (31 + right));
            const bool even = lane % 2 == 0;
            (even ? c.addend_even : c.addend_odd)[lane / 2] = addend;
            (even ? c.shift_even : c.shift_odd)[lane / 2] = 31 + right - (even ? 0 : 32);
            // Bit patterns of unsigned sums (converted back to int64 modulo 2^64).
            const std::uint64_t logical = static_cast<std::uint64_t>(addend) + (std::uint64_t{1} << 63);
            (even ? c.logical_addend_even : c.logical_addend_odd)[lane / 2] = static_cast<std::int64_t>(logical);
            (even ? c.logical_addend_even_negative : c.logical_addend_odd_negative)[lane / 2] =
                static_cast<std::int64_t>(logical - (std::uint64_t{1} << 31));
            c.logical_shift[lane] = right - 1;
            c.logical_correction[lane] = static_cast<std::int32_t>(0u - (std::uint32_t{1} << (32 - right)));
            if (c.one_rounding_doubled) {
                (even ? c.doubled_addend_even : c.doubled_addend_odd)[lane / 2] = 2 * addend;
                // m >= 0 here (one_rounding_doubled), so 2m < 2^32.
                const std::uint32_t m2 = 2 * static_cast<std::uint32_t>(c.multiplier[lane]);
                c.offset_multiplier[lane] = static_cast<std::int32_t>(m2);
                if (!even) c.offset_multiplier_odd[lane - 1] = static_cast<std::int32_t>(m2);
                const std::uint64_t offset_addend = static_cast<std::uint64_t>(2 * addend) -
                                                    (std::uint64_t{m2} << 30) - (std::uint64_t{1} << 32);
                (even ? c.offset_addend_even : c.offset_addend_odd)[lane / 2] =
                    static_cast<std::int64_t>(offset_addend);
            }
        }
    }
    return c;
}

}  // namespace qtl::kernels

#if QTL_KERNELS_X86_TARGETS
#include <immintrin.h>

// Inlined into the kernels' loops: as a call, the ABI (every vector register
// caller-saved) makes the compiler spill the accumulators.
#if defined(__GNUC__) || defined(__clang__)
#define QTL_DETAIL_REGISTER_REQUANTIZE_INLINE __attribute__((always_inline)) inline
#else
#define QTL_DETAIL_REGISTER_REQUANTIZE_INLINE inline
#endif

QTL_DETAIL_TARGET_BEGIN("avx2")

namespace qtl::kernels::register_requantize_avx2 {

// Stores the first `count` (1..8) int32 lanes of v, already within int8, as bytes.
QTL_DETAIL_REGISTER_REQUANTIZE_INLINE void store_int8_lanes(__m256i v, std::int8_t* out, std::size_t count) noexcept {
    const __m256i words = _mm256_packs_epi32(v, v);          // per half: v0..3 v0..3 | v4..7 v4..7
    const __m256i bytes = _mm256_packs_epi16(words, words);  // bytes 0..3 of each half: v0..3 | v4..7
    const __m128i eight = _mm_unpacklo_epi32(_mm256_castsi256_si128(bytes), _mm256_extracti128_si256(bytes, 1));
    if (count == 8) {
        _mm_storel_epi64(reinterpret_cast<__m128i*>(out), eight);
    } else {
        alignas(16) std::int8_t values[16];
        _mm_store_si128(reinterpret_cast<__m128i*>(values), eight);
        std::memcpy(out, values, count);
    }
}

using form = register_requantize_form;

// The stage on the lanes of channels [col, col + 8), col even; `Form` as
// with_register_requantize_form picks it.  `Uniform`: every lane has the
// same multiplier and shift (a per-tensor stage, such as ADD's), so the
// two-rounding forms shift by one count (VPSLLD/VPSRAD with an xmm count)
// where per-lane counts take VPSLLVD/VPSRAVD, 4 cycles a vector on AMD Zen 1
// (int8 ADD of 75,264 elements there: see add_int8.hpp).
template <form Form, bool Uniform = false>
class register_stage {
    // Both one-rounding forms carry the zero point in their 64-bit addends.
    static constexpr bool one_rounding =
        Form == form::one_rounding || Form == form::one_rounding_doubled || Form == form::one_rounding_offset;
    static_assert(!(Uniform && one_rounding), "the uniform stage has the two-rounding forms only");

public:
    register_stage(const register_requantize_constants& c, const requantize_params& out) noexcept
        : multiplier_(c.multiplier.data()), multiplier_odd_(c.multiplier_odd.data()), left_(c.left.data()),
          right_(c.right.data()), mask_(c.mask.data()), half_(c.half.data()),
          addend_even_(c.logical_addend_even.data()), addend_odd_(c.logical_addend_odd.data()),
          addend_even_negative_(c.logical_addend_even_negative.data()),
          addend_odd_negative_(c.logical_addend_odd_negative.data()), shift_(c.logical_shift.data()),
          correction_(c.logical_correction.data()), doubled_even_(c.doubled_addend_even.data()),
          doubled_odd_(c.doubled_addend_odd.data()), offset_multiplier_(c.offset_multiplier.data()),
          offset_multiplier_odd_(c.offset_multiplier_odd.data()), offset_even_(c.offset_addend_even.data()),
          offset_odd_(c.offset_addend_odd.data()), left_count_(_mm_cvtsi32_si128(c.left.empty() ? 0 : c.left[0])),
          right_count_(_mm_cvtsi32_si128(c.right.empty() ? 0 : c.right[0])),
          low_(_mm256_set1_epi32(out.activation_min - (one_rounding ? 0 : out.output_zero_point))),
          high_(_mm256_set1_epi32(out.activation_max - (one_rounding ? 0 : out.output_zero_point))),
          zero_point_(_mm256_set1_epi32(out.output_zero_point)),
          zero_point16_(_mm256_set1_epi16(static_cast<std::int16_t>(out.output_zero_point))),
          min8_(_mm256_set1_epi8(static_cast<std::int8_t>(out.activation_min))),
          max8_(_mm256_set1_epi8(static_cast<std::int8_t>(out.activation_max))),
          clamp_bytes_(out.activation_min > INT8_MIN || out.activation_max < INT8_MAX) {}

    // The whole stage: int32 lanes already within the activation range
    // (qtl's requantize_clamp order: clamp, then add the zero point, no int32
    // overflow; one_rounding's lanes hold the zero point already).
    QTL_DETAIL_REGISTER_REQUANTIZE_INLINE __m256i operator()(__m256i x, std::size_t col) const noexcept {
        const __m256i clamped = _mm256_min_epi32(_mm256_max_epi32(scaled(x, col), low_), high_);
        if constexpr (one_rounding) return clamped;
        return _mm256_add_epi32(clamped, zero_point_);
    }

    // The stage ending in bytes, for a (channels [col_a, col_a + 8)) and b
    // ([col_b, col_b + 8)): the zero point and clamp applied after narrowing,
    // with saturation at each step, which gives the same bytes as clamping the
    // exact int32 sum (a product beyond int16 saturates to a value whose sum
    // with the zero point still lies beyond int8, so it clamps to the same
    // bound).  Bytes: a[0-7] b[0-7].
    QTL_DETAIL_REGISTER_REQUANTIZE_INLINE __m128i two_to_bytes(__m256i a, std::size_t col_a, __m256i b,
                                                               std::size_t col_b) const noexcept {
        const __m256i ab = with_zero_point(_mm256_packs_epi32(scaled(a, col_a), scaled(b, col_b)));
        // Per 128-bit half: a[0-3] b[0-3] (twice) | a[4-7] b[4-7] (twice).
        const __m256i bytes = clamped_bytes(_mm256_packs_epi16(ab, ab));
        return _mm_unpacklo_epi32(_mm256_castsi256_si128(bytes), _mm256_extracti128_si256(bytes, 1));
    }

    // Four vectors of the same channels [col, col + 8), the same way.  Bytes
    // per 128-bit half: a[0-3] b[0-3] c[0-3] d[0-3] | a[4-7] b[4-7] c[4-7] d[4-7].
    QTL_DETAIL_REGISTER_REQUANTIZE_INLINE __m256i four_to_bytes(__m256i a, __m256i b, __m256i c, __m256i d,
                                                                std::size_t col) const noexcept {
        const __m256i ab = with_zero_point(_mm256_packs_epi32(scaled(a, col), scaled(b, col)));
        const __m256i cd = with_zero_point(_mm256_packs_epi32(scaled(c, col), scaled(d, col)));
        return clamped_bytes(_mm256_packs_epi16(ab, cd));
    }

    // multiply_by_quantized_multiplier<double_rounding>, lane by lane (plus
    // the zero point in the one_rounding form; no clamp).
    QTL_DETAIL_REGISTER_REQUANTIZE_INLINE __m256i scaled(__m256i x, std::size_t col) const noexcept {
        if constexpr (Form == form::one_rounding_offset) {  // x holds x + 2^30 (see the top)
            const std::size_t pair = col / 2;
            const __m256i even =
                _mm256_add_epi64(_mm256_mul_epu32(x, load(offset_multiplier_ + col)), load(offset_even_ + pair));
            const __m256i odd = _mm256_add_epi64(_mm256_mul_epu32(odd_lanes(x), load(offset_multiplier_odd_ + col)),
                                                 load(offset_odd_ + pair));
            const __m256i high_words = _mm256_blend_epi32(odd_lanes(even), odd, 0xAA);
            return _mm256_srav_epi32(_mm256_add_epi32(high_words, _mm256_srli_epi32(x, 30)), load(right_ + col));
        }
        if constexpr (Form == form::one_rounding_doubled) {
            const __m256i x2 = _mm256_add_epi32(x, x);
            const std::size_t pair = col / 2;
            const __m256i even = _mm256_add_epi64(_mm256_mul_epi32(x2, load(multiplier_ + col)), load(doubled_even_ + pair));
            const __m256i odd =
                _mm256_add_epi64(_mm256_mul_epi32(odd_lanes(x2), load(multiplier_odd_ + col)), load(doubled_odd_ + pair));
            // The high words (floor(sum / 2^32)), minus 1 where x < 0, shifted arithmetically by right.
            const __m256i high_words = _mm256_blend_epi32(odd_lanes(even), odd, 0xAA);
            const __m256i negative = _mm256_cmpgt_epi32(_mm256_setzero_si256(), x2);
            return _mm256_srav_epi32(_mm256_add_epi32(high_words, negative), load(right_ + col));
        }
        if constexpr (one_rounding) {
            const __m256i even = _mm256_mul_epi32(x, load(multiplier_ + col));
            const __m256i odd = _mm256_mul_epi32(_mm256_srli_epi64(x, 32), load(multiplier_odd_ + col));
            const std::size_t pair = col / 2;
            const __m256i sum_even =
                _mm256_add_epi64(even, by_sign(even, load(addend_even_ + pair), load(addend_even_negative_ + pair)));
            const __m256i sum_odd =
                _mm256_add_epi64(odd, by_sign(odd, load(addend_odd_ + pair), load(addend_odd_negative_ + pair)));
            // floor(sum / 2^32) of every lane (an odd lane's is its high word already), then one
            // variable shift by right - 1 on 32 bits: variable shifts are the slow ones on AMD Zen 1.
            const __m256i high_words = _mm256_blend_epi32(_mm256_srli_epi64(sum_even, 32), sum_odd, 0xAA);
            return _mm256_add_epi32(_mm256_srlv_epi32(high_words, load(shift_ + col)), load(correction_ + col));
        }
        if constexpr (Form == form::two_roundings_left_shifts)
            x = Uniform ? _mm256_sll_epi32(x, left_count_) : _mm256_sllv_epi32(x, load(left_ + col));
        const __m256i m = load(multiplier_ + col);
        const __m256i nudge = _mm256_set1_epi64x(std::int64_t{1} << 30);
        const __m256i even = _mm256_add_epi64(_mm256_mul_epi32(x, m), nudge);
        const __m256i odd =
            _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(x, 32), load(multiplier_odd_ + col)), nudge);
        const __m256i h = _mm256_blend_epi32(_mm256_srli_epi64(even, 31), _mm256_slli_epi64(odd, 1), 0xAA);
        const __m256i threshold = _mm256_sub_epi32(load(half_ + col), _mm256_srai_epi32(h, 31));
        const __m256i remainder = _mm256_and_si256(h, load(mask_ + col));
        const __m256i shifted = Uniform ? _mm256_sra_epi32(h, right_count_) : _mm256_srav_epi32(h, load(right_ + col));
        return _mm256_sub_epi32(shifted, _mm256_cmpgt_epi32(remainder, threshold));
    }

private:
    // Lanes 1, 1, 3, 3, ...: the odd lanes (or a 64-bit lane's high word) where
    // VPMULDQ reads, by a shuffle (a 64-bit shift takes the shift unit, one ymm
    // shift every 2 cycles on AMD Zen 1).
    static __m256i odd_lanes(__m256i x) noexcept { return _mm256_shuffle_epi32(x, 0xF5); }
    // The saturating packs clamp to [-128, 127] already: a narrower
    // activation range (e.g. a fused ReLU6) needs the byte min/max too.
    QTL_DETAIL_REGISTER_REQUANTIZE_INLINE __m256i clamped_bytes(__m256i bytes) const noexcept {
        return clamp_bytes_ ? _mm256_min_epi8(_mm256_max_epi8(bytes, min8_), max8_) : bytes;
    }
    template <class T>
    static __m256i load(const T* p) noexcept {
        return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    }
    // Per 64-bit lane: `negative` where `product` is < 0, else `positive`.
    static __m256i by_sign(__m256i product, __m256i positive, __m256i negative) noexcept {
        return _mm256_castpd_si256(_mm256_blendv_pd(_mm256_castsi256_pd(positive), _mm256_castsi256_pd(negative),
                                                    _mm256_castsi256_pd(product)));
    }
    QTL_DETAIL_REGISTER_REQUANTIZE_INLINE __m256i with_zero_point(__m256i words) const noexcept {
        if constexpr (one_rounding) return words;
        return _mm256_adds_epi16(words, zero_point16_);
    }
    const std::int32_t* multiplier_;
    const std::int32_t* multiplier_odd_;
    const std::int32_t* left_;
    const std::int32_t* right_;
    const std::int32_t* mask_;
    const std::int32_t* half_;
    const std::int64_t* addend_even_;
    const std::int64_t* addend_odd_;
    const std::int64_t* addend_even_negative_;
    const std::int64_t* addend_odd_negative_;
    const std::int32_t* shift_;
    const std::int32_t* correction_;
    const std::int64_t* doubled_even_;
    const std::int64_t* doubled_odd_;
    const std::int32_t* offset_multiplier_;
    const std::int32_t* offset_multiplier_odd_;
    const std::int64_t* offset_even_;
    const std::int64_t* offset_odd_;
    __m128i left_count_, right_count_;  // the Uniform stage's shifts
    __m256i low_, high_, zero_point_, zero_point16_, min8_, max8_;
    bool clamp_bytes_;
};

// requantize<int8_t, double_rounding> of acc[8 q + l], lane l of channels
// [col, col + 8), q < 4, through every form of the stage (for tests): q = 0
// through the one-vector form into `one`, all four through four_to_bytes
// into `four`, and q = 0, 1 through two_to_bytes (b at col + 8 when
// `two_cols` is 16, else col) into `two`.  Needs c.usable; the stage is the
// one with_register_requantize_form picks, or the Uniform one (c per-tensor),
// or one_rounding_doubled (c.one_rounding_doubled), or one_rounding_offset
// (likewise; acc as the values, the offset added here).
enum class lanes_stage { by_form, uniform, one_rounding_doubled, one_rounding_offset };
inline void requantize_lanes(const register_requantize_constants& c, const requantize_params& out,
                             const std::int32_t* acc, std::size_t col, std::size_t col_b, std::int8_t* one,
                             std::int8_t* two, std::int8_t* four, lanes_stage which = lanes_stage::by_form) noexcept {
    __m256i x[4];
    const __m256i offset =
        _mm256_set1_epi32(which == lanes_stage::one_rounding_offset ? register_requantize_offset : 0);
    for (int q = 0; q < 4; ++q)
        x[q] = _mm256_add_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(acc + 8 * q)), offset);
    const auto run = [&](const auto& stage) {
        store_int8_lanes(stage(x[0], col), one, 8);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(two), stage.two_to_bytes(x[0], col, x[1], col_b));
        alignas(32) std::int8_t bytes[32];
        _mm256_store_si256(reinterpret_cast<__m256i*>(bytes), stage.four_to_bytes(x[0], x[1], x[2], x[3], col));
        for (int q = 0; q < 4; ++q)
            for (int l = 0; l < 8; ++l) four[8 * q + l] = bytes[(l / 4) * 16 + q * 4 + l % 4];
    };
    if (which == lanes_stage::uniform)
        run(register_stage<form::two_roundings_left_shifts, true>(c, out));
    else if (which == lanes_stage::one_rounding_doubled)
        run(register_stage<form::one_rounding_doubled>(c, out));
    else if (which == lanes_stage::one_rounding_offset)
        run(register_stage<form::one_rounding_offset>(c, out));
    else
        with_register_requantize_form(c, out, [&](auto f) { run(register_stage<decltype(f)::value>(c, out)); });
}

}  // namespace qtl::kernels::register_requantize_avx2

QTL_DETAIL_TARGET_END

QTL_DETAIL_TARGET_BEGIN("avx2,avx512f,avx512bw")

namespace qtl::kernels::register_requantize_avx512 {

// Stores the first `count` (1..16) int32 lanes of v, already within int8, as
// bytes (the truncating narrow is exact there).
QTL_DETAIL_REGISTER_REQUANTIZE_INLINE void store_int8_lanes(__m512i v, std::int8_t* out, std::size_t count) noexcept {
    if (count == 16)
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm512_cvtepi32_epi8(v));
    else
        _mm512_mask_cvtepi32_storeu_epi8(out, static_cast<__mmask16>((1u << count) - 1), v);
}

using form = register_requantize_form;

// register_requantize_avx2::register_stage on the lanes of channels
// [col, col + 16), col even; `Form` as with_register_requantize_form picks it.
template <form Form>
class register_stage {
    static constexpr bool one_rounding =
        Form == form::one_rounding || Form == form::one_rounding_doubled || Form == form::one_rounding_offset;

public:
    register_stage(const register_requantize_constants& c, const requantize_params& out) noexcept
        : multiplier_(c.multiplier.data()), multiplier_odd_(c.multiplier_odd.data()), left_(c.left.data()),
          right_(c.right.data()), mask_(c.mask.data()), half_(c.half.data()), addend_even_(c.addend_even.data()),
          addend_odd_(c.addend_odd.data()), shift_even_(c.shift_even.data()), shift_odd_(c.shift_odd.data()),
          doubled_even_(c.doubled_addend_even.data()), doubled_odd_(c.doubled_addend_odd.data()),
          offset_multiplier_(c.offset_multiplier.data()), offset_multiplier_odd_(c.offset_multiplier_odd.data()),
          offset_even_(c.offset_addend_even.data()), offset_odd_(c.offset_addend_odd.data()),
          low_(_mm512_set1_epi32(out.activation_min - (one_rounding ? 0 : out.output_zero_point))),
          high_(_mm512_set1_epi32(out.activation_max - (one_rounding ? 0 : out.output_zero_point))),
          zero_point_(_mm512_set1_epi32(out.output_zero_point)),
          zero_point16_(_mm512_set1_epi16(static_cast<std::int16_t>(out.output_zero_point))),
          min8_(_mm512_set1_epi8(static_cast<char>(out.activation_min))),
          max8_(_mm512_set1_epi8(static_cast<char>(out.activation_max))),
          clamp_bytes_(out.activation_min > INT8_MIN || out.activation_max < INT8_MAX) {}

    // The whole stage: int32 lanes within the activation range (clamp, then
    // add the zero point, as qtl's requantize_clamp: no int32 overflow;
    // one_rounding's lanes hold the zero point already, and no overflow either).
    QTL_DETAIL_REGISTER_REQUANTIZE_INLINE __m512i operator()(__m512i x, std::size_t col) const noexcept {
        const __m512i clamped = _mm512_min_epi32(_mm512_max_epi32(scaled(x, col), low_), high_);
        if constexpr (one_rounding) return clamped;
        return _mm512_add_epi32(clamped, zero_point_);
    }

    // The whole stage on four vectors at once, as bytes: the lanes of x[q]
    // (channels [col + q * col_step, + 16)) in bytes [16 q, 16 q + 16).
    // Narrowing by saturating packs costs 9 instructions per 64 outputs
    // after `scaled`, against 16 for four vectors through operator() and
    // store_int8_lanes, whose VPMOVDB is two uops and slow on AMD Zen 5
    // (3x3 depthwise 56x56x128 there: 160 -> 110 us with this).
    QTL_DETAIL_REGISTER_REQUANTIZE_INLINE __m512i four_to_bytes(const __m512i (&x)[4], std::size_t col,
                                                                std::size_t col_step) const noexcept {
        return narrow4(scaled(x[0], col), scaled(x[1], col + col_step), scaled(x[2], col + 2 * col_step),
                       scaled(x[3], col + 3 * col_step));
    }
    // four_to_bytes of two vectors: a's lanes in bytes [0, 16), b's in [16, 32).
    QTL_DETAIL_REGISTER_REQUANTIZE_INLINE __m512i two_to_bytes(__m512i a, __m512i b, std::size_t col,
                                                               std::size_t col_step) const noexcept {
        const __m512i sa = scaled(a, col), sb = scaled(b, col + col_step);
        return narrow4(sa, sb, sa, sb);
    }

    // four_to_bytes of two rows of two vectors each (channels [col, col +
    // 16) and [col + col_step, + 16)): row a's lanes in bytes [0, 32), row b's in [32, 64).
    QTL_DETAIL_REGISTER_REQUANTIZE_INLINE __m512i two_rows_to_bytes(__m512i a0, __m512i a1, __m512i b0, __m512i b1,
                                                                    std::size_t col,
                                                                    std::size_t col_step) const noexcept {
        return narrow4(scaled(a0, col), scaled(a1, col + col_step), scaled(b0, col), scaled(b1, col + col_step));
    }

    // four_to_bytes of vectors scaled already (scaled(x[q], ...)).
    QTL_DETAIL_REGISTER_REQUANTIZE_INLINE __m512i scaled_to_bytes(const __m512i (&s)[4]) const noexcept {
        return narrow4(s[0], s[1], s[2], s[3]);
    }

    // The constants `scaled` reads for channels [col, col + 16), loaded once
    // by a kernel that scales many vectors of the same channels
    // (gemm_int8_pair_tile_run): held in registers there, they are not
    // reloaded after every store of output bytes, which for all the compiler
    // knows may change them.  The doubled form's five vectors; the other
    // forms (more constants, rarer) keep the column and load as they go.
    struct high_word_constants {
        __m512i multiplier, multiplier_odd, addend_even, addend_odd, right;
    };
    struct column_index {
        std::size_t col;
    };
    using column_constants =
        std::conditional_t<Form == form::one_rounding_doubled, high_word_constants, column_index>;

    QTL_DETAIL_REGISTER_REQUANTIZE_INLINE column_constants constants(std::size_t col) const noexcept {
        if constexpr (Form == form::one_rounding_doubled)
            return load_high_word_constants(multiplier_, multiplier_odd_, doubled_even_, doubled_odd_, col);
        else
            return {col};
    }

    // multiply_by_quantized_multiplier<double_rounding>, lane by lane (plus
    // the zero point in the one_rounding form); the steps of the AVX2 stage,
    // the rounding carry added under a mask.
    QTL_DETAIL_REGISTER_REQUANTIZE_INLINE __m512i scaled(__m512i x, const column_constants& k) const noexcept {
        if constexpr (Form == form::one_rounding_doubled) {
            // The AVX2 form on 16 lanes (see the top): 10 instructions, not 12.
            const __m512i x2 = _mm512_add_epi32(x, x);
            return from_high_words<false>(x2, k, _mm512_srai_epi32(x2, 31));
        } else {
            return scaled(x, k.col);
        }
    }
    QTL_DETAIL_REGISTER_REQUANTIZE_INLINE __m512i scaled(__m512i x, std::size_t col) const noexcept {
        if constexpr (Form == form::one_rounding_offset)  // x holds x + 2^30 (see the top): 9 instructions
            return from_high_words<true>(
                x, load_high_word_constants(offset_multiplier_, offset_multiplier_odd_, offset_even_, offset_odd_, col),
                _mm512_srli_epi32(x, 30));
        if constexpr (Form == form::one_rounding_doubled) return scaled(x, constants(col));
        if constexpr (one_rounding) {
            const __m512i even = _mm512_mul_epi32(x, _mm512_loadu_si512(multiplier_ + col));
            const __m512i odd = _mm512_mul_epi32(_mm512_srli_epi64(x, 32), _mm512_loadu_si512(multiplier_odd_ + col));
            const __m512i sum_even = _mm512_add_epi64(even, _mm512_loadu_si512(addend_even_ + col / 2));
            const __m512i sum_odd = _mm512_add_epi64(odd, _mm512_loadu_si512(addend_odd_ + col / 2));
            const __m512i zero = _mm512_setzero_si512(), carry = _mm512_set1_epi64(std::int64_t{1} << 31);
            const __m512i rounded_even =
                _mm512_mask_sub_epi64(sum_even, _mm512_cmplt_epi64_mask(even, zero), sum_even, carry);
            const __m512i rounded_odd =
                _mm512_mask_sub_epi64(sum_odd, _mm512_cmplt_epi64_mask(odd, zero), sum_odd, carry);
            return _mm512_mask_blend_epi32(__mmask16(0xAAAA),
                                           _mm512_srav_epi64(rounded_even, _mm512_loadu_si512(shift_even_ + col / 2)),
                                           _mm512_srav_epi64(rounded_odd, _mm512_loadu_si512(shift_odd_ + col / 2)));
        }
        if constexpr (Form == form::two_roundings_left_shifts)
            x = _mm512_sllv_epi32(x, _mm512_loadu_si512(left_ + col));
        const __m512i nudge = _mm512_set1_epi64(std::int64_t{1} << 30);
        const __m512i even = _mm512_add_epi64(_mm512_mul_epi32(x, _mm512_loadu_si512(multiplier_ + col)), nudge);
        const __m512i odd = _mm512_add_epi64(
            _mm512_mul_epi32(_mm512_srli_epi64(x, 32), _mm512_loadu_si512(multiplier_odd_ + col)), nudge);
        const __m512i h =
            _mm512_mask_blend_epi32(__mmask16(0xAAAA), _mm512_srli_epi64(even, 31), _mm512_slli_epi64(odd, 1));
        const __m512i threshold = _mm512_sub_epi32(_mm512_loadu_si512(half_ + col), _mm512_srai_epi32(h, 31));
        const __m512i remainder = _mm512_and_si512(h, _mm512_loadu_si512(mask_ + col));
        const __m512i shifted = _mm512_srav_epi32(h, _mm512_loadu_si512(right_ + col));
        const __mmask16 round_up = _mm512_cmpgt_epi32_mask(remainder, threshold);
        return _mm512_mask_add_epi32(shifted, round_up, shifted, _mm512_set1_epi32(1));
    }

private:
    // Lanes 1, 1, 3, 3, ... (a 64-bit lane's high word, or the odd lanes where VPMULDQ reads).
    static constexpr _MM_PERM_ENUM odd_lanes_control = static_cast<_MM_PERM_ENUM>(0xF5);
    static __m512i odd_lanes(__m512i x) noexcept { return _mm512_shuffle_epi32(x, odd_lanes_control); }
    // The doubled forms' constants for channels [col, col + 16).
    QTL_DETAIL_REGISTER_REQUANTIZE_INLINE high_word_constants load_high_word_constants(
        const std::int32_t* multiplier, const std::int32_t* multiplier_odd, const std::int64_t* addend_even,
        const std::int64_t* addend_odd, std::size_t col) const noexcept {
        return {_mm512_loadu_si512(multiplier + col), _mm512_loadu_si512(multiplier_odd + col),
                _mm512_loadu_si512(addend_even + col / 2), _mm512_loadu_si512(addend_odd + col / 2),
                _mm512_loadu_si512(right_ + col)};
    }
    // The doubled forms' end: the high word of each lane's x * multiplier +
    // addend (64-bit, the product signed or Unsigned), gathered by one masked
    // dword shuffle, plus `sign_term`, shifted arithmetically by right.
    template <bool Unsigned>
    QTL_DETAIL_REGISTER_REQUANTIZE_INLINE static __m512i from_high_words(__m512i x, const high_word_constants& k,
                                                                         __m512i sign_term) noexcept {
        const __m512i product_even = Unsigned ? _mm512_mul_epu32(x, k.multiplier) : _mm512_mul_epi32(x, k.multiplier);
        const __m512i x_odd = odd_lanes(x);
        const __m512i product_odd =
            Unsigned ? _mm512_mul_epu32(x_odd, k.multiplier_odd) : _mm512_mul_epi32(x_odd, k.multiplier_odd);
        const __m512i even = _mm512_add_epi64(product_even, k.addend_even);
        const __m512i odd = _mm512_add_epi64(product_odd, k.addend_odd);
        const __m512i high_words = _mm512_mask_shuffle_epi32(odd, __mmask16(0x5555), even, odd_lanes_control);
        return _mm512_srav_epi32(_mm512_add_epi32(high_words, sign_term), k.right);
    }
    // Scaled lanes to bytes: saturating packs to int16, the zero point added
    // there (saturating), to int8, then the clamp.  Exact: a value a pack
    // saturates is beyond int8 on the same side after any int8 zero point.
    QTL_DETAIL_REGISTER_REQUANTIZE_INLINE __m512i narrow4(__m512i s0, __m512i s1, __m512i s2,
                                                         __m512i s3) const noexcept {
        __m512i s01 = _mm512_packs_epi32(s0, s1), s23 = _mm512_packs_epi32(s2, s3);
        if constexpr (!one_rounding) {
            s01 = _mm512_adds_epi16(s01, zero_point16_);
            s23 = _mm512_adds_epi16(s23, zero_point16_);
        }
        __m512i b = _mm512_packs_epi16(s01, s23);
        // The packs saturate to [-128, 127] themselves: the byte clamp only
        // for a narrower range (a fused ReLU), as in the AVX2 stage (the
        // first layer 3x3x3 -> 32 without it 105.3 -> 103.0 us, AMD Zen 4).
        if (clamp_bytes_) b = _mm512_min_epi8(_mm512_max_epi8(b, min8_), max8_);
        // 128-bit lane i holds lanes 4i..4i+3 of s0, s1, s2, s3 (a dword
        // each): a 4x4 transpose of dwords puts each vector's in order.
        const __m512i transpose = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
        return _mm512_permutexvar_epi32(transpose, b);
    }

    const std::int32_t* multiplier_;
    const std::int32_t* multiplier_odd_;
    const std::int32_t* left_;
    const std::int32_t* right_;
    const std::int32_t* mask_;
    const std::int32_t* half_;
    const std::int64_t* addend_even_;
    const std::int64_t* addend_odd_;
    const std::int64_t* shift_even_;
    const std::int64_t* shift_odd_;
    const std::int64_t* doubled_even_;
    const std::int64_t* doubled_odd_;
    const std::int32_t* offset_multiplier_;
    const std::int32_t* offset_multiplier_odd_;
    const std::int64_t* offset_even_;
    const std::int64_t* offset_odd_;
    __m512i low_, high_, zero_point_;
    __m512i zero_point16_, min8_, max8_;  // narrow4's constants
    bool clamp_bytes_;
};

// requantize<int8_t, double_rounding> of acc[16 q + l], lane l of channels
// [col + q * col_step, + 16), q < 4, through every form of the stage (for
// tests): q = 0 through operator() and store_int8_lanes into `one`, q = 0, 1
// through two_to_bytes into `two`, all four through four_to_bytes into
// `four`; and all four through two_rows_to_bytes into `rows`, where vector q
// has channels [col + (q % 2) * col_step, + 16).  Needs c.usable; the stage
// is the one with_register_requantize_form picks, or `special` (one_rounding_doubled
// or one_rounding_offset, which need c.one_rounding_doubled; acc as the values,
// the offset added here).
inline void requantize_lanes(const register_requantize_constants& c, const requantize_params& out,
                             const std::int32_t* acc, std::size_t col, std::size_t col_step, std::int8_t* one,
                             std::int8_t* two, std::int8_t* four, std::int8_t* rows,
                             std::optional<form> special = std::nullopt) noexcept {
    const __m512i offset =
        _mm512_set1_epi32(special == form::one_rounding_offset ? register_requantize_offset : 0);
    const __m512i x[4] = {
        _mm512_add_epi32(_mm512_loadu_si512(acc), offset), _mm512_add_epi32(_mm512_loadu_si512(acc + 16), offset),
        _mm512_add_epi32(_mm512_loadu_si512(acc + 32), offset), _mm512_add_epi32(_mm512_loadu_si512(acc + 48), offset)};
    const auto run = [&](const auto& stage) {
        store_int8_lanes(stage(x[0], col), one, 16);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(two),
                            _mm512_castsi512_si256(stage.two_to_bytes(x[0], x[1], col, col_step)));
        _mm512_storeu_si512(four, stage.four_to_bytes(x, col, col_step));
        _mm512_storeu_si512(rows, stage.two_rows_to_bytes(x[0], x[1], x[2], x[3], col, col_step));
    };
    if (special == form::one_rounding_doubled)
        run(register_stage<form::one_rounding_doubled>(c, out));
    else if (special == form::one_rounding_offset)
        run(register_stage<form::one_rounding_offset>(c, out));
    else
        with_register_requantize_form(c, out, [&](auto f) { run(register_stage<decltype(f)::value>(c, out)); });
}

}  // namespace qtl::kernels::register_requantize_avx512

QTL_DETAIL_TARGET_END
#endif  // QTL_KERNELS_X86_TARGETS
