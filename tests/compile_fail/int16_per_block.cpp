// expect: per-block quantization is for int4 or int8 weights
#include "qtl/quant/scheme.hpp"
qtl::quantizer<std::int16_t, qtl::symmetric, qtl::per_block<1, 32>> q;
