// expect: Activation must be qtl::linear, qtl::relu or qtl::relu6
#include "qtl/graph/sequential.hpp"
// The run-time enum is not an activation tag type.
qtl::dense<4, 2, qtl::int8_scheme, qtl::fused_activation> layer;
