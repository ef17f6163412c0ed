// The command-line tools, run as a user runs them: exit codes, files written,
// messages.  The models come from ../shared; the calibration samples are
// written here.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <sstream>
#include <string>
#include <vector>

#include <sys/wait.h>

#include "qtl/graph/builder.hpp"
#include "qtl/graph/to_tflite.hpp"
#include "qtl/io/npy.hpp"
#include "qtl/io/tflite/executor.hpp"
#include "qtl/io/tflite/reader.hpp"
#include "support/shared_data.hpp"

namespace fs = std::filesystem;

namespace {

struct run_result {
    int exit_code = -1;
    std::string output;  // stdout and stderr
};

run_result run(const std::string& tool, const std::string& args) {
    const fs::path exe = fs::path(QTL_TOOLS_DIR) / tool;
    REQUIRE_MESSAGE(fs::exists(exe), "missing " << exe.string() << " (build the tools first)");
    const fs::path log = fs::temp_directory_path() / ("qtl_cli_" + tool + ".log");
    const std::string cmd = exe.string() + " " + args + " > " + log.string() + " 2>&1";
    const int status = std::system(cmd.c_str());
    run_result r;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::ifstream in(log);
    std::stringstream s;
    s << in.rdbuf();
    r.output = s.str();
    return r;
}

fs::path work_dir() {
    const auto d = fs::temp_directory_path() / "qtl_cli_test";
    fs::create_directories(d);
    return d;
}

// 100 calibration points in [0, 2*pi] for hello_world, shape [100, 1].
fs::path hello_world_samples() {
    std::vector<float> x;
    for (int i = 0; i < 100; ++i) x.push_back(static_cast<float>(2 * std::numbers::pi * (i + 0.5) / 100));
    const auto path = work_dir() / "hello_calib.npy";
    qtl::npy::write_file(path.string(), qtl::npy::make_array<float>(x, {100, 1}));
    return path;
}

}  // namespace

TEST_CASE("qtl-quantize: hello_world float -> int8, then qtl-inspect and qtl-run on the result") {
    const auto model = qtl::test::shared_file("models/hello_world_float.tflite");
    const auto calib = hello_world_samples();
    const auto out = work_dir() / "hello_int8.tflite";
    const auto report = work_dir() / "report";
    fs::remove(out);
    fs::remove_all(report);
    auto r = run("qtl-quantize", model.string() + " --calib " + calib.string() + " -o " + out.string() +
                                     " --report " + report.string() + " --no-progress");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK(r.output.find("worst") != std::string::npos);
    CHECK(fs::exists(report / "layers.csv"));
    CHECK(fs::exists(report / "layers.html"));
    // three FULLY_CONNECTED layers, int8 in and out
    const auto m = qtl::tflite::read_model(out);
    CHECK(m.main().operators.size() == 3);
    CHECK(m.main().tensors[static_cast<std::size_t>(m.main().inputs[0])].type == qtl::tflite::tensor_type::INT8);
    std::ifstream csv(report / "layers.csv");
    std::string line;
    int rows = 0;
    while (std::getline(csv, line)) ++rows;
    CHECK(rows == 1 + 4);  // header, the input and three layer outputs

    r = run("qtl-inspect", out.string());
    INFO(r.output);
    CHECK(r.exit_code == 0);
    CHECK(r.output.find("FULLY_CONNECTED") != std::string::npos);

    // qtl-run on x = pi/2 quantized with the model's input parameters gives about sin(pi/2) = 1
    const auto& in = m.main().tensors[static_cast<std::size_t>(m.main().inputs[0])];
    const auto q = static_cast<std::int8_t>(std::lround(1.5707963 / in.quantization->scale[0]) + in.quantization->zero_point[0]);
    const auto x_path = work_dir() / "x.npy";
    qtl::npy::write_file(x_path.string(), qtl::npy::make_array<std::int8_t>(std::vector<std::int8_t>{q}, {1, 1}));
    r = run("qtl-run", out.string() + " --in " + x_path.string() + " --out " + (work_dir() / "run").string());
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    const auto y = qtl::npy::read_file((work_dir() / "run" / "output_0.npy").string());
    const auto& ot = m.main().tensors[static_cast<std::size_t>(m.main().outputs[0])];
    const float yf = (static_cast<float>(y.values<std::int8_t>()[0]) - static_cast<float>(ot.quantization->zero_point[0])) *
                     ot.quantization->scale[0];
    CHECK(yf == doctest::Approx(1.0).epsilon(0.1));
}

TEST_CASE("qtl-quantize options: int16, int4, per-tensor, float I/O, calibrators") {
    const auto model = qtl::test::shared_file("models/hello_world_float.tflite");
    const auto calib = hello_world_samples();
    const auto out = work_dir() / "hello_opt.tflite";
    struct variant {
        std::string args;
        qtl::tflite::tensor_type input, weights;
    };
    using T = qtl::tflite::tensor_type;
    for (const auto& v : {variant{"--activations int16", T::INT16, T::INT8}, variant{"--weights int4", T::INT8, T::INT4},
                          variant{"--granularity per-tensor --calibrator percentile:99.9", T::INT8, T::INT8},
                          variant{"--input-type float32 --output-type float32 --calibrator entropy", T::FLOAT32, T::INT8},
                          variant{"--input-type uint8 --calibrator mse --threads 2", T::UINT8, T::INT8},
                          variant{"--target tflite-micro --calibrator moving-average", T::INT8, T::INT8}}) {
        auto r = run("qtl-quantize", model.string() + " --calib " + calib.string() + " -o " + out.string() + " " +
                                         v.args + " --no-progress");
        INFO(v.args << "\n" << r.output);
        REQUIRE(r.exit_code == 0);
        const auto m = qtl::tflite::read_model(out);
        CHECK(m.main().tensors[static_cast<std::size_t>(m.main().inputs[0])].type == v.input);
        bool found = false;
        for (const auto& o : m.main().operators)
            if (o.builtin_code == qtl::tflite::builtin_operator::FULLY_CONNECTED) {
                CHECK(m.main().tensors[static_cast<std::size_t>(o.inputs[1])].type == v.weights);
                found = true;
            }
        CHECK(found);
    }
}

TEST_CASE("qtl-quantize: dynamic range, and a layer kept in float") {
    const auto model = qtl::test::shared_file("models/hello_world_float.tflite");
    const auto out = work_dir() / "hello_dynamic.tflite";
    auto r = run("qtl-quantize", model.string() + " --dynamic-range -o " + out.string());
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    auto m = qtl::tflite::read_model(out);
    for (const auto& o : m.main().operators) {
        CHECK(o.builtin_code == qtl::tflite::builtin_operator::FULLY_CONNECTED);
        CHECK(m.main().tensors[static_cast<std::size_t>(o.inputs[0])].type == qtl::tflite::tensor_type::FLOAT32);
        CHECK(m.main().tensors[static_cast<std::size_t>(o.inputs[1])].type == qtl::tflite::tensor_type::INT8);
    }
    // the middle layer of hello_world is named after its output tensor; keep it in float
    const auto g = qtl::tflite::read_model(model);
    const auto& mid = g.main().tensors[static_cast<std::size_t>(g.main().operators[1].outputs[0])].name;
    const auto calib = hello_world_samples();
    r = run("qtl-quantize", model.string() + " --calib " + calib.string() + " -o " + out.string() + " --float-layers '" +
                                mid + "' --no-progress");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    m = qtl::tflite::read_model(out);
    int float_fc = 0;
    for (const auto& o : m.main().operators)
        if (o.builtin_code == qtl::tflite::builtin_operator::FULLY_CONNECTED &&
            m.main().tensors[static_cast<std::size_t>(o.inputs[1])].type == qtl::tflite::tensor_type::FLOAT32)
            ++float_fc;
    CHECK(float_fc == 1);
    CHECK(run("qtl-quantize", model.string() + " --dynamic-range --calib " + calib.string() + " -o " + out.string())
              .exit_code == 2);
}

TEST_CASE("qtl-quantize: dynamic range with int4 block-wise FULLY_CONNECTED weights") {
    // A float model of our own: dense(64 -> 8), fused ReLU, weights w[o][i] = sin(0.37 (8o + i)) / 2.
    qtl::graph_builder b;
    auto x = b.input("x", {2, 64});
    std::vector<float> w(8 * 64), bias(8);
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = 0.5f * std::sin(0.37f * static_cast<float>(i));
    for (std::size_t o = 0; o < bias.size(); ++o) bias[o] = 0.05f * static_cast<float>(o);
    b.output(b.fully_connected(x, "dense", w, {8, 64}, bias, qtl::fused_activation::relu));
    const auto g = std::move(b).build();
    const auto model = work_dir() / "dense_float.tflite";
    qtl::tflite::write_model(qtl::graph_to_tflite(g), model);
    const auto out = work_dir() / "dense_block32.tflite";
    fs::remove(out);

    auto r = run("qtl-quantize", model.string() + " --dynamic-range --weights int4 --granularity block:32 -o " +
                                     out.string());
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK(r.output.find("int4 block-wise (32)") != std::string::npos);
    const auto m = qtl::tflite::read_model(out);
    const auto& t = m.main().tensors;
    int fc = 0;
    for (const auto& o : m.main().operators) {
        if (o.builtin_code != qtl::tflite::builtin_operator::FULLY_CONNECTED) continue;
        ++fc;
        const auto& weights = t[static_cast<std::size_t>(o.inputs[1])];
        CHECK(weights.type == qtl::tflite::tensor_type::INT4);
        REQUIRE(weights.quantization.has_value());
        REQUIRE(weights.quantization->blockwise.has_value());
        CHECK(weights.quantization->blockwise->block_size == 32);
        const auto& scales = t[static_cast<std::size_t>(weights.quantization->blockwise->scales)];
        CHECK(scales.type == qtl::tflite::tensor_type::FLOAT16);
        CHECK(scales.shape == qtl::shape{8, 2});
        // the fused ReLU became an op of its own (TFLite's block-wise kernel ignores fused activations)
        CHECK(o.options_as<qtl::tflite::fully_connected_options>().fused_activation_function ==
              qtl::tflite::activation_function_type::NONE);
    }
    CHECK(fc == 1);
    CHECK(m.main().operators.back().builtin_code == qtl::tflite::builtin_operator::RELU);
    // It runs, and stays within int4 + int8-input quantization error of the float model (a naive loop).
    std::vector<float> in(128);
    for (std::size_t i = 0; i < in.size(); ++i) in[i] = std::cos(0.1f * static_cast<float>(i));
    qtl::tflite::executor e(m);
    e.set_input<float>(0, in);
    e.invoke();
    const auto y = e.output<float>(0);
    REQUIRE(y.size() == 16);
    for (std::size_t row = 0; row < 2; ++row)
        for (std::size_t o = 0; o < 8; ++o) {
            double acc = bias[o];
            for (std::size_t i = 0; i < 64; ++i) acc += double(in[row * 64 + i]) * w[o * 64 + i];
            // |w| <= 0.5: int4 steps 0.5/7, error <= 0.036 per weight, |x| <= 1; about sqrt(64) * 0.02 typical
            CHECK(std::abs(y[row * 8 + o] - std::max(acc, 0.0)) < 0.25);
        }

    // Usage errors (exit 2) and a block size the layer cannot take (exit 1, naming the rule).
    CHECK(run("qtl-quantize", model.string() + " --dynamic-range --granularity block:32 -o " + out.string()).exit_code ==
          2);  // int8 is the default weight type
    r = run("qtl-quantize", model.string() + " --dynamic-range --weights int4 -o " + out.string());
    CHECK(r.exit_code == 2);
    CHECK(r.output.find("block:N") != std::string::npos);
    CHECK(run("qtl-quantize", model.string() + " --dynamic-range --weights int4 --granularity block:x -o " +
                                  out.string())
              .exit_code == 2);
    r = run("qtl-quantize", model.string() + " --dynamic-range --weights int4 --granularity block:48 -o " +
                                work_dir().string() + "/never_block.tflite");
    CHECK(r.exit_code == 1);
    CHECK(r.output.find("not a multiple of block size 48") != std::string::npos);
    CHECK(!fs::exists(work_dir() / "never_block.tflite"));
}

TEST_CASE("qtl-quantize / qtl-inspect errors and exit codes") {
    const auto model = qtl::test::shared_file("models/hello_world_float.tflite");
    const auto calib = hello_world_samples();
    const auto out = work_dir() / "never.tflite";
    CHECK(run("qtl-quantize", "--help").exit_code == 0);
    CHECK(run("qtl-inspect", "--help").exit_code == 0);
    CHECK(run("qtl-quantize", model.string()).exit_code == 2);  // no --calib
    auto r = run("qtl-quantize", model.string() + " --calib " + calib.string() + " -o " + out.string() + " --weights int3");
    CHECK(r.exit_code == 2);
    CHECK(r.output.find("--weights takes int8 or int4") != std::string::npos);
    // an int8 model is refused: it is already quantized
    r = run("qtl-quantize", qtl::test::shared_file("models/hello_world_int8.tflite").string() + " --calib " +
                                calib.string() + " -o " + out.string());
    CHECK(r.exit_code == 1);
    CHECK(r.output.find("quantized") != std::string::npos);
    // samples of the wrong size
    const auto bad = work_dir() / "bad_calib.npy";
    qtl::npy::write_file(bad.string(), qtl::npy::make_array<float>(std::vector<float>{}, {0, 1}));
    r = run("qtl-quantize", model.string() + " --calib " + bad.string() + " -o " + out.string());
    CHECK(r.exit_code == 1);
    CHECK(r.output.find("bad_calib.npy") != std::string::npos);
    // NaN in the samples names the sample
    qtl::npy::write_file(bad.string(), qtl::npy::make_array<float>(std::vector<float>{1.0f, NAN, 2.0f}, {3, 1}));
    r = run("qtl-quantize", model.string() + " --calib " + bad.string() + " -o " + out.string());
    CHECK(r.exit_code == 1);
    CHECK(r.output.find("calibration sample 1") != std::string::npos);
    // a file that is not a model
    r = run("qtl-inspect", calib.string());
    CHECK(r.exit_code == 1);
    CHECK(!fs::exists(out));
}
