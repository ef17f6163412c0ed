#pragma once
// Output size and padding of a sliding 2-D window (CONV_2D, DEPTHWISE_CONV_2D,
// AVERAGE_POOL_2D, MAX_POOL_2D), computed as TFLite's ComputePaddingHeightWidth:
//
//   effective filter = (filter - 1) * dilation + 1
//   SAME : out = ceil(in / stride)                  (dilation plays no part)
//   VALID: out = floor((in - effective) / stride) + 1
//   total padding = max(0, (out - 1) * stride + effective - in)
//   before = total / 2 (top / left), after = total - before
//
// so an odd total puts the extra pixel at the bottom / right.  Kernels only
// use `before`: window taps that fall outside the input are skipped, which is
// padding with the real value 0 (and, for pooling, leaves them out of the
// average's count).

#include <algorithm>
#include <cstdint>
#include <string>

#include "qtl/core/error.hpp"

namespace qtl::ops {

// Values are the schema's Padding enum.
enum class padding : std::int8_t { same = 0, valid = 1 };

// The window over the height and width of an NHWC tensor.
struct window_2d {
    std::int32_t filter_height = 1;
    std::int32_t filter_width = 1;
    std::int32_t stride_height = 1;
    std::int32_t stride_width = 1;
    std::int32_t dilation_height = 1;
    std::int32_t dilation_width = 1;
    qtl::ops::padding padding = padding::valid;
};

// One spatial axis: output size and the padding on either side.
struct padded_axis {
    std::int32_t output_size = 0;
    std::int32_t before = 0;  // top or left: the kernels' pad_height / pad_width
    std::int32_t after = 0;   // bottom or right

    friend bool operator==(const padded_axis&, const padded_axis&) = default;
};

struct padded_window {
    padded_axis height;
    padded_axis width;

    friend bool operator==(const padded_window&, const padded_window&) = default;
};

namespace detail {

// Every size is kept below 2^29 so that the kernels' int arithmetic
// (origin + dilation * tap, with origin = out * stride - before) stays far
// from overflow.
inline constexpr std::int64_t max_window_extent = std::int64_t{1} << 29;

}  // namespace detail

// One axis; throws qtl::error (naming `where` and the axis) on sizes or
// strides < 1, absurdly large sizes, or an empty output (a VALID window
// larger than the input).
inline padded_axis compute_padded_axis(padding pad, std::int32_t input_size, std::int32_t filter_size,
                                       std::int32_t stride, std::int32_t dilation, const std::string& where,
                                       const char* axis) {
    using detail::max_window_extent;
    check(pad == padding::same || pad == padding::valid, where, "padding must be SAME (0) or VALID (1), got ",
          int(pad));
    check(stride >= 1, where, "stride ", axis, " must be >= 1, got ", stride);
    check(dilation >= 1, where, "dilation ", axis, " must be >= 1, got ", dilation);
    check(filter_size >= 1, where, "filter ", axis, " must be >= 1, got ", filter_size);
    check(input_size >= 1, where, "input ", axis, " must be >= 1, got ", input_size);
    const std::int64_t effective = std::int64_t{filter_size - 1} * dilation + 1;
    check(input_size < max_window_extent && effective < max_window_extent && stride < max_window_extent, where,
          "input ", axis, " ", input_size, ", effective filter ", axis, " ", effective, " and stride ", stride,
          " must each be < 2^29");
    const std::int64_t out = pad == padding::same ? (input_size + std::int64_t{stride} - 1) / stride
                                                  : (input_size - effective + stride) / stride;
    check(out >= 1, where, "VALID padding with effective filter ", axis, " ", effective, " (filter ", filter_size,
          ", dilation ", dilation, ") larger than the input ", axis, " ", input_size, " gives an empty output");
    std::int64_t total = (out - 1) * stride + effective - input_size;
    if (total < 0) total = 0;
    return {static_cast<std::int32_t>(out), static_cast<std::int32_t>(total / 2),
            static_cast<std::int32_t>(total - total / 2)};
}

// Both axes of an NHWC input of the given height and width.
inline padded_window compute_padding(const window_2d& w, std::int32_t input_height, std::int32_t input_width,
                                     const std::string& where) {
    return {compute_padded_axis(w.padding, input_height, w.filter_height, w.stride_height, w.dilation_height, where,
                                "height"),
            compute_padded_axis(w.padding, input_width, w.filter_width, w.stride_width, w.dilation_width, where,
                                "width")};
}

// Zero padding in front of a windowed op, as a PAD operator (padding with
// the input's zero point) before it would add: the window is laid on the
// input grown by these, and taps that fall in them are skipped like the
// window's own padding, which is the same sum (w * (zp - zp) = 0).  This is
// how qtl::tflite::executor folds a PAD into the CONV_2D or
// DEPTHWISE_CONV_2D after it.
struct input_padding {
    std::int32_t top = 0, bottom = 0, left = 0, right = 0;

    friend bool operator==(const input_padding&, const input_padding&) = default;
};

// compute_padding on the input grown by `extra`, whose top and left then
// come before the window's own padding.
inline padded_window compute_padding(const window_2d& w, std::int32_t input_height, std::int32_t input_width,
                                     const input_padding& extra, const std::string& where) {
    check(extra.top >= 0 && extra.bottom >= 0 && extra.left >= 0 && extra.right >= 0, where,
          "input padding must be >= 0, got top ", extra.top, ", bottom ", extra.bottom, ", left ", extra.left,
          ", right ", extra.right);
    const std::int64_t height = std::int64_t{input_height} + extra.top + extra.bottom;
    const std::int64_t width = std::int64_t{input_width} + extra.left + extra.right;
    check(height < detail::max_window_extent && width < detail::max_window_extent, where,
          "input grown by its padding must be < 2^29 on each axis, got ", height, " x ", width);
    padded_window p = compute_padding(w, std::int32_t(height), std::int32_t(width), where);
    p.height.before += extra.top;
    p.height.after += extra.bottom;
    p.width.before += extra.left;
    p.width.after += extra.right;
    return p;
}

// The taps of an undilated window (pooling) that fall inside the input, for
// output (oy, ox): filter rows [y_start, y_end) and columns [x_start, x_end),
// tap (fy, fx) reading input (in_y0 + fy, in_x0 + fx), as TFLite's pooling
// kernels clamp their filter_*_start / filter_*_end.
struct clipped_window {
    std::int32_t in_y0 = 0, in_x0 = 0;
    std::int32_t y_start = 0, y_end = 0;
    std::int32_t x_start = 0, x_end = 0;

    std::int32_t count() const noexcept {
        return y_end > y_start && x_end > x_start ? (y_end - y_start) * (x_end - x_start) : 0;
    }
};

inline clipped_window clip_window(std::int32_t oy, std::int32_t ox, std::int32_t stride_height,
                                  std::int32_t stride_width, const padded_window& padding, std::int32_t filter_height,
                                  std::int32_t filter_width, std::int32_t input_height, std::int32_t input_width) {
    clipped_window w;
    w.in_y0 = oy * stride_height - padding.height.before;
    w.in_x0 = ox * stride_width - padding.width.before;
    w.y_start = w.in_y0 < 0 ? -w.in_y0 : 0;
    w.y_end = std::min(filter_height, input_height - w.in_y0);
    w.x_start = w.in_x0 < 0 ? -w.in_x0 : 0;
    w.x_end = std::min(filter_width, input_width - w.in_x0);
    return w;
}

}  // namespace qtl::ops
