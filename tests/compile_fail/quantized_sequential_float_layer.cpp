// expect: a layer kept in float .qtl::float_layer. is not supported
#include "qtl/graph/quantized_sequential.hpp"
// A layer kept in float runs through DEQUANTIZE / QUANTIZE: the executor's job, not the integer chain's.
using net = qtl::quantized_sequential<qtl::dense<4, 3, qtl::int8_scheme, qtl::relu>, qtl::dense<3, 2, qtl::float_layer>>;
net* pointer = nullptr;
std::size_t size = sizeof(net);
