// qtl-inspect: prints what a .tflite file holds: inputs and outputs, every
// operator with its version, options and tensors, and (with --tensors) every
// tensor with its type, shape and quantization parameters.
//
// Exit codes: 0 success, 1 the file was refused (qtl::error, the reason on
// stderr), 2 bad command line.
#include <qtl/io/tflite/reader.hpp>

#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <variant>

namespace {

constexpr const char* usage = R"(usage: qtl-inspect MODEL.tflite [--tensors] [--repair-quantized-dimension]

Prints the model's inputs, outputs, operators (version, fused activation,
input and output tensors) and metadata.

options:
  --tensors                      also list every tensor (type, shape, scale, zero point, bytes)
  --repair-quantized-dimension   accept per-axis tensors whose quantized_dimension is outside
                                 their rank (see qtl-run --help)
  --help                         this text

exit codes: 0 success, 1 model refused (the reason on stderr), 2 bad usage
)";

using namespace qtl::tflite;

std::string quant_summary(const tensor& t) {
    if (!t.quantization) return "";
    const auto& q = *t.quantization;
    std::ostringstream s;
    if (q.blockwise) {
        s << "block-wise, block " << q.blockwise->block_size;
    } else if (q.scale.size() == 1) {
        s << "scale " << q.scale[0] << " zp " << (q.zero_point.empty() ? 0 : q.zero_point[0]);
    } else if (!q.scale.empty()) {
        float lo = q.scale[0], hi = q.scale[0];
        for (float v : q.scale) lo = std::min(lo, v), hi = std::max(hi, v);
        s << q.scale.size() << " scales on axis " << q.quantized_dimension << " [" << lo << ", " << hi << "]";
    }
    return s.str();
}

std::string describe_tensor(const model& m, std::int32_t i) {
    if (i < 0) return "-";
    const auto& t = m.main().tensors.at(static_cast<std::size_t>(i));
    std::string s = std::to_string(i) + ":" + describe(t.type) + qtl::to_string(t.shape);
    return s;
}

std::string activation_of(const builtin_options& o) {
    std::string out;
    std::visit(
        [&](const auto& v) {
            if constexpr (requires { v.fused_activation_function; })
                if (v.fused_activation_function != activation_function_type::NONE)
                    out = " +" + std::string(name_of(v.fused_activation_function));
        },
        o);
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    std::string path;
    bool tensors = false;
    read_options options;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            std::cout << usage;
            return 0;
        } else if (arg == "--tensors") {
            tensors = true;
        } else if (arg == "--repair-quantized-dimension") {
            options.repair_quantized_dimension = true;
        } else if (arg.rfind("--", 0) == 0 || !path.empty()) {
            std::cerr << "qtl-inspect: unexpected argument " << arg << "\n\n" << usage;
            return 2;
        } else {
            path = arg;
        }
    }
    if (path.empty()) {
        std::cerr << "qtl-inspect: no model given\n\n" << usage;
        return 2;
    }
    try {
        const model m = read_model(path, options);
        const auto& g = m.main();
        std::printf("%s: schema %u, %zu subgraph(s), %zu operators, %zu tensors, %zu buffers\n", path.c_str(),
                    m.version, m.subgraphs.size(), g.operators.size(), g.tensors.size(), m.buffers.size());
        if (!m.description.empty()) std::printf("description: %s\n", m.description.c_str());
        if (auto v = m.metadata_bytes("min_runtime_version")) {
            std::string s(v->begin(), v->end());
            std::printf("min_runtime_version: %s\n", s.c_str());
        }
        for (const auto& r : m.repairs) std::printf("repaired: %s\n", r.description.c_str());
        auto io = [&](const char* what, const std::vector<std::int32_t>& list) {
            for (std::size_t k = 0; k < list.size(); ++k) {
                const auto& t = g.tensors.at(static_cast<std::size_t>(list[k]));
                std::printf("%s %zu: '%s' %s %s\n", what, k, t.name.c_str(), describe_tensor(m, list[k]).c_str(),
                            quant_summary(t).c_str());
            }
        };
        io("input ", g.inputs);
        io("output", g.outputs);
        std::printf("\noperators:\n");
        for (std::size_t i = 0; i < g.operators.size(); ++i) {
            const auto& o = g.operators[i];
            std::string ins, outs;
            for (auto t : o.inputs) ins += (ins.empty() ? "" : ", ") + describe_tensor(m, t);
            for (auto t : o.outputs) outs += (outs.empty() ? "" : ", ") + describe_tensor(m, t);
            std::printf("%4zu  %-20s v%-2d%s  (%s) -> (%s)\n", i, describe(o.builtin_code).c_str(), o.version,
                        activation_of(o.options).c_str(), ins.c_str(), outs.c_str());
        }
        if (tensors) {
            std::printf("\ntensors:\n");
            for (std::size_t i = 0; i < g.tensors.size(); ++i) {
                const auto& t = g.tensors[i];
                std::printf("%4zu  %-8s %-18s %8zu B  %-40s %s\n", i, describe(t.type).c_str(),
                            qtl::to_string(t.shape).c_str(), m.data_of(t).size(), t.name.c_str(),
                            quant_summary(t).c_str());
            }
        }
        return 0;
    } catch (const qtl::error& e) {
        std::cerr << "qtl-inspect: " << e.what() << "\n";
        return 1;
    }
}
