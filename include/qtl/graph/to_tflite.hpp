#pragma once
// graph_to_tflite(): qtl::graph -> a float qtl::tflite::model that LiteRT
// can run; qtl::tflite::write_model() turns it into bytes.
//
// Every tensor keeps its name, type and shape (a dynamic-batch tensor gets
// shape_signature [-1, ...] back); every constant gets its own buffer;
// operator codes are deduplicated per (op, version), with the version
// TFLite's op_version.cc gives a float op (float_op_version below); a
// "serving_default" signature names the inputs and outputs, because LiteRT's
// signature runners look it up.
//
// Limits of the graph IR, visible here: the graph keeps no options for ops
// qtl's model.hpp does not decode (PACK, SHAPE, GATHER, SQUEEZE, ...).  Written
// without them, TFLite would use the schema defaults — and LiteRT runs such a
// model and returns wrong numbers (measured: Keras's Flatten chain written
// this way).  So by default those ops are refused, except the ones whose
// options carry nothing the kernel uses (options_fully_known below);
// simplify() folds the Keras shape arithmetic away first.
// graph_export_options::allow_undecoded_options writes them anyway (what
// qtl's own reader round-trips; not for other runtimes).  CUSTOM nodes are
// refused (the graph does not keep their custom options).
#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "qtl/core/error.hpp"
#include "qtl/graph/graph.hpp"
#include "qtl/io/tflite/model.hpp"
#include "qtl/io/tflite/schema.hpp"
#include "qtl/io/tflite/writer.hpp"

namespace qtl {

// The version TFLite's converter gives `n` in a float model: 1, unless a
// feature of the node needs a later kernel (the float cases of
// lite/tools/versioning/op_version.cc).
inline std::int32_t float_op_version(const graph& g, const graph_node& n) {
    using b = tflite::builtin_operator;
    using tt = tflite::tensor_type;
    auto input_type = [&](std::size_t i) {
        return i < n.inputs.size() && n.inputs[i] >= 0 ? g.tensor(n.inputs[i]).type : tt::FLOAT32;
    };
    auto input_rank = [&](std::size_t i) {
        return i < n.inputs.size() && n.inputs[i] >= 0 ? g.tensor(n.inputs[i]).shape.size() : std::size_t{0};
    };
    // Binary ops: broadcasting between inputs of rank > 4 came later.
    auto broadcast_rank5 = [&] {
        return n.inputs.size() >= 2 && g.tensor(n.inputs[0]).shape != g.tensor(n.inputs[1]).shape &&
               std::max(input_rank(0), input_rank(1)) > 4;
    };
    switch (n.op) {
        case b::DEPTHWISE_CONV_2D:
            if (const auto* o = std::get_if<tflite::depthwise_conv_2d_options>(&n.options))
                if (o->dilation_w_factor != 1 || o->dilation_h_factor != 1) return 2;
            return 1;
        case b::FULLY_CONNECTED:
            if (n.inputs.size() == 2) return 6;  // no bias input at all
            if (const auto* o = std::get_if<tflite::fully_connected_options>(&n.options)) {
                if (o->keep_num_dims) return 5;
                if (o->weights_format != tflite::fully_connected_options_weights_format::DEFAULT) return 2;
            }
            return 1;
        case b::STRIDED_SLICE:
            if (const auto* o = std::get_if<tflite::strided_slice_options>(&n.options)) {
                if (o->offset) return 8;
                if (o->ellipsis_mask != 0 || o->new_axis_mask != 0) return 6;
            }
            if (input_rank(0) > 4) return 4;
            if (input_type(0) == tt::BOOL) return 3;
            return 1;
        case b::ADD: return input_type(0) == tt::INT64 ? 4 : 1;
        case b::SUB:
            if (input_type(0) == tt::INT64) return 4;
            return broadcast_rank5() ? 3 : 1;
        case b::MUL: return input_type(0) == tt::INT64 ? 5 : 1;
        case b::DIV: return broadcast_rank5() ? 2 : 1;
        case b::MAXIMUM:
        case b::MINIMUM: return broadcast_rank5() ? 3 : 1;
        case b::TRANSPOSE:
            if (input_rank(0) > 5) return 6;
            if (input_rank(0) > 4) return 4;
            return input_type(0) == tt::BOOL ? 3 : 1;
        case b::PAD:
        case b::PADV2: return input_rank(0) > 4 ? 4 : 1;
        case b::SLICE: return input_rank(0) > 4 ? 5 : 1;
        case b::GATHER: return input_type(0) == tt::BOOL ? 3 : 1;
        case b::SPACE_TO_BATCH_ND:
        case b::BATCH_TO_SPACE_ND: return input_rank(0) != 4 ? 3 : 1;
        case b::ARG_MAX:
        case b::ARG_MIN: return input_type(0) == tt::BOOL ? 3 : 1;
        case b::BROADCAST_TO: return 2;  // version 1 was withdrawn
        case b::WHERE: return input_type(0) == tt::BOOL ? 1 : 2;
        case b::DEQUANTIZE: return input_type(0) == tt::INT16 ? 3 : 1;
        default: return 1;
    }
}

struct graph_export_options {
    // Write ops whose TFLite options the graph does not hold (see above) with
    // no options table.  Only qtl's own reader reads such a file back right.
    bool allow_undecoded_options = false;
};

// Whether the graph holds everything TFLite needs to know about `n`'s
// options: they are decoded, or the op has none the kernel reads (CAST reads
// the tensor types, EXPAND_DIMS its axis input, PAD/TRANSPOSE/SLICE/TILE
// their operand tensors; the elementwise ones have no options).
inline bool options_fully_known(const graph_node& n) {
    using b = tflite::builtin_operator;
    if (!std::holds_alternative<std::monostate>(n.options)) return true;
    switch (n.op) {
        case b::LOGISTIC: case b::TANH: case b::RELU: case b::RELU6: case b::RELU_N1_TO_1: case b::RELU_0_TO_1:
        case b::HARD_SWISH: case b::CAST: case b::EXPAND_DIMS: case b::DEQUANTIZE: case b::QUANTIZE:
        case b::PAD: case b::PADV2: case b::TRANSPOSE: case b::SLICE: case b::TILE: case b::EXP: case b::LOG:
        case b::SQRT: case b::RSQRT: case b::NEG: case b::ABS: case b::SIN: case b::COS: case b::FLOOR:
        case b::CEIL: case b::ROUND: case b::SQUARE: case b::MAXIMUM: case b::MINIMUM: case b::PRELU:
        case b::ZEROS_LIKE: case b::SELECT: case b::SELECT_V2: case b::SPACE_TO_BATCH_ND:
        case b::BATCH_TO_SPACE_ND: case b::SIGN:
            return true;
        default: return false;
    }
}

inline tflite::model graph_to_tflite(const graph& g, const graph_export_options& options = {}) {
    g.validate();
    tflite::model m;
    m.buffers.emplace_back();  // buffer 0: TFLite's "no data" sentinel
    tflite::subgraph sg;
    sg.name = "main";
    for (const auto& t : g.tensors) {
        tflite::tensor out;
        out.name = t.name;
        out.type = t.type;
        out.shape = t.shape;
        if (t.dynamic_batch && !t.shape.empty()) {
            out.shape_signature.assign(t.shape.begin(), t.shape.end());
            out.shape_signature[0] = -1;
        }
        if (t.is_constant && !t.data.empty()) {
            out.buffer = static_cast<std::uint32_t>(m.buffers.size());
            m.buffers.push_back(tflite::buffer{t.data});
        }
        sg.tensors.push_back(std::move(out));
    }
    sg.inputs = g.inputs;
    sg.outputs = g.outputs;
    std::map<std::pair<std::int32_t, std::int32_t>, std::uint32_t> codes;  // (op, version) -> index
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
        const auto& n = g.nodes[i];
        check(n.op != tflite::builtin_operator::CUSTOM, g.describe_node(static_cast<std::int32_t>(i)),
              "a CUSTOM op cannot be written: the graph does not keep its custom options");
        check(options.allow_undecoded_options || options_fully_known(n), g.describe_node(static_cast<std::int32_t>(i)),
              "the graph does not hold this op's ", tflite::describe(n.op),
              " options, and TFLite would run it with the schema defaults; run qtl::simplify() first (it folds "
              "the shape arithmetic of Keras exports), or set graph_export_options::allow_undecoded_options to "
              "write it for qtl's own reader");
        const auto version = float_op_version(g, n);
        const auto key = std::make_pair(static_cast<std::int32_t>(n.op), version);
        auto it = codes.find(key);
        if (it == codes.end()) {
            tflite::operator_code c;
            c.builtin_code = n.op;
            c.deprecated_builtin_code = static_cast<std::int8_t>(std::min(static_cast<std::int32_t>(n.op), 127));
            c.version = version;
            it = codes.emplace(key, static_cast<std::uint32_t>(m.operator_codes.size())).first;
            m.operator_codes.push_back(std::move(c));
        }
        tflite::op o;
        o.opcode_index = it->second;
        o.builtin_code = n.op;
        o.version = version;
        o.inputs = n.inputs;
        o.outputs = n.outputs;
        o.options = n.options;
        // The writer derives the table type from decoded options; for
        // undecoded ones (monostate) no table is written.
        o.options_type = std::holds_alternative<std::monostate>(n.options)
                             ? tflite::builtin_options_type::NONE
                             : tflite::detail::options_type_of(n.options);
        sg.operators.push_back(std::move(o));
    }
    m.subgraphs.push_back(std::move(sg));
    tflite::add_serving_default_signature(m);
    return m;
}

}  // namespace qtl
