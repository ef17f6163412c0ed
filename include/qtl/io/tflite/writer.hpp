#pragma once
// write_model(): qtl::tflite::model (model.hpp) -> the bytes of a .tflite file.
//
// The inverse of read_model() (reader.hpp): everything the model holds is
// serialized with flatbuffers::FlatBufferBuilder, table by table, with the
// field ids of schema.hpp (file identifier "TFL3", schema version 3):
// operator codes (deprecated_builtin_code = min(code, 127) and builtin_code,
// as TFLite's converter writes them), subgraphs (tensors with shape,
// shape_signature, type, buffer, name, is_variable and quantization incl.
// min/max and BlockwiseQuantization details; operators with their builtin
// options table, custom options and intermediates), buffers (every non-empty
// data vector aligned to write_options::buffer_alignment, 16 by default, so
// that runtimes can use constant data in place), description, signature defs
// and metadata.
//
// Fields equal to the schema default are omitted (as flatbuffers does), so
// read_model(write_model(m)) reproduces m.  What the model does not hold is
// not written: options of ops qtl does not decode (written as an empty table
// of the stored type, i.e. the schema defaults), sparsity, has_rank,
// external buffers.
//
// Helpers for emitted models (issue 5 requires both):
//   add_serving_default_signature(m)  a "serving_default" signature def;
//   set_min_runtime_version(m, "2.3.0")  the min_runtime_version metadata.
// and for block-wise weights, whose scales live in a tensor of their own:
//   set_blockwise_quantization(m, w, scales, block_size)  adds the FLOAT16
//   scale tensor (and an optional zero-point tensor) and the details.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <span>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include <flatbuffers/flatbuffers.h>

#include "qtl/core/error.hpp"
#include "qtl/io/tflite/model.hpp"
#include "qtl/io/tflite/reader.hpp"
#include "qtl/io/tflite/schema.hpp"

namespace qtl::tflite {

struct write_options {
    // Alignment of every non-empty buffer's data from the start of the file
    // (a power of two <= 32, flatbuffers' limit; TFLite's converter and
    // XNNPACK expect 16).
    std::size_t buffer_alignment = 16;
    // Read the written bytes back with read_model() (verifier + validation)
    // before returning them, so that an invalid model is an error here and
    // not in a runtime later.
    bool verify = true;
};

namespace detail {

static_assert(std::endian::native == std::endian::little,
              "qtl::tflite writes little-endian flatbuffers on little-endian hosts only");

// The options table type each decoded options struct is written as.
inline builtin_options_type options_type_of(const builtin_options& o) {
    using t = builtin_options_type;
    return std::visit(
        [](const auto& v) -> builtin_options_type {
            using V = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<V, std::monostate>) return t::NONE;
            else if constexpr (std::is_same_v<V, conv_2d_options>) return t::Conv2DOptions;
            else if constexpr (std::is_same_v<V, depthwise_conv_2d_options>) return t::DepthwiseConv2DOptions;
            else if constexpr (std::is_same_v<V, pool_2d_options>) return t::Pool2DOptions;
            else if constexpr (std::is_same_v<V, fully_connected_options>) return t::FullyConnectedOptions;
            else if constexpr (std::is_same_v<V, softmax_options>) return t::SoftmaxOptions;
            else if constexpr (std::is_same_v<V, concatenation_options>) return t::ConcatenationOptions;
            else if constexpr (std::is_same_v<V, add_options>) return t::AddOptions;
            else if constexpr (std::is_same_v<V, sub_options>) return t::SubOptions;
            else if constexpr (std::is_same_v<V, mul_options>) return t::MulOptions;
            else if constexpr (std::is_same_v<V, reshape_options>) return t::ReshapeOptions;
            else if constexpr (std::is_same_v<V, reducer_options>) return t::ReducerOptions;
            else if constexpr (std::is_same_v<V, strided_slice_options>) return t::StridedSliceOptions;
            else if constexpr (std::is_same_v<V, leaky_relu_options>) return t::LeakyReluOptions;
            else if constexpr (std::is_same_v<V, pad_options>) return t::PadOptions;
            else if constexpr (std::is_same_v<V, transpose_options>) return t::TransposeOptions;
            else if constexpr (std::is_same_v<V, quantize_options>) return t::QuantizeOptions;
            else if constexpr (std::is_same_v<V, dequantize_options>) return t::DequantizeOptions;
            else {
                static_assert(std::is_same_v<V, hard_swish_options>, "every builtin_options member needs a table type");
                return t::HardSwishOptions;
            }
        },
        o);
}

class model_writer {
public:
    model_writer(const model& m, const write_options& options) : m_(m), options_(options) {}

    std::vector<std::uint8_t> run() {
        validate();
        namespace f = field::model;
        // Children first: a flatbuffer table can only refer to finished objects.
        // Buffers go first so that their (large) data ends up at the end of
        // the file, after the small tables, as TFLite's converter does.
        const auto buffers = write_buffers();
        const auto codes = write_operator_codes();
        std::vector<flatbuffers::Offset<void>> subgraphs;
        for (std::size_t i = 0; i < m_.subgraphs.size(); ++i) subgraphs.push_back(write_subgraph(m_.subgraphs[i]));
        const auto subgraphs_vec = b_.CreateVector(subgraphs);
        const auto description = m_.description.empty() ? 0 : b_.CreateString(m_.description).o;
        const auto metadata = write_metadata();
        const auto signatures = write_signature_defs();

        const auto start = b_.StartTable();
        b_.AddElement<std::uint32_t>(slot(f::version), m_.version, 0);
        b_.AddOffset(slot(f::operator_codes), codes);
        b_.AddOffset(slot(f::subgraphs), subgraphs_vec);
        if (description) b_.AddOffset(slot(f::description), flatbuffers::Offset<flatbuffers::String>(description));
        b_.AddOffset(slot(f::buffers), buffers);
        if (!metadata.IsNull()) b_.AddOffset(slot(f::metadata), metadata);
        if (!signatures.IsNull()) b_.AddOffset(slot(f::signature_defs), signatures);
        const flatbuffers::Offset<void> root(b_.EndTable(start));
        b_.Finish(root, std::string(file_identifier).c_str());
        return {b_.GetBufferPointer(), b_.GetBufferPointer() + b_.GetSize()};
    }

private:
    using vec_offset = flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<void>>>;

    static flatbuffers::voffset_t slot(int field_id) {
        return flatbuffers::FieldIndexToOffset(static_cast<flatbuffers::voffset_t>(field_id));
    }
    template <class T>
    void add(int field_id, T value, T default_value) {
        b_.AddElement<T>(slot(field_id), value, default_value);
    }
    void add_flag(int field_id, bool value, bool default_value) {
        b_.AddElement<std::uint8_t>(slot(field_id), value ? 1 : 0, default_value ? 1 : 0);
    }
    template <class E>
    void add_enum(int field_id, E value, E default_value) {
        using U = std::underlying_type_t<E>;
        b_.AddElement<U>(slot(field_id), static_cast<U>(value), static_cast<U>(default_value));
    }
    template <class T>
    flatbuffers::Offset<flatbuffers::Vector<T>> ints(const std::vector<T>& v) {
        return b_.CreateVector(v);
    }

    // What the flatbuffer itself cannot express, or TFLite requires.
    void validate() const {
        check(m_.version == schema_version, "write_model", "schema version is ", m_.version, ", expected ",
              schema_version);
        check(!m_.subgraphs.empty(), "write_model", "the model has no subgraph");
        check(!m_.buffers.empty() && m_.buffers.front().data.empty(), "write_model",
              "buffer 0 must exist and be empty (TFLite's sentinel for tensors without data), got ",
              m_.buffers.empty() ? std::string("no buffers") : std::to_string(m_.buffers.front().data.size()) + " bytes");
        const auto a = options_.buffer_alignment;
        // flatbuffers asserts on alignments above FLATBUFFERS_MAX_ALIGNMENT (32).
        check(flatbuffers::VerifyAlignmentRequirements(a), "write_model", "buffer_alignment is ", a,
              ", expected a power of two in [1, ", FLATBUFFERS_MAX_ALIGNMENT, "]");
        // flatbuffers' 32-bit offsets limit a file to 2 GiB; keep a margin
        // for the tables and padding.
        std::uint64_t total = 0;
        for (const auto& buf : m_.buffers) total += buf.data.size() + a;
        for (const auto& g : m_.subgraphs)
            for (const auto& o : g.operators) total += o.custom_options.size() + 8;
        check(total < (std::uint64_t{1} << 31) - (std::uint64_t{1} << 24), "write_model", "the model's data (",
              total, " bytes) does not fit a flatbuffer (2 GiB); external buffers are not supported");
        for (std::size_t i = 0; i < m_.operator_codes.size(); ++i)
            check(static_cast<std::int32_t>(m_.operator_codes[i].builtin_code) >= 0, "write_model",
                  "operator code ", i, " has a negative builtin_code");
        for (std::size_t s = 0; s < m_.subgraphs.size(); ++s)
            for (std::size_t i = 0; i < m_.subgraphs[s].operators.size(); ++i) {
                const auto& o = m_.subgraphs[s].operators[i];
                check(o.opcode_index < m_.operator_codes.size(), "write_model",
                      "subgraph ", s, " operator ", i, ": opcode_index ", o.opcode_index,
                      " is out of range (", m_.operator_codes.size(), " operator codes)");
            }
    }

    flatbuffers::Offset<void> write_buffers_entry(const buffer& buf) {
        flatbuffers::Offset<flatbuffers::Vector<std::uint8_t>> data;
        if (!buf.data.empty()) {
            // Alignment relative to the end of the builder's buffer; Finish()
            // pads the whole file to the largest alignment used, so the data
            // is aligned from the file start too.
            b_.ForceVectorAlignment(buf.data.size(), 1, options_.buffer_alignment);
            data = b_.CreateVector(buf.data.data(), buf.data.size());
        }
        const auto start = b_.StartTable();
        if (!data.IsNull()) b_.AddOffset(slot(field::buffer::data), data);
        return flatbuffers::Offset<void>(b_.EndTable(start));
    }
    vec_offset write_buffers() {
        std::vector<flatbuffers::Offset<void>> out;
        out.reserve(m_.buffers.size());
        for (const auto& buf : m_.buffers) out.push_back(write_buffers_entry(buf));
        return b_.CreateVector(out);
    }

    vec_offset write_operator_codes() {
        namespace f = field::operator_code;
        std::vector<flatbuffers::Offset<void>> out;
        for (const auto& c : m_.operator_codes) {
            const auto custom = c.custom_code.empty() ? 0 : b_.CreateString(c.custom_code).o;
            const auto code = static_cast<std::int32_t>(c.builtin_code);
            const auto start = b_.StartTable();
            // Old runtimes read only the byte; codes >= 127 live in builtin_code
            // and the byte says PLACEHOLDER_FOR_GREATER_OP_CODES (127).
            add<std::int8_t>(f::deprecated_builtin_code, static_cast<std::int8_t>(std::min(code, 127)), 0);
            if (custom) b_.AddOffset(slot(f::custom_code), flatbuffers::Offset<flatbuffers::String>(custom));
            add<std::int32_t>(f::version, c.version, f::default_version);
            add<std::int32_t>(f::builtin_code, code, 0);
            out.push_back(flatbuffers::Offset<void>(b_.EndTable(start)));
        }
        return b_.CreateVector(out);
    }

    flatbuffers::Offset<void> write_quantization(const quantization& q) {
        namespace f = field::quantization_parameters;
        const auto min = q.min.empty() ? 0 : ints(q.min).o;
        const auto max = q.max.empty() ? 0 : ints(q.max).o;
        const auto scale = q.scale.empty() ? 0 : ints(q.scale).o;
        const auto zero_point = q.zero_point.empty() ? 0 : ints(q.zero_point).o;
        flatbuffers::uoffset_t details = 0;
        if (q.blockwise) {
            namespace bf = field::blockwise_quantization;
            const auto start = b_.StartTable();
            // Every field written: the reader's absent-field defaults (0) are
            // not the model's (-1 zero points), so presence must not depend on them.
            b_.AddElement<std::int32_t>(slot(bf::scales), q.blockwise->scales);
            b_.AddElement<std::int32_t>(slot(bf::zero_points), q.blockwise->zero_points);
            b_.AddElement<std::int32_t>(slot(bf::block_size), q.blockwise->block_size);
            details = b_.EndTable(start);
        }
        const auto start = b_.StartTable();
        if (min) b_.AddOffset(slot(f::min), flatbuffers::Offset<flatbuffers::Vector<float>>(min));
        if (max) b_.AddOffset(slot(f::max), flatbuffers::Offset<flatbuffers::Vector<float>>(max));
        if (scale) b_.AddOffset(slot(f::scale), flatbuffers::Offset<flatbuffers::Vector<float>>(scale));
        if (zero_point)
            b_.AddOffset(slot(f::zero_point), flatbuffers::Offset<flatbuffers::Vector<std::int64_t>>(zero_point));
        if (details) {
            add_enum(f::details_type, quantization_details_type::BlockwiseQuantization, quantization_details_type::NONE);
            b_.AddOffset(slot(f::details), flatbuffers::Offset<void>(details));
        }
        add<std::int32_t>(f::quantized_dimension, q.quantized_dimension, 0);
        return flatbuffers::Offset<void>(b_.EndTable(start));
    }

    flatbuffers::Offset<void> write_tensor(const tensor& t) {
        namespace f = field::tensor;
        const auto shape = ints(std::vector<std::int32_t>(t.shape.begin(), t.shape.end()));
        const auto name = b_.CreateString(t.name);
        const auto quant = t.quantization ? write_quantization(*t.quantization).o : 0;
        const auto signature = t.shape_signature.empty() ? 0 : ints(t.shape_signature).o;
        const auto start = b_.StartTable();
        b_.AddOffset(slot(f::shape), shape);
        add_enum(f::type, t.type, tensor_type::FLOAT32);
        add<std::uint32_t>(f::buffer, t.buffer, 0);
        b_.AddOffset(slot(f::name), name);
        if (quant) b_.AddOffset(slot(f::quantization), flatbuffers::Offset<void>(quant));
        add_flag(f::is_variable, t.is_variable, false);
        if (signature)
            b_.AddOffset(slot(f::shape_signature), flatbuffers::Offset<flatbuffers::Vector<std::int32_t>>(signature));
        return flatbuffers::Offset<void>(b_.EndTable(start));
    }

    // The options table of `o` (0 when the op has none).
    flatbuffers::uoffset_t write_options_table(const op& o) {
        using act = activation_function_type;
        return std::visit(
            [&](const auto& v) -> flatbuffers::uoffset_t {
                using V = std::decay_t<decltype(v)>;
                if constexpr (std::is_same_v<V, std::monostate>) {
                    // Not decoded: an empty table of the stored type keeps the
                    // union well formed (its fields read as schema defaults).
                    if (o.options_type == builtin_options_type::NONE) return 0;
                    return b_.EndTable(b_.StartTable());
                } else if constexpr (std::is_same_v<V, reshape_options>) {
                    const auto shape = v.new_shape ? ints(*v.new_shape).o : 0;
                    const auto start = b_.StartTable();
                    if (v.new_shape)
                        b_.AddOffset(slot(field::reshape_options::new_shape),
                                     flatbuffers::Offset<flatbuffers::Vector<std::int32_t>>(shape));
                    return b_.EndTable(start);
                } else {
                    const auto start = b_.StartTable();
                    if constexpr (std::is_same_v<V, conv_2d_options>) {
                        namespace f = field::conv_2d_options;
                        add_enum(f::padding, v.padding, padding::SAME);
                        add<std::int32_t>(f::stride_w, v.stride_w, 0);
                        add<std::int32_t>(f::stride_h, v.stride_h, 0);
                        add_enum(f::fused_activation_function, v.fused_activation_function, act::NONE);
                        add<std::int32_t>(f::dilation_w_factor, v.dilation_w_factor, 1);
                        add<std::int32_t>(f::dilation_h_factor, v.dilation_h_factor, 1);
                        add_enum(f::quantized_bias_type, v.quantized_bias_type, tensor_type::FLOAT32);
                    } else if constexpr (std::is_same_v<V, depthwise_conv_2d_options>) {
                        namespace f = field::depthwise_conv_2d_options;
                        add_enum(f::padding, v.padding, padding::SAME);
                        add<std::int32_t>(f::stride_w, v.stride_w, 0);
                        add<std::int32_t>(f::stride_h, v.stride_h, 0);
                        add<std::int32_t>(f::depth_multiplier, v.depth_multiplier, 0);
                        add_enum(f::fused_activation_function, v.fused_activation_function, act::NONE);
                        add<std::int32_t>(f::dilation_w_factor, v.dilation_w_factor, 1);
                        add<std::int32_t>(f::dilation_h_factor, v.dilation_h_factor, 1);
                    } else if constexpr (std::is_same_v<V, pool_2d_options>) {
                        namespace f = field::pool_2d_options;
                        add_enum(f::padding, v.padding, padding::SAME);
                        add<std::int32_t>(f::stride_w, v.stride_w, 0);
                        add<std::int32_t>(f::stride_h, v.stride_h, 0);
                        add<std::int32_t>(f::filter_width, v.filter_width, 0);
                        add<std::int32_t>(f::filter_height, v.filter_height, 0);
                        add_enum(f::fused_activation_function, v.fused_activation_function, act::NONE);
                    } else if constexpr (std::is_same_v<V, fully_connected_options>) {
                        namespace f = field::fully_connected_options;
                        add_enum(f::fused_activation_function, v.fused_activation_function, act::NONE);
                        add_enum(f::weights_format, v.weights_format, fully_connected_options_weights_format::DEFAULT);
                        add_flag(f::keep_num_dims, v.keep_num_dims, false);
                        add_flag(f::asymmetric_quantize_inputs, v.asymmetric_quantize_inputs, false);
                        add_enum(f::quantized_bias_type, v.quantized_bias_type, tensor_type::FLOAT32);
                    } else if constexpr (std::is_same_v<V, softmax_options>) {
                        add<float>(field::softmax_options::beta, v.beta, 0.0f);
                    } else if constexpr (std::is_same_v<V, concatenation_options>) {
                        add<std::int32_t>(field::concatenation_options::axis, v.axis, 0);
                        add_enum(field::concatenation_options::fused_activation_function, v.fused_activation_function,
                                 act::NONE);
                    } else if constexpr (std::is_same_v<V, add_options>) {
                        add_enum(field::add_options::fused_activation_function, v.fused_activation_function, act::NONE);
                        add_flag(field::add_options::pot_scale_int16, v.pot_scale_int16, true);
                    } else if constexpr (std::is_same_v<V, sub_options>) {
                        add_enum(field::sub_options::fused_activation_function, v.fused_activation_function, act::NONE);
                        add_flag(field::sub_options::pot_scale_int16, v.pot_scale_int16, true);
                    } else if constexpr (std::is_same_v<V, mul_options>) {
                        add_enum(field::mul_options::fused_activation_function, v.fused_activation_function, act::NONE);
                    } else if constexpr (std::is_same_v<V, reducer_options>) {
                        add_flag(field::reducer_options::keep_dims, v.keep_dims, false);
                    } else if constexpr (std::is_same_v<V, strided_slice_options>) {
                        namespace f = field::strided_slice_options;
                        add<std::int32_t>(f::begin_mask, v.begin_mask, 0);
                        add<std::int32_t>(f::end_mask, v.end_mask, 0);
                        add<std::int32_t>(f::ellipsis_mask, v.ellipsis_mask, 0);
                        add<std::int32_t>(f::new_axis_mask, v.new_axis_mask, 0);
                        add<std::int32_t>(f::shrink_axis_mask, v.shrink_axis_mask, 0);
                        add_flag(f::offset, v.offset, false);
                    } else if constexpr (std::is_same_v<V, leaky_relu_options>) {
                        add<float>(field::leaky_relu_options::alpha, v.alpha, 0.0f);
                    }
                    // pad, transpose, quantize, dequantize, hard_swish: empty tables.
                    return b_.EndTable(start);
                }
            },
            o.options);
    }

    // The decoded options' table type; NONE when the file had no table
    // (options_type NONE) and the options are the schema defaults, which is
    // what an absent table means, so the stored form survives a round trip.
    static builtin_options_type written_options_type(const op& o) {
        if (std::holds_alternative<std::monostate>(o.options)) return o.options_type;
        if (o.options_type == builtin_options_type::NONE) {
            const bool defaults = std::visit(
                [](const auto& v) {
                    using V = std::decay_t<decltype(v)>;
                    return v == V{};
                },
                o.options);
            if (defaults) return builtin_options_type::NONE;
        }
        return options_type_of(o.options);
    }

    flatbuffers::Offset<void> write_operator(const op& o) {
        namespace f = field::operator_;
        const auto inputs = ints(o.inputs);
        const auto outputs = ints(o.outputs);
        const auto intermediates = o.intermediates.empty() ? 0 : ints(o.intermediates).o;
        const auto custom = o.custom_options.empty() ? 0 : b_.CreateVector(o.custom_options).o;
        const auto type = written_options_type(o);
        const auto options = type == builtin_options_type::NONE ? 0 : write_options_table(o);
        const auto start = b_.StartTable();
        add<std::uint32_t>(f::opcode_index, o.opcode_index, 0);
        b_.AddOffset(slot(f::inputs), inputs);
        b_.AddOffset(slot(f::outputs), outputs);
        add_enum(f::builtin_options_type, type, builtin_options_type::NONE);
        if (options) b_.AddOffset(slot(f::builtin_options), flatbuffers::Offset<void>(options));
        if (custom) b_.AddOffset(slot(f::custom_options), flatbuffers::Offset<flatbuffers::Vector<std::uint8_t>>(custom));
        if (intermediates)
            b_.AddOffset(slot(f::intermediates), flatbuffers::Offset<flatbuffers::Vector<std::int32_t>>(intermediates));
        return flatbuffers::Offset<void>(b_.EndTable(start));
    }

    flatbuffers::Offset<void> write_subgraph(const subgraph& g) {
        namespace f = field::subgraph;
        std::vector<flatbuffers::Offset<void>> tensors, operators;
        for (const auto& t : g.tensors) tensors.push_back(write_tensor(t));
        const auto tensors_vec = b_.CreateVector(tensors);
        const auto inputs = ints(g.inputs);
        const auto outputs = ints(g.outputs);
        for (const auto& o : g.operators) operators.push_back(write_operator(o));
        const auto operators_vec = b_.CreateVector(operators);
        const auto name = g.name.empty() ? 0 : b_.CreateString(g.name).o;
        const auto start = b_.StartTable();
        b_.AddOffset(slot(f::tensors), tensors_vec);
        b_.AddOffset(slot(f::inputs), inputs);
        b_.AddOffset(slot(f::outputs), outputs);
        b_.AddOffset(slot(f::operators), operators_vec);
        if (name) b_.AddOffset(slot(f::name), flatbuffers::Offset<flatbuffers::String>(name));
        return flatbuffers::Offset<void>(b_.EndTable(start));
    }

    vec_offset write_tensor_maps(const std::vector<tensor_map>& maps) {
        std::vector<flatbuffers::Offset<void>> out;
        for (const auto& m : maps) {
            const auto name = b_.CreateString(m.name);
            const auto start = b_.StartTable();
            b_.AddOffset(slot(field::tensor_map::name), name);
            add<std::uint32_t>(field::tensor_map::tensor_index, m.tensor_index, 0);
            out.push_back(flatbuffers::Offset<void>(b_.EndTable(start)));
        }
        return b_.CreateVector(out);
    }
    vec_offset write_signature_defs() {
        if (m_.signature_defs.empty()) return 0;
        namespace f = field::signature_def;
        std::vector<flatbuffers::Offset<void>> out;
        for (const auto& d : m_.signature_defs) {
            const auto inputs = write_tensor_maps(d.inputs);
            const auto outputs = write_tensor_maps(d.outputs);
            const auto key = b_.CreateString(d.signature_key);
            const auto start = b_.StartTable();
            b_.AddOffset(slot(f::inputs), inputs);
            b_.AddOffset(slot(f::outputs), outputs);
            b_.AddOffset(slot(f::signature_key), key);
            add<std::uint32_t>(f::subgraph_index, d.subgraph_index, 0);
            out.push_back(flatbuffers::Offset<void>(b_.EndTable(start)));
        }
        return b_.CreateVector(out);
    }
    vec_offset write_metadata() {
        if (m_.metadata.empty()) return 0;
        std::vector<flatbuffers::Offset<void>> out;
        for (const auto& e : m_.metadata) {
            const auto name = b_.CreateString(e.name);
            const auto start = b_.StartTable();
            b_.AddOffset(slot(field::metadata::name), name);
            add<std::uint32_t>(field::metadata::buffer, e.buffer, 0);
            out.push_back(flatbuffers::Offset<void>(b_.EndTable(start)));
        }
        return b_.CreateVector(out);
    }

    const model& m_;
    write_options options_;
    flatbuffers::FlatBufferBuilder b_{1 << 16};
};

}  // namespace detail

// Serializes `m` as a .tflite flatbuffer.  Errors (qtl::error, where
// "write_model"): what the format cannot hold (no subgraph, a non-empty
// buffer 0, > 2 GiB of data), and with write_options::verify anything
// read_model() refuses in the written bytes.
inline std::vector<std::uint8_t> write_model(const model& m, const write_options& options = {}) {
    auto bytes = detail::model_writer(m, options).run();
    if (options.verify) {
        try {
            (void)read_model(std::span<const std::uint8_t>(bytes));
        } catch (const error& e) {
            throw error("write_model", "the written model does not read back: " +
                                           (e.where().empty() ? std::string() : e.where() + ": ") + e.message());
        }
    }
    return bytes;
}

// Writes the file at `path` (replacing it).
inline void write_model(const model& m, const std::filesystem::path& path, const write_options& options = {}) {
    const auto bytes = write_model(m, options);
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    check(out.good(), path.string(), "cannot open the file for writing");
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    out.close();
    check(out.good(), path.string(), "write error");
}

// Adds a "serving_default" signature def for the main subgraph (TFLite's
// converter writes one; LiteRT's signature runners look it up by this key),
// unless the model already has a signature def.  Inputs and outputs are named
// by their tensor names; an empty or repeated name becomes input_<i> /
// output_<i> (signature names must be unique).
inline void add_serving_default_signature(model& m) {
    if (!m.signature_defs.empty()) return;
    const auto& g = m.main();
    signature_def d;
    d.signature_key = "serving_default";
    d.subgraph_index = 0;
    auto maps = [&](const std::vector<std::int32_t>& indices, const char* role) {
        std::vector<tensor_map> out;
        std::set<std::string> used;
        for (std::size_t i = 0; i < indices.size(); ++i) {
            const auto index = indices[i];
            check(index >= 0 && static_cast<std::size_t>(index) < g.tensors.size(), "add_serving_default_signature",
                  role, " ", i, " has tensor index ", index, ", out of range (", g.tensors.size(), " tensors)");
            std::string name = g.tensors[static_cast<std::size_t>(index)].name;
            if (name.empty() || used.count(name)) name = std::string(role) + "_" + std::to_string(i);
            used.insert(name);
            out.push_back(tensor_map{name, static_cast<std::uint32_t>(index)});
        }
        return out;
    };
    d.inputs = maps(g.inputs, "input");
    d.outputs = maps(g.outputs, "output");
    m.signature_defs.push_back(std::move(d));
}

// Sets the "min_runtime_version" metadata: a buffer holding the version
// string NUL-padded to 16 bytes, as TFLite's converter writes it (an existing
// entry's buffer is overwritten, otherwise a buffer and an entry are added).
//
// How the version is chosen: it is the oldest TFLite release that runs every
// (op, version) pair of the model; TFLite derives it from its table
// op -> version -> runtime version (lite/tools/versioning/runtime_version.cc).
// qtl does not carry that table yet, so the caller passes the string (e.g.
// "2.3.0" for int8 models made of v1-v3 ops; 16x8 ops need newer runtimes).
// The runtime only records it: LiteRT does not refuse a model because of it.
inline void set_min_runtime_version(model& m, const std::string& version) {
    constexpr std::size_t field_size = 16;
    check(!version.empty() && version.size() < field_size && version.find('\0') == std::string::npos,
          "set_min_runtime_version", "the version '", version, "' must have 1 to ", field_size - 1,
          " characters and no NUL (it is stored NUL-padded in ", field_size, " bytes)");
    std::vector<std::uint8_t> bytes(field_size, 0);
    std::copy(version.begin(), version.end(), bytes.begin());
    for (const auto& e : m.metadata)
        if (e.name == "min_runtime_version" && e.buffer != 0 && e.buffer < m.buffers.size()) {
            m.buffers[e.buffer].data = std::move(bytes);
            return;
        }
    if (m.buffers.empty()) m.buffers.emplace_back();  // buffer 0: the empty sentinel
    m.buffers.push_back(buffer{std::move(bytes)});
    m.metadata.push_back(metadata{"min_runtime_version", static_cast<std::uint32_t>(m.buffers.size() - 1)});
}

// IEEE 754 binary16 bits of `f`, rounded to nearest even (overflow gives
// infinity, NaN stays NaN): what a FLOAT16 tensor stores.
inline std::uint16_t float_to_half(float f) noexcept {
    const auto bits = std::bit_cast<std::uint32_t>(f);
    const auto sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000u);
    const std::uint32_t magnitude = bits & 0x7fffffffu;
    if (magnitude >= 0x7f800000u)  // inf or NaN
        return static_cast<std::uint16_t>(sign | 0x7c00u | (magnitude > 0x7f800000u ? 0x200u : 0u));
    const int exponent = static_cast<int>(magnitude >> 23) - 127;
    if (exponent > 15) return static_cast<std::uint16_t>(sign | 0x7c00u);
    // The 24-bit significand (implicit bit included) and how many low bits
    // binary16 drops: 13 for normals, more for subnormals (exponent < -14).
    const std::uint32_t significand = (magnitude & 0x7fffffu) | (exponent >= -126 ? 0x800000u : 0u);
    const int drop = exponent >= -14 ? 13 : 13 + (-14 - exponent);
    if (drop > 24) return sign;  // below half the smallest subnormal
    std::uint32_t kept = significand >> drop;
    const std::uint32_t rest = significand & ((1u << drop) - 1u), half = 1u << (drop - 1);
    if (rest > half || (rest == half && (kept & 1u))) ++kept;  // a carry may move into the exponent: still right
    if (exponent >= -14) return static_cast<std::uint16_t>(sign | ((static_cast<std::uint32_t>(exponent + 14) << 10) + kept));
    return static_cast<std::uint16_t>(sign | kept);
}

// Makes tensor `weights` of subgraph `subgraph_index` block-wise quantized:
// blocks of `block_size` consecutive elements of its last dimension, one
// scale each (row-major over the blocks: scales.size() = elements /
// block_size), symmetric unless `zero_points` is given (one per block).
// Adds the scale tensor "<name>/scales" as FLOAT16 (what TFLite's block-wise
// kernels and XNNPACK read; each scale is rounded to the nearest binary16 and
// must stay finite and > 0), and "<name>/zero_points" (INT32) when zero points
// are given, each with a buffer of its own; sets the
// BlockwiseQuantization details and the resolved params (the scales as
// stored, so the model equals what read_model() makes of the written file).
// The tensor's type and data are the caller's (INT4 or INT8).
inline void set_blockwise_quantization(model& m, std::size_t subgraph_index, std::int32_t weights,
                                       std::span<const float> scales, std::int32_t block_size,
                                       std::span<const std::int32_t> zero_points = {}) {
    const std::string where = "set_blockwise_quantization";
    check(subgraph_index < m.subgraphs.size(), where, "subgraph ", subgraph_index, " does not exist (",
          m.subgraphs.size(), " subgraphs)");
    auto& g = m.subgraphs[subgraph_index];
    check(weights >= 0 && static_cast<std::size_t>(weights) < g.tensors.size(), where, "tensor index ", weights,
          " is out of range (", g.tensors.size(), " tensors)");
    const auto& t = g.tensors[static_cast<std::size_t>(weights)];
    const std::string tw = "tensor " + std::to_string(weights) + " '" + t.name + "'";
    check(t.type == tensor_type::INT4 || t.type == tensor_type::INT8, where, tw, " has type ", describe(t.type),
          "; block-wise quantization is for INT4 or INT8 weights");
    check(!t.shape.empty() && block_size > 0 && t.shape.back() % block_size == 0, where, tw, " shape ",
          qtl::to_string(t.shape), ": the last dimension must be a multiple of block_size ", block_size, " (> 0)");
    const std::size_t blocks = num_elements(t.shape, tw) / static_cast<std::size_t>(block_size);
    check(scales.size() == blocks, where, tw, " needs ", blocks, " scales (one per block), got ", scales.size());
    check(zero_points.empty() || zero_points.size() == blocks, where, tw, " needs no zero points or ", blocks,
          ", got ", zero_points.size());
    if (m.buffers.empty()) m.buffers.emplace_back();  // buffer 0: the empty sentinel

    std::vector<std::uint8_t> half_bytes(2 * blocks);
    std::vector<float> stored(blocks);
    for (std::size_t i = 0; i < blocks; ++i) {
        const std::uint16_t h = float_to_half(scales[i]);
        stored[i] = detail::half_to_float(h);
        check(std::isfinite(stored[i]) && stored[i] > 0.0f, where, tw, " scale ", i, " is ", scales[i],
              ", which is not a finite binary16 value > 0 (range 2^-24 .. 65504)");
        half_bytes[2 * i] = static_cast<std::uint8_t>(h & 0xff);
        half_bytes[2 * i + 1] = static_cast<std::uint8_t>(h >> 8);
    }
    // The shape of the weights with the last dimension counted in blocks.
    qtl::shape block_shape = t.shape;
    block_shape.back() /= block_size;
    const std::string name = t.name;  // `t` dangles once tensors are added
    const auto add_constant = [&](std::string tensor_name, tensor_type type, std::vector<std::uint8_t> bytes) {
        m.buffers.push_back(buffer{std::move(bytes)});
        tensor c;
        c.name = std::move(tensor_name);
        c.type = type;
        c.shape = block_shape;
        c.buffer = static_cast<std::uint32_t>(m.buffers.size() - 1);
        g.tensors.push_back(std::move(c));
        return static_cast<std::int32_t>(g.tensors.size() - 1);
    };
    blockwise_quantization details;
    details.block_size = block_size;
    details.scales = add_constant(name + "/scales", tensor_type::FLOAT16, std::move(half_bytes));
    quant_params params;
    params.scales = stored;
    params.zero_points.assign(blocks, 0);
    if (!zero_points.empty()) {
        std::vector<std::uint8_t> zp_bytes(4 * blocks);
        std::memcpy(zp_bytes.data(), zero_points.data(), zp_bytes.size());
        details.zero_points = add_constant(name + "/zero_points", tensor_type::INT32, std::move(zp_bytes));
        params.zero_points.assign(zero_points.begin(), zero_points.end());
    }
    auto& w = g.tensors[static_cast<std::size_t>(weights)];
    params.axis = static_cast<int>(w.shape.size()) - 1;
    params.block_size = block_size;
    quantization q;
    q.blockwise = details;
    q.params = std::move(params);
    w.quantization = std::move(q);
}

}  // namespace qtl::tflite
