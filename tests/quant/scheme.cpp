#include <doctest/doctest.h>

#include "qtl/quant/scheme.hpp"

using namespace qtl;

TEST_CASE("scheme: the TFLite aliases have the traits the spec gives them") {
    static_assert(int8_activation::qmin == -128 && int8_activation::qmax == 127);
    static_assert(!int8_activation::is_symmetric && int8_activation::is_per_tensor && int8_activation::axis == -1);
    static_assert(uint8_activation::qmin == 0 && uint8_activation::qmax == 255);
    static_assert(int16_activation::is_symmetric && int16_activation::qmin == -32768);
    static_assert(int8_weight_per_tensor::qmin == -127 && int8_weight_per_tensor::is_narrow_range);
    static_assert(int8_weight_per_channel<3>::axis == 3 && int8_weight_per_channel<3>::is_per_channel);
    static_assert(int4_weight_per_channel<>::qmin == -7 && int4_weight_per_channel<>::qmax == 7);
    static_assert(int4_weight_per_block<1, 32>::is_per_block && int4_weight_per_block<1, 32>::block_size == 32);
    static_assert(quantizer<int4, symmetric>::qmin == -8);  // full range int4
    static_assert(std::is_same_v<int4_weight_per_channel<>::value_type, std::int8_t>);
    CHECK(int8_weight_per_channel<0>::qmax == 127);
}

TEST_CASE("scheme: roles as concepts") {
    static_assert(activation_quantizer<int8_activation>);
    static_assert(activation_quantizer<int16_activation>);
    static_assert(!activation_quantizer<int8_weight_per_channel<0>>);  // no per-channel activations
    static_assert(!activation_quantizer<quantizer<int4, symmetric>>);  // no int4 activations
    static_assert(weight_quantizer<int8_weight_per_channel<0>>);
    static_assert(!weight_quantizer<int8_activation>);  // asymmetric
    static_assert(!quantizer_type<int>);
    CHECK(activation_quantizer<uint8_activation>);
}

TEST_CASE("scheme: every combination TFLite cannot express is refused with its sentence") {
    CHECK(scheme_error<std::uint8_t, symmetric, per_tensor, full_range>() ==
          "uint8 is asymmetric only in TFLite: use qtl::asymmetric, or int8 for symmetric");
    CHECK(scheme_error<int4, asymmetric, per_channel<0>, full_range>() ==
          "int4 tensors are weights and TFLite requires them symmetric (zero point 0)");
    CHECK(scheme_error<std::int16_t, asymmetric, per_tensor, full_range>() ==
          "int16 activations (TFLite's 16x8 mode) are symmetric with zero point 0");
    CHECK(scheme_error<std::int8_t, asymmetric, per_channel<0>, full_range>() ==
          "per-channel and per-block quantization require zero point 0: use qtl::symmetric");
    CHECK(scheme_error<std::int8_t, asymmetric, per_tensor, narrow_range>() ==
          "narrow range is only defined for symmetric quantizers");
    CHECK(scheme_error<std::int16_t, symmetric, per_block<1, 32>, full_range>() ==
          "per-block quantization is for int4 or int8 weights");
    CHECK(scheme_error<std::int8_t, symmetric, per_block<1, 0>, full_range>() == "the block size must be > 0");
    CHECK(scheme_error<std::int8_t, symmetric, per_channel<-2>, full_range>() == "the axis must be >= 0");
    CHECK(scheme_error<float, symmetric, per_tensor, full_range>() ==
          "the storage type must be std::int8_t, std::uint8_t, std::int16_t or qtl::int4");
    CHECK(scheme_error<std::int8_t, int, per_tensor, full_range>() == "the mode must be qtl::symmetric or qtl::asymmetric");
    CHECK(scheme_error<std::int8_t, symmetric, int, full_range>().starts_with("the granularity must be"));
    CHECK(scheme_error<std::int8_t, symmetric, per_tensor, int>() == "the range must be qtl::full_range or qtl::narrow_range");
    // and the valid ones are accepted
    CHECK(scheme_error<std::int8_t, asymmetric, per_tensor, full_range>().empty());
    CHECK(is_valid_scheme<int4, symmetric, per_block<0, 16>, narrow_range>);
    CHECK(is_valid_scheme<std::int8_t, symmetric, per_block<1, 64>, narrow_range>);
}
