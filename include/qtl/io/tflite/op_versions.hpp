#pragma once
// Operator versions and minimum runtime versions of a qtl::tflite::model.
//
// Every OperatorCode of a .tflite file carries a version.  TFLite's converter
// picks it from the op's *type signature* (tensor types, weight types,
// per-channel weights, a few options, input count, rank) with
// GetBuiltinOperatorVersion() (tensorflow/compiler/mlir/lite/tools/versioning/
// op_version.cc, formerly tensorflow/lite/tools/versioning/), and derives the
// model's "min_runtime_version" metadata from the table op -> version ->
// oldest TFLite release (runtime_version.cc, same folder).  qtl applies the
// same rules, restated here op by op; the comments give the rule's order
// because TFLite returns the first rule that matches.
//
//   minimum_op_version(m, g, o)     the version TFLite assigns to op `o`
//   assign_op_versions(m)           set every op (and operator code) to it
//   minimum_runtime_version(op, v)  "1.14.0" etc., "" when TFLite's table has no entry
//   minimum_runtime_version(m)      the maximum over the model's ops
//   assign_min_runtime_version(m)   compute it and store it as metadata
//
// Ops without a rule here get version 1 (TFLite's own default, which is right
// for ops it does not version: RESHAPE, EXPAND_DIMS, HARD_SWISH, ...);
// has_version_rule() says whether an op has one.  Ops whose versioning needs
// options qtl does not decode (GATHER batch_dims, RESIZE_* half_pixel_centers,
// BATCH_MATMUL asymmetric_quantize_inputs, LSTM/RNN kernels) have no rule.
//
// Differences from TFLite, all on signatures qtl never writes:
//  * TFLite's "is the input quantized" (ADD, MUL) tests whether the tensor has
//    a QuantizationParameters table; qtl's model keeps quantization only when
//    it has scales, so an int16 tensor with an empty table counts as not
//    quantized here.
//  * Sparse weights (FULLY_CONNECTED v8) cannot occur: read_model() refuses
//    sparse tensors and the model struct has no sparsity.
//  * CONV_2D / DEPTHWISE_CONV_2D with int16 weights: TFLite tests the type of
//    output 1, which these ops do not have (it would throw); qtl tests
//    output 0, which is what the rule means.
//
// TFLite's converter does not always write the minimum: its post-training
// quantizer raises each quantized op to a fixed per-op version
// (tensorflow/lite/tools/optimize/operator_property.cc: CONV_2D 3,
// FULLY_CONNECTED 4, ADD 2, ...), whatever the activation type, and
// UpdateOpVersion() only ever raises a code's version.  So a 16x8 CONV_2D is
// written as v3 although its signature only needs v1.  Versions do not select
// kernels (the runtime dispatches on tensor types; an op resolver registers a
// range of versions), so the minimum is a valid choice.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "qtl/core/error.hpp"
#include "qtl/io/tflite/model.hpp"
#include "qtl/io/tflite/schema.hpp"
#include "qtl/io/tflite/writer.hpp"

namespace qtl::tflite {

namespace detail {

// What GetBuiltinOperatorVersion looks at, read from one op.
class op_signature {
public:
    op_signature(const model&, const subgraph& g, const op& o) : g_(g), o_(o) {
        for (std::size_t k = 0; k < o.inputs.size(); ++k) check_index(o.inputs[k], k, "input", true);
        for (std::size_t k = 0; k < o.outputs.size(); ++k) check_index(o.outputs[k], k, "output", false);
    }

    // "operator 3 (CONV_2D)", for messages (only built on failure: it is a search).
    std::string where() const {
        for (std::size_t i = 0; i < g_.operators.size(); ++i)
            if (&g_.operators[i] == &o_)
                return "operator " + std::to_string(i) + " (" + describe(o_.builtin_code) + ")";
        return "operator (" + describe(o_.builtin_code) + ")";
    }
    std::size_t input_count() const { return o_.inputs.size(); }

    // The tensor at input / output `k`; nullptr for an absent optional input
    // (index -1).  Reading past the op's inputs is a malformed op: TFLite's
    // rule would throw std::out_of_range there.
    const tensor* input(std::size_t k) const { return at(o_.inputs, k, "input"); }
    const tensor* output(std::size_t k) const { return at(o_.outputs, k, "output"); }

    // The type of input / output `k`; std::nullopt when absent.
    std::optional<tensor_type> in(std::size_t k) const { return type_of(input(k)); }
    std::optional<tensor_type> out(std::size_t k) const { return type_of(output(k)); }

    // in(0), in(1), out(0) are (a, b, c): the activation / weights / output
    // triple most rules test.
    bool types(tensor_type a, tensor_type b, tensor_type c) const {
        return in(0) == a && in(1) == b && out(0) == c;
    }
    bool in0_is(tensor_type t) const { return in(0) == t; }
    bool in0_and_out0_are(tensor_type t) const { return in(0) == t && out(0) == t; }

    std::size_t rank(std::size_t input_index) const {
        const tensor* t = input(input_index);
        return t ? t->shape.size() : 0;
    }
    std::size_t max_input_rank() const {
        std::size_t r = 0;
        for (std::size_t k = 0; k < o_.inputs.size(); ++k) r = std::max(r, rank(k));
        return r;
    }
    // TFLite's NeedBroadcastForBinaryInputs: two inputs whose shapes differ.
    bool binary_broadcast() const {
        if (o_.inputs.size() < 2) return false;
        const tensor* a = input(0);
        const tensor* b = input(1);
        const shape none;
        return (a ? a->shape : none) != (b ? b->shape : none);
    }

    template <class Options>
    const Options* options() const {
        return std::get_if<Options>(&o_.options);
    }

private:
    const tensor* at(const std::vector<std::int32_t>& list, std::size_t k, const char* role) const {
        if (k >= list.size())
            check(false, where(), "its version depends on ", role, " ", k, " but it has ", list.size(), " ", role, "s");
        const std::int32_t index = list[k];
        return index < 0 ? nullptr : &g_.tensors[static_cast<std::size_t>(index)];
    }
    void check_index(std::int32_t index, std::size_t k, const char* role, bool optional) const {
        const bool in_range = index < 0 ? (optional && index == -1)
                                        : static_cast<std::size_t>(index) < g_.tensors.size();
        if (!in_range)
            check(false, where(), role, " ", k, " is tensor ", index, ", out of range (the subgraph has ",
                  g_.tensors.size(), " tensors", optional ? "; -1 marks an absent optional input)" : ")");
    }
    static std::optional<tensor_type> type_of(const tensor* t) {
        return t ? std::optional<tensor_type>(t->type) : std::nullopt;
    }

    const subgraph& g_;
    const op& o_;
};

inline bool has_scales(const tensor* t) { return t && t->quantization && !t->quantization->scale.empty(); }
inline std::size_t scale_count(const tensor* t) { return has_scales(t) ? t->quantization->scale.size() : 0; }

// TFLite's per-channel tests compare the stored scale count with one
// dimension of the weights (so a layer with one output channel counts as
// per-channel even with one scale).
inline bool scales_match_dim(const tensor* t, std::size_t dim) {
    return has_scales(t) && dim < t->shape.size() && t->shape[dim] > 0 &&
           scale_count(t) == static_cast<std::size_t>(t->shape[dim]);
}
// QUANTIZE / DEQUANTIZE: more than one scale, one per index of quantized_dimension.
inline bool per_axis(const tensor* t) {
    if (!has_scales(t) || scale_count(t) < 2) return false;
    const auto axis = t->quantization->quantized_dimension;
    return axis >= 0 && static_cast<std::size_t>(axis) < t->shape.size() &&
           scale_count(t) == static_cast<std::size_t>(t->shape[static_cast<std::size_t>(axis)]);
}

using T = tensor_type;

// One function per rule family; each returns the first matching version in
// the order op_version.cc tests them.

inline int conv_2d_version(const op_signature& s) {
    const auto* opt = s.options<conv_2d_options>();
    const tensor* filter = s.input(1);
    // 16x8 with an explicit quantized_bias_type (int32 bias for int16 activations).
    if (s.types(T::INT16, T::INT8, T::INT16) && opt && opt->quantized_bias_type != T::FLOAT32) return 8;
    // Grouped convolution: the filter's input depth differs from the input's.
    const tensor* input = s.input(0);
    if (input && filter && input->shape.size() == 4 && filter->shape.size() == 4 &&
        input->shape[3] != filter->shape[3])
        return 6;
    if (s.types(T::INT16, T::INT16, T::INT16)) return 4;
    if (s.types(T::INT8, T::INT8, T::INT8)) return 3;
    if (s.types(T::INT8, T::INT4, T::INT8)) return 7;
    // Hybrid (float activations, int8 weights): 5 when per output channel.
    if (s.types(T::FLOAT32, T::INT8, T::FLOAT32)) return scales_match_dim(filter, 0) ? 5 : 2;
    return 1;  // float; also 16x8 without quantized_bias_type
}

inline int depthwise_conv_2d_version(const op_signature& s) {
    const tensor* filter = s.input(1);
    if (s.types(T::INT16, T::INT16, T::INT16)) return 5;
    if (s.types(T::FLOAT32, T::INT8, T::FLOAT32)) return scales_match_dim(filter, 3) ? 6 : 4;
    if (s.types(T::INT8, T::INT8, T::INT8)) return 3;
    if (s.types(T::INT8, T::INT4, T::INT8)) return 7;
    if (const auto* opt = s.options<depthwise_conv_2d_options>())
        if (opt->dilation_w_factor != 1 || opt->dilation_h_factor != 1) return 2;
    return 1;  // float; also 16x8 (int16 activations, int8 weights)
}

inline int fully_connected_version(const op_signature& s) {
    const fully_connected_options defaults;
    const auto* found = s.options<fully_connected_options>();
    const fully_connected_options& opt = found ? *found : defaults;
    const tensor* weights = s.input(1);
    if (s.in(1) == T::INT2) return 14;
    if (s.types(T::INT16, T::INT4, T::INT16)) return 13;
    if (s.types(T::FLOAT32, T::INT8, T::FLOAT32) && scales_match_dim(weights, 0)) return 12;  // hybrid per-channel
    if (s.types(T::INT16, T::INT8, T::INT16) && opt.quantized_bias_type != T::FLOAT32) return 11;
    if (s.types(T::INT16, T::INT16, T::INT16)) return 7;
    // From here TFLite tests the input count and options *before* the types,
    // so e.g. an int8 FC without a bias input is v6, and int4 weights with
    // keep_num_dims give v5.
    if (s.input_count() == 2) return 6;  // no bias slot at all (a -1 bias is still 3 inputs)
    if (opt.keep_num_dims) return 5;
    if (s.types(T::INT8, T::INT8, T::INT8)) return 4;
    if (s.types(T::INT8, T::INT4, T::INT8)) return 10;
    if (s.types(T::FLOAT32, T::INT8, T::FLOAT32)) return opt.asymmetric_quantize_inputs ? 9 : 3;
    if (opt.weights_format == fully_connected_options_weights_format::SHUFFLED4x16INT8) return 2;
    return 1;  // float, uint8; also 16x8 without quantized_bias_type
}

inline int mul_version(const op_signature& s) {
    const bool quantized = has_scales(s.input(0)) || has_scales(s.input(1));
    if (s.in0_is(T::FLOAT16)) return 8;
    if ((s.in0_is(T::INT16) && !quantized) || s.in0_is(T::UINT32)) return 7;
    if (s.in0_is(T::COMPLEX64)) return 6;
    if (s.in0_is(T::INT64)) return 5;
    if (s.in0_is(T::INT16)) return 4;
    // Rescale factor s1 * s2 / s_out >= 1 (first scales, float arithmetic as TFLite).
    const tensor* a = s.input(0);
    const tensor* b = s.input(1);
    const tensor* c = s.output(0);
    if (has_scales(a) && has_scales(b) && has_scales(c)) {
        const float s1 = a->quantization->scale[0], s2 = b->quantization->scale[0], so = c->quantization->scale[0];
        if (s1 != 0 && s2 != 0 && so != 0 && s1 * s2 / so >= 1.0f) return 3;
    }
    if (s.in0_is(T::INT8)) return 2;
    return 1;
}

inline int add_version(const op_signature& s) {
    const add_options defaults;
    const auto* found = s.options<add_options>();
    const add_options& opt = found ? *found : defaults;
    if (s.in0_is(T::FLOAT16)) return 6;
    if (s.in0_is(T::INT16) && !has_scales(s.input(0))) return 5;  // plain int16 arithmetic
    if (s.in0_is(T::INT64)) return 4;
    if (s.in0_and_out0_are(T::INT16) && !opt.pot_scale_int16) return 3;  // 16x8 general scales
    if (s.in0_is(T::INT8)) return 2;
    return 1;  // float; also 16x8 with power-of-two scales
}

inline int sub_version(const op_signature& s) {
    const sub_options defaults;
    const auto* found = s.options<sub_options>();
    const sub_options& opt = found ? *found : defaults;
    if (s.in0_and_out0_are(T::INT16) && !opt.pot_scale_int16) return 5;
    if (s.in0_is(T::INT64)) return 4;
    if (s.binary_broadcast() && s.max_input_rank() > 4) return 3;
    if (s.in0_is(T::INT8)) return 2;
    return 1;
}

inline int transpose_version(const op_signature& s) {
    const auto r = s.rank(0);
    if (r > 6 || s.in0_is(T::BFLOAT16)) return 8;
    if (s.in0_is(T::INT4)) return 7;
    if (r > 5) return 6;
    if (s.in0_is(T::INT16)) return 5;
    if (r > 4) return 4;
    if (s.in0_is(T::BOOL)) return 3;
    if (s.in0_is(T::INT8)) return 2;
    return 1;
}

inline int strided_slice_version(const op_signature& s) {
    const strided_slice_options defaults;
    const auto* found = s.options<strided_slice_options>();
    const strided_slice_options& opt = found ? *found : defaults;
    if (opt.offset) return 8;
    if (s.in0_is(T::UINT32)) return 7;
    if (opt.ellipsis_mask != 0 || opt.new_axis_mask != 0) return 6;
    if (s.in0_is(T::STRING)) return 5;
    if (s.rank(0) > 4) return 4;
    if (s.in0_is(T::BOOL)) return 3;
    if (s.in0_is(T::INT8)) return 2;
    return 1;  // float; also int16 (TFLite has no int16 rule here)
}

inline int quantize_version(const op_signature& s) {
    if (s.in0_is(T::UINT4) || s.out(0) == T::UINT4) return 5;
    if (s.in0_is(T::INT4) || s.out(0) == T::INT4) return 4;
    if (per_axis(s.output(0))) return 3;
    if (s.out(0) == T::INT16) return 2;
    return 1;
}

inline int dequantize_version(const op_signature& s) {
    if (s.in0_is(T::UINT4)) return 8;
    if (s.in0_is(T::INT2)) return 7;
    if (s.in0_is(T::INT4)) return 6;
    if (s.in0_is(T::INT16) || s.in0_is(T::FLOAT16)) return 3;
    if (s.in0_is(T::INT8)) return per_axis(s.input(0)) ? 5 : 2;
    return 1;
}

inline int cast_version(const op_signature& s) {
    const auto either = [&](T t) { return s.in(0) == t || s.out(0) == t; };
    if (either(T::INT2) || either(T::UINT4)) return 8;
    if (either(T::BFLOAT16)) return 7;
    if (s.in0_is(T::INT4) && s.out(0) == T::FLOAT32) return 6;
    if (either(T::FLOAT64) || either(T::FLOAT16)) return 5;
    if (either(T::UINT16)) return 4;
    if (either(T::INT8)) return 3;
    if (either(T::UINT32)) return 2;
    return 1;
}

inline int pad_version(const op_signature& s) {  // PAD, PADV2
    if (s.in0_is(T::BOOL)) return 5;
    if (s.rank(0) > 4) return 4;
    if (s.in0_is(T::INT16)) return 3;
    if (s.in0_is(T::INT8)) return 2;
    return 1;
}

// int16 -> 3, int8 -> 2: SOFTMAX, MEAN, RELU6, MIRROR_PAD, REDUCE_MAX/MIN, RSQRT.
inline int int16_3_int8_2(const op_signature& s) {
    if (s.in0_is(T::INT16)) return 3;
    if (s.in0_is(T::INT8)) return 2;
    return 1;
}

inline int pool_or_sigmoid_version(const op_signature& s) {  // AVERAGE/MAX_POOL_2D, TANH, LOGISTIC
    if (s.in0_and_out0_are(T::INT16)) return 3;
    return s.in0_is(T::INT8) ? 2 : 1;
}
inline int relu_version(const op_signature& s) {
    if (s.in0_is(T::INT16)) return 3;
    return s.in0_is(T::INT8) || s.in0_is(T::UINT8) ? 2 : 1;
}
inline int leaky_relu_version(const op_signature& s) { return s.in0_is(T::INT16) ? 2 : 1; }
inline int concatenation_version(const op_signature& s) {
    if (s.in0_is(T::INT4)) return 5;
    if (s.in0_is(T::UINT32)) return 4;
    return int16_3_int8_2(s);
}
inline int squeeze_version(const op_signature& s) { return s.in0_is(T::STRING) ? 2 : 1; }
inline int single_version(const op_signature&) { return 1; }  // RESHAPE, EXPAND_DIMS, HARD_SWISH
inline int slice_version(const op_signature& s) {
    if (s.in0_is(T::INT4)) return 7;
    if (s.in0_is(T::UINT32)) return 6;
    if (s.rank(0) > 4) return 5;
    if (s.in0_is(T::INT16)) return 4;
    if (s.in0_is(T::STRING)) return 3;
    return s.in0_is(T::INT8) ? 2 : 1;
}
inline int maximum_minimum_version(const op_signature& s) {
    if (s.in0_and_out0_are(T::INT16)) return 4;
    if (s.binary_broadcast() && s.max_input_rank() > 4) return 3;
    return s.in0_is(T::INT8) ? 2 : 1;
}
inline int split_version(const op_signature& s) {  // input 0 is the axis; the data is input 1
    if (s.in(1) == T::INT16) return 4;
    if (s.in(1) == T::INT32) return 3;
    return s.in(1) == T::INT8 ? 2 : 1;
}
inline int pack_version(const op_signature& s) {
    if (s.in0_is(T::INT8)) return 2;
    if (s.in0_and_out0_are(T::INT16)) return 3;
    return s.in0_is(T::UINT32) ? 4 : 1;
}
inline int arg_max_min_version(const op_signature& s) {
    if (s.in0_is(T::BOOL)) return 3;
    return s.in0_is(T::INT8) ? 2 : 1;
}
inline int space_batch_nd_version(const op_signature& s) {  // SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND
    if (s.in0_is(T::INT16)) return 4;
    if (s.rank(0) != 4) return 3;
    return s.in0_is(T::INT8) ? 2 : 1;
}
inline int int8_2(const op_signature& s) { return s.in0_is(T::INT8) ? 2 : 1; }

using version_rule = int (*)(const op_signature&);

// The rule of `code`; nullptr when qtl has none.
inline version_rule rule_for(builtin_operator code) {
    using B = builtin_operator;
    switch (code) {
    case B::CONV_2D: return conv_2d_version;
    case B::DEPTHWISE_CONV_2D: return depthwise_conv_2d_version;
    case B::FULLY_CONNECTED: return fully_connected_version;
    case B::MUL: return mul_version;
    case B::ADD: return add_version;
    case B::SUB: return sub_version;
    case B::TRANSPOSE: return transpose_version;
    case B::STRIDED_SLICE: return strided_slice_version;
    case B::QUANTIZE: return quantize_version;
    case B::DEQUANTIZE: return dequantize_version;
    case B::CAST: return cast_version;
    case B::PAD:
    case B::PADV2: return pad_version;
    case B::SOFTMAX:
    case B::MEAN:
    case B::RELU6:
    case B::MIRROR_PAD:
    case B::REDUCE_MAX:
    case B::REDUCE_MIN:
    case B::RSQRT: return int16_3_int8_2;
    case B::AVERAGE_POOL_2D:
    case B::MAX_POOL_2D:
    case B::TANH:
    case B::LOGISTIC: return pool_or_sigmoid_version;
    case B::RELU: return relu_version;
    case B::LEAKY_RELU: return leaky_relu_version;
    case B::CONCATENATION: return concatenation_version;
    case B::SQUEEZE: return squeeze_version;
    case B::RESHAPE:
    case B::EXPAND_DIMS:
    case B::HARD_SWISH: return single_version;
    case B::SLICE: return slice_version;
    case B::MAXIMUM:
    case B::MINIMUM: return maximum_minimum_version;
    case B::SPLIT: return split_version;
    case B::PACK: return pack_version;
    case B::ARG_MAX:
    case B::ARG_MIN: return arg_max_min_version;
    case B::SPACE_TO_BATCH_ND:
    case B::BATCH_TO_SPACE_ND: return space_batch_nd_version;
    case B::SPLIT_V:
    case B::SUM:
    case B::SPACE_TO_DEPTH:
    case B::DEPTH_TO_SPACE:
    case B::LOG_SOFTMAX: return int8_2;
    default: return nullptr;
    }
}

// Runtime versions: TFLite's table (runtime_version.cc, 2025 revision) for
// the ops above.  An (op, version) pair missing from it has no entry in
// TFLite either.
struct runtime_entry {
    builtin_operator op;
    int version;
    const char* runtime;
};

inline const std::vector<runtime_entry>& runtime_table() {
    using B = builtin_operator;
    static const std::vector<runtime_entry> table = {
        {B::AVERAGE_POOL_2D, 1, "1.5.0"}, {B::AVERAGE_POOL_2D, 2, "1.14.0"}, {B::AVERAGE_POOL_2D, 3, "2.3.0"},
        {B::MAX_POOL_2D, 1, "1.5.0"}, {B::MAX_POOL_2D, 2, "1.14.0"}, {B::MAX_POOL_2D, 3, "2.3.0"},
        {B::CONV_2D, 1, "1.5.0"}, {B::CONV_2D, 2, "1.14.0"}, {B::CONV_2D, 3, "1.14.0"}, {B::CONV_2D, 4, "2.3.0"},
        {B::CONV_2D, 5, "2.4.0"}, {B::CONV_2D, 6, "2.9.0"}, {B::CONV_2D, 7, "2.11.0"}, {B::CONV_2D, 8, "2.15.0"},
        {B::DEPTHWISE_CONV_2D, 1, "1.5.0"}, {B::DEPTHWISE_CONV_2D, 2, "1.12.0"},
        {B::DEPTHWISE_CONV_2D, 3, "1.14.0"}, {B::DEPTHWISE_CONV_2D, 4, "2.2.0"},
        {B::DEPTHWISE_CONV_2D, 5, "2.3.0"}, {B::DEPTHWISE_CONV_2D, 6, "2.3.0"},
        {B::DEPTHWISE_CONV_2D, 7, "2.11.0"},
        {B::FULLY_CONNECTED, 1, "1.5.0"}, {B::FULLY_CONNECTED, 2, "1.10.0"}, {B::FULLY_CONNECTED, 3, "1.14.0"},
        {B::FULLY_CONNECTED, 4, "1.14.0"}, {B::FULLY_CONNECTED, 5, "2.0.0"}, {B::FULLY_CONNECTED, 6, "2.1.0"},
        {B::FULLY_CONNECTED, 7, "2.3.0"}, {B::FULLY_CONNECTED, 8, "2.3.0"}, {B::FULLY_CONNECTED, 9, "2.3.0"},
        {B::FULLY_CONNECTED, 10, "2.11.0"}, {B::FULLY_CONNECTED, 11, "2.15.0"},
        {B::FULLY_CONNECTED, 12, "2.17.0"}, {B::FULLY_CONNECTED, 13, "2.18.0"},
        {B::FULLY_CONNECTED, 14, "2.21.0"},
        {B::ADD, 1, "1.5.0"}, {B::ADD, 2, "1.14.0"}, {B::ADD, 3, "2.4.0"}, {B::ADD, 4, "2.6.0"},
        {B::ADD, 5, "2.13.0"}, {B::ADD, 6, "2.23.0"},
        {B::SUB, 1, "1.6.0"}, {B::SUB, 2, "1.14.0"}, {B::SUB, 3, "2.3.0"}, {B::SUB, 4, "2.4.0"},
        {B::SUB, 5, "2.4.0"},
        {B::MUL, 1, "1.5.0"}, {B::MUL, 2, "1.14.0"}, {B::MUL, 3, "1.15.0"}, {B::MUL, 4, "2.3.0"},
        {B::MUL, 5, "2.6.0"}, {B::MUL, 6, "2.11.0"}, {B::MUL, 7, "2.13.0"}, {B::MUL, 8, "2.23.0"},
        {B::CONCATENATION, 1, "1.5.0"}, {B::CONCATENATION, 2, "1.14.0"}, {B::CONCATENATION, 3, "2.3.0"},
        {B::CONCATENATION, 4, "2.14.0"}, {B::CONCATENATION, 5, "2.21.0"},
        {B::RESHAPE, 1, "1.5.0"},
        {B::SOFTMAX, 1, "1.5.0"}, {B::SOFTMAX, 2, "1.14.0"}, {B::SOFTMAX, 3, "2.3.0"},
        {B::LOGISTIC, 1, "1.14.0"}, {B::LOGISTIC, 2, "1.14.0"}, {B::LOGISTIC, 3, "2.3.0"},
        {B::TANH, 1, "1.14.0"}, {B::TANH, 2, "1.14.0"}, {B::TANH, 3, "2.3.0"},
        {B::RELU, 1, "1.5.0"}, {B::RELU, 2, "2.1.0"}, {B::RELU, 3, "2.5.0"},
        {B::RELU6, 1, "1.5.0"}, {B::RELU6, 2, "1.14.0"}, {B::RELU6, 3, "2.5.0"},
        {B::LEAKY_RELU, 1, "1.13.1"}, {B::LEAKY_RELU, 2, "2.3.0"},
        {B::HARD_SWISH, 1, "1.15.0"},
        {B::PAD, 1, "1.5.0"}, {B::PAD, 2, "1.14.0"}, {B::PAD, 3, "2.4.0"}, {B::PAD, 4, "2.6.0"},
        {B::PAD, 5, "2.20.0"},
        {B::PADV2, 1, "1.9.0"}, {B::PADV2, 2, "1.14.0"}, {B::PADV2, 3, "2.4.0"}, {B::PADV2, 4, "2.6.0"},
        {B::PADV2, 5, "2.20.0"},
        {B::MEAN, 1, "1.6.0"}, {B::MEAN, 2, "1.14.0"}, {B::MEAN, 3, "2.4.0"},
        {B::TRANSPOSE, 1, "1.6.0"}, {B::TRANSPOSE, 2, "1.14.0"}, {B::TRANSPOSE, 3, "1.15.0"},
        {B::TRANSPOSE, 4, "2.3.0"}, {B::TRANSPOSE, 5, "2.4.0"}, {B::TRANSPOSE, 6, "2.12.0"},
        {B::TRANSPOSE, 7, "2.14.4"}, {B::TRANSPOSE, 8, "2.22.0"},
        {B::STRIDED_SLICE, 1, "1.6.0"}, {B::STRIDED_SLICE, 2, "1.14.0"}, {B::STRIDED_SLICE, 3, "2.1.0"},
        {B::STRIDED_SLICE, 4, "2.2.0"}, {B::STRIDED_SLICE, 5, "2.5.0"}, {B::STRIDED_SLICE, 6, "2.6.0"},
        {B::STRIDED_SLICE, 7, "2.14.0"}, {B::STRIDED_SLICE, 8, "2.14.0"},
        {B::SQUEEZE, 1, "1.6.0"}, {B::SQUEEZE, 2, "2.5.0"},
        {B::EXPAND_DIMS, 1, "1.10.0"},
        {B::QUANTIZE, 1, "1.14.0"}, {B::QUANTIZE, 2, "1.15.0"}, {B::QUANTIZE, 3, "2.7.0"},
        {B::QUANTIZE, 4, "2.21.0"}, {B::QUANTIZE, 5, "2.21.0"}, {B::QUANTIZE, 6, "2.21.0"},
        {B::DEQUANTIZE, 1, "1.13.1"}, {B::DEQUANTIZE, 2, "1.14.0"}, {B::DEQUANTIZE, 3, "1.15.0"},
        {B::DEQUANTIZE, 4, "2.2.0"}, {B::DEQUANTIZE, 5, "2.7.0"}, {B::DEQUANTIZE, 6, "2.18.0"},
        {B::DEQUANTIZE, 7, "2.21.0"}, {B::DEQUANTIZE, 8, "2.22.0"},
        {B::CAST, 1, "1.5.0"}, {B::CAST, 2, "2.7.0"}, {B::CAST, 3, "2.8.0"}, {B::CAST, 4, "2.9.0"},
        {B::CAST, 5, "2.12.0"}, {B::CAST, 6, "2.15.0"}, {B::CAST, 7, "2.17.0"}, {B::CAST, 8, "2.21.0"},
        {B::SLICE, 1, "1.14.0"}, {B::SLICE, 2, "1.14.0"}, {B::SLICE, 3, "1.14.0"}, {B::SLICE, 4, "2.4.0"},
        {B::SLICE, 5, "2.5.0"}, {B::SLICE, 6, "2.14.0"}, {B::SLICE, 7, "2.21.0"},
        {B::MAXIMUM, 1, "1.14.0"}, {B::MAXIMUM, 2, "1.14.0"}, {B::MAXIMUM, 3, "2.3.0"}, {B::MAXIMUM, 4, "2.3.0"},
        {B::MINIMUM, 1, "1.14.0"}, {B::MINIMUM, 2, "1.14.0"}, {B::MINIMUM, 3, "2.3.0"}, {B::MINIMUM, 4, "2.3.0"},
        {B::SPLIT, 1, "1.5.0"}, {B::SPLIT, 2, "1.14.0"}, {B::SPLIT, 3, "1.14.0"}, {B::SPLIT, 4, "2.3.0"},
        {B::SPLIT_V, 1, "1.13.1"}, {B::SPLIT_V, 2, "2.3.0"},
        {B::PACK, 1, "1.11.0"}, {B::PACK, 2, "1.14.0"}, {B::PACK, 3, "2.3.0"}, {B::PACK, 4, "2.13.0"},
        {B::ARG_MAX, 1, "1.9.0"}, {B::ARG_MAX, 2, "1.14.0"}, {B::ARG_MAX, 3, "2.9.0"},
        {B::ARG_MIN, 1, "1.9.0"}, {B::ARG_MIN, 2, "1.14.0"}, {B::ARG_MIN, 3, "2.9.0"},
        {B::SPACE_TO_BATCH_ND, 1, "1.6.0"}, {B::SPACE_TO_BATCH_ND, 2, "1.14.0"},
        {B::SPACE_TO_BATCH_ND, 3, "2.3.0"}, {B::SPACE_TO_BATCH_ND, 4, "2.12.0"},
        {B::BATCH_TO_SPACE_ND, 1, "1.6.0"}, {B::BATCH_TO_SPACE_ND, 2, "1.14.0"},
        {B::BATCH_TO_SPACE_ND, 3, "2.3.0"}, {B::BATCH_TO_SPACE_ND, 4, "2.12.0"},
        {B::SUM, 1, "1.10.0"}, {B::SUM, 2, "1.15.0"},
        {B::SPACE_TO_DEPTH, 1, "1.5.0"}, {B::SPACE_TO_DEPTH, 2, "1.14.0"},
        {B::DEPTH_TO_SPACE, 1, "2.1.0"}, {B::DEPTH_TO_SPACE, 2, "2.5.0"},
        {B::LOG_SOFTMAX, 1, "1.14.0"}, {B::LOG_SOFTMAX, 2, "1.14.0"},
        {B::MIRROR_PAD, 1, "1.13.1"}, {B::MIRROR_PAD, 2, "2.3.0"}, {B::MIRROR_PAD, 3, "2.12.0"},
        {B::REDUCE_MAX, 1, "1.11.0"}, {B::REDUCE_MAX, 2, "1.14.0"}, {B::REDUCE_MAX, 3, "2.5.0"},
        {B::REDUCE_MIN, 1, "1.11.0"}, {B::REDUCE_MIN, 2, "1.14.0"}, {B::REDUCE_MIN, 3, "2.5.0"},
        {B::RSQRT, 1, "1.10.0"}, {B::RSQRT, 2, "2.5.0"}, {B::RSQRT, 3, "2.15.0"},
    };
    return table;
}

// "1.14.0" -> {1, 14, 0}; throws on anything but dot-separated decimal numbers.
inline std::vector<long> parse_runtime_version(std::string_view v) {
    std::vector<long> parts;
    long current = 0;
    bool digits = false;
    for (const char ch : v) {
        if (ch == '.') {
            check(digits, "runtime version", "'", std::string(v), "' has an empty component");
            parts.push_back(current);
            current = 0;
            digits = false;
        } else {
            check(ch >= '0' && ch <= '9', "runtime version", "'", std::string(v), "' is not dot-separated numbers");
            check(current < 100000000L, "runtime version", "'", std::string(v), "' has a component too large");
            current = current * 10 + (ch - '0');
            digits = true;
        }
    }
    check(digits, "runtime version", "'", std::string(v), "' is empty or ends with a dot");
    parts.push_back(current);
    return parts;
}

}  // namespace detail

// Numeric comparison of dotted versions ("2.11.0" > "2.3.0"); a version that
// is a prefix of the other is the smaller one ("2.3" < "2.3.0"), as in
// TFLite's CompareRuntimeVersion.  Returns <0, 0 or >0.
inline int compare_runtime_versions(std::string_view a, std::string_view b) {
    const auto pa = detail::parse_runtime_version(a);
    const auto pb = detail::parse_runtime_version(b);
    for (std::size_t i = 0; i < pa.size() && i < pb.size(); ++i)
        if (pa[i] != pb[i]) return pa[i] < pb[i] ? -1 : 1;
    return pa.size() == pb.size() ? 0 : (pa.size() < pb.size() ? -1 : 1);
}

// Whether minimum_op_version() has a rule for `op` (otherwise it returns 1).
inline bool has_version_rule(builtin_operator op) { return detail::rule_for(op) != nullptr; }

// The minimum version of op `o` (in subgraph `g` of `m`) that TFLite assigns
// to its type signature: input/output tensor types, int4/int16 weights,
// per-channel weights, options (keep_num_dims, asymmetric_quantize_inputs,
// quantized_bias_type, pot_scale_int16, dilation, strided-slice masks), the
// number of inputs, ranks.  The op is identified by o.builtin_code.  Ops
// without a rule (has_version_rule) and CUSTOM ops get 1.  Throws qtl::error
// when a rule needs an input or output the op does not have, or a tensor
// index is out of range.
inline int minimum_op_version(const model& m, const subgraph& g, const op& o) {
    const auto rule = detail::rule_for(o.builtin_code);
    if (!rule) return 1;
    return rule(detail::op_signature(m, g, o));
}

// Sets every builtin op's version, and its operator code's, to
// minimum_op_version().  Ops that share an operator code but need different
// versions get separate codes: the code keeps the version of the first op
// that uses it (subgraphs and ops in order) and a copy per other version is
// appended to model::operator_codes.  CUSTOM codes, and codes no op uses, are
// left as they are.
inline void assign_op_versions(model& m) {
    const std::size_t original = m.operator_codes.size();
    std::vector<std::optional<int>> slot_version(original);    // version given to each original code
    std::map<std::pair<std::uint32_t, int>, std::uint32_t> copies;  // (original code, version) -> appended code
    for (std::size_t sg = 0; sg < m.subgraphs.size(); ++sg) {
        auto& g = m.subgraphs[sg];
        for (std::size_t i = 0; i < g.operators.size(); ++i) {
            auto& o = g.operators[i];
            check(o.opcode_index < original, "assign_op_versions",
                  "subgraph ", sg, " operator ", i, ": opcode_index ", o.opcode_index, " is out of range (",
                  original, " operator codes)");
            const auto code_index = o.opcode_index;
            if (m.operator_codes[code_index].builtin_code == builtin_operator::CUSTOM) continue;
            check(m.operator_codes[code_index].builtin_code == o.builtin_code, "assign_op_versions", "subgraph ", sg,
                  " operator ", i, ": builtin_code ", describe(o.builtin_code), " differs from its operator code's (",
                  describe(m.operator_codes[code_index].builtin_code), ")");
            const int v = minimum_op_version(m, g, o);
            o.version = v;
            auto& assigned = slot_version[code_index];
            if (!assigned || *assigned == v) {
                assigned = v;
                continue;
            }
            const auto key = std::make_pair(code_index, v);
            auto it = copies.find(key);
            if (it == copies.end()) {
                operator_code copy = m.operator_codes[code_index];
                copy.version = v;
                m.operator_codes.push_back(std::move(copy));
                it = copies.emplace(key, static_cast<std::uint32_t>(m.operator_codes.size() - 1)).first;
            }
            o.opcode_index = it->second;
        }
    }
    for (std::size_t c = 0; c < original; ++c)
        if (slot_version[c]) m.operator_codes[c].version = *slot_version[c];
}

// The oldest TFLite runtime (e.g. "2.3.0") that runs builtin `op` at
// `version`, from TFLite's runtime_version.cc table; "" when the table has no
// entry (ops outside has_version_rule, or versions TFLite does not list).
inline std::string minimum_runtime_version(builtin_operator op, int version) {
    for (const auto& e : detail::runtime_table())
        if (e.op == op && e.version == version) return e.runtime;
    return {};
}

// The maximum of minimum_runtime_version() over the ops of every subgraph,
// using their operator codes' versions; ops without an entry are skipped, as
// TFLite does ("" when no op has one).
inline std::string minimum_runtime_version(const model& m) {
    std::string best;
    for (std::size_t sg = 0; sg < m.subgraphs.size(); ++sg)
        for (std::size_t i = 0; i < m.subgraphs[sg].operators.size(); ++i) {
            const auto& o = m.subgraphs[sg].operators[i];
            check(o.opcode_index < m.operator_codes.size(), "minimum_runtime_version", "subgraph ", sg, " operator ",
                  i, ": opcode_index ", o.opcode_index, " is out of range (", m.operator_codes.size(),
                  " operator codes)");
            const auto& code = m.operator_codes[o.opcode_index];
            const auto v = minimum_runtime_version(code.builtin_code, code.version);
            if (!v.empty() && (best.empty() || compare_runtime_versions(v, best) > 0)) best = v;
        }
    return best;
}

// Computes minimum_runtime_version(m) and stores it as the
// "min_runtime_version" metadata (set_min_runtime_version, writer.hpp).
// Returns it; when it is "" nothing is written.
inline std::string assign_min_runtime_version(model& m) {
    auto v = minimum_runtime_version(m);
    if (!v.empty()) set_min_runtime_version(m, v);
    return v;
}

}  // namespace qtl::tflite
