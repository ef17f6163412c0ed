#include "qtl/quant/observers/histogram.hpp"

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include <doctest/doctest.h>

namespace {

// Counts `values` directly on h's final grid, independently of how h got
// there: the bin of x is floor(x / width) - first_bin.
std::vector<std::uint64_t> recount(const qtl::histogram& h, const std::vector<float>& values) {
    std::vector<std::uint64_t> counts(h.bin_count(), 0);
    for (float v : values) {
        const double k = std::floor(static_cast<double>(v) / h.bin_width()) - static_cast<double>(h.first_bin());
        REQUIRE(k >= 0);
        REQUIRE(k < static_cast<double>(counts.size()));
        ++counts[static_cast<std::size_t>(k)];
    }
    return counts;
}

std::vector<std::uint64_t> as_vector(std::span<const std::uint64_t> s) { return {s.begin(), s.end()}; }

}  // namespace

TEST_CASE("histogram: the first batch spans at most all bins, on a power-of-two grid") {
    qtl::histogram h(64);
    const std::vector<float> values = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f};
    h.add(values);
    // Range 2 over 64 bins: width 2^ceil(log2(2 / 64)) = 2^-5 would need bins
    // 0..64 (65 of them, 2.0 / 2^-5 = 64), so the grid is 2^-4.
    CHECK(h.bin_width() == 1.0 / 16);
    CHECK(h.first_bin() == 0);
    CHECK(h.total() == 5);
    CHECK(h.counts()[0] == 1);    // 0
    CHECK(h.counts()[8] == 1);    // 0.5 / (1/16)
    CHECK(h.counts()[16] == 1);
    CHECK(h.counts()[24] == 1);
    CHECK(h.counts()[32] == 1);   // 2.0
    CHECK(as_vector(h.counts()) == recount(h, values));
}

TEST_CASE("histogram: growing ranges re-bin exactly and memory stays bounded") {
    std::mt19937 rng(11);
    qtl::histogram h(256);
    std::vector<float> all;
    double previous_width = 0;
    for (int batch = 0; batch < 40; ++batch) {
        // Each batch is wider than the last, on alternating sides.
        const float spread = std::ldexp(1.0f, batch / 2 - 8);
        std::uniform_real_distribution<float> u(batch % 2 ? -spread : -spread / 4, batch % 2 ? spread / 3 : spread);
        std::vector<float> values(97);
        for (auto& v : values) v = u(rng);
        h.add(values);
        all.insert(all.end(), values.begin(), values.end());
        CHECK(h.bin_count() == 256);
        CHECK(h.bin_width() >= previous_width);  // never refines: that would need the raw data
        previous_width = h.bin_width();
    }
    CHECK(h.total() == all.size());
    CHECK(as_vector(h.counts()) == recount(h, all));
    const auto [lo, hi] = std::minmax_element(all.begin(), all.end());
    CHECK(h.observed() == qtl::value_range{*lo, *hi});
}

TEST_CASE("histogram: merge equals one histogram of all the data") {
    std::mt19937 rng(3);
    std::normal_distribution<float> narrow(0.0f, 0.1f), wide(5.0f, 40.0f);
    std::vector<float> a(1000), b(1000);
    for (auto& v : a) v = narrow(rng);
    for (auto& v : b) v = wide(rng);
    qtl::histogram ha(512), hb(512), both(512);
    ha.add(a);
    hb.add(b);
    both.add(a);
    both.add(b);
    ha.merge(hb);
    CHECK(ha.bin_width() == both.bin_width());
    CHECK(ha.first_bin() == both.first_bin());
    CHECK(as_vector(ha.counts()) == as_vector(both.counts()));
    std::vector<float> all = a;
    all.insert(all.end(), b.begin(), b.end());
    CHECK(as_vector(ha.counts()) == recount(ha, all));

    // Merging the other way round, and into an empty histogram.
    qtl::histogram hb2(512), empty(512);
    hb2.add(b);
    qtl::histogram ha2(512);
    ha2.add(a);
    hb2.merge(ha2);
    CHECK(as_vector(hb2.counts()) == as_vector(both.counts()));
    empty.merge(both);
    CHECK(as_vector(empty.counts()) == as_vector(both.counts()));
    CHECK(empty.total() == 2000);
}

TEST_CASE("histogram: extreme magnitudes and single values") {
    qtl::histogram h(64);
    const std::vector<float> zero = {0.0f, 0.0f};
    h.add(zero);
    CHECK(h.total() == 2);
    const std::vector<float> tiny = {1e-30f, -1e-30f};
    h.add(tiny);
    const std::vector<float> huge = {3e38f, -3e38f};
    h.add(huge);
    CHECK(h.total() == 6);
    std::vector<float> all = {0, 0, 1e-30f, -1e-30f, 3e38f, -3e38f};
    CHECK(as_vector(h.counts()) == recount(h, all));

    qtl::histogram same(64);
    const std::vector<float> repeated(100, 1234.5f);
    same.add(repeated);
    CHECK(same.observed() == qtl::value_range{1234.5f, 1234.5f});
    CHECK(as_vector(same.counts()) == recount(same, std::vector<float>(repeated)));
}

TEST_CASE("histogram: bad configurations are errors") {
    CHECK_THROWS_AS(qtl::histogram(8), qtl::error);
    qtl::histogram a(64), b(128);
    const std::vector<float> v = {1.0f};
    b.add(v);
    CHECK_THROWS_WITH_AS(a.merge(b), "histogram::merge: bin counts differ: 64 and 128", qtl::error);
}
