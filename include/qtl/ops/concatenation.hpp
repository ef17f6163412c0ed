#pragma once
// CONCATENATION (TFLite builtin 2): n inputs joined along one axis.
//
// What TFLite's kernel does, and so what qtl does:
//  - axis may be negative (counts from the end); all inputs have the same
//    rank and the same dims except along the axis;
//  - the fused activation must be NONE (TFLite's Prepare rejects any other);
//  - int8: every input must have the output's scale and zero point; TFLite's
//    kernel does not rescale int8 (only uint8 goes through
//    ConcatenationWithScaling), its Prepare rejects differing parameters;
//  - int16: zero points must be 0.  TFLite then copies raw values without
//    comparing scales; qtl also requires equal scales (raw copies under
//    different scales would silently change the real values).
//
// Types: int8 and int16 (16x8 mode).

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "qtl/core/element_types.hpp"
#include "qtl/core/error.hpp"
#include "qtl/core/shape.hpp"
#include "qtl/core/tensor_view.hpp"
#include "qtl/ops/detail/quantization_checks.hpp"
#include "qtl/ops/fused_activation.hpp"

namespace qtl::ops {

template <class T>
struct concatenation_params {
    static_assert(std::is_same_v<T, std::int8_t> || std::is_same_v<T, std::int16_t>,
                  "CONCATENATION supports int8 and int16 (16x8) tensors only");
    std::vector<qtl::shape> input_shapes;
    int axis = 0;  // may be negative
    std::vector<float> input_scales;              // one per input
    std::vector<std::int32_t> input_zero_points;  // one per input
    float output_scale = 1.0f;
    std::int32_t output_zero_point = 0;
    fused_activation activation = fused_activation::none;
};

template <class T>
struct concatenation_prepared {
    std::vector<qtl::shape> input_shapes;
    qtl::shape output_shape;
    int axis = 0;  // normalized to [0, rank)
    // The output is `outer` blocks; block b holds input 0's b-th chunk of
    // input_chunks[0] elements, then input 1's, ...
    std::size_t outer = 1;
    std::vector<std::size_t> input_chunks;
    std::size_t output_chunk = 0;
};

namespace detail::concatenation_op {

inline const std::string where = "CONCATENATION";

}  // namespace detail::concatenation_op

template <class T>
concatenation_prepared<T> prepare(const concatenation_params<T>& p) {
    using namespace detail::concatenation_op;
    const std::size_t n = p.input_shapes.size();
    check(n >= 1, where, "needs at least one input, got 0");
    check(p.input_scales.size() == n && p.input_zero_points.size() == n, where, "expected ", n,
          " input scales and zero points (one per input), got ", p.input_scales.size(), " and ",
          p.input_zero_points.size());
    check(p.activation == fused_activation::none, where, "fused activation must be NONE (TFLite rejects others), got ",
          static_cast<int>(p.activation));
    detail::check_tensor_quantization<T>(where, "output", p.output_scale, p.output_zero_point);
    for (std::size_t i = 0; i < n; ++i) {
        const std::string tensor = qtl::detail::concat("input ", i);
        detail::check_tensor_quantization<T>(where, tensor, p.input_scales[i], p.input_zero_points[i]);
        check(p.input_scales[i] == p.output_scale && p.input_zero_points[i] == p.output_zero_point, where, tensor,
              " must have the output's scale and zero point (TFLite does not rescale ",
              element_traits<T>::name, "): input (", p.input_scales[i], ", ", p.input_zero_points[i],
              "), output (", p.output_scale, ", ", p.output_zero_point, ")");
    }

    const qtl::shape& first = p.input_shapes[0];
    const std::size_t rank = first.size();
    check(rank >= 1, where, "inputs must have rank >= 1, got rank 0");
    concatenation_prepared<T> r;
    r.input_shapes = p.input_shapes;
    r.axis = normalize_axis(p.axis, rank, where);
    const auto axis = static_cast<std::size_t>(r.axis);
    r.output_shape = first;
    std::int64_t axis_sum = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const qtl::shape& s = p.input_shapes[i];
        num_elements(s, qtl::detail::concat(where, " input ", i, " shape"));
        check(s.size() == rank, where, "input ", i, " has rank ", s.size(), " (", shape_text(s), "), input 0 has rank ",
              rank, " (", shape_text(first), ")");
        for (std::size_t d = 0; d < rank; ++d)
            check(d == axis || s[d] == first[d], where, "input ", i, " ", shape_text(s), " differs from input 0 ",
                  shape_text(first), " in dimension ", d, " (only the axis ", axis, " may differ)");
        axis_sum += s[axis];
    }
    check(axis_sum <= 0x7fffffff, where, "the output dimension ", axis, " (", axis_sum, ") does not fit int32");
    r.output_shape[axis] = static_cast<std::int32_t>(axis_sum);
    num_elements(r.output_shape, where + " output shape");

    std::size_t inner = 1;
    for (std::size_t d = 0; d < rank; ++d) {
        if (d < axis) r.outer *= static_cast<std::size_t>(first[d]);
        if (d > axis) inner *= static_cast<std::size_t>(first[d]);
    }
    for (const auto& s : p.input_shapes) r.input_chunks.push_back(static_cast<std::size_t>(s[axis]) * inner);
    r.output_chunk = static_cast<std::size_t>(axis_sum) * inner;
    return r;
}

namespace detail::concatenation_op {

template <class T>
void check_views(const concatenation_prepared<T>& p, std::span<const tensor_view<const T>> inputs,
                 const tensor_view<T>& output) {
    check(inputs.size() == p.input_shapes.size(), where, "expected ", p.input_shapes.size(), " inputs, got ",
          inputs.size());
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        check(inputs[i].shape == p.input_shapes[i], where, "input ", i, " shape ", shape_text(inputs[i].shape),
              " differs from the prepared ", shape_text(p.input_shapes[i]));
        check(inputs[i].size() == 0 || static_cast<const void*>(inputs[i].data.data()) != output.data.data(), where,
              "the output must not alias input ", i);
    }
    check(output.shape == p.output_shape, where, "output shape ", shape_text(output.shape),
          " differs from the prepared ", shape_text(p.output_shape));
}

}  // namespace detail::concatenation_op

// Optimized path: one memcpy per (outer block, input).
template <class T>
void eval(const concatenation_prepared<T>& p, std::span<const tensor_view<const T>> inputs, tensor_view<T> output) {
    detail::concatenation_op::check_views(p, inputs, output);
    T* out = output.data.data();
    for (std::size_t b = 0; b < p.outer; ++b) {
        for (std::size_t i = 0; i < inputs.size(); ++i) {
            const std::size_t chunk = p.input_chunks[i];
            if (chunk == 0) continue;
            std::memcpy(out, inputs[i].data.data() + b * chunk, chunk * sizeof(T));
            out += chunk;
        }
    }
}

}  // namespace qtl::ops
