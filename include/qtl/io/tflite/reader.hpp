#pragma once
// read_model(): a .tflite file -> qtl::tflite::model (model.hpp).
//
// The bytes are verified first (verify.hpp: every table, vector and string
// the reader touches), then decoded into owning structures and validated:
// schema version, buffer indices and sizes, shapes, tensor types, tensor
// indices of operators / subgraphs / signatures, quantization parameters
// (scale and zero-point counts, finite positive scales, zero points in the
// type's range, quantized_dimension within the rank, block-wise details) and
// the builtin options of the ops qtl runs.  Anything wrong is a qtl::error
// whose where() names the tensor ("tensor 12 'conv/weights'") or operator
// ("operator 3 (CONV_2D)") and whose message says what was expected and what
// the file holds.  Operators qtl cannot run are decoded (code, name, version,
// tensors) and left for the executor to refuse.

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "qtl/core/error.hpp"
#include "qtl/core/shape.hpp"
#include "qtl/io/tflite/model.hpp"
#include "qtl/io/tflite/schema.hpp"
#include "qtl/io/tflite/tables.hpp"
#include "qtl/io/tflite/verify.hpp"

namespace qtl::tflite {

struct read_options {
    // Some published models (person_detect.tflite from TFLite Micro) give
    // rank-1 bias tensors per-axis quantization with quantized_dimension 3.
    // TFLite refuses them ("quantized_dimension must be in range [0, 1). Was
    // 3."), and so does qtl by default.  With this option a quantized_dimension
    // outside [0, rank) is set to 0 when the scale count fits dimension 0 (one
    // scale, or shape[0] scales), and every change is listed in model::repairs.
    bool repair_quantized_dimension = false;
};

namespace detail {

static_assert(std::endian::native == std::endian::little,
              "qtl::tflite reads little-endian flatbuffers on little-endian hosts only");

// IEEE 754 binary16 -> float (exact: every half is a float).
inline float half_to_float(std::uint16_t h) {
    const int exponent = (h >> 10) & 0x1f;
    const int mantissa = h & 0x3ff;
    float value;
    if (exponent == 0) value = std::ldexp(static_cast<float>(mantissa), -24);  // zero, subnormal
    else if (exponent == 31) value = mantissa ? std::numeric_limits<float>::quiet_NaN()
                                              : std::numeric_limits<float>::infinity();
    else value = std::ldexp(static_cast<float>(mantissa + 1024), exponent - 25);
    return (h & 0x8000) ? -value : value;
}

template <class T>
T load(const std::uint8_t* p) {
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
}

inline std::string to_string(const flatbuffers::String* s) {
    return s ? std::string(s->data(), s->size()) : std::string();
}

template <class T>
std::vector<T> to_vector(const fb::vector<T>* v) {
    std::vector<T> out;
    if (!v) return out;
    out.reserve(v->size());
    for (flatbuffers::uoffset_t i = 0; i < v->size(); ++i) out.push_back(v->Get(i));
    return out;
}

// Storage bits per element of the tensor types qtl reads; 0 for the others.
constexpr int element_bits(tensor_type t) noexcept {
    switch (t) {
        case tensor_type::FLOAT32: case tensor_type::INT32: return 32;
        case tensor_type::FLOAT16: case tensor_type::INT16: return 16;
        case tensor_type::UINT8: case tensor_type::INT8: return 8;
        case tensor_type::INT64: return 64;
        case tensor_type::INT4: return 4;
        default: return 0;
    }
}
inline constexpr std::string_view supported_types = "FLOAT32, FLOAT16, INT32, UINT8, INT64, INT16, INT8, INT4";

// The range a zero point of a tensor of type `t` must lie in.
struct zero_point_range {
    std::int64_t min, max;
};
constexpr zero_point_range zero_point_range_of(tensor_type t) noexcept {
    switch (t) {
        case tensor_type::INT8: return {-128, 127};
        case tensor_type::UINT8: return {0, 255};
        case tensor_type::INT16: return {-32768, 32767};
        case tensor_type::INT4: return {-8, 7};
        default: return {std::numeric_limits<std::int32_t>::min(), std::numeric_limits<std::int32_t>::max()};
    }
}

// The options table each op qtl runs carries (NONE: the op has none);
// nullopt for ops whose options qtl does not decode.
constexpr std::optional<builtin_options_type> expected_options(builtin_operator op) noexcept {
    using b = builtin_operator;
    using o = builtin_options_type;
    switch (op) {
        case b::FULLY_CONNECTED: return o::FullyConnectedOptions;
        case b::CONV_2D: return o::Conv2DOptions;
        case b::DEPTHWISE_CONV_2D: return o::DepthwiseConv2DOptions;
        case b::AVERAGE_POOL_2D: case b::MAX_POOL_2D: return o::Pool2DOptions;
        case b::ADD: return o::AddOptions;
        case b::SUB: return o::SubOptions;
        case b::MUL: return o::MulOptions;
        case b::CONCATENATION: return o::ConcatenationOptions;
        case b::RESHAPE: return o::ReshapeOptions;
        case b::SOFTMAX: return o::SoftmaxOptions;
        case b::LOGISTIC: case b::TANH: case b::RELU: case b::RELU6: return o::NONE;
        case b::LEAKY_RELU: return o::LeakyReluOptions;
        case b::HARD_SWISH: return o::HardSwishOptions;
        case b::PAD: return o::PadOptions;
        case b::MEAN: return o::ReducerOptions;
        case b::TRANSPOSE: return o::TransposeOptions;
        case b::STRIDED_SLICE: return o::StridedSliceOptions;
        case b::QUANTIZE: return o::QuantizeOptions;
        case b::DEQUANTIZE: return o::DequantizeOptions;
        default: return std::nullopt;
    }
}

class model_reader {
public:
    model_reader(std::span<const std::uint8_t> file, const fb::model_table& root, const read_options& options)
        : file_(file), root_(root), options_(options) {}

    model run() {
        m_.version = root_.version();
        check(m_.version == schema_version, "model", "schema version is ", m_.version, ", expected ",
              schema_version, " (TFLite reads only this version)");
        m_.description = to_string(root_.description());
        read_operator_codes();
        read_buffers();
        const auto* subgraphs = root_.subgraphs();
        check(subgraphs && subgraphs->size() > 0, "model", "the model has no subgraph");
        for (flatbuffers::uoffset_t i = 0; i < subgraphs->size(); ++i) read_subgraph(i, *subgraphs->Get(i));
        read_signature_defs();
        read_metadata();
        return std::move(m_);
    }

private:
    // ---- where ----
    static std::string subgraph_prefix(std::size_t sg) {
        return sg == 0 ? std::string() : "subgraph " + std::to_string(sg) + " ";
    }
    std::string tensor_where(std::size_t sg, std::size_t i) const {
        const auto& tensors = m_.subgraphs[sg].tensors;
        std::string w = subgraph_prefix(sg) + "tensor " + std::to_string(i);
        if (i < tensors.size()) w += " '" + tensors[i].name + "'";
        return w;
    }
    static std::string operator_where(std::size_t sg, std::size_t i, std::string_view name) {
        return subgraph_prefix(sg) + "operator " + std::to_string(i) + " (" + std::string(name) + ")";
    }

    // ---- operator codes, buffers ----
    void read_operator_codes() {
        const auto* codes = root_.operator_codes();
        if (!codes) return;
        for (flatbuffers::uoffset_t i = 0; i < codes->size(); ++i) {
            const auto& c = *codes->Get(i);
            operator_code code;
            code.deprecated_builtin_code = c.deprecated_builtin_code();
            // TFLite: the larger of the two fields (old files only set the byte,
            // new ones set both, codes >= 127 only live in builtin_code).
            code.builtin_code = static_cast<builtin_operator>(
                std::max<std::int32_t>(c.deprecated_builtin_code(), c.builtin_code()));
            code.custom_code = to_string(c.custom_code());
            code.version = c.version();
            m_.operator_codes.push_back(std::move(code));
        }
    }

    // Bytes stored after the flatbuffer (offset > 1), bounds-checked.
    std::vector<std::uint8_t> external_bytes(std::uint64_t offset, std::uint64_t size, const std::string& where) const {
        check(offset <= file_.size() && size <= file_.size() - offset, where, "data at file offset ", offset,
              " with size ", size, " lies outside the file (", file_.size(), " bytes)");
        return std::vector<std::uint8_t>(file_.begin() + static_cast<std::ptrdiff_t>(offset),
                                         file_.begin() + static_cast<std::ptrdiff_t>(offset + size));
    }

    void read_buffers() {
        const auto* buffers = root_.buffers();
        if (!buffers) return;
        m_.buffers.resize(buffers->size());
        for (flatbuffers::uoffset_t i = 0; i < buffers->size(); ++i) {
            const auto& b = *buffers->Get(i);
            if (const auto* data = b.data()) {
                m_.buffers[i].data.assign(data->begin(), data->end());
            } else if (b.offset() > 1) {
                m_.buffers[i].data = external_bytes(b.offset(), b.size(), "buffer " + std::to_string(i));
            }
        }
    }

    // ---- subgraphs ----
    void check_tensor_index(std::int32_t index, std::size_t sg, const std::string& where, const char* role,
                            bool optional_allowed) const {
        if (optional_allowed && index == -1) return;
        const auto count = m_.subgraphs[sg].tensors.size();
        check(index >= 0 && static_cast<std::size_t>(index) < count, where, role, " tensor index ", index,
              " is out of range: the subgraph has ", count, " tensors",
              optional_allowed ? " (-1 marks an absent optional input)" : "");
    }

    void read_subgraph(std::size_t sg, const fb::subgraph_table& s) {
        m_.subgraphs.emplace_back();
        m_.subgraphs.back().name = to_string(s.name());
        if (const auto* tensors = s.tensors()) {
            // Names first, so that every message can name any tensor.
            auto& out = m_.subgraphs.back().tensors;
            out.resize(tensors->size());
            for (flatbuffers::uoffset_t i = 0; i < tensors->size(); ++i)
                out[i].name = to_string(tensors->Get(i)->name());
            for (flatbuffers::uoffset_t i = 0; i < tensors->size(); ++i) read_tensor(sg, i, *tensors->Get(i));
            for (flatbuffers::uoffset_t i = 0; i < tensors->size(); ++i) resolve_blockwise(sg, i);
        }
        auto& g = m_.subgraphs.back();
        const std::string where = sg == 0 ? "main subgraph" : "subgraph " + std::to_string(sg);
        g.inputs = to_vector(s.inputs());
        g.outputs = to_vector(s.outputs());
        for (const auto i : g.inputs) check_tensor_index(i, sg, where, "input", false);
        for (const auto i : g.outputs) check_tensor_index(i, sg, where, "output", false);
        if (const auto* ops = s.operators())
            for (flatbuffers::uoffset_t i = 0; i < ops->size(); ++i) read_operator(sg, i, *ops->Get(i));
    }

    // ---- tensors ----
    void read_tensor(std::size_t sg, std::size_t index, const fb::tensor_table& t) {
        auto& out = m_.subgraphs[sg].tensors[index];
        const std::string where = tensor_where(sg, index);

        out.type = t.type();
        check(element_bits(out.type) != 0, where, "tensor type ", describe(out.type),
              " is not supported (supported: ", supported_types, ")");
        check(!t.has_sparsity(), where, "sparse tensors are not supported (the tensor has SparsityParameters)");
        check(t.external_buffer() == 0, where, "external buffers are not supported (external_buffer ",
              t.external_buffer(), ")");

        out.shape = to_vector(t.shape());
        for (std::size_t d = 0; d < out.shape.size(); ++d)
            check(out.shape[d] >= 0, where, "dimension ", d, " of shape ", qtl::to_string(out.shape),
                  " is negative (dynamic dimensions belong in shape_signature)");
        const std::size_t count = num_elements(out.shape, where);
        out.shape_signature = to_vector(t.shape_signature());
        if (!out.shape_signature.empty()) {
            check(out.shape_signature.size() == out.shape.size(), where, "shape_signature ",
                  qtl::to_string(out.shape_signature), " has rank ", out.shape_signature.size(),
                  ", expected the rank of shape ", qtl::to_string(out.shape));
            for (std::size_t d = 0; d < out.shape.size(); ++d)
                check(out.shape_signature[d] == -1 || out.shape_signature[d] == out.shape[d], where,
                      "shape_signature ", qtl::to_string(out.shape_signature), " disagrees with shape ",
                      qtl::to_string(out.shape), " in dimension ", d, " (expected -1 or ", out.shape[d], ")");
        }

        out.buffer = t.buffer();
        out.is_variable = t.is_variable();
        if (out.buffer != 0) {
            check(out.buffer < m_.buffers.size(), where, "buffer index ", out.buffer,
                  " is out of range: the model has ", m_.buffers.size(), " buffers");
            const auto& data = m_.buffers[out.buffer].data;
            if (!data.empty()) {
                const std::size_t expected = (count * static_cast<std::size_t>(element_bits(out.type)) + 7) / 8;
                check(data.size() == expected, where, "buffer ", out.buffer, " holds ", data.size(),
                      " bytes, expected ", expected, " for ", describe(out.type), " ", qtl::to_string(out.shape),
                      out.type == tensor_type::INT4 ? " (two int4 values per byte)" : "");
                check(!out.is_variable, where, "a variable tensor cannot have constant data (buffer ",
                      out.buffer, ")");
            }
        }

        if (const auto* q = t.quantization()) read_quantization(sg, index, *q, where);
    }

    void check_scales(const std::vector<float>& scales, const std::string& where, const char* what) const {
        for (std::size_t i = 0; i < scales.size(); ++i)
            check(std::isfinite(scales[i]) && scales[i] > 0.0f, where, what, "[", i, "] is ", scales[i],
                  ", expected a finite value > 0");
    }

    void check_zero_points(const std::vector<std::int64_t>& zps, tensor_type type, const std::string& where,
                           const char* what) const {
        const auto range = zero_point_range_of(type);
        for (std::size_t i = 0; i < zps.size(); ++i)
            check(zps[i] >= range.min && zps[i] <= range.max, where, what, "[", i, "] is ", zps[i],
                  ", outside the range of ", describe(type), " [", range.min, ", ", range.max, "]");
    }

    void read_quantization(std::size_t sg, std::size_t index, const fb::quantization_parameters_table& q,
                           const std::string& where) {
        auto& t = m_.subgraphs[sg].tensors[index];
        quantization out;
        out.scale = to_vector(q.scale());
        out.zero_point = to_vector(q.zero_point());
        out.min = to_vector(q.min());
        out.max = to_vector(q.max());
        out.quantized_dimension = q.quantized_dimension();

        switch (q.details_type()) {
            case quantization_details_type::NONE: break;
            case quantization_details_type::BlockwiseQuantization: {
                const auto* d = q.blockwise();
                check(d != nullptr, where, "details_type is BlockwiseQuantization but the details table is missing");
                out.blockwise = blockwise_quantization{d->scales(), d->zero_points(), d->block_size()};
                t.quantization = std::move(out);  // resolved once every tensor is read
                return;
            }
            default: {
                const auto name = name_of(q.details_type());
                throw error(where, "quantization details " +
                                       (name.empty() ? std::to_string(static_cast<int>(q.details_type()))
                                                     : std::string(name)) +
                                       " are not supported (supported: none for per-tensor/per-axis "
                                       "parameters, BlockwiseQuantization)");
            }
        }

        // Affine (per tensor / per axis).  No scales and no zero points: the
        // tensor is not quantized (min/max alone are only informative).
        if (out.scale.empty() && out.zero_point.empty()) return;
        check(out.scale.size() == out.zero_point.size(), where, "quantization has ", out.scale.size(),
              " scales and ", out.zero_point.size(), " zero points; TFLite requires the same number");
        check_scales(out.scale, where, "scale");
        check_zero_points(out.zero_point, t.type, where, "zero_point");

        const auto rank = t.shape.size();
        const auto count = out.scale.size();
        if (rank == 0) {
            check(out.quantized_dimension >= 0, where, "quantized_dimension is ", out.quantized_dimension,
                  ", expected >= 0");
            check(count == 1, where, "a scalar has ", count, " scales, expected 1");
        } else {
            const bool in_range = out.quantized_dimension >= 0 &&
                                  static_cast<std::size_t>(out.quantized_dimension) < rank;
            if (!in_range) {
                const bool repairable = count == 1 || count == static_cast<std::size_t>(t.shape[0]);
                if (options_.repair_quantized_dimension && repairable) {
                    m_.repairs.push_back(repair{static_cast<std::uint32_t>(sg), static_cast<std::uint32_t>(index),
                                                qtl::detail::concat(where, ": quantized_dimension ",
                                                               out.quantized_dimension, " -> 0 (rank ", rank, ", ",
                                                               count, count == 1 ? " scale)" : " scales)")});
                    out.quantized_dimension = 0;
                } else {
                    throw error(where, qtl::detail::concat(
                                           "quantized_dimension is ", out.quantized_dimension,
                                           ", expected 0 <= quantized_dimension < rank ", rank,
                                           " (TFLite refuses it: \"quantized_dimension must be in range [0, ", rank,
                                           "). Was ", out.quantized_dimension, ".\")",
                                           repairable ? "; read_options::repair_quantized_dimension sets it to 0"
                                                      : ""));
                }
            }
            const auto dim = t.shape[static_cast<std::size_t>(out.quantized_dimension)];
            check(count == 1 || count == static_cast<std::size_t>(dim), where, "quantization has ", count,
                  " scales, expected 1 (per tensor) or ", dim, " (per axis: dimension ", out.quantized_dimension,
                  " of shape ", qtl::to_string(t.shape), ")");
        }

        out.params.scales = out.scale;
        out.params.zero_points.assign(out.zero_point.begin(), out.zero_point.end());
        out.params.axis = count > 1 ? out.quantized_dimension : -1;
        out.params.block_size = 0;
        t.quantization = std::move(out);
    }

    // Values of a constant tensor as int64 / float (for block-wise parameters).
    std::vector<std::int64_t> integer_values(const tensor& t) const {
        const auto data = m_.data_of(t);
        const auto n = num_elements(t.shape);
        std::vector<std::int64_t> out(n);
        for (std::size_t i = 0; i < n; ++i) {
            switch (t.type) {
                case tensor_type::INT8: out[i] = load<std::int8_t>(&data[i]); break;
                case tensor_type::INT16: out[i] = load<std::int16_t>(&data[2 * i]); break;
                case tensor_type::INT32: out[i] = load<std::int32_t>(&data[4 * i]); break;
                case tensor_type::INT64: out[i] = load<std::int64_t>(&data[8 * i]); break;
                default: break;
            }
        }
        return out;
    }
    std::vector<float> float_values(const tensor& t) const {
        const auto data = m_.data_of(t);
        const auto n = num_elements(t.shape);
        std::vector<float> out(n);
        for (std::size_t i = 0; i < n; ++i)
            out[i] = t.type == tensor_type::FLOAT16 ? half_to_float(load<std::uint16_t>(&data[2 * i]))
                                                    : load<float>(&data[4 * i]);
        return out;
    }

    void resolve_blockwise(std::size_t sg, std::size_t index) {
        auto& tensors = m_.subgraphs[sg].tensors;
        auto& t = tensors[index];
        if (!t.quantization || !t.quantization->blockwise) return;
        const std::string where = tensor_where(sg, index);
        auto& q = *t.quantization;
        const auto details = *q.blockwise;

        check(t.type == tensor_type::INT8 || t.type == tensor_type::INT4, where,
              "block-wise quantization of a ", describe(t.type), " tensor is not supported (supported: INT8, INT4)");
        check(!t.shape.empty(), where, "block-wise quantization needs a tensor of rank >= 1, got a scalar");
        const auto last = t.shape.back();
        check(details.block_size > 0, where, "block_size is ", details.block_size, ", expected > 0");
        check(last % details.block_size == 0, where, "the last dimension (", last,
              ") is not a multiple of block_size ", details.block_size);
        check(t.type != tensor_type::INT4 || details.block_size % 2 == 0, where, "block_size ", details.block_size,
              " is odd; INT4 blocks must fill whole bytes (even block_size)");
        const std::size_t blocks = num_elements(t.shape) / static_cast<std::size_t>(details.block_size);

        auto referenced = [&](std::int32_t i, const char* role) -> const tensor& {
            check(i >= 0 && static_cast<std::size_t>(i) < tensors.size() && static_cast<std::size_t>(i) != index,
                  where, "block-wise ", role, " tensor index ", i, " is out of range (the subgraph has ",
                  tensors.size(), " tensors; the tensor cannot be its own ", role, ")");
            const auto& r = tensors[static_cast<std::size_t>(i)];
            check(!m_.data_of(r).empty(), where, "block-wise ", role, " tensor ", i, " '", r.name,
                  "' has no constant data");
            check(num_elements(r.shape) == blocks, where, "block-wise ", role, " tensor ", i, " '", r.name,
                  "' has ", num_elements(r.shape), " elements, expected ", blocks, " (", num_elements(t.shape),
                  " elements / block_size ", details.block_size, ")");
            return r;
        };

        const auto& scales_tensor = referenced(details.scales, "scales");
        check(scales_tensor.type == tensor_type::FLOAT16 || scales_tensor.type == tensor_type::FLOAT32, where,
              "block-wise scales tensor ", details.scales, " has type ", describe(scales_tensor.type),
              ", expected FLOAT16 or FLOAT32");
        q.params.scales = float_values(scales_tensor);
        check_scales(q.params.scales, where, "block-wise scale");

        std::vector<std::int64_t> zero_points(blocks, 0);
        if (details.zero_points != -1) {
            const auto& zp_tensor = referenced(details.zero_points, "zero points");
            const auto zt = zp_tensor.type;
            check(zt == tensor_type::INT8 || zt == tensor_type::INT16 || zt == tensor_type::INT32 ||
                      zt == tensor_type::INT64,
                  where, "block-wise zero points tensor ", details.zero_points, " has type ", describe(zt),
                  ", expected INT8, INT16, INT32 or INT64");
            zero_points = integer_values(zp_tensor);
            check_zero_points(zero_points, t.type, where, "block-wise zero point");
        }
        q.params.zero_points.assign(zero_points.begin(), zero_points.end());
        q.params.axis = static_cast<int>(t.shape.size()) - 1;
        q.params.block_size = details.block_size;
    }

    // ---- operators ----
    template <class Enum>
    Enum checked_enum(std::int8_t raw, int max, const std::string& where, const char* field, const char* expected) const {
        check(raw >= 0 && raw <= max, where, field, " is ", int(raw), ", expected ", expected);
        return static_cast<Enum>(raw);
    }
    activation_function_type activation(std::int8_t raw, const std::string& where) const {
        return checked_enum<activation_function_type>(
            raw, 5, where, "fused_activation_function",
            "NONE (0), RELU (1), RELU_N1_TO_1 (2), RELU6 (3), TANH (4) or SIGN_BIT (5)");
    }
    tflite::padding padding_of(std::int8_t raw, const std::string& where) const {
        return checked_enum<tflite::padding>(raw, 1, where, "padding", "SAME (0) or VALID (1)");
    }
    tensor_type bias_type(std::int8_t raw, const std::string& where) const {
        const auto t = static_cast<tensor_type>(raw);
        check(!name_of(t).empty(), where, "quantized_bias_type is ", int(raw), ", not a TensorType of the schema");
        return t;
    }

    builtin_options decode_options(builtin_operator code, const fb::operator_table& o, const std::string& where) const {
        const auto expected = expected_options(code);
        if (!expected) return std::monostate{};
        const auto actual = o.options_type();
        if (*expected == builtin_options_type::NONE) {
            check(actual == builtin_options_type::NONE, where, "has builtin options ", describe(actual),
                  ", expected none");
            return std::monostate{};
        }
        check(actual == *expected || actual == builtin_options_type::NONE, where, "builtin options are ",
              describe(actual), ", expected ", describe(*expected));
        // Absent options: the schema defaults (as TFLite does).
        const fb::table* t = actual == builtin_options_type::NONE ? nullptr : o.options();
        auto i32 = [&](int id, std::int32_t def) { return t ? t->scalar<std::int32_t>(id, def) : def; };
        auto i8 = [&](int id, std::int8_t def) { return t ? t->scalar<std::int8_t>(id, def) : def; };
        auto flag = [&](int id, bool def) { return t ? t->scalar<std::uint8_t>(id, def ? 1 : 0) != 0 : def; };
        auto f32 = [&](int id, float def) { return t ? t->scalar<float>(id, def) : def; };

        using b = builtin_operator;
        switch (code) {
            case b::CONV_2D: {
                namespace f = field::conv_2d_options;
                conv_2d_options r;
                r.padding = padding_of(i8(f::padding, 0), where);
                r.stride_w = i32(f::stride_w, 0);
                r.stride_h = i32(f::stride_h, 0);
                r.fused_activation_function = activation(i8(f::fused_activation_function, 0), where);
                r.dilation_w_factor = i32(f::dilation_w_factor, 1);
                r.dilation_h_factor = i32(f::dilation_h_factor, 1);
                r.quantized_bias_type = bias_type(i8(f::quantized_bias_type, 0), where);
                return r;
            }
            case b::DEPTHWISE_CONV_2D: {
                namespace f = field::depthwise_conv_2d_options;
                depthwise_conv_2d_options r;
                r.padding = padding_of(i8(f::padding, 0), where);
                r.stride_w = i32(f::stride_w, 0);
                r.stride_h = i32(f::stride_h, 0);
                r.depth_multiplier = i32(f::depth_multiplier, 0);
                r.fused_activation_function = activation(i8(f::fused_activation_function, 0), where);
                r.dilation_w_factor = i32(f::dilation_w_factor, 1);
                r.dilation_h_factor = i32(f::dilation_h_factor, 1);
                return r;
            }
            case b::AVERAGE_POOL_2D:
            case b::MAX_POOL_2D: {
                namespace f = field::pool_2d_options;
                pool_2d_options r;
                r.padding = padding_of(i8(f::padding, 0), where);
                r.stride_w = i32(f::stride_w, 0);
                r.stride_h = i32(f::stride_h, 0);
                r.filter_width = i32(f::filter_width, 0);
                r.filter_height = i32(f::filter_height, 0);
                r.fused_activation_function = activation(i8(f::fused_activation_function, 0), where);
                return r;
            }
            case b::FULLY_CONNECTED: {
                namespace f = field::fully_connected_options;
                fully_connected_options r;
                r.fused_activation_function = activation(i8(f::fused_activation_function, 0), where);
                r.weights_format = checked_enum<fully_connected_options_weights_format>(
                    i8(f::weights_format, 0), 1, where, "weights_format", "DEFAULT (0) or SHUFFLED4x16INT8 (1)");
                r.keep_num_dims = flag(f::keep_num_dims, false);
                r.asymmetric_quantize_inputs = flag(f::asymmetric_quantize_inputs, false);
                r.quantized_bias_type = bias_type(i8(f::quantized_bias_type, 0), where);
                return r;
            }
            case b::SOFTMAX: return softmax_options{f32(field::softmax_options::beta, 0.0f)};
            case b::CONCATENATION:
                return concatenation_options{
                    i32(field::concatenation_options::axis, 0),
                    activation(i8(field::concatenation_options::fused_activation_function, 0), where)};
            case b::ADD:
                return add_options{activation(i8(field::add_options::fused_activation_function, 0), where),
                                   flag(field::add_options::pot_scale_int16, true)};
            case b::SUB:
                return sub_options{activation(i8(field::sub_options::fused_activation_function, 0), where),
                                   flag(field::sub_options::pot_scale_int16, true)};
            case b::MUL: return mul_options{activation(i8(field::mul_options::fused_activation_function, 0), where)};
            case b::RESHAPE: {
                reshape_options r;
                if (t && t->has(field::reshape_options::new_shape))
                    r.new_shape = to_vector(t->vec<std::int32_t>(field::reshape_options::new_shape));
                return r;
            }
            case b::MEAN: return reducer_options{flag(field::reducer_options::keep_dims, false)};
            case b::STRIDED_SLICE: {
                namespace f = field::strided_slice_options;
                return strided_slice_options{i32(f::begin_mask, 0),       i32(f::end_mask, 0),
                                             i32(f::ellipsis_mask, 0),    i32(f::new_axis_mask, 0),
                                             i32(f::shrink_axis_mask, 0), flag(f::offset, false)};
            }
            case b::LEAKY_RELU: return leaky_relu_options{f32(field::leaky_relu_options::alpha, 0.0f)};
            case b::PAD: return pad_options{};
            case b::TRANSPOSE: return transpose_options{};
            case b::QUANTIZE: return quantize_options{};
            case b::DEQUANTIZE: return dequantize_options{};
            case b::HARD_SWISH: return hard_swish_options{};
            default: return std::monostate{};
        }
    }

    void read_operator(std::size_t sg, std::size_t index, const fb::operator_table& o) {
        op out;
        out.opcode_index = o.opcode_index();
        check(out.opcode_index < m_.operator_codes.size(), operator_where(sg, index, "?"), "opcode_index ",
              out.opcode_index, " is out of range: the model has ", m_.operator_codes.size(), " operator codes");
        const auto& code = m_.operator_codes[out.opcode_index];
        out.builtin_code = code.builtin_code;
        out.version = code.version;
        const std::string name = code.builtin_code == builtin_operator::CUSTOM
                                     ? "CUSTOM '" + code.custom_code + "'"
                                     : describe(code.builtin_code);
        const std::string where = operator_where(sg, index, name);

        out.inputs = to_vector(o.inputs());
        out.outputs = to_vector(o.outputs());
        out.intermediates = to_vector(o.intermediates());
        for (const auto i : out.inputs) check_tensor_index(i, sg, where, "input", true);
        for (const auto i : out.outputs) check_tensor_index(i, sg, where, "output", false);
        for (const auto i : out.intermediates) check_tensor_index(i, sg, where, "intermediate", false);

        out.options_type = o.options_type();
        out.options = decode_options(code.builtin_code, o, where);
        if (const auto* custom = o.custom_options()) {
            out.custom_options.assign(custom->begin(), custom->end());
        } else if (o.large_custom_options_offset() > 1) {
            out.custom_options = external_bytes(o.large_custom_options_offset(), o.large_custom_options_size(),
                                                where + " custom options");
        }
        m_.subgraphs[sg].operators.push_back(std::move(out));
    }

    // ---- signature defs, metadata ----
    void read_signature_defs() {
        const auto* defs = root_.signature_defs();
        if (!defs) return;
        for (flatbuffers::uoffset_t i = 0; i < defs->size(); ++i) {
            const auto& d = *defs->Get(i);
            const std::string where = "signature def " + std::to_string(i);
            check(d.signature_key() != nullptr, where, "signature_key is missing (TFLite requires it)");
            signature_def out;
            out.signature_key = to_string(d.signature_key());
            out.subgraph_index = d.subgraph_index();
            check(out.subgraph_index < m_.subgraphs.size(), where + " '" + out.signature_key + "'", "subgraph_index ",
                  out.subgraph_index, " is out of range: the model has ", m_.subgraphs.size(), " subgraphs");
            const auto count = m_.subgraphs[out.subgraph_index].tensors.size();
            auto maps = [&](const fb::table_vector<fb::tensor_map_table>* v, const char* role) {
                std::vector<tensor_map> r;
                if (!v) return r;
                for (flatbuffers::uoffset_t k = 0; k < v->size(); ++k) {
                    tensor_map m{to_string(v->Get(k)->name()), v->Get(k)->tensor_index()};
                    check(m.tensor_index < count, where + " '" + out.signature_key + "' " + role + " '" + m.name + "'",
                          "tensor_index ", m.tensor_index, " is out of range: subgraph ", out.subgraph_index,
                          " has ", count, " tensors");
                    r.push_back(std::move(m));
                }
                return r;
            };
            out.inputs = maps(d.inputs(), "input");
            out.outputs = maps(d.outputs(), "output");
            m_.signature_defs.push_back(std::move(out));
        }
    }

    void read_metadata() {
        const auto* entries = root_.metadata();
        if (!entries) return;
        for (flatbuffers::uoffset_t i = 0; i < entries->size(); ++i) {
            metadata out{to_string(entries->Get(i)->name()), entries->Get(i)->buffer()};
            check(out.buffer < m_.buffers.size(), "metadata " + std::to_string(i) + " '" + out.name + "'",
                  "buffer index ", out.buffer, " is out of range: the model has ", m_.buffers.size(), " buffers");
            m_.metadata.push_back(std::move(out));
        }
    }

    std::span<const std::uint8_t> file_;
    const fb::model_table& root_;
    read_options options_;
    model m_;
};

}  // namespace detail

// Reads a .tflite file held in memory.  The bytes may live anywhere (they are
// copied to aligned storage when they do not start at an 8-byte boundary);
// the returned model owns everything it holds.
inline model read_model(std::span<const std::uint8_t> bytes, const read_options& options = {}) {
    std::vector<std::uint8_t> aligned;
    if (reinterpret_cast<std::uintptr_t>(bytes.data()) % 8 != 0) {
        aligned.assign(bytes.begin(), bytes.end());  // operator new aligns to >= 16
        bytes = aligned;
    }
    const auto& root = verify_model(bytes);
    return detail::model_reader(bytes, root, options).run();
}

// Reads a .tflite file; error locations start with the path.
inline model read_model(const std::filesystem::path& path, const read_options& options = {}) {
    std::ifstream in(path, std::ios::binary);
    check(in.good(), path.string(), "cannot open the file");
    std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    check(!in.bad(), path.string(), "read error");
    try {
        return read_model(std::span<const std::uint8_t>(bytes), options);
    } catch (const error& e) {
        throw error(e.where().empty() ? path.string() : path.string() + ": " + e.where(), e.message());
    }
}

}  // namespace qtl::tflite
