// expect: the storage type must be std::int8_t, std::uint8_t, std::int16_t or qtl::int4
#include "qtl/quant/scheme.hpp"
qtl::quantizer<float> q;
