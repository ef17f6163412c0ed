// set_blockwise_quantization() and float_to_half() (io/tflite/writer.hpp):
// block-wise weights with their FLOAT16 scale tensor (and INT32 zero
// points), written and read back unchanged.  Expected binary16 bit patterns
// are worked out by hand from the IEEE 754 layout (sign, 5-bit exponent
// biased by 15, 10-bit fraction).
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "qtl/io/tflite/reader.hpp"
#include "qtl/io/tflite/writer.hpp"

using namespace qtl::tflite;

TEST_CASE("float_to_half: round to nearest even, subnormals, overflow") {
    CHECK(float_to_half(1.0f) == 0x3C00);
    CHECK(float_to_half(-2.0f) == 0xC000);
    CHECK(float_to_half(0.0f) == 0x0000);
    CHECK(float_to_half(0.1f) == 0x2E66);           // 0.0999755859375 (0x2E66.66.. rounds down)
    CHECK(float_to_half(65504.0f) == 0x7BFF);       // the largest finite half
    CHECK(float_to_half(65520.0f) == 0x7C00);       // halfway to 65536: even is the overflow, infinity
    CHECK(float_to_half(1.0f + 0x1p-11f) == 0x3C00);         // tie between 0x3C00 and 0x3C01: even
    CHECK(float_to_half(1.0f + 3 * 0x1p-11f) == 0x3C02);     // tie between 0x3C01 and 0x3C02: even
    CHECK(float_to_half(0x1p-14f) == 0x0400);       // smallest normal
    CHECK(float_to_half(0x1p-24f) == 0x0001);       // smallest subnormal
    CHECK(float_to_half(0x1p-25f) == 0x0000);       // tie between 0 and 2^-24: even
    CHECK(float_to_half(3 * 0x1p-26f) == 0x0001);   // 0.75 * 2^-24 rounds up
    CHECK(float_to_half(0x1p-14f - 0x1p-25f) == 0x0400);  // rounds up into the smallest normal
    CHECK(float_to_half(1e-30f) == 0x0000);
    // Every half is a float: the round trip through the reader's decoder is exact.
    for (std::uint32_t h = 0; h < 0x7C00; h += 7)
        CHECK(float_to_half(detail::half_to_float(static_cast<std::uint16_t>(h))) == h);
}

namespace {

// INT4 weights [4, 8] (values irrelevant here), block size 4: 4 x 2 blocks.
model int4_weights_model() {
    model m;
    m.buffers.resize(1);
    m.buffers.push_back(buffer{std::vector<std::uint8_t>(16, 0x21)});
    subgraph g;
    tensor w;
    w.name = "dense/weights";
    w.type = tensor_type::INT4;
    w.shape = {4, 8};
    w.buffer = 1;
    g.tensors.push_back(w);
    m.subgraphs.push_back(g);
    return m;
}

void check_same_tensors(const model& a, const model& b) {
    REQUIRE(a.main().tensors.size() == b.main().tensors.size());
    for (std::size_t i = 0; i < a.main().tensors.size(); ++i) {
        const auto &x = a.main().tensors[i], &y = b.main().tensors[i];
        INFO("tensor " << i);
        CHECK(x.name == y.name);
        CHECK(x.type == y.type);
        CHECK(x.shape == y.shape);
        CHECK(x.buffer == y.buffer);
        CHECK(x.quantization == y.quantization);
        CHECK(a.data_of(x).size() == b.data_of(y).size());
        CHECK(std::equal(a.data_of(x).begin(), a.data_of(x).end(), b.data_of(y).begin()));
    }
}

}  // namespace

TEST_CASE("set_blockwise_quantization: FLOAT16 scale tensor, details, params; read(write(m)) == m") {
    model m = int4_weights_model();
    // 0.1 is not a half: stored as 0x2E66 = 0.0999755859375.
    const std::vector<float> scales = {0.5f, 0.25f, 0.1f, 2.0f, 1.0f, 0.125f, 3.0f, 0.75f};
    set_blockwise_quantization(m, 0, 0, scales, 4);
    const auto& g = m.main();
    REQUIRE(g.tensors.size() == 2);
    const auto& s = g.tensors[1];
    CHECK(s.name == "dense/weights/scales");
    CHECK(s.type == tensor_type::FLOAT16);
    CHECK(s.shape == qtl::shape{4, 2});
    // little-endian halves: 0.5 = 0x3800, 0.25 = 0x3400, 0.1 -> 0x2E66, 2 = 0x4000, 1 = 0x3C00,
    // 0.125 = 0x3000, 3 = 0x4200, 0.75 = 0x3A00
    const std::vector<std::uint8_t> expected_bytes = {0x00, 0x38, 0x00, 0x34, 0x66, 0x2E, 0x00, 0x40,
                                                      0x00, 0x3C, 0x00, 0x30, 0x00, 0x42, 0x00, 0x3A};
    const auto data = m.data_of(s);
    CHECK(std::vector<std::uint8_t>(data.begin(), data.end()) == expected_bytes);
    const auto& q = *g.tensors[0].quantization;
    REQUIRE(q.blockwise.has_value());
    CHECK(q.blockwise->scales == 1);
    CHECK(q.blockwise->zero_points == -1);
    CHECK(q.blockwise->block_size == 4);
    CHECK(q.params.block_size == 4);
    CHECK(q.params.axis == 1);
    CHECK(q.params.scales == std::vector<float>{0.5f, 0.25f, 0.0999755859375f, 2.0f, 1.0f, 0.125f, 3.0f, 0.75f});
    CHECK(q.params.zero_points == std::vector<std::int32_t>(8, 0));

    const auto bytes = write_model(m);
    const model back = read_model(std::span<const std::uint8_t>(bytes));
    check_same_tensors(m, back);
    CHECK(write_model(back) == bytes);
}

TEST_CASE("set_blockwise_quantization: with zero points (INT32 tensor)") {
    model m = int4_weights_model();
    const std::vector<float> scales(8, 1.0f);
    const std::vector<std::int32_t> zps = {0, 1, -1, 2, -8, 7, 3, -3};
    set_blockwise_quantization(m, 0, 0, scales, 4, zps);
    const auto& g = m.main();
    REQUIRE(g.tensors.size() == 3);
    CHECK(g.tensors[2].name == "dense/weights/zero_points");
    CHECK(g.tensors[2].type == tensor_type::INT32);
    CHECK(g.tensors[0].quantization->blockwise->zero_points == 2);
    CHECK(g.tensors[0].quantization->params.zero_points == zps);
    const model back = read_model(std::span<const std::uint8_t>(write_model(m)));
    check_same_tensors(m, back);
}

TEST_CASE("set_blockwise_quantization: errors name the tensor and the rule") {
    const std::vector<float> ok(8, 1.0f);
    {
        model m = int4_weights_model();
        const std::vector<float> zero = {1, 1, 0, 1, 1, 1, 1, 1};
        CHECK_THROWS_WITH_AS(set_blockwise_quantization(m, 0, 0, zero, 4), doctest::Contains("scale 2 is 0"),
                             qtl::error);
        const std::vector<float> huge = {1, 1, 1, 1e6f, 1, 1, 1, 1};
        CHECK_THROWS_WITH_AS(set_blockwise_quantization(m, 0, 0, huge, 4), doctest::Contains("binary16"),
                             qtl::error);
        CHECK_THROWS_WITH_AS(set_blockwise_quantization(m, 0, 0, std::span<const float>(ok).first(6), 4),
                             doctest::Contains("needs 8 scales"), qtl::error);
        CHECK_THROWS_WITH_AS(set_blockwise_quantization(m, 0, 0, ok, 3), doctest::Contains("multiple of block_size 3"),
                             qtl::error);
        CHECK_THROWS_WITH_AS(set_blockwise_quantization(m, 0, 5, ok, 4), doctest::Contains("out of range"), qtl::error);
        CHECK(m.main().tensors.size() == 1);  // nothing added on failure
    }
    {
        model m = int4_weights_model();
        m.subgraphs[0].tensors[0].type = tensor_type::FLOAT32;
        CHECK_THROWS_WITH_AS(set_blockwise_quantization(m, 0, 0, ok, 4), doctest::Contains("INT4 or INT8"), qtl::error);
    }
}
