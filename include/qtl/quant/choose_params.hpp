#pragma once
// choose_params: quantization parameters from observed ranges, computed the
// way TFLite's converter does (DESIGN.md section 3), in float arithmetic:
//
//  asymmetric: widen [min, max] to include 0;  scale = (max - min) / (qmax - qmin);
//              zero_point = round(qmin - min / scale) clamped to [qmin, qmax]
//  symmetric : scale = max(|min|, |max|) / qmax, zero_point = 0
//              (int8 weights: qmax = 127, int16 activations: 32767, int4: 7)
//
// A range with no extent (every value 0) has no natural scale; qtl uses
// scale 1 (any positive scale represents 0 exactly) and zero point 0 (or
// qmin for uint8), so the tensor round-trips exactly.  A NaN/inf or empty
// range is a qtl::error.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "qtl/core/error.hpp"
#include "qtl/core/shape.hpp"
#include "qtl/core/tensor_view.hpp"
#include "qtl/quant/quant_params.hpp"
#include "qtl/quant/scheme.hpp"
#include "qtl/quant/value_range.hpp"

namespace qtl {

struct scale_and_zero_point {
    float scale = 1.0f;
    std::int32_t zero_point = 0;
};

template <quantizer_type Q>
scale_and_zero_point choose_scale_and_zero_point(const value_range& r, const std::string& where = "choose_params") {
    check_finite_range(r, where);
    constexpr auto qmin = static_cast<float>(Q::qmin);
    constexpr auto qmax = static_cast<float>(Q::qmax);
    if constexpr (Q::is_symmetric) {
        const float max_abs = std::max(std::abs(r.min), std::abs(r.max));
        if (max_abs == 0.0f) return {1.0f, 0};
        return {max_abs / qmax, 0};
    } else {
        const float lo = std::min(r.min, 0.0f);
        const float hi = std::max(r.max, 0.0f);
        const float scale = (hi - lo) / (qmax - qmin);
        if (scale == 0.0f) return {1.0f, static_cast<std::int32_t>(std::clamp(0.0f, qmin, qmax))};
        check(std::isfinite(scale), where, "range [", r.min, ", ", r.max, "] is too wide for float32 arithmetic");
        const float zero_point_from_min = qmin - lo / scale;
        const float zp = zero_point_from_min < qmin   ? qmin
                         : zero_point_from_min > qmax ? qmax
                                                      : std::round(zero_point_from_min);
        return {scale, static_cast<std::int32_t>(zp)};
    }
}

// Per tensor: one range.
template <quantizer_type Q>
quant_params choose_params(const value_range& r, const std::string& where = "choose_params") {
    static_assert(Q::is_per_tensor, "qtl::choose_params: one range gives per-tensor parameters; pass one range "
                                    "per channel (or per block) for this scheme");
    const auto p = choose_scale_and_zero_point<Q>(r, where);
    return {{p.scale}, {p.zero_point}, -1, 0};
}

// Per channel or per block: one range per channel / block, in the layout of
// quant_params (see quant_params.hpp).
template <quantizer_type Q>
quant_params choose_params(std::span<const value_range> ranges, const std::string& where = "choose_params") {
    quant_params p;
    p.axis = Q::axis;
    p.block_size = Q::block_size;
    check(!ranges.empty(), where, "no ranges given");
    if constexpr (Q::is_per_tensor) check(ranges.size() == 1, where, "a per-tensor scheme takes one range, got ", ranges.size());
    for (std::size_t i = 0; i < ranges.size(); ++i) {
        const auto sz = choose_scale_and_zero_point<Q>(ranges[i], detail::concat(where, " channel ", i));
        p.scales.push_back(sz.scale);
        p.zero_points.push_back(sz.zero_point);
    }
    return p;
}

namespace detail {

// Splits a row-major shape around `axis` into (outer, axis length, inner)
// element counts, and the number of scale groups along the axis.
struct axis_split {
    std::size_t outer = 1, length = 1, inner = 1, groups = 1, block = 0;

    // Index of the scale that applies to flat element i.
    std::size_t scale_index(std::size_t i) const noexcept {
        const std::size_t a = (i / inner) % length;
        if (block == 0) return a;
        const std::size_t o = i / (inner * length);
        return (o * groups + a / block) * inner + i % inner;
    }
    std::size_t scale_count() const noexcept { return block == 0 ? length : outer * groups * inner; }
};

inline axis_split split_axis(const shape& s, int axis, int block_size, const std::string& where) {
    axis_split r;
    const int a = normalize_axis(axis, s.size(), where);
    for (int d = 0; d < static_cast<int>(s.size()); ++d) {
        const auto n = static_cast<std::size_t>(s[d]);
        if (d < a) r.outer *= n;
        else if (d == a) r.length = n;
        else r.inner *= n;
    }
    if (block_size > 0) {
        r.block = static_cast<std::size_t>(block_size);
        r.groups = (r.length + r.block - 1) / r.block;
    }
    return r;
}

}  // namespace detail

// Observed ranges of a float tensor for scheme Q: one range per tensor, per
// index along Q's axis, or per block.  Throws on NaN/inf naming the element.
template <quantizer_type Q>
std::vector<value_range> observe_ranges(tensor_view<const float> x, const std::string& where = "observe_ranges") {
    if constexpr (Q::is_per_tensor) {
        value_range r;
        for (std::size_t i = 0; i < x.size(); ++i) {
            check(std::isfinite(x[i]), where, "element ", i, " is ", x[i]);
            r.include(x[i]);
        }
        return {r};
    } else {
        check(Q::axis < static_cast<int>(x.rank()), where, "the scheme's axis ", Q::axis,
              " does not exist in a tensor of shape ", shape_text(x.shape));
        const auto split = detail::split_axis(x.shape, Q::axis, Q::block_size, where);
        std::vector<value_range> ranges(split.scale_count());
        for (std::size_t i = 0; i < x.size(); ++i) {
            check(std::isfinite(x[i]), where, "element ", i, " is ", x[i]);
            ranges[split.scale_index(i)].include(x[i]);
        }
        return ranges;
    }
}

// Parameters straight from the data (TFLite's absolute min/max), e.g. for weights.
template <quantizer_type Q>
quant_params choose_params(tensor_view<const float> x, const std::string& where = "choose_params") {
    const auto ranges = observe_ranges<Q>(x, where);
    return choose_params<Q>(std::span<const value_range>(ranges), where);
}

}  // namespace qtl
