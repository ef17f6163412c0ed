#pragma once
// qtl::tflite::model: an owning, validated copy of what a .tflite file says
// (tensors, buffers, quantization, operators with decoded builtin options,
// signature defs, metadata).  read_model() (reader.hpp) fills it; nothing in
// it points into the file.  It mirrors the file; turning it into qtl's graph
// is the graph layer's job.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "qtl/core/error.hpp"
#include "qtl/core/shape.hpp"
#include "qtl/io/tflite/schema.hpp"
#include "qtl/quant/quant_params.hpp"

namespace qtl::tflite {

// ---- quantization -----------------------------------------------------------

// QuantizationDetails BlockwiseQuantization: the scales (and optional zero
// points) live in other tensors of the same subgraph.
struct blockwise_quantization {
    std::int32_t scales = -1;       // tensor index of the scales (FLOAT16 or FLOAT32, constant)
    std::int32_t zero_points = -1;  // tensor index of the zero points; -1: all zero
    std::int32_t block_size = 0;    // consecutive elements of the last dimension sharing a scale

    friend bool operator==(const blockwise_quantization&, const blockwise_quantization&) = default;
};

// A tensor's QuantizationParameters.  `params` is what the tensor means,
// resolved and validated:
//   per tensor : one scale, axis -1;
//   per axis   : one scale per index of `quantized_dimension` (axis = it);
//   block-wise : axis = last dimension, block_size from the details, scales
//                (and zero points) read from the referenced tensors.
// A per-axis tensor whose quantized dimension has size 1 stores one scale and
// is reported with axis -1 (the same numbers); `quantized_dimension` keeps the
// file's value.
struct quantization {
    std::vector<float> scale;               // as stored (empty for block-wise)
    std::vector<std::int64_t> zero_point;   // as stored
    std::vector<float> min, max;            // recorded float ranges, if any (informative)
    std::int32_t quantized_dimension = 0;   // as stored (after an explicit repair)
    std::optional<blockwise_quantization> blockwise;
    quant_params params;

    friend bool operator==(const quantization&, const quantization&) = default;
};

// ---- tensors, buffers ---------------------------------------------------------

struct tensor {
    std::string name;
    tensor_type type = tensor_type::FLOAT32;
    qtl::shape shape;                        // never negative
    std::vector<std::int32_t> shape_signature;  // -1 for dynamic dims; empty when absent
    std::uint32_t buffer = 0;                // index into model::buffers; 0: no data
    bool is_variable = false;
    std::optional<tflite::quantization> quantization;  // absent: not quantized

    bool is_quantized() const { return quantization.has_value(); }
};

struct buffer {
    std::vector<std::uint8_t> data;  // empty: no data (activations, buffer 0)
};

// ---- builtin options ----------------------------------------------------------
// One struct per options table of the ops qtl runs; absent fields hold the
// schema defaults.

struct conv_2d_options {
    tflite::padding padding = tflite::padding::SAME;
    std::int32_t stride_w = 0, stride_h = 0;
    activation_function_type fused_activation_function = activation_function_type::NONE;
    std::int32_t dilation_w_factor = 1, dilation_h_factor = 1;
    tensor_type quantized_bias_type = tensor_type::FLOAT32;  // FLOAT32 (0): not set
    friend bool operator==(const conv_2d_options&, const conv_2d_options&) = default;
};
struct depthwise_conv_2d_options {
    tflite::padding padding = tflite::padding::SAME;
    std::int32_t stride_w = 0, stride_h = 0;
    std::int32_t depth_multiplier = 0;  // redundant in TFLite >= 2.1 (ignored by its kernels)
    activation_function_type fused_activation_function = activation_function_type::NONE;
    std::int32_t dilation_w_factor = 1, dilation_h_factor = 1;
    friend bool operator==(const depthwise_conv_2d_options&, const depthwise_conv_2d_options&) = default;
};
struct pool_2d_options {  // AVERAGE_POOL_2D, MAX_POOL_2D
    tflite::padding padding = tflite::padding::SAME;
    std::int32_t stride_w = 0, stride_h = 0;
    std::int32_t filter_width = 0, filter_height = 0;
    activation_function_type fused_activation_function = activation_function_type::NONE;
    friend bool operator==(const pool_2d_options&, const pool_2d_options&) = default;
};
struct fully_connected_options {
    activation_function_type fused_activation_function = activation_function_type::NONE;
    fully_connected_options_weights_format weights_format = fully_connected_options_weights_format::DEFAULT;
    bool keep_num_dims = false;
    bool asymmetric_quantize_inputs = false;
    tensor_type quantized_bias_type = tensor_type::FLOAT32;  // FLOAT32 (0): not set
    friend bool operator==(const fully_connected_options&, const fully_connected_options&) = default;
};
struct softmax_options {
    float beta = 0.0f;
    friend bool operator==(const softmax_options&, const softmax_options&) = default;
};
struct concatenation_options {
    std::int32_t axis = 0;
    activation_function_type fused_activation_function = activation_function_type::NONE;
    friend bool operator==(const concatenation_options&, const concatenation_options&) = default;
};
struct add_options {
    activation_function_type fused_activation_function = activation_function_type::NONE;
    bool pot_scale_int16 = true;  // 16x8: power-of-two scales (the general path when false)
    friend bool operator==(const add_options&, const add_options&) = default;
};
struct sub_options {
    activation_function_type fused_activation_function = activation_function_type::NONE;
    bool pot_scale_int16 = true;
    friend bool operator==(const sub_options&, const sub_options&) = default;
};
struct mul_options {
    activation_function_type fused_activation_function = activation_function_type::NONE;
    friend bool operator==(const mul_options&, const mul_options&) = default;
};
struct reshape_options {
    std::optional<std::vector<std::int32_t>> new_shape;  // TFLite prefers the shape input tensor
    friend bool operator==(const reshape_options&, const reshape_options&) = default;
};
struct reducer_options {  // MEAN
    bool keep_dims = false;
    friend bool operator==(const reducer_options&, const reducer_options&) = default;
};
struct strided_slice_options {
    std::int32_t begin_mask = 0, end_mask = 0, ellipsis_mask = 0, new_axis_mask = 0, shrink_axis_mask = 0;
    bool offset = false;
    friend bool operator==(const strided_slice_options&, const strided_slice_options&) = default;
};
struct leaky_relu_options {
    float alpha = 0.0f;
    friend bool operator==(const leaky_relu_options&, const leaky_relu_options&) = default;
};
struct pad_options {
    friend bool operator==(const pad_options&, const pad_options&) = default;
};
struct transpose_options {
    friend bool operator==(const transpose_options&, const transpose_options&) = default;
};
struct quantize_options {
    friend bool operator==(const quantize_options&, const quantize_options&) = default;
};
struct dequantize_options {
    friend bool operator==(const dequantize_options&, const dequantize_options&) = default;
};
struct hard_swish_options {
    friend bool operator==(const hard_swish_options&, const hard_swish_options&) = default;
};

// std::monostate: an op without options (LOGISTIC, TANH, RELU, RELU6) or one
// whose options qtl does not decode (any op outside the list above).
using builtin_options =
    std::variant<std::monostate, conv_2d_options, depthwise_conv_2d_options, pool_2d_options,
                 fully_connected_options, softmax_options, concatenation_options, add_options, sub_options,
                 mul_options, reshape_options, reducer_options, strided_slice_options, leaky_relu_options,
                 pad_options, transpose_options, quantize_options, dequantize_options, hard_swish_options>;

// ---- operators ------------------------------------------------------------------

struct operator_code {
    // max(deprecated_builtin_code, builtin_code), as TFLite resolves it.
    builtin_operator builtin_code = builtin_operator::ADD;
    std::int8_t deprecated_builtin_code = 0;  // as stored
    std::string custom_code;                   // CUSTOM ops only
    std::int32_t version = 1;
};

// An Operator ("operator" is a C++ keyword).
struct op {
    std::uint32_t opcode_index = 0;
    builtin_operator builtin_code = builtin_operator::ADD;  // copied from the operator code
    std::int32_t version = 1;                                // copied from the operator code
    std::vector<std::int32_t> inputs;   // tensor indices; -1: optional input absent
    std::vector<std::int32_t> outputs;  // tensor indices
    std::vector<std::int32_t> intermediates;
    builtin_options_type options_type = builtin_options_type::NONE;  // as stored
    builtin_options options;           // decoded for the ops qtl runs
    std::vector<std::uint8_t> custom_options;

    template <class Options>
    const Options& options_as() const {
        const auto* o = std::get_if<Options>(&options);
        check(o != nullptr, describe(builtin_code), "the operator's builtin options are not of the requested type");
        return *o;
    }
};

struct subgraph {
    std::string name;
    std::vector<tensor> tensors;
    std::vector<std::int32_t> inputs;
    std::vector<std::int32_t> outputs;
    std::vector<op> operators;
};

// ---- signatures, metadata ---------------------------------------------------------

struct tensor_map {
    std::string name;
    std::uint32_t tensor_index = 0;
};

struct signature_def {
    std::string signature_key;
    std::uint32_t subgraph_index = 0;
    std::vector<tensor_map> inputs;
    std::vector<tensor_map> outputs;
};

struct metadata {
    std::string name;          // e.g. "min_runtime_version"
    std::uint32_t buffer = 0;  // index into model::buffers (the metadata's bytes)
};

// A change read_model() made because a read option asked for it.
struct repair {
    std::uint32_t subgraph = 0;
    std::uint32_t tensor = 0;
    std::string description;  // "tensor 33 'name': quantized_dimension 3 -> 0 (rank 1, 8 scales)"
};

// ---- the model ------------------------------------------------------------------

struct model {
    std::uint32_t version = schema_version;
    std::string description;
    std::vector<operator_code> operator_codes;
    std::vector<tflite::subgraph> subgraphs;  // [0] is the main graph
    std::vector<tflite::buffer> buffers;
    std::vector<tflite::metadata> metadata;
    std::vector<signature_def> signature_defs;
    std::vector<tflite::repair> repairs;  // empty unless a repair option changed something

    const tflite::subgraph& main() const {
        check(!subgraphs.empty(), "model", "the model has no subgraph");
        return subgraphs.front();
    }

    // The constant data of `t` (empty for activations).
    std::span<const std::uint8_t> data_of(const tensor& t) const {
        if (t.buffer == 0 || t.buffer >= buffers.size()) return {};
        return buffers[t.buffer].data;
    }

    // The bytes of the metadata entry named `name`, if there is one.
    std::optional<std::span<const std::uint8_t>> metadata_bytes(std::string_view name) const {
        for (const auto& m : metadata)
            if (m.name == name && m.buffer < buffers.size()) return std::span<const std::uint8_t>(buffers[m.buffer].data);
        return std::nullopt;
    }
};

}  // namespace qtl::tflite
