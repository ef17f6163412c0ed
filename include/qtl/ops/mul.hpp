#pragma once
// MUL: element-wise product of two quantized tensors with NumPy broadcasting
// and a fused activation, bit-exact with TFLite's reference kernel
// (reference_integer_ops::MulElementwise / BroadcastMul*DSlow):
//
//   M   = in1_scale * in2_scale / out_scale   (float arithmetic, as TFLite)
//   out = clamp(MBQM((q1 - zp1) * (q2 - zp2), M) + zp_out, activation range)
//
// The product fits int32: 255 * 255 for int8, 2^15 * 2^15 for int16 (whose
// zero points are 0).  M may be >= 1 (a positive shift; TFLite's MUL
// version 3); the requantize stage handles any shift.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>

#include <xsimd/xsimd.hpp>

#include "qtl/core/element_types.hpp"
#include "qtl/core/error.hpp"
#include "qtl/core/shape.hpp"
#include "qtl/core/tensor_view.hpp"
#include "qtl/fixedpoint/quantize_multiplier.hpp"
#include "qtl/fixedpoint/requantize.hpp"
#include "qtl/fixedpoint/requantize_batch.hpp"
#include "qtl/ops/broadcast.hpp"
#include "qtl/ops/fused_activation.hpp"

namespace qtl::ops {

template <class T>
struct mul_params {
    static_assert(std::is_same_v<T, std::int8_t> || std::is_same_v<T, std::int16_t>,
                  "MUL supports int8 inputs and outputs, and int16 ones (16x8 mode); "
                  "other element types are not supported");
    qtl::shape input1_shape;
    qtl::shape input2_shape;
    float input1_scale = 0.0f;
    std::int32_t input1_zero_point = 0;
    float input2_scale = 0.0f;
    std::int32_t input2_zero_point = 0;
    float output_scale = 0.0f;
    std::int32_t output_zero_point = 0;
    fused_activation activation = fused_activation::none;
};

template <class T>
struct mul_prepared {
    broadcast_plan plan;
    std::int32_t input1_offset = 0;  // -zero_point
    std::int32_t input2_offset = 0;
    quantized_multiplier output_multiplier;
    requantize_params output;  // zero point and activation clamp
};

template <class T>
mul_prepared<T> prepare(const mul_params<T>& params) {
    const std::string where = "MUL";
    constexpr bool is_int16 = std::is_same_v<T, std::int16_t>;
    constexpr std::int32_t qmin = element_traits<T>::min;
    constexpr std::int32_t qmax = element_traits<T>::max;
    const auto check_tensor = [&](const char* name, float scale, std::int32_t zero_point) {
        check(std::isfinite(scale) && scale > 0.0f, where, name, " scale must be finite and > 0, got ", scale);
        check(zero_point >= qmin && zero_point <= qmax, where, name, " zero point ", zero_point,
              " is outside the ", element_traits<T>::name, " range [", qmin, ", ", qmax, "]");
        // TFLite requires it: with zero points, an int16 product could overflow int32.
        if constexpr (is_int16)
            check(zero_point == 0, where, name, " zero point must be 0 for int16 (16x8 mode), got ", zero_point);
    };
    check_tensor("input 1", params.input1_scale, params.input1_zero_point);
    check_tensor("input 2", params.input2_scale, params.input2_zero_point);
    check_tensor("output", params.output_scale, params.output_zero_point);
    const fused_activation act = params.activation;
    check(act == fused_activation::none || act == fused_activation::relu || act == fused_activation::relu_n1_to_1 ||
              act == fused_activation::relu6,
          where, "fused activation ", static_cast<int>(act),
          " is not supported (expected NONE, RELU, RELU_N1_TO_1 or RELU6)");

    mul_prepared<T> p;
    p.plan = plan_broadcast(params.input1_shape, params.input2_shape, where);
    p.input1_offset = -params.input1_zero_point;
    p.input2_offset = -params.input2_zero_point;
    // TFLite computes the product and quotient in float, then widens.
    const float real_multiplier = params.input1_scale * params.input2_scale / params.output_scale;
    check(std::isfinite(real_multiplier), where, "the multiplier input 1 scale * input 2 scale / output scale = ",
          real_multiplier, " is not finite");
    p.output_multiplier = quantize_multiplier(static_cast<double>(real_multiplier));
    p.output = activation_range<T>(act, params.output_scale, params.output_zero_point);
    return p;
}

// SIMD evaluation: each run of the broadcast walk is cut into chunks whose
// products are formed in int32 batches and handed to requantize_n.  Throws
// qtl::error when a shape differs from the prepared one.
template <class T, class A = xsimd::default_arch>
void eval(const mul_prepared<T>& p, std::type_identity_t<tensor_view<const T>> input1,
          std::type_identity_t<tensor_view<const T>> input2, std::type_identity_t<tensor_view<T>> output) {
    check_broadcast_views(p.plan, input1.shape, input2.shape, output.shape, "MUL");
    using batch = xsimd::batch<std::int32_t, A>;
    constexpr std::size_t lanes = batch::size;
    constexpr std::size_t chunk = 256;  // a multiple of every lane count
    static_assert(chunk % lanes == 0);
    alignas(A::alignment()) std::int32_t buffer1[chunk];
    alignas(A::alignment()) std::int32_t buffer2[chunk];
    alignas(A::alignment()) std::int32_t product[chunk];
    const batch offset1(p.input1_offset), offset2(p.input2_offset);

    for_each_broadcast_run(p.plan, [&](const broadcast_run& run) {
        // A repeated input (scalar or row broadcast) is offset once per run.
        const batch repeated1(run.step1 == 0 ? input1[run.input1] + p.input1_offset : 0);
        const batch repeated2(run.step2 == 0 ? input2[run.input2] + p.input2_offset : 0);
        for (std::size_t done = 0; done < run.length; done += chunk) {
            const std::size_t n = std::min(chunk, run.length - done);
            const std::size_t padded = (n + lanes - 1) / lanes * lanes;
            if (run.step1 != 0) widen_run_operand(input1.data.data() + run.input1 + done, 1, n, padded, buffer1);
            if (run.step2 != 0) widen_run_operand(input2.data.data() + run.input2 + done, 1, n, padded, buffer2);
            for (std::size_t i = 0; i < padded; i += lanes) {
                const batch a = run.step1 != 0 ? batch::load_aligned(buffer1 + i) + offset1 : repeated1;
                const batch b = run.step2 != 0 ? batch::load_aligned(buffer2 + i) + offset2 : repeated2;
                (a * b).store_aligned(product + i);
            }
            requantize_n<T, double_rounding, A>(product, n, p.output_multiplier, p.output,
                                                output.data.data() + run.output + done);
        }
    });
}

}  // namespace qtl::ops
