#pragma once
// convert(): a calibrated float graph in, a fully-integer TFLite model out
// (what TensorFlow's converter does with a representative dataset).
//
//   qtl::calibration cal = qtl::calibrate(g, samples);
//   qtl::conversion_options opt;                    // int8, per-channel weights, int8 I/O
//   qtl::tflite::model q = qtl::convert(g, cal, opt);
//   qtl::tflite::write_model(q, "model_int8.tflite");
//
// The rules (DESIGN.md section 3, TFLite's quantization spec):
// - activations: int8 asymmetric from the calibrated range (widened to 0), or
//   int16 symmetric (16x8 mode); per layer through options.layers;
// - weights: symmetric narrow range, per channel (axis 0 for CONV_2D and
//   FULLY_CONNECTED, axis 3 for DEPTHWISE_CONV_2D) or per tensor, int8 or
//   int4; the tflite-micro profile forces per-tensor FULLY_CONNECTED weights;
// - bias: int32 (int64 in 16x8) at input_scale * weight_scale[c]; a weight
//   scale is raised when the bias would not fit (overflow guard);
// - fixed output parameters for SOFTMAX, LOGISTIC and TANH;
// - same scale on both sides of pooling, reshape, pad, concatenation,
//   transpose and strided slice: the tensors share one range; where two fixed
//   parameter sets meet, a requantizing QUANTIZE is inserted;
// - model inputs/outputs of the requested type, with QUANTIZE / DEQUANTIZE
//   at the edges for float or uint8 I/O;
// - op versions from the type signatures (io/tflite/op_versions.hpp) and the
//   min_runtime_version metadata they imply.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "qtl/core/error.hpp"
#include "qtl/core/int4_packing.hpp"
#include "qtl/graph/calibration.hpp"
#include "qtl/graph/graph.hpp"
#include "qtl/graph/layer_scheme.hpp"
#include "qtl/io/tflite/model.hpp"
#include "qtl/io/tflite/op_versions.hpp"
#include "qtl/io/tflite/writer.hpp"
#include "qtl/quant/choose_params.hpp"
#include "qtl/quant/scheme.hpp"

namespace qtl {

enum class io_type { native, int8, uint8, int16, float32 };
enum class target_profile { tflite, tflite_micro };

struct conversion_options {
    layer_scheme scheme;                          // every layer, unless overridden below
    std::map<std::string, layer_scheme> layers;   // node name -> its scheme (selective quantization)
    io_type input_type = io_type::native;         // native: the first layer's activation type
    io_type output_type = io_type::native;
    target_profile target = target_profile::tflite;
};

// What convert() decided that a user may want to know (printed by qtl-quantize).
struct conversion_report {
    std::vector<std::string> notes;
    // graph activation tensor -> the model tensor holding its quantized
    // values (the per-layer debugger compares the two)
    std::map<std::int32_t, std::int32_t> tensor_map;
};

namespace detail {

inline bool is_same_scale_op(tflite::builtin_operator op) {
    using B = tflite::builtin_operator;
    switch (op) {
        case B::AVERAGE_POOL_2D:
        case B::MAX_POOL_2D:
        case B::RESHAPE:
        case B::PAD:
        case B::PADV2:
        case B::CONCATENATION:
        case B::TRANSPOSE:
        case B::STRIDED_SLICE:
        case B::SQUEEZE:
        case B::EXPAND_DIMS: return true;
        default: return false;
    }
}

// The ops convert() quantizes: what qtl's integer executor runs (SQUEEZE and
// EXPAND_DIMS become RESHAPE; a CAST from a uint8 graph input becomes QUANTIZE).
inline constexpr tflite::builtin_operator quantizable_ops[] = {
    tflite::builtin_operator::FULLY_CONNECTED, tflite::builtin_operator::CONV_2D,
    tflite::builtin_operator::DEPTHWISE_CONV_2D, tflite::builtin_operator::AVERAGE_POOL_2D,
    tflite::builtin_operator::MAX_POOL_2D,     tflite::builtin_operator::ADD,
    tflite::builtin_operator::SUB,             tflite::builtin_operator::MUL,
    tflite::builtin_operator::CONCATENATION,   tflite::builtin_operator::RESHAPE,
    tflite::builtin_operator::SOFTMAX,         tflite::builtin_operator::LOGISTIC,
    tflite::builtin_operator::TANH,            tflite::builtin_operator::RELU,
    tflite::builtin_operator::RELU6,           tflite::builtin_operator::LEAKY_RELU,
    tflite::builtin_operator::HARD_SWISH,      tflite::builtin_operator::PAD,
    tflite::builtin_operator::PADV2,           tflite::builtin_operator::MEAN,
    tflite::builtin_operator::TRANSPOSE,       tflite::builtin_operator::STRIDED_SLICE,
    tflite::builtin_operator::SQUEEZE,         tflite::builtin_operator::EXPAND_DIMS,
    tflite::builtin_operator::CAST,
};

inline bool is_quantizable_op(tflite::builtin_operator op) {
    return std::find(std::begin(quantizable_ops), std::end(quantizable_ops), op) != std::end(quantizable_ops);
}

inline std::string quantizable_op_list() {
    std::string s;
    for (auto code : quantizable_ops) s += (s.empty() ? "" : ", ") + std::string(tflite::name_of(code));
    return s;
}

// The weight input of a node, or -1.
inline int weight_input(tflite::builtin_operator op) {
    using B = tflite::builtin_operator;
    return (op == B::FULLY_CONNECTED || op == B::CONV_2D || op == B::DEPTHWISE_CONV_2D) ? 1 : -1;
}

struct activation_params {
    tflite::tensor_type type = tflite::tensor_type::INT8;
    float scale = 1.0f;
    std::int32_t zero_point = 0;
    friend bool operator==(const activation_params&, const activation_params&) = default;
};

inline std::optional<activation_params> fixed_output_params(tflite::builtin_operator op, tflite::tensor_type type) {
    using B = tflite::builtin_operator;
    if (type == tflite::tensor_type::FLOAT32) return std::nullopt;
    const bool i16 = type == tflite::tensor_type::INT16;
    switch (op) {
        case B::SOFTMAX:
        case B::LOGISTIC:
            return i16 ? activation_params{type, 1.0f / 32768, 0} : activation_params{type, 1.0f / 256, -128};
        case B::TANH: return i16 ? activation_params{type, 1.0f / 32768, 0} : activation_params{type, 1.0f / 128, 0};
        default: return std::nullopt;
    }
}

inline activation_params params_from_range(const value_range& r, tflite::tensor_type type, const std::string& where) {
    if (type == tflite::tensor_type::INT16) {
        const auto p = choose_scale_and_zero_point<int16_activation>(r, where);
        return {type, p.scale, p.zero_point};
    }
    const auto p = choose_scale_and_zero_point<int8_activation>(r, where);
    return {type, p.scale, p.zero_point};
}

// Union-find over tensor indices: the groups that must share parameters.
struct tensor_groups {
    std::vector<std::int32_t> parent;
    explicit tensor_groups(std::size_t n) : parent(n) { std::iota(parent.begin(), parent.end(), 0); }
    std::int32_t find(std::int32_t x) {
        while (parent[static_cast<std::size_t>(x)] != x) x = parent[static_cast<std::size_t>(x)] = parent[static_cast<std::size_t>(parent[static_cast<std::size_t>(x)])];
        return x;
    }
    void unite(std::int32_t a, std::int32_t b) { parent[static_cast<std::size_t>(find(a))] = find(b); }
};

template <class T>
std::vector<std::uint8_t> to_bytes(const std::vector<T>& v) {
    std::vector<std::uint8_t> b(v.size() * sizeof(T));
    if (!v.empty()) std::memcpy(b.data(), v.data(), b.size());
    return b;
}

inline tflite::quantization make_quantization(std::vector<float> scales, std::vector<std::int64_t> zero_points,
                                              int axis) {
    tflite::quantization q;
    q.scale = std::move(scales);
    q.zero_point = std::move(zero_points);
    q.quantized_dimension = axis < 0 ? 0 : axis;
    q.params.scales = q.scale;
    for (auto z : q.zero_point) q.params.zero_points.push_back(static_cast<std::int32_t>(z));
    q.params.axis = q.scale.size() > 1 ? axis : -1;
    return q;
}

class converter {
public:
    converter(const graph& g, const calibration& cal, const conversion_options& o, conversion_report* report)
        : g_(g), cal_(cal), o_(o), report_(report), groups_(g.tensors.size()) {}

    tflite::model run() {
        g_.validate();
        check_layer_scheme(o_.scheme, "conversion_options.scheme");
        for (const auto& [name, s] : o_.layers) {
            check_layer_scheme(s, "conversion_options.layers['" + name + "']");
            check(std::any_of(g_.nodes.begin(), g_.nodes.end(), [&](const graph_node& n) { return n.name == name; }),
                  "conversion_options.layers", "no node is named '", name, "'");
        }
        check_ops();
        choose_types();
        choose_params();
        emit();
        return std::move(m_);
    }

private:
    const graph& g_;
    const calibration& cal_;
    const conversion_options& o_;
    conversion_report* report_;
    tensor_groups groups_;
    std::vector<tflite::tensor_type> type_;           // per graph tensor, activations only
    std::map<std::int32_t, activation_params> params_;  // per graph activation tensor
    std::set<std::pair<std::size_t, std::size_t>> requantized_inputs_;  // (node, input slot) reading via a QUANTIZE
    tflite::model m_;
    std::vector<std::int32_t> out_index_;             // graph tensor -> model tensor (activations)

    void note(std::string s) {
        if (report_) report_->notes.push_back(std::move(s));
    }

    layer_scheme scheme_of(const graph_node& n) const {
        auto it = o_.layers.find(n.name);
        layer_scheme s = it == o_.layers.end() ? o_.scheme : it->second;
        if (o_.target == target_profile::tflite_micro) {
            check(s.weights.bits == 8, "conversion_options", "the tflite-micro profile has no int4 weights (",
                  n.name, ")");
            if (n.op == tflite::builtin_operator::FULLY_CONNECTED) s.weights.granularity = weight_granularity::per_tensor;
        }
        // TFLite has no int16 HARD_SWISH: a 16x8 model keeps it at int8
        if (s.activations == activation_precision::int16 && n.op == tflite::builtin_operator::HARD_SWISH)
            s.activations = activation_precision::int8;
        return s;
    }

    void check_ops() {
        for (std::size_t i = 0; i < g_.nodes.size(); ++i) {
            const auto& n = g_.nodes[i];
            const auto where = g_.describe_node(static_cast<std::int32_t>(i));
            if (n.op == tflite::builtin_operator::HARD_SWISH && scheme_of(n).activations == activation_precision::int8) {
                auto it = o_.layers.find(n.name);
                const auto asked = it == o_.layers.end() ? o_.scheme : it->second;
                if (asked.activations == activation_precision::int16)
                    note(where + ": kept at int8 activations (TFLite has no int16 HARD_SWISH kernel)");
            }
            if (!is_quantizable_op(n.op))
                throw error(where, "qtl cannot quantize " + tflite::describe(n.op) +
                                       ". Ways out: replace it in the float model with ops qtl quantizes (" +
                                       quantizable_op_list() + "), or leave this model to a float runtime");
            if (n.op == tflite::builtin_operator::CAST) {
                check(n.inputs.size() == 1 && g_.is_input(n.inputs[0]) &&
                          g_.tensor(n.inputs[0]).type == tflite::tensor_type::UINT8,
                      where, "only a CAST of a uint8 graph input to float is quantizable (it becomes QUANTIZE)");
            }
            for (std::size_t k = 0; k < n.inputs.size(); ++k) {
                const auto t = n.inputs[k];
                if (t < 0) continue;
                const auto& tt = g_.tensor(t);
                if (!tt.is_constant && tt.type != tflite::tensor_type::FLOAT32 && n.op != tflite::builtin_operator::CAST)
                    throw error(where, "input " + std::to_string(k) + " (" + g_.describe_tensor(t) + ") is " +
                                           tflite::describe(tt.type) + "; a float graph's activations must be FLOAT32");
            }
        }
    }

    // Activation types: a node's outputs take its scheme's precision; a graph
    // input takes the precision of its first consumer.
    void choose_types() {
        type_.assign(g_.tensors.size(), tflite::tensor_type::FLOAT32);
        auto act_type = [&](const graph_node& n) {
            switch (scheme_of(n).activations) {
                case activation_precision::int16: return tflite::tensor_type::INT16;
                case activation_precision::float32: return tflite::tensor_type::FLOAT32;
                default: return tflite::tensor_type::INT8;
            }
        };
        for (const auto& n : g_.nodes)
            for (auto o : n.outputs) type_[static_cast<std::size_t>(o)] = act_type(n);
        for (auto in : g_.inputs) {
            const auto users = g_.consumers(in);
            type_[static_cast<std::size_t>(in)] =
                users.empty() ? tflite::tensor_type::INT8 : act_type(g_.nodes[static_cast<std::size_t>(users[0])]);
            if (g_.tensor(in).type == tflite::tensor_type::UINT8) type_[static_cast<std::size_t>(in)] = tflite::tensor_type::UINT8;
        }
    }

    value_range calibrated(std::int32_t t) {
        check(cal_.has(t), g_.describe_tensor(t),
              "has no calibrated range (calibrate() this same graph before converting it)");
        return cal_.range(t);
    }

    void choose_params() {
        // 1. same-scale groups, with fixed outputs pinning a group.
        std::map<std::int32_t, activation_params> fixed;  // group root -> pinned params
        for (std::size_t i = 0; i < g_.nodes.size(); ++i) {
            const auto& n = g_.nodes[i];
            for (auto o : n.outputs)
                if (auto f = fixed_output_params(n.op, type_[static_cast<std::size_t>(o)])) fixed[o] = *f;
        }
        for (std::size_t i = 0; i < g_.nodes.size(); ++i) {
            const auto& n = g_.nodes[i];
            if (!is_same_scale_op(n.op)) continue;
            const auto out = n.outputs[0];
            const std::size_t data_inputs = n.op == tflite::builtin_operator::CONCATENATION ? n.inputs.size() : 1;
            // A CONCATENATION of inputs pinned to different parameters (LOGISTIC
            // and TANH outputs): pinning the output to one of them would clip
            // the others, so the output takes its own calibrated range and every
            // pinned input is requantized to it.
            bool pinned_inputs_conflict = false;
            {
                std::optional<activation_params> first;
                for (std::size_t k = 0; k < data_inputs; ++k) {
                    const auto in = n.inputs[k];
                    if (in < 0 || g_.tensor(in).is_constant) continue;
                    if (auto f = fixed.find(groups_.find(in)); f != fixed.end()) {
                        if (first && !(*first == f->second)) pinned_inputs_conflict = true;
                        if (!first) first = f->second;
                    }
                }
            }
            for (std::size_t k = 0; k < data_inputs; ++k) {
                const auto in = n.inputs[k];
                if (in < 0 || g_.tensor(in).is_constant) continue;
                const auto a = groups_.find(in), b = groups_.find(out);
                if (a == b) continue;
                const bool type_differs = type_[static_cast<std::size_t>(in)] != type_[static_cast<std::size_t>(out)];
                const auto fa = fixed.find(a), fb = fixed.find(b);
                if (type_differs || (pinned_inputs_conflict && fa != fixed.end()) ||
                    (fa != fixed.end() && fb != fixed.end() && !(fa->second == fb->second))) {
                    requantized_inputs_.insert({i, k});
                    note(detail::concat(g_.describe_node(static_cast<std::int32_t>(i)), ": input ", k,
                                        " is requantized (its parameters are pinned differently)"));
                    continue;
                }
                std::optional<activation_params> pin;
                if (fa != fixed.end()) pin = fa->second;
                if (fb != fixed.end()) pin = fb->second;
                fixed.erase(a);
                fixed.erase(b);
                groups_.unite(a, b);
                if (pin) fixed[groups_.find(b)] = *pin;
            }
        }
        // 2. per group: pinned params, or the union of the members' ranges.
        std::map<std::int32_t, value_range> group_range;
        std::vector<std::int32_t> activations;
        for (auto in : g_.inputs) activations.push_back(in);
        for (const auto& n : g_.nodes)
            for (auto o : n.outputs) activations.push_back(o);
        for (auto t : activations) {
            const auto type = type_[static_cast<std::size_t>(t)];
            if (type == tflite::tensor_type::UINT8 || type == tflite::tensor_type::FLOAT32) continue;  // not quantized
            group_range[groups_.find(t)].include(calibrated(t));
        }
        for (auto t : activations) {
            const auto type = type_[static_cast<std::size_t>(t)];
            if (type == tflite::tensor_type::UINT8 || type == tflite::tensor_type::FLOAT32) {
                params_[t] = {type, 1.0f, 0};  // a raw uint8 image input, or a layer kept in float
                continue;
            }
            const auto root = groups_.find(t);
            if (auto f = fixed.find(root); f != fixed.end())
                params_[t] = f->second;
            else
                params_[t] = params_from_range(group_range[root], type, g_.describe_tensor(t));
        }
    }

    // ---- emitting the model ------------------------------------------------------

    std::int32_t add_tensor(tflite::tensor t, std::vector<std::uint8_t> data = {}) {
        auto& sg = m_.subgraphs[0];
        if (!data.empty()) {
            m_.buffers.push_back(tflite::buffer{std::move(data)});
            t.buffer = static_cast<std::uint32_t>(m_.buffers.size() - 1);
        }
        sg.tensors.push_back(std::move(t));
        return static_cast<std::int32_t>(sg.tensors.size() - 1);
    }

    std::int32_t add_activation(const std::string& name, const qtl::shape& s, const activation_params& p) {
        tflite::tensor t;
        t.name = name;
        t.type = p.type;
        t.shape = s;
        if (p.type != tflite::tensor_type::FLOAT32) t.quantization = make_quantization({p.scale}, {p.zero_point}, -1);
        return add_tensor(std::move(t));
    }

    std::int32_t add_op(tflite::builtin_operator code, tflite::builtin_options options, std::vector<std::int32_t> in,
                        std::vector<std::int32_t> out) {
        auto& codes = m_.operator_codes;
        std::uint32_t index = 0;
        for (; index < codes.size(); ++index)
            if (codes[index].builtin_code == code) break;
        if (index == codes.size()) {
            tflite::operator_code c;
            c.builtin_code = code;
            c.deprecated_builtin_code = static_cast<std::int8_t>(std::min<int>(static_cast<int>(code), 127));
            c.version = 1;
            codes.push_back(c);
        }
        tflite::op o;
        o.opcode_index = index;
        o.builtin_code = code;
        o.options = std::move(options);
        o.inputs = std::move(in);
        o.outputs = std::move(out);
        o.options_type = tflite::detail::options_type_of(o.options);
        m_.subgraphs[0].operators.push_back(std::move(o));
        return static_cast<std::int32_t>(m_.subgraphs[0].operators.size() - 1);
    }

    // Quantized weights of node n: (model tensor, per-channel scales).
    std::pair<std::int32_t, std::vector<float>> emit_weights(const graph_node& n, const std::string& where,
                                                             float input_scale, const std::vector<float>* bias) {
        const auto w_index = n.inputs[1];
        const auto& w = g_.tensor(w_index);
        check(w.is_constant && w.type == tflite::tensor_type::FLOAT32, where, "the weights (", g_.describe_tensor(w_index),
              ") must be a float constant");
        const auto values = w.values<float>();
        for (std::size_t i = 0; i < values.size(); ++i)
            check(std::isfinite(values[i]), where, "weight element ", i, " is ", values[i]);
        const auto s = scheme_of(n);
        const bool depthwise = n.op == tflite::builtin_operator::DEPTHWISE_CONV_2D;
        const int axis = depthwise ? static_cast<int>(w.shape.size()) - 1 : 0;
        const auto split = split_axis(w.shape, axis, 0, where);
        const bool per_channel = s.weights.granularity != weight_granularity::per_tensor;
        check(s.weights.granularity != weight_granularity::per_block, where,
              "block-wise weights are not emitted by qtl's converter yet; use per-channel int4");
        const float qmax = s.weights.bits == 4 ? 7.0f : 127.0f;
        const std::size_t channels = per_channel ? split.length : 1;
        std::vector<float> max_abs(channels, 0.0f);
        for (std::size_t i = 0; i < values.size(); ++i) {
            const std::size_t c = per_channel ? split.scale_index(i) : 0;
            max_abs[c] = std::max(max_abs[c], std::abs(values[i]));
        }
        std::vector<float> scales(channels);
        for (std::size_t c = 0; c < channels; ++c) scales[c] = max_abs[c] > 0 ? max_abs[c] / qmax : 1.0f;
        // Overflow guard: the bias is quantized at input_scale * weight_scale;
        // keep |q_bias| <= 2^30 by raising the weight scale of a channel whose
        // weights are tiny next to its bias (TFLite's converter does the same).
        if (bias && s.activations == activation_precision::int8) {
            constexpr double limit = 1073741824.0;  // 2^30
            for (std::size_t oc = 0; oc < bias->size(); ++oc) {
                const std::size_t c = per_channel ? oc : 0;
                const double needed = std::abs(static_cast<double>((*bias)[oc])) / (input_scale * limit);
                if (needed > scales[c]) {
                    note(detail::concat(where, ": channel ", oc, " weight scale raised from ", scales[c], " to ",
                                        static_cast<float>(needed), " so the int32 bias fits"));
                    scales[c] = static_cast<float>(needed);
                }
            }
        }
        std::vector<std::int8_t> q(values.size());
        for (std::size_t i = 0; i < values.size(); ++i) {
            const float sc = scales[per_channel ? split.scale_index(i) : 0];
            q[i] = static_cast<std::int8_t>(std::clamp(std::round(values[i] / sc), -qmax, qmax));
        }
        tflite::tensor t;
        t.name = w.name;
        t.shape = w.shape;
        t.type = s.weights.bits == 4 ? tflite::tensor_type::INT4 : tflite::tensor_type::INT8;
        t.quantization = make_quantization(scales, std::vector<std::int64_t>(scales.size(), 0), per_channel ? axis : -1);
        auto bytes = s.weights.bits == 4 ? pack_int4(q) : to_bytes(q);
        return {add_tensor(std::move(t), std::move(bytes)), scales};
    }

    std::int32_t emit_bias(const graph_node& n, const std::string& where, float input_scale,
                           const std::vector<float>& weight_scales, const std::vector<float>& bias, bool wide) {
        const auto& b = g_.tensor(n.inputs[2]);
        std::vector<float> scales(bias.size());
        for (std::size_t c = 0; c < bias.size(); ++c)
            scales[c] = input_scale * weight_scales[weight_scales.size() == 1 ? 0 : c];
        tflite::tensor t;
        t.name = b.name;
        t.shape = b.shape;
        t.type = wide ? tflite::tensor_type::INT64 : tflite::tensor_type::INT32;
        std::vector<std::uint8_t> bytes;
        if (wide) {
            std::vector<std::int64_t> q(bias.size());
            for (std::size_t c = 0; c < bias.size(); ++c) q[c] = static_cast<std::int64_t>(std::llround(bias[c] / static_cast<double>(scales[c])));
            bytes = to_bytes(q);
        } else {
            std::vector<std::int32_t> q(bias.size());
            for (std::size_t c = 0; c < bias.size(); ++c) {
                const double v = std::round(bias[c] / static_cast<double>(scales[c]));
                check(std::abs(v) <= 2147483647.0, where, "bias ", c, " does not fit in int32 after quantization");
                q[c] = static_cast<std::int32_t>(v);
            }
            bytes = to_bytes(q);
        }
        const bool per_channel = weight_scales.size() > 1;
        if (!per_channel) scales.resize(1);
        t.quantization = make_quantization(scales, std::vector<std::int64_t>(scales.size(), 0), 0);
        return add_tensor(std::move(t), std::move(bytes));
    }

    // A constant as the graph holds it (layers kept in float).
    std::int32_t copy_constant(std::int32_t index) {
        const auto& c = g_.tensor(index);
        tflite::tensor t;
        t.name = c.name;
        t.type = c.type;
        t.shape = c.shape;
        return add_tensor(std::move(t), c.data);
    }

    // A float constant operand of an elementwise op: quantized like an
    // activation from its own range (TFLite does the same).
    std::int32_t emit_constant_operand(std::int32_t index, tflite::tensor_type type, const std::string& where) {
        const auto& c = g_.tensor(index);
        if (c.type == tflite::tensor_type::INT32) return copy_constant(index);
        check(c.type == tflite::tensor_type::FLOAT32, where, g_.describe_tensor(index), " has type ",
              tflite::describe(c.type), "; constants must be FLOAT32 or INT32");
        value_range r;
        for (float x : c.values<float>()) {
            check(std::isfinite(x), where, g_.describe_tensor(index), " holds ", x);
            r.include(x);
        }
        if (r.empty()) r.include(0.0f);
        return quantize_like(index, params_from_range(r, type, where));
    }

    std::int32_t shape_constant(const std::string& name, const qtl::shape& s) {
        tflite::tensor t;
        t.name = name;
        t.type = tflite::tensor_type::INT32;
        t.shape = {static_cast<std::int32_t>(s.size())};
        return add_tensor(std::move(t), to_bytes(std::vector<std::int32_t>(s.begin(), s.end())));
    }

    static tflite::tensor_type io_tensor_type(io_type io, tflite::tensor_type native) {
        switch (io) {
            case io_type::native: return native;
            case io_type::int8: return tflite::tensor_type::INT8;
            case io_type::uint8: return tflite::tensor_type::UINT8;
            case io_type::int16: return tflite::tensor_type::INT16;
            case io_type::float32: return tflite::tensor_type::FLOAT32;
        }
        return native;
    }

    // Parameters of a model I/O tensor of type `io` carrying what `p` carries.
    static activation_params io_params(tflite::tensor_type io, const activation_params& p, const std::string& where) {
        if (io == p.type) return p;
        if (io == tflite::tensor_type::FLOAT32) return {io, 1.0f, 0};
        if (p.type == tflite::tensor_type::FLOAT32)
            throw error(where, "is kept in float; its model input/output can be float32 (or native) only");
        if (io == tflite::tensor_type::UINT8 && p.type == tflite::tensor_type::INT8) return {io, p.scale, p.zero_point + 128};
        if (io == tflite::tensor_type::INT8 && p.type == tflite::tensor_type::UINT8) return {io, p.scale, p.zero_point - 128};
        throw error(where, "a " + tflite::describe(io) + " model input/output cannot carry a " + tflite::describe(p.type) +
                               " tensor (TFLite has no such QUANTIZE); ask for float32 I/O or the native type");
    }

    void emit() {
        m_.description = "qtl fully-integer model";
        m_.buffers.emplace_back();
        m_.subgraphs.emplace_back();
        auto& sg = m_.subgraphs[0];
        sg.name = "main";
        out_index_.assign(g_.tensors.size(), -1);

        // model inputs
        for (auto in : g_.inputs) {
            const auto& t = g_.tensor(in);
            const auto& p = params_[in];
            const auto where = g_.describe_tensor(in);
            const auto io = t.type == tflite::tensor_type::UINT8 ? tflite::tensor_type::UINT8
                                                                  : io_tensor_type(o_.input_type, p.type);
            const auto ip = io_params(io, p, where);
            const auto model_in = add_activation(t.name, t.shape, ip);
            sg.inputs.push_back(model_in);
            if (io == p.type) {
                out_index_[static_cast<std::size_t>(in)] = model_in;
            } else {
                const auto q = add_activation(t.name + "/quantized", t.shape, p);
                add_op(tflite::builtin_operator::QUANTIZE, tflite::quantize_options{}, {model_in}, {q});
                out_index_[static_cast<std::size_t>(in)] = q;
            }
        }

        for (std::size_t i = 0; i < g_.nodes.size(); ++i) emit_node(i);

        // model outputs
        for (auto out : g_.outputs) {
            const auto internal = out_index_[static_cast<std::size_t>(out)];
            const auto& p = params_[out];
            const auto io = io_tensor_type(o_.output_type, p.type);
            if (io == p.type) {
                sg.outputs.push_back(internal);
                continue;
            }
            const auto where = g_.describe_tensor(out);
            const auto op = io_params(io, p, where);
            const auto& name = g_.tensor(out).name;
            sg.tensors[static_cast<std::size_t>(internal)].name = name + "/quantized";
            const auto model_out = add_activation(name, g_.tensor(out).shape, op);
            if (io == tflite::tensor_type::FLOAT32)
                add_op(tflite::builtin_operator::DEQUANTIZE, tflite::dequantize_options{}, {internal}, {model_out});
            else
                add_op(tflite::builtin_operator::QUANTIZE, tflite::quantize_options{}, {internal}, {model_out});
            sg.outputs.push_back(model_out);
        }
        tflite::add_serving_default_signature(m_);
        tflite::assign_op_versions(m_);
        tflite::assign_min_runtime_version(m_);
        if (report_)
            for (std::size_t t = 0; t < out_index_.size(); ++t)
                if (out_index_[t] >= 0) report_->tensor_map[static_cast<std::int32_t>(t)] = out_index_[t];
    }

    std::int32_t activation_of(std::int32_t t, const std::string& where) {
        const auto i = out_index_[static_cast<std::size_t>(t)];
        check(i >= 0, where, g_.describe_tensor(t), " was not emitted before its use");
        return i;
    }

    void emit_node(std::size_t i) {
        using B = tflite::builtin_operator;
        const auto& n = g_.nodes[i];
        const auto where = g_.describe_node(static_cast<std::int32_t>(i));
        const auto out = n.outputs.at(0);
        check(n.outputs.size() == 1, where, "has ", n.outputs.size(), " outputs; qtl quantizes single-output ops");
        const auto& out_t = g_.tensor(out);
        const auto out_p = params_[out];
        const bool wide = out_p.type == tflite::tensor_type::INT16;

        std::vector<std::int32_t> inputs;
        auto data_input = [&](std::size_t k) -> std::int32_t {
            const auto t = n.inputs[k];
            if (t < 0) return -1;
            if (g_.tensor(t).is_constant) return emit_constant_operand(t, out_p.type, where);
            auto model_t = activation_of(t, where);
            const auto from = params_[t].type;
            if (out_p.type == tflite::tensor_type::FLOAT32 && from != out_p.type) {
                // a layer kept in float reads a quantized tensor
                const auto f = add_activation(g_.tensor(t).name + "/dequantized", g_.tensor(t).shape,
                                              {tflite::tensor_type::FLOAT32, 1.0f, 0});
                add_op(B::DEQUANTIZE, tflite::dequantize_options{}, {model_t}, {f});
                return f;
            }
            if (from == tflite::tensor_type::FLOAT32 && out_p.type != from) {
                // a quantized layer reads the output of a float one
                const auto q = add_activation(g_.tensor(t).name + "/quantized", g_.tensor(t).shape,
                                              is_same_scale_op(n.op) ? out_p
                                                                     : params_from_range(calibrated(t), out_p.type, where));
                add_op(B::QUANTIZE, tflite::quantize_options{}, {model_t}, {q});
                return q;
            }
            if (requantized_inputs_.count({i, k})) {
                const auto q = add_activation(g_.tensor(t).name + "/requantized", g_.tensor(t).shape, out_p);
                if (params_[t].type == out_p.type) {
                    add_op(B::QUANTIZE, tflite::quantize_options{}, {model_t}, {q});
                } else {  // int8 <-> int16: through float (TFLite has no int8 -> int16 QUANTIZE)
                    const auto f = add_activation(g_.tensor(t).name + "/dequantized", g_.tensor(t).shape,
                                                  {tflite::tensor_type::FLOAT32, 1.0f, 0});
                    add_op(B::DEQUANTIZE, tflite::dequantize_options{}, {model_t}, {f});
                    add_op(B::QUANTIZE, tflite::quantize_options{}, {f}, {q});
                }
                model_t = q;
            } else if (params_[t].type != out_p.type && !is_same_scale_op(n.op)) {
                // a layer of another precision reads this tensor
                const auto f = add_activation(g_.tensor(t).name + "/dequantized", g_.tensor(t).shape,
                                              {tflite::tensor_type::FLOAT32, 1.0f, 0});
                const auto q = add_activation(g_.tensor(t).name + "/as_" + std::string(tflite::name_of(out_p.type)),
                                              g_.tensor(t).shape, params_from_range(calibrated(t), out_p.type, where));
                add_op(B::DEQUANTIZE, tflite::dequantize_options{}, {model_t}, {f});
                add_op(B::QUANTIZE, tflite::quantize_options{}, {f}, {q});
                model_t = q;
            }
            return model_t;
        };

        const auto y = add_activation(out_t.name, out_t.shape, out_p);
        out_index_[static_cast<std::size_t>(out)] = y;
        tflite::builtin_options options = n.options;
        B code = n.op;

        if (out_p.type == tflite::tensor_type::FLOAT32) {
            // a layer kept in float: the op as it is, float weights and operands
            for (std::size_t k = 0; k < n.inputs.size(); ++k) {
                const auto t = n.inputs[k];
                if (t >= 0 && g_.tensor(t).is_constant) inputs.push_back(copy_constant(t));
                else if (t >= 0 && n.op == B::CAST) inputs.push_back(activation_of(t, where));
                else inputs.push_back(data_input(k));
            }
        } else if (weight_input(n.op) >= 0) {
            const auto x = data_input(0);
            const float in_scale = m_.subgraphs[0].tensors[static_cast<std::size_t>(x)].quantization->scale[0];
            std::optional<std::vector<float>> bias;
            if (n.inputs.size() > 2 && n.inputs[2] >= 0) {
                const auto& b = g_.tensor(n.inputs[2]);
                check(b.is_constant && b.type == tflite::tensor_type::FLOAT32, where, "the bias must be a float constant");
                bias = b.values<float>();
                for (std::size_t c = 0; c < bias->size(); ++c)
                    check(std::isfinite((*bias)[c]), where, "bias element ", c, " is ", (*bias)[c]);
            }
            auto [w, scales] = emit_weights(n, where, in_scale, bias ? &*bias : nullptr);
            inputs = {x, w};
            if (bias) inputs.push_back(emit_bias(n, where, in_scale, scales, *bias, wide));
            else if (n.op != B::FULLY_CONNECTED) inputs.push_back(-1);
        } else if (n.op == B::CAST) {
            code = B::QUANTIZE;
            options = tflite::quantize_options{};
            inputs = {activation_of(n.inputs[0], where)};
        } else if (n.op == B::SQUEEZE || n.op == B::EXPAND_DIMS) {
            code = B::RESHAPE;
            options = tflite::reshape_options{};
            inputs = {data_input(0), shape_constant(out_t.name + "/shape", out_t.shape)};
        } else {
            const std::size_t data_inputs = n.op == B::CONCATENATION ? n.inputs.size()
                                            : (n.op == B::ADD || n.op == B::SUB || n.op == B::MUL) ? 2
                                                                                                    : 1;
            for (std::size_t k = 0; k < n.inputs.size(); ++k) {
                if (k < data_inputs) {
                    inputs.push_back(data_input(k));
                } else {
                    const auto t = n.inputs[k];
                    if (t < 0) {
                        inputs.push_back(-1);
                        continue;
                    }
                    const auto& c = g_.tensor(t);
                    check(c.is_constant, where, "operand ", k, " (", g_.describe_tensor(t), ") must be a constant");
                    if (c.type == tflite::tensor_type::FLOAT32)  // PADV2's pad value: same params as the output
                        inputs.push_back(quantize_like(t, out_p));
                    else
                        inputs.push_back(emit_constant_operand(t, out_p.type, where));
                }
            }
            if (wide) {
                if (auto* a = std::get_if<tflite::add_options>(&options)) a->pot_scale_int16 = false;
                if (auto* s = std::get_if<tflite::sub_options>(&options)) s->pot_scale_int16 = false;
            }
        }
        add_op(code, std::move(options), std::move(inputs), {y});
    }

    std::int32_t quantize_like(std::int32_t index, const activation_params& p) {
        const auto& c = g_.tensor(index);
        const auto v = c.values<float>();
        tflite::tensor t;
        t.name = c.name;
        t.type = p.type;
        t.shape = c.shape;
        t.quantization = make_quantization({p.scale}, {p.zero_point}, -1);
        const float lo = p.type == tflite::tensor_type::INT16 ? -32768.0f : -128.0f;
        const float hi = p.type == tflite::tensor_type::INT16 ? 32767.0f : 127.0f;
        std::vector<std::uint8_t> bytes;
        if (p.type == tflite::tensor_type::INT16) {
            std::vector<std::int16_t> q(v.size());
            for (std::size_t i = 0; i < v.size(); ++i)
                q[i] = static_cast<std::int16_t>(std::clamp(std::round(v[i] / p.scale) + static_cast<float>(p.zero_point), lo, hi));
            bytes = to_bytes(q);
        } else {
            std::vector<std::int8_t> q(v.size());
            for (std::size_t i = 0; i < v.size(); ++i)
                q[i] = static_cast<std::int8_t>(std::clamp(std::round(v[i] / p.scale) + static_cast<float>(p.zero_point), lo, hi));
            bytes = to_bytes(q);
        }
        return add_tensor(std::move(t), std::move(bytes));
    }
};

}  // namespace detail

inline tflite::model convert(const graph& g, const calibration& cal, const conversion_options& options = {},
                             conversion_report* report = nullptr) {
    return detail::converter(g, cal, options, report).run();
}

}  // namespace qtl
