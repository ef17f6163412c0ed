#pragma once
// PAD / PADV2 (TFLite builtins 34 / 60): adds paddings[d] = {before, after}
// elements around each dimension d (paddings >= 0, rank up to 5).
//
// The padded elements hold the quantized zero: the output zero point (PAD),
// which for an asymmetric int8 tensor is not 0 (MobileNetV2's PADs pad with
// zero points like -14), or PADV2's constant value, which TFLite requires to
// carry the output's scale and zero point.  Raw values are copied, so input
// and output share scale and zero point (TFLite's quantizer:
// restrict_same_input_output_scale); prepare() checks it.
//
// The optimized path runs on a canonical form computed once: every unpadded
// dimension is fused into its outer neighbour (NHWC padded in H and W copies
// whole W*C rows), then each row is one memcpy and each border one fill.
//
// Types: int8 and int16 (16x8 mode, zero point 0).

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "qtl/core/element_types.hpp"
#include "qtl/core/error.hpp"
#include "qtl/core/shape.hpp"
#include "qtl/core/tensor_view.hpp"
#include "qtl/ops/detail/quantization_checks.hpp"

namespace qtl::ops {

inline constexpr std::size_t pad_max_rank = 5;

template <class T>
struct pad_params {
    static_assert(std::is_same_v<T, std::int8_t> || std::is_same_v<T, std::int16_t>,
                  "PAD supports int8 and int16 (16x8) tensors only");
    qtl::shape input_shape;
    std::vector<std::array<std::int32_t, 2>> paddings;  // one {before, after} per input dimension
    float input_scale = 1.0f;
    std::int32_t input_zero_point = 0;
    float output_scale = 1.0f;
    std::int32_t output_zero_point = 0;
    // PADV2: the constant to pad with (a quantized scalar) and its tensor's
    // quantization, which must equal the output's.  Unset: pad with the
    // output zero point (PAD).
    std::optional<T> constant_value;
    float constant_scale = 1.0f;
    std::int32_t constant_zero_point = 0;
};

template <class T>
struct pad_prepared {
    qtl::shape input_shape;
    qtl::shape output_shape;
    std::vector<std::array<std::int32_t, 2>> paddings;
    T pad_value = 0;
    // Canonical form (see above): input dims, and before/after counts, of
    // the fused dimensions.  Empty for a rank-0 input.
    std::vector<std::size_t> fused_input_dims;
    std::vector<std::size_t> fused_before;
    std::vector<std::size_t> fused_after;
};

namespace detail::pad_op {

inline const std::string where = "PAD";

}  // namespace detail::pad_op

template <class T>
pad_prepared<T> prepare(const pad_params<T>& p) {
    using namespace detail::pad_op;
    detail::check_tensor_quantization<T>(where, "input", p.input_scale, p.input_zero_point);
    detail::check_tensor_quantization<T>(where, "output", p.output_scale, p.output_zero_point);
    detail::check_same_quantization(where, "raw values are copied", p.input_scale, p.input_zero_point,
                                    p.output_scale, p.output_zero_point);
    if (p.constant_value) {
        check(p.constant_scale == p.output_scale && p.constant_zero_point == p.output_zero_point, where,
              "the PADV2 constant must have the output's scale and zero point: constant (", p.constant_scale, ", ",
              p.constant_zero_point, "), output (", p.output_scale, ", ", p.output_zero_point, ")");
    }
    num_elements(p.input_shape, where + " input shape");
    const std::size_t rank = p.input_shape.size();
    check(rank <= pad_max_rank, where, "rank ", rank, " exceeds the supported ", pad_max_rank);
    check(p.paddings.size() == rank, where, "paddings must have shape [", rank, ", 2] for input ",
          shape_text(p.input_shape), ", got [", p.paddings.size(), ", 2]");

    pad_prepared<T> r;
    r.input_shape = p.input_shape;
    r.paddings = p.paddings;
    r.pad_value = p.constant_value ? *p.constant_value : static_cast<T>(p.output_zero_point);
    r.output_shape.resize(rank);
    for (std::size_t d = 0; d < rank; ++d) {
        const auto [before, after] = p.paddings[d];
        check(before >= 0 && after >= 0, where, "paddings must be >= 0, got {", before, ", ", after,
              "} for dimension ", d);
        const std::int64_t size = std::int64_t{p.input_shape[d]} + before + after;
        check(size <= 0x7fffffff, where, "output dimension ", d, " (", size, ") does not fit int32");
        r.output_shape[d] = static_cast<std::int32_t>(size);
    }
    num_elements(r.output_shape, where + " output shape");

    // Canonical form: fuse every unpadded dim (but the outermost) into its
    // outer neighbour; the neighbour's paddings then count whole blocks.
    for (std::size_t d = 0; d < rank; ++d) {
        r.fused_input_dims.push_back(static_cast<std::size_t>(p.input_shape[d]));
        r.fused_before.push_back(static_cast<std::size_t>(p.paddings[d][0]));
        r.fused_after.push_back(static_cast<std::size_t>(p.paddings[d][1]));
    }
    for (std::size_t d = r.fused_input_dims.size(); d-- > 1;) {
        if (r.fused_before[d] != 0 || r.fused_after[d] != 0) continue;
        const std::size_t inner = r.fused_input_dims[d];
        r.fused_input_dims[d - 1] *= inner;
        r.fused_before[d - 1] *= inner;
        r.fused_after[d - 1] *= inner;
        r.fused_input_dims.erase(r.fused_input_dims.begin() + static_cast<std::ptrdiff_t>(d));
        r.fused_before.erase(r.fused_before.begin() + static_cast<std::ptrdiff_t>(d));
        r.fused_after.erase(r.fused_after.begin() + static_cast<std::ptrdiff_t>(d));
    }
    return r;
}

namespace detail::pad_op {

template <class T>
void check_views(const pad_prepared<T>& p, const tensor_view<const T>& input, const tensor_view<T>& output) {
    check(input.shape == p.input_shape, where, "input shape ", shape_text(input.shape), " differs from the prepared ",
          shape_text(p.input_shape));
    check(output.shape == p.output_shape, where, "output shape ", shape_text(output.shape),
          " differs from the prepared ", shape_text(p.output_shape));
    check(input.size() == 0 || static_cast<const void*>(input.data.data()) != output.data.data(), where,
          "the output must not alias the input");
}

// Writes fused dimension `d` (and everything inside it) of one block:
// `before` padded sub-blocks, the input's sub-blocks, `after` padded ones.
// out_block[d] is the output size of one index of dimension d.
template <class T>
void pad_block(const pad_prepared<T>& p, const std::vector<std::size_t>& in_block,
               const std::vector<std::size_t>& out_block, std::size_t d, const T* in, T* out) {
    const std::size_t n = p.fused_input_dims[d];
    std::fill_n(out, p.fused_before[d] * out_block[d], p.pad_value);
    out += p.fused_before[d] * out_block[d];
    if (d + 1 == p.fused_input_dims.size()) {
        if (n != 0) std::memcpy(out, in, n * sizeof(T));
    } else {
        for (std::size_t i = 0; i < n; ++i) pad_block(p, in_block, out_block, d + 1, in + i * in_block[d], out + i * out_block[d]);
    }
    out += n * out_block[d];
    std::fill_n(out, p.fused_after[d] * out_block[d], p.pad_value);
}

}  // namespace detail::pad_op

// Optimized path: memcpy of each input row, fills for the borders.
template <class T>
void eval(const pad_prepared<T>& p, tensor_view<const T> input, tensor_view<T> output) {
    detail::pad_op::check_views(p, input, output);
    const std::size_t dims = p.fused_input_dims.size();
    if (dims == 0) {  // rank 0: one element
        output[0] = input[0];
        return;
    }
    // Elements per index of each fused dimension, in the input and the output.
    std::vector<std::size_t> in_block(dims, 1), out_block(dims, 1);
    for (std::size_t d = dims - 1; d-- > 0;) {
        in_block[d] = in_block[d + 1] * p.fused_input_dims[d + 1];
        out_block[d] = out_block[d + 1] * (p.fused_before[d + 1] + p.fused_input_dims[d + 1] + p.fused_after[d + 1]);
    }
    detail::pad_op::pad_block(p, in_block, out_block, 0, input.data.data(), output.data.data());
}

}  // namespace qtl::ops
