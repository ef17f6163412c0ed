#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "qtl/kernels/conv_int8.hpp"
#include "qtl/ops/conv_2d.hpp"
#include "qtl/ops/reference/conv_2d.hpp"

// int8 CONV_2D on the GEMM kernels through im2col tiles:
//  - a hand-computed case where padding must count as the input zero point;
//  - every kernel == qtl's reference convolution (the loops of TFLite's
//    reference_integer_ops::ConvPerChannel) on random data, over shapes that
//    hit the tile edges: M (pixels) tails and several tiles, N (output
//    channels) not a multiple of the column blocks, K = KH*KW*I tails
//    (I = 1, 3, K = 27 first layer), strides, dilations, SAME/VALID and
//    asymmetric padding, batch 2, per-tensor/per-channel, nonzero zero
//    points, fused clamps;
//    "every kernel" = the real kernel where this CPU runs it, plus the portable
//    replay of each kernel's layout (conv_int8_emulated) on every machine;
//  - threads = 1, 2, 3 and caller scratch give identical bytes;
//  - short kernel rows (first layers) with exact-size input and scratch;
//  - CONV_2D's prepare/eval route ungrouped int8 convolutions here;
//  - the error paths.

using namespace qtl;
using namespace qtl::kernels;

namespace {

struct conv_case {
    int batches = 1, height = 1, width = 1, channels = 1, out_channels = 1;
    int kh = 1, kw = 1, stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1;
    ops::padding pad = ops::padding::valid;
    fused_activation act = fused_activation::none;
    bool per_channel = false;
};

std::string describe(const conv_case& c) {
    return qtl::detail::concat("input [", c.batches, ", ", c.height, ", ", c.width, ", ", c.channels, "] -> ",
                          c.out_channels, ", kernel ", c.kh, "x", c.kw, " stride ", c.stride_h, "x", c.stride_w,
                          " dilation ", c.dilation_h, "x", c.dilation_w, c.pad == ops::padding::same ? " SAME" : " VALID",
                          c.per_channel ? " per-channel" : " per-tensor", " act ", int(c.act));
}

// Random data for one case, and the op prepared by CONV_2D's prepare().
struct conv_data {
    std::vector<std::int8_t> weights, input;
    std::vector<std::int32_t> bias;
    ops::conv_2d_params<std::int8_t> params;
    ops::conv_2d_prepared<std::int8_t> prepared;

    conv_data(std::mt19937& rng, const conv_case& c) {
        std::uniform_int_distribution<int> byte(-128, 127);
        const auto value = [&] {
            // One in 8 an extreme, so that the +128 offset and sign extension meet both ends.
            return static_cast<std::int8_t>(rng() % 8 == 0 ? (rng() % 2 ? -128 : 127) : byte(rng));
        };
        params.input_shape = {c.batches, c.height, c.width, c.channels};
        params.filter_shape = {c.out_channels, c.kh, c.kw, c.channels};
        weights.resize(num_elements(params.filter_shape));
        for (auto& w : weights) w = static_cast<std::int8_t>(int(rng() % 255) - 127);  // TFLite: [-127, 127]
        input.resize(num_elements(params.input_shape));
        for (auto& v : input) v = value();
        bias.resize(std::size_t(c.out_channels));
        for (auto& b : bias) b = std::int32_t(rng() % 200001) - 100000;
        std::uniform_real_distribution<float> log_scale(-7.0f, -2.0f);
        params.input_scale = std::exp2(log_scale(rng));
        params.output_scale = std::exp2(log_scale(rng) + 4.0f);
        params.input_zero_point = byte(rng);
        params.output_zero_point = byte(rng);
        params.filter.axis = c.per_channel ? 0 : -1;
        for (int o = 0; o < (c.per_channel ? c.out_channels : 1); ++o) {
            params.filter.scales.push_back(std::exp2(log_scale(rng)));
            params.filter.zero_points.push_back(0);
        }
        params.weights = weights;
        params.bias = bias;
        params.stride_height = c.stride_h;
        params.stride_width = c.stride_w;
        params.dilation_height = c.dilation_h;
        params.dilation_width = c.dilation_w;
        params.padding = c.pad;
        params.activation = c.act;
        prepared = ops::prepare(params);
    }

    std::vector<std::int8_t> reference() const {
        std::vector<std::int8_t> out(num_elements(prepared.output_shape));
        ops::reference::eval(prepared, tensor_view<const std::int8_t>(input, prepared.input_shape),
                             tensor_view<std::int8_t>(out, prepared.output_shape));
        return out;
    }

    // The kernel's spec, mapped here from the prepared op (independently of
    // the mapping conv_2d.hpp does).
    std::vector<quantized_multiplier> multipliers;
    conv_int8_spec spec() {
        const auto& p = prepared;
        multipliers.clear();
        for (std::size_t o = 0; o < p.multipliers.size(); ++o) multipliers.push_back({p.multipliers[o], p.shifts[o]});
        if (!p.per_channel) multipliers.resize(1);
        conv_int8_spec s;
        s.shape = {std::size_t(p.input_shape[0]),       std::size_t(p.input_shape[1]),
                   std::size_t(p.input_shape[2]),       std::size_t(p.input_shape[3]),
                   std::size_t(p.filter_shape[1]),      std::size_t(p.filter_shape[2]),
                   std::size_t(p.stride_height),        std::size_t(p.stride_width),
                   std::size_t(p.dilation_height),      std::size_t(p.dilation_width),
                   std::size_t(p.padding.height.before), std::size_t(p.padding.width.before),
                   std::size_t(p.output_shape[1]),      std::size_t(p.output_shape[2])};
        s.out_channels = std::size_t(p.output_shape[3]);
        s.weights = p.filter;
        s.bias = p.bias;
        s.input_zero_point = -p.input_offset;
        s.multipliers = multipliers;
        s.output = p.output;
        return s;
    }
};

// Every kernel (real where supported, emulated everywhere) == the reference.
// `exact_scratch`: the caller's scratch, exactly conv_int8_scratch_bytes and
// filled with junk, instead of the per-thread buffer.
void check_every_kernel(std::mt19937& rng, const conv_case& c, bool exact_scratch = false) {
    INFO(describe(c));
    conv_data data(rng, c);
    const std::vector<std::int8_t> expected = data.reference();
    const conv_int8_spec spec = data.spec();
    for (const gemm_int8_isa isa : all_gemm_int8_isas) {
        CAPTURE(to_string(isa));
        const conv_int8_packed packed = pack_conv_int8(spec, isa);
        std::vector<std::byte, aligned_allocator<std::byte>> scratch;
        if (exact_scratch) scratch.assign(conv_int8_scratch_bytes(packed), std::byte{0x7F});
        const conv_int8_options options{1, scratch};
        std::vector<std::int8_t> out(expected.size(), 0x5A);
        if (gemm_int8_isa_supported(isa)) {
            conv_int8(packed, data.input, out, options);
            CHECK(out == expected);
        }
        std::fill(out.begin(), out.end(), std::int8_t{0x5A});
        conv_int8_emulated(packed, data.input, out, options);
        CHECK(out == expected);
    }
}

}  // namespace

TEST_CASE("conv_int8: padded taps count as the input zero point (hand-computed)") {
    // 3x3 input 1..9 (zero point 2), 3x3 filter of ones, SAME, one channel,
    // bias 0, multiplier 1 (scales 1, 1, 1), output zero point 0: each output is
    // the sum of (a - 2) over the taps inside the image.  Corner (0, 0):
    // (1-2)+(2-2)+(4-2)+(5-2) = 4; centre: 45 - 9*2 = 27; edge (0, 1):
    // (1+2+3+4+5+6) - 6*2 = 9.  Padding filled with 0 instead of the zero
    // point would add -2 per missing tap.
    const std::vector<std::int8_t> input{1, 2, 3, 4, 5, 6, 7, 8, 9};
    const std::vector<std::int8_t> weights(9, 1);
    const std::vector<quantized_multiplier> one{quantize_multiplier(1.0)};
    conv_int8_spec spec;
    spec.shape.height = spec.shape.width = 3;
    spec.shape.kernel_height = spec.shape.kernel_width = 3;
    spec.shape.pad_top = spec.shape.pad_left = 1;
    spec.shape.out_height = spec.shape.out_width = 3;
    spec.out_channels = 1;
    spec.weights = weights;
    spec.input_zero_point = 2;
    spec.multipliers = one;
    spec.output = {0, -128, 127};
    // Rows: (1+2+4+5 - 8), (1..6 - 12), (2+3+5+6 - 8); (1+2+4+5+7+8 - 12), 27, (2+3+5+6+8+9 - 12); ...
    const std::vector<std::int8_t> expected{4, 9, 8, 15, 27, 21, 16, 27, 20};
    for (const gemm_int8_isa isa : all_gemm_int8_isas) {
        CAPTURE(to_string(isa));
        const conv_int8_packed packed = pack_conv_int8(spec, isa);
        std::vector<std::int8_t> out(9);
        conv_int8_emulated(packed, input, out);
        CHECK(out == expected);
        if (gemm_int8_isa_supported(isa)) {
            std::fill(out.begin(), out.end(), std::int8_t{0});
            conv_int8(packed, input, out);
            CHECK(out == expected);
        }
    }
}

TEST_CASE("conv_int8: every kernel == the reference convolution at tile edges") {
    std::mt19937 rng(7001);
    using ops::padding;
    const fused_activation none = fused_activation::none, relu6 = fused_activation::relu6;
    std::vector<conv_case> cases = {
        // batch, h, w, I, O, kh, kw, sh, sw, dh, dw, padding, act, per-channel
        {2, 7, 9, 3, 5, 3, 3, 1, 1, 1, 1, padding::same, none, false},     // batch 2, I = 3, odd sizes
        {1, 17, 15, 3, 32, 3, 3, 2, 2, 1, 1, padding::same, relu6, true},  // first layer: K = 27, 3x3/2
        {1, 16, 16, 3, 33, 3, 3, 2, 2, 1, 1, padding::same, none, true},   // SAME/2 on even input: bottom/right only
        {1, 9, 11, 1, 7, 5, 5, 1, 1, 1, 1, padding::valid, none, false},   // I = 1, 5x5 VALID
        {1, 6, 6, 1, 1, 1, 1, 1, 1, 1, 1, padding::valid, none, false},    // O = 1, K = 1
        {1, 11, 13, 8, 17, 3, 3, 1, 1, 2, 2, padding::same, relu6, false}, // dilation 2
        {2, 10, 9, 5, 9, 3, 2, 2, 3, 1, 2, padding::same, none, true},     // mixed strides and dilations
        {1, 12, 14, 17, 31, 1, 1, 2, 2, 1, 1, padding::valid, none, true}, // strided 1x1
        {1, 9, 9, 4, 15, 1, 1, 1, 1, 1, 1, padding::valid, none, false},   // 1x1 stride 1 (kernel-level)
        {1, 2, 3, 6, 16, 5, 5, 1, 1, 1, 1, padding::same, none, true},     // kernel larger than the input
        {1, 8, 7, 16, 65, 3, 3, 1, 1, 1, 1, padding::same, fused_activation::relu, true},  // O = 65
        {1, 5, 5, 64, 63, 3, 3, 1, 1, 1, 1, padding::valid, none, false},  // K = 576, O = 63
        {1, 14, 13, 64, 100, 3, 3, 1, 1, 1, 1, padding::same, relu6, true},  // several tiles, M tail
        {2, 23, 23, 3, 8, 3, 3, 1, 1, 1, 1, padding::same, none, false},   // K = 27, 1058 pixels: 2 tiles
        {1, 7, 1, 2, 3, 3, 1, 1, 1, 2, 1, padding::same, fused_activation::relu_n1_to_1, false},  // width 1
    };
    for (const conv_case& c : cases) check_every_kernel(rng, c);

    // Random shapes.
    for (int rep = 0; rep < 40; ++rep) {
        conv_case c;
        c.batches = 1 + int(rng() % 2);
        c.kh = 1 + int(rng() % 4);
        c.kw = 1 + int(rng() % 4);
        c.stride_h = 1 + int(rng() % 3);
        c.stride_w = 1 + int(rng() % 3);
        c.dilation_h = 1 + int(rng() % 2);
        c.dilation_w = 1 + int(rng() % 2);
        c.pad = rng() % 2 ? padding::same : padding::valid;
        c.height = (c.kh - 1) * c.dilation_h + 1 + int(rng() % 9);
        c.width = (c.kw - 1) * c.dilation_w + 1 + int(rng() % 9);
        c.channels = 1 + int(rng() % 40);
        c.out_channels = 1 + int(rng() % 70);
        const fused_activation acts[] = {fused_activation::none, fused_activation::relu, fused_activation::relu6,
                                         fused_activation::relu_n1_to_1};
        c.act = acts[rng() % 4];
        c.per_channel = rng() % 2;
        check_every_kernel(rng, c);
    }
}

TEST_CASE("conv_int8: threads and caller scratch give the same bytes") {
    std::mt19937 rng(7002);
    // 3x3 56x20x64 -> 40: K = 576, several tiles of the best kernel.
    conv_data data(rng, {1, 20, 56, 64, 40, 3, 3, 1, 1, 1, 1, ops::padding::same, fused_activation::none, true});
    const std::vector<std::int8_t> expected = data.reference();
    const conv_int8_spec spec = data.spec();
    const conv_int8_packed packed = pack_conv_int8(spec);
    REQUIRE(packed.tiles() >= 3);
    for (const unsigned threads : {1u, 2u, 3u, 64u}) {
        CAPTURE(threads);
        std::vector<std::int8_t> out(expected.size());
        conv_int8(packed, data.input, out, {threads, {}});
        CHECK(out == expected);
        std::vector<std::byte, aligned_allocator<std::byte>> scratch(conv_int8_scratch_bytes(packed, threads));
        std::fill(out.begin(), out.end(), std::int8_t{0});
        conv_int8(packed, data.input, out, {threads, scratch});
        CHECK(out == expected);
        std::fill(out.begin(), out.end(), std::int8_t{0});
        conv_int8_emulated(pack_conv_int8(spec, gemm_int8_isa::avx512_vnni), data.input, out, {threads, {}});
        CHECK(out == expected);
    }
    CHECK(conv_int8_scratch_bytes(packed, 3) == 3 * packed.tile_bytes());
    CHECK(conv_int8_scratch_bytes(packed, 1000) == packed.tiles() * packed.tile_bytes());
}

TEST_CASE("conv_int8: in-place rows (AVX-512 VNNI) == the reference, and where they apply") {
    // Packings for the AVX-512 VNNI kernel with every column block full, at
    // least 24 k-groups and k-groups of whole taps' channels read the taps
    // from a padded copy of the input (conv_int8_packed::in_place); the
    // image's last pixels that fill no 6-row tile take im2col rows.  The
    // real kernel runs only on CPUs with AVX-512 VNNI (elsewhere the packing
    // decision and the emulation, which uses im2col, are still checked).
    std::mt19937 rng(7007);
    using ops::padding;
    const fused_activation none = fused_activation::none, relu6 = fused_activation::relu6;
    const std::vector<conv_case> cases = {
        // batch, h, w, I, O, kh, kw, sh, sw, dh, dw, padding, act, per-channel
        {1, 14, 13, 64, 64, 3, 3, 1, 1, 1, 1, padding::same, relu6, true},   // 182 pixels: a 2-pixel tail
        {1, 20, 56, 64, 64, 3, 3, 1, 1, 1, 1, padding::same, none, true},    // 11 tiles over 1-3 threads
        {2, 15, 16, 32, 128, 3, 3, 2, 2, 1, 1, padding::same, none, true},   // batch 2, stride 2, two blocks
        {1, 13, 12, 16, 64, 3, 3, 1, 1, 2, 2, padding::valid, none, false},  // dilation 2, 36 k-groups
        {1, 9, 10, 12, 64, 3, 3, 1, 1, 1, 1, padding::same, none, true},     // 27 k-groups: one vector a k-group
        {1, 11, 9, 14, 64, 4, 2, 1, 1, 1, 1, padding::same, relu6, false},   // I = 14: groups span taps (run 28)
        {1, 12, 11, 8, 128, 5, 5, 2, 1, 1, 1, padding::same, none, true},    // 5x5, strides 2x1
        {1, 2, 3, 16, 64, 5, 5, 1, 1, 1, 1, padding::same, none, true},      // kernel larger than the input
        {1, 10, 10, 32, 64, 3, 3, 2, 2, 1, 1, padding::valid, none, false},  // VALID: input row/column 9 unread
        {1, 6, 1, 24, 64, 3, 3, 1, 1, 1, 1, padding::same, none, true},      // width 1
    };
    for (const conv_case& c : cases) {
        INFO(describe(c));
        conv_data data(rng, c);
        const std::vector<std::int8_t> expected = data.reference();
        const conv_int8_spec spec = data.spec();
        const conv_int8_packed packed = pack_conv_int8(spec, gemm_int8_isa::avx512_vnni);
        REQUIRE(packed.in_place);
        CHECK(packed.padded_bytes() >= packed.padded_height * packed.padded_width * std::size_t(c.channels));
        CHECK(conv_int8_scratch_bytes(packed, 2) ==
              packed.padded_bytes() + conv_int8_threads(packed, 2) * packed.tile_bytes());
        for (const unsigned threads : {1u, 2u, 3u}) {
            CAPTURE(threads);
            std::vector<std::int8_t> out(expected.size(), 0x5A);
            if (gemm_int8_isa_supported(gemm_int8_isa::avx512_vnni)) {
                conv_int8(packed, data.input, out, {threads, {}});
                CHECK(out == expected);
                // Exact-size caller scratch full of junk: the padded image and the tails rewrite all they read.
                std::vector<std::byte, aligned_allocator<std::byte>> scratch(conv_int8_scratch_bytes(packed, threads),
                                                                             std::byte{0x7F});
                std::fill(out.begin(), out.end(), std::int8_t{0x5A});
                conv_int8(packed, data.input, out, {threads, scratch});
                CHECK(out == expected);
            }
            std::fill(out.begin(), out.end(), std::int8_t{0x5A});
            conv_int8_emulated(packed, data.input, out, {threads, {}});
            CHECK(out == expected);
        }
    }

    // Where it does not apply.
    const auto in_place = [&](const conv_case& c, gemm_int8_isa isa) {
        conv_data data(rng, c);
        return pack_conv_int8(data.spec(), isa).in_place;
    };
    const conv_case base{1, 8, 8, 64, 64, 3, 3, 1, 1, 1, 1, padding::same, none, true};
    CHECK(in_place(base, gemm_int8_isa::avx512_vnni));
    CHECK_FALSE(in_place(base, gemm_int8_isa::avx_vnni));
    CHECK_FALSE(in_place(base, gemm_int8_isa::avx2));
    CHECK_FALSE(in_place(base, gemm_int8_isa::scalar));
    conv_case c = base;
    c.out_channels = 63;  // a partial column block
    CHECK_FALSE(in_place(c, gemm_int8_isa::avx512_vnni));
    c = base;
    c.channels = 8;  // k = 72: fewer than 24 k-groups
    CHECK_FALSE(in_place(c, gemm_int8_isa::avx512_vnni));
    c = base;
    c.channels = 14;  // run 42: k-groups would straddle kernel rows
    CHECK_FALSE(in_place(c, gemm_int8_isa::avx512_vnni));
    c.kh = 4;
    c.kw = 2;  // run 28, k = 112
    CHECK(in_place(c, gemm_int8_isa::avx512_vnni));
    c.dilation_w = 2;  // taps of a kernel row no longer contiguous
    CHECK_FALSE(in_place(c, gemm_int8_isa::avx512_vnni));
}

TEST_CASE("conv_int8: im2col runs, short (first layers) and long, stay inside exact-size input and scratch") {
    // Kernel rows of at most 16 taps are widened 16 at a time, the surplus
    // overwritten by the next run or row; near the end of the input the
    // exact copy takes over.  Runs of 64 bytes or more go a zmm at a time
    // where the CPU has AVX-512BW, the last zmm overlapping the one before.
    // Exact-size buffers let AddressSanitizer (CI's sanitizer build) see any
    // read or write past them.
    std::mt19937 rng(7006);
    using ops::padding;
    const fused_activation none = fused_activation::none;
    const std::vector<conv_case> cases = {
        {1, 17, 15, 3, 32, 3, 3, 2, 2, 1, 1, padding::same, none, true},   // first layer, runs of 9
        {1, 5, 5, 3, 8, 3, 3, 1, 1, 1, 1, padding::valid, none, false},    // the last pixels read near the end
        {2, 6, 7, 1, 4, 3, 3, 1, 1, 1, 1, padding::valid, none, true},     // runs of 3, batch 2
        {1, 9, 8, 5, 6, 2, 3, 1, 1, 2, 1, padding::same, none, false},     // runs of 15, dilation 2 in height
        {1, 6, 5, 16, 9, 3, 1, 1, 2, 1, 1, padding::valid, none, true},    // runs of exactly 16
        {1, 4, 40, 2, 5, 1, 7, 1, 3, 1, 1, padding::same, none, false},    // one kernel row of 14
        // 3364 pixels, 2 tiles: the first tile ends on a widened row whose surplus
        // passes the tile's rows by 24 bytes.
        {1, 60, 60, 1, 4, 3, 3, 1, 1, 1, 1, padding::valid, none, false},
        {1, 6, 7, 32, 5, 3, 2, 1, 1, 1, 1, padding::valid, none, true},    // runs of exactly 64
        {1, 7, 6, 22, 9, 3, 3, 1, 1, 1, 1, padding::valid, none, false},   // runs of 66: one zmm and an overlap
        {2, 5, 6, 65, 17, 2, 2, 1, 1, 1, 1, padding::same, none, true},    // runs of 130, borders, batch 2
    };
    for (const conv_case& c : cases) check_every_kernel(rng, c, true);
}

TEST_CASE("conv_int8: the VPERMB im2col's gather table (by hand) and rows == the portable im2col") {
    std::mt19937 rng(7007);
    // First layer 3x3x3 stride 2: kernel rows of 9 taps; the table puts row ky's
    // taps after the 16-byte run of each kernel row before it.
    conv_data first(rng, {1, 17, 15, 3, 32, 3, 3, 2, 2, 1, 1, ops::padding::same, fused_activation::none, true});
    const conv_int8_packed p = pack_conv_int8(first.spec(), gemm_int8_isa::avx512_vnni);
    REQUIRE(p.im2col_vbmi == bool(QTL_CONV_INT8_IM2COL_VBMI));
    if (p.im2col_vbmi) {
        for (std::size_t j = 0; j < 9; ++j) {
            CHECK(p.im2col_gather[j] == j);
            CHECK(p.im2col_gather[9 + j] == 16 + j);
            CHECK(p.im2col_gather[18 + j] == 32 + j);
        }
    }
    // Not for int16 rows (AVX2), runs over 16 taps (3x3x6 = 18) or five kernel rows.
    CHECK_FALSE(pack_conv_int8(first.spec(), gemm_int8_isa::avx2).im2col_vbmi);
    conv_data wide(rng, {1, 9, 9, 6, 8, 3, 3, 1, 1, 1, 1, ops::padding::same, fused_activation::none, false});
    CHECK_FALSE(pack_conv_int8(wide.spec(), gemm_int8_isa::avx512_vnni).im2col_vbmi);
    conv_data tall(rng, {1, 9, 9, 1, 8, 5, 3, 1, 1, 1, 1, ops::padding::same, fused_activation::none, false});
    CHECK_FALSE(pack_conv_int8(tall.spec(), gemm_int8_isa::avx512_vnni).im2col_vbmi);

    // Where this CPU has VBMI: its rows == the portable ones byte for byte, also for rows
    // under 32 bytes (masked stores) and one to four kernel rows.
    const cpu_features& f = host_cpu_features();
    if (!(f.avx512f && f.avx512bw && f.avx512_vbmi)) return;
    const std::vector<conv_case> cases = {
        {1, 17, 15, 3, 32, 3, 3, 2, 2, 1, 1, ops::padding::same, fused_activation::none, true},
        {1, 12, 11, 1, 4, 1, 3, 1, 1, 1, 1, ops::padding::same, fused_activation::none, false},   // k 3
        {1, 12, 11, 2, 4, 2, 4, 1, 2, 2, 1, ops::padding::same, fused_activation::none, false},   // k 16, dilated rows
        {1, 12, 11, 3, 4, 4, 4, 1, 1, 1, 1, ops::padding::valid, fused_activation::none, false},  // k 48, 4 rows
    };
    for (const conv_case& c : cases) {
        INFO(describe(c));
        conv_data data(rng, c);
        const conv_int8_packed packed = pack_conv_int8(data.spec(), gemm_int8_isa::avx512_vnni);
        REQUIRE(packed.im2col_vbmi);
        const std::size_t pixels = packed.shape.out_pixels(), k_padded = packed.gemm.k_padded();
        const auto pad = static_cast<std::uint8_t>(packed.gemm.input_zero_point + 128);
        std::vector<std::uint8_t> vbmi(pixels * k_padded + 64, 0xA5), portable(pixels * k_padded + 64, 0x5A);
        qtl::kernels::detail::conv_int8_im2col(packed.shape, data.input.data(), 0, pixels, k_padded, pad, vbmi.data(),
                                               packed.im2col_gather.data());
        qtl::kernels::detail::conv_int8_im2col(packed.shape, data.input.data(), 0, pixels, k_padded, pad,
                                               portable.data());
        CHECK(std::equal(vbmi.begin(), vbmi.begin() + std::ptrdiff_t(pixels * k_padded), portable.begin()));
    }
}

TEST_CASE("conv_int8: tiles stay near the target size and cover every pixel") {
    std::mt19937 rng(7003);
    conv_data data(rng, {1, 56, 56, 64, 64, 3, 3, 1, 1, 1, 1, ops::padding::same, fused_activation::none, false});
    for (const gemm_int8_isa isa : all_gemm_int8_isas) {
        CAPTURE(to_string(isa));
        const conv_int8_packed p = pack_conv_int8(data.spec(), isa);
        const std::size_t rows = std::size_t(p.gemm.geometry.tile_rows);
        CHECK(p.tile_pixels % rows == 0);
        CHECK(p.tile_bytes() <= conv_int8_tile_target_bytes);
        CHECK(p.tile_bytes() + rows * p.gemm.k_padded() * p.element_bytes() > conv_int8_tile_target_bytes);
        CHECK(p.tiles() * p.tile_pixels >= 56 * 56);
        CHECK((p.tiles() - 1) * p.tile_pixels < 56 * 56);
    }
    // A tiny convolution is one tile of all its pixels.
    conv_data tiny(rng, {1, 3, 3, 2, 2, 3, 3, 1, 1, 1, 1, ops::padding::same, fused_activation::none, false});
    const conv_int8_packed p = pack_conv_int8(tiny.spec());
    CHECK(p.tile_pixels == 9);
    CHECK(p.tiles() == 1);
}

TEST_CASE("conv_int8: CONV_2D routes ungrouped int8 convolutions to the im2col path") {
    std::mt19937 rng(7004);
    conv_data kxk(rng, {2, 9, 10, 3, 20, 3, 3, 2, 2, 1, 1, ops::padding::same, fused_activation::relu6, true});
    CHECK(kxk.prepared.im2col);
    CHECK_FALSE(kxk.prepared.pointwise);
    CHECK(kxk.prepared.packed_filter.empty());  // no xsimd copy of the weights
    std::vector<std::int8_t> out(num_elements(kxk.prepared.output_shape));
    for (const unsigned threads : {1u, 3u}) {
        std::fill(out.begin(), out.end(), std::int8_t{0});
        ops::eval(kxk.prepared, tensor_view<const std::int8_t>(kxk.input, kxk.prepared.input_shape),
                  tensor_view<std::int8_t>(out, kxk.prepared.output_shape), {threads, {}});
        CHECK(out == kxk.reference());
    }

    conv_data strided_1x1(rng, {1, 9, 9, 8, 12, 1, 1, 2, 2, 1, 1, ops::padding::valid, fused_activation::none, false});
    CHECK(strided_1x1.prepared.im2col);
    conv_data pointwise(rng, {1, 9, 9, 8, 12, 1, 1, 1, 1, 1, 1, ops::padding::valid, fused_activation::none, false});
    CHECK(pointwise.prepared.pointwise);
    CHECK_FALSE(pointwise.prepared.im2col);

    // Grouped int8 stays on the xsimd path.
    ops::conv_2d_params<std::int8_t> grouped = kxk.params;
    grouped.input_shape = {1, 5, 5, 6};
    grouped.filter_shape = {4, 3, 3, 3};
    std::vector<std::int8_t> grouped_weights(4 * 3 * 3 * 3, 1);
    grouped.weights = grouped_weights;
    grouped.bias = {};
    grouped.filter.scales.resize(1);
    grouped.filter.zero_points.resize(1);
    grouped.filter.axis = -1;
    const auto g = ops::prepare(grouped);
    CHECK_FALSE(g.im2col);
    CHECK_FALSE(g.pointwise);
    CHECK_FALSE(g.packed_filter.empty());
}

TEST_CASE("conv_int8: bad specs, sizes, scratch and threads throw qtl::error naming conv_int8") {
    std::mt19937 rng(7005);
    conv_data data(rng, {1, 6, 6, 4, 5, 3, 3, 1, 1, 1, 1, ops::padding::same, fused_activation::none, false});
    conv_int8_spec spec = data.spec();

    auto bad = spec;
    bad.shape.stride_height = 0;
    CHECK_THROWS_WITH_AS(pack_conv_int8(bad), doctest::Contains("conv_int8: strides must be >= 1"), qtl::error);
    bad = spec;
    bad.shape.dilation_width = 0;
    CHECK_THROWS_WITH_AS(pack_conv_int8(bad), doctest::Contains("dilations must be >= 1"), qtl::error);
    bad = spec;
    bad.shape.channels = 0;
    CHECK_THROWS_WITH_AS(pack_conv_int8(bad), doctest::Contains("input dimensions must be >= 1"), qtl::error);
    bad = spec;
    bad.shape.out_width = 0;
    CHECK_THROWS_WITH_AS(pack_conv_int8(bad), doctest::Contains("output size must be >= 1"), qtl::error);
    bad = spec;
    bad.shape.height = std::numeric_limits<std::size_t>::max() / 2;
    CHECK_THROWS_AS(pack_conv_int8(bad), qtl::error);
    bad = spec;
    bad.shape.kernel_height = 2;  // k no longer matches the weights
    CHECK_THROWS_WITH_AS(pack_conv_int8(bad), doctest::Contains("weights must hold n * k"), qtl::error);
    bad = spec;
    bad.input_zero_point = 128;
    CHECK_THROWS_WITH_AS(pack_conv_int8(bad), doctest::Contains("input zero point must be in [-128, 127]"),
                         qtl::error);

    const conv_int8_packed packed = pack_conv_int8(spec);
    std::vector<std::int8_t> out(6 * 6 * 5);
    std::vector<std::int8_t> short_input(data.input.begin(), data.input.end() - 1);
    CHECK_THROWS_WITH_AS(conv_int8(packed, short_input, out), doctest::Contains("input must hold N*H*W*I = 144"),
                         qtl::error);
    std::vector<std::int8_t> long_output(out.size() + 1);
    CHECK_THROWS_WITH_AS(conv_int8(packed, data.input, long_output),
                         doctest::Contains("output must hold N*OH*OW*O = 180"), qtl::error);
    CHECK_THROWS_WITH_AS(conv_int8(packed, data.input, out, {0, {}}), doctest::Contains("threads must be >= 1"),
                         qtl::error);
    std::vector<std::byte, aligned_allocator<std::byte>> scratch(packed.tile_bytes() + 64);
    CHECK_THROWS_WITH_AS(conv_int8(packed, data.input, out, {1, std::span(scratch).first(packed.tile_bytes() - 1)}),
                         doctest::Contains("scratch must hold"), qtl::error);
    CHECK_THROWS_WITH_AS(conv_int8(packed, data.input, out, {1, std::span(scratch).subspan(1)}),
                         doctest::Contains("scratch must be 64-byte aligned"), qtl::error);
    CHECK_THROWS_WITH_AS(conv_int8(conv_int8_packed{}, data.input, out), doctest::Contains("packed weights are empty"),
                         qtl::error);
    for (const gemm_int8_isa isa : all_gemm_int8_isas)
        if (!gemm_int8_isa_supported(isa))
            CHECK_THROWS_WITH_AS(conv_int8(pack_conv_int8(spec, isa), data.input, out),
                                 doctest::Contains("which this"), qtl::error);
}
