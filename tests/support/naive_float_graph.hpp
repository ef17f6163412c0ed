#pragma once
// A naive float interpreter for qtl::graph, written for tests only: plain
// loops straight from the op definitions (TFLite's float semantics), every
// value held as double.  It is the independent oracle the graph passes'
// tests compare against (graph before vs after a pass), so it shares no code
// with the passes or with qtl's executors.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "qtl/graph/graph.hpp"

namespace qtl_test {

struct naive_value {
    qtl::shape shape;
    std::vector<double> v;
};

namespace naive_detail {

using qtl::tflite::activation_function_type;
using qtl::tflite::builtin_operator;
using qtl::tflite::tensor_type;

inline double act(activation_function_type a, double x) {
    switch (a) {
        case activation_function_type::RELU: return std::max(0.0, x);
        case activation_function_type::RELU6: return std::min(6.0, std::max(0.0, x));
        case activation_function_type::RELU_N1_TO_1: return std::min(1.0, std::max(-1.0, x));
        case activation_function_type::NONE: return x;
        default: throw std::runtime_error("naive: unsupported fused activation");
    }
}

inline std::size_t count(const qtl::shape& s) {
    std::size_t n = 1;
    for (auto d : s) n *= static_cast<std::size_t>(d);
    return n;
}

inline naive_value constant(const qtl::graph_tensor& t) {
    naive_value r{t.shape, {}};
    switch (t.type) {
        case tensor_type::FLOAT32: for (auto x : t.values<float>()) r.v.push_back(x); break;
        case tensor_type::INT32: for (auto x : t.values<std::int32_t>()) r.v.push_back(x); break;
        case tensor_type::UINT8: for (auto x : t.values<std::uint8_t>()) r.v.push_back(x); break;
        default: throw std::runtime_error("naive: unsupported constant type");
    }
    return r;
}

// Output size and leading padding of a SAME/VALID window (TFLite's rule).
inline void window(int in, int filter, int stride, int dilation, qtl::tflite::padding p, int& out, int& pad) {
    const int eff = (filter - 1) * dilation + 1;
    if (p == qtl::tflite::padding::SAME) {
        out = (in + stride - 1) / stride;
        pad = std::max((out - 1) * stride + eff - in, 0) / 2;
    } else {
        out = (in - eff + stride) / stride;
        pad = 0;
    }
}

// Element of a broadcast operand for output multi-index `idx`.
inline double at_broadcast(const naive_value& x, const std::vector<int>& idx) {
    const std::size_t lead = idx.size() - x.shape.size();
    std::size_t flat = 0;
    for (std::size_t d = 0; d < x.shape.size(); ++d)
        flat = flat * static_cast<std::size_t>(x.shape[d]) + static_cast<std::size_t>(x.shape[d] == 1 ? 0 : idx[lead + d]);
    return x.v[flat];
}

}  // namespace naive_detail

// Runs `g` on `inputs` (one vector per graph input, row-major, any type
// given as float) and returns the graph outputs.
inline std::vector<naive_value> run_naive(const qtl::graph& g, const std::vector<std::vector<float>>& inputs) {
    using namespace naive_detail;
    using b = builtin_operator;
    namespace tfl = qtl::tflite;
    std::vector<naive_value> val(g.tensors.size());
    for (std::size_t i = 0; i < g.tensors.size(); ++i)
        if (g.tensors[i].is_constant) val[i] = constant(g.tensors[i]);
    for (std::size_t k = 0; k < g.inputs.size(); ++k) {
        auto& x = val[static_cast<std::size_t>(g.inputs[k])];
        x.shape = g.tensor(g.inputs[k]).shape;
        x.v.assign(inputs.at(k).begin(), inputs.at(k).end());
        if (x.v.size() != count(x.shape)) throw std::runtime_error("naive: input size");
    }
    for (const auto& n : g.nodes) {
        auto in = [&](std::size_t i) -> const naive_value& { return val[static_cast<std::size_t>(n.inputs.at(i))]; };
        const auto& ot = g.tensor(n.outputs.at(0));
        naive_value out{ot.shape, std::vector<double>(count(ot.shape), 0.0)};
        switch (n.op) {
            case b::CONV_2D:
            case b::DEPTHWISE_CONV_2D: {
                const bool dw = n.op == b::DEPTHWISE_CONV_2D;
                const auto& x = in(0);
                const auto& w = in(1);
                const bool has_bias = n.inputs.size() > 2 && n.inputs[2] >= 0;
                int sw, sh, dwf, dhf;
                tfl::padding pad;
                activation_function_type a;
                if (dw) {
                    const auto& o = std::get<tfl::depthwise_conv_2d_options>(n.options);
                    sw = o.stride_w; sh = o.stride_h; dwf = o.dilation_w_factor; dhf = o.dilation_h_factor;
                    pad = o.padding; a = o.fused_activation_function;
                } else {
                    const auto& o = std::get<tfl::conv_2d_options>(n.options);
                    sw = o.stride_w; sh = o.stride_h; dwf = o.dilation_w_factor; dhf = o.dilation_h_factor;
                    pad = o.padding; a = o.fused_activation_function;
                }
                const int N = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3];
                const int KH = w.shape[1], KW = w.shape[2];
                const int O = dw ? w.shape[3] : w.shape[0];
                int OH, OW, ph, pw;
                window(H, KH, sh, dhf, pad, OH, ph);
                window(W, KW, sw, dwf, pad, OW, pw);
                if (ot.shape != qtl::shape{N, OH, OW, O}) throw std::runtime_error("naive: conv output shape");
                const int mult = dw ? O / C : 1;
                for (int b0 = 0; b0 < N; ++b0)
                    for (int oy = 0; oy < OH; ++oy)
                        for (int ox = 0; ox < OW; ++ox)
                            for (int o = 0; o < O; ++o) {
                                double s = has_bias ? in(2).v[static_cast<std::size_t>(o)] : 0.0;
                                for (int ky = 0; ky < KH; ++ky)
                                    for (int kx = 0; kx < KW; ++kx) {
                                        const int iy = oy * sh - ph + ky * dhf, ix = ox * sw - pw + kx * dwf;
                                        if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                        auto xat = [&](int c) {
                                            return x.v[static_cast<std::size_t>(((b0 * H + iy) * W + ix) * C + c)];
                                        };
                                        if (dw) {
                                            s += xat(o / mult) * w.v[static_cast<std::size_t>((ky * KW + kx) * O + o)];
                                        } else {
                                            for (int c = 0; c < C; ++c)
                                                s += xat(c) * w.v[static_cast<std::size_t>(((o * KH + ky) * KW + kx) * C + c)];
                                        }
                                    }
                                out.v[static_cast<std::size_t>(((b0 * OH + oy) * OW + ox) * O + o)] = act(a, s);
                            }
                break;
            }
            case b::FULLY_CONNECTED: {
                const auto& o = std::get<tfl::fully_connected_options>(n.options);
                const auto& x = in(0);
                const auto& w = in(1);
                const int O = w.shape[0], I = w.shape[1];
                const bool has_bias = n.inputs.size() > 2 && n.inputs[2] >= 0;
                const std::size_t rows = x.v.size() / static_cast<std::size_t>(I);
                for (std::size_t r = 0; r < rows; ++r)
                    for (int j = 0; j < O; ++j) {
                        double s = has_bias ? in(2).v[static_cast<std::size_t>(j)] : 0.0;
                        for (int i = 0; i < I; ++i)
                            s += x.v[r * static_cast<std::size_t>(I) + static_cast<std::size_t>(i)] *
                                 w.v[static_cast<std::size_t>(j * I + i)];
                        out.v[r * static_cast<std::size_t>(O) + static_cast<std::size_t>(j)] = act(o.fused_activation_function, s);
                    }
                break;
            }
            case b::ADD: case b::SUB: case b::MUL: case b::DIV: {
                activation_function_type a = activation_function_type::NONE;
                if (auto* o = std::get_if<tfl::add_options>(&n.options)) a = o->fused_activation_function;
                if (auto* o = std::get_if<tfl::sub_options>(&n.options)) a = o->fused_activation_function;
                if (auto* o = std::get_if<tfl::mul_options>(&n.options)) a = o->fused_activation_function;
                std::vector<int> idx(ot.shape.size(), 0);
                for (std::size_t e = 0; e < out.v.size(); ++e) {
                    const double p = at_broadcast(in(0), idx), q = at_broadcast(in(1), idx);
                    double r = n.op == b::ADD ? p + q : n.op == b::SUB ? p - q : n.op == b::MUL ? p * q : p / q;
                    if (ot.type == tensor_type::INT32 && n.op == b::DIV) r = std::trunc(r);
                    out.v[e] = act(a, r);
                    for (std::size_t d = idx.size(); d-- > 0;) {
                        if (++idx[d] < ot.shape[d]) break;
                        idx[d] = 0;
                    }
                }
                break;
            }
            case b::RESHAPE: case b::EXPAND_DIMS: case b::SQUEEZE:
                out.v = in(0).v;
                break;
            case b::CAST:
                for (std::size_t e = 0; e < out.v.size(); ++e)
                    out.v[e] = ot.type == tensor_type::FLOAT32 ? static_cast<double>(static_cast<float>(in(0).v[e]))
                                                               : std::trunc(in(0).v[e]);
                break;
            case b::RELU: for (std::size_t e = 0; e < out.v.size(); ++e) out.v[e] = std::max(0.0, in(0).v[e]); break;
            case b::RELU6: for (std::size_t e = 0; e < out.v.size(); ++e) out.v[e] = std::clamp(in(0).v[e], 0.0, 6.0); break;
            case b::RELU_N1_TO_1: for (std::size_t e = 0; e < out.v.size(); ++e) out.v[e] = std::clamp(in(0).v[e], -1.0, 1.0); break;
            case b::TANH: for (std::size_t e = 0; e < out.v.size(); ++e) out.v[e] = std::tanh(in(0).v[e]); break;
            case b::LOGISTIC: for (std::size_t e = 0; e < out.v.size(); ++e) out.v[e] = 1.0 / (1.0 + std::exp(-in(0).v[e])); break;
            case b::SOFTMAX: {
                const double beta = std::get<tfl::softmax_options>(n.options).beta;
                const std::size_t depth = static_cast<std::size_t>(ot.shape.back());
                for (std::size_t r = 0; r < out.v.size() / depth; ++r) {
                    double mx = -1e300, sum = 0.0;
                    for (std::size_t j = 0; j < depth; ++j) mx = std::max(mx, in(0).v[r * depth + j]);
                    for (std::size_t j = 0; j < depth; ++j) sum += std::exp(beta * (in(0).v[r * depth + j] - mx));
                    for (std::size_t j = 0; j < depth; ++j)
                        out.v[r * depth + j] = std::exp(beta * (in(0).v[r * depth + j] - mx)) / sum;
                }
                break;
            }
            case b::MAX_POOL_2D: case b::AVERAGE_POOL_2D: {
                const auto& o = std::get<tfl::pool_2d_options>(n.options);
                const auto& x = in(0);
                const int N = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3];
                int OH, OW, ph, pw;
                window(H, o.filter_height, o.stride_h, 1, o.padding, OH, ph);
                window(W, o.filter_width, o.stride_w, 1, o.padding, OW, pw);
                for (int b0 = 0; b0 < N; ++b0)
                    for (int oy = 0; oy < OH; ++oy)
                        for (int ox = 0; ox < OW; ++ox)
                            for (int c = 0; c < C; ++c) {
                                double s = 0.0, mx = -1e300;
                                int cnt = 0;
                                for (int ky = 0; ky < o.filter_height; ++ky)
                                    for (int kx = 0; kx < o.filter_width; ++kx) {
                                        const int iy = oy * o.stride_h - ph + ky, ix = ox * o.stride_w - pw + kx;
                                        if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                        const double e = x.v[static_cast<std::size_t>(((b0 * H + iy) * W + ix) * C + c)];
                                        s += e;
                                        mx = std::max(mx, e);
                                        ++cnt;
                                    }
                                out.v[static_cast<std::size_t>(((b0 * OH + oy) * OW + ox) * C + c)] =
                                    act(o.fused_activation_function, n.op == b::MAX_POOL_2D ? mx : s / cnt);
                            }
                break;
            }
            case b::SHAPE: {
                const auto& s = g.tensor(n.inputs[0]).shape;
                out.v.assign(s.begin(), s.end());
                break;
            }
            case b::STRIDED_SLICE: {
                // 1-D input only, masks: begin, end, shrink (what Keras's Flatten uses).
                const auto& o = std::get<tfl::strided_slice_options>(n.options);
                const auto& x = in(0);
                if (x.shape.size() != 1) throw std::runtime_error("naive: STRIDED_SLICE of rank != 1");
                const int dim = x.shape[0], st = static_cast<int>(in(3).v[0]);
                int bg = (o.begin_mask & 1) ? 0 : static_cast<int>(in(1).v[0]);
                int en = (o.end_mask & 1) ? dim : static_cast<int>(in(2).v[0]);
                if (bg < 0) bg += dim;
                if (en < 0) en += dim;
                if (o.shrink_axis_mask & 1) en = bg + 1;
                out.v.clear();
                for (int i = bg; i < en; i += st) out.v.push_back(x.v[static_cast<std::size_t>(i)]);
                break;
            }
            case b::PACK:  // scalars only
            case b::CONCATENATION: {
                out.v.clear();
                if (n.op == b::CONCATENATION && std::get<tfl::concatenation_options>(n.options).axis != 0 &&
                    std::get<tfl::concatenation_options>(n.options).axis != 1 - static_cast<int>(ot.shape.size()))
                    throw std::runtime_error("naive: CONCATENATION only along axis 0");
                for (std::size_t i = 0; i < n.inputs.size(); ++i) out.v.insert(out.v.end(), in(i).v.begin(), in(i).v.end());
                break;
            }
            default: throw std::runtime_error("naive: unsupported op " + qtl::tflite::describe(n.op));
        }
        if (out.v.size() != count(ot.shape)) throw std::runtime_error("naive: output size of " + n.name);
        val[static_cast<std::size_t>(n.outputs[0])] = std::move(out);
    }
    std::vector<naive_value> r;
    for (auto o : g.outputs) r.push_back(val[static_cast<std::size_t>(o)]);
    return r;
}

}  // namespace qtl_test
