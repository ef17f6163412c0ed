#pragma once
// shape: tensor dimensions, row-major (TFLite's NHWC for images), and the
// checked arithmetic on them.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <ostream>
#include <string>
#include <vector>

#include "qtl/core/error.hpp"

namespace qtl {

using shape = std::vector<std::int32_t>;

// A shape as text, "[1, 224, 224, 3]", formatted only when streamed: among
// check's message arguments (evaluated on every call, and an op checks its
// shapes each time it runs) it makes no string unless the check fails.
struct shape_text {
    explicit shape_text(const shape& s) noexcept : dims(s) {}
    const shape& dims;
};

inline std::ostream& operator<<(std::ostream& out, const shape_text& s) {
    out << '[';
    for (std::size_t i = 0; i < s.dims.size(); ++i) out << (i ? ", " : "") << s.dims[i];
    return out << ']';
}

inline std::string to_string(const shape& s) { return detail::concat(shape_text(s)); }

// Number of elements; throws qtl::error on a negative dimension or when the
// count does not fit in memory-sized arithmetic (absurd shapes from a file).
inline std::size_t num_elements(const shape& s, const std::string& where = "shape") {
    std::size_t n = 1;
    for (std::size_t i = 0; i < s.size(); ++i) {
        check(s[i] >= 0, where, "dimension ", i, " of ", shape_text(s), " is negative");
        const auto d = static_cast<std::size_t>(s[i]);
        check(d == 0 || n <= (std::size_t{1} << 40) / d, where, "shape ", shape_text(s),
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
