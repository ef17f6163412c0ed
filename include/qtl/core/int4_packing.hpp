#pragma once
// Packing of signed 4-bit values, two per byte, in TFLite's order: element 2i
// in the low nibble, element 2i+1 in the high nibble; an odd count leaves the
// last high nibble 0.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "qtl/core/error.hpp"

namespace qtl {

// Bytes needed to hold `count` packed int4 values.
constexpr std::size_t packed_int4_bytes(std::size_t count) noexcept { return (count + 1) / 2; }

// Packs values in [-8, 7]; throws qtl::error naming the first value out of range.
inline std::vector<std::uint8_t> pack_int4(std::span<const std::int8_t> values) {
    std::vector<std::uint8_t> packed(packed_int4_bytes(values.size()), 0);
    for (std::size_t i = 0; i < values.size(); ++i) {
        const std::int8_t v = values[i];
        check(v >= -8 && v <= 7, "pack_int4", "value ", int(v), " at index ", i,
              " is outside the int4 range [-8, 7]");
        const auto nibble = static_cast<std::uint8_t>(v & 0x0F);
        packed[i / 2] |= static_cast<std::uint8_t>((i % 2 == 0) ? nibble : nibble << 4);
    }
    return packed;
}

// Sign-extends one nibble (0..15) to an int8 in [-8, 7].
constexpr std::int8_t sign_extend_int4(std::uint8_t nibble) noexcept {
    return static_cast<std::int8_t>(static_cast<std::int8_t>(nibble << 4) >> 4);
}

// Unpacks `count` values; throws qtl::error when `packed` is too short.
inline std::vector<std::int8_t> unpack_int4(std::span<const std::uint8_t> packed, std::size_t count) {
    check(packed.size() >= packed_int4_bytes(count), "unpack_int4", "need ",
          packed_int4_bytes(count), " bytes for ", count, " int4 values, got ", packed.size());
    std::vector<std::int8_t> values(count);
    for (std::size_t i = 0; i < count; ++i) {
        const std::uint8_t byte = packed[i / 2];
        values[i] = sign_extend_int4(i % 2 == 0 ? byte & 0x0F : byte >> 4);
    }
    return values;
}

}  // namespace qtl
