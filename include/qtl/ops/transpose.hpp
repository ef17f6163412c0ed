#pragma once
// TRANSPOSE (TFLite builtin 39): output dimension i is input dimension perm[i].
//
// perm must be a permutation of [0, rank) (negative entries count from the
// end, as in TFLite); rank up to 6.  Quantized TRANSPOSE moves raw values, so
// input and output share scale and zero point (TFLite's quantizer:
// restrict_same_input_output_scale); prepare() checks it.
//
// The optimized path works on a canonical form computed once in prepare():
// size-1 dimensions dropped and output dimensions that are consecutive in
// the input fused, so NHWC <-> NCHW becomes a 2-D (batched) transpose and an
// identity permutation a single memcpy.  It copies contiguous runs with
// memcpy and transposes the rest in cache-sized tiles.
//
// A 2-D transpose into 2 to 4 int8 columns (an NCHW image to NHWC) takes
// kernels/interleave_planes.hpp: PSHUFB on AVX2 CPUs instead of a byte at a
// time (MobileNetV2's 3x224x224 input: 115-127 -> 8 us on AMD Zen 5).
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
#include "qtl/kernels/interleave_planes.hpp"
#include "qtl/ops/detail/quantization_checks.hpp"

namespace qtl::ops {

template <class T>
struct transpose_params {
    static_assert(std::is_same_v<T, std::int8_t> || std::is_same_v<T, std::int16_t>,
                  "TRANSPOSE supports int8 and int16 (16x8) tensors only");
    qtl::shape input_shape;
    std::vector<std::int32_t> perm;  // output dim i = input dim perm[i]
    float input_scale = 1.0f;
    std::int32_t input_zero_point = 0;
    float output_scale = 1.0f;
    std::int32_t output_zero_point = 0;
};

inline constexpr std::size_t transpose_max_rank = 6;

template <class T>
struct transpose_prepared {
    qtl::shape input_shape;
    qtl::shape output_shape;
    std::vector<int> perm;  // normalized to [0, rank)
    // Canonical form: fused output dimensions (row-major) and the input
    // stride, in elements, of each.  Empty when every dimension has size 1.
    std::vector<std::size_t> fused_sizes;
    std::vector<std::size_t> fused_input_strides;
};

namespace detail::transpose_op {

inline const std::string where = "TRANSPOSE";

// Row-major strides, in elements, of `dims`.
inline std::vector<std::size_t> row_major_strides(const std::vector<std::size_t>& dims) {
    std::vector<std::size_t> strides(dims.size(), 1);
    for (std::size_t i = dims.size(); i-- > 1;) strides[i - 1] = strides[i] * dims[i];
    return strides;
}

}  // namespace detail::transpose_op

template <class T>
transpose_prepared<T> prepare(const transpose_params<T>& p) {
    using namespace detail::transpose_op;
    detail::check_tensor_quantization<T>(where, "input", p.input_scale, p.input_zero_point);
    detail::check_tensor_quantization<T>(where, "output", p.output_scale, p.output_zero_point);
    detail::check_same_quantization(where, "raw values are moved", p.input_scale, p.input_zero_point,
                                    p.output_scale, p.output_zero_point);
    num_elements(p.input_shape, where + " input shape");
    const std::size_t rank = p.input_shape.size();
    check(rank <= transpose_max_rank, where, "rank ", rank, " exceeds the supported ", transpose_max_rank);
    check(p.perm.size() == rank, where, "perm has ", p.perm.size(), " entries, the input ",
          shape_text(p.input_shape), " has rank ", rank);

    transpose_prepared<T> r;
    r.input_shape = p.input_shape;
    r.output_shape.resize(rank);
    r.perm.resize(rank);
    std::vector<bool> seen(rank, false);
    const int irank = static_cast<int>(rank);
    for (std::size_t i = 0; i < rank; ++i) {
        const std::int32_t v = p.perm[i];
        check(v >= -irank && v < irank, where, "perm[", i, "] = ", v, " is out of range for rank ", rank);
        const int axis = v < 0 ? v + irank : v;
        check(!seen[static_cast<std::size_t>(axis)], where, "perm repeats input dimension ", axis);
        seen[static_cast<std::size_t>(axis)] = true;
        r.perm[i] = axis;
        r.output_shape[i] = p.input_shape[static_cast<std::size_t>(axis)];
    }

    // Canonical form.  Drop size-1 input dims (they move nothing), renumber...
    std::vector<int> new_index(rank, -1);
    std::vector<std::size_t> kept_dims;
    for (std::size_t d = 0; d < rank; ++d) {
        if (p.input_shape[d] == 1) continue;
        new_index[d] = static_cast<int>(kept_dims.size());
        kept_dims.push_back(static_cast<std::size_t>(p.input_shape[d]));
    }
    const auto kept_strides = row_major_strides(kept_dims);
    std::vector<int> kept_perm;
    for (const int axis : r.perm)
        if (new_index[static_cast<std::size_t>(axis)] >= 0) kept_perm.push_back(new_index[static_cast<std::size_t>(axis)]);
    // ...then fuse output dims whose input dims are consecutive: a run
    // perm = (a, a+1, ..., b) reads one block of the input with the stride of b.
    for (std::size_t i = 0; i < kept_perm.size(); ++i) {
        const auto axis = static_cast<std::size_t>(kept_perm[i]);
        if (i > 0 && kept_perm[i] == kept_perm[i - 1] + 1) {
            r.fused_sizes.back() *= kept_dims[axis];
            r.fused_input_strides.back() = kept_strides[axis];
        } else {
            r.fused_sizes.push_back(kept_dims[axis]);
            r.fused_input_strides.push_back(kept_strides[axis]);
        }
    }
    return r;
}

namespace detail::transpose_op {

template <class T>
void check_views(const transpose_prepared<T>& p, const tensor_view<const T>& input, const tensor_view<T>& output) {
    check(input.shape == p.input_shape, where, "input shape ", shape_text(input.shape), " differs from the prepared ",
          shape_text(p.input_shape));
    check(output.shape == p.output_shape, where, "output shape ", shape_text(output.shape),
          " differs from the prepared ", shape_text(p.output_shape));
    check(input.size() == 0 || static_cast<const void*>(input.data.data()) != output.data.data(), where,
          "the output must not alias the input");
}

// out[r * out_row + c] = in[r + c * in_col] for a rows x cols tile: a
// 2-D transpose of a block whose input rows are contiguous (stride 1 along r).
template <class T>
void transpose_tile(const T* in, std::size_t in_col, T* out, std::size_t out_row, std::size_t rows,
                    std::size_t cols) {
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c) out[r * out_row + c] = in[r + c * in_col];
}

}  // namespace detail::transpose_op

// Optimized path on the canonical form: memcpy when the innermost output
// dimension is contiguous in the input, else tiles of a 2-D transpose
// between the output dim that is contiguous in the input and the innermost.
template <class T>
void eval(const transpose_prepared<T>& p, tensor_view<const T> input, tensor_view<T> output) {
    using namespace detail::transpose_op;
    check_views(p, input, output);
    const std::size_t n = input.size();
    if (n == 0) return;
    const std::size_t dims = p.fused_sizes.size();
    const T* in = input.data.data();
    T* out = output.data.data();
    if (dims <= 1) {  // identity up to size-1 dims
        std::memcpy(out, in, n * sizeof(T));
        return;
    }
    const auto& size = p.fused_sizes;
    const auto& in_stride = p.fused_input_strides;
    const auto out_stride = row_major_strides(size);
    const std::size_t last = dims - 1;

    if (in_stride[last] == 1) {
        // Runs of size[last] contiguous elements; odometer over the rest.
        std::vector<std::size_t> index(dims, 0);
        const std::size_t runs = n / size[last];
        std::size_t in_offset = 0;
        for (std::size_t run = 0; run < runs; ++run) {
            std::memcpy(out + run * size[last], in + in_offset, size[last] * sizeof(T));
            for (std::size_t d = last; d-- > 0;) {
                in_offset += in_stride[d];
                if (++index[d] < size[d]) break;
                in_offset -= in_stride[d] * size[d];
                index[d] = 0;
            }
        }
        return;
    }

    // The fused output dim `j` that is contiguous in the input (stride 1):
    // after fusion it exists and is not the innermost.
    std::size_t j = 0;
    while (in_stride[j] != 1) ++j;
    // Odometer over every dim except j and last; each step transposes the
    // [size[j], size[last]] plane in tiles.
    constexpr std::size_t tile = 32;
    std::vector<std::size_t> index(dims, 0);
    std::size_t in_offset = 0, out_offset = 0;
    const std::size_t planes = n / (size[j] * size[last]);
    // Few output columns, output rows contiguous: size[last] planes interleaved.
    bool interleave = false;
    if constexpr (std::is_same_v<T, std::int8_t>)
        interleave = j + 1 == last && kernels::interleave_planes_vectorized(size[last]);
    for (std::size_t plane = 0; plane < planes; ++plane) {
        if constexpr (std::is_same_v<T, std::int8_t>)
            if (interleave)
                kernels::interleave_planes(in + in_offset, in_stride[last], out + out_offset, size[j], size[last]);
        for (std::size_t r0 = 0; !interleave && r0 < size[j]; r0 += tile) {
            const std::size_t rows = std::min(tile, size[j] - r0);
            for (std::size_t c0 = 0; c0 < size[last]; c0 += tile) {
                const std::size_t cols = std::min(tile, size[last] - c0);
                transpose_tile(in + in_offset + r0 + c0 * in_stride[last], in_stride[last],
                               out + out_offset + r0 * out_stride[j] + c0, out_stride[j], rows, cols);
            }
        }
        for (std::size_t d = last; d-- > 0;) {
            if (d == j) continue;
            in_offset += in_stride[d];
            out_offset += out_stride[d];
            if (++index[d] < size[d]) break;
            in_offset -= in_stride[d] * size[d];
            out_offset -= out_stride[d] * size[d];
            index[d] = 0;
        }
    }
}

}  // namespace qtl::ops
