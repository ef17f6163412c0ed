#pragma once
// What every calibration observer provides, and the batch statistics they
// share.  An observer watches the float values a tensor takes on a
// representative dataset and reports the range to quantize it with:
//
//   obs.observe(values)   one batch (a span, or a tensor_view for per-channel)
//   obs.merge(other)      combine two observers that watched disjoint data
//                         (calibration on several threads)
//   obs.range()           the chosen [min, max] (per-channel: ranges())
//
// NaN or infinite values are rejected with a qtl::error naming the observer
// and the element; an empty batch adds nothing; asking for a range before
// any value was observed is a qtl::error (an empty dataset).

#include <cmath>
#include <concepts>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "qtl/core/error.hpp"
#include "qtl/core/tensor_view.hpp"
#include "qtl/quant/choose_params.hpp"
#include "qtl/quant/value_range.hpp"

namespace qtl {

template <class O>
concept observer = requires(O& o, const O& other, std::span<const float> values) {
    o.observe(values);
    o.merge(other);
    { other.range() } -> std::same_as<value_range>;
};

template <class O>
concept per_channel_observer = requires(O& o, const O& other, tensor_view<const float> x) {
    o.observe(x);
    o.merge(other);
    { other.ranges() } -> std::same_as<std::vector<value_range>>;
    { other.axis() } -> std::convertible_to<int>;
};

namespace detail {

// [min, max] of one batch; throws on NaN/inf naming the element.  An empty
// batch gives an empty range.
inline value_range finite_batch_range(std::span<const float> values, const std::string& where) {
    value_range r;
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (!std::isfinite(values[i]))
            throw error(where, concat("element ", i, " of the batch is ", values[i],
                                      " (calibration data must be finite)"));
        r.include(values[i]);
    }
    return r;
}

// Per-index [min, max] along `axis` of one batch.
inline std::vector<value_range> finite_channel_ranges(tensor_view<const float> x, int axis, const std::string& where) {
    check(axis >= -static_cast<int>(x.rank()) && axis < static_cast<int>(x.rank()), where, "axis ", axis,
          " does not exist in a batch of shape ", shape_text(x.shape));
    const auto split = split_axis(x.shape, axis, 0, where);
    std::vector<value_range> ranges(split.length);
    for (std::size_t i = 0; i < x.size(); ++i) {
        if (!std::isfinite(x[i]))
            throw error(where, concat("element ", i, " of the batch is ", x[i], " (calibration data must be finite)"));
        ranges[split.scale_index(i)].include(x[i]);
    }
    return ranges;
}

// The channel count of a per-channel observer is fixed by its first batch.
inline void check_channel_count(std::size_t have, std::size_t got, const std::string& where) {
    check(have == 0 || have == got, where, "expected ", have, " channels (from earlier batches), got ", got);
}

}  // namespace detail
}  // namespace qtl
