#pragma once
// Min/max observers: the running minimum and maximum of everything seen
// (TFLite converter's default for activations, and the rule for weights).
// Exact, order independent, and merging is exact.

#include <cstddef>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "qtl/quant/observers/observer.hpp"

namespace qtl {

class minmax_observer {
public:
    explicit minmax_observer(std::string name = "minmax_observer") : name_(std::move(name)) {}

    void observe(std::span<const float> values) {
        range_.include(detail::finite_batch_range(values, name_));
        count_ += values.size();
    }
    void observe(tensor_view<const float> x) { observe(std::span<const float>(x.data)); }

    void merge(const minmax_observer& other) {
        range_.include(other.range_);
        count_ += other.count_;
    }

    value_range range() const {
        check(count_ > 0, name_, "no values observed (empty calibration dataset?)");
        return range_;
    }
    std::size_t count() const noexcept { return count_; }
    const std::string& name() const noexcept { return name_; }

private:
    std::string name_;
    value_range range_;
    std::size_t count_ = 0;
};

// One [min, max] per index along `axis` (e.g. per output channel of weights).
class per_channel_minmax_observer {
public:
    explicit per_channel_minmax_observer(int axis, std::string name = "per_channel_minmax_observer")
        : name_(std::move(name)), axis_(axis) {}

    void observe(tensor_view<const float> x) {
        auto batch = detail::finite_channel_ranges(x, axis_, name_);
        detail::check_channel_count(ranges_.size(), batch.size(), name_);
        if (x.size() == 0) return;
        if (ranges_.empty()) ranges_.resize(batch.size());
        for (std::size_t c = 0; c < batch.size(); ++c) ranges_[c].include(batch[c]);
        count_ += x.size();
    }

    void merge(const per_channel_minmax_observer& other) {
        check(other.axis_ == axis_, name_, "cannot merge observers of axis ", axis_, " and ", other.axis_);
        if (other.count_ == 0) return;
        detail::check_channel_count(ranges_.size(), other.ranges_.size(), name_);
        if (ranges_.empty()) ranges_.resize(other.ranges_.size());
        for (std::size_t c = 0; c < ranges_.size(); ++c) ranges_[c].include(other.ranges_[c]);
        count_ += other.count_;
    }

    std::vector<value_range> ranges() const {
        check(count_ > 0, name_, "no values observed (empty calibration dataset?)");
        return ranges_;
    }
    int axis() const noexcept { return axis_; }
    std::size_t count() const noexcept { return count_; }

private:
    std::string name_;
    int axis_;
    std::vector<value_range> ranges_;
    std::size_t count_ = 0;
};

}  // namespace qtl
