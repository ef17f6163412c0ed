#pragma once
// The portable int8 GEMM kernel: the shared micro-kernel loops over plain
// C++ "vectors" (arrays of int32 lanes).  portable_ops<isa> uses the layout
// geometry of `isa`, so the same code also replays any SIMD kernel's
// packing, tiling and tail handling on a machine that cannot run it (see
// gemm_int8_emulated in gemm_int8.hpp).  The scalar kernel proper is
// portable_ops<gemm_int8_isa::scalar>.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "qtl/fixedpoint/requantize_batch.hpp"
#include "qtl/kernels/gemm_int8_packing.hpp"

namespace qtl::kernels::scalar {

template <gemm_int8_isa Isa>
struct portable_ops {
    static constexpr gemm_int8_geometry geometry = geometry_of(Isa);
    static constexpr int lanes = geometry.lanes;
    static constexpr int kgroup = geometry.kgroup;
    static constexpr int block_vectors = geometry.block_vectors;
    static constexpr int tile_rows = geometry.tile_rows;
    static constexpr int gemv_unroll = geometry.gemv_unroll;
    using a_elem = std::conditional_t<geometry.a_int16, std::int16_t, std::uint8_t>;

    struct vec {
        std::uint32_t lane[lanes];  // unsigned: int32 sums wrap modulo 2^32 like SIMD lanes, without UB
    };
    struct wvec {
        const std::int8_t* bytes;  // lanes * kgroup weights, read in place
    };
    struct bvec {
        a_elem value[kgroup];
    };

    static vec zero() noexcept { return vec{}; }
    static wvec load_weights(const std::int8_t* p) noexcept { return {p}; }
    static bvec broadcast(const a_elem* p) noexcept {
        bvec b;
        std::copy(p, p + kgroup, b.value);
        return b;
    }
    // Lane l += sum_j a[j] * w[l][j], the VPDPBUSD / VPMADDWD lane formula.
    // Out of line: inlined into every tile shape it multiplies compile time
    // several fold for no gain worth having in the fallback kernel.
    QTL_KERNELS_NOINLINE static vec dot(vec acc, const bvec& a, const wvec& w) noexcept {
        for (int l = 0; l < lanes; ++l) {
            std::uint32_t sum = acc.lane[l];
            for (int j = 0; j < kgroup; ++j)
                sum += static_cast<std::uint32_t>(std::int32_t{a.value[j]} * std::int32_t{w.bytes[l * kgroup + j]});
            acc.lane[l] = sum;
        }
        return acc;
    }
    static vec add(vec x, const vec& y) noexcept {
        for (int l = 0; l < lanes; ++l) x.lane[l] += y.lane[l];
        return x;
    }
    static void store_int32(std::int32_t* out, const vec& v) noexcept {
        for (int l = 0; l < lanes; ++l) out[l] = static_cast<std::int32_t>(v.lane[l]);
    }
};

#include "qtl/kernels/detail/gemm_int8_microkernel.inl"

// Column blocks [block_begin, block_end) of `packed` (laid out for Isa) with
// activations packed as portable_ops<Isa>::a_elem rows.
template <gemm_int8_isa Isa, class Policy>
void gemm_int8_blocks_portable(const gemm_int8_packed& packed, const void* a, std::size_t m, std::int8_t* out,
                               std::size_t ldc, std::size_t block_begin, std::size_t block_end) {
    using ops = portable_ops<Isa>;
    const auto* rows = static_cast<const typename ops::a_elem*>(a);
    if (packed.per_channel)
        gemm_int8_blocks<ops, spill_epilogue<ops, Policy, true>>(packed, rows, m, out, ldc, block_begin, block_end);
    else
        gemm_int8_blocks<ops, spill_epilogue<ops, Policy, false>>(packed, rows, m, out, ldc, block_begin, block_end);
}

}  // namespace qtl::kernels::scalar
