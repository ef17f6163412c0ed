#pragma once
// qtl::quantized_sequential: the integer twin of a qtl::sequential.  It is
// built from the fully-integer tflite::model that convert() made of the
// sequential's graph, so it runs the same bytes as qtl::tflite::executor on
// that model.  It differs from the executor in how it runs them: the layer
// list is a type, so forward() is a chain of calls fixed at compile time.
//
//   using mlp = qtl::sequential<qtl::dense<784, 128, qtl::int8_scheme, qtl::relu>,
//                               qtl::dense<128, 10, qtl::int8_scheme>, qtl::softmax_layer<10>>;
//   auto q = qtl::quantize(*net, samples);          // calibrate + convert + bind
//   qtl::tflite::write_model(q.model, "mlp_int8.tflite");
//   std::array<std::int8_t, 10> y = q.net->forward(x_int8);  // or forward(x_float): quantized first
//
//   // or from a model converted elsewhere (same layer types, same graph):
//   qtl::quantized_sequential<...same layers...> qnet(model);
//
// What a layer holds: its op's prepared state (ops::fully_connected_prepared,
// ops::conv_2d_prepared, ...) as a member of a std::tuple, made by the ops'
// own prepare() from the model's tensors, filled field by field as the
// executor fills them.  Activations between layers are std::arrays of the
// scheme's type (int8, or int16 in 16x8 mode) inside the object.
//
// forward() makes no virtual call, no std::function call and no op-code
// switch.  Dense, softmax and max-pool layers allocate nothing per call.
// They drive the op's kernels directly on the layer's arrays: the int8 GEMM
// with scratch owned by the layer, the 16x8 dot products, and the softmax
// tables.  Conv2d layers call ops::eval(), which takes tensor_views by value:
// copying the two shapes makes two small allocations per call, and the op's
// 16x8 path allocates its accumulator row as well.
//
// Supported: dense, conv2d, max_pool2d and softmax_layer.  Activations are
// int8 (weights int8 or int4, per tensor or per channel: whatever the model
// holds) or 16x8 (int16 activations, int8 weights), the same precision for
// every layer.  A float_layer, or a mix of int8 and int16 layers, is a
// static_assert.  The converter puts DEQUANTIZE / QUANTIZE pairs between such
// layers, and this class does not run them.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "qtl/core/element_types.hpp"
#include "qtl/core/error.hpp"
#include "qtl/core/shape.hpp"
#include "qtl/core/tensor_view.hpp"
#include "qtl/fixedpoint/requantize.hpp"
#include "qtl/graph/calibrate.hpp"
#include "qtl/graph/convert.hpp"
#include "qtl/graph/sequential.hpp"
#include "qtl/io/tflite/model.hpp"
#include "qtl/kernels/gemm_int8.hpp"
#include "qtl/ops/conv_2d.hpp"
#include "qtl/ops/fully_connected.hpp"
#include "qtl/ops/fused_activation.hpp"
#include "qtl/ops/max_pool_2d.hpp"
#include "qtl/ops/quantize.hpp"
#include "qtl/ops/softmax.hpp"

namespace qtl {

// The scale and zero point of a model input or output tensor.
struct activation_quantization {
    float scale = 1.0f;
    std::int32_t zero_point = 0;
};

namespace detail::quantized_sequential_impl {

// ---- the activation type of the whole network, at compile time ------------------

template <class L>
constexpr bool has_scheme = requires { typename L::scheme_type; };

template <class S>
constexpr bool is_float_scheme = std::is_same_v<S, float_layer>;

// int8 or int16 for a qtl::scheme<A, W>; void for float_layer or no scheme.
template <class L>
struct layer_activation {
    using type = void;
};
template <class L>
    requires has_scheme<L> && (!is_float_scheme<typename L::scheme_type>)
struct layer_activation<L> {
    using type = typename L::scheme_type::activation::storage;
};

template <class L>
constexpr bool is_float_layer() {
    if constexpr (has_scheme<L>) return is_float_scheme<typename L::scheme_type>;
    else return false;
}
template <class... L>
constexpr bool any_float_layer() {
    return (is_float_layer<L>() || ...);
}
template <class... L>
constexpr bool any_scheme() {
    return (has_scheme<L> || ...);
}

// The first scheme's activation type (pooling layers take their input's).
template <class... L>
struct first_activation;
template <>
struct first_activation<> {
    using type = void;
};
template <class L, class... Rest>
struct first_activation<L, Rest...> {
    using type = std::conditional_t<std::is_void_v<typename layer_activation<L>::type>,
                                    typename first_activation<Rest...>::type, typename layer_activation<L>::type>;
};

template <class T, class... L>
constexpr bool same_precision() {
    return ((std::is_void_v<typename layer_activation<L>::type> ||
             std::is_same_v<typename layer_activation<L>::type, T>) &&
            ...);
}

// std::array<T, outputs> per layer, empty for the last one.
template <class T, class Seq, class... L>
struct buffer_tuple;
template <class T, std::size_t... I, class... L>
struct buffer_tuple<T, std::index_sequence<I...>, L...> {
    using type = std::tuple<std::array<T, (I + 1 == sizeof...(L) ? 0 : L::outputs)>...>;
};

// ---- reading the converted model ---------------------------------------------------

// One operator's tensors as the executor reads them.
class model_reader {
public:
    explicit model_reader(const tflite::model& m) : m_(m), g_(m.main()) {}

    const tflite::subgraph& graph() const noexcept { return g_; }

    const tflite::tensor& tensor(std::int32_t i, const std::string& where) const {
        check(i >= 0 && static_cast<std::size_t>(i) < g_.tensors.size(), where, "tensor index ", i,
              " out of range [0, ", g_.tensors.size(), ")");
        return g_.tensors[static_cast<std::size_t>(i)];
    }
    std::string describe(std::int32_t i) const {
        return qtl::detail::concat("tensor ", i, " '", g_.tensors[static_cast<std::size_t>(i)].name, "'");
    }

    template <class T>
    void expect_activation(std::int32_t i, const std::string& where) const {
        const auto want = std::is_same_v<T, std::int16_t> ? tflite::tensor_type::INT16 : tflite::tensor_type::INT8;
        const auto& t = tensor(i, where);
        check(t.type == want, where, describe(i), " is ", tflite::describe(t.type), " but the layer types say ",
              tflite::describe(want),
              " (convert with the network's own schemes: options.scheme and options.layers = layer_schemes())");
    }

    // Per-tensor scale and zero point.
    activation_quantization scalar(std::int32_t i, const std::string& where) const {
        const auto& t = tensor(i, where);
        check(t.quantization.has_value() && t.quantization->params.scales.size() == 1 &&
                  t.quantization->params.zero_points.size() == 1,
              where, describe(i), " must be quantized per tensor (one scale and zero point)");
        return {t.quantization->params.scales[0], t.quantization->params.zero_points[0]};
    }
    const quant_params& quant(std::int32_t i, const std::string& where) const {
        const auto& t = tensor(i, where);
        check(t.quantization.has_value(), where, describe(i), " must be quantized");
        return t.quantization->params;
    }

    // A constant's bytes, copied into properly aligned elements.
    template <class E>
    std::vector<E> constant(std::int32_t i, const std::string& where) const {
        const auto bytes = m_.data_of(tensor(i, where));
        check(!bytes.empty(), where, describe(i), " must be a constant tensor");
        check(bytes.size() % sizeof(E) == 0, where, describe(i), " holds ", bytes.size(), " bytes, not a multiple of ",
              sizeof(E));
        std::vector<E> out(bytes.size() / sizeof(E));
        std::memcpy(out.data(), bytes.data(), bytes.size());
        return out;
    }

private:
    const tflite::model& m_;
    const tflite::subgraph& g_;
};

inline fused_activation fused_of(tflite::activation_function_type a, const std::string& where) {
    using A = tflite::activation_function_type;
    switch (a) {
        case A::NONE: return fused_activation::none;
        case A::RELU: return fused_activation::relu;
        case A::RELU_N1_TO_1: return fused_activation::relu_n1_to_1;
        case A::RELU6: return fused_activation::relu6;
        default: throw error(where, "fused activation " + std::string(tflite::name_of(a)) + " is not an integer clamp");
    }
}

inline ops::padding padding_of(tflite::padding p) {
    return p == tflite::padding::SAME ? ops::padding::same : ops::padding::valid;
}

inline void expect_shape(const qtl::shape& got, const qtl::shape& want, const std::string& where, const char* what) {
    check(got == want, where, what, " has shape ", shape_text(got), ", the layer type says ", shape_text(want),
          " (the model was not converted from this network)");
}

inline qtl::shape hwc_shape(const std::array<std::size_t, 3>& hwc) {
    return {1, static_cast<std::int32_t>(hwc[0]), static_cast<std::int32_t>(hwc[1]), static_cast<std::int32_t>(hwc[2])};
}

// 64-byte aligned scratch made once (gemm_int8 wants that alignment).
class aligned_scratch {
public:
    void reserve(std::size_t bytes) {
        storage_.assign(bytes + 64, std::byte{0});
        void* p = storage_.data();
        std::size_t space = storage_.size();
        p = std::align(64, bytes, p, space);
        view_ = {static_cast<std::byte*>(p), bytes};
    }
    std::span<std::byte> span() const noexcept { return view_; }

    // A copy gets its own buffer (the span must not point into the source).
    aligned_scratch() = default;
    aligned_scratch(const aligned_scratch& o) { reserve(o.view_.size()); }
    aligned_scratch& operator=(const aligned_scratch& o) {
        if (this != &o) reserve(o.view_.size());
        return *this;
    }
    aligned_scratch(aligned_scratch&&) noexcept = default;  // a vector's heap buffer moves with it
    aligned_scratch& operator=(aligned_scratch&&) noexcept = default;

private:
    std::vector<std::byte> storage_;
    std::span<std::byte> view_;
};

// ---- integer layers ------------------------------------------------------------------
// int_layer<Layer, T> has bind(reader, op, where), which checks that the operator
// is the one this layer lowers to and prepares it, and run(const T* x, T* y).

template <class Layer, class T>
struct int_layer {
    static_assert(sizeof(Layer) == 0,
                  "qtl::quantized_sequential: this layer type has no integer implementation (supported: qtl::dense, "
                  "qtl::conv2d, qtl::max_pool2d, qtl::softmax_layer)");
};

template <std::size_t In, std::size_t Out, class Scheme, class Act, class T>
struct int_layer<dense<In, Out, Scheme, Act>, T> {
    static constexpr tflite::builtin_operator op_code = tflite::builtin_operator::FULLY_CONNECTED;
    static constexpr bool is_16x8 = std::is_same_v<T, std::int16_t>;

    ops::fully_connected_prepared<T> prepared;
    aligned_scratch gemm_scratch;  // int8: the GEMM's activation panel
    // 16x8: the input widened and zero padded to whole 32-value steps, as
    // ops::eval lays it out (the padding meets zero weights).
    static constexpr std::size_t padded_depth =
        ops::detail::fully_connected::round_up(In, ops::detail::fully_connected::depth_step);
    std::array<std::int16_t, is_16x8 ? padded_depth : 1> widened{};

    void bind(const model_reader& r, const tflite::op& o, const std::string& where) {
        const auto& opt = o.options_as<tflite::fully_connected_options>();
        check(opt.weights_format == tflite::fully_connected_options_weights_format::DEFAULT && !opt.keep_num_dims &&
                  !opt.asymmetric_quantize_inputs,
              where, "only the default FULLY_CONNECTED options are supported");
        check(o.inputs.size() >= 2 && o.outputs.size() == 1, where, "needs an input, weights and one output");
        const std::int32_t x = o.inputs[0], w = o.inputs[1], b = o.inputs.size() > 2 ? o.inputs[2] : -1,
                           y = o.outputs[0];
        r.expect_activation<T>(x, where);
        r.expect_activation<T>(y, where);
        const auto& wt = r.tensor(w, where);
        const std::int32_t i = static_cast<std::int32_t>(In), n = static_cast<std::int32_t>(Out);
        expect_shape(r.tensor(x, where).shape, {1, i}, where, "the input");
        expect_shape(r.tensor(y, where).shape, {1, n}, where, "the output");
        expect_shape(wt.shape, {n, i}, where, "the weights");
        const auto in_q = r.scalar(x, where), out_q = r.scalar(y, where);
        std::vector<ops::fully_connected_bias_t<T>> bias;
        if (b >= 0) bias = r.constant<ops::fully_connected_bias_t<T>>(b, where);
        auto fill = [&](auto& p) {
            p.input_shape = {1, i};
            p.weights_shape = wt.shape;
            p.bias = bias;
            p.input_scale = in_q.scale;
            p.input_zero_point = in_q.zero_point;
            p.output_scale = out_q.scale;
            p.output_zero_point = out_q.zero_point;
            p.weights_quant = r.quant(w, where);
            p.activation = fused_of(opt.fused_activation_function, where);
        };
        if (wt.type == tflite::tensor_type::INT4) {
            check(!is_16x8, where, "int4 weights need int8 activations");
            if constexpr (!is_16x8) {
                const auto bytes = r.constant<std::uint8_t>(w, where);
                ops::fully_connected_params<T, int4> p;
                fill(p);
                p.weights = bytes;
                prepared = ops::prepare(p);
            }
        } else {
            check(wt.type == tflite::tensor_type::INT8, where, r.describe(w), " (weights) must be INT8 or INT4, got ",
                  tflite::describe(wt.type));
            const auto values = r.constant<std::int8_t>(w, where);
            ops::fully_connected_params<T, std::int8_t> p;
            fill(p);
            p.weights = values;
            prepared = ops::prepare(p);
        }
        if constexpr (!is_16x8) gemm_scratch.reserve(kernels::gemm_int8_scratch_bytes(prepared.gemm, 1));
    }

    void run(const T* x, T* y) {
        if constexpr (!is_16x8) {
            // What ops::eval does for int8, with this layer's scratch.
            kernels::gemm_int8_options options;
            options.scratch = gemm_scratch.span();
            kernels::gemm_int8(prepared.gemm, x, 1, In, y, Out, options);
        } else {
            // ops::eval's 16x8 loop for one row: 4 weight rows per pass, exact
            // int32 partial sums of at most 256 products, added in int64.
            namespace fc = ops::detail::fully_connected;
            constexpr std::size_t depth = padded_depth;
            constexpr std::size_t padded_rows = fc::round_up(Out, fc::row_block);
            std::copy(x, x + In, widened.begin());
            std::int32_t partial[fc::row_block];
            for (std::size_t o = 0; o < padded_rows; o += fc::row_block) {
                const std::int8_t* w = prepared.packed_weights.data() + o * depth;
                std::int64_t acc[fc::row_block] = {};
                for (std::size_t k = 0; k < depth; k += fc::chunk_16x8) {
                    fc::dot_4_rows<xsimd::default_arch>(widened.data() + k, w + k, depth,
                                                        std::min(fc::chunk_16x8, depth - k), partial);
                    for (std::size_t j = 0; j < fc::row_block; ++j) acc[j] += partial[j];
                }
                for (std::size_t j = 0; j < fc::row_block && o + j < Out; ++j) {
                    const std::size_t c = prepared.per_channel ? o + j : 0;
                    y[o + j] = fc::requantize_16x8(fc::wrapping_add(acc[j], prepared.folded_bias[o + j]),
                                                   prepared.multipliers[c], prepared.shifts[c], prepared.requant);
                }
            }
        }
    }
};

template <std::size_t H, std::size_t W, std::size_t C, std::size_t F, std::size_t K, std::size_t S,
          tflite::padding Pad, class Scheme, class Act, class T>
struct int_layer<conv2d<H, W, C, F, K, S, Pad, Scheme, Act>, T> {
    using layer = conv2d<H, W, C, F, K, S, Pad, Scheme, Act>;
    static constexpr tflite::builtin_operator op_code = tflite::builtin_operator::CONV_2D;

    ops::conv_2d_prepared<T> prepared;

    void bind(const model_reader& r, const tflite::op& o, const std::string& where) {
        const auto& opt = o.options_as<tflite::conv_2d_options>();
        check(o.inputs.size() >= 2 && o.outputs.size() == 1, where, "needs an input, a filter and one output");
        const std::int32_t x = o.inputs[0], w = o.inputs[1], b = o.inputs.size() > 2 ? o.inputs[2] : -1,
                           y = o.outputs[0];
        r.expect_activation<T>(x, where);
        r.expect_activation<T>(y, where);
        const auto& wt = r.tensor(w, where);
        expect_shape(r.tensor(x, where).shape, hwc_shape(layer::input_hwc), where, "the input");
        expect_shape(r.tensor(y, where).shape, hwc_shape(layer::output_hwc), where, "the output");
        check(opt.stride_h == static_cast<std::int32_t>(S) && opt.stride_w == static_cast<std::int32_t>(S) &&
                  opt.dilation_h_factor == 1 && opt.dilation_w_factor == 1 && opt.padding == Pad,
              where, "stride, dilation or padding differ from the layer type");
        const auto in_q = r.scalar(x, where), out_q = r.scalar(y, where);
        std::vector<ops::conv_bias_t<T>> bias;
        if (b >= 0) bias = r.constant<ops::conv_bias_t<T>>(b, where);
        auto build = [&]<class Weight>() {
            const auto weights = r.constant<ops::conv_weight_storage_t<Weight>>(w, where);
            ops::conv_2d_params<T, Weight> p;
            p.input_shape = r.tensor(x, where).shape;
            p.filter_shape = wt.shape;
            p.input_scale = in_q.scale;
            p.input_zero_point = in_q.zero_point;
            p.output_scale = out_q.scale;
            p.output_zero_point = out_q.zero_point;
            p.filter = r.quant(w, where);
            p.bias = bias;
            p.stride_height = opt.stride_h;
            p.stride_width = opt.stride_w;
            p.dilation_height = opt.dilation_h_factor;
            p.dilation_width = opt.dilation_w_factor;
            p.padding = padding_of(opt.padding);
            p.activation = fused_of(opt.fused_activation_function, where);
            p.weights = weights;
            prepared = ops::prepare(p);
        };
        if (wt.type == tflite::tensor_type::INT4) {
            check(std::is_same_v<T, std::int8_t>, where, "int4 filters need int8 activations");
            if constexpr (std::is_same_v<T, std::int8_t>) build.template operator()<int4>();
        } else {
            check(wt.type == tflite::tensor_type::INT8, where, r.describe(w), " (filter) must be INT8 or INT4, got ",
                  tflite::describe(wt.type));
            build.template operator()<std::int8_t>();
        }
    }

    void run(const T* x, T* y) {
        ops::eval(prepared, tensor_view<const T>(std::span<const T>(x, layer::inputs), prepared.input_shape),
                  tensor_view<T>(std::span<T>(y, layer::outputs), prepared.output_shape));
    }
};

template <std::size_t H, std::size_t W, std::size_t C, std::size_t P, std::size_t S, class T>
struct int_layer<max_pool2d<H, W, C, P, S>, T> {
    using layer = max_pool2d<H, W, C, P, S>;
    static constexpr tflite::builtin_operator op_code = tflite::builtin_operator::MAX_POOL_2D;

    T lo = std::numeric_limits<T>::min(), hi = std::numeric_limits<T>::max();  // the fused clamp

    void bind(const model_reader& r, const tflite::op& o, const std::string& where) {
        const auto& opt = o.options_as<tflite::pool_2d_options>();
        check(o.inputs.size() == 1 && o.outputs.size() == 1, where, "needs one input and one output");
        const std::int32_t x = o.inputs[0], y = o.outputs[0];
        r.expect_activation<T>(x, where);
        r.expect_activation<T>(y, where);
        expect_shape(r.tensor(x, where).shape, hwc_shape(layer::input_hwc), where, "the input");
        expect_shape(r.tensor(y, where).shape, hwc_shape(layer::output_hwc), where, "the output");
        const auto p = static_cast<std::int32_t>(P), s = static_cast<std::int32_t>(S);
        check(opt.filter_height == p && opt.filter_width == p && opt.stride_h == s && opt.stride_w == s &&
                  opt.padding == tflite::padding::VALID,
              where, "window, stride or padding differ from the layer type");
        // ops::prepare checks input and output share scale and zero point,
        // so the pool is a max over codes followed by the fused clamp.
        ops::max_pool_2d_params<T> params;
        params.input_shape = r.tensor(x, where).shape;
        const auto in_q = r.scalar(x, where), out_q = r.scalar(y, where);
        params.input_scale = in_q.scale;
        params.input_zero_point = in_q.zero_point;
        params.output_scale = out_q.scale;
        params.output_zero_point = out_q.zero_point;
        params.filter_height = params.filter_width = p;
        params.stride_height = params.stride_width = s;
        params.padding = ops::padding::valid;
        params.activation = fused_of(opt.fused_activation_function, where);
        const auto prepared = ops::prepare(params);
        lo = static_cast<T>(prepared.output.activation_min);
        hi = static_cast<T>(prepared.output.activation_max);
    }

    void run(const T* x, T* y) noexcept {
        for (std::size_t oy = 0; oy < layer::out_h; ++oy)
            for (std::size_t ox = 0; ox < layer::out_w; ++ox) {
                T* out = y + (oy * layer::out_w + ox) * C;
                std::fill(out, out + C, std::numeric_limits<T>::lowest());
                for (std::size_t ky = 0; ky < P; ++ky)
                    for (std::size_t kx = 0; kx < P; ++kx) {
                        const T* px = x + ((oy * S + ky) * W + ox * S + kx) * C;
                        for (std::size_t c = 0; c < C; ++c) out[c] = std::max(out[c], px[c]);
                    }
                for (std::size_t c = 0; c < C; ++c) out[c] = std::min(std::max(out[c], lo), hi);
            }
    }
};

template <std::size_t N, class Scheme, class T>
struct int_layer<softmax_layer<N, Scheme>, T> {
    static constexpr tflite::builtin_operator op_code = tflite::builtin_operator::SOFTMAX;

    ops::softmax_prepared<T> prepared;

    void bind(const model_reader& r, const tflite::op& o, const std::string& where) {
        check(o.inputs.size() == 1 && o.outputs.size() == 1, where, "needs one input and one output");
        const std::int32_t x = o.inputs[0], y = o.outputs[0];
        r.expect_activation<T>(x, where);
        r.expect_activation<T>(y, where);
        const qtl::shape s{1, static_cast<std::int32_t>(N)};
        expect_shape(r.tensor(x, where).shape, s, where, "the input");
        expect_shape(r.tensor(y, where).shape, s, where, "the output");
        const auto in_q = r.scalar(x, where), out_q = r.scalar(y, where);
        ops::softmax_params<T> p;
        p.shape = s;
        p.input_scale = in_q.scale;
        p.input_zero_point = in_q.zero_point;
        p.output_scale = out_q.scale;
        p.output_zero_point = out_q.zero_point;
        p.beta = o.options_as<tflite::softmax_options>().beta;
        prepared = ops::prepare(p);
    }

    // ops::eval's arithmetic for one row, from the op's prepared tables.
    void run(const T* x, T* y) {
        using namespace ops::detail::softmax_op;
        std::int32_t top = std::numeric_limits<T>::min();
        for (std::size_t c = 0; c < N; ++c) top = std::max<std::int32_t>(top, x[c]);
        if constexpr (std::is_same_v<T, std::int8_t>) {
            std::int64_t sum = 0;
            for (std::size_t c = 0; c < N; ++c)
                sum += prepared.exp_q12_of_difference[static_cast<std::size_t>(top - x[c])];
            const quantized_multiplier scale = int8_row_scale(sum, 0);  // throws where TFLite aborts
            for (std::size_t c = 0; c < N; ++c)
                y[c] = requantize<std::int8_t>(prepared.exp_of_difference[static_cast<std::size_t>(top - x[c])], scale,
                                               int8_output_clamp);
        } else {
            std::int32_t sum = 0;
            for (std::size_t c = 0; c < N; ++c) {
                y[c] = int16_exp_of_difference(prepared, std::int32_t{x[c]} - top);
                sum += y[c];
            }
            const int16_row_scale s = int16_reciprocal(prepared, sum);
            const std::int32_t round = std::int32_t{1} << (s.right_shift - 1);
            for (std::size_t c = 0; c < N; ++c) {
                const std::int32_t v = (std::int32_t{y[c]} * s.reciprocal + round) >> s.right_shift;
                y[c] = static_cast<std::int16_t>(std::clamp(v, std::int32_t{0}, std::int32_t{32767}));
            }
        }
    }
};

}  // namespace detail::quantized_sequential_impl

template <class... Layers>
class quantized_sequential {
    static_assert(sizeof...(Layers) > 0, "qtl::quantized_sequential: needs at least one layer");
    static_assert(detail::quantized_sequential_impl::any_scheme<Layers...>(),
                  "qtl::quantized_sequential: no layer has a Scheme (a network of pooling layers only has nothing "
                  "to quantize)");
    static_assert(!detail::quantized_sequential_impl::any_float_layer<Layers...>(),
                  "qtl::quantized_sequential: a layer kept in float (qtl::float_layer) is not supported; run the "
                  "converted model with qtl::tflite::executor instead");

public:
    // int8, or int16 in 16x8 mode: every activation tensor of the network.
    using value_type = typename detail::quantized_sequential_impl::first_activation<Layers...>::type;
    static_assert(detail::quantized_sequential_impl::same_precision<value_type, Layers...>(),
                  "qtl::quantized_sequential: every layer must have the same activation precision (all int8 or all "
                  "16x8; e.g. softmax_layer<N, qtl::int16x8_scheme> after 16x8 dense layers); the converter "
                  "requantizes through float between precisions, which this class does not run");

    using float_network = sequential<Layers...>;
    static constexpr std::size_t size = sizeof...(Layers);
    static constexpr std::size_t inputs = float_network::inputs;
    static constexpr std::size_t outputs = float_network::outputs;
    using input_type = std::array<value_type, inputs>;
    using output_type = std::array<value_type, outputs>;
    using float_input_type = std::array<float, inputs>;

    // Binds to `m`, the model convert() made from float_network::to_graph()
    // (batch 1).  Its input may be float32 (a QUANTIZE first) and its output
    // float32 (a DEQUANTIZE last); forward() works on the integer tensors
    // inside.  Throws qtl::error naming the operator when the model does not
    // have this network's layers.  Nothing refers to `m` afterwards.
    explicit quantized_sequential(const tflite::model& m) { bind(m); }

    // The quantized input sample in, the last layer's integer output out.
    // forward() writes the object's activation arrays: use one object per
    // thread (copies are independent).
    output_type forward(const input_type& x) {
        output_type y;
        forward(x.data(), y.data());
        return y;
    }
    void forward(const value_type* x, value_type* y) { run<0>(x, y); }

    // A float sample, quantized with the input's parameters as TFLite's
    // QUANTIZE does (round(x / scale) + zero point, clamped).
    output_type forward(const float_input_type& x) {
        for (std::size_t i = 0; i < inputs; ++i)
            quantized_input_[i] = ops::detail::affine_quantize_value<value_type>(x[i], input_.scale, input_.zero_point);
        return forward(quantized_input_);
    }

    activation_quantization input_quantization() const noexcept { return input_; }
    activation_quantization output_quantization() const noexcept { return output_; }

    // The integer activations that layer I produced in the last forward()
    // (per-layer debugging).  The last layer's output is handed to the caller
    // instead.
    template <std::size_t I>
        requires(I + 1 < size)
    const auto& layer_output() const noexcept {
        return std::get<I>(buffers_);
    }

private:
    template <std::size_t I>
    using layer_type = std::tuple_element_t<I, std::tuple<Layers...>>;
    template <class L>
    using int_layer = detail::quantized_sequential_impl::int_layer<L, value_type>;

    std::tuple<int_layer<Layers>...> layers_;
    // Layer I's output for every layer but the last, which writes to the
    // caller's array (the last entry stays empty).
    typename detail::quantized_sequential_impl::buffer_tuple<value_type, std::index_sequence_for<Layers...>,
                                                             Layers...>::type buffers_;
    input_type quantized_input_{};
    activation_quantization input_, output_;

    template <std::size_t I>
    void run(const value_type* x, value_type* y) {
        if constexpr (I + 1 == size) {
            std::get<I>(layers_).run(x, y);
        } else {
            auto& mid = std::get<I>(buffers_);
            static_assert(std::tuple_size_v<std::remove_cvref_t<decltype(mid)>> == layer_type<I>::outputs);
            std::get<I>(layers_).run(x, mid.data());
            run<I + 1>(mid.data(), y);
        }
    }

    void bind(const tflite::model& m) {
        namespace impl = detail::quantized_sequential_impl;
        const std::string where = "qtl::quantized_sequential";
        check(m.subgraphs.size() >= 1, where, "the model has no subgraph");
        const impl::model_reader r(m);
        const auto& g = r.graph();
        check(g.inputs.size() == 1 && g.outputs.size() == 1, where, "the model must have one input and one output, it has ",
              g.inputs.size(), " and ", g.outputs.size());
        const auto& operators = g.operators;
        std::size_t at = 0;
        auto op_where = [&](std::size_t i) {
            return qtl::detail::concat(where, ": operator ", i, " (", tflite::describe(operators[i].builtin_code), ")");
        };

        // The input edge: the integer tensor the first layer reads.
        std::int32_t current = g.inputs[0];
        if (r.tensor(current, where).type == tflite::tensor_type::FLOAT32) {
            check(at < operators.size() && operators[at].builtin_code == tflite::builtin_operator::QUANTIZE &&
                      operators[at].inputs.size() == 1 && operators[at].inputs[0] == current,
                  where, "a float32 model input must be followed by QUANTIZE");
            current = operators[at].outputs.at(0);
            ++at;
        }
        {
            const auto type = r.tensor(current, where).type;
            check(type == tflite::tensor_type::INT8 || type == tflite::tensor_type::INT16, where, "the model input is ",
                  tflite::describe(type), "; quantized_sequential takes the layers' own type or float32 inputs");
        }
        r.expect_activation<value_type>(current, where + ": the model input");
        input_ = r.scalar(current, where);

        // One operator per layer, with RESHAPEs (same parameters: a byte copy,
        // so nothing to run on flat arrays) where an image meets a flat layer.
        auto bind_layer = [&]<std::size_t I>() {
            while (at < operators.size() && operators[at].builtin_code == tflite::builtin_operator::RESHAPE) {
                const auto w = op_where(at);
                check(operators[at].inputs.size() >= 1 && operators[at].inputs[0] == current, w, "does not read ",
                      r.describe(current));
                const std::int32_t out = operators[at].outputs.at(0);
                r.expect_activation<value_type>(out, w);
                const auto a = r.scalar(current, w), b = r.scalar(out, w);
                check(a.scale == b.scale && a.zero_point == b.zero_point, w,
                      "requantizes (input and output parameters differ), which quantized_sequential does not run");
                current = out;
                ++at;
            }
            using L = layer_type<I>;
            check(at < operators.size(), where, "the model ends before layer ", I, " (", L::kind, ")");
            const auto w = op_where(at);
            check(operators[at].builtin_code == int_layer<L>::op_code, w, "layer ", I, " (", L::kind, ") lowers to ",
                  tflite::describe(int_layer<L>::op_code), " (was the model converted from this network?)");
            check(!operators[at].inputs.empty() && operators[at].inputs[0] == current, w, "does not read ", r.describe(current),
                  ", the previous layer's output");
            std::get<I>(layers_).bind(r, operators[at], w);
            current = operators[at].outputs.at(0);
            ++at;
        };
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            (bind_layer.template operator()<I>(), ...);
        }(std::make_index_sequence<size>{});
        output_ = r.scalar(current, where);

        // The output edge.
        if (at < operators.size() && operators[at].builtin_code == tflite::builtin_operator::DEQUANTIZE &&
            operators[at].inputs.size() == 1 && operators[at].inputs[0] == current) {
            current = operators[at].outputs.at(0);
            ++at;
        }
        check(at == operators.size(), op_where(std::min(at, operators.size() - 1)),
              "is left over after the last layer (quantized_sequential runs int8/int16 or float32 model outputs)");
        check(g.outputs[0] == current, where, "the model output is not the last layer's output");
    }
};

// quantized_sequential_for<sequential<L...>> is quantized_sequential<L...>.
template <class Net>
struct quantized_sequential_of;
template <class... Layers>
struct quantized_sequential_of<sequential<Layers...>> {
    using type = quantized_sequential<Layers...>;
};
template <class Net>
using quantized_sequential_for = typename quantized_sequential_of<Net>::type;

// What quantize() makes: the integer model (write it, run it in LiteRT) and
// the network bound to it.
template <class... Layers>
struct quantized_network {
    tflite::model model;
    std::unique_ptr<quantized_sequential<Layers...>> net;  // large nets: keep it off the stack
    calibration ranges;
    conversion_report report;
};

struct sequential_quantize_options {
    calibration_options calibration;
    io_type input_type = io_type::native;   // native (the layers' int8/int16) or float32
    io_type output_type = io_type::native;  // native or float32
    target_profile target = target_profile::tflite;
};

// Calibrates net.to_graph() on `dataset` (calibrate()'s samples: flat float
// ranges of net.inputs values) and converts it with each layer's own Scheme
// (net.layer_schemes(); pooling and reshapes take the network's precision),
// then binds a quantized_sequential to the result.
template <class... Layers, std::ranges::input_range Dataset>
quantized_network<Layers...> quantize(const sequential<Layers...>& net, Dataset&& dataset,
                                      const sequential_quantize_options& options = {}) {
    using qs = quantized_sequential<Layers...>;  // its static_asserts first
    check(options.input_type == io_type::native || options.input_type == io_type::float32, "qtl::quantize",
          "a quantized_sequential takes native or float32 model inputs");
    check(options.output_type == io_type::native || options.output_type == io_type::float32, "qtl::quantize",
          "a quantized_sequential gives native or float32 model outputs");
    const graph g = net.to_graph();
    quantized_network<Layers...> out;
    out.ranges = calibrate(g, std::forward<Dataset>(dataset), options.calibration);
    conversion_options c;
    c.layers = net.layer_schemes();
    c.scheme.activations = std::is_same_v<typename qs::value_type, std::int16_t> ? activation_precision::int16
                                                                                : activation_precision::int8;
    c.input_type = options.input_type;
    c.output_type = options.output_type;
    c.target = options.target;
    out.model = convert(g, out.ranges, c, &out.report);
    out.net = std::make_unique<qs>(out.model);
    return out;
}

}  // namespace qtl
