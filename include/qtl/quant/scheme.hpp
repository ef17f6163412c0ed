#pragma once
// Quantization schemes as types.
//
//   qtl::quantizer<Storage, Mode, Granularity, Range>
//
//   Storage     : std::int8_t, std::uint8_t, std::int16_t or qtl::int4
//   Mode        : qtl::symmetric (zero point 0) or qtl::asymmetric
//   Granularity : qtl::per_tensor, qtl::per_channel<Axis>, qtl::per_block<Axis, BlockSize>
//   Range       : qtl::full_range or qtl::narrow_range (drops the most negative
//                 value so that the range is symmetric: int8 [-127, 127])
//
// A combination TFLite cannot express fails to compile with a sentence that
// says why (see `scheme_error`).  The common schemes have aliases at the end.

#include <cstdint>
#include <string_view>
#include <type_traits>

#include "qtl/core/element_types.hpp"

namespace qtl {

struct symmetric {};
struct asymmetric {};

struct per_tensor {};
template <int Axis>
struct per_channel {
    static constexpr int axis = Axis;
};
// Blocks of BlockSize consecutive elements along Axis, one scale per block
// (and per index of the other dimensions).  The last block may be partial.
template <int Axis, int BlockSize>
struct per_block {
    static constexpr int axis = Axis;
    static constexpr int block_size = BlockSize;
};

struct full_range {};
struct narrow_range {};

namespace detail {
template <class G> struct granularity_traits {  // not a granularity; neutral values keep later checks quiet
    static constexpr bool valid = false, channel = false, block = false;
    static constexpr int axis = 0, block_size = 1;
};
template <> struct granularity_traits<per_tensor> {
    static constexpr bool valid = true, channel = false, block = false;
    static constexpr int axis = -1, block_size = 0;
};
template <int A> struct granularity_traits<per_channel<A>> {
    static constexpr bool valid = true, channel = true, block = false;
    static constexpr int axis = A, block_size = 0;
};
template <int A, int B> struct granularity_traits<per_block<A, B>> {
    static constexpr bool valid = true, channel = false, block = true;
    static constexpr int axis = A, block_size = B;
};
}  // namespace detail

// Why a combination is invalid, or an empty string when it is valid.  The
// quantizer's static_assert messages repeat these sentences.
template <class Storage, class Mode, class Granularity, class Range>
consteval std::string_view scheme_error() {
    using G = detail::granularity_traits<Granularity>;
    constexpr bool sym = std::is_same_v<Mode, symmetric>;
    if (!storage_type<Storage>) return "the storage type must be std::int8_t, std::uint8_t, std::int16_t or qtl::int4";
    if (!sym && !std::is_same_v<Mode, asymmetric>) return "the mode must be qtl::symmetric or qtl::asymmetric";
    if (!G::valid) return "the granularity must be qtl::per_tensor, qtl::per_channel<Axis> or qtl::per_block<Axis, BlockSize>";
    if (!std::is_same_v<Range, full_range> && !std::is_same_v<Range, narrow_range>)
        return "the range must be qtl::full_range or qtl::narrow_range";
    if constexpr (G::valid) {
        if (G::axis < -1) return "the axis must be >= 0";
        if (G::block && G::block_size <= 0) return "the block size must be > 0";
        if (sym && std::is_same_v<Storage, std::uint8_t>)
            return "uint8 is asymmetric only in TFLite: use qtl::asymmetric, or int8 for symmetric";
        if (!sym && std::is_same_v<Storage, int4>)
            return "int4 tensors are weights and TFLite requires them symmetric (zero point 0)";
        if (!sym && std::is_same_v<Storage, std::int16_t>)
            return "int16 activations (TFLite's 16x8 mode) are symmetric with zero point 0";
        if (!sym && (G::channel || G::block))
            return "per-channel and per-block quantization require zero point 0: use qtl::symmetric";
        if (!sym && std::is_same_v<Range, narrow_range>) return "narrow range is only defined for symmetric quantizers";
        if (G::block && !(std::is_same_v<Storage, int4> || std::is_same_v<Storage, std::int8_t>))
            return "per-block quantization is for int4 or int8 weights";
    }
    return "";
}

template <class Storage, class Mode, class Granularity, class Range>
inline constexpr bool is_valid_scheme = scheme_error<Storage, Mode, Granularity, Range>().empty();

template <class Storage, class Mode = asymmetric, class Granularity = per_tensor, class Range = full_range>
struct quantizer {
    static_assert(storage_type<Storage>,
                  "qtl::quantizer: the storage type must be std::int8_t, std::uint8_t, std::int16_t or qtl::int4");
    static_assert(std::is_same_v<Mode, symmetric> || std::is_same_v<Mode, asymmetric>,
                  "qtl::quantizer: the mode must be qtl::symmetric or qtl::asymmetric");
    static_assert(detail::granularity_traits<Granularity>::valid,
                  "qtl::quantizer: the granularity must be qtl::per_tensor, qtl::per_channel<Axis> or "
                  "qtl::per_block<Axis, BlockSize>");
    static_assert(!(std::is_same_v<Mode, symmetric> && std::is_same_v<Storage, std::uint8_t>),
                  "qtl::quantizer: uint8 is asymmetric only in TFLite: use qtl::asymmetric, or int8 for symmetric");
    static_assert(!(std::is_same_v<Mode, asymmetric> && std::is_same_v<Storage, int4>),
                  "qtl::quantizer: int4 tensors are weights and TFLite requires them symmetric (zero point 0)");
    static_assert(!(std::is_same_v<Mode, asymmetric> && std::is_same_v<Storage, std::int16_t>),
                  "qtl::quantizer: int16 activations (TFLite's 16x8 mode) are symmetric with zero point 0");
    static_assert(!(std::is_same_v<Mode, asymmetric> && (detail::granularity_traits<Granularity>::channel ||
                                                          detail::granularity_traits<Granularity>::block)),
                  "qtl::quantizer: per-channel and per-block quantization require zero point 0: use qtl::symmetric");
    static_assert(!(std::is_same_v<Mode, asymmetric> && std::is_same_v<Range, narrow_range>),
                  "qtl::quantizer: narrow range is only defined for symmetric quantizers");
    static_assert(std::is_same_v<Range, full_range> || std::is_same_v<Range, narrow_range>,
                  "qtl::quantizer: the range must be qtl::full_range or qtl::narrow_range");
    static_assert(detail::granularity_traits<Granularity>::axis >= -1, "qtl::quantizer: the axis must be >= 0");
    static_assert(detail::granularity_traits<Granularity>::block_size >= 0,
                  "qtl::quantizer: the block size must be > 0");
    static_assert(!detail::granularity_traits<Granularity>::block || detail::granularity_traits<Granularity>::block_size > 0,
                  "qtl::quantizer: the block size must be > 0");
    static_assert(!detail::granularity_traits<Granularity>::block || std::is_same_v<Storage, int4> ||
                      std::is_same_v<Storage, std::int8_t>,
                  "qtl::quantizer: per-block quantization is for int4 or int8 weights");

    using storage = Storage;
    using value_type = value_type_t<Storage>;  // the C++ type of one unpacked value
    using mode = Mode;
    using granularity = Granularity;
    using range = Range;

    static constexpr bool is_symmetric = std::is_same_v<Mode, symmetric>;
    static constexpr bool is_narrow_range = std::is_same_v<Range, narrow_range>;
    static constexpr bool is_per_tensor = std::is_same_v<Granularity, per_tensor>;
    static constexpr bool is_per_channel = detail::granularity_traits<Granularity>::channel;
    static constexpr bool is_per_block = detail::granularity_traits<Granularity>::block;
    static constexpr int axis = detail::granularity_traits<Granularity>::axis;  // -1 per tensor
    static constexpr int block_size = detail::granularity_traits<Granularity>::block_size;
    static constexpr std::int32_t qmin = is_narrow_range ? element_traits<Storage>::narrow_min : element_traits<Storage>::min;
    static constexpr std::int32_t qmax = element_traits<Storage>::max;
};

template <class T> struct is_quantizer : std::false_type {};
template <class S, class M, class G, class R> struct is_quantizer<quantizer<S, M, G, R>> : std::true_type {};

template <class Q>
concept quantizer_type = is_quantizer<Q>::value;

// TFLite quantizes activations per tensor, never int4.
template <class Q>
concept activation_quantizer = quantizer_type<Q> && Q::is_per_tensor && !std::is_same_v<typename Q::storage, int4>;

// TFLite weights are symmetric (zero point 0), per tensor, per channel or per block.
template <class Q>
concept weight_quantizer = quantizer_type<Q> && Q::is_symmetric && !std::is_same_v<typename Q::storage, std::uint8_t>;

// For code that takes a scheme for a role: a static_assert with a sentence
// instead of an unsatisfied-constraint dump.
template <class Q>
consteval void require_activation_quantizer() {
    static_assert(quantizer_type<Q>, "qtl: an activation scheme must be a qtl::quantizer<...>");
    static_assert(Q::is_per_tensor, "qtl: activations must be quantized per tensor: TFLite has no per-channel activations");
    static_assert(!std::is_same_v<typename Q::storage, int4>, "qtl: TFLite has no int4 activations");
}
template <class Q>
consteval void require_weight_quantizer() {
    static_assert(quantizer_type<Q>, "qtl: a weight scheme must be a qtl::quantizer<...>");
    static_assert(Q::is_symmetric, "qtl: TFLite weights must be symmetric (zero point 0)");
}

// --- The schemes TFLite's converter uses --------------------------------------
using int8_activation = quantizer<std::int8_t, asymmetric>;
using uint8_activation = quantizer<std::uint8_t, asymmetric>;
using int16_activation = quantizer<std::int16_t, symmetric>;  // 16x8 mode
using int8_weight_per_tensor = quantizer<std::int8_t, symmetric, per_tensor, narrow_range>;
template <int Axis = 0>
using int8_weight_per_channel = quantizer<std::int8_t, symmetric, per_channel<Axis>, narrow_range>;
template <int Axis = 0>
using int4_weight_per_channel = quantizer<int4, symmetric, per_channel<Axis>, narrow_range>;
template <int Axis, int BlockSize>
using int4_weight_per_block = quantizer<int4, symmetric, per_block<Axis, BlockSize>, narrow_range>;

}  // namespace qtl
