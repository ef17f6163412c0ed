// graph_from_tflite() / load_float_tflite(): models built here with
// qtl::tflite::model, written with qtl's writer and read back, so each quirk
// of TF's float exports (INT64 shape constants, FLOAT16 weights behind
// DEQUANTIZE, dynamic batch) is exercised through the file format; plus the
// shared hello_world_float.tflite (TFLite's own float export).
#include "qtl/graph/from_tflite.hpp"

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "qtl/io/tflite/writer.hpp"
#include "support/shared_data.hpp"

using namespace qtl;
using tflite::builtin_operator;
using tflite::tensor_type;

namespace {

template <class T>
std::vector<std::uint8_t> bytes_of(const std::vector<T>& v) {
    std::vector<std::uint8_t> b(v.size() * sizeof(T));
    std::memcpy(b.data(), v.data(), b.size());
    return b;
}

// A one-subgraph model under construction.
struct model_builder {
    tflite::model m;
    model_builder() {
        m.buffers.emplace_back();
        m.subgraphs.emplace_back();
    }
    tflite::subgraph& sg() { return m.subgraphs[0]; }
    std::int32_t tensor(std::string name, tensor_type type, qtl::shape shape, std::vector<std::uint8_t> data = {},
                        std::vector<std::int32_t> signature = {}) {
        tflite::tensor t;
        t.name = std::move(name);
        t.type = type;
        t.shape = std::move(shape);
        t.shape_signature = std::move(signature);
        if (!data.empty()) {
            t.buffer = static_cast<std::uint32_t>(m.buffers.size());
            m.buffers.push_back(tflite::buffer{std::move(data)});
        }
        sg().tensors.push_back(std::move(t));
        return static_cast<std::int32_t>(sg().tensors.size() - 1);
    }
    void op(builtin_operator code, tflite::builtin_options options, std::vector<std::int32_t> in,
            std::vector<std::int32_t> out, std::string custom_code = {}) {
        tflite::operator_code c;
        c.builtin_code = code;
        c.custom_code = std::move(custom_code);
        m.operator_codes.push_back(c);
        tflite::op o;
        o.opcode_index = static_cast<std::uint32_t>(m.operator_codes.size() - 1);
        o.builtin_code = code;
        o.inputs = std::move(in);
        o.outputs = std::move(out);
        o.options = std::move(options);
        o.options_type = std::holds_alternative<std::monostate>(o.options) ? tflite::builtin_options_type::NONE
                                                                         : tflite::detail::options_type_of(o.options);
        sg().operators.push_back(std::move(o));
    }
    // Through the file format: write, then read back.
    tflite::model written() const {
        const auto bytes = tflite::write_model(m);
        return tflite::read_model(std::span<const std::uint8_t>(bytes));
    }
};

// The qtl::error message `f` throws ("" when it does not throw).
template <class F>
std::string error_of(F f) {
    try {
        f();
    } catch (const qtl::error& e) {
        return e.what();
    }
    return {};
}

}  // namespace

TEST_CASE("graph_from_tflite: dynamic batch, constants, ops") {
    model_builder b;
    const std::vector<float> w{1, 2, 3, 4, 5, 6}, bias{0.5f, -0.5f, 2.0f};
    auto x = b.tensor("x", tensor_type::FLOAT32, {1, 2}, {}, {-1, 2});
    auto tw = b.tensor("w", tensor_type::FLOAT32, {3, 2}, bytes_of(w));
    auto tb = b.tensor("b", tensor_type::FLOAT32, {3}, bytes_of(bias));
    auto y = b.tensor("y", tensor_type::FLOAT32, {1, 3}, {}, {-1, 3});
    tflite::fully_connected_options fo;
    fo.fused_activation_function = tflite::activation_function_type::RELU6;
    b.op(builtin_operator::FULLY_CONNECTED, fo, {x, tw, tb}, {y});
    b.sg().inputs = {x};
    b.sg().outputs = {y};
    const auto m = b.written();

    SUBCASE("batch 1 (default)") {
        const auto g = graph_from_tflite(m);
        REQUIRE(g.tensors.size() == 4);
        CHECK(g.tensors[0].shape == qtl::shape{1, 2});
        CHECK(g.tensors[0].dynamic_batch);
        CHECK_FALSE(g.tensors[0].is_constant);
        CHECK(g.tensors[1].values<float>() == w);
        CHECK_FALSE(g.tensors[1].dynamic_batch);
        CHECK(g.tensors[2].values<float>() == bias);
        CHECK(g.tensors[3].shape == qtl::shape{1, 3});
        CHECK(g.tensors[3].dynamic_batch);
        REQUIRE(g.nodes.size() == 1);
        CHECK(g.nodes[0].op == builtin_operator::FULLY_CONNECTED);
        CHECK(std::get<tflite::fully_connected_options>(g.nodes[0].options) == fo);
        CHECK(g.nodes[0].inputs == std::vector<std::int32_t>{0, 1, 2});
        CHECK(g.nodes[0].name == "y");
        CHECK(g.inputs == std::vector<std::int32_t>{0});
        CHECK(g.outputs == std::vector<std::int32_t>{3});
    }
    SUBCASE("batch 8") {
        graph_import_options o;
        o.batch = 8;
        const auto g = graph_from_tflite(m, o);
        CHECK(g.tensors[0].shape == qtl::shape{8, 2});
        CHECK(g.tensors[3].shape == qtl::shape{8, 3});
        CHECK(g.tensors[1].shape == qtl::shape{3, 2});  // weights: static
    }
    SUBCASE("batch 0 is refused") {
        graph_import_options o;
        o.batch = 0;
        CHECK_THROWS_WITH_AS(graph_from_tflite(m, o), doctest::Contains("batch must be >= 1"), qtl::error);
    }
}

TEST_CASE("graph_from_tflite: INT64 constants become INT32, with a range check") {
    model_builder b;
    const std::vector<std::int64_t> shape64{1, -1};
    auto x = b.tensor("x", tensor_type::FLOAT32, {2, 3});
    auto s = b.tensor("new_shape", tensor_type::INT64, {2}, bytes_of(shape64));
    auto y = b.tensor("y", tensor_type::FLOAT32, {1, 6});
    b.op(builtin_operator::RESHAPE, tflite::reshape_options{}, {x, s}, {y});
    b.sg().inputs = {x};
    b.sg().outputs = {y};
    const auto g = graph_from_tflite(b.written());
    CHECK(g.tensors[1].type == tensor_type::INT32);
    CHECK(g.tensors[1].values<std::int32_t>() == std::vector<std::int32_t>{1, -1});

    model_builder big = b;
    const std::vector<std::int64_t> huge{1, std::int64_t{1} << 40};
    big.m.buffers[big.sg().tensors[1].buffer].data = bytes_of(huge);
    CHECK_THROWS_WITH_AS(graph_from_tflite(big.written()),
                         doctest::Contains("INT64 element 1 is 1099511627776, outside the INT32 range"), qtl::error);
}

TEST_CASE("graph_from_tflite: FLOAT16 weights behind DEQUANTIZE are folded to FLOAT32") {
    model_builder b;
    // binary16 bit patterns and their values (IEEE 754): 0x3C00 = 1, 0xC000 = -2,
    // 0x3800 = 0.5, 0x3555 = 0.333251953125, 0x0001 = 2^-24 (smallest subnormal), 0x7BFF = 65504.
    const std::vector<std::uint16_t> half{0x3C00, 0xC000, 0x3800, 0x3555, 0x0001, 0x7BFF};
    const std::vector<float> expected{1.0f, -2.0f, 0.5f, 0.333251953125f, 5.9604644775390625e-8f, 65504.0f};
    auto x = b.tensor("x", tensor_type::FLOAT32, {1, 2});
    auto w16 = b.tensor("w_fp16", tensor_type::FLOAT16, {3, 2}, bytes_of(half));
    auto w = b.tensor("w", tensor_type::FLOAT32, {3, 2});
    auto y = b.tensor("y", tensor_type::FLOAT32, {1, 3});
    b.op(builtin_operator::DEQUANTIZE, tflite::dequantize_options{}, {w16}, {w});
    b.op(builtin_operator::FULLY_CONNECTED, tflite::fully_connected_options{}, {x, w, -1}, {y});
    b.sg().inputs = {x};
    b.sg().outputs = {y};
    const auto g = graph_from_tflite(b.written());
    REQUIRE(g.nodes.size() == 1);
    CHECK(g.nodes[0].op == builtin_operator::FULLY_CONNECTED);
    REQUIRE(g.tensors.size() == 3);  // the FLOAT16 source is gone
    const auto& wt = g.tensor(g.nodes[0].inputs[1]);
    CHECK(wt.name == "w");
    CHECK(wt.type == tensor_type::FLOAT32);
    CHECK(wt.is_constant);
    CHECK(wt.values<float>() == expected);
    CHECK(g.nodes[0].inputs[2] == -1);
}

TEST_CASE("graph_from_tflite: a dynamic dimension other than the batch is an error") {
    model_builder b;
    auto x = b.tensor("x", tensor_type::FLOAT32, {1, 8, 1}, {}, {-1, 8, -1});
    auto y = b.tensor("y", tensor_type::FLOAT32, {1, 8, 1}, {}, {-1, 8, -1});
    b.op(builtin_operator::RELU, {}, {x}, {y});
    b.sg().inputs = {x};
    b.sg().outputs = {y};
    const auto msg = error_of([&] { (void)graph_from_tflite(b.written()); });
    CHECK(msg.find("dynamic dimension 2 of input 'x'") != std::string::npos);
    CHECK(msg.find("fix it before quantizing") != std::string::npos);
}

TEST_CASE("graph_from_tflite: an already quantized model is refused") {
    model_builder b;
    auto x = b.tensor("x", tensor_type::FLOAT32, {1, 4});
    auto q = b.tensor("x_q", tensor_type::INT8, {1, 4});
    tflite::quantization qp;
    qp.scale = {0.5f};
    qp.zero_point = {-3};
    b.sg().tensors[1].quantization = qp;
    b.op(builtin_operator::QUANTIZE, tflite::quantize_options{}, {x}, {q});
    b.sg().inputs = {x};
    b.sg().outputs = {q};
    const auto msg = error_of([&] { (void)graph_from_tflite(b.written()); });
    CHECK(msg.find("already quantized") != std::string::npos);
    CHECK(msg.find("run it with qtl-run") != std::string::npos);
    // The shared int8 model too.
    CHECK_THROWS_WITH_AS(load_float_tflite(qtl::test::shared_file("models/hello_world_int8.tflite")),
                         doctest::Contains("already quantized"), qtl::error);
}

TEST_CASE("graph_from_tflite: unknown and custom ops are imported as they are") {
    model_builder b;
    auto x = b.tensor("x", tensor_type::FLOAT32, {1, 4});
    auto s = b.tensor("s", tensor_type::FLOAT32, {1, 4});
    auto y = b.tensor("y", tensor_type::FLOAT32, {1, 4});
    b.op(builtin_operator::SIN, {}, {x}, {s});
    b.op(builtin_operator::CUSTOM, {}, {s}, {y}, "MyFancyOp");
    b.sg().inputs = {x};
    b.sg().outputs = {y};
    const auto g = graph_from_tflite(b.written());
    REQUIRE(g.nodes.size() == 2);
    CHECK(g.nodes[0].op == builtin_operator::SIN);
    CHECK(g.nodes[1].op == builtin_operator::CUSTOM);
    CHECK(g.nodes[1].name == "MyFancyOp");
    CHECK(g.describe_node(1) == "node 1 (CUSTOM 'MyFancyOp')");
}

TEST_CASE("load_float_tflite: malformed and missing files (reader errors pass through)") {
    const auto dir = std::filesystem::temp_directory_path();
    const auto bad = dir / "qtl_h3_malformed.tflite";
    {
        std::ofstream f(bad, std::ios::binary | std::ios::trunc);
        const char junk[] = "this is not a flatbuffer at all, but it is long enough to look like one";
        f.write(junk, sizeof junk);
    }
    CHECK_THROWS_AS(load_float_tflite(bad), qtl::error);
    std::filesystem::remove(bad);
    CHECK_THROWS_AS(load_float_tflite(dir / "qtl_h3_does_not_exist.tflite"), qtl::error);
}

TEST_CASE("load_float_tflite: hello_world_float.tflite (TFLite's own float export)") {
    const auto path = qtl::test::shared_file("models/hello_world_float.tflite");
    const auto m = tflite::read_model(path);
    const auto g = load_float_tflite(path);
    const auto& sg = m.main();
    // Oracle: the file as the reader sees it.
    REQUIRE(g.nodes.size() == sg.operators.size());
    for (std::size_t i = 0; i < sg.operators.size(); ++i) {
        CHECK(g.nodes[i].op == sg.operators[i].builtin_code);
        CHECK(g.nodes[i].options == sg.operators[i].options);
        for (std::size_t k = 0; k < sg.operators[i].inputs.size(); ++k) {
            const auto ti = sg.operators[i].inputs[k];
            if (ti < 0) continue;
            const auto& src = sg.tensors[static_cast<std::size_t>(ti)];
            const auto& dst = g.tensor(g.nodes[i].inputs[k]);
            CHECK(dst.name == src.name);
            CHECK(dst.shape == src.shape);
            const auto data = m.data_of(src);
            CHECK(dst.is_constant == !data.empty());
            if (!data.empty() && src.type == tensor_type::FLOAT32)
                CHECK(std::equal(data.begin(), data.end(), dst.data.begin(), dst.data.end()));
        }
    }
    REQUIRE(g.inputs.size() == 1);
    CHECK(g.tensor(g.inputs[0]).name == sg.tensors[static_cast<std::size_t>(sg.inputs[0])].name);
    CHECK(g.tensor(g.inputs[0]).type == tensor_type::FLOAT32);
}
