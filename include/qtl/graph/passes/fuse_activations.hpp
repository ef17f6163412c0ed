#pragma once
// fuse_activations(): RELU / RELU6 / RELU_N1_TO_1 nodes become the
// fused_activation_function of the op before them.
//
// TF's converter fuses these itself, but graphs rebuilt by other tools (and
// the leftovers of fold_batch_norm / remove_identities) can still hold them
// as separate ops.  Fused, the integer kernel clamps in the requantization
// it already does, and the quantized output range is the activation's range
// instead of the pre-activation's, which costs no accuracy.
//
// Producers (those whose TFLite options carry a fused activation and whose
// kernels apply it): CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, ADD, SUB,
// MUL, AVERAGE_POOL_2D, MAX_POOL_2D.  Not CONCATENATION: its options have the
// field, but TFLite's kernel refuses anything but NONE in Prepare().  The producer must have
// no fused activation yet and its output must be read by the activation only
// (and not be a graph output).
#include <optional>
#include <string>
#include <vector>

#include "qtl/graph/graph.hpp"
#include "qtl/graph/passes/rewrite.hpp"

namespace qtl {

namespace passes {

inline bool fusable_producer(tflite::builtin_operator op) {
    using b = tflite::builtin_operator;
    switch (op) {
        case b::CONV_2D: case b::DEPTHWISE_CONV_2D: case b::FULLY_CONNECTED: case b::ADD: case b::SUB:
        case b::MUL: case b::AVERAGE_POOL_2D: case b::MAX_POOL_2D: return true;
        default: return false;
    }
}

inline std::optional<tflite::activation_function_type> activation_of_op(tflite::builtin_operator op) {
    using b = tflite::builtin_operator;
    using act = tflite::activation_function_type;
    switch (op) {
        case b::RELU: return act::RELU;
        case b::RELU6: return act::RELU6;
        case b::RELU_N1_TO_1: return act::RELU_N1_TO_1;
        default: return std::nullopt;
    }
}

}  // namespace passes

inline bool fuse_activations(graph& g, std::vector<std::string>* log = nullptr) {
    bool changed = false;
    for (std::size_t i = 0; i < g.nodes.size();) {
        const auto act = passes::activation_of_op(g.nodes[i].op);
        const auto& a = g.nodes[i];
        if (!act || a.inputs.size() != 1 || a.outputs.size() != 1 || a.inputs[0] < 0) {
            ++i;
            continue;
        }
        const auto x = a.inputs[0];
        const auto p = g.producer(x);
        if (p < 0 || passes::sole_consumer(g, x) != static_cast<std::int32_t>(i) ||
            !passes::fusable_producer(g.nodes[static_cast<std::size_t>(p)].op) ||
            g.nodes[static_cast<std::size_t>(p)].outputs.size() != 1 ||
            g.tensor(x).type != tflite::tensor_type::FLOAT32) {
            ++i;
            continue;
        }
        auto& prod = g.nodes[static_cast<std::size_t>(p)];
        auto* fused = passes::fused_activation(prod);
        if (!fused || *fused != tflite::activation_function_type::NONE) {
            ++i;
            continue;
        }
        *fused = *act;
        prod.outputs[0] = a.outputs[0];
        passes::note(log, detail::concat("fuse_activations: ", passes::node_label(a), " fused into ",
                                         passes::node_label(prod)));
        g.nodes.erase(g.nodes.begin() + static_cast<std::ptrdiff_t>(i));
        changed = true;
    }
    if (changed) g.remove_unused();
    return changed;
}

}  // namespace qtl
