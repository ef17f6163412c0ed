#pragma once
// int8 ADD and SUB of two runs of equal length on AVX2 registers: TFLite's
// quantized ADD/SUB (general path), bit-exact with its reference kernel:
//
//   scaled_i = MultiplyByQuantizedMultiplierSmallerThanOneExp((x_i + offset_i) << left_shift, m_i, s_i)
//   out      = clamp(MultiplyByQuantizedMultiplierSmallerThanOneExp(scaled_1 +- scaled_2, m_out, s_out) + zp)
//
// Each of the three products is the register stage of
// register_requantize.hpp with its constants replicated over 8 lanes; 16
// elements per step, narrowed to bytes together.  ops::add / ops::sub route
// same-shape int8 runs here when the CPU has AVX2 (any x86-64 build: the
// kernel carries its own target region); the rest takes their xsimd path.
//
//   auto c = kernels::make_add_int8_constants(...);      // once (prepare)
//   if (kernels::add_int8_runs_here(c)) kernels::add_int8<false>(c, a, b, n, out);

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

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
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2")
#endif

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
    register_requantize_avx2::register_stage<true> input1_, input2_, output_;
};

}  // namespace detail::add_avx2

// out[i] = a[i] + b[i] (or - b[i] when Subtract), i < n, in TFLite's
// quantized arithmetic.  Needs add_int8_runs_here(c).
template <bool Subtract>
void add_int8(const add_int8_constants& c, const std::int8_t* a, const std::int8_t* b, std::size_t n,
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

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif  // QTL_KERNELS_X86_TARGETS
