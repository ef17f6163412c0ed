// write_model() on the real models of ../shared/models.  Oracles: the files
// themselves (read_model of the original vs of the rewritten bytes, field by
// field), the flatbuffer layout (data offsets in the written bytes) and the
// seanet goldens written by TFLite's reference interpreter (bit for bit).
//
// With QTL_WRITE_TFLITE_DIR set, the rewritten files are also saved there
// (for running them by hand in LiteRT: tests/conformance/litert/run_model.mjs).
#include "qtl/io/tflite/writer.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <filesystem>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <doctest/doctest.h>
#include <flatbuffers/flatbuffers.h>

#include "qtl/io/tflite/executor.hpp"
#include "qtl/io/tflite/reader.hpp"
#include "qtl/io/tflite/tables.hpp"
#include "support/shared_data.hpp"

using namespace qtl::tflite;

namespace {

struct shared_model {
    const char* path;  // under ../shared
    bool repair;       // person_detect needs repair_quantized_dimension
};

const shared_model shared_models[] = {
    {"models/hello_world_float.tflite", false},
    {"models/hello_world_int8.tflite", false},
    {"models/micro_speech_quantized.tflite", false},
    {"models/mobilenet_v2_quantized_1x3x224x224.tflite", false},
    {"models/person_detect.tflite", true},
    {"models/seanet/add0.tflite", false},
    {"models/seanet/add1.tflite", false},
    {"models/seanet/conv0.tflite", false},
    {"models/seanet/conv1.tflite", false},
    {"models/seanet/leaky_relu0.tflite", false},
    {"models/seanet/pad0.tflite", false},
    {"models/seanet/quantize0.tflite", false},
    {"models/seanet/strided_slice0.tflite", false},
    {"models/seanet/sub0.tflite", false},
};

read_options options_for(const shared_model& s) {
    read_options o;
    o.repair_quantized_dimension = s.repair;
    return o;
}

model read_shared(const shared_model& s) { return read_model(qtl::test::shared_file(s.path), options_for(s)); }

void dump_if_asked(const std::string& path, const std::vector<std::uint8_t>& bytes) {
    const char* dir = std::getenv("QTL_WRITE_TFLITE_DIR");
    if (!dir || !*dir) return;
    std::filesystem::create_directories(dir);
    const auto out = std::filesystem::path(dir) / std::filesystem::path(path).filename();
    std::ofstream f(out, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    REQUIRE(f.good());
}

// Field-by-field equality; CHECKs name the part that differs.
void check_same_quantization(const quantization& a, const quantization& b) {
    CHECK(a.scale == b.scale);
    CHECK(a.zero_point == b.zero_point);
    CHECK(a.min == b.min);
    CHECK(a.max == b.max);
    CHECK(a.quantized_dimension == b.quantized_dimension);
    CHECK(a.blockwise == b.blockwise);
    CHECK(a.params.scales == b.params.scales);
    CHECK(a.params.zero_points == b.params.zero_points);
    CHECK(a.params.axis == b.params.axis);
    CHECK(a.params.block_size == b.params.block_size);
    CHECK(a == b);
}

void check_same_model(const model& a, const model& b) {
    CHECK(a.version == b.version);
    CHECK(a.description == b.description);
    REQUIRE(a.operator_codes.size() == b.operator_codes.size());
    for (std::size_t i = 0; i < a.operator_codes.size(); ++i) {
        CAPTURE(i);
        const auto &x = a.operator_codes[i], &y = b.operator_codes[i];
        CHECK(x.builtin_code == y.builtin_code);
        CHECK(x.deprecated_builtin_code == y.deprecated_builtin_code);
        CHECK(x.custom_code == y.custom_code);
        CHECK(x.version == y.version);
    }
    REQUIRE(a.buffers.size() == b.buffers.size());
    for (std::size_t i = 0; i < a.buffers.size(); ++i) {
        CAPTURE(i);
        CHECK(a.buffers[i].data == b.buffers[i].data);
    }
    REQUIRE(a.subgraphs.size() == b.subgraphs.size());
    for (std::size_t s = 0; s < a.subgraphs.size(); ++s) {
        const auto &g = a.subgraphs[s], &h = b.subgraphs[s];
        CAPTURE(s);
        CHECK(g.name == h.name);
        CHECK(g.inputs == h.inputs);
        CHECK(g.outputs == h.outputs);
        REQUIRE(g.tensors.size() == h.tensors.size());
        for (std::size_t i = 0; i < g.tensors.size(); ++i) {
            const auto &x = g.tensors[i], &y = h.tensors[i];
            CAPTURE(x.name);
            CHECK(x.name == y.name);
            CHECK(x.type == y.type);
            CHECK(x.shape == y.shape);
            CHECK(x.shape_signature == y.shape_signature);
            CHECK(x.buffer == y.buffer);
            CHECK(x.is_variable == y.is_variable);
            REQUIRE(x.quantization.has_value() == y.quantization.has_value());
            if (x.quantization) check_same_quantization(*x.quantization, *y.quantization);
        }
        REQUIRE(g.operators.size() == h.operators.size());
        for (std::size_t i = 0; i < g.operators.size(); ++i) {
            const auto &x = g.operators[i], &y = h.operators[i];
            CAPTURE(i);
            CHECK(x.opcode_index == y.opcode_index);
            CHECK(x.builtin_code == y.builtin_code);
            CHECK(x.version == y.version);
            CHECK(x.inputs == y.inputs);
            CHECK(x.outputs == y.outputs);
            CHECK(x.intermediates == y.intermediates);
            CHECK(x.options_type == y.options_type);
            CHECK(x.options == y.options);
            CHECK(x.custom_options == y.custom_options);
        }
    }
    REQUIRE(a.signature_defs.size() == b.signature_defs.size());
    for (std::size_t i = 0; i < a.signature_defs.size(); ++i) {
        const auto &x = a.signature_defs[i], &y = b.signature_defs[i];
        CHECK(x.signature_key == y.signature_key);
        CHECK(x.subgraph_index == y.subgraph_index);
        REQUIRE(x.inputs.size() == y.inputs.size());
        REQUIRE(x.outputs.size() == y.outputs.size());
        for (std::size_t k = 0; k < x.inputs.size(); ++k) {
            CHECK(x.inputs[k].name == y.inputs[k].name);
            CHECK(x.inputs[k].tensor_index == y.inputs[k].tensor_index);
        }
        for (std::size_t k = 0; k < x.outputs.size(); ++k) {
            CHECK(x.outputs[k].name == y.outputs[k].name);
            CHECK(x.outputs[k].tensor_index == y.outputs[k].tensor_index);
        }
    }
    REQUIRE(a.metadata.size() == b.metadata.size());
    for (std::size_t i = 0; i < a.metadata.size(); ++i) {
        CHECK(a.metadata[i].name == b.metadata[i].name);
        CHECK(a.metadata[i].buffer == b.metadata[i].buffer);
    }
    CHECK(a.repairs.size() >= b.repairs.size());  // the rewritten file holds the repaired values
    CHECK(b.repairs.empty());
}

// Offsets of the non-empty buffers' data from the file start, found through
// the flatbuffer (root -> buffers -> data), independently of the writer.
std::vector<std::size_t> data_offsets(const std::vector<std::uint8_t>& bytes) {
    const auto* root = flatbuffers::GetRoot<flatbuffers::Table>(bytes.data());
    using buffers_t = flatbuffers::Vector<flatbuffers::Offset<flatbuffers::Table>>;
    const auto* buffers = root->GetPointer<const buffers_t*>(fb::slot(field::model::buffers));
    std::vector<std::size_t> out;
    REQUIRE(buffers != nullptr);
    for (flatbuffers::uoffset_t i = 0; i < buffers->size(); ++i) {
        const auto* data =
            buffers->Get(i)->GetPointer<const flatbuffers::Vector<std::uint8_t>*>(fb::slot(field::buffer::data));
        if (data && data->size() > 0) out.push_back(static_cast<std::size_t>(data->Data() - bytes.data()));
    }
    return out;
}

}  // namespace

TEST_CASE("writer: read(write(m)) == m for every shared model, and write(read(write(m))) == write(m)") {
    for (const auto& s : shared_models) {
        const std::string name = s.path;
        CAPTURE(name);
        const model m = read_shared(s);
        const auto bytes = write_model(m);
        dump_if_asked(s.path, bytes);
        REQUIRE(bytes.size() > 8);
        CHECK(std::string(bytes.begin() + 4, bytes.begin() + 8) == "TFL3");
        const model m2 = read_model(std::span<const std::uint8_t>(bytes));
        check_same_model(m, m2);
        CHECK(write_model(m2) == bytes);
    }
}

TEST_CASE("writer: every non-empty buffer's data is 16-byte aligned from the file start") {
    for (const auto& s : shared_models) {
        const std::string name = s.path;
        CAPTURE(name);
        const model m = read_shared(s);
        const auto bytes = write_model(m);
        std::size_t non_empty = 0;
        for (const auto& b : m.buffers) non_empty += b.data.empty() ? 0 : 1;
        const auto offsets = data_offsets(bytes);
        CHECK(offsets.size() == non_empty);
        for (const auto offset : offsets) {
            CAPTURE(offset);
            CHECK(offset % 16 == 0);
        }
        // A larger alignment is honoured too.
        write_options wide;
        wide.buffer_alignment = 32;  // flatbuffers' largest
        for (const auto offset : data_offsets(write_model(m, wide))) CHECK(offset % 32 == 0);
    }
}

namespace {

struct golden_case {
    const char* name;
    int input_files;
    bool int32_input;
};

// Runs `m` on the golden inputs of models/seanet/<name>; mismatching elements.
std::size_t golden_mismatches(const model& m, const golden_case& c, std::size_t& total) {
    const std::string base = std::string("models/seanet/") + c.name;
    executor run(m);
    for (int k = 0; k < c.input_files; ++k) {
        const std::string file = base + "_input" + std::to_string(k) + (c.int32_input ? "_int32.csv" : "_int16.csv");
        if (c.int32_input) run.set_input<std::int32_t>(k, qtl::test::read_csv_integers<std::int32_t>(file));
        else run.set_input<std::int16_t>(k, qtl::test::read_csv_integers<std::int16_t>(file));
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

}  // namespace

TEST_CASE("writer: the executor matches the seanet goldens bit for bit on the rewritten files") {
    const golden_case cases[] = {
        {"add0", 2, false},      {"add1", 2, false}, {"conv0", 1, false},          {"conv1", 1, false},
        {"leaky_relu0", 1, false}, {"pad0", 1, false}, {"quantize0", 1, true}, {"strided_slice0", 1, false},
        {"sub0", 2, false},
    };
    for (const auto& c : cases) {
        CAPTURE(c.name);
        const model m = read_model(qtl::test::shared_file(std::string("models/seanet/") + c.name + ".tflite"));
        const auto bytes = write_model(m);
        std::size_t total = 0;
        CHECK(golden_mismatches(read_model(std::span<const std::uint8_t>(bytes)), c, total) == 0);
        CHECK(total > 0);
    }
}

TEST_CASE("writer: hello_world_int8 and micro_speech give the same outputs from the original and the rewritten file") {
    std::mt19937 rng(5);
    for (const char* path : {"models/hello_world_int8.tflite", "models/micro_speech_quantized.tflite"}) {
        CAPTURE(path);
        const model m = read_model(qtl::test::shared_file(path));
        const auto bytes = write_model(m);
        executor original(m), rewritten(read_model(std::span<const std::uint8_t>(bytes)));
        REQUIRE(original.input_count() == 1);
        REQUIRE(original.input_tensor(0).type == tensor_type::INT8);  // both models take int8
        const std::size_t count = qtl::num_elements(original.input_tensor(0).shape);
        for (int trial = 0; trial < 4; ++trial) {
            std::vector<std::byte> input(count);
            for (auto& x : input) x = static_cast<std::byte>(rng() & 0xff);
            original.set_input_bytes(0, input);
            rewritten.set_input_bytes(0, input);
            original.invoke();
            rewritten.invoke();
            const auto a = original.output_bytes(0);
            const auto b = rewritten.output_bytes(0);
            CHECK(std::vector<std::byte>(a.begin(), a.end()) == std::vector<std::byte>(b.begin(), b.end()));
        }
    }
}

TEST_CASE("writer: serving_default signature and min_runtime_version metadata") {
    model m = read_model(qtl::test::shared_file("models/seanet/add0.tflite"));
    m.signature_defs.clear();
    // Drop any existing min_runtime_version so that the helper adds one.
    std::erase_if(m.metadata, [](const metadata& e) { return e.name == "min_runtime_version"; });
    add_serving_default_signature(m);
    REQUIRE(m.signature_defs.size() == 1);
    const auto& d = m.signature_defs[0];
    CHECK(d.signature_key == "serving_default");
    CHECK(d.subgraph_index == 0);
    REQUIRE(d.inputs.size() == 2);  // add0: two inputs, one output (README)
    REQUIRE(d.outputs.size() == 1);
    CHECK(d.inputs[0].tensor_index == static_cast<std::uint32_t>(m.main().inputs[0]));
    CHECK(d.inputs[0].name == m.main().tensors[static_cast<std::size_t>(m.main().inputs[0])].name);
    CHECK(d.outputs[0].tensor_index == static_cast<std::uint32_t>(m.main().outputs[0]));
    add_serving_default_signature(m);  // already there: unchanged
    CHECK(m.signature_defs.size() == 1);

    const auto buffers_before = m.buffers.size();
    set_min_runtime_version(m, "2.3.0");
    REQUIRE(m.buffers.size() == buffers_before + 1);
    const auto bytes = m.metadata_bytes("min_runtime_version");
    REQUIRE(bytes.has_value());
    // "2.3.0" = 5 characters + 11 NULs: 16 bytes.
    const std::vector<std::uint8_t> expected = {'2', '.', '3', '.', '0', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    CHECK(std::vector<std::uint8_t>(bytes->begin(), bytes->end()) == expected);
    set_min_runtime_version(m, "2.14.0");  // replaces the entry's bytes
    CHECK(m.buffers.size() == buffers_before + 1);
    CHECK(m.metadata_bytes("min_runtime_version")->size() == 16);

    const model back = read_model(std::span<const std::uint8_t>(write_model(m)));
    REQUIRE(back.signature_defs.size() == 1);
    CHECK(back.signature_defs[0].signature_key == "serving_default");
    const auto version = back.metadata_bytes("min_runtime_version");
    REQUIRE(version.has_value());
    CHECK(std::string(reinterpret_cast<const char*>(version->data())) == "2.14.0");

    CHECK_THROWS_AS(set_min_runtime_version(m, ""), qtl::error);
    CHECK_THROWS_AS(set_min_runtime_version(m, "0123456789abcdef"), qtl::error);  // 16 chars: no room for a NUL
}

TEST_CASE("writer: duplicate or empty tensor names get unique signature names") {
    model m = read_model(qtl::test::shared_file("models/seanet/add0.tflite"));
    m.signature_defs.clear();
    auto& g = m.subgraphs[0];
    g.tensors[static_cast<std::size_t>(g.inputs[0])].name = "x";
    g.tensors[static_cast<std::size_t>(g.inputs[1])].name = "x";
    g.tensors[static_cast<std::size_t>(g.outputs[0])].name = "";
    add_serving_default_signature(m);
    REQUIRE(m.signature_defs.size() == 1);
    CHECK(m.signature_defs[0].inputs[0].name == "x");
    CHECK(m.signature_defs[0].inputs[1].name == "input_1");
    CHECK(m.signature_defs[0].outputs[0].name == "output_0");
}

TEST_CASE("writer: errors") {
    const model good = read_model(qtl::test::shared_file("models/seanet/add0.tflite"));
    {
        model m = good;
        m.buffers[0].data = {1, 2, 3};
        CHECK_THROWS_WITH_AS(write_model(m), doctest::Contains("buffer 0 must exist and be empty"), qtl::error);
    }
    {
        model m = good;
        m.buffers.clear();
        for (auto& t : m.subgraphs[0].tensors) t.buffer = 0;
        CHECK_THROWS_AS(write_model(m), qtl::error);
    }
    {
        model m = good;
        m.subgraphs.clear();
        CHECK_THROWS_WITH_AS(write_model(m), doctest::Contains("no subgraph"), qtl::error);
    }
    {
        model m = good;
        m.version = 2;
        CHECK_THROWS_WITH_AS(write_model(m), doctest::Contains("schema version is 2"), qtl::error);
    }
    {
        model m = good;
        m.subgraphs[0].operators[0].opcode_index = 99;
        CHECK_THROWS_WITH_AS(write_model(m), doctest::Contains("opcode_index 99"), qtl::error);
    }
    {
        write_options o;
        o.buffer_alignment = 24;
        CHECK_THROWS_WITH_AS(write_model(good, o), doctest::Contains("power of two"), qtl::error);
        o.buffer_alignment = 64;  // above flatbuffers' FLATBUFFERS_MAX_ALIGNMENT (32)
        CHECK_THROWS_WITH_AS(write_model(good, o), doctest::Contains("buffer_alignment is 64"), qtl::error);
        o.buffer_alignment = 0;
        CHECK_THROWS_AS(write_model(good, o), qtl::error);
    }
    {
        // Caught by reading the written bytes back (write_options::verify).
        model m = good;
        m.subgraphs[0].operators[0].inputs[0] = 1000;
        CHECK_THROWS_WITH_AS(write_model(m), doctest::Contains("does not read back"), qtl::error);
        write_options unchecked;
        unchecked.verify = false;
        const auto bytes = write_model(m, unchecked);
        CHECK_THROWS_AS(read_model(std::span<const std::uint8_t>(bytes)), qtl::error);
    }
}

namespace {

// A hand-built model with what the shared models do not have: block-wise
// quantization (with and without a zero-points tensor), min/max, a variable
// tensor, shape_signature, every options struct with non-default values, a
// CUSTOM op with custom options, an op code >= 127, intermediates,
// several subgraphs, two signature defs.  The ops are not runnable; the
// round trip only needs them to be well formed.
model synthetic_model() {
    model m;
    m.description = "qtl writer test";
    m.buffers.resize(1);
    auto add_buffer = [&](std::vector<std::uint8_t> bytes) {
        m.buffers.push_back(buffer{std::move(bytes)});
        return static_cast<std::uint32_t>(m.buffers.size() - 1);
    };
    subgraph g;
    g.name = "main";
    // 0: INT8 [2,4] weights, block-wise, block_size 2: 4 blocks.
    tensor w;
    w.name = "w";
    w.type = tensor_type::INT8;
    w.shape = {2, 4};
    w.buffer = add_buffer({1, 2, 3, 4, 5, 6, 7, 8});
    w.quantization = quantization{};
    w.quantization->blockwise = blockwise_quantization{1, -1, 2};
    // 1: FLOAT32 [2,2] scales 0.5, 0.25, 2, 4 (bytes of the IEEE floats, little endian).
    tensor s;
    s.name = "scales";
    s.type = tensor_type::FLOAT32;
    s.shape = {2, 2};
    {
        const float v[4] = {0.5f, 0.25f, 2.0f, 4.0f};
        std::vector<std::uint8_t> bytes(sizeof v);
        std::memcpy(bytes.data(), v, sizeof v);
        s.buffer = add_buffer(bytes);
    }
    // 2: INT4 [1,4] block-wise with zero points (tensor 3), block_size 2: 2 blocks.
    tensor w4;
    w4.name = "w4";
    w4.type = tensor_type::INT4;
    w4.shape = {1, 4};
    w4.buffer = add_buffer({0x21, 0x43});
    w4.quantization = quantization{};
    w4.quantization->blockwise = blockwise_quantization{4, 3, 2};
    tensor zp;  // 3: INT8 [2] zero points 1, -2
    zp.name = "zp";
    zp.type = tensor_type::INT8;
    zp.shape = {2};
    zp.buffer = add_buffer({1, 0xfe});
    tensor s4;  // 4: FLOAT32 [2] scales 1, 8
    s4.name = "s4";
    s4.type = tensor_type::FLOAT32;
    s4.shape = {2};
    {
        const float v[2] = {1.0f, 8.0f};
        std::vector<std::uint8_t> bytes(sizeof v);
        std::memcpy(bytes.data(), v, sizeof v);
        s4.buffer = add_buffer(bytes);
    }
    // 5: INT8 activation [-1,3] with min/max, per tensor.
    tensor x;
    x.name = "x";
    x.type = tensor_type::INT8;
    x.shape = {1, 3};
    x.shape_signature = {-1, 3};
    x.quantization = quantization{{0.125f}, {-3}, {-16.0f}, {15.875f}, 0, std::nullopt, {}};
    // 6: INT16 variable state [1,3], per axis on dimension 1.
    tensor v;
    v.name = "state";
    v.type = tensor_type::INT16;
    v.shape = {1, 3};
    v.is_variable = true;
    v.quantization = quantization{{1.0f, 2.0f, 3.0f}, {0, 0, 0}, {}, {}, 1, std::nullopt, {}};
    g.tensors = {w, s, w4, zp, s4, x, v};
    g.inputs = {5};
    g.outputs = {6};

    const std::pair<builtin_operator, builtin_options> ops[] = {
        {builtin_operator::CONV_2D,
         conv_2d_options{padding::VALID, 2, 3, activation_function_type::RELU6, 2, 3, tensor_type::INT64}},
        {builtin_operator::DEPTHWISE_CONV_2D,
         depthwise_conv_2d_options{padding::VALID, 1, 2, 3, activation_function_type::RELU, 4, 5}},
        {builtin_operator::MAX_POOL_2D, pool_2d_options{padding::VALID, 2, 2, 3, 3, activation_function_type::RELU_N1_TO_1}},
        {builtin_operator::FULLY_CONNECTED,
         fully_connected_options{activation_function_type::RELU, fully_connected_options_weights_format::DEFAULT, true,
                                 true, tensor_type::INT32}},
        {builtin_operator::SOFTMAX, softmax_options{0.75f}},
        {builtin_operator::CONCATENATION, concatenation_options{-1, activation_function_type::RELU6}},
        {builtin_operator::ADD, add_options{activation_function_type::RELU, false}},
        {builtin_operator::SUB, sub_options{activation_function_type::RELU6, false}},
        {builtin_operator::MUL, mul_options{activation_function_type::RELU}},
        {builtin_operator::RESHAPE, reshape_options{std::vector<std::int32_t>{3, -1}}},
        {builtin_operator::MEAN, reducer_options{true}},
        {builtin_operator::STRIDED_SLICE, strided_slice_options{1, 2, 0, 0, 1, true}},
        {builtin_operator::LEAKY_RELU, leaky_relu_options{0.2f}},
        {builtin_operator::PAD, pad_options{}},
        {builtin_operator::TRANSPOSE, transpose_options{}},
        {builtin_operator::QUANTIZE, quantize_options{}},
        {builtin_operator::DEQUANTIZE, dequantize_options{}},
        {builtin_operator::HARD_SWISH, hard_swish_options{}},
    };
    for (const auto& [code, options] : ops) {
        operator_code c;
        c.builtin_code = code;
        c.deprecated_builtin_code = static_cast<std::int8_t>(code);
        c.version = 2;
        m.operator_codes.push_back(c);
        op o;
        o.opcode_index = static_cast<std::uint32_t>(m.operator_codes.size() - 1);
        o.builtin_code = code;
        o.version = 2;
        o.inputs = {5, -1};
        o.outputs = {6};
        o.options_type = detail::options_type_of(options);
        o.options = options;
        g.operators.push_back(o);
    }
    {  // GELU (150): stored in builtin_code, 127 in the byte; options not decoded by qtl.
        operator_code c;
        c.builtin_code = builtin_operator::GELU;
        c.deprecated_builtin_code = 127;
        m.operator_codes.push_back(c);
        op o;
        o.opcode_index = static_cast<std::uint32_t>(m.operator_codes.size() - 1);
        o.builtin_code = builtin_operator::GELU;
        o.inputs = {5};
        o.outputs = {6};
        o.intermediates = {0, 1};
        o.options_type = builtin_options_type::GeluOptions;
        g.operators.push_back(o);
    }
    {  // CUSTOM op with its options bytes.
        operator_code c;
        c.builtin_code = builtin_operator::CUSTOM;
        c.deprecated_builtin_code = 32;
        c.custom_code = "MyCustomOp";
        c.version = 3;
        m.operator_codes.push_back(c);
        op o;
        o.opcode_index = static_cast<std::uint32_t>(m.operator_codes.size() - 1);
        o.builtin_code = builtin_operator::CUSTOM;
        o.version = 3;
        o.inputs = {5};
        o.outputs = {6};
        o.custom_options = {9, 8, 7, 6, 5};
        g.operators.push_back(o);
    }
    m.subgraphs.push_back(g);
    subgraph second;  // a tiny second subgraph (as IF/WHILE bodies would be)
    second.name = "body";
    tensor y;
    y.name = "y";
    y.type = tensor_type::FLOAT32;
    y.shape = {};
    second.tensors = {y};
    second.inputs = {0};
    second.outputs = {0};
    m.subgraphs.push_back(second);
    m.signature_defs.push_back(signature_def{"serving_default", 0, {{"x", 5}}, {{"state", 6}}});
    m.signature_defs.push_back(signature_def{"body", 1, {{"y_in", 0}}, {{"y_out", 0}}});
    m.metadata.push_back(metadata{"note", add_buffer({'h', 'i'})});
    return m;
}

}  // namespace

TEST_CASE("writer: a hand-built model with block-wise quantization, every options struct, custom ops") {
    const model original = synthetic_model();
    // The writer's verify step reads the bytes back, resolving block-wise params.
    const auto bytes = write_model(original);
    const model back = read_model(std::span<const std::uint8_t>(bytes));
    // `original` has no resolved params (it was built by hand); read back, they
    // are the scales/zero points written into tensors 1, 3 and 4 above.
    const auto& qw = *back.main().tensors[0].quantization;
    CHECK(qw.params.scales == std::vector<float>{0.5f, 0.25f, 2.0f, 4.0f});
    CHECK(qw.params.zero_points == std::vector<std::int32_t>(4, 0));  // -1: all zero
    CHECK(qw.params.block_size == 2);
    CHECK(qw.params.axis == 1);  // the last dimension
    REQUIRE(qw.blockwise.has_value());
    CHECK(qw.blockwise->zero_points == -1);
    const auto& q4 = *back.main().tensors[2].quantization;
    CHECK(q4.params.scales == std::vector<float>{1.0f, 8.0f});
    CHECK(q4.params.zero_points == std::vector<std::int32_t>{1, -2});
    // A second write of the read-back model is the same file, and reads back equal.
    CHECK(write_model(back) == bytes);
    check_same_model(back, read_model(std::span<const std::uint8_t>(write_model(back))));
    // Everything but the resolved params equals the hand-built model.
    model expected = original;
    for (std::size_t i : {std::size_t{0}, std::size_t{2}, std::size_t{5}, std::size_t{6}})
        expected.subgraphs[0].tensors[i].quantization->params = back.main().tensors[i].quantization->params;
    check_same_model(expected, back);
    // Per-tensor / per-axis params as the reader resolves them.
    CHECK(back.main().tensors[5].quantization->params.axis == -1);
    CHECK(back.main().tensors[6].quantization->params.axis == 1);
    CHECK(back.main().tensors[6].quantization->params.scales == std::vector<float>{1.0f, 2.0f, 3.0f});
    CHECK(back.operator_codes[18].deprecated_builtin_code == 127);  // GELU (150)
    CHECK(back.operator_codes[18].builtin_code == builtin_operator::GELU);
}
