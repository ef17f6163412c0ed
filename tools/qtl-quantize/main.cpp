// qtl-quantize: float .tflite + representative samples (.npy) -> a
// fully-integer .tflite, with a per-layer error summary.
//
// Exit codes: 0 success, 1 the model, the samples or the request were refused
// (qtl::error, the reason on stderr), 2 bad command line.
#include <qtl/graph/calibrate.hpp>
#include <qtl/graph/convert.hpp>
#include <qtl/graph/convert_dynamic_range.hpp>
#include <qtl/graph/from_tflite.hpp>
#include <qtl/graph/layer_debugger.hpp>
#include <qtl/graph/simplify.hpp>
#include <qtl/io/npy.hpp>
#include <qtl/io/tflite/writer.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace {

constexpr const char* usage = R"(usage: qtl-quantize FLOAT.tflite --calib SAMPLES.npy -o OUT.tflite [options]
       qtl-quantize FLOAT.tflite --dynamic-range -o OUT.tflite [--granularity G] [--weights int4 --granularity block:N]

Quantizes a float TFLite model into a fully-integer one, calibrating
activation ranges on representative samples (TensorFlow's
representative_dataset). SAMPLES.npy holds N samples of the model input,
shape [N, ...] (any layout with a multiple of the input's element count);
give one --calib per model input, in input order.

options:
  --activations int8|int16     activation type (int16: TFLite's 16x8 mode)   [int8]
  --weights int8|int4          weight type                                   [int8]
  --granularity per-channel|per-tensor|block:N                               [per-channel]
                               block:N (with --dynamic-range --weights int4): FULLY_CONNECTED
                               weights int4 with one scale per N inputs (TFLite's block-wise
                               hybrid kernel; N even, dividing each layer's input size;
                               multiples of 32 run in XNNPACK)
  --calibrator NAME            minmax | percentile[:P] (P = upper percentile, default 99.99)
                               | entropy | mse | moving-average              [minmax]
  --input-type T, --output-type T
                               native | int8 | uint8 | int16 | float32
                               (native: the activation type)                 [native]
  --target tflite|tflite-micro tflite-micro: per-tensor FULLY_CONNECTED weights, no int4
  --int16-layers A,B,...       keep these layers (node names) at int16 activations
  --float-layers A,B,...       keep these layers in float (DEQUANTIZE/QUANTIZE around them)
  --dynamic-range              no calibration: int8 weights, float activations, TFLite's
                               hybrid FULLY_CONNECTED/CONV_2D/DEPTHWISE_CONV_2D kernels
                               (int4 only block-wise, FULLY_CONNECTED only: CONV_2D and
                               DEPTHWISE_CONV_2D keep int8 per-channel weights)
  --batch N                    size given to a dynamic (-1) batch dimension  [1]
  --samples N                  use only the first N calibration samples
  --threads N                  calibration threads (0: all cores)            [0]
  --report DIR                 write DIR/layers.csv and DIR/layers.html (per-layer errors)
  --debug-samples N            samples the per-layer summary runs on         [100]
  --no-progress                no progress bar
  --help                       this text

Prints the model sizes, the time taken and the per-layer worst SQNR.
exit codes: 0 success, 1 model/samples/request refused (the reason on stderr), 2 bad usage
)";

int bad_usage(const std::string& why) {
    std::cerr << "qtl-quantize: " << why << "\n\n" << usage;
    return 2;
}

std::vector<std::string> split_list(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream in(s);
    std::string item;
    while (std::getline(in, item, ','))
        if (!item.empty()) out.push_back(item);
    return out;
}

std::optional<qtl::io_type> parse_io(const std::string& v) {
    if (v == "native") return qtl::io_type::native;
    if (v == "int8") return qtl::io_type::int8;
    if (v == "uint8") return qtl::io_type::uint8;
    if (v == "int16") return qtl::io_type::int16;
    if (v == "float32" || v == "float") return qtl::io_type::float32;
    return std::nullopt;
}

// Splits an .npy of samples into one flat float vector per sample.
std::vector<std::vector<float>> read_samples(const std::string& path, std::size_t per_sample, std::size_t limit) {
    const auto a = qtl::npy::read_file(path);
    const auto values = a.as<float>(path);
    qtl::check(per_sample > 0 && !values.empty() && values.size() % per_sample == 0, path, "holds ", values.size(),
               " values (shape ", qtl::to_string(a.shape), "), not a non-zero multiple of the model input's ",
               per_sample, " elements");
    std::vector<std::vector<float>> out;
    for (std::size_t i = 0; i + per_sample <= values.size() && out.size() < limit; i += per_sample)
        out.emplace_back(values.begin() + static_cast<std::ptrdiff_t>(i),
                         values.begin() + static_cast<std::ptrdiff_t>(i + per_sample));
    return out;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
    std::string model_path, out_path, report_dir, calibrator = "minmax";
    std::vector<std::string> calib_paths, int16_layers, float_layers;
    bool dynamic_range = false;
    qtl::conversion_options conv;
    qtl::calibration_options cal_opt;
    qtl::graph_import_options import;
    std::size_t sample_limit = static_cast<std::size_t>(-1), debug_samples = 100;

    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> std::optional<std::string> {
            if (i + 1 >= argc) return std::nullopt;
            return std::string(argv[++i]);
        };
        if (arg == "--help" || arg == "-h") {
            std::cout << usage;
            return 0;
        }
        if (arg == "--no-progress") {
            cal_opt.progress = qtl::progress_bar::never;
            continue;
        }
        if (arg == "--dynamic-range") {
            dynamic_range = true;
            continue;
        }
        if (arg.rfind("--", 0) == 0 || arg == "-o") {
            auto v = value();
            if (!v) return bad_usage(arg + " needs a value");
            try {
                if (arg == "--calib") calib_paths.push_back(*v);
                else if (arg == "-o" || arg == "--out") out_path = *v;
                else if (arg == "--report") report_dir = *v;
                else if (arg == "--calibrator") calibrator = *v;
                else if (arg == "--int16-layers") int16_layers = split_list(*v);
                else if (arg == "--float-layers") float_layers = split_list(*v);
                else if (arg == "--batch") import.batch = std::stoi(*v);
                else if (arg == "--samples") sample_limit = std::stoul(*v);
                else if (arg == "--threads") cal_opt.threads = static_cast<unsigned>(std::stoul(*v));
                else if (arg == "--debug-samples") debug_samples = std::stoul(*v);
                else if (arg == "--activations") {
                    if (*v == "int8") conv.scheme.activations = qtl::activation_precision::int8;
                    else if (*v == "int16") conv.scheme.activations = qtl::activation_precision::int16;
                    else return bad_usage("--activations takes int8 or int16, got " + *v);
                } else if (arg == "--weights") {
                    if (*v == "int8") conv.scheme.weights.bits = 8;
                    else if (*v == "int4") conv.scheme.weights.bits = 4;
                    else return bad_usage("--weights takes int8 or int4, got " + *v);
                } else if (arg == "--granularity") {
                    if (*v == "per-channel") conv.scheme.weights.granularity = qtl::weight_granularity::per_channel;
                    else if (*v == "per-tensor") conv.scheme.weights.granularity = qtl::weight_granularity::per_tensor;
                    else if (v->rfind("block:", 0) == 0) {
                        const std::string n = v->substr(6);
                        if (n.empty() || n.find_first_not_of("0123456789") != std::string::npos || std::stoi(n) <= 0)
                            return bad_usage("--granularity block:N needs a block size N > 0, got " + *v);
                        conv.scheme.weights.granularity = qtl::weight_granularity::per_block;
                        conv.scheme.weights.block_size = std::stoi(n);
                    } else return bad_usage("--granularity takes per-channel, per-tensor or block:N, got " + *v);
                } else if (arg == "--input-type" || arg == "--output-type") {
                    auto t = parse_io(*v);
                    if (!t) return bad_usage(arg + " takes native, int8, uint8, int16 or float32, got " + *v);
                    (arg == "--input-type" ? conv.input_type : conv.output_type) = *t;
                } else if (arg == "--target") {
                    if (*v == "tflite") conv.target = qtl::target_profile::tflite;
                    else if (*v == "tflite-micro") conv.target = qtl::target_profile::tflite_micro;
                    else return bad_usage("--target takes tflite or tflite-micro, got " + *v);
                } else {
                    return bad_usage("unknown option " + arg);
                }
            } catch (const std::logic_error&) {  // std::stoi / stoul
                return bad_usage(arg + " takes a number, got " + *v);
            }
            continue;
        }
        if (!model_path.empty()) return bad_usage("more than one model given (" + model_path + ", " + arg + ")");
        model_path = arg;
    }
    if (model_path.empty()) return bad_usage("no model given");
    if (calib_paths.empty() && !dynamic_range) return bad_usage("--calib SAMPLES.npy is required (or --dynamic-range)");
    if (!calib_paths.empty() && dynamic_range) return bad_usage("--dynamic-range takes no --calib (it does not calibrate)");
    if (out_path.empty()) return bad_usage("-o OUT.tflite is required");
    const bool per_block = conv.scheme.weights.granularity == qtl::weight_granularity::per_block;
    if (per_block && conv.scheme.weights.bits != 4)
        return bad_usage("--granularity block:N is for int4 weights: add --weights int4");
    if (dynamic_range && conv.scheme.weights.bits == 4 && !per_block)
        return bad_usage("--dynamic-range with --weights int4 needs --granularity block:N (TFLite's hybrid kernels "
                         "take int4 weights only block-wise)");
    if (calibrator == "minmax") cal_opt.selection = qtl::range_selection::minmax();
    else if (calibrator == "entropy") cal_opt.selection = qtl::range_selection::entropy();
    else if (calibrator == "mse") cal_opt.selection = qtl::range_selection::mse();
    else if (calibrator == "moving-average") cal_opt.moving_average = true;
    else if (calibrator.rfind("percentile", 0) == 0) {
        double p = 99.99;
        if (calibrator.size() > 10) {
            if (calibrator[10] != ':') return bad_usage("--calibrator percentile takes the form percentile:P");
            try {
                p = std::stod(calibrator.substr(11));
            } catch (const std::logic_error&) {
                return bad_usage("--calibrator percentile:P needs a number P");
            }
        }
        if (!(p > 50 && p <= 100)) return bad_usage("the percentile must be in (50, 100]");
        cal_opt.selection = qtl::range_selection::percentile(p);
    } else {
        return bad_usage("unknown calibrator " + calibrator);
    }

    try {
        const auto t0 = std::chrono::steady_clock::now();
        qtl::graph g = qtl::load_float_tflite(model_path, import);
        const auto simplified = qtl::simplify(g);
        for (const auto& line : simplified.changes) std::cout << "simplify: " << line << "\n";
        if (dynamic_range) {
            qtl::dynamic_range_options dr;
            dr.per_channel = conv.scheme.weights.granularity != qtl::weight_granularity::per_tensor;
            if (per_block) dr.block_size = conv.scheme.weights.block_size;
            const auto bytes = qtl::tflite::write_model(qtl::convert_dynamic_range(g, dr));
            std::ofstream out(out_path, std::ios::binary | std::ios::trunc);
            out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
            qtl::check(out.good(), out_path, "write error");
            const std::string weights = per_block ? "int4 block-wise (" + std::to_string(dr.block_size) +
                                                        ") FULLY_CONNECTED, int8 CONV_2D/DEPTHWISE_CONV_2D weights"
                                                  : "int8 weights";
            std::printf("model      %s -> %s (dynamic range: %s, float activations)\n", model_path.c_str(),
                        out_path.c_str(), weights.c_str());
            std::printf("size       %ju bytes float -> %zu bytes\n",
                        static_cast<std::uintmax_t>(std::filesystem::file_size(model_path)), bytes.size());
            std::printf("time       %.2f s\n", seconds_since(t0));
            return 0;
        }
        for (const auto& name : float_layers) conv.layers[name] = qtl::float_layer::layer();
        for (const auto& name : int16_layers) {
            auto s = conv.scheme;
            s.activations = qtl::activation_precision::int16;
            s.weights.bits = 8;
            conv.layers[name] = s;
        }

        qtl::check(calib_paths.size() == g.inputs.size(), "qtl-quantize", "the model has ", g.inputs.size(),
                   " inputs but ", calib_paths.size(), " --calib files were given (one per input, in order)");
        std::vector<std::vector<std::vector<float>>> per_input;
        for (std::size_t k = 0; k < calib_paths.size(); ++k)
            per_input.push_back(read_samples(calib_paths[k], g.tensor(g.inputs[k]).size(), sample_limit));
        const std::size_t n = per_input[0].size();
        for (std::size_t k = 1; k < per_input.size(); ++k)
            qtl::check(per_input[k].size() == n, calib_paths[k], "holds ", per_input[k].size(), " samples, ",
                       calib_paths[0], " holds ", n);
        std::vector<std::vector<std::vector<float>>> samples(n);
        for (std::size_t s = 0; s < n; ++s)
            for (auto& input : per_input) samples[s].push_back(std::move(input[s]));

        const auto t_cal = std::chrono::steady_clock::now();
        const auto cal = qtl::calibrate(g, samples, cal_opt);
        const double cal_seconds = seconds_since(t_cal);

        qtl::conversion_report conv_report;
        auto model = qtl::convert(g, cal, conv, &conv_report);
        const auto bytes = qtl::tflite::write_model(model);
        {
            std::ofstream out(out_path, std::ios::binary | std::ios::trunc);
            qtl::check(out.good(), out_path, "cannot open the file for writing");
            out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
            qtl::check(out.good(), out_path, "write error");
        }
        const double total_seconds = seconds_since(t0);
        for (const auto& note : conv_report.notes) std::cout << "convert: " << note << "\n";

        std::vector<std::vector<std::vector<float>>> debug_set(
            samples.begin(), samples.begin() + static_cast<std::ptrdiff_t>(std::min(debug_samples, samples.size())));
        std::optional<qtl::layer_report> layers;
        if (!debug_set.empty()) layers = qtl::debug_layers(g, model, conv_report, debug_set);

        const auto float_size = std::filesystem::file_size(model_path);
        std::printf("model      %s -> %s\n", model_path.c_str(), out_path.c_str());
        std::printf("size       %ju bytes float -> %zu bytes quantized (%.2fx smaller)\n", static_cast<std::uintmax_t>(float_size),
                    bytes.size(), static_cast<double>(float_size) / static_cast<double>(bytes.size()));
        std::printf("scheme     %s activations, %s weights, calibrator %s, %zu samples\n",
                    qtl::to_string(conv.scheme.activations).c_str(), qtl::to_string(conv.scheme.weights).c_str(),
                    cal.method.c_str(), cal.samples);
        std::printf("time       %.2f s total (calibration %.2f s)\n", total_seconds, cal_seconds);
        if (layers) {
            if (const auto* worst = qtl::worst_sqnr(*layers))
                std::printf("worst      %s (%s): SQNR %.2f dB, RMSE/scale %.3f over %zu debug samples\n",
                            worst->tensor.c_str(), worst->op.c_str(), worst->sqnr_db, worst->rmse_over_scale,
                            layers->samples);
            if (!report_dir.empty()) {
                std::filesystem::create_directories(report_dir);
                std::ofstream csv(std::filesystem::path(report_dir) / "layers.csv");
                qtl::write_csv(csv, *layers);
                std::ofstream html(std::filesystem::path(report_dir) / "layers.html");
                qtl::write_html(html, *layers, "qtl-quantize: " + model_path);
                qtl::check(csv.good() && html.good(), report_dir, "could not write the report files");
                qtl::write_table(std::cout, *layers);
                std::printf("report     %s/layers.csv, %s/layers.html\n", report_dir.c_str(), report_dir.c_str());
            }
        }
        return 0;
    } catch (const qtl::error& e) {
        std::cerr << "qtl-quantize: " << e.what() << "\n";
        return 1;
    } catch (const std::filesystem::filesystem_error& e) {
        std::cerr << "qtl-quantize: " << e.what() << "\n";
        return 1;
    }
}
