#pragma once
// qtl::graph_builder: write a float model as function calls and get a
// validated qtl::graph.  Every call infers its output shape the way TFLite's
// Prepare does and throws qtl::error (naming the layer and both shapes) when
// the shapes cannot work, so a wrong model fails where it is written instead
// of deep inside calibration.
//
//   qtl::graph_builder b;
//   auto x = b.input("image", {1, 28, 28, 1});
//   auto c = b.conv_2d(x, "conv1", filter, {8, 3, 3, 1}, bias, {.padding = qtl::tflite::padding::SAME,
//                                                                .activation = qtl::fused_activation::relu});
//   auto p = b.max_pool_2d(c, {.filter = 2});
//   auto d = b.fully_connected(b.flatten(p), "dense1", w, {10, 1568}, bias);
//   b.output(b.softmax(d));
//   qtl::graph g = std::move(b).build();
//
// Layouts are TFLite's: activations NHWC, FULLY_CONNECTED weights [out, in],
// CONV_2D filters [O, H, W, I], DEPTHWISE_CONV_2D filters [1, H, W, C * mult],
// biases [out].  Weighted layers take a name (their weights become
// "<name>/weights" and "<name>/bias"); other ops take an optional one and get
// "<op>", "<op>_1", ... otherwise.  A name given twice is an error.

#include <algorithm>
#include <array>
#include <cstdint>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "qtl/core/error.hpp"
#include "qtl/core/shape.hpp"
#include "qtl/graph/graph.hpp"
#include "qtl/io/tflite/model.hpp"
#include "qtl/ops/fused_activation.hpp"
#include "qtl/ops/padding.hpp"

namespace qtl {

// The schema's ActivationFunctionType for a fused activation (same values,
// spelled out so a reordering of either enum cannot go unnoticed).
constexpr tflite::activation_function_type to_tflite(fused_activation a) {
    switch (a) {
        case fused_activation::none: return tflite::activation_function_type::NONE;
        case fused_activation::relu: return tflite::activation_function_type::RELU;
        case fused_activation::relu_n1_to_1: return tflite::activation_function_type::RELU_N1_TO_1;
        case fused_activation::relu6: return tflite::activation_function_type::RELU6;
        case fused_activation::tanh: return tflite::activation_function_type::TANH;
        case fused_activation::sign_bit: return tflite::activation_function_type::SIGN_BIT;
    }
    return tflite::activation_function_type::NONE;
}

// CONV_2D and DEPTHWISE_CONV_2D.  `stride` and `dilation` apply to both axes
// unless the per-axis fields are set (> 0).  VALID by default, as Keras.
struct conv_2d_params {
    std::int32_t stride = 1;
    std::int32_t dilation = 1;
    tflite::padding padding = tflite::padding::VALID;
    fused_activation activation = fused_activation::none;
    std::int32_t stride_h = 0, stride_w = 0;
    std::int32_t dilation_h = 0, dilation_w = 0;
    std::int32_t depth_multiplier = 0;  // depthwise only; 0: inferred from the filter
};

// AVERAGE_POOL_2D and MAX_POOL_2D.  Keras defaults: 2x2 window, stride = the
// window, VALID.
struct pool_2d_params {
    std::int32_t filter = 2;
    std::int32_t stride = 0;  // 0: the filter size
    tflite::padding padding = tflite::padding::VALID;
    fused_activation activation = fused_activation::none;
    std::int32_t filter_h = 0, filter_w = 0;
    std::int32_t stride_h = 0, stride_w = 0;
};

class graph_builder {
public:
    // A tensor of the graph being built (an index into graph::tensors).
    struct tensor {
        std::int32_t index = -1;
        friend bool operator==(const tensor&, const tensor&) = default;
    };

    // ---- sources --------------------------------------------------------------

    tensor input(std::string name, qtl::shape s, tflite::tensor_type type = tflite::tensor_type::FLOAT32) {
        (void)num_elements(s, "input '" + name + "'");
        const auto t = tensor{g_.add_activation(claim(std::move(name), "input"), std::move(s), type)};
        g_.inputs.push_back(t.index);
        return t;
    }
    tensor constant(std::string name, qtl::shape s, std::span<const float> values) {
        check_count(values.size(), s, "constant '" + name + "'", "values");
        return tensor{g_.add_constant(claim(std::move(name), "constant"), std::move(s), values)};
    }
    tensor constant(std::string name, qtl::shape s, std::span<const std::int32_t> values) {
        check_count(values.size(), s, "constant '" + name + "'", "values");
        return tensor{g_.add_constant(claim(std::move(name), "constant"), std::move(s), values)};
    }

    // Marks `t` as a graph output (in call order).
    void output(tensor t) { g_.outputs.push_back(checked(t, "output")); }

    // ---- weighted layers --------------------------------------------------------

    // y = x . W^T + b with W [out, in]; x [..., in] (a rank > 2 input is
    // flattened to [elements / in, in], as TFLite does).  An empty bias: none.
    tensor fully_connected(tensor x, std::string name, std::span<const float> weights, qtl::shape weights_shape,
                           std::span<const float> bias = {}, fused_activation activation = fused_activation::none) {
        const std::string where = "FULLY_CONNECTED '" + name + "'";
        const auto in = shape_of(x, where);
        check(weights_shape.size() == 2, where, "weights must be [out, in], got ", shape_text(weights_shape));
        const std::int32_t out_features = weights_shape[0], in_features = weights_shape[1];
        check(!in.empty() && in_features > 0, where, "input ", shape_text(in), " does not match weights ",
              shape_text(weights_shape));
        const auto total = num_elements(in, where);
        check(in.back() == in_features || (in.size() > 2 && total % static_cast<std::size_t>(in_features) == 0),
              where, "input ", shape_text(in), " has ", in.back(), " features but the weights ",
              shape_text(weights_shape), " expect ", in_features);
        check_count(weights.size(), weights_shape, where, "weights");
        check_bias(bias, out_features, where);
        const qtl::shape out_shape = in.size() == 2 ? qtl::shape{in[0], out_features}
                                                    : qtl::shape{static_cast<std::int32_t>(total / in_features),
                                                                 out_features};
        name = claim(std::move(name), "fully_connected");
        const auto w = g_.add_constant(claim(name + "/weights", ""), weights_shape, weights);
        const auto b = bias.empty() ? -1 : g_.add_constant(claim(name + "/bias", ""), {out_features}, bias);
        tflite::fully_connected_options o;
        o.fused_activation_function = to_tflite(activation);
        return node(tflite::builtin_operator::FULLY_CONNECTED, o, {x.index, w, b}, name, out_shape);
    }

    // NHWC input [N, H, W, I], filter [O, KH, KW, I] -> [N, OH, OW, O].
    tensor conv_2d(tensor x, std::string name, std::span<const float> filter, qtl::shape filter_shape,
                   std::span<const float> bias = {}, const conv_2d_params& p = {}) {
        const std::string where = "CONV_2D '" + name + "'";
        const auto in = shape_of(x, where);
        check(in.size() == 4, where, "input must be NHWC (rank 4), got ", shape_text(in));
        check(filter_shape.size() == 4, where, "filter must be [O, H, W, I], got ", shape_text(filter_shape));
        check(filter_shape[3] == in[3], where, "input ", shape_text(in), " has ", in[3], " channels but the filter ",
              shape_text(filter_shape), " expects ", filter_shape[3]);
        check_count(filter.size(), filter_shape, where, "filter");
        check_bias(bias, filter_shape[0], where);
        const auto win = window(p.padding, filter_shape[1], filter_shape[2], pick(p.stride_h, p.stride),
                                pick(p.stride_w, p.stride), pick(p.dilation_h, p.dilation),
                                pick(p.dilation_w, p.dilation));
        const auto pw = ops::compute_padding(win, in[1], in[2], where);
        tflite::conv_2d_options o;
        o.padding = p.padding;
        o.stride_h = win.stride_height;
        o.stride_w = win.stride_width;
        o.dilation_h_factor = win.dilation_height;
        o.dilation_w_factor = win.dilation_width;
        o.fused_activation_function = to_tflite(p.activation);
        name = claim(std::move(name), "conv_2d");
        const auto f = g_.add_constant(claim(name + "/weights", ""), filter_shape, filter);
        const auto b = bias.empty() ? -1 : g_.add_constant(claim(name + "/bias", ""), {filter_shape[0]}, bias);
        return node(tflite::builtin_operator::CONV_2D, o, {x.index, f, b}, name,
                    {in[0], pw.height.output_size, pw.width.output_size, filter_shape[0]});
    }

    // NHWC input [N, H, W, C], filter [1, KH, KW, C * multiplier] -> [N, OH, OW, C * multiplier].
    tensor depthwise_conv_2d(tensor x, std::string name, std::span<const float> filter, qtl::shape filter_shape,
                             std::span<const float> bias = {}, const conv_2d_params& p = {}) {
        const std::string where = "DEPTHWISE_CONV_2D '" + name + "'";
        const auto in = shape_of(x, where);
        check(in.size() == 4, where, "input must be NHWC (rank 4), got ", shape_text(in));
        check(filter_shape.size() == 4 && filter_shape[0] == 1, where, "filter must be [1, H, W, C * multiplier], got ",
              shape_text(filter_shape));
        check(in[3] > 0 && filter_shape[3] > 0 && filter_shape[3] % in[3] == 0, where, "input ", shape_text(in), " has ",
              in[3], " channels; the filter ", shape_text(filter_shape), " has ", filter_shape[3],
              " outputs, not a multiple of them");
        const std::int32_t multiplier = filter_shape[3] / in[3];
        check(p.depth_multiplier == 0 || p.depth_multiplier == multiplier, where, "depth_multiplier ",
              p.depth_multiplier, " does not match the filter ", shape_text(filter_shape), " on input ", shape_text(in),
              " (multiplier ", multiplier, ")");
        check_count(filter.size(), filter_shape, where, "filter");
        check_bias(bias, filter_shape[3], where);
        const auto win = window(p.padding, filter_shape[1], filter_shape[2], pick(p.stride_h, p.stride),
                                pick(p.stride_w, p.stride), pick(p.dilation_h, p.dilation),
                                pick(p.dilation_w, p.dilation));
        const auto pw = ops::compute_padding(win, in[1], in[2], where);
        tflite::depthwise_conv_2d_options o;
        o.padding = p.padding;
        o.stride_h = win.stride_height;
        o.stride_w = win.stride_width;
        o.dilation_h_factor = win.dilation_height;
        o.dilation_w_factor = win.dilation_width;
        o.depth_multiplier = multiplier;
        o.fused_activation_function = to_tflite(p.activation);
        name = claim(std::move(name), "depthwise_conv_2d");
        const auto f = g_.add_constant(claim(name + "/weights", ""), filter_shape, filter);
        const auto b = bias.empty() ? -1 : g_.add_constant(claim(name + "/bias", ""), {filter_shape[3]}, bias);
        return node(tflite::builtin_operator::DEPTHWISE_CONV_2D, o, {x.index, f, b}, name,
                    {in[0], pw.height.output_size, pw.width.output_size, filter_shape[3]});
    }

    // ---- pooling ------------------------------------------------------------------

    tensor max_pool_2d(tensor x, const pool_2d_params& p = {}, std::string name = {}) {
        return pool(tflite::builtin_operator::MAX_POOL_2D, "max_pool_2d", x, p, std::move(name));
    }
    tensor average_pool_2d(tensor x, const pool_2d_params& p = {}, std::string name = {}) {
        return pool(tflite::builtin_operator::AVERAGE_POOL_2D, "average_pool_2d", x, p, std::move(name));
    }

    // ---- elementwise binary (NumPy broadcasting) -----------------------------------------

    tensor add(tensor a, tensor b, fused_activation activation = fused_activation::none, std::string name = {}) {
        tflite::add_options o;
        o.fused_activation_function = to_tflite(activation);
        return binary(tflite::builtin_operator::ADD, "add", o, a, b, std::move(name));
    }
    tensor sub(tensor a, tensor b, fused_activation activation = fused_activation::none, std::string name = {}) {
        tflite::sub_options o;
        o.fused_activation_function = to_tflite(activation);
        return binary(tflite::builtin_operator::SUB, "sub", o, a, b, std::move(name));
    }
    tensor mul(tensor a, tensor b, fused_activation activation = fused_activation::none, std::string name = {}) {
        tflite::mul_options o;
        o.fused_activation_function = to_tflite(activation);
        return binary(tflite::builtin_operator::MUL, "mul", o, a, b, std::move(name));
    }

    // Joins tensors of one rank along `axis` (negative: from the end); every
    // other dimension must agree.
    tensor concatenation(const std::vector<tensor>& parts, int axis,
                         fused_activation activation = fused_activation::none, std::string name = {}) {
        name = claim(std::move(name), "concatenation");
        const std::string where = "CONCATENATION '" + name + "'";
        check(!parts.empty(), where, "needs at least one input");
        qtl::shape out = shape_of(parts[0], where);
        const int a = normalize_axis(axis, out.size(), where);
        std::vector<std::int32_t> ins;
        for (std::size_t i = 0; i < parts.size(); ++i) {
            const auto s = shape_of(parts[i], where);
            ins.push_back(parts[i].index);
            if (i == 0) continue;
            bool ok = s.size() == out.size();
            for (std::size_t d = 0; ok && d < s.size(); ++d) ok = static_cast<int>(d) == a || s[d] == out[d];
            check(ok, where, "input ", i, " ", shape_text(s), " does not match input 0 ",
                  shape_text(shape_of(parts[0], where)), " outside axis ", a);
            out[static_cast<std::size_t>(a)] += s[static_cast<std::size_t>(a)];
        }
        tflite::concatenation_options o;
        o.axis = a;
        o.fused_activation_function = to_tflite(activation);
        return node(tflite::builtin_operator::CONCATENATION, o, std::move(ins), name, std::move(out));
    }

    // ---- shape ops -------------------------------------------------------------------------

    // RESHAPE with a constant INT32 shape input; one dimension may be -1 (inferred).
    tensor reshape(tensor x, qtl::shape new_shape, std::string name = {}) {
        return reshape_as(x, std::move(new_shape), std::move(name), "reshape");
    }

    // [N, ...] -> [N, -1]: what Keras' Flatten becomes.
    tensor flatten(tensor x, std::string name = {}) {
        const auto in = shape_of(x, "flatten");
        check(!in.empty(), "flatten", "cannot flatten a scalar");
        return reshape_as(x, {in[0], -1}, std::move(name), "flatten");
    }

    // PAD with a constant INT32 [rank, 2] input: (before, after) per dimension.
    tensor pad(tensor x, const std::vector<std::array<std::int32_t, 2>>& paddings, std::string name = {}) {
        name = claim(std::move(name), "pad");
        const std::string where = "PAD '" + name + "'";
        qtl::shape out = shape_of(x, where);
        check(paddings.size() == out.size(), where, "input ", shape_text(out), " has rank ", out.size(), " but ",
              paddings.size(), " (before, after) pairs were given");
        std::vector<std::int32_t> flat;
        for (std::size_t d = 0; d < out.size(); ++d) {
            check(paddings[d][0] >= 0 && paddings[d][1] >= 0, where, "padding of dimension ", d, " is negative");
            out[d] += paddings[d][0] + paddings[d][1];
            flat.push_back(paddings[d][0]);
            flat.push_back(paddings[d][1]);
        }
        const auto c = g_.add_constant(claim(name + "/paddings", "pad"), {static_cast<std::int32_t>(out.size()), 2},
                                       std::span<const std::int32_t>(flat));
        return node(tflite::builtin_operator::PAD, tflite::pad_options{}, {x.index, c}, name, std::move(out));
    }

    // MEAN over `axes` (negative: from the end) with a constant INT32 axes input.
    tensor mean(tensor x, std::vector<std::int32_t> axes, bool keep_dims = false, std::string name = {}) {
        name = claim(std::move(name), "mean");
        const std::string where = "MEAN '" + name + "'";
        const auto in = shape_of(x, where);
        std::vector<char> reduced(in.size(), 0);
        for (auto& a : axes) {
            a = normalize_axis(a, in.size(), where);
            check(!reduced[static_cast<std::size_t>(a)], where, "axis ", a, " is listed twice");
            reduced[static_cast<std::size_t>(a)] = 1;
        }
        qtl::shape out;
        for (std::size_t d = 0; d < in.size(); ++d) {
            if (!reduced[d]) out.push_back(in[d]);
            else if (keep_dims) out.push_back(1);
        }
        const auto c = g_.add_constant(claim(name + "/axes", "mean"), {static_cast<std::int32_t>(axes.size())},
                                       std::span<const std::int32_t>(axes));
        tflite::reducer_options o;
        o.keep_dims = keep_dims;
        return node(tflite::builtin_operator::MEAN, o, {x.index, c}, name, std::move(out));
    }

    // TRANSPOSE: output dimension d is input dimension perm[d].
    tensor transpose(tensor x, std::vector<std::int32_t> perm, std::string name = {}) {
        name = claim(std::move(name), "transpose");
        const std::string where = "TRANSPOSE '" + name + "'";
        const auto in = shape_of(x, where);
        check(perm.size() == in.size(), where, "permutation of ", perm.size(), " axes for input ", shape_text(in));
        std::vector<char> seen(in.size(), 0);
        qtl::shape out;
        for (auto p : perm) {
            check(p >= 0 && static_cast<std::size_t>(p) < in.size() && !seen[static_cast<std::size_t>(p)], where,
                  "perm ", shape_text(perm), " is not a permutation of the ", in.size(), " axes of ", shape_text(in));
            seen[static_cast<std::size_t>(p)] = 1;
            out.push_back(in[static_cast<std::size_t>(p)]);
        }
        const auto c = g_.add_constant(claim(name + "/perm", "transpose"), {static_cast<std::int32_t>(perm.size())},
                                       std::span<const std::int32_t>(perm));
        return node(tflite::builtin_operator::TRANSPOSE, tflite::transpose_options{}, {x.index, c}, name,
                    std::move(out));
    }

    // ---- activations (same shape out) ---------------------------------------------------------

    tensor softmax(tensor x, float beta = 1.0f, std::string name = {}) {
        check(beta > 0.0f, "softmax", "beta must be > 0, got ", beta);
        tflite::softmax_options o;
        o.beta = beta;
        return unary(tflite::builtin_operator::SOFTMAX, "softmax", o, x, std::move(name));
    }
    tensor logistic(tensor x, std::string name = {}) {
        return unary(tflite::builtin_operator::LOGISTIC, "logistic", std::monostate{}, x, std::move(name));
    }
    tensor tanh(tensor x, std::string name = {}) {
        return unary(tflite::builtin_operator::TANH, "tanh", std::monostate{}, x, std::move(name));
    }
    tensor relu(tensor x, std::string name = {}) {
        return unary(tflite::builtin_operator::RELU, "relu", std::monostate{}, x, std::move(name));
    }
    tensor relu6(tensor x, std::string name = {}) {
        return unary(tflite::builtin_operator::RELU6, "relu6", std::monostate{}, x, std::move(name));
    }
    tensor leaky_relu(tensor x, float alpha = 0.2f, std::string name = {}) {
        tflite::leaky_relu_options o;
        o.alpha = alpha;
        return unary(tflite::builtin_operator::LEAKY_RELU, "leaky_relu", o, x, std::move(name));
    }
    tensor hard_swish(tensor x, std::string name = {}) {
        return unary(tflite::builtin_operator::HARD_SWISH, "hard_swish", tflite::hard_swish_options{}, x,
                     std::move(name));
    }

    // ---- inspection and result -------------------------------------------------------------

    qtl::shape shape(tensor t) const { return shape_of(t, "graph_builder"); }
    const qtl::graph& peek() const { return g_; }

    // Validates (qtl::graph::validate) and hands the graph over.
    qtl::graph build() && {
        check(!g_.inputs.empty(), "graph_builder", "the graph has no input (call input())");
        check(!g_.outputs.empty(), "graph_builder", "the graph has no output (call output())");
        g_.validate();
        return std::move(g_);
    }

private:
    qtl::graph g_;
    std::set<std::string> names_;

    // A unique name: `wanted` as given (an error if taken), or "<fallback>",
    // "<fallback>_1", ... when `wanted` is empty.
    std::string claim(std::string wanted, const std::string& fallback) {
        if (!wanted.empty()) {
            check(names_.insert(wanted).second, "graph_builder", "the name '", wanted, "' is already used");
            return wanted;
        }
        for (int i = 0;; ++i) {
            std::string n = i == 0 ? fallback : fallback + "_" + std::to_string(i);
            if (names_.insert(n).second) return n;
        }
    }

    std::int32_t checked(tensor t, const std::string& where) const {
        check(t.index >= 0 && static_cast<std::size_t>(t.index) < g_.tensors.size(), where, "tensor handle ",
              t.index, " does not belong to this builder");
        return t.index;
    }
    // A copy: adding tensors may move the graph's storage.
    qtl::shape shape_of(tensor t, const std::string& where) const {
        return g_.tensors[static_cast<std::size_t>(checked(t, where))].shape;
    }

    static void check_count(std::size_t n, const qtl::shape& s, const std::string& where, const char* what) {
        check(n == num_elements(s, where), where, what, " shape ", shape_text(s), " needs ", num_elements(s, where),
              " values, got ", n);
    }
    static void check_bias(std::span<const float> bias, std::int32_t outputs, const std::string& where) {
        check(bias.empty() || bias.size() == static_cast<std::size_t>(outputs), where, "bias has ", bias.size(),
              " values, the layer has ", outputs, " outputs");
    }
    static std::int32_t pick(std::int32_t specific, std::int32_t general) { return specific > 0 ? specific : general; }
    static ops::window_2d window(tflite::padding pad, std::int32_t fh, std::int32_t fw, std::int32_t sh,
                                 std::int32_t sw, std::int32_t dh, std::int32_t dw) {
        ops::window_2d w;
        w.filter_height = fh;
        w.filter_width = fw;
        w.stride_height = sh;
        w.stride_width = sw;
        w.dilation_height = dh;
        w.dilation_width = dw;
        w.padding = static_cast<ops::padding>(static_cast<std::int8_t>(pad));
        return w;
    }

    // Adds the node and its output activation (named `name`, the node's name too).
    tensor node(tflite::builtin_operator op, tflite::builtin_options options, std::vector<std::int32_t> inputs,
                const std::string& name, qtl::shape out_shape) {
        const auto type = g_.tensors[static_cast<std::size_t>(inputs[0])].type;
        const auto out = g_.add_activation(name, std::move(out_shape), type);
        g_.add_node(op, std::move(options), std::move(inputs), {out}, name);
        return tensor{out};
    }

    tensor reshape_as(tensor x, qtl::shape new_shape, std::string name, const char* kind) {
        name = claim(std::move(name), kind);
        const std::string where = "RESHAPE '" + name + "'";
        const auto in = shape_of(x, where);
        const auto total = num_elements(in, where);
        qtl::shape out = new_shape;
        std::size_t known = 1;
        int inferred = -1;
        for (std::size_t d = 0; d < out.size(); ++d) {
            if (out[d] == -1) {
                check(inferred < 0, where, "new shape ", shape_text(new_shape), " has more than one -1");
                inferred = static_cast<int>(d);
                continue;
            }
            check(out[d] >= 0, where, "new shape ", shape_text(new_shape), " has a negative dimension");
            known *= static_cast<std::size_t>(out[d]);
        }
        if (inferred >= 0) {
            check(known > 0 && total % known == 0, where, "cannot reshape ", shape_text(in), " (", total,
                  " elements) to ", shape_text(new_shape));
            out[static_cast<std::size_t>(inferred)] = static_cast<std::int32_t>(total / known);
        }
        check(num_elements(out, where) == total, where, "cannot reshape ", shape_text(in), " (", total,
              " elements) to ", shape_text(new_shape));
        const auto s = g_.add_constant(claim(name + "/shape", "reshape"),
                                       {static_cast<std::int32_t>(new_shape.size())},
                                       std::span<const std::int32_t>(new_shape));
        tflite::reshape_options o;
        o.new_shape = new_shape;
        return node(tflite::builtin_operator::RESHAPE, o, {x.index, s}, name, std::move(out));
    }

    tensor unary(tflite::builtin_operator op, const char* kind, tflite::builtin_options options, tensor x,
                 std::string name) {
        name = claim(std::move(name), kind);
        qtl::shape s = shape_of(x, tflite::describe(op) + " '" + name + "'");
        return node(op, std::move(options), {x.index}, name, std::move(s));
    }

    tensor binary(tflite::builtin_operator op, const char* kind, tflite::builtin_options options, tensor a, tensor b,
                  std::string name) {
        name = claim(std::move(name), kind);
        const std::string where = tflite::describe(op) + " '" + name + "'";
        const auto sa = shape_of(a, where);
        const auto sb = shape_of(b, where);
        // NumPy broadcasting: align from the right; each pair equal or one of them 1.
        const std::size_t rank = std::max(sa.size(), sb.size());
        qtl::shape out(rank);
        for (std::size_t i = 0; i < rank; ++i) {
            const std::int32_t da = i < sa.size() ? sa[sa.size() - 1 - i] : 1;
            const std::int32_t db = i < sb.size() ? sb[sb.size() - 1 - i] : 1;
            check(da == db || da == 1 || db == 1, where, "shapes ", shape_text(sa), " and ", shape_text(sb),
                  " cannot be broadcast together");
            out[rank - 1 - i] = da == 1 ? db : da;
        }
        return node(op, std::move(options), {a.index, b.index}, name, std::move(out));
    }

    tensor pool(tflite::builtin_operator op, const char* kind, tensor x, const pool_2d_params& p, std::string name) {
        name = claim(std::move(name), kind);
        const std::string where = tflite::describe(op) + " '" + name + "'";
        const auto in = shape_of(x, where);
        check(in.size() == 4, where, "input must be NHWC (rank 4), got ", shape_text(in));
        const std::int32_t fh = pick(p.filter_h, p.filter), fw = pick(p.filter_w, p.filter);
        const auto win = window(p.padding, fh, fw, pick(p.stride_h, pick(p.stride, fh)),
                                pick(p.stride_w, pick(p.stride, fw)), 1, 1);
        const auto pw = ops::compute_padding(win, in[1], in[2], where);
        tflite::pool_2d_options o;
        o.padding = p.padding;
        o.stride_h = win.stride_height;
        o.stride_w = win.stride_width;
        o.filter_height = fh;
        o.filter_width = fw;
        o.fused_activation_function = to_tflite(p.activation);
        return node(op, o, {x.index}, name, {in[0], pw.height.output_size, pw.width.output_size, in[3]});
    }
};

}  // namespace qtl
