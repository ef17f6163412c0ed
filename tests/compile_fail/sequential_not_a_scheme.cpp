// expect: Scheme must be a qtl::scheme<ActivationQuantizer, WeightQuantizer> such as qtl::int8_scheme, or qtl::float_layer
#include "qtl/graph/sequential.hpp"
// A quantizer is not a scheme: a layer needs both the activation and the weight quantizer.
qtl::dense<4, 2, qtl::int8_activation, qtl::relu> layer;
