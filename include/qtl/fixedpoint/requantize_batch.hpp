#pragma once
// SIMD versions of the requantize stage (see requantize.hpp):
//
//   out[i] = clamp(multiply_by_quantized_multiplier(acc[i], m, shift) + zp, act_min, act_max)
//
// requantize_n          one multiplier for all elements (per-tensor),
// requantize_channels_n element i uses multiplier i % channels (per-channel,
//                       channels innermost as in NHWC / [rows, out_features]).
//
// Both equal requantize_n_reference / requantize_channels_n_reference element
// for element, for every n (the tail that does not fill a batch is padded
// through the same SIMD code, not handed to a scalar loop), and they may run
// in place (out == acc when Out is int32).  The arch defaults to the best one
// the build targets; tests instantiate the others explicitly.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <type_traits>

#include <xsimd/xsimd.hpp>

#include "qtl/core/error.hpp"
#include "qtl/detail/gcc_bug_105593.hpp"
#include "qtl/fixedpoint/multiply_by_quantized_multiplier_batch.hpp"
#include "qtl/fixedpoint/requantize.hpp"

// See multiply_by_quantized_multiplier_batch.hpp: GCC 12 false positives in
// its AVX-512 intrinsics.
QTL_DETAIL_GCC_BUG_105593_BEGIN

namespace qtl {

template <class Out>
concept requantize_output = std::is_same_v<Out, std::int8_t> || std::is_same_v<Out, std::uint8_t> ||
                            std::is_same_v<Out, std::int16_t> || std::is_same_v<Out, std::int32_t>;

namespace detail::fixedpoint {

// Adds the zero point and clamps, in int32 lanes, giving exactly what the
// scalar stage gives with its int64 sum,
//     out = min(max(product + zp, act_min), act_max),
// as  out = min(max(product, act_min - zp), act_max - zp) + zp,
// which needs no wider type: the bounds are clipped to int32 (a bound beyond
// int32 never binds), and the sum then lies in [act_min, act_max].  When no
// product can reach the range at all (or the range is inverted) the output is
// one constant, encoded as bounds [0, 0] and that constant as the offset.
template <class A>
class requantize_clamp {
public:
    using batch = xsimd::batch<std::int32_t, A>;

    explicit requantize_clamp(const requantize_params& p) noexcept {
        constexpr std::int64_t int32_min = std::numeric_limits<std::int32_t>::min();
        constexpr std::int64_t int32_max = std::numeric_limits<std::int32_t>::max();
        const std::int64_t zero_point = p.output_zero_point, act_min = p.activation_min, act_max = p.activation_max;
        const std::int64_t low = act_min - zero_point, high = act_max - zero_point;
        std::int64_t product_min = 0, product_max = 0, offset = 0;
        if (act_min <= act_max && low <= int32_max && high >= int32_min) {
            product_min = std::max(low, int32_min);
            product_max = std::min(high, int32_max);
            offset = zero_point;
        } else {
            // Inverted range: max then min gives act_max.  Every sum below
            // act_min: act_min.  Every sum above act_max: act_max.
            offset = act_min > act_max ? act_max : (low > int32_max ? act_min : act_max);
        }
        product_min_ = batch(static_cast<std::int32_t>(product_min));
        product_max_ = batch(static_cast<std::int32_t>(product_max));
        offset_ = batch(static_cast<std::int32_t>(offset));
    }

    batch operator()(batch product) const noexcept {
        return xsimd::min(xsimd::max(product, product_min_), product_max_) + offset_;
    }

private:
    batch product_min_, product_max_, offset_;
};

// Loads `count` (1..lanes) int32 values; a short count goes through `buffer`
// (lanes aligned int32) with zeros in the missing lanes.
template <class A>
xsimd::batch<std::int32_t, A> load_lanes(const std::int32_t* src, std::size_t count, std::int32_t* buffer) noexcept {
    using batch = xsimd::batch<std::int32_t, A>;
    if (count == batch::size) return batch::load_unaligned(src);
    std::fill(buffer, buffer + batch::size, 0);
    std::copy(src, src + count, buffer);
    return batch::load_aligned(buffer);
}

// Stores the first `count` lanes of v as Out (static_cast, like the scalar stage).
template <class Out, class A>
void store_lanes(xsimd::batch<std::int32_t, A> v, Out* out, std::size_t count) noexcept {
    constexpr std::size_t lanes = xsimd::batch<std::int32_t, A>::size;
    if constexpr (std::is_same_v<Out, std::int32_t>) {
        if (count == lanes) return v.store_unaligned(out);
    }
    alignas(A::alignment()) std::int32_t values[lanes];
    v.store_aligned(values);
    if (count == lanes) {  // a fixed trip count the compiler turns into a vector narrowing
        for (std::size_t j = 0; j < lanes; ++j) out[j] = static_cast<Out>(values[j]);
    } else {
        for (std::size_t j = 0; j < count; ++j) out[j] = static_cast<Out>(values[j]);
    }
}

}  // namespace detail::fixedpoint

// out[i] = requantize<Out, Policy>(acc[i], qm, p) for i < n.
template <class Out, rounding_policy Policy = double_rounding, class A = xsimd::default_arch>
    requires requantize_output<Out>
void requantize_n(const std::int32_t* acc, std::size_t n, quantized_multiplier qm, const requantize_params& p,
                  Out* out) noexcept {
    using namespace detail::fixedpoint;
    using batch = xsimd::batch<std::int32_t, A>;
    constexpr std::size_t lanes = batch::size;
    const requantize_clamp<A> clamp(p);
    alignas(A::alignment()) std::int32_t tail[lanes];
    // One loop for whole batches and the tail, so the stage is inlined once.
    for (std::size_t i = 0; i < n; i += lanes) {
        const std::size_t count = std::min(lanes, n - i);
        const batch x = load_lanes<A>(acc + i, count, tail);
        store_lanes(clamp(multiply_by_quantized_multiplier<Policy>(x, qm)), out + i, count);
    }
}

// Per channel: out[i] = requantize<Out, Policy>(acc[i], {multipliers[c], shifts[c]}, p)
// with c = i % channels.  Throws qtl::error when channels == 0 and n > 0.
template <class Out, rounding_policy Policy = double_rounding, class A = xsimd::default_arch>
    requires requantize_output<Out>
void requantize_channels_n(const std::int32_t* acc, std::size_t n, const std::int32_t* multipliers,
                           const std::int32_t* shifts, std::size_t channels, const requantize_params& p, Out* out) {
    using namespace detail::fixedpoint;
    using batch = xsimd::batch<std::int32_t, A>;
    constexpr std::size_t lanes = batch::size;
    if (n > 0 && channels == 0)  // tested before building any message: this runs once per row
        throw error("requantize_channels_n", detail::concat("channels must be > 0, got 0 for ", n, " elements"));
    if (n == 0) return;
    const requantize_clamp<A> clamp(p);

    // The multipliers repeat every lcm(channels, lanes) elements.  When rows
    // do not fill whole batches and that period is short (few channels, or a
    // channel count sharing factors with the lane count), lay one period out
    // once so that every batch loads its multipliers contiguously.
    const bool rows_fill_batches = channels % lanes == 0;
    const std::size_t period = rows_fill_batches ? channels : std::lcm(channels, lanes);
    const bool use_pattern = !rows_fill_batches && period <= lanes * lanes && n >= 2 * period;
    alignas(A::alignment()) std::int32_t m_pattern[lanes * lanes];
    alignas(A::alignment()) std::int32_t s_pattern[lanes * lanes];
    if (use_pattern) {
        for (std::size_t j = 0; j < period; ++j) {
            m_pattern[j] = multipliers[j % channels];
            s_pattern[j] = shifts[j % channels];
        }
    }
    // Otherwise rows of `channels` load contiguously, except a batch that
    // straddles the end of a row, which gathers its multipliers here.
    alignas(A::alignment()) std::int32_t m_wrapped[lanes];
    alignas(A::alignment()) std::int32_t s_wrapped[lanes];
    alignas(A::alignment()) std::int32_t tail[lanes];

    std::size_t c = 0;       // channel of element i (row layout)
    std::size_t offset = 0;  // i % period (pattern layout), a multiple of lanes
    for (std::size_t i = 0; i < n; i += lanes) {
        const std::size_t count = std::min(lanes, n - i);
        const batch x = load_lanes<A>(acc + i, count, tail);
        const std::int32_t* m = multipliers + c;
        const std::int32_t* s = shifts + c;
        if (use_pattern) {
            m = m_pattern + offset;
            s = s_pattern + offset;
            offset += lanes;
            if (offset == period) offset = 0;
        } else {
            if (c + lanes > channels) {  // lanes past n get real (valid) multipliers too; their results are dropped
                for (std::size_t j = 0, cj = c; j < lanes; ++j) {
                    m_wrapped[j] = multipliers[cj];
                    s_wrapped[j] = shifts[cj];
                    if (++cj == channels) cj = 0;
                }
                m = m_wrapped;
                s = s_wrapped;
            }
            c += lanes;
            while (c >= channels) c -= channels;  // no division per batch
        }
        store_lanes(
            clamp(multiply_by_quantized_multiplier<Policy>(x, batch::load_unaligned(m), batch::load_unaligned(s))), out + i,
            count);
    }
}

}  // namespace qtl

QTL_DETAIL_GCC_BUG_105593_END
