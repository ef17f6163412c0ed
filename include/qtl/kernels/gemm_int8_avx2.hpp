#pragma once
// int8 GEMM kernel for AVX2 (no VNNI): VPMADDWD on int16.  Activations and
// weights are sign-extended to int16 and VPMADDWD adds the two products of
// each (k, k+1) pair exactly into an int32 lane (|sum| <= 2 * 128 * 128).
// VPMADDUBSW would do 4 k per lane on bytes but saturates at int16
// (255 * 127 * 2 > 32767), which TFLite's reference never does.
//
// Compiled in a target region (GCC/clang), so a plain x86-64 build carries it
// too and gemm_int8.hpp picks it at run time by CPUID.  The epilogue is fused
// on the accumulator registers (xsimd avx2 batches) when the compile target
// has AVX2; otherwise it goes through memory (spill_epilogue).

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#include <xsimd/xsimd.hpp>

#include "qtl/detail/gcc_bug_105593.hpp"
#include "qtl/detail/target_region.hpp"
#include "qtl/fixedpoint/multiply_by_quantized_multiplier_batch.hpp"
#include "qtl/fixedpoint/requantize_batch.hpp"
#include "qtl/kernels/cpu_features.hpp"
#include "qtl/kernels/gemm_int8_packing.hpp"
#include "qtl/kernels/register_requantize.hpp"

#if QTL_KERNELS_X86_TARGETS
#include <immintrin.h>
#define QTL_GEMM_INT8_AVX2 1
#else
#define QTL_GEMM_INT8_AVX2 0
#endif

// Decided before any target region: GCC's target pragma redefines __AVX2__.
#if QTL_KERNELS_X86_TARGETS && defined(__AVX2__)
#define QTL_DETAIL_GEMM_INT8_YMM_FUSED 1
#else
#define QTL_DETAIL_GEMM_INT8_YMM_FUSED 0
#endif

#if QTL_DETAIL_GEMM_INT8_YMM_FUSED
// See multiply_by_quantized_multiplier_batch.hpp (GCC 12 false positives).
QTL_DETAIL_GCC_BUG_105593_BEGIN
namespace qtl::kernels::detail {

// Bias, fixed-point requantization, zero point and clamp on the accumulator
// register, with qtl's xsimd stage (bit-exact with the scalar requantize).
template <class Policy, bool PerChannel>
class ymm_epilogue {
public:
    using batch = xsimd::batch<std::int32_t, xsimd::avx2>;

    explicit ymm_epilogue(const gemm_int8_packed& p) noexcept
        : bias_(p.bias.data()), multipliers_(p.multipliers.data()), shifts_(p.shifts.data()),
          multiplier_(p.multiplier), clamp_(p.output) {}

    // Out of line: inlined, its temporaries make GCC shuffle the tile's accumulators
    // through the k loop; as a call it costs a few cycles per tile.
    QTL_KERNELS_NOINLINE void store(__m256i acc, std::size_t col, std::int8_t* out, std::size_t count) const noexcept {
        const batch x = batch(acc) + batch::load_unaligned(bias_ + col);
        batch y;
        if constexpr (PerChannel)
            y = multiply_by_quantized_multiplier<Policy>(x, batch::load_unaligned(multipliers_ + col),
                                                         batch::load_unaligned(shifts_ + col));
        else
            y = multiply_by_quantized_multiplier<Policy>(x, multiplier_);
        register_requantize_avx2::store_int8_lanes(clamp_(y), out, count);
    }

private:
    const std::int32_t* bias_;
    const std::int32_t* multipliers_;
    const std::int32_t* shifts_;
    quantized_multiplier multiplier_;
    ::qtl::detail::fixedpoint::requantize_clamp<xsimd::avx2> clamp_;
};

}  // namespace qtl::kernels::detail
QTL_DETAIL_GCC_BUG_105593_END
#endif  // QTL_DETAIL_GEMM_INT8_YMM_FUSED

#if QTL_GEMM_INT8_AVX2
QTL_DETAIL_TARGET_BEGIN("avx2")

namespace qtl::kernels::avx2 {

struct ops {
    static constexpr gemm_int8_geometry geometry = geometry_of(gemm_int8_isa::avx2);
    static constexpr int lanes = geometry.lanes;  // 8
    static constexpr int kgroup = geometry.kgroup;  // 2
    static constexpr int block_vectors = geometry.block_vectors;
    static constexpr int tile_rows = geometry.tile_rows;
    static constexpr int gemv_unroll = geometry.gemv_unroll;
    using a_elem = std::int16_t;
    using vec = __m256i;
    using wvec = __m256i;
    using bvec = __m256i;

    static vec zero() noexcept { return _mm256_setzero_si256(); }
    // 8 columns x 2 k of int8, sign-extended to 16 int16.
    static wvec load_weights(const std::int8_t* p) noexcept {
        return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    }
    // The int16 pair (a[k], a[k+1]) in every 32-bit lane.
    static bvec broadcast(const std::int16_t* p) noexcept {
        std::int32_t pair;
        std::memcpy(&pair, p, sizeof pair);
        return _mm256_set1_epi32(pair);
    }
    // The one-row kernel streams each weight once: a batch-1 FC's weights
    // come from L3 or DRAM, and the hardware prefetchers alone left it at
    // 0.88-0.98x XNNPACK on fc_1x4096x4096 (AMD Zen 1); fetched 1 KiB ahead,
    // 2374-2876 -> 1911-1954 us, 1.2-1.25x XNNPACK (1-8 KiB ahead measured alike).
    static constexpr std::size_t prefetch_distance = 1024;
    static void prefetch_weights(const std::int8_t* p) noexcept {
        // An address, not a pointer past the array (prefetching never faults).
        _mm_prefetch(reinterpret_cast<const char*>(reinterpret_cast<std::uintptr_t>(p) + prefetch_distance),
                     _MM_HINT_T0);
    }
    static vec dot(vec acc, bvec a, wvec w) noexcept { return _mm256_add_epi32(acc, _mm256_madd_epi16(a, w)); }
    static vec add(vec x, vec y) noexcept { return _mm256_add_epi32(x, y); }
    static void store_int32(std::int32_t* out, vec v) noexcept {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), v);
    }
    // One activation row as the kernel reads it: x as int16 for k values,
    // zeros to k_padded.  `whole`: the 16-value steps may read and write
    // past the row (other rows, or its own padding): the values past k are
    // cleared with a compare against their index; else a partial step goes
    // through a zeroed buffer.
    static constexpr std::size_t pack_step = 16;
    // 16 int8 as int16 (a function, not a lambda: a captureless lambda's
    // function-pointer thunk would sit outside the target region).
    static __m256i widen(const std::int8_t* p) noexcept {
        return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    }
    static void pack_row(const std::int8_t* src, std::size_t k, std::size_t k_padded, std::int16_t* dst,
                         bool whole) noexcept {
        const __m256i index = _mm256_setr_epi16(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        std::size_t kk = 0;
        for (; kk + 16 <= k; kk += 16) _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + kk), widen(src + kk));
        for (; kk < k_padded; kk += 16) {
            const auto real = static_cast<std::int16_t>(k > kk ? k - kk : 0);  // < 16
            if (whole) {
                const __m256i keep = _mm256_cmpgt_epi16(_mm256_set1_epi16(real), index);
                _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + kk), _mm256_and_si256(widen(src + kk), keep));
                continue;
            }
            alignas(16) std::int8_t part[16] = {};
            std::memcpy(part, src + kk, std::size_t(real));
            alignas(32) std::int16_t wide[16];
            _mm256_store_si256(reinterpret_cast<__m256i*>(wide), widen(part));
            std::memcpy(dst + kk, wide, std::min<std::size_t>(16, k_padded - kk) * sizeof(std::int16_t));
        }
    }
};

#include "qtl/kernels/detail/gemm_int8_microkernel.inl"

// Activation rows as this kernel reads them (gemm_int8_pack_rows).
inline void gemm_int8_pack_activations_avx2(const std::int8_t* a, std::size_t m, std::size_t lda,
                                            std::size_t k, std::size_t k_padded, void* out) noexcept {
    gemm_int8_pack_rows<ops>(a, m, lda, k, k_padded, static_cast<ops::a_elem*>(out));
}

// Double rounding with no INT32_MIN multiplier (every TFLite model's case):
// bias, then the register stage of register_requantize.hpp, two vectors (16
// columns) narrowed together.  Also used by the AVX-VNNI kernel.
template <register_requantize_form Form>
class lane_epilogue {
public:
    explicit lane_epilogue(const gemm_int8_packed& p) noexcept
        : bias_(p.bias.data()), stage_(p.lane_requantize, p.output) {}

    // Out of line, like ymm_epilogue::store.
    QTL_KERNELS_NOINLINE void store(__m256i acc, std::size_t col, std::int8_t* out, std::size_t count) const noexcept {
        register_requantize_avx2::store_int8_lanes(stage_(biased(acc, col), col), out, count);
    }

    // Columns [col, col + count) from a (the first 8) and b, count in (8, 16].
    QTL_KERNELS_NOINLINE void store2(__m256i a, __m256i b, std::size_t col, std::int8_t* out,
                                     std::size_t count) const noexcept {
        const __m128i bytes = stage_.two_to_bytes(biased(a, col), col, biased(b, col + 8), col + 8);
        if (count == 16) {
            _mm_storeu_si128(reinterpret_cast<__m128i*>(out), bytes);
        } else {
            alignas(16) std::int8_t values[16];
            _mm_store_si128(reinterpret_cast<__m128i*>(values), bytes);
            std::memcpy(out, values, count);
        }
    }

private:
    __m256i biased(__m256i acc, std::size_t col) const noexcept {
        return _mm256_add_epi32(acc, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bias_ + col)));
    }
    const std::int32_t* bias_;
    register_requantize_avx2::register_stage<Form> stage_;
};

// Calls body with a null pointer of the lane epilogue type the packing
// allows (only its type matters), or returns false when none does.
template <class Policy, class Body>
bool with_lane_epilogue(const gemm_int8_packed& packed, Body&& body) {
    if constexpr (std::is_same_v<Policy, double_rounding>) {
        const register_requantize_constants& c = packed.lane_requantize;
        if (!c.usable) return false;
        // Not the one_rounding form: its extra per-column constants cost more
        // here than its 4 instructions save (AMD Zen 1, 1x1 conv 56x56x128:
        // 2959 -> 3043 us, first layer 1044 -> 1064 us), where the depthwise
        // kernel, loading them once for 4 pixels, gains.  one_rounding_doubled
        // loads as many constants as two_roundings and runs fewer instructions:
        // on Zen 1, 12544x16 -> 96 2016 -> 1904 us, the first layer 984 -> 944 us.
        if (one_rounding_doubled_applies(c, packed.output))
            body(static_cast<lane_epilogue<register_requantize_form::one_rounding_doubled>*>(nullptr));
        else if (c.left_shifts)
            body(static_cast<lane_epilogue<register_requantize_form::two_roundings_left_shifts>*>(nullptr));
        else
            body(static_cast<lane_epilogue<register_requantize_form::two_roundings>*>(nullptr));
        return true;
    } else {
        return false;
    }
}

template <class Policy>
void gemm_int8_blocks_avx2(const gemm_int8_packed& packed, const void* a, std::size_t m, std::int8_t* out,
                           std::size_t ldc, std::size_t block_begin, std::size_t block_end) {
    const auto* rows = static_cast<const std::int16_t*>(a);
    if (with_lane_epilogue<Policy>(packed, [&]<class Epilogue>(Epilogue*) {
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

}  // namespace qtl::kernels::avx2

QTL_DETAIL_TARGET_END
#endif  // QTL_GEMM_INT8_AVX2
