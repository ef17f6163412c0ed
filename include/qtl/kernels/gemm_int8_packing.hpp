#pragma once
// Weights of an int8 GEMM packed once (in an op's prepare()) into the layout
// one micro-kernel streams, with the zero-point corrections folded into an
// effective bias.  The computation, TFLite's FULLY_CONNECTED int8 (also a 1x1
// CONV_2D over NHWC pixels):
//
//   out[m][n] = requantize(sum_k (a[m][k] - a_zp) * w[n][k] + bias[n])
//
// Layout.  A kernel computes `lanes` output columns per vector register; each
// 32-bit lane accumulates `kgroup` consecutive k in one instruction (VPDPBUSD:
// 4 u8 x s8 products; VPMADDWD: 2 s16 x s16).  Columns are grouped in blocks of
// block_vectors * lanes, and a block is stored k-group after k-group:
//
//   byte ((block * k_groups + g) * block_vectors + v) * lanes * kgroup + lane * kgroup + j
//     = w[block * block_columns + v * lanes + lane][g * kgroup + j]
//
// so one tile reads one block's weights front to back.  K is padded to whole
// k-groups (and those to a multiple of the one-row kernel's unroll), N to
// whole blocks, with zero weights (they add nothing).
//
// Zero points.  VPDPBUSD multiplies unsigned by signed bytes, so activations
// enter it as a + 128 (the bit pattern a ^ 0x80); VPMADDWD takes them as they
// are.  With that offset `off` (128 or 0),
//
//   sum_k (a + off) * w = sum_k (a - a_zp) * w + (a_zp + off) * colsum[n]
//
// so bias_eff[n] = bias[n] - (a_zp + off) * colsum[n] makes the kernel's sum
// the reference sum.  Both sides are int32 sums wrapping modulo 2^32, so they
// agree bit for bit even where TFLite's own int32 accumulation would overflow.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <new>
#include <span>
#include <string_view>
#include <vector>

#include "qtl/core/error.hpp"
#include "qtl/fixedpoint/quantize_multiplier.hpp"
#include "qtl/fixedpoint/requantize.hpp"
#include "qtl/kernels/register_requantize.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

// Keeps a function out of line (compile time: see gemm_int8_scalar.hpp).
#if defined(__GNUC__) || defined(__clang__)
#define QTL_KERNELS_NOINLINE __attribute__((noinline))
#elif defined(_MSC_VER)
#define QTL_KERNELS_NOINLINE __declspec(noinline)
#else
#define QTL_KERNELS_NOINLINE
#endif

// Forces a helper into its caller (a kernel's k step: a call would spill the accumulators).
#if defined(__GNUC__) || defined(__clang__)
#define QTL_KERNELS_ALWAYS_INLINE __attribute__((always_inline)) inline
#elif defined(_MSC_VER)
#define QTL_KERNELS_ALWAYS_INLINE __forceinline
#else
#define QTL_KERNELS_ALWAYS_INLINE inline
#endif

namespace qtl::kernels {

// The micro-kernel a packing is made for.  Each has its own layout geometry.
enum class gemm_int8_isa { scalar, avx2, avx_vnni, avx512_vnni };

inline constexpr gemm_int8_isa all_gemm_int8_isas[] = {gemm_int8_isa::scalar, gemm_int8_isa::avx2,
                                                       gemm_int8_isa::avx_vnni, gemm_int8_isa::avx512_vnni};

constexpr std::string_view to_string(gemm_int8_isa isa) noexcept {
    switch (isa) {
        case gemm_int8_isa::scalar: return "scalar";
        case gemm_int8_isa::avx2: return "avx2";
        case gemm_int8_isa::avx_vnni: return "avx_vnni";
        case gemm_int8_isa::avx512_vnni: return "avx512_vnni";
    }
    return "unknown";
}

struct gemm_int8_geometry {
    int lanes;          // output columns per vector (int32 lanes)
    int kgroup;         // consecutive k per 32-bit lane: 4 (VPDPBUSD) or 2 (VPMADDWD)
    int block_vectors;  // vectors per column block
    int tile_rows;      // rows of the GEMM tile (rows x block_vectors accumulators)
    int gemv_unroll;    // k-groups in flight for one row (independent accumulator sets)
    bool a_int16;       // activations enter as int16 (VPMADDWD) rather than uint8
    int a_offset;       // added to activations on entry (128: s8 -> u8)

    constexpr int block_columns() const noexcept { return lanes * block_vectors; }
};

// Register budgets: 32 zmm for AVX-512 (24 accumulators + 4 weights + 1
// broadcast), 16 ymm otherwise (AVX-VNNI 12 + 3 + 1; AVX2 8 + 2 + 1 + the
// VPMADDWD product).  12 or more independent accumulators hide VPDPBUSD's
// latency at two per cycle; one row (batch-1 FC) gets them from gemv_unroll.
// The scalar kernel uses a VNNI-shaped layout: its loops are plain C++.
constexpr gemm_int8_geometry geometry_of(gemm_int8_isa isa) noexcept {
    switch (isa) {
        case gemm_int8_isa::avx512_vnni: return {16, 4, 4, 6, 3, false, 128};
        case gemm_int8_isa::avx_vnni: return {8, 4, 3, 4, 4, false, 128};
        case gemm_int8_isa::avx2: return {8, 2, 2, 4, 4, true, 0};
        case gemm_int8_isa::scalar: break;
    }
    return {8, 4, 2, 4, 1, false, 128};
}

// 64-byte aligned storage, so that a zmm load of packed weights never splits
// a cache line.
template <class T, std::size_t Alignment = 64>
struct aligned_allocator {
    using value_type = T;
    template <class U>
    struct rebind {
        using other = aligned_allocator<U, Alignment>;
    };
    aligned_allocator() noexcept = default;
    template <class U>
    aligned_allocator(const aligned_allocator<U, Alignment>&) noexcept {}
    T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{Alignment})); }
    void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, std::align_val_t{Alignment}); }
    template <class U>
    friend bool operator==(const aligned_allocator&, const aligned_allocator<U, Alignment>&) noexcept {
        return true;
    }
};

// What FULLY_CONNECTED / 1x1 CONV_2D hand to the kernel, in integers.
struct gemm_int8_spec {
    std::size_t k = 0;                                  // input features (the reduction)
    std::size_t n = 0;                                  // output features
    std::span<const std::int8_t> weights;               // [n][k]: row n holds output feature n (TFLite's [O, I])
    std::span<const std::int32_t> bias;                 // [n], or empty for none
    std::int32_t input_zero_point = 0;                  // in [-128, 127]
    std::span<const quantized_multiplier> multipliers;  // 1 (per-tensor) or n (per-channel)
    requantize_params output;                           // int8 zero point and clamp range
};

// The packed weights and epilogue constants, for one isa's kernel.
struct gemm_int8_packed {
    gemm_int8_isa isa = gemm_int8_isa::scalar;
    gemm_int8_geometry geometry = geometry_of(gemm_int8_isa::scalar);
    std::size_t k = 0, n = 0;
    std::size_t k_groups = 0;  // ceil(k / kgroup), rounded up to a multiple of gemv_unroll
    std::size_t blocks = 0;    // ceil(n / block_columns)
    std::int32_t input_zero_point = 0;
    std::vector<std::int8_t, aligned_allocator<std::int8_t>> weights;
    // Per column, padded to blocks * block_columns (padding: 0 bias, multiplier 0).
    std::vector<std::int32_t> bias;  // bias_eff
    bool per_channel = false;
    quantized_multiplier multiplier;  // per-tensor
    std::vector<std::int32_t> multipliers, shifts;  // per-channel
    requantize_params output;
    // The same multipliers as per-lane constants of the AVX2 register stage
    // (per-tensor replicated), used by the AVX2 and AVX-VNNI kernels for double rounding.
    register_requantize_constants lane_requantize;

    std::size_t k_padded() const noexcept { return k_groups * static_cast<std::size_t>(geometry.kgroup); }
    std::size_t block_columns() const noexcept { return static_cast<std::size_t>(geometry.block_columns()); }
    std::size_t block_bytes() const noexcept { return k_groups * block_columns() * geometry.kgroup; }
};

// A convolution's activation rows read in place (conv_int8.hpp's in-place
// path): its input converted once into the VPDPBUSD form (a + 128) with the
// padding around it, output pixel p = y * width + x reading its k-group g
// at origin + y * y_step + x * x_step + offsets[g].
struct gemm_int8_pixel_grid {
    const std::uint8_t* origin = nullptr;
    std::size_t width = 1, y_step = 0, x_step = 0;
    const std::uint32_t* offsets = nullptr;  // one per k-group of the tiles
};

namespace detail {

inline std::int32_t wrapping_add(std::int32_t a, std::int32_t b) noexcept {
    return static_cast<std::int32_t>(static_cast<std::uint32_t>(a) + static_cast<std::uint32_t>(b));
}

inline void validate_gemm_int8_spec(const gemm_int8_spec& s) {
    const char* where = "gemm_int8";
    check(s.k > 0 && s.n > 0, where, "k and n must be > 0, got k = ", s.k, ", n = ", s.n);
    check(s.k <= std::numeric_limits<std::size_t>::max() / s.n && s.weights.size() == s.k * s.n, where,
          "weights must hold n * k = ", s.n, " * ", s.k, " values ([n][k]), got ", s.weights.size());
    check(s.bias.empty() || s.bias.size() == s.n, where, "bias must be empty or hold n = ", s.n, " values, got ",
          s.bias.size());
    check(s.input_zero_point >= -128 && s.input_zero_point <= 127, where,
          "input zero point must be in [-128, 127], got ", s.input_zero_point);
    check(s.multipliers.size() == 1 || s.multipliers.size() == s.n, where,
          "multipliers must hold 1 (per-tensor) or n = ", s.n, " (per-channel) values, got ", s.multipliers.size());
    for (std::size_t c = 0; c < s.multipliers.size(); ++c) {
        const int shift = s.multipliers[c].shift;
        check(shift >= -31 && shift <= 30, where, "shift of multiplier ", c, " must be in [-31, 30], got ", shift);
    }
    const requantize_params& p = s.output;
    check(p.output_zero_point >= -128 && p.output_zero_point <= 127, where,
          "output zero point must be in [-128, 127], got ", p.output_zero_point);
    check(p.activation_min >= -128 && p.activation_max <= 127 && p.activation_min <= p.activation_max, where,
          "activation range must be a non-empty range within [-128, 127], got [", p.activation_min, ", ",
          p.activation_max, "]");
}

}  // namespace detail

// Validates the spec (qtl::error naming "gemm_int8" and what is wrong) and
// packs it for `isa`'s kernel.  Any isa can be packed on any machine; running
// it is another matter (see gemm_int8.hpp).
inline gemm_int8_packed pack_gemm_int8(const gemm_int8_spec& s, gemm_int8_isa isa) {
    detail::validate_gemm_int8_spec(s);
    gemm_int8_packed p;
    p.isa = isa;
    p.geometry = geometry_of(isa);
    const auto& g = p.geometry;
    p.k = s.k;
    p.n = s.n;
    // Whole k-groups, and a whole number of the one-row kernel's unrolled steps.
    const std::size_t unroll = static_cast<std::size_t>(g.gemv_unroll);
    p.k_groups = ((s.k + g.kgroup - 1) / g.kgroup + unroll - 1) / unroll * unroll;
    p.blocks = (s.n + p.block_columns() - 1) / p.block_columns();
    p.input_zero_point = s.input_zero_point;
    p.output = s.output;

    const std::size_t lanes = g.lanes, kgroup = g.kgroup, vectors = g.block_vectors;
    p.weights.assign(p.blocks * p.block_bytes(), 0);
    for (std::size_t col = 0; col < s.n; ++col) {
        const std::size_t block = col / p.block_columns(), v = (col % p.block_columns()) / lanes, lane = col % lanes;
        const std::int8_t* row = s.weights.data() + col * s.k;
        for (std::size_t kk = 0; kk < s.k; ++kk) {
            const std::size_t group = kk / kgroup, j = kk % kgroup;
            p.weights[((block * p.k_groups + group) * vectors + v) * lanes * kgroup + lane * kgroup + j] = row[kk];
        }
    }

    const std::size_t padded_n = p.blocks * p.block_columns();
    p.bias.assign(padded_n, 0);
    const std::int64_t correction = std::int64_t{s.input_zero_point} + g.a_offset;
    for (std::size_t col = 0; col < s.n; ++col) {
        std::int64_t colsum = 0;
        for (std::size_t kk = 0; kk < s.k; ++kk) colsum += s.weights[col * s.k + kk];
        const std::int32_t bias = s.bias.empty() ? 0 : s.bias[col];
        // correction * colsum modulo 2^32 (C++20 conversions wrap).
        const auto term = static_cast<std::int32_t>(static_cast<std::uint64_t>(correction * colsum));
        p.bias[col] = detail::wrapping_add(bias, static_cast<std::int32_t>(0u - static_cast<std::uint32_t>(term)));
    }

    p.per_channel = s.multipliers.size() > 1;
    p.multiplier = s.multipliers[0];
    if (p.per_channel) {
        p.multipliers.assign(padded_n, 0);
        p.shifts.assign(padded_n, 0);
        for (std::size_t col = 0; col < s.n; ++col) {
            p.multipliers[col] = s.multipliers[col].multiplier;
            p.shifts[col] = s.multipliers[col].shift;
        }
    }
    // |accumulator + bias| stays within this (what the one_rounding_doubled epilogues need below 2^30).
    std::int64_t max_abs_bias = 0;
    for (const std::int32_t b : s.bias) max_abs_bias = std::max(max_abs_bias, std::abs(std::int64_t{b}));
    p.lane_requantize = make_register_requantize_constants(s.multipliers, s.n, padded_n, s.output.output_zero_point,
                                                           accumulator_bound(max_abs_bias, s.k));
    return p;
}

// Zeroes row[k, k_padded), the padding that meets zero weights.  Call it
// before writing row[0, k): where the row is at least 16 bytes and the
// padding shorter, one 16-byte store at the row's end does it (the values
// then overwrite what it covers of [0, k)); a memset call per row, which is
// what a fill loop compiles to, costs more than a short row.
template <class AElem>
void zero_row_padding(AElem* row, std::size_t k, std::size_t k_padded) noexcept {
#if defined(__SSE2__)
    constexpr std::size_t per16 = 16 / sizeof(AElem);
    if (k_padded >= per16 && k_padded - k <= per16) {
        if (k_padded != k) _mm_storeu_si128(reinterpret_cast<__m128i*>(row + k_padded - per16), _mm_setzero_si128());
        return;
    }
#endif
    std::fill(row + k, row + k_padded, AElem{0});
}

// Activation rows [m][k] (row stride lda) as the kernel reads them: rows of
// k_padded elements, a + a_offset, zero padded (padding meets zero weights).
template <class AElem>
void pack_gemm_int8_activations(const std::int8_t* a, std::size_t m, std::size_t lda, std::size_t k,
                                std::size_t k_padded, int a_offset, AElem* out) noexcept {
    for (std::size_t r = 0; r < m; ++r) {
        const std::int8_t* row = a + r * lda;
        AElem* dst = out + r * k_padded;
        zero_row_padding(dst, k, k_padded);
        for (std::size_t kk = 0; kk < k; ++kk) dst[kk] = static_cast<AElem>(row[kk] + a_offset);
    }
}

}  // namespace qtl::kernels
