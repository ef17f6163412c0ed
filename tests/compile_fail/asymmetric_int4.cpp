// expect: int4 tensors are weights and TFLite requires them symmetric
#include "qtl/quant/scheme.hpp"
qtl::quantizer<qtl::int4, qtl::asymmetric> q;
