// The schema constants against the published schema.fbs (LiteRT's
// tflite/converter/schema/schema.fbs, read by hand): the numbers below were
// transcribed from that file, independently of schema.hpp's tables.
#include <doctest/doctest.h>

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "qtl/core/element_types.hpp"
#include "qtl/io/tflite/schema.hpp"

using namespace qtl::tflite;

TEST_CASE("tflite schema: the builtin operators of the ops qtl runs have the schema's codes and names") {
    const std::vector<std::pair<builtin_operator, std::pair<int, const char*>>> ops = {
        {builtin_operator::ADD, {0, "ADD"}},
        {builtin_operator::AVERAGE_POOL_2D, {1, "AVERAGE_POOL_2D"}},
        {builtin_operator::CONCATENATION, {2, "CONCATENATION"}},
        {builtin_operator::CONV_2D, {3, "CONV_2D"}},
        {builtin_operator::DEPTHWISE_CONV_2D, {4, "DEPTHWISE_CONV_2D"}},
        {builtin_operator::DEQUANTIZE, {6, "DEQUANTIZE"}},
        {builtin_operator::FULLY_CONNECTED, {9, "FULLY_CONNECTED"}},
        {builtin_operator::LOGISTIC, {14, "LOGISTIC"}},
        {builtin_operator::MAX_POOL_2D, {17, "MAX_POOL_2D"}},
        {builtin_operator::MUL, {18, "MUL"}},
        {builtin_operator::RELU, {19, "RELU"}},
        {builtin_operator::RELU6, {21, "RELU6"}},
        {builtin_operator::RESHAPE, {22, "RESHAPE"}},
        {builtin_operator::SOFTMAX, {25, "SOFTMAX"}},
        {builtin_operator::TANH, {28, "TANH"}},
        {builtin_operator::CUSTOM, {32, "CUSTOM"}},
        {builtin_operator::PAD, {34, "PAD"}},
        {builtin_operator::TRANSPOSE, {39, "TRANSPOSE"}},
        {builtin_operator::MEAN, {40, "MEAN"}},
        {builtin_operator::SUB, {41, "SUB"}},
        {builtin_operator::STRIDED_SLICE, {45, "STRIDED_SLICE"}},
        {builtin_operator::LEAKY_RELU, {98, "LEAKY_RELU"}},
        {builtin_operator::QUANTIZE, {114, "QUANTIZE"}},
        {builtin_operator::HARD_SWISH, {117, "HARD_SWISH"}},
        {builtin_operator::PLACEHOLDER_FOR_GREATER_OP_CODES, {127, "PLACEHOLDER_FOR_GREATER_OP_CODES"}},
        {builtin_operator::CUMSUM, {128, "CUMSUM"}},
        {builtin_operator::GELU, {150, "GELU"}},
        {builtin_operator::STABLEHLO_CASE, {209, "STABLEHLO_CASE"}},
    };
    for (const auto& entry : ops) {
        const auto op = entry.first;
        const auto& expected = entry.second;
        CAPTURE(expected.second);
        CHECK(static_cast<int>(op) == expected.first);
        CHECK(name_of(op) == expected.second);
        CHECK(describe(op) == expected.second);
    }
}

TEST_CASE("tflite schema: every code 0..209 has a distinct name; other codes are described by number") {
    std::set<std::string> names;
    for (int code = 0; code <= 209; ++code) {
        const auto n = name_of(static_cast<builtin_operator>(code));
        CAPTURE(code);
        CHECK(!n.empty());
        names.insert(std::string(n));
    }
    CHECK(names.size() == 210);
    CHECK(name_of(static_cast<builtin_operator>(210)).empty());
    CHECK(name_of(static_cast<builtin_operator>(-1)).empty());
    CHECK(describe(static_cast<builtin_operator>(250)) == "builtin operator 250");
}

TEST_CASE("tflite schema: tensor types match the schema and qtl's element_traits") {
    // DESIGN.md section 3 and schema.fbs: FLOAT32 0, INT32 2, UINT8 3, INT64 4, INT16 7, INT8 9, INT4 17.
    CHECK(static_cast<int>(tensor_type::FLOAT32) == 0);
    CHECK(static_cast<int>(tensor_type::FLOAT16) == 1);
    CHECK(static_cast<int>(tensor_type::INT32) == 2);
    CHECK(static_cast<int>(tensor_type::UINT8) == 3);
    CHECK(static_cast<int>(tensor_type::INT64) == 4);
    CHECK(static_cast<int>(tensor_type::STRING) == 5);
    CHECK(static_cast<int>(tensor_type::INT16) == 7);
    CHECK(static_cast<int>(tensor_type::INT8) == 9);
    CHECK(static_cast<int>(tensor_type::INT4) == 17);
    CHECK(static_cast<int>(tensor_type::BFLOAT16) == 18);
    CHECK(static_cast<int>(tensor_type::FLOAT8_E5M2) == 22);
    // element_types.hpp records the same numbers (written from DESIGN.md).
    CHECK(qtl::element_traits<std::int8_t>::tflite_type == static_cast<int>(tensor_type::INT8));
    CHECK(qtl::element_traits<std::uint8_t>::tflite_type == static_cast<int>(tensor_type::UINT8));
    CHECK(qtl::element_traits<std::int16_t>::tflite_type == static_cast<int>(tensor_type::INT16));
    CHECK(qtl::element_traits<std::int32_t>::tflite_type == static_cast<int>(tensor_type::INT32));
    CHECK(qtl::element_traits<qtl::int4>::tflite_type == static_cast<int>(tensor_type::INT4));
    CHECK(name_of(tensor_type::INT4) == "INT4");
    CHECK(describe(static_cast<tensor_type>(23)) == "tensor type 23");
}

TEST_CASE("tflite schema: BuiltinOptions union positions of the decoded options tables") {
    // Union members are numbered from 1 in declaration order (NONE is 0).
    CHECK(static_cast<int>(builtin_options_type::Conv2DOptions) == 1);
    CHECK(static_cast<int>(builtin_options_type::DepthwiseConv2DOptions) == 2);
    CHECK(static_cast<int>(builtin_options_type::Pool2DOptions) == 5);
    CHECK(static_cast<int>(builtin_options_type::FullyConnectedOptions) == 8);
    CHECK(static_cast<int>(builtin_options_type::SoftmaxOptions) == 9);
    CHECK(static_cast<int>(builtin_options_type::ConcatenationOptions) == 10);
    CHECK(static_cast<int>(builtin_options_type::AddOptions) == 11);
    CHECK(static_cast<int>(builtin_options_type::ReshapeOptions) == 17);
    CHECK(static_cast<int>(builtin_options_type::MulOptions) == 21);
    CHECK(static_cast<int>(builtin_options_type::PadOptions) == 22);
    CHECK(static_cast<int>(builtin_options_type::TransposeOptions) == 26);
    CHECK(static_cast<int>(builtin_options_type::ReducerOptions) == 27);
    CHECK(static_cast<int>(builtin_options_type::SubOptions) == 28);
    CHECK(static_cast<int>(builtin_options_type::StridedSliceOptions) == 32);
    CHECK(static_cast<int>(builtin_options_type::DequantizeOptions) == 38);
    CHECK(static_cast<int>(builtin_options_type::LeakyReluOptions) == 75);
    CHECK(static_cast<int>(builtin_options_type::QuantizeOptions) == 89);
    CHECK(static_cast<int>(builtin_options_type::HardSwishOptions) == 91);
    CHECK(static_cast<int>(builtin_options_type::RightShiftOptions) == 126);
    for (int i = 0; i <= 126; ++i) CHECK(!name_of(static_cast<builtin_options_type>(i)).empty());
    CHECK(name_of(static_cast<builtin_options_type>(127)).empty());
}

TEST_CASE("tflite schema: small enums and field ids") {
    CHECK(static_cast<int>(padding::VALID) == 1);
    CHECK(static_cast<int>(activation_function_type::RELU6) == 3);
    CHECK(static_cast<int>(activation_function_type::SIGN_BIT) == 5);
    CHECK(static_cast<int>(fully_connected_options_weights_format::SHUFFLED4x16INT8) == 1);
    CHECK(static_cast<int>(quantization_details_type::BlockwiseQuantization) == 2);
    // Ids = position in the table declaration; a union takes two (type, value).
    CHECK(field::tensor::quantization == 4);
    CHECK(field::tensor::shape_signature == 7);
    CHECK(field::quantization_parameters::details_type == 4);
    CHECK(field::quantization_parameters::details == 5);
    CHECK(field::quantization_parameters::quantized_dimension == 6);
    CHECK(field::operator_code::builtin_code == 3);
    CHECK(field::operator_::builtin_options == 4);
    CHECK(field::operator_::intermediates == 8);
    CHECK(field::signature_def::subgraph_index == 4);  // after the deprecated tag (id 3)
    CHECK(field::model::signature_defs == 7);
    CHECK(field::blockwise_quantization::block_size == 2);
    CHECK(field::conv_2d_options::quantized_bias_type == 6);
    CHECK(field::depthwise_conv_2d_options::dilation_h_factor == 6);
    CHECK(field::strided_slice_options::offset == 5);
}
