// read_model() on malformed input: real files from ../shared/models with
// bytes patched in the test, every truncation and every single-byte flip of
// small real files, random corruption, and small models built here with
// flatbuffers' builder for what no real file has (block-wise quantization,
// int4 data, unsupported types, buffers stored after the flatbuffer).
// Every case must end in a qtl::error naming the place, never a crash or
// another exception.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <flatbuffers/flatbuffers.h>

#include "qtl/io/tflite/reader.hpp"
#include "support/shared_data.hpp"

using namespace qtl::tflite;
using bytes_t = std::vector<std::uint8_t>;

namespace {

bytes_t shared_bytes(const std::string& relative) {
    std::ifstream in(qtl::test::shared_file(relative), std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Locating bytes to patch: positions of fields and vectors in a verified file.
struct locator {
    const bytes_t& bytes;
    const fb::model_table& root;
    explicit locator(const bytes_t& b) : bytes(b), root(verify_model(b)) {}

    std::size_t at(const void* p) const {
        return static_cast<std::size_t>(static_cast<const std::uint8_t*>(p) - bytes.data());
    }
    // The position of a scalar or offset field; the field must be stored.
    std::size_t field(const fb::table& t, int id) const {
        const auto o = t.raw().GetOptionalFieldOffset(fb::slot(id));
        REQUIRE_MESSAGE(o != 0, "field ", id, " is not stored in this table");
        return at(&t) + o;
    }
    const fb::subgraph_table& subgraph() const { return *root.subgraphs()->Get(0); }
    const fb::tensor_table& tensor(unsigned i) const { return *subgraph().tensors()->Get(i); }
    const fb::operator_table& op(unsigned i) const { return *subgraph().operators()->Get(i); }
};

template <class T>
bytes_t patched(bytes_t b, std::size_t position, T value) {
    REQUIRE(position + sizeof(T) <= b.size());
    std::memcpy(b.data() + position, &value, sizeof(T));
    return b;
}

// Expects read_model(b) to throw qtl::error at `where` with `part` in the message.
void check_error(const bytes_t& b, const std::string& where, const std::string& part, const read_options& o = {}) {
    try {
        (void)read_model(b, o);
        FAIL_CHECK("accepted; expected an error at '", where, "' containing '", part, "'");
    } catch (const qtl::error& e) {
        CHECK(e.where() == where);
        CHECK_MESSAGE(e.message().find(part) != std::string::npos, "message: ", e.message());
    }
}

// 1: read, 0: qtl::error; anything else fails the test.
int outcome(std::span<const std::uint8_t> b, const read_options& o = {}) {
    try {
        (void)read_model(b, o);
        return 1;
    } catch (const qtl::error&) {
        return 0;
    } catch (const std::exception& e) {
        FAIL("not a qtl::error: ", e.what());
    }
    return -1;
}

// ---- small models built with flatbuffers' builder ----------------------------
// Field ids transcribed again from schema.fbs (independently of schema.hpp).

constexpr flatbuffers::voffset_t id(int i) { return static_cast<flatbuffers::voffset_t>(4 + 2 * i); }

struct mini_tensor {
    std::vector<std::int32_t> shape{};
    std::int8_t type = 9;  // INT8
    std::uint32_t buffer = 0;
    std::string name = "t";
    bool quantized = false;
    std::vector<float> scale{};
    std::vector<std::int64_t> zero_point{};
    std::int32_t quantized_dimension = 0;
    std::uint8_t details_type = 0;  // 2: BlockwiseQuantization
    bool details_table = true;
    std::int32_t bw_scales = 0, bw_zero_points = -1, bw_block_size = 0;
    bool sparsity = false;
    std::vector<std::int32_t> shape_signature{};
    bool is_variable = false;
    std::uint32_t external_buffer = 0;
};
struct mini_buffer {
    bytes_t data;
    std::uint64_t offset = 0, size = 0;
};
struct mini_op {
    std::uint32_t opcode_index = 0;
    std::vector<std::int32_t> inputs, outputs;
    std::uint8_t options_type = 0;  // with an empty options table when non-zero
};
struct mini_code {
    std::int8_t deprecated = 0;
    std::int32_t builtin = 0;
    std::string custom;
    std::int32_t version = 1;
};
struct mini_model {
    std::uint32_t version = 3;
    std::vector<mini_code> codes;
    std::vector<mini_buffer> buffers = {mini_buffer{}};
    std::vector<mini_tensor> tensors;
    std::vector<std::int32_t> inputs, outputs;
    std::vector<mini_op> ops;
    bool subgraph = true;
    bool signature = false, signature_key = true;
    bytes_t trailing;  // appended after the flatbuffer
};

template <class T>
flatbuffers::Offset<flatbuffers::Vector<T>> vec(flatbuffers::FlatBufferBuilder& b, const std::vector<T>& v) {
    return b.CreateVector(v);
}
using table_offset = flatbuffers::Offset<flatbuffers::Table>;

bytes_t build(const mini_model& m) {
    flatbuffers::FlatBufferBuilder b;
    b.ForceDefaults(true);
    std::vector<table_offset> codes, buffers, tensors, ops, subgraphs, signatures;
    for (const auto& c : m.codes) {
        const auto custom = c.custom.empty() ? flatbuffers::Offset<flatbuffers::String>() : b.CreateString(c.custom);
        const auto s = b.StartTable();
        b.AddElement<std::int8_t>(id(0), c.deprecated, 0);  // OperatorCode.deprecated_builtin_code
        b.AddOffset(id(1), custom);                          // custom_code
        b.AddElement<std::int32_t>(id(2), c.version, 1);      // version
        b.AddElement<std::int32_t>(id(3), c.builtin, 0);      // builtin_code
        codes.push_back(table_offset(b.EndTable(s)));
    }
    for (const auto& x : m.buffers) {
        const auto data = x.data.empty() ? flatbuffers::Offset<flatbuffers::Vector<std::uint8_t>>() : vec(b, x.data);
        const auto s = b.StartTable();
        b.AddOffset(id(0), data);                         // Buffer.data
        b.AddElement<std::uint64_t>(id(1), x.offset, 0);  // offset
        b.AddElement<std::uint64_t>(id(2), x.size, 0);    // size
        buffers.push_back(table_offset(b.EndTable(s)));
    }
    for (const auto& t : m.tensors) {
        table_offset quantization;
        if (t.quantized) {
            table_offset details;
            if (t.details_type != 0 && t.details_table) {
                const auto s = b.StartTable();
                b.AddElement<std::int32_t>(id(0), t.bw_scales, 0);       // BlockwiseQuantization.scales
                b.AddElement<std::int32_t>(id(1), t.bw_zero_points, 0);  // zero_points
                b.AddElement<std::int32_t>(id(2), t.bw_block_size, 0);  // block_size
                details = table_offset(b.EndTable(s));
            }
            const auto scale = vec(b, t.scale);
            const auto zero_point = vec(b, t.zero_point);
            const auto s = b.StartTable();
            b.AddOffset(id(2), scale);                                  // QuantizationParameters.scale
            b.AddOffset(id(3), zero_point);                             // zero_point
            b.AddElement<std::uint8_t>(id(4), t.details_type, 0);       // details_type
            b.AddOffset(id(5), details);                                // details
            b.AddElement<std::int32_t>(id(6), t.quantized_dimension, 0);  // quantized_dimension
            quantization = table_offset(b.EndTable(s));
        }
        table_offset sparsity;
        if (t.sparsity) sparsity = table_offset(b.EndTable(b.StartTable()));
        const auto shape = vec(b, t.shape);
        const auto name = b.CreateString(t.name);
        const auto signature =
            t.shape_signature.empty() ? flatbuffers::Offset<flatbuffers::Vector<std::int32_t>>() : vec(b, t.shape_signature);
        const auto s = b.StartTable();
        b.AddOffset(id(0), shape);                                   // Tensor.shape
        b.AddElement<std::int8_t>(id(1), t.type, 0);                 // type
        b.AddElement<std::uint32_t>(id(2), t.buffer, 0);             // buffer
        b.AddOffset(id(3), name);                                    // name
        b.AddOffset(id(4), quantization);                            // quantization
        b.AddElement<std::uint8_t>(id(5), t.is_variable ? 1 : 0, 0);  // is_variable
        b.AddOffset(id(6), sparsity);                                // sparsity
        b.AddOffset(id(7), signature);                               // shape_signature
        b.AddElement<std::uint32_t>(id(10), t.external_buffer, 0);   // external_buffer
        tensors.push_back(table_offset(b.EndTable(s)));
    }
    for (const auto& o : m.ops) {
        const auto inputs = vec(b, o.inputs);
        const auto outputs = vec(b, o.outputs);
        const auto options = o.options_type ? table_offset(b.EndTable(b.StartTable())) : table_offset();
        const auto s = b.StartTable();
        b.AddElement<std::uint32_t>(id(0), o.opcode_index, 0);    // Operator.opcode_index
        b.AddOffset(id(1), inputs);                               // inputs
        b.AddOffset(id(2), outputs);                              // outputs
        b.AddElement<std::uint8_t>(id(3), o.options_type, 0);     // builtin_options_type
        b.AddOffset(id(4), options);                              // builtin_options
        ops.push_back(table_offset(b.EndTable(s)));
    }
    if (m.subgraph) {
        const auto t = b.CreateVector(tensors);
        const auto in = vec(b, m.inputs);
        const auto out = vec(b, m.outputs);
        const auto o = b.CreateVector(ops);
        const auto s = b.StartTable();
        b.AddOffset(id(0), t);    // SubGraph.tensors
        b.AddOffset(id(1), in);   // inputs
        b.AddOffset(id(2), out);  // outputs
        b.AddOffset(id(3), o);    // operators
        subgraphs.push_back(table_offset(b.EndTable(s)));
    }
    if (m.signature) {
        const auto key = m.signature_key ? b.CreateString("serving_default") : flatbuffers::Offset<flatbuffers::String>();
        const auto s = b.StartTable();
        b.AddOffset(id(2), key);                   // SignatureDef.signature_key
        b.AddElement<std::uint32_t>(id(4), 0, 0);  // subgraph_index
        signatures.push_back(table_offset(b.EndTable(s)));
    }
    const auto c = b.CreateVector(codes);
    const auto sg = b.CreateVector(subgraphs);
    const auto bu = b.CreateVector(buffers);
    const auto si = b.CreateVector(signatures);
    const auto s = b.StartTable();
    b.AddElement<std::uint32_t>(id(0), m.version, 0);  // Model.version
    b.AddOffset(id(1), c);                             // operator_codes
    b.AddOffset(id(2), sg);                            // subgraphs
    b.AddOffset(id(4), bu);                            // buffers
    b.AddOffset(id(7), si);                            // signature_defs
    b.Finish(table_offset(b.EndTable(s)), "TFL3");
    bytes_t out(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
    out.insert(out.end(), m.trailing.begin(), m.trailing.end());
    return out;
}

bytes_t half_bytes(std::initializer_list<std::uint16_t> halves) {
    bytes_t out;
    for (const auto h : halves) {
        out.push_back(static_cast<std::uint8_t>(h & 0xff));
        out.push_back(static_cast<std::uint8_t>(h >> 8));
    }
    return out;
}

// INT4 weights [2, 4] with block size 2 (4 blocks) and FLOAT16 scales [2, 2].
mini_model blockwise_model() {
    mini_model m;
    m.buffers.push_back({bytes_t{0x10, 0x32, 0x54, 0x76}});  // 8 int4 values
    // binary16: 0x3C00 = 1.0, 0x3800 = 0.5, 0x4000 = 2.0, 0x3400 = 0.25
    m.buffers.push_back({half_bytes({0x3C00, 0x3800, 0x4000, 0x3400})});
    mini_tensor w;
    w.name = "weights";
    w.shape = {2, 4};
    w.type = 17;  // INT4
    w.buffer = 1;
    w.quantized = true;
    w.details_type = 2;  // BlockwiseQuantization
    w.bw_scales = 1;
    w.bw_zero_points = -1;
    w.bw_block_size = 2;
    mini_tensor s;
    s.name = "scales";
    s.shape = {2, 2};
    s.type = 1;  // FLOAT16
    s.buffer = 2;
    m.tensors = {w, s};
    return m;
}

}  // namespace

TEST_CASE("mini models: the builder makes files the reader accepts") {
    mini_model m;
    m.codes = {{3, 3, "", 3}};  // CONV_2D v3
    m.tensors = {mini_tensor{.shape = {1, 4}}, mini_tensor{.shape = {1, 4}}};
    m.inputs = {0};
    m.outputs = {1};
    m.ops = {mini_op{0, {0, -1, -1}, {1}, 0}};
    const auto model = read_model(build(m));
    REQUIRE(model.main().operators.size() == 1);
    const auto& o = model.main().operators[0];
    CHECK(o.builtin_code == builtin_operator::CONV_2D);
    CHECK(o.inputs == std::vector<std::int32_t>{0, -1, -1});  // -1: absent optional inputs
    // No options table: the schema defaults.
    CHECK(o.options_as<conv_2d_options>() == conv_2d_options{});
    CHECK(o.options_as<conv_2d_options>().dilation_w_factor == 1);
}

TEST_CASE("operator codes: max(deprecated_builtin_code, builtin_code); unknown ops are named, not refused") {
    mini_model m;
    m.codes = {{4, 0, "", 1},       // old file: only the byte (DEPTHWISE_CONV_2D)
               {127, 150, "", 1},   // code >= 127: the placeholder byte and builtin_code GELU
               {127, 300, "", 2},   // not in the schema
               {32, 32, "MyOp", 1}};  // CUSTOM
    m.tensors = {mini_tensor{.shape = {2}}, mini_tensor{.shape = {2}}};
    m.ops = {{0, {0}, {1}}, {1, {0}, {1}}, {2, {0}, {1}}, {3, {0}, {1}}};
    const auto model = read_model(build(m));
    const auto& ops = model.main().operators;
    CHECK(ops[0].builtin_code == builtin_operator::DEPTHWISE_CONV_2D);
    CHECK(ops[1].builtin_code == builtin_operator::GELU);
    CHECK(describe(ops[2].builtin_code) == "builtin operator 300");
    CHECK(ops[2].version == 2);
    CHECK(std::holds_alternative<std::monostate>(ops[1].options));
    CHECK(model.operator_codes[3].custom_code == "MyOp");

    m.ops = {{3, {0}, {-1}}};
    check_error(build(m), "operator 0 (CUSTOM 'MyOp')", "output tensor index -1 is out of range");
    m.ops = {{1, {0, 2}, {1}}};
    check_error(build(m), "operator 0 (GELU)", "input tensor index 2 is out of range: the subgraph has 2 tensors");
    m.ops = {{4, {0}, {1}}};
    check_error(build(m), "operator 0 (?)", "opcode_index 4 is out of range: the model has 4 operator codes");
}

TEST_CASE("builtin options: a table of the wrong type is refused; ops without options must have none") {
    mini_model m;
    m.codes = {{3, 3, "", 1}, {14, 14, "", 1}};  // CONV_2D, LOGISTIC
    m.tensors = {mini_tensor{.shape = {2}}, mini_tensor{.shape = {2}}};
    m.ops = {{0, {0}, {1}, 8}};  // FullyConnectedOptions on a CONV_2D
    check_error(build(m), "operator 0 (CONV_2D)", "builtin options are FullyConnectedOptions, expected Conv2DOptions");
    m.ops = {{1, {0}, {1}, 1}};
    check_error(build(m), "operator 0 (LOGISTIC)", "has builtin options Conv2DOptions, expected none");
    m.ops = {{1, {0}, {1}, 0}};
    CHECK(std::holds_alternative<std::monostate>(read_model(build(m)).main().operators[0].options));
}

TEST_CASE("block-wise quantization: scales and zero points resolved from their tensors") {
    auto m = blockwise_model();
    {
        const auto model = read_model(build(m));
        const auto& q = *model.main().tensors[0].quantization;
        CHECK(q.blockwise == blockwise_quantization{1, -1, 2});
        CHECK(q.scale.empty());
        // Blocks along the last dimension, row-major: [2 rows][2 blocks].
        CHECK(q.params == qtl::quant_params{{1.0f, 0.5f, 2.0f, 0.25f}, {0, 0, 0, 0}, 1, 2});
        CHECK(model.data_of(model.main().tensors[0]).size() == 4);  // 8 int4 values, packed
    }
    // With an INT8 zero-point tensor.
    m.buffers.push_back({bytes_t{0, 1, 0xFE, 7}});  // 0, 1, -2, 7
    m.tensors.push_back(mini_tensor{.shape = {4}, .type = 9, .buffer = 3, .name = "zero_points"});
    m.tensors[0].bw_zero_points = 2;
    CHECK(read_model(build(m)).main().tensors[0].quantization->params.zero_points ==
          std::vector<std::int32_t>{0, 1, -2, 7});
    m.buffers[3].data = {0, 1, 8, 7};  // 8 is outside int4
    check_error(build(m), "tensor 0 'weights'", "block-wise zero point[2] is 8, outside the range of INT4 [-8, 7]");
}

TEST_CASE("block-wise quantization: every inconsistency is a qtl::error naming the tensor") {
    const std::string where = "tensor 0 'weights'";
    auto m = blockwise_model();
    m.tensors[0].bw_block_size = 3;
    check_error(build(m), where, "the last dimension (4) is not a multiple of block_size 3");
    m = blockwise_model();
    m.tensors[0].bw_block_size = 0;
    check_error(build(m), where, "block_size is 0, expected > 0");
    m = blockwise_model();
    m.tensors[0].bw_scales = 9;
    check_error(build(m), where, "block-wise scales tensor index 9 is out of range");
    m = blockwise_model();
    m.tensors[0].bw_scales = 0;
    check_error(build(m), where, "the tensor cannot be its own scales");
    m = blockwise_model();
    m.tensors[1].type = 9;  // INT8 scales (same byte count as 4 halves? no: 4 bytes for 4 values)
    m.buffers[2].data.resize(4);
    check_error(build(m), where, "has type INT8, expected FLOAT16 or FLOAT32");
    m = blockwise_model();
    m.buffers[2].data = half_bytes({0x3C00, 0x0000, 0x4000, 0x3400});
    check_error(build(m), where, "block-wise scale[1] is 0, expected a finite value > 0");
    m = blockwise_model();
    m.buffers[2].data = half_bytes({0x3C00, 0x3800, 0x7E00, 0x3400});  // NaN
    check_error(build(m), where, "block-wise scale[2] is nan");
    m = blockwise_model();
    m.buffers[2].data = half_bytes({0x3C00, 0xB800, 0x4000, 0x3400});  // -0.5
    check_error(build(m), where, "block-wise scale[1] is -0.5");
    m = blockwise_model();
    m.tensors[1].shape = {2, 1};
    m.buffers[2].data.resize(4);
    check_error(build(m), where, "has 2 elements, expected 4 (8 elements / block_size 2)");
    m = blockwise_model();
    m.tensors[1].buffer = 0;
    check_error(build(m), where, "block-wise scales tensor 1 'scales' has no constant data");
    m = blockwise_model();
    m.tensors[0].shape = {2, 3};
    m.buffers[1].data.resize(3);
    m.tensors[0].bw_block_size = 1;
    m.tensors[1].shape = {6};
    m.buffers[2].data = half_bytes({0x3C00, 0x3C00, 0x3C00, 0x3C00, 0x3C00, 0x3C00});
    check_error(build(m), where, "block_size 1 is odd; INT4 blocks must fill whole bytes");
    m = blockwise_model();
    m.tensors[0].type = 7;  // INT16
    m.buffers[1].data.resize(16);
    check_error(build(m), where, "block-wise quantization of a INT16 tensor is not supported");
    m = blockwise_model();
    m.tensors[0].details_table = false;
    check_error(build(m), where, "details_type is BlockwiseQuantization but the details table is missing");
    m = blockwise_model();
    m.tensors[0].details_type = 1;
    check_error(build(m), where, "quantization details CustomQuantization are not supported");
    m.tensors[0].details_type = 7;
    check_error(build(m), where, "quantization details 7 are not supported");
}

TEST_CASE("tensors: types, int4 sizes, sparsity, external and variable buffers, shape signatures") {
    mini_model m;
    m.buffers.push_back({bytes_t{1, 2, 3}});
    m.tensors = {mini_tensor{.shape = {5}, .type = 17, .buffer = 1, .name = "w4"}};  // 5 int4: 3 bytes
    CHECK(read_model(build(m)).data_of(read_model(build(m)).main().tensors[0]).size() == 3);
    m.buffers[1].data = {1, 2, 3, 4, 5};
    check_error(build(m), "tensor 0 'w4'", "buffer 1 holds 5 bytes, expected 3 for INT4 [5] (two int4 values per byte)");

    m = mini_model{};
    m.tensors = {mini_tensor{.shape = {2}, .type = 5, .name = "s"}};
    check_error(build(m), "tensor 0 's'",
                "tensor type STRING is not supported (supported: FLOAT32, FLOAT16, INT32, UINT8, INT64, INT16, "
                "INT8, INT4)");
    m.tensors[0].type = 23;
    check_error(build(m), "tensor 0 's'", "tensor type 23 is not supported");
    m.tensors[0].type = 9;
    m.tensors[0].sparsity = true;
    check_error(build(m), "tensor 0 's'", "sparse tensors are not supported");
    m.tensors[0].sparsity = false;
    m.tensors[0].external_buffer = 1;
    check_error(build(m), "tensor 0 's'", "external buffers are not supported");
    m.tensors[0].external_buffer = 0;
    m.tensors[0].shape_signature = {-1};
    CHECK(read_model(build(m)).main().tensors[0].shape_signature == std::vector<std::int32_t>{-1});
    m.tensors[0].shape_signature = {-1, 2};
    check_error(build(m), "tensor 0 's'", "shape_signature [-1, 2] has rank 2, expected the rank of shape [2]");
    m.tensors[0].shape_signature = {3};
    check_error(build(m), "tensor 0 's'", "shape_signature [3] disagrees with shape [2] in dimension 0");
    m.tensors[0].shape_signature = {};
    m.buffers.push_back({bytes_t{1, 2}});
    m.tensors[0].buffer = 1;
    m.tensors[0].is_variable = true;
    check_error(build(m), "tensor 0 's'", "a variable tensor cannot have constant data");
}

TEST_CASE("buffers stored after the flatbuffer (offset/size) are read, within the file only") {
    mini_model m;
    m.tensors = {mini_tensor{.shape = {4}, .type = 9, .buffer = 1, .name = "w"}};
    m.buffers.push_back({bytes_t{}, 1000, 4});
    m.trailing = {11, 22, 33, 44};
    // The flatbuffer's size does not depend on the offset's value: build
    // once to learn it, then point the buffer at the trailing bytes.
    const auto size = build(m).size() - m.trailing.size();
    m.buffers[1].offset = size;
    const auto model = read_model(build(m));
    const auto data = model.data_of(model.main().tensors[0]);
    CHECK(bytes_t(data.begin(), data.end()) == bytes_t{11, 22, 33, 44});
    m.buffers[1].offset = size + 1;  // one byte past the end
    check_error(build(m), "buffer 1", "data at file offset " + std::to_string(size + 1) + " with size 4 lies outside the file");
    m.buffers[1].offset = std::numeric_limits<std::uint64_t>::max();
    check_error(build(m), "buffer 1", "lies outside the file");
}

TEST_CASE("affine quantization: counts, scales, zero points, quantized_dimension and its repair") {
    mini_model m;
    mini_tensor t{.shape = {3, 2}, .type = 9, .name = "q"};
    t.quantized = true;
    t.scale = {0.5f, 0.25f, 0.125f};
    t.zero_point = {0, 0, 0};
    t.quantized_dimension = 0;
    m.tensors = {t};
    CHECK(read_model(build(m)).main().tensors[0].quantization->params ==
          qtl::quant_params{{0.5f, 0.25f, 0.125f}, {0, 0, 0}, 0, 0});
    m.tensors[0].zero_point = {0};
    check_error(build(m), "tensor 0 'q'", "quantization has 3 scales and 1 zero points; TFLite requires the same number");
    m.tensors[0].zero_point = {0, 0, 0};
    m.tensors[0].quantized_dimension = 1;
    check_error(build(m), "tensor 0 'q'",
                "quantization has 3 scales, expected 1 (per tensor) or 2 (per axis: dimension 1 of shape [3, 2])");
    m.tensors[0].quantized_dimension = -1;
    check_error(build(m), "tensor 0 'q'", "quantized_dimension is -1, expected 0 <= quantized_dimension < rank 2");
    // The repair applies when the scales fit dimension 0.
    const auto repaired = read_model(build(m), read_options{.repair_quantized_dimension = true});
    REQUIRE(repaired.repairs.size() == 1);
    CHECK(repaired.repairs[0].description == "tensor 0 'q': quantized_dimension -1 -> 0 (rank 2, 3 scales)");
    CHECK(repaired.main().tensors[0].quantization->params.axis == 0);
    // ... and not otherwise.
    m.tensors[0].shape = {2, 3};
    m.tensors[0].quantized_dimension = 2;
    try {
        (void)read_model(build(m), read_options{.repair_quantized_dimension = true});
        FAIL("accepted");
    } catch (const qtl::error& e) {
        CHECK(e.message().find("quantized_dimension is 2") != std::string::npos);
        CHECK(e.message().find("repair_quantized_dimension") == std::string::npos);
    }
    // Scalars: one scale.
    m.tensors[0].shape = {};
    m.tensors[0].quantized_dimension = 0;
    check_error(build(m), "tensor 0 'q'", "a scalar has 3 scales, expected 1");
    m.tensors[0].scale = {1.0f};
    m.tensors[0].zero_point = {3};
    CHECK(read_model(build(m)).main().tensors[0].quantization->params == qtl::quant_params{{1.0f}, {3}, -1, 0});
    // Zero points outside the type (uint8, int16).
    m.tensors[0].type = 3;
    m.tensors[0].zero_point = {-1};
    check_error(build(m), "tensor 0 'q'", "zero_point[0] is -1, outside the range of UINT8 [0, 255]");
    m.tensors[0].type = 7;
    m.tensors[0].zero_point = {40000};
    check_error(build(m), "tensor 0 'q'", "zero_point[0] is 40000, outside the range of INT16 [-32768, 32767]");
    m.tensors[0].type = 2;  // INT32: any int32
    m.tensors[0].zero_point = {std::int64_t{1} << 40};
    check_error(build(m), "tensor 0 'q'", "outside the range of INT32");
}

TEST_CASE("model level: version, subgraphs, signature keys, identifier, size") {
    mini_model m;
    m.version = 2;
    check_error(build(m), "model", "schema version is 2, expected 3");
    m.version = 3;
    m.subgraph = false;
    check_error(build(m), "model", "the model has no subgraph");
    m.subgraph = true;
    m.signature = true;
    m.signature_key = false;
    check_error(build(m), "signature def 0", "signature_key is missing");
    check_error(bytes_t{}, "model", "too short for a flatbuffer");
    check_error(bytes_t(16, 0), "model", "not a TFLite model: file identifier is '\\x00\\x00\\x00\\x00'");
}

// ---- real files with bytes patched --------------------------------------------

TEST_CASE("hello_world_int8 patched: scales, zero points, shapes, types, indices, version, identifier") {
    const auto original = shared_bytes("models/hello_world_int8.tflite");
    const locator at(original);
    const std::string input = "tensor 0 'serving_default_dense_input:0'";
    const auto& t0 = at.tensor(0);
    const auto scale0 = at.at(t0.quantization()->scale()->data());

    check_error(patched(original, scale0, 0.0f), input, "scale[0] is 0, expected a finite value > 0");
    check_error(patched(original, scale0, -0.5f), input, "scale[0] is -0.5, expected a finite value > 0");
    check_error(patched(original, scale0, std::numeric_limits<float>::quiet_NaN()), input, "scale[0] is nan");
    check_error(patched(original, scale0, std::numeric_limits<float>::infinity()), input, "scale[0] is inf");
    check_error(patched(original, at.at(t0.quantization()->zero_point()->data()), std::int64_t{200}), input,
                "zero_point[0] is 200, outside the range of INT8 [-128, 127]");
    // One scale, zero zero points: shorten the zero_point vector.
    check_error(patched(original, at.at(t0.quantization()->zero_point()), std::uint32_t{0}), input,
                "quantization has 1 scales and 0 zero points");

    // Shapes: negative, absurd.
    const auto dims = at.at(t0.shape()->data());
    check_error(patched(original, dims, std::int32_t{-1}), input, "dimension 0 of shape [-1, 1] is negative");
    auto absurd = patched(original, dims, std::int32_t{1} << 30);
    absurd = patched(absurd, dims + 4, std::int32_t{1} << 30);
    check_error(absurd, input, "shape [1073741824, 1073741824] has more than 2^40 elements");

    // Type byte (INT8 is stored, so it can be patched).
    check_error(patched(original, at.field(t0, field::tensor::type), std::int8_t{5}), input,
                "tensor type STRING is not supported");

    // A weight tensor whose shape no longer matches its data.
    const auto& fc0 = at.op(0);
    const auto w_index = fc0.inputs()->Get(1);
    const auto& w = at.tensor(static_cast<unsigned>(w_index));
    const auto w_where = "tensor " + std::to_string(w_index) + " '" + std::string(w.name()->c_str()) + "'";
    const auto w_data_bytes = at.root.buffers()->Get(w.buffer())->data()->size();
    check_error(patched(original, at.at(w.shape()->data()), std::int32_t{1000}), w_where,
                "holds " + std::to_string(w_data_bytes) + " bytes, expected");
    // Buffer index out of range, and a buffer list cut short (missing buffers).
    check_error(patched(original, at.field(w, field::tensor::buffer), std::uint32_t{999}), w_where,
                "buffer index 999 is out of range: the model has 13 buffers");
    {
        const auto cut = patched(original, at.at(at.root.buffers()), std::uint32_t{1});
        try {
            (void)read_model(cut);
            FAIL("accepted");
        } catch (const qtl::error& e) {
            CHECK(e.where().rfind("tensor ", 0) == 0);
            CHECK(e.message().find("is out of range: the model has 1 buffers") != std::string::npos);
        }
    }
    // A buffer one byte shorter than its tensor.
    const auto* data = at.root.buffers()->Get(w.buffer())->data();
    check_error(patched(original, at.at(data), std::uint32_t{data->size() - 1}), w_where,
                "holds " + std::to_string(data->size() - 1) + " bytes, expected " + std::to_string(data->size()));

    // Operator tensor indices.
    const auto inputs = at.at(fc0.inputs()->data());
    check_error(patched(original, inputs, std::int32_t{77}), "operator 0 (FULLY_CONNECTED)",
                "input tensor index 77 is out of range: the subgraph has 10 tensors (-1 marks an absent optional input)");
    check_error(patched(original, inputs, std::int32_t{-2}), "operator 0 (FULLY_CONNECTED)", "input tensor index -2");
    CHECK(read_model(patched(original, inputs + 8, std::int32_t{-1})).main().operators[0].inputs[2] == -1);
    check_error(patched(original, at.at(fc0.outputs()->data()), std::int32_t{-1}), "operator 0 (FULLY_CONNECTED)",
                "output tensor index -1 is out of range");
    check_error(patched(original, at.at(at.subgraph().inputs()->data()), std::int32_t{10}), "main subgraph",
                "input tensor index 10 is out of range");
    // Options of the wrong type.
    check_error(patched(original, at.field(fc0, field::operator_::builtin_options_type), std::uint8_t{1}),
                "operator 0 (FULLY_CONNECTED)", "builtin options are Conv2DOptions, expected FullyConnectedOptions");

    // Model level.
    check_error(patched(original, at.field(at.root, field::model::version), std::uint32_t{4}), "model",
                "schema version is 4, expected 3");
    check_error(patched(original, 4, std::uint32_t{0x4C465454}), "model",
                "not a TFLite model: file identifier is 'TTFL', expected 'TFL3'");
    const auto& metadata0 = *at.root.metadata()->Get(0);
    check_error(patched(original, at.field(metadata0, field::metadata::buffer), std::uint32_t{99}),
                "metadata 0 'min_runtime_version'", "buffer index 99 is out of range");
}

TEST_CASE("real files patched: bad offsets, lengths and strings are caught by the verifier") {
    const auto original = shared_bytes("models/hello_world_int8.tflite");
    const locator at(original);
    check_error(patched(original, 0, std::uint32_t{0x7ffffff0}), "model",
                "malformed flatbuffer: the root table offset points outside the file");
    check_error(patched(original, at.field(at.root, field::model::subgraphs), std::uint32_t{0x7ffffff0}), "model",
                "malformed flatbuffer: field 'subgraphs' holds an offset that points outside the file");
    const auto* tensors = at.subgraph().tensors();
    check_error(patched(original, at.at(tensors->Data()) + 4 * 3, std::uint32_t{0x7ffffff0}),
                "subgraph 0 tensor 3", "malformed flatbuffer: its offset points outside the file");
    check_error(patched(original, at.at(tensors), std::uint32_t{0x0fffffff}), "subgraph 0",
                "malformed flatbuffer: vector 'tensors' runs past the end of the file");
    const auto* name = at.tensor(0).name();
    check_error(patched(original, at.at(name) + 4 + name->size(), std::uint8_t{'x'}), "subgraph 0 tensor 0",
                "malformed flatbuffer: string 'name' runs past the end of the file or lacks its terminating zero");
    // A vtable offset sending the table header outside the file.
    check_error(patched(original, at.at(&at.tensor(2)), std::int32_t{-0x40000000}), "subgraph 0 tensor 2",
                "malformed flatbuffer: table at byte");
    // An unaligned field: the int32 shape vector moved by one byte.
    const auto shape_field = at.field(at.tensor(1), field::tensor::shape);
    std::uint32_t shape_offset;
    std::memcpy(&shape_offset, original.data() + shape_field, 4);
    check_error(patched(original, shape_field, shape_offset + 1), "subgraph 0 tensor 1",
                "malformed flatbuffer: vector 'shape' runs past the end of the file or is misaligned");
}

TEST_CASE("real files patched: activation enum, quantized_dimension, signature tensor index") {
    {
        const auto original = shared_bytes("models/hello_world_float.tflite");
        const locator at(original);
        const auto& options = *at.op(0).options();
        check_error(patched(original, at.field(options, field::fully_connected_options::fused_activation_function),
                            std::int8_t{9}),
                    "operator 0 (FULLY_CONNECTED)", "fused_activation_function is 9, expected NONE (0), RELU (1)");
        const auto& sig = *at.root.signature_defs()->Get(0);
        const auto& out = *sig.outputs()->Get(0);
        check_error(patched(original, at.field(out, field::tensor_map::tensor_index), std::uint32_t{50}),
                    "signature def 0 'serving_default' output 'dense_2'",
                    "tensor_index 50 is out of range: subgraph 0 has 10 tensors");
    }
    {
        const auto original = shared_bytes("models/micro_speech_quantized.tflite");
        const locator at(original);
        const auto w_index = at.op(1).inputs()->Get(1);  // the depthwise weights, per-channel on axis 3
        const auto& w = at.tensor(static_cast<unsigned>(w_index));
        const auto where = "tensor " + std::to_string(w_index) + " '" + std::string(w.name()->c_str()) + "'";
        const auto qd = at.field(*w.quantization(), field::quantization_parameters::quantized_dimension);
        check_error(patched(original, qd, std::int32_t{1}), where, "quantization has 8 scales, expected 1 (per tensor) or");
        // Out of the rank and not repairable (8 scales, dimension 0 has size 1).
        check_error(patched(original, qd, std::int32_t{7}), where, "quantized_dimension is 7", {.repair_quantized_dimension = true});
        check_error(patched(original, at.field(at.op(0), field::operator_::opcode_index), std::uint32_t{9}),
                    "operator 0 (?)", "opcode_index 9 is out of range: the model has 4 operator codes");
    }
}

TEST_CASE("every truncation of a real file is refused or reads the same model") {
    for (const char* file : {"models/hello_world_int8.tflite", "models/seanet/conv0.tflite"}) {
        CAPTURE(file);
        const auto original = shared_bytes(file);
        const auto full = read_model(original);
        int refused = 0, read = 0;
        for (std::size_t n = 0; n < original.size(); ++n) {
            const bytes_t cut(original.begin(), original.begin() + static_cast<std::ptrdiff_t>(n));
            if (outcome(cut) == 1) {
                ++read;  // only trailing bytes nothing refers to were cut
                CHECK(read_model(cut).main().tensors.size() == full.main().tensors.size());
            } else {
                ++refused;
            }
        }
        CHECK(refused > 0);
        CHECK(read < 16);  // at most the final padding of the file
        MESSAGE(std::string(file), ": ", refused, " truncations refused, ", read, " read");
    }
}

TEST_CASE("every single-byte corruption of a real file is read or refused with qtl::error") {
    for (const char* file : {"models/hello_world_int8.tflite", "models/seanet/leaky_relu0.tflite"}) {
        CAPTURE(file);
        const auto original = shared_bytes(file);
        int refused = 0, read = 0;
        for (std::size_t i = 0; i < original.size(); ++i)
            for (const std::uint8_t flip : {std::uint8_t{0xFF}, std::uint8_t{0x80}, std::uint8_t{0x01}}) {
                auto b = original;
                b[i] ^= flip;
                (outcome(b) == 1 ? read : refused) += 1;
            }
        CHECK(refused > 0);
        CHECK(read > 0);  // e.g. corrupted weight values are still a valid model
        MESSAGE(std::string(file), ": ", refused, " corruptions refused, ", read, " read");
    }
}

TEST_CASE("random multi-byte corruption of real files is read or refused with qtl::error") {
    std::mt19937 rng(12345);
    for (const char* file : {"models/micro_speech_quantized.tflite", "models/seanet/strided_slice0.tflite"}) {
        CAPTURE(file);
        const auto original = shared_bytes(file);
        int refused = 0;
        for (int iteration = 0; iteration < 1000; ++iteration) {
            auto b = original;
            const int count = 1 + static_cast<int>(rng() % 8);
            for (int k = 0; k < count; ++k) {
                // Mostly the flatbuffer's tables (the start of the file), sometimes anywhere.
                const auto limit = (rng() % 4 == 0) ? b.size() : std::min<std::size_t>(b.size(), 2048);
                b[rng() % limit] = static_cast<std::uint8_t>(rng());
            }
            refused += 1 - outcome(b, {.repair_quantized_dimension = iteration % 2 == 0});
        }
        CHECK(refused > 0);
        MESSAGE(std::string(file), ": ", refused, " of 1000 corrupted files refused");
    }
}
