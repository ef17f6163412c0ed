// The fake-quantized graph agrees with the integer model to within one
// quantization step per tensor when each op is fed the integer model's own
// inputs (dequantized): both compute the same real-valued op, one in float
// then rounded, the other in fixed point.  Nets cover every op qtl quantizes.
// The one exception is TFLite's own approximation: int16 LOGISTIC/TANH
// interpolate a table and may be 2-3 steps of 1/32768 off.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "qtl/graph/builder.hpp"
#include "qtl/graph/calibrate.hpp"
#include "qtl/graph/convert.hpp"
#include "qtl/graph/fake_quant.hpp"
#include "qtl/graph/fake_quant_tflite.hpp"
#include "qtl/io/tflite/executor.hpp"
#include "qtl/io/tflite/reader.hpp"
#include "qtl/io/tflite/writer.hpp"

namespace {

using act = qtl::fused_activation;

std::vector<float> random_values(std::size_t n, std::mt19937& rng, float lo = -1.0f, float hi = 1.0f) {
    std::uniform_real_distribution<float> d(lo, hi);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

// conv -> depthwise -> pool -> reshape -> fc -> softmax, with a residual ADD,
// MUL, a CONCATENATION of LOGISTIC and TANH, PAD, MEAN and the unary ops.
qtl::graph make_net(std::mt19937& rng) {
    qtl::graph_builder b;
    auto x = b.input("image", {1, 6, 6, 2});
    auto c = b.conv_2d(x, "conv", random_values(4 * 3 * 3 * 2, rng), {4, 3, 3, 2}, random_values(4, rng),
                       {.stride = 1, .padding = qtl::tflite::padding::SAME, .activation = act::relu});
    auto d = b.depthwise_conv_2d(c, "dw", random_values(3 * 3 * 4, rng), {1, 3, 3, 4}, random_values(4, rng),
                                 {.stride = 1, .padding = qtl::tflite::padding::SAME, .activation = act::none});
    auto r = b.add(c, d);
    auto m = b.mul(r, d);
    auto s = b.logistic(m);
    auto t = b.tanh(r);
    auto cat = b.concatenation({s, t}, 3);
    auto p = b.pad(cat, {{0, 0}, {1, 1}, {1, 1}, {0, 0}});
    auto pool = b.max_pool_2d(p, {.filter = 2, .stride = 2});
    auto avg = b.average_pool_2d(pool, {.filter = 2, .stride = 1});
    auto hs = b.hard_swish(avg);
    auto lr = b.leaky_relu(hs, 0.2f);
    auto mean = b.mean(lr, {1, 2}, true);
    auto f = b.flatten(mean);
    auto fc = b.fully_connected(f, "fc", random_values(5 * 8, rng), {5, 8}, random_values(5, rng), act::none);
    auto y = b.softmax(fc);
    b.output(y);
    return std::move(b).build();
}

// make_net calibrated on 32 random images and converted to int8.
qtl::tflite::model converted_net(std::mt19937& rng) {
    const auto g = make_net(rng);
    std::vector<std::vector<float>> calib;
    for (int i = 0; i < 32; ++i) calib.push_back(random_values(72, rng));
    qtl::calibration_options co;
    co.progress = qtl::progress_bar::never;
    const auto model = qtl::convert(g, qtl::calibrate(g, calib, co));
    return model;
}

struct agreement {
    std::size_t elements = 0, exact = 0, off_by_one = 0, table_steps = 0, worse = 0;
};

template <class T>
std::vector<std::int32_t> codes_of(std::span<const std::byte> bytes) {
    std::vector<std::int32_t> out(bytes.size() / sizeof(T));
    for (std::size_t i = 0; i < out.size(); ++i) {
        T v;
        std::memcpy(&v, bytes.data() + i * sizeof(T), sizeof(T));
        out[i] = v;
    }
    return out;
}

std::vector<std::int32_t> codes(const qtl::tflite::executor& ex, const qtl::tflite::tensor& t, std::int32_t i) {
    const auto bytes = ex.tensor_bytes(i);
    switch (t.type) {
        case qtl::tflite::tensor_type::INT8: return codes_of<std::int8_t>(bytes);
        case qtl::tflite::tensor_type::UINT8: return codes_of<std::uint8_t>(bytes);
        case qtl::tflite::tensor_type::INT16: return codes_of<std::int16_t>(bytes);
        default: return {};
    }
}

// Every op of `model`, fed the integer model's inputs, agrees with it to 1 LSB.
agreement compare_op_by_op(const qtl::tflite::model& model, std::mt19937& rng, int samples) {
    qtl::tflite::executor ex(model, qtl::tflite::executor_options{.preserve_all_tensors = true});
    qtl::fake_quant_executor fq(model);
    const auto& sg = model.main();
    agreement a;
    for (int s = 0; s < samples; ++s) {
        const auto& in = sg.tensors[static_cast<std::size_t>(sg.inputs[0])];
        const auto x = random_values(qtl::num_elements(in.shape), rng);
        if (in.type == qtl::tflite::tensor_type::FLOAT32) {
            ex.set_input<float>(0, x);
        } else {
            const auto& g = fq.grid(sg.inputs[0]);
            if (in.type == qtl::tflite::tensor_type::INT8) {
                std::vector<std::int8_t> q(x.size());
                for (std::size_t i = 0; i < x.size(); ++i) q[i] = static_cast<std::int8_t>(g.code(x[i]));
                ex.set_input<std::int8_t>(0, q);
            } else {
                std::vector<std::int16_t> q(x.size());
                for (std::size_t i = 0; i < x.size(); ++i) q[i] = static_cast<std::int16_t>(g.code(x[i]));
                ex.set_input<std::int16_t>(0, q);
            }
        }
        ex.invoke();
        for (std::size_t k = 0; k < sg.operators.size(); ++k) {
            const auto& o = sg.operators[k];
            for (auto i : o.inputs) {
                if (i < 0 || !model.data_of(sg.tensors[static_cast<std::size_t>(i)]).empty()) continue;
                const auto& t = sg.tensors[static_cast<std::size_t>(i)];
                std::vector<float> real;
                if (t.type == qtl::tflite::tensor_type::FLOAT32) {
                    const auto f = ex.tensor_data<float>(i);
                    real.assign(f.begin(), f.end());
                } else {
                    const auto& g = fq.grid(i);
                    for (auto c : codes(ex, t, i)) real.push_back(static_cast<float>(c - g.zero_point) * g.scale);
                }
                fq.set_values(i, real);
            }
            fq.invoke_node(k);
            const auto out = o.outputs[0];
            const auto& t = sg.tensors[static_cast<std::size_t>(out)];
            if (t.type == qtl::tflite::tensor_type::FLOAT32) continue;
            const auto& g = fq.grid(out);
            const auto want = codes(ex, t, out);
            const auto got = fq.values(out);
            REQUIRE(want.size() == got.size());
            // TFLite's int16 LOGISTIC and TANH interpolate a 513-entry table: the
            // integer kernel itself is a few steps of 1/32768 from the exact
            // function, so those two get that allowance; everything else 1 step.
            const bool int16_table = t.type == qtl::tflite::tensor_type::INT16 &&
                                     (o.builtin_code == qtl::tflite::builtin_operator::TANH ||
                                      o.builtin_code == qtl::tflite::builtin_operator::LOGISTIC);
            for (std::size_t i = 0; i < want.size(); ++i) {
                const auto diff = std::abs(g.code(got[i]) - want[i]);
                ++a.elements;
                if (diff == 0) ++a.exact;
                else if (diff == 1) ++a.off_by_one;
                else if (int16_table && diff <= 3) ++a.table_steps;
                else {
                    ++a.worse;
                    INFO("op " << k << " (" << qtl::tflite::describe(o.builtin_code) << ") element " << i << ": integer "
                               << want[i] << ", fake-quantized " << g.code(got[i]));
                    CHECK(diff <= 1);
                }
            }
        }
    }
    return a;
}

}  // namespace

TEST_CASE("fake-quantized graph vs integer model, op by op: int8 and 16x8, per-channel, per-tensor and int4 weights") {
    std::mt19937 rng(7);
    const auto g = make_net(rng);
    std::vector<std::vector<float>> calib;
    for (int i = 0; i < 32; ++i) calib.push_back(random_values(72, rng));
    qtl::calibration_options co;
    co.progress = qtl::progress_bar::never;
    const auto cal = qtl::calibrate(g, calib, co);
    for (auto scheme : {qtl::int8_scheme::layer(), qtl::int8_per_tensor_scheme::layer(), qtl::int4_scheme::layer(),
                        qtl::int16x8_scheme::layer()}) {
        qtl::conversion_options o;
        o.scheme = scheme;
        const auto model = qtl::convert(g, cal, o);
        const auto a = compare_op_by_op(model, rng, 8);
        std::printf("fake quant vs integer (%s activations, %s weights): %zu elements, %zu exact, %zu off by one, "
                    "%zu int16 table steps (2-3), %zu worse\n",
                    qtl::to_string(scheme.activations).c_str(), qtl::to_string(scheme.weights).c_str(), a.elements,
                    a.exact, a.off_by_one, a.table_steps, a.worse);
        CHECK(a.elements > 1000);
        CHECK(a.worse == 0);
        CHECK(a.exact >= a.elements * 9 / 10);
    }
}

TEST_CASE("a fake-quantized model run end to end stays close to the integer model") {
    std::mt19937 rng(11);
    const auto model = converted_net(rng);
    qtl::fake_quant_executor fq(model);
    qtl::tflite::executor ex(model, qtl::tflite::executor_options{.preserve_all_tensors = true});
    const auto& out_t = model.main().tensors[static_cast<std::size_t>(model.main().outputs[0])];
    const auto& in_g = fq.grid(model.main().inputs[0]);
    double worst = 0;
    for (int s = 0; s < 8; ++s) {
        const auto x = random_values(72, rng);
        std::vector<std::int8_t> q(x.size());
        for (std::size_t i = 0; i < x.size(); ++i) q[i] = static_cast<std::int8_t>(in_g.code(x[i]));
        ex.set_input<std::int8_t>(0, q);
        ex.invoke();
        fq.set_input(0, x);
        fq.invoke();
        const auto y = ex.output<std::int8_t>(0);
        const auto yf = fq.output(0);
        for (std::size_t i = 0; i < y.size(); ++i) {
            const double real = (y[i] - out_t.quantization->zero_point[0]) * static_cast<double>(out_t.quantization->scale[0]);
            worst = std::max(worst, std::abs(real - yf[i]));
        }
    }
    // softmax probabilities: accumulated one-step differences stay a few steps (1/256 each)
    CHECK(worst <= 4.0 / 256);
}

TEST_CASE("selective quantization: a model with its first conv kept in float runs in qtl's executor") {
    std::mt19937 rng(5);
    const auto g = make_net(rng);
    std::vector<std::vector<float>> calib;
    for (int i = 0; i < 32; ++i) calib.push_back(random_values(72, rng));
    qtl::calibration_options co;
    co.progress = qtl::progress_bar::never;
    qtl::conversion_options o;
    o.layers["conv"] = qtl::float_layer::layer();
    const auto model = qtl::convert(g, qtl::calibrate(g, calib, co), o);
    qtl::tflite::executor ex(model, qtl::tflite::executor_options{.preserve_all_tensors = true});
    qtl::float_executor fx(g);
    const auto& in = model.main().tensors[static_cast<std::size_t>(model.main().inputs[0])];
    CHECK(in.type == qtl::tflite::tensor_type::FLOAT32);  // the float conv reads the model input
    const auto& out_t = model.main().tensors[static_cast<std::size_t>(model.main().outputs[0])];
    double worst = 0;
    for (int s = 0; s < 8; ++s) {
        const auto x = random_values(72, rng);
        ex.set_input<float>(0, x);
        ex.invoke();
        fx.set_input(0, x);
        fx.invoke();
        const auto y = ex.output<std::int8_t>(0);
        for (std::size_t i = 0; i < y.size(); ++i) {
            const double real = (y[i] - out_t.quantization->zero_point[0]) * static_cast<double>(out_t.quantization->scale[0]);
            worst = std::max(worst, std::abs(real - fx.output(0)[i]));
        }
    }
    std::printf("selective (conv in float) vs float graph: max softmax error %.4f\n", worst);
    CHECK(worst <= 8.0 / 256);
}

TEST_CASE("the fake-quantized model exports as a float .tflite that computes what fake_quant_executor does") {
    std::mt19937 rng(11);
    const auto model = converted_net(rng);
    const auto bytes = qtl::tflite::write_model(qtl::fake_quantized_tflite(model));
    const auto exported = qtl::tflite::read_model(std::span<const std::uint8_t>(bytes));

    // One QUANTIZE -> DEQUANTIZE pair per quantized activation of the integer model; every other op is float.
    std::size_t activations = 0;
    for (const auto& t : model.main().tensors)
        if (model.data_of(t).empty() && t.type == qtl::tflite::tensor_type::INT8) ++activations;
    std::size_t quantize = 0, dequantize = 0;
    const auto& sg = exported.main();
    for (const auto& o : sg.operators) {
        if (o.builtin_code == qtl::tflite::builtin_operator::QUANTIZE) {
            ++quantize;
            CHECK(sg.tensors[std::size_t(o.outputs[0])].type == qtl::tflite::tensor_type::INT8);
        } else if (o.builtin_code == qtl::tflite::builtin_operator::DEQUANTIZE) {
            ++dequantize;
        } else {
            for (auto y : o.outputs) CHECK(sg.tensors[std::size_t(y)].type == qtl::tflite::tensor_type::FLOAT32);
        }
    }
    CHECK(quantize == activations);
    CHECK(dequantize == activations);
    CHECK(sg.tensors[std::size_t(sg.inputs[0])].type == qtl::tflite::tensor_type::FLOAT32);

    qtl::tflite::executor run(exported);
    qtl::fake_quant_executor fq(model);
    qtl::tflite::executor ex(model);
    const auto& out_t = model.main().tensors[static_cast<std::size_t>(model.main().outputs[0])];
    const auto& in_g = fq.grid(model.main().inputs[0]);
    double worst_vs_fake = 0, worst_vs_integer = 0;
    for (int s = 0; s < 8; ++s) {
        const auto x = random_values(72, rng);
        run.set_input<float>(0, x);
        run.invoke();
        fq.set_input(0, x);
        fq.invoke();
        std::vector<std::int8_t> q(x.size());
        for (std::size_t i = 0; i < x.size(); ++i) q[i] = static_cast<std::int8_t>(in_g.code(x[i]));
        ex.set_input<std::int8_t>(0, q);
        ex.invoke();
        const auto y = run.output<float>(0), yf = fq.output(0);
        const auto yi = ex.output<std::int8_t>(0);
        REQUIRE(y.size() == yf.size());
        for (std::size_t i = 0; i < y.size(); ++i) {
            worst_vs_fake = std::max(worst_vs_fake, double(std::abs(y[i] - yf[i])));
            const double real = (yi[i] - out_t.quantization->zero_point[0]) * double(out_t.quantization->scale[0]);
            worst_vs_integer = std::max(worst_vs_integer, std::abs(real - y[i]));
        }
    }
    // The same float kernels and roundings: equal up to float noise (or, at a rounding tie, one 1/256 step).
    CHECK(worst_vs_fake <= 1.0 / 256 + 1e-6);
    // Against the integer model (independent arithmetic): a few steps, as the fake-quant executor itself.
    CHECK(worst_vs_integer <= 4.0 / 256);
    MESSAGE("exported fake-quant model: max |vs fake_quant_executor| = ", worst_vs_fake,
            ", max |vs integer model| = ", worst_vs_integer);
}
