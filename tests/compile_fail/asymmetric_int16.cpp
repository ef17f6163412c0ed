// expect: int16 activations \(TFLite's 16x8 mode\) are symmetric
#include "qtl/quant/scheme.hpp"
qtl::quantizer<std::int16_t, qtl::asymmetric> q;
