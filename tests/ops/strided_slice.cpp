#include <doctest/doctest.h>

#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "qtl/ops/reference/strided_slice.hpp"
#include "qtl/ops/strided_slice.hpp"
#include "support/shared_data.hpp"

// STRIDED_SLICE: hand-computed slices (NumPy/TensorFlow semantics worked out
// in the comments: masks, negative strides and indices, clamping, ellipsis,
// new axes, shrink, offset), the seanet 16x8 golden written by TFLite, the
// optimized path against the per-element reference on random specs, and the
// errors.

using namespace qtl;

namespace {

struct spec {
    std::vector<std::int32_t> begin, end, strides;
    std::uint32_t begin_mask = 0, end_mask = 0, ellipsis_mask = 0, new_axis_mask = 0, shrink_axis_mask = 0;
    bool offset = false;
};

template <class T>
ops::strided_slice_params<T> params(shape in, const spec& s, std::int32_t zp = 0) {
    ops::strided_slice_params<T> p;
    p.input_shape = std::move(in);
    p.begin = s.begin;
    p.end = s.end;
    p.strides = s.strides;
    p.begin_mask = s.begin_mask;
    p.end_mask = s.end_mask;
    p.ellipsis_mask = s.ellipsis_mask;
    p.new_axis_mask = s.new_axis_mask;
    p.shrink_axis_mask = s.shrink_axis_mask;
    p.offset = s.offset;
    p.input_scale = p.output_scale = 0.125f;
    p.input_zero_point = p.output_zero_point = zp;
    return p;
}

template <class T>
struct result {
    shape output_shape;
    std::vector<T> optimized, reference;
};

template <class T>
result<T> slice(shape in_shape, const spec& s, const std::vector<T>& in) {
    const auto p = ops::prepare(params<T>(std::move(in_shape), s));
    const std::size_t n = num_elements(p.output_shape);
    result<T> r{p.output_shape, std::vector<T>(n, T{-1}), std::vector<T>(n, T{-2})};
    ops::eval(p, tensor_view<const T>(in, p.input_shape), tensor_view<T>(r.optimized, p.output_shape));
    ops::reference::eval(p, tensor_view<const T>(in, p.input_shape), tensor_view<T>(r.reference, p.output_shape));
    return r;
}

template <class T>
std::vector<T> arange(std::size_t n) {
    std::vector<T> v(n);
    std::iota(v.begin(), v.end(), T{0});
    return v;
}

}  // namespace

TEST_CASE_TEMPLATE("strided_slice: hand-computed 2-D slices", T, std::int8_t, std::int16_t) {
    // x = arange(20).reshape(4, 5): x[r][c] = 5r + c.
    const auto x = arange<T>(20);
    const auto check = [&](const spec& s, const shape& expected_shape, const std::vector<T>& expected) {
        const auto r = slice<T>({4, 5}, s, x);
        CHECK(r.output_shape == expected_shape);
        CHECK(r.optimized == expected);
        CHECK(r.reference == expected);
    };
    // x[1:3, ::2]: rows 1, 2; columns 0, 2, 4.
    check({{1, 0}, {3, 0}, {1, 2}, 0, 0b10}, {2, 3}, {5, 7, 9, 10, 12, 14});
    // x[::-1, -1]: rows 3, 2, 1, 0 (begin/end masked, stride -1) of column 5 - 1 = 4, shrunk.
    check({{0, -1}, {0, 0}, {-1, 1}, 0b01, 0b01, 0, 0, 0b10}, {4}, {19, 14, 9, 4});
    // x[-2:, 1:-1]: rows 4 - 2 = 2, 3; columns 1 .. 5 - 1 - 1 = 3.
    check({{-2, 1}, {0, -1}, {1, 1}, 0, 0b01}, {2, 3}, {11, 12, 13, 16, 17, 18});
    // x[3:0:-2, 4:1:-1]: rows 3, 1; columns 4, 3, 2.
    check({{3, 4}, {0, 1}, {-2, -1}}, {2, 3}, {19, 18, 17, 9, 8, 7});
    // x[-10:10, 7:]: rows clamp to [0, 4] (all 4); column start 7 clamps to 5: empty.
    check({{-10, 7}, {10, 0}, {1, 1}, 0, 0b10}, {4, 0}, {});
    // x[10:-10:-1, 0]: stride -1 clamps begin to 3 and end -10 + 4 = -6 to -1: rows 3, 2, 1, 0.
    check({{10, 0}, {-10, 1}, {-1, 1}, 0, 0, 0, 0, 0b10}, {4}, {15, 10, 5, 0});
    // offset: end is relative to begin: x[1:1+2, 2:2+3].
    check({{1, 2}, {2, 3}, {1, 1}, 0, 0, 0, 0, 0, true}, {2, 3}, {7, 8, 9, 12, 13, 14});
    // x[1] (one entry for a rank-2 input): the trailing dimension is taken whole.
    check({{1}, {2}, {1}, 0, 0, 0, 0, 0b1}, {5}, {5, 6, 7, 8, 9});
    // x[:, 1:4:3]: column 1 only (1 + 3 = 4 is past the end).
    check({{0, 1}, {0, 4}, {1, 3}, 0b01, 0b01}, {4, 1}, {1, 6, 11, 16});
}

TEST_CASE_TEMPLATE("strided_slice: hand-computed ellipsis and new axes on 3-D", T, std::int8_t, std::int16_t) {
    // y = arange(24).reshape(2, 3, 4): y[i][j][k] = 12i + 4j + k.
    const auto y = arange<T>(24);
    const auto check = [&](const spec& s, const shape& expected_shape, const std::vector<T>& expected) {
        const auto r = slice<T>({2, 3, 4}, s, y);
        CHECK(r.output_shape == expected_shape);
        CHECK(r.optimized == expected);
        CHECK(r.reference == expected);
    };
    // y[..., 1]: the ellipsis stands for dims 0 and 1; k = 1 shrunk: 12i + 4j + 1.
    check({{0, 1}, {0, 2}, {1, 1}, 0, 0, 0b01, 0, 0b10}, {2, 3}, {1, 5, 9, 13, 17, 21});
    // y[:, newaxis, 0]: dim 0 whole, a new axis of 1, j = 0 shrunk, dim 2 implicit: 12i + k.
    check({{0, 0, 0}, {0, 0, 1}, {1, 1, 1}, 0b001, 0b001, 0, 0b010, 0b100}, {2, 1, 4}, {0, 1, 2, 3, 12, 13, 14, 15});
    // y[0, ..., newaxis]: i = 0 shrunk, the ellipsis covers dims 1 and 2, then a new last axis.
    check({{0, 0, 0}, {1, 0, 0}, {1, 1, 1}, 0, 0, 0b010, 0b100, 0b001}, {3, 4, 1},
          {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
    // y[..., 0, 1, 2]: the ellipsis covers no dimension; y[0][1][2] = 6, a scalar.
    check({{0, 0, 1, 2}, {0, 1, 2, 3}, {1, 1, 1, 1}, 0, 0, 0b0001, 0, 0b1110}, {}, {6});
    // y[newaxis, 1, ::-2, 3:]: new leading axis; i = 1 shrunk; j = 2, 0; k = 3.
    check({{0, 1, 0, 3}, {0, 2, 0, 0}, {1, 1, -2, 1}, 0b0100, 0b1100, 0, 0b0001, 0b0010}, {1, 2, 1}, {23, 15});
    // Ellipsis and new-axis bits on the same entry: the ellipsis wins (y[...]).
    check({{0}, {0}, {1}, 0, 0, 0b1, 0b1, 0}, {2, 3, 4}, arange<T>(24));
}

TEST_CASE("strided_slice: seanet strided_slice0 golden (16x8, written by TFLite), bit-exact") {
    // ../shared/models/seanet/strided_slice0.tflite: STRIDED_SLICE (v2) of
    // INT16[1, 8, 166, 2], scale 0.0008812254527583718, zero point 0, into
    // INT16[1, 6, 166, 2].  Its constant inputs and options, read from the
    // flatbuffer with a throwaway script: begin [0, -6, 0, 0] (buffer 1),
    // end [0, 0, 0, 2] (buffer 2), strides [1, 1, 1, 1] (buffer 3),
    // begin_mask 13, end_mask 15, other masks 0, offset false:
    // x[:, -6:, :, :], the last 6 rows.
    const auto input = test::read_csv_integers<std::int16_t>("models/seanet/strided_slice0_input0_int16.csv");
    const auto golden = test::read_csv_integers<std::int16_t>("models/seanet/strided_slice0_golden_int16.csv");
    REQUIRE(input.size() == 1 * 8 * 166 * 2);
    REQUIRE(golden.size() == 1 * 6 * 166 * 2);
    auto sp = params<std::int16_t>({1, 8, 166, 2}, {{0, -6, 0, 0}, {0, 0, 0, 2}, {1, 1, 1, 1}, 13, 15});
    sp.input_scale = sp.output_scale = 0.0008812254527583718f;
    const auto p = ops::prepare(sp);
    CHECK(p.output_shape == shape{1, 6, 166, 2});
    std::vector<std::int16_t> optimized(golden.size()), reference(golden.size());
    ops::eval(p, tensor_view<const std::int16_t>(input, p.input_shape), tensor_view<std::int16_t>(optimized, p.output_shape));
    ops::reference::eval(p, tensor_view<const std::int16_t>(input, p.input_shape),
                         tensor_view<std::int16_t>(reference, p.output_shape));
    std::size_t exact = 0, exact_reference = 0;
    for (std::size_t i = 0; i < golden.size(); ++i) {
        exact += optimized[i] == golden[i];
        exact_reference += reference[i] == golden[i];
    }
    MESSAGE("strided_slice0: optimized " << exact << " / " << golden.size() << " exact, reference " << exact_reference
                                         << " / " << golden.size());
    CHECK(exact == golden.size());
    CHECK(exact_reference == golden.size());
}

TEST_CASE_TEMPLATE("strided_slice: optimized == reference on random specs", T, std::int8_t, std::int16_t) {
    std::mt19937 rng(13);
    const std::int32_t sizes[] = {1, 2, 3, 4, 5, 7, 8, 9, 16, 17};
    const auto random_in = [&](std::int32_t lo, std::int32_t hi) {
        return lo + static_cast<std::int32_t>(rng() % static_cast<std::uint32_t>(hi - lo + 1));
    };
    int non_empty = 0;
    for (int trial = 0; trial < 1000; ++trial) {
        const std::size_t rank = 1 + rng() % 5;
        shape in_shape;
        for (std::size_t d = 0; d < rank; ++d) in_shape.push_back(sizes[rng() % std::size(sizes)]);
        // Entry kinds first: explicit entries for the leading dims (sometimes
        // fewer than the rank), new axes in between, optionally an ellipsis;
        // then each explicit entry gets the input dim it will index.
        enum kind { explicit_entry, new_axis, ellipsis };
        std::vector<kind> kinds;
        const std::size_t explicit_count = rng() % 5 == 0 ? rank - rng() % rank : rank;
        for (std::size_t i = 0; i < explicit_count; ++i) {
            if (rng() % 8 == 0) kinds.push_back(new_axis);
            kinds.push_back(explicit_entry);
        }
        if (rng() % 4 == 0) kinds.insert(kinds.begin() + static_cast<std::ptrdiff_t>(rng() % (kinds.size() + 1)), ellipsis);
        std::size_t after_ellipsis = 0;  // explicit entries after the ellipsis index the last dims
        bool seen_ellipsis = false;
        for (const kind k : kinds) {
            if (k == ellipsis) seen_ellipsis = true;
            if (seen_ellipsis && k == explicit_entry) ++after_ellipsis;
        }
        spec s;
        std::size_t dim = 0;
        for (std::size_t bit = 0; bit < kinds.size(); ++bit) {
            if (kinds[bit] != explicit_entry) {
                (kinds[bit] == ellipsis ? s.ellipsis_mask : s.new_axis_mask) |= 1u << bit;
                s.begin.push_back(0);
                s.end.push_back(0);
                s.strides.push_back(1);
                if (kinds[bit] == ellipsis) dim = rank - after_ellipsis;
                continue;
            }
            const std::int32_t size = in_shape[dim++];
            std::int32_t stride = random_in(1, 3) * (rng() % 3 == 0 ? -1 : 1);
            if (rng() % 2) {  // anything, clamping included
                s.begin.push_back(random_in(-size - 2, size + 2));
                s.end.push_back(random_in(-size - 2, size + 2));
            } else if (stride > 0) {  // a non-empty forward range
                s.begin.push_back(random_in(0, size - 1));
                s.end.push_back(random_in(s.begin.back() + 1, size));
            } else {  // a non-empty backward range; below 0 the end is written as -size - 1 (clamps to -1)
                s.begin.push_back(random_in(0, size - 1));
                const std::int32_t e = s.begin.back() - random_in(1, s.begin.back() + 1);
                s.end.push_back(e < 0 ? -size - 1 : e);
            }
            if (rng() % 4 == 0) s.begin_mask |= 1u << bit;
            if (rng() % 4 == 0) s.end_mask |= 1u << bit;
            if (rng() % 6 == 0) {  // shrink: a valid index, stride > 0
                stride = 1;
                s.begin.back() = random_in(-size, size - 1);
                s.shrink_axis_mask |= 1u << bit;
                s.begin_mask &= ~(1u << bit);
            }
            s.strides.push_back(stride);
        }
        s.offset = rng() % 10 == 0 && s.ellipsis_mask == 0 && s.new_axis_mask == 0;
        std::vector<T> in(num_elements(in_shape));
        for (auto& v : in) v = static_cast<T>(static_cast<std::int32_t>(rng()));
        const auto r = slice<T>(in_shape, s, in);
        INFO("shape " << to_string(in_shape) << " begin " << to_string(s.begin) << " end " << to_string(s.end)
                      << " strides " << to_string(s.strides) << " masks " << s.begin_mask << " " << s.end_mask << " "
                      << s.ellipsis_mask << " " << s.new_axis_mask << " " << s.shrink_axis_mask);
        CHECK(r.optimized == r.reference);
        non_empty += !r.optimized.empty();
    }
    CHECK(non_empty > 500);  // the random specs mostly select something
}

TEST_CASE("strided_slice: prepare() and eval() errors") {
    using P = spec;
    const auto prep = [](shape s, const P& sp) { return ops::prepare(params<std::int8_t>(std::move(s), sp)); };
    CHECK_THROWS_WITH_AS(prep({4}, {{0}, {4}, {0}}), doctest::Contains("STRIDED_SLICE: strides[0] must be non-zero"), error);
    CHECK_THROWS_WITH_AS(prep({4}, {{0}, {4, 1}, {1}}), doctest::Contains("same length, got 1, 2, 1"), error);
    CHECK_THROWS_WITH_AS(prep({4}, {std::vector<std::int32_t>(32), std::vector<std::int32_t>(32), std::vector<std::int32_t>(32, 1)}),
                         doctest::Contains("at most 31 slice entries"), error);
    CHECK_THROWS_WITH_AS(prep({4, 4}, {{0, 0}, {1, 1}, {1, 1}, 0, 0, 0b11}), doctest::Contains("more than one bit"), error);
    CHECK_THROWS_WITH_AS(prep({4}, {{0}, {1}, {1}, 0, 0, 0, 0b10}), doctest::Contains("beyond the 1 slice entries"), error);
    CHECK_THROWS_WITH_AS(prep({4}, {{0, 0}, {1, 1}, {1, 1}}), doctest::Contains("has rank 1 but the slice indexes 2"), error);
    CHECK_THROWS_WITH_AS(prep({4}, {{4}, {5}, {1}, 0, 0, 0, 0, 1}), doctest::Contains("at index 4, out of range"), error);
    CHECK_THROWS_WITH_AS(prep({4}, {{-5}, {0}, {1}, 0, 0, 0, 0, 1}), doctest::Contains("out of range"), error);
    CHECK_THROWS_WITH_AS(prep({4}, {{1}, {0}, {-1}, 0, 0, 0, 0, 1}), doctest::Contains("needs a stride > 0"), error);
    CHECK_THROWS_WITH_AS(prep({0}, {{0}, {1}, {1}, 1, 0, 0, 0, 1}), doctest::Contains("of size 0"), error);
    CHECK_THROWS_WITH_AS(prep({1, 1, 1, 1, 1, 1}, {}), doctest::Contains("rank 6 exceeds the supported 5"), error);
    auto sp = params<std::int8_t>({4}, {{0}, {1}, {1}});
    sp.output_scale = 0.5f;
    CHECK_THROWS_WITH_AS(ops::prepare(sp), doctest::Contains("share scale and zero point"), error);
    CHECK_THROWS_WITH_AS(ops::prepare(params<std::int16_t>({4}, {{0}, {1}, {1}}, 2)), doctest::Contains("must be 0 for int16"),
                         error);

    const auto p = prep({4}, {{1}, {3}, {1}});
    std::vector<std::int8_t> in(4), out(2);
    CHECK_THROWS_WITH_AS(ops::eval(p, tensor_view<const std::int8_t>(in, {4}), tensor_view<std::int8_t>(out, {1, 2})),
                         doctest::Contains("output shape [1, 2] differs from the prepared [2]"), error);
    CHECK_THROWS_WITH_AS(
        ops::reference::eval(p, tensor_view<const std::int8_t>(in, {2, 2}), tensor_view<std::int8_t>(out, {2})),
        doctest::Contains("input shape [2, 2] differs"), error);
    CHECK_THROWS_WITH_AS(ops::eval(p, tensor_view<const std::int8_t>(in, {4}), tensor_view<std::int8_t>(std::span<std::int8_t>(in.data(), 2), {2})),
                         doctest::Contains("must not alias"), error);
}
