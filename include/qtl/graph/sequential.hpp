#pragma once
// qtl::sequential: a feed-forward network whose layer sizes are template
// arguments.  The compiler checks that consecutive layers fit, the weights
// live in std::arrays inside the object (no allocation per call), forward()
// is a chain of fixed-size loops the compiler can unroll and vectorize, and
// to_graph() lowers the same network to qtl::graph for calibration and
// conversion.
//
//   using mlp = qtl::sequential<qtl::dense<784, 128, qtl::int8_scheme, qtl::relu>,
//                               qtl::dense<128, 10, qtl::int8_scheme>,
//                               qtl::softmax_layer<10>>;
//   auto net = std::make_unique<mlp>();      // ~400 KB of weights: keep big nets off the stack
//   net->load_npz("weights.npz");            // "dense_0/kernel" [784, 128] (Keras layout), "dense_0/bias", ...
//   std::array<float, 10> y = net->forward(x);
//   qtl::graph g = net->to_graph();
//
// Layers: dense<In, Out, Scheme, Activation>, softmax_layer<N, Scheme>,
// conv2d<H, W, C, F, K, S, Pad, Scheme, Activation>, max_pool2d<H, W, C, P, S>.
// Activations are NHWC and flat in forward(); to_graph() inserts a RESHAPE
// where an image layer meets a flat one (Keras' Flatten).
//
// Layers are named "<kind>_<n>" counting per kind (dense_0, dense_1,
// softmax_0, conv2d_0, max_pool_0); the names are the graph's node names, the
// layer_schemes() keys and the .npz key prefixes.  Change them through
// names() before loading or lowering.

#include <algorithm>
#include <array>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "qtl/core/error.hpp"
#include "qtl/core/shape.hpp"
#include "qtl/graph/builder.hpp"
#include "qtl/graph/graph.hpp"
#include "qtl/graph/layer_scheme.hpp"
#include "qtl/io/npz.hpp"
#include "qtl/ops/fused_activation.hpp"

namespace qtl {

// ---- activations of dense / conv2d layers (fused into the TFLite op) -----------

struct linear {
    static constexpr fused_activation fused = fused_activation::none;
    static constexpr float apply(float x) noexcept { return x; }
};
struct relu {
    static constexpr fused_activation fused = fused_activation::relu;
    static constexpr float apply(float x) noexcept { return x > 0.0f ? x : 0.0f; }
};
struct relu6 {
    static constexpr fused_activation fused = fused_activation::relu6;
    static constexpr float apply(float x) noexcept { return x > 0.0f ? (x < 6.0f ? x : 6.0f) : 0.0f; }
};

template <class A>
concept fused_activation_tag = requires(float x) {
    { A::fused } -> std::convertible_to<fused_activation>;
    { A::apply(x) } -> std::same_as<float>;
};

// qtl::scheme<A, W> (int8_scheme, int4_scheme, ...) or qtl::float_layer.
template <class S>
concept layer_scheme_type = requires {
    { S::layer() } -> std::same_as<layer_scheme>;
};

namespace detail::sequential_impl {

// Dot product with eight independent partial sums: the compiler turns the
// inner loop into one vector multiply-add without -ffast-math.
template <std::size_t N>
inline float dot(const float* a, const float* b) noexcept {
    constexpr std::size_t body = N / 8 * 8;
    float acc[8] = {};
    for (std::size_t i = 0; i < body; i += 8)
        for (std::size_t k = 0; k < 8; ++k) acc[k] += a[i + k] * b[i + k];
    float tail = 0.0f;
    if constexpr (body < N)
        for (std::size_t i = body; i < N; ++i) tail += a[i] * b[i];
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail;
}

inline const npy::array& find(const npz::archive& z, const std::string& key, const qtl::shape& expected,
                              const std::string& where) {
    const auto it = z.find(key);
    if (it == z.end()) {
        std::string have;
        for (const auto& [k, v] : z) have += (have.empty() ? "" : ", ") + k;
        throw error(where, detail::concat("missing key '", key, "' (expected float32 ", to_string(expected),
                                          "); the archive has: ", have.empty() ? "nothing" : have));
    }
    check(it->second.type == npy::dtype::float32, where, "key '", key, "' is ", npy::dtype_name(it->second.type),
          ", expected float32 ", shape_text(expected));
    check(it->second.shape == expected, where, "key '", key, "' has shape ", shape_text(it->second.shape),
          ", expected ", shape_text(expected));
    return it->second;
}

template <class T>
npy::array make(const T& values, qtl::shape s) {
    return npy::make_array<float>(std::span<const float>(values.data(), values.size()), std::move(s));
}

}  // namespace detail::sequential_impl

// ---- layers ----------------------------------------------------------------------
// A layer has: inputs / outputs (element counts), kind (default name stem),
// forward(in, out), lower(builder, x, name), load(archive, name, where, apply)
// and save(archive, name).  Layers with a Scheme also have scheme_type.

// Fully connected: y = act(W x + b), W [Out, In] (TFLite's layout), b [Out].
template <std::size_t In, std::size_t Out, class Scheme = int8_scheme, class Activation = linear>
struct dense {
    static_assert(In > 0 && Out > 0, "qtl::dense<In, Out>: both sizes must be > 0");
    static_assert(layer_scheme_type<Scheme>,
                  "qtl::dense<In, Out, Scheme, Activation>: Scheme must be a qtl::scheme<ActivationQuantizer, "
                  "WeightQuantizer> such as qtl::int8_scheme, or qtl::float_layer");
    static_assert(fused_activation_tag<Activation>,
                  "qtl::dense<In, Out, Scheme, Activation>: Activation must be qtl::linear, qtl::relu or qtl::relu6");

    static constexpr std::size_t inputs = In, outputs = Out;
    static constexpr const char* kind = "dense";
    using scheme_type = Scheme;
    using activation = Activation;

    std::array<float, Out * In> weights{};  // row o holds the In weights of output o
    std::array<float, Out> bias{};

    float& weight(std::size_t out, std::size_t in) { return weights[out * In + in]; }
    float weight(std::size_t out, std::size_t in) const { return weights[out * In + in]; }

    void forward(const float* x, float* y) const noexcept {
        for (std::size_t o = 0; o < Out; ++o)
            y[o] = Activation::apply(bias[o] + detail::sequential_impl::dot<In>(weights.data() + o * In, x));
    }

    static qtl::shape input_shape(std::int32_t batch) { return {batch, static_cast<std::int32_t>(In)}; }

    graph_builder::tensor lower(graph_builder& b, graph_builder::tensor x, const std::string& name) const {
        return b.fully_connected(x, name, weights, {static_cast<std::int32_t>(Out), static_cast<std::int32_t>(In)},
                                 bias, Activation::fused);
    }

    // Keras layout: kernel [In, Out], transposed here.  With apply == false
    // only checks (so a bad archive changes nothing).
    void load(const npz::archive& z, const std::string& name, const std::string& where, bool apply) {
        const auto& k = detail::sequential_impl::find(z, name + "/kernel", kernel_shape(), where);
        const auto& b = detail::sequential_impl::find(z, name + "/bias", {static_cast<std::int32_t>(Out)}, where);
        if (!apply) return;
        const auto kv = k.values<float>(where);
        for (std::size_t i = 0; i < In; ++i)
            for (std::size_t o = 0; o < Out; ++o) weights[o * In + i] = kv[i * Out + o];
        const auto bv = b.values<float>(where);
        std::copy(bv.begin(), bv.end(), bias.begin());
    }
    void save(npz::archive& z, const std::string& name) const {
        std::vector<float> k(In * Out);
        for (std::size_t i = 0; i < In; ++i)
            for (std::size_t o = 0; o < Out; ++o) k[i * Out + o] = weights[o * In + i];
        z[name + "/kernel"] = detail::sequential_impl::make(k, kernel_shape());
        z[name + "/bias"] = detail::sequential_impl::make(bias, {static_cast<std::int32_t>(Out)});
    }

private:
    static qtl::shape kernel_shape() { return {static_cast<std::int32_t>(In), static_cast<std::int32_t>(Out)}; }
};

// Softmax over N values: y_i = exp(beta x_i) / sum_j exp(beta x_j).  The
// Scheme picks int8 or int16 activations (TFLite fixes the output
// quantization of SOFTMAX).
template <std::size_t N, class Scheme = int8_scheme>
struct softmax_layer {
    static_assert(N > 0, "qtl::softmax_layer<N>: N must be > 0");
    static_assert(layer_scheme_type<Scheme>,
                  "qtl::softmax_layer<N, Scheme>: Scheme must be a qtl::scheme<ActivationQuantizer, "
                  "WeightQuantizer> such as qtl::int8_scheme, or qtl::float_layer");

    static constexpr std::size_t inputs = N, outputs = N;
    static constexpr const char* kind = "softmax";
    using scheme_type = Scheme;

    float beta = 1.0f;

    void forward(const float* x, float* y) const noexcept {
        float m = x[0];
        for (std::size_t i = 1; i < N; ++i) m = x[i] > m ? x[i] : m;
        float sum = 0.0f;
        for (std::size_t i = 0; i < N; ++i) sum += y[i] = std::exp(beta * (x[i] - m));
        const float inv = 1.0f / sum;
        for (std::size_t i = 0; i < N; ++i) y[i] *= inv;
    }

    static qtl::shape input_shape(std::int32_t batch) { return {batch, static_cast<std::int32_t>(N)}; }

    graph_builder::tensor lower(graph_builder& b, graph_builder::tensor x, const std::string& name) const {
        return b.softmax(x, beta, name);
    }
    void load(const npz::archive&, const std::string&, const std::string&, bool) {}
    void save(npz::archive&, const std::string&) const {}
};

// 2-D convolution over an H x W x C image (NHWC, batch 1 per forward call)
// with F filters of K x K, stride S: y = act(conv(x, W) + b).  Filters
// [F, K, K, C] (TFLite's CONV_2D layout), bias [F].  Padding as TFLite:
// SAME keeps ceil(H / S) rows, VALID keeps floor((H - K) / S) + 1.
template <std::size_t H, std::size_t W, std::size_t C, std::size_t F, std::size_t K, std::size_t S = 1,
          tflite::padding Pad = tflite::padding::VALID, class Scheme = int8_scheme, class Activation = linear>
struct conv2d {
    static_assert(H > 0 && W > 0 && C > 0 && F > 0 && K > 0 && S > 0,
                  "qtl::conv2d<H, W, C, F, K, S>: every size must be > 0");
    static_assert(Pad == tflite::padding::SAME || (K <= H && K <= W),
                  "qtl::conv2d: a VALID convolution needs the kernel to fit in the image");
    static_assert(layer_scheme_type<Scheme>,
                  "qtl::conv2d<H, W, C, F, K, S, Pad, Scheme, Activation>: Scheme must be a "
                  "qtl::scheme<ActivationQuantizer, WeightQuantizer> such as qtl::int8_scheme, or qtl::float_layer");
    static_assert(fused_activation_tag<Activation>,
                  "qtl::conv2d: Activation must be qtl::linear, qtl::relu or qtl::relu6");

    static constexpr std::size_t out_h = Pad == tflite::padding::SAME ? (H + S - 1) / S : (H - K) / S + 1;
    static constexpr std::size_t out_w = Pad == tflite::padding::SAME ? (W + S - 1) / S : (W - K) / S + 1;
    static constexpr std::array<std::size_t, 3> input_hwc{H, W, C}, output_hwc{out_h, out_w, F};
    static constexpr std::size_t inputs = H * W * C, outputs = out_h * out_w * F;
    static constexpr const char* kind = "conv2d";
    using scheme_type = Scheme;
    using activation = Activation;

    std::array<float, F * K * K * C> weights{};
    std::array<float, F> bias{};

    float& weight(std::size_t f, std::size_t ky, std::size_t kx, std::size_t c) {
        return weights[((f * K + ky) * K + kx) * C + c];
    }

    void forward(const float* x, float* y) const noexcept {
        // TFLite puts the odd padding pixel at the bottom / right.
        constexpr long pad_top = static_cast<long>(pad_before(H, out_h));
        constexpr long pad_left = static_cast<long>(pad_before(W, out_w));
        for (std::size_t oy = 0; oy < out_h; ++oy)
            for (std::size_t ox = 0; ox < out_w; ++ox) {
                float* out = y + (oy * out_w + ox) * F;
                for (std::size_t f = 0; f < F; ++f) out[f] = bias[f];
                for (std::size_t ky = 0; ky < K; ++ky) {
                    const long iy = static_cast<long>(oy * S + ky) - pad_top;
                    if (iy < 0 || iy >= static_cast<long>(H)) continue;
                    for (std::size_t kx = 0; kx < K; ++kx) {
                        const long ix = static_cast<long>(ox * S + kx) - pad_left;
                        if (ix < 0 || ix >= static_cast<long>(W)) continue;
                        const float* px = x + (static_cast<std::size_t>(iy) * W + static_cast<std::size_t>(ix)) * C;
                        for (std::size_t f = 0; f < F; ++f)
                            out[f] += detail::sequential_impl::dot<C>(weights.data() + ((f * K + ky) * K + kx) * C, px);
                    }
                }
                for (std::size_t f = 0; f < F; ++f) out[f] = Activation::apply(out[f]);
            }
    }

    static qtl::shape input_shape(std::int32_t batch) {
        return {batch, static_cast<std::int32_t>(H), static_cast<std::int32_t>(W), static_cast<std::int32_t>(C)};
    }

    graph_builder::tensor lower(graph_builder& b, graph_builder::tensor x, const std::string& name) const {
        conv_2d_params p;
        p.stride = static_cast<std::int32_t>(S);
        p.padding = Pad;
        p.activation = Activation::fused;
        return b.conv_2d(x, name, weights, filter_shape(), bias, p);
    }

    // Keras layout: kernel [K, K, C, F], reordered to [F, K, K, C] here.
    void load(const npz::archive& z, const std::string& name, const std::string& where, bool apply) {
        const auto& k = detail::sequential_impl::find(z, name + "/kernel", keras_shape(), where);
        const auto& b = detail::sequential_impl::find(z, name + "/bias", {static_cast<std::int32_t>(F)}, where);
        if (!apply) return;
        const auto kv = k.values<float>(where);
        for_each_tap([&](std::size_t ours, std::size_t keras) { weights[ours] = kv[keras]; });
        const auto bv = b.values<float>(where);
        std::copy(bv.begin(), bv.end(), bias.begin());
    }
    void save(npz::archive& z, const std::string& name) const {
        std::vector<float> k(weights.size());
        for_each_tap([&](std::size_t ours, std::size_t keras) { k[keras] = weights[ours]; });
        z[name + "/kernel"] = detail::sequential_impl::make(k, keras_shape());
        z[name + "/bias"] = detail::sequential_impl::make(bias, {static_cast<std::int32_t>(F)});
    }

private:
    static constexpr std::size_t pad_before(std::size_t in, std::size_t out) {
        const std::size_t needed = (out - 1) * S + K;
        return Pad == tflite::padding::SAME && needed > in ? (needed - in) / 2 : 0;
    }
    static qtl::shape filter_shape() {
        return {static_cast<std::int32_t>(F), static_cast<std::int32_t>(K), static_cast<std::int32_t>(K),
                static_cast<std::int32_t>(C)};
    }
    static qtl::shape keras_shape() {
        return {static_cast<std::int32_t>(K), static_cast<std::int32_t>(K), static_cast<std::int32_t>(C),
                static_cast<std::int32_t>(F)};
    }
    // fn(index in [F, K, K, C], index in Keras' [K, K, C, F]) for every weight.
    template <class Fn>
    static void for_each_tap(Fn&& fn) {
        for (std::size_t f = 0; f < F; ++f)
            for (std::size_t ky = 0; ky < K; ++ky)
                for (std::size_t kx = 0; kx < K; ++kx)
                    for (std::size_t c = 0; c < C; ++c)
                        fn(((f * K + ky) * K + kx) * C + c, ((ky * K + kx) * C + c) * F + f);
    }
};

// Max pooling of an H x W x C image over P x P windows with stride S, VALID
// (Keras' MaxPooling2D defaults).  No weights and no scheme of its own:
// TFLite keeps the input's quantization.
template <std::size_t H, std::size_t W, std::size_t C, std::size_t P = 2, std::size_t S = P>
struct max_pool2d {
    static_assert(H > 0 && W > 0 && C > 0 && P > 0 && S > 0, "qtl::max_pool2d<H, W, C, P, S>: sizes must be > 0");
    static_assert(P <= H && P <= W, "qtl::max_pool2d: the window must fit in the image");

    static constexpr std::size_t out_h = (H - P) / S + 1, out_w = (W - P) / S + 1;
    static constexpr std::array<std::size_t, 3> input_hwc{H, W, C}, output_hwc{out_h, out_w, C};
    static constexpr std::size_t inputs = H * W * C, outputs = out_h * out_w * C;
    static constexpr const char* kind = "max_pool";

    void forward(const float* x, float* y) const noexcept {
        for (std::size_t oy = 0; oy < out_h; ++oy)
            for (std::size_t ox = 0; ox < out_w; ++ox) {
                float* out = y + (oy * out_w + ox) * C;
                const float* first = x + (oy * S * W + ox * S) * C;
                for (std::size_t c = 0; c < C; ++c) out[c] = first[c];
                for (std::size_t ky = 0; ky < P; ++ky)
                    for (std::size_t kx = 0; kx < P; ++kx) {
                        const float* px = x + ((oy * S + ky) * W + ox * S + kx) * C;
                        for (std::size_t c = 0; c < C; ++c) out[c] = px[c] > out[c] ? px[c] : out[c];
                    }
            }
    }

    static qtl::shape input_shape(std::int32_t batch) {
        return {batch, static_cast<std::int32_t>(H), static_cast<std::int32_t>(W), static_cast<std::int32_t>(C)};
    }
    graph_builder::tensor lower(graph_builder& b, graph_builder::tensor x, const std::string& name) const {
        pool_2d_params p;
        p.filter = static_cast<std::int32_t>(P);
        p.stride = static_cast<std::int32_t>(S);
        return b.max_pool_2d(x, p, name);
    }
    void load(const npz::archive&, const std::string&, const std::string&, bool) {}
    void save(npz::archive&, const std::string&) const {}
};

template <class L>
concept sequential_layer = requires(const L& cl, L& l, const float* in, float* out, graph_builder& b,
                                    graph_builder::tensor x, const std::string& s, const npz::archive& z,
                                    npz::archive& zo) {
    { L::inputs } -> std::convertible_to<std::size_t>;
    { L::outputs } -> std::convertible_to<std::size_t>;
    { L::kind } -> std::convertible_to<const char*>;
    cl.forward(in, out);
    { L::input_shape(std::int32_t{1}) } -> std::same_as<qtl::shape>;
    { cl.lower(b, x, s) } -> std::same_as<graph_builder::tensor>;
    l.load(z, s, s, true);
    cl.save(zo, s);
};

namespace detail::sequential_impl {

template <std::size_t N> struct at_layer {};
template <std::size_t N> struct expects_inputs {};
template <std::size_t N> struct but_previous_layer_produces {};
template <std::size_t H, std::size_t W, std::size_t C> struct expects_hwc {};
template <std::size_t H, std::size_t W, std::size_t C> struct but_previous_layer_produces_hwc {};

// Instantiated for every pair of neighbours; the failing one's template
// arguments, printed by the compiler with the message, carry the numbers
// (a static_assert message cannot be formatted in C++20).
template <class Layer, class Expects, class Produces>
struct link;
template <std::size_t I, std::size_t E, std::size_t P>
struct link<at_layer<I>, expects_inputs<E>, but_previous_layer_produces<P>> {
    static_assert(E == P,
                  "qtl::sequential: a layer's input size must equal the previous layer's output size "
                  "(the instantiation of link<at_layer<i>, expects_inputs<n>, but_previous_layer_produces<m>> "
                  "above has the numbers)");
    static constexpr bool ok = true;
};

template <class L>
constexpr bool has_hwc = requires { L::input_hwc; };

// Two image layers in a row must agree on height, width and channels, not
// just on the element count.
template <class Layer, class Expects, class Produces>
struct image_link {
    static constexpr bool ok = true;
};
template <std::size_t I, std::size_t EH, std::size_t EW, std::size_t EC, std::size_t PH, std::size_t PW,
          std::size_t PC>
struct image_link<at_layer<I>, expects_hwc<EH, EW, EC>, but_previous_layer_produces_hwc<PH, PW, PC>> {
    static_assert(EH == PH && EW == PW && EC == PC,
                  "qtl::sequential: an image layer's input height, width and channels must equal the previous "
                  "layer's output (the instantiation of image_link<at_layer<i>, expects_hwc<h, w, c>, "
                  "but_previous_layer_produces_hwc<h, w, c>> above has the numbers)");
    static constexpr bool ok = true;
};

template <class Prev, class Next, std::size_t I>
constexpr bool image_link_ok() {
    if constexpr (has_hwc<Prev> && has_hwc<Next>)
        return image_link<at_layer<I>, expects_hwc<Next::input_hwc[0], Next::input_hwc[1], Next::input_hwc[2]>,
                          but_previous_layer_produces_hwc<Prev::output_hwc[0], Prev::output_hwc[1],
                                                          Prev::output_hwc[2]>>::ok;
    else
        return true;
}

template <class... L, std::size_t... I>
constexpr bool links_ok(std::index_sequence<I...>) {
    using T = std::tuple<L...>;
    return (link<at_layer<I + 1>, expects_inputs<std::tuple_element_t<I + 1, T>::inputs>,
                 but_previous_layer_produces<std::tuple_element_t<I, T>::outputs>>::ok &&
            ... && true) &&
           (image_link_ok<std::tuple_element_t<I, T>, std::tuple_element_t<I + 1, T>, I + 1>() && ... && true);
}

template <class L>
constexpr bool has_scheme = requires { typename L::scheme_type; };

}  // namespace detail::sequential_impl

template <class... Layers>
class sequential {
    static_assert(sizeof...(Layers) > 0, "qtl::sequential: needs at least one layer");
    static_assert((sequential_layer<Layers> && ...),
                  "qtl::sequential: every layer must be a qtl layer type (qtl::dense, qtl::softmax_layer, "
                  "qtl::conv2d, qtl::max_pool2d)");
    static_assert(detail::sequential_impl::links_ok<Layers...>(std::make_index_sequence<sizeof...(Layers) - 1>{}));

    using layers_tuple = std::tuple<Layers...>;

public:
    static constexpr std::size_t size = sizeof...(Layers);
    static constexpr std::size_t inputs = std::tuple_element_t<0, layers_tuple>::inputs;
    static constexpr std::size_t outputs = std::tuple_element_t<size - 1, layers_tuple>::outputs;
    using input_type = std::array<float, inputs>;
    using output_type = std::array<float, outputs>;
    template <std::size_t I>
    using layer_type = std::tuple_element_t<I, layers_tuple>;

    sequential() {
        std::map<std::string, int> counts;
        std::size_t i = 0;
        ((names_[i++] = std::string(Layers::kind) + "_" + std::to_string(counts[Layers::kind]++)), ...);
    }

    template <std::size_t I>
    layer_type<I>& layer() noexcept { return std::get<I>(layers_); }
    template <std::size_t I>
    const layer_type<I>& layer() const noexcept { return std::get<I>(layers_); }

    // Layer names (graph node names, .npz key prefixes, layer_schemes() keys).
    std::array<std::string, size>& names() noexcept { return names_; }
    const std::array<std::string, size>& names() const noexcept { return names_; }

    output_type forward(const input_type& x) const {
        output_type y;
        run<0>(x.data(), y.data());
        return y;
    }
    void forward(const float* x, float* y) const { run<0>(x, y); }

    // The float graph: input "input" [batch, ...], one node per layer named
    // after it, output the last layer's.
    qtl::graph to_graph(std::int32_t batch = 1) const {
        check(batch >= 1, "qtl::sequential::to_graph", "batch must be >= 1, got ", batch);
        graph_builder b;
        auto x = b.input("input", layer_type<0>::input_shape(batch));
        lower_all(b, x, batch, std::make_index_sequence<size>{});
        return std::move(b).build();
    }

    // Node name -> Scheme::layer() for every layer that has a Scheme.
    std::map<std::string, layer_scheme> layer_schemes() const {
        std::map<std::string, layer_scheme> out;
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            ((detail::sequential_impl::has_scheme<layer_type<I>>
                  ? void(out[names_[I]] = scheme_of<layer_type<I>>())
                  : void()),
             ...);
        }(std::make_index_sequence<size>{});
        return out;
    }

    // Weights from an archive: "<name>/kernel" (Keras layout) and
    // "<name>/bias" per weighted layer.  Everything is checked before
    // anything changes.
    void load(const npz::archive& z, const std::string& source = "npz archive") {
        const std::string where = "qtl::sequential::load " + source;
        for (bool apply : {false, true})
            [&]<std::size_t... I>(std::index_sequence<I...>) {
                (std::get<I>(layers_).load(z, names_[I], where, apply), ...);
            }(std::make_index_sequence<size>{});
    }
    void load_npz(const std::string& path) { load(npz::read_file(path), "'" + path + "'"); }

    npz::archive to_npz() const {
        npz::archive z;
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            (std::get<I>(layers_).save(z, names_[I]), ...);
        }(std::make_index_sequence<size>{});
        return z;
    }
    void save_npz(const std::string& path) const { npz::write_file(path, to_npz()); }

private:
    layers_tuple layers_;
    std::array<std::string, size> names_;

    template <class L>
    static constexpr layer_scheme scheme_of() {
        if constexpr (detail::sequential_impl::has_scheme<L>) return L::scheme_type::layer();
        else return {};
    }

    // Layer I reads `in`; its output goes to a stack buffer (or `out` for the last).
    template <std::size_t I>
    void run(const float* in, float* out) const {
        if constexpr (I + 1 == size) {
            std::get<I>(layers_).forward(in, out);
        } else {
            std::array<float, layer_type<I>::outputs> mid;
            std::get<I>(layers_).forward(in, mid.data());
            run<I + 1>(mid.data(), out);
        }
    }

    // Between an image layer and a dense one (either way) the activation
    // changes rank: a RESHAPE to the next layer's input shape goes between,
    // as Keras' Flatten / Reshape would.
    template <std::size_t... I>
    void lower_all(graph_builder& b, graph_builder::tensor x, std::int32_t batch, std::index_sequence<I...>) const {
        ((x = std::get<I>(layers_).lower(b, reshaped<layer_type<I>>(b, x, batch, names_[I]), names_[I])), ...);
        b.output(x);
    }
    template <class L>
    static graph_builder::tensor reshaped(graph_builder& b, graph_builder::tensor x, std::int32_t batch,
                                          const std::string& name) {
        const auto want = L::input_shape(batch);
        return b.shape(x) == want ? x : b.reshape(x, want, name + "/reshape");
    }
};

}  // namespace qtl
