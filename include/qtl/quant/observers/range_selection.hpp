#pragma once
// Range selection from a histogram: which [min, max] to quantize with.
//
//  percentile_range  clip at the given lower/upper percentiles (values
//                    interpolated linearly inside a bin).
//  entropy_range     TensorRT's entropy calibration: the clipping threshold
//                    whose quantized distribution is closest, in KL
//                    divergence, to the original one.  Works on |x|, so the
//                    range is symmetric before being limited to the data.
//  mse_range         the range whose quantize-dequantize round trip has the
//                    smallest mean squared error over the histogram.
//
// Each returns a range inside the observed [min, max]; quant_levels is the
// number of integer levels of the target type (256 for int8).

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "qtl/core/error.hpp"
#include "qtl/quant/observers/histogram.hpp"
#include "qtl/quant/value_range.hpp"

namespace qtl {

namespace detail {

inline void check_histogram(const histogram& h, const char* where) {
    check(!h.empty(), where, "no values observed (empty calibration dataset?)");
}

// The value below which `fraction` of the histogram's mass lies.
inline double histogram_quantile(const histogram& h, double fraction) {
    const auto counts = h.counts();
    const double target = fraction * static_cast<double>(h.total());
    double below = 0;
    for (std::size_t i = 0; i < counts.size(); ++i) {
        const auto n = static_cast<double>(counts[i]);
        if (n > 0 && below + n >= target) return h.edge(i) + (target - below) / n * h.bin_width();
        below += n;
    }
    return h.edge(counts.size());
}

inline value_range clamp_to_observed(const histogram& h, double lo, double hi) {
    const value_range seen = h.observed();
    return {static_cast<float>(std::clamp<double>(lo, seen.min, seen.max)),
            static_cast<float>(std::clamp<double>(hi, seen.min, seen.max))};
}

inline void check_levels(int quant_levels, const char* where) {
    check(quant_levels >= 2 && quant_levels <= 65536, where, "quant_levels must be in [2, 65536], got ", quant_levels);
}

}  // namespace detail

// lower_percent and upper_percent in [0, 100], lower <= upper; e.g. (0.01, 99.99).
inline value_range percentile_range(const histogram& h, double lower_percent, double upper_percent) {
    detail::check_histogram(h, "percentile_range");
    check(0 <= lower_percent && lower_percent <= upper_percent && upper_percent <= 100, "percentile_range",
          "need 0 <= lower <= upper <= 100, got lower ", lower_percent, " and upper ", upper_percent);
    return detail::clamp_to_observed(h, detail::histogram_quantile(h, lower_percent / 100),
                                     detail::histogram_quantile(h, upper_percent / 100));
}

// The KL search runs over the histogram of |x|: with values of both signs
// the magnitude gets half the levels (quant_levels / 2), with one sign all
// of them.  Candidate thresholds are the bin edges from `levels` bins up.
inline value_range entropy_range(const histogram& h, int quant_levels = 256) {
    detail::check_histogram(h, "entropy_range");
    detail::check_levels(quant_levels, "entropy_range");
    const value_range seen = h.observed();
    const bool both_signs = seen.min < 0 && seen.max > 0;
    const std::size_t levels = static_cast<std::size_t>(both_signs ? quant_levels / 2 : quant_levels);

    // Fold the signed bins onto |x|: on the power-of-two grid bin k < 0
    // mirrors exactly onto bin -k - 1.
    std::vector<double> magnitude;
    const auto counts = h.counts();
    for (std::size_t i = 0; i < counts.size(); ++i) {
        if (counts[i] == 0) continue;
        const std::int64_t k = h.first_bin() + static_cast<std::int64_t>(i);
        const auto j = static_cast<std::size_t>(k >= 0 ? k : -k - 1);
        if (j >= magnitude.size()) magnitude.resize(j + 1, 0.0);
        magnitude[j] += static_cast<double>(counts[i]);
    }
    const std::size_t bins = magnitude.size();
    if (bins <= levels) return seen;  // the quantized grid is as fine as the histogram: nothing to gain by clipping

    std::vector<double> suffix(bins + 1, 0.0);  // suffix[i] = mass at or above bin i
    for (std::size_t i = bins; i-- > 0;) suffix[i] = suffix[i + 1] + magnitude[i];
    const double total = suffix[0];
    constexpr double epsilon = 1e-10;  // stands in for q = 0 where p > 0 (TensorRT smooths the same way)

    double best_divergence = std::numeric_limits<double>::infinity();
    std::size_t best = bins;
    std::vector<double> q(bins);
    for (std::size_t i = levels; i <= bins; ++i) {
        // p: the first i bins, everything beyond folded into the last one.
        // q: p's first i bins merged into `levels` groups, each group's mass
        //    spread evenly over its non-empty bins.
        for (std::size_t g = 0; g < levels; ++g) {
            const std::size_t start = g * i / levels, stop = (g + 1) * i / levels;
            double mass = 0;
            std::size_t nonzero = 0;
            for (std::size_t j = start; j < stop; ++j) {
                mass += magnitude[j];
                const bool p_nonzero = magnitude[j] > 0 || (j == i - 1 && suffix[i] > 0);
                nonzero += p_nonzero ? 1 : 0;
            }
            for (std::size_t j = start; j < stop; ++j) {
                const bool p_nonzero = magnitude[j] > 0 || (j == i - 1 && suffix[i] > 0);
                q[j] = p_nonzero ? mass / static_cast<double>(nonzero) : 0.0;
            }
        }
        double divergence = 0;
        for (std::size_t j = 0; j < i; ++j) {
            const double p = (magnitude[j] + (j == i - 1 ? suffix[i] : 0.0)) / total;
            if (p <= 0) continue;
            const double qj = std::max(q[j] / total, epsilon);
            divergence += p * std::log(p / qj);
        }
        if (divergence < best_divergence) {
            best_divergence = divergence;
            best = i;
        }
    }
    const double threshold = static_cast<double>(best) * h.bin_width();
    return detail::clamp_to_observed(h, -threshold, threshold);
}

namespace detail {

// Sum of squared round-trip errors over the histogram for an affine
// quantizer of `levels` levels on [lo, hi] (lo <= 0 <= hi), each bin's mass
// spread over `samples` evenly placed points.
inline double histogram_quantization_error(const histogram& h, double lo, double hi, int levels) {
    if (!(hi > lo)) return std::numeric_limits<double>::infinity();
    const double scale = (hi - lo) / (levels - 1);
    const double zero_point = std::clamp(std::round(-lo / scale), 0.0, static_cast<double>(levels - 1));
    constexpr int samples = 4;
    const auto counts = h.counts();
    const double width = h.bin_width();
    double error = 0;
    for (std::size_t i = 0; i < counts.size(); ++i) {
        if (counts[i] == 0) continue;
        double bin_error = 0;
        for (int s = 0; s < samples; ++s) {
            const double x = h.edge(i) + (s + 0.5) / samples * width;
            const double q = std::clamp(std::round(x / scale) + zero_point, 0.0, static_cast<double>(levels - 1));
            const double d = x - (q - zero_point) * scale;
            bin_error += d * d;
        }
        error += bin_error / samples * static_cast<double>(counts[i]);
    }
    return error;
}

}  // namespace detail

// Searches ranges [f * min(lo, 0), g * max(hi, 0)] with f, g in (0, 1]: a
// 32 x 32 grid, then a finer grid (steps of 1/512) around the best point.
inline value_range mse_range(const histogram& h, int quant_levels = 256) {
    detail::check_histogram(h, "mse_range");
    detail::check_levels(quant_levels, "mse_range");
    const value_range seen = h.observed();
    const double low = std::min<double>(seen.min, 0), high = std::max<double>(seen.max, 0);
    if (!(high > low)) return seen;

    double best_error = std::numeric_limits<double>::infinity();
    double best_f = 1, best_g = 1;
    const auto search = [&](double f0, double f1, double g0, double g1, int steps) {
        for (int a = 0; a <= steps; ++a) {
            const double f = std::clamp(f0 + (f1 - f0) * a / steps, 1.0 / 1024, 1.0);
            if (low == 0 && a > 0) break;  // one-sided data: the low end stays 0
            for (int b = 0; b <= steps; ++b) {
                const double g = std::clamp(g0 + (g1 - g0) * b / steps, 1.0 / 1024, 1.0);
                if (high == 0 && b > 0) break;
                const double e = detail::histogram_quantization_error(h, f * low, g * high, quant_levels);
                if (e < best_error) {
                    best_error = e;
                    best_f = f;
                    best_g = g;
                }
            }
        }
    };
    search(1.0 / 32, 1.0, 1.0 / 32, 1.0, 31);
    search(best_f - 1.0 / 32, best_f + 1.0 / 32, best_g - 1.0 / 32, best_g + 1.0 / 32, 32);
    return detail::clamp_to_observed(h, best_f * low, best_g * high);
}

}  // namespace qtl
