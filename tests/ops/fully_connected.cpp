#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "qtl/ops/fully_connected.hpp"
#include "qtl/ops/reference/fully_connected.hpp"

// FULLY_CONNECTED: hand-computed cases (every multiplier a power of two, so
// the fixed-point arithmetic is written out in the comments), SIMD == reference
// on random inputs at tile-edge sizes for every type signature, scheme and
// instruction set this build can run, the reference against float math, and
// the error paths of prepare() and eval().

using namespace qtl;

namespace {

using tested_archs = std::tuple<xsimd::default_arch
#if XSIMD_WITH_SSE2
                                ,
                                xsimd::sse2
#endif
#if XSIMD_WITH_SSE4_1
                                ,
                                xsimd::sse4_1
#endif
#if XSIMD_WITH_AVX
                                ,
                                xsimd::avx  // no AVX2: the portable xsimd kernel
#endif
#if XSIMD_WITH_AVX2
                                ,
                                xsimd::avx2
#endif
#if XSIMD_WITH_AVX512F
                                ,
                                xsimd::avx512f  // no BW: the portable xsimd kernel
#endif
#if XSIMD_WITH_AVX512BW
                                ,
                                xsimd::avx512bw
#endif
                                >;

template <class In, class Weight = std::int8_t>
ops::fully_connected_params<In, Weight> make_params(qtl::shape input_shape, qtl::shape weights_shape,
                                                    float input_scale, std::int32_t input_zp, float weight_scale,
                                                    float output_scale, std::int32_t output_zp) {
    ops::fully_connected_params<In, Weight> p;
    p.input_shape = std::move(input_shape);
    p.weights_shape = std::move(weights_shape);
    p.input_scale = input_scale;
    p.input_zero_point = input_zp;
    p.output_scale = output_scale;
    p.output_zero_point = output_zp;
    p.weights_quant = quant_params{{weight_scale}, {0}, -1, 0};
    return p;
}

template <class A = xsimd::default_arch, class In, rounding_policy Policy>
std::vector<In> run_simd(const ops::fully_connected_prepared<In, Policy>& p, const std::vector<In>& input) {
    std::vector<In> out(num_elements(p.output_shape), In{99});
    ops::eval<A>(p, {input, p.input_shape}, {out, p.output_shape});
    return out;
}

template <class In, rounding_policy Policy>
std::vector<In> run_reference(const ops::fully_connected_prepared<In, Policy>& p, const std::vector<In>& input) {
    std::vector<In> out(num_elements(p.output_shape), In{99});
    ops::reference::eval(p, {input, p.input_shape}, {out, p.output_shape});
    return out;
}

template <class A = xsimd::default_arch>
std::vector<float> run_simd(const ops::fully_connected_blockwise_prepared& p, const std::vector<float>& input) {
    std::vector<float> out(num_elements(p.output_shape), 99.0f);
    ops::eval<A>(p, {input, p.input_shape}, {out, p.output_shape});
    return out;
}

std::vector<float> run_reference(const ops::fully_connected_blockwise_prepared& p, const std::vector<float>& input) {
    std::vector<float> out(num_elements(p.output_shape), 99.0f);
    ops::reference::eval(p, {input, p.input_shape}, {out, p.output_shape});
    return out;
}

// Both paths must give `expected`.
template <class In, rounding_policy Policy>
void check_both(const ops::fully_connected_prepared<In, Policy>& p, const std::vector<In>& input,
                const std::vector<In>& expected) {
    CHECK(run_reference(p, input) == expected);
    CHECK(run_simd(p, input) == expected);
}

}  // namespace

// --- hand-computed ------------------------------------------------------------

TEST_CASE("fully_connected: int8 per tensor, hand-computed") {
    // in scale 0.5, zp 0; weights scale 0.25; out scale 1, zp 5:
    // M = 0.5 * 0.25 / 1 = 0.125 -> (2^30, shift -2): srdhm(acc, 2^30) = acc / 2 (exact for even
    // acc), then a rounding divide by 4, ties away from zero.
    const std::vector<std::int8_t> w{1, 2, 3, -4, 0, 8};  // [2, 3]
    const std::vector<std::int32_t> bias{8, -60};
    auto params = make_params<std::int8_t>({3, 3}, {2, 3}, 0.5f, 0, 0.25f, 1.0f, 5);
    params.weights = w;
    params.bias = bias;
    const auto p = ops::prepare(params);
    CHECK(p.multipliers == std::vector<std::int32_t>{1 << 30});
    CHECK(p.shifts == std::vector<std::int32_t>{-2});
    CHECK(p.output_shape == qtl::shape{3, 2});
    const std::vector<std::int8_t> x{2, -4, 6, 127, 127, 127, -128, -128, -128};
    // row 0: o0: 2 - 8 + 18 = 12, +8 = 20 -> 10 -> 2.5 -> 3, +5 = 8
    //        o1: -8 + 0 + 48 = 40, -60 = -20 -> -10 -> -2.5 -> -3, +5 = 2
    // row 1: o0: 6 * 127 = 762, +8 = 770 -> 385 -> 96.25 -> 96, +5 = 101
    //        o1: 4 * 127 = 508, -60 = 448 -> 224 -> 56, +5 = 61
    // row 2: o0: -768 + 8 = -760 -> -380 -> -95, +5 = -90
    //        o1: -512 - 60 = -572 -> -286 -> -71.5 -> -72, +5 = -67
    check_both(p, x, {8, 2, 101, 61, -90, -67});
}

TEST_CASE("fully_connected: int8 per channel, hand-computed") {
    // Same data, weights scales {0.25, 1}: M = {0.125, 0.5}, out zp 0.
    const std::vector<std::int8_t> w{1, 2, 3, -4, 0, 8};
    const std::vector<std::int32_t> bias{8, -60};
    auto params = make_params<std::int8_t>({3, 3}, {2, 3}, 0.5f, 0, 0.25f, 1.0f, 0);
    params.weights_quant = quant_params{{0.25f, 1.0f}, {0, 0}, 0, 0};
    params.weights = w;
    params.bias = bias;
    const auto p = ops::prepare(params);
    CHECK(p.per_channel);
    CHECK(p.shifts == std::vector<std::int32_t>{-2, 0});
    const std::vector<std::int8_t> x{2, -4, 6, 127, 127, 127, -128, -128, -128};
    // row 0: o0 20 * 0.125 = 2.5 -> 3;   o1 -20 * 0.5 = -10
    // row 1: o0 770 -> 96;               o1 448 * 0.5 = 224 -> saturates at 127
    // row 2: o0 -760 -> -95;             o1 -572 * 0.5 = -286 -> saturates at -128
    check_both(p, x, {3, -10, 96, 127, -95, -128});
}

TEST_CASE("fully_connected: input zero point, output zero point and fused activations, hand-computed") {
    // in scale 0.25, zp -3 (so x + input_offset = x + 3); weights scale 0.5; out scale 0.5, zp -10:
    // M = 0.25 -> (2^30, -1): acc / 2 then / 2 rounded.  No bias.
    const std::vector<std::int8_t> w{2, -1, 5, 5, -8, 2, 1, 1};  // [4, 2]
    auto params = make_params<std::int8_t>({1, 2}, {4, 2}, 0.25f, -3, 0.5f, 0.5f, -10);
    params.weights = w;
    const std::vector<std::int8_t> x{1, 5};  // + 3 = {4, 8}
    // acc = {8 - 8, 20 + 40, -32 + 16, 4 + 8} = {0, 60, -16, 12} -> * 0.25 = {0, 15, -4, 3} -> + zp = {-10, 5, -14, -7}
    check_both(ops::prepare(params), x, {-10, 5, -14, -7});
    // RELU: [-10 + round(0 / 0.5), 127] = [-10, 127]
    params.activation = fused_activation::relu;
    check_both(ops::prepare(params), x, {-10, 5, -10, -7});
    // RELU6: [-10, -10 + round(6 / 0.5)] = [-10, 2]
    params.activation = fused_activation::relu6;
    const auto p6 = ops::prepare(params);
    CHECK(p6.requant.activation_min == -10);
    CHECK(p6.requant.activation_max == 2);
    check_both(p6, x, {-10, 2, -10, -7});
    // RELU_N1_TO_1: [-10 - 2, -10 + 2] = [-12, -8]
    params.activation = fused_activation::relu_n1_to_1;
    check_both(ops::prepare(params), x, {-10, -8, -12, -8});
}

TEST_CASE("fully_connected: 16x8 per tensor and per channel, int64 bias, hand-computed") {
    // in scale 1, weights scale 0.5, out scale 1: M = 0.5 -> (2^30, 0).  The 64-bit
    // MultiplyByQuantizedMultiplier reduces it to Q15: (2^30 + 2^15) >> 16 = 2^14, total shift
    // 15 - 0 = 15: out = (acc * 2^14 + 2^14) >> 15 = floor((acc + 1) / 2), ties towards +inf
    // (the int32 path would round -2.5 to -3).
    const std::vector<std::int8_t> w{1, 4, -1, 1, 2, 0};  // [3, 2]
    const std::vector<std::int64_t> bias{0, 3, 3'000'000'000};  // the last one does not fit int32
    auto params = make_params<std::int16_t>({2, 2}, {3, 2}, 1.0f, 0, 0.5f, 1.0f, 0);
    params.weights = w;
    params.bias = bias;
    const std::vector<std::int16_t> x{7, -3, 100, 25};
    // row 0: o0 7 - 12 = -5 -> floor(-4 / 2) = -2;  o1 -7 - 3 + 3 = -7 -> floor(-6 / 2) = -3
    //        o2 14 + 3e9 -> 1500000007 -> clamps at 32767
    // row 1: o0 100 + 100 = 200 -> 100;  o1 -100 + 25 + 3 = -72 -> floor(-71 / 2) = -36;  o2 -> 32767
    check_both(ops::prepare(params), x, {-2, -3, 32767, 100, -36, 32767});

    // Per channel, weights scales {0.5, 0.25, 1} -> M = {0.5, 0.25, 1}:
    //   0.25 -> (2^30, -1): Q15 2^14, total shift 16: floor((acc + 2) / 4)
    //   1    -> (2^30, 1):  Q15 2^14, total shift 14: (acc * 2^14 + 2^13) >> 14 = acc
    const std::vector<std::int64_t> bias2{0, 3, -20};
    params.weights_quant = quant_params{{0.5f, 0.25f, 1.0f}, {0, 0, 0}, 0, 0};
    params.bias = bias2;
    // row 0: o0 -5 -> -2;  o1 -7 -> floor(-5 / 4) = -2;  o2 14 - 20 = -6
    // row 1: o0 200 -> 100;  o1 -72 -> floor(-70 / 4) = -18;  o2 200 - 20 = 180
    check_both(ops::prepare(params), x, {-2, -2, -6, 100, -18, 180});
}

TEST_CASE("fully_connected: int4 weights (int8 and int16 activations), hand-computed") {
    // weights [[1, -2, 3], [-8, 7, 0]] flattened and packed two per byte, element 2k in the
    // low nibble (I = 3 is odd: the second row starts in the high nibble of byte 1):
    //   byte 0 = 1 | (-2 & 15) << 4 = 0xE1,  byte 1 = 3 | (-8 & 15) << 4 = 0x83,  byte 2 = 7 | 0 << 4 = 0x07
    const std::vector<std::uint8_t> packed{0xE1, 0x83, 0x07};
    {
        // in scale 1, zp 1; weights 1; out 1, zp 0: M = 1 -> (2^30, 1): srdhm(2 acc, 2^30) = acc.
        const std::vector<std::int32_t> bias{10, 0};
        auto params = make_params<std::int8_t, int4>({1, 3}, {2, 3}, 1.0f, 1, 1.0f, 1.0f, 0);
        params.weights = packed;
        params.bias = bias;
        const auto p = ops::prepare(params);
        CHECK(p.weights == std::vector<std::int8_t>{1, -2, 3, -8, 7, 0});
        // x - zp = {3, -1, -3}: o0 3 + 2 - 9 = -4, +10 = 6;  o1 -24 - 7 + 0 = -31
        check_both(p, std::vector<std::int8_t>{4, 0, -2}, {6, -31});
        // per channel (scales {1, 0.5}): 0.5 -> (2^30, shift 0), so the only rounding is the Q31
        // doubling high multiply's, ties towards +inf: o1 -31 * 0.5 = -15.5 -> -15
        params.weights_quant = quant_params{{1.0f, 0.5f}, {0, 0}, 0, 0};
        check_both(ops::prepare(params), std::vector<std::int8_t>{4, 0, -2}, {6, -15});
    }
    {
        // 16x8 with int4 weights: M = 1 -> Q15 2^14, total shift 14: out = acc.
        const std::vector<std::int64_t> bias{0, -100};
        auto params = make_params<std::int16_t, int4>({1, 3}, {2, 3}, 1.0f, 0, 1.0f, 1.0f, 0);
        params.weights = packed;
        params.bias = bias;
        // o0 300 + 400 + 15 = 715;  o1 -2400 - 1400 + 0 - 100 = -3900
        check_both(ops::prepare(params), std::vector<std::int16_t>{300, -200, 5}, {715, -3900});
    }
}

TEST_CASE("fully_connected: keep_num_dims and flattening of the input") {
    const std::vector<std::int8_t> w{1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1};  // [4, 3]: picks x0, x1, x2, and their sum
    const std::vector<std::int8_t> x{1, 2, 3, -4, -5, -6};
    auto params = make_params<std::int8_t>({2, 1, 3}, {4, 3}, 1.0f, 0, 1.0f, 1.0f, 0);
    params.weights = w;
    const std::vector<std::int8_t> expected{1, 2, 3, 6, -4, -5, -6, -15};
    params.keep_num_dims = true;
    auto p = ops::prepare(params);
    CHECK(p.output_shape == qtl::shape{2, 1, 4});
    check_both(p, x, expected);
    params.keep_num_dims = false;
    p = ops::prepare(params);
    CHECK(p.output_shape == qtl::shape{2, 4});
    check_both(p, x, expected);
    // TFLite flattens any input whose element count is a multiple of I: [1, 2, 3] against I = 6.
    std::vector<std::int8_t> w6(4 * 6, 0);
    for (int o = 0; o < 4; ++o) w6[o * 6 + o] = 1;  // picks x0 .. x3
    params.input_shape = {1, 2, 3};
    params.weights_shape = {4, 6};
    params.weights = w6;
    p = ops::prepare(params);
    CHECK(p.output_shape == qtl::shape{1, 4});
    check_both(p, x, {1, 2, 3, -4});
    // An empty batch: [0, 6] -> [0, 4], nothing to compute.
    params.input_shape = {0, 6};
    p = ops::prepare(params);
    CHECK(p.output_shape == qtl::shape{0, 4});
    check_both(p, std::vector<std::int8_t>{}, {});
}

TEST_CASE("fully_connected: block-wise int4 (hybrid float), hand-computed") {
    // weights [4, 32] (TFLite's block-wise kernel needs O >= 4, I >= 32), block size 16; the only
    // non-zero weights: o0 = {1, -1} at inputs 0, 1 (block 0) and {2, 3} at inputs 16, 17
    // (block 1); o1 = {-8, 7} and {0, -1} at the same places.  Scales (per output, per block):
    // o0 {0.5, 0.25}, o1 {1, 0.125}, o2 {1, 1}, o3 {2, 2}; bias {1, -2, 0.5, -0.75}.
    // Packed bytes (flat index / 2): byte 0 = 0xF1 (1, -1), byte 8 = 0x32 (2, 3),
    // byte 16 = 0x78 (-8, 7), byte 24 = 0xF0 (0, -1), all others 0.
    std::vector<std::uint8_t> packed(64, 0);
    packed[0] = 0xF1;
    packed[8] = 0x32;
    packed[16] = 0x78;
    packed[24] = 0xF0;
    const std::vector<float> bias{1.0f, -2.0f, 0.5f, -0.75f};
    ops::fully_connected_blockwise_params params;
    params.input_shape = {2, 32};
    params.weights_shape = {4, 32};
    params.weights = packed;
    params.bias = bias;
    params.weights_quant = quant_params{{0.5f, 0.25f, 1.0f, 0.125f, 1.0f, 1.0f, 2.0f, 2.0f}, {}, 1, 16};
    const auto p = ops::prepare(params);
    CHECK(p.weights[0] == 1);
    CHECK(p.weights[1] == -1);
    CHECK(p.weights[32 + 16] == 0);
    CHECK(p.weights[32 + 17] == -1);
    // Row 0: x[0] = 227, x[1] = -28, x[17] = 10, all else 0: range [-28, 227] -> scale 255 / 255
    // = 1; zero point from the min -128 + 28 = -100 (error 156 < 354 from the max, same value);
    // q = round(-100 + x): q[0] = 127, q[1] = -128, q[17] = -90, every other code -100 (it
    // meets only zero weights).
    //   o0: dots {127 + 128, -200 - 270} = {255, -470}: 127.5 - 117.5 = 10; weight sums {0, 5}:
    //       kfsum = 0.25 * 5 = 1.25; 10 - (-100 * 1.25) = 135; * 1 + 1 = 136
    //       (= 0.5 * (227 + 28) + 0.25 * 30 + 1, the exact float answer)
    //   o1: dots {-1016 - 896, 90} = {-1912, 90}: -1912 + 11.25 = -1900.75; sums {-1, -1}:
    //       kfsum = -1.125; -1900.75 - 112.5 = -2013.25; -2 -> -2015.25
    //   o2, o3: no weights: 0 - (-100 * 0) = 0, the bias.
    // Row 1 = 0: scale 1, zero point 0, all codes 0: the output is the bias.
    std::vector<float> x(64, 0.0f);
    x[0] = 227.0f;
    x[1] = -28.0f;
    x[17] = 10.0f;
    const std::vector<float> expected{136.0f, -2015.25f, 0.5f, -0.75f, 1.0f, -2.0f, 0.5f, -0.75f};
    CHECK(run_reference(p, x) == expected);
    CHECK(run_simd(p, x) == expected);
}

TEST_CASE("fully_connected: hybrid input quantization follows TFLite's asymmetric rule") {
    namespace fc = ops::detail::fully_connected;
    std::int8_t q[4];
    // [0, 2.55]: range widened to include 0 = [0, 2.55], scale 0.01; zero point from the min
    // -128 - 0 = -128 (error 128 < 127 + 255); q = round(-128 + x / 0.01)
    const float a[3] = {0.0f, 2.55f, 1.0f};
    auto r = fc::quantize_row_asymmetric(a, 3, q);
    CHECK(r.scale == doctest::Approx(0.01f));
    CHECK(r.zero_point == -128);
    CHECK(q[0] == -128);
    CHECK(q[1] == 127);
    CHECK(q[2] == -28);
    // [-5.1, 0]: scale 0.02, zero point from the max 127 - 0 = 127 (error 127 < 128 + 255)
    const float b[2] = {-5.1f, -1.0f};
    r = fc::quantize_row_asymmetric(b, 2, q);
    CHECK(r.zero_point == 127);
    CHECK(q[0] == -128);
    CHECK(q[1] == 77);  // 127 - 50
    // all zero: scale 1, zero point 0
    const float z[3] = {0.0f, 0.0f, 0.0f};
    r = fc::quantize_row_asymmetric(z, 3, q);
    CHECK(r.scale == 1.0f);
    CHECK(r.zero_point == 0);
    CHECK((q[0] == 0 && q[1] == 0 && q[2] == 0));
}

// --- SIMD == reference, random inputs at tile edges ---------------------------

namespace {

const std::vector<std::size_t> tested_depths{1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 255, 256, 257, 300};
const std::vector<std::size_t> tested_output_depths{1, 3, 4, 5, 7, 9};

template <class In, class Weight>
struct random_case {
    std::vector<ops::fully_connected_weight_storage_t<Weight>> weights;
    std::vector<ops::fully_connected_bias_t<In>> bias;
    std::vector<In> input;
    ops::fully_connected_params<In, Weight> params;
};

template <class In, class Weight>
random_case<In, Weight> make_random_case(std::mt19937& rng, std::size_t rows, std::size_t depth, std::size_t outputs,
                                         bool per_channel, bool allow_large_multipliers = true) {
    using bias_type = ops::fully_connected_bias_t<In>;
    constexpr bool is_16x8 = std::is_same_v<In, std::int16_t>;
    std::uniform_real_distribution<float> unit(0.0f, 1.0f);
    random_case<In, Weight> c;
    auto& p = c.params;
    p.input_shape = {static_cast<std::int32_t>(rows), static_cast<std::int32_t>(depth)};
    p.weights_shape = {static_cast<std::int32_t>(outputs), static_cast<std::int32_t>(depth)};
    if constexpr (std::is_same_v<Weight, int4>) {
        c.weights.resize(packed_int4_bytes(outputs * depth));
        for (auto& b : c.weights) b = static_cast<std::uint8_t>(rng());
    } else {
        c.weights.resize(outputs * depth);
        for (auto& w : c.weights) w = static_cast<std::int8_t>(rng());  // includes -128
    }
    if (rng() % 4 != 0) {
        c.bias.resize(outputs);
        for (auto& b : c.bias) {
            if constexpr (is_16x8) {
                b = static_cast<bias_type>(static_cast<std::int64_t>(rng() % (1u << 30)) * 64 - (1LL << 35));
            } else {
                // mostly moderate, sometimes near the int32 limits to exercise the wrap-around
                b = rng() % 8 == 0 ? static_cast<bias_type>(rng()) : static_cast<bias_type>(rng() % 200001) - 100000;
            }
        }
    }
    c.input.resize(rows * depth);
    for (auto& v : c.input) v = static_cast<In>(rng());
    p.input_scale = 0.001f + unit(rng) * 0.1f;
    p.input_zero_point = is_16x8 ? 0 : static_cast<std::int32_t>(rng() % 256) - 128;
    const std::size_t scale_count = per_channel ? outputs : 1;
    p.weights_quant.axis = per_channel ? 0 : -1;
    for (std::size_t s = 0; s < scale_count; ++s) {
        p.weights_quant.scales.push_back(0.0005f + unit(rng) * 0.02f);
        p.weights_quant.zero_points.push_back(0);
    }
    // Typical output scales (multipliers well below 1), sometimes multipliers above 1 (where the
    // left shift may wrap the accumulator, as TFLite's does).
    const float typical = p.input_scale * p.weights_quant.scales[0] * 60.0f * std::sqrt(static_cast<float>(depth)) *
                          (0.25f + 4.0f * unit(rng)) * (is_16x8 ? 256.0f : 1.0f);
    const bool large_multiplier = !is_16x8 && allow_large_multipliers && rng() % 8 == 0;
    p.output_scale = large_multiplier ? p.input_scale * p.weights_quant.scales[0] / (1.0f + 50 * unit(rng)) : typical;
    p.output_zero_point = is_16x8 ? 0 : static_cast<std::int32_t>(rng() % 256) - 128;
    p.activation = static_cast<fused_activation>(rng() % 4);  // none, relu, relu_n1_to_1, relu6
    p.weights = c.weights;
    p.bias = c.bias;
    return c;
}

template <class A, class In, class Weight>
void check_simd_equals_reference(std::uint32_t seed) {
    std::mt19937 rng(seed);
    for (const bool per_channel : {false, true}) {
        for (const std::size_t depth : tested_depths) {
            for (const std::size_t outputs : tested_output_depths) {
                for (std::size_t rows = 1; rows <= 3; ++rows) {
                    auto c = make_random_case<In, Weight>(rng, rows, depth, outputs, per_channel);
                    const auto p = ops::prepare(c.params);
                    const auto expected = run_reference(p, c.input);
                    const auto got = run_simd<A>(p, c.input);
                    INFO("arch " << A::name() << ", rows " << rows << ", I " << depth << ", O " << outputs
                                 << (per_channel ? ", per channel" : ", per tensor"));
                    REQUIRE(got == expected);
                }
            }
        }
    }
}

}  // namespace

TEST_CASE_TEMPLATE_DEFINE("fully_connected: SIMD == reference, every type signature, random inputs", A, simd_equals_reference_test) {
    check_simd_equals_reference<A, std::int8_t, std::int8_t>(1);
    check_simd_equals_reference<A, std::int8_t, int4>(2);
    check_simd_equals_reference<A, std::int16_t, std::int8_t>(3);
    check_simd_equals_reference<A, std::int16_t, int4>(4);
}

TEST_CASE_TEMPLATE_DEFINE("fully_connected: SIMD == reference at the extremes of the int16 accumulation", A, simd_extremes_test) {
    // 16x8: every product (-128) * (-32768) = 2^22, so each 256-product chunk sums to 2^30
    // (the most an int32 partial may hold); and int8 with a long row that wraps int32.
    for (const std::size_t depth : {255u, 256u, 257u, 1000u}) {
        const std::vector<std::int8_t> w(3 * depth, -128);
        const std::vector<std::int16_t> x(2 * depth, -32768);
        auto params = make_params<std::int16_t>({2, static_cast<std::int32_t>(depth)},
                                                {3, static_cast<std::int32_t>(depth)}, 1.0f, 0, 1.0f, 100.0f, 0);
        params.weights = w;
        const auto p = ops::prepare(params);
        INFO("arch " << A::name() << ", I " << depth);
        CHECK(run_simd<A>(p, x) == run_reference(p, x));
        CHECK(run_reference(p, x)[0] == 32767);  // 2^22 * depth / 100 saturates
    }
    {
        // int8: 70000 * (127 + 128) * 127 > 2^31: the int32 accumulator wraps the same way in both paths.
        const std::size_t depth = 70000;
        const std::vector<std::int8_t> w(depth, 127);
        const std::vector<std::int8_t> x(depth, 127);
        auto params = make_params<std::int8_t>({1, static_cast<std::int32_t>(depth)},
                                               {1, static_cast<std::int32_t>(depth)}, 1.0f, -128, 1.0f, 1e6f, 0);
        params.weights = w;
        const auto p = ops::prepare(params);
        CHECK(run_simd<A>(p, x) == run_reference(p, x));
    }
}

TEST_CASE_TEMPLATE_DEFINE("fully_connected: block-wise SIMD == reference, random inputs", A, blockwise_simd_test) {
    std::mt19937 rng(5);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::uniform_real_distribution<float> unit(0.0f, 1.0f);
    for (const std::size_t block : {2u, 4u, 30u, 32u, 34u, 64u}) {
        for (const std::size_t extra_blocks : {0u, 1u, 2u}) {
            const std::size_t blocks = (32 + block - 1) / block + extra_blocks;  // I >= 32
            for (const std::size_t outputs : {4u, 5u, 7u, 8u, 9u}) {
                for (std::size_t rows = 1; rows <= 3; ++rows) {
                    const std::size_t depth = block * blocks;
                    std::vector<std::uint8_t> packed(packed_int4_bytes(outputs * depth));
                    for (auto& b : packed) b = static_cast<std::uint8_t>(rng());
                    std::vector<float> bias(rng() % 2 ? outputs : 0);
                    for (auto& b : bias) b = normal(rng);
                    std::vector<float> x(rows * depth);
                    const int kind = static_cast<int>(rng() % 4);  // mixed signs, positive only, negative only, zero
                    for (auto& v : x) {
                        const float n = normal(rng) * 3.0f;
                        v = kind == 0 ? n : kind == 1 ? std::abs(n) : kind == 2 ? -std::abs(n) : 0.0f;
                    }
                    ops::fully_connected_blockwise_params params;
                    params.input_shape = {static_cast<std::int32_t>(rows), static_cast<std::int32_t>(depth)};
                    params.weights_shape = {static_cast<std::int32_t>(outputs), static_cast<std::int32_t>(depth)};
                    params.weights = packed;
                    params.bias = bias;
                    params.weights_quant.axis = 1;
                    params.weights_quant.block_size = static_cast<int>(block);
                    for (std::size_t s = 0; s < outputs * blocks; ++s) params.weights_quant.scales.push_back(0.001f + unit(rng));
                    const auto p = ops::prepare(params);
                    const auto expected = run_reference(p, x);
                    const auto got = run_simd<A>(p, x);
                    INFO("arch " << A::name() << ", rows " << rows << ", block " << block << " x " << blocks << ", O "
                                 << outputs);
                    REQUIRE(std::memcmp(got.data(), expected.data(), got.size() * sizeof(float)) == 0);
                }
            }
        }
    }
}

TEST_CASE_TEMPLATE_APPLY(simd_equals_reference_test, tested_archs);
TEST_CASE_TEMPLATE_APPLY(simd_extremes_test, tested_archs);
TEST_CASE_TEMPLATE_APPLY(blockwise_simd_test, tested_archs);

// --- reference vs float math --------------------------------------------------

TEST_CASE("fully_connected: int8 reference vs float math") {
    // real = sum (x - in_zp) * in_s * w * w_s[o] + bias * in_s * w_s[o], clamped to the activation
    // range.  Bound, in output steps: 1 for the requantization (double rounding: <= 0.5 after the
    // Q31 product plus 0.5 after the rounding shift) + |real| / out_s * 2^-30 (the Q31 multiplier's
    // relative error is <= 2^-31).
    std::mt19937 rng(11);
    int checked = 0;
    for (int trial = 0; trial < 60; ++trial) {
        const std::size_t depth_drawn = 1 + rng() % 200, outputs_drawn = 1 + rng() % 9;
        auto c = make_random_case<std::int8_t, std::int8_t>(rng, 2, depth_drawn, outputs_drawn, trial % 2 == 0, false);
        const auto& params = c.params;
        const auto p = ops::prepare(params);
        const auto out = run_reference(p, c.input);
        const std::size_t depth = p.input_depth, outputs = p.output_depth;
        for (std::size_t r = 0; r < p.rows; ++r) {
            for (std::size_t o = 0; o < outputs; ++o) {
                const double ws = params.weights_quant.scales[params.weights_quant.axis == 0 ? o : 0];
                double real = 0.0;
                for (std::size_t i = 0; i < depth; ++i)
                    real += (c.input[r * depth + i] - params.input_zero_point) * double{params.input_scale} *
                            (c.weights[o * depth + i] * ws);
                if (!c.bias.empty()) real += c.bias[o] * double{params.input_scale} * ws;
                const double os = params.output_scale;
                const double lo = (p.requant.activation_min - params.output_zero_point) * os;
                const double hi = (p.requant.activation_max - params.output_zero_point) * os;
                const double expected = std::min(std::max(real, lo), hi);
                const double got = (out[r * outputs + o] - params.output_zero_point) * os;
                const double bound = os * (1.0 + std::abs(real) / os * std::ldexp(1.0, -30)) + 1e-12;
                INFO("trial " << trial << " real " << real << " got " << got);
                CHECK(std::abs(got - expected) <= bound);
                ++checked;
            }
        }
    }
    CHECK(checked > 100);
}

TEST_CASE("fully_connected: 16x8 reference vs float math") {
    // Same, with TFLite's 64-bit requantization: the multiplier is cut to Q15 (relative error
    // <= 2^-15) and rounded once (0.5 step): bound 0.5 * out_s + |real| * 2^-15.
    std::mt19937 rng(12);
    for (int trial = 0; trial < 60; ++trial) {
        const std::size_t depth_drawn = 1 + rng() % 300, outputs_drawn = 1 + rng() % 9;
        auto c = make_random_case<std::int16_t, std::int8_t>(rng, 2, depth_drawn, outputs_drawn, trial % 2 == 0);
        const auto& params = c.params;
        const auto p = ops::prepare(params);
        const auto out = run_reference(p, c.input);
        const std::size_t depth = p.input_depth, outputs = p.output_depth;
        for (std::size_t r = 0; r < p.rows; ++r) {
            for (std::size_t o = 0; o < outputs; ++o) {
                const double ws = params.weights_quant.scales[params.weights_quant.axis == 0 ? o : 0];
                double real = 0.0;
                for (std::size_t i = 0; i < depth; ++i)
                    real += c.input[r * depth + i] * double{params.input_scale} * (c.weights[o * depth + i] * ws);
                if (!c.bias.empty()) real += static_cast<double>(c.bias[o]) * double{params.input_scale} * ws;
                const double os = params.output_scale;
                const double expected =
                    std::min(std::max(real, p.requant.activation_min * os), p.requant.activation_max * os);
                const double got = out[r * outputs + o] * os;
                INFO("trial " << trial << " real " << real << " got " << got);
                CHECK(std::abs(got - expected) <= 0.5 * os + std::abs(real) * std::ldexp(1.0, -15) + 1e-12);
            }
        }
    }
}

TEST_CASE("fully_connected: block-wise reference vs float math") {
    // real = sum_b scale[o, b] * sum_k x[k] * w[o, k] + bias[o] with the float input.  The input is
    // quantized with step s (error <= s / 2 per element, plus the float inverse's relative error
    // ~2^-23 * |x| / s steps); the float combination adds a few ulps of the magnitudes involved:
    // bound sum_k |w[o, k] * scale| * (s / 2 + 2^-20 |x[k]|) + 2^-18 (sum of |terms| + |bias|).
    std::mt19937 rng(13);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::uniform_real_distribution<float> unit(0.0f, 1.0f);
    for (int trial = 0; trial < 40; ++trial) {
        const std::size_t block = 2 * (1 + rng() % 40), extra_blocks = rng() % 3, outputs = 4 + rng() % 6, rows = 2;
        const std::size_t blocks = (32 + block - 1) / block + extra_blocks;  // I >= 32
        const std::size_t depth = block * blocks;
        std::vector<std::uint8_t> packed(packed_int4_bytes(outputs * depth));
        for (auto& b : packed) b = static_cast<std::uint8_t>(rng());
        std::vector<float> bias(outputs);
        for (auto& b : bias) b = normal(rng);
        std::vector<float> x(rows * depth);
        for (auto& v : x) v = normal(rng) * 2.0f + (trial % 3 == 0 ? 3.0f : 0.0f);
        ops::fully_connected_blockwise_params params;
        params.input_shape = {static_cast<std::int32_t>(rows), static_cast<std::int32_t>(depth)};
        params.weights_shape = {static_cast<std::int32_t>(outputs), static_cast<std::int32_t>(depth)};
        params.weights = packed;
        params.bias = bias;
        params.weights_quant.axis = 1;
        params.weights_quant.block_size = static_cast<int>(block);
        for (std::size_t s = 0; s < outputs * blocks; ++s) params.weights_quant.scales.push_back(0.01f + unit(rng));
        const auto p = ops::prepare(params);
        const auto out = run_reference(p, x);
        for (std::size_t r = 0; r < rows; ++r) {
            const float* row = x.data() + r * depth;
            const float lo = std::min(0.0f, *std::min_element(row, row + depth));
            const float hi = std::max(0.0f, *std::max_element(row, row + depth));
            const double step = (double{hi} - lo) / 255.0;
            for (std::size_t o = 0; o < outputs; ++o) {
                double real = bias[o], magnitude = std::abs(bias[o]), bound = 0.0;
                for (std::size_t k = 0; k < depth; ++k) {
                    const double w = p.weights[o * depth + k] * double{p.block_scales[o * blocks + k / block]};
                    real += w * row[k];
                    magnitude += std::abs(w * row[k]);
                    bound += std::abs(w) * (step / 2 + std::ldexp(std::abs(row[k]), -20));
                }
                bound += std::ldexp(magnitude, -18);
                INFO("trial " << trial << " real " << real << " got " << out[r * outputs + o]);
                CHECK(std::abs(out[r * outputs + o] - real) <= bound);
            }
        }
    }
}

// --- TensorFlow's hello_world int8 model ---------------------------------------

namespace {

// The weights and biases of ../shared/models/hello_world_int8.tflite (three FULLY_CONNECTED v4,
// TensorFlow's own full-integer quantization of y = sin(x)), read once from the flatbuffer with a
// throwaway script and written here by hand.  Layer 1: [16, 1] ReLU, layer 2: [16, 16] ReLU,
// layer 3: [1, 16]; every weight tensor per tensor with zero point 0, bias scale = in * w.
const std::vector<std::int8_t> hw_w1{
    -9, -54, 57, 71, 104, 115, 98, 99, 64, -26, 127, 25, -82, 68, 95, 86,
};
const std::vector<std::int32_t> hw_b1{
    0, 0, -5438, -5515, -1352, -1500, -4152, -84,
    3396, 0, 1981, -5581, 0, -6964, 3407, -7217,
};
const std::vector<std::int8_t> hw_w2{
    -12, 26, -19, 9, 25, 33, -12, 36, -32, 33, -17, -68, -9, -11, -6, 25,
    3, -36, -46, 2, 6, -7, -12, 2, -1, -6, -17, -15, -17, -45, 39, -31,
    -5, 39, -35, -21, -37, -28, 5, 26, 23, -4, 36, 18, 21, -17, 30, -28,
    16, -2, 20, -38, 28, -8, -13, -15, -17, -30, -13, 9, -29, -23, -19, -29,
    -28, 21, 7, 11, 4, 27, 26, -2, -21, 1, -34, 33, -26, 11, -20, 3,
    35, 10, 34, 36, 30, 39, 3, -26, 3, 36, -1, -64, 17, -8, -4, -15,
    17, 12, -11, -32, -13, 7, 23, -27, -24, -19, -6, -36, -24, 35, -5, 7,
    -35, -5, -3, 0, 20, 38, 17, 23, -25, -15, 17, -22, 2, 38, 4, 4,
    37, 33, 29, 10, -37, 29, -36, 32, 1, -6, -29, 55, 11, -15, 26, 22,
    -17, 28, -25, 3, -32, 22, 2, 3, 33, 24, 9, 46, -39, -27, 20, 11,
    -22, 26, -4, -40, 19, 0, -60, -40, -20, -39, -2, 13, 25, 32, -40, -42,
    -30, 31, -23, -41, -54, -30, -35, -58, 19, -25, 4, 62, 0, 1, 20, -57,
    -37, -25, 21, 21, -11, 6, -42, 26, -36, 9, 34, -2, 8, 2, 19, -17,
    25, 30, -30, 9, -3, -13, 20, -35, -38, 32, -39, 15, -29, -7, -9, -18,
    -23, 36, -26, 41, 0, 7, 22, -30, 30, 13, 35, -45, -35, -9, 20, -6,
    8, 34, 38, 33, 9, 8, 15, 11, -32, 18, -12, 127, -36, 88, -27, 38,
};
const std::vector<std::int32_t> hw_b2{
    -729, 1954, 610, 0, 241, -471, -35, -867,
    571, 581, 4260, 3943, 591, 0, -889, -5103,
};
const std::vector<std::int8_t> hw_w3{
    -39, 59, 39, 21, 28, -32, -34, -35, 15, 27, -59, -41, 18, -35, -7, 127,
};
const std::vector<std::int32_t> hw_b3{
    429,
};

}  // namespace

TEST_CASE("fully_connected: TensorFlow's hello_world int8 model approximates sin(x)") {
    // Tensor parameters from the same file (scale, zero point):
    //   input 0.024480115622282028, -128;  layer 1 weights 0.004039009101688862, out 0.01332512404769659, -128
    //   layer 2 weights 0.010894655250012875, out 0.012775269336998463, -128
    //   layer 3 weights 0.015397093258798122, out 0.008290956728160381, 5
    // The oracle is TFLite Micro's hello_world_test: for x in {0.77, 1.57, 2.3, 3.14} the
    // dequantized output is within 0.05 of sin(x).  (Not bit-exact: there is no TFLite golden.)
    const float in_scale = 0.024480115622282028f, h1_scale = 0.01332512404769659f, h2_scale = 0.012775269336998463f;
    const float out_scale = 0.008290956728160381f;
    const std::vector<float> xs{0.77f, 1.57f, 2.3f, 3.14f};
    const std::int32_t rows = static_cast<std::int32_t>(xs.size());
    std::vector<std::int8_t> x;
    for (const float v : xs) x.push_back(static_cast<std::int8_t>(std::lround(v / in_scale) - 128));
    CHECK(x == std::vector<std::int8_t>{-97, -64, -34, 0});  // 31.45 -> 31, 64.13 -> 64, 93.95 -> 94, 128.27 -> 128

    auto l1 = make_params<std::int8_t>({rows, 1}, {16, 1}, in_scale, -128, 0.004039009101688862f, h1_scale, -128);
    l1.weights = hw_w1;
    l1.bias = hw_b1;
    l1.activation = fused_activation::relu;
    auto l2 = make_params<std::int8_t>({rows, 16}, {16, 16}, h1_scale, -128, 0.010894655250012875f, h2_scale, -128);
    l2.weights = hw_w2;
    l2.bias = hw_b2;
    l2.activation = fused_activation::relu;
    auto l3 = make_params<std::int8_t>({rows, 16}, {1, 16}, h2_scale, -128, 0.015397093258798122f, out_scale, 5);
    l3.weights = hw_w3;
    l3.bias = hw_b3;
    const auto p1 = ops::prepare(l1), p2 = ops::prepare(l2), p3 = ops::prepare(l3);

    const auto h1 = run_reference(p1, x);
    const auto h2 = run_reference(p2, h1);
    const auto y = run_reference(p3, h2);
    CHECK(run_simd(p1, x) == h1);
    CHECK(run_simd(p2, h1) == h2);
    CHECK(run_simd(p3, h2) == y);
    for (std::size_t i = 0; i < xs.size(); ++i) {
        const float predicted = static_cast<float>(y[i] - 5) * out_scale;
        INFO("x = " << xs[i] << ", code " << int(y[i]) << ", predicted " << predicted);
        CHECK(std::abs(predicted - std::sin(xs[i])) <= 0.05f);
    }
}

// --- error paths --------------------------------------------------------------

TEST_CASE("fully_connected: prepare() rejects bad specs, naming the op and the problem") {
    const std::vector<std::int8_t> w(6, 1);
    const std::vector<std::int32_t> bias(2, 0);
    const auto good = [&] {
        auto p = make_params<std::int8_t>({1, 3}, {2, 3}, 0.5f, 0, 0.25f, 1.0f, 0);
        p.weights = w;
        p.bias = bias;
        return p;
    };
    CHECK_NOTHROW(ops::prepare(good()));
    const auto throws = [](const auto& params, const char* message) {
        CHECK_THROWS_WITH_AS(ops::prepare(params), doctest::Contains(message), error);
        CHECK_THROWS_WITH_AS(ops::prepare(params), doctest::Contains("FULLY_CONNECTED"), error);
    };
    auto p = good();
    p.weights_shape = {6};
    throws(p, "weights must have rank 2 [O, I], got shape [6]");
    p = good();
    p.weights_shape = {0, 3};
    throws(p, "needs O > 0 and I > 0");
    p = good();
    p.weights = std::span<const std::int8_t>(w.data(), 5);
    throws(p, "weights [2, 3] need 6 values, got 5");
    p = good();
    p.bias = std::span<const std::int32_t>(bias.data(), 1);
    throws(p, "bias must have O = 2 values (or none), got 1");
    p = good();
    p.input_shape = {2, 2};
    throws(p, "has 4 elements, not a multiple of I = 3");
    p = good();
    p.input_shape = {1, 1, 3, 1};
    p.keep_num_dims = true;
    throws(p, "with keep_num_dims the input's last dimension must equal I = 3");
    p = good();
    p.input_shape = {};
    throws(p, "input must have rank >= 1");
    for (const float bad : {0.0f, -1.0f, std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
        p = good();
        p.input_scale = bad;
        throws(p, "input scale must be finite and > 0");
        p = good();
        p.output_scale = bad;
        throws(p, "output scale must be finite and > 0");
        p = good();
        p.weights_quant.scales = {bad};
        throws(p, "weights scale must be finite and > 0");
    }
    p = good();
    p.input_zero_point = 128;
    throws(p, "input zero point must be in [-128, 127], got 128");
    p = good();
    p.output_zero_point = -129;
    throws(p, "output zero point must be in [-128, 127], got -129");
    p = good();
    p.weights_quant.zero_points = {3};
    throws(p, "weights must be symmetric (zero point 0, as TFLite requires), got 3");
    p = good();
    p.weights_quant = quant_params{{0.1f, 0.2f, 0.3f}, {0, 0, 0}, 0, 0};
    throws(p, "per-channel weights need O = 2 scales, got 3");
    p = good();
    p.weights_quant = quant_params{{0.1f, 0.2f, 0.3f}, {0, 0, 0}, 1, 0};
    throws(p, "per-channel weights must be quantized on axis 0 (output channels), got axis 1");
    p = good();
    p.weights_quant = quant_params{{0.1f}, {0, 0}, -1, 0};
    throws(p, "weights need one zero point per scale: 1 scales, 2 zero points");
    p = good();
    p.weights_quant = quant_params{{0.1f, 0.2f}, {0, 0}, -1, 0};
    throws(p, "per-tensor weights need 1 scale, got 2");
    p = good();
    p.weights_quant = quant_params{{0.1f, 0.2f}, {0, 0}, 1, 3};
    throws(p, "use fully_connected_blockwise_params");
    p = good();
    p.activation = fused_activation::tanh;
    throws(p, "fused activation must be NONE, RELU, RELU_N1_TO_1 or RELU6, got 4");

    // int4: the packed byte count
    const std::vector<std::uint8_t> packed(2, 0);
    auto p4 = make_params<std::int8_t, int4>({1, 3}, {2, 3}, 1.0f, 0, 1.0f, 1.0f, 0);
    p4.weights = packed;
    throws(p4, "int4 weights [2, 3] need 3 packed bytes, got 2");

    // 16x8: zero points 0, multiplier below 128
    const std::vector<std::int64_t> bias64(2, 0);
    auto p16 = make_params<std::int16_t>({1, 3}, {2, 3}, 1.0f, 0, 1.0f, 1.0f, 0);
    p16.weights = w;
    p16.bias = bias64;
    CHECK_NOTHROW(ops::prepare(p16));
    p16.input_zero_point = 1;
    throws(p16, "input zero point must be 0 for int16 (16x8) tensors, got 1");
    p16.input_zero_point = 0;
    p16.output_zero_point = -1;
    throws(p16, "output zero point must be 0 for int16 (16x8) tensors, got -1");
    p16.output_zero_point = 0;
    p16.output_scale = 1.0f / 200.0f;  // M = 200
    throws(p16, "must be below 128 for TFLite's 16x8 requantization");
    p16.output_scale = 1.0f / 127.0f;  // M = 127: fine
    CHECK_NOTHROW(ops::prepare(p16));
}

TEST_CASE("fully_connected: block-wise prepare() rejects what TFLite's kernel cannot run") {
    const std::vector<std::uint8_t> packed(64, 0);  // [4, 32]
    const std::vector<float> bias(4, 0.0f);
    const std::vector<float> scales(8, 1.0f);  // block size 16: 2 blocks per row
    const auto good = [&] {
        ops::fully_connected_blockwise_params p;
        p.input_shape = {1, 32};
        p.weights_shape = {4, 32};
        p.weights = packed;
        p.bias = bias;
        p.weights_quant = quant_params{scales, {}, 1, 16};
        return p;
    };
    CHECK_NOTHROW(ops::prepare(good()));
    const auto throws = [](const ops::fully_connected_blockwise_params& params, const char* message) {
        CHECK_THROWS_WITH_AS(ops::prepare(params), doctest::Contains(message), error);
        CHECK_THROWS_WITH_AS(ops::prepare(params), doctest::Contains("FULLY_CONNECTED"), error);
    };
    auto p = good();
    p.weights_quant.block_size = 3;
    throws(p, "I = 32 must be a multiple of the block size 3");
    p = good();
    p.weights_quant.axis = 0;
    throws(p, "must be split along axis 1");
    p = good();
    p.weights_quant.block_size = 0;
    throws(p, "block-wise weights need block_size > 0");
    p = good();
    p.weights_quant.scales = {1.0f, 1.0f};
    throws(p, "need O * I / block = 8 scales, got 2");
    p = good();
    p.weights_quant.zero_points = {0, 0, 1, 0, 0, 0, 0, 0};
    throws(p, "weights must be symmetric");
    p = good();
    p.weights_quant.scales[2] = -1.0f;
    throws(p, "weights scale must be finite and > 0, got -1");
    p = good();
    p.activation = fused_activation::relu;
    throws(p, "TFLite's block-wise kernel applies no fused activation");
    p = good();
    p.weights = std::span<const std::uint8_t>(packed.data(), 63);
    throws(p, "need 64 packed bytes, got 63");
    p = good();
    p.weights_quant.block_size = 32768;
    throws(p, "block size must be <= 16384");
    p = good();
    const std::vector<float> nan_bias{0.0f, std::numeric_limits<float>::quiet_NaN(), 0.0f, 0.0f};
    p.bias = nan_bias;
    throws(p, "bias must be finite");
    // shapes TFLite's 4x32 packing cannot take
    const std::vector<std::uint8_t> packed_odd(packed_int4_bytes(4 * 33), 0);
    p = good();
    p.input_shape = {1, 33};
    p.weights_shape = {4, 33};
    p.weights = packed_odd;
    p.weights_quant = quant_params{std::vector<float>(4 * 33, 1.0f), {}, 1, 1};
    throws(p, "I = 33 must be even");
    p = good();
    p.weights_shape = {3, 32};
    p.weights = std::span<const std::uint8_t>(packed.data(), 48);
    p.bias = {};
    p.weights_quant.scales.resize(6);
    throws(p, "only with O >= 4 and I >= 32 (its 4x32 int4 packing), got weights [3, 32]");
    p = good();
    p.input_shape = {1, 16};
    p.weights_shape = {4, 16};
    p.weights = std::span<const std::uint8_t>(packed.data(), 32);
    p.weights_quant.scales.resize(4);
    throws(p, "got weights [4, 16]");
}

TEST_CASE("fully_connected: eval() rejects tensors whose shapes differ from the prepared ones") {
    const std::vector<std::int8_t> w(6, 1);
    auto params = make_params<std::int8_t>({2, 3}, {2, 3}, 0.5f, 0, 0.25f, 1.0f, 0);
    params.weights = w;
    const auto p = ops::prepare(params);
    std::vector<std::int8_t> in(6), out(4), small_out(2), in3(9);
    CHECK_THROWS_WITH_AS(ops::eval(p, {in3, {3, 3}}, {out, {2, 2}}),
                         doctest::Contains("input shape [3, 3] differs from the prepared [2, 3]"), error);
    CHECK_THROWS_WITH_AS(ops::reference::eval(p, {in3, {3, 3}}, {out, {2, 2}}),
                         doctest::Contains("input shape [3, 3] differs from the prepared [2, 3]"), error);
    CHECK_THROWS_WITH_AS(ops::eval(p, {in, {2, 3}}, {small_out, {1, 2}}),
                         doctest::Contains("output shape [1, 2] differs from the prepared [2, 2]"), error);
    CHECK_THROWS_WITH_AS(ops::reference::eval(p, {in, {2, 3}}, {small_out, {2, 1}}),
                         doctest::Contains("output shape [2, 1] differs from the prepared [2, 2]"), error);

    const std::vector<std::uint8_t> packed(64, 0);
    ops::fully_connected_blockwise_params bp;
    bp.input_shape = {1, 32};
    bp.weights_shape = {4, 32};
    bp.weights = packed;
    bp.weights_quant = quant_params{std::vector<float>(2 * 4, 1.0f), {}, 1, 16};
    const auto pb = ops::prepare(bp);
    std::vector<float> fin(64), fout(4), fout8(8);
    CHECK_THROWS_WITH_AS(ops::eval(pb, {fin, {2, 32}}, {fout, {1, 4}}),
                         doctest::Contains("input shape [2, 32] differs from the prepared [1, 32]"), error);
    CHECK_THROWS_WITH_AS(ops::reference::eval(pb, {fin, {2, 32}}, {fout, {1, 4}}),
                         doctest::Contains("input shape [2, 32] differs from the prepared [1, 32]"), error);
    CHECK_THROWS_WITH_AS(ops::eval(pb, {fin, {1, 64}}, {fout8, {2, 4}}), doctest::Contains("input shape [1, 64]"),
                         error);
    CHECK_THROWS_WITH_AS(ops::eval(pb, {std::span<const float>(fin.data(), 32), {1, 32}}, {fout8, {2, 4}}),
                         doctest::Contains("output shape [2, 4] differs from the prepared [1, 4]"), error);
}
