#pragma once
// xsimd::select, safe to compile unoptimized.  xsimd 8.1's AVX-512BW select
// for integers switches on sizeof(T) at run time, so every instantiation also
// compiles its 8- and 16-bit branches; at -O0 GCC 12 defines
// _mm512_mask_blend_epi8/16 as macros that cast the batch object straight to
// a vector type, a hard error.  Any unoptimized build (Debug, or CI's
// sanitizer build) for an AVX-512BW target would fail.  On such targets this
// blends with the instruction of T's width; elsewhere it is xsimd::select.

#include <type_traits>

#include <xsimd/xsimd.hpp>

namespace qtl::detail {

template <class T, class A>
xsimd::batch<T, A> simd_select(const xsimd::batch_bool<T, A>& condition, const xsimd::batch<T, A>& if_true,
                               const xsimd::batch<T, A>& if_false) noexcept {
#if XSIMD_WITH_AVX512BW  // (the branch names __m512i: not for targets without it)
    if constexpr (std::is_integral_v<T> && std::is_base_of_v<xsimd::avx512bw, A>) {
        const __m512i t = if_true, f = if_false;
        const auto mask = condition.data;  // __mmask64/32/16/8 by the width of T
        if constexpr (sizeof(T) == 1)
            return _mm512_mask_blend_epi8(mask, f, t);
        else if constexpr (sizeof(T) == 2)
            return _mm512_mask_blend_epi16(mask, f, t);
        else if constexpr (sizeof(T) == 4)
            return _mm512_mask_blend_epi32(mask, f, t);
        else
            return _mm512_mask_blend_epi64(mask, f, t);
    } else
#endif
    {
        return xsimd::select(condition, if_true, if_false);  // never instantiated for the case above
    }
}

}  // namespace qtl::detail
