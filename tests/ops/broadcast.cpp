#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "qtl/core/error.hpp"
#include "qtl/ops/broadcast.hpp"

// Broadcasting of two shapes: output shapes worked out by NumPy's rule by
// hand, the walks (per element and per run) against an index computed
// independently in the test from multi-indices, and the error paths.

namespace {

using qtl::ops::plan_broadcast;

// Input index of output multi-index `index` (right-aligned), computed from
// scratch: a dim of extent 1 in the input contributes nothing.
std::size_t input_index(const qtl::shape& input, const std::vector<std::size_t>& index) {
    std::size_t offset = 0, stride = 1;
    for (std::size_t i = 0; i < input.size(); ++i) {
        const std::size_t dim = input.size() - 1 - i;
        const std::size_t out_dim = index.size() - 1 - i;
        const auto extent = static_cast<std::size_t>(input[dim]);
        if (extent != 1) offset += index[out_dim] * stride;
        stride *= extent;
    }
    return offset;
}

struct triple {
    std::size_t output, input1, input2;
    bool operator==(const triple&) const = default;
};

// The expected walk: every output element in row-major order with its input indices.
std::vector<triple> expected_walk(const qtl::shape& a, const qtl::shape& b, const qtl::shape& out) {
    std::size_t total = 1;
    for (auto d : out) total *= static_cast<std::size_t>(d);
    std::vector<triple> walk;
    std::vector<std::size_t> index(out.size(), 0);
    for (std::size_t o = 0; o < total; ++o) {
        walk.push_back({o, input_index(a, index), input_index(b, index)});
        for (std::size_t d = out.size(); d-- > 0;) {
            if (++index[d] < static_cast<std::size_t>(out[d])) break;
            index[d] = 0;
        }
    }
    return walk;
}

std::vector<triple> index_walk(const qtl::ops::broadcast_plan& plan) {
    std::vector<triple> walk;
    qtl::ops::for_each_broadcast_index(plan, [&](std::size_t o, std::size_t i1, std::size_t i2) {
        walk.push_back({o, i1, i2});
    });
    return walk;
}

std::vector<triple> run_walk(const qtl::ops::broadcast_plan& plan) {
    std::vector<triple> walk;
    qtl::ops::for_each_broadcast_run(plan, [&](const qtl::ops::broadcast_run& run) {
        CHECK(run.length > 0);
        for (std::size_t j = 0; j < run.length; ++j)
            walk.push_back({run.output + j, run.input1 + j * run.step1, run.input2 + j * run.step2});
    });
    return walk;
}

}  // namespace

TEST_CASE("broadcast: output shapes by NumPy's rule") {
    // Aligned at the last dim, missing dims are 1, a 1 takes the other extent.
    CHECK(qtl::ops::broadcast_shape({2, 3}, {3}, "t") == qtl::shape{2, 3});
    CHECK(qtl::ops::broadcast_shape({3}, {2, 3}, "t") == qtl::shape{2, 3});
    CHECK(qtl::ops::broadcast_shape({4, 1, 3}, {2, 1}, "t") == qtl::shape{4, 2, 3});
    CHECK(qtl::ops::broadcast_shape({}, {2, 2}, "t") == qtl::shape{2, 2});
    CHECK(qtl::ops::broadcast_shape({}, {}, "t") == qtl::shape{});
    CHECK(qtl::ops::broadcast_shape({1}, {5}, "t") == qtl::shape{5});
    CHECK(qtl::ops::broadcast_shape({1, 2, 1, 4, 1, 6}, {3, 1, 5, 1}, "t") == qtl::shape{1, 2, 3, 4, 5, 6});
    // Zero-size dims: 0 against 1 gives 0 (NumPy), 0 against 0 gives 0.
    CHECK(qtl::ops::broadcast_shape({0, 3}, {3}, "t") == qtl::shape{0, 3});
    CHECK(qtl::ops::broadcast_shape({1}, {0}, "t") == qtl::shape{0});
    CHECK(qtl::ops::broadcast_shape({0}, {0}, "t") == qtl::shape{0});
}

TEST_CASE("broadcast: plans of the common cases") {
    // Equal shapes: element-wise, one run over everything.
    const auto same = plan_broadcast({2, 3, 4}, {2, 3, 4}, "t");
    CHECK(same.is_elementwise());
    CHECK(same.merged_rank == 1);
    CHECK(same.merged_dims[0] == 24);
    std::size_t runs = 0;
    qtl::ops::for_each_broadcast_run(same, [&](const qtl::ops::broadcast_run& run) {
        ++runs;
        CHECK(run.length == 24);
        CHECK(run.step1 == 1);
        CHECK(run.step2 == 1);
    });
    CHECK(runs == 1);
    // A scalar operand: one run with step 0.
    const auto scalar = plan_broadcast({5, 7}, {1}, "t");
    CHECK_FALSE(scalar.is_elementwise());
    runs = 0;
    qtl::ops::for_each_broadcast_run(scalar, [&](const qtl::ops::broadcast_run& run) {
        ++runs;
        CHECK(run.length == 35);
        CHECK(run.step1 == 1);
        CHECK(run.step2 == 0);
    });
    CHECK(runs == 1);
    // A row: [4, 6] with [6]: 4 runs of 6, input 2 restarting at 0 each time.
    const auto row = plan_broadcast({4, 6}, {6}, "t");
    std::vector<std::size_t> starts;
    qtl::ops::for_each_broadcast_run(row, [&](const qtl::ops::broadcast_run& run) {
        CHECK(run.length == 6);
        CHECK(run.step2 == 1);
        CHECK(run.input2 == 0);
        starts.push_back(run.input1);
    });
    CHECK(starts == std::vector<std::size_t>{0, 6, 12, 18});
    // Strides of [4, 1, 3] against [2, 1]: input 1 strides (3, 0, 1), input 2 (0, 1, 0)
    // in the last three of the six right-aligned dims.
    const auto plan = plan_broadcast({4, 1, 3}, {2, 1}, "t");
    CHECK(plan.output_shape == qtl::shape{4, 2, 3});
    CHECK(plan.strides1[3] == 3);
    CHECK(plan.strides1[4] == 0);
    CHECK(plan.strides1[5] == 1);
    CHECK(plan.strides2[3] == 0);
    CHECK(plan.strides2[4] == 1);
    CHECK(plan.strides2[5] == 0);
    // An empty output has no runs and no indices.
    const auto empty = plan_broadcast({0, 3}, {3}, "t");
    CHECK(empty.output_size == 0);
    CHECK(run_walk(empty).empty());
    CHECK(index_walk(empty).empty());
}

TEST_CASE("broadcast: both walks visit every output element with the right input indices") {
    const std::vector<std::pair<qtl::shape, qtl::shape>> hand = {
        {{2, 3}, {3}},       {{3}, {2, 3}},          {{4, 1, 3}, {2, 1}},        {{}, {2, 2}},
        {{}, {}},            {{2, 1}, {1, 3}},       {{1, 5, 1}, {3, 1, 4}},     {{7}, {7}},
        {{1, 1, 1}, {1}},    {{2, 1, 2, 1, 2, 1}, {1, 2, 1, 2, 1, 2}}, {{3, 4, 5}, {3, 1, 5}}};
    for (const auto& shapes : hand) {
        const qtl::shape& a = shapes.first;
        const qtl::shape& b = shapes.second;
        const auto plan = plan_broadcast(a, b, "t");
        INFO(qtl::to_string(a) << " with " << qtl::to_string(b));
        const auto expected = expected_walk(a, b, plan.output_shape);
        CHECK(index_walk(plan) == expected);
        CHECK(run_walk(plan) == expected);
    }
    // Random shapes up to rank 6: each dim of the output is 1..3, each input
    // keeps it or has 1 there, and may drop leading dims.
    std::mt19937 rng(3);
    for (int trial = 0; trial < 300; ++trial) {
        const std::size_t rank = rng() % 7;
        qtl::shape out(rank), a, b;
        for (auto& d : out) d = static_cast<std::int32_t>(1 + rng() % 3);
        const std::size_t rank_a = rng() % (rank + 1), rank_b = rng() % (rank + 1);
        for (std::size_t i = rank - rank_a; i < rank; ++i) a.push_back(rng() % 3 == 0 ? 1 : out[i]);
        for (std::size_t i = rank - rank_b; i < rank; ++i) b.push_back(rng() % 3 == 0 ? 1 : out[i]);
        const auto plan = plan_broadcast(a, b, "t");
        INFO(qtl::to_string(a) << " with " << qtl::to_string(b));
        const auto expected = expected_walk(a, b, plan.output_shape);
        CHECK(index_walk(plan) == expected);
        CHECK(run_walk(plan) == expected);
    }
}

TEST_CASE("broadcast: widening a run operand") {
    const std::int8_t values[] = {-128, 5, 127};
    std::int32_t buffer[8];
    qtl::ops::widen_run_operand(values, 1, 3, 8, buffer);
    CHECK(std::vector<std::int32_t>(buffer, buffer + 8) == std::vector<std::int32_t>{-128, 5, 127, 0, 0, 0, 0, 0});
    qtl::ops::widen_run_operand(values + 1, 0, 3, 4, buffer);
    CHECK(std::vector<std::int32_t>(buffer, buffer + 4) == std::vector<std::int32_t>{5, 5, 5, 0});
}

TEST_CASE("broadcast: errors name the op and the shapes") {
    CHECK_THROWS_WITH_AS(plan_broadcast({2, 3}, {4}, "MUL"),
                         "MUL: shapes [2, 3] and [4] cannot be broadcast: dimension 1 of the output would need 3 and 4",
                         qtl::error);
    CHECK_THROWS_WITH_AS(plan_broadcast({2, 3, 4}, {5, 1, 1}, "ADD"),
                         "ADD: shapes [2, 3, 4] and [5, 1, 1] cannot be broadcast: dimension 0 of the output would "
                         "need 2 and 5",
                         qtl::error);
    CHECK_THROWS_WITH_AS(plan_broadcast({1, 1, 1, 1, 1, 1, 2}, {2}, "SUB"),
                         "SUB: input 1 has rank 7 (shape [1, 1, 1, 1, 1, 1, 2]), at most 6 is supported", qtl::error);
    CHECK_THROWS_WITH_AS(plan_broadcast({2}, {1, 1, 1, 1, 1, 1, 1}, "SUB"),
                         "SUB: input 2 has rank 7 (shape [1, 1, 1, 1, 1, 1, 1]), at most 6 is supported", qtl::error);
    CHECK_THROWS_AS(plan_broadcast({-1}, {1}, "ADD"), qtl::error);
    const auto plan = plan_broadcast({2, 3}, {3}, "ADD");
    CHECK_NOTHROW(qtl::ops::check_broadcast_views(plan, {2, 3}, {3}, {2, 3}, "ADD"));
    CHECK_THROWS_WITH_AS(qtl::ops::check_broadcast_views(plan, {2, 3}, {1, 3}, {2, 3}, "ADD"),
                         "ADD: input 2 has shape [1, 3] but the op was prepared for [3]", qtl::error);
    CHECK_THROWS_WITH_AS(qtl::ops::check_broadcast_views(plan, {2, 3}, {3}, {6}, "ADD"),
                         "ADD: output has shape [6], expected [2, 3]", qtl::error);
}
