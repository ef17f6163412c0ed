#include <doctest/doctest.h>

#include <vector>

#include "qtl/core/int4_packing.hpp"

TEST_CASE("int4: every byte unpacks to its two nibbles and packs back") {
    // Exhaustive over all 256 bytes: low nibble is element 0, high is element 1.
    for (int byte = 0; byte < 256; ++byte) {
        const std::vector<std::uint8_t> packed{static_cast<std::uint8_t>(byte)};
        const auto values = qtl::unpack_int4(packed, 2);
        const int lo = byte & 0xF, hi = byte >> 4;
        CHECK(values[0] == (lo >= 8 ? lo - 16 : lo));
        CHECK(values[1] == (hi >= 8 ? hi - 16 : hi));
        CHECK(qtl::pack_int4(values) == packed);
    }
}

TEST_CASE("int4: every pair of values round-trips, odd counts pad the high nibble with 0") {
    for (int a = -8; a <= 7; ++a) {
        for (int b = -8; b <= 7; ++b) {
            const std::vector<std::int8_t> v{std::int8_t(a), std::int8_t(b), std::int8_t(a)};
            const auto packed = qtl::pack_int4(v);
            REQUIRE(packed.size() == 2);
            CHECK(packed[0] == std::uint8_t((a & 0xF) | ((b & 0xF) << 4)));
            CHECK(packed[1] == std::uint8_t(a & 0xF));  // high nibble of the last byte is 0
            CHECK(qtl::unpack_int4(packed, 3) == v);
        }
    }
}

TEST_CASE("int4: out-of-range values and short buffers are errors") {
    CHECK_THROWS_AS(qtl::pack_int4(std::vector<std::int8_t>{0, 8}), qtl::error);
    CHECK_THROWS_AS(qtl::pack_int4(std::vector<std::int8_t>{-9}), qtl::error);
    CHECK_THROWS_WITH_AS(qtl::unpack_int4(std::vector<std::uint8_t>{0x12}, 3),
                         "unpack_int4: need 2 bytes for 3 int4 values, got 1", qtl::error);
    CHECK(qtl::packed_int4_bytes(0) == 0);
    CHECK(qtl::packed_int4_bytes(7) == 4);
}
