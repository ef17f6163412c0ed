#pragma once
// histogram: a streaming histogram of float values with bounded memory, the
// statistics behind percentile, entropy (KL) and MSE range selection.
//
// Bins sit on a power-of-two grid: bin k covers [k * 2^e, (k + 1) * 2^e).
// When new values fall outside the bins held, the width doubles (2^e ->
// 2^(e+1)) until everything fits, and bin k becomes bin floor(k / 2): pairs
// of bins merge exactly, no count is smeared or interpolated.  For the same
// reason two histograms merge exactly (the finer one is coarsened to the
// coarser grid), so calibration can run on several threads.  The exact min
// and max are kept beside the bins.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "qtl/core/error.hpp"
#include "qtl/quant/value_range.hpp"

namespace qtl {

class histogram {
public:
    // bins: the most bins held at once (memory is bins * 8 bytes).
    explicit histogram(std::size_t bins = 2048) : counts_(bins, 0) {
        check(bins >= 16 && bins <= (std::size_t{1} << 24), "histogram", "bin count must be in [16, 2^24], got ", bins);
    }

    // Adds finite values (callers reject NaN/inf first: observers do).
    void add(std::span<const float> values) {
        value_range batch;
        for (float v : values) batch.include(v);
        if (batch.empty()) return;
        cover(batch, exponent_);
        const double inverse_width = std::ldexp(1.0, -exponent_);  // a power of two: the products are exact
        for (float v : values) ++counts_[static_cast<std::size_t>(bin_of(v, inverse_width) - first_)];
        total_ += values.size();
        observed_.include(batch);
    }

    // Adds the other histogram's counts (it may have a different grid).
    void merge(const histogram& other) {
        check(other.counts_.size() == counts_.size(), "histogram::merge", "bin counts differ: ", counts_.size(),
              " and ", other.counts_.size());
        if (other.empty()) return;
        if (empty()) {
            *this = other;
            return;
        }
        cover(other.observed_, std::max(exponent_, other.exponent_));
        const int shift = exponent_ - other.exponent_;
        for (std::size_t i = 0; i < other.counts_.size(); ++i) {
            if (other.counts_[i] == 0) continue;
            const std::int64_t k = floor_shift(other.first_ + static_cast<std::int64_t>(i), shift);
            counts_[static_cast<std::size_t>(k - first_)] += other.counts_[i];
        }
        total_ += other.total_;
        observed_.include(other.observed_);
    }

    bool empty() const noexcept { return total_ == 0; }
    std::uint64_t total() const noexcept { return total_; }
    std::size_t bin_count() const noexcept { return counts_.size(); }
    std::span<const std::uint64_t> counts() const noexcept { return counts_; }
    double bin_width() const noexcept { return std::ldexp(1.0, exponent_); }
    // Lower edge of bin i (of counts()); bin i covers [edge(i), edge(i + 1)).
    double edge(std::size_t i) const noexcept {
        return std::ldexp(static_cast<double>(first_ + static_cast<std::int64_t>(i)), exponent_);
    }
    // Grid index of counts()[0]: edge(i) = (first_bin() + i) * bin_width().
    std::int64_t first_bin() const noexcept { return first_; }
    // The exact smallest and largest value added.
    value_range observed() const noexcept { return observed_; }

private:
    // floor(k / 2^shift) for shift >= 0 (>> on a negative int64 floors).
    static std::int64_t floor_shift(std::int64_t k, int shift) noexcept {
        if (shift >= 63) return k < 0 ? -1 : 0;
        return k >> shift;
    }
    static std::int64_t bin_of(double v, double inverse_width) noexcept {
        return static_cast<std::int64_t>(std::floor(v * inverse_width));
    }

    // Chooses the finest grid (exponent >= min_exponent) on which the values
    // already held and `r` fit in counts_.size() bins, moves the counts there.
    void cover(const value_range& r, int min_exponent) {
        value_range need = r;
        if (!empty()) need.include(observed_);
        const double lo = need.min, hi = need.max;
        // Keep grid indices below 2^52 so that they are exact in a double.
        const double largest = std::max(std::abs(lo), std::abs(hi));
        int e = largest > 0 ? std::ilogb(largest) - 50 : -149;
        if (hi > lo) e = std::max(e, static_cast<int>(std::ceil(std::log2((hi - lo) / static_cast<double>(counts_.size())))));
        if (!empty()) e = std::max(e, min_exponent);
        const auto bins = static_cast<std::int64_t>(counts_.size());
        while (bin_of(hi, std::ldexp(1.0, -e)) - bin_of(lo, std::ldexp(1.0, -e)) + 1 > bins) ++e;
        const std::int64_t first = bin_of(lo, std::ldexp(1.0, -e));
        if (empty()) {
            exponent_ = e;
            first_ = first;
            return;
        }
        if (e == exponent_ && first_ <= first && bin_of(hi, std::ldexp(1.0, -e)) < first_ + bins) return;
        std::vector<std::uint64_t> moved(counts_.size(), 0);
        const int shift = e - exponent_;
        for (std::size_t i = 0; i < counts_.size(); ++i) {
            if (counts_[i] == 0) continue;
            const std::int64_t k = floor_shift(first_ + static_cast<std::int64_t>(i), shift);
            moved[static_cast<std::size_t>(k - first)] += counts_[i];
        }
        counts_.swap(moved);
        exponent_ = e;
        first_ = first;
    }

    std::vector<std::uint64_t> counts_;
    std::int64_t first_ = 0;  // grid index of counts_[0]
    int exponent_ = 0;        // bin width 2^exponent_
    std::uint64_t total_ = 0;
    value_range observed_;
};

}  // namespace qtl
