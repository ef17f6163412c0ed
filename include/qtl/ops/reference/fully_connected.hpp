#pragma once
// Scalar reference of FULLY_CONNECTED: plain loops written to mirror TFLite's
// reference kernels (reference_integer_ops::FullyConnected /
// FullyConnectedPerChannel, and EvalBlockwise4Bit for block-wise weights).
// It is the oracle qtl::ops::eval is tested against; it shares only prepare()
// and the requantize stage with it.

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "qtl/core/tensor_view.hpp"
#include "qtl/fixedpoint/requantize.hpp"
#include "qtl/ops/fully_connected.hpp"

namespace qtl::ops::reference {

template <class In, rounding_policy Policy>
void eval(const fully_connected_prepared<In, Policy>& p, std::type_identity_t<tensor_view<const In>> input,
          std::type_identity_t<tensor_view<In>> output) {
    namespace fc = detail::fully_connected;
    fc::check_eval_shapes(p.input_shape, p.output_shape, input.shape, output.shape);
    const std::size_t batches = p.rows, output_depth = p.output_depth, accum_depth = p.input_depth;
    const std::int32_t input_offset = p.input_offset;
    const std::int32_t filter_offset = 0;  // weights are symmetric (prepare() checks it)

    for (std::size_t b = 0; b < batches; ++b) {
        for (std::size_t out_c = 0; out_c < output_depth; ++out_c) {
            const std::size_t c = p.per_channel ? out_c : 0;
            if constexpr (std::is_same_v<In, std::int8_t>) {
                // TFLite's int32 `acc` wraps on overflow; summing in int64 and
                // keeping the low 32 bits gives that value without UB.
                std::int64_t acc = 0;
                for (std::size_t d = 0; d < accum_depth; ++d) {
                    const std::int32_t input_val = input[b * accum_depth + d];
                    const std::int32_t filter_val = p.weights[out_c * accum_depth + d];
                    acc += (filter_val + filter_offset) * (input_val + input_offset);
                }
                if (!p.bias.empty()) acc += p.bias[out_c];
                const auto acc32 = static_cast<std::int32_t>(static_cast<std::uint32_t>(acc));
                output[b * output_depth + out_c] =
                    requantize<In, Policy>(acc32, {p.multipliers[c], p.shifts[c]}, p.requant);
            } else {
                // 16x8: int64 accumulator (AccumScalar), no input offset.
                std::int64_t acc = 0;
                for (std::size_t d = 0; d < accum_depth; ++d) {
                    const std::int32_t input_val = input[b * accum_depth + d];
                    const std::int32_t filter_val = p.weights[out_c * accum_depth + d];
                    acc += (filter_val + filter_offset) * input_val;
                }
                if (!p.bias.empty()) acc = fc::wrapping_add(acc, p.bias[out_c]);
                output[b * output_depth + out_c] = fc::requantize_16x8(acc, p.multipliers[c], p.shifts[c], p.requant);
            }
        }
    }
}

// TFLite's EvalBlockwise4Bit: per row, quantize the float input (asymmetric
// int8), then per output and block an integer dot product and weight sum,
// combined in float in TFLite's order.  (TFLite adds each q * w to the int32
// block sum through float; prepare() bounds the block size so that is exact.)
inline void eval(const fully_connected_blockwise_prepared& p, tensor_view<const float> input,
                 tensor_view<float> output) {
    namespace fc = detail::fully_connected;
    fc::check_eval_shapes(p.input_shape, p.output_shape, input.shape, output.shape);
    const std::size_t batch_size = p.rows, output_channels = p.output_depth, input_channels = p.input_depth;
    const std::size_t blocksize = p.block_size, num_blocks = p.blocks;
    std::vector<std::int8_t> quant_data(input_channels);

    for (std::size_t mi = 0; mi < batch_size; ++mi) {
        const fc::asymmetric_row_quantization rq =
            fc::quantize_row_asymmetric(input.data.data() + mi * input_channels, input_channels, quant_data.data());
        for (std::size_t ni = 0; ni < output_channels; ++ni) {
            float out = 0.0f;
            float kfsum = 0.0f;
            for (std::size_t bi = 0; bi < num_blocks; ++bi) {
                std::int32_t ksum = 0;
                std::int32_t c_ref_acc = 0;
                for (std::size_t ki = 0; ki < blocksize; ++ki) {
                    const std::size_t k_index = bi * blocksize + ki;
                    const std::int32_t kernel_value = p.weights[ni * input_channels + k_index];
                    ksum += kernel_value;
                    c_ref_acc += static_cast<std::int32_t>(quant_data[k_index]) * kernel_value;
                }
                const float scale = p.block_scales[ni * num_blocks + bi];
                out += fc::separate_product(static_cast<float>(c_ref_acc), scale);
                kfsum += fc::separate_product(scale, static_cast<float>(ksum));
            }
            out -= fc::separate_product(static_cast<float>(rq.zero_point), kfsum);
            out = fc::separate_product(out, rq.scale);
            if (!p.bias.empty()) out += p.bias[ni];
            output[mi * output_channels + ni] = out;
        }
    }
}

}  // namespace qtl::ops::reference
