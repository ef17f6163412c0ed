#pragma once
// int8 GEMM kernel for AVX-512 VNNI: EVEX VPDPBUSD on zmm, 16 columns x 4 k
// per instruction; 6 rows x 4 vectors = 24 independent accumulators (two
// VPDPBUSD per cycle need 10 or more to hide a 5-cycle latency; more rows
// per weight load leave more load slots to the broadcasts), one row with 3
// k-groups in flight x 4 vectors.  N tails end in masked stores.
//
// Compiled in a target region (GCC/clang), so a plain x86-64 build carries it
// and gemm_int8.hpp picks it at run time by CPUID.  The epilogue runs on the
// accumulator registers: lane_epilogue (register_requantize.hpp's 16-lane
// stage, in any x86-64 build) for double rounding without an INT32_MIN
// multiplier; otherwise xsimd avx512bw batches of qtl's fixed-point stage
// when the compile target has AVX-512BW, or through memory (spill_epilogue).

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
#define QTL_GEMM_INT8_AVX512_VNNI 1
#else
#define QTL_GEMM_INT8_AVX512_VNNI 0
#endif

// Decided before the target region: GCC's target pragma redefines the ISA macros.
#if QTL_KERNELS_X86_TARGETS && defined(__AVX512BW__) && XSIMD_WITH_AVX512BW
#define QTL_DETAIL_GEMM_INT8_ZMM_FUSED 1
#else
#define QTL_DETAIL_GEMM_INT8_ZMM_FUSED 0
#endif

#if QTL_DETAIL_GEMM_INT8_ZMM_FUSED
// See multiply_by_quantized_multiplier_batch.hpp (GCC 12 false positives).
QTL_DETAIL_GCC_BUG_105593_BEGIN
namespace qtl::kernels::detail {

template <class Policy, bool PerChannel>
class zmm_epilogue {
public:
    using batch = xsimd::batch<std::int32_t, xsimd::avx512bw>;

    explicit zmm_epilogue(const gemm_int8_packed& p) noexcept
        : bias_(p.bias.data()), multipliers_(p.multipliers.data()), shifts_(p.shifts.data()),
          multiplier_(p.multiplier), clamp_(p.output) {}

    // Out of line: inlined, its temporaries make GCC shuffle the tile's accumulators
    // through the k loop; as a call it costs a few cycles per tile.
    QTL_KERNELS_NOINLINE void store(__m512i acc, std::size_t col, std::int8_t* out, std::size_t count) const noexcept {
        const batch x = batch(acc) + batch::load_unaligned(bias_ + col);
        batch y;
        if constexpr (PerChannel)
            y = multiply_by_quantized_multiplier<Policy>(x, batch::load_unaligned(multipliers_ + col),
                                                         batch::load_unaligned(shifts_ + col));
        else
            y = multiply_by_quantized_multiplier<Policy>(x, multiplier_);
        const __m512i r = clamp_(y);  // within int8: the truncating narrow is exact
        if (count == 16)
            _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm512_cvtepi32_epi8(r));
        else
            _mm512_mask_cvtepi32_storeu_epi8(out, static_cast<__mmask16>((1u << count) - 1), r);
    }

private:
    const std::int32_t* bias_;
    const std::int32_t* multipliers_;
    const std::int32_t* shifts_;
    quantized_multiplier multiplier_;
    ::qtl::detail::fixedpoint::requantize_clamp<xsimd::avx512bw> clamp_;
};

}  // namespace qtl::kernels::detail
QTL_DETAIL_GCC_BUG_105593_END
#endif  // QTL_DETAIL_GEMM_INT8_ZMM_FUSED

#if QTL_GEMM_INT8_AVX512_VNNI
QTL_DETAIL_TARGET_BEGIN("avx512f,avx512bw,avx512vl,avx512vnni")

namespace qtl::kernels::avx512_vnni {

struct ops {
    static constexpr gemm_int8_geometry geometry = geometry_of(gemm_int8_isa::avx512_vnni);
    static constexpr int lanes = geometry.lanes;  // 16
    static constexpr int kgroup = geometry.kgroup;  // 4
    static constexpr int block_vectors = geometry.block_vectors;
    static constexpr int tile_rows = geometry.tile_rows;
    static constexpr int gemv_unroll = geometry.gemv_unroll;
    using a_elem = std::uint8_t;
    using vec = __m512i;
    using wvec = __m512i;
    using bvec = __m512i;

    static vec zero() noexcept { return _mm512_setzero_si512(); }
    static wvec load_weights(const std::int8_t* p) noexcept { return _mm512_loadu_si512(p); }
    // See gemm_int8_tile: a weight vector every row of the tile multiplies.
    static void keep_in_register(wvec& w) noexcept { __asm__("" : "+v"(w)); }
    // a[k..k+3] (as u8) in every 32-bit lane.
    static bvec broadcast(const std::uint8_t* p) noexcept {
        std::int32_t four;
        std::memcpy(&four, p, sizeof four);
        return _mm512_set1_epi32(four);
    }
    // u8 (first operand) x s8 (second), 4 products added into each int32 lane, wrapping.
    static vec dot(vec acc, bvec a, wvec w) noexcept { return _mm512_dpbusd_epi32(acc, a, w); }
    static vec add(vec x, vec y) noexcept { return _mm512_add_epi32(x, y); }
    static void store_int32(std::int32_t* out, vec v) noexcept { _mm512_storeu_si512(out, v); }
    // One activation row as the kernel reads it: x + 128 (x ^ 0x80) for k
    // bytes, zeros to k_padded.  `whole`: the 64-byte steps may read and
    // write past the row (other rows, or its own padding): plain vectors,
    // the bytes past k cleared; else byte masks keep within the row.
    static constexpr std::size_t pack_step = 64;
    static void pack_row(const std::int8_t* src, std::size_t k, std::size_t k_padded, std::uint8_t* dst,
                         bool whole) noexcept {
        const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
        const auto first = [](std::size_t count) { return count >= 64 ? ~__mmask64{0} : (__mmask64{1} << count) - 1; };
        for (std::size_t kk = 0; kk < k_padded; kk += 64) {
            const __mmask64 real = first(k > kk ? k - kk : 0);
            if (whole) {
                const __m512i x = _mm512_xor_si512(_mm512_loadu_si512(src + kk), flip);
                _mm512_storeu_si512(dst + kk, _mm512_maskz_mov_epi8(real, x));
            } else {
                const __m512i x = _mm512_maskz_loadu_epi8(real, src + kk);
                _mm512_mask_storeu_epi8(dst + kk, first(k_padded - kk),
                                        _mm512_maskz_mov_epi8(real, _mm512_xor_si512(x, flip)));
            }
        }
    }
};

#include "qtl/kernels/detail/gemm_int8_microkernel.inl"

// Activation rows as this kernel reads them (gemm_int8_pack_rows).
inline void gemm_int8_pack_activations_avx512_vnni(const std::int8_t* a, std::size_t m, std::size_t lda,
                                                   std::size_t k, std::size_t k_padded, void* out) noexcept {
    gemm_int8_pack_rows<ops>(a, m, lda, k, k_padded, static_cast<ops::a_elem*>(out));
}

// Double rounding with no INT32_MIN multiplier (every TFLite model's case):
// the bias as the accumulators' start, then the 16-lane register stage of
// register_requantize.hpp, about a third of zmm_epilogue's instructions
// (which shapes with a short k, such as a first conv layer or a 1x1 conv of
// 128 channels, spend most time in).
template <register_requantize_avx512::form Form>
class lane_epilogue {
public:
    explicit lane_epilogue(const gemm_int8_packed& p) noexcept
        : bias_(p.bias.data()), stage_(p.lane_requantize, p.output) {}

    // The accumulators start from the bias (gemm_int8_tile), so the stores
    // below requantize them as they come.
    QTL_DETAIL_REGISTER_REQUANTIZE_INLINE __m512i initial(std::size_t col) const noexcept {
        return _mm512_loadu_si512(bias_ + col);
    }

    // Out of line, like zmm_epilogue::store.
    QTL_KERNELS_NOINLINE void store(__m512i acc, std::size_t col, std::int8_t* out, std::size_t count) const noexcept {
        register_requantize_avx512::store_int8_lanes(stage_(acc, col), out, count);
    }

    // Columns [col, col + count) from a (the first 16) and b, count in (16, 32]:
    // two independent chains per call, which the core overlaps.
    QTL_KERNELS_NOINLINE void store2(__m512i a, __m512i b, std::size_t col, std::int8_t* out,
                                     std::size_t count) const noexcept {
        const __m512i bytes = stage_.two_to_bytes(a, b, col, 16);
        if (count == 32)
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), _mm512_castsi512_si256(bytes));
        else
            _mm512_mask_storeu_epi8(out, _cvtu64_mask64((std::uint64_t{1} << count) - 1), bytes);
    }

    // Columns [col, col + count) of two rows, count in (16, 32]: a0, a1 to
    // out, b0, b1 to out + ldc, narrowed together.
    QTL_KERNELS_NOINLINE void store2_rows2(__m512i a0, __m512i a1, __m512i b0, __m512i b1, std::size_t col,
                                           std::int8_t* out, std::size_t ldc, std::size_t count) const noexcept {
        const __m512i bytes = stage_.two_rows_to_bytes(a0, a1, b0, b1, col, 16);
        if (count == 32) return store_two_rows32(bytes, out, ldc);
        const __mmask32 mask = _cvtu32_mask32(std::uint32_t((std::uint64_t{1} << count) - 1));
        _mm256_mask_storeu_epi8(out, mask, _mm512_castsi512_si256(bytes));
        _mm256_mask_storeu_epi8(out + ldc, mask, _mm512_extracti64x4_epi64(bytes, 1));
    }

    // Columns [col, col + count) of four rows, count <= 16: a to out, b to
    // out + ldc, ..., narrowed together (one VPMOVDB per row was slow on Zen 5).
    QTL_KERNELS_NOINLINE void store_rows4(__m512i a, __m512i b, __m512i c, __m512i d, std::size_t col,
                                          std::int8_t* out, std::size_t ldc, std::size_t count) const noexcept {
        const __m512i x[4] = {a, b, c, d};
        const __m512i bytes = stage_.four_to_bytes(x, col, 0);
        if (count == 16 && ldc == 16) return _mm512_storeu_si512(out, bytes);
        store_rows16(_mm512_castsi512_si128(bytes), out, count);
        store_rows16(_mm512_extracti32x4_epi32(bytes, 1), out + ldc, count);
        store_rows16(_mm512_extracti32x4_epi32(bytes, 2), out + 2 * ldc, count);
        store_rows16(_mm512_extracti32x4_epi32(bytes, 3), out + 3 * ldc, count);
    }

    // The same for two rows.
    QTL_KERNELS_NOINLINE void store_rows2(__m512i a, __m512i b, std::size_t col, std::int8_t* out, std::size_t ldc,
                                          std::size_t count) const noexcept {
        const __m512i bytes = stage_.two_to_bytes(a, b, col, 0);
        store_rows16(_mm512_castsi512_si128(bytes), out, count);
        store_rows16(_mm512_extracti32x4_epi32(bytes, 1), out + ldc, count);
    }

    // Columns [col, col + count) from a, b, c, d, count in (48, 64].
    QTL_KERNELS_NOINLINE void store4(__m512i a, __m512i b, __m512i c, __m512i d, std::size_t col, std::int8_t* out,
                                     std::size_t count) const noexcept {
        // Narrowed together (register_stage::four_to_bytes): 64 contiguous bytes.
        const __m512i x[4] = {a, b, c, d};
        const __m512i bytes = stage_.four_to_bytes(x, col, 16);
        if (count == 64)
            _mm512_storeu_si512(out, bytes);
        else
            _mm512_mask_storeu_epi8(out, _cvtu64_mask64((std::uint64_t{1} << count) - 1), bytes);
    }

    // The deferred requantization (gemm_int8_tile_deferring): one vector
    // scaled in place, and a row's four scaled vectors to 64 bytes.
    QTL_DETAIL_REGISTER_REQUANTIZE_INLINE void scale(__m512i& x, std::size_t col) const noexcept {
        x = stage_.scaled(x, col);
    }
    // The same with a column's constants loaded once (gemm_int8_pair_tile_run).
    using column_constants = typename register_requantize_avx512::register_stage<Form>::column_constants;
    QTL_DETAIL_REGISTER_REQUANTIZE_INLINE column_constants constants(std::size_t col) const noexcept {
        return stage_.constants(col);
    }
    QTL_DETAIL_REGISTER_REQUANTIZE_INLINE void scale(__m512i& x, const column_constants& k) const noexcept {
        x = stage_.scaled(x, k);
    }
    QTL_DETAIL_REGISTER_REQUANTIZE_INLINE void store_scaled4(const __m512i (&x)[4], std::int8_t* out) const noexcept {
        _mm512_storeu_si512(out, stage_.scaled_to_bytes(x));
    }
    // Two rows of two scaled vectors (gemm_int8_pair_tile_run): x[0],
    // x[1] to out, x[2], x[3] to out + ldc, 32 bytes each.
    QTL_DETAIL_REGISTER_REQUANTIZE_INLINE void store_scaled2_rows2(const __m512i (&x)[4], std::int8_t* out,
                                                                   std::size_t ldc) const noexcept {
        store_two_rows32(stage_.scaled_to_bytes(x), out, ldc);
    }

private:
    // Bytes [0, 32) to out and [32, 64) to out + ldc (one store where the rows are contiguous).
    QTL_DETAIL_REGISTER_REQUANTIZE_INLINE static void store_two_rows32(__m512i bytes, std::int8_t* out,
                                                                       std::size_t ldc) noexcept {
        if (ldc == 32) return _mm512_storeu_si512(out, bytes);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), _mm512_castsi512_si256(bytes));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + ldc), _mm512_extracti64x4_epi64(bytes, 1));
    }

    static void store_rows16(__m128i bytes, std::int8_t* out, std::size_t count) noexcept {
        if (count == 16)
            _mm_storeu_si128(reinterpret_cast<__m128i*>(out), bytes);
        else
            _mm_mask_storeu_epi8(out, _cvtu32_mask16(static_cast<std::uint32_t>((1u << count) - 1)), bytes);
    }
    const std::int32_t* bias_;
    register_requantize_avx512::register_stage<Form> stage_;
};

// Where a lane epilogue serves `packed` under Policy, calls
// f(std::type_identity<lane_epilogue<form>>{}) with its form and returns
// true; otherwise returns false.
template <class Policy, class F>
bool with_lane_epilogue(const gemm_int8_packed& packed, F&& f) {
    if constexpr (std::is_same_v<Policy, double_rounding>) {
        const register_requantize_constants& c = packed.lane_requantize;
        if (one_rounding_doubled_applies(c, packed.output)) {
            // The doubled form where the accumulators allow it (|acc + bias| < 2^30).
            f(std::type_identity<lane_epilogue<register_requantize_avx512::form::one_rounding_doubled>>{});
            return true;
        }
        if (c.usable) {
            with_register_requantize_form(c, packed.output, [&](auto form) {
                f(std::type_identity<lane_epilogue<decltype(form)::value>>{});
            });
            return true;
        }
    }
    return false;
}

// Whether gemm_int8_grid_blocks_avx512_vnni runs `packed` under Policy.
template <class Policy>
bool gemm_int8_grid_applies_avx512_vnni(const gemm_int8_packed& packed) {
    return with_lane_epilogue<Policy>(packed, [](auto) {});
}

// conv_int8's in-place rows (gemm_int8_grid_blocks); false, doing nothing,
// where no lane epilogue applies.
template <class Policy>
bool gemm_int8_grid_blocks_avx512_vnni(const gemm_int8_packed& packed, const gemm_int8_pixel_grid& grid,
                                       std::size_t first, std::size_t pixels, std::size_t chunk, std::int8_t* out,
                                       std::size_t ldc) {
    return with_lane_epilogue<Policy>(packed, [&](auto epilogue) {
        gemm_int8_grid_blocks<ops, typename decltype(epilogue)::type>(packed, grid, first, pixels, chunk, out, ldc);
    });
}

template <class Policy>
void gemm_int8_blocks_avx512_vnni(const gemm_int8_packed& packed, const void* a, std::size_t m, std::int8_t* out,
                                  std::size_t ldc, std::size_t block_begin, std::size_t block_end) {
    const auto* rows = static_cast<const std::uint8_t*>(a);
    if (with_lane_epilogue<Policy>(packed, [&](auto epilogue) {
            gemm_int8_blocks<ops, typename decltype(epilogue)::type>(packed, rows, m, out, ldc, block_begin,
                                                                     block_end);
        }))
        return;
#if QTL_DETAIL_GEMM_INT8_ZMM_FUSED
    using per_channel = detail::zmm_epilogue<Policy, true>;
    using per_tensor = detail::zmm_epilogue<Policy, false>;
#else
    using per_channel = spill_epilogue<ops, Policy, true>;
    using per_tensor = spill_epilogue<ops, Policy, false>;
#endif
    if (packed.per_channel)
        gemm_int8_blocks<ops, per_channel>(packed, rows, m, out, ldc, block_begin, block_end);
    else
        gemm_int8_blocks<ops, per_tensor>(packed, rows, m, out, ldc, block_begin, block_end);
}

}  // namespace qtl::kernels::avx512_vnni

QTL_DETAIL_TARGET_END
#endif  // QTL_GEMM_INT8_AVX512_VNNI
