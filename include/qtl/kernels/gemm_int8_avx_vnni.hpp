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

#include "qtl/detail/target_region.hpp"
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
QTL_DETAIL_TARGET_BEGIN("avx2,avxvnni")

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
    // One activation row as the kernel reads it: x + 128 (x ^ 0x80) for k
    // bytes, zeros to k_padded.  `whole`: the 32-byte steps may read and
    // write past the row (other rows, or its own padding): the bytes past k
    // are cleared with a compare against their index; else a partial step
    // goes through a buffer (AVX-VNNI has no byte masks).
    static constexpr std::size_t pack_step = 32;
    static void pack_row(const std::int8_t* src, std::size_t k, std::size_t k_padded, std::uint8_t* dst,
                         bool whole) noexcept {
        const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
        const __m256i index = _mm256_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
                                               20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31);
        std::size_t kk = 0;
        for (; kk + 32 <= k; kk += 32)
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + kk),
                                _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + kk)), flip));
        for (; kk < k_padded; kk += 32) {
            const auto real = static_cast<char>(k > kk ? k - kk : 0);  // < 32
            if (whole) {
                const __m256i x =
                    _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + kk)), flip);
                const __m256i keep = _mm256_cmpgt_epi8(_mm256_set1_epi8(real), index);
                _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + kk), _mm256_and_si256(x, keep));
                continue;
            }
            alignas(32) std::int8_t part[32];
            std::memset(part, 0x80, sizeof part);  // ^ 0x80: the padding's zeros
            std::memcpy(part, src + kk, std::size_t(real));
            const __m256i bytes = _mm256_xor_si256(_mm256_load_si256(reinterpret_cast<const __m256i*>(part)), flip);
            _mm256_store_si256(reinterpret_cast<__m256i*>(part), bytes);
            std::memcpy(dst + kk, part, std::min<std::size_t>(32, k_padded - kk));
        }
    }
};

#include "qtl/kernels/detail/gemm_int8_microkernel.inl"

// Activation rows as this kernel reads them (gemm_int8_pack_rows).
inline void gemm_int8_pack_activations_avx_vnni(const std::int8_t* a, std::size_t m, std::size_t lda,
                                                std::size_t k, std::size_t k_padded, void* out) noexcept {
    gemm_int8_pack_rows<ops>(a, m, lda, k, k_padded, static_cast<ops::a_elem*>(out));
}

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

QTL_DETAIL_TARGET_END
#endif  // QTL_GEMM_INT8_AVX_VNNI
