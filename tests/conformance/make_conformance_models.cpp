// qtl-make-conformance-models: writes the models of the converter conformance
// matrix (tests/conformance/compare_converted_models.mjs runs each of them in
// LiteRT and in qtl-run and compares the outputs).
//
//   qtl-make-conformance-models OUT_DIR [--only SUBSTRING]
//
// For every case: OUT_DIR/CASE.tflite (a float graph built with
// qtl::graph_builder, calibrated on 32 random samples and converted with
// qtl::convert), OUT_DIR/CASE_input<k>.npy (one more sample from the same
// distribution, in the model's input type) and one line of
// OUT_DIR/manifest.jsonl saying what the case covers.  Combinations TFLite
// does not define are listed in the manifest as skipped, with the reason.
// Everything is drawn from a generator seeded by the case name, so a case's
// files do not depend on which other cases exist.
#include <qtl/graph/builder.hpp>
#include <qtl/graph/calibrate.hpp>
#include <qtl/graph/convert.hpp>
#include <qtl/io/npy.hpp>
#include <qtl/io/tflite/writer.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace {

// splitmix64: tiny, and the same numbers on every platform (std's
// distributions are not specified bit for bit).
class rng {
public:
    explicit rng(const std::string& seed) {
        for (unsigned char c : seed) state_ = (state_ ^ c) * 0x100000001b3ull;  // FNV-1a of the name
    }
    std::uint64_t next() {
        std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    float uniform(float lo, float hi) {
        const double u = static_cast<double>(next() >> 11) / 9007199254740992.0;  // [0, 1)
        return static_cast<float>(lo + (hi - lo) * u);
    }

private:
    std::uint64_t state_ = 0xcbf29ce484222325ull;
};

struct input_range {
    float lo = -1.5f, hi = 2.5f;  // asymmetric on purpose: non-zero zero points
};

using B = qtl::graph_builder;
using T = qtl::graph_builder::tensor;

struct case_spec {
    std::string name;
    std::string op;         // the op under test, or NET for the multi-op nets
    std::string variant;    // what the case exercises beyond the op
    std::string shape;      // input shape(s), for the manifest
    bool weighted = false;  // the weight format matters
    qtl::layer_scheme scheme;
    qtl::io_type io = qtl::io_type::native;
    std::vector<input_range> ranges;  // one per graph input
    std::function<qtl::graph(rng&)> build;
    std::string skip;  // non-empty: not generated, and why
};

std::string shape_text(const qtl::shape& s) {
    std::string t = "[";
    for (std::size_t i = 0; i < s.size(); ++i) t += (i ? "," : "") + std::to_string(s[i]);
    return t + "]";
}

std::size_t count(const qtl::shape& s) {
    std::size_t n = 1;
    for (auto d : s) n *= static_cast<std::size_t>(d);
    return n;
}

// Weights of a layer with `channels` output channels along `axis` (0 or the
// last) of shape `s`: uniform, scaled by fan-in, and a different magnitude per
// channel so per-channel and per-tensor scales differ.
std::vector<float> weights(rng& r, const qtl::shape& s, int axis, std::size_t fan_in) {
    const std::size_t n = count(s);
    const auto channels = static_cast<std::size_t>(s[static_cast<std::size_t>(axis)]);
    std::vector<float> gain(channels);
    for (auto& g : gain) g = r.uniform(0.25f, 2.0f);
    const std::size_t inner = axis == 0 ? n / channels : 1;
    std::vector<float> w(n);
    const float bound = 1.0f / std::sqrt(static_cast<float>(fan_in));
    for (std::size_t i = 0; i < n; ++i) {
        const std::size_t c = axis == 0 ? i / inner : i % channels;
        w[i] = gain[c] * r.uniform(-bound, bound);
    }
    return w;
}

std::vector<float> bias(rng& r, std::size_t n) {
    std::vector<float> b(n);
    for (auto& x : b) x = r.uniform(-0.3f, 0.3f);
    return b;
}

// ---- the graphs ---------------------------------------------------------------------

qtl::graph fc_graph(rng& r, const qtl::shape& in, std::int32_t out) {
    B b;
    auto x = b.input("x", in);
    const std::int32_t features = in.back();
    auto w = weights(r, {out, features}, 0, static_cast<std::size_t>(features));
    auto bi = bias(r, static_cast<std::size_t>(out));
    b.output(b.fully_connected(x, "fc", w, {out, features}, bi));
    return std::move(b).build();
}

qtl::graph conv_graph(rng& r, const qtl::shape& in, std::int32_t out, std::int32_t k, const qtl::conv_2d_params& p) {
    B b;
    auto x = b.input("x", in);
    const qtl::shape fs{out, k, k, in[3]};
    auto w = weights(r, fs, 0, static_cast<std::size_t>(k * k * in[3]));
    auto bi = bias(r, static_cast<std::size_t>(out));
    b.output(b.conv_2d(x, "conv", w, fs, bi, p));
    return std::move(b).build();
}

qtl::graph depthwise_graph(rng& r, const qtl::shape& in, std::int32_t multiplier, std::int32_t k,
                           const qtl::conv_2d_params& p) {
    B b;
    auto x = b.input("x", in);
    const qtl::shape fs{1, k, k, in[3] * multiplier};
    auto w = weights(r, fs, 3, static_cast<std::size_t>(k * k));
    auto bi = bias(r, static_cast<std::size_t>(fs[3]));
    b.output(b.depthwise_conv_2d(x, "dw", w, fs, bi, p));
    return std::move(b).build();
}

qtl::graph unary_graph(const qtl::shape& in, const std::function<T(B&, T)>& f) {
    B b;
    auto x = b.input("x", in);
    b.output(f(b, x));
    return std::move(b).build();
}

qtl::graph binary_graph(const qtl::shape& a, const qtl::shape& c, const std::function<T(B&, T, T)>& f) {
    B b;
    auto x = b.input("a", a);
    auto y = b.input("b", c);
    b.output(f(b, x, y));
    return std::move(b).build();
}

// STRIDED_SLICE is not in the builder: built on the graph directly.
qtl::graph strided_slice_graph(const qtl::shape& in, std::vector<std::int32_t> begin, std::vector<std::int32_t> end,
                               std::vector<std::int32_t> strides) {
    qtl::graph g;
    const auto x = g.add_activation("x", in);
    g.inputs.push_back(x);
    qtl::shape out;
    for (std::size_t d = 0; d < in.size(); ++d) out.push_back((end[d] - begin[d] + strides[d] - 1) / strides[d]);
    const qtl::shape rank{static_cast<std::int32_t>(in.size())};
    const auto cb = g.add_constant("begin", rank, std::span<const std::int32_t>(begin));
    const auto ce = g.add_constant("end", rank, std::span<const std::int32_t>(end));
    const auto cs = g.add_constant("strides", rank, std::span<const std::int32_t>(strides));
    const auto y = g.add_activation("strided_slice", out);
    g.add_node(qtl::tflite::builtin_operator::STRIDED_SLICE, qtl::tflite::strided_slice_options{}, {x, cb, ce, cs},
               {y}, "strided_slice");
    g.outputs.push_back(y);
    g.validate();
    return g;
}

// conv -> relu -> max pool -> reshape -> fc -> softmax
qtl::graph classifier_net(rng& r) {
    B b;
    auto x = b.input("image", {1, 8, 8, 3});
    const qtl::shape cs{6, 3, 3, 3};
    auto cw = weights(r, cs, 0, 27);
    auto cb = bias(r, 6);
    auto c = b.conv_2d(x, "conv", cw, cs, cb, {.padding = qtl::tflite::padding::SAME});
    auto p = b.max_pool_2d(b.relu(c), {.filter = 2});
    auto f = b.flatten(p);
    auto fw = weights(r, {10, 96}, 0, 96);
    auto fb = bias(r, 10);
    b.output(b.softmax(b.fully_connected(f, "fc", fw, {10, 96}, fb)));
    return std::move(b).build();
}

// x + relu(conv(x)): a residual branch joined by ADD.
qtl::graph residual_net(rng& r) {
    B b;
    auto x = b.input("x", {1, 6, 6, 4});
    const qtl::shape cs{4, 3, 3, 4};
    auto w = weights(r, cs, 0, 36);
    auto bi = bias(r, 4);
    auto c = b.conv_2d(x, "conv", w, cs, bi, {.padding = qtl::tflite::padding::SAME});
    b.output(b.add(x, b.relu(c)));
    return std::move(b).build();
}

// conv -> hard_swish -> conv: in 16x8 mode the converter keeps HARD_SWISH at
// int8 (TFLite has no int16 kernel), so int16 <-> int8 boundaries appear.
qtl::graph hard_swish_net(rng& r) {
    B b;
    auto x = b.input("x", {1, 6, 6, 4});
    const qtl::shape cs{4, 3, 3, 4};
    auto w1 = weights(r, cs, 0, 36);
    auto b1 = bias(r, 4);
    auto w2 = weights(r, cs, 0, 36);
    auto b2 = bias(r, 4);
    auto c = b.conv_2d(x, "conv1", w1, cs, b1, {.padding = qtl::tflite::padding::SAME});
    b.output(b.conv_2d(b.hard_swish(c), "conv2", w2, cs, b2, {.padding = qtl::tflite::padding::SAME}));
    return std::move(b).build();
}

// concat(logistic(x), tanh(x)): two fixed output scales meet, so the converter
// must insert a requantizing QUANTIZE.
qtl::graph logistic_tanh_concat_net() {
    B b;
    auto x = b.input("x", {1, 4, 5, 3});
    b.output(b.concatenation({b.logistic(x), b.tanh(x)}, 3));
    return std::move(b).build();
}

// ---- the matrix ---------------------------------------------------------------------

struct scheme_choice {
    std::string label;  // for names: a8w8c, a16w8c, ...
    std::string activations, weights;
    qtl::layer_scheme s;
};

std::vector<scheme_choice> schemes(bool weighted) {
    using qtl::activation_precision;
    using qtl::weight_granularity;
    auto make = [](activation_precision a, int bits, weight_granularity g) {
        qtl::layer_scheme s;
        s.activations = a;
        s.weights.bits = bits;
        s.weights.granularity = g;
        return s;
    };
    if (!weighted)
        return {{"a8", "int8", "-", make(activation_precision::int8, 8, weight_granularity::per_channel)},
                {"a16", "16x8", "-", make(activation_precision::int16, 8, weight_granularity::per_channel)}};
    std::vector<scheme_choice> out;
    for (auto [act, alabel, aname] : {std::tuple{activation_precision::int8, "a8", "int8"},
                                      std::tuple{activation_precision::int16, "a16", "16x8"}}) {
        out.push_back({std::string(alabel) + "_w8c", aname, "int8 per-channel", make(act, 8, weight_granularity::per_channel)});
        out.push_back({std::string(alabel) + "_w8t", aname, "int8 per-tensor", make(act, 8, weight_granularity::per_tensor)});
        out.push_back({std::string(alabel) + "_w4c", aname, "int4 per-channel", make(act, 4, weight_granularity::per_channel)});
    }
    return out;
}

std::string io_name(qtl::io_type io) {
    switch (io) {
        case qtl::io_type::native: return "native";
        case qtl::io_type::int8: return "int8";
        case qtl::io_type::uint8: return "uint8";
        case qtl::io_type::int16: return "int16";
        case qtl::io_type::float32: return "float32";
    }
    return "?";
}

struct matrix {
    std::vector<case_spec> cases;
    std::vector<std::pair<std::string, std::string>> scheme_names;  // case -> (activations, weights)

    // One case per scheme of the op (three weight formats x two activation
    // types for weighted ops, two activation types otherwise).
    void add(const std::string& op, const std::string& variant, const std::string& shape, bool weighted,
             std::vector<input_range> ranges, std::function<qtl::graph(rng&)> build) {
        for (const auto& sc : schemes(weighted)) {
            case_spec c;
            c.name = op + "_" + variant + "_" + sc.label;
            for (auto& ch : c.name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
            c.op = op;
            c.variant = variant;
            c.shape = shape;
            c.weighted = weighted;
            c.scheme = sc.s;
            c.ranges = ranges;
            c.build = build;
            if (sc.s.activations == qtl::activation_precision::int16 && sc.s.weights.bits == 4)
                c.skip = "16x8 mode has int8 weights: TFLite defines no int16-activation kernel with int4 weights";
            cases.push_back(std::move(c));
            scheme_names.push_back({sc.activations, sc.weights});
        }
    }
    void add_io(const std::string& op, const std::string& variant, const std::string& shape, qtl::io_type io,
                bool int16, std::vector<input_range> ranges, std::function<qtl::graph(rng&)> build) {
        case_spec c;
        c.name = op + "_" + variant + "_" + (int16 ? "a16" : "a8") + "_io_" + io_name(io);
        for (auto& ch : c.name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        c.op = op;
        c.variant = variant;
        c.shape = shape;
        c.weighted = op == "FULLY_CONNECTED" || op == "CONV_2D" || op == "DEPTHWISE_CONV_2D" || op == "NET";
        c.scheme.activations = int16 ? qtl::activation_precision::int16 : qtl::activation_precision::int8;
        c.io = io;
        c.ranges = std::move(ranges);
        c.build = std::move(build);
        if (int16 && io == qtl::io_type::uint8)
            c.skip = "TFLite has no QUANTIZE between uint8 and int16: a 16x8 model's I/O is int16 or float32";
        scheme_names.push_back({int16 ? "16x8" : "int8", c.weighted ? "int8 per-channel" : "-"});
        cases.push_back(std::move(c));
    }
};

matrix build_matrix() {
    matrix m;
    using qtl::tflite::padding;
    const std::vector<input_range> one{{}};
    const std::vector<input_range> two{{}, {}};
    const input_range wide{-5.0f, 5.0f};

    // FULLY_CONNECTED: a vector and a batch of odd-sized rows.
    m.add("FULLY_CONNECTED", "16to8", "[1,16]", true, one, [](rng& r) { return fc_graph(r, {1, 16}, 8); });
    m.add("FULLY_CONNECTED", "odd_3x13to7", "[3,13]", true, one, [](rng& r) { return fc_graph(r, {3, 13}, 7); });

    // CONV_2D: the window variants, each on an even and an odd input.
    struct conv_variant {
        const char* name;
        std::int32_t k;
        qtl::conv_2d_params p;
    };
    const std::vector<conv_variant> convs{
        {"k3s1same", 3, {.stride = 1, .padding = padding::SAME}},
        {"k3s2valid", 3, {.stride = 2, .padding = padding::VALID}},
        {"k3s2same", 3, {.stride = 2, .padding = padding::SAME}},
        {"k3d2same", 3, {.dilation = 2, .padding = padding::SAME}},
        {"k1", 1, {}},
    };
    for (const auto& v : convs) {
        m.add("CONV_2D", std::string(v.name) + "_8x8x4", "[1,8,8,4]", true, one,
              [v](rng& r) { return conv_graph(r, {1, 8, 8, 4}, 6, v.k, v.p); });
        m.add("CONV_2D", std::string(v.name) + "_odd_7x9x3", "[1,7,9,3]", true, one,
              [v](rng& r) { return conv_graph(r, {1, 7, 9, 3}, 5, v.k, v.p); });
    }
    // CONV_2D with a fused ReLU.
    m.add("CONV_2D", "k3s1same_relu_8x8x4", "[1,8,8,4]", true, one, [](rng& r) {
        return conv_graph(r, {1, 8, 8, 4}, 6, 3, {.padding = padding::SAME, .activation = qtl::fused_activation::relu});
    });

    // DEPTHWISE_CONV_2D: multiplier 1 and 2, strides, dilation.
    struct dw_variant {
        const char* name;
        std::int32_t multiplier;
        qtl::conv_2d_params p;
    };
    const std::vector<dw_variant> dws{
        {"m1_k3s1same", 1, {.stride = 1, .padding = padding::SAME}},
        {"m2_k3s1same", 2, {.stride = 1, .padding = padding::SAME}},
        {"m1_k3s2valid", 1, {.stride = 2, .padding = padding::VALID}},
        {"m1_k3d2same", 1, {.dilation = 2, .padding = padding::SAME}},
    };
    for (const auto& v : dws) {
        m.add("DEPTHWISE_CONV_2D", std::string(v.name) + "_8x8x4", "[1,8,8,4]", true, one,
              [v](rng& r) { return depthwise_graph(r, {1, 8, 8, 4}, v.multiplier, 3, v.p); });
        m.add("DEPTHWISE_CONV_2D", std::string(v.name) + "_odd_7x9x3", "[1,7,9,3]", true, one,
              [v](rng& r) { return depthwise_graph(r, {1, 7, 9, 3}, v.multiplier, 3, v.p); });
    }

    // Pooling.
    for (const char* op : {"AVERAGE_POOL_2D", "MAX_POOL_2D"}) {
        const bool avg = std::string(op) == "AVERAGE_POOL_2D";
        auto pool = [avg](B& b, T x, qtl::pool_2d_params p) { return avg ? b.average_pool_2d(x, p) : b.max_pool_2d(x, p); };
        m.add(op, "k2s2valid_8x8x4", "[1,8,8,4]", false, one,
              [pool](rng&) { return unary_graph({1, 8, 8, 4}, [pool](B& b, T x) { return pool(b, x, {.filter = 2}); }); });
        m.add(op, "k3s1same_odd_7x9x3", "[1,7,9,3]", false, one, [pool](rng&) {
            return unary_graph({1, 7, 9, 3},
                               [pool](B& b, T x) { return pool(b, x, {.filter = 3, .stride = 1, .padding = padding::SAME}); });
        });
        m.add(op, "k3s2same_odd_7x9x3", "[1,7,9,3]", false, one, [pool](rng&) {
            return unary_graph({1, 7, 9, 3},
                               [pool](B& b, T x) { return pool(b, x, {.filter = 3, .stride = 2, .padding = padding::SAME}); });
        });
    }

    // ADD / SUB / MUL: same shapes, and broadcasts.
    for (const char* op : {"ADD", "SUB", "MUL"}) {
        const std::string o = op;
        auto f = [o](B& b, T x, T y) { return o == "ADD" ? b.add(x, y) : o == "SUB" ? b.sub(x, y) : b.mul(x, y); };
        std::vector<input_range> ranges{{-1.5f, 2.5f}, {-3.0f, 1.0f}};
        m.add(op, "same_6x6x4", "[1,6,6,4]+[1,6,6,4]", false, ranges,
              [f](rng&) { return binary_graph({1, 6, 6, 4}, {1, 6, 6, 4}, f); });
        m.add(op, "bcast_odd_5x7x3+1x1x3", "[1,5,7,3]+[1,1,1,3]", false, ranges,
              [f](rng&) { return binary_graph({1, 5, 7, 3}, {1, 1, 1, 3}, f); });
        m.add(op, "bcast_odd_5x7x3+5x1x1", "[1,5,7,3]+[1,5,1,1]", false, ranges,
              [f](rng&) { return binary_graph({1, 5, 7, 3}, {1, 5, 1, 1}, f); });
    }

    // CONCATENATION: inputs with different ranges (they share one after conversion).
    m.add("CONCATENATION", "axis3_4x4x3+4x4x5", "[1,4,4,3]+[1,4,4,5]", false, {{-1.5f, 2.5f}, {-0.5f, 4.0f}},
          [](rng&) { return binary_graph({1, 4, 4, 3}, {1, 4, 4, 5}, [](B& b, T x, T y) { return b.concatenation({x, y}, 3); }); });
    m.add("CONCATENATION", "axis1_odd_5x7x3+2x7x3", "[1,5,7,3]+[1,2,7,3]", false, {{-1.5f, 2.5f}, {-3.0f, 1.0f}},
          [](rng&) { return binary_graph({1, 5, 7, 3}, {1, 2, 7, 3}, [](B& b, T x, T y) { return b.concatenation({x, y}, 1); }); });

    // Shape ops.
    m.add("RESHAPE", "4x6x8to24x8", "[1,4,6,8]", false, one,
          [](rng&) { return unary_graph({1, 4, 6, 8}, [](B& b, T x) { return b.reshape(x, {1, 24, 8}); }); });
    m.add("RESHAPE", "odd_7x9x3toflat", "[1,7,9,3]", false, one,
          [](rng&) { return unary_graph({1, 7, 9, 3}, [](B& b, T x) { return b.flatten(x); }); });
    m.add("PAD", "8x8x4", "[1,8,8,4]", false, one, [](rng&) {
        return unary_graph({1, 8, 8, 4}, [](B& b, T x) { return b.pad(x, {{{0, 0}}, {{1, 1}}, {{1, 1}}, {{0, 0}}}); });
    });
    m.add("PAD", "asym_odd_7x9x3", "[1,7,9,3]", false, one, [](rng&) {
        return unary_graph({1, 7, 9, 3}, [](B& b, T x) { return b.pad(x, {{{0, 0}}, {{2, 0}}, {{1, 3}}, {{0, 1}}}); });
    });
    m.add("TRANSPOSE", "0213_4x6x8", "[1,4,6,8]", false, one,
          [](rng&) { return unary_graph({1, 4, 6, 8}, [](B& b, T x) { return b.transpose(x, {0, 2, 1, 3}); }); });
    m.add("TRANSPOSE", "0312_odd_7x9x3", "[1,7,9,3]", false, one,
          [](rng&) { return unary_graph({1, 7, 9, 3}, [](B& b, T x) { return b.transpose(x, {0, 3, 1, 2}); }); });
    m.add("STRIDED_SLICE", "8x8x4", "[1,8,8,4]", false, one,
          [](rng&) { return strided_slice_graph({1, 8, 8, 4}, {0, 1, 0, 0}, {1, 7, 8, 4}, {1, 2, 1, 1}); });
    m.add("STRIDED_SLICE", "odd_7x9x3", "[1,7,9,3]", false, one,
          [](rng&) { return strided_slice_graph({1, 7, 9, 3}, {0, 0, 1, 0}, {1, 7, 9, 3}, {1, 3, 2, 1}); });

    // MEAN: spatial (global average pooling) and the last axis.
    m.add("MEAN", "hw_keep_8x8x4", "[1,8,8,4]", false, one,
          [](rng&) { return unary_graph({1, 8, 8, 4}, [](B& b, T x) { return b.mean(x, {1, 2}, true); }); });
    m.add("MEAN", "c_odd_7x9x3", "[1,7,9,3]", false, one,
          [](rng&) { return unary_graph({1, 7, 9, 3}, [](B& b, T x) { return b.mean(x, {-1}, false); }); });

    // Activations.
    struct act {
        const char* op;
        input_range range;
        std::function<T(B&, T)> f;
    };
    const std::vector<act> acts{
        {"SOFTMAX", {-4.0f, 4.0f}, [](B& b, T x) { return b.softmax(x); }},
        {"LOGISTIC", wide, [](B& b, T x) { return b.logistic(x); }},
        {"TANH", wide, [](B& b, T x) { return b.tanh(x); }},
        {"RELU", {-2.0f, 3.0f}, [](B& b, T x) { return b.relu(x); }},
        {"RELU6", {-2.0f, 8.0f}, [](B& b, T x) { return b.relu6(x); }},
        {"LEAKY_RELU", {-3.0f, 2.0f}, [](B& b, T x) { return b.leaky_relu(x, 0.2f); }},
        {"HARD_SWISH", wide, [](B& b, T x) { return b.hard_swish(x); }},
    };
    for (const auto& a : acts) {
        auto f = a.f;
        const bool softmax = std::string(a.op) == "SOFTMAX";
        const qtl::shape s1 = softmax ? qtl::shape{1, 10} : qtl::shape{1, 8, 8, 4};
        const qtl::shape s2 = softmax ? qtl::shape{3, 13} : qtl::shape{1, 7, 9, 3};
        m.add(a.op, softmax ? "1x10" : "8x8x4", shape_text(s1), false, {a.range},
              [f, s1](rng&) { return unary_graph(s1, f); });
        m.add(a.op, softmax ? "odd_3x13" : "odd_7x9x3", shape_text(s2), false, {a.range},
              [f, s2](rng&) { return unary_graph(s2, f); });
    }

    // Multi-op nets (int8 per-channel weights).
    for (bool int16 : {false, true}) {
        auto add_net = [&](const std::string& variant, const std::string& shape, std::function<qtl::graph(rng&)> f) {
            case_spec c;
            c.name = "net_" + variant + (int16 ? "_a16_w8c" : "_a8_w8c");
            c.op = "NET";
            c.variant = variant;
            c.shape = shape;
            c.weighted = true;
            c.scheme.activations = int16 ? qtl::activation_precision::int16 : qtl::activation_precision::int8;
            c.ranges = {{}};
            c.build = std::move(f);
            m.cases.push_back(std::move(c));
            m.scheme_names.push_back({int16 ? "16x8" : "int8", "int8 per-channel"});
        };
        add_net("conv_relu_pool_reshape_fc_softmax", "[1,8,8,3]", classifier_net);
        add_net("residual_add", "[1,6,6,4]", residual_net);
        add_net("concat_logistic_tanh", "[1,4,5,3]", [](rng&) { return logistic_tanh_concat_net(); });
        add_net("conv_hard_swish_conv", "[1,6,6,4]", hard_swish_net);
    }

    // I/O variants: float32 and uint8 model inputs/outputs.
    for (auto io : {qtl::io_type::float32, qtl::io_type::uint8}) {
        for (bool int16 : {false, true}) {
            m.add_io("FULLY_CONNECTED", "16to8", "[1,16]", io, int16, one, [](rng& r) { return fc_graph(r, {1, 16}, 8); });
            m.add_io("CONV_2D", "k3s1same_odd_7x9x3", "[1,7,9,3]", io, int16, one, [](rng& r) {
                return conv_graph(r, {1, 7, 9, 3}, 5, 3, {.padding = padding::SAME});
            });
            m.add_io("ADD", "bcast_odd_5x7x3+1x1x3", "[1,5,7,3]+[1,1,1,3]", io, int16, two,
                     [](rng&) { return binary_graph({1, 5, 7, 3}, {1, 1, 1, 3}, [](B& b, T x, T y) { return b.add(x, y); }); });
            m.add_io("SOFTMAX", "odd_3x13", "[3,13]", io, int16, {{-4.0f, 4.0f}},
                     [](rng&) { return unary_graph({3, 13}, [](B& b, T x) { return b.softmax(x); }); });
            m.add_io("NET", "conv_relu_pool_reshape_fc_softmax", "[1,8,8,3]", io, int16, one, classifier_net);
        }
    }
    return m;
}

// ---- writing a case -------------------------------------------------------------------

std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        if (c == '"' || c == '\\') out += '\\';
        if (static_cast<unsigned char>(c) >= 0x20) out += c;
    }
    return out + "\"";
}

// One sample of a graph input, quantized to the model's input tensor type.
qtl::npy::array model_input(const qtl::tflite::tensor& t, const std::vector<float>& x) {
    using qtl::tflite::tensor_type;
    if (t.type == tensor_type::FLOAT32) return qtl::npy::make_array<float>(x, t.shape);
    qtl::check(t.quantization && t.quantization->scale.size() == 1, "make_conformance_models", "input ", t.name,
               " is not quantized per tensor");
    const double scale = t.quantization->scale[0];
    const double zp = static_cast<double>(t.quantization->zero_point[0]);
    auto q = [&](float v, double lo, double hi) { return std::clamp(std::round(v / scale) + zp, lo, hi); };
    switch (t.type) {
        case tensor_type::INT8: {
            std::vector<std::int8_t> v;
            for (float f : x) v.push_back(static_cast<std::int8_t>(q(f, -128, 127)));
            return qtl::npy::make_array<std::int8_t>(v, t.shape);
        }
        case tensor_type::UINT8: {
            std::vector<std::uint8_t> v;
            for (float f : x) v.push_back(static_cast<std::uint8_t>(q(f, 0, 255)));
            return qtl::npy::make_array<std::uint8_t>(v, t.shape);
        }
        case tensor_type::INT16: {
            std::vector<std::int16_t> v;
            for (float f : x) v.push_back(static_cast<std::int16_t>(q(f, -32768, 32767)));
            return qtl::npy::make_array<std::int16_t>(v, t.shape);
        }
        default: throw qtl::error("make_conformance_models", "input " + t.name + " has an unexpected type");
    }
}

// What the model actually sees of an input: the array's values dequantized.
std::vector<float> dequantized(const qtl::tflite::tensor& t, const qtl::npy::array& a) {
    const auto v = a.as<float>();
    if (t.type == qtl::tflite::tensor_type::FLOAT32) return v;
    const float scale = t.quantization->scale[0];
    const auto zp = static_cast<float>(t.quantization->zero_point[0]);
    std::vector<float> out;
    for (float q : v) out.push_back((q - zp) * scale);
    return out;
}

// The quantization of a model output, for the comparison: a float32 output
// (float I/O) is described by the quantized tensor it is dequantized from.
struct output_quantization {
    double scale = 1.0;
    std::int64_t zero_point = 0;
    double levels = 255;  // qmax - qmin
    bool is_float = false;
    float calibrated_min = 0, calibrated_max = 0;  // the float graph's output range over the calibration samples
};

// Writes the case's files; returns how each model output is quantized.
std::vector<output_quantization> write_case(const case_spec& c, const std::filesystem::path& dir) {
    rng r(c.name);
    const qtl::graph g = c.build(r);
    qtl::check(g.inputs.size() == c.ranges.size(), c.name, "the graph has ", g.inputs.size(), " inputs, ",
               c.ranges.size(), " ranges given");
    auto sample = [&] {
        std::vector<std::vector<float>> s;
        for (std::size_t k = 0; k < g.inputs.size(); ++k) {
            std::vector<float> v(g.tensor(g.inputs[k]).size());
            for (auto& x : v) x = r.uniform(c.ranges[k].lo, c.ranges[k].hi);
            s.push_back(std::move(v));
        }
        return s;
    };
    std::vector<std::vector<std::vector<float>>> samples;
    for (int i = 0; i < 32; ++i) samples.push_back(sample());
    qtl::calibration_options co;
    co.threads = 1;
    co.progress = qtl::progress_bar::never;
    const auto cal = qtl::calibrate(g, samples, co);
    qtl::conversion_options opt;
    opt.scheme = c.scheme;
    opt.input_type = c.io;
    opt.output_type = c.io;
    const auto model = qtl::convert(g, cal, opt);
    qtl::tflite::write_model(model, dir / (c.name + ".tflite"));
    const auto test = sample();
    const auto& sg = model.subgraphs.at(0);
    // The float graph on the same (dequantized) input: the reference for the
    // accuracy check, which catches conversions both runtimes agree on but
    // that compute the wrong thing.
    qtl::float_executor reference(g);
    for (std::size_t k = 0; k < test.size(); ++k) {
        const auto& t = sg.tensors.at(static_cast<std::size_t>(sg.inputs.at(k)));
        const auto a = model_input(t, test[k]);
        qtl::npy::write_file((dir / (c.name + "_input" + std::to_string(k) + ".npy")).string(), a);
        const auto x = dequantized(t, a);
        reference.set_input(k, x);
    }
    reference.invoke();
    for (std::size_t k = 0; k < g.outputs.size(); ++k) {
        const auto y = reference.output(k);
        qtl::npy::write_file((dir / (c.name + "_float_output" + std::to_string(k) + ".npy")).string(),
                             qtl::npy::make_array<float>(y, g.tensor(g.outputs[k]).shape));
    }
    std::vector<output_quantization> outs;
    for (std::size_t k = 0; k < sg.outputs.size(); ++k) {
        const auto o = sg.outputs[k];
        const auto* t = &sg.tensors.at(static_cast<std::size_t>(o));
        output_quantization q;
        if (t->type == qtl::tflite::tensor_type::FLOAT32) {
            q.is_float = true;
            const auto it = std::find_if(sg.tensors.begin(), sg.tensors.end(),
                                         [&](const qtl::tflite::tensor& x) { return x.name == t->name + "/quantized"; });
            qtl::check(it != sg.tensors.end(), c.name, "no quantized tensor feeds the float output ", t->name);
            t = &*it;
        }
        qtl::check(t->quantization && t->quantization->scale.size() == 1, c.name, "output ", t->name,
                   " is not quantized per tensor");
        q.scale = t->quantization->scale[0];
        q.zero_point = t->quantization->zero_point[0];
        q.levels = t->type == qtl::tflite::tensor_type::INT16 ? 65535 : 255;
        const auto& r = cal.range(g.outputs.at(k));
        q.calibrated_min = r.min;
        q.calibrated_max = r.max;
        outs.push_back(q);
    }
    return outs;
}

}  // namespace

int main(int argc, char** argv) {
    const char* usage = "usage: qtl-make-conformance-models OUT_DIR [--only SUBSTRING] [--include-skipped]\n";
    if (argc < 2 || std::string(argv[1]) == "--help") {
        std::cerr << usage;
        return 2;
    }
    const std::filesystem::path dir = argv[1];
    std::string only;
    bool include_skipped = false;  // also try to write the skipped cases (to re-check the reasons in LiteRT)
    for (int i = 2; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--only" && i + 1 < argc) only = argv[++i];
        else if (a == "--include-skipped") include_skipped = true;
        else {
            std::cerr << "qtl-make-conformance-models: unknown argument '" << a << "'\n" << usage;
            return 2;
        }
    }
    std::filesystem::create_directories(dir);
    const auto m = build_matrix();
    std::ofstream manifest(dir / "manifest.jsonl");
    int written = 0, skipped = 0, failed = 0;
    for (std::size_t i = 0; i < m.cases.size(); ++i) {
        const auto& c = m.cases[i];
        if (!only.empty() && c.name.find(only) == std::string::npos) continue;
        std::string status = "ok", reason = c.skip;
        std::vector<output_quantization> outs;
        std::string refused;  // a skipped case qtl's converter refuses (--include-skipped)
        if (!c.skip.empty()) {
            status = "skipped";
            ++skipped;
            if (include_skipped) {
                try {
                    outs = write_case(c, dir);
                } catch (const std::exception& e) {
                    refused = e.what();
                }
            }
        } else {
            try {
                outs = write_case(c, dir);
                ++written;
            } catch (const std::exception& e) {
                status = "convert_failed";  // qtl refused: a defect of the converter or of this case
                reason = e.what();
                ++failed;
                std::cerr << c.name << ": " << e.what() << "\n";
            }
        }
        std::ostringstream line;
        line << "{\"case\":" << json_string(c.name) << ",\"op\":" << json_string(c.op)
             << ",\"variant\":" << json_string(c.variant) << ",\"activations\":" << json_string(m.scheme_names[i].first)
             << ",\"weights\":" << json_string(m.scheme_names[i].second) << ",\"io\":" << json_string(io_name(c.io))
             << ",\"shape\":" << json_string(c.shape) << ",\"inputs\":" << c.ranges.size()
             << ",\"status\":" << json_string(status);
        if (!reason.empty()) line << ",\"reason\":" << json_string(reason);
        if (!refused.empty()) line << ",\"convert_refused\":" << json_string(refused);
        if (!outs.empty()) {
            line << ",\"outputs\":[";
            for (std::size_t k = 0; k < outs.size(); ++k)
                line << (k ? "," : "") << "{\"scale\":" << std::setprecision(9) << outs[k].scale
                     << ",\"zero_point\":" << outs[k].zero_point << ",\"levels\":" << outs[k].levels
                     << ",\"float\":" << (outs[k].is_float ? "true" : "false")
                     << ",\"calibrated\":[" << outs[k].calibrated_min << "," << outs[k].calibrated_max << "]}";
            line << "]";
        }
        line << "}";
        manifest << line.str() << "\n";
    }
    std::cout << "qtl-make-conformance-models: " << written << " models written, " << skipped << " skipped, " << failed
              << " failed to convert, in " << dir.string() << "\n";
    return failed ? 1 : 0;
}
