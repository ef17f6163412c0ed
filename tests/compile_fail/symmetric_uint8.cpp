// expect: uint8 is asymmetric only in TFLite
#include "qtl/quant/scheme.hpp"
qtl::quantizer<std::uint8_t, qtl::symmetric> q;
