// expect: qtl::sequential: a layer's input size must equal the previous layer's output size
#include "qtl/graph/sequential.hpp"
// Layer 1 expects 128 inputs but layer 0 produces 64: the compiler prints
// link<at_layer<1>, expects_inputs<128>, but_previous_layer_produces<64>>.
using broken = qtl::sequential<qtl::dense<784, 64, qtl::int8_scheme, qtl::relu>,
                               qtl::dense<128, 10, qtl::int8_scheme>>;
broken net;
