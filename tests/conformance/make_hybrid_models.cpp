// make_hybrid_models: writes the dynamic-range ("hybrid") models that
// tests/conformance/hybrid_models.mjs runs in qtl (tools/qtl-run) and LiteRT,
// each as DIR/<name>.tflite with a float input DIR/<name>_input_<k>.npy.
// Built and run only by that script (it is not part of the CMake build).
//
//   make_hybrid_models DIR
//
// The models (weights from a fixed seed; convert_dynamic_range()):
//   dense        dense(8->16) -> relu -> dense(16->4) -> softmax, batch 2, per-channel FC (v12)
//   dense_pt     the same with per-tensor FC weights (v9)
//   conv         conv 3x3 SAME relu -> depthwise 3x3 (x2) -> max pool -> reshape -> dense
//   conv_stride  conv 3x3/2 VALID -> depthwise 3x3 dilation 2 SAME relu6 -> average pool -> dense
//   float_dense  the dense graph with nothing quantized (graph_to_tflite): the float executor path
//   dense_bw32   dense(64->32, fused relu) -> dense(32->10), batch 3, int4 block-wise weights, blocks of 32
//                (LiteRT: XNNPACK's qd8-f32-qb4w kernels)
//   dense_bw64   dense(192->64) -> relu6 -> dense(64->16, fused relu6), batch 2, blocks of 64 (XNNPACK)
//   dense_bw16   dense(48->8, fused relu), batch 2, blocks of 16 (LiteRT: TFLite's own block-wise kernel,
//                XNNPACK takes only multiples of 32)
#include <qtl/graph/builder.hpp>
#include <qtl/graph/convert_dynamic_range.hpp>
#include <qtl/graph/to_tflite.hpp>
#include <qtl/io/npy.hpp>
#include <qtl/io/tflite/writer.hpp>

#include <cmath>
#include <filesystem>
#include <iostream>
#include <random>
#include <string>
#include <vector>

namespace {

std::mt19937 rng(2024);

std::vector<float> normal(std::size_t n, float sd, float mean = 0.0f) {
    std::normal_distribution<float> d(mean, sd);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

qtl::graph dense() {
    qtl::graph_builder b;
    auto x = b.input("x", {2, 8});
    const auto w1 = normal(16 * 8, 0.5f), b1 = normal(16, 0.1f), w2 = normal(4 * 16, 0.5f), b2 = normal(4, 0.1f);
    auto h = b.relu(b.fully_connected(x, "dense1", w1, {16, 8}, b1));
    b.output(b.softmax(b.fully_connected(h, "dense2", w2, {4, 16}, b2)));
    return std::move(b).build();
}

qtl::graph conv() {
    qtl::graph_builder b;
    auto x = b.input("image", {1, 12, 12, 3});
    const auto f1 = normal(8 * 3 * 3 * 3, 0.3f), b1 = normal(8, 0.1f);
    const auto f2 = normal(3 * 3 * 16, 0.3f), b2 = normal(16, 0.1f);
    const auto w3 = normal(10 * 6 * 6 * 16, 0.1f), b3 = normal(10, 0.1f);
    auto c = b.conv_2d(x, "conv", f1, {8, 3, 3, 3}, b1,
                       {.padding = qtl::tflite::padding::SAME, .activation = qtl::fused_activation::relu});
    auto d = b.depthwise_conv_2d(c, "dw", f2, {1, 3, 3, 16}, b2, {.padding = qtl::tflite::padding::SAME});
    auto p = b.max_pool_2d(d, {.filter = 2});
    b.output(b.fully_connected(b.reshape(p, {1, 6 * 6 * 16}), "dense", w3, {10, 6 * 6 * 16}, b3));
    return std::move(b).build();
}

qtl::graph conv_stride() {
    qtl::graph_builder b;
    auto x = b.input("image", {2, 11, 11, 4});
    const auto f1 = normal(6 * 3 * 3 * 4, 0.3f), b1 = normal(6, 0.1f);
    const auto f2 = normal(3 * 3 * 6, 0.3f), b2 = normal(6, 0.1f);
    const auto w3 = normal(3 * 2 * 2 * 6, 0.2f), b3 = normal(3, 0.1f);
    auto c = b.conv_2d(x, "conv", f1, {6, 3, 3, 4}, b1, {.stride = 2});
    auto d = b.depthwise_conv_2d(c, "dw", f2, {1, 3, 3, 6}, b2,
                                 {.dilation = 2, .padding = qtl::tflite::padding::SAME,
                                  .activation = qtl::fused_activation::relu6});
    auto p = b.average_pool_2d(d, {.filter = 2});
    b.output(b.fully_connected(b.reshape(p, {2, 2 * 2 * 6}), "dense", w3, {3, 2 * 2 * 6}, b3));
    return std::move(b).build();
}

// An MLP of FULLY_CONNECTED layers (sizes[0] inputs, then one layer per
// following size), fused activations as given, for block-wise weights.
qtl::graph mlp(int batch, const std::vector<int>& sizes, const std::vector<qtl::fused_activation>& fused,
               bool relu6_between = false) {
    qtl::graph_builder b;
    auto h = b.input("x", {batch, sizes[0]});
    for (std::size_t l = 1; l < sizes.size(); ++l) {
        // sd 1.5 / sqrt(fan-in): outputs of order 1, so that RELU6 saturates only some of them
        const float sd = 1.5f / std::sqrt(static_cast<float>(sizes[l - 1]));
        const auto w = normal(static_cast<std::size_t>(sizes[l] * sizes[l - 1]), sd);
        const auto bias = normal(static_cast<std::size_t>(sizes[l]), 0.1f);
        h = b.fully_connected(h, "dense" + std::to_string(l), w, {sizes[l], sizes[l - 1]}, bias, fused[l - 1]);
        if (relu6_between && l + 1 < sizes.size()) h = b.relu6(h);
    }
    b.output(h);
    return std::move(b).build();
}

void write(const std::filesystem::path& dir, const std::string& name, const qtl::tflite::model& m,
           const qtl::graph& g, int samples) {
    qtl::tflite::write_model(m, dir / (name + ".tflite"));
    const auto& in = g.tensor(g.inputs[0]);
    for (int k = 0; k < samples; ++k) {
        // Inputs centred away from 0 on odd samples: asymmetric ranges get exercised.
        const auto values = normal(in.size(), 1.0f, k % 2 ? 0.7f : 0.0f);
        qtl::npy::write_file((dir / (name + "_input_" + std::to_string(k) + ".npy")).string(),
                             qtl::npy::make_array<float>(values, in.shape));
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: make_hybrid_models DIR\n";
        return 2;
    }
    try {
        const std::filesystem::path dir = argv[1];
        std::filesystem::create_directories(dir);
        constexpr int samples = 4;
        const auto d = dense();
        write(dir, "dense", qtl::convert_dynamic_range(d), d, samples);
        write(dir, "dense_pt", qtl::convert_dynamic_range(d, {.per_channel = false}), d, samples);
        write(dir, "float_dense", qtl::graph_to_tflite(d), d, samples);
        const auto c = conv();
        write(dir, "conv", qtl::convert_dynamic_range(c), c, samples);
        const auto s = conv_stride();
        write(dir, "conv_stride", qtl::convert_dynamic_range(s), s, samples);
        using act = qtl::fused_activation;
        const auto bw32 = mlp(3, {64, 32, 10}, {act::relu, act::none});
        write(dir, "dense_bw32", qtl::convert_dynamic_range(bw32, {.block_size = 32}), bw32, samples);
        const auto bw64 = mlp(2, {192, 64, 16}, {act::none, act::relu6}, true);
        write(dir, "dense_bw64", qtl::convert_dynamic_range(bw64, {.block_size = 64}), bw64, samples);
        const auto bw16 = mlp(2, {48, 8}, {act::relu});
        write(dir, "dense_bw16", qtl::convert_dynamic_range(bw16, {.block_size = 16}), bw16, samples);
        std::cout << "make_hybrid_models: wrote 8 models to " << dir << "\n";
    } catch (const std::exception& e) {
        std::cerr << "make_hybrid_models: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
