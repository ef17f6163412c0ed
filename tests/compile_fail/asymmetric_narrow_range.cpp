// expect: narrow range is only defined for symmetric quantizers
#include "qtl/quant/scheme.hpp"
qtl::quantizer<std::int8_t, qtl::asymmetric, qtl::per_tensor, qtl::narrow_range> q;
