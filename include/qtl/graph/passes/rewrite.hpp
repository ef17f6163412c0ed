#pragma once
// Small graph-rewriting helpers shared by the simplification passes
// (passes/*.hpp): who is the single reader of a tensor, how to drop a node
// whose output equals one of its inputs, how to read and set the fused
// activation of the option structs that have one.
#include <cstdint>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "qtl/graph/graph.hpp"

namespace qtl::passes {

// Appends a line to an optional change log.
inline void note(std::vector<std::string>* log, std::string line) {
    if (log) log->push_back(std::move(line));
}

inline bool is_constant(const graph& g, std::int32_t t) { return t >= 0 && g.tensor(t).is_constant; }

// The one node reading `t`, or -1 when `t` is a graph output, unread, read
// by several nodes, or read twice by the same node.
inline std::int32_t sole_consumer(const graph& g, std::int32_t t) {
    if (g.is_output(t)) return -1;
    const auto c = g.consumers(t);
    if (c.size() != 1) return -1;
    int reads = 0;
    for (auto i : g.nodes[static_cast<std::size_t>(c[0])].inputs) reads += i == t;
    return reads == 1 ? c[0] : -1;
}

// "CONV_2D 'name'" for messages.
inline std::string node_label(const graph_node& n) {
    return detail::concat(tflite::describe(n.op), " '", n.name, "'");
}

// Removes node `n`, whose output 0 holds the same values as tensor `same`
// (an input of the node).  Readers of the output read `same` instead; when
// the output is a graph output, the producer of `same` writes the output
// tensor directly (its name is the model's interface), which needs `same`
// to be read by `n` only.  Returns false (graph untouched) when neither works.
inline bool bypass(graph& g, std::int32_t n, std::int32_t same) {
    auto& node = g.nodes.at(static_cast<std::size_t>(n));
    if (node.outputs.size() != 1) return false;
    const auto out = node.outputs[0];
    if (!g.is_output(out)) {
        g.replace_uses(out, same);
        g.nodes.erase(g.nodes.begin() + n);
        return true;
    }
    const auto p = g.producer(same);
    if (p < 0 || g.is_output(same) || sole_consumer(g, same) != n) return false;
    for (auto& o : g.nodes[static_cast<std::size_t>(p)].outputs)
        if (o == same) o = out;
    g.tensor(out).dynamic_batch = g.tensor(out).dynamic_batch || g.tensor(same).dynamic_batch;
    g.nodes.erase(g.nodes.begin() + n);
    return true;
}

template <class T>
concept has_fused_activation = requires(T t) { t.fused_activation_function; };

// The fused activation of `n`'s options; nullptr when its options have none.
inline tflite::activation_function_type* fused_activation(graph_node& n) {
    return std::visit(
        [](auto& o) -> tflite::activation_function_type* {
            if constexpr (has_fused_activation<std::decay_t<decltype(o)>>) return &o.fused_activation_function;
            else return nullptr;
        },
        n.options);
}
inline tflite::activation_function_type fused_activation_of(const graph_node& n) {
    auto* p = fused_activation(const_cast<graph_node&>(n));
    return p ? *p : tflite::activation_function_type::NONE;
}

// Applies a fused activation to a float value (what TFLite's float kernels do).
inline float apply_activation(tflite::activation_function_type a, float x) {
    using act = tflite::activation_function_type;
    switch (a) {
        case act::RELU: return x < 0.0f ? 0.0f : x;
        case act::RELU6: return x < 0.0f ? 0.0f : (x > 6.0f ? 6.0f : x);
        case act::RELU_N1_TO_1: return x < -1.0f ? -1.0f : (x > 1.0f ? 1.0f : x);
        default: return x;
    }
}

}  // namespace qtl::passes
