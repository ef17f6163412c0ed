#pragma once
// Typed, zero-copy views of the TFLite flatbuffer tables qtl reads, written
// by hand on top of flatbuffers' runtime (flatbuffers::Table does the vtable
// lookup).  A view is only ever obtained by casting a pointer into a buffer
// that qtl::tflite::verify_model() accepted (see verify.hpp): reading a view
// of unverified bytes may read out of bounds.
//
// Field ids come from schema.hpp; absent fields give the schema's default.

#include <cstdint>

#include <flatbuffers/flatbuffers.h>

#include "qtl/io/tflite/schema.hpp"

namespace qtl::tflite::fb {

template <class T>
using vector = flatbuffers::Vector<T>;
template <class Table>
using table_vector = flatbuffers::Vector<flatbuffers::Offset<Table>>;

inline flatbuffers::voffset_t slot(int field_id) noexcept {
    return flatbuffers::FieldIndexToOffset(static_cast<flatbuffers::voffset_t>(field_id));
}

// Common accessors; every view below derives from it.  Never constructed:
// views are reinterpret_cast from verified bytes, as flatbuffers' own
// generated code does.
struct table : private flatbuffers::Table {
    table() = delete;

    const flatbuffers::Table& raw() const { return *this; }
    bool has(int field_id) const { return CheckField(slot(field_id)); }

    template <class T>
    T scalar(int field_id, T default_value) const {
        return GetField<T>(slot(field_id), default_value);
    }
    template <class T>
    const vector<T>* vec(int field_id) const {
        return GetPointer<const vector<T>*>(slot(field_id));
    }
    const flatbuffers::String* str(int field_id) const {
        return GetPointer<const flatbuffers::String*>(slot(field_id));
    }
    template <class Table>
    const Table* sub(int field_id) const {
        return GetPointer<const Table*>(slot(field_id));
    }
    template <class Table>
    const table_vector<Table>* subs(int field_id) const {
        return GetPointer<const table_vector<Table>*>(slot(field_id));
    }
};

struct blockwise_quantization_table : table {
    std::int32_t scales() const { return scalar<std::int32_t>(field::blockwise_quantization::scales, 0); }
    std::int32_t zero_points() const {
        return scalar<std::int32_t>(field::blockwise_quantization::zero_points, 0);
    }
    std::int32_t block_size() const {
        return scalar<std::int32_t>(field::blockwise_quantization::block_size, 0);
    }
};

struct quantization_parameters_table : table {
    const vector<float>* min() const { return vec<float>(field::quantization_parameters::min); }
    const vector<float>* max() const { return vec<float>(field::quantization_parameters::max); }
    const vector<float>* scale() const { return vec<float>(field::quantization_parameters::scale); }
    const vector<std::int64_t>* zero_point() const {
        return vec<std::int64_t>(field::quantization_parameters::zero_point);
    }
    quantization_details_type details_type() const {
        return static_cast<quantization_details_type>(
            scalar<std::uint8_t>(field::quantization_parameters::details_type, 0));
    }
    // Only meaningful when details_type() is BlockwiseQuantization.
    const blockwise_quantization_table* blockwise() const {
        return sub<blockwise_quantization_table>(field::quantization_parameters::details);
    }
    std::int32_t quantized_dimension() const {
        return scalar<std::int32_t>(field::quantization_parameters::quantized_dimension, 0);
    }
};

struct tensor_table : table {
    const vector<std::int32_t>* shape() const { return vec<std::int32_t>(field::tensor::shape); }
    tensor_type type() const {
        return static_cast<tensor_type>(scalar<std::int8_t>(field::tensor::type, 0));
    }
    std::uint32_t buffer() const { return scalar<std::uint32_t>(field::tensor::buffer, 0); }
    const flatbuffers::String* name() const { return str(field::tensor::name); }
    const quantization_parameters_table* quantization() const {
        return sub<quantization_parameters_table>(field::tensor::quantization);
    }
    bool is_variable() const { return scalar<std::uint8_t>(field::tensor::is_variable, 0) != 0; }
    bool has_sparsity() const { return has(field::tensor::sparsity); }
    const vector<std::int32_t>* shape_signature() const {
        return vec<std::int32_t>(field::tensor::shape_signature);
    }
    bool has_rank() const { return scalar<std::uint8_t>(field::tensor::has_rank, 0) != 0; }
    std::uint32_t external_buffer() const { return scalar<std::uint32_t>(field::tensor::external_buffer, 0); }
};

struct operator_code_table : table {
    std::int8_t deprecated_builtin_code() const {
        return scalar<std::int8_t>(field::operator_code::deprecated_builtin_code, 0);
    }
    const flatbuffers::String* custom_code() const { return str(field::operator_code::custom_code); }
    std::int32_t version() const {
        return scalar<std::int32_t>(field::operator_code::version, field::operator_code::default_version);
    }
    std::int32_t builtin_code() const { return scalar<std::int32_t>(field::operator_code::builtin_code, 0); }
};

struct operator_table : table {
    std::uint32_t opcode_index() const { return scalar<std::uint32_t>(field::operator_::opcode_index, 0); }
    const vector<std::int32_t>* inputs() const { return vec<std::int32_t>(field::operator_::inputs); }
    const vector<std::int32_t>* outputs() const { return vec<std::int32_t>(field::operator_::outputs); }
    builtin_options_type options_type() const {
        return static_cast<builtin_options_type>(
            scalar<std::uint8_t>(field::operator_::builtin_options_type, 0));
    }
    // The options table; its layout depends on options_type().
    const table* options() const { return sub<table>(field::operator_::builtin_options); }
    const vector<std::uint8_t>* custom_options() const {
        return vec<std::uint8_t>(field::operator_::custom_options);
    }
    const vector<std::int32_t>* intermediates() const {
        return vec<std::int32_t>(field::operator_::intermediates);
    }
    std::uint64_t large_custom_options_offset() const {
        return scalar<std::uint64_t>(field::operator_::large_custom_options_offset, 0);
    }
    std::uint64_t large_custom_options_size() const {
        return scalar<std::uint64_t>(field::operator_::large_custom_options_size, 0);
    }
};

struct subgraph_table : table {
    const table_vector<tensor_table>* tensors() const { return subs<tensor_table>(field::subgraph::tensors); }
    const vector<std::int32_t>* inputs() const { return vec<std::int32_t>(field::subgraph::inputs); }
    const vector<std::int32_t>* outputs() const { return vec<std::int32_t>(field::subgraph::outputs); }
    const table_vector<operator_table>* operators() const {
        return subs<operator_table>(field::subgraph::operators);
    }
    const flatbuffers::String* name() const { return str(field::subgraph::name); }
};

struct buffer_table : table {
    const vector<std::uint8_t>* data() const { return vec<std::uint8_t>(field::buffer::data); }
    // Data stored after the flatbuffer (models over 2 GB): file offset and size.
    std::uint64_t offset() const { return scalar<std::uint64_t>(field::buffer::offset, 0); }
    std::uint64_t size() const { return scalar<std::uint64_t>(field::buffer::size, 0); }
};

struct metadata_table : table {
    const flatbuffers::String* name() const { return str(field::metadata::name); }
    std::uint32_t buffer() const { return scalar<std::uint32_t>(field::metadata::buffer, 0); }
};

struct tensor_map_table : table {
    const flatbuffers::String* name() const { return str(field::tensor_map::name); }
    std::uint32_t tensor_index() const { return scalar<std::uint32_t>(field::tensor_map::tensor_index, 0); }
};

struct signature_def_table : table {
    const table_vector<tensor_map_table>* inputs() const {
        return subs<tensor_map_table>(field::signature_def::inputs);
    }
    const table_vector<tensor_map_table>* outputs() const {
        return subs<tensor_map_table>(field::signature_def::outputs);
    }
    const flatbuffers::String* signature_key() const { return str(field::signature_def::signature_key); }
    std::uint32_t subgraph_index() const {
        return scalar<std::uint32_t>(field::signature_def::subgraph_index, 0);
    }
};

struct model_table : table {
    std::uint32_t version() const { return scalar<std::uint32_t>(field::model::version, 0); }
    const table_vector<operator_code_table>* operator_codes() const {
        return subs<operator_code_table>(field::model::operator_codes);
    }
    const table_vector<subgraph_table>* subgraphs() const {
        return subs<subgraph_table>(field::model::subgraphs);
    }
    const flatbuffers::String* description() const { return str(field::model::description); }
    const table_vector<buffer_table>* buffers() const { return subs<buffer_table>(field::model::buffers); }
    const table_vector<metadata_table>* metadata() const {
        return subs<metadata_table>(field::model::metadata);
    }
    const table_vector<signature_def_table>* signature_defs() const {
        return subs<signature_def_table>(field::model::signature_defs);
    }
};

}  // namespace qtl::tflite::fb
