#pragma once
// remove_identities(): drops nodes whose output equals one of their inputs.
//
// What TF/Keras exports leave behind:
//   - RESHAPE to the shape the input already has (Flatten of a flat tensor,
//     Reshape layers made redundant by fold_constants);
//   - ADD / SUB of an all-zero constant, MUL / DIV by an all-one constant
//     (dropout and "scale = 1" remnants), when the constant does not
//     broadcast the output to a bigger shape and there is no fused
//     activation;
//   - CAST to the type the input already has.
// Each costs a requantization (and accuracy) once quantized.
//
// Not an identity, and kept on purpose: a uint8 image input followed by
// CAST to float32 (and EXPAND_DIMS).  The graph input stays UINT8 and the
// CAST stays, so that the converter sees the model's real input type and can
// give the quantized model a uint8 input instead of inventing a float one.
#include <string>
#include <vector>

#include "qtl/graph/graph.hpp"
#include "qtl/graph/passes/rewrite.hpp"

namespace qtl {

namespace passes {

// Whether constant `c` holds only `value` (FLOAT32 or INT32).
inline bool all_equal(const graph_tensor& c, double value) {
    if (c.type == tflite::tensor_type::FLOAT32) {
        for (auto v : c.values<float>())
            if (v != static_cast<float>(value)) return false;
        return true;
    }
    if (c.type == tflite::tensor_type::INT32) {
        for (auto v : c.values<std::int32_t>())
            if (v != static_cast<std::int32_t>(value)) return false;
        return true;
    }
    return false;
}

// The input of `n` its output equals, or -1.
inline std::int32_t identity_source(const graph& g, const graph_node& n) {
    using b = tflite::builtin_operator;
    if (n.outputs.size() != 1 || n.inputs.empty() || n.inputs[0] < 0) return -1;
    const auto& out = g.tensor(n.outputs[0]);
    auto same = [&](std::int32_t t) { return g.tensor(t).shape == out.shape && g.tensor(t).type == out.type; };
    switch (n.op) {
        case b::RESHAPE:
        case b::CAST: return same(n.inputs[0]) ? n.inputs[0] : -1;
        case b::ADD:
        case b::SUB:
        case b::MUL:
        case b::DIV: {
            if (n.inputs.size() != 2 || fused_activation_of(n) != tflite::activation_function_type::NONE) return -1;
            const double neutral = (n.op == b::ADD || n.op == b::SUB) ? 0.0 : 1.0;
            const bool commutative = n.op == b::ADD || n.op == b::MUL;
            for (int k = 0; k < 2; ++k) {
                const auto x = n.inputs[static_cast<std::size_t>(k)], c = n.inputs[static_cast<std::size_t>(1 - k)];
                if (k == 1 && !commutative) break;
                if (x < 0 || c < 0 || !is_constant(g, c) || is_constant(g, x) || !same(x)) continue;
                if (g.tensor(c).type == out.type && g.tensor(c).shape.size() <= out.shape.size() &&
                    all_equal(g.tensor(c), neutral))
                    return x;
            }
            return -1;
        }
        default: return -1;
    }
}

}  // namespace passes

inline bool remove_identities(graph& g, std::vector<std::string>* log = nullptr) {
    bool changed = false;
    for (std::size_t i = 0; i < g.nodes.size();) {
        const auto src = passes::identity_source(g, g.nodes[i]);
        if (src < 0) {
            ++i;
            continue;
        }
        const auto label = passes::node_label(g.nodes[i]);
        if (!passes::bypass(g, static_cast<std::int32_t>(i), src)) {
            ++i;
            continue;
        }
        passes::note(log, detail::concat("remove_identities: removed ", label, " (its output equals ",
                                         g.describe_tensor(src), ")"));
        changed = true;
    }
    if (changed) g.remove_unused();
    return changed;
}

}  // namespace qtl
