#pragma once
// The fake-quantized graph of an integer model: the same ops in float, with
// weights and biases replaced by their dequantized integer values and every
// activation rounded to its quantization grid (quantize, then dequantize)
// after the op that writes it.  What users mean by "quantize a float model
// into another float model": it shows the effect of quantization while
// running on float kernels, and it is what the per-layer debugger compares
// the integer model against, op by op.
//
//   qtl::fake_quant_executor fq(int8_model);
//   fq.set_input(0, x);          // real values; quantized onto the input's grid
//   fq.invoke();
//   auto y = fq.output(0);       // real values on the output's grid
//
// Each op of the model becomes one node; QUANTIZE (a requantization) and
// DEQUANTIZE become identities (a RESHAPE to the same shape) followed by the
// output's rounding, which is exactly what they do to real values.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "qtl/core/error.hpp"
#include "qtl/core/int4_packing.hpp"
#include "qtl/graph/float_executor.hpp"
#include "qtl/graph/graph.hpp"
#include "qtl/io/tflite/model.hpp"
#include "qtl/quant/choose_params.hpp"

namespace qtl {

// The grid of one quantized activation.
struct fake_quant_grid {
    bool quantized = false;  // false: a float tensor (left alone)
    float scale = 1.0f;
    std::int32_t zero_point = 0;
    std::int32_t qmin = 0, qmax = 0;

    std::int32_t code(float x) const {
        const float q = std::round(x / scale) + static_cast<float>(zero_point);
        return static_cast<std::int32_t>(std::clamp(q, static_cast<float>(qmin), static_cast<float>(qmax)));
    }
    float snap(float x) const { return quantized ? static_cast<float>(code(x) - zero_point) * scale : x; }
};

namespace detail {

inline std::pair<std::int32_t, std::int32_t> code_limits(tflite::tensor_type t) {
    switch (t) {
        case tflite::tensor_type::INT8: return {-128, 127};
        case tflite::tensor_type::UINT8: return {0, 255};
        case tflite::tensor_type::INT16: return {-32768, 32767};
        case tflite::tensor_type::INT4: return {-8, 7};
        case tflite::tensor_type::INT32: return {INT32_MIN, INT32_MAX};
        default: return {0, 0};
    }
}

// A constant of the model as real values (dequantized when quantized).
inline std::vector<float> dequantized_constant(const tflite::model& m, const tflite::tensor& t, const std::string& where) {
    const auto bytes = m.data_of(t);
    const std::size_t n = num_elements(t.shape, where);
    std::vector<double> raw(n);
    auto read = [&]<class V>() {
        check(bytes.size() == n * sizeof(V), where, "holds ", bytes.size(), " bytes for ", n, " elements");
        for (std::size_t i = 0; i < n; ++i) {
            V v;
            std::memcpy(&v, bytes.data() + i * sizeof(V), sizeof(V));
            raw[i] = static_cast<double>(v);
        }
    };
    switch (t.type) {
        case tflite::tensor_type::FLOAT32: read.template operator()<float>(); break;
        case tflite::tensor_type::INT8: read.template operator()<std::int8_t>(); break;
        case tflite::tensor_type::UINT8: read.template operator()<std::uint8_t>(); break;
        case tflite::tensor_type::INT16: read.template operator()<std::int16_t>(); break;
        case tflite::tensor_type::INT32: read.template operator()<std::int32_t>(); break;
        case tflite::tensor_type::INT64: read.template operator()<std::int64_t>(); break;
        case tflite::tensor_type::INT4: {
            const auto v = unpack_int4(bytes, n);
            for (std::size_t i = 0; i < n; ++i) raw[i] = v[i];
            break;
        }
        default: throw error(where, "constant of type " + tflite::describe(t.type) + " has no float meaning");
    }
    std::vector<float> out(n);
    if (!t.quantization || t.type == tflite::tensor_type::FLOAT32) {
        for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<float>(raw[i]);
        return out;
    }
    const auto& p = t.quantization->params;
    check(!p.is_per_block(), where, "block-wise constants are not fake-quantized yet");
    const auto split = split_axis(t.shape, p.is_per_tensor() ? 0 : p.axis, 0, where);
    for (std::size_t i = 0; i < n; ++i) {
        const std::size_t c = p.is_per_tensor() ? 0 : split.scale_index(i);
        out[i] = static_cast<float>((raw[i] - p.zero_points.at(c)) * static_cast<double>(p.scales.at(c)));
    }
    return out;
}

}  // namespace detail

// The float graph of a quantized model and each tensor's grid.
struct fake_quantized_graph {
    graph g;
    std::vector<fake_quant_grid> grids;  // per graph tensor (same indices as the model's tensors)
};

inline fake_quantized_graph make_fake_quantized_graph(const tflite::model& m) {
    const auto& sg = m.main();
    fake_quantized_graph out;
    out.grids.resize(sg.tensors.size());
    for (std::size_t i = 0; i < sg.tensors.size(); ++i) {
        const auto& t = sg.tensors[i];
        const std::string where = "model tensor " + std::to_string(i) + " '" + t.name + "'";
        graph_tensor gt;
        gt.name = t.name;
        gt.shape = t.shape;
        const bool constant = !m.data_of(t).empty();
        if (constant && t.type == tflite::tensor_type::INT32 && !t.quantization) {
            gt.type = tflite::tensor_type::INT32;  // a shape / axis operand
            gt.is_constant = true;
            gt.data.assign(m.data_of(t).begin(), m.data_of(t).end());
        } else if (constant) {
            const auto v = detail::dequantized_constant(m, t, where);
            gt.set_values(std::span<const float>(v));
        }
        if (!constant && t.quantization && t.type != tflite::tensor_type::FLOAT32) {
            auto& grid = out.grids[i];
            grid.quantized = true;
            grid.scale = t.quantization->scale.at(0);
            grid.zero_point = static_cast<std::int32_t>(t.quantization->zero_point.at(0));
            std::tie(grid.qmin, grid.qmax) = detail::code_limits(t.type);
        }
        out.g.add_tensor(std::move(gt));
    }
    out.g.inputs = sg.inputs;
    out.g.outputs = sg.outputs;
    for (std::size_t k = 0; k < sg.operators.size(); ++k) {
        const auto& o = sg.operators[k];
        if (o.builtin_code == tflite::builtin_operator::QUANTIZE || o.builtin_code == tflite::builtin_operator::DEQUANTIZE) {
            const auto& shape = sg.tensors.at(static_cast<std::size_t>(o.outputs.at(0))).shape;
            const auto s = out.g.add_constant("fake_quant/identity_shape_" + std::to_string(k),
                                              {static_cast<std::int32_t>(shape.size())},
                                              std::span<const std::int32_t>(shape));
            out.g.add_node(tflite::builtin_operator::RESHAPE, tflite::reshape_options{}, {o.inputs.at(0), s}, o.outputs);
        } else {
            out.g.add_node(o.builtin_code, o.options, o.inputs, o.outputs);
        }
    }
    out.g.validate();
    return out;
}

class fake_quant_executor {
public:
    explicit fake_quant_executor(const tflite::model& m)
        : fq_(make_fake_quantized_graph(m)), exec_(fq_.g) {}

    const graph& fake_graph() const { return fq_.g; }
    const fake_quant_grid& grid(std::int32_t t) const { return fq_.grids.at(static_cast<std::size_t>(t)); }

    // Real input values, rounded onto the input's grid.
    void set_input(std::size_t i, std::span<const float> x) {
        const auto t = fq_.g.inputs.at(i);
        std::vector<float> v(x.begin(), x.end());
        snap(t, v);
        exec_.set_input(i, v);
    }
    // Overwrites any activation (the per-layer comparison feeds an op the
    // integer model's inputs this way).
    void set_values(std::int32_t t, std::span<const float> x) { exec_.set_values(t, x); }

    void invoke() {
        for (std::size_t n = 0; n < fq_.g.nodes.size(); ++n) invoke_node(n);
    }
    // Runs node n in float, then rounds its output onto the output's grid.
    void invoke_node(std::size_t n) {
        exec_.invoke_node(n);
        for (auto o : fq_.g.nodes.at(n).outputs) {
            if (!fq_.grids[static_cast<std::size_t>(o)].quantized) continue;
            auto v = exec_.values(o);
            std::vector<float> snapped(v.begin(), v.end());
            snap(o, snapped);
            exec_.set_values(o, snapped);
        }
    }
    std::span<const float> values(std::int32_t t) const { return exec_.values(t); }
    std::span<const float> output(std::size_t i) const { return exec_.output(i); }

private:
    fake_quantized_graph fq_;
    float_executor exec_;

    void snap(std::int32_t t, std::vector<float>& v) const {
        const auto& g = fq_.grids[static_cast<std::size_t>(t)];
        if (!g.quantized) return;
        for (auto& x : v) x = g.snap(x);
    }
};

}  // namespace qtl
