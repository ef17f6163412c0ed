// CONV_2D and DEPTHWISE_CONV_2D int8 (TFLite semantics) on the shapes of
// DESIGN.md section 5, run by qtl, oneDNN and XNNPACK in one process, on the
// same data, one thread each.  Every benchmark is named <layer>/<backend>,
// batch 1, NHWC, SAME padding (TensorFlow's: the extra row/column of an even
// total goes after):
//
//   convKxK_HxWxCxO        K x K convolution, stride 1, C -> O channels
//   convKxKs2_HxWxCxO      the same with stride 2 (the first layer 224x224x3->32)
//   dwconvKxK_HxWxC        depthwise K x K, stride 1, multiplier 1
//   dwconvKxKs2_HxWxC      depthwise with stride 2
//
//   .../qtl      ops::conv_2d / ops::depthwise_conv_2d: prepare() once, eval()
//                timed (whatever kernel the op picks; bit-exact with TFLite)
//   .../onednn   dnnl::convolution_forward u8 x s8 -> s8, s32 bias,
//                per-channel output scales, source and destination zero
//                points, NHWC activations, weights reordered once to the
//                primitive's format; depthwise as groups = C
//   .../xnnpack  xnn_create_convolution2d_nhwc_qc8 (per-channel weight
//                scales); depthwise as groups = C with XNNPACK's depthwise flag
//
// Counters: GOPS = 2 * multiply-accumulates per second (taps in the padding
// counted, as every library counts them), and max_diff, the largest
// |output - qtl's reference op| over the layer, in output steps: 0 for qtl,
// at most 1 for an anchor that requantizes in float.  More means the anchor
// is not computing the same layer and its time is not comparable.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "bench_common.hpp"
#include "qtl/kernels/gemm_int8.hpp"
#include "qtl/ops/conv_2d.hpp"
#include "qtl/ops/depthwise_conv_2d.hpp"
#include "qtl/ops/reference/conv_2d.hpp"
#include "qtl/ops/reference/depthwise_conv_2d.hpp"

namespace {

using qtl_bench::add;

struct conv_shape {
    int height, width, channels, out_channels, kernel, stride;
    bool depthwise;

    std::string name() const {
        // Appended piece by piece: GCC 12 warns (-Wrestrict, falsely) on one long concatenation.
        std::string n = depthwise ? "dwconv" : "conv";
        n += std::to_string(kernel);
        n += 'x';
        n += std::to_string(kernel);
        if (stride > 1) {
            n += 's';
            n += std::to_string(stride);
        }
        n += '_';
        n += std::to_string(height);
        for (int d : {width, channels}) {
            n += 'x';
            n += std::to_string(d);
        }
        if (!depthwise) {
            n += 'x';
            n += std::to_string(out_channels);
        }
        return n;
    }
};

constexpr conv_shape conv_shapes[] = {
    {56, 56, 64, 64, 3, 1, false},    {28, 28, 128, 128, 3, 1, false}, {14, 14, 256, 256, 3, 1, false},
    {56, 56, 128, 128, 1, 1, false},  {14, 14, 512, 512, 1, 1, false}, {7, 7, 1024, 1024, 1, 1, false},
    {224, 224, 3, 32, 3, 2, false},   {112, 112, 32, 32, 3, 1, true},  {56, 56, 128, 128, 3, 1, true},
    {14, 14, 512, 512, 3, 1, true},   {112, 112, 64, 64, 3, 2, true},
};

// TensorFlow's SAME padding along one axis.
struct same_padding {
    int output, before, after;
    same_padding(int input, int kernel, int stride) {
        output = (input + stride - 1) / stride;
        const int total = std::max((output - 1) * stride + kernel - input, 0);
        before = total / 2;
        after = total - before;
    }
};

// One layer's tensors and float quantization parameters, identical for
// every backend, plus qtl's reference output (the max_diff oracle).
struct conv_layer {
    conv_shape shape;
    same_padding pad_y, pad_x;
    std::vector<std::int8_t> input;    // [1][H][W][C]
    std::vector<std::int8_t> weights;  // conv [O][K][K][C]; depthwise [1][K][K][C] (TFLite's layouts)
    std::vector<std::int32_t> bias;    // [O]
    float input_scale = 0.05f;
    std::int32_t input_zero_point = 3;
    std::vector<float> weight_scales;  // [O]
    float output_scale = 1.0f;
    std::int32_t output_zero_point = -5;
    std::vector<std::int8_t> reference;  // [1][OH][OW][O]

    explicit conv_layer(conv_shape s)
        : shape(s), pad_y(s.height, s.kernel, s.stride), pad_x(s.width, s.kernel, s.stride) {
        const std::uint32_t seed = 77 + std::uint32_t(s.height * 31 + s.channels * 7 + s.kernel + s.stride);
        const std::size_t taps = std::size_t(s.kernel) * s.kernel * (s.depthwise ? 1 : s.channels);
        input = qtl_bench::random_values<std::int8_t>(std::size_t(s.height) * s.width * s.channels, seed, -128, 127);
        weights = qtl_bench::random_values<std::int8_t>(taps * s.out_channels, seed + 1, -127, 127);
        bias = qtl_bench::random_values<std::int32_t>(std::size_t(s.out_channels), seed + 2, -5000, 5000);
        weight_scales = qtl_bench::random_scales(std::size_t(s.out_channels), seed + 3, 0.01f);
        output_scale = qtl_bench::spread_output_scale(input_scale, 0.01f, taps);
    }

    double macs() const {
        const double taps = double(shape.kernel) * shape.kernel * (shape.depthwise ? 1 : shape.channels);
        return double(pad_y.output) * pad_x.output * shape.out_channels * taps;
    }
    std::size_t output_size() const { return std::size_t(pad_y.output) * pad_x.output * shape.out_channels; }
    qtl::shape input_shape() const { return {1, shape.height, shape.width, shape.channels}; }
    qtl::shape output_shape() const { return {1, pad_y.output, pad_x.output, shape.out_channels}; }

    qtl::ops::conv_2d_params<std::int8_t> conv_params() const {
        qtl::ops::conv_2d_params<std::int8_t> p;
        p.input_shape = input_shape();
        p.filter_shape = {shape.out_channels, shape.kernel, shape.kernel, shape.channels};
        fill(p, 0);
        return p;
    }
    qtl::ops::depthwise_conv_2d_params<std::int8_t> depthwise_params() const {
        qtl::ops::depthwise_conv_2d_params<std::int8_t> p;
        p.input_shape = input_shape();
        p.filter_shape = {1, shape.kernel, shape.kernel, shape.channels};
        p.depth_multiplier = 1;
        fill(p, 3);
        return p;
    }

private:
    template <class Params>
    void fill(Params& p, int axis) const {
        p.input_scale = input_scale;
        p.input_zero_point = input_zero_point;
        p.output_scale = output_scale;
        p.output_zero_point = output_zero_point;
        p.filter.scales = weight_scales;
        p.filter.axis = axis;
        p.weights = weights;
        p.bias = bias;
        p.stride_height = p.stride_width = shape.stride;
        p.padding = qtl::ops::padding::same;
    }
};

// Layers are built once per shape and shared by its backends (and repetitions).
const conv_layer& layer_for(const conv_shape& s) {
    static std::map<std::string, std::unique_ptr<conv_layer>> layers;
    auto& slot = layers[s.name()];
    if (!slot) {
        slot = std::make_unique<conv_layer>(s);
        conv_layer& l = *slot;
        l.reference.resize(l.output_size());
        qtl::tensor_view<const std::int8_t> in(l.input, l.input_shape());
        qtl::tensor_view<std::int8_t> out(l.reference, l.output_shape());
        if (s.depthwise)
            qtl::ops::reference::eval(qtl::ops::prepare(l.depthwise_params()), in, out);
        else
            qtl::ops::reference::eval(qtl::ops::prepare(l.conv_params()), in, out);
    }
    return *slot;
}

// --- qtl ----------------------------------------------------------------------

template <class Prepared>
void run_qtl(benchmark::State& state, const conv_layer& layer, const Prepared& prepared) {
    std::vector<std::int8_t> out(layer.output_size());
    const qtl::tensor_view<const std::int8_t> in(layer.input, layer.input_shape());
    const qtl::tensor_view<std::int8_t> out_view(out, layer.output_shape());
    qtl::ops::eval(prepared, in, out_view);
    const int diff = qtl_bench::max_abs_diff(out, layer.reference);
    for (auto _ : state) {
        qtl::ops::eval(prepared, in, out_view);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    qtl_bench::set_gops(state, layer.macs());
    qtl_bench::set_max_diff(state, diff);
}

void conv_qtl(benchmark::State& state, conv_shape shape) {
    const conv_layer& layer = layer_for(shape);
    if (shape.depthwise)
        run_qtl(state, layer, qtl::ops::prepare(layer.depthwise_params()));
    else
        run_qtl(state, layer, qtl::ops::prepare(layer.conv_params()));
}

// --- oneDNN -------------------------------------------------------------------

#if QTL_BENCH_ONEDNN
void conv_onednn(benchmark::State& state, conv_shape shape) {
    using namespace dnnl;
    using dt = memory::data_type;
    using tag = memory::format_tag;
    const conv_layer& layer = layer_for(shape);
    const memory::dim c = shape.channels, o = shape.out_channels, k = shape.kernel;
    engine eng(engine::kind::cpu, 0);
    stream strm(eng);

    const memory::desc src_md({1, c, shape.height, shape.width}, dt::u8, tag::nhwc);
    const memory::desc dst_md({1, o, layer.pad_y.output, layer.pad_x.output}, dt::s8, tag::nhwc);
    const memory::desc bias_md({o}, dt::s32, tag::a);
    // The user's weights described by strides over oneDNN's logical dims:
    // conv {O, I, KH, KW} over [O][KH][KW][I]; depthwise {G, 1, 1, KH, KW} over [KH][KW][G].
    const memory::dims weight_dims = shape.depthwise ? memory::dims{c, 1, 1, k, k} : memory::dims{o, c, k, k};
    const memory::dims weight_strides =
        shape.depthwise ? memory::dims{1, 1, 1, k * c, c} : memory::dims{k * k * c, 1, k * c, c};
    const memory::desc weights_user_md(weight_dims, dt::s8, weight_strides);
    const memory::desc weights_any(weight_dims, dt::s8, tag::any);

    primitive_attr attr;
    std::vector<float> scales;
    for (float ws : layer.weight_scales) scales.push_back(layer.input_scale * ws / layer.output_scale);
    attr.set_output_scales(1 << 1, scales);  // per output channel
    attr.set_zero_points(DNNL_ARG_SRC, 0, {layer.input_zero_point + 128});
    attr.set_zero_points(DNNL_ARG_DST, 0, {layer.output_zero_point});
    const convolution_forward::desc desc(prop_kind::forward_inference, algorithm::convolution_direct, src_md,
                                         weights_any, bias_md, dst_md, {shape.stride, shape.stride},
                                         {layer.pad_y.before, layer.pad_x.before},
                                         {layer.pad_y.after, layer.pad_x.after});
    const convolution_forward::primitive_desc pd(desc, attr, eng);

    std::vector<std::uint8_t> input = qtl_bench::shifted_to_u8(layer.input);
    std::vector<std::int32_t> bias = layer.bias;
    memory src(src_md, eng, input.data());
    memory weights_user(weights_user_md, eng, const_cast<std::int8_t*>(layer.weights.data()));
    memory weights(pd.weights_desc(), eng);
    reorder(weights_user, weights).execute(strm, weights_user, weights);
    memory bias_mem(bias_md, eng, bias.data());
    std::vector<std::int8_t> out(layer.output_size());
    memory dst(dst_md, eng, out.data());
    const convolution_forward prim(pd);
    const std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_BIAS, bias_mem}, {DNNL_ARG_DST, dst}};
    prim.execute(strm, args);
    strm.wait();
    const int diff = qtl_bench::max_abs_diff(out, layer.reference);
    for (auto _ : state) {
        prim.execute(strm, args);
        strm.wait();
        benchmark::ClobberMemory();
    }
    qtl_bench::set_gops(state, layer.macs());
    qtl_bench::set_max_diff(state, diff);
    state.SetLabel(pd.impl_info_str());
}
#endif

// --- XNNPACK ------------------------------------------------------------------

#if QTL_BENCH_XNNPACK
void conv_xnnpack(benchmark::State& state, conv_shape shape) {
    const conv_layer& layer = layer_for(shape);
    const bool dw = shape.depthwise;
    const std::size_t c = std::size_t(shape.channels), o = std::size_t(shape.out_channels);
    const std::uint32_t k = std::uint32_t(shape.kernel), s = std::uint32_t(shape.stride);
    xnn_operator_t op = nullptr;
    // Depthwise: groups = C of one channel each, weights [KH][KW][C] (the flag's layout, TFLite's too).
    if (xnn_create_convolution2d_nhwc_qc8(
            std::uint32_t(layer.pad_y.before), std::uint32_t(layer.pad_x.after), std::uint32_t(layer.pad_y.after),
            std::uint32_t(layer.pad_x.before), k, k, s, s, 1, 1, dw ? std::uint32_t(c) : 1u, dw ? 1 : c, dw ? 1 : o, c,
            o, static_cast<std::int8_t>(layer.input_zero_point), layer.input_scale, layer.weight_scales.data(),
            layer.weights.data(), layer.bias.data(), static_cast<std::int8_t>(layer.output_zero_point),
            layer.output_scale, -128, 127, dw ? XNN_FLAG_DEPTHWISE_CONVOLUTION : 0u, &op) != xnn_status_success) {
        state.SkipWithError("xnn_create_convolution2d_nhwc_qc8 failed");
        return;
    }
    std::vector<std::int8_t> out(layer.output_size());
    if (xnn_setup_convolution2d_nhwc_qc8(op, 1, std::size_t(shape.height), std::size_t(shape.width),
                                         layer.input.data(), out.data(), nullptr) != xnn_status_success) {
        xnn_delete_operator(op);
        state.SkipWithError("xnn_setup_convolution2d_nhwc_qc8 failed");
        return;
    }
    xnn_run_operator(op, nullptr);
    const int diff = qtl_bench::max_abs_diff(out, layer.reference);
    for (auto _ : state) {
        xnn_run_operator(op, nullptr);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    xnn_delete_operator(op);
    qtl_bench::set_gops(state, layer.macs());
    qtl_bench::set_max_diff(state, diff);
}
#endif

}  // namespace

int main(int argc, char** argv) {
    qtl_bench::init_backends("bench_conv");
    for (const conv_shape& s : conv_shapes) {
        add(s.name(), "qtl", conv_qtl, s);
#if QTL_BENCH_ONEDNN
        add(s.name(), "onednn", conv_onednn, s);
#endif
#if QTL_BENCH_XNNPACK
        add(s.name(), "xnnpack", conv_xnnpack, s);
#endif
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::AddCustomContext("qtl_gemm_int8_kernel",
                                std::string(qtl::kernels::to_string(qtl::kernels::best_gemm_int8_isa())));
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    qtl_bench::shutdown_backends();
    return 0;
}
