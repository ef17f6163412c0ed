#pragma once
// Runs an int32-lane batch function over an int16 array: the inputs are
// widened a chunk at a time and every result is narrowed back with
// store_lanes (the tail goes through the same batch code).  Shared by the
// int16 LOGISTIC and TANH kernels.

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include <xsimd/xsimd.hpp>

#include "qtl/fixedpoint/requantize_batch.hpp"

namespace qtl::ops::detail {

template <class A, class F>
void map_int16_lanes(const std::int16_t* in, std::size_t n, std::int16_t* out, F&& f) {
    using batch = xsimd::batch<std::int32_t, A>;
    constexpr std::size_t lanes = batch::size;
    constexpr std::size_t chunk = 512;
    alignas(64) std::int32_t wide[chunk];
    alignas(A::alignment()) std::int32_t tail[lanes];
    for (std::size_t i = 0; i < n; i += chunk) {
        const std::size_t m = std::min(chunk, n - i);
        for (std::size_t j = 0; j < m; ++j) wide[j] = in[i + j];
        for (std::size_t j = 0; j < m; j += lanes) {
            const std::size_t count = std::min(lanes, m - j);
            const batch q = qtl::detail::fixedpoint::load_lanes<A>(wide + j, count, tail);
            qtl::detail::fixedpoint::store_lanes(f(q), out + i + j, count);
        }
    }
}

}  // namespace qtl::ops::detail
