#pragma once
// RESHAPE (TFLite builtin 22): the same elements under a new shape.
//
// The new shape may hold one -1, which takes whatever size makes the element
// counts match (TFLite's "stretch" dimension; with zero-sized dimensions it
// follows TFLite: the -1 becomes (product of the non-zero input dims) /
// (product of the non-zero new dims), or 0 when the input is empty and the
// other new dims are not).  Quantized RESHAPE copies raw values, so the
// converter gives input and output the same scale and zero point
// (TFLite's quantizer: restrict_same_input_output_scale); prepare() checks it.
//
// Types: int8 and int16 (16x8 mode, zero point 0).  TFLite op version 1 for
// every type.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "qtl/core/element_types.hpp"
#include "qtl/core/error.hpp"
#include "qtl/core/shape.hpp"
#include "qtl/core/tensor_view.hpp"
#include "qtl/ops/detail/quantization_checks.hpp"

namespace qtl::ops {

template <class T>
struct reshape_params {
    static_assert(std::is_same_v<T, std::int8_t> || std::is_same_v<T, std::int16_t>,
                  "RESHAPE supports int8 and int16 (16x8) tensors only");
    qtl::shape input_shape;
    qtl::shape new_shape;  // at most one -1
    float input_scale = 1.0f;
    std::int32_t input_zero_point = 0;
    float output_scale = 1.0f;
    std::int32_t output_zero_point = 0;
};

template <class T>
struct reshape_prepared {
    qtl::shape input_shape;
    qtl::shape output_shape;  // the -1 resolved
};

namespace detail::reshape_op {

inline const std::string where = "RESHAPE";

}  // namespace detail::reshape_op

template <class T>
reshape_prepared<T> prepare(const reshape_params<T>& p) {
    using namespace detail::reshape_op;
    detail::check_tensor_quantization<T>(where, "input", p.input_scale, p.input_zero_point);
    detail::check_tensor_quantization<T>(where, "output", p.output_scale, p.output_zero_point);
    detail::check_same_quantization(where, "raw values are copied", p.input_scale, p.input_zero_point,
                                    p.output_scale, p.output_zero_point);
    const std::size_t input_count = num_elements(p.input_shape, where + " input shape");

    // Element counts with and without the zero-sized dimensions, as TFLite does.
    std::size_t input_nonzero = 1;
    for (const auto d : p.input_shape) {
        if (d == 0) continue;
        const auto ud = static_cast<std::size_t>(d);
        check(input_nonzero <= (std::size_t{1} << 40) / ud, where, "input shape ", shape_text(p.input_shape),
              " has more than 2^40 elements in its non-zero dimensions");
        input_nonzero *= ud;
    }
    std::size_t output_count = 1, output_nonzero = 1;
    int stretch = -1;
    for (std::size_t i = 0; i < p.new_shape.size(); ++i) {
        const std::int32_t d = p.new_shape[i];
        if (d == -1) {
            check(stretch < 0, where, "new shape ", shape_text(p.new_shape), " has more than one -1");
            stretch = static_cast<int>(i);
            continue;
        }
        check(d >= 0, where, "new shape ", shape_text(p.new_shape), " has dimension ", d,
              " (only -1 may be negative)");
        const auto ud = static_cast<std::size_t>(d);
        check(ud == 0 || output_count <= (std::size_t{1} << 40) / ud, where, "new shape ", shape_text(p.new_shape),
              " has more than 2^40 elements");
        output_count *= ud;
        if (d != 0) output_nonzero *= ud;
    }
    reshape_prepared<T> r{p.input_shape, p.new_shape};
    if (stretch >= 0) {
        const std::size_t d = (input_count == 0 && output_count != 0) ? 0 : input_nonzero / output_nonzero;
        check(d <= 0x7fffffff, where, "the -1 of ", shape_text(p.new_shape), " resolves to ", d,
              ", which does not fit int32");
        r.output_shape[static_cast<std::size_t>(stretch)] = static_cast<std::int32_t>(d);
        output_count *= d;
    }
    check(output_count == input_count, where, "new shape ", shape_text(p.new_shape), " (", shape_text(r.output_shape),
          ") has ", output_count, " elements, the input ", shape_text(p.input_shape), " has ", input_count);
    return r;
}

namespace detail::reshape_op {

template <class T>
void check_views(const reshape_prepared<T>& p, const tensor_view<const T>& input, const tensor_view<T>& output) {
    check(input.shape == p.input_shape, where, "input shape ", shape_text(input.shape), " differs from the prepared ",
          shape_text(p.input_shape));
    check(output.shape == p.output_shape, where, "output shape ", shape_text(output.shape),
          " differs from the prepared ", shape_text(p.output_shape));
}

}  // namespace detail::reshape_op

// Optimized path: one memmove (nothing when the output aliases the input, as
// TFLite's in-place reshape does).
template <class T>
void eval(const reshape_prepared<T>& p, tensor_view<const T> input, tensor_view<T> output) {
    detail::reshape_op::check_views(p, input, output);
    if (input.size() == 0 || static_cast<const void*>(input.data.data()) == output.data.data()) return;
    std::memmove(output.data.data(), input.data.data(), input.size() * sizeof(T));
}

}  // namespace qtl::ops
