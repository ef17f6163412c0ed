#pragma once
// quantize / dequantize / fake_quantize for xtensor containers, any scheme.
//
//   q    = clamp(round(x / scale) + zero_point, qmin, qmax)     (round: half away from zero, as TFLite)
//   real = (q - zero_point) * scale
//
// The division is done in float like TFLite's QUANTIZE kernel (AffineQuantize),
// so qtl's quantized weights and activations match the runtime's bit for bit.
// The parameters (quant_params) must fit the scheme: one scale per tensor, per
// index along the scheme's axis, or per block (see quant_params.hpp).

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include <xtensor/xarray.hpp>
#include <xtensor/xexpression.hpp>

#include "qtl/core/error.hpp"
#include "qtl/core/shape.hpp"
#include "qtl/quant/choose_params.hpp"
#include "qtl/quant/quant_params.hpp"
#include "qtl/quant/scheme.hpp"

namespace qtl {

namespace detail {

template <class S>
qtl::shape to_qtl_shape(const S& s) {
    qtl::shape out;
    for (auto d : s) {
        check(d <= static_cast<decltype(d)>(INT32_MAX), "quantize", "dimension ", d, " is too large");
        out.push_back(static_cast<std::int32_t>(d));
    }
    return out;
}

// Checks that p fits scheme Q and a tensor of shape s; returns how flat
// indices map to scales.
template <quantizer_type Q>
axis_split check_params_fit(const quant_params& p, const qtl::shape& s, const std::string& where) {
    check(p.scales.size() == p.zero_points.size(), where, p.scales.size(), " scales but ", p.zero_points.size(),
          " zero points");
    for (std::size_t i = 0; i < p.scales.size(); ++i) {
        check(std::isfinite(p.scales[i]) && p.scales[i] > 0.0f, where, "scale ", i, " must be finite and > 0, got ",
              p.scales[i]);
        check(p.zero_points[i] >= Q::qmin && p.zero_points[i] <= Q::qmax, where, "zero point ", i, " = ",
              p.zero_points[i], " is outside [", Q::qmin, ", ", Q::qmax, "]");
        if constexpr (Q::is_symmetric)
            check(p.zero_points[i] == 0, where, "a symmetric scheme needs zero point 0, got ", p.zero_points[i],
                  " at ", i);
    }
    if constexpr (Q::is_per_tensor) {
        check(p.scales.size() == 1, where, "a per-tensor scheme needs 1 scale, got ", p.scales.size());
        return axis_split{1, 1, num_elements(s, where), 1, 0};
    } else {
        check(p.axis == Q::axis && p.block_size == Q::block_size, where, "parameters are for axis ", p.axis,
              " block size ", p.block_size, ", the scheme is for axis ", Q::axis, " block size ", Q::block_size);
        check(Q::axis < static_cast<int>(s.size()), where, "axis ", Q::axis, " does not exist in shape ",
              shape_text(s));
        const auto split = split_axis(s, Q::axis, Q::block_size, where);
        check(p.scales.size() == split.scale_count(), where, "shape ", shape_text(s), " needs ", split.scale_count(),
              " scales for this scheme, got ", p.scales.size());
        return split;
    }
}

// round half away from zero, clamp, in double so huge x/scale cannot overflow an int.
template <quantizer_type Q>
typename Q::value_type quantize_one(float x, float scale, std::int32_t zero_point) noexcept {
    const double q = std::round(static_cast<double>(x / scale)) + zero_point;
    const double clamped = q < Q::qmin ? Q::qmin : (q > Q::qmax ? Q::qmax : q);
    return static_cast<typename Q::value_type>(clamped);
}

}  // namespace detail

// Quantizes x with the scheme Q and parameters p.  Values of int4 schemes are
// returned unpacked (int8_t in [-8, 7]); pack them with pack_int4.
template <quantizer_type Q, class E>
xt::xarray<typename Q::value_type> quantize(const xt::xexpression<E>& x_expr, const quant_params& p,
                                            const std::string& where = "quantize") {
    const xt::xarray<float> x = x_expr.derived_cast();
    const auto split = detail::check_params_fit<Q>(p, detail::to_qtl_shape(x.shape()), where);
    xt::xarray<typename Q::value_type> q = xt::xarray<typename Q::value_type>::from_shape(x.shape());
    for (std::size_t i = 0; i < x.size(); ++i) {
        const float v = x.data()[i];
        check(!std::isnan(v), where, "element ", i, " is NaN");
        const std::size_t c = Q::is_per_tensor ? 0 : split.scale_index(i);
        q.data()[i] = detail::quantize_one<Q>(v, p.scales[c], p.zero_points[c]);
    }
    return q;
}

// Dequantizes q (values of the scheme's storage type) to float.
template <quantizer_type Q, class E>
xt::xarray<float> dequantize(const xt::xexpression<E>& q_expr, const quant_params& p,
                             const std::string& where = "dequantize") {
    const auto& q = q_expr.derived_cast();
    const auto split = detail::check_params_fit<Q>(p, detail::to_qtl_shape(q.shape()), where);
    xt::xarray<float> x = xt::xarray<float>::from_shape(q.shape());
    std::size_t i = 0;
    for (auto it = q.cbegin(); it != q.cend(); ++it, ++i) {
        const std::int32_t v = static_cast<std::int32_t>(*it);
        check(v >= element_traits<typename Q::storage>::min && v <= element_traits<typename Q::storage>::max, where,
              "element ", i, " = ", v, " is outside the ", element_traits<typename Q::storage>::name, " range");
        const std::size_t c = Q::is_per_tensor ? 0 : split.scale_index(i);
        x.data()[i] = static_cast<float>(v - p.zero_points[c]) * p.scales[c];
    }
    return x;
}

// dequantize(quantize(x)): the float values the integer model will see.
template <quantizer_type Q, class E>
xt::xarray<float> fake_quantize(const xt::xexpression<E>& x, const quant_params& p,
                                const std::string& where = "fake_quantize") {
    return dequantize<Q>(quantize<Q>(x, p, where), p, where);
}

// Parameters from the data of an xtensor expression (absolute min/max per
// tensor / channel / block), as TFLite computes weight parameters.
template <quantizer_type Q, class E>
quant_params choose_params_for(const xt::xexpression<E>& x_expr, const std::string& where = "choose_params") {
    const xt::xarray<float> x = x_expr.derived_cast();
    return choose_params<Q>(tensor_view<const float>(std::span<const float>(x.data(), x.size()),
                                                     detail::to_qtl_shape(x.shape())),
                            where);
}

}  // namespace qtl
