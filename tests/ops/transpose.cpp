#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "qtl/ops/reference/transpose.hpp"
#include "qtl/ops/transpose.hpp"

// TRANSPOSE: hand-computed permutations, MobileNetV2's NCHW -> NHWC input
// transpose (perm {0, 2, 3, 1}, read from the model), NCHW -> NHWC of a few
// channels (the PSHUFB interleave) against indexing by hand, the optimized path
// (memcpy runs, tiled 2-D transposes) against the per-element reference on
// random shapes with tile-edge sizes, and the errors.

using namespace qtl;

namespace {

template <class T>
ops::transpose_params<T> params(shape in, std::vector<std::int32_t> perm) {
    const std::int32_t zp = std::is_same_v<T, std::int8_t> ? -14 : 0;
    return {std::move(in), std::move(perm), 0.0186f, zp, 0.0186f, zp};
}

template <class T>
struct result {
    std::vector<T> optimized, reference;
};

template <class T>
result<T> run(const ops::transpose_prepared<T>& p, const std::vector<T>& in) {
    result<T> r{std::vector<T>(in.size(), T{77}), std::vector<T>(in.size(), T{-77})};
    ops::eval(p, tensor_view<const T>(in, p.input_shape), tensor_view<T>(r.optimized, p.output_shape));
    ops::reference::eval(p, tensor_view<const T>(in, p.input_shape), tensor_view<T>(r.reference, p.output_shape));
    return r;
}

template <class T>
std::vector<T> counting(std::size_t n) {
    std::vector<T> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<T>(i % 101);
    return v;
}

}  // namespace

TEST_CASE_TEMPLATE("transpose: hand-computed 2-D and 3-D permutations", T, std::int8_t, std::int16_t) {
    // [[0, 1, 2], [3, 4, 5]] transposed is [[0, 3], [1, 4], [2, 5]].
    auto p = ops::prepare(params<T>({2, 3}, {1, 0}));
    CHECK(p.output_shape == shape{3, 2});
    auto r = run(p, counting<T>(6));
    CHECK(r.optimized == std::vector<T>{0, 3, 1, 4, 2, 5});
    CHECK(r.reference == r.optimized);
    CHECK(ops::prepare(params<T>({2, 3}, {-1, 0})).perm == std::vector<int>{1, 0});  // -1 is the last dim

    // in[i][j][k] = 12i + 4j + k, shape [2, 3, 4]; perm {2, 0, 1} gives
    // out[k][i][j] = in[i][j][k], shape [4, 2, 3], written row-major over (k, i, j):
    // k = 0: 0 4 8 12 16 20, k = 1: 1 5 9 13 17 21, k = 2: 2 6 ..., k = 3: 3 7 ...
    p = ops::prepare(params<T>({2, 3, 4}, {2, 0, 1}));
    CHECK(p.output_shape == shape{4, 2, 3});
    r = run(p, counting<T>(24));
    CHECK(r.optimized == std::vector<T>{0, 4, 8, 12, 16, 20, 1, 5, 9, 13, 17, 21,
                                        2, 6, 10, 14, 18, 22, 3, 7, 11, 15, 19, 23});
    CHECK(r.reference == r.optimized);

    // perm {1, 0, 2} on [2, 3, 2] swaps the outer two dims and keeps pairs:
    // in pairs (0,1) (2,3) (4,5) | (6,7) (8,9) (10,11) -> (0,1) (6,7) (2,3) (8,9) (4,5) (10,11)
    p = ops::prepare(params<T>({2, 3, 2}, {1, 0, 2}));
    r = run(p, counting<T>(12));
    CHECK(r.optimized == std::vector<T>{0, 1, 6, 7, 2, 3, 8, 9, 4, 5, 10, 11});
    CHECK(r.reference == r.optimized);
}

TEST_CASE("transpose: MobileNetV2's input NCHW -> NHWC (perm {0, 2, 3, 1} from the .tflite)") {
    // ../shared/models/mobilenet_v2_quantized_1x3x224x224.tflite, op 0: TRANSPOSE
    // of INT8[1, 3, 224, 224] (scale 0.018631, zp -14) with the constant perm
    // tensor [0, 2, 3, 1] into [1, 224, 224, 3].  out[0][h][w][c] = in[0][c][h][w].
    ops::transpose_params<std::int8_t> tp{{1, 3, 224, 224}, {0, 2, 3, 1}, 0.018631115555763245f, -14,
                                          0.018631115555763245f, -14};
    const auto p = ops::prepare(tp);
    CHECK(p.output_shape == shape{1, 224, 224, 3});
    CHECK(p.fused_sizes == std::vector<std::size_t>{224 * 224, 3});  // a 2-D transpose after fusion
    std::vector<std::int8_t> in(3 * 224 * 224);
    std::mt19937 rng(3);
    for (auto& v : in) v = static_cast<std::int8_t>(rng());
    const auto r = run(p, in);
    bool all_equal = true;
    for (int h = 0; h < 224; ++h)
        for (int w = 0; w < 224; ++w)
            for (int c = 0; c < 3; ++c)
                all_equal = all_equal && r.optimized[(h * 224 + w) * 3 + c] == in[(c * 224 + h) * 224 + w];
    CHECK(all_equal);
    CHECK(r.reference == r.optimized);
}

TEST_CASE("transpose: NCHW -> NHWC of 1-6 channels (2-4: kernels::interleave_planes) equals indexing by hand") {
    std::mt19937 rng(17);
    for (std::int32_t channels = 1; channels <= 6; ++channels)
        for (const auto& size : {std::array{1, 7, 5}, std::array{2, 4, 4}, std::array{1, 1, 1},
                                 std::array{2, 9, 13}, std::array{1, 224, 3}}) {
            const std::int32_t batches = size[0], height = size[1], width = size[2];
            CAPTURE(channels);
            CAPTURE(height * width);  // rows per plane: 16-row steps and a tail
            const auto p = ops::prepare(params<std::int8_t>({batches, channels, height, width}, {0, 2, 3, 1}));
            std::vector<std::int8_t> in(std::size_t(batches * channels * height * width));
            for (auto& v : in) v = static_cast<std::int8_t>(rng());
            const auto r = run(p, in);
            std::size_t wrong = 0;
            for (int n = 0; n < batches; ++n)
                for (int h = 0; h < height; ++h)
                    for (int w = 0; w < width; ++w)
                        for (int c = 0; c < channels; ++c)
                            wrong += r.optimized[std::size_t(((n * height + h) * width + w) * channels + c)] !=
                                     in[std::size_t(((n * channels + c) * height + h) * width + w)];
            CHECK(wrong == 0);
        }
    // The kernel alone, planes further apart than their rows, every tail length.
    for (std::size_t planes = 1; planes <= 5; ++planes)
        for (std::size_t rows = 0; rows <= 49; ++rows) {
            const std::size_t stride = rows + 3;
            std::vector<std::int8_t> in(planes * stride), out(planes * rows + 1, 99);
            for (auto& v : in) v = static_cast<std::int8_t>(rng());
            kernels::interleave_planes(in.data(), stride, out.data(), rows, planes);
            std::size_t wrong = 0;
            for (std::size_t r = 0; r < rows; ++r)
                for (std::size_t c = 0; c < planes; ++c) wrong += out[r * planes + c] != in[c * stride + r];
            CHECK(wrong == 0);
            CHECK(out.back() == 99);  // nothing written past the rows
        }
    MESSAGE("interleave_planes vectorized here for 3 planes: ", kernels::interleave_planes_vectorized(3));
}

TEST_CASE_TEMPLATE("transpose: identity, size-1 dimensions, rank 0 and rank 6", T, std::int8_t, std::int16_t) {
    auto p = ops::prepare(params<T>({2, 3, 4}, {0, 1, 2}));
    CHECK(p.fused_sizes == std::vector<std::size_t>{24});  // one memcpy
    auto in = counting<T>(24);
    CHECK(run(p, in).optimized == in);

    p = ops::prepare(params<T>({1, 5, 1, 3}, {2, 0, 3, 1}));  // moves only size-1 dims relative to each other
    CHECK(p.output_shape == shape{1, 1, 3, 5});
    in = counting<T>(15);
    auto r = run(p, in);
    // out[0][0][c][w] = in[0][w][0][c]: 0 3 6 9 12 | 1 4 7 10 13 | 2 5 8 11 14
    CHECK(r.optimized == std::vector<T>{0, 3, 6, 9, 12, 1, 4, 7, 10, 13, 2, 5, 8, 11, 14});
    CHECK(r.reference == r.optimized);

    p = ops::prepare(params<T>({}, {}));
    in = {T{42}};
    CHECK(run(p, in).optimized == in);

    p = ops::prepare(params<T>({2, 1, 3, 2, 2, 3}, {5, 4, 3, 2, 1, 0}));
    CHECK(p.output_shape == shape{3, 2, 2, 3, 1, 2});
    r = run(p, counting<T>(72));
    CHECK(r.optimized == r.reference);
    // out[a][b][c][d][0][f] = in[f][0][d][c][b][a]; spot checks by the row-major formulas
    // in index = ((((f*1 + 0)*3 + d)*2 + c)*2 + b)*3 + a, out index = ((((a*2 + b)*2 + c)*3 + d)*1 + 0)*2 + f.
    for (int a = 0; a < 3; ++a)
        for (int f = 0; f < 2; ++f) {
            const int b = 1, c = 0, d = 2;
            CHECK(r.optimized[static_cast<std::size_t>((((a * 2 + b) * 2 + c) * 3 + d) * 2 + f)] ==
                  static_cast<T>(((((f * 3 + d) * 2 + c) * 2 + b) * 3 + a) % 101));
        }
}

TEST_CASE_TEMPLATE("transpose: optimized == reference on random shapes and tile edges", T, std::int8_t, std::int16_t) {
    std::mt19937 rng(11);
    const std::int32_t edge_sizes[] = {1, 2, 3, 7, 15, 16, 17, 31, 32, 33, 65};
    for (int trial = 0; trial < 300; ++trial) {
        const std::size_t rank = 1 + rng() % 6;
        shape in_shape;
        std::size_t n = 1;
        for (std::size_t d = 0; d < rank; ++d) {
            std::int32_t size = edge_sizes[rng() % std::size(edge_sizes)];
            if (n * static_cast<std::size_t>(size) > 6000) size = 1 + static_cast<std::int32_t>(rng() % 3);
            if (trial % 50 == 0 && d == 0) size = 0;  // empty tensors too
            in_shape.push_back(size);
            n *= static_cast<std::size_t>(size);
        }
        std::vector<std::int32_t> perm(rank);
        std::iota(perm.begin(), perm.end(), 0);
        std::shuffle(perm.begin(), perm.end(), rng);
        const auto p = ops::prepare(params<T>(in_shape, perm));
        std::vector<T> in(n);
        for (auto& v : in) v = static_cast<T>(static_cast<std::int32_t>(rng()));
        const auto r = run(p, in);
        INFO("shape " << to_string(in_shape) << " perm " << to_string(perm));
        CHECK(r.optimized == r.reference);
    }
}

TEST_CASE("transpose: prepare() and eval() errors") {
    CHECK_THROWS_WITH_AS(ops::prepare(params<std::int8_t>({2, 3}, {0})), doctest::Contains("perm has 1 entries"), error);
    CHECK_THROWS_WITH_AS(ops::prepare(params<std::int8_t>({2, 3}, {0, 2})), doctest::Contains("perm[1] = 2 is out of range"),
                         error);
    CHECK_THROWS_WITH_AS(ops::prepare(params<std::int8_t>({2, 3}, {0, -3})), doctest::Contains("out of range"), error);
    CHECK_THROWS_WITH_AS(ops::prepare(params<std::int8_t>({2, 3}, {1, -1})), doctest::Contains("repeats input dimension 1"),
                         error);
    CHECK_THROWS_WITH_AS(ops::prepare(params<std::int8_t>({1, 1, 1, 1, 1, 1, 1}, {0, 1, 2, 3, 4, 5, 6})),
                         doctest::Contains("rank 7 exceeds the supported 6"), error);
    auto tp = params<std::int8_t>({2, 3}, {1, 0});
    tp.output_zero_point = 0;
    CHECK_THROWS_WITH_AS(ops::prepare(tp), doctest::Contains("TRANSPOSE: input and output must share scale and zero point"),
                         error);
    tp = params<std::int8_t>({2, 3}, {1, 0});
    tp.input_scale = tp.output_scale = -1.0f;
    CHECK_THROWS_WITH_AS(ops::prepare(tp), doctest::Contains("scale must be finite and > 0, got -1"), error);
    auto tp16 = params<std::int16_t>({2, 3}, {1, 0});
    tp16.input_zero_point = tp16.output_zero_point = 5;
    CHECK_THROWS_WITH_AS(ops::prepare(tp16), doctest::Contains("must be 0 for int16"), error);

    const auto p = ops::prepare(params<std::int8_t>({2, 3}, {1, 0}));
    std::vector<std::int8_t> in(6), out(6);
    CHECK_THROWS_WITH_AS(ops::eval(p, tensor_view<const std::int8_t>(in, {2, 3}), tensor_view<std::int8_t>(out, {2, 3})),
                         doctest::Contains("output shape [2, 3] differs from the prepared [3, 2]"), error);
    CHECK_THROWS_WITH_AS(
        ops::reference::eval(p, tensor_view<const std::int8_t>(in, {6}), tensor_view<std::int8_t>(out, {3, 2})),
        doctest::Contains("input shape [6] differs"), error);
    CHECK_THROWS_WITH_AS(ops::eval(p, tensor_view<const std::int8_t>(in, {2, 3}), tensor_view<std::int8_t>(in, {3, 2})),
                         doctest::Contains("must not alias"), error);
}
