#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "qtl/graph/builder.hpp"
#include "qtl/graph/convert_dynamic_range.hpp"
#include "qtl/graph/float_executor.hpp"
#include "qtl/io/tflite/executor.hpp"
#include "qtl/io/tflite/reader.hpp"
#include "qtl/io/tflite/writer.hpp"

// convert_dynamic_range(): the structure of the emitted model (int8
// per-channel weights whose codes are recomputed here, float biases and
// activations, asymmetric_quantize_inputs, hybrid op versions), a write/read
// round trip, and qtl's executor on it against the float graph, within bounds
// derived from the quantization steps:
//  - per hybrid op, on the float graph's own input of that op:
//      |y - y_float| <= sum_i |x_i| |w_i - w^_i| + sum_i |w^_i| |x_i - x^_i|
//                   <= (w_scale[c] / 2) * K * max|x| + s_in * w_scale[c] * sum_i |q_ci|
//    (weights round to the nearest code; each input is off by at most one
//    input step s_in, see tests/ops/hybrid_fully_connected.cpp), plus float rounding;
//  - end to end for dense -> relu -> dense -> softmax: the first layer's
//    bound propagated through relu (1-Lipschitz), the second layer's weights
//    and its own bound, then softmax (|dp|_inf <= 0.5 |dz|_inf: its Jacobian
//    diag(p) - pp^T has infinity norm max 2 p_i (1 - p_i) <= 1/2).

using namespace qtl;
using B = tflite::builtin_operator;

namespace {

std::vector<float> random_floats(std::mt19937& rng, std::size_t n, float sd) {
    std::normal_distribution<float> d(0.0f, sd);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

graph dense_net(std::mt19937& rng) {
    graph_builder b;
    auto x = b.input("x", {2, 8});
    const auto w1 = random_floats(rng, 16 * 8, 0.5f), b1 = random_floats(rng, 16, 0.1f);
    const auto w2 = random_floats(rng, 4 * 16, 0.5f), b2 = random_floats(rng, 4, 0.1f);
    auto h = b.relu(b.fully_connected(x, "dense1", w1, {16, 8}, b1));
    b.output(b.softmax(b.fully_connected(h, "dense2", w2, {4, 16}, b2)));
    return std::move(b).build();
}

graph conv_net(std::mt19937& rng) {
    graph_builder b;
    auto x = b.input("image", {1, 8, 8, 3});
    const auto f1 = random_floats(rng, 4 * 3 * 3 * 3, 0.3f), b1 = random_floats(rng, 4, 0.1f);
    const auto f2 = random_floats(rng, 3 * 3 * 8, 0.3f), b2 = random_floats(rng, 8, 0.1f);
    const auto w3 = random_floats(rng, 5 * 128, 0.2f), b3 = random_floats(rng, 5, 0.1f);
    auto c = b.conv_2d(x, "conv", f1, {4, 3, 3, 3}, b1,
                       {.padding = tflite::padding::SAME, .activation = fused_activation::relu});
    auto d = b.depthwise_conv_2d(c, "dw", f2, {1, 3, 3, 8}, b2, {.padding = tflite::padding::SAME});
    auto p = b.max_pool_2d(d, {.filter = 2});
    b.output(b.fully_connected(b.reshape(p, {1, 128}), "dense", w3, {5, 128}, b3));
    return std::move(b).build();
}

// Checks weight tensor `w` of the model against the graph's float values:
// scales max|w_c| / 127 along `axis` and codes round(w / scale).
void check_weights(const tflite::model& m, const graph& g, std::int32_t w, int axis) {
    const auto& t = m.main().tensors[static_cast<std::size_t>(w)];
    CHECK(t.type == tflite::tensor_type::INT8);
    REQUIRE(t.quantization.has_value());
    const auto values = g.tensor(w).values<float>();
    const auto& s = g.tensor(w).shape;
    const std::size_t channels = axis < 0 ? 1 : static_cast<std::size_t>(s[static_cast<std::size_t>(axis)]);
    std::size_t inner = 1;
    for (std::size_t d = static_cast<std::size_t>(axis < 0 ? 0 : axis) + 1; d < s.size(); ++d) inner *= s[d];
    if (axis < 0) inner = values.size();
    REQUIRE(t.quantization->scale.size() == channels);
    CHECK(t.quantization->quantized_dimension == std::max(axis, 0));
    for (auto z : t.quantization->zero_point) CHECK(z == 0);
    std::vector<float> max_abs(channels, 0.0f);
    for (std::size_t i = 0; i < values.size(); ++i) {
        const std::size_t c = (i / inner) % channels;
        max_abs[c] = std::max(max_abs[c], std::abs(values[i]));
    }
    for (std::size_t c = 0; c < channels; ++c) CHECK(t.quantization->scale[c] == max_abs[c] / 127.0f);
    const auto bytes = m.data_of(t);
    REQUIRE(bytes.size() == values.size());
    for (std::size_t i = 0; i < values.size(); ++i) {
        const float scale = t.quantization->scale[(i / inner) % channels];
        const auto code = static_cast<std::int8_t>(bytes[i]);
        CHECK(code == static_cast<std::int8_t>(std::clamp(std::round(values[i] / scale), -127.0f, 127.0f)));
    }
}

const tflite::op& op_of(const tflite::model& m, B code, int nth = 0) {
    for (const auto& o : m.main().operators)
        if (o.builtin_code == code && nth-- == 0) return o;
    FAIL("no such operator");
    return m.main().operators.front();
}

bool is_hybrid(const tflite::op& o, const tflite::tensor& w) {
    return (o.builtin_code == B::FULLY_CONNECTED || o.builtin_code == B::CONV_2D ||
            o.builtin_code == B::DEPTHWISE_CONV_2D) &&
           w.type == tflite::tensor_type::INT8;
}

// Runs each hybrid op of `m` alone on the float graph's value of its input and
// checks it against the float graph's output with the per-op bound above.
// Returns the largest difference seen.
float check_hybrid_ops_against_float(const tflite::model& m, const graph& g, const float_executor& ref) {
    tflite::executor run(m);
    float worst = 0.0f;
    for (std::size_t i = 0; i < m.main().operators.size(); ++i) {
        const auto& o = m.main().operators[i];
        if (o.inputs.size() < 2 || o.inputs[1] < 0) continue;
        const auto& w = m.main().tensors[static_cast<std::size_t>(o.inputs[1])];
        if (!is_hybrid(o, w)) continue;
        const std::int32_t x = o.inputs[0], y = o.outputs[0];
        const auto xin = ref.values(x);
        run.set_tensor_bytes(x, std::as_bytes(std::span<const float>(xin)));
        run.invoke_operator(i);
        const auto got = run.tensor_data<float>(y);
        const auto want = ref.values(y);
        REQUIRE(got.size() == want.size());
        const auto& q = *w.quantization;
        const auto codes = m.data_of(w);
        const bool depthwise = o.builtin_code == B::DEPTHWISE_CONV_2D;
        const std::size_t channels = static_cast<std::size_t>(depthwise ? w.shape[3] : w.shape[0]);
        const std::size_t k = codes.size() / channels;  // taps per output
        // sum |q| per channel
        std::vector<double> abs_codes(channels, 0.0);
        for (std::size_t e = 0; e < codes.size(); ++e)
            abs_codes[depthwise ? e % channels : e / k] += std::abs(double(static_cast<std::int8_t>(codes[e])));
        // The quantization unit: an FC row, a conv image.
        const std::size_t unit = o.builtin_code == B::FULLY_CONNECTED ? static_cast<std::size_t>(w.shape[1])
                                                                      : xin.size() / static_cast<std::size_t>(g.tensor(x).shape[0]);
        const std::size_t outputs_per_unit = want.size() / (xin.size() / unit);
        for (std::size_t e = 0; e < want.size(); ++e) {
            const std::size_t u = e / outputs_per_unit, c = e % channels;
            float lo = 0.0f, hi = 0.0f, max_abs = 0.0f;
            for (std::size_t j = u * unit; j < (u + 1) * unit; ++j) {
                lo = std::min(lo, xin[j]);
                hi = std::max(hi, xin[j]);
                max_abs = std::max(max_abs, std::abs(xin[j]));
            }
            const double step = (double(hi) - lo) / 255.0;
            const double ws = q.scale.size() == 1 ? q.scale[0] : q.scale[c];
            const double bound = ws / 2 * double(k) * max_abs + step * ws * abs_codes[c] +
                                 1e-5 * (std::abs(double(want[e])) + double(k) * max_abs * ws * 127.0 + 1.0);
            CHECK(std::abs(got[e] - want[e]) <= bound);
            worst = std::max(worst, std::abs(got[e] - want[e]));
        }
    }
    return worst;
}

}  // namespace

TEST_CASE("convert_dynamic_range: dense -> relu -> dense -> softmax") {
    std::mt19937 rng(5);
    const graph g = dense_net(rng);
    const tflite::model m = convert_dynamic_range(g);

    // Structure: weights int8 per channel, biases and activations float, options, versions.
    const auto& fc1 = op_of(m, B::FULLY_CONNECTED, 0);
    const auto& fc2 = op_of(m, B::FULLY_CONNECTED, 1);
    check_weights(m, g, fc1.inputs[1], 0);
    check_weights(m, g, fc2.inputs[1], 0);
    for (const auto* fc : {&fc1, &fc2}) {
        CHECK(fc->options_as<tflite::fully_connected_options>().asymmetric_quantize_inputs);
        CHECK(fc->version == 12);
        CHECK(m.operator_codes[fc->opcode_index].version == 12);
        CHECK(m.main().tensors[static_cast<std::size_t>(fc->inputs[2])].type == tflite::tensor_type::FLOAT32);
    }
    std::size_t int8_tensors = 0;
    for (const auto& t : m.main().tensors) int8_tensors += t.type == tflite::tensor_type::INT8;
    CHECK(int8_tensors == 2);
    CHECK(m.main().tensors[static_cast<std::size_t>(m.main().inputs[0])].type == tflite::tensor_type::FLOAT32);
    CHECK(m.main().tensors[static_cast<std::size_t>(m.main().outputs[0])].type == tflite::tensor_type::FLOAT32);
    CHECK(op_of(m, B::SOFTMAX).version == 1);

    // Per-tensor FC weights: one scale, version 9 (asymmetric inputs).
    const auto pt = convert_dynamic_range(g, {.per_channel = false});
    check_weights(pt, g, op_of(pt, B::FULLY_CONNECTED).inputs[1], -1);
    CHECK(op_of(pt, B::FULLY_CONNECTED).version == 9);

    // Round trip through the file format, then run against the float graph.
    const tflite::model back = tflite::read_model(tflite::write_model(m));
    const auto x = random_floats(rng, 16, 1.0f);
    float_executor ref(g);
    ref.set_input(0, x);
    ref.invoke();
    const float per_op = check_hybrid_ops_against_float(back, g, ref);
    MESSAGE("dense net: largest per-op difference ", per_op);

    tflite::executor run(back);
    run.set_input<float>(0, x);
    run.invoke();
    const auto got = run.output<float>(0);
    const auto want = ref.output(0);
    // End-to-end bound: layer 1 as above on x; layer 2 on qtl's own hidden values h~
    // plus the propagated sum_j |w2^_cj| e1_j; softmax halves the worst logit error.
    const auto& w1 = back.main().tensors[static_cast<std::size_t>(fc1.inputs[1])];
    const auto& w2 = back.main().tensors[static_cast<std::size_t>(fc2.inputs[1])];
    const auto c1 = back.data_of(w1), c2 = back.data_of(w2);
    const std::int32_t hidden = fc2.inputs[0];
    const auto h_qtl = run.tensor_data<float>(hidden);
    for (std::size_t r = 0; r < 2; ++r) {
        float lo = 0, hi = 0, mx = 0;
        double sum_x = 0;  // sum |x_i|: the weight-rounding term is exactly (scale / 2) * sum |x_i| at most
        for (std::size_t i = 0; i < 8; ++i) {
            lo = std::min(lo, x[r * 8 + i]);
            hi = std::max(hi, x[r * 8 + i]);
            mx = std::max(mx, std::abs(x[r * 8 + i]));
            sum_x += std::abs(x[r * 8 + i]);
        }
        std::vector<double> e1(16);
        for (std::size_t j = 0; j < 16; ++j) {
            double aq = 0;
            for (std::size_t i = 0; i < 8; ++i) aq += std::abs(double(static_cast<std::int8_t>(c1[j * 8 + i])));
            const double ws = w1.quantization->scale[j];
            e1[j] = ws / 2 * sum_x + (double(hi) - lo) / 255.0 * ws * aq + 1e-5 * (1.0 + 8 * mx * ws * 127.0);
        }
        float lo2 = 0, hi2 = 0, mx2 = 0;
        double sum_h = 0;
        for (std::size_t j = 0; j < 16; ++j) {
            lo2 = std::min(lo2, h_qtl[r * 16 + j]);
            hi2 = std::max(hi2, h_qtl[r * 16 + j]);
            mx2 = std::max(mx2, std::abs(h_qtl[r * 16 + j]));
            sum_h += std::abs(h_qtl[r * 16 + j]);
        }
        double logit_bound = 0;
        for (std::size_t c = 0; c < 4; ++c) {
            const double ws = w2.quantization->scale[c];
            double aq = 0, propagated = 0;
            for (std::size_t j = 0; j < 16; ++j) {
                const double q = std::abs(double(static_cast<std::int8_t>(c2[c * 16 + j])));
                aq += q;
                propagated += (q + 0.5) * ws * e1[j];  // |w2| <= (|q| + 1/2) * scale
            }
            const double own = ws / 2 * sum_h + (double(hi2) - lo2) / 255.0 * ws * aq + 1e-5 * (1.0 + 16 * mx2 * ws * 127.0);
            logit_bound = std::max(logit_bound, own + propagated);
        }
        for (std::size_t c = 0; c < 4; ++c) CHECK(std::abs(got[r * 4 + c] - want[r * 4 + c]) <= 0.5 * logit_bound + 1e-6);
        MESSAGE("dense net row ", r, ": softmax bound ", 0.5 * logit_bound);
    }
    float end_to_end = 0.0f;
    for (std::size_t i = 0; i < got.size(); ++i) end_to_end = std::max(end_to_end, std::abs(got[i] - want[i]));
    MESSAGE("dense net: end-to-end max |qtl - float| = ", end_to_end);
}

TEST_CASE("convert_dynamic_range: conv -> depthwise -> pool -> reshape -> dense") {
    std::mt19937 rng(11);
    const graph g = conv_net(rng);
    const tflite::model m = convert_dynamic_range(g);
    const auto& conv = op_of(m, B::CONV_2D);
    const auto& dw = op_of(m, B::DEPTHWISE_CONV_2D);
    const auto& fc = op_of(m, B::FULLY_CONNECTED);
    check_weights(m, g, conv.inputs[1], 0);
    check_weights(m, g, dw.inputs[1], 3);
    check_weights(m, g, fc.inputs[1], 0);
    CHECK(conv.version == 5);
    CHECK(dw.version == 6);
    CHECK(fc.version == 12);
    CHECK(op_of(m, B::MAX_POOL_2D).version == 1);
    for (const auto& t : m.main().tensors)
        if (t.type == tflite::tensor_type::INT8) CHECK(t.name.find("/weights") != std::string::npos);

    const tflite::model back = tflite::read_model(tflite::write_model(m));
    const auto x = random_floats(rng, 8 * 8 * 3, 1.0f);
    float_executor ref(g);
    ref.set_input(0, x);
    ref.invoke();
    const float per_op = check_hybrid_ops_against_float(back, g, ref);
    MESSAGE("conv net: largest per-op difference ", per_op);

    for (auto path : {tflite::kernel_path::simd, tflite::kernel_path::reference}) {
        tflite::executor run(back, path);
        run.set_input<float>(0, x);
        run.invoke();
        const auto got = run.output<float>(0);
        const auto want = ref.output(0);
        float end_to_end = 0.0f, scale = 0.0f;
        for (std::size_t i = 0; i < got.size(); ++i) {
            end_to_end = std::max(end_to_end, std::abs(got[i] - want[i]));
            scale = std::max(scale, std::abs(want[i]));
        }
        MESSAGE("conv net: end-to-end max |qtl - float| = ", end_to_end, " (outputs up to ", scale, ")");
        CHECK(end_to_end < 0.05f * scale);  // sanity: three 8-bit layers stay within a few percent
    }
    // Both kernel paths give the same bits.
    tflite::executor a(back, tflite::kernel_path::simd), b(back, tflite::kernel_path::reference);
    a.set_input<float>(0, x);
    b.set_input<float>(0, x);
    a.invoke();
    b.invoke();
    const auto ya = a.output<float>(0), yb = b.output<float>(0);
    CHECK(std::equal(ya.begin(), ya.end(), yb.begin()));
}

TEST_CASE("convert_dynamic_range: shared weights, small weights, nothing to quantize") {
    std::mt19937 rng(3);
    {
        // A graph without weighted ops is refused.
        graph_builder b;
        auto x = b.input("x", {1, 4});
        b.output(b.softmax(b.relu(x)));
        const graph g = std::move(b).build();
        CHECK_THROWS_WITH_AS(convert_dynamic_range(g), doctest::Contains("nothing to quantize in dynamic-range mode"),
                             error);
    }
    {
        // min_weight_elements keeps small weights float; with all below it: refused.
        const graph g = dense_net(rng);
        CHECK_THROWS_AS(convert_dynamic_range(g, {.min_weight_elements = 1024}), error);
        const auto m = convert_dynamic_range(g, {.min_weight_elements = 100});  // 128 elements yes, 64 no
        CHECK(m.main().tensors[static_cast<std::size_t>(op_of(m, B::FULLY_CONNECTED, 0).inputs[1])].type ==
              tflite::tensor_type::INT8);
        CHECK(m.main().tensors[static_cast<std::size_t>(op_of(m, B::FULLY_CONNECTED, 1).inputs[1])].type ==
              tflite::tensor_type::FLOAT32);
        CHECK(op_of(m, B::FULLY_CONNECTED, 1).version == 1);
        tflite::executor run(m);  // a float FC and a hybrid one in one model
        const auto x = random_floats(rng, 16, 1.0f);
        run.set_input<float>(0, x);
        run.invoke();
        float sum = 0;
        for (float p : run.output<float>(0)) sum += p;
        CHECK(sum == doctest::Approx(2.0f).epsilon(1e-5));  // two softmax rows
    }
    {
        // Weights also read by an ADD keep their float tensor; the FC reads an int8 copy.
        graph g;
        const auto w = random_floats(rng, 4 * 4, 0.5f);
        const auto x = g.add_activation("x", {4, 4});
        const auto wt = g.add_constant("w", {4, 4}, std::span<const float>(w));
        const auto y = g.add_activation("y", {4, 4});
        const auto z = g.add_activation("z", {4, 4});
        g.inputs = {x};
        g.add_node(B::FULLY_CONNECTED, tflite::fully_connected_options{}, {x, wt, -1}, {y});
        g.add_node(B::ADD, tflite::add_options{}, {y, wt}, {z});
        g.outputs = {z};
        const auto m = convert_dynamic_range(g);
        const auto& fc = op_of(m, B::FULLY_CONNECTED);
        CHECK(fc.inputs[1] != wt);
        CHECK(m.main().tensors[static_cast<std::size_t>(fc.inputs[1])].type == tflite::tensor_type::INT8);
        CHECK(m.main().tensors[static_cast<std::size_t>(wt)].type == tflite::tensor_type::FLOAT32);
        CHECK(op_of(m, B::ADD).inputs[1] == wt);
        tflite::executor run(m);
        const auto xv = random_floats(rng, 16, 1.0f);
        run.set_input<float>(0, xv);
        run.invoke();
        float_executor ref(g);
        ref.set_input(0, xv);
        ref.invoke();
        const auto got = run.output<float>(0);
        for (std::size_t i = 0; i < got.size(); ++i) CHECK(std::abs(got[i] - ref.output(0)[i]) < 0.1f);
    }
}

// ---- int4 block-wise FULLY_CONNECTED weights (options.block_size) ------------
// Expected scales are recomputed here with frexp (8 significant bits, the
// bfloat16 precision the converter rounds to; ties do not occur with random
// weights), codes as round(w / scale) clamped to [-7, 7].  The executor is
// checked against the float graph with the weights' error removed: the
// graph run again with the dequantized weights (codes * scale), leaving only
// the input quantization: |y - y_deq| <= step * sum_i |w^_i| per output,
// step = (max(x, 0) - min(x, 0)) / 255 of its row (each input code off by at
// most one step), plus float rounding.

namespace {

float bf16_nearest(float v) {
    int e = 0;
    const float m = std::frexp(v, &e);  // v = m * 2^e, m in [0.5, 1)
    return std::ldexp(std::round(m * 256.0f) / 256.0f, e);
}

graph blockwise_mlp(std::mt19937& rng, fused_activation first = fused_activation::relu) {
    graph_builder b;
    auto x = b.input("x", {3, 64});
    const auto w1 = random_floats(rng, 32 * 64, 0.4f), b1 = random_floats(rng, 32, 0.1f);
    const auto w2 = random_floats(rng, 4 * 32, 0.4f), b2 = random_floats(rng, 4, 0.1f);
    auto h = b.fully_connected(x, "dense1", w1, {32, 64}, b1, first);
    b.output(b.fully_connected(h, "dense2", w2, {4, 32}, b2));
    return std::move(b).build();
}

// The codes (unpacked) and scales of block-wise tensor `w`, checked against the graph's floats.
std::vector<float> check_blockwise_weights(const tflite::model& m, const graph& g, std::int32_t model_w,
                                           std::int32_t graph_w, int block) {
    const auto& t = m.main().tensors[static_cast<std::size_t>(model_w)];
    CHECK(t.type == tflite::tensor_type::INT4);
    REQUIRE(t.quantization.has_value());
    REQUIRE(t.quantization->blockwise.has_value());
    CHECK(t.quantization->blockwise->block_size == block);
    CHECK(t.quantization->blockwise->zero_points == -1);
    const auto& st = m.main().tensors[static_cast<std::size_t>(t.quantization->blockwise->scales)];
    CHECK(st.type == tflite::tensor_type::FLOAT16);
    const auto values = g.tensor(graph_w).values<float>();
    const std::size_t outputs = static_cast<std::size_t>(t.shape[0]), inputs = static_cast<std::size_t>(t.shape[1]);
    const std::size_t blocks = inputs / static_cast<std::size_t>(block);
    CHECK(st.shape == qtl::shape{static_cast<std::int32_t>(outputs), static_cast<std::int32_t>(blocks)});
    const auto& scales = t.quantization->params.scales;
    REQUIRE(scales.size() == outputs * blocks);
    const auto codes = unpack_int4(m.data_of(t), values.size());
    std::vector<float> dequantized(values.size());
    for (std::size_t o = 0; o < outputs; ++o)
        for (std::size_t b = 0; b < blocks; ++b) {
            float max_abs = 0.0f;
            for (std::size_t k = 0; k < static_cast<std::size_t>(block); ++k)
                max_abs = std::max(max_abs, std::abs(values[o * inputs + b * block + k]));
            const float s = bf16_nearest(max_abs / 7.0f);
            CHECK(scales[o * blocks + b] == s);
            for (std::size_t k = 0; k < static_cast<std::size_t>(block); ++k) {
                const std::size_t i = o * inputs + b * block + k;
                CHECK(codes[i] == static_cast<std::int8_t>(std::clamp(std::round(values[i] / s), -7.0f, 7.0f)));
                dequantized[i] = static_cast<float>(codes[i]) * s;
            }
        }
    return dequantized;
}

}  // namespace

TEST_CASE("convert_dynamic_range: int4 block-wise FULLY_CONNECTED weights") {
    std::mt19937 rng(31);
    const graph g = blockwise_mlp(rng);
    const auto m = convert_dynamic_range(g, {.block_size = 32});
    const auto& sg = m.main();

    // FULLY_CONNECTED (fused ReLU taken out), RELU, FULLY_CONNECTED.
    REQUIRE(sg.operators.size() == 3);
    CHECK(sg.operators[0].builtin_code == B::FULLY_CONNECTED);
    CHECK(sg.operators[1].builtin_code == B::RELU);
    CHECK(sg.operators[2].builtin_code == B::FULLY_CONNECTED);
    CHECK(sg.operators[1].outputs[0] == sg.operators[2].inputs[0]);
    CHECK(sg.operators[0].outputs[0] == sg.operators[1].inputs[0]);
    for (std::size_t i : {std::size_t{0}, std::size_t{2}}) {
        const auto& opt = sg.operators[i].options_as<tflite::fully_connected_options>();
        CHECK(opt.fused_activation_function == tflite::activation_function_type::NONE);
        CHECK(opt.asymmetric_quantize_inputs);
        CHECK(sg.operators[i].version == 1);  // TFLite's op_version: float/int4/float with a bias and default options
        CHECK(sg.tensors[static_cast<std::size_t>(sg.operators[i].inputs[2])].type == tflite::tensor_type::FLOAT32);
    }

    // The weights, and the graph with them dequantized.
    graph deq = g;
    for (std::size_t n = 0; n < g.nodes.size(); ++n) {
        const std::int32_t w = g.nodes[n].inputs[1];
        const std::size_t op = n == 0 ? 0 : 2;
        const auto values = check_blockwise_weights(m, g, sg.operators[op].inputs[1], w, 32);
        deq.tensor(w).set_values<float>(std::span<const float>(values));
    }

    // Round trip, then qtl's executor against the dequantized float graph, layer by layer.
    const auto bytes = tflite::write_model(m);
    const auto back = tflite::read_model(std::span<const std::uint8_t>(bytes));
    tflite::executor run(back);
    const auto x = random_floats(rng, 3 * 64, 1.0f);
    run.set_input<float>(0, x);
    run.invoke();
    float_executor ref(deq);
    ref.set_input(0, x);
    ref.invoke();
    for (std::size_t op : {std::size_t{0}, std::size_t{2}}) {
        const auto& o = back.main().operators[op];
        const std::int32_t xin = o.inputs[0], y = o.outputs[0];
        // Feed the layer the float graph's input so that only this layer's error counts.
        const auto graph_in = ref.values(op == 0 ? g.inputs[0] : g.nodes[1].inputs[0]);
        run.set_tensor_bytes(xin, std::as_bytes(std::span<const float>(graph_in)));
        run.invoke_operator(op);
        const auto got = run.tensor_data<float>(y);
        // The float graph's pre-activation output of this layer: ReLU of it for layer 0 is compared below.
        const auto& w = back.main().tensors[static_cast<std::size_t>(o.inputs[1])];
        const std::size_t outputs = static_cast<std::size_t>(w.shape[0]), inputs = static_cast<std::size_t>(w.shape[1]);
        const auto wdeq = deq.tensor(g.nodes[op == 0 ? 0 : 1].inputs[1]).values<float>();
        const auto bias = deq.tensor(g.nodes[op == 0 ? 0 : 1].inputs[2]).values<float>();
        REQUIRE(got.size() == 3 * outputs);
        for (std::size_t r = 0; r < 3; ++r) {
            float lo = 0.0f, hi = 0.0f;
            for (std::size_t i = 0; i < inputs; ++i) {
                lo = std::min(lo, graph_in[r * inputs + i]);
                hi = std::max(hi, graph_in[r * inputs + i]);
            }
            const double step = (double(hi) - lo) / 255.0;
            for (std::size_t c = 0; c < outputs; ++c) {
                double want = bias[c], abs_w = 0.0;
                for (std::size_t i = 0; i < inputs; ++i) {
                    want += double(graph_in[r * inputs + i]) * wdeq[c * inputs + i];
                    abs_w += std::abs(double(wdeq[c * inputs + i]));
                }
                CHECK(std::abs(got[r * outputs + c] - want) <= step * abs_w + 1e-5 * (std::abs(want) + abs_w + 1.0));
            }
        }
    }
    // The reference kernel path gives the same bits.
    tflite::executor scalar(back, tflite::kernel_path::reference);
    scalar.set_input<float>(0, x);
    scalar.invoke();
    run.set_input<float>(0, x);  // `run` was fed layer inputs above: rerun it whole
    run.invoke();
    const auto simd_out = run.output<float>(0);
    const auto s_out = scalar.output<float>(0);
    CHECK(std::equal(s_out.begin(), s_out.end(), simd_out.begin(), simd_out.end()));
    // A FLOAT32 scale tensor (which TFLite's kernel misreads as binary16) is refused by the executor.
    {
        tflite::model f32 = back;
        auto& tensors = f32.subgraphs[0].tensors;
        auto& w0 = tensors[static_cast<std::size_t>(f32.main().operators[0].inputs[1])];
        auto& st = tensors[static_cast<std::size_t>(w0.quantization->blockwise->scales)];
        const auto& values = w0.quantization->params.scales;
        st.type = tflite::tensor_type::FLOAT32;
        auto& data = f32.buffers[st.buffer].data;
        data.resize(values.size() * 4);
        std::memcpy(data.data(), values.data(), data.size());
        CHECK_THROWS_WITH_AS(tflite::executor{f32}, doctest::Contains("reads them as FLOAT16"), qtl::error);
    }
    // End to end the model's output equals the executor run on the written model (deterministic).
    tflite::executor again(m);
    again.set_input<float>(0, x);
    again.invoke();
    tflite::executor once_more(back);
    once_more.set_input<float>(0, x);
    once_more.invoke();
    const auto a = again.output<float>(0), b = once_more.output<float>(0);
    CHECK(std::equal(a.begin(), a.end(), b.begin(), b.end()));
}

TEST_CASE("convert_dynamic_range: block-wise keeps CONV_2D / DEPTHWISE_CONV_2D int8 per channel") {
    std::mt19937 rng(5);
    const graph g = conv_net(rng);  // its FULLY_CONNECTED is [5, 128]: O >= 4, I = 128
    const auto m = convert_dynamic_range(g, {.block_size = 64});
    const auto& t = m.main().tensors;
    CHECK(t[static_cast<std::size_t>(op_of(m, B::CONV_2D).inputs[1])].type == tflite::tensor_type::INT8);
    CHECK(t[static_cast<std::size_t>(op_of(m, B::DEPTHWISE_CONV_2D).inputs[1])].type == tflite::tensor_type::INT8);
    check_weights(m, g, op_of(m, B::CONV_2D).inputs[1], 0);
    const auto& fc = op_of(m, B::FULLY_CONNECTED);
    check_blockwise_weights(m, g, fc.inputs[1], g.nodes.back().inputs[1], 64);
    // The conv's fused ReLU stays fused (only block-wise FULLY_CONNECTED ops lose theirs).
    CHECK(op_of(m, B::CONV_2D).options_as<tflite::conv_2d_options>().fused_activation_function ==
          tflite::activation_function_type::RELU);
    tflite::executor run(tflite::read_model(std::span<const std::uint8_t>(tflite::write_model(m))));
    run.set_input<float>(0, random_floats(rng, g.tensor(g.inputs[0]).size(), 1.0f));
    run.invoke();
    for (float v : run.output<float>(0)) CHECK(std::isfinite(v));
}

TEST_CASE("convert_dynamic_range: block-wise refusals name the layer and the rule") {
    std::mt19937 rng(8);
    const graph g = blockwise_mlp(rng);
    const auto refused = [&](const graph& gr, std::int32_t block, const char* text) {
        CHECK_THROWS_WITH_AS(convert_dynamic_range(gr, {.block_size = block}), doctest::Contains(text), qtl::error);
    };
    refused(g, 24, "I = 64 is not a multiple of block size 24 (even block sizes that divide it, up to 256: 2, 4, 8, "
                   "16, 32, 64)");
    refused(g, 7, "odd");
    refused(g, -2, "block_size is -2");
    // dense2 is [4, 32]; a [2, 64] layer is too small for TFLite's block-wise kernel.
    graph_builder b;
    auto x = b.input("x", {1, 64});
    const auto w = random_floats(rng, 2 * 64, 0.3f);
    b.output(b.fully_connected(x, "tiny", w, {2, 64}));
    const graph small = std::move(b).build();
    refused(small, 32, "FULLY_CONNECTED 'tiny'");
    refused(small, 32, "O >= 4 and I >= 32");
    // A fused activation TFLite's block-wise kernel cannot be followed by.
    const graph tanh_net = blockwise_mlp(rng, fused_activation::tanh);
    refused(tanh_net, 32, "TANH");
    // With min_weight_elements above the small layer's size, only the big ones are block-wise.
    std::mt19937 rng2(8);
    const graph mixed = [&] {
        graph_builder bb;
        auto xx = bb.input("x", {1, 64});
        const auto w1 = random_floats(rng2, 32 * 64, 0.3f), w2 = random_floats(rng2, 2 * 32, 0.3f);
        auto hh = bb.fully_connected(xx, "big", w1, {32, 64});
        bb.output(bb.fully_connected(hh, "small", w2, {2, 32}));
        return std::move(bb).build();
    }();
    const auto m = convert_dynamic_range(mixed, {.min_weight_elements = 100, .block_size = 32});
    const auto& t = m.main().tensors;
    CHECK(t[static_cast<std::size_t>(m.main().operators[0].inputs[1])].type == tflite::tensor_type::INT4);
    CHECK(t[static_cast<std::size_t>(m.main().operators[1].inputs[1])].type == tflite::tensor_type::FLOAT32);
}
