// expect: activations must be quantized per tensor: TFLite has no per-channel activations
#include "qtl/quant/scheme.hpp"
template <class Q>
void use_as_activation() { qtl::require_activation_quantizer<Q>(); }
int main() { use_as_activation<qtl::int8_weight_per_channel<0>>(); }
