#pragma once
// Element types qtl stores quantized values in, and their traits.
//
// int8/uint8/int16/int32 are the C++ fixed-width types.  qtl::int4 is a tag
// for 4-bit signed storage: one value unpacked lives in an int8_t in [-8, 7];
// in a TFLite buffer two values share a byte (see core/int4_packing.hpp).

#include <cstdint>
#include <string_view>
#include <type_traits>

namespace qtl {

// Tag for signed 4-bit storage.  Unpacked values use int8_t.
struct int4 {};

template <class T>
struct element_traits;  // defined only for the storage types below

namespace detail {
template <class Value, int Bits, std::int32_t Min, std::int32_t Max, int TfliteType>
struct element_traits_base {
    using value_type = Value;            // C++ type one unpacked value lives in
    static constexpr int bits = Bits;
    static constexpr std::int32_t min = Min;
    static constexpr std::int32_t max = Max;
    // Narrow range drops the most negative value so the range is symmetric
    // (TFLite weights: [-127, 127]).  Only meaningful for signed types.
    static constexpr std::int32_t narrow_min = Min < 0 ? Min + 1 : Min;
    static constexpr bool is_signed = Min < 0;
    static constexpr int tflite_type = TfliteType;  // TensorType enum value in the TFLite schema
};
}  // namespace detail

template <>
struct element_traits<std::int8_t> : detail::element_traits_base<std::int8_t, 8, -128, 127, 9> {
    static constexpr std::string_view name = "int8";
};
template <>
struct element_traits<std::uint8_t> : detail::element_traits_base<std::uint8_t, 8, 0, 255, 3> {
    static constexpr std::string_view name = "uint8";
};
template <>
struct element_traits<std::int16_t> : detail::element_traits_base<std::int16_t, 16, -32768, 32767, 7> {
    static constexpr std::string_view name = "int16";
};
template <>
struct element_traits<std::int32_t>
    : detail::element_traits_base<std::int32_t, 32, -2147483647 - 1, 2147483647, 2> {
    static constexpr std::string_view name = "int32";
};
template <>
struct element_traits<int4> : detail::element_traits_base<std::int8_t, 4, -8, 7, 17> {
    static constexpr std::string_view name = "int4";
};

// The types a quantizer may store values in.
template <class T>
concept storage_type = std::is_same_v<T, std::int8_t> || std::is_same_v<T, std::uint8_t> ||
                       std::is_same_v<T, std::int16_t> || std::is_same_v<T, int4>;

// The C++ type one unpacked value of storage type T lives in.
template <class T>
using value_type_t = typename element_traits<T>::value_type;

}  // namespace qtl
