#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "qtl/fixedpoint/requantize.hpp"
#include "qtl/kernels/depthwise_int8.hpp"
#include "qtl/ops/depthwise_conv_2d.hpp"
#include "qtl/ops/reference/depthwise_conv_2d.hpp"

// kernels/depthwise_int8: every kernel this CPU runs, and the portable replay
// of every kernel's layout (AVX-512BW's pair rows and the VNNI kernels' quad
// rows included), equal a plain loop written
// here (TFLite's reference DepthwiseConvPerChannel: skipped padded taps,
// int32 sums wrapping, qtl::requantize) byte for byte, on random data over
// channel counts that hit the vector tails, depth multipliers, filter sizes,
// strides, dilations, SAME/VALID padding, zero points, per-tensor and
// per-channel multipliers and clamps; single rounding and the saturating
// INT32_MIN multiplier (the row requantize stage).  (The in-register
// requantize stage is tested in kernels/register_requantize.cpp.)  Then the DEPTHWISE_CONV_2D op routed to the kernel against the op's
// reference, and the error paths.

namespace {

using qtl::kernels::depthwise_int8_isa;
using qtl::kernels::depthwise_int8_spec;

struct dw_case {
    int batches = 1, height = 7, width = 9, channels = 8, multiplier = 1;
    int kh = 3, kw = 3, sh = 1, sw = 1, dh = 1, dw = 1;
    bool same = true;
    int in_zp = 0, out_zp = 0;
    bool per_channel = true;
    int act_min = -128, act_max = 127;
    bool extreme_bias = false;  // biases near the int32 limits: the sums wrap
    bool single_rounding = false;  // multipliers from quantize_multiplier<single_rounding>
    bool saturating_multiplier = false;  // one multiplier is INT32_MIN (the product that saturates)
    int max_shift = 1;  // shifts in [-14, max_shift]; -1: right shifts only (AVX-512 and AVX2 one_rounding)
    unsigned seed = 1;
};

std::string describe(const dw_case& c) {
    return "N" + std::to_string(c.batches) + " " + std::to_string(c.height) + "x" + std::to_string(c.width) + "x" +
           std::to_string(c.channels) + " M" + std::to_string(c.multiplier) + " k" + std::to_string(c.kh) + "x" +
           std::to_string(c.kw) + " s" + std::to_string(c.sh) + "," + std::to_string(c.sw) + " d" +
           std::to_string(c.dh) + "," + std::to_string(c.dw) + (c.same ? " SAME" : " VALID") + " zp " +
           std::to_string(c.in_zp) + "/" + std::to_string(c.out_zp) + (c.per_channel ? " per-channel" : " per-tensor") +
           " clamp [" + std::to_string(c.act_min) + "," + std::to_string(c.act_max) + "]" +
           (c.extreme_bias ? " extreme bias" : "");
}

// TFLite's output size and leading padding for one axis (its ComputePaddingHeightWidth).
void axis_geometry(int in, int k, int s, int d, bool same, int& out, int& pad) {
    const int dilated = (k - 1) * d + 1;
    out = same ? (in + s - 1) / s : (in - dilated + s) / s;
    const int total = std::max((out - 1) * s + dilated - in, 0);
    pad = same ? total / 2 : 0;
}

struct dw_problem {
    depthwise_int8_spec spec;
    std::vector<std::int8_t> input, weights;
    std::vector<std::int32_t> bias;
    std::vector<qtl::quantized_multiplier> multipliers;
    std::size_t output_size = 0;
};

dw_problem make_problem(const dw_case& c) {
    dw_problem p;
    std::mt19937 rng(c.seed);
    auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    const int oc = c.channels * c.multiplier;
    int oh = 0, ow = 0, pad_top = 0, pad_left = 0;
    axis_geometry(c.height, c.kh, c.sh, c.dh, c.same, oh, pad_top);
    axis_geometry(c.width, c.kw, c.sw, c.dw, c.same, ow, pad_left);
    REQUIRE(oh >= 1);
    REQUIRE(ow >= 1);
    p.input.resize(std::size_t(c.batches) * c.height * c.width * c.channels);
    for (auto& v : p.input) v = static_cast<std::int8_t>(uniform(-128, 127));
    p.weights.resize(std::size_t(c.kh) * c.kw * oc);
    for (auto& v : p.weights) v = static_cast<std::int8_t>(uniform(-127, 127));
    p.weights[0] = -128;  // legal for the kernel even if TFLite's quantizer never makes it
    p.bias.resize(std::size_t(oc));
    for (auto& v : p.bias)
        v = c.extreme_bias ? (uniform(0, 1) ? std::numeric_limits<std::int32_t>::max() - uniform(0, 5000)
                                            : std::numeric_limits<std::int32_t>::min() + uniform(0, 5000))
                           : uniform(-20000, 20000);
    // Multipliers in [2^30, 2^31) as quantize_multiplier makes them; shifts mostly right, some left.
    const int count = c.per_channel ? oc : 1;
    for (int i = 0; i < count; ++i) {
        if (c.single_rounding) {
            const double real = std::uniform_real_distribution<double>(1e-4, 1.5)(rng);
            p.multipliers.push_back(qtl::quantize_multiplier<qtl::single_rounding>(real));
        } else {
            p.multipliers.push_back({uniform(1 << 30, std::numeric_limits<std::int32_t>::max()), uniform(-14, c.max_shift)});
        }
    }
    if (c.saturating_multiplier) p.multipliers[0] = {std::numeric_limits<std::int32_t>::min(), -2};

    depthwise_int8_spec& s = p.spec;
    s.batches = c.batches;
    s.height = c.height;
    s.width = c.width;
    s.channels = c.channels;
    s.depth_multiplier = c.multiplier;
    s.kernel_height = c.kh;
    s.kernel_width = c.kw;
    s.stride_height = c.sh;
    s.stride_width = c.sw;
    s.dilation_height = c.dh;
    s.dilation_width = c.dw;
    s.pad_top = pad_top;
    s.pad_left = pad_left;
    s.output_height = oh;
    s.output_width = ow;
    s.weights = p.weights;
    s.bias = p.bias;
    s.input_zero_point = c.in_zp;
    s.multipliers = p.multipliers;
    s.output = {c.out_zp, c.act_min, c.act_max};
    p.output_size = std::size_t(c.batches) * oh * ow * oc;
    return p;
}

// The oracle: TFLite's reference loops, one output element at a time.
template <class Policy>
std::vector<std::int8_t> naive(const dw_problem& p) {
    const depthwise_int8_spec& s = p.spec;
    const int oc = s.channels * s.depth_multiplier;
    std::vector<std::int8_t> out(p.output_size);
    for (int n = 0; n < s.batches; ++n)
        for (int oy = 0; oy < s.output_height; ++oy)
            for (int ox = 0; ox < s.output_width; ++ox)
                for (int c = 0; c < s.channels; ++c)
                    for (int m = 0; m < s.depth_multiplier; ++m) {
                        const int o = c * s.depth_multiplier + m;
                        std::uint32_t acc = 0;  // int32 arithmetic modulo 2^32
                        for (int ky = 0; ky < s.kernel_height; ++ky)
                            for (int kx = 0; kx < s.kernel_width; ++kx) {
                                const int y = oy * s.stride_height - s.pad_top + ky * s.dilation_height;
                                const int x = ox * s.stride_width - s.pad_left + kx * s.dilation_width;
                                if (y < 0 || y >= s.height || x < 0 || x >= s.width) continue;
                                const int v = p.input[((std::size_t(n) * s.height + y) * s.width + x) * s.channels + c];
                                const int w = p.weights[(std::size_t(ky) * s.kernel_width + kx) * oc + o];
                                acc += static_cast<std::uint32_t>(w * (v - s.input_zero_point));
                            }
                        acc += static_cast<std::uint32_t>(p.bias[std::size_t(o)]);
                        const auto qm = p.multipliers[p.multipliers.size() == 1 ? 0 : std::size_t(o)];
                        out[((std::size_t(n) * s.output_height + oy) * s.output_width + ox) * oc + o] =
                            qtl::requantize<std::int8_t, Policy>(static_cast<std::int32_t>(acc), qm, s.output);
                    }
    return out;
}

// Every kernel this machine runs, and every kernel's portable replay.
template <class Policy = qtl::double_rounding>
void check_all_kernels(const dw_problem& p) {
    const std::vector<std::int8_t> expected = naive<Policy>(p);
    for (depthwise_int8_isa isa : qtl::kernels::all_depthwise_int8_isas) {
        CAPTURE(qtl::kernels::to_string(isa));
        const auto packed = qtl::kernels::pack_depthwise_int8(p.spec, isa);
        std::vector<std::int8_t> out(p.output_size, 0x55);
        qtl::kernels::depthwise_int8_emulated<Policy>(packed, p.input.data(), out.data());
        CHECK(out == expected);
        if (qtl::kernels::depthwise_int8_isa_supported(isa)) {
            std::fill(out.begin(), out.end(), std::int8_t{0x55});
            qtl::kernels::depthwise_int8<Policy>(packed, p.input.data(), out.data());
            CHECK(out == expected);
        }
    }
}

template <class Policy = qtl::double_rounding>
void check_all_kernels(const dw_case& c) {
    CAPTURE(describe(c));
    check_all_kernels<Policy>(make_problem(c));
}

}  // namespace

TEST_CASE("depthwise_int8: the packing's geometry") {
    dw_case c;
    c.channels = 17;
    c.multiplier = 2;
    c.kw = 5;
    c.sw = 2;
    c.dw = 2;
    c.in_zp = -5;
    const dw_problem p = make_problem(c);
    const auto avx2 = qtl::kernels::pack_depthwise_int8(p.spec, depthwise_int8_isa::avx2);
    const auto avx512 = qtl::kernels::pack_depthwise_int8(p.spec, depthwise_int8_isa::avx512bw);
    CHECK(avx2.lanes == 8);
    CHECK(avx512.lanes == 16);
    CHECK(avx2.out_channels == 34);
    CHECK(avx2.channels_padded == 40);    // 34 rounded up to 8
    CHECK(avx512.channels_padded == 48);  // and to 16
    CHECK(avx2.kernel_pairs == 3);        // kx pairs (0,1) (2,3) (4,-)
    // SAME 9 wide, stride 2, dilated width 9: out 5; pairs start at ox*2 + 2j*2 for j < 3, so xi < 4*2 + 8 + 1.
    CHECK(avx2.output_width == 5);
    CHECK(avx2.pair_row_pixels == 17);
    CHECK(avx2.ring_rows() == 3);
    // Weight (ky 1, kx 3) of output channel 9: tile 1, lane 1, pair 1, second of the pair.
    const std::size_t at = (((1 * 3 + 1) * 3 + 1) * 8 + 1) * 2 + 1;
    CHECK(avx2.weights[at] == p.weights[(1 * 5 + 3) * 34 + 9]);
    // kx 5 does not exist: the second weight of pair 2 is zero.
    CHECK(avx2.weights[(((0 * 3 + 0) * 3 + 2) * 8 + 0) * 2 + 1] == 0);

    // The quad layout (AVX-512 VNNI): taps in fours, bias corrected for the +128 the quads carry.
    const auto vnni = qtl::kernels::pack_depthwise_int8(p.spec, depthwise_int8_isa::avx512_vnni);
    CHECK(vnni.quads);
    CHECK_FALSE(avx512.quads);
    CHECK(vnni.weights.empty());          // no pair weights packed for a quad kernel
    CHECK(vnni.kernel_quads == 2);        // kx quads (0..3) (4,-,-,-)
    CHECK(vnni.quad_row_pixels == 17);    // quads start at ox*2 + 4j*2 for j < 2: xi < 4*2 + 8 + 1
    CHECK(vnni.quad_row_step == 2);       // gcd(stride 2, 4 * dilation 2)
    CHECK(vnni.rows_per_pass == 1);       // two quads a filter row: one output row a pass
    CHECK(vnni.quad_padding() == p.spec.input_zero_point + 128);
    // Weight (ky 1, kx 3) of output channel 9: tile 0, lane 9, quad 0, fourth of the quad.
    CHECK(vnni.quad_weights[(((0 * 3 + 1) * 2 + 0) * 16 + 9) * 4 + 3] == p.weights[(1 * 5 + 3) * 34 + 9]);
    // Weight (ky 2, kx 4) of output channel 20: tile 1, lane 4, quad 1, first; the rest of quad 1 is zero.
    const std::size_t q1 = (((1 * 3 + 2) * 2 + 1) * 16 + 4) * 4;
    CHECK(vnni.quad_weights[q1] == p.weights[(2 * 5 + 4) * 34 + 20]);
    CHECK(vnni.quad_weights[q1 + 1] == 0);
    CHECK(vnni.quad_weights[q1 + 3] == 0);
    // bias - (in_zp + 128) * (sum of the channel's 15 weights), by hand for channel 9.
    long long sum = 0;
    for (int ky = 0; ky < 3; ++ky)
        for (int kx = 0; kx < 5; ++kx) sum += p.weights[std::size_t(ky * 5 + kx) * 34 + 9];
    CHECK(vnni.quad_bias[9] == p.bias[9] - (p.spec.input_zero_point + 128) * sum);
    CHECK(vnni.quad_bias[40] == 0);       // channel padding

    // AVX-VNNI: the same quads, 8 channels a vector.
    const auto ymm = qtl::kernels::pack_depthwise_int8(p.spec, depthwise_int8_isa::avx_vnni);
    CHECK(ymm.quads);
    CHECK(ymm.lanes == 8);
    CHECK(ymm.channels_padded == 40);
    CHECK(ymm.kernel_quads == 2);
    CHECK(ymm.quad_row_pixels == 17);
    // Weight (ky 1, kx 3) of output channel 9: tile 1, lane 1, quad 0, fourth of the quad.
    CHECK(ymm.quad_weights[(((1 * 3 + 1) * 2 + 0) * 8 + 1) * 4 + 3] == p.weights[(1 * 5 + 3) * 34 + 9]);
    CHECK(ymm.quad_bias[9] == vnni.quad_bias[9]);
    CHECK(ymm.quad_bias[34] == 0);  // channel padding
}

TEST_CASE("depthwise_int8: 3x3 stride 1 SAME, channel counts across the vector tails") {
    for (int channels : {1, 3, 8, 17, 32, 33, 69, 128}) {  // 128: the quad conversion's 64-channel steps
        dw_case c;
        c.channels = channels;
        c.in_zp = -7;
        c.out_zp = 5;
        c.seed = unsigned(channels);
        check_all_kernels(c);
    }
}

TEST_CASE("depthwise_int8: several output rows a pass (AVX-512 VNNI quad rows, 3 filter rows, vertical stride 1 or 2), every row count") {
    // Horizontal dilation 2 keeps these 3x3 filters on quad rows (block quads take dilation 1: the next test case).
    dw_case c;  // 7 x 9, 3x3 SAME: 7 output rows
    c.dw = 2;
    const auto geometry = [&](depthwise_int8_isa isa = depthwise_int8_isa::avx512_vnni) {
        const auto packed = qtl::kernels::pack_depthwise_int8(make_problem(c).spec, isa);
        return std::pair{packed.rows_per_pass, packed.ring_rows()};
    };
    CHECK(geometry() == std::pair{4, std::size_t{6}});  // a pass reads rows oy - 1 .. oy + 4
    CHECK(geometry(depthwise_int8_isa::avx_vnni) == std::pair{2, std::size_t{4}});  // 16 ymm registers: 2 rows
    c.kw = 4;
    CHECK(geometry() == std::pair{4, std::size_t{6}});  // one quad a filter row
    c.kw = 3;
    c.height = 2;
    CHECK(geometry() == std::pair{2, std::size_t{4}});  // no more rows than the output has
    c.height = 7;
    c.sh = 2;  // 4 output rows
    CHECK(geometry() == std::pair{4, std::size_t{9}});  // rows 2 oy - 1 + [0, 9)
    CHECK(geometry(depthwise_int8_isa::avx_vnni) == std::pair{2, std::size_t{5}});
    c.sh = 3;
    CHECK(geometry() == std::pair{1, std::size_t{3}});
    c.sh = 1;
    c.dh = 2;
    CHECK(geometry() == std::pair{1, std::size_t{5}});
    c.dh = 1;
    c.kh = 5;
    CHECK(geometry().first == 1);
    c.kh = 3;
    c.dw = 1;  // block quads are AVX-512 VNNI's; AVX-VNNI keeps horizontal quads, 2 rows a pass
    CHECK(qtl::kernels::pack_depthwise_int8(make_problem(c).spec, depthwise_int8_isa::avx512_vnni).block_quads);
    CHECK_FALSE(qtl::kernels::pack_depthwise_int8(make_problem(c).spec, depthwise_int8_isa::avx_vnni).block_quads);
    CHECK(geometry(depthwise_int8_isa::avx_vnni).first == 2);
    c.dw = 2;
    c.saturating_multiplier = true;  // no in-register epilogue: rows one at a time
    CHECK(geometry().first == 1);
    CHECK(geometry(depthwise_int8_isa::avx_vnni).first == 1);
    CHECK(qtl::kernels::pack_depthwise_int8(make_problem(c).spec, depthwise_int8_isa::avx512bw).rows_per_pass == 1);

    // Every count of rows in the last pass, passes whose rows are partly
    // outside the image (SAME) or all inside (VALID).
    unsigned seed = 300;
    for (int stride : {1, 2})
        for (int height : {1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 17})
            for (bool same : {true, false}) {
                if (!same && height < 3) continue;
                dw_case d;
                d.batches = height % 3 == 0 ? 2 : 1;
                d.height = height;
                d.width = 7;      // a group of 4 pixels and one of 3
                d.channels = 40;  // two full vectors and one of 8
                d.sh = stride;
                d.sw = height % 2 + 1;  // any horizontal stride
                d.dw = 2;
                d.same = same;
                d.in_zp = -9;
                d.out_zp = 4;
                d.max_shift = same ? -1 : 1;  // both in-register forms
                d.seed = ++seed;
                check_all_kernels(d);
            }
}

TEST_CASE("depthwise_int8: block quads (AVX-512 VNNI, 3x3 strides 1 and 2): the layout by hand, then every shape") {
    dw_case c;  // 7 x 9 SAME, stride 2: 4 x 5 output, one row and one column of padding before
    c.sh = c.sw = 2;
    c.channels = 20;
    c.in_zp = -6;
    const dw_problem p = make_problem(c);
    const auto vnni = qtl::kernels::pack_depthwise_int8(p.spec, depthwise_int8_isa::avx512_vnni);
    REQUIRE(vnni.block_quads);
    CHECK(vnni.pad_top == 1);
    CHECK(vnni.rows_per_pass == 4);
    CHECK(vnni.ring_rows() == 5);        // block rows oy .. oy + 4
    CHECK(vnni.quad_row_pixels == 6);    // block columns 0 .. OW
    CHECK(vnni.quad_row_step == 1);
    CHECK(vnni.quad_row_bytes() == 6 * 32 * 4);
    CHECK(vnni.quad_weights.size() == 2 * 4 * 16 * 4);  // 2 tiles x 4 blocks x 16 lanes x 4 taps
    const auto weight = [&](int ky, int kx, int o) { return p.weights[std::size_t(ky * 3 + kx) * 20 + std::size_t(o)]; };
    const auto packed = [&](int tile, int block, int lane, int slot) {
        return vnni.quad_weights[std::size_t(((tile * 4 + block) * 16 + lane) * 4 + slot)];
    };
    // Channel 9 (tile 0, lane 9): block (0, 0) holds taps (0,0) (0,1) (1,0) (1,1).
    CHECK(packed(0, 0, 9, 0) == weight(0, 0, 9));
    CHECK(packed(0, 0, 9, 1) == weight(0, 1, 9));
    CHECK(packed(0, 0, 9, 2) == weight(1, 0, 9));
    CHECK(packed(0, 0, 9, 3) == weight(1, 1, 9));
    // Block (0, 1): column 2 of rows 0 and 1, zero where column 3 would be.
    CHECK(packed(0, 1, 9, 0) == weight(0, 2, 9));
    CHECK(packed(0, 1, 9, 1) == 0);
    CHECK(packed(0, 1, 9, 2) == weight(1, 2, 9));
    CHECK(packed(0, 1, 9, 3) == 0);
    // Channel 17 (tile 1, lane 1): block (1, 0) is row 2, columns 0 and 1; block (1, 1) only tap (2, 2).
    CHECK(packed(1, 2, 1, 0) == weight(2, 0, 17));
    CHECK(packed(1, 2, 1, 1) == weight(2, 1, 17));
    CHECK(packed(1, 2, 1, 2) == 0);
    CHECK(packed(1, 3, 1, 0) == weight(2, 2, 17));
    CHECK(packed(1, 3, 1, 1) == 0);
    CHECK(packed(1, 3, 1, 3) == 0);
    CHECK(packed(1, 0, 4, 0) == 0);  // channel 20 is padding
    long long sum = 0;
    for (int t = 0; t < 9; ++t) sum += weight(t / 3, t % 3, 17);
    CHECK(vnni.quad_bias[17] == p.bias[17] - (c.in_zp + 128) * sum);

    // Stride 1: weights for both phases of each axis.  Output (oy, ox) with
    // oy odd starts at the second row of block row oy / 2 (ky = 2 by + dy - 1).
    dw_case one = c;
    one.sh = one.sw = 1;
    const dw_problem p1 = make_problem(one);
    const auto s1 = qtl::kernels::pack_depthwise_int8(p1.spec, depthwise_int8_isa::avx512_vnni);
    REQUIRE(s1.block_quads);
    CHECK(s1.rows_per_pass == 4);
    CHECK(s1.ring_rows() == 3);          // 4 output rows from an even one: block rows oy / 2 .. oy / 2 + 2
    CHECK(s1.quad_row_pixels == 6);      // 9 output columns: block columns 0 .. 8 / 2 + 1
    CHECK(s1.quad_weights.size() == 2 * 2 * 2 * 4 * 16 * 4);  // tiles x phases y x phases x x blocks x lanes x taps
    const auto weight1 = [&](int ky, int kx, int o) { return p1.weights[std::size_t(ky * 3 + kx) * 20 + std::size_t(o)]; };
    const auto packed1 = [&](int tile, int py, int px, int block, int lane, int slot) {
        return s1.quad_weights[std::size_t(((((tile * 2 + py) * 2 + px) * 4 + block) * 16 + lane) * 4 + slot)];
    };
    // Phase (0, 0) is the stride-2 layout.
    CHECK(packed1(0, 0, 0, 0, 9, 3) == weight1(1, 1, 9));
    CHECK(packed1(0, 0, 0, 3, 9, 0) == weight1(2, 2, 9));
    CHECK(packed1(0, 0, 0, 3, 9, 1) == 0);
    // Phase (1, 0): block row 0 holds only filter row 0, in its second row.
    CHECK(packed1(0, 1, 0, 0, 9, 0) == 0);
    CHECK(packed1(0, 1, 0, 0, 9, 1) == 0);
    CHECK(packed1(0, 1, 0, 0, 9, 2) == weight1(0, 0, 9));
    CHECK(packed1(0, 1, 0, 0, 9, 3) == weight1(0, 1, 9));
    CHECK(packed1(0, 1, 0, 2, 9, 0) == weight1(1, 0, 9));  // block (1, 0): rows 1 and 2
    CHECK(packed1(0, 1, 0, 2, 9, 2) == weight1(2, 0, 9));
    // Phase (1, 1), channel 17: block (1, 1) holds taps (1,1) (1,2) (2,1) (2,2); block (0, 0) only (0, 0).
    CHECK(packed1(1, 1, 1, 3, 1, 0) == weight1(1, 1, 17));
    CHECK(packed1(1, 1, 1, 3, 1, 1) == weight1(1, 2, 17));
    CHECK(packed1(1, 1, 1, 3, 1, 2) == weight1(2, 1, 17));
    CHECK(packed1(1, 1, 1, 3, 1, 3) == weight1(2, 2, 17));
    CHECK(packed1(1, 1, 1, 0, 1, 3) == weight1(0, 0, 17));
    CHECK(packed1(1, 1, 1, 0, 1, 0) == 0);
    CHECK(packed1(1, 1, 1, 0, 1, 2) == 0);
    CHECK(s1.quad_bias == vnni.quad_bias);  // the same bias correction as any quad layout

    // Where it does not apply: stride 3, dilation, 5x5, 3x2, no in-register epilogue, another kernel.
    const auto block_quads = [](dw_case d, depthwise_int8_isa isa = depthwise_int8_isa::avx512_vnni) {
        return qtl::kernels::pack_depthwise_int8(make_problem(d).spec, isa).block_quads;
    };
    dw_case d = c;
    d.sw = 3;
    CHECK_FALSE(block_quads(d));
    d = c;
    d.sh = 3;
    CHECK_FALSE(block_quads(d));
    d = c;
    d.dh = 2;
    CHECK_FALSE(block_quads(d));
    d = c;
    d.dw = 2;
    CHECK_FALSE(block_quads(d));
    d = c;
    d.kh = d.kw = 5;
    CHECK_FALSE(block_quads(d));
    d = c;
    d.kw = 2;
    CHECK_FALSE(block_quads(d));
    d = c;
    d.saturating_multiplier = true;
    CHECK_FALSE(block_quads(d));
    CHECK_FALSE(block_quads(c, depthwise_int8_isa::avx512bw));
    CHECK(block_quads(c));
    d = c;
    d.sh = 1;  // mixed strides: phases along one axis
    CHECK(block_quads(d));

    // Every stride pair; heights for every row count of the last pass and
    // both parities of the padding (SAME on odd and even sizes, VALID),
    // widths with every pixel-group tail and one-pixel images, channel
    // tails, depth multiplier 2 (the portable conversion), batch 2,
    // per-tensor, clamps, both in-register forms, and single rounding (one
    // row a pass, spilled, from rows of either phase).
    unsigned seed = 700;
    for (const auto& strides : {std::pair{2, 2}, std::pair{1, 1}, std::pair{1, 2}, std::pair{2, 1}})
        for (int height : {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 17})
            for (bool same : {true, false}) {
                if (!same && height < 3) continue;
                dw_case e;
                e.height = height;
                e.width = (height * 5 + strides.first) % 11 + 1;  // 1 .. 11
                if (!same && e.width < 3) e.width += 3;
                e.sh = strides.first;
                e.sw = strides.second;
                e.same = same;
                e.channels = std::vector<int>{1, 16, 24, 64, 72, 136}[std::size_t(height) % 6];
                e.multiplier = height % 4 == 3 ? 2 : 1;
                e.batches = height % 5 == 0 ? 2 : 1;
                e.per_channel = height % 3 != 0;
                e.in_zp = height * 19 % 256 - 128;
                e.out_zp = -height;
                if (height % 4 == 1) e.act_max = 60;
                e.max_shift = same ? -1 : 1;
                e.seed = ++seed;
                check_all_kernels(e);
                e.single_rounding = true;
                e.seed = ++seed;
                check_all_kernels<qtl::single_rounding>(e);
            }
    // 32 channels convert two blocks a step where four pixels of both rows
    // are inside, 64 and 128 a block at a time straight from the rows: every
    // width from 1 to 13 (pairs, a lone block at the right, borders on
    // either side), both paddings, both strides.
    for (int channels : {32, 64, 128})
        for (int width = 1; width <= 13; ++width)
            for (bool same : {true, false})
                for (int stride : {1, 2}) {
                    if (!same && width < 3) continue;
                    dw_case e;
                    e.height = 6 + width % 3;
                    e.width = width;
                    e.channels = channels;
                    e.sh = e.sw = stride;
                    e.same = same;
                    e.in_zp = width * 23 % 256 - 128;
                    e.out_zp = 3;
                    e.max_shift = -1;
                    e.seed = ++seed;
                    check_all_kernels(e);
                }
    dw_case wrap = c;
    wrap.extreme_bias = true;
    wrap.in_zp = -128;
    wrap.seed = ++seed;
    check_all_kernels(wrap);
}

TEST_CASE("depthwise_int8: 3x3 stride 1 and 2, SAME and VALID, per-tensor and per-channel") {
    unsigned seed = 100;
    for (int stride : {1, 2})
        for (bool same : {true, false})
            for (bool per_channel : {true, false}) {
                dw_case c;
                c.height = 11;
                c.width = 13;
                c.channels = 24;
                c.sh = c.sw = stride;
                c.same = same;
                c.per_channel = per_channel;
                c.in_zp = 17;
                c.out_zp = -3;
                c.seed = ++seed;
                check_all_kernels(c);
            }
}

TEST_CASE("depthwise_int8: depth multipliers 2 and 3") {
    for (int multiplier : {2, 3})
        for (int channels : {1, 5, 8, 11}) {
            dw_case c;
            c.channels = channels;
            c.multiplier = multiplier;
            c.in_zp = 100;
            c.out_zp = -100;
            c.sh = 2;
            c.seed = unsigned(multiplier * 100 + channels);
            check_all_kernels(c);
        }
}

TEST_CASE("depthwise_int8: 5x5, dilation 2, other filter shapes, uneven strides") {
    dw_case c;
    c.kh = c.kw = 5;
    c.channels = 33;
    c.in_zp = -128;
    c.out_zp = 127;
    c.seed = 7;
    check_all_kernels(c);  // 5x5 SAME on 7x9

    c = dw_case{};
    c.height = 12;
    c.width = 10;
    c.channels = 19;
    c.dh = c.dw = 2;
    c.in_zp = 127;
    c.seed = 8;
    check_all_kernels(c);  // 3x3 dilation 2 SAME

    c.same = false;
    c.seed = 9;
    check_all_kernels(c);  // ... VALID

    // Odd shapes: 1x1, 2x2 (even width: no unpaired tap), 1x3, 3x1, 4x7; strides 3 and mixed.
    const int shapes[][6] = {{1, 1, 1, 1, 1, 1}, {2, 2, 1, 1, 1, 1}, {1, 3, 1, 2, 1, 1}, {3, 1, 2, 1, 1, 1},
                             {4, 7, 1, 1, 1, 1}, {3, 3, 3, 3, 1, 1}, {3, 3, 1, 2, 2, 1}, {3, 5, 2, 1, 1, 2}};
    unsigned seed = 200;
    for (const auto& s : shapes)
        for (bool same : {true, false}) {
            dw_case d;
            d.height = 9;
            d.width = 11;
            d.channels = 13;
            d.kh = s[0];
            d.kw = s[1];
            d.sh = s[2];
            d.sw = s[3];
            d.dh = s[4];
            d.dw = s[5];
            d.same = same;
            d.in_zp = -20;
            d.out_zp = 9;
            d.seed = ++seed;
            check_all_kernels(d);
        }
}

TEST_CASE("depthwise_int8: batch 2, clamps, one-pixel and filter-wider-than-image inputs") {
    dw_case c;
    c.batches = 2;
    c.height = 5;
    c.width = 6;
    c.channels = 20;
    c.in_zp = 3;
    c.out_zp = -128;
    c.act_min = -128;
    c.act_max = -80;  // a RELU6-like range: zero point -128, 6.0 at -80
    c.seed = 11;
    check_all_kernels(c);

    c.per_channel = false;
    c.act_min = -10;
    c.act_max = 10;
    c.out_zp = 0;
    c.seed = 12;
    check_all_kernels(c);

    dw_case one;
    one.height = one.width = 1;
    one.channels = 9;
    one.seed = 13;
    check_all_kernels(one);  // 3x3 SAME on one pixel: only the centre tap is inside

    dw_case narrow;
    narrow.height = 2;
    narrow.width = 3;
    narrow.kh = narrow.kw = 5;
    narrow.channels = 16;
    narrow.sw = 2;
    narrow.seed = 14;
    check_all_kernels(narrow);  // every output pixel is a border pixel
}

TEST_CASE("depthwise_int8: the VNNI kernels' in-register forms: one_rounding_offset while |acc + bias| < 2^30") {
    // A KxK output sums K*K products of |x - zp| <= 255 and |w| <= 128:
    // |acc + bias| <= |bias| + K*K * 255 * 128 (293760 for 3x3, 816000 for 5x5).
    // Below 2^30 (the doubled form's bound, one_rounding_doubled) the kernels
    // run one_rounding_offset, whose accumulators + 2^30 then stay in [0, 2^31).
    enum class path { block_quads, rows_a_pass, one_row };
    for (path kind : {path::block_quads, path::rows_a_pass, path::one_row}) {
        const int k = kind == path::one_row ? 5 : 3;  // 5x5: quad rows, one row a pass
        const std::int32_t last_doubled_bias = (1 << 30) - k * k * 255 * 128 - 1;
        for (int bias_step : {-1, 0, 1}) {  // at the bound: offset, offset, one_rounding
            dw_case c;
            c.height = 9;
            c.width = 11;
            c.channels = 40;
            c.kh = c.kw = k;
            c.dw = kind == path::rows_a_pass ? 2 : 1;
            c.in_zp = -128;  // x - zp up to 255
            c.max_shift = -1;
            c.seed = 40 + unsigned(bias_step + 1) + 3u * unsigned(kind);
            CAPTURE(describe(c));
            CAPTURE(bias_step);
            dw_problem p = make_problem(c);
            p.bias[3] = bias_step < 0 ? -last_doubled_bias : last_doubled_bias + std::max(bias_step, 0);
            if (bias_step < 0) p.bias[5] = last_doubled_bias;
            const auto packed = qtl::kernels::pack_depthwise_int8(p.spec, depthwise_int8_isa::avx512_vnni);
            CHECK(packed.lane_requantize.one_rounding == true);
            CHECK(packed.lane_requantize.one_rounding_doubled == (bias_step <= 0));
            CHECK(packed.block_quads == (kind == path::block_quads));
            CHECK(packed.rows_per_pass == (kind == path::one_row ? 1 : 4));
            // AVX-VNNI: horizontal quads, 2 rows a pass for 3 filter rows (the offset form on the AVX2 stage).
            CHECK(qtl::kernels::pack_depthwise_int8(p.spec, depthwise_int8_isa::avx_vnni).rows_per_pass ==
                  (kind == path::one_row ? 1 : 2));
            check_all_kernels(p);
        }
    }
}

TEST_CASE("depthwise_int8: int32 sums wrap like the reference's") {
    dw_case c;
    c.channels = 12;
    c.extreme_bias = true;
    c.in_zp = -128;  // x - zp up to 255: sums reach far past the bias
    c.seed = 15;
    check_all_kernels(c);
}

TEST_CASE("depthwise_int8: single rounding, and the saturating INT32_MIN multiplier, through the row stage") {
    dw_case c;
    c.channels = 21;
    c.in_zp = 9;
    c.out_zp = -4;
    c.single_rounding = true;
    c.seed = 16;
    check_all_kernels<qtl::single_rounding>(c);
    c.per_channel = false;
    c.seed = 17;
    check_all_kernels<qtl::single_rounding>(c);

    dw_case sat;
    sat.channels = 10;
    sat.in_zp = -128;
    sat.saturating_multiplier = true;
    sat.seed = 18;
    const dw_problem p = make_problem(sat);
    CHECK_FALSE(qtl::kernels::pack_depthwise_int8(p.spec).lane_requantize.usable);
    check_all_kernels(sat);
}


TEST_CASE("depthwise_int8: DEPTHWISE_CONV_2D int8 runs the kernel and equals the op's reference") {
    // The op's own prepare (scales -> multipliers, int4 unpacking) feeds the kernel.
    std::mt19937 rng(21);
    auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    for (int multiplier : {1, 2})
        for (bool per_channel : {false, true}) {
            CAPTURE(multiplier);
            CAPTURE(per_channel);
            const int channels = 13, oc = channels * multiplier;
            std::vector<std::int8_t> in(2 * 10 * 9 * channels), w(3 * 3 * oc);
            std::vector<std::int32_t> bias(static_cast<std::size_t>(oc));
            for (auto& v : in) v = static_cast<std::int8_t>(uniform(-128, 127));
            for (auto& v : w) v = static_cast<std::int8_t>(uniform(-127, 127));
            for (auto& v : bias) v = uniform(-3000, 3000);
            qtl::ops::depthwise_conv_2d_params<std::int8_t> params;
            params.input_shape = {2, 10, 9, channels};
            params.filter_shape = {1, 3, 3, oc};
            params.depth_multiplier = multiplier;
            params.input_scale = 0.05f;
            params.input_zero_point = -9;
            params.output_scale = 0.2f;
            params.output_zero_point = 4;
            std::vector<float> scales(per_channel ? std::size_t(oc) : 1);
            for (auto& s : scales) s = 0.002f + 0.001f * float(uniform(0, 20));
            params.filter = {scales, std::vector<std::int32_t>(scales.size(), 0), per_channel ? 3 : -1, 0};
            params.weights = w;
            params.bias = bias;
            params.stride_height = 2;
            params.padding = qtl::ops::padding::same;
            params.activation = qtl::fused_activation::relu6;
            const auto p = qtl::ops::prepare(params);
            CHECK(p.kernel.isa == qtl::kernels::best_depthwise_int8_isa());
            std::vector<std::int8_t> simd(qtl::num_elements(p.output_shape)), ref(simd.size());
            qtl::ops::eval(p, qtl::tensor_view<const std::int8_t>(in, p.input_shape),
                           qtl::tensor_view<std::int8_t>(simd, p.output_shape));
            qtl::ops::reference::eval(p, qtl::tensor_view<const std::int8_t>(in, p.input_shape),
                                      qtl::tensor_view<std::int8_t>(ref, p.output_shape));
            CHECK(simd == ref);
            CHECK(std::count(ref.begin(), ref.end(), ref[0]) < std::ptrdiff_t(ref.size()));  // not a constant output
        }
}

TEST_CASE("depthwise_int8: bad specs and calls throw qtl::error") {
    dw_case c;
    dw_problem p = make_problem(c);
    std::vector<std::int8_t> out(p.output_size);

    depthwise_int8_spec s = p.spec;
    s.weights = std::span<const std::int8_t>(p.weights).first(p.weights.size() - 1);
    CHECK_THROWS_AS(qtl::kernels::pack_depthwise_int8(s), qtl::error);
    s = p.spec;
    s.bias = std::span<const std::int32_t>(p.bias).first(3);
    CHECK_THROWS_AS(qtl::kernels::pack_depthwise_int8(s), qtl::error);
    s = p.spec;
    s.depth_multiplier = 0;
    CHECK_THROWS_AS(qtl::kernels::pack_depthwise_int8(s), qtl::error);
    s = p.spec;
    s.stride_width = 0;
    CHECK_THROWS_AS(qtl::kernels::pack_depthwise_int8(s), qtl::error);
    s = p.spec;
    s.input_zero_point = 128;
    CHECK_THROWS_AS(qtl::kernels::pack_depthwise_int8(s), qtl::error);
    s = p.spec;
    s.output = {0, 10, -10};
    CHECK_THROWS_AS(qtl::kernels::pack_depthwise_int8(s), qtl::error);
    s = p.spec;
    s.multipliers = std::span<const qtl::quantized_multiplier>(p.multipliers).first(2);
    CHECK_THROWS_AS(qtl::kernels::pack_depthwise_int8(s), qtl::error);

    const auto packed = qtl::kernels::pack_depthwise_int8(p.spec);
    CHECK_THROWS_AS(qtl::kernels::depthwise_int8(packed, nullptr, out.data()), qtl::error);
    CHECK_THROWS_AS(qtl::kernels::depthwise_int8(qtl::kernels::depthwise_int8_packed{}, p.input.data(), out.data()),
                    qtl::error);
    for (const depthwise_int8_isa isa :
         {depthwise_int8_isa::avx_vnni, depthwise_int8_isa::avx512bw, depthwise_int8_isa::avx512_vnni})
        if (!qtl::kernels::depthwise_int8_isa_supported(isa)) {
            const auto zmm = qtl::kernels::pack_depthwise_int8(p.spec, isa);
            CHECK_THROWS_AS(qtl::kernels::depthwise_int8(zmm, p.input.data(), out.data()), qtl::error);
        }
    // A packing whose layout fields were edited to disagree with its ISA.
    auto mixed = qtl::kernels::pack_depthwise_int8(p.spec, depthwise_int8_isa::avx512_vnni);
    mixed.quads = false;
    CHECK_THROWS_AS(qtl::kernels::depthwise_int8(mixed, p.input.data(), out.data()), qtl::error);
}
