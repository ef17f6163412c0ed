#include <doctest/doctest.h>

#include <random>

#include "qtl/core/arena_plan.hpp"

TEST_CASE("a chain reuses the bytes of dead buffers (worked by hand)") {
    // A -> op0 -> B -> op1 -> C -> op2 -> D; 64-byte alignment rounds A to 128, B to 256.
    std::vector<qtl::arena_buffer> b = {
        {100, -1, 0},  // A: model input, read by op 0
        {200, 0, 1},   // B: written by op 0, read by op 1
        {100, 1, 2},   // C
        {64, 2, 2},    // D: model output of op 2
    };
    const auto plan = qtl::plan_arena(b);
    // B (largest) at 0; A overlaps B in time -> after it at 256; C overlaps B, not A -> also 256;
    // D overlaps C only -> 0 (B is dead by op 2).
    CHECK(plan.offsets == std::vector<std::size_t>{256, 0, 256, 0});
    CHECK(plan.bytes == 384);
}

TEST_CASE("a residual branch keeps its input alive across the block") {
    // x feeds op0 and op2 (the skip connection): it must not share bytes with y (op0 -> op1) or z (op1 -> op2).
    std::vector<qtl::arena_buffer> b = {{64, -1, 2}, {64, 0, 1}, {64, 1, 2}, {64, 2, 2}};
    const auto plan = qtl::plan_arena(b);
    CHECK(plan.offsets[0] == 0);    // x first (equal sizes: earliest birth first)
    CHECK(plan.offsets[1] == 64);   // y overlaps x
    CHECK(plan.offsets[2] == 128);  // z overlaps x and y (at op 1)
    CHECK(plan.offsets[3] == 64);   // the output overlaps x and z, not y (dead after op 1)
    CHECK(plan.bytes == 192);
}

TEST_CASE("random plans never overlap live buffers") {
    std::mt19937 rng(7);
    for (int trial = 0; trial < 200; ++trial) {
        std::vector<qtl::arena_buffer> b(1 + rng() % 40);
        std::size_t total = 0;
        for (auto& x : b) {
            x.bytes = rng() % 3 == 0 ? 0 : 1 + rng() % 5000;
            x.first = std::int64_t(rng() % 30) - 1;
            x.last = x.first + std::int64_t(rng() % 8);
            total += (x.bytes + 63) / 64 * 64;
        }
        const auto plan = qtl::plan_arena(b);
        REQUIRE(plan.offsets.size() == b.size());
        CHECK(plan.bytes <= total);
        for (std::size_t i = 0; i < b.size(); ++i) {
            CHECK(plan.offsets[i] % 64 == 0);
            CHECK(plan.offsets[i] + b[i].bytes <= plan.bytes);
            for (std::size_t j = i + 1; j < b.size(); ++j)
                if (qtl::lifetimes_overlap(b[i], b[j]))
                    CHECK_FALSE(qtl::bytes_overlap(plan.offsets[i], b[i].bytes, plan.offsets[j], b[j].bytes));
        }
    }
}

TEST_CASE("bad lifetimes and alignments are refused") {
    CHECK_THROWS_WITH_AS(qtl::plan_arena({{10, 3, 2}}), doctest::Contains("first > last"), qtl::error);
    CHECK_THROWS_WITH_AS(qtl::plan_arena({{10, 0, 1}}, 48), doctest::Contains("power of two"), qtl::error);
}
