#pragma once
// quant_params: the runtime parameters of one quantized tensor, as TFLite
// stores them: real = (q - zero_point) * scale.
//
//  per tensor : one scale, one zero point, axis = -1
//  per channel: one scale/zero point per index along `axis`
//  per block  : `axis` is split into blocks of `block_size` consecutive
//               elements (the last may be partial); one scale per block and
//               per index of the other dimensions, laid out row-major over
//               the tensor's shape with dim `axis` replaced by the block count.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace qtl {

struct quant_params {
    std::vector<float> scales;
    std::vector<std::int32_t> zero_points;
    int axis = -1;        // -1: per tensor
    int block_size = 0;   // > 0: per block along `axis`

    bool is_per_tensor() const noexcept { return axis < 0; }
    bool is_per_block() const noexcept { return block_size > 0; }

    friend bool operator==(const quant_params&, const quant_params&) = default;
};

}  // namespace qtl
