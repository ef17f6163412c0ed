#pragma once
// FULLY_CONNECTED (TFLite builtin 9), integer kernels.
//
//   input [..., I] is read as rows x I (rows = elements / I), weights are [O, I]:
//   out[r, o] = requantize(sum_i (in[r, i] - in_zp) * w[o, i] + bias[o])
//
// Type signatures (In = activation type, Weight = weight storage), the set the
// graph executor dispatches on:
//   int8  in, int8 weights, int32 bias, int8  out   per tensor or per channel (axis 0)
//   int8  in, int4 weights, int32 bias, int8  out   same, weights packed two per byte
//   int16 in, int8 weights, int64 bias, int16 out   "16x8": in/out zero points 0
//   int16 in, int4 weights, int64 bias, int16 out
// plus block-wise int4 weights, which TFLite only runs as a *hybrid* op (float
// in, float out): see fully_connected_blockwise_params below.
//
// What TFLite does, and so what prepare() checks and computes:
//  - Weights are symmetric (zero point 0); TFLite still applies a per-tensor
//    weight offset for old uint8 models, qtl refuses a non-zero one.
//  - Per-channel multipliers: M[c] = double(in_scale) * double(w_scale[c]) /
//    double(out_scale), then quantize_multiplier (TFLite's QuantizeMultiplier).
//  - int8: int32 accumulator, acc += w * (x + input_offset), input_offset =
//    -in_zp; then MultiplyByQuantizedMultiplier, + out_zp, clamp.
//  - 16x8: int64 accumulator (TFLite's AccumScalar = int64_t kernels, used
//    whenever the bias is int64), the 64-bit MultiplyByQuantizedMultiplier
//    (Q15 multiplier, one rounding half up: multiply_by_quantized_multiplier_int64),
//    no output offset (zero points are 0), clamp.  That function needs shift
//    <= 7, i.e. a real multiplier below 128: prepare() refuses larger ones.
//  - int4 weights: TFLite unpacks the whole [O, I] tensor (element 2k in the
//    low nibble, rows may straddle bytes when I is odd) into int8 on every
//    Eval; qtl unpacks once in prepare() (same values).
//  - keep_num_dims: output [..., O] instead of [rows, O].  Without it TFLite
//    only needs the input's element count to be a multiple of I (a [1, 5, 5, 16]
//    input against [O, 400] weights is valid); with it the last dim must be I.
//  - Fused activation NONE, RELU, RELU_N1_TO_1, RELU6 (the clamp range).
//  - TFLite's newest kReference kernels (2024+) requantize in double for
//    per-tensor/per-channel int8; the default (optimized) kernels, TFLite Micro
//    and every earlier reference kernel use the fixed-point path above, which
//    is what qtl implements.
//
// SIMD path (eval):
//  - int8: the GEMM kernels of kernels/gemm_int8.hpp (AVX-512 VNNI, AVX-VNNI,
//    AVX2 or scalar, the best this CPU runs, chosen when prepare() packs the
//    weights), with the input offset folded into the bias and the
//    requantization fused into the kernel; bit-exact with the reference
//    (tested there at every tile edge, and here against reference::eval).
//  - 16x8: weight rows zero padded to a multiple of 32 values (and of 4
//    rows), input rows widened to int16 once, an int16 multiply-add (pmaddwd:
//    SSE2, AVX2, AVX-512BW; portable xsimd elsewhere) over 4 output channels
//    per pass; chunks of 256 products in int32 (at most 2^30, exact) summed in
//    int64, then the scalar 64-bit requantization stage the reference uses.
//
// TFLite op versions (GetBuiltinOperatorVersion in tools/versioning/op_version.cc,
// whose checks run in this order): int16 in + int4 weights + int16 out: 13;
// int16/int8/int16 with an int32 bias (quantized_bias_type set): 11; no bias:
// 6; keep_num_dims: 5; int8/int8/int8: 4 (per channel too); int8/int4/int8: 10.
// int16/int8/int16 with the default int64 bias matches none of them (the v7
// branch tests for int16 *weights*) and gets 1; the block-wise hybrid op
// (float/int4/float) gets 1 as well.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "qtl/core/element_types.hpp"
#include "qtl/core/error.hpp"
#include "qtl/core/int4_packing.hpp"
#include "qtl/core/shape.hpp"
#include "qtl/core/tensor_view.hpp"
#include "qtl/detail/gcc_bug_105593.hpp"
#include "qtl/fixedpoint/multiply_by_quantized_multiplier.hpp"
#include "qtl/fixedpoint/quantize_multiplier.hpp"
#include "qtl/fixedpoint/requantize.hpp"
#include "qtl/fixedpoint/requantize_batch.hpp"
#include "qtl/fixedpoint/rounding_policy.hpp"
#include "qtl/kernels/gemm_int8.hpp"
#include "qtl/ops/fused_activation.hpp"
#include "qtl/quant/quant_params.hpp"

QTL_DETAIL_GCC_BUG_105593_BEGIN

namespace qtl::ops {

// --- type signatures ----------------------------------------------------------

template <class In, class Weight>
inline constexpr bool is_fully_connected_signature =
    (std::is_same_v<In, std::int8_t> || std::is_same_v<In, std::int16_t>) &&
    (std::is_same_v<Weight, std::int8_t> || std::is_same_v<Weight, int4>);

// int64 bias in 16x8 mode (TFLite's default for int16 activations), int32 otherwise.
template <class In>
using fully_connected_bias_t = std::conditional_t<std::is_same_v<In, std::int16_t>, std::int64_t, std::int32_t>;

// What a weights buffer holds: int8 values, or int4 values packed two per byte.
template <class Weight>
using fully_connected_weight_storage_t = std::conditional_t<std::is_same_v<Weight, int4>, std::uint8_t, std::int8_t>;

// --- params and prepared state -----------------------------------------------

template <class In, class Weight = std::int8_t>
struct fully_connected_params {
    static_assert(is_fully_connected_signature<In, Weight>,
                  "FULLY_CONNECTED runs int8 or int16 activations with int8 or int4 weights; "
                  "other type combinations have no TFLite integer kernel");
    using bias_type = fully_connected_bias_t<In>;
    using weight_storage = fully_connected_weight_storage_t<Weight>;

    qtl::shape input_shape;                   // [..., I]
    qtl::shape weights_shape;                 // [O, I]
    std::span<const weight_storage> weights;  // O * I int8 values, or packed_int4_bytes(O * I) bytes
    std::span<const bias_type> bias;          // O values; empty: no bias
    float input_scale = 0.0f;
    std::int32_t input_zero_point = 0;        // 0 in 16x8 mode
    float output_scale = 0.0f;
    std::int32_t output_zero_point = 0;       // 0 in 16x8 mode
    quant_params weights_quant;               // per tensor, or per channel on axis 0; zero points 0
    fused_activation activation = fused_activation::none;
    bool keep_num_dims = false;
};

// Weights are unpacked by prepare(), so the prepared state depends only on the
// activation type (and the rounding policy of the int8 requantization).
template <class In, rounding_policy Policy = double_rounding>
struct fully_connected_prepared {
    using input_type = In;
    using output_type = In;
    using bias_type = fully_connected_bias_t<In>;
    using accumulator_type = bias_type;  // int32 for int8, int64 in 16x8 mode

    qtl::shape input_shape;
    qtl::shape output_shape;
    std::size_t rows = 0;
    std::size_t input_depth = 0;   // I
    std::size_t output_depth = 0;  // O

    // What the reference reads, as TFLite's kernel sees it.
    std::vector<std::int8_t> weights;  // [O, I], int4 already unpacked
    std::vector<bias_type> bias;       // [O]; empty: no bias
    std::int32_t input_offset = 0;     // -input zero point

    // Requantization, shared by both paths.
    bool per_channel = false;
    std::vector<std::int32_t> multipliers;  // O entries per channel, 1 per tensor
    std::vector<std::int32_t> shifts;
    requantize_params requant;

    // What the SIMD path reads.  int8: the GEMM kernel's packed weights
    // (kernels/gemm_int8.hpp, the best kernel this CPU runs).  16x8: the rows below.
    kernels::gemm_int8_packed gemm;
    std::vector<accumulator_type> folded_bias;  // [O] (16x8: the bias; the input offset is 0)
    std::size_t padded_depth = 0;               // I rounded up to a multiple of 32
    std::vector<std::int8_t> packed_weights;    // [O rounded up to 4, padded_depth], zero padded
};

// Block-wise int4 weights.  TFLite runs them only in its hybrid kernel
// (EvalBlockwise4Bit in fully_connected.cc): float input, float bias, float
// output.  It does not dequantize the weights; per row of the input it
//   1. quantizes the row to int8 asymmetrically on the fly (scale s, zero
//      point z: PortableAsymmetricQuantizeFloats, see quantize_row_asymmetric);
//   2. per output o and block b: dot[b] = sum over the block of q * w (int32,
//      exact), wsum[b] = sum of the block's weights;
//   3. in float, in this order: acc = sum_b dot[b] * scale[o, b];
//      kfsum = sum_b scale[o, b] * wsum[b]; acc -= z * kfsum; acc *= s;
//      acc += bias[o].
// TFLite takes this path only in its optimized kernel (not the kReference
// one) and only when its 4x32 int4 packing applies: O >= 4, I >= 32, I even;
// otherwise it runs the affine hybrid kernel on block-wise parameters, which
// is meaningless, so qtl refuses those shapes.  It applies no fused activation
// (qtl refuses one), assumes symmetric weights, and reads rows padded to an
// even element count (with I even that padding and the flat packing agree).  TFLite accumulates
// each block's dot product through float, exact while |dot| <= 2^24: qtl
// requires block_size <= 16384 (|q * w| <= 1024).  Float products are rounded
// one by one (no FMA contraction), as TFLite's x86-64 build computes them.
struct fully_connected_blockwise_params {
    qtl::shape input_shape;                 // float [..., I]
    qtl::shape weights_shape;               // [O, I]
    std::span<const std::uint8_t> weights;  // packed int4, packed_int4_bytes(O * I) bytes
    std::span<const float> bias;            // O values; empty: no bias
    quant_params weights_quant;             // axis 1, block_size B, scales [O, I / B] row-major (the values
                                            // of TFLite's fp16 scale tensor), zero points empty or 0
    fused_activation activation = fused_activation::none;
    bool keep_num_dims = false;
};

struct fully_connected_blockwise_prepared {
    qtl::shape input_shape;
    qtl::shape output_shape;
    std::size_t rows = 0;
    std::size_t input_depth = 0;   // I
    std::size_t output_depth = 0;  // O
    std::size_t block_size = 0;    // B
    std::size_t blocks = 0;        // I / B

    std::vector<std::int8_t> weights;  // [O, I] unpacked
    std::vector<float> block_scales;   // [O, blocks]
    std::vector<float> bias;           // [O]; empty: no bias

    // What the SIMD path reads: each block padded to block_stride values.
    std::vector<std::int32_t> block_sums;      // [O, blocks]: sum of the block's weights
    std::size_t block_stride = 0;              // B rounded up to a multiple of 32
    std::vector<std::int8_t> packed_weights;   // [O rounded up to 4, blocks * block_stride], zero padded
};

namespace detail::fully_connected {

inline const std::string op_name = "FULLY_CONNECTED";

inline constexpr std::size_t depth_step = 32;  // int16 values per padded chunk: one AVX-512 register
inline constexpr std::size_t row_block = 4;    // weight rows sharing each input load
inline constexpr std::size_t chunk_16x8 = 256; // products per exact int32 partial sum in 16x8 mode
inline constexpr std::size_t max_blockwise_block = 16384;
inline constexpr std::size_t blockwise_min_outputs = 4;  // TFLite's optimized_4bit::FilterWidth
inline constexpr std::size_t blockwise_min_depth = 32;   // and FilterDepth

constexpr std::size_t round_up(std::size_t n, std::size_t multiple) noexcept {
    return (n + multiple - 1) / multiple * multiple;
}

constexpr std::int32_t wrapping_add(std::int32_t a, std::int32_t b) noexcept {
    return static_cast<std::int32_t>(static_cast<std::uint32_t>(a) + static_cast<std::uint32_t>(b));
}

constexpr std::int64_t wrapping_add(std::int64_t a, std::int64_t b) noexcept {
    return static_cast<std::int64_t>(static_cast<std::uint64_t>(a) + static_cast<std::uint64_t>(b));
}

// a * b rounded to float on its own: the volatile round trip keeps a compiler
// from fusing it with a following add into an FMA (GCC contracts across
// statements by default in GNU mode), so both paths and TFLite's non-FMA
// x86-64 build round every product the same way.
inline float separate_product(float a, float b) noexcept {
    volatile float product = a * b;
    return product;
}

// The 16x8 requantize stage (TFLite's int64 FullyConnected kernels): 64-bit
// multiply, clamp; no output offset because the output zero point is 0.
inline std::int16_t requantize_16x8(std::int64_t acc, std::int32_t multiplier, std::int32_t shift,
                                    const requantize_params& p) noexcept {
    const std::int32_t scaled = multiply_by_quantized_multiplier_int64(acc, multiplier, static_cast<int>(shift));
    return static_cast<std::int16_t>(std::min(std::max(scaled, p.activation_min), p.activation_max));
}

// TFLite's PortableAsymmetricQuantizeFloats (the hybrid kernels' per-row input
// quantization, also what x86 builds run): range widened to include 0, scale =
// range / 255 in double, zero point from whichever end has the smaller error,
// nudged into [-128, 127]; the scale is stored as float and its inverse taken
// as float, q = round(zp + x * inverse) clamped.  An all-zero row gives scale
// 1, zero point 0.  Non-finite inputs give unspecified (but defined) codes.
struct asymmetric_row_quantization {
    float scale = 1.0f;
    std::int32_t zero_point = 0;
};

inline asymmetric_row_quantization quantize_row_asymmetric(const float* values, std::size_t n, std::int8_t* out) noexcept {
    constexpr double qmin = -128.0, qmax = 127.0;
    float lowest = 0.0f, highest = 0.0f;
    if (n > 0) {
        const auto [lo, hi] = std::minmax_element(values, values + n);
        lowest = *lo;
        highest = *hi;
    }
    const double rmin = std::fmin(0.0, static_cast<double>(lowest));
    const double rmax = std::fmax(0.0, static_cast<double>(highest));
    if (rmin == rmax) {
        std::fill(out, out + n, std::int8_t{0});
        return {1.0f, 0};
    }
    const double scale = (rmax - rmin) / (qmax - qmin);
    const double zero_point_from_min = qmin - rmin / scale;
    const double zero_point_from_max = qmax - rmax / scale;
    const double error_from_min = std::abs(qmin) + std::abs(rmin / scale);
    const double error_from_max = std::abs(qmax) + std::abs(rmax / scale);
    const double zero_point = error_from_min < error_from_max ? zero_point_from_min : zero_point_from_max;
    std::int32_t nudged = 0;
    if (zero_point <= qmin) {
        nudged = -128;
    } else if (zero_point >= qmax) {
        nudged = 127;
    } else {
        nudged = static_cast<std::int32_t>(std::round(zero_point));
    }
    asymmetric_row_quantization q;
    q.scale = static_cast<float>(scale);
    q.zero_point = nudged;
    const auto inverse = static_cast<float>(1.0 / static_cast<double>(q.scale));
    const auto offset = static_cast<float>(nudged);
    for (std::size_t i = 0; i < n; ++i) {
        const float rounded = std::round(offset + separate_product(values[i], inverse));
        out[i] = static_cast<std::int8_t>(std::min(127.0f, std::max(-128.0f, rounded)));  // NaN -> -128
    }
    return q;
}

// --- the dot-product kernels --------------------------------------------------
// out[j] = sum_{k < n} x[k] * w[j * stride + k] for j < 4: int16 inputs, int8
// weights widened to int16 in registers, int16 x int16 multiply-adds into
// int32 lanes, wrapping sums; n is a multiple of 32 (rows are zero padded).

template <class A>
inline constexpr bool has_avx512bw_kernel =
#if defined(__AVX512BW__)
    std::is_base_of_v<xsimd::avx512bw, A>;
#else
    false;
#endif

template <class A>
inline constexpr bool has_avx2_kernel =
#if defined(__AVX2__)
    std::is_base_of_v<xsimd::avx2, A> && !has_avx512bw_kernel<A>;
#else
    false;
#endif

template <class A>
inline constexpr bool has_sse2_kernel =
#if defined(__SSE2__)
    std::is_base_of_v<xsimd::sse2, A>;
#else
    false;
#endif

#if defined(__SSE2__)
inline std::int32_t sum_lanes(__m128i v) noexcept {  // wrapping, like the lanes
    v = _mm_add_epi32(v, _mm_shuffle_epi32(v, _MM_SHUFFLE(1, 0, 3, 2)));
    v = _mm_add_epi32(v, _mm_shuffle_epi32(v, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(v);
}

inline void dot_4_rows_sse2(const std::int16_t* x, const std::int8_t* w, std::size_t stride, std::size_t n,
                            std::int32_t* out) noexcept {
    // 8 int8 weights -> 8 int16: each byte duplicated into a 16-bit lane, then shifted down with its sign.
    const auto load = [&](std::size_t row, std::size_t k) {
        const __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(w + row * stride + k));
        return _mm_srai_epi16(_mm_unpacklo_epi8(bytes, bytes), 8);
    };
    __m128i a0 = _mm_setzero_si128(), a1 = a0, a2 = a0, a3 = a0;
    for (std::size_t k = 0; k < n; k += 8) {
        const __m128i xv = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + k));
        a0 = _mm_add_epi32(a0, _mm_madd_epi16(xv, load(0, k)));
        a1 = _mm_add_epi32(a1, _mm_madd_epi16(xv, load(1, k)));
        a2 = _mm_add_epi32(a2, _mm_madd_epi16(xv, load(2, k)));
        a3 = _mm_add_epi32(a3, _mm_madd_epi16(xv, load(3, k)));
    }
    out[0] = sum_lanes(a0);
    out[1] = sum_lanes(a1);
    out[2] = sum_lanes(a2);
    out[3] = sum_lanes(a3);
}
#endif

#if defined(__AVX2__)
inline std::int32_t sum_lanes(__m256i v) noexcept {
    return sum_lanes(_mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1)));
}

inline void dot_4_rows_avx2(const std::int16_t* x, const std::int8_t* w, std::size_t stride, std::size_t n,
                            std::int32_t* out) noexcept {
    const auto load = [&](std::size_t row, std::size_t k) {
        return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + row * stride + k)));
    };
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (std::size_t k = 0; k < n; k += 16) {
        const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + k));
        a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(xv, load(0, k)));
        a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(xv, load(1, k)));
        a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(xv, load(2, k)));
        a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(xv, load(3, k)));
    }
    out[0] = sum_lanes(a0);
    out[1] = sum_lanes(a1);
    out[2] = sum_lanes(a2);
    out[3] = sum_lanes(a3);
}
#endif

#if defined(__AVX512BW__)
inline std::int32_t sum_lanes(__m512i v) noexcept {
    return sum_lanes(_mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1)));
}

inline void dot_4_rows_avx512bw(const std::int16_t* x, const std::int8_t* w, std::size_t stride, std::size_t n,
                                std::int32_t* out) noexcept {
    const auto load = [&](std::size_t row, std::size_t k) {
        return _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + row * stride + k)));
    };
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    for (std::size_t k = 0; k < n; k += 32) {
        const __m512i xv = _mm512_loadu_si512(x + k);
        a0 = _mm512_add_epi32(a0, _mm512_madd_epi16(xv, load(0, k)));
        a1 = _mm512_add_epi32(a1, _mm512_madd_epi16(xv, load(1, k)));
        a2 = _mm512_add_epi32(a2, _mm512_madd_epi16(xv, load(2, k)));
        a3 = _mm512_add_epi32(a3, _mm512_madd_epi16(xv, load(3, k)));
    }
    out[0] = sum_lanes(a0);
    out[1] = sum_lanes(a1);
    out[2] = sum_lanes(a2);
    out[3] = sum_lanes(a3);
}
#endif

// Any other arch (AVX without AVX2, AVX-512 without BW, ARM): xsimd int32
// lanes, loading int16 inputs and int8 weights with conversion.  Products fit
// int32; the lane sums wrap like the x86 ones.
template <class A>
void dot_4_rows_portable(const std::int16_t* x, const std::int8_t* w, std::size_t stride, std::size_t n,
                         std::int32_t* out) noexcept {
    using batch = xsimd::batch<std::int32_t, A>;
    constexpr std::size_t lanes = batch::size;
    static_assert(depth_step % lanes == 0, "padded rows must fill whole batches");
    batch acc[row_block] = {batch(0), batch(0), batch(0), batch(0)};
    for (std::size_t k = 0; k < n; k += lanes) {
        const batch xv = batch::load_unaligned(x + k);
        for (std::size_t j = 0; j < row_block; ++j) acc[j] += xv * batch::load_unaligned(w + j * stride + k);
    }
    alignas(A::alignment()) std::int32_t lane_values[lanes];
    for (std::size_t j = 0; j < row_block; ++j) {
        acc[j].store_aligned(lane_values);
        std::int32_t sum = 0;
        for (std::size_t l = 0; l < lanes; ++l) sum = wrapping_add(sum, lane_values[l]);
        out[j] = sum;
    }
}

template <class A>
void dot_4_rows(const std::int16_t* x, const std::int8_t* w, std::size_t stride, std::size_t n,
                std::int32_t* out) noexcept {
#if defined(__AVX512BW__)
    if constexpr (has_avx512bw_kernel<A>) return dot_4_rows_avx512bw(x, w, stride, n, out);
#endif
#if defined(__AVX2__)
    if constexpr (has_avx2_kernel<A>) return dot_4_rows_avx2(x, w, stride, n, out);
#endif
#if defined(__SSE2__)
    if constexpr (has_sse2_kernel<A>) return dot_4_rows_sse2(x, w, stride, n, out);
#endif
    dot_4_rows_portable<A>(x, w, stride, n, out);
}

// --- prepare() helpers --------------------------------------------------------

inline void check_scale(float scale, const char* tensor) {
    check(std::isfinite(scale) && scale > 0.0f, op_name, tensor, " scale must be finite and > 0, got ", scale);
}

// Scale finite and > 0; zero point in In's range, and 0 for int16 (16x8 activations are symmetric).
template <class In>
void check_activation_tensor(const char* tensor, float scale, std::int32_t zero_point) {
    check_scale(scale, tensor);
    if constexpr (std::is_same_v<In, std::int16_t>) {
        check(zero_point == 0, op_name, tensor, " zero point must be 0 for int16 (16x8) tensors, got ", zero_point);
    } else {
        check(zero_point >= element_traits<In>::min && zero_point <= element_traits<In>::max, op_name, tensor,
              " zero point must be in [", element_traits<In>::min, ", ", element_traits<In>::max, "], got ",
              zero_point);
    }
}

inline void check_weight_zero_points(const quant_params& q) {
    for (std::size_t c = 0; c < q.zero_points.size(); ++c)
        check(q.zero_points[c] == 0, op_name, "weights must be symmetric (zero point 0, as TFLite requires), got ",
              q.zero_points[c], " at index ", c);
}

inline void check_activation(fused_activation act) {
    check(act == fused_activation::none || act == fused_activation::relu || act == fused_activation::relu6 ||
              act == fused_activation::relu_n1_to_1,
          op_name, "fused activation must be NONE, RELU, RELU_N1_TO_1 or RELU6, got ", static_cast<int>(act));
}

// [O, I] with O, I > 0; returns {O, I}.
inline std::pair<std::size_t, std::size_t> check_weights_shape(const qtl::shape& s) {
    check(s.size() == 2, op_name, "weights must have rank 2 [O, I], got shape ", shape_text(s));
    check(s[0] > 0 && s[1] > 0, op_name, "weights shape [O, I] needs O > 0 and I > 0, got ", shape_text(s));
    return {static_cast<std::size_t>(s[0]), static_cast<std::size_t>(s[1])};
}

struct fc_geometry {
    std::size_t rows = 0;
    qtl::shape output_shape;
};

// Rows and output shape from the input shape, as TFLite's Prepare computes them.
inline fc_geometry input_geometry(const qtl::shape& input_shape, std::size_t output_depth, std::size_t input_depth,
                                  bool keep_num_dims) {
    check(!input_shape.empty(), op_name, "input must have rank >= 1, got shape ", shape_text(input_shape));
    const std::size_t elements = num_elements(input_shape, op_name + " input");
    fc_geometry g;
    g.rows = elements / input_depth;
    check(g.rows <= static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()), op_name, "input shape ",
          shape_text(input_shape), " gives ", g.rows, " rows, more than a shape dimension can hold");
    if (keep_num_dims) {
        check(static_cast<std::size_t>(input_shape.back()) == input_depth, op_name,
              "with keep_num_dims the input's last dimension must equal I = ", input_depth, ", got shape ",
              shape_text(input_shape));
        g.output_shape = input_shape;
        g.output_shape.back() = static_cast<std::int32_t>(output_depth);
    } else {
        check(elements % input_depth == 0, op_name, "input shape ", shape_text(input_shape), " has ", elements,
              " elements, not a multiple of I = ", input_depth);
        g.output_shape = {static_cast<std::int32_t>(g.rows), static_cast<std::int32_t>(output_depth)};
    }
    return g;
}

inline void check_eval_shapes(const qtl::shape& prepared_input, const qtl::shape& prepared_output,
                              const qtl::shape& input, const qtl::shape& output) {
    check(input == prepared_input, op_name, "input shape ", shape_text(input), " differs from the prepared ",
          shape_text(prepared_input));
    check(output == prepared_output, op_name, "output shape ", shape_text(output), " differs from the prepared ",
          shape_text(prepared_output));
}

}  // namespace detail::fully_connected

// Validates the spec (qtl::error naming FULLY_CONNECTED and the problem) and
// computes everything eval() needs, once.
template <rounding_policy Policy = double_rounding, class In, class Weight>
fully_connected_prepared<In, Policy> prepare(const fully_connected_params<In, Weight>& params) {
    namespace fc = detail::fully_connected;
    using prepared_type = fully_connected_prepared<In, Policy>;
    using bias_type = typename prepared_type::bias_type;
    constexpr bool is_16x8 = std::is_same_v<In, std::int16_t>;
    const std::string& where = fc::op_name;

    const auto [output_depth, input_depth] = fc::check_weights_shape(params.weights_shape);
    const std::size_t weight_count = output_depth * input_depth;
    if constexpr (std::is_same_v<Weight, int4>) {
        check(params.weights.size() == packed_int4_bytes(weight_count), where, "int4 weights ",
              shape_text(params.weights_shape), " need ", packed_int4_bytes(weight_count), " packed bytes, got ",
              params.weights.size());
    } else {
        check(params.weights.size() == weight_count, where, "weights ", shape_text(params.weights_shape), " need ",
              weight_count, " values, got ", params.weights.size());
    }
    check(params.bias.empty() || params.bias.size() == output_depth, where, "bias must have O = ", output_depth,
          " values (or none), got ", params.bias.size());

    fc::check_activation_tensor<In>("input", params.input_scale, params.input_zero_point);
    fc::check_activation_tensor<In>("output", params.output_scale, params.output_zero_point);

    const quant_params& wq = params.weights_quant;
    check(!wq.is_per_block(), where,
          "block-wise weights (block size ", wq.block_size,
          ") run only in TFLite's hybrid float kernel: use fully_connected_blockwise_params");
    bool per_channel = false;
    if (wq.is_per_tensor()) {
        check(wq.scales.size() == 1, where, "per-tensor weights need 1 scale, got ", wq.scales.size());
    } else {
        check(wq.axis == 0, where, "per-channel weights must be quantized on axis 0 (output channels), got axis ",
              wq.axis);
        check(wq.scales.size() == output_depth, where, "per-channel weights need O = ", output_depth,
              " scales, got ", wq.scales.size());
        per_channel = output_depth > 1;  // TFLite treats a single scale as per tensor
    }
    check(wq.zero_points.size() == wq.scales.size(), where, "weights need one zero point per scale: ",
          wq.scales.size(), " scales, ", wq.zero_points.size(), " zero points");
    for (const float s : wq.scales) fc::check_scale(s, "weights");
    fc::check_weight_zero_points(wq);
    fc::check_activation(params.activation);

    const fc::fc_geometry geometry =
        fc::input_geometry(params.input_shape, output_depth, input_depth, params.keep_num_dims);

    prepared_type p;
    p.input_shape = params.input_shape;
    p.output_shape = geometry.output_shape;
    p.rows = geometry.rows;
    p.input_depth = input_depth;
    p.output_depth = output_depth;
    if constexpr (std::is_same_v<Weight, int4>) {
        p.weights = unpack_int4(params.weights, weight_count);  // once, instead of on every Eval
    } else {
        p.weights.assign(params.weights.begin(), params.weights.end());
    }
    p.bias.assign(params.bias.begin(), params.bias.end());
    p.input_offset = -params.input_zero_point;

    const double input_scale = params.input_scale;
    const double output_scale = params.output_scale;
    p.per_channel = per_channel;
    const std::size_t channels = per_channel ? output_depth : 1;
    for (std::size_t c = 0; c < channels; ++c) {
        const double real_multiplier = input_scale * static_cast<double>(wq.scales[c]) / output_scale;
        const quantized_multiplier qm = quantize_multiplier<Policy>(real_multiplier);
        if constexpr (is_16x8) {
            check(qm.shift <= 7, where, "effective scale input * weights / output = ", real_multiplier,
                  (per_channel ? qtl::detail::concat(" (channel ", c, ")") : std::string()),
                  " must be below 128 for TFLite's 16x8 requantization");
        }
        p.multipliers.push_back(qm.multiplier);
        p.shifts.push_back(qm.shift);
    }
    p.requant = activation_range<In>(params.activation, params.output_scale, params.output_zero_point);

    if constexpr (!is_16x8) {
        std::vector<quantized_multiplier> multipliers;
        for (std::size_t c = 0; c < channels; ++c) multipliers.push_back({p.multipliers[c], p.shifts[c]});
        kernels::gemm_int8_spec spec;
        spec.k = input_depth;
        spec.n = output_depth;
        spec.weights = p.weights;
        spec.bias = p.bias;
        spec.input_zero_point = params.input_zero_point;
        spec.multipliers = multipliers;
        spec.output = p.requant;
        p.gemm = kernels::pack_gemm_int8(spec);
        return p;
    }

    // 16x8 SIMD layout: widened rows, zero padded.
    p.padded_depth = fc::round_up(input_depth, fc::depth_step);
    const std::size_t padded_rows = fc::round_up(output_depth, fc::row_block);
    p.packed_weights.assign(padded_rows * p.padded_depth, 0);
    p.folded_bias.resize(output_depth);
    for (std::size_t o = 0; o < output_depth; ++o) {
        for (std::size_t i = 0; i < input_depth; ++i) p.packed_weights[o * p.padded_depth + i] = p.weights[o * input_depth + i];
        p.folded_bias[o] = p.bias.empty() ? bias_type{0} : p.bias[o];
    }
    return p;
}

// SIMD evaluation: bit-identical to reference::eval.  `input` and `output`
// must have the prepared shapes and must not overlap.  int8 runs the GEMM
// kernels (VNNI / AVX2 / scalar, chosen by CPU at prepare time); 16x8 the
// xsimd dot products below, on arch A.
template <class A = xsimd::default_arch, class In, rounding_policy Policy>
void eval(const fully_connected_prepared<In, Policy>& p, std::type_identity_t<tensor_view<const In>> input,
          std::type_identity_t<tensor_view<In>> output) {
    namespace fc = detail::fully_connected;
    fc::check_eval_shapes(p.input_shape, p.output_shape, input.shape, output.shape);
    if constexpr (std::is_same_v<In, std::int8_t>) {
        // The GEMM kernel picked at prepare time; A does not apply to it.
        kernels::gemm_int8<Policy>(p.gemm, input.data.data(), p.rows, p.input_depth, output.data.data(),
                                   p.output_depth);
    } else {
        // 16x8: all input rows are widened first, then each block of 4
        // weight rows (in L1) meets every input row; int32 partial sums of at
        // most 256 products (exact), accumulated in int64.
        const std::size_t rows = p.rows, depth = p.padded_depth, in_depth = p.input_depth;
        const std::size_t out_depth = p.output_depth;
        const std::size_t padded_rows = fc::round_up(out_depth, fc::row_block);
        std::vector<std::int16_t> x(rows * depth, 0);  // the input rows widened; the padding stays 0
        for (std::size_t r = 0; r < rows; ++r) {
            const In* in_row = input.data.data() + r * in_depth;
            std::copy(in_row, in_row + in_depth, x.begin() + static_cast<std::ptrdiff_t>(r * depth));
        }
        std::vector<std::int64_t> acc(rows * padded_rows, 0);
        std::int32_t partial[fc::row_block];
        for (std::size_t o = 0; o < padded_rows; o += fc::row_block) {
            const std::int8_t* w = p.packed_weights.data() + o * depth;
            for (std::size_t r = 0; r < rows; ++r) {
                std::int64_t* acc_row = acc.data() + r * padded_rows + o;
                for (std::size_t k = 0; k < depth; k += fc::chunk_16x8) {
                    const std::size_t n = std::min(fc::chunk_16x8, depth - k);
                    fc::dot_4_rows<A>(x.data() + r * depth + k, w + k, depth, n, partial);
                    for (std::size_t j = 0; j < fc::row_block; ++j) acc_row[j] += partial[j];
                }
            }
        }
        for (std::size_t r = 0; r < rows; ++r) {
            const std::int64_t* acc_row = acc.data() + r * padded_rows;
            In* out_row = output.data.data() + r * out_depth;
            for (std::size_t o = 0; o < out_depth; ++o) {
                const std::size_t c = p.per_channel ? o : 0;
                out_row[o] = fc::requantize_16x8(fc::wrapping_add(acc_row[o], p.folded_bias[o]), p.multipliers[c],
                                                 p.shifts[c], p.requant);
            }
        }
    }
}

// --- block-wise int4 (hybrid float) -------------------------------------------

inline fully_connected_blockwise_prepared prepare(const fully_connected_blockwise_params& params) {
    namespace fc = detail::fully_connected;
    const std::string& where = fc::op_name;
    const auto [output_depth, input_depth] = fc::check_weights_shape(params.weights_shape);
    const std::size_t weight_count = output_depth * input_depth;
    check(params.weights.size() == packed_int4_bytes(weight_count), where, "int4 weights ",
          shape_text(params.weights_shape), " need ", packed_int4_bytes(weight_count), " packed bytes, got ",
          params.weights.size());
    check(params.bias.empty() || params.bias.size() == output_depth, where, "bias must have O = ", output_depth,
          " values (or none), got ", params.bias.size());

    const quant_params& wq = params.weights_quant;
    check(wq.is_per_block(), where, "block-wise weights need block_size > 0, got ", wq.block_size);
    check(wq.axis == 1, where, "block-wise weights must be split along axis 1 (the input dimension), got axis ",
          wq.axis);
    const auto block = static_cast<std::size_t>(wq.block_size);
    check(block <= fc::max_blockwise_block, where, "block size must be <= ", fc::max_blockwise_block,
          " (TFLite sums each block through float, exact up to 2^24), got ", block);
    check(input_depth % block == 0, where, "I = ", input_depth, " must be a multiple of the block size ", block,
          " (TFLite ignores a partial last block)");
    check(input_depth % 2 == 0, where, "I = ", input_depth,
          " must be even (TFLite's block-wise kernel pads each packed row to an even count)");
    check(output_depth >= fc::blockwise_min_outputs && input_depth >= fc::blockwise_min_depth, where,
          "TFLite runs block-wise weights only with O >= ", fc::blockwise_min_outputs, " and I >= ",
          fc::blockwise_min_depth, " (its 4x32 int4 packing), got weights ", shape_text(params.weights_shape));
    const std::size_t blocks = input_depth / block;
    check(wq.scales.size() == output_depth * blocks, where, "block-wise weights need O * I / block = ",
          output_depth * blocks, " scales, got ", wq.scales.size());
    check(wq.zero_points.empty() || wq.zero_points.size() == wq.scales.size(), where,
          "block-wise weights need no zero points or one per scale, got ", wq.zero_points.size());
    for (const float s : wq.scales) fc::check_scale(s, "weights");
    fc::check_weight_zero_points(wq);
    check(params.activation == fused_activation::none, where,
          "TFLite's block-wise kernel applies no fused activation; got activation ",
          static_cast<int>(params.activation), ", expected NONE");
    for (std::size_t o = 0; o < params.bias.size(); ++o)
        check(std::isfinite(params.bias[o]), where, "bias must be finite, got ", params.bias[o], " at index ", o);

    const fc::fc_geometry geometry =
        fc::input_geometry(params.input_shape, output_depth, input_depth, params.keep_num_dims);

    fully_connected_blockwise_prepared p;
    p.input_shape = params.input_shape;
    p.output_shape = geometry.output_shape;
    p.rows = geometry.rows;
    p.input_depth = input_depth;
    p.output_depth = output_depth;
    p.block_size = block;
    p.blocks = blocks;
    p.weights = unpack_int4(params.weights, weight_count);
    p.block_scales = wq.scales;
    p.bias.assign(params.bias.begin(), params.bias.end());

    p.block_stride = fc::round_up(block, fc::depth_step);
    const std::size_t row_stride = blocks * p.block_stride;
    p.packed_weights.assign(fc::round_up(output_depth, fc::row_block) * row_stride, 0);
    p.block_sums.assign(output_depth * blocks, 0);
    for (std::size_t o = 0; o < output_depth; ++o) {
        for (std::size_t b = 0; b < blocks; ++b) {
            std::int32_t sum = 0;
            for (std::size_t k = 0; k < block; ++k) {
                const std::int8_t w = p.weights[o * input_depth + b * block + k];
                p.packed_weights[o * row_stride + b * p.block_stride + k] = w;
                sum += w;
            }
            p.block_sums[o * blocks + b] = sum;
        }
    }
    return p;
}

// SIMD evaluation of the block-wise hybrid kernel: integer block dot products
// vectorized, then the float combination in TFLite's order (scalar, rounded
// product by product), bit-identical to reference::eval.
template <class A = xsimd::default_arch>
void eval(const fully_connected_blockwise_prepared& p, tensor_view<const float> input, tensor_view<float> output) {
    namespace fc = detail::fully_connected;
    fc::check_eval_shapes(p.input_shape, p.output_shape, input.shape, output.shape);
    const std::size_t in_depth = p.input_depth, out_depth = p.output_depth, blocks = p.blocks;
    const std::size_t stride = p.block_stride, row_stride = blocks * stride;
    const std::size_t padded_rows = fc::round_up(out_depth, fc::row_block);
    std::vector<std::int8_t> q(in_depth);
    std::vector<std::int16_t> x(row_stride, 0);  // the row's codes, each block padded with zeros
    std::vector<std::int32_t> dots(fc::row_block * blocks);
    std::int32_t partial[fc::row_block];

    for (std::size_t r = 0; r < p.rows; ++r) {
        const fc::asymmetric_row_quantization rq =
            fc::quantize_row_asymmetric(input.data.data() + r * in_depth, in_depth, q.data());
        for (std::size_t b = 0; b < blocks; ++b)
            std::copy(q.begin() + b * p.block_size, q.begin() + (b + 1) * p.block_size, x.begin() + b * stride);
        const auto zero_point = static_cast<float>(rq.zero_point);
        float* out_row = output.data.data() + r * out_depth;
        for (std::size_t o = 0; o < padded_rows; o += fc::row_block) {
            for (std::size_t b = 0; b < blocks; ++b) {
                fc::dot_4_rows<A>(x.data() + b * stride, p.packed_weights.data() + o * row_stride + b * stride,
                                  row_stride, stride, partial);
                for (std::size_t j = 0; j < fc::row_block; ++j) dots[j * blocks + b] = partial[j];
            }
            for (std::size_t j = 0; j < fc::row_block && o + j < out_depth; ++j) {
                const float* scales = p.block_scales.data() + (o + j) * blocks;
                const std::int32_t* sums = p.block_sums.data() + (o + j) * blocks;
                float acc = 0.0f, scaled_sums = 0.0f;
                for (std::size_t b = 0; b < blocks; ++b) {
                    acc += fc::separate_product(static_cast<float>(dots[j * blocks + b]), scales[b]);
                    scaled_sums += fc::separate_product(scales[b], static_cast<float>(sums[b]));
                }
                acc -= fc::separate_product(zero_point, scaled_sums);
                acc = fc::separate_product(acc, rq.scale);
                if (!p.bias.empty()) acc += p.bias[o + j];
                out_row[o + j] = acc;
            }
        }
    }
}

}  // namespace qtl::ops

QTL_DETAIL_GCC_BUG_105593_END
