#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "qtl/detail/simd_select.hpp"

// qtl::detail::simd_select on the build's default xsimd arch (AVX-512BW in a
// -march=native build on such a CPU, where it uses its own blends), for every
// integer width and float, against a plain loop.  This file also proves the
// select compiles at -O0 (CI's sanitizer build), which xsimd 8.1's own
// AVX-512BW select does not with GCC 12.

namespace {

template <class T>
void check_select(std::mt19937& rng) {
    using batch = xsimd::batch<T>;
    constexpr std::size_t n = batch::size;
    std::vector<T> a(n), b(n), limit(n), expected(n), got(n);
    std::uniform_int_distribution<int> values(-100, 100);
    for (int round = 0; round < 20; ++round) {
        for (std::size_t i = 0; i < n; ++i) {
            a[i] = static_cast<T>(values(rng));
            b[i] = static_cast<T>(values(rng));
            limit[i] = static_cast<T>(values(rng));
            expected[i] = a[i] > limit[i] ? a[i] : b[i];  // the select, lane by lane
        }
        const batch va = batch::load_unaligned(a.data()), vb = batch::load_unaligned(b.data());
        qtl::detail::simd_select(va > batch::load_unaligned(limit.data()), va, vb).store_unaligned(got.data());
        CHECK(got == expected);
    }
}

}  // namespace

TEST_CASE_TEMPLATE("simd_select: lanes where the condition holds come from the first batch", T, std::int8_t,
                   std::uint8_t, std::int16_t, std::uint16_t, std::int32_t, std::uint32_t, std::int64_t, float) {
    std::mt19937 rng(7);
    CAPTURE(xsimd::default_arch::name());
    check_select<T>(rng);
}
