#pragma once
// Moving-average min/max observers (TensorFlow QAT's and PyTorch's
// MovingAverageMinMaxObserver): each batch's min and max pull the running
// estimate by a fraction c,
//     min <- min + c * (batch_min - min),   the first batch sets it.
// Less sensitive than min/max to a single outlier batch; depends on batch
// order.  merge() is a batch-count-weighted average of the two estimates:
// exact for the per-batch mean when c = 1/n, an approximation otherwise
// (a moving average has no exact merge).

#include <cstddef>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "qtl/quant/observers/observer.hpp"

namespace qtl {

namespace detail {

inline float check_averaging_constant(float c, const std::string& where) {
    check(c > 0.0f && c <= 1.0f, where, "averaging constant must be in (0, 1], got ", c);
    return c;
}

// One moving-average range and the number of batches behind it.
struct moving_range {
    value_range range;
    std::size_t batches = 0;

    void update(const value_range& batch, float c) {
        if (batch.empty()) return;
        if (batches == 0) {
            range = batch;
        } else {
            range.min += c * (batch.min - range.min);
            range.max += c * (batch.max - range.max);
        }
        ++batches;
    }
    void merge(const moving_range& other) {
        if (other.batches == 0) return;
        if (batches == 0) {
            *this = other;
            return;
        }
        const double total = static_cast<double>(batches + other.batches);
        const double w = static_cast<double>(other.batches) / total;
        range.min = static_cast<float>(range.min + w * (other.range.min - range.min));
        range.max = static_cast<float>(range.max + w * (other.range.max - range.max));
        batches += other.batches;
    }
};

}  // namespace detail

class moving_average_minmax_observer {
public:
    explicit moving_average_minmax_observer(float averaging_constant = 0.01f,
                                            std::string name = "moving_average_minmax_observer")
        : name_(std::move(name)), c_(detail::check_averaging_constant(averaging_constant, name_)) {}

    void observe(std::span<const float> values) { state_.update(detail::finite_batch_range(values, name_), c_); }
    void observe(tensor_view<const float> x) { observe(std::span<const float>(x.data)); }
    void merge(const moving_average_minmax_observer& other) { state_.merge(other.state_); }

    value_range range() const {
        check(state_.batches > 0, name_, "no values observed (empty calibration dataset?)");
        return state_.range;
    }
    std::size_t batches() const noexcept { return state_.batches; }
    float averaging_constant() const noexcept { return c_; }

private:
    std::string name_;
    float c_;
    detail::moving_range state_;
};

class per_channel_moving_average_minmax_observer {
public:
    explicit per_channel_moving_average_minmax_observer(int axis, float averaging_constant = 0.01f,
                                                        std::string name = "per_channel_moving_average_minmax_observer")
        : name_(std::move(name)), axis_(axis), c_(detail::check_averaging_constant(averaging_constant, name_)) {}

    void observe(tensor_view<const float> x) {
        const auto batch = detail::finite_channel_ranges(x, axis_, name_);
        detail::check_channel_count(channels_.size(), batch.size(), name_);
        if (x.size() == 0) return;
        if (channels_.empty()) channels_.resize(batch.size());
        for (std::size_t c = 0; c < batch.size(); ++c) channels_[c].update(batch[c], c_);
    }

    void merge(const per_channel_moving_average_minmax_observer& other) {
        check(other.axis_ == axis_, name_, "cannot merge observers of axis ", axis_, " and ", other.axis_);
        if (other.channels_.empty()) return;
        detail::check_channel_count(channels_.size(), other.channels_.size(), name_);
        if (channels_.empty()) channels_.resize(other.channels_.size());
        for (std::size_t c = 0; c < channels_.size(); ++c) channels_[c].merge(other.channels_[c]);
    }

    std::vector<value_range> ranges() const {
        check(!channels_.empty(), name_, "no values observed (empty calibration dataset?)");
        std::vector<value_range> r;
        r.reserve(channels_.size());
        for (const auto& ch : channels_) r.push_back(ch.range);
        return r;
    }
    int axis() const noexcept { return axis_; }

private:
    std::string name_;
    int axis_;
    float c_;
    std::vector<detail::moving_range> channels_;
};

}  // namespace qtl
