#pragma once
// Both x86 kernels of kernels/add_int8.hpp called directly (ops::eval takes
// the AVX-512 one where it runs), each against the op's reference over tail
// lengths and both forms of the output's product: shared by tests/ops/add.cpp
// and tests/ops/sub.cpp.

#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "qtl/kernels/add_int8.hpp"
#include "support/ops_testing.hpp"

namespace qtl::test {

#if QTL_KERNELS_X86_TARGETS
// make_params(rng, n): the op's random int8 params for inputs of shape {n};
// run_reference(prepared, a, b): the op's reference output.
template <bool Subtract, class MakeParams, class RunReference>
void check_add_int8_kernels(unsigned seed, const MakeParams& make_params, const RunReference& run_reference) {
    using namespace qtl::kernels;
    std::mt19937 rng(seed);
    int avx2_runs = 0, avx512_runs = 0, cases = 0;
    for (std::int32_t n : {1, 15, 16, 17, 63, 64, 65, 127, 128, 129, 1000})
        for (int trial = 0; trial < 4; ++trial, ++cases) {
            auto params = make_params(rng, n);
            // Trial 3: an output scale 48 times the inputs', an output shift below -23
            // (the output's product in the two_roundings form); else within [-23, -1].
            const bool coarse = trial == 3;
            if (coarse) params.output_scale = std::max(params.input1_scale, params.input2_scale) * 48.0f;
            const auto p = qtl::ops::prepare(params);
            const add_int8_constants& c = p.register_constants;
            CHECK(c.output_16.one_rounding == !coarse);
            const auto a = random_values<std::int8_t>(rng, std::size_t(n));
            const auto b = random_values<std::int8_t>(rng, std::size_t(n));
            const std::vector<std::int8_t> expected = run_reference(p, a, b);
            INFO("n " << n << ", trial " << trial);
            std::vector<std::int8_t> out(static_cast<std::size_t>(n));
            if (add_int8_runs_here(c)) {
                add_int8_avx2<Subtract>(c, a.data(), b.data(), std::size_t(n), out.data());
                CHECK(out == expected);
                ++avx2_runs;
            }
            if (add_int8_avx512_runs_here(c)) {
                std::fill(out.begin(), out.end(), std::int8_t{0x55});
                add_int8_avx512<Subtract>(c, a.data(), b.data(), std::size_t(n), out.data());
                CHECK(out == expected);
                ++avx512_runs;
            }
        }
    const cpu_features& f = host_cpu_features();
    CHECK(avx2_runs == (f.avx2 ? cases : 0));
    CHECK(avx512_runs == (f.avx2 && f.avx512f && f.avx512bw ? cases : 0));
}
#endif

}  // namespace qtl::test
