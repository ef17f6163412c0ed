#pragma once
// quantized_layer: what a user-defined quantized layer provides, so that qtl
// can calibrate it, run it in integers and, where TFLite has an equivalent
// builtin operator, export it (docs/custom_layer.md walks through an example).
//
//   struct my_layer {
//       using activation_scheme = qtl::int8_activation;   // input and output quantizer
//       using weight_scheme = qtl::ops::no_weights;       // or a weight quantizer
//       static constexpr std::string_view name = "my_layer";
//       static constexpr qtl::ops::tflite_builtin_op tflite_builtin = qtl::ops::no_tflite_builtin;
//       struct prepared { ... };                           // integer parameters
//
//       qtl::shape output_shape(const qtl::shape& input) const;
//       void forward(tensor_view<const float> x, tensor_view<float> y) const;   // float math
//       prepared prepare(const qtl::ops::layer_quantization& q) const;          // once
//       static void eval(const prepared&, tensor_view<const V> x, tensor_view<V> y);  // V: the scheme's value type
//   };
//
// The roles:
//  - activation_scheme (an activation_quantizer: per tensor, int8 / uint8 /
//    int16) quantizes the layer's input and output; weight_scheme (a
//    weight_quantizer, or no_weights) its constant tensors, quantized by the
//    layer's own prepare().
//  - forward() is the float definition.  Calibration runs it on sample data
//    and records the input and output ranges (TFLite's min/max calibration,
//    calibrate()); the ranges give per-tensor parameters through the
//    activation scheme (choose_quantization()); later accuracy checks compare
//    eval() with it.
//  - prepare() turns those parameters into integer ones once (multipliers
//    from quantize_multiplier, clamp ranges, tables), and eval() is the
//    integer kernel.  eval() should end in the shared requantize stage
//    (requantize / requantize_n from fixedpoint/) so that it rounds like
//    every builtin op; a concept cannot check that, the layer's tests do.
//  - tflite_builtin says which TFLite builtin operator (code, version)
//    computes the same integers, or no_tflite_builtin.  The graph exporter
//    calls require_exportable(), which refuses a layer without one with a
//    qtl::error naming it.

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "qtl/core/error.hpp"
#include "qtl/core/shape.hpp"
#include "qtl/core/tensor_view.hpp"
#include "qtl/quant/choose_params.hpp"
#include "qtl/quant/scheme.hpp"
#include "qtl/quant/value_range.hpp"

namespace qtl::ops {

// weight_scheme of a layer without constant tensors.
struct no_weights {};

template <class W>
concept layer_weight_scheme = std::is_same_v<W, no_weights> || weight_quantizer<W>;

// The TFLite builtin operator a layer exports as: its BuiltinOperator code
// and the op version of the layer's type signature, or none (code -1).
struct tflite_builtin_op {
    int code = -1;
    int version = 0;
    std::string_view name;

    constexpr bool exportable() const noexcept { return code >= 0; }
    friend constexpr bool operator==(const tflite_builtin_op&, const tflite_builtin_op&) = default;
};

inline constexpr tflite_builtin_op no_tflite_builtin{};

// What calibration observed: the float ranges of the layer's input and output.
struct layer_ranges {
    value_range input;
    value_range output;
};

// Per-tensor quantization of the layer's input and output.
struct layer_quantization {
    scale_and_zero_point input;
    scale_and_zero_point output;
};

// The C++ type a layer's quantized activations are stored in.
template <class L>
using layer_value_t = typename L::activation_scheme::value_type;

template <class L>
concept quantized_layer =
    requires {
        typename L::activation_scheme;
        typename L::weight_scheme;
        typename L::prepared;
        { L::name } -> std::convertible_to<std::string_view>;
        { L::tflite_builtin } -> std::convertible_to<tflite_builtin_op>;
    } && activation_quantizer<typename L::activation_scheme> && layer_weight_scheme<typename L::weight_scheme> &&
    requires(const L& layer, const qtl::shape& s, tensor_view<const float> x, tensor_view<float> y,
             const layer_quantization& q, const typename L::prepared& p, tensor_view<const layer_value_t<L>> xq,
             tensor_view<layer_value_t<L>> yq) {
        { layer.output_shape(s) } -> std::same_as<qtl::shape>;
        { layer.forward(x, y) } -> std::same_as<void>;
        { layer.prepare(q) } -> std::same_as<typename L::prepared>;
        { L::eval(p, xq, yq) } -> std::same_as<void>;
    };

// Runs the float forward on every sample and widens the input and output
// ranges (min/max calibration).  NaN or infinite values are a qtl::error
// naming the sample and the element.
template <quantized_layer L>
layer_ranges calibrate(const L& layer, std::span<const tensor_view<const float>> samples) {
    const std::string where = qtl::detail::concat("calibrating layer ", L::name);
    layer_ranges r;
    std::vector<float> output;
    for (std::size_t k = 0; k < samples.size(); ++k) {
        const tensor_view<const float>& x = samples[k];
        const qtl::shape out_shape = layer.output_shape(x.shape);
        output.assign(num_elements(out_shape, where), 0.0f);
        layer.forward(x, tensor_view<float>(output, out_shape));
        for (std::size_t i = 0; i < x.size(); ++i) {
            check(std::isfinite(x[i]), where, "sample ", k, " input element ", i, " is ", x[i]);
            r.input.include(x[i]);
        }
        for (std::size_t i = 0; i < output.size(); ++i) {
            check(std::isfinite(output[i]), where, "sample ", k, " output element ", i, " is ", output[i]);
            r.output.include(output[i]);
        }
    }
    return r;
}

// Per-tensor parameters of the input and output from the calibrated ranges,
// the way TFLite's converter chooses them for L's activation scheme.
template <quantized_layer L>
layer_quantization choose_quantization(const layer_ranges& r) {
    using Q = typename L::activation_scheme;
    const std::string where = qtl::detail::concat("layer ", L::name);
    return {choose_scale_and_zero_point<Q>(r.input, where + " input"),
            choose_scale_and_zero_point<Q>(r.output, where + " output")};
}

// calibrate, choose_quantization and prepare in one call.
template <quantized_layer L>
typename L::prepared calibrate_and_prepare(const L& layer, std::span<const tensor_view<const float>> samples) {
    return layer.prepare(choose_quantization<L>(calibrate(layer, samples)));
}

// The export guard: the builtin `op` to emit for the graph layer
// `layer_name` of type `type_name`, or a qtl::error saying that it has none.
inline tflite_builtin_op require_exportable(const tflite_builtin_op& op, std::string_view layer_name,
                                            std::string_view type_name) {
    check(op.exportable(), qtl::detail::concat("layer '", layer_name, "'"), "cannot be exported to TFLite: ", type_name,
          " has no TFLite builtin equivalent (its tflite_builtin is none); run the model with qtl's integer "
          "executor, or express the layer with builtin ops");
    return op;
}

template <quantized_layer L>
tflite_builtin_op require_exportable(std::string_view layer_name) {
    return require_exportable(L::tflite_builtin, layer_name, L::name);
}

}  // namespace qtl::ops
