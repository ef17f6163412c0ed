#include <doctest/doctest.h>

#include "qtl/core/element_types.hpp"
#include "qtl/core/error.hpp"

TEST_CASE("element_traits: ranges, narrow ranges and TFLite type codes") {
    using qtl::element_traits;
    CHECK(element_traits<std::int8_t>::min == -128);
    CHECK(element_traits<std::int8_t>::max == 127);
    CHECK(element_traits<std::int8_t>::narrow_min == -127);
    CHECK(element_traits<std::int8_t>::tflite_type == 9);
    CHECK(element_traits<std::uint8_t>::min == 0);
    CHECK(element_traits<std::uint8_t>::narrow_min == 0);
    CHECK(element_traits<std::uint8_t>::tflite_type == 3);
    CHECK(element_traits<std::int16_t>::min == -32768);
    CHECK(element_traits<std::int16_t>::narrow_min == -32767);
    CHECK(element_traits<std::int16_t>::tflite_type == 7);
    CHECK(element_traits<std::int32_t>::tflite_type == 2);
    CHECK(element_traits<qtl::int4>::bits == 4);
    CHECK(element_traits<qtl::int4>::min == -8);
    CHECK(element_traits<qtl::int4>::max == 7);
    CHECK(element_traits<qtl::int4>::narrow_min == -7);
    CHECK(element_traits<qtl::int4>::tflite_type == 17);
    static_assert(std::is_same_v<qtl::value_type_t<qtl::int4>, std::int8_t>);
    static_assert(qtl::storage_type<std::uint8_t> && !qtl::storage_type<float>);
}

TEST_CASE("qtl::error says where and what") {
    const qtl::error e("tensor 'w' channel 3", "scale must be > 0, got 0");
    CHECK(std::string(e.what()) == "tensor 'w' channel 3: scale must be > 0, got 0");
    CHECK(e.where() == "tensor 'w' channel 3");
    CHECK(e.message() == "scale must be > 0, got 0");
    CHECK_THROWS_WITH_AS(qtl::check(false, "op 2 (ADD)", "expected ", 2, " inputs, got ", 3),
                         "op 2 (ADD): expected 2 inputs, got 3", qtl::error);
    CHECK_NOTHROW(qtl::check(true, "x", "never built"));
    CHECK(std::string(qtl::error("", "bare").what()) == "bare");
}
