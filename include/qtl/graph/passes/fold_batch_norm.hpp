#pragma once
// fold_batch_norm(): folds an unfused batch norm into the layer before it.
//
// Keras exports a BatchNormalization that TF could not fuse (e.g. after a
// Dense layer, or with a bias-free Conv2D) as MUL(x, scale) -> ADD(., shift)
// with per-channel constants.  After CONV_2D / DEPTHWISE_CONV_2D /
// FULLY_CONNECTED it is linear in the layer's output channel c:
//   (W x + b) * s[c] + t[c] = (W * s[c]) x + (b * s[c] + t[c])
// so the weights are scaled per output channel and the bias absorbs the rest
// (a zero bias is created when the layer has none).  Quantizing the folded
// layer is both faster and more accurate than quantizing three ops.
//
// Conditions (else the pattern is left alone): the layer has NO fused
// activation (an activation between the layer and the MUL is not linear);
// each intermediate output is read by the next op only and is not a graph
// output; the MUL has no fused activation; the constants are FLOAT32 and
// per channel (one value, or C values along the last axis) and do not
// broadcast the output to a bigger shape; weights (and bias) are FLOAT32
// constants.  MUL alone and ADD alone fold the same way, and SUB of a
// constant is an ADD of its negation; the ADD's (SUB's) fused activation
// moves to the layer.  Weights are copied, never changed in
// place, since another layer may share them.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "qtl/core/error.hpp"
#include "qtl/graph/graph.hpp"
#include "qtl/graph/passes/rewrite.hpp"

namespace qtl {

namespace passes {

// The per-channel values of the constant operand of an elementwise `n`
// applied to `x` (channels: the last axis of the output, size `channels`),
// or nullopt.  `other` receives the constant's tensor index.
inline std::optional<std::vector<float>> per_channel_operand(const graph& g, const graph_node& n, std::int32_t x,
                                                             std::int32_t channels, bool commutative) {
    if (n.inputs.size() != 2 || n.outputs.size() != 1) return std::nullopt;
    std::int32_t c = -1;
    if (n.inputs[0] == x && is_constant(g, n.inputs[1])) c = n.inputs[1];
    else if (commutative && n.inputs[1] == x && is_constant(g, n.inputs[0])) c = n.inputs[0];
    if (c < 0) return std::nullopt;
    const auto& t = g.tensor(c);
    const auto& xs = g.tensor(x).shape;
    if (t.type != tflite::tensor_type::FLOAT32 || g.tensor(n.outputs[0]).shape != xs || t.shape.size() > xs.size())
        return std::nullopt;
    const auto v = t.values<float>();
    if (v.size() == 1) return std::vector<float>(static_cast<std::size_t>(channels), v[0]);
    if (t.shape.empty() || t.shape.back() != channels || v.size() != static_cast<std::size_t>(channels))
        return std::nullopt;
    return v;
}

}  // namespace passes

inline bool fold_batch_norm(graph& g, std::vector<std::string>* log = nullptr) {
    using b = tflite::builtin_operator;
    using tt = tflite::tensor_type;
    bool changed = false;
    for (std::size_t li = 0; li < g.nodes.size(); ++li) {
        const auto op = g.nodes[li].op;
        if (op != b::CONV_2D && op != b::DEPTHWISE_CONV_2D && op != b::FULLY_CONNECTED) continue;
        auto& layer = g.nodes[li];
        // Options must be decoded (the fused activation may move onto them) and say NONE.
        const auto* layer_act = passes::fused_activation(layer);
        if (layer.outputs.size() != 1 || layer.inputs.size() < 2 || !layer_act ||
            *layer_act != tflite::activation_function_type::NONE)
            continue;
        const auto w_index = layer.inputs[1];
        if (!passes::is_constant(g, w_index) || g.tensor(w_index).type != tt::FLOAT32) continue;
        const auto& w = g.tensor(w_index);
        const auto y = layer.outputs[0];
        const auto& ys = g.tensor(y).shape;
        if (ys.empty() || w.shape.empty()) continue;
        const std::int32_t channels = ys.back();
        // The output-channel axis of the weights: 0 for CONV_2D [C,H,W,I] and
        // FULLY_CONNECTED [C,I], 3 for DEPTHWISE_CONV_2D [1,H,W,C].
        const std::size_t axis = op == b::DEPTHWISE_CONV_2D ? w.shape.size() - 1 : 0;
        if (w.shape[axis] != channels) continue;
        const std::int32_t bias_index = layer.inputs.size() > 2 ? layer.inputs[2] : -1;
        if (bias_index >= 0 && (!passes::is_constant(g, bias_index) || g.tensor(bias_index).type != tt::FLOAT32 ||
                                g.tensor(bias_index).size() != static_cast<std::size_t>(channels)))
            continue;

        // MUL (optional) then ADD (optional), each the sole reader of what came before.
        std::vector<float> scale(static_cast<std::size_t>(channels), 1.0f), shift(static_cast<std::size_t>(channels), 0.0f);
        std::int32_t mul = -1, add = -1, last = y;
        auto next = passes::sole_consumer(g, y);
        if (next >= 0 && g.nodes[static_cast<std::size_t>(next)].op == b::MUL &&
            passes::fused_activation_of(g.nodes[static_cast<std::size_t>(next)]) == tflite::activation_function_type::NONE) {
            if (auto s = passes::per_channel_operand(g, g.nodes[static_cast<std::size_t>(next)], y, channels, true)) {
                scale = *s;
                mul = next;
                last = g.nodes[static_cast<std::size_t>(next)].outputs[0];
                next = passes::sole_consumer(g, last);
            }
        }
        // ADD of the shift, or SUB of its negation (constant second only).
        if (next >= 0 && (g.nodes[static_cast<std::size_t>(next)].op == b::ADD ||
                          g.nodes[static_cast<std::size_t>(next)].op == b::SUB)) {
            const auto& a = g.nodes[static_cast<std::size_t>(next)];
            const bool is_sub = a.op == b::SUB;
            if (auto t = passes::per_channel_operand(g, a, last, channels, !is_sub)) {
                shift = *t;
                if (is_sub)
                    for (auto& v : shift) v = -v;
                add = next;
                last = a.outputs[0];
            }
        }
        if (mul < 0 && add < 0) continue;

        // New weights and bias (copies: the originals may be shared).
        auto wv = w.values<float>();
        const std::size_t inner = [&] {
            std::size_t n = 1;
            for (std::size_t d = axis + 1; d < w.shape.size(); ++d) n *= static_cast<std::size_t>(w.shape[d]);
            return n;
        }();
        for (std::size_t k = 0; k < wv.size(); ++k) wv[k] *= scale[(k / inner) % static_cast<std::size_t>(channels)];
        std::vector<float> bias(static_cast<std::size_t>(channels), 0.0f);
        if (bias_index >= 0) bias = g.tensor(bias_index).values<float>();
        for (std::size_t c = 0; c < bias.size(); ++c) bias[c] = bias[c] * scale[c] + shift[c];
        const std::string w_name = w.name, b_name = bias_index >= 0 ? g.tensor(bias_index).name : g.nodes[li].name + "/bias";
        const auto w_shape = w.shape;
        const auto new_w = g.add_constant(w_name, w_shape, std::span<const float>(wv));
        const auto new_b = g.add_constant(b_name, shape{channels}, std::span<const float>(bias));

        auto& l = g.nodes[li];
        std::string what;
        if (mul >= 0) what += passes::node_label(g.nodes[static_cast<std::size_t>(mul)]);
        if (add >= 0) what += (what.empty() ? "" : " + ") + passes::node_label(g.nodes[static_cast<std::size_t>(add)]);
        l.inputs[1] = new_w;
        if (l.inputs.size() < 3) l.inputs.resize(3, -1);
        l.inputs[2] = new_b;
        if (add >= 0) *passes::fused_activation(l) = passes::fused_activation_of(g.nodes[static_cast<std::size_t>(add)]);
        // The layer writes the last tensor of the chain (its name is what
        // later layers and the model's outputs know).
        l.outputs[0] = last;
        passes::note(log, detail::concat("fold_batch_norm: ", what, " folded into ", passes::node_label(l),
                                         " (weights scaled per output channel, bias ",
                                         bias_index >= 0 ? "updated" : "created", ")"));
        // Erase the folded nodes (higher index first).
        const auto hi = std::max(mul, add), lo = std::min(mul, add);
        g.nodes.erase(g.nodes.begin() + hi);
        if (lo >= 0) g.nodes.erase(g.nodes.begin() + lo);
        changed = true;
    }
    if (changed) g.remove_unused();
    return changed;
}

}  // namespace qtl
