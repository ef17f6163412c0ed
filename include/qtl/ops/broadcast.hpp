#pragma once
// NumPy-style broadcasting of two tensor shapes, as TFLite's binary ops (ADD,
// SUB, MUL, ...) do it, up to rank 6:
//  - the shapes are aligned at their last dimension; a missing leading
//    dimension counts as 1;
//  - each pair of dimensions must be equal or one of them 1; the output takes
//    the other one (so 1 against 0 gives 0, as in NumPy).
//
// broadcast_plan is computed once by prepare(); it says, for every output
// element, which element of each input it reads:
//  - dims/strides1/strides2: the full walk, right-aligned to rank 6 (leading
//    dims 1), the element stride of each input along each output dimension
//    (0 where that input is broadcast).  The reference kernels use it the way
//    TFLite's reference kernels use NdArrayDesc: one index per output element.
//  - merged_*: the same walk with size-1 dimensions dropped and neighbouring
//    dimensions merged when both inputs broadcast alike along them.  The
//    innermost merged dimension is a "run": a stretch of the output along
//    which each input either advances one element at a time or repeats one
//    element.  Equal shapes give one run over everything, a scalar operand one
//    run with step 0, a row broadcast ([R, C] with [C]) R runs of C.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "qtl/core/error.hpp"
#include "qtl/core/shape.hpp"

namespace qtl::ops {

inline constexpr std::size_t max_broadcast_rank = 6;

// One innermost stretch of the output (see the header comment).
struct broadcast_run {
    std::size_t output = 0;          // offset of the first output element
    std::size_t input1 = 0;          // offset of the first element read from input 1
    std::size_t input2 = 0;
    std::size_t step1 = 0;           // 1: input 1 advances with the output; 0: it repeats one element
    std::size_t step2 = 0;
    std::size_t length = 0;          // number of output elements in the run
};

struct broadcast_plan {
    using extents = std::array<std::size_t, max_broadcast_rank>;

    qtl::shape input1_shape, input2_shape, output_shape;
    std::size_t input1_size = 0, input2_size = 0, output_size = 0;

    extents dims{};      // output extents, right-aligned (leading 1s)
    extents strides1{};  // element strides of input 1 per output dim, 0 where broadcast
    extents strides2{};

    std::size_t merged_rank = 0;  // >= 1 unless the output is empty
    extents merged_dims{};
    extents merged_strides1{};
    extents merged_strides2{};

    // No broadcasting at all: both inputs have the output's element order.
    bool is_elementwise() const noexcept {
        return input1_size == output_size && input2_size == output_size;
    }
};

namespace detail {

// Contiguous row-major strides of `s` right-aligned to max_broadcast_rank,
// with 0 on the dimensions of extent 1 (those an input never advances along).
inline broadcast_plan::extents broadcast_strides(const qtl::shape& s) {
    broadcast_plan::extents strides{};
    std::size_t stride = 1;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const std::size_t axis = max_broadcast_rank - 1 - i;
        const auto extent = static_cast<std::size_t>(s[s.size() - 1 - i]);
        strides[axis] = extent == 1 ? 0 : stride;
        stride *= extent;
    }
    return strides;
}

}  // namespace detail

// The output shape of broadcasting `a` against `b`; throws qtl::error (with
// `where`, e.g. "ADD") when a shape has rank > 6 or a negative dimension, or
// when the shapes cannot be broadcast.
inline broadcast_plan plan_broadcast(const qtl::shape& a, const qtl::shape& b, const std::string& where) {
    check(a.size() <= max_broadcast_rank, where, "input 1 has rank ", a.size(), " (shape ", shape_text(a),
          "), at most ", max_broadcast_rank, " is supported");
    check(b.size() <= max_broadcast_rank, where, "input 2 has rank ", b.size(), " (shape ", shape_text(b),
          "), at most ", max_broadcast_rank, " is supported");
    broadcast_plan plan;
    plan.input1_shape = a;
    plan.input2_shape = b;
    plan.input1_size = num_elements(a, where);
    plan.input2_size = num_elements(b, where);

    const std::size_t rank = a.size() > b.size() ? a.size() : b.size();
    plan.output_shape.assign(rank, 1);
    plan.dims.fill(1);
    for (std::size_t i = 0; i < rank; ++i) {
        const std::int32_t da = i < a.size() ? a[a.size() - 1 - i] : 1;
        const std::int32_t db = i < b.size() ? b[b.size() - 1 - i] : 1;
        check(da == db || da == 1 || db == 1, where, "shapes ", shape_text(a), " and ", shape_text(b),
              " cannot be broadcast: dimension ", rank - 1 - i, " of the output would need ", da, " and ", db);
        const std::int32_t d = da == 1 ? db : da;
        plan.output_shape[rank - 1 - i] = d;
        plan.dims[max_broadcast_rank - 1 - i] = static_cast<std::size_t>(d);
    }
    plan.output_size = num_elements(plan.output_shape, where);
    plan.strides1 = detail::broadcast_strides(a);
    plan.strides2 = detail::broadcast_strides(b);

    // Merge: drop output dims of extent 1, fuse neighbours along which each
    // input is broadcast (stride 0) or not in the same way.  Fusing keeps the
    // inner stride: between two fused non-broadcast dims of an input there are
    // only dims of extent 1 in that input, so its strides stay contiguous.
    if (plan.output_size == 0) return plan;
    std::size_t m = 0;
    for (std::size_t axis = 0; axis < max_broadcast_rank; ++axis) {
        if (plan.dims[axis] == 1) continue;
        const bool same_pattern = m > 0 && (plan.merged_strides1[m - 1] == 0) == (plan.strides1[axis] == 0) &&
                                  (plan.merged_strides2[m - 1] == 0) == (plan.strides2[axis] == 0);
        if (same_pattern) {
            plan.merged_dims[m - 1] *= plan.dims[axis];
        } else {
            plan.merged_dims[m] = plan.dims[axis];
            ++m;
        }
        plan.merged_strides1[m - 1] = plan.strides1[axis];
        plan.merged_strides2[m - 1] = plan.strides2[axis];
    }
    if (m == 0) {  // a single output element
        plan.merged_dims[0] = 1;
        m = 1;
    }
    plan.merged_rank = m;
    return plan;
}

// The output shape alone.
inline qtl::shape broadcast_shape(const qtl::shape& a, const qtl::shape& b, const std::string& where) {
    return plan_broadcast(a, b, where).output_shape;
}

// Calls f(const broadcast_run&) for each run of the output, in output order.
// A non-broadcast input advances by exactly 1 along a run (its innermost
// merged dim has only extent-1 dims to its right).
template <class F>
void for_each_broadcast_run(const broadcast_plan& plan, F&& f) {
    if (plan.output_size == 0) return;
    const std::size_t inner = plan.merged_rank - 1;
    broadcast_run run;
    run.length = plan.merged_dims[inner];
    run.step1 = plan.merged_strides1[inner] == 0 ? 0 : 1;
    run.step2 = plan.merged_strides2[inner] == 0 ? 0 : 1;
    std::array<std::size_t, max_broadcast_rank> index{};  // counters of the outer merged dims
    const std::size_t runs = plan.output_size / run.length;
    for (std::size_t r = 0; r < runs; ++r) {
        f(static_cast<const broadcast_run&>(run));
        run.output += run.length;
        // Odometer over the outer dims, innermost first.
        for (std::size_t d = inner; d-- > 0;) {
            run.input1 += plan.merged_strides1[d];
            run.input2 += plan.merged_strides2[d];
            if (++index[d] < plan.merged_dims[d]) break;
            index[d] = 0;
            run.input1 -= plan.merged_strides1[d] * plan.merged_dims[d];
            run.input2 -= plan.merged_strides2[d] * plan.merged_dims[d];
        }
    }
}

// Checks the shapes an eval() receives against the prepared ones.
inline void check_broadcast_views(const broadcast_plan& plan, const qtl::shape& input1, const qtl::shape& input2,
                                  const qtl::shape& output, const std::string& where) {
    check(input1 == plan.input1_shape, where, "input 1 has shape ", shape_text(input1), " but the op was prepared for ",
          shape_text(plan.input1_shape));
    check(input2 == plan.input2_shape, where, "input 2 has shape ", shape_text(input2), " but the op was prepared for ",
          shape_text(plan.input2_shape));
    check(output == plan.output_shape, where, "output has shape ", shape_text(output), ", expected ",
          shape_text(plan.output_shape));
}

// Copies `count` elements of one input along a run into the int32 `buffer`
// (step 1: consecutive elements; step 0: one element repeated) and zeros the
// buffer up to `padded`, so that a SIMD loop over whole batches reads defined
// values.  The copy is a plain widening loop the compiler vectorizes.
template <class T>
void widen_run_operand(const T* source, std::size_t step, std::size_t count, std::size_t padded,
                       std::int32_t* buffer) noexcept {
    if (step == 0) {
        const std::int32_t value = source[0];
        for (std::size_t j = 0; j < count; ++j) buffer[j] = value;
    } else {
        for (std::size_t j = 0; j < count; ++j) buffer[j] = source[j];
    }
    for (std::size_t j = count; j < padded; ++j) buffer[j] = 0;
}

// Calls f(output_index, input1_index, input2_index) for every output element
// in row-major order, walking all six dims (the reference kernels' loop).
template <class F>
void for_each_broadcast_index(const broadcast_plan& plan, F&& f) {
    const auto& d = plan.dims;
    const auto& s1 = plan.strides1;
    const auto& s2 = plan.strides2;
    std::size_t out = 0;
    for (std::size_t i0 = 0; i0 < d[0]; ++i0)
        for (std::size_t i1 = 0; i1 < d[1]; ++i1)
            for (std::size_t i2 = 0; i2 < d[2]; ++i2)
                for (std::size_t i3 = 0; i3 < d[3]; ++i3)
                    for (std::size_t i4 = 0; i4 < d[4]; ++i4)
                        for (std::size_t i5 = 0; i5 < d[5]; ++i5) {
                            const std::size_t x1 =
                                i0 * s1[0] + i1 * s1[1] + i2 * s1[2] + i3 * s1[3] + i4 * s1[4] + i5 * s1[5];
                            const std::size_t x2 =
                                i0 * s2[0] + i1 * s2[1] + i2 * s2[2] + i3 * s2[3] + i4 * s2[4] + i5 * s2[5];
                            f(out++, x1, x2);
                        }
}

}  // namespace qtl::ops
