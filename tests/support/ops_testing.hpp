#pragma once
// Test helpers several tests/ops files share: the xsimd instruction sets the
// build can run, random integer inputs and scales, every value of a type,
// and the rank-1 shape of n elements.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <tuple>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "qtl/core/shape.hpp"
#include "qtl/ops/padding.hpp"

namespace qtl::test {

// The architectures a SIMD == reference property test runs on: the default
// one plus every instruction set this build was compiled for.
using tested_archs = std::tuple<xsimd::default_arch
#if XSIMD_WITH_SSE2
                                ,
                                xsimd::sse2
#endif
#if XSIMD_WITH_SSE4_1
                                ,
                                xsimd::sse4_1
#endif
#if XSIMD_WITH_AVX2
                                ,
                                xsimd::avx2
#endif
#if XSIMD_WITH_AVX512F
                                ,
                                xsimd::avx512f
#endif
                                >;

// n values uniform over T's whole range.
template <class T>
std::vector<T> random_values(std::mt19937& rng, std::size_t n) {
    std::uniform_int_distribution<int> dist(std::numeric_limits<T>::min(), std::numeric_limits<T>::max());
    std::vector<T> v(n);
    for (auto& x : v) x = static_cast<T>(dist(rng));
    return v;
}

// n values, mostly uniform over T's range, one in 8 (on average) T's min or
// max, so that saturation paths are hit often.
template <class T>
std::vector<T> random_values_with_extremes(std::mt19937& rng, std::size_t n) {
    const std::int32_t lo = std::numeric_limits<T>::min(), hi = std::numeric_limits<T>::max();
    std::vector<T> v(n);
    for (auto& x : v)
        x = rng() % 8 == 0 ? static_cast<T>(rng() % 2 ? lo : hi)
                           : static_cast<T>(std::uniform_int_distribution<std::int32_t>(lo, hi)(rng));
    return v;
}

// A scale log-uniform in [lo, hi].
inline float random_scale(std::mt19937& rng, float lo, float hi) {
    return std::exp(std::uniform_real_distribution<float>(std::log(lo), std::log(hi))(rng));
}

// Every value of T, ascending.
template <class T>
std::vector<T> all_values() {
    std::vector<T> v;
    for (std::int32_t q = std::numeric_limits<T>::min(); q <= std::numeric_limits<T>::max(); ++q)
        v.push_back(static_cast<T>(q));
    return v;
}

// The rank-1 shape of n elements.
inline qtl::shape flat(std::size_t n) { return {static_cast<std::int32_t>(n)}; }

// An NHWC tensor padded by hand (what TFLite's PAD does): `value` in the new
// rows and columns; `padded` gets the new shape.
template <class T>
std::vector<T> pad_nhwc(const std::vector<T>& in, const qtl::shape& s, const qtl::ops::input_padding& pad, T value,
                        qtl::shape& padded) {
    const std::int32_t h = s[1] + pad.top + pad.bottom, w = s[2] + pad.left + pad.right;
    padded = {s[0], h, w, s[3]};
    std::vector<T> out(qtl::num_elements(padded), value);
    for (std::int32_t n = 0; n < s[0]; ++n)
        for (std::int32_t y = 0; y < s[1]; ++y)
            for (std::int32_t x = 0; x < s[2]; ++x)
                for (std::int32_t c = 0; c < s[3]; ++c)
                    out[((std::size_t(n) * h + std::size_t(y + pad.top)) * w + std::size_t(x + pad.left)) * s[3] + c] =
                        in[((std::size_t(n) * s[1] + y) * s[2] + x) * s[3] + c];
    return out;
}

}  // namespace qtl::test
