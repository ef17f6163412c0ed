// qtl-run: runs a .tflite model with qtl's integer executor on .npy inputs
// and writes each output as DIR/output_<k>.npy.
//
// Exit codes: 0 success, 1 the model or an input was refused (qtl::error,
// message on stderr), 2 bad command line.
#include <qtl/io/npy.hpp>
#include <qtl/io/tflite/executor.hpp>
#include <qtl/io/tflite/reader.hpp>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>
#include <utility>
#include <string>
#include <vector>

namespace {

constexpr const char* usage = R"(usage: qtl-run MODEL.tflite --in X.npy [--in Y.npy ...] --out DIR [options]

Runs MODEL with qtl's integer executor: one --in per model input, in the
order of the model's inputs, with the input's exact dtype and shape; writes
DIR/output_<k>.npy for each output k.

options:
  --set-tensor K=X.npy           overwrite activation tensor K with X.npy before running
  --operators A:B                run only operators A..B-1 (default: all)
  --dump-tensor K                also write tensor K (after running) as DIR/tensor_K.npy
  --reference                    run the scalar reference ops instead of the SIMD ones
  --repair-quantized-dimension   accept per-axis tensors whose quantized_dimension is
                                 outside their rank (person_detect.tflite) by setting it
                                 to 0; every change is printed
  --help                         this text

exit codes: 0 success, 1 model or input refused (the reason on stderr), 2 bad usage
)";

std::optional<qtl::npy::dtype> npy_dtype_of(qtl::tflite::tensor_type t) {
    using qtl::tflite::tensor_type;
    switch (t) {
        case tensor_type::FLOAT32: return qtl::npy::dtype::float32;
        case tensor_type::INT32: return qtl::npy::dtype::int32;
        case tensor_type::INT64: return qtl::npy::dtype::int64;
        case tensor_type::INT16: return qtl::npy::dtype::int16;
        case tensor_type::INT8: return qtl::npy::dtype::int8;
        case tensor_type::UINT8: return qtl::npy::dtype::uint8;
        case tensor_type::BOOL: return qtl::npy::dtype::boolean;
        default: return std::nullopt;
    }
}

int bad_usage(const std::string& why) {
    std::cerr << "qtl-run: " << why << "\n\n" << usage;
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    std::string model_path, out_dir;
    std::vector<std::string> inputs;
    std::vector<std::pair<std::int32_t, std::string>> set_tensors;
    std::vector<std::int32_t> dump_tensors;
    std::optional<std::pair<std::size_t, std::size_t>> operators;
    bool reference = false, repair = false;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            std::cout << usage;
            return 0;
        } else if (arg == "--in" || arg == "--out") {
            if (i + 1 >= argc) return bad_usage(arg + " needs a value");
            (arg == "--in" ? inputs.emplace_back() : out_dir) = argv[++i];
        } else if (arg == "--set-tensor" || arg == "--operators" || arg == "--dump-tensor") {
            if (i + 1 >= argc) return bad_usage(arg + " needs a value");
            const std::string v = argv[++i];
            try {
                if (arg == "--set-tensor") {
                    const auto eq = v.find('=');
                    if (eq == std::string::npos) return bad_usage("--set-tensor takes K=FILE.npy, got " + v);
                    set_tensors.emplace_back(std::stoi(v.substr(0, eq)), v.substr(eq + 1));
                } else if (arg == "--dump-tensor") {
                    dump_tensors.push_back(std::stoi(v));
                } else {
                    const auto colon = v.find(':');
                    if (colon == std::string::npos) return bad_usage("--operators takes A:B, got " + v);
                    operators = {std::stoul(v.substr(0, colon)), std::stoul(v.substr(colon + 1))};
                }
            } catch (const std::exception&) {
                return bad_usage("bad value for " + arg + ": " + v);
            }
        } else if (arg == "--reference") {
            reference = true;
        } else if (arg == "--repair-quantized-dimension") {
            repair = true;
        } else if (!arg.empty() && arg[0] == '-') {
            return bad_usage("unknown option " + arg);
        } else if (model_path.empty()) {
            model_path = arg;
        } else {
            return bad_usage("more than one model given: " + model_path + " and " + arg);
        }
    }
    if (model_path.empty()) return bad_usage("no model given");
    if (out_dir.empty()) return bad_usage("no --out DIR given");

    try {
        qtl::tflite::read_options options;
        options.repair_quantized_dimension = repair;
        auto model = qtl::tflite::read_model(std::filesystem::path(model_path), options);
        for (const auto& r : model.repairs) std::cerr << "qtl-run: repaired " << r.description << '\n';
        // Dumped and operator-range runs read intermediates: keep each tensor in bytes of its own.
        qtl::tflite::executor_options run_options;
        run_options.path = reference ? qtl::tflite::kernel_path::reference : qtl::tflite::kernel_path::simd;
        run_options.preserve_all_tensors = operators.has_value() || !dump_tensors.empty();
        qtl::tflite::executor run(std::move(model), run_options);
        if (inputs.size() != run.input_count() && !(operators && inputs.empty()))
            return bad_usage("the model has " + std::to_string(run.input_count()) + " inputs, got " +
                             std::to_string(inputs.size()) + " --in files");
        for (std::size_t k = 0; k < inputs.size(); ++k) {
            const auto array = qtl::npy::read_file(inputs[k]);
            const auto& t = run.input_tensor(k);
            const auto want = npy_dtype_of(t.type);
            qtl::check(want && *want == array.type, inputs[k], "input ", k, " '", t.name, "' is ",
                       qtl::tflite::describe(t.type), ", the file holds ", qtl::npy::dtype_name(array.type));
            qtl::check(array.shape == t.shape || qtl::num_elements(array.shape) == qtl::num_elements(t.shape), inputs[k],
                       "input ", k, " '", t.name, "' has shape ", qtl::to_string(t.shape), ", the file holds ",
                       qtl::to_string(array.shape));
            run.set_input_bytes(k, std::as_bytes(std::span<const std::uint8_t>(array.bytes)));
        }
        for (const auto& [index, file] : set_tensors) {
            const auto array = qtl::npy::read_file(file);
            run.set_tensor_bytes(index, std::as_bytes(std::span<const std::uint8_t>(array.bytes)));
        }
        if (operators) {
            if (operators->first > operators->second || operators->second > run.operator_count())
                return bad_usage("--operators range outside [0, " + std::to_string(run.operator_count()) + "]");
            for (std::size_t op = operators->first; op < operators->second; ++op) run.invoke_operator(op);
        } else {
            run.invoke();
        }
        std::filesystem::create_directories(out_dir);
        const auto write_tensor = [&](const qtl::tflite::tensor& t, std::span<const std::byte> bytes, const std::string& name) {
            const auto type = npy_dtype_of(t.type);
            qtl::check(type.has_value(), name, "type ", qtl::tflite::describe(t.type), " cannot be written as .npy");
            qtl::npy::array a{*type, t.shape, {}};
            a.bytes.resize(bytes.size());
            if (!bytes.empty()) std::memcpy(a.bytes.data(), bytes.data(), bytes.size());
            qtl::npy::write_file((std::filesystem::path(out_dir) / (name + ".npy")).string(), a);
        };
        for (auto index : dump_tensors)
            write_tensor(run.imported_model().main().tensors.at(static_cast<std::size_t>(index)), run.tensor_bytes(index),
                         "tensor_" + std::to_string(index));
        if (operators) return 0;
        for (std::size_t k = 0; k < run.output_count(); ++k)
            write_tensor(run.output_tensor(k), run.output_bytes(k), "output_" + std::to_string(k));
    } catch (const qtl::error& e) {
        std::cerr << "qtl-run: " << e.what() << '\n';
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "qtl-run: " << e.what() << '\n';
        return 1;
    }
    return 0;
}
