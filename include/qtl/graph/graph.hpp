#pragma once
// qtl::graph: the float model qtl calibrates and converts.  A DAG of
// nodes over tensors, with any number of inputs and outputs.
//
// Ops are TFLite builtin operators with TFLite's option structs: the graph's
// job is to be converted to a TFLite model, so it speaks TFLite's vocabulary
// instead of inventing a parallel one.  What makes it a graph and not a file:
// constants hold their values (float or int32), every activation has exactly
// one producer, nodes are kept in topological order, and the helpers below
// answer "who produces / who consumes this tensor".
//
// The integer side is a qtl::tflite::model (convert.hpp makes one) run by
// qtl::tflite::executor.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "qtl/core/error.hpp"
#include "qtl/core/shape.hpp"
#include "qtl/io/tflite/model.hpp"
#include "qtl/io/tflite/schema.hpp"

namespace qtl {


// The size in bytes of one element of the types a graph holds.
inline std::size_t graph_element_size(tflite::tensor_type t, const std::string& where) {
    switch (t) {
        case tflite::tensor_type::FLOAT32:
        case tflite::tensor_type::INT32: return 4;
        case tflite::tensor_type::INT64: return 8;
        case tflite::tensor_type::UINT8:
        case tflite::tensor_type::INT8:
        case tflite::tensor_type::BOOL: return 1;
        case tflite::tensor_type::INT16: return 2;
        default: break;
    }
    throw error(where, detail::concat("tensor type ", tflite::describe(t), " is not supported in a float graph"));
}

struct graph_tensor {
    std::string name;
    tflite::tensor_type type = tflite::tensor_type::FLOAT32;
    qtl::shape shape;
    bool dynamic_batch = false;         // dimension 0 was -1 in the source (shape holds 1)
    bool is_constant = false;           // weights, biases, shape operands
    std::vector<std::uint8_t> data;     // a constant's elements, little-endian, row-major

    std::size_t size() const { return num_elements(shape, name); }

    // A constant's elements as T (T must match `type`).
    template <class T>
    std::vector<T> values() const {
        check(is_constant, name, "is not a constant");
        check(data.size() == size() * sizeof(T), name, "holds ", data.size(), " bytes, expected ",
              size() * sizeof(T), " for ", size(), " elements of ", sizeof(T), " bytes");
        std::vector<T> out(size());
        if (!data.empty()) std::memcpy(out.data(), data.data(), data.size());
        return out;
    }
    template <class T>
    void set_values(std::span<const T> v) {
        check(v.size() == size(), name, "expected ", size(), " values for shape ", shape_text(shape), ", got ",
              v.size());
        data.resize(v.size() * sizeof(T));
        if (!v.empty()) std::memcpy(data.data(), v.data(), data.size());
        is_constant = true;
    }
};

struct graph_node {
    tflite::builtin_operator op = tflite::builtin_operator::ADD;
    tflite::builtin_options options;      // TFLite's options for `op`
    std::vector<std::int32_t> inputs;     // tensor indices; -1: optional input absent
    std::vector<std::int32_t> outputs;    // tensor indices
    std::string name;                     // for reports; defaults to the first output's name
};

class graph {
public:
    std::vector<graph_tensor> tensors;
    std::vector<graph_node> nodes;        // topological order (validate() checks it)
    std::vector<std::int32_t> inputs;      // graph inputs (activations)
    std::vector<std::int32_t> outputs;     // graph outputs

    std::int32_t add_tensor(graph_tensor t) {
        tensors.push_back(std::move(t));
        return static_cast<std::int32_t>(tensors.size() - 1);
    }
    std::int32_t add_activation(std::string name, qtl::shape s, tflite::tensor_type type = tflite::tensor_type::FLOAT32) {
        graph_tensor t;
        t.name = std::move(name);
        t.shape = std::move(s);
        t.type = type;
        return add_tensor(std::move(t));
    }
    template <class T>
    std::int32_t add_constant(std::string name, qtl::shape s, std::span<const T> values, tflite::tensor_type type) {
        graph_tensor t;
        t.name = std::move(name);
        t.shape = std::move(s);
        t.type = type;
        t.set_values(values);
        return add_tensor(std::move(t));
    }
    std::int32_t add_constant(std::string name, qtl::shape s, std::span<const float> values) {
        return add_constant<float>(std::move(name), std::move(s), values, tflite::tensor_type::FLOAT32);
    }
    std::int32_t add_constant(std::string name, qtl::shape s, std::span<const std::int32_t> values) {
        return add_constant<std::int32_t>(std::move(name), std::move(s), values, tflite::tensor_type::INT32);
    }
    std::int32_t add_node(tflite::builtin_operator op, tflite::builtin_options options, std::vector<std::int32_t> in,
                          std::vector<std::int32_t> out, std::string name = {}) {
        graph_node n{op, std::move(options), std::move(in), std::move(out), std::move(name)};
        if (n.name.empty() && !n.outputs.empty() && n.outputs[0] >= 0 &&
            static_cast<std::size_t>(n.outputs[0]) < tensors.size())
            n.name = tensors[static_cast<std::size_t>(n.outputs[0])].name;
        nodes.push_back(std::move(n));
        return static_cast<std::int32_t>(nodes.size() - 1);
    }

    graph_tensor& tensor(std::int32_t i) { return tensors.at(checked_index(i)); }
    const graph_tensor& tensor(std::int32_t i) const { return tensors.at(checked_index(i)); }

    // The node writing tensor `t`, or -1 (graph inputs, constants).
    std::int32_t producer(std::int32_t t) const {
        for (std::size_t n = 0; n < nodes.size(); ++n)
            for (auto o : nodes[n].outputs)
                if (o == t) return static_cast<std::int32_t>(n);
        return -1;
    }
    // The nodes reading tensor `t`, in order.
    std::vector<std::int32_t> consumers(std::int32_t t) const {
        std::vector<std::int32_t> out;
        for (std::size_t n = 0; n < nodes.size(); ++n)
            if (std::find(nodes[n].inputs.begin(), nodes[n].inputs.end(), t) != nodes[n].inputs.end())
                out.push_back(static_cast<std::int32_t>(n));
        return out;
    }
    bool is_output(std::int32_t t) const { return std::find(outputs.begin(), outputs.end(), t) != outputs.end(); }
    bool is_input(std::int32_t t) const { return std::find(inputs.begin(), inputs.end(), t) != inputs.end(); }

    // Throws qtl::error unless: every index is in range; graph inputs are
    // non-constant and unproduced; every node input is a constant, a graph
    // input or the output of an earlier node; every activation has one
    // producer; every graph output is produced (or is an input).
    void validate() const {
        std::vector<char> ready(tensors.size(), 0), produced(tensors.size(), 0);
        for (std::size_t i = 0; i < tensors.size(); ++i) {
            const auto& t = tensors[i];
            const std::string where = describe_tensor(static_cast<std::int32_t>(i));
            (void)num_elements(t.shape, where);
            if (t.is_constant) {
                check(t.data.size() == t.size() * graph_element_size(t.type, where), where, "constant holds ",
                      t.data.size(), " bytes, its shape ", shape_text(t.shape), " needs ",
                      t.size() * graph_element_size(t.type, where));
                ready[i] = 1;
            }
        }
        for (auto i : inputs) {
            check(in_range(i), "graph", "input tensor index ", i, " is out of range");
            check(!tensors[static_cast<std::size_t>(i)].is_constant, describe_tensor(i),
                  "a graph input cannot be a constant");
            ready[static_cast<std::size_t>(i)] = 1;
        }
        for (std::size_t n = 0; n < nodes.size(); ++n) {
            const auto where = describe_node(static_cast<std::int32_t>(n));
            for (auto i : nodes[n].inputs) {
                if (i == -1) continue;
                check(in_range(i), where, "input tensor index ", i, " is out of range");
                check(ready[static_cast<std::size_t>(i)], where, "reads ", describe_tensor(i),
                      " before any node writes it (nodes must be in topological order)");
            }
            check(!nodes[n].outputs.empty(), where, "has no output");
            for (auto o : nodes[n].outputs) {
                check(in_range(o), where, "output tensor index ", o, " is out of range");
                const auto u = static_cast<std::size_t>(o);
                check(!tensors[u].is_constant, where, "writes the constant ", describe_tensor(o));
                check(!produced[u] && !is_input(o), where, "writes ", describe_tensor(o),
                      ", which already has a producer");
                produced[u] = ready[u] = 1;
            }
        }
        for (auto o : outputs) {
            check(in_range(o), "graph", "output tensor index ", o, " is out of range");
            check(ready[static_cast<std::size_t>(o)], describe_tensor(o), "is a graph output but nothing writes it");
        }
    }

    // Drops nodes whose outputs nobody reads (and that are not graph outputs),
    // then tensors nothing refers to; indices are renumbered.
    void remove_unused() {
        bool changed = true;
        while (changed) {
            changed = false;
            for (std::size_t n = nodes.size(); n-- > 0;) {
                bool used = false;
                for (auto o : nodes[n].outputs)
                    used = used || is_output(o) || !consumers(o).empty();
                if (!used) {
                    nodes.erase(nodes.begin() + static_cast<std::ptrdiff_t>(n));
                    changed = true;
                }
            }
        }
        std::vector<std::int32_t> remap(tensors.size(), -1);
        std::vector<char> referenced(tensors.size(), 0);
        auto mark = [&](std::int32_t i) {
            if (i >= 0) referenced[static_cast<std::size_t>(i)] = 1;
        };
        for (auto i : inputs) mark(i);
        for (auto o : outputs) mark(o);
        for (const auto& n : nodes) {
            for (auto i : n.inputs) mark(i);
            for (auto o : n.outputs) mark(o);
        }
        std::vector<graph_tensor> kept;
        for (std::size_t i = 0; i < tensors.size(); ++i)
            if (referenced[i]) {
                remap[i] = static_cast<std::int32_t>(kept.size());
                kept.push_back(std::move(tensors[i]));
            }
        tensors = std::move(kept);
        auto apply = [&](std::vector<std::int32_t>& v) {
            for (auto& i : v)
                if (i >= 0) i = remap[static_cast<std::size_t>(i)];
        };
        apply(inputs);
        apply(outputs);
        for (auto& n : nodes) {
            apply(n.inputs);
            apply(n.outputs);
        }
    }

    // Replaces every read of tensor `from` (node inputs, graph outputs) with `to`.
    void replace_uses(std::int32_t from, std::int32_t to) {
        for (auto& n : nodes)
            for (auto& i : n.inputs)
                if (i == from) i = to;
        for (auto& o : outputs)
            if (o == from) o = to;
    }

    std::string describe_tensor(std::int32_t i) const {
        if (!in_range(i)) return detail::concat("tensor ", i);
        return detail::concat("tensor ", i, " '", tensors[static_cast<std::size_t>(i)].name, "'");
    }
    std::string describe_node(std::int32_t n) const {
        if (n < 0 || static_cast<std::size_t>(n) >= nodes.size()) return detail::concat("node ", n);
        const auto& nd = nodes[static_cast<std::size_t>(n)];
        return detail::concat("node ", n, " (", tflite::describe(nd.op), nd.name.empty() ? "" : " '", nd.name,
                              nd.name.empty() ? "" : "'", ")");
    }

private:
    bool in_range(std::int32_t i) const { return i >= 0 && static_cast<std::size_t>(i) < tensors.size(); }
    std::size_t checked_index(std::int32_t i) const {
        check(in_range(i), "graph", "tensor index ", i, " is out of range (", tensors.size(), " tensors)");
        return static_cast<std::size_t>(i);
    }
};

}  // namespace qtl
