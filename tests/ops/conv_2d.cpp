#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "qtl/core/int4_packing.hpp"
#include "qtl/ops/conv_2d.hpp"
#include "qtl/ops/reference/conv_2d.hpp"
#include "support/ops_testing.hpp"
#include "support/shared_data.hpp"

// CONV_2D: hand-computed cases (stride, SAME padding, dilation, zero points,
// per-channel, groups, int4, 16x8, fused activations), the seanet 16x8 goldens
// written by TFLite's reference interpreter (bit for bit), SIMD == reference on
// random specs at tile-edge channel counts, the reference against float math,
// and the error paths.

namespace {

using qtl::fused_activation;
using qtl::quant_params;
using qtl::shape;
using qtl::tensor_view;
using qtl::ops::conv_2d_params;
using qtl::ops::padding;

constexpr std::size_t lanes = xsimd::batch<std::int32_t>::size;

template <class Activation>
std::vector<Activation> run_simd(const qtl::ops::conv_2d_prepared<Activation>& p, const std::vector<Activation>& in) {
    std::vector<Activation> out(qtl::num_elements(p.output_shape));
    qtl::ops::eval(p, tensor_view<const Activation>(in, p.input_shape), tensor_view<Activation>(out, p.output_shape));
    return out;
}

template <class Activation>
std::vector<Activation> run_reference(const qtl::ops::conv_2d_prepared<Activation>& p,
                                      const std::vector<Activation>& in) {
    std::vector<Activation> out(qtl::num_elements(p.output_shape));
    qtl::ops::reference::eval(p, tensor_view<const Activation>(in, p.input_shape),
                              tensor_view<Activation>(out, p.output_shape));
    return out;
}

// Both paths must give `expected`.
template <class Activation>
void check_both(const qtl::ops::conv_2d_prepared<Activation>& p, const std::vector<Activation>& in,
                const std::vector<Activation>& expected) {
    CHECK(run_reference(p, in) == expected);
    CHECK(run_simd(p, in) == expected);
}

quant_params per_tensor(float scale) { return {{scale}, {0}, -1, 0}; }

template <class T>
std::vector<T> iota_values(std::size_t n, int first) {
    std::vector<T> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<T>(first + int(i));
    return v;
}

}  // namespace

TEST_CASE("conv_2d int8: SAME padding with stride 2 pads only the bottom/right") {
    // input [1,3,3,1] = 1..9 (scale 1, zp 0), filter [1,2,2,1] all ones (scale 1),
    // output scale 1, zp 0 -> multiplier 1.  SAME, stride 2: out 2x2, pad before 0,
    // after 1, so windows cover rows {0,1} and {2, pad}:
    //   out[0][0] = 1+2+4+5 = 12   out[0][1] = 3+6 = 9
    //   out[1][0] = 7+8 = 15       out[1][1] = 9
    // With bias 10 every value grows by 10.
    const std::vector<std::int8_t> in = iota_values<std::int8_t>(9, 1);
    const std::vector<std::int8_t> w(4, 1);
    conv_2d_params<std::int8_t> params;
    params.input_shape = {1, 3, 3, 1};
    params.filter_shape = {1, 2, 2, 1};
    params.input_scale = 1.0f;
    params.output_scale = 1.0f;
    params.filter = per_tensor(1.0f);
    params.weights = w;
    params.stride_height = params.stride_width = 2;
    params.padding = padding::same;
    const auto p = qtl::ops::prepare(params);
    CHECK(p.output_shape == shape{1, 2, 2, 1});
    CHECK(p.padding.height == qtl::ops::padded_axis{2, 0, 1});
    check_both(p, in, {12, 9, 15, 9});

    const std::vector<std::int32_t> bias{10};
    params.bias = bias;
    check_both(qtl::ops::prepare(params), in, {22, 19, 25, 19});
}

TEST_CASE("conv_2d int8: SAME padding with stride 2 and dilation 2, input and output zero points") {
    // Real input v(r, c) = 5r + c + 1 on a 5x5 image, stored with zero point 3
    // (q = v + 3, scale 0.5).  Filter [[1, 2], [3, 4]] (scale 2) dilated by 2
    // (effective 3x3), stride 2, SAME: out 3x3, pad 1 before and 1 after.
    // Multiplier 0.5 * 2 / 1 = 1, output zero point -100.  Window origins are
    // -1, 1, 3 and taps sit at origin and origin + 2, so (v(1,1)=7, v(1,3)=9,
    // v(3,1)=17, v(3,3)=19):
    //   out[0][0] = 4*7                      = 28  -> -72
    //   out[0][1] = 3*7 + 4*9                = 57  -> -43
    //   out[0][2] = 3*9                      = 27  -> -73
    //   out[1][0] = 2*7 + 4*17               = 82  -> -18
    //   out[1][1] = 1*7 + 2*9 + 3*17 + 4*19  = 152 -> 52
    //   out[1][2] = 1*9 + 3*19               = 66  -> -34
    //   out[2][0] = 2*17                     = 34  -> -66
    //   out[2][1] = 1*17 + 2*19              = 55  -> -45
    //   out[2][2] = 1*19                     = 19  -> -81
    // Padded taps contribute the real value 0 (they are skipped), not q = 0.
    std::vector<std::int8_t> in(25);
    for (int i = 0; i < 25; ++i) in[std::size_t(i)] = static_cast<std::int8_t>(i + 1 + 3);
    const std::vector<std::int8_t> w{1, 2, 3, 4};
    conv_2d_params<std::int8_t> params;
    params.input_shape = {1, 5, 5, 1};
    params.filter_shape = {1, 2, 2, 1};
    params.input_scale = 0.5f;
    params.input_zero_point = 3;
    params.output_scale = 1.0f;
    params.output_zero_point = -100;
    params.filter = per_tensor(2.0f);
    params.weights = w;
    params.stride_height = params.stride_width = 2;
    params.dilation_height = params.dilation_width = 2;
    params.padding = padding::same;
    const auto p = qtl::ops::prepare(params);
    CHECK(p.padding.height == qtl::ops::padded_axis{3, 1, 1});
    CHECK(p.padding.width == qtl::ops::padded_axis{3, 1, 1});
    check_both(p, in, {-72, -43, -73, -18, 52, -34, -66, -45, -81});
}

TEST_CASE("conv_2d int8: per-channel multipliers and TFLite's double rounding") {
    // 1x1 conv, input pixels [10, 20] and [-10, -20] (scale 1, zp 0).
    // Channel 0: w = [1, 2], scale 0.5, bias 4  -> multiplier 0.5 = 2^30 * 2^-31, shift 0
    //   pixel A: 10 + 40 + 4 = 54 -> 27;   pixel B: -10 - 40 + 4 = -46 -> -23
    // Channel 1: w = [3, -1], scale 0.25, bias 0 -> multiplier 2^30, shift -1
    //   pixel A: 30 - 20 = 10: srdhm(10, 2^30) = 5, then 5 / 2 = 2.5 -> 3 (half away from zero)
    //   pixel B: -10: srdhm = floor((-10 * 2^30 + 2^30) / 2^31) = floor(-4.5) = -5, -2.5 -> -3
    const std::vector<std::int8_t> in{10, 20, -10, -20};
    const std::vector<std::int8_t> w{1, 2, 3, -1};
    const std::vector<std::int32_t> bias{4, 0};
    conv_2d_params<std::int8_t> params;
    params.input_shape = {1, 1, 2, 2};
    params.filter_shape = {2, 1, 1, 2};
    params.input_scale = 1.0f;
    params.output_scale = 1.0f;
    params.filter = {{0.5f, 0.25f}, {0, 0}, 0, 0};
    params.weights = w;
    params.bias = bias;
    const auto p = qtl::ops::prepare(params);
    CHECK(p.per_channel);
    CHECK(p.multipliers == std::vector<std::int32_t>{1 << 30, 1 << 30});
    CHECK(p.shifts == std::vector<std::int32_t>{0, -1});
    check_both(p, in, {27, 3, -23, -3});
}

TEST_CASE("conv_2d int8: grouped convolution uses each group's own input channels") {
    // Input channels [1, 2, 3, 4], filter input depth 2 -> 2 groups; output
    // channel 0 reads channels 0-1, channel 1 reads channels 2-3 (scales 1):
    //   out0 = 1*1 + 1*2 = 3,  out1 = 2*3 + 1*4 = 10   (channels 0-1 would give 4)
    const std::vector<std::int8_t> in{1, 2, 3, 4};
    const std::vector<std::int8_t> w{1, 1, 2, 1};
    conv_2d_params<std::int8_t> params;
    params.input_shape = {1, 1, 1, 4};
    params.filter_shape = {2, 1, 1, 2};
    params.input_scale = params.output_scale = 1.0f;
    params.filter = per_tensor(1.0f);
    params.weights = w;
    const auto p = qtl::ops::prepare(params);
    CHECK(p.groups == 2);
    check_both(p, in, {3, 10});
}

TEST_CASE("conv_2d int4 weights: TFLite's nibble order, element 2i in the low nibble") {
    // Weights [2,1,1,2] = [-8, 7, 3, -1] pack as bytes 0x78 (-8 -> 0x8 low, 7 high)
    // and 0xF3 (3 low, -1 -> 0xF high).  Input [3, -2], all scales 1:
    //   out0 = -8*3 + 7*(-2) = -38,   out1 = 3*3 + (-1)*(-2) = 11
    const std::vector<std::int8_t> in{3, -2};
    const std::vector<std::uint8_t> packed{0x78, 0xF3};
    conv_2d_params<std::int8_t, qtl::int4> params;
    params.input_shape = {1, 1, 1, 2};
    params.filter_shape = {2, 1, 1, 2};
    params.input_scale = params.output_scale = 1.0f;
    params.filter = per_tensor(1.0f);
    params.weights = packed;
    check_both(qtl::ops::prepare(params), in, {-38, 11});

    // An odd count: [5, -3, 1] -> 0xD5 (5 low, -3 -> 0xD high), 0x01; input [2]:
    // out = [10, -6, 2].
    const std::vector<std::int8_t> in1{2};
    const std::vector<std::uint8_t> packed1{0xD5, 0x01};
    params.input_shape = {1, 1, 1, 1};
    params.filter_shape = {3, 1, 1, 1};
    params.weights = packed1;
    check_both(qtl::ops::prepare(params), in1, {10, -6, 2});
}

TEST_CASE("conv_2d 16x8: int64 bias and TFLite's 64-bit requantization") {
    // Input [1000, -2000] (int16, scale 1, zp 0), output scale 2^20.
    // Channel 0: w = [3, 5] (scale 1), bias 2^34 (beyond int32):
    //   acc = 3000 - 10000 + 2^34 = 17179862184; multiplier 2^-20 -> (2^30, shift -19),
    //   reduced to Q15: 2^14; (acc * 2^14 + 2^33) >> 34 = floor(16383.9933 + 0.5) = 16384
    // Channel 1: w = [1, 0] (scale 2^17 -> multiplier 2^-3 = (2^30, -2)), bias -2004:
    //   acc = 1000 - 2004 = -1004; (acc * 2^14 + 2^16) >> 17 = floor(-125.5 + 0.5) = -125
    //   (ties round up here; the int8 path's rounding would give -126)
    const std::vector<std::int16_t> in{1000, -2000};
    const std::vector<std::int8_t> w{3, 5, 1, 0};
    const std::vector<std::int64_t> bias{std::int64_t{1} << 34, -2004};
    conv_2d_params<std::int16_t> params;
    params.input_shape = {1, 1, 1, 2};
    params.filter_shape = {2, 1, 1, 2};
    params.input_scale = 1.0f;
    params.output_scale = 1048576.0f;
    params.filter = {{1.0f, 131072.0f}, {0, 0}, 0, 0};
    params.weights = w;
    params.bias = bias;
    const auto p = qtl::ops::prepare(params);
    CHECK(p.shifts == std::vector<std::int32_t>{-19, -2});
    check_both(p, in, {16384, -125});
}

TEST_CASE("conv_2d int8: fused activations clamp at zp + round(f / scale)") {
    // 1x1, weight 1 (scale 0.5), input scale 1, output scale 0.5, zp -10:
    // multiplier 1, out = x - 10 for inputs [-5, 0, 3, 20, 120] -> [-15, -10, -7, 10, 110].
    //   RELU         [-10 + round(0/0.5), 127]           = [-10, 127]
    //   RELU6        [-10, -10 + round(6/0.5) = 2]
    //   RELU_N1_TO_1 [-10 + round(-1/0.5) = -12, -10 + 2 = -8]
    const std::vector<std::int8_t> in{-5, 0, 3, 20, 120};
    const std::vector<std::int8_t> w{1};
    conv_2d_params<std::int8_t> params;
    params.input_shape = {1, 1, 5, 1};
    params.filter_shape = {1, 1, 1, 1};
    params.input_scale = 1.0f;
    params.output_scale = 0.5f;
    params.output_zero_point = -10;
    params.filter = per_tensor(0.5f);
    params.weights = w;
    check_both(qtl::ops::prepare(params), in, {-15, -10, -7, 10, 110});
    params.activation = fused_activation::relu;
    check_both(qtl::ops::prepare(params), in, {-10, -10, -7, 10, 110});
    params.activation = fused_activation::relu6;
    check_both(qtl::ops::prepare(params), in, {-10, -10, -7, 2, 2});
    params.activation = fused_activation::relu_n1_to_1;
    check_both(qtl::ops::prepare(params), in, {-12, -10, -8, -8, -8});
}

// --- seanet goldens ----------------------------------------------------------

namespace {

// A minimal, bounds-checked FlatBuffers walk over a .tflite file, enough to
// read a tensor's shape and constant buffer.  Field ids are those of TFLite's
// schema.fbs: Model { subgraphs: 2, buffers: 4 }, SubGraph { tensors: 0,
// operators: 3 }, Operator { inputs: 1 }, Tensor { shape: 0, type: 1,
// buffer: 2 }, Buffer { data: 0 }.
class tflite_file {
public:
    explicit tflite_file(const std::string& relative) {
        std::ifstream in(qtl::test::shared_file(relative), std::ios::binary);
        bytes_.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        REQUIRE(bytes_.size() >= 8);
        REQUIRE(std::string(bytes_.begin() + 4, bytes_.begin() + 8) == "TFL3");
        root_ = deref(0);
    }

    // Operator `op` of subgraph 0: its input tensor indices.
    std::vector<std::int32_t> operator_inputs(std::size_t op) const {
        return scalars<std::int32_t>(field(element(vector_of(subgraph(), 3), op), 1));
    }
    shape tensor_shape(std::size_t tensor) const {
        return scalars<std::int32_t>(field(element(vector_of(subgraph(), 0), tensor), 0));
    }
    int tensor_type(std::size_t tensor) const {
        const std::size_t at = field(element(vector_of(subgraph(), 0), tensor), 1);
        return at ? int(static_cast<std::int8_t>(bytes_.at(at))) : 0;
    }
    // The constant data of `tensor`, as T values (little-endian).
    template <class T>
    std::vector<T> tensor_data(std::size_t tensor) const {
        const std::size_t at = field(element(vector_of(subgraph(), 0), tensor), 2);
        REQUIRE(at != 0);
        const std::uint32_t buffer = u32(at);
        const std::vector<std::uint8_t> raw = scalars<std::uint8_t>(field(element(vector_of(root_, 4), buffer), 0));
        REQUIRE(raw.size() % sizeof(T) == 0);
        std::vector<T> values(raw.size() / sizeof(T));
        std::memcpy(values.data(), raw.data(), raw.size());
        return values;
    }

private:
    std::uint32_t u32(std::size_t at) const {
        REQUIRE(at + 4 <= bytes_.size());
        std::uint32_t v = 0;
        std::memcpy(&v, bytes_.data() + at, 4);
        return v;
    }
    std::uint16_t u16(std::size_t at) const {
        REQUIRE(at + 2 <= bytes_.size());
        std::uint16_t v = 0;
        std::memcpy(&v, bytes_.data() + at, 2);
        return v;
    }
    std::size_t deref(std::size_t at) const {  // follows a uoffset
        const std::size_t target = at + u32(at);
        REQUIRE(target < bytes_.size());
        return target;
    }
    // Absolute position of field `id` of the table at `table`, 0 when absent.
    std::size_t field(std::size_t table, int id) const {
        const auto soffset = static_cast<std::int32_t>(u32(table));
        const auto vtable = static_cast<std::int64_t>(table) - soffset;
        REQUIRE(vtable >= 0);
        const std::uint16_t vtable_size = u16(std::size_t(vtable));
        const std::size_t entry = 4 + 2 * std::size_t(id);
        if (entry + 2 > vtable_size) return 0;
        const std::uint16_t offset = u16(std::size_t(vtable) + entry);
        return offset ? table + offset : 0;
    }
    std::size_t vector_of(std::size_t table, int id) const {
        const std::size_t at = field(table, id);
        REQUIRE(at != 0);
        return deref(at);
    }
    std::size_t element(std::size_t vector, std::size_t index) const {  // a table in a vector of tables
        REQUIRE(index < u32(vector));
        return deref(vector + 4 + 4 * index);
    }
    std::size_t subgraph() const { return element(vector_of(root_, 2), 0); }
    template <class T>
    std::vector<T> scalars(std::size_t field_at) const {
        REQUIRE(field_at != 0);
        const std::size_t vector = deref(field_at);
        const std::size_t count = u32(vector);
        REQUIRE(vector + 4 + count * sizeof(T) <= bytes_.size());
        std::vector<T> values(count);
        if (count) std::memcpy(values.data(), bytes_.data() + vector + 4, count * sizeof(T));
        return values;
    }

    std::vector<std::uint8_t> bytes_;
    std::size_t root_ = 0;
};

// Runs one seanet CONV_2D model on its golden input; both paths must equal
// the golden output element for element.
void check_seanet_conv(const std::string& name, conv_2d_params<std::int16_t> params, const shape& output_shape) {
    const tflite_file model("models/seanet/" + name + ".tflite");
    const std::vector<std::int32_t> inputs = model.operator_inputs(0);
    REQUIRE(inputs.size() == 3);
    REQUIRE(model.tensor_shape(std::size_t(inputs[1])) == params.filter_shape);
    REQUIRE(model.tensor_type(std::size_t(inputs[1])) == 9);   // INT8 weights
    REQUIRE(model.tensor_type(std::size_t(inputs[2])) == 4);   // INT64 bias
    const std::vector<std::int8_t> weights = model.tensor_data<std::int8_t>(std::size_t(inputs[1]));
    const std::vector<std::int64_t> bias = model.tensor_data<std::int64_t>(std::size_t(inputs[2]));
    params.weights = weights;
    params.bias = bias;

    const auto p = qtl::ops::prepare(params);
    REQUIRE(p.output_shape == output_shape);
    const auto input = qtl::test::read_csv_integers<std::int16_t>("models/seanet/" + name + "_input0_int16.csv");
    const auto golden = qtl::test::read_csv_integers<std::int16_t>("models/seanet/" + name + "_golden_int16.csv");
    REQUIRE(input.size() == qtl::num_elements(params.input_shape));
    REQUIRE(golden.size() == qtl::num_elements(output_shape));
    for (const auto& out : {run_reference(p, input), run_simd(p, input)}) {
        std::size_t exact = 0;
        for (std::size_t i = 0; i < golden.size(); ++i) exact += out[i] == golden[i];
        INFO(name << ": " << exact << " of " << golden.size() << " elements exact");
        CHECK(exact == golden.size());
    }
}

}  // namespace

TEST_CASE("conv_2d 16x8: seanet conv0 (7x7 VALID, 2 -> 8 channels) equals TFLite bit for bit") {
    // Parameters read once from conv0.tflite with a throwaway flatbuffer script:
    // CONV_2D (opcode version 3), Conv2DOptions padding VALID, strides 1, no
    // dilation / activation fields (defaults 1 / NONE); input INT16 [1,8,166,2]
    // scale 0.000881225453 zp 0; weights INT8 [8,7,7,2] per-channel axis 0 with
    // the scales below, zp 0; bias INT64 [8]; output INT16 [1,2,160,8] scale
    // 0.00174882344 zp 0.  Weights and bias are read from the file at test time.
    conv_2d_params<std::int16_t> params;
    params.input_shape = {1, 8, 166, 2};
    params.filter_shape = {8, 7, 7, 2};
    params.input_scale = 0.000881225453f;
    params.output_scale = 0.00174882344f;
    params.filter = {{0.00938112848f, 0.0132020563f, 0.0106475372f, 0.0128923515f, 0.0109821018f, 0.00977957901f,
                      0.00865451805f, 0.012681393f},
                     std::vector<std::int32_t>(8, 0),
                     0,
                     0};
    params.padding = padding::valid;
    check_seanet_conv("conv0", params, {1, 2, 160, 8});
}

TEST_CASE("conv_2d 16x8: seanet conv1 (3x3 VALID, 8 -> 8 channels) equals TFLite bit for bit") {
    // From conv1.tflite, as for conv0: CONV_2D v3, VALID, strides 1; input INT16
    // [1,4,162,8] scale 0.00174882344; weights INT8 [8,3,3,8] per-channel axis 0;
    // bias INT64 [8]; output INT16 [1,2,160,8] scale 0.00583687471; all zp 0.
    conv_2d_params<std::int16_t> params;
    params.input_shape = {1, 4, 162, 8};
    params.filter_shape = {8, 3, 3, 8};
    params.input_scale = 0.00174882344f;
    params.output_scale = 0.00583687471f;
    params.filter = {{0.0110467505f, 0.00863371044f, 0.0155779626f, 0.0118982708f, 0.0208568871f, 0.0165257882f,
                      0.0210077856f, 0.0149790021f},
                     std::vector<std::int32_t>(8, 0),
                     0,
                     0};
    params.padding = padding::valid;
    check_seanet_conv("conv1", params, {1, 2, 160, 8});
}

// --- SIMD == reference ----------------------------------------------------------

namespace {

using qtl::test::random_scale;
using qtl::test::random_values_with_extremes;

struct random_conv_spec {
    int batches, height, width, channels, out_channels, kh, kw, groups;
    int stride_h, stride_w, dilation_h, dilation_w;
    padding pad;
    fused_activation act;
    bool per_channel, with_bias;
};

random_conv_spec random_spec(std::mt19937& rng, int out_channels, int groups) {
    random_conv_spec s{};
    s.batches = 1 + int(rng() % 2);
    s.kh = 1 + int(rng() % 3);
    s.kw = 1 + int(rng() % 3);
    s.stride_h = 1 + int(rng() % 2);
    s.stride_w = 1 + int(rng() % 3);
    s.dilation_h = 1 + int(rng() % 2);
    s.dilation_w = 1 + int(rng() % 2);
    s.pad = rng() % 2 ? padding::same : padding::valid;
    // Big enough for a VALID output.
    s.height = (s.kh - 1) * s.dilation_h + 1 + int(rng() % 4);
    s.width = (s.kw - 1) * s.dilation_w + 1 + int(rng() % 5);
    s.groups = groups;
    s.channels = groups * (1 + int(rng() % 5));
    s.out_channels = out_channels;
    const fused_activation acts[] = {fused_activation::none, fused_activation::relu, fused_activation::relu6,
                                     fused_activation::relu_n1_to_1};
    s.act = acts[rng() % 4];
    s.per_channel = rng() % 2;
    s.with_bias = rng() % 4 != 0;
    return s;
}

template <class Activation, class Weight>
struct random_conv {
    conv_2d_params<Activation, Weight> params;
    std::vector<qtl::ops::conv_weight_storage_t<Weight>> weights;
    std::vector<qtl::ops::conv_bias_t<Activation>> bias;
    std::vector<Activation> input;

    random_conv(std::mt19937& rng, const random_conv_spec& s) {
        using bias_type = qtl::ops::conv_bias_t<Activation>;
        params.input_shape = {s.batches, s.height, s.width, s.channels};
        params.filter_shape = {s.out_channels, s.kh, s.kw, s.channels / s.groups};
        constexpr bool wide = std::is_same_v<Activation, std::int16_t>;
        params.input_scale = random_scale(rng, 1e-3f, 1e-1f);
        params.output_scale = random_scale(rng, 1e-3f, 1.0f);
        params.input_zero_point = wide ? 0 : std::int32_t(rng() % 256) - 128;
        params.output_zero_point = wide ? 0 : std::int32_t(rng() % 256) - 128;
        const std::size_t scales = s.per_channel ? std::size_t(s.out_channels) : 1;
        params.filter.axis = s.per_channel ? 0 : -1;
        for (std::size_t c = 0; c < scales; ++c) {
            params.filter.scales.push_back(random_scale(rng, 1e-3f, 1e-1f));
            params.filter.zero_points.push_back(0);
        }
        const std::size_t count = qtl::num_elements(params.filter_shape);
        if constexpr (std::is_same_v<Weight, qtl::int4>) {
            std::vector<std::int8_t> values(count);
            for (auto& v : values) v = static_cast<std::int8_t>(int(rng() % 16) - 8);
            weights = qtl::pack_int4(values);
        } else {
            weights = random_values_with_extremes<std::int8_t>(rng, count);
        }
        params.weights = weights;
        if (s.with_bias) {
            bias.resize(std::size_t(s.out_channels));
            for (auto& b : bias) {
                // Mostly realistic, sometimes near the type's limits (the int32
                // sum then wraps, identically in both paths).
                b = rng() % 8 == 0 ? static_cast<bias_type>(rng() % 2 ? std::numeric_limits<bias_type>::max() - 5
                                                                      : std::numeric_limits<bias_type>::min() + 5)
                                   : static_cast<bias_type>(std::int32_t(rng() % 200001) - 100000);
            }
            params.bias = bias;
        }
        params.stride_height = s.stride_h;
        params.stride_width = s.stride_w;
        params.dilation_height = s.dilation_h;
        params.dilation_width = s.dilation_w;
        params.padding = s.pad;
        params.activation = s.act;
        input = random_values_with_extremes<Activation>(rng, qtl::num_elements(params.input_shape));
    }
};

template <class Activation, class Weight>
void check_simd_equals_reference(std::mt19937& rng, int out_channels, int groups) {
    const random_conv_spec spec = random_spec(rng, out_channels, groups);
    random_conv<Activation, Weight> conv(rng, spec);
    const auto p = qtl::ops::prepare(conv.params);
    INFO("input " << qtl::to_string(conv.params.input_shape) << " filter " << qtl::to_string(conv.params.filter_shape)
                  << " stride " << spec.stride_h << "x" << spec.stride_w << " dilation " << spec.dilation_h << "x"
                  << spec.dilation_w << " padding " << int(spec.pad) << " per-channel " << spec.per_channel);
    CHECK(run_simd(p, conv.input) == run_reference(p, conv.input));
}

std::vector<int> edge_channel_counts() {
    const int l = int(lanes);
    std::vector<int> counts{1, 2, 3, l - 1, l, l + 1, 2 * l + 1, 4 * l + 3, 9 * l - 1};
    counts.erase(std::remove_if(counts.begin(), counts.end(), [](int c) { return c < 1; }), counts.end());
    return counts;
}

}  // namespace

TEST_CASE("conv_2d: SIMD eval == reference eval on random specs at tile-edge channel counts") {
    std::mt19937 rng(20240611);
    for (const int out_channels : edge_channel_counts()) {
        CAPTURE(out_channels);
        for (int rep = 0; rep < 3; ++rep) {
            check_simd_equals_reference<std::int8_t, std::int8_t>(rng, out_channels, 1);
            check_simd_equals_reference<std::int8_t, qtl::int4>(rng, out_channels, 1);
            check_simd_equals_reference<std::int16_t, std::int8_t>(rng, out_channels, 1);
        }
        // Grouped: out_channels a multiple of the group count.
        for (const int groups : {2, 3}) {
            check_simd_equals_reference<std::int8_t, std::int8_t>(rng, out_channels * groups, groups);
            check_simd_equals_reference<std::int16_t, std::int8_t>(rng, out_channels * groups, groups);
        }
    }
}

TEST_CASE("conv_2d: input_padding equals padding the input with its zero point first (a folded PAD)") {
    // The oracle: the input padded by hand, then the op as TFLite runs it after a PAD.
    std::mt19937 rng(6160);
    const auto check_one = [&]<class Activation>(Activation, int out_channels) {
        random_conv_spec spec = random_spec(rng, out_channels, 1);
        if (out_channels % 3 == 0) spec.kh = spec.kw = 1;  // 1x1: padding takes it off the GEMM path
        random_conv<Activation, std::int8_t> conv(rng, spec);
        const qtl::ops::input_padding pad{int(rng() % 4), int(rng() % 4), int(rng() % 4), int(rng() % 4)};
        auto padded_params = conv.params;
        const std::vector<Activation> padded_input = qtl::test::pad_nhwc(
            conv.input, conv.params.input_shape, pad, static_cast<Activation>(conv.params.input_zero_point),
            padded_params.input_shape);
        conv.params.input_padding = pad;
        const auto folded = qtl::ops::prepare(conv.params);
        const auto unfolded = qtl::ops::prepare(padded_params);
        INFO("input " << qtl::to_string(conv.params.input_shape) << " filter "
                      << qtl::to_string(conv.params.filter_shape) << " pads " << pad.top << "," << pad.bottom << ","
                      << pad.left << "," << pad.right << " padding " << int(spec.pad));
        REQUIRE(folded.output_shape == unfolded.output_shape);
        CHECK(run_simd(folded, conv.input) == run_simd(unfolded, padded_input));
        CHECK(run_reference(folded, conv.input) == run_reference(unfolded, padded_input));
    };
    for (const int out_channels : edge_channel_counts()) {
        check_one(std::int8_t{}, out_channels);
        check_one(std::int16_t{}, out_channels);
    }
}

TEST_CASE("conv_2d int8 1x1 stride 1 runs the GEMM kernels and equals the reference") {
    std::mt19937 rng(77);
    for (const int out_channels : edge_channel_counts()) {
        CAPTURE(out_channels);
        for (int rep = 0; rep < 3; ++rep) {
            random_conv_spec spec = random_spec(rng, out_channels, 1);
            spec.kh = spec.kw = 1;
            spec.stride_h = spec.stride_w = 1;
            spec.channels = 1 + int(rng() % 70);  // K tails of every kernel
            random_conv<std::int8_t, std::int8_t> conv(rng, spec);
            const auto p = qtl::ops::prepare(conv.params);
            REQUIRE(p.pointwise);
            CHECK(run_simd(p, conv.input) == run_reference(p, conv.input));
            random_conv<std::int8_t, qtl::int4> conv4(rng, spec);
            const auto p4 = qtl::ops::prepare(conv4.params);
            REQUIRE(p4.pointwise);
            CHECK(run_simd(p4, conv4.input) == run_reference(p4, conv4.input));
        }
    }
}

TEST_CASE("conv_2d 16x8: SIMD int32 partial sums widen exactly past 256 taps") {
    // 3x3 x 300 input channels = 2700 taps per output; the SIMD path sums at
    // most 256 of them in int32 lanes before widening to int64.
    // Extreme data: every input -32768, every weight -128, so each product is
    // 2^22 and the centre pixel (all 9 taps inside, SAME padding) sums
    // 2700 * 2^22 = 11324620800, far beyond int32.  With multiplier
    // M = 0.01 * 0.05 / 300 (about 1.67e-6) the output is 2700 * 2^22 * M
    // (about 18874), within 0.5 + Q15 multiplier error.
    conv_2d_params<std::int16_t> params;
    params.input_shape = {1, 4, 4, 300};
    params.filter_shape = {int(lanes) + 1, 3, 3, 300};
    params.input_scale = 0.01f;
    params.output_scale = 300.0f;
    params.filter = per_tensor(0.05f);
    std::vector<std::int8_t> w(qtl::num_elements(params.filter_shape), -128);
    std::vector<std::int16_t> in(qtl::num_elements(params.input_shape), -32768);
    params.weights = w;
    params.padding = padding::same;
    const auto p = qtl::ops::prepare(params);
    const auto reference = run_reference(p, in);
    CHECK(run_simd(p, in) == reference);
    const double m = double(0.01f) * double(0.05f) / double(300.0f);
    const double expected = 2700.0 * 4194304.0 * m;
    const std::size_t centre = (1 * 4 + 1) * std::size_t(params.filter_shape[0]);  // pixel (1, 1), channel 0
    CHECK(std::abs(reference[centre] - expected) <= 0.5 + expected * std::ldexp(1.0, -15));

    // Random data at the same size: SIMD == reference.
    std::mt19937 rng(7);
    for (auto& v : w) v = static_cast<std::int8_t>(int(rng() % 256) - 128);
    for (auto& v : in) v = static_cast<std::int16_t>(int(rng() % 65536) - 32768);
    const auto q = qtl::ops::prepare(params);
    CHECK(run_simd(q, in) == run_reference(q, in));
}

// --- reference vs float math --------------------------------------------------------

TEST_CASE("conv_2d reference: dequantized output within the requantization bound of the real convolution") {
    // Inputs, weights and bias are exact reals once dequantized, so the only
    // error is requantization.  int8: TFLite's double rounding rounds twice, the
    // first time at <= 1/2 output LSB granularity after at least one right shift,
    // so |q - exact| <= 0.5 + 0.25 LSB, plus the Q31 multiplier's relative error
    // 2^-31 (bound used: 0.76 LSB).  16x8: one rounding (0.5 LSB) and the
    // multiplier reduced to Q15, relative error <= 2^-15 of the exact value.
    // Outputs the activation clamps must equal the clamp.
    std::mt19937 rng(99);
    const auto check_against_float = [&](auto activation_tag) {
        using Activation = decltype(activation_tag);
        constexpr bool wide = std::is_same_v<Activation, std::int16_t>;
        for (int rep = 0; rep < 20; ++rep) {
            const int groups = 1 + int(rng() % 2);
            const random_conv_spec spec = random_spec(rng, groups * (1 + int(rng() % 5)), groups);
            random_conv<Activation, std::int8_t> conv(rng, spec);
            // Realistic biases (the wrapping ones are tested for SIMD == reference only).
            for (auto& b : conv.bias) b = static_cast<qtl::ops::conv_bias_t<Activation>>(std::int32_t(rng() % 20001) - 10000);
            const auto& params = conv.params;
            const auto p = qtl::ops::prepare(params);
            const auto out = run_reference(p, conv.input);
            const auto& s = p.output_shape;
            const int in_h = params.input_shape[1], in_w = params.input_shape[2], in_c = params.input_shape[3];
            const int kh = params.filter_shape[1], kw = params.filter_shape[2], ic = params.filter_shape[3];
            const int per_group = s[3] / p.groups;
            for (int n = 0; n < s[0]; ++n)
                for (int y = 0; y < s[1]; ++y)
                    for (int x = 0; x < s[2]; ++x)
                        for (int o = 0; o < s[3]; ++o) {
                            const double w_scale = params.filter.scales[params.filter.scales.size() == 1 ? 0 : std::size_t(o)];
                            double real = conv.bias.empty() ? 0.0 : double(conv.bias[std::size_t(o)]) * params.input_scale * w_scale;
                            for (int ky = 0; ky < kh; ++ky)
                                for (int kx = 0; kx < kw; ++kx) {
                                    const int iy = y * params.stride_height - p.padding.height.before + ky * params.dilation_height;
                                    const int ix = x * params.stride_width - p.padding.width.before + kx * params.dilation_width;
                                    if (iy < 0 || iy >= in_h || ix < 0 || ix >= in_w) continue;
                                    for (int i = 0; i < ic; ++i) {
                                        const int c = (o / per_group) * ic + i;
                                        const double xin = (double(conv.input[((std::size_t(n) * in_h + iy) * in_w + ix) * in_c + c]) -
                                                            params.input_zero_point) * params.input_scale;
                                        const double wv = double(conv.weights[((std::size_t(o) * kh + ky) * kw + kx) * ic + i]) * w_scale;
                                        real += xin * wv;
                                    }
                                }
                            const double exact = real / params.output_scale + params.output_zero_point;
                            const double clamped = std::min<double>(std::max<double>(exact, p.output.activation_min),
                                                                    p.output.activation_max);
                            const double q = out[((std::size_t(n) * s[1] + y) * s[2] + x) * s[3] + o];
                            const double bound = wide ? 0.5 + std::abs(exact) * std::ldexp(1.0, -15) + 1e-6 : 0.76;
                            INFO("exact " << exact << " got " << q);
                            CHECK(std::abs(q - clamped) <= bound);
                        }
        }
    };
    check_against_float(std::int8_t{});
    check_against_float(std::int16_t{});
}

// --- errors ------------------------------------------------------------------------

TEST_CASE("conv_2d prepare: bad specs throw qtl::error naming CONV_2D and what is wrong") {
    const std::vector<std::int8_t> w(2 * 3 * 3 * 4, 1);
    const std::vector<std::int32_t> bias(2, 0);
    conv_2d_params<std::int8_t> good;
    good.input_shape = {1, 5, 5, 4};
    good.filter_shape = {2, 3, 3, 4};
    good.input_scale = good.output_scale = 0.1f;
    good.filter = per_tensor(0.01f);
    good.weights = w;
    good.bias = bias;
    CHECK_NOTHROW(qtl::ops::prepare(good));

    const auto fails = [&](auto mutate, const char* message) {
        auto params = good;
        mutate(params);
        CHECK_THROWS_WITH_AS(qtl::ops::prepare(params), doctest::Contains(message), qtl::error);
        CHECK_THROWS_WITH_AS(qtl::ops::prepare(params), doctest::Contains("CONV_2D"), qtl::error);
    };
    using P = conv_2d_params<std::int8_t>;
    fails([](P& p) { p.input_shape = {5, 5, 4}; }, "input must have rank 4, got shape [5, 5, 4]");
    fails([](P& p) { p.input_shape = {1, 0, 5, 4}; }, "input dimensions must be >= 1");
    fails([](P& p) { p.filter_shape = {2, 3, 3}; }, "filter must have rank 4");
    fails([](P& p) { p.input_shape = {1, 5, 5, 6}; }, "input channels 6 must be a multiple of the filter's input channels 4");
    fails([](P& p) { p.input_shape = {1, 5, 5, 12}; p.filter_shape = {2, 3, 3, 4}; },
          "output channels 2 must be a multiple of the 3 groups");
    fails([](P& p) { p.stride_width = 0; }, "stride width must be >= 1, got 0");
    fails([](P& p) { p.dilation_height = -1; }, "dilation height must be >= 1, got -1");
    fails([](P& p) { p.dilation_height = 3; }, "gives an empty output");
    fails([](P& p) { p.input_scale = 0.0f; }, "input scale must be finite and > 0, got 0");
    fails([](P& p) { p.output_scale = std::numeric_limits<float>::quiet_NaN(); }, "output scale must be finite and > 0");
    fails([](P& p) { p.input_zero_point = 128; }, "input zero point 128 is outside the int8 range");
    fails([](P& p) { p.filter = per_tensor(-1.0f); }, "weight scale must be finite and > 0, got -1");
    fails([](P& p) { p.filter = {{0.1f, 0.1f, 0.1f}, {0, 0, 0}, 0, 0}; }, "weights need 1 scale or 2 (one per output channel), got 3");
    fails([](P& p) { p.filter = {{0.1f, 0.1f}, {0, 0}, 3, 0}; }, "per-channel weights must be quantized along axis 0, got axis 3");
    fails([](P& p) { p.filter = {{0.1f}, {1}, -1, 0}; }, "weight zero points must be 0 (symmetric), got 1");
    fails([](P& p) { p.filter = {{0.1f, 0.1f}, {0, 0}, 0, 2}; }, "block-wise weight quantization is not supported");
    fails([&](P& p) { p.weights = std::span<const std::int8_t>(w).first(10); }, "need 72 weights, got 10");
    fails([&](P& p) { p.bias = std::span<const std::int32_t>(bias).first(1); }, "bias must be empty or have 2 values");
    fails([](P& p) { p.activation = fused_activation::tanh; }, "fused activation 4 cannot be fused");
    fails([](P& p) { p.padding = static_cast<padding>(2); }, "padding must be SAME (0) or VALID (1), got 2");

    // int4: packed byte count.
    const std::vector<std::uint8_t> packed(10, 0);
    conv_2d_params<std::int8_t, qtl::int4> q4;
    q4.input_shape = good.input_shape;
    q4.filter_shape = good.filter_shape;
    q4.input_scale = q4.output_scale = 0.1f;
    q4.filter = per_tensor(0.01f);
    q4.weights = packed;
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(q4), doctest::Contains("need 36 bytes for 72 packed int4 weights, got 10"),
                         qtl::error);

    // 16x8: zero points must be 0 and the multiplier < 128.
    conv_2d_params<std::int16_t> wide;
    wide.input_shape = good.input_shape;
    wide.filter_shape = good.filter_shape;
    wide.input_scale = wide.output_scale = 0.1f;
    wide.filter = per_tensor(0.01f);
    wide.weights = w;
    CHECK_NOTHROW(qtl::ops::prepare(wide));
    wide.input_zero_point = 1;
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(wide),
                         doctest::Contains("input zero point must be 0 for int16 activations (16x8), got 1"), qtl::error);
    wide.input_zero_point = 0;
    wide.output_zero_point = -3;
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(wide), doctest::Contains("output zero point must be 0"), qtl::error);
    wide.output_zero_point = 0;
    wide.filter = per_tensor(200.0f);  // 0.1 * 200 / 0.1 = 200
    CHECK_THROWS_WITH_AS(qtl::ops::prepare(wide), doctest::Contains("16x8 requantization needs"), qtl::error);
}

TEST_CASE("conv_2d eval: shapes other than the prepared ones throw") {
    const std::vector<std::int8_t> w(4, 1);
    conv_2d_params<std::int8_t> params;
    params.input_shape = {1, 3, 3, 1};
    params.filter_shape = {1, 2, 2, 1};
    params.input_scale = params.output_scale = 1.0f;
    params.filter = per_tensor(1.0f);
    params.weights = w;
    const auto p = qtl::ops::prepare(params);
    std::vector<std::int8_t> in(9), out(4), wrong_in(12), wrong_out(6);
    const tensor_view<const std::int8_t> good_in(in, shape{1, 3, 3, 1});
    const tensor_view<std::int8_t> good_out(out, shape{1, 2, 2, 1});
    const tensor_view<const std::int8_t> bad_in(wrong_in, shape{1, 3, 4, 1});
    const tensor_view<std::int8_t> bad_out(wrong_out, shape{1, 2, 3, 1});
    CHECK_NOTHROW(qtl::ops::eval(p, good_in, good_out));
    CHECK_THROWS_WITH_AS(qtl::ops::eval(p, bad_in, good_out),
                         doctest::Contains("CONV_2D: input shape [1, 3, 4, 1] does not match the prepared [1, 3, 3, 1]"),
                         qtl::error);
    CHECK_THROWS_WITH_AS(qtl::ops::reference::eval(p, good_in, bad_out),
                         doctest::Contains("output shape [1, 2, 3, 1] does not match the prepared [1, 2, 2, 1]"),
                         qtl::error);
    CHECK_THROWS_AS(qtl::ops::eval(p, bad_in, good_out), qtl::error);
    CHECK_THROWS_AS(qtl::ops::reference::eval(p, good_in, bad_out), qtl::error);

    // Weights packed for the default instruction set cannot run on one with
    // another lane count (only testable where the default is not SSE2).
    constexpr std::size_t sse2_lanes = xsimd::batch<std::int32_t, xsimd::sse2>::size;
    if constexpr (sse2_lanes != lanes) {
        CHECK_THROWS_WITH_AS((qtl::ops::eval<std::int8_t, xsimd::sse2>(p, good_in, good_out)),
                             doctest::Contains("weights were packed for"), qtl::error);
    } else {
        CHECK_NOTHROW((qtl::ops::eval<std::int8_t, xsimd::sse2>(p, good_in, good_out)));
    }
}
