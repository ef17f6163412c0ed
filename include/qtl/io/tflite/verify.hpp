#pragma once
// Structural verification of a .tflite flatbuffer before anything reads it.
//
// verify_model() walks every table, vector and string the reader touches with
// flatbuffers::Verifier (VerifyTableStart / VerifyField / VerifyOffset /
// VerifyVector / VerifyString, bounds, alignment, nesting and table-count
// limits) and throws qtl::error naming the table and field at the first
// problem.  Only after it returns may the fb:: views of tables.hpp be used.
// Tables qtl never reads (sparsity, builtin_options_2, options of ops qtl
// does not decode, ...) are not walked, and the reader never reads them.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>

#include <flatbuffers/flatbuffers.h>

#include "qtl/core/error.hpp"
#include "qtl/io/tflite/schema.hpp"
#include "qtl/io/tflite/tables.hpp"

namespace qtl::tflite {

namespace detail {

// Where a table sits in the model ("subgraph 0 tensor 12"; the root table is
// "model"), formatted only when something fails.
struct location {
    const char* kind;
    std::size_t index;
    const location* parent = nullptr;
    bool indexed = true;

    std::string str() const {
        std::string s;
        if (parent && parent->parent) {  // the root is implied below it
            s = parent->str();
            s += ' ';
        }
        s += kind;
        if (indexed) {
            s += ' ';
            s += std::to_string(index);
        }
        return s;
    }
};

class model_verifier {
public:
    explicit model_verifier(std::span<const std::uint8_t> bytes)
        : bytes_(bytes), verifier_(bytes.data(), bytes.size(), options()) {}

    const fb::model_table& run() {
        const location root{"model", 0, nullptr, false};
        const auto root_offset = verifier_.VerifyOffset(std::size_t{0});
        if (root_offset == 0) fail(root, "the root table offset points outside the file");
        const auto& model = *reinterpret_cast<const fb::model_table*>(bytes_.data() + root_offset);
        verify(model, root);
        return model;
    }

private:
    static flatbuffers::Verifier::Options options() {
        flatbuffers::Verifier::Options o;
        o.max_depth = 64;
        o.max_tables = 1000000;
        o.check_alignment = true;
        return o;
    }

    [[noreturn]] void fail(const location& at, const std::string& what) const {
        throw error(at.str(), "malformed flatbuffer: " + what);
    }

    std::size_t offset_of(const void* p) const {
        return static_cast<std::size_t>(static_cast<const std::uint8_t*>(p) - bytes_.data());
    }

    void start(const fb::table& t, const location& at) {
        if (!t.raw().VerifyTableStart(verifier_))
            fail(at, "table at byte " + std::to_string(offset_of(&t)) +
                         " has a vtable out of bounds or misaligned, or the file nests/holds "
                         "more tables than the verifier allows");
    }
    void end() { verifier_.EndTable(); }

    template <class T>
    void scalar(const fb::table& t, int id, const char* name, const location& at) {
        if (!t.raw().template VerifyField<T>(verifier_, fb::slot(id), sizeof(T)))
            fail(at, std::string("field '") + name + "' is out of bounds or misaligned");
    }

    void offset(const fb::table& t, int id, const char* name, const location& at) {
        if (!t.raw().VerifyOffset(verifier_, fb::slot(id)))
            fail(at, std::string("field '") + name + "' holds an offset that points outside the file");
    }

    template <class T>
    void vector(const fb::table& t, int id, const char* name, const location& at) {
        offset(t, id, name, at);
        const auto* v = t.vec<T>(id);
        if (!verifier_.VerifyVector(v))
            fail(at, std::string("vector '") + name + "' runs past the end of the file or is misaligned");
        // The verifier only aligns the length field (4 bytes); 8-byte elements
        // (int64 zero points) must be aligned too, as every flatbuffers writer
        // lays them out, or reading them would be a misaligned load.
        if (v && v->size() > 0 && reinterpret_cast<std::uintptr_t>(v->Data()) % alignof(T) != 0)
            fail(at, std::string("vector '") + name + "' has elements that are not " + std::to_string(alignof(T)) +
                         "-byte aligned");
    }

    void string(const fb::table& t, int id, const char* name, const location& at) {
        offset(t, id, name, at);
        if (!verifier_.VerifyString(t.str(id)))
            fail(at, std::string("string '") + name +
                         "' runs past the end of the file or lacks its terminating zero");
    }

    template <class Table>
    const Table* sub(const fb::table& t, int id, const char* name, const location& at) {
        offset(t, id, name, at);
        return t.sub<Table>(id);
    }

    // A vector of tables: the vector itself, then each element's offset and
    // table, verified by `each(table, location)`.
    template <class Table, class Each>
    void subs(const fb::table& t, int id, const char* name, const char* element_kind, const location& at,
              Each each) {
        offset(t, id, name, at);
        const auto* v = t.subs<Table>(id);
        if (!verifier_.VerifyVector(v))
            fail(at, std::string("vector '") + name + "' runs past the end of the file or is misaligned");
        if (!v) return;
        const std::size_t first = offset_of(v->Data());
        for (flatbuffers::uoffset_t i = 0; i < v->size(); ++i) {
            const location element{element_kind, i, &at};
            const std::size_t position = first + std::size_t{i} * sizeof(flatbuffers::uoffset_t);
            const auto o = verifier_.VerifyOffset(position);
            if (o == 0) fail(element, "its offset points outside the file");
            each(*reinterpret_cast<const Table*>(bytes_.data() + position + o), element);
        }
    }

    void verify(const fb::model_table& m, const location& at) {
        namespace f = field::model;
        start(m, at);
        scalar<std::uint32_t>(m, f::version, "version", at);
        subs<fb::operator_code_table>(m, f::operator_codes, "operator_codes", "operator code", at,
                                      [&](const auto& c, const location& l) { verify(c, l); });
        subs<fb::buffer_table>(m, f::buffers, "buffers", "buffer", at,
                               [&](const auto& b, const location& l) { verify(b, l); });
        subs<fb::subgraph_table>(m, f::subgraphs, "subgraphs", "subgraph", at,
                                 [&](const auto& s, const location& l) { verify(s, l); });
        string(m, f::description, "description", at);
        subs<fb::metadata_table>(m, f::metadata, "metadata", "metadata", at,
                                 [&](const auto& d, const location& l) { verify(d, l); });
        subs<fb::signature_def_table>(m, f::signature_defs, "signature_defs", "signature def", at,
                                      [&](const auto& s, const location& l) { verify(s, l); });
        end();
    }

    void verify(const fb::operator_code_table& c, const location& at) {
        namespace f = field::operator_code;
        start(c, at);
        scalar<std::int8_t>(c, f::deprecated_builtin_code, "deprecated_builtin_code", at);
        string(c, f::custom_code, "custom_code", at);
        scalar<std::int32_t>(c, f::version, "version", at);
        scalar<std::int32_t>(c, f::builtin_code, "builtin_code", at);
        end();
    }

    void verify(const fb::buffer_table& b, const location& at) {
        namespace f = field::buffer;
        start(b, at);
        vector<std::uint8_t>(b, f::data, "data", at);
        scalar<std::uint64_t>(b, f::offset, "offset", at);
        scalar<std::uint64_t>(b, f::size, "size", at);
        end();
    }

    void verify(const fb::subgraph_table& s, const location& at) {
        namespace f = field::subgraph;
        start(s, at);
        subs<fb::tensor_table>(s, f::tensors, "tensors", "tensor", at,
                               [&](const auto& t, const location& l) { verify(t, l); });
        vector<std::int32_t>(s, f::inputs, "inputs", at);
        vector<std::int32_t>(s, f::outputs, "outputs", at);
        subs<fb::operator_table>(s, f::operators, "operators", "operator", at,
                                 [&](const auto& o, const location& l) { verify(o, l); });
        string(s, f::name, "name", at);
        end();
    }

    void verify(const fb::tensor_table& t, const location& at) {
        namespace f = field::tensor;
        start(t, at);
        vector<std::int32_t>(t, f::shape, "shape", at);
        scalar<std::int8_t>(t, f::type, "type", at);
        scalar<std::uint32_t>(t, f::buffer, "buffer", at);
        string(t, f::name, "name", at);
        if (const auto* q = sub<fb::quantization_parameters_table>(t, f::quantization, "quantization", at))
            verify(*q, location{"quantization", 0, &at, false});
        scalar<std::uint8_t>(t, f::is_variable, "is_variable", at);
        vector<std::int32_t>(t, f::shape_signature, "shape_signature", at);
        scalar<std::uint8_t>(t, f::has_rank, "has_rank", at);
        scalar<std::uint32_t>(t, f::external_buffer, "external_buffer", at);
        end();
    }

    void verify(const fb::quantization_parameters_table& q, const location& at) {
        namespace f = field::quantization_parameters;
        start(q, at);
        vector<float>(q, f::min, "min", at);
        vector<float>(q, f::max, "max", at);
        vector<float>(q, f::scale, "scale", at);
        vector<std::int64_t>(q, f::zero_point, "zero_point", at);
        scalar<std::uint8_t>(q, f::details_type, "details_type", at);
        if (q.details_type() == quantization_details_type::BlockwiseQuantization) {
            namespace b = field::blockwise_quantization;
            const location l{"BlockwiseQuantization", 0, &at, false};
            if (const auto* d = sub<fb::blockwise_quantization_table>(q, f::details, "details", at)) {
                start(*d, l);
                scalar<std::int32_t>(*d, b::scales, "scales", l);
                scalar<std::int32_t>(*d, b::zero_points, "zero_points", l);
                scalar<std::int32_t>(*d, b::block_size, "block_size", l);
                end();
            }
        }
        scalar<std::int32_t>(q, f::quantized_dimension, "quantized_dimension", at);
        end();
    }

    void verify(const fb::operator_table& o, const location& at) {
        namespace f = field::operator_;
        start(o, at);
        scalar<std::uint32_t>(o, f::opcode_index, "opcode_index", at);
        vector<std::int32_t>(o, f::inputs, "inputs", at);
        vector<std::int32_t>(o, f::outputs, "outputs", at);
        scalar<std::uint8_t>(o, f::builtin_options_type, "builtin_options_type", at);
        if (const auto* options = sub<fb::table>(o, f::builtin_options, "builtin_options", at))
            verify_options(o.options_type(), *options, location{"builtin_options", 0, &at, false});
        vector<std::uint8_t>(o, f::custom_options, "custom_options", at);
        vector<std::int32_t>(o, f::intermediates, "intermediates", at);
        scalar<std::uint64_t>(o, f::large_custom_options_offset, "large_custom_options_offset", at);
        scalar<std::uint64_t>(o, f::large_custom_options_size, "large_custom_options_size", at);
        end();
    }

    // The options tables the reader decodes; any other type is never read.
    void verify_options(builtin_options_type type, const fb::table& t, const location& at) {
        using o = builtin_options_type;
        switch (type) {
            case o::Conv2DOptions: {
                namespace f = field::conv_2d_options;
                start(t, at);
                scalar<std::int8_t>(t, f::padding, "padding", at);
                scalar<std::int32_t>(t, f::stride_w, "stride_w", at);
                scalar<std::int32_t>(t, f::stride_h, "stride_h", at);
                scalar<std::int8_t>(t, f::fused_activation_function, "fused_activation_function", at);
                scalar<std::int32_t>(t, f::dilation_w_factor, "dilation_w_factor", at);
                scalar<std::int32_t>(t, f::dilation_h_factor, "dilation_h_factor", at);
                scalar<std::int8_t>(t, f::quantized_bias_type, "quantized_bias_type", at);
                end();
                return;
            }
            case o::DepthwiseConv2DOptions: {
                namespace f = field::depthwise_conv_2d_options;
                start(t, at);
                scalar<std::int8_t>(t, f::padding, "padding", at);
                scalar<std::int32_t>(t, f::stride_w, "stride_w", at);
                scalar<std::int32_t>(t, f::stride_h, "stride_h", at);
                scalar<std::int32_t>(t, f::depth_multiplier, "depth_multiplier", at);
                scalar<std::int8_t>(t, f::fused_activation_function, "fused_activation_function", at);
                scalar<std::int32_t>(t, f::dilation_w_factor, "dilation_w_factor", at);
                scalar<std::int32_t>(t, f::dilation_h_factor, "dilation_h_factor", at);
                end();
                return;
            }
            case o::Pool2DOptions: {
                namespace f = field::pool_2d_options;
                start(t, at);
                scalar<std::int8_t>(t, f::padding, "padding", at);
                scalar<std::int32_t>(t, f::stride_w, "stride_w", at);
                scalar<std::int32_t>(t, f::stride_h, "stride_h", at);
                scalar<std::int32_t>(t, f::filter_width, "filter_width", at);
                scalar<std::int32_t>(t, f::filter_height, "filter_height", at);
                scalar<std::int8_t>(t, f::fused_activation_function, "fused_activation_function", at);
                end();
                return;
            }
            case o::FullyConnectedOptions: {
                namespace f = field::fully_connected_options;
                start(t, at);
                scalar<std::int8_t>(t, f::fused_activation_function, "fused_activation_function", at);
                scalar<std::int8_t>(t, f::weights_format, "weights_format", at);
                scalar<std::uint8_t>(t, f::keep_num_dims, "keep_num_dims", at);
                scalar<std::uint8_t>(t, f::asymmetric_quantize_inputs, "asymmetric_quantize_inputs", at);
                scalar<std::int8_t>(t, f::quantized_bias_type, "quantized_bias_type", at);
                end();
                return;
            }
            case o::SoftmaxOptions:
                start(t, at);
                scalar<float>(t, field::softmax_options::beta, "beta", at);
                end();
                return;
            case o::ConcatenationOptions:
                start(t, at);
                scalar<std::int32_t>(t, field::concatenation_options::axis, "axis", at);
                scalar<std::int8_t>(t, field::concatenation_options::fused_activation_function,
                                    "fused_activation_function", at);
                end();
                return;
            case o::AddOptions:
            case o::SubOptions:
                start(t, at);
                scalar<std::int8_t>(t, field::add_options::fused_activation_function,
                                    "fused_activation_function", at);
                scalar<std::uint8_t>(t, field::add_options::pot_scale_int16, "pot_scale_int16", at);
                end();
                return;
            case o::MulOptions:
                start(t, at);
                scalar<std::int8_t>(t, field::mul_options::fused_activation_function,
                                    "fused_activation_function", at);
                end();
                return;
            case o::ReshapeOptions:
                start(t, at);
                vector<std::int32_t>(t, field::reshape_options::new_shape, "new_shape", at);
                end();
                return;
            case o::ReducerOptions:
                start(t, at);
                scalar<std::uint8_t>(t, field::reducer_options::keep_dims, "keep_dims", at);
                end();
                return;
            case o::StridedSliceOptions: {
                namespace f = field::strided_slice_options;
                start(t, at);
                scalar<std::int32_t>(t, f::begin_mask, "begin_mask", at);
                scalar<std::int32_t>(t, f::end_mask, "end_mask", at);
                scalar<std::int32_t>(t, f::ellipsis_mask, "ellipsis_mask", at);
                scalar<std::int32_t>(t, f::new_axis_mask, "new_axis_mask", at);
                scalar<std::int32_t>(t, f::shrink_axis_mask, "shrink_axis_mask", at);
                scalar<std::uint8_t>(t, f::offset, "offset", at);
                end();
                return;
            }
            case o::LeakyReluOptions:
                start(t, at);
                scalar<float>(t, field::leaky_relu_options::alpha, "alpha", at);
                end();
                return;
            case o::PadOptions:
            case o::TransposeOptions:
            case o::QuantizeOptions:
            case o::DequantizeOptions:
            case o::HardSwishOptions:
                start(t, at);  // empty tables: only the header
                end();
                return;
            default:
                return;
        }
    }

    void verify(const fb::metadata_table& d, const location& at) {
        start(d, at);
        string(d, field::metadata::name, "name", at);
        scalar<std::uint32_t>(d, field::metadata::buffer, "buffer", at);
        end();
    }

    void verify(const fb::tensor_map_table& m, const location& at) {
        start(m, at);
        string(m, field::tensor_map::name, "name", at);
        scalar<std::uint32_t>(m, field::tensor_map::tensor_index, "tensor_index", at);
        end();
    }

    void verify(const fb::signature_def_table& s, const location& at) {
        namespace f = field::signature_def;
        start(s, at);
        subs<fb::tensor_map_table>(s, f::inputs, "inputs", "input", at,
                                   [&](const auto& m, const location& l) { verify(m, l); });
        subs<fb::tensor_map_table>(s, f::outputs, "outputs", "output", at,
                                   [&](const auto& m, const location& l) { verify(m, l); });
        string(s, f::signature_key, "signature_key", at);
        scalar<std::uint32_t>(s, f::subgraph_index, "subgraph_index", at);
        end();
    }

    std::span<const std::uint8_t> bytes_;
    flatbuffers::Verifier verifier_;
};

// The checks that must pass before flatbuffers::Verifier may even be built.
inline void check_container(std::span<const std::uint8_t> bytes) {
    // flatbuffers offsets are 32-bit and signed: a flatbuffer is < 2 GiB.
    check(bytes.size() < FLATBUFFERS_MAX_BUFFER_SIZE, "model",
          "file is ", bytes.size(), " bytes; a flatbuffer holds less than 2 GiB (the layout with "
          "buffers after the flatbuffer is read from memory as well, but not beyond 2 GiB)");
    check(bytes.size() >= 12, "model", "file is ", bytes.size(),
          " bytes, too short for a flatbuffer (at least 12: root offset, identifier, one table)");
    const std::string_view id(reinterpret_cast<const char*>(bytes.data()) + 4, 4);
    if (id != file_identifier) {
        std::string shown;
        for (const char c : id) {
            const auto u = static_cast<unsigned char>(c);
            if (u >= 32 && u < 127) {
                shown += c;
            } else {
                shown += "\\x";
                shown += "0123456789abcdef"[u >> 4];
                shown += "0123456789abcdef"[u & 15];
            }
        }
        throw error("model", "not a TFLite model: file identifier is '" + shown + "', expected 'TFL3'");
    }
    check(reinterpret_cast<std::uintptr_t>(bytes.data()) % 8 == 0, "model",
          "internal: the model bytes must start at an 8-byte aligned address");
}

}  // namespace detail

// Verifies a whole .tflite file; returns its root table.  `bytes` must start
// at an 8-byte aligned address (read_model() copies them when they do not).
inline const fb::model_table& verify_model(std::span<const std::uint8_t> bytes) {
    detail::check_container(bytes);
    return detail::model_verifier(bytes).run();
}

}  // namespace qtl::tflite
