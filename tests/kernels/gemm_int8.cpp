#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "qtl/fixedpoint/quantize_multiplier.hpp"
#include "qtl/fixedpoint/requantize.hpp"
#include "qtl/kernels/cpu_features.hpp"
#include "qtl/kernels/gemm_int8.hpp"

// The int8 GEMM kernels (FULLY_CONNECTED / 1x1 CONV_2D):
//  - a hand-computed case (arithmetic in the comments), both rounding policies;
//  - every kernel == a plain loop of the formula written here,
//      out[m][n] = requantize(sum_k (a[m][k] - a_zp) * w[n][k] + bias[n]),
//    ending in qtl's scalar requantize, at tile edges of M, N and K, per-tensor
//    and per-channel, random zero points and activation clamps, strided rows
//    (with sentinels where nothing may be written), several threads;
//  - the error paths.
// "Every kernel" = the real kernel wherever this CPU runs it, and, on every
// machine, the portable code replaying each kernel's layout (gemm_int8_emulated),
// so that the AVX-512 / AVX-VNNI tiling and tails are checked even here.

using namespace qtl;
using namespace qtl::kernels;

namespace {

struct gemm_case {
    std::size_t m = 0, n = 0, k = 0, lda = 0, ldc = 0;
    std::vector<std::int8_t> a;        // m rows of lda
    std::vector<std::int8_t> weights;  // [n][k]
    std::vector<std::int32_t> bias;    // [n]
    std::int32_t input_zero_point = 0;
    std::vector<quantized_multiplier> multipliers;  // 1 or n
    requantize_params output;

    gemm_int8_spec spec() const { return {k, n, weights, bias, input_zero_point, multipliers, output}; }
};

constexpr std::int8_t sentinel = 0x5A;

// The formula, one output at a time, ending in qtl's scalar requantize.
template <class Policy>
std::vector<std::int8_t> reference_gemm(const gemm_case& c) {
    std::vector<std::int8_t> out(c.m * c.ldc, sentinel);
    bool fits_int32 = true;  // the test data never overflows int32
    for (std::size_t r = 0; r < c.m; ++r) {
        for (std::size_t col = 0; col < c.n; ++col) {
            std::int64_t acc = c.bias.empty() ? 0 : c.bias[col];
            for (std::size_t kk = 0; kk < c.k; ++kk)
                acc += (std::int64_t{c.a[r * c.lda + kk]} - c.input_zero_point) * c.weights[col * c.k + kk];
            fits_int32 = fits_int32 && acc == static_cast<std::int32_t>(acc);
            const quantized_multiplier qm = c.multipliers[c.multipliers.size() == 1 ? 0 : col];
            out[r * c.ldc + col] = requantize<std::int8_t, Policy>(static_cast<std::int32_t>(acc), qm, c.output);
        }
    }
    REQUIRE(fits_int32);
    return out;
}

template <class Policy>
gemm_case random_case(std::mt19937& rng, std::size_t m, std::size_t n, std::size_t k, bool per_channel,
                      bool strided) {
    gemm_case c;
    c.m = m;
    c.n = n;
    c.k = k;
    c.lda = strided ? k + 3 : k;
    c.ldc = strided ? n + 5 : n;
    std::uniform_int_distribution<int> byte(-128, 127);
    c.a.resize(m * c.lda);
    for (auto& v : c.a) v = static_cast<std::int8_t>(byte(rng));
    c.weights.resize(n * k);
    for (auto& v : c.weights) v = static_cast<std::int8_t>(byte(rng));  // also -128: the kernels take the full range
    std::uniform_int_distribution<std::int32_t> bias(-20000, 20000);
    for (std::size_t i = 0; i < n; ++i) c.bias.push_back(bias(rng));
    const int zero_points[] = {-128, 127, 0, byte(rng)};
    c.input_zero_point = zero_points[rng() % 4];
    // A multiplier that maps the accumulator's spread (about sqrt(k) * 74 * 74)
    // onto a few dozen output steps: most outputs land inside int8, some clamp.
    std::uniform_real_distribution<double> spread(0.3, 3.0);
    const double base = 40.0 / (std::sqrt(double(k)) * 74.0 * 74.0 + 1000.0);
    for (std::size_t i = 0; i < (per_channel ? n : 1); ++i)
        c.multipliers.push_back(quantize_multiplier<Policy>(base * spread(rng)));
    // none, RELU, RELU6-like, RELU_N1_TO_1-like clamps around the output zero point.
    const std::int32_t zp = byte(rng) / 2;
    const requantize_params clamps[] = {
        {zp, -128, 127}, {zp, zp, 127}, {zp, zp, std::min(127, zp + 48)}, {zp, zp - 8, zp + 8}};
    c.output = clamps[rng() % 4];
    return c;
}

// Which code paths run here: every kernel emulated, and the real ones this CPU runs.
struct path {
    gemm_int8_isa isa;
    bool emulated;
    std::string name() const { return std::string(to_string(isa)) + (emulated ? " (emulated)" : ""); }
};

std::vector<path> runnable_paths() {
    std::vector<path> paths;
    for (gemm_int8_isa isa : all_gemm_int8_isas) {
        paths.push_back({isa, true});
        if (isa != gemm_int8_isa::scalar && gemm_int8_isa_supported(isa)) paths.push_back({isa, false});
    }
    return paths;
}

template <class Policy>
std::vector<std::int8_t> run_path(const path& pth, const gemm_case& c, unsigned threads = 1) {
    const gemm_int8_packed packed = pack_gemm_int8(c.spec(), pth.isa);
    std::vector<std::int8_t> out(c.m * c.ldc, sentinel);
    gemm_int8_options options;
    options.threads = threads;
    if (pth.emulated)
        gemm_int8_emulated<Policy>(packed, c.a.data(), c.m, c.lda, out.data(), c.ldc, options);
    else
        gemm_int8<Policy>(packed, c.a.data(), c.m, c.lda, out.data(), c.ldc, options);
    return out;
}

// Index of the first differing byte, or -1.
long first_difference(const std::vector<std::int8_t>& x, const std::vector<std::int8_t>& y) {
    const auto [ix, iy] = std::mismatch(x.begin(), x.end(), y.begin(), y.end());
    return ix == x.end() && iy == y.end() ? -1 : long(ix - x.begin());
}

// One random per-channel case (double rounding) on every path: how many
// paths differ from the formula, each named in a message.
int mismatching_paths(std::mt19937& rng, const std::vector<path>& paths, std::size_t m, std::size_t n,
                      std::size_t k, bool strided) {
    const gemm_case c = random_case<double_rounding>(rng, m, n, k, true, strided);
    const auto expected = reference_gemm<double_rounding>(c);
    int mismatches = 0;
    for (const path& pth : paths) {
        const long diff = first_difference(run_path<double_rounding>(pth, c), expected);
        if (diff >= 0) {
            ++mismatches;
            MESSAGE(pth.name(), " M=", m, " N=", n, " K=", k, std::string(strided ? " strided" : ""),
                    ": first difference at byte ", diff);
        }
    }
    return mismatches;
}

}  // namespace

TEST_CASE("gemm_int8: hand-computed 1x3 times 3x2, every path") {
    // a = [1, 2, 3], a_zp = -1 -> a - a_zp = [2, 3, 4]
    // w[0] = [1, -1, 2]: 2 - 3 + 8 = 7,  + bias 3  -> acc 10
    // w[1] = [-2, 0, 1]: -4 + 0 + 4 = 0, + bias -6 -> acc -6
    gemm_case c;
    c.m = 1, c.n = 2, c.k = 3, c.lda = 3, c.ldc = 2;
    c.a = {1, 2, 3};
    c.weights = {1, -1, 2, -2, 0, 1};
    c.bias = {3, -6};
    c.input_zero_point = -1;
    c.output = {2, -128, 127};  // output zero point 2

    for (const path& pth : runnable_paths()) {
        CAPTURE(pth.name());
        // Multiplier 0.5 = 2^30 * 2^(0 - 31): srdhm(10, 2^30) = floor((10 + 1) / 2) = 5,
        // srdhm(-6, 2^30) = floor((-6 + 1) / 2) = -3; + zp 2 -> [7, -1].
        c.multipliers = {{1 << 30, 0}};
        CHECK(run_path<double_rounding>(pth, c) == std::vector<std::int8_t>{7, -1});
        // RELU with zp 2 clamps at 2: [7, 2].
        c.output = {2, 2, 127};
        CHECK(run_path<double_rounding>(pth, c) == std::vector<std::int8_t>{7, 2});
        c.output = {2, -128, 127};
        // Multiplier 0.25 = 2^30 * 2^(-1 - 31).  Double rounding: 5 / 2 = 2.5 -> 3,
        // -3 / 2 = -1.5 -> -2 (ties away from zero); + 2 -> [5, 0].
        c.multipliers = {{1 << 30, -1}};
        CHECK(run_path<double_rounding>(pth, c) == std::vector<std::int8_t>{5, 0});
        // Single rounding: (10 * 2^30 + 2^31) >> 32 = 3, (-6 * 2^30 + 2^31) >> 32 = floor(-1) = -1;
        // + 2 -> [5, 1].
        CHECK(run_path<single_rounding>(pth, c) == std::vector<std::int8_t>{5, 1});
        // Per channel: 0.5 for column 0 (-> 7), 0.25 for column 1 (-> 0).
        c.multipliers = {{1 << 30, 0}, {1 << 30, -1}};
        CHECK(run_path<double_rounding>(pth, c) == std::vector<std::int8_t>{7, 0});
    }
}

TEST_CASE("gemm_int8: every path == the formula at tile edges (double rounding)") {
    std::mt19937 rng(20240607);
    const std::size_t ms[] = {1, 2, 3, 4, 5, 7, 8, 9, 17};
    const std::size_t ns[] = {1, 15, 16, 17, 33, 50, 64, 65};
    const std::size_t ks[] = {1, 3, 4, 5, 63, 64, 65, 1000};
    const std::vector<path> paths = runnable_paths();
    int cases = 0, mismatches = 0;
    for (std::size_t m : ms) {
        for (std::size_t n : ns) {
            for (std::size_t k : ks) {
                for (bool per_channel : {false, true}) {
                    const bool strided = (m + n + k) % 3 == 0;
                    const gemm_case c = random_case<double_rounding>(rng, m, n, k, per_channel, strided);
                    const auto expected = reference_gemm<double_rounding>(c);
                    for (const path& pth : paths) {
                        const long diff = first_difference(run_path<double_rounding>(pth, c), expected);
                        ++cases;
                        if (diff >= 0) {
                            ++mismatches;
                            const std::string layout = std::string(per_channel ? " per-channel" : " per-tensor") +
                                                       (strided ? " strided" : "");
                            MESSAGE(pth.name(), " M=", m, " N=", n, " K=", k, layout, ": first difference at byte ",
                                    diff);
                        }
                    }
                }
            }
        }
    }
    MESSAGE(cases, " kernel runs over ", paths.size(), " paths");
    CHECK(mismatches == 0);
}

// The register epilogue has a variant for multipliers above 1 (left shifts),
// and the INT32_MIN multiplier (whose product saturates) leaves it for the
// general stage: both against the formula.
TEST_CASE("gemm_int8: every path == the formula with left shifts and with the INT32_MIN multiplier") {
    std::mt19937 rng(99);
    const std::vector<path> paths = runnable_paths();
    for (std::size_t m : {3, 8}) {
        for (std::size_t n : {16, 23}) {
            for (int variant = 0; variant < 2; ++variant) {
                gemm_case c = random_case<double_rounding>(rng, m, n, 7, true, false);
                if (variant == 0) {
                    // Scales 1.5-6 on every other channel: small sums land inside int8, large ones clamp.
                    for (std::size_t i = 0; i < n; i += 2)
                        c.multipliers[i] = quantize_multiplier<double_rounding>(1.5 + 0.5 * double(i % 10));
                    for (auto& v : c.a) v = static_cast<std::int8_t>(v / 16);
                    c.input_zero_point = 0;
                    for (auto& b : c.bias) b /= 1000;
                } else {
                    c.multipliers[n / 2] = {std::numeric_limits<std::int32_t>::min(), -20};
                }
                REQUIRE(pack_gemm_int8(c.spec(), gemm_int8_isa::avx2).lane_requantize.left_shifts == (variant == 0));
                REQUIRE(pack_gemm_int8(c.spec(), gemm_int8_isa::avx2).lane_requantize.usable == (variant == 0));
                const auto expected = reference_gemm<double_rounding>(c);
                std::size_t inside = 0;  // outputs strictly inside the clamp: the shift mattered
                for (std::size_t i = 0; i < expected.size(); ++i)
                    inside += expected[i] > c.output.activation_min && expected[i] < c.output.activation_max;
                CHECK(inside > 0);
                for (const path& pth : paths) {
                    CAPTURE(pth.name());
                    CAPTURE(m);
                    CAPTURE(n);
                    CAPTURE(variant);
                    CHECK(first_difference(run_path<double_rounding>(pth, c), expected) == -1);
                }
            }
        }
    }
}

TEST_CASE("gemm_int8: every path == the formula under single rounding") {
    std::mt19937 rng(7);
    const std::vector<path> paths = runnable_paths();
    for (std::size_t m : {1, 4, 9}) {
        for (std::size_t n : {17, 64}) {
            for (std::size_t k : {5, 64, 300}) {
                for (bool per_channel : {false, true}) {
                    const gemm_case c = random_case<single_rounding>(rng, m, n, k, per_channel, false);
                    const auto expected = reference_gemm<single_rounding>(c);
                    for (const path& pth : paths) {
                        CAPTURE(pth.name());
                        CAPTURE(m);
                        CAPTURE(n);
                        CAPTURE(k);
                        CHECK(first_difference(run_path<single_rounding>(pth, c), expected) == -1);
                    }
                }
            }
        }
    }
}

TEST_CASE("gemm_int8: extreme sums stay exact (a - a_zp = 255 against w = -128)") {
    // 1000 * 255 * -128 = -32,640,000 per output: far from int32's limits, but
    // the u8 offset makes the kernel's raw sum (a + 128) * w differ from the
    // reference sum by (a_zp + 128) * colsum = 0 * colsum here, and by the
    // largest correction when a_zp = 127 below.
    for (std::int32_t zp : {-128, 127}) {
        gemm_case c;
        c.m = 3, c.n = 33, c.k = 1000, c.lda = 1000, c.ldc = 33;
        c.a.assign(c.m * c.k, zp == -128 ? 127 : -128);
        c.weights.assign(c.n * c.k, -128);
        c.bias.assign(c.n, 0);
        c.input_zero_point = zp;
        c.multipliers = {quantize_multiplier(1.0 / 300000.0)};
        c.output = {0, -128, 127};
        const auto expected = reference_gemm<double_rounding>(c);
        // zp = -128: 255 * -128 * 1000 / 300000 = -108.8 -> -109;  zp = 127: -255 * -128 * 1000 / 300000 -> 109.
        CHECK(expected[0] == (zp == -128 ? -109 : 109));
        for (const path& pth : runnable_paths()) {
            CAPTURE(pth.name());
            CHECK(run_path<double_rounding>(pth, c) == expected);
        }
    }
}

// The AVX2 epilogue's one_rounding_doubled form doubles acc + bias, so it
// runs only where the packing's bound |bias| + K * 255 * 128 is below 2^30;
// at the bound and just past it (the two-rounding form then), against the
// formula.  Scale 1.5 * 2^-24 (shift -23, the one-rounding forms' last) maps
// biases near 2^30 to about +-96, inside int8.
TEST_CASE("gemm_int8: every path == the formula with biases at the doubled epilogue's bound") {
    std::mt19937 rng(2030);
    constexpr std::size_t k = 64;
    constexpr std::int64_t limit = (std::int64_t{1} << 30) - 1 - std::int64_t{k} * 255 * 128;
    for (const std::int64_t largest : {limit, limit + 1}) {
        gemm_case c = random_case<double_rounding>(rng, 9, 33, k, true, false);
        std::uniform_int_distribution<std::int64_t> near(largest - 3'000'000, largest);
        for (std::size_t i = 0; i < c.n; ++i)
            c.bias[i] = static_cast<std::int32_t>(i % 2 ? near(rng) : -near(rng));
        c.bias[5] = static_cast<std::int32_t>(-largest);
        for (auto& qm : c.multipliers) qm = quantize_multiplier(1.5 * std::ldexp(1.0, -24));
        REQUIRE(c.multipliers[0].shift == -23);
        c.output = {3, -128, 127};
        const auto constants = pack_gemm_int8(c.spec(), gemm_int8_isa::avx2).lane_requantize;
        REQUIRE(constants.one_rounding);
        REQUIRE(constants.one_rounding_doubled == (largest == limit));
        const auto expected = reference_gemm<double_rounding>(c);
        std::size_t inside = 0;
        for (const std::int8_t v : expected) inside += v > -128 && v < 127;
        CHECK(inside > expected.size() / 2);
        for (const path& pth : runnable_paths()) {
            CAPTURE(pth.name());
            CAPTURE(largest);
            CHECK(first_difference(run_path<double_rounding>(pth, c), expected) == -1);
        }
    }
}

// The AVX-512 VNNI kernel requantizes each full 6 x 64 tile inside the next
// full tile's k loop, once the tiles have 24 k-groups or more (k > 92): one
// vector every k_groups / 24 groups.  Around that threshold, at strides 1 to
// 3, with full tiles mixed with row and column tails (m % 6, n % 64), row
// chunks and threads, the pending tile must land where it belongs.
TEST_CASE("gemm_int8: every path == the formula where tiles requantize inside the next tile's k loop") {
    std::mt19937 rng(424242);
    const std::vector<path> paths = runnable_paths();
    int mismatches = 0;
    for (std::size_t k : {92, 93, 96, 191, 192, 290})
        for (std::size_t m : {6, 7, 12, 13, 25})
            for (std::size_t n : {64, 128, 130}) mismatches += mismatching_paths(rng, paths, m, n, k, (m + n) % 2 == 1);
    CHECK(mismatches == 0);
    // 400 rows of K = 130: four chunks of rows (each leaves a tile pending
    // for the next), the last ragged; 2 and 3 threads split 192 columns.
    const gemm_case c = random_case<double_rounding>(rng, 400, 192, 130, true, true);
    const auto expected = reference_gemm<double_rounding>(c);
    for (const path& pth : paths) {
        CAPTURE(pth.name());
        for (unsigned threads : {1u, 2u, 3u}) CHECK(run_path<double_rounding>(pth, c, threads) == expected);
    }
}

// Tiles of two vectors (a column block of 32 real columns) with 6 to 23
// k-groups (k in [21, 92]) do the same on the AVX-512 VNNI kernel: the
// pending tile's 12 vectors two after each of the first six k-group slots,
// a pair of rows stored after every fourth.  Around both thresholds, with
// 32 columns alone (rows contiguous at ldc 32, or strided) and after a full
// block (n = 96), row tails, and a 3x3x3 first layer's rows in chunks and
// threads.
TEST_CASE("gemm_int8: every path == the formula where 32-column tiles requantize inside the next tile's k loop") {
    std::mt19937 rng(32323);
    const std::vector<path> paths = runnable_paths();
    int mismatches = 0;
    for (std::size_t k : {20, 21, 24, 27, 47, 48, 70, 92, 93})
        for (std::size_t m : {6, 7, 12, 13, 25})
            for (std::size_t n : {32, 96})
                for (const bool strided : {false, true}) mismatches += mismatching_paths(rng, paths, m, n, k, strided);
    CHECK(mismatches == 0);
    // A first layer's GEMM (k = 27): 1000 rows in several chunks, the last ragged.
    for (const bool strided : {false, true}) {
        const gemm_case c = random_case<double_rounding>(rng, 1000, 32, 27, true, strided);
        const auto expected = reference_gemm<double_rounding>(c);
        for (const path& pth : paths) {
            CAPTURE(pth.name());
            CAPTURE(strided);
            for (unsigned threads : {1u, 2u, 3u}) CHECK(run_path<double_rounding>(pth, c, threads) == expected);
        }
    }
}

// A run of 32-column tiles, and a full 64-column tile under 24 k-groups,
// load each column's constants once in the one_rounding_doubled form and
// read them as they go in the others: biases just past the doubled form's
// bound (one_rounding) and multipliers above 1 (left shifts), next to the
// doubled form, at k = 27 (one k-group between scalings) and k = 64 (two),
// 31 rows (five tiles in one run, then a tail); n = 96 adds a 64-column
// block before the 32-column one.
TEST_CASE("gemm_int8: every path == the formula in 32-column tile runs of every register form") {
    std::mt19937 rng(3232);
    const std::vector<path> paths = runnable_paths();
    for (const std::size_t n : {32, 96}) {
        for (const std::size_t k : {27, 64}) {
            for (int variant = 0; variant < 3; ++variant) {
                gemm_case c = random_case<double_rounding>(rng, 31, n, k, true, variant == 2);
                if (variant == 0) {
                    // Scale 1.5 * 2^-24 maps biases near 2^30 to about +-96, inside int8.
                    const std::int64_t past = (std::int64_t{1} << 30) - std::int64_t(k) * 255 * 128;
                    std::uniform_int_distribution<std::int64_t> near(past, past + 3'000'000);
                    for (std::size_t i = 0; i < c.n; ++i)
                        c.bias[i] = static_cast<std::int32_t>(i % 2 ? near(rng) : -near(rng));
                    for (auto& qm : c.multipliers) qm = quantize_multiplier(1.5 * std::ldexp(1.0, -24));
                    c.output = {3, -128, 127};
                } else if (variant == 1) {
                    // Scales 1.5-6 on every other channel, small sums (as the left-shift case above).
                    for (std::size_t i = 0; i < c.n; i += 2)
                        c.multipliers[i] = quantize_multiplier<double_rounding>(1.5 + 0.5 * double(i % 10));
                    for (auto& v : c.a) v = static_cast<std::int8_t>(v / 16);
                    c.input_zero_point = 0;
                    for (auto& b : c.bias) b /= 1000;
                }
                const auto constants = pack_gemm_int8(c.spec(), gemm_int8_isa::avx512_vnni).lane_requantize;
                REQUIRE(constants.usable);
                REQUIRE(constants.one_rounding_doubled == (variant == 2));
                REQUIRE(constants.left_shifts == (variant == 1));
                const auto expected = reference_gemm<double_rounding>(c);
                std::size_t inside = 0;  // outputs strictly inside the clamp
                for (const std::int8_t v : expected)
                    inside += v > c.output.activation_min && v < c.output.activation_max;
                CHECK(inside > expected.size() / 8);
                for (const path& pth : paths) {
                    CAPTURE(pth.name());
                    CAPTURE(n);
                    CAPTURE(k);
                    CAPTURE(variant);
                    CHECK(first_difference(run_path<double_rounding>(pth, c), expected) == -1);
                }
            }
        }
    }
}

TEST_CASE("gemm_int8: threads give the same bytes") {
    std::mt19937 rng(99);
    // 9 rows: one chunk of rows; 601 rows of K = 70: several chunks (about 32 KiB of rows each), the last ragged.
    for (std::size_t m : {9, 601}) {
        const gemm_case c = random_case<double_rounding>(rng, m, m == 9 ? 200 : 40, 70, true, true);
        const auto expected = reference_gemm<double_rounding>(c);
        for (const path& pth : runnable_paths()) {
            CAPTURE(pth.name());
            CAPTURE(m);
            for (unsigned threads : {1u, 2u, 3u, 64u}) CHECK(run_path<double_rounding>(pth, c, threads) == expected);
        }
    }
}

TEST_CASE("gemm_int8: explicit scratch") {
    std::mt19937 rng(5);
    const gemm_case c = random_case<double_rounding>(rng, 5, 20, 37, false, false);
    const gemm_int8_packed packed = pack_gemm_int8(c.spec());
    std::vector<std::byte, aligned_allocator<std::byte>> scratch(gemm_int8_scratch_bytes(packed, c.m));
    std::vector<std::int8_t> out(c.m * c.n);
    gemm_int8_options options;
    options.scratch = scratch;
    gemm_int8(packed, c.a.data(), c.m, c.lda, out.data(), c.ldc, options);
    CHECK(out == reference_gemm<double_rounding>(c));
}

TEST_CASE("gemm_int8: the machine's kernel") {
    const cpu_features& f = host_cpu_features();
    // This binary runs, so the CPU has what the compiler was allowed to emit.
#if defined(__AVX2__)
    CHECK(f.avx2);
#endif
#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
    CHECK(f.avx512_vnni);
    CHECK(f.avx512bw);
#endif
#if defined(__AVXVNNI__)
    CHECK(f.avx_vnni);
#endif
    CHECK(gemm_int8_isa_supported(best_gemm_int8_isa()));
    CHECK(gemm_int8_isa_supported(gemm_int8_isa::scalar));
    if (f.avx2 && QTL_KERNELS_X86_TARGETS) CHECK(best_gemm_int8_isa() != gemm_int8_isa::scalar);
    if (f.avx512_vnni && f.avx512bw && f.avx512vl && QTL_KERNELS_X86_TARGETS)
        CHECK(best_gemm_int8_isa() == gemm_int8_isa::avx512_vnni);
    MESSAGE("gemm_int8 kernel on this machine: ", to_string(best_gemm_int8_isa()), " (avx2 ", f.avx2, ", avx512_vnni ",
            f.avx512_vnni, ", avx_vnni ", f.avx_vnni, ")");
}

TEST_CASE("gemm_int8: packing errors name what is wrong") {
    const std::vector<std::int8_t> w(6, 1);
    const std::vector<std::int32_t> bias(2, 0);
    const std::vector<quantized_multiplier> one{{1 << 30, 0}};
    const gemm_int8_spec good{3, 2, w, bias, 0, one, {0, -128, 127}};
    CHECK_NOTHROW(pack_gemm_int8(good, gemm_int8_isa::scalar));

    auto spec = good;
    spec.k = 0;
    CHECK_THROWS_WITH_AS(pack_gemm_int8(spec), "gemm_int8: k and n must be > 0, got k = 0, n = 2", qtl::error);
    spec = good;
    spec.k = 4;
    CHECK_THROWS_WITH_AS(pack_gemm_int8(spec), "gemm_int8: weights must hold n * k = 2 * 4 values ([n][k]), got 6",
                         qtl::error);
    spec = good;
    spec.bias = std::span<const std::int32_t>(bias).first(1);
    CHECK_THROWS_WITH_AS(pack_gemm_int8(spec), "gemm_int8: bias must be empty or hold n = 2 values, got 1", qtl::error);
    spec = good;
    spec.input_zero_point = 128;
    CHECK_THROWS_WITH_AS(pack_gemm_int8(spec), "gemm_int8: input zero point must be in [-128, 127], got 128",
                         qtl::error);
    const std::vector<quantized_multiplier> three(3, {1 << 30, 0});
    spec = good;
    spec.multipliers = three;
    CHECK_THROWS_WITH_AS(pack_gemm_int8(spec),
                         "gemm_int8: multipliers must hold 1 (per-tensor) or n = 2 (per-channel) values, got 3",
                         qtl::error);
    const std::vector<quantized_multiplier> big_shift{{1 << 30, 0}, {1 << 30, 31}};
    spec = good;
    spec.multipliers = big_shift;
    CHECK_THROWS_WITH_AS(pack_gemm_int8(spec), "gemm_int8: shift of multiplier 1 must be in [-31, 30], got 31",
                         qtl::error);
    spec = good;
    spec.output = {-129, -128, 127};
    CHECK_THROWS_WITH_AS(pack_gemm_int8(spec), "gemm_int8: output zero point must be in [-128, 127], got -129",
                         qtl::error);
    spec = good;
    spec.output = {0, 10, 5};
    CHECK_THROWS_WITH_AS(pack_gemm_int8(spec),
                         "gemm_int8: activation range must be a non-empty range within [-128, 127], got [10, 5]",
                         qtl::error);
    spec.output = {0, -128, 128};
    CHECK_THROWS_AS(pack_gemm_int8(spec), qtl::error);
}

TEST_CASE("gemm_int8: run errors name what is wrong") {
    const std::vector<std::int8_t> w(6, 1);
    const std::vector<quantized_multiplier> one{{1 << 30, 0}};
    const gemm_int8_packed packed = pack_gemm_int8({3, 2, w, {}, 0, one, {0, -128, 127}});
    std::vector<std::int8_t> a(12, 1), out(8, 0);
    CHECK_THROWS_WITH_AS(gemm_int8(packed, a.data(), 2, 2, out.data(), 2),
                         "gemm_int8: activation row stride must be >= k = 3, got 2", qtl::error);
    CHECK_THROWS_WITH_AS(gemm_int8(packed, a.data(), 2, 3, out.data(), 1),
                         "gemm_int8: output row stride must be >= n = 2, got 1", qtl::error);
    CHECK_THROWS_WITH_AS(gemm_int8(packed, nullptr, 2, 3, out.data(), 2),
                         "gemm_int8: activation and output pointers must not be null", qtl::error);
    gemm_int8_options options;
    options.threads = 0;
    CHECK_THROWS_WITH_AS(gemm_int8(packed, a.data(), 2, 3, out.data(), 2, options),
                         "gemm_int8: threads must be >= 1, got 0", qtl::error);
    std::vector<std::byte, aligned_allocator<std::byte>> scratch(128);
    options.threads = 1;
    options.scratch = std::span<std::byte>(scratch).first(1);
    CHECK_THROWS_WITH_AS(gemm_int8(packed, a.data(), 2, 3, out.data(), 2, options),
                         doctest::Contains("gemm_int8: scratch must hold"), qtl::error);
    options.scratch = std::span<std::byte>(scratch).subspan(1);
    CHECK_THROWS_WITH_AS(gemm_int8(packed, a.data(), 2, 3, out.data(), 2, options),
                         "gemm_int8: scratch must be 64-byte aligned", qtl::error);
    CHECK_THROWS_WITH_AS(gemm_int8(gemm_int8_packed{}, a.data(), 2, 3, out.data(), 2),
                         "gemm_int8: the packed weights are empty (pack_gemm_int8 first)", qtl::error);
    // m == 0 is an empty product, not an error.
    CHECK_NOTHROW(gemm_int8(packed, a.data(), 0, 3, out.data(), 2));

    // A kernel the CPU lacks is refused, never executed.
    for (gemm_int8_isa isa : all_gemm_int8_isas) {
        if (gemm_int8_isa_supported(isa)) continue;
        CAPTURE(to_string(isa));
        const gemm_int8_packed foreign = pack_gemm_int8({3, 2, w, {}, 0, one, {0, -128, 127}}, isa);
        CHECK_THROWS_WITH_AS(gemm_int8(foreign, a.data(), 2, 3, out.data(), 2), doctest::Contains("kernel, which this"),
                             qtl::error);
    }
}
