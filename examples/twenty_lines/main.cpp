// The README's "Twenty lines of qtl" example, built and run by CTest so it stays true.
#include <qtl/qtl.hpp>
#include <iostream>

int main() {
    xt::xarray<float> activations = {-0.8f, 0.1f, 2.9f, 1.7f};
    xt::xarray<float> weights = {{0.5f, -0.25f}, {1.0f, 0.02f}};

    // Activations: int8 asymmetric per tensor, from a calibrated range.
    auto a = qtl::choose_params<qtl::int8_activation>(qtl::value_range{-1.0f, 3.0f});
    auto qa = qtl::quantize<qtl::int8_activation>(activations, a);   // scale 4/255, zero point -64

    // Weights: int8 symmetric per output channel (axis 0), TFLite's max|w|/127.
    auto w = qtl::choose_params_for<qtl::int8_weight_per_channel<0>>(weights);
    auto qw = qtl::quantize<qtl::int8_weight_per_channel<0>>(weights, w);

    // Requantization as TFLite does it: a Q31 multiplier and a shift.
    auto m = qtl::quantize_multiplier(a.scales[0] * w.scales[0] / 0.05);
    std::int32_t out = qtl::multiply_by_quantized_multiplier(1234, m);
    std::cout << int(qa(2)) << ' ' << int(qw(1, 0)) << ' ' << out << '\n';  // 121 127 2
}
