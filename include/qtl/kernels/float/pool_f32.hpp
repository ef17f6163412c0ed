#pragma once
// Float AVERAGE_POOL_2D and MAX_POOL_2D, TFLite semantics: NHWC, SAME/VALID
// padding, window taps outside the input are left out (the average divides by
// the number of in-bounds taps), fused clamp.  Channels are the inner loop,
// contiguous in input and output, which the compiler vectorizes.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "qtl/core/error.hpp"
#include "qtl/ops/padding.hpp"

namespace qtl::kernels {

enum class pool_f32_kind { average, max };

struct pool_f32_params {
    pool_f32_kind kind = pool_f32_kind::average;
    std::int32_t batch = 1, input_height = 1, input_width = 1, channels = 1;
    std::int32_t filter_height = 1, filter_width = 1, stride_height = 1, stride_width = 1;
    ops::padding padding = ops::padding::valid;
    float lo = -std::numeric_limits<float>::infinity();
    float hi = std::numeric_limits<float>::infinity();
};

struct pool_f32_prepared {
    pool_f32_params params;
    ops::padded_window window;
};

inline pool_f32_prepared prepare_pool_f32(const pool_f32_params& p, const std::string& where = "pool_f32") {
    check(p.batch >= 1 && p.channels >= 1, where, "batch and channels must be >= 1, got ", p.batch, ", ", p.channels);
    check(!(p.lo > p.hi), where, "clamp range [", p.lo, ", ", p.hi, "] is empty");
    return {p, ops::compute_padding({p.filter_height, p.filter_width, p.stride_height, p.stride_width, 1, 1, p.padding},
                                    p.input_height, p.input_width, where)};
}

// input [batch, in_h, in_w, C] -> output [batch, out_h, out_w, C].
inline void pool_f32(const pool_f32_prepared& pp, const float* input, float* output) {
    const pool_f32_params& p = pp.params;
    const std::size_t c = std::size_t(p.channels);
    const bool is_max = p.kind == pool_f32_kind::max;
    std::vector<float> acc(c);
    float* out = output;
    for (std::int32_t b = 0; b < p.batch; ++b) {
        const float* image = input + std::size_t(b) * std::size_t(p.input_height) * std::size_t(p.input_width) * c;
        for (std::int32_t oy = 0; oy < pp.window.height.output_size; ++oy)
            for (std::int32_t ox = 0; ox < pp.window.width.output_size; ++ox, out += c) {
                const ops::clipped_window w = ops::clip_window(oy, ox, p.stride_height, p.stride_width, pp.window,
                                                               p.filter_height, p.filter_width, p.input_height,
                                                               p.input_width);
                std::fill(acc.begin(), acc.end(), is_max ? -std::numeric_limits<float>::infinity() : 0.0f);
                float* a = acc.data();
                for (std::int32_t fy = w.y_start; fy < w.y_end; ++fy)
                    for (std::int32_t fx = w.x_start; fx < w.x_end; ++fx) {
                        const float* x = image + (std::size_t(w.in_y0 + fy) * std::size_t(p.input_width) +
                                                  std::size_t(w.in_x0 + fx)) * c;
                        if (is_max)
                            for (std::size_t i = 0; i < c; ++i) a[i] = std::max(a[i], x[i]);
                        else
                            for (std::size_t i = 0; i < c; ++i) a[i] += x[i];
                    }
                // An all-padding window (impossible with TFLite's padding) gives 0 rather than inf/nan.
                const int count = w.count();
                for (std::size_t i = 0; i < c; ++i) {
                    const float v = count == 0 ? 0.0f : (is_max ? a[i] : a[i] / float(count));
                    out[i] = std::min(std::max(v, p.lo), p.hi);
                }
            }
    }
}

}  // namespace qtl::kernels
