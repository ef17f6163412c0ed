#pragma once
// The fake-quantized model as a float .tflite: the integer model's ops in
// float, with the weights dequantized, and every quantized activation passed
// through QUANTIZE -> DEQUANTIZE after the op that writes it (model inputs:
// before their first reader).  Any TFLite runtime runs it; it computes what
// qtl::fake_quant_executor computes (fake_quant.hpp), so "a Keras model
// quantized into another float model" can leave qtl too.
//
//   tflite::model int8_model = qtl::convert(g, calibration);
//   tflite::model fq = qtl::fake_quantized_tflite(int8_model);
//   qtl::tflite::write_model(fq, std::filesystem::path("model_fake_quant.tflite"));
//
// Each rounding keeps the integer tensor's name with "/fake_quant" (the
// integer codes) and "/fake_quantized" (their real values) appended.

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "qtl/core/error.hpp"
#include "qtl/graph/fake_quant.hpp"
#include "qtl/graph/to_tflite.hpp"
#include "qtl/io/tflite/model.hpp"
#include "qtl/io/tflite/op_versions.hpp"

namespace qtl {

inline tflite::model fake_quantized_tflite(const tflite::model& m) {
    const fake_quantized_graph fq = make_fake_quantized_graph(m);
    tflite::model out = graph_to_tflite(fq.g);
    auto& sg = out.subgraphs.at(0);
    const auto& original = m.main().tensors;

    std::map<std::string, std::int32_t> by_name;
    for (std::size_t j = 0; j < sg.tensors.size(); ++j) {
        const bool fresh = by_name.emplace(sg.tensors[j].name, static_cast<std::int32_t>(j)).second;
        check(fresh, "fake_quantized_tflite", "two tensors are named '", sg.tensors[j].name,
              "'; the roundings are matched to the model's tensors by name");
    }
    std::vector<std::int32_t> producer(sg.tensors.size(), -1);
    for (std::size_t k = 0; k < sg.operators.size(); ++k)
        for (std::int32_t y : sg.operators[k].outputs) producer[static_cast<std::size_t>(y)] = static_cast<std::int32_t>(k);

    const auto code_of = [&](tflite::builtin_operator op) {
        for (std::uint32_t c = 0; c < out.operator_codes.size(); ++c)
            if (out.operator_codes[c].builtin_code == op) return c;
        tflite::operator_code c;
        c.builtin_code = op;
        c.deprecated_builtin_code = static_cast<std::int8_t>(static_cast<int>(op));  // QUANTIZE / DEQUANTIZE < 127
        out.operator_codes.push_back(c);
        return static_cast<std::uint32_t>(out.operator_codes.size() - 1);
    };
    const auto make_op = [&](tflite::builtin_operator op, tflite::builtin_options options, std::int32_t x,
                             std::int32_t y) {
        tflite::op o;
        o.opcode_index = code_of(op);
        o.builtin_code = op;
        o.options = std::move(options);
        o.options_type = tflite::detail::options_type_of(o.options);
        o.inputs = {x};
        o.outputs = {y};
        return o;
    };

    // inserted[k + 1]: the roundings of operator k's outputs; inserted[0]: of the model inputs.
    std::vector<std::vector<tflite::op>> inserted(sg.operators.size() + 1);
    std::map<std::int32_t, std::int32_t> rounded;  // float tensor -> its fake-quantized copy
    for (std::size_t i = 0; i < original.size(); ++i) {
        const fake_quant_grid& grid = fq.grids[i];
        if (!grid.quantized) continue;
        const auto it = by_name.find(original[i].name);
        check(it != by_name.end(), "fake_quantized_tflite", "tensor '", original[i].name,
              "' is missing from the float model");
        const std::int32_t x = it->second;
        const tflite::tensor& fx = sg.tensors[static_cast<std::size_t>(x)];

        tflite::tensor codes;
        codes.name = fx.name + "/fake_quant";
        codes.type = original[i].type;
        codes.shape = fx.shape;
        codes.shape_signature = fx.shape_signature;
        tflite::quantization q;
        q.scale = {grid.scale};
        q.zero_point = {grid.zero_point};
        q.params.scales = q.scale;
        q.params.zero_points = {grid.zero_point};
        codes.quantization = std::move(q);
        tflite::tensor real = fx;
        real.name = fx.name + "/fake_quantized";
        real.buffer = 0;

        const auto codes_index = static_cast<std::int32_t>(sg.tensors.size());
        sg.tensors.push_back(std::move(codes));
        const auto real_index = static_cast<std::int32_t>(sg.tensors.size());
        sg.tensors.push_back(std::move(real));
        auto& slot = inserted[static_cast<std::size_t>(producer[static_cast<std::size_t>(x)] + 1)];
        slot.push_back(make_op(tflite::builtin_operator::QUANTIZE, tflite::quantize_options{}, x, codes_index));
        slot.push_back(make_op(tflite::builtin_operator::DEQUANTIZE, tflite::dequantize_options{}, codes_index, real_index));
        rounded[x] = real_index;
    }

    // Every reader of a rounded tensor (and the model's outputs) takes the rounded copy.
    const auto use = [&](std::int32_t t) {
        const auto r = rounded.find(t);
        return r == rounded.end() ? t : r->second;
    };
    std::vector<tflite::op> ops;
    ops.reserve(sg.operators.size() + 2 * rounded.size());
    for (auto& o : inserted[0]) ops.push_back(std::move(o));
    for (std::size_t k = 0; k < sg.operators.size(); ++k) {
        tflite::op o = std::move(sg.operators[k]);
        for (auto& x : o.inputs)
            if (x >= 0) x = use(x);
        ops.push_back(std::move(o));
        for (auto& r : inserted[k + 1]) ops.push_back(std::move(r));
    }
    sg.operators = std::move(ops);
    for (auto& y : sg.outputs) y = use(y);
    for (auto& s : out.signature_defs)
        for (auto& o : s.outputs) o.tensor_index = static_cast<std::uint32_t>(use(static_cast<std::int32_t>(o.tensor_index)));
    tflite::assign_op_versions(out);
    tflite::assign_min_runtime_version(out);
    return out;
}

}  // namespace qtl
