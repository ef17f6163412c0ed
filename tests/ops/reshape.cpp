#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "qtl/ops/reference/reshape.hpp"
#include "qtl/ops/reshape.hpp"

// RESHAPE: hand-computed shapes (TFLite's -1 rule, zero-sized dims), the
// optimized path (memcpy, in place) against the per-element reference on
// random shapes, and every error of prepare() and eval().

using namespace qtl;

namespace {

template <class T>
ops::reshape_params<T> params(shape in, shape new_shape, float scale = 0.5f, std::int32_t zp = 0) {
    return {std::move(in), std::move(new_shape), scale, zp, scale, zp};
}

template <class T>
std::vector<T> iota_values(std::size_t n) {
    std::vector<T> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<T>(static_cast<int>(i % 200) - 100);
    return v;
}

}  // namespace

TEST_CASE_TEMPLATE("reshape: the -1 takes the remaining size, values keep their order", T, std::int8_t, std::int16_t) {
    const std::int32_t zp = std::is_same_v<T, std::int8_t> ? -3 : 0;
    const auto p = ops::prepare(params<T>({2, 3, 4}, {4, -1}, 0.25f, zp));
    CHECK(p.output_shape == shape{4, 6});  // 24 / 4 = 6
    const auto in = iota_values<T>(24);
    std::vector<T> out(24, T{0}), ref(24, T{0});
    ops::eval(p, tensor_view<const T>(in, {2, 3, 4}), tensor_view<T>(out, {4, 6}));
    ops::reference::eval(p, tensor_view<const T>(in, {2, 3, 4}), tensor_view<T>(ref, {4, 6}));
    CHECK(out == in);  // row-major order is unchanged by a reshape
    CHECK(ref == in);

    CHECK(ops::prepare(params<T>({2, 3, 4}, {-1})).output_shape == shape{24});
    CHECK(ops::prepare(params<T>({2, 3, 4}, {2, 12})).output_shape == shape{2, 12});
    CHECK(ops::prepare(params<T>({24}, {1, 2, 1, 3, 4, 1})).output_shape == shape{1, 2, 1, 3, 4, 1});
    CHECK(ops::prepare(params<T>({1}, {})).output_shape == shape{});  // to a scalar
    CHECK(ops::prepare(params<T>({}, {1, 1, -1})).output_shape == shape{1, 1, 1});
}

TEST_CASE("reshape: zero-sized dimensions follow TFLite's stretch rule") {
    // [0, 3] -> [-1, 0]: input and the other new dims are both empty, so the
    // -1 is (non-zero input dims 3) / (non-zero new dims: none, 1) = 3.
    CHECK(ops::prepare(params<std::int8_t>({0, 3}, {-1, 0})).output_shape == shape{3, 0});
    // [0, 3] -> [2, -1]: empty input, non-empty other dims: the -1 becomes 0.
    CHECK(ops::prepare(params<std::int8_t>({0, 3}, {2, -1})).output_shape == shape{2, 0});
    CHECK(ops::prepare(params<std::int8_t>({4, 0}, {0, 7})).output_shape == shape{0, 7});
    const auto p = ops::prepare(params<std::int8_t>({0, 3}, {3, 0}));
    std::vector<std::int8_t> none;
    ops::eval(p, tensor_view<const std::int8_t>(none, {0, 3}), tensor_view<std::int8_t>(none, {3, 0}));
    ops::reference::eval(p, tensor_view<const std::int8_t>(none, {0, 3}), tensor_view<std::int8_t>(none, {3, 0}));
}

TEST_CASE("reshape: in place (output aliases the input), as TFLite shares the buffer") {
    const auto p = ops::prepare(params<std::int16_t>({3, 5}, {5, 3}));
    auto buffer = iota_values<std::int16_t>(15);
    const auto before = buffer;
    ops::eval(p, tensor_view<const std::int16_t>(buffer, {3, 5}), tensor_view<std::int16_t>(buffer, {5, 3}));
    CHECK(buffer == before);
}

TEST_CASE_TEMPLATE("reshape: optimized == reference on random shapes", T, std::int8_t, std::int16_t) {
    std::mt19937 rng(7);
    for (int trial = 0; trial < 200; ++trial) {
        const std::size_t rank = rng() % 6;
        shape in_shape;
        for (std::size_t d = 0; d < rank; ++d) in_shape.push_back(static_cast<std::int32_t>(rng() % 5 + (trial % 7 == 0 ? 0 : 1)));
        const std::size_t n = num_elements(in_shape);
        // New shape: the elements regrouped as [a, -1] or [-1] or a flat list of factors.
        shape new_shape;
        if (n == 0) {
            new_shape = {0, -1};
        } else {
            std::int32_t a = 1;
            for (std::int32_t f = 2; f <= static_cast<std::int32_t>(n); ++f)
                if (n % static_cast<std::size_t>(f) == 0 && rng() % 2) { a = f; break; }
            new_shape = rng() % 2 ? shape{a, -1} : shape{-1, a, 1};
        }
        const auto p = ops::prepare(params<T>(in_shape, new_shape));
        CHECK(num_elements(p.output_shape) == n);
        std::vector<T> in(n), out(n, T{1}), ref(n, T{2});
        for (auto& v : in) v = static_cast<T>(static_cast<std::int32_t>(rng()));
        ops::eval(p, tensor_view<const T>(in, in_shape), tensor_view<T>(out, p.output_shape));
        ops::reference::eval(p, tensor_view<const T>(in, in_shape), tensor_view<T>(ref, p.output_shape));
        CHECK(out == ref);
        CHECK(out == in);
    }
}

TEST_CASE("reshape: prepare() errors name the op and what is wrong") {
    using P = ops::reshape_params<std::int8_t>;
    CHECK_THROWS_WITH_AS(ops::prepare(params<std::int8_t>({2, 3}, {-1, -1})), doctest::Contains("more than one -1"), error);
    CHECK_THROWS_WITH_AS(ops::prepare(params<std::int8_t>({2, 3}, {4, -1})),
                         doctest::Contains("has 4 elements, the input [2, 3] has 6"), error);
    CHECK_THROWS_WITH_AS(ops::prepare(params<std::int8_t>({2, 3}, {5})), doctest::Contains("has 5 elements"), error);
    CHECK_THROWS_WITH_AS(ops::prepare(params<std::int8_t>({2, 3}, {-2, -3})), doctest::Contains("only -1 may be negative"),
                         error);
    CHECK_THROWS_WITH_AS(ops::prepare(params<std::int8_t>({2, -3}, {-1})), doctest::Contains("negative"), error);
    CHECK_THROWS_WITH_AS(ops::prepare(P{{2}, {2}, 0.5f, 0, 0.25f, 0}), doctest::Contains("share scale and zero point"), error);
    CHECK_THROWS_WITH_AS(ops::prepare(P{{2}, {2}, 0.5f, 1, 0.5f, 0}), doctest::Contains("share scale and zero point"), error);
    CHECK_THROWS_WITH_AS(ops::prepare(P{{2}, {2}, 0.0f, 0, 0.0f, 0}), doctest::Contains("RESHAPE: input scale must be finite and > 0"),
                         error);
    CHECK_THROWS_AS(ops::prepare(P{{2}, {2}, std::nanf(""), 0, std::nanf(""), 0}), error);
    CHECK_THROWS_WITH_AS(ops::prepare(P{{2}, {2}, 1.0f, 128, 1.0f, 128}), doctest::Contains("[-128, 127], got 128"), error);
    CHECK_THROWS_WITH_AS(ops::prepare(ops::reshape_params<std::int16_t>{{2}, {2}, 1.0f, 1, 1.0f, 1}),
                         doctest::Contains("zero point must be 0 for int16"), error);
}

TEST_CASE("reshape: eval() rejects views that differ from the prepared shapes") {
    const auto p = ops::prepare(params<std::int8_t>({2, 3}, {3, 2}));
    std::vector<std::int8_t> in(6), out(6);
    CHECK_THROWS_WITH_AS(ops::eval(p, tensor_view<const std::int8_t>(in, {3, 2}), tensor_view<std::int8_t>(out, {3, 2})),
                         doctest::Contains("RESHAPE: input shape [3, 2] differs from the prepared [2, 3]"), error);
    CHECK_THROWS_WITH_AS(
        ops::reference::eval(p, tensor_view<const std::int8_t>(in, {2, 3}), tensor_view<std::int8_t>(out, {6})),
        doctest::Contains("output shape [6] differs from the prepared [3, 2]"), error);
}
