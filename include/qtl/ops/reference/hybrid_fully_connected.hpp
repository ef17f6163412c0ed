#pragma once
// Scalar reference of the hybrid FULLY_CONNECTED (float in, int8 weights,
// float out): plain loops in the order of TFLite's EvalHybrid /
// PortableMatrixBatchVectorMultiplyAccumulate.  The oracle ops::eval is
// tested against; it shares prepare() and the input quantization with it.
// (Block-wise int4 weights: reference/fully_connected.hpp, the scalar
// EvalBlockwise4Bit.)

#include <cstddef>
#include <cstdint>
#include <vector>

#include "qtl/core/tensor_view.hpp"
#include "qtl/ops/hybrid_fully_connected.hpp"

namespace qtl::ops::reference {

inline void eval(const hybrid_fully_connected_prepared& p, tensor_view<const float> input, tensor_view<float> output) {
    namespace hy = detail::hybrid;
    detail::fully_connected::check_eval_shapes(p.input_shape, p.output_shape, input.shape, output.shape);
    const std::size_t batch_size = p.rows, num_units = p.output_depth, input_size = p.input_depth;
    const float* x = input.data.data();
    float* y = output.data.data();

    // The output starts as the bias (or zeros).
    for (std::size_t b = 0; b < batch_size; ++b)
        for (std::size_t o = 0; o < num_units; ++o) y[b * num_units + o] = p.bias.empty() ? 0.0f : p.bias[o];

    if (!hy::all_zero(x, batch_size * input_size)) {
        std::vector<std::int8_t> quant_data(input_size);
        for (std::size_t b = 0; b < batch_size; ++b) {
            const hy::input_quantization iq = hy::quantize_input(p.asymmetric, x + b * input_size, input_size,
                                                                 quant_data.data());
            for (std::size_t row = 0; row < num_units; ++row) {
                // int32 sums wrap like TFLite's; int64 then the low 32 bits avoids UB.
                std::int64_t dotprod = 0;
                for (std::size_t col = 0; col < input_size; ++col)
                    dotprod += std::int64_t{p.weights[row * input_size + col]} * quant_data[col];
                dotprod -= std::int64_t{p.row_sums[row]} * iq.zero_point;
                const auto acc = static_cast<std::int32_t>(static_cast<std::uint32_t>(dotprod));
                const float scale = iq.scale * p.weight_scales[row];
                y[b * num_units + row] += hy::scaled(acc, scale);
            }
        }
    }
    // ApplyActivationToVector.
    for (std::size_t i = 0; i < batch_size * num_units; ++i) y[i] = hy::clamp(y[i], p.lo, p.hi);
}

}  // namespace qtl::ops::reference
