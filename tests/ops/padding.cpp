#include <doctest/doctest.h>

#include <cstdint>

#include "qtl/ops/padding.hpp"

// Output size and padding of a sliding window, as TFLite's
// ComputePaddingHeightWidth computes them (expected values by hand below).

using qtl::ops::compute_padded_axis;
using qtl::ops::padded_axis;
using qtl::ops::padding;

TEST_CASE("padding: SAME puts the odd pixel at the bottom/right") {
    // in 3, filter 2, stride 2: out = ceil(3/2) = 2; total = (2-1)*2 + 2 - 3 = 1 -> before 0, after 1.
    CHECK(compute_padded_axis(padding::same, 3, 2, 2, 1, "t", "h") == padded_axis{2, 0, 1});
    // in 5, filter 2 dilated by 2 (effective 3), stride 2: out 3; total = 2*2 + 3 - 5 = 2 -> 1, 1.
    CHECK(compute_padded_axis(padding::same, 5, 2, 2, 2, "t", "h") == padded_axis{3, 1, 1});
    // in 4, filter 3, stride 1: out 4; total = 3 + 3 - 4 = 2 -> 1, 1.
    CHECK(compute_padded_axis(padding::same, 4, 3, 1, 1, "t", "h") == padded_axis{4, 1, 1});
    // in 4, filter 4, stride 1: out 4; total = 3 + 4 - 4 = 3 -> 1 before, 2 after.
    CHECK(compute_padded_axis(padding::same, 4, 4, 1, 1, "t", "h") == padded_axis{4, 1, 2});
    // in 6, filter 1, stride 2: out 3; total = 2*2 + 1 - 6 = -1 -> no padding.
    CHECK(compute_padded_axis(padding::same, 6, 1, 2, 1, "t", "h") == padded_axis{3, 0, 0});
    // in 1, filter 7 dilated by 3 (effective 19), stride 5: out 1; total = 0 + 19 - 1 = 18 -> 9, 9.
    CHECK(compute_padded_axis(padding::same, 1, 7, 5, 3, "t", "h") == padded_axis{1, 9, 9});
}

TEST_CASE("padding: VALID never pads and drops the incomplete last window") {
    // in 166, filter 7: out = (166 - 7 + 1) / 1 = 160 (seanet conv0's width).
    CHECK(compute_padded_axis(padding::valid, 166, 7, 1, 1, "t", "h") == padded_axis{160, 0, 0});
    // in 7, filter 3 dilated by 2 (effective 5), stride 2: out = (7 - 5 + 2) / 2 = 2.
    CHECK(compute_padded_axis(padding::valid, 7, 3, 2, 2, "t", "h") == padded_axis{2, 0, 0});
    // in 8, filter 3, stride 3: out = (8 - 3 + 3) / 3 = 2 (the third window would need row 8).
    CHECK(compute_padded_axis(padding::valid, 8, 3, 3, 1, "t", "h") == padded_axis{2, 0, 0});
    // filter == input: one window.
    CHECK(compute_padded_axis(padding::valid, 5, 5, 2, 1, "t", "h") == padded_axis{1, 0, 0});
}

TEST_CASE("padding: compute_padding does height and width independently") {
    const qtl::ops::window_2d window{3, 2, 1, 2, 2, 1, padding::same};
    // height: in 6, filter 3 dilated 2 (effective 5), stride 1: out 6, total 5 + 5 - 6 = 4 -> 2, 2.
    // width: in 5, filter 2, stride 2: out 3, total 2*2 + 2 - 5 = 1 -> 0, 1.
    const auto p = qtl::ops::compute_padding(window, 6, 5, "t");
    CHECK(p.height == padded_axis{6, 2, 2});
    CHECK(p.width == padded_axis{3, 0, 1});
}

TEST_CASE("padding: invalid windows throw qtl::error naming the op and the axis") {
    CHECK_THROWS_WITH_AS(compute_padded_axis(padding::valid, 4, 3, 1, 2, "CONV_2D", "height"),
                         "CONV_2D: VALID padding with effective filter height 5 (filter 3, dilation 2) larger than "
                         "the input height 4 gives an empty output",
                         qtl::error);
    CHECK_THROWS_WITH_AS(compute_padded_axis(padding::same, 4, 3, 0, 1, "MAX_POOL_2D", "width"),
                         "MAX_POOL_2D: stride width must be >= 1, got 0", qtl::error);
    CHECK_THROWS_WITH_AS(compute_padded_axis(padding::same, 4, 3, 1, 0, "CONV_2D", "width"),
                         "CONV_2D: dilation width must be >= 1, got 0", qtl::error);
    CHECK_THROWS_WITH_AS(compute_padded_axis(padding::same, 4, 0, 1, 1, "AVERAGE_POOL_2D", "height"),
                         "AVERAGE_POOL_2D: filter height must be >= 1, got 0", qtl::error);
    CHECK_THROWS_WITH_AS(compute_padded_axis(padding::same, 0, 1, 1, 1, "CONV_2D", "height"),
                         "CONV_2D: input height must be >= 1, got 0", qtl::error);
    CHECK_THROWS_WITH_AS(compute_padded_axis(static_cast<padding>(7), 4, 3, 1, 1, "CONV_2D", "width"),
                         "CONV_2D: padding must be SAME (0) or VALID (1), got 7", qtl::error);
    // Sizes near int range would overflow the kernels' index arithmetic.
    CHECK_THROWS_WITH_AS(compute_padded_axis(padding::same, 4, 1 << 20, 1, 1 << 12, "CONV_2D", "width"),
                         doctest::Contains("must each be < 2^29"), qtl::error);
    CHECK_THROWS_AS(compute_padded_axis(padding::same, 1 << 30, 1, 1, 1, "CONV_2D", "width"), qtl::error);
}
