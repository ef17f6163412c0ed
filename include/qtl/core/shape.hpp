#pragma once
// shape: tensor dimensions, row-major (TFLite's NHWC for images), and the
// checked arithmetic on them.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "qtl/core/error.hpp"

namespace qtl {

using shape = std::vector<std::int32_t>;

inline std::string to_string(const shape& s) {
    std::string out = "[";
    for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
    return out + "]";
}

// Number of elements; throws qtl::error on a negative dimension or when the
// count does not fit in memory-sized arithmetic (absurd shapes from a file).
inline std::size_t num_elements(const shape& s, const std::string& where = "shape") {
    std::size_t n = 1;
    for (std::size_t i = 0; i < s.size(); ++i) {
        check(s[i] >= 0, where, "dimension ", i, " of ", to_string(s), " is negative");
        const auto d = static_cast<std::size_t>(s[i]);
        check(d == 0 || n <= (std::size_t{1} << 40) / d, where, "shape ", to_string(s),
              " has more than 2^40 elements");
        n *= d;
    }
    return n;
}

// Normalizes a possibly negative axis (-1 = last) against `rank`.
inline int normalize_axis(int axis, std::size_t rank, const std::string& where) {
    const int r = static_cast<int>(rank);
    check(axis >= -r && axis < r, where, "axis ", axis, " is out of range for rank ", rank);
    return axis < 0 ? axis + r : axis;
}

}  // namespace qtl
