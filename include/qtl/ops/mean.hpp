#pragma once
// MEAN (TFLite builtin 40): the average over a set of axes, requantized to
// the output's scale and zero point.
//
// Arithmetic of TFLite's reference kernel (reduce.cc EvalMean with
// kReference -> reference_ops::QuantizedMeanOrSum, the integer-only version
// since TensorFlow PR #52014), for every axis set, also H,W of a 4-D
// keep_dims input:
//
//   sum   = wrapping int32 sum of the raw input values over the n reduced elements
//   (m, shift) = QuantizeMultiplier(input_scale / output_scale)
//   s     = min(floor(log2 n), 32, 31 + shift)        // fold 1/n into the multiplier
//   m'    = (m << s) / n   (int64, truncating),  shift' = shift - s
//   out   = clamp(MultiplyByQuantizedMultiplier(int32(sum - input_zp * n), m', shift') + output_zp)
//
// Older TFLite references differ: before PR #52014 a 4-D keep_dims mean over
// H,W went through reference_integer_ops::Mean (requantize, then divide by n
// rounding half away from zero), equal input/output parameters through an
// integer division of the raw sum, others through a float path; TFLite's
// default (optimized) int8 H,W kernel uses a float bias and QuantizeMultiplier
// (in_scale / (n * out_scale)).  Those round differently, so some outputs
// can differ from this one's in the last bit.
//
// Axes may repeat or be negative (resolved and deduplicated as TFLite does);
// no axes means n = 1 (a plain requantization).  An empty input gives an
// all-zero output (raw 0, TFLite's "NaN" for integers).  int16 (16x8) needs
// zero points 0, as TFLite checks.
//
// The optimized path accumulates in vectorized blocks (int8/int16 widened to
// int32 lanes; integer addition is associative, so the sums are exact) and
// ends in xsimd's requantize_n, the same stage the reference reaches through
// scalar requantize with the same prepared multiplier.

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "qtl/core/element_types.hpp"
#include "qtl/core/error.hpp"
#include "qtl/core/shape.hpp"
#include "qtl/core/tensor_view.hpp"
#include "qtl/detail/gcc_bug_105593.hpp"
#include "qtl/fixedpoint/quantize_multiplier.hpp"
#include "qtl/fixedpoint/requantize.hpp"
#include "qtl/fixedpoint/requantize_batch.hpp"
#include "qtl/fixedpoint/rounding_policy.hpp"
#include "qtl/ops/detail/quantization_checks.hpp"

QTL_DETAIL_GCC_BUG_105593_BEGIN

namespace qtl::ops {

template <class T>
struct mean_params {
    static_assert(std::is_same_v<T, std::int8_t> || std::is_same_v<T, std::int16_t>,
                  "MEAN supports int8 and int16 (16x8) tensors only");
    qtl::shape input_shape;
    std::vector<std::int32_t> axes;  // may be negative or repeat
    bool keep_dims = false;
    float input_scale = 1.0f;
    std::int32_t input_zero_point = 0;
    float output_scale = 1.0f;
    std::int32_t output_zero_point = 0;
};

template <class T>
struct mean_prepared {
    qtl::shape input_shape;
    qtl::shape output_shape;
    std::vector<int> axes;         // resolved: in [0, rank), first occurrences, in the given order
    std::size_t reduced_count = 1;  // n, elements averaged into one output
    std::int32_t input_zero_point = 0;
    quantized_multiplier multiplier;  // input_scale / output_scale with 1/n folded in (see above)
    requantize_params requantize;     // output zero point, clamp to T's range
    // Canonical form for the optimized path: the input's dimensions with the
    // size-1 ones dropped and runs of kept / reduced ones fused.
    std::vector<std::size_t> group_sizes;
    std::vector<bool> group_reduced;
};

namespace detail::mean_op {

inline const std::string where = "MEAN";

// TFLite folds 1/n into the Q31 multiplier of QuantizedMeanOrSum like this.
inline quantized_multiplier fold_count(quantized_multiplier qm, std::size_t n) {
    int s = static_cast<int>(std::bit_width(static_cast<std::uint64_t>(n))) - 1;  // floor(log2 n)
    s = std::min(s, 32);
    s = std::min(s, 31 + qm.shift);
    const std::int64_t m = (std::int64_t{qm.multiplier} << s) / static_cast<std::int64_t>(n);
    return {static_cast<std::int32_t>(m), qm.shift - s};
}

// int32 addition modulo 2^32, as TFLite's WrappingAdd (no UB on overflow).
inline std::int32_t wrapping_add(std::int32_t a, std::int32_t b) {
    return static_cast<std::int32_t>(static_cast<std::uint32_t>(a) + static_cast<std::uint32_t>(b));
}

// int32(sum - zero_point * n) modulo 2^32, as TFLite's cast of its int64 difference.
inline std::int32_t remove_zero_point(std::int32_t sum, std::int32_t zero_point, std::size_t n) {
    const auto offset = static_cast<std::uint64_t>(std::int64_t{zero_point}) * static_cast<std::uint64_t>(n);
    return static_cast<std::int32_t>(static_cast<std::uint32_t>(sum) - static_cast<std::uint32_t>(offset));
}

}  // namespace detail::mean_op

template <class T>
mean_prepared<T> prepare(const mean_params<T>& p) {
    using namespace detail::mean_op;
    detail::check_tensor_quantization<T>(where, "input", p.input_scale, p.input_zero_point);
    detail::check_tensor_quantization<T>(where, "output", p.output_scale, p.output_zero_point);
    num_elements(p.input_shape, where + " input shape");
    const std::size_t rank = p.input_shape.size();

    mean_prepared<T> r;
    r.input_shape = p.input_shape;
    r.input_zero_point = p.input_zero_point;
    std::vector<bool> reduced(rank, false);
    if (rank > 0) {  // TFLite ignores the axes of a scalar input
        for (const std::int32_t a : p.axes) {
            const int axis = normalize_axis(a, rank, where);
            if (reduced[static_cast<std::size_t>(axis)]) continue;
            reduced[static_cast<std::size_t>(axis)] = true;
            r.axes.push_back(axis);
        }
    }
    for (std::size_t d = 0; d < rank; ++d) {
        if (reduced[d]) {
            r.reduced_count *= static_cast<std::size_t>(p.input_shape[d]);
            if (p.keep_dims) r.output_shape.push_back(1);
        } else {
            r.output_shape.push_back(p.input_shape[d]);
        }
    }

    const double ratio = static_cast<double>(p.input_scale) / static_cast<double>(p.output_scale);
    const quantized_multiplier qm = quantize_multiplier(ratio);
    // A shift above 30 (a ratio >= 2^30) is outside single rounding's domain
    // and no real model has it.
    check(qm.shift <= 30, where, "input_scale / output_scale = ", ratio, " is too large (must be < 2^30)");
    r.multiplier = r.reduced_count > 0 ? fold_count(qm, r.reduced_count) : qm;
    r.requantize = {p.output_zero_point, element_traits<T>::min, element_traits<T>::max};

    for (std::size_t d = 0; d < rank; ++d) {
        const auto size = static_cast<std::size_t>(p.input_shape[d]);
        if (size == 1) continue;
        if (!r.group_sizes.empty() && r.group_reduced.back() == reduced[d]) {
            r.group_sizes.back() *= size;
        } else {
            r.group_sizes.push_back(size);
            r.group_reduced.push_back(reduced[d]);
        }
    }
    if (r.group_sizes.empty()) {  // a single element
        r.group_sizes.push_back(1);
        r.group_reduced.push_back(false);
    }
    return r;
}

namespace detail::mean_op {

template <class T>
void check_views(const mean_prepared<T>& p, const tensor_view<const T>& input, const tensor_view<T>& output) {
    check(input.shape == p.input_shape, where, "input shape ", shape_text(input.shape), " differs from the prepared ",
          shape_text(p.input_shape));
    check(output.shape == p.output_shape, where, "output shape ", shape_text(output.shape),
          " differs from the prepared ", shape_text(p.output_shape));
}

// The sums run in blocks of fixed length over pointers that do not alias:
// loops GCC and clang vectorize at -O2 with widening loads (VPMOVSXBD).
// xsimd 8's converting load (batch<int32_t>::load_unaligned of int8_t) is a
// scalar loop: 1.47 -> 0.17 ns per element on AMD Zen 1 (49 rows of 1280, the
// MEAN that ends MobileNetV2).
inline constexpr std::size_t sum_block = 32;

// acc[i] += in[i] for i < n (wrapping int32).
template <class T>
void accumulate_elementwise(const T* __restrict in, std::int32_t* __restrict acc, std::size_t n) {
    std::size_t i = 0;
    for (; i + sum_block <= n; i += sum_block)
        for (std::size_t j = 0; j < sum_block; ++j) acc[i + j] = wrapping_add(acc[i + j], in[i + j]);
    for (; i < n; ++i) acc[i] = wrapping_add(acc[i], in[i]);
}

// The wrapping int32 sum of in[0..n).
template <class T>
std::int32_t sum_row(const T* __restrict in, std::size_t n) {
    std::int32_t partial[sum_block] = {};
    std::size_t i = 0;
    for (; i + sum_block <= n; i += sum_block)
        for (std::size_t j = 0; j < sum_block; ++j) partial[j] = wrapping_add(partial[j], in[i + j]);
    std::int32_t sum = 0;
    for (const std::int32_t v : partial) sum = wrapping_add(sum, v);
    for (; i < n; ++i) sum = wrapping_add(sum, in[i]);
    return sum;
}

}  // namespace detail::mean_op

// Optimized path: sums over the canonical groups in vectorized blocks, then
// requantize_n.
template <rounding_policy Policy = double_rounding, class A = xsimd::default_arch, class T>
void eval(const mean_prepared<T>& p, tensor_view<const T> input, tensor_view<T> output) {
    using namespace detail::mean_op;
    check_views(p, input, output);
    const std::size_t out_count = output.size();
    if (out_count == 0) return;
    if (input.size() == 0) {  // TFLite fills an empty reduction with (integer) NaN = 0
        std::fill(output.data.begin(), output.data.end(), T{0});
        return;
    }
    std::vector<std::int32_t> acc(out_count, 0);

    const std::size_t groups = p.group_sizes.size();
    // The input is read in memory order, one innermost group (a row) at a
    // time; each group's output stride (0 for a reduced group) moves the
    // accumulator the row adds into.
    std::vector<std::size_t> out_stride(groups, 0);
    for (std::size_t g = groups, s = 1; g-- > 0;) {
        if (p.group_reduced[g]) continue;
        out_stride[g] = s;
        s *= p.group_sizes[g];
    }
    const std::size_t last = groups - 1;
    const std::size_t row = p.group_sizes[last];
    const std::size_t rows = input.size() / row;
    const T* in = input.data.data();
    std::vector<std::size_t> index(groups, 0);
    std::size_t out_offset = 0;
    for (std::size_t r = 0; r < rows; ++r) {
        if (p.group_reduced[last]) {
            acc[out_offset] = wrapping_add(acc[out_offset], sum_row(in + r * row, row));
        } else {
            accumulate_elementwise(in + r * row, acc.data() + out_offset, row);
        }
        for (std::size_t g = last; g-- > 0;) {
            out_offset += out_stride[g];
            if (++index[g] < p.group_sizes[g]) break;
            out_offset -= out_stride[g] * p.group_sizes[g];
            index[g] = 0;
        }
    }
    for (auto& a : acc) a = remove_zero_point(a, p.input_zero_point, p.reduced_count);
    requantize_n<T, Policy, A>(acc.data(), out_count, p.multiplier, p.requantize, output.data.data());
}

}  // namespace qtl::ops

QTL_DETAIL_GCC_BUG_105593_END
