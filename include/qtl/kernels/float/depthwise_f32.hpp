#pragma once
// Float DEPTHWISE_CONV_2D, TFLite semantics: NHWC input with C channels,
// filter [1, kh, kw, C * multiplier], output channel c * multiplier + m reads
// input channel c; stride, dilation, SAME/VALID padding (taps outside the
// input read 0), bias, fused clamp.
//
// prepare (pack_depthwise_f32): the filter rows and bias padded to whole
// vectors.  eval: the output pixels whose window lies inside the input run
// as one call per row over fixed tap offsets; border pixels get the list of
// their in-bounds taps.  Both go through one SIMD loop over channels with 4
// accumulators (depthwise_f32_microkernel.inl).
// A multiplier > 1 first repeats each input channel `multiplier` times (a
// per-thread buffer), so the kernel always reads input channel == output
// channel.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "qtl/core/error.hpp"
#include "qtl/detail/gcc_bug_105593.hpp"
#include "qtl/detail/target_region.hpp"
#include "qtl/kernels/float/simd_f32.hpp"
#include "qtl/ops/padding.hpp"

QTL_DETAIL_GCC_BUG_105593_BEGIN

namespace qtl::kernels {

struct depthwise_f32_params {
    std::int32_t batch = 1, input_height = 1, input_width = 1, input_channels = 1;
    std::int32_t multiplier = 1, filter_height = 1, filter_width = 1;
    std::int32_t stride_height = 1, stride_width = 1;
    std::int32_t dilation_height = 1, dilation_width = 1;
    ops::padding padding = ops::padding::valid;
    float lo = -std::numeric_limits<float>::infinity();
    float hi = std::numeric_limits<float>::infinity();
};

struct depthwise_f32_packed {
    depthwise_f32_params params;
    ops::padded_window window;
    float_isa isa = float_isa::portable;
    std::size_t channels = 0;  // output channels = input channels * multiplier
    std::size_t padded = 0;    // channels rounded up to a multiple of 8 floats
    float_buffer weights;      // [kh * kw][padded]
    float_buffer bias;         // [padded]

    std::size_t output_size() const noexcept {
        return std::size_t(params.batch) * std::size_t(window.height.output_size) *
               std::size_t(window.width.output_size) * channels;
    }
};

// filter: [1, kh, kw, C * multiplier] floats; bias: C * multiplier floats or empty.
inline depthwise_f32_packed pack_depthwise_f32(const depthwise_f32_params& p, std::span<const float> filter,
                                               std::span<const float> bias, float_isa isa = best_float_isa(),
                                               const std::string& where = "depthwise_f32") {
    check(p.batch >= 1 && p.input_channels >= 1 && p.multiplier >= 1, where,
          "batch, channels and multiplier must be >= 1, got ", p.batch, ", ", p.input_channels, ", ", p.multiplier);
    check(float_isa_supported(isa), where, "the ", to_string(isa), " kernel cannot run here");
    check(!(p.lo > p.hi), where, "clamp range [", p.lo, ", ", p.hi, "] is empty");
    depthwise_f32_packed r;
    r.params = p;
    r.isa = isa;
    r.window = ops::compute_padding({p.filter_height, p.filter_width, p.stride_height, p.stride_width,
                                     p.dilation_height, p.dilation_width, p.padding},
                                    p.input_height, p.input_width, where);
    r.channels = std::size_t(p.input_channels) * std::size_t(p.multiplier);
    r.padded = (r.channels + 7) / 8 * 8;
    const std::size_t taps = std::size_t(p.filter_height) * std::size_t(p.filter_width);
    check(filter.size() == taps * r.channels, where, "filter holds ", filter.size(), " floats, expected 1 x ",
          p.filter_height, " x ", p.filter_width, " x ", r.channels);
    check(bias.empty() || bias.size() == r.channels, where, "bias holds ", bias.size(), " floats, expected 0 or ",
          r.channels);
    r.weights.assign(taps * r.padded, 0.0f);
    r.bias.assign(r.padded, 0.0f);
    for (std::size_t t = 0; t < taps; ++t)
        std::copy(filter.begin() + std::ptrdiff_t(t * r.channels), filter.begin() + std::ptrdiff_t((t + 1) * r.channels),
                  r.weights.begin() + std::ptrdiff_t(t * r.padded));
    std::copy(bias.begin(), bias.end(), r.bias.begin());
    return r;
}

namespace f32_portable {
#include "qtl/kernels/float/detail/depthwise_f32_microkernel.inl"
}  // namespace f32_portable

#if QTL_FLOAT_KERNELS_AVX2
QTL_DETAIL_TARGET_BEGIN("avx2,fma")
namespace f32_avx2 {
#include "qtl/kernels/float/detail/depthwise_f32_microkernel.inl"
}  // namespace f32_avx2
QTL_DETAIL_TARGET_END
#endif

namespace detail {

inline float_buffer& depthwise_f32_thread_scratch() {
    thread_local float_buffer buffer;
    return buffer;
}

}  // namespace detail

// input: [batch, in_h, in_w, C]; output: [batch, out_h, out_w, C * multiplier].
inline void depthwise_f32(const depthwise_f32_packed& d, const float* input, float* output) {
    const depthwise_f32_params& p = d.params;
    check(d.weights.size() == std::size_t(p.filter_height) * std::size_t(p.filter_width) * d.padded, "depthwise_f32",
          "the packed filter is empty (pack_depthwise_f32 first)");
    const std::size_t channels = d.channels, mult = std::size_t(p.multiplier);
    const std::size_t in_pixels = std::size_t(p.input_height) * std::size_t(p.input_width);
    const float* source = input;
    if (mult > 1) {  // input channel c repeated at c * mult .. c * mult + mult - 1
        float_buffer& wide = detail::depthwise_f32_thread_scratch();
        const std::size_t total = std::size_t(p.batch) * in_pixels;
        if (wide.size() < total * channels) wide.resize(total * channels);
        const std::size_t ic = std::size_t(p.input_channels);
        for (std::size_t px = 0; px < total; ++px)
            for (std::size_t c = 0; c < ic; ++c)
                std::fill_n(wide.data() + px * channels + c * mult, mult, input[px * ic + c]);
        source = wide.data();
    }
    auto* pixels = &f32_portable::depthwise_f32_pixels;
#if QTL_FLOAT_KERNELS_AVX2
    if (d.isa == float_isa::avx2_fma) {
        check(float_isa_supported(d.isa), "depthwise_f32", "packed for avx2_fma, which this CPU cannot run");
        pixels = &f32_avx2::depthwise_f32_pixels;
    }
#endif
    const std::int32_t oh = d.window.height.output_size, ow = d.window.width.output_size;
    const std::int32_t fh = p.filter_height, fw = p.filter_width;
    const std::size_t all_taps = std::size_t(fh) * std::size_t(fw);
    const auto row_stride = static_cast<std::ptrdiff_t>(std::size_t(p.input_width) * channels);
    const auto chans = static_cast<std::ptrdiff_t>(channels);
    // Every tap of the window, relative to its top-left input pixel: what an
    // output pixel whose window lies inside the input reads.
    std::vector<std::ptrdiff_t> interior(all_taps);
    std::vector<const float*> interior_w(all_taps);
    for (std::int32_t fy = 0; fy < fh; ++fy)
        for (std::int32_t fx = 0; fx < fw; ++fx) {
            const std::size_t t = std::size_t(fy) * std::size_t(fw) + std::size_t(fx);
            interior[t] = fy * p.dilation_height * row_stride + fx * p.dilation_width * chans;
            interior_w[t] = d.weights.data() + t * d.padded;
        }
    // Output columns [x_first, x_last) have their whole window inside the input's width.
    const std::int32_t span_w = (fw - 1) * p.dilation_width;
    std::int32_t x_first = 0, x_last = 0;
    while (x_first < ow && x_first * p.stride_width - d.window.width.before < 0) ++x_first;
    x_last = x_first;
    while (x_last < ow && x_last * p.stride_width - d.window.width.before + span_w < p.input_width) ++x_last;
    std::vector<std::ptrdiff_t> edge(all_taps);
    std::vector<const float*> edge_w(all_taps);
    const auto step = std::size_t(p.stride_width) * channels;
    float* out = output;
    for (std::int32_t b = 0; b < p.batch; ++b) {
        const float* image = source + std::size_t(b) * in_pixels * channels;
        for (std::int32_t oy = 0; oy < oh; ++oy, out += std::size_t(ow) * channels) {
            const std::int32_t y0 = oy * p.stride_height - d.window.height.before;
            const bool rows_inside = y0 >= 0 && y0 + (fh - 1) * p.dilation_height < p.input_height;
            // One output pixel with its in-bounds taps only (padding reads 0).
            auto edge_pixel = [&](std::int32_t ox) {
                const std::int32_t x0 = ox * p.stride_width - d.window.width.before;
                std::size_t taps = 0;
                for (std::int32_t fy = 0; fy < fh; ++fy) {
                    const std::int32_t iy = y0 + fy * p.dilation_height;
                    if (iy < 0 || iy >= p.input_height) continue;
                    for (std::int32_t fx = 0; fx < fw; ++fx) {
                        const std::int32_t ix = x0 + fx * p.dilation_width;
                        if (ix < 0 || ix >= p.input_width) continue;
                        edge[taps] = iy * row_stride + ix * chans;
                        edge_w[taps] = interior_w[std::size_t(fy) * std::size_t(fw) + std::size_t(fx)];
                        ++taps;
                    }
                }
                pixels(image, 0, 1, edge.data(), edge_w.data(), taps, d.bias.data(), channels, p.lo, p.hi,
                       out + std::size_t(ox) * channels);
            };
            if (!rows_inside || x_first >= x_last) {
                for (std::int32_t ox = 0; ox < ow; ++ox) edge_pixel(ox);
                continue;
            }
            for (std::int32_t ox = 0; ox < x_first; ++ox) edge_pixel(ox);
            const float* first = image + y0 * row_stride + (x_first * p.stride_width - d.window.width.before) * chans;
            pixels(first, step, std::size_t(x_last - x_first), interior.data(), interior_w.data(), all_taps,
                   d.bias.data(), channels, p.lo, p.hi, out + std::size_t(x_first) * channels);
            for (std::int32_t ox = x_last; ox < ow; ++ox) edge_pixel(ox);
        }
    }
}

}  // namespace qtl::kernels

QTL_DETAIL_GCC_BUG_105593_END
