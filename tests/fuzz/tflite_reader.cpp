// libFuzzer target: the .tflite reader, and the float-model import that
// builds a qtl::graph from what it read, must turn any input into either a
// model or a qtl::error, never a crash, a sanitizer report or another
// exception.  Seeds: the real models of ../shared/models (scripts/fuzz.sh).
#include <cstddef>
#include <cstdint>
#include <span>
#include <variant>

#include "qtl/graph/from_tflite.hpp"
#include "qtl/io/tflite/reader.hpp"

namespace {

// Touches everything the model holds, so that a value the reader should have
// refused shows up here (sanitizers watch the accesses).
std::size_t walk(const qtl::tflite::model& m) {
    std::size_t sum = m.operator_codes.size() + m.metadata.size() + m.repairs.size();
    for (const auto& g : m.subgraphs) {
        for (const auto& t : g.tensors) {
            sum += qtl::num_elements(t.shape) + m.data_of(t).size() + t.name.size();
            if (t.quantization) sum += t.quantization->params.scales.size() + t.quantization->params.zero_points.size();
        }
        for (const auto& o : g.operators) {
            sum += qtl::tflite::describe(o.builtin_code).size() + o.options.index();
            for (const auto i : o.inputs)
                if (i >= 0) sum += g.tensors.at(static_cast<std::size_t>(i)).shape.size();
            for (const auto i : o.outputs) sum += g.tensors.at(static_cast<std::size_t>(i)).shape.size();
        }
    }
    for (const auto& s : m.signature_defs)
        for (const auto& t : s.inputs) sum += m.subgraphs.at(s.subgraph_index).tensors.at(t.tensor_index).shape.size();
    return sum;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::uint8_t> bytes(data, size);
    for (const bool repair : {false, true}) {
        try {
            const auto m = qtl::tflite::read_model(bytes, {.repair_quantized_dimension = repair});
            volatile std::size_t sink = walk(m);
            (void)sink;
            const auto g = qtl::graph_from_tflite(m);
            sink = g.tensors.size() + g.nodes.size();
        } catch (const qtl::error&) {
        }
    }
    return 0;
}
