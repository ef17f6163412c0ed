#pragma once
// value_range: the [min, max] of real values a tensor (or one channel) takes,
// as observers report it and as choose_params consumes it.

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "qtl/core/error.hpp"

namespace qtl {

struct value_range {
    float min = std::numeric_limits<float>::infinity();   // empty range: +inf
    float max = -std::numeric_limits<float>::infinity();  // empty range: -inf

    bool empty() const noexcept { return !(min <= max); }

    // Grows the range to include v (NaN is the caller's job to reject).
    void include(float v) noexcept {
        min = std::min(min, v);
        max = std::max(max, v);
    }
    void include(const value_range& other) noexcept {
        min = std::min(min, other.min);
        max = std::max(max, other.max);
    }

    friend bool operator==(const value_range&, const value_range&) = default;
};

// Throws qtl::error unless r is non-empty with finite ends.
inline void check_finite_range(const value_range& r, const std::string& where) {
    check(!r.empty(), where, "empty range: nothing was observed");
    check(std::isfinite(r.min) && std::isfinite(r.max), where, "range must be finite, got [",
          r.min, ", ", r.max, "]");
}

}  // namespace qtl
