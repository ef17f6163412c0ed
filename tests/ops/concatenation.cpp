#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "qtl/ops/concatenation.hpp"
#include "qtl/ops/reference/concatenation.hpp"

// CONCATENATION: hand-computed joins along every axis (negative ones too),
// the optimized path (one memcpy per block and input) against the
// per-element reference on random shapes, and the errors, among them the
// ones TFLite's Prepare raises (fused activation, int8 inputs whose scale or
// zero point differ from the output's).

using namespace qtl;

namespace {

template <class T>
ops::concatenation_params<T> params(std::vector<shape> shapes, int axis, std::int32_t zp = 0, float scale = 0.05f) {
    ops::concatenation_params<T> p;
    p.input_scales.assign(shapes.size(), scale);
    p.input_zero_points.assign(shapes.size(), zp);
    p.input_shapes = std::move(shapes);
    p.axis = axis;
    p.output_scale = scale;
    p.output_zero_point = zp;
    return p;
}

template <class T>
struct result {
    std::vector<T> optimized, reference;
};

template <class T>
result<T> run(const ops::concatenation_prepared<T>& p, const std::vector<std::vector<T>>& data) {
    std::vector<tensor_view<const T>> inputs;
    for (std::size_t i = 0; i < data.size(); ++i) inputs.emplace_back(data[i], p.input_shapes[i]);
    const std::size_t n = num_elements(p.output_shape);
    result<T> r{std::vector<T>(n, T{55}), std::vector<T>(n, T{-55})};
    ops::eval(p, std::span<const tensor_view<const T>>(inputs), tensor_view<T>(r.optimized, p.output_shape));
    ops::reference::eval(p, std::span<const tensor_view<const T>>(inputs), tensor_view<T>(r.reference, p.output_shape));
    return r;
}

}  // namespace

TEST_CASE_TEMPLATE("concatenation: hand-computed joins along each axis", T, std::int8_t, std::int16_t) {
    const std::vector<T> a{1, 2, 3, 4};  // [[1, 2], [3, 4]]
    const std::vector<T> b{5, 6};        // [[5], [6]] or [[5, 6]]
    // axis 1: [[1, 2, 5], [3, 4, 6]]
    auto p = ops::prepare(params<T>({{2, 2}, {2, 1}}, 1));
    CHECK(p.output_shape == shape{2, 3});
    auto r = run(p, {a, b});
    CHECK(r.optimized == std::vector<T>{1, 2, 5, 3, 4, 6});
    CHECK(r.reference == r.optimized);
    // axis -1 is axis 1
    CHECK(ops::prepare(params<T>({{2, 2}, {2, 1}}, -1)).axis == 1);
    // axis 0 (and -2): [[1, 2], [3, 4], [5, 6]]
    p = ops::prepare(params<T>({{2, 2}, {1, 2}}, -2));
    CHECK(p.output_shape == shape{3, 2});
    r = run(p, {a, b});
    CHECK(r.optimized == std::vector<T>{1, 2, 3, 4, 5, 6});
    CHECK(r.reference == r.optimized);
    // Three NHWC inputs [1, 1, 2, C] along channels (C = 1, 2, 1), one empty input between:
    // pixel 0: (7) (8, 9) () (10), pixel 1: (11) (12, 13) () (14)
    p = ops::prepare(params<T>({{1, 1, 2, 1}, {1, 1, 2, 2}, {1, 1, 2, 0}, {1, 1, 2, 1}}, 3));
    CHECK(p.output_shape == shape{1, 1, 2, 4});
    r = run(p, {{7, 11}, {8, 9, 12, 13}, {}, {10, 14}});
    CHECK(r.optimized == std::vector<T>{7, 8, 9, 10, 11, 12, 13, 14});
    CHECK(r.reference == r.optimized);
    // A single input is a copy.
    p = ops::prepare(params<T>({{2, 2}}, 0));
    CHECK(run(p, {a}).optimized == a);
}

TEST_CASE("concatenation: int8 with an asymmetric zero point shared by all tensors") {
    // zp -128 everywhere: raw values are copied, no rescaling.
    const auto p = ops::prepare(params<std::int8_t>({{1, 2}, {1, 3}}, 1, -128, 0.0235f));
    const auto r = run(p, {{-128, 127}, {0, -1, 5}});
    CHECK(r.optimized == std::vector<std::int8_t>{-128, 127, 0, -1, 5});
    CHECK(r.reference == r.optimized);
}

TEST_CASE_TEMPLATE("concatenation: optimized == reference on random shapes", T, std::int8_t, std::int16_t) {
    std::mt19937 rng(17);
    for (int trial = 0; trial < 300; ++trial) {
        const std::size_t rank = 1 + rng() % 5;
        shape base;
        for (std::size_t d = 0; d < rank; ++d) base.push_back(1 + static_cast<std::int32_t>(rng() % (rank > 3 ? 4 : 9)));
        const int axis = static_cast<int>(rng() % rank) - (rng() % 2 ? static_cast<int>(rank) : 0);
        const std::size_t axis_index = static_cast<std::size_t>(axis < 0 ? axis + static_cast<int>(rank) : axis);
        const std::size_t count = 1 + rng() % 4;
        std::vector<shape> shapes;
        std::vector<std::vector<T>> data;
        for (std::size_t i = 0; i < count; ++i) {
            shape s = base;
            s[axis_index] = static_cast<std::int32_t>(rng() % 6);  // 0 .. 5, empty inputs included
            std::vector<T> v(num_elements(s));
            for (auto& x : v) x = static_cast<T>(static_cast<std::int32_t>(rng()));
            shapes.push_back(s);
            data.push_back(std::move(v));
        }
        const auto p = ops::prepare(params<T>(shapes, axis));
        const auto r = run(p, data);
        CHECK(r.optimized == r.reference);
    }
}

TEST_CASE("concatenation: prepare() errors, TFLite's among them") {
    using P8 = ops::concatenation_params<std::int8_t>;
    CHECK_THROWS_WITH_AS(ops::prepare(P8{}), doctest::Contains("CONCATENATION: needs at least one input"), error);
    auto p = params<std::int8_t>({{2}, {3}}, 0);
    p.input_scales.pop_back();
    CHECK_THROWS_WITH_AS(ops::prepare(p), doctest::Contains("expected 2 input scales and zero points"), error);
    p = params<std::int8_t>({{2}, {3}}, 0);
    p.activation = fused_activation::relu;
    CHECK_THROWS_WITH_AS(ops::prepare(p), doctest::Contains("fused activation must be NONE"), error);
    // TFLite's int8 kernel requires every input to carry the output's scale and zero point.
    p = params<std::int8_t>({{2}, {3}}, 0, 3, 0.5f);
    p.input_scales[1] = 0.25f;
    CHECK_THROWS_WITH_AS(ops::prepare(p), doctest::Contains("input 1 must have the output's scale and zero point"), error);
    p = params<std::int8_t>({{2}, {3}}, 0, 3, 0.5f);
    p.input_zero_points[0] = 2;
    CHECK_THROWS_WITH_AS(ops::prepare(p), doctest::Contains("input 0 must have the output's scale and zero point"), error);
    auto p16 = params<std::int16_t>({{2}, {3}}, 0);
    p16.input_scales[0] = 0.5f;
    CHECK_THROWS_WITH_AS(ops::prepare(p16), doctest::Contains("TFLite does not rescale int16"), error);
    p16 = params<std::int16_t>({{2}, {3}}, 0, 1);
    CHECK_THROWS_WITH_AS(ops::prepare(p16), doctest::Contains("must be 0 for int16"), error);
    CHECK_THROWS_WITH_AS(ops::prepare(params<std::int8_t>({{2}, {3}}, 0, 0, std::nanf(""))),
                         doctest::Contains("scale must be finite"), error);
    CHECK_THROWS_WITH_AS(ops::prepare(params<std::int8_t>({{2}, {3}}, 1)), doctest::Contains("axis 1 is out of range for rank 1"),
                         error);
    CHECK_THROWS_WITH_AS(ops::prepare(params<std::int8_t>({{2, 2}, {2}}, 0)), doctest::Contains("input 1 has rank 1"), error);
    CHECK_THROWS_WITH_AS(ops::prepare(params<std::int8_t>({{2, 2}, {2, 3}}, 0)),
                         doctest::Contains("input 1 [2, 3] differs from input 0 [2, 2] in dimension 1"), error);
    CHECK_THROWS_WITH_AS(ops::prepare(params<std::int8_t>({{}, {}}, 0)), doctest::Contains("rank >= 1"), error);
    CHECK_THROWS_WITH_AS(ops::prepare(params<std::int8_t>({{0x7fffffff}, {1}}, 0)), doctest::Contains("does not fit int32"),
                         error);
}

TEST_CASE("concatenation: eval() errors") {
    const auto p = ops::prepare(params<std::int8_t>({{2}, {3}}, 0));
    std::vector<std::int8_t> a(2), b(3), out(5);
    std::vector<tensor_view<const std::int8_t>> one{tensor_view<const std::int8_t>(a, {2})};
    CHECK_THROWS_WITH_AS(ops::eval(p, std::span<const tensor_view<const std::int8_t>>(one), tensor_view<std::int8_t>(out, {5})),
                         doctest::Contains("expected 2 inputs, got 1"), error);
    std::vector<tensor_view<const std::int8_t>> swapped{tensor_view<const std::int8_t>(b, {3}),
                                                        tensor_view<const std::int8_t>(a, {2})};
    CHECK_THROWS_WITH_AS(
        ops::reference::eval(p, std::span<const tensor_view<const std::int8_t>>(swapped), tensor_view<std::int8_t>(out, {5})),
        doctest::Contains("input 0 shape [3] differs from the prepared [2]"), error);
    std::vector<tensor_view<const std::int8_t>> both{tensor_view<const std::int8_t>(a, {2}),
                                                     tensor_view<const std::int8_t>(b, {3})};
    CHECK_THROWS_WITH_AS(ops::eval(p, std::span<const tensor_view<const std::int8_t>>(both), tensor_view<std::int8_t>(out, {1, 5})),
                         doctest::Contains("output shape [1, 5] differs from the prepared [5]"), error);
    std::vector<std::int8_t> buffer(5);
    std::vector<tensor_view<const std::int8_t>> aliasing{
        tensor_view<const std::int8_t>(std::span<const std::int8_t>(buffer.data(), 2), {2}),
        tensor_view<const std::int8_t>(b, {3})};
    CHECK_THROWS_WITH_AS(
        ops::eval(p, std::span<const tensor_view<const std::int8_t>>(aliasing), tensor_view<std::int8_t>(buffer, {5})),
        doctest::Contains("must not alias input 0"), error);
}
