#pragma once
// histogram_observer: streams calibration values into a bounded histogram
// and picks the range with a selection rule chosen at construction:
//
//   qtl::histogram_observer obs(qtl::range_selection::percentile(99.99));
//   qtl::histogram_observer kl(qtl::range_selection::entropy());
//   qtl::histogram_observer mse(qtl::range_selection::mse());
//
// Per tensor only: per-channel ranges are for weights, whose exact min/max
// is known (per_channel_minmax_observer).

#include <cstddef>
#include <span>
#include <string>
#include <utility>

#include "qtl/quant/observers/histogram.hpp"
#include "qtl/quant/observers/observer.hpp"
#include "qtl/quant/observers/range_selection.hpp"

namespace qtl {

struct range_selection {
    enum class method { minmax, percentile, entropy, mse };
    method how = method::percentile;
    double lower_percent = 0.01;  // percentile only
    double upper_percent = 99.99;
    int quant_levels = 256;       // entropy and mse: levels of the target type

    static range_selection minmax() { return {method::minmax, 0, 100, 256}; }
    // Symmetric tails by default: percentile(99.9) clips 0.1% on each side.
    static range_selection percentile(double upper, double lower = -1) {
        return {method::percentile, lower < 0 ? 100 - upper : lower, upper, 256};
    }
    static range_selection entropy(int quant_levels = 256) { return {method::entropy, 0, 100, quant_levels}; }
    static range_selection mse(int quant_levels = 256) { return {method::mse, 0, 100, quant_levels}; }
};

class histogram_observer {
public:
    explicit histogram_observer(range_selection selection = range_selection::percentile(99.99),
                                std::size_t bins = 2048, std::string name = "histogram_observer")
        : name_(std::move(name)), selection_(selection), histogram_(bins) {}

    void observe(std::span<const float> values) {
        detail::finite_batch_range(values, name_);  // rejects NaN/inf before anything is counted
        histogram_.add(values);
    }
    void observe(tensor_view<const float> x) { observe(std::span<const float>(x.data)); }
    void merge(const histogram_observer& other) { histogram_.merge(other.histogram_); }

    value_range range() const {
        check(!histogram_.empty(), name_, "no values observed (empty calibration dataset?)");
        switch (selection_.how) {
            case range_selection::method::minmax: return histogram_.observed();
            case range_selection::method::percentile:
                return percentile_range(histogram_, selection_.lower_percent, selection_.upper_percent);
            case range_selection::method::entropy: return entropy_range(histogram_, selection_.quant_levels);
            case range_selection::method::mse: return mse_range(histogram_, selection_.quant_levels);
        }
        throw error(name_, "unknown range selection method");
    }

    const qtl::histogram& histogram() const noexcept { return histogram_; }
    const range_selection& selection() const noexcept { return selection_; }

private:
    std::string name_;
    range_selection selection_;
    qtl::histogram histogram_;
};

}  // namespace qtl
