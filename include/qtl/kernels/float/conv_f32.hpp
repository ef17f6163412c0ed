#pragma once
// Float CONV_2D (NHWC input, TFLite's [out, kh, kw, in] filter), TFLite
// semantics: stride, dilation, SAME/VALID padding (taps outside the input
// read 0), bias, fused clamp.
//
// The filter is exactly a [out, kh*kw*in] GEMM weight matrix, packed once.
// Each call lowers a chunk of output pixels to rows of (kh, kw, in) input
// values (im2col, in a per-thread buffer that stays in cache) and runs the
// register-blocked float GEMM on it; a 1x1 stride-1 convolution is the GEMM
// on the input itself.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <string>

#include "qtl/core/error.hpp"
#include "qtl/kernels/float/gemm_f32.hpp"
#include "qtl/ops/padding.hpp"

namespace qtl::kernels {

struct conv_f32_params {
    std::int32_t batch = 1, input_height = 1, input_width = 1, input_channels = 1;
    std::int32_t output_channels = 1, filter_height = 1, filter_width = 1;
    std::int32_t stride_height = 1, stride_width = 1;
    std::int32_t dilation_height = 1, dilation_width = 1;
    ops::padding padding = ops::padding::valid;
    float lo = -std::numeric_limits<float>::infinity();
    float hi = std::numeric_limits<float>::infinity();
};

struct conv_f32_packed {
    conv_f32_params params;
    ops::padded_window window;
    gemm_f32_packed gemm;  // [output_channels, filter_height * filter_width * input_channels]
    bool pointwise = false;  // 1x1, stride 1: the input rows are the GEMM rows

    std::size_t output_size() const noexcept {
        return std::size_t(params.batch) * std::size_t(window.height.output_size) *
               std::size_t(window.width.output_size) * std::size_t(params.output_channels);
    }
};

// filter: [out, kh, kw, in] floats; bias: out floats or empty.
inline conv_f32_packed pack_conv_f32(const conv_f32_params& p, std::span<const float> filter,
                                     std::span<const float> bias, float_isa isa = best_float_isa(),
                                     const std::string& where = "conv_f32") {
    check(p.batch >= 1 && p.input_channels >= 1 && p.output_channels >= 1, where,
          "batch, input and output channels must be >= 1, got ", p.batch, ", ", p.input_channels, ", ",
          p.output_channels);
    conv_f32_packed r;
    r.params = p;
    r.window = ops::compute_padding({p.filter_height, p.filter_width, p.stride_height, p.stride_width,
                                     p.dilation_height, p.dilation_width, p.padding},
                                    p.input_height, p.input_width, where);
    const std::size_t k = std::size_t(p.filter_height) * std::size_t(p.filter_width) * std::size_t(p.input_channels);
    check(filter.size() == std::size_t(p.output_channels) * k, where, "filter holds ", filter.size(),
          " floats, expected ", p.output_channels, " x ", p.filter_height, " x ", p.filter_width, " x ",
          p.input_channels);
    r.gemm = pack_gemm_f32(filter, std::size_t(p.output_channels), k, bias, p.lo, p.hi, isa);
    r.pointwise = p.filter_height == 1 && p.filter_width == 1 && p.stride_height == 1 && p.stride_width == 1;
    return r;
}

namespace detail {

inline float_buffer& conv_f32_thread_scratch() {
    thread_local float_buffer buffer;
    return buffer;
}

}  // namespace detail

// input: [batch, in_h, in_w, in_c]; output: [batch, out_h, out_w, out_c].
inline void conv_f32(const conv_f32_packed& c, const float* input, float* output) {
    const conv_f32_params& p = c.params;
    const std::size_t oc = std::size_t(p.output_channels), ic = std::size_t(p.input_channels);
    const std::int32_t oh = c.window.height.output_size, ow = c.window.width.output_size;
    if (c.pointwise) {  // 1x1 stride 1: padding is 0 and every output pixel is its input pixel
        gemm_f32(c.gemm, input, std::size_t(p.batch) * std::size_t(oh) * std::size_t(ow), ic, output, oc);
        return;
    }
    const std::size_t k = c.gemm.k;
    const std::size_t pixels = std::size_t(oh) * std::size_t(ow);
    // ~192 KiB of im2col rows per chunk, a multiple of the 6-row tile.
    const std::size_t chunk = std::max<std::size_t>(6, (std::size_t{48} * 1024 / k) / 6 * 6);
    float_buffer& rows = detail::conv_f32_thread_scratch();
    if (rows.size() < chunk * k) rows.resize(chunk * k);
    const std::size_t row_bytes = ic * sizeof(float);
    for (std::int32_t b = 0; b < p.batch; ++b) {
        const float* image = input + std::size_t(b) * std::size_t(p.input_height) * std::size_t(p.input_width) * ic;
        float* out_image = output + std::size_t(b) * pixels * oc;
        for (std::size_t first = 0; first < pixels; first += chunk) {
            const std::size_t count = std::min(chunk, pixels - first);
            for (std::size_t i = 0; i < count; ++i) {
                const auto oy = std::int32_t((first + i) / std::size_t(ow)), ox = std::int32_t((first + i) % std::size_t(ow));
                const std::int32_t y0 = oy * p.stride_height - c.window.height.before;
                const std::int32_t x0 = ox * p.stride_width - c.window.width.before;
                float* row = rows.data() + i * k;
                for (std::int32_t fy = 0; fy < p.filter_height; ++fy) {
                    const std::int32_t iy = y0 + fy * p.dilation_height;
                    for (std::int32_t fx = 0; fx < p.filter_width; ++fx, row += ic) {
                        const std::int32_t ix = x0 + fx * p.dilation_width;
                        if (iy < 0 || iy >= p.input_height || ix < 0 || ix >= p.input_width)
                            std::fill(row, row + ic, 0.0f);
                        else
                            std::memcpy(row, image + (std::size_t(iy) * std::size_t(p.input_width) + std::size_t(ix)) * ic,
                                        row_bytes);
                    }
                }
            }
            gemm_f32(c.gemm, rows.data(), count, k, out_image + first * oc, oc);
        }
    }
}

}  // namespace qtl::kernels
