// The accuracy bar of post-training quantization: hello_world_float.tflite
// (y = sin(x), TensorFlow's example) quantized by qtl must be at least as
// close to the float model as TensorFlow's own hello_world_int8.tflite,
// measured on 100 points x = 2*pi*i/99.  Both int8 models run on qtl's
// executor, which is bit-exact with TFLite's reference kernels; the float
// model runs on qtl's float executor.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <numbers>
#include <vector>

#include "qtl/graph/calibrate.hpp"
#include "qtl/graph/convert.hpp"
#include "qtl/graph/float_executor.hpp"
#include "qtl/graph/from_tflite.hpp"
#include "qtl/io/tflite/executor.hpp"
#include "qtl/io/tflite/reader.hpp"
#include "support/shared_data.hpp"

namespace {

struct error_stats {
    double max = 0, mean = 0;
};

// int8 in, int8 out, one value each.
float run_int8(qtl::tflite::executor& ex, float x) {
    const auto& in = ex.input_tensor(0);
    const auto& out = ex.output_tensor(0);
    const float s = in.quantization->scale[0];
    const auto zp = static_cast<float>(in.quantization->zero_point[0]);
    const auto q = static_cast<std::int8_t>(std::clamp(std::round(x / s) + zp, -128.0f, 127.0f));
    ex.set_input<std::int8_t>(0, std::span<const std::int8_t>(&q, 1));
    ex.invoke();
    const auto y = ex.output<std::int8_t>(0)[0];
    return (static_cast<float>(y) - static_cast<float>(out.quantization->zero_point[0])) * out.quantization->scale[0];
}

error_stats compare(qtl::tflite::executor& ex, qtl::float_executor& fx) {
    error_stats e;
    for (int i = 0; i < 100; ++i) {
        const float x = static_cast<float>(2 * std::numbers::pi * i / 99);
        fx.set_input(0, std::span<const float>(&x, 1));
        fx.invoke();
        const double err = std::abs(static_cast<double>(run_int8(ex, x)) - fx.output(0)[0]);
        e.max = std::max(e.max, err);
        e.mean += err / 100;
    }
    return e;
}

}  // namespace

TEST_CASE("hello_world: qtl's int8 model is at least as accurate as TensorFlow's") {
    const auto float_path = qtl::test::shared_file("models/hello_world_float.tflite");
    const auto tf_int8_path = qtl::test::shared_file("models/hello_world_int8.tflite");
    const qtl::graph g = qtl::load_float_tflite(float_path);
    qtl::float_executor fx(g);

    // 100 calibration points in [0, 2*pi]: the midpoints of 100 equal steps
    // (not the evaluation grid).
    std::vector<std::vector<float>> calib;
    for (int i = 0; i < 100; ++i) calib.push_back({static_cast<float>(2 * std::numbers::pi * (i + 0.5) / 100)});
    qtl::calibration_options co;
    co.progress = qtl::progress_bar::never;
    const auto cal = qtl::calibrate(g, calib, co);
    qtl::tflite::executor ours(qtl::convert(g, cal));
    qtl::tflite::executor theirs(qtl::tflite::read_model(tf_int8_path));

    const auto q = compare(ours, fx);
    const auto t = compare(theirs, fx);
    std::printf("hello_world vs float over 100 points: qtl int8 max %.4f mean %.4f | TensorFlow int8 max %.4f mean %.4f\n",
                q.max, q.mean, t.max, t.mean);
    // TensorFlow's figures, as measured by its authors' test set-up (the issue): max 0.112, mean 0.0254
    CHECK(t.max == doctest::Approx(0.112).epsilon(0.02));
    CHECK(t.mean == doctest::Approx(0.0254).epsilon(0.02));
    CHECK(q.max <= t.max);
    CHECK(q.mean <= t.mean);
}
