#pragma once
// int8 GEMM kernel for AVX-VNNI: VEX-encoded VPDPBUSD on ymm (Alder Lake and
// later Intel cores, Zen 5), 4 u8 x s8 products per int32 lane per
// instruction, 16 registers: 4 rows x 3 vectors of accumulators.
//
// Compiled in a target region (GCC/clang), picked at run time by CPUID (see
// gemm_int8.hpp).  The epilogue is fused on the registers (the xsimd avx2
// batch of gemm_int8_avx2.hpp) when the compile target has AVX2, else it
// goes through memory.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>

#include "qtl/fixedpoint/requantize_batch.hpp"
#include "qtl/kernels/cpu_features.hpp"
#include "qtl/kernels/gemm_int8_avx2.hpp"
#include "qtl/kernels/gemm_int8_packing.hpp"

#if QTL_KERNELS_X86_TARGETS
#include <immintrin.h>
#define QTL_GEMM_INT8_AVX_VNNI 1
#else
#define QTL_GEMM_INT8_AVX_VNNI 0
#endif

#if QTL_GEMM_INT8_AVX_VNNI
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,avxvnni"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,avxvnni")
#endif

namespace qtl::kernels::avx_vnni {

struct ops {
    static constexpr gemm_int8_geometry geometry = geometry_of(gemm_int8_isa::avx_vnni);
    static constexpr int lanes = geometry.lanes;  // 8
    static constexpr int kgroup = geometry.kgroup;  // 4
    static constexpr int block_vectors = geometry.block_vectors;
    static constexpr int tile_rows = geometry.tile_rows;
    static constexpr int gemv_unroll = geometry.gemv_unroll;
    using a_elem = std::uint8_t;
    using vec = __m256i;
    using wvec = __m256i;
    using bvec = __m256i;

    static vec zero() noexcept { return _mm256_setzero_si256(); }
    static wvec load_weights(const std::int8_t* p) noexcept {
        return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    }
    // See gemm_int8_tile: a weight vector every row of the tile multiplies.
    static void keep_in_register(wvec& w) noexcept { __asm__("" : "+x"(w)); }
    // a[k..k+3] (as u8) in every 32-bit lane.
    static bvec broadcast(const std::uint8_t* p) noexcept {
        std::int32_t four;
        std::memcpy(&four, p, sizeof four);
        return _mm256_set1_epi32(four);
    }
    // u8 (first operand) x s8 (second), 4 products added into each int32 lane, wrapping.
    static vec dot(vec acc, bvec a, wvec w) noexcept { return _mm256_dpbusd_avx_epi32(acc, a, w); }
    static vec add(vec x, vec y) noexcept { return _mm256_add_epi32(x, y); }
    static void store_int32(std::int32_t* out, vec v) noexcept {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), v);
    }
};

#include "qtl/kernels/detail/gemm_int8_microkernel.inl"

template <class Policy>
void gemm_int8_blocks_avx_vnni(const gemm_int8_packed& packed, const void* a, std::size_t m, std::int8_t* out,
                               std::size_t ldc, std::size_t block_begin, std::size_t block_end) {
    const auto* rows = static_cast<const std::uint8_t*>(a);
    if (avx2::with_lane_epilogue<Policy>(packed, [&]<class Epilogue>(Epilogue*) {
            gemm_int8_blocks<ops, Epilogue>(packed, rows, m, out, ldc, block_begin, block_end);
        }))
        return;
#if QTL_DETAIL_GEMM_INT8_YMM_FUSED
    using per_channel = detail::ymm_epilogue<Policy, true>;
    using per_tensor = detail::ymm_epilogue<Policy, false>;
#else
    using per_channel = spill_epilogue<ops, Policy, true>;
    using per_tensor = spill_epilogue<ops, Policy, false>;
#endif
    if (packed.per_channel)
        gemm_int8_blocks<ops, per_channel>(packed, rows, m, out, ldc, block_begin, block_end);
    else
        gemm_int8_blocks<ops, per_tensor>(packed, rows, m, out, ldc, block_begin, block_end);
}

}  // namespace qtl::kernels::avx_vnni

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif  // QTL_GEMM_INT8_AVX_VNNI
