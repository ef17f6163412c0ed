#pragma once
// layer_scheme: how conversion quantizes one layer, as run-time values (what
// a CLI flag or a per-layer override sets), and qtl::scheme<A, W>: the same
// choice as types, for code that knows its network at compile time.
//
//   qtl::scheme<qtl::int8_activation, qtl::int8_weight_per_channel<0>>
//       ::layer() == layer_scheme{int8 activations, int8 per-channel weights}
//
// A pair TFLite cannot run (int8 activations with int16 weights, uint8
// weights, ...) fails to compile with a sentence.

#include <string>
#include <type_traits>

#include "qtl/core/element_types.hpp"
#include "qtl/core/error.hpp"
#include "qtl/quant/scheme.hpp"

namespace qtl {

enum class activation_precision {
    int8,     // int8 asymmetric activations (TFLite's default full-integer mode)
    int16,    // int16 symmetric activations, int8 weights, int64 bias (16x8 mode)
    float32,  // keep the layer in float (selective quantization)
};

enum class weight_granularity { per_tensor, per_channel, per_block };

struct weight_format {
    int bits = 8;  // 8 or 4
    weight_granularity granularity = weight_granularity::per_channel;
    int block_size = 0;  // per_block only: elements of the input dimension sharing a scale

    friend bool operator==(const weight_format&, const weight_format&) = default;
};

struct layer_scheme {
    activation_precision activations = activation_precision::int8;
    weight_format weights;

    friend bool operator==(const layer_scheme&, const layer_scheme&) = default;
};

inline std::string to_string(activation_precision p) {
    switch (p) {
        case activation_precision::int8: return "int8";
        case activation_precision::int16: return "int16";
        case activation_precision::float32: return "float32";
    }
    return "?";
}

inline std::string to_string(const weight_format& w) {
    std::string s = w.bits == 4 ? "int4" : "int8";
    switch (w.granularity) {
        case weight_granularity::per_tensor: return s + " per-tensor";
        case weight_granularity::per_channel: return s + " per-channel";
        case weight_granularity::per_block: return s + " per-block(" + std::to_string(w.block_size) + ")";
    }
    return s;
}

// Throws qtl::error for a format TFLite cannot express.
inline void check_layer_scheme(const layer_scheme& s, const std::string& where) {
    check(s.weights.bits == 8 || s.weights.bits == 4, where, "weights must be 8 or 4 bits, got ", s.weights.bits);
    check(s.weights.granularity != weight_granularity::per_block || s.weights.block_size > 0, where,
          "per-block weights need a block size > 0");
    check(s.weights.granularity != weight_granularity::per_block || s.weights.bits == 4, where,
          "per-block weights are int4 (TFLite's blockwise quantization)");
    check(!(s.activations == activation_precision::int16 && s.weights.bits == 4), where,
          "16x8 mode has int8 weights; int4 weights need int8 activations");
}

// The compile-time spelling: an activation quantizer and a weight quantizer.
template <class Activation, class Weight>
struct scheme {
    static_assert(quantizer_type<Activation> && quantizer_type<Weight>,
                  "qtl::scheme<Activation, Weight>: both must be qtl::quantizer<...> types");
    static_assert(Activation::is_per_tensor, "qtl::scheme: activations are quantized per tensor in TFLite");
    static_assert(std::is_same_v<typename Activation::storage, std::int8_t> ||
                      std::is_same_v<typename Activation::storage, std::int16_t>,
                  "qtl::scheme: activations must be int8 (asymmetric) or int16 (symmetric, 16x8 mode)");
    static_assert(Weight::is_symmetric && Weight::is_narrow_range,
                  "qtl::scheme: TFLite weights are symmetric and narrow-range (int8 [-127, 127], int4 [-7, 7])");
    static_assert(std::is_same_v<typename Weight::storage, std::int8_t> ||
                      std::is_same_v<typename Weight::storage, int4>,
                  "qtl::scheme: weights must be int8 or int4");
    static_assert(!(std::is_same_v<typename Activation::storage, std::int16_t> &&
                    std::is_same_v<typename Weight::storage, int4>),
                  "qtl::scheme: 16x8 mode has int8 weights; int4 weights need int8 activations");
    static_assert(!Weight::is_per_block || std::is_same_v<typename Weight::storage, int4>,
                  "qtl::scheme: per-block weights are int4 (TFLite's blockwise quantization)");

    using activation = Activation;
    using weight = Weight;

    static constexpr layer_scheme layer() {
        layer_scheme s;
        s.activations = std::is_same_v<typename Activation::storage, std::int16_t> ? activation_precision::int16
                                                                                   : activation_precision::int8;
        s.weights.bits = std::is_same_v<typename Weight::storage, int4> ? 4 : 8;
        s.weights.granularity = Weight::is_per_tensor    ? weight_granularity::per_tensor
                                : Weight::is_per_channel ? weight_granularity::per_channel
                                                         : weight_granularity::per_block;
        s.weights.block_size = Weight::block_size;
        return s;
    }
};

// The converter's default: int8 activations, int8 per-channel weights.
using int8_scheme = scheme<int8_activation, int8_weight_per_channel<0>>;
using int8_per_tensor_scheme = scheme<int8_activation, int8_weight_per_tensor>;
using int16x8_scheme = scheme<int16_activation, int8_weight_per_channel<0>>;
using int4_scheme = scheme<int8_activation, int4_weight_per_channel<0>>;

// A layer kept in float (selective quantization).
struct float_layer {
    static constexpr layer_scheme layer() {
        layer_scheme s;
        s.activations = activation_precision::float32;
        return s;
    }
};

}  // namespace qtl
