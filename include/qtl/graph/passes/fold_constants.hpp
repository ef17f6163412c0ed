#pragma once
// fold_constants(): evaluates nodes whose inputs are all constants and
// replaces them by the constant they compute.
//
// Why: Keras and TF exports carry shape arithmetic that only exists because
// the batch was dynamic.  Keras's Flatten is SHAPE(x) -> STRIDED_SLICE (the
// batch) -> PACK(batch, 12) -> RESHAPE(x, packed).  Once the batch is fixed
// (graph_from_tflite's options.batch) the SHAPE of an activation is known,
// so the chain folds and what is left is RESHAPE(x, constant [1, 12]) — the
// form the converter and the integer kernels expect.  The folded graph has
// that batch baked in.
//
// Folded ops: SHAPE (of anything with a known shape), STRIDED_SLICE (no
// ellipsis / new-axis masks), PACK (the axis is recovered from the output
// shape; PackOptions are not decoded), CONCATENATION, RESHAPE, EXPAND_DIMS,
// SQUEEZE, CAST (between FLOAT32, INT32, UINT8, INT8, INT16), GATHER (1-D
// params), ADD, SUB, MUL (FLOAT32 or INT32, broadcasting), DIV (FLOAT32),
// DEQUANTIZE (FLOAT32 in).  A node writing a graph output is left alone.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "qtl/core/error.hpp"
#include "qtl/graph/graph.hpp"
#include "qtl/graph/passes/rewrite.hpp"

namespace qtl {

namespace passes {

// For every element of `out` (row-major), the index of the element of `in`
// it reads under numpy/TFLite broadcasting; nullopt when `in` does not
// broadcast to `out`.
inline std::optional<std::vector<std::size_t>> broadcast_map(const shape& in, const shape& out) {
    if (in.size() > out.size()) return std::nullopt;
    const std::size_t rank = out.size(), lead = rank - in.size();
    for (std::size_t d = 0; d < in.size(); ++d)
        if (in[d] != 1 && in[d] != out[lead + d]) return std::nullopt;
    const std::size_t total = num_elements(out);
    std::vector<std::size_t> map(total);
    std::vector<std::int32_t> idx(rank, 0);
    for (std::size_t k = 0; k < total; ++k) {
        std::size_t flat = 0;
        for (std::size_t d = 0; d < in.size(); ++d)
            flat = flat * static_cast<std::size_t>(in[d]) + static_cast<std::size_t>(in[d] == 1 ? 0 : idx[lead + d]);
        map[k] = flat;
        for (std::size_t d = rank; d-- > 0;) {
            if (++idx[d] < out[d]) break;
            idx[d] = 0;
        }
    }
    return map;
}

// A constant's elements as doubles (FLOAT32 and the integer types).
inline std::optional<std::vector<double>> as_doubles(const graph_tensor& t) {
    using tt = tflite::tensor_type;
    const std::size_t n = t.size();
    std::vector<double> v(n);
    auto read = [&](auto tag) {
        using T = decltype(tag);
        const auto x = t.values<T>();
        for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<double>(x[i]);
    };
    switch (t.type) {
        case tt::FLOAT32: read(float{}); break;
        case tt::INT32: read(std::int32_t{}); break;
        case tt::UINT8: read(std::uint8_t{}); break;
        case tt::INT8: read(std::int8_t{}); break;
        case tt::INT16: read(std::int16_t{}); break;
        default: return std::nullopt;
    }
    return v;
}

// The folded value of a node: type, shape and bytes of its output.
struct folded {
    tflite::tensor_type type;
    shape dims;
    std::vector<std::uint8_t> data;
};

template <class T>
folded make_folded(tflite::tensor_type type, shape dims, const std::vector<T>& v) {
    folded f{type, std::move(dims), std::vector<std::uint8_t>(v.size() * sizeof(T))};
    if (!v.empty()) std::memcpy(f.data.data(), v.data(), f.data.size());
    return f;
}

inline std::optional<folded> fold_shape(const graph& g, const graph_node& n, const graph_tensor& out) {
    if (n.inputs.empty() || n.inputs[0] < 0) return std::nullopt;
    if (out.type != tflite::tensor_type::INT32 && out.type != tflite::tensor_type::INT64) return std::nullopt;
    const auto& s = g.tensor(n.inputs[0]).shape;
    // INT64 shape outputs become INT32: graphs hold integer constants as INT32.
    return make_folded(tflite::tensor_type::INT32, shape{static_cast<std::int32_t>(s.size())},
                       std::vector<std::int32_t>(s.begin(), s.end()));
}

// Same bytes, the output's shape (RESHAPE, EXPAND_DIMS, SQUEEZE).
inline std::optional<folded> fold_reshape(const graph& g, const graph_node& n, const graph_tensor& out) {
    const auto& in = g.tensor(n.inputs[0]);
    if (num_elements(out.shape) != in.size()) return std::nullopt;
    return folded{in.type, out.shape, in.data};
}

inline std::optional<folded> fold_cast(const graph& g, const graph_node& n, const graph_tensor& out) {
    using tt = tflite::tensor_type;
    const auto v = as_doubles(g.tensor(n.inputs[0]));
    if (!v) return std::nullopt;
    auto convert = [&](auto tag) {
        using T = decltype(tag);
        std::vector<T> r(v->size());
        // Float -> integer truncates toward zero (static_cast, as TFLite's CAST).
        for (std::size_t i = 0; i < r.size(); ++i) r[i] = static_cast<T>((*v)[i]);
        return make_folded(out.type, out.shape, r);
    };
    switch (out.type) {
        case tt::FLOAT32: return convert(float{});
        case tt::INT32: return convert(std::int32_t{});
        case tt::UINT8: return convert(std::uint8_t{});
        case tt::INT8: return convert(std::int8_t{});
        case tt::INT16: return convert(std::int16_t{});
        default: return std::nullopt;
    }
}

inline std::optional<folded> fold_strided_slice(const graph& g, const graph_node& n, const graph_tensor& out) {
    const auto* o = std::get_if<tflite::strided_slice_options>(&n.options);
    if (!o || o->ellipsis_mask != 0 || o->new_axis_mask != 0 || n.inputs.size() < 4) return std::nullopt;
    const auto& in = g.tensor(n.inputs[0]);
    const auto& tb = g.tensor(n.inputs[1]);
    const auto& te = g.tensor(n.inputs[2]);
    const auto& ts = g.tensor(n.inputs[3]);
    using tt = tflite::tensor_type;
    if (tb.type != tt::INT32 || te.type != tt::INT32 || ts.type != tt::INT32) return std::nullopt;
    const auto begin = tb.values<std::int32_t>(), end = te.values<std::int32_t>(), strides = ts.values<std::int32_t>();
    const std::size_t rank = in.shape.size();
    if (begin.size() > rank || end.size() != begin.size() || strides.size() != begin.size()) return std::nullopt;
    std::vector<std::int32_t> start(rank), step(rank), count(rank);
    shape kept;
    for (std::size_t d = 0; d < rank; ++d) {
        const std::int32_t dim = in.shape[d];
        const bool given = d < begin.size();
        const std::int32_t s = given ? strides[d] : 1;
        if (s == 0) return std::nullopt;
        const bool shrink = given && ((o->shrink_axis_mask >> d) & 1);
        std::int32_t b;
        if (!given || ((o->begin_mask >> d) & 1)) b = s > 0 ? 0 : dim - 1;
        else {
            b = begin[d] < 0 ? begin[d] + dim : begin[d];
            b = s > 0 ? std::clamp(b, 0, dim) : std::clamp(b, -1, dim - 1);
        }
        std::int32_t e;
        if (shrink) {
            if (b < 0 || b >= dim) return std::nullopt;
            e = b + 1;
        } else if (!given || ((o->end_mask >> d) & 1)) {
            e = s > 0 ? dim : -1;
        } else {
            e = o->offset ? begin[d] + end[d] : end[d];
            if (e < 0) e += dim;
            e = s > 0 ? std::clamp(e, 0, dim) : std::clamp(e, -1, dim - 1);
        }
        const std::int32_t c = s > 0 ? (e > b ? (e - b + s - 1) / s : 0) : (b > e ? (b - e - s - 1) / (-s) : 0);
        start[d] = b;
        step[d] = shrink ? 1 : s;
        count[d] = shrink ? 1 : c;
        if (!shrink) kept.push_back(c);
    }
    if (kept != out.shape) return std::nullopt;
    const std::size_t es = graph_element_size(in.type, in.name);
    std::vector<std::size_t> stride_in(rank, 1);
    for (std::size_t d = rank; d-- > 1;) stride_in[d - 1] = stride_in[d] * static_cast<std::size_t>(in.shape[d]);
    folded f{in.type, out.shape, {}};
    std::size_t total = 1;
    for (auto c : count) total *= static_cast<std::size_t>(c);
    f.data.reserve(total * es);
    std::vector<std::int32_t> idx(rank, 0);
    for (std::size_t k = 0; k < total; ++k) {
        std::size_t flat = 0;
        for (std::size_t d = 0; d < rank; ++d)
            flat += static_cast<std::size_t>(start[d] + idx[d] * step[d]) * stride_in[d];
        f.data.insert(f.data.end(), in.data.begin() + static_cast<std::ptrdiff_t>(flat * es),
                      in.data.begin() + static_cast<std::ptrdiff_t>((flat + 1) * es));
        for (std::size_t d = rank; d-- > 0;) {
            if (++idx[d] < count[d]) break;
            idx[d] = 0;
        }
    }
    return f;
}

// Concatenation of the inputs' bytes along `axis` of the output.
inline std::optional<folded> concat_along(const graph& g, const std::vector<std::int32_t>& inputs,
                                          const graph_tensor& out, std::size_t axis, bool inserted_axis) {
    const auto type = g.tensor(inputs[0]).type;
    const std::size_t es = graph_element_size(type, out.name);
    std::size_t outer = 1, inner = 1;
    for (std::size_t d = 0; d < axis; ++d) outer *= static_cast<std::size_t>(out.shape[d]);
    for (std::size_t d = axis + 1; d < out.shape.size(); ++d) inner *= static_cast<std::size_t>(out.shape[d]);
    std::size_t along = 0;
    std::vector<std::size_t> chunk;
    for (auto i : inputs) {
        const auto& t = g.tensor(i);
        if (t.type != type) return std::nullopt;
        const std::size_t a = inserted_axis ? 1 : (axis < t.shape.size() ? static_cast<std::size_t>(t.shape[axis]) : 0);
        if (t.size() != outer * a * inner) return std::nullopt;
        chunk.push_back(a * inner * es);
        along += a;
    }
    if (along != static_cast<std::size_t>(out.shape[axis])) return std::nullopt;
    folded f{type, out.shape, {}};
    f.data.reserve(num_elements(out.shape) * es);
    for (std::size_t o = 0; o < outer; ++o)
        for (std::size_t k = 0; k < inputs.size(); ++k) {
            const auto& d = g.tensor(inputs[k]).data;
            const auto from = d.begin() + static_cast<std::ptrdiff_t>(o * chunk[k]);
            f.data.insert(f.data.end(), from, from + static_cast<std::ptrdiff_t>(chunk[k]));
        }
    return f;
}

inline std::optional<folded> fold_concatenation(const graph& g, const graph_node& n, const graph_tensor& out) {
    const auto* o = std::get_if<tflite::concatenation_options>(&n.options);
    if (!o || o->fused_activation_function != tflite::activation_function_type::NONE || out.shape.empty())
        return std::nullopt;
    int axis = o->axis < 0 ? o->axis + static_cast<int>(out.shape.size()) : o->axis;
    if (axis < 0 || axis >= static_cast<int>(out.shape.size())) return std::nullopt;
    for (auto i : n.inputs)
        if (g.tensor(i).shape.size() != out.shape.size()) return std::nullopt;
    return concat_along(g, n.inputs, out, static_cast<std::size_t>(axis), false);
}

// PackOptions are not decoded: the axis is the one position where inserting
// the input count into the inputs' shape gives the output shape.
inline std::optional<folded> fold_pack(const graph& g, const graph_node& n, const graph_tensor& out) {
    const auto& s = g.tensor(n.inputs[0]).shape;
    for (auto i : n.inputs)
        if (g.tensor(i).shape != s) return std::nullopt;
    std::optional<std::size_t> axis;
    for (std::size_t k = 0; k <= s.size(); ++k) {
        shape candidate = s;
        candidate.insert(candidate.begin() + static_cast<std::ptrdiff_t>(k), static_cast<std::int32_t>(n.inputs.size()));
        if (candidate != out.shape) continue;
        if (axis) return std::nullopt;  // ambiguous
        axis = k;
    }
    if (!axis) return std::nullopt;
    return concat_along(g, n.inputs, out, *axis, true);
}

inline std::optional<folded> fold_gather(const graph& g, const graph_node& n, const graph_tensor& out) {
    const auto& params = g.tensor(n.inputs[0]);
    const auto& indices = g.tensor(n.inputs[1]);
    // GatherOptions (axis) are not decoded: only 1-D params, where the axis can only be 0.
    if (params.shape.size() != 1 || indices.type != tflite::tensor_type::INT32 || out.shape != indices.shape)
        return std::nullopt;
    const std::size_t es = graph_element_size(params.type, params.name);
    folded f{params.type, out.shape, {}};
    for (auto i : indices.values<std::int32_t>()) {
        if (i < 0 || i >= params.shape[0]) return std::nullopt;
        const auto from = params.data.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(i) * es);
        f.data.insert(f.data.end(), from, from + static_cast<std::ptrdiff_t>(es));
    }
    return f;
}

inline std::optional<folded> fold_binary(const graph& g, const graph_node& n, const graph_tensor& out) {
    using b = tflite::builtin_operator;
    using tt = tflite::tensor_type;
    if (n.inputs.size() != 2) return std::nullopt;
    const auto& x = g.tensor(n.inputs[0]);
    const auto& y = g.tensor(n.inputs[1]);
    if (x.type != y.type || x.type != out.type || (x.type != tt::FLOAT32 && x.type != tt::INT32)) return std::nullopt;
    const auto act = passes::fused_activation_of(n);
    if (x.type == tt::INT32 && (act != tflite::activation_function_type::NONE || n.op == b::DIV)) return std::nullopt;
    const auto mx = broadcast_map(x.shape, out.shape), my = broadcast_map(y.shape, out.shape);
    if (!mx || !my) return std::nullopt;
    auto compute = [&](auto tag) {
        using T = decltype(tag);
        const auto xv = x.values<T>(), yv = y.values<T>();
        std::vector<T> r(mx->size());
        for (std::size_t k = 0; k < r.size(); ++k) {
            const T a = xv[(*mx)[k]], c = yv[(*my)[k]];
            T v{};
            switch (n.op) {
                case b::ADD: v = a + c; break;
                case b::SUB: v = a - c; break;
                case b::MUL: v = a * c; break;
                default: v = a / c; break;  // DIV, float only
            }
            if constexpr (std::is_same_v<T, float>) v = passes::apply_activation(act, v);
            r[k] = v;
        }
        return make_folded(out.type, out.shape, r);
    };
    return x.type == tt::FLOAT32 ? compute(float{}) : compute(std::int32_t{});
}

inline std::optional<folded> evaluate_node(const graph& g, const graph_node& n) {
    using b = tflite::builtin_operator;
    if (n.outputs.size() != 1 || n.inputs.empty()) return std::nullopt;
    const auto& out = g.tensor(n.outputs[0]);
    if (n.op == b::SHAPE) return fold_shape(g, n, out);
    for (auto i : n.inputs)
        if (i >= 0 && !is_constant(g, i)) return std::nullopt;
    if (n.inputs[0] < 0) return std::nullopt;
    switch (n.op) {
        case b::RESHAPE:
        case b::EXPAND_DIMS:
        case b::SQUEEZE: return fold_reshape(g, n, out);
        case b::CAST: return fold_cast(g, n, out);
        case b::STRIDED_SLICE: return fold_strided_slice(g, n, out);
        case b::CONCATENATION: return fold_concatenation(g, n, out);
        case b::PACK: return fold_pack(g, n, out);
        case b::GATHER:
            if (n.inputs.size() != 2) return std::nullopt;
            return fold_gather(g, n, out);
        case b::ADD:
        case b::SUB:
        case b::MUL:
        case b::DIV: return fold_binary(g, n, out);
        case b::DEQUANTIZE:
            if (g.tensor(n.inputs[0]).type != tflite::tensor_type::FLOAT32) return std::nullopt;
            return fold_reshape(g, n, out);
        default: return std::nullopt;
    }
}

// "[2] {1, 12}" for small integer constants, the shape otherwise.
inline std::string describe_value(const graph_tensor& t) {
    std::string s = to_string(t.shape);
    if (t.type == tflite::tensor_type::INT32 && t.size() <= 8) {
        s += " {";
        const auto v = t.values<std::int32_t>();
        for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
        s += "}";
    }
    return s;
}

}  // namespace passes

// Returns whether anything was folded; `log` (optional) gets one line per fold.
inline bool fold_constants(graph& g, std::vector<std::string>* log = nullptr) {
    bool changed = false;
    for (std::size_t i = 0; i < g.nodes.size();) {
        const auto& n = g.nodes[i];
        std::optional<passes::folded> f;
        if (n.outputs.size() == 1 && !g.is_output(n.outputs[0])) f = passes::evaluate_node(g, n);
        if (!f) {
            ++i;
            continue;
        }
        const auto label = passes::node_label(n);
        auto& t = g.tensor(n.outputs[0]);
        t.type = f->type;
        t.shape = std::move(f->dims);
        t.data = std::move(f->data);
        t.is_constant = true;
        t.dynamic_batch = false;
        passes::note(log, detail::concat("fold_constants: ", label, " -> constant ", tflite::describe(t.type), " ",
                                         passes::describe_value(t)));
        g.nodes.erase(g.nodes.begin() + static_cast<std::ptrdiff_t>(i));
        changed = true;
    }
    if (changed) g.remove_unused();
    return changed;
}

}  // namespace qtl
