#pragma once
// int8 ADD and SUB of two runs of equal length on AVX2 registers: TFLite's
// quantized ADD/SUB (general path), bit-exact with its reference kernel:
//
//   scaled_i = MultiplyByQuantizedMultiplierSmallerThanOneExp((x_i + offset_i) << left_shift, m_i, s_i)
//   out      = clamp(MultiplyByQuantizedMultiplierSmallerThanOneExp(scaled_1 +- scaled_2, m_out, s_out) + zp)
//
// Each of the three products is the register stage of
// register_requantize.hpp with its constants replicated over the lanes: on
// AVX-512BW 64 elements a step (the output's product in the one_rounding
// form where its shift is in [-23, -1], as TFLite's int8 ADD has), else on
// AVX2 16 a step; narrowed to bytes together.  ops::add / ops::sub route
// same-shape int8 runs here when the CPU has AVX2 (any x86-64 build: the
// kernels carry their own target regions); the rest takes their xsimd path.
//
//   auto c = kernels::make_add_int8_constants(...);      // once (prepare)
//   if (kernels::add_int8_runs_here(c)) kernels::add_int8<false>(c, a, b, n, out);

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "qtl/detail/target_region.hpp"
#include "qtl/fixedpoint/quantize_multiplier.hpp"
#include "qtl/fixedpoint/requantize.hpp"
#include "qtl/kernels/cpu_features.hpp"
#include "qtl/kernels/register_requantize.hpp"

namespace qtl::kernels {

struct add_int8_constants {
    std::int32_t offset1 = 0, offset2 = 0;  // minus the inputs' zero points
    int left_shift = 0;                      // 20 for int8
    register_requantize_constants input1, input2, output;  // 8 lanes each
    requantize_params out;
    // The same on 16 lanes for the AVX-512 kernel (no left shifts: TFLite's
    // ADD multipliers are at most 1/2).
    register_requantize_constants input1_16, input2_16, output_16;
};

inline add_int8_constants make_add_int8_constants(std::int32_t offset1, quantized_multiplier input1,
                                                  std::int32_t offset2, quantized_multiplier input2, int left_shift,
                                                  quantized_multiplier output, const requantize_params& out) {
    add_int8_constants c;
    c.offset1 = offset1;
    c.offset2 = offset2;
    c.left_shift = left_shift;
    c.input1 = make_register_requantize_constants(std::span(&input1, 1), 8, 8);
    c.input2 = make_register_requantize_constants(std::span(&input2, 1), 8, 8);
    c.output = make_register_requantize_constants(std::span(&output, 1), 8, 8);
    c.out = out;
    c.input1_16 = make_register_requantize_constants(std::span(&input1, 1), 16, 16, 0);
    c.input2_16 = make_register_requantize_constants(std::span(&input2, 1), 16, 16, 0);
    c.output_16 = make_register_requantize_constants(std::span(&output, 1), 16, 16, out.output_zero_point);
    return c;
}

// Whether add_int8 can run: an x86 build, a CPU with AVX2, no INT32_MIN
// multiplier and a left shift in [0, 31] (the shift wraps like qtl's
// wrapping_shift_left).
inline bool add_int8_runs_here(const add_int8_constants& c) noexcept {
#if QTL_KERNELS_X86_TARGETS
    return host_cpu_features().avx2 && c.input1.usable && c.input2.usable && c.output.usable && c.left_shift >= 0 &&
           c.left_shift <= 31;
#else
    (void)c;
    return false;
#endif
}

}  // namespace qtl::kernels

#if QTL_KERNELS_X86_TARGETS
QTL_DETAIL_TARGET_BEGIN("avx2")

namespace qtl::kernels {

namespace detail::add_avx2 {

template <bool Subtract>
class stage {
public:
    explicit stage(const add_int8_constants& c) noexcept
        : offset1_(_mm256_set1_epi32(c.offset1)), offset2_(_mm256_set1_epi32(c.offset2)), shift_(c.left_shift),
          input1_(c.input1, c.out), input2_(c.input2, c.out), output_(c.output, c.out) {}

    // 16 outputs from 16 bytes of each input.
    __m128i operator()(__m128i a, __m128i b) const noexcept {
        const __m256i lo = sum(_mm256_cvtepi8_epi32(a), _mm256_cvtepi8_epi32(b));
        const __m256i hi = sum(_mm256_cvtepi8_epi32(_mm_srli_si128(a, 8)), _mm256_cvtepi8_epi32(_mm_srli_si128(b, 8)));
        return output_.two_to_bytes(lo, 0, hi, 0);
    }

private:
    __m256i sum(__m256i a, __m256i b) const noexcept {
        const __m256i x = input1_.scaled(_mm256_slli_epi32(_mm256_add_epi32(a, offset1_), shift_), 0);
        const __m256i y = input2_.scaled(_mm256_slli_epi32(_mm256_add_epi32(b, offset2_), shift_), 0);
        return Subtract ? _mm256_sub_epi32(x, y) : _mm256_add_epi32(x, y);
    }
    __m256i offset1_, offset2_;
    int shift_;
    // Per-tensor: uniform shifts, one count for all lanes (75,264 elements
    // on AMD Zen 1: 192 -> 178 us against per-lane counts).
    using uniform_stage = register_requantize_avx2::register_stage<register_requantize_form::two_roundings_left_shifts,
                                                                   true>;
    uniform_stage input1_, input2_, output_;
};

}  // namespace detail::add_avx2

// add_int8 on AVX2 registers, 16 elements a step.  Needs add_int8_runs_here(c).
template <bool Subtract>
void add_int8_avx2(const add_int8_constants& c, const std::int8_t* a, const std::int8_t* b, std::size_t n,
                   std::int8_t* out) noexcept {
    const detail::add_avx2::stage<Subtract> step(c);
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m128i va = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i));
        const __m128i vb = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), step(va, vb));
    }
    if (i < n) {  // the tail through zero-padded copies
        alignas(16) std::int8_t ta[16] = {}, tb[16] = {}, to[16];
        std::memcpy(ta, a + i, n - i);
        std::memcpy(tb, b + i, n - i);
        _mm_store_si128(reinterpret_cast<__m128i*>(to),
                        step(_mm_load_si128(reinterpret_cast<const __m128i*>(ta)),
                             _mm_load_si128(reinterpret_cast<const __m128i*>(tb))));
        std::memcpy(out + i, to, n - i);
    }
}

}  // namespace qtl::kernels

QTL_DETAIL_TARGET_END
QTL_DETAIL_TARGET_BEGIN("avx2,avx512f,avx512bw")

namespace qtl::kernels {

namespace detail::add_avx512 {

// The inputs' products in the stage's two_roundings form (the input with
// the larger scale has multiplier 1/2, a shift of 0, which one_rounding
// does not take), the output's in OutputForm.
template <bool Subtract, register_requantize_avx512::form OutputForm>
void add(const add_int8_constants& c, const std::int8_t* a, const std::int8_t* b, std::size_t n,
         std::int8_t* out) noexcept {
    using register_requantize_avx512::form;
    using register_requantize_avx512::register_stage;
    const requantize_params unclamped{0, INT32_MIN, INT32_MAX};  // the inputs' stages: scaled() only
    const register_stage<form::two_roundings> input1(c.input1_16, unclamped), input2(c.input2_16, unclamped);
    const register_stage<OutputForm> output(c.output_16, c.out);
    const __m512i offset1 = _mm512_set1_epi32(c.offset1), offset2 = _mm512_set1_epi32(c.offset2);
    const __m128i shift = _mm_cvtsi32_si128(c.left_shift);
    // 16 elements of each input (int8 in a 128-bit lane) to their scaled sum.
    const auto sum16 = [&](__m128i a16, __m128i b16) {
        const __m512i x = _mm512_add_epi32(_mm512_cvtepi8_epi32(a16), offset1);
        const __m512i y = _mm512_add_epi32(_mm512_cvtepi8_epi32(b16), offset2);
        const __m512i sx = input1.scaled(_mm512_sll_epi32(x, shift), 0);
        const __m512i sy = input2.scaled(_mm512_sll_epi32(y, shift), 0);
        return Subtract ? _mm512_sub_epi32(sx, sy) : _mm512_add_epi32(sx, sy);
    };
    const auto step = [&](__m512i va, __m512i vb) {
        const __m512i sum[4] = {
            sum16(_mm512_castsi512_si128(va), _mm512_castsi512_si128(vb)),
            sum16(_mm512_extracti32x4_epi32(va, 1), _mm512_extracti32x4_epi32(vb, 1)),
            sum16(_mm512_extracti32x4_epi32(va, 2), _mm512_extracti32x4_epi32(vb, 2)),
            sum16(_mm512_extracti32x4_epi32(va, 3), _mm512_extracti32x4_epi32(vb, 3))};
        return output.four_to_bytes(sum, 0, 0);  // sum[q]'s lanes in bytes [16 q, 16 q + 16)
    };
    std::size_t i = 0;
    for (; i + 64 <= n; i += 64)
        _mm512_storeu_si512(out + i, step(_mm512_loadu_si512(a + i), _mm512_loadu_si512(b + i)));
    if (i < n) {  // the tail under byte masks
        const __mmask64 tail = (__mmask64{1} << (n - i)) - 1;
        _mm512_mask_storeu_epi8(out + i, tail,
                                step(_mm512_maskz_loadu_epi8(tail, a + i), _mm512_maskz_loadu_epi8(tail, b + i)));
    }
}

}  // namespace detail::add_avx512

// add_int8 on AVX-512 registers, 64 elements a step: 16 per vector, four
// vectors narrowed together.  Needs add_int8_avx512_runs_here(c).
template <bool Subtract>
void add_int8_avx512(const add_int8_constants& c, const std::int8_t* a, const std::int8_t* b, std::size_t n,
                     std::int8_t* out) noexcept {
    using register_requantize_avx512::form;
    if (c.output_16.one_rounding && c.output_16.zero_point == c.out.output_zero_point)
        detail::add_avx512::add<Subtract, form::one_rounding>(c, a, b, n, out);
    else
        detail::add_avx512::add<Subtract, form::two_roundings>(c, a, b, n, out);
}

}  // namespace qtl::kernels

QTL_DETAIL_TARGET_END

// Outside the target regions: these run on any x86-64 CPU.
namespace qtl::kernels {

// Whether add_int8_avx512 can run: add_int8_runs_here, AVX-512BW, and no
// multiplier above 1 (no left shift before the products).
inline bool add_int8_avx512_runs_here(const add_int8_constants& c) noexcept {
    const cpu_features& f = host_cpu_features();
    return add_int8_runs_here(c) && f.avx512f && f.avx512bw && !c.input1_16.left_shifts &&
           !c.input2_16.left_shifts && !c.output_16.left_shifts;
}

// out[i] = a[i] + b[i] (or - b[i] when Subtract), i < n, in TFLite's
// quantized arithmetic: the AVX-512 kernel where it runs, else AVX2.
// Needs add_int8_runs_here(c).
template <bool Subtract>
void add_int8(const add_int8_constants& c, const std::int8_t* a, const std::int8_t* b, std::size_t n,
              std::int8_t* out) noexcept {
    if (add_int8_avx512_runs_here(c)) return add_int8_avx512<Subtract>(c, a, b, n, out);
    add_int8_avx2<Subtract>(c, a, b, n, out);
}

}  // namespace qtl::kernels
#endif  // QTL_KERNELS_X86_TARGETS
