#pragma once
// int8 depthwise convolution kernels (DEPTHWISE_CONV_2D, TFLite semantics),
// bit-exact with TFLite's reference kernel:
//
//   out[n, oy, ox, c*M + m] = requantize(bias[o] + sum_{ky, kx}
//       w[ky, kx, o] * (in[n, oy*sh - pad_top + ky*dh, ox*sw - pad_left + kx*dw, c] - in_zp)),  o = c*M + m
//
// with taps outside the image contributing nothing.
//
//   auto packed = kernels::pack_depthwise_int8(spec);     // once (prepare)
//   kernels::depthwise_int8(packed, input, output);       // every eval
//
// How it computes.  Output channels sit in SIMD lanes (8 int32 lanes on
// AVX2, 16 on AVX-512BW) and VPMADDWD adds two taps per lane exactly: each
// 32-bit lane holds an int16 pair (x[tap 2j], x[tap 2j+1]) and meets the
// weight pair (w[2j], w[2j+1]).  To make those pairs plain loads, every input
// row is converted once (per image) into a "pair row":
//
//   pair_row[xi][o] = (in[x][o / M] - in_zp, in[x + dw][o / M] - in_zp),  x = xi - pad_left
//
// in int16, output channels padded to whole vectors, with 0 wherever x or
// x + dw lies outside the image.  Horizontally adjacent taps kx = 2j, 2j+1 of
// output pixel ox then are the pair at xi = ox*sw + 2j*dw, so a KH x KW filter
// costs KH * ceil(KW / 2) VPMADDWD per vector of output channels, and rows
// outside the image are a row of zeros.  Because padding enters as
// (in_zp - in_zp) = 0, border pixels take exactly the reference's sum: no
// special border code and no zero-point correction of the bias.  Products
// |w| * |x - zp| <= 128 * 255, so a pair never leaves int32; sums wrap modulo
// 2^32 like the reference's.
//
// Only the pair rows of one dilated filter height are alive at once (a ring
// buffer), so the working set is a few rows, not the image; only the pairs the
// kernel reads are converted (every other one for stride 2).  The loops: for
// each output row, groups of up to 4 output pixels, for each vector of
// channels, KH x ceil(KW/2) VPMADDWD.
// The epilogue requantizes on the accumulator registers with the stage of
// kernels/register_requantize.hpp (TFLite's double rounding, per-lane
// constants prepared by the packing, in any x86-64 build).  Single rounding,
// and the INT32_MIN multiplier whose product saturates, take qtl's array
// requantize stage on a row of spilled accumulators instead: the same bytes.
//
// On AVX-512 VNNI, VPDPBUSD adds four u8 x s8 products per lane, so rows
// become "quad rows" of bytes instead:
//
//   quad_row[xi][o] = (x(xi) + 128, x(xi + dw) + 128, x(xi + 2dw) + 128, x(xi + 3dw) + 128)
//
// with in_zp + 128 outside the image: a 3x3 filter costs 3 VPDPBUSD per
// vector.  The +128 and in_zp leave (in_zp + 128) * sum(w) in every sum,
// which the packing takes out of the bias once (quad_bias).  For 3x3
// filters of vertical stride 1 or 2 this kernel computes 4 output rows a
// pass (rows_per_pass), so each quad row it reads is loaded once for every
// output row it is a tap of (1.3x at stride 1 on AMD Zen 5).  Horizontal
// quads convert each input byte 4 times (twice at stride 2); for 3x3 filters
// of strides 1 or 2 a quad holds a 2x2 block of input pixels instead ("block
// quads"), every byte converted once, and a 3x3 filter costs 4 VPDPBUSD per
// vector with weights for each phase of the output pixel in its blocks
// (depthwise_int8_packed::block_quads; 1.03-1.21x at stride 1 and 1.16-1.35x
// at stride 2 on Zen 5).
//
// AVX-VNNI (VEX VPDPBUSD on ymm: Alder Lake and later Intel cores, Zen 5)
// runs the same quad rows 8 channels a vector (kernels/detail/
// depthwise_quad_rows.inl holds the loops both compile), at most 2 rows a
// pass and no block quads: 1.3-1.7x the AVX2 kernel and 1.2-1.3x the
// AVX-512BW one on Zen 5.
//
// Kernels: AVX-512 VNNI, AVX-VNNI, AVX-512BW, AVX2 (compiled in GCC/clang
// target regions, picked at run time by CPUID like kernels/gemm_int8.hpp, in
// that order) and a portable one.  The portable code takes its vector width and layout from
// the packing, so it also replays the AVX-512 layouts, tiles and tails on
// machines without AVX-512 (depthwise_int8_emulated).

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "qtl/core/error.hpp"
#include "qtl/core/extern_executors.hpp"
#include "qtl/detail/target_region.hpp"
#include "qtl/fixedpoint/quantize_multiplier.hpp"
#include "qtl/fixedpoint/requantize.hpp"
#include "qtl/fixedpoint/requantize_batch.hpp"
#include "qtl/fixedpoint/rounding_policy.hpp"
#include "qtl/kernels/cpu_features.hpp"
#include "qtl/kernels/gemm_int8_packing.hpp"  // aligned_allocator
#include "qtl/kernels/register_requantize.hpp"

#if QTL_KERNELS_X86_TARGETS
#include <immintrin.h>
#define QTL_DEPTHWISE_INT8_AVX2 1
#define QTL_DEPTHWISE_INT8_AVX_VNNI 1
#define QTL_DEPTHWISE_INT8_AVX512BW 1
#else
#define QTL_DEPTHWISE_INT8_AVX2 0
#define QTL_DEPTHWISE_INT8_AVX_VNNI 0
#define QTL_DEPTHWISE_INT8_AVX512BW 0
#endif

// The AVX-512BW pair-row kernel runs on CPUs with AVX-512BW but no VNNI
// (on AMD Zen 5, 152 against the AVX2 kernel's 172 us on 3x3 56x56x128);
// -DQTL_DEPTHWISE_INT8_USE_AVX512BW=0 keeps such CPUs on AVX2 (e.g. where
// 512-bit code lowers the clock).
#ifndef QTL_DEPTHWISE_INT8_USE_AVX512BW
#define QTL_DEPTHWISE_INT8_USE_AVX512BW 1
#endif

// The epilogue is inlined into the pixel loop: as a call, the ABI (every
// vector register caller-saved) makes the compiler spill the accumulators.
#if defined(__GNUC__) || defined(__clang__)
#define QTL_DETAIL_DEPTHWISE_INLINE __attribute__((always_inline)) inline
#else
#define QTL_DETAIL_DEPTHWISE_INLINE inline
#endif


namespace qtl::kernels {

enum class depthwise_int8_isa { scalar, avx2, avx_vnni, avx512bw, avx512_vnni };

inline constexpr depthwise_int8_isa all_depthwise_int8_isas[] = {
    depthwise_int8_isa::scalar, depthwise_int8_isa::avx2, depthwise_int8_isa::avx_vnni, depthwise_int8_isa::avx512bw,
    depthwise_int8_isa::avx512_vnni};

constexpr std::string_view to_string(depthwise_int8_isa isa) noexcept {
    switch (isa) {
        case depthwise_int8_isa::scalar: return "scalar";
        case depthwise_int8_isa::avx2: return "avx2";
        case depthwise_int8_isa::avx_vnni: return "avx_vnni";
        case depthwise_int8_isa::avx512bw: return "avx512bw";
        case depthwise_int8_isa::avx512_vnni: return "avx512_vnni";
    }
    return "unknown";
}

// Output channels per vector (int32 lanes) of each kernel; the packing pads
// channels to a multiple of it.  The portable kernel uses AVX2's width.
constexpr std::size_t depthwise_int8_lanes(depthwise_int8_isa isa) noexcept {
    return isa == depthwise_int8_isa::avx512bw || isa == depthwise_int8_isa::avx512_vnni ? 16 : 8;
}

// The kernel reads four taps per lane as unsigned bytes (quad rows, VPDPBUSD)
// rather than two as int16 (pair rows, VPMADDWD).
constexpr bool depthwise_int8_uses_quads(depthwise_int8_isa isa) noexcept {
    return isa == depthwise_int8_isa::avx512_vnni || isa == depthwise_int8_isa::avx_vnni;
}

// What DEPTHWISE_CONV_2D hands to the kernel, in integers (NHWC).
struct depthwise_int8_spec {
    std::int32_t batches = 1, height = 0, width = 0, channels = 0;  // input [N, H, W, C]
    std::int32_t depth_multiplier = 1;                               // M: output channels C * M
    std::int32_t kernel_height = 0, kernel_width = 0;
    std::int32_t stride_height = 1, stride_width = 1;
    std::int32_t dilation_height = 1, dilation_width = 1;
    std::int32_t pad_top = 0, pad_left = 0;            // padding before (after is implied by the output size)
    std::int32_t output_height = 0, output_width = 0;  // output [N, OH, OW, C * M]
    std::span<const std::int8_t> weights;               // [KH][KW][C * M] (TFLite's [1, KH, KW, C*M])
    std::span<const std::int32_t> bias;                 // C * M values, or empty for none
    std::int32_t input_zero_point = 0;                  // in [-128, 127]
    std::span<const quantized_multiplier> multipliers;  // 1 (per-tensor) or C * M (per-channel)
    requantize_params output;                           // int8 zero point and clamp range
};

// Weights in the kernel's layout and the epilogue constants.
struct depthwise_int8_packed {
    depthwise_int8_isa isa = depthwise_int8_isa::scalar;
    std::size_t lanes = 8;  // depthwise_int8_lanes(isa)
    std::int32_t batches = 0, height = 0, width = 0, channels = 0, depth_multiplier = 1;
    std::int32_t kernel_height = 0, kernel_width = 0;
    std::int32_t stride_height = 1, stride_width = 1, dilation_height = 1, dilation_width = 1;
    std::int32_t pad_top = 0, pad_left = 0, output_height = 0, output_width = 0;
    std::int32_t input_zero_point = 0;
    std::size_t out_channels = 0;       // C * M
    std::size_t channels_padded = 0;    // out_channels rounded up to lanes
    std::size_t kernel_pairs = 0;       // ceil(KW / 2): VPMADDWD per filter row
    std::size_t pair_row_pixels = 0;    // pairs per pair row: (OW - 1) * sw + 2 * (pairs - 1) * dw + 1
    std::size_t pair_row_step = 1;      // gcd(sw, 2 dw): the kernels read only pairs at multiples of it
    // [tile][ky][pair][lane][2] int16: the weights (w[ky][2 pair][o], w[ky][2 pair + 1][o]) of
    // output channel o = tile * lanes + lane, zero past KW and in the channel padding.
    std::vector<std::int16_t, aligned_allocator<std::int16_t>> weights;
    std::vector<std::int32_t> bias;  // channels_padded values (0 in the padding); pair-row kernels only
    bool per_channel = false;
    quantized_multiplier multiplier;                // per-tensor
    std::vector<std::int32_t> multipliers, shifts;  // per-channel, channels_padded values (0 in the padding)
    requantize_params output;

    // The in-register epilogue's per-lane constants (channels_padded values),
    // for double rounding.
    register_requantize_constants lane_requantize;

    // Quad-row kernels (depthwise_int8_uses_quads) instead of `weights`, `bias`,
    // `kernel_pairs` and the pair rows: four horizontal taps per lane.
    bool quads = false;
    std::size_t kernel_quads = 0;     // ceil(KW / 4): VPDPBUSD per filter row
    std::size_t quad_row_pixels = 0;  // quads per quad row: (OW - 1) * sw + 4 * (quads - 1) * dw + 1
    std::size_t quad_row_step = 1;    // gcd(sw, 4 dw): the kernel reads only quads at multiples of it
    // [tile][ky][quad][lane][4]: w[ky][4 quad + i][o] at i, zero past KW and in the channel padding.
    std::vector<std::int8_t, aligned_allocator<std::int8_t>> quad_weights;
    // bias - (in_zp + 128) * (sum of the channel's weights), wrapped to int32:
    // the quads hold x + 128 and out-of-image taps in_zp + 128, so every tap
    // adds w * (x - in_zp) plus this constant's share.
    std::vector<std::int32_t> quad_bias;
    // 3x3 filters of strides 1 or 2 (no dilation, the in-register epilogue)
    // on the AVX-512 VNNI kernel take "block quads" instead: a quad holds a
    // 2x2 block of input pixels, so each input byte is converted once where
    // horizontal quads convert it 4 times (twice at stride 2):
    //   block_row[k][b][o] = (x(2k, 2b), x(2k, 2b + 1), x(2k + 1, 2b), x(2k + 1, 2b + 1)) + 128
    // with x(yi, xi) = in[yi - pad_top][xi - pad_left][o / M], in_zp outside
    // the image.  Output (oy, ox) reads block rows (oy sh) / 2 + by and block
    // columns (ox sw) / 2 + bx, by, bx in {0, 1}: 4 VPDPBUSD (9 of their 16
    // taps are the filter's).  Where oy sh is odd (the row's phase py = 1)
    // the filter starts one row into the block, so the weights depend on the
    // phases (py, px) of the output pixel: quad_weights is
    // [tile][py][px][2 by + bx][lane][2 dy + dx] holding w[ky][kx][o] for
    // ky = 2 by + dy - py, kx = 2 bx + dx - px, zero outside the filter
    // (phases 0 and 1 at stride 1, only 0 at stride 2); quad_row_pixels =
    // (OW - 1) sw / 2 + 2 block columns, step 1.
    bool block_quads = false;
    std::size_t block_phases_y() const noexcept { return stride_height == 1 ? 2 : 1; }
    std::size_t block_phases_x() const noexcept { return stride_width == 1 ? 2 : 1; }
    // Block rows a pass of rows_per_pass output rows from an even oy * sh reads.
    std::size_t block_rows_per_pass() const noexcept {
        return std::size_t((rows_per_pass - 1) * stride_height) / 2 + 2;
    }

    std::size_t tiles() const noexcept { return channels_padded / lanes; }
    // Bytes of one quad row: quad_row_pixels x channels_padded quads.
    std::size_t quad_row_bytes() const noexcept { return quad_row_pixels * channels_padded * 4; }
    // The byte of x + 128 where x = in_zp: what taps outside the image hold in a quad row.
    std::uint8_t quad_padding() const noexcept { return static_cast<std::uint8_t>(input_zero_point + 128); }
    std::size_t taps_per_tile() const noexcept { return std::size_t(kernel_height) * kernel_pairs; }
    // int16 elements of one pair row: pixels x channels_padded pairs.
    std::size_t pair_row_elements() const noexcept { return pair_row_pixels * channels_padded * 2; }
    // Output rows a pass: the AVX-512 VNNI kernel computes several (3x3
    // filters of vertical stride 1 or 2 and dilation 1, with the in-register
    // epilogue), loading each quad row they read once for all of them.
    std::int32_t rows_per_pass = 1;
    // Converted rows alive at once: the rows one pass reads (block rows: one more than the output rows).
    std::size_t ring_rows() const noexcept {
        if (block_quads) return block_rows_per_pass();
        return std::size_t(kernel_height - 1) * std::size_t(dilation_height) +
               std::size_t(rows_per_pass - 1) * std::size_t(stride_height) + 1;
    }
};

namespace detail::depthwise {

// The AVX-512 VNNI kernel's output rows a pass: 4 rows x 4 pixels are 16
// accumulators; 6 or 8 rows spill them (measured on AMD Zen 5: 3x3
// 56x56x128 takes 89, 73, 70, 67 us at 1-4 rows, 250 at 6).
inline constexpr std::int32_t max_rows_per_pass = 4;
// The AVX-VNNI kernel's (16 ymm registers): 2 rows x 4 pixels, 3 weight
// vectors and the input (on Zen 5: 3x3 56x56x128 112-117 us at 1 row,
// 101-102 at 2, 98-102 at 3, which leaves no register free).
inline constexpr std::int32_t max_rows_per_pass_ymm = 2;
// Block quads: 4 rows a pass as well, also at stride 1 where the weights of
// both phases are 16 vectors (2 rows a pass ran 1.0-1.2x slower there on
// Zen 5); even, so every pass starts at phase 0.
inline constexpr std::int32_t max_block_rows_per_pass = 4;
static_assert(max_block_rows_per_pass % 2 == 0);

inline void validate(const depthwise_int8_spec& s) {
    const char* where = "depthwise_int8";
    check(s.batches >= 1 && s.height >= 1 && s.width >= 1 && s.channels >= 1, where,
          "input dimensions must be >= 1, got [", s.batches, ", ", s.height, ", ", s.width, ", ", s.channels, "]");
    check(s.depth_multiplier >= 1, where, "depth multiplier must be >= 1, got ", s.depth_multiplier);
    check(s.kernel_height >= 1 && s.kernel_width >= 1, where, "filter size must be >= 1, got ", s.kernel_height,
          " x ", s.kernel_width);
    check(s.stride_height >= 1 && s.stride_width >= 1, where, "strides must be >= 1, got ", s.stride_height, ", ",
          s.stride_width);
    check(s.dilation_height >= 1 && s.dilation_width >= 1, where, "dilations must be >= 1, got ", s.dilation_height,
          ", ", s.dilation_width);
    check(s.pad_top >= 0 && s.pad_left >= 0, where, "padding must be >= 0, got top ", s.pad_top, ", left ",
          s.pad_left);
    check(s.output_height >= 1 && s.output_width >= 1, where, "output size must be >= 1, got ", s.output_height,
          " x ", s.output_width);
    // Everything below is computed in 64 bits, then checked against int32 ranges the loops use.
    const std::int64_t out_channels = std::int64_t{s.channels} * s.depth_multiplier;
    check(out_channels <= INT32_MAX / 2, where, "too many output channels: ", out_channels);
    const std::int64_t last_x =
        std::int64_t{s.output_width - 1} * s.stride_width + std::int64_t{s.kernel_width} * s.dilation_width;
    const std::int64_t last_y =
        std::int64_t{s.output_height - 1} * s.stride_height + std::int64_t{s.kernel_height} * s.dilation_height;
    check(last_x < INT32_MAX / 2 && last_y < INT32_MAX / 2, where, "output size, stride and dilation too large");
    const std::int64_t taps = std::int64_t{s.kernel_height} * s.kernel_width;
    check(s.weights.size() == static_cast<std::size_t>(taps * out_channels), where, "weights must hold KH * KW * C * M = ",
          taps * out_channels, " values, got ", s.weights.size());
    check(s.bias.empty() || s.bias.size() == static_cast<std::size_t>(out_channels), where,
          "bias must be empty or hold C * M = ", out_channels, " values, got ", s.bias.size());
    check(s.input_zero_point >= -128 && s.input_zero_point <= 127, where,
          "input zero point must be in [-128, 127], got ", s.input_zero_point);
    check(s.multipliers.size() == 1 || s.multipliers.size() == static_cast<std::size_t>(out_channels), where,
          "multipliers must hold 1 (per-tensor) or C * M = ", out_channels, " (per-channel) values, got ",
          s.multipliers.size());
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

// The pair-row kernels' weights and bias of p (geometry already set) from s.
inline void pack_pairs(const depthwise_int8_spec& s, depthwise_int8_packed& p) {
    const std::size_t oc = p.out_channels, lanes = p.lanes;
    const std::size_t kh = std::size_t(s.kernel_height), kw = std::size_t(s.kernel_width);
    p.weights.assign(p.tiles() * p.taps_per_tile() * lanes * 2, 0);
    for (std::size_t o = 0; o < oc; ++o) {
        const std::size_t tile = o / lanes, lane = o % lanes;
        for (std::size_t ky = 0; ky < kh; ++ky)
            for (std::size_t kx = 0; kx < kw; ++kx)
                p.weights[(((tile * kh + ky) * p.kernel_pairs + kx / 2) * lanes + lane) * 2 + kx % 2] =
                    s.weights[(ky * kw + kx) * oc + o];
    }
    p.bias.assign(p.channels_padded, 0);
    if (!s.bias.empty()) std::copy(s.bias.begin(), s.bias.end(), p.bias.begin());
}

// bias[o] - (in_zp + 128) * weight_sum modulo 2^32, like the reference's int32 sums.
inline std::int32_t quad_bias(const depthwise_int8_spec& s, std::size_t o, std::int64_t weight_sum) {
    const std::int64_t bias = s.bias.empty() ? 0 : s.bias[o];
    return static_cast<std::int32_t>(
        static_cast<std::uint32_t>(bias - (std::int64_t{s.input_zero_point} + 128) * weight_sum));
}

// The quad-row kernels' weights and bias (quad_bias) and quad-row geometry of
// p (the rest of the geometry already set) from s.
inline void pack_quads(const depthwise_int8_spec& s, depthwise_int8_packed& p) {
    const std::size_t oc = p.out_channels, lanes = p.lanes;
    const std::size_t kh = std::size_t(s.kernel_height), kw = std::size_t(s.kernel_width);
    p.kernel_quads = (kw + 3) / 4;
    // The last quad read starts at xi = (OW - 1) * sw + 4 * (quads - 1) * dw.
    p.quad_row_pixels = std::size_t(s.output_width - 1) * std::size_t(s.stride_width) +
                        4 * (p.kernel_quads - 1) * std::size_t(s.dilation_width) + 1;
    p.quad_row_step = std::gcd(std::size_t(s.stride_width), 4 * std::size_t(s.dilation_width));
    p.quad_weights.assign(p.tiles() * kh * p.kernel_quads * lanes * 4, 0);
    p.quad_bias.assign(p.channels_padded, 0);
    for (std::size_t o = 0; o < oc; ++o) {
        const std::size_t tile = o / lanes, lane = o % lanes;
        std::int64_t weight_sum = 0;
        for (std::size_t ky = 0; ky < kh; ++ky)
            for (std::size_t kx = 0; kx < kw; ++kx) {
                const std::int8_t w = s.weights[(ky * kw + kx) * oc + o];
                p.quad_weights[(((tile * kh + ky) * p.kernel_quads + kx / 4) * lanes + lane) * 4 + kx % 4] = w;
                weight_sum += w;
            }
        p.quad_bias[o] = quad_bias(s, o, weight_sum);
    }
}

// Block quads (depthwise_int8_packed::block_quads) for a 3x3 filter of
// strides 1 or 2 (the strides already in p).
inline void pack_block_quads(const depthwise_int8_spec& s, depthwise_int8_packed& p) {
    const std::size_t oc = p.out_channels, lanes = p.lanes;
    const std::size_t phases_y = p.block_phases_y(), phases_x = p.block_phases_x();
    p.kernel_quads = 1;
    p.quad_row_pixels = std::size_t(s.output_width - 1) * std::size_t(s.stride_width) / 2 + 2;
    p.quad_row_step = 1;
    p.quad_weights.assign(p.tiles() * phases_y * phases_x * 4 * lanes * 4, 0);
    p.quad_bias.assign(p.channels_padded, 0);
    for (std::size_t o = 0; o < oc; ++o) {
        const std::size_t tile = o / lanes, lane = o % lanes;
        for (std::size_t py = 0; py < phases_y; ++py)
            for (std::size_t px = 0; px < phases_x; ++px)
                for (std::size_t block = 0; block < 4; ++block)
                    for (std::size_t slot = 0; slot < 4; ++slot) {
                        // ky = 2 by + dy - py, kx = 2 bx + dx - px
                        const std::size_t y = 2 * (block / 2) + slot / 2, x = 2 * (block % 2) + slot % 2;
                        if (y < py || x < px || y - py >= 3 || x - px >= 3) continue;
                        p.quad_weights[((((tile * phases_y + py) * phases_x + px) * 4 + block) * lanes + lane) * 4 +
                                       slot] = s.weights[((y - py) * 3 + (x - px)) * oc + o];
                    }
        std::int64_t weight_sum = 0;
        for (std::size_t t = 0; t < 9; ++t) weight_sum += s.weights[t * oc + o];
        p.quad_bias[o] = quad_bias(s, o, weight_sum);
    }
}

}  // namespace detail::depthwise

// Validates the spec (qtl::error naming "depthwise_int8" and what is wrong)
// and packs it for `isa`'s kernel.  Any isa can be packed on any machine.
inline depthwise_int8_packed pack_depthwise_int8(const depthwise_int8_spec& s, depthwise_int8_isa isa) {
    detail::depthwise::validate(s);
    depthwise_int8_packed p;
    p.isa = isa;
    p.lanes = depthwise_int8_lanes(isa);
    p.batches = s.batches;
    p.height = s.height;
    p.width = s.width;
    p.channels = s.channels;
    p.depth_multiplier = s.depth_multiplier;
    p.kernel_height = s.kernel_height;
    p.kernel_width = s.kernel_width;
    p.stride_height = s.stride_height;
    p.stride_width = s.stride_width;
    p.dilation_height = s.dilation_height;
    p.dilation_width = s.dilation_width;
    p.pad_top = s.pad_top;
    p.pad_left = s.pad_left;
    p.output_height = s.output_height;
    p.output_width = s.output_width;
    p.input_zero_point = s.input_zero_point;
    p.output = s.output;

    const std::size_t oc = std::size_t(s.channels) * std::size_t(s.depth_multiplier);
    const std::size_t lanes = p.lanes, kw = std::size_t(s.kernel_width);
    p.out_channels = oc;
    p.channels_padded = (oc + lanes - 1) / lanes * lanes;
    p.kernel_pairs = (kw + 1) / 2;
    // The last pair read starts at xi = (OW - 1) * sw + 2 * (pairs - 1) * dw.
    p.pair_row_pixels = std::size_t(s.output_width - 1) * std::size_t(s.stride_width) +
                        2 * (p.kernel_pairs - 1) * std::size_t(s.dilation_width) + 1;
    // xi = ox * sw + 2 j dw: with stride 2 and no dilation only every other pair is read (and converted).
    p.pair_row_step = std::gcd(std::size_t(s.stride_width), 2 * std::size_t(s.dilation_width));

    p.quads = depthwise_int8_uses_quads(isa);
    p.per_channel = s.multipliers.size() > 1;
    p.multiplier = s.multipliers[0];
    if (p.per_channel) {
        p.multipliers.assign(p.channels_padded, 0);
        p.shifts.assign(p.channels_padded, 0);
        for (std::size_t o = 0; o < oc; ++o) {
            p.multipliers[o] = s.multipliers[o].multiplier;
            p.shifts[o] = s.multipliers[o].shift;
        }
    }
    // |accumulator + bias| stays within this: KH x KW products an output
    // (what the VNNI kernels' one_rounding_offset epilogue needs below 2^30).
    std::int64_t max_abs_bias = 0;
    for (const std::int32_t b : s.bias) max_abs_bias = std::max(max_abs_bias, std::abs(std::int64_t{b}));
    p.lane_requantize = make_register_requantize_constants(
        s.multipliers, oc, p.channels_padded, s.output.output_zero_point,
        accumulator_bound(max_abs_bias, std::size_t(s.kernel_height) * std::size_t(s.kernel_width)));
    // Several rows a pass and block quads need the in-register epilogue.
    const bool vnni_3x3 = p.quads && s.kernel_height == 3 && s.kernel_width <= 4 && s.dilation_height == 1 &&
                          p.lane_requantize.usable;
    p.block_quads = vnni_3x3 && isa == depthwise_int8_isa::avx512_vnni && s.kernel_width == 3 &&
                    s.stride_height <= 2 && s.stride_width <= 2 && s.dilation_width == 1;
    if (p.block_quads)
        detail::depthwise::pack_block_quads(s, p);
    else if (p.quads)
        detail::depthwise::pack_quads(s, p);
    else
        detail::depthwise::pack_pairs(s, p);
    if (vnni_3x3 && s.stride_height <= 2)
        p.rows_per_pass = std::min(p.block_quads                           ? detail::depthwise::max_block_rows_per_pass
                                   : isa == depthwise_int8_isa::avx_vnni ? detail::depthwise::max_rows_per_pass_ymm
                                                                         : detail::depthwise::max_rows_per_pass,
                                   s.output_height);
    return p;
}

namespace detail::depthwise {

// Per-thread buffers of one call, grown on demand and reused.
struct scratch {
    std::vector<std::int16_t, aligned_allocator<std::int16_t>> rows;  // ring_rows() pair rows, then one of zeros
    std::vector<std::int32_t> spill;                                  // one output row of accumulators
    std::vector<std::int8_t> zero_point_pixel;                        // C values equal to the input zero point
    std::vector<std::int32_t> ring_tags;                              // input row held by each ring slot
    std::vector<const std::int16_t*> tap_rows;                        // pair row of each filter row
    // The quad-row kernels' ring and the row of padding bytes after it, and their tap rows.
    std::vector<std::uint8_t, aligned_allocator<std::uint8_t>> quad_rows;
    std::vector<const std::uint8_t*> quad_tap_rows;
};

inline scratch& thread_scratch() {
    thread_local scratch s;
    return s;
}

// Pair row of input row `row` (W x C values), portable: any depth multiplier.
inline void convert_row_portable(const depthwise_int8_packed& p, const std::int8_t* row, std::int16_t* dst) noexcept {
    const std::size_t channels = std::size_t(p.channels), m_count = std::size_t(p.depth_multiplier);
    const std::size_t padded = p.channels_padded;
    const std::int32_t zp = p.input_zero_point;
    for (std::size_t xi = 0; xi < p.pair_row_pixels; xi += p.pair_row_step) {
        const std::int64_t x0 = std::int64_t(xi) - p.pad_left, x1 = x0 + p.dilation_width;
        const bool in0 = x0 >= 0 && x0 < p.width, in1 = x1 >= 0 && x1 < p.width;
        std::int16_t* d = dst + xi * padded * 2;
        for (std::size_t c = 0; c < channels; ++c) {
            const auto v0 = static_cast<std::int16_t>(in0 ? row[std::size_t(x0) * channels + c] - zp : 0);
            const auto v1 = static_cast<std::int16_t>(in1 ? row[std::size_t(x1) * channels + c] - zp : 0);
            for (std::size_t m = 0; m < m_count; ++m) {
                d[(c * m_count + m) * 2] = v0;
                d[(c * m_count + m) * 2 + 1] = v1;
            }
        }
    }
}

// Drives one image: keeps the converted rows (pair or quad rows, `row_elems`
// elements of T each) of the filter's rows alive in the ring `rows` (ring_rows()
// of them, then the row standing for rows outside the image), and calls
// row_fn(tap_rows, oy) for each output row, where tap_rows[ky] is the row of
// input row oy*sh - pad_top + ky*dh.  ConvertFn(row pointer, dst) fills one.
template <class T, class ConvertFn, class RowFn>
void for_each_output_row(const depthwise_int8_packed& p, const std::int8_t* image, T* rows, std::size_t row_elems,
                         std::vector<std::int32_t>& ring_tags, std::vector<const T*>& tap_rows, ConvertFn convert,
                         RowFn row_fn) {
    const std::size_t ring = p.ring_rows();
    const std::size_t row_bytes = std::size_t(p.width) * std::size_t(p.channels);
    const T* outside_row = rows + ring * row_elems;
    std::fill(ring_tags.begin(), ring_tags.end(), -1);
    for (std::int32_t oy = 0; oy < p.output_height; ++oy) {
        const std::int32_t y0 = oy * p.stride_height - p.pad_top;
        for (std::int32_t ky = 0; ky < p.kernel_height; ++ky) {
            const std::int32_t y = y0 + ky * p.dilation_height;
            if (y < 0 || y >= p.height) {
                tap_rows[std::size_t(ky)] = outside_row;
                continue;
            }
            const std::size_t slot = std::size_t(y) % ring;  // the rows of one output row never share a slot
            T* dst = rows + slot * row_elems;
            if (ring_tags[slot] != y) {
                convert(image + std::size_t(y) * row_bytes, dst);
                ring_tags[slot] = y;
            }
            tap_rows[std::size_t(ky)] = dst;
        }
        row_fn(tap_rows.data(), oy);
    }
}

// for_each_output_row p.rows_per_pass (R) output rows a pass, for filters
// of vertical dilation 1: tap_rows[i] is the row of input row
// oy * sh - pad_top + i for i in [0, (R - 1) * sh + KH), so output row
// oy + r reads tap_rows[r * sh, r * sh + KH), and rows_fn(tap_rows, oy,
// count) gets count R, fewer for the last pass.  The ring holds
// (R - 1) * sh + KH rows: all a pass reads.
template <class T, class ConvertFn, class RowsFn>
void for_each_output_row_block(const depthwise_int8_packed& p, const std::int8_t* image, T* rows,
                               std::size_t row_elems, std::vector<std::int32_t>& ring_tags,
                               std::vector<const T*>& tap_rows, ConvertFn convert, RowsFn rows_fn) {
    const std::size_t ring = p.ring_rows();
    const std::size_t row_bytes = std::size_t(p.width) * std::size_t(p.channels);
    const T* outside_row = rows + ring * row_elems;
    std::fill(ring_tags.begin(), ring_tags.end(), -1);
    for (std::int32_t oy = 0; oy < p.output_height; oy += p.rows_per_pass) {
        const std::int32_t count = std::min(p.rows_per_pass, p.output_height - oy);
        for (std::int32_t i = 0; i < (count - 1) * p.stride_height + p.kernel_height; ++i) {
            const std::int32_t y = oy * p.stride_height - p.pad_top + i;
            if (y < 0 || y >= p.height) {
                tap_rows[std::size_t(i)] = outside_row;
                continue;
            }
            const std::size_t slot = std::size_t(y) % ring;  // at most `ring` consecutive rows
            T* dst = rows + slot * row_elems;
            if (ring_tags[slot] != y) {
                convert(image + std::size_t(y) * row_bytes, dst);
                ring_tags[slot] = y;
            }
            tap_rows[std::size_t(i)] = dst;
        }
        rows_fn(tap_rows.data(), oy, count);
    }
}

// The block-quad form (depthwise_int8_packed::block_quads), `rows_per_pass`
// (R, at most p.rows_per_pass) output rows a pass: block row k holds input
// rows 2k - pad_top and 2k + 1 - pad_top, output row oy reads block rows
// (oy sh) / 2 and the one after, so tap_rows[i] is block row (oy sh) / 2 + i
// for the rows a pass reads, and rows_fn(tap_rows, oy, count) gets count R,
// fewer for the last pass.
// convert(top, bottom, dst) fills one block row from its two input rows
// (nullptr for a row outside the image).
template <class ConvertFn, class RowsFn>
void for_each_output_block_row_pass(const depthwise_int8_packed& p, const std::int8_t* image,
                                    std::int32_t rows_per_pass, scratch& s, ConvertFn convert, RowsFn rows_fn) {
    const std::size_t ring = p.ring_rows(), row_bytes = p.quad_row_bytes();
    const std::size_t input_row = std::size_t(p.width) * std::size_t(p.channels);
    std::uint8_t* rows = s.quad_rows.data();
    const std::uint8_t* outside_row = rows + ring * row_bytes;
    const auto input = [&](std::int32_t y) { return y >= 0 && y < p.height ? image + std::size_t(y) * input_row : nullptr; };
    std::fill(s.ring_tags.begin(), s.ring_tags.end(), -1);
    for (std::int32_t oy = 0; oy < p.output_height; oy += rows_per_pass) {
        const std::int32_t count = std::min(rows_per_pass, p.output_height - oy);
        const std::int32_t first = oy * p.stride_height / 2, last = (oy + count - 1) * p.stride_height / 2 + 1;
        for (std::int32_t i = 0; i <= last - first; ++i) {
            const std::int32_t k = first + i, y = 2 * k - p.pad_top;
            const std::int8_t *top = input(y), *bottom = input(y + 1);
            if (top == nullptr && bottom == nullptr) {
                s.quad_tap_rows[std::size_t(i)] = outside_row;
                continue;
            }
            const std::size_t slot = std::size_t(k) % ring;  // at most `ring` consecutive block rows
            std::uint8_t* dst = rows + slot * row_bytes;
            if (s.ring_tags[slot] != k) {
                convert(top, bottom, dst);
                s.ring_tags[slot] = k;
            }
            s.quad_tap_rows[std::size_t(i)] = dst;
        }
        rows_fn(s.quad_tap_rows.data(), oy, count);
    }
}

// The pair-row and quad-row forms.
template <class ConvertFn, class RowFn>
void for_each_output_row(const depthwise_int8_packed& p, const std::int8_t* image, scratch& s, ConvertFn convert,
                         RowFn row_fn) {
    for_each_output_row(p, image, s.rows.data(), p.pair_row_elements(), s.ring_tags, s.tap_rows, convert, row_fn);
}
template <class ConvertFn, class RowFn>
void for_each_output_quad_row(const depthwise_int8_packed& p, const std::int8_t* image, scratch& s,
                              ConvertFn convert, RowFn row_fn) {
    for_each_output_row(p, image, s.quad_rows.data(), p.quad_row_bytes(), s.ring_tags, s.quad_tap_rows, convert,
                        row_fn);
}

// An output row of `width` pixels in groups of 4, then one of the 1-3 left:
// group(std::integral_constant<int, Np>{}, ox0), Np a compile-time count for
// the kernels' unrolled accumulators.
template <class GroupFn>
QTL_DETAIL_DEPTHWISE_INLINE void for_each_pixel_group(std::size_t width, const GroupFn& group) {
    std::size_t ox = 0;
    for (; ox + 4 <= width; ox += 4) group(std::integral_constant<int, 4>{}, ox);
    switch (width - ox) {
        case 3: group(std::integral_constant<int, 3>{}, ox); break;
        case 2: group(std::integral_constant<int, 2>{}, ox); break;
        case 1: group(std::integral_constant<int, 1>{}, ox); break;
        default: break;
    }
}

// The in-register form: one_rounding_offset where the packing's bound on
// |accumulator + bias| allows it (the kernels start from bias + 2^30 then; on
// AVX-512, 9 instructions per 16 lanes before the narrow, against 10 for
// one_rounding_doubled and 12 for one_rounding), else the one c and out allow.
template <class F>
void with_lane_form(const register_requantize_constants& c, const requantize_params& out, const F& f) {
    using form = register_requantize_form;
    if (one_rounding_doubled_applies(c, out))
        f(std::integral_constant<form, form::one_rounding_offset>{});
    else
        with_register_requantize_form(c, out, f);
}

// with_lane_form where Doubled, else the forms without one_rounding_doubled:
// the pair kernels' choice (with it, AVX-512BW 3x3 56x56x128 ran 122 -> 139
// us on AMD Zen 5, and AVX2 gained nothing on Zen 1 or Zen 5).
template <bool Doubled, class F>
void with_row_form(const register_requantize_constants& c, const requantize_params& out, const F& f) {
    if constexpr (Doubled)
        with_lane_form(c, out, f);
    else
        with_register_requantize_form(c, out, f);
}


// Requantizes one output row of accumulators (spilled) into int8.
template <class Policy>
void requantize_row(const depthwise_int8_packed& p, const std::int32_t* acc, std::int8_t* out) {
    const std::size_t n = std::size_t(p.output_width) * p.out_channels;
    if (p.per_channel)
        requantize_channels_n<std::int8_t, Policy>(acc, n, p.multipliers.data(), p.shifts.data(), p.out_channels,
                                                   p.output, out);
    else
        requantize_n<std::int8_t, Policy>(acc, n, p.multiplier, p.output, out);
}

// The portable kernel for one output row, vectors of `Lanes` int32 lanes as
// arrays: the same tiles, pixel groups and tails as the SIMD kernels.
template <std::size_t Lanes>
void row_portable(const depthwise_int8_packed& p, const std::int16_t* const* tap_rows, std::int32_t* acc_row) {
    constexpr std::size_t group = 4;
    const std::size_t padded = p.channels_padded, oc = p.out_channels, pairs = p.kernel_pairs;
    const std::size_t kh = std::size_t(p.kernel_height), taps = p.taps_per_tile();
    const std::size_t pixel = padded * 2, step = std::size_t(p.stride_width) * pixel;
    const std::size_t pair_step = 2 * std::size_t(p.dilation_width) * pixel;
    const std::size_t ow = std::size_t(p.output_width);
    for (std::size_t ox0 = 0; ox0 < ow; ox0 += group) {
        const std::size_t np = std::min(group, ow - ox0);
        for (std::size_t t = 0; t < p.tiles(); ++t) {
            const std::int16_t* w = p.weights.data() + t * taps * Lanes * 2;
            std::uint32_t acc[group][Lanes];  // unsigned: int32 sums wrap like SIMD lanes, without UB
            for (std::size_t q = 0; q < np; ++q)
                for (std::size_t l = 0; l < Lanes; ++l) acc[q][l] = static_cast<std::uint32_t>(p.bias[t * Lanes + l]);
            for (std::size_t ky = 0; ky < kh; ++ky) {
                const std::int16_t* r = tap_rows[ky] + ox0 * step + t * Lanes * 2;
                for (std::size_t j = 0; j < pairs; ++j) {
                    const std::int16_t* wv = w + (ky * pairs + j) * Lanes * 2;
                    for (std::size_t q = 0; q < np; ++q) {
                        const std::int16_t* x = r + q * step + j * pair_step;
                        for (std::size_t l = 0; l < Lanes; ++l)  // the VPMADDWD lane formula
                            acc[q][l] += static_cast<std::uint32_t>(std::int32_t{x[2 * l]} * wv[2 * l] +
                                                                    std::int32_t{x[2 * l + 1]} * wv[2 * l + 1]);
                    }
                }
            }
            const std::size_t count = std::min(Lanes, oc - t * Lanes);
            for (std::size_t q = 0; q < np; ++q)
                for (std::size_t l = 0; l < count; ++l)
                    acc_row[(ox0 + q) * oc + t * Lanes + l] = static_cast<std::int32_t>(acc[q][l]);
        }
    }
}

// Quad row of input row `row`, portable: any depth multiplier.
//   quad_row[xi][o] = (x(xi) + 128, x(xi + dw) + 128, x(xi + 2 dw) + 128, x(xi + 3 dw) + 128)
// with x(xi) = in[xi - pad_left][o / M], and in_zp + 128 outside the image.
inline void convert_quad_row_portable(const depthwise_int8_packed& p, const std::int8_t* row,
                                      std::uint8_t* dst) noexcept {
    const std::size_t channels = std::size_t(p.channels), m_count = std::size_t(p.depth_multiplier);
    const std::size_t padded = p.channels_padded;
    for (std::size_t xi = 0; xi < p.quad_row_pixels; xi += p.quad_row_step) {
        std::uint8_t* d = dst + xi * padded * 4;
        for (std::size_t i = 0; i < 4; ++i) {
            const std::int64_t x = std::int64_t(xi) - p.pad_left + std::int64_t(i) * p.dilation_width;
            const bool inside = x >= 0 && x < p.width;
            for (std::size_t c = 0; c < channels; ++c) {
                const std::uint8_t u = inside ? static_cast<std::uint8_t>(row[std::size_t(x) * channels + c] + 128)
                                              : p.quad_padding();
                for (std::size_t m = 0; m < m_count; ++m) d[(c * m_count + m) * 4 + i] = u;
            }
        }
    }
}

// Block row of input rows `top` and `bottom` (nullptr outside the image),
// portable: any depth multiplier (depthwise_int8_packed::block_quads).
inline void convert_block_row_portable(const depthwise_int8_packed& p, const std::int8_t* top,
                                       const std::int8_t* bottom, std::uint8_t* dst) noexcept {
    const std::size_t channels = std::size_t(p.channels), m_count = std::size_t(p.depth_multiplier);
    const std::size_t padded = p.channels_padded;
    for (std::size_t b = 0; b < p.quad_row_pixels; ++b) {
        std::uint8_t* d = dst + b * padded * 4;
        for (std::size_t i = 0; i < 4; ++i) {  // (dy, dx) = (i / 2, i % 2)
            const std::int8_t* row = i < 2 ? top : bottom;
            const std::int64_t x = 2 * std::int64_t(b) - p.pad_left + std::int64_t(i % 2);
            const bool inside = row != nullptr && x >= 0 && x < p.width;
            for (std::size_t c = 0; c < channels; ++c) {
                const std::uint8_t u = inside ? static_cast<std::uint8_t>(row[std::size_t(x) * channels + c] + 128)
                                              : p.quad_padding();
                for (std::size_t m = 0; m < m_count; ++m) d[(c * m_count + m) * 4 + i] = u;
            }
        }
    }
}

// The portable block-quad kernel for output row oy (16 lanes), from block
// rows tap_rows[0] = (oy sh) / 2 and tap_rows[1]: the VPDPBUSD lane formula.
inline void row_portable_block_quads(const depthwise_int8_packed& p, const std::uint8_t* const* tap_rows,
                                     std::int32_t oy, std::int32_t* acc_row) {
    constexpr std::size_t lanes = 16;
    const std::size_t padded = p.channels_padded, oc = p.out_channels;
    const std::size_t phases_y = p.block_phases_y(), phases_x = p.block_phases_x();
    const std::size_t py = std::size_t(oy * p.stride_height) % 2;
    for (std::size_t ox = 0; ox < std::size_t(p.output_width); ++ox)
        for (std::size_t t = 0; t < p.tiles(); ++t) {
            const std::size_t column = ox * std::size_t(p.stride_width) / 2, px = ox * std::size_t(p.stride_width) % 2;
            std::uint32_t acc[lanes];  // unsigned: int32 sums wrap like SIMD lanes, without UB
            for (std::size_t l = 0; l < lanes; ++l) acc[l] = static_cast<std::uint32_t>(p.quad_bias[t * lanes + l]);
            for (std::size_t by = 0; by < 2; ++by)
                for (std::size_t bx = 0; bx < 2; ++bx) {
                    const std::uint8_t* x = tap_rows[by] + ((column + bx) * padded + t * lanes) * 4;
                    const std::int8_t* w =
                        p.quad_weights.data() + ((((t * phases_y + py) * phases_x + px) * 4) + by * 2 + bx) * lanes * 4;
                    for (std::size_t l = 0; l < lanes; ++l)
                        for (std::size_t i = 0; i < 4; ++i)
                            acc[l] += static_cast<std::uint32_t>(std::int32_t{x[4 * l + i]} * w[4 * l + i]);
                }
            for (std::size_t l = 0; l < std::min(lanes, oc - t * lanes); ++l)
                acc_row[ox * oc + t * lanes + l] = static_cast<std::int32_t>(acc[l]);
        }
}

// The portable quad-row kernel for one output row (`Lanes` lanes): the VPDPBUSD lane formula.
template <std::size_t Lanes>
void row_portable_quads(const depthwise_int8_packed& p, const std::uint8_t* const* tap_rows, std::int32_t* acc_row) {
    constexpr std::size_t group = 4, lanes = Lanes;
    const std::size_t padded = p.channels_padded, oc = p.out_channels, quads = p.kernel_quads;
    const std::size_t kh = std::size_t(p.kernel_height);
    const std::size_t pixel = padded * 4, step = std::size_t(p.stride_width) * pixel;
    const std::size_t quad_step = 4 * std::size_t(p.dilation_width) * pixel;
    const std::size_t ow = std::size_t(p.output_width);
    for (std::size_t ox0 = 0; ox0 < ow; ox0 += group) {
        const std::size_t np = std::min(group, ow - ox0);
        for (std::size_t t = 0; t < p.tiles(); ++t) {
            const std::int8_t* w = p.quad_weights.data() + t * kh * quads * lanes * 4;
            std::uint32_t acc[group][lanes];  // unsigned: int32 sums wrap like SIMD lanes, without UB
            for (std::size_t q = 0; q < np; ++q)
                for (std::size_t l = 0; l < lanes; ++l)
                    acc[q][l] = static_cast<std::uint32_t>(p.quad_bias[t * lanes + l]);
            for (std::size_t ky = 0; ky < kh; ++ky) {
                const std::uint8_t* r = tap_rows[ky] + ox0 * step + t * lanes * 4;
                for (std::size_t j = 0; j < quads; ++j) {
                    const std::int8_t* wv = w + (ky * quads + j) * lanes * 4;
                    for (std::size_t q = 0; q < np; ++q) {
                        const std::uint8_t* x = r + q * step + j * quad_step;
                        for (std::size_t l = 0; l < lanes; ++l)
                            for (std::size_t i = 0; i < 4; ++i)
                                acc[q][l] += static_cast<std::uint32_t>(std::int32_t{x[4 * l + i]} * wv[4 * l + i]);
                    }
                }
            }
            const std::size_t count = std::min(lanes, oc - t * lanes);
            for (std::size_t q = 0; q < np; ++q)
                for (std::size_t l = 0; l < count; ++l)
                    acc_row[(ox0 + q) * oc + t * lanes + l] = static_cast<std::int32_t>(acc[q][l]);
        }
    }
}

}  // namespace detail::depthwise
}  // namespace qtl::kernels

// ---------------------------------------------------------------------------
// AVX2 kernel.

#if QTL_DEPTHWISE_INT8_AVX2
QTL_DETAIL_TARGET_BEGIN("avx2")

namespace qtl::kernels::depthwise_avx2 {

// n pairs (a[i] - zp, b[i] - zp) at d[2i], d[2i + 1]: the bytes interleaved
// first, then sign-extended, which keeps them in order (no lane crossing).
inline void convert_pairs(const std::int8_t* a, const std::int8_t* b, std::size_t n, std::int16_t zp,
                          std::int16_t* d) noexcept {
    const __m256i zp16 = _mm256_set1_epi16(zp);
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m128i va = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i));
        const __m128i vb = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i));
        const __m256i lo = _mm256_sub_epi16(_mm256_cvtepi8_epi16(_mm_unpacklo_epi8(va, vb)), zp16);
        const __m256i hi = _mm256_sub_epi16(_mm256_cvtepi8_epi16(_mm_unpackhi_epi8(va, vb)), zp16);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + 2 * i), lo);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + 2 * i + 16), hi);
    }
    if (i + 8 <= n) {
        const __m128i va = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(a + i));
        const __m128i vb = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b + i));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + 2 * i),
                            _mm256_sub_epi16(_mm256_cvtepi8_epi16(_mm_unpacklo_epi8(va, vb)), zp16));
        i += 8;
    }
    for (; i < n; ++i) {
        d[2 * i] = static_cast<std::int16_t>(a[i] - zp);
        d[2 * i + 1] = static_cast<std::int16_t>(b[i] - zp);
    }
}

// Pair row for depth multiplier 1.  Border pixels (x or x + dw outside the
// image) read the zero-point pixel, which converts to 0.  Interior pixels
// go straight from the row, as one contiguous stream when every pair is read
// and the channel count needs no padding.
inline void convert_row_m1(const depthwise_int8_packed& p, const std::int8_t* row, const std::int8_t* zp_pixel,
                           std::int16_t* dst) noexcept {
    const std::size_t channels = std::size_t(p.channels), padded = p.channels_padded;
    const std::size_t step = p.pair_row_step, pixels = p.pair_row_pixels;
    const std::size_t dw = std::size_t(p.dilation_width), pad = std::size_t(p.pad_left);
    const std::int16_t zp = static_cast<std::int16_t>(p.input_zero_point);
    // Both pixels inside for xi in [first, last), first a multiple of step.
    const std::size_t first = std::min((pad + step - 1) / step * step, pixels);
    const std::size_t last = std::clamp<std::size_t>(std::size_t(p.width) >= dw ? std::size_t(p.width) - dw + pad : 0,
                                                     first, pixels);
    const auto border_pixel = [&](std::size_t xi) {
        const std::int64_t x0 = std::int64_t(xi) - p.pad_left, x1 = x0 + p.dilation_width;
        const std::int8_t* a = x0 >= 0 && x0 < p.width ? row + std::size_t(x0) * channels : zp_pixel;
        const std::int8_t* b = x1 >= 0 && x1 < p.width ? row + std::size_t(x1) * channels : zp_pixel;
        convert_pairs(a, b, channels, zp, dst + xi * padded * 2);
    };
    std::size_t xi = 0;
    for (; xi < first; xi += step) border_pixel(xi);
    if (step == 1 && channels == padded) {
        const std::int8_t* a = row + (first - pad) * channels;
        convert_pairs(a, a + dw * channels, (last - first) * channels, zp, dst + first * padded * 2);
        xi = last;
    } else {
        for (; xi < last; xi += step) {
            const std::int8_t* a = row + (xi - pad) * channels;
            convert_pairs(a, a + dw * channels, channels, zp, dst + xi * padded * 2);
        }
    }
    for (; xi < pixels; xi += step) border_pixel(xi);
}

// n quads (a[i], b[i], c[i], d[i]) + 128 at q[4i .. 4i + 3] (the quad-row
// kernels' conversion; AVX-512 VNNI runs its 64-channel steps first).
inline void convert_quads(const std::int8_t* a, const std::int8_t* b, const std::int8_t* c, const std::int8_t* d,
                          std::size_t n, std::uint8_t* q) noexcept {
    std::size_t i = 0;
    const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));  // x + 128 as a byte
    for (; i + 32 <= n; i += 32) {
        const auto load = [&](const std::int8_t* s) {
            return _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + i)), flip);
        };
        const __m256i va = load(a), vb = load(b), vc = load(c), vd = load(d);
        const __m256i ab_lo = _mm256_unpacklo_epi8(va, vb), ab_hi = _mm256_unpackhi_epi8(va, vb);
        const __m256i cd_lo = _mm256_unpacklo_epi8(vc, vd), cd_hi = _mm256_unpackhi_epi8(vc, vd);
        // Per 128-bit half: quads 0-3 | 16-19, 4-7 | 20-23, 8-11 | 24-27, 12-15 | 28-31.
        const __m256i q0 = _mm256_unpacklo_epi16(ab_lo, cd_lo), q1 = _mm256_unpackhi_epi16(ab_lo, cd_lo);
        const __m256i q2 = _mm256_unpacklo_epi16(ab_hi, cd_hi), q3 = _mm256_unpackhi_epi16(ab_hi, cd_hi);
        auto* dst = reinterpret_cast<__m256i*>(q + 4 * i);
        _mm256_storeu_si256(dst, _mm256_permute2x128_si256(q0, q1, 0x20));
        _mm256_storeu_si256(dst + 1, _mm256_permute2x128_si256(q2, q3, 0x20));
        _mm256_storeu_si256(dst + 2, _mm256_permute2x128_si256(q0, q1, 0x31));
        _mm256_storeu_si256(dst + 3, _mm256_permute2x128_si256(q2, q3, 0x31));
    }
    const __m128i flip16 = _mm256_castsi256_si128(flip);
    for (; i + 16 <= n; i += 16) {
        const auto load = [&](const std::int8_t* s) {
            return _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i)), flip16);
        };
        const __m128i va = load(a), vb = load(b), vc = load(c), vd = load(d);
        const __m128i ab_lo = _mm_unpacklo_epi8(va, vb), ab_hi = _mm_unpackhi_epi8(va, vb);
        const __m128i cd_lo = _mm_unpacklo_epi8(vc, vd), cd_hi = _mm_unpackhi_epi8(vc, vd);
        auto* dst = reinterpret_cast<__m128i*>(q + 4 * i);
        _mm_storeu_si128(dst, _mm_unpacklo_epi16(ab_lo, cd_lo));
        _mm_storeu_si128(dst + 1, _mm_unpackhi_epi16(ab_lo, cd_lo));
        _mm_storeu_si128(dst + 2, _mm_unpacklo_epi16(ab_hi, cd_hi));
        _mm_storeu_si128(dst + 3, _mm_unpackhi_epi16(ab_hi, cd_hi));
    }
    for (; i < n; ++i) {
        q[4 * i] = static_cast<std::uint8_t>(a[i] + 128);
        q[4 * i + 1] = static_cast<std::uint8_t>(b[i] + 128);
        q[4 * i + 2] = static_cast<std::uint8_t>(c[i] + 128);
        q[4 * i + 3] = static_cast<std::uint8_t>(d[i] + 128);
    }
}

using register_requantize_avx2::register_stage;
using register_requantize_avx2::store_int8_lanes;

// Epilogues, given the Np accumulators of one vector of channels at Np
// consecutive pixels.  register_epilogue requantizes and stores int8;
// spill_epilogue stores the int32 accumulators in the row buffer.
template <register_requantize_form Form>
struct register_epilogue {
    // What the accumulators must start from on top of the bias.
    static constexpr std::int32_t accumulator_offset = accumulator_offset_of<Form>;
    register_stage<Form> stage;
    std::int8_t* out_row;
    std::size_t out_channels;

    template <int Np>
    QTL_DETAIL_DEPTHWISE_INLINE void store(const __m256i (&acc)[Np], std::size_t ox0, std::size_t col,
                                           std::size_t count) const noexcept {
        std::int8_t* out = out_row + ox0 * out_channels + col;
        if constexpr (Np == 4) {
            if (count == 8) {
                // Four pixels' bytes in one register, dwords p0[0-3] p1[0-3] p2[0-3] p3[0-3] |
                // p0[4-7] p1[4-7] p2[4-7] p3[4-7], put in pixel order.
                const __m256i bytes =
                    _mm256_permutevar8x32_epi32(stage.four_to_bytes(acc[0], acc[1], acc[2], acc[3], col),
                                                _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
                const __m128i p01 = _mm256_castsi256_si128(bytes), p23 = _mm256_extracti128_si256(bytes, 1);
                const long long q1 = _mm_extract_epi64(p01, 1), q3 = _mm_extract_epi64(p23, 1);
                _mm_storel_epi64(reinterpret_cast<__m128i*>(out), p01);
                std::memcpy(out + out_channels, &q1, 8);
                _mm_storel_epi64(reinterpret_cast<__m128i*>(out + 2 * out_channels), p23);
                std::memcpy(out + 3 * out_channels, &q3, 8);
                return;
            }
        }
#pragma GCC unroll 4
        for (int q = 0; q < Np; ++q) store_int8_lanes(stage(acc[q], col), out + std::size_t(q) * out_channels, count);
    }
};

struct spill_epilogue {
    static constexpr std::int32_t accumulator_offset = 0;
    std::int32_t* acc_row;
    std::size_t out_channels;

    template <int Np>
    QTL_DETAIL_DEPTHWISE_INLINE void store(const __m256i (&acc)[Np], std::size_t ox0, std::size_t col,
                                           std::size_t count) const noexcept {
#pragma GCC unroll 4
        for (int q = 0; q < Np; ++q) {
            std::int32_t* dst = acc_row + (ox0 + std::size_t(q)) * out_channels + col;
            if (count == 8) {
                _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), acc[q]);
            } else {
                alignas(32) std::int32_t values[8];
                _mm256_store_si256(reinterpret_cast<__m256i*>(values), acc[q]);
                std::memcpy(dst, values, count * sizeof(std::int32_t));
            }
        }
    }
};

// Np (1..4) output pixels from ox0, every vector of channels.  Kh/Kp > 0: the
// filter height and pairs per row known at compile time (3x3: 3, 2).
template <int Kh, int Kp, int Np, class Epilogue>
void pixel_group(const depthwise_int8_packed& p, const std::int16_t* const* tap_rows, std::size_t ox0,
                 const Epilogue& epilogue) {
    const std::size_t kh = Kh > 0 ? std::size_t(Kh) : std::size_t(p.kernel_height);
    const std::size_t pairs = Kp > 0 ? std::size_t(Kp) : p.kernel_pairs;
    const std::size_t pixel = p.channels_padded * 2, step = std::size_t(p.stride_width) * pixel;
    const std::size_t pair_step = 2 * std::size_t(p.dilation_width) * pixel;
    const std::size_t tiles = p.channels_padded / 8, oc = p.out_channels, tile_weights = kh * pairs * 16;
    for (std::size_t t = 0; t < tiles; ++t) {
        const std::int16_t* w = p.weights.data() + t * tile_weights;
        const __m256i bias = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p.bias.data() + t * 8));
        __m256i acc[Np];
#pragma GCC unroll 4
        for (int q = 0; q < Np; ++q) acc[q] = bias;
#pragma GCC unroll 8
        for (std::size_t ky = 0; ky < kh; ++ky) {
            const std::int16_t* r = tap_rows[ky] + ox0 * step + t * 16;
#pragma GCC unroll 8
            for (std::size_t j = 0; j < pairs; ++j) {
                const __m256i wv = _mm256_load_si256(reinterpret_cast<const __m256i*>(w + (ky * pairs + j) * 16));
                const std::int16_t* x = r + j * pair_step;
#pragma GCC unroll 4
                for (int q = 0; q < Np; ++q) {
                    acc[q] = _mm256_add_epi32(
                        acc[q], _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + q * step)), wv));
                    // Keeps the sums in this order: reassociated, they need more registers than there are.
                    __asm__("" : "+x"(acc[q]));
                }
            }
        }
        epilogue.template store<Np>(acc, ox0, t * 8, std::min<std::size_t>(8, oc - t * 8));
    }
}

template <int Kh, int Kp, class Epilogue>
void output_row(const depthwise_int8_packed& p, const std::int16_t* const* tap_rows, const Epilogue& epilogue) {
    detail::depthwise::for_each_pixel_group(std::size_t(p.output_width), [&](auto np, std::size_t ox0) {
        pixel_group<Kh, Kp, decltype(np)::value>(p, tap_rows, ox0, epilogue);
    });
}

// Calls row(epilogue) for output row `dst`: requantized in registers (double
// rounding, no INT32_MIN multiplier), else int32 sums spilled, then the
// array requantize stage.
// Doubled: one_rounding_offset where the packing's bound allows it (the
// quad-row kernels, which then start from bias + 2^30), see with_row_form.
template <class Policy, bool Doubled = false, class Row>
void with_epilogue(const depthwise_int8_packed& p, detail::depthwise::scratch& s, std::int8_t* dst, const Row& row) {
    if constexpr (std::is_same_v<Policy, double_rounding>) {
        if (p.lane_requantize.usable) {
            detail::depthwise::with_row_form<Doubled>(p.lane_requantize, p.output, [&](auto form) {
                constexpr register_requantize_form f = decltype(form)::value;
                row(register_epilogue<f>{register_stage<f>(p.lane_requantize, p.output), dst, p.out_channels});
            });
            return;
        }
    }
    row(spill_epilogue{s.spill.data(), p.out_channels});
    detail::depthwise::requantize_row<Policy>(p, s.spill.data(), dst);
}

template <class Epilogue>
void output_row_any(const depthwise_int8_packed& p, const std::int16_t* const* tap_rows, const Epilogue& epilogue) {
    if (p.kernel_height == 3 && p.kernel_pairs == 2) return output_row<3, 2>(p, tap_rows, epilogue);
    if (p.kernel_height == 5 && p.kernel_pairs == 3) return output_row<5, 3>(p, tap_rows, epilogue);
    output_row<0, 0>(p, tap_rows, epilogue);
}

template <class Policy>
void run(const depthwise_int8_packed& p, const std::int8_t* input, std::int8_t* output,
         detail::depthwise::scratch& s) {
    const std::size_t in_image = std::size_t(p.height) * std::size_t(p.width) * std::size_t(p.channels);
    const std::size_t out_row = std::size_t(p.output_width) * p.out_channels;
    const std::size_t out_image = std::size_t(p.output_height) * out_row;
    const auto convert = [&](const std::int8_t* row, std::int16_t* dst) {
        if (p.depth_multiplier == 1)
            convert_row_m1(p, row, s.zero_point_pixel.data(), dst);
        else
            detail::depthwise::convert_row_portable(p, row, dst);
    };
    for (std::size_t n = 0; n < std::size_t(p.batches); ++n) {
        std::int8_t* out = output + n * out_image;
        detail::depthwise::for_each_output_row(
            p, input + n * in_image, s, convert, [&](const std::int16_t* const* rows, std::int32_t oy) {
                with_epilogue<Policy>(p, s, out + std::size_t(oy) * out_row,
                                      [&](const auto& epilogue) { output_row_any(p, rows, epilogue); });
            });
    }
}

}  // namespace qtl::kernels::depthwise_avx2

QTL_DETAIL_TARGET_END
#endif  // QTL_DEPTHWISE_INT8_AVX2

// ---------------------------------------------------------------------------
// AVX-VNNI kernel: the AVX-512 VNNI kernel's quad rows on ymm (VEX VPDPBUSD,
// 8 channels a vector, 16 registers: at most 2 output rows a pass), with
// the AVX2 kernel's epilogues.  No block quads.

#if QTL_DEPTHWISE_INT8_AVX_VNNI
QTL_DETAIL_TARGET_BEGIN("avx2,avxvnni")

namespace qtl::kernels::depthwise_avx_vnni {

struct ops {
    using vec = __m256i;
    static constexpr std::size_t lanes = 8;
    static constexpr std::int32_t max_rows_per_pass = detail::depthwise::max_rows_per_pass_ymm;
    static vec load(const std::uint8_t* x) noexcept { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x)); }
    static vec load_weights(const std::int8_t* w) noexcept {
        return _mm256_load_si256(reinterpret_cast<const __m256i*>(w));
    }
    template <std::int32_t Offset>
    static vec load_bias(const std::int32_t* b) noexcept {
        const vec bias = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b));
        return Offset == 0 ? bias : _mm256_add_epi32(bias, _mm256_set1_epi32(Offset));
    }
    static vec dot(vec acc, vec x, vec w) noexcept { return _mm256_dpbusd_avx_epi32(acc, x, w); }
    static void convert_quads(const std::int8_t* a, const std::int8_t* b, const std::int8_t* c, const std::int8_t* d,
                              std::size_t n, std::uint8_t* q) noexcept {
        depthwise_avx2::convert_quads(a, b, c, d, n, q);
    }
};
using depthwise_avx2::register_epilogue;
using depthwise_avx2::spill_epilogue;
using depthwise_avx2::with_epilogue;
using register_requantize_avx2::register_stage;

#include "qtl/kernels/detail/depthwise_quad_rows.inl"

template <class Policy>
void run(const depthwise_int8_packed& p, const std::int8_t* input, std::int8_t* output,
         detail::depthwise::scratch& s) {
    run_quad_rows<Policy>(p, input, output, s);
}

}  // namespace qtl::kernels::depthwise_avx_vnni

QTL_DETAIL_TARGET_END
#endif  // QTL_DEPTHWISE_INT8_AVX_VNNI

// ---------------------------------------------------------------------------
// AVX-512BW kernel: the AVX2 kernel's loops on zmm (16 channels per vector),
// with the 16-lane register stage as its epilogue.

#if QTL_DEPTHWISE_INT8_AVX512BW
QTL_DETAIL_TARGET_BEGIN("avx2,avx512f,avx512bw")

namespace qtl::kernels::depthwise_avx512bw {

template <register_requantize_avx512::form Form>
struct register_epilogue {
    static constexpr std::int32_t accumulator_offset = accumulator_offset_of<Form>;
    register_requantize_avx512::register_stage<Form> stage;
    std::int8_t* out_row;
    std::size_t out_channels;

    template <int Np>
    QTL_DETAIL_DEPTHWISE_INLINE void store(const __m512i (&acc)[Np], std::size_t ox0, std::size_t col,
                                           std::size_t count) const noexcept {
        std::int8_t* out = out_row + ox0 * out_channels + col;
        if constexpr (Np >= 2 && Np <= 4) {
            if (count == 16) {  // the pixels narrowed together (register_stage::four_to_bytes), a 128-bit lane each
                const __m512i x[4] = {acc[0], acc[1], acc[Np > 2 ? 2 : 0], acc[Np > 3 ? 3 : 0]};
                const __m512i bytes = stage.four_to_bytes(x, col, 0);
                _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm512_castsi512_si128(bytes));
                _mm_storeu_si128(reinterpret_cast<__m128i*>(out + out_channels), _mm512_extracti32x4_epi32(bytes, 1));
                if constexpr (Np > 2)
                    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 2 * out_channels),
                                     _mm512_extracti32x4_epi32(bytes, 2));
                if constexpr (Np > 3)
                    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 3 * out_channels),
                                     _mm512_extracti32x4_epi32(bytes, 3));
                return;
            }
        }
#pragma GCC unroll 4
        for (int q = 0; q < Np; ++q)
            register_requantize_avx512::store_int8_lanes(stage(acc[q], col), out + std::size_t(q) * out_channels,
                                                         count);
    }
};

struct spill_epilogue {
    static constexpr std::int32_t accumulator_offset = 0;
    std::int32_t* acc_row;
    std::size_t out_channels;

    template <int Np>
    QTL_DETAIL_DEPTHWISE_INLINE void store(const __m512i (&acc)[Np], std::size_t ox0, std::size_t col,
                                           std::size_t count) const noexcept {
        const auto mask = static_cast<__mmask16>((1u << count) - 1);
#pragma GCC unroll 4
        for (int q = 0; q < Np; ++q)
            _mm512_mask_storeu_epi32(acc_row + (ox0 + std::size_t(q)) * out_channels + col, mask, acc[q]);
    }
};

template <int Kh, int Kp, int Np, class Epilogue>
void pixel_group(const depthwise_int8_packed& p, const std::int16_t* const* tap_rows, std::size_t ox0,
                 const Epilogue& epilogue) {
    const std::size_t kh = Kh > 0 ? std::size_t(Kh) : std::size_t(p.kernel_height);
    const std::size_t pairs = Kp > 0 ? std::size_t(Kp) : p.kernel_pairs;
    const std::size_t pixel = p.channels_padded * 2, step = std::size_t(p.stride_width) * pixel;
    const std::size_t pair_step = 2 * std::size_t(p.dilation_width) * pixel;
    const std::size_t tiles = p.channels_padded / 16, oc = p.out_channels, tile_weights = kh * pairs * 32;
    for (std::size_t t = 0; t < tiles; ++t) {
        const std::int16_t* w = p.weights.data() + t * tile_weights;
        const __m512i bias = _mm512_loadu_si512(p.bias.data() + t * 16);
        __m512i acc[Np];
#pragma GCC unroll 4
        for (int q = 0; q < Np; ++q) acc[q] = bias;
#pragma GCC unroll 8
        for (std::size_t ky = 0; ky < kh; ++ky) {
            const std::int16_t* r = tap_rows[ky] + ox0 * step + t * 32;
#pragma GCC unroll 8
            for (std::size_t j = 0; j < pairs; ++j) {
                const __m512i wv = _mm512_load_si512(w + (ky * pairs + j) * 32);
                const std::int16_t* x = r + j * pair_step;
#pragma GCC unroll 4
                for (int q = 0; q < Np; ++q)
                    acc[q] = _mm512_add_epi32(acc[q], _mm512_madd_epi16(_mm512_loadu_si512(x + q * step), wv));
            }
        }
        epilogue.template store<Np>(acc, ox0, t * 16, std::min<std::size_t>(16, oc - t * 16));
    }
}

template <int Kh, int Kp, class Epilogue>
void output_row(const depthwise_int8_packed& p, const std::int16_t* const* tap_rows, const Epilogue& epilogue) {
    detail::depthwise::for_each_pixel_group(std::size_t(p.output_width), [&](auto np, std::size_t ox0) {
        pixel_group<Kh, Kp, decltype(np)::value>(p, tap_rows, ox0, epilogue);
    });
}

// Calls row(epilogue) for output row `dst` with the 16-lane kernels'
// epilogue: requantized in registers (double rounding, no INT32_MIN
// multiplier), else int32 sums spilled, then the array requantize stage.
// Doubled: one_rounding_offset where the packing's bound allows it (the
// quad-row kernels, which then start from bias + 2^30), see with_row_form.
template <class Policy, bool Doubled = false, class Row>
void with_epilogue(const depthwise_int8_packed& p, detail::depthwise::scratch& s, std::int8_t* dst, const Row& row) {
    using register_requantize_avx512::register_stage;
    if constexpr (std::is_same_v<Policy, double_rounding>) {
        if (p.lane_requantize.usable) {
            detail::depthwise::with_row_form<Doubled>(p.lane_requantize, p.output, [&](auto form) {
                constexpr auto f = decltype(form)::value;
                row(register_epilogue<f>{register_stage<f>(p.lane_requantize, p.output), dst, p.out_channels});
            });
            return;
        }
    }
    row(spill_epilogue{s.spill.data(), p.out_channels});
    detail::depthwise::requantize_row<Policy>(p, s.spill.data(), dst);
}

template <class Epilogue>
void output_row_any(const depthwise_int8_packed& p, const std::int16_t* const* tap_rows, const Epilogue& epilogue) {
    if (p.kernel_height == 3 && p.kernel_pairs == 2) return output_row<3, 2>(p, tap_rows, epilogue);
    if (p.kernel_height == 5 && p.kernel_pairs == 3) return output_row<5, 3>(p, tap_rows, epilogue);
    output_row<0, 0>(p, tap_rows, epilogue);
}

template <class Policy>
void run(const depthwise_int8_packed& p, const std::int8_t* input, std::int8_t* output,
         detail::depthwise::scratch& s) {
    const std::size_t in_image = std::size_t(p.height) * std::size_t(p.width) * std::size_t(p.channels);
    const std::size_t out_row = std::size_t(p.output_width) * p.out_channels;
    const std::size_t out_image = std::size_t(p.output_height) * out_row;
    const auto convert = [&](const std::int8_t* row, std::int16_t* dst) {
        if (p.depth_multiplier == 1)
            depthwise_avx2::convert_row_m1(p, row, s.zero_point_pixel.data(), dst);
        else
            detail::depthwise::convert_row_portable(p, row, dst);
    };
    for (std::size_t n = 0; n < std::size_t(p.batches); ++n) {
        std::int8_t* out = output + n * out_image;
        detail::depthwise::for_each_output_row(
            p, input + n * in_image, s, convert, [&](const std::int16_t* const* rows, std::int32_t oy) {
                with_epilogue<Policy>(p, s, out + std::size_t(oy) * out_row,
                                      [&](const auto& epilogue) { output_row_any(p, rows, epilogue); });
            });
    }
}

}  // namespace qtl::kernels::depthwise_avx512bw

QTL_DETAIL_TARGET_END
#endif  // QTL_DEPTHWISE_INT8_AVX512BW

// ---------------------------------------------------------------------------
// AVX-512 VNNI kernel: quad rows, one VPDPBUSD per four taps of 16 channels
// (a 3x3 filter: 3 per vector, against 6 VPMADDWD and 6 VPADDD on pair rows),
// and the AVX-512BW kernel's epilogues.

#if QTL_DEPTHWISE_INT8_AVX512BW
QTL_DETAIL_TARGET_BEGIN("avx2,avx512f,avx512bw,avx512vl,avx512vnni")

namespace qtl::kernels::depthwise_avx512_vnni {

// 64 quads (a[i], b[i], c[i], d[i]) (bytes already + 128) to q[0, 256):
// bytes interleaved, then words, which gives quads in order within each
// 128-bit lane; the lanes are put in order last.
QTL_DETAIL_DEPTHWISE_INLINE void store_quads64(__m512i va, __m512i vb, __m512i vc, __m512i vd,
                                               std::uint8_t* q) noexcept {
    const __m512i ab_lo = _mm512_unpacklo_epi8(va, vb), ab_hi = _mm512_unpackhi_epi8(va, vb);
    const __m512i cd_lo = _mm512_unpacklo_epi8(vc, vd), cd_hi = _mm512_unpackhi_epi8(vc, vd);
    // Lane j of q0, q1, q2, q3: quads 16j + 0-3, 4-7, 8-11, 12-15.
    const __m512i q0 = _mm512_unpacklo_epi16(ab_lo, cd_lo), q1 = _mm512_unpackhi_epi16(ab_lo, cd_lo);
    const __m512i q2 = _mm512_unpacklo_epi16(ab_hi, cd_hi), q3 = _mm512_unpackhi_epi16(ab_hi, cd_hi);
    // A 4x4 transpose of 128-bit lanes: output j = lane j of q0, q1, q2, q3.
    const __m512i t0 = _mm512_shuffle_i64x2(q0, q1, 0x44), t1 = _mm512_shuffle_i64x2(q0, q1, 0xEE);
    const __m512i t2 = _mm512_shuffle_i64x2(q2, q3, 0x44), t3 = _mm512_shuffle_i64x2(q2, q3, 0xEE);
    _mm512_storeu_si512(q, _mm512_shuffle_i64x2(t0, t2, 0x88));
    _mm512_storeu_si512(q + 64, _mm512_shuffle_i64x2(t0, t2, 0xDD));
    _mm512_storeu_si512(q + 128, _mm512_shuffle_i64x2(t1, t3, 0x88));
    _mm512_storeu_si512(q + 192, _mm512_shuffle_i64x2(t1, t3, 0xDD));
}

// n quads (a[i], b[i], c[i], d[i]) + 128 at q[4i .. 4i + 3].
inline void convert_quads(const std::int8_t* a, const std::int8_t* b, const std::int8_t* c, const std::int8_t* d,
                          std::size_t n, std::uint8_t* q) noexcept {
    std::size_t i = 0;
    const __m512i flip64 = _mm512_set1_epi8(static_cast<char>(0x80));
    for (; i + 64 <= n; i += 64) {  // 28 instructions per 64 quads, against 48 in two ymm steps
        const auto load = [&](const std::int8_t* s) { return _mm512_xor_si512(_mm512_loadu_si512(s + i), flip64); };
        store_quads64(load(a), load(b), load(c), load(d), q + 4 * i);
    }
    depthwise_avx2::convert_quads(a + i, b + i, c + i, d + i, n - i, q + 4 * i);
}

// Block row for depth multiplier 1 (depthwise_int8_packed::block_quads):
// block column b is the quads of pixels 2b, 2b + 1 of `top` and `bottom`,
// the zero-point pixel where one is outside the image (or the row is nullptr).
struct ops {
    using vec = __m512i;
    static constexpr std::size_t lanes = 16;
    static constexpr std::int32_t max_rows_per_pass = detail::depthwise::max_rows_per_pass;
    static vec load(const std::uint8_t* x) noexcept { return _mm512_loadu_si512(x); }
    static vec load_weights(const std::int8_t* w) noexcept { return _mm512_load_si512(w); }
    template <std::int32_t Offset>
    static vec load_bias(const std::int32_t* b) noexcept {
        const vec bias = _mm512_loadu_si512(b);
        return Offset == 0 ? bias : _mm512_add_epi32(bias, _mm512_set1_epi32(Offset));
    }
    static vec dot(vec acc, vec x, vec w) noexcept { return _mm512_dpbusd_epi32(acc, x, w); }
    static void convert_quads(const std::int8_t* a, const std::int8_t* b, const std::int8_t* c, const std::int8_t* d,
                              std::size_t n, std::uint8_t* q) noexcept {
        depthwise_avx512_vnni::convert_quads(a, b, c, d, n, q);
    }
};
using depthwise_avx512bw::register_epilogue;
using depthwise_avx512bw::spill_epilogue;
using depthwise_avx512bw::with_epilogue;
using register_requantize_avx512::register_stage;

#include "qtl/kernels/detail/depthwise_quad_rows.inl"

inline void convert_block_row_m1(const depthwise_int8_packed& p, const std::int8_t* top, const std::int8_t* bottom,
                                 const std::int8_t* zp_pixel, std::uint8_t* dst) noexcept {
    const std::size_t channels = std::size_t(p.channels), padded = p.channels_padded;
    const auto pixel = [&](const std::int8_t* row, std::int64_t x) {
        return row != nullptr && x >= 0 && x < p.width ? row + std::size_t(x) * channels : zp_pixel;
    };
    const auto block = [&](std::size_t b) {
        const std::int64_t x = 2 * std::int64_t(b) - p.pad_left;
        convert_quads(pixel(top, x), pixel(top, x + 1), pixel(bottom, x), pixel(bottom, x + 1), channels,
                      dst + b * padded * 4);
    };
    std::size_t b = 0;
    const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
    if (channels % 64 == 0 && top != nullptr && bottom != nullptr) {
        // Blocks inside the image straight from the rows, 64 channels a step
        // (block() picks four pixel pointers a block and runs the tails'
        // checks: about a quarter of the stride-2 conversion's samples).
        for (; b < p.quad_row_pixels && 2 * std::int64_t(b) < p.pad_left; ++b) block(b);  // left border
        const auto load = [&](const std::int8_t* at) { return _mm512_xor_si512(_mm512_loadu_si512(at), flip); };
        for (; b < p.quad_row_pixels; ++b) {
            const std::int64_t x = 2 * std::int64_t(b) - p.pad_left;
            if (x + 2 > p.width) break;  // pixels x, x + 1 inside
            const std::int8_t *t = top + std::size_t(x) * channels, *u = bottom + std::size_t(x) * channels;
            std::uint8_t* q = dst + b * padded * 4;
            for (std::size_t c = 0; c < channels; c += 64)
                store_quads64(load(t + c), load(t + channels + c), load(u + c), load(u + channels + c), q + 4 * c);
        }
    }
    if (channels == 32 && top != nullptr && bottom != nullptr) {
        // 32 channels: two blocks a zmm step.  Pixels x, x + 1 are one
        // 64-byte load [a | b] of a row, and x + 2, x + 3 the next block's
        // [a' | b']; regrouped as [a | a'] and [b | b'] they are the 64-channel
        // step's streams, whose 256 bytes are the two blocks in order.  About
        // 32 instructions for two blocks against 48 in two 32-channel steps.
        for (; b < p.quad_row_pixels && 2 * std::int64_t(b) < p.pad_left; ++b) block(b);  // left border
        const auto load = [&](const std::int8_t* row, std::int64_t x) {
            return _mm512_xor_si512(_mm512_loadu_si512(row + std::size_t(x) * 32), flip);
        };
        for (; b + 2 <= p.quad_row_pixels; b += 2) {
            const std::int64_t x = 2 * std::int64_t(b) - p.pad_left;
            if (x + 4 > p.width) break;  // pixels x .. x + 3 inside
            const __m512i top0 = load(top, x), top1 = load(top, x + 2);
            const __m512i bottom0 = load(bottom, x), bottom1 = load(bottom, x + 2);
            store_quads64(_mm512_shuffle_i64x2(top0, top1, 0x44), _mm512_shuffle_i64x2(top0, top1, 0xEE),
                          _mm512_shuffle_i64x2(bottom0, bottom1, 0x44), _mm512_shuffle_i64x2(bottom0, bottom1, 0xEE),
                          dst + b * padded * 4);
        }
    }
    for (; b < p.quad_row_pixels; ++b) block(b);
}

// Np output pixels from ox0 (ox0 sw even) of R output rows of strides Sh,
// Sw, block quads: output row r (phase py = (Py0 + r Sh) % 2) reads block
// rows (Py0 + r Sh) / 2 + by of tap_rows, pixel q (phase px = q Sw % 2)
// block columns q Sw / 2 + bx.  Each block quad is loaded once and feeds
// every accumulator it is a tap of (at stride 1, 6 loads for 2 rows x 4
// pixels x 4 VPDPBUSD); the weights of every phase stay in registers.
template <int R, int Np, int Sh, int Sw, int Py0, class Epilogue>
void block_pixel_group_rows(const depthwise_int8_packed& p, const std::uint8_t* const* tap_rows, std::size_t ox0,
                            const Epilogue* epilogues) {
    constexpr int phases_y = Sh == 1 ? 2 : 1, phases_x = Sw == 1 ? 2 : 1;
    constexpr int block_rows = (Py0 + (R - 1) * Sh) / 2 + 2, block_columns = (Np - 1) * Sw / 2 + 2;
    const std::size_t pixel = p.channels_padded * 4;
    const std::size_t tiles = p.channels_padded / 16, oc = p.out_channels;
    for (std::size_t t = 0; t < tiles; ++t) {
        const std::int8_t* w = p.quad_weights.data() + t * phases_y * phases_x * 4 * 64;
        __m512i wv[phases_y][phases_x][4];  // [py][px][2 by + bx]
#pragma GCC unroll 16
        for (int k = 0; k < phases_y * phases_x * 4; ++k)
            wv[k / (phases_x * 4)][k / 4 % phases_x][k % 4] = _mm512_load_si512(w + k * 64);
        const __m512i bias = ops::load_bias<Epilogue::accumulator_offset>(p.quad_bias.data() + t * 16);
        __m512i acc[R][Np];
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
            for (int q = 0; q < Np; ++q) acc[r][q] = bias;
        const std::size_t at = ox0 * std::size_t(Sw) / 2 * pixel + t * 64;
#pragma GCC unroll 5
        for (int i = 0; i < block_rows; ++i) {
#pragma GCC unroll 5
            for (int b = 0; b < block_columns; ++b) {
                const __m512i x = _mm512_loadu_si512(tap_rows[i] + at + std::size_t(b) * pixel);
#pragma GCC unroll 4
                for (int r = 0; r < R; ++r) {
                    const int y = Py0 + r * Sh, by = i - y / 2, py = phases_y == 2 ? y % 2 : 0;
                    if (by < 0 || by > 1) continue;
#pragma GCC unroll 4
                    for (int q = 0; q < Np; ++q) {
                        const int xq = q * Sw, bx = b - xq / 2, px = phases_x == 2 ? xq % 2 : 0;
                        if (bx == 0 || bx == 1)
                            acc[r][q] = _mm512_dpbusd_epi32(acc[r][q], x, wv[py][px][2 * by + bx]);
                    }
                }
            }
        }
        const std::size_t count = std::min<std::size_t>(16, oc - t * 16);
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) epilogues[r].template store<Np>(acc[r], ox0, t * 16, count);
    }
}

// R output rows from one whose oy sh has phase Py0, every pixel group.
template <int R, int Py0, class Epilogue>
void block_output_rows(const depthwise_int8_packed& p, const std::uint8_t* const* tap_rows,
                       const Epilogue* epilogues) {
    detail::depthwise::for_each_pixel_group(std::size_t(p.output_width), [&](auto np, std::size_t ox0) {
        constexpr int Np = decltype(np)::value;
        if (p.stride_height == 1) {
            if (p.stride_width == 1) return block_pixel_group_rows<R, Np, 1, 1, Py0>(p, tap_rows, ox0, epilogues);
            return block_pixel_group_rows<R, Np, 1, 2, Py0>(p, tap_rows, ox0, epilogues);
        }
        if constexpr (Py0 == 0) {  // oy * 2 is even
            if (p.stride_width == 1) return block_pixel_group_rows<R, Np, 2, 1, 0>(p, tap_rows, ox0, epilogues);
            return block_pixel_group_rows<R, Np, 2, 2, 0>(p, tap_rows, ox0, epilogues);
        }
    });
}

// The block-quad kernel: p.rows_per_pass rows a pass with the in-register
// epilogue, else one row a pass through with_epilogue (single rounding).
template <class Policy>
void run_block_quads(const depthwise_int8_packed& p, const std::int8_t* input, std::int8_t* output,
                     detail::depthwise::scratch& s) {
    const std::size_t in_image = std::size_t(p.height) * std::size_t(p.width) * std::size_t(p.channels);
    const std::size_t out_row = std::size_t(p.output_width) * p.out_channels;
    const std::size_t out_image = std::size_t(p.output_height) * out_row;
    const auto convert = [&](const std::int8_t* top, const std::int8_t* bottom, std::uint8_t* dst) {
        if (p.depth_multiplier == 1)
            convert_block_row_m1(p, top, bottom, s.zero_point_pixel.data(), dst);
        else
            detail::depthwise::convert_block_row_portable(p, top, bottom, dst);
    };
    if constexpr (std::is_same_v<Policy, double_rounding>) {
        if (p.lane_requantize.usable) {
            detail::depthwise::with_lane_form(p.lane_requantize, p.output, [&](auto form) {
                constexpr auto f = decltype(form)::value;
                using epilogue = register_epilogue<f>;
                const register_stage<f> stage(p.lane_requantize, p.output);
                for (std::size_t n = 0; n < std::size_t(p.batches); ++n) {
                    std::int8_t* out = output + n * out_image;
                    detail::depthwise::for_each_output_block_row_pass(
                        p, input + n * in_image, p.rows_per_pass, s, convert,
                        [&](const std::uint8_t* const* rows, std::int32_t oy, std::int32_t count) {
                            with_row_epilogues<detail::depthwise::max_block_rows_per_pass, epilogue>(
                                stage, out, out_row, p.out_channels, oy, count, [&](auto r, const epilogue* e) {
                                    block_output_rows<decltype(r)::value, 0>(p, rows, e);
                                });
                        });
                }
            });
            return;
        }
    }
    for (std::size_t n = 0; n < std::size_t(p.batches); ++n) {
        std::int8_t* out = output + n * out_image;
        detail::depthwise::for_each_output_block_row_pass(
            p, input + n * in_image, 1, s, convert, [&](const std::uint8_t* const* rows, std::int32_t oy, std::int32_t) {
                with_epilogue<Policy>(p, s, out + std::size_t(oy) * out_row, [&](const auto& e) {
                    if (oy * p.stride_height % 2 == 0)
                        block_output_rows<1, 0>(p, rows, &e);
                    else
                        block_output_rows<1, 1>(p, rows, &e);
                });
            });
    }
}

template <class Policy>
void run(const depthwise_int8_packed& p, const std::int8_t* input, std::int8_t* output,
         detail::depthwise::scratch& s) {
    if (p.block_quads) return run_block_quads<Policy>(p, input, output, s);
    run_quad_rows<Policy>(p, input, output, s);
}

}  // namespace qtl::kernels::depthwise_avx512_vnni

QTL_DETAIL_TARGET_END
#endif  // QTL_DEPTHWISE_INT8_AVX512BW

// ---------------------------------------------------------------------------
// Dispatch.

namespace qtl::kernels {

// The kernel is in this build.
constexpr bool depthwise_int8_isa_compiled(depthwise_int8_isa isa) noexcept {
    switch (isa) {
        case depthwise_int8_isa::scalar: return true;
        case depthwise_int8_isa::avx2: return QTL_DEPTHWISE_INT8_AVX2 != 0;
        case depthwise_int8_isa::avx_vnni: return QTL_DEPTHWISE_INT8_AVX_VNNI != 0;
        case depthwise_int8_isa::avx512bw:
        case depthwise_int8_isa::avx512_vnni: return QTL_DEPTHWISE_INT8_AVX512BW != 0;
    }
    return false;
}

// The kernel is in this build and this CPU (and OS) runs it.
inline bool depthwise_int8_isa_supported(depthwise_int8_isa isa) noexcept {
    const cpu_features& f = host_cpu_features();
    if (!depthwise_int8_isa_compiled(isa)) return false;
    switch (isa) {
        case depthwise_int8_isa::scalar: return true;
        case depthwise_int8_isa::avx2: return f.avx2;
        case depthwise_int8_isa::avx_vnni: return f.avx2 && f.avx_vnni;
        case depthwise_int8_isa::avx512bw:
            return QTL_DEPTHWISE_INT8_USE_AVX512BW != 0 && f.avx2 && f.avx512f && f.avx512bw;
        case depthwise_int8_isa::avx512_vnni:
            return f.avx2 && f.avx512f && f.avx512bw && f.avx512vl && f.avx512_vnni;
    }
    return false;
}

inline depthwise_int8_isa best_depthwise_int8_isa() noexcept {
    for (depthwise_int8_isa isa :
         {depthwise_int8_isa::avx512_vnni, depthwise_int8_isa::avx_vnni, depthwise_int8_isa::avx512bw,
          depthwise_int8_isa::avx2})
        if (depthwise_int8_isa_supported(isa)) return isa;
    return depthwise_int8_isa::scalar;
}

// Packs for the best kernel this machine runs.
inline depthwise_int8_packed pack_depthwise_int8(const depthwise_int8_spec& spec) {
    return pack_depthwise_int8(spec, best_depthwise_int8_isa());
}

namespace detail::depthwise {

// Sizes the calling thread's buffers for `p`.  The zero row is cleared, and
// when channels are padded the whole ring (the conversions never write the
// padding lanes, so they stay 0; every other element is written before use).
inline scratch& prepare_scratch(const depthwise_int8_packed& p) {
    scratch& s = thread_scratch();
    const std::size_t ring = p.ring_rows();
    const bool padded = p.channels_padded != p.out_channels;
    if (p.quads) {
        // The row outside the image holds the padding byte (the channel padding: anything, its weights are 0).
        const std::size_t row_bytes = p.quad_row_bytes();
        s.quad_rows.resize((ring + 1) * row_bytes);
        std::fill(s.quad_rows.begin() + std::ptrdiff_t(padded ? 0 : ring * row_bytes), s.quad_rows.end(),
                  p.quad_padding());
        s.quad_tap_rows.assign(std::size_t(p.kernel_height), nullptr);
    } else {
        const std::size_t row_elems = p.pair_row_elements();
        s.rows.resize((ring + 1) * row_elems);
        std::fill(s.rows.begin() + std::ptrdiff_t(padded ? 0 : ring * row_elems), s.rows.end(), std::int16_t{0});
    }
    s.spill.resize(std::size_t(p.output_width) * p.out_channels);
    s.zero_point_pixel.assign(std::size_t(p.channels), static_cast<std::int8_t>(p.input_zero_point));
    s.ring_tags.assign(ring, -1);
    s.tap_rows.assign(std::size_t(p.kernel_height), nullptr);
    s.quad_tap_rows.assign(ring, nullptr);
    return s;
}

template <class Policy>
void run_portable(const depthwise_int8_packed& p, const std::int8_t* input, std::int8_t* output, scratch& s) {
    const std::size_t in_image = std::size_t(p.height) * std::size_t(p.width) * std::size_t(p.channels);
    const std::size_t out_row = std::size_t(p.output_width) * p.out_channels;
    const std::size_t out_image = std::size_t(p.output_height) * out_row;
    const auto convert = [&](const std::int8_t* row, std::int16_t* dst) { convert_row_portable(p, row, dst); };
    const auto convert_quads = [&](const std::int8_t* row, std::uint8_t* dst) { convert_quad_row_portable(p, row, dst); };
    const auto convert_blocks = [&](const std::int8_t* top, const std::int8_t* bottom, std::uint8_t* dst) {
        convert_block_row_portable(p, top, bottom, dst);
    };
    for (std::size_t n = 0; n < std::size_t(p.batches); ++n) {
        std::int8_t* out = output + n * out_image;
        if (p.block_quads) {
            for_each_output_block_row_pass(p, input + n * in_image, 1, s, convert_blocks,
                                           [&](const std::uint8_t* const* rows, std::int32_t oy, std::int32_t) {
                                               row_portable_block_quads(p, rows, oy, s.spill.data());
                                               requantize_row<Policy>(p, s.spill.data(),
                                                                      out + std::size_t(oy) * out_row);
                                           });
            continue;
        }
        if (p.quads) {
            for_each_output_quad_row(p, input + n * in_image, s, convert_quads,
                                     [&](const std::uint8_t* const* rows, std::int32_t oy) {
                                         if (p.lanes == 16)
                                             row_portable_quads<16>(p, rows, s.spill.data());
                                         else
                                             row_portable_quads<8>(p, rows, s.spill.data());
                                         requantize_row<Policy>(p, s.spill.data(), out + std::size_t(oy) * out_row);
                                     });
            continue;
        }
        for_each_output_row(p, input + n * in_image, s, convert, [&](const std::int16_t* const* rows, std::int32_t oy) {
            if (p.lanes == 16)
                row_portable<16>(p, rows, s.spill.data());
            else
                row_portable<8>(p, rows, s.spill.data());
            requantize_row<Policy>(p, s.spill.data(), out + std::size_t(oy) * out_row);
        });
    }
}

inline void check_call(const depthwise_int8_packed& p, const std::int8_t* input, std::int8_t* output) {
    check(p.out_channels > 0 && !(p.quads ? p.quad_weights.empty() : p.weights.empty()), "depthwise_int8",
          "the packed weights are empty (pack_depthwise_int8 first)");
    check(input != nullptr && output != nullptr, "depthwise_int8", "input and output pointers must not be null");
    check(p.lanes == depthwise_int8_lanes(p.isa) && p.channels_padded % p.lanes == 0 &&
              p.quads == depthwise_int8_uses_quads(p.isa) &&
              (!p.block_quads || (p.isa == depthwise_int8_isa::avx512_vnni &&
                                  p.quad_weights.size() ==
                                      p.tiles() * p.block_phases_y() * p.block_phases_x() * 4 * p.lanes * 4)),
          "depthwise_int8",
          "the packing is inconsistent with its isa (", to_string(p.isa), ")");
}

}  // namespace detail::depthwise

// output[N][OH][OW][C*M] from input[N][H][W][C], with p's kernel.  Throws
// qtl::error when that kernel cannot run on this CPU.  The multipliers must
// come from quantize_multiplier<Policy>.
template <rounding_policy Policy = double_rounding>
void depthwise_int8(const depthwise_int8_packed& p, const std::int8_t* input, std::int8_t* output) {
    check(depthwise_int8_isa_supported(p.isa), "depthwise_int8", "the weights are packed for the ", to_string(p.isa),
          " kernel, which this ", depthwise_int8_isa_compiled(p.isa) ? "CPU cannot run" : "build does not contain",
          " (pack for best_depthwise_int8_isa())");
    detail::depthwise::check_call(p, input, output);
    detail::depthwise::scratch& s = detail::depthwise::prepare_scratch(p);
    switch (p.isa) {
#if QTL_DEPTHWISE_INT8_AVX512BW
        case depthwise_int8_isa::avx512bw: return depthwise_avx512bw::run<Policy>(p, input, output, s);
        case depthwise_int8_isa::avx512_vnni: return depthwise_avx512_vnni::run<Policy>(p, input, output, s);
#endif
#if QTL_DEPTHWISE_INT8_AVX_VNNI
        case depthwise_int8_isa::avx_vnni: return depthwise_avx_vnni::run<Policy>(p, input, output, s);
#endif
#if QTL_DEPTHWISE_INT8_AVX2
        case depthwise_int8_isa::avx2: return depthwise_avx2::run<Policy>(p, input, output, s);
#endif
        default: return detail::depthwise::run_portable<Policy>(p, input, output, s);
    }
}

// The portable code replaying p's kernel (its vector width, channel tiles,
// pixel groups and tails, and the array requantize stage) on any machine:
// what tests use to check a kernel's layout where its instructions are missing.
template <rounding_policy Policy = double_rounding>
void depthwise_int8_emulated(const depthwise_int8_packed& p, const std::int8_t* input, std::int8_t* output) {
    detail::depthwise::check_call(p, input, output);
    detail::depthwise::scratch& s = detail::depthwise::prepare_scratch(p);
    detail::depthwise::run_portable<Policy>(p, input, output, s);
}

#if defined(QTL_KERNEL_INSTANCE)  // compiled once with the executors (qtl/core/extern_executors.hpp)
QTL_KERNEL_INSTANCE void depthwise_int8<double_rounding>(const depthwise_int8_packed&, const std::int8_t*, std::int8_t*);
QTL_KERNEL_INSTANCE void depthwise_int8<single_rounding>(const depthwise_int8_packed&, const std::int8_t*, std::int8_t*);
#endif

}  // namespace qtl::kernels
