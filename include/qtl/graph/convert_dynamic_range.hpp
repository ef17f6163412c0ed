#pragma once
// convert_dynamic_range(): a float graph in, a dynamic-range ("hybrid")
// TFLite model out: what TensorFlow's converter writes with
// Optimize.DEFAULT and no representative dataset.  No calibration needed.
//
//   qtl::tflite::model m = qtl::convert_dynamic_range(g);
//   qtl::tflite::write_model(m, "model_dynamic.tflite");
//   qtl::tflite::executor run(m);            // or LiteRT / TFLite
//
// What changes against the float model (graph_to_tflite):
// - the weights of FULLY_CONNECTED, CONV_2D and DEPTHWISE_CONV_2D become
//   int8, symmetric, narrow range ([-127, 127], zero point 0), scale
//   max|w| / 127 per output channel: axis 0 for CONV_2D and (with
//   options.per_channel, the default) FULLY_CONNECTED, axis 3 for
//   DEPTHWISE_CONV_2D; per tensor for FULLY_CONNECTED without per_channel.
//   An all-zero channel gets scale 1;
// - FULLY_CONNECTED gets asymmetric_quantize_inputs = true (its input is
//   quantized per row with a zero point, which is more accurate for
//   post-ReLU activations).  CONV_2D and DEPTHWISE_CONV_2D have no such
//   option in the schema: TFLite picks asymmetric per-image quantization
//   itself for per-channel filters;
// - those ops get the versions TFLite gives hybrid signatures
//   (io/tflite/op_versions.hpp: FULLY_CONNECTED 12 per channel, 9 per tensor
//   asymmetric; CONV_2D 5; DEPTHWISE_CONV_2D 6);
// - everything else stays float: biases, activations, every other op.
//
// Block-wise int4 FULLY_CONNECTED weights (options.block_size > 0), what
// TFLite runs in its block-wise hybrid kernel (EvalBlockwise4Bit) and LiteRT
// hands to XNNPACK (qd8-f32-qb4w):
// - each block of block_size consecutive weights of an output row (along the
//   input dimension I) gets scale max|w| / 7, codes round(w / scale) in
//   [-7, 7], zero point 0, packed INT4; the scales go to a FLOAT16 tensor
//   "<weights>/scales" [O, I / block_size] that the BlockwiseQuantization
//   details point to (io/tflite/writer.hpp set_blockwise_quantization).
//   FLOAT16 because both runtimes read the scales as binary16 whatever the
//   tensor type says (a FLOAT32 scale tensor runs as garbage in TFLite's
//   kernel and XNNPACK refuses it, measured in LiteRT);
// - each scale is rounded to 8 significant bits (a bfloat16 value), then
//   kept >= 2^-14 (the smallest normal binary16): XNNPACK converts the
//   binary16 scales to bfloat16 before use, so scales that already are
//   bfloat16 values mean the same in XNNPACK, in TFLite's kernel and in qtl
//   (with general binary16 scales XNNPACK's outputs moved by up to 0.26% of
//   the output range in LiteRT);
// - the shape must suit both kernels: I a multiple of block_size,
//   block_size even, O >= 4 and I >= 32 (TFLite's 4x32 int4 packing; other
//   shapes fall back to its affine hybrid kernel, which misreads block-wise
//   parameters).  XNNPACK takes block sizes that are multiples of 32; LiteRT
//   runs the others in TFLite's kernel (same numbers up to float rounding);
// - TFLite's block-wise kernel ignores a fused activation, so a fused RELU
//   or RELU6 becomes a float op of its own after the FULLY_CONNECTED; other
//   fused activations are refused;
// - CONV_2D and DEPTHWISE_CONV_2D keep int8 per-channel weights (TFLite has
//   no block-wise convolution kernel).
// A layer that cannot take block-wise weights is a qtl::error naming it and
// the rule, never a silent fallback.
//
// A weight constant that something else also reads (say an ADD) keeps its
// float tensor; the weight ops read a new int8 copy.  Weights smaller than
// options.min_weight_elements stay float (TensorFlow's converter uses 1024;
// qtl's default 0 quantizes every one).  A graph where nothing gets
// quantized is a qtl::error.

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "qtl/core/error.hpp"
#include "qtl/core/int4_packing.hpp"
#include "qtl/graph/graph.hpp"
#include "qtl/graph/to_tflite.hpp"
#include "qtl/io/tflite/model.hpp"
#include "qtl/io/tflite/op_versions.hpp"
#include "qtl/io/tflite/writer.hpp"

namespace qtl {

struct dynamic_range_options {
    bool per_channel = true;              // FULLY_CONNECTED weights per output channel (CONV/DW always are)
    std::size_t min_weight_elements = 0;  // smaller weight tensors stay float (TensorFlow: 1024)
    std::int32_t block_size = 0;          // > 0: FULLY_CONNECTED weights int4 block-wise, blocks of this many inputs
};

namespace detail::dynamic_range {

inline bool is_weight_op(tflite::builtin_operator op) {
    return op == tflite::builtin_operator::FULLY_CONNECTED || op == tflite::builtin_operator::CONV_2D ||
           op == tflite::builtin_operator::DEPTHWISE_CONV_2D;
}

// The int8 codes and scales of `values` (shape `s`) quantized symmetrically
// along `axis` (-1: one scale for the tensor).
struct quantized_weights {
    std::vector<std::int8_t> codes;
    std::vector<float> scales;
};

inline quantized_weights quantize_symmetric(const std::vector<float>& values, const qtl::shape& s, int axis,
                                            const std::string& where) {
    std::size_t channels = 1, inner = values.size();
    if (axis >= 0) {
        channels = static_cast<std::size_t>(s[static_cast<std::size_t>(axis)]);
        inner = 1;
        for (std::size_t d = static_cast<std::size_t>(axis) + 1; d < s.size(); ++d) inner *= static_cast<std::size_t>(s[d]);
    }
    // Element i belongs to channel (i / inner) % channels.
    const auto channel_of = [&](std::size_t i) { return axis < 0 ? std::size_t{0} : (i / inner) % channels; };
    std::vector<float> max_abs(channels, 0.0f);
    for (std::size_t i = 0; i < values.size(); ++i) {
        check(std::isfinite(values[i]), where, "weight element ", i, " is ", values[i]);
        max_abs[channel_of(i)] = std::max(max_abs[channel_of(i)], std::abs(values[i]));
    }
    quantized_weights q;
    for (float m : max_abs) q.scales.push_back(m > 0.0f ? m / 127.0f : 1.0f);
    q.codes.resize(values.size());
    for (std::size_t i = 0; i < values.size(); ++i) {
        const float code = std::round(values[i] / q.scales[channel_of(i)]);
        q.codes[i] = static_cast<std::int8_t>(std::clamp(code, -127.0f, 127.0f));
    }
    return q;
}

// The bfloat16 value nearest to `v` (round to nearest even on the 16 bits
// bfloat16 keeps; v positive and finite).
inline float round_to_bfloat16(float v) noexcept {
    auto bits = std::bit_cast<std::uint32_t>(v);
    bits = (bits + 0x7fffu + ((bits >> 16) & 1u)) & 0xffff0000u;
    return std::bit_cast<float>(bits);
}

// Block-wise int4 codes [O, I] and scales [O, I / block] of FULLY_CONNECTED weights.
struct blockwise_weights {
    std::vector<std::int8_t> codes;
    std::vector<float> scales;
};

inline constexpr float smallest_normal_half = 0x1p-14f;
inline constexpr float largest_bfloat16_half = 65280.0f;  // the largest bfloat16 value binary16 holds

inline blockwise_weights quantize_blockwise(const std::vector<float>& values, std::size_t outputs, std::size_t inputs,
                                            std::size_t block, const std::string& where) {
    const std::size_t blocks = inputs / block;
    blockwise_weights q;
    q.codes.resize(values.size());
    q.scales.resize(outputs * blocks);
    for (std::size_t o = 0; o < outputs; ++o)
        for (std::size_t b = 0; b < blocks; ++b) {
            const float* w = values.data() + o * inputs + b * block;
            float max_abs = 0.0f;
            for (std::size_t k = 0; k < block; ++k) {
                check(std::isfinite(w[k]), where, "weight element ", o * inputs + b * block + k, " is ", w[k]);
                max_abs = std::max(max_abs, std::abs(w[k]));
            }
            const float scale = std::max(round_to_bfloat16(max_abs / 7.0f), smallest_normal_half);
            check(scale <= largest_bfloat16_half, where, "output ", o, " block ", b, " has max |w| = ", max_abs,
                  ": its scale ", scale, " does not fit a binary16 scale tensor (largest ", largest_bfloat16_half, ")");
            q.scales[o * blocks + b] = scale;
            for (std::size_t k = 0; k < block; ++k) {
                const float code = std::round(w[k] / scale);
                q.codes[o * inputs + b * block + k] = static_cast<std::int8_t>(std::clamp(code, -7.0f, 7.0f));
            }
        }
    return q;
}

// Why FULLY_CONNECTED weights of shape [O, I] cannot be block-wise with
// blocks of `block` (empty: they can).
inline std::string blockwise_refusal(const qtl::shape& s, std::int32_t block) {
    if (s.size() != 2) return "the weights must be [O, I], got " + to_string(s);
    const std::int64_t o = s[0], i = s[1];
    if (block % 2 != 0) return qtl::detail::concat("block size ", block, " is odd: int4 blocks must fill whole bytes");
    if (i % block != 0) {
        std::string divisors;
        for (std::int64_t d = 2; d <= std::min<std::int64_t>(i, 256); d += 2)
            if (i % d == 0) divisors += (divisors.empty() ? "" : ", ") + std::to_string(d);
        return qtl::detail::concat("I = ", i, " is not a multiple of block size ", block,
                                   divisors.empty() ? std::string(" (no even block size divides it)")
                                                    : " (even block sizes that divide it, up to 256: " + divisors + ")");
    }
    if (o < 4 || i < 32)
        return qtl::detail::concat("weights ", to_string(s), " are too small: TFLite's block-wise kernel needs O >= 4 "
                                   "and I >= 32 (min_weight_elements keeps small layers float)");
    return {};
}

// A FULLY_CONNECTED becoming block-wise loses its fused activation to a
// float op of its own (TFLite's block-wise kernel does not apply it).
inline graph unfuse_activations(const graph& g, const std::vector<char>& blockwise_nodes) {
    using B = tflite::builtin_operator;
    using act = tflite::activation_function_type;
    graph out = g;
    out.nodes.clear();
    for (std::size_t n = 0; n < g.nodes.size(); ++n) {
        graph_node node = g.nodes[n];
        auto* fc = std::get_if<tflite::fully_connected_options>(&node.options);
        if (!blockwise_nodes[n] || !fc || fc->fused_activation_function == act::NONE) {
            out.nodes.push_back(std::move(node));
            continue;
        }
        const auto a = fc->fused_activation_function;
        // RELU_N1_TO_1 too would be TFLite-valid, but qtl's executor has no float RELU_N1_TO_1 op.
        const B op = a == act::RELU ? B::RELU : a == act::RELU6 ? B::RELU6 : B::CUSTOM;
        check(op != B::CUSTOM, g.describe_node(static_cast<std::int32_t>(n)), "fused activation ",
              tflite::name_of(a), " cannot follow block-wise weights (TFLite's block-wise kernel applies none; qtl "
              "moves RELU and RELU6 to an op of their own)");
        fc->fused_activation_function = act::NONE;
        const std::int32_t y = node.outputs[0];
        graph_tensor pre = out.tensor(y);
        pre.name += "/pre_activation";
        const std::int32_t t = out.add_tensor(std::move(pre));
        node.outputs[0] = t;
        const std::string name = node.name;
        out.nodes.push_back(std::move(node));
        out.nodes.push_back(graph_node{op, std::monostate{}, {t}, {y}, name + "/activation"});
    }
    return out;
}

// Gives operator `index` version `v`, sharing an operator code of the same
// op and version or appending one.
inline void set_op_version(tflite::model& m, std::size_t index, std::int32_t v) {
    auto& o = m.subgraphs[0].operators[index];
    o.version = v;
    for (std::size_t c = 0; c < m.operator_codes.size(); ++c) {
        const auto& code = m.operator_codes[c];
        if (code.builtin_code == o.builtin_code && code.version == v) {
            o.opcode_index = static_cast<std::uint32_t>(c);
            return;
        }
    }
    tflite::operator_code code = m.operator_codes[o.opcode_index];
    code.version = v;
    m.operator_codes.push_back(std::move(code));
    o.opcode_index = static_cast<std::uint32_t>(m.operator_codes.size() - 1);
}

// Drops operator codes no operator uses (a float code whose ops all became hybrid).
inline void drop_unused_codes(tflite::model& m) {
    std::vector<char> used(m.operator_codes.size(), 0);
    for (const auto& sg : m.subgraphs)
        for (const auto& o : sg.operators) used[o.opcode_index] = 1;
    std::vector<std::uint32_t> remap(m.operator_codes.size(), 0);
    std::vector<tflite::operator_code> kept;
    for (std::size_t c = 0; c < m.operator_codes.size(); ++c)
        if (used[c]) {
            remap[c] = static_cast<std::uint32_t>(kept.size());
            kept.push_back(std::move(m.operator_codes[c]));
        }
    m.operator_codes = std::move(kept);
    for (auto& sg : m.subgraphs)
        for (auto& o : sg.operators) o.opcode_index = remap[o.opcode_index];
}

}  // namespace detail::dynamic_range

inline tflite::model convert_dynamic_range(const graph& source, const dynamic_range_options& options = {}) {
    namespace dr = detail::dynamic_range;
    using B = tflite::builtin_operator;
    source.validate();
    const bool blockwise = options.block_size > 0;
    check(options.block_size >= 0, "convert_dynamic_range", "block_size is ", options.block_size,
          ", expected 0 (int8 weights) or > 0 (int4 block-wise FULLY_CONNECTED weights)");
    // Which nodes get quantized weights (the same test as the loop below).
    const auto takes_weights = [&](const graph& gr, const graph_node& node) {
        if (!dr::is_weight_op(node.op) || node.inputs.size() < 2 || node.inputs[1] < 0) return false;
        const auto& t = gr.tensor(node.inputs[1]);
        return t.is_constant && t.type == tflite::tensor_type::FLOAT32 && t.size() >= options.min_weight_elements &&
               t.size() > 0;
    };
    std::vector<char> blockwise_nodes(source.nodes.size(), 0);
    if (blockwise)
        for (std::size_t n = 0; n < source.nodes.size(); ++n) {
            const auto& node = source.nodes[n];
            if (node.op != B::FULLY_CONNECTED || !takes_weights(source, node)) continue;
            const auto why = dr::blockwise_refusal(source.tensor(node.inputs[1]).shape, options.block_size);
            check(why.empty(), source.describe_node(static_cast<std::int32_t>(n)),
                  "cannot take int4 block-wise weights: ", why);
            blockwise_nodes[n] = 1;
        }
    const graph g = blockwise ? dr::unfuse_activations(source, blockwise_nodes) : source;
    tflite::model m = graph_to_tflite(g);  // tensor i of the model is tensor i of the graph
    auto& sg = m.subgraphs[0];

    // The axis each weight tensor is quantized along, and whether anything else reads it.
    struct weight_use {
        int axis = 0;  // -2: block-wise along the last dimension
        std::vector<std::size_t> nodes;
    };
    std::map<std::int32_t, weight_use> weights;
    for (std::size_t n = 0; n < g.nodes.size(); ++n) {
        const auto& node = g.nodes[n];
        if (!dr::is_weight_op(node.op) || node.inputs.size() < 2 || node.inputs[1] < 0) continue;
        const std::int32_t w = node.inputs[1];
        const auto& t = g.tensor(w);
        const auto where = g.describe_node(static_cast<std::int32_t>(n));
        if (!takes_weights(g, node)) continue;
        const int axis = node.op == B::DEPTHWISE_CONV_2D                          ? static_cast<int>(t.shape.size()) - 1
                         : node.op == B::FULLY_CONNECTED && blockwise            ? -2
                         : node.op == B::FULLY_CONNECTED && !options.per_channel ? -1
                                                                                  : 0;
        check(t.shape.size() >= 1, where, "the weights (", g.describe_tensor(w), ") must have rank >= 1");
        auto [it, fresh] = weights.try_emplace(w, weight_use{axis, {}});
        check(fresh || it->second.axis == axis, where, "the weights ", g.describe_tensor(w),
              " are shared with an op that quantizes them along another axis",
          blockwise ? " (block-wise FULLY_CONNECTED weights cannot also be CONV_2D / DEPTHWISE_CONV_2D weights)" : "");
        it->second.nodes.push_back(n);
    }
    check(!weights.empty(), "convert_dynamic_range",
          "nothing to quantize in dynamic-range mode: the graph has no FULLY_CONNECTED, CONV_2D or DEPTHWISE_CONV_2D "
          "with constant float weights",
          options.min_weight_elements > 0 ? qtl::detail::concat(" of at least ", options.min_weight_elements, " elements")
                                          : std::string());

    for (const auto& [w, use] : weights) {
        const auto& t = g.tensor(w);
        tflite::tensor qt;
        qt.name = t.name;
        qt.shape = t.shape;
        std::vector<std::uint8_t> bytes;
        std::vector<float> block_scales;  // block-wise: set once the tensor has its index
        if (use.axis == -2) {
            const auto outputs = static_cast<std::size_t>(t.shape[0]), inputs = static_cast<std::size_t>(t.shape[1]);
            auto q = dr::quantize_blockwise(t.values<float>(), outputs, inputs,
                                            static_cast<std::size_t>(options.block_size), g.describe_tensor(w));
            qt.type = tflite::tensor_type::INT4;
            bytes = pack_int4(q.codes);
            block_scales = std::move(q.scales);
        } else {
            const auto q = dr::quantize_symmetric(t.values<float>(), t.shape, use.axis, g.describe_tensor(w));
            qt.type = tflite::tensor_type::INT8;
            tflite::quantization quant;
            quant.scale = q.scales;
            quant.zero_point.assign(q.scales.size(), 0);
            quant.quantized_dimension = std::max(use.axis, 0);
            quant.params.scales = q.scales;
            quant.params.zero_points.assign(q.scales.size(), 0);
            quant.params.axis = q.scales.size() > 1 ? use.axis : -1;
            qt.quantization = std::move(quant);
            bytes.resize(q.codes.size());
            std::memcpy(bytes.data(), q.codes.data(), bytes.size());
        }
        // Shared with another reader: a new tensor; otherwise replace in place.
        bool only_weights = !g.is_output(w);
        for (auto c : g.consumers(w)) {
            const auto& node = g.nodes[static_cast<std::size_t>(c)];
            for (std::size_t k = 0; k < node.inputs.size(); ++k)
                if (node.inputs[k] == w && !(k == 1 && dr::is_weight_op(node.op))) only_weights = false;
        }
        std::int32_t target = w;
        if (only_weights) {
            qt.buffer = sg.tensors[static_cast<std::size_t>(w)].buffer;
            m.buffers[qt.buffer].data = std::move(bytes);
            sg.tensors[static_cast<std::size_t>(w)] = std::move(qt);
        } else {
            qt.name += use.axis == -2 ? "/int4" : "/int8";
            m.buffers.push_back(tflite::buffer{std::move(bytes)});
            qt.buffer = static_cast<std::uint32_t>(m.buffers.size() - 1);
            sg.tensors.push_back(std::move(qt));
            target = static_cast<std::int32_t>(sg.tensors.size() - 1);
        }
        if (use.axis == -2) tflite::set_blockwise_quantization(m, 0, target, block_scales, options.block_size);
        for (auto n : use.nodes) sg.operators[n].inputs[1] = target;
    }

    for (const auto& [w, use] : weights) {
        for (auto n : use.nodes) {
            auto& o = sg.operators[n];
            if (auto* fc = std::get_if<tflite::fully_connected_options>(&o.options)) {
                fc->asymmetric_quantize_inputs = true;
            } else if (o.builtin_code == B::FULLY_CONNECTED) {  // options absent in the graph: the defaults, asymmetric
                tflite::fully_connected_options fc_options;
                fc_options.asymmetric_quantize_inputs = true;
                o.options = fc_options;
                o.options_type = tflite::detail::options_type_of(o.options);
            }
            dr::set_op_version(m, n, tflite::minimum_op_version(m, sg, o));
        }
    }
    dr::drop_unused_codes(m);
    return m;
}

}  // namespace qtl
