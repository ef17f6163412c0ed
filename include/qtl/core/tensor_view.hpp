#pragma once
// tensor_view: a non-owning, row-major view of a tensor's elements and its
// shape, the argument type of qtl's integer ops.  Ops never allocate their
// inputs or outputs; the caller (a graph executor, a test) owns the memory.

#include <cstddef>
#include <span>
#include <string>
#include <utility>

#include "qtl/core/error.hpp"
#include "qtl/core/shape.hpp"

namespace qtl {

template <class T>
struct tensor_view {
    std::span<T> data;
    qtl::shape shape;

    tensor_view() = default;
    tensor_view(std::span<T> d, qtl::shape s) : data(d), shape(std::move(s)) {
        check(num_elements(shape) == data.size(), "tensor_view", "shape ", shape_text(shape), " has ",
              num_elements(shape), " elements but the buffer holds ", data.size());
    }
    // A view of a contiguous container (std::vector, std::array, xt::xarray).
    template <class Container>
        requires requires(Container& c) { std::span<T>(c.data(), c.size()); }
    tensor_view(Container& c, qtl::shape s) : tensor_view(std::span<T>(c.data(), c.size()), std::move(s)) {}

    std::size_t size() const noexcept { return data.size(); }
    std::size_t rank() const noexcept { return shape.size(); }
    std::int32_t dim(int axis) const { return shape.at(normalize_axis(axis, shape.size(), "tensor_view::dim")); }
    T& operator[](std::size_t i) const noexcept { return data[i]; }
};

}  // namespace qtl
