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
#include <qtl/graph/builder.hpp>
#include <qtl/graph/convert_dynamic_range.hpp>
#include <qtl/graph/to_tflite.hpp>
#include <qtl/io/npy.hpp>
#include <qtl/io/tflite/writer.hpp>

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
        std::cout << "make_hybrid_models: wrote 5 models to " << dir << "\n";
    } catch (const std::exception& e) {
        std::cerr << "make_hybrid_models: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
