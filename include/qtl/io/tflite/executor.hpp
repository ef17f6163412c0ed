#pragma once
// qtl::tflite::executor: runs an imported integer .tflite model with qtl's
// ops.  Every operator is prepared once (multipliers, packed weights, output
// shapes) when the executor is built; invoke() then only evaluates.
//
//   auto model = qtl::tflite::read_model("model.tflite");
//   qtl::tflite::executor run(std::move(model));
//   run.set_input<std::int8_t>(0, pixels);
//   run.invoke();
//   std::span<const std::int8_t> scores = run.output<std::int8_t>(0);
//
// kernel_path::reference runs the scalar reference ops (TFLite's reference
// kernel arithmetic) instead of the SIMD ones; both give the same bytes.
//
// Float and dynamic-range ("hybrid") models run too: an operator whose data
// input is FLOAT32 runs TFLite's float semantics with the kernels of
// kernels/float/ (the same for both kernel paths), except FULLY_CONNECTED,
// CONV_2D and DEPTHWISE_CONV_2D with INT8 weights, which run the hybrid ops
// (ops/hybrid_*.hpp: input quantized on the fly, int8 dot products, float
// output; their reference versions on kernel_path::reference), and
// FULLY_CONNECTED with block-wise INT4 weights (FLOAT16 scales), which runs
// TFLite's block-wise hybrid kernel (ops/fully_connected.hpp).
// An operator or type qtl does not run is a qtl::error naming the operator,
// its index and what is supported.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "qtl/core/arena_plan.hpp"
#include "qtl/core/element_types.hpp"
#include "qtl/core/extern_executors.hpp"
#include "qtl/core/error.hpp"
#include "qtl/core/int4_packing.hpp"
#include "qtl/core/tensor_view.hpp"
#include "qtl/io/tflite/model.hpp"
#include "qtl/kernels/float/conv_f32.hpp"
#include "qtl/kernels/float/depthwise_f32.hpp"
#include "qtl/kernels/float/elementwise_f32.hpp"
#include "qtl/kernels/float/gemm_f32.hpp"
#include "qtl/kernels/float/layout_f32.hpp"
#include "qtl/kernels/float/pool_f32.hpp"
#include "qtl/ops/broadcast.hpp"
#include "qtl/ops/fused_activation.hpp"
#include "qtl/ops/hybrid_conv_2d.hpp"
#include "qtl/ops/hybrid_depthwise_conv_2d.hpp"
#include "qtl/ops/hybrid_fully_connected.hpp"
#include "qtl/ops/reference/add.hpp"
#include "qtl/ops/reference/average_pool_2d.hpp"
#include "qtl/ops/reference/concatenation.hpp"
#include "qtl/ops/reference/conv_2d.hpp"
#include "qtl/ops/reference/depthwise_conv_2d.hpp"
#include "qtl/ops/reference/dequantize.hpp"
#include "qtl/ops/reference/fully_connected.hpp"
#include "qtl/ops/reference/hybrid_conv_2d.hpp"
#include "qtl/ops/reference/hybrid_depthwise_conv_2d.hpp"
#include "qtl/ops/reference/hybrid_fully_connected.hpp"
#include "qtl/ops/reference/hard_swish.hpp"
#include "qtl/ops/reference/leaky_relu.hpp"
#include "qtl/ops/reference/logistic.hpp"
#include "qtl/ops/reference/max_pool_2d.hpp"
#include "qtl/ops/reference/mean.hpp"
#include "qtl/ops/reference/mul.hpp"
#include "qtl/ops/reference/pad.hpp"
#include "qtl/ops/reference/quantize.hpp"
#include "qtl/ops/reference/relu.hpp"
#include "qtl/ops/reference/relu6.hpp"
#include "qtl/ops/reference/reshape.hpp"
#include "qtl/ops/reference/softmax.hpp"
#include "qtl/ops/reference/strided_slice.hpp"
#include "qtl/ops/reference/sub.hpp"
#include "qtl/ops/reference/tanh.hpp"
#include "qtl/ops/reference/transpose.hpp"

namespace qtl::tflite {

enum class kernel_path { simd, reference };

struct executor_options {
    kernel_path path = kernel_path::simd;
    // false (TFLite's default): activations share one arena planned from
    // their lifetimes, so an intermediate tensor's bytes are reused once its
    // last reader has run, and reading it afterwards is an error; and on the
    // SIMD path a PAD whose only reader is a CONV_2D or DEPTHWISE_CONV_2D is
    // folded into it (see folded_pad), so the padded tensor is never made.
    // true: every tensor keeps its own bytes and every operator runs as
    // written (per-layer debugging after invoke()).
    bool preserve_all_tensors = false;
};

// The builtin operators the executor runs.
inline constexpr builtin_operator executor_supported_ops[] = {
    builtin_operator::FULLY_CONNECTED, builtin_operator::CONV_2D,       builtin_operator::DEPTHWISE_CONV_2D,
    builtin_operator::AVERAGE_POOL_2D, builtin_operator::MAX_POOL_2D,   builtin_operator::ADD,
    builtin_operator::SUB,             builtin_operator::MUL,           builtin_operator::CONCATENATION,
    builtin_operator::RESHAPE,         builtin_operator::SOFTMAX,       builtin_operator::LOGISTIC,
    builtin_operator::TANH,            builtin_operator::RELU,          builtin_operator::RELU6,
    builtin_operator::LEAKY_RELU,      builtin_operator::HARD_SWISH,    builtin_operator::PAD,
    builtin_operator::PADV2,           builtin_operator::MEAN,          builtin_operator::TRANSPOSE,
    builtin_operator::STRIDED_SLICE,   builtin_operator::QUANTIZE,      builtin_operator::DEQUANTIZE,
};

namespace detail {

inline std::size_t tensor_bytes(const tensor& t) {
    const std::size_t n = num_elements(t.shape, "tensor '" + t.name + "'");
    switch (t.type) {
        case tensor_type::FLOAT32: case tensor_type::INT32: return 4 * n;
        case tensor_type::INT64: return 8 * n;
        case tensor_type::INT16: return 2 * n;
        case tensor_type::INT8: case tensor_type::UINT8: case tensor_type::BOOL: return n;
        case tensor_type::INT4: return packed_int4_bytes(n);
        default: throw error("tensor '" + t.name + "'", "type " + describe(t.type) + " is not supported by qtl's executor");
    }
}

template <class T>
constexpr tensor_type tensor_type_of() {
    if constexpr (std::is_same_v<T, float>) return tensor_type::FLOAT32;
    else if constexpr (std::is_same_v<T, std::int32_t>) return tensor_type::INT32;
    else if constexpr (std::is_same_v<T, std::int64_t>) return tensor_type::INT64;
    else if constexpr (std::is_same_v<T, std::int16_t>) return tensor_type::INT16;
    else if constexpr (std::is_same_v<T, std::int8_t>) return tensor_type::INT8;
    else if constexpr (std::is_same_v<T, std::uint8_t>) return tensor_type::UINT8;
    else static_assert(sizeof(T) == 0, "no TFLite tensor type for this C++ type");
}

inline qtl::fused_activation fused(activation_function_type a, const std::string& where) {
    switch (a) {
        case activation_function_type::NONE: return qtl::fused_activation::none;
        case activation_function_type::RELU: return qtl::fused_activation::relu;
        case activation_function_type::RELU_N1_TO_1: return qtl::fused_activation::relu_n1_to_1;
        case activation_function_type::RELU6: return qtl::fused_activation::relu6;
        default: throw error(where, "fused activation " + std::string(name_of(a)) + " is not supported on integer ops");
    }
}

inline ops::padding padding_of(tflite::padding p) { return p == tflite::padding::SAME ? ops::padding::same : ops::padding::valid; }

}  // namespace detail

class executor {
public:
    explicit executor(model m, kernel_path path = kernel_path::simd)
        : executor(std::move(m), executor_options{path, false}) {}
    executor(model m, executor_options options) : model_(std::move(m)), path_(options.path) {
        find_operator_tensors(options.path == kernel_path::simd && !options.preserve_all_tensors);
        plan_activations(options.preserve_all_tensors);
        const subgraph& g = model_.main();
        for (std::size_t i = 0; i < g.operators.size(); ++i) steps_.push_back(prepare_op(i));
    }

    // The steps point into this object's arena: moving keeps it, copying would not.
    executor(const executor&) = delete;
    executor& operator=(const executor&) = delete;
    executor(executor&&) = default;
    executor& operator=(executor&&) = default;

    // Bytes of the activation arena (every non-constant tensor lives in it).
    std::size_t arena_bytes() const noexcept { return arena_size_; }

    const tflite::model& imported_model() const noexcept { return model_; }
    std::size_t input_count() const { return model_.main().inputs.size(); }
    std::size_t output_count() const { return model_.main().outputs.size(); }
    const tensor& input_tensor(std::size_t i) const { return tensor_at(io_index(model_.main().inputs, i, "input")); }
    const tensor& output_tensor(std::size_t i) const { return tensor_at(io_index(model_.main().outputs, i, "output")); }

    // Copies one input; T must be the tensor's type and values its size.
    template <class T>
    void set_input(std::size_t i, std::span<const T> values) {
        const std::int32_t index = io_index(model_.main().inputs, i, "input");
        auto dst = typed<T>(index, "input");
        if (values.size() != dst.size())  // (not check(): to_string would run on every call)
            throw error("executor", qtl::detail::concat(label(index), ": expected ", dst.size(), " values (shape ",
                                                        to_string(tensor_at(index).shape), "), got ", values.size()));
        std::copy(values.begin(), values.end(), dst.begin());
        written(index);
    }

    // Raw forms for tools that move tensors as bytes (e.g. from .npy files).
    void set_input_bytes(std::size_t i, std::span<const std::byte> bytes) {
        const std::int32_t index = io_index(model_.main().inputs, i, "input");
        auto dst = bytes_of(index);
        check(!is_constant(index), "executor", label(index), " is constant");
        if (bytes.size() != dst.size())
            throw error("executor", qtl::detail::concat(label(index), " (", describe(tensor_at(index).type), " ",
                                                        to_string(tensor_at(index).shape), ") takes ", dst.size(),
                                                        " bytes, got ", bytes.size()));
        std::copy(bytes.begin(), bytes.end(), dst.begin());
        written(index);
    }
    std::span<const std::byte> output_bytes(std::size_t i) const {
        return readable(io_index(model_.main().outputs, i, "output"), "output_bytes");
    }

    void invoke() {
        for (std::size_t i = 0; i < steps_.size(); ++i) {
            steps_[i]();
            for (std::int32_t y : writes_[i]) written(y);
        }
    }

    // The PADs folded into the operator after them: operator `pad` runs as
    // nothing, and operator `into` reads the PAD's input with the PAD's
    // padding in front of its window (ops::input_padding), which gives the
    // same bytes (both pad with the input zero point).  The PAD's output is
    // never made: reading or setting it is an error.
    struct folded_pad {
        std::size_t pad = 0, into = 0;
        std::int32_t input = -1, output = -1;  // tensors
        ops::input_padding padding;
    };
    const std::vector<folded_pad>& folded_pads() const noexcept { return folds_; }

    // Layer-by-layer access (debugging, per-layer comparisons): run only
    // operator i, and overwrite any activation tensor.
    std::size_t operator_count() const noexcept { return steps_.size(); }
    // Its inputs must hold their values: an intermediate whose bytes a later
    // operator reused must be set again (set_tensor_bytes) first.
    void invoke_operator(std::size_t i) {
        check(i < steps_.size(), "executor", "operator ", i, " out of range [0, ", steps_.size(), ")");
        const op& o = model_.main().operators[i];
        for (std::int32_t x : reads_[i])
            if (x >= 0 && !is_constant(x))
                check(valid_[static_cast<std::size_t>(x)], "executor", "operator ", i, " (", describe(o.builtin_code),
                      ") reads ", describe_tensor(x), ", whose bytes were reused by a later tensor (activations "
                      "share an arena): set it with set_tensor_bytes first, or build the executor with "
                      "preserve_all_tensors");
        steps_[i]();
        for (std::int32_t y : writes_[i]) written(y);
    }
    void set_tensor_bytes(std::int32_t index, std::span<const std::byte> bytes) {
        check(!is_constant(index), "executor", label(index), " is constant");
        check_not_folded(index, "set_tensor_bytes");
        auto dst = bytes_of(index);
        check(bytes.size() == dst.size(), "executor", label(index), " takes ", dst.size(), " bytes, got ",
              bytes.size());
        std::copy(bytes.begin(), bytes.end(), dst.begin());
        written(index);
    }
    std::span<const std::byte> tensor_bytes(std::int32_t index) const {
        return readable(index, "tensor_bytes");
    }

    template <class T>
    std::span<const T> output(std::size_t i) const {
        const std::int32_t index = io_index(model_.main().outputs, i, "output");
        readable(index, "output");
        return const_cast<executor*>(this)->typed<T>(index, "output");
    }
    // Any tensor's current values (activations after invoke(), or constants).
    template <class T>
    std::span<const T> tensor_data(std::int32_t index) const {
        readable(index, "tensor_data");
        return const_cast<executor*>(this)->typed<T>(index, "tensor_data");
    }

private:
    using step = std::function<void()>;

    const tensor& tensor_at(std::int32_t index) const {
        const auto& tensors = model_.main().tensors;
        check(index >= 0 && static_cast<std::size_t>(index) < tensors.size(), "executor", "tensor index ", index,
              " out of range [0, ", tensors.size(), ")");
        return tensors[static_cast<std::size_t>(index)];
    }
    std::string describe_tensor(std::int32_t index) const {
        return qtl::detail::concat("tensor ", index, " '", tensor_at(index).name, "'");
    }
    // describe_tensor(index), written only when a check fails: the checks on
    // every set_input / output call then build no string when they pass.
    struct tensor_label {
        const executor* self;
        std::int32_t index;
        std::ostream& write(std::ostream& out) const { return out << self->describe_tensor(index); }
        friend std::ostream& operator<<(std::ostream& out, const tensor_label& l) { return l.write(out); }
    };
    tensor_label label(std::int32_t index) const { return {this, index}; }
    static std::int32_t io_index(const std::vector<std::int32_t>& list, std::size_t i, const char* what) {
        check(i < list.size(), "executor", "the model has ", list.size(), " ", what, "s, asked for ", what, " ", i);
        return list[i];
    }

    // The bytes of tensor `index`: a constant in the model or an activation.
    std::span<std::byte> bytes_of(std::int32_t index) {
        const tensor& t = tensor_at(index);
        const auto constant = model_.data_of(t);
        if (!constant.empty()) {
            // Constants are never written: ops take them as const views.
            return {reinterpret_cast<std::byte*>(const_cast<std::uint8_t*>(constant.data())), constant.size()};
        }
        return activation_[static_cast<std::size_t>(index)];
    }

    // The tensors each operator reads and writes as it runs: its own, except
    // where a PAD is folded (fold: a PAD of constant, non-negative spatial
    // paddings, equal input and output quantization, whose output only the
    // data input of one later CONV_2D / DEPTHWISE_CONV_2D reads).
    void find_operator_tensors(bool fold) {
        const subgraph& g = model_.main();
        reads_.clear();
        writes_.clear();
        for (const op& o : g.operators) {
            reads_.push_back(o.inputs);
            writes_.push_back(o.outputs);
        }
        folds_.clear();
        if (!fold) return;
        std::vector<int> readers(g.tensors.size(), 0);
        for (const op& o : g.operators)
            for (std::int32_t t : o.inputs)
                if (t >= 0 && static_cast<std::size_t>(t) < readers.size()) ++readers[std::size_t(t)];
        for (std::int32_t t : g.outputs)
            if (t >= 0 && static_cast<std::size_t>(t) < readers.size()) ++readers[std::size_t(t)];
        for (std::size_t i = 0; i < g.operators.size(); ++i) {
            const auto f = foldable_pad(i, readers);
            if (!f) continue;
            folds_.push_back(*f);
            reads_[f->pad].clear();
            writes_[f->pad].clear();
            reads_[f->into][0] = f->input;
        }
    }

    // The fold of operator i into its reader, when it is such a PAD.
    std::optional<folded_pad> foldable_pad(std::size_t i, const std::vector<int>& readers) const {
        const subgraph& g = model_.main();
        const op& pad = g.operators[i];
        const auto valid = [&](std::int32_t t) { return t >= 0 && static_cast<std::size_t>(t) < g.tensors.size(); };
        if (pad.builtin_code != builtin_operator::PAD || pad.inputs.size() != 2 || pad.outputs.size() != 1) return {};
        const std::int32_t x = pad.inputs[0], y = pad.outputs[0], paddings = pad.inputs[1];
        if (!valid(x) || !valid(y) || !valid(paddings) || is_constant(x) || readers[std::size_t(y)] != 1) return {};
        const tensor &tx = g.tensors[std::size_t(x)], &ty = g.tensors[std::size_t(y)];
        if ((tx.type != tensor_type::INT8 && tx.type != tensor_type::INT16) || ty.type != tx.type ||
            tx.shape.size() != 4 || !tx.quantization || !ty.quantization ||
            tx.quantization->params.scales.size() != 1 || tx.quantization->params.zero_points.size() != 1 ||
            tx.quantization->params.scales != ty.quantization->params.scales ||
            tx.quantization->params.zero_points != ty.quantization->params.zero_points)
            return {};
        const tensor& tp = g.tensors[std::size_t(paddings)];
        const auto bytes = model_.data_of(tp);
        std::int64_t p[8] = {};
        if (tp.type == tensor_type::INT32 && bytes.size() == 8 * 4)
            for (std::size_t k = 0; k < 8; ++k) {
                std::int32_t v = 0;
                std::memcpy(&v, bytes.data() + 4 * k, 4);
                p[k] = v;
            }
        else if (tp.type == tensor_type::INT64 && bytes.size() == 8 * 8)
            for (std::size_t k = 0; k < 8; ++k) std::memcpy(&p[k], bytes.data() + 8 * k, 8);
        else
            return {};
        if (p[0] != 0 || p[1] != 0 || p[6] != 0 || p[7] != 0) return {};  // batch and channels stay
        for (std::size_t k = 2; k < 6; ++k)
            if (p[k] < 0 || p[k] > (std::int64_t{1} << 28)) return {};
        for (std::size_t j = i + 1; j < g.operators.size(); ++j) {
            const op& reader = g.operators[j];
            if (std::find(reader.inputs.begin(), reader.inputs.end(), y) == reader.inputs.end()) continue;
            if ((reader.builtin_code != builtin_operator::CONV_2D &&
                 reader.builtin_code != builtin_operator::DEPTHWISE_CONV_2D) ||
                reader.inputs.empty() || reader.inputs[0] != y)
                return {};
            return folded_pad{i, j, x, y,
                              {std::int32_t(p[2]), std::int32_t(p[3]), std::int32_t(p[4]), std::int32_t(p[5])}};
        }
        return {};
    }

    // Lays every activation out in one arena.  A tensor lives from the
    // operator that writes it (graph inputs: from the start) to its last
    // reader (graph inputs and outputs: to the end); preserve_all keeps every tensor
    // alive throughout, i.e. in bytes of its own.
    void plan_activations(bool preserve_all) {
        const subgraph& g = model_.main();
        const std::int64_t end = static_cast<std::int64_t>(g.operators.size());
        std::vector<arena_buffer> buffers(g.tensors.size());
        std::vector<char> is_activation(g.tensors.size(), 0);
        for (std::size_t i = 0; i < g.tensors.size(); ++i) {
            if (!model_.data_of(g.tensors[i]).empty()) continue;  // constants are read in place from the model
            is_activation[i] = 1;
            buffers[i] = {detail::tensor_bytes(g.tensors[i]), preserve_all ? -1 : end, preserve_all ? end : -1};
        }
        const auto touch = [&](std::int32_t t, std::int64_t when) {
            if (t < 0 || static_cast<std::size_t>(t) >= buffers.size() || !is_activation[std::size_t(t)]) return;
            auto& b = buffers[static_cast<std::size_t>(t)];
            b.first = std::min(b.first, when);
            b.last = std::max(b.last, when);
        };
        // Inputs live throughout, as in TFLite: invoke() again without
        // set_input runs on the same input, not on bytes a layer reused.
        for (std::int32_t t : g.inputs) {
            touch(t, -1);
            touch(t, end);
        }
        for (std::int32_t t : g.outputs) touch(t, end);
        for (std::size_t i = 0; i < g.operators.size(); ++i) {
            for (std::int32_t t : reads_[i]) touch(t, static_cast<std::int64_t>(i));
            for (std::int32_t t : writes_[i]) touch(t, static_cast<std::int64_t>(i));
        }
        for (const folded_pad& f : folds_) buffers[static_cast<std::size_t>(f.output)].bytes = 0;  // never made
        for (auto& b : buffers)
            if (b.first > b.last) b.first = b.last = -1;  // touched by nothing: placed, never shared with a live one
        constexpr std::size_t alignment = 64;
        const arena_plan plan = plan_arena(buffers, alignment);
        arena_size_ = plan.bytes;
        arena_.assign(plan.bytes + alignment, std::byte{0});
        const auto base = (reinterpret_cast<std::uintptr_t>(arena_.data()) + alignment - 1) & ~(alignment - 1);
        std::byte* aligned = arena_.data() + (base - reinterpret_cast<std::uintptr_t>(arena_.data()));
        activation_.assign(g.tensors.size(), {});
        shares_bytes_with_.assign(g.tensors.size(), {});
        valid_.assign(g.tensors.size(), 1);  // all zeros to start with
        for (std::size_t i = 0; i < g.tensors.size(); ++i) {
            if (!is_activation[i]) continue;
            activation_[i] = {aligned + plan.offsets[i], buffers[i].bytes};
            for (std::size_t j = 0; j < g.tensors.size(); ++j)
                if (j != i && is_activation[j] &&
                    bytes_overlap(plan.offsets[i], buffers[i].bytes, plan.offsets[j], buffers[j].bytes))
                    shares_bytes_with_[i].push_back(static_cast<std::int32_t>(j));
        }
    }

    // Tensor t was just written: it holds its value, the tensors sharing its bytes no longer do.
    void written(std::int32_t t) {
        if (t < 0 || static_cast<std::size_t>(t) >= valid_.size()) return;
        valid_[static_cast<std::size_t>(t)] = 1;
        for (std::int32_t other : shares_bytes_with_[static_cast<std::size_t>(t)]) valid_[static_cast<std::size_t>(other)] = 0;
    }

    void check_not_folded(std::int32_t index, const char* what) const {
        for (const folded_pad& f : folds_)
            check(f.output != index, "executor", what, ": ", label(index), " is the output of operator ", f.pad,
                  " (PAD), which is folded into operator ", f.into, " and never made; build the executor with "
                  "executor_options::preserve_all_tensors to run every operator as written");
    }

    std::span<std::byte> readable(std::int32_t index, const char* what) const {
        tensor_at(index);
        check_not_folded(index, what);
        auto bytes = const_cast<executor*>(this)->bytes_of(index);
        check(valid_[static_cast<std::size_t>(index)], "executor", what, ": ", label(index),
              " no longer holds its value: a later operator reused its bytes (activations share an arena); "
              "build the executor with executor_options::preserve_all_tensors to read intermediate tensors "
              "after invoke()");
        return bytes;
    }

    template <class T>
    std::span<T> typed(std::int32_t index, const std::string& where) {
        const tensor& t = tensor_at(index);
        if (t.type != detail::tensor_type_of<T>())
            throw error(where, qtl::detail::concat(label(index), " has type ", describe(t.type), ", expected ",
                                                   describe(detail::tensor_type_of<T>())));
        auto bytes = bytes_of(index);
        const std::size_t n = num_elements(t.shape, where);
        check(bytes.size() == n * sizeof(T), where, label(index), " holds ", bytes.size(), " bytes for ", n,
              " elements");
        check(reinterpret_cast<std::uintptr_t>(bytes.data()) % alignof(T) == 0, where, label(index),
              " data is not aligned for its type");
        return {reinterpret_cast<T*>(bytes.data()), n};
    }

    template <class T>
    tensor_view<T> view(std::int32_t index, const std::string& where) {
        return tensor_view<T>(typed<T>(index, where), tensor_at(index).shape);
    }
    template <class T>
    tensor_view<const T> const_view(std::int32_t index, const std::string& where) {
        auto s = typed<T>(index, where);
        return tensor_view<const T>(std::span<const T>(s.data(), s.size()), tensor_at(index).shape);
    }

    // One scale and zero point (per-tensor quantization) of tensor `index`.
    std::pair<float, std::int32_t> scalar_quant(std::int32_t index, const std::string& where) const {
        const tensor& t = tensor_at(index);
        check(t.quantization.has_value() && t.quantization->params.scales.size() == 1, where, describe_tensor(index),
              " must be quantized per tensor (one scale and zero point)");
        return {t.quantization->params.scales[0], t.quantization->params.zero_points[0]};
    }
    const quant_params& quant(std::int32_t index, const std::string& where) const {
        const tensor& t = tensor_at(index);
        check(t.quantization.has_value(), where, describe_tensor(index), " must be quantized");
        return t.quantization->params;
    }

    bool is_constant(std::int32_t index) const { return !model_.data_of(tensor_at(index)).empty(); }
    std::vector<std::int32_t> constant_ints(std::int32_t index, const std::string& where) {
        check(is_constant(index), where, describe_tensor(index), " must be a constant tensor");
        const tensor& t = tensor_at(index);
        if (t.type == tensor_type::INT64) {
            const auto v = typed<std::int64_t>(index, where);
            std::vector<std::int32_t> out;
            for (auto x : v) {
                check(x >= INT32_MIN && x <= INT32_MAX, where, describe_tensor(index), " value ", x, " out of int32 range");
                out.push_back(static_cast<std::int32_t>(x));
            }
            return out;
        }
        const auto v = typed<std::int32_t>(index, where);
        return {v.begin(), v.end()};
    }

    template <class Prepared, class... Views>
    step bind(Prepared prepared, Views... views) {
        if (path_ == kernel_path::reference)
            return [p = std::move(prepared), views...] { ops::reference::eval(p, views...); };
        return [p = std::move(prepared), views...] { ops::eval(p, views...); };
    }

    // Calls f.template operator()<T>() for T = the activation type of `index` (int8 or int16).
    template <class F>
    step on_activation_type(std::int32_t index, const std::string& where, F&& f) {
        switch (tensor_at(index).type) {
            case tensor_type::INT8: return f.template operator()<std::int8_t>();
            case tensor_type::INT16: return f.template operator()<std::int16_t>();
            default:
                throw error(where, qtl::detail::concat(describe_tensor(index), " has type ", describe(tensor_at(index).type),
                                                  "; qtl runs this op on INT8 and INT16 (16x8) activations"));
        }
    }

    step prepare_op(std::size_t op_index);
    step prepare_float_op(std::size_t op_index, const std::string& where);
    step prepare_quantize(std::int32_t x, std::int32_t y, const std::string& where);

    tflite::model model_;
    kernel_path path_;
    std::vector<std::byte> arena_;                      // every activation (64-byte aligned inside)
    std::size_t arena_size_ = 0;
    std::vector<std::span<std::byte>> activation_;      // per tensor: its bytes in the arena (empty: constant)
    std::vector<std::vector<std::int32_t>> shares_bytes_with_;
    std::vector<char> valid_;                           // per tensor: holds its last written value
    std::vector<std::vector<std::int32_t>> reads_, writes_;  // per operator, as it runs
    std::vector<folded_pad> folds_;
    std::vector<step> steps_;
};

#if QTL_EXECUTOR_DEFINITIONS  // see qtl/core/extern_executors.hpp

QTL_EXECUTOR_INLINE executor::step executor::prepare_op(std::size_t op_index) {
    const op& o = model_.main().operators[op_index];
    const std::string where = qtl::detail::concat("operator ", op_index, " (", describe(o.builtin_code), ")");
    const auto in = [&](std::size_t k) {
        check(k < o.inputs.size() && o.inputs[k] >= 0, where, "input ", k, " is missing");
        return o.inputs[k];
    };
    const auto out = [&](std::size_t k) {
        check(k < o.outputs.size() && o.outputs[k] >= 0, where, "output ", k, " is missing");
        return o.outputs[k];
    };
    const auto optional_in = [&](std::size_t k) { return k < o.inputs.size() ? o.inputs[k] : -1; };
    const folded_pad* folded_into_this = nullptr;
    for (const folded_pad& f : folds_) {
        if (f.pad == op_index) return [] {};  // runs inside operator f.into
        if (f.into == op_index) folded_into_this = &f;
    }
    const auto same_type = [&](std::int32_t a, std::int32_t b) {
        check(tensor_at(a).type == tensor_at(b).type, where, describe_tensor(a), " is ", describe(tensor_at(a).type),
              " but ", describe_tensor(b), " is ", describe(tensor_at(b).type));
    };
    // Input and output scale/zero point of a unary op with the same types.
    struct unary_quant {
        float in_scale;
        std::int32_t in_zp;
        float out_scale;
        std::int32_t out_zp;
    };
    const auto unary = [&]() {
        same_type(in(0), out(0));
        float is = 0;
        std::int32_t iz = 0;
        std::tie(is, iz) = scalar_quant(in(0), where);
        float os = 0;
        std::int32_t oz = 0;
        std::tie(os, oz) = scalar_quant(out(0), where);
        return unary_quant{is, iz, os, oz};
    };

    // Float data input: float or hybrid kernels (QUANTIZE takes float below).
    if (o.builtin_code != builtin_operator::QUANTIZE && o.builtin_code != builtin_operator::DEQUANTIZE &&
        !o.inputs.empty() && o.inputs[0] >= 0 && tensor_at(o.inputs[0]).type == tensor_type::FLOAT32)
        return prepare_float_op(op_index, where);

    switch (o.builtin_code) {
        case builtin_operator::FULLY_CONNECTED: {
            const auto& opt = o.options_as<fully_connected_options>();
            check(opt.weights_format == fully_connected_options_weights_format::DEFAULT, where,
                  "only the DEFAULT weights format is supported");
            check(!opt.asymmetric_quantize_inputs, where,
                  "asymmetric_quantize_inputs is a hybrid (float input) option, but the input is not FLOAT32");
            const std::int32_t x = in(0), w = in(1), b = optional_in(2), y = out(0);
            same_type(x, y);
            check(is_constant(w), where, describe_tensor(w), " (weights) must be constant");
            return on_activation_type(x, where, [&]<class T>() -> step {
                using bias_t = ops::fully_connected_bias_t<T>;
                float is = 0;
                std::int32_t iz = 0;
                std::tie(is, iz) = scalar_quant(x, where);
                float os = 0;
                std::int32_t oz = 0;
                std::tie(os, oz) = scalar_quant(y, where);
                auto fill = [&](auto& p) {
                    p.input_shape = tensor_at(x).shape;
                    p.weights_shape = tensor_at(w).shape;
                    if (b >= 0) p.bias = typed<bias_t>(b, where);
                    p.input_scale = is;
                    p.input_zero_point = iz;
                    p.output_scale = os;
                    p.output_zero_point = oz;
                    p.weights_quant = quant(w, where);
                    p.activation = detail::fused(opt.fused_activation_function, where);
                    p.keep_num_dims = opt.keep_num_dims;
                };
                if (tensor_at(w).type == tensor_type::INT4) {
                    if constexpr (std::is_same_v<T, std::int8_t>) {
                        ops::fully_connected_params<T, int4> p;
                        fill(p);
                        auto bytes = bytes_of(w);
                        p.weights = {reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()};
                        return bind(ops::prepare(p), const_view<T>(x, where), view<T>(y, where));
                    }
                    throw error(where, "int4 weights need int8 activations");
                }
                ops::fully_connected_params<T, std::int8_t> p;
                fill(p);
                p.weights = typed<std::int8_t>(w, where);
                return bind(ops::prepare(p), const_view<T>(x, where), view<T>(y, where));
            });
        }
        case builtin_operator::CONV_2D:
        case builtin_operator::DEPTHWISE_CONV_2D: {
            const bool depthwise = o.builtin_code == builtin_operator::DEPTHWISE_CONV_2D;
            // A folded PAD: its input, padded in front of the window.
            const std::int32_t x = folded_into_this ? folded_into_this->input : in(0);
            const std::int32_t w = in(1), b = optional_in(2), y = out(0);
            same_type(x, y);
            check(is_constant(w), where, describe_tensor(w), " (filter) must be constant");
            return on_activation_type(x, where, [&]<class T>() -> step {
                using bias_t = ops::conv_bias_t<T>;
                float is = 0;
                std::int32_t iz = 0;
                std::tie(is, iz) = scalar_quant(x, where);
                float os = 0;
                std::int32_t oz = 0;
                std::tie(os, oz) = scalar_quant(y, where);
                auto fill = [&](auto& p, const auto& opt) {
                    p.input_shape = tensor_at(x).shape;
                    p.filter_shape = tensor_at(w).shape;
                    p.input_scale = is;
                    p.input_zero_point = iz;
                    p.output_scale = os;
                    p.output_zero_point = oz;
                    p.filter = quant(w, where);
                    if (b >= 0) p.bias = typed<bias_t>(b, where);
                    p.stride_height = opt.stride_h;
                    p.stride_width = opt.stride_w;
                    p.dilation_height = opt.dilation_h_factor;
                    p.dilation_width = opt.dilation_w_factor;
                    p.padding = detail::padding_of(opt.padding);
                    if (folded_into_this) p.input_padding = folded_into_this->padding;
                    p.activation = detail::fused(opt.fused_activation_function, where);
                };
                auto build = [&]<class Weight>() -> step {
                    using storage = ops::conv_weight_storage_t<Weight>;
                    auto bytes = bytes_of(w);
                    const std::span<const storage> weights(reinterpret_cast<const storage*>(bytes.data()), bytes.size());
                    if (depthwise) {
                        const auto& opt = o.options_as<depthwise_conv_2d_options>();
                        ops::depthwise_conv_2d_params<T, Weight> p;
                        fill(p, opt);
                        const auto& s = tensor_at(x).shape;
                        check(s.size() == 4 && s[3] > 0, where, describe_tensor(x), " must be [N, H, W, C]");
                        // TFLite derives the multiplier from the shapes (the option is redundant).
                        p.depth_multiplier = tensor_at(w).shape.size() == 4 ? tensor_at(w).shape[3] / s[3] : 0;
                        p.weights = weights;
                        return bind(ops::prepare(p), const_view<T>(x, where), view<T>(y, where));
                    }
                    const auto& opt = o.options_as<conv_2d_options>();
                    ops::conv_2d_params<T, Weight> p;
                    fill(p, opt);
                    p.weights = weights;
                    return bind(ops::prepare(p), const_view<T>(x, where), view<T>(y, where));
                };
                if (tensor_at(w).type == tensor_type::INT4) {
                    if constexpr (std::is_same_v<T, std::int8_t>) return build.template operator()<int4>();
                    throw error(where, "int4 filters need int8 activations");
                }
                check(tensor_at(w).type == tensor_type::INT8, where, describe_tensor(w), " must be INT8 or INT4");
                return build.template operator()<std::int8_t>();
            });
        }
        case builtin_operator::AVERAGE_POOL_2D:
        case builtin_operator::MAX_POOL_2D: {
            const auto& opt = o.options_as<pool_2d_options>();
            const auto q = unary();
            return on_activation_type(in(0), where, [&]<class T>() -> step {
                auto fill = [&](auto& p) {
                    p.input_shape = tensor_at(in(0)).shape;
                    p.input_scale = q.in_scale;
                    p.input_zero_point = q.in_zp;
                    p.output_scale = q.out_scale;
                    p.output_zero_point = q.out_zp;
                    p.filter_height = opt.filter_height;
                    p.filter_width = opt.filter_width;
                    p.stride_height = opt.stride_h;
                    p.stride_width = opt.stride_w;
                    p.padding = detail::padding_of(opt.padding);
                    p.activation = detail::fused(opt.fused_activation_function, where);
                };
                if (o.builtin_code == builtin_operator::AVERAGE_POOL_2D) {
                    ops::average_pool_2d_params<T> p;
                    fill(p);
                    return bind(ops::prepare(p), const_view<T>(in(0), where), view<T>(out(0), where));
                }
                ops::max_pool_2d_params<T> p;
                fill(p);
                return bind(ops::prepare(p), const_view<T>(in(0), where), view<T>(out(0), where));
            });
        }
        case builtin_operator::ADD:
        case builtin_operator::SUB:
        case builtin_operator::MUL: {
            const std::int32_t a = in(0), b = in(1), y = out(0);
            same_type(a, y);
            same_type(b, y);
            return on_activation_type(a, where, [&]<class T>() -> step {
                float s1 = 0;
                std::int32_t z1 = 0;
                std::tie(s1, z1) = scalar_quant(a, where);
                float s2 = 0;
                std::int32_t z2 = 0;
                std::tie(s2, z2) = scalar_quant(b, where);
                float so = 0;
                std::int32_t zo = 0;
                std::tie(so, zo) = scalar_quant(y, where);
                auto fill = [&](auto& p, activation_function_type act) {
                    p.input1_shape = tensor_at(a).shape;
                    p.input2_shape = tensor_at(b).shape;
                    p.input1_scale = s1;
                    p.input1_zero_point = z1;
                    p.input2_scale = s2;
                    p.input2_zero_point = z2;
                    p.output_scale = so;
                    p.output_zero_point = zo;
                    p.activation = detail::fused(act, where);
                };
                const auto va = const_view<T>(a, where), vb = const_view<T>(b, where);
                const auto vy = view<T>(y, where);
                if (o.builtin_code == builtin_operator::ADD) {
                    const auto& opt = o.options_as<add_options>();
                    ops::add_params<T> p;
                    fill(p, opt.fused_activation_function);
                    p.pot_scale_int16 = opt.pot_scale_int16;
                    return bind(ops::prepare(p), va, vb, vy);
                }
                if (o.builtin_code == builtin_operator::SUB) {
                    const auto& opt = o.options_as<sub_options>();
                    ops::sub_params<T> p;
                    fill(p, opt.fused_activation_function);
                    p.pot_scale_int16 = opt.pot_scale_int16;
                    return bind(ops::prepare(p), va, vb, vy);
                }
                ops::mul_params<T> p;
                fill(p, o.options_as<mul_options>().fused_activation_function);
                return bind(ops::prepare(p), va, vb, vy);
            });
        }
        case builtin_operator::CONCATENATION: {
            const auto& opt = o.options_as<concatenation_options>();
            const std::int32_t y = out(0);
            return on_activation_type(y, where, [&]<class T>() -> step {
                ops::concatenation_params<T> p;
                std::vector<tensor_view<const T>> inputs;
                for (std::size_t k = 0; k < o.inputs.size(); ++k) {
                    same_type(in(k), y);
                    float s = 0;
                    std::int32_t z = 0;
                    std::tie(s, z) = scalar_quant(in(k), where);
                    p.input_shapes.push_back(tensor_at(in(k)).shape);
                    p.input_scales.push_back(s);
                    p.input_zero_points.push_back(z);
                    inputs.push_back(const_view<T>(in(k), where));
                }
                std::tie(p.output_scale, p.output_zero_point) = scalar_quant(y, where);
                p.axis = opt.axis;
                p.activation = detail::fused(opt.fused_activation_function, where);
                auto prepared = ops::prepare(p);
                const auto vy = view<T>(y, where);
                if (path_ == kernel_path::reference)
                    return [prepared, inputs, vy] { ops::reference::eval(prepared, std::span<const tensor_view<const T>>(inputs), vy); };
                return [prepared, inputs, vy] { ops::eval(prepared, std::span<const tensor_view<const T>>(inputs), vy); };
            });
        }
        case builtin_operator::RESHAPE: {
            const auto q = unary();
            return on_activation_type(in(0), where, [&]<class T>() -> step {
                ops::reshape_params<T> p;
                p.input_shape = tensor_at(in(0)).shape;
                p.new_shape = tensor_at(out(0)).shape;  // the reader's output shape is the resolved one
                p.input_scale = q.in_scale;
                p.input_zero_point = q.in_zp;
                p.output_scale = q.out_scale;
                p.output_zero_point = q.out_zp;
                return bind(ops::prepare(p), const_view<T>(in(0), where), view<T>(out(0), where));
            });
        }
        case builtin_operator::SOFTMAX:
        case builtin_operator::LOGISTIC:
        case builtin_operator::TANH:
        case builtin_operator::RELU:
        case builtin_operator::RELU6:
        case builtin_operator::LEAKY_RELU:
        case builtin_operator::HARD_SWISH: {
            const auto q = unary();
            const auto code = o.builtin_code;
            return on_activation_type(in(0), where, [&]<class T>() -> step {
                const auto vx = const_view<T>(in(0), where);
                const auto vy = view<T>(out(0), where);
                auto fill = [&](auto& p) {
                    p.shape = tensor_at(in(0)).shape;
                    p.input_scale = q.in_scale;
                    p.input_zero_point = q.in_zp;
                    p.output_scale = q.out_scale;
                    p.output_zero_point = q.out_zp;
                };
                switch (code) {
                    case builtin_operator::SOFTMAX: {
                        ops::softmax_params<T> p;
                        fill(p);
                        p.beta = o.options_as<softmax_options>().beta;
                        return bind(ops::prepare(p), vx, vy);
                    }
                    case builtin_operator::LOGISTIC: {
                        ops::logistic_params<T> p;
                        fill(p);
                        return bind(ops::prepare(p), vx, vy);
                    }
                    case builtin_operator::TANH: {
                        ops::tanh_params<T> p;
                        fill(p);
                        return bind(ops::prepare(p), vx, vy);
                    }
                    case builtin_operator::RELU: {
                        ops::relu_params<T> p;
                        fill(p);
                        return bind(ops::prepare(p), vx, vy);
                    }
                    case builtin_operator::RELU6: {
                        ops::relu6_params<T> p;
                        fill(p);
                        return bind(ops::prepare(p), vx, vy);
                    }
                    case builtin_operator::LEAKY_RELU: {
                        ops::leaky_relu_params<T> p;
                        fill(p);
                        p.alpha = o.options_as<leaky_relu_options>().alpha;
                        return bind(ops::prepare(p), vx, vy);
                    }
                    default: {
                        if constexpr (std::is_same_v<T, std::int8_t>) {
                            ops::hard_swish_params<T> p;
                            fill(p);
                            return bind(ops::prepare(p), vx, vy);
                        }
                        throw error(where, "HARD_SWISH runs on INT8 only (TFLite has no int16 kernel)");
                    }
                }
            });
        }
        case builtin_operator::PAD:
        case builtin_operator::PADV2: {
            const auto q = unary();
            const auto paddings = constant_ints(in(1), where);
            return on_activation_type(in(0), where, [&]<class T>() -> step {
                ops::pad_params<T> p;
                p.input_shape = tensor_at(in(0)).shape;
                check(paddings.size() == 2 * p.input_shape.size(), where, "paddings hold ", paddings.size(),
                      " values, expected 2 x rank ", p.input_shape.size());
                for (std::size_t d = 0; d < p.input_shape.size(); ++d) p.paddings.push_back({paddings[2 * d], paddings[2 * d + 1]});
                p.input_scale = q.in_scale;
                p.input_zero_point = q.in_zp;
                p.output_scale = q.out_scale;
                p.output_zero_point = q.out_zp;
                if (o.builtin_code == builtin_operator::PADV2 && optional_in(2) >= 0) {
                    const std::int32_t c = in(2);
                    same_type(c, in(0));
                    const auto v = typed<T>(c, where);
                    check(v.size() == 1, where, describe_tensor(c), " (constant value) must hold one value");
                    p.constant_value = v[0];
                    std::tie(p.constant_scale, p.constant_zero_point) = scalar_quant(c, where);
                }
                return bind(ops::prepare(p), const_view<T>(in(0), where), view<T>(out(0), where));
            });
        }
        case builtin_operator::MEAN: {
            const auto q = unary();
            const auto axes = constant_ints(in(1), where);
            return on_activation_type(in(0), where, [&]<class T>() -> step {
                ops::mean_params<T> p;
                p.input_shape = tensor_at(in(0)).shape;
                p.axes = axes;
                p.keep_dims = o.options_as<reducer_options>().keep_dims;
                p.input_scale = q.in_scale;
                p.input_zero_point = q.in_zp;
                p.output_scale = q.out_scale;
                p.output_zero_point = q.out_zp;
                return bind(ops::prepare(p), const_view<T>(in(0), where), view<T>(out(0), where));
            });
        }
        case builtin_operator::TRANSPOSE: {
            const auto q = unary();
            const auto perm = constant_ints(in(1), where);
            return on_activation_type(in(0), where, [&]<class T>() -> step {
                ops::transpose_params<T> p;
                p.input_shape = tensor_at(in(0)).shape;
                p.perm = perm;
                p.input_scale = q.in_scale;
                p.input_zero_point = q.in_zp;
                p.output_scale = q.out_scale;
                p.output_zero_point = q.out_zp;
                return bind(ops::prepare(p), const_view<T>(in(0), where), view<T>(out(0), where));
            });
        }
        case builtin_operator::STRIDED_SLICE: {
            const auto& opt = o.options_as<strided_slice_options>();
            const auto q = unary();
            const auto begin = constant_ints(in(1), where), end = constant_ints(in(2), where);
            const auto strides = optional_in(3) >= 0 ? constant_ints(in(3), where) : std::vector<std::int32_t>(begin.size(), 1);
            return on_activation_type(in(0), where, [&]<class T>() -> step {
                ops::strided_slice_params<T> p;
                p.input_shape = tensor_at(in(0)).shape;
                p.begin = begin;
                p.end = end;
                p.strides = strides;
                p.begin_mask = static_cast<std::uint32_t>(opt.begin_mask);
                p.end_mask = static_cast<std::uint32_t>(opt.end_mask);
                p.ellipsis_mask = static_cast<std::uint32_t>(opt.ellipsis_mask);
                p.new_axis_mask = static_cast<std::uint32_t>(opt.new_axis_mask);
                p.shrink_axis_mask = static_cast<std::uint32_t>(opt.shrink_axis_mask);
                p.offset = opt.offset;
                p.input_scale = q.in_scale;
                p.input_zero_point = q.in_zp;
                p.output_scale = q.out_scale;
                p.output_zero_point = q.out_zp;
                return bind(ops::prepare(p), const_view<T>(in(0), where), view<T>(out(0), where));
            });
        }
        case builtin_operator::QUANTIZE: return prepare_quantize(in(0), out(0), where);
        case builtin_operator::DEQUANTIZE: {
            const std::int32_t x = in(0), y = out(0);
            check(tensor_at(y).type == tensor_type::FLOAT32, where, describe_tensor(y), " must be FLOAT32");
            auto build = [&]<class In>() -> step {
                ops::dequantize_params<In> p;
                p.shape = tensor_at(x).shape;
                p.input = quant(x, where);
                return bind(ops::prepare(p), const_view<In>(x, where), view<float>(y, where));
            };
            switch (tensor_at(x).type) {
                case tensor_type::INT8: return build.template operator()<std::int8_t>();
                case tensor_type::UINT8: return build.template operator()<std::uint8_t>();
                case tensor_type::INT16: return build.template operator()<std::int16_t>();
                default: throw error(where, describe_tensor(x) + " must be INT8, UINT8 or INT16");
            }
        }
        default: break;
    }
    std::string supported;
    for (auto code : executor_supported_ops) supported += (supported.empty() ? "" : ", ") + std::string(name_of(code));
    throw error(where, "not supported by qtl's executor; it runs " + supported);
}

namespace detail {

// The float clamp of a fused activation (TFLite's CalculateActivationRange).
inline std::pair<float, float> float_clamp(activation_function_type a, const std::string& where) {
    constexpr float inf = std::numeric_limits<float>::infinity();
    switch (a) {
        case activation_function_type::NONE: return {-inf, inf};
        case activation_function_type::RELU: return {0.0f, inf};
        case activation_function_type::RELU_N1_TO_1: return {-1.0f, 1.0f};
        case activation_function_type::RELU6: return {0.0f, 6.0f};
        default: throw error(where, "fused activation " + std::string(name_of(a)) + " is not supported on float ops");
    }
}

}  // namespace detail

// An operator whose data input is FLOAT32: TFLite's float kernels, or the
// hybrid ones for FULLY_CONNECTED / CONV_2D / DEPTHWISE_CONV_2D with INT8
// weights.  Every output must be FLOAT32 as well.
QTL_EXECUTOR_INLINE executor::step executor::prepare_float_op(std::size_t op_index, const std::string& where) {
    const op& o = model_.main().operators[op_index];
    const auto in = [&](std::size_t k) {
        check(k < o.inputs.size() && o.inputs[k] >= 0, where, "input ", k, " is missing");
        return o.inputs[k];
    };
    const auto optional_in = [&](std::size_t k) { return k < o.inputs.size() ? o.inputs[k] : -1; };
    check(o.outputs.size() == 1 && o.outputs[0] >= 0, where, "must have one output");
    const std::int32_t y = o.outputs[0];
    check(tensor_at(y).type == tensor_type::FLOAT32, where, describe_tensor(y), " has type ",
          describe(tensor_at(y).type), "; an op with a FLOAT32 input must have a FLOAT32 output");
    const auto floats = [&](std::int32_t t) { return typed<float>(t, where).data(); };
    const auto& shape_of = [&](std::int32_t t) -> const qtl::shape& { return tensor_at(t).shape; };
    const auto expect_output_shape = [&](const qtl::shape& computed) {
        check(computed == shape_of(y), where, "computes output shape ", shape_text(computed), " but ",
              describe_tensor(y), " has shape ", shape_text(shape_of(y)));
    };
    // A float bias (input 2) of n values, or none.
    const auto float_bias = [&](std::size_t n) -> std::span<const float> {
        const std::int32_t b = optional_in(2);
        if (b < 0) return {};
        check(is_constant(b), where, describe_tensor(b), " (bias) must be constant");
        const auto v = typed<float>(b, where);
        check(v.size() == n, where, describe_tensor(b), " (bias) has ", v.size(), " values, expected ", n);
        return {v.data(), v.size()};
    };
    const auto weights_int8 = [&](std::int32_t w) {
        check(is_constant(w), where, describe_tensor(w), " (weights) must be constant");
        const auto v = typed<std::int8_t>(w, where);
        return std::span<const std::int8_t>(v.data(), v.size());
    };
    const auto weights_float = [&](std::int32_t w) {
        check(is_constant(w), where, describe_tensor(w), " (weights) must be constant");
        const auto v = typed<float>(w, where);
        return std::span<const float>(v.data(), v.size());
    };
    const bool reference = path_ == kernel_path::reference;
    // Binds a prepared hybrid op to its views.
    const auto bind_hybrid = [&](auto prepared, std::int32_t x) -> step {
        const auto vx = const_view<float>(x, where);
        const auto vy = view<float>(y, where);
        auto shared = std::make_shared<decltype(prepared)>(std::move(prepared));
        if (reference) return [shared, vx, vy] { ops::reference::eval(*shared, vx, vy); };
        return [shared, vx, vy] { ops::eval(*shared, vx, vy); };
    };

    switch (o.builtin_code) {
        case builtin_operator::FULLY_CONNECTED: {
            const auto& opt = o.options_as<fully_connected_options>();
            check(opt.weights_format == fully_connected_options_weights_format::DEFAULT, where,
                  "only the DEFAULT weights format is supported");
            const std::int32_t x = in(0), w = in(1);
            const auto& ws = shape_of(w);
            check(ws.size() == 2 && ws[0] > 0 && ws[1] > 0, where, describe_tensor(w), " (weights) must be [O, I]");
            const auto n = static_cast<std::size_t>(ws[0]), k = static_cast<std::size_t>(ws[1]);
            if (tensor_at(w).type == tensor_type::INT8) {
                ops::hybrid_fully_connected_params p;
                p.input_shape = shape_of(x);
                p.weights_shape = ws;
                p.weights = weights_int8(w);
                p.bias = float_bias(n);
                p.weights_quant = quant(w, where);
                p.activation = detail::fused(opt.fused_activation_function, where);
                p.keep_num_dims = opt.keep_num_dims;
                p.asymmetric_quantize_inputs = opt.asymmetric_quantize_inputs;
                auto prepared = ops::prepare(p);
                expect_output_shape(prepared.output_shape);
                return bind_hybrid(std::move(prepared), x);
            }
            if (tensor_at(w).type == tensor_type::INT4) {
                // Block-wise int4 weights: TFLite's block-wise hybrid kernel (ops/fully_connected.hpp).
                check(is_constant(w), where, describe_tensor(w), " (weights) must be constant");
                const auto& wq = tensor_at(w).quantization;
                check(wq.has_value() && wq->blockwise.has_value(), where, describe_tensor(w),
                      " (INT4 weights for a FLOAT32 input) must be block-wise quantized (BlockwiseQuantization)");
                // TFLite and XNNPACK read the scales as binary16 whatever the type says.
                const auto scales_type = model_.main().tensors[static_cast<std::size_t>(wq->blockwise->scales)].type;
                check(scales_type == tensor_type::FLOAT16, where, describe_tensor(w), " has block-wise scales of type ",
                      describe(scales_type), "; TFLite's block-wise kernel reads them as FLOAT16 (and XNNPACK "
                      "refuses others), so the model would not run as written");
                ops::fully_connected_blockwise_params p;
                p.input_shape = shape_of(x);
                p.weights_shape = ws;
                p.weights = model_.data_of(tensor_at(w));
                p.bias = float_bias(n);
                p.weights_quant = quant(w, where);
                p.activation = detail::fused(opt.fused_activation_function, where);
                p.keep_num_dims = opt.keep_num_dims;
                auto prepared = ops::prepare(p);
                expect_output_shape(prepared.output_shape);
                return bind_hybrid(std::move(prepared), x);
            }
            check(tensor_at(w).type == tensor_type::FLOAT32, where, describe_tensor(w),
                  " (weights) must be FLOAT32, INT8 (hybrid) or block-wise INT4 for a FLOAT32 input");
            const std::size_t total = num_elements(shape_of(x), where);
            check(total % k == 0, where, "input shape ", shape_text(shape_of(x)), " is not a whole number of rows of ", k);
            const std::size_t rows = total / k;
            qtl::shape expected = {static_cast<std::int32_t>(rows), static_cast<std::int32_t>(n)};
            if (opt.keep_num_dims) {
                expected = shape_of(x);
                check(!expected.empty() && static_cast<std::size_t>(expected.back()) == k, where,
                      "keep_num_dims needs the input's last dimension to be ", k);
                expected.back() = static_cast<std::int32_t>(n);
            }
            expect_output_shape(expected);
            const auto [lo, hi] = detail::float_clamp(opt.fused_activation_function, where);
            auto packed = std::make_shared<kernels::gemm_f32_packed>(
                kernels::pack_gemm_f32(weights_float(w), n, k, float_bias(n), lo, hi));
            const float* a = floats(x);
            float* c = floats(y);
            return [packed, a, c, rows, k, n] { kernels::gemm_f32(*packed, a, rows, k, c, n); };
        }
        case builtin_operator::CONV_2D:
        case builtin_operator::DEPTHWISE_CONV_2D: {
            const bool depthwise = o.builtin_code == builtin_operator::DEPTHWISE_CONV_2D;
            const std::int32_t x = in(0), w = in(1);
            const auto& s = shape_of(x);
            const auto& f = shape_of(w);
            check(s.size() == 4 && f.size() == 4, where, "input and filter must have rank 4, got ", shape_text(s),
                  " and ", shape_text(f));
            auto fill = [&](auto& p, const auto& opt) {
                p.stride_height = opt.stride_h;
                p.stride_width = opt.stride_w;
                p.dilation_height = opt.dilation_h_factor;
                p.dilation_width = opt.dilation_w_factor;
                p.padding = detail::padding_of(opt.padding);
            };
            const std::size_t channels = static_cast<std::size_t>(depthwise ? f[3] : f[0]);
            if (tensor_at(w).type == tensor_type::INT8) {
                const auto act = depthwise ? o.options_as<depthwise_conv_2d_options>().fused_activation_function
                                           : o.options_as<conv_2d_options>().fused_activation_function;
                auto fill_hybrid = [&](auto& p) {
                    p.input_shape = s;
                    p.filter_shape = f;
                    p.weights = weights_int8(w);
                    p.bias = float_bias(channels);
                    p.filter = quant(w, where);
                    p.activation = detail::fused(act, where);
                };
                if (depthwise) {
                    ops::hybrid_depthwise_conv_2d_params p;
                    fill_hybrid(p);
                    fill(p, o.options_as<depthwise_conv_2d_options>());
                    auto prepared = ops::prepare(p);
                    expect_output_shape(prepared.output_shape);
                    return bind_hybrid(std::move(prepared), x);
                }
                ops::hybrid_conv_2d_params p;
                fill_hybrid(p);
                fill(p, o.options_as<conv_2d_options>());
                auto prepared = ops::prepare(p);
                expect_output_shape(prepared.output_shape);
                return bind_hybrid(std::move(prepared), x);
            }
            check(tensor_at(w).type == tensor_type::FLOAT32, where, describe_tensor(w),
                  " (filter) must be FLOAT32 or INT8 (hybrid) for a FLOAT32 input");
            const float* xs = floats(x);
            float* ys = floats(y);
            if (depthwise) {
                const auto& opt = o.options_as<depthwise_conv_2d_options>();
                check(f[0] == 1 && s[3] > 0 && f[3] % s[3] == 0, where, "filter ", shape_text(f),
                      " must be [1, h, w, channels * multiplier] for ", s[3], " input channels");
                kernels::depthwise_f32_params p;
                p.batch = s[0];
                p.input_height = s[1];
                p.input_width = s[2];
                p.input_channels = s[3];
                p.multiplier = f[3] / s[3];
                p.filter_height = f[1];
                p.filter_width = f[2];
                fill(p, opt);
                std::tie(p.lo, p.hi) = detail::float_clamp(opt.fused_activation_function, where);
                auto packed = std::make_shared<kernels::depthwise_f32_packed>(kernels::pack_depthwise_f32(
                    p, weights_float(w), float_bias(channels), kernels::best_float_isa(), where));
                expect_output_shape({s[0], packed->window.height.output_size, packed->window.width.output_size, f[3]});
                return [packed, xs, ys] { kernels::depthwise_f32(*packed, xs, ys); };
            }
            const auto& opt = o.options_as<conv_2d_options>();
            check(f[3] == s[3], where, "filter ", shape_text(f), " reads ", f[3], " channels, the input has ", s[3],
                  " (grouped float convolution is not supported)");
            kernels::conv_f32_params p;
            p.batch = s[0];
            p.input_height = s[1];
            p.input_width = s[2];
            p.input_channels = s[3];
            p.output_channels = f[0];
            p.filter_height = f[1];
            p.filter_width = f[2];
            fill(p, opt);
            std::tie(p.lo, p.hi) = detail::float_clamp(opt.fused_activation_function, where);
            auto packed = std::make_shared<kernels::conv_f32_packed>(
                kernels::pack_conv_f32(p, weights_float(w), float_bias(channels), kernels::best_float_isa(), where));
            expect_output_shape({s[0], packed->window.height.output_size, packed->window.width.output_size, f[0]});
            return [packed, xs, ys] { kernels::conv_f32(*packed, xs, ys); };
        }
        case builtin_operator::AVERAGE_POOL_2D:
        case builtin_operator::MAX_POOL_2D: {
            const auto& opt = o.options_as<pool_2d_options>();
            const std::int32_t x = in(0);
            const auto& s = shape_of(x);
            check(s.size() == 4, where, describe_tensor(x), " must have rank 4");
            kernels::pool_f32_params p;
            p.kind = o.builtin_code == builtin_operator::AVERAGE_POOL_2D ? kernels::pool_f32_kind::average
                                                                         : kernels::pool_f32_kind::max;
            p.batch = s[0];
            p.input_height = s[1];
            p.input_width = s[2];
            p.channels = s[3];
            p.filter_height = opt.filter_height;
            p.filter_width = opt.filter_width;
            p.stride_height = opt.stride_h;
            p.stride_width = opt.stride_w;
            p.padding = detail::padding_of(opt.padding);
            std::tie(p.lo, p.hi) = detail::float_clamp(opt.fused_activation_function, where);
            auto prepared = std::make_shared<kernels::pool_f32_prepared>(kernels::prepare_pool_f32(p, where));
            expect_output_shape({s[0], prepared->window.height.output_size, prepared->window.width.output_size, s[3]});
            const float* xs = floats(x);
            float* ys = floats(y);
            return [prepared, xs, ys] { kernels::pool_f32(*prepared, xs, ys); };
        }
        case builtin_operator::ADD:
        case builtin_operator::SUB:
        case builtin_operator::MUL: {
            const std::int32_t a = in(0), b = in(1);
            check(tensor_at(b).type == tensor_type::FLOAT32, where, describe_tensor(b), " must be FLOAT32");
            activation_function_type act = activation_function_type::NONE;
            kernels::binary_f32_kind kind = kernels::binary_f32_kind::add;
            if (o.builtin_code == builtin_operator::ADD) {
                act = o.options_as<add_options>().fused_activation_function;
            } else if (o.builtin_code == builtin_operator::SUB) {
                act = o.options_as<sub_options>().fused_activation_function;
                kind = kernels::binary_f32_kind::sub;
            } else {
                act = o.options_as<mul_options>().fused_activation_function;
                kind = kernels::binary_f32_kind::mul;
            }
            auto plan = std::make_shared<ops::broadcast_plan>(ops::plan_broadcast(shape_of(a), shape_of(b), where));
            expect_output_shape(plan->output_shape);
            const auto [lo, hi] = detail::float_clamp(act, where);
            const float* as = floats(a);
            const float* bs = floats(b);
            float* ys = floats(y);
            return [plan, kind, as, bs, ys, lo = lo, hi = hi] { kernels::binary_f32(kind, *plan, as, bs, ys, lo, hi); };
        }
        case builtin_operator::CONCATENATION: {
            const auto& opt = o.options_as<concatenation_options>();
            std::vector<const float*> inputs;
            std::vector<qtl::shape> shapes;
            for (std::size_t k = 0; k < o.inputs.size(); ++k) {
                check(tensor_at(in(k)).type == tensor_type::FLOAT32, where, describe_tensor(in(k)), " must be FLOAT32");
                inputs.push_back(floats(in(k)));
                shapes.push_back(shape_of(in(k)));
            }
            const int axis = normalize_axis(opt.axis, shapes[0].size(), where);
            expect_output_shape(kernels::concatenation_f32_shape(shapes, axis, where));
            const auto [lo, hi] = detail::float_clamp(opt.fused_activation_function, where);
            float* ys = floats(y);
            const std::size_t n = num_elements(shape_of(y), where);
            return [inputs, shapes, axis, ys, n, lo = lo, hi = hi] {
                kernels::concatenation_f32(inputs, shapes, axis, ys);
                kernels::clamp_f32(ys, n, lo, hi);
            };
        }
        case builtin_operator::RESHAPE: {
            const std::int32_t x = in(0);
            const std::size_t n = num_elements(shape_of(x), where);
            check(n == num_elements(shape_of(y), where), where, "reshapes ", shape_text(shape_of(x)), " to ",
                  shape_text(shape_of(y)), ": element counts differ");
            const float* xs = floats(x);
            float* ys = floats(y);
            return [xs, ys, n] { std::copy(xs, xs + n, ys); };
        }
        case builtin_operator::SOFTMAX: {
            const std::int32_t x = in(0);
            const auto& s = shape_of(x);
            expect_output_shape(s);
            check(!s.empty() && s.back() > 0, where, describe_tensor(x), " must have rank >= 1 and a non-empty last axis");
            const auto depth = static_cast<std::size_t>(s.back());
            const std::size_t rows = num_elements(s, where) / depth;
            const float beta = o.options_as<softmax_options>().beta;
            const float* xs = floats(x);
            float* ys = floats(y);
            return [xs, ys, rows, depth, beta] { kernels::softmax_f32(xs, ys, rows, depth, beta); };
        }
        case builtin_operator::LOGISTIC:
        case builtin_operator::TANH:
        case builtin_operator::RELU:
        case builtin_operator::RELU6:
        case builtin_operator::LEAKY_RELU:
        case builtin_operator::HARD_SWISH: {
            const std::int32_t x = in(0);
            expect_output_shape(shape_of(x));
            kernels::unary_f32_kind kind = kernels::unary_f32_kind::relu;
            float alpha = 0.0f;
            switch (o.builtin_code) {
                case builtin_operator::LOGISTIC: kind = kernels::unary_f32_kind::logistic; break;
                case builtin_operator::TANH: kind = kernels::unary_f32_kind::tanh; break;
                case builtin_operator::RELU6: kind = kernels::unary_f32_kind::relu6; break;
                case builtin_operator::LEAKY_RELU:
                    kind = kernels::unary_f32_kind::leaky_relu;
                    alpha = o.options_as<leaky_relu_options>().alpha;
                    break;
                case builtin_operator::HARD_SWISH: kind = kernels::unary_f32_kind::hard_swish; break;
                default: break;
            }
            const float* xs = floats(x);
            float* ys = floats(y);
            const std::size_t n = num_elements(shape_of(x), where);
            return [kind, xs, ys, n, alpha] { kernels::unary_f32(kind, xs, ys, n, alpha); };
        }
        case builtin_operator::PAD:
        case builtin_operator::PADV2: {
            const std::int32_t x = in(0);
            const auto& s = shape_of(x);
            const auto flat = constant_ints(in(1), where);
            check(flat.size() == 2 * s.size(), where, "paddings hold ", flat.size(), " values, expected 2 x rank ",
                  s.size());
            std::vector<std::pair<std::int64_t, std::int64_t>> paddings;
            for (std::size_t d = 0; d < s.size(); ++d) paddings.emplace_back(flat[2 * d], flat[2 * d + 1]);
            expect_output_shape(kernels::pad_f32_shape(s, paddings, where));
            float value = 0.0f;
            if (o.builtin_code == builtin_operator::PADV2 && optional_in(2) >= 0) {
                const auto v = typed<float>(in(2), where);
                check(is_constant(in(2)) && v.size() == 1, where, describe_tensor(in(2)),
                      " (constant value) must be one constant float");
                value = v[0];
            }
            const float* xs = floats(x);
            float* ys = floats(y);
            return [xs, ys, s, paddings, value] { kernels::pad_f32(xs, s, paddings, value, ys); };
        }
        case builtin_operator::MEAN: {
            const std::int32_t x = in(0);
            const auto& s = shape_of(x);
            const auto axes = constant_ints(in(1), where);
            expect_output_shape(kernels::mean_f32_shape(s, axes, o.options_as<reducer_options>().keep_dims, where));
            const float* xs = floats(x);
            float* ys = floats(y);
            return [xs, ys, s, axes] { kernels::mean_f32(xs, s, axes, ys); };
        }
        case builtin_operator::TRANSPOSE: {
            const std::int32_t x = in(0);
            const auto& s = shape_of(x);
            const auto perm = constant_ints(in(1), where);
            expect_output_shape(kernels::transpose_f32_shape(s, perm, where));
            const float* xs = floats(x);
            float* ys = floats(y);
            return [xs, ys, s, perm] { kernels::transpose_f32(xs, s, perm, ys); };
        }
        case builtin_operator::STRIDED_SLICE: {
            const auto& opt = o.options_as<strided_slice_options>();
            const std::int32_t x = in(0);
            const auto begin = constant_ints(in(1), where), end = constant_ints(in(2), where);
            const auto strides =
                optional_in(3) >= 0 ? constant_ints(in(3), where) : std::vector<std::int32_t>(begin.size(), 1);
            const auto u = [](std::int32_t m) { return static_cast<std::uint32_t>(m); };
            const auto plan = kernels::plan_strided_slice_f32(shape_of(x), begin, end, strides, u(opt.begin_mask),
                                                              u(opt.end_mask), u(opt.ellipsis_mask),
                                                              u(opt.new_axis_mask), u(opt.shrink_axis_mask), opt.offset);
            expect_output_shape(plan.output_shape);
            const float* xs = floats(x);
            float* ys = floats(y);
            return [xs, ys, plan] { kernels::strided_slice_f32(plan, xs, ys); };
        }
        default: break;
    }
    std::string supported;
    for (auto code : executor_supported_ops)
        if (code != builtin_operator::QUANTIZE && code != builtin_operator::DEQUANTIZE)
            supported += (supported.empty() ? "" : ", ") + std::string(name_of(code));
    throw error(where, "not supported on FLOAT32 inputs by qtl's executor; it runs " + supported);
}

// QUANTIZE: float -> int8/uint8/int16, and the integer requantizations TFLite
// has (int8/uint8 <-> int8/uint8, int16 -> int8/int16/int32, int32 -> int8/int16).
QTL_EXECUTOR_INLINE executor::step executor::prepare_quantize(std::int32_t x, std::int32_t y, const std::string& where) {
    const tensor_type from = tensor_at(x).type, to = tensor_at(y).type;
    auto build = [&]<class In, class Out>() -> step {
        ops::quantize_params<In, Out> p;
        p.shape = tensor_at(x).shape;
        if constexpr (!std::is_same_v<In, float>) p.input = quant(x, where);
        p.output = quant(y, where);
        return bind(ops::prepare(p), const_view<In>(x, where), view<Out>(y, where));
    };
    auto to_type = [&]<class In>() -> step {
        if constexpr (std::is_same_v<In, float>) {
            if (to == tensor_type::INT8) return build.template operator()<In, std::int8_t>();
            if (to == tensor_type::UINT8) return build.template operator()<In, std::uint8_t>();
            if (to == tensor_type::INT16) return build.template operator()<In, std::int16_t>();
        } else if constexpr (std::is_same_v<In, std::int8_t> || std::is_same_v<In, std::uint8_t>) {
            if (to == tensor_type::INT8) return build.template operator()<In, std::int8_t>();
            if (to == tensor_type::UINT8) return build.template operator()<In, std::uint8_t>();
        } else if constexpr (std::is_same_v<In, std::int16_t>) {
            if (to == tensor_type::INT8) return build.template operator()<In, std::int8_t>();
            if (to == tensor_type::INT16) return build.template operator()<In, std::int16_t>();
            if (to == tensor_type::INT32) return build.template operator()<In, std::int32_t>();
        } else {
            if (to == tensor_type::INT8) return build.template operator()<In, std::int8_t>();
            if (to == tensor_type::INT16) return build.template operator()<In, std::int16_t>();
        }
        throw error(where, "no QUANTIZE from " + describe(from) + " to " + describe(to) +
                               " (TFLite has float -> int8/uint8/int16, int8/uint8 -> int8/uint8, "
                               "int16 -> int8/int16/int32, int32 -> int8/int16)");
    };
    switch (from) {
        case tensor_type::FLOAT32: return to_type.template operator()<float>();
        case tensor_type::INT8: return to_type.template operator()<std::int8_t>();
        case tensor_type::UINT8: return to_type.template operator()<std::uint8_t>();
        case tensor_type::INT16: return to_type.template operator()<std::int16_t>();
        case tensor_type::INT32: return to_type.template operator()<std::int32_t>();
        default: throw error(where, describe_tensor(x) + " has type " + describe(from) + ", which QUANTIZE does not take");
    }
}

#endif  // QTL_EXECUTOR_DEFINITIONS

}  // namespace qtl::tflite
