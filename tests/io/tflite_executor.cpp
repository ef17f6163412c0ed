// The executor runs imported models with qtl's ops.  Oracles: the seanet
// goldens (16x8 models and outputs written by TFLite's reference
// interpreter, ../shared/models/seanet), bit for bit, on both kernel paths.
#include "qtl/io/tflite/executor.hpp"
#include "qtl/io/tflite/reader.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "support/shared_data.hpp"

namespace {

struct golden_case {
    const char* name;
    int inputs;        // model inputs
    int input_files;   // inputs with a golden CSV
    bool int32_input;  // quantize0 takes INT32
};

// Runs models/seanet/<name>.tflite on its golden inputs; returns the number
// of output elements that differ from the golden.
std::size_t mismatches(const golden_case& c, qtl::tflite::kernel_path path, std::size_t& total) {
    const std::string base = std::string("models/seanet/") + c.name;
    qtl::tflite::executor run(qtl::tflite::read_model(qtl::test::shared_file(base + ".tflite")), path);
    REQUIRE(run.input_count() == static_cast<std::size_t>(c.inputs));
    for (int k = 0; k < c.input_files; ++k) {
        const std::string file = base + "_input" + std::to_string(k) + (c.int32_input ? "_int32.csv" : "_int16.csv");
        if (c.int32_input) {
            const auto values = qtl::test::read_csv_integers<std::int32_t>(file);
            run.set_input<std::int32_t>(k, values);
        } else {
            const auto values = qtl::test::read_csv_integers<std::int16_t>(file);
            run.set_input<std::int16_t>(k, values);
        }
    }
    run.invoke();
    const auto golden = qtl::test::read_csv_integers<std::int16_t>(base + "_golden_int16.csv");
    const auto got = run.output<std::int16_t>(0);
    REQUIRE(got.size() == golden.size());
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < golden.size(); ++i) wrong += got[i] != golden[i] ? 1 : 0;
    total = golden.size();
    return wrong;
}

const golden_case seanet[] = {
    {"add0", 2, 2, false},        {"add1", 2, 2, false}, {"conv0", 1, 1, false},
    {"conv1", 1, 1, false},       {"leaky_relu0", 1, 1, false}, {"pad0", 1, 1, false},
    {"quantize0", 1, 1, true},    {"strided_slice0", 1, 1, false}, {"sub0", 2, 2, false},
};

}  // namespace

TEST_CASE("executor: every seanet 16x8 golden, bit for bit, SIMD and reference paths") {
    for (const auto& c : seanet) {
        for (auto path : {qtl::tflite::kernel_path::simd, qtl::tflite::kernel_path::reference}) {
            const std::string what = std::string(c.name) + (path == qtl::tflite::kernel_path::simd ? " simd" : " reference");
            CAPTURE(what);
            std::size_t total = 0;
            CHECK(mismatches(c, path, total) == 0);
            CHECK(total > 0);
        }
    }
}

TEST_CASE("executor: wrong input sizes and types are errors") {
    qtl::tflite::executor run(qtl::tflite::read_model(qtl::test::shared_file("models/seanet/leaky_relu0.tflite")));
    const std::vector<std::int16_t> short_input(5);
    CHECK_THROWS_AS(run.set_input<std::int16_t>(0, short_input), qtl::error);
    const std::vector<std::int8_t> wrong_type(2 * 160 * 8);
    CHECK_THROWS_AS(run.set_input<std::int8_t>(0, wrong_type), qtl::error);
    CHECK_THROWS_AS(run.set_input<std::int16_t>(1, short_input), qtl::error);  // one input only
    CHECK_THROWS_AS(run.output<std::int16_t>(3), qtl::error);
}

// ---- float and dynamic-range (hybrid) models ---------------------------------

#include <cmath>
#include <numbers>
#include <random>

#include "qtl/graph/builder.hpp"
#include "qtl/graph/convert_dynamic_range.hpp"
#include "qtl/graph/float_executor.hpp"
#include "qtl/graph/from_tflite.hpp"
#include "qtl/graph/to_tflite.hpp"

TEST_CASE("executor: TensorFlow's float hello_world model approximates sin, float and dynamic-range") {
    // The float model TensorFlow's example trained to y = sin(x) on [0, 2 pi]:
    // the executor's float path must reproduce the float graph executor
    // exactly (same kernels) and sin(x) to the model's accuracy; its
    // dynamic-range conversion stays close to the float model.
    const auto m = qtl::tflite::read_model(qtl::test::shared_file("models/hello_world_float.tflite"));
    const qtl::graph g = qtl::graph_from_tflite(m);
    qtl::tflite::executor run(m);
    qtl::tflite::executor hybrid(qtl::convert_dynamic_range(g));
    qtl::float_executor ref(g);
    float worst_sin = 0.0f, worst_hybrid = 0.0f;
    for (int i = 0; i <= 100; ++i) {
        const float x = static_cast<float>(2.0 * std::numbers::pi * i / 100.0);
        const std::vector<float> in = {x};
        run.set_input<float>(0, in);
        run.invoke();
        hybrid.set_input<float>(0, in);
        hybrid.invoke();
        ref.set_input(0, in);
        ref.invoke();
        const float y = run.output<float>(0)[0];
        CHECK(y == ref.output(0)[0]);
        worst_sin = std::max(worst_sin, std::abs(y - std::sin(x)));
        worst_hybrid = std::max(worst_hybrid, std::abs(hybrid.output<float>(0)[0] - y));
    }
    MESSAGE("hello_world float: max |y - sin x| = ", worst_sin, ", max |hybrid - float| = ", worst_hybrid);
    CHECK(worst_sin < 0.1f);
    CHECK(worst_hybrid < 0.05f);
}

TEST_CASE("executor: float ops match the float graph executor") {
    // The executor and qtl::float_executor share the float kernels, so a float
    // model must give the same bits: this checks the executor's wiring of
    // every float op (shapes, options, operands).
    std::mt19937 rng(17);
    std::normal_distribution<float> d(0.0f, 1.0f);
    const auto values = [&](std::size_t n) {
        std::vector<float> v(n);
        for (auto& x : v) x = d(rng);
        return v;
    };
    qtl::graph_builder b;
    auto x = b.input("x", {1, 6, 6, 4});
    const auto f = values(5 * 3 * 3 * 4), fb = values(5), dw = values(3 * 3 * 5), dwb = values(5);
    auto c = b.conv_2d(x, "conv", f, {5, 3, 3, 4}, fb, {.padding = qtl::tflite::padding::SAME});
    auto dc = b.depthwise_conv_2d(b.leaky_relu(c, 0.1f), "dw", dw, {1, 3, 3, 5}, dwb,
                                  {.padding = qtl::tflite::padding::SAME, .activation = qtl::fused_activation::relu6});
    auto avg = b.average_pool_2d(b.hard_swish(dc), {.filter = 2});
    auto mx = b.max_pool_2d(b.tanh(c), {.filter = 2});
    auto cat = b.concatenation({avg, mx}, 3);
    auto padded = b.pad(b.logistic(cat), {{0, 0}, {1, 0}, {0, 1}, {0, 0}});
    auto t = b.transpose(padded, {0, 3, 1, 2});
    auto m = b.mean(t, {2}, true);
    auto s = b.sub(b.mul(m, m), m);
    const auto w = values(3 * 40), wb = values(3);
    auto y = b.fully_connected(b.reshape(s, {1, 40}), "dense", w, {3, 40}, wb);
    b.output(b.softmax(b.relu6(y)));
    b.output(b.add(b.relu(mx), mx));
    const qtl::graph g = std::move(b).build();

    const auto input = values(6 * 6 * 4);
    qtl::float_executor ref(g);
    ref.set_input(0, input);
    ref.invoke();
    for (auto path : {qtl::tflite::kernel_path::simd, qtl::tflite::kernel_path::reference}) {
        qtl::tflite::executor run(qtl::graph_to_tflite(g), path);
        run.set_input<float>(0, input);
        run.invoke();
        for (std::size_t o = 0; o < 2; ++o) {
            const auto got = run.output<float>(o);
            const auto want = ref.output(o);
            REQUIRE(got.size() == want.size());
            for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == want[i]);
        }
    }
}

TEST_CASE("executor: hybrid ops refuse what TFLite refuses") {
    // A depthwise hybrid filter with one scale for two channels: TFLite would
    // read past its scale array; qtl refuses it when preparing the model.
    qtl::graph_builder b;
    auto x = b.input("x", {1, 3, 3, 2});
    const std::vector<float> f(3 * 3 * 2, 0.5f), bias(2, 0.0f);
    b.output(b.depthwise_conv_2d(x, "dw", f, {1, 3, 3, 2}, bias));
    auto m = qtl::convert_dynamic_range(std::move(b).build());
    auto& w = m.subgraphs[0].tensors[static_cast<std::size_t>(m.subgraphs[0].operators[0].inputs[1])];
    REQUIRE(w.quantization.has_value());
    w.quantization->scale = {0.5f};
    w.quantization->zero_point = {0};
    w.quantization->params.scales = {0.5f};
    w.quantization->params.zero_points = {0};
    w.quantization->params.axis = -1;
    CHECK_THROWS_AS(qtl::tflite::executor{m}, qtl::error);
}

TEST_CASE("executor: activations share one planned arena; outputs equal the preserve-all layout") {
    auto model = qtl::tflite::read_model(qtl::test::shared_file("models/mobilenet_v2_quantized_1x3x224x224.tflite"));
    qtl::tflite::executor planned(model);
    qtl::tflite::executor preserved(model, qtl::tflite::executor_options{.preserve_all_tensors = true});

    // Every activation in bytes of its own: the arena is at least their sum.
    std::size_t activation_bytes = 0;
    for (const auto& t : model.main().tensors)
        if (model.data_of(t).empty()) activation_bytes += qtl::num_elements(t.shape);  // a lower bound: one byte each
    CHECK(preserved.arena_bytes() >= activation_bytes);
    // MobileNetV2 is a chain with short skips: a few live tensors at a time.
    MESSAGE("mobilenet_v2 activations: ", activation_bytes, " bytes; planned arena: ", planned.arena_bytes());
    CHECK(planned.arena_bytes() * 4 < activation_bytes);

    std::vector<std::byte> x(qtl::num_elements(planned.input_tensor(0).shape));  // int8 or uint8: one byte each
    std::uint32_t state = 12345;
    for (auto& v : x) v = static_cast<std::byte>((state = state * 1664525u + 1013904223u) >> 24);
    planned.set_input_bytes(0, x);
    preserved.set_input_bytes(0, x);
    planned.invoke();
    preserved.invoke();
    const auto a = planned.output_bytes(0), b = preserved.output_bytes(0);
    REQUIRE(a.size() == b.size());
    CHECK(std::equal(a.begin(), a.end(), b.begin()));
    // The input keeps its bytes: invoking again without set_input gives the same output.
    const std::vector<std::byte> first(a.begin(), a.end());
    planned.invoke();
    const auto again = planned.output_bytes(0);
    CHECK(std::equal(again.begin(), again.end(), first.begin(), first.end()));
    const auto in = planned.tensor_bytes(model.main().inputs[0]);
    CHECK(std::equal(in.begin(), in.end(), x.begin(), x.end()));

    // An early intermediate's bytes were reused: reading it is an error, not stale bytes.
    const std::int32_t early = model.main().operators[0].outputs[0];
    CHECK_THROWS_WITH_AS(planned.tensor_bytes(early), doctest::Contains("preserve_all_tensors"), qtl::error);
    CHECK(preserved.tensor_bytes(early).size() > 0);
    // Re-running the operator that reads it (operator 1, or the convolution
    // a PAD there is folded into) needs it set again first.
    std::size_t reader = 1;
    for (const auto& f : planned.folded_pads())
        if (f.pad == 1) reader = f.into;
    CHECK_THROWS_WITH_AS(planned.invoke_operator(reader), doctest::Contains("set_tensor_bytes"), qtl::error);
    const auto saved = preserved.tensor_bytes(early);
    planned.set_tensor_bytes(early, saved);
    planned.invoke_operator(reader);
    const std::int32_t next = model.main().operators[reader].outputs[0];
    const auto p = planned.tensor_bytes(next), q = preserved.tensor_bytes(next);
    CHECK(std::equal(p.begin(), p.end(), q.begin(), q.end()));
}

TEST_CASE("executor: a PAD read only by a CONV_2D or DEPTHWISE_CONV_2D is folded into it, with the same bytes") {
    using qtl::tflite::builtin_operator;
    auto model = qtl::tflite::read_model(qtl::test::shared_file("models/mobilenet_v2_quantized_1x3x224x224.tflite"));
    const auto& g = model.main();
    qtl::tflite::executor folded(model);
    qtl::tflite::executor preserved(model, qtl::tflite::executor_options{.preserve_all_tensors = true});
    qtl::tflite::executor reference(model, qtl::tflite::kernel_path::reference);
    CHECK(preserved.folded_pads().empty());  // every operator as written
    CHECK(reference.folded_pads().empty());

    // MobileNetV2 (exported from PyTorch): each of its 18 PADs feeds one convolution.
    std::size_t pads = 0;
    for (const auto& o : g.operators) pads += o.builtin_code == builtin_operator::PAD ? 1 : 0;
    CHECK(pads == 18);
    REQUIRE(folded.folded_pads().size() == pads);
    for (const auto& f : folded.folded_pads()) {
        const auto& pad = g.operators[f.pad];
        const auto& into = g.operators[f.into];
        CAPTURE(f.pad);
        CHECK(pad.builtin_code == builtin_operator::PAD);
        CHECK((into.builtin_code == builtin_operator::CONV_2D || into.builtin_code == builtin_operator::DEPTHWISE_CONV_2D));
        CHECK(f.input == pad.inputs[0]);
        CHECK(f.output == pad.outputs[0]);
        CHECK(into.inputs[0] == f.output);
        // The PAD's constant [[0, 0], [top, bottom], [left, right], [0, 0]], read here from the model.
        const auto& paddings = g.tensors[std::size_t(pad.inputs[1])];
        REQUIRE(paddings.type == qtl::tflite::tensor_type::INT32);
        const auto bytes = model.data_of(paddings);
        REQUIRE(bytes.size() == 32);
        std::int32_t v[8];
        std::memcpy(v, bytes.data(), sizeof v);
        CHECK(f.padding == qtl::ops::input_padding{v[2], v[3], v[4], v[5]});
    }

    // The same output as running every PAD, and as the reference path.
    std::vector<std::byte> x(qtl::num_elements(folded.input_tensor(0).shape));
    std::uint32_t state = 777;
    for (auto& v : x) v = static_cast<std::byte>((state = state * 1664525u + 1013904223u) >> 24);
    for (auto* e : {&folded, &preserved, &reference}) {
        e->set_input_bytes(0, x);
        e->invoke();
    }
    const auto a = folded.output_bytes(0), b = preserved.output_bytes(0), c = reference.output_bytes(0);
    CHECK(std::equal(a.begin(), a.end(), b.begin(), b.end()));
    CHECK(std::equal(a.begin(), a.end(), c.begin(), c.end()));

    // The padded tensor is never made: reading or setting it is an error.
    const auto& f = folded.folded_pads().back();
    CHECK_THROWS_WITH_AS(folded.tensor_bytes(f.output), doctest::Contains("folded into operator"), qtl::error);
    const std::vector<std::byte> some(preserved.tensor_bytes(f.output).size());
    CHECK_THROWS_WITH_AS(folded.set_tensor_bytes(f.output, some), doctest::Contains("folded into operator"),
                         qtl::error);
    // The convolution alone reads the PAD's input (the PAD runs as nothing).
    folded.set_tensor_bytes(f.input, preserved.tensor_bytes(f.input));
    folded.invoke_operator(f.pad);
    folded.invoke_operator(f.into);
    const std::int32_t y = g.operators[f.into].outputs[0];
    const auto p = folded.tensor_bytes(y), q = preserved.tensor_bytes(y);
    CHECK(std::equal(p.begin(), p.end(), q.begin(), q.end()));
    // Without the padded tensors the arena is smaller than the unfolded plan's.
    MESSAGE("mobilenet_v2 arena: ", folded.arena_bytes(), " bytes folded, ", reference.arena_bytes(), " unfolded");
    CHECK(folded.arena_bytes() < reference.arena_bytes());
}
