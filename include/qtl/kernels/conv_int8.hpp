#pragma once
// int8 CONV_2D (any kernel size, stride, dilation, padding; no groups) on the
// int8 GEMM kernels of gemm_int8.hpp, bit-exact with TFLite's reference
// (reference_integer_ops::ConvPerChannel):
//
//   out[n, y, x, o] = requantize(bias[o] + sum_{ky, kx, i} w[o, ky, kx, i] *
//                         (in[n, y*sh - pad_top + ky*dh, x*sw - pad_left + kx*dw, i] - in_zp))
//
// with taps outside the image skipped.  It is a GEMM with one row per output
// pixel and K = KH*KW*I, and TFLite's filter layout [O, KH, KW, I] is already
// that GEMM's [n][k] weight matrix:
//
//   auto packed = kernels::pack_conv_int8(spec);       // once (prepare)
//   kernels::conv_int8(packed, input, output);         // every eval
//
// im2col, not an indirection buffer.  The packed kernels read activation rows
// that are contiguous, zero-padded to whole k-groups and already in the
// kernel's form (a + 128 as uint8 for VPDPBUSD, int16 for VPMADDWD); the
// input has to be copied into that form anyway, so gathering the taps in the
// same pass costs little and keeps the kernels untouched.  An indirection
// buffer would need new kernels that convert on every tap read, once per
// column block instead of once per pixel.
//
// In place, where the AVX-512 VNNI tiles can (conv_int8_packed::in_place):
// the input is converted once into a padded image in the kernel's form, and
// the tiles read each tap from there (a row pointer per output pixel, an
// offset per k-group), so im2col's copy of K bytes per pixel goes away.
//
// Layers with few input channels (first layers: 3x3x3) gather each row with
// one VPERMB where the CPU has AVX-512 VBMI (conv_int8_packed::im2col_vbmi).
//
// Padded taps are filled with the input zero point (in the kernel's form):
// (in_zp - in_zp) * w = 0 exactly, the same sum as TFLite skipping them.
//
// Tiles.  Output pixels are processed `tile_pixels` at a time: the tile's
// im2col rows (sized to stay in L2 while every column block streams over
// them) are built in scratch, then the kernels run on them.  Tile bounds
// depend only on the packing, never on the thread count, and every output
// byte comes from the same code, so threads change nothing in the result.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <span>
#include <thread>
#include <type_traits>
#include <vector>

#include "qtl/core/error.hpp"
#include "qtl/core/extern_executors.hpp"
#include "qtl/detail/target_region.hpp"
#include "qtl/fixedpoint/quantize_multiplier.hpp"
#include "qtl/fixedpoint/requantize.hpp"
#include "qtl/fixedpoint/rounding_policy.hpp"
#include "qtl/kernels/cpu_features.hpp"
#include "qtl/kernels/gemm_int8.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#if QTL_KERNELS_X86_TARGETS
#include <immintrin.h>
#define QTL_CONV_INT8_IM2COL_VBMI 1
#else
#define QTL_CONV_INT8_IM2COL_VBMI 0
#endif

#if QTL_KERNELS_X86_TARGETS
QTL_DETAIL_TARGET_BEGIN("avx512f,avx512bw")
namespace qtl::kernels::detail {

// to_kernel_form (below) of a run of 64 bytes or more, a zmm at a time, the
// last one overlapping the one before (rewriting the same values).  3x3
// convs of 64 channels or more copy runs of 192 bytes and up: on AMD Zen 5
// the im2col of 3x3 56x56x64 -> 64 went from 22% to 8% of the layer's time
// with this instead of 16-byte copies.
inline void to_kernel_form_zmm(const std::int8_t* src, std::size_t n, std::uint8_t* dst) noexcept {
    const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
    const auto copy64 = [&](std::size_t i) {
        _mm512_storeu_si512(dst + i, _mm512_xor_si512(_mm512_loadu_si512(src + i), flip));
    };
    std::size_t i = 0;
    for (; i + 64 <= n; i += 64) copy64(i);
    if (i < n) copy64(n - 64);
}

}  // namespace qtl::kernels::detail
QTL_DETAIL_TARGET_END

namespace qtl::kernels::detail {
// Whether to_kernel_form_zmm may run here: a constant where the build
// targets AVX-512BW, else the CPU's answer (read once).
inline bool zmm_im2col_copies() noexcept {
#if defined(__AVX512F__) && defined(__AVX512BW__)
    return true;
#else
    static const bool available = host_cpu_features().avx512f && host_cpu_features().avx512bw;
    return available;
#endif
}
}  // namespace qtl::kernels::detail
#endif

namespace qtl::kernels {

// An ungrouped NHWC convolution's geometry.  The output size is given (the
// op computed it from its padding rule); any tap it reaches outside the
// input is padding.
struct conv_int8_shape {
    std::size_t batches = 1, height = 1, width = 1, channels = 1;  // input [N, H, W, I]
    std::size_t kernel_height = 1, kernel_width = 1;
    std::size_t stride_height = 1, stride_width = 1;
    std::size_t dilation_height = 1, dilation_width = 1;
    std::size_t pad_top = 0, pad_left = 0;  // TFLite's padding before (after follows from the output size)
    std::size_t out_height = 1, out_width = 1;

    std::size_t taps() const noexcept { return kernel_height * kernel_width * channels; }  // GEMM k
    std::size_t out_pixels() const noexcept { return batches * out_height * out_width; }   // GEMM m
};

struct conv_int8_spec {
    conv_int8_shape shape;
    std::size_t out_channels = 0;                       // GEMM n
    std::span<const std::int8_t> weights;               // [O][KH][KW][I]
    std::span<const std::int32_t> bias;                 // [O], or empty for none
    std::int32_t input_zero_point = 0;                  // in [-128, 127]
    std::span<const quantized_multiplier> multipliers;  // 1 (per-tensor) or O (per-channel)
    requantize_params output;                           // int8 zero point and clamp range
};

struct conv_int8_packed {
    conv_int8_shape shape;
    gemm_int8_packed gemm;        // weights [O][KH*KW*I] packed for one kernel
    std::size_t tile_pixels = 0;  // output pixels (im2col rows) per tile
    // The VPERMB im2col of small-channel layers (first layers), when the
    // CPU has AVX-512 VBMI and the geometry fits: byte j of a row comes from
    // byte im2col_gather[j] of the kernel rows' 16-byte runs side by side.
    bool im2col_vbmi = false;
    std::array<std::uint8_t, 64> im2col_gather{};
    // In place (AVX-512 VNNI, every column block full, k-groups of 4
    // consecutive input bytes, k >= 96): each call converts the input once into a
    // padded image (padded_height x padded_width pixels, the input zero point
    // around it) and the kernel reads every tap from there, tap_offsets[g]
    // bytes past a pixel's top-left tap for k-group g; no im2col rows but
    // those of the last pixels of an image that fill no whole tile.
    bool in_place = false;
    std::size_t padded_height = 0, padded_width = 0;
    std::vector<std::uint32_t> tap_offsets;

    std::size_t tiles() const noexcept { return (shape.out_pixels() + tile_pixels - 1) / tile_pixels; }
    std::size_t element_bytes() const noexcept {
        return gemm.geometry.a_int16 ? sizeof(std::int16_t) : sizeof(std::uint8_t);
    }
    // One tile's im2col rows and what the im2col may write past them, rounded up to whole cache lines.
    std::size_t tile_bytes() const noexcept;
    // The padded image of the in-place path (0 without it), rounded up to whole cache lines.
    std::size_t padded_bytes() const noexcept {
        return in_place ? (padded_height * padded_width * shape.channels + 63) / 64 * 64 : 0;
    }
};

// Target size of one tile's im2col rows.  Every column block re-reads the
// whole tile, so it should live in L2 (>= 256 KiB on the x86 cores the
// kernels target) next to the block's weights and the output rows.  Measured
// with the AVX2 kernel on 3x3 56x56x64->64 and 28x28x128->128: 16 to 128 KiB
// within 2% of each other, 256 KiB and more 3-6% slower.
inline constexpr std::size_t conv_int8_tile_target_bytes = 64 * 1024;

namespace detail {

inline std::size_t conv_checked_product(std::initializer_list<std::size_t> factors, const char* what) {
    std::size_t product = 1;
    for (const std::size_t f : factors) {
        check(f == 0 || product <= std::numeric_limits<std::size_t>::max() / f, "conv_int8", what,
              " overflows size_t");
        product *= f;
    }
    return product;
}

inline void validate_conv_int8_shape(const conv_int8_shape& s) {
    const char* where = "conv_int8";
    check(s.batches >= 1 && s.height >= 1 && s.width >= 1 && s.channels >= 1, where,
          "input dimensions must be >= 1, got [", s.batches, ", ", s.height, ", ", s.width, ", ", s.channels, "]");
    check(s.kernel_height >= 1 && s.kernel_width >= 1, where, "kernel size must be >= 1, got ", s.kernel_height,
          "x", s.kernel_width);
    check(s.stride_height >= 1 && s.stride_width >= 1, where, "strides must be >= 1, got ", s.stride_height, "x",
          s.stride_width);
    check(s.dilation_height >= 1 && s.dilation_width >= 1, where, "dilations must be >= 1, got ", s.dilation_height,
          "x", s.dilation_width);
    check(s.out_height >= 1 && s.out_width >= 1, where, "output size must be >= 1, got ", s.out_height, "x",
          s.out_width);
    // Coordinates are computed in ptrdiff_t: keep every one of them representable.
    const auto limit = std::size_t(std::numeric_limits<std::ptrdiff_t>::max() / 4);
    check(s.height < limit && s.width < limit && s.pad_top < limit && s.pad_left < limit &&
              conv_checked_product({s.out_height, s.stride_height}, "output height * stride") < limit &&
              conv_checked_product({s.out_width, s.stride_width}, "output width * stride") < limit &&
              conv_checked_product({s.kernel_height, s.dilation_height}, "kernel height * dilation") < limit &&
              conv_checked_product({s.kernel_width, s.dilation_width}, "kernel width * dilation") < limit,
          where, "sizes, strides, dilations and padding are too large");
    conv_checked_product({s.batches, s.height, s.width, s.channels}, "input size");
    conv_checked_product({s.batches, s.out_height, s.out_width}, "output pixel count");
    conv_checked_product({s.kernel_height, s.kernel_width, s.channels}, "KH * KW * I");
}

// Input values in the kernel's form: a + 128 as uint8 (the bit pattern
// a ^ 0x80, VPDPBUSD's unsigned operand) ...  Runs of 8 or more end with a
// chunk that overlaps the previous one (rewriting the same values) instead of
// a scalar tail: first layers have runs of 9 (3x3 taps x 3 channels).
inline void to_kernel_form(const std::int8_t* src, std::size_t n, std::uint8_t* dst) noexcept {
#if QTL_KERNELS_X86_TARGETS
    if (n >= 64 && zmm_im2col_copies()) return to_kernel_form_zmm(src, n, dst);
#endif
    if (n >= 8) {
        const auto flip8 = [&](std::size_t i) {
            std::uint64_t v;
            std::memcpy(&v, src + i, 8);
            v ^= 0x8080808080808080u;
            std::memcpy(dst + i, &v, 8);
        };
        std::size_t i = 0;
#if defined(__SSE2__)
        const __m128i flip = _mm_set1_epi8(static_cast<char>(0x80));
        const auto flip16 = [&](std::size_t j) {
            const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + j));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + j), _mm_xor_si128(v, flip));
        };
        for (; i + 16 <= n; i += 16) flip16(i);
        if (i == n) return;
        if (n >= 16) return flip16(n - 16);
#endif
        for (; i + 8 <= n; i += 8) flip8(i);
        if (i < n) flip8(n - 8);
        return;
    }
    for (std::size_t i = 0; i < n; ++i) dst[i] = static_cast<std::uint8_t>(static_cast<std::uint8_t>(src[i]) ^ 0x80u);
}

// ... or sign-extended to int16 (VPMADDWD).
inline void to_kernel_form(const std::int8_t* src, std::size_t n, std::int16_t* dst) noexcept {
#if defined(__SSE2__)
    if (n >= 8) {
        // Each byte in the high half of a 16-bit lane, then an arithmetic shift down.
        const auto widen8 = [&](std::size_t i) {
            const __m128i v = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(src + i));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), _mm_srai_epi16(_mm_unpacklo_epi8(v, v), 8));
        };
        const auto widen16 = [&](std::size_t i) {
            const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), _mm_srai_epi16(_mm_unpacklo_epi8(v, v), 8));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i + 8), _mm_srai_epi16(_mm_unpackhi_epi8(v, v), 8));
        };
        std::size_t i = 0;
        for (; i + 16 <= n; i += 16) widen16(i);
        if (i == n) return;
        if (n >= 16) return widen16(n - 16);
        widen8(0);
        return widen8(n - 8);
    }
#endif
    for (std::size_t i = 0; i < n; ++i) dst[i] = src[i];
}

#if defined(__SSE2__)
// The 16 values at src as int16 at dst, whatever part of them is wanted:
// callers write in order, so later values overwrite the surplus.  Two
// 16-byte stores (a 32-byte one, where AVX2 has it, measured no faster: it
// crosses a cache line more often).
inline void widen16_over(const std::int8_t* src, std::int16_t* dst) noexcept {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), _mm_srai_epi16(_mm_unpacklo_epi8(v, v), 8));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 8), _mm_srai_epi16(_mm_unpackhi_epi8(v, v), 8));
}
#endif

// Bytes a tile's im2col may write past its last row (conv_int8_im2col_inside).
inline constexpr std::size_t conv_int8_im2col_overrun_bytes = 16 * sizeof(std::int16_t);

}  // namespace detail
}  // namespace qtl::kernels

#if QTL_CONV_INT8_IM2COL_VBMI
QTL_DETAIL_TARGET_BEGIN("avx512f,avx512bw,avx512vbmi")
namespace qtl::kernels::detail {

// The inside pixels' im2col rows in VPDPBUSD's form (a + 128), one VPERMB
// per pixel: the kernel rows' 16-byte runs (kernel_rows <= 4) side by side
// in a zmm, flipped, gathered into the row's k bytes, zeros up to k_padded
// (<= 64) and one store.  A first layer's 3x3x3 taps took 6 overlapping
// 8-byte copies per row before (im2col 44 -> 14 us on 224x224x3 stride 2,
// AMD Zen 5).  Returns
// the pixels done: it stops before one whose reads would pass input_end.
inline std::size_t conv_int8_im2col_inside_vbmi(const std::int8_t* src, const std::int8_t* input_end,
                                                std::size_t pixels, std::size_t src_step, std::size_t row_pitch,
                                                std::size_t kernel_rows, const std::uint8_t* gather, std::size_t k,
                                                std::size_t k_padded, std::uint8_t* dst) noexcept {
    const auto low_bits = [](std::size_t n) { return n >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << n) - 1; };
    const __m512i index = _mm512_loadu_si512(gather);
    const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
    const __mmask64 taps = _cvtu64_mask64(low_bits(k)), row = _cvtu64_mask64(low_bits(k_padded));
    const std::size_t last_run = (kernel_rows - 1) * row_pitch;
    // A whole 64-byte store where what it writes past the row lands in the
    // next row (written after this one) or the tile's overrun bytes: masked
    // stores are slow on AMD Zen 4/5.
    const bool whole_stores = 64 - k_padded <= conv_int8_im2col_overrun_bytes;
    const auto rows_of = [&](auto kernel_rows_c) {
        constexpr std::size_t kernel_rows_n = decltype(kernel_rows_c)::value;
        std::size_t p = 0;
        for (; p < pixels && input_end - (src + last_run) >= 16; ++p, src += src_step, dst += k_padded) {
            __m512i runs = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src)));
            for (std::size_t ky = 1; ky < kernel_rows_n; ++ky)
                runs = _mm512_mask_broadcast_i32x4(
                    runs, static_cast<__mmask16>(0xFu << (4 * ky)),
                    _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + ky * row_pitch)));
            const __m512i bytes = _mm512_maskz_permutexvar_epi8(taps, index, _mm512_xor_si512(runs, flip));
            if (whole_stores)
                _mm512_storeu_si512(dst, bytes);
            else
                _mm512_mask_storeu_epi8(dst, row, bytes);
        }
        return p;
    };
    switch (kernel_rows) {
        case 1: return rows_of(std::integral_constant<std::size_t, 1>{});
        case 2: return rows_of(std::integral_constant<std::size_t, 2>{});
        case 3: return rows_of(std::integral_constant<std::size_t, 3>{});
        default: return rows_of(std::integral_constant<std::size_t, 4>{});
    }
}

}  // namespace qtl::kernels::detail
QTL_DETAIL_TARGET_END
#endif  // QTL_CONV_INT8_IM2COL_VBMI

namespace qtl::kernels {
namespace detail {

// im2col rows of `pixels` consecutive output pixels of one output row whose
// taps all lie inside the image, with dilation_width 1: each kernel row's
// taps are one contiguous input run.  `src` is the first pixel's top-left
// tap; the next pixel's is src_step further, the next kernel row's
// row_pitch.  A loop of its own so that the per-pixel bookkeeping of the
// general case (coordinates, bounds) stays out of the way: first layers
// (runs of 9) spent most of their im2col time there.
//
// int16 runs of at most 16 (first layers: 3x3 taps x 3 channels) are
// widened 16 at a time, in order: each run overwrites the surplus of the one
// before, the padding is zeroed after the last, and what passes the row
// (at most 16 values) lands in the next row, written after this one, or,
// for a tile's last row, in the conv_int8_im2col_overrun_bytes the scratch
// keeps past its rows.  The 16-byte reads stay before input_end.
template <class AElem>
void conv_int8_im2col_inside(const std::int8_t* src, const std::int8_t* input_end, std::size_t pixels,
                             std::size_t src_step, std::size_t row_pitch, std::size_t kernel_rows, std::size_t run,
                             std::size_t k, std::size_t k_padded, const std::uint8_t* gather, AElem* dst) noexcept {
    std::size_t p = 0;
#if QTL_CONV_INT8_IM2COL_VBMI
    if constexpr (std::is_same_v<AElem, std::uint8_t>) {
        if (gather) {
            p = conv_int8_im2col_inside_vbmi(src, input_end, pixels, src_step, row_pitch, kernel_rows, gather, k,
                                             k_padded, dst);
            src += p * src_step;
            dst += p * k_padded;
        }
    }
#endif
#if defined(__SSE2__)
    if constexpr (std::is_same_v<AElem, std::int16_t>) {
        const std::size_t last_run = (kernel_rows - 1) * row_pitch;
        // The padding (k-groups of 2, their count rounded up to the one-row
        // kernel's unroll of 4: at most 7 values, 5 for a 3x3x3 first
        // layer) as 8 zeros, inside the same surplus; a loop here would
        // compile to a memset call per row.  (Only padding under 2 took this
        // path before, which left first layers on the general loop: 224x224x3
        // -> 32 on AMD Zen 1, 1020-1044 -> 969-1002 us in all.)
        if (run <= 16 && k_padded - k <= 8)
            for (; p < pixels && input_end - (src + last_run) >= 16; ++p, src += src_step, dst += k_padded) {
                const std::int8_t* tap = src;
                AElem* to = dst;
                for (std::size_t ky = 0; ky < kernel_rows; ++ky, tap += row_pitch, to += run) widen16_over(tap, to);
                _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + k), _mm_setzero_si128());
            }
    }
#endif
    for (; p < pixels; ++p, src += src_step, dst += k_padded) {
        zero_row_padding(dst, k, k_padded);  // first: it may store over [0, k)
        const std::int8_t* tap = src;
        AElem* to = dst;
        for (std::size_t ky = 0; ky < kernel_rows; ++ky, tap += row_pitch, to += run) to_kernel_form(tap, run, to);
    }
}

}  // namespace detail

inline std::size_t conv_int8_packed::tile_bytes() const noexcept {
    return (tile_pixels * gemm.k_padded() * element_bytes() + detail::conv_int8_im2col_overrun_bytes + 63) / 64 * 64;
}

namespace detail {

// im2col rows for output pixels [first, first + count): row r holds pixel
// first + r's taps in [ky][kx][i] order (the filter's), then zeros up to
// k_padded.  `pad` is the input zero point in the kernel's form; `gather`,
// conv_int8_packed::im2col_gather where im2col_vbmi holds, else null.
template <class AElem>
void conv_int8_im2col(const conv_int8_shape& s, const std::int8_t* input, std::size_t first, std::size_t count,
                      std::size_t k_padded, AElem pad, AElem* out, const std::uint8_t* gather = nullptr) noexcept {
    const std::size_t c = s.channels, kw = s.kernel_width, k = s.taps();
    const std::size_t run = kw * c;  // one kernel row's taps
    const std::size_t image = s.height * s.width * c;
    const std::int8_t* input_end = input + s.batches * image;
    const auto h = std::ptrdiff_t(s.height), w = std::ptrdiff_t(s.width);
    const std::ptrdiff_t kernel_span_y = std::ptrdiff_t((s.kernel_height - 1) * s.dilation_height);
    // Output columns whose taps all lie inside horizontally: x0 >= 0 (ox >= first_inside)
    // and x0 + kw - 1 < w (ox <= last_inside); dilation 1 only.
    const std::ptrdiff_t sw = std::ptrdiff_t(s.stride_width), pad_left = std::ptrdiff_t(s.pad_left);
    const std::ptrdiff_t first_inside = (pad_left + sw - 1) / sw;
    const std::ptrdiff_t last_inside =
        w - std::ptrdiff_t(kw) + pad_left >= 0 ? (w - std::ptrdiff_t(kw) + pad_left) / sw : -1;
    std::size_t ox = first % s.out_width;
    std::size_t oy = first / s.out_width % s.out_height;
    std::size_t n = first / (s.out_width * s.out_height);
    for (std::size_t r = 0; r < count;) {
        AElem* dst = out + r * k_padded;
        const std::int8_t* in = input + n * image;
        const std::ptrdiff_t y0 = std::ptrdiff_t(oy * s.stride_height) - std::ptrdiff_t(s.pad_top);
        const std::ptrdiff_t x0 = std::ptrdiff_t(ox * s.stride_width) - std::ptrdiff_t(s.pad_left);
        std::size_t done = 1;
        if (s.dilation_width == 1 && y0 >= 0 && y0 + kernel_span_y < h && std::ptrdiff_t(ox) >= first_inside &&
            std::ptrdiff_t(ox) <= last_inside) {
            // The rest of this output row's inside pixels, within the tile.
            done = std::min({count - r, s.out_width - ox, std::size_t(last_inside - std::ptrdiff_t(ox)) + 1});
            conv_int8_im2col_inside(in + (std::size_t(y0) * s.width + std::size_t(x0)) * c, input_end, done,
                                    s.stride_width * c, s.dilation_height * s.width * c, s.kernel_height, run, k,
                                    k_padded, gather, dst);
        } else {
            zero_row_padding(dst, k, k_padded);  // first: it may store over [0, k)
            const std::ptrdiff_t x_last = x0 + std::ptrdiff_t((kw - 1) * s.dilation_width);
            // Pixels with dilation 1 whose kernel rows lie inside horizontally: one contiguous run each.
            const bool contiguous = s.dilation_width == 1 && x0 >= 0 && x_last < w;
            for (std::size_t ky = 0; ky < s.kernel_height; ++ky, dst += run) {
                const std::ptrdiff_t y = y0 + std::ptrdiff_t(ky * s.dilation_height);
                if (y < 0 || y >= h) {
                    std::fill(dst, dst + run, pad);
                    continue;
                }
                const std::int8_t* row = in + std::size_t(y) * s.width * c;
                if (contiguous) {
                    to_kernel_form(row + std::size_t(x0) * c, run, dst);
                    continue;
                }
                for (std::size_t kx = 0; kx < kw; ++kx) {
                    const std::ptrdiff_t x = x0 + std::ptrdiff_t(kx * s.dilation_width);
                    if (x < 0 || x >= w)
                        std::fill(dst + kx * c, dst + (kx + 1) * c, pad);
                    else
                        to_kernel_form(row + std::size_t(x) * c, c, dst + kx * c);
                }
            }
        }
        r += done;
        ox += done;
        if (ox == s.out_width) {
            ox = 0;
            if (++oy == s.out_height) {
                oy = 0;
                ++n;
            }
        }
    }
}

// The VPERMB im2col's gather table when this CPU can run it, else null.
inline const std::uint8_t* im2col_gather_of(const conv_int8_packed& p) noexcept {
    if (!p.im2col_vbmi) return nullptr;
    const cpu_features& f = host_cpu_features();
    return f.avx512f && f.avx512bw && f.avx512_vbmi ? p.im2col_gather.data() : nullptr;
}

// Tiles [tile_begin, tile_end) with one thread's scratch.
template <class Policy, bool Emulated>
void conv_int8_tiles(const conv_int8_packed& p, const std::int8_t* input, std::int8_t* output, std::byte* scratch,
                     std::size_t tile_begin, std::size_t tile_end) {
    const gemm_int8_packed& g = p.gemm;
    const std::size_t pixels = p.shape.out_pixels(), k_padded = g.k_padded();
    for (std::size_t t = tile_begin; t < tile_end; ++t) {
        const std::size_t first = t * p.tile_pixels, count = std::min(p.tile_pixels, pixels - first);
        if (g.geometry.a_int16)  // VPMADDWD: the value itself (a_offset 0)
            conv_int8_im2col(p.shape, input, first, count, k_padded, static_cast<std::int16_t>(g.input_zero_point),
                             reinterpret_cast<std::int16_t*>(scratch));
        else  // VPDPBUSD layout: a + 128
            conv_int8_im2col(p.shape, input, first, count, k_padded,
                             static_cast<std::uint8_t>(g.input_zero_point + 128),
                             reinterpret_cast<std::uint8_t*>(scratch), im2col_gather_of(p));
        gemm_int8_run_blocks<Policy, Emulated>(g, scratch, count, output + first * g.n, g.n, 0, g.blocks);
    }
}

// The in-place path's padded image of one input image: input rows
// [-pad_top, padded_height - pad_top) and columns [-pad_left, padded_width -
// pad_left) in VPDPBUSD's form (a + 128), the input zero point outside it.
inline void conv_int8_pad_image(const conv_int8_packed& p, const std::int8_t* image, std::uint8_t* padded) noexcept {
    const conv_int8_shape& s = p.shape;
    const std::size_t c = s.channels, row_bytes = p.padded_width * c;
    const auto pad = static_cast<std::uint8_t>(p.gemm.input_zero_point + 128);
    // Padded columns [x_begin, x_end) hold input pixels 0, 1, ...
    const std::size_t x_begin = std::min(s.pad_left, p.padded_width);
    const std::size_t x_end = std::max(x_begin, std::min(p.padded_width, s.pad_left + s.width));
    for (std::size_t py = 0; py < p.padded_height; ++py, padded += row_bytes) {
        const std::ptrdiff_t y = std::ptrdiff_t(py) - std::ptrdiff_t(s.pad_top);
        if (y < 0 || y >= std::ptrdiff_t(s.height)) {
            std::memset(padded, pad, row_bytes);
            continue;
        }
        std::memset(padded, pad, x_begin * c);
        to_kernel_form(image + std::size_t(y) * s.width * c, (x_end - x_begin) * c, padded + x_begin * c);
        std::memset(padded + x_end * c, pad, (p.padded_width - x_end) * c);
    }
}

// The tiles of one image's output pixels, `tile_pixels` at a time.
inline std::size_t conv_int8_image_tiles(const conv_int8_packed& p) noexcept {
    const std::size_t pixels = p.shape.out_height * p.shape.out_width;
    return (pixels + p.tile_pixels - 1) / p.tile_pixels;
}

#if QTL_GEMM_INT8_AVX512_VNNI
// Tiles [tile_begin, tile_end) of image n (conv_int8_image_tiles) on the
// in-place path, from its padded image: whole kernel tiles read the taps
// there; the image's last pixels that fill no whole tile take im2col rows
// in scratch.
template <class Policy>
void conv_int8_tiles_in_place(const conv_int8_packed& p, const std::uint8_t* padded, const std::int8_t* input,
                              std::size_t n, std::int8_t* output, std::byte* scratch, std::size_t tile_begin,
                              std::size_t tile_end) {
    const gemm_int8_packed& g = p.gemm;
    const conv_int8_shape& s = p.shape;
    const std::size_t pixels = s.out_height * s.out_width, rows = std::size_t(g.geometry.tile_rows);
    const std::size_t first = std::min(pixels, tile_begin * p.tile_pixels);
    const std::size_t count = std::min(pixels, tile_end * p.tile_pixels) - first;
    const std::size_t whole = count / rows * rows;  // all but the image's last few pixels
    std::int8_t* out = output + (n * pixels + first) * g.n;
    const gemm_int8_pixel_grid grid{padded, s.out_width, s.stride_height * p.padded_width * s.channels,
                                    s.stride_width * s.channels, p.tap_offsets.data()};
    if (whole > 0) avx512_vnni::gemm_int8_grid_blocks_avx512_vnni<Policy>(g, grid, first, whole, p.tile_pixels, out, g.n);
    if (whole == count) return;
    conv_int8_im2col(s, input, n * pixels + first + whole, count - whole, g.k_padded(),
                     static_cast<std::uint8_t>(g.input_zero_point + 128), reinterpret_cast<std::uint8_t*>(scratch),
                     im2col_gather_of(p));
    gemm_int8_run_blocks<Policy, false>(g, scratch, count - whole, out + whole * g.n, g.n, 0, g.blocks);
}
#endif

// Runs f(thread, begin, end) over `tiles` tiles split into `threads`
// contiguous ranges, the calling thread taking the first.
template <class F>
void conv_int8_split(std::size_t threads, std::size_t tiles, F&& f) {
    if (threads <= 1) return f(std::size_t{0}, std::size_t{0}, tiles);
    const auto first_tile = [&](std::size_t t) { return tiles * t / threads; };
    std::vector<std::thread> workers;
    workers.reserve(threads - 1);
    for (std::size_t t = 1; t < threads; ++t) workers.emplace_back([&, t] { f(t, first_tile(t), first_tile(t + 1)); });
    f(std::size_t{0}, std::size_t{0}, first_tile(1));
    for (auto& w : workers) w.join();
}

}  // namespace detail

// Validates the spec (qtl::error naming "conv_int8") and packs the weights
// for `isa`'s kernel.
inline conv_int8_packed pack_conv_int8(const conv_int8_spec& spec, gemm_int8_isa isa) {
    detail::validate_conv_int8_shape(spec.shape);
    gemm_int8_spec g;
    g.k = spec.shape.taps();
    g.n = spec.out_channels;
    g.weights = spec.weights;
    g.bias = spec.bias;
    g.input_zero_point = spec.input_zero_point;
    g.multipliers = spec.multipliers;
    g.output = spec.output;
    conv_int8_packed p;
    p.shape = spec.shape;
    p.gemm = pack_gemm_int8(g, isa);  // validates weights, bias, zero points, multipliers
    // The im2col writes the two activation forms the kernels have.
    const gemm_int8_geometry& geo = p.gemm.geometry;
    check(geo.a_offset == (geo.a_int16 ? 0 : 128), "conv_int8", "unexpected activation offset ", geo.a_offset,
          " for the ", to_string(isa), " kernel");
    const std::size_t row_bytes = p.gemm.k_padded() * p.element_bytes();
    const std::size_t rows = std::size_t(geo.tile_rows);
    const std::size_t budget = conv_int8_tile_target_bytes - detail::conv_int8_im2col_overrun_bytes;
    std::size_t tile = std::max(budget / row_bytes / rows, std::size_t{1}) * rows;
    p.tile_pixels = std::min(tile, spec.shape.out_pixels());

    // The VPERMB im2col: kernel rows of dilation 1 whose taps fit a 16-byte
    // run each, at most four of them, rows of at most 64 bytes.
    const conv_int8_shape& s = spec.shape;
    const std::size_t run = s.kernel_width * s.channels;
    p.im2col_vbmi = QTL_CONV_INT8_IM2COL_VBMI && !geo.a_int16 && s.dilation_width == 1 && s.kernel_height <= 4 &&
                    run <= 16 && p.gemm.k_padded() <= 64;
    if (p.im2col_vbmi)
        for (std::size_t j = 0; j < s.taps(); ++j) p.im2col_gather[j] = static_cast<std::uint8_t>(j / run * 16 + j % run);

    // In place (conv_int8_packed::in_place): the kernel whose tiles defer
    // their requantization (6 x 4 zmm, at least 24 k-groups), every column
    // block full, and k-groups of consecutive bytes of the padded image:
    // four channels of one tap, or (dilation 1) a kernel row's contiguous run.
    const std::size_t kgroup = std::size_t(geo.kgroup), c = s.channels;
    const std::size_t tile_k_groups = (s.taps() + kgroup - 1) / kgroup;
    const bool whole_groups = c % kgroup == 0 || (s.dilation_width == 1 && run % kgroup == 0);
    const std::size_t padded_height = (s.out_height - 1) * s.stride_height + (s.kernel_height - 1) * s.dilation_height + 1;
    const std::size_t padded_width = (s.out_width - 1) * s.stride_width + (s.kernel_width - 1) * s.dilation_width + 1;
    const bool offsets_fit = double(padded_height) * double(padded_width) * double(c) < 4294967296.0 - 64;
    if (isa == gemm_int8_isa::avx512_vnni && whole_groups && offsets_fit &&
        spec.out_channels % p.gemm.block_columns() == 0 &&
        tile_k_groups >= std::size_t(geo.tile_rows) * std::size_t(geo.block_vectors)) {
        p.in_place = true;
        p.padded_height = padded_height;
        p.padded_width = padded_width;
        p.tap_offsets.resize(tile_k_groups);
        for (std::size_t g = 0; g < tile_k_groups; ++g) {
            const std::size_t k = g * kgroup, ky = k / run, kx = k % run / c, channel = k % c;
            p.tap_offsets[g] = static_cast<std::uint32_t>(
                (ky * s.dilation_height * padded_width + kx * s.dilation_width) * c + channel);
        }
    }
    return p;
}

// Packs for the best kernel this machine runs.
inline conv_int8_packed pack_conv_int8(const conv_int8_spec& spec) {
    return pack_conv_int8(spec, best_gemm_int8_isa());
}

struct conv_int8_options {
    // Tiles are split over this many threads (std::thread, started per call);
    // results do not depend on it.
    unsigned threads = 1;
    // At least conv_int8_scratch_bytes(packed, threads) bytes, 64-byte
    // aligned.  Empty: a buffer per calling thread (shared with gemm_int8),
    // grown on demand and reused, so steady-state calls allocate nothing
    // (with threads = 1; more threads allocate their std::thread objects).
    std::span<std::byte> scratch = {};
};

// The threads actually used: no more than there are tiles.
inline std::size_t conv_int8_threads(const conv_int8_packed& packed, unsigned threads) noexcept {
    return std::max<std::size_t>(1, std::min<std::size_t>(threads, packed.tiles()));
}

inline std::size_t conv_int8_scratch_bytes(const conv_int8_packed& packed, unsigned threads = 1) noexcept {
    return packed.padded_bytes() + conv_int8_threads(packed, threads) * packed.tile_bytes();
}

namespace detail {

template <class Policy, bool Emulated>
void conv_int8_with(const conv_int8_packed& p, std::span<const std::int8_t> input, std::span<std::int8_t> output,
                    const conv_int8_options& options) {
    const char* where = "conv_int8";
    check(p.tile_pixels > 0 && !p.gemm.weights.empty(), where, "the packed weights are empty (pack_conv_int8 first)");
    const conv_int8_shape& s = p.shape;
    const std::size_t in_size = s.batches * s.height * s.width * s.channels;
    const std::size_t out_size = s.out_pixels() * p.gemm.n;
    check(input.size() == in_size, where, "input must hold N*H*W*I = ", in_size, " values, got ", input.size());
    check(output.size() == out_size, where, "output must hold N*OH*OW*O = ", out_size, " values, got ",
          output.size());
    check(options.threads >= 1, where, "threads must be >= 1, got 0");
    const std::size_t threads = conv_int8_threads(p, options.threads);
    const std::size_t bytes = conv_int8_scratch_bytes(p, unsigned(threads));
    std::byte* scratch = nullptr;
    if (options.scratch.empty()) {
        auto& buffer = gemm_int8_thread_scratch();
        if (buffer.size() < bytes) buffer.resize(bytes);
        scratch = buffer.data();
    } else {
        check(options.scratch.size() >= bytes, where, "scratch must hold ", bytes, " bytes for ", threads,
              " thread(s), got ", options.scratch.size());
        check(reinterpret_cast<std::uintptr_t>(options.scratch.data()) % 64 == 0, where,
              "scratch must be 64-byte aligned");
        scratch = options.scratch.data();
    }

    // [padded image (in place only)][one tile of im2col rows per thread]
    std::byte* tiles_scratch = scratch + p.padded_bytes();
#if QTL_GEMM_INT8_AVX512_VNNI
    if constexpr (!Emulated) {
        if (p.in_place && p.gemm.isa == gemm_int8_isa::avx512_vnni &&
            avx512_vnni::gemm_int8_grid_applies_avx512_vnni<Policy>(p.gemm)) {
            auto* padded = reinterpret_cast<std::uint8_t*>(scratch);
            const std::size_t image = s.height * s.width * s.channels;
            for (std::size_t n = 0; n < s.batches; ++n) {
                conv_int8_pad_image(p, input.data() + n * image, padded);
                conv_int8_split(threads, conv_int8_image_tiles(p), [&](std::size_t t, std::size_t b, std::size_t e) {
                    conv_int8_tiles_in_place<Policy>(p, padded, input.data(), n, output.data(),
                                                     tiles_scratch + t * p.tile_bytes(), b, e);
                });
            }
            return;
        }
    }
#endif
    conv_int8_split(threads, p.tiles(), [&](std::size_t t, std::size_t b, std::size_t e) {
        conv_int8_tiles<Policy, Emulated>(p, input.data(), output.data(), tiles_scratch + t * p.tile_bytes(), b, e);
    });
}

}  // namespace detail

// output [N, OH, OW, O] from input [N, H, W, I], both NHWC int8.  Throws
// qtl::error when the packing's kernel cannot run on this CPU, on sizes
// other than the packed shape's, or on bad scratch.  The multipliers must
// come from quantize_multiplier<Policy>.
template <rounding_policy Policy = double_rounding>
void conv_int8(const conv_int8_packed& packed, std::span<const std::int8_t> input, std::span<std::int8_t> output,
               const conv_int8_options& options = {}) {
    check(gemm_int8_isa_supported(packed.gemm.isa), "conv_int8", "the weights are packed for the ",
          to_string(packed.gemm.isa), " kernel, which this ",
          gemm_int8_isa_compiled(packed.gemm.isa) ? "CPU cannot run" : "build does not contain",
          " (pack for best_gemm_int8_isa())");
    detail::conv_int8_with<Policy, false>(packed, input, output, options);
}

// The portable code replaying packed's kernel (see gemm_int8_emulated): for
// tests of a kernel's layout and tails on machines without its instructions.
template <rounding_policy Policy = double_rounding>
void conv_int8_emulated(const conv_int8_packed& packed, std::span<const std::int8_t> input,
                        std::span<std::int8_t> output, const conv_int8_options& options = {}) {
    detail::conv_int8_with<Policy, true>(packed, input, output, options);
}

#if defined(QTL_KERNEL_INSTANCE)  // compiled once with the executors (qtl/core/extern_executors.hpp)
QTL_KERNEL_INSTANCE void conv_int8<double_rounding>(const conv_int8_packed&, std::span<const std::int8_t>,
                                                    std::span<std::int8_t>, const conv_int8_options&);
QTL_KERNEL_INSTANCE void conv_int8<single_rounding>(const conv_int8_packed&, std::span<const std::int8_t>,
                                                    std::span<std::int8_t>, const conv_int8_options&);
#endif

}  // namespace qtl::kernels
