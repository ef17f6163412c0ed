// expect: per-channel and per-block quantization require zero point 0: use qtl::symmetric
#include "qtl/quant/scheme.hpp"
qtl::quantizer<std::int8_t, qtl::asymmetric, qtl::per_channel<0>> q;
