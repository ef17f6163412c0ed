#pragma once
// qtl::calibration: what calibrate() found, the input of convert(): for every
// calibrated tensor of a graph, the range to quantize it with.  A plain
// value type, so a calibration can be made by hand (tests, ranges known from
// training) or edited before conversion.

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "qtl/core/error.hpp"
#include "qtl/quant/value_range.hpp"

namespace qtl {

struct calibration {
    std::map<std::int32_t, value_range> ranges;  // tensor index -> range to quantize with
    std::map<std::int32_t, value_range> observed;  // tensor index -> plain min/max seen
    std::size_t samples = 0;
    std::string method;  // "minmax", "percentile 99.99", ...

    bool has(std::int32_t t) const { return ranges.count(t) != 0; }
    const value_range& range(std::int32_t t, const std::string& where = "calibration") const {
        auto it = ranges.find(t);
        check(it != ranges.end(), where, "tensor ", t, " was not calibrated");
        return it->second;
    }
};

}  // namespace qtl
