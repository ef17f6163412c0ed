#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <random>
#include <vector>

#include "qtl/ops/pad.hpp"
#include "qtl/ops/reference/pad.hpp"
#include "support/shared_data.hpp"

// PAD / PADV2: hand-computed paddings (pad value = the output zero point, as
// MobileNetV2's asymmetric int8 PADs need, or PADV2's constant), the seanet
// 16x8 golden written by TFLite, the optimized path (fused rows, memcpy,
// fills) against the per-element reference on random shapes, and the errors.

using namespace qtl;

namespace {

template <class T>
ops::pad_params<T> params(shape in, std::vector<std::array<std::int32_t, 2>> paddings, std::int32_t zp = 0,
                          float scale = 0.5f) {
    ops::pad_params<T> p;
    p.input_shape = std::move(in);
    p.paddings = std::move(paddings);
    p.input_scale = p.output_scale = scale;
    p.input_zero_point = p.output_zero_point = zp;
    return p;
}

template <class T>
struct result {
    std::vector<T> optimized, reference;
};

template <class T>
result<T> run(const ops::pad_prepared<T>& p, const std::vector<T>& in) {
    const std::size_t n = num_elements(p.output_shape);
    result<T> r{std::vector<T>(n, T{99}), std::vector<T>(n, T{-99})};
    ops::eval(p, tensor_view<const T>(in, p.input_shape), tensor_view<T>(r.optimized, p.output_shape));
    ops::reference::eval(p, tensor_view<const T>(in, p.input_shape), tensor_view<T>(r.reference, p.output_shape));
    return r;
}

}  // namespace

TEST_CASE("pad: int8 NHWC padded in H and W with the zero point (-14), as MobileNetV2's PADs") {
    // ../shared/models/mobilenet_v2_quantized_1x3x224x224.tflite: PAD of INT8
    // [1, 224, 224, 3] (zp -14) by paddings [[0, 0], [1, 1], [1, 1], [0, 0]].
    // Here [1, 2, 2, 2] by the same paddings: a ring of -14 around the 2x2 image.
    const auto p = ops::prepare(params<std::int8_t>({1, 2, 2, 2}, {{0, 0}, {1, 1}, {1, 1}, {0, 0}}, -14));
    CHECK(p.output_shape == shape{1, 4, 4, 2});
    CHECK(p.pad_value == -14);
    const std::vector<std::int8_t> in{1, 2, 3, 4, 5, 6, 7, 8};  // pixels (1,2) (3,4) / (5,6) (7,8)
    const std::int8_t z = -14;
    const std::vector<std::int8_t> expected{
        z, z, z, z, z, z, z, z,  //
        z, z, 1, 2, 3, 4, z, z,  //
        z, z, 5, 6, 7, 8, z, z,  //
        z, z, z, z, z, z, z, z};
    const auto r = run(p, in);
    CHECK(r.optimized == expected);
    CHECK(r.reference == expected);
}

TEST_CASE_TEMPLATE("pad: hand-computed 1-D, 3-D, PADV2 constant and rank 0", T, std::int8_t, std::int16_t) {
    // [a, b, c] with {2, 1}: [0, 0, a, b, c, 0] (zero point 0)
    auto p = ops::prepare(params<T>({3}, {{2, 1}}));
    CHECK(p.output_shape == shape{6});
    CHECK(run(p, {T{5}, T{-6}, T{7}}).optimized == std::vector<T>{0, 0, 5, -6, 7, 0});

    // [2, 1, 2] padded {0,1} {1,0} {0,0}: each of the 2 (+1) outer blocks gets a
    // padded row before its single row; the appended outer block is all padding.
    auto pp = params<T>({2, 1, 2}, {{0, 1}, {1, 0}, {0, 0}});
    pp.constant_value = T{9};  // PADV2 with the output's scale and zero point
    pp.constant_scale = pp.output_scale;
    pp.constant_zero_point = pp.output_zero_point;
    p = ops::prepare(pp);
    CHECK(p.output_shape == shape{3, 2, 2});
    auto r = run(p, {T{1}, T{2}, T{3}, T{4}});
    CHECK(r.optimized == std::vector<T>{9, 9, 1, 2, 9, 9, 3, 4, 9, 9, 9, 9});
    CHECK(r.reference == r.optimized);

    p = ops::prepare(params<T>({}, {}));
    CHECK(run(p, {T{-3}}).optimized == std::vector<T>{-3});

    // An empty input dimension: the output is all padding.
    p = ops::prepare(params<T>({0, 2}, {{1, 1}, {0, 1}}));
    CHECK(p.output_shape == shape{2, 3});
    r = run(p, {});
    CHECK(r.optimized == std::vector<T>(6, T{0}));
    CHECK(r.reference == r.optimized);
}

TEST_CASE("pad: seanet pad0 golden (16x8, written by TFLite), bit-exact") {
    // ../shared/models/seanet/pad0.tflite: PAD (v2) of INT16[1, 2, 160, 2],
    // scale 0.0008812254527583718, zero point 0; its constant paddings tensor
    // (int32 [4, 2], buffer 1) is [[0, 0], [0, 0], [3, 3], [0, 0]] (read from the
    // flatbuffer with a throwaway script); output INT16[1, 2, 166, 2].
    const auto input = test::read_csv_integers<std::int16_t>("models/seanet/pad0_input0_int16.csv");
    const auto golden = test::read_csv_integers<std::int16_t>("models/seanet/pad0_golden_int16.csv");
    REQUIRE(input.size() == 1 * 2 * 160 * 2);
    REQUIRE(golden.size() == 1 * 2 * 166 * 2);
    const float scale = 0.0008812254527583718f;
    const auto p = ops::prepare(params<std::int16_t>({1, 2, 160, 2}, {{0, 0}, {0, 0}, {3, 3}, {0, 0}}, 0, scale));
    CHECK(p.output_shape == shape{1, 2, 166, 2});
    const auto r = run(p, input);
    std::size_t exact = 0, exact_reference = 0;
    for (std::size_t i = 0; i < golden.size(); ++i) {
        exact += r.optimized[i] == golden[i];
        exact_reference += r.reference[i] == golden[i];
    }
    MESSAGE("pad0: optimized " << exact << " / " << golden.size() << " exact, reference " << exact_reference << " / "
                               << golden.size());
    CHECK(exact == golden.size());
    CHECK(exact_reference == golden.size());
}

TEST_CASE_TEMPLATE("pad: optimized == reference on random shapes and paddings", T, std::int8_t, std::int16_t) {
    std::mt19937 rng(5);
    const std::int32_t sizes[] = {0, 1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 33};
    for (int trial = 0; trial < 400; ++trial) {
        const std::size_t rank = rng() % 6;
        shape in_shape;
        std::vector<std::array<std::int32_t, 2>> paddings;
        std::size_t n = 1;
        for (std::size_t d = 0; d < rank; ++d) {
            std::int32_t size = sizes[rng() % std::size(sizes)];
            if (size == 0 && rng() % 3) size = 5;  // keep most tensors non-empty
            if (n * static_cast<std::size_t>(size + 4) > 20000) size = 1;
            in_shape.push_back(size);
            n *= static_cast<std::size_t>(size);
            // Unpadded dims often, so that the fused form is exercised.
            paddings.push_back(rng() % 3 == 0 ? std::array<std::int32_t, 2>{0, 0}
                                              : std::array<std::int32_t, 2>{static_cast<std::int32_t>(rng() % 3),
                                                                            static_cast<std::int32_t>(rng() % 3)});
        }
        const std::int32_t zp = std::is_same_v<T, std::int8_t> ? static_cast<std::int32_t>(rng() % 256) - 128 : 0;
        auto pp = params<T>(in_shape, paddings, zp);
        if (rng() % 4 == 0) {
            pp.constant_value = static_cast<T>(static_cast<std::int32_t>(rng()));
            pp.constant_scale = pp.output_scale;
            pp.constant_zero_point = zp;
        }
        const auto p = ops::prepare(pp);
        std::vector<T> in(n);
        for (auto& v : in) v = static_cast<T>(static_cast<std::int32_t>(rng()));
        const auto r = run(p, in);
        INFO("shape " << to_string(in_shape));
        CHECK(r.optimized == r.reference);
    }
}

TEST_CASE("pad: prepare() and eval() errors") {
    CHECK_THROWS_WITH_AS(ops::prepare(params<std::int8_t>({2, 3}, {{0, 0}, {-1, 0}})),
                         doctest::Contains("PAD: paddings must be >= 0, got {-1, 0} for dimension 1"), error);
    CHECK_THROWS_WITH_AS(ops::prepare(params<std::int8_t>({2, 3}, {{0, 0}})),
                         doctest::Contains("paddings must have shape [2, 2] for input [2, 3], got [1, 2]"), error);
    CHECK_THROWS_WITH_AS(ops::prepare(params<std::int8_t>({1, 1, 1, 1, 1, 1}, std::vector<std::array<std::int32_t, 2>>(6))),
                         doctest::Contains("rank 6 exceeds the supported 5"), error);
    CHECK_THROWS_WITH_AS(ops::prepare(params<std::int8_t>({2}, {{0, 0x7fffffff}})), doctest::Contains("does not fit int32"),
                         error);
    auto pp = params<std::int8_t>({2}, {{1, 1}}, 3);
    pp.output_zero_point = 4;
    CHECK_THROWS_WITH_AS(ops::prepare(pp), doctest::Contains("share scale and zero point"), error);
    pp = params<std::int8_t>({2}, {{1, 1}}, 3);
    pp.constant_value = std::int8_t{1};
    pp.constant_scale = 0.5f;
    pp.constant_zero_point = 0;  // the output's is 3
    CHECK_THROWS_WITH_AS(ops::prepare(pp), doctest::Contains("PADV2 constant must have the output's scale and zero point"),
                         error);
    pp = params<std::int8_t>({2}, {{1, 1}}, -129);
    CHECK_THROWS_WITH_AS(ops::prepare(pp), doctest::Contains("got -129"), error);
    CHECK_THROWS_WITH_AS(ops::prepare(params<std::int16_t>({2}, {{1, 1}}, 1)), doctest::Contains("must be 0 for int16"), error);
    CHECK_THROWS_WITH_AS(ops::prepare(params<std::int16_t>({2}, {{1, 1}}, 0, 0.0f)), doctest::Contains("scale must be finite"),
                         error);

    const auto p = ops::prepare(params<std::int8_t>({2}, {{1, 1}}));
    std::vector<std::int8_t> in(2), out(4);
    CHECK_THROWS_WITH_AS(ops::eval(p, tensor_view<const std::int8_t>(in, {2}), tensor_view<std::int8_t>(out, {2, 2})),
                         doctest::Contains("output shape [2, 2] differs from the prepared [4]"), error);
    CHECK_THROWS_WITH_AS(ops::reference::eval(p, tensor_view<const std::int8_t>(in, {1, 2}), tensor_view<std::int8_t>(out, {4})),
                         doctest::Contains("input shape [1, 2] differs"), error);
    CHECK_THROWS_WITH_AS(
        ops::eval(p, tensor_view<const std::int8_t>(std::span<const std::int8_t>(out.data(), 2), {2}),
                  tensor_view<std::int8_t>(out, {4})),
        doctest::Contains("must not alias"), error);
}
