#pragma once
// The part ADD and SUB share: their parameters, prepare(), the per-element
// rescale and the SIMD kernel.  TFLite quantizes both ops the same way
// (kernels/add.cc, kernels/sub.cc, reference add.h / sub.h):
//
//  general path (int8, and int16 unless the power-of-two path applies):
//    left_shift       = 20 for int8, 15 for int16 (so (q - zp) << left_shift
//                       stays within int32: 255 << 20, and 2^15 << 15 since
//                       int16 zero points are 0)
//    twice_max        = 2 * max(input1_scale, input2_scale)
//    input_i          = MBQM((q_i - zp_i) << left_shift, scale_i / twice_max)
//    raw              = input_1 + input_2        (ADD)
//                     = input_1 - input_2        (SUB)
//    out              = clamp(MBQM(raw, twice_max / (2^left_shift * out_scale)) + out_zp,
//                             activation range)
//  where MBQM is multiply_by_quantized_multiplier (TFLite's
//  MultiplyByQuantizedMultiplierSmallerThanOneExp: every multiplier here is
//  < 1, so the shift is <= 0 and it is the same function).  The last step is
//  qtl's requantize stage.  The output multiplier must be < 1: TFLite's ADD
//  aborts otherwise; its SUB accepts a larger one but then hands a positive
//  shift to RoundingDivideByPOT (undefined), so qtl rejects it for both.
//
//  power-of-two int16 path (the option pot_scale_int16 set, and all three
//  scales powers of two; zero points are 0 for int16 anyway):
//    out = clamp(rdbp(q_1, s_1) +/- rdbp(q_2, s_2), activation range)
//  with rdbp = rounding_divide_by_pot and s_i = log2(out_scale / scale_i)
//  >= 0, one of the two 0.  This is the LSTM-era path TFLite keeps for old
//  models; the converter writes pot_scale_int16 = false for 16x8 models, so
//  they take the general path with left_shift 15.
//
// int8 runs where both inputs advance (same-shape inputs, or the inner
// dimension of a broadcast) go to kernels/add_int8.hpp on CPUs with AVX2:
// the same arithmetic on registers, 64 elements per step on AVX-512BW, 16
// on AVX2.
//
// TFLite's SUB used to negate input 2's multiplier and run the ADD kernel;
// current TFLite (reference_ops::Sub, BroadcastQuantSubSlow) subtracts the
// rescaled inputs.  The two differ on rare ties, since the doubling high
// multiply rounds ties up rather than away from zero (tests/ops/sub.cpp has
// a case); qtl subtracts, like current TFLite.  The seanet sub0 golden has no
// such tie, so it agrees with both.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>

#include <xsimd/xsimd.hpp>

#include "qtl/core/element_types.hpp"
#include "qtl/core/error.hpp"
#include "qtl/core/shape.hpp"
#include "qtl/core/tensor_view.hpp"
#include "qtl/detail/gcc_bug_105593.hpp"
#include "qtl/fixedpoint/multiply_by_quantized_multiplier.hpp"
#include "qtl/fixedpoint/multiply_by_quantized_multiplier_batch.hpp"
#include "qtl/fixedpoint/quantize_multiplier.hpp"
#include "qtl/fixedpoint/requantize.hpp"
#include "qtl/fixedpoint/requantize_batch.hpp"
#include "qtl/kernels/add_int8.hpp"
#include "qtl/ops/broadcast.hpp"
#include "qtl/ops/fused_activation.hpp"

// See multiply_by_quantized_multiplier_batch.hpp: GCC 12 false positives in
// its AVX-512 intrinsics once inlined here.
QTL_DETAIL_GCC_BUG_105593_BEGIN

namespace qtl::ops::detail {

enum class add_sub_kind { add, sub };

template <add_sub_kind Kind>
inline constexpr const char* add_sub_name = Kind == add_sub_kind::add ? "ADD" : "SUB";

template <class T>
inline constexpr bool is_add_sub_element = std::is_same_v<T, std::int8_t> || std::is_same_v<T, std::int16_t>;

template <class T, add_sub_kind Kind>
struct add_sub_params {
    static_assert(is_add_sub_element<T>,
                  "ADD and SUB support int8 inputs and outputs, and int16 ones (16x8 mode); "
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
    // The schema's AddOptions/SubOptions.pot_scale_int16 (int16 only).  The
    // schema's default is true, but TFLite's converter writes false for
    // 16x8 models; true only matters when all three scales are powers of two.
    bool pot_scale_int16 = false;
};

// One input's rescale to the common scale twice_max / 2^left_shift.
struct add_sub_input_rescale {
    std::int32_t offset = 0;                // -zero_point
    quantized_multiplier multiplier;        // scale / twice_max <= 1/2: shift <= 0
};

template <class T, add_sub_kind Kind>
struct add_sub_prepared {
    broadcast_plan plan;
    bool power_of_two_int16 = false;  // which path (see the header comment)
    // general path
    int left_shift = 0;
    add_sub_input_rescale input1, input2;
    quantized_multiplier output_multiplier;
    // both paths: output zero point and activation clamp
    requantize_params output;
    // power-of-two path: right shifts of the inputs, >= 0, one of them 0
    int input1_right_shift = 0;
    int input2_right_shift = 0;
    // int8 general path: the AVX2 kernel for runs where both inputs advance
    bool register_kernel = false;
    kernels::add_int8_constants register_constants;
};

// TFLite's CheckedLog2: is x a power of two (within 1e-3 in log2), and which.
inline bool checked_log2(float x, int& log2_rounded) {
    const float log2_x = std::log(x) * (1.0f / std::log(2.0f));
    const float rounded = std::round(log2_x);
    log2_rounded = static_cast<int>(rounded);
    return std::abs(log2_x - rounded) < 1e-3f;
}

template <class T, add_sub_kind Kind>
add_sub_prepared<T, Kind> prepare_add_sub(const add_sub_params<T, Kind>& params) {
    const std::string where = add_sub_name<Kind>;
    constexpr bool is_int16 = std::is_same_v<T, std::int16_t>;
    constexpr std::int32_t qmin = element_traits<T>::min;
    constexpr std::int32_t qmax = element_traits<T>::max;
    const auto check_tensor = [&](const char* name, float scale, std::int32_t zero_point) {
        check(std::isfinite(scale) && scale > 0.0f, where, name, " scale must be finite and > 0, got ", scale);
        check(zero_point >= qmin && zero_point <= qmax, where, name, " zero point ", zero_point,
              " is outside the ", element_traits<T>::name, " range [", qmin, ", ", qmax, "]");
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

    add_sub_prepared<T, Kind> p;
    p.plan = plan_broadcast(params.input1_shape, params.input2_shape, where);
    p.output = activation_range<T>(act, params.output_scale, params.output_zero_point);

    if constexpr (is_int16) {
        int log2_1 = 0, log2_2 = 0, log2_out = 0;
        p.power_of_two_int16 = params.pot_scale_int16 && checked_log2(params.input1_scale, log2_1) &&
                               checked_log2(params.input2_scale, log2_2) &&
                               checked_log2(params.output_scale, log2_out);
        if (p.power_of_two_int16) {
            // TFLite's input shifts are log2(scale_i) - log2(out_scale) and must be <= 0.
            p.input1_right_shift = log2_out - log2_1;
            p.input2_right_shift = log2_out - log2_2;
            check(p.input1_right_shift >= 0 && p.input2_right_shift >= 0 &&
                      (p.input1_right_shift == 0 || p.input2_right_shift == 0) && p.input1_right_shift <= 31 &&
                      p.input2_right_shift <= 31,
                  where, "the power-of-two int16 path needs one input scale equal to the output scale and the other ",
                  "no larger, got log2 scales ", log2_1, " and ", log2_2, " for an output of ", log2_out);
            return p;
        }
    }

    // The arithmetic below mirrors TFLite's Prepare, float and double
    // operations included: the twice-max product and 2^left_shift * out_scale
    // are float products (exact: powers of two), the ratios double.
    p.left_shift = is_int16 ? 15 : 20;
    const double twice_max_input_scale = 2.0f * std::max(params.input1_scale, params.input2_scale);
    const double real_input1_multiplier = params.input1_scale / twice_max_input_scale;
    const double real_input2_multiplier = params.input2_scale / twice_max_input_scale;
    const float shifted_output_scale = static_cast<float>(1 << p.left_shift) * params.output_scale;
    const double real_output_multiplier = twice_max_input_scale / shifted_output_scale;
    p.input1 = {-params.input1_zero_point, quantize_multiplier(real_input1_multiplier)};
    p.input2 = {-params.input2_zero_point, quantize_multiplier(real_input2_multiplier)};
    // TFLite's QuantizeMultiplierSmallerThanOneExp aborts on a multiplier >= 1
    // (and on one that rounds up to 1); the general kernel has no left shift.
    const auto check_output_multiplier = [&](bool ok) {
        check(ok, where, "output scale ", params.output_scale, " is too small for input scales ",
              params.input1_scale, " and ", params.input2_scale, ": the output multiplier 2 * max(input scales) / (2^",
              p.left_shift, " * output scale) = ", real_output_multiplier, " must be < 1");
    };
    check_output_multiplier(real_output_multiplier < 1.0);
    p.output_multiplier = quantize_multiplier(real_output_multiplier);
    check_output_multiplier(p.output_multiplier.shift <= 0);
    if constexpr (std::is_same_v<T, std::int8_t>) {
        p.register_constants = kernels::make_add_int8_constants(p.input1.offset, p.input1.multiplier, p.input2.offset,
                                                                p.input2.multiplier, p.left_shift, p.output_multiplier,
                                                                p.output);
        p.register_kernel = kernels::add_int8_runs_here(p.register_constants);
    }
    return p;
}

// (q - zp) << left_shift, times the input's multiplier: one input's term of the sum.
constexpr std::int32_t rescale_add_sub_input(std::int32_t q, const add_sub_input_rescale& r, int left_shift) noexcept {
    return multiply_by_quantized_multiplier(wrapping_shift_left(q + r.offset, left_shift), r.multiplier);
}

// The SIMD kernel of both ops.  Each run of the broadcast walk is cut into
// chunks; a chunk's inputs are widened to int32, rescaled and combined in
// batches, then the general path hands the raw sums to requantize_n.
template <class T, add_sub_kind Kind, class A = xsimd::default_arch>
void eval_add_sub(const add_sub_prepared<T, Kind>& p, tensor_view<const T> input1, tensor_view<const T> input2,
                  tensor_view<T> output) {
    check_broadcast_views(p.plan, input1.shape, input2.shape, output.shape, add_sub_name<Kind>);
    using batch = xsimd::batch<std::int32_t, A>;
    constexpr std::size_t lanes = batch::size;
    constexpr std::size_t chunk = 256;  // a multiple of every lane count
    static_assert(chunk % lanes == 0);
    alignas(A::alignment()) std::int32_t buffer1[chunk];
    alignas(A::alignment()) std::int32_t buffer2[chunk];
    alignas(A::alignment()) std::int32_t raw[chunk];

    const auto combine = [](batch a, batch b) { return Kind == add_sub_kind::add ? a + b : a - b; };
    // One input's term for a batch of widened values.
    const auto term = [&](batch q, const add_sub_input_rescale& r, int input_right_shift) -> batch {
        if (p.power_of_two_int16) return rounding_divide_by_pot(q, input_right_shift);
        return multiply_by_quantized_multiplier(
            qtl::detail::fixedpoint::shift_left(q + batch(r.offset), p.left_shift), r.multiplier);
    };
    const auto scalar_term = [&](std::int32_t q, const add_sub_input_rescale& r, int input_right_shift) {
        if (p.power_of_two_int16) return rounding_divide_by_pot(q, input_right_shift);
        return rescale_add_sub_input(q, r, p.left_shift);
    };
    const batch act_min(p.output.activation_min), act_max(p.output.activation_max);

    for_each_broadcast_run(p.plan, [&](const broadcast_run& run) {
        if constexpr (std::is_same_v<T, std::int8_t>) {
            if (p.register_kernel && run.step1 != 0 && run.step2 != 0) {
                kernels::add_int8<Kind == add_sub_kind::sub>(p.register_constants, input1.data.data() + run.input1,
                                                             input2.data.data() + run.input2, run.length,
                                                             output.data.data() + run.output);
                return;
            }
        }
        // A repeated input (scalar or row broadcast) is rescaled once per run.
        const batch repeated1(run.step1 == 0 ? scalar_term(input1[run.input1], p.input1, p.input1_right_shift) : 0);
        const batch repeated2(run.step2 == 0 ? scalar_term(input2[run.input2], p.input2, p.input2_right_shift) : 0);
        for (std::size_t done = 0; done < run.length; done += chunk) {
            const std::size_t n = std::min(chunk, run.length - done);
            const std::size_t padded = (n + lanes - 1) / lanes * lanes;
            if (run.step1 != 0) widen_run_operand(input1.data.data() + run.input1 + done, 1, n, padded, buffer1);
            if (run.step2 != 0) widen_run_operand(input2.data.data() + run.input2 + done, 1, n, padded, buffer2);
            for (std::size_t i = 0; i < padded; i += lanes) {
                const batch a = run.step1 != 0 ? term(batch::load_aligned(buffer1 + i), p.input1, p.input1_right_shift)
                                               : repeated1;
                const batch b = run.step2 != 0 ? term(batch::load_aligned(buffer2 + i), p.input2, p.input2_right_shift)
                                               : repeated2;
                batch sum = combine(a, b);
                if (p.power_of_two_int16) sum = xsimd::min(xsimd::max(sum, act_min), act_max);
                sum.store_aligned(raw + i);
            }
            T* out = output.data.data() + run.output + done;
            if (p.power_of_two_int16) {
                for (std::size_t j = 0; j < n; ++j) out[j] = static_cast<T>(raw[j]);
            } else {
                requantize_n<T, double_rounding, A>(raw, n, p.output_multiplier, p.output, out);
            }
        }
    });
}

}  // namespace qtl::ops::detail

QTL_DETAIL_GCC_BUG_105593_END
