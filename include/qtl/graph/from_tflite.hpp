#pragma once
// graph_from_tflite(): a float .tflite model (as TensorFlow's converter
// writes it without optimizations) -> qtl::graph, the IR qtl calibrates and
// converts.
//
// What is taken from the file, and why:
//   - the main subgraph only (TFLite runs subgraph 0; others belong to
//     control-flow ops, which qtl does not convert);
//   - constants: tensors with a non-empty buffer.  FLOAT32 and INT32 as they
//     are; INT64 (shape operands from TF) narrowed to INT32 with a range check;
//     FLOAT16 widened to FLOAT32, and the DEQUANTIZE(float16 constant) node
//     TF emits for fp16 models folded into a FLOAT32 constant;
//   - shapes: a -1 in dimension 0 of shape_signature is the batch, fixed to
//     options.batch (graph_tensor::dynamic_batch records it); -1 anywhere
//     else is an error: qtl needs static shapes to quantize;
//   - ops as they are, unknown and custom ones included: refusing them is the
//     job of whatever cannot run them (the error then names the op).  For a
//     CUSTOM op the custom code becomes the node's name (the graph has no
//     field for it; custom options are dropped).
// An already quantized model (int8/uint8/int16/int4 tensors with scales, or
// QUANTIZE ops) is refused: it needs no quantizing, qtl-run runs it.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "qtl/core/error.hpp"
#include "qtl/graph/graph.hpp"
#include "qtl/io/tflite/model.hpp"
#include "qtl/io/tflite/reader.hpp"
#include "qtl/io/tflite/schema.hpp"

namespace qtl {

struct graph_import_options {
    // The batch size given to a dynamic batch dimension (-1 in dimension 0 of
    // a tensor's shape_signature).
    std::int32_t batch = 1;
};

namespace detail {

inline bool is_integer_quantized_type(tflite::tensor_type t) {
    using tt = tflite::tensor_type;
    return t == tt::INT8 || t == tt::UINT8 || t == tt::INT16 || t == tt::INT4;
}

inline void refuse_quantized(const tflite::model& m) {
    const auto& sg = m.main();
    for (std::size_t i = 0; i < sg.tensors.size(); ++i) {
        const auto& t = sg.tensors[i];
        check(!(t.is_quantized() && is_integer_quantized_type(t.type)),
              concat("tensor ", i, " '", t.name, "'"),
              "the model is already quantized (", tflite::describe(t.type),
              " tensor with quantization parameters); run it with qtl-run instead of quantizing it again");
    }
    for (std::size_t i = 0; i < sg.operators.size(); ++i)
        check(sg.operators[i].builtin_code != tflite::builtin_operator::QUANTIZE,
              concat("operator ", i, " (QUANTIZE)"),
              "the model is already quantized (it has QUANTIZE ops); run it with qtl-run instead of quantizing it again");
}

// A constant's bytes converted to what a graph holds.
inline void import_constant(graph_tensor& out, const tflite::tensor& t, std::span<const std::uint8_t> data,
                            const std::string& where) {
    using tt = tflite::tensor_type;
    const std::size_t n = num_elements(out.shape, where);
    switch (t.type) {
        case tt::INT64: {
            std::vector<std::int32_t> v(n);
            for (std::size_t i = 0; i < n; ++i) {
                const auto x = tflite::detail::load<std::int64_t>(data.data() + 8 * i);
                check(x >= std::numeric_limits<std::int32_t>::min() && x <= std::numeric_limits<std::int32_t>::max(),
                      where, "INT64 element ", i, " is ", x, ", outside the INT32 range qtl narrows it to");
                v[i] = static_cast<std::int32_t>(x);
            }
            out.type = tt::INT32;
            out.set_values<std::int32_t>(v);
            return;
        }
        case tt::FLOAT16: {
            std::vector<float> v(n);
            for (std::size_t i = 0; i < n; ++i)
                v[i] = tflite::detail::half_to_float(tflite::detail::load<std::uint16_t>(data.data() + 2 * i));
            out.type = tt::FLOAT32;
            out.set_values<float>(v);
            return;
        }
        default: {
            out.type = t.type;
            const auto expected = n * graph_element_size(t.type, where);  // throws for unsupported types
            check(data.size() == expected, where, "holds ", data.size(), " bytes, expected ", expected);
            out.data.assign(data.begin(), data.end());
            out.is_constant = true;
            return;
        }
    }
}

}  // namespace detail

inline graph graph_from_tflite(const tflite::model& m, const graph_import_options& options = {}) {
    using tt = tflite::tensor_type;
    check(options.batch >= 1, "graph_import_options", "batch must be >= 1, got ", options.batch);
    detail::refuse_quantized(m);
    const auto& sg = m.main();
    graph g;
    for (std::size_t i = 0; i < sg.tensors.size(); ++i) {
        const auto& t = sg.tensors[i];
        const auto where = detail::concat("tensor ", i, " '", t.name, "'");
        graph_tensor out;
        out.name = t.name;
        out.type = t.type;
        out.shape = t.shape;
        const bool is_input = std::find(sg.inputs.begin(), sg.inputs.end(), static_cast<std::int32_t>(i)) !=
                              sg.inputs.end();
        for (std::size_t d = 0; d < t.shape_signature.size(); ++d) {
            if (t.shape_signature[d] >= 0) continue;
            check(d == 0, is_input ? detail::concat("input '", t.name, "'") : where, "dynamic dimension ", d,
                  " of ", is_input ? "input '" : "tensor '", t.name, "' (shape_signature ",
                  shape_text(qtl::shape(t.shape_signature.begin(), t.shape_signature.end())),
                  ") — fix it before quantizing (qtl needs static shapes; only dimension 0, the batch, may be dynamic)");
            check(d < out.shape.size(), where, "shape_signature has more dimensions than the shape");
            out.dynamic_batch = true;
            out.shape[0] = options.batch;
        }
        const auto data = m.data_of(t);
        if (!data.empty()) detail::import_constant(out, t, data, where);
        else if (t.type == tt::INT64 || t.type == tt::FLOAT16) {
            // Activations keep their type; FLOAT16 ones cannot be computed in a float graph.
            check(t.type != tt::FLOAT16, where, "FLOAT16 activations are not supported (only FLOAT16 weights)");
        }
        g.add_tensor(std::move(out));
    }
    g.inputs = sg.inputs;
    g.outputs = sg.outputs;
    for (std::size_t i = 0; i < sg.operators.size(); ++i) {
        const auto& o = sg.operators[i];
        // TF's fp16 models: DEQUANTIZE(float16 weights) -> the float32 weights.
        if (o.builtin_code == tflite::builtin_operator::DEQUANTIZE && o.inputs.size() == 1 && o.outputs.size() == 1 &&
            o.inputs[0] >= 0) {
            const auto& src = sg.tensors.at(static_cast<std::size_t>(o.inputs[0]));
            auto& in = g.tensor(o.inputs[0]);
            if (src.type == tt::FLOAT16 && in.is_constant) {
                auto& out = g.tensor(o.outputs[0]);
                check(out.type == tt::FLOAT32 && num_elements(out.shape) == in.size(),
                      detail::concat("operator ", i, " (DEQUANTIZE)"),
                      "dequantizes FLOAT16 ", shape_text(in.shape), " into ", tflite::describe(out.type), " ",
                      shape_text(out.shape), ", expected FLOAT32 of the same size");
                out.data = in.data;
                out.is_constant = true;
                continue;
            }
        }
        graph_node n;
        n.op = o.builtin_code;
        n.options = o.options;
        n.inputs = o.inputs;
        n.outputs = o.outputs;
        if (o.builtin_code == tflite::builtin_operator::CUSTOM) {
            const auto& code = m.operator_codes.at(o.opcode_index).custom_code;
            n.name = code.empty() ? "custom op" : code;
        } else if (!o.outputs.empty() && o.outputs[0] >= 0 &&
                   static_cast<std::size_t>(o.outputs[0]) < sg.tensors.size()) {
            n.name = sg.tensors[static_cast<std::size_t>(o.outputs[0])].name;
        }
        g.nodes.push_back(std::move(n));
    }
    g.validate();
    // Drops the float16 sources of folded DEQUANTIZE nodes (and anything else
    // nothing reads).
    g.remove_unused();
    return g;
}

// Reads `path` (reader errors pass through) and imports it.
inline graph load_float_tflite(const std::filesystem::path& path, const graph_import_options& options = {}) {
    return graph_from_tflite(tflite::read_model(path), options);
}

}  // namespace qtl
