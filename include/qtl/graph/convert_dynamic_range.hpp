#pragma once
// convert_dynamic_range(): a float graph in, a dynamic-range ("hybrid")
// TFLite model out: what TensorFlow's converter writes with
// Optimize.DEFAULT and no representative dataset.  No calibration needed.
//
//   qtl::tflite::model m = qtl::convert_dynamic_range(g);
//   qtl::tflite::write_model(m, "model_dynamic.tflite");
//   qtl::tflite::executor run(m);            // or LiteRT / TFLite
//
// What changes against the float model (graph_to_tflite):
// - the weights of FULLY_CONNECTED, CONV_2D and DEPTHWISE_CONV_2D become
//   int8, symmetric, narrow range ([-127, 127], zero point 0), scale
//   max|w| / 127 per output channel: axis 0 for CONV_2D and (with
//   options.per_channel, the default) FULLY_CONNECTED, axis 3 for
//   DEPTHWISE_CONV_2D; per tensor for FULLY_CONNECTED without per_channel.
//   An all-zero channel gets scale 1;
// - FULLY_CONNECTED gets asymmetric_quantize_inputs = true (its input is
//   quantized per row with a zero point, which is more accurate for
//   post-ReLU activations).  CONV_2D and DEPTHWISE_CONV_2D have no such
//   option in the schema: TFLite picks asymmetric per-image quantization
//   itself for per-channel filters;
// - those ops get the versions TFLite gives hybrid signatures
//   (io/tflite/op_versions.hpp: FULLY_CONNECTED 12 per channel, 9 per tensor
//   asymmetric; CONV_2D 5; DEPTHWISE_CONV_2D 6);
// - everything else stays float: biases, activations, every other op.
//
// A weight constant that something else also reads (say an ADD) keeps its
// float tensor; the weight ops read a new int8 copy.  Weights smaller than
// options.min_weight_elements stay float (TensorFlow's converter uses 1024;
// qtl's default 0 quantizes every one).  A graph where nothing gets
// quantized is a qtl::error.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "qtl/core/error.hpp"
#include "qtl/graph/graph.hpp"
#include "qtl/graph/to_tflite.hpp"
#include "qtl/io/tflite/model.hpp"
#include "qtl/io/tflite/op_versions.hpp"

namespace qtl {

struct dynamic_range_options {
    bool per_channel = true;              // FULLY_CONNECTED weights per output channel (CONV/DW always are)
    std::size_t min_weight_elements = 0;  // smaller weight tensors stay float (TensorFlow: 1024)
};

namespace detail::dynamic_range {

inline bool is_weight_op(tflite::builtin_operator op) {
    return op == tflite::builtin_operator::FULLY_CONNECTED || op == tflite::builtin_operator::CONV_2D ||
           op == tflite::builtin_operator::DEPTHWISE_CONV_2D;
}

// The int8 codes and scales of `values` (shape `s`) quantized symmetrically
// along `axis` (-1: one scale for the tensor).
struct quantized_weights {
    std::vector<std::int8_t> codes;
    std::vector<float> scales;
};

inline quantized_weights quantize_symmetric(const std::vector<float>& values, const qtl::shape& s, int axis,
                                            const std::string& where) {
    std::size_t channels = 1, inner = values.size();
    if (axis >= 0) {
        channels = static_cast<std::size_t>(s[static_cast<std::size_t>(axis)]);
        inner = 1;
        for (std::size_t d = static_cast<std::size_t>(axis) + 1; d < s.size(); ++d) inner *= static_cast<std::size_t>(s[d]);
    }
    // Element i belongs to channel (i / inner) % channels.
    const auto channel_of = [&](std::size_t i) { return axis < 0 ? std::size_t{0} : (i / inner) % channels; };
    std::vector<float> max_abs(channels, 0.0f);
    for (std::size_t i = 0; i < values.size(); ++i) {
        check(std::isfinite(values[i]), where, "weight element ", i, " is ", values[i]);
        max_abs[channel_of(i)] = std::max(max_abs[channel_of(i)], std::abs(values[i]));
    }
    quantized_weights q;
    for (float m : max_abs) q.scales.push_back(m > 0.0f ? m / 127.0f : 1.0f);
    q.codes.resize(values.size());
    for (std::size_t i = 0; i < values.size(); ++i) {
        const float code = std::round(values[i] / q.scales[channel_of(i)]);
        q.codes[i] = static_cast<std::int8_t>(std::clamp(code, -127.0f, 127.0f));
    }
    return q;
}

// Gives operator `index` version `v`, sharing an operator code of the same
// op and version or appending one.
inline void set_op_version(tflite::model& m, std::size_t index, std::int32_t v) {
    auto& o = m.subgraphs[0].operators[index];
    o.version = v;
    for (std::size_t c = 0; c < m.operator_codes.size(); ++c) {
        const auto& code = m.operator_codes[c];
        if (code.builtin_code == o.builtin_code && code.version == v) {
            o.opcode_index = static_cast<std::uint32_t>(c);
            return;
        }
    }
    tflite::operator_code code = m.operator_codes[o.opcode_index];
    code.version = v;
    m.operator_codes.push_back(std::move(code));
    o.opcode_index = static_cast<std::uint32_t>(m.operator_codes.size() - 1);
}

// Drops operator codes no operator uses (a float code whose ops all became hybrid).
inline void drop_unused_codes(tflite::model& m) {
    std::vector<char> used(m.operator_codes.size(), 0);
    for (const auto& sg : m.subgraphs)
        for (const auto& o : sg.operators) used[o.opcode_index] = 1;
    std::vector<std::uint32_t> remap(m.operator_codes.size(), 0);
    std::vector<tflite::operator_code> kept;
    for (std::size_t c = 0; c < m.operator_codes.size(); ++c)
        if (used[c]) {
            remap[c] = static_cast<std::uint32_t>(kept.size());
            kept.push_back(std::move(m.operator_codes[c]));
        }
    m.operator_codes = std::move(kept);
    for (auto& sg : m.subgraphs)
        for (auto& o : sg.operators) o.opcode_index = remap[o.opcode_index];
}

}  // namespace detail::dynamic_range

inline tflite::model convert_dynamic_range(const graph& g, const dynamic_range_options& options = {}) {
    namespace dr = detail::dynamic_range;
    using B = tflite::builtin_operator;
    g.validate();
    tflite::model m = graph_to_tflite(g);  // tensor i of the model is tensor i of the graph
    auto& sg = m.subgraphs[0];

    // The axis each weight tensor is quantized along, and whether anything else reads it.
    struct weight_use {
        int axis = 0;
        std::vector<std::size_t> nodes;
    };
    std::map<std::int32_t, weight_use> weights;
    for (std::size_t n = 0; n < g.nodes.size(); ++n) {
        const auto& node = g.nodes[n];
        if (!dr::is_weight_op(node.op) || node.inputs.size() < 2 || node.inputs[1] < 0) continue;
        const std::int32_t w = node.inputs[1];
        const auto& t = g.tensor(w);
        const auto where = g.describe_node(static_cast<std::int32_t>(n));
        if (!t.is_constant || t.type != tflite::tensor_type::FLOAT32 || t.size() < options.min_weight_elements ||
            t.size() == 0)
            continue;
        const int axis = node.op == B::DEPTHWISE_CONV_2D                          ? static_cast<int>(t.shape.size()) - 1
                         : node.op == B::FULLY_CONNECTED && !options.per_channel ? -1
                                                                                  : 0;
        check(t.shape.size() >= 1, where, "the weights (", g.describe_tensor(w), ") must have rank >= 1");
        auto [it, fresh] = weights.try_emplace(w, weight_use{axis, {}});
        check(fresh || it->second.axis == axis, where, "the weights ", g.describe_tensor(w),
              " are shared with an op that quantizes them along another axis");
        it->second.nodes.push_back(n);
    }
    check(!weights.empty(), "convert_dynamic_range",
          "nothing to quantize in dynamic-range mode: the graph has no FULLY_CONNECTED, CONV_2D or DEPTHWISE_CONV_2D "
          "with constant float weights",
          options.min_weight_elements > 0 ? qtl::detail::concat(" of at least ", options.min_weight_elements, " elements")
                                          : std::string());

    for (const auto& [w, use] : weights) {
        const auto& t = g.tensor(w);
        const auto q = dr::quantize_symmetric(t.values<float>(), t.shape, use.axis, g.describe_tensor(w));
        tflite::tensor qt;
        qt.name = t.name;
        qt.type = tflite::tensor_type::INT8;
        qt.shape = t.shape;
        tflite::quantization quant;
        quant.scale = q.scales;
        quant.zero_point.assign(q.scales.size(), 0);
        quant.quantized_dimension = std::max(use.axis, 0);
        quant.params.scales = q.scales;
        quant.params.zero_points.assign(q.scales.size(), 0);
        quant.params.axis = q.scales.size() > 1 ? use.axis : -1;
        qt.quantization = std::move(quant);
        std::vector<std::uint8_t> bytes(q.codes.size());
        std::memcpy(bytes.data(), q.codes.data(), bytes.size());
        // Shared with another reader: a new tensor; otherwise replace in place.
        bool only_weights = !g.is_output(w);
        for (auto c : g.consumers(w)) {
            const auto& node = g.nodes[static_cast<std::size_t>(c)];
            for (std::size_t k = 0; k < node.inputs.size(); ++k)
                if (node.inputs[k] == w && !(k == 1 && dr::is_weight_op(node.op))) only_weights = false;
        }
        std::int32_t target = w;
        if (only_weights) {
            qt.buffer = sg.tensors[static_cast<std::size_t>(w)].buffer;
            m.buffers[qt.buffer].data = std::move(bytes);
            sg.tensors[static_cast<std::size_t>(w)] = std::move(qt);
        } else {
            qt.name += "/int8";
            m.buffers.push_back(tflite::buffer{std::move(bytes)});
            qt.buffer = static_cast<std::uint32_t>(m.buffers.size() - 1);
            sg.tensors.push_back(std::move(qt));
            target = static_cast<std::int32_t>(sg.tensors.size() - 1);
        }
        for (auto n : use.nodes) sg.operators[n].inputs[1] = target;
    }

    for (const auto& [w, use] : weights) {
        for (auto n : use.nodes) {
            auto& o = sg.operators[n];
            if (auto* fc = std::get_if<tflite::fully_connected_options>(&o.options)) {
                fc->asymmetric_quantize_inputs = true;
            } else if (o.builtin_code == B::FULLY_CONNECTED) {  // options absent in the graph: the defaults, asymmetric
                tflite::fully_connected_options fc_options;
                fc_options.asymmetric_quantize_inputs = true;
                o.options = fc_options;
                o.options_type = tflite::detail::options_type_of(o.options);
            }
            dr::set_op_version(m, n, tflite::minimum_op_version(m, sg, o));
        }
    }
    dr::drop_unused_codes(m);
    return m;
}

}  // namespace qtl
