// expect: every layer must have the same activation precision
#include "qtl/graph/quantized_sequential.hpp"
// int8 then 16x8: the converter requantizes through float between them, which the integer chain does not run.
using net = qtl::quantized_sequential<qtl::dense<4, 3, qtl::int8_scheme, qtl::relu>, qtl::dense<3, 2, qtl::int16x8_scheme>>;
std::size_t size = sizeof(net);
