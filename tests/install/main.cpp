// Uses the installed qtl through its umbrella header only: the quantization
// primitives, and the whole post-training pipeline (build a float graph,
// calibrate, convert, write, read back, run the integer model).
#include <qtl/qtl.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

int main() {
    // [-1, 3] -> scale 4/255, zero point -64 (TFLite's rule, computed by hand)
    const auto p = qtl::choose_params<qtl::int8_activation>(qtl::value_range{-1.0f, 3.0f});
    const auto q = qtl::quantize<qtl::int8_activation>(xt::xarray<float>{-1.0f, 1.0f, 3.0f}, p);
    bool ok = p.zero_points[0] == -64 && q(0) == -128 && q(1) == 0 && q(2) == 127 &&
              qtl::multiply_by_quantized_multiplier(1000, qtl::quantize_multiplier(0.5)) == 500;

    // y = relu(x W^T + b) with W = [[1, 2], [-1, 1]], b = [0.5, 0]
    qtl::graph_builder b;
    auto x = b.input("x", {1, 2});
    const std::vector<float> w{1, 2, -1, 1}, bias{0.5f, 0};
    b.output(b.fully_connected(x, "dense", w, {2, 2}, bias, qtl::fused_activation::relu));
    const qtl::graph g = std::move(b).build();
    std::vector<std::vector<float>> samples;
    for (int i = 0; i <= 20; ++i) samples.push_back({i / 10.0f - 1, 1 - i / 10.0f});
    const auto cal = qtl::calibrate(g, samples);
    const auto model = qtl::tflite::read_model(qtl::tflite::write_model(qtl::convert(g, cal)));
    qtl::tflite::executor ex(model);
    const auto& in = ex.input_tensor(0);
    const auto& out = ex.output_tensor(0);
    // x = (0.5, 0.5): y = relu(0.5 + 1 + 0.5, -0.5 + 0.5) = (2, 0)
    std::vector<std::int8_t> xq;
    for (float v : {0.5f, 0.5f})
        xq.push_back(static_cast<std::int8_t>(std::lround(v / in.quantization->scale[0]) + in.quantization->zero_point[0]));
    ex.set_input<std::int8_t>(0, xq);
    ex.invoke();
    const auto y = ex.output<std::int8_t>(0);
    const float s = out.quantization->scale[0];
    const auto zp = static_cast<float>(out.quantization->zero_point[0]);
    const float y0 = (static_cast<float>(y[0]) - zp) * s, y1 = (static_cast<float>(y[1]) - zp) * s;
    ok = ok && std::abs(y0 - 2.0f) < 3 * s && std::abs(y1) < 3 * s;
    std::printf("qtl consumer: %s (int8 model output %.4f %.4f, expected 2 0)\n", ok ? "ok" : "WRONG", y0, y1);
    return ok ? 0 : 1;
}
