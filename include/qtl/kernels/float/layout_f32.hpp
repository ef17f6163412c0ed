#pragma once
// Float data movement and reduction with TFLite semantics: PAD/PADV2,
// TRANSPOSE, CONCATENATION, STRIDED_SLICE and MEAN over row-major tensors of
// any rank.  Only values move (or are averaged), so these are plain loops over
// the innermost contiguous stretch; STRIDED_SLICE's index rules (masks,
// clamping, negative strides) are ops/strided_slice.hpp's, shared with the
// integer op.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "qtl/core/error.hpp"
#include "qtl/core/shape.hpp"
#include "qtl/ops/strided_slice.hpp"

namespace qtl::kernels {

namespace detail {

inline std::vector<std::size_t> row_major_strides_f32(const qtl::shape& s) {
    std::vector<std::size_t> strides(s.size(), 1);
    for (std::size_t d = s.size(); d-- > 1;) strides[d - 1] = strides[d] * std::size_t(s[d]);
    return strides;
}

// Advances a multi-index over `dims` (last fastest); false when it wraps.
inline bool next_index(std::vector<std::size_t>& index, const qtl::shape& dims, std::size_t rank) {
    for (std::size_t d = rank; d-- > 0;) {
        if (++index[d] < std::size_t(dims[d])) return true;
        index[d] = 0;
    }
    return false;
}

}  // namespace detail

// PAD: paddings[d] = (before, after) per dimension; new elements hold `value`.
inline qtl::shape pad_f32_shape(const qtl::shape& in, const std::vector<std::pair<std::int64_t, std::int64_t>>& paddings,
                                const std::string& where) {
    check(paddings.size() == in.size(), where, "paddings has ", paddings.size(), " rows, the input rank is ",
          in.size());
    qtl::shape out(in.size());
    for (std::size_t d = 0; d < in.size(); ++d) {
        check(paddings[d].first >= 0 && paddings[d].second >= 0, where, "padding of dimension ", d,
              " must be >= 0, got (", paddings[d].first, ", ", paddings[d].second, ")");
        const std::int64_t size = in[d] + paddings[d].first + paddings[d].second;
        check(size < (std::int64_t{1} << 31), where, "padded dimension ", d, " is too large");
        out[d] = std::int32_t(size);
    }
    return out;
}

inline void pad_f32(const float* in, const qtl::shape& in_shape,
                    const std::vector<std::pair<std::int64_t, std::int64_t>>& paddings, float value, float* out) {
    const qtl::shape out_shape = pad_f32_shape(in_shape, paddings, "PAD");
    std::fill(out, out + num_elements(out_shape), value);
    const std::size_t rank = in_shape.size();
    if (num_elements(in_shape) == 0) return;
    if (rank == 0) {
        out[0] = in[0];
        return;
    }
    const auto out_strides = detail::row_major_strides_f32(out_shape);
    const std::size_t row = std::size_t(in_shape[rank - 1]);
    std::vector<std::size_t> index(rank, 0);  // over the input's outer dims (last one fixed at 0)
    const float* src = in;
    do {
        std::size_t o = std::size_t(paddings[rank - 1].first);
        for (std::size_t d = 0; d + 1 < rank; ++d) o += (index[d] + std::size_t(paddings[d].first)) * out_strides[d];
        std::memcpy(out + o, src, row * sizeof(float));
        src += row;
    } while (detail::next_index(index, in_shape, rank - 1));
}

// TRANSPOSE: output dimension d is input dimension perm[d].
inline qtl::shape transpose_f32_shape(const qtl::shape& in, const std::vector<std::int32_t>& perm,
                                      const std::string& where) {
    check(perm.size() == in.size(), where, "perm has ", perm.size(), " entries, the input rank is ", in.size());
    qtl::shape out(in.size());
    std::vector<char> seen(in.size(), 0);
    for (std::size_t d = 0; d < perm.size(); ++d) {
        const int axis = normalize_axis(perm[d], in.size(), where);
        check(!seen[std::size_t(axis)], where, "perm repeats axis ", axis);
        seen[std::size_t(axis)] = 1;
        out[d] = in[std::size_t(axis)];
    }
    return out;
}

inline void transpose_f32(const float* in, const qtl::shape& in_shape, const std::vector<std::int32_t>& perm,
                          float* out) {
    const qtl::shape out_shape = transpose_f32_shape(in_shape, perm, "TRANSPOSE");
    const std::size_t rank = in_shape.size(), n = num_elements(out_shape);
    if (n == 0) return;
    const auto in_strides = detail::row_major_strides_f32(in_shape);
    std::vector<std::size_t> step(rank);  // input stride along each output dimension
    for (std::size_t d = 0; d < rank; ++d)
        step[d] = in_strides[std::size_t(normalize_axis(perm[d], rank, "TRANSPOSE"))];
    std::vector<std::size_t> index(rank, 0);
    std::size_t src = 0;
    for (std::size_t o = 0; o < n; ++o) {
        out[o] = in[src];
        for (std::size_t d = rank; d-- > 0;) {  // odometer, keeping src in step
            src += step[d];
            if (++index[d] < std::size_t(out_shape[d])) break;
            src -= step[d] * index[d];
            index[d] = 0;
        }
    }
}

// CONCATENATION along `axis` (already normalized): every input has the same
// rank and the same dimensions except along `axis`.
inline qtl::shape concatenation_f32_shape(const std::vector<qtl::shape>& inputs, int axis, const std::string& where) {
    check(!inputs.empty(), where, "needs at least one input");
    qtl::shape out = inputs[0];
    check(axis >= 0 && std::size_t(axis) < out.size(), where, "axis ", axis, " is out of range for rank ", out.size());
    for (std::size_t i = 1; i < inputs.size(); ++i) {
        check(inputs[i].size() == out.size(), where, "input ", i, " has rank ", inputs[i].size(), ", input 0 has ",
              out.size());
        for (std::size_t d = 0; d < out.size(); ++d)
            check(int(d) == axis || inputs[i][d] == out[d], where, "input ", i, " has shape ", qtl::to_string(inputs[i]),
                  ", which differs from input 0's ", qtl::to_string(inputs[0]), " outside axis ", axis);
        out[std::size_t(axis)] += inputs[i][std::size_t(axis)];
    }
    return out;
}

inline void concatenation_f32(const std::vector<const float*>& inputs, const std::vector<qtl::shape>& shapes, int axis,
                              float* out) {
    const qtl::shape out_shape = concatenation_f32_shape(shapes, axis, "CONCATENATION");
    std::size_t outer = 1;
    for (int d = 0; d < axis; ++d) outer *= std::size_t(out_shape[std::size_t(d)]);
    std::vector<std::size_t> chunk(shapes.size());  // elements of input i per outer index
    for (std::size_t i = 0; i < shapes.size(); ++i)
        chunk[i] = outer == 0 ? 0 : num_elements(shapes[i]) / outer;
    for (std::size_t o = 0; o < outer; ++o)
        for (std::size_t i = 0; i < inputs.size(); ++i) {
            if (chunk[i] != 0) std::memcpy(out, inputs[i] + o * chunk[i], chunk[i] * sizeof(float));
            out += chunk[i];
        }
}

// STRIDED_SLICE: the elements to copy, from ops::strided_slice's rules.
struct strided_slice_f32_plan {
    qtl::shape output_shape;
    std::size_t base_offset = 0;
    std::vector<std::size_t> counts;    // fused dimensions (count > 1)
    std::vector<std::ptrdiff_t> steps;  // input element step along each
};

inline strided_slice_f32_plan plan_strided_slice_f32(const qtl::shape& input, std::vector<std::int32_t> begin,
                                                     std::vector<std::int32_t> end,
                                                     std::vector<std::int32_t> strides, std::uint32_t begin_mask,
                                                     std::uint32_t end_mask, std::uint32_t ellipsis_mask,
                                                     std::uint32_t new_axis_mask, std::uint32_t shrink_axis_mask,
                                                     bool offset) {
    // The index arithmetic does not depend on the element type: borrow the int16 op's.
    ops::strided_slice_params<std::int16_t> params;
    params.input_shape = input;
    params.begin = std::move(begin);
    params.end = std::move(end);
    params.strides = std::move(strides);
    params.begin_mask = begin_mask;
    params.end_mask = end_mask;
    params.ellipsis_mask = ellipsis_mask;
    params.new_axis_mask = new_axis_mask;
    params.shrink_axis_mask = shrink_axis_mask;
    params.offset = offset;
    const auto prepared = ops::prepare(params);
    return {prepared.output_shape, prepared.base_offset, prepared.fused_counts, prepared.fused_steps};
}

inline void strided_slice_f32(const strided_slice_f32_plan& p, const float* in, float* out) {
    const std::size_t n = num_elements(p.output_shape);
    if (n == 0) return;
    in += p.base_offset;
    const std::size_t dims = p.counts.size();
    if (dims == 0) {
        out[0] = in[0];
        return;
    }
    const std::size_t run = p.counts[dims - 1];
    const std::ptrdiff_t run_step = p.steps[dims - 1];
    std::vector<std::size_t> index(dims, 0);
    std::ptrdiff_t at = 0;
    for (std::size_t o = 0; o < n; o += run) {
        for (std::size_t k = 0; k < run; ++k) out[o + k] = in[at + std::ptrdiff_t(k) * run_step];
        for (std::size_t d = dims - 1; d-- > 0;) {
            at += p.steps[d];
            if (++index[d] < p.counts[d]) break;
            at -= p.steps[d] * std::ptrdiff_t(p.counts[d]);
            index[d] = 0;
        }
    }
}

// MEAN over `axes` (may be negative or repeated): reduced dimensions become 1
// with keep_dims, disappear without.
inline qtl::shape mean_f32_shape(const qtl::shape& in, const std::vector<std::int32_t>& axes, bool keep_dims,
                                 const std::string& where, std::vector<char>* reduced_out = nullptr) {
    std::vector<char> reduced(in.size(), 0);
    for (auto a : axes) reduced[std::size_t(normalize_axis(a, in.size(), where))] = 1;
    qtl::shape out;
    for (std::size_t d = 0; d < in.size(); ++d) {
        if (!reduced[d]) out.push_back(in[d]);
        else if (keep_dims) out.push_back(1);
    }
    if (reduced_out) *reduced_out = std::move(reduced);
    return out;
}

inline void mean_f32(const float* in, const qtl::shape& in_shape, const std::vector<std::int32_t>& axes, float* out) {
    std::vector<char> reduced;
    const qtl::shape kept = mean_f32_shape(in_shape, axes, true, "MEAN", &reduced);
    const std::size_t rank = in_shape.size(), out_n = num_elements(kept), in_n = num_elements(in_shape);
    std::fill(out, out + out_n, 0.0f);
    if (in_n == 0) return;
    const auto out_strides = detail::row_major_strides_f32(kept);
    std::vector<std::size_t> step(rank);  // output stride along each input dimension, 0 where reduced
    for (std::size_t d = 0; d < rank; ++d) step[d] = reduced[d] ? 0 : out_strides[d];
    std::vector<std::size_t> index(rank, 0);
    std::size_t dst = 0;
    for (std::size_t i = 0; i < in_n; ++i) {
        out[dst] += in[i];
        for (std::size_t d = rank; d-- > 0;) {
            dst += step[d];
            if (++index[d] < std::size_t(in_shape[d])) break;
            dst -= step[d] * index[d];
            index[d] = 0;
        }
    }
    const float count = float(in_n / std::max<std::size_t>(out_n, 1));
    for (std::size_t o = 0; o < out_n; ++o) out[o] /= count;
}

}  // namespace qtl::kernels
