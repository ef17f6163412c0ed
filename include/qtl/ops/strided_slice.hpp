#pragma once
// STRIDED_SLICE (TFLite builtin 45): x[begin:end:stride] per dimension, with
// TensorFlow's masks, following TFLite's kernel (strided_slice.cc and
// StartForAxis / EndForAxis):
//
//  - begin/end/strides hold one entry per slice spec; bit i of a mask refers
//    to spec entry i.  Input dimensions past the specs are taken whole.
//  - begin_mask / end_mask: ignore begin[i] / end[i], take the dimension from
//    its first / to its last element in the stride's direction.
//  - ellipsis_mask (one bit at most): spec i stands for as many whole
//    dimensions as the other specs leave (possibly none, as in TensorFlow;
//    TFLite's kernel makes an ellipsis cover at least one dimension and then
//    drops the last spec).
//  - new_axis_mask: spec i inserts a dimension of size 1 (ignored where the
//    ellipsis bit is set).
//  - shrink_axis_mask: spec i picks the single index begin[i] and drops the
//    dimension; the index must lie in [-dim, dim) and the stride be > 0, as
//    TensorFlow requires (TFLite writes nothing, or a clamped element, there).
//  - negative begin/end count from the end, then clamp: [0, dim] for a
//    positive stride, [-1, dim - 1] for a negative one; stride != 0.
//  - offset (STRIDED_SLICE v8): end[i] is relative, end = begin + end[i].
//    The output size follows the clamped range; TFLite sizes it from end[i]
//    unclamped, the two agree whenever begin + end[i] lies in the dimension.
//
// Only data moves, so input and output share scale and zero point (TFLite's
// quantizer: restrict_same_input_output_scale); prepare() checks it.  Input
// rank up to 5; at most 31 spec entries (TFLite's limit).
//
// Types: int8 and int16 (16x8 mode, zero point 0).

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "qtl/core/element_types.hpp"
#include "qtl/core/error.hpp"
#include "qtl/core/shape.hpp"
#include "qtl/core/tensor_view.hpp"
#include "qtl/ops/detail/quantization_checks.hpp"

namespace qtl::ops {

inline constexpr std::size_t strided_slice_max_rank = 5;

template <class T>
struct strided_slice_params {
    static_assert(std::is_same_v<T, std::int8_t> || std::is_same_v<T, std::int16_t>,
                  "STRIDED_SLICE supports int8 and int16 (16x8) tensors only");
    qtl::shape input_shape;
    std::vector<std::int32_t> begin;
    std::vector<std::int32_t> end;
    std::vector<std::int32_t> strides;
    std::uint32_t begin_mask = 0;
    std::uint32_t end_mask = 0;
    std::uint32_t ellipsis_mask = 0;
    std::uint32_t new_axis_mask = 0;
    std::uint32_t shrink_axis_mask = 0;
    bool offset = false;
    float input_scale = 1.0f;
    std::int32_t input_zero_point = 0;
    float output_scale = 1.0f;
    std::int32_t output_zero_point = 0;
};

template <class T>
struct strided_slice_prepared {
    qtl::shape input_shape;
    qtl::shape output_shape;  // new axes inserted, shrunk axes removed
    // Per input dimension: first index, end (exclusive, in the direction of
    // the step), step and number of elements taken (1 for a shrunk
    // dimension).  The output is these elements in row-major order: new axes
    // and shrunk axes do not change the order.
    std::vector<std::int32_t> starts;
    std::vector<std::int32_t> stops;
    std::vector<std::int32_t> steps;
    std::vector<std::size_t> counts;
    // Canonical form for the optimized path: the first input element, then
    // (count, step in elements) per dimension, with count-1 dimensions
    // dropped and dimensions that read one contiguous range fused.
    std::size_t base_offset = 0;
    std::vector<std::size_t> fused_counts;
    std::vector<std::ptrdiff_t> fused_steps;
};

namespace detail::strided_slice_op {

inline const std::string where = "STRIDED_SLICE";

inline bool bit(std::uint32_t mask, std::size_t i) { return (mask >> i) & 1u; }

inline std::int64_t clamp64(std::int64_t v, std::int64_t lo, std::int64_t hi) { return std::min(std::max(v, lo), hi); }

}  // namespace detail::strided_slice_op

template <class T>
strided_slice_prepared<T> prepare(const strided_slice_params<T>& p) {
    using namespace detail::strided_slice_op;
    detail::check_tensor_quantization<T>(where, "input", p.input_scale, p.input_zero_point);
    detail::check_tensor_quantization<T>(where, "output", p.output_scale, p.output_zero_point);
    detail::check_same_quantization(where, "raw values are copied", p.input_scale, p.input_zero_point,
                                    p.output_scale, p.output_zero_point);
    num_elements(p.input_shape, where + " input shape");
    const std::size_t rank = p.input_shape.size();
    check(rank <= strided_slice_max_rank, where, "rank ", rank, " exceeds the supported ", strided_slice_max_rank);
    const std::size_t specs = p.begin.size();
    check(p.end.size() == specs && p.strides.size() == specs, where,
          "begin, end and strides must have the same length, got ", specs, ", ", p.end.size(), ", ",
          p.strides.size());
    check(specs <= 31, where, "at most 31 slice entries are supported, got ", specs);
    const std::uint32_t spec_bits = specs == 32 ? ~0u : ((1u << specs) - 1u);
    check((p.ellipsis_mask & ~spec_bits) == 0 && (p.new_axis_mask & ~spec_bits) == 0, where,
          "ellipsis_mask ", p.ellipsis_mask, " / new_axis_mask ", p.new_axis_mask, " set bits beyond the ", specs,
          " slice entries");
    check((p.ellipsis_mask & (p.ellipsis_mask - 1)) == 0, where, "ellipsis_mask ", p.ellipsis_mask,
          " has more than one bit set");

    // How many input dims the explicit entries consume; the ellipsis gets the rest.
    std::size_t consumed = 0;
    for (std::size_t i = 0; i < specs; ++i)
        if (!bit(p.ellipsis_mask, i) && !bit(p.new_axis_mask, i)) ++consumed;
    check(consumed <= rank, where, shape_text(p.input_shape), " has rank ", rank, " but the slice indexes ", consumed,
          " dimensions");

    strided_slice_prepared<T> r;
    r.input_shape = p.input_shape;
    std::size_t dim = 0;  // next input dimension
    const auto take_whole = [&] {
        const std::int32_t size = p.input_shape[dim++];
        r.starts.push_back(0);
        r.stops.push_back(size);
        r.steps.push_back(1);
        r.counts.push_back(static_cast<std::size_t>(size));
        r.output_shape.push_back(size);
    };
    for (std::size_t i = 0; i < specs; ++i) {
        if (bit(p.ellipsis_mask, i)) {
            for (std::size_t k = 0; k < rank - consumed; ++k) take_whole();
            continue;
        }
        if (bit(p.new_axis_mask, i)) {
            r.output_shape.push_back(1);
            continue;
        }
        const std::int64_t size = p.input_shape[dim];
        const std::int64_t stride = p.strides[i];
        check(stride != 0, where, "strides[", i, "] must be non-zero");
        // StartForAxis
        std::int64_t start = p.begin[i];
        if (start < 0) start += size;
        start = stride > 0 ? clamp64(start, 0, size) : clamp64(start, -1, size - 1);
        if (bit(p.begin_mask, i)) start = stride > 0 ? 0 : size - 1;
        std::size_t count = 0;
        std::int64_t stop = start + 1;
        if (bit(p.shrink_axis_mask, i)) {
            check(stride > 0, where, "entry ", i, " shrinks its axis and needs a stride > 0, got ", stride);
            check(bit(p.begin_mask, i) || (p.begin[i] >= -size && p.begin[i] < size), where, "entry ", i,
                  " shrinks dimension ", dim, " of size ", size, " at index ", p.begin[i], ", out of range");
            check(start < size, where, "entry ", i, " shrinks dimension ", dim, " of size 0");
            count = 1;
        } else {
            // EndForAxis
            stop = std::int64_t{p.end[i]} + (p.offset ? start : 0);
            if (stop < 0) stop += size;
            stop = stride > 0 ? clamp64(stop, 0, size) : clamp64(stop, -1, size - 1);
            if (bit(p.end_mask, i)) stop = stride > 0 ? size : -1;
            const std::int64_t span = stride > 0 ? stop - start : start - stop;
            const std::int64_t step = stride > 0 ? stride : -stride;
            count = span > 0 ? static_cast<std::size_t>((span + step - 1) / step) : 0;
            r.output_shape.push_back(static_cast<std::int32_t>(count));
        }
        r.starts.push_back(static_cast<std::int32_t>(start));
        r.stops.push_back(static_cast<std::int32_t>(stop));
        r.steps.push_back(static_cast<std::int32_t>(stride));
        r.counts.push_back(count);
        ++dim;
    }
    while (dim < rank) take_whole();

    // Canonical form.
    const std::size_t output_count = num_elements(r.output_shape, where + " output shape");
    std::vector<std::size_t> in_strides(rank, 1);
    for (std::size_t d = rank; d-- > 1;) in_strides[d - 1] = in_strides[d] * static_cast<std::size_t>(p.input_shape[d]);
    if (output_count > 0) {
        for (std::size_t d = 0; d < rank; ++d) {
            r.base_offset += static_cast<std::size_t>(r.starts[d]) * in_strides[d];
            if (r.counts[d] == 1) continue;
            const std::ptrdiff_t step = r.steps[d] * static_cast<std::ptrdiff_t>(in_strides[d]);
            // Fuse with the previous dim when that one steps over exactly this one's range.
            if (!r.fused_counts.empty() &&
                r.fused_steps.back() == step * static_cast<std::ptrdiff_t>(r.counts[d])) {
                r.fused_counts.back() *= r.counts[d];
                r.fused_steps.back() = step;
            } else {
                r.fused_counts.push_back(r.counts[d]);
                r.fused_steps.push_back(step);
            }
        }
    }
    return r;
}

namespace detail::strided_slice_op {

template <class T>
void check_views(const strided_slice_prepared<T>& p, const tensor_view<const T>& input, const tensor_view<T>& output) {
    check(input.shape == p.input_shape, where, "input shape ", shape_text(input.shape), " differs from the prepared ",
          shape_text(p.input_shape));
    check(output.shape == p.output_shape, where, "output shape ", shape_text(output.shape),
          " differs from the prepared ", shape_text(p.output_shape));
    check(input.size() == 0 || static_cast<const void*>(input.data.data()) != output.data.data(), where,
          "the output must not alias the input");
}

}  // namespace detail::strided_slice_op

// Optimized path: the innermost fused dimension is one memcpy when it is
// contiguous, a strided gather otherwise; an odometer walks the others.
template <class T>
void eval(const strided_slice_prepared<T>& p, tensor_view<const T> input, tensor_view<T> output) {
    detail::strided_slice_op::check_views(p, input, output);
    const std::size_t n = output.size();
    if (n == 0) return;
    const T* in = input.data.data() + p.base_offset;
    T* out = output.data.data();
    const std::size_t dims = p.fused_counts.size();
    if (dims == 0) {  // a single element
        out[0] = in[0];
        return;
    }
    const std::size_t last = dims - 1;
    const std::size_t run = p.fused_counts[last];
    const std::ptrdiff_t run_step = p.fused_steps[last];
    std::vector<std::size_t> index(dims, 0);
    std::ptrdiff_t offset = 0;
    for (std::size_t o = 0; o < n; o += run) {
        const T* src = in + offset;
        if (run_step == 1) {
            std::memcpy(out + o, src, run * sizeof(T));
        } else {
            for (std::size_t k = 0; k < run; ++k) out[o + k] = src[static_cast<std::ptrdiff_t>(k) * run_step];
        }
        for (std::size_t d = last; d-- > 0;) {
            offset += p.fused_steps[d];
            if (++index[d] < p.fused_counts[d]) break;
            offset -= p.fused_steps[d] * static_cast<std::ptrdiff_t>(p.fused_counts[d]);
            index[d] = 0;
        }
    }
}

}  // namespace qtl::ops
