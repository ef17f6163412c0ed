// A user-defined quantized layer: squared ReLU, y = max(x, 0)^2, in int8.
// It satisfies qtl::ops::quantized_layer, is calibrated on sample data with
// min/max, runs in integers through qtl's requantize stage, is compared with
// its float math, and is refused by the TFLite export guard (TFLite has no
// builtin for it).  docs/custom_layer.md explains each part.
#include <qtl/fixedpoint/quantize_multiplier.hpp>
#include <qtl/fixedpoint/requantize.hpp>
#include <qtl/fixedpoint/requantize_batch.hpp>
#include <qtl/ops/custom_layer.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string_view>
#include <vector>

struct squared_relu {
    using activation_scheme = qtl::int8_activation;  // int8 asymmetric, per tensor
    using weight_scheme = qtl::ops::no_weights;
    static constexpr std::string_view name = "squared_relu";
    // TFLite would need two ops (RELU, then MUL of the result with itself): no single builtin.
    static constexpr qtl::ops::tflite_builtin_op tflite_builtin = qtl::ops::no_tflite_builtin;

    struct prepared {
        std::int32_t input_zero_point = 0;
        qtl::quantized_multiplier multiplier;  // in_scale^2 / out_scale
        qtl::requantize_params clamp;          // [out_zp, 127]: the output is never negative
    };

    qtl::shape output_shape(const qtl::shape& input) const { return input; }

    void forward(qtl::tensor_view<const float> x, qtl::tensor_view<float> y) const {
        for (std::size_t i = 0; i < x.size(); ++i) {
            const float r = std::max(x[i], 0.0f);
            y[i] = r * r;
        }
    }

    // y = (in_scale d)^2 with d = max(q - in_zp, 0), so in output steps
    // y / out_scale = d^2 * (in_scale^2 / out_scale): one requantization of d^2.
    prepared prepare(const qtl::ops::layer_quantization& q) const {
        const double m = double(q.input.scale) * q.input.scale / q.output.scale;
        prepared p{q.input.zero_point, qtl::quantize_multiplier(m), {q.output.zero_point, q.output.zero_point, 127}};
        // d^2 <= 255^2 is shifted left by max(shift, 0) before the fixed-point multiply.
        qtl::check((std::int64_t{255 * 255} << std::max(p.multiplier.shift, 0)) <= 2147483647LL, "squared_relu",
                   "output scale too small for the input scale: multiplier ", m, " overflows int32");
        return p;
    }

    static void eval(const prepared& p, qtl::tensor_view<const std::int8_t> x, qtl::tensor_view<std::int8_t> y) {
        std::int32_t acc[256];
        for (std::size_t i = 0; i < x.size(); i += 256) {
            const std::size_t n = std::min<std::size_t>(256, x.size() - i);
            for (std::size_t j = 0; j < n; ++j) {
                const std::int32_t d = std::max(std::int32_t{x[i + j]} - p.input_zero_point, 0);
                acc[j] = d * d;
            }
            qtl::requantize_n<std::int8_t>(acc, n, p.multiplier, p.clamp, y.data.data() + i);  // the shared stage
        }
    }
};

static_assert(qtl::ops::quantized_layer<squared_relu>);

int main() {
    const squared_relu layer;

    // Calibration data: 16 samples of 64 values in [-3, 3].
    std::vector<std::vector<float>> data(16, std::vector<float>(64));
    std::vector<qtl::tensor_view<const float>> samples;
    for (std::size_t k = 0; k < data.size(); ++k) {
        for (std::size_t i = 0; i < data[k].size(); ++i) data[k][i] = 3.0f * std::sin(0.1f * float(i) + 0.7f * float(k));
        samples.emplace_back(data[k], qtl::shape{64});
    }
    const qtl::ops::layer_ranges ranges = qtl::ops::calibrate(layer, std::span(samples));
    const qtl::ops::layer_quantization q = qtl::ops::choose_quantization<squared_relu>(ranges);
    const squared_relu::prepared p = layer.prepare(q);
    std::printf("calibrated: input [%.4f, %.4f] -> scale %.6f zero point %d; output [%.4f, %.4f] -> scale %.6f zero point %d\n",
                ranges.input.min, ranges.input.max, q.input.scale, q.input.zero_point, ranges.output.min,
                ranges.output.max, q.output.scale, q.output.zero_point);

    // Run: quantize test inputs, integer kernel, dequantize, compare with the float math.
    constexpr int n = 512;
    std::vector<float> x(n), y_float(n);
    std::vector<std::int8_t> xq(n), yq(n);
    for (int i = 0; i < n; ++i) {
        x[i] = -2.9f + 5.8f * float(i) / (n - 1);
        const float steps = std::round(x[i] / q.input.scale) + float(q.input.zero_point);
        xq[i] = static_cast<std::int8_t>(std::clamp(steps, -128.0f, 127.0f));
    }
    layer.forward(qtl::tensor_view<const float>(x, {n}), qtl::tensor_view<float>(y_float, {n}));
    squared_relu::eval(p, qtl::tensor_view<const std::int8_t>(xq, {n}), qtl::tensor_view<std::int8_t>(yq, {n}));

    double worst = 0;
    for (int i = 0; i < n; ++i) {
        const double y_int = (yq[i] - q.output.zero_point) * double(q.output.scale);
        worst = std::max(worst, std::abs(y_int - y_float[i]));
        if (i % 128 == 127 || i == 300)
            std::printf("x = %+.4f  float %.4f  int8 %4d -> %.4f\n", x[i], y_float[i], yq[i], y_int);
    }
    // Input rounding moves x by <= in_scale / 2, so x^2 by <= (2 |x| + in_scale / 2) in_scale / 2;
    // the requantization rounds by <= 0.75 output steps (double rounding).
    const double bound = 0.75 * q.output.scale + (2 * 2.9 + q.input.scale / 2) * q.input.scale / 2;

    bool refused = false;
    try {
        qtl::ops::require_exportable<squared_relu>("block3/act");
    } catch (const qtl::error& e) {
        std::printf("export: %s\n", e.what());
        refused = true;
    }
    if (worst <= bound && refused) {
        std::printf("PASS: max error %.6f <= bound %.6f; export refused as expected\n", worst, bound);
        return 0;
    }
    std::printf("FAIL: max error %.6f, bound %.6f, export refused: %d\n", worst, bound, int(refused));
    return 1;
}
