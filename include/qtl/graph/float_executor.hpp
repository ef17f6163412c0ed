#pragma once
// qtl::float_executor: runs a qtl::graph in float, with TFLite's float
// semantics, to calibrate observers and to be the float reference the
// quantized model is compared against.
//
//   qtl::float_executor run(g);           // validates, checks shapes, packs weights once
//   run.set_input(0, sample);
//   run.invoke();
//   auto y = run.output(0);               // or run.values(t) for any tensor
//
// Every tensor is held as floats: activations, graph inputs of any type (a
// UINT8 input holds its numeric values), and constants converted once (so
// values() answers for weights and INT32 shape operands too).  Each node is
// prepared once in the constructor into a closure over its buffers; invoke()
// only runs the closures.  FULLY_CONNECTED, CONV_2D and DEPTHWISE_CONV_2D use
// the SIMD kernels of kernels/float/ with weights packed at construction.
//
// Options: a node whose options are std::monostate gets the schema's defaults
// (as a .tflite without an options table would).

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <limits>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "qtl/core/error.hpp"
#include "qtl/core/extern_executors.hpp"
#include "qtl/core/shape.hpp"
#include "qtl/graph/graph.hpp"
#include "qtl/kernels/float/conv_f32.hpp"
#include "qtl/kernels/float/depthwise_f32.hpp"
#include "qtl/kernels/float/elementwise_f32.hpp"
#include "qtl/kernels/float/gemm_f32.hpp"
#include "qtl/kernels/float/layout_f32.hpp"
#include "qtl/kernels/float/pool_f32.hpp"
#include "qtl/ops/broadcast.hpp"

namespace qtl {

class float_executor {
public:
    // Validates g (g.validate()), checks every node is supported and its
    // shapes consistent, and prepares each node once (packed weights etc.).
    // Throws qtl::error naming the node for an unsupported op, listing the
    // ops it does support.
    explicit float_executor(const graph& g) : graph_(g) {
        graph_.validate();
        values_.resize(graph_.tensors.size());
        for (std::size_t t = 0; t < graph_.tensors.size(); ++t) {
            const graph_tensor& gt = graph_.tensors[t];
            if (gt.is_constant)
                values_[t] = constant_as_float(static_cast<std::int32_t>(t));
            else
                values_[t].assign(gt.size(), 0.0f);
        }
        steps_.reserve(graph_.nodes.size());
        for (std::size_t n = 0; n < graph_.nodes.size(); ++n) steps_.push_back(prepare(static_cast<std::int32_t>(n)));
    }

    // The closures point into this object's buffers: moving keeps them (the
    // vectors' storage moves along), copying would not.
    float_executor(const float_executor&) = delete;
    float_executor& operator=(const float_executor&) = delete;
    float_executor(float_executor&&) = default;
    float_executor& operator=(float_executor&&) = default;

    std::size_t input_count() const { return graph_.inputs.size(); }
    std::size_t output_count() const { return graph_.outputs.size(); }

    // values.size() must equal the input's element count.
    void set_input(std::size_t i, std::span<const float> values) {
        check(i < graph_.inputs.size(), "float_executor", "input ", i, " does not exist (the graph has ",
              graph_.inputs.size(), " inputs)");
        const std::int32_t t = graph_.inputs[i];
        auto& buffer = values_[static_cast<std::size_t>(t)];
        check(values.size() == buffer.size(), graph_.describe_tensor(t), "input ", i, " expects ", buffer.size(),
              " values (shape ", shape_text(graph_.tensor(t).shape), "), got ", values.size());
        std::copy(values.begin(), values.end(), buffer.begin());
    }

    // Runs every node in order.
    void invoke() {
        for (auto& run : steps_) run();
    }

    // Layer by layer (the fake-quantized graph, per-layer comparisons): run
    // node n alone, and overwrite any activation between nodes.
    std::size_t node_count() const noexcept { return steps_.size(); }
    void invoke_node(std::size_t n) {
        check(n < steps_.size(), "float_executor", "node ", n, " does not exist (the graph has ", steps_.size(),
              " nodes)");
        steps_[n]();
    }
    void set_values(std::int32_t tensor, std::span<const float> v) {
        check(tensor >= 0 && static_cast<std::size_t>(tensor) < values_.size(), "float_executor", "tensor index ",
              tensor, " is out of range (", values_.size(), " tensors)");
        check(!graph_.tensor(tensor).is_constant, graph_.describe_tensor(tensor), "is a constant");
        auto& buffer = values_[static_cast<std::size_t>(tensor)];
        check(v.size() == buffer.size(), graph_.describe_tensor(tensor), "holds ", buffer.size(), " values, got ",
              v.size());
        std::copy(v.begin(), v.end(), buffer.begin());
    }

    std::span<const float> output(std::size_t i) const {
        check(i < graph_.outputs.size(), "float_executor", "output ", i, " does not exist (the graph has ",
              graph_.outputs.size(), " outputs)");
        return values_[static_cast<std::size_t>(graph_.outputs[i])];
    }

    // Any tensor's float values after invoke() (activations, graph inputs;
    // constants too, converted to float).
    std::span<const float> values(std::int32_t tensor) const {
        check(tensor >= 0 && static_cast<std::size_t>(tensor) < values_.size(), "float_executor", "tensor index ",
              tensor, " is out of range (", values_.size(), " tensors)");
        return values_[static_cast<std::size_t>(tensor)];
    }

    const graph& model() const { return graph_; }

    // The ops the constructor accepts.
    static std::string supported_ops() {
        return "FULLY_CONNECTED, CONV_2D, DEPTHWISE_CONV_2D, AVERAGE_POOL_2D, MAX_POOL_2D, ADD, SUB, MUL, "
               "CONCATENATION, RESHAPE, SOFTMAX, LOGISTIC, TANH, RELU, RELU6, RELU_N1_TO_1, LEAKY_RELU, "
               "HARD_SWISH, PAD, PADV2, MEAN, TRANSPOSE, STRIDED_SLICE, SQUEEZE, EXPAND_DIMS, CAST";
    }

private:
    using op = tflite::builtin_operator;
    using step = std::function<void()>;

    graph graph_;
    std::vector<std::vector<float>> values_;
    std::vector<step> steps_;

    // ---- tensors -------------------------------------------------------------

    std::vector<float> constant_as_float(std::int32_t t) const {
        const graph_tensor& gt = graph_.tensor(t);
        const std::size_t n = gt.size();
        std::vector<float> out(n);
        const auto* bytes = gt.data.data();
        auto convert = [&](auto tag) {
            using T = decltype(tag);
            for (std::size_t i = 0; i < n; ++i) {
                T v;
                std::memcpy(&v, bytes + i * sizeof(T), sizeof(T));
                out[i] = static_cast<float>(v);
            }
        };
        switch (gt.type) {
            case tflite::tensor_type::FLOAT32: convert(float{}); break;
            case tflite::tensor_type::INT32: convert(std::int32_t{}); break;
            case tflite::tensor_type::INT64: convert(std::int64_t{}); break;
            case tflite::tensor_type::INT16: convert(std::int16_t{}); break;
            case tflite::tensor_type::INT8: convert(std::int8_t{}); break;
            case tflite::tensor_type::UINT8: convert(std::uint8_t{}); break;
            case tflite::tensor_type::BOOL: convert(std::uint8_t{}); break;
            default:
                throw error(graph_.describe_tensor(t),
                            detail::concat("constant of type ", tflite::describe(gt.type), " cannot be read as float"));
        }
        return out;
    }

    float* buffer(std::int32_t t) { return values_[static_cast<std::size_t>(t)].data(); }

    // ---- per-node helpers ------------------------------------------------------

    struct node_context {
        const graph& g;
        const graph_node& node;
        std::string where;

        // Input i, which must be present.
        std::int32_t in(std::size_t i) const {
            check(i < node.inputs.size() && node.inputs[i] >= 0, where, "input ", i, " is missing (the node has ",
                  node.inputs.size(), " inputs)");
            return node.inputs[i];
        }
        bool has_input(std::size_t i) const { return i < node.inputs.size() && node.inputs[i] >= 0; }
        // The output; every supported op writes exactly one tensor.
        std::int32_t out() const {
            check(node.outputs.size() == 1, where, "has ", node.outputs.size(), " outputs, expected 1");
            return node.outputs[0];
        }
        void expect_inputs(std::size_t lo, std::size_t hi) const {
            check(node.inputs.size() >= lo && node.inputs.size() <= hi, where, "expects ", lo,
                  lo == hi ? "" : detail::concat(" to ", hi), " inputs, got ", node.inputs.size());
        }
        const shape& shape_of(std::int32_t t) const { return g.tensor(t).shape; }
        template <class Options>
        Options options() const {
            if (std::holds_alternative<std::monostate>(node.options)) return Options{};
            const auto* o = std::get_if<Options>(&node.options);
            check(o != nullptr, where, "its builtin options are of the wrong kind for ", tflite::describe(node.op));
            return *o;
        }
        // The computed output shape must be the graph's.
        void expect_output_shape(const shape& computed) const {
            const std::int32_t t = out();
            check(computed == shape_of(t), where, "computes output shape ", shape_text(computed), " but ",
                  g.describe_tensor(t), " has shape ", shape_text(shape_of(t)));
        }
        // A constant integer operand (INT32 or INT64), e.g. axes or paddings.
        std::vector<std::int64_t> constant_ints(std::size_t i, const char* what) const {
            const std::int32_t t = in(i);
            const graph_tensor& gt = g.tensor(t);
            check(gt.is_constant, where, what, " (input ", i, ", ", g.describe_tensor(t),
                  ") must be a constant; the float executor does not compute shapes at run time");
            std::vector<std::int64_t> out;
            if (gt.type == tflite::tensor_type::INT32)
                for (auto v : gt.values<std::int32_t>()) out.push_back(v);
            else if (gt.type == tflite::tensor_type::INT64)
                out = gt.values<std::int64_t>();
            else
                throw error(where, detail::concat(what, " (", g.describe_tensor(t), ") must be INT32 or INT64, got ",
                                                  tflite::describe(gt.type)));
            return out;
        }
        std::vector<std::int32_t> constant_int32s(std::size_t i, const char* what) const {
            std::vector<std::int32_t> out;
            for (auto v : constant_ints(i, what)) {
                check(v >= std::numeric_limits<std::int32_t>::min() && v <= std::numeric_limits<std::int32_t>::max(),
                      where, what, " value ", v, " does not fit in int32");
                out.push_back(static_cast<std::int32_t>(v));
            }
            return out;
        }
        // A constant float operand (weights, bias).
        void expect_constant(std::size_t i, const char* what) const {
            const std::int32_t t = in(i);
            check(g.tensor(t).is_constant, where, what, " (", g.describe_tensor(t),
                  ") must be a constant: the float executor packs it once");
        }
        std::size_t rank(std::int32_t t) const { return shape_of(t).size(); }
        void expect_rank(std::int32_t t, std::size_t r, const char* what) const {
            check(rank(t) == r, where, what, " (", g.describe_tensor(t), ") must have rank ", r, ", got shape ",
                  shape_text(shape_of(t)));
        }
    };

    // The clamp of a fused activation.
    static std::pair<float, float> activation_range(tflite::activation_function_type a, const std::string& where) {
        constexpr float inf = std::numeric_limits<float>::infinity();
        switch (a) {
            case tflite::activation_function_type::NONE: return {-inf, inf};
            case tflite::activation_function_type::RELU: return {0.0f, inf};
            case tflite::activation_function_type::RELU_N1_TO_1: return {-1.0f, 1.0f};
            case tflite::activation_function_type::RELU6: return {0.0f, 6.0f};
            default: break;
        }
        throw error(where, detail::concat("fused activation ", tflite::name_of(a),
                                          " is not supported (NONE, RELU, RELU_N1_TO_1, RELU6 are)"));
    }

    static ops::padding to_ops_padding(tflite::padding p) {
        return p == tflite::padding::SAME ? ops::padding::same : ops::padding::valid;
    }

    // The bias of FULLY_CONNECTED / CONV_2D / DEPTHWISE_CONV_2D (input 2), if any.
    std::vector<float> bias_of(const node_context& c, std::size_t n) const {
        if (!c.has_input(2)) return {};
        c.expect_constant(2, "bias");
        const std::int32_t t = c.in(2);
        check(graph_.tensor(t).size() == n, c.where, "bias (", graph_.describe_tensor(t), ") has ",
              graph_.tensor(t).size(), " elements, expected ", n);
        return values_[static_cast<std::size_t>(t)];
    }

    // A node that copies its input unchanged into an output of the graph's shape.
    step copy_step(std::int32_t in, std::int32_t out) {
        const float* src = buffer(in);
        float* dst = buffer(out);
        const std::size_t n = graph_.tensor(out).size();
        return [src, dst, n] { std::copy(src, src + n, dst); };
    }

    // ---- prepare ---------------------------------------------------------------

    // Defined below (or, with QTL_EXTERN_EXECUTORS, in the one file that
    // includes qtl/executors_impl.hpp).
    step prepare(std::int32_t index);

    step prepare_fully_connected(const node_context& c) {
        c.expect_inputs(2, 3);
        const auto o = c.options<tflite::fully_connected_options>();
        check(o.weights_format == tflite::fully_connected_options_weights_format::DEFAULT, c.where,
              "only the DEFAULT weights format is supported");
        const std::int32_t in = c.in(0), w = c.in(1), out = c.out();
        c.expect_constant(1, "weights");
        c.expect_rank(w, 2, "weights");
        const std::size_t n = static_cast<std::size_t>(c.shape_of(w)[0]), k = static_cast<std::size_t>(c.shape_of(w)[1]);
        const shape& s = c.shape_of(in);
        const std::size_t total = graph_.tensor(in).size();
        check(k > 0 && n > 0 && total % k == 0, c.where, "input shape ", shape_text(s),
              " is not a whole number of rows of the weights' ", k, " input features");
        const std::size_t rows = total / k;
        shape expected;
        if (o.keep_num_dims) {
            check(!s.empty() && static_cast<std::size_t>(s.back()) == k, c.where, "keep_num_dims needs the input's last "
                  "dimension to be the weights' ", k, " input features, got shape ", shape_text(s));
            expected = s;
            expected.back() = static_cast<std::int32_t>(n);
        } else {
            expected = {static_cast<std::int32_t>(rows), static_cast<std::int32_t>(n)};
        }
        c.expect_output_shape(expected);
        const auto [lo, hi] = activation_range(o.fused_activation_function, c.where);
        const std::vector<float> bias = bias_of(c, n);
        auto packed = std::make_shared<kernels::gemm_f32_packed>(
            kernels::pack_gemm_f32(values_[static_cast<std::size_t>(w)], n, k, bias, lo, hi));
        const float* a = buffer(in);
        float* y = buffer(out);
        return [packed, a, y, rows, k, n] { kernels::gemm_f32(*packed, a, rows, k, y, n); };
    }

    step prepare_conv_2d(const node_context& c) {
        c.expect_inputs(2, 3);
        const auto o = c.options<tflite::conv_2d_options>();
        const std::int32_t in = c.in(0), w = c.in(1), out = c.out();
        c.expect_constant(1, "filter");
        c.expect_rank(in, 4, "input");
        c.expect_rank(w, 4, "filter");
        const shape& s = c.shape_of(in);
        const shape& f = c.shape_of(w);
        check(f[3] == s[3], c.where, "filter ", shape_text(f), " expects ", f[3], " input channels, the input ",
              shape_text(s), " has ", s[3], " (grouped convolution is not supported)");
        kernels::conv_f32_params p;
        p.batch = s[0];
        p.input_height = s[1];
        p.input_width = s[2];
        p.input_channels = s[3];
        p.output_channels = f[0];
        p.filter_height = f[1];
        p.filter_width = f[2];
        p.stride_height = o.stride_h;
        p.stride_width = o.stride_w;
        p.dilation_height = o.dilation_h_factor;
        p.dilation_width = o.dilation_w_factor;
        p.padding = to_ops_padding(o.padding);
        std::tie(p.lo, p.hi) = activation_range(o.fused_activation_function, c.where);
        const std::vector<float> bias = bias_of(c, static_cast<std::size_t>(f[0]));
        auto packed = std::make_shared<kernels::conv_f32_packed>(kernels::pack_conv_f32(
            p, values_[static_cast<std::size_t>(w)], bias, kernels::best_float_isa(), c.where));
        c.expect_output_shape({p.batch, packed->window.height.output_size, packed->window.width.output_size, f[0]});
        const float* x = buffer(in);
        float* y = buffer(out);
        return [packed, x, y] { kernels::conv_f32(*packed, x, y); };
    }

    step prepare_depthwise_conv_2d(const node_context& c) {
        c.expect_inputs(2, 3);
        const auto o = c.options<tflite::depthwise_conv_2d_options>();
        const std::int32_t in = c.in(0), w = c.in(1), out = c.out();
        c.expect_constant(1, "filter");
        c.expect_rank(in, 4, "input");
        c.expect_rank(w, 4, "filter");
        const shape& s = c.shape_of(in);
        const shape& f = c.shape_of(w);
        check(f[0] == 1 && s[3] > 0 && f[3] % s[3] == 0, c.where, "filter ", shape_text(f),
              " must be [1, h, w, channels * multiplier] for an input with ", s[3], " channels");
        kernels::depthwise_f32_params p;
        p.batch = s[0];
        p.input_height = s[1];
        p.input_width = s[2];
        p.input_channels = s[3];
        p.multiplier = f[3] / s[3];  // TFLite >= 2.1 derives it from the shapes (the option is redundant)
        p.filter_height = f[1];
        p.filter_width = f[2];
        p.stride_height = o.stride_h;
        p.stride_width = o.stride_w;
        p.dilation_height = o.dilation_h_factor;
        p.dilation_width = o.dilation_w_factor;
        p.padding = to_ops_padding(o.padding);
        std::tie(p.lo, p.hi) = activation_range(o.fused_activation_function, c.where);
        const std::vector<float> bias = bias_of(c, static_cast<std::size_t>(f[3]));
        auto packed = std::make_shared<kernels::depthwise_f32_packed>(kernels::pack_depthwise_f32(
            p, values_[static_cast<std::size_t>(w)], bias, kernels::best_float_isa(), c.where));
        c.expect_output_shape({p.batch, packed->window.height.output_size, packed->window.width.output_size, f[3]});
        const float* x = buffer(in);
        float* y = buffer(out);
        return [packed, x, y] { kernels::depthwise_f32(*packed, x, y); };
    }

    step prepare_pool(const node_context& c, kernels::pool_f32_kind kind) {
        c.expect_inputs(1, 1);
        const auto o = c.options<tflite::pool_2d_options>();
        const std::int32_t in = c.in(0), out = c.out();
        c.expect_rank(in, 4, "input");
        const shape& s = c.shape_of(in);
        kernels::pool_f32_params p;
        p.kind = kind;
        p.batch = s[0];
        p.input_height = s[1];
        p.input_width = s[2];
        p.channels = s[3];
        p.filter_height = o.filter_height;
        p.filter_width = o.filter_width;
        p.stride_height = o.stride_h;
        p.stride_width = o.stride_w;
        p.padding = to_ops_padding(o.padding);
        std::tie(p.lo, p.hi) = activation_range(o.fused_activation_function, c.where);
        auto prepared = std::make_shared<kernels::pool_f32_prepared>(kernels::prepare_pool_f32(p, c.where));
        c.expect_output_shape({p.batch, prepared->window.height.output_size, prepared->window.width.output_size, s[3]});
        const float* x = buffer(in);
        float* y = buffer(out);
        return [prepared, x, y] { kernels::pool_f32(*prepared, x, y); };
    }

    template <class Options>
    step prepare_binary(const node_context& c, kernels::binary_f32_kind kind) {
        c.expect_inputs(2, 2);
        const auto o = c.options<Options>();
        const std::int32_t a = c.in(0), b = c.in(1), out = c.out();
        auto plan = std::make_shared<ops::broadcast_plan>(ops::plan_broadcast(c.shape_of(a), c.shape_of(b), c.where));
        c.expect_output_shape(plan->output_shape);
        const auto [lo, hi] = activation_range(o.fused_activation_function, c.where);
        const float* x = buffer(a);
        const float* z = buffer(b);
        float* y = buffer(out);
        return [plan, kind, x, z, y, lo = lo, hi = hi] { kernels::binary_f32(kind, *plan, x, z, y, lo, hi); };
    }

    step prepare_concatenation(const node_context& c) {
        check(!c.node.inputs.empty(), c.where, "needs at least one input");
        const auto o = c.options<tflite::concatenation_options>();
        std::vector<const float*> inputs;
        std::vector<shape> shapes;
        for (std::size_t i = 0; i < c.node.inputs.size(); ++i) {
            inputs.push_back(buffer(c.in(i)));
            shapes.push_back(c.shape_of(c.in(i)));
        }
        const int axis = normalize_axis(o.axis, shapes[0].size(), c.where);
        c.expect_output_shape(kernels::concatenation_f32_shape(shapes, axis, c.where));
        const auto [lo, hi] = activation_range(o.fused_activation_function, c.where);
        float* y = buffer(c.out());
        const std::size_t n = graph_.tensor(c.out()).size();
        return [inputs, shapes, axis, y, n, lo = lo, hi = hi] {
            kernels::concatenation_f32(inputs, shapes, axis, y);
            kernels::clamp_f32(y, n, lo, hi);
        };
    }

    step prepare_reshape(const node_context& c) {
        c.expect_inputs(1, 2);
        const std::int32_t in = c.in(0), out = c.out();
        const auto o = c.options<tflite::reshape_options>();
        std::vector<std::int32_t> target;
        // TFLite prefers the shape input; without a constant one, the options; else the graph's shape.
        if (c.has_input(1) && graph_.tensor(c.in(1)).is_constant)
            target = c.constant_int32s(1, "shape");
        else if (o.new_shape)
            target = *o.new_shape;
        else
            target = c.shape_of(out);
        const std::size_t total = graph_.tensor(in).size();
        std::size_t known = 1;
        int unknown = -1;
        for (std::size_t d = 0; d < target.size(); ++d) {
            if (target[d] == -1) {
                check(unknown < 0, c.where, "new shape ", shape_text(target), " has more than one -1");
                unknown = static_cast<int>(d);
            } else {
                check(target[d] >= 0, c.where, "new shape ", shape_text(target), " has a negative dimension");
                known *= static_cast<std::size_t>(target[d]);
            }
        }
        if (unknown >= 0) {
            check(known > 0 && total % known == 0, c.where, "cannot infer the -1 of ", shape_text(target), " for ",
                  total, " elements");
            target[static_cast<std::size_t>(unknown)] = static_cast<std::int32_t>(total / known);
        } else {
            check(known == total, c.where, "new shape ", shape_text(target), " has ", known, " elements, the input ",
                  shape_text(c.shape_of(in)), " has ", total);
        }
        c.expect_output_shape(target);
        return copy_step(in, out);
    }

    step prepare_softmax(const node_context& c) {
        c.expect_inputs(1, 1);
        const float beta = c.options<tflite::softmax_options>().beta;
        const std::int32_t in = c.in(0), out = c.out();
        const shape& s = c.shape_of(in);
        c.expect_output_shape(s);
        check(!s.empty(), c.where, "input must have rank >= 1");
        const std::size_t depth = static_cast<std::size_t>(s.back());
        const std::size_t rows = depth == 0 ? 0 : graph_.tensor(in).size() / depth;
        const float* x = buffer(in);
        float* y = buffer(out);
        return [x, y, rows, depth, beta] { kernels::softmax_f32(x, y, rows, depth, beta); };
    }

    step prepare_unary(const node_context& c, kernels::unary_f32_kind kind, float alpha = 0.0f) {
        c.expect_inputs(1, 1);
        const std::int32_t in = c.in(0), out = c.out();
        c.expect_output_shape(c.shape_of(in));
        const float* x = buffer(in);
        float* y = buffer(out);
        const std::size_t n = graph_.tensor(in).size();
        return [kind, x, y, n, alpha] { kernels::unary_f32(kind, x, y, n, alpha); };
    }

    step prepare_pad(const node_context& c) {
        const bool v2 = c.node.op == op::PADV2;
        c.expect_inputs(2, v2 ? 3 : 2);
        const std::int32_t in = c.in(0), out = c.out();
        const shape& s = c.shape_of(in);
        const auto flat = c.constant_ints(1, "paddings");
        check(flat.size() == 2 * s.size(), c.where, "paddings must be [", s.size(), ", 2] for input ", shape_text(s),
              ", got ", flat.size(), " values");
        std::vector<std::pair<std::int64_t, std::int64_t>> paddings;
        for (std::size_t d = 0; d < s.size(); ++d) paddings.emplace_back(flat[2 * d], flat[2 * d + 1]);
        c.expect_output_shape(kernels::pad_f32_shape(s, paddings, c.where));
        const float* value = nullptr;  // PADV2's constant_values, read at run time (it may be computed)
        if (v2 && c.has_input(2)) {
            check(graph_.tensor(c.in(2)).size() == 1, c.where, "constant_values must hold one value, got ",
                  graph_.tensor(c.in(2)).size());
            value = buffer(c.in(2));
        }
        const float* x = buffer(in);
        float* y = buffer(out);
        return [x, y, s, paddings, value] { kernels::pad_f32(x, s, paddings, value ? *value : 0.0f, y); };
    }

    step prepare_mean(const node_context& c) {
        c.expect_inputs(2, 2);
        const std::int32_t in = c.in(0), out = c.out();
        const shape& s = c.shape_of(in);
        const std::vector<std::int32_t> axes = c.constant_int32s(1, "axes");
        const bool keep = c.options<tflite::reducer_options>().keep_dims;
        c.expect_output_shape(kernels::mean_f32_shape(s, axes, keep, c.where));
        const float* x = buffer(in);
        float* y = buffer(out);
        return [x, y, s, axes] { kernels::mean_f32(x, s, axes, y); };
    }

    step prepare_transpose(const node_context& c) {
        c.expect_inputs(2, 2);
        const std::int32_t in = c.in(0), out = c.out();
        const shape& s = c.shape_of(in);
        const std::vector<std::int32_t> perm = c.constant_int32s(1, "perm");
        c.expect_output_shape(kernels::transpose_f32_shape(s, perm, c.where));
        const float* x = buffer(in);
        float* y = buffer(out);
        return [x, y, s, perm] { kernels::transpose_f32(x, s, perm, y); };
    }

    step prepare_strided_slice(const node_context& c) {
        c.expect_inputs(4, 4);
        const std::int32_t in = c.in(0), out = c.out();
        const auto o = c.options<tflite::strided_slice_options>();
        auto u = [](std::int32_t m) { return static_cast<std::uint32_t>(m); };
        kernels::strided_slice_f32_plan plan;
        try {
            plan = kernels::plan_strided_slice_f32(c.shape_of(in), c.constant_int32s(1, "begin"),
                                                   c.constant_int32s(2, "end"), c.constant_int32s(3, "strides"),
                                                   u(o.begin_mask), u(o.end_mask), u(o.ellipsis_mask),
                                                   u(o.new_axis_mask), u(o.shrink_axis_mask), o.offset);
        } catch (const error& e) {
            throw error(c.where, e.what());
        }
        c.expect_output_shape(plan.output_shape);
        const float* x = buffer(in);
        float* y = buffer(out);
        return [x, y, plan] { kernels::strided_slice_f32(plan, x, y); };
    }

    step prepare_squeeze(const node_context& c) {
        c.expect_inputs(1, 1);
        const std::int32_t in = c.in(0), out = c.out();
        // squeeze_dims is not decoded: the output must be the input with some size-1 dims removed.
        const shape& s = c.shape_of(in);
        const shape& t = c.shape_of(out);
        std::size_t j = 0;
        bool ok = true;
        for (std::size_t d = 0; d < s.size(); ++d) {
            if (j < t.size() && s[d] == t[j])
                ++j;
            else if (s[d] != 1)
                ok = false;
        }
        check(ok && j == t.size(), c.where, "output shape ", shape_text(t), " is not the input shape ", shape_text(s),
              " with size-1 dimensions removed");
        return copy_step(in, out);
    }

    step prepare_expand_dims(const node_context& c) {
        c.expect_inputs(2, 2);
        const std::int32_t in = c.in(0), out = c.out();
        const auto axis_values = c.constant_int32s(1, "axis");
        check(axis_values.size() == 1, c.where, "axis must hold one value, got ", axis_values.size());
        shape s = c.shape_of(in);
        const int r = static_cast<int>(s.size());
        int axis = axis_values[0];
        check(axis >= -r - 1 && axis <= r, c.where, "axis ", axis, " is out of range for rank ", r);
        if (axis < 0) axis += r + 1;
        s.insert(s.begin() + axis, 1);
        c.expect_output_shape(s);
        return copy_step(in, out);
    }

    step prepare_cast(const node_context& c) {
        c.expect_inputs(1, 1);
        const std::int32_t in = c.in(0), out = c.out();
        c.expect_output_shape(c.shape_of(in));
        const auto type = graph_.tensor(out).type;
        const float* x = buffer(in);
        float* y = buffer(out);
        const std::size_t n = graph_.tensor(in).size();
        switch (type) {
            case tflite::tensor_type::FLOAT32: return copy_step(in, out);
            case tflite::tensor_type::INT32:
            case tflite::tensor_type::INT64:
            case tflite::tensor_type::INT16:
            case tflite::tensor_type::INT8:
            case tflite::tensor_type::UINT8:  // static_cast's truncation toward zero
                return [x, y, n] { std::transform(x, x + n, y, [](float v) { return std::trunc(v); }); };
            case tflite::tensor_type::BOOL:
                return [x, y, n] { std::transform(x, x + n, y, [](float v) { return v != 0.0f ? 1.0f : 0.0f; }); };
            default: break;
        }
        throw error(c.where, detail::concat("cannot cast to ", tflite::describe(type)));
    }
};

#if QTL_EXECUTOR_DEFINITIONS  // see qtl/core/extern_executors.hpp
QTL_EXECUTOR_INLINE float_executor::step float_executor::prepare(std::int32_t index) {
    const graph_node& node = graph_.nodes[static_cast<std::size_t>(index)];
    const node_context c{graph_, node, graph_.describe_node(index)};
    switch (node.op) {
        case op::FULLY_CONNECTED: return prepare_fully_connected(c);
        case op::CONV_2D: return prepare_conv_2d(c);
        case op::DEPTHWISE_CONV_2D: return prepare_depthwise_conv_2d(c);
        case op::AVERAGE_POOL_2D: return prepare_pool(c, kernels::pool_f32_kind::average);
        case op::MAX_POOL_2D: return prepare_pool(c, kernels::pool_f32_kind::max);
        case op::ADD: return prepare_binary<tflite::add_options>(c, kernels::binary_f32_kind::add);
        case op::SUB: return prepare_binary<tflite::sub_options>(c, kernels::binary_f32_kind::sub);
        case op::MUL: return prepare_binary<tflite::mul_options>(c, kernels::binary_f32_kind::mul);
        case op::CONCATENATION: return prepare_concatenation(c);
        case op::RESHAPE: return prepare_reshape(c);
        case op::SOFTMAX: return prepare_softmax(c);
        case op::LOGISTIC: return prepare_unary(c, kernels::unary_f32_kind::logistic);
        case op::TANH: return prepare_unary(c, kernels::unary_f32_kind::tanh);
        case op::RELU: return prepare_unary(c, kernels::unary_f32_kind::relu);
        case op::RELU6: return prepare_unary(c, kernels::unary_f32_kind::relu6);
        case op::RELU_N1_TO_1: return prepare_unary(c, kernels::unary_f32_kind::relu_n1_to_1);
        case op::LEAKY_RELU:
            return prepare_unary(c, kernels::unary_f32_kind::leaky_relu,
                                 c.options<tflite::leaky_relu_options>().alpha);
        case op::HARD_SWISH: return prepare_unary(c, kernels::unary_f32_kind::hard_swish);
        case op::PAD:
        case op::PADV2: return prepare_pad(c);
        case op::MEAN: return prepare_mean(c);
        case op::TRANSPOSE: return prepare_transpose(c);
        case op::STRIDED_SLICE: return prepare_strided_slice(c);
        case op::SQUEEZE: return prepare_squeeze(c);
        case op::EXPAND_DIMS: return prepare_expand_dims(c);
        case op::CAST: return prepare_cast(c);
        default: break;
    }
    throw error(c.where, detail::concat("op ", tflite::describe(node.op),
                                        " is not supported by the float executor; supported ops: ",
                                        supported_ops()));
}
#endif

}  // namespace qtl
